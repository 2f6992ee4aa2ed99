"""Type stubs for the compiled boundary kernels (the C-level contracts are in boundary.pxd)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

class Runs:
    """Run-length encoding of one label map (owned C memory)."""

    @property
    def shape(self) -> tuple[int, int]: ...
    def arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32]]: ...

def encode_codes(
    labels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.int32] | npt.NDArray[np.int64],
    codes: npt.NDArray[np.int32],
    has_ignore: bool,
    ignore: int,
) -> Runs: ...
def encode_ids(
    ids_map: npt.NDArray[np.uint8], rgb: bool, width: int, ids: npt.NDArray[np.int64]
) -> tuple[Runs | None, int]: ...
def dilation(height: int, width: int, ratio: float) -> int: ...
def semantic_interior(
    gt: Runs,
    pred: Runs,
    d: int,
    gt_in: npt.NDArray[np.int64],
    pred_in: npt.NDArray[np.int64],
    both_in: npt.NDArray[np.int64],
) -> None: ...
def panoptic_interior(
    gt: Runs, pred: Runs, d: int, ng: int, npr: int, count_mask: bool = ...
) -> tuple[
    npt.NDArray[np.int32],
    npt.NDArray[np.int32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]: ...
def band_image(runs: Runs, d: int) -> npt.NDArray[np.uint8]: ...
class BandWork:
    """Per-thread band state of a fused count (runs built from a row walk, band scratch)."""

    ratio: float
    dilation: int
    last_width: int
    def __init__(self, ratio: float = 0.02, dilation: int = 0) -> None: ...
    def runs(
        self,
    ) -> tuple[
        tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32]],
        tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32]],
    ]: ...
