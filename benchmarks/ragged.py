"""A second, independent generator of benchmark data: ragged boundaries, small regions, speckle.

``datasets.py`` paints smooth blobs (Voronoi cells, wavy ellipses).  Ratios
measured on one kind of data can flatter one kind of kernel, so this module
builds label maps another way: layers of grid cells whose sampling
coordinates are displaced by a smooth field plus a 2-pixel-grained rough
field (domain warping), which gives irregular regions with ragged,
staircase borders; a layer of many small objects; and predictions that
jitter every border, swap region classes, drop / relabel / invent objects
and carry speckle (2 x 2 clumps and single pixels of a class present in the
image).  Everything is vectorised NumPy, one seeded generator per image
(``default_rng([seed, tag, index])``), so a set can be made by several
processes and is still byte-identical for the same parameters.

Sets (written on first use under ``benchmarks/data/``, git-ignored, reused
when ``params.json`` matches):

``ragged_semantic_dir(n, seed)``
    ``gt/*.png`` 8-bit grey 0..149 with 255 = unlabelled (about 4 %),
    ``pred/*.png`` 0..149; 512 x 512-683 like ADE20K; plain convention (no
    ``reduce_zero_label``): every tool reads the same files with 150 classes
    and ignore index 255.
``ragged_panoptic_dir(n, seed)``
    COCO panoptic JSON + RGB PNGs (the 133 categories of
    :func:`datasets.panoptic_categories`), 640 x 360-480, stuff regions plus
    about 25 ragged thing instances, crowd, void gaps along borders.
``cityscapes_like_dir(n, seed)``
    1024 x 2048 street scenes: ``gtFine/val/<city>/<stem>_gtFine_labelIds.png``
    (label ids 0..33 with roughly the real class frequencies: road, building,
    vegetation, car, sidewalk, sky, ego vehicle, ...), the same GT in train
    ids (``gt_trainids/<stem>.png``, 255 = ignored, what Cityscapes'
    ``createTrainIdLabelImgs`` makes, for tools without a label map) and
    predictions in train ids 0..18 (``pred/<stem>.png``).  segmetrics reads the
    label ids with its ``cityscapes`` preset (the map fused into the count).

In-memory pairs for the kernel benchmark: :func:`ragged_semantic_pair`,
:func:`cityscapes_pair`, :func:`noise_pair`, :func:`salted`.

Command line: ``python benchmarks/ragged.py {semantic,panoptic,cityscapes} --images N
[--seed 0] [--procs 2]`` (prints the folder).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # datasets.py (categories, id colours) sits beside this file
    sys.path.insert(0, str(HERE))

__all__ = [
    "ragged_semantic_pair", "ragged_panoptic_pair", "cityscapes_pair", "noise_pair", "salted",
    "ragged_semantic_dir", "ragged_panoptic_dir", "cityscapes_like_dir", "cityscapes_stems",
    "CITYSCAPES_TRAIN", "CS_HEIGHT", "CS_WIDTH",
]

DATA_ROOT = HERE / "data"
VERSION = 1
SEM_CLASSES = 150
IGNORE = 255
CS_HEIGHT, CS_WIDTH = 1024, 2048

# Cityscapes label id -> train id (the 19 evaluated classes; everything else 255).  The
# benchmark writes the train-id GT with this table; segmetrics applies its own preset's.
CITYSCAPES_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
# what a model predicts on a void label id (train id): ego vehicle -> road, static -> building, ...
_CS_VOID_GUESS = {0: 2, 1: 0, 2: 2, 3: 2, 4: 2, 5: 13, 6: 1, 9: 0, 10: 0, 14: 4, 15: 2, 16: 2,
                  18: 5, 29: 14, 30: 14}


# ----------------------------------------------------------------------------- primitives
def _field(rng, h: int, w: int, step: float, amp: float) -> np.ndarray:
    """Smooth random field: normal values on a grid every ``step`` pixels, bilinear between."""
    gh, gw = int(h / step) + 2, int(w / step) + 2
    grid = rng.standard_normal((gh, gw), dtype=np.float32) * np.float32(amp)
    x = np.arange(w, dtype=np.float32) / np.float32(step)
    x0 = x.astype(np.int32)
    fx = x - x0
    rows = grid[:, x0] * (1 - fx) + grid[:, x0 + 1] * fx           # (gh, w)
    y = np.arange(h, dtype=np.float32) / np.float32(step)
    y0 = y.astype(np.int32)
    fy = (y - y0)[:, None]
    return rows[y0] * (1 - fy) + rows[y0 + 1] * fy


def _rough(rng, h: int, w: int, amp: int, grain: int = 2) -> np.ndarray:
    """Integer jitter in ``[-amp, amp]`` constant on ``grain`` x ``grain`` blocks (ragged borders)."""
    if amp <= 0:
        return np.zeros((h, w), np.float32)
    small = rng.integers(-amp, amp + 1, ((h + grain - 1) // grain, (w + grain - 1) // grain), dtype=np.int8)
    return small.repeat(grain, 0).repeat(grain, 1)[:h, :w].astype(np.float32)


def _displacement(rng, h: int, w: int, step: float, amp: float, rough: int):
    """(dy, dx): a smooth field of scale ``step`` and amplitude ``amp`` plus rough jitter."""
    return (_field(rng, h, w, step, amp) + _rough(rng, h, w, rough),
            _field(rng, h, w, step, amp) + _rough(rng, h, w, rough))


def _sample(layer: np.ndarray, step: int, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Read a cell grid (one value per ``step`` x ``step`` cell) at displaced pixel positions."""
    h, w = dy.shape
    iy = ((np.arange(h, dtype=np.float32)[:, None] + dy) * np.float32(1.0 / step)).astype(np.int32)
    ix = ((np.arange(w, dtype=np.float32)[None, :] + dx) * np.float32(1.0 / step)).astype(np.int32)
    np.clip(iy, 0, layer.shape[0] - 1, out=iy)
    np.clip(ix, 0, layer.shape[1] - 1, out=ix)
    return layer[iy, ix]


def _compose(layers, disp) -> np.ndarray:
    """Sample each ``(cell grid, step)`` layer at its displacement; later layers cover earlier
    ones where they hold an object (>= 0)."""
    out = None
    for (layer, step), (dy, dx) in zip(layers, disp):
        v = _sample(layer, step, dy, dx)
        if out is None:
            out = v
        else:
            keep = v >= 0
            out[keep] = v[keep]
    return out


def _zipf(n: int, power: float = 1.05) -> np.ndarray:
    p = np.arange(1, n + 1, dtype=np.float64) ** -power
    return p / p.sum()


def _objects(rng, gh: int, gw: int, count: int, values) -> np.ndarray:
    """A cell grid of -1 with ``count`` objects of one to four cells (an L, a bar or a square)."""
    layer = np.full((gh, gw), -1, np.int32)
    shapes = ((0, 0), (0, 1), (1, 0), (1, 1))
    for k in range(count):
        y, x = int(rng.integers(0, gh)), int(rng.integers(0, gw))
        n_cells = int(rng.choice([1, 1, 2, 3, 4]))
        for dy, dx in shapes[:n_cells]:
            layer[min(y + dy, gh - 1), min(x + dx, gw - 1)] = values[k]
    return layer


def _speckle(rng, shape, rate: float, single: float) -> np.ndarray:
    """Mask of 2 x 2 clumps (``rate`` of the pixels) and single pixels (``single``)."""
    h, w = shape
    m = rng.random(((h + 1) // 2, (w + 1) // 2), dtype=np.float32) < rate
    m = m.repeat(2, 0).repeat(2, 1)[:h, :w]
    if single:
        m |= rng.random((h, w), dtype=np.float32) < single
    return m


def _fill_from(rng, out: np.ndarray, mask: np.ndarray, choices: np.ndarray) -> None:
    n = int(mask.sum())
    if n and choices.size:
        out[mask] = rng.choice(choices, n).astype(out.dtype)


# ----------------------------------------------------------------------------- semantic
def ragged_semantic_pair(rng, h: int = 512, w: int = 640, *, n_classes: int = SEM_CLASSES,
                         step_small: int = 16, n_small: int = 60, unlabelled: float = 0.04):
    """One ragged ``(gt, pred)`` pair of uint8 maps: GT 0..K-1 and 255, prediction 0..K-1.

    Stuff cells of 64-160 pixels, objects of 40-64 pixels and ``n_small`` small
    objects of ``step_small`` pixels, all domain-warped; the prediction
    re-warps them with extra jitter, swaps 12 % of the stuff cells and a fifth
    of the objects, drops a tenth, adds a few, and carries 1.5 % speckle in
    2 x 2 clumps plus 0.5 % single pixels.
    """
    p = _zipf(n_classes)
    step_big = int(rng.integers(64, 161))
    step_mid = int(rng.integers(40, 65))
    big = rng.choice(n_classes, (h // step_big + 2, w // step_big + 2), p=p).astype(np.int32)
    big[rng.random(big.shape) < unlabelled] = IGNORE
    gm_h, gm_w = h // step_mid + 2, w // step_mid + 2
    mid = _objects(rng, gm_h, gm_w, int(rng.integers(3, 10)), rng.choice(n_classes, 10, p=p))
    gs_h, gs_w = h // step_small + 2, w // step_small + 2
    small = _objects(rng, gs_h, gs_w, n_small, rng.choice(n_classes, n_small, p=p))
    layers = [(big, step_big), (mid, step_mid), (small, step_small)]
    disp = [_displacement(rng, h, w, step, amp * step, 1) for (_, step), amp in zip(layers, (0.45, 0.35, 0.35))]
    gt = _compose(layers, disp)
    # the prediction: relabelled stuff, objects dropped / relabelled / added, no "unlabelled"
    pbig = big.copy()
    present = np.unique(big[big != IGNORE]) if (big != IGNORE).any() else np.arange(1)
    swap = rng.random(pbig.shape) < 0.12
    pbig[swap] = rng.choice(n_classes, int(swap.sum()), p=p)
    unl = pbig == IGNORE
    pbig[unl] = rng.choice(present, int(unl.sum()))
    players = [(pbig, step_big)]
    for layer, step in layers[1:]:
        pl = layer.copy()
        obj = pl >= 0
        r = rng.random(pl.shape)
        pl[obj & (r < 0.1)] = -1
        relabel = obj & (r >= 0.1) & (r < 0.3)
        pl[relabel] = rng.choice(n_classes, int(relabel.sum()), p=p)
        extra = (~obj) & (rng.random(pl.shape) < 0.01)
        pl[extra] = rng.choice(n_classes, int(extra.sum()), p=p)
        players.append((pl, step))
    jy, jx = _displacement(rng, h, w, 32, 3.0, 2)  # borders move by a few pixels, raggedly
    pred = _compose(players, [(dy + jy, dx + jx) for dy, dx in disp])
    spk = _speckle(rng, (h, w), 0.015, 0.005)
    _fill_from(rng, pred, spk, np.unique(pred))
    return gt.astype(np.uint8), pred.astype(np.uint8)


def noise_pair(rng, h: int = 512, w: int = 512, *, n_classes: int = SEM_CLASSES, agree: float = 0.7):
    """Uniform noise: random labels everywhere, the prediction equal on ``agree`` of the pixels."""
    gt = rng.integers(0, n_classes, (h, w), dtype=np.uint8)
    pred = gt.copy()
    flip = rng.random((h, w), dtype=np.float32) >= agree
    pred[flip] = rng.integers(0, n_classes, int(flip.sum()), dtype=np.uint8)
    return gt, pred


def salted(rng, pred: np.ndarray, rate: float, n_classes: int = SEM_CLASSES) -> np.ndarray:
    """A copy of ``pred`` with ``rate`` of its pixels set to uniform random labels (salt noise)."""
    out = pred.copy()
    m = rng.random(pred.shape, dtype=np.float32) < rate
    out[m] = rng.integers(0, n_classes, int(m.sum()), dtype=out.dtype)
    return out


# ----------------------------------------------------------------------------- panoptic
def ragged_panoptic_pair(rng, cats, width: int = 640):
    """One ragged COCO-like pair: ``(gt_rgb, gt_segments, pred_rgb, pred_segments)``.

    Segments are the stuff categories of warped 48-128-pixel cells and about
    25 thing instances of one to four warped 16-40-pixel cells (4 % crowd);
    GT void (id 0) fills 3 % of the stuff cells and half of the border pixels
    between objects in 2 x 2 clumps.  The prediction re-warps everything with
    more jitter, drops 8 % of the instances, relabels 8 %, adds a few, changes
    a tenth of the stuff categories and has 0.8 % speckle taking the id of a
    segment of the image.
    """
    from datasets import N_STUFF, N_THING, _encode  # the COCO-like categories and id colours

    h = int(rng.integers(360, 481))
    step_big = int(rng.integers(48, 129))
    big_cats = rng.integers(N_THING, N_THING + N_STUFF, int(rng.integers(3, 9)))
    big = big_cats[rng.integers(0, big_cats.size, (h // step_big + 2, width // step_big + 2))].astype(np.int32)
    big[rng.random(big.shape) < 0.03] = -1
    n_obj = int(rng.integers(15, 36))
    step_obj = int(rng.integers(16, 41))
    obj_cat = rng.integers(0, N_THING, n_obj)
    obj_crowd = rng.random(n_obj) < 0.04
    objs = _objects(rng, h // step_obj + 2, width // step_obj + 2, n_obj, np.arange(n_obj))

    disp = [_displacement(rng, h, width, step_big, 0.4 * step_big, 1),
            _displacement(rng, h, width, step_obj, 0.35 * step_obj, 1)]

    def render(big, objs, n_inst, disp):
        stuff, inst = (_sample(layer, step, dy, dx) for layer, step, (dy, dx)
                       in zip((big, objs), (step_big, step_obj), disp))
        # segment index: instances first, then one segment per stuff category present
        seg = inst.copy()
        st = (inst < 0) & (stuff >= 0)
        cats_present = np.unique(stuff[st])
        lut = np.full(N_THING + N_STUFF, -1, np.int32)
        lut[cats_present] = n_inst + np.arange(cats_present.size)
        seg[st] = lut[stuff[st]]
        return seg, cats_present

    gseg, gstuff = render(big, objs, n_obj, disp)
    border = np.zeros((h, width), bool)
    border[:, 1:] |= gseg[:, 1:] != gseg[:, :-1]
    border[1:, :] |= gseg[1:, :] != gseg[:-1, :]
    gseg[border & _speckle(rng, (h, width), 0.5, 0.0)] = -1
    gsegs = [(int(c), bool(k)) for c, k in zip(obj_cat, obj_crowd)] + [(int(c), False) for c in gstuff]

    pbig = big.copy()
    flip = rng.random(big_cats.size) < 0.1
    pcats = big_cats.copy()
    pcats[flip] = rng.integers(N_THING, N_THING + N_STUFF, int(flip.sum()))
    remap = dict(zip(big_cats.tolist(), pcats.tolist()))
    valid = pbig >= 0
    pbig[valid] = np.vectorize(remap.get, otypes=[np.int32])(pbig[valid])
    pbig[~valid] = pcats[0]
    pobj_cat = obj_cat.copy()
    r = rng.random(n_obj)
    relabel = (r >= 0.08) & (r < 0.16)
    pobj_cat[relabel] = rng.integers(0, N_THING, int(relabel.sum()))
    pobjs = objs.copy()
    pobjs[np.isin(pobjs, np.flatnonzero(r < 0.08))] = -1
    n_extra = int(rng.integers(0, 5))
    free = np.argwhere(pobjs < 0)
    for k, (y, x) in enumerate(free[rng.choice(len(free), n_extra, replace=False)] if n_extra else []):
        pobjs[y, x] = n_obj + k
    pobj_cat = np.concatenate([pobj_cat, rng.integers(0, N_THING, n_extra)])
    jy, jx = _displacement(rng, h, width, 32, 4.0, 2)
    pseg, pstuff = render(pbig, pobjs, n_obj + n_extra, [(dy + jy, dx + jx) for dy, dx in disp])
    spk = _speckle(rng, (h, width), 0.006, 0.002)
    _fill_from(rng, pseg, spk, np.unique(pseg[pseg >= 0]))
    psegs = [(int(c), False) for c in pobj_cat] + [(int(c), False) for c in pstuff]

    gt_rgb, gt_info = _encode(gseg, gsegs, cats, rng)
    pred_rgb, pred_info = _encode(pseg, psegs, cats, rng, crowd_allowed=False)
    for s in pred_info:
        del s["iscrowd"], s["area"]
    return gt_rgb, gt_info, pred_rgb, pred_info


# ----------------------------------------------------------------------------- cityscapes
def _cs_scene(rng, h: int, w: int) -> dict:
    """Random street-scene parameters (pixel units of an ``h`` x ``w`` image)."""
    horizon = int(h * rng.uniform(0.40, 0.48))
    blocks, x = [], 0
    while x < w:
        bw = int(rng.integers(90, 420))
        kind = rng.choice([11, 11, 11, 21, 21, 12, 15], p=[0.25, 0.2, 0.15, 0.16, 0.16, 0.05, 0.03])
        top = int(horizon - h * rng.uniform(0.30, 0.47))
        blocks.append((x, min(w, x + bw), int(kind), max(0, top)))
        x += bw
    objs = []
    road_c = w * rng.uniform(0.42, 0.58)

    def ground_y(frac):  # a row between the horizon and the bottom, denser near the horizon
        return int(horizon + (h - horizon) * frac ** 1.6)

    for _ in range(int(rng.integers(4, 15))):  # cars (sometimes a truck or a bus) on the road
        y = ground_y(rng.uniform(0.05, 0.85))
        s = (y - horizon) / (h - horizon)
        width = s * rng.uniform(280, 560) + 24
        half = (0.12 + 1.7 * s) * w * 0.5
        cx = road_c + rng.uniform(-1.0, 1.0) * half
        cls = int(rng.choice([26, 27, 28, 31, 29, 30], p=[0.93, 0.025, 0.02, 0.01, 0.01, 0.005]))
        height = width * (0.45 if cls == 26 else 0.8)
        objs.append(("box", cls, y, cx, width, height))
    for _ in range(int(rng.integers(2, 14))):  # people on the sidewalks, some riders with bikes
        y = ground_y(rng.uniform(0.05, 0.7))
        s = (y - horizon) / (h - horizon)
        height = s * rng.uniform(250, 520) + 20
        side = rng.choice([-1, 1])
        cx = road_c + side * ((0.12 + 1.7 * s) * w * 0.5 + rng.uniform(10, 200) * (s + 0.1))
        if rng.random() < 0.12:
            objs.append(("box", int(rng.choice([33, 32], p=[0.8, 0.2])), y, cx, height * 0.7, height * 0.5))
            objs.append(("box", 25, y - height * 0.3, cx, height * 0.3, height * 0.75))
        else:
            objs.append(("box", 24, y, cx, height * 0.33, height))
    for _ in range(int(rng.integers(3, 10))):  # poles with a sign or a light on top
        y = ground_y(rng.uniform(0.02, 0.6))
        s = (y - horizon) / (h - horizon)
        height = (s + 0.15) * rng.uniform(450, 800)
        side = rng.choice([-1, 1])
        cx = road_c + side * ((0.12 + 1.7 * s) * w * 0.5 + rng.uniform(5, 60))
        objs.append(("box", 17, y, cx, 3 + 14 * s, height))
        if rng.random() < 0.75:
            cls = int(rng.choice([20, 19], p=[0.65, 0.35]))
            sz = 12 + 70 * s
            objs.append(("box", cls, y - height + sz, cx, sz * (1.0 if cls == 20 else 0.45), sz))
    for _ in range(int(rng.integers(0, 5))):  # small clutter: static / dynamic / ground / fence / terrain
        y = ground_y(rng.uniform(0.0, 0.6))
        s = (y - horizon) / (h - horizon)
        cls = int(rng.choice([4, 5, 6, 13, 22, 14, 18, 10], p=[0.3, 0.08, 0.14, 0.2, 0.2, 0.03, 0.02, 0.03]))
        objs.append(("box", cls, y, rng.uniform(0, w), (s + 0.1) * rng.uniform(60, 500), (s + 0.1) * rng.uniform(40, 200)))
    objs.sort(key=lambda o: o[2])  # far first
    return {"horizon": horizon, "blocks": blocks, "objs": objs, "road_c": road_c,
            "road_w": rng.uniform(0.10, 0.16), "ego": h * rng.uniform(0.05, 0.09),
            "frame": int(rng.integers(0, 8)), "terrain": rng.random() < 0.5,
            "parking": rng.random() < 0.3}


def _cs_render(sc: dict, h: int, w: int) -> np.ndarray:
    """Paint a street scene as Cityscapes label ids (uint8)."""
    out = np.full((h, w), 23, np.uint8)                       # sky
    yy = np.arange(h)[:, None]
    xx = np.arange(w)[None, :]
    hz = sc["horizon"]
    for x0, x1, kind, top in sc["blocks"]:                    # buildings / vegetation above the horizon
        out[top:hz + 1, x0:x1] = kind
    s = np.clip((yy - hz) / (h - hz), 0, 1)
    half = (sc["road_w"] + 1.7 * s) * w * 0.5
    ground = yy > hz
    out[np.broadcast_to(ground, (h, w))] = 8                  # sidewalk
    road = ground & (np.abs(xx - sc["road_c"]) < half)
    out[road] = 7
    if sc["terrain"]:
        out[ground & (np.abs(xx - sc["road_c"]) > half * 1.9)] = 22
    if sc["parking"]:
        out[ground & (np.abs(xx - sc["road_c"]) > half) & (np.abs(xx - sc["road_c"]) < half * 1.25)
            & (yy < hz + 0.3 * (h - hz))] = 9
    for _, cls, y, cx, bw, bh in sc["objs"]:
        y1, y0 = int(min(h, y)), int(max(0, y - bh))
        x0, x1 = int(max(0, cx - bw / 2)), int(min(w, cx + bw / 2))
        if y1 > y0 and x1 > x0:
            if cls in (24, 25, 26, 27, 28, 29, 30, 32, 33) and bw > 12:   # rounded corners
                ry = (np.arange(y0, y1)[:, None] - (y0 + y1) / 2) / max(1, (y1 - y0) / 2)
                rx = (np.arange(x0, x1)[None, :] - (x0 + x1) / 2) / max(1, (x1 - x0) / 2)
                m = (np.abs(ry) ** 4 + np.abs(rx) ** 4) <= 1
                out[y0:y1, x0:x1][m] = cls
            else:
                out[y0:y1, x0:x1] = cls
    ego = sc["ego"] * (1 - 0.6 * ((xx - w / 2) / (w / 2)) ** 2)
    out[np.broadcast_to(yy > h - ego, (h, w))] = 1            # ego vehicle
    f = sc["frame"]
    if f:                                                      # rectification border / out of roi
        out[:f, :] = 2
        out[:, :f] = 2
        out[:, w - f:] = 3
        out[h - f:, :] = 3
    return out


def _cs_perturb(rng, sc: dict) -> dict:
    """A model's view of a scene: objects moved and resized, some missed or confused."""
    swap = {26: 27, 27: 26, 28: 27, 24: 25, 25: 24, 33: 32, 32: 33, 20: 19, 19: 20, 22: 21, 12: 11, 13: 12}
    objs = []
    for kind, cls, y, cx, bw, bh in sc["objs"]:
        r = rng.random()
        if r < (0.25 if cls in (17, 19, 20, 4, 5, 6) else 0.07):
            continue
        if r > 0.9 and cls in swap:
            cls = swap[cls]
        objs.append((kind, cls, y + rng.normal(0, 0.03 * bh + 1), cx + rng.normal(0, 0.04 * bw + 1),
                     bw * rng.uniform(0.9, 1.1), bh * rng.uniform(0.92, 1.08)))
    blocks = [(x0, x1, (21 if kind == 11 else 11) if rng.random() < 0.08 else kind, int(top + rng.normal(0, 6)))
              for x0, x1, kind, top in sc["blocks"]]
    return dict(sc, objs=objs, blocks=blocks, road_w=sc["road_w"] * rng.uniform(0.95, 1.05),
                horizon=sc["horizon"] + int(rng.integers(-4, 5)), frame=0)


def _cs_tables():
    to_train = np.full(256, IGNORE, np.uint8)
    for k, v in CITYSCAPES_TRAIN.items():
        to_train[k] = v
    guess = to_train.copy()
    for k, v in _CS_VOID_GUESS.items():
        guess[k] = v
    return to_train, guess


def cityscapes_pair(rng, h: int = CS_HEIGHT, w: int = CS_WIDTH):
    """One Cityscapes-like ``(gt_label_ids, pred_train_ids)`` pair of uint8 maps."""
    to_train, guess = _cs_tables()
    sc = _cs_scene(rng, h, w)
    dy, dx = _displacement(rng, h, w, 96, 4.0, 1)
    gt = _sample(_cs_render(sc, h, w), 1, dy, dx)
    dy, dx = _displacement(rng, h, w, 64, 7.0, 2)
    pred = guess[_sample(_cs_render(_cs_perturb(rng, sc), h, w), 1, dy, dx)]
    _fill_from(rng, pred, _speckle(rng, (h, w), 0.002, 0.0005), np.unique(pred))
    return gt, pred


# ----------------------------------------------------------------------------- sets on disk
def _params_match(out: Path, params: dict) -> bool:
    try:
        return json.loads((out / "params.json").read_text()) == params
    except (OSError, ValueError):
        return False


def _png(arr: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(arr).save(path)


def _semantic_item(args) -> None:
    out, seed, i = args
    rng = np.random.default_rng([seed, 7101, i])
    h, w = (512, int(rng.integers(512, 684)))
    if rng.random() < 0.4:
        h, w = w, h
    gt, pred = ragged_semantic_pair(rng, h, w)
    name = f"img_{i + 1:06d}.png"
    _png(gt, out / "gt" / name)
    _png(pred, out / "pred" / name)


def _panoptic_item(args):
    out, seed, i = args
    from datasets import panoptic_categories

    rng = np.random.default_rng([seed, 7102, i])
    gt_rgb, gt_info, pred_rgb, pred_info = ragged_panoptic_pair(rng, panoptic_categories())
    image_id = 200000 + i
    name = f"{image_id:012d}"
    _png(gt_rgb, out / "gt" / f"{name}.png")
    _png(pred_rgb, out / "pred" / f"{name}.png")
    img = {"id": image_id, "file_name": f"{name}.jpg", "height": gt_rgb.shape[0], "width": gt_rgb.shape[1]}
    return (img, {"image_id": image_id, "file_name": f"{name}.png", "segments_info": gt_info},
            {"image_id": image_id, "file_name": f"{name}.png", "segments_info": pred_info})


CS_CITIES = ("frankfurt", "lindau", "munster")


def cityscapes_stems(n: int) -> list[tuple[str, str]]:
    """``(city, stem)`` of the ``n`` images, e.g. ``("lindau", "lindau_000003_000019")``."""
    return [(CS_CITIES[i % 3], f"{CS_CITIES[i % 3]}_{i // 3:06d}_000019") for i in range(n)]


def _cityscapes_item(args) -> None:
    out, seed, i = args
    to_train, _ = _cs_tables()
    rng = np.random.default_rng([seed, 7103, i])
    gt, pred = cityscapes_pair(rng)
    city, stem = cityscapes_stems(i + 1)[i]
    _png(gt, out / "gtFine" / "val" / city / f"{stem}_gtFine_labelIds.png")
    _png(to_train[gt], out / "gt_trainids" / f"{stem}.png")
    _png(pred, out / "pred" / f"{stem}.png")


def _make(kind: str, out: Path, n: int, seed: int, procs: int):
    folders = {"semantic": ("gt", "pred"), "panoptic": ("gt", "pred"),
               "cityscapes": ["gt_trainids", "pred"] + [f"gtFine/val/{c}" for c in CS_CITIES]}[kind]
    for f in folders:
        (out / f).mkdir(parents=True, exist_ok=True)
    work = {"semantic": _semantic_item, "panoptic": _panoptic_item, "cityscapes": _cityscapes_item}[kind]
    items = [(out, seed, i) for i in range(n)]
    if procs > 1 and n > 4:
        with ProcessPoolExecutor(procs, initializer=_child_init) as pool:
            return list(pool.map(work, items, chunksize=8))
    return [work(it) for it in items]


def _child_init() -> None:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))


_FOLDER = {"semantic": "ragged_semantic", "panoptic": "ragged_panoptic", "cityscapes": "cityscapes_like"}


def _cached(kind: str, n: int, seed: int, root, procs: int) -> Path:
    out = Path(root or DATA_ROOT) / f"{_FOLDER[kind]}_{n}_s{seed}"
    params = {"kind": kind, "n_images": int(n), "seed": int(seed), "version": VERSION}
    if _params_match(out, params):
        return out
    (out / "params.json").unlink(missing_ok=True)
    for sub in ("gt", "pred", "gt_trainids", "gtFine"):  # files of another parameter set
        shutil.rmtree(out / sub, ignore_errors=True)
    records = _make(kind, out, n, seed, procs)
    if kind == "panoptic":
        from datasets import panoptic_categories

        cats = panoptic_categories()
        images = [r[0] for r in records]
        (out / "gt.json").write_text(json.dumps({"images": images, "annotations": [r[1] for r in records],
                                                 "categories": cats}))
        (out / "pred.json").write_text(json.dumps({"images": images, "annotations": [r[2] for r in records],
                                                   "categories": cats}))
    (out / "params.json").write_text(json.dumps(params))
    return out


def _default_procs() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):
        return 1


def ragged_semantic_dir(n_images: int = 500, seed: int = 0, root=None, procs: int | None = None) -> Path:
    """Folder of the cached ragged semantic set (``gt/``, ``pred/``), made on first use."""
    return _cached("semantic", n_images, seed, root, procs or _default_procs())


def ragged_panoptic_dir(n_images: int = 500, seed: int = 0, root=None, procs: int | None = None) -> Path:
    """Folder of the cached ragged COCO-panoptic set (``gt.json``, ``gt/``, ``pred.json``, ``pred/``)."""
    return _cached("panoptic", n_images, seed, root, procs or _default_procs())


def cityscapes_like_dir(n_images: int = 500, seed: int = 0, root=None, procs: int | None = None) -> Path:
    """Folder of the cached Cityscapes-like set (``gtFine/val``, ``gt_trainids/``, ``pred/``)."""
    return _cached("cityscapes", n_images, seed, root, procs or _default_procs())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["semantic", "panoptic", "cityscapes"])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--procs", type=int, default=None)
    ap.add_argument("--root", type=Path, default=None)
    args = ap.parse_args(argv)
    fn = {"semantic": ragged_semantic_dir, "panoptic": ragged_panoptic_dir, "cityscapes": cityscapes_like_dir}
    print(fn[args.kind](args.images, args.seed, root=args.root, procs=args.procs))


if __name__ == "__main__":
    main()
