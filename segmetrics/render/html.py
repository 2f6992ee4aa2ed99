"""One self-contained HTML file per report: offline, printable, readable without JavaScript.

Everything is inline: CSS, a few lines of JavaScript that only add sorting to
the tables, SVG charts, and pictures as base64 PNG / WebP.  The page names no
external resource (no CDN, no font download, no link out), so it opens the
same way from a mail attachment, a CI artefact or a laptop without network.
See ``docs/report.md`` for what each section shows.
"""
from __future__ import annotations

import base64
import datetime
import json
import math
from html import escape
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from . import svg
from .data import (
    ReportData,
    class_interval,
    comparison_view,
    confusion_view,
    headline_metric,
    is_fraction,
    metric_interval,
    per_class_columns,
    per_class_metric,
    per_class_series,
    top_confused,
    worst_images,
)
from .gallery import gallery_entry, label_tables, png_bytes
from .palettes import to_hex

__all__ = ["report_html", "render_html", "compare_html", "render_compare_html"]

_CSS = """
:root{--fg:#1d1d1d;--muted:#5f5f5f;--line:#d8d8d8;--bg:#fff;--head:#f4f4f4;--accent:#33558b}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
background:var(--bg);margin:0}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
nav{position:sticky;top:0;background:#fafafa;border-bottom:1px solid var(--line);padding:6px 20px;z-index:2}
section{scroll-margin-top:40px}
nav a{margin-right:14px;color:var(--accent);text-decoration:none;font-size:13px}
.muted,.note{color:var(--muted);font-size:12.5px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:3px 9px;text-align:right;vertical-align:top}
th{background:var(--head);font-weight:600;white-space:nowrap}
td.t,th.t{text-align:left}
table.meta td,table.meta th{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
.ci{color:var(--muted);font-size:11.5px;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:108px}
.card .k{font-size:12px;color:var(--muted)}.card .v{font-size:21px;font-weight:600}
.scroll{overflow:auto;max-height:640px;border:1px solid var(--line)}
.chart text,.heatmap text,.scale text{fill:#222;font-family:inherit}
.shot{border:1px solid var(--line);border-radius:6px;margin:10px 0;padding:8px;break-inside:avoid}
.shot figcaption{font-size:13px;margin-bottom:6px}
.panels{display:flex;gap:8px}
.panels div{display:flex;flex-direction:column;align-items:center;font-size:12px;color:var(--muted);
flex:0 1 auto;min-width:0}
.panels img{image-rendering:pixelated;border:1px solid #ccc;max-width:100%;height:auto}
.legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 12px;font-size:12px}
.sw{display:inline-block;width:11px;height:11px;border:1px solid #555;margin-right:4px;vertical-align:-1px}
.sw.chk{background-image:linear-gradient(45deg,#b8b8b8 25%,transparent 25%,transparent 75%,#b8b8b8 75%),
linear-gradient(45deg,#b8b8b8 25%,#fff 25%,#fff 75%,#b8b8b8 75%);background-size:4px 4px;background-position:0 0,2px 2px}
.err{color:#a33}
.sig-up{color:#0072b2;font-weight:600}.sig-down{color:#d55e00;font-weight:600}
ul.warn li{margin:2px 0}
@media print{nav{display:none}body{font-size:11px}.scroll{max-height:none;overflow:visible;border:0}
h2{break-after:avoid}.shot,.card,svg{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""

# Sorting only: without JavaScript every table is complete and in class order.
_JS = """
(function(){
function key(td){var v=td.getAttribute('data-v');if(v===null){return td.textContent.trim().toLowerCase();}
return v===''?null:parseFloat(v);}
function sortBy(table,col,th){
var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
var asc=th.getAttribute('aria-sort')!=='ascending';
var keyed=rows.map(function(r,i){return {r:r,k:key(r.cells[col]),i:i};});
keyed.sort(function(a,b){
var na=(a.k===null||(typeof a.k==='number'&&isNaN(a.k))),nb=(b.k===null||(typeof b.k==='number'&&isNaN(b.k)));
if(na||nb){return na===nb?a.i-b.i:(na?1:-1);}
var c=(typeof a.k==='number'&&typeof b.k==='number')?a.k-b.k:String(a.k).localeCompare(String(b.k));
if(c===0){return a.i-b.i;}return asc?c:-c;});
keyed.forEach(function(x){body.appendChild(x.r);});
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(t){
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
th.tabIndex=0;th.title='sort';
th.addEventListener('click',function(){sortBy(t,i,th);});
th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sortBy(t,i,th);}});
});});
})();
"""


# ----------------------------------------------------------------------------- small pieces
def _e(x) -> str:
    return escape(str(x))


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(key: str, v: float) -> str:
    """A number as shown: fractions as percentages, p-values with 3 digits, counts as integers."""
    if math.isnan(v):
        return "n/a"
    if is_fraction(key):
        return svg.pct(v)
    if key in ("p_value", "p_adjusted"):
        return f"{v:.3g}"
    return f"{int(v)}" if v == int(v) else f"{v:.4g}"


def _cell(key: str, v, interval=None) -> str:
    """A table cell: sortable value in ``data-v``, fractions shown as percentages."""
    if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float, np.integer, np.floating))):
        return f'<td class="t">{_e(v)}</td>'
    if _nan(v):
        return '<td data-v="">n/a</td>'
    v = float(v)
    text = _fmt(key, v)
    if interval is not None and is_fraction(key):
        text += f' <span class="ci">[{svg.pct(interval[0])}, {svg.pct(interval[1])}]</span>'
    return f'<td data-v="{v!r}">{text}</td>'


def _table(header: Sequence[tuple[str, bool]], rows: Iterable[str], *, cls: str = "sortable", caption: str = "") -> str:
    head = "".join(f'<th class="t">{_e(h)}</th>' if text else f"<th>{_e(h)}</th>" for h, text in header)
    cap = f"<caption class=\"note\">{_e(caption)}</caption>" if caption else ""
    return f'<table class="{cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _page(title: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    links = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in nav)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="generator" content="segmetrics"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body><nav>{links}</nav>{body}"
            f"<footer><p class=\"note\">Written by segmetrics. Values are percentages of fractions in [0, 1]; "
            f"n/a = undefined. See docs/report.md for how to read each section.</p></footer>"
            f"<script>{_JS}</script></body></html>")


def _meta_rows(report: Mapping, extra: Sequence[tuple[str, str]] = ()) -> str:
    d = report.get("dataset", {})
    rows = [("task", report["task"]), ("ground truth", d.get("gt")), ("prediction", d.get("pred")),
            ("images", d.get("images")), ("GT fingerprint", d.get("fingerprint")),
            ("segmetrics", report.get("segmetrics_version")), *extra]
    for k in ("missing_predictions", "extra_predictions", "categories", "things", "stuff"):
        if d.get(k) not in (None, 0):
            rows.append((k.replace("_", " "), d[k]))
    return "".join(f'<tr><th>{_e(k)}</th><td class="t"><code>{_e(v)}</code></td></tr>'
                   for k, v in rows if v is not None)


def _params(report: Mapping) -> str:
    p = report.get("params", {})
    if not p:
        return ""
    rows = "".join(f'<tr><th>{_e(k)}</th><td class="t"><code>{_e(json.dumps(v, default=str))}</code></td></tr>'
                   for k, v in p.items())
    return f'<h3>Parameters</h3><table class="meta">{rows}</table>'


def _cards(data: ReportData) -> str:
    out = []
    for k, v in data.report["metrics"].items():
        if not is_fraction(k):
            continue
        iv = metric_interval(data, k)
        ci = ""
        if iv is not None:
            info = data.intervals.get(k, {})
            lvl = info.get("level")
            ci = (f'<div class="ci">[{svg.pct(iv[0])}, {svg.pct(iv[1])}]'
                  f'{f" {100 * float(lvl):g}%" if lvl is not None else ""}</div>')
        out.append(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{svg.pct(v)}</div>{ci}</div>')
    return f'<div class="cards">{"".join(out)}</div>'


def _interval_note(data: ReportData) -> str:
    if not data.intervals:
        return ""
    info = next((v for v in data.intervals.values() if isinstance(v, Mapping) and "low" in v), None)
    if not info:
        return ""
    bits = [f"{k} {info[k]}" for k in ("level", "method", "resamples", "seed") if info.get(k) is not None]
    return f'<p class="note">Intervals: image-level bootstrap ({_e(", ".join(bits))}).</p>'


# ----------------------------------------------------------------------------- sections
def _per_class_section(data: ReportData) -> str:
    rows_in = data.report["per_class"]
    frac, cnt = per_class_columns(rows_in, data.task)
    panoptic = data.task == "panoptic"
    header = [("id", False), ("name", True)] + ([("kind", True)] if panoptic else [])
    header += [(k, False) for k in frac + cnt]
    colors, _ = data.colors()
    body = []
    for i, r in enumerate(rows_in):
        sw = f'<span class="sw" style="background:{to_hex(colors[i])}"></span>'
        cells = [_cell("id", r.get("id", i)), f'<td class="t">{sw}{_e(r.get("name", i))}</td>']
        if panoptic:
            cells.append(f'<td class="t">{"thing" if r.get("isthing") else "stuff"}</td>')
        cells += [_cell(k, r.get(k), class_interval(data, k, i)) for k in frac]
        cells += [_cell(k, r.get(k)) for k in cnt]
        body.append(f"<tr>{''.join(cells)}</tr>")
    metric = per_class_metric(data)
    series = per_class_series(data, metric)
    left_out = len(rows_in) - len(series)
    note = f" {left_out} classes with an undefined {metric} are not drawn." if left_out else ""
    chart = svg.bar_chart(series, metric) if series else '<p class="note">No class has a defined value.</p>'
    return (f'<section id="per-class"><h2>Per class</h2>'
            f'<p class="note">{_e(metric)} per class, highest first (percent){"; whiskers: intervals" if data.intervals else ""}.'
            f"{_e(note)}</p><div class=\"scroll\">{chart}</div>"
            f'<h3>Table</h3><p class="note">Click a column header to sort (n/a stays last).</p>'
            f'<div class="scroll">{_table(header, body)}</div></section>')


def _confusion_section(data: ReportData, *, log: bool, top: int) -> str:
    view = confusion_view(data)
    if view is None:
        return ""
    pairs = top_confused(view, top)
    prow = [f'<tr><td class="t">{_e(p["gt"])}</td><td class="t">{_e(p["pred"])}</td>'
            f'{_cell("fraction", p["fraction"])}{_cell("pixels", p["pixels"])}</tr>' for p in pairs]
    table = _table([("ground truth", True), ("predicted as", True), ("% of GT pixels", False), ("pixels", False)],
                   prow) if pairs else '<p class="note">No confusion between classes.</p>'
    scale = "log" if log else "linear"
    return (f'<section id="confusion"><h2>Confusion</h2>'
            f'<p class="note">Rows: ground truth; columns: prediction; each row divided by its GT pixels '
            f'({scale} colour scale; white: no pixel; grey row: class absent from the GT).</p>'
            f'<div class="scroll">{svg.heatmap(view, log=log, png_bytes=png_bytes)}</div>'
            f"{svg.scale_legend(log=log)}<h3>Most confused pairs</h3>{table}</section>")


def _per_image_section(data: ReportData) -> str:
    if not data.per_image:
        return ""
    key = data.score_key or headline_metric(data)
    vals = [r.get(key) for r in data.per_image]
    vals = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan for v in vals]
    undefined = sum(math.isnan(v) for v in vals)
    note = f" {undefined} images have no defined {key} and are not counted." if undefined else ""
    return (f'<section id="per-image"><h2>Per image</h2><p class="note">Distribution of the per-image {_e(key)} '
            f"over {len(vals)} images.{_e(note)}</p>{svg.histogram(vals, label=key)}</section>")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _zoom(panel) -> int:
    """Integer display zoom of a small thumbnail (pixels stay square and sharp)."""
    return max(1, 160 // max(panel.width, panel.height, 1))


def _gallery_section(data: ReportData, *, images_dir, worst: int, thumb: int) -> str:
    if worst <= 0 or not data.images:
        return ""
    picks = worst_images(data, worst)
    if not picks:
        return ""
    from ..errors import SegmetricsError

    key = data.score_key or headline_metric(data)
    colors, _ = data.colors()
    try:
        tables = label_tables(data) if data.task == "semantic" else None
    except (SegmetricsError, OSError) as exc:
        return (f'<section id="worst"><h2>Worst images</h2><p class="err">The images cannot be drawn as the run '
                f"read them: {_e(str(exc).splitlines()[0])}</p></section>")
    figs = []
    for rank, (row, item) in enumerate(picks, 1):
        e = gallery_entry(data, row, item, images_dir=images_dir, max_side=thumb, colors=colors, tables=tables)
        scores = ", ".join(f"{_e(k)} {_fmt(k, float(v))}" for k, v in e.scores.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool))
        if e.scores.get("missing_prediction") is True:
            scores += ", prediction missing"
        panels = "".join(f'<div><img alt="{_e(p.title)} of {_e(e.image_id)}" width="{p.width * _zoom(p)}" '
                         f'height="{p.height * _zoom(p)}" '
                         f'src="data:{p.mime};base64,{_b64(p.data)}"><span>{_e(p.title)}</span></div>'
                         for p in e.panels)
        legend = "".join(
            f'<li><span class="sw{" chk" if label.startswith("not scored (ignore") else ""}" '
            f'style="background-color:{to_hex(rgb)}"></span>{_e(label)}</li>' for label, rgb, _ in e.legend)
        err = f'<p class="err">{_e(e.error)}</p>' if e.error else ""
        figs.append(f'<figure class="shot" data-image-id="{_e(e.image_id)}"><figcaption><b>#{rank}</b> '
                    f"<code>{_e(e.image_id)}</code> &mdash; {scores}</figcaption>{err}"
                    f'<div class="panels">{panels}</div><ul class="legend">{legend}</ul></figure>')
    what = ("segment outlines in black; false-negative GT segments blue, false-positive predicted segments "
            "vermillion; 'segments' shows matched predictions green and not scored segments grey"
            if data.task == "panoptic" else
            "errors: wrong pixels vermillion, correct light grey, GT-ignored pixels checkered")
    return (f'<section id="worst"><h2>Worst {len(figs)} images</h2><p class="note">Lowest per-image {_e(key)} '
            f"first; {what}. Thumbnails keep every n-th pixel; a wrong pixel anywhere in a block shows.</p>"
            f"{''.join(figs)}</section>")


def _slices_section(data: ReportData) -> str:
    if not data.slices:
        return ""
    keys: list[str] = []
    for s in data.slices:
        for k in (s.get("metrics") or {}):
            if k not in keys:
                keys.append(k)
    header = [("attribute", True), ("value", True), ("images", False)] + [(k, False) for k in keys]
    rows = []
    for s in data.slices:
        ivs = s.get("intervals") or {}
        cells = [f'<td class="t">{_e(s.get("attribute"))}</td>', f'<td class="t">{_e(s.get("value"))}</td>',
                 _cell("images", s.get("images"))]
        for k in keys:
            iv = ivs.get(k)
            iv = (iv["low"], iv["high"]) if isinstance(iv, Mapping) and not _nan(iv.get("low")) \
                and not _nan(iv.get("high")) else None
            cells.append(_cell(k, (s.get("metrics") or {}).get(k), iv))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<section id="slices"><h2>Slices</h2><p class="note">Metrics of the images with each attribute value '
            f"(__unassigned__: images not in the manifest).</p>{_table(header, rows)}</section>")


def _boundary_section(data: ReportData) -> str:
    b = data.boundary
    if not b:
        return ""
    parts = ['<section id="boundary"><h2>Boundary metrics</h2>']
    if b.get("params"):
        parts.append('<p class="note">' + _e(", ".join(f"{k} = {v}" for k, v in b["params"].items())) + "</p>")
    m = b.get("metrics") or {}
    if m:
        parts.append('<div class="cards">' + "".join(
            f'<div class="card"><div class="k">{_e(k)}</div><div class="v">'
            f'{svg.pct(v) if is_fraction(k) else _e(v)}</div></div>' for k, v in m.items()) + "</div>")
    rows = b.get("per_class") or []
    if rows:
        frac, cnt = per_class_columns(rows, data.task)
        header = [("id", False), ("name", True)] + [(k, False) for k in frac + cnt]
        body = [f"<tr>{_cell('id', r.get('id', i))}<td class=\"t\">{_e(r.get('name', i))}</td>"
                + "".join(_cell(k, r.get(k)) for k in frac + cnt) + "</tr>" for i, r in enumerate(rows)]
        parts.append(f'<div class="scroll">{_table(header, body)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _warnings_section(report: Mapping, notes: Sequence[str] = ()) -> str:
    items = list(report.get("warnings") or []) + list(notes)
    if not items:
        return ""
    shown = items[:200]
    more = f"<li>... and {len(items) - 200} more</li>" if len(items) > 200 else ""
    return (f'<section id="warnings"><h2>Warnings ({len(items)})</h2><ul class="warn">'
            + "".join(f"<li>{_e(w)}</li>" for w in shown) + more + "</ul></section>")


# ----------------------------------------------------------------------------- pages
def report_html(data: ReportData, *, images_dir=None, worst: int = 24, log_colour: bool = False,
                top_pairs: int = 20, thumb: int = 320, title: Optional[str] = None,
                date: Optional[str] = None) -> str:
    """The report page as a string (see :func:`render_html`)."""
    r = data.report
    _, palette_src = data.colors()
    title = title or f"segmetrics {r['task']} report"
    header = (f"<header><h1>{_e(title)}</h1><p class=\"muted\">{_e(r['task'])} &middot; "
              f"{_e(r.get('dataset', {}).get('images', '?'))} images &middot; generated {_e(date or _now())}</p>"
              f"{_cards(data)}{_interval_note(data)}"
              f'<table class="meta">{_meta_rows(r, [("class colours", palette_src)])}</table>{_params(r)}</header>')
    sections = [
        ("per-class", "Per class", _per_class_section(data)),
        ("confusion", "Confusion", _confusion_section(data, log=log_colour, top=top_pairs)),
        ("per-image", "Per image", _per_image_section(data)),
        ("worst", "Worst images", _gallery_section(data, images_dir=images_dir, worst=worst, thumb=thumb)),
        ("slices", "Slices", _slices_section(data)),
        ("boundary", "Boundary", _boundary_section(data)),
        ("warnings", "Warnings", _warnings_section(r)),
    ]
    nav = [(a, t) for a, t, s in sections if s]
    body = header + "<main>" + "".join(s for _, _, s in sections) + "</main>"
    return _page(title, nav, body)


def _write(text: str, path) -> Path:
    from ..errors import DataFileError

    path = Path(path)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def render_html(data: ReportData, path, *, images_dir=None, worst: int = 24, log_colour: bool = False,
                top_pairs: int = 20, thumb: int = 320, title: Optional[str] = None,
                date: Optional[str] = None) -> Path:
    """Write the self-contained HTML report of one evaluation.

    Parameters
    ----------
    data : ReportData
        The JSON report and whatever extras are available (confusion matrix,
        per-image rows, intervals, slices, boundary metrics, gallery files).
    path : path-like
        Where to write the ``.html`` file.
    images_dir : path-like, optional
        Folder of input photos shown beside the worst images
        (:func:`segmetrics.render.gallery.find_input_image` says how they are found).
    worst : int
        Number of worst images in the gallery (0: no gallery).
    log_colour : bool
        Log colour scale for the confusion heatmap (small confusions visible).
    top_pairs : int
        Rows of the most-confused-pairs table.
    thumb : int
        Longest side of a gallery thumbnail, in pixels.
    title, date : str, optional
        Page title; the "generated" date (default: now, UTC).

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Sections appear only when their data are given: header and per-class
    (always), confusion (``confusion``), per-image distribution (``per_image``),
    worst images (``images``, ordered by ``per_image`` when given), slices, boundary metrics,
    warnings.  Without JavaScript every table is complete in class order; the
    script only sorts.  No external URL appears anywhere in the file.
    """
    return _write(report_html(data, images_dir=images_dir, worst=worst, log_colour=log_colour,
                              top_pairs=top_pairs, thumb=thumb, title=title, date=date), path)


def _cmp_cells(r: Mapping, significant_class) -> str:
    ci = (r.get("low"), r.get("high"))
    ci_text = "" if _nan(ci[0]) or _nan(ci[1]) else f"[{svg.pct(ci[0])}, {svg.pct(ci[1])}]"
    d = r.get("delta")
    sig = r.get("significant")
    mark = {True: "yes", False: "no", None: ""}[sig]
    cls = significant_class(r)
    return (_cell("base", r.get("base")) + _cell("new", r.get("new"))
            + (f'<td data-v="{float(d)!r}"{cls}>{100 * float(d):+.2f}</td>' if not _nan(d) else '<td data-v="">n/a</td>')
            + f'<td data-v="{"" if _nan(ci[0]) else float(ci[0])!r}" class="ci">{ci_text}</td>'
            + _cell("p_value", r.get("p_value")) + _cell("p_adjusted", r.get("p_adjusted"))
            + f'<td class="t">{mark}</td>')


def compare_html(data: ReportData, *, title: Optional[str] = None, date: Optional[str] = None) -> str:
    """The comparison page as a string (see :func:`render_compare_html`)."""
    view = comparison_view(data)
    new, base = data.report, data.base_report

    def sig_class(r):
        if not r.get("significant") or _nan(r.get("delta")):
            return ""
        return ' class="sig-up"' if r["delta"] > 0 else ' class="sig-down"'

    title = title or f"segmetrics comparison ({new['task']})"
    cols = [("base", False), ("new", False), ("delta (points)", False), ("delta interval", False),
            ("p", False), ("adjusted p", False), ("significant", True)]
    mrows = [f'<tr><td class="t">{_e(r["name"])}</td>{_cmp_cells(r, sig_class)}</tr>' for r in view["metrics"]]
    prows = [f'<tr>{_cell("id", r.get("id"))}<td class="t">{_e(r.get("name"))}</td>'
             f'<td class="t">{_e(r.get("metric"))}</td>{_cmp_cells(r, sig_class)}</tr>' for r in view["per_class"]]
    none = "not known (no p-values given: JSON reports carry none; significance needs run-state files)"
    m_rule = view["metrics_rule"] or none
    c_rule = view["per_class_rule"] or none
    same = None
    if base is not None:
        same = base.get("dataset", {}).get("fingerprint") == new.get("dataset", {}).get("fingerprint")
    if data.comparison.get("same_data") is not None:
        same = bool(data.comparison["same_data"])
    same_txt = {True: "same ground truth (fingerprints equal)",
                False: "DIFFERENT ground truth: the runs scored different data",
                None: "ground truth not compared"}[same]
    meta = ""
    for label, rep in (("base", base), ("new", new)):
        if rep is not None:
            meta += f'<h3>{label}</h3><table class="meta">{_meta_rows(rep)}</table>'
    # the chart shows the main per-class metric (IoU / PQ); the table below also lists BIoU / BPQ rows
    pcs = sorted((r for r in view["per_class"] if not _nan(r.get("delta")) and r.get("metric") == view["main_metric"]),
                 key=lambda r: r["delta"])
    metric = view["main_metric"] or per_class_metric(data)
    chart = svg.delta_chart(pcs, metric=metric or "") if pcs else '<p class="note">No per-class deltas.</p>'
    body = (f"<header><h1>{_e(title)}</h1><p class=\"muted\">generated {_e(date or _now())} &middot; "
            f"{_e(same_txt)}</p>{meta}</header><main>"
            f'<section id="headline"><h2>Headline metrics</h2><p class="note">Values in percent, deltas in '
            f"percentage points (new - base); significant: {_e(m_rule)}.</p>"
            f"{_table([('metric', True)] + cols, mrows)}</section>"
            f'<section id="per-class"><h2>Per-class change</h2><p class="note">{_e(metric)} change per class, '
            f"largest drop first; coloured bars are significant ({_e(c_rule)}), blue up, vermillion down; "
            f'whiskers: interval of the delta.</p><div class="scroll">{chart}</div>'
            f'<div class="scroll">{_table([("id", False), ("name", True), ("metric", True)] + cols, prows)}</div>'
            f"</section>{_warnings_section(new)}</main>")
    return _page(title, [("headline", "Headline"), ("per-class", "Per class")], body)


def render_compare_html(data: ReportData, path, *, title: Optional[str] = None, date: Optional[str] = None) -> Path:
    """Write the comparison page of two runs (``segmetrics compare ... --html``).

    Parameters
    ----------
    data : ReportData
        ``report`` = the new run's JSON report, ``base_report`` = the base run's,
        ``comparison`` = the compare result (see :class:`ReportData`).
    path : path-like
    title, date : str, optional

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Headline and per-class deltas (``new - base``, percentage points) with
    their intervals and p-values when given, a diverging bar chart of the
    per-class deltas, and the significance rule stated on the page (see
    :func:`segmetrics.render.data.comparison_view`).
    """
    return _write(compare_html(data, title=title, date=date), path)
