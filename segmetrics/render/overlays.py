"""Pictures of label maps as pure NumPy functions: error maps, outlines, colours, thumbnails.

Every function takes and returns arrays (no files, no Pillow, no state), so each
one can be tested pixel by pixel.  Colours come from :mod:`.palettes`.

Notes
-----
* Error-map codes: :data:`IGNORED` (0) for pixels the ground truth does not score,
  :data:`CORRECT` (1), :data:`WRONG` (2).  The codes are ordered by what a
  thumbnail must keep visible: :func:`downscale_max` keeps the largest code of
  each block, so one wrong pixel in a block shows as wrong, and a block that is
  ignored except for one scored pixel shows that pixel's verdict.
* Outlines: a pixel is on an outline iff one of its four neighbours inside the
  image has a different id (both sides of a border are marked; the image edge is
  not a border).
* Thumbnails take every ``f``-th pixel (:func:`downscale_nearest`, labels stay
  labels) with ``f = ceil(max(H, W) / max_side)``; outlines are drawn on the
  downscaled map, so they are exactly the borders of what is shown.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from .palettes import STATUS_COLORS

__all__ = [
    "IGNORED",
    "CORRECT",
    "WRONG",
    "apply_lut",
    "semantic_error_map",
    "thumb_factor",
    "downscale_nearest",
    "downscale_max",
    "outlines",
    "colorize",
    "colorize_errors",
    "blend",
    "segment_lookup",
    "segment_colors",
    "panoptic_panels",
]

IGNORED, CORRECT, WRONG = 0, 1, 2

#: Segment statuses of :class:`segmetrics.render.matching.SegmentMatches`, as drawn.
SEGMENT_STATUS_COLORS = {
    "matched": STATUS_COLORS["matched"],
    "fn": STATUS_COLORS["fn"],
    "fp": STATUS_COLORS["fp"],
    "not scored": STATUS_COLORS["not scored"],
}


def apply_lut(raw: np.ndarray, lut: Optional[np.ndarray], *, fill: int) -> np.ndarray:
    """``lut[raw]`` as int64, with ``fill`` where ``raw`` is outside the table (identity without a table).

    Parameters
    ----------
    raw : ndarray of int
        Label values as stored in the files.
    lut : 1-D ndarray of int or None
        Raw value -> class (an evaluator's ``gt_map`` / ``pred_map``).
    fill : int
        Class given to values the table does not cover (the ignore index, so
        such pixels are drawn as not scored).
    """
    raw = np.asarray(raw)
    if lut is None:
        return raw.astype(np.int64, copy=False)
    lut = np.asarray(lut, dtype=np.int64)
    if raw.dtype.kind == "u" and raw.dtype.itemsize <= 2:  # every value has an entry: one gather
        top = 1 << (8 * raw.dtype.itemsize)
    else:
        if raw.size and int(raw.min()) < 0:
            raw = np.where(raw < 0, lut.size, raw)  # negative values are outside the table
        top = int(raw.max()) + 1 if raw.size else 0
    if top > lut.size:
        lut = np.concatenate([lut, np.full(top - lut.size, fill, dtype=np.int64)])
    return lut[raw]


def semantic_error_map(gt: np.ndarray, pred: Optional[np.ndarray], *, num_classes: int,
                       ignore_index: Optional[int] = 255) -> np.ndarray:
    """Per-pixel verdict of a semantic prediction: ``uint8`` codes IGNORED / CORRECT / WRONG.

    Parameters
    ----------
    gt, pred : ndarray of int, shape (H, W)
        Class maps (after the label tables).  ``pred=None`` is a missing
        prediction: every scored pixel is wrong.
    num_classes : int
    ignore_index : int or None

    Returns
    -------
    ndarray of uint8, shape (H, W)

    Notes
    -----
    A pixel is scored iff its GT class ``g`` lies in ``[0, K)`` and is not the
    ignore index; it is CORRECT iff ``pred == g`` and WRONG otherwise (a
    prediction outside ``[0, K)`` on a scored pixel is wrong: it matches no
    class).  These are exactly the diagonal and off-diagonal pixels of the
    confusion matrix; unscored pixels count nowhere and are IGNORED.
    """
    gt = np.asarray(gt)
    scored = (gt >= 0) & (gt < num_classes)
    if ignore_index is not None:
        scored &= gt != ignore_index
    out = np.full(gt.shape, IGNORED, dtype=np.uint8)
    if pred is None:
        out[scored] = WRONG
        return out
    pred = np.asarray(pred)
    if pred.shape != gt.shape:
        from ..errors import InputError

        raise InputError(f"prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth is "
                         f"{gt.shape[1]}x{gt.shape[0]} (WxH)")
    out[scored] = np.where(pred[scored] == gt[scored], CORRECT, WRONG)
    return out


def thumb_factor(shape: Sequence[int], max_side: int) -> int:
    """Integer step ``f = ceil(max(H, W) / max_side)`` (at least 1) of a thumbnail."""
    return max(1, math.ceil(max(int(shape[0]), int(shape[1])) / max(1, int(max_side))))


def downscale_nearest(arr: np.ndarray, factor: int) -> np.ndarray:
    """Every ``factor``-th pixel in both directions, from the top-left one (labels stay labels)."""
    return np.ascontiguousarray(arr[::factor, ::factor]) if factor > 1 else arr


def downscale_max(codes: np.ndarray, factor: int) -> np.ndarray:
    """Largest code in each ``factor x factor`` block (same shape as :func:`downscale_nearest`)."""
    if factor <= 1:
        return codes
    h, w = codes.shape
    out = np.zeros((-(-h // factor), -(-w // factor)), dtype=codes.dtype)
    for i in range(factor):
        for j in range(factor):
            part = codes[i::factor, j::factor]
            view = out[: part.shape[0], : part.shape[1]]
            np.maximum(view, part, out=view)
    return out


def outlines(ids: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels that have a 4-neighbour (inside the image) with another id."""
    ids = np.asarray(ids)
    out = np.zeros(ids.shape[:2], dtype=bool)
    dy = ids[1:] != ids[:-1]
    dx = ids[:, 1:] != ids[:, :-1]
    if ids.ndim == 3:  # RGB-encoded ids
        dy, dx = dy.any(axis=2), dx.any(axis=2)
    out[1:] |= dy
    out[:-1] |= dy
    out[:, 1:] |= dx
    out[:, :-1] |= dx
    return out


def colorize(labels: np.ndarray, colors: np.ndarray, *, other=STATUS_COLORS["not scored"]) -> np.ndarray:
    """RGB image of a class map: ``colors[c]`` for classes ``0 <= c < len(colors)``, ``other`` elsewhere."""
    labels = np.asarray(labels)
    colors = np.asarray(colors, dtype=np.uint8)
    table = np.concatenate([colors, np.array([other], dtype=np.uint8)])
    n = len(colors)
    idx = np.where((labels >= 0) & (labels < n), labels, n)
    return table[idx]


def _checker(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.indices(shape)
    return ((yy // 2 + xx // 2) % 2).astype(bool)


def colorize_errors(codes: np.ndarray) -> np.ndarray:
    """RGB image of error-map codes: correct light grey, wrong vermillion, ignored a grey checkerboard."""
    codes = np.asarray(codes)
    out = np.empty(codes.shape + (3,), dtype=np.uint8)
    out[:] = STATUS_COLORS["correct"]
    out[codes == WRONG] = STATUS_COLORS["wrong"]
    ign = codes == IGNORED
    chk = _checker(codes.shape)
    out[ign & chk] = STATUS_COLORS["ignored_alt"]
    out[ign & ~chk] = STATUS_COLORS["ignored"]
    return out


def blend(rgb: np.ndarray, mask: np.ndarray, color, alpha: float) -> np.ndarray:
    """A copy of ``rgb`` with ``color`` laid over the ``mask`` pixels at opacity ``alpha``."""
    out = rgb.copy()
    c = np.asarray(color, dtype=np.float64)
    out[mask] = np.rint(out[mask].astype(np.float64) * (1.0 - alpha) + c * alpha).astype(np.uint8)
    return out


def segment_lookup(ids: np.ndarray, segment_ids: np.ndarray) -> np.ndarray:
    """Index of each pixel's segment in ``segment_ids`` (any order), -1 for ids not listed (void)."""
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    if segment_ids.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    order = np.argsort(segment_ids, kind="stable")
    srt = segment_ids[order]
    pos = np.minimum(np.searchsorted(srt, ids), srt.size - 1)
    return np.where(srt[pos] == ids, order[pos], -1)


def segment_colors(category_index: np.ndarray, isthing: np.ndarray, class_rgb: np.ndarray) -> np.ndarray:
    """Colour of each segment: its category's colour, things shaded by instance.

    Parameters
    ----------
    category_index : ndarray of int, shape (S,)
        Dense category of each segment (listing order), -1 for an unknown one.
    isthing : ndarray of bool, shape (K,)
    class_rgb : ndarray of uint8, shape (K, 3)

    Notes
    -----
    The ``j``-th thing segment of a category (``j = 0, 1, ...`` in listing order)
    is moved toward black by 0, 30 %, 0, 55 % or toward white by 0, 0, 35 %, 0 for
    ``j mod 4 = 0, 1, 2, 3``, so neighbouring instances differ; stuff keeps
    its colour.  Unknown categories are grey.
    """
    out = np.empty((len(category_index), 3), dtype=np.float64)
    seen: dict[int, int] = {}
    shade = ((0.0, 0.0), (0.30, 0.0), (0.0, 0.35), (0.55, 0.0))
    for s, c in enumerate(np.asarray(category_index).tolist()):
        if c < 0 or c >= len(class_rgb):
            out[s] = STATUS_COLORS["not scored"]
            continue
        base = class_rgb[c].astype(np.float64)
        if isthing[c]:
            j = seen.get(c, 0)
            seen[c] = j + 1
            dark, light = shade[j % 4]
            base = base * (1.0 - dark)
            base = base + (255.0 - base) * light
        out[s] = base
    return np.rint(out).astype(np.uint8)


def panoptic_panels(gt_ids: np.ndarray, pred_ids: Optional[np.ndarray], gt_seg_ids, gt_colors, gt_status,
                    pred_seg_ids, pred_colors, pred_status) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GT, prediction and segment-status images of one panoptic pair (at the given resolution).

    Parameters
    ----------
    gt_ids, pred_ids : ndarray of int, shape (H, W)
        Segment id maps (already downscaled for a thumbnail); ``pred_ids=None``
        is a missing prediction.
    gt_seg_ids, pred_seg_ids : sequence of int
        Listed segment ids.
    gt_colors, pred_colors : ndarray of uint8, shape (S, 3)
        Colour of each listed segment (:func:`segment_colors`).
    gt_status, pred_status : sequence of str
        Each segment's status: ``"matched"``, ``"fn"`` / ``"fp"`` or ``"not scored"``.

    Returns
    -------
    gt_rgb, pred_rgb, status_rgb : ndarray of uint8, shape (H, W, 3)

    Notes
    -----
    GT and prediction: segment colours, void in light grey, every outline
    (:func:`outlines`) in black except those of false-negative GT segments (blue)
    and false-positive predicted segments (vermillion), which are also tinted
    45 % with that colour; segments that are not scored are tinted 50 % grey.
    Status image: light grey background, then GT segments not scored (crowd)
    grey, matched predicted segments pale green, predictions not scored (mostly
    on void or crowd) grey, FN GT segments blue, and FP predicted segments
    vermillion on top (so overlapping errors show the FP).
    """
    codes = {"void": 0, "matched": 1, "fn": 2, "fp": 3, "not scored": 4}

    def paint(ids, seg_ids, colors, status, bad):
        idx = segment_lookup(ids, np.asarray(seg_ids, dtype=np.int64))
        table = np.concatenate([np.asarray(colors, dtype=np.uint8).reshape(-1, 3),
                                np.array([STATUS_COLORS["missing"]], dtype=np.uint8)])
        rgb = table[np.where(idx >= 0, idx, len(table) - 1)]
        st = np.array([codes[s] for s in status] + [0], dtype=np.uint8)[np.where(idx >= 0, idx, len(status))]
        err = st == codes[bad]
        rgb = blend(rgb, err, SEGMENT_STATUS_COLORS[bad], 0.45)
        rgb = blend(rgb, st == codes["not scored"], STATUS_COLORS["not scored"], 0.5)
        line = outlines(ids)
        rgb[line] = STATUS_COLORS["outline"]
        rgb[line & err] = SEGMENT_STATUS_COLORS[bad]
        return rgb, st

    gt_rgb, gt_st = paint(gt_ids, gt_seg_ids, gt_colors, gt_status, "fn")
    status = np.empty(gt_ids.shape + (3,), dtype=np.uint8)
    status[:] = STATUS_COLORS["correct"]
    status[gt_st == codes["not scored"]] = STATUS_COLORS["not scored"]
    if pred_ids is None:
        pred_rgb = np.empty_like(gt_rgb)
        pred_rgb[:] = STATUS_COLORS["missing"]
        status[gt_st == codes["fn"]] = STATUS_COLORS["fn"]
        return gt_rgb, pred_rgb, status
    pred_rgb, pred_st = paint(pred_ids, pred_seg_ids, pred_colors, pred_status, "fp")
    status[pred_st == codes["matched"]] = STATUS_COLORS["matched_fill"]
    status[pred_st == codes["not scored"]] = STATUS_COLORS["not scored"]
    status[gt_st == codes["fn"]] = STATUS_COLORS["fn"]
    status[pred_st == codes["fp"]] = STATUS_COLORS["fp"]
    return gt_rgb, pred_rgb, status
