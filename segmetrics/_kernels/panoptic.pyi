"""Type stubs for the compiled per-image panoptic kernel."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

class PairTable:
    n_gt: int
    n_pred: int
    @property
    def hashed(self) -> bool: ...
    def count_maps(
        self,
        gt: npt.NDArray[np.uint8],
        gt_rgb: bool,
        pred: npt.NDArray[np.uint8],
        pred_rgb: bool,
        n_pixels: int,
        gt_ids: npt.NDArray[np.int64],
        pred_ids: npt.NDArray[np.int64],
    ) -> int: ...
    def pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...

def image_stats(
    t: PairTable,
    k: int,
    g_cat: npt.NDArray[np.int64],
    g_crowd: npt.NDArray[np.uint8],
    g_area: npt.NDArray[np.float64],
    g_order: npt.NDArray[np.int64],
    p_cat: npt.NDArray[np.int64],
    recompute_gt_areas: bool,
    variants: npt.NDArray[np.uint32] | None = None,
    isthing: npt.NDArray[np.uint8] | None = None,
) -> tuple: ...  # 11 items; a 12th (the variant sums) with ``variants``
def segment_columns_all(
    seg_lists: list, max_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8],
           npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]: ...
def segment_columns(
    segs: list, max_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.float64],
           npt.NDArray[np.intp]] | None: ...
