# C-level pieces of the panoptic kernel shared with the folder pipeline
# (``from segmetrics._kernels.panoptic cimport ...``): the segment-id hash table.
from libc.stdint cimport int32_t, int64_t, uint32_t

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
