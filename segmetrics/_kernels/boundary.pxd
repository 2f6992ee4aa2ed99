# C-level entry points of the boundary kernels, for the folder loops to call per decoded
# image (``from segmetrics._kernels.boundary cimport ...``).  Everything here is nogil,
# reentrant and allocation-checked: functions that allocate return -1 when malloc fails
# (nothing is added to the output arrays then).
#
# d is the band width in pixels (bd_dilation); d <= 0 means no band at all (every band count
# stays 0, the panoptic pair table is still counted).
#
# Label maps travel as *runs*: per row, maximal or not, left to right, each run an exclusive
# end column and an int32 label.  Semantic labels are code-table codes (class in [0, K),
# -1 ignored ground truth, -2 a label that is no class); panoptic labels are dense segment
# indices (0 = void, 1..n = the listed segments in ascending id order).  Two runs of one row
# with equal labels are allowed (the kernels merge them); labels are only compared and used
# as indices.
from libc.stdint cimport INT32_MIN, int32_t, int64_t, uint8_t, uint32_t, uint64_t


cdef struct BdRuns:
    Py_ssize_t h, w        # image height and width
    Py_ssize_t rows        # rows finished so far (bd_runs_end_row)
    Py_ssize_t n, cap      # runs stored, capacity of end / label
    int64_t* row_off       # h + 1 entries: row r owns runs row_off[r] .. row_off[r + 1] - 1
    int32_t* end           # exclusive end column of each run (the last run of a row ends at w)
    int32_t* label         # label of each run


# An empty run list for an h x w map with room for cap_hint runs (grows on push).
cdef int bd_runs_init(BdRuns* r, Py_ssize_t h, Py_ssize_t w, Py_ssize_t cap_hint) noexcept nogil
# Forget the runs, keep the memory (for the next image of the same or a smaller height).
cdef int bd_runs_reset(BdRuns* r, Py_ssize_t h, Py_ssize_t w) noexcept nogil
cdef void bd_runs_free(BdRuns* r) noexcept nogil
# Double the run capacity (-1: out of memory).
cdef int bd_runs_grow(BdRuns* r) noexcept nogil
# Append one run to the current row (-1: out of memory).
cdef inline int bd_runs_push(BdRuns* r, int32_t end, int32_t label) noexcept nogil:
    if r.n == r.cap and bd_runs_grow(r) != 0:
        return -1
    r.end[r.n] = end
    r.label[r.n] = label
    r.n += 1
    return 0
# Close the current row (its last run must end at w).
cdef void bd_runs_end_row(BdRuns* r) noexcept nogil


# Per-thread scratch of the band pass: O(width + d) memory, reused between images
# (bd_scratch_reserve grows it; the count functions call it themselves).
cdef struct BdScratch:
    Py_ssize_t w_cap, k_cap
    int32_t* iv            # interval lists of both maps
    int64_t* s_off         # block offsets of both maps

cdef void bd_scratch_init(BdScratch* s) noexcept nogil
cdef int bd_scratch_reserve(BdScratch* s, Py_ssize_t w, Py_ssize_t k) noexcept nogil
cdef void bd_scratch_free(BdScratch* s) noexcept nogil


# Sparse table of the (GT, prediction) pairs present in one image, linear in the pairs:
# open addressing (linear probing) from a hash of (g, p) to an entry index; entries in
# first-seen order.  mask = |g & p| in pixels; inner = |g & p & (I_G | I_P)| for g > 0 and
# |void & p & I_P| for g = 0 (I: the interiors, the pixels outside their segment's band), so
# that band(g, p) = mask - inner is |G_b & P_b| (g > 0) or |P_b & void| (g = 0, the band
# union's void term).  Clearing costs the entries, not the slots.
cdef struct BdPairs:
    int32_t* slots         # entry index of each slot, -1 = empty
    Py_ssize_t slot_mask   # number of slots - 1 (slots: a power of two, at least 2 n)
    Py_ssize_t n, cap      # entries, entry capacity
    int32_t* g
    int32_t* p
    int32_t* slot          # the slot of each entry (for clearing)
    int64_t* mask
    int64_t* inner

cdef int bd_pairs_init(BdPairs* t, Py_ssize_t cap_hint) noexcept nogil
cdef void bd_pairs_clear(BdPairs* t) noexcept nogil
cdef void bd_pairs_free(BdPairs* t) noexcept nogil
# Entry index of (g, p), inserted with zero counts when absent (-1: out of memory).
cdef Py_ssize_t bd_pairs_entry(BdPairs* t, int32_t g, int32_t p) noexcept nogil
# Entry index of (g, p) or -1 when absent.
cdef Py_ssize_t bd_pairs_find(const BdPairs* t, int32_t g, int32_t p) noexcept nogil


# The band width d in pixels: max(1, round(ratio * sqrt(h^2 + w^2))), rounding half to even
# as boundary-iou-api's Python round() does.
cdef Py_ssize_t bd_dilation(Py_ssize_t h, Py_ssize_t w, double ratio) noexcept nogil


# Semantic Boundary IoU, as interior counts of one image.  gt and pred are the code runs of
# the two maps (same h, w).  A pixel of label c is in c's band when a pixel at chessboard
# distance <= d has another label or lies outside the image; otherwise it is in the interior
# I.  For the pixels whose GT code is a class (V) and whose prediction code is not negative:
#   gt_in[c]   += |G_c & I_G|          G_c = {gt == c}
#   pred_in[c] += |P_c & I_P & V|      P_c = {pred == c}, its band taken on the whole map
#   both_in[c] += |G_c & P_c & (I_G | I_P)|
# so that, with the image's (or the dataset's: the sums are linear) confusion matrix cm,
#   gt_band = cm.sum(1) - gt_in,  pred_band = cm.sum(0) - pred_in,  inter = diag(cm) - both_in
# (Boundary IoU_c = inter_c / (gt_band_c + pred_band_c - inter_c)).  Arrays have K entries;
# codes must be < K.  Checking labels is the caller's job (the confusion count finds bad
# labels in the same images).  Scratch: s (reserved here).  Returns 0, or -1 when out of memory.
cdef int bd_semantic_interior(const BdRuns* gt, const BdRuns* pred, Py_ssize_t d, int64_t* gt_in,
                              int64_t* pred_in, int64_t* both_in, BdScratch* s) noexcept nogil


# Boundary PQ, as interior counts of one image.  gt / pred: dense-index runs (labels in
# [0, ng] / [0, npr]).  The bands are those of each segment's own binary mask (void has none).
# gt_in[g] += |g & I_G| (g = 1..ng), pred_in[p] += |p & I_P| (p = 1..npr), arrays of ng + 1 /
# npr + 1 entries (entry 0 is left alone); pairs.inner(g, p) as described at BdPairs, entries
# made for those pairs only, unless count_mask is set, which also adds every pixel to
# pairs.mask(g, p) (the intersection table; the fused folder loop has its own and passes 0,
# which lets the walk skip the stretches where both maps are in a band).  Band areas and band
# intersections: |G_b| = |g| - gt_in[g], |P_b| = |p| - pred_in[p], band(g, p) = mask(g, p) -
# inner(g, p), with |g|, |p| the PNG pixel counts (row / column sums of the table).
# Returns 0, or -1 when out of memory.
cdef int bd_panoptic_interior(const BdRuns* gt, const BdRuns* pred, Py_ssize_t d, int64_t* gt_in,
                              int64_t* pred_in, BdPairs* pairs, bint count_mask, BdScratch* s) noexcept nogil

# out[k] = pairs.inner(g[k], p[k]) (0 when absent): the interior counts aligned with another
# table's pair list (e.g. the engine's intersection table), for band = mask - inner.
cdef void bd_pairs_inner_of(const BdPairs* t, Py_ssize_t n, const int32_t* g, const int32_t* p,
                            int64_t* out) noexcept nogil


# The band of one map as an h x w byte image (1 = in the band of its own label).
cdef int bd_band_image(const BdRuns* runs, Py_ssize_t d, uint8_t* out, BdScratch* s) noexcept nogil


# ----------------------------------------------------------------------------- fused loops
# Both maps' runs built from the pieces of a row walk (sm_walk.h): a piece is n pixels of
# one (GT label, prediction label); bd_build_piece extends or closes the run of each side,
# bd_build_row_end closes both rows.  INT32_MIN marks "no run yet" (no label is INT32_MIN).

cdef struct BdBuild:
    BdRuns* g
    BdRuns* p
    int32_t x              # column where the next piece starts
    int32_t gl, pl         # label of the run being built on each side


cdef inline int bd_build_piece(BdBuild* b, int32_t g, int32_t p, size_t n) noexcept nogil:
    if g != b.gl:
        if b.x and bd_runs_push(b.g, b.x, b.gl) != 0:
            return -1
        b.gl = g
    if p != b.pl:
        if b.x and bd_runs_push(b.p, b.x, b.pl) != 0:
            return -1
        b.pl = p
    b.x += <int32_t>n
    return 0


cdef inline int bd_build_row_end(BdBuild* b) noexcept nogil:
    if b.x:
        if bd_runs_push(b.g, b.x, b.gl) != 0 or bd_runs_push(b.p, b.x, b.pl) != 0:
            return -1
    bd_runs_end_row(b.g)
    bd_runs_end_row(b.p)
    b.x = 0
    b.gl = INT32_MIN
    b.pl = INT32_MIN
    return 0


# Per-thread band state of a folder loop or a per-image count (never share one between
# threads): both maps' runs, the band scratch and, for panoptic images, the interior pair
# table and the per-segment / per-pair results of BandWork.panoptic.
cdef class BandWork:
    cdef BdRuns g, p
    cdef BdScratch s
    cdef BdPairs pairs
    cdef BdBuild b
    cdef int64_t* gin          # panoptic: interior area of GT segment g (index g, 0 unused)
    cdef int64_t* pin          # and of prediction segment p
    cdef int64_t* band         # per pair entry: band count (see BandWork.panoptic)
    cdef Py_ssize_t seg_cap, band_cap
    cdef readonly double ratio           # band width as a fraction of the image diagonal
    cdef readonly Py_ssize_t dilation    # or a fixed width in pixels (0: from the ratio)
    cdef readonly Py_ssize_t last_width  # d of the last image counted
    # New runs for an h x w image (call before walking its rows); -1 if out of memory.
    cdef int start(self, Py_ssize_t h, Py_ssize_t w) noexcept nogil
    # d for an h x w image.
    cdef Py_ssize_t width(self, Py_ssize_t h, Py_ssize_t w) noexcept nogil
    # Whether every row of the image was built (the runs are complete).
    cdef bint complete(self) noexcept nogil
    # Semantic interiors of the built runs added to the K-entry arrays (bd_semantic_interior);
    # -1 if out of memory.
    cdef int semantic(self, int64_t* gt_in, int64_t* pred_in, int64_t* both_in) noexcept nogil
    # Panoptic: from the built runs of dense indices (labels in [0, ng] / [0, npr]) and the
    # image's n present pairs (eg, ep, ec: any order, ec = |g & p|), set gin[1..ng],
    # pin[1..npr] (interior areas) and band[k] = |G_b & P_b| (eg[k] > 0) or |P_b & void|
    # (eg[k] = 0), i.e. ec[k] minus the pair's interior count.  -1 if out of memory.
    cdef int _reserve(self, Py_ssize_t segs, Py_ssize_t n) noexcept nogil
    cdef int panoptic(self, Py_ssize_t n, const uint32_t* eg, const uint32_t* ep, const int64_t* ec,
                      Py_ssize_t ng, Py_ssize_t npr) noexcept nogil
