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

import json
import sys
import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from . import metrics as _metrics
from . import report as _report
from ._kernels import panoptic as _kernel
from .errors import FormatError, InputError, SegmetricsWarning
from .io.coco_panoptic import check_segments, segment_columns
from .pq import GROUPS, iou_sums, pq_groups, pq_per_class
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

_MAX_ID = 2**32 - 2
HEADLINE = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")
SEMANTIC_HEADLINE = ("aAcc", "mAcc", "mIoU", "fwIoU")


class CategoryIndex:
    """COCO categories mapped to dense indices ``0..K-1`` (in the order given).

    Parameters
    ----------
    categories : sequence of dict
        COCO ``categories``: ``{id, name, isthing}``.
    """

    def __init__(self, categories: Sequence[dict]):
        if isinstance(categories, CategoryIndex):
            categories = categories.categories
        cats = list(categories)
        if not cats:
            raise InputError("PanopticEvaluator needs at least one category")
        self.categories: tuple[dict, ...] = tuple(dict(c) for c in cats)
        self.ids: tuple[int, ...] = tuple(int(c["id"]) for c in cats)
        if len(set(self.ids)) != len(self.ids):
            raise InputError("category ids must be unique")
        self.index: dict[int, int] = {cid: i for i, cid in enumerate(self.ids)}
        self.names: tuple[str, ...] = tuple(str(c.get("name", c["id"])) for c in cats)
        for c in cats:
            if c.get("isthing") not in (0, 1, True, False):
                raise InputError(f"category {c['id']} needs 'isthing' 0 or 1, got {c.get('isthing')!r}")
        self.isthing = np.array([bool(c["isthing"]) for c in cats], dtype=bool)
        order = np.argsort(np.array(self.ids, dtype=object), kind="stable").astype(np.intp)
        try:
            self._sorted_ids: np.ndarray | None = np.array([self.ids[i] for i in order], dtype=np.int64)
        except OverflowError:  # a category id beyond int64: dense_of works from the dict only
            self._sorted_ids = None
        self._sorted_dense = order.astype(np.int64)

    def dense_of(self, category_ids: np.ndarray) -> np.ndarray | None:
        """Dense indices of an int64 array of category ids; None if one is not a category."""
        sorted_ids = self._sorted_ids
        if sorted_ids is None:
            return None
        pos = np.searchsorted(sorted_ids, category_ids)
        np.minimum(pos, sorted_ids.size - 1, out=pos)
        if not (sorted_ids[pos] == category_ids).all():
            return None
        return self._sorted_dense[pos]

    def dense_or_minus1(self, category_ids: np.ndarray) -> np.ndarray:
        """Dense indices of an int64 array of category ids, -1 where an id is not a category."""
        sorted_ids = self._sorted_ids
        if sorted_ids is None or category_ids.size == 0:
            return np.full(category_ids.shape, -1, dtype=np.int64)
        pos = np.searchsorted(sorted_ids, category_ids)
        np.minimum(pos, sorted_ids.size - 1, out=pos)
        return np.where(sorted_ids[pos] == category_ids, self._sorted_dense[pos], -1)

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other) -> bool:
        return isinstance(other, CategoryIndex) and self.ids == other.ids and bool(
            np.array_equal(self.isthing, other.isthing)
        )


@dataclass
class ImageStats:
    """Statistics of one image: small, picklable, what :meth:`PanopticState.add` sums.

    Attributes
    ----------
    image_id : Any
    tp, fp, fn : ndarray of int64, shape (K,)
    match_cat : ndarray of int64
        Dense category index of each match, in ascending (GT id, pred id) order.
    match_iou : ndarray of float64
        IoU of each match.
    confusion_index, confusion_count : ndarray of int64
        Sparse entries of the (K+1) x (K+1) category confusion matrix (flat index, count).
    warnings : list of str
    """

    image_id: Any
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    match_cat: np.ndarray
    match_iou: np.ndarray
    confusion_index: np.ndarray
    confusion_count: np.ndarray
    warnings: list = field(default_factory=list)

    def iou_sum(self) -> np.ndarray:
        """Per-class sum of this image's match IoUs (correctly rounded)."""
        return _fsum_by_category(self.match_cat, self.match_iou, len(self.tp))


# the one correctly rounded IoU sum (segmetrics.pq); the engine code below and the
# folder pipeline know it by this name
_fsum_by_category = iou_sums


# ----------------------------------------------------------------------------- id maps


def _as_id_map(ids, what: str, where: str) -> tuple[np.ndarray, bool]:
    """Validate an id map; returns (contiguous array, is_rgb)."""
    if hasattr(ids, "detach") and hasattr(ids, "cpu"):  # torch tensor, without importing torch
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        if sys.byteorder != "little":  # the kernel's fused RGB read assumes little-endian loads
            return np.ascontiguousarray(_rgb_to_ids(arr)), False
        return np.ascontiguousarray(arr), True
    if arr.ndim != 2:
        raise InputError(
            f"{where}: the {what} id map must be (H, W) integer ids or (H, W, 3) uint8 RGB, "
            f"got shape {arr.shape} and dtype {arr.dtype}"
        )
    if arr.dtype.kind not in "iu":
        raise InputError(f"{where}: the {what} id map must hold integers, got dtype {arr.dtype}")
    if arr.dtype != np.uint32:
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > _MAX_ID):
            lo, hi = int(arr.min()), int(arr.max())
            bad = lo if lo < 0 else hi
            n = int(np.count_nonzero(arr == bad))
            raise InputError(
                f"{where}: the {what} id map holds segment id {bad} ({n} pixels), outside [0, {_MAX_ID}]"
            )
        arr = arr.astype(np.uint32)
    return np.ascontiguousarray(arr), False


def _segment_arrays(segments, cats: CategoryIndex, what: str, where: str, columns=None):
    """Sorted ids, category indices, crowd flags, JSON areas (NaN if absent) and listing
    order of a segments list.

    ``columns`` (a :class:`~segmetrics.io.coco_panoptic.SegmentColumns` made at load
    time) skips re-checking the dicts when it was built from this very list.
    """
    if columns is not None and columns.describes(segments):
        cat = cats.dense_of(columns.category_ids)
        if cat is not None:
            return columns.ids, cat, columns.iscrowd, columns.area, columns.order
    if not isinstance(segments, (list, tuple)):
        raise InputError(f"{where}: {what} segments must be a list of dicts, got {type(segments).__name__}")
    checked = check_segments(segments, f"{where}: {what}", max_id=_MAX_ID)
    id_list, cat_ids = checked[0], checked[1]
    index = cats.index
    try:
        cat_list = [index[c] for c in cat_ids]
    except KeyError:
        j = next(j for j, c in enumerate(cat_ids) if c not in index)
        raise FormatError(
            f"{where}: {what} segment {id_list[j]} has unknown category_id {cat_ids[j]} "
            f"(not in the ground-truth categories)"
        ) from None
    cols = segment_columns(segments, id_list, cat_list, checked[2], checked[3])
    if cols is None:  # only an area beyond float64 can overflow here
        j = next(j for j, a in enumerate(checked[3]) if a is not None and abs(a) > 2**1023)
        raise FormatError(f"{where}: {what} segment {id_list[j]} has an invalid area {checked[3][j]!r}")
    return cols.ids, cols.category_ids, cols.iscrowd, cols.area, cols.order


def _unknown_ids(ids_map: np.ndarray, rgb: bool, listed: np.ndarray) -> list[tuple[int, int]]:
    flat = _rgb_to_ids(ids_map) if rgb else ids_map
    vals, counts = np.unique(flat, return_counts=True)
    keep = (vals != 0) & ~np.isin(vals, listed)
    return list(zip(vals[keep].tolist(), counts[keep].tolist()))


def _rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    a = rgb.astype(np.uint32)
    return a[..., 0] | (a[..., 1] << 8) | (a[..., 2] << 16)


def evaluate_image(
    gt_ids,
    gt_segments: Sequence[dict],
    pred_ids,
    pred_segments: Sequence[dict],
    categories,
    *,
    image_id: Any = None,
    recompute_gt_areas: bool = False,
    gt_name: str | None = None,
    pred_name: str | None = None,
) -> ImageStats:
    """Score one image: the per-image work function (thread-safe, GIL released in the pixel pass).

    Parameters
    ----------
    gt_ids, pred_ids : array_like
        ``(H, W)`` integer id maps or ``(H, W, 3)`` uint8 RGB (id = R + 256 G + 256^2 B); 0 is void.
    gt_segments, pred_segments : list of dict
        COCO ``segments_info``: ``id``, ``category_id``, ``iscrowd`` (GT), ``area`` (GT, optional).
    categories : CategoryIndex or list of dict
    image_id : optional
        Named in error messages and kept in the statistics.
    recompute_gt_areas : bool
        Use GT pixel counts instead of the JSON ``area`` (which panopticapi uses).
    gt_name, pred_name : str, optional
        File names for error messages.

    Returns
    -------
    ImageStats

    Raises
    ------
    InputError, FormatError
        Shapes differ; a pixel id is not listed in ``segments_info`` or a listed
        segment has no pixel; an unknown ``category_id``; duplicate ids.
    """
    cats = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
    where = f"image {image_id!r}" if image_id is not None else "image"
    gname = gt_name or "ground truth"
    pname = pred_name or "prediction"
    gt_arr, gt_rgb = _as_id_map(gt_ids, "ground-truth", where)
    pr_arr, pr_rgb = _as_id_map(pred_ids, "prediction", where)
    if gt_arr.shape[:2] != pr_arr.shape[:2]:
        raise InputError(
            f"{where}: prediction {pname} is {pr_arr.shape[1]}x{pr_arr.shape[0]} (WxH) but the "
            f"ground truth {gname} is {gt_arr.shape[1]}x{gt_arr.shape[0]}"
        )
    g_ids, g_cat, g_crowd, g_area, g_order = _segment_arrays(gt_segments, cats, "ground-truth", where)
    p_ids, p_cat, _, _, _ = _segment_arrays(pred_segments, cats, "prediction", where)
    n_pixels = gt_arr.shape[0] * gt_arr.shape[1]
    table, bad_gt, bad_pred = _kernel.intersection_table(
        gt_arr.reshape(-1).view(np.uint8), gt_rgb, pr_arr.reshape(-1).view(np.uint8), pr_rgb,
        n_pixels, g_ids, p_ids,
    )
    if bad_gt >= 0 or bad_pred >= 0:
        side, arr, rgb, listed, name = (
            ("ground-truth", gt_arr, gt_rgb, g_ids, gname) if bad_gt >= 0
            else ("prediction", pr_arr, pr_rgb, p_ids, pname)
        )
        unknown = _unknown_ids(arr, rgb, listed)
        shown = ", ".join(f"{i} ({c} pixels)" for i, c in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise FormatError(
            f"{where}: {side} {name} has segment ids in the PNG that are not in segments_info: {shown}{more}"
        )
    return table_stats(table, (g_ids, g_cat, g_crowd, g_area, g_order), (p_ids, p_cat), cats,
                       image_id=image_id, recompute_gt_areas=recompute_gt_areas, where=where,
                       gt_name=gname, pred_name=pname)


def table_stats(table: np.ndarray, gt: tuple, pred: tuple, cats: CategoryIndex, *, image_id: Any,
                recompute_gt_areas: bool, where: str, gt_name: str, pred_name: str) -> ImageStats:
    """Matching and statistics of one image from its intersection table.

    ``table`` is the ``(n_gt + 1) x (n_pred + 1)`` GT x prediction pixel table in
    dense indices (0 = void, then ascending segment ids); ``gt`` is
    ``(ids, category indices, crowd flags, JSON areas, listing order)`` and ``pred``
    ``(ids, category indices)``, as sorted by ``_segment_arrays``.  Shared by
    :func:`evaluate_image` and the folder pipeline (:mod:`segmetrics._pipeline`),
    which counts the table straight from the PNG files.

    Raises
    ------
    FormatError
        A listed segment has no pixel.
    """
    g_ids, g_cat, g_crowd, g_area, g_order = gt
    p_ids, p_cat = pred
    gname, pname = gt_name, pred_name
    gt_pixels = table[1:, :].sum(axis=1)
    pred_pixels = table[:, 1:].sum(axis=0)
    for side, pix, ids_, name in (("ground-truth", gt_pixels, g_ids, gname), ("prediction", pred_pixels, p_ids, pname)):
        if pix.all():
            continue
        empty = np.flatnonzero(pix == 0)
        if empty.size:
            raise FormatError(
                f"{where}: {side} {name} lists segment ids {ids_[empty][:5].tolist()} in segments_info "
                f"that have no pixel in the PNG"
            )
    notes: list[str] = []
    has_area = ~np.isnan(g_area)
    if recompute_gt_areas:
        area = gt_pixels.astype(np.float64)
    else:
        if has_area.all():  # the usual case: every GT segment has its JSON area
            area = g_area
            stale = np.flatnonzero(g_area != gt_pixels)
        else:
            area = np.where(has_area, g_area, gt_pixels.astype(np.float64))
            stale = np.flatnonzero(has_area & (g_area != gt_pixels))
        for j in stale[:5].tolist():
            notes.append(
                f"{where}: ground-truth segment {int(g_ids[j])} has area {g_area[j]:g} in the JSON but "
                f"{int(gt_pixels[j])} pixels in the PNG (the JSON area is used, as panopticapi does; "
                f"recompute_gt_areas=True uses the PNG)"
            )
        if stale.size > 5:
            notes.append(f"{where}: {stale.size - 5} more ground-truth segments with stale JSON areas")
    # the crowd segment that counts per category: the last one in segments_info order
    k = len(cats)
    crowd_of_cat = np.zeros(k, dtype=np.int64)
    crowd = np.flatnonzero(g_crowd)  # dense indices of the crowd segments
    if crowd.size:
        for j in crowd[np.argsort(g_order[crowd], kind="stable")].tolist():  # in listing order
            crowd_of_cat[g_cat[j]] = j + 1
    tp = np.zeros(k, dtype=np.int64)
    fp = np.zeros(k, dtype=np.int64)
    fn = np.zeros(k, dtype=np.int64)
    cap = max(1, int(np.count_nonzero(table[1:, 1:])))  # a match needs a non-empty intersection
    match_cat = np.empty(cap, dtype=np.int64)
    match_iou = np.empty(cap, dtype=np.float64)
    m = _kernel.match_segments(
        table, np.ascontiguousarray(area), g_cat, g_crowd, crowd_of_cat, p_cat, tp, fp, fn,
        match_cat, match_iou, np.zeros(g_ids.size, np.uint8), np.zeros(p_ids.size, np.uint8),
    )
    # sparse category confusion: GT void rows dropped, prediction void -> column K
    rows = g_cat
    cols = np.empty(p_cat.size + 1, dtype=np.int64)
    cols[0] = k
    cols[1:] = p_cat
    sub = table[1:, :]
    nz = np.nonzero(sub)
    flat = rows[nz[0]] * (k + 1) + cols[nz[1]]
    return ImageStats(
        image_id=image_id, tp=tp, fp=fp, fn=fn,
        match_cat=match_cat[:m].copy(), match_iou=match_iou[:m].copy(),
        confusion_index=flat.astype(np.int64, copy=False), confusion_count=sub[nz],
        warnings=notes,
    )


# ----------------------------------------------------------------------------- result
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
        ``image_id`` and per-class ``tp, fp, fn, iou_sum`` arrays (category order),
        sorted by image id.
    state : PanopticState
        The sums the numbers come from (save with :meth:`save_state`).
    params, dataset : dict
        Settings that change the numbers; what was scored (folder runs).
    notes : tuple of str
    categories : tuple of dict
        ``{id, name, isthing}`` in the ground truth's order.
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

    task = "panoptic"

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN and infinities -> None, arrays -> lists)."""
        return _report.json_ready({
            "metrics": self.metrics, "per_class": self.per_class, "warnings": self.warnings,
            "num_images": self.num_images, "per_image": self.per_image,
        })

    def to_report(self) -> dict:
        """The report ``segmetrics eval --json`` writes (schema: ``docs/json_schema.md``)."""
        m = self.metrics
        metrics = {k: m[k] for k in HEADLINE + SEMANTIC_HEADLINE if k in m}
        per_class = []
        for row in self.per_class:
            out = {"id": row["category_id"], "name": row.get("name"), "isthing": bool(row.get("isthing"))}
            for src, dst in (("pq", "PQ"), ("sq", "SQ"), ("rq", "RQ"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN"),
                             ("iou", "IoU"), ("acc", "Acc")):
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
        return _report.build_report(task="panoptic", params=params, dataset=dataset, metrics=metrics,
                                    per_class=per_class, warnings=self.warnings, notes=self.notes)

    def per_image_rows(self) -> list | None:
        """One row per image for the per-image CSV (None without per-image counts).

        ``TP, FP, FN`` are segment counts summed over categories; ``PQ, SQ, RQ``
        the "All" group of :func:`segmetrics.pq.pq_groups` on the image's counts.
        """
        st = self.state
        if st is None or not st.per_image_kept:
            return None
        tp, fp, fn = st.image_tp, st.image_fp, st.image_fn
        isthing = np.array([bool(c["isthing"]) for c in self.categories], dtype=bool)
        g = pq_groups(tp, fp, fn, st.image_iou_sum(), isthing)
        missing = st.image_missing
        return [{"image_id": image_id, "TP": int(tp[j].sum()), "FP": int(fp[j].sum()), "FN": int(fn[j].sum()),
                 "PQ": float(g["PQ"][j]), "SQ": float(g["SQ"][j]), "RQ": float(g["RQ"][j]),
                 "missing_prediction": bool(missing[j])} for j, image_id in enumerate(st.image_ids)]

    def save_state(self, path) -> None:
        """Write the run-state file (``.smstate``); :func:`segmetrics.load_state` reads it back."""
        if self.state is None:
            raise InputError("this result has no state to save")
        write_state_file(path, self.state, self.state_header())

    def state_header(self) -> dict:
        """What a state file holds besides the state: params, classes, dataset, notes, run warnings."""
        computed = set(_derived_warnings(self.dataset)) | set(self.state.warnings) | set(
            _group_notes(self.metrics))
        return {"params": dict(self.params), "classes": {"categories": [dict(c) for c in self.categories]},
                "dataset": dict(self.dataset), "notes": list(self.notes),
                "run_warnings": [w for w in self.warnings if w not in computed],
                "with_semantic": "aAcc" in self.metrics}


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
        out.append(f"{len(missing)} ground-truth images have no prediction; all their segments are "
                   f"false negatives: image ids {_listed(missing)}")
    if extra:
        out.append(f"{len(extra)} predictions are for images not in the ground truth and were ignored: "
                   f"image ids {_listed(extra)}")
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
                 emit_warnings: bool = True) -> PanopticResult:
    """The frozen result of a state: PQ / SQ / RQ (:mod:`segmetrics.pq`), per class, and the
    category-map metrics.  ``emit_warnings`` also issues them as :class:`SegmetricsWarning`."""
    cats = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
    dataset = dict(dataset or {})
    iou = state.iou_sum()
    metrics = pq_groups(state.tp, state.fp, state.fn, iou, cats.isthing)
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
    pq, sq, rq, _ = pq_per_class(state.tp, state.fp, state.fn, iou)
    per_class = []
    for c, cid in enumerate(cats.ids):
        row = {"category_id": cid, "name": cats.names[c], "isthing": bool(cats.isthing[c]),
               "pq": float(pq[c]), "sq": float(sq[c]), "rq": float(rq[c]), "tp": int(state.tp[c]),
               "fp": int(state.fp[c]), "fn": int(state.fn[c]), "iou_sum": float(iou[c])}
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
    return PanopticResult(metrics=metrics, per_class=per_class, warnings=data_warnings + group_notes,
                          num_images=state.num_images, per_image=state.per_image, state=state,
                          params=dict(params or {}), dataset=dataset, notes=tuple(notes),
                          categories=tuple({"id": c["id"], "name": n, "isthing": bool(t)}
                                           for c, n, t in zip(cats.categories, cats.names, cats.isthing)))


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
        self.state = PanopticState(len(self.categories), per_image=per_image, cells=per_image)

    def params(self) -> dict:
        """The settings that change the numbers (the result's ``params``)."""
        return {"recompute_gt_areas": bool(self.recompute_gt_areas)}

    def evaluate_image(self, gt_ids, gt_segments, pred_ids, pred_segments, *, image_id=None,
                       gt_name=None, pred_name=None) -> ImageStats:
        """Score one image without touching the state (safe to call from worker threads)."""
        return evaluate_image(
            gt_ids, gt_segments, pred_ids, pred_segments, self.categories, image_id=image_id,
            recompute_gt_areas=self.recompute_gt_areas, gt_name=gt_name, pred_name=pred_name,
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
        self.state.merge(other.state)
        return self

    def reset(self) -> None:
        """Forget every image."""
        self.state = PanopticState(len(self.categories), per_image=self.per_image, cells=self.per_image)

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
