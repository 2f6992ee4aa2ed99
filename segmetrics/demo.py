"""A small, deterministic demo dataset for ``segmetrics eval --demo``.

Everything is generated from a seed with NumPy and written with Pillow, so the
demo needs no download and prints the same numbers on every machine.

* semantic: ``n`` 8-bit label PNGs (5 classes, 255 = ignore) in ``gt/`` and a
  perturbed copy in ``pred/`` (shifted boundaries, wrong blobs, a few images
  predicted with a class the GT does not hold);
* panoptic: a COCO-panoptic set (``panoptic_gt.json`` + ``panoptic_gt/`` RGB
  id PNGs, the same for ``panoptic_pred``) with 2 thing and 3 stuff categories,
  a crowd region and void pixels; predictions drop, shift and add segments.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .io.coco_panoptic import id2rgb

__all__ = ["DEMO_CLASSES", "DEMO_CATEGORIES", "SemanticDemo", "PanopticDemo",
           "make_semantic_demo", "make_panoptic_demo"]

DEMO_CLASSES: tuple[str, ...] = ("sky", "road", "building", "tree", "car")

DEMO_CATEGORIES: list[dict] = [
    {"id": 1, "name": "person", "isthing": 1, "supercategory": "person", "color": [220, 20, 60]},
    {"id": 3, "name": "car", "isthing": 1, "supercategory": "vehicle", "color": [0, 0, 142]},
    {"id": 10, "name": "sky", "isthing": 0, "supercategory": "sky", "color": [70, 130, 180]},
    {"id": 11, "name": "road", "isthing": 0, "supercategory": "ground", "color": [128, 64, 128]},
    {"id": 12, "name": "building", "isthing": 0, "supercategory": "building", "color": [70, 70, 70]},
]


@dataclass(frozen=True)
class SemanticDemo:
    """Paths of the semantic demo: ``gt`` and ``pred`` folders, ``class_names`` file."""

    gt: Path
    pred: Path
    class_names: Path
    num_classes: int


@dataclass(frozen=True)
class PanopticDemo:
    """Paths of the panoptic demo: GT/prediction JSON files and PNG folders."""

    gt_json: Path
    gt_folder: Path
    pred_json: Path
    pred_folder: Path


def _scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    lab = np.empty((h, w), dtype=np.uint8)
    horizon = int(rng.integers(h // 3, h // 2))
    lab[:horizon] = 0
    lab[horizon:] = 1
    for _ in range(int(rng.integers(1, 4))):  # buildings
        x0 = int(rng.integers(0, w - 8)); bw = int(rng.integers(6, w // 3))
        top = int(rng.integers(2, horizon))
        lab[top:horizon + 2, x0:x0 + bw] = 2
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(0, 3))):  # trees
        cy, cx, r = int(rng.integers(0, horizon)), int(rng.integers(0, w)), int(rng.integers(3, 8))
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 3
    for _ in range(int(rng.integers(0, 3))):  # cars
        y0 = int(rng.integers(horizon, h - 5)); x0 = int(rng.integers(0, w - 10))
        lab[y0:y0 + 5, x0:x0 + int(rng.integers(6, 12))] = 4
    lab[rng.random((h, w)) < 0.01] = 255  # sparse ignore pixels
    lab[:, :2] = 255  # an ignored border
    return lab


def _perturb(rng: np.random.Generator, lab: np.ndarray, num_classes: int) -> np.ndarray:
    pred = lab.copy()
    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    pred = np.roll(pred, (dy, dx), axis=(0, 1))
    h, w = pred.shape
    for _ in range(int(rng.integers(1, 4))):
        y0, x0 = int(rng.integers(0, h - 6)), int(rng.integers(0, w - 6))
        pred[y0:y0 + int(rng.integers(3, 10)), x0:x0 + int(rng.integers(3, 10))] = rng.integers(0, num_classes)
    pred[pred == 255] = 1  # models predict everywhere
    return pred


def make_semantic_demo(root, *, n: int = 20, seed: int = 0, size: tuple[int, int] = (48, 64)) -> SemanticDemo:
    """Write the semantic demo under ``root`` (``gt/``, ``pred/``, ``classes.txt``).

    Parameters
    ----------
    root : path-like
        Created if needed; existing demo files are overwritten.
    n : int
        Number of images.
    seed : int
        Seed of the generator; the same seed gives byte-identical files.
    size : (int, int)
        Height and width of every image.
    """
    root = Path(root)
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    k = len(DEMO_CLASSES)
    for i in range(n):
        lab = _scene(rng, *size)
        pred = _perturb(rng, lab, k)
        name = f"demo_{i:04d}.png"
        Image.fromarray(lab, mode="L").save(gt_dir / name)
        Image.fromarray(pred, mode="L").save(pred_dir / name)
    names = root / "classes.txt"
    names.write_text("\n".join(DEMO_CLASSES) + "\n", encoding="utf-8")
    return SemanticDemo(gt=gt_dir, pred=pred_dir, class_names=names, num_classes=k)


def _segments(ids: np.ndarray, cats: dict[int, int], crowd: set[int]) -> list[dict]:
    out = []
    for sid in np.unique(ids):
        if sid == 0:
            continue
        ys, xs = np.nonzero(ids == sid)
        out.append({
            "id": int(sid), "category_id": int(cats[int(sid)]), "iscrowd": int(sid in crowd),
            "area": int(ys.size),
            "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
        })
    return out


def make_panoptic_demo(root, *, n: int = 6, seed: int = 0, size: tuple[int, int] = (48, 64)) -> PanopticDemo:
    """Write a COCO-panoptic demo set under ``root``.

    Files: ``panoptic_gt.json`` + ``panoptic_gt/*.png`` and
    ``panoptic_pred.json`` + ``panoptic_pred/*.png`` (RGB, id = R + 256 G + 256^2 B,
    0 = void).  Same seed, same bytes.
    """
    root = Path(root)
    gt_dir, pred_dir = root / "panoptic_gt", root / "panoptic_pred"
    gt_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    h, w = size
    images, gt_anns, pred_anns = [], [], []
    for i in range(n):
        image_id = i + 1
        file_name = f"pan_{image_id:04d}.png"
        gt = np.zeros((h, w), dtype=np.int64)
        cats: dict[int, int] = {}
        horizon = int(rng.integers(h // 3, h // 2))
        gt[:horizon] = 1; cats[1] = 10
        gt[horizon:] = 2; cats[2] = 11
        bx = int(rng.integers(0, w // 2))
        gt[4:horizon, bx:bx + int(rng.integers(8, w // 2))] = 3; cats[3] = 12
        next_id = 100
        things = []
        for _ in range(int(rng.integers(1, 4))):
            cat = int(rng.choice([1, 3]))
            y0 = int(rng.integers(horizon - 4, h - 10)); x0 = int(rng.integers(0, w - 10))
            hh, ww = (int(rng.integers(8, 14)), int(rng.integers(4, 7))) if cat == 1 else (int(rng.integers(5, 8)), int(rng.integers(8, 14)))
            gt[y0:y0 + hh, x0:x0 + ww] = next_id; cats[next_id] = cat
            things.append(next_id); next_id += 1
        crowd: set[int] = set()
        if i % 3 == 0:  # a crowd of people
            gt[h - 6:h, w - 12:w] = 50; cats[50] = 1; crowd.add(50)
        gt[rng.random((h, w)) < 0.01] = 0  # void pixels
        present = set(np.unique(gt).tolist()) - {0}
        cats = {k: v for k, v in cats.items() if k in present}
        crowd &= present

        pred = np.roll(gt, (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
        pred[pred == 0] = 2  # models leave no void
        pcats = dict(cats)
        pcats[2] = 11
        for sid in crowd:  # crowd regions are predicted as separate people
            pred[pred == sid] = 2
        for tid in [t for t in things if t in present]:
            r = rng.random()
            if r < 0.2:  # missed object
                pred[pred == tid] = 2
            elif r < 0.35:  # wrong category
                pcats[tid] = 3 if cats[tid] == 1 else 1
        if rng.random() < 0.5:  # a hallucinated car
            y0, x0 = int(rng.integers(horizon, h - 6)), int(rng.integers(0, w - 10))
            pred[y0:y0 + 5, x0:x0 + 9] = 900; pcats[900] = 3
        present_p = set(np.unique(pred).tolist()) - {0}
        pcats = {k: v for k, v in pcats.items() if k in present_p}

        Image.fromarray(id2rgb(gt), mode="RGB").save(gt_dir / file_name)
        Image.fromarray(id2rgb(pred), mode="RGB").save(pred_dir / file_name)
        images.append({"id": image_id, "file_name": f"pan_{image_id:04d}.jpg", "height": h, "width": w})
        gt_anns.append({"image_id": image_id, "file_name": file_name, "segments_info": _segments(gt, cats, crowd)})
        pred_anns.append({"image_id": image_id, "file_name": file_name, "segments_info": _segments(pred, pcats, set())})
    gt_json, pred_json = root / "panoptic_gt.json", root / "panoptic_pred.json"
    gt_json.write_text(json.dumps({"images": images, "annotations": gt_anns, "categories": DEMO_CATEGORIES}), encoding="utf-8")
    pred_json.write_text(json.dumps({"images": images, "annotations": pred_anns, "categories": DEMO_CATEGORIES}), encoding="utf-8")
    return PanopticDemo(gt_json=gt_json, gt_folder=gt_dir, pred_json=pred_json, pred_folder=pred_dir)
