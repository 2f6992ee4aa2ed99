# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-image panoptic kernel: the present (GT, prediction) pairs of an image, then
panopticapi's rules on them.

:class:`PairTable` maps every GT and predicted segment id to a dense index (0 is
void, ``1..n`` the listed segments in ascending id order) through open-addressing
hashes of the ``segments_info`` ids, and counts the pixels of every (GT, prediction)
pair present in the image with the run-length row walker of ``sm_walk.h``.  Only
present pairs are stored (``sm_pairs.h``), so memory and time grow with pixels plus
present pairs, not with (segments)^2.  :func:`image_stats` then applies the per-image
rules of ``sm_pq.h`` (the only copy: the folder kernels run the same code).  Both
release the GIL.
"""
from libc.math cimport NAN
from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_DecodeUTF8

import numpy as np

cdef extern from "sm_json.h" nogil:
    int SMJ_OK
    int SMJ_NOMEM
    int SMJ_ID_INT
    int SMJ_ID_STR_ESC

    ctypedef struct smj_out:
        int64_t *span
        int64_t *id_tok
        int64_t *name_tok
        int64_t *id_int
        uint8_t *id_kind
        uint8_t *name_esc
        uint8_t *ok
        int64_t *n_rows
        size_t n_ann
        int64_t *sid
        int64_t *cat
        uint8_t *crowd
        double *area
        size_t n_seg
        int64_t cat_span[2]
        int64_t img_span[2]

    int smj_scan(const uint8_t *b, size_t n, int64_t max_id, smj_out *o)
    void smj_free(smj_out *o)
    void smj_init()

smj_init()

from segmetrics._kernels.boundary cimport BandWork, bd_build_row_end
from segmetrics._kernels.sm cimport (
    SM_NO_SKIP, SM_PQ_NOMEM, sm_ids_build, sm_ids_free, sm_pairs_free, sm_pairs_sort,
    sm_emit_fn, sm_pairs_start, sm_pairs_emit, sm_pan_rgb, sm_pan_u32, sm_pq, sm_pq_add_image, sm_pq_free,
    sm_pq_image, sm_safe_width, sm_side, sm_walk,
)


cdef inline int _walk_row(sm_side *G, bint gt_rgb, sm_side *P, bint pred_rgb, size_t w, sm_emit_fn emit,
                          void *sink) noexcept nogil:
    """One row pair of id-map pixels (RGB or native uint32) into a sink."""
    if gt_rgb and pred_rgb:
        return sm_walk(G, sm_pan_rgb, 3, P, sm_pan_rgb, 3, w, SM_NO_SKIP, emit, sink)
    if gt_rgb:
        return sm_walk(G, sm_pan_rgb, 3, P, sm_pan_u32, 4, w, SM_NO_SKIP, emit, sink)
    if pred_rgb:
        return sm_walk(G, sm_pan_u32, 4, P, sm_pan_rgb, 3, w, SM_NO_SKIP, emit, sink)
    return sm_walk(G, sm_pan_u32, 4, P, sm_pan_u32, 4, w, SM_NO_SKIP, emit, sink)


cdef class PairTable:
    """Per-thread counting state for one image at a time (never share one between
    threads): the id hashes and the present pairs, reused from image to image."""

    def __dealloc__(self):
        sm_ids_free(&self.gids)
        sm_ids_free(&self.pids)
        sm_pairs_free(&self.tab)

    cdef int start(self, const int64_t *gt_ids, Py_ssize_t n_gt, const int64_t *pred_ids,
                   Py_ssize_t n_pred) noexcept nogil:
        """See the pxd: gt_ids NULL keeps the GT hash as it is (cached GT runs)."""
        self.n_gt = n_gt
        self.n_pred = n_pred
        self.tab.rec = NULL
        if gt_ids != NULL and sm_ids_build(&self.gids, gt_ids, <size_t>n_gt) != 0:
            return -1
        if sm_ids_build(&self.pids, pred_ids, <size_t>n_pred) != 0:
            return -1
        return sm_pairs_start(&self.tab, <size_t>n_gt, <size_t>n_pred)

    @property
    def hashed(self) -> bool:
        """Whether the last image's pairs went to the hash (more than a small full table)."""
        return bool(self.tab.hashed)

    def count_maps(self, const uint8_t[::1] gt, bint gt_rgb, const uint8_t[::1] pred, bint pred_rgb,
                   Py_ssize_t n_pixels, const int64_t[::1] gt_ids, const int64_t[::1] pred_ids,
                   BandWork band=None, Py_ssize_t width=0):
        """Count the pairs of one image given as id maps.

        Parameters
        ----------
        gt, pred : uint8 memoryviews
            The raw bytes of the id maps: ``3 * n_pixels`` bytes of RGB when the
            ``*_rgb`` flag is set (id = R + 256 G + 256^2 B), else ``n_pixels``
            native uint32 ids.
        gt_ids, pred_ids : int64 arrays
            The listed segment ids, unique, sorted ascending, all in ``[1, 2^32 - 2]``.
        band : BandWork, optional
            Also build both maps' runs of dense indices in ``band`` (rows of ``width``
            pixels), for :func:`image_stats`' Boundary PQ.

        Returns
        -------
        int
            0; 1 when a GT pixel id is not listed, 2 when a prediction pixel id is
            not listed (the first such pixel in raster order decides; the counts
            are then incomplete).
        """
        cdef size_t n = <size_t>n_pixels, w, y, h
        cdef int bg = 3 if gt_rgb else 4, bp = 3 if pred_rgb else 4, status = 0
        cdef sm_side G, P
        cdef int64_t dummy = 0
        cdef PairBandSink sink
        cdef bint bands = band is not None
        if n_pixels < 0 or gt.shape[0] != n_pixels * bg or pred.shape[0] != n_pixels * bp:
            raise ValueError(f"id map buffers of {gt.shape[0]} and {pred.shape[0]} bytes do not hold "
                             f"{n_pixels} pixels each")
        if bands and (width < 0 or (width == 0 and n_pixels) or (width and n_pixels % width)):
            raise ValueError(f"{n_pixels} pixels are not rows of {width}")
        # without bands the whole map is one row: runs continue across row ends
        w = <size_t>width if bands else n
        h = n // w if w else 0
        memset(&G, 0, sizeof(G))
        memset(&P, 0, sizeof(P))
        with nogil:
            if self.start(&gt_ids[0] if gt_ids.shape[0] else &dummy, gt_ids.shape[0],
                          &pred_ids[0] if pred_ids.shape[0] else &dummy, pred_ids.shape[0]) != 0:
                status = -3
            elif bands:
                if band.start(<Py_ssize_t>h, <Py_ssize_t>w) != 0:
                    status = -3
                sink.tab = &self.tab
                sink.b = &band.b
            G.lut, P.lut = &self.gids, &self.pids
            y = 0
            while status == 0 and y < h:
                G.x = &gt[0] + y * w * bg
                P.x = &pred[0] + y * w * bp
                G.wsafe = sm_safe_width(<size_t>gt.shape[0] - y * w * bg, w, bg)
                P.wsafe = sm_safe_width(<size_t>pred.shape[0] - y * w * bp, w, bp)
                if bands:
                    status = _walk_row(&G, gt_rgb, &P, pred_rgb, w, pair_band_emit, &sink)
                    if status == 0 and bd_build_row_end(&band.b) != 0:
                        status = -3
                else:
                    status = _walk_row(&G, gt_rgb, &P, pred_rgb, w, sm_pairs_emit, &self.tab)
                y += 1
        if status == -3:
            raise MemoryError("cannot allocate the segment pair table")
        return -status

    def pairs(self):
        """The present pairs of the last image, in row-major (GT, prediction) order:
        ``(gt_index, pred_index, pixels)`` int64 arrays (dense indices, 0 = void)."""
        cdef size_t k
        if sm_pairs_sort(&self.tab) != 0:
            raise MemoryError()
        n = self.tab.n
        g = np.empty(n, np.int64)
        p = np.empty(n, np.int64)
        c = np.empty(n, np.int64)
        cdef int64_t[::1] vg = g, vp = p, vc = c
        for k in range(n):
            vg[k] = self.tab.g[k]
            vp[k] = self.tab.p[k]
            vc[k] = self.tab.c[k]
        return g, p, c


def image_stats(PairTable t, Py_ssize_t k, const int64_t[::1] g_cat, const uint8_t[::1] g_crowd,
                const double[::1] g_area, const int64_t[::1] g_order, const int64_t[::1] p_cat,
                bint recompute_gt_areas, const uint8_t[::1] isthing=None, BandWork band=None,
                variants=None):
    """panopticapi's rules on the pairs last counted into ``t`` (see ``sm_pq.h``).

    ``g_*`` / ``p_cat`` are the image's segment columns in dense order (ascending
    ids): dense category indices in ``[0, k)``, crowd flags, JSON areas (NaN where
    absent), listing positions.  ``isthing`` (``k`` flags) adds PQ-dagger's stuff
    pairs and GT segment counts; ``band`` (whose runs :meth:`PairTable.count_maps`
    or a folder kernel built while counting ``t``) adds Boundary PQ; ``variants``
    (uint32 option sets, ``SM_PQV_*``; needs ``isthing``) also counts the image
    under other tools' rules.

    Returns
    -------
    dict
        ``status`` 0: the statistics: ``tp``, ``fp``, ``fn`` (length ``k``);
        ``match_cat``, ``match_iou`` (one per match, row-major pair order);
        ``confusion_index``, ``confusion_count`` (sparse entries of the ``(k + 1) x
        (k + 1)`` category confusion); ``stale`` (dense GT indices whose JSON area
        differs from the PNG); with ``isthing``: ``stuff_cat``, ``stuff_iou``,
        ``gt_segments``; with ``band``: ``btp``, ``bfp``, ``bfn``, ``bmatch_cat``,
        ``bmatch_iou``, ``dilation``; with ``variants``: ``variants``, the tuple
        ``(tp, fp, fn, match_var, match_cat, match_iou)`` of the variants (``(V, k)``
        counts, one row per match); ``gt_outcome`` / ``pred_outcome``, each
        segment's outcome of the mask matching under panopticapi's rules (uint8, dense
        order): GT 1 matched, 2 false negative, 0 crowd; prediction 1 matched, 2 false
        positive, 0 unmatched but not counted (mostly on void or crowd).  ``status`` 1:
        a listed segment has no pixel
        (see ``gt_pixels`` / ``pred_pixels``, per segment in dense order); nothing
        else is filled.
    """
    cdef Py_ssize_t ng = t.n_gt, npr = t.n_pred, j, n, nv = 0
    cdef sm_pq q
    cdef sm_pq_image im
    cdef int status = 0
    cdef const uint32_t[::1] v_opts
    if variants is not None:
        if isthing is None:
            raise ValueError("variants need isthing")
        v_opts = np.ascontiguousarray(variants, dtype=np.uint32)
        nv = v_opts.shape[0]
    if g_cat.shape[0] != ng or g_crowd.shape[0] != ng or g_area.shape[0] != ng or g_order.shape[0] != ng \
            or p_cat.shape[0] != npr:
        raise ValueError("segment columns do not match the counted table")
    if k < 1:
        raise ValueError("k must be positive")
    if isthing is not None and isthing.shape[0] != k:
        raise ValueError("isthing needs k flags")
    if band is not None and not band.complete():
        raise ValueError("the band's runs were not built with this table")
    for j in range(ng):
        if not 0 <= g_cat[j] < k:
            raise ValueError("category index out of range")
    for j in range(npr):
        if not 0 <= p_cat[j] < k:
            raise ValueError("category index out of range")
    if sm_pairs_sort(&t.tab) != 0:
        raise MemoryError()
    n = <Py_ssize_t>t.tab.n
    m = max(n, 1)
    out = {name: np.zeros(k, np.int64) for name in ("tp", "fp", "fn", "btp", "bfp", "bfn", "gt_segments")}
    lists = {"match_cat": np.empty(m, np.int64), "match_iou": np.empty(m, np.float64),
             "match_image": np.empty(m, np.int64), "bmatch_cat": np.empty(m, np.int64),
             "bmatch_iou": np.empty(m, np.float64), "bmatch_image": np.empty(m, np.int64),
             "stuff_cat": np.empty(m, np.int64), "stuff_iou": np.empty(m, np.float64),
             "confusion_index": np.empty(m, np.int64), "confusion_count": np.empty(m, np.int64)}
    stale, crowd = np.empty(max(ng, 1), np.int64), np.zeros(k, np.int64)
    gt_pixels, pred_pixels = np.empty(ng, np.int64), np.empty(npr, np.int64)
    gt_outcome, pred_outcome = np.zeros(ng, np.uint8), np.zeros(npr, np.uint8)
    cdef uint8_t[::1] v_go = gt_outcome, v_po = pred_outcome
    cdef int64_t[::1] v_tp = out["tp"], v_fp = out["fp"], v_fn = out["fn"], v_gs = out["gt_segments"]
    cdef int64_t[::1] v_btp = out["btp"], v_bfp = out["bfp"], v_bfn = out["bfn"]
    cdef int64_t[::1] v_mc = lists["match_cat"], v_mi = lists["match_image"], v_bmc = lists["bmatch_cat"]
    cdef int64_t[::1] v_bmi = lists["bmatch_image"], v_sc = lists["stuff_cat"]
    cdef int64_t[::1] v_ci = lists["confusion_index"], v_cc = lists["confusion_count"], v_st = stale
    cdef int64_t[::1] v_crowd = crowd, v_gp = gt_pixels, v_pp = pred_pixels
    cdef double[::1] v_iou = lists["match_iou"], v_biou = lists["bmatch_iou"], v_siou = lists["stuff_iou"]
    vtp, vfp, vfn = np.zeros((nv, k), np.int64), np.zeros((nv, k), np.int64), np.zeros((nv, k), np.int64)
    var_var, var_cat = np.empty(max(nv * n, 1), np.int64), np.empty(max(nv * n, 1), np.int64)
    var_iou = np.empty(max(nv * n, 1), np.float64)
    cdef int64_t[:, ::1] w_tp = vtp, w_fp = vfp, w_fn = vfn
    cdef int64_t[::1] w_var = var_var, w_cat = var_cat
    cdef double[::1] w_iou = var_iou
    memset(&q, 0, sizeof(q))
    if nv:
        q.n_var = <size_t>nv
        q.var_opts = &v_opts[0]
        q.vtp, q.vfp, q.vfn = &w_tp[0, 0], &w_fp[0, 0], &w_fn[0, 0]
        q.vmatch_var, q.vmatch_cat, q.vmatch_iou = &w_var[0], &w_cat[0], &w_iou[0]
    memset(&im, 0, sizeof(im))
    q.K = <size_t>k
    q.tp, q.fp, q.fn = &v_tp[0], &v_fp[0], &v_fn[0]
    q.match_cat, q.match_image, q.match_iou = &v_mc[0], &v_mi[0], &v_iou[0]
    q.btp, q.bfp, q.bfn = &v_btp[0], &v_bfp[0], &v_bfn[0]
    q.bmatch_cat, q.bmatch_image, q.bmatch_iou = &v_bmc[0], &v_bmi[0], &v_biou[0]
    if isthing is not None:
        q.isthing = &isthing[0]
        q.stuff_cat, q.stuff_iou, q.gseg = &v_sc[0], &v_siou[0], &v_gs[0]
    q.conf_index, q.conf_count = &v_ci[0], &v_cc[0]
    q.stale = &v_st[0]
    q.crowd_of_cat = &v_crowd[0]
    q.gout = &v_go[0] if ng else NULL
    q.pout = &v_po[0] if npr else NULL
    im.ng, im.npr = <size_t>ng, <size_t>npr
    im.gcat = &g_cat[0] if ng else NULL
    im.gcrowd = &g_crowd[0] if ng else NULL
    im.garea = &g_area[0] if ng else NULL
    im.gorder = &g_order[0] if ng else NULL
    im.pcat = &p_cat[0] if npr else NULL
    im.recompute = recompute_gt_areas
    with nogil:
        if band is not None:
            if band.panoptic(n, t.tab.g, t.tab.p, t.tab.c, ng, npr) != 0:
                status = SM_PQ_NOMEM
            im.band, im.gin, im.pin = band.band, band.gin, band.pin
        if status == 0:
            status = sm_pq_add_image(&q, &t.tab, &im)
        if status != SM_PQ_NOMEM:
            for j in range(ng):
                v_gp[j] = q.gpix[j]
            for j in range(npr):
                v_pp[j] = q.ppix[j + 1]
    sm_pq_free(&q)
    if status == SM_PQ_NOMEM:
        raise MemoryError()
    out["status"] = status
    out["gt_pixels"] = gt_pixels
    out["pred_pixels"] = pred_pixels
    out["gt_outcome"] = gt_outcome
    out["pred_outcome"] = pred_outcome
    if status:
        return out
    sizes = {"match": q.n_match, "bmatch": q.n_bmatch, "stuff": q.n_stuff, "confusion": q.n_conf}
    for name, arr in lists.items():
        if not name.endswith("_image"):
            out[name] = arr[:sizes[name.split("_")[0]]].copy()
    out["stale"] = stale[:q.n_stale].copy()
    if isthing is None:
        for name in ("stuff_cat", "stuff_iou", "gt_segments"):
            del out[name]
    if band is None:
        for name in ("btp", "bfp", "bfn", "bmatch_cat", "bmatch_iou"):
            del out[name]
    else:
        out["dilation"] = band.last_width
    if variants is not None:
        mv = q.n_vmatch
        out["variants"] = (vtp, vfp, vfn, var_var[:mv].copy(), var_cat[:mv].copy(), var_iou[:mv].copy())
    return out


cdef struct _IdPos:
    int64_t id
    Py_ssize_t pos


cdef int _cmp_idpos(const void *a, const void *b) noexcept nogil:
    cdef const _IdPos *x = <const _IdPos *>a
    cdef const _IdPos *y = <const _IdPos *>b
    if x.id != y.id:
        return -1 if x.id < y.id else 1
    return -1 if x.pos < y.pos else (1 if x.pos > y.pos else 0)


cdef bint _read_segment(object s, int64_t max_id, int64_t *sid, int64_t *cat, uint8_t *crowd,
                        double *area):
    """One segment dict of plain JSON values into C values; False when it is not of the
    common kind (see :func:`segment_columns_all`)."""
    cdef double a_val
    if type(s) is not dict:
        return False
    x = (<dict>s).get("id")
    if type(x) is not int:
        return False
    try:
        sid[0] = x
        x = (<dict>s).get("category_id")
        if type(x) is not int:
            return False
        cat[0] = x
    except OverflowError:
        return False
    if sid[0] < 1 or sid[0] > max_id:
        return False
    x = (<dict>s).get("iscrowd", 0)
    if x is True or x is False or (type(x) is int and (x == 0 or x == 1)):
        crowd[0] = 1 if x else 0
    else:
        return False
    x = (<dict>s).get("area")
    if x is None:
        area[0] = NAN
    elif type(x) is int or type(x) is float:
        try:
            a_val = x  # as float(x) rounds an int
        except OverflowError:
            return False
        if not a_val >= 0:
            return False
        area[0] = a_val
    else:
        return False
    return True


cdef Py_ssize_t _sort_rows(_IdPos *key, Py_ssize_t m, const int64_t *cat_in, const uint8_t *crowd_in,
                           const double *area_in, int64_t *ids, int64_t *order, int64_t *cats, uint8_t *crowd,
                           double *area) noexcept nogil:
    """One list's rows sorted by id: ``key[k]`` holds the id of listed segment ``pos`` (``key[k].pos = k``
    on entry), ``*_in[pos]`` its other values; writes the sorted columns.  Returns ``m``, or -1 when an id
    is listed twice."""
    cdef Py_ssize_t k
    if m > 1:
        qsort(key, m, sizeof(_IdPos), _cmp_idpos)
    for k in range(m):
        if k and key[k].id == key[k - 1].id:
            return -1
        ids[k] = key[k].id
        order[k] = key[k].pos
        cats[k] = cat_in[key[k].pos]
        crowd[k] = crowd_in[key[k].pos]
        area[k] = area_in[key[k].pos]
    return m


def _column_arrays(Py_ssize_t n, Py_ssize_t total):
    """Empty ``(offsets, ok, ids, category_ids, iscrowd, areas, order)`` for ``n`` lists of ``total`` rows."""
    return (np.zeros(n + 1, dtype=np.int64), np.zeros(n, dtype=np.uint8), np.empty(total, dtype=np.int64),
            np.empty(total, dtype=np.int64), np.empty(total, dtype=np.uint8), np.empty(total, dtype=np.float64),
            np.empty(total, dtype=np.int64))


def segment_columns_all(list seg_lists, int64_t max_id):
    """Columns of many ``segments_info`` lists of plain JSON values in one pass.

    Returns ``(offsets, ids, category_ids, iscrowd, areas, order, ok)``: list ``j``
    owns rows ``offsets[j]:offsets[j + 1]`` of the int64 ``ids`` (ascending within
    the list), int64 ``category_ids``, uint8 ``iscrowd``, float64 ``areas`` (NaN
    for a missing area) and int64 ``order`` (listing positions, so that
    ``ids = listed_ids[order]``).  ``ok[j]`` is 0, and list ``j`` owns no row, as
    soon as one of its values is not of the common kind: a list that is not a
    ``list``, a segment that is not a ``dict``, an ``id`` or ``category_id`` that
    is not an ``int`` (or does not fit int64), an id outside ``[1, max_id]`` or
    listed twice, an ``iscrowd`` other than the ints 0 / 1 or the bools, an
    ``area`` that is not a non-negative ``int`` / ``float``.  The caller then runs
    the detailed Python checks, which either accept the list or name the
    offending segment.
    """
    cdef Py_ssize_t n = len(seg_lists), total = 0, j, k, m, start, cur = 0
    cdef list segs
    for j in range(n):
        x = seg_lists[j]
        if type(x) is list:
            total += len(<list>x)
    offsets, ok, ids, cats, crowd, areas, order = _column_arrays(n, total)
    cdef int64_t[::1] v_off = offsets, v_ids = ids, v_cats = cats, v_order = order
    cdef uint8_t[::1] v_ok = ok, v_crowd = crowd
    cdef double[::1] v_area = areas
    cdef _IdPos *key = <_IdPos *>malloc(max(total, 1) * sizeof(_IdPos))
    cdef int64_t *cat_tmp = <int64_t *>malloc(max(total, 1) * sizeof(int64_t))
    cdef uint8_t *crowd_tmp = <uint8_t *>malloc(max(total, 1) * sizeof(uint8_t))
    cdef double *area_tmp = <double *>malloc(max(total, 1) * sizeof(double))
    cdef bint good
    if key == NULL or cat_tmp == NULL or crowd_tmp == NULL or area_tmp == NULL:
        free(key); free(cat_tmp); free(crowd_tmp); free(area_tmp)
        raise MemoryError()
    try:
        for j in range(n):
            x = seg_lists[j]
            start = cur
            good = type(x) is list
            if good:
                segs = <list>x
                m = len(segs)
                for k in range(m):
                    if not _read_segment(segs[k], max_id, &key[start + k].id, &cat_tmp[k],
                                         &crowd_tmp[k], &area_tmp[k]):
                        good = False
                        break
                    key[start + k].pos = k
            if good and _sort_rows(&key[start], m, cat_tmp, crowd_tmp, area_tmp, &v_ids[0] + start,
                                   &v_order[0] + start, &v_cats[0] + start, &v_crowd[0] + start,
                                   &v_area[0] + start) >= 0:
                cur = start + m
                v_ok[j] = 1
            v_off[j + 1] = cur
    finally:
        free(key)
        free(cat_tmp)
        free(crowd_tmp)
        free(area_tmp)
    if cur < total:
        ids, cats, crowd, areas, order = ids[:cur], cats[:cur], crowd[:cur], areas[:cur], order[:cur]
    return offsets, ids, cats, crowd, areas, order, ok


cdef object _json_token(bytes raw, int64_t a, int64_t b, bint esc):
    """A string token ``raw[a:b]`` (quotes included) as text."""
    if not esc:
        return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw) + a + 1, b - a - 2, NULL)
    import json
    return json.loads(raw[a:b])


def scan_panoptic_json(bytes raw, int64_t max_id):
    """A COCO panoptic JSON file's annotations, read from its bytes without building its dicts
    (``sm_json.h``).

    Returns None when the file is not of the form the scanner takes (the caller parses
    it the general way), else ``(image_ids, file_names, spans, columns, categories_span,
    images_span)``: the image ids (int or str) and file names in file order, an (n, 2)
    int64 array of each annotation object's byte range, the columns of
    :func:`segment_columns_all` for the ``segments_info`` lists, and the byte ranges of
    the top-level ``categories`` and ``images`` values (None when absent).
    """
    cdef smj_out o
    cdef const uint8_t *buf = <const uint8_t *>PyBytes_AS_STRING(raw)
    cdef size_t size = <size_t>len(raw)
    cdef int r
    cdef Py_ssize_t j, k, m, row = 0, cur = 0
    cdef int64_t[::1] v_off, v_ids, v_cats, v_order
    cdef int64_t[:, ::1] v_spans
    cdef uint8_t[::1] v_ok, v_crowd
    cdef double[::1] v_area
    with nogil:
        r = smj_scan(buf, size, max_id, &o)
    if r == SMJ_NOMEM:
        raise MemoryError()
    if r != SMJ_OK:
        return None
    cdef Py_ssize_t n = o.n_ann
    cdef _IdPos *key = NULL
    try:
        image_ids = [None] * n
        names = [None] * n
        for j in range(n):
            if o.id_kind[j] == SMJ_ID_INT:
                image_ids[j] = o.id_int[j]
            else:
                image_ids[j] = _json_token(raw, o.id_tok[2 * j], o.id_tok[2 * j + 1], o.id_kind[j] == SMJ_ID_STR_ESC)
            names[j] = _json_token(raw, o.name_tok[2 * j], o.name_tok[2 * j + 1], o.name_esc[j])
        spans = np.empty((n, 2), dtype=np.int64)
        v_spans = spans
        for j in range(n):
            v_spans[j, 0] = o.span[2 * j]
            v_spans[j, 1] = o.span[2 * j + 1]
        offsets, ok, ids, cats, crowd, areas, order = _column_arrays(n, o.n_seg)
        v_off, v_ok, v_ids, v_cats, v_crowd, v_area, v_order = offsets, ok, ids, cats, crowd, areas, order
        key = <_IdPos *>malloc(max(o.n_seg, 1) * sizeof(_IdPos))
        if key == NULL:
            raise MemoryError()
        with nogil:
            for j in range(n):
                m = o.n_rows[j]
                if o.ok[j]:
                    for k in range(m):
                        key[k].id = o.sid[row + k]
                        key[k].pos = k
                    if _sort_rows(key, m, o.cat + row, o.crowd + row, o.area + row, &v_ids[0] + cur,
                                  &v_order[0] + cur, &v_cats[0] + cur, &v_crowd[0] + cur, &v_area[0] + cur) >= 0:
                        cur += m
                        v_ok[j] = 1
                row += m
                v_off[j + 1] = cur
        if cur < <Py_ssize_t>o.n_seg:
            ids, cats, crowd, areas, order = ids[:cur], cats[:cur], crowd[:cur], areas[:cur], order[:cur]
        cat_span = None if o.cat_span[0] < 0 else (o.cat_span[0], o.cat_span[1])
        img_span = None if o.img_span[0] < 0 else (o.img_span[0], o.img_span[1])
    finally:
        free(key)
        smj_free(&o)
    return image_ids, names, spans, (offsets, ids, cats, crowd, areas, order, ok), cat_span, img_span


def segment_columns(list segs, int64_t max_id):
    """Columns of one ``segments_info`` list (see :func:`segment_columns_all`):
    ``(ids, category_ids, iscrowd, areas, order)`` or None."""
    cols = segment_columns_all([segs], max_id)
    if not cols[6][0]:
        return None
    return cols[1], cols[2], cols[3], cols[4], cols[5]
