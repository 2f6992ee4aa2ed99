"""The compiled PNG decoder against Pillow (the reference) and a NumPy encoder written here.

The encoder below filters rows from the PNG specification's formulas (vectorised: a
forward filter only reads raw bytes), so every filter type, bit depth, colour type and
IDAT split can be produced on purpose; Pillow and OpenCV encoders add the files that
real tools write.  Decoded arrays must equal ``np.asarray(PIL.Image.open(f))``.
"""
from __future__ import annotations

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from segmetrics._kernels import png as _png
from segmetrics.errors import DataFileError, FormatError, InputError
from segmetrics.io.png import decode_png, inflate_backend, png_info, read_png

SIG = b"\x89PNG\r\n\x1a\n"
BACKENDS = ["zlib"] + (["libdeflate"] if _png._find_libdeflate() else [])


# --------------------------------------------------------------------------- encoder
def chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def paeth_predictor(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def filter_rows(raw: np.ndarray, bpp: int, filters) -> bytes:
    """Forward-filter the rows of `raw` (uint8, rows x row_bytes) with one type per row."""
    raw = raw.astype(np.int32)
    h, n = raw.shape
    out = np.empty((h, n + 1), np.uint8)
    for y in range(h):
        x = raw[y]
        up = raw[y - 1] if y else np.zeros(n, np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])[:n]
        upleft = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]])[:n]
        f = int(filters[y])
        pred = [0, left, up, (left + up) // 2, paeth_predictor(left, up, upleft)][f]
        out[y, 0] = f
        out[y, 1:] = (x - pred) % 256
    return out.tobytes()


def pack_rows(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    """Rows of samples -> rows of bytes (big-endian 16-bit, MSB-first sub-byte packing)."""
    h = arr.shape[0]
    flat = arr.reshape(h, -1)
    if bit_depth == 16:
        return flat.astype(">u2").view(np.uint8).reshape(h, -1)
    if bit_depth == 8:
        return flat.astype(np.uint8)
    per = 8 // bit_depth
    w = flat.shape[1]
    padded = np.zeros((h, -(-w // per) * per), np.uint8)
    padded[:, :w] = flat
    shifts = (8 - bit_depth * (np.arange(per) + 1)).astype(np.uint8)
    return (padded.reshape(h, -1, per) << shifts).sum(axis=2).astype(np.uint8)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def encode_png(arr, color_type, bit_depth=8, *, filters="random", n_idat=1, interlace=False,
               seed=0, palette=True, level=6, extra=b"") -> bytes:
    """A PNG of `arr` ((H, W) or (H, W, C)) with the chosen filters and IDAT split."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(arr)
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    bpp = max(1, channels * bit_depth // 8)

    def filtered(img):
        rows = pack_rows(img, bit_depth)
        if filters == "random":
            f = rng.integers(0, 5, rows.shape[0])
        else:
            f = np.full(rows.shape[0], filters)
        return filter_rows(rows, bpp, f)

    if interlace:
        stream = b"".join(filtered(arr[y0::dy, x0::dx]) for x0, y0, dx, dy in ADAM7
                          if arr[y0::dy, x0::dx].size)
    else:
        stream = filtered(arr)
    comp = zlib.compress(stream, level)
    cuts = sorted(rng.choice(np.arange(1, len(comp)), size=min(n_idat - 1, len(comp) - 1),
                             replace=False)) if n_idat > 1 else []
    parts = [comp[i:j] for i, j in zip([0, *cuts], [*cuts, len(comp)])]
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, int(interlace))
    plte = chunk(b"PLTE", rng.integers(0, 256, 768, dtype=np.uint8).tobytes()) \
        if color_type == 3 and palette else b""
    return (SIG + chunk(b"IHDR", ihdr) + plte + extra
            + b"".join(chunk(b"IDAT", p) for p in parts) + chunk(b"IEND", b""))


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.fixture(params=BACKENDS)
def backend(request):
    before = inflate_backend()
    _png.set_inflate_backend(request.param)
    yield request.param
    _png.set_inflate_backend(before)


# (colour type, bit depth, channels, numpy dtype) decoded by the compiled path
FAST_MODES = [(0, 8, 1, np.uint8), (0, 16, 1, np.uint16), (4, 8, 2, np.uint8),
              (2, 8, 3, np.uint8), (6, 8, 4, np.uint8), (3, 8, 1, np.uint8)]


def random_image(rng, h, w, channels, dtype, kind):
    shape = (h, w) if channels == 1 else (h, w, channels)
    hi = np.iinfo(dtype).max + 1
    if kind == "noise":
        return rng.integers(0, hi, shape, dtype=np.int64).astype(dtype)
    # label-like: a few flat regions
    labels = rng.integers(0, hi, (8, channels), dtype=np.int64).astype(dtype)
    ys, xs = np.mgrid[:h, :w]
    idx = (ys * 3 // max(h, 1) * 3 + xs * 3 // max(w, 1)) % 8
    out = labels[idx]
    return out[..., 0] if channels == 1 else out


# --------------------------------------------------------------------------- differential
@pytest.mark.parametrize("ct,bd,channels,dtype", FAST_MODES)
@pytest.mark.parametrize("filt", ["random", 0, 1, 2, 3, 4])
def test_every_filter_and_mode_equals_pillow(backend, ct, bd, channels, dtype, filt):
    rng = np.random.default_rng(hash((ct, bd, str(filt))) % 2**32)
    for h, w, kind in [(1, 1, "noise"), (1, 7, "noise"), (5, 1, "noise"),
                       (13, 29, "noise"), (31, 17, "labels"), (64, 65, "labels")]:
        arr = random_image(rng, h, w, channels, dtype, kind)
        data = encode_png(arr, ct, bd, filters=filt, n_idat=int(rng.integers(1, 5)),
                          seed=int(rng.integers(1 << 30)))
        got = decode_png(data)
        assert png_info(data)["fast"]
        assert_same(got, pillow(data))
        assert_same(got, arr)  # the encoder's input is the oracle too


def label_rows(rng, h, w, kind):
    """8-bit label maps whose rows exercise the vector unfilter paths: vertical edges that
    wander from row to row (Paeth bytes whose above and above-left differ), edges at
    every position of a 16- and 32-byte block, speckle, and plain noise."""
    if kind == "noise":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "edges":  # one edge per row, at each column in turn: every block position
        x = np.arange(w)
        cut = (np.arange(h) * 7) % max(w, 1)
        return np.where(x[None, :] < cut[:, None], 11, 240).astype(np.uint8)
    cols = np.sort(rng.integers(0, w, (h, max(1, w // 9))), axis=1)
    cols += rng.integers(-2, 3, cols.shape)  # the edges move a little from row to row
    idx = (np.arange(w)[None, :, None] >= cols[:, None, :]).sum(axis=2)
    arr = rng.integers(0, 256, 64, dtype=np.uint8)[idx % 64]
    if kind == "speckle":
        hit = rng.random((h, w)) < 0.05
        arr[hit] = rng.integers(0, 256, int(hit.sum()), dtype=np.uint8)
    return arr


@pytest.mark.parametrize("filt", [1, 2, 4, "random"])
def test_vector_unfilter_levels_equal_the_plain_loops(filt):
    """The 8-bit Sub / Up / Paeth rows are undone 16 (SSE2) or 32 (AVX2) bytes at a time
    where the CPU has them; each level must give the plain loops' bytes, which must equal
    the encoder's input, on widths around the block sizes and on rows with many edges."""
    rng = np.random.default_rng(7 + (filt if isinstance(filt, int) else 9))
    top = _png._unfilter_level()
    levels = list(range(top + 1))
    try:
        for w in [1, 2, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 97, 2048 + 7]:
            for kind in ["noise", "edges", "runs", "speckle"]:
                arr = label_rows(rng, 24, w, kind)
                data = encode_png(arr, 0, 8, filters=filt, seed=int(rng.integers(1 << 30)))
                got = []
                for level in levels:
                    _png._unfilter_level(level)
                    got.append(decode_png(data))
                for g in got:
                    assert_same(g, arr)
    finally:
        _png._unfilter_level(top)
    assert _png._unfilter_level() == top


def test_unfilter_level_hook_is_capped():
    top = _png._unfilter_level()
    try:
        assert _png._unfilter_level(99) == top
        assert _png._unfilter_level() == top  # capped at what the build and CPU have
        _png._unfilter_level(-3)
        assert _png._unfilter_level() == 0
    finally:
        _png._unfilter_level(top)


def test_many_idat_chunks_including_empty_ones(backend):
    rng = np.random.default_rng(3)
    arr = random_image(rng, 40, 33, 3, np.uint8, "noise")
    data = encode_png(arr, 2, n_idat=60)
    # an empty IDAT chunk in the middle of the run is legal
    pos = data.index(b"IDAT") - 4
    data = data[:pos] + chunk(b"IDAT", b"") + data[pos:]
    assert_same(decode_png(data), arr)
    assert png_info(data)["fast"]


def test_ancillary_chunks_are_skipped_and_trailing_bytes_ignored(backend):
    arr = random_image(np.random.default_rng(4), 9, 11, 1, np.uint8, "noise")
    extra = chunk(b"tEXt", b"Comment\x00label map") + chunk(b"pHYs", bytes(9))
    data = encode_png(arr, 0, extra=extra) + b"trailing junk"
    assert_same(decode_png(data), pillow(data))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16"])
@pytest.mark.parametrize("level,optimize", [(0, False), (1, False), (6, False), (9, True)])
def test_pillow_encoded_files(backend, mode, level, optimize):
    rng = np.random.default_rng(5)
    dtype = np.uint16 if mode == "I;16" else np.uint8
    channels = {"L": 1, "P": 1, "I;16": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    for h, w, kind in [(1, 1, "noise"), (37, 53, "noise"), (120, 97, "labels")]:
        arr = random_image(rng, h, w, channels, dtype, kind)
        if mode == "LA":
            im = Image.merge("LA", [Image.fromarray(arr[..., 0]), Image.fromarray(arr[..., 1])])
        elif mode == "P":
            im = Image.frombytes("P", (w, h), arr.tobytes())
            im.putpalette(list(rng.integers(0, 256, 768)))
        else:
            im = Image.fromarray(arr)
        assert im.mode == mode
        buf = io.BytesIO()
        im.save(buf, "PNG", compress_level=level, optimize=optimize)
        data = buf.getvalue()
        want = pillow(data)
        assert_same(decode_png(data), want)
        if png_info(data)["fast"] is False:
            pytest.fail(f"Pillow-written {mode} file took the fallback path")


@pytest.mark.parametrize("kind", ["gray", "bgr", "bgra", "gray16"])
def test_opencv_encoded_files(backend, kind):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(6)
    shape = {"gray": (45, 61), "bgr": (45, 61, 3), "bgra": (45, 61, 4), "gray16": (45, 61)}[kind]
    dtype = np.uint16 if kind == "gray16" else np.uint8
    for level in (0, 3, 9):
        for noisy in (True, False):
            arr = random_image(rng, shape[0], shape[1], 1 if len(shape) == 2 else shape[2],
                               dtype, "noise" if noisy else "labels")
            ok, enc = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, level])
            assert ok
            data = enc.tobytes()
            assert_same(decode_png(data), pillow(data))


def test_real_label_pngs_equal_pillow(shared_data, backend):
    files = sorted(shared_data.glob("ade20k_sample/**/*.png"))
    files += sorted(shared_data.glob("coco_panoptic_sample/**/*.png"))
    files += sorted(shared_data.glob("camvid/*annot/*.png"))[::4]
    files += sorted(shared_data.glob("camvid/train/*.png"))[::40]
    assert len(files) > 50
    for path in files:
        got = read_png(path)
        with Image.open(path) as im:
            assert_same(got, np.asarray(im))


# --------------------------------------------------------------------------- fallback
# 1/2/4-bit grey and palette files left this list when the compiled path started decoding
# them (as stored values; see test_sub_byte_* below, issue 11 item 13)
@pytest.mark.parametrize("case", ["interlaced8", "interlaced_rgb", "la16", "rgb16", "rgba16",
                                  "unknown_critical"])
def test_fallback_equals_pillow(backend, case):
    rng = np.random.default_rng(7)
    if case == "interlaced8":
        data = encode_png(random_image(rng, 19, 23, 1, np.uint8, "noise"), 0, interlace=True)
    elif case == "interlaced_rgb":
        data = encode_png(random_image(rng, 9, 10, 3, np.uint8, "noise"), 2, interlace=True)
    elif case == "unknown_critical":
        data = encode_png(random_image(rng, 6, 5, 1, np.uint8, "noise"), 0,
                          extra=chunk(b"ZZZZ", b"xyz"))
    else:
        channels = {"la16": 2, "rgb16": 3, "rgba16": 4}[case]
        arr = random_image(rng, 14, 9, channels, np.uint16, "noise")
        data = encode_png(arr, {2: 4, 3: 2, 4: 6}[channels], 16)
    assert png_info(data)["fast"] is False
    if case == "unknown_critical":
        # Pillow rejects the unknown critical chunk: the error must be a FormatError
        try:
            want = pillow(data)
        except Exception:
            with pytest.raises(FormatError, match="Pillow"):
                decode_png(data)
            return
    else:
        want = pillow(data)
    assert_same(decode_png(data), want)
    out = np.empty_like(want)
    assert decode_png(data, out=out) is out
    assert_same(out, want)


# --------------------------------------------------------------------------- 1/2/4-bit samples
def unpack_by_hand(data: bytes) -> np.ndarray:
    """The stored samples of a non-interlaced 1/2/4-bit PNG whose rows all use filter 0,
    read straight from the chunks: inflate, drop each row's filter byte, split bytes
    into samples most significant bits first."""
    w, h, bd = struct.unpack(">IIB", data[16:25])
    pos, idat = 8, b""
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    row_bytes = (w * bd + 7) // 8
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        row = raw[y * (row_bytes + 1):(y + 1) * (row_bytes + 1)]
        assert row[0] == 0
        for x in range(w):
            byte = row[1 + x * bd // 8]
            out[y, x] = (byte >> (8 - bd - (x * bd) % 8)) & ((1 << bd) - 1)
    return out


@pytest.mark.parametrize("bd", [1, 2, 4])
@pytest.mark.parametrize("w", [1, 3, 7, 8, 9, 17, 31])
def test_sub_byte_grey_is_decoded_as_stored_values(backend, bd, w):
    rng = np.random.default_rng(bd * 100 + w)
    arr = rng.integers(0, 2 ** bd, (6, w)).astype(np.uint8)
    data = encode_png(arr, 0, bd, filters=0)
    got = decode_png(data)
    assert png_info(data)["fast"] and png_info(data)["shape"] == (6, w)
    assert_same(got, unpack_by_hand(data))
    assert_same(got, arr)
    # Pillow scales the same samples to 0-255 (x255 as booleans, x85, x17): not label values
    want_scaled = pillow(data).astype(np.uint16)
    np.testing.assert_array_equal(want_scaled, arr.astype(np.uint16) * (255 // (2 ** bd - 1)) // (255 if bd == 1 else 1))


@pytest.mark.parametrize("ct", [0, 3])
@pytest.mark.parametrize("bd", [1, 2, 4])
@pytest.mark.parametrize("filt", ["random", 1, 2, 3, 4])
def test_sub_byte_every_filter(backend, ct, bd, filt):
    rng = np.random.default_rng(ct * 10 + bd)
    for h, w in [(1, 1), (5, 13), (17, 29), (9, 64)]:
        arr = rng.integers(0, 2 ** bd, (h, w)).astype(np.uint8)
        data = encode_png(arr, ct, bd, filters=filt, n_idat=3, seed=int(rng.integers(1 << 30)))
        got = decode_png(data)
        assert_same(got, arr)
        if ct == 3:
            assert_same(got, pillow(data))  # palette: Pillow gives the raw indices too


@pytest.mark.parametrize("ct", [0, 3])
@pytest.mark.parametrize("bd", [1, 2, 4])
def test_sub_byte_interlaced_goes_to_pillow_and_keeps_stored_values(backend, ct, bd):
    arr = np.random.default_rng(bd).integers(0, 2 ** bd, (11, 13)).astype(np.uint8)
    data = encode_png(arr, ct, bd, interlace=True)
    assert png_info(data)["fast"] is False
    got = decode_png(data)
    assert_same(got, arr)
    out = np.empty_like(arr)
    assert decode_png(data, out=out) is out
    assert_same(out, arr)


def test_sub_byte_pillow_written_palette_files(backend):
    rng = np.random.default_rng(14)
    for colours, bd in ((2, 1), (4, 2), (16, 4)):
        arr = rng.integers(0, colours, (23, 37)).astype(np.uint8)
        im = Image.frombytes("P", (37, 23), arr.tobytes())
        im.putpalette(list(rng.integers(0, 256, 3 * colours)))
        buf = io.BytesIO()
        im.save(buf, "PNG", bits=bd)
        data = buf.getvalue()
        assert data[24] == bd  # Pillow wrote a packed file
        assert_same(decode_png(data), arr)
        assert_same(decode_png(data), pillow(data))


def test_sub_byte_out_buffer_and_errors_name_the_file(backend, tmp_path):
    arr = np.random.default_rng(15).integers(0, 4, (7, 10)).astype(np.uint8)
    data = encode_png(arr, 0, 2)
    out = np.full(arr.shape, 9, np.uint8)
    assert decode_png(data, out=out) is out
    assert_same(out, arr)
    with pytest.raises(InputError, match="shape"):
        decode_png(data, out=np.empty((7, 3), np.uint8))
    path = tmp_path / "two_bit.png"
    path.write_bytes(_replace_chunk(data, b"IDAT", _raw_idat(b"\x07" + bytes(7 * 4 - 1))))
    with pytest.raises(FormatError, match=r"two_bit.png: corrupt PNG: bad row filter"):
        read_png(path)
    path.write_bytes(_replace_chunk(data, b"IDAT", _raw_idat(bytes(7 * 4 - 1))))
    with pytest.raises(FormatError, match=r"two_bit.png: corrupt PNG: decompressed data is smaller"):
        read_png(path)


# --------------------------------------------------------------------------- out= and threads
def test_out_buffer_is_filled_and_checked(backend):
    arr = random_image(np.random.default_rng(8), 21, 34, 3, np.uint8, "noise")
    data = encode_png(arr, 2)
    out = np.full(arr.shape, 7, np.uint8)
    assert decode_png(data, out=out) is out
    assert_same(out, arr)
    with pytest.raises(InputError, match="shape"):
        decode_png(data, out=np.empty((21, 34), np.uint8))
    with pytest.raises(InputError, match="dtype"):
        decode_png(data, out=np.empty(arr.shape, np.uint16))
    with pytest.raises(InputError, match="contiguous"):
        decode_png(data, out=np.empty((21, 34, 6), np.uint8)[:, :, ::2])


def test_threads_give_the_same_arrays(backend):
    rng = np.random.default_rng(9)
    files = [encode_png(random_image(rng, 50, 60, c, np.uint8, "noise"), ct, seed=i)
             for i, (ct, c) in enumerate([(0, 1), (2, 3), (6, 4), (4, 2)] * 4)]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(decode_png, files))
    for data, arr in zip(files, got):
        assert_same(arr, pillow(data))


def test_read_png_from_path_and_bytes(tmp_path):
    arr = random_image(np.random.default_rng(10), 8, 9, 1, np.uint8, "noise")
    path = tmp_path / "lab.png"
    path.write_bytes(encode_png(arr, 0))
    assert_same(read_png(path), arr)
    assert_same(read_png(str(path)), arr)
    assert_same(read_png(path.read_bytes()), arr)
    with pytest.raises(DataFileError, match="missing.png"):
        read_png(tmp_path / "missing.png")


# --------------------------------------------------------------------------- corrupt files
def _valid(ct=0, h=6, w=7):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
    return encode_png(random_image(np.random.default_rng(11), h, w, channels, np.uint8, "noise"), ct)


def _replace_chunk(data: bytes, ctype: bytes, payload: bytes) -> bytes:
    pos = data.index(ctype) - 4
    n = struct.unpack(">I", data[pos:pos + 4])[0]
    return data[:pos] + chunk(ctype, payload) + data[pos + 12 + n:]


def _ihdr(w, h, bd=8, ct=0, comp=0, filt=0, inter=0):
    return struct.pack(">IIBBBBB", w, h, bd, ct, comp, filt, inter)


def _raw_idat(raw: bytes) -> bytes:
    return zlib.compress(raw)


CORRUPT = {
    "signature": (lambda d: b"\x89PNG\r\n\x1a\x0b" + d[8:], "signature"),
    "empty": (lambda d: b"", "signature"),
    "crc": (lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "CRC"),
    "truncated_chunk": (lambda d: d[:d.index(b"IDAT") + 10], "truncated"),
    "no_iend": (lambda d: d[:d.index(b"IEND") - 4], "IEND"),
    "first_not_ihdr": (lambda d: SIG + chunk(b"tEXt", b"a\x00b") + d[8:], "IHDR"),
    "bad_depth": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(7, 6, bd=3)), "IHDR"),
    "bad_colour": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(7, 6, ct=5)), "IHDR"),
    "rgb_depth4": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(7, 6, bd=4, ct=2)), "IHDR"),
    "compression": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(7, 6, comp=1)), "IHDR"),
    "interlace2": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(7, 6, inter=2)), "IHDR"),
    "zero_width": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(0, 6)), "dimensions"),
    "absurd": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(1 << 20, 1 << 20)), "absurd"),
    "too_big_for_idat": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(40000, 40000)), "too short"),
    "wider": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(8, 6)), "smaller"),
    "narrower": (lambda d: _replace_chunk(d, b"IHDR", _ihdr(6, 6)), "larger"),
    "zlib_garbage": (lambda d: _replace_chunk(d, b"IDAT", b"\x78\x9c garbage"), "zlib"),
    "zlib_cut": (lambda d: _replace_chunk(d, b"IDAT", _raw_idat(bytes(48))[:-9]), "zlib"),
    "bad_filter": (lambda d: _replace_chunk(d, b"IDAT", _raw_idat(b"\x05" + bytes(8 * 6 - 1))),
                   "filter"),
    "no_idat": (lambda d: d[:33] + chunk(b"IEND", b""), "no IDAT"),
    "split_idat": (lambda d: d[:-12] + chunk(b"tEXt", b"a\x00b") + chunk(b"IDAT", b"") + d[-12:],
                   "consecutive"),
    "two_ihdr": (lambda d: d[:33] + d[8:33] + d[33:], "IHDR"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_files_raise_format_error_naming_the_file(backend, case, tmp_path):
    make, words = CORRUPT[case]
    data = make(_valid())
    path = tmp_path / f"broken_{case}.png"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=words) as info:
        read_png(path)
    assert f"broken_{case}.png" in str(info.value)
    with pytest.raises(FormatError, match=words):
        png_info(data) if case not in {"wider", "narrower", "zlib_garbage", "zlib_cut",
                                       "bad_filter"} else decode_png(data)


def _fix_crcs(data: bytes) -> bytes:
    """Recompute every chunk's CRC (so a mutation reaches the zlib and filter layers)."""
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        if pos + 12 + n > len(data):
            break
        body = data[pos + 4:pos + 8 + n]
        out += data[pos:pos + 4] + body + struct.pack(">I", zlib.crc32(body))
        pos += 12 + n
    return bytes(out + data[pos:])


def _pillow_or_none(data):
    try:
        return pillow(data)
    except Exception:
        return None


def test_fuzzed_files_never_crash(backend):
    rng = np.random.default_rng(12)
    seeds = [encode_png(random_image(rng, 12, 9 + i, c, np.uint8, kind), ct, n_idat=1 + i % 3,
                        seed=i)
             for i, (ct, c, kind) in enumerate([(0, 1, "noise"), (2, 3, "labels"),
                                                (6, 4, "noise"), (3, 1, "labels"),
                                                (4, 2, "noise")])]
    seeds.append(encode_png(random_image(rng, 10, 11, 1, np.uint16, "noise"), 0, 16))
    seeds += [encode_png(rng.integers(0, 2 ** bd, (9, 13)).astype(np.uint8), ct, bd, seed=bd)
              for ct, bd in ((0, 1), (3, 2), (0, 4), (3, 4))]
    decoded = accepted = 0
    for trial in range(400):
        data = bytearray(seeds[trial % len(seeds)])
        how = trial % 4
        if how == 0:  # truncation
            data = data[:int(rng.integers(0, len(data)))]
        else:  # 1-3 byte flips; half the time with every CRC repaired afterwards
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(8, len(data)))] ^= int(rng.integers(1, 256))
            if how >= 2:
                data = bytearray(_fix_crcs(bytes(data)))
        data = bytes(data)
        try:
            got = decode_png(data)
        except FormatError:
            continue
        decoded += 1
        want = _pillow_or_none(data)
        assert want is not None, f"trial {trial}: we decoded a file Pillow rejects"
        if data[24] < 8 and data[25] == 0:  # sub-byte grey: Pillow scales (1-bit: booleans)
            bd = data[24]
            want = want.astype(np.uint8) if want.dtype == bool else want // np.uint8(255 // (2 ** bd - 1))
        assert_same(got, want)
        accepted += 1
    assert decoded == accepted
    assert decoded < 400  # most mutations must be caught


def test_fuzzed_ihdr_sizes_with_valid_crc(backend):
    rng = np.random.default_rng(13)
    base = _valid(2, 9, 10)
    for _ in range(100):
        w, h = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        if rng.random() < 0.3:
            w, h = int(rng.integers(1, 1 << 31)), int(rng.integers(1, 1 << 31))
        data = _replace_chunk(base, b"IHDR", _ihdr(w, h, ct=int(rng.choice([0, 2, 3, 4, 6]))))
        try:
            got = decode_png(data)
        except FormatError:
            continue
        assert_same(got, pillow(data))
