"""Trainer, datasets, augmentation and CLI plumbing of the reference model."""
from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: extra OpenMP threads only spin on a shared CPU

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from reference_models import cli, datasets, transforms  # noqa: E402
from reference_models.trainer import (  # noqa: E402
    TrainConfig,
    Trainer,
    _BincountEvaluator,
    load_checkpoint,
    make_evaluator,
    parse_pair,
    poly_lr,
)
from segmetrics.errors import DataFileError, FormatError, InputError, LabelError  # noqa: E402

IGN = 255


def _tiny_cfg(tmp_path, **kw):
    base = dict(dataset="shapes", crop_size=(32, 32), scale_range=(0.5, 2.0), batch_size=2, iterations=4,
                lr=0.01, backbone="resnet18", width=4, aspp_channels=8, val_interval=0, checkpoint_interval=0,
                out_dir=str(tmp_path / "run"), device="cpu", threads=1, progress=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _small_shapes(n=6, seed=0):
    return datasets.ShapesDataset(n, (40, 48), 4, seed=seed)


# ------------------------------------------------------------------ schedule and config
def test_poly_lr_hand_values():
    assert poly_lr(0.1, 0, 100) == 0.1
    assert poly_lr(0.1, 50, 100) == pytest.approx(0.1 * 0.5 ** 0.9)
    assert poly_lr(0.1, 99, 100) == pytest.approx(0.1 * 0.01 ** 0.9)
    assert poly_lr(0.1, 50, 100, power=1.0) == pytest.approx(0.05)
    # linear warm-up multiplies by (it + 1) / warmup
    assert poly_lr(0.1, 1, 100, warmup_iters=4) == pytest.approx(0.1 * (1 - 0.01) ** 0.9 * 0.5)


def test_trainer_applies_poly_lr_and_sgd_settings(tmp_path):
    t = Trainer(_tiny_cfg(tmp_path, iterations=10, lr=0.2, momentum=0.8, weight_decay=5e-4),
                train_set=_small_shapes())
    seen = []
    for _ in range(3):
        t.train_step()
        seen.append(t.optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([poly_lr(0.2, i, 10) for i in range(3)])
    groups = t.optimizer.param_groups
    assert groups[0]["momentum"] == 0.8 and groups[0]["weight_decay"] == 5e-4 and groups[1]["weight_decay"] == 0
    # BatchNorm weights and biases are in the undecayed group, conv weights in the decayed one
    assert all(p.ndim == 1 for p in groups[1]["params"]) and all(p.ndim == 4 for p in groups[0]["params"])


def test_config_validation():
    with pytest.raises(InputError, match="batch_size must be >= 2"):
        TrainConfig(batch_size=1).validate()
    with pytest.raises(InputError, match="output_stride"):
        TrainConfig(output_stride=32).validate()
    assert parse_pair("288,320", "--crop-size") == (288, 320)
    assert parse_pair("256", "--crop-size") == (256, 256)
    with pytest.raises(InputError, match="--crop-size"):
        parse_pair("a,b", "--crop-size")


# ------------------------------------------------------------------ augmentation
def test_random_crop_pads_label_with_ignore_and_image_with_mean():
    rng = np.random.default_rng(0)
    img = np.full((10, 12, 3), 7, np.uint8)
    lab = np.zeros((10, 12), np.uint8)
    ci, cl = transforms.random_crop(img, lab, (16, 20), rng, IGN)
    assert ci.shape == (16, 20, 3) and cl.shape == (16, 20)
    assert (cl == IGN).sum() == 16 * 20 - 10 * 12
    assert (cl == 0).sum() == 10 * 12
    padded = ci[cl == IGN]
    np.testing.assert_array_equal(padded, np.broadcast_to(np.round(transforms.IMAGENET_MEAN).astype(np.uint8),
                                                          padded.shape))


def test_random_crop_is_a_window_of_the_input():
    rng = np.random.default_rng(1)
    lab = np.arange(30 * 40).reshape(30, 40) % 250
    img = np.stack([lab] * 3, -1).astype(np.uint8)
    ci, cl = transforms.random_crop(img, lab.astype(np.uint8), (8, 9), rng, IGN)
    ys, xs = np.nonzero((lab == cl[0, 0]))
    assert any(np.array_equal(lab[y:y + 8, x:x + 9], cl) for y, x in zip(ys, xs))
    np.testing.assert_array_equal(ci[..., 0], cl)


def test_flip_and_scale_keep_image_and_label_aligned():
    rng = np.random.default_rng(2)
    for image, label, _ in datasets.generate_shapes(4, (40, 50), 4, seed=1, noise=0.0):
        tf = transforms.TrainTransform((40, 40), IGN, (0.5, 2.0), True)
        img, lab = tf(image, label, rng)
        assert img.shape == (40, 40, 3) and lab.shape == (40, 40) and lab.dtype == np.uint8
        # noise-free shapes: every labelled pixel's colour is its class colour (nearest resampling of
        # labels; bilinear images differ only next to edges), so check interior pixels
        inner = np.ones_like(lab, bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                inner &= np.roll(np.roll(lab, dy, 0), dx, 1) == lab
        keep = inner & (lab != IGN)
        keep[[0, -1]] = False
        keep[:, [0, -1]] = False
        expect = datasets.SHAPE_COLORS[lab[keep]].astype(np.uint8)
        assert np.abs(img[keep].astype(int) - expect).max() <= 1


def test_hflip_mirrors_both():
    rng = np.random.default_rng(0)
    img = np.arange(2 * 3 * 3).reshape(2, 3, 3).astype(np.uint8)
    lab = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    flipped = [transforms.random_hflip(img, lab, rng, p=1.0)]
    np.testing.assert_array_equal(flipped[0][1], lab[:, ::-1])
    np.testing.assert_array_equal(flipped[0][0], img[:, ::-1])


def test_normalize_layout_and_values():
    img = np.full((2, 3, 3), 100, np.uint8)
    x = transforms.normalize(img, mean=(100, 50, 0), std=(1, 2, 4))
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    assert x[:, 0, 0].tolist() == [0.0, 25.0, 25.0]


# ------------------------------------------------------------------ datasets
def test_camvid_reader(shared_data):
    root = shared_data / "camvid"
    if not root.is_dir():
        pytest.skip("CamVid not in ../shared/data")
    train = datasets.camvid(root, "train")
    assert len(train) == 367 and len(datasets.camvid(root, "val")) == 101
    test = datasets.camvid(root, "test")
    assert len(test) == 233 and not test.has_labels()
    img, lab, sid = train.load(0)
    raw = np.asarray(Image.open(root / "trainannot" / f"{sid}.png"))
    assert img.shape == (360, 480, 3)
    np.testing.assert_array_equal(lab, np.where(raw == 11, IGN, raw))
    assert train.class_names[3] == "Road" and train.num_classes == 11


def _symlink_tree(pairs):
    for dst, src in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src, dst)


def test_ade20k_reduce_zero_label(shared_data, tmp_path):
    src = shared_data / "ade20k_sample" / "sampleData"
    if not src.is_dir():
        pytest.skip("ADE20K sample not in ../shared/data")
    stems = sorted(p.stem for p in (src / "images").glob("*.jpg"))
    _symlink_tree([(tmp_path / "images" / "validation" / f"{s}.jpg", src / "images" / f"{s}.jpg") for s in stems]
                  + [(tmp_path / "annotations" / "validation" / f"{s}.png", src / "annotations" / f"{s}.png")
                     for s in stems])
    ds = datasets.ade20k(tmp_path, "val")
    assert ds.num_classes == 150 and ds.pred_offset == 1 and len(ds) == len(stems)
    _, lab, sid = ds.load(0)
    raw = np.asarray(Image.open(src / "annotations" / f"{sid}.png")).astype(np.int64)
    np.testing.assert_array_equal(lab, np.where(raw == 0, IGN, raw - 1))


def test_coco_panoptic_to_133_class_semantic(shared_data, tmp_path):
    src = shared_data / "coco_panoptic_sample" / "sample_data"
    if not src.is_dir():
        pytest.skip("COCO panoptic sample not in ../shared/data")
    data = json.loads((src / "panoptic_examples.json").read_text())
    _symlink_tree([(tmp_path / "val2017" / p.name, p) for p in (src / "input_images").glob("*.jpg")]
                  + [(tmp_path / "annotations" / "panoptic_val2017" / p.name, p)
                     for p in (src / "panoptic_examples").glob("*.png")]
                  + [(tmp_path / "annotations" / "panoptic_val2017.json", src / "panoptic_examples.json")])
    ds = datasets.coco_panoptic(tmp_path, "val")
    assert ds.num_classes == 133 and len(ds) == 2
    cat_ids = sorted(c["id"] for c in data["categories"])
    for i, ann in enumerate(data["annotations"]):
        img, lab, sid = ds.load(i)
        assert sid == Path(ann["file_name"]).stem
        rgb = np.asarray(Image.open(src / "panoptic_examples" / ann["file_name"]).convert("RGB")).astype(np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        expect = np.full(ids.shape, IGN)
        for seg in ann["segments_info"]:
            if not seg["iscrowd"]:
                expect[ids == seg["id"]] = cat_ids.index(seg["category_id"])
        np.testing.assert_array_equal(lab, expect)
        assert img.shape[:2] == lab.shape
    assert ds.thing_train_ids == {i for i, c in enumerate(sorted(data["categories"], key=lambda c: c["id"]))
                                  if c["isthing"]}


def test_cityscapes_label_ids_to_train_ids(tmp_path):
    img_dir = tmp_path / "leftImg8bit" / "val" / "aachen"
    gt_dir = tmp_path / "gtFine" / "val" / "aachen"
    img_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    raw = (np.arange(36) % 34).astype(np.uint8).reshape(6, 6)
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(img_dir / "aachen_000000_000019_leftImg8bit.png")
    Image.fromarray(raw).save(gt_dir / "aachen_000000_000019_gtFine_labelIds.png")
    Image.fromarray(raw).save(gt_dir / "aachen_000000_000019_gtFine_instanceIds.png")  # must be ignored
    ds = datasets.cityscapes(tmp_path, "val")
    assert len(ds) == 1 and ds.num_classes == 19
    _, lab, sid = ds.load(0)
    assert sid == "aachen_000000_000019"
    # hand table: road 7->0, sidewalk 8->1, building 11->2, ..., bicycle 33->18, everything else ignored
    expect = np.full(34, IGN)
    for label_id, train_id in [(7, 0), (8, 1), (11, 2), (12, 3), (13, 4), (17, 5), (19, 6), (20, 7), (21, 8),
                               (22, 9), (23, 10), (24, 11), (25, 12), (26, 13), (27, 14), (28, 15), (31, 16),
                               (32, 17), (33, 18)]:
        expect[label_id] = train_id
    np.testing.assert_array_equal(lab.ravel(), expect[np.arange(36) % 34])
    raw[2, 3] = 40  # not a Cityscapes label id
    Image.fromarray(raw).save(gt_dir / "aachen_000000_000019_gtFine_labelIds.png")
    with pytest.raises(LabelError, match=r"1 pixels carry raw label values \[40\]"):
        ds.load(0)


def test_folder_dataset_errors_name_file_and_values(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.array([[0, 1, 9, 9, 3]] * 4, np.uint8)).save(tmp_path / "labels" / "a.png")
    ds = datasets.folder(tmp_path / "images", tmp_path / "labels", 4, ignore_index=3)
    with pytest.raises(LabelError, match=r"a\.png: 8 pixels carry raw label values \[9\]"):
        ds.load(0)
    Image.fromarray(np.array([[0, 1, 2, 2, 3]] * 4, np.uint8)).save(tmp_path / "labels" / "a.png")
    assert datasets.folder(tmp_path / "images", tmp_path / "labels", 4, ignore_index=3).load(0)[1][0].tolist() == \
        [0, 1, 2, 2, IGN]
    Image.fromarray(np.zeros((3, 5), np.uint8)).save(tmp_path / "labels" / "a.png")
    with pytest.raises(FormatError, match="differs from image size"):
        datasets.folder(tmp_path / "images", tmp_path / "labels", 4).load(0)
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "images" / "b.png")
    with pytest.raises(DataFileError, match=r"1 label files missing.*b\.png"):
        datasets.folder(tmp_path / "images", tmp_path / "labels", 4)
    with pytest.raises(DataFileError, match="image folder not found"):
        datasets.camvid(tmp_path / "nowhere", "train")


# ------------------------------------------------------------------ evaluator
def _np_metrics(pairs, k):
    cm = np.zeros((k, k), np.int64)
    for gt, pred in pairs:
        m = gt != IGN
        np.add.at(cm, (gt[m].astype(int), pred[m].astype(int)), 1)
    tp = np.diag(cm).astype(float)
    gt_n, pr_n = cm.sum(1), cm.sum(0)
    union = gt_n + pr_n - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    acc = np.where(gt_n > 0, tp / np.maximum(gt_n, 1), np.nan)
    return cm, {"aAcc": tp.sum() / gt_n.sum(), "mAcc": np.nanmean(acc), "mIoU": np.nanmean(iou),
                "fwIoU": float(np.nansum(np.where(gt_n > 0, gt_n / gt_n.sum() * np.nan_to_num(iou), 0)))}


def test_fallback_evaluator_matches_numpy_and_segmetrics():
    rng = np.random.default_rng(4)
    pairs = []
    for _ in range(3):
        gt = rng.integers(0, 5, (7, 9)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.2] = IGN
        pairs.append((gt, rng.integers(0, 5, (7, 9)).astype(np.uint8)))
    pairs[0][1][0, 0] = 4  # make sure the predicted-but-absent case can occur
    cm, expect = _np_metrics(pairs, 5)
    fb = _BincountEvaluator(5, ignore_index=IGN)
    main = make_evaluator(5, IGN)
    for gt, pred in pairs:
        fb.update(gt, pred)
        main.update(gt, pred)
    for ev in (fb, main):
        r = ev.compute()
        np.testing.assert_array_equal(np.asarray(r.confusion), cm)
        for key, value in expect.items():
            assert r.metrics[key] == pytest.approx(value, rel=1e-12), key
    with pytest.raises(InputError, match=r"outside \[0, 5\)"):
        fb.update(np.array([[7]], np.uint8), np.array([[0]], np.uint8))


# ------------------------------------------------------------------ training loop, checkpoints
def test_resume_reproduces_uninterrupted_run(tmp_path):
    full = Trainer(_tiny_cfg(tmp_path / "a"), train_set=_small_shapes())
    for _ in range(4):
        full.train_step()
    first = Trainer(_tiny_cfg(tmp_path / "b"), train_set=_small_shapes())
    first.train_step()
    first.train_step()
    ckpt = first.save_checkpoint()
    resumed = Trainer(_tiny_cfg(tmp_path / "c", seed=99), train_set=_small_shapes())
    resumed.resume(ckpt)
    assert resumed.iteration == 2
    resumed.train_step()
    resumed.train_step()
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    state = load_checkpoint(ckpt)
    assert state["iteration"] == 2 and state["meta"]["num_classes"] == 4 and state["config"]["width"] == 4


def test_fit_validates_logs_and_writes_history(tmp_path):
    cfg = _tiny_cfg(tmp_path, iterations=4, val_interval=2, checkpoint_interval=2, progress=True, aux=True,
                    loss="combo")
    t = Trainer(cfg, train_set=_small_shapes(), val_set=_small_shapes(3, seed=1))
    history = t.fit()
    assert [h["iteration"] for h in history] == [2, 4]
    assert all(set(h) >= {"aAcc", "mAcc", "mIoU", "fwIoU"} for h in history)
    run = Path(cfg.out_dir)
    assert json.loads((run / "history.json").read_text()) == history
    log = (run / "train.log").read_text()
    assert "val it=2" in log and "val it=4" in log and "it=4 loss=" in log
    assert (run / "last.pt").is_file()


def test_missing_checkpoint_is_a_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


# ------------------------------------------------------------------ CLI
def test_cli_train_shapes_and_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli.train, ["--dataset", "shapes", "--backbone", "resnet18", "--width", "4",
                                    "--aspp-channels", "8", "--crop-size", "32", "--batch-size", "2",
                                    "--iterations", "2", "--val-interval", "0", "--threads", "1",
                                    "--out", str(tmp_path / "r"), "--no-progress", "--loss", "lovasz"])
    assert res.exit_code == 0, res.output
    assert "mIoU=" in res.output and (tmp_path / "r" / "last.pt").is_file()
    res = runner.invoke(cli.train, ["--dataset", "camvid", "--data-root", str(tmp_path / "none"), "--threads", "1"])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "image folder not found" in res.output
    res = runner.invoke(cli.predict, ["--checkpoint", str(tmp_path / "x.pt"), "--images", str(tmp_path),
                                      "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "checkpoint not found" in res.output


@pytest.mark.parametrize("command", ["train", "predict"])
def test_cli_without_torch_says_how_to_install(monkeypatch, command):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    args = ["--checkpoint", "x.pt", "--images", ".", "--out", "o"] if command == "predict" else []
    res = CliRunner().invoke(getattr(cli, command), args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'segmetrics[model]'" in lines[0]


def test_cli_module_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import reference_models.cli, reference_models.datasets, reference_models.transforms; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    assert out.stdout.strip() == "False"


def test_resume_rejects_a_mismatched_checkpoint(tmp_path):
    t = Trainer(_tiny_cfg(tmp_path / "a"), train_set=_small_shapes())
    ckpt = t.save_checkpoint()
    other = Trainer(_tiny_cfg(tmp_path / "b", width=8), train_set=_small_shapes())
    with pytest.raises(InputError, match="does not fit this configuration"):
        other.resume(ckpt)
    t.iteration = 9
    ckpt = t.save_checkpoint()
    with pytest.raises(InputError, match="beyond iterations=4"):
        Trainer(_tiny_cfg(tmp_path / "c"), train_set=_small_shapes()).resume(ckpt)


def test_stop_after_then_resume_equals_one_run(tmp_path):
    one = Trainer(_tiny_cfg(tmp_path / "one"), train_set=_small_shapes())
    one.fit()
    part = Trainer(_tiny_cfg(tmp_path / "two", stop_after=3), train_set=_small_shapes())
    assert part.fit() == [] and part.iteration == 3
    rest = Trainer(_tiny_cfg(tmp_path / "two"), train_set=_small_shapes())
    rest.resume(tmp_path / "two" / "run" / "last.pt")
    rest.fit()
    for (name, a), b in zip(one.model.state_dict().items(), rest.model.state_dict().values()):
        assert torch.equal(a, b), name
