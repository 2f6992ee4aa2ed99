"""Type stubs for the semantic folder kernels."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .boundary import BandWork
from .folder import Scratch, WorkCounter

def sample_stride(h: int, w: int) -> int: ...
def sample_pair(
    s: Scratch, gt_path: bytes, pred_path: bytes
) -> tuple[npt.NDArray[np.uint8 | np.uint16], npt.NDArray[np.uint8 | np.uint16]] | None: ...
def semantic_pair(
    s: Scratch,
    gt: bytes | memoryview,
    pred: bytes | memoryview,
    cm: npt.NDArray[np.int64],
    gt_codes: npt.NDArray[np.int32],
    pred_codes: npt.NDArray[np.int32],
    record: bool = False,
    tp: npt.NDArray[np.int64] | None = None,
    fp: npt.NDArray[np.int64] | None = None,
    fn: npt.NDArray[np.int64] | None = None,
    band: BandWork | None = None,
    interior: npt.NDArray[np.int64] | None = None,
) -> int: ...
def semantic_cached(
    s: Scratch,
    values: npt.NDArray[np.uint16],
    lengths: npt.NDArray[np.uint16],
    width: int,
    height: int,
    pred: bytes | memoryview | None,
    cm: npt.NDArray[np.int64],
    pred_codes: npt.NDArray[np.int32],
    tp: npt.NDArray[np.int64] | None = None,
    fp: npt.NDArray[np.int64] | None = None,
    fn: npt.NDArray[np.int64] | None = None,
    band: BandWork | None = None,
    interior: npt.NDArray[np.int64] | None = None,
    pred_path: bytes | None = None,
) -> int: ...

class SemanticBatch:
    n: int
    def __init__(
        self, gt_paths: Sequence[str | bytes | os.PathLike[str]], pred_paths: Sequence[str | bytes | os.PathLike[str]]
    ) -> None: ...
    def run(
        self,
        s: Scratch,
        counter: WorkCounter,
        cm: npt.NDArray[np.int64],
        gt_codes: npt.NDArray[np.int32],
        pred_codes: npt.NDArray[np.int32],
        status: npt.NDArray[np.uint8],
        counted: npt.NDArray[np.uint8],
        done: npt.NDArray[np.int64],
        digests: npt.NDArray[np.uint8] | None = None,
        hashed: npt.NDArray[np.uint8] | None = None,
        tp: npt.NDArray[np.int64] | None = None,
        fp: npt.NDArray[np.int64] | None = None,
        fn: npt.NDArray[np.int64] | None = None,
        band: BandWork | None = None,
        interior: npt.NDArray[np.int64] | None = None,
        interior_rows: npt.NDArray[np.int64] | None = None,
    ) -> None: ...
