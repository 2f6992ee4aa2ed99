"""Pictures of evaluation results: a self-contained HTML report, matplotlib figures, overlays.

The rendering layer takes plain data (:class:`ReportData`: the JSON report dict
of ``segmetrics eval --json`` plus optional extras) and never computes a metric.

* :func:`render_html` / :func:`render_compare_html`: one offline HTML file;
* :mod:`segmetrics.render.plots`: matplotlib figures (``pip install segmetrics[plot]``);
* :mod:`segmetrics.render.overlays`: error maps, outlines and colours as NumPy functions;
* :mod:`segmetrics.render.palettes`: the class palettes and colour scales.

See ``docs/report.md``.
"""
from __future__ import annotations

from .data import GalleryImage, ReportData
from .html import compare_html, render_compare_html, render_html, report_html

__all__ = ["ReportData", "GalleryImage", "render_html", "report_html", "render_compare_html", "compare_html",
           "save_plots"]


def save_plots(data, out_dir, **kwargs):
    """Write every figure as PNG and SVG (see :func:`segmetrics.render.plots.save_plots`; needs matplotlib)."""
    from .plots import save_plots as _save

    return _save(data, out_dir, **kwargs)
