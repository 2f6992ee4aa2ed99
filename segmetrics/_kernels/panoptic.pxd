# The per-image panoptic counting state shared with the folder kernels
# (``from segmetrics._kernels.panoptic cimport PairTable``).
from libc.stdint cimport int32_t, int64_t

from segmetrics._kernels.boundary cimport BdBuild, bd_build_piece

from segmetrics._kernels.sm cimport sm_ids, sm_pairs, sm_pairs_emit, sm_rec


cdef class PairTable:
    # The segment-id hashes of both sides, the present (GT, prediction) pairs of the
    # image counted last, and the recorder of its GT runs (folder kernels, GT cache on).
    cdef sm_ids gids, pids
    cdef sm_pairs tab
    cdef sm_rec rec
    cdef readonly Py_ssize_t n_gt, n_pred
    # Build the id hashes (gt_ids NULL: the GT side comes as cached runs) and start an
    # empty table of n_gt x n_pred segments; -1 if out of memory.
    cdef int start(self, const int64_t *gt_ids, Py_ssize_t n_gt, const int64_t *pred_ids,
                   Py_ssize_t n_pred) noexcept nogil


# The walker's sink when the bands are wanted too: the pair table, and both maps' runs of
# dense indices for the band pass (boundary.pxd's BdBuild).
cdef struct PairBandSink:
    sm_pairs* tab
    BdBuild* b


cdef inline int pair_band_emit(void* sink, int32_t g, int32_t p, size_t n) noexcept nogil:
    cdef PairBandSink* s = <PairBandSink*>sink
    if bd_build_piece(s.b, g, p, n) != 0:
        return -1
    return sm_pairs_emit(s.tab, g, p, n)
