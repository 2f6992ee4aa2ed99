"""Reading one PNG for the checks: bytes, header, decode into a reused buffer.

Each worker thread keeps its decode buffers (:class:`Buffers`), so decoding an image
does not map fresh pages (a fresh 1 MB array costs about as much as the decode).
Problems come back as values, never as exceptions, so one bad file does not stop
the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import SegmetricsError

__all__ = ["Buffers", "PngFile", "read_bytes", "open_png", "decode"]


class Buffers:
    """Per-thread decode buffers, one per (shape, dtype) (the last few are kept), and the
    thread's :class:`segmetrics._kernels.folder.Scratch` (the folder kernels' decode buffers)
    for the fused statistics kernels."""

    __slots__ = ("arrays", "scratch")

    def __init__(self) -> None:
        from .._kernels.folder import Scratch

        self.arrays: dict = {}
        self.scratch = Scratch()

    def get(self, shape: tuple, dtype, slot: int = 0) -> np.ndarray:
        """A buffer of this shape and dtype; arrays of different ``slot`` never share memory."""
        key = (slot, shape, np.dtype(dtype))
        arr = self.arrays.get(key)
        if arr is None:
            if len(self.arrays) >= 4:
                self.arrays.clear()
            arr = self.arrays[key] = np.empty(shape, dtype=dtype)
        return arr


class PngFile:
    """A PNG's bytes and header facts, or why they cannot be had.

    ``problem`` is None or ``(kind, text)`` with kind ``"missing"`` (no such file),
    ``"corrupt"`` (unreadable, not a PNG, bad chunk ...).
    """

    __slots__ = ("path", "data", "width", "height", "color_type", "bit_depth", "info", "problem")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: Optional[bytes] = None
        self.width = self.height = 0
        self.color_type = -1
        self.bit_depth = 0
        self.info: Optional[dict] = None
        self.problem: Optional[tuple] = None

    @property
    def size(self) -> tuple:
        return (self.width, self.height)

    @classmethod
    def from_header(cls, path: Path, header: dict) -> "PngFile":
        """A file already decoded by a fused kernel, described by its header."""
        f = cls(path)
        f.width, f.height = header["width"], header["height"]
        f.color_type, f.bit_depth = header["color_type"], header["bit_depth"]
        return f

    @classmethod
    def failed(cls, path: Path, problem: tuple) -> "PngFile":
        """A file that could not be read."""
        f = cls(path)
        f.problem = problem
        return f


def read_bytes(path: Path) -> tuple[Optional[bytes], Optional[tuple]]:
    """``(content, None)`` or ``(None, problem)`` with problem ``("missing" | "corrupt", text)``."""
    try:
        with open(path, "rb") as fh:
            return fh.read(), None
    except FileNotFoundError:
        return None, ("missing", f"{path}: file not found")
    except OSError as exc:
        return None, ("corrupt", f"{path}: cannot read file: {exc.strerror or exc}")


def open_png(path: Path, data: Optional[bytes] = None) -> PngFile:
    """Read a file (unless ``data`` holds it) and parse its PNG header (every chunk's CRC is checked)."""
    from ..io.png import png_info

    f = PngFile(path)
    if data is None:
        data, f.problem = read_bytes(path)
        if data is None:
            return f
    try:
        info = png_info(data, name=str(path))
    except SegmetricsError as exc:
        f.problem = ("corrupt", str(exc))
        return f
    f.data, f.info = data, info
    f.width, f.height = int(info["width"]), int(info["height"])
    f.color_type, f.bit_depth = int(info["color_type"]), int(info["bit_depth"])
    return f


def decode(f: PngFile, buffers: Optional[Buffers], slot: int = 0) -> Optional[np.ndarray]:
    """Decode an opened file (into the reused buffer ``slot`` when the compiled decoder takes it).

    Returns the array as ``np.asarray(PIL.Image.open(f))`` gives it, or None with
    ``f.problem`` set.  The array may be a shared buffer: use it before the next call
    with the same slot.
    """
    from ..io.png import decode_png

    try:
        if buffers is not None and f.info.get("fast") and f.info.get("shape") is not None:
            out = buffers.get(tuple(f.info["shape"]), f.info["dtype"], slot)
            return decode_png(f.data, out=out, name=str(f.path))
        return decode_png(f.data, name=str(f.path))
    except SegmetricsError as exc:
        f.problem = ("corrupt", str(exc))
        return None
    finally:
        f.data = None
