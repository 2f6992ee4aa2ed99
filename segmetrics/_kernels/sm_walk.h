/* The run-length row walker: the one counting loop of every segmetrics kernel.
 *
 * A row pair (ground truth, prediction) is walked as runs, 64 pixels at a time: a
 * 64-bit mask of the pixels that differ from their left neighbour, on each side, comes
 * from comparing a row with itself shifted by one pixel (SSE2 compares; one pixel at a
 * time without SSE2; rows of 3-byte pixels go through sm_walk_scan, 32 bytes per
 * step), and a value is turned into a code only where a run starts.  The masks of up to
 * 32 blocks are found first and only blocks with a change are visited (by `perf`, the
 * data-decided branch on every block cost more than the masks; a Cityscapes-like folder
 * run went from 265 to 244 ms).  Semantic walks of
 * 8-bit rows count blocks where values change almost every pixel as raw value pairs in
 * a 256 x 256 table instead (sm_pt), folded into classes once per image.  Whenever
 * either side starts a new run,
 * the run just ended, (ground-truth code, prediction code, length), goes to a
 * sink: the confusion matrix, the panoptic pair table, a recorder of the
 * ground-truth runs for the cache.
 *
 * A side is either a row of pixels (any byte width: 8/16-bit PNG samples, RGB
 * ids, native integer arrays) or a list of cached runs (ground truth from the
 * cache).  Each kind of side and sink is a small inline function; the walker is
 * inlined into each kernel with constant function pointers, so every input kind
 * gets its own specialised loop.
 *
 * Ground-truth runs whose code equals `skip` (semantic: ignored pixels) do not
 * look at the prediction: the prediction side jumps to the end of the run.
 */
#ifndef SM_WALK_H
#define SM_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define SM_INLINE static inline __attribute__((always_inline))
#else
#define SM_INLINE static __forceinline
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SM_LE 1
#else
#define SM_LE 0
#endif

#if SM_LE && defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Count trailing zeros / set bits of a non-zero 64-bit mask. */
#if defined(__GNUC__) || defined(__clang__)
#define SM_CTZ64(m) __builtin_ctzll(m)
#if defined(__POPCNT__) || !(defined(__x86_64__) || defined(__i386__))
#define SM_POPCNT64(m) __builtin_popcountll(m)
#else
/* x86 without -mpopcnt: __builtin_popcountll becomes a call into libgcc (2 % of a
   Cityscapes-like run by perf); the same count inline, by bit fields */
static inline int sm_popcnt64_swar(uint64_t m) {
    m = m - ((m >> 1) & 0x5555555555555555ull);
    m = (m & 0x3333333333333333ull) + ((m >> 2) & 0x3333333333333333ull);
    m = (m + (m >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (int)((m * 0x0101010101010101ull) >> 56);
}
#define SM_POPCNT64(m) sm_popcnt64_swar(m)
#endif
#elif defined(_MSC_VER) && defined(_M_X64)
#include <intrin.h>
static __forceinline int sm_ctz64(uint64_t m) { unsigned long i; _BitScanForward64(&i, m); return (int)i; }
#define SM_CTZ64(m) sm_ctz64(m)
#define SM_POPCNT64(m) ((int)__popcnt64(m))
#else
static inline int sm_ctz64(uint64_t m) { int i = 0; while (!(m & 1)) { m >>= 1; i++; } return i; }
static inline int sm_popcnt64(uint64_t m) { int i = 0; while (m) { m &= m - 1; i++; } return i; }
#define SM_CTZ64(m) sm_ctz64(m)
#define SM_POPCNT64(m) sm_popcnt64(m)
#endif

/* Bytes that must be readable after the start of a row's last pixel for the vector
   compare of sm_next_change (rows from the PNG decoder always have them). */
#define SM_READ_AHEAD 32

/* Semantic codes (see confusion.pyx): a class >= 0, or one of these. */
#define SM_IGNORED (-1)
#define SM_BAD (-2)
/* A skip code no side produces. */
#define SM_NO_SKIP INT32_MIN

#if SM_LE && defined(__SSE2__)
/* Bit i set when byte i of a (i < 2 chunk) equals the byte B before it: two 16-byte
   compares, the second starting chunk bytes on. */
SM_INLINE uint32_t sm_eq2x16(const uint8_t *a, const int B, const int chunk) {
    uint32_t lo = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)a),
                                                             _mm_loadu_si128((const __m128i *)(a - B))));
    uint32_t hi = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(a + chunk)),
                                                             _mm_loadu_si128((const __m128i *)(a + chunk - B))));
    return (lo & ((1u << chunk) - 1u)) | (hi << chunk);
}
#endif

/* The first pixel index k' >= k (k >= 1) where row x, or (y not NULL) either of rows x
   and y, differs from its pixel k' - 1; w when none does below w.  *chg gets which row
   differs there (bit 0: x, bit 1: y; set when k' < w).  Rows have w pixels of B bytes.
   Below `wsafe` pixels are compared 32 bytes at a time (from pixel k' - 1 on,
   SM_READ_AHEAD bytes must be readable), the rest one by one. */
SM_INLINE size_t sm_scan(const uint8_t *x, const uint8_t *y, size_t k, size_t w, size_t wsafe, const int B,
                         int *chg) {
    int dx, dy;
    if (k >= w) return w;
    /* noise: the next pixel often differs already, one scalar compare tells */
    dx = memcmp(x + k * B, x + (k - 1) * B, B) != 0;
    dy = y && memcmp(y + k * B, y + (k - 1) * B, B) != 0;
    if (dx || dy) {
        *chg = dx | (dy << 1);
        return k;
    }
    k++;
#if SM_LE && defined(__SSE2__)
    {
        /* 3-byte pixels: 15 bytes (5 whole pixels) per 16-byte compare */
        const int chunk = B == 3 ? 15 : 16;
        const uint32_t keep = B == 3 ? 0x3FFFFFFFu : 0xFFFFFFFFu;
        const size_t step = (size_t)(2 * chunk / B);
        uint32_t ex, ey = 0xFFFFFFFFu, d, px;
        while (k < wsafe) {
            ex = sm_eq2x16(x + k * B, B, chunk);
            if (y) ey = sm_eq2x16(y + k * B, B, chunk);
            d = ~(ex & ey) & keep;
            if (d) {
                px = (uint32_t)__builtin_ctz(d) / B;
                d = ((1u << B) - 1u) << (px * B);  /* the pixel's bytes */
                *chg = ((~ex & d) != 0) | (((~ey & d) != 0) << 1);
                k += px;
                return k < w ? k : w;
            }
            k += step;
        }
    }
#elif SM_LE && (defined(__GNUC__) || defined(__clang__))
    {
        /* 8 bytes at a time (3-byte pixels: 6 bytes, two whole pixels) */
        const size_t step = B == 3 ? 2 : (size_t)(8 / B);  /* B <= 8 */
        const uint64_t keep = B == 3 ? 0xFFFFFFFFFFFFull : ~0ull;
        uint64_t a, b, dx64, dy64 = 0, m;
        size_t px;
        while (k < wsafe) {
            memcpy(&a, x + k * B, 8);
            memcpy(&b, x + (k - 1) * B, 8);
            dx64 = (a ^ b) & keep;
            if (y) {
                memcpy(&a, y + k * B, 8);
                memcpy(&b, y + (k - 1) * B, 8);
                dy64 = (a ^ b) & keep;
            }
            if (dx64 | dy64) {
                px = ((size_t)__builtin_ctzll(dx64 | dy64) >> 3) / B;
                m = B == 8 ? ~0ull : ((1ull << (8 * B)) - 1) << (8 * B * px);  /* the pixel's bytes */
                *chg = ((dx64 & m) != 0) | (((dy64 & m) != 0) << 1);
                k += px;
                return k < w ? k : w;
            }
            k += step;
        }
    }
#else
    (void)wsafe;
#endif
    for (; k < w; k++) {
        dx = memcmp(x + k * B, x + (k - 1) * B, B) != 0;
        dy = y && memcmp(y + k * B, y + (k - 1) * B, B) != 0;
        if (dx || dy) {
            *chg = dx | (dy << 1);
            return k;
        }
    }
    return w;
}

/* The next change of one row (see sm_scan). */
SM_INLINE size_t sm_next_change(const uint8_t *x, size_t k, size_t w, size_t wsafe, const int B) {
    int chg;
    return sm_scan(x, NULL, k, w, wsafe, B, &chg);
}

/* How many leading pixels of a row of B-byte pixels starting at x may be compared a
   block at a time when only `avail` bytes from x on are readable. */
static inline size_t sm_safe_width(size_t avail, size_t w, int B) {
    size_t k;
    if (avail < SM_READ_AHEAD + (size_t)B) return 0;
    k = (avail - SM_READ_AHEAD) / (size_t)B;
    return k < w ? k : w;
}

/* ------------------------------------------------------------------ sides */

typedef struct sm_side {
    int32_t code;              /* code of the current run */
    size_t end;                /* cached runs: end of the current run (exclusive) */
    const uint8_t *x;          /* pixel row */
    size_t wsafe;              /* see sm_next_change */
    const uint16_t *rv, *rl;   /* cached runs: values, lengths */
    size_t r;                  /* next cached run */
    const void *lut;           /* how a pixel value becomes a code */
} sm_side;

/* Set s->code for position e: the code of pixel e (pixel rows), or of the next cached
   run, whose end then goes to s->end.  < 0 stops the walk. */
typedef int (*sm_code_fn)(sm_side *s, size_t e);
/* Count n pixels of ground-truth code g and prediction code p.  < 0 stops the walk. */
typedef int (*sm_emit_fn)(void *sink, int32_t g, int32_t p, size_t n);

/* Pixel values: 8-bit, 16-bit big-endian (PNG), native integers, RGB ids. */
SM_INLINE uint64_t sm_val_u8(const uint8_t *x, size_t i) { return x[i]; }
SM_INLINE uint64_t sm_val_be16(const uint8_t *x, size_t i) {
    return ((uint64_t)x[2 * i] << 8) | (uint64_t)x[2 * i + 1];
}
SM_INLINE uint64_t sm_val_u16(const uint8_t *x, size_t i) { uint16_t v; memcpy(&v, x + 2 * i, 2); return v; }
SM_INLINE uint64_t sm_val_u32(const uint8_t *x, size_t i) { uint32_t v; memcpy(&v, x + 4 * i, 4); return v; }
/* signed values become huge unsigned ones, beyond every code table */
SM_INLINE uint64_t sm_val_i32(const uint8_t *x, size_t i) {
    int32_t v; memcpy(&v, x + 4 * i, 4); return (uint64_t)(int64_t)v;
}
SM_INLINE uint64_t sm_val_i64(const uint8_t *x, size_t i) { int64_t v; memcpy(&v, x + 8 * i, 8); return (uint64_t)v; }
/* id = R + 256 G + 256^2 B */
SM_INLINE uint64_t sm_val_rgb(const uint8_t *x, size_t i) {
    return (uint64_t)x[3 * i] | ((uint64_t)x[3 * i + 1] << 8) | ((uint64_t)x[3 * i + 2] << 16);
}

/* Semantic code table: values below n are looked up; beyond it a value is ignored when it
   equals `ignore` (has_ignore), else bad. */
typedef struct sm_sem_lut {
    const int32_t *codes;
    uint64_t n;
    int has_ignore;
    int64_t ignore;
} sm_sem_lut;

SM_INLINE int32_t sm_sem_code(const sm_sem_lut *t, uint64_t v) {
    if (v < t->n) return t->codes[v];
    if (t->has_ignore && (int64_t)v == t->ignore) return SM_IGNORED;
    return SM_BAD;
}

#define SM_SEM_SIDE(NAME, VAL)                                                        \
    SM_INLINE int NAME(sm_side *s, size_t e) {                                        \
        s->code = sm_sem_code((const sm_sem_lut *)s->lut, VAL(s->x, e));              \
        return 0;                                                                     \
    }
SM_SEM_SIDE(sm_sem_u8, sm_val_u8)
/* 8-bit values with a code table of at least 256 entries: no range check */
SM_INLINE int sm_sem_u8f(sm_side *s, size_t e) {
    s->code = ((const sm_sem_lut *)s->lut)->codes[s->x[e]];
    return 0;
}
SM_SEM_SIDE(sm_sem_be16, sm_val_be16)
SM_SEM_SIDE(sm_sem_u16, sm_val_u16)
SM_SEM_SIDE(sm_sem_i32, sm_val_i32)
SM_SEM_SIDE(sm_sem_i64, sm_val_i64)

/* Cached runs of codes stored as code + bias (semantic 2, panoptic 0); the runs were
   checked to tile the image before the walk starts. */
SM_INLINE int sm_runs_side(sm_side *s, size_t e, int32_t bias) {
    s->code = (int32_t)s->rv[s->r] - bias;
    s->end = e + s->rl[s->r];
    s->r++;
    return 0;
}
SM_INLINE int sm_sem_runs(sm_side *s, size_t e) { return sm_runs_side(s, e, 2); }
SM_INLINE int sm_pan_runs(sm_side *s, size_t e) { return sm_runs_side(s, e, 0); }

/* ------------------------------------------------------------------ change masks */

/* The block walker looks at SM_BLOCK pixels at a time: a 64-bit mask of the pixels that
   differ from their left neighbour, on each side, from vector compares of the row with
   itself shifted by one pixel (SSE2, the x86_64 baseline; one pixel at a time
   elsewhere).  Reads stay inside the row: the last block of a row is compared as the
   64 pixels that end the row, and the first block's left neighbours come from a shift
   in register. */
#define SM_BLOCK 64
/* Blocks whose masks are found before the walk visits them (at most 64: one bit each) */
#define SM_CHUNK 32

#if SM_LE && defined(__SSE2__)
#define SM_SIMD 1
/* The 16 bytes before a (the first of a row: a shifted, pixel -1 reads as 0). */
SM_INLINE __m128i sm_shift_in(__m128i a, const int B) {
    switch (B) {
    case 1: return _mm_slli_si128(a, 1);
    case 2: return _mm_slli_si128(a, 2);
    case 4: return _mm_slli_si128(a, 4);
    default: return _mm_slli_si128(a, 8);
    }
}

/* Lanes of B bytes (1, 2, 4, 8) all ones where the pixel equals the pixel before it. */
SM_INLINE __m128i sm_eqv(const uint8_t *x, const int B, const int first) {
    __m128i a = _mm_loadu_si128((const __m128i *)x), p, c;
    p = first ? sm_shift_in(a, B) : _mm_loadu_si128((const __m128i *)(x - B));
    if (B == 1) return _mm_cmpeq_epi8(a, p);
    if (B == 2) return _mm_cmpeq_epi16(a, p);
    c = _mm_cmpeq_epi32(a, p);
    if (B == 8) c = _mm_and_si128(c, _mm_shuffle_epi32(c, 0xB1));
    return c;
}

/* Bit i set when pixel i of the 16 pixels at x equals pixel i - 1 (B = 1, 2, 4, 8);
   `first`: x starts a row (bit 0 is then meaningless). */
SM_INLINE uint32_t sm_eq16(const uint8_t *x, const int B, const int first) {
    __m128i a, b, c, d;
    if (B == 1) return (uint32_t)_mm_movemask_epi8(sm_eqv(x, 1, first));
    if (B == 2) return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(sm_eqv(x, 2, first), sm_eqv(x + 16, 2, 0)));
    if (B == 4) {
        a = _mm_packs_epi32(sm_eqv(x, 4, first), sm_eqv(x + 16, 4, 0));
        b = _mm_packs_epi32(sm_eqv(x + 32, 4, 0), sm_eqv(x + 48, 4, 0));
        return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(a, b));
    }
    /* 8-byte pixels: each 64-bit lane is two equal 32-bit flags; two 32-bit packs make
       one 16-bit flag per pixel */
    a = _mm_packs_epi32(_mm_packs_epi32(sm_eqv(x, 8, first), sm_eqv(x + 16, 8, 0)),
                        _mm_packs_epi32(sm_eqv(x + 32, 8, 0), sm_eqv(x + 48, 8, 0)));
    b = _mm_packs_epi32(_mm_packs_epi32(sm_eqv(x + 64, 8, 0), sm_eqv(x + 80, 8, 0)),
                        _mm_packs_epi32(sm_eqv(x + 96, 8, 0), sm_eqv(x + 112, 8, 0)));
    (void)c;
    (void)d;
    return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(a, b));
}

SM_INLINE uint64_t sm_eq64(const uint8_t *x, const int B, const int first) {
    return (uint64_t)sm_eq16(x, B, first) | ((uint64_t)sm_eq16(x + 16 * B, B, 0) << 16) |
           ((uint64_t)sm_eq16(x + 32 * B, B, 0) << 32) | ((uint64_t)sm_eq16(x + 48 * B, B, 0) << 48);
}
#else
#define SM_SIMD 0
#endif

/* Bit i set when pixel b + i (i < n = min(64, w - b)) of the row x of w pixels of B
   bytes differs from pixel b + i - 1; never bit 0 of the first block. */
SM_INLINE uint64_t sm_chg(const uint8_t *x, size_t b, size_t w, const int B) {
    const size_t n = w - b < SM_BLOCK ? w - b : SM_BLOCK;
    uint64_t eq = 0;
    size_t i;
#if SM_SIMD
    if (w >= SM_BLOCK) {
        const size_t bb = b + SM_BLOCK <= w ? b : w - SM_BLOCK;  /* the last block: the row's last 64 */
        eq = bb == 0 ? sm_eq64(x, B, 1) : sm_eq64(x + bb * B, B, 0);
        eq >>= b - bb;
    } else
#endif
    {
        for (i = b ? 0 : 1; i < n; i++)
            if (memcmp(x + (b + i) * B, x + (b + i - 1) * B, B) == 0) eq |= 1ull << i;
    }
    eq = ~eq;
    if (n < SM_BLOCK) eq &= (1ull << n) - 1;
    if (b == 0) eq &= ~1ull;
    return eq;
}


#if SM_SIMD
/* Running byte minimum / maximum over the pixels b - 1 (when b > 0) .. b + 63 of a row of
   w >= 64 one-byte pixels (the row's last 64 for the last block). */
SM_INLINE void sm_minmax65(const uint8_t *x, size_t b, size_t w, __m128i *mn, __m128i *mx) {
    const uint8_t *q = x + (b + SM_BLOCK <= w ? b : w - SM_BLOCK);
    __m128i v;
    int k;
    if (b > 0) {
        v = _mm_loadu_si128((const __m128i *)(q - 1));
        *mn = _mm_min_epu8(*mn, v);
        *mx = _mm_max_epu8(*mx, v);
    }
    for (k = 0; k < 4; k++) {
        v = _mm_loadu_si128((const __m128i *)(q + 16 * k));
        *mn = _mm_min_epu8(*mn, v);
        *mx = _mm_max_epu8(*mx, v);
    }
}

/* The largest / smallest byte of v (the smallest: 255 - the largest of 255 - v). */
SM_INLINE uint32_t sm_hmax8(__m128i v) {
    v = _mm_max_epu8(v, _mm_srli_si128(v, 8));
    v = _mm_max_epu8(v, _mm_srli_si128(v, 4));
    v = _mm_max_epu8(v, _mm_srli_si128(v, 2));
    v = _mm_max_epu8(v, _mm_srli_si128(v, 1));
    return (uint32_t)_mm_cvtsi128_si32(v) & 0xFF;
}
SM_INLINE uint32_t sm_hmin8(__m128i v) { return 255u - sm_hmax8(_mm_xor_si128(v, _mm_set1_epi8((char)-1))); }
#endif

/* ------------------------------------------------------------------ the pair table */

/* Where a row pair of 8-bit samples changes value almost every pixel (noise, speckle,
   ragged borders), looking up and checking both codes of every short run costs more than
   the counting: the semantic walk then counts (raw GT value, raw prediction value) pairs
   into a table of 256 x 256 uint32 counters, and sm_sem_fold turns the table into classes
   once per image (one pass over the used window, which it leaves zeroed).  Blocks with at
   least SM_RAW_MIN changes count their runs there; blocks with at least SM_DENSE_MIN
   changes count every pixel, without finding runs (few pixels repeat a pair, so few
   increments wait on the one before).  Measured on the 2-core EPYC VM over the regimes of
   benchmarks/bench_semantic_kernel.py (see benchmarks/results/semantic_kernel.md), with
   the in-memory kernel built without -fwrapv (setup.py): counting runs pays up to 55
   changes a block, where a pair repeats often enough (30 % salt noise: about 33 changes)
   that counting every pixel waits on its own increments; 8 / 40 before that. */
#ifndef SM_RAW_MIN
#define SM_RAW_MIN 6
#endif
#ifndef SM_DENSE_MIN
#define SM_DENSE_MIN 56
#endif
#ifndef SM_RUN_INDEX
#define SM_RUN_INDEX 0
#endif

typedef struct sm_pt {
    uint32_t *t;               /* 65536 counters, [gt value << 8 | prediction value]; NULL: none */
    uint32_t gmin, gmax;       /* rows and columns written since the last fold */
    uint32_t pmin, pmax;       /* (gmin > gmax: nothing written) */
} sm_pt;

/* Tables are kept for reuse, all counters zero, in a few process-wide slots (any thread
   may take one; one that finds the slots full is freed). */
#define SM_PT_SLOTS 8
static uint32_t *sm_pt_slots[SM_PT_SLOTS];

#if defined(_MSC_VER)
#include <intrin.h>
#define SM_XCHG_PTR(p, v) _InterlockedExchangePointer((void *volatile *)(p), (v))
#define SM_CAS_PTR(p, v) (_InterlockedCompareExchangePointer((void *volatile *)(p), (v), NULL) == NULL)
#elif defined(__GNUC__) || defined(__clang__)
#define SM_XCHG_PTR(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
static inline int sm_cas_null(uint32_t **p, uint32_t *v) {
    uint32_t *expected = NULL;
    return __atomic_compare_exchange_n(p, &expected, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
#define SM_CAS_PTR(p, v) sm_cas_null((p), (v))
#endif

/* Point pt at a zeroed table (none when out of memory or without SIMD: the walk then
   looks up codes everywhere). */
static inline void sm_pt_take(sm_pt *pt) {
    uint32_t *t = NULL;
#if SM_SIMD
#ifdef SM_XCHG_PTR
    int i;
    for (i = 0; i < SM_PT_SLOTS && t == NULL; i++) t = (uint32_t *)SM_XCHG_PTR(&sm_pt_slots[i], NULL);
#endif
    if (t == NULL) t = (uint32_t *)calloc(65536, sizeof(uint32_t));
#endif
    pt->t = t;
    pt->gmin = pt->pmin = 255;
    pt->gmax = pt->pmax = 0;
    if (t) pt->gmin = 256;  /* empty */
}

/* Give a table back (all counters zero again: after sm_sem_fold). */
static inline void sm_pt_give(sm_pt *pt) {
    uint32_t *t = pt->t;
    pt->t = NULL;
    if (t == NULL) return;
#ifdef SM_CAS_PTR
    {
        int i;
        for (i = 0; i < SM_PT_SLOTS; i++)
            if (SM_CAS_PTR(&sm_pt_slots[i], t)) return;
    }
#endif
    free(t);
}

/* Whether every table kept for reuse is all zeros (tests; no walk may run meanwhile). */
static inline int sm_pt_pool_clean(void) {
    int i, clean = 1;
    size_t k;
    for (i = 0; i < SM_PT_SLOTS; i++) {
        const uint32_t *t = sm_pt_slots[i];
        for (k = 0; t != NULL && k < 65536; k++)
            if (t[k]) clean = 0;
    }
    return clean;
}

#if SM_SIMD
/* The pair index (G << 8 | P) of each of the 64 one-byte pixels at g / p, 16 at a time. */
SM_INLINE void sm_pair_index64(const uint8_t *g, const uint8_t *p, uint16_t *ix) {
    size_t o;
    for (o = 0; o < SM_BLOCK; o += 16) {
        const __m128i gv16 = _mm_loadu_si128((const __m128i *)(g + o));
        const __m128i pv16 = _mm_loadu_si128((const __m128i *)(p + o));
        _mm_storeu_si128((__m128i *)(ix + o), _mm_unpacklo_epi8(pv16, gv16));
        _mm_storeu_si128((__m128i *)(ix + o + 8), _mm_unpackhi_epi8(pv16, gv16));
    }
}
#endif

/* ------------------------------------------------------------------ the walker */

/* Walk one row pair of w pixels, SM_BLOCK pixels at a time.  G and P are pixel rows of
   gB / pB bytes per pixel (1, 2, 4, 8), or (gB == 0) G is cached runs.  Every run of a
   constant pair of raw values goes to emit(sink, G code, P code, length), in order;
   inside a run of G code `skip` the prediction is not looked at (the run ends where G
   changes; its P code is stale).  With a pair table (pt not NULL: a semantic walk of 8-bit
   predictions, G of 8-bit pixels or cached runs of codes + 2 below 256), busy blocks
   count raw value pairs there instead (see sm_pt); the codes of the runs counted there
   are not looked up, and the prediction under ignored ground truth is counted in the
   table (sm_sem_fold drops it).  Returns 0, or the first negative value: -1 G stopped,
   -2 P stopped (at one position G is asked first), -3 the sink stopped.  Rows of 3-byte
   pixels take sm_walk_scan. */
SM_INLINE int sm_walk_blocks(sm_side *G, sm_code_fn gcode, const int gB, sm_side *P, sm_code_fn pcode,
                             const int pB, size_t w, int32_t skip, sm_emit_fn emit, void *sink, sm_pt *pt) {
    size_t b, j = 0, e, n, la_pos = 0, la_r = 0, i, k, c0, c1, q;
    uint64_t gm, pm, m, bit, busy;
    uint64_t gmv[SM_CHUNK], pmv[SM_CHUNK];
    int stale = 0, fresh = 0, was_skip, cnt, used = 0;
    uint32_t gv, rmin = 255, rmax = 0;
    uint32_t *t = pt ? pt->t : NULL;
    const uint8_t *gx = G->x, *px = P->x;
#if SM_SIMD
    __m128i gmn = _mm_set1_epi8((char)-1), gmx = _mm_setzero_si128(), pmn = gmn, pmx = gmx;
#endif
    if (w == 0) return 0;
    if (gcode(G, 0) < 0) return -1;
    if (pcode(P, 0) < 0) return -2;
    if (!gB) {
        la_pos = G->end;
        la_r = G->r;
    }
    for (c0 = 0; c0 < w; c0 += SM_CHUNK * SM_BLOCK) {
        /* the change masks of up to SM_CHUNK blocks first, in a loop without data-dependent
           branches; then only the blocks with a change are visited (a branch per block that
           the data decides costs more than the masks) */
        c1 = w - c0 < SM_CHUNK * SM_BLOCK ? w : c0 + SM_CHUNK * SM_BLOCK;
        busy = 0;
        if (gB) {
            for (b = c0, q = 0; b < c1; b += SM_BLOCK, q++) {
                pmv[q] = sm_chg(px, b, w, pB);
                gmv[q] = sm_chg(gx, b, w, gB);
                busy |= (uint64_t)((pmv[q] | gmv[q]) != 0) << q;
            }
        } else {
            for (b = c0, q = 0; b < c1; b += SM_BLOCK, q++) {
                pmv[q] = sm_chg(px, b, w, pB);
                gmv[q] = 0;
            }
            /* the ends of the cached runs in this chunk, looked ahead of the walk */
            while (la_pos < c1) {
                gmv[(la_pos - c0) / SM_BLOCK] |= 1ull << ((la_pos - c0) % SM_BLOCK);
                la_pos += G->rl[la_r++];
            }
            for (q = 0; q * SM_BLOCK < c1 - c0; q++) busy |= (uint64_t)((pmv[q] | gmv[q]) != 0) << q;
        }
        while (busy) {
            q = (size_t)SM_CTZ64(busy);
            busy &= busy - 1;
            b = c0 + q * SM_BLOCK;
            n = w - b < SM_BLOCK ? w - b : SM_BLOCK;
            gm = gmv[q];
            pm = pmv[q];
            if (fresh) {
                /* after a counted block: a change at b == j starts the run at j (a block
                   without a change in between leaves nothing to do) */
                fresh = 0;
                if (b == j) {
                    if ((gm & 1) && !gB && gcode(G, b) < 0) return -1;
                    gm &= ~1ull;
                    pm &= ~1ull;
                }
            }
            m = gm | pm;
            if (!m) continue;
            cnt = t && w >= SM_BLOCK ? SM_POPCNT64(m) : 0;
#if SM_SIMD
            if (cnt >= SM_RAW_MIN) {
                /* the table window: the prediction values of pixels b - 1 .. b + 63 (and of
                   G, pixel rows).  A run open since before b is counted under the values of
                   pixel b - 1, inside the window (the same pair, but under ignored ground
                   truth, where the prediction may change inside a run and counts nowhere) */
                used = 1;
                sm_minmax65(px, b, w, &pmn, &pmx);
                if (gB) sm_minmax65(gx, b, w, &gmn, &gmx);
                if (cnt >= SM_DENSE_MIN && n == SM_BLOCK) {
                    /* every pixel: the open run up to b, then pixels b .. b + 63 */
                    if (b > j) {
                        gv = gB ? gx[b - 1] : (uint32_t)(G->code + 2);
                        if (!gB) { rmin = gv < rmin ? gv : rmin; rmax = gv > rmax ? gv : rmax; }
                        t[(gv << 8) | px[b - 1]] += (uint32_t)(b - j);
                    }
                    if (gB) {
#if SM_RUN_INDEX
                        /* each pixel's pair index from a vector of them (SM_RUN_INDEX, below):
                           uniform noise 12 % faster in the in-memory kernel */
                        uint16_t ixd[SM_BLOCK];
                        sm_pair_index64(gx + b, px + b, ixd);
                        for (i = 0; i < SM_BLOCK; i++) t[ixd[i]]++;
#else
                        for (i = 0; i < SM_BLOCK; i++) t[((uint32_t)gx[b + i] << 8) | px[b + i]]++;
#endif
                    } else {
                        e = b;
                        for (;;) {
                            gv = (uint32_t)(G->code + 2);
                            rmin = gv < rmin ? gv : rmin;
                            rmax = gv > rmax ? gv : rmax;
                            j = gm ? b + (size_t)SM_CTZ64(gm) : b + SM_BLOCK;
                            for (i = e; i < j; i++) t[(gv << 8) | px[i]]++;
                            if (!gm) break;
                            if (gcode(G, j) < 0) return -1;
                            e = j;
                            gm &= gm - 1;
                        }
                    }
                    j = b + SM_BLOCK;
                    stale = fresh = 1;
                    continue;
                }
#if SM_RUN_INDEX
                if (gB && n == SM_BLOCK) {
                    /* pixel rows: the pair index (G << 8 | P) of each pixel of the block, made
                       16 at a time, so that a run after the first costs one load of its index
                       (built into the in-memory kernel, setup.py: 30 % salt noise 4-6 % faster
                       there; the folder kernels gained nothing) */
                    uint16_t ix[SM_BLOCK];
                    /* run ends as positions in the block, unsigned: no sign extension per run */
                    uint32_t po = (uint32_t)SM_CTZ64(m), o;
                    sm_pair_index64(gx + b, px + b, ix);
                    /* the first run, open since j (before b: under the values of pixel b - 1) */
                    k = j < b ? b - 1 : j;
                    t[((uint32_t)gx[k] << 8) | px[k]] += (uint32_t)(b + po - j);
                    m &= m - 1;
                    while (m) {
                        o = (uint32_t)SM_CTZ64(m);
                        t[ix[po]] += o - po;
                        po = o;
                        m &= m - 1;
                    }
                    j = b + po;
                    stale = 1;
                    continue;
                }
#endif
                /* the runs, as raw pairs */
                while (m) {
                    e = b + (size_t)SM_CTZ64(m);
                    bit = m & (0 - m);
                    k = j < b ? b - 1 : j;
                    gv = gB ? gx[k] : (uint32_t)(G->code + 2);
                    if (!gB) { rmin = gv < rmin ? gv : rmin; rmax = gv > rmax ? gv : rmax; }
                    t[(gv << 8) | px[k]] += (uint32_t)(e - j);
                    j = e;
                    if (!gB && (gm & bit) && gcode(G, e) < 0) return -1;
                    m ^= bit;
                }
                stale = 1;
                continue;
            }
#endif
            (void)cnt;
            if (stale) {
                /* the codes of the run at j, not looked up while counting raw pairs */
                stale = 0;
                if (gB && gcode(G, j) < 0) return -1;
                if (pcode(P, j) < 0) return -2;
            }
            if (gB) {
                /* pixel rows: both codes looked up at every change (cheaper than telling
                   which side changed) */
                while (m) {
                    e = b + (size_t)SM_CTZ64(m);
                    bit = m & (0 - m);
                    m ^= bit;
                    if (G->code == skip && !(gm & bit)) continue;  /* the prediction is not looked at */
                    if (emit(sink, G->code, P->code, e - j) < 0) return -3;
                    j = e;
                    if (gcode(G, e) < 0) return -1;
                    if (pcode(P, e) < 0) return -2;
                }
            } else {
                while (m) {
                    e = b + (size_t)SM_CTZ64(m);
                    bit = m & (0 - m);
                    m ^= bit;
                    was_skip = G->code == skip;
                    if (was_skip && !(gm & bit)) continue;
                    if (emit(sink, G->code, P->code, e - j) < 0) return -3;
                    j = e;
                    if ((gm & bit) && gcode(G, e) < 0) return -1;
                    if (((pm & bit) || was_skip) && pcode(P, e) < 0) return -2;
                }
            }
        }
    }
    if (j < w) {
        if (stale) {
            if (gB && gcode(G, j) < 0) return -1;
            if (pcode(P, j) < 0) return -2;
        }
        if (emit(sink, G->code, P->code, w - j) < 0) return -3;
    }
#if SM_SIMD
    if (used) {
        /* widen pt's window by this row's */
        if (gB) {
            rmin = sm_hmin8(gmn);
            rmax = sm_hmax8(gmx);
        }
        if (rmin < pt->gmin) pt->gmin = rmin;
        if (rmax > pt->gmax) pt->gmax = rmax;
        gv = sm_hmin8(pmn);
        if (gv < pt->pmin) pt->pmin = gv;
        gv = sm_hmax8(pmx);
        if (gv > pt->pmax) pt->pmax = gv;
    }
#else
    (void)used; (void)rmin; (void)rmax; (void)gv; (void)i; (void)k; (void)stale;
#endif
    return 0;
}

/* sm_walk for rows of 3-byte pixels (RGB ids): the next change found by sm_scan, one
   run at a time.  G and P are pixel rows of gB / pB bytes per pixel, or
   (gB == 0) G is cached runs.  Every run of a constant pair of raw values goes to
   emit(sink, G code, P code, length), in order; inside a run of G code `skip` the
   prediction is not looked at (the run ends where G changes; its P code is stale).
   Two pixel rows of one width are scanned together (one vector compare finds the next
   change of either), rows of different widths each apart (measured: scanning those
   together 16 pixels at a time is no faster).  Returns 0, or the first
   negative value: -1 G stopped, -2 P stopped (at one position G is asked first),
   -3 the sink stopped. */
SM_INLINE int sm_walk_scan(sm_side *G, sm_code_fn gcode, const int gB, sm_side *P, sm_code_fn pcode, const int pB,
                           size_t w, int32_t skip, sm_emit_fn emit, void *sink) {
    size_t j = 0, e, ge = 0, pe = 0;
    int skipping, chg = 0;
    const int joint = gB == pB && gB > 0;
    const size_t wsafe = G->wsafe < P->wsafe ? G->wsafe : P->wsafe;
    if (w == 0) return 0;
    if (gcode(G, 0) < 0) return -1;
    if (pcode(P, 0) < 0) return -2;
    if (!gB) ge = G->end;
    else if (!joint || G->code == skip) ge = sm_next_change(G->x, 1, w, G->wsafe, gB);
    if (!joint) pe = sm_next_change(P->x, 1, w, P->wsafe, pB);
    for (;;) {
        skipping = G->code == skip;
        if (skipping) e = ge;
        else if (joint) e = sm_scan(G->x, P->x, j + 1, w, wsafe, gB, &chg);
        else e = ge < pe ? ge : pe;
        if (emit(sink, G->code, P->code, e - j) < 0) return -3;
        if (e >= w) return 0;
        if (joint) {
            /* chg: which row changes at e; a skipped run ends where G changes, and the
               prediction may have changed anywhere in it */
            if (skipping) chg = 3;
            if (chg & 1) {
                if (gcode(G, e) < 0) return -1;
                if (G->code == skip) ge = sm_next_change(G->x, e + 1, w, G->wsafe, gB);
            }
            if ((chg & 2) && pcode(P, e) < 0) return -2;
        } else {
            if (e == ge) {
                if (gcode(G, e) < 0) return -1;
                ge = gB ? sm_next_change(G->x, e + 1, w, G->wsafe, gB) : G->end;
            }
            if (pe <= e) {
                if (pcode(P, e) < 0) return -2;
                pe = sm_next_change(P->x, e + 1, w, P->wsafe, pB);
            }
        }
        j = e;
    }
}

/* The walker: one row pair through sm_walk_blocks, or sm_walk_scan when a side has 3-byte
   pixels; no pair table. */
SM_INLINE int sm_walk(sm_side *G, sm_code_fn gcode, const int gB, sm_side *P, sm_code_fn pcode, const int pB,
                      size_t w, int32_t skip, sm_emit_fn emit, void *sink) {
    if (gB == 3 || pB == 3) return sm_walk_scan(G, gcode, gB, P, pcode, pB, w, skip, emit, sink);
    return sm_walk_blocks(G, gcode, gB, P, pcode, pB, w, skip, emit, sink, NULL);
}

/* ------------------------------------------------------------------ recording GT runs */

/* The ground-truth runs of a walk, for the cache: maximal runs of one code within a row
   (a row ends with sm_rec_flush), code + bias stored as uint16, lengths above 65535
   split; room for one run per pixel. */
typedef struct sm_rec {
    uint16_t *rv, *rl;
    size_t n;
    int32_t bias, cur;
    size_t len;
} sm_rec;

SM_INLINE void sm_rec_flush(sm_rec *r) {
    size_t len = r->len, part;
    while (len > 0) {
        part = len > 65535 ? 65535 : len;
        r->rv[r->n] = (uint16_t)(r->cur + r->bias);
        r->rl[r->n] = (uint16_t)part;
        r->n++;
        len -= part;
    }
    r->len = 0;
}

SM_INLINE void sm_rec_add(sm_rec *r, int32_t code, size_t n) {
    if (r->len && code != r->cur) sm_rec_flush(r);
    r->cur = code;
    r->len += n;
}

/* ------------------------------------------------------------------ a row as changes from the row above */

/* The one-buffer cold path keeps an 8-bit ground-truth image as its rows' differences from
   the row above while the prediction is inflated into the buffer that held it: for every
   row, a bit per block of SM_DBLOCK bytes that differs from the same block of the row
   above, and those blocks' bytes.  A row is put back by copying its blocks over the row
   above (most rows of a label map repeat most of the one above: on Cityscapes-like maps
   7 % of 32-byte blocks differ). */
#define SM_DBLOCK 32

/* Bit q % 64 of words[q / 64] set where block q of the n bytes at x differs from the block
   of p (blocks of SM_DBLOCK bytes; the last one is compared whole: up to SM_DBLOCK - 1 bytes
   after both rows must be readable, a difference there only adds a block). */
#if SM_SIMD && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) && __GNUC__ >= 5 || defined(__clang__))
#define SM_DIFF_AVX2 1
#include <immintrin.h>
/* sm_row_diff with one 32-byte compare a block (the compare is the whole cost; SSE2 needs
   two loads more a block) */
static __attribute__((target("avx2"))) void sm_row_diff_avx2(const uint8_t *x, const uint8_t *p, size_t n,
                                                              uint64_t *words) {
    const size_t nb = (n + SM_DBLOCK - 1) / SM_DBLOCK;
    size_t q, k, k1;
    uint64_t m;
    for (q = 0; q < nb; q += 64) {
        m = 0;
        k1 = nb - q < 64 ? nb : q + 64;
        for (k = q; k < k1; k++) {
            const __m256i e = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(x + k * SM_DBLOCK)),
                                                _mm256_loadu_si256((const __m256i *)(p + k * SM_DBLOCK)));
            m |= (uint64_t)((uint32_t)_mm256_movemask_epi8(e) != 0xFFFFFFFFu) << (k - q);
        }
        words[q / 64] = m;
    }
}
#else
#define SM_DIFF_AVX2 0
#endif
/* 2: sm_row_diff uses AVX2, 1: SSE2 or portable C, 0: not chosen yet */
static int sm_diff_level = 0;

/* Choose sm_row_diff's compare: AVX2 when want_avx2 and the processor has it (tests choose
   the other); the level chosen. */
static inline int sm_row_diff_select(int want_avx2) {
    int level = 1;
#if SM_DIFF_AVX2
    __builtin_cpu_init();
    if (want_avx2 && __builtin_cpu_supports("avx2")) level = 2;
#endif
    (void)want_avx2;
    sm_diff_level = level;
    return level;
}

SM_INLINE void sm_row_diff(const uint8_t *x, const uint8_t *p, size_t n, uint64_t *words) {
    const size_t nb = (n + SM_DBLOCK - 1) / SM_DBLOCK;
    size_t q, k, k1;
    uint64_t m;
#if SM_DIFF_AVX2
    if (sm_diff_level == 0) sm_row_diff_select(1);  /* (a module that did not choose at import) */
    if (sm_diff_level == 2) {
        sm_row_diff_avx2(x, p, n, words);
        return;
    }
#endif
    for (q = 0; q < nb; q += 64) {
        m = 0;
        k1 = nb - q < 64 ? nb : q + 64;
        for (k = q; k < k1; k++) {
#if SM_SIMD
            const __m128i e0 = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(x + k * SM_DBLOCK)),
                                              _mm_loadu_si128((const __m128i *)(p + k * SM_DBLOCK)));
            const __m128i e1 = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(x + k * SM_DBLOCK + 16)),
                                              _mm_loadu_si128((const __m128i *)(p + k * SM_DBLOCK + 16)));
            m |= (uint64_t)(_mm_movemask_epi8(_mm_and_si128(e0, e1)) != 0xFFFF) << (k - q);
#else
            m |= (uint64_t)(memcmp(x + k * SM_DBLOCK, p + k * SM_DBLOCK, SM_DBLOCK) != 0) << (k - q);
#endif
        }
        words[q / 64] = m;
    }
}

/* Copy the blocks of row x set in words (see sm_row_diff) to out, in order; the end of out. */
SM_INLINE uint8_t *sm_row_diff_store(const uint8_t *x, size_t n, const uint64_t *words, uint8_t *out) {
    const size_t nw = ((n + SM_DBLOCK - 1) / SM_DBLOCK + 63) / 64;
    size_t i;
    uint64_t m;
    for (i = 0; i < nw; i++)
        for (m = words[i]; m; m &= m - 1) {
            memcpy(out, x + (64 * i + (size_t)SM_CTZ64(m)) * SM_DBLOCK, SM_DBLOCK);
            out += SM_DBLOCK;
        }
    return out;
}

/* Copy the stored blocks at in over the row at r (the row above, or zeros), where words says;
   the end of in.  r needs room for whole blocks (up to SM_DBLOCK - 1 bytes after the row). */
SM_INLINE const uint8_t *sm_row_diff_load(uint8_t *r, size_t n, const uint64_t *words, const uint8_t *in) {
    const size_t nw = ((n + SM_DBLOCK - 1) / SM_DBLOCK + 63) / 64;
    size_t i;
    uint64_t m;
    for (i = 0; i < nw; i++)
        for (m = words[i]; m; m &= m - 1) {
            memcpy(r + (64 * i + (size_t)SM_CTZ64(m)) * SM_DBLOCK, in, SM_DBLOCK);
            in += SM_DBLOCK;
        }
    return in;
}

/* ------------------------------------------------------------------ the semantic sink */

/* The confusion matrix (rows = ground truth), bad-label counts, and (sm_sem_emit_more)
   the image's TP / FP / FN vectors and the recorder of the ground-truth runs; the pair
   table of busy 8-bit rows (pt.t NULL: none), folded into the rest by sm_sem_fold. */
typedef struct sm_sem_sink {
    int64_t *cm;
    int64_t K;
    int64_t bad_gt, bad_pred;
    int64_t *tp, *fp, *fn;     /* NULL, or length K each */
    sm_rec *rec;               /* NULL, or the recorder */
    sm_pt pt;
} sm_sem_sink;

SM_INLINE int sm_sem_emit(void *sink, int32_t g, int32_t p, size_t n) {
    sm_sem_sink *s = (sm_sem_sink *)sink;
    if (g >= 0) {
        if (p >= 0) s->cm[g * s->K + p] += (int64_t)n;
        else s->bad_pred += (int64_t)n;
    } else if (g == SM_BAD) {
        s->bad_gt += (int64_t)n;
    }
    return 0;
}

/* sm_sem_emit, the recorder (when set) and the image's vectors (when set) */
SM_INLINE int sm_sem_emit_more(void *sink, int32_t g, int32_t p, size_t n) {
    sm_sem_sink *s = (sm_sem_sink *)sink;
    if (s->rec) sm_rec_add(s->rec, g, n);
    if (s->tp && g >= 0 && p >= 0) {
        if (g == p) {
            s->tp[g] += (int64_t)n;
        } else {
            s->fn[g] += (int64_t)n;
            s->fp[p] += (int64_t)n;
        }
    }
    return sm_sem_emit(sink, g, p, n);
}

/* Only the bad-label counts (which row of an image first has a bad label). */
SM_INLINE int sm_sem_emit_bad(void *sink, int32_t g, int32_t p, size_t n) {
    sm_sem_sink *s = (sm_sem_sink *)sink;
    if (g >= 0) {
        if (p < 0) s->bad_pred += (int64_t)n;
    } else if (g == SM_BAD) {
        s->bad_gt += (int64_t)n;
    }
    return 0;
}

/* Take a pair table for the sink's next walks (when none can be had, they look up codes). */
static inline void sm_sem_pairs_begin(sm_sem_sink *s) { sm_pt_take(&s->pt); }

/* Add the pair table's counts to the sink as sm_sem_emit_more would have (matrix, bad
   labels, the image's vectors when set) and zero the table's window: rows are raw GT
   values coded by glut, or (glut NULL) cached codes + 2; columns raw prediction values
   coded by plut.  A GT row of an ignored value counts nowhere, of a bad value as bad GT;
   a bad prediction under a class as a bad prediction.  Where the prediction codes of the
   window's columns are the column plus a constant (class indices, or raw labels shifted
   by one), a row is added to the matrix as one vector loop. */
static inline void sm_sem_fold(sm_sem_sink *s, const sm_sem_lut *glut, const sm_sem_lut *plut) {
    sm_pt *pt = &s->pt;
    const uint32_t g0 = pt->gmin, g1 = pt->gmax, p0 = pt->pmin, p1 = pt->pmax;
    uint32_t r, q, L, any, *row;
    size_t x;
    int32_t pc[256], c, off;
    int64_t v, sum, diag, base;
    if (pt->t == NULL || g0 > g1 || p0 > p1) return;
    for (q = p0; q <= p1; q++) pc[q] = sm_sem_code(plut, q);
    off = pc[p0] >= 0 ? pc[p0] - (int32_t)p0 : 0;
    for (L = p0; L <= p1 && pc[L] >= 0 && pc[L] == (int32_t)L + off; L++) {
    }
    for (r = g0; r <= g1; r++) {
        row = pt->t + ((size_t)r << 8);
        any = 0;
        /* a loop of known trip count (q <= p1 is not one: the compiler cannot vectorise it) */
        for (x = p0; x < (size_t)p1 + 1; x++) any |= row[x];
        if (!any) continue;
        c = glut ? sm_sem_code(glut, r) : (int32_t)r - 2;
        if (c < 0) {
            if (c == SM_BAD)
                for (q = p0; q <= p1; q++) s->bad_gt += row[q];
            memset(row + p0, 0, (size_t)(p1 - p0 + 1) * sizeof(uint32_t));
            continue;
        }
        base = (int64_t)c * s->K + off;
        sum = diag = 0;
        if (s->tp) {
            if (c - off >= (int32_t)p0 && c - off < (int32_t)L) diag = row[c - off];
            for (q = p0; q < L; q++) {
                v = row[q];
                s->cm[base + q] += v;
                s->fp[q + off] += v;
                sum += v;
                row[q] = 0;
            }
        } else {
            for (q = p0; q < L; q++) {
                s->cm[base + q] += row[q];
                row[q] = 0;
            }
        }
        for (q = L; q <= p1; q++) {
            v = row[q];
            if (!v) continue;
            row[q] = 0;
            if (pc[q] < 0) {
                s->bad_pred += v;
                continue;
            }
            s->cm[(int64_t)c * s->K + pc[q]] += v;
            if (s->tp) {
                s->fp[pc[q]] += v;
                sum += v;
                if (pc[q] == c) diag += v;
            }
        }
        if (s->tp) {
            s->tp[c] += diag;
            s->fn[c] += sum - diag;
            s->fp[c] -= diag;
        }
    }
    pt->gmin = pt->pmin = 256;
    pt->gmax = pt->pmax = 0;
}

/* Fold what is left (see sm_sem_fold) and give the table back. */
static inline void sm_sem_pairs_end(sm_sem_sink *s, const sm_sem_lut *glut, const sm_sem_lut *plut) {
    sm_sem_fold(s, glut, plut);
    sm_pt_give(&s->pt);
}

/* One semantic row pair of 8- or 16-bit PNG samples (gB / pB bytes; gB 0: cached GT runs;
   code tables of 65536 entries),
   counted by sm_sem_emit, (mode 1) sm_sem_emit_more or (mode 2) sm_sem_emit_bad: every
   combination gets its own inlined walker.  8-bit predictions against 8-bit GT or cached
   runs use the sink's pair table, if it has one, unless mode 2 or the runs are recorded. */
static inline int sm_walk_sem(sm_side *G, int gB, sm_side *P, int pB, size_t w, int mode, sm_sem_sink *sink) {
    sm_pt *pt = sink->pt.t && !sink->rec && mode != 2 ? &sink->pt : NULL;
#define SM_SEM_WALK(GC, GB, PC, PB, PT)                                                                      \
    return mode == 1   ? sm_walk_blocks(G, GC, GB, P, PC, PB, w, SM_IGNORED, sm_sem_emit_more, sink, PT)      \
           : mode == 0 ? sm_walk_blocks(G, GC, GB, P, PC, PB, w, SM_IGNORED, sm_sem_emit, sink, PT)           \
                       : sm_walk_blocks(G, GC, GB, P, PC, PB, w, SM_IGNORED, sm_sem_emit_bad, sink, NULL)
    if (gB == 0) {
        if (pB == 1) SM_SEM_WALK(sm_sem_runs, 0, sm_sem_u8f, 1, pt);
        SM_SEM_WALK(sm_sem_runs, 0, sm_sem_be16, 2, NULL);
    }
    if (gB == 1) {
        if (pB == 1) SM_SEM_WALK(sm_sem_u8f, 1, sm_sem_u8f, 1, pt);
        SM_SEM_WALK(sm_sem_u8f, 1, sm_sem_be16, 2, NULL);
    }
    if (pB == 1) SM_SEM_WALK(sm_sem_be16, 2, sm_sem_u8f, 1, NULL);
    SM_SEM_WALK(sm_sem_be16, 2, sm_sem_be16, 2, NULL);
#undef SM_SEM_WALK
}

#endif /* SM_WALK_H */
