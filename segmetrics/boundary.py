"""Boundary IoU for semantic segmentation, Boundary PQ and PQ-dagger for panoptic segmentation.

Mask IoU barely moves when the border of a large object is wrong; Boundary IoU
(Cheng et al., "Boundary IoU: Improving Object-Centric Image Segmentation
Evaluation", CVPR 2021) scores only a band along each border.  This module holds
the array-level API; the compiled band pass and counting live in
:mod:`segmetrics._kernels.boundary`.  Definitions (``docs/boundary.md`` has the
derivations, the references and the differences from other tools):

Band
    The inner band of width ``d`` of a mask ``M``: the pixels of ``M`` whose
    chessboard distance to a pixel outside ``M`` is at most ``d``, the outside of
    the image counting as outside ``M`` (boundary-iou-api's
    ``mask - erode(pad(mask, 1, 0), 3x3, iterations=d)``).  ``d = max(1,
    round(r * sqrt(H^2 + W^2)))`` with Python's rounding (half to even), ``r`` the
    dilation ratio: 0.02 by default (the paper's COCO / LVIS value), 0.005 for
    Cityscapes-sized images (:data:`CITYSCAPES_DILATION_RATIO`, the paper's).

Semantic Boundary IoU
    Per image and class ``c``: ``G = gt == c``, ``P = pred == c`` after the label
    rules (``ignore_index``, ``reduce_zero_label``, label maps: the confusion
    matrix's rules), each band computed on its whole map, then the pixels whose
    ground truth is ignored are removed from both bands.  Summed over images:
    ``I_c = sum |G_d & P_d|``, ``U_c = sum |G_d| + sum |P_d| - I_c``;
    ``BIoU_c = I_c / U_c`` (NaN when ``U_c = 0``), ``mBIoU`` the mean over
    classes with ``U_c > 0``.  ``MinIoU_c = min(IoU_c, BIoU_c)`` (the paper's
    suggestion for one number that sees both the region and its border; a NaN
    side is left out of the min) and ``mMinIoU`` its mean.

Boundary PQ
    panopticapi's PQ with the IoU of every GT / predicted segment pair replaced
    by ``min(mask IoU, boundary IoU)``, for matching (> 0.5) and for SQ.  Each
    segment's band is that of its own binary mask; ``boundary IoU = |G_b & P_b| /
    (|P_b| + |G_b| - |G_b & P_b| - |P_b & void|)``; the false-positive exclusion
    (more than half of a prediction on void or on its category's crowd region)
    still uses the mask overlap.  Keys ``BPQ BSQ BRQ BN`` and ``_th`` / ``_st``.

PQ-dagger (Porzi et al., "Seamless Scene Segmentation", CVPR 2019)
    Thing classes: PQ.  Stuff classes: no 0.5 threshold and no FP / FN: the mask
    IoU of every overlapping GT / prediction pair of the class (GT not crowd)
    summed over the dataset and divided by the number of non-crowd GT segments of
    the class; NaN (left out of the means) for a stuff class without GT segments.
    Keys ``PQ_dagger``, ``PQ_dagger_th`` (= ``PQ_th``), ``PQ_dagger_st``, ``N_dagger``.

All counts are int64 sums and the IoU lists are reduced with :func:`math.fsum`,
so the results do not depend on the order of images, threads or shards.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import metrics as _metrics
from ._kernels import boundary as _kernel
from .errors import FormatError, InputError
from .panoptic import (
    CategoryIndex,
    ImageStats,
    _as_id_map,
    _fsum_by_category,
    _segment_arrays,
    evaluate_image,
)
from .semantic import SemanticEvaluator, _Counter, _to_numpy, _views

__all__ = [
    "DEFAULT_DILATION_RATIO",
    "CITYSCAPES_DILATION_RATIO",
    "dilation_pixels",
    "band_mask",
    "BoundaryCounts",
    "boundary_iou_counts",
    "boundary_iou_metrics",
    "SemanticBoundaryAccumulator",
    "BoundaryImageStats",
    "boundary_panoptic_stats",
    "boundary_pq_metrics",
    "pq_dagger_metrics",
    "PanopticBoundaryAccumulator",
    "pq_dagger",
]

#: The paper's dilation ratio for COCO / LVIS (and this package's default).
DEFAULT_DILATION_RATIO = 0.02
#: The paper's dilation ratio for Cityscapes (2048 x 1024 images: d = 11 pixels).
CITYSCAPES_DILATION_RATIO = 0.005

_GROUPS = (("", None), ("_th", True), ("_st", False))


# ----------------------------------------------------------------------------- band width


def _check_ratio(dilation_ratio: Any) -> float:
    if isinstance(dilation_ratio, (bool, np.bool_)) or not isinstance(dilation_ratio, numbers.Real):
        raise InputError(f"dilation_ratio must be a number, got {dilation_ratio!r}")
    r = float(dilation_ratio)
    if not (math.isfinite(r) and r >= 0):
        raise InputError(f"dilation_ratio must be a finite number >= 0, got {dilation_ratio!r}")
    return r


def _check_dilation(dilation: Any) -> int | None:
    if dilation is None:
        return None
    if isinstance(dilation, (bool, np.bool_)) or not isinstance(dilation, numbers.Integral) or dilation < 1:
        raise InputError(f"dilation must be an integer >= 1 (pixels) or None, got {dilation!r}")
    return int(dilation)


def dilation_pixels(height: int, width: int, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """Band width ``d`` in pixels of an image of ``height x width``.

    Parameters
    ----------
    height, width : int
        Image size in pixels (at least 1 each).
    dilation_ratio : float, default 0.02
        ``r``, a fraction of the image diagonal.

    Returns
    -------
    int

    Notes
    -----
    ``d = max(1, round(r * sqrt(height^2 + width^2)))`` where ``round`` rounds half
    to even, exactly as boundary-iou-api's ``int(round(dilation_ratio * img_diag))``
    in Python 3 (so 640 x 480 with r = 0.02 gives 16, 2048 x 1024 with 0.005 gives 11).
    """
    r = _check_ratio(dilation_ratio)
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 1:
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    return int(_kernel.dilation(int(height), int(width), r))


def _width(h: int, w: int, ratio: float, dilation: int | None) -> int:
    return dilation if dilation is not None else int(_kernel.dilation(h, w, ratio))


def band_mask(labels, *, dilation_ratio: float = DEFAULT_DILATION_RATIO, dilation: int | None = None) -> np.ndarray:
    """The inner band of every label of a label map, in one pass.

    Parameters
    ----------
    labels : array_like or torch.Tensor
        ``(H, W)`` integer labels (class labels or segment ids), or ``(H, W, 3)``
        uint8 RGB segment ids (id = R + 256 G + 256^2 B).
    dilation_ratio : float, default 0.02
        Band width as a fraction of the image diagonal (see :func:`dilation_pixels`).
    dilation : int, optional
        Band width in pixels; overrides ``dilation_ratio``.

    Returns
    -------
    numpy.ndarray of bool, shape (H, W)
        True where a pixel lies in the band of its own label.

    Notes
    -----
    A pixel is in its label's band iff a pixel with another label, or the outside
    of the image, lies within chessboard distance ``d``: for every label ``v`` the
    result restricted to ``labels == v`` equals ``mask - erode(pad(mask, 1, 0),
    3x3, iterations=d)`` of ``mask = labels == v``.
    """
    r = _check_ratio(dilation_ratio)
    dil = _check_dilation(dilation)
    arr = _to_numpy(labels, "labels")
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        a = arr.astype(np.uint32)
        arr = a[..., 0] | (a[..., 1] << 8) | (a[..., 2] << 16)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"labels must be a non-empty (H, W) map or (H, W, 3) RGB, got shape {arr.shape}")
    _, inverse = np.unique(arr, return_inverse=True)
    dense = np.ascontiguousarray(inverse.reshape(arr.shape), dtype=np.int32)
    runs = _kernel.encode_codes(dense, np.arange(int(dense.max()) + 1, dtype=np.int32), False, 0)
    return _kernel.band_image(runs, _width(arr.shape[0], arr.shape[1], r, dil)).view(bool)


# ----------------------------------------------------------------------------- semantic


@dataclass(frozen=True)
class BoundaryCounts:
    """Per-class band counts (int64, shape ``(..., K)``), summed over images.

    Attributes
    ----------
    intersection : ndarray
        ``sum |G_d & P_d|`` per class.
    gt_band, pred_band : ndarray
        ``sum |G_d|``, ``sum |P_d|`` per class (GT-ignored pixels removed).
    """

    intersection: np.ndarray
    gt_band: np.ndarray
    pred_band: np.ndarray

    @property
    def union(self) -> np.ndarray:
        """``gt_band + pred_band - intersection``."""
        return self.gt_band + self.pred_band - self.intersection

    def __add__(self, other: "BoundaryCounts") -> "BoundaryCounts":
        return BoundaryCounts(self.intersection + other.intersection, self.gt_band + other.gt_band,
                              self.pred_band + other.pred_band)


def _label_rules(num_classes, ignore_index, reduce_zero_label, gt_map, pred_map,
                 absent_rule: str = "mmseg") -> SemanticEvaluator:
    """A SemanticEvaluator: the one owner of the label rules (its validated code tables) and
    of the confusion matrix the mask IoU comes from."""
    return SemanticEvaluator(num_classes, ignore_index=ignore_index, reduce_zero_label=reduce_zero_label,
                             gt_map=gt_map, pred_map=pred_map, absent_rule=absent_rule)


def _kernel_rows(arr: np.ndarray) -> np.ndarray:
    v = _views(arr)
    if v.shape[1] > 1 and v.strides[1] != v.itemsize:
        v = np.ascontiguousarray(v)
    return v


def _semantic_interior(counter: _Counter, gt: np.ndarray, pred: np.ndarray, ratio: float,
                       dilation: int | None, out: tuple) -> None:
    """Add one (H, W) image's interior counts to ``out = (gt_in, pred_in, both_in)`` (labels are
    checked by the caller's confusion count: pixels with a bad label add nothing here)."""
    _, gcodes, pcodes, has_ign, raw_ign = counter.tables(gt.dtype, pred.dtype)
    runs_g = _kernel.encode_codes(_kernel_rows(gt), gcodes, has_ign, raw_ign)
    runs_p = _kernel.encode_codes(_kernel_rows(pred), pcodes, False, 0)
    _kernel.semantic_interior(runs_g, runs_p, _width(gt.shape[0], gt.shape[1], ratio, dilation), *out)


def _counts_from_interior(confusion: np.ndarray, gt_in, pred_in, both_in) -> BoundaryCounts:
    """Band counts = totals - interiors: ``|G_d| = |G| - |G & I_G|`` ... with the totals from
    the confusion matrix of the same images (rows = GT)."""
    return BoundaryCounts(np.diag(confusion) - both_in, confusion.sum(axis=1) - gt_in,
                          confusion.sum(axis=0) - pred_in)


def _image_pairs(counter: _Counter, gt, pred, image_id) -> list:
    gt, pred = counter.check_pair(gt, pred)
    if gt.ndim == 2:
        return [(gt, pred, image_id)]
    if gt.ndim != 3:
        raise InputError(f"label maps must be (H, W) or (N, H, W), got shape {gt.shape}")
    ids = list(range(gt.shape[0])) if image_id is None else list(image_id)
    if len(ids) != gt.shape[0]:
        raise InputError(f"a batch of {gt.shape[0]} images needs {gt.shape[0]} image ids, got {len(ids)}")
    return [(gt[i], pred[i], ids[i]) for i in range(gt.shape[0])]


def boundary_iou_counts(gt, pred, *, num_classes: int, ignore_index: int | None = 255,
                        reduce_zero_label: bool = False, gt_map=None, pred_map=None,
                        dilation_ratio: float = DEFAULT_DILATION_RATIO, dilation: int | None = None,
                        image_id: Any = None) -> BoundaryCounts:
    """Semantic Boundary IoU counts of one image ``(H, W)`` or a batch ``(N, H, W)`` (summed).

    Parameters
    ----------
    gt, pred : array_like or torch.Tensor of integers
        Label maps of the same shape.
    num_classes : int
        K.
    ignore_index : int or None, default 255
        Ground-truth label (after ``gt_map``) that is not scored.
    reduce_zero_label : bool, default False
        ADE20K's rule on the ground truth (0 -> ignore, k -> k - 1).
    gt_map, pred_map : 1-D integer array, optional
        Lookup tables applied to the raw labels first (as in :func:`segmetrics.confusion_matrix`).
    dilation_ratio : float, default 0.02
        Band width as a fraction of each image's diagonal.
    dilation : int, optional
        Band width in pixels (overrides ``dilation_ratio``).
    image_id : optional
        Named in error messages (a sequence of N ids for a batch).

    Returns
    -------
    BoundaryCounts
        int64 ``(K,)`` arrays.

    Raises
    ------
    InputError, LabelError
        As :func:`segmetrics.confusion_matrix` (same rules, same messages).

    Notes
    -----
    Per image and class ``c``, with ``G = gt == c`` and ``P = pred == c`` after the
    label rules, and ``V`` the pixels whose ground truth is scored:
    ``intersection_c = |G_d & P_d & V|``, ``gt_band_c = |G_d & V| = |G_d|``,
    ``pred_band_c = |P_d & V|``.  Each band is computed on its whole map (a
    prediction under an ignored GT pixel still shapes the prediction's band), then
    restricted to ``V``.  A prediction label that is no class (e.g. 255) under an
    ignored pixel is allowed, as in the confusion matrix; on a scored pixel it is a
    :class:`~segmetrics.errors.LabelError`.
    """
    r = _check_ratio(dilation_ratio)
    dil = _check_dilation(dilation)
    counter = _label_rules(num_classes, ignore_index, reduce_zero_label, gt_map, pred_map)._counter
    k = counter.num_classes
    interior = tuple(np.zeros(k, np.int64) for _ in range(3))
    cm = np.zeros((k, k), np.int64)
    for g, p, iid in _image_pairs(counter, gt, pred, image_id):
        if any(counter.count(cm, g, p)):  # the confusion matrix checks the labels
            raise counter.label_error(g, p, iid)
        _semantic_interior(counter, g, p, r, dil, interior)
    return _counts_from_interior(cm, *interior)


def _nanmean_last(x: np.ndarray) -> np.ndarray | float:
    valid = ~np.isnan(x)
    n = valid.sum(axis=-1)
    total = np.where(valid, x, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return float(out) if out.ndim == 0 else out


def boundary_iou_metrics(intersection, gt_band, pred_band, *, mask_iou=None,
                         absent_rule: str = "mmseg") -> dict:
    """Boundary IoU metrics of summed counts (vectorised over leading axes).

    Parameters
    ----------
    intersection, gt_band, pred_band : array_like of int, shape (..., K)
        Summed counts (:class:`BoundaryCounts`); a leading axis holds e.g. resamples.
    mask_iou : array_like of float, shape (..., K), optional
        The mask IoU per class (:func:`segmetrics.metrics.class_iou` of the same
        images' confusion matrix); adds ``MinIoU`` and ``mMinIoU``.
    absent_rule : {"mmseg", "detectron2"}
        ``"detectron2"`` leaves out (NaN) the classes without ground-truth band pixels,
        as for mask IoU.

    Returns
    -------
    dict
        ``BIoU`` (..., K), ``mBIoU`` (...), and with ``mask_iou`` also ``MinIoU``
        (..., K) and ``mMinIoU`` (...); scalars as float.

    Notes
    -----
    ``BIoU_c = I_c / (G_c + P_c - I_c)``, NaN when the union is 0 (the class has no
    band pixel on either side: it is absent, or its predicted pixels' band lies
    entirely on ignored ground truth).  A class predicted but absent from the ground
    truth scores 0 (``"mmseg"``).  ``MinIoU_c = fmin(IoU_c, BIoU_c)``: the smaller
    of the two, or the defined one when the other is NaN.  Means are over the
    non-NaN classes; NaN when there is none.
    """
    inter = np.asarray(intersection, dtype=np.int64)
    g = np.asarray(gt_band, dtype=np.int64)
    p = np.asarray(pred_band, dtype=np.int64)
    if inter.shape != g.shape or inter.shape != p.shape or inter.ndim == 0:
        raise InputError(f"intersection, gt_band and pred_band need one shape (..., K), got "
                         f"{inter.shape}, {g.shape}, {p.shape}")
    if absent_rule not in _metrics.ABSENT_RULES:
        raise InputError(f"absent_rule must be one of {_metrics.ABSENT_RULES}, got {absent_rule!r}")
    union = g + p - inter
    if (inter < 0).any() or (union < inter).any() or (inter > np.minimum(g, p)).any():
        raise InputError("boundary counts are inconsistent (intersection larger than a band, or negative)")
    biou = np.full(inter.shape, np.nan)
    np.divide(inter, union, out=biou, where=union > 0)
    if absent_rule == "detectron2":
        biou[g == 0] = np.nan
    out: dict = {"BIoU": biou, "mBIoU": _nanmean_last(biou)}
    if mask_iou is not None:
        miou = np.asarray(mask_iou, dtype=np.float64)
        if miou.shape != biou.shape:
            raise InputError(f"mask_iou has shape {miou.shape}, the counts {biou.shape}")
        both = np.fmin(miou, biou)
        out["MinIoU"] = both
        out["mMinIoU"] = _nanmean_last(both)
    return out


class SemanticBoundaryAccumulator:
    """Accumulate semantic Boundary IoU (and the mask confusion matrix) image by image.

    Parameters
    ----------
    num_classes : int
    ignore_index : int or None, default 255
    reduce_zero_label : bool, default False
    gt_map, pred_map : 1-D integer array, optional
        The label rules of :class:`segmetrics.SemanticEvaluator` (same meaning).
    dilation_ratio : float, default 0.02
    dilation : int, optional
        Band width in pixels instead of the ratio.
    absent_rule : {"mmseg", "detectron2"}

    Notes
    -----
    The state is integer sums: the mask confusion matrix in ``evaluator`` (a
    :class:`segmetrics.SemanticEvaluator` fed the same images) and the ``interior`` counts
    of the band kernel; ``counts`` (:class:`BoundaryCounts`) are their difference.  So
    :meth:`merge` is exact and order-free.  :meth:`compute` returns
    the evaluator's metrics (``mIoU`` ...) plus ``mBIoU`` and ``mMinIoU``, and the
    per-class ``IoU``, ``BIoU``, ``MinIoU`` arrays (see :func:`boundary_iou_metrics`).
    On an error nothing from that call is counted.
    """

    def __init__(self, num_classes: int, *, ignore_index: int | None = 255, reduce_zero_label: bool = False,
                 gt_map=None, pred_map=None, dilation_ratio: float = DEFAULT_DILATION_RATIO,
                 dilation: int | None = None, absent_rule: str = "mmseg") -> None:
        self.evaluator = _label_rules(num_classes, ignore_index, reduce_zero_label, gt_map, pred_map, absent_rule)
        self.dilation_ratio = _check_ratio(dilation_ratio)
        self.dilation = _check_dilation(dilation)
        self.interior = tuple(np.zeros(self.num_classes, np.int64) for _ in range(3))

    @property
    def num_classes(self) -> int:
        return self.evaluator.num_classes

    @property
    def num_images(self) -> int:
        return self.evaluator.state.num_images

    @property
    def counts(self) -> BoundaryCounts:
        """The band counts of every image so far (confusion totals minus interiors)."""
        return _counts_from_interior(self.evaluator.state.confusion, *self.interior)

    def reset(self) -> None:
        """Forget every image."""
        self.evaluator.reset()
        self.interior = tuple(np.zeros(self.num_classes, np.int64) for _ in range(3))

    def update(self, gt, pred, *, image_id: Any = None) -> None:
        """Count one image ``(H, W)`` or a batch ``(N, H, W)``."""
        c = self.evaluator._counter
        out = tuple(np.zeros(c.num_classes, np.int64) for _ in range(3))
        for g, p, _ in _image_pairs(c, gt, pred, image_id):
            _semantic_interior(c, g, p, self.dilation_ratio, self.dilation, out)
        self.evaluator.update(gt, pred, image_id=image_id)  # checks the labels; on error, adds nothing
        self.interior = tuple(a + b for a, b in zip(self.interior, out))

    def merge(self, other: "SemanticBoundaryAccumulator") -> "SemanticBoundaryAccumulator":
        """Add another accumulator's sums (same configuration); returns self."""
        if not isinstance(other, SemanticBoundaryAccumulator) or \
                (other.dilation_ratio, other.dilation) != (self.dilation_ratio, self.dilation):
            raise InputError("can only merge a SemanticBoundaryAccumulator with the same band width")
        self.evaluator.merge(other.evaluator)
        self.interior = tuple(a + b for a, b in zip(self.interior, other.interior))
        return self

    def compute(self) -> dict:
        """The evaluator's metrics plus ``mBIoU``, ``mMinIoU`` (floats) and the per-class
        ``IoU``, ``BIoU``, ``MinIoU`` arrays."""
        res = self.evaluator.compute()
        iou = res.per_class["IoU"]
        out = dict(res.metrics)
        out.update(boundary_iou_metrics(self.counts.intersection, self.counts.gt_band, self.counts.pred_band,
                                        mask_iou=iou, absent_rule=self.evaluator.absent_rule))
        out["IoU"] = iou
        return out


# ----------------------------------------------------------------------------- panoptic


@dataclass
class BoundaryImageStats:
    """One image's Boundary PQ and PQ-dagger statistics (small, picklable).

    Attributes
    ----------
    image_id : Any
    mask : ImageStats
        The image's mask-PQ statistics (:func:`segmetrics.panoptic.evaluate_image`).
    tp, fp, fn : ndarray of int64, shape (K,)
        Boundary PQ counts.
    match_cat, match_iou : ndarray
        Category and ``min(mask IoU, boundary IoU)`` of each Boundary PQ match, in
        ascending (GT id, prediction id) order.
    stuff_cat, stuff_iou : ndarray
        PQ-dagger: category and mask IoU of every overlapping same-category pair of a
        stuff class whose GT segment is not crowd.
    gt_segments : ndarray of int64, shape (K,)
        Non-crowd GT segments per category (PQ-dagger's stuff denominator).
    dilation : int
        The band width used, in pixels (0: no band was computed).
    """

    image_id: Any
    mask: ImageStats
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    match_cat: np.ndarray
    match_iou: np.ndarray
    stuff_cat: np.ndarray
    stuff_iou: np.ndarray
    gt_segments: np.ndarray
    dilation: int
    warnings: list = field(default_factory=list)


def _effective_gt_area(json_area: np.ndarray, gt_pixels: np.ndarray, recompute: bool) -> np.ndarray:
    """|g| of the mask IoU: the JSON area (the PNG count where it is missing), or the PNG
    count with ``recompute_gt_areas`` (the rule of :func:`segmetrics.panoptic.table_stats`)."""
    if recompute:
        return gt_pixels.astype(np.float64)
    return np.ascontiguousarray(np.where(np.isnan(json_area), gt_pixels.astype(np.float64), json_area))


def _crowd_of_cat(g_cat: np.ndarray, g_crowd: np.ndarray, g_order: np.ndarray, k: int) -> np.ndarray:
    """Per category, the 1-based GT index of the crowd segment listed last (0: none), as
    panopticapi lets a later crowd segment of a category replace an earlier one."""
    out = np.zeros(k, dtype=np.int64)
    crowd = np.flatnonzero(g_crowd)
    for j in crowd[np.argsort(g_order[crowd], kind="stable")].tolist():
        out[g_cat[j]] = j + 1
    return out


def _id_rows(arr: np.ndarray, rgb: bool) -> np.ndarray:
    return arr.reshape(arr.shape[0], -1).view(np.uint8)


def _panoptic_image(gt_ids, gt_segments, pred_ids, pred_segments, cats: CategoryIndex, *,
                    ratio: float, dilation: int | None, with_band: bool, image_id: Any,
                    recompute_gt_areas: bool, gt_name: str | None, pred_name: str | None) -> BoundaryImageStats:
    mask = evaluate_image(gt_ids, gt_segments, pred_ids, pred_segments, cats, image_id=image_id,
                          recompute_gt_areas=recompute_gt_areas, gt_name=gt_name, pred_name=pred_name)
    where = f"image {image_id!r}" if image_id is not None else "image"
    g_arr, g_rgb = _as_id_map(gt_ids, "ground-truth", where)
    p_arr, p_rgb = _as_id_map(pred_ids, "prediction", where)
    g_ids, g_cat, g_crowd, g_area, g_order = _segment_arrays(gt_segments, cats, "ground-truth", where)
    p_ids, p_cat = _segment_arrays(pred_segments, cats, "prediction", where)[:2]
    h, w = g_arr.shape[:2]
    runs_g, bad_g = _kernel.encode_ids(_id_rows(g_arr, g_rgb), g_rgb, w, np.ascontiguousarray(g_ids, np.int64))
    runs_p, bad_p = _kernel.encode_ids(_id_rows(p_arr, p_rgb), p_rgb, w, np.ascontiguousarray(p_ids, np.int64))
    if runs_g is None or runs_p is None:  # evaluate_image has named these already
        raise FormatError(f"{where}: segment id {bad_g if runs_g is None else bad_p} is not in segments_info")
    d = _width(h, w, ratio, dilation) if with_band else 0
    ng, npr = g_ids.size, p_ids.size
    eg, ep, em, inner, g_in, p_in = _kernel.panoptic_interior(runs_g, runs_p, d, ng, npr)
    gt_pixels = np.zeros(ng + 1, np.int64)
    np.add.at(gt_pixels, eg, em)
    pred_pixels = np.zeros(npr + 1, np.int64)
    np.add.at(pred_pixels, ep, em)
    # band = total - interior (see bd_panoptic_interior); entry 0 (void) has no band
    eb, g_band, p_band = em - inner, gt_pixels - g_in, pred_pixels - p_in
    g_band[0] = p_band[0] = 0
    k = len(cats)
    g_cat = np.ascontiguousarray(g_cat, np.int64)
    g_crowd = np.ascontiguousarray(g_crowd, np.uint8)
    tp, fp, fn = (np.zeros(k, np.int64) for _ in range(3))
    mcat, miou, scat, siou = _kernel.match(
        eg, ep, em, eb, ng, npr, _effective_gt_area(g_area, gt_pixels[1:], recompute_gt_areas), g_cat,
        g_crowd, _crowd_of_cat(g_cat, g_crowd, g_order, k), np.ascontiguousarray(p_cat, np.int64),
        cats.isthing.astype(np.uint8), g_band, p_band, with_band, tp, fp, fn,
    )
    gt_segments = np.bincount(g_cat[g_crowd == 0], minlength=k).astype(np.int64)
    return BoundaryImageStats(image_id=image_id, mask=mask, tp=tp, fp=fp, fn=fn, match_cat=mcat, match_iou=miou,
                              stuff_cat=scat, stuff_iou=siou, gt_segments=gt_segments, dilation=d,
                              warnings=list(mask.warnings))


def boundary_panoptic_stats(gt_ids, gt_segments: Sequence[dict], pred_ids, pred_segments: Sequence[dict],
                            categories, *, dilation_ratio: float = DEFAULT_DILATION_RATIO,
                            dilation: int | None = None, image_id: Any = None, recompute_gt_areas: bool = False,
                            gt_name: str | None = None, pred_name: str | None = None) -> BoundaryImageStats:
    """Boundary PQ, PQ-dagger and mask-PQ statistics of one image (thread-safe).

    Parameters
    ----------
    gt_ids, pred_ids : array_like
        ``(H, W)`` integer id maps or ``(H, W, 3)`` uint8 RGB (id = R + 256 G + 256^2 B); 0 is void.
    gt_segments, pred_segments : list of dict
        COCO ``segments_info``.
    categories : CategoryIndex or list of dict
    dilation_ratio : float, default 0.02
    dilation : int, optional
        Band width in pixels instead of the ratio.
    image_id, recompute_gt_areas, gt_name, pred_name
        As :func:`segmetrics.panoptic.evaluate_image`.

    Returns
    -------
    BoundaryImageStats

    Raises
    ------
    InputError, FormatError
        As :func:`segmetrics.panoptic.evaluate_image`, which checks the image first.

    Notes
    -----
    GT ``g`` and prediction ``p`` match iff same category, ``g`` not crowd and
    ``min(mask IoU, boundary IoU) > 0.5``, with ``mask IoU = |g & p| / (|p| + |g| -
    |g & p| - |p & void|)`` (``|g|`` the JSON area unless ``recompute_gt_areas``) and
    ``boundary IoU = |G_b & P_b| / (|P_b| + |G_b| - |G_b & P_b| - |P_b & void|)``, the
    bands of each segment's own mask.  Unmatched non-crowd GT segments are FN; an
    unmatched prediction is FP unless more than half of its pixels lie on void or
    on the last-listed crowd segment of its category.
    """
    cats = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
    return _panoptic_image(gt_ids, gt_segments, pred_ids, pred_segments, cats, ratio=_check_ratio(dilation_ratio),
                           dilation=_check_dilation(dilation), with_band=True, image_id=image_id,
                           recompute_gt_areas=recompute_gt_areas, gt_name=gt_name, pred_name=pred_name)


def _pq_classes(tp, fp, fn, iou_sum) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class PQ, SQ, RQ (vectorised): ``PQ = iou / (TP + FP/2 + FN/2)``, ``SQ = iou / TP``
    (0 when TP = 0), ``RQ = TP / (TP + FP/2 + FN/2)``; NaN where TP + FP + FN = 0."""
    tp = np.asarray(tp, np.int64)
    fp = np.asarray(fp, np.int64)
    fn = np.asarray(fn, np.int64)
    iou = np.asarray(iou_sum, np.float64)
    scored = (tp + fp + fn) > 0
    den = np.where(scored, tp + 0.5 * fp + 0.5 * fn, 1.0)
    pq = np.where(scored, iou / den, np.nan)
    sq = np.where(scored, np.where(tp > 0, iou / np.maximum(tp, 1), 0.0), np.nan)
    rq = np.where(scored, tp / den, np.nan)
    return pq, sq, rq


def _group_means(values: dict, isthing: np.ndarray) -> dict:
    """Means over All / Things / Stuff of per-class arrays (NaN classes left out) and N."""
    out: dict = {}
    first = next(iter(values.values()))
    for suffix, flag in _GROUPS:
        members = np.ones(first.shape[-1], bool) if flag is None else (isthing == flag)
        for key, v in values.items():
            out[key + suffix] = _nanmean_last(np.where(members, v, np.nan))
        n = (~np.isnan(first) & members).sum(axis=-1)
        out["N" + suffix] = int(n) if np.ndim(n) == 0 else n
    return out


def _check_isthing(isthing, k: int) -> np.ndarray:
    flags = np.asarray(isthing, dtype=bool)
    if flags.shape != (k,):
        raise InputError(f"isthing needs one flag per category ({k}), got shape {flags.shape}")
    return flags


def boundary_pq_metrics(tp, fp, fn, iou_sum, isthing) -> dict:
    """Boundary PQ / SQ / RQ of summed counts (vectorised over leading axes).

    Parameters
    ----------
    tp, fp, fn : array_like of int, shape (..., K)
        Boundary PQ counts summed over images.
    iou_sum : array_like of float, shape (..., K)
        Sum of the matches' ``min(mask IoU, boundary IoU)`` per class.
    isthing : array_like of bool, shape (K,)

    Returns
    -------
    dict
        ``BPQ BSQ BRQ BN``, ``BPQ_th ... BN_th``, ``BPQ_st ... BN_st`` and the per-class
        arrays ``bpq bsq brq``.

    Notes
    -----
    panopticapi's formulas on the boundary counts: per class ``PQ = iou / (TP + FP/2 +
    FN/2)``, ``SQ = iou / TP`` (0 when TP = 0), ``RQ = TP / (TP + FP/2 + FN/2)``;
    classes with ``TP + FP + FN = 0`` are NaN and left out of the means; a group
    without any scored class is NaN.
    """
    pq, sq, rq = _pq_classes(tp, fp, fn, iou_sum)
    flags = _check_isthing(isthing, pq.shape[-1])
    means = _group_means({"PQ": pq, "SQ": sq, "RQ": rq}, flags)
    out = {"B" + key: v for key, v in means.items()}
    out.update(bpq=pq, bsq=sq, brq=rq)
    return out


def pq_dagger_metrics(tp, fp, fn, iou_sum, stuff_iou_sum, gt_segments, isthing) -> dict:
    """PQ-dagger of summed counts (vectorised over leading axes).

    Parameters
    ----------
    tp, fp, fn, iou_sum : array_like, shape (..., K)
        Mask-PQ counts and match IoU sums (only the thing classes are used).
    stuff_iou_sum : array_like of float, shape (..., K)
        Per stuff class, the sum of the mask IoUs of every overlapping same-class pair.
    gt_segments : array_like of int, shape (..., K)
        Non-crowd GT segments per class.
    isthing : array_like of bool, shape (K,)

    Returns
    -------
    dict
        ``PQ_dagger``, ``PQ_dagger_th``, ``PQ_dagger_st``, ``N_dagger`` (and ``_th`` /
        ``_st``), and the per-class array ``pq_dagger``.

    Notes
    -----
    Thing class: ``PQ_c``.  Stuff class: ``stuff_iou_sum_c / gt_segments_c`` (NaN when
    the class has no GT segment, even if predicted, as torchmetrics'
    ``ModifiedPanopticQuality`` leaves it out).  Means over the non-NaN classes.
    """
    pq = _pq_classes(tp, fp, fn, iou_sum)[0]
    flags = _check_isthing(isthing, pq.shape[-1])
    n_gt = np.asarray(gt_segments, np.int64)
    s = np.asarray(stuff_iou_sum, np.float64)
    stuff = np.where(n_gt > 0, s / np.maximum(n_gt, 1), np.nan)
    per_class = np.where(flags, pq, stuff)
    means = _group_means({"PQ_dagger": per_class}, flags)
    out = {key.replace("N_", "N_dagger_") if key.startswith("N_") else key: v for key, v in means.items()}
    out["N_dagger"] = out.pop("N")
    out["pq_dagger"] = per_class
    return out


class PanopticBoundaryAccumulator:
    """Accumulate mask PQ, Boundary PQ and PQ-dagger statistics image by image.

    Parameters
    ----------
    categories : list of dict or CategoryIndex
        COCO categories ``{id, name, isthing}``.
    dilation_ratio : float, default 0.02
    dilation : int, optional
        Band width in pixels instead of the ratio.
    recompute_gt_areas : bool, default False

    Notes
    -----
    The state is int64 counts and per-match float lists reduced with
    :func:`math.fsum` in :meth:`compute`, so :meth:`merge` is exact and the
    results do not depend on the image order.  :meth:`compute` returns mask ``PQ
    SQ RQ N`` (as :class:`segmetrics.PanopticEvaluator`), ``BPQ BSQ BRQ BN``,
    ``PQ_dagger N_dagger``, each with ``_th`` / ``_st``, and ``per_class``.
    """

    def __init__(self, categories, *, dilation_ratio: float = DEFAULT_DILATION_RATIO, dilation: int | None = None,
                 recompute_gt_areas: bool = False) -> None:
        self.categories = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
        self.dilation_ratio = _check_ratio(dilation_ratio)
        self.dilation = _check_dilation(dilation)
        self.recompute_gt_areas = bool(recompute_gt_areas)
        self.reset()

    def reset(self) -> None:
        """Forget every image."""
        k = len(self.categories)
        self.counts = {name: np.zeros(k, np.int64) for name in
                       ("mask_tp", "mask_fp", "mask_fn", "tp", "fp", "fn", "gt_segments")}
        self.lists: dict[str, list] = {name: [] for name in
                                       ("mask_cat", "mask_iou", "match_cat", "match_iou", "stuff_cat", "stuff_iou")}
        self.num_images = 0
        self.warnings: list[str] = []

    def evaluate_image(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None, gt_name=None,
                       pred_name=None) -> BoundaryImageStats:
        """Score one image without touching the state (safe from worker threads)."""
        return _panoptic_image(gt_ids, gt_segments, pred_ids, pred_segments, self.categories,
                               ratio=self.dilation_ratio, dilation=self.dilation, with_band=True,
                               image_id=image_id, recompute_gt_areas=self.recompute_gt_areas,
                               gt_name=gt_name, pred_name=pred_name)

    def add(self, stats: BoundaryImageStats) -> None:
        """Add one image's statistics."""
        if stats.tp.size != len(self.categories):
            raise InputError("these image statistics were computed for other categories")
        c, lists = self.counts, self.lists
        for name, v in (("mask_tp", stats.mask.tp), ("mask_fp", stats.mask.fp), ("mask_fn", stats.mask.fn),
                        ("tp", stats.tp), ("fp", stats.fp), ("fn", stats.fn), ("gt_segments", stats.gt_segments)):
            c[name] += v
        for name, v in (("mask_cat", stats.mask.match_cat), ("mask_iou", stats.mask.match_iou),
                        ("match_cat", stats.match_cat), ("match_iou", stats.match_iou),
                        ("stuff_cat", stats.stuff_cat), ("stuff_iou", stats.stuff_iou)):
            lists[name].append(v)
        self.num_images += 1
        self.warnings.extend(stats.warnings)

    def update(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None) -> None:
        """Score one image and add it."""
        if image_id is None:
            image_id = self.num_images
        self.add(self.evaluate_image(gt_ids, gt_segments, pred_ids, pred_segments, image_id=image_id))

    def merge(self, other: "PanopticBoundaryAccumulator") -> "PanopticBoundaryAccumulator":
        """Add another accumulator's state (same categories and band width); returns self."""
        if (not isinstance(other, PanopticBoundaryAccumulator) or other.categories != self.categories
                or (other.dilation_ratio, other.dilation, other.recompute_gt_areas)
                != (self.dilation_ratio, self.dilation, self.recompute_gt_areas)):
            raise InputError("can only merge a PanopticBoundaryAccumulator with the same configuration")
        for name in self.counts:
            self.counts[name] += other.counts[name]
        for name in self.lists:
            self.lists[name].extend(other.lists[name])
        self.num_images += other.num_images
        self.warnings.extend(other.warnings)
        return self

    def _fsum(self, cat: str, iou: str) -> np.ndarray:
        k = len(self.categories)
        cats, ious = self.lists[cat], self.lists[iou]
        if not cats:
            return np.zeros(k, np.float64)
        return _fsum_by_category(np.concatenate(cats), np.concatenate(ious), k)

    def compute(self) -> dict:
        """``{"metrics": {...}, "per_class": [...], "num_images": n, "warnings": [...]}``."""
        c = self.counts
        isthing = self.categories.isthing
        mask_iou = self._fsum("mask_cat", "mask_iou")
        b_iou = self._fsum("match_cat", "match_iou")
        s_iou = self._fsum("stuff_cat", "stuff_iou")
        pq, sq, rq = _pq_classes(c["mask_tp"], c["mask_fp"], c["mask_fn"], mask_iou)
        metrics = dict(_group_means({"PQ": pq, "SQ": sq, "RQ": rq}, isthing))
        bpq = boundary_pq_metrics(c["tp"], c["fp"], c["fn"], b_iou, isthing)
        dag = pq_dagger_metrics(c["mask_tp"], c["mask_fp"], c["mask_fn"], mask_iou, s_iou, c["gt_segments"], isthing)
        metrics.update({k: v for k, v in bpq.items() if k not in ("bpq", "bsq", "brq")})
        metrics.update({k: v for k, v in dag.items() if k != "pq_dagger"})
        per_class = []
        for i, cid in enumerate(self.categories.ids):
            per_class.append({
                "category_id": cid, "name": self.categories.names[i], "isthing": bool(isthing[i]),
                "pq": float(pq[i]), "sq": float(sq[i]), "rq": float(rq[i]),
                "bpq": float(bpq["bpq"][i]), "bsq": float(bpq["bsq"][i]), "brq": float(bpq["brq"][i]),
                "btp": int(c["tp"][i]), "bfp": int(c["fp"][i]), "bfn": int(c["fn"][i]),
                "biou_sum": float(b_iou[i]), "pq_dagger": float(dag["pq_dagger"][i]),
                "stuff_iou_sum": float(s_iou[i]), "gt_segments": int(c["gt_segments"][i]),
            })
        return {"metrics": metrics, "per_class": per_class, "num_images": self.num_images,
                "warnings": list(self.warnings)}


def pq_dagger(gt_ids, gt_segments, pred_ids, pred_segments, *, categories, recompute_gt_areas: bool = False) -> dict:
    """PQ-dagger of one image given as arrays, or of several (lists of maps and segment lists).

    Parameters
    ----------
    gt_ids, pred_ids : array_like or list of array_like
        Id maps as for :func:`boundary_panoptic_stats`.
    gt_segments, pred_segments : list of dict, or list of such lists
    categories : list of dict or CategoryIndex
    recompute_gt_areas : bool, default False

    Returns
    -------
    dict
        ``PQ_dagger``, ``PQ_dagger_th``, ``PQ_dagger_st``, ``N_dagger*`` and ``pq_dagger``
        (per class), see :func:`pq_dagger_metrics`.

    Notes
    -----
    Conventions are panopticapi's (JSON GT areas, crowd regions, void): on
    torchmetrics' ``(category, instance)`` tensors without void predictions the
    value equals ``ModifiedPanopticQuality``; ``docs/boundary.md`` lists where the
    two differ.
    """
    cats = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
    if isinstance(gt_ids, (list, tuple)):
        if not (len(gt_ids) == len(gt_segments) == len(pred_ids) == len(pred_segments)):
            raise InputError("gt_ids, gt_segments, pred_ids and pred_segments must have the same length")
        items = list(zip(gt_ids, gt_segments, pred_ids, pred_segments))
    else:
        items = [(gt_ids, gt_segments, pred_ids, pred_segments)]
    if not items:
        raise InputError("pq_dagger needs at least one image")
    k = len(cats)
    tp, fp, fn, n_gt = (np.zeros(k, np.int64) for _ in range(4))
    mcat, miou, scat, siou = [], [], [], []
    for i, (g, gs, p, ps) in enumerate(items):
        st = _panoptic_image(g, gs, p, ps, cats, ratio=DEFAULT_DILATION_RATIO, dilation=None, with_band=False,
                             image_id=i, recompute_gt_areas=recompute_gt_areas, gt_name=None, pred_name=None)
        tp += st.mask.tp
        fp += st.mask.fp
        fn += st.mask.fn
        n_gt += st.gt_segments
        mcat.append(st.mask.match_cat)
        miou.append(st.mask.match_iou)
        scat.append(st.stuff_cat)
        siou.append(st.stuff_iou)
    iou_sum = _fsum_by_category(np.concatenate(mcat), np.concatenate(miou), k)
    stuff_sum = _fsum_by_category(np.concatenate(scat), np.concatenate(siou), k)
    return pq_dagger_metrics(tp, fp, fn, iou_sum, stuff_sum, n_gt, cats.isthing)
