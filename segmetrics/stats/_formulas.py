"""Semantic and panoptic metrics from summed counts, vectorised over leading axes.

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
from ..metrics import _check_rule, _div

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


def _as_counts(name: str, x) -> np.ndarray:
    """Non-negative finite counts of shape (..., K) as float64."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise InputError(f"{name} must hold numeric counts, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise InputError(f"{name} must have a class axis (..., K), got a scalar")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"{name} holds NaN or infinite values")
    if arr.size and arr.min() < 0:
        raise InputError(f"{name} holds negative counts")
    return arr.astype(np.float64)


def _same_shapes(**arrays) -> None:
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise InputError("count arrays must have the same shape, got "
                         + ", ".join(f"{k} {s}" for k, s in shapes.items()))


def _masked_mean(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the entries where ``keep``; NaN where none is kept."""
    n = keep.sum(axis=-1)
    total = np.where(keep, values, 0.0).sum(axis=-1)
    return _div(total, n)


def semantic_from_counts(tp, fp, fn, *, absent_rule: str = "mmseg") -> dict:
    """Semantic metrics of summed per-class counts, for every leading index at once.

    Parameters
    ----------
    tp, fp, fn : array_like, shape (..., K)
        True positives, false positives and false negatives per class
        (non-negative; int64, or float64 holding integers exactly).  With a
        confusion matrix ``C`` (rows = ground truth): ``tp = diag(C)``,
        ``fp = C.sum(0) - tp``, ``fn = C.sum(1) - tp``.
    absent_rule : {"mmseg", "detectron2"}
        How a class predicted but absent from the ground truth is scored.

    Returns
    -------
    dict of str to ndarray
        ``aAcc, mAcc, mIoU, fwIoU, mDice`` of shape ``(...)`` and
        ``IoU, Acc, Dice, Precision, Recall`` of shape ``(..., K)`` (float64).

    Notes
    -----
    With ``GT_c = tp_c + fn_c`` and ``P_c = tp_c + fp_c``:
    ``IoU_c = tp_c / (GT_c + P_c - tp_c)``, ``Acc_c = Recall_c = tp_c / GT_c``,
    ``Dice_c = 2 tp_c / (GT_c + P_c)``, ``Precision_c = tp_c / P_c``,
    ``aAcc = sum tp / sum GT``, ``fwIoU = sum_{GT_c > 0} (GT_c / sum GT) IoU_c``;
    ``mAcc``, ``mIoU``, ``mDice`` are means over the classes whose value is
    not NaN.  A division by zero is NaN (a class absent from both sides, a
    class never predicted for precision, no scored pixel for aAcc and fwIoU).
    ``absent_rule="detectron2"`` also makes IoU and Dice NaN where ``GT_c = 0``
    (left out of the means); ``"mmseg"`` scores such a class 0.  These are the
    rules of :func:`segmetrics.metrics.summarize`; per-class values are
    bit-identical to it, means agree to rounding (they sum in another order).
    Applied to one image's counts this gives the per-image scores: mIoU over
    the classes present in that image's GT or prediction (GT only with
    ``"detectron2"``).
    """
    _check_rule(absent_rule)
    tp = _as_counts("tp", tp)
    fp = _as_counts("fp", fp)
    fn = _as_counts("fn", fn)
    _same_shapes(tp=tp, fp=fp, fn=fn)
    return _semantic(tp, fp, fn, absent_rule)


def _semantic(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, absent_rule: str) -> dict:
    """:func:`semantic_from_counts` on checked float64 arrays."""
    gt = tp + fn
    pred = tp + fp
    iou = _div(tp, gt + pred - tp)
    dice = _div(2.0 * tp, gt + pred)
    acc = _div(tp, gt)
    total = gt.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = np.where(gt > 0, gt / total[..., None] * iou, 0.0)
    fw = np.where(total > 0, weighted.sum(axis=-1), np.nan)
    if absent_rule == "detectron2":
        absent = gt == 0
        iou = np.where(absent, np.nan, iou)
        dice = np.where(absent, np.nan, dice)
    return {
        "aAcc": _div(tp.sum(axis=-1), total),
        "mAcc": _masked_mean(acc, ~np.isnan(acc)),
        "mIoU": _masked_mean(iou, ~np.isnan(iou)),
        "fwIoU": fw,
        "mDice": _masked_mean(dice, ~np.isnan(dice)),
        "IoU": iou,
        "Acc": acc,
        "Dice": dice,
        "Precision": _div(tp, pred),
        "Recall": acc,
    }


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
