/* panopticapi's per-image rules on the present pairs of one image: the one copy.
 *
 * Input: the pairs of sm_pairs_sort (row-major (GT, prediction) dense indices, 0 =
 * void) and the image's segment columns.  In order:
 *   1. pixel counts per segment; a listed segment without pixels -> SM_PQ_EMPTY;
 *   2. GT areas: the PNG count with `recompute` or where the JSON has none (NaN),
 *      else the JSON area; one that differs from the PNG is stale: listed in
 *      `stale`, or SM_PQ_STALE when `stale` is NULL (nothing is added then);
 *   3. the crowd segment of each category: the last listed one;
 *   4. matching, pairs in row-major order: GT g and prediction p match iff same
 *      category, g not crowd and |g & p| / (|p| + area(g) - |g & p| - |p & void|) > 0.5;
 *   5. unmatched non-crowd GT segments are false negatives; an unmatched prediction is
 *      a false positive unless more than half of it lies on void or on the crowd
 *      segment of its category;
 *   6. the category confusion: each GT segment's pixels by the category of the
 *      prediction over them (prediction void -> column K; GT void not counted).
 * Steps 1-2 run before anything is added, so an image is added whole or not at all.
 * Afterwards the scratch holds each segment's outcome (SM_PQ_SEG_*): gm[g - 1] for GT
 * segment g (matched, missed = false negative, or not scored: crowd) and pm[p] for
 * prediction p (matched, missed = false positive, or not scored: mostly on void or crowd).
 */
#ifndef SM_PQ_H
#define SM_PQ_H

#include "sm_pairs.h"

enum { SM_PQ_OK = 0, SM_PQ_EMPTY = 1, SM_PQ_STALE = 2, SM_PQ_NOMEM = 3 };
/* Per-segment outcomes left in gm / pm by sm_pq_add_image. */
enum { SM_PQ_SEG_NOT_SCORED = 0, SM_PQ_SEG_MATCHED = 1, SM_PQ_SEG_MISSED = 2 };

/* One image's segment columns, in dense order (ascending ids). */
typedef struct sm_pq_image {
    size_t ng, npr;
    const int64_t *gcat;       /* dense category of each GT segment */
    const uint8_t *gcrowd;
    const double *garea;       /* JSON areas, NaN where absent */
    const int64_t *gorder;     /* listing position */
    const int64_t *pcat;
    int recompute;             /* areas from the PNG */
    int64_t index;             /* the image's index, stored with its matches */
} sm_pq_image;

/* Where the statistics go, and per-segment scratch. */
typedef struct sm_pq {
    size_t K;
    int64_t *tp, *fp, *fn;           /* length K, added to */
    int64_t *itp, *ifp, *ifn;        /* NULL, or the image's own vectors, added to */
    int64_t *match_cat, *match_image;
    double *match_iou;               /* room for one more match per present pair */
    size_t n_match;
    int64_t *confusion;              /* (K + 1) x (K + 1) added to, or NULL: */
    int64_t *conf_index, *conf_count;/*   entries (flat index, pixels) appended, room for n pairs */
    size_t n_conf;
    int64_t *stale;                  /* NULL, or room for ng dense GT indices */
    size_t n_stale;
    int64_t *crowd_of_cat;           /* length K, all 0 between images */
    /* scratch, seg_cap entries each: GT pixels (g - 1), areas (g - 1), prediction
       pixels / pixels on void / pixels on its category's crowd segment (p) */
    int64_t *gpix, *ppix, *pvoid, *pcrowd;
    double *area;
    uint8_t *gm, *pm;
    size_t seg_cap;
} sm_pq;

/* Scratch for images of up to n segments per side; -1 if out of memory. */
static inline int sm_pq_reserve(sm_pq *q, size_t n) {
    n += 1;
    if (q->seg_cap >= n) return 0;
    free(q->gpix); free(q->ppix); free(q->pvoid); free(q->pcrowd);
    free(q->area); free(q->gm); free(q->pm);
    q->gpix = (int64_t *)malloc(n * sizeof(int64_t));
    q->ppix = (int64_t *)malloc(n * sizeof(int64_t));
    q->pvoid = (int64_t *)malloc(n * sizeof(int64_t));
    q->pcrowd = (int64_t *)malloc(n * sizeof(int64_t));
    q->area = (double *)malloc(n * sizeof(double));
    q->gm = (uint8_t *)malloc(n);
    q->pm = (uint8_t *)malloc(n);
    q->seg_cap = (q->gpix && q->ppix && q->pvoid && q->pcrowd && q->area && q->gm && q->pm) ? n : 0;
    return q->seg_cap ? 0 : -1;
}

static inline void sm_pq_free(sm_pq *q) {
    free(q->gpix); free(q->ppix); free(q->pvoid); free(q->pcrowd);
    free(q->area); free(q->gm); free(q->pm);
    q->gpix = q->ppix = q->pvoid = q->pcrowd = NULL;
    q->area = NULL;
    q->gm = q->pm = NULL;
    q->seg_cap = 0;
}

/* Pixel counts per segment (steps 1): GT into gpix[g - 1], prediction into ppix[p],
   prediction pixels on GT void into pvoid[p]; SM_PQ_EMPTY when a listed segment has
   none.  Needs sm_pq_reserve(q, max(ng, npr)). */
static inline int sm_pq_pixels(sm_pq *q, const sm_pairs *t, size_t ng, size_t npr) {
    size_t k, g, p;
    for (g = 0; g < ng; g++) q->gpix[g] = 0;
    for (p = 0; p <= npr; p++) q->ppix[p] = q->pvoid[p] = 0;
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        p = t->p[k];
        q->ppix[p] += t->c[k];
        if (g) q->gpix[g - 1] += t->c[k];
        else q->pvoid[p] = t->c[k];
    }
    for (g = 0; g < ng; g++)
        if (q->gpix[g] == 0) return SM_PQ_EMPTY;
    for (p = 1; p <= npr; p++)
        if (q->ppix[p] == 0) return SM_PQ_EMPTY;
    return SM_PQ_OK;
}

static inline int sm_pq_add_image(sm_pq *q, const sm_pairs *t, const sm_pq_image *im) {
    size_t ng = im->ng, npr = im->npr, K = q->K, g, p, k, c;
    int64_t cur, ignored, inter, cat;
    double a, union_, iou;
    int status;
    if (sm_pq_reserve(q, ng > npr ? ng : npr)) return SM_PQ_NOMEM;
    status = sm_pq_pixels(q, t, ng, npr);
    if (status != SM_PQ_OK) return status;
    /* 2. areas */
    q->n_stale = 0;
    for (g = 0; g < ng; g++) {
        a = im->garea[g];
        if (im->recompute || a != a) {
            q->area[g] = (double)q->gpix[g];
        } else {
            if (a != (double)q->gpix[g]) {
                if (q->stale == NULL) return SM_PQ_STALE;
                q->stale[q->n_stale++] = (int64_t)g;
            }
            q->area[g] = a;
        }
        q->gm[g] = 0;
    }
    for (p = 0; p <= npr; p++) {
        q->pm[p] = 0;
        q->pcrowd[p] = 0;
    }
    /* 3. the crowd segment that counts per category: the last listed one (1-based) */
    for (g = 0; g < ng; g++) {
        if (!im->gcrowd[g]) continue;
        cat = im->gcat[g];
        cur = q->crowd_of_cat[cat];
        if (cur == 0 || im->gorder[g] > im->gorder[cur - 1]) q->crowd_of_cat[cat] = (int64_t)(g + 1);
    }
    /* 4. matching */
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        p = t->p[k];
        if (g == 0 || p == 0) continue;
        inter = t->c[k];
        cat = im->pcat[p - 1];
        if (q->crowd_of_cat[cat] == (int64_t)g) q->pcrowd[p] = inter;
        if (im->gcrowd[g - 1] || im->gcat[g - 1] != cat) continue;
        union_ = ((double)q->ppix[p] + q->area[g - 1]) - (double)inter - (double)q->pvoid[p];
        iou = (double)inter / union_;
        if (iou > 0.5) {
            q->tp[cat] += 1;
            if (q->itp) q->itp[cat] += 1;
            q->match_cat[q->n_match] = cat;
            q->match_iou[q->n_match] = iou;
            q->match_image[q->n_match] = im->index;
            q->n_match++;
            q->gm[g - 1] = SM_PQ_SEG_MATCHED;
            q->pm[p] = SM_PQ_SEG_MATCHED;
        }
    }
    /* 5. false negatives and false positives */
    for (g = 0; g < ng; g++) {
        if (q->gm[g] || im->gcrowd[g]) continue;
        q->gm[g] = SM_PQ_SEG_MISSED;
        q->fn[im->gcat[g]] += 1;
        if (q->ifn) q->ifn[im->gcat[g]] += 1;
    }
    for (p = 1; p <= npr; p++) {
        if (q->pm[p]) continue;
        cat = im->pcat[p - 1];
        ignored = q->pvoid[p];
        if (q->crowd_of_cat[cat] > 0) ignored += q->pcrowd[p];
        if (q->ppix[p] > 0 && (double)ignored / (double)q->ppix[p] > 0.5) continue;
        q->pm[p] = SM_PQ_SEG_MISSED;
        q->fp[cat] += 1;
        if (q->ifp) q->ifp[cat] += 1;
    }
    for (g = 0; g < ng; g++)
        if (im->gcrowd[g]) q->crowd_of_cat[im->gcat[g]] = 0;
    /* 6. category confusion */
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        if (g == 0) continue;
        p = t->p[k];
        c = (size_t)im->gcat[g - 1] * (K + 1) + (p ? (size_t)im->pcat[p - 1] : K);
        if (q->confusion) {
            q->confusion[c] += t->c[k];
        } else {
            q->conf_index[q->n_conf] = (int64_t)c;
            q->conf_count[q->n_conf] = t->c[k];
            q->n_conf++;
        }
    }
    return SM_PQ_OK;
}

#endif /* SM_PQ_H */
