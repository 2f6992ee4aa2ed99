"""Smoke test of benchmarks/bench_render.py: a tiny run writes its section and meets its own checks."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_render.py"


def test_bench_render_tiny_run(tmp_path):
    out = tmp_path / "render.md"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--images", "3", "--worst", "2", "--repeat", "1",
         "--data-root", str(tmp_path / "data"), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text in proc.stdout
    rows = [ln for ln in text.splitlines() if ln.startswith("| semantic") or ln.startswith("| panoptic")]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "3" and float(cells[2]) > 0 and float(cells[3]) > 0
