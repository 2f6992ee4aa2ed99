"""Type stubs for the compiled per-image panoptic kernel."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .boundary import BandWork

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
        band: BandWork | None = None,
        width: int = 0,
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
    isthing: npt.NDArray[np.uint8] | None = None,
    band: BandWork | None = None,
    variants: npt.NDArray[np.uint32] | None = None,
) -> dict[str, Any]: ...
def segment_columns_all(
    seg_lists: list, max_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8],
           npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]: ...
def scan_panoptic_json(
    raw: bytes, max_id: int
) -> tuple[list, list, npt.NDArray[np.int64],
           tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8],
                 npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.uint8]],
           tuple[int, int] | None, tuple[int, int] | None] | None: ...
def segment_columns(
    segs: list, max_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.float64],
           npt.NDArray[np.intp]] | None: ...
