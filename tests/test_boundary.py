"""Band kernel and semantic Boundary IoU against the OpenCV definition (tests/boundary_oracles.py)."""
from __future__ import annotations

import math
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segmetrics
from segmetrics import boundary as sb
from segmetrics._kernels import boundary as kernel
from segmetrics.errors import InputError, LabelError

from boundary_oracles import cv_band, label_band, reference_dilation, semantic_oracle

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- label maps


def _blocky(rng, h, w, k, cell):
    """Regions of `cell`-pixel blocks: label maps with long runs and straight borders."""
    small = rng.integers(0, k, ((h + cell - 1) // cell, (w + cell - 1) // cell))
    return np.kron(small, np.ones((cell, cell), np.int64))[:h, :w]


def _lines(rng, h, w, k):
    """One-pixel-wide rows, columns and diagonals over a background."""
    lab = np.full((h, w), int(rng.integers(0, k)))
    for _ in range(int(rng.integers(1, 4))):
        v = int(rng.integers(0, k))
        kind = rng.integers(0, 3)
        if kind == 0:
            lab[int(rng.integers(0, h)), :] = v
        elif kind == 1:
            lab[:, int(rng.integers(0, w))] = v
        else:
            idx = np.arange(min(h, w))
            lab[idx, (idx + int(rng.integers(0, w))) % w] = v
    return lab


@st.composite
def label_maps(draw, max_side=28, max_k=5):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    k = draw(st.integers(1, max_k))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["noise", "blocky", "lines", "specks"]))
    rng = np.random.default_rng(seed)
    if kind == "noise":
        lab = rng.integers(0, k, (h, w))
    elif kind == "blocky":
        lab = _blocky(rng, h, w, k, int(rng.integers(1, 8)))
    elif kind == "lines":
        lab = _lines(rng, h, w, k)
    else:  # isolated pixels on a background
        lab = np.zeros((h, w), np.int64)
        n = int(rng.integers(0, 6))
        lab[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.integers(0, k, n)
    return lab


# ----------------------------------------------------------------------------- band width


def test_dilation_pixels_hand_values():
    # 3 x 4 image: diagonal exactly 5, so ratio * 5 hits the .5 cases of round-half-to-even
    assert sb.dilation_pixels(3, 4, 0.5) == 2  # 2.5 -> 2
    assert sb.dilation_pixels(3, 4, 0.7) == 4  # 3.5 -> 4
    assert sb.dilation_pixels(3, 4, 0.1) == 1  # 0.5 -> 0 -> at least 1
    assert sb.dilation_pixels(3, 4, 0.0) == 1
    assert sb.dilation_pixels(480, 640) == 16  # 0.02 * 800
    assert sb.dilation_pixels(1024, 2048, sb.CITYSCAPES_DILATION_RATIO) == 11  # 0.005 * 2289.7


@given(st.integers(1, 5000), st.integers(1, 5000), st.floats(0, 0.2))
@settings(max_examples=300, deadline=None)
def test_dilation_pixels_equals_reference_formula(h, w, r):
    assert sb.dilation_pixels(h, w, r) == reference_dilation(h, w, r)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, "0.02", True])
def test_dilation_ratio_rejected(bad):
    with pytest.raises(InputError, match="dilation_ratio"):
        sb.dilation_pixels(10, 10, bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_dilation_rejected(bad):
    with pytest.raises(InputError, match="dilation"):
        sb.band_mask(np.zeros((4, 4), np.uint8), dilation=bad)


# ----------------------------------------------------------------------------- the band


@given(label_maps(), st.integers(1, 30))
@SETTINGS
def test_band_mask_equals_opencv_erosion(lab, d):
    got = sb.band_mask(lab, dilation=d)
    assert got.dtype == bool and got.shape == lab.shape
    np.testing.assert_array_equal(got, label_band(lab, d))


def test_band_mask_rgb_ids_and_ratio():
    rng = np.random.default_rng(3)
    ids = _blocky(rng, 37, 53, 4, 5) * 70001  # ids over several RGB channels
    rgb = np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], -1).astype(np.uint8)
    d = reference_dilation(37, 53, 0.05)
    np.testing.assert_array_equal(sb.band_mask(rgb, dilation_ratio=0.05), label_band(ids, d))


def test_band_of_a_single_label_is_the_frame():
    band = sb.band_mask(np.zeros((9, 12), np.int32), dilation=2)
    expect = np.ones((9, 12), bool)
    expect[2:-2, 2:-2] = False
    np.testing.assert_array_equal(band, expect)
    assert sb.band_mask(np.zeros((9, 12), np.int32), dilation=5).all()  # d beyond half the side


def test_band_counts_hand_derived():
    # a 6 x 6 square of class 1 in a 10 x 10 image of class 0, d = 1: the square's band is its
    # 20-pixel ring; the prediction is the same square shifted right by one column
    gt = np.zeros((10, 10), np.uint8)
    gt[2:8, 2:8] = 1
    pred = np.zeros((10, 10), np.uint8)
    pred[2:8, 3:9] = 1
    c = sb.boundary_iou_counts(gt, pred, num_classes=2, dilation=1)
    # class 1: both rings have 20 pixels; they share rows 2 and 7 at columns 3..7 (10 pixels):
    # G's side columns 2 and 7 meet P's interior or outside, P's side columns 3 and 8 G's
    g_ring = cv_band(gt == 1, 1)
    p_ring = cv_band(pred == 1, 1)
    assert c.gt_band[1] == 20 and c.pred_band[1] == 20
    assert c.intersection[1] == np.count_nonzero(g_ring & p_ring) == 10
    m = sb.boundary_iou_metrics(c.intersection, c.gt_band, c.pred_band)
    assert m["BIoU"][1] == 10 / 30


# ----------------------------------------------------------------------------- semantic counts


@st.composite
def semantic_cases(draw):
    gt = draw(label_maps(max_k=6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(2, 6))
    gt = gt % k
    ignore = draw(st.sampled_from([255, None, 0]))
    if ignore == 255:  # ignored blocks
        gt = np.where(_blocky(rng, *gt.shape, 2, int(rng.integers(1, 6))) == 1, gt, 255)
    pred = draw(label_maps(max_k=k))
    pred = pred[: gt.shape[0], : gt.shape[1]]
    if pred.shape != gt.shape:
        pred = np.resize(pred, gt.shape)
    pred = pred % k
    if ignore == 255 and rng.random() < 0.5:  # predictions that are no class, under ignore only
        pred = np.where((gt == 255) & (rng.random(gt.shape) < 0.5), 255, pred)
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.int32, np.int64, np.uint32, np.int16]))
    d = draw(st.integers(1, 30))
    return gt.astype(dtype), pred.astype(dtype), k, ignore, d


@given(semantic_cases())
@SETTINGS
def test_semantic_counts_equal_opencv_oracle(case):
    gt, pred, k, ignore, d = case
    c = sb.boundary_iou_counts(gt, pred, num_classes=k, ignore_index=ignore, dilation=d)
    inter, gb, pb = semantic_oracle(gt.astype(np.int64), pred.astype(np.int64), k, ignore, d)
    np.testing.assert_array_equal(c.intersection, inter)
    np.testing.assert_array_equal(c.gt_band, gb)
    np.testing.assert_array_equal(c.pred_band, pb)


@given(label_maps(max_side=24, max_k=8), label_maps(max_side=24, max_k=8), st.integers(1, 12))
@SETTINGS
def test_semantic_counts_with_label_maps(gt_raw, pred_raw, d):
    """Label maps that merge raw values and send some to ignore: bands are those of the
    effective labels (Cityscapes-style labelId -> trainId)."""
    pred_raw = np.resize(pred_raw, gt_raw.shape)
    gt_map = np.array([0, 1, 1, 255, 2, 0, 255, 2])
    pred_map = np.array([2, 2, 1, 0, 0, 1, 2, 1])
    c = sb.boundary_iou_counts(gt_raw.astype(np.uint8), pred_raw.astype(np.uint8), num_classes=3,
                               gt_map=gt_map, pred_map=pred_map, dilation=d)
    expect = semantic_oracle(gt_map[gt_raw], pred_map[pred_raw], 3, 255, d)
    for got, exp in zip((c.intersection, c.gt_band, c.pred_band), expect):
        np.testing.assert_array_equal(got, exp)


def test_reduce_zero_label_and_batch():
    rng = np.random.default_rng(7)
    gt = np.stack([_blocky(rng, 40, 30, 6, 4) for _ in range(3)]).astype(np.uint8)  # 0 = other, 1..5
    pred = np.stack([_blocky(rng, 40, 30, 5, 3) for _ in range(3)]).astype(np.uint8)
    c = sb.boundary_iou_counts(gt, pred, num_classes=5, reduce_zero_label=True, dilation=3)
    total = [np.zeros(5, np.int64) for _ in range(3)]
    for g, p in zip(gt, pred):
        eff = np.where(g == 0, 255, g.astype(np.int64) - 1)
        for t, x in zip(total, semantic_oracle(eff, p.astype(np.int64), 5, 255, 3)):
            t += x
    np.testing.assert_array_equal(c.intersection, total[0])
    np.testing.assert_array_equal(c.gt_band, total[1])
    np.testing.assert_array_equal(c.pred_band, total[2])


def test_ratio_uses_each_image_size():
    rng = np.random.default_rng(2)
    gt = _blocky(rng, 120, 90, 3, 9).astype(np.uint8)
    pred = _blocky(rng, 120, 90, 3, 7).astype(np.uint8)
    d = reference_dilation(120, 90, 0.03)
    c = sb.boundary_iou_counts(gt, pred, num_classes=3, dilation_ratio=0.03)
    inter, gb, pb = semantic_oracle(gt.astype(np.int64), pred.astype(np.int64), 3, 255, d)
    np.testing.assert_array_equal(c.intersection, inter)
    np.testing.assert_array_equal(c.pred_band, pb)


def test_label_errors_as_confusion_matrix():
    gt = np.zeros((6, 6), np.uint8)
    gt[0, 0] = 9
    pred = np.zeros((6, 6), np.uint8)
    with pytest.raises(LabelError) as e1:
        sb.boundary_iou_counts(gt, pred, num_classes=3, dilation=1, image_id="a.png")
    with pytest.raises(LabelError) as e2:
        segmetrics.SemanticEvaluator(3).update(gt, pred, image_id="a.png")
    assert str(e1.value) == str(e2.value) and "9" in str(e1.value)
    gt[0, 0] = 255
    pred[0, 0] = 200  # on an ignored pixel: allowed
    sb.boundary_iou_counts(gt, pred, num_classes=3, dilation=1)
    pred[1, 1] = 200  # on a scored pixel: an error naming the value
    with pytest.raises(LabelError, match="200"):
        sb.boundary_iou_counts(gt, pred, num_classes=3, dilation=1)
    with pytest.raises(InputError, match="same shape"):
        sb.boundary_iou_counts(gt, pred[:5], num_classes=3)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        sb.boundary_iou_counts(gt.reshape(1, 1, 6, 6), pred.reshape(1, 1, 6, 6), num_classes=3)


def test_non_contiguous_and_big_endian_inputs():
    rng = np.random.default_rng(5)
    gt = _blocky(rng, 30, 60, 4, 5)
    pred = _blocky(rng, 30, 60, 4, 3)
    ref = sb.boundary_iou_counts(gt.astype(np.int32), pred.astype(np.int32), num_classes=4, dilation=4)
    wide_g = np.repeat(gt, 2, axis=1).astype(">i4")[:, ::2]
    wide_p = np.repeat(pred, 2, axis=1).astype(np.uint16)[:, ::2]
    got = sb.boundary_iou_counts(wide_g, wide_p, num_classes=4, dilation=4)
    for a, b in zip((ref.intersection, ref.gt_band, ref.pred_band), (got.intersection, got.gt_band, got.pred_band)):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- metrics


def test_metrics_edge_cases_and_vectorised():
    inter = np.array([[2, 0, 0, 0], [1, 0, 0, 3]])
    gb = np.array([[4, 0, 0, 2], [2, 0, 5, 3]])
    pb = np.array([[3, 6, 0, 0], [1, 0, 0, 3]])
    m = sb.boundary_iou_metrics(inter, gb, pb)
    expect = np.array([[2 / 5, 0.0, np.nan, 0.0], [1 / 2, np.nan, 0.0, 1.0]])
    np.testing.assert_array_equal(m["BIoU"], expect)
    np.testing.assert_allclose(m["mBIoU"], [(0.4 + 0 + 0) / 3, 1.5 / 3], rtol=0, atol=1e-15)
    one = sb.boundary_iou_metrics(inter[0], gb[0], pb[0])
    assert one["mBIoU"] == m["mBIoU"][0] and isinstance(one["mBIoU"], float)
    d2 = sb.boundary_iou_metrics(inter[0], gb[0], pb[0], absent_rule="detectron2")
    assert math.isnan(d2["BIoU"][1]) and d2["BIoU"][3] == 0.0  # predicted but no GT band: left out
    mask = np.array([0.5, 0.0, np.nan, 0.25])
    mm = sb.boundary_iou_metrics(inter[0], gb[0], pb[0], mask_iou=mask)
    np.testing.assert_array_equal(mm["MinIoU"], [0.4, 0.0, np.nan, 0.0])
    nothing = sb.boundary_iou_metrics(np.zeros(3, int), np.zeros(3, int), np.zeros(3, int))
    assert math.isnan(nothing["mBIoU"])
    with pytest.raises(InputError, match="inconsistent"):
        sb.boundary_iou_metrics([5], [2], [2])


def test_evaluator_merge_pickle_threads():
    """SemanticEvaluator(boundary=True): the same band counts and values whatever the image
    order, sharding, merge order, threads and a pickle round trip."""
    rng = np.random.default_rng(11)
    images = [(_blocky(rng, 50, 40, 5, int(rng.integers(2, 8))).astype(np.uint8),
               _blocky(rng, 50, 40, 5, int(rng.integers(2, 8))).astype(np.uint8)) for _ in range(8)]
    for g, _ in images:
        g[rng.random(g.shape) < 0.05] = 255

    def make(**kw):
        return segmetrics.SemanticEvaluator(5, boundary=True, **({"dilation_ratio": 0.05} | kw))

    whole = make()
    for g, p in images:
        whole.update(g, p)
    parts = [make() for _ in range(3)]
    for i, (g, p) in enumerate(images[::-1]):
        parts[i % 3].update(g, p)
    merged = pickle.loads(pickle.dumps(parts[2])).merge(parts[0]).merge(parts[1])

    def one(pair):
        ev = make()
        ev.update(*pair)
        return ev

    with ThreadPoolExecutor(3) as pool:
        threaded = make()
        for ev in pool.map(one, images):
            threaded.merge(ev)
    a, b, c = whole.compute(), merged.compute(), threaded.compute()
    for key in ("BIoU", "MinIoU", "IoU"):
        np.testing.assert_array_equal(a.per_class[key], b.per_class[key])
        np.testing.assert_array_equal(a.per_class[key], c.per_class[key])
    assert a.metrics["mBIoU"] == b.metrics["mBIoU"] == c.metrics["mBIoU"]
    assert a.metrics["mMinIoU"] == b.metrics["mMinIoU"]
    cm = sum(segmetrics.confusion_matrix(g, p, num_classes=5) for g, p in images)
    np.testing.assert_array_equal(whole.state.confusion, cm)
    assert a.metrics["mIoU"] == segmetrics.mean_iou(cm)
    # the counts are the array API's, summed image by image
    want = sum((sb.boundary_iou_counts(g, p, num_classes=5, dilation_ratio=0.05) for g, p in images[1:]),
               sb.boundary_iou_counts(*images[0], num_classes=5, dilation_ratio=0.05))
    for got, exp in ((whole.state.boundary_inter, want.intersection), (whole.state.boundary_gt, want.gt_band),
                     (whole.state.boundary_pred, want.pred_band)):
        np.testing.assert_array_equal(got, exp)
    with pytest.raises(InputError, match="dilation"):
        whole.merge(make(dilation=2))
    with pytest.raises(InputError, match="ignore_index"):
        whole.merge(make(ignore_index=0))
    with pytest.raises(InputError, match="band counts"):
        whole.update_confusion(cm)


def test_evaluator_error_counts_nothing():
    ev = segmetrics.SemanticEvaluator(3, boundary=True, dilation=1)
    good = np.zeros((2, 5, 5), np.uint8)
    bad = good.copy()
    bad[1, 2, 2] = 7
    ev.update(good, good)
    before = (ev.state.boundary_gt.copy(), ev.state.confusion.copy(), ev.state.num_images)
    with pytest.raises(LabelError, match="image 3"):  # the running index, as SemanticEvaluator names it
        ev.update(bad, good)
    np.testing.assert_array_equal(ev.state.boundary_gt, before[0])
    np.testing.assert_array_equal(ev.state.confusion, before[1])
    assert ev.state.num_images == before[2]


# ----------------------------------------------------------------------------- kernel pieces


def test_runs_encoding_merges_equal_codes():
    lab = np.array([[0, 0, 1, 2, 2, 3], [5, 5, 5, 5, 5, 5]], np.uint8)
    codes = np.array([7, 7, 8, 8], np.int32)  # 0,1 -> 7; 2,3 -> 8; 5 beyond the table
    runs = kernel.encode_codes(lab, codes, True, 5)
    off, end, label = runs.arrays()
    assert off.tolist() == [0, 2, 3]
    assert end.tolist() == [3, 6, 6] and label.tolist() == [7, 8, -1]  # 5 == ignore beyond the table
    runs = kernel.encode_codes(lab, codes, False, 0)
    assert runs.arrays()[2].tolist() == [7, 8, -2]


def test_encode_ids_reports_unlisted_id():
    ids = np.array([[0, 3, 3], [9, 0, 3]], np.uint32)
    runs, bad = kernel.encode_ids(ids.view(np.uint8).reshape(2, -1), False, 3, np.array([3], np.int64))
    assert runs is None and bad == 9
    runs, bad = kernel.encode_ids(ids.view(np.uint8).reshape(2, -1), False, 3, np.array([3, 9], np.int64))
    assert bad == -1 and runs.arrays()[2].tolist() == [0, 1, 2, 0, 1]


def test_pair_table_grows_past_many_pairs():
    """Thousands of distinct pairs in one image (the table starts small and rehashes)."""
    rng = np.random.default_rng(0)
    h, w = 60, 200
    g = rng.integers(0, 3000, (h, w)).astype(np.int32)
    p = rng.integers(0, 2500, (h, w)).astype(np.int32)
    rg = kernel.encode_codes(g, np.arange(3000, dtype=np.int32), False, 0)
    rp = kernel.encode_codes(p, np.arange(2500, dtype=np.int32), False, 0)
    eg, ep, em, inner, _, _ = kernel.panoptic_interior(rg, rp, 0, 2999, 2499)
    keys, counts = np.unique(g.astype(np.int64) * 4096 + p, return_counts=True)
    np.testing.assert_array_equal(eg.astype(np.int64) * 4096 + ep, keys)
    np.testing.assert_array_equal(em, counts)
    np.testing.assert_array_equal(inner, np.where(ep > 0, em, 0))  # no band: all interior (pred void: none)


def test_real_label_maps_against_opencv(shared_data):
    """ADE20K (reduce_zero_label) and CamVid (11 classes, 11 = unlabelled) ground truth
    against a copy moved by a few pixels, at the default ratio, equal to the OpenCV oracle."""
    from PIL import Image

    cases = [(p, 150, True) for p in sorted((shared_data / "ade20k_sample" / "sampleData" / "annotations").glob("*.png"))]
    cases += [(p, 11, False) for p in sorted((shared_data / "camvid" / "valannot").glob("*.png"))[:3]]
    assert len(cases) >= 4
    for path, k, rzl in cases:
        with Image.open(path) as im:
            gt = np.asarray(im).copy()
        if rzl:
            pred = np.clip(np.roll(gt, (3, -2), axis=(0, 1)).astype(np.int64) - 1, 0, k - 1).astype(np.uint8)
            eff, ign = np.where(gt == 0, 255, gt.astype(np.int64) - 1), 255
        else:
            pred = np.roll(gt, (2, 3), axis=(0, 1)) % 11
            eff, ign = np.where(gt == 11, 255, gt), 255
        got = sb.boundary_iou_counts(gt, pred, num_classes=k, ignore_index=11 if not rzl else 255,
                                     reduce_zero_label=rzl)
        d = reference_dilation(*gt.shape, 0.02)
        want = semantic_oracle(eff, pred.astype(np.int64), k, ign, d)
        for a, b in zip((got.intersection, got.gt_band, got.pred_band), want):
            np.testing.assert_array_equal(a, b, err_msg=str(path))
