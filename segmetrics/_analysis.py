"""What both result classes can do beyond their numbers: statistics and pictures.

:class:`ResultAnalysis` is a mixin of :class:`~segmetrics.semantic.SemanticResult`
and :class:`~segmetrics.panoptic.PanopticResult`.  Every method is a thin call
into :mod:`segmetrics.stats.results` (per-image scores, bootstrap intervals,
the worst images, slices) or :mod:`segmetrics.render` (matplotlib figures);
both load on first use, so ``import segmetrics`` stays light.  The statistics
need the per-image counts a run keeps with ``per_image=True`` (and that every
run-state file holds).
"""
from __future__ import annotations

from typing import Optional, Sequence

__all__ = ["ResultAnalysis"]


class ResultAnalysis:
    """Statistics and figures of a result (mixin; see the module docstring)."""

    # ---- statistics
    def counts(self):
        """The per-image counts as :class:`segmetrics.stats.SemanticCounts` /
        :class:`~segmetrics.stats.PanopticCounts` (rows in image-id order, ``.image_ids``)."""
        from .stats.results import counts_of

        return counts_of(self)

    def per_image_scores(self) -> dict:
        """Each image scored on its own (:func:`segmetrics.stats.per_image_scores`), rows in
        the order of ``state.image_ids``."""
        from .stats import per_image_scores

        return per_image_scores(self.counts())

    def worst(self, k: int = 10, key: Optional[str] = None) -> list:
        """The per-image rows of the ``k`` images with the lowest ``key`` (default ``mIoU`` /
        ``PQ``), lowest first; images with nothing to score come last."""
        from .stats.results import worst_rows

        return worst_rows(self, k, key)

    def intervals(self, *, level: float = 0.95, resamples: int = 1000, seed: int = 0,
                  method: str = "percentile"):
        """Image-level bootstrap intervals of every headline metric and per-class value
        (:func:`segmetrics.stats.bootstrap`; ``method`` ``"percentile"`` or ``"bca"``).

        Pass the returned :class:`~segmetrics.stats.Intervals` to :meth:`to_report` to
        write them into the report (``intervals``; slices get intervals too).
        """
        from .stats.results import intervals_of

        return intervals_of(self, level=level, resamples=resamples, seed=seed, method=method)

    def with_slices(self, manifest, *, attributes: Optional[Sequence[str]] = None):
        """This result with a slice manifest (a CSV path: ``image_id`` plus attribute columns,
        see :func:`segmetrics.stats.read_manifest`); its report then holds ``slices`` and
        its state file keeps the manifest."""
        from .stats.results import attach_manifest

        return attach_manifest(self, manifest, attributes=attributes)

    def slice_metrics(self, *, ci: bool = False, level: float = 0.95, resamples: int = 1000, seed: int = 0,
                      method: str = "percentile") -> list:
        """Metrics per (attribute, value) of the manifest (:func:`segmetrics.stats.slice_metrics`)."""
        from .stats.results import slices_of

        iv = self.intervals(level=level, resamples=resamples, seed=seed, method=method) if ci else None
        return slices_of(self, intervals=iv)

    def _report_extras(self, report: dict, intervals, worst) -> dict:
        if intervals is None and not worst and getattr(self, "manifest", None) is None:
            return report
        from .stats.results import report_extras

        return report_extras(self, report, intervals=intervals, worst=worst)

    # ---- pictures ([plot] extra for the figures)
    def report_data(self, *, intervals=None, worst: Optional[int] = None, **extras):
        """The :class:`segmetrics.render.ReportData` of this result (report, confusion matrix,
        per-image rows, intervals, slices); ``extras`` are further ``ReportData`` fields."""
        from .render.data import ReportData

        return ReportData.from_result(self, intervals=intervals, worst=worst, **extras)

    def plot_confusion(self, *, log: bool = False):
        """The row-normalised confusion heatmap as a matplotlib ``Figure``."""
        from .render.plots import plot_confusion

        return plot_confusion(self.report_data(), log=log)

    def plot_per_class(self, metric: Optional[str] = None, *, intervals=None):
        """Per-class bars (IoU / PQ, or ``metric``), with whiskers when ``intervals`` is given."""
        from .render.plots import plot_per_class

        return plot_per_class(self.report_data(intervals=intervals), metric)

    def plot_per_image(self, key: Optional[str] = None):
        """The distribution of the per-image score (``mIoU`` / ``PQ``, or ``key``)."""
        from .render.plots import plot_per_image

        return plot_per_image(self.report_data(), key)

    def save_plots(self, out_dir, *, intervals=None, formats: Sequence[str] = ("png", "svg"), log: bool = False):
        """Write every figure as PNG and SVG into ``out_dir``; returns the paths."""
        from .render.plots import save_plots

        return save_plots(self.report_data(intervals=intervals), out_dir, formats=formats, log=log)
