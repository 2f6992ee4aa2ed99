"""Per-image counts of one run, as the statistics read them.

A counts object holds the per-image integer counts of a run (rows in image
order, as the run-state file stores them) and knows how to score any sum of
its rows.  The resampling code only ever forms weighted row sums
(``weights @ block``) and hands them back to :meth:`_Counts.evaluate`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..metrics import _check_rule, _from_counts
from ..pq import iou_sums
from ._formulas import (
    PANOPTIC_HEADLINE,
    PANOPTIC_PER_CLASS,
    SEMANTIC_HEADLINE,
    SEMANTIC_PER_CLASS,
    _check_isthing,
    _pq,
)

__all__ = ["SemanticCounts", "PanopticCounts"]


def _int_counts(name: str, x, shape: tuple | None) -> np.ndarray:
    """An (N, K) array of non-negative integer counts as int64 (exact float64 accepted)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise InputError(f"{name} must be an (N images, K classes) array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise InputError(f"{name} has shape {arr.shape}, expected {shape} like tp")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.trunc(arr)) or (
                arr.size and np.abs(arr).max() >= 2.0**63):
            raise InputError(f"{name} must hold integer counts; its float values are not all whole numbers")
    elif arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        raise InputError(f"{name} must hold integer counts, got dtype {arr.dtype}")
    elif arr.dtype == np.uint64 and arr.size and arr.max() >= 2**63:
        raise InputError(f"{name} holds counts beyond int64")
    out = arr.astype(np.int64)
    if out.size and out.min() < 0:
        i, c = np.unravel_index(int(np.argmin(out)), out.shape)
        raise InputError(f"{name} holds a negative count ({int(out[i, c])}) at image index {i}, class {c}")
    return out


def _names(names, k: int, what: str) -> tuple[str, ...]:
    if names is None:
        return tuple(str(i) for i in range(k))
    names = tuple(str(n) for n in names)
    if len(names) != k:
        raise InputError(f"{len(names)} {what} names given for {k} columns")
    return names


def _image_ids(image_ids, n: int) -> tuple | None:
    if image_ids is None:
        return None
    ids = tuple(image_ids)
    if len(ids) != n:
        raise InputError(f"{len(ids)} image ids given for {n} rows of counts")
    return ids


class _Counts:
    """Common part of :class:`SemanticCounts` and :class:`PanopticCounts`."""

    task: str = ""
    headline: tuple[str, ...] = ()
    per_class: tuple[str, ...] = ()
    primary: str = ""

    def __init__(self, tp, names, image_ids) -> None:
        self.tp = _int_counts("tp", tp, None)
        n, k = self.tp.shape
        if k == 0:
            raise InputError("counts need at least one class column")
        self.class_names = _names(names, k, "class")
        self.image_ids = _image_ids(image_ids, n)
        self._block: np.ndarray | None = None
        self._float_totals: np.ndarray | None = None

    @property
    def num_images(self) -> int:
        return self.tp.shape[0]

    @property
    def num_classes(self) -> int:
        return self.tp.shape[1]

    # ---- what the resampling code uses
    def int_block(self) -> np.ndarray:
        """(N, Ci) int64: the integer columns every metric is computed from."""
        if self._block is None:
            self._block = np.ascontiguousarray(self._make_block())
        return self._block

    def float_block(self) -> np.ndarray | None:
        """(N, Cf) float64 columns (panoptic IoU sums), or None."""
        return None

    def float_totals(self) -> np.ndarray | None:
        """Column sums of :meth:`float_block`, each correctly rounded (math.fsum: any image order, same bits)."""
        block = self.float_block()
        if block is None:
            return None
        if self._float_totals is None:
            rows, cols = np.nonzero(block)
            self._float_totals = iou_sums(cols, block[rows, cols], block.shape[1])
        return self._float_totals

    def metrics(self) -> dict:
        """Dataset-level metrics (the sums of all rows scored once)."""
        ints = self.int_block().sum(axis=0)
        return {k: v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v
                for k, v in self.evaluate(ints.astype(np.float64), self.float_totals()).items()}

    def leave_one_out(self) -> dict:
        """Metrics of the N datasets that each leave one image out (jackknife), shape (N, ...)."""
        ints = self.int_block()
        total = ints.sum(axis=0)
        floats = self.float_block()
        ftot = None if floats is None else self.float_totals()[None, :] - floats
        return self.evaluate((total[None, :] - ints).astype(np.float64), ftot)

    def subset(self, rows) -> "_Counts":
        """The counts of the images ``rows`` (indices or a boolean mask), in that order."""
        raise NotImplementedError

    def same_setup(self, other: "_Counts") -> str | None:
        """Why ``other`` cannot be compared with this run image by image (None if it can)."""
        if type(other) is not type(self):
            return f"a {self.task} run cannot be compared with a {other.task} run"
        if other.num_classes != self.num_classes:
            return f"the runs have {self.num_classes} and {other.num_classes} classes"
        if other.class_names != self.class_names:
            diff = next(i for i, (a, b) in enumerate(zip(self.class_names, other.class_names)) if a != b)
            return (f"the class lists differ (class {diff}: {self.class_names[diff]!r} vs "
                    f"{other.class_names[diff]!r})")
        if other.num_images != self.num_images:
            return f"the runs have {self.num_images} and {other.num_images} images"
        if self.image_ids is not None and other.image_ids is not None and self.image_ids != other.image_ids:
            diff = next(i for i, (a, b) in enumerate(zip(self.image_ids, other.image_ids)) if a != b)
            return (f"the image ids differ (row {diff}: {self.image_ids[diff]!r} vs "
                    f"{other.image_ids[diff]!r})")
        return None

    # ---- per task
    def _make_block(self) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, int_sums: np.ndarray, float_sums: np.ndarray | None) -> dict:
        """Metrics of summed blocks: ``int_sums`` (..., Ci) and ``float_sums`` (..., Cf), float64."""
        raise NotImplementedError


class SemanticCounts(_Counts):
    """Per-image per-class TP / FP / FN of a semantic run.

    Parameters
    ----------
    tp, fp, fn : array_like, shape (N, K)
        Integer pixel counts of each image (rows, in image order) and class.
        ``fn`` includes ground-truth pixels of images without a prediction
        (the void column of ``allow_missing``): they lower recall, not precision.
    absent_rule : {"mmseg", "detectron2"}
    class_names : sequence of str, optional
    image_ids : sequence, optional
        One id per row (int or str, as the run-state file keeps them).

    Notes
    -----
    Metrics of any set of rows are :func:`semantic_from_counts` of their sums
    (never a mean of per-image scores).  The state file's ``image_tp``,
    ``image_fp``, ``image_fn`` arrays go in as they are.
    """

    task = "semantic"
    headline = SEMANTIC_HEADLINE
    per_class = SEMANTIC_PER_CLASS
    primary = "mIoU"

    def __init__(self, tp, fp, fn, *, absent_rule: str = "mmseg", class_names: Sequence[str] | None = None,
                 image_ids: Sequence[Any] | None = None) -> None:
        super().__init__(tp, class_names, image_ids)
        _check_rule(absent_rule)
        self.fp = _int_counts("fp", fp, self.tp.shape)
        self.fn = _int_counts("fn", fn, self.tp.shape)
        self.absent_rule = absent_rule

    def _make_block(self) -> np.ndarray:
        return np.hstack([self.tp, self.fp, self.fn])

    def evaluate(self, int_sums, float_sums=None) -> dict:
        k = self.num_classes
        return _from_counts(int_sums[..., :k], int_sums[..., k:2 * k], int_sums[..., 2 * k:], self.absent_rule)

    def subset(self, rows) -> "SemanticCounts":
        ids = None if self.image_ids is None else [self.image_ids[i] for i in _row_list(rows, self.num_images)]
        return SemanticCounts(self.tp[rows], self.fp[rows], self.fn[rows], absent_rule=self.absent_rule,
                              class_names=self.class_names, image_ids=ids)

    def same_setup(self, other) -> str | None:
        why = super().same_setup(other)
        if why is None and other.absent_rule != self.absent_rule:
            why = f"the runs use absent_rule {self.absent_rule!r} and {other.absent_rule!r}"
        return why


class PanopticCounts(_Counts):
    """Per-image per-category TP / FP / FN and IoU sums of a panoptic run.

    Parameters
    ----------
    tp, fp, fn : array_like, shape (N, K)
        Integer segment counts of each image (rows, in image order) and category.
    iou_sum : array_like, shape (N, K)
        Sum of the match IoUs of each image and category (float64, in
        ``[0, tp]``; the state file derives it with math.fsum per image and
        category).
    isthing : array_like of bool, shape (K,)
    category_names : sequence of str, optional
    image_ids : sequence, optional

    Notes
    -----
    Metrics of any set of rows are :func:`pq_from_counts` of their sums: a
    category counts iff its summed ``tp + fp + fn > 0``, as panopticapi would
    decide on that set of images.
    """

    task = "panoptic"
    headline = PANOPTIC_HEADLINE
    per_class = PANOPTIC_PER_CLASS
    primary = "PQ"

    def __init__(self, tp, fp, fn, iou_sum, isthing, *, category_names: Sequence[str] | None = None,
                 image_ids: Sequence[Any] | None = None) -> None:
        super().__init__(tp, category_names, image_ids)
        self.fp = _int_counts("fp", fp, self.tp.shape)
        self.fn = _int_counts("fn", fn, self.tp.shape)
        iou = np.asarray(iou_sum, dtype=np.float64) if np.asarray(iou_sum).dtype.kind in "iuf" else None
        if iou is None or iou.shape != self.tp.shape:
            raise InputError(f"iou_sum must be a numeric array of shape {self.tp.shape} like tp")
        bad = ~np.isfinite(iou) | (iou < 0) | (iou > self.tp * (1.0 + 1e-9))
        if bad.any():
            i, c = (int(v[0]) for v in np.nonzero(bad))
            raise InputError(f"iou_sum of image index {i}, category {c} is {float(iou[i, c])!r}, outside "
                             f"[0, tp = {int(self.tp[i, c])}] (each match has 0.5 < IoU <= 1)")
        self.iou_sum = iou
        self.isthing = _check_isthing(isthing, self.num_classes)

    @classmethod
    def from_matches(cls, tp, fp, fn, match_image, match_cat, match_iou, isthing, *,
                     category_names: Sequence[str] | None = None,
                     image_ids: Sequence[Any] | None = None) -> "PanopticCounts":
        """Counts whose per-image IoU sums are formed from the match list of a run.

        Parameters
        ----------
        tp, fp, fn : array_like, shape (N, K)
        match_image, match_cat : array_like of int, shape (M,)
            Row (image index) and category index of each match.
        match_iou : array_like of float, shape (M,)
        isthing, category_names, image_ids
            As for the constructor.

        Notes
        -----
        ``iou_sum[i, c] = math.fsum`` of the IoUs of the matches of image ``i``
        and category ``c`` (correctly rounded, so the order of the matches
        does not matter): :func:`segmetrics.pq.iou_sums`, the rule of
        :meth:`segmetrics.state.PanopticState.image_iou_sum`.
        """
        shape = np.shape(tp)
        image = np.asarray(match_image, dtype=np.int64)
        cat = np.asarray(match_cat, dtype=np.int64)
        iou = np.asarray(match_iou, dtype=np.float64)
        if len(shape) != 2 or not image.shape == cat.shape == iou.shape or image.ndim != 1:
            raise InputError("match_image, match_cat and match_iou must be 1-D arrays of one length, tp (N, K)")
        bad = (image < 0) | (image >= shape[0]) | (cat < 0) | (cat >= shape[1])
        if bad.any():
            j = int(np.argmax(bad))
            raise InputError(f"match {j} names image index {int(image[j])} and category {int(cat[j])}, "
                             f"outside the {shape[0]} x {shape[1]} counts")
        iou_sum = iou_sums(cat, iou, shape[1], match_image=image, num_images=shape[0])
        return cls(tp, fp, fn, iou_sum, isthing, category_names=category_names, image_ids=image_ids)

    def _make_block(self) -> np.ndarray:
        return np.hstack([self.tp, 2 * self.tp + self.fp + self.fn])

    def float_block(self) -> np.ndarray:
        return self.iou_sum

    def evaluate(self, int_sums, float_sums=None) -> dict:
        k = self.num_classes
        return _pq(int_sums[..., :k], int_sums[..., k:], float_sums, self.isthing)

    def subset(self, rows) -> "PanopticCounts":
        ids = None if self.image_ids is None else [self.image_ids[i] for i in _row_list(rows, self.num_images)]
        return PanopticCounts(self.tp[rows], self.fp[rows], self.fn[rows], self.iou_sum[rows], self.isthing,
                              category_names=self.class_names, image_ids=ids)

    def same_setup(self, other) -> str | None:
        why = super().same_setup(other)
        if why is None and not np.array_equal(other.isthing, self.isthing):
            why = "the runs disagree on which categories are things"
        return why


def _row_list(rows, n: int) -> list[int]:
    return np.arange(n)[rows].tolist()
