"""Statistics through the CLI (issue 12): ``--ci``, ``--per-image``, ``--worst``, ``--slices`` on ``eval``
and ``report``, and ``compare`` of two run-state files with its gates.

Oracles: per-image counts computed here with NumPy from the label files (semantic) or by the
real evaluator on each image alone (panoptic), fed to the statistics engine that
``tests/test_stats*.py`` proves against loops over the real evaluators and scipy; the JSON the
CLI writes must hold those very numbers (same seed, bit for bit).
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from segmetrics import stats
from segmetrics.demo import make_panoptic_demo
from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png
from segmetrics.panoptic import PanopticEvaluator
from segmetrics.report import TABLE_WIDTH

from cli_data import (
    assert_user_error,
    cli_ok,
    cli_run,
    make_flat_set,
    oracle_confusion,
    oracle_miou,
    write_png,
)

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
K = 4


run, ok = cli_run, cli_ok


def per_image_counts(arrays, k=K):
    """(tp, fp, fn) of every image, (N, K) each, from a NumPy confusion matrix per image."""
    rows = [oracle_confusion([pair], k) for pair in arrays]
    tp = np.array([np.diag(c) for c in rows])
    return tp, np.array([c.sum(0) for c in rows]) - tp, np.array([c.sum(1) for c in rows]) - tp


@pytest.fixture(scope="module")
def sem(tmp_path_factory):
    root = tmp_path_factory.mktemp("sem")
    gt, pred, arrays = make_flat_set(root, n=12, k=K)
    ids = [f"img_{i:03d}" for i in range(12)]
    return root, gt, pred, arrays, ids


@pytest.fixture(scope="module")
def pan(tmp_path_factory):
    root = tmp_path_factory.mktemp("pan")
    d = make_panoptic_demo(root, n=8)
    gt = load_panoptic_json(d.gt_json, d.gt_folder, require_categories=True)
    pred = load_panoptic_json(d.pred_json, d.pred_folder)
    tp, fp, fn, iou, rows = [], [], [], [], []
    for image_id, ann in sorted(gt.annotations.items()):
        ev = PanopticEvaluator(gt.categories, with_semantic=False)   # the real evaluator, this image alone
        p = pred.annotations[image_id]
        ev.update(read_id_png(gt.png_path(image_id)), ann["segments_info"], read_id_png(pred.png_path(image_id)),
                  p["segments_info"], image_id=image_id)
        res = ev.compute()
        tp.append(ev.state.tp)
        fp.append(ev.state.fp)
        fn.append(ev.state.fn)
        iou.append(ev.state.iou_sum())
        rows.append((image_id, res.metrics))
    isthing = [bool(c["isthing"]) for c in gt.categories]
    counts = stats.PanopticCounts(np.array(tp), np.array(fp), np.array(fn), np.array(iou), isthing)
    return d, counts, rows


def _semantic_args(gt, pred):
    return ["--gt", gt, "--pred", pred, "--num-classes", K, "--no-cache"]


# ----------------------------------------------------------------------------- intervals
def test_eval_ci_intervals_are_the_bootstrap_of_the_files_counts(sem, tmp_path):
    _, gt, pred, arrays, _ = sem
    out = tmp_path / "r.json"
    ok("eval", *_semantic_args(gt, pred), "--ci", "90", "--resamples", 300, "--seed", 7, "--ci-method", "bca",
       "--json", out, "-q")
    rep = json.loads(out.read_text())
    want = stats.bootstrap(stats.SemanticCounts(*per_image_counts(arrays)), resamples=300, seed=7, level=0.9,
                           method="bca")
    for k in stats.SEMANTIC_HEADLINE:
        assert rep["intervals"][k] == {"low": want.low[k], "high": want.high[k], "level": 0.9, "method": "bca",
                                       "resamples": 300, "seed": 7}
    for k in stats.SEMANTIC_PER_CLASS:
        got = rep["intervals"]["per_class"][k]
        assert len(got) == K == len(rep["per_class"])
        for c in range(K):
            assert got[c] == {"low": want.low[k][c], "high": want.high[k][c]}
    assert rep["metrics"]["mIoU"] == pytest.approx(oracle_miou(oracle_confusion(arrays, K)), abs=1e-15)


def test_panoptic_ci_intervals_and_report_from_state(pan, tmp_path):
    d, counts, _ = pan
    state, e_json, r_json = tmp_path / "p.smstate", tmp_path / "e.json", tmp_path / "r.json"
    ok("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--ci", "--resamples", 200, "--save-state", state,
       "--json", e_json, "-q", "--no-cache")
    ok("report", state, "--ci", "--resamples", 200, "--json", r_json, "-q")
    assert e_json.read_bytes() == r_json.read_bytes()
    rep = json.loads(e_json.read_text())
    want = stats.bootstrap(counts, resamples=200, seed=0)
    for k in stats.PANOPTIC_HEADLINE:
        assert (rep["intervals"][k]["low"], rep["intervals"][k]["high"]) == (want.low[k], want.high[k])
    for k, col in (("pq", "PQ"), ("sq", "SQ"), ("rq", "RQ")):
        for c, e in enumerate(rep["intervals"]["per_class"][col]):
            lo, hi = want.low[k][c], want.high[k][c]
            assert e == (None if math.isnan(lo) else {"low": lo, "high": hi})
    assert "aAcc" in rep["metrics"] and "aAcc" not in rep["intervals"]   # no per-image pixel counts


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_tables_with_intervals_worst_and_slices_fit_80_columns(sem, pan, tmp_path, task):
    if task == "semantic":
        _, gt, pred, _, ids = sem
        args = _semantic_args(gt, pred)
    else:
        d, _, rows = pan
        args = ["--gt", d.gt_json, "--pred", d.pred_json, "--no-cache"]
        ids = [r[0] for r in rows]
    manifest = tmp_path / "m.csv"
    manifest.write_text("image_id,weather,a_rather_long_attribute_name\n"
                        + "".join(f"{i},{'rain' if n % 3 else 'sun'},{'x' * 30 if n % 2 else ''}\n"
                                  for n, i in enumerate(ids[:-2])))
    r = ok("eval", *args, "--ci", "--per-class", "--all-classes", "--worst", 3, "--slices", manifest,
           "--resamples", 100)
    lines = r.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= TABLE_WIDTH
    assert any("% [interval]" in ln for ln in lines) and "[low, high]: 95% percentile bootstrap" in r.stdout
    assert "Worst 3 images by " + ("PQ" if task == "panoptic" else "mIoU") in r.stdout
    assert "Slices" in r.stdout and "__unassigned__" in r.stdout
    md = ok("eval", *args, "--ci", "--markdown", "--per-class", "--worst", 2, "--resamples", 100).stdout
    assert "[low, high]" in md and "<summary>Worst 2 images" in md
    assert "segmetrics: note:" in r.stderr and "not listed (__unassigned__)" in r.stderr


def test_ci_flags_are_checked(sem):
    _, gt, pred, _, _ = sem
    assert_user_error(run("eval", *_semantic_args(gt, pred), "--resamples", 10), "--resamples applies with --ci")
    assert_user_error(run("eval", *_semantic_args(gt, pred), "--ci", "0.95"), "confidence level in percent")
    assert_user_error(run("eval", *_semantic_args(gt, pred), "--ci", "x"), "not a number")
    assert_user_error(run("eval", *_semantic_args(gt, pred), "--images", "."), "--images applies with --html")
    # --ci without a value is 95 %
    rep = json.loads(ok("eval", *_semantic_args(gt, pred), "--ci", "--resamples", 20, "--json", "-").stdout)
    assert rep["intervals"]["mIoU"]["level"] == 0.95


# ----------------------------------------------------------------------------- per image, worst
def test_per_image_csv_and_worst_against_oracles(sem, tmp_path):
    _, gt, pred, arrays, ids = sem
    out, rep_path = tmp_path / "p.csv", tmp_path / "r.json"
    r = ok("eval", *_semantic_args(gt, pred), "--per-image", out, "--worst", 4, "--json", rep_path, "-q")
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["image_id"] for row in rows] == ids
    miou = []
    for row, (g, p) in zip(rows, arrays):
        cm = oracle_confusion([(g, p)], K)
        tp = np.diag(cm)
        den = cm.sum(0) + cm.sum(1) - tp
        for c in range(K):
            cell = row[f"IoU:{c}"]
            assert (cell == "" and den[c] == 0) or float(cell) == pytest.approx(tp[c] / den[c], abs=5e-7)
        miou.append(oracle_miou(cm))
        assert float(row["mIoU"]) == pytest.approx(miou[-1], abs=5e-7)
    rep = json.loads(rep_path.read_text())
    order = sorted(range(len(ids)), key=lambda i: (miou[i], i))[:4]
    assert [w["image_id"] for w in rep["worst"]] == [ids[i] for i in order]
    assert [w["mIoU"] for w in rep["worst"]] == pytest.approx([miou[i] for i in order], abs=1e-15)
    assert "IoU:0" not in rep["worst"][0]                                 # per-class columns stay in the CSV
    table = ok("eval", *_semantic_args(gt, pred), "--worst", 4, "-q").stdout
    listed = [ln.split()[0] for ln in table.split("Worst 4 images")[1].splitlines()[3:] if ln.strip()]
    assert listed == [ids[i] for i in order]


def test_panoptic_per_image_rows_equal_the_evaluator_on_each_image(pan, tmp_path):
    d, _, oracle_rows = pan
    out = tmp_path / "p.csv"
    ok("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--per-image", out, "-q", "--no-cache")
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [int(r["image_id"]) for r in rows] == [i for i, _ in oracle_rows]
    for row, (_, m) in zip(rows, oracle_rows):
        for k in stats.PANOPTIC_HEADLINE:
            want = m[k]
            assert (row[k] == "" and math.isnan(want)) or float(row[k]) == pytest.approx(want, abs=5e-7), k


# ----------------------------------------------------------------------------- slices
def test_slices_are_runs_over_their_images_and_live_in_the_state(sem, tmp_path):
    _, gt, pred, arrays, ids = sem
    manifest = tmp_path / "m.csv"
    weather = {ids[i]: ("rain" if i % 3 == 0 else "sun") for i in range(9)}   # 3 images not listed
    manifest.write_text("image_id,weather\n" + "".join(f"{i},{w}\n" for i, w in weather.items()) + "not_an_image,fog\n")
    state, e_json, r_json = tmp_path / "s.smstate", tmp_path / "e.json", tmp_path / "r.json"
    ok("eval", *_semantic_args(gt, pred), "--slices", manifest, "--ci", "--resamples", 150, "--save-state", state,
       "--json", e_json, "-q")
    ok("report", state, "--ci", "--resamples", 150, "--json", r_json, "-q")   # the manifest is in the state
    assert e_json.read_bytes() == r_json.read_bytes()
    rep = json.loads(e_json.read_text())
    got = {(s["attribute"], s["value"]): s for s in rep["slices"]}
    assert list(got) == [("weather", "rain"), ("weather", "sun"), ("weather", "__unassigned__")]
    tp, fp, fn = per_image_counts(arrays)
    for value in ("rain", "sun", "__unassigned__"):
        rows = [i for i, image_id in enumerate(ids) if weather.get(image_id, "__unassigned__") == value]
        s = got[("weather", value)]
        assert s["images"] == len(rows)
        assert s["metrics"]["mIoU"] == pytest.approx(oracle_miou(oracle_confusion([arrays[i] for i in rows], K)),
                                                     abs=1e-12)
        iv = stats.bootstrap(stats.SemanticCounts(tp[rows], fp[rows], fn[rows]), resamples=150, seed=0)
        assert s["intervals"]["mIoU"] == {"low": iv.low["mIoU"], "high": iv.high["mIoU"]}
    assert any("name no evaluated image" in n for n in rep["notes"])
    # a manifest that names no evaluated image is one clear error
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,weather\nzzz,rain\n")
    assert_user_error(run("eval", *_semantic_args(gt, pred), "--slices", bad), "bad.csv", "none of its 1 image ids")


def test_merged_shards_keep_their_slices(sem, tmp_path):
    _, gt, pred, _, ids = sem
    manifest = tmp_path / "m.csv"
    manifest.write_text("image_id,cam\n" + "".join(f"{i},{'a' if n % 2 else 'b'}\n" for n, i in enumerate(ids)))
    shards = []
    for s in range(2):
        g, p = tmp_path / f"g{s}", tmp_path / f"p{s}"
        for f in sorted(Path(gt).iterdir())[s::2]:
            g.mkdir(exist_ok=True)
            p.mkdir(exist_ok=True)
            shutil.copy(f, g / f.name)
            shutil.copy(Path(pred) / f.name, p / f.name)
        shards.append(tmp_path / f"s{s}.smstate")
        ok("eval", *_semantic_args(g, p), "--slices", manifest, "--save-state", shards[-1], "-q")
    whole = tmp_path / "whole.json"
    ok("eval", *_semantic_args(gt, pred), "--slices", manifest, "--json", whole, "-q")
    ok("merge", *shards, "-o", tmp_path / "all.smstate", "-q")
    merged = json.loads(ok("report", tmp_path / "all.smstate", "--json", "-").stdout)
    assert merged["slices"] == json.loads(whole.read_text())["slices"]


# ----------------------------------------------------------------------------- compare
def _worse(arrays, root: Path, images) -> Path:
    """A second prediction folder: the listed images' predictions shifted (clearly worse)."""
    out = root / "worse"
    for i, (_, p) in enumerate(arrays):
        q = np.roll(p, 3, axis=0) if i in images else p
        write_png(out / f"img_{i:03d}.png", q)
    return out


@pytest.fixture(scope="module")
def states(sem, tmp_path_factory):
    root, gt, pred, arrays, _ = sem
    out = tmp_path_factory.mktemp("states")
    paths = {"base": out / "base.smstate"}
    ok("eval", *_semantic_args(gt, pred), "--save-state", paths["base"], "-q")
    for name, images in (("all_worse", range(12)), ("one_worse", [5])):
        folder = _worse(arrays, out / name, set(images))
        paths[name] = out / f"{name}.smstate"
        ok("eval", *_semantic_args(gt, folder), "--save-state", paths[name], "--json", out / f"{name}.json", "-q")
    ok("eval", *_semantic_args(gt, pred), "--json", out / "base.json", "-q")
    return out, paths, arrays


def test_compare_states_json_equals_the_paired_statistics(states, tmp_path):
    out, paths, arrays = states
    cmp_path = tmp_path / "c.json"
    r = ok("compare", paths["base"], paths["all_worse"], "--json", cmp_path, "--resamples", 400, "--seed", 3,
           "--correction", "bh")
    doc = json.loads(cmp_path.read_text())
    base = stats.SemanticCounts(*per_image_counts(arrays))
    worse = [(g, np.roll(p, 3, axis=0)) for g, p in arrays]
    new = stats.SemanticCounts(*per_image_counts(worse))
    want = stats.compare(base, new, resamples=400, seed=3)
    assert doc["significance"]["correction"] == "bh" and doc["same_data"] is True
    for k in stats.SEMANTIC_HEADLINE:
        m = doc["metrics"][k]
        assert set(m) == {"base", "new", "delta", "low", "high", "p_value"}
        assert m["delta"] == pytest.approx(m["new"] - m["base"], abs=1e-15)
        assert (m["low"], m["high"], m["p_value"]) == (want.low[k], want.high[k], want.p_value[k])
        assert m["new"] == pytest.approx(want.new[k], abs=1e-12) and m["base"] == pytest.approx(want.base[k], abs=1e-12)
    assert [row["p_adjusted"] for row in doc["per_class"]] == want.p_bh["IoU"].tolist()
    assert [row["significant"] for row in doc["per_class"]] == (want.p_bh["IoU"] <= 0.05).tolist()
    # the table: intervals and p-values, moved classes flagged, the method stated, 80 columns
    assert max(len(ln) for ln in r.stdout.splitlines()) <= TABLE_WIDTH
    assert "Benjamini-Hochberg-adjusted p" in r.stdout and " down" in r.stdout
    # the library gives the same document
    from segmetrics import compare_states
    from segmetrics.stats.results import comparison_document

    lib = compare_states(paths["base"], paths["all_worse"], resamples=400, seed=3, correction="bh")
    assert comparison_document(lib.rows(), names=("base.smstate", "all_worse.smstate"), task="semantic") == doc


def test_gates_max_drop_and_max_significant_drop(states):
    _, paths, _ = states
    # every image worse: a real drop, both gates fail
    r = run("compare", paths["base"], paths["all_worse"], "--max-significant-drop", "mIoU=1")
    err = assert_user_error(r, "mIoU dropped", "significant (p = ", "--max-significant-drop", code=3)
    assert err.startswith("segmetrics: FAILED: ")
    # one image much worse: a large drop that swapping one image's results explains -> only --max-drop fails
    r = run("compare", paths["base"], paths["one_worse"], "--max-significant-drop", "mIoU=0")
    assert r.exit_code == 0, r.output
    r = run("compare", paths["base"], paths["one_worse"], "--max-drop", "mIoU=0.5")
    assert_user_error(r, "mIoU dropped", "(--max-drop)", code=3)
    doc = json.loads(run("compare", paths["base"], paths["one_worse"], "--json", "-").stdout)
    assert doc["metrics"]["mIoU"]["delta"] < -0.005 and doc["metrics"]["mIoU"]["p_value"] > 0.05
    # a drop under the threshold never fails, significant or not
    assert run("compare", paths["base"], paths["all_worse"], "--max-significant-drop", "mIoU=100").exit_code == 0


def test_compare_refusals_and_json_reports(states, sem, tmp_path):
    out, paths, _ = states
    _, gt, pred, arrays, _ = sem
    # a state of other images: one line, the fingerprints named
    other = tmp_path / "other.smstate"
    g2, p2, _ = make_flat_set(tmp_path / "o", n=12, k=K, seed=9)
    ok("eval", *_semantic_args(g2, p2), "--save-state", other, "-q")
    assert_user_error(run("compare", paths["base"], other), "scored different ground truth", "--allow-different-data")
    r = ok("compare", paths["base"], other, "--allow-different-data", "-q")
    assert "significance needs two run-state files" in r.stdout
    # JSON reports: deltas as before, a line about significance, the significant gate refused
    r = ok("compare", out / "base.json", out / "all_worse.json")
    assert "No intervals or p-values" in r.stdout and "delta (points)" in r.stdout
    assert_user_error(run("compare", out / "base.json", out / "all_worse.json", "--max-significant-drop", "mIoU=1"),
                      "--max-significant-drop needs two run-state files")
    doc = json.loads(ok("compare", out / "base.json", out / "all_worse.json", "--json", "-").stdout)
    assert doc["significance"] is None and doc["metrics"]["mIoU"]["p_value"] is None
    assert doc["notes"] and "run-state files" in doc["notes"][0]
    # a headline metric without per-image significance cannot be gated on it
    assert_user_error(run("compare", paths["base"], paths["all_worse"], "--max-significant-drop", "PQ=1"),
                      "'PQ' has no per-image significance")
