"""In-memory confusion-matrix throughput: segmetrics vs hotcoco, NumPy bincount, torchmetrics.

ADE20K-like data: 512 x 512 uint8 label maps made of blob-shaped regions
(Voronoi cells), 150 classes, ground truth in the ADE20K file convention
(0 = "other", 1..150) scored with reduce_zero_label; predictions in 0..149 with
blob-shaped errors (cell borders shifted, a fifth of the cells relabelled).
A second data set adds 5% salt noise to the predictions (the unfavourable
case for run-length counting).

Every method runs on one thread and produces the same confusion matrix
(checked).  Each image's time is the least thread CPU time over ``--repeats``
passes (interleaved between methods), summed over the images.  Writes a Markdown section to
``benchmarks/results/semantic_kernel.md``.

Usage: ``python benchmarks/bench_semantic_kernel.py [--images 16] [--repeats 5]``
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from machine_info import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from segmetrics import SemanticEvaluator  # noqa: E402

K = 150
IGNORE = 255
SIZE = 512


def voronoi(rng, n_cells, seeds=None):
    """Label map of Voronoi cells; returns (map of cell index, seeds)."""
    if seeds is None:
        seeds = rng.integers(0, SIZE, (n_cells, 2))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    best = np.full((SIZE, SIZE), np.iinfo(np.int64).max)
    cell = np.zeros((SIZE, SIZE), np.int64)
    for i, (y, x) in enumerate(seeds):
        d = (yy - y) ** 2 + (xx - x) ** 2
        closer = d < best
        best[closer] = d[closer]
        cell[closer] = i
    return cell, seeds


def make_images(n_images, seed=0):
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for _ in range(n_images):
        n_cells = int(rng.integers(20, 60))
        cell, seeds = voronoi(rng, n_cells)
        labels = rng.integers(0, K + 1, n_cells)  # 0 = "other" (ignored after reduce_zero_label)
        gt = labels[cell].astype(np.uint8)
        moved = np.clip(seeds + rng.integers(-12, 13, seeds.shape), 0, SIZE - 1)
        pcell, _ = voronoi(rng, n_cells, moved)
        plabels = np.maximum(labels - 1, 0)
        wrong = rng.random(n_cells) < 0.2
        plabels[wrong] = rng.integers(0, K, int(wrong.sum()))
        gts.append(gt)
        preds.append(plabels[pcell].astype(np.uint8))
    return gts, preds


def salted(preds, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for p in preds:
        noisy = p.copy()
        m = rng.random(p.shape) < 0.05
        noisy[m] = rng.integers(0, K, int(m.sum()))
        out.append(noisy)
    return out


# ---------------------------------------------------------------- methods
# Each factory returns (step, result): step(gt, pred) counts one image, result()
# returns the (K, K) int64 matrix of everything counted.
def make_segmetrics():
    ev = SemanticEvaluator(K, reduce_zero_label=True)
    return ev.update, lambda: ev.state.confusion


def make_kernel():
    from segmetrics._kernels.confusion import accumulate

    gcodes = np.full(K + 1, -1, np.int32)  # raw 0 -> ignored, raw k -> k - 1
    gcodes[1:] = np.arange(K)
    pcodes = np.arange(K, dtype=np.int32)
    cm = np.zeros((K, K), np.int64)
    return (lambda g, p: accumulate(cm, g, p, gcodes, pcodes, True, IGNORE)), lambda: cm


def make_hotcoco():
    from hotcoco import semantic

    ev = semantic.SemanticEval(K, reduce_zero_label=True)
    return ev.update, lambda: ev.confusion().astype(np.int64)


def make_bincount_mmseg():
    # mmsegmentation's intersect_and_union: reduce_zero_label, mask the ignored GT, count
    cm = np.zeros(K * K, np.int64)

    def step(g, p):
        label = g.astype(np.int64)
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
        mask = label != IGNORE
        cm[:] += np.bincount(K * label[mask] + p[mask], minlength=K * K)

    return step, lambda: cm.reshape(K, K)


def make_bincount_detectron2():
    # detectron2's SemSegEvaluator: ignored GT becomes class K, one bincount over (K+1)^2
    cm = np.zeros((K + 1) * (K + 1), np.int64)

    def step(g, p):
        gt = g.astype(np.int64) - 1
        gt[gt < 0] = K
        gt[gt == 254] = K
        cm[:] += np.bincount((K + 1) * p.reshape(-1).astype(np.int64) + gt.reshape(-1),
                             minlength=(K + 1) ** 2)

    return step, lambda: cm.reshape(K + 1, K + 1)[:K, :K].T.copy()


def make_torchmetrics():
    import torch
    from torchmetrics.classification import MulticlassConfusionMatrix

    metric = MulticlassConfusionMatrix(K, ignore_index=IGNORE, validate_args=False)

    def step(g, p):
        t = torch.from_numpy(g).long()
        t = torch.where(t == 0, IGNORE, t - 1)
        metric.update(torch.from_numpy(p).long(), t)

    return step, lambda: metric.compute().numpy().astype(np.int64)


METHODS = {
    "segmetrics SemanticEvaluator.update": make_segmetrics,
    "segmetrics kernel accumulate()": make_kernel,
    "hotcoco SemanticEval.update": make_hotcoco,
    "np.bincount, mmseg style": make_bincount_mmseg,
    "np.bincount, detectron2 style": make_bincount_detectron2,
    "torchmetrics MulticlassConfusionMatrix": make_torchmetrics,
}


def measure(gts, preds, repeats):
    """Mpx/s per method: per image the least CPU time (thread_time) over the passes, summed.

    CPU time of the calling thread leaves out the time other jobs on a shared
    machine take the core away; every method here counts on the calling thread.
    """
    best = {name: [float("inf")] * len(gts) for name in METHODS}
    ref = None
    for _ in range(repeats):
        for name, make in METHODS.items():
            step, result = make()
            for i, (g, p) in enumerate(zip(gts, preds)):
                t0 = time.thread_time()
                step(g, p)
                best[name][i] = min(best[name][i], time.thread_time() - t0)
            cm = result()
            if ref is None:
                ref = cm.copy()
            elif not np.array_equal(cm, ref):
                raise SystemExit(f"{name} gives a different confusion matrix")
    mpx = sum(g.size for g in gts) / 1e6
    return {name: mpx / sum(t) for name, t in best.items()}


def machine() -> str:
    return f"{os.cpu_count()} logical CPUs (`nproc`), {cpu_model()}, {platform.system()} {platform.machine()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "semantic_kernel.md")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    import hotcoco
    import torchmetrics

    gts, preds = make_images(args.images)
    tables = {"blob-shaped predictions": measure(gts, preds, args.repeats),
              "predictions with 5% salt noise": measure(gts, salted(preds), args.repeats)}

    lines = [
        "## Semantic confusion-matrix kernel (in memory, single thread)",
        "",
        f"Command: `python benchmarks/bench_semantic_kernel.py --images {args.images} --repeats {args.repeats}`",
        f"Machine: {machine()}; shared with other jobs while measured: times are the",
        "calling thread's CPU time (least over the interleaved passes, per image), ratios from one run.",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. "
        f"numpy {np.__version__}, torch {torch.__version__}, torchmetrics {torchmetrics.__version__}, "
        f"hotcoco {getattr(hotcoco, '__version__', '?')}.",
        "",
        f"Data: {args.images} ADE20K-like {SIZE}x{SIZE} uint8 maps, blob (Voronoi) regions, {K} classes,",
        "GT 0..150 with reduce_zero_label, predictions 0..149. All methods give the same matrix.",
        "",
    ]
    for title, res in tables.items():
        hc = res["hotcoco SemanticEval.update"]
        bc = res["np.bincount, mmseg style"]
        lines += [f"### {title}", "", "| method | Mpx/s | vs hotcoco | vs np.bincount (mmseg) |",
                  "|---|---:|---:|---:|"]
        for name, v in res.items():
            lines.append(f"| {name} | {v:.0f} | {v / hc:.2f}x | {v / bc:.2f}x |")
        lines.append("")
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
