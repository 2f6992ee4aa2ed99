"""Type stubs for the compiled per-image panoptic kernel."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

def intersection_table(
    gt: npt.NDArray[np.uint8],
    gt_rgb: bool,
    pred: npt.NDArray[np.uint8],
    pred_rgb: bool,
    n_pixels: int,
    gt_ids: npt.NDArray[np.int64],
    pred_ids: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], int, int]: ...
def match_segments(
    table: npt.NDArray[np.int64],
    gt_area: npt.NDArray[np.float64],
    gt_cat: npt.NDArray[np.int64],
    gt_crowd: npt.NDArray[np.uint8],
    crowd_of_cat: npt.NDArray[np.int64],
    pred_cat: npt.NDArray[np.int64],
    tp: npt.NDArray[np.int64],
    fp: npt.NDArray[np.int64],
    fn: npt.NDArray[np.int64],
    match_cat: npt.NDArray[np.int64],
    match_iou: npt.NDArray[np.float64],
    gt_matched: npt.NDArray[np.uint8],
    pred_matched: npt.NDArray[np.uint8],
) -> int: ...
def segment_columns(
    segs: list, max_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.float64],
           npt.NDArray[np.intp]] | None: ...
