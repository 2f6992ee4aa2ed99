"""Smoke tests of the benchmark scripts: deterministic data, and one tiny end-to-end run."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_ade20k_like_is_deterministic_and_follows_the_label_convention(tmp_path):
    ds = _load("datasets")
    gt_a, pred_a = ds.make_ade20k_like(tmp_path / "a", n_images=2, seed=5)
    ds.make_ade20k_like(tmp_path / "b", n_images=2, seed=5)
    ds.make_ade20k_like(tmp_path / "c", n_images=2, seed=6)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert len(a) == 4 and a == b
    assert a != c
    for name in sorted(p.name for p in gt_a.glob("*.png")):
        with Image.open(gt_a / name) as g, Image.open(pred_a / name) as p:
            assert g.mode == p.mode == "L"
            gt, pred = np.asarray(g), np.asarray(p)
        assert gt.shape == pred.shape and 512 in gt.shape and max(gt.shape) <= 683
        assert gt.max() <= 150 and 0 < (gt == 0).mean() < 0.5  # "other" present, not dominant
        assert pred.max() <= 149
        # the prediction is a perturbed copy (labels shifted by one), not noise
        agree = (pred.astype(int) == gt.astype(int) - 1)[gt > 0].mean()
        assert 0.3 < agree < 0.999


def test_ade20k_like_reuses_a_complete_set_and_replaces_another(tmp_path):
    ds = _load("datasets")
    gt, _ = ds.make_ade20k_like(tmp_path, n_images=2, seed=1)
    first = gt / "ADE_val_00000001.png"
    mtime = first.stat().st_mtime_ns
    ds.make_ade20k_like(tmp_path, n_images=2, seed=1)
    assert first.stat().st_mtime_ns == mtime
    ds.make_ade20k_like(tmp_path, n_images=1, seed=1)
    assert sorted(p.name for p in gt.glob("*.png")) == ["ADE_val_00000001.png"]


def test_coco_panoptic_dir_is_cached_by_parameters(tmp_path):
    ds = _load("datasets")
    d = ds.coco_panoptic_dir(2, 4, root=tmp_path)
    assert d == tmp_path / "coco_panoptic_2_s4"
    again = ds.coco_panoptic_dir(2, 4, root=tmp_path)
    assert again == d and (d / "gt.json").stat().st_mtime_ns == (again / "gt.json").stat().st_mtime_ns
    ref = ds.make_coco_panoptic(tmp_path / "direct", n_images=2, seed=4)
    assert ref[0].read_bytes() == (d / "gt.json").read_bytes()


def _run_quick(script: str, out: Path, *args, timeout: float = 300) -> str:
    """Run a benchmark script in its quick mode; its section (also checked to be on stdout)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # data generation: small matrix products
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text in proc.stdout
    assert "DISAGREE" not in text and "FAILED" not in text
    return text


def _installed(dist: str) -> bool:
    return importlib.util.find_spec(dist) is not None


def test_bench_folders_quick_run_agrees_across_tools(tmp_path):
    text = _run_quick("bench_folders.py", tmp_path / "folders.md", "--images", "8", "--repeat", "1",
                      "--data-root", str(tmp_path / "data"))
    for task in ("Semantic", "Panoptic"):
        for kind in ("blobs", "ragged"):
            assert f"### {task}, {kind}: " in text
    assert text.count(": 8 images (") == 4
    assert text.count("agree with the in-memory engine") == 4
    assert text.count("bit-identical across") == 4
    assert text.count("confusion matrices: all identical") == 2  # the two semantic sets
    assert "same pixel checksum for every decoder" in text
    rows = [line for line in text.splitlines() if line.startswith("| segmetrics folder evaluation |")]
    assert len(rows) == 16  # cold j1, cold j2, fill, warm j2 for each of the four sets (--quick), all timed
    assert all(float(r.split("|")[4]) > 0 for r in rows)
    for tool in ("hotcoco", "torchmetrics", "panopticapi", "vernier"):
        if not _installed(tool):
            continue
        assert any(line.startswith(f"| {tool}") and "not installed" not in line for line in text.splitlines())
    if _installed("vernier"):  # both of vernier's panoptic ways ran on both panoptic sets
        for way in ("| vernier Evaluator.evaluate (all maps", "| vernier background evaluator"):
            assert sum(line.startswith(way) for line in text.splitlines()) >= 2


def test_bench_scale_quick_run_checks_every_tool_and_the_cli(tmp_path):
    text = _run_quick("bench_scale.py", tmp_path / "scale.md", "--panoptic", "12", "--semantic", "10",
                      "--cityscapes", "3", "--data-root", str(tmp_path / "data"))
    assert "### Panoptic: 12 COCO-like images" in text
    assert "### Semantic: 10 ADE20K-like images" in text
    assert "### Cityscapes-like: 3 images of 1024 x 2048" in text
    assert text.count("whole-process rows: their JSON numbers agree with segmetrics in process") == 3
    assert text.count("confusion matrices: all identical") >= 4  # semantic and Cityscapes, full set and subset
    for cmd in ("`python -m segmetrics eval`, cold", "`python -m segmetrics eval`, warm", "console script"):
        assert text.count(f"| {cmd}") == 3
    if _installed("hotcoco"):
        assert text.count("| hotcoco `coco ") == 3
        assert "| panoptic: in process, 2 threads, cold vs hotcoco | >= 3.0 |" in text
        assert "| semantic: whole process" in text and "| cityscapes: peak RSS" in text
    if _installed("vernier"):
        assert "| cityscapes: in process, 2 threads, warm (GT cache) vs vernier | >= 4.0 |" in text
    assert "Memory against the number of images" in text and "at 12 images" in text


def test_ragged_sets_are_deterministic_and_follow_their_conventions(tmp_path):
    rg = _load("ragged")
    a = rg.ragged_semantic_dir(3, 2, root=tmp_path / "a", procs=1)
    b = rg.ragged_semantic_dir(3, 2, root=tmp_path / "b", procs=2)  # worker processes: the same bytes
    assert _files(a) == _files(b) and len(_files(a)) == 6
    assert _files(rg.ragged_semantic_dir(3, 3, root=tmp_path / "c", procs=1)) != _files(a)
    for gt_path in sorted((a / "gt").glob("*.png")):
        with Image.open(gt_path) as g, Image.open(a / "pred" / gt_path.name) as p:
            gt, pred = np.asarray(g), np.asarray(p)
        assert g.mode == p.mode == "L" and gt.shape == pred.shape and 512 in gt.shape
        assert set(np.unique(gt)) <= set(range(150)) | {255} and pred.max() < 150
        scored = gt != 255
        agree = (gt == pred)[scored].mean()
        assert 0.5 < agree < 0.97  # a perturbed copy, not noise and not the GT
        # ragged: many more label changes along a row than the blob generator's smooth borders
        assert (gt[:, 1:] != gt[:, :-1]).mean() > 0.01
    cs = rg.cityscapes_like_dir(2, 0, root=tmp_path, procs=1)
    lut = np.full(256, 255, np.uint8)
    for k, v in rg.CITYSCAPES_TRAIN.items():
        lut[k] = v
    for city, stem in rg.cityscapes_stems(2):
        with Image.open(cs / "gtFine" / "val" / city / f"{stem}_gtFine_labelIds.png") as g:
            ids = np.asarray(g)
        with Image.open(cs / "gt_trainids" / f"{stem}.png") as t, Image.open(cs / "pred" / f"{stem}.png") as p:
            train, pred = np.asarray(t), np.asarray(p)
        assert ids.shape == (1024, 2048) and ids.max() <= 33
        assert np.array_equal(train, lut[ids])
        assert pred.max() <= 18
        freq = np.bincount(ids.ravel(), minlength=34) / ids.size
        assert freq[7] > 0.15 and freq[11] + freq[21] > 0.2  # road, building + vegetation dominate
        assert 0.02 < (train == 255).mean() < 0.25
    pan = rg.ragged_panoptic_dir(2, 0, root=tmp_path, procs=1)
    gt_json = json.loads((pan / "gt.json").read_text())
    assert [len(a["segments_info"]) > 15 for a in gt_json["annotations"]] == [True, True]
    assert json.loads((pan / "params.json").read_text())["kind"] == "panoptic"


def test_ade20k_pred_1based_shifts_the_predictions_once(tmp_path):
    ds = _load("datasets")
    _, pred = ds.make_ade20k_like(tmp_path, n_images=2, seed=1)
    out = ds.ade20k_pred_1based(tmp_path)
    for p in sorted(pred.glob("*.png")):
        with Image.open(p) as a, Image.open(out / p.name) as b:
            assert np.array_equal(np.asarray(b), np.asarray(a) + 1)
    mtime = (out / "ADE_val_00000001.png").stat().st_mtime_ns
    assert ds.ade20k_pred_1based(tmp_path) == out
    assert (out / "ADE_val_00000001.png").stat().st_mtime_ns == mtime


def test_make_results_orders_known_sections_and_lists_others(tmp_path):
    mr = _load("make_results")
    (tmp_path / "png.md").write_text("## PNG\n\nx\n")
    (tmp_path / "folders.md").write_text("## Folders\n\ny\n")
    (tmp_path / "zeta.md").write_text("## Zeta\n")
    text = mr.assemble(tmp_path)
    assert text.startswith("# Benchmark results")
    assert text.index("## Folders") < text.index("## PNG") < text.index("## Zeta")
    (tmp_path / "scale.md").write_text("## Scale\n")
    text = mr.assemble(tmp_path)
    assert text.index("## Scale") < text.index("## Folders")
    assert "`python benchmarks/bench_scale.py`" in text
    assert "`python benchmarks/bench_folders.py`" in text and "bench_panoptic" not in text
    assert "| [zeta.md](results/zeta.md) |" in text


def test_bench_semantic_kernel_quick_run_covers_every_regime(tmp_path):
    text = _run_quick("bench_semantic_kernel.py", tmp_path / "kernel.md")
    assert "every method gives the same confusion matrix in every regime (checked)" in text
    regimes = ("uniform noise", "large blobs (Voronoi cells)", "5 % salt noise", "30 % salt noise",
               "boundary-rich", "ADE20K-like", "Cityscapes-like 1024 x 2048, label-id map fused")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "Mpx/s" not in line]
    for regime in regimes:
        row = next(r for r in rows if regime in r)
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) > 0  # SemanticEvaluator.update Mpx/s
        if _installed("hotcoco"):
            assert cells[-2].endswith("x") and float(cells[-2][:-1]) > 0
    assert "Goal 1 of issue 17" in text


def test_bench_startup_quick_run_times_each_command(tmp_path):
    text = _run_quick("bench_startup.py", tmp_path / "startup.md", "--repeat", "2")
    for what in ("`python -c 'import numpy'`", "`python -c 'import segmetrics'`", "`python -m segmetrics --version`",
                 "`python -m segmetrics eval --help`", "console script `segmetrics --version`"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {what}"))
        assert float(row.split("|")[2]) > 0
    assert text.count("### `python -X importtime`") == 3
    # the package tables of --version and eval --help: segmetrics's CLI modules, and no numpy (lazy imports)
    for section in text.split("### `python -X importtime`")[2:]:
        assert "| segmetrics |" in section and "| click |" in section and "| numpy |" not in section
    assert text.count("(goal < ") == 10  # wall and CPU of five commands


def test_bench_breakdown_quick_run_splits_the_time(tmp_path):
    text = _run_quick("bench_breakdown.py", tmp_path / "breakdown.md", "--panoptic", "6", "--semantic", "6",
                      "--cg-images", "3", "--cg-task", "semantic", "--data-root", str(tmp_path / "data"))
    assert text.count("inflate: libdeflate, zlib streams with Adler-32 (the floor)") == 2
    assert text.count("**total in process, 1 thread, from paths**") == 2
    assert text.count("the inflate-only floor") == 2
    assert "orjson.loads into dicts and lists" in text and "the GT fingerprint (per-image digests" in text
    if importlib.util.find_spec("msgspec") is not None:
        assert "msgspec Structs, then flat segment columns" in text
    import shutil

    if shutil.which("valgrind") and shutil.which("callgrind_annotate"):
        assert "| inflate (libdeflate) |" in text and "| unfilter (segmetrics png kernel) |" in text
        assert "`sm_unfilter_1`" in text or "unfilter" in text.split("function (top 12")[1]


def _two_crowd_segments_set(root: Path) -> dict:
    """One 20 x 20 COCO-panoptic image whose category 1 has two crowd segments (ids 300 then 200)
    and a prediction lying on the second: panopticapi's rule (the last crowd segment listed) makes
    it no false positive, a largest-id rule makes it one."""
    gt = np.full((20, 20), 1, np.uint32)
    gt[0:5] = 300
    gt[10:15] = 200
    gt[16:20, 0:10] = 400
    pred = np.full((20, 20), 1, np.uint32)
    pred[10:15] = 50
    pred[16:20, 0:10] = 60
    cats = [{"id": 1, "name": "thing", "isthing": 1}, {"id": 2, "name": "stuff", "isthing": 0}]
    for side, ids in (("gt", gt), ("pred", pred)):
        (root / side).mkdir(parents=True)
        rgb = np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], -1).astype(np.uint8)
        Image.fromarray(rgb).save(root / side / "1.png")
    area = lambda ids, v: int((ids == v).sum())  # noqa: E731
    gsegs = [{"id": 300, "category_id": 1, "iscrowd": 1, "area": area(gt, 300)},
             {"id": 200, "category_id": 1, "iscrowd": 1, "area": area(gt, 200)},
             {"id": 400, "category_id": 1, "iscrowd": 0, "area": area(gt, 400)},
             {"id": 1, "category_id": 2, "iscrowd": 0, "area": area(gt, 1)}]
    psegs = [{"id": 50, "category_id": 1}, {"id": 60, "category_id": 1}, {"id": 1, "category_id": 2}]
    image = [{"id": 1, "file_name": "1.jpg", "height": 20, "width": 20}]
    for side, segs in (("gt", gsegs), ("pred", psegs)):
        (root / f"{side}.json").write_text(json.dumps({"images": image, "categories": cats, "annotations": [
            {"image_id": 1, "file_name": "1.png", "segments_info": segs}]}))
    return {"gt_json": str(root / "gt.json"), "pred_json": str(root / "pred.json"),
            "gt_folder": str(root / "gt"), "pred_folder": str(root / "pred"), "jobs": 1}


@pytest.mark.skipif(importlib.util.find_spec("vernier") is None, reason="vernier is not installed")
def test_vernier_crowd_rule_is_the_explained_difference(tmp_path):
    import sys

    sys.path[:0] = [str(BENCH.parent), str(BENCH)]
    try:
        harness = _load("harness")
    finally:
        del sys.path[:2]
    spec = _two_crowd_segments_set(tmp_path)
    ours = harness.segmetrics_panoptic(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"],
                                       jobs=1)
    assert ours.metrics["RQ_th"] == 1.0  # the prediction on the last crowd segment is not a false positive
    if importlib.util.find_spec("panopticapi") is not None:
        import contextlib
        import io

        from panopticapi.evaluation import pq_compute

        with contextlib.redirect_stdout(io.StringIO()):
            papi = pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"])
        assert papi["Things"]["rq"] == 1.0
    run, check = harness.tool_vernier_panoptic_stream(spec)
    result = dict(run(), **check())
    assert result["metrics"]["RQ_th"] == pytest.approx(2 / 3)  # vernier: a false positive
    rows = [{"label": "segmetrics", "group": "reference", "tool": "seg_panoptic_memory",
             "rec": {"result": harness.seg_panoptic_digest(ours)}},
            {"label": "vernier", "group": "vernier", "tool": "vernier_panoptic_stream", "jobs": 1,
             "rec": {"result": result}}]
    checks = harness.check_numbers(rows, harness.PAN_KEYS)
    assert not any(c.startswith("DISAGREE") for c in checks)
    assert any(c.startswith("explained: vernier (1 threads)") and "largest id" in c for c in checks)
    # a difference the crowd rule does not explain stays a disagreement
    result["alt_metrics"] = dict(result["alt_metrics"], PQ=0.0)
    assert any(c.startswith("DISAGREE") for c in harness.check_numbers(rows, harness.PAN_KEYS))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux' /proc/self/task")
def test_harness_settle_waits_for_busy_threads_and_not_for_idle_ones():
    """A child's timed run starts once its other threads are idle (OpenBLAS's spin after
    import numpy); a thread that keeps a core busy holds it back, an idle one does not."""
    import threading
    import time

    harness = _load("harness")
    harness.settle(quiet_s=0.05, max_s=5.0)  # threads earlier tests left busy (BLAS, OpenMP) go idle
    idle = threading.Event()
    sleeper = threading.Thread(target=idle.wait)
    sleeper.start()
    try:
        assert harness.settle(quiet_s=0.05, max_s=3.0) < 0.3
    finally:
        idle.set()
        sleeper.join()
    stop = time.perf_counter() + 0.4

    def spin():
        while time.perf_counter() < stop:
            pass

    busy = threading.Thread(target=spin)
    busy.start()
    waited = harness.settle(quiet_s=0.05, max_s=3.0)
    busy.join()
    assert waited >= 0.3  # the 0.4 s of spinning, less what ran before the call
