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

import csv
import io
import json
import math
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from ._version import __version__
from .errors import InputError

__all__ = [
    "SCHEMA_VERSION",
    "SEMANTIC_METRICS",
    "PANOPTIC_METRICS",
    "json_ready",
    "build_report",
    "to_json",
    "format_table",
    "format_markdown",
    "format_csv",
    "parse_metric_spec",
    "check_fail_under",
    "compare_reports",
    "format_comparison",
    "check_max_drop",
]

SCHEMA_VERSION = 1
SEMANTIC_METRICS: tuple[str, ...] = ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice")
PANOPTIC_METRICS: tuple[str, ...] = (
    "PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st",
)
_SEMANTIC_PER_CLASS = ("IoU", "Acc", "Dice", "Precision", "Recall")
_PANOPTIC_PER_CLASS = ("PQ", "SQ", "RQ")


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
    return json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- text
def _pct(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100.0 * v:.2f}"


def _headline_keys(report: Mapping) -> list[str]:
    order = PANOPTIC_METRICS + SEMANTIC_METRICS if report["task"] == "panoptic" else SEMANTIC_METRICS
    return [k for k in order if k in report["metrics"]]


def _per_class_columns(report: Mapping) -> tuple[list[str], list[str]]:
    """(percentage columns, count columns) present in the per-class rows."""
    rows = report["per_class"]
    if not rows:
        return [], []
    pct = _PANOPTIC_PER_CLASS if report["task"] == "panoptic" else _SEMANTIC_PER_CLASS
    cnt = ("TP", "FP", "FN") if report["task"] == "panoptic" else ("gt_pixels", "pred_pixels")
    return [c for c in pct if c in rows[0]], [c for c in cnt if c in rows[0]]


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], align_left: int = 0) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(str(c).ljust(w) if i < align_left else str(c).rjust(w))
        return "  ".join(out).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _title(report: Mapping) -> str:
    d = report["dataset"]
    preset = report["params"].get("preset")
    bits = [f"segmetrics {report['segmetrics_version']}", report["task"], f"{d.get('images', '?')} images"]
    if preset:
        bits.append(f"preset {preset}")
    if d.get("missing_predictions"):
        bits.append(f"{d['missing_predictions']} missing predictions scored as void")
    return " | ".join(bits)


def format_table(report: Mapping, *, per_class: bool = False) -> str:
    """Human-readable report: headline metrics (percent) and optionally per-class rows."""
    keys = _headline_keys(report)
    parts = [_title(report), "", _grid(keys, [[_pct(report["metrics"][k]) for k in keys]])]
    if per_class and report["per_class"]:
        pct, cnt = _per_class_columns(report)
        header = ["id", "name"] + pct + cnt
        if report["task"] == "panoptic":
            header.insert(2, "kind")
        rows = []
        for r in report["per_class"]:
            row = [str(r.get("id")), str(r.get("name"))]
            if report["task"] == "panoptic":
                row.append("thing" if r.get("isthing") else "stuff")
            row += [_pct(r.get(c)) for c in pct] + [str(r.get(c)) for c in cnt]
            rows.append(row)
        parts += ["", _grid(header, rows, align_left=2 + (report["task"] == "panoptic"))]
    return "\n".join(parts) + "\n"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_markdown(report: Mapping, *, per_class: bool = False) -> str:
    """GitHub-flavoured Markdown (for PR comments); per-class rows go in a ``<details>`` block."""
    keys = _headline_keys(report)
    d = report["dataset"]
    out = [f"### segmetrics: {report['task']}", "", _title(report), ""]
    out.append(_md_table(keys, [[_pct(report["metrics"][k]) for k in keys]]))
    fp = d.get("fingerprint")
    if fp:
        out += ["", f"GT fingerprint `{fp[:19]}`"]
    if per_class and report["per_class"]:
        pct, cnt = _per_class_columns(report)
        rows = [[r.get("id"), r.get("name")] + [_pct(r.get(c)) for c in pct] + [r.get(c) for c in cnt]
                for r in report["per_class"]]
        out += ["", "<details><summary>Per class</summary>", "",
                _md_table(["id", "name"] + pct + cnt, rows), "", "</details>"]
    if report.get("warnings"):
        out += ["", "Warnings:", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(out) + "\n"


def format_csv(rows: Sequence[Mapping]) -> str:
    """Rows (dicts of scalars) as CSV; columns = union of keys in first-seen order; NaN -> empty."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
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
def parse_metric_spec(spec: str, *, allowed: Optional[Iterable[str]] = None) -> dict[str, float]:
    """Parse ``"mIoU=45.0,PQ=40"`` into ``{"mIoU": 45.0, "PQ": 40.0}`` (percent).

    Raises
    ------
    InputError
        Malformed item, duplicate or unknown metric (the message lists the known ones).
    """
    out: dict[str, float] = {}
    allowed = list(allowed) if allowed is not None else None
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"expected METRIC=PERCENT, got {item!r} (e.g. mIoU=45.0,PQ=40)")
        try:
            v = float(value)
        except ValueError:
            raise InputError(f"{name}: {value.strip()!r} is not a number (percent expected)") from None
        if not math.isfinite(v):
            raise InputError(f"{name}: threshold must be finite, got {value.strip()!r}")
        if allowed is not None and name not in allowed:
            raise InputError(f"unknown metric {name!r}; known: {', '.join(allowed)}")
        if name in out:
            raise InputError(f"metric {name!r} given twice")
        out[name] = v
    if not out:
        raise InputError(f"no METRIC=PERCENT item in {spec!r}")
    return out


def check_fail_under(report: Mapping, thresholds: Mapping[str, float]) -> list[str]:
    """Reasons (one per failed metric) why ``report`` misses ``thresholds`` (percent)."""
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
            reasons.append(f"{name} {100.0 * v:.2f} < {limit:g}")
    return reasons


def compare_reports(base: Mapping, new: Mapping) -> dict:
    """Per-metric and per-class deltas between two reports (values as fractions).

    Returns
    -------
    dict
        ``{"metrics": [{name, base, new, delta}], "per_class": [{id, name,
        metric, base, new, delta}], "same_data": bool}``; ``delta = new - base``
        (None when either side is undefined).  Per-class rows match by ``id``.
    """
    if base.get("task") != new.get("task"):
        raise InputError(f"cannot compare a {base.get('task')} report with a {new.get('task')} report")

    def delta(a, b):
        return None if a is None or b is None else b - a

    rows = [{"name": k, "base": base["metrics"][k], "new": new["metrics"][k],
             "delta": delta(base["metrics"][k], new["metrics"][k])}
            for k in base["metrics"] if k in new["metrics"]]
    key = "PQ" if base["task"] == "panoptic" else "IoU"
    new_pc = {r.get("id"): r for r in new.get("per_class", [])}
    pc = []
    for r in base.get("per_class", []):
        other = new_pc.get(r.get("id"))
        if other is None or key not in r:
            continue
        pc.append({"id": r.get("id"), "name": r.get("name"), "metric": key,
                   "base": r[key], "new": other.get(key), "delta": delta(r[key], other.get(key))})
    return {
        "metrics": rows,
        "per_class": pc,
        "same_data": base["dataset"].get("fingerprint") == new["dataset"].get("fingerprint"),
    }


def _signed(d) -> str:
    return "n/a" if d is None else f"{100.0 * d:+.2f}"


def format_comparison(cmp: Mapping, *, per_class: bool = True, top: Optional[int] = None) -> str:
    """Table of metric deltas (percentage points), then per-class deltas sorted by change."""
    rows = [[r["name"], _pct(r["base"]), _pct(r["new"]), _signed(r["delta"])] for r in cmp["metrics"]]
    out = [_grid(["metric", "base", "new", "delta"], rows, align_left=1)]
    if per_class and cmp["per_class"]:
        pcs = sorted(cmp["per_class"], key=lambda r: (r["delta"] is None, r["delta"] if r["delta"] is not None else 0))
        if top is not None:
            pcs = pcs[:top]
        metric = pcs[0]["metric"] if pcs else ""
        out += ["", _grid(["id", "name", f"base {metric}", f"new {metric}", "delta"],
                          [[str(r["id"]), str(r["name"]), _pct(r["base"]), _pct(r["new"]), _signed(r["delta"])]
                           for r in pcs], align_left=2)]
    return "\n".join(out) + "\n"


def check_max_drop(cmp: Mapping, max_drop: Mapping[str, float]) -> list[str]:
    """Reasons why a metric fell by more than ``max_drop`` percentage points."""
    by_name = {r["name"]: r for r in cmp["metrics"]}
    reasons = []
    for name, limit in max_drop.items():
        if name not in by_name:
            raise InputError(f"--max-drop: metric {name!r} is not in both reports; available: {', '.join(by_name)}")
        r = by_name[name]
        if r["delta"] is None:
            reasons.append(f"{name} is undefined in one report")
        elif -100.0 * r["delta"] > limit + 1e-9:
            reasons.append(f"{name} dropped {-100.0 * r['delta']:.2f} points "
                           f"({_pct(r['base'])} -> {_pct(r['new'])}), more than {limit:g}")
    return reasons
