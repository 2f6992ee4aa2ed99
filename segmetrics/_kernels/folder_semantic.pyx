# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Semantic folder kernels: decode two label PNGs and add their confusion matrix, in one
nogil call (see :mod:`segmetrics._kernels.folder` for the status codes).

Codes: the ground-truth table maps a raw value (0..65535) to a class, ``-1``
(ignored: counts nowhere, and the prediction is not looked at) or ``-2`` (bad
label); the prediction table to a class or ``-2``.  Optionally the image's own
TP / FP / FN vectors are added to as well (per-image records).

Boundary IoU (``band``, a :class:`~segmetrics._kernels.boundary.BandWork`): the same
row walk also builds both maps' runs of codes (the prediction is then read under
ignored ground truth too: its band is that of its whole map); after the last row the
band pass adds the image's interior counts to ``interior`` (rows ``gt_in``,
``pred_in``, ``both_in`` of ``bd_semantic_interior``).

:class:`SemanticBatch` holds the file paths of a run: its :meth:`~SemanticBatch.run`
reads the files itself (POSIX), hashes each GT file (the run's fingerprint) and
counts every pair it can, taking images from a shared
:class:`~segmetrics._kernels.folder.WorkCounter`, so a thread makes one nogil call
for a whole run; the images it leaves (status not 0) go the per-image way.

Large images (no band, no recording) hold one inflated image at a time
(:func:`_count_files`): the GT is kept as its rows' changes from the row above while the
prediction is inflated into the buffer that held it.

:func:`sample_pair` reads the strided sample of one pair that ``pred_labels="auto"``
decides on, on the same buffers.
"""
from libc.math cimport pow
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

import numpy as np

from segmetrics._kernels.boundary cimport BandWork, BdBuild, bd_build_piece, bd_build_row_end
from segmetrics._kernels.folder cimport (
    OK, PATH_BUF, REFERENCE, SLACK, FilePairs, Scratch, WorkCounter, sha256_parts, unfilter,
)
from segmetrics._kernels.png cimport png_header
from segmetrics._kernels.sm cimport (
    SM_DBLOCK, SM_NO_SKIP, sm_pt_pool_clean, sm_rec, sm_rec_flush, sm_row_diff, sm_row_diff_load,
    sm_row_diff_select, sm_row_diff_store, sm_sem_be16, sm_sem_emit_more, sm_sem_lut, sm_sem_pairs_begin,
    sm_sem_pairs_end, sm_sem_runs, sm_sem_sink, sm_sem_u8, sm_side, sm_walk, sm_walk_sem,
)

cdef uint8_t _EMPTY[64]
# the row compare is chosen once, here, before any worker thread runs
sm_row_diff_select(1)


cdef struct _BandSink:
    sm_sem_sink *sem
    BdBuild *b


cdef inline int _band_emit(void *sink, int32_t g, int32_t p, size_t n) noexcept nogil:
    cdef _BandSink *s = <_BandSink *>sink
    if bd_build_piece(s.b, g, p, n) != 0:
        return -1
    return sm_sem_emit_more(s.sem, g, p, n)


cdef inline int _walk_band(sm_side *G, int gB, sm_side *P, int pB, size_t w, sm_sem_sink *sem, BandWork band) noexcept nogil:
    """One row pair counted into sem, both rows' runs built in band (nothing skipped); 0 or -1
    (out of memory)."""
    cdef _BandSink sk
    cdef int ret
    sk.sem = sem
    sk.b = &band.b
    if gB == 0:
        if pB == 1:
            ret = sm_walk(G, sm_sem_runs, 0, P, sm_sem_u8, 1, w, SM_NO_SKIP, _band_emit, &sk)
        else:
            ret = sm_walk(G, sm_sem_runs, 0, P, sm_sem_be16, 2, w, SM_NO_SKIP, _band_emit, &sk)
    elif gB == 1:
        if pB == 1:
            ret = sm_walk(G, sm_sem_u8, 1, P, sm_sem_u8, 1, w, SM_NO_SKIP, _band_emit, &sk)
        else:
            ret = sm_walk(G, sm_sem_u8, 1, P, sm_sem_be16, 2, w, SM_NO_SKIP, _band_emit, &sk)
    elif pB == 1:
        ret = sm_walk(G, sm_sem_be16, 2, P, sm_sem_u8, 1, w, SM_NO_SKIP, _band_emit, &sk)
    else:
        ret = sm_walk(G, sm_sem_be16, 2, P, sm_sem_be16, 2, w, SM_NO_SKIP, _band_emit, &sk)
    if ret != 0 or bd_build_row_end(&band.b) != 0:
        return -1
    return 0


cdef int _band_end(Scratch s, int status, BandWork band, int64_t *interior, Py_ssize_t k) noexcept nogil:
    """The band pass of a fully counted image: interiors added to interior (3 x k)."""
    if status != OK or band is None:
        return status
    if band.semantic(interior, interior + k, interior + 2 * k) != 0:
        return s.seterr(b"out of memory")
    return OK


cdef struct _Delta:
    # a GT image as its rows' changes from the row above (sm_row_diff): the row put back, the
    # rows' block bits (nw words a row), the changed blocks, the next block to put back
    uint8_t *row
    uint64_t *words
    uint8_t *blocks
    const uint8_t *at
    size_t nw


cdef enum:
    # the one-buffer path (_count_files) takes GT images of this many inflated bytes or more ...
    ONE_BUFFER_MIN = 1 << 20
    # ... while their changed blocks take at most this share of the buffer (raw_bytes / 8)
    DELTA_SHARE = 8


cdef struct _DeltaLayout:
    # the one-buffer path's area in the scratch's runs area, for a GT of given rows: the row
    # buffer (rbytes), the rows' block bits (nw words a row, wbytes in all), then the changed
    # blocks (at most limit bytes, and one row's blocks past it); room: the whole, in the
    # area's uint16 pairs, 0 when the path is not taken
    size_t nw
    size_t rbytes
    size_t wbytes
    size_t limit
    size_t room


cdef inline _DeltaLayout _delta_layout(size_t row_bytes, size_t height, size_t raw_bytes) noexcept nogil:
    """The one-buffer path's layout for a GT of these rows; ``room`` 0 when the path is not taken:
    a GT under ONE_BUFFER_MIN inflated bytes, or one whose row buffer, block bits and changed
    blocks would need more than a quarter of the buffer the path saves (narrow or single-row
    images, where a bit word a row or the one row buffer is not small)."""
    cdef _DeltaLayout L
    cdef size_t nb = (row_bytes + SM_DBLOCK - 1) // SM_DBLOCK
    cdef size_t need
    L.nw = (nb + 63) // 64
    L.rbytes = (row_bytes + SM_DBLOCK + SLACK + 63) & ~(<size_t>63)
    L.wbytes = height * L.nw * 8
    L.limit = raw_bytes // DELTA_SHARE
    need = L.rbytes + L.wbytes + L.limit + nb * SM_DBLOCK
    L.room = 0 if raw_bytes < ONE_BUFFER_MIN or need > raw_bytes // 4 else (need + 3) // 4
    return L


def _one_buffer_room(Py_ssize_t width, Py_ssize_t height, int itemsize=1):
    """Tests: the bytes the one-buffer path keeps for a GT of this size (8-bit samples, or
    16-bit with itemsize 2), 0 when such a GT is counted with two buffers."""
    cdef size_t row = <size_t>width * itemsize
    return 4 * _delta_layout(row, <size_t>height, <size_t>height * (row + 1)).room


cdef inline void _delta_start(_Delta *d, const png_header *gh) noexcept nogil:
    """Back to row 0 (put back over zeros)."""
    memset(d.row, 0, gh.row_bytes + SM_DBLOCK)
    d.at = d.blocks


cdef inline const uint8_t *_delta_row(_Delta *d, const png_header *gh, size_t y) noexcept nogil:
    """GT row y (the rows above it put back before it, in order)."""
    d.at = sm_row_diff_load(d.row, gh.row_bytes, d.words + y * d.nw, d.at)
    return d.row


cdef int _pair_rows(Scratch s, const png_header *gh, const png_header *ph, const sm_sem_lut *glut,
                    const sm_sem_lut *plut, sm_sem_sink *sink, bint record, BandWork band,
                    size_t gt_done, _Delta *d) noexcept nogil:
    """Every row pair of two opened files; the status.  GT rows in buffer 0 (the first gt_done
    unfiltered already) and prediction rows in buffer 1; or (d not NULL) the GT's first
    gt_done rows kept in d (a row after them has a bad filter type) and the prediction in
    buffer 0."""
    cdef size_t y
    cdef sm_side G, P
    cdef sm_rec rec
    cdef int status = s.start_record(record, gh.width * gh.height, &rec, 2)
    # local copies: the compiler may keep them in registers (no store into cm reaches them)
    cdef sm_sem_lut gl = glut[0], pl = plut[0]
    cdef sm_sem_sink sk = sink[0]
    cdef bint more = record or sk.tp != NULL
    cdef int pbuf = 0 if d != NULL else 1
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    G.lut, P.lut = &gl, &pl
    G.wsafe = P.wsafe = gh.width
    if record:
        sk.rec = &rec
    elif gh.out_itemsize == 1 and ph.out_itemsize == 1 and band is None:
        sm_sem_pairs_begin(&sk)
    if d != NULL:
        _delta_start(d, gh)
    if status == OK and band is not None and band.start(gh.height, gh.width) != 0:
        status = s.seterr(b"out of memory")
    y = 0
    while status == OK and y < gh.height:
        if d != NULL:
            G.x = _delta_row(d, gh, y) if y < gt_done else NULL
        else:
            G.x = unfilter(gh, s.buf[0], y) if y >= gt_done else s.buf[0] + y * (gh.row_bytes + 1) + 1
        P.x = unfilter(ph, s.buf[pbuf], y)
        if G.x == NULL or P.x == NULL:
            status = s.seterr(b"bad row filter type")
            break
        if band is None:
            sm_walk_sem(&G, gh.out_itemsize, &P, ph.out_itemsize, gh.width, more, &sk)
        elif _walk_band(&G, gh.out_itemsize, &P, ph.out_itemsize, gh.width, &sk, band) != 0:
            status = s.seterr(b"out of memory")
            break
        if record:
            sm_rec_flush(&rec)
        y += 1
        if sk.bad_gt or sk.bad_pred:
            break
    sm_sem_pairs_end(&sk, &gl, &pl)
    if sk.bad_gt or sk.bad_pred:
        # counted in a pair table, a bad label shows at the end: the counts up to the
        # first row that has one, as if the kernel had stopped there
        _first_bad_row(s, gh, ph, y, &gl, &pl, &sk, d)
        status = s.seterr(b"bad labels")
    sk.rec = NULL
    sink[0] = sk
    return s.end_record(&rec if record else NULL, status, gh)


cdef void _first_bad_row(Scratch s, const png_header *gh, const png_header *ph, size_t rows,
                         sm_sem_lut *gl, sm_sem_lut *pl, sm_sem_sink *sk, _Delta *d) noexcept nogil:
    """Set the bad-label counts of sk to those of the unfiltered rows up to the first of
    the given rows that has a bad label (rows where :func:`_pair_rows` has them)."""
    cdef sm_sem_sink bad
    cdef sm_side G, P
    cdef size_t y
    cdef int pbuf = 0 if d != NULL else 1
    memset(&bad, 0, sizeof(bad))
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    G.lut, P.lut = gl, pl
    G.wsafe = P.wsafe = gh.width
    if d != NULL:
        _delta_start(d, gh)
    for y in range(rows):
        G.x = _delta_row(d, gh, y) if d != NULL else s.buf[0] + y * (gh.row_bytes + 1) + 1
        P.x = s.buf[pbuf] + y * (ph.row_bytes + 1) + 1
        sm_walk_sem(&G, gh.out_itemsize, &P, ph.out_itemsize, gh.width, 2, &bad)
        if bad.bad_gt or bad.bad_pred:
            break
    sk.bad_gt, sk.bad_pred = bad.bad_gt, bad.bad_pred


cdef int _count_files(Scratch s, const uint8_t *gp, size_t gn, const uint8_t *pp, size_t pn, png_header *gh,
                      png_header *ph, const sm_sem_lut *glut, const sm_sem_lut *plut, sm_sem_sink *sink,
                      bint record, BandWork band) noexcept nogil:
    """Open and count one pair of files: :meth:`Scratch.open_pair`, then :func:`_pair_rows`;
    the status.

    Large images (no band, no recording) hold one inflated image at a time instead: the GT
    is inflated, unfiltered and kept as its rows' changes from the row above (``_Delta``),
    then the prediction is inflated into the same buffer and each GT row is put back into
    one row buffer as its prediction row is counted.  A GT whose changed blocks pass
    ``raw_bytes / DELTA_SHARE`` bytes (busy maps) goes on the two-buffer way from the row
    where they did (its rows above stay unfiltered in buffer 0).  Statuses, messages,
    ``s.counted`` and the bad-label counts are those of the two-buffer way (the same checks
    in the same order)."""
    cdef int status = s.open_gt(gp, gn, gh, 1)
    cdef size_t gt_done = 0, y, stride
    cdef _DeltaLayout L
    cdef bint fresh
    cdef uint8_t *mem
    cdef uint8_t *out
    cdef const uint8_t *row
    cdef bint bad_filter = False
    cdef _Delta d
    if status == OK:
        status = s.parse(pp, pn, ph, 1)
    if status != OK:
        return status
    L.room = 0
    if not record and band is None:
        L = _delta_layout(gh.row_bytes, gh.height, gh.raw_bytes)
    if L.room and ph.width == gh.width and ph.height == gh.height:
        d.nw = L.nw
        stride = gh.row_bytes + 1
        fresh = s.runs_cap < L.room
        mem = <uint8_t *>s.run_room(L.room)
        if mem != NULL and fresh:
            # every page touched once, when the area is made: a run then holds the same memory
            # from its first image on, not the most that any image so far has needed
            memset(mem, 0, 4 * L.room)
        if mem != NULL:
            d.row, d.words, d.blocks = mem, <uint64_t *>(mem + L.rbytes), mem + L.rbytes + L.wbytes
            memset(d.row, 0, L.rbytes)
            out = d.blocks
            y = 0
            while y < gh.height and <size_t>(out - d.blocks) <= L.limit:
                row = unfilter(gh, s.buf[0], y)
                if row == NULL:
                    bad_filter = True
                    break
                sm_row_diff(row, row - stride if y > 0 else d.row, gh.row_bytes, d.words + y * d.nw)
                out = sm_row_diff_store(row, gh.row_bytes, d.words + y * d.nw, out)
                y += 1
            gt_done = y
            if y == gh.height or bad_filter:
                status = s.inflate_second(0, pp, pn, gh, ph)
                if status != OK:
                    return status
                return _pair_rows(s, gh, ph, glut, plut, sink, False, None, gt_done, &d)
    status = s.inflate_second(1, pp, pn, gh, ph)
    if status != OK:
        return status
    return _pair_rows(s, gh, ph, glut, plut, sink, record, band, gt_done, NULL)


cdef int _cached_rows(Scratch s, const uint16_t *rv, const uint16_t *rl, const png_header *ph,
                      size_t height, const sm_sem_lut *plut, sm_sem_sink *sink, BandWork band) noexcept nogil:
    """Every prediction row against the cached GT runs; the status."""
    cdef size_t y
    cdef sm_side G, P
    cdef sm_sem_lut pl = plut[0]
    cdef sm_sem_sink sk = sink[0]
    cdef int status = OK
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    G.rv, G.rl, P.lut, P.wsafe = rv, rl, &pl, ph.width
    s.counted = True
    if ph.out_itemsize == 1 and sk.K <= 254 and band is None:
        sm_sem_pairs_begin(&sk)  # its rows: GT codes + 2, below 256
    if band is not None and band.start(<Py_ssize_t>height, ph.width) != 0:
        status = s.seterr(b"out of memory")
    y = 0
    while status == OK and y < height:
        P.x = unfilter(ph, s.buf[1], y)
        if P.x == NULL:
            status = s.seterr(b"bad row filter type")
            break
        if band is None:
            sm_walk_sem(&G, 0, &P, ph.out_itemsize, ph.width, sk.tp != NULL, &sk)
        elif _walk_band(&G, 0, &P, ph.out_itemsize, ph.width, &sk, band) != 0:
            status = s.seterr(b"out of memory")
            break
        y += 1
    sm_sem_pairs_end(&sk, NULL, &pl)
    if status == OK and (sk.bad_gt or sk.bad_pred):
        status = s.seterr(b"bad labels")
    sink[0] = sk
    return status


cdef int _sink(sm_sem_sink *sink, sm_sem_lut *plut, int64_t[:, ::1] cm, const int32_t[::1] pred_codes,
               int64_t[::1] tp, int64_t[::1] fp, int64_t[::1] fn, BandWork band,
               int64_t[:, ::1] interior) except -1:
    """Check the arguments shared by both kernels and set up the sink."""
    cdef int64_t K = cm.shape[0]
    if (band is None) != (interior is None):
        raise ValueError("give both band and interior or neither")
    if interior is not None and (interior.shape[0] != 3 or interior.shape[1] != K):
        raise ValueError("interior must be 3 x K")
    if pred_codes.shape[0] < 256 or cm.shape[1] != K:
        raise ValueError("code tables need at least 256 entries and cm must be square")
    if (tp is None) != (fp is None) or (tp is None) != (fn is None):
        raise ValueError("give all of tp, fp, fn or none")
    if tp is not None and not (tp.shape[0] == fp.shape[0] == fn.shape[0] == K):
        raise ValueError("tp, fp, fn need K entries")
    memset(sink, 0, sizeof(sm_sem_sink))
    sink.cm = &cm[0, 0]
    sink.K = K
    if tp is not None:
        sink.tp, sink.fp, sink.fn = &tp[0], &fp[0], &fn[0]
    plut.codes, plut.n, plut.has_ignore, plut.ignore = &pred_codes[0], <uint64_t>pred_codes.shape[0], False, 0
    return 0


def _set_row_diff(bint avx2):
    """Tests: the one-buffer path's row compare with AVX2 (when the processor has it, the
    default) or without; returns whether AVX2 is used."""
    return sm_row_diff_select(avx2) == 2


def _pair_tables_clean():
    """Whether every pair table this module keeps for reuse is all zeros (tests)."""
    return bool(sm_pt_pool_clean())


cdef inline void _strided(const uint8_t *row, int itemsize, size_t step, size_t n, uint8_t *out) noexcept nogil:
    """Every step-th sample of an unfiltered row into out (uint8, or native uint16 from the
    PNG's big-endian 16-bit samples)."""
    cdef size_t x
    cdef uint16_t *o16 = <uint16_t *>out
    if itemsize == 1:
        for x in range(n):
            out[x] = row[x * step]
    else:
        for x in range(n):
            o16[x] = <uint16_t>((row[2 * x * step] << 8) | row[2 * x * step + 1])


cdef size_t _sample_stride(size_t h, size_t w) noexcept nogil:
    # max(1, int((h * w / 65536) ** 0.5)), exactly: true division, then the C library's pow
    # (Python's float ** calls it too)
    cdef size_t step = <size_t>pow(<double>(h * w) / 65536.0, 0.5)
    return step if step >= 1 else 1


def sample_stride(size_t h, size_t w):
    """The stride of the ``pred_labels="auto"`` sample of an ``h`` x ``w`` map: every s-th
    pixel of every s-th row, ``s = max(1, int((h * w / 65536) ** 0.5))``, about 65,536
    pixels (:func:`sample_pair`; the reference reader's path strides with it too)."""
    return _sample_stride(h, w)


def sample_pair(Scratch s, bytes gt_path, bytes pred_path):
    """The pixels of one pair that the ``pred_labels="auto"`` sample keeps: every s-th pixel
    of every s-th row (s: :func:`sample_stride`), as two new arrays equal to
    ``read_label_map(path)[::s, ::s]`` (uint8, or uint16 for 16-bit files).  Files are
    read, inflated and unfiltered without the GIL in the scratch's buffers, and no whole
    decoded map is made.  None when the fast path does not
    take the pair (a file it cannot read or parse, a layout it does not read, over the
    pixel limit, two image sizes): the caller then reads it with the reference reader,
    which names any error."""
    cdef size_t gn = 0, pn = 0, y, oy = 0, ow, oh, step
    cdef png_header gh, ph
    cdef int st = REFERENCE
    cdef const char *g = gt_path
    cdef const char *p = pred_path
    cdef const uint8_t *gr
    cdef const uint8_t *pr
    if b"\0" in gt_path or b"\0" in pred_path:
        return None
    memset(&gh, 0, sizeof(gh))
    memset(&ph, 0, sizeof(ph))
    with nogil:
        s.begin()
        if s.read_file(0, g, &gn) == 0 and s.read_file(1, p, &pn) == 0:
            st = s.open_pair(s.fbuf[0], gn, s.fbuf[1], pn, &gh, &ph, 1)
    if st != OK or gh.width == 0 or gh.height == 0:
        return None
    step = _sample_stride(gh.height, gh.width)
    ow, oh = (gh.width + step - 1) // step, (gh.height + step - 1) // step
    out_g = np.empty((oh, ow), dtype=np.uint16 if gh.out_itemsize == 2 else np.uint8)
    out_p = np.empty((oh, ow), dtype=np.uint16 if ph.out_itemsize == 2 else np.uint8)
    cdef uint8_t[::1] gb = out_g.reshape(-1).view(np.uint8)
    cdef uint8_t[::1] pb = out_p.reshape(-1).view(np.uint8)
    cdef size_t grow_bytes = ow * gh.out_itemsize, prow_bytes = ow * ph.out_itemsize
    with nogil:
        for y in range(gh.height):
            gr = unfilter(&gh, s.buf[0], y)
            pr = unfilter(&ph, s.buf[1], y)
            if gr == NULL or pr == NULL:
                st = REFERENCE
                break
            if y % step == 0:
                _strided(gr, gh.out_itemsize, step, ow, &gb[oy * grow_bytes])
                _strided(pr, ph.out_itemsize, step, ow, &pb[oy * prow_bytes])
                oy += 1
    if st != OK:
        return None
    return out_g, out_p


def semantic_pair(Scratch s, const uint8_t[::1] gt, const uint8_t[::1] pred, int64_t[:, ::1] cm,
                  const int32_t[::1] gt_codes, const int32_t[::1] pred_codes, bint record=False,
                  int64_t[::1] tp=None, int64_t[::1] fp=None, int64_t[::1] fn=None,
                  BandWork band=None, int64_t[:, ::1] interior=None):
    """Decode two single-channel label PNGs and add their confusion matrix into ``cm``
    (and, given, the image's TP / FP / FN into ``tp`` / ``fp`` / ``fn``; with ``band``,
    its Boundary IoU interior counts into the ``(3, K)`` ``interior``).

    ``gt_codes`` / ``pred_codes`` have at least 256 entries; a value beyond a table is a
    bad label (:meth:`segmetrics.labels.LabelRules.engine_tables`).
    Returns the status; ``s.bad_gt`` / ``s.bad_pred`` count pixels with bad labels
    (status 1 when either is non-zero).  With ``record``, the GT runs of codes are
    kept for the cache (:meth:`Scratch.record`).
    """
    cdef png_header gh, ph
    cdef int status
    cdef sm_sem_sink sink
    cdef sm_sem_lut glut, plut
    cdef const uint8_t *gp = &gt[0] if gt.shape[0] else _EMPTY
    cdef const uint8_t *pp = &pred[0] if pred.shape[0] else _EMPTY
    cdef size_t gn = gt.shape[0], pn = pred.shape[0]
    if gt_codes.shape[0] < 256:
        raise ValueError("code tables need at least 256 entries and cm must be square")
    _sink(&sink, &plut, cm, pred_codes, tp, fp, fn, band, interior)
    glut.codes, glut.n, glut.has_ignore, glut.ignore = &gt_codes[0], <uint64_t>gt_codes.shape[0], False, 0
    memset(&gh, 0, sizeof(gh))
    with nogil:
        s.begin()
        status = _count_files(s, gp, gn, pp, pn, &gh, &ph, &glut, &plut, &sink, record, band)
        status = _band_end(s, status, band, &interior[0, 0] if band is not None else NULL, sink.K)
    s.bad_gt = sink.bad_gt
    s.bad_pred = sink.bad_pred
    return status


def semantic_cached(Scratch s, const uint16_t[::1] values, const uint16_t[::1] lengths,
                    Py_ssize_t width, Py_ssize_t height, const uint8_t[::1] pred,
                    int64_t[:, ::1] cm, const int32_t[::1] pred_codes,
                    int64_t[::1] tp=None, int64_t[::1] fp=None, int64_t[::1] fn=None,
                    BandWork band=None, int64_t[:, ::1] interior=None, bytes pred_path=None):
    """Like :func:`semantic_pair` with the ground truth given as cached runs of codes.  With
    ``pred`` None the prediction file ``pred_path`` is read without the GIL (status 1 when
    it cannot be read)."""
    cdef png_header ph
    cdef int status = OK
    cdef size_t nruns = values.shape[0]
    cdef sm_sem_sink sink
    cdef sm_sem_lut plut
    cdef const uint8_t *pp = _EMPTY
    cdef size_t pn = 0
    cdef const char *name = NULL
    cdef const uint16_t *rv = &values[0] if nruns else <const uint16_t *>_EMPTY
    cdef const uint16_t *rl = &lengths[0] if nruns else <const uint16_t *>_EMPTY
    if lengths.shape[0] != values.shape[0]:
        raise ValueError("bad arguments")
    if pred is not None:
        pp = &pred[0] if pred.shape[0] else _EMPTY
        pn = pred.shape[0]
    elif pred_path is None or b"\0" in pred_path:
        raise ValueError("give pred, or pred_path without NUL bytes")
    else:
        name = pred_path
    _sink(&sink, &plut, cm, pred_codes, tp, fp, fn, band, interior)
    with nogil:
        s.begin()
        if name != NULL:
            if s.read_file(1, name, &pn) == 0:
                pp = s.fbuf[1]
            else:
                status = REFERENCE
        if status == OK:
            status = s.open_cached(rv, rl, nruns, width, height, <uint32_t>(sink.K + 1), pp, pn, &ph, 1)
        if status == OK:
            status = _cached_rows(s, rv, rl, &ph, <size_t>height, &plut, &sink, band)
            status = _band_end(s, status, band, &interior[0, 0] if band is not None else NULL, sink.K)
    s.bad_gt = sink.bad_gt
    s.bad_pred = sink.bad_pred
    return status


cdef class SemanticBatch:
    """The file names of a run's pairs (path-like or ``bytes``, see
    :class:`~segmetrics._kernels.folder.FilePairs`) for :meth:`run`."""

    cdef FilePairs files
    cdef readonly Py_ssize_t n

    def __cinit__(self, gt_paths, pred_paths):
        self.files = FilePairs(gt_paths, pred_paths)
        self.n = self.files.n

    def run(self, Scratch s, WorkCounter counter, int64_t[:, ::1] cm, const int32_t[::1] gt_codes,
            const int32_t[::1] pred_codes, uint8_t[::1] status, uint8_t[::1] counted, int64_t[::1] done,
            uint8_t[:, ::1] digests=None, uint8_t[::1] hashed=None,
            int64_t[:, ::1] tp=None, int64_t[:, ::1] fp=None, int64_t[:, ::1] fn=None,
            BandWork band=None, int64_t[:, ::1] interior=None, int64_t[:, :, ::1] interior_rows=None):
        """Count images from the shared counter until none is left, without the GIL: image
        ``i`` is read, its GT file hashed into ``digests[i]`` (``hashed[i] = 1``; given
        both), and its pair counted into ``cm`` as :func:`semantic_pair` does (its TP / FP /
        FN into row ``i`` of ``tp`` / ``fp`` / ``fn`` when given; with ``band``, its interior
        counts into ``interior``, or row ``i`` of ``interior_rows``).  ``status[i]`` is the
        kernel's status (1 when a file could not be read), ``counted[i]`` whether pixels
        were added before a non-zero status; ``done[0]`` counts this call's images.  Call
        from several threads with one counter and one status array, each with its own
        scratch, sums and ``done``."""
        cdef Py_ssize_t n = self.n, K = cm.shape[0]
        cdef int64_t i
        cdef size_t gn, pn
        cdef int st
        cdef png_header gh, ph
        cdef sm_sem_sink sink0, sink
        cdef sm_sem_lut glut, plut
        cdef bint rows = tp is not None, hashing = digests is not None
        cdef int64_t *inner = NULL
        cdef char name[PATH_BUF]
        cdef bint per_inner = band is not None and interior_rows is not None
        if status.shape[0] != n or counted.shape[0] != n or done.shape[0] < 1:
            raise ValueError("status and counted need one entry per image")
        if gt_codes.shape[0] < 256:
            raise ValueError("code tables need at least 256 entries and cm must be square")
        if hashing and (hashed is None or digests.shape[0] != n or digests.shape[1] != 32 or hashed.shape[0] != n):
            raise ValueError("digests must be (n, 32) with hashed (n,)")
        if rows and (fp is None or fn is None or tp.shape[0] != n or tp.shape[1] != K
                     or fp.shape[0] != n or fp.shape[1] != K or fn.shape[0] != n or fn.shape[1] != K):
            raise ValueError("tp, fp, fn must all be (n, K)")
        if band is not None and interior_rows is not None:
            if interior_rows.shape[0] != n or interior_rows.shape[1] != 3 or interior_rows.shape[2] != K:
                raise ValueError("interior_rows must be (n, 3, K)")
            _sink(&sink0, &plut, cm, pred_codes, None, None, None, band, interior_rows[0])
        else:
            _sink(&sink0, &plut, cm, pred_codes, None, None, None, band, interior)
            if band is not None:
                inner = &interior[0, 0]
        glut.codes, glut.n, glut.has_ignore, glut.ignore = &gt_codes[0], <uint64_t>gt_codes.shape[0], False, 0
        with nogil:
            i = counter.take_below(n)
            while i >= 0:
                s.begin()
                st = REFERENCE
                if (self.files.path(0, i, name, PATH_BUF) == 0 and s.read_file(0, name, &gn) == 0):
                    if hashing and sha256_parts(s.fbuf[0], gn, NULL, NULL, 0, &digests[i, 0]) == 0:
                        hashed[i] = 1
                    if self.files.path(1, i, name, PATH_BUF) == 0 and s.read_file(1, name, &pn) == 0:
                        sink = sink0
                        if rows:
                            sink.tp, sink.fp, sink.fn = &tp[i, 0], &fp[i, 0], &fn[i, 0]
                        memset(&gh, 0, sizeof(gh))
                        st = _count_files(s, s.fbuf[0], gn, s.fbuf[1], pn, &gh, &ph, &glut, &plut, &sink, False,
                                          band)
                        st = _band_end(s, st, band, &interior_rows[i, 0, 0] if per_inner else inner, K)
                status[i] = <uint8_t>st
                counted[i] = <uint8_t>(st != OK and s.counted)
                done[0] += 1
                i = counter.take_below(n)
