"""The folder-evaluation engine behind :mod:`segmetrics.evaluate`.

Work layout
-----------
``jobs`` worker threads take image indices from a shared counter.  Each owns a
:class:`segmetrics._kernels.folder.Scratch` (decode buffers reused from image to
image) and, for semantic evaluation without per-image records, its own int64
``(K, K)`` matrix; the matrices are summed once at the end.  Per image the
Python side reads the two files (``open().read()`` releases the GIL) and makes
one kernel call that parses, inflates, unfilters and counts without the GIL.
Integer sums make the result identical for every ``jobs`` and every schedule.

Panoptic images are scored the same way: one nogil call decodes, counts,
matches and adds the image's statistics to the thread's accumulator.  When
semantic results must be kept per image, a worker counts each image into a
scratch matrix, adds it to its sum and hands the image's TP / FP / FN vectors
to the calling thread, which keeps them in input order (workers may run at
most ``4 * jobs`` images ahead of it); they join the evaluator with the sums
once every image is scored.

Fallback and errors
-------------------
Whatever the fused kernels do not take (interlaced or low-bit-depth PNGs,
colour label maps, sizes that differ, bad labels, unlisted segment ids, corrupt
files) goes through the *reference* function given by :mod:`segmetrics.evaluate`
(Pillow-compatible decoding and the engines' array APIs), which either scores
the image the slow way or raises the precise error.  The error of the first
failing image in input order is raised, whatever ``jobs`` is; remaining work is
cancelled.

Ground-truth cache
------------------
With ``cache_dir`` set, decoded ground truth is kept in a
:class:`segmetrics.gtcache.GTCache` (see there for keys and safety); a warm
image costs reading the GT file (for its content hash), one small cache file,
and decoding the prediction.
"""
from __future__ import annotations

import itertools
import os
import threading
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ._kernels import folder as _folder
from .errors import InputError, SegmetricsError
from .gtcache import GTCache

__all__ = ["resolve_jobs", "run_indexed", "semantic_files", "panoptic_files", "semantic_code_tables"]

_IGNORED = -1
_BAD = -2
_TABLE = 65536  # every value an 8- or 16-bit PNG sample can hold
_STALE = 2
_NEEDS_PYTHON = 3


def resolve_jobs(jobs: Optional[int], n_items: int, default: Callable[[], int]) -> int:
    """Validated worker count, never more than the number of items."""
    n = default() if jobs is None else jobs
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    return max(1, min(int(n), n_items))


def _read(path) -> bytes | None:
    """The file's bytes, or None when it cannot be read (the reference path names the error)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


# ----------------------------------------------------------------------------- scheduling
def run_indexed(n: int, work: Callable[[Any, int], Any], make_state: Callable[[], Any], jobs: int,
                *, sink: Optional[Callable[[int, Any], None]] = None,
                progress: Optional[Callable[[int], None]] = None) -> list:
    """Run ``work(state, i)`` for ``i`` in ``range(n)`` on ``jobs`` threads.

    Each thread gets its own ``state = make_state()``; the states are returned
    (in thread order) for the caller to reduce.  With ``sink``, ``sink(i, result)``
    is called on the calling thread in index order (at most ``4 * jobs`` results
    wait).  ``progress(1)`` is called on the calling thread once per finished item.  On errors the one of
    the smallest index is raised after every thread has stopped.
    """
    if jobs <= 1 or n <= 1:
        state = make_state()
        for i in range(n):
            r = work(state, i)
            if sink is not None:
                sink(i, r)
            if progress is not None:
                progress(1)
        return [state]

    counter = itertools.count()
    lock = threading.Condition()
    errors: dict[int, BaseException] = {}
    stop_at = [n]                       # no index at or above this one is started
    results: dict[int, Any] = {}
    done = [0] * jobs
    window = threading.Semaphore(4 * jobs) if sink is not None else None
    states = [None] * jobs

    def worker(t: int) -> None:
        state = states[t] = make_state()
        while True:
            if window is not None:
                window.acquire()
            i = next(counter)
            if i >= stop_at[0]:
                if window is not None:
                    window.release()
                break
            try:
                r = work(state, i)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
                with lock:
                    errors[i] = exc
                    stop_at[0] = min(stop_at[0], i)
                    lock.notify_all()
                break
            done[t] += 1
            if sink is not None:
                with lock:
                    results[i] = r
                    lock.notify_all()

    threads = [threading.Thread(target=worker, args=(t,), name=f"segmetrics-{t}", daemon=True)
               for t in range(jobs)]
    for th in threads:
        th.start()
    reported = 0
    try:
        if sink is not None:
            for i in range(n):
                with lock:
                    while i not in results and not any(j <= i for j in errors):
                        lock.wait()
                    if i not in results:
                        break
                    r = results.pop(i)
                window.release()
                sink(i, r)
                if progress is not None:
                    progress(1)
                    reported += 1
        for th in threads:
            while th.is_alive():
                th.join(0.05)
                if progress is not None and sink is None:
                    total = sum(done)
                    for _ in range(total - reported):
                        progress(1)
                    reported = max(reported, total)
    except BaseException:
        stop_at[0] = -1
        if window is not None:
            for _ in range(jobs):
                window.release()
        raise
    finally:
        if window is not None:
            for _ in range(jobs):   # wake threads blocked on a full window
                window.release()
        for th in threads:
            th.join()
    if errors:
        raise errors[min(errors)]
    if progress is not None and sink is None:
        for _ in range(sum(done) - reported):
            progress(1)
    return [s for s in states if s is not None]


def _count_pair(cache: Optional[GTCache], key_parts: Optional[tuple], s: _folder.Scratch,
                cached: Callable, cold: Callable[[bool], int]) -> int:
    """Count one pair: from the cached GT when the cache holds it, else from both files
    (recording the GT runs for the cache).  Returns the kernel status.

    A stale entry (runs that do not tile the image) is detected before anything is
    counted, dropped and recomputed.  The recorded runs are stored when the image
    was counted whole (status 0, or 3: the statistics are left to Python).
    """
    key = None
    if cache is not None and key_parts is not None:
        key = cache.key(*key_parts)
        entry = cache.get(key)
        if entry is not None:
            status = cached(entry)
            if status != _STALE:
                return status
            cache.discard(key)
    status = cold(key is not None)
    if status in (0, _NEEDS_PYTHON) and key is not None:
        cache.put(key, s.record(), s.n_runs, s.width, s.height)
    return status


# ----------------------------------------------------------------------------- semantic
def semantic_code_tables(evaluator) -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's label rules as two 65536-entry int32 code tables.

    ``gt[v]`` is the class of raw ground-truth value ``v``, -1 (ignored) or -2
    (bad); ``pred[v]`` the class of a raw prediction value or -2.  The rules
    are :mod:`segmetrics.labels`' (``evaluator.rules``), the one place they live.
    """
    return evaluator.rules.file_tables()


class _SemanticState:
    """A worker's decode buffers, its summed matrix and (per-image records) the
    matrix of the image being counted."""

    __slots__ = ("scratch", "cm", "image")

    def __init__(self, k: int, per_image: bool):
        self.scratch = _folder.Scratch()
        self.cm = np.zeros((k, k), dtype=np.int64)
        self.image = np.zeros((k, k), dtype=np.int64) if per_image else None


def semantic_files(pairs: Sequence[tuple], evaluator, *, jobs: int, cache_dir=None,
                   progress: Optional[Callable[[int], None]] = None,
                   reference: Callable[[Any, tuple], np.ndarray]):
    """Score ``(image_id, gt_path, pred_path)`` pairs into ``evaluator`` (see
    :func:`segmetrics.evaluate.evaluate_semantic_files`).

    ``reference(evaluator, pair)`` returns the image's confusion matrix the slow
    way or raises the image's error; it handles what the fused kernel does not.
    """
    from .semantic import _record as _semantic_record

    k = evaluator.num_classes
    gcodes, pcodes = semantic_code_tables(evaluator)
    per_image = bool(getattr(evaluator, "per_image", False))
    cache = None
    if cache_dir is not None:
        params = k.to_bytes(4, "little") + gcodes.tobytes()
        cache = GTCache(cache_dir, "semantic", params)

    def count(state: _SemanticState, i: int):
        item = pairs[i]
        _, gt_path, pred_path = item
        s = state.scratch
        cm = state.cm if state.image is None else state.image
        pred = _read(pred_path)
        gt = _read(gt_path)
        if pred is None or gt is None:
            status, counted = 1, False
        else:
            status = _count_pair(
                cache, (gt,), s,
                lambda e: _folder.semantic_cached(s, e.values, e.lengths, e.width, e.height, pred, cm, pcodes),
                lambda record: _folder.semantic_pair(s, gt, pred, cm, gcodes, pcodes, record))
            counted = s.counted
        if status != 0:
            ref = reference(evaluator, item)  # raises the image's error, if any
            if counted:
                raise SegmetricsError(
                    f"image {item[0]!r}: internal error, the fast path stopped ({s.message}) on an "
                    f"image the reference path scores; please report it")
            cm += ref
        if state.image is None:
            return None
        # the image's record, then its matrix into the thread's sum, and the scratch
        # matrix zeroed for the next image
        record = _semantic_record(item[0], cm)
        state.cm += cm
        cm.fill(0)
        return record

    records: list = []
    if per_image:
        evaluator._check_new_ids([p[0] for p in pairs])  # before any work: ids must be new and distinct
    try:
        states = run_indexed(len(pairs), count, lambda: _SemanticState(k, per_image), jobs,
                             sink=(lambda i, r: records.append(r)) if per_image else None, progress=progress)
    finally:
        if cache is not None:
            cache.close()
    total = np.zeros((k, k), dtype=np.int64)
    for st in states:
        total += st.cm
    evaluator.state.confusion += total
    evaluator.state.num_images += len(pairs)
    if per_image:
        evaluator.state.per_image.extend(records)
    return evaluator


# ----------------------------------------------------------------------------- panoptic
def _folder_str(dataset) -> Optional[str]:
    """The dataset's PNG folder as a string, or None when :func:`_png_path` must ask the dataset."""
    folder = getattr(dataset, "folder", None)
    if folder is None:
        return None
    text = str(folder)
    if text in ("", ".") or text.endswith((os.sep, ":")) or (os.altsep and text.endswith(os.altsep)):
        return None  # "." and roots or drives join differently in pathlib
    return text


def _png_path(dataset, folder: Optional[str], image_id) -> str:
    """``str(dataset.png_path(image_id))`` without building a Path when the file name is a plain name."""
    name = dataset.annotations[image_id]["file_name"]
    if folder is None or not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
        return str(dataset.png_path(image_id))
    return folder + os.sep + name


def _panoptic_batch(items: Sequence[tuple], gt_dataset, pred_dataset, evaluator):
    """The segment columns of every image, as a
    :class:`~segmetrics._kernels.folder.PanopticBatch`, and which images the fused
    statistics take.

    An image is taken when both of its segment lists still have the columns made
    at load time and every category is known; the others (a missing prediction,
    lists changed after loading, unknown categories) go through the per-image path,
    which scores them or names the error.  Datasets loaded from files share their
    flat column arrays with the batch; other column mappings are concatenated.
    """
    from .io.coco_panoptic import FlatColumns

    cats = evaluator.categories
    n = len(items)
    image_ids = [item[0] for item in items]
    sides = []
    for dataset, which in ((gt_dataset, 1), (pred_dataset, 2)):
        anns = [item[which] for item in items]
        cols = dataset.columns
        if isinstance(cols, FlatColumns):
            start, end, ok = cols.ranges(image_ids, anns)
            flat = (cols.ids, cols.category_ids, cols.iscrowd, cols.area, cols.order)
        else:
            start, end, ok, flat = _concatenated_columns(cols, image_ids, anns)
        dense = cats.dense_or_minus1(flat[1])
        unknown = np.concatenate([[0], np.cumsum(dense < 0)])
        ok &= unknown[end] == unknown[start]
        sides.append((start, end, ok, flat, dense))
    (g_start, g_end, g_ok, g_flat, g_dense), (p_start, p_end, p_ok, p_flat, p_dense) = sides
    fast = g_ok & p_ok
    for start, end in ((g_start, g_end), (p_start, p_end)):
        start[~fast] = 0
        end[~fast] = 0
    batch = _folder.PanopticBatch(
        len(cats), g_start, g_end, g_flat[0], g_dense, g_flat[2], g_flat[3], g_flat[4].astype(np.int64, copy=False),
        p_start, p_end, p_flat[0], p_dense, bool(evaluator.recompute_gt_areas))
    assert fast.size == n
    return batch, fast


def _concatenated_columns(columns, image_ids: list, anns: list):
    """:meth:`FlatColumns.ranges` and the flat arrays for any ``image_id ->
    SegmentColumns`` mapping (datasets built by hand)."""
    n = len(image_ids)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    parts: list = []
    row = 0
    for i, (image_id, ann) in enumerate(zip(image_ids, anns)):
        c = columns.get(image_id) if ann is not None else None
        if c is None or not c.describes(ann.get("segments_info")):
            continue
        parts.append(c)
        start[i], end[i], ok[i] = row, row + c.ids.size, True
        row += c.ids.size

    def cat(arrays, dtype):
        return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)

    flat = (cat([c.ids for c in parts], np.int64), cat([c.category_ids for c in parts], np.int64),
            cat([c.iscrowd for c in parts], np.uint8), cat([c.area for c in parts], np.float64),
            cat([c.order for c in parts], np.int64))
    return start, end, ok, flat


def _run_batch(batch, fast: np.ndarray, threads: list, items, gt_dataset, pred_dataset, g_folder, p_folder,
               progress: Optional[Callable[[int], None]]) -> np.ndarray:
    """Every image with ``fast`` through :meth:`PanopticBatch.run` on one thread per
    entry of ``threads``; returns the per-image status (0: added to a thread's
    accumulator).  Progress counts the images added."""
    n = len(items)
    gt_paths = [b""] * n
    pred_paths = [b""] * n
    for i in np.flatnonzero(fast).tolist():
        image_id = items[i][0]
        gt_paths[i] = os.fsencode(_png_path(gt_dataset, g_folder, image_id))
        pred_paths[i] = os.fsencode(_png_path(pred_dataset, p_folder, image_id))
    batch.set_paths(gt_paths, pred_paths)
    take = fast.astype(np.uint8)
    status = np.zeros(n, dtype=np.uint8)
    counter = _folder.WorkCounter(n)
    failures: list[BaseException] = []

    def target(t: _PanopticThread) -> None:
        try:
            batch.run(t.scratch, t.acc, counter, take, status)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            failures.append(exc)
            counter.cancel()

    workers = [threading.Thread(target=target, args=(t,), name=f"segmetrics-{j}", daemon=True)
               for j, t in enumerate(threads)]
    reported = 0
    try:
        for w in workers:
            w.start()
        for w in workers:
            while w.is_alive():
                w.join(0.05)
                if progress is not None:
                    done = sum(t.acc.num_images for t in threads)
                    for _ in range(done - reported):
                        progress(1)
                    reported = done
    except BaseException:
        counter.cancel()
        raise
    finally:
        for w in workers:
            w.join()
    if failures:
        raise failures[0]
    if progress is not None:
        for _ in range(sum(t.acc.num_images for t in threads) - reported):
            progress(1)
    return status


class _PanopticThread:
    """What one worker thread owns: decode buffers, the fused sums, and the statistics
    of the images that went the per-image way (with their index)."""

    __slots__ = ("scratch", "acc", "stats")

    def __init__(self, k: int, per_image: bool):
        self.scratch = _folder.Scratch()
        self.acc = _folder.PanopticAccumulator(k, per_image)
        self.stats: list[tuple[int, Any]] = []


def _fused_image_records(acc, match_cat: np.ndarray, match_iou: np.ndarray, k: int,
                         image_ids: list) -> list[tuple[int, dict]]:
    """``(index, per-image dict)`` of every image an accumulator took, given its match
    arrays (see :meth:`segmetrics.panoptic.PanopticState.add` for the dict)."""
    from .panoptic import _fsum_by_category

    images, log = acc.image_records()
    out = []
    log0 = m0 = 0
    for index, log1, m1 in images.tolist():
        counts = np.bincount(log[log0:log1], minlength=3 * k).reshape(k, 3)
        out.append((index, {
            "image_id": image_ids[index], "tp": counts[:, 0].copy(), "fp": counts[:, 1].copy(),
            "fn": counts[:, 2].copy(), "iou_sum": _fsum_by_category(match_cat[m0:m1], match_iou[m0:m1], k),
        }))
        log0, m0 = log1, m1
    return out


def panoptic_files(items: Sequence[tuple], gt_dataset, pred_dataset, evaluator, *, jobs: int,
                   cache_dir=None, progress: Optional[Callable[[int], None]] = None,
                   reference: Callable[[tuple], Any]):
    """Score ``(image_id, gt_annotation, pred_annotation or None)`` items into
    ``evaluator`` (see :func:`segmetrics.evaluate.evaluate_panoptic_files`).

    ``reference(item)`` returns the image's :class:`~segmetrics.panoptic.ImageStats`
    the slow way or raises the image's error.

    The usual image is one nogil call that decodes, counts, matches and adds its
    statistics to the thread's :class:`~segmetrics._kernels.folder.PanopticAccumulator`
    (with ``evaluator.per_image``, also a log of the image's counts); the
    accumulators are summed at the end (integers, and every match IoU for the
    correctly rounded sums of :class:`~segmetrics.panoptic.PanopticState`, so the
    result does not depend on the schedule).  Images that need warnings or errors
    (stale JSON areas, missing predictions, anything the fused kernels do not
    take) get :class:`~segmetrics.panoptic.ImageStats` from the per-image path;
    those and the per-image records are added in input order at the end.
    """
    from .panoptic import _segment_arrays, table_stats

    cats = evaluator.categories
    k = len(cats)
    cache = GTCache(cache_dir, "panoptic") if cache_dir is not None else None
    g_folder, p_folder = _folder_str(gt_dataset), _folder_str(pred_dataset)
    per_image = evaluator.state.per_image is not None
    batch, fast = _panoptic_batch(items, gt_dataset, pred_dataset, evaluator)

    def image_stats(s: _folder.Scratch, i: int):
        """The image's ImageStats the per-image way (table in Python, or the reference)."""
        item = image_id, g_ann, p_ann = items[i]
        if p_ann is None:
            return reference(item)
        where = f"image {image_id!r}"
        g_path, p_path = _png_path(gt_dataset, g_folder, image_id), _png_path(pred_dataset, p_folder, image_id)
        gt_arr = _segment_arrays(g_ann["segments_info"], cats, "ground-truth", where,
                                 gt_dataset.columns.get(image_id))
        p_ids, p_cat = _segment_arrays(p_ann["segments_info"], cats, "prediction", where,
                                       pred_dataset.columns.get(image_id))[:2]
        g_ids = gt_arr[0]
        pred = _read(p_path)
        gt = _read(g_path)
        if pred is None or gt is None:
            return reference(item)  # raises the missing-file error
        table = np.zeros((g_ids.size + 1, p_ids.size + 1), dtype=np.int64)
        status = _count_pair(
            cache, (gt, g_ids.tobytes()) if g_ids.size < 65536 else None, s,
            lambda e: _folder.panoptic_cached(s, e.values, e.lengths, e.width, e.height, pred, table, p_ids),
            lambda record: _folder.panoptic_pair(s, gt, pred, table, g_ids, p_ids, record))
        if status != 0:
            return reference(item)
        return table_stats(table, gt_arr, (p_ids, p_cat), cats, image_id=image_id,
                           recompute_gt_areas=evaluator.recompute_gt_areas, where=where,
                           gt_name=g_path, pred_name=p_path)

    def fused(t: _PanopticThread, i: int) -> bool:
        """Image i into the thread's accumulator; False when the per-image path must take it."""
        image_id = items[i][0]
        pred = _read(_png_path(pred_dataset, p_folder, image_id))
        gt = _read(_png_path(gt_dataset, g_folder, image_id))
        if pred is None or gt is None:
            return False
        s, acc = t.scratch, t.acc
        g_ids = batch.gt_ids(i) if cache is not None else None
        status = _count_pair(
            cache, (gt, g_ids.tobytes()) if g_ids is not None and g_ids.size < 65536 else None, s,
            lambda e: batch.score_cached(s, acc, i, e.values, e.lengths, e.width, e.height, pred),
            lambda record: batch.score_pair(s, acc, i, gt, pred, record))
        return status == 0

    def work(t: _PanopticThread, i: int) -> None:
        if not (fast[i] and fused(t, i)):
            t.stats.append((i, image_stats(t.scratch, i)))

    try:
        if cache is None and fast.any() and _folder.files_supported():
            # no GT cache: the kernel reads the files too, so a thread makes one call in all
            threads = [_PanopticThread(k, per_image) for _ in range(jobs)]
            status = _run_batch(batch, fast, threads, items, gt_dataset, pred_dataset, g_folder, p_folder,
                                progress)
            rest = np.flatnonzero(status).tolist()  # the per-image path's images, in input order

            def work_rest(t: _PanopticThread, j: int) -> None:
                t.stats.append((rest[j], image_stats(t.scratch, rest[j])))

            threads += run_indexed(len(rest), work_rest, lambda: _PanopticThread(k, per_image),
                                   resolve_jobs(jobs, max(1, len(rest)), lambda: jobs), progress=progress)
        else:
            threads = run_indexed(len(items), work, lambda: _PanopticThread(k, per_image), jobs,
                                  progress=progress)
    finally:
        if cache is not None:
            cache.close()
    st = evaluator.state
    later: list[tuple[int, bool, Any]] = []  # per-image path stats and per-image records, by index
    image_ids = [item[0] for item in items] if per_image else []
    for t in threads:
        tp, fp, fn, confusion, match_cat, match_iou = t.acc.result()
        if per_image:
            later += [(i, False, rec) for i, rec in _fused_image_records(t.acc, match_cat, match_iou, k, image_ids)]
        st.tp += tp
        st.fp += fp
        st.fn += fn
        st.confusion += confusion
        if match_cat.size:
            st.match_cat.append(match_cat)
            st.match_iou.append(match_iou)
        st.num_images += t.acc.num_images
    # the per-image path's images (their warnings) and the per-image records, in input order
    later += [(i, True, stats) for t in threads for i, stats in t.stats]
    for _, is_stats, x in sorted(later, key=lambda e: e[0]):
        if is_stats:
            evaluator.add(x)
        else:
            st.per_image.append(x)
    return evaluator
