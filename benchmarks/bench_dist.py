"""Scaling out (issue 14): local threads against Dask workers, and merging 1,000 shard states.

Usage::

    python benchmarks/bench_dist.py [--images 5000] [--repeat 3] [--shards 1000] [--data-root DIR] [--out FILE]

On the cached COCO-like panoptic set of :mod:`datasets` (``coco_panoptic_dir(5000, 0)``) it
times, in one process with the page cache warm and no GT cache, every layout in turn within each
round (so that load from other jobs falls on all of them alike):

* the local folder API, 1 and 2 threads (``segmetrics.evaluate_panoptic_folders(jobs=...)``);
* ``segmetrics.dask.evaluate_panoptic_folders`` on a ``distributed.LocalCluster`` of 1 worker
  process x 2 threads and of 2 worker processes x 1 thread (both clusters started once and kept
  up, their start-up time stated apart; default chunk size, one pipeline thread per task);

best wall time of ``--repeat`` runs each, every result checked bit for bit against the local
one.  Then it writes ``--shards`` shard states of the same set (``--shard I/N`` runs through
the library, kept under ``benchmarks/data``) and times ``segmetrics.merge_states`` on all of
them in this process (best of ``--repeat``) and ``segmetrics merge`` as a fresh process.  The
markdown section goes to ``benchmarks/results/dist.md`` and to stdout.  Run it through
``/work/coord/quiet`` on a shared machine.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import pickle
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
from datasets import DATA_ROOT, coco_panoptic_dir
from machine_info import cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import segmetrics as sm  # noqa: E402
import segmetrics.dask as smd  # noqa: E402
from segmetrics.folders import plan_panoptic_run  # noqa: E402
from segmetrics.report import json_ready  # noqa: E402


def _warm(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        if p.is_file():
            total += len(p.read_bytes())
    return total


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, out


def _worker_pids(client) -> list:
    """The process ids of a client's workers (a LocalCluster's processes)."""
    return list(client.run(os.getpid).values())


def _same(a, b) -> bool:
    return json_ready(a.to_report()) == json_ready(b.to_report())


def _shard_states(d: Path, n_shards: int, out: Path) -> list[Path]:
    """``n_shards`` state files of the set, as ``segmetrics eval --shard I/N --save-state`` writes them."""
    paths = [out / f"part-{i:04d}.smstate" for i in range(n_shards)]
    if all(p.exists() for p in paths) and (out / "done").exists():
        return paths
    out.mkdir(parents=True, exist_ok=True)
    run = plan_panoptic_run(d / "gt.json", d / "pred.json", per_image=True)
    for i, path in enumerate(paths):
        part = run.shard(i, n_shards)
        state, digests = part.count(part.items, jobs=1)
        part.result(state, [it[0] for it in part.items], digests).save_state(path)
    (out / "done").write_text("ok")
    return paths


def _merge_model(states: int, images: int, matches: int, k: int = 133, seed: int = 0) -> tuple[float, float, int]:
    """The merge at scale, measured on synthetic states (no per-image rows, as a 1 M-image Dask run
    keeps them): ``states`` states of ``images`` images and ``matches`` matches per image each, merged
    by a tree of fan-in ``segmetrics.dask.FAN_IN`` in one process, then the result's IoU sums.
    Returns (merge seconds, result seconds, bytes of one state's arrays)."""
    import numpy as np

    from segmetrics.state import PanopticState

    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(states):
        m = images * matches
        arrays = {"num_images": np.int64(images), "tp": rng.integers(0, 50, k), "fp": rng.integers(0, 50, k),
                  "fn": rng.integers(0, 50, k), "confusion": rng.integers(0, 10 ** 6, (k + 1, k + 1)),
                  "match_cat": rng.integers(0, k, m), "match_iou": 0.5 + rng.random(m) / 2}
        parts.append(PanopticState.from_arrays(k, arrays))
    size = sum(np.asarray(a).nbytes for a in parts[0].to_arrays().values() if hasattr(a, "nbytes"))
    t = time.perf_counter()
    level = parts
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), smd.FAN_IN):
            head = level[i]
            for other in level[i + 1:i + smd.FAN_IN]:
                head.merge(other)
            nxt.append(head)
        level = nxt
    merged = time.perf_counter() - t
    t = time.perf_counter()
    level[0].iou_sum()  # canonical order (one sort of every match) and the correctly rounded sums
    return merged, time.perf_counter() - t, size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shards", type=int, default=1000)
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "dist.md")
    ap.add_argument("--model-states", type=int, default=100, help="synthetic states merged for the scale model")
    ap.add_argument("--model-images", type=int, default=10000, help="images per synthetic state")
    args = ap.parse_args(argv)
    from distributed import Client, LocalCluster

    warnings.simplefilter("ignore")
    d = coco_panoptic_dir(args.images, 0, root=args.data_root)
    shard_dir = DATA_ROOT / f"dist_shards_{args.images}_{args.shards}"
    shard_paths = _shard_states(d, args.shards, shard_dir)  # made once, before anything is timed
    size = _warm(d)
    load_before = os.getloadavg()
    started = _dt.datetime.now(_dt.timezone.utc)
    gt, pred = d / "gt.json", d / "pred.json"
    # every layout is timed in turn within each round, so that load from other jobs on a shared
    # machine falls on all of them alike; the clusters stay up (idle) between their turns
    layouts = [("local", 1, 1), ("local", 1, 2), ("dask", 1, 2), ("dask", 2, 1)]
    clusters, starts, runs = {}, {}, {}
    try:
        for kind, workers, threads in layouts:
            if kind == "dask":
                t0 = time.perf_counter()
                cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                       dashboard_address=":0")
                clusters[workers, threads] = (cluster, Client(cluster))
                starts[workers, threads] = time.perf_counter() - t0

        def evaluate(kind, workers, threads):
            if kind == "local":
                return sm.evaluate_panoptic_folders(gt, pred, jobs=threads)
            return smd.evaluate_panoptic_folders(gt, pred, client=clusters[workers, threads][1])

        for layout in layouts:
            evaluate(*layout)  # warm-up: imports, JSON, the workers' imports
        workers_of = {key: [psutil.Process(p) for p in _worker_pids(client)] for key, (_, client) in clusters.items()}
        best, cpu = {}, {}
        for _ in range(args.repeat):
            for layout in layouts:
                procs = workers_of.get(layout[1:], []) if layout[0] == "dask" else []
                c0 = time.process_time() + sum(sum(p.cpu_times()[:2]) for p in procs)
                t = time.perf_counter()
                runs[layout] = evaluate(*layout)
                dt = time.perf_counter() - t
                used = time.process_time() + sum(sum(p.cpu_times()[:2]) for p in procs) - c0
                if dt < best.get(layout, float("inf")):
                    best[layout], cpu[layout] = dt, used
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    ref = runs[layouts[0]]
    rows = []
    for layout in layouts:
        kind, workers, threads = layout
        if kind == "local":
            label = f"local folder API, {threads} thread{'s' * (threads > 1)}"
        else:
            chunk = smd.default_chunk_size(args.images, workers * threads)
            label = (f"Dask LocalCluster {workers} worker{'s' * (workers > 1)} x {threads} thread"
                     f"{'s' * (threads > 1)} ({-(-args.images // chunk)} tasks of {chunk} images)")
        rows.append((label, best[layout], starts.get((workers, threads)) if kind == "dask" else None,
                     _same(runs[layout], ref), cpu[layout]))
    local2 = rows[1][1]
    plan_t, run = _best(lambda: plan_panoptic_run(gt, pred), args.repeat)
    size_chunk = smd.default_chunk_size(args.images, 2)
    chunks = [run.items[i:i + size_chunk] for i in range(0, len(run.items), size_chunk)]
    payload_t, payload = _best(lambda: sum(len(pickle.dumps((run.count.part(ch), ch), protocol=5)) for ch in chunks),
                               args.repeat)
    merge_t, merged = _best(lambda: sm.merge_states(shard_paths), args.repeat)
    full = sm.evaluate_panoptic_folders(gt, pred, per_image=True, jobs=2)
    merged_ok = _same(merged, full)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "segmetrics", "merge", *map(str, shard_paths), "-o",
                    str(shard_dir / "merged.smstate"), "-q"], cwd=ROOT, check=True)
    merge_cli = time.perf_counter() - t
    matches_per_image = int(round(len(full.state.match_cat) / max(1, full.num_images)))
    model = _merge_model(args.model_states, args.model_images, matches_per_image)
    load_after = os.getloadavg()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    shared = load_before[0] > 1.5 or load_after[0] > 2.5
    lines = [
        "## Scaling out: Dask workers against local threads, merging shard states",
        "",
        f"- command: `python benchmarks/bench_dist.py{''.join(' ' + a for a in (argv or sys.argv[1:]))}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; segmetrics at git {rev}",
        f"- machine: `nproc` = {os.cpu_count()}, CPU: {cpu_model()}; load average before the run "
        f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} (1 / 5 / 15 min), after "
        f"{load_after[0]:.2f}" + (" (a shared machine: ratios are more reliable than seconds)" if shared else ""),
        f"- Python {platform.python_version()}; dask {__import__('dask').__version__}, "
        f"distributed {__import__('distributed').__version__}",
        f"- data: {args.images:,} COCO-like panoptic images (`benchmarks/datasets.py`, seed 0; GT + prediction "
        f"files {size / 1e6:.0f} MB, page cache warm), no GT cache, no per-image rows; best wall time of "
        f"{args.repeat} rounds in one process after a warm-up round, each round timing every layout in turn "
        "(both clusters up, idle while the others run); every result equal to the local one, bit for bit",
        "",
        "| how | best wall s | images / s | x local 2 threads | CPU s, all processes | CPU ms per image | "
        "cluster start s | same result |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, t, start, same, used in rows:
        lines.append(f"| {label} | {t:.2f} | {args.images / t:,.0f} | {t / local2:.2f} | {used:.2f} | "
                     f"{used / args.images * 1e3:.3f} | {'' if start is None else f'{start:.1f}'} | "
                     f"{'yes' if same else 'NO'} |")
    dask_rows = rows[2:]
    lines += [
        "",
        f"Overhead of Dask over the local run with the same 2 threads: "
        + ", ".join(f"{(t / local2 - 1) * 100:+.0f}% ({label.split(' (')[0].replace('Dask LocalCluster ', '')})"
                    for label, t, _, _, _ in dask_rows)
        + "; in CPU time (client, scheduler and workers, which no load from other jobs inflates): "
        + ", ".join(f"{(used / rows[0][4] - 1) * 100:+.0f}%" for _, _, _, _, used in dask_rows)
        + " over the local 1-thread run's CPU time"
        + f". Per-image cost (local, 1 thread): {rows[0][1] / args.images * 1e3:.3f} ms wall, "
        f"{rows[0][4] / args.images * 1e3:.3f} ms CPU. On the client, "
        f"before any task runs: planning (both JSONs read and checked, pairing) {plan_t:.2f} s "
        f"({plan_t / args.images * 1e3:.3f} ms per image), the tasks' payloads (annotations and flat segment "
        f"columns, pickled) {payload_t:.2f} s for {payload / 1e6:.0f} MB ({payload_t / args.images * 1e3:.3f} ms "
        f"per image).",
        "",
        f"Merging {args.shards:,} shard states (`--shard I/{args.shards}` runs of the same set, per-image rows and "
        f"digests kept, {sum(p.stat().st_size for p in shard_paths) / 1e6:.1f} MB of state files): "
        f"`segmetrics.merge_states` {merge_t:.2f} s (best of {args.repeat}, "
        f"{merge_t / args.shards * 1e3:.2f} ms per state, read + checks + merge), `segmetrics merge ... -o` as a "
        f"fresh process {merge_cli:.2f} s (interpreter, imports and writing the merged file included); merged "
        f"result equal to the unsharded run: {'yes' if merged_ok else 'NO'}.",
        "",
        f"Merge at scale (synthetic states without per-image rows, {matches_per_image} matches per image as in "
        f"this set, 133 categories): {args.model_states} states of {args.model_images:,} images "
        f"({model[2] / 1e6:.1f} MB of arrays each) merged by a tree of fan-in {smd.FAN_IN} in one process in "
        f"{model[0]:.2f} s, then the IoU sums of all {args.model_states * args.model_images * matches_per_image:,} "
        f"matches (one sort, correctly rounded sums) in {model[1]:.2f} s.",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0 if all(r[3] for r in rows) and merged_ok else 1


if __name__ == "__main__":
    sys.exit(main())
