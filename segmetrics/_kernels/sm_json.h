/* One pass over the bytes of a COCO panoptic JSON file, without building Python objects.
 *
 * smj_scan() checks the JSON syntax of the whole document and reads what the folder
 * pipeline needs: where each annotation object lies in the file, its image_id and
 * file_name tokens, and the id / category_id / iscrowd / area of its segments, in
 * listing order.  Every other value (categories, images, bbox, unknown keys) is only
 * checked and its place recorded.
 *
 * It accepts a strict subset of what Python's json module reads, with the same values:
 * a top-level object with an "annotations" array of objects, each with one integer or
 * string "image_id", one string "file_name" and one "segments_info" array.  Anything
 * else (NaN or Infinity literals, a byte order mark, control characters in strings,
 * invalid UTF-8, nesting deeper than SMJ_MAX_DEPTH, keys spelt with escapes, an
 * image_id beyond int64 ...) makes it decline (SMJ_DECLINE); the caller then parses the
 * file the general way, which gives the values or names the error.
 *
 * A segment whose values are not of the common kind (see segment_columns_all in
 * panoptic.pyx: integer id in [1, max_id] and category_id, iscrowd 0 / 1 / true / false
 * or absent, area a non-negative number, null or absent) marks its annotation not ok;
 * that annotation keeps no rows and the caller checks it the detailed way.  Within one
 * object a key given twice keeps its last value, as Python dicts do.
 */
#ifndef SM_JSON_H
#define SM_JSON_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SMJ_OK 0
#define SMJ_DECLINE 1
#define SMJ_NOMEM (-1)
#define SMJ_MAX_DEPTH 256

/* Decimal numbers are read in the "C" locale whatever the process's LC_NUMERIC (Python's json
   does not follow the locale; strtod does).  Where strtod_l is missing, or the locale cannot be
   made, a decimal area marks its annotation for the detailed checks instead. */
#if defined(__GLIBC__) || defined(__APPLE__)
#if defined(__APPLE__)
#include <xlocale.h>
#endif
#define SMJ_HAVE_STRTOD_L 1
static locale_t smj_c_locale = (locale_t)0;
/* Made once, at the module's import (under the GIL). */
static void smj_init(void) {
    if (smj_c_locale == (locale_t)0) smj_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}
#else
#define SMJ_HAVE_STRTOD_L 0
static void smj_init(void) {}
#endif

/* image_id token kinds */
#define SMJ_ID_INT 1
#define SMJ_ID_STR 2     /* a string without escapes: its bytes are its UTF-8 text */
#define SMJ_ID_STR_ESC 3 /* a string with escapes: decode the token */

typedef struct {
    /* per annotation, in file order */
    int64_t *span;      /* 2 per annotation: the object's [start, end) in the file */
    int64_t *id_tok;    /* 2 per annotation: the image_id token (strings with their quotes) */
    int64_t *name_tok;  /* 2 per annotation: the file_name token, with its quotes */
    int64_t *id_int;    /* the image_id when an integer */
    uint8_t *id_kind;
    uint8_t *name_esc;  /* the file_name token holds escapes */
    uint8_t *ok;        /* 1: the annotation's segments are rows [start_row, start_row + n_rows) */
    int64_t *n_rows;
    size_t n_ann, cap_ann;
    /* per segment of the ok annotations, in listing order */
    int64_t *sid, *cat;
    uint8_t *crowd;
    double *area;
    size_t n_seg, cap_seg;
    /* top level: the values' [start, end), or -1 */
    int64_t cat_span[2], img_span[2];
} smj_out;

typedef struct {
    const uint8_t *b;  /* the document */
    size_t n;
    size_t i;          /* the cursor */
    int64_t max_id;
} smj_cur;

static void smj_free(smj_out *o) {
    free(o->span); free(o->id_tok); free(o->name_tok); free(o->id_int); free(o->id_kind);
    free(o->name_esc); free(o->ok); free(o->n_rows);
    free(o->sid); free(o->cat); free(o->crowd); free(o->area);
    memset(o, 0, sizeof(*o));
}

static int smj_grow(void **p, size_t cap, size_t size) {
    void *q = realloc(*p, cap * size);
    if (q == NULL) return 0;
    *p = q;
    return 1;
}

static int smj_reserve_ann(smj_out *o) {
    if (o->n_ann < o->cap_ann) return 1;
    size_t cap = o->cap_ann ? 2 * o->cap_ann : 1024;
    if (!smj_grow((void **)&o->span, cap, 2 * sizeof(int64_t)) ||
        !smj_grow((void **)&o->id_tok, cap, 2 * sizeof(int64_t)) ||
        !smj_grow((void **)&o->name_tok, cap, 2 * sizeof(int64_t)) ||
        !smj_grow((void **)&o->id_int, cap, sizeof(int64_t)) ||
        !smj_grow((void **)&o->id_kind, cap, 1) || !smj_grow((void **)&o->name_esc, cap, 1) ||
        !smj_grow((void **)&o->ok, cap, 1) || !smj_grow((void **)&o->n_rows, cap, sizeof(int64_t)))
        return 0;
    o->cap_ann = cap;
    return 1;
}

static int smj_reserve_seg(smj_out *o) {
    if (o->n_seg < o->cap_seg) return 1;
    size_t cap = o->cap_seg ? 2 * o->cap_seg : 16384;
    if (!smj_grow((void **)&o->sid, cap, sizeof(int64_t)) || !smj_grow((void **)&o->cat, cap, sizeof(int64_t)) ||
        !smj_grow((void **)&o->crowd, cap, 1) || !smj_grow((void **)&o->area, cap, sizeof(double)))
        return 0;
    o->cap_seg = cap;
    return 1;
}

static inline void smj_ws(smj_cur *c) {
    while (c->i < c->n) {
        uint8_t x = c->b[c->i];
        if (x != ' ' && x != '\n' && x != '\r' && x != '\t') break;
        c->i++;
    }
}

static inline int smj_peek(smj_cur *c) {
    smj_ws(c);
    return c->i < c->n ? c->b[c->i] : -1;
}

static inline int smj_hex(uint8_t x) {
    return (x >= '0' && x <= '9') || (x >= 'a' && x <= 'f') || (x >= 'A' && x <= 'F');
}

/* A string token at the cursor (on its quote): 1 and the cursor past it, with *esc set when
 * it holds escapes; 0 when it is not a string Python reads the same way. */
static int smj_string(smj_cur *c, int *esc) {
    const uint8_t *b = c->b;
    size_t i = c->i + 1, n = c->n;
    *esc = 0;
    for (;;) {
        /* the common bytes first */
        while (i < n && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\') i++;
        if (i >= n) return 0;
        uint8_t x = b[i];
        if (x == '"') {
            c->i = i + 1;
            return 1;
        }
        if (x == '\\') {
            *esc = 1;
            if (i + 1 >= n) return 0;
            uint8_t e = b[i + 1];
            if (e == 'u') {
                if (i + 5 >= n || !smj_hex(b[i + 2]) || !smj_hex(b[i + 3]) || !smj_hex(b[i + 4]) ||
                    !smj_hex(b[i + 5]))
                    return 0;
                i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                       e == 't') {
                i += 2;
            } else {
                return 0;
            }
            continue;
        }
        if (x < 0x20) return 0; /* a raw control character */
        /* UTF-8: a well-formed sequence (no overlong forms, no surrogates, at most U+10FFFF) */
        size_t len;
        uint32_t cp;
        if (x >= 0xC2 && x <= 0xDF) { len = 2; cp = x & 0x1F; }
        else if (x >= 0xE0 && x <= 0xEF) { len = 3; cp = x & 0x0F; }
        else if (x >= 0xF0 && x <= 0xF4) { len = 4; cp = x & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((b[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (b[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
}

/* Whether an integer token lies in [-2^63, 2^64 - 1], where orjson and the json module read
   the same int: orjson turns integers outside it into floats, json keeps them (and refuses
   more than sys.get_int_max_str_digits() digits).  A document with one outside it declines, so
   that the general parse reads it whole as before. */
static int smj_int_agreed(const uint8_t *p, size_t len) {
    int neg = p[0] == '-';
    static const char *lim_pos = "18446744073709551615", *lim_neg = "9223372036854775808";
    const char *lim = neg ? lim_neg : lim_pos;
    size_t digits = len - (size_t)neg, lim_len = strlen(lim);
    if (digits != lim_len) return digits < lim_len;
    return memcmp(p + neg, lim, lim_len) <= 0;
}

/* A number token at the cursor (JSON's grammar): 1 and the cursor past it, with *is_int
 * set when it has neither fraction nor exponent; 0 otherwise. */
static int smj_number(smj_cur *c, int *is_int) {
    const uint8_t *b = c->b;
    size_t i = c->i, n = c->n;
    *is_int = 1;
    if (i < n && b[i] == '-') i++;
    if (i >= n) return 0;
    if (b[i] == '0') {
        i++;
    } else if (b[i] >= '1' && b[i] <= '9') {
        while (i < n && b[i] >= '0' && b[i] <= '9') i++;
    } else {
        return 0;
    }
    if (i < n && b[i] == '.') {
        *is_int = 0;
        i++;
        if (i >= n || b[i] < '0' || b[i] > '9') return 0;
        while (i < n && b[i] >= '0' && b[i] <= '9') i++;
    }
    if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        *is_int = 0;
        i++;
        if (i < n && (b[i] == '+' || b[i] == '-')) i++;
        if (i >= n || b[i] < '0' || b[i] > '9') return 0;
        while (i < n && b[i] >= '0' && b[i] <= '9') i++;
    }
    if (*is_int && !smj_int_agreed(b + c->i, i - c->i)) return 0;
    c->i = i;
    return 1;
}

/* An integer token [a, e) as int64: 1, or 0 when it does not fit. */
static int smj_int64(const uint8_t *b, size_t a, size_t e, int64_t *out) {
    int neg = b[a] == '-';
    size_t i = a + neg;
    if (e - i > 19) return 0;
    uint64_t v = 0;
    for (; i < e; i++) {
        uint64_t d = (uint64_t)(b[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return 0;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)v;
    }
    return 1;
}

static inline int smj_literal(smj_cur *c, const char *word, size_t len) {
    if (c->n - c->i < len || memcmp(c->b + c->i, word, len) != 0) return 0;
    c->i += len;
    return 1;
}

/* Any value at the cursor, checked and skipped. */
static int smj_skip(smj_cur *c, int depth) {
    int x = smj_peek(c), flag;
    if (x == '"') return smj_string(c, &flag);
    if (x == '-' || (x >= '0' && x <= '9')) return smj_number(c, &flag);
    if (x == 't') return smj_literal(c, "true", 4);
    if (x == 'f') return smj_literal(c, "false", 5);
    if (x == 'n') return smj_literal(c, "null", 4);
    if (x != '{' && x != '[') return 0;
    if (depth >= SMJ_MAX_DEPTH) return 0;
    int obj = x == '{';
    c->i++;
    if (smj_peek(c) == (obj ? '}' : ']')) {
        c->i++;
        return 1;
    }
    for (;;) {
        if (obj) {
            if (smj_peek(c) != '"' || !smj_string(c, &flag)) return 0;
            if (smj_peek(c) != ':') return 0;
            c->i++;
        }
        if (!smj_skip(c, depth + 1)) return 0;
        x = smj_peek(c);
        if (x == ',') {
            c->i++;
            continue;
        }
        if (x == (obj ? '}' : ']')) {
            c->i++;
            return 1;
        }
        return 0;
    }
}

/* A key at the cursor: 1 and [*ka, *ke) its text; 0 when it is not a key without escapes
 * followed by a colon. */
static int smj_key(smj_cur *c, size_t *ka, size_t *ke) {
    int esc;
    if (smj_peek(c) != '"') return 0;
    *ka = c->i + 1;
    if (!smj_string(c, &esc) || esc) return 0;
    *ke = c->i - 1;
    if (smj_peek(c) != ':') return 0;
    c->i++;
    return 1;
}

static inline int smj_is(const smj_cur *c, size_t ka, size_t ke, const char *word) {
    size_t len = strlen(word);
    return ke - ka == len && memcmp(c->b + ka, word, len) == 0;
}

/* The value of a segment field: kind 0 absent, 1 integer (in *iv, also as a double in *dv),
 * 2 other number (in *dv), 3 true, 4 false, 5 null, 6 anything else (or a number Python
 * would not read as these). */
static int smj_field(smj_cur *c, int depth, int *kind, int64_t *iv, double *dv) {
    int x = smj_peek(c), is_int;
    if (x == '-' || (x >= '0' && x <= '9')) {
        size_t a = c->i;
        if (!smj_number(c, &is_int)) return 0;
        size_t e = c->i;
        if (is_int) {
            if (smj_int64(c->b, a, e, iv)) {
                *kind = 1;
                *dv = (double)*iv; /* as Python's float(int): correctly rounded */
            } else {
                *kind = 6;
            }
            return 1;
        }
        char tmp[64];
#if SMJ_HAVE_STRTOD_L
        if (e - a >= sizeof(tmp) || smj_c_locale == (locale_t)0) {
            *kind = 6;
            return 1;
        }
        memcpy(tmp, c->b + a, e - a);
        tmp[e - a] = 0;
        errno = 0;
        double v = strtod_l(tmp, NULL, smj_c_locale);
        *kind = (errno == ERANGE || !isfinite(v)) ? 6 : 2;
        *dv = v;
#else
        (void)tmp;
        *kind = 6;
#endif
        return 1;
    }
    if (x == 't') { *kind = 3; return smj_literal(c, "true", 4); }
    if (x == 'f') { *kind = 4; return smj_literal(c, "false", 5); }
    if (x == 'n') { *kind = 5; return smj_literal(c, "null", 4); }
    *kind = 6;
    return smj_skip(c, depth);
}

/* One element of segments_info: 1 when read (a row appended when *ok stays set). */
static int smj_segment(smj_cur *c, smj_out *o, int depth, int *ok) {
    if (smj_peek(c) != '{') {
        *ok = 0;
        return smj_skip(c, depth);
    }
    if (depth >= SMJ_MAX_DEPTH) return 0;
    c->i++;
    int k_id = 0, k_cat = 0, k_crowd = 0, k_area = 0, kind;
    int64_t v_id = 0, v_cat = 0, v_crowd = 0, iv;
    double d_area = 0, dv;
    if (smj_peek(c) == '}') {
        c->i++;
    } else {
        for (;;) {
            size_t ka, ke;
            if (!smj_key(c, &ka, &ke)) return 0;
            int which = smj_is(c, ka, ke, "id") ? 1 : smj_is(c, ka, ke, "category_id") ? 2
                      : smj_is(c, ka, ke, "iscrowd") ? 3 : smj_is(c, ka, ke, "area") ? 4 : 0;
            if (which == 0) {
                if (!smj_skip(c, depth + 1)) return 0;
            } else {
                if (!smj_field(c, depth + 1, &kind, &iv, &dv)) return 0;
                if (which == 1) { k_id = kind; v_id = iv; }
                else if (which == 2) { k_cat = kind; v_cat = iv; }
                else if (which == 3) { k_crowd = kind; v_crowd = iv; }
                else { k_area = kind; d_area = dv; }
            }
            int x = smj_peek(c);
            if (x == ',') { c->i++; continue; }
            if (x == '}') { c->i++; break; }
            return 0;
        }
    }
    if (!*ok) return 1;
    uint8_t crowd;
    if (k_crowd == 0 || k_crowd == 4) crowd = 0;
    else if (k_crowd == 3) crowd = 1;
    else if (k_crowd == 1 && (v_crowd == 0 || v_crowd == 1)) crowd = (uint8_t)v_crowd;
    else { *ok = 0; return 1; }
    double area;
    if (k_area == 0 || k_area == 5) area = NAN;
    else if ((k_area == 1 || k_area == 2) && d_area >= 0) area = d_area;
    else { *ok = 0; return 1; }
    if (k_id != 1 || k_cat != 1 || v_id < 1 || v_id > c->max_id) { *ok = 0; return 1; }
    if (!smj_reserve_seg(o)) return -1;
    o->sid[o->n_seg] = v_id;
    o->cat[o->n_seg] = v_cat;
    o->crowd[o->n_seg] = crowd;
    o->area[o->n_seg] = area;
    o->n_seg++;
    return 1;
}

/* One annotation object: 1 when read, 0 to decline, -1 out of memory. */
static int smj_annotation(smj_cur *c, smj_out *o) {
    if (smj_peek(c) != '{') return 0;
    if (!smj_reserve_ann(o)) return -1;
    size_t j = o->n_ann, first_row = o->n_seg;
    int seen_id = 0, seen_name = 0, seen_segs = 0, ok = 1, esc, is_int, r;
    o->span[2 * j] = (int64_t)c->i;
    c->i++;
    if (smj_peek(c) == '}') return 0;
    for (;;) {
        size_t ka, ke;
        if (!smj_key(c, &ka, &ke)) return 0;
        int x = smj_peek(c);
        if (smj_is(c, ka, ke, "image_id")) {
            if (seen_id++) return 0;
            size_t a = c->i;
            if (x == '"') {
                if (!smj_string(c, &esc)) return 0;
                o->id_kind[j] = esc ? SMJ_ID_STR_ESC : SMJ_ID_STR;
            } else if (x == '-' || (x >= '0' && x <= '9')) {
                if (!smj_number(c, &is_int) || !is_int || !smj_int64(c->b, a, c->i, &o->id_int[j])) return 0;
                o->id_kind[j] = SMJ_ID_INT;
            } else {
                return 0;
            }
            o->id_tok[2 * j] = (int64_t)a;
            o->id_tok[2 * j + 1] = (int64_t)c->i;
        } else if (smj_is(c, ka, ke, "file_name")) {
            if (seen_name++ || x != '"') return 0;
            size_t a = c->i;
            if (!smj_string(c, &esc)) return 0;
            o->name_esc[j] = (uint8_t)esc;
            o->name_tok[2 * j] = (int64_t)a;
            o->name_tok[2 * j + 1] = (int64_t)c->i;
        } else if (smj_is(c, ka, ke, "segments_info")) {
            if (seen_segs++ || x != '[') return 0;
            c->i++;
            if (smj_peek(c) == ']') {
                c->i++;
            } else {
                for (;;) {
                    r = smj_segment(c, o, 3, &ok);
                    if (r != 1) return r;
                    x = smj_peek(c);
                    if (x == ',') { c->i++; continue; }
                    if (x == ']') { c->i++; break; }
                    return 0;
                }
            }
        } else if (!smj_skip(c, 2)) {
            return 0;
        }
        x = smj_peek(c);
        if (x == ',') { c->i++; continue; }
        if (x == '}') { c->i++; break; }
        return 0;
    }
    if (!seen_id || !seen_name || !seen_segs) return 0;
    o->span[2 * j + 1] = (int64_t)c->i;
    o->ok[j] = (uint8_t)ok;
    if (!ok) o->n_seg = first_row; /* a list the detailed checks look at keeps no rows */
    o->n_rows[j] = (int64_t)(o->n_seg - first_row);
    o->n_ann++;
    return 1;
}

/* The whole document: SMJ_OK, SMJ_DECLINE or SMJ_NOMEM (o is freed unless SMJ_OK). */
static int smj_scan(const uint8_t *b, size_t n, int64_t max_id, smj_out *o) {
    smj_cur cur = {b, n, 0, max_id}, *c = &cur;
    int seen_anns = 0, r = 0;
    memset(o, 0, sizeof(*o));
    o->cat_span[0] = o->cat_span[1] = o->img_span[0] = o->img_span[1] = -1;
    if (smj_peek(c) != '{') goto decline;
    c->i++;
    if (smj_peek(c) == '}') goto decline;
    for (;;) {
        size_t ka, ke;
        if (!smj_key(c, &ka, &ke)) goto decline;
        int x = smj_peek(c);
        if (smj_is(c, ka, ke, "annotations")) {
            if (seen_anns++ || x != '[') goto decline;
            c->i++;
            if (smj_peek(c) == ']') {
                c->i++;
            } else {
                for (;;) {
                    r = smj_annotation(c, o);
                    if (r != 1) goto fail;
                    x = smj_peek(c);
                    if (x == ',') { c->i++; continue; }
                    if (x == ']') { c->i++; break; }
                    goto decline;
                }
            }
        } else {
            int64_t *span = smj_is(c, ka, ke, "categories") ? o->cat_span
                          : smj_is(c, ka, ke, "images") ? o->img_span : NULL;
            if (span != NULL && span[0] >= 0) goto decline; /* given twice */
            size_t a = c->i;
            if (!smj_skip(c, 1)) goto decline;
            if (span != NULL) {
                span[0] = (int64_t)a;
                span[1] = (int64_t)c->i;
            }
        }
        x = smj_peek(c);
        if (x == ',') { c->i++; continue; }
        if (x == '}') { c->i++; break; }
        goto decline;
    }
    if (!seen_anns || smj_peek(c) != -1) goto decline;
    return SMJ_OK;
fail:
    if (r < 0) {
        smj_free(o);
        return SMJ_NOMEM;
    }
decline:
    smj_free(o);
    return SMJ_DECLINE;
}

#endif
