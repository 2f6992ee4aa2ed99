# cython: language_level=3
"""Per-file statistics for ``segmetrics validate`` (nogil, so a thread pool scales).

* :func:`label_histogram`: pixel count of every value of an 8/16-bit label map.
* :func:`pair_stats`: one pass over a ground-truth / prediction pair that returns the
  GT histogram, the prediction histogram (all pixels and scored pixels only) and how
  many scored pixels each of two prediction readings gets right.
* :func:`segment_stats`: area and bounding box of every segment id of a panoptic
  id map (RGB / RGBA bytes, id = R + 256 G + 256^2 B, or a uint32 id map).
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

from segmetrics._kernels.png cimport png_header, png_inflate, png_read_header, png_unfilter_row

cnp.import_array()

ctypedef fused gt_t:
    uint8_t
    uint16_t

ctypedef fused pred_t:
    uint8_t
    uint16_t

ctypedef fused label_t:
    uint8_t
    uint16_t


cdef inline Py_ssize_t _bins(object dtype):
    return 256 if dtype == np.uint8 else 65536


def _check_2d(arr, str name):
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"{name} must be a 2-D uint8 or uint16 array")
    return np.ascontiguousarray(arr)


def label_histogram(arr):
    """Pixel count of every value of a 2-D uint8 / uint16 label map.

    Parameters
    ----------
    arr : numpy.ndarray
        (H, W) uint8 or uint16.

    Returns
    -------
    numpy.ndarray
        int64 of length 256 (uint8) or 65536 (uint16): ``hist[v]`` pixels equal ``v``.

    Notes
    -----
    The NumPy twin is ``np.bincount(arr.ravel(), minlength=256 or 65536)``.
    """
    arr = _check_2d(arr, "arr")
    hist = np.zeros(_bins(arr.dtype), dtype=np.int64)
    cdef int64_t[::1] hv = hist
    cdef uint8_t[:, ::1] a8
    cdef uint16_t[:, ::1] a16
    if arr.dtype == np.uint8:
        a8 = arr
        with nogil:
            _hist(a8, hv)
    else:
        a16 = arr
        with nogil:
            _hist(a16, hv)
    return hist


cdef void _hist(label_t[:, ::1] a, int64_t[::1] hist) noexcept nogil:
    cdef Py_ssize_t y, x
    for y in range(a.shape[0]):
        for x in range(a.shape[1]):
            hist[a[y, x]] += 1


def pair_stats(gt, pred, gt_codes, pred_codes_a, pred_codes_b):
    """Histograms and agreement counts of a ground-truth / prediction pair.

    Parameters
    ----------
    gt, pred : numpy.ndarray
        (H, W) uint8 or uint16 label maps of the same shape.
    gt_codes : numpy.ndarray
        int32 table of 65536 entries: class of each raw GT value (>= 0), -1 ignored,
        -2 not allowed.  A pixel is *scored* when its code is >= 0.
    pred_codes_a, pred_codes_b : numpy.ndarray
        int32 tables of 65536 entries: the class of each raw prediction value under
        two readings (e.g. "class index" and "like the GT files"); anything < 0
        never agrees.

    Returns
    -------
    gt_hist, pred_hist, pred_hist_scored : numpy.ndarray
        int64 histograms (256 or 65536 bins by dtype) of the GT values, of the
        prediction values, and of the prediction values on scored pixels.
    agree_a, agree_b : int
        Scored pixels where ``pred_codes_a[pred] == gt_codes[gt]`` (resp. ``_b``).

    Notes
    -----
    NumPy twin: ``scored = gt_codes[gt] >= 0``;
    ``agree_a = ((pred_codes_a[pred] == gt_codes[gt]) & scored).sum()``; the
    histograms are ``np.bincount`` of ``gt``, ``pred`` and ``pred[scored]``.
    """
    gt = _check_2d(gt, "gt")
    pred = _check_2d(pred, "pred")
    if gt.shape[0] != pred.shape[0] or gt.shape[1] != pred.shape[1]:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} differ in shape")
    cdef int32_t[::1] gc = _table(gt_codes, "gt_codes")
    cdef int32_t[::1] pa = _table(pred_codes_a, "pred_codes_a")
    cdef int32_t[::1] pb = _table(pred_codes_b, "pred_codes_b")
    gh = np.zeros(_bins(gt.dtype), dtype=np.int64)
    ph = np.zeros(_bins(pred.dtype), dtype=np.int64)
    phs = np.zeros(_bins(pred.dtype), dtype=np.int64)
    cdef int64_t[::1] ghv = gh, phv = ph, phsv = phs
    cdef int64_t agree[2]
    cdef uint8_t[:, ::1] g8, p8
    cdef uint16_t[:, ::1] g16, p16
    cdef bint gsmall = gt.dtype == np.uint8, psmall = pred.dtype == np.uint8
    agree[0] = 0
    agree[1] = 0
    if gsmall:
        g8 = gt
    else:
        g16 = gt
    if psmall:
        p8 = pred
    else:
        p16 = pred
    with nogil:
        if gsmall and psmall:
            _pair(g8, p8, gc, pa, pb, ghv, phv, phsv, agree)
        elif gsmall:
            _pair(g8, p16, gc, pa, pb, ghv, phv, phsv, agree)
        elif psmall:
            _pair(g16, p8, gc, pa, pb, ghv, phv, phsv, agree)
        else:
            _pair(g16, p16, gc, pa, pb, ghv, phv, phsv, agree)
    return gh, ph, phs, int(agree[0]), int(agree[1])


def _table(codes, str name):
    arr = np.ascontiguousarray(codes, dtype=np.int32)
    if arr.ndim != 1 or arr.shape[0] != 65536:
        raise ValueError(f"{name} must be a 1-D table of 65536 entries")
    return arr


cdef void _pair(gt_t[:, ::1] g, pred_t[:, ::1] p, const int32_t[::1] gc, const int32_t[::1] pa,
                const int32_t[::1] pb, int64_t[::1] gh, int64_t[::1] ph, int64_t[::1] phs,
                int64_t *agree) noexcept nogil:
    cdef Py_ssize_t y, x
    cdef int32_t c
    cdef int64_t na = 0, nb = 0
    cdef unsigned int gv, pv
    for y in range(g.shape[0]):
        for x in range(g.shape[1]):
            gv = g[y, x]
            pv = p[y, x]
            gh[gv] += 1
            ph[pv] += 1
            c = gc[gv]
            if c >= 0:
                phs[pv] += 1
                na += pa[pv] == c
                nb += pb[pv] == c
    agree[0] = na
    agree[1] = nb


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


cdef extern from "segstats_runs.h":
    size_t _run_end "segstats_run_end" (const uint8_t *row, size_t nbytes, size_t i, size_t ch) noexcept nogil


cdef inline int _scan_row(const uint8_t *row, Py_ssize_t w, int ch, int32_t y, Table *t,
                          Py_ssize_t *k, uint32_t *last) noexcept nogil:
    """Add one row of colour bytes (id = R + 256 G + 256^2 B, ``ch`` 3 or 4 bytes a pixel)
    to the table, run by run.  ``k[0:2]`` / ``last[0:2]``: table entries of the two ids
    seen last (start with ``k = {-1, -1}``)."""
    cdef Py_ssize_t x = 0, x_start
    cdef uint32_t sid
    cdef size_t nbytes = <size_t> w * ch, e
    while x < w:
        sid = _pixel_id(row, x, ch)
        x_start = x
        # bytes of pixel x + 1 onwards that repeat pixel x; a pixel whose id bytes
        # differ ends the run (a differing alpha byte ends it too: a new run, same id)
        e = _run_end(row, nbytes, <size_t> (x + 1) * ch, ch)
        x = <Py_ssize_t> (e // 3 if ch == 3 else e >> 2)   # constant divisors
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
    cdef Py_ssize_t y
    cdef Py_ssize_t k[2]
    cdef uint32_t last[2]
    k[0] = k[1] = -1
    last[0] = last[1] = 0
    for y in range(h):
        if _scan_row(data + y * w * ch, w, ch, <int32_t> y, t, k, last) < 0:
            return -1
    return 0


cdef int _scan_ids(const uint32_t *data, Py_ssize_t h, Py_ssize_t w, Table *t) noexcept nogil:
    cdef Py_ssize_t y, x, x_start, k = -1
    cdef uint32_t sid, last = 0
    cdef const uint32_t *row
    for y in range(h):
        row = data + y * w
        x = 0
        while x < w:
            sid = row[x]
            x_start = x
            x += 1
            while x < w and row[x] == sid:
                x += 1
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
cdef class Scratch:
    """Per-thread inflate buffers reused from file to file (never share one between threads)."""

    cdef uint8_t *buf[2]
    cdef size_t cap[2]
    cdef char err[200]

    def __cinit__(self):
        self.buf[0] = self.buf[1] = NULL
        self.cap[0] = self.cap[1] = 0
        self.err[0] = 0

    def __dealloc__(self):
        free(self.buf[0])
        free(self.buf[1])

    @property
    def message(self) -> str:
        """Why the last call gave up (empty when it did not)."""
        return (<char *> self.err).decode("ascii", "replace")

    cdef uint8_t *grow(self, int i, size_t n) noexcept nogil:
        cdef uint8_t *p
        if n > self.cap[i]:
            p = <uint8_t *> malloc(n)
            if p == NULL:
                return NULL
            free(self.buf[i])
            self.buf[i] = p
            self.cap[i] = n
        return self.buf[i]


cdef inline uint8_t *_unfilter(const png_header *hdr, uint8_t *raw, size_t y) noexcept nogil:
    """Unfilter row y of inflated data in place (rows above already done); NULL on a bad filter."""
    cdef size_t stride = hdr.row_bytes + 1
    cdef uint8_t *row = raw + y * stride
    cdef const uint8_t *prev = row - stride + 1 if y > 0 else NULL
    if png_unfilter_row(hdr.bpp, row[0], row + 1, prev, row + 1, hdr.row_bytes) != 0:
        return NULL
    return row + 1


cdef inline const uint8_t *_ptr(const uint8_t[::1] data) noexcept nogil:
    return &data[0] if data.shape[0] else NULL


cdef int _open(Scratch s, int i, const uint8_t *data, size_t size, png_header *hdr) noexcept nogil:
    """Parse a file and inflate it into buffer i: 0 done, 1 leave it to the Python decoder
    (interlaced, sub-byte samples, or an error it words precisely), -1 corrupt (``s.err``)."""
    cdef int status
    if data == NULL:
        memcpy(s.err, b"empty file", 11)
        return -1
    status = png_read_header(data, size, hdr, s.err, sizeof(s.err))
    if status != 0:
        return status
    if s.grow(i, hdr.raw_bytes) == NULL:
        memcpy(s.err, b"out of memory", 14)
        return -1
    if png_inflate(data, size, hdr, s.buf[i], hdr.raw_bytes, s.err, sizeof(s.err)) != 0:
        return 1
    return 0


cdef dict _header_dict(const png_header *hdr):
    return {"width": hdr.width, "height": hdr.height, "bit_depth": hdr.bit_depth, "color_type": hdr.color_type}


def png_segment_stats(Scratch s, const uint8_t[::1] data):
    """Decode a panoptic RGB / RGBA PNG and reduce it as :func:`segment_stats` does, in one
    nogil pass (rows unfiltered and scanned one at a time, buffers reused).

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
    cdef const uint8_t *p = _ptr(data)
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
            status = _open(s, 0, p, n, &hdr)
            if status == 0 and hdr.bit_depth == 8 and (hdr.color_type == 2 or hdr.color_type == 6):
                ch = hdr.out_channels
                scanned = 1
                for y in range(hdr.height):
                    row = _unfilter(&hdr, s.buf[0], y)
                    if row == NULL:
                        status = 1
                        break
                    if _scan_row(row, hdr.width, ch, <int32_t> y, &t, k, last) < 0:
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
        return 0, _header_dict(&hdr), (_table_result(&t) if scanned else None), bool(opaque and ch == 4)
    finally:
        _table_free(&t)


cdef inline bint _single_channel(const png_header *hdr) noexcept nogil:
    """An 8/16-bit grey or 8-bit palette file: one sample per pixel, read raw."""
    return hdr.out_channels == 1 and (hdr.bit_depth == 8 or hdr.bit_depth == 16) and \
        (hdr.color_type == 0 or hdr.color_type == 3)


cdef inline unsigned int _value(const uint8_t *row, size_t x, int isz) noexcept nogil:
    return row[x] if isz == 1 else ((<unsigned int> row[2 * x] << 8) | row[2 * x + 1])


cdef inline size_t _next_change(const uint8_t *row, size_t x, size_t w, int isz) noexcept nogil:
    """First pixel at or after ``x`` whose value differs from pixel ``x - 1`` (or ``w``)."""
    return _run_end(row, w * isz, x * isz, isz) // isz if isz == 2 else _run_end(row, w, x, 1)


cdef void _label_row(const uint8_t *g, int gsz, const uint8_t *p, int psz, size_t w,
                     const int32_t *gc, const int32_t *pa, const int32_t *pb,
                     int64_t *gh, int64_t *phs, int64_t *agree) noexcept nogil:
    """One row, run by run: GT histogram, and with a prediction row the histogram of
    predictions on scored pixels and the two agreement counts."""
    cdef size_t j = 0, e, ng, np_ = w + 1, n
    cdef unsigned int gv = _value(g, 0, gsz), pv = 0
    cdef int32_t c
    ng = _next_change(g, 1, w, gsz)
    if p != NULL:
        pv = _value(p, 0, psz)
        np_ = _next_change(p, 1, w, psz)
    while True:
        e = ng if ng < np_ else np_
        n = e - j
        gh[gv] += n
        c = gc[gv]
        if p != NULL and c >= 0:
            phs[pv] += n
            if pa[pv] == c:
                agree[0] += n
            if pb[pv] == c:
                agree[1] += n
        if e >= w:
            break
        if e == ng:
            gv = _value(g, e, gsz)
            ng = _next_change(g, e + 1, w, gsz)
        if e == np_:
            pv = _value(p, e, psz)
            np_ = _next_change(p, e + 1, w, psz)
        j = e


def png_label_stats(Scratch s, const uint8_t[::1] gt, pred, gt_codes, pred_codes_a, pred_codes_b):
    """Decode a GT label PNG (and a prediction PNG) and count them as :func:`pair_stats`
    (or :func:`label_histogram` for the GT alone) does, in one nogil pass, row by row.

    Parameters
    ----------
    s : Scratch
    gt : bytes-like
        The GT file.
    pred : bytes-like or None
        The prediction file.
    gt_codes, pred_codes_a, pred_codes_b : numpy.ndarray
        As for :func:`pair_stats` (65536 int32 entries each).

    Returns
    -------
    status : int
        0 counted; 1 leave the pair to the Python path (a file that is not a plain
        8/16-bit single-channel PNG, sizes that differ, a corrupt file: the Python
        path words each case).
    gt_header, pred_header : dict or None
        ``width``, ``height``, ``bit_depth``, ``color_type`` of each file (status 0).
    gt_hist, pred_hist_scored : numpy.ndarray or None
        As :func:`pair_stats` returns them (``pred_hist_scored`` None without a prediction).
    agree_a, agree_b : int
    """
    cdef int32_t[::1] gc = _table(gt_codes, "gt_codes")
    cdef int32_t[::1] pa = _table(pred_codes_a, "pred_codes_a")
    cdef int32_t[::1] pb = _table(pred_codes_b, "pred_codes_b")
    cdef const uint8_t[::1] pview
    cdef const uint8_t *pp = NULL
    cdef size_t pn = 0, y
    cdef bint has_pred = pred is not None
    if has_pred:
        pview = pred
        pp = _ptr(pview)
        pn = pview.shape[0]
    cdef png_header gh, ph
    cdef int status
    cdef const uint8_t *gp = _ptr(gt)
    cdef size_t gn = gt.shape[0]
    cdef int64_t agree[2]
    cdef uint8_t *grow_
    cdef uint8_t *prow = NULL
    agree[0] = agree[1] = 0
    s.err[0] = 0
    with nogil:
        status = _open(s, 0, gp, gn, &gh)
        if status == 0 and not _single_channel(&gh):
            status = 1
        if status == 0 and has_pred:
            status = _open(s, 1, pp, pn, &ph)
            if status == 0 and (not _single_channel(&ph) or ph.width != gh.width or ph.height != gh.height):
                status = 1
    if status != 0:
        return 1, None, None, None, None, 0, 0
    gh_a = np.zeros(256 if gh.out_itemsize == 1 else 65536, dtype=np.int64)
    phs_a = np.zeros(256 if (not has_pred or ph.out_itemsize == 1) else 65536, dtype=np.int64)
    cdef int64_t[::1] ghv = gh_a, phsv = phs_a
    with nogil:
        for y in range(gh.height):
            grow_ = _unfilter(&gh, s.buf[0], y)
            if has_pred:
                prow = _unfilter(&ph, s.buf[1], y)
            if grow_ == NULL or (has_pred and prow == NULL):
                status = 1
                break
            _label_row(grow_, gh.out_itemsize, prow, ph.out_itemsize if has_pred else 1, gh.width,
                       &gc[0], &pa[0], &pb[0], &ghv[0], &phsv[0], agree)
    if status != 0:
        return 1, None, None, None, None, 0, 0
    return (0, _header_dict(&gh), (_header_dict(&ph) if has_pred else None), gh_a, (phs_a if has_pred else None),
            int(agree[0]), int(agree[1]))


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
