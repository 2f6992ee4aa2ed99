"""Fast decoding of label-map PNGs, identical to ``np.asarray(PIL.Image.open(f))``.

The compiled decoder (:mod:`segmetrics._kernels.png`) handles the files label maps
are made of: non-interlaced 8-bit grayscale, gray+alpha, RGB, RGBA and palette
images, and 16-bit grayscale.  Everything else PNG allows (Adam7 interlacing, 1/2/4-bit
samples, 16-bit colour, unknown critical chunks) goes to Pillow, so the result is
always what Pillow gives.  Corrupt files raise :class:`segmetrics.errors.FormatError`
naming the file.
"""
from __future__ import annotations

import io
import os
from typing import Union

import numpy as np

from ..errors import DataFileError, FormatError, InputError
from .._kernels import png as _png

__all__ = ["decode_png", "read_png", "png_info", "inflate_backend"]

PathOrBytes = Union[str, os.PathLike, bytes, bytearray, memoryview]


def inflate_backend() -> str:
    """Name of the inflate library the compiled decoder uses.

    Returns
    -------
    str
        ``"libdeflate"`` (found through the ``deflate`` package or a system
        ``libdeflate.so.0``) or ``"zlib"`` (the system zlib, always available).
    """
    return _png.inflate_backend()


def png_info(data: bytes | bytearray | memoryview, *, name: str = "<bytes>") -> dict:
    """Parse and CRC-check every chunk of a PNG without decoding its pixels.

    Parameters
    ----------
    data : bytes-like
        The whole file.
    name : str
        How the file is named in error messages.

    Returns
    -------
    dict
        ``width``, ``height``, ``bit_depth``, ``color_type``, ``interlace``, ``fast``
        (False when the file needs the Pillow fallback) and the ``shape`` and ``dtype``
        of the decoded array (None for fallback files: Pillow decides them).

    Raises
    ------
    FormatError
        When the file is not a well-formed PNG (the message names `name` and why).
    """
    status, info, message = _png.read_header(_as_buffer(data))
    if status < 0:
        raise FormatError(f"{name}: corrupt PNG: {message}")
    info["fast"] = status == 0
    if status > 0:
        info["shape"] = info["dtype"] = None
    return info


def decode_png(data: bytes | bytearray | memoryview, *, out: np.ndarray | None = None,
               name: str = "<bytes>") -> np.ndarray:
    """Decode a PNG file held in memory.

    Parameters
    ----------
    data : bytes-like
        The whole file.
    out : numpy.ndarray, optional
        A C-contiguous array of the decoded shape and dtype to decode into (lets a
        thread pool reuse memory); it is returned.  Use :func:`png_info` to learn the
        shape first.
    name : str
        How the file is named in error messages.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape (H, W) for grayscale (L) and palette (P: the palette
        *indices*, not colours), (H, W, 2) for gray+alpha, (H, W, 3) for RGB and
        (H, W, 4) for RGBA; ``uint16`` (H, W) for 16-bit grayscale.  Other layouts are
        whatever ``np.asarray(PIL.Image.open(f))`` gives (Pillow decodes them).

    Raises
    ------
    FormatError
        When the file is corrupt: bad signature, CRC mismatch, truncated chunk,
        invalid or unsupported IHDR values, absurd dimensions, a zlib error, a
        decompressed size that does not match IHDR, or an unknown row filter.
    InputError
        When `out` has the wrong shape, dtype or layout.

    Notes
    -----
    Every chunk's CRC-32 is checked, ancillary chunks are skipped, IDAT chunks must be
    consecutive, the file must end with IEND (bytes after it are ignored) and the
    inflated stream must hold exactly ``H * (1 + ceil(W * channels * depth / 8))``
    bytes.  Rows are unfiltered with the five PNG predictors; Paeth picks among left
    ``a``, up ``b`` and up-left ``c`` the one closest to ``p = a + b - c`` (ties
    resolved in the order a, b, c).  16-bit samples are returned in native byte order.
    The compiled path never holds the GIL.  Images above 2**31 pixels, or whose
    IHDR size could not come from the IDAT bytes (deflate expands at most 1032:1),
    are rejected before any allocation; Pillow's lower decompression-bomb limit is
    not applied to the compiled path.
    """
    buf = _as_buffer(data)
    if out is not None and not isinstance(out, np.ndarray):
        raise InputError(f"{name}: out must be a numpy array, got {type(out).__name__}")
    if out is not None:
        status, info, message = _png.read_header(buf)
        if status < 0:
            raise FormatError(f"{name}: corrupt PNG: {message}")
        if status > 0:
            result = _decode_with_pillow(buf, name)
            _check_out(out, result.shape, result.dtype, name)
            out[...] = result
            return out
        _check_out(out, info["shape"], info["dtype"], name)
    array, message = _png.decode(buf, out)
    if array is not None:
        return array
    if message:
        raise FormatError(f"{name}: corrupt PNG: {message}")
    return _decode_with_pillow(buf, name)


def read_png(path_or_bytes: PathOrBytes, *, out: np.ndarray | None = None) -> np.ndarray:
    """Read a PNG label map from a path (or from bytes) into a numpy array.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes-like
        A file path, or the file's content.
    out : numpy.ndarray, optional
        Array to decode into; see :func:`decode_png`.

    Returns
    -------
    numpy.ndarray
        The same array as ``np.asarray(PIL.Image.open(path))``; see :func:`decode_png`.

    Raises
    ------
    DataFileError
        When the file cannot be read.
    FormatError
        When the file is not a valid PNG (the message names the file).
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return decode_png(path_or_bytes, out=out)
    name = os.fspath(path_or_bytes)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataFileError(f"{name}: cannot read file: {exc.strerror or exc}") from exc
    return decode_png(data, out=out, name=str(name))


def _as_buffer(data) -> memoryview:
    if isinstance(data, (bytes, bytearray)):
        return memoryview(data)
    if isinstance(data, memoryview):
        return data.cast("B") if data.format != "B" or data.ndim != 1 else data
    raise InputError(f"expected the PNG file's bytes, got {type(data).__name__}")


def _check_out(out: np.ndarray, shape: tuple, dtype: np.dtype, name: str) -> None:
    if out.shape != shape or out.dtype != dtype:
        raise InputError(
            f"{name}: out has shape {out.shape} and dtype {out.dtype}; the image needs "
            f"shape {shape} and dtype {dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InputError(f"{name}: out must be a writeable C-contiguous array")


def _decode_with_pillow(buf: memoryview, name: str) -> np.ndarray:
    """Pillow decodes what the compiled path leaves out; its failures become FormatError."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(buf)) as im:
            im.load()
            return np.asarray(im)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise FormatError(f"{name}: corrupt or unsupported PNG (Pillow: {exc})") from exc
