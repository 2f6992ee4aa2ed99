"""Semantic and panoptic metrics from summed counts, vectorised over leading axes.

The semantic rule lives in :func:`segmetrics.metrics.semantic_from_counts` (re-exported
here); the PQ formula in :mod:`segmetrics.pq`.

Both functions take per-class arrays of shape ``(..., K)``: one dataset
(``(K,)``), one row per image (``(N, K)``) or one row per bootstrap resample
(``(R, K)``).  Every leading index is scored on its own, with the rules the
dataset-level evaluators apply (:mod:`segmetrics.metrics`,
:class:`segmetrics.panoptic.PanopticEvaluator`).
"""
from __future__ import annotations

import numpy as np

from .. import pq as _pq_formula
from ..errors import InputError
from ..metrics import _as_counts, _same_shapes, semantic_from_counts

__all__ = [
    "SEMANTIC_HEADLINE",
    "SEMANTIC_PER_CLASS",
    "PANOPTIC_HEADLINE",
    "PANOPTIC_PER_CLASS",
    "semantic_from_counts",
    "pq_from_counts",
]

SEMANTIC_HEADLINE = ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice")
SEMANTIC_PER_CLASS = ("IoU", "Acc", "Dice", "Precision", "Recall")
PANOPTIC_HEADLINE = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")
PANOPTIC_PER_CLASS = ("pq", "sq", "rq")


def _check_isthing(isthing, k: int) -> np.ndarray:
    arr = np.asarray(isthing)
    if arr.shape != (k,):
        raise InputError(f"isthing must have shape ({k},), one flag per category, got {arr.shape}")
    if arr.dtype != np.bool_ and not np.isin(arr, (0, 1)).all():
        raise InputError("isthing must hold booleans (or 0 / 1)")
    return arr.astype(bool)


def pq_from_counts(tp, fp, fn, iou_sum, isthing) -> dict:
    """Panoptic quality of summed per-category counts, for every leading index at once.

    Parameters
    ----------
    tp, fp, fn : array_like, shape (..., K)
        Matched, unmatched predicted and unmatched ground-truth segments per
        category (non-negative integers, int64 or exact float64).
    iou_sum : array_like, shape (..., K)
        Sum of the IoUs of the matches of each category (float64).
    isthing : array_like of bool, shape (K,)

    Returns
    -------
    dict of str to ndarray
        ``PQ SQ RQ`` (All), ``PQ_th SQ_th RQ_th`` (things), ``PQ_st SQ_st
        RQ_st`` (stuff) of shape ``(...)``, float64; ``N N_th N_st`` (int64,
        how many categories were averaged); ``pq sq rq`` of shape ``(..., K)``.

    Notes
    -----
    The formulas are :mod:`segmetrics.pq`'s (panopticapi's): per category
    ``PQ_c = iou_sum_c / (tp_c + fp_c / 2 + fn_c / 2)``, ``SQ_c = iou_sum_c / tp_c``
    (0 when ``tp_c = 0``), ``RQ_c = tp_c / (tp_c + fp_c / 2 + fn_c / 2)``.  A
    category counts at an index iff ``tp_c + fp_c + fn_c > 0`` there (as
    panopticapi does on that dataset, resample or image); elsewhere its
    per-category values are NaN.  ``PQ`` / ``SQ`` / ``RQ`` of a group are the
    means over its counted categories, NaN when it has none (panopticapi
    raises ``ZeroDivisionError`` there).
    """
    tp = _as_counts("tp", tp)
    fp = _as_counts("fp", fp)
    fn = _as_counts("fn", fn)
    iou = _as_counts("iou_sum", iou_sum)
    _same_shapes(tp=tp, fp=fp, fn=fn, iou_sum=iou)
    things = _check_isthing(isthing, tp.shape[-1])
    return _pq(tp, 2.0 * tp + fp + fn, iou, things)


def _pq(tp: np.ndarray, den2: np.ndarray, iou: np.ndarray, isthing: np.ndarray) -> dict:
    """:func:`pq_from_counts` from ``tp``, ``den2 = 2 tp + fp + fn`` and ``iou_sum`` (exact float64).

    PQ depends on FP and FN only through ``fp + fn = den2 - 2 tp``, so that sum is
    passed as FP with FN = 0: ``tp + (fp + fn) / 2`` equals ``tp + fp / 2 + fn / 2``
    exactly for integer counts below 2**52, and presence is unchanged.
    """
    fp_fn = den2 - 2.0 * tp
    zero = np.zeros_like(tp)
    out = {key: np.asarray(v) for key, v in _pq_formula.pq_groups(tp, fp_fn, zero, iou, isthing).items()}
    out["pq"], out["sq"], out["rq"], _ = _pq_formula.pq_per_class(tp, fp_fn, zero, iou)
    return out
