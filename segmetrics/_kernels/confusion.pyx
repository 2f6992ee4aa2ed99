# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Confusion-matrix kernel for arrays: one pass over the pixels, GIL released.

The Python layer (:mod:`segmetrics.semantic`) validates the arrays, builds the
two *code tables* and picks the dtype view; this module only loops.

Code tables
-----------
``gt_codes[v]`` is, for a raw ground-truth value ``v`` below ``len(gt_codes)``,
its class in ``[0, K)`` or a negative code: ``IGNORED`` (-1, the pixel counts
nowhere) or ``BAD`` (-2, an error).  ``pred_codes[v]`` is the class of a raw
prediction value or ``BAD``.  A raw value at or beyond a table's length is
``BAD``, except a ground-truth value equal to ``gt_ignore`` when ``has_ignore``
is set, which is ``IGNORED``.  Values are compared as unsigned 64-bit integers,
so negative values of signed dtypes are beyond every table.  The prediction of
an ignored pixel is never looked up or checked.

The loop
--------
The run-length row walker of ``sm_walk.h``, the same loop the folder kernels use
on decoded PNG rows: on each side the next pixel that differs from its left
neighbour is found by vector compares of the row with itself shifted by one
pixel, a value is looked up only where a run starts, and each run of a constant
(ground truth, prediction) pair adds its length to the caller's int64 ``(K, K)``
matrix (no temporary the size of the image).  Two 8-bit sides whose values change
almost every pixel (noise, speckle, ragged borders) count stretches of 64 pixels as
raw value pairs in a 256 x 256 table instead, folded through the code tables at the
end of the call and every 2^31 pixels (its counters are 32-bit).  A pair
that is C-contiguous (or Fortran-contiguous) on both sides is walked as one long
row in memory order; other layouts row by row, rows with an inner stride other
than one element through a copy.

Bad pixels are only counted here; the caller finds out which values they carry
on that (rare) error path.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from segmetrics._kernels.sm cimport (
    SM_IGNORED, SM_POPCNT64, SM_READ_AHEAD, sm_code_fn, sm_safe_width, sm_sem_code, sm_sem_emit, sm_sem_fold, sm_sem_i32,
    sm_sem_i64, sm_sem_lut, sm_sem_pairs_begin, sm_sem_pairs_end, sm_sem_sink, sm_sem_u8f, sm_sem_u16,
    sm_side, sm_pt_pool_clean, sm_walk, sm_walk_blocks,
)

ctypedef fused gt_t:
    uint8_t
    uint16_t
    int32_t
    int64_t

ctypedef fused pred_t:
    uint8_t
    uint16_t
    int32_t
    int64_t

ctypedef fused label_t:
    uint8_t
    uint16_t
    int32_t
    int64_t


cdef struct _Rows:
    # how to visit the rows of one 2-D array
    const char *base
    Py_ssize_t h, w, s0, s1, itemsize
    const char *hi           # one past the highest byte of the array
    uint8_t *copy            # a padded row, for rows with an inner stride other than itemsize


cdef int _rows_init(_Rows *r, const char *base, Py_ssize_t h, Py_ssize_t w, Py_ssize_t s0,
                    Py_ssize_t s1, Py_ssize_t itemsize) noexcept nogil:
    r.base, r.h, r.w, r.s0, r.s1, r.itemsize = base, h, w, s0, s1, itemsize
    r.hi = base + (s0 * (h - 1) if s0 > 0 else 0) + (s1 * (w - 1) if s1 > 0 else 0) + itemsize
    r.copy = NULL
    if s1 != itemsize:
        r.copy = <uint8_t *>malloc(w * itemsize + SM_READ_AHEAD)
        if r.copy == NULL:
            return -1
    return 0


cdef inline void _row(_Rows *r, Py_ssize_t i, sm_side *s) noexcept nogil:
    """Point side s at row i (a copy when the row is strided)."""
    cdef const char *row = r.base + i * r.s0
    cdef Py_ssize_t j
    if r.copy == NULL:
        s.x = <const uint8_t *>row
        s.wsafe = sm_safe_width(<size_t>(r.hi - row), <size_t>r.w, <int>r.itemsize)
        return
    # one fixed-size copy per pixel (itemsize is 1, 2, 4 or 8)
    if r.itemsize == 1:
        for j in range(r.w):
            r.copy[j] = (<const uint8_t *>row)[j * r.s1]
    elif r.itemsize == 2:
        for j in range(r.w):
            memcpy(r.copy + 2 * j, row + j * r.s1, 2)
    elif r.itemsize == 4:
        for j in range(r.w):
            memcpy(r.copy + 4 * j, row + j * r.s1, 4)
    else:
        for j in range(r.w):
            memcpy(r.copy + 8 * j, row + j * r.s1, 8)
    s.x = r.copy
    s.wsafe = <size_t>r.w


cdef inline sm_code_fn _side(label_t v) noexcept nogil:
    """The walker side that reads values of v's type (the value itself is unused; 8-bit
    values need a code table of 256 entries, see _full_table)."""
    if label_t is uint8_t:
        return sm_sem_u8f
    elif label_t is uint16_t:
        return sm_sem_u16
    elif label_t is int32_t:
        return sm_sem_i32
    else:
        return sm_sem_i64


cdef void _full_table(sm_sem_lut *t, int32_t *codes256) noexcept nogil:
    """Point t at a copy of itself with an entry for each of the 256 8-bit values."""
    cdef int v
    for v in range(256):
        codes256[v] = sm_sem_code(t, <uint64_t>v)
    t.codes, t.n = codes256, 256


# Pixels counted into a pair table between two folds (its counters are uint32).
cdef size_t _fold_every = (<size_t>1) << 31


def _set_fold_every(size_t n):
    """Fold the pair table every n pixels (tests: small n walks arrays in pieces); the
    previous setting."""
    global _fold_every
    cdef size_t old = _fold_every
    if n < 1 or n > ((<size_t>1) << 31):
        raise ValueError("n must be 1 to 2^31")
    _fold_every = n
    return old


def _pair_tables_clean():
    """Whether every pair table kept for reuse is all zeros, as a fold leaves it (tests)."""
    return bool(sm_pt_pool_clean())


def _popcount64(uint64_t m):
    """The walker's count of set bits of a 64-bit mask (tests)."""
    return SM_POPCNT64(m)


cdef void _walk_u8(sm_side *G, sm_side *P, size_t n, sm_sem_sink *sk, size_t *since, const sm_sem_lut *gl,
                   const sm_sem_lut *pl) noexcept nogil:
    """n pixels of two 8-bit rows through the walker with the sink's pair table, in pieces
    that fold the table every _fold_every pixels (since: pixels counted since the last fold)."""
    cdef const uint8_t *gx = G.x
    cdef const uint8_t *px = P.x
    cdef size_t k = 0, m
    while k < n:
        m = min(n - k, _fold_every - since[0])
        G.x, P.x = gx + k, px + k
        sm_walk_blocks(G, sm_sem_u8f, 1, P, sm_sem_u8f, 1, m, SM_IGNORED, sm_sem_emit, sk, &sk.pt)
        k += m
        since[0] += m
        if since[0] >= _fold_every:
            sm_sem_fold(sk, gl, pl)
            since[0] = 0


cdef int _walk(const gt_t[:, :] gt, const pred_t[:, :] pred, const sm_sem_lut *glut,
               const sm_sem_lut *plut, sm_sem_sink *sink) noexcept nogil:
    """Every row pair of gt / pred through the walker; -1 if out of memory.  Two 8-bit
    sides count busy stretches in a pair table (sm_walk.h), folded at the end."""
    cdef sm_code_fn gcode = _side(<gt_t>0)
    cdef sm_code_fn pcode = _side(<pred_t>0)
    cdef sm_side G, P
    cdef _Rows rg, rp
    cdef Py_ssize_t h = gt.shape[0], w = gt.shape[1], i
    cdef size_t n = <size_t>(h * w)
    # local copies: the compiler may keep them in registers (no store into cm reaches them)
    cdef sm_sem_lut gl = glut[0], pl = plut[0]
    cdef sm_sem_sink sk = sink[0]
    cdef int32_t gcodes256[256]
    cdef int32_t pcodes256[256]
    cdef size_t since = 0
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    if gt_t is uint8_t:
        _full_table(&gl, gcodes256)
    if pred_t is uint8_t:
        _full_table(&pl, pcodes256)
    if gt_t is uint8_t and pred_t is uint8_t:
        sm_sem_pairs_begin(&sk)
    G.lut = &gl
    P.lut = &pl
    if ((gt.strides[1] == sizeof(gt_t) and gt.strides[0] == w * <Py_ssize_t>sizeof(gt_t)
            and pred.strides[1] == sizeof(pred_t) and pred.strides[0] == w * <Py_ssize_t>sizeof(pred_t))
            or (gt.strides[0] == sizeof(gt_t) and gt.strides[1] == h * <Py_ssize_t>sizeof(gt_t)
                and pred.strides[0] == sizeof(pred_t) and pred.strides[1] == h * <Py_ssize_t>sizeof(pred_t))):
        # both C-contiguous or both Fortran-contiguous: one row of h * w pixels in memory
        # order (the counts do not depend on the order the pixels are visited in)
        G.x, G.wsafe = <const uint8_t *>&gt[0, 0], sm_safe_width(n * sizeof(gt_t), n, sizeof(gt_t))
        P.x, P.wsafe = <const uint8_t *>&pred[0, 0], sm_safe_width(n * sizeof(pred_t), n, sizeof(pred_t))
        if gt_t is uint8_t and pred_t is uint8_t:
            _walk_u8(&G, &P, n, &sk, &since, &gl, &pl)
        else:
            sm_walk(&G, gcode, sizeof(gt_t), &P, pcode, sizeof(pred_t), n, SM_IGNORED, sm_sem_emit, &sk)
    else:
        if _rows_init(&rg, <const char *>&gt[0, 0], h, w, gt.strides[0], gt.strides[1], sizeof(gt_t)) != 0:
            sm_sem_pairs_end(&sk, &gl, &pl)
            return -1
        if _rows_init(&rp, <const char *>&pred[0, 0], h, w, pred.strides[0], pred.strides[1], sizeof(pred_t)) != 0:
            free(rg.copy)
            sm_sem_pairs_end(&sk, &gl, &pl)
            return -1
        for i in range(h):
            _row(&rg, i, &G)
            _row(&rp, i, &P)
            if gt_t is uint8_t and pred_t is uint8_t:
                _walk_u8(&G, &P, <size_t>w, &sk, &since, &gl, &pl)
            else:
                sm_walk(&G, gcode, sizeof(gt_t), &P, pcode, sizeof(pred_t), <size_t>w, SM_IGNORED, sm_sem_emit, &sk)
        free(rg.copy)
        free(rp.copy)
    sm_sem_pairs_end(&sk, &gl, &pl)
    sink[0] = sk
    return 0


def accumulate(int64_t[:, ::1] cm, const gt_t[:, :] gt, const pred_t[:, :] pred,
               const int32_t[::1] gt_codes, const int32_t[::1] pred_codes,
               bint has_ignore=False, int64_t gt_ignore=0):
    """Add the pixels of ``gt`` / ``pred`` into ``cm`` in place, without the GIL.

    Low-level: no validation beyond shapes; :func:`segmetrics.semantic.confusion_matrix`
    is the checked entry point.  Safe to call from several threads at once on
    different ``cm`` matrices.

    Returns
    -------
    (bad_gt, bad_pred) : tuple of int
        How many scored pixels had an invalid ground-truth label, and how many
        had a valid ground truth but an invalid prediction.  Valid pixels are
        counted even when some are bad; the caller decides what to do.
    """
    cdef int64_t K = cm.shape[0]
    cdef Py_ssize_t npix = gt.shape[0] * gt.shape[1]
    cdef sm_sem_lut glut, plut
    cdef sm_sem_sink sink
    cdef int status
    if cm.shape[1] != K or K < 1 or K > 46340:
        raise ValueError(f"cm must be square (K, K) with 1 <= K <= 46340, got {cm.shape[0]}x{cm.shape[1]}")
    if gt.shape[0] != pred.shape[0] or gt.shape[1] != pred.shape[1]:
        raise ValueError("gt and pred must have the same shape")
    if gt_codes.shape[0] < 1 or pred_codes.shape[0] < 1:
        raise ValueError("code tables must not be empty")
    if npix == 0:
        return 0, 0
    glut.codes, glut.n, glut.has_ignore, glut.ignore = &gt_codes[0], <uint64_t>gt_codes.shape[0], has_ignore, gt_ignore
    plut.codes, plut.n, plut.has_ignore, plut.ignore = &pred_codes[0], <uint64_t>pred_codes.shape[0], False, 0
    memset(&sink, 0, sizeof(sink))
    sink.cm = &cm[0, 0]
    sink.K = K
    with nogil:
        status = _walk(gt, pred, &glut, &plut, &sink)
    if status != 0:
        raise MemoryError()
    return sink.bad_gt, sink.bad_pred


cdef struct _Runs:
    int64_t *out
    size_t n, cap


cdef int _collect(void *sink, int32_t g, int32_t p, size_t n) noexcept nogil:
    cdef _Runs *r = <_Runs *>sink
    if r.n < r.cap:
        r.out[3 * r.n] = g
        r.out[3 * r.n + 1] = p
        r.out[3 * r.n + 2] = <int64_t>n
    r.n += 1
    return 0


def walk_runs(const gt_t[::1] gt, const pred_t[::1] pred, const int32_t[::1] gt_codes,
              const int32_t[::1] pred_codes, bint has_ignore=False, int64_t gt_ignore=0):
    """The runs the row walker splits one row pair into (for tests).

    Returns an ``(R, 3)`` int64 array of ``(gt code, prediction code, length)``, in
    order: a run ends where either raw value changes, except that inside a run of
    ignored ground truth (code -1) prediction changes are not looked at (the
    prediction code given for such a run is then meaningless).
    """
    cdef size_t n = <size_t>gt.shape[0]
    cdef sm_sem_lut glut, plut
    cdef sm_side G, P
    cdef _Runs runs
    cdef sm_code_fn gcode = _side(<gt_t>0)
    cdef sm_code_fn pcode = _side(<pred_t>0)
    cdef int32_t gcodes256[256]
    cdef int32_t pcodes256[256]
    if pred.shape[0] != gt.shape[0]:
        raise ValueError("rows of different lengths")
    out = np.zeros((n, 3), np.int64)
    cdef int64_t[:, ::1] v = out
    glut.codes, glut.n, glut.has_ignore, glut.ignore = &gt_codes[0], <uint64_t>gt_codes.shape[0], has_ignore, gt_ignore
    plut.codes, plut.n, plut.has_ignore, plut.ignore = &pred_codes[0], <uint64_t>pred_codes.shape[0], False, 0
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    runs.out, runs.n, runs.cap = &v[0, 0] if n else NULL, 0, n
    if gt_t is uint8_t:
        _full_table(&glut, gcodes256)
    if pred_t is uint8_t:
        _full_table(&plut, pcodes256)
    G.lut, P.lut = &glut, &plut
    G.x, G.wsafe = <const uint8_t *>&gt[0] if n else NULL, sm_safe_width(n * sizeof(gt_t), n, sizeof(gt_t))
    P.x, P.wsafe = <const uint8_t *>&pred[0] if n else NULL, sm_safe_width(n * sizeof(pred_t), n, sizeof(pred_t))
    with nogil:
        sm_walk(&G, gcode, sizeof(gt_t), &P, pcode, sizeof(pred_t), n, SM_IGNORED, _collect, &runs)
    return out[:runs.n].copy()
