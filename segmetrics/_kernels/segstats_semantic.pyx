# cython: language_level=3
"""Label-map statistics for ``segmetrics validate`` (nogil, so a thread pool scales).

* :func:`label_histogram`: pixel count of every value of an 8/16-bit label map.
* :func:`pair_stats`: one pass over a ground-truth / prediction pair that returns the
  GT histogram, the prediction histogram (all pixels and scored pixels only) and how
  many scored pixels each of two prediction readings gets right.
* :func:`png_label_stats`: the same counts straight from the PNG files, fused with the
  decoder: rows are inflated into the folder kernels' buffers, unfiltered one at a time
  (``folder.unfilter``) and walked run by run by the engine's row walker (``sm_walk.h``)
  with a sink of its own (raw values as codes; histograms and agreement counts).
"""
import numpy as np
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t

from segmetrics._kernels.folder cimport Scratch, unfilter
from segmetrics._kernels.png cimport png_header
from segmetrics._kernels.segstats cimport data_ptr, header_dict, open_png
from segmetrics._kernels.sm cimport SM_NO_SKIP, sm_next_change, sm_side, sm_walk

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


def _table(codes, str name):
    arr = np.ascontiguousarray(codes, dtype=np.int32)
    if arr.ndim != 1 or arr.shape[0] != 65536:
        raise ValueError(f"{name} must be a 1-D table of 65536 entries")
    return arr


# ----------------------------------------------------------------------------- decoded arrays
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


# ----------------------------------------------------------------------------- fused with the decoder
# Sides of the row walker whose "code" is the raw sample value (8-bit, 16-bit big-endian).
cdef inline int _raw_u8(sm_side *s, size_t e) noexcept nogil:
    s.code = s.x[e]
    return 0


cdef inline int _raw_be16(sm_side *s, size_t e) noexcept nogil:
    s.code = (<int32_t> s.x[2 * e] << 8) | s.x[2 * e + 1]
    return 0


cdef struct LabelSink:
    const int32_t *gc      # GT code table: class >= 0, -1 ignored, -2 bad
    const int32_t *pa      # the two prediction readings' code tables
    const int32_t *pb
    int64_t *gh            # GT histogram
    int64_t *phs           # histogram of predictions on scored pixels
    int64_t agree_a, agree_b


cdef inline int _label_emit(void *sink, int32_t g, int32_t p, size_t n) noexcept nogil:
    """n pixels of raw GT value g and raw prediction value p."""
    cdef LabelSink *k = <LabelSink *> sink
    cdef int32_t c = k.gc[g]
    k.gh[g] += n
    if c >= 0:
        k.phs[p] += n
        if k.pa[p] == c:
            k.agree_a += n
        if k.pb[p] == c:
            k.agree_b += n
    return 0


cdef inline void _walk_pair(sm_side *G, int gB, sm_side *P, int pB, size_t w, LabelSink *k) noexcept nogil:
    """One GT row and one prediction row (8- or 16-bit samples): every combination gets its
    own inlined walker."""
    if gB == 1:
        if pB == 1:
            sm_walk(G, _raw_u8, 1, P, _raw_u8, 1, w, SM_NO_SKIP, _label_emit, k)
        else:
            sm_walk(G, _raw_u8, 1, P, _raw_be16, 2, w, SM_NO_SKIP, _label_emit, k)
    elif pB == 1:
        sm_walk(G, _raw_be16, 2, P, _raw_u8, 1, w, SM_NO_SKIP, _label_emit, k)
    else:
        sm_walk(G, _raw_be16, 2, P, _raw_be16, 2, w, SM_NO_SKIP, _label_emit, k)


cdef inline void _walk_gt(const uint8_t *x, int B, size_t w, int64_t *gh) noexcept nogil:
    """One GT row alone: its histogram, run by run (the walker's change search)."""
    cdef size_t j = 0, e
    while j < w:
        if B == 1:
            e = sm_next_change(x, j + 1, w, w, 1)
            gh[x[j]] += e - j
        else:
            e = sm_next_change(x, j + 1, w, w, 2)
            gh[(<unsigned int> x[2 * j] << 8) | x[2 * j + 1]] += e - j
        j = e


cdef inline bint _single_channel(const png_header *hdr) noexcept nogil:
    """An 8/16-bit grey or 8-bit palette file: one sample per pixel, read raw."""
    return hdr.out_channels == 1 and (hdr.bit_depth == 8 or hdr.bit_depth == 16) and \
        (hdr.color_type == 0 or hdr.color_type == 3)


def png_label_stats(Scratch s, const uint8_t[::1] gt, pred, gt_codes, pred_codes_a, pred_codes_b):
    """Decode a GT label PNG (and a prediction PNG) and count them as :func:`pair_stats`
    (or :func:`label_histogram` for the GT alone) does, in one nogil pass, row by row.

    Parameters
    ----------
    s : segmetrics._kernels.folder.Scratch
        The calling thread's decode buffers.
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

    Notes
    -----
    NumPy twin: :func:`pair_stats` (or :func:`label_histogram`) of the decoded files
    (``tests/test_validate_kernels.py``).
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
        pp = data_ptr(pview)
        pn = pview.shape[0]
    cdef png_header gh, ph
    cdef int status
    cdef const uint8_t *gp = data_ptr(gt)
    cdef size_t gn = gt.shape[0]
    cdef sm_side G, P
    cdef LabelSink sink
    s.err[0] = 0
    with nogil:
        status = open_png(s, 0, gp, gn, &gh)
        if status == 0 and not _single_channel(&gh):
            status = 1
        if status == 0 and has_pred:
            status = open_png(s, 1, pp, pn, &ph)
            if status == 0 and (not _single_channel(&ph) or ph.width != gh.width or ph.height != gh.height):
                status = 1
    if status != 0:
        return 1, None, None, None, None, 0, 0
    gh_a = np.zeros(256 if gh.out_itemsize == 1 else 65536, dtype=np.int64)
    phs_a = np.zeros(256 if (not has_pred or ph.out_itemsize == 1) else 65536, dtype=np.int64)
    cdef int64_t[::1] ghv = gh_a, phsv = phs_a
    sink.gc, sink.pa, sink.pb = &gc[0], &pa[0], &pb[0]
    sink.gh, sink.phs = &ghv[0], &phsv[0]
    sink.agree_a = sink.agree_b = 0
    G.wsafe = P.wsafe = gh.width   # the buffers have readable slack after every row
    with nogil:
        for y in range(gh.height):
            G.x = unfilter(&gh, s.buf[0], y)
            if has_pred:
                P.x = unfilter(&ph, s.buf[1], y)
            if G.x == NULL or (has_pred and P.x == NULL):
                status = 1
                break
            if has_pred:
                _walk_pair(&G, gh.out_itemsize, &P, ph.out_itemsize, gh.width, &sink)
            else:
                _walk_gt(G.x, gh.out_itemsize, gh.width, sink.gh)
    if status != 0:
        return 1, None, None, None, None, 0, 0
    return (0, header_dict(&gh), (header_dict(&ph) if has_pred else None), gh_a, (phs_a if has_pred else None),
            int(sink.agree_a), int(sink.agree_b))
