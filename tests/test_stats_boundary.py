"""Statistics of the boundary metrics (issues 12 + 13): intervals, paired tests and slices of
``mBIoU mMinIoU`` / ``BPQ BSQ BRQ`` from the per-image boundary counts of a state.

Oracles: the real evaluators (``boundary=True``) run on the images each bootstrap replicate,
swap pattern or slice names, replicate for replicate with the same seed; through the CLI,
per-image counts of the real evaluator on each image alone fed to the statistics engine.
"""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from cli_data import cli_ok, cli_run, make_flat_set, perturb, random_labels, write_png
from stats_data import bootstrap_replicates, close, panoptic_images, per_class_array
from test_panoptic import CATEGORIES

from segmetrics import load_state, stats
from segmetrics.demo import make_panoptic_demo
from segmetrics.errors import InputError
from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png
from segmetrics.panoptic import PanopticEvaluator
from segmetrics.report import TABLE_WIDTH, interval_line
from segmetrics.semantic import SemanticEvaluator

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")

K = 5
RATIO = 0.06  # a band of 2 pixels on 24 x 28 images


def semantic_pairs(seed: int, n: int, shape=(24, 28)):
    """(gt, pred) label maps: blocky classes 0..3 with ignore pixels; predictions shifted and noisy
    (class 4 only ever predicted), or exact but for a 16 x 16 square of one class (a large false
    positive: mask IoU drops more than Boundary IoU, so ``MinIoU`` takes either side)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        g = random_labels(rng, shape, K - 1, 255)
        if i % 2:
            p = np.where(g == 255, 0, g).astype(g.dtype)
            y, x = rng.integers(0, 8), rng.integers(0, 10)
            p[y:y + 16, x:x + 16] = i % 4
        else:
            p = perturb(rng, g, K, 255)
        out.append((g, p))
    return out


def semantic_ev(pairs, rows=None, *, rule="mmseg", per_image=False):
    ev = SemanticEvaluator(K, boundary=True, dilation_ratio=RATIO, absent_rule=rule, per_image=per_image)
    for i in range(len(pairs)) if rows is None else rows:
        ev.update(*pairs[i], **({"image_id": i} if per_image else {}))
    return ev


def panoptic_ev(data, rows=None, *, per_image=False):
    ev = PanopticEvaluator(CATEGORIES, with_semantic=False, boundary=True, dilation_ratio=RATIO,
                           per_image=per_image)
    for i in range(len(data)) if rows is None else rows:
        image_id, g, gs, p, ps = data[i]
        ev.update(g, gs, p, ps, **({"image_id": image_id} if per_image else {}))
    return ev


# ----------------------------------------------------------------------------- replicate for replicate
@pytest.mark.parametrize("rule", ["mmseg", "detectron2"])
def test_semantic_boundary_bootstrap_equals_a_loop_over_the_real_evaluator(rule):
    pairs = semantic_pairs(3, 9)
    res = semantic_ev(pairs, rule=rule, per_image=True).compute()
    counts = res.counts()
    assert counts.has_boundary and counts.headline == stats.SEMANTIC_HEADLINE + ("mBIoU", "mMinIoU")
    iou, biou = res.per_class["IoU"], res.per_class["BIoU"]
    assert (iou < biou).any() and (iou > biou).any()  # both sides of fmin are exercised
    r, seed = 25, 4
    iv, ints, _, drawn = bootstrap_replicates(counts, r, seed)
    k = counts.num_classes
    for rep, rows in enumerate(drawn):
        ev = semantic_ev(pairs, rows, rule=rule)
        st = ev.state
        band = np.concatenate([st.boundary_inter, st.boundary_gt, st.boundary_pred])
        assert np.array_equal(ints[rep, 3 * k:], band)  # exact sums of the band counts
        got = ev.compute()
        for key in ("mBIoU", "mMinIoU"):
            close(iv.replicates[key][rep], got.metrics[key])
        for key in ("BIoU", "MinIoU"):  # integer ratios: the very bits
            assert np.array_equal(iv.replicates[key][rep], got.per_class[key], equal_nan=True)
    # the full-data value is the result's, and the interval holds it
    assert iv.estimate["mBIoU"] == pytest.approx(res.metrics["mBIoU"], abs=1e-15)
    assert iv.low["mBIoU"] <= res.metrics["mBIoU"] <= iv.high["mBIoU"]


def test_panoptic_boundary_bootstrap_equals_a_loop_over_the_real_evaluator():
    data = panoptic_images(22, 8)
    res = panoptic_ev(data, per_image=True).compute()
    counts = res.counts()
    assert counts.per_class == ("pq", "sq", "rq", "bpq", "bsq", "brq")
    r, seed = 20, 6
    iv, ints, floats, drawn = bootstrap_replicates(counts, r, seed)
    k = counts.num_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rep, rows in enumerate(drawn):
            ev = panoptic_ev(data, rows)
            st = ev.state
            assert np.array_equal(ints[rep, 2 * k:], np.concatenate([st.btp, 2 * st.btp + st.bfp + st.bfn]))
            close(floats[rep, k:], st.boundary_iou_sum())
            got = ev.compute()
            for key in stats.PANOPTIC_HEADLINE:
                close(iv.replicates["B" + key][rep], got.metrics["B" + key])
                close(iv.replicates[key][rep], got.metrics[key])  # the mask numbers are unchanged
            for key in ("bpq", "bsq", "brq"):
                close(iv.replicates[key][rep], per_class_array(got, key))


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_boundary_intervals_equal_scipy_bootstrap_with_the_same_draw(method):
    """scipy.stats.bootstrap over image indices (BCa's jackknife included) as the oracle."""
    from test_stats_bootstrap import _scipy_interval

    sem = semantic_ev(semantic_pairs(9, 30), per_image=True).compute().counts()
    pan = panoptic_ev(panoptic_images(10, 24), per_image=True).compute().counts()
    for counts, key, column in ((sem, "mBIoU", None), (sem, "mMinIoU", None), (sem, "BIoU", 1),
                                (pan, "BPQ", None), (pan, "BSQ_st", None), (pan, "bpq", 0)):
        iv = stats.bootstrap(counts, resamples=300, seed=4, method=method, level=0.9)
        low, high = (iv.low[key], iv.high[key]) if column is None else (iv.low[key][column], iv.high[key][column])
        ref = _scipy_interval(counts, key, column, method.upper() if method == "bca" else method, 300, 4, 0.9)
        assert 0.0 <= low < high <= 1.0
        np.testing.assert_allclose([low, high], [ref.low, ref.high], rtol=1e-12, atol=1e-14)


def test_paired_randomization_of_boundary_metrics_equals_swapping_the_real_images():
    """Exact enumeration (2**6 swaps): each pattern re-evaluated with the real evaluator."""
    pairs = semantic_pairs(5, 6)
    rng = np.random.default_rng(1)
    worse = [(g, np.roll(p, int(rng.integers(1, 3)), axis=1)) for g, p in pairs]
    both = pairs + worse
    base = semantic_ev(pairs, per_image=True).compute().counts()
    new = semantic_ev(worse, per_image=True).compute().counts()
    cmp = stats.compare(base, new, resamples=50, seed=2, permutations=64)
    assert cmp.exact
    b_full, n_full = semantic_ev(pairs).compute(), semantic_ev(worse).compute()
    d_obs = n_full.metrics["mBIoU"] - b_full.metrics["mBIoU"]
    assert cmp.delta["mBIoU"] == pytest.approx(d_obs, abs=1e-12) and d_obs < 0
    hits = {"mBIoU": 0, "mMinIoU": 0}
    for j in range(64):
        swap = [(j >> i) & 1 for i in range(6)]
        b = semantic_ev(both, [i + 6 * s for i, s in enumerate(swap)]).compute()
        n = semantic_ev(both, [i + 6 * (1 - s) for i, s in enumerate(swap)]).compute()
        for key in hits:
            d = n.metrics[key] - b.metrics[key]
            d0 = n_full.metrics[key] - b_full.metrics[key]
            hits[key] += bool(math.isnan(d) or abs(d) >= abs(d0) - 1e-12)
    for key, h in hits.items():
        assert cmp.p_value[key] == h / 64
    # the paired bootstrap gives each run the interval of its own bootstrap
    alone = stats.bootstrap(base, resamples=50, seed=2)
    assert cmp.base_intervals.low["mBIoU"] == alone.low["mBIoU"]
    assert np.array_equal(cmp.base_intervals.high["BIoU"], alone.high["BIoU"], equal_nan=True)
    assert cmp.p_holm["BIoU"].shape == (K,)


def test_slices_score_boundary_counts_like_a_run_of_their_images(tmp_path):
    data = panoptic_images(4, 7)
    res = panoptic_ev(data, per_image=True).compute()
    counts = res.counts()
    ids = counts.image_ids
    csv = tmp_path / "m.csv"
    csv.write_text("image_id,kind\n" + "".join(f"{i},{'a' if j % 3 else 'b'}\n" for j, i in enumerate(ids)))
    manifest = stats.read_manifest(csv, ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in stats.slice_metrics(counts, manifest, ci=True, resamples=40, seed=1):
            got = panoptic_ev(data, s.rows.tolist()).compute()
            for key in ("BPQ", "BSQ", "BRQ", "BPQ_th", "BPQ_st"):
                close(s.metrics[key], got.metrics[key])
            close(s.metrics["bpq"], per_class_array(got, "bpq"))
            want = stats.bootstrap(counts.subset(s.rows), resamples=40, seed=1)
            assert (s.intervals.low["BPQ"], s.intervals.high["BPQ"]) == (want.low["BPQ"], want.high["BPQ"])


# ----------------------------------------------------------------------------- the counts objects
def test_counts_without_boundary_are_unchanged_and_mask_only_drops_it():
    pairs = semantic_pairs(8, 5)
    plain = SemanticEvaluator(K, per_image=True)
    for i, (g, p) in enumerate(pairs):
        plain.update(g, p, image_id=i)
    c0 = plain.compute().counts()
    assert not c0.has_boundary and c0.boundary is None and c0.mask_only() is c0
    assert (c0.headline, c0.per_class) == (stats.SEMANTIC_HEADLINE, stats.SEMANTIC_PER_CLASS)
    assert set(stats.bootstrap(c0, resamples=20).to_dict()["metrics"]) == set(stats.SEMANTIC_HEADLINE)
    c1 = semantic_ev(pairs, per_image=True).compute().counts()
    assert np.array_equal(c1.tp, c0.tp)
    m = c1.mask_only()
    assert not m.has_boundary and m.headline == c0.headline
    a, b = stats.bootstrap(c0, resamples=30, seed=1), stats.bootstrap(c1, resamples=30, seed=1)
    assert all(a.low[k] == b.low[k] and a.high[k] == b.high[k] for k in stats.SEMANTIC_HEADLINE)
    with pytest.raises(InputError, match="boundary counts, the other not"):
        stats.compare(c0, c1)
    assert stats.compare(c0, m, resamples=20).delta["mIoU"] == 0.0
    # per-image scores carry the boundary values of each image (the per-image CSV's mBIoU)
    scores = stats.per_image_scores(c1)
    rows = semantic_ev(pairs, per_image=True).compute().per_image_rows(per_class=False)
    close(scores["mBIoU"], [r["mBIoU"] for r in rows])


def test_boundary_counts_are_checked():
    tp = np.ones((2, 3), dtype=np.int64)
    band = [np.ones((2, 3), dtype=np.int64)] * 3
    stats.SemanticCounts(tp, tp, tp, boundary=band)
    with pytest.raises(InputError, match="boundary must hold 3 arrays"):
        stats.SemanticCounts(tp, tp, tp, boundary=band[:2])
    with pytest.raises(InputError, match="gt_band has shape"):
        stats.SemanticCounts(tp, tp, tp, boundary=[band[0], np.ones((2, 4), int), band[2]])
    inter = band[0].copy()
    inter[1, 2] = 2
    with pytest.raises(InputError, match="image index 1, class 2: intersection 2 exceeds a band"):
        stats.SemanticCounts(tp, tp, tp, boundary=[inter, band[1], band[2]])
    with pytest.raises(InputError, match="bfn holds a negative count"):
        stats.PanopticCounts(tp, tp, tp, tp * 0.75, [True, False, True], boundary=[tp, tp, -tp, tp * 0.75])
    with pytest.raises(InputError, match="biou_sum of image index 0, category 0 is 2.0"):
        stats.PanopticCounts(tp, tp, tp, tp * 0.75, [True, False, True], boundary=[tp, tp, tp, tp * 2.0])


# ----------------------------------------------------------------------------- through the CLI
def _oracle_panoptic_counts(d, pred_json, pred_folder):
    """PanopticCounts with boundary rows from the real evaluator run on each image alone."""
    gt = load_panoptic_json(d.gt_json, d.gt_folder, require_categories=True)
    pred = load_panoptic_json(pred_json, pred_folder)
    rows = {k: [] for k in ("tp", "fp", "fn", "iou", "btp", "bfp", "bfn", "biou")}
    for image_id, ann in sorted(gt.annotations.items()):
        ev = PanopticEvaluator(gt.categories, with_semantic=False, boundary=True)
        p = pred.annotations[image_id]
        ev.update(read_id_png(gt.png_path(image_id)), ann["segments_info"], read_id_png(pred.png_path(image_id)),
                  p["segments_info"], image_id=image_id)
        st = ev.state
        for key, v in (("tp", st.tp), ("fp", st.fp), ("fn", st.fn), ("iou", st.iou_sum()), ("btp", st.btp),
                       ("bfp", st.bfp), ("bfn", st.bfn), ("biou", st.boundary_iou_sum())):
            rows[key].append(v)
    a = {k: np.array(v) for k, v in rows.items()}
    return stats.PanopticCounts(a["tp"], a["fp"], a["fn"], a["iou"], [bool(c["isthing"]) for c in gt.categories],
                                boundary=(a["btp"], a["bfp"], a["bfn"], a["biou"]))


@pytest.fixture(scope="module")
def pan(tmp_path_factory):
    from cli_data import perturb_panoptic

    root = tmp_path_factory.mktemp("pan")
    d = make_panoptic_demo(root, n=8)
    worse = perturb_panoptic(d.gt_json, d.gt_folder, root, name="worse", seed=2)
    return d, worse, root / "worse"


def test_eval_boundary_ci_prints_and_writes_boundary_intervals(pan, tmp_path):
    d, _, _ = pan
    state, e_json, r_json = tmp_path / "p.smstate", tmp_path / "e.json", tmp_path / "r.json"
    r = cli_ok("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--boundary", "--ci", "--resamples", 200,
               "--save-state", state, "--json", e_json, "--no-cache")
    cli_ok("report", state, "--ci", "--resamples", 200, "--json", r_json, "-q")
    assert e_json.read_bytes() == r_json.read_bytes()
    rep = json.loads(e_json.read_text())
    want = stats.bootstrap(_oracle_panoptic_counts(d, d.pred_json, d.pred_folder), resamples=200, seed=0)
    for k in stats.PANOPTIC_HEADLINE:
        for key in (k, "B" + k):
            assert (rep["intervals"][key]["low"], rep["intervals"][key]["high"]) == (want.low[key], want.high[key])
    for k, col in (("bpq", "BPQ"), ("bsq", "BSQ"), ("brq", "BRQ")):
        got = rep["intervals"]["per_class"][col]
        assert len(got) == len(rep["per_class"])
        for c, e in enumerate(got):
            lo, hi = want.low[k][c], want.high[k][c]
            assert e == (None if math.isnan(lo) else {"low": lo, "high": hi})
    # PQ-dagger and the category-map metrics have none, and the footnote says why
    assert not {"PQ_dagger", "PQ_dagger_th", "aAcc"} & set(rep["intervals"])
    line = interval_line(rep)
    assert "none for PQ-dagger" in line and "category-map metrics" in line
    # the table: every Boundary PQ row with its interval, 80 columns
    lines = r.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= TABLE_WIDTH
    bpq = [ln for ln in lines if ln.split()[:1] in (["BPQ"], ["BSQ"], ["BRQ"])]
    assert len(bpq) == 9 and all("[" in ln for ln in bpq)
    assert "none for PQ-dagger" in " ".join(lines)


def test_compare_boundary_states_gives_deltas_and_p_values(pan, tmp_path):
    d, worse_json, worse_folder = pan
    a, b, out = tmp_path / "a.smstate", tmp_path / "b.smstate", tmp_path / "c.json"
    cli_ok("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--boundary", "--save-state", a, "-q", "--no-cache")
    cli_ok("eval", "--gt", d.gt_json, "--pred", worse_json, "--pred-folder", worse_folder, "--boundary",
           "--save-state", b, "-q", "--no-cache")
    r = cli_ok("compare", a, b, "--json", out, "--resamples", 300, "--seed", 5)
    doc = json.loads(out.read_text())
    want = stats.compare(_oracle_panoptic_counts(d, d.pred_json, d.pred_folder),
                         _oracle_panoptic_counts(d, worse_json, worse_folder), resamples=300, seed=5)
    for k in ("BPQ", "BSQ", "BRQ", "BPQ_th", "BPQ_st", "PQ"):
        m = doc["metrics"][k]
        assert (m["low"], m["high"], m["p_value"]) == (want.low[k], want.high[k], want.p_value[k])
        assert m["delta"] == pytest.approx(want.delta[k], abs=1e-12)
    # the new predictions are cut from the GT: fewer segments, exact boundaries -> Boundary PQ rises
    assert doc["metrics"]["BPQ"]["delta"] > 0 and doc["metrics"]["PQ"]["delta"] < 0 and doc["warnings"] == []
    assert doc["metrics"]["PQ_dagger"]["p_value"] is None  # no per-image rows for PQ-dagger
    assert max(len(ln) for ln in r.stdout.splitlines()) <= TABLE_WIDTH
    # per class: the PQ rows, then the Boundary PQ rows, each with its own test and correction
    for metric, key in (("PQ", "pq"), ("BPQ", "bpq")):
        rows = [x for x in doc["per_class"] if x["metric"] == metric]
        assert len(rows) == len(want.p_value[key])
        for i, x in enumerate(rows):
            assert x["p_value"] == want.p_value[key][i] or (x["p_value"] is None and math.isnan(want.p_value[key][i]))
            assert x["p_adjusted"] == want.p_holm[key][i] or (x["p_adjusted"] is None and math.isnan(want.p_holm[key][i]))
    assert "base PQ %" in r.stdout and "base BPQ %" in r.stdout
    # a gate on Boundary PQ
    g = cli_run("compare", a, b, "--max-significant-drop", "BPQ=100")
    assert g.exit_code == 0, g.output


def _semantic_state(root, gt, pred, name, *extra):
    path = root / f"{name}.smstate"
    cli_ok("eval", "--gt", gt, "--pred", pred, "--num-classes", K, "--no-cache", "--save-state", path, "-q", *extra)
    return path


def test_semantic_compare_with_and_without_boundary(tmp_path):
    gt, pred, arrays = make_flat_set(tmp_path / "s", n=10, k=K)
    for i, (_, p) in enumerate(arrays):
        write_png(tmp_path / "worse" / f"img_{i:03d}.png", np.roll(p, 3, axis=0))
    band = ("--boundary", "--dilation-ratio", "0.05")
    base = _semantic_state(tmp_path, gt, pred, "base", *band)
    new = _semantic_state(tmp_path, gt, tmp_path / "worse", "new", *band)
    # the CLI's intervals and p-values are those of the library's counts, which are the evaluator's
    ev = SemanticEvaluator(K, boundary=True, dilation_ratio=0.05, per_image=True)
    for i, (g, p) in enumerate(arrays):
        ev.update(g, p, image_id=f"img_{i:03d}")
    mine = ev.compute().counts()
    loaded = load_state(base).counts()
    for x, y in zip(mine.boundary, loaded.boundary):
        assert np.array_equal(x, y)
    doc = json.loads(cli_ok("compare", base, new, "--json", "-", "--resamples", 200).stdout)
    want = stats.compare(loaded, load_state(new).counts(), resamples=200)
    for k in ("mBIoU", "mMinIoU", "mIoU"):
        m = doc["metrics"][k]
        assert (m["low"], m["high"], m["p_value"]) == (want.low[k], want.high[k], want.p_value[k])
    assert doc["metrics"]["mBIoU"]["delta"] < 0 and doc["metrics"]["mBIoU"]["p_value"] < 0.05
    biou = [x for x in doc["per_class"] if x["metric"] == "BIoU"]
    assert len(biou) == K == len([x for x in doc["per_class"] if x["metric"] == "IoU"])
    assert [x["p_value"] for x in biou] == [None if math.isnan(v) else v for v in want.p_value["BIoU"]]
    # the comparison page draws the IoU changes and lists the BIoU rows too
    page = tmp_path / "cmp.html"
    cli_ok("compare", base, new, "--html", page, "--resamples", 50)
    text = page.read_text()
    assert "IoU change per class" in text and text.count(">BIoU<") == K
    # a state without boundary: no boundary keys anywhere, nothing else changes
    plain = _semantic_state(tmp_path, gt, pred, "plain")
    rep = json.loads(cli_ok("report", plain, "--ci", "--resamples", 100, "--json", "-").stdout)
    assert set(rep["intervals"]) == set(stats.SEMANTIC_HEADLINE) | {"per_class"}
    assert set(rep["intervals"]["per_class"]) == set(stats.SEMANTIC_PER_CLASS)
    # boundary against no boundary: the mask metrics are compared, the boundary rows have no p-value
    doc = json.loads(cli_ok("compare", new, plain, "--json", "-", "--resamples", 100).stdout)
    assert doc["metrics"]["mIoU"]["p_value"] is not None and doc["metrics"]["mBIoU"]["base"] is not None
    assert doc["metrics"]["mBIoU"]["p_value"] is None and doc["metrics"]["mBIoU"]["new"] is None
    assert {x["metric"] for x in doc["per_class"]} == {"IoU"}
    # other band widths: no significance for the boundary metrics, and a warning saying why
    wide = _semantic_state(tmp_path, gt, tmp_path / "worse", "wide", "--boundary", "--dilation-ratio", "0.1")
    r = cli_ok("compare", base, wide, "--json", "-", "--resamples", 100)
    doc = json.loads(r.stdout)
    assert doc["metrics"]["mBIoU"]["p_value"] is None and doc["metrics"]["mIoU"]["p_value"] is not None
    assert any("dilation_ratio 0.05 vs dilation_ratio 0.1" in w for w in doc["warnings"])
