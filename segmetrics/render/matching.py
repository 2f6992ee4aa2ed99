"""Which GT and which predicted segments of one panoptic image are matched: the one seam.

The gallery marks false-negative GT segments and false-positive predicted
segments.  This module answers "which segments" with the package's own
per-image panoptic scoring (:func:`segmetrics.panoptic.evaluate_image`) and
nothing else: no matching rule is written here.  It is the one function to
rewire when the per-image scoring gains per-segment output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["SegmentMatches", "segment_matches"]


@dataclass(frozen=True)
class SegmentMatches:
    """Status of every segment of one image.

    Attributes
    ----------
    gt_ids, pred_ids : tuple of int
        Segment ids in ``segments_info`` order.
    gt_status : tuple of str
        ``"matched"``, ``"fn"`` (false negative) or ``"not scored"`` (crowd).
    pred_status : tuple of str
        ``"matched"``, ``"fp"`` (false positive) or ``"not scored"`` (unmatched
        but mostly on void or on crowd of its category, so not a false positive).
    """

    gt_ids: tuple
    gt_status: tuple
    pred_ids: tuple
    pred_status: tuple


def segment_matches(gt_ids, gt_segments: Sequence[dict], pred_ids, pred_segments: Sequence[dict],
                    categories: Sequence[dict], *, image_id: Any = None, max_probes: int = 400) -> SegmentMatches:
    """Matched, false-negative and false-positive segments of one image.

    Parameters
    ----------
    gt_ids, pred_ids : ndarray
        ``(H, W)`` segment-id maps or ``(H, W, 3)`` uint8 RGB, as
        :func:`segmetrics.panoptic.evaluate_image` takes them.
    gt_segments, pred_segments : list of dict
        COCO ``segments_info``.
    categories : list of dict
        COCO categories ``{id, name, isthing}``.
    image_id : optional
        Named in error messages.
    max_probes : int
        Most single-segment scoring runs (steps 2 and 3 below) spent on one
        image; each costs one pass over the image.

    Returns
    -------
    SegmentMatches

    Notes
    -----
    Every answer comes from :func:`~segmetrics.panoptic.evaluate_image`:

    1. The whole image once: per-category TP, FP, FN.  A category whose counts
       settle every segment (e.g. ``FP = 0`` and ``TP`` = its number of
       predicted segments) needs nothing more.
    2. Otherwise each predicted segment ``p`` of the category is scored alone
       (the prediction map with every other segment set to void): it is matched
       iff that run has a TP, a false positive iff it has an FP, else not
       scored.  Under panopticapi's rules a predicted segment's fate depends
       only on its own pixels and the GT (its intersections, its area, its
       pixels on void and on crowd), so this is its status in the full image.
    3. The GT segment a matched ``p`` matched is the only GT segment of its
       category that shares a pixel with it, or, when there are several, the
       one whose category change (to a new probe category) takes the TP away
       from the run of step 2.  Crowd GT segments are "not scored"; other GT
       segments are matched or false negatives.

    The statuses add up to the image's counts: per category, matched predicted
    segments = matched GT segments = TP, ``"fp"`` = FP and ``"fn"`` = FN.

    Raises
    ------
    InputError
        When the image needs more than ``max_probes`` runs (thousands of
        segments): no partial answer is given.
    """
    from ..io.coco_panoptic import rgb2id
    from ..panoptic import evaluate_image

    gt = _ids(gt_ids, rgb2id)
    pred = _ids(pred_ids, rgb2id)
    full = evaluate_image(gt, gt_segments, pred, pred_segments, categories, image_id=image_id)
    cat_ids = [int(c["id"]) for c in categories]
    dense = {cid: i for i, cid in enumerate(cat_ids)}
    g_ids = [int(s["id"]) for s in gt_segments]
    g_cat = [dense[int(s["category_id"])] for s in gt_segments]
    g_crowd = [bool(s.get("iscrowd", 0)) for s in gt_segments]
    p_ids = [int(s["id"]) for s in pred_segments]
    p_cat = [dense[int(s["category_id"])] for s in pred_segments]
    tp, fp, fn = full.tp, full.fp, full.fn
    budget = [max_probes]

    def spend(n: int) -> None:
        budget[0] -= n
        if budget[0] < 0:
            from ..errors import InputError

            raise InputError(f"image {image_id!r}: too many segments to mark them one by one "
                             f"({len(p_ids)} predicted, {len(g_ids)} GT; more than {max_probes} scoring runs)")

    pred_status = ["not scored"] * len(p_ids)
    gt_status = ["not scored" if c else "fn" for c in g_crowd]
    matched_pred: list[int] = []  # positions of matched predictions whose GT is not settled by counts
    for c in sorted(set(p_cat) | set(g_cat)):
        preds = [j for j, pc in enumerate(p_cat) if pc == c]
        gts = [j for j, gc in enumerate(g_cat) if gc == c and not g_crowd[j]]
        t, f = int(tp[c]), int(fp[c])
        if t == len(preds) and f == 0:
            verdicts = ["matched"] * len(preds)
        elif f == len(preds) and t == 0:
            verdicts = ["fp"] * len(preds)
        elif t == 0 and f == 0:
            verdicts = ["not scored"] * len(preds)
        else:
            spend(len(preds))
            verdicts = [_alone(evaluate_image, gt, gt_segments, pred, pred_segments[j], categories, image_id)
                        for j in preds]
        for j, v in zip(preds, verdicts):
            pred_status[j] = v
        if t == len(gts):
            for j in gts:
                gt_status[j] = "matched"
        elif t:
            matched_pred += [j for j, v in zip(preds, verdicts) if v == "matched"]
    for j in matched_pred:
        g = _matched_gt(evaluate_image, gt, gt_segments, pred, pred_segments[j], categories, image_id,
                        [k for k, gc in enumerate(g_cat) if gc == p_cat[j]], g_ids, spend)
        gt_status[g] = "matched"
    return SegmentMatches(tuple(g_ids), tuple(gt_status), tuple(p_ids), tuple(pred_status))


def _ids(arr, rgb2id) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 3:
        return rgb2id(a)
    return a.astype(np.uint32, copy=False)


def _only(pred: np.ndarray, segment: dict) -> np.ndarray:
    sid = int(segment["id"])
    return np.where(pred == sid, pred, 0).astype(np.uint32, copy=False)


def _alone(evaluate_image, gt, gt_segments, pred, segment, categories, image_id) -> str:
    st = evaluate_image(gt, gt_segments, _only(pred, segment), [segment], categories, image_id=image_id)
    if st.tp.sum():
        return "matched"
    return "fp" if st.fp.sum() else "not scored"


def _matched_gt(evaluate_image, gt, gt_segments, pred, segment, categories, image_id, same_cat, g_ids,
                spend) -> int:
    """Position (in ``gt_segments``) of the GT segment that the matched ``segment`` matched."""
    alone = _only(pred, segment)
    under = set(np.unique(gt[alone != 0]).tolist())
    candidates = [k for k in same_cat if g_ids[k] in under]
    if len(candidates) == 1:
        return candidates[0]
    probe = max(int(c["id"]) for c in categories) + 1
    src = categories[[int(c["id"]) for c in categories].index(int(segment["category_id"]))]
    cats = list(categories) + [{"id": probe, "name": "__probe__", "isthing": src.get("isthing", 0)}]
    for k in candidates:
        spend(1)
        segs = [dict(s, category_id=probe) if i == k else s for i, s in enumerate(gt_segments)]
        st = evaluate_image(gt, segs, alone, [segment], cats, image_id=image_id)
        if not st.tp.sum():
            return k
    from ..errors import SegmetricsError

    raise SegmetricsError(f"image {image_id!r}: cannot tell which GT segment prediction {segment['id']} matched")
