"""The ``segstats_semantic`` (L) and ``segstats_panoptic`` (S) kernels of ``segmetrics validate`` against plain NumPy twins."""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from segmetrics._kernels import segstats_panoptic as S
from segmetrics._kernels import segstats_semantic as L
from segmetrics._kernels.folder import Scratch


# ----------------------------------------------------------------------------- NumPy twins
def twin_segment_stats(ids: np.ndarray):
    u, area = np.unique(ids, return_counts=True)
    bbox = []
    for v in u:
        ys, xs = np.nonzero(ids == v)
        bbox.append([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
    return u.astype(np.uint32), area.astype(np.int64), np.array(bbox, dtype=np.int64).reshape(-1, 4)


def twin_pair_stats(gt, pred, gc, pa, pb):
    bins_g = 256 if gt.dtype == np.uint8 else 65536
    bins_p = 256 if pred.dtype == np.uint8 else 65536
    scored = gc[gt] >= 0
    return (np.bincount(gt.ravel(), minlength=bins_g), np.bincount(pred.ravel(), minlength=bins_p),
            np.bincount(pred[scored], minlength=bins_p), int(((pa[pred] == gc[gt]) & scored).sum()),
            int(((pb[pred] == gc[gt]) & scored).sum()))


def twin_compare(png_ids, png_area, png_bbox, ids, area, bbox, boxes=True):
    n = ids.size
    flags = np.zeros(n, dtype=np.uint8)
    out_area = np.zeros(n, dtype=np.int64)
    out_box = np.zeros((n, 4), dtype=np.int64)
    listed = set(ids.tolist())
    unlisted = np.array([i != 0 and i not in listed for i in png_ids.tolist()], dtype=bool)
    where = {int(i): k for k, i in enumerate(png_ids.tolist())}
    for j, sid in enumerate(ids.tolist()):
        k = where.get(sid)
        if k is None:
            flags[j] = S.NO_PIXELS
            continue
        out_area[j], out_box[j] = png_area[k], png_bbox[k]
        if not np.isnan(area[j]) and area[j] != png_area[k]:
            flags[j] |= S.STALE_AREA
        if boxes and not np.isnan(bbox[j]).any() and (bbox[j] != png_bbox[k]).any():
            flags[j] |= S.STALE_BBOX
            x, y, w, h = png_bbox[k]
            if (w > 1 or h > 1) and (list(bbox[j]) in ([x, y, x + w - 1, y + h - 1], [x, y, x + w, y + h])):
                flags[j] |= S.BBOX_XYXY
    return flags, out_area, out_box, unlisted, int(unlisted.sum())


def to_rgb(ids):
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], -1).astype(np.uint8)


id_maps = st.builds(
    lambda seed, h, w, n, blocky: _id_map(np.random.default_rng(seed), h, w, n, blocky),
    st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 70), st.integers(1, 300), st.integers(0, 8))


def _id_map(rng, h, w, n, blocky):
    pool = rng.integers(0, 2**24, n).astype(np.uint32)
    pool[0] = 0
    ids = pool[rng.integers(0, n, (h, w))]
    if blocky:
        ids = np.repeat(ids[:, ::blocky + 1], blocky + 1, axis=1)[:, :w]
    return np.ascontiguousarray(ids)


def png_bytes(arr, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(arr).save(b, format="PNG", **kw)
    return b.getvalue()


# ----------------------------------------------------------------------------- tests
@settings(max_examples=150, deadline=None)
@given(id_maps, st.integers(0, 255))
def test_segment_stats_matches_numpy(ids, alpha):
    want = twin_segment_stats(ids)
    rgb = to_rgb(ids)
    rgba = np.concatenate([rgb, np.random.default_rng(alpha).integers(0, 256, ids.shape + (1,), dtype=np.uint8)], -1)
    for arr in (rgb, rgba, ids):
        got = S.segment_stats(arr)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
            assert g.dtype == w.dtype


@settings(max_examples=80, deadline=None)
@given(id_maps, st.booleans(), st.integers(0, 9))
def test_png_segment_stats_is_decode_then_segment_stats(ids, rgba, level):
    rgb = to_rgb(ids)
    arr = np.concatenate([rgb, np.full(ids.shape + (1,), 255, np.uint8)], -1) if rgba else rgb
    data = png_bytes(arr, compress_level=level)
    status, hdr, stats, opaque = S.png_segment_stats(Scratch(), data)
    assert status == 0 and hdr == {"width": ids.shape[1], "height": ids.shape[0], "bit_depth": 8,
                                   "color_type": 6 if rgba else 2}
    assert opaque == rgba
    for g, w in zip(stats, twin_segment_stats(ids)):
        np.testing.assert_array_equal(g, w)


def test_png_segment_stats_other_files():
    s = Scratch()
    ids = _id_map(np.random.default_rng(1), 20, 30, 6, 2)
    rgba = np.concatenate([to_rgb(ids), np.zeros(ids.shape + (1,), np.uint8)], -1)
    status, _, _, opaque = S.png_segment_stats(s, png_bytes(rgba))
    assert status == 0 and not opaque
    status, hdr, stats, _ = S.png_segment_stats(s, png_bytes(ids.astype(np.uint8)))       # grey
    assert status == 0 and stats is None and hdr["color_type"] == 0
    assert S.png_segment_stats(s, png_bytes(to_rgb(ids), optimize=False) + b"")[0] == 0
    status, *_ = S.png_segment_stats(s, b"not a png at all")
    assert status == -1 and "signature" in s.message
    status, *_ = S.png_segment_stats(s, b"")
    assert status == -1 and s.message == "empty file"
    data = png_bytes(to_rgb(ids))
    status, *_ = S.png_segment_stats(s, data[: len(data) - 20])
    assert status == -1 and s.message


def interlaced_rgb_png(rgb: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG (Pillow does not write them): each pass's
    pixels, rows with filter type 0, one zlib stream."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    h, w, _ = rgb.shape
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        sub = rgb[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_png_segment_stats_interlaced_goes_to_python(tmp_path):
    ids = _id_map(np.random.default_rng(2), 9, 13, 5, 0)
    data = interlaced_rgb_png(to_rgb(ids))
    with Image.open(io.BytesIO(data)) as im:     # a valid file: Pillow reads the same pixels
        np.testing.assert_array_equal(np.asarray(im), to_rgb(ids))
    assert S.png_segment_stats(Scratch(), data)[0] == 1
    # the validator's fallback decodes it and gets the same statistics
    from segmetrics.validate._files import Buffers
    from segmetrics.validate._panoptic import _read_png

    (tmp_path / "i.png").write_bytes(data)
    png = _read_png(tmp_path / "i.png", Buffers())
    assert png.problem is None and png.size == (13, 9)
    for g, w in zip((png.ids, png.area, png.bbox), twin_segment_stats(ids)):
        np.testing.assert_array_equal(g, w)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(np.uint8, np.uint8), (np.uint8, np.uint16),
                                                   (np.uint16, np.uint8), (np.uint16, np.uint16)]))
def test_pair_stats_and_histogram_match_numpy(seed, dtypes):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 30, 2)
    top = [256 if d == np.uint8 else 700 for d in dtypes]
    gt = rng.integers(0, top[0], (h, w)).astype(dtypes[0])
    pred = rng.integers(0, top[1], (h, w)).astype(dtypes[1])
    gc, pa, pb = (rng.integers(-2, 6, 65536).astype(np.int32) for _ in range(3))
    got = L.pair_stats(gt, pred, gc, pa, pb)
    want = twin_pair_stats(gt, pred, gc, pa, pb)
    for g, x in zip(got, want):
        np.testing.assert_array_equal(g, x)
    np.testing.assert_array_equal(L.label_histogram(gt), want[0])


def label_png(arr: np.ndarray, level: int) -> bytes:
    """An 8-bit grey, or 16-bit grey (big-endian samples) label PNG."""
    data = png_bytes(arr, compress_level=level)
    with Image.open(io.BytesIO(data)) as im:    # the file holds these very values
        assert np.array_equal(np.asarray(im), arr) and im.mode == ("L" if arr.dtype == np.uint8 else "I;16")
    return data


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(np.uint8, np.uint8), (np.uint8, np.uint16),
                                                   (np.uint16, np.uint8), (np.uint16, np.uint16),
                                                   (np.uint8, None), (np.uint16, None)]),
       st.integers(0, 9), st.integers(0, 6))
def test_png_label_stats_is_decode_then_pair_stats(seed, dtypes, level, blocky):
    """The fused kernel (rows walked as runs) against the twin of the decoded arrays, on noise
    and on runs of every length (``blocky``), 8- and 16-bit files, with and without predictions."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 40, 2))
    w = int(rng.choice([w, 1, 17, 33, 70]))

    def labels(dtype):
        top = 256 if dtype == np.uint8 else 700
        a = rng.integers(0, top, (h, w))
        if blocky:
            a = np.repeat(a[:, ::blocky + 1], blocky + 1, axis=1)[:, :w]
        return np.ascontiguousarray(a.astype(dtype))

    gt = labels(dtypes[0])
    pred = None if dtypes[1] is None else labels(dtypes[1])
    gc, pa, pb = (rng.integers(-2, 6, 65536).astype(np.int32) for _ in range(3))
    status, ghdr, phdr, gh, phs, agree_a, agree_b = L.png_label_stats(
        Scratch(), label_png(gt, level), None if pred is None else label_png(pred, level), gc, pa, pb)
    assert status == 0 and ghdr["width"] == w and ghdr["height"] == h
    assert ghdr["bit_depth"] == (8 if gt.dtype == np.uint8 else 16)
    if pred is None:
        assert phdr is None and phs is None and agree_a == agree_b == 0
        np.testing.assert_array_equal(gh, np.bincount(gt.ravel(), minlength=256 if gt.dtype == np.uint8 else 65536))
        return
    want = twin_pair_stats(gt, pred, gc, pa, pb)
    np.testing.assert_array_equal(gh, want[0])
    np.testing.assert_array_equal(phs, want[2])
    assert (agree_a, agree_b) == want[3:]


def test_png_label_stats_leaves_other_files_to_python():
    gt = np.arange(12, dtype=np.uint8).reshape(3, 4)
    codes = np.zeros(65536, np.int32)
    s = Scratch()
    assert L.png_label_stats(s, label_png(gt, 6), label_png(gt, 6), codes, codes, codes)[0] == 0
    assert L.png_label_stats(s, label_png(gt, 6), label_png(gt[:, :3].copy(), 6), codes, codes, codes)[0] == 1
    rgb = png_bytes(np.stack([gt] * 3, -1))
    assert L.png_label_stats(s, rgb, None, codes, codes, codes)[0] == 1
    assert L.png_label_stats(s, b"not a png", None, codes, codes, codes)[0] == 1
    assert L.png_label_stats(s, b"", None, codes, codes, codes)[0] == 1


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_compare_segments_matches_numpy(seed, boxes):
    rng = np.random.default_rng(seed)
    png_ids = np.unique(rng.integers(0, 40, rng.integers(1, 12))).astype(np.uint32)
    m = png_ids.size
    png_area = rng.integers(1, 50, m).astype(np.int64)
    png_bbox = rng.integers(1, 6, (m, 4)).astype(np.int64)
    ids = rng.permutation(np.unique(rng.integers(1, 45, rng.integers(0, 12)))).astype(np.int64)
    n = ids.size
    where = {int(i): k for k, i in enumerate(png_ids.tolist())}
    area = np.array([png_area[where[i]] if i in where and rng.random() < 0.6 else rng.integers(0, 50)
                     for i in ids.tolist()], dtype=np.float64).reshape(n)
    area[rng.random(n) < 0.2] = np.nan
    bbox = np.array([png_bbox[where[i]] if i in where and rng.random() < 0.5 else rng.integers(0, 9, 4)
                     for i in ids.tolist()], dtype=np.float64).reshape(n, 4)
    for j, i in enumerate(ids.tolist()):
        if i in where and rng.random() < 0.3:   # the [x1, y1, x2, y2] mistake
            x, y, w, h = png_bbox[where[i]]
            bbox[j] = [x, y, x + w - 1, y + h - 1] if rng.random() < 0.5 else [x, y, x + w, y + h]
    bbox[rng.random(n) < 0.2] = np.nan
    got = S.compare_segments(png_ids, png_area, png_bbox, ids, area, bbox, boxes)
    want = twin_compare(png_ids, png_area, png_bbox, ids, area, bbox, boxes)
    for g, x in zip(got, want):
        np.testing.assert_array_equal(g, x)


def test_kernels_refuse_bad_arrays():
    with pytest.raises(TypeError):
        S.segment_stats(np.zeros((3, 3, 3), dtype=np.int16))
    with pytest.raises(TypeError):
        L.label_histogram(np.zeros((3, 3), dtype=np.int32))
    with pytest.raises(ValueError):
        L.pair_stats(np.zeros((3, 3), np.uint8), np.zeros((3, 4), np.uint8), *[np.zeros(65536, np.int32)] * 3)
    with pytest.raises(ValueError):
        L.pair_stats(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8), *[np.zeros(10, np.int32)] * 3)


def test_kernels_release_the_gil():
    """Four threads on one big image each: all finish (nogil sections; a smoke test, not timed)."""
    from concurrent.futures import ThreadPoolExecutor

    ids = _id_map(np.random.default_rng(3), 300, 400, 50, 5)
    rgb = to_rgb(ids)
    data = png_bytes(rgb)
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: S.png_segment_stats(Scratch(), data)[2], range(8)))
    for o in outs:
        for g, w in zip(o, twin_segment_stats(ids)):
            np.testing.assert_array_equal(g, w)
