# cython: language_level=3
"""Panoptic PNG statistics for ``segmetrics validate`` (nogil, so a thread pool scales).

* :func:`segment_stats`: area and bounding box of every segment id of a panoptic
  id map (RGB / RGBA bytes, id = R + 256 G + 256^2 B, or a uint32 id map).
* :func:`png_segment_stats`: the same straight from a PNG file, fused with the
  decoder: rows are inflated into the folder kernels' buffers, unfiltered one at a
  time (``folder.unfilter``) and reduced run by run, runs found by the row walker's
  change search (``sm_next_change`` of ``sm_walk.h``).
* :func:`compare_segments`: a PNG's statistics against its ``segments_info``.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport calloc, free, malloc

from segmetrics._kernels.folder cimport Scratch, unfilter
from segmetrics._kernels.png cimport png_header
from segmetrics._kernels.segstats cimport data_ptr, header_dict, open_png
from segmetrics._kernels.sm cimport sm_next_change, sm_safe_width

cnp.import_array()


# ----------------------------------------------------------------------------- segments
cdef struct Seg:
    uint32_t id
    int32_t x0, y0, x1, y1
    int64_t area


cdef struct Table:
    Seg *segs          # dense entries, in order of first appearance
    int64_t *slots     # open addressing: index into segs + 1, 0 = empty
    Py_ssize_t n, cap, mask


cdef inline uint32_t _mix(uint32_t k) noexcept nogil:
    k ^= k >> 16
    k *= 0x7feb352dU
    k ^= k >> 15
    k *= 0x846ca68bU
    k ^= k >> 16
    return k


cdef int _grow(Table *t) noexcept nogil:
    cdef Py_ssize_t cap = t.cap * 2, i, j
    cdef int64_t *slots = <int64_t *> calloc(cap * 2, sizeof(int64_t))
    cdef Seg *segs = <Seg *> malloc(cap * sizeof(Seg))
    if slots == NULL or segs == NULL:
        free(slots)
        free(segs)
        return -1
    for i in range(t.n):
        segs[i] = t.segs[i]
        j = _mix(segs[i].id) & (2 * cap - 1)
        while slots[j] != 0:
            j = (j + 1) & (2 * cap - 1)
        slots[j] = i + 1
    free(t.slots)
    free(t.segs)
    t.slots, t.segs, t.cap, t.mask = slots, segs, cap, 2 * cap - 1
    return 0


cdef inline Py_ssize_t _find(Table *t, uint32_t sid, int32_t y) noexcept nogil:
    """Index of ``sid`` in ``t.segs`` (a new entry when unseen), -1 when out of memory."""
    cdef Py_ssize_t j = _mix(sid) & t.mask
    cdef int64_t s
    while True:
        s = t.slots[j]
        if s == 0:
            break
        if t.segs[s - 1].id == sid:
            return s - 1
        j = (j + 1) & t.mask
    if t.n == t.cap:
        if _grow(t) < 0:
            return -1
        return _find(t, sid, y)
    t.segs[t.n].id = sid
    t.segs[t.n].x0 = 2147483647
    t.segs[t.n].x1 = -1
    t.segs[t.n].y0 = y
    t.segs[t.n].y1 = y
    t.segs[t.n].area = 0
    t.slots[j] = t.n + 1
    t.n += 1
    return t.n - 1


cdef inline uint32_t _pixel_id(const uint8_t *row, Py_ssize_t x, int ch) noexcept nogil:
    cdef const uint8_t *p = row + x * ch
    return p[0] | (<uint32_t> p[1] << 8) | (<uint32_t> p[2] << 16)


cdef inline size_t _run_end(const uint8_t *row, size_t x, size_t w, size_t wsafe, int ch) noexcept nogil:
    """The first pixel after ``x`` whose ``ch`` bytes differ from its left neighbour's (or
    ``w``): the row walker's change search, with a constant pixel width per branch."""
    if ch == 3:
        return sm_next_change(row, x + 1, w, wsafe, 3)
    return sm_next_change(row, x + 1, w, wsafe, 4)


cdef inline int _scan_row(const uint8_t *row, Py_ssize_t w, size_t wsafe, int ch, int32_t y, Table *t,
                          Py_ssize_t *k, uint32_t *last) noexcept nogil:
    """Add one row of colour bytes (id = R + 256 G + 256^2 B, ``ch`` 3 or 4 bytes a pixel)
    to the table, run by run.  ``k[0:2]`` / ``last[0:2]``: table entries of the two ids
    seen last (start with ``k = {-1, -1}``).  ``wsafe``: see ``sm_next_change``."""
    cdef Py_ssize_t x = 0, x_start
    cdef uint32_t sid
    while x < w:
        sid = _pixel_id(row, x, ch)
        x_start = x
        # a pixel whose id bytes differ ends the run (a differing alpha byte ends it
        # too: a new run, same id)
        x = <Py_ssize_t> _run_end(row, <size_t> x, <size_t> w, wsafe, ch)
        if sid != last[0] or k[0] < 0:
            if sid == last[1] and k[1] >= 0:   # rows often alternate between two segments
                k[0], k[1] = k[1], k[0]
                last[0], last[1] = last[1], last[0]
            else:
                k[1], last[1] = k[0], last[0]
                k[0] = _find(t, sid, y)
                if k[0] < 0:
                    return -1
                last[0] = sid
        _add_run(&t.segs[k[0]], <int32_t> x_start, <int32_t> (x - 1), y)
    return 0


cdef int _scan_rgb(const uint8_t *data, Py_ssize_t h, Py_ssize_t w, int ch, Table *t) noexcept nogil:
    """An (h, w, ch) array of colour bytes (no readable bytes after its end)."""
    cdef Py_ssize_t y
    cdef Py_ssize_t k[2]
    cdef uint32_t last[2]
    cdef size_t row_bytes = <size_t> w * ch
    k[0] = k[1] = -1
    last[0] = last[1] = 0
    for y in range(h):
        if _scan_row(data + y * row_bytes, w, sm_safe_width((h - y) * row_bytes, w, ch), ch, <int32_t> y,
                     t, k, last) < 0:
            return -1
    return 0


cdef int _scan_ids(const uint32_t *data, Py_ssize_t h, Py_ssize_t w, Table *t) noexcept nogil:
    """An (h, w) uint32 id map: runs of equal ids (4-byte pixels) per row."""
    cdef Py_ssize_t y, x, x_start, k = -1
    cdef uint32_t sid, last = 0
    cdef const uint32_t *row
    cdef size_t wsafe
    for y in range(h):
        row = data + y * w
        wsafe = sm_safe_width((h - y) * w * 4, w, 4)
        x = 0
        while x < w:
            sid = row[x]
            x_start = x
            x = <Py_ssize_t> sm_next_change(<const uint8_t *> row, x + 1, w, wsafe, 4)
            if sid != last or k < 0:
                k = _find(t, sid, <int32_t> y)
                if k < 0:
                    return -1
                last = sid
            _add_run(&t.segs[k], <int32_t> x_start, <int32_t> (x - 1), <int32_t> y)
    return 0


cdef inline void _add_run(Seg *s, int32_t x0, int32_t x1, int32_t y) noexcept nogil:
    s.area += x1 - x0 + 1
    if x0 < s.x0:
        s.x0 = x0
    if x1 > s.x1:
        s.x1 = x1
    s.y1 = y


def segment_stats(ids):
    """Area and bounding box of every segment id of a panoptic id map.

    Parameters
    ----------
    ids : numpy.ndarray
        (H, W, 3) or (H, W, 4) uint8 colour bytes (id = R + 256 G + 256^2 B; a
        fourth channel is not part of the id), or an (H, W) uint32 id map.

    Returns
    -------
    seg_ids : numpy.ndarray
        uint32, ascending, every id present (0 = void included).
    area : numpy.ndarray
        int64 pixel count of each id.
    bbox : numpy.ndarray
        int64 (n, 4): ``[x, y, w, h]`` of each id's pixels, COCO's convention
        (``w = x_max - x_min + 1``, ``h = y_max - y_min + 1``).

    Notes
    -----
    One pass over run-lengths of equal ids per row into an open-addressing hash
    table, without the GIL.  NumPy twin: ``np.unique(ids, return_counts=True)``
    for the areas and ``np.nonzero(ids == i)`` mins and maxes for each box.
    """
    if not isinstance(ids, np.ndarray):
        raise TypeError("ids must be a numpy array")
    cdef int ch
    cdef Py_ssize_t h, w
    if ids.ndim == 3 and ids.dtype == np.uint8 and ids.shape[2] in (3, 4):
        ch = ids.shape[2]
    elif ids.ndim == 2 and ids.dtype == np.uint32:
        ch = 0
    else:
        raise TypeError(f"ids must be (H, W, 3|4) uint8 or (H, W) uint32, got {ids.shape} {ids.dtype}")
    ids = np.ascontiguousarray(ids)
    h, w = ids.shape[0], ids.shape[1]
    cdef cnp.ndarray arr = ids
    cdef const uint8_t *p8 = <const uint8_t *> cnp.PyArray_DATA(arr)
    cdef const uint32_t *p32 = <const uint32_t *> cnp.PyArray_DATA(arr)
    cdef Table t
    cdef int status
    if _table_init(&t) < 0:
        raise MemoryError()
    try:
        with nogil:
            if ch:
                status = _scan_rgb(p8, h, w, ch, &t)
            else:
                status = _scan_ids(p32, h, w, &t)
        if status < 0:
            raise MemoryError()
        return _table_result(&t)
    finally:
        _table_free(&t)


cdef int _table_init(Table *t) noexcept nogil:
    t.cap = 64
    t.mask = 2 * t.cap - 1
    t.n = 0
    t.segs = <Seg *> malloc(t.cap * sizeof(Seg))
    t.slots = <int64_t *> calloc(2 * t.cap, sizeof(int64_t))
    if t.segs == NULL or t.slots == NULL:
        _table_free(t)
        return -1
    return 0


cdef void _table_free(Table *t) noexcept nogil:
    free(t.segs)
    free(t.slots)
    t.segs = NULL
    t.slots = NULL


cdef tuple _table_result(Table *t):
    """(ids ascending, area, bbox) of a filled table."""
    seg_ids = np.empty(t.n, dtype=np.uint32)
    area = np.empty(t.n, dtype=np.int64)
    bbox = np.empty((t.n, 4), dtype=np.int64)
    _copy_out(t, seg_ids, area, bbox)
    order = np.argsort(seg_ids, kind="stable")
    return seg_ids[order], area[order], bbox[order]


cdef void _copy_out(Table *t, uint32_t[::1] seg_ids, int64_t[::1] area, int64_t[:, ::1] bbox) noexcept:
    cdef Py_ssize_t i
    for i in range(t.n):
        seg_ids[i] = t.segs[i].id
        area[i] = t.segs[i].area
        bbox[i, 0] = t.segs[i].x0
        bbox[i, 1] = t.segs[i].y0
        bbox[i, 2] = t.segs[i].x1 - t.segs[i].x0 + 1
        bbox[i, 3] = t.segs[i].y1 - t.segs[i].y0 + 1


# ----------------------------------------------------------------------------- fused with the decoder
def png_segment_stats(Scratch s, const uint8_t[::1] data):
    """Decode a panoptic RGB / RGBA PNG and reduce it as :func:`segment_stats` does, in one
    nogil pass (rows unfiltered and scanned one at a time, buffers reused).

    Parameters
    ----------
    s : segmetrics._kernels.folder.Scratch
        The calling thread's decode buffers.
    data : bytes-like
        The file.

    Returns
    -------
    status : int
        0 done; 1 the file needs the Python decoder (interlaced, unusual layout, or a
        decoding error it words); -1 corrupt (``s.message``).
    header : dict or None
        ``width``, ``height``, ``bit_depth``, ``color_type`` (status 0).
    stats : tuple or None
        ``(ids, area, bbox)`` as :func:`segment_stats` returns them; None for a file
        that is not 8-bit RGB / RGBA (its header tells what it is).
    alpha_opaque : bool
        RGBA: every alpha byte is 255.
    """
    cdef png_header hdr
    cdef const uint8_t *p = data_ptr(data)
    cdef size_t n = data.shape[0], y
    cdef int status = 0, ch = 0, scanned = 0
    cdef bint opaque = True
    cdef Py_ssize_t x
    cdef Py_ssize_t k[2]
    cdef uint32_t last[2]
    cdef uint8_t *row
    cdef Table t
    s.err[0] = 0
    k[0] = k[1] = -1
    last[0] = last[1] = 0
    if _table_init(&t) < 0:
        raise MemoryError()
    try:
        with nogil:
            status = open_png(s, 0, p, n, &hdr)
            if status == 0 and hdr.bit_depth == 8 and (hdr.color_type == 2 or hdr.color_type == 6):
                ch = hdr.out_channels
                scanned = 1
                for y in range(hdr.height):
                    row = unfilter(&hdr, s.buf[0], y)
                    if row == NULL:
                        status = 1
                        break
                    if _scan_row(row, hdr.width, hdr.width, ch, <int32_t> y, &t, k, last) < 0:
                        status = -2
                        break
                    if ch == 4 and opaque:
                        for x in range(<Py_ssize_t> hdr.width):
                            if row[4 * x + 3] != 255:
                                opaque = False
                                break
        if status == -2:
            raise MemoryError()
        if status != 0:
            return status, None, None, False
        return 0, header_dict(&hdr), (_table_result(&t) if scanned else None), bool(opaque and ch == 4)
    finally:
        _table_free(&t)


# ----------------------------------------------------------------------------- listed vs PNG
#: Flags of :func:`compare_segments`, per listed segment.
cdef enum:
    F_NO_PIXELS = 1
    F_STALE_AREA = 2
    F_STALE_BBOX = 4
    F_BBOX_XYXY = 8

NO_PIXELS = F_NO_PIXELS
STALE_AREA = F_STALE_AREA
STALE_BBOX = F_STALE_BBOX
BBOX_XYXY = F_BBOX_XYXY


def compare_segments(png_ids, png_area, png_bbox, ids, area, bbox, bint boxes=True):
    """Compare a PNG's segment statistics with its ``segments_info``.

    Parameters
    ----------
    png_ids, png_area, png_bbox : numpy.ndarray
        What :func:`segment_stats` returned (ids ascending, 0 = void included).
    ids : numpy.ndarray
        int64 listed segment ids (listing order, unique).
    area : numpy.ndarray
        float64 listed areas, NaN where absent.
    bbox : numpy.ndarray
        float64 (n, 4) listed boxes ``[x, y, w, h]``, NaN rows where absent.
    boxes : bool
        Compare boxes too.

    Returns
    -------
    flags : numpy.ndarray
        uint8 per listed segment: ``NO_PIXELS`` (no pixel carries its id),
        ``STALE_AREA`` (area given and not the pixel count; only with pixels),
        ``STALE_BBOX`` (box given and not the pixels' box; only with pixels),
        ``BBOX_XYXY`` (a stale box equal to ``[x1, y1, x2, y2]``, corners inclusive
        or exclusive, for a segment wider or taller than one pixel).
    pixel_area : numpy.ndarray
        int64 pixel count of each listed segment (0 without pixels).
    pixel_bbox : numpy.ndarray
        int64 (n, 4) box of each listed segment (zeros without pixels).
    unlisted : numpy.ndarray
        bool per PNG id: a non-zero id that is not listed.
    n_unlisted : int

    Notes
    -----
    NumPy twin: ``np.searchsorted(png_ids, ids)`` to find each listed id, then
    elementwise comparisons; see ``tests/test_validate_kernels.py``.
    """
    cdef const uint32_t[::1] pid = np.ascontiguousarray(png_ids, dtype=np.uint32)
    cdef const int64_t[::1] parea = np.ascontiguousarray(png_area, dtype=np.int64)
    cdef const int64_t[:, ::1] pbox = np.ascontiguousarray(png_bbox, dtype=np.int64).reshape(-1, 4)
    cdef const int64_t[::1] lid = np.ascontiguousarray(ids, dtype=np.int64)
    cdef const double[::1] larea = np.ascontiguousarray(area, dtype=np.float64)
    cdef const double[:, ::1] lbox = np.ascontiguousarray(bbox, dtype=np.float64).reshape(-1, 4)
    cdef Py_ssize_t n = lid.shape[0], m = pid.shape[0], j, k, lo, hi, mid
    if parea.shape[0] != m or pbox.shape[0] != m or larea.shape[0] != n or lbox.shape[0] != n:
        raise ValueError("array lengths do not match")
    flags_a = np.zeros(n, dtype=np.uint8)
    out_area_a = np.zeros(n, dtype=np.int64)
    out_box_a = np.zeros((n, 4), dtype=np.int64)
    unlisted_a = (np.asarray(pid) != 0)
    cdef uint8_t[::1] flags = flags_a
    cdef int64_t[::1] out_area = out_area_a
    cdef int64_t[:, ::1] out_box = out_box_a
    cdef uint8_t[::1] unlisted = unlisted_a.view(np.uint8)
    cdef int64_t n_unlisted = 0, a
    cdef int64_t x0, y0, w, h
    cdef double bx0, by0, bw, bh
    with nogil:
        for j in range(n):
            lo, hi = 0, m
            while lo < hi:
                mid = (lo + hi) >> 1
                if <int64_t> pid[mid] < lid[j]:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == m or <int64_t> pid[lo] != lid[j] or lid[j] == 0:
                flags[j] = F_NO_PIXELS
                continue
            k = lo
            unlisted[k] = 0
            a = parea[k]
            out_area[j] = a
            x0, y0, w, h = pbox[k, 0], pbox[k, 1], pbox[k, 2], pbox[k, 3]
            out_box[j, 0], out_box[j, 1], out_box[j, 2], out_box[j, 3] = x0, y0, w, h
            if larea[j] == larea[j] and larea[j] != <double> a:
                flags[j] |= F_STALE_AREA
            if not boxes:
                continue
            bx0, by0, bw, bh = lbox[j, 0], lbox[j, 1], lbox[j, 2], lbox[j, 3]
            if bx0 != bx0 or by0 != by0 or bw != bw or bh != bh:
                continue
            if bx0 != x0 or by0 != y0 or bw != w or bh != h:
                flags[j] |= F_STALE_BBOX
                if (w > 1 or h > 1) and bx0 == x0 and by0 == y0 and (
                        (bw == x0 + w - 1 and bh == y0 + h - 1) or (bw == x0 + w and bh == y0 + h)):
                    flags[j] |= F_BBOX_XYXY
        for k in range(m):
            n_unlisted += unlisted[k]
    return flags_a, out_area_a, out_box_a, unlisted_a, int(n_unlisted)
