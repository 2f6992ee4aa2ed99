# cython: language_level=3
"""Per-image panoptic kernel: one pass over the pixels, then matching on a small table.

The pixel pass maps every GT and predicted segment id to a dense index (0 is
void, ``1..n`` are the listed segments in ascending id order) through a small
open-addressing hash table built from the ``segments_info`` ids, and counts the
``(n_gt + 1) x (n_pred + 1)`` intersection table.  Matching then works on that
table only.  Both functions release the GIL.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc, qsort
from libc.math cimport NAN
from libc.string cimport memcpy

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef inline uint32_t _pixel_id(const uint8_t* base, Py_ssize_t i, bint rgb) noexcept nogil:
    if rgb:
        return (<uint32_t>base[3 * i]) | (<uint32_t>base[3 * i + 1] << 8) | (<uint32_t>base[3 * i + 2] << 16)
    return (<const uint32_t*>base)[i]


cdef inline uint32_t _pixel_id_fast(const uint8_t* base, Py_ssize_t i, bint rgb) noexcept nogil:
    """Like _pixel_id, but RGB is one unaligned 4-byte load (needs a byte after the pixel;
    little-endian only: the Python wrapper converts RGB to ids on big-endian machines)."""
    cdef uint32_t v
    if rgb:
        memcpy(&v, base + 3 * i, 4)
        return v & 0xFFFFFF
    return (<const uint32_t*>base)[i]


cdef int _build(const int64_t* ids, Py_ssize_t n, uint32_t** keys_out, int32_t** vals_out,
                uint32_t* mask_out) noexcept nogil:
    """Hash table id -> dense index (1-based) of the n ascending ids; -1 on allocation failure."""
    cdef Py_ssize_t i
    cdef uint32_t size = 16, slot, key
    while size < 4 * <uint32_t>(n + 1):
        size <<= 1
    cdef uint32_t* keys = <uint32_t*>malloc(size * sizeof(uint32_t))
    cdef int32_t* vals = <int32_t*>malloc(size * sizeof(int32_t))
    if keys == NULL or vals == NULL:
        free(keys)
        free(vals)
        return -1
    for i in range(size):
        keys[i] = EMPTY_SLOT
    for i in range(n):
        key = <uint32_t>ids[i]
        slot = _hash(key, size - 1)
        while keys[slot] != EMPTY_SLOT:
            slot = (slot + 1) & (size - 1)
        keys[slot] = key
        vals[slot] = <int32_t>(i + 1)
    keys_out[0] = keys
    vals_out[0] = vals
    mask_out[0] = size - 1
    return 0


cdef inline int _count(const uint8_t* gbase, bint gt_rgb, const uint8_t* pbase, bint pred_rgb,
                       Py_ssize_t n_pixels, int64_t* tab, Py_ssize_t width,
                       const uint32_t* gkeys, const int32_t* gvals, uint32_t gmask,
                       const uint32_t* pkeys, const int32_t* pvals, uint32_t pmask,
                       int64_t* bad_gt, int64_t* bad_pred) noexcept nogil:
    """Run-length counting loop (inlined with constant flags, so each input kind gets its own loop)."""
    cdef Py_ssize_t i, cell = 0
    cdef int64_t run = 0
    cdef uint32_t g, p, cur_g, cur_p
    cdef int32_t gi, pi
    if n_pixels == 0:
        return 0
    cur_g = _pixel_id(gbase, 0, gt_rgb)
    cur_p = _pixel_id(pbase, 0, pred_rgb)
    gi = _lookup(gkeys, gvals, gmask, cur_g)
    if gi < 0:
        bad_gt[0] = cur_g
        return -1
    pi = _lookup(pkeys, pvals, pmask, cur_p)
    if pi < 0:
        bad_pred[0] = cur_p
        return -1
    cell = gi * width + pi
    for i in range(n_pixels):
        if i < n_pixels - 1:
            g = _pixel_id_fast(gbase, i, gt_rgb)
            p = _pixel_id_fast(pbase, i, pred_rgb)
        else:
            g = _pixel_id(gbase, i, gt_rgb)
            p = _pixel_id(pbase, i, pred_rgb)
        if g == cur_g and p == cur_p:
            run += 1
            continue
        tab[cell] += run
        run = 1
        if g != cur_g:
            cur_g = g
            gi = _lookup(gkeys, gvals, gmask, g)
            if gi < 0:
                bad_gt[0] = g
                return -1
        if p != cur_p:
            cur_p = p
            pi = _lookup(pkeys, pvals, pmask, p)
            if pi < 0:
                bad_pred[0] = p
                return -1
        cell = gi * width + pi
    tab[cell] += run
    return 0


def intersection_table(const uint8_t[::1] gt, bint gt_rgb, const uint8_t[::1] pred, bint pred_rgb,
                       Py_ssize_t n_pixels, const int64_t[::1] gt_ids, const int64_t[::1] pred_ids):
    """Count the GT x prediction intersection table of one image.

    Parameters
    ----------
    gt, pred : uint8 memoryviews
        The raw bytes of the id maps: ``3 * n_pixels`` bytes of RGB when the
        ``*_rgb`` flag is set (id = R + 256 G + 256^2 B), else ``n_pixels``
        native uint32 ids.
    gt_ids, pred_ids : int64 arrays
        The listed segment ids, unique, sorted ascending, all in ``[1, 2^32 - 2]``.

    Returns
    -------
    table : int64 ndarray, shape (len(gt_ids) + 1, len(pred_ids) + 1)
        ``table[i, j]`` = pixels of GT dense index ``i`` and prediction dense
        index ``j``; index 0 is void (id 0).
    bad_gt, bad_pred : int
        The first pixel id found in the map but not in the list (-1 when none).
    """
    cdef Py_ssize_t ng = gt_ids.shape[0], npr = pred_ids.shape[0]
    cdef Py_ssize_t width = npr + 1
    if n_pixels < 0 or gt.shape[0] != n_pixels * (3 if gt_rgb else 4) or \
            pred.shape[0] != n_pixels * (3 if pred_rgb else 4):
        raise ValueError(f"id map buffers of {gt.shape[0]} and {pred.shape[0]} bytes do not hold "
                         f"{n_pixels} pixels each")
    table_arr = np.zeros((ng + 1, npr + 1), dtype=np.int64)
    cdef int64_t[:, ::1] table = table_arr
    cdef int64_t* tab = &table[0, 0]
    cdef uint32_t *gkeys = NULL
    cdef uint32_t *pkeys = NULL
    cdef int32_t *gvals = NULL
    cdef int32_t *pvals = NULL
    cdef uint32_t gmask = 0, pmask = 0
    cdef int64_t bad_gt = -1, bad_pred = -1
    cdef int status = 0
    cdef const uint8_t* gbase = &gt[0] if gt.shape[0] > 0 else NULL
    cdef const uint8_t* pbase = &pred[0] if pred.shape[0] > 0 else NULL
    with nogil:
        if (_build(&gt_ids[0] if ng else NULL, ng, &gkeys, &gvals, &gmask) != 0
                or _build(&pred_ids[0] if npr else NULL, npr, &pkeys, &pvals, &pmask) != 0):
            status = -1
        else:
            if gt_rgb and pred_rgb:
                _count(gbase, True, pbase, True, n_pixels, tab, width, gkeys, gvals, gmask,
                       pkeys, pvals, pmask, &bad_gt, &bad_pred)
            elif gt_rgb:
                _count(gbase, True, pbase, False, n_pixels, tab, width, gkeys, gvals, gmask,
                       pkeys, pvals, pmask, &bad_gt, &bad_pred)
            elif pred_rgb:
                _count(gbase, False, pbase, True, n_pixels, tab, width, gkeys, gvals, gmask,
                       pkeys, pvals, pmask, &bad_gt, &bad_pred)
            else:
                _count(gbase, False, pbase, False, n_pixels, tab, width, gkeys, gvals, gmask,
                       pkeys, pvals, pmask, &bad_gt, &bad_pred)
        free(gkeys)
        free(gvals)
        free(pkeys)
        free(pvals)
    if status != 0:
        raise MemoryError("cannot allocate the segment id hash tables")
    return table_arr, bad_gt, bad_pred


cdef Py_ssize_t _match(const int64_t* tab, Py_ssize_t ng, Py_ssize_t npr, const int64_t* pred_pixels,
                       const double* gt_area, const int64_t* gt_cat, const uint8_t* gt_crowd,
                       const int64_t* crowd_of_cat, const int64_t* pred_cat,
                       int64_t* tp, int64_t* fp, int64_t* fn, int64_t* match_cat, double* match_iou,
                       uint8_t* gt_matched, uint8_t* pred_matched, int64_t* log,
                       Py_ssize_t* n_log) noexcept nogil:
    """panopticapi's matching on one image's ``(ng + 1) x (npr + 1)`` table (see the pxd)."""
    cdef Py_ssize_t W = npr + 1, g, p, c, m = 0, k = 0
    cdef int64_t inter, ignored
    cdef double union_, iou
    for g in range(1, ng + 1):
        if gt_crowd[g - 1]:
            continue
        for p in range(1, W):
            inter = tab[g * W + p]
            if inter == 0 or gt_cat[g - 1] != pred_cat[p - 1]:
                continue
            union_ = (<double>pred_pixels[p] + gt_area[g - 1]) - <double>inter - <double>tab[p]
            iou = <double>inter / union_
            if iou > 0.5:
                tp[gt_cat[g - 1]] += 1
                if log != NULL:
                    log[k] = 3 * gt_cat[g - 1]
                    k += 1
                match_cat[m] = gt_cat[g - 1]
                match_iou[m] = iou
                m += 1
                gt_matched[g - 1] = 1
                pred_matched[p - 1] = 1
    for g in range(ng):
        if not gt_matched[g] and not gt_crowd[g]:
            fn[gt_cat[g]] += 1
            if log != NULL:
                log[k] = 3 * gt_cat[g] + 2
                k += 1
    for p in range(1, W):
        if pred_matched[p - 1]:
            continue
        ignored = tab[p]
        c = crowd_of_cat[pred_cat[p - 1]]
        if c > 0:
            ignored += tab[c * W + p]
        if pred_pixels[p] > 0 and <double>ignored / <double>pred_pixels[p] > 0.5:
            continue
        fp[pred_cat[p - 1]] += 1
        if log != NULL:
            log[k] = 3 * pred_cat[p - 1] + 1
            k += 1
    n_log[0] = k
    return m


def match_segments(const int64_t[:, ::1] table, const double[::1] gt_area,
                   const int64_t[::1] gt_cat, const uint8_t[::1] gt_crowd,
                   const int64_t[::1] crowd_of_cat, const int64_t[::1] pred_cat,
                   int64_t[::1] tp, int64_t[::1] fp, int64_t[::1] fn,
                   int64_t[::1] match_cat, double[::1] match_iou,
                   uint8_t[::1] gt_matched, uint8_t[::1] pred_matched):
    """panopticapi's matching on one image's intersection table (GIL released).

    ``gt_cat`` / ``pred_cat`` hold dense category indices, ``crowd_of_cat[c]``
    the dense GT index (1-based) of the crowd segment that counts for category
    ``c`` (0 when none).  ``tp``, ``fp``, ``fn`` (length K) are incremented in
    place; each match writes its category and IoU to ``match_cat`` /
    ``match_iou`` (capacity ``n_gt * n_pred``) in ascending (GT id, pred id)
    order.  Returns the number of matches.
    """
    cdef Py_ssize_t ng = table.shape[0] - 1, npr = table.shape[1] - 1, g, p, m, n_log
    cdef int64_t* pred_pixels = <int64_t*>malloc((npr + 1) * sizeof(int64_t))
    if pred_pixels == NULL:
        raise MemoryError()
    with nogil:
        for p in range(npr + 1):
            pred_pixels[p] = 0
            for g in range(ng + 1):
                pred_pixels[p] += table[g, p]
        m = _match(&table[0, 0], ng, npr, pred_pixels, &gt_area[0] if ng else NULL,
                   &gt_cat[0] if ng else NULL, &gt_crowd[0] if ng else NULL, &crowd_of_cat[0],
                   &pred_cat[0] if npr else NULL, &tp[0], &fp[0], &fn[0],
                   &match_cat[0] if match_cat.shape[0] else NULL,
                   &match_iou[0] if match_iou.shape[0] else NULL,
                   &gt_matched[0] if ng else NULL, &pred_matched[0] if npr else NULL, NULL, &n_log)
    free(pred_pixels)
    return m



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
    offsets = np.zeros(n + 1, dtype=np.int64)
    ok = np.zeros(n, dtype=np.uint8)
    ids = np.empty(total, dtype=np.int64)
    cats = np.empty(total, dtype=np.int64)
    crowd = np.empty(total, dtype=np.uint8)
    areas = np.empty(total, dtype=np.float64)
    order = np.empty(total, dtype=np.int64)
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
                    if not _read_segment(segs[k], max_id, &key[start + k].id, &cat_tmp[start + k],
                                         &crowd_tmp[start + k], &area_tmp[start + k]):
                        good = False
                        break
                    key[start + k].pos = k
            if good:
                if m > 1:
                    qsort(&key[start], m, sizeof(_IdPos), _cmp_idpos)
                for k in range(m):
                    if k and key[start + k].id == key[start + k - 1].id:
                        good = False  # an id listed twice
                        break
                    v_ids[start + k] = key[start + k].id
                    v_order[start + k] = key[start + k].pos
                    v_cats[start + k] = cat_tmp[start + key[start + k].pos]
                    v_crowd[start + k] = crowd_tmp[start + key[start + k].pos]
                    v_area[start + k] = area_tmp[start + key[start + k].pos]
            if good:
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


def segment_columns(list segs, int64_t max_id):
    """Columns of one ``segments_info`` list (see :func:`segment_columns_all`):
    ``(ids, category_ids, iscrowd, areas, order)`` or None."""
    cols = segment_columns_all([segs], max_id)
    if not cols[6][0]:
        return None
    return cols[1], cols[2], cols[3], cols[4], cols[5]
