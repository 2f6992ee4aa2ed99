"""Folder evaluation on a thread pool.

:func:`evaluate_semantic_files` and :func:`evaluate_panoptic_files` run on the
engine of :mod:`segmetrics._pipeline`: one GIL-free kernel call per image pair
reads, inflates, unfilters and counts both PNG files row by row, on ``jobs``
threads, with per-thread integer sums, so the result does not depend on ``jobs``
or on scheduling.  Files the fused kernels do not take go through the reference
functions of this module (Pillow-compatible decoding and the engines' array
APIs), which also raise the errors.  ``cache_dir`` turns on the ground-truth
cache of :mod:`segmetrics.gtcache`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from . import _pipeline
from ._engine.image import _fsum_by_category
from .errors import FormatError, InputError

__all__ = [
    "default_jobs",
    "read_label_map",
    "evaluate_semantic_files",
    "count_gt_pixels",
    "evaluate_panoptic_files",
]

Pair = tuple  # (image_id, gt_path, pred_path)


def default_jobs() -> int:
    """Default worker count: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def read_label_map(path) -> np.ndarray:
    """Read a single-channel label PNG as a 2-D integer array.

    Palette (``P``) images give their indices, 8-bit greyscale gives uint8 and
    16-bit greyscale gives uint16/int32.

    Raises
    ------
    DataFileError
        The file is missing or cannot be read.
    FormatError
        The file is not a valid PNG, or the image has colour channels (an RGB
        visualisation instead of labels).
    """
    from .io.png import read_png

    path = Path(path)
    arr = read_png(path)
    if arr.ndim == 3:
        raise FormatError(
            f"{path}: a label map must be single-channel (8/16-bit grey or palette), got "
            f"{arr.shape[2]} channels of size {arr.shape[1]}x{arr.shape[0]} (a colour visualisation?)"
        )
    if arr.ndim != 2:
        raise FormatError(f"{path}: a label map must be 2-D, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return arr


def _image_confusion(evaluator, gt: np.ndarray, pred: np.ndarray, *, pred_map) -> np.ndarray:
    """One image's confusion matrix under the evaluator's classes, ignore index and GT map."""
    from .semantic import confusion_matrix

    return confusion_matrix(
        gt,
        pred,
        num_classes=evaluator.num_classes,
        ignore_index=evaluator.ignore_index,
        gt_map=evaluator.gt_map,
        pred_map=pred_map,
    )


def evaluate_semantic_files(
    pairs: Sequence[Pair],
    evaluator,
    *,
    jobs: Optional[int] = None,
    cache_dir=None,
    progress: Optional[Callable[[int], None]] = None,
):
    """Score ``(image_id, gt_path, pred_path)`` pairs into ``evaluator``.

    Parameters
    ----------
    pairs : sequence of (str, path, path)
        One entry per image.
    evaluator : SemanticEvaluator
        Updated in place: the summed confusion matrix (and, when it keeps
        per-image records, each image's TP / FP / FN in input order) is added
        to its state once at the end; its ``num_classes``, ``ignore_index``, ``gt_map`` and
        ``pred_map`` define how labels are read.
    jobs : int, optional
        Worker threads (default: usable CPUs, at most 8).
    cache_dir : path-like, optional
        Folder of the ground-truth cache (:mod:`segmetrics.gtcache`): decoded GT
        labels are stored there on the first run and read back on later runs
        against the same GT files and settings.  None (default): no cache.
    progress : callable, optional
        Called with ``1`` after each image.

    Returns
    -------
    SemanticEvaluator
        ``evaluator`` itself.

    Notes
    -----
    Counts are integer sums (one matrix per worker thread; per-image records
    are kept in input order), so the result is identical for every ``jobs``,
    with or without the cache.  Pixels
    follow :func:`segmetrics.semantic.confusion_matrix`'s rules: a ground truth
    equal to ``ignore_index`` (after ``gt_map``) counts nowhere; any other label
    outside ``[0, K)`` is a :class:`~segmetrics.errors.LabelError` naming the image,
    the files, the values and their pixel counts.  A GT/prediction size mismatch
    is an :class:`~segmetrics.errors.InputError` naming both files and both
    shapes.  On any error the evaluator is left unchanged.
    """
    pairs = list(pairs)
    for image_id, _, pred_path in pairs:
        if pred_path is None:
            raise InputError(
                f"image {image_id!r} has no prediction; score missing predictions with "
                "count_gt_pixels (all-void) instead"
            )

    # the engine returns sums; they join the evaluator once every image is scored
    per_image = evaluator.state.per_image is not None
    if per_image:
        evaluator._check_new_ids([p[0] for p in pairs])  # before any work: ids must be new and distinct
    gt_codes, pred_codes = _pipeline.semantic_code_tables(evaluator)
    sums = _pipeline.semantic_files(
        pairs, num_classes=evaluator.num_classes, gt_codes=gt_codes, pred_codes=pred_codes,
        reference=lambda item: _semantic_reference(evaluator, item),
        jobs=_pipeline.resolve_jobs(jobs, len(pairs), default_jobs), cache_dir=cache_dir, progress=progress,
        per_image=per_image)
    evaluator.state.confusion += sums.confusion
    evaluator.state.num_images += sums.num_images
    if per_image:
        evaluator.state.per_image.extend(
            {"image_id": p[0], "tp": tp, "fp": fp, "fn": fn}
            for p, tp, fp, fn in zip(pairs, sums.image_tp, sums.image_fp, sums.image_fn))
    return evaluator


def _semantic_reference(evaluator, item: Pair) -> np.ndarray:
    """One image's confusion matrix the slow way (any PNG Pillow reads); raises its error."""
    image_id, gt_path, pred_path = item
    gt = read_label_map(gt_path)
    pred = read_label_map(pred_path)
    if gt.shape != pred.shape:
        raise InputError(
            f"image {image_id!r}: prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} "
            f"but ground truth {gt_path} is {gt.shape[1]}x{gt.shape[0]} (width x height)"
        )
    try:
        return _image_confusion(evaluator, gt, pred, pred_map=evaluator.pred_map)
    except InputError as exc:
        if str(image_id) in str(exc):
            raise
        raise type(exc)(f"image {image_id!r} ({gt_path} / {pred_path}): {exc}") from None


def count_gt_pixels(
    pairs: Sequence[Pair],
    evaluator,
    *,
    jobs: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> list[tuple[str, np.ndarray]]:
    """Per-class GT pixel counts of images scored without prediction (``--allow-missing``).

    The GT goes through the evaluator's map and ignore rule exactly as in a
    normal evaluation.  Returns ``[(image_id, counts)]`` with ``counts`` an int64
    vector of length ``num_classes``, in input order.

    Notes
    -----
    These pixels are false negatives of their class and false positives of no
    class: the CLI adds them as a "void" prediction column to the confusion
    matrix (see :func:`segmetrics.report.semantic_metrics_from_confusion`).
    """
    pairs = list(pairs)

    def work(item):
        image_id, gt_path, _ = item
        gt = read_label_map(gt_path)
        cm = _image_confusion(evaluator, gt, gt, pred_map=evaluator.gt_map)
        return np.diag(cm).astype(np.int64)

    out: list = []
    _pipeline.run_indexed(
        len(pairs), lambda _, i: work(pairs[i]), lambda: None,
        _pipeline.resolve_jobs(jobs, len(pairs), default_jobs),
        sink=lambda i, counts: out.append((pairs[i][0], counts)), progress=progress)
    return out


def evaluate_panoptic_files(
    gt_dataset,
    pred_dataset,
    evaluator,
    *,
    jobs: Optional[int] = None,
    cache_dir=None,
    progress: Optional[Callable[[int], None]] = None,
    allow_missing: bool = False,
):
    """Score a COCO-panoptic prediction set into ``evaluator``.

    Parameters
    ----------
    gt_dataset, pred_dataset : PanopticDataset
        As loaded by :func:`segmetrics.io.coco_panoptic.load_panoptic_json`
        (with their PNG folders).
    evaluator : PanopticEvaluator
        Updated in place once every image is scored (statistics summed on the
        worker threads, per-image records in GT order); a run that raises
        leaves it unchanged.
    jobs : int, optional
        Worker threads (default: usable CPUs, at most 8).
    cache_dir : path-like, optional
        Folder of the ground-truth cache (:mod:`segmetrics.gtcache`): decoded GT
        labels are stored there on the first run and read back on later runs
        against the same GT files and settings.  None (default): no cache.
    progress : callable, optional
        Called with ``1`` after each image.
    allow_missing : bool
        Score GT images without prediction instead of raising
        :class:`~segmetrics.errors.MissingPredictionError`.

    Returns
    -------
    PanopticEvaluator
        ``evaluator`` itself.

    Notes
    -----
    A missing prediction is scored as an all-void prediction with no segment:
    every GT segment of the image is a false negative, nothing is a false
    positive.  Predictions for images not in the GT are ignored with a
    warning (kept in the result's ``warnings``).
    """
    from .io.coco_panoptic import read_id_png
    from .panoptic import pair_annotations

    if allow_missing:
        gt_ann, pred_ann = gt_dataset.annotations, pred_dataset.annotations
        pairs = [(i, a, pred_ann.get(i)) for i, a in gt_ann.items()]
        notes = []
        missing = [i for i, _, p in pairs if p is None]
        if missing:
            notes.append(f"{len(missing)} ground-truth images have no prediction; all their segments are "
                         f"false negatives: image ids {', '.join(map(repr, missing[:5]))}"
                         f"{' ...' if len(missing) > 5 else ''}")
        extra = [i for i in pred_ann if i not in gt_ann]
        if extra:
            notes.append(f"{len(extra)} predictions are for images not in the ground truth and were ignored: "
                         f"image ids {', '.join(map(repr, extra[:5]))}{' ...' if len(extra) > 5 else ''}")
    else:
        pairs, notes = pair_annotations(gt_dataset, pred_dataset)
    n_warnings = len(evaluator.state.warnings)
    evaluator.state.warnings.extend(notes)

    def reference(item):
        image_id, g_ann, p_ann = item
        g_path = gt_dataset.png_path(image_id)
        g_rgb = read_id_png(g_path)
        if p_ann is None:
            p_ids, p_segs, p_name = np.zeros(g_rgb.shape[:2], dtype=np.uint32), [], "<missing prediction>"
        else:
            p_path = pred_dataset.png_path(image_id)
            p_ids, p_segs, p_name = read_id_png(p_path), p_ann["segments_info"], str(p_path)
        return evaluator.evaluate_image(g_rgb, g_ann["segments_info"], p_ids, p_segs,
                                        image_id=image_id, gt_name=str(g_path), pred_name=p_name)

    st = evaluator.state
    try:
        sums = _pipeline.panoptic_files(
            pairs, gt_dataset, pred_dataset, evaluator.categories,
            recompute_gt_areas=evaluator.recompute_gt_areas,
            jobs=_pipeline.resolve_jobs(jobs, len(pairs), default_jobs), cache_dir=cache_dir,
            progress=progress, per_image=st.per_image is not None, reference=reference)
    except BaseException:
        del st.warnings[n_warnings:]  # a failed run leaves the evaluator as it was
        raise
    # the engine returns sums; they join the evaluator once every image is scored
    st.tp += sums.tp
    st.fp += sums.fp
    st.fn += sums.fn
    st.confusion += sums.confusion
    if sums.match_cat.size:
        st.match_cat.append(sums.match_cat)
        st.match_iou.append(sums.match_iou)
    st.num_images += sums.num_images
    st.warnings.extend(sums.warnings)
    if st.per_image is not None:
        k = sums.tp.size
        bounds = np.searchsorted(sums.match_image, np.arange(len(pairs) + 1))
        for i, (image_id, _, _) in enumerate(pairs):
            a, b = bounds[i], bounds[i + 1]
            st.per_image.append({
                "image_id": image_id, "tp": sums.image_tp[i], "fp": sums.image_fp[i], "fn": sums.image_fn[i],
                "iou_sum": _fsum_by_category(sums.match_cat[a:b], sums.match_iou[a:b], k),
            })
    return evaluator
