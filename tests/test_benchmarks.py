"""Smoke tests of the benchmark scripts: deterministic data, and one tiny end-to-end run."""
from __future__ import annotations

import importlib.util
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


def test_bench_folders_quick_run_agrees_across_tools(tmp_path):
    out = tmp_path / "folders.md"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # data generation: small matrix products
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_folders.py"), "--quick", "--images", "8", "--repeat", "1",
         "--data-root", str(tmp_path / "data"), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text in proc.stdout
    assert "DISAGREE" not in text and "FAILED" not in text
    for task in ("Semantic", "Panoptic"):
        assert f"### {task}: 8 " in text
    assert text.count("agree with the in-memory engine") == 2
    assert text.count("bit-identical across") == 2
    assert "same pixel checksum for every decoder" in text
    rows = [line for line in text.splitlines() if line.startswith("| segmetrics evaluate_")]
    assert len(rows) == 8  # cold j1, cold j2, fill, warm j2 for each task (--quick), all with a time
    assert all(float(r.split("|")[4]) > 0 for r in rows)
    for tool in ("hotcoco", "torchmetrics", "panopticapi"):
        if importlib.util.find_spec(tool) is None:
            continue
        assert any(line.startswith(f"| {tool}") and "not installed" not in line for line in text.splitlines())


def test_make_results_orders_known_sections_and_lists_others(tmp_path):
    mr = _load("make_results")
    (tmp_path / "png.md").write_text("## PNG\n\nx\n")
    (tmp_path / "folders.md").write_text("## Folders\n\ny\n")
    (tmp_path / "zeta.md").write_text("## Zeta\n")
    text = mr.assemble(tmp_path)
    assert text.startswith("# Benchmark results")
    assert text.index("## Folders") < text.index("## PNG") < text.index("## Zeta")
    assert "`python benchmarks/bench_folders.py`" in text and "bench_panoptic" not in text
    assert "| [zeta.md](results/zeta.md) |" in text
