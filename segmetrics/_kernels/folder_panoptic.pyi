"""Type stubs for the panoptic folder kernels."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .boundary import BandWork
from .folder import Scratch, WorkCounter
from .panoptic import PairTable

def panoptic_pair(
    s: Scratch,
    gt: bytes | memoryview,
    pred: bytes | memoryview,
    table: PairTable,
    gt_ids: npt.NDArray[np.int64],
    pred_ids: npt.NDArray[np.int64],
    record: bool = False,
    band: BandWork | None = None,
) -> int: ...
def panoptic_cached(
    s: Scratch,
    values: npt.NDArray[np.uint16],
    lengths: npt.NDArray[np.uint16],
    width: int,
    height: int,
    pred: bytes | memoryview,
    table: PairTable,
    n_gt: int,
    pred_ids: npt.NDArray[np.int64],
    band: BandWork | None = None,
) -> int: ...

class PanopticAccumulator:
    k: int
    num_images: int
    band: BandWork | None
    n_var: int
    def __init__(self, k: int, isthing: npt.ArrayLike | None = None, band: BandWork | None = None) -> None: ...
    def set_variants(self, variants: npt.NDArray[np.uint32], isthing: npt.NDArray[np.uint8]) -> None: ...
    def variant_result(
        self,
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
    ]: ...
    def result(self) -> dict[str, npt.NDArray[Any]]: ...

class PanopticBatch:
    k: int
    recompute_gt_areas: bool
    per_image: bool
    boundary: bool
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
        per_image: bool = False,
        boundary: bool = False,
    ) -> None: ...
    def gt_ids(self, i: int) -> npt.NDArray[np.int64]: ...
    def image_counts(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None: ...
    def image_boundary_counts(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None: ...
    def set_paths(
        self, gt_paths: Sequence[str | bytes | os.PathLike[str]], pred_paths: Sequence[str | bytes | os.PathLike[str]]
    ) -> None: ...
    def set_digests(
        self,
        columns: Sequence[npt.NDArray[np.generic]],
        ok: npt.NDArray[np.uint8],
        out: npt.NDArray[np.uint8],
        done: npt.NDArray[np.uint8],
    ) -> None: ...
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
