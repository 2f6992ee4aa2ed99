"""Type stubs for the compiled PNG decoder (see segmetrics.io.png for the public API)."""
from typing import Any

import numpy as np

DEFAULT_MAX_PIXELS: int

def set_inflate_backend(name: str) -> str:
    """Choose "libdeflate" (default when found) or "zlib"; returns the backend in use."""

def inflate_backend() -> str:
    """Name of the inflate library in use: "libdeflate" or "zlib"."""

def set_max_pixels(n: int) -> int:
    """Set the process-wide pixel limit (1 to 2^31); returns the previous one."""

def get_max_pixels() -> int:
    """The process-wide pixel limit."""

def read_header(data: bytes | bytearray | memoryview,
                max_pixels: int | None = ...) -> tuple[int, dict[str, Any] | None, str]:
    """(status, info, message): 0 decodable here, 1 needs Pillow, -1 corrupt, -2 above the pixel limit."""

def decode(data: bytes | bytearray | memoryview, out: np.ndarray | None = ...,
           max_pixels: int | None = ...) -> tuple[int, np.ndarray | None, dict[str, Any] | None, str]:
    """(status, array, info, message): status as read_header's, or -3 when `out` does not fit."""

def _find_libdeflate() -> tuple[list[int], str] | None:
    """Addresses of the libdeflate functions and the library they came from, or None."""
