"""The in-memory confusion-matrix kernel on every data regime: segmetrics vs hotcoco, vernier, np.bincount.

Usage::

    python benchmarks/bench_semantic_kernel.py [--images 16] [--repeats 7] [--quick] [--out FILE]

Regimes (uint8 label maps in memory, made by :mod:`datasets` and :mod:`ragged`):

- uniform noise: random labels everywhere, the prediction equal on 70 % of the pixels;
- large blobs: Voronoi cells (20-60 per 512 x 512 image), ADE20K file convention,
  predictions with shifted borders and a fifth of the cells relabelled;
- the same blobs with 5 % and with 30 % salt noise (uniform random labels) in the prediction;
- boundary-rich: the ragged generator with many small regions (600 objects of
  8 x 8 cells per image), ragged borders, speckled predictions;
- ADE20K-like: :func:`datasets.make_ade20k_pair` (``reduce_zero_label``);
- Cityscapes-like: 1024 x 2048 label ids; segmetrics applies the ``cityscapes``
  preset's label-id -> train-id map inside the count, the peers count train-id
  GT converted beforehand (outside the timed region: the strict comparison).

Methods, one thread each: segmetrics ``SemanticEvaluator.update`` (the public
path), the compiled kernel it calls (``segmetrics._kernels.confusion.accumulate``,
reached through one adapter), hotcoco ``SemanticEval.update``, vernier
``Evaluator.evaluate`` (one call over the regime's arrays, ``num_threads=1``;
for the ADE20K convention it gets the predictions shifted to 1..150 with 151
classes and ``ignore_label=0``), and ``np.bincount`` the way mmsegmentation's
``intersect_and_union`` counts.  Every method must give the same confusion
matrix in every regime (exit status 1 otherwise).

Times are CPU time of the calling thread (``time.thread_time``; every method
counts on the calling thread): per image the least over ``--repeats`` passes
(interleaved between methods), summed; vernier, one call per pass, the least
pass.  Writes ``benchmarks/results/semantic_kernel.md``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from machine_info import header, load  # noqa: E402

K = 150
IGNORE = 255
SIZE = 512


# ----------------------------------------------------------------------------------------------
# regimes: each is (title, conv, pairs); conv "ade20k" (GT 0..150, reduce_zero_label),
# "plain" (GT 0..K-1 and 255) or "cityscapes" (GT label ids)
# ----------------------------------------------------------------------------------------------

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


def blob_pairs(n_images, seed=0):
    """Voronoi blobs, ADE20K file convention (GT 0..150, predictions 0..149)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n_images):
        n_cells = int(rng.integers(20, 60))
        cell, seeds = voronoi(rng, n_cells)
        labels = rng.integers(0, K + 1, n_cells)  # 0 = "other" (ignored after reduce_zero_label)
        moved = np.clip(seeds + rng.integers(-12, 13, seeds.shape), 0, SIZE - 1)
        pcell, _ = voronoi(rng, n_cells, moved)
        plabels = np.maximum(labels - 1, 0)
        wrong = rng.random(n_cells) < 0.2
        plabels[wrong] = rng.integers(0, K, int(wrong.sum()))
        pairs.append((labels[cell].astype(np.uint8), plabels[pcell].astype(np.uint8)))
    return pairs


def regimes(n_images: int, n_city: int) -> list[tuple[str, str, list]]:
    from datasets import make_ade20k_pair
    from ragged import cityscapes_pair, noise_pair, ragged_semantic_pair, salted

    blobs = blob_pairs(n_images)
    rng = np.random.default_rng([17, 1])
    noise = [noise_pair(rng, SIZE, SIZE) for _ in range(n_images)]
    salt5 = [(g, salted(rng, p, 0.05)) for g, p in blobs]
    salt30 = [(g, salted(rng, p, 0.30)) for g, p in blobs]
    rich = [ragged_semantic_pair(rng, SIZE, 640, step_small=8, n_small=600) for _ in range(n_images)]
    ade_rng = np.random.default_rng([0, 150])
    ade = [make_ade20k_pair(ade_rng) for _ in range(n_images)]
    city = [cityscapes_pair(rng) for _ in range(n_city)]
    return [
        ("uniform noise (random labels, 70 % agreement)", "plain", noise),
        ("large blobs (Voronoi cells)", "ade20k", blobs),
        ("large blobs + 5 % salt noise", "ade20k", salt5),
        ("large blobs + 30 % salt noise", "ade20k", salt30),
        ("boundary-rich (ragged, many small regions, speckle)", "plain", rich),
        ("ADE20K-like (`datasets.make_ade20k_pair`)", "ade20k", ade),
        ("Cityscapes-like 1024 x 2048, label-id map fused", "cityscapes", city),
    ]


def cityscapes_tables():
    """(segmetrics GT lookup table of the preset, uint8 label id -> train id table for the peers)."""
    from segmetrics.labels import label_map_lut
    from segmetrics.presets import get_preset

    p = get_preset("cityscapes")
    lut = label_map_lut(p.label_map, num_classes=19, ignore_index=p.ignore_index)
    return lut, lut.astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# methods: make(conv, k) -> (step(gt, pred), result()) for per-image methods, or
# ("batch", run(pairs) -> matrix) for one-call tools; pairs are already in the peer's form
# ----------------------------------------------------------------------------------------------

def make_segmetrics(conv, k):
    from segmetrics import SemanticEvaluator

    gt_map = cityscapes_tables()[0] if conv == "cityscapes" else None
    ev = SemanticEvaluator(k, reduce_zero_label=conv == "ade20k", gt_map=gt_map)
    return ev.update, lambda: ev.state.confusion


def make_kernel(conv, k):
    """The compiled kernel behind ``update`` (internal API: this adapter is the only caller)."""
    from segmetrics._kernels.confusion import accumulate

    if conv == "ade20k":
        gcodes = np.full(k + 1, -1, np.int32)  # raw 0 -> ignored, raw v -> v - 1
        gcodes[1:] = np.arange(k)
    elif conv == "cityscapes":
        gcodes = cityscapes_tables()[0].astype(np.int32)
        gcodes[gcodes == IGNORE] = -1
    else:
        gcodes = np.arange(k, dtype=np.int32)
    pcodes = np.arange(k, dtype=np.int32)
    cm = np.zeros((k, k), np.int64)
    return (lambda g, p: accumulate(cm, g, p, gcodes, pcodes, True, IGNORE)), lambda: cm


def make_hotcoco(conv, k):
    from hotcoco import semantic

    ev = semantic.SemanticEval(k, reduce_zero_label=conv == "ade20k")
    return ev.update, lambda: ev.confusion().astype(np.int64)


def make_bincount(conv, k):
    # mmsegmentation's intersect_and_union: reduce_zero_label, mask the ignored GT, count
    cm = np.zeros(k * k, np.int64)

    def step(g, p):
        label = g.astype(np.int64)
        if conv == "ade20k":
            label[label == 0] = 255
            label = label - 1
            label[label == 254] = 255
        mask = label != IGNORE
        cm[:] += np.bincount(k * label[mask] + p[mask], minlength=k * k)

    return step, lambda: cm.reshape(k, k)


def make_vernier(conv, k):
    from vernier import semantic as vs

    ade = conv == "ade20k"

    def run(pairs):
        gt = {i: g for i, (g, _) in enumerate(pairs)}
        pred = {i: p for i, (_, p) in enumerate(pairs)}
        s = vs.Evaluator(parity_mode="strict").evaluate(
            vs.Dataset.from_arrays(gt, k + int(ade), 0 if ade else IGNORE), vs.Predictions.from_arrays(pred),
            num_threads=1)
        cm = s.confusion_matrix.counts().astype(np.int64)
        return cm[1:, 1:] if ade else cm

    return "batch", run


METHODS = {
    "segmetrics SemanticEvaluator.update": make_segmetrics,
    "segmetrics kernel accumulate()": make_kernel,
    "hotcoco SemanticEval.update": make_hotcoco,
    "vernier Evaluator.evaluate (one call)": make_vernier,
    "np.bincount, mmseg style": make_bincount,
}
OURS, HOT, BINCOUNT = "segmetrics SemanticEvaluator.update", "hotcoco SemanticEval.update", "np.bincount, mmseg style"


def peer_pairs(name, conv, pairs):
    """The arrays a method reads: segmetrics the raw files' labels; the peers train ids for
    Cityscapes; vernier predictions shifted to 1..150 for the ADE20K convention."""
    if conv == "cityscapes" and not name.startswith("segmetrics"):
        to_train = cityscapes_tables()[1]
        return [(to_train[g], p) for g, p in pairs]
    if conv == "ade20k" and name.startswith("vernier"):
        return [(g, p + np.uint8(1)) for g, p in pairs]
    return pairs


def measure(conv, pairs, repeats):
    """Per method: (seconds of CPU, Mpx/s) or an error string; raises SystemExit on disagreement."""
    k = 19 if conv == "cityscapes" else K
    inputs = {name: peer_pairs(name, conv, pairs) for name in METHODS}
    best = {name: [float("inf")] * len(pairs) for name in METHODS}
    errors, ref = {}, None
    for _ in range(repeats):
        for name, make in METHODS.items():
            if name in errors:
                continue
            try:
                made = make(conv, k)
            except ImportError as exc:
                errors[name] = f"not installed ({exc.name})"
                continue
            except (AttributeError, TypeError) as exc:  # an internal API that moved
                errors[name] = f"n/a ({type(exc).__name__}: {exc})"
                continue
            data = inputs[name]
            if made[0] == "batch":
                t0 = time.thread_time()
                cm = made[1](data)
                best[name][0] = min(best[name][0], time.thread_time() - t0)
                best[name][1:] = [0.0] * (len(pairs) - 1)
            else:
                step, result = made
                for i, (g, p) in enumerate(data):
                    t0 = time.thread_time()
                    step(g, p)
                    best[name][i] = min(best[name][i], time.thread_time() - t0)
                cm = result()
            if ref is None:
                ref = np.array(cm, dtype=np.int64)
            elif not np.array_equal(cm, ref):
                raise SystemExit(f"{name} gives a different confusion matrix")
    mpx = sum(g.size for g, _ in pairs) / 1e6
    return {name: errors.get(name) or (sum(t), mpx / sum(t)) for name, t in best.items()}, mpx


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None, help="512-pixel images per regime (default 16; --quick 3)")
    ap.add_argument("--city", type=int, default=None, help="Cityscapes-like images (default 3; --quick 1)")
    ap.add_argument("--repeats", type=int, default=None, help="passes, least time kept (default 7; --quick 2)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    n = args.images or (3 if args.quick else 16)
    n_city = args.city or (1 if args.quick else 3)
    repeats = args.repeats or (2 if args.quick else 7)
    out = args.out or (HERE / "_work" / "semantic_kernel_quick.md" if args.quick else HERE / "results" / "semantic_kernel.md")
    cmd = "python benchmarks/bench_semantic_kernel.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    data = regimes(n, n_city)
    load_before = load()
    started = datetime.datetime.now(datetime.timezone.utc)
    tables = [(title, conv, *measure(conv, pairs, repeats)) for title, conv, pairs in data]
    load_after = load()

    lines = header("Semantic confusion-matrix kernel on every data regime (in memory, one thread)", cmd, started,
                   load_before, load_after, ("numpy", "hotcoco", "vernier"))
    lines += [
        f"- data: {n} images of 512 x 512 (boundary-rich: 512 x 640) per regime, {n_city} Cityscapes-like "
        "1024 x 2048; every method gives the same confusion matrix in every regime (checked)",
        f"- time: CPU time of the calling thread, per image the least of {repeats} interleaved passes, summed "
        "(vernier: one call per pass, the least pass); `Mpx/s` counts GT pixels",
        "",
        "| regime | " + " | ".join(f"{m} Mpx/s" for m in METHODS) + " | update x hotcoco | update x bincount |",
        "|---|" + "---:|" * (len(METHODS) + 2),
    ]
    goal_fail = []
    for title, conv, res, mpx in tables:
        cells = [f"{v[1]:.0f}" if isinstance(v, tuple) else v for v in res.values()]
        ours, hot, bc = res[OURS], res[HOT], res[BINCOUNT]
        x_hot = ours[1] / hot[1] if isinstance(hot, tuple) else None
        x_bc = ours[1] / bc[1]
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {'-' if x_hot is None else f'{x_hot:.2f}x'} | "
                     f"{x_bc:.2f}x |")
        if (x_hot is not None and x_hot < 1.5) or x_bc < 1.0:
            goal_fail.append(title)
    lines += ["", "CPU milliseconds per regime (sum over its images):", "",
              "| regime | Mpx | " + " | ".join(METHODS) + " |", "|---|---:|" + "---:|" * len(METHODS)]
    for title, conv, res, mpx in tables:
        lines.append(f"| {title} | {mpx:.1f} | " + " | ".join(f"{1000 * v[0]:.1f}" if isinstance(v, tuple) else "-"
                                                            for v in res.values()) + " |")
    lines += ["", f"Goal 1 of issue 17 (`SemanticEvaluator.update` >= 1.5x hotcoco's `update` on every regime, "
              f"never slower than `np.bincount`): "
              + ("**met** on every regime" if not goal_fail else f"**NOT met** on: {'; '.join(goal_fail)}"), ""]
    text = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
