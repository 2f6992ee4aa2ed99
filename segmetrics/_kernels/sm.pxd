# Declarations of the C headers every kernel shares (``from segmetrics._kernels.sm cimport ...``):
#   sm_walk.h   the run-length row walker, its sides (pixel rows, cached runs) and the semantic sink
#   sm_pairs.h  segment ids -> dense indices, the table of present (GT, prediction) pairs
#   sm_pq.h     panopticapi's per-image rules on those pairs
#   sm_io.h     whole-file reads and the atomic work counter of the folder kernels
# No module of this name exists: only the headers behind these declarations.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "sm_walk.h" nogil:
    int SM_LE
    int SM_READ_AHEAD
    int32_t SM_IGNORED
    int32_t SM_BAD
    int32_t SM_NO_SKIP
    int SM_POPCNT64(uint64_t m)

    ctypedef struct sm_side:
        int32_t code
        size_t end
        const uint8_t *x
        size_t wsafe
        const uint16_t *rv
        const uint16_t *rl
        size_t r
        const void *lut

    ctypedef int (*sm_code_fn)(sm_side *s, size_t e) noexcept nogil
    ctypedef int (*sm_emit_fn)(void *sink, int32_t g, int32_t p, size_t n) noexcept nogil

    size_t sm_next_change(const uint8_t *x, size_t k, size_t w, size_t wsafe, int B)
    size_t sm_safe_width(size_t avail, size_t w, int B)

    ctypedef struct sm_sem_lut:
        const int32_t *codes
        uint64_t n
        int has_ignore
        int64_t ignore

    int sm_sem_u8(sm_side *s, size_t e)
    int sm_sem_u8f(sm_side *s, size_t e)
    int sm_sem_be16(sm_side *s, size_t e)
    int sm_sem_u16(sm_side *s, size_t e)
    int sm_sem_i32(sm_side *s, size_t e)
    int sm_sem_i64(sm_side *s, size_t e)
    int sm_sem_runs(sm_side *s, size_t e)
    int sm_pan_runs(sm_side *s, size_t e)

    ctypedef struct sm_pt:
        uint32_t *t
        uint32_t gmin, gmax, pmin, pmax

    int sm_walk(sm_side *G, sm_code_fn gcode, int gB, sm_side *P, sm_code_fn pcode, int pB, size_t w,
                int32_t skip, sm_emit_fn emit, void *sink)
    int sm_walk_blocks(sm_side *G, sm_code_fn gcode, int gB, sm_side *P, sm_code_fn pcode, int pB, size_t w,
                       int32_t skip, sm_emit_fn emit, void *sink, sm_pt *pt)

    ctypedef struct sm_rec:
        uint16_t *rv
        uint16_t *rl
        size_t n
        int32_t bias, cur
        size_t len

    void sm_rec_flush(sm_rec *r)

    ctypedef struct sm_sem_sink:
        int64_t *cm
        int64_t K
        int64_t bad_gt, bad_pred
        int64_t *tp
        int64_t *fp
        int64_t *fn
        sm_rec *rec
        sm_pt pt

    int sm_sem_emit(void *sink, int32_t g, int32_t p, size_t n)
    int sm_sem_emit_more(void *sink, int32_t g, int32_t p, size_t n)
    int sm_sem_emit_bad(void *sink, int32_t g, int32_t p, size_t n)
    int32_t sm_sem_code(const sm_sem_lut *t, uint64_t v)
    int sm_pt_pool_clean()
    void sm_sem_pairs_begin(sm_sem_sink *s)
    void sm_sem_fold(sm_sem_sink *s, const sm_sem_lut *glut, const sm_sem_lut *plut)
    void sm_sem_pairs_end(sm_sem_sink *s, const sm_sem_lut *glut, const sm_sem_lut *plut)
    int sm_walk_sem(sm_side *G, int gB, sm_side *P, int pB, size_t w, int mode, sm_sem_sink *sink)
    int SM_DBLOCK
    int sm_row_diff_select(int want_avx2)
    void sm_row_diff(const uint8_t *x, const uint8_t *p, size_t n, uint64_t *words)
    uint8_t *sm_row_diff_store(const uint8_t *x, size_t n, const uint64_t *words, uint8_t *out)
    const uint8_t *sm_row_diff_load(uint8_t *r, size_t n, const uint64_t *words, const uint8_t *inp)


cdef extern from "sm_pairs.h" nogil:
    ctypedef struct sm_ids:
        size_t cap

    int sm_ids_build(sm_ids *t, const int64_t *ids, size_t n)
    void sm_ids_free(sm_ids *t)
    int32_t sm_id_lookup(const sm_ids *t, uint32_t key)
    int sm_pan_rgb(sm_side *s, size_t e)
    int sm_pan_u32(sm_side *s, size_t e)

    ctypedef struct sm_pairs:
        uint64_t width, rows
        int hashed
        sm_rec *rec
        uint32_t *g
        uint32_t *p
        int64_t *c
        size_t n

    int sm_pairs_start(sm_pairs *t, size_t n_gt, size_t n_pred)
    int sm_pairs_emit(void *sink, int32_t g, int32_t p, size_t n)
    int sm_pairs_sort(sm_pairs *t)
    void sm_pairs_free(sm_pairs *t)


cdef extern from "sm_pq.h" nogil:
    enum:
        SM_PQ_OK
        SM_PQ_EMPTY
        SM_PQ_STALE
        SM_PQ_NOMEM
    enum:
        SM_PQV_UNION_GVOID
        SM_PQV_AREA_PIXELS
        SM_PQV_FN_VOID
        SM_PQV_NO_CROWD
        SM_PQV_MERGE_STUFF

    ctypedef struct sm_pq_image:
        size_t ng, npr
        const int64_t *gcat
        const uint8_t *gcrowd
        const double *garea
        const int64_t *gorder
        const int64_t *pcat
        int recompute
        int64_t index
        const int64_t *band
        const int64_t *gin
        const int64_t *pin

    ctypedef struct sm_pq:
        size_t K
        int64_t *tp
        int64_t *fp
        int64_t *fn
        int64_t *itp
        int64_t *ifp
        int64_t *ifn
        int64_t *match_cat
        int64_t *match_image
        double *match_iou
        size_t n_match
        int64_t *confusion
        int64_t *conf_index
        int64_t *conf_count
        size_t n_conf
        int64_t *stale
        size_t n_stale
        int64_t *crowd_of_cat
        int64_t *btp
        int64_t *bfp
        int64_t *bfn
        int64_t *ibtp
        int64_t *ibfp
        int64_t *ibfn
        int64_t *bmatch_cat
        int64_t *bmatch_image
        double *bmatch_iou
        size_t n_bmatch
        const uint8_t *isthing
        int64_t *stuff_cat
        double *stuff_iou
        size_t n_stuff
        int64_t *gseg
        size_t n_var
        const uint32_t *var_opts
        int64_t *vtp
        int64_t *vfp
        int64_t *vfn
        int64_t *vmatch_var
        int64_t *vmatch_cat
        double *vmatch_iou
        size_t n_vmatch
        int64_t *gpix
        int64_t *ppix
        uint8_t *gm
        uint8_t *pm
        uint8_t *gout
        uint8_t *pout

    int sm_pq_reserve(sm_pq *q, size_t n)
    void sm_pq_free(sm_pq *q)
    int sm_pq_pixels(sm_pq *q, const sm_pairs *t, size_t ng, size_t npr)
    int sm_pq_add_image(sm_pq *q, const sm_pairs *t, const sm_pq_image *im)


cdef extern from "sm_io.h" nogil:
    int SM_FILES
    int sm_open(const char *path)
    int64_t sm_file_size(int fd)
    int sm_read_all(int fd, uint8_t *dst, size_t n)
    void sm_close(int fd)
    void *sm_buf_alloc(size_t n)
    void sm_buf_free(void *p, size_t n)
    int64_t sm_next_index(int64_t *p)
    int64_t sm_load(int64_t *p)
    void sm_store(int64_t *p, int64_t v)
    void sm_store_min(int64_t *p, int64_t v)
