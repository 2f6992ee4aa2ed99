/* Run-end search for segstats.pyx: a run of equal pixels of `ch` bytes is a byte
   sequence with period `ch`, so the run ends at the first byte j >= i with
   row[j] != row[j - ch].  SSE2 compares 32 bytes per step where available, else
   8 bytes per step; never reads at or beyond row[nbytes]. */
#ifndef SEGSTATS_RUNS_H
#define SEGSTATS_RUNS_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline size_t segstats_run_end(const uint8_t *row, size_t nbytes, size_t i, size_t ch) {
#if defined(__SSE2__)
    while (i + 32 <= nbytes) {
        const uint8_t *a = row + i, *b = a - ch;
        uint32_t lo = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
            _mm_loadu_si128((const __m128i *)a), _mm_loadu_si128((const __m128i *)b)));
        uint32_t hi = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
            _mm_loadu_si128((const __m128i *)(a + 16)), _mm_loadu_si128((const __m128i *)(b + 16))));
        uint32_t diff = ~(lo | (hi << 16));
        if (diff)
            return i + (size_t)__builtin_ctz(diff);
        i += 32;
    }
#endif
    while (i + 8 <= nbytes) {
        uint64_t a, b;
        memcpy(&a, row + i, 8);
        memcpy(&b, row + i - ch, 8);
        if (a != b)
            break;
        i += 8;
    }
    while (i < nbytes && row[i] == row[i - ch])
        i++;
    return i;
}
#endif
