"""Each convention profile equals the real tool on the same inputs, where the tool is installed here:
torchmetrics (MulticlassJaccardIndex, MeanIoU, PanopticQuality), hotcoco, vernier (strict) and
panopticapi, on random datasets and on the real samples in ../shared/data.  (detectron2,
mmsegmentation's stack and HF evaluate's hub-loaded metric cannot be installed here: their
rules are checked against hand-derived cases in test_conventions.py.)"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import segmetrics as sm
from cli_data import write_png
from test_panoptic import CATEGORIES, _perturbed_real, make_dataset, panopticapi_pq, write_coco

torch = pytest.importorskip("torch")
tm_class = pytest.importorskip("torchmetrics.classification")
tm_seg = pytest.importorskip("torchmetrics.segmentation")
tm_det = pytest.importorskip("torchmetrics.detection")

pytestmark = pytest.mark.filterwarnings("ignore")

#: torchmetrics computes in float32 (jaccard.py confmat.float(); PQ IoUs are float32 divisions)
F32 = 2e-6


# ----------------------------------------------------------------------------- semantic data
def blob_pairs(seed, k, n=5, h=40, w=56, absent=()):
    """Region-shaped GT and predictions: 8x8 blocks, 25% relabelled (classes absent from the GT
    among them), 10% ignored GT."""
    rng = np.random.default_rng(seed)
    classes = np.array([c for c in range(k) if c not in absent])
    out = []
    for _ in range(n):
        g = rng.choice(classes, (h // 8, w // 8)).repeat(8, 0).repeat(8, 1)
        p = np.where(rng.random(g.shape) < 0.25, rng.integers(0, k, g.shape), g)
        g = np.where(rng.random(g.shape) < 0.1, 255, g)
        out.append((g.astype(np.uint8), p.astype(np.uint8)))
    return out


def write_pairs(root: Path, pairs) -> tuple[Path, Path]:
    for i, (g, p) in enumerate(pairs):
        write_png(root / "gt" / f"im{i:03d}.png", g)
        write_png(root / "pred" / f"im{i:03d}.png", p)
    return root / "gt", root / "pred"


def torchmetrics_semantic(pairs, k, ignore=255):
    """MulticlassJaccardIndex(average='macro', ignore_index) and MeanIoU on the scored pixels."""
    jac = tm_class.MulticlassJaccardIndex(k, average="macro", ignore_index=ignore)
    miou = tm_seg.MeanIoU(num_classes=k, input_format="index")
    for g, p in pairs:
        tg, tp = torch.from_numpy(g.astype(np.int64)), torch.from_numpy(p.astype(np.int64))
        jac.update(tp[None], tg[None])
        keep = g != ignore  # MeanIoU has no ignore_index: give it the scored pixels only
        miou.update(tp[torch.from_numpy(keep)][None], tg[torch.from_numpy(keep)][None])
    return float(jac.compute()), float(miou.compute())


# ----------------------------------------------------------------------------- semantic
@pytest.mark.parametrize("seed,k,absent", [(0, 6, ()), (1, 9, (2, 5)), (2, 19, tuple(range(10, 19)))])
def test_torchmetrics_profile_equals_jaccard_and_mean_iou(tmp_path, seed, k, absent):
    pairs = blob_pairs(seed, k, absent=absent)
    gt, pred = write_pairs(tmp_path, pairs)
    res = sm.evaluate_semantic_folders(gt, pred, num_classes=k, convention="torchmetrics", jobs=2)
    jac, miou = torchmetrics_semantic(pairs, k)
    assert res.metrics["mIoU"] == pytest.approx(jac, rel=F32)
    assert res.metrics["mIoU_per_image"] == pytest.approx(miou, rel=F32)
    # the per-image mean is not the dataset mean: the profile shows a different number
    assert res.metrics["mIoU_per_image"] != res.metrics["mIoU"]
    row = next(r for r in res.conventions()["profiles"] if r["name"] == "torchmetrics")
    assert row["metrics"] == {"mIoU": res.metrics["mIoU"], "mIoU_per_image": res.metrics["mIoU_per_image"]}


def test_torchmetrics_mean_iou_averages_image_class_pairs_not_images(tmp_path):
    """Two images, hand-derived.  Image 1 (GT 0 0 1 1 1, prediction 0 0 1 0 0): IoU_0 = 2 / 4,
    IoU_1 = 1 / 3.  Image 2 (GT 0 0 ignore, prediction 0 0 1): IoU_0 = 1; class 1 is predicted
    on the ignored pixel only (not counted).  MeanIoU averages the three (image, class) pairs:
    (1/2 + 1/3 + 1) / 3 = 11/18; the mean of the image means is (5/12 + 1) / 2 = 17/24 and the
    dataset mIoU (4/6 + 1/3) / 2 = 1/2."""
    pairs = [(np.array([[0, 0, 1, 1, 1]], np.uint8), np.array([[0, 0, 1, 0, 0]], np.uint8)),
             (np.array([[0, 0, 255]], np.uint8), np.array([[0, 0, 1]], np.uint8))]
    res = sm.evaluate_semantic_folders(*write_pairs(tmp_path, pairs), num_classes=3, convention="torchmetrics")
    assert res.metrics["mIoU_per_image"] == pytest.approx(11 / 18, abs=1e-15)
    assert res.metrics["mIoU"] == pytest.approx(0.5, abs=1e-15)
    jac, miou = torchmetrics_semantic(pairs, 3)
    assert res.metrics["mIoU_per_image"] == pytest.approx(miou, rel=F32)
    assert res.metrics["mIoU"] == pytest.approx(jac, rel=F32)


@pytest.mark.parametrize("seed,k", [(3, 7), (4, 150)])
def test_mmseg_profile_equals_hotcoco_and_vernier_strict(tmp_path, seed, k):
    hotcoco_semantic = pytest.importorskip("hotcoco.semantic")
    vs = pytest.importorskip("vernier.semantic")
    pairs = blob_pairs(seed, k, absent=(1,))
    res = sm.evaluate_semantic_folders(*write_pairs(tmp_path, pairs), num_classes=k, convention="mmseg")
    hc = hotcoco_semantic.SemanticEval(k)
    for g, p in pairs:
        hc.update(g, p)
    ref = hc.results()
    for key in ("aAcc", "mAcc", "mIoU", "fwIoU"):
        assert res.metrics[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-15), key
    summary = vs.Evaluator(parity_mode="strict").evaluate(
        vs.Dataset.from_arrays({i: g for i, (g, _) in enumerate(pairs)}, n_classes=k, ignore_label=255),
        vs.Predictions.from_arrays({i: p for i, (_, p) in enumerate(pairs)}))
    for key, attr in (("mIoU", "miou"), ("aAcc", "pixel_accuracy"), ("mAcc", "mean_accuracy"), ("fwIoU", "fwiou")):
        assert res.metrics[key] == pytest.approx(getattr(summary, attr), rel=1e-12, abs=1e-15), key


def test_vernier_drops_whole_pixels_outside_the_classes():
    """The note on the mmseg profile: vernier (strict) drops a pixel whose prediction is outside
    [0, K) from both sides, where mmsegmentation keeps its ground truth (a miss)."""
    vs = pytest.importorskip("vernier.semantic")
    g = np.array([[0, 0, 1, 1]], np.uint8)
    p = np.array([[0, 9, 1, 1]], np.uint8)
    s = vs.Evaluator(parity_mode="strict").evaluate(vs.Dataset.from_arrays({1: g}, n_classes=2, ignore_label=255),
                                                     vs.Predictions.from_arrays({1: p}))
    assert s.per_class()[0].n_gt_pixels == 1  # mmsegmentation's label histogram keeps 2


def test_real_samples_ade20k_and_camvid(shared_data, tmp_path):
    """Real ADE20K (reduce_zero_label) and CamVid labels with shifted predictions: torchmetrics,
    hotcoco and the profiles agree."""
    hotcoco_semantic = pytest.importorskip("hotcoco.semantic")
    cases = []
    ade = sorted((shared_data / "ade20k_sample" / "sampleData" / "annotations").glob("*.png"))
    cam = sorted((shared_data / "camvid" / "valannot").glob("*.png"))[:8]
    if not ade or not cam:
        pytest.skip("ADE20K / CamVid samples missing")
    for name, files, k, reduce, ignore in (("ade", ade, 150, True, 255), ("cam", cam, 11, False, 11)):
        pairs = []
        for i, path in enumerate(files):
            gt = np.asarray(Image.open(path))
            raw = np.roll(gt, (2 + i, -3), axis=(0, 1))
            pred = (np.clip(raw, 1, 150) - 1) if reduce else np.where(raw == 11, 0, raw)  # class indices
            write_png(tmp_path / name / "gt" / path.name, gt)
            write_png(tmp_path / name / "pred" / path.name, pred.astype(np.uint8))
            g_eff = np.where(gt == 0, 255, gt.astype(np.int64) - 1) if reduce else np.where(gt == 11, 255, gt)
            pairs.append((g_eff.astype(np.int64), pred.astype(np.int64)))
        cases.append((name, k, reduce, ignore, pairs))
    for name, k, reduce, ignore, pairs in cases:
        res = sm.evaluate_semantic_folders(tmp_path / name / "gt", tmp_path / name / "pred", num_classes=k,
                                           ignore_index=ignore, reduce_zero_label=reduce,
                                           pred_labels="class-index", conventions="all", jobs=2)
        rows = {r["name"]: r for r in res.comparison["profiles"]}
        jac, miou = torchmetrics_semantic(pairs, k)
        assert rows["torchmetrics"]["metrics"]["mIoU"] == pytest.approx(jac, rel=F32)
        assert rows["torchmetrics"]["metrics"]["mIoU_per_image"] == pytest.approx(miou, rel=F32)
        hc = hotcoco_semantic.SemanticEval(k)
        for g, p in pairs:
            hc.update(g.astype(np.int32), p.astype(np.int32))
        for key in ("aAcc", "mAcc", "mIoU"):
            assert rows["mmseg"]["metrics"][key] == pytest.approx(hc.results()[key], rel=1e-12), (name, key)


# ----------------------------------------------------------------------------- panoptic
def torchmetrics_pq(data, categories):
    """torchmetrics PanopticQuality on COCO-style maps: (category_id, segment id) per pixel, id 0
    and unknown ids as void (a category outside things and stuffs)."""
    things = [c["id"] for c in categories if c["isthing"]]
    stuffs = [c["id"] for c in categories if not c["isthing"]]
    void = max(things + stuffs) + 1
    m = tm_det.PanopticQuality(things=things, stuffs=stuffs, allow_unknown_preds_category=True,
                               return_per_class=True, return_sq_and_rq=True)

    def colours(ids, segs):
        cat = {s["id"]: s["category_id"] for s in segs}
        flat = ids.astype(np.int64)
        keys, inv = np.unique(flat, return_inverse=True)
        c = np.array([cat.get(int(v), void) for v in keys], np.int64)[inv].reshape(flat.shape)
        return torch.from_numpy(np.stack([c, flat], -1)[None])

    for _, g, gs, p, ps in data:
        m.update(colours(p, ps), colours(g, gs))
    order = sorted(things) + sorted(stuffs)  # torchmetrics' continuous ids
    return m, order


def assert_equals_torchmetrics(res, data, categories):
    m, order = torchmetrics_pq(data, categories)
    ours = {row["category_id"]: row for row in res.per_class}
    for key, state in (("tp", m.true_positives), ("fp", m.false_positives), ("fn", m.false_negatives)):
        assert [ours[c][key] for c in order] == state.tolist(), key
    np.testing.assert_allclose([ours[c]["iou_sum"] for c in order], m.iou_sum.numpy(), rtol=F32, atol=1e-6)
    out = m.compute().numpy()  # per class (PQ, SQ, RQ); 0 where nothing is scored
    den = (m.true_positives + 0.5 * m.false_positives + 0.5 * m.false_negatives).numpy()
    for j, key in enumerate(("PQ", "SQ", "RQ")):
        assert res.metrics[key] == pytest.approx(float(out[den > 0, j].mean()), rel=F32), key


@pytest.mark.parametrize("seed", range(5))
def test_torchmetrics_panoptic_profile_equals_panoptic_quality(tmp_path, seed):
    data = make_dataset(seed, n_images=5)
    gt_json, pred_json = write_coco(tmp_path, data)
    res = sm.evaluate_panoptic_folders(gt_json, pred_json, convention="torchmetrics", jobs=2)
    assert_equals_torchmetrics(res, data, CATEGORIES)
    # the rules move the number on this data (crowd, void, merged stuff)
    assert res.metrics["PQ"] != sm.evaluate_panoptic_folders(gt_json, pred_json, jobs=1).metrics["PQ"]


@pytest.mark.parametrize("seed", [0, 1])
def test_torchmetrics_panoptic_profile_on_real_coco_images(shared_data, tmp_path, seed):
    data, cats = _perturbed_real(shared_data / "coco_panoptic_sample" / "sample_data", tmp_path, seed)
    gt_json, pred_json = write_coco(tmp_path, data, categories=cats)
    res = sm.evaluate_panoptic_folders(gt_json, pred_json, convention="torchmetrics", conventions="all")
    assert_equals_torchmetrics(res, data, cats)
    ref = panopticapi_pq(gt_json, pred_json)
    rows = {r["name"]: r for r in res.comparison["profiles"]}
    for name in ("panopticapi", "cityscapes"):
        assert rows[name]["metrics"]["PQ"] == pytest.approx(ref["All"]["pq"], abs=1e-12)
        assert rows[name]["metrics"]["PQ_th"] == pytest.approx(ref["Things"]["pq"], abs=1e-12)


@pytest.mark.parametrize("seed", [7, 8])
def test_panopticapi_and_cityscapes_profiles_equal_pq_compute(tmp_path, seed):
    data = make_dataset(seed, n_images=4)
    gt_json, pred_json = write_coco(tmp_path, data)
    ref = panopticapi_pq(gt_json, pred_json)
    for name in ("panopticapi", "cityscapes"):
        res = sm.evaluate_panoptic_folders(gt_json, pred_json, convention=name, jobs=2)
        for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
            for key in ("pq", "sq", "rq"):
                assert res.metrics[key.upper() + suffix] == pytest.approx(ref[group][key], abs=1e-12)


# ----------------------------------------------------------------------------- the docs' worked examples
SEM_EXAMPLE = [(np.array([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1]]), np.array([[0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 3]])),
               (np.array([[2, 2, 2, 2, 255, 255], [0, 0, 2, 2, 255, 255]]),
                np.array([[2, 2, 2, 0, 0, 3], [0, 0, 2, 2, 2, 2]]))]


def test_docs_semantic_worked_example(tmp_path):
    """docs/conventions.md, "Semantic: a class only predicted": the numbers of the text."""
    hotcoco_semantic = pytest.importorskip("hotcoco.semantic")
    pairs = [(g.astype(np.uint8), p.astype(np.uint8)) for g, p in SEM_EXAMPLE]
    res = sm.evaluate_semantic_folders(*write_pairs(tmp_path, pairs), num_classes=4, conventions="all")
    rows = {r["name"]: r["metrics"] for r in res.comparison["profiles"]}
    iou = [7 / 9, 5 / 7, 5 / 6, 0.0]
    assert rows["mmseg"]["mIoU"] == pytest.approx(sum(iou) / 4, abs=1e-15)
    assert rows["detectron2"]["mIoU"] == pytest.approx(sum(iou) / 3, abs=1e-15)
    assert rows["torchmetrics"]["mIoU_per_image"] == pytest.approx((5 / 6 + 5 / 7 + 0 + 2 / 3 + 5 / 6) / 5, abs=1e-15)
    jac, miou = torchmetrics_semantic(pairs, 4)
    assert (rows["torchmetrics"]["mIoU"], rows["torchmetrics"]["mIoU_per_image"]) == (
        pytest.approx(jac, rel=F32), pytest.approx(miou, rel=F32))
    hc = hotcoco_semantic.SemanticEval(4)
    for g, p in pairs:
        hc.update(g, p)
    assert rows["mmseg"]["mIoU"] == pytest.approx(hc.results()["mIoU"], rel=1e-12)


def test_docs_panoptic_worked_example(tmp_path):
    """docs/conventions.md, "Panoptic: void, crowd and stuff": panopticapi 45.83 %, torchmetrics 100 %."""
    gt = np.array([[1, 1, 1, 1, 2, 2, 2, 2], [3, 3, 3, 3, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5, 0, 0], [6] * 8])
    pr = np.array([[10] * 8, [11, 11, 11, 11, 0, 0, 0, 12], [13, 13, 13, 13, 13, 0, 13, 13], [14] * 8])
    cats = [{"id": 1, "name": "person", "isthing": 1}, {"id": 3, "name": "car", "isthing": 1},
            {"id": 20, "name": "sky", "isthing": 0}, {"id": 21, "name": "road", "isthing": 0}]
    gseg = [{"id": 1, "category_id": 20, "iscrowd": 0, "area": 4}, {"id": 2, "category_id": 20, "iscrowd": 0, "area": 4},
            {"id": 3, "category_id": 1, "iscrowd": 1, "area": 4}, {"id": 4, "category_id": 3, "iscrowd": 0, "area": 4},
            {"id": 5, "category_id": 1, "iscrowd": 0, "area": 6}, {"id": 6, "category_id": 21, "iscrowd": 0, "area": 8}]
    pseg = [{"id": i, "category_id": c} for i, c in ((10, 20), (11, 1), (12, 3), (13, 1), (14, 21))]
    data = [(1, gt.astype(np.uint32), gseg, pr.astype(np.uint32), pseg)]
    gt_json, pred_json = write_coco(tmp_path, data, categories=cats)
    res = sm.evaluate_panoptic_folders(gt_json, pred_json, conventions="all")
    rows = {r["name"]: r for r in res.comparison["profiles"]}
    assert res.metrics["PQ"] == pytest.approx((5 / 6 + 1) / 4, abs=1e-15)
    assert panopticapi_pq(gt_json, pred_json)["All"]["pq"] == pytest.approx(res.metrics["PQ"], abs=1e-15)
    assert rows["torchmetrics"]["metrics"]["PQ"] == 1.0
    m, _ = torchmetrics_pq(data, cats)
    assert float(m.compute()[:, 0].mean()) == pytest.approx(1.0, abs=1e-6)
    moves = {r["rule"]: r["delta"] for r in rows["torchmetrics"]["rules"]}
    assert (moves["stuff"]["TP"], moves["stuff"]["FP"], moves["stuff"]["FN"]) == (1, -1, -2)
    assert (moves["crowd"]["TP"], moves["gt_mostly_void"]["FN"], moves["gt_area"]["PQ"]) == (1, -1, 0.0)
    assert moves["union"]["PQ"] == pytest.approx((1 + 1 + 0 + 1) / 4 - res.metrics["PQ"], abs=1e-15)
