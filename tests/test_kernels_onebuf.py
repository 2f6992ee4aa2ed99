"""The one-buffer cold path of the semantic folder kernels (``folder_semantic._count_files``):
GT images of 1 MiB or more (inflated) are kept as their rows' changes from the row above
while the prediction is inflated into the same buffer.  Checked against the NumPy twin
(tests/oracles.py) and against the two-buffer path (``record=True`` takes it): counts,
per-image vectors, bad labels (counts up to the first row with one), bad filter types,
busy GTs that go back to two buffers half way, with the AVX2 compare and without.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import oracles
from segmetrics._kernels import folder, folder_semantic
from test_kernels_semantic import check_semantic_pair, png

BIG = 1 << 20  # inflated bytes from which the one-buffer path is taken


@pytest.fixture(params=[True, False], ids=["avx2", "sse2"])
def compare(request):
    """Both row compares (AVX2 only where the processor has it)."""
    if request.param and not folder_semantic._set_row_diff(True):
        pytest.skip("no AVX2 on this processor")
    folder_semantic._set_row_diff(request.param)
    yield request.param
    folder_semantic._set_row_diff(True)


def blobs(rng, h: int, w: int, values, cell=(37, 53)) -> np.ndarray:
    """A label map of rectangles (most rows repeat the one above), rolled so that blocks
    change at every offset."""
    cells = rng.choice(np.asarray(values), (h // cell[0] + 1, w // cell[1] + 1))
    lab = np.repeat(np.repeat(cells, cell[0], 0), cell[1], 1)[:h, :w]
    return np.roll(lab, int(rng.integers(0, cell[1])), axis=1)


def tables(rng, k: int):
    gt = rng.integers(0, k, 65536).astype(np.int32)
    gt[rng.random(65536) < 0.15] = -1
    pred = rng.integers(0, k, 65536).astype(np.int32)
    return gt, pred


def both_paths(gt: bytes, pred: bytes, gt_codes, pred_codes, k: int, per_image=True):
    """semantic_pair the one-buffer way and the two-buffer way (recording): every result."""
    out = []
    for record in (False, True):
        s = folder.Scratch()
        cm = np.zeros((k, k), np.int64)
        vec = tuple(np.zeros(k, np.int64) for _ in range(3)) if per_image else (None, None, None)
        st = folder_semantic.semantic_pair(s, gt, pred, cm, gt_codes, pred_codes, record, *vec)
        out.append((st, s.message, s.counted, s.bad_gt, s.bad_pred, s.width, s.height, cm,
                    vec if per_image else None))
    return out


def assert_same(a, b):
    assert a[:7] == b[:7]
    np.testing.assert_array_equal(a[7], b[7])
    for x, y in zip(a[8] or (), b[8] or ()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("h, w", [(512, 2048), (520, 2047), (300, 3500), (8192, 128), (1, BIG + 5), (BIG // 2, 1)])
def test_large_pairs_equal_twin(compare, h, w):
    """Blob maps large enough for the one-buffer path (rows of every width mod 32, narrow rows),
    with valid labels: counts and vectors equal the twin's and the two-buffer path's.  One row
    or one column of 1 MiB go the two-buffer way (their row buffer or bit words would not be
    small), with the same results."""
    assert (folder_semantic._one_buffer_room(w, h) > 0) == (h > 1 and w > 1)
    rng = np.random.default_rng(h * 7 + w)
    k = 6
    gt_codes, pred_codes = tables(rng, k)
    g = blobs(rng, h, w, [0, 1, 2, 3, 7, 200, 255])
    p = np.where(rng.random((h, w)) < 0.02, rng.integers(0, 9, (h, w)), blobs(rng, h, w, range(9)))
    gt, pred = png(g, "L"), png(p, "L")
    check_semantic_pair(gt, pred, gt_codes, pred_codes, k, True, False)
    a, b = both_paths(gt, pred, gt_codes, pred_codes, k)
    assert a[0] == 0
    assert_same(a, b)


def test_which_images_take_one_buffer():
    """The rule: 1 MiB or more inflated, and what the path keeps (row buffer, a bit a 32-byte
    block, changed blocks up to an eighth of the buffer) at most a quarter of the buffer it saves."""
    room = folder_semantic._one_buffer_room
    raw = 1024 * 2049
    assert raw // 8 < room(2048, 1024) <= raw // 4  # Cityscapes: 268 kB kept, 2 MB saved
    assert room(2048, 511) == 0 and room(2048, 512) > 0  # 1,048,576 inflated bytes from 512 rows
    assert room(1500, 400) == 0  # 0.6 MB: two buffers
    assert room(1, BIG) == 0 and room(BIG + 5, 1) == 0 and room(8, BIG // 9) == 0  # narrow, one row
    assert room(128, 8192) > 0 and room(1024, 512, 2) > 0  # narrow enough; 16-bit samples


@pytest.mark.parametrize("gmode, pmode", [("I;16", "L"), ("L", "I;16"), ("P", "L")])
def test_large_pairs_other_layouts(compare, gmode, pmode):
    """16-bit GT (two bytes a sample in the blocks), 16-bit predictions, palette files."""
    rng = np.random.default_rng(16)
    h, w, k = 400, 1500, 5
    gt_codes, pred_codes = tables(rng, k)
    g = blobs(rng, h, w, [0, 1, 2, 300, 65535] if gmode == "I;16" else [0, 1, 2, 30, 255])
    p = blobs(rng, h, w, [0, 1, 2, 3, 40000] if pmode == "I;16" else range(7), cell=(11, 29))
    gt, pred = png(g, gmode), png(p, pmode)
    assert (h * (w * (2 if gmode == "I;16" else 1) + 1)) >= BIG or gmode != "I;16"
    check_semantic_pair(gt, pred, gt_codes, pred_codes, k, True, False)
    assert_same(*both_paths(gt, pred, gt_codes, pred_codes, k))


@pytest.mark.parametrize("busy_from", [0, 1, 300, 511])
def test_busy_gt_goes_back_to_two_buffers(compare, busy_from):
    """A GT whose changed blocks pass an eighth of the buffer (noise from row busy_from on) is
    counted the two-buffer way from the row where they did, the rows above it unfiltered in
    place: the same counts."""
    rng = np.random.default_rng(busy_from)
    h, w, k = 512, 2048, 7
    gt_codes, pred_codes = tables(rng, k)
    g = blobs(rng, h, w, range(12))
    g[busy_from:] = rng.integers(0, 12, (h - busy_from, w))
    p = blobs(rng, h, w, range(9), cell=(5, 9))
    gt, pred = png(g, "L"), png(p, "L")
    check_semantic_pair(gt, pred, gt_codes, pred_codes, k, True, False)
    assert_same(*both_paths(gt, pred, gt_codes, pred_codes, k))


@pytest.mark.parametrize("where", ["gt last row", "pred last row", "gt first row", "pred middle", "both"])
def test_bad_labels_counted_to_the_first_row_with_one(compare, where):
    """Bad labels: status 1, the bad counts of the rows up to the first that has one (the
    GT put back from its stored blocks a second time), as the two-buffer path reports."""
    rng = np.random.default_rng(len(where))
    h, w, k = 512, 2048, 4
    gt_codes, pred_codes = tables(rng, k)
    gt_codes[250], pred_codes[251] = -2, -2
    g = blobs(rng, h, w, [0, 1, 2, 3])
    p = blobs(rng, h, w, [0, 1, 2, 3])
    gt_codes[:4] = [0, 1, 2, 3]
    if where in ("gt last row", "both"):
        g[h - 1, 100:140] = 250
    if where == "gt first row":
        g[0, w - 3:] = 250
    if where in ("pred last row", "both"):
        p[h - 1, 5] = 251
    if where == "pred middle":
        p[200:260, 1000:1900] = 251
    gt, pred = png(g, "L"), png(p, "L")
    s, want = check_semantic_pair(gt, pred, gt_codes, pred_codes, k, False, False)
    assert want[1] or want[2]
    a, b = both_paths(gt, pred, gt_codes, pred_codes, k, per_image=False)
    assert a[0] == 1 and a[1] == "bad labels" and a[2]
    assert a[:7] == b[:7]


def with_filter_byte(data: bytes, row: int, ftype: int) -> bytes:
    """The PNG with the filter type of one row changed (its IDAT re-made, CRCs right)."""
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IDAT":
            idat += body
        else:
            chunks.append((kind, body))
        pos += 12 + n
    w, _, depth = struct.unpack(">IIB", chunks[0][1][:9])
    raw = bytearray(zlib.decompress(idat))
    stride = w * (depth // 8) + 1
    raw[row * stride] = ftype
    out = data[:8]
    for kind, body in chunks[:-1] + [(b"IDAT", zlib.compress(bytes(raw))), chunks[-1]]:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return out


@pytest.mark.parametrize("side, row", [("gt", 0), ("gt", 300), ("gt", 511), ("pred", 7), ("both", 100)])
def test_bad_filter_types_as_the_two_buffer_path(compare, side, row):
    """A row with an unknown filter type (in the GT: found before the prediction is read;
    with a bad label above it, that is reported instead): status, message, counted and the
    bad counts are the two-buffer path's."""
    rng = np.random.default_rng(row)
    h, w, k = 512, 2048, 4
    gt_codes, pred_codes = tables(rng, k)
    gt_codes[:4] = [0, 1, 2, 3]
    g, p = blobs(rng, h, w, [0, 1, 2, 3]), blobs(rng, h, w, [0, 1, 2, 3])
    gt, pred = png(g, "L"), png(p, "L")
    if side in ("gt", "both"):
        gt = with_filter_byte(gt, row, 9)
    if side in ("pred", "both"):
        pred = with_filter_byte(pred, row + 1 if side == "both" else row, 9)
    a, b = both_paths(gt, pred, gt_codes, pred_codes, k)
    assert a[0] == 1 and a[1] == "bad row filter type" and a[2]
    assert_same(a, b)
    gt_codes[3] = -2
    g2 = g.copy()
    g2[1, 0] = 3 if row > 1 else g2[1, 0]
    a, b = both_paths(png(g2, "L") if side == "pred" else gt, pred, gt_codes, pred_codes, k)
    assert a[:7] == b[:7]


def test_truncated_and_mismatched_files_as_the_two_buffer_path(compare):
    """A prediction cut short, or of another size, after a large GT: the two-buffer path's
    status and message, nothing counted."""
    rng = np.random.default_rng(3)
    h, w, k = 512, 2048, 4
    gt_codes, pred_codes = tables(rng, k)
    g, p = blobs(rng, h, w, range(4)), blobs(rng, h, w, range(4))
    gt, pred = png(g, "L"), png(p, "L")
    for bad in (pred[:len(pred) // 2], png(p[:, :-1], "L"), png(p[:-1], "L"), gt[:100]):
        for first, second in ((gt, bad), (bad, gt)):
            a, b = both_paths(first, second, gt_codes, pred_codes, k)
            assert a[0] == 1 and not a[2]
            assert_same(a, b)


def grey_png_filtered(x: np.ndarray, types) -> bytes:
    """An 8-bit grey PNG of ``x`` whose row r is filtered with ``types[r]`` (0 None, 1 Sub, 2 Up,
    3 Average, 4 Paeth; the PNG specification's predictors, encoded here in NumPy)."""
    h, w = x.shape
    a = x.astype(np.int16)
    up = np.vstack([np.zeros((1, w), np.int16), a[:-1]])
    left = np.hstack([np.zeros((h, 1), np.int16), a[:, :-1]])
    upleft = np.hstack([np.zeros((h, 1), np.int16), up[:, :-1]])
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    pred = {0: np.zeros_like(a), 1: left, 2: up, 3: (left + up) // 2, 4: paeth}
    raw = bytearray()
    for r in range(h):
        raw.append(types[r])
        raw += ((a[r] - pred[types[r]][r]) % 256).astype(np.uint8).tobytes()
    head = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in ((b"IHDR", head), (b"IDAT", zlib.compress(bytes(raw))), (b"IEND", b"")):
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return out


@pytest.mark.parametrize("types", ["up", "sub", "average", "paeth", "none", "mixed"])
def test_every_row_filter_type_in_the_gt(compare, types):
    """GT rows stored with each PNG filter type (each row unfiltered in place, then compared with
    the one above), all rows of one type or a random mix: counts equal the twin's and the
    two-buffer path's."""
    rng = np.random.default_rng(len(types))
    h, w, k = 512, 2048, 6
    assert folder_semantic._one_buffer_room(w, h) > 0
    gt_codes, pred_codes = tables(rng, k)
    # wide cells and a little speckle: the changes stay under the busy limit (an eighth of the
    # buffer), so every row is put back from its changes (a busy GT would go to two buffers)
    g = blobs(rng, h, w, [0, 1, 2, 3, 7, 200, 255], cell=(37, 300))
    g[rng.random(g.shape) < 0.0002] = 3  # rows that differ from the one above in one byte
    p = blobs(rng, h, w, range(9), cell=(9, 41))
    names = {"none": 0, "sub": 1, "up": 2, "average": 3, "paeth": 4}
    rows = rng.integers(0, 5, h) if types == "mixed" else np.full(h, names[types])
    gt = grey_png_filtered(g.astype(np.uint8), rows.tolist())
    check_semantic_pair(gt, png(p, "L"), gt_codes, pred_codes, k, True, False)
    a, b = both_paths(gt, png(p, "L"), gt_codes, pred_codes, k)
    assert a[0] == 0
    assert_same(a, b)
