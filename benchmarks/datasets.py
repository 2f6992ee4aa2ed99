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

Run ``python benchmarks/datasets.py OUT_DIR --images 500 --seed 0``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["make_coco_panoptic", "panoptic_categories", "make_image_pair"]

N_THING, N_STUFF = 80, 53


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


def _perturb(rng, scene: dict, h: int, w: int) -> dict:
    """A plausible model output: moved / rescaled / relabelled / dropped / merged / extra blobs."""
    blobs = []
    for b in scene["blobs"]:
        r = rng.random()
        if r < 0.08:
            continue  # missed object
        nb = dict(b)
        nb["crowd"] = False
        nb["cy"] += float(rng.normal(0, 0.06 * b["ry"] + 1))
        nb["cx"] += float(rng.normal(0, 0.06 * b["rx"] + 1))
        nb["ry"] *= float(rng.uniform(0.85, 1.15))
        nb["rx"] *= float(rng.uniform(0.85, 1.15))
        nb["phase"] += float(rng.normal(0, 0.3))
        nb["void_ring"] = False
        if r < 0.16:
            nb["cat"] = int(rng.integers(0, N_THING))  # wrong class
        blobs.append(nb)
    for _ in range(int(rng.integers(0, 4))):  # false positives
        r = float(rng.uniform(0.02, 0.08) * min(h, w))
        blobs.append({"cy": float(rng.uniform(0, h)), "cx": float(rng.uniform(0, w)), "ry": r, "rx": r,
                      "k": 3, "a": 0.1, "phase": 0.0, "cat": int(rng.integers(0, N_THING)),
                      "crowd": False, "void_ring": False})
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    gt, pred = make_coco_panoptic(args.out_dir, args.images, args.seed)
    print(f"wrote {gt} and {pred}")


if __name__ == "__main__":
    main()
