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
    "semantic_from_counts",
    "image_scores",
    "nanmean",
    "boundary_iou",
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


def nanmean(x) -> float:
    """Mean of the non-NaN entries (NaN when there is none)."""
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
    return nanmean(class_accuracy(cm))


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
    return nanmean(class_iou(cm, absent_rule=absent_rule))


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
    return nanmean(class_dice(cm, absent_rule=absent_rule))


def class_precision(cm) -> np.ndarray:
    """Per-class precision ``TP / (TP + FP)``; NaN for classes never predicted."""
    tp, _, pred = _parts(cm)
    return _div(tp, pred)


def summarize(cm, *, void=None, absent_rule: str = "mmseg") -> dict:
    """All headline metrics and per-class arrays of a confusion matrix.

    Parameters
    ----------
    cm : (K, K) array
        Confusion matrix, rows = GT.
    void : (K,) array, optional
        GT pixels of each class predicted as "void": images without prediction
        (``allow_missing``) and predictions equal to the ignore index
        (``void_predictions="miss"``).
    absent_rule : {"mmseg", "detectron2"}

    Returns
    -------
    dict
        ``aAcc, mAcc, mIoU, fwIoU, mDice`` (floats) and ``IoU, Acc, Dice,
        Precision, Recall, gt_pixels, pred_pixels`` (arrays of length K).

    Notes
    -----
    The void pixels are a (K+1)-th prediction column that no class owns: they
    raise ``GT_c`` (false negatives of class c) and no class's prediction count
    (no false positive anywhere).  Per-class arrays are those of the first K
    classes of the extended matrix and the means are taken over them only;
    ``aAcc`` and ``fwIoU`` count the void pixels as scored and wrong.
    """
    cm = check_confusion(cm)
    if void is None or not np.any(void):
        return _summarize(cm, absent_rule)
    k = cm.shape[0]
    ext = np.zeros((k + 1, k + 1), dtype=np.int64)
    ext[:k, :k] = cm
    ext[:k, k] = np.asarray(void, dtype=np.int64)
    full = _summarize(ext, absent_rule)
    out = {key: (val[:k] if isinstance(val, np.ndarray) else val) for key, val in full.items()}
    out["mAcc"] = nanmean(out["Acc"])
    out["mIoU"] = nanmean(out["IoU"])
    out["mDice"] = nanmean(out["Dice"])
    return out


def _summarize(cm, absent_rule: str) -> dict:
    iou = class_iou(cm, absent_rule=absent_rule)
    dice = class_dice(cm, absent_rule=absent_rule)
    acc = class_accuracy(cm)
    return {
        "aAcc": pixel_accuracy(cm),
        "mAcc": nanmean(acc),
        "mIoU": nanmean(iou),
        "fwIoU": fw_iou(cm),
        "mDice": nanmean(dice),
        "IoU": iou,
        "Acc": acc,
        "Dice": dice,
        "Precision": class_precision(cm),
        "Recall": acc,
        "gt_pixels": cm.sum(axis=1).astype(np.int64),
        "pred_pixels": cm.sum(axis=0).astype(np.int64),
    }


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

    The one vectorised form of the semantic rules: per-image scores
    (:func:`image_scores`), bootstrap resamples and slices
    (:mod:`segmetrics.stats`) all call it.

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
    rules of :func:`summarize`; per-class values are bit-identical to it, means
    agree to rounding (they sum in another order).  Applied to one image's
    counts this gives the per-image scores: mIoU over the classes present in
    that image's GT or prediction (GT only with ``"detectron2"``).
    """
    _check_rule(absent_rule)
    tp = _as_counts("tp", tp)
    fp = _as_counts("fp", fp)
    fn = _as_counts("fn", fn)
    _same_shapes(tp=tp, fp=fp, fn=fn)
    return _from_counts(tp, fp, fn, absent_rule)


def _from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, absent_rule: str) -> dict:
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


def image_scores(tp, fp, fn, *, absent_rule: str = "mmseg") -> dict:
    """Per-image scores from per-image, per-class TP / FP / FN counts.

    Parameters
    ----------
    tp, fp, fn : (N, K) integer arrays
        One row per image (FN includes void pixels).
    absent_rule : {"mmseg", "detectron2"}

    Returns
    -------
    dict
        ``pixels`` (scored GT pixels, int64), ``aAcc``, ``mIoU`` (float64, NaN
        when undefined) and ``classes`` (classes present in the GT, int64), each
        ``(N,)``; ``IoU`` ``(N, K)`` (NaN for a class absent from the image).

    Notes
    -----
    :func:`semantic_from_counts` on each row: ``pixels = sum_c (TP_c + FN_c)``;
    ``aAcc = sum TP / pixels``; ``mIoU`` is the mean of
    ``TP_c / (TP_c + FP_c + FN_c)`` over the classes present in the image's GT
    or prediction (``"mmseg"``) or in its GT only (``"detectron2"``).
    """
    s = semantic_from_counts(np.atleast_2d(tp), np.atleast_2d(fp), np.atleast_2d(fn), absent_rule=absent_rule)
    gt = np.atleast_2d(np.asarray(tp, dtype=np.int64)) + np.atleast_2d(np.asarray(fn, dtype=np.int64))
    return {"pixels": gt.sum(axis=1), "aAcc": s["aAcc"], "mIoU": s["mIoU"],
            "classes": (gt > 0).sum(axis=1).astype(np.int64), "IoU": s["IoU"]}


def _nanmean_last(x: np.ndarray):
    """Mean over the last axis of the non-NaN entries (NaN where there is none)."""
    valid = ~np.isnan(x)
    n = valid.sum(axis=-1)
    total = np.where(valid, x, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return float(out) if out.ndim == 0 else out


def boundary_iou(intersection, gt_band, pred_band, *, mask_iou=None, absent_rule: str = "mmseg") -> dict:
    """Semantic Boundary IoU of summed band counts (vectorised over leading axes).

    Parameters
    ----------
    intersection, gt_band, pred_band : int arrays ``(..., K)``
        ``sum |G_d & P_d|``, ``sum |G_d|``, ``sum |P_d|`` per class (GT-ignored
        pixels removed from both bands); a leading axis holds images or resamples.
    mask_iou : float array ``(..., K)``, optional
        The mask IoU per class of the same pixels; adds ``MinIoU`` and ``mMinIoU``.
    absent_rule : {"mmseg", "detectron2"}

    Returns
    -------
    dict
        ``BIoU`` (..., K), ``mBIoU`` (...), and with ``mask_iou`` ``MinIoU`` (..., K)
        and ``mMinIoU`` (...); scalars as float.

    Notes
    -----
    ``BIoU_c = I_c / (G_c + P_c - I_c)``, NaN when the union is 0 (the class has no
    band pixel on either side).  A class predicted but absent from the ground truth
    scores 0 (``"mmseg"``); ``"detectron2"`` leaves out (NaN) the classes without GT
    band pixels, as for mask IoU.  ``MinIoU_c = fmin(IoU_c, BIoU_c)``: the smaller of
    the two, or the defined one when the other is NaN.  Means are over the non-NaN
    classes; NaN when there is none.
    """
    _check_rule(absent_rule)
    inter = np.asarray(intersection, dtype=np.int64)
    g = np.asarray(gt_band, dtype=np.int64)
    p = np.asarray(pred_band, dtype=np.int64)
    if inter.shape != g.shape or inter.shape != p.shape or inter.ndim == 0:
        raise InputError(f"intersection, gt_band and pred_band need one shape (..., K), got "
                         f"{inter.shape}, {g.shape}, {p.shape}")
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
