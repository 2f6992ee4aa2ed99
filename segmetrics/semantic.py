"""Semantic-segmentation evaluation: confusion matrices, a mergeable evaluator, results.

The whole state of an evaluation is one int64 ``(K, K)`` confusion matrix
(rows = ground truth, columns = prediction), optionally with per-image
TP / FP / FN vectors.  Counting happens in the compiled kernel
:func:`segmetrics._kernels.confusion.accumulate` (one pass, GIL released); this
module validates inputs, folds the label rules into two lookup tables and
turns the matrix into metrics (:mod:`segmetrics.metrics`).

Label rules (they change the numbers)
-------------------------------------
* ``gt_map`` / ``pred_map`` are lookup tables applied to raw labels first
  (``effective = map[raw]``).  Their entries must be in ``[0, K)`` or equal to
  ``ignore_index``.  A raw label at or beyond a table's length is an error,
  except a raw ground-truth label equal to ``ignore_index`` (it stays ignored).
* A ground-truth pixel whose (mapped) label equals ``ignore_index`` counts
  nowhere, whatever its prediction; its prediction is not checked.
* Any other ground-truth label outside ``[0, K)`` is a :class:`LabelError`.
* A prediction on a scored pixel must be in ``[0, K)`` after ``pred_map``.  A
  prediction equal to ``ignore_index`` (255 by default) on a scored pixel is a
  :class:`LabelError` too: a prediction cannot abstain.
* ``reduce_zero_label=True`` (ADE20K, mmsegmentation's rule): ground truth
  ``0 -> ignore``, ``k -> k - 1`` for ``1 <= k <= K``, ``ignore_index`` stays
  ignored.  Predictions are taken as ``0..K-1`` (what a model outputs); pass
  ``pred_reduce_zero_label=True`` for predictions written in the ``1..K``
  convention (ADE20K submission PNGs): ``k -> k - 1`` and ``0`` is an error on
  scored pixels.
* An empty array (no pixel) is an :class:`InputError`, not a zero update.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import metrics as _metrics
from ._kernels.confusion import accumulate
from .errors import InputError, LabelError
from .metrics import *  # noqa: F403  (the functional metrics, re-exported here)
from .metrics import ABSENT_RULES, summarize

__all__ = ["confusion_matrix", "SemanticEvaluator", "SemanticState", "SemanticResult", *_metrics.__all__]

_IGNORED = -1
_BAD = -2
_MAX_CLASSES = 46340  # K * K must fit the kernel's int32 row offsets

# dtype the kernel reads -> (view dtype, table cap).  Signed 8/16-bit maps are
# read as their unsigned twins: negative values land at 2**(bits-1) and above,
# beyond the capped tables, hence bad.  Unsigned 32/64-bit maps are read as
# their signed twins: values >= 2**(bits-1) turn negative, beyond every table.
_VIEWS = {
    np.dtype(np.uint8): (np.dtype(np.uint8), None),
    np.dtype(np.int8): (np.dtype(np.uint8), 1 << 7),
    np.dtype(np.uint16): (np.dtype(np.uint16), None),
    np.dtype(np.int16): (np.dtype(np.uint16), 1 << 15),
    np.dtype(np.int32): (np.dtype(np.int32), None),
    np.dtype(np.uint32): (np.dtype(np.int32), None),
    np.dtype(np.int64): (np.dtype(np.int64), None),
    np.dtype(np.uint64): (np.dtype(np.int64), None),
}

_C_NAMES = {np.dtype(np.uint8): "uint8_t", np.dtype(np.uint16): "uint16_t",
            np.dtype(np.int32): "int32_t", np.dtype(np.int64): "int64_t"}


def _kernel_for(gt_view: np.dtype, pred_view: np.dtype) -> Any:
    """The kernel specialisation for two view dtypes (skips the fused-type dispatch, ~3 us a call)."""
    signatures = getattr(accumulate, "__signatures__", None) or {}
    return signatures.get(f"{_C_NAMES[gt_view]}|{_C_NAMES[pred_view]}", accumulate)


# --------------------------------------------------------------------------- inputs
def _to_numpy(x: Any, name: str) -> np.ndarray:
    """A label map as a native-byte-order integer ndarray (torch tensors without a copy)."""
    if type(x).__module__.split(".")[0] == "torch":
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        try:
            x = x.numpy()
        except TypeError as exc:  # a torch dtype numpy has no twin for
            raise InputError(f"{name}: torch dtype {x.dtype} is not an integer label dtype") from exc
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise InputError(
            f"{name} must hold integer labels, got dtype {arr.dtype}"
            + (" (cast class scores with argmax first)" if arr.dtype.kind in "fc" else "")
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)):
        raise InputError(f"num_classes must be an integer, got {num_classes!r}")
    k = int(num_classes)
    if not 1 <= k <= _MAX_CLASSES:
        raise InputError(f"num_classes must be in [1, {_MAX_CLASSES}], got {k}")
    return k


def _check_ignore(ignore_index: Any) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise InputError(f"ignore_index must be an integer or None, got {ignore_index!r}")
    return int(ignore_index)


def _check_map(table: Any, num_classes: int, ignore_index: int | None, name: str) -> np.ndarray | None:
    """Validate a lookup table: 1-D integer, every entry in [0, K) or == ignore_index."""
    if table is None:
        return None
    arr = _to_numpy(table, name)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D lookup table, got shape {arr.shape}")
    values = arr.astype(np.int64) if arr.dtype != np.uint64 else arr
    bad = (values < 0) | (values >= num_classes)
    if ignore_index is not None:
        bad &= values != ignore_index
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = ", ".join(f"{name}[{i}] = {arr[i]}" for i in idx[:5])
        raise InputError(
            f"{name} entries must be in [0, {num_classes}) or equal ignore_index={ignore_index}: "
            f"{shown}{' ...' if idx.size > 5 else ''} ({idx.size} bad entries)"
        )
    return values.astype(np.int64)


def _reduce_zero_table(num_classes: int, ignore_index: int) -> np.ndarray:
    """mmsegmentation's reduce_zero_label as a table: 0 -> ignore, k -> k - 1 for 1..K."""
    table = np.arange(-1, num_classes, dtype=np.int64)
    table[0] = ignore_index
    return table


def _codes(num_classes: int, ignore_index: int | None, table: np.ndarray | None, gt: bool) -> np.ndarray:
    """Kernel code table: class, -1 (ignored ground truth) or -2 (bad)."""
    values = np.arange(num_classes, dtype=np.int64) if table is None else table
    codes = values.astype(np.int32)
    in_range = (values >= 0) & (values < num_classes)
    if gt and ignore_index is not None:
        codes[values == ignore_index] = _IGNORED
    # a prediction equal to ignore_index outside [0, K) is bad on a scored pixel
    codes[~in_range & (codes != _IGNORED)] = _BAD
    return codes


def _views(arr: np.ndarray) -> np.ndarray:
    """The array as 2-D in a kernel dtype (a view unless it cannot be one)."""
    view_dtype = _VIEWS.get(arr.dtype, (None, None))[0]
    if view_dtype is None:  # an integer dtype outside the table: go through int64
        arr = arr.astype(np.int64)
        view_dtype = np.dtype(np.int64)
    arr2 = arr.reshape(-1, arr.shape[-1]) if arr.ndim != 2 else arr
    if arr2.strides[-1] % arr2.itemsize:  # unaligned inner stride: rare, copy
        arr2 = np.ascontiguousarray(arr2)
    return arr2.view(view_dtype) if arr2.dtype != view_dtype else arr2


def _raw_ignore(arr_dtype: np.dtype, ignore_index: int | None) -> tuple[bool, int]:
    """ignore_index in the value domain the kernel reads for this dtype."""
    if ignore_index is None:
        return False, 0
    info = np.iinfo(arr_dtype)
    if not info.min <= ignore_index <= info.max:
        return False, 0
    view_dtype = _VIEWS.get(arr_dtype, (np.dtype(np.int64), None))[0]
    return True, int(np.array(ignore_index, dtype=arr_dtype).view(view_dtype))


def _describe(image_id: Any) -> str:
    return "" if image_id is None else f" of image {image_id!r}"


# --------------------------------------------------------------------------- the counting core
class _Counter:
    """Validated configuration and cached kernel tables (shared by the API entry points)."""

    def __init__(self, num_classes: int, ignore_index: int | None, gt_map: Any, pred_map: Any) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = _check_ignore(ignore_index)
        self.gt_map = _check_map(gt_map, self.num_classes, self.ignore_index, "gt_map")
        self.pred_map = _check_map(pred_map, self.num_classes, self.ignore_index, "pred_map")
        self._tables: dict = {}

    def tables(self, gt_dtype: np.dtype, pred_dtype: np.dtype) -> tuple:
        """(kernel, gt codes, pred codes, has_ignore, raw ignore) for a dtype pair, cached."""
        key = (gt_dtype, pred_dtype)
        cached = self._tables.get(key)
        if cached is None:
            K, ign = self.num_classes, self.ignore_index
            gcodes = _codes(K, ign, self.gt_map, gt=True)
            pcodes = _codes(K, ign, self.pred_map, gt=False)
            gcap = _VIEWS.get(gt_dtype, (None, None))[1]
            pcap = _VIEWS.get(pred_dtype, (None, None))[1]
            if gcap is not None:
                gcodes = gcodes[:gcap]
            if pcap is not None:
                pcodes = pcodes[:pcap]
            has_ign, raw_ign = _raw_ignore(gt_dtype, ign)
            kernel = _kernel_for(_VIEWS.get(gt_dtype, (np.dtype(np.int64),))[0],
                                 _VIEWS.get(pred_dtype, (np.dtype(np.int64),))[0])
            cached = (kernel, np.ascontiguousarray(gcodes), np.ascontiguousarray(pcodes), has_ign, raw_ign)
            self._tables[key] = cached
        return cached

    def check_pair(self, gt: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
        gt = _to_numpy(gt, "gt")
        pred = _to_numpy(pred, "pred")
        if gt.shape != pred.shape:
            raise InputError(f"gt and pred must have the same shape, got {gt.shape} and {pred.shape}")
        if gt.size == 0:
            raise InputError(f"empty label maps (shape {gt.shape}): there is no pixel to score")
        return gt, pred

    def count(self, cm: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> tuple[int, int]:
        """Add one validated pair (any shape) into ``cm`` with the kernel."""
        kernel, gcodes, pcodes, has_ign, raw_ign = self.tables(gt.dtype, pred.dtype)
        g2 = _views(gt if gt.ndim >= 2 else gt.reshape(1, -1))
        p2 = _views(pred if pred.ndim >= 2 else pred.reshape(1, -1))
        return kernel(cm, g2, p2, gcodes, pcodes, has_ign, raw_ign)

    # ---- error path: only reached when the kernel counted bad pixels
    @staticmethod
    def _effective(raw: list, table: np.ndarray | None) -> list:
        """Effective labels of unique raw values, as Python ints (None: beyond the table)."""
        if table is None:
            return list(raw)
        return [int(table[v]) if 0 <= v < table.size else None for v in raw]

    def label_error(self, gt: np.ndarray, pred: np.ndarray, image_id: Any) -> LabelError:
        """The :class:`LabelError` for a pair the kernel found bad pixels in (slow path)."""
        K, ign = self.num_classes, self.ignore_index
        where = _describe(image_id)
        gvals, ginv, gcounts = np.unique(gt.ravel(), return_inverse=True, return_counts=True)
        graw = gvals.tolist()  # Python ints: exact for every dtype, uint64 included
        geff = self._effective(graw, self.gt_map)
        # ignored: the mapped label is ignore_index, or a raw ignore_index beyond gt_map
        gign = [ign is not None and (e == ign or (e is None and v == ign)) for v, e in zip(graw, geff)]
        gbad = [not i and (e is None or not 0 <= e < K) for i, e in zip(gign, geff)]
        if any(gbad):
            values = [v for v, b in zip(graw, gbad) if b]
            counts = [int(c) for c, b in zip(gcounts, gbad) if b]
            eff = [e for e, b in zip(geff, gbad) if b]
            return LabelError(self._message("ground truth", where, values, counts, eff, self.gt_map),
                              values=values, counts=counts, image=image_id)
        scored = ~np.asarray(gign, dtype=bool)[ginv.ravel()]
        pvals, pcounts = np.unique(pred.ravel()[scored], return_counts=True)
        praw = pvals.tolist()
        peff = self._effective(praw, self.pred_map)
        pbad = [e is None or not 0 <= e < K for e in peff]
        values = [v for v, b in zip(praw, pbad) if b]
        counts = [int(c) for c, b in zip(pcounts, pbad) if b]
        eff = [e for e, b in zip(peff, pbad) if b]
        msg = self._message("prediction", where, values, counts, eff, self.pred_map)
        if ign is not None and ign in eff:
            msg += f"; a prediction equal to ignore_index={ign} on a scored pixel is not allowed"
        return LabelError(msg, values=values, counts=counts, image=image_id)

    def _message(self, side: str, where: str, values: list, counts: list, eff: list,
                 table: np.ndarray | None) -> str:
        K = self.num_classes
        shown = ", ".join(f"{v} ({c} px)" for v, c in zip(values[:8], counts[:8]))
        more = f" and {len(values) - 8} more values" if len(values) > 8 else ""
        total = int(sum(counts))
        name = "gt_map" if side == "ground truth" else "pred_map"
        if table is not None and None in eff:
            short = [v for v, e in zip(values, eff) if e is None][:8]
            return (f"{side}{where}: labels {short} are beyond {name} (length {table.size}); "
                    f"{total} pixel(s) with invalid labels: {shown}{more}")
        after = f" after {name}" if table is not None else ""
        allowed = f"[0, {K})" + (
            f" or ignore_index={self.ignore_index}" if side == "ground truth" and self.ignore_index is not None else ""
        )
        return (f"{side}{where} has {total} pixel(s) with labels{after} outside {allowed}: "
                f"{shown}{more}")

    def same_config(self, other: "_Counter") -> str | None:
        for attr in ("num_classes", "ignore_index"):
            if getattr(self, attr) != getattr(other, attr):
                return f"{attr} differs ({getattr(self, attr)!r} vs {getattr(other, attr)!r})"
        for attr in ("gt_map", "pred_map"):
            a, b = getattr(self, attr), getattr(other, attr)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return f"{attr} differs"
        return None


def confusion_matrix(gt, pred, *, num_classes: int, ignore_index: int | None = 255,
                     gt_map=None, pred_map=None) -> np.ndarray:
    """Confusion matrix of one or more label maps, in one pass over the pixels.

    Parameters
    ----------
    gt, pred : array_like or torch.Tensor of integers
        Ground-truth and predicted label maps of the same shape (any number of
        dimensions), any integer dtype.  Non-contiguous and big-endian arrays
        are accepted.
    num_classes : int
        K, the number of classes; labels are ``0..K-1``.
    ignore_index : int or None, default 255
        Ground-truth label (after ``gt_map``) that is not scored.  ``None``
        scores every pixel.
    gt_map, pred_map : 1-D integer array, optional
        Lookup tables applied to the raw labels first; entries in ``[0, K)``
        or equal to ``ignore_index``.

    Returns
    -------
    numpy.ndarray
        int64 ``(K, K)``; ``cm[i, j]`` counts pixels of ground-truth class ``i``
        predicted as ``j``.

    Raises
    ------
    InputError
        Shape mismatch, non-integer dtype, empty arrays, bad parameters or tables.
    LabelError
        Labels outside ``[0, K)`` that are not ignored (message names the
        values and pixel counts), on either side.

    Notes
    -----
    ``cm[i, j] = #{pixels x : G(x) = i, P(x) = j}`` over the pixels with
    ``G(x) != ignore_index``, where ``G = gt_map[gt]`` and ``P = pred_map[pred]``
    (identity without a table).  The prediction of an ignored pixel is never
    looked at.  A raw ground-truth label equal to ``ignore_index`` that lies
    beyond ``gt_map`` stays ignored; any other label beyond a table is an error.
    """
    counter = _Counter(num_classes, ignore_index, gt_map, pred_map)
    gt, pred = counter.check_pair(gt, pred)
    cm = np.zeros((counter.num_classes,) * 2, dtype=np.int64)
    bad_gt, bad_pred = counter.count(cm, gt, pred)
    if bad_gt or bad_pred:
        raise counter.label_error(gt, pred, None)
    return cm


# --------------------------------------------------------------------------- state and result
@dataclasses.dataclass
class SemanticState:
    """The mergeable state of a semantic evaluation (integer sums only).

    Attributes
    ----------
    confusion : numpy.ndarray
        int64 ``(K, K)`` confusion matrix, rows = ground truth.
    num_images : int
        Images counted so far (a batch of N counts N).
    per_image : list of dict or None
        With ``per_image=True``: one ``{"image_id", "tp", "fp", "fn"}`` per
        image (int64 vectors of length K); otherwise None.
    """

    confusion: np.ndarray
    num_images: int = 0
    per_image: list | None = None

    @classmethod
    def empty(cls, num_classes: int, per_image: bool = False) -> "SemanticState":
        return cls(np.zeros((num_classes, num_classes), dtype=np.int64), 0, [] if per_image else None)

    def merge(self, other: "SemanticState") -> "SemanticState":
        """Add ``other`` into this state (in place) and return self.

        Integer sums only, so merging is associative and commutative; per-image
        records are concatenated (results sort them by image id).
        """
        if not isinstance(other, SemanticState):
            raise InputError(f"can only merge a SemanticState, got {type(other).__name__}")
        if other.confusion.shape != self.confusion.shape:
            raise InputError(f"cannot merge states of {other.confusion.shape[0]} and {self.confusion.shape[0]} classes")
        if (self.per_image is None) != (other.per_image is None):
            raise InputError("cannot merge a state with per-image records into one without (per_image differs)")
        if self.per_image is not None:
            mine = {_id_key(r["image_id"]) for r in self.per_image}
            dup = [r["image_id"] for r in other.per_image if _id_key(r["image_id"]) in mine]
            if dup:
                raise InputError(f"per-image records of both states share image ids {dup[:5]!r}; "
                                 "pass distinct image_id values to update()")
            self.per_image.extend(_copy_record(r) for r in other.per_image)
        self.confusion += other.confusion
        self.num_images += other.num_images
        return self


def _copy_record(r: dict) -> dict:
    return {"image_id": r["image_id"], "tp": r["tp"].copy(), "fp": r["fp"].copy(), "fn": r["fn"].copy()}


def _id_key(image_id: Any) -> tuple:
    """Sort key for image ids: integers by value, everything else by its text."""
    if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, bool):
        return (0, int(image_id), "")
    return (1, 0, str(image_id))


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclasses.dataclass(frozen=True)
class SemanticResult:
    """Frozen result of :meth:`SemanticEvaluator.compute`.

    Attributes
    ----------
    metrics : dict of str to float
        ``aAcc, mAcc, mIoU, fwIoU, mDice`` as fractions (NaN when undefined).
    per_class : dict of str to numpy.ndarray
        ``IoU, Acc, Dice, Precision, Recall`` (float64, NaN where undefined)
        and ``gt_pixels, pred_pixels`` (int64), each of length K.
    confusion : numpy.ndarray
        The int64 ``(K, K)`` confusion matrix (rows = ground truth).
    class_names : tuple of str
    num_images : int
    per_image : list of dict or None
        ``{"image_id", "tp", "fp", "fn"}`` per image, sorted by image id.
    absent_rule : str
    """

    metrics: dict
    per_class: dict
    confusion: np.ndarray
    class_names: tuple
    num_images: int
    per_image: list | None = None
    absent_rule: str = "mmseg"

    def to_dict(self) -> dict:
        """JSON-ready dict: plain floats / ints / lists, NaN written as None."""
        per_class = {
            k: [_json_float(v) for v in arr.tolist()] if arr.dtype.kind == "f" else arr.tolist()
            for k, arr in self.per_class.items()
        }
        out = {
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "per_class": per_class,
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
            "num_images": int(self.num_images),
            "absent_rule": self.absent_rule,
        }
        if self.per_image is not None:
            out["per_image"] = [
                {"image_id": r["image_id"] if isinstance(r["image_id"], (int, float, str)) or r["image_id"] is None
                 else str(r["image_id"]),
                 "tp": r["tp"].tolist(), "fp": r["fp"].tolist(), "fn": r["fn"].tolist()}
                for r in self.per_image
            ]
        return out


# --------------------------------------------------------------------------- evaluator
class SemanticEvaluator:
    """Accumulate a confusion matrix over images and compute mIoU, mAcc, aAcc, fwIoU, mDice.

    Parameters
    ----------
    num_classes : int
        K; class labels are ``0..K-1`` (after the lookup tables).
    ignore_index : int or None, default 255
        Ground-truth label that is not scored (``None``: score every pixel).
    reduce_zero_label : bool, default False
        ADE20K rule: ground truth ``0 -> ignore_index``, ``k -> k-1``
        (``1 <= k <= K``).  Cannot be combined with ``gt_map``.
    pred_reduce_zero_label : bool, default False
        Apply the same shift to predictions written as ``1..K`` (ADE20K
        submission PNGs).  Leave False for model outputs in ``0..K-1``.
        Cannot be combined with ``pred_map``.
    class_names : sequence of str, optional
        K names; default ``"0".."K-1"``.
    gt_map, pred_map : 1-D integer array, optional
        Lookup tables applied to raw labels (Cityscapes labelId -> trainId,
        custom merges); entries in ``[0, K)`` or ``== ignore_index``.
    per_image : bool, default False
        Keep per-image per-class TP / FP / FN vectors.
    absent_rule : {"mmseg", "detectron2"}
        How classes absent from the ground truth but predicted are scored
        (see :mod:`segmetrics.metrics`).

    Notes
    -----
    ``update`` adds ``confusion_matrix(gt, pred)`` of each image (see
    :func:`confusion_matrix` for the label rules).  On a :class:`LabelError`
    nothing from that call is counted.  The state is integer sums, so
    ``merge`` is associative and the result does not depend on the image order,
    the batching or the sharding.  Metrics: ``IoU_c = TP/(TP+FP+FN)``,
    ``Acc_c = TP/(TP+FN)``, ``aAcc = sum TP / sum GT``,
    ``fwIoU = sum_c (GT_c / sum GT) IoU_c``, ``Dice_c = 2TP/(2TP+FP+FN)``;
    classes absent from both sides are NaN and left out of the means.
    """

    def __init__(self, num_classes: int, *, ignore_index: int | None = 255,
                 reduce_zero_label: bool = False, pred_reduce_zero_label: bool = False,
                 class_names: Sequence[str] | None = None, gt_map=None, pred_map=None,
                 per_image: bool = False, absent_rule: str = "mmseg") -> None:
        k = _check_num_classes(num_classes)
        ign = _check_ignore(ignore_index)
        if absent_rule not in ABSENT_RULES:
            raise InputError(f"absent_rule must be one of {ABSENT_RULES}, got {absent_rule!r}")
        if (reduce_zero_label or pred_reduce_zero_label) and ign is None:
            raise InputError("reduce_zero_label needs an ignore_index (0 becomes ignore_index)")
        if reduce_zero_label and gt_map is not None:
            raise InputError("pass either gt_map or reduce_zero_label, not both (fold the shift into gt_map)")
        if pred_reduce_zero_label and pred_map is not None:
            raise InputError("pass either pred_map or pred_reduce_zero_label, not both")
        if reduce_zero_label:
            gt_map = _reduce_zero_table(k, ign)
        if pred_reduce_zero_label:
            pred_map = _reduce_zero_table(k, ign)
        self._counter = _Counter(k, ign, gt_map, pred_map)
        if class_names is None:
            names = tuple(str(i) for i in range(k))
        else:
            names = tuple(str(n) for n in class_names)
            if len(names) != k:
                raise InputError(f"class_names has {len(names)} names for num_classes={k}")
        self.class_names = names
        self.reduce_zero_label = bool(reduce_zero_label)
        self.pred_reduce_zero_label = bool(pred_reduce_zero_label)
        self.per_image = bool(per_image)
        self.absent_rule = absent_rule
        self.state = SemanticState.empty(k, self.per_image)

    # configuration, as effective tables
    @property
    def num_classes(self) -> int:
        return self._counter.num_classes

    @property
    def ignore_index(self) -> int | None:
        return self._counter.ignore_index

    @property
    def gt_map(self) -> np.ndarray | None:
        """Effective ground-truth lookup table (reduce_zero_label folded in), or None."""
        return self._counter.gt_map

    @property
    def pred_map(self) -> np.ndarray | None:
        """Effective prediction lookup table, or None."""
        return self._counter.pred_map

    def __repr__(self) -> str:
        return (f"SemanticEvaluator(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"reduce_zero_label={self.reduce_zero_label}, num_images={self.state.num_images})")

    # ---- pickling: drop the table cache
    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d.pop("_seen_ids", None)
        c = self._counter
        d["_counter"] = (c.num_classes, c.ignore_index, c.gt_map, c.pred_map)
        return d

    def __setstate__(self, d: dict) -> None:
        k, ign, gmap, pmap = d.pop("_counter")
        self.__dict__.update(d)
        self._counter = _Counter(k, ign, gmap, pmap)

    # ---- updates
    def _ids(self, image_id: Any, n: int, batched: bool) -> list:
        if image_id is None:
            return [self.state.num_images + i for i in range(n)]
        if not batched:
            return [image_id]
        if isinstance(image_id, (str, bytes)) or not isinstance(image_id, Iterable):
            raise InputError(f"a batch of {n} images needs a sequence of {n} image ids, got {image_id!r}")
        ids = list(image_id)
        if len(ids) != n:
            raise InputError(f"a batch of {n} images needs {n} image ids, got {len(ids)}")
        return ids

    def update(self, gt, pred, *, image_id: Any = None) -> None:
        """Count one image ``(H, W)`` or a batch ``(N, H, W)`` (numpy arrays or torch tensors).

        ``image_id`` names the image in error messages and per-image records
        (a sequence of N ids for a batch; default: the running image index).
        Raises :class:`InputError` / :class:`LabelError`; nothing is counted then.
        """
        c = self._counter
        gt, pred = c.check_pair(gt, pred)
        if gt.ndim not in (2, 3):
            raise InputError(f"label maps must be (H, W) or (N, H, W), got shape {gt.shape}")
        batched = gt.ndim == 3
        n = gt.shape[0] if batched else 1
        ids = self._ids(image_id, n, batched)
        if self.per_image:
            self._check_new_ids(ids)
        K = c.num_classes
        if self.per_image:
            mats = []
            for i in range(n):
                g, p = (gt[i], pred[i]) if batched else (gt, pred)
                cm = np.zeros((K, K), dtype=np.int64)
                if any(c.count(cm, g, p)):
                    raise c.label_error(g, p, ids[i])
                mats.append(cm)
            for i, cm in enumerate(mats):
                self.state.confusion += cm
                self.state.per_image.append(_record(ids[i], cm))
        else:
            bad = c.count(self.state.confusion, gt, pred)
            if any(bad):
                undo = np.zeros((K, K), dtype=np.int64)
                c.count(undo, gt, pred)
                self.state.confusion -= undo
                raise self._batch_error(gt, pred, ids, batched)
        self.state.num_images += n

    def _batch_error(self, gt, pred, ids, batched) -> LabelError:
        c = self._counter
        if not batched:
            return c.label_error(gt, pred, ids[0])
        scratch = np.zeros((c.num_classes,) * 2, dtype=np.int64)
        for i in range(gt.shape[0]):
            if any(c.count(scratch, gt[i], pred[i])):
                return c.label_error(gt[i], pred[i], ids[i])
        return c.label_error(gt, pred, None)  # not reached: some image had bad pixels

    def _check_new_ids(self, ids: list) -> None:
        records = self.state.per_image
        # the keys of the records seen so far, kept in step with the list (a new list, from
        # reset / merge into another state / unpickling, or a shorter one is read again)
        cache = self.__dict__.get("_seen_ids")
        if cache is None or cache[0] is not records or cache[1] > len(records):
            cache = self._seen_ids = [records, 0, set()]
        if cache[1] < len(records):
            cache[2].update(_id_key(r["image_id"]) for r in records[cache[1]:])
            cache[1] = len(records)
        keys = [_id_key(i) for i in ids]
        if len(set(keys)) != len(keys) or cache[2].intersection(keys):
            raise InputError(f"duplicate image id among {ids[:5]!r}; per-image records need distinct ids")

    def update_confusion(self, cm, *, image_id: Any = None) -> None:
        """Add a precomputed per-image ``(K, K)`` confusion matrix (rows = ground truth).

        Used by the folder pipeline, which counts with the kernel directly.
        The matrix must be non-negative integers of this evaluator's K.
        """
        arr = np.asarray(cm)
        if arr.dtype.kind not in "iu":
            raise InputError(f"confusion matrix must be integer, got dtype {arr.dtype}")
        if arr.shape != (self.num_classes, self.num_classes):
            raise InputError(f"confusion matrix must be ({self.num_classes}, {self.num_classes}), got {arr.shape}")
        if arr.size and arr.min() < 0:
            raise InputError("confusion matrix has negative counts")
        arr = arr.astype(np.int64)
        ids = self._ids(image_id, 1, False)
        if self.per_image:
            self._check_new_ids(ids)
            self.state.per_image.append(_record(ids[0], arr))
        self.state.confusion += arr
        self.state.num_images += 1

    def merge(self, other: "SemanticEvaluator") -> "SemanticEvaluator":
        """Add another evaluator's state into this one (in place); returns self.

        Raises :class:`InputError` if ``other`` is not a SemanticEvaluator or
        was built with a different K, ignore_index, lookup tables or per_image.
        """
        if not isinstance(other, SemanticEvaluator):
            raise InputError(f"can only merge another SemanticEvaluator, got {type(other).__name__}")
        why = self._counter.same_config(other._counter)
        if why is None and self.per_image != other.per_image:
            why = "per_image differs"
        if why:
            raise InputError(f"cannot merge evaluators with different configuration: {why}")
        self.state.merge(other.state)
        return self

    def reset(self) -> None:
        """Forget every counted image (the configuration stays)."""
        self.state = SemanticState.empty(self.num_classes, self.per_image)

    def compute(self) -> SemanticResult:
        """Metrics of everything counted so far, as a frozen :class:`SemanticResult`."""
        cm = self.state.confusion.copy()
        s = summarize(cm, absent_rule=self.absent_rule)
        names = ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice")
        per_image = None
        if self.state.per_image is not None:
            per_image = sorted((_copy_record(r) for r in self.state.per_image),
                               key=lambda r: _id_key(r["image_id"]))
        return SemanticResult(
            metrics={k: float(s[k]) for k in names},
            per_class={k: v for k, v in s.items() if k not in names},
            confusion=cm,
            class_names=self.class_names,
            num_images=self.state.num_images,
            per_image=per_image,
            absent_rule=self.absent_rule,
        )


def _record(image_id: Any, cm: np.ndarray) -> dict:
    tp = np.diag(cm).copy()
    return {"image_id": image_id, "tp": tp, "fp": cm.sum(axis=0) - tp, "fn": cm.sum(axis=1) - tp}

