"""Bootstrap intervals: replicate for replicate against the real evaluators, scipy, exact sums, coverage."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
from stats_data import (
    bootstrap_replicates,
    close,
    panoptic_evaluate,
    panoptic_images,
    panoptic_run,
    per_class_array,
    semantic_evaluate,
    semantic_images,
    semantic_run,
)

from segmetrics import stats
from segmetrics.errors import InputError
from segmetrics.stats import resample

# ----------------------------------------------------------------------------- the random draw
def test_weight_blocks_are_the_documented_single_draw():
    n, r = 5003, 1001  # several blocks of rows, odd sizes
    assert resample.block_rows(n, r) < r
    idx = np.random.default_rng(11).integers(0, n, size=(r, n))
    assert np.array_equal(stats.bootstrap_indices(n, r, 11), idx)
    blocks = list(resample.weight_blocks(n, r, 11))
    assert len(blocks) > 1 and [s for s, _ in blocks] == [k * blocks[0][1].shape[0] for k in range(len(blocks))]
    w = np.concatenate([b for _, b in blocks])
    expected = np.stack([np.bincount(row, minlength=n) for row in idx[::97]])
    assert np.array_equal(w[::97], expected)
    assert (w.sum(axis=1) == n).all()


# ----------------------------------------------------------------------------- replicate for replicate
@pytest.mark.parametrize("rule", ["mmseg", "detectron2"])
def test_semantic_bootstrap_equals_a_loop_over_the_real_evaluator(rule):
    images = semantic_images(21, 11)
    _, counts = semantic_run(images, absent_rule=rule)
    r, seed = 30, 5
    iv, ints, floats, drawn = bootstrap_replicates(counts, r, seed)
    assert floats is None
    k = counts.num_classes
    for rep, rows in enumerate(drawn):
        ev = semantic_evaluate(images, rows, absent_rule=rule)
        cm = ev.state.confusion
        tp = np.diag(cm)
        assert np.array_equal(ints[rep], np.concatenate([tp, cm.sum(0) - tp, cm.sum(1) - tp]))  # exact sums
        res = ev.compute()
        for key in stats.SEMANTIC_HEADLINE:
            close(iv.replicates[key][rep], res.metrics[key])
        for key in stats.SEMANTIC_PER_CLASS:
            assert np.array_equal(iv.replicates[key][rep], res.per_class[key], equal_nan=True)
    assert ints.shape == (r, 3 * k)


def test_panoptic_bootstrap_equals_a_loop_over_the_real_evaluator():
    data = panoptic_images(22, 9)
    _, counts = panoptic_run(data)
    r, seed = 25, 3
    iv, ints, floats, drawn = bootstrap_replicates(counts, r, seed)
    k = counts.num_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rep, rows in enumerate(drawn):
            ev = panoptic_evaluate(data, rows)
            st = ev.state
            assert np.array_equal(ints[rep], np.concatenate([st.tp, 2 * st.tp + st.fp + st.fn]))  # exact sums
            close(floats[rep], st.iou_sum())
            res = ev.compute()
            for key in stats.PANOPTIC_HEADLINE:
                close(iv.replicates[key][rep], res.metrics[key])
            for key in stats.PANOPTIC_PER_CLASS:
                close(iv.replicates[key][rep], per_class_array(res, key))
    assert floats.shape == (r, k)


# ----------------------------------------------------------------------------- scipy as the oracle
def _scipy_interval(counts, key, column, method, r, seed, level=0.95):
    block = counts.int_block().astype(np.float64)
    fblock = counts.float_block()

    def statistic(idx, axis=-1):
        idx = np.asarray(idx, dtype=np.int64)
        ints = block[idx].sum(axis=-2)
        floats = None if fblock is None else fblock[idx].sum(axis=-2)
        v = counts.evaluate(ints, floats)[key]
        return v if column is None else v[..., column]

    res = scipy.stats.bootstrap((np.arange(counts.num_images),), statistic, n_resamples=r, vectorized=True,
                                method=method, confidence_level=level, rng=np.random.default_rng(seed))
    return res.confidence_interval


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_intervals_equal_scipy_bootstrap_with_the_same_draw(method):
    _, sem = semantic_run(semantic_images(23, 40))
    _, pan = panoptic_run(panoptic_images(24, 30))
    for counts, key, column in ((sem, "mIoU", None), (sem, "aAcc", None), (sem, "IoU", 2),
                                (pan, "PQ", None), (pan, "RQ_th", None), (pan, "sq", 0)):
        iv = stats.bootstrap(counts, resamples=400, seed=9, method=method, level=0.9)
        low, high = (iv.low[key], iv.high[key]) if column is None else (iv.low[key][column], iv.high[key][column])
        ref = _scipy_interval(counts, key, column, method.upper() if method == "bca" else method, 400, 9, 0.9)
        assert (iv.defined[key] if column is None else iv.defined[key][column]) == 400
        np.testing.assert_allclose([low, high], [ref.low, ref.high], rtol=1e-12, atol=1e-14)


def test_interval_contains_estimate_and_json_shape():
    res, counts = semantic_run(semantic_images(25, 30))
    iv = stats.bootstrap(counts, resamples=200)
    for key in stats.SEMANTIC_HEADLINE:
        assert iv.low[key] <= iv.estimate[key] <= iv.high[key]
        close(iv.estimate[key], res.metrics[key])
    d = iv.to_dict()
    assert d["metrics"]["mIoU"] == {"low": iv.low["mIoU"], "high": iv.high["mIoU"], "level": 0.95,
                                    "method": "percentile", "resamples": 200, "seed": 0}
    assert d["per_class"]["IoU"]["low"][5] is None  # class 5 is nowhere: undefined
    assert len(d["per_class"]["IoU"]["high"]) == counts.num_classes
    assert iv.defined["IoU"][5] == 0 and np.isnan(iv.low["IoU"][5])


def test_class_absent_from_some_resamples_uses_the_defined_ones():
    # class 1 appears in one image of 20: absent from ~36 % of the resamples
    tp = np.zeros((20, 2), np.int64)
    tp[:, 0] = 50
    tp[7, 1] = 3
    fn = np.zeros_like(tp)
    fn[7, 1] = 1
    iv = stats.bootstrap(stats.SemanticCounts(tp, np.zeros_like(tp), fn), resamples=500, keep_replicates=True)
    rep = iv.replicates["IoU"][:, 1]
    n_def = int((~np.isnan(rep)).sum())
    assert iv.defined["IoU"][1] == n_def and 250 < n_def < 400
    assert iv.low["IoU"][1] == iv.high["IoU"][1] == 0.75  # the same value in every resample that has it
    assert iv.defined["mIoU"] == 500  # class 0 is always there


def test_bca_degenerate_and_constant_statistics():
    tp = np.full((10, 2), 5, np.int64)  # perfect predictions: every IoU is 1 in every resample
    zero = np.zeros_like(tp)
    iv = stats.bootstrap(stats.SemanticCounts(tp, zero, zero), resamples=100, method="bca")
    assert iv.low["mIoU"] == iv.high["mIoU"] == 1.0


# ----------------------------------------------------------------------------- exact sums
def test_product_dtype_follows_the_exactness_bound():
    assert resample.exact_dtype(2.0**24 - 1, "x") == np.float32
    assert resample.exact_dtype(2.0**24, "x") == np.float64
    assert resample.exact_dtype(2.0**53, "x") == np.int64
    with pytest.raises(InputError, match="beyond int64"):
        resample.exact_dtype(2.0**63, "sums")


@pytest.mark.parametrize("n, k, scale, dtype", [
    (64, 3, 1, np.float64),        # small block: one float64 product
    (3000, 120, 1, np.float32),    # large block, partial sums below 2**24
    (64, 3, 2**20, np.float64),    # partial sums below 2**53
    (64, 3, 2**47, np.int64),      # beyond 2**53: int64 product
])
def test_replicate_sums_are_exact_on_every_path(n, k, scale, dtype):
    rng = np.random.default_rng(31)
    tp = rng.integers(0, 40, (n, k)) * scale + rng.integers(0, 3, (n, k))
    fp = rng.integers(0, 40, (n, k)) * scale + 1
    fn = rng.integers(0, 40, (n, k)) * scale
    counts = stats.SemanticCounts(tp, fp, fn)
    assert resample.Operand(counts.int_block(), None, n, "sums").dtype == dtype
    ints, _ = stats.replicate_sums(counts, resamples=7, seed=2)
    weights = np.stack([np.bincount(rows, minlength=n) for rows in stats.bootstrap_indices(n, 7, 2)])
    exact = weights @ counts.int_block()  # numpy's integer product: exact, no BLAS
    assert np.array_equal(ints.astype(np.int64), exact) and np.array_equal(ints, exact.astype(ints.dtype))
    assert ints.dtype == (np.int64 if dtype == np.int64 else np.float64)


def test_panoptic_replicate_sums_float32_path_with_float64_iou_sums():
    rng = np.random.default_rng(32)
    n, k = 3000, 120
    tp = rng.poisson(0.5, (n, k))
    iou = tp * rng.uniform(0.55, 1.0, (n, k))
    counts = stats.PanopticCounts(tp, rng.poisson(0.3, (n, k)), rng.poisson(0.3, (n, k)), iou, np.arange(k) < 80)
    op = resample.Operand(counts.int_block(), counts.float_block(), n, "sums")
    assert op.dtype == np.float32 and not op.joint
    ints, floats = stats.replicate_sums(counts, resamples=5, seed=8)
    idx = stats.bootstrap_indices(n, 5, 8)
    weights = np.stack([np.bincount(rows, minlength=n) for rows in idx])
    assert np.array_equal(ints, weights @ counts.int_block())
    for r in range(5):  # correctly rounded sums of the drawn images' IoU sums
        ref = [math.fsum(iou[idx[r], c].tolist()) for c in range(k)]
        np.testing.assert_allclose(floats[r], ref, rtol=1e-13, atol=0)


def test_bootstrap_refuses_bad_options():
    _, counts = semantic_run(semantic_images(26, 3))
    for kw, msg in ((dict(resamples=0), "resamples"), (dict(seed=-1), "seed"), (dict(level=95), "level"),
                    (dict(method="basic"), "method")):
        with pytest.raises(InputError, match=msg):
            stats.bootstrap(counts, **kw)
    with pytest.raises(InputError, match="at least one image"):
        stats.bootstrap(counts.subset([]))
    with pytest.raises(InputError, match="SemanticCounts or PanopticCounts"):
        stats.bootstrap(np.zeros((3, 3)))


# ----------------------------------------------------------------------------- coverage
def _population_semantic(rng, m, k=6):
    """Per-image tp/fp/fn of a population of m images (pixel counts, every class common)."""
    gt = rng.multinomial(400, rng.dirichlet(np.full(k, 2.0), size=m)) * (rng.random((m, k)) < 0.8)
    acc = rng.beta(np.linspace(3, 12, k), 2.0, size=(m, k))
    tp = rng.binomial(gt, acc)
    fn = gt - tp
    fp = rng.binomial(rng.integers(0, 60, (m, k)), 0.5) * (rng.random((m, k)) < 0.6)
    return tp, fp, fn


def _population_panoptic(rng, m, k=8):
    isthing = np.arange(k) < 5
    gt = np.where(isthing, rng.poisson(1.2, (m, k)), rng.random((m, k)) < 0.5).astype(np.int64)
    tp = rng.binomial(gt, np.linspace(0.45, 0.9, k))
    fp = rng.poisson(np.linspace(0.6, 0.1, k), (m, k))
    iou = tp * rng.uniform(0.6, 0.95, (m, k))
    return tp, fp, gt - tp, iou, isthing


@pytest.mark.slow
@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_coverage_of_95_percent_intervals(task):
    """400 test sets of 500 images from a known population: the 95 % interval holds the truth 92-98 % of the time.

    500 resamples keep the test quick; with the default 1000 the hits are the same on these seeds
    (95.0 % semantic, 95.5 % panoptic, misses split evenly between the two sides).
    """
    rng = np.random.default_rng(2024 if task == "semantic" else 2025)
    if task == "semantic":
        pop = _population_semantic(rng, 20000)
        make, key = (lambda rows: stats.SemanticCounts(*(a[rows] for a in pop))), "mIoU"
        truth = stats.semantic_from_counts(*(a.sum(0) for a in pop))[key]
    else:
        *arrays, isthing = _population_panoptic(rng, 20000)
        make, key = (lambda rows: stats.PanopticCounts(*(a[rows] for a in arrays), isthing)), "PQ"
        truth = stats.pq_from_counts(*(a.sum(0) for a in arrays), isthing)[key]
    hits = 0
    for draw in range(400):
        rows = rng.integers(0, 20000, 500)
        iv = stats.bootstrap(make(rows), resamples=500, seed=draw)
        hits += iv.low[key] <= truth <= iv.high[key]
    assert 0.92 <= hits / 400 <= 0.98, hits / 400
