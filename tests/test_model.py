"""DeepLabV3 architecture, the overfitting check on generated shapes, and predict -> evaluate round trips."""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: extra OpenMP threads only spin on a shared CPU
pytest.importorskip("scipy")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from reference_models import cli  # noqa: E402
from reference_models.datasets import generate_shapes, write_shapes  # noqa: E402
from reference_models.deeplabv3 import ASPP, DeepLabV3, aspp_rates, build_deeplabv3  # noqa: E402
from reference_models.predictor import (  # noqa: E402
    Predictor,
    connected_components,
    semantic_to_panoptic,
)
from reference_models.trainer import load_checkpoint, make_evaluator, model_from_checkpoint  # noqa: E402
from segmetrics.errors import InputError  # noqa: E402

BACKBONES = ["resnet18", "resnet34", "resnet50", "resnet101"]


# ------------------------------------------------------------------ architecture
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("output_stride", [8, 16])
def test_output_shapes_every_backbone_and_stride(backbone, output_stride):
    torch.manual_seed(0)
    model = build_deeplabv3(5, backbone, output_stride, width=4, aspp_channels=8, aux=True).eval()
    x = torch.randn(1, 3, 37, 53)  # odd sizes: the logits are resized to exactly the input
    with torch.no_grad():
        c3, c4 = model.backbone(x)
        out = model(x)
    assert out.shape == (1, 5, 37, 53)
    # stem + three stride-2 stages until the output stride: every stride-2 conv maps n -> ceil(n / 2)
    expect = (37, 53)
    for _ in range({8: 3, 16: 4}[output_stride]):
        expect = tuple(-(-n // 2) for n in expect)
    assert c4.shape[-2:] == expect
    expansion = 4 if backbone in ("resnet50", "resnet101") else 1
    assert c4.shape[1] == 8 * 4 * expansion and c3.shape[1] == 4 * 4 * expansion
    if output_stride == 8:
        assert c3.shape[-2:] == c4.shape[-2:]


def test_standard_width_channels():
    model = DeepLabV3(3, backbone="resnet50", output_stride=16)
    assert model.backbone.channels == (256, 512, 1024, 2048)
    assert model.aspp.branches[0][0].in_channels == 2048
    assert model.aspp.branches[0][0].out_channels == 256
    assert model.aspp.project[0][0].in_channels == 5 * 256
    assert model.classifier.out_channels == 3


@pytest.mark.parametrize("output_stride,rates", [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_aspp_rates(output_stride, rates):
    assert aspp_rates(output_stride) == rates
    model = build_deeplabv3(4, "resnet18", output_stride, width=4, aspp_channels=8)
    convs = [b[0] for b in model.aspp.branches[1:4]]
    assert [c.dilation for c in convs] == [(r, r) for r in rates]
    assert [c.padding for c in convs] == [(r, r) for r in rates]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3
    assert model.aspp.branches[0][0].kernel_size == (1, 1)
    with pytest.raises(InputError, match="output_stride"):
        aspp_rates(32)


def test_image_pooling_branch_is_spatially_constant():
    aspp = ASPP(6, (1, 2, 3), channels=4).eval()
    with torch.no_grad():
        y = aspp.branches[4](torch.randn(2, 6, 5, 7))
    assert y.shape == (2, 4, 5, 7)
    assert torch.allclose(y, y[:, :, :1, :1].expand_as(y))


@pytest.mark.parametrize("backbone,output_stride,layer3,layer4", [
    ("resnet50", 16, (1, 1, 1, 1, 1, 1), (2, 4, 8)),
    ("resnet50", 8, (2, 2, 2, 2, 2, 2), (4, 8, 16)),
    ("resnet18", 16, (1, 1), (2, 4)),
])
def test_atrous_dilations_and_multi_grid(backbone, output_stride, layer3, layer4):
    model = build_deeplabv3(3, backbone, output_stride, width=4, aspp_channels=8, multi_grid=(1, 2, 4))
    bb = model.backbone

    def rate(block):
        conv = block.conv2 if hasattr(block, "conv3") else block.conv1
        return conv.dilation[0]

    assert tuple(rate(b) for b in bb.layer3) == layer3
    assert tuple(rate(b) for b in bb.layer4) == layer4
    assert bb.layer4_dilations == layer4
    # no stride left in the dilated stages
    assert bb.layer4[0].downsample[0].stride == (1, 1)


def test_aux_head_only_in_training():
    model = build_deeplabv3(3, "resnet18", 16, width=4, aspp_channels=8, aux=True)
    x = torch.randn(2, 3, 32, 32)
    out = model.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 3, 32, 32)] * 2
    assert model.eval()(x).shape == (2, 3, 32, 32)
    assert build_deeplabv3(3, "resnet18", 16, width=4, aspp_channels=8).train()(x).shape == (2, 3, 32, 32)


def test_bad_arguments():
    with pytest.raises(InputError, match="unknown backbone"):
        build_deeplabv3(3, "resnet152")
    with pytest.raises(InputError, match="output_stride"):
        build_deeplabv3(3, "resnet18", 4)
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        build_deeplabv3(3, "resnet18", width=4, aspp_channels=8)(torch.zeros(3, 8, 8))


# ------------------------------------------------------------------ connected components
def _bfs_components(mask, connectivity):
    h, w = mask.shape
    lab = np.zeros((h, w), dtype=np.int64)
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    n = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not lab[y, x]:
                n += 1
                lab[y, x] = n
                queue = deque([(y, x)])
                while queue:
                    cy, cx = queue.popleft()
                    for dy, dx in steps:
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not lab[ny, nx]:
                            lab[ny, nx] = n
                            queue.append((ny, nx))
    return lab, n


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("seed", range(4))
def test_connected_components_match_flood_fill(connectivity, seed):
    mask = np.random.default_rng(seed).random((13, 17)) < 0.45
    got, n = connected_components(mask, connectivity=connectivity)
    ref, m = _bfs_components(mask, connectivity)
    assert n == m
    np.testing.assert_array_equal(got, ref)  # both number components in raster order of their first pixel


def test_semantic_to_panoptic_splits_things_only():
    sem = np.zeros((6, 8), dtype=np.int64)
    sem[1:3, 1:3] = 1   # thing instance A
    sem[4:6, 5:8] = 1   # thing instance B
    sem[0, 7] = 1       # thing, 1 pixel, dropped by min_area=2
    sem[3:5, 0:2] = 2   # stuff, two blobs -> one segment
    sem[0:2, 5:7] = 2
    cats = [{"id": 10, "isthing": 0}, {"id": 20, "isthing": 1}, {"id": 30, "isthing": 0}]
    ids, segs = semantic_to_panoptic(sem, cats, min_area=2)
    by_cat = {}
    for s in segs:
        by_cat.setdefault(s["category_id"], []).append(s)
        assert s["area"] == int((ids == s["id"]).sum())
    assert len(by_cat[20]) == 2 and len(by_cat[30]) == 1 and len(by_cat[10]) == 1
    assert by_cat[30][0]["area"] == 8
    assert ids[0, 7] == 0  # the dropped thing pixel is void
    assert sorted(s["id"] for s in segs) == list(range(1, len(segs) + 1))
    with pytest.raises(InputError, match="outside"):
        semantic_to_panoptic(sem + 5, cats)


# ------------------------------------------------------------------ predictor
def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return build_deeplabv3(3, "resnet18", 16, width=4, aspp_channels=8).eval()


def test_sliding_window_matches_explicit_average():
    model = _tiny_model()
    img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    pred = Predictor(model, mean=(0, 0, 0), std=(1, 1, 1), mode="slide", window=(32, 32), stride=(16, 20))
    got = pred.probabilities(img)
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1).copy())[None]
    acc = torch.zeros(1, 3, 40, 56)
    cnt = torch.zeros(1, 1, 40, 56)
    with torch.no_grad():
        for y0 in (0, 8):          # 40 - 32 = 8 -> starts 0 and the border-aligned 8
            for x0 in (0, 20, 24):  # 56 - 32 = 24 -> starts 0, 20 and the border-aligned 24
                acc[:, :, y0:y0 + 32, x0:x0 + 32] += model(x[:, :, y0:y0 + 32, x0:x0 + 32])
                cnt[:, :, y0:y0 + 32, x0:x0 + 32] += 1
    assert torch.allclose(got, (acc / cnt).softmax(1)[0], atol=1e-5)
    whole = Predictor(model, mean=(0, 0, 0), std=(1, 1, 1), mode="slide", window=(64, 64), stride=(32, 32))
    small = torch.nn.functional.pad(x, (0, 8, 0, 24))  # image smaller than the window: zero padding
    with torch.no_grad():
        ref = model(small)[:, :, :40, :56].softmax(1)[0]
    assert torch.allclose(whole.probabilities(img), ref, atol=1e-5)


def test_flip_and_scale_tta_average_probabilities():
    model = _tiny_model(1)
    img = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    pred = Predictor(model, mean=(0, 0, 0), std=(1, 1, 1), scales=(1.0, 0.5), flip=True)
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1).copy())[None]
    probs = []
    with torch.no_grad():
        for s in (1.0, 0.5):
            xs = x if s == 1.0 else torch.nn.functional.interpolate(x, size=(12, 16), mode="bilinear",
                                                                     align_corners=False)
            for flip in (False, True):
                out = model(torch.flip(xs, [3]) if flip else xs)
                out = torch.flip(out, [3]) if flip else out
                out = torch.nn.functional.interpolate(out, size=(24, 32), mode="bilinear", align_corners=False)
                probs.append(out.softmax(1)[0])
    assert torch.allclose(pred.probabilities(img), torch.stack(probs).mean(0), atol=1e-5)


# ------------------------------------------------------------------ overfit + round trips
K = 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny DeepLabV3 trained through the CLI on 16 generated 64x64 shape images."""
    root = tmp_path_factory.mktemp("shapes")
    write_shapes(root / "data", n=16, size=(64, 64), num_classes=K, seed=0)
    out = root / "run"
    res = CliRunner().invoke(cli.train, [
        "--dataset", "folder", "--data-root", str(root / "data"), "--num-classes", str(K),
        "--backbone", "resnet18", "--width", "8", "--aspp-channels", "32", "--output-stride", "8",
        "--crop-size", "64", "--scale-range", "1.0,1.0", "--batch-size", "8", "--iterations", "120",
        "--lr", "0.05", "--val-interval", "0", "--checkpoint-interval", "0", "--seed", "0",
        "--threads", "1", "--out", str(out), "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    return root


def _read_labels(folder):
    return {p.stem: np.asarray(Image.open(p)) for p in sorted(Path(folder).glob("*.png"))}


def _np_miou(pairs, k, ignore=255):
    cm = np.zeros((k, k), dtype=np.int64)
    for gt, pred in pairs:
        keep = gt != ignore
        np.add.at(cm, (gt[keep].astype(np.int64), pred[keep].astype(np.int64)), 1)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    return float(np.mean(inter[union > 0] / union[union > 0])), cm


def test_tiny_model_overfits_shapes_and_predict_roundtrips(trained):
    """Shape colours alone determine the class, so only boundary pixels can be wrong at stride 8:
    an overfit model must clear 0.9 mIoU, while the untrained model is far below."""
    out = trained / "pred"
    res = CliRunner().invoke(cli.predict, ["--checkpoint", str(trained / "run" / "last.pt"),
                                           "--images", str(trained / "data" / "images"),
                                           "--out", str(out), "--no-progress", "--threads", "1"])
    assert res.exit_code == 0, res.output
    gts = _read_labels(trained / "data" / "labels")
    preds = _read_labels(out)
    assert sorted(preds) == sorted(gts)
    assert all(p.dtype == np.uint8 and p.shape == (64, 64) for p in preds.values())
    miou, cm = _np_miou([(gts[k], preds[k]) for k in gts], K)
    assert miou > 0.9
    # the evaluator the trainer uses gives the same confusion matrix and mIoU as the NumPy oracle
    ev = make_evaluator(K, 255)
    for k in gts:
        ev.update(gts[k], preds[k], image_id=k)
    result = ev.compute()
    assert result.metrics["mIoU"] == pytest.approx(miou, rel=1e-12)
    np.testing.assert_array_equal(np.asarray(result.confusion), cm)
    # the trainer's last validation agreed with what predict wrote (same images, same model)
    history = json.loads((trained / "run" / "history.json").read_text())
    assert history[-1]["mIoU"] == pytest.approx(miou, rel=1e-12)
    # an untrained model of the same shape is far from this
    state = load_checkpoint(trained / "run" / "last.pt")
    fresh = model_from_checkpoint(state)
    torch.manual_seed(123)
    for m in fresh.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
    p0 = Predictor(fresh, mean=state["meta"]["mean"], std=state["meta"]["std"])
    images = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in (trained / "data" / "images").glob("*.png")}
    miou0, _ = _np_miou([(gts[k], p0.predict(images[k])) for k in gts], K)
    assert miou0 < 0.5


def test_predict_label_offset_and_segmetrics_eval(trained):
    """predict -> `segmetrics eval` gives the NumPy oracle's numbers, with and without the 1..K offset."""
    group = _segmetrics_cli()
    if group is None or group.get_command(None, "eval") is None:
        pytest.skip("segmetrics eval is not available in this checkout")
    ckpt = str(trained / "run" / "last.pt")
    images = str(trained / "data" / "images")
    runner = CliRunner()
    for offset in (0, 1):
        out = trained / f"pred_eval_{offset}"
        res = runner.invoke(group, ["predict", "--checkpoint", ckpt, "--images", images, "--out", str(out),
                                    "--label-offset", str(offset), "--no-progress", "--threads", "1"])
        assert res.exit_code == 0, res.output
        preds = _read_labels(out)
        assert all(v.min() >= offset and v.max() < K + offset for v in preds.values())
        gts = _read_labels(trained / "data" / "labels")
        oracle, _ = _np_miou([(gts[k], preds[k].astype(np.int64) - offset) for k in gts], K)
        args = ["eval", "--gt", str(trained / "data" / "labels"), "--pred", str(out), "--num-classes", str(K),
                "--json", "-", "-q", "-j", "1"]
        if offset:
            # the labels are 0-based with 255 = ignore; map the predictions' 1..K back through a label map
            lmap = trained / "pred_map.txt"
            lmap.write_text("".join(f"{k + 1} {k}\n" for k in range(K)))
            args += ["--pred-label-map", str(lmap)]
        res = runner.invoke(group, args)
        assert res.exit_code == 0, res.output
        report = json.loads(res.output[res.output.index("{"):])
        assert report["metrics"]["mIoU"] == pytest.approx(oracle, rel=1e-12)


def _segmetrics_cli():
    try:
        from segmetrics.cli import cli as group
    except ImportError:
        return None
    return group


def test_panoptic_prediction_roundtrip_with_panopticapi(trained, tmp_path):
    """Predicted COCO panoptic output scores high PQ against GT built by an independent flood fill."""
    pq_compute = pytest.importorskip("panopticapi.evaluation").pq_compute
    out = tmp_path / "pan"
    res = CliRunner().invoke(cli.predict, ["--checkpoint", str(trained / "run" / "last.pt"),
                                           "--images", str(trained / "data" / "images"), "--out", str(out),
                                           "--format", "coco-panoptic", "--things", "1,2,3", "--min-area", "4",
                                           "--no-progress"])
    assert res.exit_code == 0, res.output
    pred_json = json.loads((out / "panoptic_pred.json").read_text())
    cats = pred_json["categories"]
    assert [c["id"] for c in cats] == [1, 2, 3, 4] and [c["isthing"] for c in cats] == [0, 1, 1, 1]
    gt_dir = tmp_path / "gt_pan"
    gt_dir.mkdir()
    anns = []
    for stem, lab in _read_labels(trained / "data" / "labels").items():
        ids = np.zeros(lab.shape, dtype=np.int64)
        segs, nid = [], 1
        for c in range(K):
            mask = lab == c
            comps, n = (mask.astype(np.int64), int(mask.any())) if c == 0 else _bfs_components(mask, 8)
            for j in range(1, n + 1):
                ids[comps == j] = nid
                segs.append({"id": nid, "category_id": c + 1, "area": int((comps == j).sum()), "iscrowd": 0})
                nid += 1
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
        Image.fromarray(rgb).save(gt_dir / f"{stem}.png")
        anns.append({"image_id": stem, "file_name": f"{stem}.png", "segments_info": segs})
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps({"annotations": anns, "categories": cats,
                                   "images": [{"id": a["image_id"], "file_name": a["image_id"] + ".png"}
                                              for a in anns]}))
    res = pq_compute(str(gt_json), str(out / "panoptic_pred.json"), str(gt_dir), str(out / "panoptic_pred"))
    assert res["All"]["pq"] > 0.8
    assert res["Things"]["n"] == 3
    group = _segmetrics_cli()
    if group is not None and group.get_command(None, "eval") is not None:
        ev = CliRunner().invoke(group, ["eval", "--gt", str(gt_json), "--pred", str(out / "panoptic_pred.json"),
                                        "--gt-folder", str(gt_dir), "--json", "-", "-q", "-j", "1"])
        assert ev.exit_code == 0, ev.output
        report = json.loads(ev.output[ev.output.index("{"):])
        assert report["metrics"]["PQ"] == pytest.approx(res["All"]["pq"], rel=1e-9)
        assert report["metrics"]["PQ_th"] == pytest.approx(res["Things"]["pq"], rel=1e-9)


def test_generated_shapes_are_deterministic():
    a = generate_shapes(3, (32, 40), 4, seed=5)
    b = generate_shapes(3, (32, 40), 4, seed=5)
    for (ia, la, _), (ib, lb, _) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)
    assert set(np.unique(np.concatenate([x[1].ravel() for x in a]))) <= {0, 1, 2, 3, 255}


@pytest.mark.parametrize("channels_last", [False, True])
def test_strided_pointwise_equals_a_strided_1x1_convolution(channels_last):
    from torch import nn

    from reference_models.deeplabv3.resnet import StridedPointwise

    torch.manual_seed(0)
    ref = nn.Conv2d(4, 8, 1, stride=2, bias=False)
    ours = StridedPointwise(4, 8, 2)
    ours.load_state_dict(ref.state_dict())  # same parameter names: checkpoints carry over
    x = torch.randn(2, 4, 65, 64)  # odd height: ceil(65 / 2) rows, as the strided convolution
    g = torch.randn(2, 8, 33, 32)
    # the reference runs in the default layout only: its channels-last CPU backward is the torch bug
    x_ref = x.clone().requires_grad_(True)
    y_ref = ref(x_ref)
    gx_ref, gw_ref = torch.autograd.grad((y_ref * g).sum(), [x_ref, ref.weight])
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    ours = ours.to(memory_format=fmt)
    x_ours = x.clone().contiguous(memory_format=fmt).requires_grad_(True)
    y = ours(x_ours)
    gx, gw = torch.autograd.grad((y * g).sum(), [x_ours, ours.weight])
    assert y.shape == y_ref.shape == (2, 8, 33, 32)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-5)
