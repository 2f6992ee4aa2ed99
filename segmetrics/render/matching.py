"""Which GT and which predicted segments of one panoptic image are matched: the one seam.

The gallery marks false-negative GT segments and false-positive predicted
segments.  The answer comes from the package's per-image panoptic scoring
(:func:`segmetrics.panoptic.evaluate_image`): the compiled rule set
(``sm_pq.h``) leaves each segment's outcome behind when it scores the image,
so the statuses are what the metric counted, by construction.  No matching
rule is written here.
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
                    categories: Sequence[dict], *, image_id: Any = None,
                    recompute_gt_areas: bool = False) -> SegmentMatches:
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
    recompute_gt_areas : bool
        As the run was scored (GT areas from the PNG instead of the JSON).

    Returns
    -------
    SegmentMatches

    Notes
    -----
    One call of :func:`~segmetrics.panoptic.evaluate_image`; its
    ``gt_outcome`` / ``pred_outcome`` are the decisions of panopticapi's rules
    as the metric applied them (``segmetrics._engine.image.OUTCOMES``).  Per
    category, matched predicted segments = matched GT segments = TP, ``"fp"``
    = FP and ``"fn"`` = FN, for any number of segments.
    """
    from .._engine.image import OUTCOMES
    from ..panoptic import evaluate_image

    st = evaluate_image(gt_ids, gt_segments, pred_ids, pred_segments, categories, image_id=image_id,
                        recompute_gt_areas=recompute_gt_areas)

    def statuses(segments, ids, outcome, side):
        by_id = dict(zip(ids.tolist(), outcome.tolist()))
        names = OUTCOMES[side]
        seg_ids = tuple(int(s["id"]) for s in segments)
        return seg_ids, tuple(names[by_id[i]] for i in seg_ids)

    g_ids, g_status = statuses(gt_segments, np.asarray(st.gt_ids), np.asarray(st.gt_outcome), "gt")
    p_ids, p_status = statuses(pred_segments, np.asarray(st.pred_ids), np.asarray(st.pred_outcome), "pred")
    return SegmentMatches(g_ids, g_status, p_ids, p_status)
