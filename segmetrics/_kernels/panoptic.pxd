# C-level pieces of the panoptic kernel shared with the folder pipeline
# (``from segmetrics._kernels.panoptic cimport ...``): the segment-id hash table and the matching.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t

cdef enum:
    EMPTY_SLOT = 0xFFFFFFFF


cdef inline uint32_t _hash(uint32_t key, uint32_t mask) noexcept nogil:
    return (key * <uint32_t>2654435761u) >> 7 & mask


cdef inline int32_t _lookup(const uint32_t* keys, const int32_t* vals, uint32_t mask,
                            uint32_t key) noexcept nogil:
    """Dense index of a segment id: 0 for void (id 0), 1..n for listed ids, -1 if unlisted."""
    cdef uint32_t slot
    if key == 0:
        return 0
    slot = _hash(key, mask)
    while keys[slot] != EMPTY_SLOT:
        if keys[slot] == key:
            return vals[slot]
        slot = (slot + 1) & mask
    return -1


# Hash table id -> dense index (1-based) of the ascending ids; -1 on allocation failure.
# The caller frees *keys_out and *vals_out.
cdef int _build(const int64_t* ids, Py_ssize_t n, uint32_t** keys_out, int32_t** vals_out,
                uint32_t* mask_out) noexcept nogil


# panopticapi's matching on one image's (ng + 1) x (npr + 1) intersection table ``tab``
# (row / column 0 = void, then ascending segment ids): GT g and prediction p match iff
# same category, g not crowd and |g & p| / (|p| + area[g] - |g & p| - |p & void|) > 0.5.
# An unmatched prediction is not a false positive when more than half of it lies on void
# or on crowd_of_cat[its category] (a 1-based GT row, 0 for none).  pred_pixels[p] is
# column p's sum (p = 1..npr).  tp / fp / fn are incremented in place; match p gets
# match_cat[m] / match_iou[m] (capacity: the non-empty inner cells); gt_matched /
# pred_matched (zeroed by the caller) flag the matched segments; with log not NULL each
# count also appends 3 * category + (0 TP, 1 FP, 2 FN) there and n_log gets their number.
# Returns the number of matches.
cdef Py_ssize_t _match(const int64_t* tab, Py_ssize_t ng, Py_ssize_t npr, const int64_t* pred_pixels,
                       const double* gt_area, const int64_t* gt_cat, const uint8_t* gt_crowd,
                       const int64_t* crowd_of_cat, const int64_t* pred_cat,
                       int64_t* tp, int64_t* fp, int64_t* fn, int64_t* match_cat, double* match_iou,
                       uint8_t* gt_matched, uint8_t* pred_matched, int64_t* log,
                       Py_ssize_t* n_log) noexcept nogil
