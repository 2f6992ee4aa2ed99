"""Parity with the installed peers: hotcoco.semantic and torchmetrics (same arrays, same numbers)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from segmetrics import LabelError, SemanticEvaluator, confusion_matrix

hotcoco_semantic = pytest.importorskip("hotcoco.semantic")
torch = pytest.importorskip("torch")
tm = pytest.importorskip("torchmetrics.classification")


def blob_maps(seed, k, n=4, h=48, w=64, raw_offset=0, absent=()):
    """Region-shaped GT and predictions (8x8 blocks, 20% relabelled, 10% ignored GT)."""
    rng = np.random.default_rng(seed)
    classes = np.array([c for c in range(k) if c not in absent])
    g = rng.choice(classes, (n, h // 8, w // 8)).repeat(8, 1).repeat(8, 2)
    p = np.where(rng.random(g.shape) < 0.2, rng.choice(classes, g.shape), g)
    g = g + raw_offset
    g = np.where(rng.random(g.shape) < 0.1, 255, g)
    return g.astype(np.uint8), p.astype(np.uint8)


def hotcoco_eval(k, g, p, **kw):
    ev = hotcoco_semantic.SemanticEval(k, **kw)
    for i in range(g.shape[0]):
        ev.update(g[i], p[i])
    return ev


@pytest.mark.parametrize("seed,k,absent", [(0, 19, ()), (1, 7, (3,)), (2, 150, tuple(range(40, 150)))])
def test_hotcoco_confusion_and_metrics(seed, k, absent):
    g, p = blob_maps(seed, k, absent=absent)
    # classes never in GT but predicted: make one, so the absent-class rule is exercised
    p[0, :8, :8] = absent[0] if absent else p[0, :8, :8]
    hc = hotcoco_eval(k, g, p)
    ours = SemanticEvaluator(k)
    ours.update(g, p)
    np.testing.assert_array_equal(ours.state.confusion, hc.confusion().astype(np.int64))
    res = hc.results()
    m = ours.compute().metrics
    # hotcoco follows mmsegmentation's absent-class rule, our default "mmseg"
    for key in ("mIoU", "fwIoU", "mAcc", "aAcc"):
        assert m[key] == pytest.approx(res[key], rel=1e-12, abs=1e-12), key


def test_hotcoco_reduce_zero_label():
    g, p = blob_maps(3, 150, raw_offset=1)  # GT in ADE20K files: 0 = other, 1..150 classes
    g[:, :4, :] = 0
    hc = hotcoco_eval(150, g, p, reduce_zero_label=True)
    ours = SemanticEvaluator(150, reduce_zero_label=True)
    ours.update(g, p)
    np.testing.assert_array_equal(ours.state.confusion, hc.confusion().astype(np.int64))
    assert ours.compute().metrics["mIoU"] == pytest.approx(hc.results()["mIoU"], rel=1e-12)


def test_hotcoco_agrees_on_what_is_an_error():
    g = np.array([[0, 255, 1]], np.uint8)
    for p in (np.array([[0, 9, 1]], np.uint8), np.array([[0, 1, 255]], np.uint8)):
        hc = hotcoco_semantic.SemanticEval(3)
        try:
            hc.update(g, p)
            hc_ok = True
        except ValueError:
            hc_ok = False
        try:
            confusion_matrix(g, p, num_classes=3)
            ours_ok = True
        except LabelError:
            ours_ok = False
        assert ours_ok == hc_ok


@pytest.mark.parametrize("seed,k,absent", [(4, 12, ()), (5, 9, (2, 5))])
def test_torchmetrics(seed, k, absent):
    g, p = blob_maps(seed, k, absent=absent)
    tg, tp = torch.from_numpy(g.astype(np.int64)), torch.from_numpy(p.astype(np.int64))
    ours = SemanticEvaluator(k)
    ours.update(g, p)
    m = ours.compute().metrics
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmm = tm.MulticlassConfusionMatrix(k, ignore_index=255)
        cmm.update(tp, tg)
        np.testing.assert_array_equal(ours.state.confusion, cmm.compute().numpy())
        # torchmetrics' macro Jaccard leaves out classes absent from both sides and
        # scores predicted-but-not-in-GT classes 0: our default "mmseg" rule
        jac = tm.MulticlassJaccardIndex(k, average="macro", ignore_index=255)
        jac.update(tp, tg)
        assert m["mIoU"] == pytest.approx(float(jac.compute()), rel=1e-6)
        # micro accuracy = aAcc
        acc = tm.MulticlassAccuracy(k, average="micro", ignore_index=255)
        acc.update(tp, tg)
        assert m["aAcc"] == pytest.approx(float(acc.compute()), rel=1e-6)
        # macro accuracy: torchmetrics averages over classes seen on either side
        # (a predicted class without GT scores 0); ours, like mmseg, over classes with
        # GT.  They agree when every predicted class has GT, which holds here.
        assert set(np.flatnonzero(ours.state.confusion.sum(0))) <= set(np.flatnonzero(ours.state.confusion.sum(1)))
        macc = tm.MulticlassAccuracy(k, average="macro", ignore_index=255)
        macc.update(tp, tg)
        assert m["mAcc"] == pytest.approx(float(macc.compute()), rel=1e-6)


def _shifted(label, dy, dx):
    """A plausible prediction: the label map moved by (dy, dx) pixels (borders are wrong)."""
    return np.roll(label, (dy, dx), axis=(0, 1))


def test_real_ade20k_samples_match_hotcoco_png_reader(shared_data, tmp_path):
    """Real ADE20K labels; predictions written as PNGs and read by hotcoco itself."""
    from PIL import Image

    files = sorted((shared_data / "ade20k_sample" / "sampleData" / "annotations").glob("*.png"))
    if not files:
        pytest.skip("no ADE20K sample annotations")
    ours = SemanticEvaluator(150, reduce_zero_label=True, pred_reduce_zero_label=True)
    hc = hotcoco_semantic.SemanticEval(150, reduce_zero_label=True)
    for i, path in enumerate(files):
        gt = np.asarray(Image.open(path))
        # predictions in the ADE20K file convention 1..150 (a model's 0..149 plus one)
        pred = np.clip(_shifted(gt, 3 + i, -5), 1, 150).astype(np.uint8)
        ours.update(gt, pred, image_id=path.stem)
        # hotcoco shifts the GT only: its prediction PNG holds the model convention 0..149
        pred_path = tmp_path / path.name
        Image.fromarray(pred - 1).save(pred_path)
        hc.update_png(str(path), str(pred_path))
    np.testing.assert_array_equal(ours.state.confusion, hc.confusion().astype(np.int64))
    res = hc.results()
    for key in ("mIoU", "fwIoU", "mAcc", "aAcc"):
        assert ours.compute().metrics[key] == pytest.approx(res[key], rel=1e-12)


def test_real_camvid_labels_match_hotcoco_and_torchmetrics(shared_data):
    from PIL import Image

    files = sorted((shared_data / "camvid" / "valannot").glob("*.png"))[:6]
    if not files:
        pytest.skip("no CamVid validation labels")
    gts = np.stack([np.asarray(Image.open(f)) for f in files])  # 11 = Unlabelled (ignore)
    preds = np.stack([np.where(_shifted(g, 4, 7) == 11, 0, _shifted(g, 4, 7)) for g in gts]).astype(np.uint8)
    ours = SemanticEvaluator(11, ignore_index=11)
    ours.update(gts, preds)
    hc = hotcoco_eval(11, gts, preds, ignore_index=11)
    np.testing.assert_array_equal(ours.state.confusion, hc.confusion().astype(np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jac = tm.MulticlassJaccardIndex(11, average="macro", ignore_index=11)
        jac.update(torch.from_numpy(preds.astype(np.int64)), torch.from_numpy(gts.astype(np.int64)))
    assert ours.compute().metrics["mIoU"] == pytest.approx(float(jac.compute()), rel=1e-6)
    assert ours.compute().metrics["mIoU"] == pytest.approx(hc.results()["mIoU"], rel=1e-12)
