"""COCO-val scale: in process and as whole processes, segmetrics vs hotcoco vs vernier.

Usage::

    python benchmarks/bench_scale.py [--panoptic 5000] [--semantic 2000] [--cityscapes 500]
                                     [--only panoptic|semantic|cityscapes ...] [--repeat 2]
                                     [--budget 20] [--cli-repeat 3] [--quick] [--out FILE]
                                     [--data-root DIR] [--seed 0] [--timeout 900]

Sets (cached under ``benchmarks/data/``): ``--panoptic`` COCO-like panoptic
images of :mod:`datasets` (the size of COCO val2017), ``--semantic``
ADE20K-like images (the size of ADE20K val) and ``--cityscapes`` Cityscapes-like
1024 x 2048 images of :mod:`ragged` (the size of Cityscapes val), scored by
segmetrics with its ``cityscapes`` preset (label ids mapped in the count).

For each set, in this order:

1. **in process** (:mod:`harness`: one fresh interpreter per tool, imports not
   timed, best of ``--repeat`` runs within ``--budget`` s): segmetrics with 1 and 2
   threads cold (no GT cache), filling an empty cache, and warm; hotcoco and
   vernier with 1 and 2 threads (vernier panoptic: its streaming background
   evaluator; its one-call ``evaluate`` too when all decoded maps fit in half the
   available memory); 1 -> 2 thread scaling of each tool.
2. **memory in the number of images**: the 2-thread cold rows again on the
   first tenth of the set; the growth of each process's peak RSS over its
   post-import peak at n/10 and n images (per size the least over the rounds).
   Each child waits for its other threads to go idle before its timed run
   (``harness.settle``: OpenBLAS's threads spin after ``import numpy``).
3. **whole process**: ``python -m segmetrics eval`` (cold with ``--no-cache``,
   warm with a filled ``--cache-dir``), the console-script entry point
   (``segmetrics.cli:main`` from ``python -c``, what the installed ``segmetrics``
   script runs), and hotcoco's ``coco panoptic eval`` / ``coco semantic eval``,
   2 threads, best of ``--cli-repeat`` fresh processes: wall, CPU, peak RSS
   (GNU time).  vernier has no command installed here.

Numbers are checked: every tool's headline numbers to 1e-9 against segmetrics
(the CLIs' JSON output too), confusion matrices where a tool exposes one, and
the segmetrics rows bit for bit among themselves.  The section ends with issue
17's goals judged on this run.  Output: ``benchmarks/results/scale.md``
(``--quick``: ``benchmarks/_work/scale_quick.md``).  Exit status 1 when a tool
fails or the tools disagree.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness as H  # noqa: E402
from machine_info import header, load  # noqa: E402

if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

COCO_BIN = Path(sys.executable).parent / "coco"  # hotcoco's console script, without a pyenv shim


# ----------------------------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------------------------

def inprocess_rows(base: dict, cache_root: Path, vernier_one_call: bool) -> list[dict]:
    task = base["task"]
    rows = H.segmetrics_rows(base, str(cache_root))
    hot = "hotcoco pq_compute" if task == "panoptic" else "hotcoco SemanticEval.update_folders"
    rows += [dict(base, tool=f"hotcoco_{task}", label=hot, jobs=j, env={"RAYON_NUM_THREADS": str(j)},
                  group="hotcoco") for j in (1, 2)]
    if task == "panoptic":
        rows += [dict(base, tool="vernier_panoptic_stream", jobs=j, group="vernier",
                      label="vernier background evaluator, submit_png (streaming)") for j in (1, 2)]
        if vernier_one_call:
            rows.append(dict(base, tool="vernier_panoptic", jobs=2, group="vernier",
                             label="vernier Evaluator.evaluate (all maps decoded first)"))
    else:
        rows += [dict(base, tool="vernier_semantic", jobs=j, group="vernier",
                      label="vernier Evaluator.evaluate_from_pngs") for j in (1, 2)]
    return rows


def flat_rows(base_small: dict) -> list[dict]:
    """The 2-thread cold rows of each tool on the small subset (memory against n)."""
    task = base_small["task"]
    v = "vernier_panoptic_stream" if task == "panoptic" else "vernier_semantic"
    return [dict(base_small, tool=f"seg_{task}", label="segmetrics", jobs=2, cache="none", group="segmetrics"),
            dict(base_small, tool=f"hotcoco_{task}", label="hotcoco", jobs=2, env={"RAYON_NUM_THREADS": "2"},
                 group="hotcoco"),
            dict(base_small, tool=v, label="vernier", jobs=2, group="vernier")]


def cli_commands(base: dict, cache_dir: Path) -> list[tuple[str, list, dict, str]]:
    """(label, command, env, parser) of the whole-process rows; parser: how to read its JSON."""
    py = sys.executable
    if base["task"] == "panoptic":
        args = ["eval", "--gt", base["gt_json"], "--pred", base["pred_json"], "-q", "-j", "2", "--json", "-"]
        hot = [str(COCO_BIN), "panoptic", "eval", "--gt", base["gt_json"], "--pred", base["pred_json"],
               "--gt-folder", base["gt_folder"], "--pred-folder", base["pred_folder"], "--json"]
        hot_parse = "hotcoco_panoptic"
    else:
        args = ["eval", "--gt", base["gt_dir"], "--pred", base["pred_dir"], "-q", "-j", "2", "--json", "-"]
        if base["conv"] == "ade20k":
            args += ["--preset", "ade20k", "--no-pred-reduce-zero-label"]
        elif base["conv"] == "cityscapes":
            args += ["--preset", "cityscapes"]
        else:
            args += ["--num-classes", str(base["num_classes"])]
        hot = [str(COCO_BIN), "semantic", "eval", "--gt", base["plain_gt_dir"], "--pred", base["pred_dir"],
               "--classes", str(base["num_classes"]), "--json"]
        if base["conv"] == "ade20k":
            hot.append("--reduce-zero-label")
        hot_parse = "hotcoco_semantic"
    console = [py, "-c", "import sys; from segmetrics.cli import main; sys.argv[0] = 'segmetrics'; sys.exit(main())"]
    rayon = {"RAYON_NUM_THREADS": "2"}
    return [
        ("`python -m segmetrics eval`, cold (`--no-cache`)", [py, "-m", "segmetrics"] + args + ["--no-cache"], {},
         "segmetrics"),
        ("`python -m segmetrics eval`, warm (`--cache-dir`, filled)",
         [py, "-m", "segmetrics"] + args + ["--cache-dir", str(cache_dir)], {}, "segmetrics"),
        ("console script `segmetrics eval` (entry point `segmetrics.cli:main`), cold", console + args + ["--no-cache"],
         {}, "segmetrics"),
        (f"hotcoco `coco {base['task']} eval --json`", hot, rayon, hot_parse),
    ]


def parse_cli(kind: str, stdout: str, keys) -> dict:
    data = json.loads(stdout)
    if kind == "segmetrics":
        return {k: float(data["metrics"][k]) for k in keys}
    if kind == "hotcoco_panoptic":
        return H.panapi_metrics(data)
    return {k: float(data[k]) for k in keys}


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------

def inprocess_table(rows, n: int) -> list[str]:
    lines = ["| tool | threads | GT cache | best s | runs | images/s | CPU s | peak RSS MB | RSS growth MB | setup s "
             "| x hotcoco (same threads) | x vernier (same threads) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        rec = r.get("rec", {})
        if r.get("best") is None:
            why = ("skipped: " + rec["skipped"]) if rec.get("skipped") else \
                "FAILED: " + (rec.get("error") or "no result").replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| {r['label']} | {r['jobs']} | {H.cache_label(r)} | {why} |" + " |" * 8)
            continue
        t = r["best"]
        ratios = []
        for group in ("hotcoco", "vernier"):
            p = _peer(rows, group, r["jobs"])
            ratios.append(f"{p['best'] / t:.2f}" if p else "-")
        rss = rec.get("rss_peak_kb")
        lines.append(f"| {r['label']} | {r['jobs']} | {H.cache_label(r)} | {t:.3f} | {len(rec['times'])} | "
                     f"{n / t:.0f} | {min(rec['cpu']):.2f} | {H.fmt_mb(rss)} | "
                     f"{H.fmt_mb(rss - rec.get('rss_setup_kb', 0))} | {rec['setup_s']:.2f} | {ratios[0]} | {ratios[1]} |")
    return lines + [""]


def _peer(rows, group, jobs):
    cands = [r for r in rows if r["group"] == group and r.get("jobs") == jobs and r.get("best") is not None]
    return min(cands, key=lambda r: r["best"]) if cands else None


def scaling_lines(rows) -> list[str]:
    out = []
    for tool, cache in (("seg_", "none"), ("seg_", "warm"), ("hotcoco_", None), ("vernier_", None)):
        one = [r for r in rows if r["tool"].startswith(tool) and r.get("jobs") == 1 and r.get("best")
               and (cache is None or r.get("cache") == cache)]
        two = [r for r in rows if r["tool"].startswith(tool) and r.get("jobs") == 2 and r.get("best")
               and (cache is None or r.get("cache") == cache) and r["tool"] == (one[0]["tool"] if one else None)]
        if one and two:
            what = one[0]["label"] + (f", {H.cache_label(one[0])}" if cache else "")
            out.append(f"{what}: {one[0]['best'] / two[0]['best']:.2f}x from 1 to 2 threads")
    return out


def cpu_line(rows) -> str:
    """CPU seconds of each tool's 1-thread cold run: the work itself, which a busy machine inflates
    much less than wall time."""
    parts = []
    for r in rows:
        if r.get("jobs") == 1 and r.get("best") is not None and r.get("cache", "none") == "none":
            parts.append(f"{r['label']} {min(r['rec']['cpu']):.2f} s")
    return "CPU time of one run, 1 thread (steadier than wall time on a busy machine): " + "; ".join(parts) + "."


def _least_growth(rec: dict) -> int:
    """A row's RSS growth in kB: the least over its rounds of each round's peak minus that
    round's post-import peak.  One process's peak moves by a few hundred kB from run to run
    (heap layout, when the threads' buffers meet), as much as 500 images add, so the slope
    is taken between the steadiest figures, as times are (the peak RSS column stays the
    largest of the rounds)."""
    return min(rec.get("growths_kb") or [rec["rss_peak_kb"] - rec["rss_setup_kb"]])


def flat_table(rows_full, rows_small, n_full: int, n_small: int) -> tuple[list[str], dict]:
    lines = [f"| tool (2 threads, cold) | RSS growth MB at {n_small} images | at {n_full} images | "
             f"kB per extra image | peak RSS MB at {n_full} |", "|---|---:|---:|---:|---:|"]
    growth = {}
    for small in rows_small:
        full = next((r for r in rows_full if r["tool"] == small["tool"] and r.get("jobs") == 2 and
                     r.get("cache", "none") == "none" and r.get("best") is not None), None)
        if full is None or small.get("best") is None:
            lines.append(f"| {small['label']} | - | - | - | - |")
            continue
        gs, gf = _least_growth(small["rec"]), _least_growth(full["rec"])
        per = (gf - gs) / max(1, n_full - n_small)
        growth[small["group"]] = (gs, gf, per, full["rec"]["rss_peak_kb"])
        lines.append(f"| {small['label']} | {gs / 1024:.0f} | {gf / 1024:.0f} | {per:.1f} | "
                     f"{full['rec']['rss_peak_kb'] / 1024:.0f} |")
    return lines + [""], growth


def cli_table(cli_rows) -> list[str]:
    hot = next((c for c in cli_rows if c["parser"].startswith("hotcoco") and c["rec"].get("wall")), None)
    lines = ["| command (2 threads) | best wall s | CPU s | peak RSS MB | runs | x hotcoco CLI (wall) |",
             "|---|---:|---:|---:|---:|---:|"]
    for c in cli_rows:
        rec = c["rec"]
        if not rec.get("wall"):
            lines.append(f"| {c['label']} | FAILED: {rec.get('error', '?')[:200]} | | | | |")
            continue
        ratio = f"{hot['rec']['wall'] / rec['wall']:.2f}" if hot else "-"
        cpu = "-" if rec.get("cpu") is None else f"{rec['cpu']:.2f}"
        lines.append(f"| {c['label']} | {rec['wall']:.3f} | {cpu} | {rec['rss_kb'] / 1024:.0f} | {rec['runs']} | {ratio} |")
    return lines + [""]


def goal_lines(name: str, rows, cli_rows, growth) -> tuple[list[str], list[tuple]]:
    """Issue 17's goals for one set; also (goal, target, value, met) tuples for the summary."""
    tool = rows[0]["tool"]
    cold = H.find(rows, tool, jobs=2, cache="none")
    warm = H.find(rows, tool, jobs=2, cache="warm")
    cold1 = H.find(rows, tool, jobs=1, cache="none")
    summary = []

    def goal(what, value, target, higher=True):
        if value is None:
            return
        met = value >= target if higher else value <= target
        summary.append((f"{name}: {what}", f"{'>=' if higher else '<='} {target}", value, met))

    for group in ("hotcoco", "vernier"):
        p = _peer(rows, group, 2)
        if p and cold:
            goal(f"in process, 2 threads, cold vs {group}", p["best"] / cold["best"], 3.0)
        if p and warm:
            goal(f"in process, 2 threads, warm (GT cache) vs {group}", p["best"] / warm["best"], 4.0)
    seg_cli = next((c for c in cli_rows if "cold" in c["label"] and c["parser"] == "segmetrics" and c["rec"].get("wall")), None)
    hot_cli = next((c for c in cli_rows if c["parser"].startswith("hotcoco") and c["rec"].get("wall")), None)
    if seg_cli and hot_cli:
        goal("whole process (`python -m segmetrics eval`, cold) vs hotcoco's CLI",
             hot_cli["rec"]["wall"] / seg_cli["rec"]["wall"], 2.5)
    if cold and cold1:
        goal("segmetrics 1 -> 2 threads (cold)", cold1["best"] / cold["best"], 1.85)
    hot2 = _peer(rows, "hotcoco", 2)
    if cold and hot2:
        goal("peak RSS (2 threads, cold) / hotcoco's", cold["rec"]["rss_peak_kb"] / hot2["rec"]["rss_peak_kb"], 1.0,
             higher=False)
    if seg_cli and hot_cli and seg_cli["rec"].get("rss_kb") and hot_cli["rec"].get("rss_kb"):
        goal("whole process: peak RSS (cold) / hotcoco's CLI", seg_cli["rec"]["rss_kb"] / hot_cli["rec"]["rss_kb"], 1.0,
             higher=False)
    if "segmetrics" in growth:  # a JSON-driven run keeps its annotations: flat means no worse than hotcoco
        limit = max(1.0, growth["hotcoco"][2]) if "hotcoco" in growth else 1.0
        goal("segmetrics RSS growth, kB per extra image (flat: <= max(1, hotcoco's))", growth["segmetrics"][2],
             round(limit, 1), higher=False)
    lines = [f"- {g}: {v:.2f} (goal {t}) -> **{'met' if m else 'NOT met'}**" for g, t, v, m in summary]
    return lines, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--panoptic", type=int, default=None, help="COCO-like panoptic images (default 5000; --quick 40)")
    ap.add_argument("--semantic", type=int, default=None, help="ADE20K-like images (default 2000; --quick 40)")
    ap.add_argument("--cityscapes", type=int, default=None, help="Cityscapes-like images (default 500; --quick 6)")
    ap.add_argument("--only", choices=["panoptic", "semantic", "cityscapes"], action="append", default=None)
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per in-process tool (default 2; --quick 1)")
    ap.add_argument("--budget", type=float, default=20.0, help="stop repeating a tool after this many seconds")
    ap.add_argument("--cli-repeat", type=int, default=None, help="fresh processes per command (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="smoke run on small sets, output under benchmarks/_work/")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per tool process")
    args = ap.parse_args(argv)

    from datasets import ade20k_like_dir, ade20k_pred_1based, coco_panoptic_dir
    from ragged import cityscapes_like_dir

    q = args.quick
    sizes = {"panoptic": args.panoptic or (40 if q else 5000), "semantic": args.semantic or (40 if q else 2000),
             "cityscapes": args.cityscapes or (6 if q else 500)}
    repeat = args.repeat or (1 if q else 2)
    cli_repeat = args.cli_repeat or (1 if q else 3)
    out_file = args.out or (HERE / "_work" / "scale_quick.md" if q else HERE / "results" / "scale.md")
    which = args.only or ["panoptic", "semantic", "cityscapes"]
    cmd = "python benchmarks/bench_scale.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    t_gen = time.perf_counter()
    sets = []
    for kind in which:
        n = sizes[kind]
        if kind == "panoptic":
            base = H.panoptic_set(coco_panoptic_dir(n, args.seed, root=args.data_root))
            title, keys = f"Panoptic: {n} COCO-like images (`datasets.py`), 133 categories", H.PAN_KEYS
        elif kind == "semantic":
            d = ade20k_like_dir(n, args.seed, root=args.data_root)
            ade20k_pred_1based(d)
            base = H.semantic_set("ade20k", d)
            title, keys = f"Semantic: {n} ADE20K-like images (`datasets.py`), 150 classes, reduce_zero_label", H.SEM_KEYS
        else:
            base = H.semantic_set("cityscapes", cityscapes_like_dir(n, args.seed, root=args.data_root))
            title, keys = (f"Cityscapes-like: {n} images of 1024 x 2048 (`ragged.py`), label ids -> 19 train ids",
                           H.SEM_KEYS)
        small_n = max(2, n // 10)
        sets.append((kind, title, keys, base, H.subset(base, small_n), n, small_n))
    t_gen = time.perf_counter() - t_gen

    load_before = load()
    started = _dt.datetime.now(_dt.timezone.utc)
    body, summary, bad = [], [], False
    with tempfile.TemporaryDirectory(prefix="segm_scale_") as tmp:
        for k, (kind, title, keys, base, small, n, small_n) in enumerate(sets):
            gts, preds = H.set_files(base)
            nbytes = H.warm_page_cache(gts + preds)
            if base["task"] == "semantic":
                H.warm_page_cache(sorted(Path(base["plain_gt_dir"]).glob("*.png")))
            images = base["task"] == "panoptic" and json.loads(Path(base["gt_json"]).read_bytes())["images"]
            one_call = bool(images) and 8 * sum(im["height"] * im["width"] for im in images) < 2 * 2**30
            rows = inprocess_rows(base, Path(tmp) / f"cache{k}", one_call or q)
            if q:  # a smoke run: the 2-thread rows (and the cold 1-thread one) are enough
                rows = [r for r in rows if r["jobs"] == 2 or (r["group"] == "segmetrics" and r.get("cache") == "none")]
            H.run_rows(rows, repeat=repeat, budget=args.budget, timeout=args.timeout, log_prefix=f"[{kind}] ")
            srows = flat_rows(small)
            H.run_rows(srows, repeat=1, budget=None, timeout=args.timeout, log_prefix=f"[{kind} n={small_n}] ")
            cli_cache = Path(tmp) / f"cli_cache{k}"
            cli_rows = []
            for label, c, env, parser in cli_commands(base, cli_cache):
                if "warm" in label:  # fill the cache once, untimed
                    H.time_process(c, env_extra=env, cwd=H.ROOT, timeout=args.timeout)
                rec = H.best_of(c, cli_repeat, env_extra=env, cwd=H.ROOT, timeout=args.timeout)
                cli_rows.append({"label": label, "parser": parser, "rec": rec})
                print(f"[{kind} cli] {label}: {rec.get('wall', rec.get('error'))}", file=sys.stderr, flush=True)
            checks = H.check_numbers(rows, keys)
            small_checks = H.check_numbers(srows, keys)
            ref = H.find(rows, rows[0]["tool"], jobs=2, cache="none")
            for c in cli_rows:
                if not c["rec"].get("wall"):
                    checks.append(f"DISAGREE: `{c['label']}` failed: {c['rec'].get('error')}")
                    continue
                try:
                    m = parse_cli(c["parser"], c["rec"]["stdout"], keys)
                    diff = max(abs(m[key] - ref["rec"]["result"]["metrics"][key]) for key in keys) if ref else 0.0
                except (ValueError, KeyError) as exc:
                    checks.append(f"DISAGREE: could not read the numbers of `{c['label']}`: {exc}")
                    continue
                if diff > H.TOL:
                    checks.append(f"DISAGREE: `{c['label']}` differs from segmetrics in process by {diff:.2e}")
            checks.append(f"whole-process rows: their JSON numbers agree with segmetrics in process "
                          f"(tolerance {H.TOL:g})" if ref else "whole-process rows: no in-process reference")
            failed = [r for r in rows + srows if r["rec"].get("error")]
            bad |= bool(failed) or any(c.startswith("DISAGREE") for c in checks + small_checks)
            mpx = sum(H.png_pixels(p) for p in gts) / 1e6
            body += [f"### {title}", "",
                     f"{n} images, {mpx:.0f} Mpx per side, GT + prediction PNGs {nbytes / 2**20:.0f} MB"
                     + (f", GT JSON {Path(base['gt_json']).stat().st_size / 2**20:.1f} MB" if base["task"] == "panoptic" else "")
                     + ".", "", "In process (imports not timed):", ""]
            body += inprocess_table(rows, n)
            body += ["1 -> 2 threads: " + "; ".join(scaling_lines(rows)) + ".", ""]
            body += [cpu_line(rows), ""]
            if base["task"] == "panoptic" and not (one_call or q):
                need = 8 * sum(im["height"] * im["width"] for im in images) / 2**30
                body += [f"vernier's one-call `Evaluator.evaluate` was not run: it needs every label map decoded "
                         f"(uint32) in memory at once, about {need:.1f} GiB here; its streaming evaluator is.", ""]
            ft, growth = flat_table(rows, srows, n, small_n)
            body += [f"Memory against the number of images (2 threads, cold; the same tools on the first {small_n} "
                     "images):", ""] + ft
            body += ["Whole process (interpreter start, imports, JSON output included):", ""] + cli_table(cli_rows)
            body += ["Checks:", ""] + [f"- {c}" for c in checks]
            body += [f"- on the {small_n}-image subset: " + "; ".join(small_checks)] + [""]
            glines, gsum = goal_lines(kind, rows, cli_rows, growth)
            summary += gsum
            body += ["Goals of issue 17 (this run):", ""] + glines + [""]
    load_after = load()
    lines = header("COCO-val scale: in process and whole process (one run)", cmd, started, load_before, load_after,
                   ("numpy", "hotcoco", "vernier", "orjson"))
    lines += [
        f"- data generated or reused in {t_gen:.1f} s (seed {args.seed}); page cache warm",
        f"- method: in-process rows are fresh interpreters (`harness.py`), one per run, the rows taken "
        f"round-robin ({repeat} rounds; a row stops once its runs took {args.budget:g} s), best run kept, imports not timed, the timed run started once the process's other threads are idle (`harness.settle`), `CPU s` of the process's threads, `peak RSS` its `VmHWM` (the largest of the rounds), "
        "`RSS growth` the peak minus the post-import peak (in the growth table: per size the least of the rounds); thread counts: segmetrics `jobs=`, hotcoco "
        "`RAYON_NUM_THREADS`, vernier `num_threads=`. Whole-process rows: best wall of "
        f"{cli_repeat} fresh processes, least CPU (`RUSAGE_CHILDREN`), peak RSS from GNU time. `x` columns: the peer's time divided "
        "by the row's (above 1 = faster than the peer); for vernier panoptic the faster of its two ways.",
        "",
        "Summary of issue 17's goals on this run:", "",
        "| set: goal | target | this run | met |", "|---|---|---:|---|",
    ]
    lines += [f"| {g} | {t} | {v:.2f} | {'yes' if m else '**no**'} |" for g, t, v, m in summary] + [""]
    return H.finish("\n".join(lines + body), out_file, bad)


if __name__ == "__main__":
    raise SystemExit(main())
