"""Paired comparison: randomization test against exact enumeration with the real evaluators,
calibration under exchangeability, paired bootstrap against scipy, corrections, gates, refusals."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
from stats_data import K_SEM, panoptic_images, per_class_array, semantic_images
from test_panoptic import CATEGORIES, make_prediction

from segmetrics import stats
from segmetrics.errors import InputError
from segmetrics.panoptic import PanopticEvaluator
from segmetrics.semantic import SemanticEvaluator, confusion_matrix
from segmetrics.stats.paired import TIE


def _semantic_pair(seed: int, n: int):
    """Per-image confusion matrices of a base and a new prediction of the same GT images."""
    rng = np.random.default_rng(seed)
    images = semantic_images(seed, n)
    base, new = [], []
    for gt, pred in images:
        other = np.where(rng.random(gt.shape) < 0.25, rng.integers(0, 5, gt.shape), np.where(gt == 255, 0, gt))
        base.append(confusion_matrix(gt, pred, num_classes=K_SEM))
        new.append(confusion_matrix(gt, other, num_classes=K_SEM))
    return base, new


def _counts_of(cms, **kw):
    cms = np.array(cms)
    tp = np.diagonal(cms, axis1=1, axis2=2)
    return stats.SemanticCounts(tp, cms.sum(1) - tp, cms.sum(2) - tp, **kw)


def _semantic_metrics(cms):
    ev = SemanticEvaluator(K_SEM)
    for cm in cms:
        ev.update_confusion(cm)
    return ev.compute()


def _exact_p(d_obs, ds):
    """The exact two-sided p-value by its definition: NaN where the observed delta is undefined."""
    ds = np.asarray(ds)
    p = np.mean((np.abs(ds) >= np.abs(d_obs) - TIE) | np.isnan(ds), axis=0)
    return np.where(np.isnan(d_obs), np.nan, p)


# ----------------------------------------------------------------------------- exact enumeration
def test_semantic_randomization_equals_exact_enumeration_with_the_real_evaluator():
    base, new = _semantic_pair(41, 8)
    cmp = stats.compare(_counts_of(base), _counts_of(new), resamples=50, permutations=1000)
    assert cmp.exact and cmp.permutations == 1000
    d = {"mIoU": [], "aAcc": [], "IoU": []}
    for j in range(2**8):
        swap = [(j >> i) & 1 for i in range(8)]
        b = _semantic_metrics([new[i] if s else base[i] for i, s in enumerate(swap)])
        n = _semantic_metrics([base[i] if s else new[i] for i, s in enumerate(swap)])
        d["mIoU"].append(n.metrics["mIoU"] - b.metrics["mIoU"])
        d["aAcc"].append(n.metrics["aAcc"] - b.metrics["aAcc"])
        d["IoU"].append(n.per_class["IoU"] - b.per_class["IoU"])
    for key in d:
        assert np.array_equal(cmp.p_value[key], _exact_p(cmp.delta[key], d[key]), equal_nan=True), key
    assert 2 / 256 <= cmp.p_value["mIoU"] <= 1
    assert np.isnan(cmp.p_value["IoU"][5])  # class 5 is nowhere


def test_panoptic_randomization_equals_exact_enumeration_with_the_real_evaluator():
    data = panoptic_images(42, 8)
    rng = np.random.default_rng(42)
    probe = PanopticEvaluator(CATEGORIES, with_semantic=False)
    base, new = [], []
    for image_id, g, gs, p, ps in data:
        p2, ps2 = make_prediction(rng, g, gs)
        base.append(probe.evaluate_image(g, gs, p, ps, image_id=image_id))
        new.append(probe.evaluate_image(g, gs, p2, ps2, image_id=image_id))

    def counts(stats_list):
        arrays = [np.array([getattr(s, k) for s in stats_list]) for k in ("tp", "fp", "fn")]
        return stats.PanopticCounts(*arrays, np.array([s.iou_sum() for s in stats_list]),
                                    [c["isthing"] for c in CATEGORIES])

    def metrics(stats_list):
        ev = PanopticEvaluator(CATEGORIES, with_semantic=False)
        for s in stats_list:
            ev.add(s)
        return ev.compute()

    cmp = stats.compare(counts(base), counts(new), resamples=20, permutations=256)
    assert cmp.exact
    d = {"PQ": [], "SQ_st": [], "pq": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(2**8):
            swap = [(j >> i) & 1 for i in range(8)]
            b = metrics([new[i] if s else base[i] for i, s in enumerate(swap)])
            n = metrics([base[i] if s else new[i] for i, s in enumerate(swap)])
            d["PQ"].append(n.metrics["PQ"] - b.metrics["PQ"])
            d["SQ_st"].append(n.metrics["SQ_st"] - b.metrics["SQ_st"])
            d["pq"].append(per_class_array(n, "pq") - per_class_array(b, "pq"))
    for key in d:
        assert np.array_equal(cmp.p_value[key], _exact_p(cmp.delta[key], d[key]), equal_nan=True), key


def test_monte_carlo_p_value_is_close_to_the_exact_one():
    base, new = _semantic_pair(43, 10)
    b, n = _counts_of(base), _counts_of(new)
    exact = stats.compare(b, n, resamples=10, permutations=1024)
    mc = stats.compare(b, n, resamples=10, permutations=1023, seed=4)
    assert exact.exact and not mc.exact
    p = exact.p_value["mIoU"]
    assert abs(mc.p_value["mIoU"] - p) < 4 * np.sqrt(p * (1 - p) / 1023) + 1 / 1024
    assert mc.p_value["mIoU"] >= 1 / 1024  # (count + 1) / (P + 1) is never 0


# ----------------------------------------------------------------------------- calibration and power
def _exchangeable_draw(rng, n=40, k=5):
    gt = rng.multinomial(300, rng.dirichlet(np.ones(k), size=n))
    skill = rng.uniform(0.5, 0.95, (n, 1))  # image difficulty, shared by both runs

    def run(p):
        tp = rng.binomial(gt, p)
        fp = rng.binomial(rng.integers(0, 40, (n, k)), 1 - p)
        return stats.SemanticCounts(tp, fp, gt - tp)

    return run(skill), run(skill)


def test_p_values_are_uniform_when_the_runs_are_exchangeable():
    rng = np.random.default_rng(7)
    p = {"mIoU": [], "aAcc": []}
    for draw in range(300):
        a, b = _exchangeable_draw(rng)
        cmp = stats.compare(a, b, resamples=10, permutations=999, seed=draw)
        for key in p:
            p[key].append(cmp.p_value[key])
    for key, values in p.items():
        assert scipy.stats.kstest(values, "uniform").pvalue > 0.01, key


def test_a_real_improvement_is_significant_and_the_drop_gate_fires():
    rng = np.random.default_rng(8)
    gt = rng.multinomial(300, rng.dirichlet(np.ones(4), size=60))
    weak_tp = rng.binomial(gt, 0.6)
    strong_tp = rng.binomial(gt, 0.8)
    weak = stats.SemanticCounts(weak_tp, gt - weak_tp, gt - weak_tp)
    strong = stats.SemanticCounts(strong_tp, gt - strong_tp, gt - strong_tp)
    up = stats.compare(weak, strong, resamples=300)
    assert up.delta["mIoU"] > 0.1 and up.p_value["mIoU"] < 0.01 and up.low["mIoU"] > 0
    assert stats.significant_drops(up) == []
    down = stats.compare(strong, weak, resamples=300)
    assert stats.significant_drops(down, alpha=0.05, metrics=["mIoU", "aAcc"]) == ["mIoU", "aAcc"]
    assert stats.significant_drops(down, min_drop=0.5) == []  # a drop of ~0.2 is below min_drop
    same = stats.compare(weak, weak, resamples=50)
    assert same.delta["mIoU"] == 0.0 and same.p_value["mIoU"] == 1.0 and stats.significant_drops(same) == []
    with pytest.raises(InputError, match="unknown metric 'PQ'"):
        stats.significant_drops(down, metrics=["PQ"])


# ----------------------------------------------------------------------------- paired bootstrap
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_paired_bootstrap_interval_equals_scipy(method):
    base, new = _semantic_pair(44, 30)
    b, n = _counts_of(base), _counts_of(new)
    cmp = stats.compare(b, n, resamples=300, seed=12, method=method)
    bb, nb = b.int_block().astype(float), n.int_block().astype(float)

    def delta(idx, axis=-1):
        idx = np.asarray(idx)
        return n.evaluate(nb[idx].sum(-2))["mIoU"] - b.evaluate(bb[idx].sum(-2))["mIoU"]

    ref = scipy.stats.bootstrap((np.arange(30),), delta, n_resamples=300, vectorized=True,
                                method="BCa" if method == "bca" else method, rng=np.random.default_rng(12))
    np.testing.assert_allclose([cmp.low["mIoU"], cmp.high["mIoU"]],
                               [ref.confidence_interval.low, ref.confidence_interval.high], rtol=1e-12, atol=1e-15)


def test_each_runs_interval_in_a_comparison_is_its_own_bootstrap():
    base, new = _semantic_pair(45, 20)
    b, n = _counts_of(base), _counts_of(new)
    cmp = stats.compare(b, n, resamples=200, seed=3)
    alone = stats.bootstrap(b, resamples=200, seed=3)
    assert cmp.base_intervals.low["mIoU"] == alone.low["mIoU"]
    assert np.array_equal(cmp.new_intervals.high["IoU"], stats.bootstrap(n, resamples=200, seed=3).high["IoU"],
                          equal_nan=True)
    d = cmp.to_dict()
    assert set(d["metrics"]["mIoU"]) == {"base", "new", "delta", "low", "high", "p_value"}
    assert d["metrics"]["mIoU"]["delta"] == pytest.approx(d["metrics"]["mIoU"]["new"] - d["metrics"]["mIoU"]["base"])
    assert len(d["per_class"]["IoU"]["p_holm"]) == K_SEM and d["per_class"]["IoU"]["p_value"][5] is None


# ----------------------------------------------------------------------------- corrections
def test_holm_by_hand_and_against_the_step_down_procedure():
    adj = stats.holm([0.01, 0.04, np.nan, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, np.nan, 0.06, 0.02], rtol=1e-15)
    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.random(12) ** 3
        adj = stats.holm(p)
        for alpha in (0.01, 0.05, 0.2):
            order = np.argsort(p)
            reject = np.zeros(12, bool)
            for rank, i in enumerate(order):  # Holm: stop at the first p_(i) > alpha / (m - i + 1)
                if p[i] > alpha / (12 - rank):
                    break
                reject[i] = True
            assert np.array_equal(adj <= alpha, reject)


def test_benjamini_hochberg_equals_scipy():
    rng = np.random.default_rng(2)
    for _ in range(20):
        p = rng.random(15) ** 2
        np.testing.assert_allclose(stats.benjamini_hochberg(p), scipy.stats.false_discovery_control(p),
                                   rtol=1e-14)
    with_nan = np.array([0.01, np.nan, 0.02, 0.5])
    np.testing.assert_allclose(stats.benjamini_hochberg(with_nan)[[0, 2, 3]],
                               scipy.stats.false_discovery_control(with_nan[[0, 2, 3]]), rtol=1e-14)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        stats.holm([0.5, 1.5])


def test_moved_classes_uses_the_corrected_p_values():
    base, new = _semantic_pair(46, 40)
    cmp = stats.compare(_counts_of(base), _counts_of(new), resamples=50, permutations=500)
    holm_moved = stats.moved_classes(cmp, "IoU", alpha=0.05)
    bh_moved = stats.moved_classes(cmp, "IoU", alpha=0.05, correction="bh")
    assert np.array_equal(holm_moved, cmp.p_holm["IoU"] <= 0.05)
    assert (bh_moved >= holm_moved).all()  # BH rejects at least what Holm rejects
    assert not holm_moved[5]
    with pytest.raises(InputError, match="correction"):
        stats.moved_classes(cmp, "IoU", correction="bonferroni")


# ----------------------------------------------------------------------------- refusals
def test_compare_refuses_runs_that_do_not_pair_up():
    base, new = _semantic_pair(47, 5)
    b = _counts_of(base, image_ids=[1, 2, 3, 4, 5])
    cases = [
        (_counts_of(new, image_ids=[1, 2, 3, 5, 4]), r"image ids differ \(row 3: 4 vs 5\)"),
        (_counts_of(new[:4]), "5 and 4 images"),
        (_counts_of(new, absent_rule="detectron2"), "absent_rule"),
        (_counts_of(new, class_names=list("abcdef")), r"class lists differ \(class 0: '0' vs 'a'\)"),
        (stats.SemanticCounts(np.ones((5, 2), int), np.ones((5, 2), int), np.ones((5, 2), int)), "6 and 2 classes"),
        (stats.PanopticCounts(np.ones((5, 6), int), np.ones((5, 6), int), np.ones((5, 6), int),
                              np.full((5, 6), 0.8), [True] * 6), "semantic run cannot be compared with a panoptic"),
    ]
    for other, msg in cases:
        with pytest.raises(InputError, match=msg):
            stats.compare(b, other)
    tp = np.ones((3, 2), int)
    things = stats.PanopticCounts(tp, tp, tp, tp * 0.8, [True, False])
    with pytest.raises(InputError, match="things"):
        stats.compare(things, stats.PanopticCounts(tp, tp, tp, tp * 0.8, [True, True]))
