"""The variant matching rules of the compiled per-image rule set (``sm_pq.h``, ``sm_pq_match``
options) against their NumPy twin (``oracles.image_stats_rules``), per image and through the
fused folder kernels, and the semantic code tables of ``out_of_range="drop"``."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import oracles
from segmetrics.conventions import PANOPTIC_VARIANTS
from segmetrics.labels import BAD, IGNORED, LabelRules
from segmetrics._kernels import folder, folder_panoptic, panoptic
from boundary_oracles import panoptic_oracle_image, random_categories, random_panoptic_pair
from segmetrics._engine.image import score_image
from test_boundary_panoptic import _image_stats_equal
from test_kernels_panoptic import SETTINGS, id2rgb, images, png

FLAGS = (oracles.UNION_GVOID, oracles.AREA_PIXELS, oracles.FN_VOID, oracles.NO_CROWD, oracles.MERGE_STUFF)


def test_flags_agree_with_the_oracle_and_the_kernel_header():
    from segmetrics import conventions as C

    assert (C.UNION_GVOID, C.AREA_PIXELS, C.FN_VOID, C.NO_CROWD, C.MERGE_STUFF) == FLAGS
    header = open(panoptic.__file__.rsplit("/", 1)[0] + "/sm_pq.h").read()
    for name, value in zip(("UNION_GVOID", "AREA_PIXELS", "FN_VOID", "NO_CROWD", "MERGE_STUFF"), FLAGS):
        assert f"SM_PQV_{name} = {value}" in header


def _count(g, p, gcol, pcol):
    t = panoptic.PairTable()
    unlisted = t.count_maps(id2rgb(g).reshape(-1), True, id2rgb(p).reshape(-1), True, g.size, gcol[0], pcol[0])
    return t, unlisted


@SETTINGS
@given(images(), st.lists(st.integers(0, 31), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_variant_rules_equal_twin(case, variants, seed):
    g, p, gcol, pcol, k, recompute = case
    isthing = np.random.default_rng(seed).random(k) < 0.5
    t, unlisted = _count(g, p, gcol, pcol)
    if unlisted:
        return
    pairs = oracles.pair_counts(g, p, gcol[0], pcol[0])[0]
    got = panoptic.image_stats(t, k, *gcol[1:], pcol[1], recompute, variants=np.array(variants, np.uint32),
                               isthing=isthing.astype(np.uint8))
    base = oracles.image_stats(pairs, *gcol[1:], pcol[1], k, recompute)
    assert got["status"] == base["status"]
    if got["status"]:
        return
    # the reference counts are untouched by the variants
    for name in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(got[name], base[name])
    assert list(zip(got["match_cat"].tolist(), got["match_iou"].tolist())) == base["matches"]
    vtp, vfp, vfn, m_var, m_cat, m_iou = got["variants"]
    for v, opts in enumerate(variants):
        want = oracles.image_stats_rules(pairs, *gcol[1:], pcol[1], k, isthing, opts, recompute)
        np.testing.assert_array_equal(vtp[v], want["tp"])
        np.testing.assert_array_equal(vfp[v], want["fp"])
        np.testing.assert_array_equal(vfn[v], want["fn"])
        sel = m_var == v
        assert sorted(zip(m_cat[sel].tolist(), m_iou[sel].tolist())) == want["matches"]  # same IoU bits
        if opts == 0:
            assert (want["tp"] == base["tp"]).all() and want["matches"] == sorted(base["matches"])


def test_twin_with_no_option_is_panopticapis_rules():
    rng = np.random.default_rng(5)
    from test_kernels_panoptic import random_image

    for _ in range(30):
        g, p, gcol, pcol = random_image(rng, 12, 20, 8, 4, False)
        t, unlisted = _count(g, p, gcol, pcol)
        if unlisted:
            continue
        pairs = oracles.pair_counts(g, p, gcol[0], pcol[0])[0]
        base = oracles.image_stats(pairs, *gcol[1:], pcol[1], 4)
        if base["status"]:
            continue
        twin = oracles.image_stats_rules(pairs, *gcol[1:], pcol[1], 4, np.zeros(4, bool), 0)
        for key in ("tp", "fp", "fn"):
            np.testing.assert_array_equal(twin[key], base[key])
        assert twin["matches"] == sorted(base["matches"])


def test_merged_stuff_hand_derived():
    """Two GT and two predicted segments of one stuff category.  As listed: GT 1 & pred 3
    share 4 px, union 6 + 4 - 4 = 6, IoU 2/3 (a match); GT 2 & pred 4 share 2 px, union
    2 + 4 - 2 = 4, IoU 1/2 (not > 1/2: FN and FP).  Merged: 8 / (8 + 8 - 8) = 1."""
    g = np.array([[1, 1, 1, 1, 2, 2, 2, 2]])
    p = np.array([[3, 3, 3, 3, 3, 3, 4, 4]])
    p[0, 6:] = 4
    gcol = (np.array([1, 2]), np.array([0, 0]), np.zeros(2, np.uint8), np.array([4.0, 4.0]), np.arange(2))
    pcol = (np.array([3, 4]), np.array([0, 0]))
    t, _ = _count(g, p, gcol, pcol)
    got = panoptic.image_stats(t, 1, *gcol[1:], pcol[1], False, variants=np.array([0, oracles.MERGE_STUFF], np.uint32),
                               isthing=np.zeros(1, np.uint8))
    vtp, vfp, vfn, m_var, m_cat, m_iou = got["variants"]
    assert (vtp[0], vfp[0], vfn[0]) == (1, 1, 1)
    assert (vtp[1], vfp[1], vfn[1]) == (1, 0, 0) and m_iou[m_var == 1].tolist() == [1.0]
    assert got["tp"].tolist() == [1]  # the reference counts equal the variant without options


def test_fused_folder_kernels_count_the_same_variants_as_the_per_image_path():
    rng = np.random.default_rng(11)
    from test_kernels_panoptic import random_image

    k = 3
    isthing = np.array([1, 0, 0], np.uint8)
    acc = folder_panoptic.PanopticAccumulator(k)
    acc.set_variants(np.array(PANOPTIC_VARIANTS, np.uint32), isthing)
    s = folder.Scratch()
    want = [np.zeros((len(PANOPTIC_VARIANTS), k), np.int64) for _ in range(3)]
    want_m = []
    done = 0
    while done < 12:
        g, p, gcol, pcol = random_image(rng, 14, 18, 9, k, False)
        t, unlisted = _count(g, p, gcol, pcol)
        if unlisted:
            continue
        pairs = oracles.pair_counts(g, p, gcol[0], pcol[0])[0]
        if oracles.image_stats(pairs, *gcol[1:], pcol[1], k)["status"]:
            continue
        ng = len(gcol[0])
        batch = folder_panoptic.PanopticBatch(k, np.array([0]), np.array([ng]), *gcol, np.array([0]),
                                              np.array([len(pcol[0])]), *pcol, True)
        assert batch.score_pair(s, acc, 0, png(id2rgb(g)), png(id2rgb(p))) == 0
        for v, opts in enumerate(PANOPTIC_VARIANTS):
            w = oracles.image_stats_rules(pairs, *gcol[1:], pcol[1], k, isthing.astype(bool), opts, True)
            for j, key in enumerate(("tp", "fp", "fn")):
                want[j][v] += w[key]
            want_m += [(v, c, iou) for c, iou in w["matches"]]
        done += 1
    vtp, vfp, vfn, m_var, m_cat, m_iou = acc.variant_result()
    for a, b in zip((vtp, vfp, vfn), want):
        np.testing.assert_array_equal(a, b)
    assert sorted(zip(m_var.tolist(), m_cat.tolist(), m_iou.tolist())) == sorted(want_m)


def test_set_variants_refuses_bad_arguments():
    acc = folder_panoptic.PanopticAccumulator(2)
    with pytest.raises(ValueError):
        acc.set_variants(np.array([1], np.uint32), np.zeros(3, np.uint8))
    acc.set_variants(np.array([1, 2], np.uint32), np.zeros(2, np.uint8))
    with pytest.raises(ValueError):
        acc.set_variants(np.array([1], np.uint32), np.zeros(2, np.uint8))
    assert acc.n_var == 2 and acc.variant_result()[0].shape == (2, 2)


def test_drop_code_tables():
    """out_of_range='drop': GT outside [0, K) -> K + 1 (ignore stays ignored), predictions
    outside -> K + 1, the ignore value -> K; 'error' keeps BAD."""
    strict = LabelRules.build(3, ignore_index=255)
    drop = LabelRules.build(3, ignore_index=255, out_of_range="drop")
    g, p = drop.file_tables()
    assert g[:3].tolist() == [0, 1, 2] and g[3] == 4 and g[7] == 4 and g[255] == IGNORED and g[9999] == 4
    assert p[:3].tolist() == [0, 1, 2] and p[3] == 4 and p[255] == 3 and p[9999] == 4
    gs, ps = strict.file_tables()
    assert gs[3] == BAD and ps[3] == BAD and ps[255] == BAD
    assert drop.counted_classes == 5 and strict.counted_classes == 3
    assert drop.digest() != strict.digest() and drop.differs_from(strict) == "out_of_range differs ('drop' vs 'error')"
    # the array kernel reads 8/16-bit values through a full table under 'drop'
    assert drop.gt_codes().size == 65536
    with pytest.raises(Exception):
        LabelRules.build(3, out_of_range="silently")


@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 30), st.integers(1, 8))
@SETTINGS
def test_one_pass_counts_mask_boundary_dagger_and_variants_as_each_alone(seed, h, w, d):
    """One call with a band and the variant option sets gives what the calls with either one
    give, and the band part equals the per-segment OpenCV oracle: the variant rules, Boundary PQ
    and PQ-dagger share the pass without touching each other's counts."""
    rng = np.random.default_rng(seed)
    cats = random_categories(rng)
    gt, gs, pred, ps = random_panoptic_pair(rng, h, w, cats)
    both = score_image(gt, gs, pred, ps, cats, dilation=d, variants=PANOPTIC_VARIANTS)
    band = score_image(gt, gs, pred, ps, cats, dilation=d)
    var = score_image(gt, gs, pred, ps, cats, variants=PANOPTIC_VARIANTS)
    _image_stats_equal(both, panoptic_oracle_image(gt, gs, pred, ps, cats, d), cats)
    for name in ("tp", "fp", "fn", "match_cat", "match_iou", "confusion_index", "confusion_count", "stuff_cat",
                 "stuff_iou", "gt_segments", "btp", "bfp", "bfn", "bmatch_cat", "bmatch_iou"):
        assert getattr(both, name).tobytes() == getattr(band, name).tobytes(), name
    assert var.btp is None and band.variants is None
    for a, b in zip(both.variants, var.variants):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    for name in ("tp", "fp", "fn", "match_cat", "match_iou", "stuff_cat", "stuff_iou"):
        assert getattr(var, name).tobytes() == getattr(band, name).tobytes(), name
