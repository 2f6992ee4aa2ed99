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
from libc.stdio cimport snprintf
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
            sm_sub_row_flat(in, out, n, BPP);                                      \
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
            if (prev == NULL) sm_sub_row_flat(in, out, n, BPP);                    \
            else sm_paeth_row_flat(in, prev, out, n, BPP);                         \
            break;                                                                 \
        }                                                                          \
    }
    #if defined(__GNUC__)
    #define SM_INLINE inline __attribute__((always_inline))
    #else
    #define SM_INLINE inline
    #endif
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define SM_WORDS 1
    #else
    #define SM_WORDS 0
    #endif

    /* Label maps are mostly flat: where the filtered byte is 0 and (Paeth) the bytes
       above and above-left are equal, the predictor is the left byte and the output
       repeats the pixel to the left.  Such stretches are found 8 bytes at a time (the
       first byte that breaks one by its trailing zero count) and filled with the left
       pixel repeated; returns the index of the first byte that needs the full rule.
       `prev` is NULL for the Sub filter (only the filtered bytes matter). */
    static SM_INLINE size_t sm_flat(const uint8_t *in, const uint8_t *prev, uint8_t *out,
                                 size_t i, size_t n, const size_t bpp) {
    #if SM_WORDS
        uint64_t x, p0, p1, z, w, keep, old;
        uint32_t v;
        if (i < bpp || i + 8 > n) return i;
    #define SM_FLAT_BLOCK()                                                            \
        memcpy(&x, in + i, 8);                                                         \
        z = x;                                                                         \
        if (prev != NULL) {                                                            \
            memcpy(&p0, prev + i, 8);                                                  \
            memcpy(&p1, prev + i - bpp, 8);                                            \
            z |= p0 ^ p1;                                                              \
        }
        SM_FLAT_BLOCK()
        if (z & 0xFF) return i;
        /* the left pixel repeated from byte i on, kept in a register from block to block */
        if (bpp == 1) {
            w = (uint64_t)out[i - 1] * 0x0101010101010101ull;
        } else if (bpp == 2) {
            v = (uint32_t)out[i - 2] | ((uint32_t)out[i - 1] << 8);
            w = (uint64_t)v * 0x0001000100010001ull;
        } else if (bpp == 3) {  /* byte loads: a 3-byte memcpy goes through the stack */
            v = (uint32_t)out[i - 3] | ((uint32_t)out[i - 2] << 8) | ((uint32_t)out[i - 1] << 16);
            w = (uint64_t)v | ((uint64_t)v << 24) | ((uint64_t)v << 48);
        } else {
            memcpy(&v, out + i - 4, 4);
            w = (uint64_t)v | ((uint64_t)v << 32);
        }
        for (;;) {
            if (z) {
                /* store only the flat bytes before the first nonzero one of z: the others
                   keep their content (the unread input when unfiltering in place) */
                size_t k = (size_t)__builtin_ctzll(z) >> 3;
                keep = ~0ull << (8 * k);
                memcpy(&old, out + i, 8);
                old = (old & keep) | (w & ~keep);
                memcpy(out + i, &old, 8);
                return i + k;
            }
            memcpy(out + i, &w, 8);
            i += 8;
            if (i + 8 > n) return i;
            if (bpp == 3) w = (w >> 16) | (w << 32);  /* 8 bytes on: the phase moves by 2 */
            SM_FLAT_BLOCK()
        }
    #undef SM_FLAT_BLOCK
    #endif
        return i;
    }

    /* Paeth with the flat-stretch skip; elsewhere byte by byte, with the common
       label-map case b == c (same value above and above-left: the predictor is the left
       byte) skipping the full predictor. */
    static SM_INLINE void sm_paeth_row_flat(const uint8_t *in, const uint8_t *prev, uint8_t *out,
                                         size_t n, const size_t bpp) {
        size_t i;
        uint8_t a, b, c;
        for (i = 0; i < bpp && i < n; i++) out[i] = (uint8_t)(in[i] + prev[i]);
        while (i < n) {
            i = sm_flat(in, prev, out, i, n, bpp);
            if (i >= n) break;
            a = out[i - bpp];
            b = prev[i];
            c = prev[i - bpp];
            out[i] = (uint8_t)(in[i] + (b == c ? a : sm_paeth(a, b, c)));
            i++;
        }
    }

    /* Sub (and the first row of Paeth): out[i] = in[i] + out[i - bpp]. */
    static SM_INLINE void sm_sub_row_flat(const uint8_t *in, uint8_t *out, size_t n,
                                       const size_t bpp) {
        size_t i;
        for (i = 0; i < bpp && i < n; i++) out[i] = in[i];
        while (i < n) {
            i = sm_flat(in, NULL, out, i, n, bpp);
            if (i >= n) break;
            out[i] = (uint8_t)(in[i] + out[i - bpp]);
            i++;
        }
    }

    SM_UNFILTER_BPP(1)
    SM_UNFILTER_BPP(2)
    SM_UNFILTER_BPP(3)
    SM_UNFILTER_BPP(4)

    /* 8-bit rows (label maps) without a branch per run.  Sub is a prefix sum over the
       row: in-register shifted adds within 16 (SSE2) or 32 (AVX2) bytes, plus the total
       so far carried from block to block.  Paeth's predictor is the left byte wherever
       the bytes above and above-left are equal, so a block is that same prefix sum; at
       the few bytes where they differ (the row above changes value) the exact predictor
       gives the true byte, and the difference is added to the rest of the block.  Byte
       by byte the flat-stretch loops above take a mispredicted branch at every run
       boundary; by rdtsc on 80 Cityscapes-like label maps, a Sub row went from about 740
       to 350 (SSE2) or 220 (AVX2) cycles and a Paeth row from 1340 to 1130.
       sm_unf_level: 0 the loops above, 1 SSE2, 2 AVX2 (chosen at import by
       sm_unf_detect; the test hook _unfilter_level changes it). */
    #if SM_WORDS && defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
    #define SM_UNF_VEC 1
    #include <immintrin.h>
    static int sm_unf_level = 1;

    static SM_INLINE __m128i sm_prefix16(__m128i x) {
        x = _mm_add_epi8(x, _mm_slli_si128(x, 1));
        x = _mm_add_epi8(x, _mm_slli_si128(x, 2));
        x = _mm_add_epi8(x, _mm_slli_si128(x, 4));
        return _mm_add_epi8(x, _mm_slli_si128(x, 8));
    }
    /* byte 15 in all 16 bytes */
    static SM_INLINE __m128i sm_bcast15(__m128i x) {
        x = _mm_unpackhi_epi8(x, x);
        x = _mm_shufflehi_epi16(x, 0xFF);
        return _mm_unpackhi_epi64(x, x);
    }
    /* 32 zero bytes then 32 0xFF: the 16 bytes from (sm_ramp + 32 - j) are 0xFF from
       byte j on */
    static const uint8_t sm_ramp[64] __attribute__((aligned(32))) = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};

    static void sm_unfilter_sub1_sse2(const uint8_t *in, uint8_t *out, size_t n) {
        __m128i carry = _mm_setzero_si128(), x;
        size_t i = 0;
        uint8_t c;
        for (; i + 16 <= n; i += 16) {
            x = sm_prefix16(_mm_loadu_si128((const __m128i *)(in + i)));
            _mm_storeu_si128((__m128i *)(out + i), _mm_add_epi8(x, carry));
            carry = _mm_add_epi8(carry, sm_bcast15(x));  /* one add on the carried chain */
        }
        c = i ? out[i - 1] : 0;
        for (; i < n; i++) out[i] = c = (uint8_t)(in[i] + c);
    }

    /* Paeth with prev != NULL (the first row's Paeth is Sub). */
    static void sm_unfilter_paeth1_sse2(const uint8_t *in, const uint8_t *prev, uint8_t *out, size_t n) {
        __m128i carry, x, b, c, px, v, corr;
        uint8_t tmp[17] __attribute__((aligned(16)));
        unsigned s, j;
        int d, a, nd;
        uint8_t t;
        size_t i = 1;
        if (n == 0) return;
        out[0] = (uint8_t)(in[0] + prev[0]);  /* left and above-left are 0: the byte above */
        carry = _mm_set1_epi8((char)out[0]);
        for (; i + 16 <= n; i += 16) {
            x = _mm_loadu_si128((const __m128i *)(in + i));
            b = _mm_loadu_si128((const __m128i *)(prev + i));
            c = _mm_loadu_si128((const __m128i *)(prev + i - 1));
            s = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, c)) ^ 0xFFFFu;
            px = sm_prefix16(x);
            v = _mm_add_epi8(px, carry);
            if (!s) {
                _mm_storeu_si128((__m128i *)(out + i), v);
                carry = _mm_add_epi8(carry, sm_bcast15(px));
                continue;
            }
            /* tmp[k + 1]: byte k as if every predictor were the left byte; from the byte
               at the last exact predictor on, the true byte is that plus d */
            _mm_storeu_si128((__m128i *)(tmp + 1), v);
            tmp[0] = out[i - 1];
            d = 0;
            corr = _mm_setzero_si128();
            do {
                j = (unsigned)__builtin_ctz(s);
                a = (uint8_t)(tmp[j] + d);
                t = (uint8_t)(in[i + j] + sm_paeth(a, prev[i + j], prev[i + j - 1]));
                nd = (uint8_t)(t - tmp[j + 1]);
                corr = _mm_add_epi8(corr, _mm_and_si128(_mm_set1_epi8((char)(nd - d)),
                                                        _mm_loadu_si128((const __m128i *)(sm_ramp + 32 - j))));
                d = nd;
                s &= s - 1;
            } while (s);
            _mm_storeu_si128((__m128i *)(out + i), _mm_add_epi8(v, corr));
            carry = _mm_set1_epi8((char)(tmp[16] + d));
        }
        for (; i < n; i++)
            out[i] = (uint8_t)(in[i] + sm_paeth(out[i - 1], prev[i], prev[i - 1]));
    }

    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) && __GNUC__ >= 5 || defined(__clang__))
    #define SM_UNF_AVX2 1
    #define SM_AVX2_FN __attribute__((target("avx2")))
    static SM_AVX2_FN void sm_unfilter_sub1_avx2(const uint8_t *in, uint8_t *out, size_t n) {
        const __m256i k15 = _mm256_set1_epi8(15);
        __m256i carry = _mm256_setzero_si256(), x, t;
        size_t i = 0;
        uint8_t c;
        for (; i + 32 <= n; i += 32) {
            x = _mm256_loadu_si256((const __m256i *)(in + i));
            x = _mm256_add_epi8(x, _mm256_slli_si256(x, 1));  /* within each 16-byte lane */
            x = _mm256_add_epi8(x, _mm256_slli_si256(x, 2));
            x = _mm256_add_epi8(x, _mm256_slli_si256(x, 4));
            x = _mm256_add_epi8(x, _mm256_slli_si256(x, 8));
            t = _mm256_shuffle_epi8(x, k15);                   /* each lane's total */
            x = _mm256_add_epi8(x, _mm256_permute2x128_si256(t, t, 0x08));  /* lane 0's into lane 1 */
            _mm256_storeu_si256((__m256i *)(out + i), _mm256_add_epi8(x, carry));
            t = _mm256_shuffle_epi8(x, k15);
            carry = _mm256_add_epi8(carry, _mm256_permute2x128_si256(t, t, 0x11));
        }
        c = i ? out[i - 1] : 0;
        for (; i < n; i++) out[i] = c = (uint8_t)(in[i] + c);
    }
    static SM_AVX2_FN void sm_unfilter_up1_avx2(const uint8_t *in, const uint8_t *prev, uint8_t *out, size_t n) {
        size_t i = 0;
        for (; i + 32 <= n; i += 32)
            _mm256_storeu_si256((__m256i *)(out + i),
                                _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(in + i)),
                                                _mm256_loadu_si256((const __m256i *)(prev + i))));
        for (; i < n; i++) out[i] = (uint8_t)(in[i] + prev[i]);
    }
    #else
    #define SM_UNF_AVX2 0
    #endif

    static int sm_unf_detect(void) {
    #if SM_UNF_AVX2
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) return 2;
    #endif
        return 1;
    }

    /* 1 when the row was done here, 0 to leave it to sm_unfilter_1 */
    static SM_INLINE int sm_unfilter_1_vec(int ftype, const uint8_t *in, const uint8_t *prev,
                                           uint8_t *out, size_t n) {
        const int level = sm_unf_level;
        if (level <= 0) return 0;
        if (ftype == 1 || (ftype == 4 && prev == NULL)) {
    #if SM_UNF_AVX2
            if (level >= 2) { sm_unfilter_sub1_avx2(in, out, n); return 1; }
    #endif
            sm_unfilter_sub1_sse2(in, out, n);
            return 1;
        }
        if (ftype == 4) { sm_unfilter_paeth1_sse2(in, prev, out, n); return 1; }
    #if SM_UNF_AVX2
        if (ftype == 2 && prev != NULL && level >= 2) { sm_unfilter_up1_avx2(in, prev, out, n); return 1; }
    #endif
        return 0;
    }
    #else
    #define SM_UNF_VEC 0
    static int sm_unf_level = 0;
    static int sm_unf_detect(void) { return 0; }
    static SM_INLINE int sm_unfilter_1_vec(int ftype, const uint8_t *in, const uint8_t *prev,
                                           uint8_t *out, size_t n) {
        (void)ftype; (void)in; (void)prev; (void)out; (void)n;
        return 0;
    }
    #endif

    static int sm_host_is_little_endian(void) {
        const uint16_t one = 1;
        return *(const uint8_t *)&one == 1;
    }

    /* Returns 0, or -1 for an unknown filter type or pixel size. */
    static int sm_unfilter_row(int bpp, int ftype, const uint8_t *in,
                               const uint8_t *prev, uint8_t *out, size_t n) {
        if (ftype < 0 || ftype > 4) return -1;
        switch (bpp) {
        case 1: if (!sm_unfilter_1_vec(ftype, in, prev, out, n)) sm_unfilter_1(ftype, in, prev, out, n); return 0;
        case 2: sm_unfilter_2(ftype, in, prev, out, n); return 0;
        case 3: sm_unfilter_3(ftype, in, prev, out, n); return 0;
        case 4: sm_unfilter_4(ftype, in, prev, out, n); return 0;
        }
        return -1;
    }
    """
    int sm_host_is_little_endian() noexcept nogil
    int sm_unf_level
    int sm_unf_detect() noexcept nogil
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

cdef int _unf_best = sm_unf_detect()
sm_unf_level = _unf_best


def _unfilter_level(level=None):
    """Test hook: the unfilter loops for 8-bit rows, 0 (plain C), 1 (SSE2) or 2 (AVX2),
    capped at what this build and CPU have.  Returns the level in use before; with no
    argument changes nothing.  Not thread-safe."""
    global sm_unf_level
    cdef int before = sm_unf_level
    if level is not None:
        sm_unf_level = max(0, min(int(level), _unf_best))
    return before

# The most pixels any image may have (sizes fit int32 pixel counts); a larger IHDR is
# reported as absurd.  Below it, the process-wide limit `_max_pixels` (set_max_pixels)
# applies before anything is allocated.
cdef size_t HARD_MAX_PIXELS = (<size_t>1) << 31
DEFAULT_MAX_PIXELS = 1 << 27
cdef size_t _max_pixels = DEFAULT_MAX_PIXELS
cdef int PACKED = 2
cdef int OVER_LIMIT = -2
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
    """Parse and check every chunk; fill `hdr`.  0 = `png_decode_into` / `png_inflate`
    take it, 1 = needs another decoder (sub-byte samples: :func:`png_parse`; Adam7,
    16-bit colour, unknown critical chunks: the Python fallback), -1 = corrupt or above
    the process-wide pixel limit (message in `err`)."""
    cdef int status = png_parse(data, size, hdr, _max_pixels, err, errlen)
    if status == PACKED:
        return 1
    if status == OVER_LIMIT:
        return -1
    return status


cdef int png_parse(const uint8_t *data, size_t size, png_header *hdr, size_t max_pixels,
                   char *err, size_t errlen) noexcept nogil:
    """Parse and check every chunk; fill `hdr`.  0 = `png_decode_into` takes it,
    1 = needs the fallback decoder, 2 (PACKED) = 1-, 2- or 4-bit samples (which
    `png_decode_into` takes too, one byte per pixel), -1 = corrupt, -2 (OVER_LIMIT) = valid so far but more
    than `max_pixels` pixels (`hdr` holds the IHDR fields); message in `err`."""
    cdef size_t pos = 8, length
    cdef const uint8_t *ctype
    cdef uint32_t w, h
    cdef int bd = 0, ct = 0, channels = 0, seen_idat = 0, idat_run_ended = 0
    cdef int unknown_critical = 0, i, status
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
                snprintf(err, errlen, b"invalid image dimensions in IHDR: %lu x %lu (each side "
                         b"must be 1 to 2^31-1)", <unsigned long>w, <unsigned long>h)
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
            if (<size_t>w) * h > HARD_MAX_PIXELS:
                snprintf(err, errlen, b"absurd image dimensions (more than 2^31 pixels): "
                         b"IHDR declares %lu x %lu", <unsigned long>w, <unsigned long>h)
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
    if unknown_critical or hdr.interlace or (bd == 16 and channels > 1):
        status = 1
    else:
        status = PACKED if bd < 8 else 0
        if hdr.raw_bytes > MAX_RATIO * hdr.idat_bytes + 1024:
            _seterr(err, errlen, b"IDAT data too short for the image size in IHDR")
            return -1
    if (<size_t>hdr.width) * hdr.height > max_pixels:
        snprintf(err, errlen, b"%lu x %lu = %lu pixels is above the pixel limit of %lu",
                 <unsigned long>hdr.width, <unsigned long>hdr.height,
                 <unsigned long>((<size_t>hdr.width) * hdr.height), <unsigned long>max_pixels)
        return OVER_LIMIT
    return status


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


cdef int png_inflate(const uint8_t *data, size_t size, const png_header *hdr,
                     uint8_t *raw, size_t raw_size, char *err, size_t errlen) noexcept nogil:
    """Inflate the IDAT stream of a file that `png_read_header` accepted into `raw`
    (exactly ``hdr.raw_bytes`` bytes: each row is its filter-type byte followed by
    ``hdr.row_bytes`` filtered bytes).  0 = done, -1 = corrupt (message in `err`)."""
    cdef size_t produced = 0
    cdef int ret
    if raw_size < hdr.raw_bytes:
        _seterr(err, errlen, b"inflate buffer is too small")
        return -1
    if _use_libdeflate:
        ret = _inflate_libdeflate(data, size, hdr, raw, hdr.raw_bytes, &produced, err, errlen)
    else:
        ret = _inflate_zlib(data, size, raw, hdr.raw_bytes, &produced, err, errlen)
    if ret == 0 and produced != hdr.raw_bytes:
        _seterr(err, errlen, b"decompressed data is smaller than the image")
        ret = -1
    return ret


cdef int png_unfilter_row(int bpp, int ftype, const uint8_t *inp, const uint8_t *prev,
                          uint8_t *out, size_t n) noexcept nogil:
    """Undo one row's filter (`out` may be `inp`; `prev` is NULL on the first row).
    0 = done, -1 = filter type not 0-4."""
    return sm_unfilter_row(bpp, ftype, inp, prev, out, n)


cdef inline void _unpack_row(const uint8_t *src, uint8_t *dst, size_t w, int bd) noexcept nogil:
    """Samples of a row of `bd`-bit samples (MSB first) as one byte each, unscaled."""
    cdef size_t x
    cdef int per = 8 // bd, mask = (1 << bd) - 1
    for x in range(w):
        dst[x] = (src[x // per] >> (8 - bd * (<int>(x % per) + 1))) & mask


cdef uint8_t *_inflated(const uint8_t *data, size_t size, const png_header *hdr,
                        char *err, size_t errlen) noexcept nogil:
    """A new buffer holding the inflated IDAT stream (free it), or NULL (message in `err`)."""
    cdef uint8_t *raw = <uint8_t *>malloc(hdr.raw_bytes)
    if raw == NULL:
        _seterr(err, errlen, b"out of memory")
        return NULL
    if png_inflate(data, size, hdr, raw, hdr.raw_bytes, err, errlen) != 0:
        free(raw)
        return NULL
    return raw


cdef int _decode_packed(const uint8_t *data, size_t size, const png_header *hdr,
                        uint8_t *out, char *err, size_t errlen) noexcept nogil:
    """`png_decode_into` for 1-, 2- and 4-bit samples: rows unfiltered in place (a filter
    stride of one byte), then unpacked into one byte per pixel."""
    cdef size_t rb = hdr.row_bytes, y, w = hdr.width
    cdef const uint8_t *prev = NULL
    cdef uint8_t *row
    cdef uint8_t *raw = _inflated(data, size, hdr, err, errlen)
    if raw == NULL:
        return -1
    for y in range(hdr.height):
        row = raw + y * (rb + 1)
        if sm_unfilter_row(1, row[0], row + 1, prev, row + 1, rb) != 0:
            free(raw)
            _seterr(err, errlen, b"bad row filter type (not 0-4)")
            return -1
        prev = row + 1
        _unpack_row(row + 1, out + y * w, w, hdr.bit_depth)
    free(raw)
    return 0


cdef int png_decode_into(const uint8_t *data, size_t size, const png_header *hdr,
                         uint8_t *out, size_t out_size,
                         char *err, size_t errlen) noexcept nogil:
    """Inflate and unfilter a file that `png_read_header` accepted (returned 0), or that
    `png_parse` returned 0 or PACKED for, into `out` (C order, `out_size` bytes:
    ``height * row_bytes``; for 1-, 2- and 4-bit samples ``height * width``, each pixel
    the stored value, a grey level or palette index not scaled to 0-255).
    0 = done, -1 = corrupt (message in `err`)."""
    cdef size_t rb = hdr.row_bytes, y, i, n_out
    cdef size_t h = hdr.height
    cdef uint8_t *raw
    cdef uint8_t *row
    cdef const uint8_t *prev = NULL
    cdef int bpp = hdr.bpp
    cdef uint8_t t
    n_out = (<size_t>hdr.width if hdr.bit_depth < 8 else rb) * h
    if out_size != n_out:
        _seterr(err, errlen, b"output buffer has the wrong size")
        return -1
    if hdr.bit_depth < 8:
        return _decode_packed(data, size, hdr, out, err, errlen)
    raw = <uint8_t *>malloc(hdr.raw_bytes)
    if raw == NULL:
        _seterr(err, errlen, b"out of memory")
        return -1
    if png_inflate(data, size, hdr, raw, hdr.raw_bytes, err, errlen) != 0:
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


def set_max_pixels(size_t n):
    """Set the process-wide pixel limit (every decode path, including the folder
    kernels); returns the previous one.  The caller (segmetrics.io.png) checks that
    `n` lies in [1, 2^31]."""
    global _max_pixels
    previous = _max_pixels
    _max_pixels = n
    return previous


def get_max_pixels():
    """The process-wide pixel limit."""
    return _max_pixels


cdef inline size_t _limit(max_pixels):
    return _max_pixels if max_pixels is None else <size_t>max_pixels


cdef int _parse(const uint8_t[::1] data, png_header *hdr, size_t limit, char *err, size_t errlen):
    cdef const uint8_t *p = &data[0] if data.shape[0] else _EMPTY
    cdef size_t n = data.shape[0]
    cdef int status
    err[0] = 0
    with nogil:
        status = png_parse(p, n, hdr, limit, err, errlen)
    return status


cdef dict _info(const png_header *hdr):
    return {
        "width": hdr.width, "height": hdr.height, "bit_depth": hdr.bit_depth,
        "color_type": hdr.color_type, "interlace": hdr.interlace,
        "shape": _shape(hdr), "dtype": np.dtype(np.uint16 if hdr.out_itemsize == 2 else np.uint8),
    }


def read_header(const uint8_t[::1] data, max_pixels=None):
    """Parse and check every chunk of a PNG held in `data`.

    Returns ``(status, info, message)``: status 0 (decodable here), 1 (needs the
    fallback decoder), -1 (corrupt) or -2 (more pixels than `max_pixels`, default
    the process-wide limit); `info` is a dict of the IHDR fields and the output
    shape/dtype (None when status is -1); `message` says what is wrong.
    """
    cdef png_header hdr
    cdef char err[200]
    cdef int status = _parse(data, &hdr, _limit(max_pixels), err, sizeof(err))
    if status == -1:
        return status, None, err.decode("ascii")
    return (0 if status == PACKED else status), _info(&hdr), err.decode("ascii")


def decode(const uint8_t[::1] data, out=None, max_pixels=None):
    """Decode a PNG held in `data` into a new array or into `out`.

    Returns ``(status, array, info, message)`` with the status of
    :func:`read_header` (the array only for status 0, and then `info` is None) or -3
    when `out` (which must be C-contiguous and writeable, checked by the caller) has
    the wrong shape or dtype.
    """
    cdef png_header hdr
    cdef char err[200]
    cdef cnp.ndarray arr
    cdef const uint8_t *p = &data[0] if data.shape[0] else _EMPTY
    cdef size_t n = data.shape[0]
    cdef int status = _parse(data, &hdr, _limit(max_pixels), err, sizeof(err))
    if status == -1:
        return status, None, None, err.decode("ascii")
    if status == 1 or status == OVER_LIMIT:
        return status, None, _info(&hdr), err.decode("ascii")
    dtype = np.uint16 if hdr.out_itemsize == 2 else np.uint8
    if out is None:
        arr = np.empty(_shape(&hdr), dtype=dtype)
    elif out.shape != _shape(&hdr) or out.dtype != dtype:
        return -3, None, _info(&hdr), ""
    else:
        arr = out
    cdef uint8_t *dst = <uint8_t *>cnp.PyArray_DATA(arr)
    cdef size_t nbytes = <size_t>cnp.PyArray_NBYTES(arr)
    with nogil:
        status = png_decode_into(p, n, &hdr, dst, nbytes, err, sizeof(err))
    if status < 0:
        return -1, None, None, err.decode("ascii")
    return 0, arr, None, ""


_found = _find_libdeflate()
if _found is not None:
    _configure_libdeflate(*_found[0], _found[1])
del _found
