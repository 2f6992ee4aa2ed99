"""What the pictures are made from: :class:`ReportData` and the views both renderers share.

The HTML report (:mod:`.html`) and the matplotlib figures (:mod:`.plots`) draw
the same things; every choice of *what* to draw (which metric, which order,
which classes, which interval, which images are the worst) is made here, once.

Inputs are plain data: the JSON report dict of ``segmetrics eval --json``
(``docs/json_schema.md``) plus optional extras.  Nothing here reads files
except :meth:`ReportData.from_files`.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .palettes import class_colors

__all__ = [
    "GalleryImage",
    "ReportData",
    "SEMANTIC_PER_CLASS",
    "PANOPTIC_PER_CLASS",
    "is_fraction",
    "headline_metric",
    "per_class_metric",
    "per_class_columns",
    "class_interval",
    "metric_interval",
    "per_class_series",
    "confusion_view",
    "top_confused",
    "worst_images",
    "comparison_view",
]

SEMANTIC_PER_CLASS = ("IoU", "Acc", "Dice", "Precision", "Recall")
PANOPTIC_PER_CLASS = ("PQ", "SQ", "RQ", "IoU", "Acc")
_COUNTS = ("TP", "FP", "FN", "gt_pixels", "pred_pixels", "images", "pixels", "classes")
#: keys that are never fractions even though they are numbers
_NOT_FRACTIONS = set(_COUNTS) | {"N", "N_th", "N_st", "id", "category_id", "resamples", "seed", "p_value",
                                 "p_adjusted", "level"}


@dataclass(frozen=True)
class GalleryImage:
    """Files of one image for the worst-K gallery.

    Attributes
    ----------
    image_id : Any
        As in the per-image rows (``per_image[i]["image_id"]``).
    gt_path : path-like
        Semantic: the GT label PNG; panoptic: the GT id PNG (RGB).
    pred_path : path-like or None
        The prediction file in the same format; None when the prediction is missing.
    gt_segments, pred_segments : list of dict, optional
        Panoptic ``segments_info`` of both sides.
    image_path : path-like, optional
        The input photo (otherwise looked up in ``images_dir`` by
        :func:`segmetrics.render.gallery.find_input_image`).
    """

    image_id: Any
    gt_path: Any
    pred_path: Any = None
    gt_segments: Optional[Sequence[Mapping]] = None
    pred_segments: Optional[Sequence[Mapping]] = None
    image_path: Any = None


@dataclass
class ReportData:
    """Everything a report or a figure can show; only ``report`` is required.

    Attributes
    ----------
    report : dict
        The JSON report of ``segmetrics eval --json`` (schema v1: ``task``,
        ``params``, ``dataset``, ``metrics``, ``per_class``, ``warnings``).
    confusion : ndarray of int64, optional
        Rows = GT.  Semantic: ``(K, K)``; panoptic: the ``(K + 1) x (K + 1)``
        category-map matrix (last column: predicted void; last row: GT void,
        not scored).
    per_image : list of dict, optional
        One row per image: ``image_id`` and scores (as the per-image CSV:
        ``aAcc``, ``mIoU``, ... or ``TP``, ``FP``, ``FN``, ``PQ``, ...).
    intervals : dict, optional
        ``{metric: {low, high, level, method, resamples, seed}}`` for headline
        metrics, and optionally ``"per_class": {metric: intervals}`` where
        ``intervals`` is a list aligned with ``report["per_class"]`` or a dict
        keyed by class id, each ``{low, high}`` (or None).
    slices : list of dict, optional
        ``{attribute, value, images, metrics: {k: v}, intervals: {k: {low, high}}}``
        per (attribute, value); value ``"__unassigned__"`` for unlisted images.
    boundary : dict, optional
        Boundary metrics: ``{"metrics": {k: v}, "per_class": [rows], "params": {...}}``
        (rows like ``report["per_class"]``, with ``id`` and ``name``).
    comparison : dict, optional
        For :func:`segmetrics.render.render_compare_html`: ``metrics`` (a dict
        ``{name: {base, new, delta, low, high, p_value}}`` or the list of
        :func:`segmetrics.report.compare_reports`), ``per_class`` (rows with
        ``id, name, metric, base, new, delta`` and optional ``low, high,
        p_value, p_adjusted, significant``), optional ``alpha`` and ``correction``, and
        optional ``metrics_rule`` / ``per_class_rule``: how ``significant`` was decided, in words.
    base_report : dict, optional
        The base run's JSON report (compare page header).
    images : list of GalleryImage
        Files of the images the gallery may show (any subset of the per-image rows).
    categories : list of dict, optional
        Panoptic COCO categories (``id, name, isthing`` and optional ``color``);
        default: from the report's per-class rows.
    palette : array_like or dict, optional
        Class colours (see :func:`segmetrics.render.palettes.class_colors`).
    gt_map, pred_map : ndarray, optional
        Semantic raw value -> class lookup tables, as the evaluator used them
        (``SemanticEvaluator.gt_map`` / ``pred_map``).  Default: built from the
        report's ``params`` (``reduce_zero_label``, preset label map).
    score_key : str, optional
        Per-image score that orders the gallery (default ``mIoU`` / ``PQ``).
    """

    report: Mapping
    confusion: Optional[np.ndarray] = None
    per_image: Optional[Sequence[Mapping]] = None
    intervals: Optional[Mapping] = None
    slices: Optional[Sequence[Mapping]] = None
    boundary: Optional[Mapping] = None
    comparison: Optional[Mapping] = None
    base_report: Optional[Mapping] = None
    images: Sequence[GalleryImage] = field(default_factory=tuple)
    categories: Optional[Sequence[Mapping]] = None
    palette: Any = None
    gt_map: Optional[np.ndarray] = None
    pred_map: Optional[np.ndarray] = None
    score_key: Optional[str] = None

    def __post_init__(self):
        from ..errors import InputError

        r = self.report
        if not isinstance(r, Mapping) or r.get("task") not in ("semantic", "panoptic"):
            raise InputError("ReportData.report must be a segmetrics JSON report with task 'semantic' or 'panoptic'")
        for key in ("metrics", "per_class"):
            if key not in r:
                raise InputError(f"ReportData.report has no {key!r} (not a segmetrics JSON report?)")
        if self.confusion is not None:
            cm = np.asarray(self.confusion)
            k = len(r["per_class"])
            if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] not in (k, k + 1):
                raise InputError(f"confusion must be ({k}, {k}) or ({k + 1}, {k + 1}) for {k} classes, got {cm.shape}")
            self.confusion = cm.astype(np.int64, copy=False)

    # ---- basic facts
    @property
    def task(self) -> str:
        return self.report["task"]

    @property
    def names(self) -> list[str]:
        return [str(r.get("name", r.get("id"))) for r in self.report["per_class"]]

    @property
    def ids(self) -> list:
        return [r.get("id", i) for i, r in enumerate(self.report["per_class"])]

    def category_list(self) -> list[dict]:
        """Panoptic categories: the given ones, else from the per-class rows."""
        if self.categories is not None:
            return [dict(c) for c in self.categories]
        return [{"id": r["id"], "name": r.get("name", str(r["id"])), "isthing": int(bool(r.get("isthing", 0)))}
                for r in self.report["per_class"]]

    def colors(self) -> tuple[np.ndarray, str]:
        """Class colours (``(K, 3) uint8``) and where they come from."""
        ids = self.ids if self.task == "panoptic" else None
        cats = self.category_list() if self.task == "panoptic" else None
        return class_colors(self.names, ids=ids, categories=cats, palette=self.palette)

    @classmethod
    def from_result(cls, result, *, intervals=None, worst: Optional[int] = None, report: Optional[Mapping] = None,
                    **extras) -> "ReportData":
        """Everything a result holds: its report (with ``intervals`` when given, the worst images
        and the slices of its manifest), confusion matrix (panoptic: the category-map matrix),
        per-image rows and boundary metrics when the report has them.

        Parameters
        ----------
        result : SemanticResult or PanopticResult
        intervals : segmetrics.stats.Intervals, optional
            From ``result.intervals()``.
        worst : int, optional
            Also list the ``worst`` images in the report.
        report : dict, optional
            The report, when it was made already (``result.to_report(...)``).
        **extras
            Further fields (``images``, ``gt_map``, ``pred_map``, ``palette``, ...).
        """
        if report is None:
            report = result.to_report(intervals=intervals, worst=worst)
        boundary = report.get("boundary")
        extras.setdefault("per_image", result.per_image_rows(per_class=False))
        return cls(report=report, confusion=result.confusion, intervals=report.get("intervals"),
                   slices=report.get("slices"), boundary=boundary if isinstance(boundary, Mapping) else None,
                   **extras)

    @classmethod
    def from_files(cls, report_json, *, per_image_csv=None, **extras) -> "ReportData":
        """Read a JSON report (and optionally the per-image CSV) written by ``segmetrics eval``.

        CSV cells become floats where they parse as numbers, empty cells NaN,
        ``True`` / ``False`` booleans; ``image_id`` stays text unless every id
        is an integer (panoptic COCO ids).
        """
        from ..errors import DataFileError, FormatError

        path = Path(report_json)
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataFileError(f"cannot read report {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: not a JSON report ({exc})") from None
        rows = None
        if per_image_csv is not None:
            rows = _read_per_image_csv(Path(per_image_csv))
        return cls(report=report, per_image=rows, **extras)


def _read_per_image_csv(path: Path) -> list[dict]:
    from ..errors import DataFileError, FormatError

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            raw = list(csv.DictReader(fh))
    except OSError as exc:
        raise DataFileError(f"cannot read per-image CSV {path}: {exc.strerror or exc}") from None
    if raw and "image_id" not in raw[0]:
        raise FormatError(f"{path}: no 'image_id' column")

    def cell(v: str):
        if v == "":
            return math.nan
        if v in ("True", "False"):
            return v == "True"
        try:
            return float(v)
        except ValueError:
            return v

    ids = [r["image_id"] for r in raw]
    int_ids = all(i.lstrip("-").isdigit() for i in ids)
    return [{k: (int(v) if int_ids else v) if k == "image_id" else cell(v) for k, v in r.items()} for r in raw]


# ----------------------------------------------------------------------------- metrics
def is_fraction(key: str) -> bool:
    """Whether a metric key holds a fraction in [0, 1] (shown as a percentage)."""
    return key not in _NOT_FRACTIONS and not key.endswith("_pixels")


def headline_metric(data: ReportData) -> str:
    """The headline metric: ``mIoU`` (semantic) or ``PQ`` (panoptic)."""
    return "PQ" if data.task == "panoptic" else "mIoU"


def per_class_metric(data: ReportData) -> str:
    """The per-class metric of the bar chart and the comparison: ``IoU`` or ``PQ``."""
    return "PQ" if data.task == "panoptic" else "IoU"


def per_class_columns(rows: Sequence[Mapping], task: str) -> tuple[list[str], list[str]]:
    """(fraction columns, count columns) present in per-class rows, in a fixed order.

    Known columns come first (``IoU Acc Dice Precision Recall`` or ``PQ SQ RQ
    IoU Acc``, then ``TP FP FN`` / ``gt_pixels pred_pixels``), then any other
    numeric key in first-seen order (e.g. boundary metrics).
    """
    if not rows:
        return [], []
    known = PANOPTIC_PER_CLASS if task == "panoptic" else SEMANTIC_PER_CLASS
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    skip = {"id", "name", "isthing", "category_id"}
    frac = [k for k in known if k in keys]
    cnt = [k for k in _COUNTS if k in keys]
    for k in keys:
        if k in skip or k in frac or k in cnt:
            continue
        v = next((r.get(k) for r in rows if r.get(k) is not None), None)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        (frac if is_fraction(k) else cnt).append(k)
    return frac, cnt


def _interval(obj) -> Optional[tuple[float, float]]:
    if not isinstance(obj, Mapping):
        return None
    lo, hi = obj.get("low"), obj.get("high")
    if lo is None or hi is None:
        return None
    lo, hi = float(lo), float(hi)
    return None if math.isnan(lo) or math.isnan(hi) else (lo, hi)


def metric_interval(data: ReportData, metric: str) -> Optional[tuple[float, float]]:
    """``(low, high)`` of a headline metric, when intervals are given."""
    if not data.intervals:
        return None
    return _interval(data.intervals.get(metric))


def class_interval(data: ReportData, metric: str, index: int) -> Optional[tuple[float, float]]:
    """``(low, high)`` of a per-class value (row ``index`` of ``report["per_class"]``)."""
    if not data.intervals:
        return None
    table = (data.intervals.get("per_class") or {}).get(metric)
    if table is None:
        return None
    if isinstance(table, Mapping):
        row = data.report["per_class"][index]
        return _interval(table.get(row.get("id"), table.get(str(row.get("id")))))
    return _interval(table[index]) if index < len(table) else None


def _num(v) -> float:
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def per_class_series(data: ReportData, metric: Optional[str] = None) -> list[dict]:
    """Bars of the per-class chart: defined values, highest first.

    Returns
    -------
    list of dict
        ``{index, id, name, value, low, high, color}``; ``low``/``high`` are None
        without intervals.  Classes whose value is undefined (NaN) are left out
        (the table still lists them); ties keep class order.
    """
    metric = metric or per_class_metric(data)
    colors, _ = data.colors()
    out = []
    for i, row in enumerate(data.report["per_class"]):
        v = _num(row.get(metric))
        if math.isnan(v):
            continue
        iv = class_interval(data, metric, i)
        out.append({"index": i, "id": row.get("id", i), "name": str(row.get("name", i)), "value": v,
                    "low": iv[0] if iv else None, "high": iv[1] if iv else None, "color": colors[i]})
    out.sort(key=lambda r: -r["value"])
    return out


# ----------------------------------------------------------------------------- confusion
def confusion_view(data: ReportData) -> Optional[dict]:
    """The heatmap's matrix: row-normalised fractions with row and column names.

    Returns
    -------
    dict or None
        ``{counts, fractions, rows, cols}``: ``counts`` the shown int64 block,
        ``fractions = counts / row sum`` (NaN for a row with no GT pixel),
        ``rows`` / ``cols`` the names.  None without a confusion matrix.

    Notes
    -----
    Rows are GT classes, columns predictions.  A (K+1)-th column (panoptic
    predicted void, or predictions scored as void) is kept and named
    ``"void"``; a (K+1)-th row (GT void, never scored) is dropped.
    """
    if data.confusion is None:
        return None
    cm = data.confusion
    names = data.names
    k = len(names)
    counts = cm[:k, :]
    cols = names + (["void"] if cm.shape[1] > k else [])
    sums = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(sums > 0, counts / np.where(sums > 0, sums, 1.0), np.nan)
    return {"counts": counts, "fractions": frac, "rows": names, "cols": cols}


def top_confused(view: Mapping, n: int = 20) -> list[dict]:
    """The ``n`` largest off-diagonal cells of the row-normalised matrix.

    Returns
    -------
    list of dict
        ``{gt, pred, fraction, pixels}`` ordered by fraction, then pixel count,
        both descending, then row and column order; cells with no pixel are left out.
    """
    frac, counts = view["fractions"], view["counts"]
    k = frac.shape[0]
    f = np.where(np.isnan(frac), 0.0, frac)
    off = np.ones(frac.shape, dtype=bool)
    off[np.arange(k), np.arange(k)] = False
    rr, cc = np.nonzero(off & (counts > 0))
    order = np.lexsort((cc, rr, -counts[rr, cc], -f[rr, cc]))[:n]
    return [{"gt": view["rows"][r], "pred": view["cols"][c], "fraction": float(f[r, c]), "pixels": int(counts[r, c])}
            for r, c in zip(rr[order].tolist(), cc[order].tolist())]


# ----------------------------------------------------------------------------- images
def worst_images(data: ReportData, k: int) -> list[tuple[Mapping, Optional[GalleryImage]]]:
    """The ``k`` images with the lowest score, with their files when given.

    Notes
    -----
    Score: ``data.score_key`` or ``mIoU`` (semantic) / ``PQ`` (panoptic) of the
    per-image rows, ordered by :func:`segmetrics.stats.worst`: lowest first, ties
    in row order, undefined (NaN) scores last (an image with nothing to score is
    not a failure).  Without per-image
    rows the images given are shown in their order.  Only images whose files
    are given are returned when files are given for some images.
    """
    from ..stats import worst

    files = {_key(g.image_id): g for g in data.images}
    if not data.per_image:
        return [({"image_id": g.image_id}, g) for g in list(data.images)[:k]]
    key = data.score_key or headline_metric(data)
    rows = list(data.per_image)
    values = np.array([_num(r.get(key)) for r in rows], dtype=np.float64)
    out = []
    for i in worst({key: values}, len(rows), key).tolist():
        r = rows[i]
        g = files.get(_key(r.get("image_id")))
        if files and g is None:
            continue
        out.append((r, g))
        if len(out) >= k:
            break
    return out


def _key(image_id) -> str:
    return str(image_id)


# ----------------------------------------------------------------------------- comparison
def comparison_view(data: ReportData) -> dict:
    """Headline and per-class rows of a comparison, with a significance flag.

    Returns
    -------
    dict
        ``{metrics, per_class, alpha, main_metric, metrics_rule, per_class_rule}``:
        rows ``{name, base, new, delta, low, high, p_value, p_adjusted, significant}``
        (None where unknown); ``main_metric`` the metric of the first per-class row
        (IoU / PQ; BIoU / BPQ rows follow when both runs scored it); each rule says
        how that table's flags were decided (None when no row has one).

    Notes
    -----
    A row is significant when it says so (``significant``); else when it has
    ``p_adjusted`` and ``p_adjusted < alpha``; else, for headline metrics only,
    when ``p_value < alpha`` (a per-class family needs a multiple-comparison
    correction, so a raw per-class p-value decides nothing); otherwise it is
    None (unknown: JSON reports carry no p-values).  ``alpha`` defaults to 0.05.  The
    rules stated are the comparison's ``metrics_rule`` / ``per_class_rule`` when given.
    """
    from ..errors import InputError

    cmp = data.comparison
    if not isinstance(cmp, Mapping):
        raise InputError("render_compare_html needs ReportData.comparison")
    alpha = float(cmp.get("alpha", 0.05))
    metrics = cmp.get("metrics", [])
    if isinstance(metrics, Mapping):
        metrics = [dict(v, name=k) for k, v in metrics.items()]
    def norm(r: Mapping, per_class: bool, rules: set) -> dict:
        out = {k: r.get(k) for k in ("name", "id", "metric", "base", "new", "delta", "low", "high",
                                      "p_value", "p_adjusted")}
        if out["delta"] is None and out["base"] is not None and out["new"] is not None:
            out["delta"] = float(out["new"]) - float(out["base"])
        sig = r.get("significant")
        if sig is None and out["p_adjusted"] is not None:
            sig = float(out["p_adjusted"]) < alpha
            rules.add(f"adjusted p < {alpha:g}" + (f" ({cmp['correction']})" if cmp.get("correction") else ""))
        elif sig is None and out["p_value"] is not None and not per_class:
            sig = float(out["p_value"]) < alpha
            rules.add(f"p < {alpha:g}")
        elif sig is not None:
            rules.add("as given")
        out["significant"] = None if sig is None else bool(sig)
        return out

    m_rules: set = set()
    c_rules: set = set()
    rows = [norm(r, False, m_rules) for r in metrics]
    pcs = [norm(r, True, c_rules) for r in cmp.get("per_class", [])]
    main = next((r["metric"] for r in pcs if r.get("metric")), None)
    return {"metrics": rows, "per_class": pcs, "alpha": alpha, "main_metric": main,
            "metrics_rule": cmp.get("metrics_rule") or ("; ".join(sorted(m_rules)) if m_rules else None),
            "per_class_rule": cmp.get("per_class_rule") or ("; ".join(sorted(c_rules)) if c_rules else None)}
