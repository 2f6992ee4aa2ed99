"""Folder evaluation, segmetrics against the field, in one run, on two kinds of data.

Usage::

    python benchmarks/bench_folders.py [--images 500] [--repeat 3] [--only semantic|panoptic]
                                       [--data blobs|ragged|both] [--quick] [--out FILE]
                                       [--data-root DIR] [--seed 0] [--budget S] [--timeout S]

Generates (or reuses, cached under ``benchmarks/data/``) the sets and times
every tool on the same files:

- ``blobs`` (:mod:`datasets`): the ADE20K-like semantic set (``reduce_zero_label``)
  and the COCO-like panoptic set, smooth blob-shaped regions;
- ``ragged`` (:mod:`ragged`, an independent generator): ragged borders, many
  small regions, speckled predictions; semantic in the plain convention (150
  classes, 255 ignored) and COCO panoptic.

Each tool runs in its own fresh Python process (:mod:`harness`), so its peak
memory (``VmHWM``) is its own and its imports are timed apart from the
evaluation; the timed region is the best of ``--repeat`` evaluations in that
process (fewer when they pass ``--budget`` seconds), each one going from folder
/ JSON paths to the final numbers.  The page cache is warmed before the run, so
"cold" means "no GT cache", not "files on disk".

segmetrics rows come with 1 and 2 worker threads, without GT cache (cold),
filling an empty cache and with the cache filled by an earlier process (warm).
Peers: hotcoco (``RAYON_NUM_THREADS`` 1 and 2), vernier (``num_threads`` 1 and 2:
semantic ``evaluate_from_pngs``; panoptic the one-call ``evaluate`` on maps
decoded by its ``decode_label_map_png`` and its streaming background evaluator
fed PNG bytes), panopticapi-lite, numpy ``bincount`` and torchmetrics on Pillow
decoding, and decode-only floors.

Every tool's headline numbers are compared (to 1e-9), confusion matrices where
a tool exposes one, and every segmetrics variant is checked bit-identical (the
whole result dict) to the in-memory engine fed with Pillow-decoded arrays.  The
markdown section goes to ``benchmarks/results/folders.md`` (``--quick``:
``benchmarks/_work/``) and to stdout.  Exit status 1 when a tool fails or the
tools disagree.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness as H  # noqa: E402  (takes the tools' environment before the line below)
from machine_info import header, load  # noqa: E402

if __name__ == "__main__":  # the generators: one BLAS thread (many small matrix products)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

SETS = {  # data kind -> (semantic set, panoptic set) descriptions
    "blobs": ("ADE20K-like (`datasets.py`, blob regions), 150 classes, reduce_zero_label",
              "COCO-like (`datasets.py`, blob regions), 133 categories"),
    "ragged": ("ragged (`ragged.py`: warped cells, small regions, speckled predictions), 150 classes, 255 ignored",
               "ragged COCO-like (`ragged.py`), 133 categories"),
}


def semantic_rows(base: dict, cache_root: Path, peers: bool = True) -> list[dict]:
    """The rows of one semantic set (``base`` from :func:`harness.semantic_set`)."""
    rows = H.segmetrics_rows(base, str(cache_root / "semantic"))
    rows.append(dict(base, tool="seg_semantic_memory", jobs=1, cache="none", group="reference",
                     label="segmetrics SemanticEvaluator.update on Pillow-decoded arrays (in-memory engine)"))
    if not peers:
        return rows
    for j in (1, 2):
        rows.append(dict(base, tool="hotcoco_semantic", label="hotcoco SemanticEval.update_folders",
                         jobs=j, env={"RAYON_NUM_THREADS": str(j)}, group="hotcoco", full_only=j == 1))
    for j in (1, 2):
        rows.append(dict(base, tool="vernier_semantic", label="vernier Evaluator.evaluate_from_pngs",
                         jobs=j, group="vernier", full_only=j == 1))
    rows.append(dict(base, tool="numpy_bincount", jobs=1, group="peer", full_only=True,
                     label="numpy bincount + Pillow decoding (detectron2 / mmseg style)"))
    rows.append(dict(base, tool="torchmetrics", jobs=1, group="peer", env={"OMP_NUM_THREADS": "1"},
                     label="torchmetrics MulticlassConfusionMatrix + Pillow decoding"))
    rows += decode_rows(base)
    return rows


def panoptic_rows(base: dict, cache_root: Path, peers: bool = True, panopticapi: bool = True) -> list[dict]:
    """The rows of one panoptic set (``base`` from :func:`harness.panoptic_set`)."""
    rows = H.segmetrics_rows(base, str(cache_root / "panoptic"))
    rows.append(dict(base, tool="seg_panoptic", jobs=2, cache="none", group="segmetrics-extra",
                     with_semantic=False, full_only=True,
                     label="segmetrics folder evaluation, PQ only (with_semantic=False)"))
    rows.append(dict(base, tool="seg_panoptic_memory", jobs=1, cache="none", group="reference",
                     label="segmetrics PanopticEvaluator.update on Pillow-decoded arrays (in-memory engine)"))
    if not peers:
        return rows
    for j in (1, 2):
        rows.append(dict(base, tool="hotcoco_panoptic", label="hotcoco pq_compute", jobs=j,
                         env={"RAYON_NUM_THREADS": str(j)}, group="hotcoco", full_only=j == 1))
    for j in (1, 2):
        rows.append(dict(base, tool="vernier_panoptic", jobs=j, group="vernier", full_only=j == 1,
                         label="vernier Evaluator.evaluate (all maps decoded first)"))
    for j in (1, 2):
        rows.append(dict(base, tool="vernier_panoptic_stream", jobs=j, group="vernier", full_only=j == 1,
                         label="vernier background evaluator, submit_png (streaming)"))
    if panopticapi:
        rows.append(dict(base, tool="panopticapi", jobs=os.cpu_count() or 1, group="panopticapi",
                         label=f"panopticapi-lite pq_compute ({os.cpu_count()} worker processes)"))
    rows += decode_rows(base)
    return rows


def decode_rows(base: dict) -> list[dict]:
    return [dict(base, tool="decode", decoder=dec, jobs=j, group="floor", full_only=(dec, j) != ("pillow", 1)
                 and (dec, j) != ("segmetrics", 1),
                 label=f"decode only: {H.DECODERS[dec]}")
            for dec, j in (("segmetrics", 1), ("segmetrics", 2), ("pillow", 1), ("pillow", 2), ("pyspng", 1))]


def peer_best(rows, group: str, jobs: int):
    """The fastest row of a peer group with ``jobs`` threads (1 for single-threaded tools)."""
    cands = [r for r in rows if r["group"] == group and r.get("best") is not None and min(r.get("jobs", 1), 2) == jobs]
    return min(cands, key=lambda r: r["best"]) if cands else None


def section_table(rows: list[dict], n_images: int, mpx: float) -> list[str]:
    """The markdown table of one set's rows, with ratios to hotcoco / vernier / panopticapi."""
    papi = H.find(rows, "panopticapi")
    head = ("| tool | threads | GT cache | best s | runs | images/s | Mpx/s | CPU s | peak RSS MB | RSS growth MB "
            "| setup s | x hotcoco (same threads) | x vernier (same threads) |")
    sep = "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if papi:
        head += " x panopticapi |"
        sep += "---:|"
    lines = [head, sep]
    for r in rows:
        rec = r.get("rec", {})
        if r.get("best") is None:
            why = ("skipped: " + rec["skipped"]) if rec.get("skipped") else \
                "FAILED: " + (rec.get("error") or "no result").replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| {r['label']} | {r.get('jobs', '-')} | {H.cache_label(r)} | {why} |"
                         + " |" * (10 + bool(papi)))
            continue
        t = r["best"]
        j = min(r.get("jobs", 1), 2)
        ratios = []
        for group in ("hotcoco", "vernier"):
            p = peer_best(rows, group, j)
            ratios.append(f"{p['best'] / t:.2f}" if p else "-")
        rss = rec.get("rss_peak_kb")
        growth = None if rss is None else rss - rec.get("rss_setup_kb", 0)
        cpu = min(rec["cpu"]) if rec.get("cpu") else float("nan")
        extra = f" (+ largest worker {H.fmt_mb(rec.get('rss_children_kb'))})" if r["tool"] == "panopticapi" else ""
        line = (f"| {r['label']} | {r.get('jobs', '-')} | {H.cache_label(r)} | {t:.3f} | {len(rec['times'])} | "
                f"{n_images / t:.0f} | {mpx / t:.0f} | {cpu:.2f} | {H.fmt_mb(rss)}{extra} | {H.fmt_mb(growth)} | "
                f"{rec['setup_s']:.2f} | {ratios[0]} | {ratios[1]} |")
        if papi:
            line += f" {papi['best'] / t:.1f} |"
        lines.append(line)
    return lines + [""]


def goals_issue4(task: str, rows: list[dict]) -> list[str]:
    """Issue 4's goals (2 threads) judged on this run."""
    tool = f"seg_{task}"
    hot2 = H.find(rows, f"hotcoco_{task}", jobs=2)
    cold = H.find(rows, tool, jobs=2, cache="none", group="segmetrics")
    warm = H.find(rows, tool, jobs=2, cache="warm", group="segmetrics")
    papi = H.find(rows, "panopticapi")
    out = []

    def goal(name, ratio, target, higher=True):
        met = ratio >= target if higher else ratio <= target
        out.append(f"{name}: {ratio:.2f}x (goal {'>=' if higher else '<='} {target}x) -> "
                   f"**{'met' if met else 'NOT met'}**")

    if hot2 and cold:
        goal("cold throughput vs hotcoco", hot2["best"] / cold["best"], 1.5)
    if hot2 and warm:
        goal("warm GT cache throughput vs hotcoco", hot2["best"] / warm["best"], 3.0)
    if papi and cold:
        goal("cold throughput vs panopticapi", papi["best"] / cold["best"], 15.0)
    if papi and warm:
        goal("warm GT cache throughput vs panopticapi", papi["best"] / warm["best"], 15.0)
    if hot2 and cold and hot2["rec"].get("rss_peak_kb"):
        for r, what in ((cold, "cold"), (warm, "warm")):
            if r and r["rec"].get("rss_peak_kb"):
                goal(f"peak RSS ({what}) / hotcoco's", r["rec"]["rss_peak_kb"] / hot2["rec"]["rss_peak_kb"], 1.5,
                     higher=False)
    return out or ["not evaluated (a tool is missing)"]


def cache_note(rows: list[dict], gt_bytes: int) -> str | None:
    fill = next((r for r in rows if r.get("cache") == "fill" and r.get("rec", {}).get("times")), None)
    if fill is None:
        return None
    filled = Path(fill["cache_dir"]) / "fill00"
    files = [p for p in filled.rglob("*") if p.is_file()] if filled.exists() else []
    if not files:
        return ("**Note: this segmetrics version ignores `cache_dir`** (nothing was written to the cache "
                "folder), so the fill and warm rows measure the cold path.")
    size = sum(p.stat().st_size for p in files)
    return (f"GT cache after the first run: {len(files)} files, {size / 2**20:.1f} MB ({size / gt_bytes:.2f}x the "
            f"GT PNG files, {gt_bytes / 2**20:.1f} MB).")


def run_set(title: str, rows: list[dict], keys, args, repeat: int) -> tuple[list[str], bool]:
    """Run every row of one set; returns (markdown lines, failed or disagreed)."""
    base = rows[0]
    gts, preds = H.set_files(base)
    nbytes = H.warm_page_cache(gts + preds)
    if base["task"] == "semantic":
        H.warm_page_cache(sorted(Path(base["plain_gt_dir"]).glob("*.png")))
    mpx = sum(H.png_pixels(p) for p in gts) / 1e6
    n = len(gts)
    H.run_rows(rows, repeat=repeat, budget=args.budget, timeout=args.timeout, log_prefix=f"[{title}] ")
    failed = [r for r in rows if r["rec"].get("error")]
    checks = H.check_numbers(rows, keys) + [f"FAILED: {r['label']} (jobs={r.get('jobs')}, {H.cache_label(r)}): "
                                            f"{r['rec']['error'][:300]}" for r in failed]
    bad = bool(failed) or any(c.startswith("DISAGREE") for c in checks)
    note = cache_note(rows, sum(p.stat().st_size for p in gts))
    task = base["task"]
    lines = [f"### {title}: {n} images ({mpx:.0f} Mpx per side, GT + prediction PNGs {nbytes / 2**20:.1f} MB)", ""]
    lines += section_table(rows, n, mpx)
    if note:
        lines += [note, ""]
    lines += ["Checks:", ""] + [f"- {c}" for c in checks] + ["", "Goals of issue 4 (2 threads, this run):", ""]
    lines += [f"- {g}" for g in goals_issue4(task, rows)] + [""]
    return lines, bad


METHOD = (
    "- method: each run is a fresh Python process, the rows taken round-robin ({repeat} rounds; a row stops "
    "once its runs took {budget}); `best s` is the best of the row's `runs`, each going from paths to final numbers (listing, JSON loading, decoding, "
    "counting, metrics); `setup s` (imports) is not in it. `Mpx/s` counts label-map pixels (one GT and one "
    "prediction pixel each); decode floors decode both files of every pair. `CPU s` is the least user + system "
    "CPU time of one run (the process's threads and its worker processes). `peak RSS` is the process's peak "
    "resident memory (`VmHWM`), imports included; `RSS growth` is the peak minus the peak after the imports. "
    "`x hotcoco` / `x vernier` divide the peer's best time with the same thread count (1 for single-threaded "
    "tools; for vernier panoptic the faster of its two ways) by the row's; above 1 is faster than the peer.",
    "- thread counts: segmetrics `jobs=`, hotcoco `RAYON_NUM_THREADS`, vernier `num_threads=`, decode floors a "
    "thread pool; numpy, torchmetrics (`OMP_NUM_THREADS=1`) and the in-memory engine rows are single-threaded "
    "loops; panopticapi forks one worker per CPU.",
    "- semantic conventions: blobs (ADE20K-like) GT 0..150 with 0 = other, predictions 0..149: segmetrics and "
    "hotcoco with `reduce_zero_label`, numpy / torchmetrics reduce the GT by hand, vernier (no such rule) reads "
    "the predictions shifted to 1..150 with 151 classes and `ignore_label=0` (its matrix without row and column "
    "0 is compared); ragged: GT 0..149 and 255, predictions 0..149, read as stored by every tool.",
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="segmetrics folder evaluation vs hotcoco, vernier, panopticapi, "
                                             "numpy, torchmetrics and decode-only floors")
    ap.add_argument("--images", type=int, default=None, help="images per set (default 500; --quick: 60)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per tool, best kept (default 3; --quick: 1)")
    ap.add_argument("--budget", type=float, default=15.0,
                    help="stop repeating a tool once its runs took this many seconds (default 15)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 60 images, 1 repeat, output under benchmarks/_work/")
    ap.add_argument("--only", choices=["semantic", "panoptic"], default=None)
    ap.add_argument("--data", choices=["blobs", "ragged", "both"], default="both")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--data-root", type=Path, default=None, help="where the generated sets are cached "
                                                                 "(default benchmarks/data)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per tool process")
    args = ap.parse_args(argv)

    from datasets import ade20k_like_dir, ade20k_pred_1based, coco_panoptic_dir
    from ragged import ragged_panoptic_dir, ragged_semantic_dir

    n = args.images or (60 if args.quick else 500)
    repeat = args.repeat or (1 if args.quick else 3)
    out_file = args.out or (HERE / "_work" / "folders_quick.md" if args.quick else HERE / "results" / "folders.md")
    tasks = [args.only] if args.only else ["semantic", "panoptic"]
    kinds = ["blobs", "ragged"] if args.data == "both" else [args.data]
    cmd = "python benchmarks/bench_folders.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    t_gen = time.perf_counter()
    sets = []  # (title, task, base)
    for kind in kinds:
        for task in tasks:
            if task == "semantic":
                d = ade20k_like_dir(n, args.seed, root=args.data_root) if kind == "blobs" else \
                    ragged_semantic_dir(n, args.seed, root=args.data_root)
                if kind == "blobs":
                    ade20k_pred_1based(d)
                base = H.semantic_set("ade20k" if kind == "blobs" else "plain", d)
            else:
                d = coco_panoptic_dir(n, args.seed, root=args.data_root) if kind == "blobs" else \
                    ragged_panoptic_dir(n, args.seed, root=args.data_root)
                base = H.panoptic_set(d)
            sets.append((f"{task.capitalize()}, {kind}: {SETS[kind][task == 'panoptic']}", task, base))
    t_gen = time.perf_counter() - t_gen
    load_before = load()
    started = _dt.datetime.now(_dt.timezone.utc)
    body, bad = [], False
    with tempfile.TemporaryDirectory(prefix="segm_gtcache_") as cache_tmp:
        for k, (title, task, base) in enumerate(sets):
            cache_root = Path(cache_tmp) / str(k)
            rows = semantic_rows(base, cache_root) if task == "semantic" else panoptic_rows(base, cache_root)
            if args.quick:
                rows = [r for r in rows if not r.get("full_only")]
            lines, failed = run_set(title, rows, H.SEM_KEYS if task == "semantic" else H.PAN_KEYS, args, repeat)
            body += lines
            bad |= failed
    load_after = load()
    try:
        sys.path.insert(0, str(H.ROOT))
        from segmetrics.io.png import inflate_backend

        backend = inflate_backend()
    except Exception:  # the decoder may not be built
        backend = "unknown"
    lines = header("Folder evaluation: segmetrics against the field (one run)", cmd, started, load_before,
                   load_after, ("numpy", "pillow", "hotcoco", "vernier", "panopticapi-lite", "torch",
                                "torchmetrics", "pyspng"))
    lines += [f"- PNG inflate backend of segmetrics: {backend}; data generated or reused in {t_gen:.1f} s "
              f"(seed {args.seed}); page cache warm"]
    lines += [m.format(repeat=repeat, budget=f"{args.budget:g} s") for m in METHOD] + [""] + body
    return H.finish("\n".join(lines), out_file, bad)


if __name__ == "__main__":
    raise SystemExit(main())
