"""Type stubs for the fused decode-and-count kernels of the folder pipeline."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

class Scratch:
    width: int
    height: int
    n_runs: int
    bad_gt: int
    bad_pred: int
    counted: bool
    @property
    def message(self) -> str: ...
    def record(self) -> bytes: ...

def semantic_pair(
    s: Scratch,
    gt: bytes | memoryview,
    pred: bytes | memoryview,
    cm: npt.NDArray[np.int64],
    gt_codes: npt.NDArray[np.int32],
    pred_codes: npt.NDArray[np.int32],
    record: bool = False,
) -> int: ...
def semantic_cached(
    s: Scratch,
    values: npt.NDArray[np.uint16],
    lengths: npt.NDArray[np.uint16],
    width: int,
    height: int,
    pred: bytes | memoryview,
    cm: npt.NDArray[np.int64],
    pred_codes: npt.NDArray[np.int32],
) -> int: ...
def panoptic_pair(
    s: Scratch,
    gt: bytes | memoryview,
    pred: bytes | memoryview,
    table: npt.NDArray[np.int64],
    gt_ids: npt.NDArray[np.int64],
    pred_ids: npt.NDArray[np.int64],
    record: bool = False,
) -> int: ...
def panoptic_cached(
    s: Scratch,
    values: npt.NDArray[np.uint16],
    lengths: npt.NDArray[np.uint16],
    width: int,
    height: int,
    pred: bytes | memoryview,
    table: npt.NDArray[np.int64],
    pred_ids: npt.NDArray[np.int64],
) -> int: ...

class PanopticAccumulator:
    k: int
    num_images: int
    per_image: bool
    def __init__(self, k: int, per_image: bool = False) -> None: ...
    def result(
        self,
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
    ]: ...
    def image_records(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...

class PanopticBatch:
    k: int
    recompute_gt_areas: bool
    def __init__(
        self,
        k: int,
        g_start: npt.NDArray[np.int64],
        g_end: npt.NDArray[np.int64],
        g_ids: npt.NDArray[np.int64],
        g_cat: npt.NDArray[np.int64],
        g_crowd: npt.NDArray[np.uint8],
        g_area: npt.NDArray[np.float64],
        g_order: npt.NDArray[np.int64],
        p_start: npt.NDArray[np.int64],
        p_end: npt.NDArray[np.int64],
        p_ids: npt.NDArray[np.int64],
        p_cat: npt.NDArray[np.int64],
        recompute_gt_areas: bool,
    ) -> None: ...
    def gt_ids(self, i: int) -> npt.NDArray[np.int64]: ...
    def set_paths(self, gt_paths: list[bytes], pred_paths: list[bytes]) -> None: ...
    def run(
        self,
        s: Scratch,
        acc: PanopticAccumulator,
        counter: WorkCounter,
        take: npt.NDArray[np.uint8],
        status: npt.NDArray[np.uint8],
    ) -> None: ...
    def score_pair(
        self, s: Scratch, acc: PanopticAccumulator, i: int, gt: bytes, pred: bytes, record: bool = False
    ) -> int: ...
    def score_cached(
        self,
        s: Scratch,
        acc: PanopticAccumulator,
        i: int,
        values: npt.NDArray[np.uint16],
        lengths: npt.NDArray[np.uint16],
        width: int,
        height: int,
        pred: bytes,
    ) -> int: ...

class WorkCounter:
    def __init__(self, n: int) -> None: ...
    def cancel(self) -> None: ...

def files_supported() -> bool: ...
