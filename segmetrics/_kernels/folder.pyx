# cython: language_level=3
"""Fused PNG-decode-and-count kernels for folder evaluation (one nogil call per image pair).

Each call parses both PNG files, inflates their IDAT streams into per-thread
scratch buffers, then walks the rows: a ground-truth row and a prediction row are
unfiltered in place (so no decoded image is ever stored) and immediately counted,
while they are still in the L1 cache.  Counting follows *runs*: for each side the
next pixel that differs from its left neighbour is found by comparing 8-byte
words of the row with the same row shifted by one pixel, and a lookup happens
only where a run ends.

Ground truth can also come from the cache (:mod:`segmetrics.gtcache`) as runs of
codes per row (``values`` / ``lengths`` uint16 arrays; runs never cross a row
end).  The uncached kernels record those runs when asked (``record=True``).

Semantic codes: the ground-truth table maps a raw value (0..65535) to a class,
``-1`` (ignored: counts nowhere) or ``-2`` (bad label); the prediction table to a
class or ``-2``.  In recorded runs a code ``c`` is stored as ``c + 2``.
Panoptic codes: the dense segment index (0 = void, 1..n = the listed ids in
ascending order), found through the segment-id hash of
:mod:`segmetrics._kernels.panoptic`.

Return status of every kernel: ``0`` done; ``1`` the pair needs the reference
path (a PNG layout or corruption the fast decoder does not take, sizes that
differ, a bad label or an unlisted segment id: the reference path raises the
precise error); ``2`` the cached runs do not fit the image (a stale or corrupt
cache entry: recompute it).  After status 1 the counts may hold part of the
image, so the caller must not use them.

Panoptic statistics: :class:`PanopticBatch` holds the segment columns of every
image of a run; its scorers count one image into a per-thread scratch table,
then match segments as panopticapi does and add the image's TP / FP / FN, match
IoUs and category confusion to a per-thread :class:`PanopticAccumulator`, all in
the same nogil call.  They return ``3`` (nothing added) when the image needs the
Python statistics: a listed segment without pixels or a JSON area that differs
from the PNG, which the Python path reports by name.  :meth:`PanopticBatch.run`
also reads the files (POSIX) and takes images from a shared
:class:`WorkCounter`, so a thread makes one call for a whole run.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

import numpy as np

cimport numpy as cnp

from segmetrics._kernels.png cimport png_header, png_inflate, png_read_header, png_unfilter_row
from segmetrics._kernels.panoptic cimport _build, _lookup, _match

cnp.import_array()

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define SMF_LE 1
    #else
    #define SMF_LE 0
    #endif

    /* The first pixel index k' >= k (k >= 1) whose B bytes differ from those of pixel
       k' - 1, or w: the row is compared with itself shifted by one pixel, 30 or 32
       bytes per step with SSE2 (8 bytes per step without).  Reads up to 32 bytes past
       the start of pixel w - 1, so rows need that much readable slack after them. */
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    static inline size_t smf_next_change(const uint8_t *x, size_t k, size_t w, const int B) {
    #if SMF_LE && defined(__SSE2__)
        /* 3-byte pixels: 15 bytes (5 whole pixels) per 16-byte compare */
        const int chunk = B == 3 ? 15 : 16;
        const uint32_t keep = B == 3 ? 0x3FFFFFFFu : 0xFFFFFFFFu;
        const size_t step = (size_t)(2 * chunk / B);
        uint32_t eq, d;
        while (k < w) {
            const uint8_t *a = x + k * B, *b = a - B;
            eq = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
                     _mm_loadu_si128((const __m128i *)a), _mm_loadu_si128((const __m128i *)b)))
                 & ((1u << chunk) - 1u);
            eq |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
                      _mm_loadu_si128((const __m128i *)(a + chunk)),
                      _mm_loadu_si128((const __m128i *)(b + chunk)))) << chunk;
            d = ~eq & keep;
            if (d) {
                k += (size_t)__builtin_ctz(d) / B;
                return k < w ? k : w;
            }
            k += step;
        }
        return w;
    #elif SMF_LE
        const size_t step = B == 3 ? 2 : (size_t)(8 / B);
        const uint64_t mask = B == 3 ? 0xFFFFFFFFFFFFull : ~0ull;
        uint64_t a, b, d;
        while (k < w) {
            memcpy(&a, x + k * B, 8);
            memcpy(&b, x + (k - 1) * B, 8);
            d = (a ^ b) & mask;
            if (d) {
                k += ((size_t)__builtin_ctzll(d) >> 3) / B;
                return k < w ? k : w;
            }
            k += step;
        }
        return w;
    #else
        while (k < w && memcmp(x + k * B, x + (k - 1) * B, B) == 0) k++;
        return k;
    #endif
    }

    /* Sample i of a 1-byte or big-endian 2-byte row. */
    #define SMF_VAL(x, i, B) ((B) == 1 ? (uint32_t)(x)[i] \
                              : (((uint32_t)(x)[2 * (i)] << 8) | (uint32_t)(x)[2 * (i) + 1]))

    /* RGB pixel i as a segment id R + 256 G + 256^2 B (one 4-byte load; needs slack). */
    static inline uint32_t smf_rgb(const uint8_t *x, size_t i) {
    #if SMF_LE
        uint32_t v;
        memcpy(&v, x + 3 * i, 4);
        return v & 0xFFFFFF;
    #else
        return (uint32_t)x[3 * i] | ((uint32_t)x[3 * i + 1] << 8) | ((uint32_t)x[3 * i + 2] << 16);
    #endif
    }

    /* Append a run (value, length) to the record, splitting lengths above 65535. */
    static inline void smf_emit(uint16_t *rv, uint16_t *rl, size_t *n, uint16_t v, size_t len) {
        while (len > 0) {
            size_t part = len > 65535 ? 65535 : len;
            rv[*n] = v;
            rl[*n] = (uint16_t)part;
            (*n)++;
            len -= part;
        }
    }

    /* Count n pixels of ground-truth code g and prediction code p. */
    static inline void smf_sem_add(int64_t *cm, int64_t K, int32_t g, int32_t p, int64_t n,
                                   int64_t *bad) {
        if (g >= 0) {
            if (p >= 0) cm[g * K + p] += n;
            else bad[1] += n;
        } else if (g == -2) {
            bad[0] += n;
        }
    }

    /* One semantic row pair (uncached): runs of the (gt, pred) pair. */
    #define SMF_SEM_ROW(BG, BP)                                                        \\
    static void smf_sem_row_##BG##BP(const uint8_t *g, const uint8_t *p, size_t w,     \\
            const int32_t *gc, const int32_t *pc, int64_t *cm, int64_t K, int64_t *bad, \\
            uint16_t *rv, uint16_t *rl, size_t *nrun) {                                \\
        size_t j = 0, e, ng, np_, gstart = 0;                                          \\
        int32_t gcode = gc[SMF_VAL(g, 0, BG)], pcode = pc[SMF_VAL(p, 0, BP)], ncode;   \\
        ng = smf_next_change(g, 1, w, BG);                                             \\
        np_ = smf_next_change(p, 1, w, BP);                                            \\
        for (;;) {                                                                     \\
            e = ng < np_ ? ng : np_;                                                   \\
            smf_sem_add(cm, K, gcode, pcode, (int64_t)(e - j), bad);                   \\
            if (e >= w) break;                                                         \\
            if (e == ng) {                                                             \\
                ncode = gc[SMF_VAL(g, e, BG)];                                         \\
                if (rv != NULL && ncode != gcode) {                                    \\
                    smf_emit(rv, rl, nrun, (uint16_t)(gcode + 2), e - gstart);         \\
                    gstart = e;                                                        \\
                }                                                                      \\
                gcode = ncode;                                                         \\
                ng = smf_next_change(g, e + 1, w, BG);                                 \\
            }                                                                          \\
            if (e == np_) {                                                            \\
                pcode = pc[SMF_VAL(p, e, BP)];                                         \\
                np_ = smf_next_change(p, e + 1, w, BP);                                \\
            }                                                                          \\
            j = e;                                                                     \\
        }                                                                              \\
        if (rv != NULL) smf_emit(rv, rl, nrun, (uint16_t)(gcode + 2), w - gstart);     \\
    }
    SMF_SEM_ROW(1, 1)
    SMF_SEM_ROW(1, 2)
    SMF_SEM_ROW(2, 1)
    SMF_SEM_ROW(2, 2)

    static void smf_sem_row(int bg, int bp, const uint8_t *g, const uint8_t *p, size_t w,
                            const int32_t *gc, const int32_t *pc, int64_t *cm, int64_t K,
                            int64_t *bad, uint16_t *rv, uint16_t *rl, size_t *nrun) {
        if (bg == 1) {
            if (bp == 1) smf_sem_row_11(g, p, w, gc, pc, cm, K, bad, rv, rl, nrun);
            else smf_sem_row_12(g, p, w, gc, pc, cm, K, bad, rv, rl, nrun);
        } else {
            if (bp == 1) smf_sem_row_21(g, p, w, gc, pc, cm, K, bad, rv, rl, nrun);
            else smf_sem_row_22(g, p, w, gc, pc, cm, K, bad, rv, rl, nrun);
        }
    }

    /* One semantic row against cached ground-truth runs starting at run *r.
       Returns 0, or -1 when the runs do not add up to the row. */
    #define SMF_SEM_CACHED_ROW(BP)                                                     \\
    static int smf_sem_cached_row_##BP(const uint16_t *rv, const uint16_t *rl,         \\
            size_t *r, size_t nruns, const uint8_t *p, size_t w, const int32_t *pc,    \\
            int64_t *cm, int64_t K, int64_t *bad) {                                    \\
        size_t j = 0, ge, e, np_, k = *r;                                              \\
        int32_t gcode, pcode = pc[SMF_VAL(p, 0, BP)];                                  \\
        np_ = smf_next_change(p, 1, w, BP);                                            \\
        while (j < w) {                                                                \\
            if (k >= nruns) return -1;                                                 \\
            gcode = (int32_t)rv[k] - 2;                                                \\
            ge = j + rl[k];                                                            \\
            k++;                                                                       \\
            if (ge > w) return -1;                                                     \\
            if (gcode == -1) {             /* ignored: skip the prediction run */      \\
                if (np_ <= ge && ge < w) {                                             \\
                    pcode = pc[SMF_VAL(p, ge, BP)];                                    \\
                    np_ = smf_next_change(p, ge + 1, w, BP);                           \\
                }                                                                      \\
                j = ge;                                                                \\
                continue;                                                              \\
            }                                                                          \\
            while (j < ge) {                                                           \\
                e = np_ < ge ? np_ : ge;                                               \\
                smf_sem_add(cm, K, gcode, pcode, (int64_t)(e - j), bad);               \\
                j = e;                                                                 \\
                if (j == np_ && j < w) {                                               \\
                    pcode = pc[SMF_VAL(p, j, BP)];                                     \\
                    np_ = smf_next_change(p, j + 1, w, BP);                            \\
                }                                                                      \\
            }                                                                          \\
        }                                                                              \\
        *r = k;                                                                        \\
        return 0;                                                                      \\
    }
    SMF_SEM_CACHED_ROW(1)
    SMF_SEM_CACHED_ROW(2)

    static int smf_sem_cached_row(int bp, const uint16_t *rv, const uint16_t *rl, size_t *r,
                                  size_t nruns, const uint8_t *p, size_t w, const int32_t *pc,
                                  int64_t *cm, int64_t K, int64_t *bad) {
        if (bp == 1) return smf_sem_cached_row_1(rv, rl, r, nruns, p, w, pc, cm, K, bad);
        return smf_sem_cached_row_2(rv, rl, r, nruns, p, w, pc, cm, K, bad);
    }
    """
    bint SMF_LE
    size_t smf_next_change(const uint8_t *x, size_t k, size_t w, int B) noexcept nogil
    uint32_t smf_rgb(const uint8_t *x, size_t i) noexcept nogil
    void smf_emit(uint16_t *rv, uint16_t *rl, size_t *n, uint16_t v, size_t length) noexcept nogil
    void smf_sem_row(int bg, int bp, const uint8_t *g, const uint8_t *p, size_t w,
                     const int32_t *gc, const int32_t *pc, int64_t *cm, int64_t K,
                     int64_t *bad, uint16_t *rv, uint16_t *rl, size_t *nrun) noexcept nogil
    int smf_sem_cached_row(int bp, const uint16_t *rv, const uint16_t *rl, size_t *r,
                           size_t nruns, const uint8_t *p, size_t w, const int32_t *pc,
                           int64_t *cm, int64_t K, int64_t *bad) noexcept nogil

cdef extern from *:
    """
    #if !defined(_WIN32)
    #include <errno.h>
    #include <fcntl.h>
    #include <sys/stat.h>
    #include <unistd.h>
    #ifndef O_CLOEXEC
    #define O_CLOEXEC 0
    #endif
    static int smf_open(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }
    static int64_t smf_file_size(int fd) {
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
        return (int64_t)st.st_size;
    }
    static int smf_read_all(int fd, uint8_t *dst, size_t n) {
        size_t got = 0;
        while (got < n) {
            ssize_t r = read(fd, dst + got, n - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return -1;
            got += (size_t)r;
        }
        return 0;
    }
    static void smf_close(int fd) { close(fd); }
    #define SMF_FILES 1
    #else  /* the Python loop reads the files on Windows (non-ASCII paths need wide-char APIs) */
    static int smf_open(const char *path) { (void)path; return -1; }
    static int64_t smf_file_size(int fd) { (void)fd; return -1; }
    static int smf_read_all(int fd, uint8_t *dst, size_t n) { (void)fd; (void)dst; (void)n; return -1; }
    static void smf_close(int fd) { (void)fd; }
    #define SMF_FILES 0
    #endif
    #if defined(_MSC_VER)
    #include <intrin.h>
    static int64_t smf_next_index(int64_t *p) { return _InterlockedExchangeAdd64((volatile long long *)p, 1); }
    static int64_t smf_load(int64_t *p) { return _InterlockedOr64((volatile long long *)p, 0); }
    static void smf_store(int64_t *p, int64_t v) { _InterlockedExchange64((volatile long long *)p, v); }
    #else
    static int64_t smf_next_index(int64_t *p) { return __atomic_fetch_add(p, 1, __ATOMIC_RELAXED); }
    static int64_t smf_load(int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
    static void smf_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
    #endif
    """
    int SMF_FILES
    int smf_open(const char *path) noexcept nogil
    int64_t smf_file_size(int fd) noexcept nogil
    int smf_read_all(int fd, uint8_t *dst, size_t n) noexcept nogil
    void smf_close(int fd) noexcept nogil
    int64_t smf_next_index(int64_t *p) noexcept nogil
    int64_t smf_load(int64_t *p) noexcept nogil
    void smf_store(int64_t *p, int64_t v) noexcept nogil


cdef enum:
    SLACK = 64          # readable bytes after every buffer (word loads past a row end)
    OK = 0
    REFERENCE = 1
    STALE_CACHE = 2

cdef uint8_t _EMPTY[64]


cdef class Scratch:
    """Per-thread buffers reused from image to image (never share one between threads).

    Attributes filled by the kernels: ``width``, ``height`` (of the ground truth),
    ``bad_gt``, ``bad_pred`` (pixels with a bad ground-truth / prediction label,
    semantic), ``message`` (why the fast path gave up) and ``n_runs`` (runs recorded
    by the last call with ``record=True``) and ``counted`` (whether the last call
    started adding pixels: after status 1 its counts are then incomplete).
    """
    cdef uint8_t *buf[2]
    cdef size_t cap[2]
    cdef uint8_t *fbuf[2]    # file contents read by PanopticBatch.run
    cdef size_t fcap[2]
    cdef uint16_t *runs
    cdef size_t runs_cap
    cdef public Py_ssize_t width, height, n_runs
    cdef public int64_t bad_gt, bad_pred
    cdef public bint counted
    cdef char err[200]

    def __cinit__(self):
        self.buf[0] = self.buf[1] = NULL
        self.cap[0] = self.cap[1] = 0
        self.fbuf[0] = self.fbuf[1] = NULL
        self.fcap[0] = self.fcap[1] = 0
        self.runs = NULL
        self.runs_cap = 0
        self.err[0] = 0

    def __dealloc__(self):
        free(self.buf[0])
        free(self.buf[1])
        free(self.fbuf[0])
        free(self.fbuf[1])
        free(self.runs)

    @property
    def message(self) -> str:
        return (<char *>self.err).decode("ascii", "replace")

    def record(self) -> bytes:
        """The runs recorded by the last call: ``n_runs`` uint16 values, then as many
        lengths, little-endian (the layout :mod:`segmetrics.gtcache` stores)."""
        cdef Py_ssize_t n = self.n_runs, i
        cdef bytes out = PyBytes_FromStringAndSize(NULL, 4 * n)
        cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(out)
        cdef uint16_t v
        if n:
            memcpy(dst, self.runs, n * sizeof(uint16_t))
            memcpy(dst + 2 * n, self.runs + self.runs_cap, n * sizeof(uint16_t))
            if not SMF_LE:
                for i in range(2 * n):
                    memcpy(&v, dst + 2 * i, 2)
                    dst[2 * i] = <uint8_t>(v & 0xFF)
                    dst[2 * i + 1] = <uint8_t>(v >> 8)
        return out

    cdef uint8_t *grow(self, int i, size_t n) noexcept nogil:
        cdef uint8_t *p
        if self.cap[i] < n + SLACK:
            p = <uint8_t *>realloc(self.buf[i], n + SLACK)
            if p == NULL:
                return NULL
            self.buf[i] = p
            self.cap[i] = n + SLACK
        return self.buf[i]

    cdef int grow_runs(self, size_t n) noexcept nogil:
        """Room for n runs: values at runs[0:n], lengths at runs[cap:cap+n]."""
        cdef uint16_t *p
        if self.runs_cap < n:
            free(self.runs)
            self.runs = NULL
            self.runs_cap = 0
            p = <uint16_t *>realloc(NULL, 2 * n * sizeof(uint16_t))
            if p == NULL:
                return -1
            self.runs = p
            self.runs_cap = n
        return 0

    cdef int read_file(self, int i, const char *path, size_t *size) noexcept nogil:
        """The whole file into file buffer i (SLACK readable bytes after it); -1 when it
        cannot be opened or read (the reference path names the error)."""
        cdef int fd = smf_open(path)
        cdef int64_t n
        cdef uint8_t *p
        if fd < 0:
            return -1
        n = smf_file_size(fd)
        if n < 0 or <uint64_t>n > (<uint64_t>1 << 40):
            smf_close(fd)
            return -1
        if self.fcap[i] < <size_t>n + SLACK:
            p = <uint8_t *>realloc(self.fbuf[i], <size_t>n + SLACK)
            if p == NULL:
                smf_close(fd)
                return -1
            self.fbuf[i] = p
            self.fcap[i] = <size_t>n + SLACK
        if smf_read_all(fd, self.fbuf[i], <size_t>n) != 0:
            smf_close(fd)
            return -1
        smf_close(fd)
        size[0] = <size_t>n
        return 0

    cdef int seterr(self, const char *msg) noexcept nogil:
        cdef size_t i = 0
        while msg[i] != 0 and i < sizeof(self.err) - 1:
            self.err[i] = msg[i]
            i += 1
        self.err[i] = 0
        return REFERENCE


cdef bint _runs_fit(const uint16_t *rv, const uint16_t *rl, size_t nruns, size_t w, size_t h,
                    uint32_t max_value) noexcept nogil:
    """Whether cached runs tile an image of h rows of w pixels exactly (no run crossing a
    row end, no empty run) with values at most max_value; checked before any counting."""
    cdef size_t k, y = 0, x = 0
    for k in range(nruns):
        if rl[k] == 0 or rv[k] > max_value:
            return False
        x += rl[k]
        if x > w:
            return False
        if x == w:
            x = 0
            y += 1
    return x == 0 and y == h


cdef inline const uint8_t *_ptr(const uint8_t[::1] data) noexcept nogil:
    return &data[0] if data.shape[0] else _EMPTY


cdef int _open(Scratch s, int i, const uint8_t *data, size_t size, png_header *hdr,
               int want_channels) noexcept nogil:
    """Parse one file and inflate it into scratch buffer i (rows still filtered)."""
    cdef uint8_t *raw
    if png_read_header(data, size, hdr, s.err, sizeof(s.err)) != 0:
        return REFERENCE
    if hdr.out_channels != want_channels:
        return s.seterr(b"channel count the fast path does not take")
    raw = s.grow(i, hdr.raw_bytes)
    if raw == NULL:
        return s.seterr(b"out of memory")
    if png_inflate(data, size, hdr, raw, hdr.raw_bytes, s.err, sizeof(s.err)) != 0:
        return REFERENCE
    return OK


cdef int _open_pair(Scratch s, const uint8_t *gp, size_t gn, const uint8_t *pp, size_t pn,
                    png_header *gh, png_header *ph, int channels) noexcept nogil:
    """Parse and inflate both files of a pair (GT into buffer 0, prediction into 1)."""
    cdef int status = _open(s, 0, gp, gn, gh, channels)
    if status == OK:
        status = _open(s, 1, pp, pn, ph, channels)
    if status == OK and (gh.width != ph.width or gh.height != ph.height):
        status = s.seterr(b"image sizes differ")
    return status


cdef int _start(Scratch s, bint record, size_t n_pixels, uint16_t **rv, uint16_t **rl) noexcept nogil:
    """Mark the counts as started; point rv / rl at room for one run per pixel when
    recording (they stay NULL otherwise)."""
    s.counted = True
    if not record:
        return OK
    if s.grow_runs(n_pixels) != 0:
        return s.seterr(b"out of memory")
    rv[0] = s.runs
    rl[0] = s.runs + s.runs_cap
    return OK


cdef int _open_cached(Scratch s, const uint16_t *rv, const uint16_t *rl, size_t nruns,
                      Py_ssize_t width, Py_ssize_t height, uint32_t max_value,
                      const uint8_t *pp, size_t pn, png_header *ph, int channels) noexcept nogil:
    """Check cached runs against their image size, then open the prediction."""
    cdef int status
    if width <= 0 or height <= 0 or not _runs_fit(rv, rl, nruns, width, height, max_value):
        return STALE_CACHE
    status = _open(s, 1, pp, pn, ph, channels)
    if status == OK and (ph.width != <size_t>width or ph.height != <size_t>height):
        status = s.seterr(b"image sizes differ")
    return status


cdef inline int _rows(Scratch s, const png_header *gh, const png_header *ph, size_t y,
                      uint8_t **g, uint8_t **p) noexcept nogil:
    """Unfilter row y of both files in place (rows above already done)."""
    g[0] = _unfilter(gh, s.buf[0], y)
    p[0] = _unfilter(ph, s.buf[1], y)
    if g[0] == NULL or p[0] == NULL:
        return s.seterr(b"bad row filter type")
    return OK


cdef inline uint8_t *_unfilter(const png_header *hdr, uint8_t *raw, size_t y) noexcept nogil:
    """Unfilter row y in place (rows above already done); NULL on a bad filter type."""
    cdef size_t stride = hdr.row_bytes + 1
    cdef uint8_t *row = raw + y * stride
    cdef const uint8_t *prev = row - stride + 1 if y > 0 else NULL
    if png_unfilter_row(hdr.bpp, row[0], row + 1, prev, row + 1, hdr.row_bytes) != 0:
        return NULL
    return row + 1


def semantic_pair(Scratch s, const uint8_t[::1] gt, const uint8_t[::1] pred, int64_t[:, ::1] cm,
                  const int32_t[::1] gt_codes, const int32_t[::1] pred_codes, bint record=False):
    """Decode two single-channel label PNGs and add their confusion matrix into ``cm``.

    ``gt_codes`` / ``pred_codes`` have 65536 entries (every 8- or 16-bit value).
    Returns the status (see the module docstring); ``s.bad_gt`` / ``s.bad_pred``
    count pixels with bad labels (status 1 when either is non-zero).
    """
    cdef png_header gh, ph
    cdef int status = OK
    cdef size_t y, w = 0, nrun = 0
    cdef int64_t bad[2]
    cdef int64_t K = cm.shape[0]
    cdef uint8_t *grow_
    cdef uint8_t *prow
    cdef uint16_t *rv = NULL
    cdef uint16_t *rl = NULL
    cdef const uint8_t *gp = _ptr(gt)
    cdef const uint8_t *pp = _ptr(pred)
    cdef size_t gn = gt.shape[0], pn = pred.shape[0]
    if gt_codes.shape[0] < 65536 or pred_codes.shape[0] < 65536 or cm.shape[1] != K:
        raise ValueError("code tables need 65536 entries and cm must be square")
    bad[0] = bad[1] = 0
    s.err[0] = 0
    s.counted = False
    s.n_runs = 0
    with nogil:
        status = _open_pair(s, gp, gn, pp, pn, &gh, &ph, 1)
        if status == OK:
            w = gh.width
            status = _start(s, record, w * gh.height, &rv, &rl)
        y = 0
        while status == OK and y < gh.height:
            status = _rows(s, &gh, &ph, y, &grow_, &prow)
            if status == OK:
                smf_sem_row(gh.out_itemsize, ph.out_itemsize, grow_, prow, w, &gt_codes[0],
                            &pred_codes[0], &cm[0, 0], K, bad, rv, rl, &nrun)
            y += 1
            if status == OK and (bad[0] or bad[1]):
                status = s.seterr(b"bad labels")
    s.width = gh.width if status == OK else 0
    s.height = gh.height if status == OK else 0
    s.bad_gt = bad[0]
    s.bad_pred = bad[1]
    s.n_runs = nrun if record and status == OK else 0
    return status


def semantic_cached(Scratch s, const uint16_t[::1] values, const uint16_t[::1] lengths,
                    Py_ssize_t width, Py_ssize_t height, const uint8_t[::1] pred,
                    int64_t[:, ::1] cm, const int32_t[::1] pred_codes):
    """Like :func:`semantic_pair` with the ground truth given as cached runs of codes."""
    cdef png_header ph
    cdef int status = OK
    cdef size_t y, r = 0, nruns = values.shape[0]
    cdef int64_t bad[2]
    cdef int64_t K = cm.shape[0]
    cdef uint8_t *prow
    cdef const uint8_t *pp = _ptr(pred)
    cdef size_t pn = pred.shape[0]
    cdef const uint16_t *rv = &values[0] if nruns else <const uint16_t *>_EMPTY
    cdef const uint16_t *rl = &lengths[0] if nruns else <const uint16_t *>_EMPTY
    if pred_codes.shape[0] < 65536 or cm.shape[1] != K or lengths.shape[0] != values.shape[0]:
        raise ValueError("bad arguments")
    bad[0] = bad[1] = 0
    s.err[0] = 0
    s.counted = False
    with nogil:
        status = _open_cached(s, rv, rl, nruns, width, height, <uint32_t>(K + 1), pp, pn, &ph, 1)
        if status == OK:
            s.counted = True
            for y in range(<size_t>height):
                prow = _unfilter(&ph, s.buf[1], y)
                if prow == NULL:
                    status = s.seterr(b"bad row filter type")
                    break
                if smf_sem_cached_row(ph.out_itemsize, rv, rl, &r, nruns, prow, ph.width,
                                      &pred_codes[0], &cm[0, 0], K, bad) != 0:
                    status = STALE_CACHE
                    break
            if status == OK and r != nruns:
                status = STALE_CACHE
            if status == OK and (bad[0] or bad[1]):
                status = s.seterr(b"bad labels")
    s.bad_gt = bad[0]
    s.bad_pred = bad[1]
    return status


cdef inline int _pan_row(const uint8_t *g, const uint8_t *p, size_t w,
                         const uint32_t *gk, const int32_t *gv, uint32_t gm,
                         const uint32_t *pk, const int32_t *pv, uint32_t pm,
                         int64_t *tab, size_t width, uint16_t *rv, uint16_t *rl,
                         size_t *nrun) noexcept nogil:
    """One panoptic RGB row pair: runs of the (gt id, pred id) pair into the table."""
    cdef size_t j = 0, e, ng, np_, gstart = 0
    cdef int32_t gi = _lookup(gk, gv, gm, smf_rgb(g, 0))
    cdef int32_t pi = _lookup(pk, pv, pm, smf_rgb(p, 0))
    if gi < 0 or pi < 0:
        return -1
    ng = smf_next_change(g, 1, w, 3)
    np_ = smf_next_change(p, 1, w, 3)
    while True:
        e = ng if ng < np_ else np_
        tab[gi * width + pi] += <int64_t>(e - j)
        if e >= w:
            break
        if e == ng:
            if rv != NULL:
                smf_emit(rv, rl, nrun, <uint16_t>gi, e - gstart)
                gstart = e
            gi = _lookup(gk, gv, gm, smf_rgb(g, e))
            if gi < 0:
                return -1
            ng = smf_next_change(g, e + 1, w, 3)
        if e == np_:
            pi = _lookup(pk, pv, pm, smf_rgb(p, e))
            if pi < 0:
                return -1
            np_ = smf_next_change(p, e + 1, w, 3)
        j = e
    if rv != NULL:
        smf_emit(rv, rl, nrun, <uint16_t>gi, w - gstart)
    return 0


cdef inline int _pan_cached_row(const uint16_t *rv, const uint16_t *rl, size_t *r, size_t nruns,
                                const uint8_t *p, size_t w, const uint32_t *pk, const int32_t *pv,
                                uint32_t pm, int64_t *tab, size_t width, size_t n_gt) noexcept nogil:
    """One prediction row against cached GT runs: -1 unlisted id, -2 runs do not fit."""
    cdef size_t j = 0, ge, e, np_, k = r[0]
    cdef size_t gi
    cdef int32_t pi = _lookup(pk, pv, pm, smf_rgb(p, 0))
    if pi < 0:
        return -1
    np_ = smf_next_change(p, 1, w, 3)
    while j < w:
        if k >= nruns:
            return -2
        gi = rv[k]
        ge = j + rl[k]
        k += 1
        if ge > w or gi > n_gt:
            return -2
        while j < ge:
            e = np_ if np_ < ge else ge
            tab[gi * width + pi] += <int64_t>(e - j)
            j = e
            if j == np_ and j < w:
                pi = _lookup(pk, pv, pm, smf_rgb(p, j))
                if pi < 0:
                    return -1
                np_ = smf_next_change(p, j + 1, w, 3)
    r[0] = k
    return 0


cdef int _pan_cold(Scratch s, const uint8_t *gp, size_t gn, const uint8_t *pp, size_t pn,
                   int64_t *tab, size_t twidth, const int64_t *gids, Py_ssize_t ng,
                   const int64_t *pids, Py_ssize_t npr, bint record) noexcept nogil:
    """Both PNGs into the (ng + 1) x twidth table (zeroed by the caller); sets s.width,
    s.height and s.n_runs.  Returns the status."""
    cdef png_header gh, ph
    cdef int status = OK
    cdef size_t y, w = 0, nrun = 0
    cdef uint8_t *grow_
    cdef uint8_t *prow
    cdef uint16_t *rv = NULL
    cdef uint16_t *rl = NULL
    cdef uint32_t *gk = NULL
    cdef uint32_t *pk = NULL
    cdef int32_t *gv = NULL
    cdef int32_t *pv = NULL
    cdef uint32_t gm = 0, pm = 0
    s.err[0] = 0
    s.counted = False
    status = _open_pair(s, gp, gn, pp, pn, &gh, &ph, 3)  # 3 channels: 8-bit RGB only
    if status == OK and (_build(gids, ng, &gk, &gv, &gm) != 0 or _build(pids, npr, &pk, &pv, &pm) != 0):
        status = s.seterr(b"out of memory")
    if status == OK:
        w = gh.width
        status = _start(s, record, w * gh.height, &rv, &rl)
    y = 0
    while status == OK and y < gh.height:
        status = _rows(s, &gh, &ph, y, &grow_, &prow)
        if status == OK and _pan_row(grow_, prow, w, gk, gv, gm, pk, pv, pm, tab,
                                     twidth, rv, rl, &nrun) != 0:
            status = s.seterr(b"segment id not in segments_info")
        y += 1
    free(gk)
    free(gv)
    free(pk)
    free(pv)
    s.width = gh.width if status == OK else 0
    s.height = gh.height if status == OK else 0
    s.n_runs = nrun if record and status == OK else 0
    return status


cdef int _pan_warm(Scratch s, const uint16_t *rv, const uint16_t *rl, size_t nruns,
                   Py_ssize_t width, Py_ssize_t height, const uint8_t *pp, size_t pn,
                   int64_t *tab, size_t twidth, size_t n_gt, const int64_t *pids,
                   Py_ssize_t npr) noexcept nogil:
    """The prediction PNG against cached GT runs into the (n_gt + 1) x twidth table."""
    cdef png_header ph
    cdef int status = OK, ret
    cdef size_t y, r = 0
    cdef uint8_t *prow
    cdef uint32_t *pk = NULL
    cdef int32_t *pv = NULL
    cdef uint32_t pm = 0
    s.err[0] = 0
    s.counted = False
    status = _open_cached(s, rv, rl, nruns, width, height, <uint32_t>n_gt, pp, pn, &ph, 3)
    if status == OK and _build(pids, npr, &pk, &pv, &pm) != 0:
        status = s.seterr(b"out of memory")
    if status == OK:
        s.counted = True
        for y in range(<size_t>height):
            prow = _unfilter(&ph, s.buf[1], y)
            if prow == NULL:
                status = s.seterr(b"bad row filter type")
                break
            ret = _pan_cached_row(rv, rl, &r, nruns, prow, ph.width, pk, pv, pm, tab, twidth, n_gt)
            if ret == -1:
                status = s.seterr(b"segment id not in segments_info")
                break
            if ret == -2:
                status = STALE_CACHE
                break
        if status == OK and r != nruns:
            status = STALE_CACHE
    free(pk)
    free(pv)
    return status


def panoptic_pair(Scratch s, const uint8_t[::1] gt, const uint8_t[::1] pred, int64_t[:, ::1] table,
                  const int64_t[::1] gt_ids, const int64_t[::1] pred_ids, bint record=False):
    """Decode two RGB panoptic PNGs and count their GT x prediction intersection table.

    ``table`` is ``(len(gt_ids) + 1, len(pred_ids) + 1)`` zeros; ids are sorted
    ascending.  Recording needs ``len(gt_ids) < 65536``.  Returns the status.
    """
    cdef int status
    cdef Py_ssize_t ng = gt_ids.shape[0], npr = pred_ids.shape[0]
    if table.shape[0] != ng + 1 or table.shape[1] != npr + 1:
        raise ValueError("table must be (len(gt_ids) + 1, len(pred_ids) + 1)")
    if record and ng >= 65536:
        raise ValueError("cannot record more than 65535 ground-truth segments")
    with nogil:
        status = _pan_cold(s, _ptr(gt), gt.shape[0], _ptr(pred), pred.shape[0], &table[0, 0],
                           table.shape[1], &gt_ids[0] if ng else NULL, ng,
                           &pred_ids[0] if npr else NULL, npr, record)
    return status


def panoptic_cached(Scratch s, const uint16_t[::1] values, const uint16_t[::1] lengths,
                    Py_ssize_t width, Py_ssize_t height, const uint8_t[::1] pred,
                    int64_t[:, ::1] table, const int64_t[::1] pred_ids):
    """Like :func:`panoptic_pair` with the ground truth given as cached runs of dense indices."""
    cdef int status
    cdef size_t nruns = values.shape[0]
    cdef Py_ssize_t npr = pred_ids.shape[0]
    cdef const uint16_t *rv = &values[0] if nruns else <const uint16_t *>_EMPTY
    cdef const uint16_t *rl = &lengths[0] if nruns else <const uint16_t *>_EMPTY
    if table.shape[1] != npr + 1 or lengths.shape[0] != values.shape[0]:
        raise ValueError("bad arguments")
    with nogil:
        status = _pan_warm(s, rv, rl, nruns, width, height, _ptr(pred), pred.shape[0], &table[0, 0],
                           table.shape[1], table.shape[0] - 1, &pred_ids[0] if npr else NULL, npr)
    return status


# ----------------------------------------------------------------------------- panoptic, fused stats
cdef enum:
    NEEDS_PYTHON = 3    # counted, but the image needs the Python statistics (warnings or errors)


cdef class PanopticAccumulator:
    """Per-thread sums of the fused panoptic path: per-class TP / FP / FN, the
    (K+1) x (K+1) category confusion matrix and every match's (category, IoU), plus
    the scratch the per-image statistics need.  Never share one between threads."""
    cdef int64_t *tp
    cdef int64_t *fp
    cdef int64_t *fn
    cdef int64_t *confusion
    cdef int64_t *crowd_of_cat
    cdef int64_t *match_cat
    cdef double *match_iou
    cdef size_t n_match, match_cap
    cdef int64_t *table
    cdef size_t table_cap
    cdef int64_t *pix        # GT row sums then prediction column sums
    cdef double *area
    cdef uint8_t *matched    # GT flags then prediction flags
    cdef size_t seg_cap
    cdef int64_t *log        # per-image records: category * 3 + (0 TP, 1 FP, 2 FN) per count
    cdef size_t n_log, log_cap
    cdef int64_t *images     # per image: index, end of its log, end of its matches
    cdef size_t images_cap
    cdef readonly bint per_image
    cdef readonly Py_ssize_t k, num_images

    def __cinit__(self, Py_ssize_t k, bint per_image=False):
        if k < 1:
            raise ValueError("k must be positive")
        self.k = k
        self.per_image = per_image
        self.tp = <int64_t *>calloc(k, sizeof(int64_t))
        self.fp = <int64_t *>calloc(k, sizeof(int64_t))
        self.fn = <int64_t *>calloc(k, sizeof(int64_t))
        self.crowd_of_cat = <int64_t *>calloc(k, sizeof(int64_t))
        self.confusion = <int64_t *>calloc((k + 1) * (k + 1), sizeof(int64_t))
        if (self.tp == NULL or self.fp == NULL or self.fn == NULL or self.crowd_of_cat == NULL
                or self.confusion == NULL):
            raise MemoryError()

    def __dealloc__(self):
        free(self.tp)
        free(self.fp)
        free(self.fn)
        free(self.crowd_of_cat)
        free(self.confusion)
        free(self.match_cat)
        free(self.match_iou)
        free(self.table)
        free(self.pix)
        free(self.area)
        free(self.matched)
        free(self.log)
        free(self.images)

    def image_records(self):
        """With ``per_image``: ``(images, log)``, where row ``j`` of the ``(num_images, 3)``
        int64 ``images`` holds the image index given to the scorer and the ends of the
        image's entries in ``log`` and in the match arrays of :meth:`result` (each image
        starts where the previous one ends); ``log`` holds ``category * 3 + kind`` (kind
        0 TP, 1 FP, 2 FN) once per count."""
        images = np.empty((self.num_images if self.per_image else 0, 3), np.int64)
        log = np.empty(self.n_log, np.int64)
        cdef int64_t[:, ::1] a = images
        cdef int64_t[::1] b = log
        if images.shape[0]:
            memcpy(&a[0, 0], self.images, 3 * images.shape[0] * sizeof(int64_t))
        if self.n_log:
            memcpy(&b[0], self.log, self.n_log * sizeof(int64_t))
        return images, log

    def result(self):
        """``(tp, fp, fn, confusion, match_cat, match_iou)`` as new NumPy arrays."""
        k = self.k
        out = [np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.int64),
               np.empty((k + 1, k + 1), np.int64), np.empty(self.n_match, np.int64),
               np.empty(self.n_match, np.float64)]
        cdef int64_t[::1] a
        cdef int64_t[:, ::1] c
        cdef double[::1] d
        a = out[0]
        memcpy(&a[0], self.tp, k * sizeof(int64_t))
        a = out[1]
        memcpy(&a[0], self.fp, k * sizeof(int64_t))
        a = out[2]
        memcpy(&a[0], self.fn, k * sizeof(int64_t))
        c = out[3]
        memcpy(&c[0, 0], self.confusion, (k + 1) * (k + 1) * sizeof(int64_t))
        if self.n_match:
            a = out[4]
            memcpy(&a[0], self.match_cat, self.n_match * sizeof(int64_t))
            d = out[5]
            memcpy(&d[0], self.match_iou, self.n_match * sizeof(double))
        return tuple(out)

    cdef int64_t *zeroed_table(self, size_t n) noexcept nogil:
        cdef int64_t *p
        if self.table_cap < n:
            free(self.table)
            self.table = NULL
            self.table_cap = 0
            p = <int64_t *>malloc(n * sizeof(int64_t))
            if p == NULL:
                return NULL
            self.table = p
            self.table_cap = n
        memset(self.table, 0, n * sizeof(int64_t))
        return self.table

    cdef int reserve(self, size_t n_seg, size_t n_match) noexcept nogil:
        """Room for n_seg segments per side and n_match more matches; -1 if out of memory."""
        cdef void *p
        if self.seg_cap < n_seg:
            free(self.pix)
            free(self.area)
            free(self.matched)
            self.pix = <int64_t *>malloc(2 * n_seg * sizeof(int64_t))
            self.area = <double *>malloc(n_seg * sizeof(double))
            self.matched = <uint8_t *>malloc(2 * n_seg)
            if self.pix == NULL or self.area == NULL or self.matched == NULL:
                self.seg_cap = 0
                return -1
            self.seg_cap = n_seg
        if self.match_cap < self.n_match + n_match:
            n_match = 2 * (self.n_match + n_match) + 64
            p = realloc(self.match_cat, n_match * sizeof(int64_t))
            if p == NULL:
                return -1
            self.match_cat = <int64_t *>p
            p = realloc(self.match_iou, n_match * sizeof(double))
            if p == NULL:
                return -1
            self.match_iou = <double *>p
            self.match_cap = n_match
        return 0

    cdef int reserve_log(self, size_t n) noexcept nogil:
        """Room for n more log entries and one more image row; -1 if out of memory."""
        cdef void *p
        cdef size_t want
        if self.log_cap < self.n_log + n:
            want = 2 * (self.n_log + n) + 64
            p = realloc(self.log, want * sizeof(int64_t))
            if p == NULL:
                return -1
            self.log = <int64_t *>p
            self.log_cap = want
        if self.images_cap < <size_t>self.num_images + 1:
            want = 2 * <size_t>self.num_images + 64
            p = realloc(self.images, 3 * want * sizeof(int64_t))
            if p == NULL:
                return -1
            self.images = <int64_t *>p
            self.images_cap = want
        return 0


cdef int _pan_stats(PanopticAccumulator acc, Py_ssize_t index, const int64_t *tab, size_t ng, size_t npr,
                    const int64_t *gcat, const uint8_t *gcrowd, const double *garea,
                    const int64_t *gorder, const int64_t *pcat, bint recompute) noexcept nogil:
    """Checks, areas and crowd of one image's table, then panopticapi's matching
    (``_match``, shared with ``segmetrics.panoptic.table_stats``), added to acc
    with the category confusion (all or nothing).

    Returns OK, NEEDS_PYTHON when a listed segment has no pixel or a JSON area
    differs from the PNG (the Python statistics name them), or REFERENCE when out
    of memory.
    """
    cdef size_t W = npr + 1, K = <size_t>acc.k, g, p, c, n_inner = 0, n_seg
    cdef Py_ssize_t m, n_log = 0
    cdef int64_t v, cur
    cdef int64_t *gpix
    cdef int64_t *ppix
    cdef uint8_t *gm
    cdef uint8_t *pm
    cdef double a
    n_seg = ng if ng > npr + 1 else npr + 1
    if acc.reserve(n_seg if n_seg else 1, 0) != 0:
        return REFERENCE
    gpix = acc.pix
    ppix = acc.pix + acc.seg_cap
    gm = acc.matched
    pm = acc.matched + acc.seg_cap
    for p in range(W):
        ppix[p] = 0
    for g in range(ng + 1):
        cur = 0
        for p in range(W):
            v = tab[g * W + p]
            cur += v
            ppix[p] += v
            if v and g and p:
                n_inner += 1
        if g:
            if cur == 0:
                return NEEDS_PYTHON
            gpix[g - 1] = cur
    for p in range(1, W):
        if ppix[p] == 0:
            return NEEDS_PYTHON
    for g in range(ng):
        a = garea[g]
        if recompute or a != a:     # no JSON area (NaN): the PNG count
            acc.area[g] = <double>gpix[g]
        elif a != <double>gpix[g]:
            return NEEDS_PYTHON      # stale JSON area: the Python path warns
        else:
            acc.area[g] = a
        gm[g] = 0
    for p in range(npr):
        pm[p] = 0
    if acc.reserve(n_seg if n_seg else 1, n_inner) != 0:
        return REFERENCE
    if acc.per_image and acc.reserve_log(ng + npr + n_inner) != 0:
        return REFERENCE
    # the crowd segment that counts per category: the last listed one
    for g in range(ng):
        if gcrowd[g]:
            c = gcat[g]
            cur = acc.crowd_of_cat[c]
            if cur == 0 or gorder[g] > gorder[cur - 1]:
                acc.crowd_of_cat[c] = <int64_t>(g + 1)
    m = _match(tab, <Py_ssize_t>ng, <Py_ssize_t>npr, ppix, acc.area, gcat, gcrowd, acc.crowd_of_cat, pcat,
               acc.tp, acc.fp, acc.fn, acc.match_cat + acc.n_match, acc.match_iou + acc.n_match, gm, pm,
               acc.log + acc.n_log if acc.per_image else NULL, &n_log)
    acc.n_match += <size_t>m
    acc.n_log += <size_t>n_log
    for g in range(ng):
        if gcrowd[g]:
            acc.crowd_of_cat[gcat[g]] = 0
    # category confusion: GT void rows dropped, predicted void -> column K
    for g in range(1, ng + 1):
        c = <size_t>gcat[g - 1] * (K + 1)
        v = tab[g * W]
        if v:
            acc.confusion[c + K] += v
        for p in range(1, W):
            v = tab[g * W + p]
            if v:
                acc.confusion[c + <size_t>pcat[p - 1]] += v
    if acc.per_image:
        acc.images[3 * acc.num_images] = index
        acc.images[3 * acc.num_images + 1] = <int64_t>acc.n_log
        acc.images[3 * acc.num_images + 2] = <int64_t>acc.n_match
    acc.num_images += 1
    return OK


cdef class PanopticBatch:
    """The segment columns of every image of a folder run: image i owns rows
    ``g_start[i]:g_end[i]`` of the GT columns and ``p_start[i]:p_end[i]`` of the
    prediction columns (ids ascending, dense category indices; typically the flat
    arrays of :class:`segmetrics.io.coco_panoptic.FlatColumns`, unused rows may
    hold anything).  :meth:`score_pair` and :meth:`score_cached` count one image
    and add its statistics to an accumulator in one nogil call."""
    cdef const int64_t[::1] g_start, g_end, g_ids, g_cat, g_order, p_start, p_end, p_ids, p_cat
    cdef const uint8_t[::1] g_crowd
    cdef const double[::1] g_area
    cdef readonly bint recompute_gt_areas
    cdef readonly Py_ssize_t k
    cdef object _paths
    cdef const char **path_ptrs

    def __dealloc__(self):
        free(self.path_ptrs)

    def __init__(self, Py_ssize_t k, g_start, g_end, g_ids, g_cat, g_crowd, g_area, g_order,
                 p_start, p_end, p_ids, p_cat, bint recompute_gt_areas):
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

    def gt_ids(self, Py_ssize_t i):
        """Image i's GT ids (a NumPy view; the cache key uses them)."""
        return np.asarray(self.g_ids[self.g_start[i]:self.g_end[i]])

    cdef int _check(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i) except -1:
        if acc.k != self.k:
            raise ValueError("accumulator of another category count")
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
        """Image i from both files' bytes: count into the accumulator's table, then the
        statistics (see :meth:`score_pair` for the status)."""
        cdef int64_t g0 = self.g_start[i], p0 = self.p_start[i]
        cdef size_t ng = <size_t>(self.g_end[i] - g0), npr = <size_t>(self.p_end[i] - p0)
        cdef int status
        cdef int64_t *tab = acc.zeroed_table((ng + 1) * (npr + 1))
        if tab == NULL:
            return s.seterr(b"out of memory")
        status = _pan_cold(s, gp, gn, pp, pn, tab, npr + 1, &self.g_ids[g0], ng, &self.p_ids[p0], npr, record)
        if status == OK:
            status = self._stats(acc, i, tab, g0, ng, p0, npr)
        return status

    def score_cached(self, Scratch s, PanopticAccumulator acc, Py_ssize_t i,
                     const uint16_t[::1] values, const uint16_t[::1] lengths,
                     Py_ssize_t width, Py_ssize_t height, bytes pred):
        """Image i from cached GT runs and the prediction PNG's bytes; the status as
        :meth:`score_pair`, or ``2`` when the cached runs do not fit (recompute them)."""
        cdef int status
        cdef int64_t g0, p0
        cdef size_t ng, npr, nruns = values.shape[0]
        cdef int64_t *tab
        cdef const uint8_t *pp = <const uint8_t *>PyBytes_AS_STRING(pred)
        cdef size_t pn = PyBytes_GET_SIZE(pred)
        cdef const uint16_t *rv = &values[0] if nruns else <const uint16_t *>_EMPTY
        cdef const uint16_t *rl = &lengths[0] if nruns else <const uint16_t *>_EMPTY
        self._check(s, acc, i)
        if lengths.shape[0] != values.shape[0]:
            raise ValueError("values and lengths differ in length")
        g0, p0 = self.g_start[i], self.p_start[i]
        ng = <size_t>(self.g_end[i] - g0)
        npr = <size_t>(self.p_end[i] - p0)
        with nogil:
            tab = acc.zeroed_table((ng + 1) * (npr + 1))
            if tab == NULL:
                status = s.seterr(b"out of memory")
            else:
                status = _pan_warm(s, rv, rl, nruns, width, height, pp, pn, tab, npr + 1, ng,
                                   &self.p_ids[p0], npr)
            if status == OK:
                status = self._stats(acc, i, tab, g0, ng, p0, npr)
        return status

    def set_paths(self, list gt_paths, list pred_paths):
        """File names (``bytes``, as ``os.fsencode`` gives) of every image, for :meth:`run`."""
        cdef Py_ssize_t n = self.g_start.shape[0], i
        if len(gt_paths) != n or len(pred_paths) != n:
            raise ValueError("one GT and one prediction path per image")
        for i in range(n):
            if type(gt_paths[i]) is not bytes or type(pred_paths[i]) is not bytes:
                raise TypeError("paths must be bytes")
            if b"\0" in gt_paths[i] or b"\0" in pred_paths[i]:
                raise ValueError("a path holds a NUL byte")
        self._paths = (list(gt_paths), list(pred_paths))
        free(self.path_ptrs)
        self.path_ptrs = <const char **>malloc(max(2 * n, 1) * sizeof(char *))
        if self.path_ptrs == NULL:
            raise MemoryError()
        for i in range(n):
            self.path_ptrs[2 * i] = PyBytes_AS_STRING(self._paths[0][i])
            self.path_ptrs[2 * i + 1] = PyBytes_AS_STRING(self._paths[1][i])

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
        cdef int st
        if self.path_ptrs == NULL:
            raise ValueError("set_paths first")
        if take.shape[0] != n or status.shape[0] != n:
            raise ValueError("take and status need one entry per image")
        if acc.k != self.k:
            raise ValueError("accumulator of another category count")
        with nogil:
            while True:
                i = smf_next_index(&counter.next_index)
                if i >= n or i >= smf_load(&counter.stop_at):
                    break
                st = REFERENCE
                if (take[i] and s.read_file(0, self.path_ptrs[2 * i], &gn) == 0
                        and s.read_file(1, self.path_ptrs[2 * i + 1], &pn) == 0):
                    st = self._score(s, acc, i, s.fbuf[0], gn, s.fbuf[1], pn, False)
                status[i] = <uint8_t>st

    cdef int _stats(self, PanopticAccumulator acc, Py_ssize_t i, const int64_t *tab, int64_t g0, size_t ng,
                    int64_t p0, size_t npr) noexcept nogil:
        return _pan_stats(acc, i, tab, ng, npr, &self.g_cat[g0], &self.g_crowd[g0], &self.g_area[g0],
                          &self.g_order[g0], &self.p_cat[p0], self.recompute_gt_areas)



cdef class WorkCounter:
    """The next image :meth:`PanopticBatch.run` hands out, shared by the threads of one
    run (progress is read from their accumulators)."""
    cdef int64_t next_index, stop_at

    def __cinit__(self, Py_ssize_t n):
        self.next_index = 0
        self.stop_at = n

    def cancel(self) -> None:
        """No image is started after this call."""
        smf_store(&self.stop_at, -1)


def files_supported() -> bool:
    """Whether :meth:`PanopticBatch.run` can read files itself on this platform."""
    return SMF_FILES == 1
