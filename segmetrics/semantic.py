"""Semantic-segmentation evaluation: confusion matrices, a mergeable evaluator, results.

The whole state of an evaluation is one int64 ``(K, K)`` confusion matrix
(rows = ground truth, columns = prediction), a vector of GT pixels predicted as
void, and optionally per-image TP / FP / FN rows (:class:`~segmetrics.state.SemanticState`).
Counting happens in the compiled kernel :func:`segmetrics._kernels.confusion.accumulate`
(one pass, GIL released) with the code tables of :mod:`segmetrics.labels`; this
module validates inputs, keeps the state and turns it into metrics
(:mod:`segmetrics.metrics`).

Label rules (they change the numbers; :mod:`segmetrics.labels` owns them)
----------------------------------------------------------------------
* ``gt_map`` / ``pred_map`` are lookup tables applied to raw labels first
  (``effective = map[raw]``).  Their entries must be in ``[0, K)`` or equal to
  ``ignore_index``.  A raw label at or beyond a table's length is an error,
  except a raw ground-truth label equal to ``ignore_index`` (it stays ignored).
* A ground-truth pixel whose (mapped) label equals ``ignore_index`` counts
  nowhere, whatever its prediction; its prediction is not checked.
* Any other ground-truth label outside ``[0, K)`` is a :class:`LabelError`.
* A prediction on a scored pixel must be in ``[0, K)`` after ``pred_map``.  A
  prediction equal to ``ignore_index`` (255 by default) on a scored pixel is a
  :class:`LabelError` too (a prediction cannot abstain), unless
  ``void_predictions="miss"``: then it is a miss of the GT class and a false
  positive of no class.
* ``reduce_zero_label=True`` (ADE20K, mmsegmentation's rule): ground truth
  ``0 -> ignore``, ``k -> k - 1`` for ``1 <= k <= K``, ``ignore_index`` stays
  ignored.  Predictions are read as class indices ``0..K-1`` (what a model
  outputs, ``pred_labels="class-index"``); ``pred_labels="as-gt"`` reads them
  through the ground truth's table (ADE20K submission PNGs, ``1..K``).
* An empty array (no pixel) is an :class:`InputError`, not a zero update.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import metrics as _metrics
from . import report as _report
from ._analysis import ResultAnalysis
from .errors import InputError, LabelError
from ._engine import band as _band
from .labels import BAD, IGNORED, LabelRules, check_ignore, check_num_classes, reduce_zero_table
from .labels import as_label_array as _to_numpy
from .metrics import *  # noqa: F403  (the functional metrics, re-exported here)
from .metrics import ABSENT_RULES, image_scores, summarize
from .state import SemanticState, image_counts, write_state_file

__all__ = ["confusion_matrix", "SemanticEvaluator", "SemanticState", "SemanticResult", "build_result",
           *_metrics.__all__]

HEADLINE = ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice")
BOUNDARY_HEADLINE = ("mBIoU", "mMinIoU")
#: Headline keys some convention profiles add (:mod:`segmetrics.conventions`).
EXTRA_HEADLINE = ("mIoU_per_image", "mIoU_category")
_PER_CLASS_KEYS = ("IoU", "Acc", "Dice", "Precision", "Recall", "BIoU", "MinIoU", "gt_pixels", "pred_pixels")

_U8 = np.dtype(np.uint8)

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
    """The kernel specialisation for two view dtypes (skips the fused-type dispatch, ~3 us a call).
    The kernel loads here, on a counter's first image: folder runs, which count in their own
    kernels, never load it."""
    from ._kernels.confusion import accumulate

    signatures = getattr(accumulate, "__signatures__", None) or {}
    return signatures.get(f"{_C_NAMES[gt_view]}|{_C_NAMES[pred_view]}", accumulate)


# --------------------------------------------------------------------------- inputs
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
    """Kernel tables of a :class:`~segmetrics.labels.LabelRules` per dtype pair, and the error path."""

    def __init__(self, rules: LabelRules, pred_codes: np.ndarray | None = None) -> None:
        self.rules = rules
        self._gt_codes = rules.gt_codes()
        self._pred_codes = rules.pred_codes() if pred_codes is None else pred_codes
        self._tables: dict = {}

    @property
    def size(self) -> int:
        """Columns counted: K, or K + 1 with the void column."""
        return self.rules.counted_classes

    def tables(self, gt_dtype: np.dtype, pred_dtype: np.dtype) -> tuple:
        """(kernel, gt codes, pred codes, has_ignore, raw ignore) for a dtype pair, cached."""
        key = (gt_dtype, pred_dtype)
        cached = self._tables.get(key)
        if cached is None:
            gcodes, pcodes = self._gt_codes, self._pred_codes
            gcap = _VIEWS.get(gt_dtype, (None, None))[1]
            pcap = _VIEWS.get(pred_dtype, (None, None))[1]
            if gcap is not None:
                gcodes = gcodes[:gcap]
            if pcap is not None:
                pcodes = pcodes[:pcap]
            has_ign, raw_ign = _raw_ignore(gt_dtype, self.rules.ignore_index)
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
        # 2-D uint8 maps are their own kernel view (the common case, without _views' lookups)
        g2 = gt if gt.dtype is _U8 and gt.ndim == 2 else _views(gt if gt.ndim >= 2 else gt.reshape(1, -1))
        p2 = pred if pred.dtype is _U8 and pred.ndim == 2 else _views(pred if pred.ndim >= 2 else pred.reshape(1, -1))
        return kernel(cm, g2, p2, gcodes, pcodes, has_ign, raw_ign)

    def matrix(self, gt: np.ndarray, pred: np.ndarray, image_id: Any = None) -> np.ndarray:
        """One validated pair's matrix (``size`` x ``size``), or its :class:`LabelError`."""
        cm = np.zeros((self.size, self.size), dtype=np.int64)
        if any(self.count(cm, gt, pred)):
            raise self.label_error(gt, pred, image_id)
        return cm

    # ---- error path: only reached when the kernel counted bad pixels
    @staticmethod
    def _lookup(raw: list, codes: np.ndarray, table: np.ndarray | None) -> tuple[list, list]:
        """Codes and effective labels of unique raw values (None: beyond the table)."""
        code = [int(codes[v]) if 0 <= v < codes.size else None for v in raw]
        if table is None:
            return code, list(raw)
        return code, [int(table[v]) if 0 <= v < table.size else None for v in raw]

    def label_error(self, gt: np.ndarray, pred: np.ndarray, image_id: Any) -> LabelError:
        """The :class:`LabelError` for a pair the kernel found bad pixels in (slow path)."""
        rules = self.rules
        ign = rules.ignore_index
        where = _describe(image_id)
        gvals, ginv, gcounts = np.unique(gt.ravel(), return_inverse=True, return_counts=True)
        graw = gvals.tolist()  # Python ints: exact for every dtype, uint64 included
        gcode, geff = self._lookup(graw, self._gt_codes, rules.gt_map)
        # ignored: the code says so, or a raw ignore_index beyond the table
        gign = [c == IGNORED or (c is None and ign is not None and v == ign) for v, c in zip(graw, gcode)]
        gbad = [not i and (c is None or c == BAD) for i, c in zip(gign, gcode)]
        if any(gbad):
            values = [v for v, b in zip(graw, gbad) if b]
            counts = [int(c) for c, b in zip(gcounts, gbad) if b]
            eff = [e for e, b in zip(geff, gbad) if b]
            return LabelError(self._message("ground truth", where, values, counts, eff, rules.gt_map),
                              side="gt", values=values, counts=counts, image=image_id)
        scored = ~np.asarray(gign, dtype=bool)[ginv.ravel()]
        pvals, pcounts = np.unique(pred.ravel()[scored], return_counts=True)
        praw = pvals.tolist()
        pcode, peff = self._lookup(praw, self._pred_codes, rules.pred_map)
        pbad = [c is None or c == BAD for c in pcode]
        values = [v for v, b in zip(praw, pbad) if b]
        counts = [int(c) for c, b in zip(pcounts, pbad) if b]
        eff = [e for e, b in zip(peff, pbad) if b]
        msg = self._message("prediction", where, values, counts, eff, rules.pred_map)
        predicts_ignore = ign is not None and ign in eff
        if predicts_ignore:
            msg += f"; a prediction equal to ignore_index={ign} on a scored pixel is not allowed"
        return LabelError(msg, side="pred", values=values, counts=counts, image=image_id,
                          predicts_ignore=predicts_ignore)

    def _message(self, side: str, where: str, values: list, counts: list, eff: list,
                 table: np.ndarray | None) -> str:
        k = self.rules.num_classes
        shown = ", ".join(f"{v} ({c} px)" for v, c in zip(values[:8], counts[:8]))
        more = f" and {len(values) - 8} more values" if len(values) > 8 else ""
        total = int(sum(counts))
        name = "gt_map" if side == "ground truth" else "pred_map"
        if table is not None and None in eff:
            short = [v for v, e in zip(values, eff) if e is None][:8]
            return (f"{side}{where}: labels {short} are beyond {name} (length {table.size}); "
                    f"{total} pixel(s) with invalid labels: {shown}{more}")
        after = f" after {name}" if table is not None else ""
        ign = self.rules.ignore_index
        allowed = f"[0, {k})" + (f" or ignore_index={ign}" if side == "ground truth" and ign is not None else "")
        return (f"{side}{where} has {total} pixel(s) with labels{after} outside {allowed}: "
                f"{shown}{more}")


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
    counter = _Counter(LabelRules.build(num_classes, ignore_index=ignore_index, gt_map=gt_map, pred_map=pred_map))
    gt, pred = counter.check_pair(gt, pred)
    cm = np.zeros((counter.rules.num_classes,) * 2, dtype=np.int64)
    bad_gt, bad_pred = counter.count(cm, gt, pred)
    if bad_gt or bad_pred:
        raise counter.label_error(gt, pred, None)
    return cm




def _image_pair(gt, pred, rules: LabelRules, pred_all_void: bool) -> tuple:
    """(counter, gt, pred) of one image under ``rules`` (see :func:`image_confusion`)."""
    if pred_all_void:
        rules = rules.with_void_column()
        counter = _Counter(rules, pred_codes=rules.void_codes())  # every raw value: the void column
        gt_arr, _ = counter.check_pair(gt, gt)
        return counter, gt_arr, gt_arr
    counter = _Counter(rules)
    gt_arr, pred_arr = counter.check_pair(gt, pred)
    return counter, gt_arr, pred_arr


def image_confusion(gt, pred, rules: LabelRules, *, image_id: Any = None, pred_all_void: bool = False,
                    dilation_ratio: float | None = None, dilation: int | None = None):
    """One image's matrix under ``rules`` (``counted_classes`` square), or its :class:`LabelError`.

    ``pred_all_void``: the image has no prediction; every scored GT pixel is a
    void prediction (``pred`` is ignored; ``rules`` must count the void column).
    The folder API's reference path for files the engine does not take.  With
    ``dilation_ratio`` (or ``dilation``, pixels): ``(matrix, interior)``, ``interior``
    the image's ``(3, counted_classes)`` Boundary IoU interior counts
    (:func:`_band_interior`).
    """
    counter, gt_arr, pred_arr = _image_pair(gt, pred, rules, pred_all_void)
    cm = counter.matrix(gt_arr, pred_arr, image_id)
    if dilation_ratio is None and dilation is None:
        return cm
    ratio = _band.DEFAULT_DILATION_RATIO if dilation_ratio is None else dilation_ratio
    return cm, _band_interior(counter, gt_arr, pred_arr, ratio, dilation)


def _band_interior(counter: "_Counter", gt: np.ndarray, pred: np.ndarray, ratio: float,
                   dilation: int | None) -> np.ndarray:
    """The ``(3, counter.size)`` interior counts (``gt_in``, ``pred_in``, ``both_in``) of one
    validated (H, W) pair, read with the confusion kernel's code tables."""
    if gt.ndim != 2:
        raise InputError(f"boundary counts need (H, W) label maps or (N, H, W) batches, got shape {gt.shape}")
    _, gcodes, pcodes, has_ign, raw_ign = counter.tables(gt.dtype, pred.dtype)
    out = np.zeros((3, counter.size), dtype=np.int64)
    _band.semantic_interior(_rows(gt), _rows(pred), (gcodes, pcodes, has_ign, raw_ign),
                            _band.width(gt.shape[0], gt.shape[1], ratio, dilation), out)
    return out


def _rows(arr: np.ndarray) -> np.ndarray:
    """An (H, W) map in a kernel dtype with contiguous rows (the band kernel's input)."""
    v = _views(arr)
    if v.shape[1] > 1 and v.strides[1] != v.itemsize:
        v = np.ascontiguousarray(v)
    return v


def image_band(cm: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """``(3, K')`` band counts (intersection, GT band, predicted band) of one image's
    ``(K', K')`` matrix and interior counts (:func:`segmetrics._engine.band.band_counts`)."""
    return np.stack(_band.band_counts(np.diag(cm), cm.sum(axis=1), cm.sum(axis=0), interior))


# --------------------------------------------------------------------------- result
@dataclasses.dataclass(frozen=True)
class SemanticResult(ResultAnalysis):
    """Frozen result of a semantic evaluation (:meth:`SemanticEvaluator.compute`,
    :func:`segmetrics.evaluate_semantic_folders`, :func:`segmetrics.load_state`).

    Attributes
    ----------
    metrics : dict of str to float
        ``aAcc, mAcc, mIoU, fwIoU, mDice`` as fractions (NaN when undefined),
        ``mBIoU, mMinIoU`` with ``boundary=True``, and, scored with a convention
        profile, the keys it adds (``mIoU_per_image``, ``mIoU_category``).
    per_class : dict of str to numpy.ndarray
        ``IoU, Acc, Dice, Precision, Recall`` (float64, NaN where undefined)
        and ``gt_pixels, pred_pixels`` (int64), each of length K; ``BIoU``,
        ``MinIoU`` with ``boundary=True``.
    confusion : numpy.ndarray
        The int64 ``(K, K)`` confusion matrix (rows = ground truth; void
        predictions are in ``state.void``).
    class_names : tuple of str
    num_images : int
    per_image : list of dict or None
        ``{"image_id", "tp", "fp", "fn"}`` per image, sorted by image id.
    absent_rule : str
    state : SemanticState
        The sums the numbers come from (save with :meth:`save_state`).
    params : dict
        Every setting that changes the numbers.
    dataset : dict
        What was scored (paths, ``missing_ids``, ``extra_ids``), for folder runs.
    notes : tuple of str
        How settings were decided (e.g. the prediction label convention).
    warnings : tuple of str
        Data warnings (missing / extra predictions, void predictions).
    manifest : segmetrics.stats.Manifest or None
        Slice attributes of the images (:meth:`with_slices`).

    Statistics and figures: see :class:`segmetrics._analysis.ResultAnalysis`
    (:meth:`intervals`, :meth:`worst`, :meth:`slice_metrics`, :meth:`plot_confusion`, ...).
    """

    metrics: dict
    per_class: dict
    confusion: np.ndarray
    class_names: tuple
    num_images: int
    per_image: list | None = None
    absent_rule: str = "mmseg"
    state: SemanticState | None = dataclasses.field(default=None, repr=False, compare=False)
    params: dict = dataclasses.field(default_factory=dict)
    dataset: dict = dataclasses.field(default_factory=dict)
    notes: tuple = ()
    warnings: tuple = ()
    manifest: Any = dataclasses.field(default=None, repr=False, compare=False)
    comparison: dict | None = dataclasses.field(default=None, repr=False, compare=False)

    task = "semantic"

    def conventions(self, names="all") -> dict:
        """Every convention profile's numbers for this run and how each rule moves them
        (:func:`segmetrics.conventions.compare`)."""
        from .conventions import compare

        return compare(self, names)

    def with_conventions(self, names="all") -> "SemanticResult":
        """A copy whose report (``to_report``, the CLI's JSON and table) includes :meth:`conventions`."""
        return dataclasses.replace(self, comparison=self.conventions(names))

    def to_dict(self) -> dict:
        """JSON-ready dict: plain floats / ints / lists, NaN written as None."""
        out = {
            "metrics": self.metrics,
            "per_class": self.per_class,
            "class_names": list(self.class_names),
            "confusion": self.confusion,
            "num_images": int(self.num_images),
            "absent_rule": self.absent_rule,
        }
        if self.per_image is not None:
            out["per_image"] = self.per_image
        return _report.json_ready(out)

    def to_report(self, *, intervals=None, worst: int | None = None) -> dict:
        """The report ``segmetrics eval --json`` writes (schema: ``docs/json_schema.md``).

        ``intervals`` (from :meth:`intervals`) adds the ``intervals`` key, ``worst=K`` the K
        worst images; a result with a manifest (:meth:`with_slices`) adds ``slices``.
        """
        rows = []
        for i, name in enumerate(self.class_names):
            row = {"id": i, "name": name}
            row.update({key: self.per_class[key][i] for key in _PER_CLASS_KEYS if key in self.per_class})
            rows.append(row)
        d = self.dataset
        dataset = {"gt": d.get("gt"), "pred": d.get("pred"), "images": self.num_images,
                   "missing_predictions": len(d.get("missing_ids", ())),
                   "extra_predictions": len(d.get("extra_ids", ())),
                   "fingerprint": d.get("fingerprint")}
        keys = HEADLINE + tuple(k for k in EXTRA_HEADLINE + BOUNDARY_HEADLINE if k in self.metrics)
        report = _report.build_report(task="semantic", params=self.params, dataset=dataset,
                                      metrics={k: self.metrics[k] for k in keys}, per_class=rows,
                                      warnings=self.warnings, notes=self.notes)
        if self.comparison is not None:
            report["conventions"] = _report.json_ready(self.comparison)
        return self._report_extras(report, intervals, worst)

    def per_image_rows(self, *, per_class: bool = True) -> list | None:
        """One row per image for the per-image CSV (None without per-image counts).

        Columns ``image_id, pixels, aAcc, mIoU`` (with boundary counts ``mBIoU``:
        :func:`segmetrics.metrics.boundary_iou` of the image's band counts), ``classes,
        missing_prediction`` and, with ``per_class``, ``IoU:<class name>`` per class (NaN
        where the class is in neither the GT nor the prediction of the image); see
        :func:`segmetrics.metrics.image_scores`.
        """
        st = self.state
        if st is None or not st.per_image_kept:
            return None
        scores = image_scores(st.image_tp, st.image_fp, st.image_fn, absent_rule=self.absent_rule)
        b_iou = None
        if "boundary_image" in st.groups:
            b_iou = _metrics.boundary_iou(st.image_boundary_inter, st.image_boundary_gt, st.image_boundary_pred,
                                          absent_rule=self.absent_rule)["mBIoU"]
        missing = st.image_missing
        rows = []
        for j, image_id in enumerate(st.image_ids):
            row = {"image_id": image_id, "pixels": int(scores["pixels"][j]), "aAcc": float(scores["aAcc"][j]),
                   "mIoU": float(scores["mIoU"][j])}
            if b_iou is not None:
                row["mBIoU"] = float(np.asarray(b_iou).reshape(-1)[j])
            row.update(classes=int(scores["classes"][j]), missing_prediction=bool(missing[j]))
            rows.append(row)
        if per_class:
            unique = len(set(self.class_names)) == len(self.class_names)
            columns = [f"IoU:{n if unique else i}" for i, n in enumerate(self.class_names)]
            for row, iou in zip(rows, scores["IoU"].tolist()):
                row.update(zip(columns, iou))
        return rows

    def save_state(self, path) -> None:
        """Write the run-state file (``.smstate``): :func:`segmetrics.load_state` reads it back
        into a result with identical numbers."""
        if self.state is None:
            raise InputError("this result has no state to save")
        write_state_file(path, self.state, self.state_header())

    def state_header(self) -> dict:
        """What a state file holds besides the state: params, classes, dataset, notes, run warnings."""
        derived = set(_derived_warnings(self.dataset)) | set(self.state.warnings) | set(
            _void_note(self.state, self.params, self.class_names)) | set(_convention_warnings(self.state, self.params))
        header = {"params": dict(self.params), "classes": {"names": list(self.class_names)},
                  "dataset": dict(self.dataset), "notes": list(self.notes),
                  "run_warnings": [w for w in self.warnings if w not in derived]}
        if self.comparison is not None:
            header["conventions"] = [row["name"] for row in self.comparison["profiles"]]
        if self.manifest is not None:
            header["slices"] = self.manifest.to_header()
        return header


def _listed(ids: list) -> str:
    return ", ".join(str(i) for i in ids[:5]) + (" ..." if len(ids) > 5 else "")


def _derived_warnings(dataset: dict) -> list:
    """The warnings that follow from the counts and the pairing (recomputed after a merge)."""
    out = []
    extra, missing = list(dataset.get("extra_ids", ())), list(dataset.get("missing_ids", ()))
    if extra:
        one = len(extra) == 1
        out.append(f"{_report.plural(len(extra), 'prediction file')} {'matches' if one else 'match'} no ground-truth "
                   f"image and {'was' if one else 'were'} skipped: {_listed(extra)}")
    if missing:
        one = len(missing) == 1
        out.append(f"{_report.plural(len(missing), 'ground-truth image')} {'has' if one else 'have'} no prediction "
                   f"and {'is' if one else 'are'} scored as all-void: {_listed(missing)}")
    return out


def _void_note(state: SemanticState, params: dict, names: Sequence[str]) -> list:
    """A note saying how many scored pixels were predicted void (``void_predictions="miss"``)."""
    if params.get("void_predictions") != "miss":
        return []
    void = state.void
    total = int(void.sum())
    if not total:
        return []
    top = np.argsort(-void, kind="stable")[:3]
    where = ", ".join(f"{names[c]} {int(void[c])}" for c in top if void[c])
    one = total == 1
    return [f"{_report.plural(total, 'scored pixel')} {'was' if one else 'were'} predicted as void (the ignore index) "
            f"and {'counts as a miss' if one else 'count as misses'} of {'its' if one else 'their'} "
            f"GT class (most for: {where})"]


def _convention_warnings(state: SemanticState, params: dict) -> list:
    from .conventions import dropped_warnings

    return dropped_warnings(state, params.get("convention"), "semantic", params.get("ignore_index"))


def build_result(state: SemanticState, *, class_names: Sequence[str], absent_rule: str = "mmseg",
                 params: dict | None = None, dataset: dict | None = None, notes: Iterable[str] = (),
                 run_warnings: Iterable[str] = (), manifest=None, conventions=None) -> SemanticResult:
    """The frozen result of a state (metrics from :func:`segmetrics.metrics.summarize`, or, with
    ``params["convention"]``, from that profile's rules: :func:`segmetrics.conventions.semantic_summary`).
    ``conventions`` (profile names or "all") attaches the comparison of every profile."""
    dataset = dict(dataset or {})
    params = dict(params or {})
    names = tuple(class_names)
    convention = params.get("convention")
    if convention:
        from .conventions import get_profile, semantic_summary

        s = semantic_summary(state, convention, names)
        absent_rule = "detectron2" if get_profile(convention, "semantic").rules["absent"] == "left out" else "mmseg"
    else:
        s = summarize(state.confusion, void=state.void + state.missing, absent_rule=absent_rule)
    warnings = sorted(set(run_warnings)) + _derived_warnings(dataset) + state.warnings \
        + _void_note(state, params, names) + _convention_warnings(state, params)
    keys = HEADLINE + tuple(k for k in EXTRA_HEADLINE if k in s)
    metrics = {k: float(s[k]) for k in keys}
    per_class = {k: v for k, v in s.items() if k not in keys}
    if state.boundary_kept:
        b = _metrics.boundary_iou(state.boundary_inter, state.boundary_gt, state.boundary_pred,
                                  mask_iou=per_class["IoU"], absent_rule=absent_rule)
        metrics.update(mBIoU=float(b["mBIoU"]), mMinIoU=float(b["mMinIoU"]))
        per_class.update(BIoU=b["BIoU"], MinIoU=b["MinIoU"])
    result = SemanticResult(
        metrics=metrics,
        per_class=per_class,
        confusion=state.confusion.copy(),
        class_names=names,
        num_images=state.num_images,
        per_image=state.per_image,
        absent_rule=absent_rule,
        state=state,
        params=params,
        dataset=dataset,
        notes=tuple(notes),
        warnings=tuple(warnings),
        manifest=manifest,
    )
    return result.with_conventions(conventions) if conventions else result


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
    pred_labels : {"class-index", "as-gt"}, default "class-index"
        How predictions are written: class indices ``0..K-1`` (what a model
        outputs) or the ground truth's raw values (read through its table:
        ADE20K submission PNGs, Cityscapes label ids).  The folder API also
        takes ``"auto"``; arrays have no sample to decide from.
    pred_reduce_zero_label : bool, optional
        Older spelling: apply ``reduce_zero_label``'s shift to predictions
        written as ``1..K``.  Cannot be combined with ``pred_map``.
    class_names : sequence of str, optional
        K names; default ``"0".."K-1"``.
    gt_map, pred_map : 1-D integer array, optional
        Lookup tables applied to raw labels (Cityscapes labelId -> trainId,
        custom merges); entries in ``[0, K)`` or ``== ignore_index``.
    per_image : bool, default False
        Keep per-image per-class TP / FP / FN vectors (and each image's confusion cells, so that
        :func:`segmetrics.torch.sync` can count an image scored on two ranks once).
    absent_rule : {"mmseg", "detectron2"}
        How classes absent from the ground truth but predicted are scored
        (see :mod:`segmetrics.metrics`).
    void_predictions : {"error", "miss"}, default "error"
        A prediction equal to ``ignore_index`` (after ``pred_map``) on a scored
        pixel: an error, or a miss of the GT class with no false positive.
    boundary : bool, default False
        Also count semantic Boundary IoU (``mBIoU``, ``mMinIoU``, per-class ``BIoU``,
        ``MinIoU``; ``docs/boundary.md``).
    dilation_ratio : float, optional
        Band width as a fraction of each image's diagonal (default 0.02, the paper's
        COCO value); ``dilation`` gives it in pixels instead.

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
                 reduce_zero_label: bool = False, pred_labels: str = "class-index",
                 pred_reduce_zero_label: bool | None = None,
                 class_names: Sequence[str] | None = None, gt_map=None, pred_map=None,
                 per_image: bool = False, absent_rule: str = "mmseg", void_predictions: str = "error",
                 boundary: bool = False, dilation_ratio: float | None = None, dilation: int | None = None) -> None:
        k = check_num_classes(num_classes)
        if not boundary and (dilation_ratio is not None or dilation is not None):
            raise InputError("dilation_ratio / dilation set the band width of boundary=True")
        self.boundary = bool(boundary)
        self.dilation_ratio = _band.check_ratio(_band.DEFAULT_DILATION_RATIO if dilation_ratio is None
                                                else dilation_ratio) if boundary else None
        self.dilation = _band.check_dilation(dilation)
        ign = check_ignore(ignore_index)
        if absent_rule not in ABSENT_RULES:
            raise InputError(f"absent_rule must be one of {ABSENT_RULES}, got {absent_rule!r}")
        if pred_labels not in ("class-index", "as-gt"):
            raise InputError(f"pred_labels must be 'class-index' or 'as-gt' for arrays, got {pred_labels!r} "
                             "('auto' needs files to sample: use segmetrics.evaluate_semantic_folders)")
        if (reduce_zero_label or pred_reduce_zero_label) and ign is None:
            raise InputError("reduce_zero_label needs an ignore_index (0 becomes ignore_index)")
        if reduce_zero_label and gt_map is not None:
            raise InputError("pass either gt_map or reduce_zero_label, not both (fold the shift into gt_map)")
        if pred_reduce_zero_label and pred_map is not None:
            raise InputError("pass either pred_map or pred_reduce_zero_label, not both")
        if pred_labels == "as-gt" and (pred_map is not None or pred_reduce_zero_label is not None):
            raise InputError("pred_labels='as-gt' reads predictions through the GT's table: leave out "
                             "pred_map and pred_reduce_zero_label")
        if reduce_zero_label:
            gt_map = reduce_zero_table(k, ign)
        if pred_reduce_zero_label:
            pred_map = reduce_zero_table(k, ign)
        if pred_labels == "as-gt":
            pred_map = gt_map
        self.rules = LabelRules.build(k, ignore_index=ign, gt_map=gt_map, pred_map=pred_map,
                                      void_predictions=void_predictions)
        self._counter = _Counter(self.rules)
        self._fast = self.rules.counted_classes == k  # count in place (no void column)
        if class_names is None:
            names = tuple(str(i) for i in range(k))
        else:
            names = tuple(str(n) for n in class_names)
            if len(names) != k:
                raise InputError(f"class_names has {len(names)} names for num_classes={k}")
        self.class_names = names
        self.reduce_zero_label = bool(reduce_zero_label)
        self.pred_reduce_zero_label = bool(pred_reduce_zero_label)
        self.pred_labels = "as-gt" if (pred_labels == "as-gt" or pred_reduce_zero_label) else (
            "pred_map" if pred_map is not None else "class-index")
        self.per_image = bool(per_image)
        self.absent_rule = absent_rule
        self.state = SemanticState(k, per_image=self.per_image, cells=self.per_image, boundary=self.boundary)

    # configuration, as effective tables
    @property
    def num_classes(self) -> int:
        return self.rules.num_classes

    @property
    def ignore_index(self) -> int | None:
        return self.rules.ignore_index

    @property
    def gt_map(self) -> np.ndarray | None:
        """Effective ground-truth lookup table (reduce_zero_label folded in), or None."""
        return self.rules.gt_map

    @property
    def pred_map(self) -> np.ndarray | None:
        """Effective prediction lookup table, or None."""
        return self.rules.pred_map

    @property
    def void_predictions(self) -> str:
        return self.rules.void_predictions

    def params(self) -> dict:
        """Every setting of this evaluator that changes the numbers (the result's ``params``)."""
        out = {"num_classes": self.num_classes, "ignore_index": self.ignore_index,
               "reduce_zero_label": self.reduce_zero_label, "pred_labels": self.pred_labels,
               "absent_rule": self.absent_rule, "void_predictions": self.void_predictions,
               "label_tables": self.rules.digest()}
        if self.boundary:
            out.update(_band.params(self.dilation_ratio, self.dilation))
        return out

    def __repr__(self) -> str:
        return (f"SemanticEvaluator(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"reduce_zero_label={self.reduce_zero_label}, num_images={self.state.num_images})")

    # ---- pickling: drop the table cache
    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d.pop("_counter", None)
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self._counter = _Counter(self.rules)

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
        fast = self._fast and not (self.per_image or self.boundary)
        # the default ids (the running image index) are only needed on the error path there,
        # where nothing was counted and the index is still this call's
        ids = self._ids(image_id, n, batched) if image_id is not None or not fast else None
        if not fast:
            if self.per_image:
                self.state.check_new_ids(ids)  # before any image of the batch is counted
            pairs = [(gt[i], pred[i]) if batched else (gt, pred) for i in range(n)]
            mats = [c.matrix(g, p, ids[i]) for i, (g, p) in enumerate(pairs)]
            bands = [image_band(cm, _band_interior(c, g, p, self.dilation_ratio, self.dilation))
                     for cm, (g, p) in zip(mats, pairs)] if self.boundary else [None] * n
            for i, cm in enumerate(mats):
                self.state.add_image(cm, image_id=ids[i], band=bands[i])
            return
        bad = self.state.add_counted(lambda cm: c.count(cm, gt, pred), n)
        if bad[0] or bad[1]:
            raise self._batch_error(gt, pred, ids if ids is not None else self._ids(None, n, batched), batched)

    def _batch_error(self, gt, pred, ids, batched) -> LabelError:
        c = self._counter
        if not batched:
            return c.label_error(gt, pred, ids[0])
        scratch = np.zeros((c.size,) * 2, dtype=np.int64)
        for i in range(gt.shape[0]):
            if any(c.count(scratch, gt[i], pred[i])):
                return c.label_error(gt[i], pred[i], ids[i])
        return c.label_error(gt, pred, None)  # not reached: some image had bad pixels

    def update_confusion(self, cm, *, image_id: Any = None) -> None:
        """Add a precomputed per-image ``(K, K)`` confusion matrix (rows = ground truth).

        The matrix must be non-negative integers of this evaluator's K.
        """
        arr = np.asarray(cm)
        if arr.dtype.kind not in "iu":
            raise InputError(f"confusion matrix must be integer, got dtype {arr.dtype}")
        if arr.shape != (self.num_classes, self.num_classes):
            raise InputError(f"confusion matrix must be ({self.num_classes}, {self.num_classes}), got {arr.shape}")
        if arr.size and arr.min() < 0:
            raise InputError("confusion matrix has negative counts")
        if self.boundary:
            raise InputError("a confusion matrix holds no band counts: a boundary=True evaluator takes label maps "
                             "(update)")
        ids = self._ids(image_id, 1, False)
        self.state.add_image(arr.astype(np.int64), image_id=ids[0] if self.per_image else None)

    def merge(self, other: "SemanticEvaluator") -> "SemanticEvaluator":
        """Add another evaluator's state into this one (in place); returns self.

        Raises :class:`InputError` if ``other`` is not a SemanticEvaluator or
        was built with a different K, ignore_index, lookup tables or per_image.
        """
        if not isinstance(other, SemanticEvaluator):
            raise InputError(f"can only merge another SemanticEvaluator, got {type(other).__name__}")
        why = self.rules.differs_from(other.rules)
        if why is None and self.per_image != other.per_image:
            why = "per_image differs"
        if why is None and (self.boundary, self.dilation_ratio, self.dilation) != (
                other.boundary, other.dilation_ratio, other.dilation):
            why = "boundary, dilation_ratio or dilation differs"
        if why:
            raise InputError(f"cannot merge evaluators with different configuration: {why}")
        self.state.merge(other.state)
        return self

    def reset(self) -> None:
        """Forget every counted image (the configuration stays)."""
        self.state = SemanticState(self.num_classes, per_image=self.per_image, cells=self.per_image, boundary=self.boundary)

    def compute(self) -> SemanticResult:
        """Metrics of everything counted so far, as a frozen :class:`SemanticResult`."""
        return build_result(self.state.copy(), class_names=self.class_names, absent_rule=self.absent_rule,
                            params=self.params())


def _record(image_id: Any, cm: np.ndarray) -> dict:
    """One image's per-image record ``{image_id, tp, fp, fn}`` (the folder engine's per-image path)."""
    tp, fp, fn = image_counts(cm)
    return {"image_id": image_id, "tp": tp, "fp": fp, "fn": fn}
