"""Panoptic quality (PQ, SQ, RQ) with panopticapi's matching rules, plus category-map metrics.

Per image, one compiled pass (:mod:`segmetrics._kernels.panoptic`, GIL released)
counts the GT x prediction intersection table of the segments; matching runs
on that small table.  The per-image statistics are added to a mergeable
:class:`~segmetrics.state.PanopticState`; :meth:`PanopticEvaluator.compute`
turns it into a frozen :class:`PanopticResult` with the formula of
:mod:`segmetrics.pq`.

Matching rules (panopticapi's, exactly)
---------------------------------------
* A GT segment ``g`` and a predicted segment ``p`` match iff they have the same
  category, ``g`` is not crowd and ``IoU > 0.5`` (strict), where
  ``IoU = |g & p| / (|p| + |g| - |g & p| - |p & void|)``.
* ``|g|`` is the GT area from the JSON ``area`` field (as panopticapi does;
  ``recompute_gt_areas=True`` uses the PNG pixel count instead); ``|p|`` is
  always the predicted PNG pixel count.  A JSON area that differs from the
  PNG is reported in ``PanopticResult.warnings`` (stale areas can give PQ > 1);
  an area of 0 on a segment that is not crowd is a :class:`FormatError` (arrays
  and folders alike), since PQ would divide by a wrong union.
* Unmatched non-crowd GT segments are false negatives.  An unmatched
  prediction is a false positive unless more than half of its pixels lie on
  void or on the crowd region of its own category; when an image has several
  crowd segments of one category only the last one listed counts.
* Per class: ``PQ = iou_sum / (TP + FP/2 + FN/2)``, ``SQ = iou_sum / TP`` (0
  when TP = 0), ``RQ = TP / (TP + FP/2 + FN/2)``.  Classes with TP + FP + FN = 0
  are NaN per class (panopticapi reports 0.0) and left out of the All / Things / Stuff means; a group
  with no class to average is NaN with a warning (panopticapi raises
  ``ZeroDivisionError`` there).
* PQ-dagger (always): ``PQ_dagger`` (and ``_th``, ``_st``) with the stuff classes
  scored by the summed mask IoU of every overlapping same-class pair over their
  GT segments (:func:`segmetrics.pq.pq_dagger_per_class`).
* Boundary PQ (``boundary=True``): ``BPQ BSQ BRQ`` (and ``_th``, ``_st``), the
  matching above with each pair's IoU replaced by ``min(mask IoU, boundary IoU)``
  (``docs/boundary.md``).

Input checks (stricter than panopticapi, which ignores some of these silently)
-------------------------------------------------------------------------------
Every non-void id in a GT or predicted map must be listed in its
``segments_info`` and every listed segment must have at least one pixel;
segment ids are unique and non-zero; every ``category_id`` is one of the GT
categories; both maps have the same size.  Violations raise
:class:`~segmetrics.errors.FormatError` / :class:`~segmetrics.errors.InputError`
naming the image, the file and the segment ids (with pixel counts).

Category-map metrics (hotcoco's definition)
-------------------------------------------
Every pixel is painted with the category of its segment (crowd segments
included); GT void pixels are not scored; a prediction of void on a scored
pixel counts as a miss of the GT class (an extra "void" column of the
confusion matrix that is no class).  mIoU, mAcc, aAcc and fwIoU then follow
:mod:`segmetrics.metrics` on that matrix (a class predicted but absent from
the GT has IoU 0 and counts).

Determinism
-----------
Counts are int64 sums.  The state keeps the IoU of every match (one float per
true positive) and each class's ``iou_sum`` is computed once, in
:meth:`~PanopticEvaluator.compute`, with :func:`math.fsum`, which is correctly
rounded and therefore independent of the order in which images, threads or
shards were added: results are bit-identical for any ``jobs`` and any image
order.
"""
from __future__ import annotations

import json
import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from . import metrics as _metrics
from . import report as _report
from ._analysis import ResultAnalysis
from ._engine.image import (  # noqa: F401 - the per-image scoring (on the compiled rules), re-exported
    CategoryIndex,
    ImageStats,
    _as_id_map,
    _fsum_by_category,
    _rgb_to_ids,
    _segment_arrays,
    _unknown_ids,
    table_stats,
)
from ._engine.image import score_image as evaluate_image
from ._engine import band as _band
from .errors import InputError, SegmetricsWarning
from .pq import GROUPS, pq_dagger_groups, pq_dagger_per_class, pq_groups, pq_per_class
from .state import PanopticState, write_state_file

__all__ = [
    "CategoryIndex",
    "ImageStats",
    "PanopticState",
    "PanopticResult",
    "PanopticEvaluator",
    "build_result",
    "evaluate_image",
    "panoptic_quality_arrays",
]

HEADLINE = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")
DAGGER_HEADLINE = ("PQ_dagger", "PQ_dagger_th", "PQ_dagger_st")
BOUNDARY_HEADLINE = ("BPQ", "BSQ", "BRQ", "BPQ_th", "BSQ_th", "BRQ_th", "BPQ_st", "BSQ_st", "BRQ_st")
SEMANTIC_HEADLINE = ("aAcc", "mAcc", "mIoU", "fwIoU")
#: per-class result keys -> report keys
_REPORT_PER_CLASS = (("pq", "PQ"), ("sq", "SQ"), ("rq", "RQ"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN"),
                     ("pq_dagger", "PQ_dagger"), ("bpq", "BPQ"), ("bsq", "BSQ"), ("brq", "BRQ"), ("iou", "IoU"),
                     ("acc", "Acc"))


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True)
class PanopticResult(ResultAnalysis):
    """Frozen PQ / SQ / RQ results (fractions in [0, 1]; NaN where undefined).

    Attributes
    ----------
    metrics : dict
        ``PQ SQ RQ N`` for All, ``PQ_th SQ_th RQ_th N_th`` for things,
        ``PQ_st SQ_st RQ_st N_st`` for stuff, ``PQ_dagger N_dagger`` (and
        ``_th``, ``_st``), with ``boundary=True`` ``BPQ BSQ BRQ BN`` (and ``_th``,
        ``_st``), and ``aAcc mAcc mIoU fwIoU`` of the category maps when computed.
    per_class : list of dict
        ``category_id, name, isthing, pq, sq, rq, tp, fp, fn, iou_sum``, ``pq_dagger,
        stuff_iou_sum, gt_segments`` (+ ``bpq, bsq, brq, btp, bfp, bfn, biou_sum``
        with ``boundary=True``, ``iou``, ``acc`` with the category-map metrics).
    warnings : list of str
    num_images : int
    per_image : list of dict or None
        ``image_id`` and per-class ``tp, fp, fn, iou_sum`` arrays (category order),
        sorted by image id.
    state : PanopticState
        The sums the numbers come from (save with :meth:`save_state`).
    params, dataset : dict
        Settings that change the numbers; what was scored (folder runs).
    notes : tuple of str
    categories : tuple of dict
        ``{id, name, isthing}`` in the ground truth's order.
    manifest : segmetrics.stats.Manifest or None
        Slice attributes of the images (:meth:`with_slices`).

    Statistics and figures: see :class:`segmetrics._analysis.ResultAnalysis`
    (:meth:`intervals`, :meth:`worst`, :meth:`slice_metrics`, :meth:`plot_confusion`, ...).
    """

    metrics: dict
    per_class: list
    warnings: list
    num_images: int
    per_image: list | None = None
    state: PanopticState | None = field(default=None, repr=False, compare=False)
    params: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    notes: tuple = ()
    categories: tuple = ()
    manifest: Any = field(default=None, repr=False, compare=False)
    comparison: dict | None = field(default=None, repr=False, compare=False)

    task = "panoptic"

    @property
    def confusion(self) -> np.ndarray | None:
        """The (K+1) x (K+1) pixel confusion matrix of the category maps (rows = ground truth;
        row and column K: void), or None when the run did not compute the category-map metrics."""
        if self.state is None or "aAcc" not in self.metrics:
            return None
        return self.state.confusion.copy()

    def conventions(self, names="all") -> dict:
        """Every convention profile's numbers for this run and how each rule moves them
        (:func:`segmetrics.conventions.compare`)."""
        from .conventions import compare

        return compare(self, names)

    def with_conventions(self, names="all") -> "PanopticResult":
        """A copy whose report (``to_report``, the CLI's JSON and table) includes :meth:`conventions`."""
        import dataclasses

        return dataclasses.replace(self, comparison=self.conventions(names))

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN and infinities -> None, arrays -> lists)."""
        return _report.json_ready({
            "metrics": self.metrics, "per_class": self.per_class, "warnings": self.warnings,
            "num_images": self.num_images, "per_image": self.per_image,
        })

    def to_report(self, *, intervals=None, worst: int | None = None) -> dict:
        """The report ``segmetrics eval --json`` writes (schema: ``docs/json_schema.md``).

        ``intervals`` (from :meth:`intervals`) adds the ``intervals`` key, ``worst=K`` the K
        worst images; a result with a manifest (:meth:`with_slices`) adds ``slices``.
        """
        m = self.metrics
        metrics = {k: m[k] for k in HEADLINE + DAGGER_HEADLINE + BOUNDARY_HEADLINE + SEMANTIC_HEADLINE if k in m}
        per_class = []
        for row in self.per_class:
            out = {"id": row["category_id"], "name": row.get("name"), "isthing": bool(row.get("isthing"))}
            for src, dst in _REPORT_PER_CLASS:
                if src in row:
                    out[dst] = row[src]
            per_class.append(out)
        d = self.dataset
        dataset = {"gt": d.get("gt"), "pred": d.get("pred"), "images": self.num_images,
                   "missing_predictions": len(d.get("missing_ids", ())),
                   "categories": m.get("N"), "things": m.get("N_th"), "stuff": m.get("N_st"),
                   "fingerprint": d.get("fingerprint")}
        params = {"preset": self.params.get("preset")}
        params.update({key: d[key] for key in ("gt_folder", "pred_folder") if key in d})
        params.update(self.params)
        report = _report.build_report(task="panoptic", params=params, dataset=dataset, metrics=metrics,
                                      per_class=per_class, warnings=self.warnings, notes=self.notes)
        if self.comparison is not None:
            report["conventions"] = _report.json_ready(self.comparison)
        return self._report_extras(report, intervals, worst)

    def per_image_rows(self, *, per_class: bool = True) -> list | None:
        """One row per image for the per-image CSV (None without per-image counts).

        ``TP, FP, FN`` are segment counts summed over categories; ``PQ SQ RQ``,
        ``PQ_th SQ_th RQ_th`` and ``PQ_st SQ_st RQ_st`` the groups of
        :func:`segmetrics.pq.pq_groups` on the image's counts (means over the
        categories with TP + FP + FN > 0 in the image); with boundary counts also
        ``BPQ, BSQ, BRQ`` (All) the same way.  ``per_class`` is accepted for symmetry
        with the semantic rows (panoptic rows have no per-class columns).
        """
        st = self.state
        if st is None or not st.per_image_kept:
            return None
        tp, fp, fn = st.image_tp, st.image_fp, st.image_fn
        isthing = np.array([bool(c["isthing"]) for c in self.categories], dtype=bool)
        g = pq_groups(tp, fp, fn, st.image_iou_sum(), isthing)
        b = None
        if "boundary_image" in st.groups:
            b = pq_groups(st.image_btp, st.image_bfp, st.image_bfn, st.image_boundary_iou_sum(), isthing, prefix="B")
        missing = st.image_missing
        keys = [k + s for s in ("", "_th", "_st") for k in ("PQ", "SQ", "RQ")]
        rows = []
        for j, image_id in enumerate(st.image_ids):
            row = {"image_id": image_id, "TP": int(tp[j].sum()), "FP": int(fp[j].sum()), "FN": int(fn[j].sum()),
                   **{k: float(g[k][j]) for k in keys}}
            if b is not None:
                row.update({key: float(b[key][j]) for key in ("BPQ", "BSQ", "BRQ")})
            row["missing_prediction"] = bool(missing[j])
            rows.append(row)
        return rows

    def save_state(self, path) -> None:
        """Write the run-state file (``.smstate``); :func:`segmetrics.load_state` reads it back."""
        if self.state is None:
            raise InputError("this result has no state to save")
        write_state_file(path, self.state, self.state_header())

    def state_header(self) -> dict:
        """What a state file holds besides the state: params, classes, dataset, notes, run warnings."""
        computed = set(_derived_warnings(self.dataset)) | set(self.state.warnings) | set(
            _group_notes(self.metrics))
        header = {"params": dict(self.params), "classes": {"categories": [dict(c) for c in self.categories]},
                  "dataset": dict(self.dataset), "notes": list(self.notes),
                  "run_warnings": [w for w in self.warnings if w not in computed],
                  "with_semantic": "aAcc" in self.metrics}
        if self.manifest is not None:
            header["slices"] = self.manifest.to_header()
        if self.comparison is not None:
            header["conventions"] = [row["name"] for row in self.comparison["profiles"]]
        return header


def _categories_bytes(categories: Sequence[dict]) -> bytes:
    """The categories as canonical JSON bytes (part of the panoptic fingerprint)."""
    return json.dumps([[int(c["id"]), str(c.get("name", c["id"])), bool(c["isthing"])] for c in categories],
                      ensure_ascii=True).encode("ascii")


def _listed(ids: list) -> str:
    return ", ".join(repr(i) for i in ids[:5]) + (" ..." if len(ids) > 5 else "")


def _derived_warnings(dataset: dict) -> list:
    """Warnings that follow from the pairing (recomputed after a merge)."""
    out = []
    missing, extra = list(dataset.get("missing_ids", ())), list(dataset.get("extra_ids", ()))
    if missing:
        one = len(missing) == 1
        out.append(f"{_report.plural(len(missing), 'ground-truth image')} {'has' if one else 'have'} no prediction; "
                   f"all {'its' if one else 'their'} segments are false negatives: image ids {_listed(missing)}")
    if extra:
        one = len(extra) == 1
        out.append(f"{_report.plural(len(extra), 'prediction')} {'is' if one else 'are'} for "
                   f"{'an image' if one else 'images'} not in the ground truth and {'was' if one else 'were'} "
                   f"ignored: image ids {_listed(extra)}")
    return out


def _group_notes(metrics: dict) -> list:
    out = []
    for name, isthing, suffix in GROUPS:
        if metrics.get("N" + suffix) == 0:
            kind = "" if isthing is None else ("thing " if isthing else "stuff ")
            out.append(f"{name}: no {kind}category has a ground-truth or predicted segment to score "
                       f"(TP + FP + FN = 0), so PQ, SQ and RQ are NaN (panopticapi raises ZeroDivisionError here)")
    return out


def build_result(state: PanopticState, categories, *, with_semantic: bool = True, params: dict | None = None,
                 dataset: dict | None = None, notes: Iterable[str] = (), run_warnings: Iterable[str] = (),
                 emit_warnings: bool = True, manifest=None, conventions=None) -> PanopticResult:
    """The frozen result of a state: PQ / SQ / RQ (:mod:`segmetrics.pq`), per class, and the
    category-map metrics.  ``emit_warnings`` also issues them as :class:`SegmetricsWarning`.
    With ``params["convention"]`` the PQ counts are that profile's
    (:func:`segmetrics.conventions.panoptic_counts`; PQ-dagger and Boundary PQ keep
    panopticapi's matching); ``conventions`` (profile names or "all") attaches the
    comparison of every profile."""
    cats = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
    dataset = dict(dataset or {})
    own_iou = state.iou_sum()
    if (params or {}).get("convention"):
        from .conventions import panoptic_counts

        tp, fp, fn, iou = panoptic_counts(state, params["convention"])
    else:
        tp, fp, fn, iou = state.tp, state.fp, state.fn, own_iou
    metrics = pq_groups(tp, fp, fn, iou, cats.isthing)
    extra: dict = {}  # per-class arrays of the variants (panopticapi's matching: PQ-dagger, Boundary PQ)
    if "dagger" in state.groups:
        s_iou = state.stuff_iou_sum()
        metrics.update(pq_dagger_groups(state.tp, state.fp, state.fn, own_iou, s_iou, state.gt_segments,
                                        cats.isthing))
        extra.update(pq_dagger=pq_dagger_per_class(state.tp, state.fp, state.fn, own_iou, s_iou, state.gt_segments,
                                                   cats.isthing), stuff_iou_sum=s_iou, gt_segments=state.gt_segments)
    if state.boundary_kept:
        b_iou = state.boundary_iou_sum()
        metrics.update(pq_groups(state.btp, state.bfp, state.bfn, b_iou, cats.isthing, prefix="B"))
        bpq, bsq, brq, _ = pq_per_class(state.btp, state.bfp, state.bfn, b_iou)
        extra.update(bpq=bpq, bsq=bsq, brq=brq, btp=state.btp, bfp=state.bfp, bfn=state.bfn, biou_sum=b_iou)
    sem_iou = sem_acc = None
    if with_semantic:
        cm = state.confusion
        k = len(cats)
        sem_iou = _metrics.class_iou(cm)[:k]
        sem_acc = _metrics.class_accuracy(cm)[:k]
        metrics["aAcc"] = _metrics.pixel_accuracy(cm)
        metrics["mAcc"] = _metrics.nanmean(sem_acc)
        metrics["mIoU"] = _metrics.nanmean(sem_iou)
        metrics["fwIoU"] = _metrics.fw_iou(cm)
    pq, sq, rq, _ = pq_per_class(tp, fp, fn, iou)
    per_class = []
    for c, cid in enumerate(cats.ids):
        row = {"category_id": cid, "name": cats.names[c], "isthing": bool(cats.isthing[c]),
               "pq": float(pq[c]), "sq": float(sq[c]), "rq": float(rq[c]), "tp": int(tp[c]),
               "fp": int(fp[c]), "fn": int(fn[c]), "iou_sum": float(iou[c])}
        row.update({key: v[c].item() for key, v in extra.items()})
        if sem_iou is not None:
            row["iou"] = float(sem_iou[c])
            row["acc"] = float(sem_acc[c])
        per_class.append(row)
    data_warnings = sorted(set(run_warnings)) + _derived_warnings(dataset) + state.warnings
    group_notes = _group_notes(metrics)
    if emit_warnings:
        if data_warnings:
            _warnings.warn(f"{len(data_warnings)} data warnings (see PanopticResult.warnings), the first: "
                           f"{data_warnings[0]}", SegmetricsWarning, stacklevel=3)
        for msg in group_notes:
            _warnings.warn(msg, SegmetricsWarning, stacklevel=3)
    result = PanopticResult(metrics=metrics, per_class=per_class, warnings=data_warnings + group_notes,
                            num_images=state.num_images, per_image=state.per_image, state=state,
                            params=dict(params or {}), dataset=dataset, notes=tuple(notes),
                            categories=tuple({"id": c["id"], "name": n, "isthing": bool(t)}
                                             for c, n, t in zip(cats.categories, cats.names, cats.isthing)),
                            manifest=manifest)
    return result.with_conventions(conventions) if conventions else result


# ----------------------------------------------------------------------------- evaluator
class PanopticEvaluator:
    """Accumulate panoptic statistics image by image and compute PQ / SQ / RQ.

    Parameters
    ----------
    categories : list of dict
        COCO categories ``{id, name, isthing}`` (the ground truth's).
    per_image : bool
        Keep per-image per-class TP / FP / FN (and the image of each match, and each image's
        category-map cells, so that :func:`segmetrics.torch.sync` can count an image scored on two ranks once).
    with_semantic : bool
        Also report mIoU, fwIoU, mAcc and aAcc of the category maps.
    recompute_gt_areas : bool
        Use GT PNG pixel counts instead of the JSON ``area`` fields.
    boundary : bool
        Also compute Boundary PQ (``BPQ BSQ BRQ``, ``docs/boundary.md``).
    dilation_ratio : float, optional
        Band width as a fraction of each image's diagonal (default 0.02, the paper's
        COCO value); ``dilation`` gives it in pixels instead.

    Notes
    -----
    Matching (panopticapi's rules): GT ``g`` and prediction ``p`` match iff same
    category, ``g`` not crowd and ``|g & p| / (|p| + |g| - |g & p| - |p & void|) > 0.5``,
    with ``|g|`` from the JSON ``area`` unless ``recompute_gt_areas``.  An
    unmatched prediction is not a false positive when more than half of it lies
    on void or on the last-listed crowd segment of its category.  Per class
    ``PQ = iou_sum / (TP + FP/2 + FN/2)``, ``SQ = iou_sum / TP`` (0 if TP = 0),
    ``RQ = TP / (TP + FP/2 + FN/2)``; classes with ``TP + FP + FN = 0`` are NaN and
    left out of the means, and an empty group is NaN with a warning.  The
    category-map metrics use the (K+1) x (K+1) pixel confusion matrix of the
    painted category maps (GT void not scored, predicted void = a miss).  See
    the module docstring for details.  Typical use in a training loop::

        ev = PanopticEvaluator(categories)
        for gt_ids, gt_segs, pred_ids, pred_segs in batches:
            ev.update(gt_ids, gt_segs, pred_ids, pred_segs)
        ev.compute().metrics["PQ"]
    """

    def __init__(self, categories, *, per_image: bool = False, with_semantic: bool = True,
                 recompute_gt_areas: bool = False, boundary: bool = False, dilation_ratio: float | None = None,
                 dilation: int | None = None):
        self.categories = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
        self.per_image = per_image
        self.with_semantic = with_semantic
        self.recompute_gt_areas = recompute_gt_areas
        self.boundary = bool(boundary)
        if not self.boundary and (dilation_ratio is not None or dilation is not None):
            raise InputError("dilation_ratio / dilation set the band width of boundary=True")
        self.dilation_ratio = _band.check_ratio(_band.DEFAULT_DILATION_RATIO if dilation_ratio is None
                                                else dilation_ratio) if self.boundary else None
        self.dilation = _band.check_dilation(dilation)
        self.state = PanopticState(len(self.categories), per_image=per_image, cells=self.per_image, boundary=self.boundary)

    def params(self) -> dict:
        """The settings that change the numbers (the result's ``params``)."""
        out = {"recompute_gt_areas": bool(self.recompute_gt_areas)}
        if self.boundary:
            out.update(_band.params(self.dilation_ratio, self.dilation))
        return out

    def evaluate_image(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None,
                       gt_name=None, pred_name=None) -> ImageStats:
        """Score one image without touching the state (safe to call from worker threads)."""
        return evaluate_image(
            gt_ids, gt_segments, pred_ids, pred_segments, self.categories, image_id=image_id,
            recompute_gt_areas=self.recompute_gt_areas, gt_name=gt_name, pred_name=pred_name,
            dilation_ratio=self.dilation_ratio, dilation=self.dilation,
        )

    def add(self, stats: ImageStats) -> None:
        """Add the statistics of one image (from :meth:`evaluate_image`)."""
        self.state.add_image(stats)

    def update(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None) -> None:
        """Score one image and add it (see :func:`evaluate_image` for the arguments)."""
        if image_id is None:
            image_id = self.state.num_images
        self.add(self.evaluate_image(gt_ids, gt_segments, pred_ids, pred_segments, image_id=image_id))

    def merge(self, other: "PanopticEvaluator") -> "PanopticEvaluator":
        """Add another evaluator's state (same categories); returns self."""
        if not isinstance(other, PanopticEvaluator) or other.categories != self.categories:
            raise InputError("can only merge a PanopticEvaluator with the same categories")
        if (other.boundary, other.dilation_ratio, other.dilation) != (self.boundary, self.dilation_ratio, self.dilation):
            raise InputError("cannot merge evaluators with different boundary settings (boundary, dilation_ratio, "
                             "dilation)")
        self.state.merge(other.state)
        return self

    def reset(self) -> None:
        """Forget every image."""
        self.state = PanopticState(len(self.categories), per_image=self.per_image, cells=self.per_image, boundary=self.boundary)

    def compute(self) -> PanopticResult:
        """PQ / SQ / RQ for All, Things and Stuff, per class, and the category-map metrics."""
        return build_result(self.state.copy(), self.categories, with_semantic=self.with_semantic,
                            params=self.params())


# ----------------------------------------------------------------------------- functional API


def panoptic_quality_arrays(gt_ids, gt_segments, pred_ids, pred_segments, *, categories,
                            **evaluator_kwargs) -> PanopticResult:
    """PQ of one image given as arrays (or of several: pass lists of maps and of segment lists).

    See :class:`PanopticEvaluator` for the keyword arguments and rules.
    """
    ev = PanopticEvaluator(categories, **evaluator_kwargs)
    if isinstance(gt_ids, (list, tuple)):
        if not (len(gt_ids) == len(gt_segments) == len(pred_ids) == len(pred_segments)):
            raise InputError("gt_ids, gt_segments, pred_ids and pred_segments must have the same length")
        for i, (g, gs, p, ps) in enumerate(zip(gt_ids, gt_segments, pred_ids, pred_segments)):
            ev.update(g, gs, p, ps, image_id=i)
    else:
        ev.update(gt_ids, gt_segments, pred_ids, pred_segments)
    return ev.compute()
