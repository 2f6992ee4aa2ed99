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

import click  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from reference_models import augment, cli, datasets  # noqa: E402
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
def _np_crop(label, p, crop):
    """NumPy twin of BatchAugment for labels (nearest): crop pixel j samples image pixel
    rint((left + j + 1/2) / s - 1/2) (mirrored: j -> w - 1 - j); outside the image -> ignore."""
    h, w = label.shape
    ch, cw = crop
    jj = np.arange(cw)[::-1] if p.flip else np.arange(cw)
    xs = np.rint((p.left + jj + 0.5) / p.scale - 0.5).astype(int)
    ys = np.rint((p.top + np.arange(ch) + 0.5) / p.scale - 0.5).astype(int)
    out = np.full((ch, cw), IGN, np.int64)
    inside = (ys[:, None] >= 0) & (ys[:, None] < h) & (xs[None] >= 0) & (xs[None] < w)
    yy, xx = np.broadcast_to(ys[:, None], inside.shape), np.broadcast_to(xs[None], inside.shape)
    out[inside] = label[yy[inside], xx[inside]]
    return out


@pytest.mark.parametrize("scale", [1.0, 2.0, 1.6])
@pytest.mark.parametrize("flip", [False, True])
def test_batch_augment_labels_match_numpy_twin(scale, flip):
    # scales whose sampling positions never fall on a half pixel (no rounding ties)
    rng = np.random.default_rng(5)
    label = rng.integers(0, 6, (30, 44)).astype(np.uint8)
    label[rng.random(label.shape) < 0.1] = IGN
    image = np.stack([label] * 3, -1)
    aug = augment.BatchAugment((24, 28), IGN, (scale, scale), flip=True)
    for top, left in [(0, 0), (3, 7), (int(30 * scale) - 24, int(44 * scale) - 28)]:
        p = augment.CropParams(scale, top, left, flip)
        _, y = aug.apply([image], [label], [p])
        np.testing.assert_array_equal(y[0].numpy(), _np_crop(label, p, (24, 28)))


def test_batch_augment_identity_crop_and_padding():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (10, 12, 3)).astype(np.uint8)
    label = rng.integers(0, 4, (10, 12)).astype(np.uint8)
    aug = augment.BatchAugment((16, 20), IGN, (1.0, 1.0), flip=False)
    x, y = aug.apply([image], [label], [augment.CropParams(1.0, 0, 0, False)])
    assert x.shape == (1, 3, 16, 20) and x.dtype == torch.float32 and y.dtype == torch.int64
    # scale 1 at an integer offset samples pixel centres exactly: the crop is the image, normalised
    expect = (image.astype(np.float32) - np.float32(augment.IMAGENET_MEAN)) / np.float32(augment.IMAGENET_STD)
    np.testing.assert_allclose(x[0, :, :10, :12].permute(1, 2, 0).numpy(), expect, atol=1e-5)
    np.testing.assert_array_equal(y[0, :10, :12].numpy(), label)
    # padding: label ignore, image the mean colour (exactly 0 after normalisation)
    assert (y[0, 10:] == IGN).all() and (y[0, :, 12:] == IGN).all()
    assert float(x[0, :, 10:].abs().max()) == 0.0 and float(x[0, :, :, 12:].abs().max()) == 0.0


def test_batch_augment_flip_mirrors_image_and_label():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    label = rng.integers(0, 4, (8, 8)).astype(np.uint8)
    aug = augment.BatchAugment((8, 8), IGN, (1.0, 1.0))
    x0, y0 = aug.apply([image], [label], [augment.CropParams(1.0, 0, 0, False)])
    x1, y1 = aug.apply([image], [label], [augment.CropParams(1.0, 0, 0, True)])
    torch.testing.assert_close(x1, x0.flip(3), atol=1e-5, rtol=0)
    assert torch.equal(y1, y0.flip(2))


def test_batch_augment_shapes_stay_aligned_and_draws_are_seeded():
    # noise-free shapes: at interior pixels (all 3x3 neighbours of one class) the bilinear image equals
    # the class colour, so image and label are cut and mirrored together
    samples = datasets.generate_shapes(6, (40, 50), 4, seed=1, noise=0.0)
    images, labels = [s[0] for s in samples], [s[1] for s in samples]
    aug = augment.BatchAugment((40, 40), IGN, (0.5, 2.0), True)
    x, y = aug(images, labels, np.random.default_rng(2))
    x2, y2 = aug(images, labels, np.random.default_rng(2))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    img = (x.permute(0, 2, 3, 1).numpy() * np.float32(augment.IMAGENET_STD) + np.float32(augment.IMAGENET_MEAN))
    lab = y.numpy()
    checked = 0
    for n in range(len(images)):
        inner = np.ones(lab[n].shape, bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                inner &= np.roll(np.roll(lab[n], dy, 0), dx, 1) == lab[n]
        keep = inner & (lab[n] != IGN)
        keep[[0, -1]] = False
        keep[:, [0, -1]] = False
        expect = datasets.SHAPE_COLORS[lab[n][keep]]
        assert np.abs(img[n][keep] - expect).max() < 0.01
        checked += int(keep.sum())
    assert checked > 1000


def test_batch_augment_color_jitter_hand_values():
    image = np.full((6, 6, 3), 100, np.uint8)
    label = np.zeros((6, 6), np.uint8)
    aug = augment.BatchAugment((6, 6), IGN, (1.0, 1.0), flip=False, color=0.5)
    # constant image: contrast about the brightened mean leaves b * v
    x, _ = aug.apply([image], [label], [augment.CropParams(1.0, 0, 0, False, brightness=1.3, contrast=0.7)])
    raw = x[0].permute(1, 2, 0).numpy() * np.float32(augment.IMAGENET_STD) + np.float32(augment.IMAGENET_MEAN)
    np.testing.assert_allclose(raw, 130.0, atol=1e-3)
    # two grey levels 50 / 150, brightness 1, contrast 2 about the mean 100: 0 and 200; clipped at 0..255
    image[:, :3] = 50
    image[:, 3:] = 150
    x, _ = aug.apply([image], [label], [augment.CropParams(1.0, 0, 0, False, brightness=1.0, contrast=2.0)])
    raw = x[0].permute(1, 2, 0).numpy() * np.float32(augment.IMAGENET_STD) + np.float32(augment.IMAGENET_MEAN)
    np.testing.assert_allclose(raw[:, :3], 0.0, atol=1e-3)
    np.testing.assert_allclose(raw[:, 3:], 200.0, atol=1e-3)
    with pytest.raises(InputError, match="color jitter"):
        augment.BatchAugment((6, 6), color=1.5)


def test_draw_params_ranges():
    rng = np.random.default_rng(0)
    ps = [augment.draw_params(rng, (36, 48), (32, 32), (0.5, 2.0), True, 0.2) for _ in range(400)]
    for p in ps:
        assert 0.5 <= p.scale <= 2.0 and 0.8 <= p.brightness <= 1.2 and 0.8 <= p.contrast <= 1.2
        assert 0 <= p.top <= max(32, round(36 * p.scale)) - 32 and 0 <= p.left <= max(32, round(48 * p.scale)) - 32
    assert 150 < sum(p.flip for p in ps) < 250
    assert not any(augment.draw_params(rng, (36, 48), (32, 32), (0.5, 2.0), False).flip for _ in range(50))


def test_normalize_batch_values():
    img = np.full((2, 3, 3), 100, np.uint8)
    x = augment.image_batch([img], mean=(100, 50, 0), std=(1, 2, 4))
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == [0.0, 25.0, 25.0]


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

    code = ("import sys; import reference_models.cli, reference_models.datasets; "
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



def test_a_run_resumed_from_a_checkpoint_keeps_the_validation_of_that_iteration(tmp_path):
    """A checkpoint of an iteration that is also validated holds that validation, so a run resumed
    from it (after a crash, say) has the uninterrupted run's history (it used to lose that entry:
    the checkpoint was written before the validation)."""
    kw = dict(iterations=6, val_interval=2, checkpoint_interval=2)
    one = Trainer(_tiny_cfg(tmp_path / "one", **kw), train_set=_small_shapes(), val_set=_small_shapes(3, seed=1))
    saved = {}
    save = one.save_checkpoint

    def keep_copies():
        path = save()
        saved[one.iteration] = Path(path).read_bytes()
        return path

    one.save_checkpoint = keep_copies
    whole = one.fit()
    ckpt4 = tmp_path / "ck4.pt"
    ckpt4.write_bytes(saved[4])
    assert [h["iteration"] for h in load_checkpoint(ckpt4)["history"]] == [2, 4]
    rest = Trainer(_tiny_cfg(tmp_path / "two", **kw), train_set=_small_shapes(), val_set=_small_shapes(3, seed=1))
    rest.resume(ckpt4)
    resumed = rest.fit()
    assert [h["iteration"] for h in resumed] == [h["iteration"] for h in whole] == [2, 4, 6]
    assert [h["mIoU"] for h in resumed] == [h["mIoU"] for h in whole]

# ------------------------------------------------------------------ preload, class balancing, layout
def test_preload_holds_the_decoded_dataset(tmp_path):
    root = datasets.write_shapes(tmp_path / "s", n=5, size=(20, 24))
    ds = datasets.folder(root / "images", root / "labels", 4)
    mem = datasets.preload(ds)
    assert isinstance(mem, datasets.MemoryDataset) and len(mem) == 5 and mem.class_names == ds.class_names
    for i in range(5):
        a, b = ds.load(i), mem.load(i)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert a[2] == b[2]
    assert mem.nbytes == 5 * (20 * 24 * 3 + 20 * 24)
    assert datasets.preload(mem) is mem
    with pytest.raises(InputError, match=r"preloading 5 images of 'folder' needs about .* GiB.*--no-preload"):
        datasets.preload(ds, max_bytes=1000)


def test_class_pixel_counts_and_median_frequency_weights_hand_values():
    from reference_models.losses import median_frequency_weights

    # image A: 6 px of class 0, 2 px of class 1; image B: 3 px class 1, 1 px class 2, 4 px ignored
    a = np.array([[0, 0, 0, 0], [0, 0, 1, 1]], np.uint8)
    b = np.array([[1, 1, 1, 2], [IGN] * 4], np.uint8)
    ds = datasets.SegmentationDataset([("a", None, None), ("b", None, None)], 4, ("c0", "c1", "c2", "c3"))
    ds.load = lambda i: (None, (a, b)[i], "ab"[i])
    class_pixels, image_pixels = datasets.class_pixel_counts(ds)
    assert class_pixels.tolist() == [6, 5, 1, 0]
    assert image_pixels.tolist() == [8, 12, 4, 0]
    # f = 6/8, 5/12, 1/4 ; median 5/12 ; w = median / f ; class 3 never occurs -> 0
    w = median_frequency_weights(class_pixels, image_pixels)
    assert w == pytest.approx([(5 / 12) / (6 / 8), 1.0, (5 / 12) / (1 / 4), 0.0], rel=1e-12)
    # an even number of classes takes the mean of the two middle frequencies (np.median)
    w = median_frequency_weights([1, 2, 3, 4], [10, 10, 10, 10])
    assert w == pytest.approx([0.25 / 0.1, 0.25 / 0.2, 0.25 / 0.3, 0.25 / 0.4])
    with pytest.raises(InputError, match="no labelled pixel"):
        median_frequency_weights([0, 0], [0, 0])
    with pytest.raises(InputError, match="class_pixels <= image_pixels"):
        median_frequency_weights([3, 1], [2, 5])


def test_trainer_uses_median_frequency_weights(tmp_path):
    from reference_models.losses import median_frequency_weights

    train = _small_shapes()
    t = Trainer(_tiny_cfg(tmp_path, class_weight="median-freq", loss="focal"), train_set=train)
    expect = median_frequency_weights(*datasets.class_pixel_counts(train))
    assert t.class_weights == pytest.approx(expect)
    assert t.criterion.alpha.tolist() == pytest.approx(expect, rel=1e-6)
    t = Trainer(_tiny_cfg(tmp_path, class_weight="median-freq", loss="ce"), train_set=train)
    assert t.criterion.weight.tolist() == pytest.approx(expect, rel=1e-6)
    with pytest.raises(InputError, match="class weights apply to the losses"):
        Trainer(_tiny_cfg(tmp_path, class_weight="median-freq", loss="lovasz"), train_set=train)
    with pytest.raises(InputError, match="class_weight must be one of"):
        TrainConfig(class_weight="inverse").validate()
    with pytest.raises(InputError, match="warmup_iters"):
        TrainConfig(iterations=10, warmup_iters=10).validate()


def test_channels_last_gives_the_same_training_step(tmp_path):
    # dropout masks are drawn in memory order, which the layout changes: switch dropout off here
    a = Trainer(_tiny_cfg(tmp_path / "a", channels_last=True), train_set=_small_shapes())
    b = Trainer(_tiny_cfg(tmp_path / "b", channels_last=False), train_set=_small_shapes())
    for t in (a, b):
        t.model.aspp.project[1].p = 0.0
    la, lb = a.train_step(), b.train_step()
    assert la == pytest.approx(lb, rel=1e-4)
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-5, msg=name)
    assert a.model.classifier.weight.is_contiguous(memory_format=torch.channels_last)


def test_batched_validation_equals_one_image_at_a_time(tmp_path):
    t = Trainer(_tiny_cfg(tmp_path), train_set=_small_shapes())
    for _ in range(2):
        t.train_step()
    val = datasets.ShapesDataset(5, (40, 48), 4, seed=7)
    from reference_models.trainer import evaluate_model

    one = evaluate_model(t.model, val, t.device, batch_size=1)
    many = evaluate_model(t.model, val, t.device, batch_size=4, channels_last=True)
    np.testing.assert_array_equal(np.asarray(one.confusion), np.asarray(many.confusion))


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from reference_models import trainer as tr

    class Tty:
        def isatty(self):
            return True

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    assert tr.progress_bar(10, 0, True) is None  # pytest's captured stderr is not a TTY
    monkeypatch.setattr(tr.sys, "stderr", Tty())
    bar = tr.progress_bar(10, 3, True)
    assert bar is not None and bar.n == 3 and bar.total == 10
    bar.close()
    assert tr.progress_bar(10, 0, False) is None


def test_history_and_curve_carry_per_class_iou_and_cpu_time(tmp_path):
    cfg = _tiny_cfg(tmp_path, iterations=4, val_interval=2, log_interval=1)
    t = Trainer(cfg, train_set=_small_shapes(), val_set=_small_shapes(3, seed=1))
    history = t.fit()
    assert len(history[-1]["IoU"]) == 4 and history[-1]["train_loss"] == t.curve[-1]["loss"]
    assert [c["iteration"] for c in t.curve] == [1, 2, 3, 4]
    assert all(c["cpu"] >= 0 and c["lr"] > 0 for c in t.curve)
    assert json.loads((Path(cfg.out_dir) / "curve.json").read_text()) == t.curve


def test_cli_help_explains_every_option():
    for command in (cli.train, cli.predict):
        res = CliRunner().invoke(command, ["--help"], terminal_width=100)
        assert res.exit_code == 0
        undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
        assert undocumented == []
        assert "Example" in res.output
    text = CliRunner().invoke(cli.train, ["--help"]).output
    for layout in ("trainannot/", "ADEChallengeData2016", "gtFine/<split>", "panoptic_<split>.json",
                   "images/*.png|jpg"):
        assert layout in text
    from segmetrics.cli import cli as top

    res = CliRunner().invoke(top, ["--help"], terminal_width=80)
    commands = res.output[res.output.index("Commands:"):]
    for command in (cli.train, cli.predict):
        assert command.short_help in " ".join(commands.split())
    assert "..." not in commands


# ------------------------------------------------------------------ GPU path: packing and the prepared script
def _fake_camvid(root, n=(4, 2, 2), size=(360, 480)):
    rng = np.random.default_rng(0)
    for split, count in zip(("train", "val", "test"), n):
        (root / split).mkdir(parents=True)
        if split != "test":
            (root / f"{split}annot").mkdir()
        for i in range(count):
            stem = f"{split}_{i:03d}"
            Image.fromarray(rng.integers(0, 256, size + (3,)).astype(np.uint8)).save(root / split / f"{stem}.png")
            if split != "test":
                lab = rng.integers(0, 12, size).astype(np.uint8)
                Image.fromarray(lab).save(root / f"{split}annot" / f"{stem}.png")
    return root


def test_pack_camvid_keeps_labels_and_layout(tmp_path):
    from reference_models.recipes.pack_camvid import main, pack_camvid

    src = _fake_camvid(tmp_path / "src", n=(2, 1, 1), size=(36, 48))
    info = pack_camvid(src, tmp_path / "pack", quality=95)
    assert info["images"] == 4 and info["labels"] == 3
    packed, original = datasets.camvid(tmp_path / "pack", "train"), datasets.camvid(src, "train")
    for i in range(2):
        (pi, pl, pid), (oi, ol, oid) = packed.load(i), original.load(i)
        assert pid == oid and packed.items[i][1].suffix == ".jpg"
        np.testing.assert_array_equal(pl, ol)  # labels byte for byte
        assert np.abs(pi.astype(int) - oi.astype(int)).mean() < 12  # JPEG of random noise at quality 95
    assert not datasets.camvid(tmp_path / "pack", "test").has_labels()
    with pytest.raises(InputError, match="over the 0 MiB limit"):
        pack_camvid(src, tmp_path / "pack2", max_bytes=10)
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "p3")]) == 2


def test_gpu_script_smoke_run_on_cpu(tmp_path):
    import shutil
    import subprocess
    import sys

    from reference_models.recipes.pack_camvid import pack_camvid

    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    pack_camvid(_fake_camvid(tmp_path / "src"), tmp_path / "pack")
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, SMOKE="1", DEVICE="cpu", BACKBONE="resnet18", WIDTH="4", ASPP="8", PYTHON=sys.executable,
               DATA=str(tmp_path / "pack"), OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"),
               OMP_NUM_THREADS="1")
    res = subprocess.run(["bash", str(repo / "reference_models" / "recipes" / "camvid_gpu.sh")], cwd=repo, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    out = tmp_path / "out"
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["iteration"] == 2
    assert sorted(p.name for p in (out / "test_predictions").iterdir()) == ["test_000.png"]
    assert (out / "val_predictions" / "val_000.png").is_file()
    summary = (out / "summary.txt").read_text()
    assert "training 2 iterations, batch 2, device cpu" in summary and "done" in summary
    # the trainer's validation and segmetrics eval of the written PNGs agree
    if (out / "val_eval.json").is_file():
        report = json.loads((out / "val_eval.json").read_text())
        assert report["metrics"]["mIoU"] == pytest.approx(history[-1]["mIoU"], abs=1e-12)


# ------------------------------------------------------------------ recipes: report tables and the speed probe
def test_report_tables_from_a_run_folder(tmp_path):
    from reference_models.recipes import report

    cfg = _tiny_cfg(tmp_path, iterations=4, val_interval=2, log_interval=1, class_weight="median-freq")
    Trainer(cfg, train_set=_small_shapes(), val_set=_small_shapes(3, seed=1)).fit()
    run = report.load_run(cfg.out_dir)
    assert run["config"]["class_weight"] == "median-freq" and len(run["history"]) == 2 and len(run["curve"]) == 4
    lines = report.curve_table(run).splitlines()
    assert run["n_train"] == 6
    assert len(lines) == 4 and lines[2].startswith("| 2 | 1 |") and lines[3].startswith("| 4 | 1 |")  # 2 x 2 / 6
    last = run["history"][-1]
    table = report.loss_table([run], names=("a", "b", "c", "d")).splitlines()
    assert table[2].startswith(f"| ce + median-freq weights | **{100 * last['mIoU']:.1f}** |")
    assert table[2].count("|") == 5 + 4 + 1
    assert report.main(["nonsense"]) == 2


def test_speed_probe_rejects_unknown_rows(capsys):
    from reference_models.recipes import speed

    assert speed.main(["--rows", "w32,w7"]) == 2
    assert "unknown rows ['w7']" in capsys.readouterr().err


def test_report_publish_fills_only_the_marked_blocks(tmp_path):
    from reference_models.recipes import report

    runs = tmp_path / "runs"
    cfg = _tiny_cfg(tmp_path, iterations=2, val_interval=0, out_dir=str(runs / "s-ce"))
    Trainer(cfg, train_set=_small_shapes(), val_set=_small_shapes(3, seed=1)).fit()
    (tmp_path / "docs").mkdir()
    (tmp_path / "benchmarks" / "camvid").mkdir(parents=True)
    blocks = "".join(f"<!-- BEGIN camvid-{n} -->\nold\n<!-- END camvid-{n} -->\n" for n in ("curve", "losses", "perf"))
    (tmp_path / "docs" / "model.md").write_text("# head\n" + blocks + "tail\n")
    (tmp_path / "README.md").write_text("intro\n<!-- BEGIN camvid-perf -->\n<!-- END camvid-perf -->\nrest\n")
    report.publish(runs, tmp_path)
    doc = (tmp_path / "docs" / "model.md").read_text()
    assert doc.startswith("# head\n") and doc.endswith("tail\n") and "old" not in doc
    assert "(not run yet)" in doc and "| ce |" in doc and "no GPU lent to this task" in doc
    assert "85.7 | quoted" in (tmp_path / "README.md").read_text()
    (tmp_path / "README.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        report.publish(runs, tmp_path)
