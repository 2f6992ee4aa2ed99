"""The folder engine: image pairs in, integer sums out.

:func:`semantic_files` and :func:`panoptic_files` score a whole run and return
plain sums (:class:`SemanticSums`, :class:`PanopticSums`); they never touch an
evaluator.  :func:`score_image` scores one panoptic image given as arrays.

Work layout
-----------
One scheduler (:mod:`segmetrics._engine.schedule`): ``jobs`` worker threads take
image indices from a shared atomic counter.  Each owns a
:class:`~segmetrics._kernels.folder.Scratch` (decode buffers reused from image
to image) and its own sums, added once at the end.  Per image one GIL-free
kernel call parses, inflates, unfilters and counts both PNG files row by row
(the row walker of ``sm_walk.h``); for panoptic images the same call also
applies panopticapi's per-image rules (``sm_pq.h``) and adds the image's
statistics (with PQ-dagger's stuff pairs) to the thread's accumulator.  With a
``dilation_ratio`` (Boundary IoU / Boundary PQ) the same row walk also builds
both maps' runs, and the band pass (:mod:`segmetrics._kernels.boundary`) counts
the image's band interiors before the call returns: boundary counts cost no
second decode or pass over the pixels.  Without a GT cache a panoptic thread
makes a single nogil call for all its images (the kernel reads the files too);
with the cache the thread loops in Python, since the cache
(:mod:`segmetrics.gtcache`: content hashes, pack files) lives in Python.  Per-image
counts go straight to their rows of ``(N, K)`` arrays.  Integer sums make the
result identical for every ``jobs`` and every schedule.

Fallback and errors
-------------------
Whatever the fused kernels do not take (interlaced or low-bit-depth PNGs,
colour label maps, sizes that differ, bad labels, unlisted segment ids, corrupt
files, panoptic images that need warnings) goes through the per-image path or
the caller's *reference* function (Pillow-compatible decoding and the array
APIs), which either scores the image the slow way or raises the precise error.
The error of the first failing image in input order is raised, whatever
``jobs`` is; remaining work is cancelled.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from ._engine import band as _band
from ._engine.schedule import Batch, Loop, resolve_jobs, run, run_indexed
from ._kernels import folder as _folder
from ._kernels import folder_semantic as _fsem
from .errors import SegmetricsError
from .gtcache import GTCache, file_digest
from .labels import BAD, FILE_TABLE_SIZE

if TYPE_CHECKING:
    from ._engine.image import ImageStats

__all__ = [
    "SemanticSums", "PanopticSums", "semantic_files", "panoptic_files", "score_image",
    "resolve_jobs", "run_indexed", "label_samples", "sample_stride",
]

_STALE = 2
_NEEDS_PYTHON = 3


def __getattr__(name: str):
    """``score_image`` (:func:`segmetrics._engine.image.score_image`), loaded on first use: the panoptic
    side (its kernels, the COCO-panoptic readers) is imported by panoptic runs only."""
    if name == "score_image":
        from ._engine.image import score_image

        return score_image
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class SemanticSums:
    """What a semantic run adds up to.

    Attributes
    ----------
    confusion : ndarray of int64, shape (K, K)
        All images; rows = ground truth.
    num_images : int
    image_tp, image_fp, image_fn : ndarray of int64, shape (N, K), or None
        Per image, in input order (``per_image=True``).
    boundary : ndarray of int64, shape (3, K), or None
        Boundary IoU band counts (intersection, GT band, predicted band) per class,
        all images (runs with a ``dilation_ratio``).
    image_boundary : ndarray of int64, shape (N, 3, K), or None
        The same per image (with ``per_image=True``).
    """

    confusion: np.ndarray
    num_images: int
    image_tp: Optional[np.ndarray] = None
    image_fp: Optional[np.ndarray] = None
    image_fn: Optional[np.ndarray] = None
    boundary: Optional[np.ndarray] = None
    image_boundary: Optional[np.ndarray] = None


@dataclass
class PanopticSums:
    """What a panoptic run adds up to.

    Attributes
    ----------
    tp, fp, fn : ndarray of int64, shape (K,)
    confusion : ndarray of int64, shape (K + 1, K + 1)
        Category-map matrix (GT void rows dropped, predicted void in column K).
    match_image, match_cat : ndarray of int64, shape (M,)
        Each match's index into the items and dense category; sorted by image,
        within an image in ascending (GT id, prediction id) order.
    match_iou : ndarray of float64, shape (M,)
    num_images : int
    warnings : list of str
        Per-image warnings, in input order.
    image_tp, image_fp, image_fn : ndarray of int64, shape (N, K), or None
        Per image, in input order (``per_image=True``).
    gt_segments : ndarray of int64, shape (K,)
        PQ-dagger: non-crowd GT segments per category.
    stuff_cat, stuff_iou : ndarray, shape (S,)
        PQ-dagger: every same-category pair of a stuff category whose GT segment is
        not crowd, its category and mask IoU (in no fixed order: the state sorts them).
    btp, bfp, bfn, bmatch_image, bmatch_cat, bmatch_iou : ndarray, or None
        Boundary PQ (runs with a ``dilation_ratio``), as ``tp`` ... ``match_iou``.
    image_btp, image_bfp, image_bfn : ndarray of int64, shape (N, K), or None
        Boundary PQ per image (``per_image=True`` and a ``dilation_ratio``).
    variants : tuple or None
        With ``variants`` asked (:mod:`segmetrics.conventions`): the run under
        other tools' matching rules, ``(tp, fp, fn, match_var, match_cat,
        match_iou)``: ``(V, K)`` counts and one row per match.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    confusion: np.ndarray
    match_image: np.ndarray
    match_cat: np.ndarray
    match_iou: np.ndarray
    num_images: int
    warnings: list
    image_tp: Optional[np.ndarray] = None
    image_fp: Optional[np.ndarray] = None
    image_fn: Optional[np.ndarray] = None
    gt_segments: Optional[np.ndarray] = None
    stuff_cat: Optional[np.ndarray] = None
    stuff_iou: Optional[np.ndarray] = None
    btp: Optional[np.ndarray] = None
    bfp: Optional[np.ndarray] = None
    bfn: Optional[np.ndarray] = None
    bmatch_image: Optional[np.ndarray] = None
    bmatch_cat: Optional[np.ndarray] = None
    bmatch_iou: Optional[np.ndarray] = None
    image_btp: Optional[np.ndarray] = None
    image_bfp: Optional[np.ndarray] = None
    image_bfn: Optional[np.ndarray] = None
    variants: Optional[tuple] = None


#: ``sample_stride(h, w)``: the stride of the ``pred_labels="auto"`` sample of an h x w map
sample_stride = _fsem.sample_stride


def label_samples(pairs: Sequence[tuple]) -> list:
    """The ``pred_labels="auto"`` sample of each ``(gt path, pred path)`` pair: ``(gt, pred)``
    arrays of every s-th pixel of every s-th row (s: :data:`sample_stride`), decoded without
    the GIL into one scratch's buffers (no whole decoded map is made); None for a pair the
    fast path does not take (the caller reads it with the reference reader).
    On the calling thread (eight Cityscapes-sized pairs: about 6 ms): sample arrays made on
    worker threads stay resident in those threads' malloc arenas through the run (1.3 MB
    more at a Cityscapes run's peak); for the same reason the scratch's buffers get pages of
    their own, given back when it goes."""
    s = _folder.Scratch(own_pages=True)
    return [_fsem.sample_pair(s, os.fsencode(g), os.fsencode(p)) for g, p in pairs]


def _read(path) -> bytes | None:
    """The file's bytes, or None when it cannot be read (the reference path names the error)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _count_pair(cache: Optional[GTCache], key_parts: Optional[tuple], s: _folder.Scratch,
                cached: Callable, cold: Callable[[bool], int], known_key: Optional[bytes] = None) -> int:
    """Count one pair: from the cached GT when the cache holds it, else from both files
    (recording the GT runs for the cache).  Returns the kernel status.

    A stale entry (runs that do not tile the image) is detected before anything is
    counted, dropped and recomputed.  The recorded runs are stored when the image
    was counted whole (status 0, or 3: the statistics are left to Python).
    ``known_key``: the cache was already asked under this key and had no usable entry.
    """
    key = known_key
    if key is None and cache is not None and key_parts is not None:
        key = cache.key(*key_parts)
        status = _from_cache(cache, key, cached)
        if status is not None:
            return status
    status = cold(key is not None)
    if status in (0, _NEEDS_PYTHON) and key is not None:
        cache.put(key, s.record(), s.n_runs, s.width, s.height)
    return status


def _from_cache(cache: GTCache, key: bytes, cached: Callable) -> Optional[int]:
    """The status of ``cached(entry)`` when the cache holds a usable entry under ``key``; None when
    it holds none, or a stale one (runs that do not tile the image: dropped, nothing counted)."""
    entry = cache.get(key)
    if entry is None:
        return None
    status = cached(entry)
    if status == _STALE:
        cache.discard(key)
        return None
    return status


# ----------------------------------------------------------------------------- semantic
def semantic_cache_params(num_classes: int, gt_codes: np.ndarray) -> bytes:
    """The semantic GT cache's parameters: K and the full 65536-entry GT code table, whose tail
    past a shorter table (:meth:`~segmetrics.labels.LabelRules.engine_tables`) is BAD; a short
    table and its full form key the same entries."""
    tail = np.full(max(0, FILE_TABLE_SIZE - gt_codes.size), BAD, dtype=np.int32)
    return int(num_classes).to_bytes(4, "little") + gt_codes[:FILE_TABLE_SIZE].tobytes() + tail.tobytes()


def semantic_files(pairs: Sequence[tuple], *, num_classes: int, gt_codes: np.ndarray, pred_codes: np.ndarray,
                   reference: Callable[[tuple], np.ndarray], jobs: int, cache_dir=None,
                   progress: Optional[Callable[[int], None]] = None, per_image: bool = False,
                   dilation_ratio: Optional[float] = None, dilation: Optional[int] = None,
                   digests: Optional[list] = None) -> SemanticSums:
    """Score ``(image_id, gt_path, pred_path)`` pairs.

    ``gt_codes`` / ``pred_codes`` are int32 code tables of at least 256 entries, a value
    beyond one being a bad label (:meth:`segmetrics.labels.LabelRules.engine_tables`); ``reference(pair)`` returns the image's int64
    ``(K, K)`` matrix the slow way or raises the image's error: it takes what the
    fused kernel does not.  ``cache_dir`` turns on the GT cache.  ``dilation_ratio``
    (or a fixed ``dilation`` in pixels) also counts Boundary IoU (the fused kernels
    count the band interiors in the same call; ``reference`` must then return
    ``(matrix, interior)``, see :func:`segmetrics.semantic.image_confusion`).
    ``digests``, a list of ``len(pairs)`` entries, receives
    :func:`~segmetrics.gtcache.file_digest` of each GT file from the bytes the worker
    read to score it (None where the file could not be read and the reference path
    scored the image); the same digest keys the cache.
    """
    k = int(num_classes)
    n = len(pairs)
    gcodes = np.ascontiguousarray(gt_codes, dtype=np.int32)
    pcodes = np.ascontiguousarray(pred_codes, dtype=np.int32)
    rows = tuple(np.zeros((n, k), dtype=np.int64) for _ in range(3)) if per_image else None
    bands = dilation_ratio is not None
    inner_rows = np.zeros((n, 3, k), dtype=np.int64) if bands and per_image else None
    cache = None
    if cache_dir is not None:
        params = semantic_cache_params(k, gcodes)
        cache = GTCache(cache_dir, "semantic", params)

    warm_files = cache is not None and _folder.files_supported() and _folder.sha256_source() is not None

    def cached_from_files(s: _folder.Scratch, cm: np.ndarray, vectors: tuple, interior, band, i: int) -> tuple:
        """With the GT cache: the GT file hashed and the prediction read without the GIL, the pair
        counted from the cached runs.  ``(status, None)``; ``(None, key)`` when the cache has no
        usable entry (the general path then counts the files and stores them under ``key``);
        ``(None, None)`` when the general path must do it all."""
        _, gt_path, pred_path = pairs[i]
        try:
            gt_name, pred_name = os.fsencode(gt_path), os.fsencode(pred_path)
        except TypeError:  # not path-like
            return None, None
        digest = _folder.file_sha256(s, gt_name)
        if digest is None:
            return None, None
        key = cache.key(digest)
        status = _from_cache(cache, key, lambda e: _fsem.semantic_cached(
            s, e.values, e.lengths, e.width, e.height, None, cm, pcodes, *vectors, band, interior,
            pred_path=pred_name))
        if status is None:
            return None, key
        if digests is not None:
            digests[i] = digest
        return status, None

    def count(s: _folder.Scratch, cm: np.ndarray, inner: Optional[np.ndarray], band, i: int) -> None:
        item = pairs[i]
        _, gt_path, pred_path = item
        vectors = (rows[0][i], rows[1][i], rows[2][i]) if rows is not None else (None, None, None)
        interior = inner_rows[i] if inner_rows is not None else inner
        status, known = cached_from_files(s, cm, vectors, interior, band, i) if warm_files else (None, None)
        if status is not None:
            if status != 0:
                _per_image_path(s, item, cm, vectors, interior, s.counted)
            return
        pred = _read(pred_path)
        gt = _read(gt_path)
        digest = None
        if gt is not None and (digests is not None or cache is not None):
            digest = file_digest(gt)
            if digests is not None:
                digests[i] = digest
        if pred is None or gt is None:
            status, counted = 1, False
        else:
            status = _count_pair(
                cache, (digest,), s,
                lambda e: _fsem.semantic_cached(s, e.values, e.lengths, e.width, e.height, pred, cm, pcodes,
                                                *vectors, band, interior),
                lambda record: _fsem.semantic_pair(s, gt, pred, cm, gcodes, pcodes, record, *vectors, band,
                                                   interior), known_key=known)
            counted = s.counted
        if status != 0:
            _per_image_path(s, item, cm, vectors, interior, counted)

    def _per_image_path(s: _folder.Scratch, item: tuple, cm: np.ndarray, vectors: tuple, interior, counted: bool):
        """The reference path for an image the kernels left (it raises the image's error, if any)."""
        ref = reference(item)
        if counted:
            raise _fast_path_error(item[0], f" ({s.message})")
        if bands:
            ref, ref_inner = ref
            interior += ref_inner
        cm += ref
        if vectors[0] is not None:
            tp = np.diag(ref)
            vectors[0][...] += tp
            vectors[1][...] += ref.sum(axis=0) - tp
            vectors[2][...] += ref.sum(axis=1) - tp

    jobs = max(1, min(jobs, n))
    scratch = [_folder.Scratch() for _ in range(jobs)]
    sums = [np.zeros((k, k), dtype=np.int64) for _ in range(jobs)]
    inners = [np.zeros((3, k), dtype=np.int64) if bands else None for _ in range(jobs)]
    works = [_band.band_work(dilation_ratio, dilation) if bands else None for _ in range(jobs)]
    batch = _semantic_batch(pairs) if cache is None else None
    try:
        if batch is not None:
            # one nogil call per thread reads, hashes and counts every image it can; the
            # images it leaves go the per-image way below (which names their errors)
            status = np.zeros(n, dtype=np.uint8)
            counted = np.zeros(n, dtype=np.uint8)
            want = digests is not None and _folder.sha256_source() is not None
            digest_rows = np.zeros((n, 32), dtype=np.uint8) if want else None
            hashed = np.zeros(n, dtype=np.uint8) if want else None
            done = [np.zeros(1, dtype=np.int64) for _ in range(jobs)]
            vec = rows if rows is not None else (None, None, None)
            run(n, [Batch(lambda counter, s=s, cm=cm, inner=inner, band=band, d=d: batch.run(
                        s, counter, cm, gcodes, pcodes, status, counted, d, digest_rows, hashed, *vec, band,
                        inner if inner_rows is None else None, inner_rows if bands else None),
                          lambda d=d: int(d[0]))
                    for s, cm, inner, band, d in zip(scratch, sums, inners, works, done)], progress=progress)
            if want:
                _take_digests(digests, digest_rows, hashed)
            rest = np.flatnonzero(status).tolist()
            # an image the batch stopped half way (a bad label) has part of its counts in the sums;
            # the per-image path below stops there too and raises the image's own error
            partial = [pairs[i][0] for i in rest if counted[i]]
        else:
            rest, partial = range(n), []
        if len(rest):
            workers = [Loop(lambda j, s=s, cm=cm, inner=inner, band=band: count(s, cm, inner, band, rest[j]))
                       for s, cm, inner, band in zip(scratch, sums, inners, works)]
            run(len(rest), workers, progress=progress)
        if partial:
            raise _fast_path_error(partial[0])
    finally:
        if cache is not None:
            cache.close()
    total = sums[0]
    for cm in sums[1:]:
        total += cm
    out = SemanticSums(total, n, *(rows if rows is not None else (None, None, None)))
    if bands:
        inner = inner_rows.sum(axis=0) if inner_rows is not None else sum(inners[1:], inners[0])
        out.boundary = np.stack(_band.band_counts(np.diag(total), total.sum(axis=1), total.sum(axis=0), inner))
        if inner_rows is not None:
            tp, fp, fn = rows
            out.image_boundary = np.stack(_band.band_counts(tp, tp + fn, tp + fp, inner_rows), axis=1)
    return out


def _fast_path_error(image_id, detail: str = "") -> SegmetricsError:
    """The error of an image the fast path stopped on half way although the per-image path scores
    it (a disagreement between the two, never a data error)."""
    return SegmetricsError(f"image {image_id!r}: internal error, the fast path stopped{detail} on an image "
                           f"the per-image path scores; please report it")


def _take_digests(digests: list, rows: np.ndarray, hashed: np.ndarray) -> None:
    """The GT digests a compiled batch made (row ``i`` of ``rows`` where ``hashed[i]``) into ``digests``."""
    for i in np.flatnonzero(hashed).tolist():
        digests[i] = rows[i].tobytes()


def _semantic_batch(pairs: Sequence[tuple]):
    """The compiled batch of ``pairs`` when the kernels can read their files themselves
    (local paths on a POSIX system), else None."""
    if not _folder.files_supported():
        return None
    try:
        return _fsem.SemanticBatch([p[1] for p in pairs], [p[2] for p in pairs])
    except (TypeError, ValueError):  # not path-like (remote files), a NUL byte
        return None


# ----------------------------------------------------------------------------- panoptic
class _PanopticThread:
    """What one worker thread owns: decode buffers, the fused sums, a pair table for the
    per-image path and the statistics of the images that went that way (with index)."""

    __slots__ = ("scratch", "acc", "table", "band", "stats")

    def __init__(self, k: int, isthing: np.ndarray, dilation_ratio: Optional[float], dilation: Optional[int],
                 variants: Optional[np.ndarray] = None):
        from ._kernels import folder_panoptic as _fpan
        from ._kernels.panoptic import PairTable

        self.scratch = _folder.Scratch()
        bands = dilation_ratio is not None
        self.acc = _fpan.PanopticAccumulator(k, isthing, _band.band_work(dilation_ratio, dilation) if bands else None)
        if variants is not None:
            self.acc.set_variants(variants, isthing)
        self.table = PairTable()
        self.band = _band.band_work(dilation_ratio, dilation) if bands else None
        self.stats: list[tuple[int, ImageStats]] = []


def panoptic_files(items: Sequence[tuple], gt_dataset, pred_dataset, categories, *, recompute_gt_areas: bool,
                   jobs: int, cache_dir=None, progress: Optional[Callable[[int], None]] = None,
                   per_image: bool = False, reference: Callable[[tuple], ImageStats],
                   dilation_ratio: Optional[float] = None, dilation: Optional[int] = None,
                   variants: Optional[Sequence[int]] = None, digests: Optional[list] = None) -> PanopticSums:
    """Score ``(image_id, gt_annotation, pred_annotation or None)`` items (GT order).

    ``reference(item)`` returns the image's :class:`ImageStats` the slow way or
    raises the image's error (with Boundary PQ when ``dilation_ratio`` is given,
    which turns on the band pass in the fused kernels; ``dilation``: a fixed band
    width in pixels instead; with the same ``variants``).  ``variants``: option sets
    of other tools' matching rules (``sm_pq.h``), counted in the same pass into
    :attr:`PanopticSums.variants`.

    Two passes over the same scheduler.  First every image whose segment columns
    are known goes the fused way: one nogil call decodes, counts, matches and adds
    its statistics to the thread's accumulator (without a GT cache a thread makes
    one call for all of them).  Then the others (stale JSON areas, missing
    predictions, anything the fused kernels do not take) go the per-image way:
    the pairs counted by the kernels, or the reference, then
    :func:`~segmetrics._engine.image.table_stats`, which names errors and warnings.

    ``digests`` (one entry per item): the compiled pass also hashes each GT file it
    reads with the image's loaded segment columns (the run's fingerprint, see
    :func:`segmetrics._folders_panoptic._panoptic_digests`, which fills the entries left None).
    """
    # the panoptic side, imported on first use (a semantic run needs none of it)
    from ._engine import image as _image
    from ._engine.columns import folder_str, panoptic_batch, png_path
    from ._engine.image import CategoryIndex
    from ._kernels import folder_panoptic as _fpan
    from .io.coco_panoptic import resolve_annotation

    cats = categories if isinstance(categories, CategoryIndex) else CategoryIndex(categories)
    k = len(cats)
    n = len(items)
    jobs = max(1, min(jobs, n))
    cache = GTCache(cache_dir, "panoptic") if cache_dir is not None else None
    g_folder, p_folder = folder_str(gt_dataset), folder_str(pred_dataset)
    bands = dilation_ratio is not None
    batch, fast = panoptic_batch(items, gt_dataset, pred_dataset, cats, recompute_gt_areas, per_image, bands)
    variants = None if variants is None else np.asarray(variants, dtype=np.uint32)
    threads = [_PanopticThread(k, cats.isthing, dilation_ratio, dilation, variants) for _ in range(jobs)]
    status = np.ones(n, dtype=np.uint8)  # 0: added by the fused kernels

    def fused(t: _PanopticThread, i: int) -> None:
        """Image i into the thread's accumulator (GT cache on); status[i] = 0 when added."""
        if not fast[i]:
            return
        image_id = items[i][0]
        pred = _read(png_path(pred_dataset, p_folder, image_id))
        gt = _read(png_path(gt_dataset, g_folder, image_id))
        if pred is None or gt is None:
            return
        s, acc = t.scratch, t.acc
        g_ids = batch.gt_ids(i)
        status[i] = _count_pair(
            cache, (file_digest(gt), g_ids.tobytes()) if cache is not None and g_ids.size < 65536 else None, s,
            lambda e: batch.score_cached(s, acc, i, e.values, e.lengths, e.width, e.height, pred),
            lambda record: batch.score_pair(s, acc, i, gt, pred, record))

    def image_stats(t: _PanopticThread, i: int) -> None:
        """Image i the per-image way (pairs counted by the kernels, or the reference)."""
        t.stats.append((i, _per_image(t, items[i])))

    def _per_image(t: _PanopticThread, item: tuple) -> ImageStats:
        image_id, g_ann, p_ann = item
        if p_ann is None:
            return reference(item)
        g_ann = resolve_annotation(gt_dataset.annotations, image_id, g_ann)
        p_ann = resolve_annotation(pred_dataset.annotations, image_id, p_ann)
        where = f"image {image_id!r}"
        g_path, p_path = png_path(gt_dataset, g_folder, image_id), png_path(pred_dataset, p_folder, image_id)
        gt_arr = _image._segment_arrays(g_ann["segments_info"], cats, "ground-truth", where,
                                        gt_dataset.columns.get(image_id))
        p_ids, p_cat = _image._segment_arrays(p_ann["segments_info"], cats, "prediction", where,
                                              pred_dataset.columns.get(image_id))[:2]
        g_ids = gt_arr[0]
        pred = _read(p_path)
        gt = _read(g_path)
        if pred is None or gt is None:
            return reference(item)  # raises the missing-file error
        s, table, band = t.scratch, t.table, t.band
        st = _count_pair(
            cache, (file_digest(gt), g_ids.tobytes()) if cache is not None and g_ids.size < 65536 else None, s,
            lambda e: _fpan.panoptic_cached(s, e.values, e.lengths, e.width, e.height, pred, table, g_ids.size,
                                            p_ids, band),
            lambda record: _fpan.panoptic_pair(s, gt, pred, table, g_ids, p_ids, record, band))
        if st != 0:
            return reference(item)
        return _image.table_stats(table, gt_arr, (p_ids, p_cat), cats, image_id=image_id,
                                  recompute_gt_areas=recompute_gt_areas, where=where, gt_name=g_path,
                                  pred_name=p_path, band=band, variants=variants)

    hashed = None
    try:
        if fast.any():
            if cache is None and _folder.files_supported():
                # the kernel reads the files too: a thread makes one call in all
                _set_paths(batch, fast, items, gt_dataset, pred_dataset, g_folder, p_folder)
                hashed = _set_digests(batch, fast, gt_dataset) if digests is not None else None
                take = fast.astype(np.uint8)
                workers = [Batch(lambda counter, t=t: batch.run(t.scratch, t.acc, counter, take, status),
                                 lambda t=t: t.acc.num_images) for t in threads]
            else:
                # progress: the images added (the per-image pass reports the others)
                workers = [Loop(lambda i, t=t: fused(t, i), lambda t=t: t.acc.num_images) for t in threads]
            run(n, workers, progress=progress)
            if hashed is not None:
                _take_digests(digests, *hashed)
        rest = np.flatnonzero(status).tolist()  # the per-image path's images, in input order
        if rest:
            run(len(rest), [Loop(lambda j, t=t: image_stats(t, rest[j])) for t in threads[:len(rest)]],
                progress=progress)
    finally:
        if cache is not None:
            cache.close()
    return _panoptic_sums(threads, batch, k, n, per_image, bands, variants is not None)


def _set_paths(batch, fast: np.ndarray, items, gt_dataset, pred_dataset, g_folder, p_folder) -> None:
    """The file names of the images the batch reads (empty for the others)."""
    from ._engine.columns import png_path

    take = fast.tolist()
    batch.set_paths(
        [png_path(gt_dataset, g_folder, it[0]) if t else "" for it, t in zip(items, take)],
        [png_path(pred_dataset, p_folder, it[0]) if t else "" for it, t in zip(items, take)])


def _set_digests(batch, fast: np.ndarray, gt_dataset) -> Optional[tuple]:
    """Have ``batch.run`` hash the GT files of the images it takes (their loaded segment
    columns are the batch's own GT rows; the digest of :func:`segmetrics._folders_panoptic._panoptic_digests`);
    ``(digests (n, 32), hashed (n,))`` arrays it fills, or None (compiled hashing off, or columns not
    loaded from a file, whose arrays the batch does not share)."""
    from .io.coco_panoptic import FlatColumns, digest_columns

    flat = gt_dataset.columns
    if _folder.sha256_source() is None or not isinstance(flat, FlatColumns):
        return None
    n = fast.shape[0]
    out = (np.zeros((n, 32), dtype=np.uint8), np.zeros(n, dtype=np.uint8))
    batch.set_digests(digest_columns(flat), fast.astype(np.uint8), *out)
    return out


def _variant_sums(threads: list, stats: list) -> tuple:
    """The variant counts and matches of the threads' accumulators and of the per-image path."""
    parts = [t.acc.variant_result() for t in threads] + [st.variants for _, st in stats]
    counts = [sum(p[j] for p in parts) for j in range(3)]
    return tuple(counts) + tuple(np.concatenate([p[j] for p in parts]) for j in range(3, 6))


def _panoptic_sums(threads: list, batch, k: int, n: int, per_image: bool, bands: bool,
                   variants: bool = False) -> PanopticSums:
    """The threads' accumulators and per-image statistics as one :class:`PanopticSums`."""
    counts = ("tp", "fp", "fn", "gt_segments") + (("btp", "bfp", "bfn") if bands else ())
    lists = (("match", "match_image", "match_cat", "match_iou"), ("stuff", None, "stuff_cat", "stuff_iou")) + (
        (("bmatch", "bmatch_image", "bmatch_cat", "bmatch_iou"),) if bands else ())
    total = {name: np.zeros(k, dtype=np.int64) for name in counts}
    confusion = np.zeros((k + 1, k + 1), dtype=np.int64)
    parts: dict = {name: ([], [], []) for name, *_ in lists}  # image, category, IoU blocks
    for t in threads:
        r = t.acc.result()
        for name in counts:
            total[name] += r[name]
        confusion += r["confusion"]
        for name, image, cat, iou in lists:
            # stuff pairs carry no image (the state orders them by category and IoU)
            parts[name][0].append(r[image] if image else np.zeros(r[cat].size, dtype=np.int64))
            parts[name][1].append(r[cat])
            parts[name][2].append(r[iou])
    rows = batch.image_counts() if per_image else None
    brows = batch.image_boundary_counts() if per_image and bands else None
    stats = sorted((x for t in threads for x in t.stats), key=lambda e: e[0])
    warnings: list[str] = []
    flat = confusion.reshape(-1)
    for i, st in stats:
        for name in counts:
            total[name] += getattr(st, name)
        np.add.at(flat, st.confusion_index, st.confusion_count)
        for name, image, cat, iou in lists:
            parts[name][0].append(np.full(getattr(st, cat).size, i, dtype=np.int64))
            parts[name][1].append(getattr(st, cat))
            parts[name][2].append(getattr(st, iou))
        warnings.extend(st.warnings)
        if rows is not None:
            rows[0][i] += st.tp
            rows[1][i] += st.fp
            rows[2][i] += st.fn
        if brows is not None:
            brows[0][i] += st.btp
            brows[1][i] += st.bfp
            brows[2][i] += st.bfn
    out = {}
    for name, image, cat, iou in lists:
        images = np.concatenate(parts[name][0])
        order = np.argsort(images, kind="stable")  # by image; an image's matches come from one place
        out[cat] = np.concatenate(parts[name][1])[order]
        out[iou] = np.concatenate(parts[name][2])[order]
        if image:
            out[image] = images[order]
    sums = PanopticSums(total["tp"], total["fp"], total["fn"], confusion, out["match_image"], out["match_cat"],
                        out["match_iou"], n, warnings, *(rows if rows is not None else (None, None, None)),
                        gt_segments=total["gt_segments"], stuff_cat=out["stuff_cat"], stuff_iou=out["stuff_iou"],
                        variants=_variant_sums(threads, stats) if variants else None)
    if bands:
        sums.btp, sums.bfp, sums.bfn = total["btp"], total["bfp"], total["bfn"]
        sums.bmatch_image, sums.bmatch_cat, sums.bmatch_iou = out["bmatch_image"], out["bmatch_cat"], out["bmatch_iou"]
        if brows is not None:
            sums.image_btp, sums.image_bfp, sums.image_bfn = brows
    return sums
