"""Statistics on per-image counts: per-image scores, bootstrap intervals, paired tests, slices.

Everything here works on plain arrays of per-image integer counts (rows in
image order, as the run-state file stores them), wrapped once in a counts
object::

    from segmetrics import stats
    base = stats.SemanticCounts(tp, fp, fn, absent_rule="mmseg")          # (N, K) each
    new = stats.SemanticCounts(tp2, fp2, fn2)
    iv = stats.bootstrap(base, resamples=1000, seed=0)                     # iv.low["mIoU"], iv.high["mIoU"]
    cmp = stats.compare(base, new)                                         # cmp.delta, cmp.low, cmp.p_value
    stats.significant_drops(cmp, alpha=0.05, metrics=["mIoU"])             # [] or ["mIoU"]

The statistic of every resample is computed exactly as the real metric: the
integer counts of the resampled images are summed (one matrix product for all
resamples, exact), and the metric is computed from the sums.  Counts built with
per-image boundary counts (``boundary=...``, or ``result.counts()`` of a
``boundary=True`` run) score the boundary metrics the same way.  See
``docs/statistics.md`` for the formulas, the random procedures and the limits.
"""
from __future__ import annotations

from ._formulas import (
    PANOPTIC_BOUNDARY_HEADLINE,
    PANOPTIC_BOUNDARY_PER_CLASS,
    PANOPTIC_HEADLINE,
    PANOPTIC_PER_CLASS,
    SEMANTIC_BOUNDARY_HEADLINE,
    SEMANTIC_BOUNDARY_PER_CLASS,
    SEMANTIC_HEADLINE,
    SEMANTIC_PER_CLASS,
    pq_from_counts,
    semantic_from_counts,
)
from .counts import PanopticCounts, SemanticCounts
from .paired import (
    CORRECTIONS,
    Comparison,
    benjamini_hochberg,
    compare,
    holm,
    moved_classes,
    significant_drops,
)
from .resample import METHODS, Intervals, bootstrap, bootstrap_indices, replicate_sums
from .scores import per_image_scores, worst
from .slices import UNASSIGNED, Manifest, Slice, read_manifest, slice_metrics

__all__ = [
    "SEMANTIC_HEADLINE",
    "SEMANTIC_PER_CLASS",
    "PANOPTIC_HEADLINE",
    "PANOPTIC_PER_CLASS",
    "SEMANTIC_BOUNDARY_HEADLINE",
    "SEMANTIC_BOUNDARY_PER_CLASS",
    "PANOPTIC_BOUNDARY_HEADLINE",
    "PANOPTIC_BOUNDARY_PER_CLASS",
    "METHODS",
    "CORRECTIONS",
    "UNASSIGNED",
    "semantic_from_counts",
    "pq_from_counts",
    "SemanticCounts",
    "PanopticCounts",
    "per_image_scores",
    "worst",
    "bootstrap",
    "bootstrap_indices",
    "replicate_sums",
    "Intervals",
    "compare",
    "Comparison",
    "holm",
    "benjamini_hochberg",
    "significant_drops",
    "moved_classes",
    "Manifest",
    "Slice",
    "read_manifest",
    "slice_metrics",
]
