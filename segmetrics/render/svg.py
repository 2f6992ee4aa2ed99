"""Inline SVG charts for the HTML report (no JavaScript, no external resource).

Each function returns one ``<svg>`` element as a string (HTML5 inline SVG, so no
namespace declaration is needed).  Every mark has a ``<title>`` child, which
browsers show as a tooltip.  The data come from :mod:`.data`, the colours from
:mod:`.palettes`.
"""
from __future__ import annotations

import base64
import math
from html import escape
from typing import Mapping, Optional, Sequence

import numpy as np

from .palettes import LOG_FLOOR, OKABE_ITO, heat_colors, scale_values, sequential, to_hex

__all__ = ["bar_chart", "delta_chart", "histogram", "heatmap", "scale_legend", "pct"]

_BAR = "#4477aa"  # Tol bright blue: neutral bars
_AXIS = "#555555"
_GRID = "#dddddd"


def pct(v, digits: int = 2) -> str:
    """``v`` (a fraction) as a percentage with ``digits`` decimals, ``n/a`` when undefined."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100.0 * float(v):.{digits}f}"


def _txt(x: float, y: float, s: str, *, anchor: str = "start", size: int = 11, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{c}>'
            f"{escape(s)}</text>")


def _short(name: str, n: int = 26) -> str:
    return name if len(name) <= n else name[: n - 1] + "\u2026"


def _axis(x0: float, width: float, y0: float, y1: float, ticks: Sequence[float], fmt) -> list[str]:
    out = []
    for t in ticks:
        x = x0 + t * width
        out.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{y1:.1f}" stroke="{_GRID}"/>')
        out.append(_txt(x, y0 - 4, fmt(t), anchor="middle", size=10))
    return out


def bar_chart(series: Sequence[Mapping], metric: str, *, label: str = "") -> str:
    """Horizontal bars of per-class values (fractions) with interval whiskers when given.

    ``series`` rows: ``{name, value, low, high, color}`` (:func:`segmetrics.render.data.per_class_series`).
    """
    row_h, top, left, width, right = 16, 24, 190, 380, 110
    n = len(series)
    h = top + n * row_h + 8
    w = left + width + right
    parts = [f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="{escape(label or metric)} per class">']
    parts += _axis(left, width, top - 2, top + n * row_h, (0, 0.25, 0.5, 0.75, 1.0), lambda t: f"{100 * t:.0f}%")
    for i, r in enumerate(series):
        y = top + i * row_h
        v = min(max(r["value"], 0.0), 1.0)
        iv = "" if r.get("low") is None else f" [{pct(r['low'])}, {pct(r['high'])}]"
        tip = f"{r['name']}: {metric} {pct(r['value'])}%{iv}"
        parts.append(f"<g><title>{escape(tip)}</title>")
        parts.append(f'<rect x="{left - 14}" y="{y + 4}" width="9" height="9" fill="{to_hex(r["color"])}" '
                     f'stroke="#333" stroke-width="0.5"/>')
        parts.append(_txt(left - 18, y + 12, _short(r["name"]), anchor="end"))
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{v * width:.1f}" height="{row_h - 6}" fill="{_BAR}"/>')
        if r.get("low") is not None:
            lo = left + min(max(r["low"], 0.0), 1.0) * width
            hi = left + min(max(r["high"], 0.0), 1.0) * width
            ym = y + row_h / 2
            parts.append(f'<path d="M{lo:.1f} {ym - 4:.1f}v8M{lo:.1f} {ym:.1f}H{hi:.1f}M{hi:.1f} {ym - 4:.1f}v8" '
                         f'stroke="#000" stroke-width="1.2" fill="none" class="whisker"/>')
        parts.append(_txt(left + width + 6, y + 12, pct(r["value"]) + iv, size=10))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def delta_chart(rows: Sequence[Mapping], *, metric: str) -> str:
    """Diverging bars of per-class deltas (percentage points) with interval whiskers.

    ``rows``: ``{name, delta, low, high, significant}``; significant gains are
    blue, significant drops vermillion, the rest grey.
    """
    vals = [abs(r["delta"]) for r in rows if r.get("delta") is not None]
    vals += [abs(r[k]) for r in rows for k in ("low", "high") if r.get(k) is not None]
    span = _nice(max(max(vals) if vals else 0.01, 1e-4))
    row_h, top, left, width, right = 16, 24, 190, 400, 120
    n = len(rows)
    h, w = top + n * row_h + 8, left + width + right
    mid = left + width / 2

    def x(v):
        return mid + (v / span) * (width / 2)

    parts = [f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="{escape(metric)} change per class">']
    ticks = (-1.0, -0.5, 0.0, 0.5, 1.0)
    parts += _axis(left, width, top - 2, top + n * row_h, [(t + 1) / 2 for t in ticks],
                   lambda t: f"{100 * (2 * t - 1) * span:+g}")
    for i, r in enumerate(rows):
        y = top + i * row_h
        d = r.get("delta")
        col = "#999999"
        if r.get("significant") and d is not None:
            col = to_hex(OKABE_ITO["blue"] if d > 0 else OKABE_ITO["vermillion"])
        sig = {True: " (significant)", False: " (not significant)"}.get(r.get("significant"), "")
        tip = f"{r['name']}: {metric} {pct(r.get('base'))} \u2192 {pct(r.get('new'))}, delta {_signed(d)}{sig}"
        parts.append(f"<g><title>{escape(tip)}</title>")
        parts.append(_txt(left - 6, y + 12, _short(str(r["name"])), anchor="end"))
        if d is not None:
            a, b = sorted((x(0.0), x(d)))
            parts.append(f'<rect x="{a:.1f}" y="{y + 3}" width="{max(b - a, 0.5):.1f}" height="{row_h - 6}" '
                         f'fill="{col}"/>')
        if r.get("low") is not None and r.get("high") is not None:
            lo, hi, ym = x(r["low"]), x(r["high"]), y + row_h / 2
            parts.append(f'<path d="M{lo:.1f} {ym - 4:.1f}v8M{lo:.1f} {ym:.1f}H{hi:.1f}M{hi:.1f} {ym - 4:.1f}v8" '
                         f'stroke="#000" stroke-width="1.2" fill="none" class="whisker"/>')
        parts.append(_txt(left + width + 6, y + 12, _signed(d) + (" *" if r.get("significant") else ""), size=10))
        parts.append("</g>")
    parts.append(f'<line x1="{mid:.1f}" y1="{top - 2}" x2="{mid:.1f}" y2="{top + n * row_h}" stroke="{_AXIS}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(x: float) -> float:
    """Smallest of 1, 2, 2.5, 5 or 10 times a power of ten that is >= x (x > 0)."""
    p = 10.0 ** math.floor(math.log10(x))
    return next(m * p for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * p >= x * (1 - 1e-12))


def _signed(d) -> str:
    return "n/a" if d is None else f"{100.0 * float(d):+.2f}"


def histogram(values: Sequence[float], *, label: str, bins: int = 20) -> str:
    """Counts of per-image scores (fractions) in ``bins`` equal bins over [0, 1]; NaN left out."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    counts, _ = np.histogram(np.clip(v, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    top, left, width, height = 14, 40, 480, 120
    w, h = left + width + 24, top + height + 30
    cmax = max(int(counts.max()) if counts.size else 0, 1)
    bw = width / bins
    parts = [f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="distribution of per-image {escape(label)}">']
    for c in sorted({0, cmax // 2, cmax}):
        yy = top + height - c / cmax * height
        parts.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + width}" y2="{yy:.1f}" stroke="{_GRID}"/>')
        parts.append(_txt(left - 4, yy + 4, str(c), anchor="end", size=10))
    for i, c in enumerate(counts.tolist()):
        bh = c / cmax * height
        x0 = left + i * bw
        tip = f"{label} {100 * i / bins:.0f}-{100 * (i + 1) / bins:.0f}%: {c} images"
        parts.append(f'<rect x="{x0 + 0.5:.1f}" y="{top + height - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
                     f'fill="{_BAR}"><title>{escape(tip)}</title></rect>')
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(_txt(left + t * width, top + height + 14, f"{100 * t:.0f}%", anchor="middle", size=10))
    parts.append(_txt(left + width / 2, top + height + 27, f"per-image {label}", anchor="middle", size=10))
    parts.append("</svg>")
    return "".join(parts)


def scale_legend(*, log: bool, width: int = 240) -> str:
    """The heatmap's colour scale with ticks (row fractions, linear or log)."""
    stops = np.linspace(0.0, 1.0, 17)
    cols = sequential(stops)
    grad = "".join(f'<stop offset="{s:.4f}" stop-color="{to_hex(c)}"/>' for s, c in zip(stops, cols))
    gid = "scale-log" if log else "scale-lin"
    ticks = ([LOG_FLOOR, 1e-3, 1e-2, 1e-1, 1.0] if log else [0.0, 0.25, 0.5, 0.75, 1.0])
    pos = scale_values(ticks, log=log)
    lab = [f"{100 * t:g}%" for t in ticks]
    parts = [f'<svg class="scale" width="{width + 40}" height="38" viewBox="0 0 {width + 40} 38" role="img" '
             f'aria-label="colour scale"><defs><linearGradient id="{gid}">{grad}</linearGradient></defs>',
             f'<rect x="20" y="4" width="{width}" height="12" fill="url(#{gid})" stroke="#888" stroke-width="0.5"/>']
    for p, s in zip(pos.tolist(), lab):
        x = 20 + p * width
        parts.append(f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="20" stroke="#333"/>')
        parts.append(_txt(x, 31, s, anchor="middle", size=10))
    parts.append("</svg>")
    return "".join(parts)


def heatmap(view: Mapping, *, log: bool, png_bytes, max_cells: int = 40) -> str:
    """Row-normalised confusion heatmap.

    Up to ``max_cells`` classes: one SVG cell per entry with its tooltip (GT,
    prediction, fraction of the GT row, pixels) and names on both axes; above
    that: the matrix as a PNG image (one pixel per cell, scaled without
    smoothing) inside the SVG, with the axes described in words.  Cells with no
    pixel are white; rows without GT pixels light grey.
    """
    frac, counts = view["fractions"], view["counts"]
    colours = heat_colors(frac, counts, log=log)
    k, m = frac.shape
    if k <= max_cells:
        cell = max(10, min(28, 560 // max(m, 1)))
        chars = max(len(_short(n, 22)) for n in list(view["rows"]) + list(view["cols"]))
        left = int(chars * 6.2) + 14                    # room for the row names (10 px text)
        top = int(chars * 6.2 * 0.87) + 22              # and for the column names, rotated 60 degrees
        w, h = left + m * cell + 10, top + k * cell + 10
        parts = [f'<svg class="heatmap" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
                 f'aria-label="confusion matrix, rows ground truth, columns prediction">']
        for j, name in enumerate(view["cols"]):
            x = left + j * cell + cell / 2 + 4
            parts.append(f'<text x="{x:.1f}" y="{top - 6}" font-size="10" transform="rotate(-60 {x:.1f} {top - 6})">'
                         f"{escape(_short(name, 22))}</text>")
        for i, name in enumerate(view["rows"]):
            parts.append(_txt(left - 6, top + i * cell + cell / 2 + 4, _short(name, 22), anchor="end", size=10))
            for j in range(m):
                c = int(counts[i, j])
                f = frac[i, j]
                tip = (f"GT {name} \u2192 predicted {view['cols'][j]}: "
                       f"{'n/a' if math.isnan(f) else pct(f) + '%'} of the GT pixels ({c} px)")
                parts.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" height="{cell}" '
                             f'fill="{to_hex(colours[i, j])}" stroke="#fff" stroke-width="0.5">'
                             f"<title>{escape(tip)}</title></rect>")
                if cell >= 24 and c and not math.isnan(f) and f >= 0.005:
                    dark = scale_values(f, log=log) > 0.55
                    parts.append(f'<text x="{left + j * cell + cell / 2:.1f}" y="{top + i * cell + cell / 2 + 3:.1f}" '
                                 f'font-size="8" text-anchor="middle" fill="{"#fff" if dark else "#000"}">'
                                 f"{100 * f:.0f}</text>")
        parts.append(_txt(left + m * cell / 2, 12, "prediction \u2192", anchor="middle", size=11))
        parts.append("</svg>")
        return "".join(parts)
    img = base64.b64encode(png_bytes(colours)).decode("ascii")
    scale = max(1, min(4, 600 // max(m, 1)))
    w, h = m * scale, k * scale
    xlabel = _txt(30 + w / 2, 12, "prediction (class order) \u2192", anchor="middle", size=11)
    ylabel = "ground truth (class order) \u2192"
    return (f'<svg class="heatmap" width="{w + 30}" height="{h + 30}" viewBox="0 0 {w + 30} {h + 30}" role="img" '
            f'aria-label="confusion matrix of {k} classes, rows ground truth in class order, columns prediction">'
            f"{xlabel}"
            f'<text x="12" y="{30 + h / 2:.1f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {30 + h / 2:.1f})">{ylabel}</text>'
            f'<image x="30" y="20" width="{w}" height="{h}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="data:image/png;base64,{img}"/></svg>')
