"""Invariance registry: every metric of both tasks must not depend on how the work was done.

For each registered metric key: jobs 1 / 2 / 3, a shuffled file / annotation
order, 4 shards merged in every order (in memory and through state files), and
the library result against the CLI's JSON, all bit for bit; every check runs
without and with ``boundary=True`` (``--boundary``).  A new metric registers
itself by adding one line to ``SEMANTIC`` or ``PANOPTIC`` (a headline key) or
``SEMANTIC_PER_CLASS`` / ``PANOPTIC_PER_CLASS`` (a per-class key), or to the
``*_BOUNDARY*`` lists for keys of boundary runs; a registered key missing from a
result fails the test, so a typo cannot pass.
(The model: scikit-learn's ``metrics/tests/test_common.py``.)
"""
from __future__ import annotations

import itertools
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import segmetrics as sm
from segmetrics import report as R
from segmetrics.cli import cli
from segmetrics.demo import make_panoptic_demo

from cli_data import make_flat_set, write_png

# the panoptic set has a missing prediction on purpose; its warning is checked elsewhere
pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")

# ---------------------------------------------------------------- the registry
SEMANTIC = ["aAcc", "mAcc", "mIoU", "fwIoU", "mDice"]
SEMANTIC_PER_CLASS = ["IoU", "Acc", "Dice", "Precision", "Recall", "gt_pixels", "pred_pixels"]
PANOPTIC = ["PQ", "SQ", "RQ", "N", "PQ_th", "SQ_th", "RQ_th", "N_th", "PQ_st", "SQ_st", "RQ_st", "N_st",
            "PQ_dagger", "PQ_dagger_th", "PQ_dagger_st", "N_dagger", "N_dagger_th", "N_dagger_st",
            "aAcc", "mAcc", "mIoU", "fwIoU"]
PANOPTIC_PER_CLASS = ["pq", "sq", "rq", "tp", "fp", "fn", "iou_sum", "pq_dagger", "stuff_iou_sum", "gt_segments",
                      "iou", "acc"]
SEMANTIC_BOUNDARY = ["mBIoU", "mMinIoU"]
SEMANTIC_BOUNDARY_PER_CLASS = ["BIoU", "MinIoU"]
PANOPTIC_BOUNDARY = ["BPQ", "BSQ", "BRQ", "BN", "BPQ_th", "BSQ_th", "BRQ_th", "BN_th", "BPQ_st", "BSQ_st", "BRQ_st",
                     "BN_st"]
PANOPTIC_BOUNDARY_PER_CLASS = ["bpq", "bsq", "brq", "btp", "bfp", "bfn", "biou_sum"]
RATIO = 0.05  # the band width of the boundary runs (the images are small)


def _same(a, b) -> bool:
    """Bit for bit, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _registered(result) -> tuple[list, list]:
    """The registered (headline, per-class) keys of a result: boundary runs have a band width."""
    boundary = "dilation_ratio" in result.params
    if isinstance(result, sm.SemanticResult):
        return SEMANTIC + SEMANTIC_BOUNDARY * boundary, SEMANTIC_PER_CLASS + SEMANTIC_BOUNDARY_PER_CLASS * boundary
    return PANOPTIC + PANOPTIC_BOUNDARY * boundary, PANOPTIC_PER_CLASS + PANOPTIC_BOUNDARY_PER_CLASS * boundary


def _values(result) -> dict:
    """Every registered value of a result, by (key, class)."""
    out = {}
    keys, per_class = _registered(result)
    for key in keys:
        out[key] = result.metrics[key]
    if isinstance(result, sm.SemanticResult):
        for key in per_class:
            for c, v in enumerate(result.per_class[key].tolist()):
                out[(key, c)] = v
    else:
        for key in per_class:
            for row in result.per_class:
                out[(key, row["category_id"])] = row[key]
    return out


def assert_same_result(got, want):
    a, b = _values(got), _values(want)
    assert a.keys() == b.keys()
    bad = [k for k in a if not _same(a[k], b[k])]
    assert not bad, [(k, a[k], b[k]) for k in bad[:5]]
    assert got.num_images == want.num_images
    if got.state is not None and want.state is not None and got.state.per_image_kept and want.state.per_image_kept:
        x, y = got.state.to_arrays(), want.state.to_arrays()
        if ("cells" in got.state.groups) != ("cells" in want.state.groups):  # only the array evaluators keep them
            cells = {f.name for f in type(got.state).FIELDS if f.group == "cells"}
            x, y = ({k: v for k, v in d.items() if k not in cells} for d in (x, y))
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], np.ndarray):
                assert x[key].dtype == y[key].dtype and x[key].tobytes() == y[key].tobytes(), key
            else:
                assert x[key] == y[key], key


# ---------------------------------------------------------------- data
N = 12


@pytest.fixture(scope="module")
def semantic_set(tmp_path_factory):
    """12 images (flat), one prediction with a void value, one missing; and 4 shard folders."""
    root = tmp_path_factory.mktemp("inv_sem")
    gt, pred, _ = make_flat_set(root, n=N, k=5, seed=3)
    p = np.array(__import__("PIL.Image", fromlist=["Image"]).open(pred / "img_004.png"))
    p[:3] = 255
    write_png(pred / "img_004.png", p)
    (pred / "img_007.png").unlink()
    names = sorted(f.name for f in gt.iterdir())
    shards = []
    for s in range(4):
        g, q = root / f"gt_s{s}", root / f"pred_s{s}"
        g.mkdir()
        q.mkdir()
        for name in names[s::4]:
            os.link(gt / name, g / name)
            if (pred / name).exists():
                os.link(pred / name, q / name)
        shards.append((g, q))
    return gt, pred, shards


@pytest.fixture(scope="module", params=[False, True], ids=["mask", "boundary"])
def band(request) -> dict:
    """The keyword arguments of the run's boundary setting (every check runs with both)."""
    return dict(boundary=True, dilation_ratio=RATIO) if request.param else {}


@pytest.fixture(scope="module")
def sem_kw(band) -> dict:
    return dict(num_classes=5, void_predictions="miss", allow_missing=True, per_image=True, **band)


@pytest.fixture(scope="module")
def semantic_base(semantic_set, sem_kw):
    gt, pred, _ = semantic_set
    return sm.evaluate_semantic_folders(gt, pred, jobs=1, **sem_kw)


@pytest.fixture(scope="module")
def panoptic_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("inv_pan")
    d = make_panoptic_demo(root, n=N)
    gt = json.loads(Path(d.gt_json).read_text())
    pred = json.loads(Path(d.pred_json).read_text())
    ids = [a["image_id"] for a in gt["annotations"]]
    pred["annotations"] = [a for a in pred["annotations"] if a["image_id"] != ids[5]]  # one missing
    Path(d.pred_json).write_text(json.dumps(pred))
    shards = []
    for s in range(4):
        keep = set(ids[s::4])
        for name, data, folder in (("gt", gt, d.gt_folder), ("pred", pred, d.pred_folder)):
            part = dict(data, annotations=[a for a in data["annotations"] if a["image_id"] in keep])
            (root / f"{name}_s{s}.json").write_text(json.dumps(part))
        shards.append((root / f"gt_s{s}.json", root / f"pred_s{s}.json"))
    return d, shards


def _pan(d, gt_json=None, pred_json=None, **kw):
    return sm.evaluate_panoptic_folders(gt_json or d.gt_json, pred_json or d.pred_json, gt_folder=d.gt_folder,
                                        pred_folder=d.pred_folder, allow_missing=True, per_image=True, **kw)


@pytest.fixture(scope="module")
def panoptic_base(panoptic_set, band):
    return _pan(panoptic_set[0], jobs=1, **band)


def _evaluator_kw(band: dict) -> dict:
    """The band keywords as the evaluators take them."""
    return {"boundary": True, "dilation_ratio": band["dilation_ratio"]} if band else {}


# ---------------------------------------------------------------- the checks
def test_registry_covers_every_key(semantic_base, panoptic_base, band):
    for result in (semantic_base, panoptic_base):
        assert ("dilation_ratio" in result.params) == bool(band)
    keys, per_class = _registered(semantic_base)
    assert set(keys) == set(semantic_base.metrics)
    assert set(per_class) == set(semantic_base.per_class)
    keys, per_class = _registered(panoptic_base)
    assert set(keys) == set(panoptic_base.metrics)
    assert set(per_class) | {"category_id", "name", "isthing"} == set(panoptic_base.per_class[0])
    # the data exercises the rules: void predictions, a missing image, every PQ group
    assert semantic_base.state.void.sum() > 0 and semantic_base.state.missing.sum() > 0
    assert panoptic_base.metrics["N_th"] > 0 and panoptic_base.metrics["N_st"] > 0


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs(semantic_set, semantic_base, panoptic_set, panoptic_base, jobs, sem_kw, band):
    gt, pred, _ = semantic_set
    assert_same_result(sm.evaluate_semantic_folders(gt, pred, jobs=jobs, **sem_kw), semantic_base)
    assert_same_result(_pan(panoptic_set[0], jobs=jobs, **band), panoptic_base)


def test_gt_cache_cold_and_warm(semantic_set, semantic_base, panoptic_set, panoptic_base, sem_kw, band, tmp_path):
    """The GT cache (first run stores, second reads the cached GT runs) changes nothing."""
    gt, pred, _ = semantic_set
    for _ in range(2):
        assert_same_result(sm.evaluate_semantic_folders(gt, pred, jobs=2, cache_dir=tmp_path, **sem_kw),
                           semantic_base)
        assert_same_result(_pan(panoptic_set[0], jobs=2, cache_dir=tmp_path, **band), panoptic_base)


def test_file_order(semantic_set, semantic_base, panoptic_set, panoptic_base, tmp_path, band):
    gt, pred, _ = semantic_set
    pairs = [(f.stem, f, pred / f.name) for f in sorted(gt.iterdir()) if (pred / f.name).exists()]
    results = []
    for seed in range(3):
        shuffled = pairs[:]
        random.Random(seed).shuffle(shuffled)
        ev = sm.SemanticEvaluator(5, per_image=True, void_predictions="miss", **_evaluator_kw(band))
        results.append(sm.evaluate_semantic_files(shuffled, ev, jobs=2).compute())
    for r in results[1:]:
        assert_same_result(r, results[0])
    d, _ = panoptic_set
    for seed in range(3):
        for name in ("gt", "pred"):
            data = json.loads(Path(getattr(d, f"{name}_json")).read_text())
            random.Random(seed).shuffle(data["annotations"])
            (tmp_path / f"{name}.json").write_text(json.dumps(data))
        assert_same_result(_pan(d, tmp_path / "gt.json", tmp_path / "pred.json", jobs=2, **band), panoptic_base)


def test_shards_merged_in_every_order(semantic_set, semantic_base, panoptic_set, panoptic_base, tmp_path, sem_kw,
                                      band):
    _, _, sem_shards = semantic_set
    d, pan_shards = panoptic_set
    sem = [sm.evaluate_semantic_folders(g, q, jobs=2, **sem_kw) for g, q in sem_shards]
    pan = [_pan(d, g, q, jobs=2, **band) for g, q in pan_shards]
    for task, parts, base in (("semantic", sem, semantic_base), ("panoptic", pan, panoptic_base)):
        paths = []
        for i, r in enumerate(parts):
            paths.append(tmp_path / f"{task}_{i}.smstate")
            r.save_state(paths[-1])
        first = None
        for order in itertools.permutations(range(4)):
            merged = sm.merge_states([parts[i] for i in order])
            assert_same_result(merged, base)
            assert merged.dataset["fingerprint"] == base.dataset["fingerprint"]
            if first is None:
                first = merged
            assert R.to_json(merged.to_report()) == R.to_json(first.to_report())
        for order in ((0, 1, 2, 3), (3, 1, 0, 2)):  # through the files
            merged = sm.merge_states([paths[i] for i in order])
            assert_same_result(merged, base)
            out = tmp_path / f"{task}_merged_{''.join(map(str, order))}.smstate"
            merged.save_state(out)
        a, b = sorted(tmp_path.glob(f"{task}_merged_*.smstate"))
        assert a.read_bytes() == b.read_bytes()
        assert_same_result(sm.load_state(a), base)


def test_state_file_round_trip(semantic_base, panoptic_base, tmp_path):
    for r in (semantic_base, panoptic_base):
        path = tmp_path / f"{type(r).__name__}.smstate"
        r.save_state(path)
        back = sm.load_state(path)
        assert_same_result(back, r)
        assert R.to_json(back.to_report()) == R.to_json(r.to_report())
        assert back.per_image_rows() == r.per_image_rows()


def test_library_equals_cli_json(semantic_set, semantic_base, panoptic_set, panoptic_base, band, tmp_path):
    flags = ["--boundary", "--dilation-ratio", str(RATIO)] if band else []
    gt, pred, _ = semantic_set
    run = CliRunner().invoke(cli, ["eval", "--gt", str(gt), "--pred", str(pred), "--num-classes", "5",
                                   "--void-predictions", "miss", "--allow-missing", "--json", "-", "-q",
                                   "--no-cache", "-j", "2", *flags], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    lib = semantic_base.to_report()
    assert run.stdout == R.to_json(lib)
    d, _ = panoptic_set
    run = CliRunner().invoke(cli, ["eval", "--gt", str(d.gt_json), "--pred", str(d.pred_json), "--allow-missing",
                                   "--json", "-", "-q", "--no-cache", *flags], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert run.stdout == R.to_json(panoptic_base.to_report())
    # report renders a saved run exactly as eval did: JSON, per-image CSV, table
    for result, name in ((semantic_base, "sem"), (panoptic_base, "pan")):
        result.save_state(tmp_path / f"{name}.smstate")
        outs = []
        for cmd in (["report", str(tmp_path / f"{name}.smstate")],):
            run = CliRunner().invoke(cli, cmd + ["--json", str(tmp_path / f"{name}.json"), "--per-image",
                                                 str(tmp_path / f"{name}.csv"), "--per-class", "-q"],
                                     catch_exceptions=False)
            assert run.exit_code == 0, run.output
            outs.append(run.stdout)
        assert (tmp_path / f"{name}.json").read_text() == R.to_json(result.to_report())
        assert (tmp_path / f"{name}.csv").read_text() == R.format_csv(result.per_image_rows())
        assert outs[0] == R.format_table(result.to_report(), per_class=True)
        if band:  # the boundary values are in the report, the CSV and the table
            key = "mBIoU" if name == "sem" else "BPQ"
            assert key in result.to_report()["metrics"] and key in outs[0]
            assert key in (tmp_path / f"{name}.csv").read_text().splitlines()[0]


def test_array_evaluator_equals_the_folder_engine(semantic_set, panoptic_set, band):
    """The evaluators fed decoded arrays and the folder engine fed the files: the same registered
    values (the band counted in the row walk of the fused kernels equals the array path's)."""
    from segmetrics.folders import read_label_map
    from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png

    gt, pred, _ = semantic_set
    pairs = [(f.stem, f, pred / f.name) for f in sorted(gt.iterdir()) if (pred / f.name).exists()]
    kw = dict(per_image=True, void_predictions="miss", **_evaluator_kw(band))
    files = sm.evaluate_semantic_files(pairs, sm.SemanticEvaluator(5, **kw), jobs=2).compute()
    ev = sm.SemanticEvaluator(5, **kw)
    for image_id, g, p in pairs:
        ev.update(read_label_map(g), read_label_map(p), image_id=image_id)
    assert_same_result(ev.compute(), files)
    d, _ = panoptic_set
    g_ds, p_ds = load_panoptic_json(d.gt_json, d.gt_folder), load_panoptic_json(d.pred_json, d.pred_folder)
    for a in list(g_ds.annotations):
        if a not in p_ds.annotations:
            del g_ds.annotations[a]
    kw = dict(per_image=True, **_evaluator_kw(band))
    files = sm.evaluate_panoptic_files(g_ds, p_ds, sm.PanopticEvaluator(g_ds.categories, **kw), jobs=2).compute()
    ev = sm.PanopticEvaluator(g_ds.categories, **kw)
    for image_id, ann in g_ds.annotations.items():
        ev.update(read_id_png(g_ds.png_path(image_id)), ann["segments_info"], read_id_png(p_ds.png_path(image_id)),
                  p_ds.annotations[image_id]["segments_info"], image_id=image_id)
    assert_same_result(ev.compute(), files)

