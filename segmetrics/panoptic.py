"""Panoptic quality (PQ, SQ, RQ) with panopticapi's matching rules, plus category-map metrics.

Per image, one compiled pass (:mod:`segmetrics._kernels.panoptic`, GIL released)
counts the GT x prediction intersection table of the segments; matching runs
on that small table.  The per-image statistics are added to a mergeable
:class:`PanopticState`; :meth:`PanopticEvaluator.compute` turns it into a
frozen :class:`PanopticResult`.

Matching rules (panopticapi's, exactly)
---------------------------------------
* A GT segment ``g`` and a predicted segment ``p`` match iff they have the same
  category, ``g`` is not crowd and ``IoU > 0.5`` (strict), where
  ``IoU = |g & p| / (|p| + |g| - |g & p| - |p & void|)``.
* ``|g|`` is the GT area from the JSON ``area`` field (as panopticapi does;
  ``recompute_gt_areas=True`` uses the PNG pixel count instead); ``|p|`` is
  always the predicted PNG pixel count.  A JSON area that differs from the
  PNG is reported in ``PanopticResult.warnings`` (stale areas can give PQ > 1).
* Unmatched non-crowd GT segments are false negatives.  An unmatched
  prediction is a false positive unless more than half of its pixels lie on
  void or on the crowd region of its own category; when an image has several
  crowd segments of one category only the last one listed counts.
* Per class: ``PQ = iou_sum / (TP + FP/2 + FN/2)``, ``SQ = iou_sum / TP`` (0
  when TP = 0), ``RQ = TP / (TP + FP/2 + FN/2)``.  Classes with TP + FP + FN = 0
  are NaN per class (panopticapi reports 0.0) and left out of the All / Things / Stuff means; a group
  with no class to average is NaN with a warning (panopticapi raises
  ``ZeroDivisionError`` there).

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

import math
import warnings as _warnings
from dataclasses import dataclass

import numpy as np

from . import metrics as _metrics
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
from .errors import DataFileError, InputError, MissingPredictionError, SegmetricsWarning
from .io.coco_panoptic import PanopticDataset, dataset_from_dict, load_panoptic_json

__all__ = [
    "CategoryIndex",
    "ImageStats",
    "PanopticState",
    "PanopticResult",
    "PanopticEvaluator",
    "evaluate_image",
    "panoptic_quality",
    "panoptic_quality_arrays",
]

_GROUPS = (("All", None, ""), ("Things", True, "_th"), ("Stuff", False, "_st"))


# ----------------------------------------------------------------------------- state


class PanopticState:
    """Mergeable sums: per-class int64 TP/FP/FN, the match IoUs, the category confusion matrix.

    ``merge`` is associative and commutative up to the order of ``per_image``
    and ``warnings``; :meth:`PanopticEvaluator.compute` reduces the IoUs with
    :func:`math.fsum`, so the results do not depend on the merge order.
    """

    def __init__(self, num_categories: int, *, per_image: bool = False):
        k = num_categories
        self.tp = np.zeros(k, dtype=np.int64)
        self.fp = np.zeros(k, dtype=np.int64)
        self.fn = np.zeros(k, dtype=np.int64)
        self.match_cat: list[np.ndarray] = []
        self.match_iou: list[np.ndarray] = []
        self.confusion = np.zeros((k + 1, k + 1), dtype=np.int64)
        self.num_images = 0
        self.per_image: list[dict] | None = [] if per_image else None
        self.warnings: list[str] = []

    def add(self, stats: ImageStats) -> None:
        """Add one image's statistics."""
        self.tp += stats.tp
        self.fp += stats.fp
        self.fn += stats.fn
        if stats.match_cat.size:
            self.match_cat.append(stats.match_cat)
            self.match_iou.append(stats.match_iou)
        np.add.at(self.confusion.reshape(-1), stats.confusion_index, stats.confusion_count)
        self.num_images += 1
        self.warnings.extend(stats.warnings)
        if self.per_image is not None:
            self.per_image.append({
                "image_id": stats.image_id, "tp": stats.tp.copy(), "fp": stats.fp.copy(),
                "fn": stats.fn.copy(), "iou_sum": stats.iou_sum(),
            })

    def merge(self, other: "PanopticState") -> "PanopticState":
        """Add another state (in place); returns self."""
        if other.tp.shape != self.tp.shape:
            raise InputError(f"cannot merge panoptic states of {other.tp.size} and {self.tp.size} categories")
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.match_cat.extend(other.match_cat)
        self.match_iou.extend(other.match_iou)
        self.confusion += other.confusion
        self.num_images += other.num_images
        self.warnings.extend(other.warnings)
        if self.per_image is not None and other.per_image is not None:
            self.per_image.extend(other.per_image)
        return self

    def iou_sum(self) -> np.ndarray:
        """Per-class sum of match IoUs, correctly rounded (order independent)."""
        k = self.tp.size
        if not self.match_cat:
            return np.zeros(k, dtype=np.float64)
        return _fsum_by_category(np.concatenate(self.match_cat), np.concatenate(self.match_iou), k)


@dataclass(frozen=True)
class PanopticResult:
    """Frozen PQ / SQ / RQ results (fractions in [0, 1]; NaN where undefined).

    Attributes
    ----------
    metrics : dict
        ``PQ SQ RQ N`` for All, ``PQ_th SQ_th RQ_th N_th`` for things,
        ``PQ_st SQ_st RQ_st N_st`` for stuff, and ``aAcc mAcc mIoU fwIoU``
        of the category maps when computed.
    per_class : list of dict
        ``category_id, name, isthing, pq, sq, rq, tp, fp, fn, iou_sum`` (+ ``iou``, ``acc``).
    warnings : list of str
    num_images : int
    per_image : list of dict or None
        ``image_id`` and per-class ``tp, fp, fn, iou_sum`` arrays (category order).
    """

    metrics: dict
    per_class: list
    warnings: list
    num_images: int
    per_image: list | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN -> None, arrays -> lists)."""

        def clean(v):
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, np.ndarray):
                return clean(v.tolist())
            if isinstance(v, (float, np.floating)):
                return None if math.isnan(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v

        return clean({
            "metrics": self.metrics, "per_class": self.per_class, "warnings": self.warnings,
            "num_images": self.num_images, "per_image": self.per_image,
        })


def _pq_group(tp, fp, fn, iou, members: np.ndarray) -> tuple[dict, int]:
    pq = sq = rq = 0.0
    n = 0
    for c in np.flatnonzero(members).tolist():
        t, f_p, f_n = int(tp[c]), int(fp[c]), int(fn[c])
        if t + f_p + f_n == 0:
            continue
        n += 1
        den = t + 0.5 * f_p + 0.5 * f_n
        pq += float(iou[c]) / den
        sq += float(iou[c]) / t if t != 0 else 0.0
        rq += t / den
    if n == 0:
        return {"PQ": math.nan, "SQ": math.nan, "RQ": math.nan, "N": 0}, 0
    return {"PQ": pq / n, "SQ": sq / n, "RQ": rq / n, "N": n}, n


class PanopticEvaluator:
    """Accumulate panoptic statistics image by image and compute PQ / SQ / RQ.

    Parameters
    ----------
    categories : list of dict
        COCO categories ``{id, name, isthing}`` (the ground truth's).
    per_image : bool
        Keep per-image per-class TP / FP / FN / iou_sum.
    with_semantic : bool
        Also report mIoU, fwIoU, mAcc and aAcc of the category maps.
    recompute_gt_areas : bool
        Use GT PNG pixel counts instead of the JSON ``area`` fields.

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
                 recompute_gt_areas: bool = False):
        self.categories = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
        self.per_image = per_image
        self.with_semantic = with_semantic
        self.recompute_gt_areas = recompute_gt_areas
        self.state = PanopticState(len(self.categories), per_image=per_image)

    def evaluate_image(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None,
                       gt_name=None, pred_name=None) -> ImageStats:
        """Score one image without touching the state (safe to call from worker threads)."""
        return evaluate_image(
            gt_ids, gt_segments, pred_ids, pred_segments, self.categories, image_id=image_id,
            recompute_gt_areas=self.recompute_gt_areas, gt_name=gt_name, pred_name=pred_name,
        )

    def add(self, stats: ImageStats) -> None:
        """Add the statistics of one image (from :meth:`evaluate_image`)."""
        if stats.tp.size != len(self.categories):
            raise InputError("these image statistics were computed for other categories")
        self.state.add(stats)

    def update(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None) -> None:
        """Score one image and add it (see :func:`evaluate_image` for the arguments)."""
        if image_id is None:
            image_id = self.state.num_images
        self.add(self.evaluate_image(gt_ids, gt_segments, pred_ids, pred_segments, image_id=image_id))

    def merge(self, other: "PanopticEvaluator") -> "PanopticEvaluator":
        """Add another evaluator's state (same categories); returns self."""
        if not isinstance(other, PanopticEvaluator) or other.categories != self.categories:
            raise InputError("can only merge a PanopticEvaluator with the same categories")
        self.state.merge(other.state)
        return self

    def reset(self) -> None:
        """Forget every image."""
        self.state = PanopticState(len(self.categories), per_image=self.per_image)

    def compute(self) -> PanopticResult:
        """PQ / SQ / RQ for All, Things and Stuff, per class, and the category-map metrics."""
        st = self.state
        cats = self.categories
        iou = st.iou_sum()
        notes = list(st.warnings)
        metrics: dict = {}
        for name, isthing, suffix in _GROUPS:
            members = np.ones(len(cats), bool) if isthing is None else cats.isthing == isthing
            vals, n = _pq_group(st.tp, st.fp, st.fn, iou, members)
            for key, v in vals.items():
                metrics[key + suffix] = v
            if n == 0:
                notes.append(
                    f"{name}: no {'' if isthing is None else ('thing ' if isthing else 'stuff ')}category "
                    f"has a ground-truth or predicted segment to score (TP + FP + FN = 0), so PQ, SQ and RQ "
                    f"are NaN (panopticapi raises ZeroDivisionError here)"
                )
        sem_iou = sem_acc = None
        if self.with_semantic:
            cm = st.confusion
            k = len(cats)
            sem_iou = _metrics.class_iou(cm)[:k]
            sem_acc = _metrics.class_accuracy(cm)[:k]
            metrics["aAcc"] = _metrics.pixel_accuracy(cm)
            metrics["mAcc"] = _nanmean(sem_acc)
            metrics["mIoU"] = _nanmean(sem_iou)
            metrics["fwIoU"] = _metrics.fw_iou(cm)
        per_class = []
        for c, cid in enumerate(cats.ids):
            t, f_p, f_n = int(st.tp[c]), int(st.fp[c]), int(st.fn[c])
            if t + f_p + f_n:
                den = t + 0.5 * f_p + 0.5 * f_n
                pq, sq, rq = float(iou[c]) / den, (float(iou[c]) / t if t else 0.0), t / den
            else:
                pq = sq = rq = math.nan
            row = {"category_id": cid, "name": cats.names[c], "isthing": bool(cats.isthing[c]),
                   "pq": pq, "sq": sq, "rq": rq, "tp": t, "fp": f_p, "fn": f_n, "iou_sum": float(iou[c])}
            if sem_iou is not None:
                row["iou"] = float(sem_iou[c])
                row["acc"] = float(sem_acc[c])
            per_class.append(row)
        if st.warnings:
            _warnings.warn(
                f"{len(st.warnings)} data warnings (see PanopticResult.warnings), the first: {st.warnings[0]}",
                SegmetricsWarning, stacklevel=2,
            )
        for msg in notes[len(st.warnings):]:
            _warnings.warn(msg, SegmetricsWarning, stacklevel=2)
        return PanopticResult(metrics=metrics, per_class=per_class, warnings=notes,
                              num_images=st.num_images,
                              per_image=list(st.per_image) if st.per_image is not None else None)


def _nanmean(x: np.ndarray) -> float:
    valid = ~np.isnan(x)
    return float(x[valid].sum() / valid.sum()) if valid.any() else math.nan


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


def _load(x, folder, *, gt: bool) -> PanopticDataset:
    if isinstance(x, PanopticDataset):
        if folder is not None:
            x = PanopticDataset(x.path, folder, x.annotations, x.images, x.categories, x.columns)
        return x
    if isinstance(x, dict):
        if folder is None:
            raise InputError("a panoptic JSON given as a dict needs its PNG folder")
        return dataset_from_dict(x, folder=folder, require_categories=gt)
    return load_panoptic_json(x, folder, require_categories=gt)


def pair_annotations(gt: PanopticDataset, pred: PanopticDataset) -> tuple[list, list[str]]:
    """Pair GT and prediction annotations by image id (GT order).

    Raises :class:`MissingPredictionError` when GT images have no prediction;
    returns the pairs and warnings about predictions for unknown images.
    """
    missing = [i for i in gt.annotations if i not in pred.annotations]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        raise MissingPredictionError(
            f"{len(missing)} of {len(gt.annotations)} ground-truth images have no prediction in "
            f"{pred.path}: image ids {shown}{' ...' if len(missing) > 5 else ''}",
            missing=missing,
        )
    extra = [i for i in pred.annotations if i not in gt.annotations]
    notes = []
    if extra:
        shown = ", ".join(repr(i) for i in extra[:5])
        notes.append(
            f"{len(extra)} predictions are for images not in the ground truth and were ignored: "
            f"image ids {shown}{' ...' if len(extra) > 5 else ''}"
        )
    return [(i, gt.annotations[i], pred.annotations[i]) for i in gt.annotations], notes


def panoptic_quality(gt_json, pred_json, gt_folder=None, pred_folder=None, *, jobs: int | None = None,
                     **evaluator_kwargs) -> PanopticResult:
    """PQ / SQ / RQ of a COCO panoptic prediction (JSON + PNG folder) against the ground truth.

    Parameters
    ----------
    gt_json, pred_json : str, PathLike or PanopticDataset
        COCO panoptic JSON files.
    gt_folder, pred_folder : str or PathLike, optional
        PNG folders; default: the JSON path without ``.json`` (panopticapi's rule).
    jobs : int, optional
        Worker threads (default: usable CPUs, at most 8).  The results do not depend on it.
    **evaluator_kwargs
        Passed to :class:`PanopticEvaluator` (``per_image``, ``with_semantic``,
        ``recompute_gt_areas``).

    Returns
    -------
    PanopticResult

    Notes
    -----
    Same rules as :class:`PanopticEvaluator`.  Every GT image needs a
    prediction (:class:`~segmetrics.errors.MissingPredictionError`);
    predictions for unknown images are ignored with a warning.  The images are
    scored by :func:`segmetrics.evaluate.evaluate_panoptic_files` (fused PNG
    decoding and counting on a thread pool, Pillow only for the files the fused
    kernel does not take), with the same numbers as :func:`evaluate_image`.
    """
    gt = _load(gt_json, gt_folder, gt=True)
    pred = _load(pred_json, pred_folder, gt=False)
    for side, ds, given in (("ground-truth", gt, gt_folder), ("prediction", pred, pred_folder)):
        if ds.folder is None or not ds.folder.is_dir():
            how = "" if given is not None else " (default: the JSON path without .json; pass it explicitly)"
            raise DataFileError(f"{side} PNG folder {ds.folder} does not exist{how}")
    ev = PanopticEvaluator(gt.categories, **evaluator_kwargs)
    _, notes = pair_annotations(gt, pred)  # raises MissingPredictionError before any work
    for msg in notes:
        _warnings.warn(msg, SegmetricsWarning, stacklevel=2)
    from .evaluate import evaluate_panoptic_files  # the folder pipeline (imports this module)

    evaluate_panoptic_files(gt, pred, ev, jobs=jobs)
    return ev.compute()
