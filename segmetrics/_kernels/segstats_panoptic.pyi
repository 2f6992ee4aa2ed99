"""Type stubs for the panoptic PNG statistics kernels of ``segmetrics validate``."""
import numpy as np

from .folder import Scratch

def segment_stats(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids uint32 ascending, area int64, bbox int64 (n, 4) [x, y, w, h]) of a panoptic id map."""

def png_segment_stats(s: Scratch, data: bytes) -> tuple[int, dict | None, tuple | None, bool]:
    """(status, header, (ids, area, bbox) or None, alpha_opaque) of a panoptic PNG, decoded and reduced in one pass."""

NO_PIXELS: int
STALE_AREA: int
STALE_BBOX: int
BBOX_XYXY: int

def compare_segments(png_ids: np.ndarray, png_area: np.ndarray, png_bbox: np.ndarray, ids: np.ndarray,
                     area: np.ndarray, bbox: np.ndarray, boxes: bool = ...
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(flags per listed segment, pixel area, pixel bbox, unlisted mask per PNG id, n_unlisted)."""
