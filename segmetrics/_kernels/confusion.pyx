# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Confusion-matrix kernels: one pass over the pixels, GIL released.

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
Counts go straight into the caller's int64 ``(K, K)`` matrix: no temporary the
size of the image and no local table to clear or fold, so the cost does not
grow with K.  Label maps are made of regions, so the loop keeps the current
run of one raw ``(gt, pred)`` pair in a register and extends it by whole blocks
of eight pixels, compared as 64-bit words against the run's value repeated
(one word per side for uint8); a run is looked up in the code tables once,
when it ends.  A block that breaks the run is walked pixel by pixel, except for
uint8 x uint8 maps whose block still ends on the run: there the mismatching
bytes of the XOR words are visited directly (popcount / count-trailing-zeros),
so a lone odd pixel costs one lookup instead of ending and restarting a run.  Strided
rows (inner stride other than one element) take a plain per-pixel loop.

Bad pixels are only counted here; the caller finds out which values they carry
on that (rare) error path.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

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

cdef uint16_t _ONE = 1
cdef bint _LITTLE_ENDIAN = (<uint8_t*>&_ONE)[0] == 1

cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil

ctypedef fused label_t:
    uint8_t
    uint16_t
    int32_t
    int64_t

cdef enum:
    BLOCK = 8
    IGNORED = -1
    BAD = -2

cdef inline int32_t _gt_code(gt_t v, const int32_t* codes, uint64_t n,
                             bint has_ignore, int64_t ignore) noexcept nogil:
    if <uint64_t>v < n:
        return codes[<uint64_t>v]
    if has_ignore and <int64_t>v == ignore:
        return IGNORED
    return BAD


cdef inline int32_t _pred_code(pred_t v, const int32_t* codes, uint64_t n) noexcept nogil:
    if <uint64_t>v < n:
        return codes[<uint64_t>v]
    return BAD


cdef inline void _add(int64_t* cm, int64_t K, gt_t gv, pred_t pv, int64_t n,
                      const int32_t* gcodes, uint64_t ng, const int32_t* pcodes, uint64_t npc,
                      bint has_ignore, int64_t ignore,
                      int64_t* bad_gt, int64_t* bad_pred) noexcept nogil:
    cdef int32_t row = _gt_code(gv, gcodes, ng, has_ignore, ignore)
    cdef int32_t col
    if row == IGNORED:
        return
    col = _pred_code(pv, pcodes, npc)
    if (row | col) >= 0:
        cm[row * K + col] += n
    elif row == BAD:
        bad_gt[0] += n
    else:
        bad_pred[0] += n


cdef inline uint64_t _splat(label_t v) noexcept nogil:
    """``v`` repeated over a 64-bit word (``BLOCK`` words of it hold a block)."""
    if label_t is uint8_t:
        return (<uint64_t>v) * 0x0101010101010101ULL
    elif label_t is uint16_t:
        return (<uint64_t>v) * 0x0001000100010001ULL
    elif label_t is int32_t:
        return (<uint64_t>(<uint32_t>v)) * 0x0000000100000001ULL
    else:
        return <uint64_t>v


cdef inline uint64_t _block_diff(const label_t* x, uint64_t pattern) noexcept nogil:
    """Non-zero iff one of the ``BLOCK`` values at ``x`` differs from the splatted value."""
    cdef uint64_t word, diff = 0
    cdef Py_ssize_t k
    for k in range(<Py_ssize_t>(BLOCK * sizeof(label_t) // 8)):
        memcpy(&word, (<const char*>x) + 8 * k, 8)
        diff |= word ^ pattern
    return diff


cdef void _direct(int64_t* cm, int64_t K, const gt_t[:, :] gt, const pred_t[:, :] pred,
                  const int32_t* gcodes, uint64_t ng, const int32_t* pcodes, uint64_t npc,
                  bint has_ignore, int64_t ignore,
                  int64_t* bad_gt, int64_t* bad_pred) noexcept nogil:
    cdef Py_ssize_t h = gt.shape[0], w = gt.shape[1]
    cdef Py_ssize_t gs = gt.strides[1] // <Py_ssize_t>sizeof(gt_t)
    cdef Py_ssize_t ps = pred.strides[1] // <Py_ssize_t>sizeof(pred_t)
    cdef Py_ssize_t i, j, k
    cdef const gt_t* g
    cdef const pred_t* p
    cdef gt_t cg = gt[0, 0]
    cdef pred_t cp = pred[0, 0]
    cdef uint64_t gpat = _splat(cg), ppat = _splat(cp), diff
    cdef int64_t run = 0
    for i in range(h):
        g = &gt[i, 0]
        p = &pred[i, 0]
        j = 0
        if gs == 1 and ps == 1:
            while j + BLOCK <= w:
                # does this whole block continue the current run of (cg, cp)?
                diff = _block_diff(g + j, gpat) | _block_diff(p + j, ppat)
                if diff == 0:
                    run += BLOCK
                elif gt_t is uint8_t and pred_t is uint8_t and _LITTLE_ENDIAN and not (diff >> 56):
                    # uint8 pairs, last pixel still on the run: one bit per
                    # mismatching byte (byte i = pixel j + i on a little-endian
                    # machine); only those pixels are counted one by one
                    diff |= diff >> 4
                    diff |= diff >> 2
                    diff |= diff >> 1
                    diff &= 0x0101010101010101ULL
                    run += BLOCK - __builtin_popcountll(diff)
                    while diff:
                        k = j + (__builtin_ctzll(diff) >> 3)
                        _add(cm, K, g[k], p[k], 1, gcodes, ng, pcodes, npc, has_ignore,
                             ignore, bad_gt, bad_pred)
                        diff &= diff - 1
                else:
                    for k in range(j, j + BLOCK):
                        if g[k] == cg and p[k] == cp:
                            run += 1
                        else:
                            if run:
                                _add(cm, K, cg, cp, run, gcodes, ng, pcodes, npc, has_ignore,
                                     ignore, bad_gt, bad_pred)
                            cg = g[k]
                            cp = p[k]
                            run = 1
                    gpat = _splat(cg)
                    ppat = _splat(cp)
                j += BLOCK
        while j < w:
            _add(cm, K, g[j * gs], p[j * ps], 1, gcodes, ng, pcodes, npc, has_ignore, ignore,
                 bad_gt, bad_pred)
            j += 1
    if run:
        _add(cm, K, cg, cp, run, gcodes, ng, pcodes, npc, has_ignore, ignore, bad_gt, bad_pred)


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
    cdef int64_t bad_gt = 0, bad_pred = 0
    cdef int64_t K = cm.shape[0]
    cdef Py_ssize_t npix = gt.shape[0] * gt.shape[1]
    if cm.shape[1] != K or K < 1 or K > 46340:
        raise ValueError(f"cm must be square (K, K) with 1 <= K <= 46340, got {cm.shape[0]}x{cm.shape[1]}")
    if gt.shape[0] != pred.shape[0] or gt.shape[1] != pred.shape[1]:
        raise ValueError("gt and pred must have the same shape")
    if gt_codes.shape[0] < 1 or pred_codes.shape[0] < 1:
        raise ValueError("code tables must not be empty")
    if npix == 0:
        return 0, 0
    with nogil:
        # The tables cost about 5 (K + 2)(K + 1) operations to clear and fold.
        _direct(&cm[0, 0], K, gt, pred, &gt_codes[0], <uint64_t>gt_codes.shape[0],
                &pred_codes[0], <uint64_t>pred_codes.shape[0], has_ignore, gt_ignore,
                &bad_gt, &bad_pred)
    return bad_gt, bad_pred
