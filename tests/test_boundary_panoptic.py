"""Boundary PQ and PQ-dagger against a per-segment OpenCV oracle, panopticapi-lite and torchmetrics."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmetrics import PanopticEvaluator
from segmetrics import boundary as sb
from segmetrics.errors import FormatError

from boundary_oracles import (
    oracle_metrics,
    panoptic_oracle_image,
    random_categories,
    random_panoptic_pair,
    reference_dilation,
)

REPO = Path(__file__).resolve().parents[1]


def _image_stats_equal(got, oracle: dict, categories) -> None:
    for i, c in enumerate(categories):
        o = oracle[c["id"]]
        assert (got.btp[i], got.bfp[i], got.bfn[i]) == (o["btp"], o["bfp"], o["bfn"]), c
        assert (got.tp[i], got.fp[i], got.fn[i]) == (o["tp"], o["fp"], o["fn"]), c
        assert got.gt_segments[i] == o["gt_segments"]
        assert sorted(got.bmatch_iou[got.bmatch_cat == i].tolist()) == sorted(o["biou"])
        assert sorted(got.match_iou[got.match_cat == i].tolist()) == sorted(o["iou"])
        assert sorted(got.stuff_iou[got.stuff_cat == i].tolist()) == sorted(o["stuff_iou"])


@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 40), st.integers(1, 30))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_image_stats_equal_per_segment_oracle(seed, h, w, d):
    rng = np.random.default_rng(seed)
    cats = random_categories(rng)
    gt, gs, pred, ps = random_panoptic_pair(rng, h, w, cats)
    rgb = rng.random() < 0.5
    if rgb:
        gt_in = np.stack([gt & 255, (gt >> 8) & 255, (gt >> 16) & 255], -1).astype(np.uint8)
    else:
        gt_in = gt
    got = sb.boundary_panoptic_stats(gt_in, gs, pred, ps, cats, dilation=d)
    _image_stats_equal(got, panoptic_oracle_image(gt, gs, pred, ps, cats, d), cats)


def test_dataset_metrics_equal_oracle_and_panoptic_evaluator():
    rng = np.random.default_rng(2024)
    cats = random_categories(rng, 5, 4)
    acc = PanopticEvaluator(cats, with_semantic=False, boundary=True, dilation_ratio=0.05)
    ev = PanopticEvaluator(cats, with_semantic=False)
    oracle = []
    for i in range(25):
        h, w = (int(x) for x in rng.integers(8, 60, 2))
        gt, gs, pred, ps = random_panoptic_pair(rng, h, w, cats, sentinel_id=max(c["id"] for c in cats) + 1)
        acc.update(gt, gs, pred, ps, image_id=i)
        ev.update(gt, gs, pred, ps, image_id=i)
        oracle.append(panoptic_oracle_image(gt, gs, pred, ps, cats, reference_dilation(h, w, 0.05)))
    res = acc.compute().metrics
    want = oracle_metrics(oracle, cats)
    for key, value in want.items():
        got = res[key]
        assert (math.isnan(got) and math.isnan(value)) or abs(got - value) <= 1e-12, key
    mask = ev.compute().metrics
    for key in ("PQ", "SQ", "RQ", "N", "PQ_th", "PQ_st", "N_th", "N_st", "PQ_dagger", "PQ_dagger_st"):
        assert res[key] == mask[key]  # the band changes no mask number, bit for bit
    assert res["PQ_dagger_th"] == mask["PQ_th"]
    assert res["BPQ"] < res["PQ"]  # the borders of this data are far off


def test_accumulator_order_merge_threads_pickle():
    """Results equal bit for bit whatever the image order, the sharding and merge order, the
    threads that scored the images, and a pickle round trip."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    cats = random_categories(rng)
    data = [random_panoptic_pair(rng, int(rng.integers(10, 40)), int(rng.integers(10, 40)), cats)
            for _ in range(12)]
    def make(**kw):
        return PanopticEvaluator(cats, boundary=True, **({"dilation_ratio": 0.04} | kw))

    ref = make()
    for i, item in enumerate(data):
        ref.update(*item, image_id=i)
    shards = [make() for _ in range(3)]
    order = rng.permutation(len(data))
    for j, i in enumerate(order):
        shards[j % 3].update(*data[i], image_id=int(i))
    merged = pickle.loads(pickle.dumps(shards[1])).merge(shards[2]).merge(shards[0])
    with ThreadPoolExecutor(3) as pool:
        stats = list(pool.map(lambda i: ref.evaluate_image(*data[i], image_id=i), range(len(data))[::-1]))
    threaded = make()
    for st_ in stats:
        threaded.add(st_)
    want = ref.compute()
    for other in (merged.compute(), threaded.compute()):
        assert json.dumps(other.to_dict()["metrics"], sort_keys=True) == json.dumps(want.to_dict()["metrics"],
                                                                                   sort_keys=True)
        assert json.dumps(other.to_dict()["per_class"], sort_keys=True) == json.dumps(
            want.to_dict()["per_class"], sort_keys=True)
    with pytest.raises(Exception, match="boundary settings"):
        ref.merge(make(dilation=3))


def test_one_matcher_band_covering_everything_is_mask_pq():
    """One matcher serves PQ and Boundary PQ: with a band wider than half the image every
    pixel is in its segment's band, so the boundary IoU is the mask IoU on PNG areas, and
    with ``recompute_gt_areas`` Boundary PQ's counts and IoUs equal PQ's bit for bit (crowd,
    void); with stale JSON areas the boundary IoU is taken on the PNG areas instead."""
    from segmetrics.panoptic import CategoryIndex

    rng = np.random.default_rng(99)
    cats = random_categories(rng)
    index = CategoryIndex(cats)
    for i in range(60):
        gt, gs, pred, ps = random_panoptic_pair(rng, 30, 37, cats)
        if i % 3 == 0 and gs:
            gs[0] = dict(gs[0], area=gs[0]["area"] + int(rng.integers(0, 4)))  # stale area
        for recompute in (False, True):
            st_ = sb.boundary_panoptic_stats(gt, gs, pred, ps, index, dilation=100, image_id=i,
                                             recompute_gt_areas=recompute)
            assert st_.dilation == 100
            mask_view = sb.boundary_panoptic_stats(gt, gs, pred, ps, index, dilation=100, image_id=i,
                                                   recompute_gt_areas=True)
            for a, b in ((st_.btp, mask_view.tp), (st_.bfp, mask_view.fp), (st_.bfn, mask_view.fn)):
                if recompute or i % 3:
                    np.testing.assert_array_equal(a, b)
            if recompute:
                np.testing.assert_array_equal(st_.bmatch_cat, st_.match_cat)
                np.testing.assert_array_equal(st_.bmatch_iou, st_.match_iou)


def test_sentinel_id_segment_is_scored_by_the_definition():
    """A segment whose id equals max category id + 1 (boundary-iou-api's interior marker) gets
    its own band; here GT and prediction agree exactly, so every pair scores 1."""
    cats = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0}]
    gt = np.full((20, 30), 7, np.uint32)  # stuff
    gt[4:16, 5:12] = 3  # thing with the sentinel id (2 + 1)
    gt[6:10, 18:26] = 9
    segs = [{"id": 7, "category_id": 2, "iscrowd": 0, "area": int((gt == 7).sum())},
            {"id": 3, "category_id": 1, "iscrowd": 0, "area": int((gt == 3).sum())},
            {"id": 9, "category_id": 1, "iscrowd": 0, "area": int((gt == 9).sum())}]
    st_ = sb.boundary_panoptic_stats(gt, segs, gt, [dict(s) for s in segs], cats, dilation=3)
    assert st_.btp.tolist() == [2, 1] and not st_.bfp.any() and not st_.bfn.any()
    assert st_.bmatch_iou.tolist() == [1.0, 1.0, 1.0]


def test_boundary_pq_is_lower_when_only_borders_are_wrong():
    """Hand-derived: one 40 x 40 square predicted with a 2-pixel rim missing.  Mask IoU =
    36^2 / 40^2 = 0.81; with d = 2 the GT band is the outer 2-pixel ring (40^2 - 36^2 = 304
    pixels) and the prediction's band its own outer ring (36^2 - 32^2 = 272 pixels), disjoint:
    boundary IoU 0, so Boundary PQ 0 while PQ is 0.81."""
    cats = [{"id": 1, "name": "sq", "isthing": 1}, {"id": 2, "name": "bg", "isthing": 0}]
    gt = np.full((60, 60), 5, np.uint32)
    gt[10:50, 10:50] = 6
    pred = np.full((60, 60), 5, np.uint32)
    pred[12:48, 12:48] = 6
    gs = [{"id": 5, "category_id": 2, "area": int((gt == 5).sum())}, {"id": 6, "category_id": 1, "area": 1600}]
    ps = [{"id": 5, "category_id": 2}, {"id": 6, "category_id": 1}]
    st_ = sb.boundary_panoptic_stats(gt, gs, pred, ps, cats, dilation=2)
    assert st_.match_iou[st_.match_cat == 0].tolist() == [1296 / 1600]
    assert st_.btp[0] == 0 and st_.bfn[0] == 1 and st_.bfp[0] == 1


def test_prediction_spilling_over_void():
    """A thing predicted with a large extension over GT void: the mask IoU ignores the void
    part (here 100 / (500 + 100 - 100 - 400) = 1), and so must the band union (|P_b & void|
    is subtracted), including the band pixels deep inside the void region."""
    cats = [{"id": 1, "name": "t", "isthing": 1}, {"id": 2, "name": "s", "isthing": 0}]
    gt = np.full((40, 60), 8, np.uint32)
    gt[5:35, 30:58] = 0  # void block
    gt[10:20, 20:30] = 4  # the thing, touching the void
    pred = gt.copy()
    pred[10:30, 30:50] = 4  # ... predicted with a 20 x 20 extension inside the void
    gs = [{"id": 8, "category_id": 2, "area": int((gt == 8).sum())}, {"id": 4, "category_id": 1, "area": 100}]
    ps = [{"id": 8, "category_id": 2}, {"id": 4, "category_id": 1}]
    for d in (1, 2, 3):
        got = sb.boundary_panoptic_stats(gt, gs, pred, ps, cats, dilation=d)
        assert got.match_iou[got.match_cat == 0].tolist() == [1.0]
        assert got.btp[0] == 1
        _image_stats_equal(got, panoptic_oracle_image(gt, gs, pred, ps, cats, d), cats)


def test_errors_come_from_the_mask_path():
    cats = [{"id": 1, "name": "a", "isthing": 1}]
    gt = np.zeros((5, 5), np.uint32)
    gt[1:3, 1:3] = 4
    with pytest.raises(FormatError, match="not in segments_info"):
        sb.boundary_panoptic_stats(gt, [], gt, [{"id": 4, "category_id": 1}], cats, image_id="x")


# ----------------------------------------------------------------------------- real COCO sample


def _perturb(rng, ids: np.ndarray) -> np.ndarray:
    """Move every segment's border: each segment's mask is shifted by up to 3 pixels in a
    random direction where it lands on another segment, and some borders are thinned to void."""
    import cv2

    out = ids.copy()
    for sid in np.unique(ids):
        if sid == 0:
            continue
        m = (ids == sid).astype(np.uint8)
        dy, dx = (int(v) for v in rng.integers(-3, 4, 2))
        moved = np.roll(m, (dy, dx), axis=(0, 1)).astype(bool)
        out[moved & (rng.random(ids.shape) < 0.9)] = sid
        if rng.random() < 0.3:
            inner = cv2.erode(m, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
            out[(ids == sid) & ~inner] = 0
    return out


def test_real_coco_sample_against_oracle(shared_data):
    root = shared_data / "coco_panoptic_sample"
    data = json.loads((root / "sample_data" / "panoptic_examples.json").read_text())
    cats = json.loads((root / "panoptic_coco_categories.json").read_text())
    from segmetrics.io.coco_panoptic import read_id_png, rgb2id

    rng = np.random.default_rng(0)
    acc = PanopticEvaluator(cats, boundary=True, with_semantic=False)
    oracle = []
    for ann in data["annotations"]:
        gt = rgb2id(read_id_png(root / "sample_data" / "panoptic_examples" / ann["file_name"]))
        pred = _perturb(rng, gt)
        cat_of = {s["id"]: s["category_id"] for s in ann["segments_info"]}
        ps = [{"id": int(i), "category_id": cat_of[int(i)]} for i in np.unique(pred) if i]
        acc.update(gt, ann["segments_info"], pred, ps, image_id=ann["image_id"])
        d = reference_dilation(*gt.shape, 0.02)
        oracle.append(panoptic_oracle_image(gt, ann["segments_info"], pred, ps, cats, d))
    res = acc.compute().metrics
    want = oracle_metrics(oracle, cats)
    for key, value in want.items():
        assert abs(res[key] - value) <= 1e-12, key
    assert res["BPQ"] < res["PQ"] < 1.0


# ----------------------------------------------------------------------------- many segments


def test_many_segments_linear_memory():
    """45,000 segments in one 300 x 400 image: the pair table, the band counts and the matching
    of PQ and Boundary PQ are linear in pixels + pairs (no (G+1) x (P+1) table), checked under
    an address-space cap."""
    code = textwrap.dedent("""
        import resource, numpy as np
        resource.setrlimit(resource.RLIMIT_AS, (1_200_000_000, 1_200_000_000))
        from segmetrics import boundary as sb
        h, w = 300, 400
        ids = np.empty((h, w), np.uint32)
        ids[:, :200] = (np.arange(h * 200) // 2 + 1).reshape(h, 200)  # 30,000 2-pixel runs
        ids[:, 200:] = (np.arange(h * 200) % 15000 + 30001).reshape(h, 200)  # 15,000 scattered ids
        pred = np.roll(ids, 1, axis=1)
        gid, area = np.unique(ids, return_counts=True)
        cats = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0}]
        gs = [{"id": int(i), "category_id": 1 + int(i) % 2, "iscrowd": 0, "area": int(a)} for i, a in zip(gid, area)]
        ps = [{"id": int(i), "category_id": 1 + int(i) % 2} for i in gid]
        st = sb.boundary_panoptic_stats(ids, gs, pred, ps, cats, dilation=4)
        print(gid.size, int(st.tp.sum() + st.fn.sum()), int(st.btp.sum() + st.bfn.sum()), int(st.gt_segments.sum()))
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    n, mask_gt, band_gt, segments = (int(x) for x in out.stdout.split())
    assert n == mask_gt == band_gt == segments == 45000  # every GT segment is a TP or an FN


# ----------------------------------------------------------------------------- PQ-dagger vs torchmetrics


def _from_category_instance(x: np.ndarray, things: set, stuffs: set):
    """torchmetrics' (H, W, 2) (category, instance) map as a COCO id map + segments_info:
    stuff instances merged per category, unknown categories void (its conventions)."""
    cat = x[..., 0].astype(np.int64)
    inst = np.where(np.isin(cat, list(stuffs)), 0, x[..., 1].astype(np.int64))
    known = np.isin(cat, list(things | stuffs))
    key = np.where(known, cat * 100000 + inst, -1)
    uniq, inv = np.unique(key, return_inverse=True)
    ids = np.zeros(key.shape, np.uint32)
    segs = []
    next_id = 1
    for j, kval in enumerate(uniq.tolist()):
        if kval < 0:
            continue
        m = inv.reshape(key.shape) == j
        ids[m] = next_id
        segs.append({"id": next_id, "category_id": int(kval // 100000), "iscrowd": 0, "area": int(m.sum())})
        next_id += 1
    return ids, segs


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pq_dagger_equals_torchmetrics(seed):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.detection")
    rng = np.random.default_rng(seed)
    things, stuffs = {0, 1, 3}, {6, 7}
    cats = [{"id": c, "name": str(c), "isthing": int(c in things)} for c in sorted(things | stuffs)]
    b, h, w = int(rng.integers(1, 4)), int(rng.integers(4, 24)), int(rng.integers(4, 24))
    allc = np.array(sorted(things | stuffs))
    # blocky (category, instance) maps; the target also has an unknown category (255: void)
    def sample(void):
        cell = int(rng.integers(1, 6))
        sh, sw = (h + cell - 1) // cell, (w + cell - 1) // cell
        c = rng.choice(np.append(allc, 255) if void else allc, size=(b, sh, sw))
        i = rng.integers(0, 3, size=(b, sh, sw))
        big = np.stack([c, i], -1)
        return np.repeat(np.repeat(big, cell, 1), cell, 2)[:, :h, :w]
    target = sample(True)
    preds = sample(False)
    # torchmetrics divides int64 tensors, which gives torch's default float dtype: float32
    # IoUs (agreement to ~1e-7).  Under a float64 default its IoUs are exact, as ours.
    metric = tm.ModifiedPanopticQuality(things=things, stuffs=stuffs)
    want32 = float(metric(torch.from_numpy(preds), torch.from_numpy(target)))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        metric = tm.ModifiedPanopticQuality(things=things, stuffs=stuffs)
        want = float(metric(torch.from_numpy(preds), torch.from_numpy(target)))
    finally:
        torch.set_default_dtype(default)
    gts, gsegs, prs, psegs = [], [], [], []
    for t, p in zip(target, preds):
        g_ids, g_segs = _from_category_instance(t, things, stuffs)
        p_ids, p_segs = _from_category_instance(p, things, stuffs)
        gts.append(g_ids)
        gsegs.append(g_segs)
        prs.append(p_ids)
        psegs.append(p_segs)
    got = sb.pq_dagger(gts, gsegs, prs, psegs, categories=cats)["PQ_dagger"]
    if math.isnan(want):
        assert math.isnan(got) and math.isnan(want32)
    else:
        assert abs(got - want) <= 1e-12
        assert abs(got - want32) <= 1e-6


def test_pq_dagger_torchmetrics_docstring_example():
    """torchmetrics' own example (0.7667): things {0, 1}, stuff {6, 7}, one unknown GT category."""
    things, stuffs = {0, 1}, {6, 7}
    preds = np.array([[[0, 0], [0, 1], [6, 0], [7, 0], [0, 2], [1, 0]]])
    target = np.array([[[0, 1], [0, 0], [6, 0], [7, 0], [6, 0], [255, 0]]])
    g_ids, g_segs = _from_category_instance(target, things, stuffs)
    p_ids, p_segs = _from_category_instance(preds, things, stuffs)
    cats = [{"id": c, "name": str(c), "isthing": int(c in things)} for c in (0, 1, 6, 7)]
    res = sb.pq_dagger(g_ids, g_segs, p_ids, p_segs, categories=cats)
    # thing 0: GT (0,1) ~ pred (0,0) IoU 1, GT (0,0) ~ pred (0,1) IoU 1 -> PQ 1 ... pred (0,2) FP:
    # PQ_0 = 2 / (2 + 0.5) = 0.8; thing 1: pred (1,0) on void only -> not an FP, no GT -> left out;
    # stuff 6: GT pixels {2, 4}, pred {2}: IoU 1/2; stuff 7: IoU 1.  Mean of 0.8, 0.5, 1.
    assert res["PQ_dagger"] == pytest.approx((0.8 + 0.5 + 1.0) / 3, abs=1e-15)
    assert res["N_dagger"] == 3 and res["PQ_dagger_st"] == pytest.approx(0.75, abs=1e-15)


@given(st.integers(0, 2**32 - 1), st.integers(1, 9))
@settings(max_examples=60, deadline=None)
def test_interior_only_table_equals_the_full_table(seed, d):
    """Without the mask (the fused loop has the engine's table) the walk skips the stretches
    where both maps are in a band: the interior counts stay the same."""
    from segmetrics._kernels import boundary as kernel

    rng = np.random.default_rng(seed)
    cats = random_categories(rng)
    gt, gs, pred, ps = random_panoptic_pair(rng, int(rng.integers(1, 30)), int(rng.integers(1, 30)), cats)
    gid = np.array(sorted(s["id"] for s in gs), np.int64)
    pid = np.array(sorted(s["id"] for s in ps), np.int64)
    h, w = gt.shape
    rg, _ = kernel.encode_ids(gt.view(np.uint8).reshape(h, -1), False, w, gid)
    rp, _ = kernel.encode_ids(pred.view(np.uint8).reshape(h, -1), False, w, pid)
    full = kernel.panoptic_interior(rg, rp, d, gid.size, pid.size)
    part = kernel.panoptic_interior(rg, rp, d, gid.size, pid.size, count_mask=False)
    keep = full[3] > 0
    for a, b in zip(full[:2], part[:2]):
        np.testing.assert_array_equal(a[keep], b)
    np.testing.assert_array_equal(full[3][keep], part[3])
    assert not part[2].any()
    np.testing.assert_array_equal(full[4], part[4])
    np.testing.assert_array_equal(full[5], part[5])


def test_pq_metric_functions_vectorise_over_a_leading_axis():
    """What issue 12's bootstrap will call: (R, K) counts give the R rows' metrics."""
    rng = np.random.default_rng(8)
    k, r = 7, 5
    isthing = np.array([1, 1, 0, 1, 0, 0, 1], bool)
    tp, fp, fn, n_gt = (rng.integers(0, 4, (r, k)) for _ in range(4))
    tp[0] = fp[0] = fn[0] = 0  # a row with nothing to score: NaN
    iou = tp * rng.uniform(0.5, 1.0, (r, k))
    s_iou = n_gt * rng.uniform(0.0, 1.0, (r, k))
    many = sb.boundary_pq_metrics(tp, fp, fn, iou, isthing)
    dag = sb.pq_dagger_metrics(tp, fp, fn, iou, s_iou, n_gt, isthing)
    for i in range(r):
        one = sb.boundary_pq_metrics(tp[i], fp[i], fn[i], iou[i], isthing)
        one_d = sb.pq_dagger_metrics(tp[i], fp[i], fn[i], iou[i], s_iou[i], n_gt[i], isthing)
        for key, v in one.items():
            np.testing.assert_array_equal(np.asarray(many[key])[i], v, err_msg=key)
        for key, v in one_d.items():
            np.testing.assert_array_equal(np.asarray(dag[key])[i], v, err_msg=key)
    assert math.isnan(many["BPQ"][0]) and many["BN"][0] == 0
    # hand check of one class: PQ = iou / (TP + FP/2 + FN/2)
    c = int(np.flatnonzero(tp[1] + fp[1] + fn[1])[0])
    assert many["bpq"][1, c] == iou[1, c] / (tp[1, c] + 0.5 * fp[1, c] + 0.5 * fn[1, c])
