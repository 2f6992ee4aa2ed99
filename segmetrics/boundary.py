"""Boundary IoU for semantic segmentation, Boundary PQ and PQ-dagger for panoptic segmentation.

Mask IoU barely moves when the border of a large object is wrong; Boundary IoU
(Cheng et al., "Boundary IoU: Improving Object-Centric Image Segmentation
Evaluation", CVPR 2021) scores only a band along each border.  This module holds
the array-level functions; the evaluators (``SemanticEvaluator(boundary=True)``,
``PanopticEvaluator(boundary=True)``) and the folder API (``boundary=True``,
``segmetrics eval --boundary``) count the same quantities, the folder loops in the
same pass as the mask counts.  The band width rule is
:mod:`segmetrics._engine.band`'s, the compiled band pass
:mod:`segmetrics._kernels.boundary`'s, the matching ``sm_pq.h``'s (one matcher for
PQ and Boundary PQ), the formulas :mod:`segmetrics.metrics` and :mod:`segmetrics.pq`.  Definitions (``docs/boundary.md`` has the
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
    Keys ``PQ_dagger``, ``PQ_dagger_th`` (= ``PQ_th``), ``PQ_dagger_st``, ``N_dagger``;
    every panoptic result has them.

All counts are int64 sums and the IoU lists are reduced with :func:`math.fsum`,
so the results do not depend on the order of images, threads or shards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import metrics as _metrics
from . import pq as _pq
from ._engine import band as _band
from ._engine.image import CategoryIndex, ImageStats, score_image
from ._kernels import boundary as _kernel
from .errors import InputError
from .labels import as_label_array
from .panoptic import PanopticEvaluator
from .semantic import SemanticEvaluator

__all__ = [
    "DEFAULT_DILATION_RATIO",
    "CITYSCAPES_DILATION_RATIO",
    "dilation_pixels",
    "band_mask",
    "BoundaryCounts",
    "boundary_iou_counts",
    "boundary_iou_metrics",
    "boundary_panoptic_stats",
    "boundary_pq_metrics",
    "pq_dagger_metrics",
    "pq_dagger",
]

DEFAULT_DILATION_RATIO = _band.DEFAULT_DILATION_RATIO
CITYSCAPES_DILATION_RATIO = _band.CITYSCAPES_DILATION_RATIO
dilation_pixels = _band.dilation_pixels


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
    r = _band.check_ratio(dilation_ratio)
    dil = _band.check_dilation(dilation)
    arr = as_label_array(labels, "labels")
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        a = arr.astype(np.uint32)
        arr = a[..., 0] | (a[..., 1] << 8) | (a[..., 2] << 16)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"labels must be a non-empty (H, W) map or (H, W, 3) RGB, got shape {arr.shape}")
    _, inverse = np.unique(arr, return_inverse=True)
    dense = np.ascontiguousarray(inverse.reshape(arr.shape), dtype=np.int32)
    runs = _kernel.encode_codes(dense, np.arange(int(dense.max()) + 1, dtype=np.int32), False, 0)
    return _kernel.band_image(runs, _band.width(arr.shape[0], arr.shape[1], r, dil)).view(bool)


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
    :class:`~segmetrics.errors.LabelError`.  The counting is
    ``SemanticEvaluator(boundary=True)``'s.
    """
    ev = SemanticEvaluator(num_classes, ignore_index=ignore_index, reduce_zero_label=reduce_zero_label,
                           gt_map=gt_map, pred_map=pred_map, boundary=True, dilation_ratio=dilation_ratio,
                           dilation=dilation)
    ev.update(gt, pred, image_id=image_id)
    st = ev.state
    return BoundaryCounts(st.boundary_inter.copy(), st.boundary_gt.copy(), st.boundary_pred.copy())


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
    :func:`segmetrics.metrics.boundary_iou` (the formula's one owner):
    ``BIoU_c = I_c / (G_c + P_c - I_c)``, NaN when the union is 0;
    ``MinIoU_c = fmin(IoU_c, BIoU_c)``; means over the non-NaN classes.
    """
    return _metrics.boundary_iou(intersection, gt_band, pred_band, mask_iou=mask_iou, absent_rule=absent_rule)


# ----------------------------------------------------------------------------- panoptic


def boundary_panoptic_stats(gt_ids, gt_segments: Sequence[dict], pred_ids, pred_segments: Sequence[dict],
                            categories, *, dilation_ratio: float = DEFAULT_DILATION_RATIO,
                            dilation: int | None = None, image_id: Any = None, recompute_gt_areas: bool = False,
                            gt_name: str | None = None, pred_name: str | None = None) -> ImageStats:
    """Mask PQ, PQ-dagger and Boundary PQ statistics of one image (thread-safe).

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
    ImageStats
        ``tp`` ... ``match_iou`` (mask PQ), ``stuff_cat``, ``stuff_iou``,
        ``gt_segments`` (PQ-dagger) and ``btp`` ... ``bmatch_iou`` (Boundary PQ).

    Raises
    ------
    InputError, FormatError
        As :func:`segmetrics.panoptic.evaluate_image`.

    Notes
    -----
    GT ``g`` and prediction ``p`` match iff same category, ``g`` not crowd and
    ``min(mask IoU, boundary IoU) > 0.5``, with ``mask IoU = |g & p| / (|p| + |g| -
    |g & p| - |p & void|)`` (``|g|`` the JSON area unless ``recompute_gt_areas``) and
    ``boundary IoU = |G_b & P_b| / (|P_b| + |G_b| - |G_b & P_b| - |P_b & void|)``, the
    bands of each segment's own mask (areas from the PNG).  Unmatched non-crowd GT
    segments are FN; an unmatched prediction is FP unless more than half of its
    pixels lie on void or on the last-listed crowd segment of its category.
    """
    return score_image(gt_ids, gt_segments, pred_ids, pred_segments, categories, image_id=image_id,
                       recompute_gt_areas=recompute_gt_areas, gt_name=gt_name, pred_name=pred_name,
                       dilation_ratio=_band.check_ratio(dilation_ratio), dilation=_band.check_dilation(dilation))


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
    panopticapi's formulas on the boundary counts (:mod:`segmetrics.pq`): per class
    ``PQ = iou / (TP + FP/2 + FN/2)``, ``SQ = iou / TP`` (0 when TP = 0), ``RQ = TP /
    (TP + FP/2 + FN/2)``; classes with ``TP + FP + FN = 0`` are NaN and left out of the
    means; a group without any scored class is NaN.
    """
    pq, sq, rq, _ = _pq.pq_per_class(tp, fp, fn, iou_sum)
    out = _pq.pq_groups(tp, fp, fn, iou_sum, _check_isthing(isthing, pq.shape[-1]), prefix="B")
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
    ``ModifiedPanopticQuality`` leaves it out).  Means over the non-NaN classes
    (:func:`segmetrics.pq.pq_dagger_groups`).
    """
    flags = _check_isthing(isthing, np.shape(tp)[-1])
    out = _pq.pq_dagger_groups(tp, fp, fn, iou_sum, stuff_iou_sum, gt_segments, flags)
    out["pq_dagger"] = _pq.pq_dagger_per_class(tp, fp, fn, iou_sum, stuff_iou_sum, gt_segments, flags)
    return out


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
    two differ.  Every :class:`~segmetrics.panoptic.PanopticResult` carries the same
    keys.
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
    ev = PanopticEvaluator(cats, with_semantic=False, recompute_gt_areas=recompute_gt_areas)
    for i, (g, gs, p, ps) in enumerate(items):
        ev.update(g, gs, p, ps, image_id=i)
    st = ev.state
    return pq_dagger_metrics(st.tp, st.fp, st.fn, st.iou_sum(), st.stuff_iou_sum(), st.gt_segments, cats.isthing)
