/* Panoptic counting: segment ids to dense indices, and the table of present pairs.
 *
 * Dense indices: 0 is void (id 0), 1..n the listed segment ids in ascending order,
 * found through an open-addressing hash of the ids (sm_ids).
 *
 * The intersection table counts pixels per (GT dense index, prediction dense index)
 * pair.  Only pairs that occur are stored: a small image (at most SM_DENSE_CELLS
 * cells in the full (n_gt + 1) x (n_pred + 1) table) uses the full table, anything
 * larger a hash of the present pairs, so memory and time are linear in pixels plus
 * present pairs however many segments an image has.  sm_pairs_sort then lists the
 * pairs in row-major (GT, prediction) order, the order the statistics (sm_pq.h)
 * walk them in.
 */
#ifndef SM_PAIRS_H
#define SM_PAIRS_H

#include <stdlib.h>
#include "sm_walk.h"

/* Largest full table used as such (cells); bigger tables are hashed. */
#ifndef SM_DENSE_CELLS
#define SM_DENSE_CELLS 16384
#endif

/* Grow *p (elements of `size` bytes, capacity *cap) to hold n; -1 if out of memory.
   The contents are not kept. */
static inline int sm_reserve(void **p, size_t *cap, size_t n, size_t size) {
    void *q;
    if (*cap >= n) return 0;
    free(*p);
    *p = NULL;
    *cap = 0;
    q = malloc((n ? n : 1) * size);
    if (q == NULL) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------------ segment ids */

typedef struct sm_ids {
    uint32_t *keys;
    int32_t *vals;
    size_t cap;      /* allocated slots */
    uint32_t mask;   /* slots in use - 1 */
} sm_ids;

#define SM_NO_ID 0xFFFFFFFFu

SM_INLINE uint32_t sm_id_slot(uint32_t key, uint32_t mask) {
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* Hash of the n ascending ids (all in [1, 2^32 - 2]) to 1..n; -1 if out of memory. */
static inline int sm_ids_build(sm_ids *t, const int64_t *ids, size_t n) {
    size_t size = 16, i, k;
    uint32_t slot, key;
    while (size < 4 * (n + 1)) size <<= 1;
    if (t->cap < size) {
        free(t->keys);
        free(t->vals);
        t->keys = (uint32_t *)malloc(size * sizeof(uint32_t));
        t->vals = (int32_t *)malloc(size * sizeof(int32_t));
        t->cap = t->keys && t->vals ? size : 0;
        if (!t->cap) return -1;
    }
    t->mask = (uint32_t)(size - 1);
    for (k = 0; k < size; k++) t->keys[k] = SM_NO_ID;
    for (i = 0; i < n; i++) {
        key = (uint32_t)ids[i];
        slot = sm_id_slot(key, t->mask);
        while (t->keys[slot] != SM_NO_ID) slot = (slot + 1) & t->mask;
        t->keys[slot] = key;
        t->vals[slot] = (int32_t)(i + 1);
    }
    return 0;
}

static inline void sm_ids_free(sm_ids *t) {
    free(t->keys);
    free(t->vals);
    t->keys = NULL;
    t->vals = NULL;
    t->cap = 0;
}

/* Dense index of a pixel id: 0 for void, 1..n for listed ids, -1 if not listed. */
SM_INLINE int32_t sm_id_lookup(const sm_ids *t, uint32_t key) {
    uint32_t slot;
    if (key == 0) return 0;
    slot = sm_id_slot(key, t->mask);
    while (t->keys[slot] != SM_NO_ID) {
        if (t->keys[slot] == key) return t->vals[slot];
        slot = (slot + 1) & t->mask;
    }
    return -1;
}

/* Panoptic pixel sides: RGB PNG rows / RGB arrays, native uint32 id arrays. */
SM_INLINE int sm_pan_rgb(sm_side *s, size_t e) {
    s->code = sm_id_lookup((const sm_ids *)s->lut, (uint32_t)sm_val_rgb(s->x, e));
    return s->code;
}
SM_INLINE int sm_pan_u32(sm_side *s, size_t e) {
    s->code = sm_id_lookup((const sm_ids *)s->lut, (uint32_t)sm_val_u32(s->x, e));
    return s->code;
}

/* ------------------------------------------------------------------ the pair table */

typedef struct sm_pairs {
    uint64_t width;            /* n_pred + 1: a pair's key is g * width + p */
    uint64_t rows;             /* n_gt + 1 */
    int hashed;
    int64_t *cells;            /* the full table (not hashed) */
    size_t cells_cap;
    uint64_t *keys;            /* the hash (hashed): keys, counts */
    int64_t *counts;
    size_t hash_cap, slots, used;
    int shift;
    sm_rec *rec;               /* NULL, or the recorder of the GT runs */
    /* the present pairs in row-major order (sm_pairs_sort) */
    uint32_t *g, *p;
    int64_t *c;
    size_t n, cap;
    /* sorting scratch */
    uint64_t *tkey;
    int64_t *tcount;
    size_t tcap;
    size_t *bucket;
    size_t bucket_cap;
} sm_pairs;

#define SM_NO_PAIR 0xFFFFFFFFFFFFFFFFull

static inline int sm_pairs_alloc_hash(sm_pairs *t, size_t slots) {
    size_t k;
    if (t->hash_cap < slots) {
        free(t->keys);
        free(t->counts);
        t->keys = (uint64_t *)malloc(slots * sizeof(uint64_t));
        t->counts = (int64_t *)malloc(slots * sizeof(int64_t));
        t->hash_cap = t->keys && t->counts ? slots : 0;
        if (!t->hash_cap) return -1;
    }
    t->slots = slots;
    t->shift = 64;
    for (k = slots; k > 1; k >>= 1) t->shift--;
    for (k = 0; k < slots; k++) t->keys[k] = SM_NO_PAIR;
    t->used = 0;
    return 0;
}

/* Start an image of n_gt x n_pred segments; -1 if out of memory. */
static inline int sm_pairs_start(sm_pairs *t, size_t n_gt, size_t n_pred) {
    size_t slots = 1024;
    t->width = (uint64_t)n_pred + 1;
    t->rows = (uint64_t)n_gt + 1;
    t->n = 0;
    t->hashed = t->rows * t->width > SM_DENSE_CELLS;
    if (!t->hashed) {
        if (sm_reserve((void **)&t->cells, &t->cells_cap, (size_t)(t->rows * t->width), sizeof(int64_t)))
            return -1;
        memset(t->cells, 0, (size_t)(t->rows * t->width) * sizeof(int64_t));
        return 0;
    }
    while (slots < 2 * (n_gt + n_pred + 1)) slots <<= 1;
    return sm_pairs_alloc_hash(t, slots);
}

SM_INLINE size_t sm_pair_slot(const sm_pairs *t, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> t->shift);
}

/* Twice the slots, every pair moved over; -1 if out of memory (the table is unchanged). */
static inline int sm_pairs_grow(sm_pairs *t) {
    size_t old = t->slots, k, slot, slots = 2 * t->slots, mask;
    uint64_t *keys = (uint64_t *)malloc(slots * sizeof(uint64_t));
    int64_t *counts = (int64_t *)malloc(slots * sizeof(int64_t));
    int shift = t->shift - 1;
    if (keys == NULL || counts == NULL) {
        free(keys);
        free(counts);
        return -1;
    }
    mask = slots - 1;
    for (k = 0; k < slots; k++) keys[k] = SM_NO_PAIR;
    for (k = 0; k < old; k++) {
        if (t->keys[k] == SM_NO_PAIR) continue;
        slot = (size_t)((t->keys[k] * 0x9E3779B97F4A7C15ull) >> shift);
        while (keys[slot] != SM_NO_PAIR) slot = (slot + 1) & mask;
        keys[slot] = t->keys[k];
        counts[slot] = t->counts[k];
    }
    free(t->keys);
    free(t->counts);
    t->keys = keys;
    t->counts = counts;
    t->hash_cap = t->slots = slots;
    t->shift = shift;
    return 0;
}

/* Add n pixels to pair (g, p); -1 if out of memory. */
SM_INLINE int sm_pairs_add(sm_pairs *t, uint32_t g, uint32_t p, int64_t n) {
    uint64_t key = (uint64_t)g * t->width + p;
    size_t slot;
    if (!t->hashed) {
        t->cells[key] += n;
        return 0;
    }
    slot = sm_pair_slot(t, key);
    while (t->keys[slot] != SM_NO_PAIR) {
        if (t->keys[slot] == key) {
            t->counts[slot] += n;
            return 0;
        }
        slot = (slot + 1) & (t->slots - 1);
    }
    if (2 * (t->used + 1) > t->slots) {  /* a new pair: keep the load at most one half */
        if (sm_pairs_grow(t)) return -1;
        slot = sm_pair_slot(t, key);
        while (t->keys[slot] != SM_NO_PAIR) slot = (slot + 1) & (t->slots - 1);
    }
    t->keys[slot] = key;
    t->counts[slot] = n;
    t->used++;
    return 0;
}

/* The walker's sink (the recorder, when set, takes the GT runs). */
SM_INLINE int sm_pairs_emit(void *sink, int32_t g, int32_t p, size_t n) {
    sm_pairs *t = (sm_pairs *)sink;
    if (t->rec) sm_rec_add(t->rec, g, n);
    return sm_pairs_add(t, (uint32_t)g, (uint32_t)p, (int64_t)n);
}

/* One stable counting-sort pass of n (key, count) entries by key / div % mod. */
static inline void sm_pairs_pass(const uint64_t *key, const int64_t *count, uint64_t *okey, int64_t *ocount,
                          size_t n, uint64_t div, uint64_t mod, size_t *bucket) {
    size_t i, b, sum = 0, c;
    for (b = 0; b < mod; b++) bucket[b] = 0;
    for (i = 0; i < n; i++) bucket[(key[i] / div) % mod]++;
    for (b = 0; b < mod; b++) {
        c = bucket[b];
        bucket[b] = sum;
        sum += c;
    }
    for (i = 0; i < n; i++) {
        b = (size_t)((key[i] / div) % mod);
        okey[bucket[b]] = key[i];
        ocount[bucket[b]] = count[i];
        bucket[b]++;
    }
}

/* List the present pairs in row-major order into t->g, t->p, t->c (t->n of them);
   -1 if out of memory. */
static inline int sm_pairs_sort(sm_pairs *t) {
    size_t n = 0, k, total = 0, cap;
    uint64_t *key;
    int64_t *count;
    if (!t->hashed) {
        total = (size_t)(t->rows * t->width);
        for (k = 0; k < total; k++) n += t->cells[k] != 0;
    } else {
        n = t->used;
    }
    if (t->cap < n) {
        free(t->g);
        free(t->p);
        free(t->c);
        t->g = (uint32_t *)malloc(n * sizeof(uint32_t));
        t->p = (uint32_t *)malloc(n * sizeof(uint32_t));
        t->c = (int64_t *)malloc(n * sizeof(int64_t));
        t->cap = t->g && t->p && t->c ? n : 0;
        if (!t->cap) return -1;
    }
    t->n = n;
    if (!t->hashed) {
        n = 0;
        for (k = 0; k < total; k++) {
            if (t->cells[k] == 0) continue;
            t->g[n] = (uint32_t)(k / t->width);
            t->p[n] = (uint32_t)(k % t->width);
            t->c[n] = t->cells[k];
            n++;
        }
        return 0;
    }
    /* gather, then two stable counting passes: by prediction, then by GT */
    if (t->tcap < 2 * n) {
        free(t->tkey);
        free(t->tcount);
        t->tkey = (uint64_t *)malloc((2 * n + 1) * sizeof(uint64_t));
        t->tcount = (int64_t *)malloc((2 * n + 1) * sizeof(int64_t));
        t->tcap = t->tkey && t->tcount ? 2 * n : 0;
        if (!t->tcap) return -1;
    }
    cap = (size_t)(t->rows > t->width ? t->rows : t->width);
    if (sm_reserve((void **)&t->bucket, &t->bucket_cap, cap, sizeof(size_t))) return -1;
    key = t->tkey;
    count = t->tcount;
    n = 0;
    for (k = 0; k < t->slots; k++) {
        if (t->keys[k] == SM_NO_PAIR) continue;
        key[n] = t->keys[k];
        count[n] = t->counts[k];
        n++;
    }
    sm_pairs_pass(key, count, key + n, count + n, n, 1, t->width, t->bucket);
    sm_pairs_pass(key + n, count + n, key, count, n, t->width, t->rows, t->bucket);
    for (k = 0; k < n; k++) {
        t->g[k] = (uint32_t)(key[k] / t->width);
        t->p[k] = (uint32_t)(key[k] % t->width);
        t->c[k] = count[k];
    }
    return 0;
}

static inline void sm_pairs_free(sm_pairs *t) {
    free(t->cells);
    free(t->keys);
    free(t->counts);
    free(t->g);
    free(t->p);
    free(t->c);
    free(t->tkey);
    free(t->tcount);
    free(t->bucket);
    memset(t, 0, sizeof(*t));
}

#endif /* SM_PAIRS_H */
