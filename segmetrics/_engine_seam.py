"""THE SEAM: the folder engine's contract (issue 10), adapted over today's ``_pipeline``.

:mod:`segmetrics.folders` calls the folder engine only through the two
functions of this module, with the signatures and return types of the
contract between the Python side and the compiled side:

``semantic_files(pairs, *, num_classes, gt_codes, pred_codes, reference, jobs, cache_dir, progress,
per_image) -> SemanticSums`` and ``panoptic_files(items, gt_dataset, pred_dataset, categories, *,
recompute_gt_areas, jobs, cache_dir, progress, per_image, reference) -> PanopticSums``.

Until the engine returns these sums itself, each function runs today's
:mod:`segmetrics._pipeline` on a private scratch object that looks like an
evaluator, and reads the sums back from it.  When the engine lands, replace the
import of this module in ``folders.py`` by the engine's module and delete this
file: nothing above the seam knows about evaluators inside the engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import _pipeline

__all__ = ["SemanticSums", "PanopticSums", "semantic_files", "panoptic_files", "resolve_jobs"]

resolve_jobs = _pipeline.resolve_jobs


@dataclass
class SemanticSums:
    confusion: np.ndarray                 # (K, K) int64, all images
    num_images: int
    image_tp: Optional[np.ndarray] = None  # (N, K) int64 per image, input order (per_image=True)
    image_fp: Optional[np.ndarray] = None
    image_fn: Optional[np.ndarray] = None


@dataclass
class PanopticSums:
    tp: np.ndarray                        # (K,) int64
    fp: np.ndarray
    fn: np.ndarray
    confusion: np.ndarray                 # (K+1, K+1) int64 category-map matrix
    match_image: np.ndarray               # (M,) int64 index into items (-1: not tracked without per_image)
    match_cat: np.ndarray                 # (M,) int64 dense category
    match_iou: np.ndarray                 # (M,) float64
    num_images: int
    warnings: list                        # per-image warnings, input order
    image_tp: Optional[np.ndarray] = None  # (N, K) int64 when per_image
    image_fp: Optional[np.ndarray] = None
    image_fn: Optional[np.ndarray] = None


# ----------------------------------------------------------------------------- semantic
class _Tables:
    def __init__(self, gt_codes: np.ndarray, pred_codes: np.ndarray) -> None:
        self._tables = (np.ascontiguousarray(gt_codes, dtype=np.int32),
                        np.ascontiguousarray(pred_codes, dtype=np.int32))

    def file_tables(self) -> tuple:
        return self._tables


class _SemanticScratchState:
    def __init__(self, k: int, per_image: bool) -> None:
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.num_images = 0
        self.per_image = [] if per_image else None


class _SemanticScratch:
    """What today's ``_pipeline.semantic_files`` reads from and writes into."""

    def __init__(self, k: int, gt_codes, pred_codes, per_image: bool) -> None:
        self.num_classes = k
        self.rules = _Tables(gt_codes, pred_codes)
        self.per_image = per_image
        self.state = _SemanticScratchState(k, per_image)

    def _check_new_ids(self, ids) -> None:  # the caller's state checks ids before the run
        pass


def semantic_files(pairs: Sequence[tuple], *, num_classes: int, gt_codes: np.ndarray, pred_codes: np.ndarray,
                   reference: Callable[[tuple], np.ndarray], jobs: int, cache_dir=None,
                   progress: Optional[Callable[[int], None]] = None, per_image: bool = False) -> SemanticSums:
    scratch = _SemanticScratch(num_classes, gt_codes, pred_codes, per_image)
    _pipeline.semantic_files(list(pairs), scratch, jobs=jobs, cache_dir=cache_dir, progress=progress,
                             reference=lambda _ev, item: reference(item))
    st = scratch.state
    out = SemanticSums(st.confusion, st.num_images)
    if per_image:
        k = num_classes
        rows = st.per_image
        out.image_tp, out.image_fp, out.image_fn = (
            np.array([r[key] for r in rows], dtype=np.int64).reshape(len(rows), k) for key in ("tp", "fp", "fn"))
    return out


# ----------------------------------------------------------------------------- panoptic
class _PanopticScratchState:
    def __init__(self, k: int, per_image: bool) -> None:
        self.tp = np.zeros(k, dtype=np.int64)
        self.fp = np.zeros(k, dtype=np.int64)
        self.fn = np.zeros(k, dtype=np.int64)
        self.confusion = np.zeros((k + 1, k + 1), dtype=np.int64)
        self.match_cat: list = []    # the fused loop's arrays, one per worker thread
        self.match_iou: list = []
        self.num_images = 0
        self.per_image = [] if per_image else None  # the fused loop's per-image records, input order
        self.warnings: list = []
        self.stats: list = []        # (index, ImageStats) of the images scored the per-image way


class _PanopticScratch:
    """What today's ``_pipeline.panoptic_files`` reads from and writes into."""

    def __init__(self, categories, recompute_gt_areas: bool, per_image: bool, index: dict) -> None:
        self.categories = categories
        self.recompute_gt_areas = recompute_gt_areas
        self.state = _PanopticScratchState(len(categories), per_image)
        self._index = index

    def add(self, stats) -> None:  # called in input order
        st = self.state
        st.tp += stats.tp
        st.fp += stats.fp
        st.fn += stats.fn
        np.add.at(st.confusion.reshape(-1), stats.confusion_index, stats.confusion_count)
        st.num_images += 1
        st.warnings.extend(stats.warnings)
        st.stats.append((self._index[stats.image_id], stats))


def panoptic_files(items: Sequence[tuple], gt_dataset, pred_dataset, categories, *, recompute_gt_areas: bool,
                   jobs: int, cache_dir=None, progress: Optional[Callable[[int], None]] = None,
                   per_image: bool = False, reference: Callable[[tuple], Any]) -> PanopticSums:
    items = list(items)
    index = {item[0]: i for i, item in enumerate(items)}
    scratch = _PanopticScratch(categories, recompute_gt_areas, per_image, index)
    if per_image:
        # today's fused loop returns one match array per thread without the image of each
        # match; with one thread the array holds the fused images in input order
        jobs = 1
    _pipeline.panoptic_files(items, gt_dataset, pred_dataset, scratch, jobs=jobs, cache_dir=cache_dir,
                             progress=progress, reference=reference)
    st = scratch.state
    k = len(categories)

    def cat(arrays, dtype):
        return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)

    fused_cat, fused_iou = cat(st.match_cat, np.int64), cat(st.match_iou, np.float64)
    stats = st.stats
    match_cat = cat([fused_cat] + [s.match_cat for _, s in stats], np.int64)
    match_iou = cat([fused_iou] + [s.match_iou for _, s in stats], np.float64)
    stats_image = [np.full(s.match_cat.size, i, dtype=np.int64) for i, s in stats]
    if per_image:
        records = st.per_image
        fused_image = np.repeat(np.array([index[r["image_id"]] for r in records], dtype=np.int64),
                                [int(np.sum(r["tp"])) for r in records]).astype(np.int64)
        if fused_image.size != fused_cat.size:
            raise RuntimeError("segmetrics internal error: fused matches do not add up to the per-image records")
        match_image = cat([fused_image] + stats_image, np.int64)
    else:
        match_image = np.full(match_cat.size, -1, dtype=np.int64)
    out = PanopticSums(st.tp, st.fp, st.fn, st.confusion, match_image, match_cat, match_iou, st.num_images,
                       list(st.warnings))
    if per_image:
        rows = {index[r["image_id"]]: (r["tp"], r["fp"], r["fn"]) for r in st.per_image}
        rows.update({i: (s.tp, s.fp, s.fn) for i, s in stats})
        out.image_tp, out.image_fp, out.image_fn = (
            np.array([rows[i][j] for i in range(len(items))], dtype=np.int64).reshape(len(items), k)
            for j in range(3))
    return out
