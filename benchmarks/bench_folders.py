"""Folder evaluation, segmetrics against the field, in one run.

Usage::

    python benchmarks/bench_folders.py [--images 500] [--repeat 3] [--only semantic|panoptic]
                                       [--quick] [--out FILE] [--data-root DIR] [--seed 0]

Generates (or reuses, cached under ``benchmarks/data/``) the ADE20K-like
semantic set and the COCO-like panoptic set of :mod:`datasets`, then times every
tool on the same files.  Each tool runs in its own fresh Python process, so
its peak memory (``VmHWM``) is its own and its imports are timed apart from
the evaluation; the timed region is the best of ``--repeat`` evaluations in
that process, each one going from folder / JSON paths to the final numbers.
The page cache is warmed before the run, so "cold" means "no GT cache", not
"files on disk".

segmetrics is called only through its public functions
(``segmetrics.folders.evaluate_semantic_files`` / ``evaluate_panoptic_files``,
the evaluators, ``segmetrics.io.png.read_png``), so the harness measures
whatever version is checked out.  Its rows come with 1 and 2 worker threads,
without GT cache (cold), filling an empty cache (first run) and with the cache
filled by an earlier process (warm).

Every tool's headline numbers are compared (to 1e-9) and every segmetrics
variant is checked bit-identical (the whole result dict and confusion matrix)
to the in-memory engine fed with Pillow-decoded arrays.  The markdown section
goes to ``benchmarks/results/folders.md`` (``--quick``: ``benchmarks/_work/``)
and to stdout.  The exit status is 1 when a tool fails or the tools disagree, else 0.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import hashlib
import json
import os
import platform
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# the tools run with the caller's environment; the generators in this process with one BLAS
# thread (their many small matrix products are 3-4x cheaper so on a busy machine)
CHILD_ENV = dict(os.environ)
if __name__ == "__main__" and "--child" not in sys.argv:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

N_CLASSES = 150
SEM_KEYS = ("mIoU", "mAcc", "aAcc", "fwIoU")
PAN_KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")
TOL = 1e-9
DECODERS = {"segmetrics": "segmetrics read_png", "pillow": "Pillow", "pyspng": "pyspng"}


# ----------------------------------------------------------------------------------------------
# helpers shared by the tools (run inside the child processes)
# ----------------------------------------------------------------------------------------------

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _cm_sha(cm) -> str:
    import numpy as np

    return _sha(np.ascontiguousarray(cm, dtype=np.int64).tobytes())


def _semantic_headline(cm) -> dict:
    """mIoU / mAcc / aAcc / fwIoU of a confusion matrix (rows = GT), plain NumPy, mmseg rules.

    A class with an empty union is left out of mIoU, one without GT pixels out of
    mAcc; a class predicted but absent from the GT scores IoU 0 and counts.
    """
    import numpy as np

    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    gt = cm.sum(1)
    union = gt + cm.sum(0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt > 0, tp / gt, np.nan)
    freq = gt / gt.sum()
    has_gt = gt > 0
    return {"mIoU": float(np.nanmean(iou)), "mAcc": float(np.nanmean(acc)),
            "aAcc": float(tp.sum() / gt.sum()), "fwIoU": float((freq[has_gt] * iou[has_gt]).sum())}


def _ade_reduce_lut():
    """uint8 lookup table of the ADE20K ``reduce_zero_label`` rule: 0 -> 255, k -> k - 1."""
    import numpy as np

    lut = (np.arange(256, dtype=np.int16) - 1).astype(np.uint8)
    lut[0] = 255
    lut[255] = 255
    return lut


def _pairs(spec):
    gt_dir, pred_dir = Path(spec["gt_dir"]), Path(spec["pred_dir"])
    return [(p.stem, p, pred_dir / p.name) for p in sorted(gt_dir.glob("*.png"))]


def _pillow_read(path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def _pyspng_read(path):
    import pyspng

    with open(path, "rb") as f:
        return pyspng.load(f.read())


def _thread_map(fn, items, jobs):
    if jobs == 1:
        return list(map(fn, items))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(fn, items))


def _cache_for(spec, k):
    """Cache folder for repeat ``k``: the shared warm one, a fresh empty one, or None."""
    mode = spec.get("cache", "none")
    if mode == "none":
        return None
    if mode == "warm":
        return spec["cache_dir"]
    d = Path(spec["cache_dir"]) / f"fill{k}"
    return str(d)


def _seg_semantic_digest(res) -> dict:
    d = res.to_dict()
    return {"metrics": {k: res.metrics[k] for k in SEM_KEYS}, "cm": _cm_sha(res.confusion),
            "digest": _sha(json.dumps(d, sort_keys=True, default=str).encode())}


def _seg_panoptic_digest(res) -> dict:
    d = res.to_dict()
    return {"metrics": {k: res.metrics[k] for k in PAN_KEYS},
            "digest": _sha(json.dumps(d, sort_keys=True, default=str).encode())}


def _panapi_metrics(r: dict) -> dict:
    out = {}
    for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        for k in ("pq", "sq", "rq"):
            out[k.upper() + suffix] = float(r[group][k])
    return out


# ----------------------------------------------------------------------------------------------
# the tools: tool(spec) imports and prepares (timed as "setup") and returns run() (the timed region)
# or (run, check) where check() adds untimed verification data to the result
# ----------------------------------------------------------------------------------------------

def tool_seg_semantic(spec):
    import segmetrics
    import segmetrics.folders as sev

    jobs, k = spec["jobs"], [0]

    def run():
        ev = segmetrics.SemanticEvaluator(N_CLASSES, reduce_zero_label=True)
        sev.evaluate_semantic_files(_pairs(spec), ev, jobs=jobs, cache_dir=_cache_for(spec, k[0]))
        k[0] += 1
        return _seg_semantic_digest(ev.compute())

    return run


def tool_seg_semantic_memory(spec):
    import segmetrics

    def run():
        ev = segmetrics.SemanticEvaluator(N_CLASSES, reduce_zero_label=True)
        for image_id, g, p in _pairs(spec):
            ev.update(_pillow_read(g), _pillow_read(p), image_id=image_id)
        return _seg_semantic_digest(ev.compute())

    return run


def tool_hotcoco_semantic(spec):
    from hotcoco.semantic import SemanticEval

    def run():
        ev = SemanticEval(N_CLASSES, reduce_zero_label=True)
        ev.update_folders(spec["gt_dir"], spec["pred_dir"])
        r = ev.results()
        return {"metrics": {k: float(r[k]) for k in SEM_KEYS}, "cm": _cm_sha(ev.confusion())}

    return run


def tool_numpy_bincount(spec):
    import numpy as np

    lut = _ade_reduce_lut()
    k = N_CLASSES

    def run():
        hist = np.zeros(k * k, np.int64)
        for _, g, p in _pairs(spec):
            gt = lut[_pillow_read(g)]
            pred = _pillow_read(p)
            keep = gt != 255
            hist += np.bincount(k * gt[keep].astype(np.int64) + pred[keep], minlength=k * k)
        cm = hist.reshape(k, k)
        return {"metrics": _semantic_headline(cm), "cm": _cm_sha(cm)}

    return run


def tool_torchmetrics(spec):
    import torch
    from torchmetrics.classification import MulticlassConfusionMatrix

    lut = _ade_reduce_lut()

    def run():
        metric = MulticlassConfusionMatrix(N_CLASSES, ignore_index=255, validate_args=False)
        for _, g, p in _pairs(spec):
            gt = torch.from_numpy(lut[_pillow_read(g)]).long()
            pred = torch.from_numpy(_pillow_read(p).copy()).long()
            metric.update(pred, gt)
        cm = metric.compute().numpy()
        return {"metrics": _semantic_headline(cm), "cm": _cm_sha(cm)}

    return run


def tool_decode(spec):
    """Decode-only floor: every GT and prediction PNG to an array, nothing else."""
    decoder = spec["decoder"]
    if decoder == "segmetrics":
        from segmetrics.io.png import read_png as read
    elif decoder == "pyspng":
        import pyspng  # noqa: F401

        read = _pyspng_read
    else:
        import numpy  # noqa: F401
        import PIL.Image  # noqa: F401

        read = _pillow_read
    jobs = spec["jobs"]

    def files():
        if spec["task"] == "semantic":
            return [f for _, g, p in _pairs(spec) for f in (g, p)]
        return sorted(Path(spec["gt_folder"]).glob("*.png")) + sorted(Path(spec["pred_folder"]).glob("*.png"))

    def run():
        _thread_map(lambda f: read(f).shape, files(), jobs)
        return {}

    def check():  # untimed: the pixels' checksum, compared across decoders
        return {"checksum": sum(int(read(f).sum(dtype="uint64")) for f in files())}

    return run, check


def tool_seg_panoptic(spec):
    import warnings

    import segmetrics
    import segmetrics.folders as sev
    from segmetrics.io.coco_panoptic import load_panoptic_json

    jobs, k = spec["jobs"], [0]
    kwargs = spec.get("evaluator_kwargs", {})

    def run():
        gt = load_panoptic_json(spec["gt_json"], spec["gt_folder"], require_categories=True)
        pred = load_panoptic_json(spec["pred_json"], spec["pred_folder"])
        ev = segmetrics.PanopticEvaluator(gt.categories, **kwargs)
        sev.evaluate_panoptic_files(gt, pred, ev, jobs=jobs, cache_dir=_cache_for(spec, k[0]))
        k[0] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _seg_panoptic_digest(ev.compute())

    return run


def tool_seg_panoptic_memory(spec):
    import warnings

    import segmetrics
    from segmetrics.io.coco_panoptic import load_panoptic_json

    def run():
        gt = load_panoptic_json(spec["gt_json"], spec["gt_folder"], require_categories=True)
        pred = load_panoptic_json(spec["pred_json"], spec["pred_folder"])
        ev = segmetrics.PanopticEvaluator(gt.categories)
        for image_id, g_ann in gt.annotations.items():
            p_ann = pred.annotations[image_id]
            ev.update(_pillow_read(gt.png_path(image_id)), g_ann["segments_info"],
                      _pillow_read(pred.png_path(image_id)), p_ann["segments_info"], image_id=image_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _seg_panoptic_digest(ev.compute())

    return run


def tool_hotcoco_panoptic(spec):
    from hotcoco.panoptic import pq_compute

    def run():
        r = pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"])
        return {"metrics": _panapi_metrics(r)}

    return run


def tool_panopticapi(spec):
    from panopticapi.evaluation import pq_compute

    def run():
        r = pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"])
        return {"metrics": _panapi_metrics(r)}

    return run


TOOLS = {name[len("tool_"):]: fn for name, fn in globals().items() if name.startswith("tool_")}


def _peak_rss_kb() -> int:
    """Peak resident set size of this process in kB.

    ``VmHWM`` of ``/proc/self/status`` where there is one: ``ru_maxrss`` of a
    child started by ``subprocess`` (vfork + exec on Linux) starts at the
    parent's peak, so it would hide anything smaller than the parent.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rusage_cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def child_main(spec_json: str) -> int:
    """Child process: set up one tool, time ``repeat`` runs, write a JSON record."""
    spec = json.loads(spec_json)
    sys.path.insert(0, str(ROOT))
    out_path = spec["result"]
    record = {"times": [], "cpu": []}
    # the tools' own printing (panopticapi, hotcoco) goes to /dev/null, workers included
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        t0 = time.perf_counter()
        try:
            run = TOOLS[spec["tool"]](spec)
            check = None
            if isinstance(run, tuple):
                run, check = run
        except ImportError as exc:
            if spec["tool"].startswith("seg_") or spec.get("decoder") == "segmetrics":
                raise
            record["skipped"] = f"not installed ({exc.name or exc})"
            Path(out_path).write_text(json.dumps(record))
            return 0
        record["setup_s"] = time.perf_counter() - t0
        record["rss_setup_kb"] = _peak_rss_kb()
        result = None
        for _ in range(spec["repeat"]):
            c0 = _rusage_cpu(resource.RUSAGE_SELF) + _rusage_cpu(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            result = run()
            record["times"].append(time.perf_counter() - t0)
            gc.collect()  # reaps worker processes of a pool left open (panopticapi) so their CPU counts
            record["cpu"].append(_rusage_cpu(resource.RUSAGE_SELF) + _rusage_cpu(resource.RUSAGE_CHILDREN) - c0)
        if check is not None:
            result = dict(result, **check())
        record["result"] = result
        record["rss_peak_kb"] = _peak_rss_kb()
        record["rss_children_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    except Exception as exc:  # reported as a failed row by the parent
        import traceback

        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    Path(out_path).write_text(json.dumps(record))
    return 0


# ----------------------------------------------------------------------------------------------
# the parent: data, rows, checks, report
# ----------------------------------------------------------------------------------------------

def _run_child(spec: dict, env_extra: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="segm_bench_") as tmp:
        spec = dict(spec, result=str(Path(tmp) / "result.json"))
        env = dict(CHILD_ENV, **env_extra)
        env.pop("PYTHONSTARTUP", None)
        try:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:g} s (--timeout)"}
        try:
            return json.loads(Path(spec["result"]).read_text())
        except (OSError, ValueError):
            return {"error": f"child exited with status {proc.returncode}: {proc.stderr.strip()[-400:]}"}


def _png_pixels(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(24)
    w, h = struct.unpack(">II", head[16:24])
    return w * h


def _warm_page_cache(files) -> int:
    total = 0
    for f in files:
        total += len(Path(f).read_bytes())
    return total


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_describe() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _rows_semantic(ade_dir: Path, cache_root: Path) -> list[dict]:
    base = {"task": "semantic", "gt_dir": str(ade_dir / "gt"), "pred_dir": str(ade_dir / "pred")}
    cache = str(cache_root / "semantic")
    rows = []
    for jobs in (1, 2):
        rows.append(dict(base, tool="seg_semantic", label="segmetrics evaluate_semantic_files",
                         jobs=jobs, cache="none", group="segmetrics"))
    # first run: fills an empty cache (its first repeat is the one-off cost), then warm rows
    rows.append(dict(base, tool="seg_semantic", label="segmetrics evaluate_semantic_files",
                     jobs=2, cache="fill", cache_dir=cache, group="segmetrics"))
    for jobs in (1, 2):
        rows.append(dict(base, tool="seg_semantic", label="segmetrics evaluate_semantic_files",
                         jobs=jobs, cache="warm", cache_dir=cache + "/fill0", group="segmetrics",
                         full_only=jobs == 1))
    rows.append(dict(base, tool="seg_semantic_memory", jobs=1, cache="none", group="reference",
                     label="segmetrics SemanticEvaluator.update on Pillow-decoded arrays (in-memory engine)"))
    for jobs in (1, 2):
        rows.append(dict(base, tool="hotcoco_semantic", label="hotcoco SemanticEval.update_folders",
                         jobs=jobs, env={"RAYON_NUM_THREADS": str(jobs)}, group="hotcoco"))
    rows.append(dict(base, tool="numpy_bincount", jobs=1, group="peer",
                     label="numpy bincount + Pillow decoding (detectron2 / mmseg style)"))
    rows.append(dict(base, tool="torchmetrics", jobs=1, group="peer", env={"OMP_NUM_THREADS": "1"},
                     label="torchmetrics MulticlassConfusionMatrix + Pillow decoding"))
    for dec, jobs in (("segmetrics", 1), ("segmetrics", 2), ("pillow", 1), ("pillow", 2), ("pyspng", 1)):
        rows.append(dict(base, tool="decode", decoder=dec, jobs=jobs, group="floor", full_only=dec == "pillow" and jobs == 2,
                         label=f"decode only: {DECODERS[dec]}"))
    return rows


def _rows_panoptic(coco_dir: Path, cache_root: Path) -> list[dict]:
    base = {"task": "panoptic", "gt_json": str(coco_dir / "gt.json"), "pred_json": str(coco_dir / "pred.json"),
            "gt_folder": str(coco_dir / "gt"), "pred_folder": str(coco_dir / "pred")}
    cache = str(cache_root / "panoptic")
    label = "segmetrics evaluate_panoptic_files"
    rows = []
    for jobs in (1, 2):
        rows.append(dict(base, tool="seg_panoptic", label=label, jobs=jobs, cache="none", group="segmetrics"))
    rows.append(dict(base, tool="seg_panoptic", label=label, jobs=2, cache="fill", cache_dir=cache,
                     group="segmetrics"))
    for jobs in (1, 2):
        rows.append(dict(base, tool="seg_panoptic", label=label, jobs=jobs, cache="warm",
                         cache_dir=cache + "/fill0", group="segmetrics", full_only=jobs == 1))
    rows.append(dict(base, tool="seg_panoptic", jobs=2, cache="none", group="segmetrics-extra",
                     evaluator_kwargs={"with_semantic": False}, full_only=True,
                     label=label + ", PQ only (with_semantic=False)"))
    rows.append(dict(base, tool="seg_panoptic_memory", jobs=1, cache="none", group="reference",
                     label="segmetrics PanopticEvaluator.update on Pillow-decoded arrays (in-memory engine)"))
    for jobs in (1, 2):
        rows.append(dict(base, tool="hotcoco_panoptic", label="hotcoco pq_compute", jobs=jobs,
                         env={"RAYON_NUM_THREADS": str(jobs)}, group="hotcoco"))
    rows.append(dict(base, tool="panopticapi", jobs=os.cpu_count() or 1, group="panopticapi",
                     label=f"panopticapi-lite pq_compute ({os.cpu_count()} worker processes)"))
    for dec, jobs in (("segmetrics", 1), ("segmetrics", 2), ("pillow", 1), ("pillow", 2), ("pyspng", 1)):
        rows.append(dict(base, tool="decode", decoder=dec, jobs=jobs, group="floor", full_only=dec == "pillow" and jobs == 2,
                         label=f"decode only: {DECODERS[dec]}"))
    return rows


def _cache_label(row) -> str:
    return {"none": "cold", "fill": "fill (empty cache)", "warm": "warm"}.get(row.get("cache"), "-")


def _fmt_mb(kb) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def _check_numbers(rows: list[dict], keys) -> list[str]:
    """Agreement of the headline numbers across tools and bit-identity of the segmetrics rows."""
    notes = []
    ok_rows = [r for r in rows if r.get("rec", {}).get("result", {}).get("metrics")]
    ref = next((r for r in ok_rows if r["group"] == "reference"), None) or (ok_rows[0] if ok_rows else None)
    if ref is None:
        return ["no tool produced numbers"]
    ref_m = ref["rec"]["result"]["metrics"]
    worst = 0.0
    for r in ok_rows:
        m = r["rec"]["result"]["metrics"]
        diff = max(abs(m[k] - ref_m[k]) for k in keys)
        r["max_diff"] = diff
        worst = max(worst, diff)
        if diff > TOL:
            notes.append(f"DISAGREE: {r['label']} differs from {ref['label']} by {diff:.2e}")
    cms = {r["rec"]["result"]["cm"] for r in ok_rows if "cm" in r["rec"]["result"]}
    seg = [r for r in ok_rows if "digest" in r["rec"]["result"] and r["group"] in ("segmetrics", "reference")]
    digests = {r["rec"]["result"]["digest"] for r in seg}
    checks = [f"headline numbers ({', '.join(keys)}) of all {len(ok_rows)} evaluating rows agree with the "
              f"in-memory engine to {worst:.1e} (tolerance {TOL:g})"]
    if cms:
        checks.append(f"confusion matrices: {'all identical' if len(cms) == 1 else f'{len(cms)} DIFFERENT'} "
                      f"across the {sum('cm' in r['rec']['result'] for r in ok_rows)} tools that expose one")
    if seg:
        checks.append(f"segmetrics results (whole `to_dict()`, every float bit for bit): "
                      f"{'bit-identical' if len(digests) == 1 else 'NOT identical'} across the {len(seg)} "
                      f"segmetrics rows (jobs 1/2, cold/fill/warm, in-memory engine)")
        if len(digests) != 1:
            notes.append("DISAGREE: segmetrics variants are not bit-identical")
    floors = {r["rec"]["result"]["checksum"] for r in rows
              if r["group"] == "floor" and "result" in r.get("rec", {})}
    if floors:
        checks.append(f"decode-only floors: {'same pixel checksum for every decoder' if len(floors) == 1 else 'DECODERS DIFFER'}")
        if len(floors) != 1:
            notes.append("DISAGREE: the decoders give different pixels")
    if cms and len(cms) != 1:
        notes.append("DISAGREE: confusion matrices differ")
    return checks + notes


def _find(rows, tool, jobs=None, cache=None, group=None):
    for r in rows:
        if r["tool"] == tool and (jobs is None or r.get("jobs") == jobs) and \
                (cache is None or r.get("cache") == cache) and (group is None or r["group"] == group) \
                and r.get("best") is not None:
            return r
    return None


def _section(task: str, rows: list[dict], n_images: int, mpx: float, keys, goals: list[str],
             checks: list[str], cache_note: str | None) -> list[str]:
    hot = {j: _find(rows, f"hotcoco_{task}", jobs=j) for j in (1, 2)}
    papi = _find(rows, "panopticapi")
    head = "| tool | threads | GT cache | best s | images/s | Mpx/s | CPU s | peak RSS MB | RSS growth MB | setup s | x hotcoco (same threads) |"
    sep = "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if papi:
        head += " x panopticapi |"
        sep += "---:|"
    lines = [head, sep]
    for r in rows:
        rec = r.get("rec", {})
        if r.get("best") is None:
            why = ("skipped: " + rec["skipped"]) if rec.get("skipped") else \
                "FAILED: " + (rec.get("error") or "no result").replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| {r['label']} | {r.get('jobs', '-')} | {_cache_label(r)} | {why} |" + " |" * (9 + bool(papi)))
            continue
        t = r["best"]
        h = hot.get(min(r.get("jobs", 1), 2))
        x_hot = f"{h['best'] / t:.2f}" if h else "-"
        rss = rec.get("rss_peak_kb")
        growth = None if rss is None else rss - rec.get("rss_setup_kb", 0)
        cpu = min(rec["cpu"]) if rec.get("cpu") else None
        extra = ""
        if r["tool"] == "panopticapi":
            extra = f" (+ largest worker {_fmt_mb(rec.get('rss_children_kb'))})"
        line = (f"| {r['label']} | {r.get('jobs', '-')} | {_cache_label(r)} | {t:.3f} | {n_images / t:.0f} | "
                f"{mpx / t:.0f} | {cpu:.2f} | {_fmt_mb(rss)}{extra} | {_fmt_mb(growth)} | {rec['setup_s']:.2f} | {x_hot} |")
        if papi:
            line += f" {papi['best'] / t:.1f} |"
        lines.append(line)
    out = lines + [""]
    if cache_note:
        out += [cache_note, ""]
    out += ["Checks:", ""] + [f"- {c}" for c in checks] + ["", "Goals (2 threads, this run):", ""]
    out += [f"- {g}" for g in goals] + [""]
    return out


def _goals(task: str, rows: list[dict]) -> list[str]:
    tool = f"seg_{task}"
    hot2 = _find(rows, f"hotcoco_{task}", jobs=2)
    cold = _find(rows, tool, jobs=2, cache="none", group="segmetrics")
    warm = _find(rows, tool, jobs=2, cache="warm", group="segmetrics")
    papi = _find(rows, "panopticapi")
    out = []

    def goal(name, ratio, target, higher=True):
        met = ratio >= target if higher else ratio <= target
        rel = ">=" if higher else "<="
        out.append(f"{name}: {ratio:.2f}x (goal {rel} {target}x) -> **{'met' if met else 'NOT met'}**")

    if hot2 and cold:
        goal("cold throughput vs hotcoco", hot2["best"] / cold["best"], 1.5)
    if hot2 and warm:
        goal("warm GT cache throughput vs hotcoco", hot2["best"] / warm["best"], 3.0)
    if papi and cold:
        goal("cold throughput vs panopticapi", papi["best"] / cold["best"], 15.0)
    if papi and warm:  # the issue does not say cold or warm: both are reported
        goal("warm GT cache throughput vs panopticapi", papi["best"] / warm["best"], 15.0)
    if hot2 and cold and hot2["rec"].get("rss_peak_kb"):
        for r, what in ((cold, "cold"), (warm, "warm")):
            if r and r["rec"].get("rss_peak_kb"):
                goal(f"peak RSS ({what}) / hotcoco's", r["rec"]["rss_peak_kb"] / hot2["rec"]["rss_peak_kb"], 1.5,
                     higher=False)
    if not out:
        out.append("not evaluated (a tool is missing)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="segmetrics folder evaluation vs hotcoco, panopticapi, "
                                             "numpy, torchmetrics and decode-only floors")
    ap.add_argument("--images", type=int, default=None, help="images per set (default 500; --quick: 60)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per tool, best kept (default 3; --quick: 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 60 images, 1 repeat, output under benchmarks/_work/")
    ap.add_argument("--only", choices=["semantic", "panoptic"], default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--data-root", type=Path, default=None, help="where the generated sets are cached "
                                                                 "(default benchmarks/data)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per tool process")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return child_main(args.child)

    sys.path.insert(0, str(HERE))
    from datasets import ade20k_like_dir, coco_panoptic_dir

    n = args.images or (60 if args.quick else 500)
    repeat = args.repeat or (1 if args.quick else 3)
    out_file = args.out or (HERE / "_work" / "folders_quick.md" if args.quick else HERE / "results" / "folders.md")
    tasks = [args.only] if args.only else ["semantic", "panoptic"]
    cmd = "python benchmarks/bench_folders.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    t_gen = time.perf_counter()
    dirs = {}
    if "semantic" in tasks:
        dirs["semantic"] = ade20k_like_dir(n, args.seed, root=args.data_root)
    if "panoptic" in tasks:
        dirs["panoptic"] = coco_panoptic_dir(n, args.seed, root=args.data_root)
    t_gen = time.perf_counter() - t_gen
    load_before = os.getloadavg()
    started = _dt.datetime.now(_dt.timezone.utc)
    sections = []
    disagree = False
    with tempfile.TemporaryDirectory(prefix="segm_gtcache_") as cache_tmp:
        cache_root = Path(cache_tmp)
        for task in tasks:
            d = dirs[task]
            if task == "semantic":
                rows = _rows_semantic(d, cache_root)
                gts = sorted((d / "gt").glob("*.png"))
                files = gts + sorted((d / "pred").glob("*.png"))
                keys = SEM_KEYS
            else:
                rows = _rows_panoptic(d, cache_root)
                gts = sorted((d / "gt").glob("*.png"))
                files = gts + sorted((d / "pred").glob("*.png"))
                keys = PAN_KEYS
            nbytes = _warm_page_cache(files)
            gt_bytes = sum(p.stat().st_size for p in gts)
            mpx = sum(_png_pixels(p) for p in gts) / 1e6
            if args.quick:
                rows = [r for r in rows if not r.get("full_only")]
            cache_note = None
            for row in rows:
                spec = {k: v for k, v in row.items() if k not in ("env", "label", "group", "full_only")}
                spec["repeat"] = repeat
                if row.get("cache") == "fill":
                    Path(row["cache_dir"]).mkdir(parents=True, exist_ok=True)
                rec = _run_child(spec, row.get("env", {}), args.timeout)
                row["rec"] = rec
                row["best"] = min(rec["times"]) if rec.get("times") and "error" not in rec else None
                if row.get("cache") == "fill" and rec.get("times"):
                    filled = Path(row["cache_dir"]) / "fill0"
                    n_cached = sum(1 for p in filled.rglob("*") if p.is_file()) if filled.exists() else 0
                    if n_cached == 0:
                        cache_note = ("**Note: this segmetrics version ignores `cache_dir`** (nothing was written "
                                      "to the cache folder), so the fill and warm rows measure the cold path.")
                    else:
                        size = sum(p.stat().st_size for p in filled.rglob("*") if p.is_file())
                        cache_note = (f"GT cache after the first run: {n_cached} files, {size / 2**20:.1f} MB "
                                      f"({size / gt_bytes:.2f}x the GT PNG files, {gt_bytes / 2**20:.1f} MB).")
                status = ("skipped: " + rec["skipped"]) if rec.get("skipped") else \
                    ("ERROR: " + rec["error"]) if rec.get("error") else f"{row['best']:.3f} s"
                print(f"[{task}] {row['label']} jobs={row.get('jobs')} {_cache_label(row)}: {status}",
                      file=sys.stderr, flush=True)
                if rec.get("traceback"):
                    print(rec["traceback"], file=sys.stderr)
            failed = [r for r in rows if r["rec"].get("error")]
            checks = _check_numbers(rows, keys) + [f"FAILED: {r['label']} (jobs={r.get('jobs')}, "
                                                   f"{_cache_label(r)}): {r['rec']['error'][:300]}" for r in failed]
            disagree |= bool(failed)
            disagree |= any(c.startswith("DISAGREE") for c in checks)
            if task == "semantic":
                title = (f"### Semantic: {n} ADE20K-like images ({mpx:.0f} Mpx per side, GT + prediction "
                         f"PNGs {nbytes / 2**20:.1f} MB), 150 classes, reduce_zero_label")
            else:
                title = (f"### Panoptic: {n} COCO-like images ({mpx:.0f} Mpx per side, GT + prediction "
                         f"PNGs {nbytes / 2**20:.1f} MB), 133 categories")
            sections += [title, ""] + _section(task, rows, n, mpx, keys, _goals(task, rows), checks, cache_note)
    load_after = os.getloadavg()

    versions = ", ".join(f"{d} {_version(d)}" for d in
                         ("numpy", "pillow", "hotcoco", "panopticapi-lite", "torch", "torchmetrics", "pyspng"))
    try:
        sys.path.insert(0, str(ROOT))
        from segmetrics.io.png import inflate_backend

        backend = inflate_backend()
    except Exception:  # the decoder may not be built
        backend = "unknown"
    lines = [
        "## Folder evaluation: segmetrics against the field (one run)",
        "",
        f"- command: `{cmd}`",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}; segmetrics at git {_git_describe()} "
        f"(PNG inflate backend: {backend})",
        f"- machine: `nproc` = {os.cpu_count()}, CPU: {cpu_model()}; load average before the run "
        f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} (1 / 5 / 15 min), after "
        f"{load_after[0]:.2f}",
        f"- Python {platform.python_version()}; {versions}",
    ]
    # the load after the run is mostly the benchmark's own threads: only the load before says
    # whether other jobs were running
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        lines.append(
            f"- **measured on a shared, busy machine** (load average {load_before[0]:.1f} on {os.cpu_count()} "
            "CPUs): other jobs took CPU time during the run, so absolute times are inflated and a second "
            "thread helps little; compare tools within this run, and re-run on a quiet machine for figures to quote")
    lines += [
        f"- data: `benchmarks/datasets.py` (seed {args.seed}), generated or reused in {t_gen:.1f} s; "
        f"page cache warm",
        f"- method: each row is a fresh Python process; `best s` is the best of {repeat} timed runs "
        "(paths in, final numbers out: listing, JSON loading, decoding, counting, metrics); "
        "`setup s` (imports) is not in it. `Mpx/s` counts label-map pixels (one GT and one prediction "
        "pixel each); decode floors decode both files of every pair. `CPU s` is the least user + system CPU time of one run "
        "(the process's threads and its worker processes). `peak RSS` is the process's peak resident memory "
        "(`VmHWM`; `ru_maxrss` of a subprocess starts at its parent's peak on Linux), imports included; `RSS growth` is the peak minus the peak after the imports. "
        "`x hotcoco` is hotcoco's best time with the same thread count (1 for single-threaded tools) "
        "divided by the row's; above 1 is faster than hotcoco.",
        "- thread counts: segmetrics `jobs=`, hotcoco `RAYON_NUM_THREADS`, decode floors a thread pool; "
        "numpy, torchmetrics (`OMP_NUM_THREADS=1`) and the in-memory engine rows are single-threaded "
        "loops; panopticapi forks one worker per CPU.",
        "- semantic convention: GT 0..150 with 0 = other, predictions 0..149; segmetrics "
        "`SemanticEvaluator(150, reduce_zero_label=True)`, hotcoco `SemanticEval(150, "
        "reduce_zero_label=True)`, numpy / torchmetrics reduce the GT by hand (0 -> 255 ignored, k -> k-1).",
        "",
    ] + sections
    text = "\n".join(lines)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    print(text)
    if disagree:
        print("ERROR: a tool failed or the tools disagree (see Checks)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
