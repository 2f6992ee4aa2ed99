"""Functional semantic-segmentation metrics computed from a confusion matrix.

All functions take a square ``(K, K)`` integer confusion matrix whose rows are
ground truth and columns are prediction, as produced by
:func:`segmetrics.confusion_matrix`.  They return float64 values as fractions in
``[0, 1]``.

Edge-case rules (they change the numbers; the README repeats them)
------------------------------------------------------------------
* A class absent from both ground truth and prediction has no defined score:
  its per-class value is NaN and it is left out of every mean.
* A class that is predicted but absent from the ground truth scores IoU 0 and
  Dice 0 and counts in mIoU / mDice (``absent_rule="mmseg"``, the default, as
  mmsegmentation and hotcoco do).  With ``absent_rule="detectron2"`` such a class
  is NaN and left out, as detectron2's ``SemSegEvaluator`` does.
* Per-class accuracy (recall) is NaN for classes without ground-truth pixels;
  precision is NaN for classes never predicted.
* An empty matrix (no scored pixel) gives NaN everywhere.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = [
    "ABSENT_RULES",
    "check_confusion",
    "pixel_accuracy",
    "class_accuracy",
    "mean_accuracy",
    "class_iou",
    "mean_iou",
    "fw_iou",
    "class_dice",
    "mean_dice",
    "class_precision",
    "class_recall",
    "summarize",
]

ABSENT_RULES = ("mmseg", "detectron2")


def check_confusion(cm) -> np.ndarray:
    """Validate a confusion matrix and return it as a C-contiguous int64/float64 array."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise InputError(f"confusion matrix must be square (K, K) with K >= 1, got shape {cm.shape}")
    if cm.dtype.kind not in "iuf":
        raise InputError(f"confusion matrix must be numeric, got dtype {cm.dtype}")
    if cm.dtype.kind == "f" and not np.all(np.isfinite(cm)):
        raise InputError("confusion matrix contains NaN or infinite entries")
    if np.any(cm < 0):
        raise InputError("confusion matrix contains negative counts")
    return cm


def _check_rule(absent_rule: str) -> None:
    if absent_rule not in ABSENT_RULES:
        raise InputError(f"absent_rule must be one of {ABSENT_RULES}, got {absent_rule!r}")


def _parts(cm):
    cm = check_confusion(cm).astype(np.float64)
    tp = np.diag(cm).copy()
    gt = cm.sum(axis=1)
    pred = cm.sum(axis=0)
    return tp, gt, pred


def _div(num, den):
    out = np.full(np.shape(num), np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    valid = ~np.isnan(x)
    if not valid.any():
        return float("nan")
    return float(x[valid].sum() / valid.sum())


def pixel_accuracy(cm) -> float:
    """Overall pixel accuracy (aAcc): ``sum_c TP_c / sum_c GT_c``; NaN when no pixel is scored."""
    tp, gt, _ = _parts(cm)
    total = gt.sum()
    return float(tp.sum() / total) if total > 0 else float("nan")


def class_accuracy(cm) -> np.ndarray:
    """Per-class accuracy ``TP_c / GT_c`` (recall); NaN where ``GT_c = 0``."""
    tp, gt, _ = _parts(cm)
    return _div(tp, gt)


class_recall = class_accuracy


def mean_accuracy(cm) -> float:
    """mAcc: mean of :func:`class_accuracy` over classes with ground truth."""
    return _nanmean(class_accuracy(cm))


def _apply_rule(values, gt, absent_rule):
    _check_rule(absent_rule)
    if absent_rule == "detectron2":
        values = values.copy()
        values[gt == 0] = np.nan
    return values


def class_iou(cm, *, absent_rule: str = "mmseg") -> np.ndarray:
    """Per-class IoU ``TP / (TP + FP + FN)``.

    NaN where the class is absent from both sides; for classes predicted but
    absent from the ground truth, 0 (``"mmseg"``) or NaN (``"detectron2"``).
    """
    tp, gt, pred = _parts(cm)
    return _apply_rule(_div(tp, gt + pred - tp), gt, absent_rule)


def mean_iou(cm, *, absent_rule: str = "mmseg") -> float:
    """mIoU: mean of :func:`class_iou` over the classes it does not leave out (NaN)."""
    return _nanmean(class_iou(cm, absent_rule=absent_rule))


def fw_iou(cm) -> float:
    """Frequency-weighted IoU: ``sum_c (GT_c / sum GT) IoU_c`` over classes with ``GT_c > 0``."""
    tp, gt, pred = _parts(cm)
    total = gt.sum()
    if total <= 0:
        return float("nan")
    valid = gt > 0
    iou = tp[valid] / (gt[valid] + pred[valid] - tp[valid])
    return float(np.sum(gt[valid] / total * iou))


def class_dice(cm, *, absent_rule: str = "mmseg") -> np.ndarray:
    """Per-class Dice / F1 ``2 TP / (2 TP + FP + FN)``, with the same NaN rules as IoU."""
    tp, gt, pred = _parts(cm)
    return _apply_rule(_div(2.0 * tp, gt + pred), gt, absent_rule)


def mean_dice(cm, *, absent_rule: str = "mmseg") -> float:
    """mDice: mean of :func:`class_dice` over the classes it does not leave out."""
    return _nanmean(class_dice(cm, absent_rule=absent_rule))


def class_precision(cm) -> np.ndarray:
    """Per-class precision ``TP / (TP + FP)``; NaN for classes never predicted."""
    tp, _, pred = _parts(cm)
    return _div(tp, pred)


def summarize(cm, *, absent_rule: str = "mmseg") -> dict:
    """All headline metrics and per-class arrays of a confusion matrix.

    Returns
    -------
    dict
        ``aAcc, mAcc, mIoU, fwIoU, mDice`` (floats) and ``IoU, Acc, Dice,
        Precision, Recall, gt_pixels, pred_pixels`` (arrays of length K).
    """
    cm = check_confusion(cm)
    iou = class_iou(cm, absent_rule=absent_rule)
    dice = class_dice(cm, absent_rule=absent_rule)
    acc = class_accuracy(cm)
    return {
        "aAcc": pixel_accuracy(cm),
        "mAcc": _nanmean(acc),
        "mIoU": _nanmean(iou),
        "fwIoU": fw_iou(cm),
        "mDice": _nanmean(dice),
        "IoU": iou,
        "Acc": acc,
        "Dice": dice,
        "Precision": class_precision(cm),
        "Recall": acc,
        "gt_pixels": cm.sum(axis=1).astype(np.int64),
        "pred_pixels": cm.sum(axis=0).astype(np.int64),
    }
