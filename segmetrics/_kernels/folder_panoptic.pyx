# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Panoptic folder kernels: decode two RGB panoptic PNGs (or a prediction against cached
GT runs), count the present (GT, prediction) segment pairs into a
:class:`~segmetrics._kernels.panoptic.PairTable`, and (fused path) apply
panopticapi's per-image rules, all in one nogil call.  Status codes: see
:mod:`segmetrics._kernels.folder`.

Fused statistics: :class:`PanopticBatch` holds the segment columns of every image
of a run; its scorers count one image, then run the per-image rules of ``sm_pq.h``
(the same code :func:`segmetrics._kernels.panoptic.image_stats` runs) and add the
image's TP / FP / FN, matches and category confusion to a per-thread
:class:`PanopticAccumulator`, with PQ-dagger's stuff pairs and GT segment counts.
With a :class:`~segmetrics._kernels.boundary.BandWork` in the accumulator, the same
row walk also builds both maps' runs of dense indices; the band pass then counts each
segment's and each pair's interior, and Boundary PQ is matched on the same pairs.  They return ``3`` (nothing added) when the image
needs the Python statistics: a listed segment without pixels or a JSON area that
differs from the PNG, which the Python path reports by name.
:meth:`PanopticBatch.run` also reads the files (POSIX) and takes images from a
shared :class:`~segmetrics._kernels.folder.WorkCounter`, so a thread makes one
call for a whole run.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

import numpy as np

from segmetrics._kernels.boundary cimport BandWork, bd_build_row_end
from segmetrics._kernels.folder cimport (
    NEEDS_PYTHON, OK, PATH_BUF, REFERENCE, FilePairs, Scratch, WorkCounter, sha256_parts, unfilter,
)
from segmetrics._kernels.panoptic cimport PairBandSink, PairTable, pair_band_emit
from segmetrics._kernels.png cimport png_header
from segmetrics._kernels.sm cimport (
    SM_NO_SKIP, SM_PQ_NOMEM, SM_PQ_OK, sm_pairs, sm_pairs_emit, sm_pairs_sort,
    sm_pan_rgb, sm_pan_runs, sm_pq, sm_pq_add_image, sm_pq_free, sm_pq_image, sm_rec_flush, sm_side,
    sm_walk,
)

cdef uint8_t _EMPTY[64]


# ----------------------------------------------------------------------------- counting
cdef inline int _walk_row(sm_side *G, bint cached, sm_side *P, size_t w, sm_pairs *tab, BandWork band,
                          PairBandSink *sink) noexcept nogil:
    """One row pair (GT RGB pixels, or cached GT runs) into the pair table, and into band's runs
    when band is not None; the walker's status (-3: out of memory)."""
    cdef int ret
    if band is None:
        if cached:
            return sm_walk(G, sm_pan_runs, 0, P, sm_pan_rgb, 3, w, SM_NO_SKIP, sm_pairs_emit, tab)
        return sm_walk(G, sm_pan_rgb, 3, P, sm_pan_rgb, 3, w, SM_NO_SKIP, sm_pairs_emit, tab)
    if cached:
        ret = sm_walk(G, sm_pan_runs, 0, P, sm_pan_rgb, 3, w, SM_NO_SKIP, pair_band_emit, sink)
    else:
        ret = sm_walk(G, sm_pan_rgb, 3, P, sm_pan_rgb, 3, w, SM_NO_SKIP, pair_band_emit, sink)
    if ret == 0 and bd_build_row_end(&band.b) != 0:
        ret = -3
    return ret


cdef int _count_cold(Scratch s, PairTable t, const uint8_t *gp, size_t gn, const uint8_t *pp, size_t pn,
                     const int64_t *gids, Py_ssize_t ng, const int64_t *pids, Py_ssize_t npr,
                     bint record, BandWork band) noexcept nogil:
    """Both PNGs into t's pairs (and, band not None, both maps' runs into band); sets
    s.width, s.height and s.n_runs.  Returns the status."""
    cdef png_header gh, ph
    cdef int status, ret
    cdef size_t y
    cdef sm_side G, P
    cdef PairBandSink sink
    sink.tab, sink.b = &t.tab, NULL
    memset(&gh, 0, sizeof(gh))
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    s.begin()
    status = s.open_pair(gp, gn, pp, pn, &gh, &ph, 3)  # 3 channels: 8-bit RGB only
    if status == OK and t.start(gids, ng, pids, npr) != 0:
        status = s.seterr(b"out of memory")
    if status == OK:
        status = s.start_record(record, gh.width * gh.height, &t.rec, 0)
        if record:
            t.tab.rec = &t.rec
    if status == OK and band is not None:
        if band.start(gh.height, gh.width) != 0:
            status = s.seterr(b"out of memory")
        sink.b = &band.b
    G.lut, P.lut = &t.gids, &t.pids
    G.wsafe = P.wsafe = gh.width
    y = 0
    while status == OK and y < gh.height:
        G.x = unfilter(&gh, s.buf[0], y)
        P.x = unfilter(&ph, s.buf[1], y)
        if G.x == NULL or P.x == NULL:
            status = s.seterr(b"bad row filter type")
        else:
            ret = _walk_row(&G, False, &P, gh.width, &t.tab, band, &sink)
            if ret == -3:
                status = s.seterr(b"out of memory")
            elif ret != 0:
                status = s.seterr(b"segment id not in segments_info")
        if status == OK and record:
            sm_rec_flush(&t.rec)
        y += 1
    t.tab.rec = NULL
    return s.end_record(&t.rec if record else NULL, status, &gh)


cdef int _count_warm(Scratch s, PairTable t, const uint16_t *rv, const uint16_t *rl, size_t nruns,
                     Py_ssize_t width, Py_ssize_t height, const uint8_t *pp, size_t pn,
                     Py_ssize_t ng, const int64_t *pids, Py_ssize_t npr, BandWork band) noexcept nogil:
    """The prediction PNG against cached GT runs of dense indices into t's pairs (and,
    band not None, both maps' runs into band)."""
    cdef png_header ph
    cdef int status, ret
    cdef size_t y
    cdef sm_side G, P
    cdef PairBandSink sink
    sink.tab, sink.b = &t.tab, NULL
    memset(&G, 0, sizeof(G))
    memset(&P, 0, sizeof(P))
    s.begin()
    status = s.open_cached(rv, rl, nruns, width, height, <uint32_t>ng, pp, pn, &ph, 3)
    if status == OK and t.start(NULL, ng, pids, npr) != 0:
        status = s.seterr(b"out of memory")
    if status == OK and band is not None:
        if band.start(height, width) != 0:
            status = s.seterr(b"out of memory")
        sink.b = &band.b
    if status != OK:
        return status
    s.counted = True
    G.rv, G.rl, P.lut = rv, rl, &t.pids
    P.wsafe = ph.width
    for y in range(<size_t>height):
        P.x = unfilter(&ph, s.buf[1], y)
        if P.x == NULL:
            return s.seterr(b"bad row filter type")
        ret = _walk_row(&G, True, &P, ph.width, &t.tab, band, &sink)
        if ret == -3:
            return s.seterr(b"out of memory")
        if ret != 0:
            return s.seterr(b"segment id not in segments_info")
    return OK


cdef inline const int64_t *_first(const int64_t[::1] a) noexcept nogil:
    """The first element's address (a dummy one for an empty array: never read)."""
    return &a[0] if a.shape[0] else <const int64_t *>_EMPTY


def panoptic_pair(Scratch s, const uint8_t[::1] gt, const uint8_t[::1] pred, PairTable table,
                  const int64_t[::1] gt_ids, const int64_t[::1] pred_ids, bint record=False,
                  BandWork band=None):
    """Decode two RGB panoptic PNGs and count their present segment pairs into ``table``
    (and, given ``band``, build both maps' runs there for
    :func:`~segmetrics._kernels.panoptic.image_stats`).

    Ids are sorted ascending.  Recording needs ``len(gt_ids) < 65536``.  Returns
    the status.
    """
    cdef int status
    cdef Py_ssize_t ng = gt_ids.shape[0], npr = pred_ids.shape[0]
    if record and ng >= 65536:
        raise ValueError("cannot record more than 65535 ground-truth segments")
    with nogil:
        status = _count_cold(s, table, &gt[0] if gt.shape[0] else _EMPTY, gt.shape[0],
                             &pred[0] if pred.shape[0] else _EMPTY, pred.shape[0],
                             _first(gt_ids), ng, _first(pred_ids), npr, record, band)
    return status


def panoptic_cached(Scratch s, const uint16_t[::1] values, const uint16_t[::1] lengths,
                    Py_ssize_t width, Py_ssize_t height, const uint8_t[::1] pred, PairTable table,
                    Py_ssize_t n_gt, const int64_t[::1] pred_ids, BandWork band=None):
    """Like :func:`panoptic_pair` with the ground truth given as cached runs of dense
    indices of ``n_gt`` listed segments."""
    cdef int status
    cdef size_t nruns = values.shape[0]
    cdef const uint16_t *rv = &values[0] if nruns else <const uint16_t *>_EMPTY
    cdef const uint16_t *rl = &lengths[0] if nruns else <const uint16_t *>_EMPTY
    if lengths.shape[0] != values.shape[0] or n_gt < 0:
        raise ValueError("bad arguments")
    with nogil:
        status = _count_warm(s, table, rv, rl, nruns, width, height, &pred[0] if pred.shape[0] else _EMPTY,
                             pred.shape[0], n_gt, _first(pred_ids), pred_ids.shape[0], band)
    return status


# ----------------------------------------------------------------------------- fused statistics
cdef object _array(const void *src, Py_ssize_t n, dtype):
    """A new 1-D array of n items of dtype copied from src."""
    out = np.empty(n, dtype)
    cdef uint8_t[::1] view = out.view(np.uint8)
    if n:
        memcpy(&view[0], src, view.shape[0])
    return out


cdef class PanopticAccumulator:
    """Per-thread sums of the fused panoptic path: per-class TP / FP / FN, the
    (K+1) x (K+1) category confusion matrix and every match's (image, category, IoU);
    with ``isthing`` (``k`` flags) PQ-dagger's stuff pairs (category, mask IoU) and
    non-crowd GT segments per class; with ``band`` (a
    :class:`~segmetrics._kernels.boundary.BandWork`) Boundary PQ's TP / FP / FN and
    matches; after :meth:`set_variants` the counts and matches under other tools'
    matching rules (:meth:`variant_result`), all in the same call per image; plus the
    counting and statistics scratch.  Never share one between threads."""
    cdef int64_t *sums              # tp fp fn btp bfp bfn gseg crowd_of_cat, k each
    cdef int64_t *confusion
    cdef int64_t *lists_i[5]        # match_cat match_image bmatch_cat bmatch_image stuff_cat
    cdef double *lists_f[3]         # match_iou bmatch_iou stuff_iou
    cdef size_t n_match, n_bmatch, n_stuff, list_cap
    cdef uint8_t *isthing
    cdef bint dagger                # isthing given to the constructor: PQ-dagger's lists
    cdef uint32_t *var_opts
    cdef int64_t *vtp
    cdef int64_t *vfp
    cdef int64_t *vfn
    cdef int64_t *vmatch_var
    cdef int64_t *vmatch_cat
    cdef double *vmatch_iou
    cdef size_t n_vmatch, vmatch_cap
    cdef sm_pq q
    cdef PairTable table
    cdef readonly BandWork band
    cdef readonly Py_ssize_t k, num_images, n_var

    def __cinit__(self, Py_ssize_t k, isthing=None, BandWork band=None):
        cdef Py_ssize_t c
        if k < 1:
            raise ValueError("k must be positive")
        self.k = k
        self.table = PairTable()
        self.band = band
        self.sums = <int64_t *>calloc(8 * k, sizeof(int64_t))
        self.confusion = <int64_t *>calloc((k + 1) * (k + 1), sizeof(int64_t))
        if self.sums == NULL or self.confusion == NULL:
            raise MemoryError()
        memset(&self.q, 0, sizeof(self.q))
        self.q.K = <size_t>k
        self.q.tp, self.q.fp, self.q.fn = self.sums, self.sums + k, self.sums + 2 * k
        self.q.btp, self.q.bfp, self.q.bfn = self.sums + 3 * k, self.sums + 4 * k, self.sums + 5 * k
        self.q.confusion = self.confusion
        self.q.crowd_of_cat = self.sums + 7 * k
        if isthing is not None:
            flags = np.ascontiguousarray(isthing, dtype=np.uint8)
            if flags.shape != (k,):
                raise ValueError("isthing needs k flags")
            self.isthing = <uint8_t *>malloc(k)
            if self.isthing == NULL:
                raise MemoryError()
            for c in range(k):
                self.isthing[c] = flags[c]
            self.q.isthing = self.isthing
            self.q.gseg = self.sums + 6 * k
            self.dagger = True

    def __dealloc__(self):
        cdef int j
        free(self.sums)
        free(self.confusion)
        free(self.isthing)
        for j in range(5):
            free(self.lists_i[j])
        for j in range(3):
            free(self.lists_f[j])
        free(self.var_opts)
        free(self.vtp)
        free(self.vfp)
        free(self.vfn)
        free(self.vmatch_var)
        free(self.vmatch_cat)
        free(self.vmatch_iou)
        sm_pq_free(&self.q)

    def set_variants(self, variants, isthing):
        """Also count every image under other tools' matching rules: ``variants`` are
        uint32 option sets (``SM_PQV_*`` of ``sm_pq.h``), ``isthing`` one flag per
        category (the constructor's, when it was given one).  Call before any image is
        added."""
        cdef const uint32_t[::1] opts = np.ascontiguousarray(variants, dtype=np.uint32)
        cdef const uint8_t[::1] thing = np.ascontiguousarray(isthing, dtype=np.uint8)
        cdef Py_ssize_t nv = opts.shape[0], j
        if self.num_images or self.n_var:
            raise ValueError("set_variants before any image, once")
        if thing.shape[0] != self.k:
            raise ValueError("isthing needs one flag per category")
        if self.isthing != NULL:
            for j in range(self.k):
                if self.isthing[j] != thing[j]:
                    raise ValueError("isthing differs from the accumulator's")
        if nv == 0:
            return
        self.var_opts = <uint32_t *>malloc(nv * sizeof(uint32_t))
        if self.isthing == NULL:
            self.isthing = <uint8_t *>malloc(self.k)
            if self.isthing != NULL:
                for j in range(self.k):
                    self.isthing[j] = thing[j]
        self.vtp = <int64_t *>calloc(nv * self.k, sizeof(int64_t))
        self.vfp = <int64_t *>calloc(nv * self.k, sizeof(int64_t))
        self.vfn = <int64_t *>calloc(nv * self.k, sizeof(int64_t))
        if (self.var_opts == NULL or self.isthing == NULL or self.vtp == NULL or self.vfp == NULL
                or self.vfn == NULL):
            raise MemoryError()
        for j in range(nv):
            self.var_opts[j] = opts[j]
        self.n_var = nv
        self.q.n_var = <size_t>nv
        self.q.var_opts = self.var_opts
        self.q.isthing = self.isthing
        self.q.vtp, self.q.vfp, self.q.vfn = self.vtp, self.vfp, self.vfn

    def variant_result(self):
        """``(tp, fp, fn, match_var, match_cat, match_iou)`` of the variants: ``(V, k)``
        counts and one row per match, as new NumPy arrays."""
        k, v, m = self.k, self.n_var, self.n_vmatch
        return (_array(self.vtp, v * k, np.int64).reshape(v, k), _array(self.vfp, v * k, np.int64).reshape(v, k),
                _array(self.vfn, v * k, np.int64).reshape(v, k), _array(self.vmatch_var, m, np.int64),
                _array(self.vmatch_cat, m, np.int64), _array(self.vmatch_iou, m, np.float64))

    def result(self):
        """The sums as new NumPy arrays: a dict with ``tp fp fn`` (k), ``confusion``
        ((k+1, k+1)), ``match_cat match_iou match_image``; with ``isthing``
        ``gt_segments`` (k) and ``stuff_cat stuff_iou``; with ``band`` ``btp bfp
        bfn`` (k) and ``bmatch_cat bmatch_iou bmatch_image``."""
        cdef Py_ssize_t k = self.k, j
        out = {}
        for j, name in enumerate(("tp", "fp", "fn")):
            out[name] = _array(self.sums + j * k, k, np.int64)
        out["confusion"] = _array(self.confusion, (k + 1) * (k + 1), np.int64).reshape(k + 1, k + 1)
        out["match_cat"] = _array(self.lists_i[0], self.n_match, np.int64)
        out["match_image"] = _array(self.lists_i[1], self.n_match, np.int64)
        out["match_iou"] = _array(self.lists_f[0], self.n_match, np.float64)
        if self.dagger:
            out["gt_segments"] = _array(self.sums + 6 * k, k, np.int64)
            out["stuff_cat"] = _array(self.lists_i[4], self.n_stuff, np.int64)
            out["stuff_iou"] = _array(self.lists_f[2], self.n_stuff, np.float64)
        if self.band is not None:
            for j, name in enumerate(("btp", "bfp", "bfn")):
                out[name] = _array(self.sums + (3 + j) * k, k, np.int64)
            out["bmatch_cat"] = _array(self.lists_i[2], self.n_bmatch, np.int64)
            out["bmatch_image"] = _array(self.lists_i[3], self.n_bmatch, np.int64)
            out["bmatch_iou"] = _array(self.lists_f[1], self.n_bmatch, np.float64)
        return out

    cdef int reserve(self, size_t n) noexcept nogil:
        """Room for n more entries in every list (matches, boundary matches, stuff pairs,
        and n_var * n more variant matches); -1 if out of memory."""
        cdef void *p
        cdef size_t want, used = self.n_match
        cdef int j
        if self.n_bmatch > used:
            used = self.n_bmatch
        if self.n_stuff > used:
            used = self.n_stuff
        if self.list_cap < used + n:
            want = 2 * (used + n) + 64
            for j in range(5):
                p = realloc(self.lists_i[j], want * sizeof(int64_t))
                if p == NULL:
                    return -1
                self.lists_i[j] = <int64_t *>p
            for j in range(3):
                p = realloc(self.lists_f[j], want * sizeof(double))
                if p == NULL:
                    return -1
                self.lists_f[j] = <double *>p
            self.list_cap = want
        used = self.n_vmatch + <size_t>self.n_var * n
        if self.n_var and self.vmatch_cap < used:
            want = 2 * used + 64
            if _grow_matches(&self.vmatch_cat, &self.vmatch_var, &self.vmatch_iou, want):
                return -1
            self.vmatch_cap = want
        return 0


cdef int _grow_matches(int64_t **cat, int64_t **aux, double **iou, size_t n) noexcept nogil:
    """Reallocate three match columns to n rows (contents kept); -1 if out of memory."""
    cdef void *p = realloc(cat[0], n * sizeof(int64_t))
    if p == NULL:
        return -1
    cat[0] = <int64_t *>p
    p = realloc(aux[0], n * sizeof(int64_t))
    if p == NULL:
        return -1
    aux[0] = <int64_t *>p
    p = realloc(iou[0], n * sizeof(double))
    if p == NULL:
        return -1
    iou[0] = <double *>p
    return 0


cdef class PanopticBatch:
    """The segment columns of every image of a folder run: image i owns rows
    ``g_start[i]:g_end[i]`` of the GT columns and ``p_start[i]:p_end[i]`` of the
    prediction columns (ids ascending, dense category indices; typically the flat
    arrays of :class:`segmetrics.io.coco_panoptic.FlatColumns`, unused rows may
    hold anything).  :meth:`score_pair` and :meth:`score_cached` count one image
    and add its statistics to an accumulator in one nogil call.  With
    ``per_image``, each image's TP / FP / FN also go to its row of
    :meth:`image_counts` (images go to one thread each, so rows are never shared), and
    with ``boundary`` as well its Boundary PQ TP / FP / FN to :meth:`image_boundary_counts`
    (the accumulators must then have a band)."""
    cdef const int64_t[::1] g_start, g_end, g_ids, g_cat, g_order, p_start, p_end, p_ids, p_cat
    cdef const uint8_t[::1] g_crowd
    cdef const double[::1] g_area
    cdef int64_t[:, ::1] img_tp, img_fp, img_fn, img_btp, img_bfp, img_bfn
    cdef readonly bint recompute_gt_areas, per_image, boundary
    cdef readonly Py_ssize_t k
    cdef object _counts, _bcounts, _dcols
    cdef FilePairs files
    # the GT digests of :meth:`run` (see :meth:`set_digests`)
    cdef const uint8_t *d_col[4]
    cdef size_t d_size[4]
    cdef const uint8_t[::1] d_ok
    cdef uint8_t[:, ::1] d_out
    cdef uint8_t[::1] d_done
    cdef bint hashing

    def __init__(self, Py_ssize_t k, g_start, g_end, g_ids, g_cat, g_crowd, g_area, g_order,
                 p_start, p_end, p_ids, p_cat, bint recompute_gt_areas, bint per_image=False,
                 bint boundary=False):
        cdef Py_ssize_t n, i, j
        self.k = k
        self.g_start, self.g_end, self.g_ids, self.g_cat = g_start, g_end, g_ids, g_cat
        self.g_crowd, self.g_area, self.g_order = g_crowd, g_area, g_order
        self.p_start, self.p_end, self.p_ids, self.p_cat = p_start, p_end, p_ids, p_cat
        self.recompute_gt_areas = recompute_gt_areas
        n = self.g_start.shape[0]
        if self.g_end.shape[0] != n or self.p_start.shape[0] != n or self.p_end.shape[0] != n:
            raise ValueError("start and end arrays must have one entry per image")
        if not (self.g_cat.shape[0] == self.g_crowd.shape[0] == self.g_area.shape[0]
                == self.g_order.shape[0] == self.g_ids.shape[0]) or self.p_cat.shape[0] != self.p_ids.shape[0]:
            raise ValueError("columns of different lengths")
        for i in range(n):
            if not (0 <= self.g_start[i] <= self.g_end[i] <= self.g_ids.shape[0]
                    and 0 <= self.p_start[i] <= self.p_end[i] <= self.p_ids.shape[0]):
                raise ValueError("image rows outside the columns")
            for j in range(self.g_start[i], self.g_end[i]):
                if not 0 <= self.g_cat[j] < k:
                    raise ValueError("category index out of range")
            for j in range(self.p_start[i], self.p_end[i]):
                if not 0 <= self.p_cat[j] < k:
                    raise ValueError("category index out of range")
        self.per_image = per_image
        if per_image:
            self._counts = (np.zeros((n, k), np.int64), np.zeros((n, k), np.int64), np.zeros((n, k), np.int64))
            self.img_tp, self.img_fp, self.img_fn = self._counts
        self.boundary = boundary
        if per_image and boundary:
            self._bcounts = (np.zeros((n, k), np.int64), np.zeros((n, k), np.int64), np.zeros((n, k), np.int64))
            self.img_btp, self.img_bfp, self.img_bfn = self._bcounts

    cdef inline const int64_t *_row(self, const int64_t[::1] column, int64_t j) noexcept nogil:
        """Row j of a column (a dummy address past its end: the image has no row there)."""
        return &column[j] if j < column.shape[0] else <const int64_t *>_EMPTY

    def gt_ids(self, Py_ssize_t i):
        """Image i's GT ids (a NumPy view; the cache key uses them)."""
        return np.asarray(self.g_ids[self.g_start[i]:self.g_end[i]])

    def image_boundary_counts(self):
        """With ``per_image`` and ``boundary``: the ``(n_images, k)`` Boundary PQ TP, FP, FN
        of the images the scorers added; else None."""
        return self._bcounts

    def image_counts(self):
        """With ``per_image``: the ``(n_images, k)`` int64 TP, FP, FN of the images the
        scorers added (other rows are zero); else None."""
        return self._counts

    cdef int _check(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i) except -1:
        if acc.k != self.k:
            raise ValueError("accumulator of another category count")
        if self.boundary and acc.band is None:
            raise ValueError("a boundary batch needs accumulators with a band")
        if not 0 <= i < self.g_start.shape[0]:
            raise IndexError(i)
        return 0

    def score_pair(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i, bytes gt, bytes pred,
                   bint record=False):
        """Image i from its two PNG files' bytes.  Returns the status: ``0`` counted and
        added; ``1`` the reference path must take the pair; ``3`` the table was counted
        but the Python statistics must take the image (nothing was added)."""
        cdef int status
        cdef const uint8_t *gp = <const uint8_t *>PyBytes_AS_STRING(gt)
        cdef const uint8_t *pp = <const uint8_t *>PyBytes_AS_STRING(pred)
        cdef size_t gn = PyBytes_GET_SIZE(gt), pn = PyBytes_GET_SIZE(pred)
        self._check(s, acc, i)
        if record and self.g_end[i] - self.g_start[i] >= 65536:
            raise ValueError("cannot record more than 65535 ground-truth segments")
        with nogil:
            status = self._score(s, acc, i, gp, gn, pp, pn, record)
        return status

    cdef int _score(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i, const uint8_t *gp, size_t gn,
                    const uint8_t *pp, size_t pn, bint record) noexcept nogil:
        """Image i from both files' bytes: count, then the statistics."""
        cdef int64_t g0 = self.g_start[i], p0 = self.p_start[i]
        cdef int status = _count_cold(s, acc.table, gp, gn, pp, pn, self._row(self.g_ids, g0),
                                      self.g_end[i] - g0, self._row(self.p_ids, p0), self.p_end[i] - p0, record,
                                      acc.band)
        if status == OK:
            status = self._stats(s, acc, i)
        return status

    def score_cached(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i,
                     const uint16_t[::1] values, const uint16_t[::1] lengths,
                     Py_ssize_t width, Py_ssize_t height, bytes pred):
        """Image i from cached GT runs and the prediction PNG's bytes; the status as
        :meth:`score_pair`, or ``2`` when the cached runs do not fit (recompute them)."""
        cdef int status
        cdef int64_t p0
        cdef size_t nruns = values.shape[0]
        cdef const uint8_t *pp = <const uint8_t *>PyBytes_AS_STRING(pred)
        cdef size_t pn = PyBytes_GET_SIZE(pred)
        cdef const uint16_t *rv = &values[0] if nruns else <const uint16_t *>_EMPTY
        cdef const uint16_t *rl = &lengths[0] if nruns else <const uint16_t *>_EMPTY
        self._check(s, acc, i)
        if lengths.shape[0] != values.shape[0]:
            raise ValueError("values and lengths differ in length")
        p0 = self.p_start[i]
        with nogil:
            status = _count_warm(s, acc.table, rv, rl, nruns, width, height, pp, pn,
                                 self.g_end[i] - self.g_start[i], self._row(self.p_ids, p0),
                                 self.p_end[i] - p0, acc.band)
            if status == OK:
                status = self._stats(s, acc, i)
        return status

    def set_paths(self, gt_paths, pred_paths):
        """File names (path-like or ``bytes``; empty for an image :meth:`run` does not read) of
        every image, for :meth:`run`."""
        if len(gt_paths) != self.g_start.shape[0]:
            raise ValueError("one GT and one prediction path per image")
        self.files = FilePairs(gt_paths, pred_paths)

    def set_digests(self, columns, const uint8_t[::1] ok, uint8_t[:, ::1] out, uint8_t[::1] done):
        """Have :meth:`run` hash each GT file it reads: image ``i`` with ``ok[i]`` gets the
        SHA-256 of its file's bytes followed by its GT rows (``g_start[i]:g_end[i]``) of each
        of the ``columns`` (contiguous arrays as long as the GT columns, hashed as their bytes)
        in ``out[i]``, and ``done[i] = 1``.  Without libcrypto
        (:func:`~segmetrics._kernels.folder.sha256`) nothing is hashed."""
        cdef Py_ssize_t n = self.g_start.shape[0], j
        cdef const uint8_t[::1] view
        if len(columns) != 4:
            raise ValueError("four digest columns")
        if not (ok.shape[0] == out.shape[0] == done.shape[0] == n) or out.shape[1] != 32:
            raise ValueError("ok and done need one entry per image and out (n, 32)")
        cols = [np.ascontiguousarray(c) for c in columns]
        for j in range(4):
            if cols[j].ndim != 1 or cols[j].shape[0] != self.g_ids.shape[0]:
                raise ValueError("digest columns must be as long as the GT columns")
        self._dcols = cols
        for j in range(4):
            view = cols[j].view(np.uint8)
            self.d_col[j] = &view[0] if view.shape[0] else <const uint8_t *>_EMPTY
            self.d_size[j] = cols[j].itemsize
        self.d_ok, self.d_out, self.d_done = ok, out, done
        self.hashing = True

    cdef void _digest(self, int64_t i, const uint8_t *data, size_t n) noexcept nogil:
        cdef const uint8_t *tails[4]
        cdef size_t lens[4]
        cdef int j
        cdef int64_t a = self.g_start[i], b = self.g_end[i]
        for j in range(4):
            tails[j] = self.d_col[j] + <size_t>a * self.d_size[j]
            lens[j] = <size_t>(b - a) * self.d_size[j]
        if sha256_parts(data, n, tails, lens, 4, &self.d_out[i, 0]) == 0:
            self.d_done[i] = 1

    def run(self, Scratch s, PanopticAccumulator acc, WorkCounter counter, uint8_t[::1] take,
            uint8_t[::1] status):
        """Score images from the shared counter until none is left, reading the files
        itself, without the GIL: every image ``i`` with ``take[i]`` is counted, matched
        and added to ``acc``, and ``status[i]`` set (0 added; otherwise the per-image
        path must take it, see :meth:`score_pair`).  Images without ``take`` get
        status 1.  Call from several threads with one counter and one status array."""
        cdef Py_ssize_t n = self.g_start.shape[0]
        cdef int64_t i
        cdef size_t gn, pn
        cdef char name[PATH_BUF]
        cdef int st
        if self.files is None:
            raise ValueError("set_paths first")
        if take.shape[0] != n or status.shape[0] != n:
            raise ValueError("take and status need one entry per image")
        if acc.k != self.k:
            raise ValueError("accumulator of another category count")
        if self.boundary and acc.band is None:
            raise ValueError("a boundary batch needs accumulators with a band")
        with nogil:
            while True:
                i = counter.take_below(n)
                if i < 0:
                    break
                st = REFERENCE
                if take[i] and self.files.path(0, i, name, PATH_BUF) == 0 and s.read_file(0, name, &gn) == 0:
                    if self.hashing and self.d_ok[i]:
                        self._digest(i, s.fbuf[0], gn)
                    if self.files.path(1, i, name, PATH_BUF) == 0 and s.read_file(1, name, &pn) == 0:
                        st = self._score(s, acc, i, s.fbuf[0], gn, s.fbuf[1], pn, False)
                status[i] = <uint8_t>st

    cdef int _stats(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i) noexcept nogil:
        """panopticapi's rules on the pairs just counted (and Boundary PQ on them when the
        accumulator has a band), added to acc (all or nothing): OK, NEEDS_PYTHON (a listed
        segment without pixels, a stale JSON area) or REFERENCE (out of memory)."""
        cdef int64_t g0 = self.g_start[i], p0 = self.p_start[i]
        cdef sm_pq_image im
        cdef sm_pq *q = &acc.q
        cdef int status
        cdef Py_ssize_t n
        if sm_pairs_sort(&acc.table.tab) != 0 or acc.reserve(acc.table.tab.n) != 0:
            return s.seterr(b"out of memory")
        n = <Py_ssize_t>acc.table.tab.n
        memset(&im, 0, sizeof(im))
        im.ng = <size_t>(self.g_end[i] - g0)
        im.npr = <size_t>(self.p_end[i] - p0)
        im.gcat = &self.g_cat[g0] if im.ng else NULL
        im.gcrowd = &self.g_crowd[g0] if im.ng else NULL
        im.garea = &self.g_area[g0] if im.ng else NULL
        im.gorder = &self.g_order[g0] if im.ng else NULL
        im.pcat = &self.p_cat[p0] if im.npr else NULL
        im.recompute = self.recompute_gt_areas
        im.index = i
        if acc.band is not None:
            if acc.band.panoptic(n, acc.table.tab.g, acc.table.tab.p, acc.table.tab.c,
                                 <Py_ssize_t>im.ng, <Py_ssize_t>im.npr) != 0:
                return s.seterr(b"out of memory")
            im.band, im.gin, im.pin = acc.band.band, acc.band.gin, acc.band.pin
        q.match_cat, q.match_image, q.match_iou = acc.lists_i[0], acc.lists_i[1], acc.lists_f[0]
        q.bmatch_cat, q.bmatch_image, q.bmatch_iou = acc.lists_i[2], acc.lists_i[3], acc.lists_f[1]
        q.stuff_cat = acc.lists_i[4] if acc.dagger else NULL
        q.stuff_iou = acc.lists_f[2]
        q.n_match, q.n_bmatch, q.n_stuff = acc.n_match, acc.n_bmatch, acc.n_stuff
        q.vmatch_var, q.vmatch_cat, q.vmatch_iou = acc.vmatch_var, acc.vmatch_cat, acc.vmatch_iou
        q.n_vmatch = acc.n_vmatch
        q.stale = NULL
        if self.per_image:
            q.itp, q.ifp, q.ifn = &self.img_tp[i, 0], &self.img_fp[i, 0], &self.img_fn[i, 0]
        else:
            q.itp = q.ifp = q.ifn = NULL
        if self.per_image and self.boundary:
            q.ibtp, q.ibfp, q.ibfn = &self.img_btp[i, 0], &self.img_bfp[i, 0], &self.img_bfn[i, 0]
        else:
            q.ibtp = q.ibfp = q.ibfn = NULL
        status = sm_pq_add_image(q, &acc.table.tab, &im)
        if status == SM_PQ_NOMEM:
            return s.seterr(b"out of memory")
        if status != SM_PQ_OK:
            return NEEDS_PYTHON
        acc.n_match, acc.n_bmatch, acc.n_stuff = q.n_match, q.n_bmatch, q.n_stuff
        acc.n_vmatch = q.n_vmatch
        acc.num_images += 1
        return OK
