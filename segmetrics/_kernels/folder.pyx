# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""What the fused decode-and-count kernels of folder evaluation share.

The kernels (:mod:`segmetrics._kernels.folder_semantic`,
:mod:`segmetrics._kernels.folder_panoptic`) take one image pair per nogil call:
they parse both PNG files, inflate their IDAT streams into the per-thread
:class:`Scratch` buffers, then walk the rows: a ground-truth row and a
prediction row are unfiltered in place (so no decoded image is ever stored) and
immediately counted by the row walker of ``sm_walk.h`` while they are still in
the L1 cache.

Ground truth can also come from the cache (:mod:`segmetrics.gtcache`) as runs of
codes per row (``values`` / ``lengths`` uint16 arrays; runs never cross a row
end).  The uncached kernels record those runs when asked (``record=True``):
semantic codes ``c`` are stored as ``c + 2``, panoptic dense segment indices as
they are.

Return status of every kernel: ``0`` done; ``1`` the pair needs the reference
path (a PNG layout or corruption the fast decoder does not take, sizes that
differ, a bad label or an unlisted segment id: the reference path raises the
precise error); ``2`` the cached runs do not fit the image (a stale or corrupt
cache entry: recompute it); ``3`` (panoptic statistics) counted, but the image
needs the Python statistics.  After status 1 the counts may hold part of the
image (``Scratch.counted``), so the caller must not use them.

:class:`WorkCounter` hands image indices to the threads of one run.

The digests of GT files (the dataset fingerprint, see :mod:`segmetrics.state`) are
SHA-256 of ``sm_sha256.h``, made without the GIL by the compiled batch runs
(:func:`sha256_parts`); :class:`Sha256` is the same for Python code (segmetrics does not
load OpenSSL).
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize


cdef extern from "Python.h":
    object PyOS_FSPath(object path)
    bytes PyUnicode_EncodeFSDefault(object text)
    ctypedef struct Py_buffer:
        void *buf
        Py_ssize_t len
    int PyBUF_SIMPLE
    int PyObject_GetBuffer(object obj, Py_buffer *view, int flags) except -1
    void PyBuffer_Release(Py_buffer *view)

import os

import numpy as np

from segmetrics._kernels.png cimport png_header, png_inflate, png_read_header, png_unfilter_row
from segmetrics._kernels.sm cimport (
    SM_FILES, SM_LE, sm_buf_alloc, sm_buf_free, sm_close, sm_file_size, sm_load, sm_next_index, sm_open, sm_read_all, sm_rec,
    sm_store, sm_store_min,
)


cdef class Scratch:
    """Per-thread buffers reused from image to image (never share one between threads).

    Attributes filled by the kernels: ``width``, ``height`` (of the ground truth),
    ``bad_gt``, ``bad_pred`` (pixels with a bad ground-truth / prediction label,
    semantic), ``message`` (why the fast path gave up), ``n_runs`` (runs recorded
    by the last call with ``record=True``) and ``counted`` (whether the last call
    started adding pixels: after status 1 its counts are then incomplete).
    """

    def __cinit__(self, bint own_pages=False):
        # own_pages: the two decode buffers get pages of their own (sm_buf_alloc), given back
        # when the scratch goes; for short tasks before a run (the pred_labels="auto" sample),
        # whose freed buffers would otherwise stay resident in a malloc arena through the run.
        # A run's scratches take malloc's: a buffer that grows keeps its pages (mremap).
        self.own_pages = own_pages
        self.buf[0] = self.buf[1] = NULL
        self.cap[0] = self.cap[1] = 0
        self.fbuf[0] = self.fbuf[1] = NULL
        self.fcap[0] = self.fcap[1] = 0
        self.runs = NULL
        self.runs_cap = 0
        self.err[0] = 0

    def __dealloc__(self):
        if self.own_pages:
            sm_buf_free(self.buf[0], self.cap[0])
            sm_buf_free(self.buf[1], self.cap[1])
        else:
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
            if not SM_LE:
                for i in range(2 * n):
                    memcpy(&v, dst + 2 * i, 2)
                    dst[2 * i] = <uint8_t>(v & 0xFF)
                    dst[2 * i + 1] = <uint8_t>(v >> 8)
        return out

    cdef uint8_t *grow(self, int i, size_t n) noexcept nogil:
        cdef uint8_t *p
        if self.cap[i] < n + SLACK:
            if self.own_pages:  # (the old content is not kept: the caller overwrites it)
                p = <uint8_t *>sm_buf_alloc(n + SLACK)
                if p != NULL:
                    sm_buf_free(self.buf[i], self.cap[i])
            else:
                p = <uint8_t *>realloc(self.buf[i], n + SLACK)
            if p == NULL:
                return NULL
            self.buf[i] = p
            self.cap[i] = n + SLACK
        return self.buf[i]

    cdef int read_file(self, int i, const char *path, size_t *size) noexcept nogil:
        """The whole file into file buffer i (SLACK readable bytes after it); -1 when it
        cannot be opened or read (the reference path names the error)."""
        cdef int fd = sm_open(path)
        cdef int64_t n
        cdef uint8_t *p
        if fd < 0:
            return -1
        n = sm_file_size(fd)
        if n < 0 or <uint64_t>n > (<uint64_t>1 << 40):
            sm_close(fd)
            return -1
        if self.fcap[i] < <size_t>n + SLACK:
            p = <uint8_t *>realloc(self.fbuf[i], <size_t>n + SLACK)
            if p == NULL:
                sm_close(fd)
                return -1
            self.fbuf[i] = p
            self.fcap[i] = <size_t>n + SLACK
        if sm_read_all(fd, self.fbuf[i], <size_t>n) != 0:
            sm_close(fd)
            return -1
        sm_close(fd)
        size[0] = <size_t>n
        return 0

    cdef int seterr(self, const char *msg) noexcept nogil:
        cdef size_t i = 0
        while msg[i] != 0 and i < sizeof(self.err) - 1:
            self.err[i] = msg[i]
            i += 1
        self.err[i] = 0
        return REFERENCE

    cdef int begin(self) noexcept nogil:
        """Reset the per-call attributes."""
        self.err[0] = 0
        self.counted = False
        self.n_runs = 0
        self.width = self.height = 0
        self.bad_gt = self.bad_pred = 0
        return OK

    cdef int open_pair(self, const uint8_t *gp, size_t gn, const uint8_t *pp, size_t pn,
                       png_header *gh, png_header *ph, int channels) noexcept nogil:
        """Parse and inflate both files of a pair (GT into buffer 0, prediction into 1)."""
        cdef int status = self.open_gt(gp, gn, gh, channels)
        if status == OK:
            status = self.parse(pp, pn, ph, channels)
        if status == OK:
            status = self.inflate_second(1, pp, pn, gh, ph)
        return status

    cdef int open_gt(self, const uint8_t *gp, size_t gn, png_header *gh, int channels) noexcept nogil:
        """The first half of :meth:`open_pair`: the GT file parsed and inflated into buffer 0."""
        return _open(self, 0, gp, gn, gh, channels)

    cdef int parse(self, const uint8_t *data, size_t size, png_header *hdr, int channels) noexcept nogil:
        """Parse one file (no inflating) and check that the row walker takes its layout."""
        return _parse(self, data, size, hdr, channels)

    cdef int inflate_second(self, int i, const uint8_t *pp, size_t pn, const png_header *gh,
                            const png_header *ph) noexcept nogil:
        """The second half of :meth:`open_pair`: the parsed prediction inflated into buffer i,
        then its size checked against the GT's."""
        cdef int status = _inflate(self, i, pp, pn, ph)
        if status == OK and (gh.width != ph.width or gh.height != ph.height):
            status = self.seterr(b"image sizes differ")
        return status

    cdef uint16_t *run_room(self, size_t n) noexcept nogil:
        """Room for n runs (values at the result, lengths at result + runs_cap), in the buffer
        the recorded runs use (its content is not kept); NULL when out of memory."""
        if self.runs_cap < n:
            free(self.runs)
            self.runs_cap = 0
            self.runs = <uint16_t *>malloc(2 * n * sizeof(uint16_t))
            if self.runs == NULL:
                return NULL
            self.runs_cap = n
        return self.runs

    cdef int open_cached(self, const uint16_t *rv, const uint16_t *rl, size_t nruns,
                         Py_ssize_t width, Py_ssize_t height, uint32_t max_value,
                         const uint8_t *pp, size_t pn, png_header *ph, int channels) noexcept nogil:
        """Check cached runs against their image size, then open the prediction."""
        cdef int status
        if width <= 0 or height <= 0 or not _runs_fit(rv, rl, nruns, width, height, max_value):
            return STALE_CACHE
        status = _open(self, 1, pp, pn, ph, channels)
        if status == OK and (ph.width != <size_t>width or ph.height != <size_t>height):
            status = self.seterr(b"image sizes differ")
        return status

    cdef int start_record(self, bint record, size_t n_pixels, sm_rec *rec, int bias) noexcept nogil:
        """Mark the counts as started; with ``record``, point rec at room for one run per
        pixel, stored as code + bias."""
        self.counted = True
        if not record:
            return OK
        if self.run_room(n_pixels if n_pixels else 1) == NULL:
            return self.seterr(b"out of memory")
        rec.rv = self.runs
        rec.rl = self.runs + self.runs_cap
        rec.n = rec.len = 0
        rec.bias = bias
        return OK

    cdef int end_record(self, sm_rec *rec, int status, const png_header *gh) noexcept nogil:
        """The GT size and the recorded runs (rec NULL: none) after a cold call."""
        self.width = gh.width if status == OK else 0
        self.height = gh.height if status == OK else 0
        self.n_runs = rec.n if rec != NULL and status == OK else 0
        return status


cdef int _open(Scratch s, int i, const uint8_t *data, size_t size, png_header *hdr,
               int want_channels) noexcept nogil:
    """Parse one file and inflate it into buffer i (rows still filtered)."""
    cdef int status = _parse(s, data, size, hdr, want_channels)
    if status == OK:
        status = _inflate(s, i, data, size, hdr)
    return status


cdef int _parse(Scratch s, const uint8_t *data, size_t size, png_header *hdr, int want_channels) noexcept nogil:
    """Parse one file and check that the row walker takes its layout."""
    if png_read_header(data, size, hdr, s.err, sizeof(s.err)) != 0:
        return REFERENCE
    if hdr.out_channels != want_channels:
        return s.seterr(b"channel count the fast path does not take")
    if hdr.interlace or hdr.row_bytes != <size_t>hdr.width * want_channels * hdr.out_itemsize:
        # the row walker reads whole samples of one unfiltered row (no sub-byte packing)
        return s.seterr(b"PNG layout the fast path does not take")
    return OK


cdef int _inflate(Scratch s, int i, const uint8_t *data, size_t size, const png_header *hdr) noexcept nogil:
    """Inflate a parsed file into buffer i (rows still filtered)."""
    cdef uint8_t *raw = s.grow(i, hdr.raw_bytes)
    if raw == NULL:
        return s.seterr(b"out of memory")
    if png_inflate(data, size, hdr, raw, hdr.raw_bytes, s.err, sizeof(s.err)) != 0:
        return REFERENCE
    return OK


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


cdef uint8_t *unfilter(const png_header *hdr, uint8_t *raw, size_t y) noexcept nogil:
    cdef size_t stride = hdr.row_bytes + 1
    cdef uint8_t *row = raw + y * stride
    cdef const uint8_t *prev = row - stride + 1 if y > 0 else NULL
    if png_unfilter_row(hdr.bpp, row[0], row + 1, prev, row + 1, hdr.row_bytes) != 0:
        return NULL
    return row + 1


cdef class WorkCounter:
    """The next image index of a run, shared by its threads (an atomic counter), and
    the index at which the run stops."""

    def __cinit__(self, Py_ssize_t n):
        self.next_index = 0
        self.stop_at = n

    cdef int64_t take(self) noexcept nogil:
        """The next index, or -1 when none is left before the stop."""
        cdef int64_t i = sm_next_index(&self.next_index)
        return i if i < sm_load(&self.stop_at) else -1

    cdef int64_t take_below(self, Py_ssize_t n) noexcept nogil:
        """The next index below n, or -1."""
        cdef int64_t i = self.take()
        return i if i < n else -1

    def next(self) -> int:
        """The next index to work on, or -1 when the run is done or stopped."""
        return self.take()

    def stop_before(self, Py_ssize_t i) -> None:
        """No index at or above i is handed out after this call."""
        sm_store_min(&self.stop_at, i)

    def cancel(self) -> None:
        """No index is handed out after this call."""
        sm_store(&self.stop_at, -1)


cdef inline bytes _fsencode(x):
    """``os.fsencode(x)`` through the C API (no Python-level call per name)."""
    if type(x) is bytes:
        return <bytes>x
    p = PyOS_FSPath(x)
    if type(p) is bytes:
        return <bytes>p
    if isinstance(p, str):
        return PyUnicode_EncodeFSDefault(p)
    return bytes(os.fsencode(p))  # bytes or str subclasses


cdef class FilePairs:
    """The GT and prediction file names of every image of a run, for the batch runs that read
    the files: path-like objects or ``bytes`` (``os.fsencode`` is applied), an empty name for
    an image the batch does not read.  Each side is kept as its names' common leading bytes
    plus one blob of the rest (a few bytes per image instead of a bytes object per file);
    :meth:`path` puts a name back together."""

    def __cinit__(self, gt_names, pred_names):
        cdef Py_ssize_t i, side
        cdef int64_t[::1] sv
        cdef uint8_t[::1] ev
        self.n = len(gt_names)
        if len(pred_names) != self.n:
            raise ValueError("one GT and one prediction path per image")
        self._prefix = [b"", b""]
        self._blob = [b"", b""]
        self._starts = [None, None]
        self._empty = [None, None]
        for side, names in enumerate((gt_names, pred_names)):
            lo = hi = None  # the common prefix of all names is that of the least and the greatest
            for x in names:
                b = _fsencode(x)
                if b"\0" in b:
                    raise ValueError("a path holds a NUL byte")
                if b:
                    if lo is None or b < lo:
                        lo = b
                    if hi is None or b > hi:
                        hi = b
            prefix = os.path.commonprefix([lo, hi]) if lo is not None else b""
            blob = bytearray()
            starts = np.zeros(self.n + 1, dtype=np.int64)
            empty = np.zeros(self.n, dtype=np.uint8)
            for i, x in enumerate(names):
                b = _fsencode(x)
                if b:
                    blob += b[len(prefix):]
                else:
                    empty[i] = 1
                starts[i + 1] = len(blob)
            self._prefix[side], self._blob[side] = prefix, bytes(blob)
            self._starts[side], self._empty[side] = starts, empty
            self.pre[side] = PyBytes_AS_STRING(self._prefix[side])
            self.pre_n[side] = len(prefix)
            self.blob[side] = PyBytes_AS_STRING(self._blob[side])
            sv, ev = starts, empty
            self.starts[side] = &sv[0]
            self.empty[side] = &ev[0] if self.n else <const uint8_t *>self.pre[side]

    cdef int path(self, int side, Py_ssize_t i, char *out, size_t cap) noexcept nogil:
        """Image i's file name of one side (0 GT, 1 prediction) into out, NUL-terminated; -1 for
        an empty name or one longer than cap - 1 bytes."""
        cdef size_t a = <size_t>self.starts[side][i], b = <size_t>self.starts[side][i + 1]
        cdef size_t m = self.pre_n[side]
        if self.empty[side][i] or m + (b - a) + 1 > cap:
            return -1
        memcpy(out, self.pre[side], m)
        memcpy(out + m, self.blob[side] + a, b - a)
        out[m + b - a] = 0
        return 0

    def name(self, int side, Py_ssize_t i):
        """Image i's file name of one side as bytes (tests), or None for an empty one."""
        cdef char buf[PATH_BUF]
        if not 0 <= i < self.n or side not in (0, 1):
            raise IndexError("no such image or side")
        if self.path(side, i, buf, PATH_BUF) != 0:
            return None
        return <bytes>buf


def files_supported() -> bool:
    """Whether the kernels can read files themselves on this platform."""
    return SM_FILES == 1


# ----------------------------------------------------------------------------- SHA-256
cdef extern from "sm_sha256.h" nogil:
    ctypedef struct sm_sha256:
        pass
    void sm_sha256_init(sm_sha256 *s)
    void sm_sha256_update(sm_sha256 *s, const void *data, size_t n)
    void sm_sha256_final(sm_sha256 *s, uint8_t *out)
    int sm_sha256_select(int want)
    int sm_sha256_has_ni()

cdef bint _sha_on = True   # off only in tests: the compiled batch runs then hash nothing
_sha256_source = None


cdef int sha256_parts(const uint8_t *data, size_t n, const uint8_t **tails, const size_t *tail_n,
                      int ntails, uint8_t *out) noexcept nogil:
    """SHA-256 of ``data`` followed by the tails into ``out``; -1 when switched off (tests)."""
    cdef sm_sha256 ctx
    cdef int j
    if not _sha_on:
        return -1
    sm_sha256_init(&ctx)
    sm_sha256_update(&ctx, data, n)
    for j in range(ntails):
        if tail_n[j]:
            sm_sha256_update(&ctx, tails[j], tail_n[j])
    sm_sha256_final(&ctx, out)
    return 0


cdef class Sha256:
    """SHA-256 as ``hashlib.sha256`` objects do it (``update``, ``digest``, ``hexdigest``,
    ``copy``), on ``sm_sha256.h``: segmetrics hashes without OpenSSL, whose libcrypto costs
    about 3.5 MB of resident memory.  Inputs of 4 KiB or more are hashed without the GIL; an
    object must not be updated from two threads at once."""

    cdef sm_sha256 ctx

    def __cinit__(self, data=None):
        sm_sha256_init(&self.ctx)
        if data is not None:
            self.update(data)

    @property
    def name(self) -> str:
        return "sha256"

    @property
    def digest_size(self) -> int:
        return 32

    @property
    def block_size(self) -> int:
        return 64

    def update(self, data) -> None:
        """Add the bytes of any contiguous buffer (bytes, bytearray, memoryview, array)."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len >= 4096:
                with nogil:
                    sm_sha256_update(&self.ctx, view.buf, <size_t>view.len)
            else:
                sm_sha256_update(&self.ctx, view.buf, <size_t>view.len)
        finally:
            PyBuffer_Release(&view)

    def digest(self) -> bytes:
        cdef sm_sha256 c = self.ctx
        cdef uint8_t out[32]
        sm_sha256_final(&c, out)
        return PyBytes_FromStringAndSize(<char *>out, 32)

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> "Sha256":
        cdef Sha256 other = Sha256.__new__(Sha256)
        other.ctx = self.ctx
        return other


def sha256(bytes data, tails=()):
    """SHA-256 of ``data`` followed by each of ``tails`` (bytes) with the compiled path the batch
    runs use, or None when switched off (tests compare it with ``hashlib``)."""
    cdef uint8_t out[32]
    cdef const uint8_t *tp[8]
    cdef size_t tn[8]
    cdef int j, nt = len(tails)
    if nt > 8:
        raise ValueError("at most 8 tails")
    if not all(isinstance(t, bytes) for t in tails):
        raise TypeError("tails must be bytes")
    for j in range(nt):
        tp[j] = <const uint8_t *>PyBytes_AS_STRING(tails[j])
        tn[j] = len(tails[j])
    if sha256_parts(<const uint8_t *>PyBytes_AS_STRING(data), len(data), tp, tn, nt, out) != 0:
        return None
    return PyBytes_FromStringAndSize(<char *>out, 32)


def file_sha256(Scratch s, bytes path):
    """SHA-256 of a whole file, read into ``s``'s GT file buffer and hashed without the GIL;
    None when the file cannot be read or the compiled hashing is switched off."""
    cdef uint8_t out[32]
    cdef size_t n
    cdef int r = -1
    cdef const char *name = path
    if b"\0" in path or not _sha_on:
        return None
    with nogil:
        if s.read_file(0, name, &n) == 0:
            r = sha256_parts(s.fbuf[0], n, NULL, NULL, 0, out)
    return PyBytes_FromStringAndSize(<char *>out, 32) if r == 0 else None


def sha256_source():
    """Which SHA-256 block function the compiled batch runs use (``"SHA extensions"`` or
    ``"portable C"``), or None when switched off (tests: the digests are then made by the
    Python passes)."""
    return _sha256_source


def _set_sha256(mode):
    """Tests: ``"auto"`` (the processor's SHA extensions when it has them), ``"portable"`` (the
    portable block function) or None (hashing in the compiled batch runs off).  Returns the
    source."""
    global _sha_on, _sha256_source
    if mode is None:
        _sha_on, _sha256_source = False, None
        return None
    if mode not in ("auto", "portable"):
        raise ValueError("mode must be 'auto', 'portable' or None")
    _sha_on = True
    _sha256_source = "SHA extensions" if sm_sha256_select(mode == "auto") else "portable C"
    return _sha256_source


def sha256_has_extensions() -> bool:
    """Whether this processor has the x86 SHA extensions (and this build can use them)."""
    return bool(sm_sha256_has_ni())


_set_sha256("auto")
