"""``segmetrics validate`` against ``segmetrics eval`` on the same files.

Usage::

    python benchmarks/bench_validate.py [--images 5000] [--semantic-images 1000] [--repeat 3]
                                        [--jobs 2] [--only semantic|panoptic] [--data-root DIR] [--out FILE]

The goal (issue 16): ``validate`` on 5,000 COCO-style images in under twice the time of
``eval`` on them.  Both are timed as a user runs them, end to end: a fresh Python process
per run (interpreter start, imports, JSON loading, decoding, checking or scoring), best of
``--repeat`` wall-clock times, with the children's user + system CPU time.  ``eval`` runs
without its GT cache (``--no-cache``: it reads every file, as validate does) and with a warm
cache (filled by one earlier run); ``validate`` runs on GT + predictions and on the GT alone.
The data are the cached sets of :mod:`datasets` (COCO-like panoptic, ADE20K-like semantic);
the page cache is warmed first.  ``validate`` must find no error on them (the COCO-like
generator paints several segments of one stuff category per image, which it reports as a
warning) and eval must succeed.  The markdown section goes to
``benchmarks/results/validate.md`` and to stdout.  Run it on a quiet machine for figures to quote.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasets import ade20k_like_dir, coco_panoptic_dir
from machine_info import cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VALIDATE = ("import sys; from segmetrics.cli.validate_cmd import validate_command; "
            "validate_command(sys.argv[1:], prog_name='segmetrics validate')")


def _run(cmd: list[str], repeat: int, ok_codes=(0,)) -> dict:
    """Best wall time of ``repeat`` runs of ``cmd`` in fresh processes, and the CPU time of that run."""
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code not in ok_codes:
            raise SystemExit(f"{' '.join(cmd)} exited {code}: {err[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        if best is None or wall < best["wall"]:
            best = {"wall": wall, "cpu": cpu}
    return best


def _warm(paths) -> int:
    total = 0
    for p in paths:
        total += len(p.read_bytes())
    return total


def _rows(task: str, d: Path, jobs: int, cache: Path) -> list[tuple[str, list[str]]]:
    py = sys.executable
    if task == "panoptic":
        gt, pred = ["--gt", str(d / "gt.json")], ["--pred", str(d / "pred.json")]
        flags = []
    else:
        gt, pred = ["--gt", str(d / "gt")], ["--pred", str(d / "pred")]
        flags = ["--preset", "ade20k"]
    ev = [py, "-m", "segmetrics", "eval", *gt, *pred, *flags, "-q", "-j", str(jobs)]
    if task == "semantic":
        ev += ["--no-pred-reduce-zero-label"]        # the predictions are 0..149
    va = [py, "-c", VALIDATE, *gt, *flags, "-j", str(jobs)]
    return [
        ("eval, no GT cache", ev + ["--no-cache"]),
        ("eval, warm GT cache", ev + ["--cache-dir", str(cache)]),
        ("validate, GT + predictions", va + pred),
        ("validate, GT only", va),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=5000, help="COCO-like panoptic images")
    ap.add_argument("--semantic-images", type=int, default=1000, help="ADE20K-like semantic images")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", choices=["semantic", "panoptic"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", type=Path)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "validate.md")
    args = ap.parse_args(argv)
    tasks = [args.only] if args.only else ["panoptic", "semantic"]
    dirs = {}
    if "panoptic" in tasks:
        dirs["panoptic"] = (coco_panoptic_dir(args.images, args.seed, root=args.data_root), args.images)
    if "semantic" in tasks:
        dirs["semantic"] = (ade20k_like_dir(args.semantic_images, args.seed, root=args.data_root),
                            args.semantic_images)
    load_before = os.getloadavg()
    started = _dt.datetime.now(_dt.timezone.utc)
    sections = []
    for task in tasks:
        d, n = dirs[task]
        nbytes = _warm([p for sub in ("gt", "pred") for p in (d / sub).glob("*.png")])
        with tempfile.TemporaryDirectory(prefix="segm_validate_bench_") as tmp:
            cache = Path(tmp)
            rows = _rows(task, d, args.jobs, cache)
            _run(rows[1][1], 1)                       # fill the GT cache once
            results = []
            for label, cmd in rows:
                rec = _run(cmd, args.repeat)
                results.append((label, rec))
                print(f"[{task}] {label}: {rec['wall']:.2f} s (CPU {rec['cpu']:.2f} s)", file=sys.stderr, flush=True)
        cold, warm = results[0][1]["wall"], results[1][1]["wall"]
        what = (f"{n:,} COCO-like images (`benchmarks/datasets.py`, seed {args.seed}; GT + prediction PNGs "
                f"{nbytes / 2**20:.0f} MB, 133 categories)" if task == "panoptic" else
                f"{n:,} ADE20K-like images (`benchmarks/datasets.py`, seed {args.seed}; GT + prediction PNGs "
                f"{nbytes / 2**20:.0f} MB, 150 classes, preset ade20k)")
        lines = [f"### {task.capitalize()}: {what}", "",
                 f"| command (`-j {args.jobs}`) | best wall s | CPU s | x eval (no cache) | x eval (warm cache) |",
                 "|---|---:|---:|---:|---:|"]
        for label, rec in results:
            lines.append(f"| {label} | {rec['wall']:.2f} | {rec['cpu']:.2f} | {rec['wall'] / cold:.2f} | "
                         f"{rec['wall'] / warm:.2f} |")
        if task == "panoptic":
            ratio = results[2][1]["wall"] / cold
            lines += ["", f"Goal: validate (GT + predictions) under 2x eval on the same images: "
                          f"{ratio:.2f}x eval without GT cache, {results[2][1]['wall'] / warm:.2f}x eval with a warm "
                          f"GT cache: {'met' if ratio < 2 else 'NOT met'} (against the cold run, which reads the "
                          f"same files)."]
        sections += lines + [""]
    load_after = os.getloadavg()
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        rev = "unknown"
    head = [
        "## `segmetrics validate` against `segmetrics eval`",
        "",
        f"- command: `python benchmarks/bench_validate.py{''.join(' ' + a for a in (argv or sys.argv[1:]))}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; segmetrics at git {rev}",
        f"- machine: `nproc` = {os.cpu_count()}, CPU: {cpu_model()}; load average before the run "
        f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} (1 / 5 / 15 min), after "
        f"{load_after[0]:.2f}" + (" (a shared machine: ratios are more reliable than seconds)"
                                  if max(load_before[0], load_after[0]) > 1.5 else ""),
        f"- Python {platform.python_version()}",
        f"- method: each run is a fresh process, end to end (interpreter, imports, JSON, decoding, checks or "
        f"scores); best wall time of {args.repeat}, and the user + system CPU time of that run; page cache warm. "
        f"The warm-cache eval reads a GT cache filled by one earlier run.",
        "",
    ]
    text = "\n".join(head + sections)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
