# cython: language_level=3
"""Label-PNG decoder: chunk parsing, CRC checks, one-shot inflate and unfiltering.

Everything between the bytes of a file and the filled output array runs without
the GIL.  The C entry points (``png_read_header`` and ``png_decode_into``, declared
in ``png.pxd``) let another kernel decode and score an image in the same nogil
block; the Python functions below are thin wrappers used by
:mod:`segmetrics.io.png`.

Inflate uses libdeflate when its symbols can be found (the ``deflate`` package's
extension module exports them; a system ``libdeflate.so.0`` is tried next) and the
system zlib otherwise.  Both are called through plain C function pointers, so no
Python object is touched while decoding.
"""
from libc.stdint cimport uint8_t, uint32_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "zlib.h" nogil:
    ctypedef struct z_stream:
        unsigned char *next_in
        unsigned int avail_in
        unsigned char *next_out
        unsigned int avail_out
        unsigned long total_out
        void *zalloc
        void *zfree
        void *opaque
    int inflateInit(z_stream *strm)
    int inflate(z_stream *strm, int flush)
    int inflateEnd(z_stream *strm)
    unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int length)
    int Z_OK, Z_STREAM_END, Z_NO_FLUSH, Z_BUF_ERROR, Z_NEED_DICT

# The unfilter loops are plain C so that each pixel size (bytes per pixel, bpp)
# gets its own compiled loop with a constant stride; the compiler unrolls them.
cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>

    /* Paeth predictor without branches: the select is done with masks because the
       data decides the choice and mispredicted branches cost more than the math. */
    static inline uint8_t sm_paeth(int a, int b, int c) {
        int p = b - c, q = a - c, r = p + q;
        int pa = p < 0 ? -p : p;          /* |(a + b - c) - a| */
        int pb = q < 0 ? -q : q;          /* |(a + b - c) - b| */
        int pc = r < 0 ? -r : r;          /* |(a + b - c) - c| */
        int not_a = -((pa > pb) | (pa > pc));
        int take_c = -(pb > pc);
        int bc = (c & take_c) | (b & ~take_c);
        return (uint8_t)((bc & not_a) | (a & ~not_a));
    }

    #if defined(__SSE2__)
    #include <emmintrin.h>
    #define SM_HAVE_SIMD 1
    /* 3-byte pixels are moved byte by byte: a 4-byte load of bytes just written by
       narrower stores stalls (no store-to-load forwarding). */
    static inline uint32_t sm_load_3(const uint8_t *p) {
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    }
    static inline void sm_store_3(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16);
    }
    static inline uint32_t sm_load_4(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
    static inline void sm_store_4(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

    /* Bytewise addition of packed pixels (no carry between bytes). */
    static inline uint32_t sm_add_bytes(uint32_t a, uint32_t x) {
        return ((a & 0x7f7f7f7fu) + (x & 0x7f7f7f7fu)) ^ ((a ^ x) & 0x80808080u);
    }

    /* Paeth over a whole row, one pixel (3 or 4 bytes) per step.  When the pixel above
       equals the one above-left (b == c, most of a label map) the predictor is the left
       pixel and a bytewise add suffices; otherwise the predictor is computed in 16-bit
       SSE2 lanes. */
    #define SM_PAETH_SIMD(BPP)                                                     \
    static void sm_paeth_simd_##BPP(const uint8_t *in, const uint8_t *prev,       \
                                    uint8_t *out, size_t n) {                      \
        const __m128i zero = _mm_setzero_si128();                                  \
        const __m128i low8 = _mm_set1_epi16(0xff);                                 \
        __m128i a, b, c, x, p, q, r, pa, pb, pc, not_a, take_c, bc;                \
        uint32_t ap = 0, bp, cp = 0, xp;                                           \
        size_t i;                                                                  \
        for (i = 0; i + BPP <= n; i += BPP) {                                      \
            bp = sm_load_##BPP(prev + i);                                          \
            xp = sm_load_##BPP(in + i);                                            \
            if (bp == cp) {                                                        \
                ap = sm_add_bytes(ap, xp);                                         \
            } else {                                                               \
                a = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)ap), zero);           \
                b = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)bp), zero);           \
                c = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)cp), zero);           \
                x = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)xp), zero);           \
                p = _mm_sub_epi16(b, c);                                           \
                q = _mm_sub_epi16(a, c);                                           \
                r = _mm_add_epi16(p, q);                                           \
                pa = _mm_max_epi16(p, _mm_sub_epi16(zero, p));                     \
                pb = _mm_max_epi16(q, _mm_sub_epi16(zero, q));                     \
                pc = _mm_max_epi16(r, _mm_sub_epi16(zero, r));                     \
                not_a = _mm_or_si128(_mm_cmpgt_epi16(pa, pb), _mm_cmpgt_epi16(pa, pc));\
                take_c = _mm_cmpgt_epi16(pb, pc);                                  \
                bc = _mm_or_si128(_mm_and_si128(take_c, c), _mm_andnot_si128(take_c, b));\
                a = _mm_or_si128(_mm_and_si128(not_a, bc), _mm_andnot_si128(not_a, a));\
                a = _mm_and_si128(_mm_add_epi16(a, x), low8);                      \
                ap = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(a, a));          \
            }                                                                      \
            sm_store_##BPP(out + i, ap);                                           \
            cp = bp;                                                               \
        }                                                                          \
    }
    SM_PAETH_SIMD(3)
    SM_PAETH_SIMD(4)
    #else
    #define SM_HAVE_SIMD 0
    #endif

    /* Undo one row's filter.  `in` is the filtered row (without its type byte),
       `prev` the previous unfiltered row or NULL for the first row, `out` the
       destination; `out` may equal `in` (in-place), never `prev`. */
    #define SM_UNFILTER_BPP(BPP)                                                   \
    static void sm_unfilter_##BPP(int ftype, const uint8_t *in, const uint8_t *prev, \
                                  uint8_t *out, size_t n) {                        \
        size_t i;                                                                  \
        switch (ftype) {                                                           \
        case 0:                                                                    \
            if (out != in) memcpy(out, in, n);                                     \
            break;                                                                 \
        case 1:                                                                    \
            for (i = 0; i < BPP && i < n; i++) out[i] = in[i];                     \
            for (i = BPP; i < n; i++) out[i] = (uint8_t)(in[i] + out[i - BPP]);    \
            break;                                                                 \
        case 2:                                                                    \
            if (prev == NULL) { if (out != in) memcpy(out, in, n); break; }        \
            for (i = 0; i < n; i++) out[i] = (uint8_t)(in[i] + prev[i]);           \
            break;                                                                 \
        case 3:                                                                    \
            if (prev == NULL) {                                                    \
                for (i = 0; i < BPP && i < n; i++) out[i] = in[i];                 \
                for (i = BPP; i < n; i++)                                          \
                    out[i] = (uint8_t)(in[i] + (out[i - BPP] >> 1));               \
                break;                                                             \
            }                                                                      \
            for (i = 0; i < BPP && i < n; i++)                                     \
                out[i] = (uint8_t)(in[i] + (prev[i] >> 1));                        \
            for (i = BPP; i < n; i++)                                              \
                out[i] = (uint8_t)(in[i] + ((out[i - BPP] + prev[i]) >> 1));       \
            break;                                                                 \
        case 4:                                                                    \
            if (prev == NULL) {                                                    \
                for (i = 0; i < BPP && i < n; i++) out[i] = in[i];                 \
                for (i = BPP; i < n; i++) out[i] = (uint8_t)(in[i] + out[i - BPP]);\
                break;                                                             \
            }                                                                      \
            if (BPP == 1) { sm_paeth_row_1(in, prev, out, n); break; }             \
            if (SM_HAVE_SIMD && (BPP == 3 || BPP == 4)) {                          \
                sm_paeth_row(BPP, in, prev, out, n);                               \
                break;                                                             \
            }                                                                      \
            for (i = 0; i < BPP && i < n; i++) out[i] = (uint8_t)(in[i] + prev[i]);\
            for (i = BPP; i < n; i++)                                              \
                out[i] = (uint8_t)(in[i] + sm_paeth(out[i - BPP], prev[i],         \
                                                   prev[i - BPP]));                \
            break;                                                                 \
        }                                                                          \
    }
    static inline void sm_paeth_row(int bpp, const uint8_t *in, const uint8_t *prev,
                                    uint8_t *out, size_t n) {
    #if SM_HAVE_SIMD
        if (bpp == 3) sm_paeth_simd_3(in, prev, out, n);
        else sm_paeth_simd_4(in, prev, out, n);
    #endif
    }

    /* One byte per pixel: the left neighbour stays in a register and the common
       label-map case b == c (same value above and above-left, so the predictor is the
       left value) skips the full predictor. */
    static void sm_paeth_row_1(const uint8_t *in, const uint8_t *prev, uint8_t *out,
                               size_t n) {
        size_t i;
        uint8_t a, b, c;
        if (n == 0) return;
        a = (uint8_t)(in[0] + prev[0]);
        out[0] = a;
        for (i = 1; i < n; i++) {
            b = prev[i];
            c = prev[i - 1];
            if (b == c) a = (uint8_t)(in[i] + a);
            else a = (uint8_t)(in[i] + sm_paeth(a, b, c));
            out[i] = a;
        }
    }

    SM_UNFILTER_BPP(1)
    SM_UNFILTER_BPP(2)
    SM_UNFILTER_BPP(3)
    SM_UNFILTER_BPP(4)

    static int sm_host_is_little_endian(void) {
        const uint16_t one = 1;
        return *(const uint8_t *)&one == 1;
    }

    /* Returns 0, or -1 for an unknown filter type or pixel size. */
    static int sm_unfilter_row(int bpp, int ftype, const uint8_t *in,
                               const uint8_t *prev, uint8_t *out, size_t n) {
        if (ftype < 0 || ftype > 4) return -1;
        switch (bpp) {
        case 1: sm_unfilter_1(ftype, in, prev, out, n); return 0;
        case 2: sm_unfilter_2(ftype, in, prev, out, n); return 0;
        case 3: sm_unfilter_3(ftype, in, prev, out, n); return 0;
        case 4: sm_unfilter_4(ftype, in, prev, out, n); return 0;
        }
        return -1;
    }
    """
    int sm_host_is_little_endian() noexcept nogil
    int sm_unfilter_row(int bpp, int ftype, const uint8_t *inp, const uint8_t *prev,
                        uint8_t *out, size_t n) noexcept nogil

ctypedef void *(*ld_alloc_t)() noexcept nogil
ctypedef void (*ld_free_t)(void *) noexcept nogil
ctypedef int (*ld_zlib_decompress_ex_t)(void *, const void *, size_t, void *, size_t,
                                        size_t *, size_t *) noexcept nogil
ctypedef uint32_t (*ld_crc32_t)(uint32_t, const void *, size_t) noexcept nogil

cdef ld_alloc_t _ld_alloc = NULL
cdef ld_free_t _ld_free = NULL
cdef ld_zlib_decompress_ex_t _ld_decompress = NULL
cdef ld_crc32_t _ld_crc32 = NULL
cdef bint _use_libdeflate = False
_libdeflate_source = None

# The largest number of pixels accepted before anything is allocated.
cdef size_t MAX_PIXELS = (<size_t>1) << 31
# Deflate cannot expand data by more than 1032:1; a smaller IDAT cannot be an image.
cdef size_t MAX_RATIO = 1040

cdef const uint8_t *SIGNATURE = b"\x89PNG\r\n\x1a\n"


cdef inline uint32_t _be32(const uint8_t *p) noexcept nogil:
    return ((<uint32_t>p[0]) << 24) | ((<uint32_t>p[1]) << 16) | ((<uint32_t>p[2]) << 8) | p[3]


cdef inline void _seterr(char *err, size_t errlen, const char *msg) noexcept nogil:
    cdef size_t i = 0
    if err == NULL or errlen == 0:
        return
    while msg[i] != 0 and i + 1 < errlen:
        err[i] = msg[i]
        i += 1
    err[i] = 0


cdef inline uint32_t _crc(const uint8_t *p, size_t n) noexcept nogil:
    cdef unsigned long c = 0
    cdef size_t step
    if _use_libdeflate:
        return _ld_crc32(0, p, n)
    while n > 0:
        step = n if n < 0x40000000 else 0x40000000
        c = crc32(c, p, <unsigned int>step)
        p += step
        n -= step
    return <uint32_t>c


cdef int png_read_header(const uint8_t *data, size_t size, png_header *hdr,
                         char *err, size_t errlen) noexcept nogil:
    """Parse and check every chunk; fill `hdr`.  0 = decodable here, 1 = needs the
    fallback decoder, -1 = corrupt (message in `err`)."""
    cdef size_t pos = 8, length
    cdef const uint8_t *ctype
    cdef uint32_t w, h
    cdef int bd = 0, ct = 0, channels = 0, seen_idat = 0, idat_run_ended = 0
    cdef int unknown_critical = 0, i
    cdef size_t rowbits
    hdr.n_idat = 0
    hdr.idat_bytes = 0
    if size < 8 or memcmp8(data, SIGNATURE) != 0:
        _seterr(err, errlen, b"not a PNG file (bad signature)")
        return -1
    while True:
        if size - pos < 12:
            if pos == size:
                _seterr(err, errlen, b"truncated file: no IEND chunk")
            else:
                _seterr(err, errlen, b"truncated chunk header")
            return -1
        length = _be32(data + pos)
        ctype = data + pos + 4
        if length > 0x7FFFFFFF:
            _seterr(err, errlen, b"chunk length exceeds 2^31-1")
            return -1
        if length > size - pos - 12:
            _seterr(err, errlen, b"truncated chunk (length runs past the end of the data)")
            return -1
        if _crc(ctype, length + 4) != _be32(data + pos + 8 + length):
            _seterr(err, errlen, b"CRC mismatch in a chunk")
            return -1
        for i in range(4):
            if not ((65 <= ctype[i] <= 90) or (97 <= ctype[i] <= 122)):
                _seterr(err, errlen, b"invalid chunk type")
                return -1
        if pos == 8:
            if not _is_type(ctype, b"IHDR") or length != 13:
                _seterr(err, errlen, b"first chunk is not a 13-byte IHDR")
                return -1
            w = _be32(data + pos + 8)
            h = _be32(data + pos + 12)
            bd = data[pos + 16]
            ct = data[pos + 17]
            if w == 0 or h == 0 or w > 0x7FFFFFFF or h > 0x7FFFFFFF:
                _seterr(err, errlen, b"invalid image dimensions in IHDR")
                return -1
            if ct == 0:
                channels = 1
                if bd not in (1, 2, 4, 8, 16):
                    channels = 0
            elif ct == 2:
                channels = 3 if bd in (8, 16) else 0
            elif ct == 3:
                channels = 1 if bd in (1, 2, 4, 8) else 0
            elif ct == 4:
                channels = 2 if bd in (8, 16) else 0
            elif ct == 6:
                channels = 4 if bd in (8, 16) else 0
            if channels == 0 or data[pos + 18] != 0 or data[pos + 19] != 0 or data[pos + 20] > 1:
                _seterr(err, errlen, b"unsupported IHDR values (bit depth / colour type / "
                     b"compression / filter / interlace)")
                return -1
            if (<size_t>w) * h > MAX_PIXELS:
                _seterr(err, errlen, b"absurd image dimensions (more than 2^31 pixels)")
                return -1
            hdr.width = w
            hdr.height = h
            hdr.bit_depth = bd
            hdr.color_type = ct
            hdr.interlace = data[pos + 20]
            hdr.channels = channels
            rowbits = (<size_t>w) * channels * bd
            hdr.row_bytes = (rowbits + 7) // 8
            hdr.bpp = (channels * bd + 7) // 8
            hdr.raw_bytes = (hdr.row_bytes + 1) * h
        elif _is_type(ctype, b"IHDR"):
            _seterr(err, errlen, b"more than one IHDR chunk")
            return -1
        elif _is_type(ctype, b"IDAT"):
            if idat_run_ended:
                _seterr(err, errlen, b"IDAT chunks are not consecutive")
                return -1
            seen_idat = 1
            hdr.n_idat += 1
            hdr.idat_bytes += length
        elif _is_type(ctype, b"IEND"):
            pos += 12 + length
            break
        else:
            if seen_idat:
                idat_run_ended = 1
            if not _is_type(ctype, b"PLTE") and (ctype[0] & 32) == 0:
                unknown_critical = 1
        pos += 12 + length
    if not seen_idat:
        _seterr(err, errlen, b"no IDAT chunk")
        return -1
    hdr.out_channels = channels
    hdr.out_itemsize = 2 if (bd == 16 and channels == 1) else 1
    if unknown_critical or hdr.interlace or bd < 8 or (bd == 16 and channels > 1):
        return 1
    if hdr.raw_bytes > MAX_RATIO * hdr.idat_bytes + 1024:
        _seterr(err, errlen, b"IDAT data too short for the image size in IHDR")
        return -1
    return 0


cdef inline int memcmp8(const uint8_t *a, const uint8_t *b) noexcept nogil:
    cdef int i
    for i in range(8):
        if a[i] != b[i]:
            return 1
    return 0


cdef inline bint _is_type(const uint8_t *t, const char *name) noexcept nogil:
    return t[0] == name[0] and t[1] == name[1] and t[2] == name[2] and t[3] == name[3]


cdef int _inflate_zlib(const uint8_t *data, size_t size, uint8_t *dst, size_t dst_size,
                       size_t *produced, char *err, size_t errlen) noexcept nogil:
    """Stream every IDAT chunk through zlib into `dst`, which must end up exactly full."""
    cdef z_stream zs
    cdef size_t pos = 8, length, done = 0, window
    cdef int ret = Z_OK, ended = 0
    cdef uint8_t extra[1]
    zs.zalloc = NULL
    zs.zfree = NULL
    zs.opaque = NULL
    zs.next_in = NULL
    zs.avail_in = 0
    if inflateInit(&zs) != Z_OK:
        _seterr(err, errlen, b"zlib initialisation failed")
        return -1
    while pos + 12 <= size and not ended:
        length = _be32(data + pos)
        if _is_type(data + pos + 4, b"IEND"):
            break
        if _is_type(data + pos + 4, b"IDAT"):
            zs.next_in = <unsigned char *>(data + pos + 8)
            zs.avail_in = <unsigned int>length
            while zs.avail_in > 0:
                if done < dst_size:
                    window = dst_size - done
                    if window > 0x40000000:
                        window = 0x40000000
                    zs.next_out = dst + done
                    zs.avail_out = <unsigned int>window
                    ret = inflate(&zs, Z_NO_FLUSH)
                    done += window - zs.avail_out
                else:
                    # the image is full: any further output is an error
                    zs.next_out = extra
                    zs.avail_out = 1
                    ret = inflate(&zs, Z_NO_FLUSH)
                    if zs.avail_out == 0:
                        inflateEnd(&zs)
                        _seterr(err, errlen, b"decompressed data is larger than the image")
                        return -1
                if ret == Z_STREAM_END:
                    ended = 1
                    break
                if ret != Z_OK:
                    inflateEnd(&zs)
                    _seterr(err, errlen, b"zlib error: corrupt IDAT stream")
                    return -1
        pos += 12 + length
    inflateEnd(&zs)
    if not ended:
        _seterr(err, errlen, b"zlib error: IDAT stream ends early (truncated image data)")
        return -1
    produced[0] = done
    return 0


cdef int _inflate_libdeflate(const uint8_t *data, size_t size, const png_header *hdr,
                             uint8_t *dst, size_t dst_size, size_t *produced,
                             char *err, size_t errlen) noexcept nogil:
    cdef size_t pos = 8, length, filled = 0, out_n = 0
    cdef const uint8_t *stream = NULL
    cdef uint8_t *joined = NULL
    cdef void *dec
    cdef int ret
    if hdr.n_idat > 1:
        joined = <uint8_t *>malloc(hdr.idat_bytes if hdr.idat_bytes > 0 else 1)
        if joined == NULL:
            _seterr(err, errlen, b"out of memory")
            return -1
    while pos + 12 <= size:
        length = _be32(data + pos)
        if _is_type(data + pos + 4, b"IEND"):
            break
        if _is_type(data + pos + 4, b"IDAT"):
            if joined == NULL:
                stream = data + pos + 8
                filled = length
                break
            memcpy(joined + filled, data + pos + 8, length)
            filled += length
        pos += 12 + length
    if joined != NULL:
        stream = joined
    dec = _ld_alloc()
    if dec == NULL:
        free(joined)
        _seterr(err, errlen, b"out of memory")
        return -1
    ret = _ld_decompress(dec, stream, filled, dst, dst_size, NULL, &out_n)
    _ld_free(dec)
    free(joined)
    if ret == 3:
        _seterr(err, errlen, b"decompressed data is larger than the image")
        return -1
    if ret != 0:
        _seterr(err, errlen, b"zlib error: corrupt or truncated IDAT stream")
        return -1
    produced[0] = out_n
    return 0


cdef int png_decode_into(const uint8_t *data, size_t size, const png_header *hdr,
                         uint8_t *out, size_t out_size,
                         char *err, size_t errlen) noexcept nogil:
    """Inflate and unfilter a file that `png_read_header` accepted (returned 0) into
    `out` (C order, `out_size` bytes).  0 = done, -1 = corrupt (message in `err`)."""
    cdef size_t rb = hdr.row_bytes, y, i, n_out, produced = 0
    cdef size_t h = hdr.height
    cdef uint8_t *raw
    cdef uint8_t *row
    cdef const uint8_t *prev = NULL
    cdef int ret, bpp = hdr.bpp
    cdef uint8_t t
    n_out = rb * h
    if out_size != n_out:
        _seterr(err, errlen, b"output buffer has the wrong size")
        return -1
    raw = <uint8_t *>malloc(hdr.raw_bytes)
    if raw == NULL:
        _seterr(err, errlen, b"out of memory")
        return -1
    if _use_libdeflate:
        ret = _inflate_libdeflate(data, size, hdr, raw, hdr.raw_bytes, &produced, err, errlen)
    else:
        ret = _inflate_zlib(data, size, raw, hdr.raw_bytes, &produced, err, errlen)
    if ret == 0 and produced != hdr.raw_bytes:
        _seterr(err, errlen, b"decompressed data is smaller than the image")
        ret = -1
    if ret != 0:
        free(raw)
        return -1
    for y in range(h):
        row = raw + y * (rb + 1)
        if sm_unfilter_row(bpp, row[0], row + 1, prev, out + y * rb, rb) != 0:
            free(raw)
            _seterr(err, errlen, b"bad row filter type (not 0-4)")
            return -1
        prev = out + y * rb
    free(raw)
    if hdr.bit_depth == 16 and sm_host_is_little_endian():
        # PNG stores big-endian samples; the array holds native uint16
        i = 0
        while i + 1 < n_out:
            t = out[i]
            out[i] = out[i + 1]
            out[i + 1] = t
            i += 2
    return 0


# ---------------------------------------------------------------------------
# Python level
# ---------------------------------------------------------------------------

cdef uint8_t _EMPTY[1]


cdef tuple _shape(const png_header *hdr):
    if hdr.out_channels == 1:
        return (hdr.height, hdr.width)
    return (hdr.height, hdr.width, hdr.out_channels)


def _configure_libdeflate(uintptr_t alloc, uintptr_t free_, uintptr_t decompress,
                          uintptr_t crc, source):
    """Install libdeflate entry points (addresses of the C functions)."""
    global _ld_alloc, _ld_free, _ld_decompress, _ld_crc32, _use_libdeflate, _libdeflate_source
    _ld_alloc = <ld_alloc_t>alloc
    _ld_free = <ld_free_t>free_
    _ld_decompress = <ld_zlib_decompress_ex_t>decompress
    _ld_crc32 = <ld_crc32_t>crc
    _use_libdeflate = True
    _libdeflate_source = source


def _find_libdeflate():
    """Addresses of the libdeflate functions, or None when no copy can be found."""
    import ctypes
    candidates = []
    try:
        import deflate._deflate as _d
        candidates.append(_d.__file__)
    except ImportError:
        pass
    candidates += ["libdeflate.so.0", "libdeflate.so", "libdeflate.dylib", "libdeflate.dll"]
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            addrs = [ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in (
                "libdeflate_alloc_decompressor", "libdeflate_free_decompressor",
                "libdeflate_zlib_decompress_ex", "libdeflate_crc32")]
        except (OSError, AttributeError):
            continue
        if all(addrs):
            return addrs, path
    return None


def set_inflate_backend(name):
    """Choose the inflate library: ``"libdeflate"`` (default when found) or ``"zlib"``.

    Returns the backend now in use.  Not thread-safe: call it before decoding starts.
    """
    global _use_libdeflate
    if name == "zlib":
        _use_libdeflate = False
    elif name == "libdeflate":
        if _ld_decompress == NULL:
            found = _find_libdeflate()
            if found is None:
                raise ImportError("libdeflate was not found (install the 'deflate' package)")
            _configure_libdeflate(*found[0], found[1])
        _use_libdeflate = True
    else:
        raise ValueError(f"unknown inflate backend {name!r}; expected 'libdeflate' or 'zlib'")
    return inflate_backend()


def inflate_backend():
    """Name of the inflate library in use: ``"libdeflate"`` or ``"zlib"``."""
    return "libdeflate" if _use_libdeflate else "zlib"


cdef int _parse(const uint8_t[::1] data, png_header *hdr, char *err, size_t errlen):
    cdef const uint8_t *p = &data[0] if data.shape[0] else _EMPTY
    cdef size_t n = data.shape[0]
    cdef int status
    err[0] = 0
    with nogil:
        status = png_read_header(p, n, hdr, err, errlen)
    return status


def read_header(const uint8_t[::1] data):
    """Parse the chunks of a PNG held in `data`.

    Returns ``(status, info, message)``: status 0 (decodable here), 1 (needs the
    fallback decoder) or -1 (corrupt; `message` says why); `info` is a dict of the
    IHDR fields and the output shape/dtype, or None when status is -1.
    """
    cdef png_header hdr
    cdef char err[200]
    cdef int status = _parse(data, &hdr, err, sizeof(err))
    if status < 0:
        return status, None, err.decode("ascii")
    shape = _shape(&hdr)
    info = {
        "width": hdr.width, "height": hdr.height, "bit_depth": hdr.bit_depth,
        "color_type": hdr.color_type, "interlace": hdr.interlace,
        "shape": shape, "dtype": np.dtype(np.uint16 if hdr.out_itemsize == 2 else np.uint8),
    }
    return status, info, ""


def decode(const uint8_t[::1] data, out=None):
    """Decode a PNG held in `data` into a new array or into `out`.

    Returns ``(array, "")`` on success, ``(None, "")`` when the file needs the
    fallback decoder and ``(None, message)`` when it is corrupt.  `out`, when given,
    must already be a C-contiguous array of the right shape and dtype (checked by
    the caller).
    """
    cdef png_header hdr
    cdef char err[200]
    cdef cnp.ndarray arr
    cdef const uint8_t *p = &data[0] if data.shape[0] else _EMPTY
    cdef size_t n = data.shape[0]
    cdef int status = _parse(data, &hdr, err, sizeof(err))
    if status < 0:
        return None, err.decode("ascii")
    if status > 0:
        return None, ""
    if out is None:
        arr = np.empty(_shape(&hdr), dtype=np.uint16 if hdr.out_itemsize == 2 else np.uint8)
    else:
        arr = out
    cdef uint8_t *dst = <uint8_t *>cnp.PyArray_DATA(arr)
    cdef size_t nbytes = <size_t>cnp.PyArray_NBYTES(arr)
    with nogil:
        status = png_decode_into(p, n, &hdr, dst, nbytes, err, sizeof(err))
    if status < 0:
        return None, err.decode("ascii")
    return arr, ""


_found = _find_libdeflate()
if _found is not None:
    _configure_libdeflate(*_found[0], _found[1])
del _found
