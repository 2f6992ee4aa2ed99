/* The run-length row walker: the one counting loop of every segmetrics kernel.
 *
 * A row pair (ground truth, prediction) is walked as runs: the next pixel that
 * differs from its left neighbour is found by comparing a row with itself shifted by
 * one pixel, 32 bytes per step (two SSE2 compares; 8 bytes without SSE2), both rows at
 * once when their pixels have one width, and a value is turned into a code only where
 * a run starts.  Whenever either side starts a new run,
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

/* ------------------------------------------------------------------ the walker */

/* Walk one row pair of w pixels.  G and P are pixel rows of gB / pB bytes per pixel, or
   (gB == 0) G is cached runs.  Every run of a constant pair of raw values goes to
   emit(sink, G code, P code, length), in order; inside a run of G code `skip` the
   prediction is not looked at (the run ends where G changes; its P code is stale).
   Two pixel rows of one width are scanned together (one vector compare finds the next
   change of either), rows of different widths each apart (measured: scanning those
   together 16 pixels at a time is no faster).  Returns 0, or the first
   negative value: -1 G stopped, -2 P stopped (at one position G is asked first),
   -3 the sink stopped. */
SM_INLINE int sm_walk(sm_side *G, sm_code_fn gcode, const int gB, sm_side *P, sm_code_fn pcode, const int pB,
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

/* ------------------------------------------------------------------ the semantic sink */

/* The confusion matrix (rows = ground truth), bad-label counts, and (sm_sem_emit_more)
   the image's TP / FP / FN vectors and the recorder of the ground-truth runs. */
typedef struct sm_sem_sink {
    int64_t *cm;
    int64_t K;
    int64_t bad_gt, bad_pred;
    int64_t *tp, *fp, *fn;     /* NULL, or length K each */
    sm_rec *rec;               /* NULL, or the recorder */
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

/* One semantic row pair of 8- or 16-bit PNG samples (gB / pB bytes; gB 0: cached GT runs),
   counted by sm_sem_emit or (more) sm_sem_emit_more: every combination gets its own
   inlined walker. */
static inline int sm_walk_sem(sm_side *G, int gB, sm_side *P, int pB, size_t w, int more, sm_sem_sink *sink) {
#define SM_SEM_WALK(GC, GB, PC, PB)                                                                   \
    return more ? sm_walk(G, GC, GB, P, PC, PB, w, SM_IGNORED, sm_sem_emit_more, sink)                \
                : sm_walk(G, GC, GB, P, PC, PB, w, SM_IGNORED, sm_sem_emit, sink)
    if (gB == 0) {
        if (pB == 1) SM_SEM_WALK(sm_sem_runs, 0, sm_sem_u8, 1);
        SM_SEM_WALK(sm_sem_runs, 0, sm_sem_be16, 2);
    }
    if (gB == 1) {
        if (pB == 1) SM_SEM_WALK(sm_sem_u8, 1, sm_sem_u8, 1);
        SM_SEM_WALK(sm_sem_u8, 1, sm_sem_be16, 2);
    }
    if (pB == 1) SM_SEM_WALK(sm_sem_be16, 2, sm_sem_u8, 1);
    SM_SEM_WALK(sm_sem_be16, 2, sm_sem_be16, 2);
#undef SM_SEM_WALK
}

#endif /* SM_WALK_H */
