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
