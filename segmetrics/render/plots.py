"""matplotlib figures of a report (the ``[plot]`` extra): returned to the caller, or saved.

Each function returns a :class:`matplotlib.figure.Figure` built directly (not
through ``pyplot``), so nothing global changes: no backend switch, no
``rcParams`` edit, no figure registered with a window manager, and figures are
freed when the caller drops them.  Saving goes through the Agg (PNG) and SVG
canvases.  What is drawn (order, intervals, names, colours) comes from
:mod:`.data` and :mod:`.palettes`, the same as the HTML report.

matplotlib is imported inside the functions; importing this module costs nothing.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .data import (
    ReportData,
    comparison_view,
    confusion_view,
    headline_metric,
    per_class_metric,
    per_class_series,
)
from .palettes import LOG_FLOOR, OKABE_ITO, SEQUENTIAL_ANCHORS, heat_colors, to_hex

__all__ = ["plot_confusion", "plot_per_class", "plot_per_image", "plot_comparison", "figures", "save_plots"]

_BAR = "#4477aa"


def _mpl():
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised only without the extra
        from ..errors import InputError

        raise InputError("plots need matplotlib: pip install 'segmetrics[plot]'") from None
    return Figure


def _figure(w: float, h: float):
    return _mpl()(figsize=(w, h), layout="constrained")


def _cmap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("segmetrics_seq", np.array(SEQUENTIAL_ANCHORS) / 255.0)


def plot_confusion(data: ReportData, *, log: bool = False, max_labels: int = 40):
    """Row-normalised confusion heatmap (rows GT, columns prediction).

    Parameters
    ----------
    data : ReportData
        Needs ``confusion``.
    log : bool
        Log colour scale from 1e-4 to 1 (small confusions visible).
    max_labels : int
        Class names on the axes up to this many classes; above it, class indices.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Cells with no pixel are white, rows of classes absent from the GT light
    grey, as in the HTML report.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    view = confusion_view(data)
    if view is None:
        from ..errors import InputError

        raise InputError("plot_confusion needs the confusion matrix (ReportData.confusion)")
    k, m = view["fractions"].shape
    size = min(14.0, max(4.0, 0.28 * m + 2.5))
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    ax.imshow(heat_colors(view["fractions"], view["counts"], log=log), interpolation="nearest", aspect="equal")
    norm = LogNorm(vmin=LOG_FLOOR, vmax=1.0) if log else Normalize(vmin=0.0, vmax=1.0)
    fig.colorbar(ScalarMappable(norm=norm, cmap=_cmap()), ax=ax, shrink=0.8,
                 label="fraction of the GT row" + (" (log)" if log else ""))
    if m <= max_labels:
        ax.set_xticks(range(m), view["cols"], rotation=90, fontsize=8)
        ax.set_yticks(range(k), view["rows"], fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    ax.set_title(f"Confusion ({data.task}, row-normalised)")
    return fig


def plot_per_class(data: ReportData, metric: Optional[str] = None):
    """Horizontal bars of a per-class metric, highest first, with interval whiskers when given.

    Classes whose value is undefined are left out (as in the HTML chart).
    """
    metric = metric or per_class_metric(data)
    series = per_class_series(data, metric)
    n = max(len(series), 1)
    fig = _figure(7.5, min(40.0, 1.2 + 0.22 * n))
    ax = fig.add_subplot()
    y = np.arange(len(series))
    vals = np.array([100 * r["value"] for r in series])
    ax.barh(y, vals, color=_BAR, height=0.7)
    lows = [r["low"] for r in series]
    if any(v is not None for v in lows):
        lo = np.array([100 * (r["value"] - r["low"]) if r["low"] is not None else 0.0 for r in series])
        hi = np.array([100 * (r["high"] - r["value"]) if r["high"] is not None else 0.0 for r in series])
        ax.errorbar(vals, y, xerr=np.vstack([np.maximum(lo, 0), np.maximum(hi, 0)]), fmt="none",
                    ecolor="black", elinewidth=1.0, capsize=2.5)
    ax.set_yticks(y, [r["name"] for r in series], fontsize=8 if n > 30 else 9)
    ax.tick_params(axis="y", pad=14)
    for i, r in enumerate(series):
        ax.add_patch(_swatch(ax, i, to_hex(r["color"])))
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{metric} (%)")
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    ax.set_title(f"{metric} per class")
    return fig


def _swatch(ax, i: int, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((-0.024, i - 0.3), 0.016, 0.6, transform=ax.get_yaxis_transform(), clip_on=False,
                     facecolor=color, edgecolor="#333333", linewidth=0.4)


def plot_per_image(data: ReportData, key: Optional[str] = None):
    """Per-image scores: a histogram and the sorted scores (worst on the left)."""
    if not data.per_image:
        from ..errors import InputError

        raise InputError("plot_per_image needs per-image rows (ReportData.per_image)")
    key = key or data.score_key or headline_metric(data)
    vals = np.array([float(r.get(key)) if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
                     else math.nan for r in data.per_image])
    ok = vals[~np.isnan(vals)] * 100
    fig = _figure(9.0, 3.4)
    a1, a2 = fig.subplots(1, 2)
    a1.hist(ok, bins=20, range=(0, 100), color=_BAR, edgecolor="white")
    a1.set_xlabel(f"per-image {key} (%)")
    a1.set_ylabel("images")
    a2.plot(np.arange(1, ok.size + 1), np.sort(ok), color=_BAR, marker="." if ok.size <= 200 else None)
    a2.set_xlabel("images, sorted")
    a2.set_ylabel(f"{key} (%)")
    a2.set_ylim(0, 100)
    undefined = int(np.isnan(vals).sum())
    fig.suptitle(f"Per-image {key} ({ok.size} images" + (f", {undefined} undefined" if undefined else "") + ")")
    return fig


def plot_comparison(data: ReportData):
    """Per-class deltas (new - base, percentage points), largest drop first, with intervals.

    Significant changes are blue (up) or vermillion (down), the rest grey
    (rule: :func:`segmetrics.render.data.comparison_view`).
    """
    view = comparison_view(data)
    rows = sorted((r for r in view["per_class"] if r.get("delta") is not None
                   and r.get("metric") == view["main_metric"]), key=lambda r: r["delta"])
    n = max(len(rows), 1)
    fig = _figure(7.5, min(40.0, 1.4 + 0.22 * n))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    d = np.array([100 * r["delta"] for r in rows])
    colors = [to_hex(OKABE_ITO["blue"] if r["delta"] > 0 else OKABE_ITO["vermillion"]) if r.get("significant")
              else "#999999" for r in rows]
    ax.barh(y, d, color=colors, height=0.7)
    if any(r.get("low") is not None for r in rows):
        lo = np.array([100 * (r["delta"] - r["low"]) if r.get("low") is not None else 0.0 for r in rows])
        hi = np.array([100 * (r["high"] - r["delta"]) if r.get("high") is not None else 0.0 for r in rows])
        ax.errorbar(d, y, xerr=np.vstack([np.maximum(lo, 0), np.maximum(hi, 0)]), fmt="none", ecolor="black",
                    elinewidth=1.0, capsize=2.5)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(y, [str(r.get("name")) for r in rows], fontsize=8 if n > 30 else 9)
    ax.invert_yaxis()
    metric = rows[0].get("metric") if rows else per_class_metric(data)
    ax.set_xlabel(f"change in {metric} (points)")
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    rule = view["per_class_rule"]
    ax.set_title(f"{metric} change per class" + (f" (significant: {rule})" if rule else ""),
                 fontsize=10)
    return fig


def figures(data: ReportData, *, log: bool = False) -> dict:
    """Every figure the data allow, by name: ``per_class``, ``confusion``, ``per_image``, ``comparison``."""
    out = {"per_class": plot_per_class(data)}
    if data.confusion is not None:
        out["confusion"] = plot_confusion(data, log=log)
    if data.per_image:
        out["per_image"] = plot_per_image(data)
    if data.comparison is not None:
        out["comparison"] = plot_comparison(data)
    return out


def save_plots(data: ReportData, out_dir, *, formats: Sequence[str] = ("png", "svg"), dpi: int = 150,
               log: bool = False) -> list[Path]:
    """Write each figure of :func:`figures` as ``<out_dir>/<name>.<format>``; returns the paths.

    PNG goes through Agg at ``dpi``; SVG text stays text.  No date is written
    into the files and SVG element ids come from a fixed salt (set only while
    saving), so the same data give the same SVG.
    """
    from matplotlib import rc_context

    from ..errors import DataFileError

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(f"cannot create {out}: {exc.strerror or exc}") from None
    written = []
    for name, fig in figures(data, log=log).items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            meta = {"Date": None} if fmt in ("svg", "pdf") else {"Software": None}
            try:
                with rc_context({"svg.hashsalt": "segmetrics"}):  # fixed ids; restored on exit
                    fig.savefig(path, format=fmt, dpi=dpi, metadata=meta)
            except OSError as exc:
                raise DataFileError(f"cannot write {path}: {exc.strerror or exc}") from None
            written.append(path)
    return written
