"""Type stubs for the per-file statistics kernels of ``segmetrics validate``."""
import numpy as np

def label_histogram(arr: np.ndarray) -> np.ndarray:
    """int64 pixel count of every value (256 bins for uint8, 65536 for uint16)."""

def pair_stats(gt: np.ndarray, pred: np.ndarray, gt_codes: np.ndarray, pred_codes_a: np.ndarray,
               pred_codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(gt_hist, pred_hist, pred_hist_scored, agree_a, agree_b) of a label-map pair."""

def segment_stats(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids uint32 ascending, area int64, bbox int64 (n, 4) [x, y, w, h]) of a panoptic id map."""

class Scratch:
    """Per-thread inflate buffers of the fused kernels."""
    @property
    def message(self) -> str: ...

def png_segment_stats(s: Scratch, data: bytes) -> tuple[int, dict | None, tuple | None, bool]:
    """(status, header, (ids, area, bbox) or None, alpha_opaque) of a panoptic PNG, decoded and reduced in one pass."""

def png_label_stats(s: Scratch, gt: bytes, pred: bytes | None, gt_codes: np.ndarray, pred_codes_a: np.ndarray,
                    pred_codes_b: np.ndarray) -> tuple[int, dict | None, dict | None, np.ndarray | None,
                                                       np.ndarray | None, int, int]:
    """(status, gt_header, pred_header, gt_hist, pred_hist_scored, agree_a, agree_b) of label PNGs, in one pass."""

NO_PIXELS: int
STALE_AREA: int
STALE_BBOX: int
BBOX_XYXY: int

def compare_segments(png_ids: np.ndarray, png_area: np.ndarray, png_bbox: np.ndarray, ids: np.ndarray,
                     area: np.ndarray, bbox: np.ndarray, boxes: bool = ...
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(flags per listed segment, pixel area, pixel bbox, unlisted mask per PNG id, n_unlisted)."""
