"""Panoptic quality from per-category counts: the one PQ / SQ / RQ formula.

Everything that reports PQ (the dataset result, its per-class rows, per-image
rows, bootstrap resamples) calls these functions on per-category integer counts
``tp, fp, fn`` and IoU sums ``iou_sum``; every function works on arrays with any
number of leading axes (``(K,)`` for one dataset, ``(N, K)`` for N images,
``(R, K)`` for R resamples).

Formula (panopticapi's)
-----------------------
Per category ``c`` with ``TP_c + FP_c + FN_c > 0``:
``PQ_c = iou_sum_c / (TP_c + FP_c / 2 + FN_c / 2)``,
``SQ_c = iou_sum_c / TP_c`` (0 when ``TP_c = 0``),
``RQ_c = TP_c / (TP_c + FP_c / 2 + FN_c / 2)``; a category with
``TP_c + FP_c + FN_c = 0`` is NaN (panopticapi reports 0.0 there) and left out.
A group (All, Things, Stuff) averages its categories that are not left out;
``N`` counts them; a group with ``N = 0`` is NaN (panopticapi raises
``ZeroDivisionError``).

The sum over categories is taken left to right in category order (a running
sum, as panopticapi's loop does), so the values are bit-identical to that loop.
IoU sums are correctly rounded (:func:`math.fsum`) per category, so they do not
depend on the order in which images or matches were added.

Variants, on the same formula
-----------------------------
* Boundary PQ (Cheng et al., CVPR 2021): the formula on the counts of a matching
  whose pair IoU is ``min(mask IoU, boundary IoU)`` (``pq_groups(..., prefix="B")``:
  ``BPQ BSQ BRQ BN`` and ``_th`` / ``_st``).
* PQ-dagger (Porzi et al., CVPR 2019, :func:`pq_dagger_per_class`): ``PQ_c`` for a
  thing class; for a stuff class ``stuff_iou_sum_c / gt_segments_c``, the mask IoUs of
  every overlapping same-class pair (GT not crowd, no 0.5 threshold, no FP / FN)
  summed and divided by the class's non-crowd GT segments, NaN without GT segment.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["GROUPS", "pq_per_class", "group_means", "pq_groups", "pq_dagger_per_class", "pq_dagger_groups",
           "iou_sums"]

#: (name, isthing filter, metric-key suffix) of the PQ groups.
GROUPS = (("All", None, ""), ("Things", True, "_th"), ("Stuff", False, "_st"))


def pq_per_class(tp, fp, fn, iou_sum) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(PQ, SQ, RQ, present)`` per category, arrays of the input's shape ``(..., K)``.

    ``present`` is ``TP + FP + FN > 0``; PQ, SQ and RQ are NaN where it is False.
    """
    tp = np.asarray(tp, dtype=np.int64)
    fp = np.asarray(fp, dtype=np.int64)
    fn = np.asarray(fn, dtype=np.int64)
    iou = np.asarray(iou_sum, dtype=np.float64)
    present = (tp + fp + fn) > 0
    t = tp.astype(np.float64)
    den = t + 0.5 * fp + 0.5 * fn
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(present, iou / den, np.nan)
        sq = np.where(present, np.where(tp > 0, iou / t, 0.0), np.nan)
        rq = np.where(present, t / den, np.nan)
    return pq, sq, rq, present


def group_means(per_class: dict, members, isthing, *, n_key: str = "N") -> dict:
    """Means of per-class arrays over All / Things / Stuff and how many classes each has.

    Parameters
    ----------
    per_class : dict of str to float array ``(..., K)``
        The values; only the classes in ``members`` are averaged.
    members : bool array ``(..., K)``
        The classes that count (e.g. ``TP + FP + FN > 0``).
    isthing : bool array ``(K,)``
    n_key : str
        Name of the class count.

    Returns
    -------
    dict
        ``key + suffix`` for each key and ``n_key + suffix``, suffixes ``""``,
        ``"_th"``, ``"_st"``: floats and ints for ``(K,)`` input, arrays of the
        leading shape otherwise; a group with no member class is NaN.

    Notes
    -----
    The sum over classes is a running sum in class order (panopticapi's loop).
    """
    isthing = np.asarray(isthing, dtype=bool)
    present = np.asarray(members, dtype=bool)
    scalar = present.ndim == 1
    out: dict = {}
    for _, flag, suffix in GROUPS:
        group = present if flag is None else present & (isthing == flag)
        n = group.sum(axis=-1)
        for key, values in per_class.items():
            total = _running_sum(np.where(group, values, 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
            out[key + suffix] = float(mean) if scalar else mean
        out[n_key + suffix] = int(n) if scalar else n
    return out


def pq_groups(tp, fp, fn, iou_sum, isthing, *, prefix: str = "") -> dict:
    """PQ, SQ, RQ and N of All / Things / Stuff.

    Parameters
    ----------
    tp, fp, fn : integer arrays ``(..., K)``
    iou_sum : float array ``(..., K)``
    isthing : bool array ``(K,)``
    prefix : str
        Put before every key (``"B"``: Boundary PQ's ``BPQ BSQ BRQ BN``).

    Returns
    -------
    dict
        ``PQ SQ RQ N``, ``PQ_th SQ_th RQ_th N_th``, ``PQ_st SQ_st RQ_st N_st``:
        floats and ints for ``(K,)`` input, arrays of the leading shape otherwise.
    """
    pq, sq, rq, present = pq_per_class(tp, fp, fn, iou_sum)
    return group_means({prefix + "PQ": pq, prefix + "SQ": sq, prefix + "RQ": rq}, present, isthing,
                       n_key=prefix + "N")


def pq_dagger_per_class(tp, fp, fn, iou_sum, stuff_iou_sum, gt_segments, isthing) -> np.ndarray:
    """PQ-dagger per class ``(..., K)``: ``PQ_c`` for things, ``stuff_iou_sum_c /
    gt_segments_c`` for stuff (NaN where undefined: a thing with ``TP + FP + FN = 0``, a
    stuff class without GT segment, even if predicted, as torchmetrics'
    ``ModifiedPanopticQuality`` leaves it out)."""
    pq = pq_per_class(tp, fp, fn, iou_sum)[0]
    n_gt = np.asarray(gt_segments, dtype=np.int64)
    s = np.asarray(stuff_iou_sum, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stuff = np.where(n_gt > 0, s / np.maximum(n_gt, 1), np.nan)
    return np.where(np.asarray(isthing, dtype=bool), pq, stuff)


def pq_dagger_groups(tp, fp, fn, iou_sum, stuff_iou_sum, gt_segments, isthing) -> dict:
    """``PQ_dagger`` and ``N_dagger`` of All / Things / Stuff (suffixes ``_th``, ``_st``):
    means of :func:`pq_dagger_per_class` over its defined classes.  ``PQ_dagger_th``
    equals ``PQ_th``."""
    per_class = pq_dagger_per_class(tp, fp, fn, iou_sum, stuff_iou_sum, gt_segments, isthing)
    return group_means({"PQ_dagger": per_class}, ~np.isnan(per_class), isthing, n_key="N_dagger")


def _running_sum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis, left to right (``((x0 + x1) + x2) + ...``, the bits of
    ``np.cumsum(x, axis=-1)[..., -1]``), as one vector addition per category over the
    leading axes (a cumulative sum along the last axis of an ``(R, K)`` block is
    several times slower)."""
    if x.ndim == 1:
        return np.cumsum(x)[-1]
    columns = np.moveaxis(x, -1, 0)
    total = columns[0].copy()
    for column in columns[1:]:
        total += column
    return total


def _fsum_groups(keys: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``out[j] = fsum(values[keys == j])`` for ``j < size`` (0.0 where none)."""
    out = np.zeros(size, dtype=np.float64)
    if keys.size == 0:
        return out
    order = np.argsort(keys, kind="stable")
    k_sorted = keys[order]
    v_sorted = values[order]
    bounds = np.flatnonzero(np.diff(k_sorted)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [k_sorted.size]])
    lengths = ends - starts
    # one or two values: the float sum is already correctly rounded
    single = lengths == 1
    out[k_sorted[starts[single]]] = v_sorted[starts[single]]
    pair = lengths == 2
    out[k_sorted[starts[pair]]] = v_sorted[starts[pair]] + v_sorted[starts[pair] + 1]
    for s, e in zip(starts[lengths > 2].tolist(), ends[lengths > 2].tolist()):
        out[k_sorted[s]] = math.fsum(v_sorted[s:e].tolist())
    return out


def iou_sums(match_cat, match_iou, k: int, *, match_image=None, num_images: int | None = None) -> np.ndarray:
    """Correctly rounded sums of match IoUs per category, or per image and category.

    Parameters
    ----------
    match_cat : (M,) int array
        Dense category of each match.
    match_iou : (M,) float64 array
    k : int
        Number of categories.
    match_image, num_images : optional
        With the image row of each match: a ``(num_images, k)`` array.

    Returns
    -------
    ndarray
        ``(k,)`` or ``(num_images, k)`` float64; each entry is
        :func:`math.fsum` of its IoUs, so it does not depend on their order.
    """
    cat = np.asarray(match_cat, dtype=np.int64)
    iou = np.asarray(match_iou, dtype=np.float64)
    if match_image is None:
        return _fsum_groups(cat, iou, k)
    n = int(num_images)
    flat = np.asarray(match_image, dtype=np.int64) * k + cat
    return _fsum_groups(flat, iou, n * k).reshape(n, k)
