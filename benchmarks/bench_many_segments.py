"""Many segments per image: segmetrics against panopticapi and hotcoco (issue 11, item 3).

Usage::

    python benchmarks/bench_many_segments.py [--sizes 1000,2000,5000,10000,20000,50000]
                                             [--repeat 3] [--before PATH] [--out FILE]

For each size n one COCO-panoptic image pair of 300 x 400 pixels is generated (under a
temporary folder): n GT segments, Voronoi cells of random seeds (2.4 pixels each at
50,000), four categories (two thing, two stuff), every 50th GT segment a crowd; the
prediction is the GT moved by one pixel with every 7th segment given another
category, so there are matches, false positives and false negatives.

Every tool runs in its own fresh process and is timed from the JSON and PNG paths to
the final numbers (imports excluded, best of ``--repeat``); peak memory is the
process's ``VmHWM`` (panopticapi's worker processes: their largest ``ru_maxrss``).
For segmetrics the *kernel* time is also given: counting the present (GT, prediction)
pairs of the decoded id maps and applying panopticapi's per-image rules
(``PairTable.count_maps`` + ``image_stats``), the part issue 11 bounds at well under a
second for 45,001 segments.  ``--before PATH`` adds the segmetrics checkout at PATH
(e.g. the tree before the sparse table) with its address space capped at 3 GB: sizes
whose full (n + 1)^2 table would not fit are reported as such, not run.

All tools' PQ / SQ / RQ (All, Things, Stuff) are checked equal to 1e-9.  The Markdown
table goes to ``benchmarks/results/many_segments.md`` and to stdout.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from harness import panapi_metrics as _panapi_metrics  # noqa: E402
from harness import peak_rss_kb as _peak_rss_kb  # noqa: E402
from harness import run_child as _run_child  # noqa: E402
from machine_info import version as _version  # noqa: E402
from machine_info import cpu_model  # noqa: E402

H, W = 300, 400
KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")
CATEGORIES = [{"id": 1, "name": "person", "isthing": 1}, {"id": 2, "name": "car", "isthing": 1},
              {"id": 3, "name": "road", "isthing": 0}, {"id": 4, "name": "sky", "isthing": 0}]
BEFORE_CAP = 3 * 2**30


def make_pair(out: Path, n: int, seed: int = 0) -> dict:
    """Write the image pair of size n under ``out``; returns its paths and counts."""
    import numpy as np
    from PIL import Image
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed + n)
    seeds = np.stack([rng.uniform(0, H, n), rng.uniform(0, W, n)], axis=1)
    yy, xx = np.mgrid[0:H, 0:W]
    cell = cKDTree(seeds).query(np.stack([yy.ravel() + 0.5, xx.ravel() + 0.5], axis=1))[1].reshape(H, W)
    ids = rng.choice(np.arange(1, 2**24 - 1), size=n, replace=False)
    gt = ids[cell]
    pred = np.roll(gt, 1, axis=1)
    pred[:, 0] = 0
    cat = rng.integers(1, 5, n)
    area = np.bincount(cell.ravel(), minlength=n)
    gt_segs = [{"id": int(ids[j]), "category_id": int(cat[j]), "iscrowd": int(j % 50 == 0),
                "area": int(area[j]), "bbox": [0, 0, 1, 1]} for j in range(n) if area[j]]
    present = set(np.unique(pred).tolist())
    pred_segs = [{"id": int(ids[j]), "category_id": int(cat[j] if j % 7 else cat[j] % 4 + 1), "iscrowd": 0,
                  "area": 0, "bbox": [0, 0, 1, 1]} for j in range(n) if int(ids[j]) in present]
    for side, m, segs in (("gt", gt, gt_segs), ("pred", pred, pred_segs)):
        (out / side).mkdir(parents=True)
        rgb = np.stack([m % 256, m // 256 % 256, m // 65536], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).save(out / side / "img.png")
        doc = {"images": [{"id": 1, "file_name": "img.jpg", "height": H, "width": W}],
               "annotations": [{"image_id": 1, "file_name": "img.png", "segments_info": segs}],
               "categories": CATEGORIES}
        (out / f"{side}.json").write_text(json.dumps(doc))
    g_dense, p_dense = cell.ravel(), np.where(pred == 0, -1, np.roll(cell, 1, axis=1)).ravel()
    pairs = np.unique(g_dense.astype(np.int64) * (n + 1) + p_dense + 1).size
    return {"gt_json": str(out / "gt.json"), "pred_json": str(out / "pred.json"), "gt_folder": str(out / "gt"),
            "pred_folder": str(out / "pred"), "n_gt": len(gt_segs), "n_pred": len(pred_segs), "pairs": int(pairs)}


# ----------------------------------------------------------------------------- the tools (in children)
def tool_segmetrics(spec):
    import warnings

    import segmetrics

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = segmetrics.panoptic_quality(spec["gt_json"], spec["pred_json"], spec["gt_folder"],
                                              spec["pred_folder"], jobs=1)
        return {k: res.metrics[k] for k in KEYS}

    return run


def tool_segmetrics_kernel(spec):
    """Counting the pairs and the per-image rules on decoded maps (PairTable + image_stats)."""
    import numpy as np

    from segmetrics._engine.image import CategoryIndex, _segment_arrays
    from segmetrics._kernels import panoptic as kernel
    from segmetrics.io.coco_panoptic import read_id_png

    cats = CategoryIndex(CATEGORIES)
    g = read_id_png(Path(spec["gt_folder"]) / "img.png")
    p = read_id_png(Path(spec["pred_folder"]) / "img.png")
    gcol = _segment_arrays(json.loads(Path(spec["gt_json"]).read_text())["annotations"][0]["segments_info"],
                           cats, "ground-truth", "image 1")
    pcol = _segment_arrays(json.loads(Path(spec["pred_json"]).read_text())["annotations"][0]["segments_info"],
                           cats, "prediction", "image 1")
    gb, pb = np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(p).reshape(-1)

    def run():
        t = kernel.PairTable()
        if t.count_maps(gb, True, pb, True, H * W, gcol[0], pcol[0]):
            raise RuntimeError("unlisted segment id")
        out = kernel.image_stats(t, len(cats), gcol[1], gcol[2], gcol[3], gcol[4].astype(np.int64), pcol[1], False)
        return {"tp": int(out["tp"].sum()), "fp": int(out["fp"].sum()), "fn": int(out["fn"].sum())}

    return run


def tool_panopticapi(spec):
    from panopticapi.evaluation import pq_compute

    def run():
        return _panapi_metrics(pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"]))

    return run


def tool_hotcoco(spec):
    from hotcoco.panoptic import pq_compute

    def run():
        return _panapi_metrics(pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"]))

    return run


TOOLS = {name[len("tool_"):]: fn for name, fn in globals().items() if name.startswith("tool_")}


def child_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    sys.path.insert(0, spec.get("tree") or str(ROOT))
    if spec.get("cap"):
        resource.setrlimit(resource.RLIMIT_AS, (spec["cap"], resource.RLIM_INFINITY))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the tools' own printing
    record: dict = {"times": []}
    try:
        run = TOOLS[spec["tool"]](spec)
        for _ in range(spec["repeat"]):
            t0 = time.perf_counter()
            result = run()
            record["times"].append(time.perf_counter() - t0)
        record["result"] = result
        record["rss_kb"] = _peak_rss_kb()
        record["children_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    except ImportError as exc:
        record["skipped"] = f"not installed ({exc.name or exc})"
    except MemoryError:
        record["error"] = "out of memory"
    except Exception as exc:  # a failed row, reported by the parent
        record["error"] = f"{type(exc).__name__}: {exc}"[:300]
    Path(spec["result"]).write_text(json.dumps(record))
    return 0


# ----------------------------------------------------------------------------- the parent
def _cell(rec: dict, memory: bool = True) -> str:
    if "skipped" in rec or "error" in rec:
        return rec.get("skipped") or rec["error"]
    s = f"{min(rec['times']):.3f} s"
    if memory:
        s += f", {max(rec['rss_kb'], rec.get('children_kb', 0)) / 1024:.0f} MB"
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, default=None, help="another segmetrics checkout to time as well")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "many_segments.md")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return child_main(args.child)
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before = os.getloadavg()
    started = _dt.datetime.now(_dt.timezone.utc)
    rows, failed = [], False
    tools = ["segmetrics", "segmetrics_kernel", "panopticapi", "hotcoco"] + (["before"] if args.before else [])
    with tempfile.TemporaryDirectory(prefix="segm_many_data_") as tmp:
        for n in sizes:
            info = make_pair(Path(tmp) / str(n), n)
            recs = {}
            for tool in tools:
                spec = dict(info, tool="segmetrics" if tool == "before" else tool, repeat=args.repeat)
                if tool == "before":
                    if (info["n_gt"] + 1) * (info["n_pred"] + 1) * 8 > BEFORE_CAP / 2:
                        need = (info["n_gt"] + 1) * (info["n_pred"] + 1) * 8 / 2**30
                        recs[tool] = {"skipped": f"not run: its full table needs {need:.1f} GB"}
                        continue
                    spec.update(tree=str(args.before.resolve()), cap=BEFORE_CAP)
                recs[tool] = _run_child(spec, {"OPENBLAS_NUM_THREADS": "1"}, args.timeout, Path(__file__).resolve())
            ref = recs["segmetrics"].get("result")
            for tool in ("panopticapi", "hotcoco", "before"):
                other = recs.get(tool, {}).get("result")
                if ref and other and any(abs(ref[k] - other[k]) > 1e-9 for k in KEYS):
                    recs[tool]["error"] = "numbers differ from segmetrics"
                    failed = True
            if "error" in recs["segmetrics"] or "error" in recs["segmetrics_kernel"]:
                failed = True
            rows.append((n, info, recs))
            sys.stderr.write(f"{n} segments: " + "; ".join(f"{t} {_cell(r)}" for t, r in recs.items()) + "\n")
    load_after = os.getloadavg()
    lines = [
        "## Many segments per image (panoptic, one 300 x 400 image)",
        "",
        f"Command: `python benchmarks/bench_many_segments.py --sizes {args.sizes} --repeat {args.repeat}"
        + (f" --before {args.before}" if args.before else "") + "`",
        f"Machine: {os.cpu_count()} logical CPUs, {cpu_model()}, {platform.system()} {platform.machine()}; "
        f"load {load_before[0]:.2f} before, {load_after[0]:.2f} after the run"
        + (" (shared, busy machine)" if load_before[0] > 1.0 else "") + ".",
        f"Date: {started:%Y-%m-%d %H:%M} UTC. panopticapi-lite {_version('panopticapi-lite')}, "
        f"hotcoco {_version('hotcoco')}.",
        "",
        "Each cell: best of the timed runs in a fresh process (from JSON + PNG paths to the numbers, imports "
        "excluded), then peak memory of the process. *kernel*: counting the present segment pairs and "
        "panopticapi's per-image rules on the decoded maps. PQ/SQ/RQ of every tool agree to 1e-9.",
        "",
        "| segments (GT / pred) | present pairs | segmetrics | kernel | kernel us / 1k pairs "
        "| panopticapi | hotcoco |" + (" segmetrics before |" if args.before else ""),
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.before else ""),
    ]
    for n, info, recs in rows:
        k = recs["segmetrics_kernel"]
        per = f"{1e6 * min(k['times']) / (info['pairs'] / 1000):.0f}" if k.get("times") else "-"
        line = (f"| {info['n_gt']:,} / {info['n_pred']:,} | {info['pairs']:,} | {_cell(recs['segmetrics'])} "
                f"| {_cell(k, memory=False)} | {per} | {_cell(recs['panopticapi'])} | {_cell(recs['hotcoco'])} |")
        if args.before:
            line += f" {_cell(recs['before'])} |"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    sys.stdout.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
