"""The panoptic kernels against their NumPy twins (tests/oracles.py), on random id maps.

Kernels: ``panoptic.PairTable.count_maps`` (the present pairs of id maps, full table
and hash), ``panoptic.image_stats`` (panopticapi's per-image rules, ``sm_pq.h``),
``folder_panoptic.panoptic_pair`` / ``panoptic_cached`` and the fused
``PanopticBatch`` / ``PanopticAccumulator`` (PNG files, cached GT runs, per-image rows).
"""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import oracles
from segmetrics._kernels import folder, folder_panoptic, panoptic

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def id2rgb(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def png(rgb: np.ndarray) -> bytes:
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, format="PNG")
    return b.getvalue()


def random_image(rng, h: int, w: int, n: int, k: int, tiny: bool):
    """A GT / prediction pair of id maps with segment columns (dense order): void, crowd,
    tiny segments, stale / missing areas, segments listed without pixels, unlisted ids."""
    ids = np.sort(rng.choice(np.arange(1, 2**24 - 1), size=2 * n, replace=False))
    gid, pid = ids[:n], ids[n:]
    if tiny:  # one- and two-pixel segments everywhere
        g = rng.choice(np.r_[0, gid], (h, w))
        p = rng.choice(np.r_[0, pid], (h, w))
    else:
        cells = rng.choice(np.r_[0, gid], (h // 3 + 1, w // 4 + 1))
        g = np.repeat(np.repeat(cells, 3, 0), 4, 1)[:h, :w]
        # predictions: the GT's shapes shifted, relabelled, with noise
        relabel = dict(zip(np.r_[0, gid].tolist(), np.r_[0, rng.permutation(pid)].tolist()))
        p = np.vectorize(relabel.get)(np.roll(g, int(rng.integers(0, 3)), axis=1)) if g.size else g
        m = rng.random((h, w)) < 0.1
        p = np.where(m, rng.choice(np.r_[0, pid], (h, w)), p)
    listed_g = [i for i in gid.tolist() if (g == i).any() or rng.random() < 0.1]
    listed_p = [i for i in pid.tolist() if (p == i).any() or rng.random() < 0.1]
    if rng.random() < 0.1 and listed_p:  # an unlisted id in the map
        listed_p = listed_p[1:] if (p == listed_p[0]).any() else listed_p
    g_cat = rng.integers(0, k, len(listed_g))
    g_crowd = (rng.random(len(listed_g)) < 0.2).astype(np.uint8)
    pix = np.array([(g == i).sum() for i in listed_g], dtype=np.float64)
    # stale areas stay positive (an area of 0 is issue 11's item 4, not a kernel matter)
    g_area = np.where(rng.random(len(listed_g)) < 0.15, np.maximum(1, pix + rng.integers(-2, 3, len(listed_g))), pix)
    g_area[rng.random(len(listed_g)) < 0.1] = np.nan
    g_order = rng.permutation(len(listed_g)).astype(np.int64)
    p_cat = np.where(rng.random(len(listed_p)) < 0.7,
                     g_cat[rng.integers(0, max(1, len(listed_g)), len(listed_p))] if listed_g else 0,
                     rng.integers(0, k, len(listed_p))).astype(np.int64)
    gcol = (np.array(listed_g, np.int64), g_cat.astype(np.int64), g_crowd, g_area, g_order)
    pcol = (np.array(listed_p, np.int64), p_cat)
    return g, p, gcol, pcol


@st.composite
def images(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h, w = draw(st.integers(1, 25)), draw(st.integers(1, 40))
    n = draw(st.sampled_from([1, 2, 5, 12, 40, 150]))  # 150 x 150 > the full-table limit: hashed
    k = draw(st.integers(1, 6))
    return random_image(rng, h, w, n, k, draw(st.booleans())) + (k, draw(st.booleans()))


def kernel_pairs(t: panoptic.PairTable) -> dict:
    g, p, c = t.pairs()
    assert (np.diff(g * (t.n_pred + 1) + p) > 0).all()  # row-major order, each pair once
    return dict(zip(zip(g.tolist(), p.tolist()), c.tolist()))


def check_stats(got: dict, want: dict, k: int):
    assert got["status"] == want["status"]
    assert got["gt_pixels"].tolist() == want["gt_pixels"] and got["pred_pixels"].tolist() == want["pred_pixels"]
    if got["status"]:
        return
    for key in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(got[key], want[key])
    assert list(zip(got["match_cat"].tolist(), got["match_iou"].tolist())) == want["matches"]  # same bits, order
    conf = np.zeros((k + 1) ** 2, np.int64)
    np.add.at(conf, got["confusion_index"], got["confusion_count"])
    np.testing.assert_array_equal(conf, want["confusion"])
    assert got["stale"].tolist() == want["stale"]
    if "stuff" in want:  # PQ-dagger's stuff pairs and GT segment counts
        assert list(zip(got["stuff_cat"].tolist(), got["stuff_iou"].tolist())) == want["stuff"]
        np.testing.assert_array_equal(got["gt_segments"], want["gt_segments"])
    assert got["gt_outcome"].tolist() == want["gt_outcome"] and got["pred_outcome"].tolist() == want["pred_outcome"]


@SETTINGS
@given(images(), st.sampled_from(["rgb/rgb", "rgb/u32", "u32/rgb", "u32/u32"]))
def test_pairs_and_image_stats_equal_twin(case, kinds):
    g, p, gcol, pcol, k, recompute = case
    gk, pk = kinds.split("/")
    gbuf = id2rgb(g) if gk == "rgb" else g.astype(np.uint32)
    pbuf = id2rgb(p) if pk == "rgb" else p.astype(np.uint32)
    t = panoptic.PairTable()
    unlisted = t.count_maps(gbuf.reshape(-1).view(np.uint8), gk == "rgb", pbuf.reshape(-1).view(np.uint8),
                            pk == "rgb", g.size, gcol[0], pcol[0])
    want_pairs, want_unlisted = oracles.pair_counts(g, p, gcol[0], pcol[0])
    assert unlisted == want_unlisted
    if unlisted:
        return
    assert kernel_pairs(t) == want_pairs
    assert t.hashed == ((len(gcol[0]) + 1) * (len(pcol[0]) + 1) > 16384)
    got = panoptic.image_stats(t, k, gcol[1], gcol[2], gcol[3], gcol[4], pcol[1], recompute)
    check_stats(got, oracles.image_stats(want_pairs, *gcol[1:], pcol[1], k, recompute), k)
    isthing = (np.arange(k) % 2).astype(np.uint8)  # with PQ-dagger's inputs: the same, and the stuff pairs
    got = panoptic.image_stats(t, k, gcol[1], gcol[2], gcol[3], gcol[4], pcol[1], recompute, isthing)
    check_stats(got, oracles.image_stats(want_pairs, *gcol[1:], pcol[1], k, recompute, isthing), k)


def test_many_segments_hashed_pairs_equal_twin():
    """Thousands of one- to three-pixel segments per side: the hash grows many times."""
    rng = np.random.default_rng(3)
    h, w, n = 60, 90, 2500
    cuts = np.sort(rng.choice(np.arange(1, h * w), n - 1, replace=False))
    g = (np.cumsum(np.isin(np.arange(h * w), cuts)) + 1).reshape(h, w)
    p = np.roll(g, 1, axis=1) + n
    p[rng.random((h, w)) < 0.05] = 0
    gcol = (np.arange(1, n + 1), rng.integers(0, 3, n), np.zeros(n, np.uint8), np.full(n, np.nan),
            np.arange(n))
    p_ids = np.unique(p[p > 0])
    pcol = (p_ids, rng.integers(0, 3, p_ids.size))
    t = panoptic.PairTable()
    assert t.count_maps(id2rgb(g).reshape(-1), True, id2rgb(p).reshape(-1), True, g.size, gcol[0], pcol[0]) == 0
    want = oracles.pair_counts(g, p, gcol[0], pcol[0])[0]
    assert t.hashed and kernel_pairs(t) == want
    check_stats(panoptic.image_stats(t, 3, *gcol[1:], pcol[1], False),
                oracles.image_stats(want, *gcol[1:], pcol[1], 3), 3)


# ----------------------------------------------------------------------------- folder kernels
@SETTINGS
@given(images())
def test_panoptic_file_kernels_equal_twin(case):
    g, p, gcol, pcol, k, recompute = case
    gt, pred = png(id2rgb(g)), png(id2rgb(p))
    s, t = folder.Scratch(), panoptic.PairTable()
    status = folder_panoptic.panoptic_pair(s, gt, pred, t, gcol[0], pcol[0], len(gcol[0]) < 65536)
    want_pairs, unlisted = oracles.pair_counts(g, p, gcol[0], pcol[0])
    assert status == (1 if unlisted else 0)
    if unlisted:
        assert s.message == "segment id not in segments_info"
        return
    assert kernel_pairs(t) == want_pairs
    # the recorded GT runs are the dense GT indices, row by row
    d = oracles.dense(g, gcol[0])
    values, lengths = oracles.gt_code_runs(d, np.arange(d.max(initial=0) + 1))
    rec = np.frombuffer(s.record(), "<u2")
    np.testing.assert_array_equal(rec, np.r_[values - 2, lengths].astype(np.uint16))
    t2 = panoptic.PairTable()
    assert folder_panoptic.panoptic_cached(s, values - 2, lengths, g.shape[1], g.shape[0], pred, t2,
                                           len(gcol[0]), pcol[0]) == 0
    assert kernel_pairs(t2) == want_pairs
    # the fused statistics of the same image (status 3: the Python path names what it found)
    isthing = (np.arange(k) % 2).astype(np.uint8)
    want = oracles.image_stats(want_pairs, *gcol[1:], pcol[1], k, recompute, isthing)
    batch = folder_panoptic.PanopticBatch(k, np.array([0]), np.array([len(gcol[0])]), *gcol, np.array([0]),
                                          np.array([len(pcol[0])]), *pcol, recompute, True)
    acc = folder_panoptic.PanopticAccumulator(k, isthing)
    got = batch.score_pair(folder.Scratch(), acc, 0, gt, pred)
    needs_python = want["status"] or (want["stale"] and not recompute)
    assert got == (3 if needs_python else 0)
    r = acc.result()
    tp, fp, fn, conf, m_cat, m_iou, m_image = (r[key] for key in ("tp", "fp", "fn", "confusion", "match_cat",
                                                                   "match_iou", "match_image"))
    if needs_python:
        assert acc.num_images == 0 and not tp.any() and not conf.any() and m_cat.size == 0
        assert r["stuff_cat"].size == 0 and not r["gt_segments"].any()
        return
    for a, b in ((tp, want["tp"]), (fp, want["fp"]), (fn, want["fn"])):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(conf.reshape(-1), want["confusion"])
    assert list(zip(m_cat.tolist(), m_iou.tolist())) == want["matches"] and not m_image.any()
    assert list(zip(r["stuff_cat"].tolist(), r["stuff_iou"].tolist())) == want["stuff"]
    np.testing.assert_array_equal(r["gt_segments"], want["gt_segments"])
    for rows, vec in zip(batch.image_counts(), (tp, fp, fn)):
        np.testing.assert_array_equal(rows[0], vec)


def test_panoptic_batch_run_equals_twin(tmp_path):
    """Several images through one accumulator and PanopticBatch.run (files read by the
    kernel) on two threads' worth of accumulators: the sums equal the twin's."""
    rng = np.random.default_rng(11)
    k, images = 4, []
    while len(images) < 12:
        g, p, gcol, pcol = random_image(rng, int(rng.integers(1, 30)), int(rng.integers(1, 40)),
                                        int(rng.integers(1, 30)), k, bool(rng.random() < 0.3))
        pairs, unlisted = oracles.pair_counts(g, p, gcol[0], pcol[0])
        gcol = gcol[:3] + (np.full(gcol[3].shape, np.nan), gcol[4])  # no JSON areas: none is stale
        if unlisted or oracles.image_stats(pairs, *gcol[1:], pcol[1], k)["status"]:
            continue
        images.append((id2rgb(g), id2rgb(p), gcol, pcol))
    want = oracles.panoptic_run(images, k)
    cols = [np.concatenate(c) for c in zip(*(im[2] for im in images))]
    pcols = [np.concatenate(c) for c in zip(*(im[3] for im in images))]
    g_end = np.cumsum([im[2][0].size for im in images])
    p_end = np.cumsum([im[3][0].size for im in images])
    batch = folder_panoptic.PanopticBatch(k, np.r_[0, g_end[:-1]], g_end, *cols, np.r_[0, p_end[:-1]], p_end,
                                          *pcols, False)
    paths = []
    for i, (grgb, prgb, _, _) in enumerate(images):
        (tmp_path / f"g{i}.png").write_bytes(png(grgb))
        (tmp_path / f"p{i}.png").write_bytes(png(prgb))
        paths.append((bytes(tmp_path / f"g{i}.png"), bytes(tmp_path / f"p{i}.png")))
    batch.set_paths([a for a, _ in paths], [b for _, b in paths])
    counter = folder.WorkCounter(len(images))
    accs = [folder_panoptic.PanopticAccumulator(k) for _ in range(2)]
    status = np.full(len(images), 9, np.uint8)
    take = np.ones(len(images), np.uint8)
    take[5] = 0  # left to the per-image path
    batch.run(folder.Scratch(), accs[0], counter, take, status)  # takes every image ...
    batch.run(folder.Scratch(), accs[1], counter, take, status)  # ... none left
    assert status.tolist() == [0] * 5 + [1] + [0] * 6 and accs[1].num_images == 0
    r = accs[0].result()
    tp, fp, fn, conf, m_cat, m_iou, m_image = (r[key] for key in ("tp", "fp", "fn", "confusion", "match_cat",
                                                                   "match_iou", "match_image"))
    drop = [m for m in want["matches"] if m[0] == 5]
    one = oracles.panoptic_run([images[5]], k)
    np.testing.assert_array_equal(tp + one["tp"], want["tp"])
    np.testing.assert_array_equal(fp + one["fp"], want["fp"])
    np.testing.assert_array_equal(fn + one["fn"], want["fn"])
    np.testing.assert_array_equal(conf + one["confusion"], want["confusion"])
    assert list(zip(m_image.tolist(), m_cat.tolist(), m_iou.tolist())) == [m for m in want["matches"]
                                                                           if m not in drop]


def test_image_stats_rules_by_hand():
    """Hand-derived: a crowd region absorbs an unmatched prediction, void is not counted
    against the IoU, a stale area is reported and used, the last listed crowd counts."""
    # GT: segment 1 (cat 0) 4 px, crowd 2 (cat 1, listed first) 2 px, crowd 3 (cat 1, listed last) 2 px, void 2 px
    g = np.array([[1, 1, 1, 1, 2, 2, 3, 3, 0, 0]])
    # prediction: 10 (cat 0) covers segment 1 and one void pixel; 11 (cat 1) on crowd 3 + void; 12 (cat 1) on crowd 2
    p = np.array([[10, 10, 10, 10, 12, 12, 11, 11, 10, 11]])
    t = panoptic.PairTable()
    gt_ids, pred_ids = np.array([1, 2, 3]), np.array([10, 11, 12])
    assert t.count_maps(g.astype(np.uint32).reshape(-1).view(np.uint8), False,
                        p.astype(np.uint32).reshape(-1).view(np.uint8), False, 10, gt_ids, pred_ids) == 0
    r = panoptic.image_stats(t, 2, np.array([0, 1, 1]), np.array([0, 1, 1], np.uint8), np.array([5.0, 2.0, 2.0]),
                             np.array([0, 1, 2]), np.array([0, 1, 1]), False)
    status, tp, fp, fn, m_cat, m_iou, stale, gpix, ppix, g_out, p_out = (r[key] for key in (
        "status", "tp", "fp", "fn", "match_cat", "match_iou", "stale", "gt_pixels", "pred_pixels", "gt_outcome",
        "pred_outcome"))
    assert status == 0 and gpix.tolist() == [4, 2, 2] and ppix.tolist() == [5, 3, 2]
    # 10 vs 1: |g & p| = 4, union = 5 + 5 (JSON area) - 4 - 1 (void) = 5 -> IoU 0.8
    assert m_cat.tolist() == [0] and m_iou.tolist() == [0.8] and stale.tolist() == [0]
    # 11: 2 px on crowd 3 (the last crowd of cat 1) + 1 void of 3 -> not a FP;
    # 12: 2 px on crowd 2, which is not the crowd region -> a FP
    assert tp.tolist() == [1, 0] and fp.tolist() == [0, 1] and fn.tolist() == [0, 0]
    # per segment: GT 1 matched, crowds 2 and 3 never scored; prediction 10 matched, 11 not counted, 12 a FP
    assert g_out.tolist() == [1, 0, 0] and p_out.tolist() == [1, 0, 2]


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_listed_segment_without_pixels_is_reported(side):
    g = np.array([[1, 1, 0]], np.uint32)
    p = np.array([[5, 5, 5]], np.uint32)
    gt_ids = np.array([1, 2]) if side == "gt" else np.array([1])
    pred_ids = np.array([5, 6]) if side == "pred" else np.array([5])
    t = panoptic.PairTable()
    assert t.count_maps(g.reshape(-1).view(np.uint8), False, p.reshape(-1).view(np.uint8), False, 3,
                        gt_ids, pred_ids) == 0
    got = panoptic.image_stats(t, 1, np.zeros(gt_ids.size, np.int64), np.zeros(gt_ids.size, np.uint8),
                               np.full(gt_ids.size, math.nan), np.arange(gt_ids.size), np.zeros(pred_ids.size,
                                                                                                np.int64), False)
    assert got["status"] == 1 and (got["gt_pixels"].tolist(), got["pred_pixels"].tolist()) == (
        ([2, 0], [3]) if side == "gt" else ([2], [3, 0]))
