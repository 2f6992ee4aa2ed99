"""Per-image scores (every image at once) and the worst images."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .counts import PanopticCounts, _Counts

__all__ = ["per_image_scores", "worst"]


def per_image_scores(counts: _Counts) -> dict:
    """Scores of each image on its own, vectorised over images.

    Parameters
    ----------
    counts : SemanticCounts or PanopticCounts

    Returns
    -------
    dict of str to ndarray
        Semantic: ``aAcc mAcc mIoU fwIoU mDice`` ``(N,)`` and ``IoU Acc Dice
        Precision Recall`` ``(N, K)``.  Panoptic: ``PQ SQ RQ`` for All /
        ``_th`` / ``_st`` ``(N,)``, ``N N_th N_st`` (categories present),
        ``pq sq rq`` ``(N, K)``, and ``TP FP FN`` (segments summed over
        categories, int64 ``(N,)``).  Counts with boundary rows add
        ``mBIoU mMinIoU`` / ``BIoU MinIoU`` (semantic) or ``BPQ BSQ BRQ`` (and
        ``_th``, ``_st``, ``BN``) / ``bpq bsq brq`` (panoptic).

    Notes
    -----
    Each image is scored by the dataset formulas applied to its own counts
    (:func:`semantic_from_counts`, :func:`pq_from_counts`): semantic mIoU is
    the mean IoU over the classes present in the image's GT or prediction
    (GT only with ``absent_rule="detectron2"``); aAcc is NaN for an image
    without a scored pixel; panoptic PQ / SQ / RQ average over the categories
    with ``TP + FP + FN > 0`` in the image and are NaN when it has none.
    These are per-image diagnostics: the dataset metric is never their mean.
    """
    if not isinstance(counts, _Counts):
        raise InputError(f"expected SemanticCounts or PanopticCounts, got {type(counts).__name__}")
    out = counts.evaluate(counts.int_block().astype(np.float64), counts.float_block())
    if isinstance(counts, PanopticCounts):
        out["TP"] = counts.tp.sum(axis=1)
        out["FP"] = counts.fp.sum(axis=1)
        out["FN"] = counts.fn.sum(axis=1)
    return out


def worst(scores: dict, k: int, key: str) -> np.ndarray:
    """Indices of the ``k`` images with the lowest ``scores[key]``, lowest first.

    Parameters
    ----------
    scores : dict
        As returned by :func:`per_image_scores`.
    k : int
        How many images (fewer when there are fewer images).
    key : str
        A per-image headline score, e.g. ``"mIoU"`` or ``"PQ"``.

    Returns
    -------
    ndarray of int64
        Row indices into the image order.

    Notes
    -----
    Ties keep image order (a stable sort).  Images whose score is NaN
    (nothing to score in them) come last: they are listed only when fewer
    than ``k`` images have a score, since an image with nothing to score is
    not evidence of a bad prediction.
    """
    if key not in scores:
        raise InputError(f"unknown per-image score {key!r}; available: {', '.join(scores)}")
    values = np.asarray(scores[key], dtype=np.float64)
    if values.ndim != 1:
        raise InputError(f"{key!r} is a per-class score; pick a per-image one (shape (N,))")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise InputError(f"k must be a non-negative integer, got {k!r}")
    return np.argsort(values, kind="stable")[:k].astype(np.int64)
