# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Boundary bands and their counts: semantic Boundary IoU, Boundary PQ, PQ-dagger pairs.

The band
--------
The inner band of width ``d`` of a binary mask ``M`` holds the pixels of ``M`` whose
chessboard distance to a pixel outside ``M`` (outside the image included) is at most
``d``: boundary-iou-api's ``mask - erode(pad(mask, 1, 0), 3x3, iterations=d)``.  On a
label map every pixel belongs to exactly one label's mask, so one pass gives every
label's band at once.  A pixel is *not* in its label's band (it is in the *interior*) iff
the (2d+1) x (2d+1) square around it lies inside the image and carries its label only:
a label-aware erosion by a square, which separates into rows and columns.

How it is computed, on runs (no per-pixel work).  Horizontally, a maximal run ``[a, b)``
of label ``L`` keeps the columns whose ``[j - d, j + d]`` it covers: ``[a + d, b - d)``
(the image edge ends every run).  Vertically, row ``i``'s interior is the label-aware
intersection of these interval lists over rows ``i - d .. i + d``: a sliding window
computed as van Herk / Gil-Werman do for 1-D erosions, in blocks of ``k = 2d + 1`` rows
(the suffix intersections of the previous block, met with the running prefix
intersection of the current block), so each row costs three intersections of short
interval lists whatever ``d`` is.  The first and last ``d`` rows have no interior.  ``d``
larger than half the smaller side leaves no interior anywhere, so it is clipped there.
Memory: O(width + d) per map.

Counting walks the runs of both maps and their interior intervals together (a piece ends
where a run or an interior interval does) and counts *interiors*: every label change lies
in a band, so the interiors hold few pieces and the stretches where both maps are in a
band are skipped.  Band counts are totals minus interiors (``|G_b| = |G| - |G & I_G|``
...); the totals are the confusion matrix or the intersection table the folder loop
counts anyway.  All functions release the GIL; the C-level entry points and their
contracts are in ``boundary.pxd``.
"""
from libc.stdint cimport INT32_MIN, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset
from libc.math cimport rint, sqrt

import numpy as np

cimport numpy as cnp

cnp.import_array()

ctypedef fused label_t:
    uint8_t
    uint16_t
    int32_t
    int64_t

cdef enum:
    _IGNORED = -1
    _BAD = -2


# ----------------------------------------------------------------------------- runs

cdef int bd_runs_init(BdRuns* r, Py_ssize_t h, Py_ssize_t w, Py_ssize_t cap_hint) noexcept nogil:
    r.h = h
    r.w = w
    r.rows = 0
    r.n = 0
    r.cap = cap_hint if cap_hint > 16 else 16
    r.row_off = <int64_t*>malloc((h + 1) * sizeof(int64_t))
    r.end = <int32_t*>malloc(r.cap * sizeof(int32_t))
    r.label = <int32_t*>malloc(r.cap * sizeof(int32_t))
    if r.row_off == NULL or r.end == NULL or r.label == NULL:
        bd_runs_free(r)
        return -1
    r.row_off[0] = 0
    return 0


cdef int bd_runs_reset(BdRuns* r, Py_ssize_t h, Py_ssize_t w) noexcept nogil:
    cdef int64_t* off = <int64_t*>realloc(r.row_off, (h + 1) * sizeof(int64_t))
    if off == NULL:
        return -1
    r.row_off = off
    r.h = h
    r.w = w
    r.rows = 0
    r.n = 0
    r.row_off[0] = 0
    return 0


cdef void bd_runs_free(BdRuns* r) noexcept nogil:
    free(r.row_off)
    free(r.end)
    free(r.label)
    r.row_off = NULL
    r.end = NULL
    r.label = NULL
    r.n = 0
    r.cap = 0


cdef int bd_runs_grow(BdRuns* r) noexcept nogil:
    cdef Py_ssize_t cap = 2 * r.cap if r.cap > 0 else 16
    cdef int32_t* e = <int32_t*>realloc(r.end, cap * sizeof(int32_t))
    if e == NULL:
        return -1
    r.end = e
    e = <int32_t*>realloc(r.label, cap * sizeof(int32_t))
    if e == NULL:
        return -1
    r.label = e
    r.cap = cap
    return 0


cdef void bd_runs_end_row(BdRuns* r) noexcept nogil:
    r.rows += 1
    r.row_off[r.rows] = r.n


# ----------------------------------------------------------------------------- scratch

cdef void bd_scratch_init(BdScratch* s) noexcept nogil:
    s.w_cap = 0
    s.k_cap = 0
    s.iv = NULL
    s.s_off = NULL


cdef void bd_scratch_free(BdScratch* s) noexcept nogil:
    free(s.iv)
    free(s.s_off)
    bd_scratch_init(s)


cdef int bd_scratch_reserve(BdScratch* s, Py_ssize_t w, Py_ssize_t k) noexcept nogil:
    """Room for two maps' interval lists: P, P', C (w + 2 intervals each), the E and suffix
    pools of a block (w + 2k + 2 intervals each; a row's E holds at most w / (2d + 1) + 1),
    3 int32 per interval, and 4k block offsets per map."""
    if w <= s.w_cap and k <= s.k_cap:
        return 0
    if w < s.w_cap:
        w = s.w_cap
    if k < s.k_cap:
        k = s.k_cap
    bd_scratch_free(s)
    s.iv = <int32_t*>malloc(2 * 3 * (5 * (w + 2) + 4 * k + 4) * sizeof(int32_t))
    s.s_off = <int64_t*>malloc(2 * 4 * k * sizeof(int64_t))
    if s.iv == NULL or s.s_off == NULL:
        bd_scratch_free(s)
        return -1
    s.w_cap = w
    s.k_cap = k
    return 0


# ----------------------------------------------------------------------------- pair table

cdef inline Py_ssize_t _pair_hash(int32_t g, int32_t p, Py_ssize_t mask) noexcept nogil:
    cdef uint64_t k = ((<uint64_t><uint32_t>g) << 32) | <uint32_t>p
    k *= 0x9E3779B97F4A7C15ULL
    k ^= k >> 29
    return <Py_ssize_t>(k & <uint64_t>mask)


cdef int bd_pairs_init(BdPairs* t, Py_ssize_t cap_hint) noexcept nogil:
    cdef Py_ssize_t slots = 64, i
    t.n = 0
    t.cap = cap_hint if cap_hint > 32 else 32
    while slots < 2 * t.cap:
        slots <<= 1
    t.slot_mask = slots - 1
    t.slots = <int32_t*>malloc(slots * sizeof(int32_t))
    t.g = <int32_t*>malloc(t.cap * sizeof(int32_t))
    t.p = <int32_t*>malloc(t.cap * sizeof(int32_t))
    t.slot = <int32_t*>malloc(t.cap * sizeof(int32_t))
    t.mask = <int64_t*>malloc(t.cap * sizeof(int64_t))
    t.inner = <int64_t*>malloc(t.cap * sizeof(int64_t))
    if (t.slots == NULL or t.g == NULL or t.p == NULL or t.slot == NULL or t.mask == NULL
            or t.inner == NULL):
        bd_pairs_free(t)
        return -1
    for i in range(slots):
        t.slots[i] = -1
    return 0


cdef void bd_pairs_free(BdPairs* t) noexcept nogil:
    free(t.slots)
    free(t.g)
    free(t.p)
    free(t.slot)
    free(t.mask)
    free(t.inner)
    t.slots = NULL
    t.g = NULL
    t.p = NULL
    t.slot = NULL
    t.mask = NULL
    t.inner = NULL
    t.n = 0
    t.cap = 0


cdef void bd_pairs_clear(BdPairs* t) noexcept nogil:
    cdef Py_ssize_t e
    for e in range(t.n):
        t.slots[t.slot[e]] = -1
    t.n = 0


cdef Py_ssize_t bd_pairs_find(const BdPairs* t, int32_t g, int32_t p) noexcept nogil:
    cdef Py_ssize_t s = _pair_hash(g, p, t.slot_mask)
    cdef int32_t e
    while True:
        e = t.slots[s]
        if e < 0:
            return -1
        if t.g[e] == g and t.p[e] == p:
            return e
        s = (s + 1) & t.slot_mask


cdef int _pairs_grow(BdPairs* t) noexcept nogil:
    """Double the entries and the slots, and re-place every entry."""
    cdef Py_ssize_t cap = 2 * t.cap, slots = 2 * (t.slot_mask + 1), e, s
    cdef int32_t* i32
    cdef int64_t* i64
    i32 = <int32_t*>realloc(t.g, cap * sizeof(int32_t))
    if i32 == NULL:
        return -1
    t.g = i32
    i32 = <int32_t*>realloc(t.p, cap * sizeof(int32_t))
    if i32 == NULL:
        return -1
    t.p = i32
    i32 = <int32_t*>realloc(t.slot, cap * sizeof(int32_t))
    if i32 == NULL:
        return -1
    t.slot = i32
    i64 = <int64_t*>realloc(t.mask, cap * sizeof(int64_t))
    if i64 == NULL:
        return -1
    t.mask = i64
    i64 = <int64_t*>realloc(t.inner, cap * sizeof(int64_t))
    if i64 == NULL:
        return -1
    t.inner = i64
    t.cap = cap
    i32 = <int32_t*>malloc(slots * sizeof(int32_t))
    if i32 == NULL:
        return -1
    free(t.slots)
    t.slots = i32
    t.slot_mask = slots - 1
    for s in range(slots):
        t.slots[s] = -1
    for e in range(t.n):
        s = _pair_hash(t.g[e], t.p[e], t.slot_mask)
        while t.slots[s] >= 0:
            s = (s + 1) & t.slot_mask
        t.slots[s] = <int32_t>e
        t.slot[e] = <int32_t>s
    return 0


cdef Py_ssize_t bd_pairs_entry(BdPairs* t, int32_t g, int32_t p) noexcept nogil:
    cdef Py_ssize_t s = _pair_hash(g, p, t.slot_mask), e
    while True:
        e = t.slots[s]
        if e < 0:
            break
        if t.g[e] == g and t.p[e] == p:
            return e
        s = (s + 1) & t.slot_mask
    if t.n == t.cap:
        if _pairs_grow(t) != 0:
            return -1
        s = _pair_hash(g, p, t.slot_mask)
        while t.slots[s] >= 0:
            s = (s + 1) & t.slot_mask
    e = t.n
    t.n += 1
    t.g[e] = g
    t.p[e] = p
    t.mask[e] = 0
    t.inner[e] = 0
    t.slot[e] = <int32_t>s
    t.slots[s] = <int32_t>e
    return e


# ----------------------------------------------------------------------------- the band pass

cdef Py_ssize_t bd_dilation(Py_ssize_t h, Py_ssize_t w, double ratio) noexcept nogil:
    cdef double x = rint(ratio * sqrt(<double>(h * h + w * w)))
    if not x >= 1.0:  # also NaN
        return 1
    if x > 4e18:
        return <Py_ssize_t>4e18
    return <Py_ssize_t>x


# An interval list: n _Iv, lo < hi (hi exclusive), disjoint and ascending.
cdef struct _Iv:
    int32_t lo
    int32_t hi
    int32_t lab


cdef Py_ssize_t _erode_row(const BdRuns* R, Py_ssize_t r, Py_ssize_t d, _Iv* out) noexcept nogil:
    """E_r: the columns j of row r whose maximal run of label L covers [j - d, j + d]: each
    run [a, b) (equal-label neighbours merged) gives [a + d, b - d) with its label when
    b - a > 2d.  The image edge ends every run."""
    cdef int64_t k = R.row_off[r], k1 = R.row_off[r + 1]
    cdef const int32_t* end = R.end
    cdef const int32_t* lab = R.label
    cdef int32_t a = 0, b, dd = <int32_t>d
    cdef Py_ssize_t n = 0
    while k < k1:
        while k + 1 < k1 and lab[k + 1] == lab[k]:
            k += 1
        b = end[k]
        if b - a > 2 * dd:
            out[n].lo = a + dd
            out[n].hi = b - dd
            out[n].lab = lab[k]
            n += 1
        a = b
        k += 1
    return n


cdef inline Py_ssize_t _intersect(const _Iv* A, Py_ssize_t na, const _Iv* B, Py_ssize_t nb,
                                  _Iv* out) noexcept nogil:
    """The overlaps of equal-label intervals of two lists (out may not alias A or B)."""
    cdef Py_ssize_t n = 0
    cdef const _Iv* ae = A + na
    cdef const _Iv* be = B + nb
    cdef int32_t lo, hi
    while A < ae and B < be:
        lo = A.lo if A.lo > B.lo else B.lo
        hi = A.hi if A.hi < B.hi else B.hi
        if lo < hi and A.lab == B.lab:
            out[n].lo = lo
            out[n].hi = hi
            out[n].lab = A.lab
            n += 1
        if A.hi < B.hi:
            A += 1
        else:
            B += 1
    return n


cdef struct _Vert:
    # the vertical erosion of one map: C_i = E_{i-d} & ... & E_{i+d}, in blocks of k = 2d + 1
    # rows: C_i = S(i - d) & P(i + d) with S a suffix within a block, P a prefix within the next
    const BdRuns* R
    _Iv* epool         # E lists of the rows of the current block
    int64_t* e_off     # per row of the block: start and length in epool
    Py_ssize_t e_end
    _Iv* P             # prefix intersection within the current block
    _Iv* P2            # scratch for the next prefix
    Py_ssize_t nP
    _Iv* spool         # suffix lists of the previous block
    int64_t* s_off     # per row of that block: start and length in spool
    _Iv* C             # the interior of the row being emitted
    Py_ssize_t nC
    Py_ssize_t q       # the next row's place in its block (row % k, kept without a division)


cdef void _suffixes(_Vert* V, Py_ssize_t k) noexcept nogil:
    """S(row) = E_row & ... & E_last for the rows of the block just finished (from epool)."""
    cdef Py_ssize_t q, pos = 0, prev = 0, n = 0
    cdef _Iv* sp = V.spool
    for q in range(k - 1, -1, -1):
        if q == k - 1:
            n = V.e_off[2 * q + 1]
            memcpy(sp, V.epool + V.e_off[2 * q], n * sizeof(_Iv))
        elif n > 0:
            n = _intersect(V.epool + V.e_off[2 * q], V.e_off[2 * q + 1], sp + prev, n, sp + pos)
        V.s_off[2 * q] = pos
        V.s_off[2 * q + 1] = n
        prev = pos
        pos += n


cdef void _vert_row(_Vert* V, Py_ssize_t r, Py_ssize_t k, Py_ssize_t d) noexcept nogil:
    """Take row r (the rows come in order from 0) into the prefix; when r >= k - 1, leave the
    interior of row r - d in C."""
    cdef Py_ssize_t q = V.q, a, ne
    cdef _Iv* e
    cdef _Iv* t
    if q == 0:
        if r >= k:
            _suffixes(V, k)
        V.e_end = 0
    e = V.epool + V.e_end
    ne = _erode_row(V.R, r, d, e)
    V.e_off[2 * q] = V.e_end
    V.e_off[2 * q + 1] = ne
    V.e_end += ne
    if q == 0:
        memcpy(V.P, e, ne * sizeof(_Iv))
        V.nP = ne
    elif V.nP > 0:
        V.nP = _intersect(V.P, V.nP, e, ne, V.P2)
        t = V.P
        V.P = V.P2
        V.P2 = t
    V.q = q + 1 if q + 1 < k else 0
    if r < k - 1:
        return
    a = V.q  # (r - k + 1) % k
    if q == k - 1:  # the window is this block
        memcpy(V.C, V.P, V.nP * sizeof(_Iv))
        V.nC = V.nP
    else:
        V.nC = _intersect(V.spool + V.s_off[2 * a], V.s_off[2 * a + 1], V.P, V.nP, V.C)


cdef void _vert_init(_Vert* V, const BdRuns* R, _Iv* iv, int64_t* off, Py_ssize_t w, Py_ssize_t k) noexcept nogil:
    V.R = R
    V.P = iv
    V.P2 = iv + (w + 2)
    V.C = iv + 2 * (w + 2)
    V.epool = iv + 3 * (w + 2)
    V.spool = iv + 3 * (w + 2) + (w + 2 * k + 2)
    V.e_off = off
    V.s_off = off + 2 * k
    V.e_end = 0
    V.nP = 0
    V.nC = 0
    V.q = 0


ctypedef int (*_row_fn)(void* ctx, Py_ssize_t i, const _Iv* ca, Py_ssize_t na,
                        const _Iv* cb, Py_ssize_t nb) noexcept nogil


cdef int _drive(const BdRuns* A, const BdRuns* B, Py_ssize_t d, BdScratch* s, _row_fn fn,
                void* ctx) noexcept nogil:
    """The band pass over one map (B NULL) or two maps of the same size: calls fn(ctx, i,
    ca, na, cb, nb) for every row i in order, with each map's *interior* intervals (the
    pixels not in their label's band; B's list is empty when B is NULL).  d <= 0: no band,
    the interior is the whole row."""
    cdef Py_ssize_t h = A.h, w = A.w, k, i, r, half, side_len
    cdef _Vert VA, VB
    cdef _Iv whole
    cdef const _Iv* cb = NULL
    cdef Py_ssize_t nb = 0
    if h <= 0 or w <= 0:
        return 0
    if d <= 0:
        whole.lo = 0
        whole.hi = <int32_t>w
        whole.lab = 0
        for i in range(h):
            if fn(ctx, i, &whole, 1, &whole, 1 if B != NULL else 0) != 0:
                return -1
        return 0
    half = ((h if h < w else w) + 1) // 2
    if d > half:
        d = half
    k = 2 * d + 1
    # rows within d of the top or bottom edge are band throughout: empty interiors
    for i in range(d if d < h else h):
        if fn(ctx, i, NULL, 0, NULL, 0) != 0:
            return -1
    if k <= h:
        if bd_scratch_reserve(s, w, k) != 0:
            return -1
        side_len = 3 * (w + 2) + 2 * (w + 2 * k + 2)
        _vert_init(&VA, A, <_Iv*>s.iv, s.s_off, w, k)
        if B != NULL:
            _vert_init(&VB, B, <_Iv*>s.iv + side_len, s.s_off + 4 * k, w, k)
        for r in range(h):
            _vert_row(&VA, r, k, d)
            if B != NULL:
                _vert_row(&VB, r, k, d)
                cb = VB.C
                nb = VB.nC
            if r >= k - 1 and fn(ctx, r - d, VA.C, VA.nC, cb, nb) != 0:
                return -1
    for i in range(h - d if h - d > d else d, h):
        if fn(ctx, i, NULL, 0, NULL, 0) != 0:
            return -1
    return 0


# ----------------------------------------------------------------------------- the piece walk

cdef struct _Walk:
    const int32_t* gend
    const int32_t* glab
    const int32_t* pend
    const int32_t* plab
    const _Iv* ca          # GT interior intervals
    const _Iv* ca_end
    const _Iv* cb          # prediction interior intervals
    const _Iv* cb_end
    int32_t xa, xb         # where the GT / prediction interior state next changes
    bint ina, inb          # whether column j is in a GT / prediction interior interval
    int32_t w, j
    int64_t gk, pk


cdef inline void _side_state(const _Iv** c, const _Iv* c_end, int32_t j, int32_t w, bint* inside,
                             int32_t* nxt) noexcept nogil:
    """Whether column j is in an interior interval, and where that next changes."""
    while c[0] < c_end and c[0].hi <= j:
        c[0] += 1
    if c[0] < c_end and c[0].lo <= j:
        inside[0] = True
        nxt[0] = c[0].hi
    else:
        inside[0] = False
        nxt[0] = c[0].lo if c[0] < c_end else w


cdef inline void _walk_start(_Walk* t, const BdRuns* G, const BdRuns* P, Py_ssize_t i, const _Iv* ca,
                             Py_ssize_t na, const _Iv* cb, Py_ssize_t nb) noexcept nogil:
    t.gend = G.end
    t.glab = G.label
    t.pend = P.end
    t.plab = P.label
    t.ca = ca
    t.ca_end = ca + na
    t.cb = cb
    t.cb_end = cb + nb
    t.w = <int32_t>G.w
    t.j = 0
    t.gk = G.row_off[i]
    t.pk = P.row_off[i]
    _side_state(&t.ca, t.ca_end, 0, t.w, &t.ina, &t.xa)
    _side_state(&t.cb, t.cb_end, 0, t.w, &t.inb, &t.xb)


cdef inline void _walk_to(_Walk* t, int32_t e) noexcept nogil:
    t.j = e
    if e < t.w:
        if e >= t.xa:
            _side_state(&t.ca, t.ca_end, e, t.w, &t.ina, &t.xa)
        if e >= t.xb:
            _side_state(&t.cb, t.cb_end, e, t.w, &t.inb, &t.xb)


cdef inline bint _walk_next(_Walk* t, int32_t* n, int32_t* gl, int32_t* pl, uint8_t* b,
                            bint skip_band) noexcept nogil:
    """The next piece of the row with one GT label, one prediction label and one interior
    byte b (bit 0: in the GT interior, bit 1: in the prediction's) over n pixels; False at
    the end of the row.  With skip_band, stretches in both bands (b = 0) are passed over."""
    cdef int32_t ge, pe, e
    if skip_band:
        while not t.ina and not t.inb and t.j < t.w:
            e = t.xa if t.xa < t.xb else t.xb
            while t.gend[t.gk] <= e and t.gend[t.gk] < t.w:
                t.gk += 1
            while t.pend[t.pk] <= e and t.pend[t.pk] < t.w:
                t.pk += 1
            _walk_to(t, e)
    if t.j >= t.w:
        return False
    ge = t.gend[t.gk]
    pe = t.pend[t.pk]
    e = ge if ge < pe else pe
    if t.xa < e:
        e = t.xa
    if t.xb < e:
        e = t.xb
    n[0] = e - t.j
    gl[0] = t.glab[t.gk]
    pl[0] = t.plab[t.pk]
    b[0] = <uint8_t>(t.ina | (t.inb << 1))
    if ge == e:
        t.gk += 1
    if pe == e:
        t.pk += 1
    _walk_to(t, e)
    return True


# ----------------------------------------------------------------------------- semantic counts

cdef struct _SemCtx:
    const BdRuns* gt
    const BdRuns* pred
    int64_t* gt_in
    int64_t* pred_in
    int64_t* both_in


cdef int _sem_row(void* ctx, Py_ssize_t i, const _Iv* ca, Py_ssize_t na, const _Iv* cb,
                  Py_ssize_t nb) noexcept nogil:
    cdef _SemCtx* c = <_SemCtx*>ctx
    cdef _Walk t
    cdef int32_t n, gl, pl
    cdef uint8_t b
    cdef int64_t* gt_in = c.gt_in
    cdef int64_t* pred_in = c.pred_in
    cdef int64_t* both_in = c.both_in
    _walk_start(&t, c.gt, c.pred, i, ca, na, cb, nb)
    while _walk_next(&t, &n, &gl, &pl, &b, True):
        if gl < 0 or pl < 0:
            continue
        if b & 1:
            gt_in[gl] += n
        if b & 2:
            pred_in[pl] += n
        if gl == pl:
            both_in[gl] += n
    return 0


cdef int bd_semantic_interior(const BdRuns* gt, const BdRuns* pred, Py_ssize_t d, int64_t* gt_in,
                              int64_t* pred_in, int64_t* both_in, BdScratch* s) noexcept nogil:
    cdef _SemCtx c
    c.gt = gt
    c.pred = pred
    c.gt_in = gt_in
    c.pred_in = pred_in
    c.both_in = both_in
    return _drive(gt, pred, d, s, _sem_row, &c)


# ----------------------------------------------------------------------------- panoptic counts

cdef struct _PanCtx:
    const BdRuns* gt
    const BdRuns* pred
    int64_t* gt_in
    int64_t* pred_in
    BdPairs* pairs
    bint count_mask


cdef inline Py_ssize_t _entry(BdPairs* T, int32_t gl, int32_t pl, int32_t* cur, Py_ssize_t* ent) noexcept nogil:
    """The entry of (gl, pl), remembered across the pieces of a row (cur: the last pair)."""
    if gl != cur[0] or pl != cur[1]:
        ent[0] = bd_pairs_entry(T, gl, pl)
        cur[0] = gl
        cur[1] = pl
    return ent[0]


cdef int _pan_row(void* ctx, Py_ssize_t i, const _Iv* ca, Py_ssize_t na, const _Iv* cb,
                  Py_ssize_t nb) noexcept nogil:
    cdef _PanCtx* c = <_PanCtx*>ctx
    cdef BdPairs* T = c.pairs
    cdef _Walk t
    cdef Py_ssize_t ent = -1, e
    cdef int32_t n, gl, pl
    cdef int32_t cur[2]
    cdef uint8_t b
    cdef bint mask = c.count_mask
    cur[0] = -1
    cur[1] = -1
    _walk_start(&t, c.gt, c.pred, i, ca, na, cb, nb)
    while _walk_next(&t, &n, &gl, &pl, &b, not mask):
        if b & 1 and gl > 0:
            c.gt_in[gl] += n
        if b & 2 and pl > 0:
            c.pred_in[pl] += n
        if mask or (pl > 0 and (b & 2 or (b and gl > 0))):
            e = _entry(T, gl, pl, cur, &ent)
            if e < 0:
                return -1
            if pl > 0 and (b & 2 or (b and gl > 0)):
                T.inner[e] += n
            if mask:
                T.mask[e] += n
    return 0


cdef int bd_panoptic_interior(const BdRuns* gt, const BdRuns* pred, Py_ssize_t d, int64_t* gt_in,
                              int64_t* pred_in, BdPairs* pairs, bint count_mask, BdScratch* s) noexcept nogil:
    cdef _PanCtx c
    c.gt = gt
    c.pred = pred
    c.gt_in = gt_in
    c.pred_in = pred_in
    c.pairs = pairs
    c.count_mask = count_mask
    return _drive(gt, pred, d, s, _pan_row, &c)


cdef void bd_pairs_inner_of(const BdPairs* t, Py_ssize_t n, const int32_t* g, const int32_t* p,
                            int64_t* out) noexcept nogil:
    cdef Py_ssize_t k, e
    for k in range(n):
        e = bd_pairs_find(t, g[k], p[k])
        out[k] = t.inner[e] if e >= 0 else 0


# ----------------------------------------------------------------------------- band image

cdef struct _ImgCtx:
    uint8_t* out
    Py_ssize_t w


cdef int _img_row(void* ctx, Py_ssize_t i, const _Iv* ca, Py_ssize_t na, const _Iv* cb,
                  Py_ssize_t nb) noexcept nogil:
    cdef _ImgCtx* c = <_ImgCtx*>ctx
    cdef uint8_t* row = c.out + i * c.w
    cdef Py_ssize_t k
    memset(row, 1, c.w)
    for k in range(na):
        memset(row + ca[k].lo, 0, ca[k].hi - ca[k].lo)
    return 0


cdef int bd_band_image(const BdRuns* runs, Py_ssize_t d, uint8_t* out, BdScratch* s) noexcept nogil:
    cdef _ImgCtx c
    c.out = out
    c.w = runs.w
    return _drive(runs, NULL, d, s, _img_row, &c)


# ----------------------------------------------------------------------------- fused loops

cdef class BandWork:
    """Per-thread band state of a fused count (see ``BandWork`` in the pxd).

    Parameters
    ----------
    ratio : float
        Band width as a fraction of each image's diagonal (:func:`dilation`).
    dilation : int
        A fixed band width in pixels instead (0: use ``ratio``).
    """

    def __cinit__(self, double ratio=0.02, Py_ssize_t dilation=0):
        memset(&self.g, 0, sizeof(BdRuns))
        memset(&self.p, 0, sizeof(BdRuns))
        memset(&self.pairs, 0, sizeof(BdPairs))
        bd_scratch_init(&self.s)
        self.gin = self.pin = self.band = NULL
        self.seg_cap = self.band_cap = 0
        if not (ratio >= 0) or dilation < 0:
            raise ValueError("ratio and dilation must not be negative")
        self.ratio = ratio
        self.dilation = dilation
        self.last_width = 0
        if (bd_runs_init(&self.g, 0, 0, 1024) != 0 or bd_runs_init(&self.p, 0, 0, 1024) != 0
                or bd_pairs_init(&self.pairs, 64) != 0):
            raise MemoryError("cannot allocate the band state")
        self.b.g = &self.g
        self.b.p = &self.p

    def __dealloc__(self):
        bd_runs_free(&self.g)
        bd_runs_free(&self.p)
        bd_pairs_free(&self.pairs)
        bd_scratch_free(&self.s)
        free(self.gin)
        free(self.pin)
        free(self.band)

    cdef int start(self, Py_ssize_t h, Py_ssize_t w) noexcept nogil:
        self.b.x = 0
        self.b.gl = INT32_MIN
        self.b.pl = INT32_MIN
        if bd_runs_reset(&self.g, h, w) != 0 or bd_runs_reset(&self.p, h, w) != 0:
            return -1
        return 0

    cdef Py_ssize_t width(self, Py_ssize_t h, Py_ssize_t w) noexcept nogil:
        return self.dilation if self.dilation > 0 else bd_dilation(h, w, self.ratio)

    cdef bint complete(self) noexcept nogil:
        return self.g.rows == self.g.h and self.p.rows == self.p.h and self.g.h == self.p.h

    cdef int semantic(self, int64_t* gt_in, int64_t* pred_in, int64_t* both_in) noexcept nogil:
        cdef Py_ssize_t d = self.width(self.g.h, self.g.w)
        self.last_width = d
        return bd_semantic_interior(&self.g, &self.p, d, gt_in, pred_in, both_in, &self.s)

    cdef int _reserve(self, Py_ssize_t segs, Py_ssize_t n) noexcept nogil:
        cdef int64_t* x
        if segs > self.seg_cap:
            free(self.gin)
            free(self.pin)
            self.gin = <int64_t*>malloc(segs * sizeof(int64_t))
            self.pin = <int64_t*>malloc(segs * sizeof(int64_t))
            self.seg_cap = segs if (self.gin != NULL and self.pin != NULL) else 0
            if self.seg_cap == 0:
                return -1
        if n > self.band_cap:
            x = <int64_t*>realloc(self.band, n * sizeof(int64_t))
            if x == NULL:
                return -1
            self.band = x
            self.band_cap = n
        return 0

    cdef int panoptic(self, Py_ssize_t n, const uint32_t* eg, const uint32_t* ep, const int64_t* ec,
                      Py_ssize_t ng, Py_ssize_t npr) noexcept nogil:
        cdef Py_ssize_t k, e, d = self.width(self.g.h, self.g.w)
        cdef Py_ssize_t segs = (ng if ng > npr else npr) + 1
        self.last_width = d
        if self._reserve(segs, n if n > 0 else 1) != 0:
            return -1
        memset(self.gin, 0, (ng + 1) * sizeof(int64_t))
        memset(self.pin, 0, (npr + 1) * sizeof(int64_t))
        bd_pairs_clear(&self.pairs)
        if bd_panoptic_interior(&self.g, &self.p, d, self.gin, self.pin, &self.pairs, False, &self.s) != 0:
            return -1
        for k in range(n):
            e = bd_pairs_find(&self.pairs, <int32_t>eg[k], <int32_t>ep[k])
            self.band[k] = ec[k] - (self.pairs.inner[e] if e >= 0 else 0)
        return 0

    def runs(self):
        """The runs built for the last image: ``(gt, pred)``, each ``(row_off, end, label)``
        arrays as :meth:`Runs.arrays` gives them."""
        return _runs_arrays(&self.g), _runs_arrays(&self.p)


cdef tuple _runs_arrays(const BdRuns* r):
    n = r.n
    off = np.empty(r.rows + 1, np.int64)
    end = np.empty(n, np.int32)
    lab = np.empty(n, np.int32)
    cdef int64_t[::1] vo = off
    cdef int32_t[::1] ve = end, vl = lab
    memcpy(&vo[0], r.row_off, (r.rows + 1) * sizeof(int64_t))
    if n:
        memcpy(&ve[0], r.end, n * sizeof(int32_t))
        memcpy(&vl[0], r.label, n * sizeof(int32_t))
    return off, end, lab


# ============================================================================= Python wrappers

cdef class Runs:
    """Run-length encoding of one label map (owned C memory, see ``BdRuns`` in the pxd)."""
    cdef BdRuns r

    def __cinit__(self):
        self.r.row_off = NULL
        self.r.end = NULL
        self.r.label = NULL
        self.r.n = 0
        self.r.cap = 0
        self.r.h = 0
        self.r.w = 0
        self.r.rows = 0

    def __dealloc__(self):
        bd_runs_free(&self.r)

    @property
    def shape(self):
        return (self.r.h, self.r.w)

    def arrays(self):
        """``(row_off, end, label)`` as new int64 / int32 / int32 arrays."""
        return _runs_arrays(&self.r)


cdef Runs _new_runs(Py_ssize_t h, Py_ssize_t w):
    if h < 1 or w < 1 or h >= 2**31 - 1 or w >= 2**31 - 1:
        raise ValueError(f"a label map of {h} x {w} pixels is outside what the band kernel takes")
    cdef Runs out = Runs()
    if bd_runs_init(&out.r, h, w, 4 * h + 64) != 0:
        raise MemoryError("cannot allocate the run list")
    return out


cdef inline Py_ssize_t _next_change(const label_t* x, Py_ssize_t k, Py_ssize_t w) noexcept nogil:
    """First k' >= k (k >= 1) with x[k'] != x[k' - 1], or w; 8-byte words while they fit."""
    cdef Py_ssize_t step = 8 // sizeof(label_t)
    cdef uint64_t a, b
    while k + step <= w:
        memcpy(&a, x + k, 8)
        memcpy(&b, x + k - 1, 8)
        if a != b:
            break
        k += step
    while k < w and x[k] == x[k - 1]:
        k += 1
    return k


cdef inline int32_t _code(label_t v, const int32_t* codes, uint64_t n, bint has_ignore,
                          int64_t ignore) noexcept nogil:
    """The confusion kernel's code-table rule (see segmetrics._kernels.confusion)."""
    if <uint64_t>v < n:
        return codes[<uint64_t>v]
    if has_ignore and <int64_t>v == ignore:
        return _IGNORED
    return _BAD


cdef int _encode_codes(const label_t* base, Py_ssize_t h, Py_ssize_t w, Py_ssize_t stride,
                       const int32_t* codes, uint64_t ncodes, bint has_ignore, int64_t ignore,
                       BdRuns* out) noexcept nogil:
    cdef Py_ssize_t r, k
    cdef const label_t* row
    cdef int32_t cur, c
    for r in range(h):
        row = base + r * stride
        cur = _code(row[0], codes, ncodes, has_ignore, ignore)
        k = 1
        while True:
            k = _next_change(row, k, w)
            if k >= w:
                break
            c = _code(row[k], codes, ncodes, has_ignore, ignore)
            if c != cur:
                if bd_runs_push(out, <int32_t>k, cur) != 0:
                    return -1
                cur = c
            k += 1
        if bd_runs_push(out, <int32_t>w, cur) != 0:
            return -1
        bd_runs_end_row(out)
    return 0


def encode_codes(const label_t[:, :] labels, const int32_t[::1] codes, bint has_ignore, int64_t ignore):
    """Runs of code-table codes of a 2-D label map (rows contiguous).

    ``codes[v]`` is the code of a raw value ``v < len(codes)``; a value beyond the table
    is ``-1`` when ``has_ignore`` and it equals ``ignore``, else ``-2`` (the confusion
    kernel's rule).  Returns a :class:`Runs`.
    """
    cdef Py_ssize_t h = labels.shape[0], w = labels.shape[1]
    if w > 1 and labels.strides[1] != sizeof(label_t):
        raise ValueError("label rows must be contiguous")
    cdef Runs out = _new_runs(h, w)
    cdef int st
    with nogil:
        st = _encode_codes(&labels[0, 0], h, w, labels.strides[0] // sizeof(label_t),
                           &codes[0] if codes.shape[0] else NULL, codes.shape[0], has_ignore, ignore,
                           &out.r)
    if st != 0:
        raise MemoryError("cannot grow the run list")
    return out


cdef inline uint32_t _rgb(const uint8_t* x, Py_ssize_t j) noexcept nogil:
    return (<uint32_t>x[3 * j]) | (<uint32_t>x[3 * j + 1] << 8) | (<uint32_t>x[3 * j + 2] << 16)


cdef inline int32_t _dense(uint32_t v, const int64_t* ids, Py_ssize_t n) noexcept nogil:
    """0 for void (id 0), 1 + the position of v among the ascending ids, -1 when unlisted."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    if v == 0:
        return 0
    while lo < hi:
        mid = (lo + hi) >> 1
        if ids[mid] < <int64_t>v:
            lo = mid + 1
        else:
            hi = mid
    if lo < n and ids[lo] == <int64_t>v:
        return <int32_t>(lo + 1)
    return -1


cdef int _encode_ids(const uint8_t* base, bint rgb, Py_ssize_t h, Py_ssize_t w, Py_ssize_t stride,
                     const int64_t* ids, Py_ssize_t nids, BdRuns* out, int64_t* bad) noexcept nogil:
    cdef Py_ssize_t r, k
    cdef const uint8_t* row
    cdef const int32_t* row32
    cdef uint32_t v
    cdef int32_t cur
    for r in range(h):
        row = base + r * stride
        k = 0
        while k < w:
            if rgb:
                v = _rgb(row, k)
                k += 1
                while k < w and _rgb(row, k) == v:
                    k += 1
            else:
                row32 = <const int32_t*>row
                v = <uint32_t>row32[k]
                k = _next_change(row32, k + 1, w)
            cur = _dense(v, ids, nids)
            if cur < 0:
                bad[0] = v
                return -2
            if bd_runs_push(out, <int32_t>k, cur) != 0:
                return -1
        bd_runs_end_row(out)
    return 0


def encode_ids(const uint8_t[:, ::1] ids_map, bint rgb, Py_ssize_t width, const int64_t[::1] ids):
    """Runs of dense segment indices of an id map.

    ``ids_map`` holds the raw bytes of each row: ``3 * width`` bytes of RGB when ``rgb``
    (id = R + 256 G + 256^2 B), else ``width`` native uint32 ids.  ``ids`` are the listed
    segment ids, unique and ascending.  Returns ``(runs, bad)``: ``bad`` is the first
    unlisted non-zero id met (``runs`` is then None), else -1.
    """
    cdef Py_ssize_t h = ids_map.shape[0]
    if ids_map.shape[1] != width * (3 if rgb else 4):
        raise ValueError(f"rows of {ids_map.shape[1]} bytes do not hold {width} pixels")
    cdef Runs out = _new_runs(h, width)
    cdef int64_t bad = -1
    cdef int st
    with nogil:
        st = _encode_ids(&ids_map[0, 0], rgb, h, width, ids_map.strides[0], &ids[0] if ids.shape[0] else NULL,
                         ids.shape[0], &out.r, &bad)
    if st == -1:
        raise MemoryError("cannot grow the run list")
    if st == -2:
        return None, bad
    return out, -1


def dilation(Py_ssize_t height, Py_ssize_t width, double ratio):
    """Band width in pixels: ``max(1, round(ratio * sqrt(height^2 + width^2)))``, half to even."""
    return bd_dilation(height, width, ratio)


def _check_pair(Runs gt, Runs pred):
    if gt.r.h != pred.r.h or gt.r.w != pred.r.w:
        raise ValueError(f"maps of {gt.r.h} x {gt.r.w} and {pred.r.h} x {pred.r.w} pixels")
    if gt.r.rows != gt.r.h or pred.r.rows != pred.r.h:
        raise ValueError("unfinished run lists")


def semantic_interior(Runs gt, Runs pred, Py_ssize_t d, int64_t[::1] gt_in, int64_t[::1] pred_in,
                      int64_t[::1] both_in):
    """Add one image's semantic interior counts (see ``bd_semantic_interior``).  Codes must
    lie below the arrays' length; negative codes are counted nowhere."""
    _check_pair(gt, pred)
    cdef Py_ssize_t K = gt_in.shape[0]
    if pred_in.shape[0] != K or both_in.shape[0] != K:
        raise ValueError("gt_in, pred_in and both_in need one entry per class")
    cdef BdScratch s
    cdef int st = 0
    cdef Py_ssize_t k
    with nogil:
        for k in range(gt.r.n):
            if gt.r.label[k] >= K:
                st = -2
        for k in range(pred.r.n):
            if pred.r.label[k] >= K:
                st = -2
        if st == 0:
            bd_scratch_init(&s)
            st = bd_semantic_interior(&gt.r, &pred.r, d, &gt_in[0], &pred_in[0], &both_in[0], &s)
            bd_scratch_free(&s)
    if st == -2:
        raise ValueError("a code is not below the number of classes")
    if st != 0:
        raise MemoryError("cannot allocate the band scratch")


def panoptic_interior(Runs gt, Runs pred, Py_ssize_t d, Py_ssize_t ng, Py_ssize_t npr, bint count_mask=True):
    """One image's Boundary PQ interior counts (see ``bd_panoptic_interior``).

    Returns ``(g, p, mask, inner, gt_in, pred_in)``: the pairs sorted by ``(g, p)``
    (int32, int32, int64, int64; every present pair with ``count_mask``, else only those
    with an interior count, mask 0) and the interior areas (int64, ``ng + 1`` and
    ``npr + 1`` entries).  Labels must lie in ``[0, ng]`` / ``[0, npr]``.
    """
    _check_pair(gt, pred)
    cdef Py_ssize_t k
    for k in range(gt.r.n):
        if gt.r.label[k] < 0 or gt.r.label[k] > ng:
            raise ValueError("a GT label is not a dense segment index")
    for k in range(pred.r.n):
        if pred.r.label[k] < 0 or pred.r.label[k] > npr:
            raise ValueError("a prediction label is not a dense segment index")
    gi = np.zeros(ng + 1, np.int64)
    pi = np.zeros(npr + 1, np.int64)
    cdef int64_t[::1] vgi = gi, vpi = pi
    cdef BdScratch s
    cdef BdPairs t
    cdef int st
    with nogil:
        bd_scratch_init(&s)
        st = bd_pairs_init(&t, ng + npr + 2)
        if st == 0:
            st = bd_panoptic_interior(&gt.r, &pred.r, d, &vgi[0], &vpi[0], &t, count_mask, &s)
        bd_scratch_free(&s)
    if st != 0:
        bd_pairs_free(&t)
        raise MemoryError("cannot allocate the pair table")
    n = t.n
    g = np.empty(n, np.int32)
    p = np.empty(n, np.int32)
    mask = np.empty(n, np.int64)
    inner = np.empty(n, np.int64)
    cdef int32_t[::1] vg = g, vp = p
    cdef int64_t[::1] vm = mask, vi = inner
    if n:
        memcpy(&vg[0], t.g, n * sizeof(int32_t))
        memcpy(&vp[0], t.p, n * sizeof(int32_t))
        memcpy(&vm[0], t.mask, n * sizeof(int64_t))
        memcpy(&vi[0], t.inner, n * sizeof(int64_t))
    bd_pairs_free(&t)
    order = np.lexsort((p, g))
    return g[order], p[order], mask[order], inner[order], gi, pi


def band_image(Runs runs, Py_ssize_t d):
    """The band of one map: uint8 (h, w), 1 where a pixel is in its own label's band."""
    if runs.r.rows != runs.r.h:
        raise ValueError("unfinished run list")
    out = np.empty((runs.r.h, runs.r.w), np.uint8)
    cdef uint8_t[:, ::1] v = out
    cdef BdScratch s
    cdef int st
    with nogil:
        bd_scratch_init(&s)
        st = bd_band_image(&runs.r, d, &v[0, 0], &s)
        bd_scratch_free(&s)
    if st != 0:
        raise MemoryError("cannot allocate the band scratch")
    return out
