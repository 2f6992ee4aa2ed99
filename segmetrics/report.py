"""Reports as strings and plain data: the JSON schema, tables, Markdown, CSV, gates.

Library code never prints; the CLI writes what these functions return.  The
JSON layout is documented in ``docs/json_schema.md`` (``SCHEMA_VERSION``).
No metric is computed here: results build their report dicts
(``result.to_report()``) and this module only cleans, renders and gates them.

Notes
-----
* Values in reports are fractions in ``[0, 1]`` (NaN and infinities become
  ``null`` in JSON, :func:`json_ready`);
  tables and Markdown print percentages with two decimals.
* Gates (``--fail-under``, ``--max-drop``) take percentages: ``mIoU=45`` means
  ``metrics["mIoU"] >= 0.45``.  An undefined (NaN) metric fails its gate.
"""
from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from ._text import listing, plural  # noqa: F401  (re-exported: report.plural, report.listing)
from ._version import __version__
from .errors import DataFileError, FormatError, InputError

__all__ = [
    "SCHEMA_VERSION",
    "SEMANTIC_METRICS",
    "PANOPTIC_METRICS",
    "TABLE_WIDTH",
    "plural",
    "json_ready",
    "read_report",
    "build_report",
    "to_json",
    "format_table",
    "format_markdown",
    "interval_line",
    "shown_classes",
    "format_csv",
    "format_conventions",
    "parse_metric_spec",
    "check_fail_under",
    "GATE_KINDS",
    "compare_reports",
    "format_comparison",
    "significance_line",
    "check_max_drop",
    "significant_drop_reasons",
]

SCHEMA_VERSION = 1
SEMANTIC_METRICS: tuple[str, ...] = ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice", "mBIoU", "mMinIoU")
#: Headline keys that convention profiles add (``segmetrics.conventions``), shown when present.
EXTRA_METRICS: tuple[str, ...] = ("mIoU_per_image", "mIoU_category")
PANOPTIC_METRICS: tuple[str, ...] = (
    "PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st",
    "PQ_dagger", "PQ_dagger_th", "PQ_dagger_st",
    "BPQ", "BSQ", "BRQ", "BPQ_th", "BSQ_th", "BRQ_th", "BPQ_st", "BSQ_st", "BRQ_st",
)
_SEMANTIC_PER_CLASS = ("IoU", "Acc", "Dice", "Precision", "Recall", "BIoU")
_PANOPTIC_PER_CLASS = ("PQ", "SQ", "RQ", "PQ_dagger", "BPQ")


# --------------------------------------------------------------------------- data
def _num(x):
    """JSON-ready scalar: numpy -> Python, NaN and infinities -> None."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def json_ready(obj):
    """``obj`` with plain JSON types only: the one JSON cleaner of the package.

    Dicts, lists, tuples and arrays are converted recursively; numpy scalars
    become Python numbers; **every non-finite float (NaN, +inf, -inf) becomes
    None** (JSON ``null``): an undefined value, never a number.
    """
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biu" or (obj.dtype.kind == "f" and np.isfinite(obj).all()):
            return obj.tolist()  # plain Python numbers already, nothing to clean
        return json_ready(obj.tolist())
    return _num(obj)


def build_report(
    *,
    task: str,
    params: Mapping,
    dataset: Mapping,
    metrics: Mapping,
    per_class: Sequence[Mapping],
    warnings: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> dict:
    """Assemble the JSON-ready report (schema: ``docs/json_schema.md``)."""
    if task not in ("semantic", "panoptic"):
        raise InputError(f"task must be 'semantic' or 'panoptic', got {task!r}")
    return {
        "schema_version": SCHEMA_VERSION,
        "segmetrics_version": __version__,
        "task": task,
        "params": {k: _num(v) for k, v in params.items()},
        "dataset": {k: _num(v) for k, v in dataset.items()},
        "metrics": {k: _num(v) for k, v in metrics.items()},
        "per_class": [{k: _num(v) for k, v in row.items()} for row in per_class],
        "warnings": list(warnings),
        "notes": list(notes),
    }


def to_json(report: Mapping) -> str:
    """The report as indented JSON text (non-finite values written as ``null``), ending with a newline."""
    import json

    return json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- text
#: Human tables fit this many columns (a terminal's default width).
TABLE_WIDTH = 80


def _pct(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100.0 * v:.2f}"


def _count(n, compact: bool) -> str:
    """A pixel or segment count; ``compact``: at most 5 characters (``12.3M``, ``4.56G``)."""
    if n is None:
        return "n/a"
    n = int(n)
    if not compact or abs(n) < 100_000:
        return str(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.{2 if v < 10 else 1 if v < 100 else 0}f}{unit}"
    return str(n)  # pragma: no cover - unreachable


def _headline_keys(report: Mapping) -> list[str]:
    order = PANOPTIC_METRICS + SEMANTIC_METRICS if report["task"] == "panoptic" else SEMANTIC_METRICS + EXTRA_METRICS
    return [k for k in order if k in report["metrics"]]


def _per_class_columns(report: Mapping) -> tuple[list[str], list[str]]:
    """(percentage columns, count columns) present in the per-class rows."""
    rows = report["per_class"]
    if not rows:
        return [], []
    pct = _PANOPTIC_PER_CLASS if report["task"] == "panoptic" else _SEMANTIC_PER_CLASS
    cnt = ("TP", "FP", "FN") if report["task"] == "panoptic" else ("gt_pixels", "pred_pixels")
    return [c for c in pct if c in rows[0]], [c for c in cnt if c in rows[0]]


#: Table headers of per-class columns (``%`` marks percentages).
_HEADERS = {"IoU": "IoU %", "Acc": "Acc %", "Dice": "Dice %", "Precision": "Prec %", "Recall": "Rec %",
            "PQ": "PQ %", "SQ": "SQ %", "RQ": "RQ %", "gt_pixels": "GT px", "pred_pixels": "pred px",
            "BIoU": "BIoU %", "PQ_dagger": "PQdag %", "BPQ": "BPQ %"}


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], align_left: int = 0) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(str(c).ljust(w) if i < align_left else str(c).rjust(w))
        return "  ".join(out).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _width(text: str) -> int:
    return max(len(ln) for ln in text.splitlines())


def _fit_grid(header: Sequence[str], make_rows, align_left: int, name_col, width: int = TABLE_WIDTH) -> str:
    """A grid no wider than ``width``: counts in compact form (``12.3M``) when exact ones do
    not fit, then names cut (ending in ``~``, at least 8 characters kept); ``name_col`` is the
    column of names, or several (cut to one common length, the longest names first)."""
    text = _grid(header, make_rows(False), align_left)
    if _width(text) <= width:
        return text
    rows = make_rows(True)
    text = _grid(header, rows, align_left)
    over = _width(text) - width
    if over <= 0 or not rows:
        return text
    cols = (name_col,) if isinstance(name_col, int) else tuple(name_col)
    widths = [max(len(str(r[c])) for r in rows) for c in cols]
    floor = [max(8, len(header[c])) for c in cols]
    keep = max(widths)
    while keep > min(floor) and sum(max(0, w - max(keep, f)) for w, f in zip(widths, floor)) < over:
        keep -= 1
    cut = [list(r) for r in rows]
    for c, f in zip(cols, floor):
        limit = max(keep, f)
        for r in cut:
            if len(str(r[c])) > limit:
                r[c] = str(r[c])[:limit - 1] + "~"
    return _grid(header, cut, align_left)


def _title(report: Mapping) -> str:
    d = report["dataset"]
    preset = report["params"].get("preset")
    n = d.get("images")
    bits = [f"segmetrics {report['segmetrics_version']}", report["task"],
            plural(n, "image") if isinstance(n, int) else "? images"]
    if preset:
        bits.append(f"preset {preset}")
    if d.get("missing_predictions"):
        bits.append(f"{plural(d['missing_predictions'], 'missing prediction')} scored as void")
    return " | ".join(bits)


def _scored(report: Mapping, row: Mapping) -> bool:
    """Whether a per-class row has anything to show: a panoptic category with TP + FP + FN > 0,
    a semantic class with ground-truth or predicted pixels (the others are all ``n/a``)."""
    if report["task"] == "panoptic":
        keys = ("TP", "FP", "FN")
    else:
        keys = ("gt_pixels", "pred_pixels")
    if not any(k in row for k in keys):
        return True
    return any(row.get(k) for k in keys)


def shown_classes(report: Mapping, *, all_classes: bool = False) -> tuple[list, str]:
    """The per-class rows a table shows and the line that says what was left out.

    Without ``all_classes`` the rows with nothing to score (:func:`_scored`) are
    left out, and the line says how many and which flag shows them (empty when
    nothing was left out).
    """
    rows = list(report["per_class"])
    if all_classes:
        return rows, ""
    shown = [r for r in rows if _scored(report, r)]
    hidden = len(rows) - len(shown)
    if not hidden:
        return shown, ""
    word = ("category", "categories") if report["task"] == "panoptic" else ("class", "classes")
    return shown, f"({plural(hidden, *word)} with nothing to score not shown: --all-classes shows them)"


def _interval(report: Mapping, key: str) -> Optional[tuple]:
    """``(low, high)`` of a headline metric from the report's ``intervals`` (None when absent)."""
    iv = (report.get("intervals") or {}).get(key)
    if not isinstance(iv, Mapping) or iv.get("low") is None or iv.get("high") is None:
        return None
    return iv["low"], iv["high"]


def _class_interval(report: Mapping, column: str, index: int) -> Optional[tuple]:
    """``(low, high)`` of a per-class value (row ``index`` of ``per_class``), or None."""
    entries = ((report.get("intervals") or {}).get("per_class") or {}).get(column)
    e = entries[index] if entries and index < len(entries) else None
    return None if not isinstance(e, Mapping) or e.get("low") is None else (e["low"], e["high"])


def _bracket(iv: Optional[tuple]) -> str:
    """``[44.30, 45.95]`` (percent), ``n/a`` without an interval."""
    return "n/a" if iv is None else f"[{_pct(iv[0])}, {_pct(iv[1])}]"


def _with_interval(v, iv: Optional[tuple]) -> str:
    """``45.12 [44.30, 45.95]`` (percent), or the value alone."""
    return _pct(v) if iv is None else f"{_pct(v)} {_bracket(iv)}"


def interval_line(report: Mapping) -> str:
    """What the intervals of a report are, in one line (empty without intervals)."""
    ivs = report.get("intervals") or {}
    info = next((v for v in ivs.values() if isinstance(v, Mapping) and "level" in v), None)
    if info is None:
        return ""
    line = (f"[low, high]: {100 * float(info['level']):g}% {info['method']} bootstrap interval over images, "
            f"{plural(int(info['resamples']), 'resample')}, seed {info['seed']}")
    none = []
    if report["task"] == "panoptic" and "PQ_dagger" in report["metrics"]:
        none.append("PQ-dagger: its stuff pairs and GT segment counts are not kept per image")
    if report["task"] == "panoptic" and "aAcc" in report["metrics"]:
        none.append("the category-map metrics: their per-image pixel counts are not kept")
    if none:
        line += " (none for " + "; nor for ".join(none) + ")"
    return line


def _headline(report: Mapping) -> list[str]:
    m = report["metrics"]
    keys = _headline_keys(report)
    ci = bool(report.get("intervals"))
    if report["task"] != "panoptic" or "PQ" not in m:
        if ci:  # one metric per row: five intervals side by side do not fit 80 columns
            rows = [[k, _with_interval(m[k], _interval(report, k))] for k in keys]
            return [_grid(["metric", "% [interval]"], rows, align_left=1)]
        return [_grid([f"{k} %" for k in keys], [[_pct(m[k]) for k in keys]])]
    # panoptic: PQ / SQ / RQ by group (as panopticapi prints them), PQ-dagger and Boundary PQ
    # when the report has them, then the category-map metrics
    d = report["dataset"]
    groups = [("All", "", "categories"), ("Things", "_th", "things"), ("Stuff", "_st", "stuff")]
    keys = [k for k in ("PQ", "SQ", "RQ", "PQ_dagger", "BPQ", "BSQ", "BRQ") if k in m]
    counted = {n: str(d[n]) if d.get(n) is not None else "n/a" for _, _, n in groups}
    if ci:  # a row per metric: several intervals side by side do not fit 80 columns
        rows = [[label if k == "PQ" else "", k, _with_interval(m.get(k + suffix), _interval(report, k + suffix)),
                 counted[n] if k == "PQ" else ""] for label, suffix, n in groups for k in keys]
        out = [_grid(["", "metric", "% [interval]", "categories"], rows, align_left=2)]
    else:
        rows = [[label] + [_pct(m.get(k + suffix)) for k in keys] + [counted[n]] for label, suffix, n in groups]
        out = [_grid([""] + [_HEADERS.get(k, k + " %") for k in keys] + ["categories"], rows, align_left=1)]
    sem = [k for k in SEMANTIC_METRICS if k in m]
    if sem:
        out.append(_grid([f"{k} %" for k in sem], [[_pct(m[k]) for k in sem]]))
    return out


def format_table(report: Mapping, *, per_class: bool = False, all_classes: bool = False) -> str:
    """Human-readable report: headline metrics (percent) and optionally per-class rows.

    Notes
    -----
    Every table fits :data:`TABLE_WIDTH` (80) columns: panoptic headlines print
    PQ / SQ / RQ as an All / Things / Stuff grid; per-class tables print pixel
    counts compactly and cut long names (``~``) only when the exact form does not
    fit.  Per-class rows with nothing to score are left out unless
    ``all_classes`` (:func:`shown_classes`); headers mark percentages with ``%``.
    """
    parts = [_title(report)]
    for block in _headline(report):
        parts += ["", block]
    if per_class and report["per_class"]:
        parts += _per_class_table(report, all_classes)
    if report.get("intervals"):
        parts += ["", textwrap.fill(interval_line(report), TABLE_WIDTH)]
    if report.get("worst"):
        parts += ["", _worst_table(report)]
    if report.get("slices"):
        parts += ["", _slices_table(report)]
    if report.get("conventions"):
        parts += ["", format_conventions(report["conventions"]).rstrip("\n")]
    return "\n".join(parts) + "\n"


def _per_class_table(report: Mapping, all_classes: bool) -> list:
    """The per-class block of :func:`format_table`; with intervals, the interval of the first
    column (IoU / PQ) follows it and Precision / Recall (= Acc) are left to the JSON."""
    shown, left_out = shown_classes(report, all_classes=all_classes)
    index = {id(r): i for i, r in enumerate(report["per_class"])}
    pct, cnt = _per_class_columns(report)
    panoptic = report["task"] == "panoptic"
    class_iv = (report.get("intervals") or {}).get("per_class") or {}
    ci_col = pct[0] if pct and pct[0] in class_iv else None
    if ci_col is not None and not panoptic:
        pct = [c for c in pct if c not in ("Precision", "Recall")]
    header = ["id", "name"] + (["kind"] if panoptic else []) + [_HEADERS.get(c, c) + (" [interval]" if ci_col else "")
                                                                  for c in pct[:1]]
    header += [_HEADERS.get(c, c) for c in pct[1:] + cnt]

    def make_rows(compact: bool) -> list:
        out = []
        for r in shown:
            row = [str(r.get("id")), str(r.get("name"))]
            if panoptic:
                row.append("thing" if r.get("isthing") else "stuff")
            row += [_with_interval(r.get(c), _class_interval(report, c, index[id(r)]) if ci_col else None)
                    for c in pct[:1]]
            row += [_pct(r.get(c)) for c in pct[1:]] + [_count(r.get(c), compact) for c in cnt]
            out.append(row)
        return out

    parts = []
    if shown:
        parts += ["", _fit_grid(header, make_rows, align_left=2 + panoptic, name_col=1)]
    if left_out:
        parts += [left_out] if shown else ["", left_out]
    return parts


def _worst_table(report: Mapping) -> str:
    """The images of ``report["worst"]`` with their per-image scores (percent, counts)."""
    rows = report["worst"]
    panoptic = report["task"] == "panoptic"
    pct = ["PQ", "SQ", "RQ"] if panoptic else ["mIoU", "aAcc"]
    cnt = ["TP", "FP", "FN"] if panoptic else ["pixels", "classes"]
    header = ["image"] + [f"{c} %" for c in pct] + cnt + ["note"]

    def make_rows(compact: bool) -> list:
        return [[str(r.get("image_id"))] + [_pct(r.get(c)) for c in pct] + [_count(r.get(c), compact) for c in cnt]
                + ["no prediction" if r.get("missing_prediction") else ""] for r in rows]

    title = f"Worst {plural(len(rows), 'image')} by {pct[0]} (lowest first; images with nothing to score last)"
    return title + "\n" + _fit_grid(header, make_rows, align_left=1, name_col=0)


#: Headline metrics shown per slice (the JSON holds every headline metric).
_SLICE_KEYS = {"semantic": ("mIoU", "aAcc", "mAcc"), "panoptic": ("PQ", "SQ", "RQ")}


def _slices_table(report: Mapping) -> str:
    """One row per (attribute, value) of ``report["slices"]``; with intervals, the first metric's."""
    slices = report["slices"]
    keys = [k for k in _SLICE_KEYS[report["task"]] if any(k in (s.get("metrics") or {}) for s in slices)]
    ci = any(s.get("intervals") for s in slices) and bool(keys)
    header = ["attribute", "value", "images"] + [f"{k} %" + (" [interval]" if ci else "") for k in keys[:1]] \
        + [f"{k} %" for k in keys[1:]]

    def make_rows(compact: bool) -> list:
        out = []
        for s in slices:
            m = s.get("metrics") or {}
            row = [str(s.get("attribute")), str(s.get("value")), _count(s.get("images"), compact)]
            iv = (s.get("intervals") or {}).get(keys[0]) if keys else None
            row += [_with_interval(m.get(k), None if not iv else (iv["low"], iv["high"])) for k in keys[:1]]
            out.append(row + [_pct(m.get(k)) for k in keys[1:]])
        return out

    return "Slices\n" + _fit_grid(header, make_rows, align_left=2, name_col=(0, 1))


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_markdown(report: Mapping, *, per_class: bool = False, all_classes: bool = False) -> str:
    """GitHub-flavoured Markdown (for PR comments); per-class rows go in a ``<details>`` block
    (rows with nothing to score left out unless ``all_classes``, as in :func:`format_table`)."""
    keys = _headline_keys(report)
    d = report["dataset"]
    out = [f"### segmetrics: {report['task']}", "", _title(report) + " | values in %", ""]
    out.append(_md_table(keys, [[_with_interval(report["metrics"][k], _interval(report, k)) for k in keys]]))
    if report.get("intervals"):
        out += ["", interval_line(report)]
    fp = d.get("fingerprint")
    if fp:
        out += ["", f"GT fingerprint `{fp[:19]}`"]
    if per_class and report["per_class"]:
        pct, cnt = _per_class_columns(report)
        shown, left_out = shown_classes(report, all_classes=all_classes)
        index = {id(r): i for i, r in enumerate(report["per_class"])}
        rows = [[r.get("id"), r.get("name")] + [_with_interval(r.get(c), _class_interval(report, c, index[id(r)]))
                                                for c in pct] + [r.get(c) for c in cnt] for r in shown]
        out += ["", "<details><summary>Per class (%)</summary>", ""]
        out += [_md_table(["id", "name"] + pct + cnt, rows)] if rows else []
        out += (["", left_out] if left_out else []) + ["", "</details>"]
    for key, table in (("worst", _worst_table), ("slices", _slices_table)):
        if report.get(key):
            title, *lines = table(report).splitlines()
            out += ["", f"<details><summary>{title}</summary>", "", "```", *lines, "```", "", "</details>"]
    if report.get("conventions"):
        out += ["", format_conventions(report["conventions"], markdown=True).rstrip("\n")]
    if report.get("warnings"):
        out += ["", "Warnings:", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(out) + "\n"


#: Short column headers of the comparison table.
_CONV_HEADERS = {"mIoU_per_image": "mIoU/img", "mIoU_category": "mIoU/cat"}


def _conv_delta(rule: Mapping, primary: str) -> str:
    """What switching one rule does: the primary metric's change in points, or why there is none."""
    d = rule.get("delta")
    affected, unit = rule.get("affected"), rule.get("unit", "")
    if rule.get("value") == "refused":
        return f"no number: refuses {plural(affected, unit[:-1])}" if affected else f"none in this run (0 {unit})"
    if d is None:
        return "no number"
    text = f"{primary} {100.0 * d[primary]:+.2f}" if d.get(primary) is not None else f"{primary} n/a"
    if "TP" in d:
        text += f" (TP {d['TP']:+d}, FP {d['FP']:+d}, FN {d['FN']:+d})"
    elif affected is not None:
        text += f" ({plural(affected, unit[:-1], unit)})"
    return text


def format_conventions(conv: Mapping, *, markdown: bool = False) -> str:
    """The comparison of convention profiles (``segmetrics.conventions.compare``, a report's
    ``conventions`` section): one row per profile with the headline metrics it reports (%),
    then each rule in which a profile differs from the reference and how much that rule
    alone moves the primary metric (points).  Fits :data:`TABLE_WIDTH` columns."""
    rows_in = conv["profiles"]
    keys = [k for k in conv["headline"] if any(k in (r.get("metrics") or {}) for r in rows_in)]
    header = ["profile"] + [_CONV_HEADERS.get(k, k) + ("" if markdown else " %") for k in keys]
    rows, unavailable = [], []
    for r in rows_in:
        m = r.get("metrics")
        if m is None:
            rows.append([r["name"]] + ["n/a"] * len(keys))
            unavailable.append(f"{r['name']}: no number ({r.get('reason')})")
        else:
            rows.append([r["name"]] + [_pct(m[k]) if k in m else "-" for k in keys])
    primary, ref = conv["primary"], conv["reference"]
    title = "Other tools' numbers (convention profiles, %; '-': the tool does not report it)"
    moves = []
    for r in rows_in:
        for rule in r["rules"]:
            moves.append((r["name"], f"{rule['rule']}: {rule['value']} ({ref}: {rule['reference']})",
                          _conv_delta(rule, primary)))
    if markdown:
        out = [f"#### {title}", "", _md_table(header, rows)]
        if unavailable:
            out += [""] + [f"- {u}" for u in unavailable]
        if moves:
            out += ["", f"Each rule alone, switched from {ref}'s:", "",
                    _md_table(["profile", "rule", f"effect ({primary}, points)"], moves)]
        return "\n".join(out) + "\n"
    out = [title, "", _grid(header, rows, align_left=1)]
    out += [textwrap.fill(u, TABLE_WIDTH, initial_indent="  ", subsequent_indent="    ") for u in unavailable]
    if moves:
        out += ["", f"Rules that differ from {ref}'s, each switched alone ({primary}, points):"]
        for name, what, effect in moves:
            line = f"  {name:<12} {what}  {effect}"
            if len(line) > TABLE_WIDTH:  # the rule on its line(s), the effect under it
                line = textwrap.fill(f"  {name:<12} {what}", TABLE_WIDTH, subsequent_indent=" " * 15,
                                     break_long_words=False) + "\n" + " " * 15 + effect
            out.append(line)
    return "\n".join(out) + "\n"


def format_csv(rows: Sequence[Mapping]) -> str:
    """Rows (dicts of scalars) as CSV; columns = union of keys in first-seen order; NaN -> empty."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        cells = []
        for c in cols:
            v = _num(r.get(c))
            cells.append("" if v is None else (f"{v:.6f}" if isinstance(v, float) else v))
        w.writerow(cells)
    return buf.getvalue()


# --------------------------------------------------------------------------- gates
GATE_KINDS = ("fail_under", "max_drop")


def parse_metric_spec(spec: str, *, allowed: Optional[Iterable[str]] = None, kind: str = "fail_under"
                      ) -> dict[str, float]:
    """Parse ``"mIoU=45.0,PQ=40"`` into ``{"mIoU": 45.0, "PQ": 40.0}`` (percent).

    Parameters
    ----------
    spec : str
        Comma-separated ``METRIC=VALUE`` items; a value may end in ``%``.
    allowed : iterable of str, optional
        The metric names accepted (default: any).
    kind : {"fail_under", "max_drop"}
        ``"fail_under"``: a percentage a metric must reach; ``"max_drop"``:
        percentage points a metric may lose.

    Raises
    ------
    InputError
        Malformed item, duplicate or unknown metric (the message lists the known
        ones), a value outside ``[0, 100]``, or (``fail_under``) a value in
        ``(0, 1)`` written without ``%``.

    Notes
    -----
    Gates take percentages, results hold fractions.  A ``--fail-under`` value
    strictly between 0 and 1 is what a user who thinks in fractions writes
    (``mIoU=0.45`` meaning 45 %), and as a percentage it is a gate that always
    passes: it is refused with both spellings (``mIoU=45``, or ``mIoU=0.45%``
    for a real 0.45 % gate).  ``--max-drop`` values are points, so small values
    (``mIoU=0.5``) are ordinary there.
    """
    if kind not in GATE_KINDS:
        raise InputError(f"kind must be one of {GATE_KINDS}, got {kind!r}")
    out: dict[str, float] = {}
    allowed = list(allowed) if allowed is not None else None
    unit = "PERCENT" if kind == "fail_under" else "POINTS"
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise InputError(f"expected METRIC={unit}, got {item!r} (e.g. mIoU=45.0,PQ=40)")
        explicit = value.endswith("%")
        number = value[:-1].strip() if explicit else value
        try:
            v = float(number)
        except ValueError:
            raise InputError(f"{name}: {value!r} is not a number (percent expected)") from None
        if not math.isfinite(v):
            raise InputError(f"{name}: threshold must be finite, got {value!r}")
        if allowed is not None and name not in allowed:
            raise InputError(f"unknown metric {name!r}; known: {', '.join(allowed)}")
        if name in out:
            raise InputError(f"metric {name!r} given twice")
        if not 0.0 <= v <= 100.0:
            what = "a percentage" if kind == "fail_under" else "a drop in percentage points"
            raise InputError(f"{name}={value}: {what} must be in [0, 100]")
        if kind == "fail_under" and 0.0 < v < 1.0 and not explicit:
            raise InputError(f"{name}={value} looks like a fraction, but gates take percentages: write "
                             f"{name}={100.0 * v:g} for {100.0 * v:g} %, or {name}={value}% for {value} %")
        out[name] = v
    if not out:
        raise InputError(f"no METRIC={unit} item in {spec!r}")
    return out


def _gate_digits(value_pct: float, limit: float) -> str:
    """``value_pct`` with the fewest decimals (at least 2) that tell it apart from ``limit``."""
    for d in range(2, 16):
        text = f"{value_pct:.{d}f}"
        if text != f"{limit:.{d}f}":
            return text
    return repr(value_pct)


def check_fail_under(report: Mapping, thresholds: Mapping[str, float]) -> list[str]:
    """Reasons (one per failed metric) why ``report`` misses ``thresholds`` (percent).

    Notes
    -----
    A metric passes when ``100 * value >= threshold``; an undefined (NaN /
    ``null``) metric fails.  A failing value is printed with as many decimals as
    it takes to differ from the threshold (``mIoU 10.859 < 10.86``, never
    ``10.86 < 10.86``).
    """
    reasons = []
    for name, limit in thresholds.items():
        if name not in report["metrics"]:
            raise InputError(
                f"--fail-under: metric {name!r} is not in this {report['task']} report; "
                f"available: {', '.join(report['metrics'])}"
            )
        v = report["metrics"][name]
        if v is None or math.isnan(v):
            reasons.append(f"{name} is undefined (n/a), required >= {limit:g}")
        elif 100.0 * v < limit:
            reasons.append(f"{name} {_gate_digits(100.0 * v, limit)} < {limit:g}")
    return reasons


# --------------------------------------------------------------------------- compare
def read_report(path) -> dict:
    """Read a report written by ``segmetrics eval --json`` (``FormatError`` when it is not one).

    Raises
    ------
    DataFileError
        The file cannot be read.
    FormatError
        Not UTF-8, not JSON, or not a report (``task``, ``metrics`` and
        ``dataset`` are needed; ``metrics`` and ``per_class`` must have their
        types).  Values are checked by :func:`compare_reports`.
    """
    import json

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not {"task", "metrics", "dataset"} <= set(data):
        raise FormatError(f"{path} is not a segmetrics report (needs task, metrics and dataset)")
    data.setdefault("per_class", [])
    for key, kind in (("metrics", dict), ("dataset", dict), ("per_class", list)):
        if not isinstance(data[key], kind):
            raise FormatError(f"{path}: '{key}' must be a JSON {'object' if kind is dict else 'array'}")
    if not all(isinstance(r, dict) for r in data["per_class"]):
        raise FormatError(f"{path}: every per_class entry must be a JSON object")
    return data


def _value(v, where: str) -> Optional[float]:
    """A report value as a float, or None when undefined (``null``, NaN, an infinity)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise FormatError(f"{where} is {v!r}, not a number")
    v = float(v)
    return v if math.isfinite(v) else None


def _class_rows(report: Mapping, key: str, where: str) -> dict:
    """``{id: (name, value)}`` of a report's per-class rows that hold ``key``."""
    out = {}
    for i, r in enumerate(report.get("per_class", [])):
        if key not in r:
            continue
        cid = r.get("id")
        if isinstance(cid, bool) or not isinstance(cid, (int, str)):
            raise FormatError(f"{where}: per_class[{i}].id is {cid!r}, not an integer or a string")
        if cid in out:
            raise FormatError(f"{where}: class id {cid!r} appears twice in per_class")
        out[cid] = (r.get("name"), _value(r[key], f"{where}: per_class[{i}].{key}"))
    return out


def _join_classes(a: dict, b: dict, names: tuple) -> tuple[list, list]:
    """Pair per-class rows of two reports: by id when both list the same classes, else by
    name where names are unique and shared; returns ``(pairs, warnings)``."""
    if set(a) == set(b) and all(a[i][0] == b[i][0] for i in a):
        return [(i, a[i][0], a[i][1], b[i][1]) for i in a], []
    na, nb = names
    a_names = {v[0]: i for i, v in a.items() if v[0] is not None}
    b_names = {v[0]: i for i, v in b.items() if v[0] is not None}
    unique = len(a_names) == len(a) and len(b_names) == len(b)
    shared = [n for n in a_names if n in b_names]
    if unique and shared:
        moved = [f"{n} {a_names[n]} -> {b_names[n]}" for n in shared if a_names[n] != b_names[n]]
        only_a = [str(n) for n in a_names if n not in b_names]
        only_b = [str(n) for n in b_names if n not in a_names]
        bits = [f"the class lists of {na} and {nb} differ; per-class rows are joined by name"]
        if moved:
            bits.append(f"{plural(len(moved), 'class', 'classes')} have other ids ({_few(moved)})")
        if only_a:
            bits.append(f"only in {na}: {_few(only_a)}")
        if only_b:
            bits.append(f"only in {nb}: {_few(only_b)}")
        pairs = [(a_names[n], n, a[a_names[n]][1], b[b_names[n]][1]) for n in shared]
        return pairs, ["; ".join(bits)]
    differ = [f"{i}: {a[i][0]!r} vs {b[i][0]!r}" for i in a if i in b and a[i][0] != b[i][0]]
    only = len(set(a) ^ set(b))
    msg = f"the class lists of {na} and {nb} differ ("
    msg += ", ".join(filter(None, [f"names of ids {_few(differ)}" if differ else "",
                                   f"{plural(only, 'id')} in one report only" if only else ""]))
    msg += "); per-class rows are joined by class id"
    return [(i, a[i][0], a[i][1], b[i][1]) for i in a if i in b], [msg]


def _few(items: Sequence[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def compare_reports(base: Mapping, new: Mapping, *, names: tuple[str, str] = ("the base report", "the new report")
                    ) -> dict:
    """Per-metric and per-class deltas between two reports (values as fractions).

    Parameters
    ----------
    base, new : mapping
        Reports as :func:`build_report` / :func:`read_report` give them.
    names : (str, str)
        How messages name the two reports (the CLI passes the file names).

    Returns
    -------
    dict
        ``{"metrics": [{name, base, new, delta}], "per_class": [{id, name,
        metric, base, new, delta}], "same_data": bool, "warnings": [str]}``;
        ``delta = new - base`` (None when either side is undefined).

    Raises
    ------
    InputError
        The reports are of different tasks.
    FormatError
        A metric or per-class value is neither a number nor ``null`` (the
        message names the report and the key).

    Notes
    -----
    Undefined values (``null``, and a JSON ``NaN`` or ``Infinity`` that other
    writers may leave) compare as undefined, so a ``--max-drop`` gate on them
    fails.  Per-class rows join by ``id`` when both reports list the same ids
    with the same names; otherwise by name (when names are unique and some are
    shared), else by id, with a warning that says how they differ.  A
    different ``schema_version`` is a warning too.
    """
    if base.get("task") != new.get("task"):
        raise InputError(f"cannot compare a {base.get('task')} report with a {new.get('task')} report")
    na, nb = names
    warnings = []
    va, vb = base.get("schema_version"), new.get("schema_version")
    if va != vb:
        warnings.append(f"{na} has schema_version {va} and {nb} {vb}; both are read as schema {SCHEMA_VERSION}")

    def delta(a, b):
        return None if a is None or b is None else b - a

    ma = {k: _value(v, f"{na}: metrics.{k}") for k, v in base["metrics"].items()}
    mb = {k: _value(v, f"{nb}: metrics.{k}") for k, v in new["metrics"].items()}
    rows = [{"name": k, "base": ma[k], "new": mb[k], "delta": delta(ma[k], mb[k])} for k in ma if k in mb]
    def class_deltas(metric: str, pairs) -> list:
        return [{"id": cid, "name": name, "metric": metric, "base": a, "new": b, "delta": delta(a, b)}
                for cid, name, a, b in pairs]

    key, bkey = ("PQ", "BPQ") if base["task"] == "panoptic" else ("IoU", "BIoU")
    pairs, join_warnings = _join_classes(_class_rows(base, key, na), _class_rows(new, key, nb), names)
    warnings += join_warnings
    pc = class_deltas(key, pairs)
    b_base, b_new = _class_rows(base, bkey, na), _class_rows(new, bkey, nb)
    if b_base and b_new:  # both runs scored the boundary metric: its rows follow (same join)
        pc += class_deltas(bkey, _join_classes(b_base, b_new, names)[0])
    return {
        "metrics": rows,
        "per_class": pc,
        "same_data": base["dataset"].get("fingerprint") == new["dataset"].get("fingerprint"),
        "warnings": warnings,
    }


def _signed(d) -> str:
    return "n/a" if d is None else f"{100.0 * d:+.2f}"


def _signed_bracket(low, high) -> str:
    return "n/a" if low is None or high is None else f"[{_signed(low)}, {_signed(high)}]"


def _p(p) -> str:
    """A p-value for people: three decimals, ``<0.001`` below (the JSON keeps the value)."""
    return "n/a" if p is None else (f"{p:.3f}" if p >= 0.001 else "<0.001")


_MOVED = {True: "up", False: "down"}


def significance_line(cmp: Mapping) -> str:
    """How the intervals, p-values and flags of a comparison were computed (one line; empty
    without significance)."""
    sig = cmp.get("significance")
    if not sig:
        return ""
    swaps = f"all {plural(2 ** int(sig['images']), 'swap')}" if sig.get("exact_permutations") else \
        plural(int(sig["permutations"]), "random swap")
    corr = {"holm": "Holm", "bh": "Benjamini-Hochberg"}.get(sig.get("correction"), sig.get("correction"))
    return (f"interval: {100 * float(sig['level']):g}% paired {sig['method']} bootstrap of the delta over "
            f"{plural(int(sig['images']), 'image')} ({plural(int(sig['resamples']), 'resample')}, seed {sig['seed']}); "
            f"p: two-sided paired randomization test ({swaps}); per class: {corr}-adjusted p; "
            f"significant (up/down): p <= {sig['alpha']:g}")


def format_comparison(cmp: Mapping, *, per_class: bool = True, top: Optional[int] = None) -> str:
    """Table of metric values (percent) and deltas (percentage points), then per-class deltas
    sorted by change (most dropped first).

    With significance (``cmp["significance"]``, comparisons of run-state files) the tables
    also show the interval of each delta, its p-value (per class: adjusted for the
    classes) and whether the change is significant (``up`` / ``down``), and a last line
    says how they were computed.
    """
    sig = bool(cmp.get("significance"))
    if sig:
        rows = [[r["name"], _pct(r["base"]), _pct(r["new"]), _signed(r["delta"]),
                 _signed_bracket(r.get("low"), r.get("high")), _p(r.get("p_value")),
                 _MOVED.get(r["delta"] > 0) if r.get("significant") and r["delta"] else ""] for r in cmp["metrics"]]
        out = [_grid(["metric", "base %", "new %", "delta", "interval", "p", "significant"], rows, align_left=1)]
    else:
        rows = [[r["name"], _pct(r["base"]), _pct(r["new"]), _signed(r["delta"])] for r in cmp["metrics"]]
        out = [_grid(["metric", "base %", "new %", "delta (points)"], rows, align_left=1)]
    metrics_in_order = list(dict.fromkeys(r["metric"] for r in cmp["per_class"])) if per_class else []
    for metric in metrics_in_order:  # one table per per-class metric (IoU, then BIoU when scored)
        pcs = sorted((r for r in cmp["per_class"] if r["metric"] == metric),
                     key=lambda r: (r["delta"] is None, r["delta"] if r["delta"] is not None else 0))
        if top is not None:
            pcs = pcs[:top]
        header = ["id", "name", f"base {metric} %", f"new {metric} %", "delta"]
        if sig:
            header += ["interval", "adj. p", "moved"]

        def make_rows(compact: bool, pcs=pcs) -> list:
            out_rows = []
            for r in pcs:
                row = [str(r["id"]), str(r["name"]), _pct(r["base"]), _pct(r["new"]), _signed(r["delta"])]
                if sig:
                    row += [_signed_bracket(r.get("low"), r.get("high")), _p(r.get("p_adjusted")),
                            _MOVED.get(r["delta"] > 0) if r.get("significant") and r["delta"] else ""]
                out_rows.append(row)
            return out_rows

        out += ["", _fit_grid(header, make_rows, align_left=2, name_col=1)]
    if sig:
        out += ["", textwrap.fill(significance_line(cmp), TABLE_WIDTH)]
    return "\n".join(out) + "\n"


def check_max_drop(cmp: Mapping, max_drop: Mapping[str, float]) -> list[str]:
    """Reasons why a metric fell by more than ``max_drop`` percentage points (an undefined
    value on either side fails)."""
    by_name = {r["name"]: r for r in cmp["metrics"]}
    reasons = []
    for name, limit in max_drop.items():
        if name not in by_name:
            raise InputError(f"--max-drop: metric {name!r} is not in both reports; available: {', '.join(by_name)}")
        r = by_name[name]
        if r["delta"] is None:
            side = " and ".join(s for s in ("base", "new") if r[s] is None)
            reasons.append(f"{name} is undefined (null or NaN) in the {side} report")
        elif -100.0 * r["delta"] > limit + 1e-9:
            reasons.append(f"{name} dropped {-100.0 * r['delta']:.2f} points "
                           f"({_pct(r['base'])} -> {_pct(r['new'])}), more than {limit:g}")
    return reasons


def significant_drop_reasons(cmp: Mapping, limits: Mapping[str, float], failed: Sequence[str], alpha: float
                             ) -> list[str]:
    """The lines of a failed ``--max-significant-drop`` gate: the ``failed`` metrics (decided by
    :meth:`segmetrics.stats.results.RunComparison.significant_drops`) and every gated metric
    that is undefined in a run."""
    by_name = {r["name"]: r for r in cmp["metrics"]}
    reasons = []
    for name in limits:
        r = by_name.get(name)
        if r is None:
            raise InputError(f"--max-significant-drop: metric {name!r} is not in both runs; available: "
                             f"{', '.join(by_name)}")
        if r["delta"] is None:
            reasons.append(f"{name} is undefined (null or NaN) in the "
                           f"{' and '.join(s for s in ('base', 'new') if r[s] is None)} run")
        elif name in failed:
            reasons.append(f"{name} dropped {-100.0 * r['delta']:.2f} points ({_pct(r['base'])} -> {_pct(r['new'])}), "
                           f"more than {limits[name]:g}, and the drop is significant "
                           f"(p = {_p(r['p_value'])} <= {alpha:g})")
    return reasons
