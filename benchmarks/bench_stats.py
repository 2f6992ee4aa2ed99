"""Speed and memory of the statistics engine (issue 12): bootstrap intervals and paired tests.

Generates realistic per-image counts directly (no images): COCO-panoptic-like
(5,000 images x 133 categories, 80 things; a few thing categories with several
instances and a few stuff categories per image, Zipf-like category frequencies)
and ADE20K-like (2,000 images x 150 classes, ~10 classes per 512x512 image,
pixel counts from a Dirichlet split, misclassified pixels spread over present
and a few absent classes).  The "new" run is the base run perturbed image by
image.  Each case times, best of ``--repeat``:

* ``bootstrap``: :func:`segmetrics.stats.bootstrap` of one run (percentile);
* ``compare``: :func:`segmetrics.stats.compare` of base vs new - intervals of
  base, new and the delta (paired bootstrap) and the randomization test, for
  every headline metric and every per-class value;
* ``compare (BCa)``: the same with BCa intervals.

Peak memory is the tracemalloc peak of one call: the most memory its own
allocations held at once (numpy registers its buffers with tracemalloc); the
process's maximum RSS (interpreter, generated counts and all calls) is given
once.

Usage::

    python benchmarks/bench_stats.py [--resamples 2000] [--repeat 3] [--out benchmarks/results/stats.md]
"""
from __future__ import annotations

import argparse
import datetime
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from machine_info import cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segmetrics import stats  # noqa: E402


def coco_like(n: int = 5000, k: int = 133, things: int = 80, seed: int = 0):
    """Per-image tp, fp, fn, iou_sum (N, K) of a base and a slightly better new run, and isthing."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, k + 1) ** 0.8
    isthing = np.arange(k) < things
    rng.shuffle(isthing)
    gt = np.zeros((n, k), np.int64)
    for flag, n_present in ((True, 3), (False, 5)):
        cats = np.flatnonzero(isthing == flag)
        p = freq[cats] / freq[cats].sum()
        for i in range(n):
            chosen = rng.choice(cats, size=min(cats.size, 1 + rng.poisson(n_present - 1)), replace=False, p=p)
            gt[i, chosen] = 1 + (rng.poisson(2.0, chosen.size) if flag else 0)

    def run(recall: float, spurious: float, quality: float, rs: np.random.Generator):
        tp = rs.binomial(gt, recall)
        fn = gt - tp
        fp = rs.poisson(spurious * (gt > 0) + 0.02)  # mostly where the category is, sometimes elsewhere
        iou = tp * rs.uniform(quality - 0.1, quality + 0.1, gt.shape)
        return tp, fp, fn, np.minimum(iou, tp)

    base = run(0.62, 0.6, 0.78, np.random.default_rng(seed + 1))
    new = run(0.63, 0.58, 0.785, np.random.default_rng(seed + 2))
    return base, new, isthing


def ade_like(n: int = 2000, k: int = 150, seed: int = 0):
    """Per-image tp, fp, fn (N, K) pixel counts of a base and a new run."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, k + 1) ** 1.1
    freq /= freq.sum()
    gt = np.zeros((n, k), np.int64)
    for i in range(n):
        chosen = rng.choice(k, size=min(k, 2 + rng.poisson(8)), replace=False, p=freq)
        gt[i, chosen] = rng.multinomial(512 * 512, rng.dirichlet(np.full(chosen.size, 0.7)))

    def run(acc: float, rs: np.random.Generator):
        tp = rs.binomial(gt, np.clip(rs.beta(8 * acc, 8 * (1 - acc), gt.shape), 0, 1))
        fn = gt - tp
        fp = np.zeros_like(gt)
        for i in range(n):  # every missed pixel is a false positive of a present or a random class
            present = np.flatnonzero(gt[i])
            targets = np.concatenate([present, rs.choice(k, 2, replace=False)])
            fp[i, targets] += rs.multinomial(int(fn[i].sum()), rs.dirichlet(np.ones(targets.size)))
        return tp, fp, fn

    return run(0.75, np.random.default_rng(seed + 1)), run(0.755, np.random.default_rng(seed + 2))


def measure(fn, repeat: int):
    """(best seconds, tracemalloc peak MB) of ``fn()``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--coco-images", type=int, default=5000)
    ap.add_argument("--ade-images", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown section here")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    t0 = time.perf_counter()
    (pb, pn, isthing) = coco_like(args.coco_images)
    coco = (stats.PanopticCounts(*pb, isthing), stats.PanopticCounts(*pn, isthing))
    ab, an = ade_like(args.ade_images)
    ade = (stats.SemanticCounts(*ab), stats.SemanticCounts(*an))
    gen_s = time.perf_counter() - t0
    load = os.getloadavg()[0]
    r = args.resamples
    rows = []
    for name, (base, new) in ((f"COCO-panoptic-like, {base_n(coco)} images x 133 categories", coco),
                              (f"ADE20K-like, {base_n(ade)} images x 150 classes", ade)):
        cases = [
            ("bootstrap (percentile), one run", lambda b=base: stats.bootstrap(b, resamples=r)),
            ("compare: intervals base/new/delta + randomization test", lambda b=base, n=new: stats.compare(
                b, n, resamples=r)),
            ("compare, BCa intervals", lambda b=base, n=new: stats.compare(b, n, resamples=r, method="bca")),
        ]
        for label, fn in cases:
            sec, peak = measure(fn, args.repeat)
            rows.append((name, label, sec, peak))
            print(f"{name} | {label}: {sec:.3f} s, tracemalloc peak {peak:.0f} MB", flush=True)
        c = stats.compare(base, new, resamples=r)
        key = base.primary
        print(f"  {key}: base {c.base[key]:.4f} new {c.new[key]:.4f} delta {c.delta[key]:+.4f} "
              f"[{c.low[key]:+.4f}, {c.high[key]:+.4f}] p={c.p_value[key]:.4f}", flush=True)
    load_end = os.getloadavg()[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MB; load average {load:.2f} at start, {load_end:.2f} at end", flush=True)
    if args.out:
        write(args, rows, load, load_end, gen_s, rss)
    return 0


def base_n(pair) -> str:
    return f"{pair[0].num_images:,}"


def write(args, rows, load: float, load_end: float, gen_s: float, rss: float) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Statistics engine (`benchmarks/bench_stats.py`)",
        "",
        f"Command: `python benchmarks/bench_stats.py {' '.join(args.argv)}`  ",
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}; numpy {np.__version__}. Date: {now}.  ",
        f"Load average (1 min) at start {load:.2f}, at end {load_end:.2f}. Best of {args.repeat} calls; "
        f"{args.resamples} resamples (and {args.resamples} random swap patterns for the randomization test); "
        f"every headline metric and every per-class value. Generating the counts took {gen_s:.1f} s (not timed).",
        "",
        "| data | call | seconds | peak memory of the call (MB, tracemalloc) |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {d} | {c} | {s:.3f} | {p:.0f} |" for d, c, s, p in rows]
    lines += ["", f"Process maximum RSS over the whole run (interpreter, numpy, generated counts, every call): "
              f"{rss:.0f} MB.", "", "Goal (issue 12): interval + paired test for every headline metric under 2 s on 2 cores, "
              "for each data set (the `compare` rows).", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
