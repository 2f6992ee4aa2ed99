"""End-to-end panoptic quality timing: segmetrics vs panopticapi(-lite) vs hotcoco, one run.

Usage::

    python benchmarks/bench_panoptic.py [--images 500] [--seed 0] [--jobs 2] [--data DIR] [--out FILE]

Generates (once, cached under ``benchmarks/data/``) the synthetic COCO-like set
of :func:`benchmarks.datasets.make_coco_panoptic`, times each tool on the same
files in the same process run, checks that the PQ numbers agree, and writes a
markdown section to ``benchmarks/results/panoptic.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from datasets import make_coco_panoptic  # noqa: E402


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="panoptic quality benchmark")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "panoptic.md")
    args = ap.parse_args(argv)

    import segmetrics
    from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png

    data = args.data or HERE / "data" / f"coco_panoptic_{args.images}_s{args.seed}"
    gt_json, pred_json = data / "gt.json", data / "pred.json"
    if not (gt_json.exists() and pred_json.exists()):
        make_coco_panoptic(data, n_images=args.images, seed=args.seed)
    # warm the page cache so that every tool reads from memory
    for p in sorted((data / "gt").glob("*.png")) + sorted((data / "pred").glob("*.png")):
        p.read_bytes()

    rows = []
    t_ours, ours = _timed(lambda: segmetrics.panoptic_quality(gt_json, pred_json, jobs=args.jobs))
    rows.append((f"segmetrics panoptic_quality (jobs={args.jobs})", t_ours, ours.metrics["PQ"]))
    t_ours1, ours1 = _timed(lambda: segmetrics.panoptic_quality(gt_json, pred_json, jobs=1))
    rows.append(("segmetrics panoptic_quality (jobs=1)", t_ours1, ours1.metrics["PQ"]))

    try:  # preview of the fast-decoder issue: the same pipeline with pyspng behind read_id_png
        import pyspng

        import segmetrics.panoptic as sp

        def _spng(path):
            with open(path, "rb") as f:
                return pyspng.load(f.read())

        saved, sp.read_id_png = sp.read_id_png, _spng
        try:
            t_sp, sp_res = _timed(lambda: segmetrics.panoptic_quality(gt_json, pred_json, jobs=args.jobs))
        finally:
            sp.read_id_png = saved
        rows.append((f"segmetrics, pyspng decoding (jobs={args.jobs}; preview, not the default)", t_sp,
                     sp_res.metrics["PQ"]))
    except ImportError:
        pass

    from panopticapi.evaluation import pq_compute as papi_pq

    with contextlib.redirect_stdout(io.StringIO()):
        t_papi, papi = _timed(lambda: papi_pq(str(gt_json), str(pred_json)))
    rows.append((f"panopticapi pq_compute ({os.cpu_count()} processes)", t_papi, float(papi["All"]["pq"])))

    from hotcoco import panoptic as hc

    with contextlib.redirect_stdout(io.StringIO()):
        t_hc, hcres = _timed(lambda: hc.pq_compute(str(gt_json), str(pred_json)))
    rows.append(("hotcoco pq_compute", t_hc, float(hcres["All"]["pq"])))

    # where segmetrics spends its time (one thread): PNG decoding vs the compiled pass
    gt_ds = load_panoptic_json(gt_json, require_categories=True)
    pr_ds = load_panoptic_json(pred_json)
    ids = list(gt_ds.annotations)
    t_dec, decoded = _timed(lambda: [(read_id_png(gt_ds.png_path(i)), read_id_png(pr_ds.png_path(i))) for i in ids])
    ev = segmetrics.PanopticEvaluator(gt_ds.categories)

    def kernel_only():
        for i, (g, p) in zip(ids, decoded):
            ev.add(ev.evaluate_image(g, gt_ds.annotations[i]["segments_info"], p,
                                     pr_ds.annotations[i]["segments_info"], image_id=i))
        return ev.compute()

    t_kernel, _ = _timed(kernel_only)

    agree = max(abs(r[2] - rows[0][2]) for r in rows)
    n = len(ids)
    lines = [
        "## Panoptic quality, end to end (JSON + PNG folders -> PQ)",
        "",
        f"- command: `python benchmarks/bench_panoptic.py --images {args.images} --seed {args.seed} --jobs {args.jobs}`",
        f"- machine: `nproc` = {os.cpu_count()}, CPU: {_cpu_model()}; shared with other jobs while measured, "
        "so compare the ratios (all measured in this one run), not the absolute times",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- data: `make_coco_panoptic(n_images={args.images}, seed={args.seed})`, 640 x 360-480, "
        f"{np.mean([len(a['segments_info']) for a in gt_ds.annotations.values()]):.1f} GT segments per image, "
        "RGB PNGs of about 10 kB (page cache warm)",
        f"- all tools agree on PQ to {agree:.1e} (PQ = {rows[0][2]:.6f})",
        "",
        "| tool | seconds | ms / image | speed-up of segmetrics (jobs=%d) |" % args.jobs,
        "|---|---:|---:|---:|",
    ]
    for name, t, _ in rows:
        lines.append(f"| {name} | {t:.2f} | {1000 * t / n:.2f} | {t / t_ours:.1f}x |")
    lines += [
        "",
        "segmetrics breakdown, one thread:",
        f"PNG decoding with Pillow (GT + prediction) {t_dec:.2f} s ({1000 * t_dec / n:.2f} ms / image); "
        f"compiled pass + matching + state {t_kernel:.2f} s ({1000 * t_kernel / n:.2f} ms / image). "
        "Decoding dominates: the fast PNG decoder of a later issue plugs in behind `read_id_png`.",
        "",
        f"Goal of issue 3 (>= 10x panopticapi on 2 cores, end to end): "
        f"{'met' if t_papi / t_ours >= 10 else 'not met with Pillow decoding'} "
        f"({t_papi / t_ours:.1f}x here). Without decoding, segmetrics' per-image work "
        f"({1000 * t_kernel / n:.2f} ms on one thread) is {t_papi / t_kernel:.0f}x shorter than "
        f"panopticapi's wall time on {os.cpu_count()} processes.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    if agree > 1e-9:
        print("ERROR: the tools disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
