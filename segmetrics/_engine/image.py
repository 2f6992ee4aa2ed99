"""Per-image panoptic scoring: one image's id maps and ``segments_info`` lists to its
:class:`ImageStats`.

The pixel pass (:meth:`segmetrics._kernels.panoptic.PairTable.count_maps`, GIL
released) counts the pixels of every (GT segment, predicted segment) pair present
in the image (and, for Boundary PQ, builds both maps' runs for the band pass);
:func:`table_stats` then applies panopticapi's per-image rules with the compiled
code the fused folder kernels run too
(:func:`segmetrics._kernels.panoptic.image_stats`, ``sm_pq.h``: PQ, PQ-dagger's
stuff pairs and, with a band, Boundary PQ), and turns what the rules find into the
errors and warnings users read.  Used by
:class:`segmetrics.panoptic.PanopticEvaluator` (arrays) and by the folder engine
for the images its fused kernels leave to Python.

Errors and warnings
-------------------
A pixel id not listed in ``segments_info`` and a listed segment without pixels
are :class:`~segmetrics.errors.FormatError` naming the image, the file and the
segment ids; a GT segment whose JSON ``area`` differs from its pixel count is a
warning in :attr:`ImageStats.warnings` (the JSON area is used, as panopticapi
does, unless ``recompute_gt_areas``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .._kernels import panoptic as _kernel
from ..errors import FormatError, InputError
from . import band as _band
from ..io.coco_panoptic import check_segments, segment_columns
from ..pq import iou_sums as _fsum_by_category  # the one correctly rounded IoU sum

__all__ = ["CategoryIndex", "ImageStats", "OUTCOMES", "score_image", "table_stats"]

_MAX_ID = 2**32 - 2
#: Names of the per-segment outcome codes (``ImageStats.gt_outcome`` / ``pred_outcome``), per side.
OUTCOMES = {"gt": ("not scored", "matched", "fn"), "pred": ("not scored", "matched", "fp")}


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
    stuff_cat, stuff_iou : ndarray, or None
        PQ-dagger: category and mask IoU of every same-category pair of a stuff class
        whose GT segment is not crowd (no threshold).
    gt_segments : ndarray of int64, shape (K,), or None
        Non-crowd GT segments per category (PQ-dagger's stuff denominator).
    btp, bfp, bfn, bmatch_cat, bmatch_iou : ndarray, or None
        Boundary PQ (scored with a band): as ``tp`` ... ``match_iou`` for the
        matching on ``min(mask IoU, boundary IoU)``.
    dilation : int
        The band width in pixels (0: no band).
    gt_ids, pred_ids : ndarray of int64
        The image's segment ids, ascending.
    gt_outcome, pred_outcome : ndarray of uint8
        What the rules decided for each of those segments (:data:`OUTCOMES`):
        GT ``1`` matched, ``2`` false negative, ``0`` crowd (never scored);
        prediction ``1`` matched, ``2`` false positive, ``0`` unmatched but not
        counted (more than half of it on void or on its category's crowd region).
        Per category they add up to ``tp``, ``fn`` and ``fp``.
    variants : tuple or None
        The image under other tools' matching rules, when asked
        (:mod:`segmetrics.conventions`): ``(tp, fp, fn, match_var, match_cat,
        match_iou)``, counts ``(V, K)`` and one row per match.
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
    stuff_cat: np.ndarray | None = None
    stuff_iou: np.ndarray | None = None
    gt_segments: np.ndarray | None = None
    btp: np.ndarray | None = None
    bfp: np.ndarray | None = None
    bfn: np.ndarray | None = None
    bmatch_cat: np.ndarray | None = None
    bmatch_iou: np.ndarray | None = None
    dilation: int = 0
    gt_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    gt_outcome: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)
    pred_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    pred_outcome: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)
    variants: tuple | None = None

    def iou_sum(self) -> np.ndarray:
        """Per-class sum of this image's match IoUs (correctly rounded)."""
        return _fsum_by_category(self.match_cat, self.match_iou, len(self.tp))


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


def score_image(
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
    dilation_ratio: float | None = None,
    dilation: int | None = None,
    variants=None,
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
    dilation_ratio, dilation : optional
        Also score Boundary PQ, with bands of this width (a fraction of the image
        diagonal, or pixels: :mod:`segmetrics._engine.band`).
    variants : sequence of int, optional
        Option sets of other tools' matching rules (``sm_pq.h``,
        :mod:`segmetrics.conventions`) counted in the same pass.

    Returns
    -------
    ImageStats
        With PQ-dagger's stuff pairs, and Boundary PQ when a band width is given.

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
    if not recompute_gt_areas:
        _refuse_zero_areas(g_ids, g_cat, g_crowd, g_area, cats, where, gname)
    n_pixels = gt_arr.shape[0] * gt_arr.shape[1]
    table = _kernel.PairTable()
    band = None
    if dilation_ratio is not None or dilation is not None:
        band = _band.band_work(_band.check_ratio(_band.DEFAULT_DILATION_RATIO if dilation_ratio is None
                                                 else dilation_ratio), _band.check_dilation(dilation))
    unlisted = table.count_maps(gt_arr.reshape(-1).view(np.uint8), gt_rgb, pr_arr.reshape(-1).view(np.uint8), pr_rgb,
                                n_pixels, g_ids, p_ids, band, gt_arr.shape[1])
    if unlisted:
        side, arr, rgb, listed, name = (
            ("ground-truth", gt_arr, gt_rgb, g_ids, gname) if unlisted == 1
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
                       gt_name=gname, pred_name=pname, band=band, variants=variants)



def zero_area_mask(area, iscrowd) -> np.ndarray:
    """Which listed GT segments break the area rule: not crowd and ``area`` 0.  Every listed
    segment must cover pixels (one that does not is an error anyway), so PQ with that area
    would divide by a wrong union (IoU above 1, or infinite); crowd segments are exempt
    (their area is not used).  The one statement of the rule: the array API
    (:func:`score_image`) and the folder API (``segmetrics.folders``, before any work) refuse
    what it marks unless ``recompute_gt_areas``."""
    return (np.asarray(area) == 0) & (np.asarray(iscrowd) == 0)


def _refuse_zero_areas(g_ids, g_cat, g_crowd, g_area, cats: CategoryIndex, where: str, gname: str) -> None:
    """:class:`FormatError` naming the first GT segment :func:`zero_area_mask` marks."""
    zero = np.flatnonzero(zero_area_mask(g_area, g_crowd))
    if not zero.size:
        return
    j = int(zero[0])
    more = f" ({zero.size} segments with area 0 in all)" if zero.size > 1 else ""
    raise FormatError(
        f"{where}: ground-truth segment {int(g_ids[j])} (category {int(cats.ids[int(g_cat[j])])}) of {gname} has "
        f"area 0 in segments_info{more}; PQ would use a wrong union; pass recompute_gt_areas=True to use the "
        f"pixel counts of the map")


def table_stats(table, gt: tuple, pred: tuple, cats: CategoryIndex, *, image_id: Any,
                recompute_gt_areas: bool, where: str, gt_name: str, pred_name: str, band=None,
                variants=None) -> ImageStats:
    """Matching and statistics of one image from the pairs last counted into ``table``
    (Boundary PQ too when ``band``, a :class:`~segmetrics._kernels.boundary.BandWork`,
    holds the runs built with them).

    ``table`` is a :class:`~segmetrics._kernels.panoptic.PairTable` (dense indices:
    0 = void, then ascending segment ids); ``gt`` is ``(ids, category indices,
    crowd flags, JSON areas, listing order)`` and ``pred`` ``(ids, category
    indices)``, as sorted by ``_segment_arrays``.  The rules are the compiled ones
    (:func:`segmetrics._kernels.panoptic.image_stats`); this function names what
    they find.  Shared by :func:`score_image` and the folder engine
    (:mod:`segmetrics._pipeline`), which counts the pairs straight from the PNG files.
    ``variants`` (option sets) also counts the image under other tools' rules.

    Raises
    ------
    FormatError
        A listed segment has no pixel.
    """
    g_ids, g_cat, g_crowd, g_area, g_order = gt
    p_ids, p_cat = pred
    r = _kernel.image_stats(table, len(cats), np.ascontiguousarray(g_cat, dtype=np.int64),
                            np.ascontiguousarray(g_crowd, dtype=np.uint8),
                            np.ascontiguousarray(g_area, dtype=np.float64),
                            np.ascontiguousarray(g_order, dtype=np.int64),
                            np.ascontiguousarray(p_cat, dtype=np.int64), bool(recompute_gt_areas),
                            cats.isthing.astype(np.uint8), band,
                            None if variants is None else np.asarray(variants, dtype=np.uint32))
    if r["status"]:  # a listed segment without pixels
        for side, pix, ids_, name in (("ground-truth", r["gt_pixels"], g_ids, gt_name),
                                      ("prediction", r["pred_pixels"], p_ids, pred_name)):
            empty = np.flatnonzero(pix == 0)
            if empty.size:
                raise FormatError(
                    f"{where}: {side} {name} lists segment ids {ids_[empty][:5].tolist()} in segments_info "
                    f"that have no pixel in the PNG"
                )
    stale, gt_pixels = r["stale"], r["gt_pixels"]
    notes: list[str] = []
    for j in stale[:5].tolist():
        notes.append(
            f"{where}: ground-truth segment {int(g_ids[j])} has area {g_area[j]:g} in the JSON but "
            f"{int(gt_pixels[j])} pixels in the PNG (the JSON area is used, as panopticapi does; "
            f"recompute_gt_areas=True uses the PNG)"
        )
    if stale.size > 5:
        notes.append(f"{where}: {stale.size - 5} more ground-truth segments with stale JSON areas")
    return ImageStats(
        image_id=image_id, tp=r["tp"], fp=r["fp"], fn=r["fn"], match_cat=r["match_cat"], match_iou=r["match_iou"],
        confusion_index=r["confusion_index"], confusion_count=r["confusion_count"], warnings=notes,
        stuff_cat=r["stuff_cat"], stuff_iou=r["stuff_iou"], gt_segments=r["gt_segments"],
        btp=r.get("btp"), bfp=r.get("bfp"), bfn=r.get("bfn"), bmatch_cat=r.get("bmatch_cat"),
        bmatch_iou=r.get("bmatch_iou"), dilation=int(r.get("dilation", 0)), variants=r.get("variants"),
        gt_ids=np.asarray(g_ids, dtype=np.int64), gt_outcome=r["gt_outcome"],
        pred_ids=np.asarray(p_ids, dtype=np.int64), pred_outcome=r["pred_outcome"],
    )
