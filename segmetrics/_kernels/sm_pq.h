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
 *      category, g not crowd and IoU > 0.5, with the mask IoU
 *      |g & p| / (|p| + area(g) - |g & p| - |p & void|);
 *   5. unmatched non-crowd GT segments are false negatives; an unmatched prediction is
 *      a false positive unless more than half of it lies on void or on the crowd
 *      segment of its category;
 *   6. the category confusion: each GT segment's pixels by the category of the
 *      prediction over them (prediction void -> column K; GT void not counted).
 * Steps 4-5 run once with the mask IoU (PQ) and, when the image comes with its bands,
 * once more with IoU = min(mask IoU, boundary IoU) (Boundary PQ, Cheng et al. 2021):
 *      boundary IoU = |G_b & P_b| / (|P_b| + |G_b| - |G_b & P_b| - |P_b & void|)
 * with each segment's band from its own mask; the false-positive rule of step 5 still
 * uses the mask overlap.  The mask pass also lists, for PQ-dagger (Porzi et al. 2019),
 * every same-category pair of a stuff category whose GT segment is not crowd with its
 * mask IoU (no threshold), and counts the non-crowd GT segments per category.
 * Steps 1-2 run before anything is added, so an image is added whole or not at all.
 * Afterwards the scratch holds each segment's outcome (SM_PQ_SEG_*): gm[g - 1] for GT
 * segment g (matched, missed = false negative, or not scored: crowd) and pm[p] for
 * prediction p (matched, missed = false positive, or not scored: mostly on void or crowd).
 */
#ifndef SM_PQ_H
#define SM_PQ_H

#include "sm_pairs.h"

enum { SM_PQ_OK = 0, SM_PQ_EMPTY = 1, SM_PQ_STALE = 2, SM_PQ_NOMEM = 3 };
/* Per-segment outcomes left in gm / pm by sm_pq_add_image (of the mask matching). */
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
    /* Boundary PQ (band NULL: off): per pair entry k, |G_b & P_b| (g > 0) or |P_b & void|
       (g = 0); interior areas gin[g] (g = 1..ng) and pin[p] (p = 1..npr), the pixels of a
       segment outside its band: |G_b| = |g| - gin[g], |P_b| = |p| - pin[p] (PNG counts). */
    const int64_t *band, *gin, *pin;
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
    /* Boundary PQ (images with a band): as tp ... match_iou, room as for those */
    int64_t *btp, *bfp, *bfn;
    int64_t *ibtp, *ibfp, *ibfn;
    int64_t *bmatch_cat, *bmatch_image;
    double *bmatch_iou;
    size_t n_bmatch;
    /* PQ-dagger (stuff_cat NULL: off): stuff pairs' category and mask IoU, room for one
       per present pair; isthing (K); non-crowd GT segments per category (K, added to) */
    const uint8_t *isthing;
    int64_t *stuff_cat;
    double *stuff_iou;
    size_t n_stuff;
    int64_t *gseg;
    /* scratch, seg_cap entries each: GT pixels (g - 1), areas (g - 1), prediction
       pixels / pixels on void / pixels on its category's crowd segment / band pixels on
       void (p) */
    int64_t *gpix, *ppix, *pvoid, *pcrowd, *pbvoid;
    double *area;
    uint8_t *gm, *pm;
    size_t seg_cap;
} sm_pq;

/* Scratch for images of up to n segments per side; -1 if out of memory. */
static inline int sm_pq_reserve(sm_pq *q, size_t n) {
    n += 1;
    if (q->seg_cap >= n) return 0;
    free(q->gpix); free(q->ppix); free(q->pvoid); free(q->pcrowd); free(q->pbvoid);
    free(q->area); free(q->gm); free(q->pm);
    q->gpix = (int64_t *)malloc(n * sizeof(int64_t));
    q->pbvoid = (int64_t *)malloc(n * sizeof(int64_t));
    q->ppix = (int64_t *)malloc(n * sizeof(int64_t));
    q->pvoid = (int64_t *)malloc(n * sizeof(int64_t));
    q->pcrowd = (int64_t *)malloc(n * sizeof(int64_t));
    q->area = (double *)malloc(n * sizeof(double));
    q->gm = (uint8_t *)malloc(n);
    q->pm = (uint8_t *)malloc(n);
    q->seg_cap = (q->gpix && q->ppix && q->pvoid && q->pcrowd && q->pbvoid && q->area && q->gm && q->pm) ? n : 0;
    return q->seg_cap ? 0 : -1;
}

static inline void sm_pq_free(sm_pq *q) {
    free(q->gpix); free(q->ppix); free(q->pvoid); free(q->pcrowd); free(q->pbvoid);
    free(q->area); free(q->gm); free(q->pm);
    q->gpix = q->ppix = q->pvoid = q->pcrowd = q->pbvoid = NULL;
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

/* Steps 4-5 with the mask IoU (boundary 0: into tp ... match_iou, and the PQ-dagger
   stuff pairs) or with min(mask IoU, boundary IoU) (boundary 1: into btp ...
   bmatch_iou).  Needs steps 1-3 and pcrowd / pbvoid. */
static inline void sm_pq_match(sm_pq *q, const sm_pairs *t, const sm_pq_image *im, int boundary) {
    size_t ng = im->ng, npr = im->npr, g, p, k;
    int64_t ignored, inter, cat, b;
    int64_t *tp = boundary ? q->btp : q->tp, *fp = boundary ? q->bfp : q->fp, *fn = boundary ? q->bfn : q->fn;
    int64_t *itp = boundary ? q->ibtp : q->itp, *ifp = boundary ? q->ibfp : q->ifp;
    int64_t *ifn = boundary ? q->ibfn : q->ifn;
    int64_t *mcat = boundary ? q->bmatch_cat : q->match_cat, *mimg = boundary ? q->bmatch_image : q->match_image;
    double *miou = boundary ? q->bmatch_iou : q->match_iou;
    size_t m = boundary ? q->n_bmatch : q->n_match;
    int dagger = !boundary && q->stuff_cat != NULL;
    double iou, biou;
    for (g = 0; g < ng; g++) q->gm[g] = 0;
    for (p = 0; p <= npr; p++) q->pm[p] = 0;
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        p = t->p[k];
        if (g == 0 || p == 0) continue;
        cat = im->pcat[p - 1];
        if (im->gcrowd[g - 1] || im->gcat[g - 1] != cat) continue;
        inter = t->c[k];
        iou = (double)inter / (((double)q->ppix[p] + q->area[g - 1]) - (double)inter - (double)q->pvoid[p]);
        if (dagger && !q->isthing[cat]) {
            q->stuff_cat[q->n_stuff] = cat;
            q->stuff_iou[q->n_stuff] = iou;
            q->n_stuff++;
        }
        if (boundary && iou > 0.5) {
            b = im->band[k];
            biou = (double)b / (((double)(q->ppix[p] - im->pin[p]) + (double)(q->gpix[g - 1] - im->gin[g]))
                                 - (double)b - (double)q->pbvoid[p]);
            if (biou < iou) iou = biou;
        }
        if (iou > 0.5) {
            tp[cat] += 1;
            if (itp) itp[cat] += 1;
            mcat[m] = cat;
            miou[m] = iou;
            mimg[m] = im->index;
            m++;
            q->gm[g - 1] = SM_PQ_SEG_MATCHED;
            q->pm[p] = SM_PQ_SEG_MATCHED;
        }
    }
    if (boundary) q->n_bmatch = m;
    else q->n_match = m;
    for (g = 0; g < ng; g++) {
        if (q->gm[g] || im->gcrowd[g]) continue;
        q->gm[g] = SM_PQ_SEG_MISSED;
        fn[im->gcat[g]] += 1;
        if (ifn) ifn[im->gcat[g]] += 1;
    }
    for (p = 1; p <= npr; p++) {
        if (q->pm[p]) continue;
        cat = im->pcat[p - 1];
        ignored = q->pvoid[p];
        if (q->crowd_of_cat[cat] > 0) ignored += q->pcrowd[p];
        if (q->ppix[p] > 0 && (double)ignored / (double)q->ppix[p] > 0.5) continue;
        q->pm[p] = SM_PQ_SEG_MISSED;
        fp[cat] += 1;
        if (ifp) ifp[cat] += 1;
    }
}

static inline int sm_pq_add_image(sm_pq *q, const sm_pairs *t, const sm_pq_image *im) {
    size_t ng = im->ng, npr = im->npr, K = q->K, g, p, k, c;
    int64_t cur, cat;
    double a;
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
    }
    /* 3. the crowd segment that counts per category: the last listed one (1-based) */
    for (g = 0; g < ng; g++) {
        if (!im->gcrowd[g]) continue;
        cat = im->gcat[g];
        cur = q->crowd_of_cat[cat];
        if (cur == 0 || im->gorder[g] > im->gorder[cur - 1]) q->crowd_of_cat[cat] = (int64_t)(g + 1);
    }
    /* each prediction's pixels on its category's crowd segment, its band on void */
    for (p = 0; p <= npr; p++) q->pcrowd[p] = q->pbvoid[p] = 0;
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        p = t->p[k];
        if (p == 0) continue;
        if (g == 0) {
            if (im->band) q->pbvoid[p] = im->band[k];
        } else if (q->crowd_of_cat[im->pcat[p - 1]] == (int64_t)g) {
            q->pcrowd[p] = t->c[k];
        }
    }
    /* 4-5. matching: boundary, then mask (whose outcomes stay in gm / pm) */
    if (im->band) sm_pq_match(q, t, im, 1);
    sm_pq_match(q, t, im, 0);
    if (q->gseg)
        for (g = 0; g < ng; g++)
            if (!im->gcrowd[g]) q->gseg[im->gcat[g]] += 1;
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
