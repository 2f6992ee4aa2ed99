"""Deterministic synthetic datasets for the benchmarks.

``make_coco_panoptic(out_dir, n_images=500, seed=0)`` writes a COCO-like
panoptic ground truth and a perturbed prediction in the official format::

    out_dir/gt.json    out_dir/gt/<image>.png
    out_dir/pred.json  out_dir/pred/<image>.png

Images are 640 wide and 360 to 480 high.  Stuff classes tile the background
as noisy Voronoi regions; about 20 thing "blobs" (ellipses with wavy borders)
sit on top, some of them crowd; a thin void band separates some objects as in
COCO; segment ids come from category colours plus a small jitter, as
panopticapi's ``IdGenerator`` makes them, so the PNG files compress like real
ones (tens of kB).  The prediction moves, rescales, relabels, drops, merges and
adds blobs, and perturbs the stuff borders.

``make_ade20k_like(out_dir, n_images=500, seed=0)`` writes an ADE20K-like
semantic set (SceneParsing ``ADEChallengeData2016`` conventions)::

    out_dir/gt/ADE_val_<n>.png     8-bit grey, 0 = other (ignored), 1..150 = class
    out_dir/pred/ADE_val_<n>.png   8-bit grey, 0..149 = class - 1 (what a model emits)

The prediction follows the mmsegmentation convention: a model trained with
``reduce_zero_label`` outputs ``0..149``, and the ground truth is reduced at
evaluation time (0 -> ignore 255, k -> k - 1).  Every tool is set up to score
exactly that: segmetrics ``SemanticEvaluator(150, reduce_zero_label=True)``
(``pred_reduce_zero_label`` left False), hotcoco
``SemanticEval(150, reduce_zero_label=True)``, and for numpy / torchmetrics the
ground truth is reduced by hand with ignore index 255.

Images have one side of 512 pixels and the other between 512 and 683, as most
ADE20K validation images.  A few large "stuff" regions (noisy Voronoi cells)
tile the image and a handful of object blobs with wavy borders sit on top;
classes are drawn with ADE20K-like skewed frequencies (wall, building, sky,
floor, tree first); about a tenth of the pixels are "other" (whole regions and
thin unlabelled rings around some objects).  Regions have smooth borders, so
Pillow's default encoder gives files of a few kB for 0.3 Mpx, like the real
annotation PNGs (3.5-4 kB for the samples in ``ade20k_sample``).  The
prediction jitters the borders, moves and rescales objects, swaps some classes,
misses some objects, adds a few, and labels the "other" regions with a class of
the image.

Both generators are deterministic: the same parameters give byte-identical
files.  ``coco_panoptic_dir`` and ``ade20k_like_dir`` return a cached copy
under ``benchmarks/data/`` (git-ignored), keyed by the parameters, generating
it on first use.

Run ``python benchmarks/datasets.py OUT_DIR --images 500 --seed 0 [--kind ade20k]``.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

if __name__ == "__main__":  # one BLAS thread: the many small products are 3-4x cheaper so
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from PIL import Image

__all__ = [
    "make_coco_panoptic", "panoptic_categories", "make_image_pair",
    "make_ade20k_like", "make_ade20k_pair", "coco_panoptic_dir", "ade20k_like_dir", "ade20k_pred_1based",
    "DATA_ROOT",
]

N_THING, N_STUFF = 80, 53
ADE_CLASSES = 150
DATA_ROOT = Path(__file__).resolve().parent / "data"


def panoptic_categories(seed: int = 1234) -> list[dict]:
    """133 COCO-like categories (80 things, 53 stuff) with fixed colours."""
    rng = np.random.default_rng(seed)
    cats = []
    for i in range(N_THING + N_STUFF):
        isthing = int(i < N_THING)
        cats.append({
            "id": i + 1 if isthing else 92 + (i - N_THING),
            "name": f"thing{i}" if isthing else f"stuff{i - N_THING}",
            "isthing": isthing,
            "supercategory": "thing" if isthing else "stuff",
            "color": [int(v) for v in rng.integers(0, 256, 3)],
        })
    return cats


def _interp_matrix(n: int, cells: int) -> np.ndarray:
    """``(n, cells + 1)`` linear-interpolation weights from a coarse grid to ``n`` samples."""
    pos = np.linspace(0, cells, n)
    i0 = np.minimum(pos.astype(int), cells - 1)
    f = pos - i0
    m = np.zeros((n, cells + 1), np.float32)
    m[np.arange(n), i0] = 1 - f
    m[np.arange(n), i0 + 1] = f
    return m


def _smooth_noise(rng, h: int, w: int, cells: int = 6, amp: float = 1.0) -> np.ndarray:
    """Bilinear upsampling of a coarse random grid: a smooth ``(h, w)`` float32 field."""
    grid = rng.normal(0.0, amp, (cells + 1, cells + 1)).astype(np.float32)
    return _interp_matrix(h, cells) @ grid @ _interp_matrix(w, cells).T


def _scene(rng, h: int, w: int, n_things: int) -> dict:
    """Random scene parameters: stuff seeds and thing blobs."""
    n_stuff = int(rng.integers(3, 8))
    stuff = {
        "seeds": np.column_stack([rng.uniform(0, h, n_stuff), rng.uniform(0, w, n_stuff)]),
        "cats": rng.integers(N_THING, N_THING + N_STUFF, n_stuff),
        "noise_seed": int(rng.integers(2**31)),
    }
    blobs = []
    for _ in range(n_things):
        r = float(rng.uniform(0.02, 0.2) * min(h, w) * rng.choice([0.3, 1.0, 1.0, 1.6]))
        blobs.append({
            "cy": float(rng.uniform(0, h)), "cx": float(rng.uniform(0, w)),
            "ry": r * float(rng.uniform(0.5, 1.6)), "rx": r * float(rng.uniform(0.5, 1.6)),
            "k": int(rng.integers(2, 6)), "a": float(rng.uniform(0.05, 0.3)), "phase": float(rng.uniform(0, 6.3)),
            "cat": int(rng.integers(0, N_THING)), "crowd": bool(rng.random() < 0.04),
            "void_ring": bool(rng.random() < 0.3),
        })
    return {"stuff": stuff, "blobs": blobs}


def _render(scene: dict, h: int, w: int, stuff_jitter: float = 0.0, jitter_seed: int = 0):
    """Paint a scene: returns (label map of segment indices, list of (cat, crowd)); -1 is void."""
    st = scene["stuff"]
    nrng = np.random.default_rng(st["noise_seed"])
    jrng = np.random.default_rng(jitter_seed)
    # stuff: noisy Voronoi regions, computed at half resolution and upsampled
    hh, hw = (h + 1) // 2, (w + 1) // 2
    sy_, sx_ = np.mgrid[0:hh, 0:hw].astype(np.float32) * 2
    best = np.full((hh, hw), np.inf, np.float32)
    low = np.zeros((hh, hw), np.int32)
    for i, (sy, sx) in enumerate(st["seeds"]):
        d = np.hypot(sy_ - sy, sx_ - sx) + 60.0 * _smooth_noise(nrng, hh, hw)
        if stuff_jitter:
            d += stuff_jitter * _smooth_noise(jrng, hh, hw, cells=10)
        better = d < best
        best[better] = d[better]
        low[better] = i
    labels = np.ascontiguousarray(low.repeat(2, axis=0).repeat(2, axis=1)[:h, :w])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    segs = [(int(c), False) for c in st["cats"]]
    for b in scene["blobs"]:
        y0, y1 = max(0, int(b["cy"] - 1.4 * b["ry"]) - 2), min(h, int(b["cy"] + 1.4 * b["ry"]) + 3)
        x0, x1 = max(0, int(b["cx"] - 1.4 * b["rx"]) - 2), min(w, int(b["cx"] + 1.4 * b["rx"]) + 3)
        if y1 <= y0 or x1 <= x0:
            continue
        dy = (yy[y0:y1, x0:x1] - b["cy"]) / max(b["ry"], 1.0)
        dx = (xx[y0:y1, x0:x1] - b["cx"]) / max(b["rx"], 1.0)
        theta = np.arctan2(dy, dx)
        rad = 1.0 + b["a"] * np.sin(b["k"] * theta + b["phase"])
        rho = np.hypot(dy, dx)
        inside = rho <= rad
        if not inside.any():
            continue
        if b["void_ring"]:
            ring = (rho > rad) & (rho <= rad * 1.08)
            labels[y0:y1, x0:x1][ring] = -1
        labels[y0:y1, x0:x1][inside] = len(segs)
        segs.append((b["cat"], b["crowd"]))
    return labels, segs


def _encode(labels: np.ndarray, segs, cats, rng, crowd_allowed: bool = True):
    """Turn a label map into an RGB PNG array and segments_info (ids from jittered category colours)."""
    present, areas = np.unique(labels, return_counts=True)
    ids_taken = {0}
    lut = np.zeros(len(segs) + 1, np.uint32)  # index + 1 -> id (index -1 = void -> 0)
    info = []
    for idx, area in zip(present.tolist(), areas.tolist()):
        if idx < 0:
            continue
        cat_index, crowd = segs[idx]
        cat = cats[cat_index]
        base = np.array(cat["color"], np.int64)
        color = base
        while True:
            sid = int(color[0] + 256 * color[1] + 65536 * color[2])
            if sid not in ids_taken:
                break
            color = np.clip(base + rng.integers(-30, 31, 3), 0, 255)
        ids_taken.add(sid)
        lut[idx + 1] = sid
        info.append({"id": sid, "category_id": cat["id"], "iscrowd": int(crowd and crowd_allowed),
                     "area": int(area)})
    ids = lut[labels + 1]
    rgb = np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)
    return rgb, info


def _moved_blob(rng, b: dict) -> dict:
    """A copy of blob ``b`` slightly moved, rescaled and re-phased, without void ring."""
    nb = dict(b)
    nb["cy"] += float(rng.normal(0, 0.06 * b["ry"] + 1))
    nb["cx"] += float(rng.normal(0, 0.06 * b["rx"] + 1))
    nb["ry"] *= float(rng.uniform(0.85, 1.15))
    nb["rx"] *= float(rng.uniform(0.85, 1.15))
    nb["phase"] += float(rng.normal(0, 0.3))
    nb["void_ring"] = False
    return nb


def _spurious_blob(rng, h: int, w: int, cat_lo: int, cat_hi: int) -> dict:
    """A small round blob at a random place, category drawn from ``[cat_lo, cat_hi)``."""
    r = float(rng.uniform(0.02, 0.08) * min(h, w))
    return {"cy": float(rng.uniform(0, h)), "cx": float(rng.uniform(0, w)), "ry": r, "rx": r,
            "k": 3, "a": 0.1, "phase": 0.0, "cat": int(rng.integers(cat_lo, cat_hi)),
            "crowd": False, "void_ring": False}


def _perturb(rng, scene: dict, h: int, w: int) -> dict:
    """A plausible model output: moved / rescaled / relabelled / dropped / merged / extra blobs."""
    blobs = []
    for b in scene["blobs"]:
        r = rng.random()
        if r < 0.08:
            continue  # missed object
        nb = _moved_blob(rng, b)
        nb["crowd"] = False
        if r < 0.16:
            nb["cat"] = int(rng.integers(0, N_THING))  # wrong class
        blobs.append(nb)
    for _ in range(int(rng.integers(0, 4))):  # false positives
        blobs.append(_spurious_blob(rng, h, w, 0, N_THING))
    stuff = dict(scene["stuff"])
    cats = stuff["cats"].copy()
    flip = rng.random(cats.size) < 0.1
    cats[flip] = rng.integers(N_THING, N_THING + N_STUFF, int(flip.sum()))
    stuff["cats"] = cats
    return {"stuff": stuff, "blobs": blobs}


def make_image_pair(rng, cats, width: int = 640, height: int | None = None, n_things: int = 20):
    """One GT and prediction pair: ``(gt_rgb, gt_segments, pred_rgb, pred_segments)``."""
    h = height if height is not None else int(rng.integers(360, 481))
    scene = _scene(rng, h, width, n_things)
    gt_labels, gt_segs = _render(scene, h, width)
    pred_scene = _perturb(rng, scene, h, width)
    pred_labels, pred_segs = _render(pred_scene, h, width, stuff_jitter=25.0, jitter_seed=int(rng.integers(2**31)))
    gt_rgb, gt_info = _encode(gt_labels, gt_segs, cats, rng)
    pred_rgb, pred_info = _encode(pred_labels, pred_segs, cats, rng, crowd_allowed=False)
    for s in pred_info:
        del s["iscrowd"], s["area"]
    return gt_rgb, gt_info, pred_rgb, pred_info


def make_coco_panoptic(out_dir, n_images: int = 500, seed: int = 0, *, width: int = 640,
                       n_things: int = 20) -> tuple[Path, Path]:
    """Write a deterministic COCO-like panoptic GT and prediction; returns (gt_json, pred_json).

    The same ``(n_images, seed, width, n_things)`` always give byte-identical files.
    """
    out = Path(out_dir)
    (out / "gt").mkdir(parents=True, exist_ok=True)
    (out / "pred").mkdir(parents=True, exist_ok=True)
    cats = panoptic_categories()
    rng = np.random.default_rng(seed)
    images, gt_anns, pred_anns = [], [], []
    for i in range(n_images):
        image_id = 100000 + i
        name = f"{image_id:012d}"
        gt_rgb, gt_info, pred_rgb, pred_info = make_image_pair(rng, cats, width, n_things=n_things)
        Image.fromarray(gt_rgb).save(out / "gt" / f"{name}.png")
        Image.fromarray(pred_rgb).save(out / "pred" / f"{name}.png")
        images.append({"id": image_id, "file_name": f"{name}.jpg", "height": gt_rgb.shape[0], "width": gt_rgb.shape[1]})
        gt_anns.append({"image_id": image_id, "file_name": f"{name}.png", "segments_info": gt_info})
        pred_anns.append({"image_id": image_id, "file_name": f"{name}.png", "segments_info": pred_info})
    gt_json, pred_json = out / "gt.json", out / "pred.json"
    gt_json.write_text(json.dumps({"images": images, "annotations": gt_anns, "categories": cats}))
    pred_json.write_text(json.dumps({"images": images, "annotations": pred_anns, "categories": cats}))
    return gt_json, pred_json


def _ade_class_weights() -> np.ndarray:
    """Skewed class frequencies (index 0 = class 1): a few very common classes, a long tail."""
    rank = np.arange(1, ADE_CLASSES + 1, dtype=np.float64)
    w = rank ** -1.1
    return w / w.sum()


def _ade_scene(rng, h: int, w: int) -> dict:
    """Stuff cells and object blobs of an ADE20K-like image; ``cat`` is the class 1..150 or 0 (other)."""
    p = _ade_class_weights()
    n_stuff = int(rng.integers(3, 7))
    stuff_cats = rng.choice(np.arange(1, ADE_CLASSES + 1), n_stuff, p=p)
    stuff_cats[rng.random(n_stuff) < 0.12] = 0  # whole regions left unlabelled
    stuff = {
        "seeds": np.column_stack([rng.uniform(0, h, n_stuff), rng.uniform(0, w, n_stuff)]),
        "cats": stuff_cats,
        "noise_seed": int(rng.integers(2**31)),
    }
    blobs = []
    for _ in range(int(rng.integers(2, 10))):
        r = float(rng.uniform(0.04, 0.22) * min(h, w))
        blobs.append({
            "cy": float(rng.uniform(0, h)), "cx": float(rng.uniform(0, w)),
            "ry": r * float(rng.uniform(0.5, 1.6)), "rx": r * float(rng.uniform(0.5, 1.6)),
            "k": int(rng.integers(2, 6)), "a": float(rng.uniform(0.05, 0.3)), "phase": float(rng.uniform(0, 6.3)),
            "cat": int(rng.choice(np.arange(1, ADE_CLASSES + 1), p=p)), "crowd": False,
            "void_ring": bool(rng.random() < 0.25),
        })
    return {"stuff": stuff, "blobs": blobs}


def _ade_perturb(rng, scene: dict, h: int, w: int) -> dict:
    """A plausible model output for an ADE20K-like scene (classes still 1..150, no "other")."""
    present = sorted({int(c) for c in scene["stuff"]["cats"] if c} | {b["cat"] for b in scene["blobs"]}) or [1]
    blobs = []
    for b in scene["blobs"]:
        r = rng.random()
        if r < 0.1:
            continue  # missed object
        nb = _moved_blob(rng, b)
        if r < 0.25:
            nb["cat"] = int(rng.integers(1, ADE_CLASSES + 1))  # wrong class
        blobs.append(nb)
    for _ in range(int(rng.integers(0, 3))):  # spurious objects
        blobs.append(_spurious_blob(rng, h, w, 1, ADE_CLASSES + 1))
    stuff = dict(scene["stuff"])
    cats = stuff["cats"].copy()
    other = cats == 0
    cats[other] = rng.choice(present, int(other.sum()))
    flip = rng.random(cats.size) < 0.1
    cats[flip] = rng.integers(1, ADE_CLASSES + 1, int(flip.sum()))
    stuff["cats"] = cats
    return {"stuff": stuff, "blobs": blobs}


def _ade_labels(scene: dict, h: int, w: int, **render_kw) -> np.ndarray:
    """Render a scene to an ``(h, w)`` uint8 map of classes (0 for void and "other")."""
    idx, segs = _render(scene, h, w, **render_kw)
    lut = np.array([0] + [c for c, _ in segs], np.uint8)  # index -1 (void) -> 0
    return lut[idx + 1]


def make_ade20k_pair(rng) -> tuple[np.ndarray, np.ndarray]:
    """One ADE20K-like pair: ``(gt, pred)`` uint8 maps, GT in 0..150 (0 = other), prediction in 0..149."""
    short, long_ = 512, int(rng.integers(512, 684))
    h, w = (short, long_) if rng.random() < 0.6 else (long_, short)
    scene = _ade_scene(rng, h, w)
    gt = _ade_labels(scene, h, w)
    pred_scene = _ade_perturb(rng, scene, h, w)
    pred = _ade_labels(pred_scene, h, w, stuff_jitter=25.0, jitter_seed=int(rng.integers(2**31)))
    # the prediction never says "other": void rings of the GT do not exist in it, so 0 cannot occur
    return gt, (pred.astype(np.int16) - 1).clip(0, ADE_CLASSES - 1).astype(np.uint8)


def _params_match(out: Path, params: dict) -> bool:
    try:
        return json.loads((out / "params.json").read_text()) == params
    except (OSError, ValueError):
        return False


def make_ade20k_like(out_dir, n_images: int = 500, seed: int = 0) -> tuple[Path, Path]:
    """Write a deterministic ADE20K-like semantic GT and prediction; returns (gt_dir, pred_dir).

    GT files hold 0..150 (0 = other), predictions 0..149 (class - 1), same file
    names.  The same ``(n_images, seed)`` always give byte-identical files.  A
    folder already holding a complete set for the same parameters (its
    ``params.json``, written last) is reused as is.
    """
    out = Path(out_dir)
    params = {"kind": "ade20k_like", "n_images": int(n_images), "seed": int(seed), "version": 1}
    gt_dir, pred_dir = out / "gt", out / "pred"
    if _params_match(out, params):
        return gt_dir, pred_dir
    (out / "params.json").unlink(missing_ok=True)
    for d in (gt_dir, pred_dir):
        d.mkdir(parents=True, exist_ok=True)
        for stale in d.glob("ADE_val_*.png"):  # left by a set of other parameters
            stale.unlink()
    rng = np.random.default_rng([seed, 150])
    for i in range(n_images):
        name = f"ADE_val_{i + 1:08d}.png"
        gt, pred = make_ade20k_pair(rng)
        Image.fromarray(gt).save(gt_dir / name)
        Image.fromarray(pred).save(pred_dir / name)
    (out / "params.json").write_text(json.dumps(params))
    return gt_dir, pred_dir


def coco_panoptic_dir(n_images: int = 500, seed: int = 0, root=None) -> Path:
    """Folder of the cached :func:`make_coco_panoptic` set for these parameters (made on first use)."""
    out = Path(root or DATA_ROOT) / f"coco_panoptic_{n_images}_s{seed}"
    params = {"kind": "coco_panoptic", "n_images": int(n_images), "seed": int(seed), "version": 1}
    if not _params_match(out, params):
        make_coco_panoptic(out, n_images=n_images, seed=seed)
        (out / "params.json").write_text(json.dumps(params))
    return out


def ade20k_like_dir(n_images: int = 500, seed: int = 0, root=None) -> Path:
    """Folder of the cached :func:`make_ade20k_like` set for these parameters (made on first use)."""
    out = Path(root or DATA_ROOT) / f"ade20k_like_{n_images}_s{seed}"
    make_ade20k_like(out, n_images=n_images, seed=seed)
    return out


def ade20k_pred_1based(ade_dir) -> Path:
    """``ade_dir/pred_1based/``: the predictions of an ADE20K-like set shifted to 1..150 (made once).

    For tools without a ``reduce_zero_label`` rule (vernier uses labels as
    stored and only drops GT pixels equal to ``ignore_label``): with 151
    classes and ``ignore_label=0`` their matrix without row and column 0 is the
    150-class matrix of the original files.  Rewritten when the prediction
    files are newer than the marker written last.
    """
    src, out = Path(ade_dir) / "pred", Path(ade_dir) / "pred_1based"
    marker = out / ".complete"
    names = sorted(p.name for p in src.glob("*.png"))
    if marker.is_file() and marker.read_text() == str(len(names)) and \
            marker.stat().st_mtime >= max((src / n).stat().st_mtime for n in names):
        return out
    out.mkdir(exist_ok=True)
    marker.unlink(missing_ok=True)
    for stale in out.glob("*.png"):
        stale.unlink()
    for n in names:
        with Image.open(src / n) as im:
            Image.fromarray(np.asarray(im) + np.uint8(1)).save(out / n)
    marker.write_text(str(len(names)))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kind", choices=["coco_panoptic", "ade20k"], default="coco_panoptic")
    args = ap.parse_args(argv)
    if args.kind == "ade20k":
        gt, pred = make_ade20k_like(args.out_dir, args.images, args.seed)
    else:
        gt, pred = make_coco_panoptic(args.out_dir, args.images, args.seed)
    print(f"wrote {gt} and {pred}")


if __name__ == "__main__":
    main()
