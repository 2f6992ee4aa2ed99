"""Type stubs for the compiled PNG decoder (see segmetrics.io.png for the public API)."""
from typing import Any

import numpy as np

def set_inflate_backend(name: str) -> str:
    """Choose "libdeflate" (default when found) or "zlib"; returns the backend in use."""

def inflate_backend() -> str:
    """Name of the inflate library in use: "libdeflate" or "zlib"."""

def read_header(data: bytes | bytearray | memoryview) -> tuple[int, dict[str, Any] | None, str]:
    """(status, info, message): status 0 decodable here, 1 needs Pillow, -1 corrupt."""

def decode(data: bytes | bytearray | memoryview,
           out: np.ndarray | None = ...) -> tuple[np.ndarray | None, str]:
    """(array, "") on success, (None, "") for the Pillow fallback, (None, reason) if corrupt."""

def _find_libdeflate() -> tuple[list[int], str] | None:
    """Addresses of the libdeflate functions and the library they came from, or None."""
