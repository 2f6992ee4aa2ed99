"""Plain-NumPy twins of the compiled kernels, the oracles of ``tests/test_kernels_*.py``.

Each twin is written from the definition in its docstring (the project's documented
rules: README "What the numbers mean", ``../shared/DESIGN.md``, the kernels' module
docstrings), pixel by pixel or with whole-array NumPy, never from the kernels' loops:
no runs, no hashes, no SIMD.  PNG files are decoded with Pillow, a real peer.

Kernel        twin
------------  ------------------------------------------------------------------
confusion     ``confusion``: ``accumulate`` with code tables
row walker    ``row_runs``: the runs one row pair is split into
folder, sem.  ``semantic_file_pair``: ``semantic_pair`` / ``semantic_cached`` (+ the
              recorded GT runs ``gt_code_runs`` and the per-image TP / FP / FN)
pairs         ``pair_counts``: ``PairTable.count_maps`` / ``panoptic_pair``
matching      ``image_stats``: panopticapi's per-image rules (``image_stats``, ``sm_pq.h``)
folder, pan.  ``panoptic_run``: the sums of a fused folder run (``PanopticBatch``)
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

IGNORED = -1
BAD = -2


# ----------------------------------------------------------------------------- semantic
def codes_of(values, table, has_ignore: bool = False, ignore: int = 0) -> np.ndarray:
    """Kernel code of raw label values.

    Definition: ``table[v]`` when ``0 <= v < len(table)``; otherwise -1 (ignored) when
    ``has_ignore`` and ``v == ignore``, else -2 (bad).  Negative values are beyond
    every table.
    """
    v = np.asarray(values).astype(np.int64)
    table = np.asarray(table, dtype=np.int64)
    out = np.full(v.shape, BAD, dtype=np.int64)
    inside = (v >= 0) & (v < table.size)
    out[inside] = table[v[inside]]
    if has_ignore:
        out[~inside & (v == ignore)] = IGNORED
    return out


def confusion(gt, pred, gt_codes, pred_codes, k: int, has_ignore: bool = False, gt_ignore: int = 0):
    """``(cm, bad_gt, bad_pred)`` of one label-map pair.

    Definition: a pixel whose GT code is -1 counts nowhere (its prediction is not
    looked at); GT code -2 counts in ``bad_gt``; a valid GT with prediction code -2
    counts in ``bad_pred``; every other pixel adds one to ``cm[gt code, pred code]``
    (rows = ground truth).
    """
    g = codes_of(gt, gt_codes, has_ignore, gt_ignore).ravel()
    p = codes_of(pred, pred_codes).ravel()
    valid = g >= 0
    ok = valid & (p >= 0)
    cm = np.bincount(g[ok] * k + p[ok], minlength=k * k).reshape(k, k).astype(np.int64)
    return cm, int((g == BAD).sum()), int((valid & (p < 0)).sum())


def row_runs(g, p, gt_codes, pred_codes, has_ignore: bool = False, gt_ignore: int = 0) -> list:
    """The runs one row pair is split into: ``[(gt code, pred code or None, length)]``.

    Definition: a run is a maximal stretch of pixels over which the raw GT value and
    the raw prediction value both stay the same, except that over a stretch of one
    raw GT value whose code is -1 (ignored) the prediction is not looked at: the
    stretch is one run (its prediction code is None here, meaningless in the kernel).
    """
    g = np.asarray(g).astype(np.int64)
    p = np.asarray(p).astype(np.int64)
    gc = codes_of(g, gt_codes, has_ignore, gt_ignore)
    pc = codes_of(p, pred_codes)
    out = []
    j = 0
    while j < g.size:
        e = j + 1
        while e < g.size and g[e] == g[j] and (gc[j] == IGNORED or p[e] == p[e - 1]):
            e += 1
        out.append((int(gc[j]), None if gc[j] == IGNORED else int(pc[j]), e - j))
        j = e
    return out


def decode(png: bytes) -> np.ndarray:
    """A PNG file's samples as Pillow reads them (palette files: the indices)."""
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im)


def gt_code_runs(gt_map, gt_codes) -> tuple[np.ndarray, np.ndarray]:
    """The GT runs the semantic folder kernels record for the cache: ``(values, lengths)``.

    Definition: row by row, maximal runs of one GT code ``c``, stored as ``c + 2``;
    a run longer than 65535 pixels is split into runs of at most 65535.
    """
    values, lengths = [], []
    for row in codes_of(gt_map, gt_codes):
        j = 0
        while j < row.size:
            e = j
            while e < row.size and row[e] == row[j]:
                e += 1
            n = e - j
            while n > 0:
                part = min(n, 65535)
                values.append(int(row[j]) + 2)
                lengths.append(part)
                n -= part
            j = e
    return np.array(values, dtype=np.uint16), np.array(lengths, dtype=np.uint16)


def semantic_file_pair(gt_png: bytes, pred_png: bytes, gt_codes, pred_codes, k: int):
    """What the semantic folder kernels count for two label PNG files:
    ``(cm, bad_gt, bad_pred, tp, fp, fn)``.

    Definition: both files decoded (Pillow), the confusion twin on them, and the
    image's own vectors ``tp = diag(cm)``, ``fp = column sums - tp``, ``fn = row
    sums - tp``.  (The kernel returns status 1, the reference path's turn, when a
    bad count is not zero.)
    """
    cm, bad_gt, bad_pred = confusion(decode(gt_png), decode(pred_png), gt_codes, pred_codes, k)
    tp = np.diag(cm).copy()
    return cm, bad_gt, bad_pred, tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


# ----------------------------------------------------------------------------- panoptic
def rgb_to_ids(rgb) -> np.ndarray:
    """Segment ids of an RGB id map: ``R + 256 G + 256^2 B``."""
    a = np.asarray(rgb).astype(np.int64)
    return a[..., 0] + 256 * a[..., 1] + 65536 * a[..., 2]


def dense(id_map, ids) -> np.ndarray:
    """Dense indices of an id map: 0 for id 0 (void), ``1 + position`` of the id among
    the ascending listed ``ids``, -1 for an id that is not listed."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    m = np.asarray(id_map).astype(np.int64)
    pos = np.searchsorted(ids, m)
    found = (pos < ids.size) & (ids[np.minimum(pos, max(ids.size - 1, 0))] == m) if ids.size else np.zeros(m.shape, bool)
    out = np.where(found, pos + 1, -1)
    out[m == 0] = 0
    return out


def pair_counts(gt_map, pred_map, gt_ids, pred_ids):
    """``(pairs, unlisted)`` of one image's id maps.

    Definition: ``pairs[(g, p)]`` = number of pixels of GT dense index ``g`` and
    prediction dense index ``p`` (see :func:`dense`), only pairs that occur.
    ``unlisted`` is 0, or the side of the first pixel in raster order that carries
    an id not listed: 1 GT (GT first when both sides of one pixel are unlisted), 2
    prediction.
    """
    g = dense(gt_map, gt_ids).ravel()
    p = dense(pred_map, pred_ids).ravel()
    bad = (g < 0) | (p < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        return None, 1 if g[first] < 0 else 2
    keys, counts = np.unique(g * (p.max(initial=0) + 1) + p, return_counts=True)
    width = p.max(initial=0) + 1
    return {(int(a // width), int(a % width)): int(c) for a, c in zip(keys, counts)}, 0


def image_stats(pairs: dict, g_cat, g_crowd, g_area, g_order, p_cat, k: int, recompute: bool = False,
                isthing=None) -> dict:
    """panopticapi's per-image rules on the pair counts of one image.

    Definitions (README "Panoptic segmentation"; indices are dense, ``g_*`` / ``p_*``
    in ascending id order): a listed segment without pixels makes the image an
    error (``{"status": 1}``).  A GT segment's area is its JSON area unless
    ``recompute`` or the JSON has none (NaN): then its pixel count; a JSON area that
    differs from the pixel count is *stale*.  Within a category only the crowd
    segment listed last is the crowd region.  GT ``g`` and prediction ``p`` match iff
    same category, ``g`` not crowd and ``|g & p| / (|p| + area(g) - |g & p| - |p & void|)
    > 0.5``; matches are listed in ascending (GT, prediction) order.  Unmatched
    non-crowd GT segments are false negatives; an unmatched prediction is a false
    positive unless ``(|p & void| + |p & crowd region of its category|) / |p| > 0.5``.
    The category confusion adds each GT segment's pixels at (its category, the
    prediction's category or K for void); GT void is not counted.  With ``isthing``,
    PQ-dagger's inputs too: every pair of a stuff category with the same category on
    both sides and a GT segment that is not crowd, with its IoU above (no threshold),
    in ascending (GT, prediction) order, and the non-crowd GT segments per category.
    Each segment's outcome: GT 1 matched, 2 false negative, 0 crowd; prediction 1
    matched, 2 false positive, 0 unmatched and not counted.
    """
    ng, npr = len(g_cat), len(p_cat)
    gpix = [0] * (ng + 1)
    ppix = [0] * (npr + 1)
    for (g, p), c in pairs.items():
        gpix[g] += c
        ppix[p] += c
    if any(gpix[g] == 0 for g in range(1, ng + 1)) or any(ppix[p] == 0 for p in range(1, npr + 1)):
        return {"status": 1, "gt_pixels": gpix[1:], "pred_pixels": ppix[1:]}
    area, stale = [], []
    for g in range(ng):
        a = float(g_area[g])
        if recompute or math.isnan(a):
            area.append(float(gpix[g + 1]))
        else:
            area.append(a)
            if a != gpix[g + 1]:
                stale.append(g)
    crowd_region = {}
    for g in sorted((g for g in range(ng) if g_crowd[g]), key=lambda g: g_order[g]):
        crowd_region[int(g_cat[g])] = g + 1
    tp, fp, fn = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    matches, stuff = [], []
    gm, pm = set(), set()
    for (g, p) in sorted(pairs):
        if g == 0 or p == 0 or g_crowd[g - 1] or g_cat[g - 1] != p_cat[p - 1]:
            continue
        inter = pairs[(g, p)]
        union = float(ppix[p]) + area[g - 1] - inter - pairs.get((0, p), 0)
        iou = inter / union
        if isthing is not None and not isthing[p_cat[p - 1]]:
            stuff.append((int(p_cat[p - 1]), iou))
        if iou > 0.5:
            tp[p_cat[p - 1]] += 1
            matches.append((int(p_cat[p - 1]), iou))
            gm.add(g)
            pm.add(p)
    gt_outcome = [1 if g in gm else 0 for g in range(1, ng + 1)]  # 1 matched, 2 FN, 0 crowd
    pred_outcome = [1 if p in pm else 0 for p in range(1, npr + 1)]  # 1 matched, 2 FP, 0 not counted
    for g in range(1, ng + 1):
        if g not in gm and not g_crowd[g - 1]:
            fn[g_cat[g - 1]] += 1
            gt_outcome[g - 1] = 2
    for p in range(1, npr + 1):
        if p in pm:
            continue
        c = int(p_cat[p - 1])
        ignored = pairs.get((0, p), 0) + (pairs.get((crowd_region[c], p), 0) if c in crowd_region else 0)
        if ignored / ppix[p] > 0.5:
            continue
        fp[c] += 1
        pred_outcome[p - 1] = 2
    conf = np.zeros((k + 1) * (k + 1), np.int64)
    for (g, p), c in pairs.items():
        if g:
            conf[int(g_cat[g - 1]) * (k + 1) + (int(p_cat[p - 1]) if p else k)] += c
    out = {"status": 0, "tp": tp, "fp": fp, "fn": fn, "matches": matches, "confusion": conf, "stale": stale,
           "gt_pixels": gpix[1:], "pred_pixels": ppix[1:], "gt_outcome": gt_outcome, "pred_outcome": pred_outcome}
    if isthing is not None:
        out["stuff"] = stuff
        out["gt_segments"] = np.bincount([int(g_cat[g]) for g in range(ng) if not g_crowd[g]],
                                         minlength=k).astype(np.int64)
    return out


def panoptic_run(images: list, k: int, recompute: bool = False) -> dict:
    """The sums of a panoptic folder run: per image ``(gt_rgb, pred_rgb, gt columns,
    pred columns)`` with columns ``(ids, dense categories[, crowd, JSON areas, order])``.

    Definition: every image through :func:`pair_counts` and :func:`image_stats`, their
    TP / FP / FN and category confusions added, their matches kept per image index.
    Returns ``tp, fp, fn, confusion`` and ``matches`` as ``[(image, category, iou)]``.
    """
    tp, fp, fn = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    conf = np.zeros((k + 1) * (k + 1), np.int64)
    matches = []
    for i, (grgb, prgb, gcol, pcol) in enumerate(images):
        pairs, unlisted = pair_counts(rgb_to_ids(grgb), rgb_to_ids(prgb), gcol[0], pcol[0])
        assert not unlisted
        st = image_stats(pairs, gcol[1], gcol[2], gcol[3], gcol[4], pcol[1], k, recompute)
        assert st["status"] == 0
        tp += st["tp"]
        fp += st["fp"]
        fn += st["fn"]
        conf += st["confusion"]
        matches += [(i, c, iou) for c, iou in st["matches"]]
    return {"tp": tp, "fp": fp, "fn": fn, "confusion": conf.reshape(k + 1, k + 1), "matches": matches}
