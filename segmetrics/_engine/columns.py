"""The segment columns of a panoptic folder run, flattened for the fused kernels, and
the PNG paths of its images."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from .._kernels import folder_panoptic as _kernel
from ..io.coco_panoptic import FlatColumns, file_name
from .image import CategoryIndex

__all__ = ["folder_str", "png_path", "panoptic_batch"]


def folder_str(dataset) -> Optional[str]:
    """The dataset's PNG folder as a string, or None when :func:`png_path` must ask the dataset."""
    folder = getattr(dataset, "folder", None)
    if folder is None:
        return None
    text = str(folder)
    if text in ("", ".") or text.endswith((os.sep, ":")) or (os.altsep and text.endswith(os.altsep)):
        return None  # "." and roots or drives join differently in pathlib
    return text


def png_path(dataset, folder: Optional[str], image_id) -> str:
    """``str(dataset.png_path(image_id))`` without building a Path when the file name is a plain name."""
    name = file_name(dataset.annotations, image_id)
    if folder is None or not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
        return str(dataset.png_path(image_id))
    return folder + os.sep + name


def panoptic_batch(items: Sequence[tuple], gt_dataset, pred_dataset, cats: CategoryIndex,
                   recompute_gt_areas: bool, per_image: bool, boundary: bool = False):
    """The segment columns of every image, as a
    :class:`~segmetrics._kernels.folder_panoptic.PanopticBatch`, and which images the
    fused statistics take.

    An image is taken when both of its segment lists still have the columns made
    at load time and every category is known; the others (a missing prediction,
    lists changed after loading, unknown categories) go through the per-image path,
    which scores them or names the error.  Datasets loaded from files share their
    flat column arrays with the batch; other column mappings are concatenated.
    """
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
    batch = _kernel.PanopticBatch(
        len(cats), g_start, g_end, g_flat[0], g_dense, g_flat[2], g_flat[3], g_flat[4].astype(np.int64, copy=False),
        p_start, p_end, p_flat[0], p_dense, bool(recompute_gt_areas), per_image, boundary)
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
