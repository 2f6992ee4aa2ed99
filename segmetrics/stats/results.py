"""Statistics of results: what ``eval`` / ``report`` add with ``--ci``, ``--worst`` and ``--slices``,
and the paired comparison of two runs that ``segmetrics compare`` prints.

A result (:class:`~segmetrics.semantic.SemanticResult` or
:class:`~segmetrics.panoptic.PanopticResult`, from a folder run or
:func:`segmetrics.load_state`) keeps per-image counts in its state when the
run asked for them (``per_image=True``).  This module wraps them once
(:func:`counts_of`), runs the statistics of :mod:`segmetrics.stats` on them and
writes what they find in the report's layout (``docs/json_schema.md``): the
``intervals``, ``worst`` and ``slices`` keys of a report, and the comparison
document of ``segmetrics compare --json``.  Results are read duck-typed
(``task``, ``state``, ``to_report``, ``per_image_rows``): nothing here imports
the evaluators.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..report import json_ready
from .counts import PanopticCounts, SemanticCounts, _Counts
from .paired import CORRECTIONS, Comparison, compare, significant_drops
from .resample import Intervals, bootstrap, check_options
from .scores import worst
from .slices import Manifest, Slice, read_manifest, slice_metrics

__all__ = ["REPORT_KEYS", "counts_of", "intervals_of", "intervals_json", "worst_rows", "attach_manifest",
           "slices_of", "slices_json", "report_extras", "RunComparison", "compare_results", "comparison_document", "primary_score"]

#: Per-class keys of the statistics -> the report's per-class column names.
REPORT_KEYS = {"pq": "PQ", "sq": "SQ", "rq": "RQ", "bpq": "BPQ", "bsq": "BSQ", "brq": "BRQ"}

#: The parameters that set the boundary band: two runs' boundary metrics compare only when they agree.
_BAND_PARAMS = ("dilation_ratio", "dilation")


def primary_score(task: str) -> str:
    """The headline metric that orders images and slices: ``mIoU`` (semantic) or ``PQ`` (panoptic)."""
    return "PQ" if task == "panoptic" else "mIoU"


def counts_of(result) -> _Counts:
    """The per-image counts of a result, ready for :mod:`segmetrics.stats` (rows in image-id order).

    With per-image boundary counts in the state (a ``boundary=True`` run) the
    counts carry them too, so every statistic also covers ``mBIoU mMinIoU`` /
    ``BPQ BSQ BRQ`` and their per-class values.

    Raises
    ------
    InputError
        The result kept no per-image counts (evaluate with ``per_image=True``;
        the CLI keeps them whenever an option needs them).
    """
    st = result.state
    if st is None or not st.per_image_kept:
        raise InputError("this result keeps no per-image counts: evaluate with per_image=True (the CLI keeps them "
                         "for --ci, --per-image, --worst, --slices, --html and --save-state)")
    band = "boundary_image" in st.groups
    if result.task == "semantic":
        boundary = (st.image_boundary_inter, st.image_boundary_gt, st.image_boundary_pred) if band else None
        return SemanticCounts(st.image_tp, st.image_fp, st.image_fn, absent_rule=result.absent_rule,
                              class_names=result.class_names, image_ids=st.image_ids, boundary=boundary)
    cats = result.categories
    boundary = (st.image_btp, st.image_bfp, st.image_bfn, st.image_boundary_iou_sum()) if band else None
    return PanopticCounts(st.image_tp, st.image_fp, st.image_fn, st.image_iou_sum(),
                          np.array([bool(c["isthing"]) for c in cats], dtype=bool),
                          category_names=[str(c.get("name", c["id"])) for c in cats], image_ids=st.image_ids,
                          boundary=boundary)


def intervals_of(result, *, level: float = 0.95, resamples: int = 1000, seed: int = 0,
                 method: str = "percentile") -> Intervals:
    """Bootstrap intervals of every headline metric and per-class value of a result
    (:func:`segmetrics.stats.bootstrap` on :func:`counts_of`)."""
    return bootstrap(counts_of(result), resamples=resamples, seed=seed, level=level, method=method)


def _finite(v) -> Optional[float]:
    v = float(v)
    return v if math.isfinite(v) else None


def _bounds(low, high) -> Optional[dict]:
    lo, hi = _finite(low), _finite(high)
    return None if lo is None or hi is None else {"low": lo, "high": hi}


def intervals_json(iv: Intervals) -> dict:
    """The report's ``intervals`` key.

    Returns
    -------
    dict
        ``{metric: {low, high, level, method, resamples, seed}}`` per headline
        metric (``low`` / ``high`` None when undefined) and ``"per_class":
        {column: [{low, high} or None, ...]}``, one entry per row of the
        report's ``per_class``, under the report's column names (``IoU``,
        ``Acc``, ... / ``PQ``, ``SQ``, ``RQ``).
    """
    common = {"level": iv.level, "method": iv.method, "resamples": iv.resamples, "seed": iv.seed}
    out: dict = {k: {"low": _finite(iv.low[k]), "high": _finite(iv.high[k]), **common} for k in iv.headline}
    out["per_class"] = {REPORT_KEYS.get(k, k): [_bounds(lo, hi) for lo, hi in zip(iv.low[k], iv.high[k])]
                        for k in iv.per_class}
    return out


def worst_rows(result, k: int, key: Optional[str] = None) -> list:
    """The per-image rows (as the per-image CSV, without per-class columns) of the ``k`` images
    with the lowest ``key`` (default :func:`primary_score`), lowest first.

    Notes
    -----
    :func:`segmetrics.stats.worst`: ties keep image order; images whose score is
    undefined (nothing to score in them) come last.
    """
    rows = result.per_image_rows(per_class=False)
    if rows is None:
        counts_of(result)  # raises the one message
    key = key or primary_score(result.task)
    if rows and key not in rows[0]:
        raise InputError(f"unknown per-image score {key!r}; available: "
                         f"{', '.join(c for c in rows[0] if c != 'image_id')}")
    values = np.array([math.nan if r[key] is None else float(r[key]) for r in rows], dtype=np.float64)
    return [rows[i] for i in worst({key: values}, k, key).tolist()]


def attach_manifest(result, manifest, *, attributes: Optional[Sequence[str]] = None):
    """``result`` with a slice manifest (a CSV path or a :class:`Manifest` read for its image ids)."""
    ids = counts_of(result).image_ids
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest, ids, attributes=attributes)
    elif any(len(manifest.values[a]) != len(ids) for a in manifest.attributes):
        raise InputError(f"the manifest was read for other images ({len(ids)} in this result)")
    return dataclasses.replace(result, manifest=manifest)


def slices_of(result, *, intervals: Optional[Intervals] = None, manifest: Optional[Manifest] = None) -> list:
    """Metrics per (attribute, value) of the result's manifest; with ``intervals``, each slice gets
    a bootstrap interval with the same level, method, resamples and seed."""
    manifest = manifest if manifest is not None else result.manifest
    if manifest is None:
        raise InputError("this result has no slice manifest (with_slices(path), CLI --slices)")
    iv = intervals
    opts = {} if iv is None else dict(resamples=iv.resamples, seed=iv.seed, level=iv.level, method=iv.method)
    return slice_metrics(counts_of(result), manifest, ci=iv is not None, **opts)


def slices_json(slices: Sequence[Slice]) -> list:
    """The report's ``slices`` key: ``[{attribute, value, images, metrics, intervals}]`` (headline
    metrics; ``intervals`` ``{metric: {low, high}}`` only when computed)."""
    out = []
    for s in slices:
        row = {"attribute": s.attribute, "value": s.value, "images": s.num_images,
               "metrics": {k: _finite(v) for k, v in s.metrics.items() if np.ndim(v) == 0}}
        if s.intervals is not None:
            row["intervals"] = {k: _bounds(s.intervals.low[k], s.intervals.high[k]) for k in s.intervals.headline}
        out.append(row)
    return out


def report_extras(result, report: dict, *, intervals: Optional[Intervals] = None, worst: Optional[int] = None
                  ) -> dict:
    """Add ``intervals``, ``worst`` and ``slices`` (when the result has a manifest) to ``report``."""
    if intervals is not None:
        report["intervals"] = intervals_json(intervals)
    if worst:
        report["worst"] = json_ready(worst_rows(result, worst))
    manifest = getattr(result, "manifest", None)
    if manifest is not None:
        report["slices"] = slices_json(slices_of(result, intervals=intervals))
        report["notes"] = list(report["notes"]) + [n for n in manifest.notes if n not in report["notes"]]
    return report


# ----------------------------------------------------------------------------- two runs
@dataclasses.dataclass(frozen=True)
class RunComparison:
    """Two runs of the same images compared metric by metric and class by class.

    Attributes
    ----------
    comparison : segmetrics.stats.Comparison
        The numbers (delta, paired bootstrap interval, randomization p-value).
    base_report, new_report : dict
        The two runs' reports.
    names : (str, str)
        How the runs are named (the CLI passes the file names).
    alpha : float
        Significance level of the ``significant`` flags.
    correction : {"holm", "bh"}
        Multiple-comparison correction over the classes.
    warnings : tuple of str
        What the comparison left out (boundary metrics of runs whose bands differ).
    """

    comparison: Comparison
    base_report: dict
    new_report: dict
    names: tuple
    alpha: float
    correction: str
    warnings: tuple = ()

    @property
    def per_class_metric(self) -> str:
        return "PQ" if self.base_report["task"] == "panoptic" else "IoU"

    def rows(self) -> dict:
        """Rows in the layout of :func:`segmetrics.report.compare_reports`, with ``low``, ``high``,
        ``p_value`` and ``significant`` (headline) and ``p_adjusted`` (per class) added.

        Headline metrics without per-image counts (the panoptic category-map
        metrics) have a delta but no interval or p-value.
        """
        c, alpha = self.comparison, self.alpha
        metrics = []
        for name, b in self.base_report["metrics"].items():
            nv = self.new_report["metrics"].get(name)
            row = {"name": name, "base": b, "new": nv,
                   "delta": None if b is None or nv is None else nv - b,
                   "low": None, "high": None, "p_value": None, "significant": None}
            if name in c.headline:
                p = _finite(c.p_value[name])
                row.update(low=_finite(c.low[name]), high=_finite(c.high[name]), p_value=p,
                           significant=None if p is None else bool(p <= alpha))
            metrics.append(row)
        main = {"IoU": "IoU", "PQ": "pq"}[self.per_class_metric]
        keys = [main] + [k for k in ("BIoU", "bpq") if k in c.per_class]  # boundary rows when both runs scored it
        per_class = []
        for key in keys:
            metric = REPORT_KEYS.get(key, key)
            adjusted = (c.p_holm if self.correction == "holm" else c.p_bh)[key]
            for i, (rb, rn) in enumerate(zip(self.base_report["per_class"], self.new_report["per_class"])):
                b, nv = rb.get(metric), rn.get(metric)
                adj = _finite(adjusted[i])
                per_class.append({
                    "id": rb.get("id"), "name": rb.get("name"), "metric": metric, "base": b, "new": nv,
                    "delta": None if b is None or nv is None else nv - b, "low": _finite(c.low[key][i]),
                    "high": _finite(c.high[key][i]), "p_value": _finite(c.p_value[key][i]), "p_adjusted": adj,
                    "significant": None if adj is None else bool(adj <= alpha)})
        return {"metrics": metrics, "per_class": per_class, "same_data": True, "warnings": list(self.warnings),
                "significance": self.settings()}

    def settings(self) -> dict:
        """How the significance was computed (the ``significance`` key of the document)."""
        c = self.comparison
        return {"level": c.level, "method": c.method, "resamples": c.resamples, "seed": c.seed,
                "permutations": c.permutations, "exact_permutations": c.exact, "images": c.num_images,
                "alpha": self.alpha, "correction": self.correction}

    def significant_drops(self, limits: Mapping[str, float]) -> list:
        """Metrics that dropped by more than ``limits[m]`` percentage points with a two-sided
        randomization p-value ``<= alpha`` (:func:`segmetrics.stats.significant_drops`)."""
        unknown = [m for m in limits if m not in self.comparison.headline]
        if unknown:
            raise InputError(f"--max-significant-drop: {unknown[0]!r} has no per-image significance; available: "
                             f"{', '.join(self.comparison.headline)}")
        return [m for m, points in limits.items()
                if significant_drops(self.comparison, alpha=self.alpha, metrics=[m], min_drop=points / 100.0)]


def _check_same_images(base, new, names: tuple) -> None:
    """One clear refusal when two results did not score the same ground truth and images."""
    a, b = names
    if base.task != new.task:
        raise InputError(f"cannot compare a {base.task} run ({a}) with a {new.task} run ({b})")
    fa, fb = base.dataset.get("fingerprint"), new.dataset.get("fingerprint")
    if fa and fb and fa != fb:
        raise InputError(f"{a} and {b} scored different ground truth (fingerprints {str(fa)[:19]} vs "
                         f"{str(fb)[:19]}): a paired comparison needs the same images")


def _paired_counts(base, new, names: tuple) -> tuple[_Counts, _Counts, list]:
    """The two results' counts for a paired comparison, and warnings.

    Boundary counts take part only when both runs have them with the same band
    (``dilation_ratio`` / ``dilation``); otherwise both sides are compared on
    their mask counts, and different bands are named in a warning.
    """
    cb, cn = counts_of(base), counts_of(new)
    if not (cb.has_boundary or cn.has_boundary):
        return cb, cn, []
    bands = [tuple((getattr(r, "params", None) or {}).get(k) for k in _BAND_PARAMS) for r in (base, new)]
    if cb.has_boundary and cn.has_boundary and bands[0] == bands[1]:
        return cb, cn, []
    warnings = []
    if cb.has_boundary and cn.has_boundary:
        shown = [", ".join(f"{k} {v}" for k, v in zip(_BAND_PARAMS, b) if v is not None) or "default" for b in bands]
        warnings.append(f"{names[0]} and {names[1]} measured boundaries with different bands ({shown[0]} vs "
                        f"{shown[1]}): no interval or p-value for the boundary metrics")
    return cb.mask_only(), cn.mask_only(), warnings


def compare_results(base, new, *, names: tuple = ("base", "new"), level: float = 0.95, resamples: int = 1000,
                    seed: int = 0, method: str = "percentile", permutations: Optional[int] = None,
                    alpha: float = 0.05, correction: str = "holm") -> RunComparison:
    """Compare two results of the same images (see :func:`segmetrics.compare_states`)."""
    if correction not in CORRECTIONS:
        raise InputError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise InputError(f"alpha must be in (0, 1), e.g. 0.05, got {alpha!r}")
    check_options(resamples, seed, level, method)
    _check_same_images(base, new, names)
    cb, cn, warnings = _paired_counts(base, new, names)
    why = cb.same_setup(cn)
    if why:
        raise InputError(f"cannot compare {names[0]} and {names[1]} image by image: {why}")
    cmp = compare(cb, cn, resamples=resamples, seed=seed, level=level, method=method, permutations=permutations)
    return RunComparison(cmp, base.to_report(), new.to_report(), tuple(names), float(alpha), correction,
                         tuple(warnings))


def comparison_document(rows: Mapping, *, names: Sequence[str], task: str) -> dict:
    """The document ``segmetrics compare --json`` writes, from comparison rows (:meth:`RunComparison.rows`
    or :func:`segmetrics.report.compare_reports`).

    ``{"task", "base", "new", "same_data", "significance", "metrics": {name: {base, new, delta, low,
    high, p_value}}, "per_class": [{id, name, metric, base, new, delta, low, high, p_value,
    p_adjusted, significant}], "warnings", "notes"}``; without per-image counts (two JSON reports)
    ``significance`` is None and the interval and p-value fields are None.
    """
    fields = ("base", "new", "delta", "low", "high", "p_value")
    sig = rows.get("significance")
    notes = [] if sig else ["significance (intervals, p-values) needs run-state files: compare BASE.smstate "
                            "NEW.smstate (eval --save-state)"]
    return json_ready({
        "task": task, "base": str(names[0]), "new": str(names[1]), "same_data": rows.get("same_data"),
        "significance": sig,
        "metrics": {r["name"]: {f: r.get(f) for f in fields} for r in rows["metrics"]},
        "per_class": [{**{k: r.get(k) for k in ("id", "name", "metric")}, **{f: r.get(f) for f in fields},
                       "p_adjusted": r.get("p_adjusted"), "significant": r.get("significant")}
                      for r in rows["per_class"]],
        "warnings": list(rows.get("warnings", [])), "notes": notes,
    })
