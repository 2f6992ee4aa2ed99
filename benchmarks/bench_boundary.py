"""Cost of the boundary kernels next to the plain folder run and the per-image OpenCV oracle.

Usage::

    python benchmarks/bench_boundary.py [--images 100] [--repeat 3] [--seed 0] [--out FILE] [--quick]

On the ADE20K-like semantic set and the COCO-like panoptic set of :mod:`datasets` (cached
under ``benchmarks/data/``), one thread, best of ``--repeat``:

* **plain folder run**: ``evaluate_semantic_files`` / ``evaluate_panoptic_files`` with
  ``jobs=1`` (PNG decoding and counting, what ``segmetrics eval`` does without
  ``--boundary``);
* **fused `--boundary` folder run**: the same with ``boundary=True`` (the evaluators'
  setting that ``segmetrics eval --boundary`` passes): the row walk also builds both
  maps' runs, the band pass counts the interiors before the image's call returns, and
  Boundary PQ is matched on the same pair table.  The ratio of these two rows is the
  cost of ``--boundary`` (goal: at most 1.5x);
* the parts of the band work on decoded maps, for the breakdown: **runs** (both maps as
  runs of codes / dense segment indices, as the array API makes them), **band + count**
  (the band pass and the interior counts, ``bd_semantic_interior`` /
  ``bd_panoptic_interior``; panoptic also with the intersection table counted);
* **array API**: ``boundary_iou_counts`` / ``boundary_panoptic_stats`` per image from
  decoded arrays (validation, runs, band, counts; panoptic also mask PQ and PQ-dagger);
* **OpenCV oracle**: the reference definition per image, one ``cv2.erode`` per class
  (semantic) or per segment (panoptic) and a joint histogram, as boundary-iou-api does.

Every kernel count is checked equal to the OpenCV oracle on the first images, and the
fused folder run's band counts equal to the array API's on every image.  The markdown
section goes to ``benchmarks/results/boundary.md`` (``--quick``:
``benchmarks/_work/boundary.md``) and to stdout.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from machine_info import cpu_model  # noqa: E402

N_CLASSES = 150
RATIO = 0.02


def _interleaved(steps: dict, repeat: int, once: tuple = ()) -> dict:
    """Best wall and process-CPU seconds of each step, the steps taking turns in every round
    (so a change of machine load hits them alike); the steps in ``once`` run in the first
    round only."""
    best = {name: [float("inf"), float("inf")] for name in steps}
    for k in range(repeat):
        for name, fn in steps.items():
            if k and name in once:
                continue
            t, c = time.perf_counter(), time.process_time()
            fn()
            c, t = time.process_time() - c, time.perf_counter() - t
            best[name] = [min(best[name][0], t), min(best[name][1], c)]
    return best


def _read(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im))


def _cv_band(mask, d):
    import cv2

    h, w = mask.shape
    m = mask.astype(np.uint8)
    padded = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return m - cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:h + 1, 1:w + 1]


# ---------------------------------------------------------------------------------------- semantic


def semantic(n_images: int, seed: int, repeat: int, check: int) -> dict:
    import datasets
    import segmetrics
    import segmetrics.folders as sev
    from segmetrics import boundary as sb
    from segmetrics._kernels import boundary as kb

    root = datasets.ade20k_like_dir(n_images, seed)
    pairs = [(p.stem, p, root / "pred" / p.name) for p in sorted((root / "gt").glob("*.png"))][:n_images]
    images = [(_read(g), _read(p)) for _, g, p in pairs]
    mpx = sum(g.size for g, _ in images) / 1e6
    ev = segmetrics.SemanticEvaluator(N_CLASSES, reduce_zero_label=True)
    counter = ev._counter
    tables = [counter.tables(g.dtype, p.dtype) for g, p in images[:1]][0]
    _, gcodes, pcodes, has_ign, raw_ign = tables
    widths = [kb.dilation(*g.shape, RATIO) for g, _ in images]

    def plain():
        sev.evaluate_semantic_files(pairs, segmetrics.SemanticEvaluator(N_CLASSES, reduce_zero_label=True), jobs=1)

    def fused():
        return sev.evaluate_semantic_files(pairs, segmetrics.SemanticEvaluator(
            N_CLASSES, reduce_zero_label=True, boundary=True, dilation_ratio=RATIO), jobs=1)

    runs = []

    def encode():
        runs.clear()
        for g, p in images:
            runs.append((kb.encode_codes(g, gcodes, has_ign, raw_ign), kb.encode_codes(p, pcodes, False, 0)))

    out = [np.zeros(N_CLASSES, np.int64) for _ in range(3)]

    def count():  # interior counts; the band counts are the confusion matrix's totals minus them
        for (rg, rp), d in zip(runs, widths):
            kb.semantic_interior(rg, rp, d, *out)

    def api():
        for g, p in images:
            sb.boundary_iou_counts(g, p, num_classes=N_CLASSES, reduce_zero_label=True)

    def oracle(items=images):
        res = []
        for g, p in items:
            eff = np.where(g == 0, 255, g.astype(np.int64) - 1)
            valid = eff != 255
            d = kb.dilation(*g.shape, RATIO)
            inter, gb, pb = (np.zeros(N_CLASSES, np.int64) for _ in range(3))
            for c in np.union1d(np.unique(eff[valid]), np.unique(p)):
                a = _cv_band(eff == c, d).astype(bool)
                b = _cv_band(p == c, d).astype(bool) & valid
                inter[c], gb[c], pb[c] = np.count_nonzero(a & b), np.count_nonzero(a), np.count_nonzero(b)
            res.append((inter, gb, pb))
        return res

    for (g, p), want in zip(images[:check], oracle(images[:check])):
        got = sb.boundary_iou_counts(g, p, num_classes=N_CLASSES, reduce_zero_label=True)
        for a, b in zip((got.intersection, got.gt_band, got.pred_band), want):
            if not np.array_equal(a, b):
                raise SystemExit("semantic kernel counts differ from the OpenCV oracle")
    st = fused().state
    total = sum((sb.boundary_iou_counts(g, p, num_classes=N_CLASSES, reduce_zero_label=True) for g, p in images[1:]),
                sb.boundary_iou_counts(*images[0], num_classes=N_CLASSES, reduce_zero_label=True))
    if not all(np.array_equal(a, b) for a, b in zip((st.boundary_inter, st.boundary_gt, st.boundary_pred),
                                                     (total.intersection, total.gt_band, total.pred_band))):
        raise SystemExit("the fused folder run's band counts differ from the array API's")
    encode()
    t = _interleaved({"plain folder run": plain, "fused `--boundary` folder run": fused, "runs (both maps)": encode,
                      "band + count": count, "array API (boundary_iou_counts)": api,
                      "OpenCV oracle (per class)": oracle},
                     repeat, once=("OpenCV oracle (per class)",))
    return {"name": f"ADE20K-like, {len(images)} images, {mpx:.1f} Mpx, 150 classes, d = "
                    f"{min(widths)}-{max(widths)}",
            "n": len(images), "mpx": mpx, "times": t}


# ---------------------------------------------------------------------------------------- panoptic


def panoptic(n_images: int, seed: int, repeat: int, check: int) -> dict:
    import datasets
    import segmetrics
    import segmetrics.folders as sev
    from segmetrics import boundary as sb
    from segmetrics._kernels import boundary as kb
    from segmetrics.io.coco_panoptic import load_panoptic_json, rgb2id
    from segmetrics.panoptic import CategoryIndex, _segment_arrays

    root = datasets.coco_panoptic_dir(n_images, seed)
    gt_ds = load_panoptic_json(root / "gt.json", root / "gt")
    pred_ds = load_panoptic_json(root / "pred.json", root / "pred", require_categories=False)
    ids = list(gt_ds.annotations)[:n_images]
    cats = CategoryIndex(gt_ds.categories)
    items = []
    for iid in ids:
        ga, pa = gt_ds.annotations[iid], pred_ds.annotations[iid]
        g, p = _read(root / "gt" / ga["file_name"]), _read(root / "pred" / pa["file_name"])
        gcol = _segment_arrays(ga["segments_info"], cats, "ground-truth", "b")
        pcol = _segment_arrays(pa["segments_info"], cats, "prediction", "b")
        items.append((g, ga["segments_info"], p, pa["segments_info"], gcol, pcol))
    mpx = sum(g.shape[0] * g.shape[1] for g, *_ in items) / 1e6
    widths = [kb.dilation(g.shape[0], g.shape[1], RATIO) for g, *_ in items]
    sub_gt = type(gt_ds)(gt_ds.path, gt_ds.folder, {i: gt_ds.annotations[i] for i in ids}, gt_ds.images,
                         gt_ds.categories, gt_ds.columns)

    def plain():
        sev.evaluate_panoptic_files(sub_gt, pred_ds, segmetrics.PanopticEvaluator(gt_ds.categories), jobs=1)

    def fused():
        return sev.evaluate_panoptic_files(sub_gt, pred_ds, segmetrics.PanopticEvaluator(
            gt_ds.categories, boundary=True, dilation_ratio=RATIO), jobs=1)

    runs = []

    def encode():
        runs.clear()
        for g, _, p, _, gcol, pcol in items:
            h, w = g.shape[:2]
            rg, _ = kb.encode_ids(g.reshape(h, -1), True, w, gcol[0])
            rp, _ = kb.encode_ids(p.reshape(h, -1), True, w, pcol[0])
            runs.append((rg, rp, gcol[0].size, pcol[0].size))

    tables = []

    def count(count_mask=True):
        tables.clear()
        for (rg, rp, ng, npr), d in zip(runs, widths):
            eg, ep, em, inner, gi, pi = kb.panoptic_interior(rg, rp, d, ng, npr, count_mask)
            gpx = np.zeros(ng + 1, np.int64)
            np.add.at(gpx, eg, em)
            ppx = np.zeros(npr + 1, np.int64)
            np.add.at(ppx, ep, em)
            tables.append((eg, ep, em, em - inner, gpx - gi, ppx - pi))

    def count_fused():  # without the intersection table (the fused loop has the engine's)
        for (rg, rp, ng, npr), d in zip(runs, widths):
            kb.panoptic_interior(rg, rp, d, ng, npr, False)

    def api():
        for g, gs, p, ps, _, _ in items:
            sb.boundary_panoptic_stats(g, gs, p, ps, cats)

    def oracle(subset=items):
        """boundary-iou-api's per-image work: one erosion per segment, joint histograms."""
        out = []
        for g, gs, p, ps, _, _ in subset:
            gid, pid = rgb2id(g).astype(np.uint64), rgb2id(p).astype(np.uint64)
            d = kb.dilation(g.shape[0], g.shape[1], RATIO)
            bands = []
            for m, segs in ((gid, gs), (pid, ps)):
                bmap = np.zeros(m.shape, np.uint64)  # 0: void, 2^24: interior (RGB ids are below), else the id
                bmap[m != 0] = 1 << 24
                areas = {}
                for s in segs:
                    mask = m == s["id"]
                    band = _cv_band(mask, d).astype(bool)
                    bmap[band] = s["id"]
                    areas[s["id"]] = int(band.sum())
                bands.append((bmap, areas))
            key = bands[0][0] * np.uint64(1 << 25) + bands[1][0]
            u, c = np.unique(key, return_counts=True)
            mkey = gid * np.uint64(1 << 24) + pid
            mu, mc = np.unique(mkey, return_counts=True)
            out.append((u, c, mu, mc, bands[0][1], bands[1][1]))
        return out

    # check: band areas and band pair counts of the kernel == the OpenCV histogram
    encode()
    count()
    for j, (u, c, _, _, garea, parea) in enumerate(oracle(items[:check])):
        eg, ep, em, eb, gband, pband = tables[j]
        gcol, pcol = items[j][4], items[j][5]
        if [garea[int(i)] for i in gcol[0]] != gband[1:].tolist() or \
                [parea[int(i)] for i in pcol[0]] != pband[1:].tolist():
            raise SystemExit("panoptic band areas differ from the OpenCV oracle")
        hist = {(int(a // (1 << 25)), int(a % (1 << 25))): int(n) for a, n in zip(u, c)}
        gi = np.concatenate([[0], gcol[0]])
        pi = np.concatenate([[0], pcol[0]])
        for gg, pp, bb in zip(eg.tolist(), ep.tolist(), eb.tolist()):
            if pp and (gg == 0 or bb):
                if hist.get((int(gi[gg]), int(pi[pp])), 0) != bb:
                    raise SystemExit("panoptic band intersections differ from the OpenCV oracle")
    ev = segmetrics.PanopticEvaluator(gt_ds.categories, boundary=True, dilation_ratio=RATIO)
    for g, gs, p, ps, _, _ in items:
        ev.update(g, gs, p, ps)
    a, b = fused().state, ev.state
    for key in ("btp", "bfp", "bfn", "tp", "fp", "fn", "gt_segments"):
        if not np.array_equal(getattr(a, key), getattr(b, key)):
            raise SystemExit(f"the fused folder run's {key} differs from the array API's")
    if not (np.array_equal(a.boundary_iou_sum(), b.boundary_iou_sum())
            and np.array_equal(a.stuff_iou_sum(), b.stuff_iou_sum())):
        raise SystemExit("the fused folder run's IoU sums differ from the array API's")
    n_seg = np.mean([len(gs) + len(ps) for _, gs, _, ps, _, _ in items])
    t = _interleaved({"plain folder run": plain, "fused `--boundary` folder run": fused, "runs (both maps)": encode,
                      "band + count (with the intersection table)": count,
                      "band + count (interiors only)": count_fused,
                      "array API (boundary_panoptic_stats)": api, "OpenCV oracle (per segment)": oracle},
                     repeat, once=("OpenCV oracle (per segment)",))
    return {"name": f"COCO-like, {len(items)} images, {mpx:.1f} Mpx, {n_seg:.0f} segments per image pair, "
                    f"d = {min(widths)}-{max(widths)}",
            "n": len(items), "mpx": mpx, "times": t}


# ---------------------------------------------------------------------------------------- report


def _section(results: list, args, load: str) -> str:
    import segmetrics

    lines = [
        "## Boundary kernels (`benchmarks/bench_boundary.py`)",
        "",
        f"Command: `python benchmarks/bench_boundary.py --images {args.images} --repeat {args.repeat}`  ",
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, segmetrics from this tree ({segmetrics.__name__}).  ",
        f"Date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Load average at start: {load}.  ",
        f"One thread; the steps take turns in each of {args.repeat} rounds and each keeps its best "
        f"(the OpenCV oracle runs in the first round only); CPU = process CPU time, which other "
        f"jobs on the machine disturb less than the wall time.  Dilation ratio {RATIO}.  Kernel counts "
        f"checked equal to the OpenCV oracle on the first {args.check} images of each set.",
        "",
    ]
    for r in results:
        plain = r["times"]["plain folder run"][1]
        lines += [f"### {r['name']}", "",
                  "| step | CPU ms/image | CPU ms/Mpx | CPU vs plain folder run | wall ms/image |",
                  "|---|---:|---:|---:|---:|"]
        for step, (wall, cpu) in r["times"].items():
            lines.append(f"| {step} | {1e3 * cpu / r['n']:.3f} | {1e3 * cpu / r['mpx']:.2f} | {cpu / plain:.2f}x "
                         f"| {1e3 * wall / r['n']:.3f} |")
        fused = r["times"]["fused `--boundary` folder run"][1]
        oracle = r["times"][next(k for k in r["times"] if k.startswith("OpenCV"))][1]
        extra = (f"its extra work {oracle / (fused - plain):.0f}x cheaper" if fused > plain
                 else "its extra work below what this measurement resolves")
        lines += ["", f"Measured: the fused `--boundary` folder run costs **{fused / plain:.2f}x** the plain "
                      f"folder run (CPU; goal: at most 1.5x); the whole fused run is {oracle / fused:.0f}x faster "
                      f"than the per-image OpenCV oracle alone, {extra}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", type=int, default=5, help="images per set checked against the OpenCV oracle")
    ap.add_argument("--only", choices=["semantic", "panoptic"])
    ap.add_argument("--quick", action="store_true", help="5 images, 1 repeat, result under benchmarks/_work/")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.repeat, args.check = 5, 1, 2
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"
    results = []
    if args.only != "panoptic":
        results.append(semantic(args.images, args.seed, args.repeat, args.check))
    if args.only != "semantic":
        results.append(panoptic(args.images, args.seed, args.repeat, args.check))
    text = _section(results, args, load)
    out = Path(args.out) if args.out else (ROOT / "benchmarks" / ("_work" if args.quick else "results") / "boundary.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
