"""The boundary band's width rule and its counts: the one owner of both.

The inner band of width ``d`` of a mask ``M`` holds the pixels of ``M`` whose
chessboard distance to a pixel outside ``M`` (the outside of the image included)
is at most ``d`` (boundary-iou-api's ``mask - erode(pad(mask, 1, 0), 3x3,
iterations=d)``).  The kernels (:mod:`segmetrics._kernels.boundary`) count the
*interiors*, the pixels outside their label's band; :func:`band_counts` turns them
into band counts with the totals the confusion matrix (or the pair table) holds.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .._kernels import boundary as _kernel
from ..errors import InputError

__all__ = [
    "DEFAULT_DILATION_RATIO", "CITYSCAPES_DILATION_RATIO", "check_ratio", "check_dilation",
    "dilation_pixels", "width", "params", "band_work", "semantic_interior", "band_counts",
]

#: The paper's dilation ratio for COCO / LVIS (and this package's default).
DEFAULT_DILATION_RATIO = 0.02
#: The paper's dilation ratio for Cityscapes (2048 x 1024 images: d = 11 pixels).
CITYSCAPES_DILATION_RATIO = 0.005


def check_ratio(dilation_ratio: Any) -> float:
    """A dilation ratio as a float, or :class:`InputError` (it must be finite and >= 0)."""
    if isinstance(dilation_ratio, (bool, np.bool_)) or not isinstance(dilation_ratio, numbers.Real):
        raise InputError(f"dilation_ratio must be a number, got {dilation_ratio!r}")
    r = float(dilation_ratio)
    if not (math.isfinite(r) and r >= 0):
        raise InputError(f"dilation_ratio must be a finite number >= 0, got {dilation_ratio!r}")
    return r


def check_dilation(dilation: Any) -> int | None:
    """A band width in pixels (an integer >= 1) or None, or :class:`InputError`."""
    if dilation is None:
        return None
    if isinstance(dilation, (bool, np.bool_)) or not isinstance(dilation, numbers.Integral) or dilation < 1:
        raise InputError(f"dilation must be an integer >= 1 (pixels) or None, got {dilation!r}")
    return int(dilation)


def dilation_pixels(height: int, width: int, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """Band width ``d`` in pixels of an image of ``height x width``.

    Parameters
    ----------
    height, width : int
        Image size in pixels (at least 1 each).
    dilation_ratio : float, default 0.02
        ``r``, a fraction of the image diagonal.

    Returns
    -------
    int

    Notes
    -----
    ``d = max(1, round(r * sqrt(height^2 + width^2)))`` where ``round`` rounds half
    to even, exactly as boundary-iou-api's ``int(round(dilation_ratio * img_diag))``
    in Python 3 (so 640 x 480 with r = 0.02 gives 16, 2048 x 1024 with 0.005 gives 11).
    """
    r = check_ratio(dilation_ratio)
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 1:
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    return int(_kernel.dilation(int(height), int(width), r))


def width(h: int, w: int, ratio: float, dilation: int | None) -> int:
    """``dilation`` when given, else :func:`dilation_pixels` of the image (arguments checked)."""
    return dilation if dilation is not None else int(_kernel.dilation(h, w, ratio))


def params(ratio: float, dilation: int | None = None) -> dict:
    """The band width as a result's ``params`` (``dilation_ratio``, and ``dilation`` in pixels
    when one was given instead): runs with other values are not merged."""
    return {"dilation_ratio": ratio} if dilation is None else {"dilation_ratio": ratio, "dilation": dilation}


def band_work(ratio: float, dilation: int | None = None) -> "_kernel.BandWork":
    """A kernel :class:`~segmetrics._kernels.boundary.BandWork` (one per thread)."""
    return _kernel.BandWork(ratio, dilation or 0)


def semantic_interior(gt2: np.ndarray, pred2: np.ndarray, tables: tuple, d: int, out: np.ndarray) -> None:
    """Add one image's interior counts to ``out`` (``(3, K')``: ``gt_in``, ``pred_in``,
    ``both_in`` of ``bd_semantic_interior``).

    ``gt2`` / ``pred2`` are (H, W) arrays in a kernel dtype (rows contiguous);
    ``tables`` is ``(gt codes, prediction codes, has_ignore, raw ignore)``, the code
    tables of the confusion kernel for these dtypes.  Labels are checked by the
    caller's confusion count (a pixel with a bad label adds nothing here).
    """
    gcodes, pcodes, has_ign, raw_ign = tables
    runs_g = _kernel.encode_codes(gt2, gcodes, has_ign, raw_ign)
    runs_p = _kernel.encode_codes(pred2, pcodes, False, 0)
    _kernel.semantic_interior(runs_g, runs_p, d, out[0], out[1], out[2])


def band_counts(tp, gt_total, pred_total, interior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band counts from totals and interiors: the one rule ``band = total - interior``.

    Parameters
    ----------
    tp, gt_total, pred_total : int arrays ``(..., K)``
        ``|G & P|``, ``|G|``, ``|P|`` per class over the scored pixels: the diagonal,
        row sums and column sums of a confusion matrix (void column included in the
        row sums), or an image's ``tp``, ``tp + fn``, ``tp + fp``.
    interior : int array ``(..., 3, K)``
        ``gt_in``, ``pred_in``, ``both_in`` of the same pixels.

    Returns
    -------
    (intersection, gt_band, pred_band)
        ``|G_d & P_d| = tp - both_in``, ``|G_d| = gt_total - gt_in``,
        ``|P_d| = pred_total - pred_in``: every pixel of ``G & P`` outside the band of
        ``G`` or of ``P`` is interior to one of them.
    """
    inside = np.asarray(interior, dtype=np.int64)
    return (np.asarray(tp, dtype=np.int64) - inside[..., 2, :], np.asarray(gt_total, dtype=np.int64) - inside[..., 0, :],
            np.asarray(pred_total, dtype=np.int64) - inside[..., 1, :])
