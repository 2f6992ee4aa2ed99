"""Fast decoding of label-map PNGs: ``np.asarray(PIL.Image.open(f))``, with label values.

The compiled decoder (:mod:`segmetrics._kernels.png`) handles the files label maps
are made of: non-interlaced 8-bit grayscale, gray+alpha, RGB, RGBA and palette
images, 16-bit grayscale, and 1-, 2- and 4-bit grayscale and palette images.
Everything else PNG allows (Adam7 interlacing, 16-bit colour, unknown critical
chunks) goes to Pillow.  Corrupt files raise :class:`segmetrics.errors.FormatError`
naming the file.

Notes
-----
Label values, not intensities.  Pillow scales 2- and 4-bit greyscale samples to
0-255 (``v * 85``, ``v * 17``) and returns 1-bit greyscale as booleans; here every
sub-byte sample (grey or palette index) is returned as the stored value, ``uint8``.
That is the only place where the result differs from Pillow's.

Pixel limit.  One limit covers every decode path (the compiled decoder, the folder
kernels, the Pillow fallback and the panoptic reader): an image whose IHDR declares
more than :func:`get_max_pixels` pixels (default :data:`DEFAULT_MAX_PIXELS`,
2**27 = 134,217,728, e.g. 11585 x 11585) is refused with an
:class:`~segmetrics.errors.InputError` that names the file, its declared size and
the limit, before any pixel memory is allocated.  Raise it for the whole process
with :func:`set_max_pixels` (the CLI's ``--max-pixels``) or for one call with the
``max_pixels`` argument; it cannot exceed 2**31, the decoder's hard cap.  Pillow's
own decompression-bomb check is not used: this limit replaces it.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from typing import NamedTuple, Optional, Union

import numpy as np

from ..errors import DataFileError, FormatError, InputError
from .._kernels import png as _png

__all__ = [
    "decode_png",
    "read_png",
    "png_info",
    "png_size",
    "check_same_size",
    "inflate_backend",
    "set_max_pixels",
    "get_max_pixels",
    "DEFAULT_MAX_PIXELS",
    "PngFile",
    "read_png_file",
]

PathOrBytes = Union[str, os.PathLike, bytes, bytearray, memoryview]

#: The default pixel limit of every decode path (2**27 pixels).
DEFAULT_MAX_PIXELS: int = _png.DEFAULT_MAX_PIXELS

SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Other formats by their first bytes, for "is a JPEG, not a PNG" (a file renamed to .png).
_MAGIC = (
    (b"\xff\xd8\xff", "a JPEG"),
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"BM", "a BMP"),
    (b"II*\x00", "a TIFF"),
    (b"MM\x00*", "a TIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"qoif", "a QOI image"),
)

# Pillow's mode name for each (colour type, bit depth), for messages.
_MODES = {(0, 1): "1", (0, 2): "L;2", (0, 4): "L;4", (0, 8): "L", (0, 16): "I;16",
          (2, 8): "RGB", (2, 16): "RGB;16", (3, 1): "P;1", (3, 2): "P;2", (3, 4): "P;4",
          (3, 8): "P", (4, 8): "LA", (4, 16): "LA;16", (6, 8): "RGBA", (6, 16): "RGBA;16"}


def inflate_backend() -> str:
    """Name of the inflate library the compiled decoder uses.

    Returns
    -------
    str
        ``"libdeflate"`` (found through the ``deflate`` package or a system
        ``libdeflate.so.0``) or ``"zlib"`` (the system zlib, always available).
    """
    return _png.inflate_backend()


def set_max_pixels(n: int) -> int:
    """Set the pixel limit of every decode path in this process.

    Parameters
    ----------
    n : int
        The most pixels (width x height) an image may declare, from 1 to 2**31.

    Returns
    -------
    int
        The previous limit (to restore it).

    Raises
    ------
    InputError
        `n` is not an integer in ``[1, 2**31]``.

    Notes
    -----
    The limit is process-wide: the folder kernels read it too.  See the module
    Notes for what it guards and the default.
    """
    return _png.set_max_pixels(_checked_limit(n))


def get_max_pixels() -> int:
    """The pixel limit of every decode path in this process (see :func:`set_max_pixels`)."""
    return _png.get_max_pixels()


def _limit_message(name: str, width: int, height: int, limit: int) -> str:
    """The one wording of the pixel-limit error (every decode path uses it)."""
    return (f"{name}: the image is {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{limit:,} pixels; raise it with --max-pixels N (CLI), max_pixels=N or "
            f"segmetrics.io.png.set_max_pixels(N) if the file is meant to be this large")


def _not_png(head: bytes, name: str) -> Optional[str]:
    """Why the bytes starting with ``head`` are not a PNG file, or None when they start like one."""
    if head.startswith(SIGNATURE):
        return None
    if not head:
        return f"{name}: is empty (0 bytes; a PNG starts with an 8-byte signature)"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"{name}: is {what}, not a PNG (only PNG label maps are read)"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return f"{name}: is a WebP, not a PNG (only PNG label maps are read)"
    return None  # the decoder reports the bad signature


def _file_error(name: str, exc: OSError, what_missing: str = "file not found") -> DataFileError:
    """The worded error of a file that cannot be opened (missing, a broken symbolic link,
    a folder, no permission)."""
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(name):
            return DataFileError(f"{name}: is a broken symbolic link (to {os.readlink(name)})")
        return DataFileError(f"{name}: {what_missing}")
    if isinstance(exc, IsADirectoryError):
        return DataFileError(f"{name}: is a folder, not a PNG file")
    return DataFileError(f"{name}: cannot read file: {exc.strerror or exc}")


def _read_file(path, what_missing: str = "file not found") -> tuple[bytes, str]:
    """The bytes of a file and its name for messages (:func:`_file_error` otherwise)."""
    name = os.fsdecode(os.fspath(path))
    try:
        with open(name, "rb") as fh:
            return fh.read(), name
    except OSError as exc:
        raise _file_error(name, exc, what_missing) from exc


def png_info(data: bytes | bytearray | memoryview, *, name: str = "<bytes>",
             max_pixels: int | None = None) -> dict:
    """Parse and CRC-check every chunk of a PNG without decoding its pixels.

    Parameters
    ----------
    data : bytes-like
        The whole file.
    name : str
        How the file is named in error messages.
    max_pixels : int, optional
        Pixel limit for this call (default: :func:`get_max_pixels`).

    Returns
    -------
    dict
        ``width``, ``height``, ``bit_depth``, ``color_type``, ``interlace``, ``fast``
        (False when the file needs the Pillow fallback) and the ``shape`` and ``dtype``
        of the decoded array (None for fallback files: Pillow decides them).

    Raises
    ------
    FormatError
        When the file is not a well-formed PNG (the message names `name` and why,
        e.g. "is a JPEG, not a PNG").
    InputError
        When the image has more pixels than the limit.
    """
    buf = _as_buffer(data)
    status, info, message = _png.read_header(buf, _checked_limit(max_pixels))
    _raise_for_status(status, info, message, buf, name, max_pixels)
    info["fast"] = status == 0
    if status > 0:
        info["shape"] = info["dtype"] = None
    return info


def _checked_limit(max_pixels):
    """``max_pixels`` as an int in ``[1, 2**31]`` (None stays None: the process-wide limit)."""
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) \
            or not 1 <= max_pixels <= 1 << 31:
        raise InputError(f"max_pixels must be an integer from 1 to 2^31, got {max_pixels!r}")
    return int(max_pixels)


def _raise_for_status(status: int, info, message: str, buf, name: str, max_pixels) -> None:
    """The error of a parse status below 0 (corrupt, not a PNG, above the pixel limit)."""
    if status == -1:
        why = _not_png(bytes(buf[:16]), name)
        raise FormatError(why or f"{name}: corrupt PNG: {message}")
    if status == -2:
        limit = get_max_pixels() if max_pixels is None else int(max_pixels)
        raise InputError(_limit_message(name, info["width"], info["height"], limit))


def decode_png(data: bytes | bytearray | memoryview, *, out: np.ndarray | None = None,
               name: str = "<bytes>", max_pixels: int | None = None) -> np.ndarray:
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
    max_pixels : int, optional
        Pixel limit for this call (default: :func:`get_max_pixels`; see the module Notes).

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape (H, W) for grayscale (L) and palette (P: the palette
        *indices*, not colours), (H, W, 2) for gray+alpha, (H, W, 3) for RGB and
        (H, W, 4) for RGBA; ``uint16`` (H, W) for 16-bit grayscale; ``uint8`` (H, W)
        of the stored values for 1-, 2- and 4-bit grayscale and palette images.
        Other layouts are whatever ``np.asarray(PIL.Image.open(f))`` gives (Pillow
        decodes them).

    Raises
    ------
    FormatError
        When the file is not a PNG (an empty file, a JPEG, GIF, BMP, TIFF or WebP
        are named as such) or is corrupt: bad signature, CRC mismatch, truncated chunk,
        invalid or unsupported IHDR values, absurd dimensions, a zlib error, a
        decompressed size that does not match IHDR, or an unknown row filter.
    InputError
        When the image has more pixels than the limit, or `out` has the wrong shape,
        dtype or layout.

    Notes
    -----
    Every chunk's CRC-32 is checked, ancillary chunks are skipped, IDAT chunks must be
    consecutive, the file must end with IEND (bytes after it are ignored) and the
    inflated stream must hold exactly ``H * (1 + ceil(W * channels * depth / 8))``
    bytes.  Rows are unfiltered with the five PNG predictors; Paeth picks among left
    ``a``, up ``b`` and up-left ``c`` the one closest to ``p = a + b - c`` (ties
    resolved in the order a, b, c); sub-byte samples filter with a one-byte stride and
    are unpacked most significant bits first.  16-bit samples are returned in native
    byte order.  The compiled path never holds the GIL.  Images above the pixel limit,
    or whose IHDR size could not come from the IDAT bytes (deflate expands at most
    1032:1), are rejected before any allocation.
    """
    buf = _as_buffer(data)
    limit = _checked_limit(max_pixels)
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise InputError(f"{name}: out must be a numpy array, got {type(out).__name__}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise InputError(f"{name}: out must be a writeable C-contiguous array")
    status, array, info, message = _png.decode(buf, out, limit)
    if status == 0:
        return array
    _raise_for_status(status, info, message, buf, name, max_pixels)
    if status == -3:
        _check_out(out, info["shape"], info["dtype"], name)
    result = _decode_with_pillow(buf, name, info)
    if out is not None:
        _check_out(out, result.shape, result.dtype, name)
        out[...] = result
        return out
    return result


def read_png(path_or_bytes: PathOrBytes, *, out: np.ndarray | None = None,
             max_pixels: int | None = None) -> np.ndarray:
    """Read a PNG label map from a path (or from bytes) into a numpy array.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes-like
        A file path, or the file's content.
    out : numpy.ndarray, optional
        Array to decode into; see :func:`decode_png`.
    max_pixels : int, optional
        Pixel limit for this call (default: :func:`get_max_pixels`).

    Returns
    -------
    numpy.ndarray
        See :func:`decode_png`.

    Raises
    ------
    DataFileError
        When the file cannot be read: missing, a broken symbolic link (named as
        such), a folder, no permission.
    FormatError
        When the file is not a valid PNG (the message names the file).
    InputError
        When the image has more pixels than the limit.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return decode_png(path_or_bytes, out=out, max_pixels=max_pixels)
    data, name = _read_file(path_or_bytes)
    return decode_png(data, out=out, name=name, max_pixels=max_pixels)


class PngFile(NamedTuple):
    """The bytes of a PNG file and its checked header (see :func:`read_png_file`)."""

    data: bytes
    name: str
    info: dict


def read_png_file(path, *, max_pixels: int | None = None, what_missing: str = "file not found") -> PngFile:
    """Read a PNG file and check every chunk (not its pixels): the first half of :func:`read_png`.

    For readers that must look at the header (colour type, bit depth) before
    decoding, e.g. the panoptic reader.  ``what_missing`` words the error of a
    missing file.  Errors as :func:`read_png`'s.
    """
    data, name = _read_file(path, what_missing)
    return PngFile(data, name, png_info(data, name=name, max_pixels=max_pixels))


def _ihdr(head: bytes, name: str) -> tuple[int, int, int, int]:
    """``(width, height, bit_depth, color_type)`` from the first 33 bytes of a PNG file."""
    why = _not_png(head[:16], name)
    if why:
        raise FormatError(why)
    if len(head) < 8 or head[:8] != SIGNATURE:
        raise FormatError(f"{name}: corrupt PNG: not a PNG file (bad signature)")
    if len(head) < 33:
        raise FormatError(f"{name}: corrupt PNG: truncated before the end of the IHDR chunk")
    length, ctype = struct.unpack(">I4s", head[8:16])
    if ctype != b"IHDR" or length != 13:
        raise FormatError(f"{name}: corrupt PNG: first chunk is not a 13-byte IHDR")
    if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise FormatError(f"{name}: corrupt PNG: CRC mismatch in a chunk")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", head[16:26])
    if not (0 < width < 1 << 31 and 0 < height < 1 << 31):
        raise FormatError(f"{name}: corrupt PNG: invalid image dimensions in IHDR: {width} x {height} "
                          f"(each side must be 1 to 2^31-1)")
    return width, height, bit_depth, color_type


def png_size(path_or_bytes: PathOrBytes) -> tuple[int, int]:
    """``(width, height)`` of a PNG from its IHDR chunk alone (the first 33 bytes).

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes-like
        A file path (only its first 33 bytes are read) or the file's content.

    Returns
    -------
    (int, int)
        Width and height as the IHDR declares them.

    Raises
    ------
    DataFileError
        The file cannot be read (missing, broken link, folder, permission).
    FormatError
        The file is not a PNG (named: empty, JPEG, ...), or its IHDR is missing,
        has a bad CRC or zero / out-of-range dimensions.

    Notes
    -----
    Nothing beyond the IHDR is checked, so this costs the same for every file size;
    a corrupt file with a valid IHDR is reported later, when it is decoded.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return _ihdr(bytes(memoryview(path_or_bytes)[:33]), "<bytes>")[:2]
    name = os.fsdecode(os.fspath(path_or_bytes))
    try:
        with open(name, "rb") as fh:
            head = fh.read(33)
    except OSError as exc:
        raise _file_error(name, exc) from exc
    return _ihdr(head, name)[:2]


def check_same_size(gt_path, pred_path, image_id) -> tuple[int, int]:
    """Check that a ground-truth and a prediction PNG declare the same size, from their
    headers alone (before either is decoded).

    Parameters
    ----------
    gt_path, pred_path : path-like
        The two files.
    image_id : object
        The image id named in the error.

    Returns
    -------
    (int, int)
        The common ``(width, height)``.

    Raises
    ------
    InputError
        The sizes differ; the message names the image, both files and both sizes.
    DataFileError, FormatError
        A file cannot be read or is not a PNG (see :func:`png_size`).

    Notes
    -----
    Reads 33 bytes of each file, so a file declaring an absurd size costs nothing
    here; call it before decoding a pair.
    """
    gw, gh = png_size(gt_path)
    pw, ph = png_size(pred_path)
    if (gw, gh) != (pw, ph):
        raise InputError(
            f"image {image_id!r}: prediction {os.fsdecode(pred_path)} is {pw}x{ph} "
            f"but ground truth {os.fsdecode(gt_path)} is {gw}x{gh} (width x height)"
        )
    return gw, gh


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


def _decode_with_pillow(buf: memoryview, name: str, info: dict) -> np.ndarray:
    """Pillow decodes what the compiled path leaves out; its failures become FormatError.

    The file has passed the pixel limit already, so Pillow's own decompression-bomb
    check is skipped (the PNG plugin is used directly).  Sub-byte greyscale (only
    interlaced files reach Pillow) is returned as stored values, as the compiled
    path does.
    """
    from PIL import PngImagePlugin

    try:
        with PngImagePlugin.PngImageFile(io.BytesIO(buf)) as im:
            im.load()
            arr = np.asarray(im)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise FormatError(f"{name}: corrupt or unsupported PNG (Pillow: {exc})") from exc
    bd = info["bit_depth"]
    if info["color_type"] == 0 and bd < 8 and arr.ndim == 2:
        scale = 255 // ((1 << bd) - 1)  # Pillow's L;2 / L;4 expansion (1-bit comes as bool)
        arr = arr.astype(np.uint8) if arr.dtype == bool else arr // np.uint8(scale)
    return arr


def mode_name(info: dict) -> str:
    """Pillow's name for a PNG's pixel layout (``"RGB"``, ``"P"``, ``"I;16"``, ...), for messages."""
    return _MODES.get((info["color_type"], info["bit_depth"]),
                      f"colour type {info['color_type']}, {info['bit_depth']}-bit")
