"""The panoptic half of the folder API (:mod:`segmetrics.folders`), loaded on first use.

:mod:`segmetrics.folders` serves every name defined here through its module
``__getattr__`` (PEP 562): ``from segmetrics.folders import evaluate_panoptic_folders``
works as before, and a semantic run never imports the COCO-panoptic readers, the
panoptic kernels and result code.  What both halves share (threads, shards, the
validate hints, the band setting, remote files) is in :mod:`segmetrics._folders_shared`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import _pipeline
from ._engine import band as _band
from ._engine.columns import folder_str, png_path
from ._engine.image import zero_area_mask
from ._memory import check_run_memory
from ._sha import sha256
from .conventions import PANOPTIC_VARIANTS, get_profile, resolve_names
from .errors import DataFileError, FormatError, InputError, MissingPredictionError
from ._folders_shared import (
    _Sharded,
    _band_setting,
    _file_bytes,
    _is_url,
    _jobs,
    _real_names,
    _sibling_json,
    _staged,
    _suggest_validate,
)
from .io.coco_panoptic import (
    FlatColumns,
    PanopticDataset,
    check_id_png_sizes,
    check_segments,
    dataset_from_dict,
    digest_columns,
    load_panoptic_json,
    peek_annotation,
    read_id_png,
    resolve_annotation,
    segment_columns,
)
from .panoptic import CategoryIndex, PanopticEvaluator, PanopticResult, _categories_bytes, _derived_warnings
from .panoptic import build_result as panoptic_result
from .panoptic import evaluate_image
from .presets import get_preset
from .report import plural
from .state import PanopticState, _shown, fingerprint, id_key
from .validate._quick import quick_checks, validate_command_line

__all__ = [
    "resolve_panoptic_input",
    "evaluate_panoptic_folders",
    "panoptic_quality",
    "evaluate_panoptic_files",
    "pair_panoptic",
    "plan_panoptic_run",
    "PanopticRun",
    "panoptic_preset_problems",
]


def resolve_panoptic_input(path, folder, what: str) -> tuple[Path, Path]:
    """Find the (JSON, PNG folder) of a COCO-panoptic ground truth or prediction.

    Accepted: ``X.json`` (+ folder ``X/`` next to it), a folder ``X/`` with ``X.json``
    next to it, or a folder holding one JSON (+ its folder, else the PNGs beside it).
    ``folder`` overrides the PNG folder.  ``what``: ``"ground-truth"`` or ``"prediction"``.
    """
    path = Path(path)
    flag = "gt_folder / --gt-folder" if what == "ground-truth" else "pred_folder / --pred-folder"
    if not path.exists():
        raise DataFileError(f"{what} path not found: {path}")
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise FormatError(f"{what} {path} is not a COCO-panoptic JSON file")
        json_path, png = path, path.with_suffix("")
    elif _sibling_json(path).is_file():
        json_path, png = _sibling_json(path), path
    else:
        jsons = sorted(path.glob("*.json"))
        if len(jsons) != 1:
            raise FormatError(
                f"{what} folder {path} holds {len(jsons)} JSON files and none named {_sibling_json(path).name} "
                f"next to it; pass the panoptic JSON file itself"
            )
        json_path = jsons[0]
        png = path / json_path.stem if (path / json_path.stem).is_dir() else path
    if folder is not None:
        png = Path(folder)
    if not png.is_dir():
        how = "" if folder is not None else f" (default: the JSON path without .json; pass {flag})"
        raise DataFileError(f"no PNG folder for {what} {json_path}: {what} PNG folder {png} does not exist{how}")
    return json_path, png


def _load_remote_panoptic(x, folder, what: str) -> tuple[PanopticDataset, Any]:
    """:func:`_load_panoptic` where the JSON or the PNG folder is a URL (:mod:`segmetrics.remote`)."""
    from .remote import RemoteFile, as_path, is_url, local_copy, real_names

    if is_url(x):
        url = str(x)
        if not url.lower().endswith(".json"):
            raise FormatError(f"{what} {url}: a URL must name the COCO-panoptic JSON file itself")
        json_path, local = RemoteFile(url), local_copy(url)
        png = as_path(folder) if folder is not None else RemoteFile(url[:-5])
    else:  # a local JSON with a PNG folder URL
        json_path = local = Path(x)
        png = as_path(folder)
    with real_names({local: str(json_path)}):
        ds = load_panoptic_json(local, require_categories=what == "ground-truth")
    return dataclasses.replace(ds, path=json_path, folder=png), json_path


def _load_panoptic(x, folder, what: str) -> tuple[PanopticDataset, Optional[Path]]:
    """A dataset from a path (resolved as :func:`resolve_panoptic_input`), a dict or a loaded dataset;
    also the JSON path when there is one."""
    gt = what == "ground-truth"
    if _is_url(x) or _is_url(folder):
        return _load_remote_panoptic(x, folder, what)
    if isinstance(x, (str, os.PathLike)):
        json_path, png = resolve_panoptic_input(x, folder, what)
        return load_panoptic_json(json_path, png, require_categories=gt), json_path
    if isinstance(x, PanopticDataset):
        ds = dataclasses.replace(x, folder=Path(folder)) if folder is not None else x
    elif isinstance(x, dict):
        if folder is None:
            raise InputError(f"a {what} panoptic JSON given as a dict needs its PNG folder")
        ds = dataset_from_dict(x, folder=folder, require_categories=gt)
    else:
        raise InputError(f"the {what} must be a COCO-panoptic JSON path, a dict or a PanopticDataset, "
                         f"got {type(x).__name__}")
    if ds.folder is None or not Path(ds.folder).is_dir():
        how = "" if folder is not None else " (default: the JSON path without .json; pass it explicitly)"
        raise DataFileError(f"{what} PNG folder {ds.folder} does not exist{how}")
    return ds, ds.path


def pair_panoptic(gt: PanopticDataset, pred: PanopticDataset, *, allow_missing: bool = False
                  ) -> tuple[list, list, list]:
    """Pair GT and prediction annotations by image id, in GT order: the one pairing rule.

    Returns ``(items, missing, extra)``: ``(image_id, gt_annotation, pred_annotation
    or None)`` per GT image, the GT ids without prediction, the prediction ids
    that are no GT image (ignored).

    Raises
    ------
    MissingPredictionError
        GT images have no prediction and ``allow_missing`` is False.
    """
    items, missing, extra = _pair_panoptic(gt, pred, allow_missing)
    g_ann, p_ann = gt.annotations, pred.annotations
    items = [(i, resolve_annotation(g_ann, i, g), None if p is None else resolve_annotation(p_ann, i, p))
             for i, g, p in items]
    return items, missing, extra


def _pair_panoptic(gt: PanopticDataset, pred: PanopticDataset, allow_missing: bool) -> tuple[list, list, list]:
    """:func:`pair_panoptic` with :data:`~segmetrics.io.coco_panoptic.NOT_READ` for annotations
    not parsed yet (the folder pipeline parses only those it must look at)."""
    g_ann, p_ann = gt.annotations, pred.annotations
    items = [(i, peek_annotation(g_ann, i), peek_annotation(p_ann, i)) for i in g_ann]
    missing = [i for i, _, p in items if p is None]
    if missing and not allow_missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        raise MissingPredictionError(
            f"{len(missing)} of {len(g_ann)} ground-truth images have no prediction in {pred.path}: image ids "
            f"{shown}{' ...' if len(missing) > 5 else ''}", missing=missing, total=len(g_ann))
    extra = [i for i in p_ann if i not in g_ann]
    return items, missing, extra


def _panoptic_reference(gt: PanopticDataset, pred: PanopticDataset, cats: CategoryIndex,
                        recompute_gt_areas: bool, band: Optional[tuple] = None,
                        variants=None) -> Callable[[tuple], Any]:
    """One image's statistics the slow way (Pillow decoding, the array API), or its error
    (with Boundary PQ when ``band``, ``(dilation_ratio, dilation)``, is given; with the
    ``variants`` rules counted too)."""

    def reference(item: tuple):
        image_id, g_ann, p_ann = item
        g_ann = resolve_annotation(gt.annotations, image_id, g_ann)
        p_ann = None if p_ann is None else resolve_annotation(pred.annotations, image_id, p_ann)
        g_path = gt.png_path(image_id)
        if p_ann is not None:  # both headers before any decode: a size mismatch costs no memory
            check_id_png_sizes(g_path, pred.png_path(image_id), image_id)
        g_rgb = read_id_png(g_path)
        if p_ann is None:
            p_ids, p_segs, p_name = np.zeros(g_rgb.shape[:2], dtype=np.uint32), [], "<missing prediction>"
        else:
            p_path = pred.png_path(image_id)
            p_ids, p_segs, p_name = read_id_png(p_path), p_ann["segments_info"], str(p_path)
        return evaluate_image(g_rgb, g_ann["segments_info"], p_ids, p_segs, cats, image_id=image_id,
                              recompute_gt_areas=recompute_gt_areas, gt_name=str(g_path), pred_name=p_name,
                              dilation_ratio=band[0] if band else None, dilation=band[1] if band else None,
                              variants=variants)

    return reference


def _count_panoptic(state: PanopticState, items: list, gt: PanopticDataset, pred: PanopticDataset,
                    cats: CategoryIndex, *, recompute_gt_areas: bool, jobs, cache_dir, progress,
                    digests: Optional[list] = None, band: Optional[tuple] = None) -> None:
    if not items:
        return
    variants = PANOPTIC_VARIANTS if state.conventions_kept else None
    sums = _pipeline.panoptic_files(items, gt, pred, cats, recompute_gt_areas=recompute_gt_areas,
                                    jobs=_jobs(jobs, len(items)), cache_dir=cache_dir, progress=progress,
                                    per_image=state.per_image_kept,
                                    reference=_panoptic_reference(gt, pred, cats, recompute_gt_areas, band, variants),
                                    dilation_ratio=band[0] if band else None, dilation=band[1] if band else None,
                                    variants=variants, digests=digests)
    if digests is not None:
        _panoptic_digests(gt, items, jobs, digests)  # the images the compiled pass did not hash
    state.add_sums(sums, [it[0] for it in items], missing=[it[2] is None for it in items], digests=digests)


def evaluate_panoptic_files(gt_dataset: PanopticDataset, pred_dataset: PanopticDataset,
                            evaluator: PanopticEvaluator, *, jobs: Optional[int] = None, cache_dir=None,
                            progress: Optional[Callable[[int], None]] = None,
                            allow_missing: bool = False) -> PanopticEvaluator:
    """Score a COCO-panoptic prediction set into ``evaluator``.

    Parameters
    ----------
    gt_dataset, pred_dataset : PanopticDataset
        As loaded by :func:`segmetrics.io.coco_panoptic.load_panoptic_json`.
    evaluator : PanopticEvaluator
        The run's state joins its state once every image is scored; a run that
        raises leaves it unchanged.
    jobs, cache_dir, progress
        As in :func:`evaluate_panoptic_folders`.
    allow_missing : bool
        Score GT images without prediction (every GT segment a false negative)
        instead of raising :class:`~segmetrics.errors.MissingPredictionError`.

    Returns
    -------
    PanopticEvaluator
        ``evaluator`` itself.  Pairing notes (missing, extra predictions) are
        added to its state's warnings.
    """
    items, missing, extra = _pair_panoptic(gt_dataset, pred_dataset, allow_missing)
    run = PanopticState(len(evaluator.categories), per_image=evaluator.per_image, boundary=evaluator.boundary)
    _count_panoptic(run, items, gt_dataset, pred_dataset, evaluator.categories,
                    recompute_gt_areas=evaluator.recompute_gt_areas, jobs=jobs, cache_dir=cache_dir,
                    progress=progress,
                    band=(evaluator.dilation_ratio, evaluator.dilation) if evaluator.boundary else None)
    run.add_warnings(_derived_warnings({"missing_ids": missing, "extra_ids": extra}))
    evaluator.state.merge(run)
    return evaluator


def panoptic_preset_problems(p, category_ids, n_crowd: int | Callable[[], int], gt_name: str) -> list:
    """What does not fit the layout a panoptic preset describes (its category count and ids
    0..N-1, no crowd segment), one sentence each: eval's warnings and validate's
    ``panoptic.preset_layout`` finding.  ``n_crowd``: the GT's crowd segments, or a function
    counting them (called only when the preset describes a layout)."""
    out = []
    if p is None or p.expected_num_categories is None:
        return out
    if callable(n_crowd):
        n_crowd = n_crowd()
    ids = sorted(category_ids)
    if len(ids) != p.expected_num_categories:
        out.append(f"preset {p.name} expects {p.expected_num_categories} categories but {gt_name} has {len(ids)}")
    elif ids != list(range(p.expected_num_categories)):
        out.append(f"preset {p.name} expects category ids 0..{p.expected_num_categories - 1}; "
                   f"{gt_name} has {ids[0]}..{ids[-1]}")
    if n_crowd:
        out.append(f"preset {p.name} expects no crowd segments but {gt_name} has {n_crowd}")
    return out


def _digest(*parts: bytes) -> bytes:
    h = sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def _gt_columns(gt: PanopticDataset, image_id, ann):
    """The checked columns of an image's GT segments (as loaded, or checked again when changed)."""
    segs = resolve_annotation(gt.annotations, image_id, ann)["segments_info"]
    cols = gt.columns.get(image_id)
    if cols is None or not cols.describes(segs):
        cols = segment_columns(segs, *check_segments(segs, f"image {image_id!r}: ground-truth"))
    return cols


def _panoptic_digests(gt: PanopticDataset, items: list, jobs: Optional[int], out: Optional[list] = None) -> list:
    """Per image: SHA-256 of its GT PNG bytes and its checked segments
    (:func:`~segmetrics.io.coco_panoptic.digest_columns`), on ``jobs`` threads (reading and hashing release
    the GIL).  The segments of images whose loaded columns still hold are hashed straight from
    the flat column arrays; the others from :func:`_gt_columns`.  The error of the first failing
    image in input order is raised.  ``out``: a list with an entry per item, of which only the
    None entries are computed (the compiled batch hashes the files it reads, see
    :func:`segmetrics._pipeline.panoptic_files`)."""
    n = len(items)
    out = [None] * n if out is None else out
    todo = [i for i, d in enumerate(out) if d is None]
    if not todo:
        return out
    g_folder = folder_str(gt)
    flat = gt.columns
    if isinstance(flat, FlatColumns):
        start, end, ok = flat.ranges([it[0] for it in items], [it[1] for it in items])
        start, end, ok = start.tolist(), end.tolist(), ok.tolist()
        arrays = digest_columns(flat)
        views = [memoryview(a).cast("B") for a in arrays]
        sizes = [a.itemsize for a in arrays]
    else:
        ok = [False] * n

    def work(_, i: int) -> None:
        image_id, ann, _ = items[i]
        if ok[i]:
            a, b = start[i], end[i]
            tail = [v[a * size:b * size] for v, size in zip(views, sizes)]
        else:
            tail = [a.tobytes() for a in digest_columns(_gt_columns(gt, image_id, ann))]
        out[i] = _digest(_file_bytes(png_path(gt, g_folder, image_id), "ground truth"), *tail)

    _pipeline.run_indexed(len(todo), lambda slot, j: work(slot, todo[j]), lambda: None, _jobs(jobs, len(todo)))
    return out


def _check_zero_areas(gt: PanopticDataset, items: list, gt_name: str) -> None:
    """:class:`FormatError` when a GT segment that is not crowd has ``area`` 0 in the JSON.

    Every listed segment covers pixels of its PNG (one that does not is an error
    of its image), so an area of 0 is never right, and PQ computed with it is
    wrong for the whole category (IoU above 1, or a union of 0): the run stops
    before any work and names the image and the segment.  ``recompute_gt_areas``
    uses the PNG's pixel counts instead.  Crowd segments are exempt (their area
    is not used).
    """
    def zero_areas(cols) -> np.ndarray:
        return np.flatnonzero(zero_area_mask(cols.area, cols.iscrowd))

    counts = np.zeros(len(items), dtype=np.int64)
    flat = gt.columns
    if isinstance(flat, FlatColumns):  # the loaded columns, in one pass over the flat arrays
        start, end, ok = flat.ranges([it[0] for it in items], [it[1] for it in items])
        bad = np.concatenate([[0], np.cumsum(zero_area_mask(flat.area, flat.iscrowd))])
        counts[ok] = (bad[end] - bad[start])[ok]
    else:
        ok = np.zeros(len(items), dtype=bool)
    for j in np.flatnonzero(~ok).tolist():  # annotations edited since loading, or no flat columns
        image_id, ann, _ = items[j]
        counts[j] = zero_areas(_gt_columns(gt, image_id, ann)).size
    hit = np.flatnonzero(counts)
    if not hit.size:
        return
    image_id, ann, _ = items[int(hit[0])]
    cols = _gt_columns(gt, image_id, ann)
    z = int(zero_areas(cols)[0])
    sid, cid, found = int(cols.ids[z]), int(cols.category_ids[z]), int(counts.sum())
    more = f" ({plural(found, 'segment')} with area 0 in all)" if found > 1 else ""
    raise FormatError(
        f"image {image_id!r}: ground-truth segment {sid} (category {cid}) has area 0 in {gt_name} but covers "
        f"pixels in its PNG{more}; PQ would use a wrong union; pass recompute_gt_areas=True "
        f"(--recompute-gt-areas) to use the PNGs' pixel counts")


def _panoptic_scored(state: PanopticState, items: list, gt: PanopticDataset, *, require: bool = True) -> list:
    """A note on the GT images that list no segment (they add nothing); :class:`InputError`
    when nothing counts in any image (TP + FP + FN = 0 in every category) and ``require``."""
    if require and not (int(state.tp.sum()) + int(state.fp.sum()) + int(state.fn.sum())):
        raise InputError(
            f"nothing to score: no category has a ground-truth or predicted segment that counts in the "
            f"{plural(len(items), 'image')} (TP + FP + FN = 0: the ground truth lists no segment that is not "
            f"crowd, and every predicted segment lies mostly on void or crowd)")
    ids, anns = [it[0] for it in items], [it[1] for it in items]
    if isinstance(gt.columns, FlatColumns):  # the loaded columns' rows, where they still hold
        start, end, ok = gt.columns.ranges(ids, anns)
        counts, ok = (end - start).tolist(), ok.tolist()
    else:
        counts, ok = [0] * len(items), [False] * len(items)
    empty = [image_id for image_id, ann, n, held in zip(ids, anns, counts, ok)
             if not (n if held else len(resolve_annotation(gt.annotations, image_id, ann)["segments_info"]))]
    if not empty:
        return []
    one = len(empty) == 1
    return [f"{plural(len(empty), 'ground-truth image')} {'lists' if one else 'list'} no segment (the PNG is all "
            f"void), so nothing in {'it' if one else 'them'} is scored: {_shown(empty)}"]


def evaluate_panoptic_folders(gt_json, pred_json, *, gt_folder=None, pred_folder=None, preset: Optional[str] = None,
                              allow_missing: bool = False, per_image: bool = False, recompute_gt_areas: bool = False,
                              jobs: Optional[int] = None, cache_dir=None,
                              progress: Optional[Callable[[int], None]] = None,
                              with_semantic: bool = True, shard: Optional[tuple] = None, boundary: bool = False,
                              dilation_ratio: Optional[float] = None, convention: Optional[str] = None,
                              conventions=None) -> PanopticResult:
    """PQ / SQ / RQ (and the category-map metrics) of a COCO-panoptic prediction set.

    Parameters
    ----------
    gt_json, pred_json : path-like, dict or PanopticDataset
        COCO panoptic JSON files (or a folder next to / holding one, as
        :func:`resolve_panoptic_input` finds it), or loaded data.
    gt_folder, pred_folder : path-like, optional
        PNG folders; default: the JSON path without ``.json`` (panopticapi's rule).
    preset : {"coco-panoptic", "ade20k-panoptic"}, optional
        Checks the layout the preset describes (warnings).
    allow_missing : bool
        Score GT images without prediction: every GT segment a false negative.
    per_image : bool
        Keep per-image counts and matches (needed to save a state file).
    recompute_gt_areas : bool
        Use GT PNG pixel counts instead of the JSON ``area`` fields.
    jobs, cache_dir, progress
        Worker threads (default: usable CPUs, at most 8), the GT cache folder
        (None: no cache), a callable called with 1 per image.
    with_semantic : bool
        Also compute mIoU, fwIoU, mAcc and aAcc of the category maps.
    shard : (int, int), optional
        ``(index, count)``: score only the images of shard ``index`` (``0..count-1``),
        as :func:`~segmetrics.folders.shard_of` assigns them; the state records the shard, so that
        :func:`segmetrics.merge_states` can refuse missing or repeated shards.
    boundary : bool
        Also compute Boundary PQ (``BPQ BSQ BRQ`` and ``_th`` / ``_st``;
        ``docs/boundary.md``) in the same pass over the pixels.  PQ-dagger is always
        computed.
    dilation_ratio : float, optional
        The band width as a fraction of each image's diagonal (default: the
        preset's, else 0.02); only with ``boundary``.
    convention : {"panopticapi", "torchmetrics", "cityscapes"}, optional
        Score PQ with another tool's matching rules (:mod:`segmetrics.conventions`);
        the category-map metrics and per-image rows stay panopticapi's.
    conventions : "all", str or sequence of str, optional
        Also compare the profiles (``result.comparison``, the report's
        ``conventions`` section).  The variant rules are counted in the same
        pass and kept in the state (its ``conventions`` field group).

    Returns
    -------
    PanopticResult

    Notes
    -----
    Same rules as :class:`~segmetrics.panoptic.PanopticEvaluator`.  Annotations
    pair by image id (:func:`pair_panoptic`); predictions for images not in
    the GT are ignored with a warning.  Fingerprint: SHA-256 over the
    categories and, per image in id order, the id and a SHA-256 of its GT PNG
    and segments (:func:`segmetrics.state.fingerprint`).
    """
    run = plan_panoptic_run(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder, preset=preset,
                            allow_missing=allow_missing, per_image=per_image, recompute_gt_areas=recompute_gt_areas,
                            with_semantic=with_semantic, boundary=boundary, dilation_ratio=dilation_ratio,
                            convention=convention, conventions=conventions)
    return run.evaluate(shard=shard, jobs=jobs, cache_dir=cache_dir, progress=progress)


def _flat_columns(cols: list) -> FlatColumns:
    """``(image_id, SegmentColumns)`` pairs as one :class:`FlatColumns` (shared flat arrays)."""
    offsets = np.zeros(len(cols) + 1, dtype=np.int64)
    np.cumsum([c.ids.size for _, c in cols], out=offsets[1:])

    def flat(name: str, dtype) -> np.ndarray:
        return np.concatenate([getattr(c, name) for _, c in cols]).astype(dtype, copy=False) if cols \
            else np.zeros(0, dtype)
    arrays = (offsets, flat("ids", np.int64), flat("category_ids", np.int64), flat("iscrowd", np.uint8),
              flat("area", np.float64), flat("order", np.intp), np.ones(len(cols), dtype=np.uint8))
    return FlatColumns([i for i, _ in cols], [c.segments for _, c in cols], arrays, {})


@dataclasses.dataclass
class _PanopticCounting:
    """What counting any subset of a panoptic run's items needs (:meth:`part` makes it small for a Dask task)."""

    gt: PanopticDataset
    pred: PanopticDataset
    categories: CategoryIndex
    recompute_gt_areas: bool
    per_image: bool
    shards: Optional[int] = None
    validate_command: str = ""  # suggested by data errors
    memory_what: str = ""       # what sets the number of categories, for the memory estimate
    band: Optional[tuple] = None  # (dilation_ratio, dilation) of a run with boundary metrics
    conventions: bool = False     # also count the variant matching rules (segmetrics.conventions)

    def part(self, items: list) -> "_PanopticCounting":
        """The same counting with datasets cut down to ``items``: their annotations, and their segment
        columns in a few flat arrays (cheap to send to a Dask worker)."""
        def cut(ds: PanopticDataset, which: int) -> PanopticDataset:
            anns = {it[0]: resolve_annotation(ds.annotations, it[0], it[which]) for it in items
                    if it[which] is not None}
            cols = [(i, c) for i in anns if (c := ds.columns.get(i)) is not None]
            return dataclasses.replace(ds, annotations=anns, images={}, columns=_flat_columns(cols))
        return dataclasses.replace(self, gt=cut(self.gt, 1), pred=cut(self.pred, 2))

    def __call__(self, items: list, *, jobs=None, cache_dir=None, progress=None) -> tuple[PanopticState, list]:
        """The state of ``items`` and each item's GT digest (in the order of ``items``)."""
        K = len(self.categories)
        check_run_memory("panoptic", K, threads=_jobs(jobs, len(items)), per_image=self.per_image,
                         num_images=len(items), what=self.memory_what or f"{plural(K, 'category', 'categories')}")
        state = PanopticState(K, per_image=self.per_image, digest=self.per_image, shards=self.shards,
                              boundary=self.band is not None, conventions=self.conventions)
        digests: list = []
        with _suggest_validate(self.validate_command):
            for local, gt, pred, names in _staged("staged_panoptic", items, self.gt, self.pred):
                with _real_names(names):
                    part = [None] * len(local)
                    _count_panoptic(state, local, gt, pred, self.categories,
                                    recompute_gt_areas=self.recompute_gt_areas, jobs=jobs, cache_dir=cache_dir,
                                    progress=progress, digests=part, band=self.band)
                digests.extend(part)
        return state, digests


@dataclasses.dataclass
class PanopticRun(_Sharded):
    """A panoptic run as decided before any image is counted (:func:`plan_panoptic_run`); the
    counterpart of :class:`~segmetrics.folders.SemanticRun` (``items`` in place of ``pairs``)."""

    items: list
    count: _PanopticCounting
    with_semantic: bool
    params: dict
    dataset: dict
    run_warnings: list
    categories: list
    shard_index: Optional[int] = None
    notes: list = dataclasses.field(default_factory=list)
    conventions: tuple = ()  # the profiles the result compares (resolve_names)
    _WORK = "items"

    def result(self, state: PanopticState, ids: list, digests: list, notes: Sequence[str] = ()) -> PanopticResult:
        """The result of the counted ``state`` of the images ``ids`` with GT ``digests``; ``notes``
        are added after the run's own (eval's quick checks come last)."""
        self._mark_shard(state)
        command = self.count.validate_command
        with _suggest_validate(command):
            scored = _panoptic_scored(state, self.items, self.count.gt, require=self.shard_index is None)
        dataset = dict(self.dataset, fingerprint=fingerprint(ids, digests, _categories_bytes(self.categories)))
        result = panoptic_result(state, self.count.categories, with_semantic=self.with_semantic, params=self.params,
                                 dataset=dataset, run_warnings=self.run_warnings,
                                 notes=scored + list(self.notes) + list(notes), conventions=self.conventions)
        quick = quick_checks(panoptic_sq=[row["sq"] for row in result.per_class], validate_command=command)
        return dataclasses.replace(result, notes=result.notes + tuple(quick)) if quick else result


def plan_panoptic_run(gt_json, pred_json, *, gt_folder=None, pred_folder=None, preset: Optional[str] = None,
                      allow_missing: bool = False, per_image: bool = False, recompute_gt_areas: bool = False,
                      with_semantic: bool = True, boundary: bool = False,
                      dilation_ratio: Optional[float] = None, convention: Optional[str] = None,
                      conventions=None) -> PanopticRun:
    """Everything :func:`evaluate_panoptic_folders` decides before counting: the JSONs loaded and
    checked, pairing, the preset's layout warnings; the arguments are its own."""
    p = get_preset(preset) if preset else None
    if p is not None and p.task != "panoptic":
        raise InputError(f"preset {p.name} is for {p.task} evaluation, not panoptic")
    band = _band_setting(boundary, dilation_ratio, p)
    if convention is not None:
        convention = get_profile(convention, "panoptic").name
    shown = resolve_names(conventions, "panoptic")  # checked before any work
    variants = bool(shown) or convention not in (None, "panopticapi", "cityscapes")

    def command(gt_path=gt_json, pred_path=pred_json) -> str:
        as_path = (lambda x, name: x if isinstance(x, (str, os.PathLike)) else name)
        return validate_command_line(as_path(gt_path, "GT.json"), as_path(pred_path, "PRED.json"), preset=preset,
                                     gt_folder=gt_folder, pred_folder=pred_folder)

    with _suggest_validate(command(), (FormatError,)):  # JSON files with structure problems
        gt, gt_path = _load_panoptic(gt_json, gt_folder, "ground-truth")
        pred, pred_path = _load_panoptic(pred_json, pred_folder, "prediction")
    cats = CategoryIndex(gt.categories)
    gt_name = gt_path.name if gt_path is not None else "the ground truth"
    if not gt.annotations:
        raise InputError(f"{gt_name} lists no image (its 'annotations' are empty): nothing to score")
    items, missing, extra = _pair_panoptic(gt, pred, allow_missing)
    validate = command(gt_path or gt_json, pred_path or pred_json)
    with _suggest_validate(validate):
        if not recompute_gt_areas:
            _check_zero_areas(gt, items, gt_name)
        run_warnings = panoptic_preset_problems(
            p, [c.get("id") for c in gt.categories if isinstance(c, dict)],
            lambda: sum(1 for it in items for seg in resolve_annotation(gt.annotations, it[0], it[1]).get(
                "segments_info", []) if seg.get("iscrowd")), gt_name)
    result_cats = [{"id": c, "name": n, "isthing": bool(t)} for c, n, t in zip(cats.ids, cats.names, cats.isthing)]
    dataset = {"gt": str(gt_path if gt_path is not None else gt.path),
               "pred": str(pred_path if pred_path is not None else pred.path),
               "gt_folder": str(gt.folder), "pred_folder": str(pred.folder),
               "missing_ids": sorted(missing, key=id_key), "extra_ids": sorted(extra, key=id_key)}
    params = {"preset": p.name if p else None, "allow_missing": bool(allow_missing),
              "recompute_gt_areas": bool(recompute_gt_areas)}
    if band is not None:
        params.update(_band.params(band[0]))
    notes = []
    if convention is not None:
        params["convention"] = convention
        if variants and per_image:
            notes.append(f"convention {convention}: per-image rows (CSV) follow panopticapi's rules; the "
                         f"{convention} counts are kept for the whole run")
    counting = _PanopticCounting(gt, pred, cats, bool(recompute_gt_areas), bool(per_image), validate_command=validate,
                                 memory_what=f"the {plural(len(cats), 'category', 'categories')} of {gt_name}",
                                 band=band, conventions=variants)
    return PanopticRun(items=items, count=counting, with_semantic=with_semantic, params=params, dataset=dataset,
                       run_warnings=run_warnings, categories=result_cats, notes=notes, conventions=shown)


def panoptic_quality(gt_json, pred_json, gt_folder=None, pred_folder=None, *, jobs: Optional[int] = None,
                     **kwargs) -> PanopticResult:
    """Alias of :func:`evaluate_panoptic_folders` (the PNG folders may be given by position)."""
    return evaluate_panoptic_folders(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder, jobs=jobs,
                                     **kwargs)
