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
 * Steps 4-5 (sm_pq_match) take options (SM_PQV_*): the rules of other tools, counted in
 * the same call into the variant sums when asked (segmetrics.conventions).
 * Each segment's outcome under panopticapi's rules (SM_PQ_SEG_*) is copied to gout / pout
 * when given: GT segment g (matched, missed = false negative, or not scored: crowd) and
 * prediction p (matched, missed = false positive, or not scored: mostly on void or crowd).
 */
#ifndef SM_PQ_H
#define SM_PQ_H

#include <string.h>

#include "sm_pairs.h"

enum { SM_PQ_OK = 0, SM_PQ_EMPTY = 1, SM_PQ_STALE = 2, SM_PQ_NOMEM = 3 };
/* Per-segment outcomes left in gm / pm by sm_pq_add_image (of the mask matching). */
enum { SM_PQ_SEG_NOT_SCORED = 0, SM_PQ_SEG_MATCHED = 1, SM_PQ_SEG_MISSED = 2 };

/* Options of the matching rules (steps 3-5), each one another tool's rule in place of
 * panopticapi's (0: panopticapi's rules exactly; segmetrics.conventions names them):
 *   SM_PQV_UNION_GVOID  the union also leaves out the GT pixels predicted void
 *                       (|p| - |p & void| + |g| - |g & pred void| - |g & p|);
 *   SM_PQV_AREA_PIXELS  GT areas are pixel counts, never the JSON area;
 *   SM_PQV_FN_VOID      an unmatched GT segment more than half predicted void is no FN;
 *   SM_PQV_NO_CROWD     crowd segments are ordinary segments (no crowd region);
 *   SM_PQV_MERGE_STUFF  the segments of a stuff category are one segment per image and
 *                       side (areas, void parts and intersections added up).
 * All five together are torchmetrics' PanopticQuality. */
enum {
    SM_PQV_UNION_GVOID = 1, SM_PQV_AREA_PIXELS = 2, SM_PQV_FN_VOID = 4, SM_PQV_NO_CROWD = 8,
    SM_PQV_MERGE_STUFF = 16
};

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
    uint8_t *gout, *pout;            /* NULL, or room for ng / npr outcomes (SM_PQ_SEG_*) of the
                                        mask matching under panopticapi's rules, dense order */
    /* Boundary PQ (images with a band): as tp ... match_iou, room as for those */
    int64_t *btp, *bfp, *bfn;
    int64_t *ibtp, *ibfp, *ibfn;
    int64_t *bmatch_cat, *bmatch_image;
    double *bmatch_iou;
    size_t n_bmatch;
    /* isthing (length K, or NULL): PQ-dagger's stuff pairs and SM_PQV_MERGE_STUFF need it */
    const uint8_t *isthing;
    /* PQ-dagger (stuff_cat NULL: off): stuff pairs' category and mask IoU, room for one
       per present pair; non-crowd GT segments per category (K, added to) */
    int64_t *stuff_cat;
    double *stuff_iou;
    size_t n_stuff;
    int64_t *gseg;
    /* variants: the same image under other option sets, counted in the same call */
    size_t n_var;                    /* 0: none */
    const uint32_t *var_opts;        /* n_var option sets */
    int64_t *vtp, *vfp, *vfn;        /* n_var x K, added to */
    int64_t *vmatch_var, *vmatch_cat;
    double *vmatch_iou;              /* room for n_var more matches per present pair */
    size_t n_vmatch;
    /* scratch, seg_cap entries each: GT pixels (g - 1), areas (g - 1), GT pixels predicted
       void (g - 1), prediction pixels / pixels on void / pixels on its category's crowd
       segment / band pixels on void (p) */
    int64_t *gpix, *ppix, *pvoid, *pcrowd, *gvoid, *pbvoid;
    double *area;
    uint8_t *gm, *pm;
    size_t seg_cap;
    /* per-category scratch of the merged stuff segments (K entries each, cat_cap) */
    int64_t *u_gpix, *u_gvoid, *u_ppix, *u_pvoid, *u_pcrowd, *u_inter, *u_touched;
    double *u_garea;
    uint8_t *u_state;                /* bit 1: GT part, 2: prediction part, 4: matched */
    size_t cat_cap, n_touched;
} sm_pq;

/* Scratch for images of up to n segments per side; -1 if out of memory. */
static inline int sm_pq_reserve(sm_pq *q, size_t n) {
    n += 1;
    if (q->seg_cap >= n) return 0;
    free(q->gpix); free(q->ppix); free(q->pvoid); free(q->pcrowd); free(q->gvoid); free(q->pbvoid);
    free(q->area); free(q->gm); free(q->pm);
    q->gpix = (int64_t *)malloc(n * sizeof(int64_t));
    q->pbvoid = (int64_t *)malloc(n * sizeof(int64_t));
    q->ppix = (int64_t *)malloc(n * sizeof(int64_t));
    q->pvoid = (int64_t *)malloc(n * sizeof(int64_t));
    q->pcrowd = (int64_t *)malloc(n * sizeof(int64_t));
    q->gvoid = (int64_t *)malloc(n * sizeof(int64_t));
    q->area = (double *)malloc(n * sizeof(double));
    q->gm = (uint8_t *)malloc(n);
    q->pm = (uint8_t *)malloc(n);
    q->seg_cap = (q->gpix && q->ppix && q->pvoid && q->pcrowd && q->gvoid && q->pbvoid && q->area
                  && q->gm && q->pm) ? n : 0;
    return q->seg_cap ? 0 : -1;
}

/* The per-category scratch of the merged stuff segments; -1 if out of memory. */
static inline int sm_pq_reserve_cats(sm_pq *q) {
    size_t K = q->K;
    if (q->cat_cap >= K) return 0;
    free(q->u_gpix); free(q->u_gvoid); free(q->u_ppix); free(q->u_pvoid); free(q->u_pcrowd);
    free(q->u_inter); free(q->u_touched); free(q->u_garea); free(q->u_state);
    q->u_gpix = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_gvoid = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_ppix = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_pvoid = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_pcrowd = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_inter = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_touched = (int64_t *)calloc(K, sizeof(int64_t));
    q->u_garea = (double *)calloc(K, sizeof(double));
    q->u_state = (uint8_t *)calloc(K, 1);
    q->cat_cap = (q->u_gpix && q->u_gvoid && q->u_ppix && q->u_pvoid && q->u_pcrowd && q->u_inter
                  && q->u_touched && q->u_garea && q->u_state) ? K : 0;
    q->n_touched = 0;
    return q->cat_cap ? 0 : -1;
}

static inline void sm_pq_free(sm_pq *q) {
    free(q->gpix); free(q->ppix); free(q->pvoid); free(q->pcrowd); free(q->gvoid); free(q->pbvoid);
    free(q->area); free(q->gm); free(q->pm);
    q->gpix = q->ppix = q->pvoid = q->pcrowd = q->gvoid = q->pbvoid = NULL;
    q->area = NULL;
    q->gm = q->pm = NULL;
    q->seg_cap = 0;
    free(q->u_gpix); free(q->u_gvoid); free(q->u_ppix); free(q->u_pvoid); free(q->u_pcrowd);
    free(q->u_inter); free(q->u_touched); free(q->u_garea); free(q->u_state);
    q->u_gpix = q->u_gvoid = q->u_ppix = q->u_pvoid = q->u_pcrowd = q->u_inter = q->u_touched = NULL;
    q->u_garea = NULL;
    q->u_state = NULL;
    q->cat_cap = 0;
}

/* Pixel counts per segment (steps 1): GT into gpix[g - 1], prediction into ppix[p],
   prediction pixels on GT void into pvoid[p], GT pixels predicted void into gvoid[g - 1];
   SM_PQ_EMPTY when a listed segment has none.  Needs sm_pq_reserve(q, max(ng, npr)). */
static inline int sm_pq_pixels(sm_pq *q, const sm_pairs *t, size_t ng, size_t npr) {
    size_t k, g, p;
    for (g = 0; g < ng; g++) q->gpix[g] = q->gvoid[g] = 0;
    for (p = 0; p <= npr; p++) q->ppix[p] = q->pvoid[p] = 0;
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        p = t->p[k];
        q->ppix[p] += t->c[k];
        if (g) {
            q->gpix[g - 1] += t->c[k];
            if (!p) q->gvoid[g - 1] = t->c[k];
        } else {
            q->pvoid[p] = t->c[k];
        }
    }
    for (g = 0; g < ng; g++)
        if (q->gpix[g] == 0) return SM_PQ_EMPTY;
    for (p = 1; p <= npr; p++)
        if (q->ppix[p] == 0) return SM_PQ_EMPTY;
    return SM_PQ_OK;
}

/* Where one set of matching rules adds its counts and its matches (with `aux` stored in
   m_aux: the image index, or the variant); `boundary`: match on min(mask IoU, boundary
   IoU) (needs the image's bands and pbvoid); `dagger`: list PQ-dagger's stuff pairs. */
typedef struct sm_pq_out {
    int64_t *tp, *fp, *fn, *itp, *ifp, *ifn;
    int64_t *m_cat, *m_aux;
    double *m_iou;
    size_t *n_match;
    int64_t aux;
    int boundary, dagger;
} sm_pq_out;

static inline void sm_pq_count(const sm_pq_out *o, int what, int64_t cat) {
    int64_t *all = what == 0 ? o->tp : (what == 1 ? o->fp : o->fn);
    int64_t *img = what == 0 ? o->itp : (what == 1 ? o->ifp : o->ifn);
    all[cat] += 1;
    if (img) img[cat] += 1;
}

static inline void sm_pq_add_match(const sm_pq_out *o, int64_t cat, double iou) {
    size_t m = *o->n_match;
    o->m_cat[m] = cat;
    o->m_iou[m] = iou;
    o->m_aux[m] = o->aux;
    *o->n_match = m + 1;
    sm_pq_count(o, 0, cat);
}

/* Steps 4-5 under the option set `opts` (crowd_of_cat and pcrowd already set).  The
   boundary IoU of a pair, |G_b & P_b| / (|P_b| + |G_b| - |G_b & P_b| - |P_b & void|), is
   taken only where the mask IoU passes; the false-positive rule keeps the mask overlap.
   Boundary and PQ-dagger go with opts = 0 only (merged stuff segments have no band). */
static inline void sm_pq_match(sm_pq *q, const sm_pairs *t, const sm_pq_image *im, uint32_t opts,
                               const sm_pq_out *o) {
    size_t ng = im->ng, npr = im->npr, g, p, k, j;
    int64_t inter, cat, ignored, b;
    double union_, iou, ga, biou;
    const int crowd_rules = !(opts & SM_PQV_NO_CROWD);
    const int merge = (opts & SM_PQV_MERGE_STUFF) && q->isthing != NULL && q->cat_cap >= q->K;
    uint8_t st;
#define SM_CROWD(g) (crowd_rules && im->gcrowd[(g) - 1])
#define SM_GAREA(g) ((opts & SM_PQV_AREA_PIXELS) ? (double)q->gpix[(g) - 1] : q->area[(g) - 1])
#define SM_UNIT(c) (merge && !q->isthing[c])
    for (g = 0; g < ng; g++) q->gm[g] = 0;
    for (p = 0; p <= npr; p++) q->pm[p] = 0;
    if (merge) {  /* the merged stuff segments: sums per category */
        for (g = 1; g <= ng; g++) {
            cat = im->gcat[g - 1];
            if (!SM_UNIT(cat) || SM_CROWD(g)) continue;
            if (!q->u_state[cat]) q->u_touched[q->n_touched++] = cat;
            q->u_state[cat] |= 1;
            q->u_garea[cat] += SM_GAREA(g);
            q->u_gpix[cat] += q->gpix[g - 1];
            q->u_gvoid[cat] += q->gvoid[g - 1];
        }
        for (p = 1; p <= npr; p++) {
            cat = im->pcat[p - 1];
            if (!SM_UNIT(cat)) continue;
            if (!q->u_state[cat]) q->u_touched[q->n_touched++] = cat;
            q->u_state[cat] |= 2;
            q->u_ppix[cat] += q->ppix[p];
            q->u_pvoid[cat] += q->pvoid[p];
            q->u_pcrowd[cat] += q->pcrowd[p];
        }
    }
    /* 4. matching, pairs in row-major order (merged stuff: their intersections added) */
    for (k = 0; k < t->n; k++) {
        g = t->g[k];
        p = t->p[k];
        if (g == 0 || p == 0) continue;
        inter = t->c[k];
        cat = im->pcat[p - 1];
        if (SM_CROWD(g) || im->gcat[g - 1] != cat) continue;
        if (SM_UNIT(cat)) {
            q->u_inter[cat] += inter;
            continue;
        }
        union_ = ((double)q->ppix[p] + SM_GAREA(g)) - (double)inter - (double)q->pvoid[p];
        if (opts & SM_PQV_UNION_GVOID) union_ -= (double)q->gvoid[g - 1];
        iou = (double)inter / union_;
        if (o->dagger && !q->isthing[cat]) {
            q->stuff_cat[q->n_stuff] = cat;
            q->stuff_iou[q->n_stuff] = iou;
            q->n_stuff++;
        }
        if (o->boundary && iou > 0.5) {
            b = im->band[k];
            biou = (double)b / (((double)(q->ppix[p] - im->pin[p]) + (double)(q->gpix[g - 1] - im->gin[g]))
                                 - (double)b - (double)q->pbvoid[p]);
            if (biou < iou) iou = biou;
        }
        if (iou > 0.5) {
            sm_pq_add_match(o, cat, iou);
            q->gm[g - 1] = SM_PQ_SEG_MATCHED;
            q->pm[p] = SM_PQ_SEG_MATCHED;
        }
    }
    for (j = 0; j < q->n_touched; j++) {
        cat = q->u_touched[j];
        if ((q->u_state[cat] & 3) != 3 || q->u_inter[cat] == 0) continue;
        union_ = ((double)q->u_ppix[cat] + q->u_garea[cat]) - (double)q->u_inter[cat] - (double)q->u_pvoid[cat];
        if (opts & SM_PQV_UNION_GVOID) union_ -= (double)q->u_gvoid[cat];
        iou = (double)q->u_inter[cat] / union_;
        if (iou > 0.5) {
            sm_pq_add_match(o, cat, iou);
            q->u_state[cat] |= 4;
        }
    }
    /* 5. false negatives and false positives (a merged stuff segment counts once) */
    for (g = 1; g <= ng; g++) {
        if (q->gm[g - 1] || SM_CROWD(g)) continue;
        cat = im->gcat[g - 1];
        if (SM_UNIT(cat)) continue;
        ga = SM_GAREA(g);
        if ((opts & SM_PQV_FN_VOID) && (double)q->gvoid[g - 1] / ga > 0.5) continue;
        q->gm[g - 1] = SM_PQ_SEG_MISSED;
        sm_pq_count(o, 2, cat);
    }
    for (p = 1; p <= npr; p++) {
        if (q->pm[p]) continue;
        cat = im->pcat[p - 1];
        if (SM_UNIT(cat)) continue;
        ignored = q->pvoid[p];
        if (crowd_rules && q->crowd_of_cat[cat] > 0) ignored += q->pcrowd[p];
        if (q->ppix[p] > 0 && (double)ignored / (double)q->ppix[p] > 0.5) continue;
        q->pm[p] = SM_PQ_SEG_MISSED;
        sm_pq_count(o, 1, cat);
    }
    for (j = 0; j < q->n_touched; j++) {
        cat = q->u_touched[j];
        st = q->u_state[cat];
        if ((st & 1) && !(st & 4)
                && !((opts & SM_PQV_FN_VOID) && (double)q->u_gvoid[cat] / q->u_garea[cat] > 0.5))
            sm_pq_count(o, 2, cat);
        if ((st & 2) && !(st & 4)) {
            ignored = q->u_pvoid[cat] + (crowd_rules && q->crowd_of_cat[cat] > 0 ? q->u_pcrowd[cat] : 0);
            if (!((double)ignored / (double)q->u_ppix[cat] > 0.5)) sm_pq_count(o, 1, cat);
        }
        q->u_state[cat] = 0;
        q->u_garea[cat] = 0.0;
        q->u_gpix[cat] = q->u_gvoid[cat] = q->u_ppix[cat] = q->u_pvoid[cat] = q->u_pcrowd[cat] = 0;
        q->u_inter[cat] = 0;
    }
    q->n_touched = 0;
#undef SM_CROWD
#undef SM_GAREA
#undef SM_UNIT
}

static inline int sm_pq_add_image(sm_pq *q, const sm_pairs *t, const sm_pq_image *im) {
    size_t ng = im->ng, npr = im->npr, K = q->K, g, p, k, c, v;
    int64_t cur, cat;
    double a;
    int status;
    sm_pq_out o;
    if (sm_pq_reserve(q, ng > npr ? ng : npr)) return SM_PQ_NOMEM;
    if (q->n_var && q->isthing && sm_pq_reserve_cats(q)) return SM_PQ_NOMEM;
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
    /* 3. the crowd segment that counts per category: the last listed one (1-based), and
       each prediction's pixels on the crowd segment of its category */
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
    /* 4-5: panopticapi's rules with the mask IoU (and PQ-dagger's stuff pairs), with
       min(mask IoU, boundary IoU) when the image has its bands, then each variant */
    o.tp = q->tp; o.fp = q->fp; o.fn = q->fn;
    o.itp = q->itp; o.ifp = q->ifp; o.ifn = q->ifn;
    o.m_cat = q->match_cat; o.m_aux = q->match_image; o.m_iou = q->match_iou;
    o.n_match = &q->n_match;
    o.aux = im->index;
    o.boundary = 0;
    o.dagger = q->stuff_cat != NULL && q->isthing != NULL;
    sm_pq_match(q, t, im, 0, &o);
    o.dagger = 0;
    if (q->gout) memcpy(q->gout, q->gm, ng);  /* each segment's outcome under panopticapi's rules */
    if (q->pout && npr) memcpy(q->pout, q->pm + 1, npr);
    if (im->band) {
        o.tp = q->btp; o.fp = q->bfp; o.fn = q->bfn;
        o.itp = q->ibtp; o.ifp = q->ibfp; o.ifn = q->ibfn;
        o.m_cat = q->bmatch_cat; o.m_aux = q->bmatch_image; o.m_iou = q->bmatch_iou;
        o.n_match = &q->n_bmatch;
        o.boundary = 1;
        sm_pq_match(q, t, im, 0, &o);
        o.boundary = 0;
    }
    for (v = 0; v < q->n_var; v++) {
        o.tp = q->vtp + v * K; o.fp = q->vfp + v * K; o.fn = q->vfn + v * K;
        o.itp = o.ifp = o.ifn = NULL;
        o.m_cat = q->vmatch_cat; o.m_aux = q->vmatch_var; o.m_iou = q->vmatch_iou;
        o.n_match = &q->n_vmatch;
        o.aux = (int64_t)v;
        sm_pq_match(q, t, im, q->var_opts[v], &o);
    }
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
