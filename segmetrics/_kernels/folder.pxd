# What the folder kernels share (``from segmetrics._kernels.folder cimport ...``): the
# per-thread decode buffers, the PNG pair opening and row unfiltering, the work counter.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t

from segmetrics._kernels.png cimport png_header
from segmetrics._kernels.sm cimport sm_rec


cdef enum:
    SLACK = 64          # readable bytes after every buffer (word loads past a row end)
    OK = 0
    REFERENCE = 1       # the reference path must take the pair
    STALE_CACHE = 2     # the cached runs do not fit the image
    NEEDS_PYTHON = 3    # panoptic: counted, but the image needs the Python statistics


cdef class Scratch:
    cdef uint8_t *buf[2]       # inflated (filtered) rows: GT, prediction
    cdef size_t cap[2]
    cdef uint8_t *fbuf[2]      # whole files read by the kernels themselves
    cdef size_t fcap[2]
    cdef uint16_t *runs        # recorded GT runs: values, then lengths at runs + runs_cap
    cdef size_t runs_cap
    cdef public Py_ssize_t width, height, n_runs
    cdef public int64_t bad_gt, bad_pred
    cdef public bint counted
    cdef char err[200]
    cdef bint own_pages        # buffers 0 and 1 from sm_buf_alloc (see Scratch.__cinit__)

    cdef uint8_t *grow(self, int i, size_t n) noexcept nogil
    cdef int read_file(self, int i, const char *path, size_t *size) noexcept nogil
    cdef int seterr(self, const char *msg) noexcept nogil
    cdef int begin(self) noexcept nogil
    cdef int open_pair(self, const uint8_t *gp, size_t gn, const uint8_t *pp, size_t pn,
                       png_header *gh, png_header *ph, int channels) noexcept nogil
    cdef int open_gt(self, const uint8_t *gp, size_t gn, png_header *gh, int channels) noexcept nogil
    cdef int parse(self, const uint8_t *data, size_t size, png_header *hdr, int channels) noexcept nogil
    cdef int inflate_second(self, int i, const uint8_t *pp, size_t pn, const png_header *gh,
                            const png_header *ph) noexcept nogil
    cdef uint16_t *run_room(self, size_t n) noexcept nogil
    cdef int open_cached(self, const uint16_t *rv, const uint16_t *rl, size_t nruns,
                         Py_ssize_t width, Py_ssize_t height, uint32_t max_value,
                         const uint8_t *pp, size_t pn, png_header *ph, int channels) noexcept nogil
    cdef int start_record(self, bint record, size_t n_pixels, sm_rec *rec, int bias) noexcept nogil
    cdef int end_record(self, sm_rec *rec, int status, const png_header *gh) noexcept nogil


cdef class WorkCounter:
    cdef int64_t next_index, stop_at
    cdef int64_t take(self) noexcept nogil
    cdef int64_t take_below(self, Py_ssize_t n) noexcept nogil


# The (GT, prediction) file names of a run's images, for the batch runs that read the files:
# path(side, i, buf, PATH_BUF) puts one back together into a caller's buffer.
cdef enum:
    PATH_BUF = 4096

cdef class FilePairs:
    cdef list _prefix, _blob, _starts, _empty
    cdef const char *pre[2]
    cdef size_t pre_n[2]
    cdef const char *blob[2]
    cdef const int64_t *starts[2]
    cdef const uint8_t *empty[2]
    cdef readonly Py_ssize_t n
    cdef int path(self, int side, Py_ssize_t i, char *out, size_t cap) noexcept nogil


# Unfilter row y of an inflated image in place (rows above already done); NULL on a bad
# filter type.
cdef uint8_t *unfilter(const png_header *hdr, uint8_t *raw, size_t y) noexcept nogil


# SHA-256 of a file's bytes followed by `ntails` more byte strings, with OpenSSL's functions
# (found at import, see folder.pyx); -1 when they were not found (the caller hashes in Python).
cdef int sha256_parts(const uint8_t *data, size_t n, const uint8_t **tails, const size_t *tail_n,
                      int ntails, uint8_t *out) noexcept nogil
