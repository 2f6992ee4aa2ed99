"""Small clean datasets for the ``segmetrics validate`` tests, built so that a clean copy
reports nothing at all (every class / category used, every area and box right); each
test plants one defect into a fresh copy."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from PIL import Image

from cli_data import write_png

K = 5
IGNORE = 255
SIZE = (12, 16)          # (H, W)


def semantic_gt(rng: np.random.Generator, n: int = 4) -> list[np.ndarray]:
    """Label maps with every class 0..K-1 and some ignore pixels (IGNORE) in each image."""
    maps = []
    for _ in range(n):
        a = rng.integers(0, K, SIZE).astype(np.uint8)
        a.ravel()[:K] = np.arange(K)               # every class in every image
        a[0, -2:] = IGNORE
        maps.append(a)
    return maps


def make_semantic(root: Path, seed: int = 0, n: int = 4) -> tuple[Path, Path, list, list]:
    """``root/gt/img{i}.png`` and ``root/pred/img{i}.png`` (predictions: the GT with a few
    pixels changed to another class, never ignore)."""
    rng = np.random.default_rng(seed)
    gts = semantic_gt(rng, n)
    preds = []
    for i, g in enumerate(gts):
        p = g.copy()
        p[p == IGNORE] = 0
        flip = rng.random(SIZE) < 0.2
        p[flip] = (p[flip] + 1) % K
        preds.append(p)
        write_png(root / "gt" / f"img{i}.png", g)
        write_png(root / "pred" / f"img{i}.png", p)
    return root / "gt", root / "pred", gts, preds


def ade_like(root: Path, pred_fn, n: int = 3, shape: tuple = SIZE, seed: int = 1) -> tuple[Path, Path]:
    """ADE20K-like GT (0 = other, 1..K, every value in every image) in ``root/gt`` and
    predictions made by ``pred_fn(gt, rng)`` in ``root/pred``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        g = rng.integers(0, K + 1, shape).astype(np.uint8)
        g.ravel()[: K + 1] = np.arange(K + 1)
        write_png(root / "gt" / f"a{i}.png", g)
        write_png(root / "pred" / f"a{i}.png", pred_fn(g, rng).astype(np.uint8))
    return root / "gt", root / "pred"


def zero_based(g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a model trained with reduce_zero_label writes: 0..K-1, right on about 90 % of the pixels."""
    p = np.where(g == 0, rng.integers(0, K, g.shape), g.astype(int) - 1)
    flip = rng.random(g.shape) < 0.1
    return np.where(flip, rng.integers(0, K, g.shape), p)


# ----------------------------------------------------------------------------- panoptic
CATEGORIES = [
    {"id": 1, "name": "person", "isthing": 1},
    {"id": 2, "name": "car", "isthing": 1},
    {"id": 10, "name": "sky", "isthing": 0},
    {"id": 11, "name": "grass", "isthing": 0},
]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.uint32)
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)


def _segments(ids: np.ndarray, cats: dict, crowd: set) -> list:
    out = []
    for sid, cat in cats.items():
        ys, xs = np.nonzero(ids == sid)
        out.append({"id": int(sid), "category_id": cat, "iscrowd": int(sid in crowd), "area": int(xs.size),
                    "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]})
    return out


def panoptic_image(index: int) -> tuple[np.ndarray, dict, set]:
    """An id map: sky on top, grass below, two persons and a car (the car a crowd region
    in image 0), a void border; ids as COCO makes them (colour-like, large)."""
    h, w = SIZE
    ids = np.zeros(SIZE, dtype=np.uint32)
    sky, grass, p1, p2, car = (0x102030 + index, 0x203040 + index, 0x405060 + index, 0x506070 + index,
                               0x60708 + index)
    ids[1:h // 2, 1:w - 1] = sky
    ids[h // 2:h - 1, 1:w - 1] = grass
    ids[3:8, 2:5 + index] = p1
    ids[6:10, 7:9] = p2
    ids[7:10, 11:14] = car
    cats = {sky: 10, grass: 11, p1: 1, p2: 1, car: 2}
    return ids, cats, ({car} if index == 0 else set())


def make_panoptic(root: Path, n: int = 3) -> dict:
    """``root/gt.json`` + ``root/gt/*.png`` and a perfect prediction ``root/pred.json`` +
    ``root/pred/*.png``; returns the paths and parsed JSON dicts."""
    gt = {"images": [], "annotations": [], "categories": copy.deepcopy(CATEGORIES)}
    for i in range(n):
        ids, cats, crowd = panoptic_image(i)
        name = f"{1000 + i:012d}.png"
        write_png(root / "gt" / name, id2rgb(ids))
        write_png(root / "pred" / name, id2rgb(ids))
        gt["images"].append({"id": 1000 + i, "file_name": name.replace(".png", ".jpg"), "height": SIZE[0],
                             "width": SIZE[1]})
        gt["annotations"].append({"image_id": 1000 + i, "file_name": name, "segments_info": _segments(ids, cats, crowd)})
    pred = {"annotations": copy.deepcopy(gt["annotations"])}
    for a in pred["annotations"]:
        for s in a["segments_info"]:
            s.pop("bbox")
            s["iscrowd"] = 0
    save_json(root / "gt.json", gt)
    save_json(root / "pred.json", pred)
    return {"root": root, "gt_json": root / "gt.json", "pred_json": root / "pred.json", "gt": gt, "pred": pred}


def save_json(path: Path, data) -> None:
    path.write_text(json.dumps(data))


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    a = rgb.astype(np.uint32)
    return a[..., 0] | (a[..., 1] << 8) | (a[..., 2] << 16)
