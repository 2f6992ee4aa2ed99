"""Type stubs for the label-map statistics kernels of ``segmetrics validate``."""
import numpy as np

from .folder import Scratch

def label_histogram(arr: np.ndarray) -> np.ndarray:
    """int64 pixel count of every value (256 bins for uint8, 65536 for uint16)."""

def pair_stats(gt: np.ndarray, pred: np.ndarray, gt_codes: np.ndarray, pred_codes_a: np.ndarray,
               pred_codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(gt_hist, pred_hist, pred_hist_scored, agree_a, agree_b) of a label-map pair."""

def png_label_stats(s: Scratch, gt: bytes, pred: bytes | None, gt_codes: np.ndarray, pred_codes_a: np.ndarray,
                    pred_codes_b: np.ndarray) -> tuple[int, dict | None, dict | None, np.ndarray | None,
                                                       np.ndarray | None, int, int]:
    """(status, gt_header, pred_header, gt_hist, pred_hist_scored, agree_a, agree_b) of label PNGs, in one pass."""
