/* Whole-file reads (POSIX) and the atomic work counter of the folder kernels. */
#ifndef SM_IO_H
#define SM_IO_H

#include <stdint.h>
#include <stddef.h>

#if !defined(_WIN32)
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
static inline int sm_open(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }
/* The size of a regular file, or -1. */
static inline int64_t sm_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    return (int64_t)st.st_size;
}
static inline int sm_read_all(int fd, uint8_t *dst, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, dst + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}
static inline void sm_close(int fd) { close(fd); }
#define SM_FILES 1
#else  /* the Python loop reads the files on Windows (non-ASCII paths need wide-char APIs) */
static inline int sm_open(const char *path) { (void)path; return -1; }
static inline int64_t sm_file_size(int fd) { (void)fd; return -1; }
static inline int sm_read_all(int fd, uint8_t *dst, size_t n) { (void)fd; (void)dst; (void)n; return -1; }
static inline void sm_close(int fd) { (void)fd; }
#define SM_FILES 0
#endif

/* The decode buffers of a Scratch (segmetrics._kernels.folder): pages of their own (mmap)
   from SM_BIG bytes on, freed back to the system at once.  In a malloc arena a freed
   buffer of a few MB stays resident (glibc raises its mmap threshold after the first
   such free, and trims an arena only past a threshold of twice that), so buffers that a
   short task used (the pred_labels="auto" sample's) would add to the run's peak memory. */
#define SM_BIG ((size_t)1 << 18)
#include <stdlib.h>
#if !defined(_WIN32)
#include <sys/mman.h>
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif
static inline void *sm_buf_alloc(size_t n) {
    void *p;
    if (n < SM_BIG) return malloc(n);
    p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
/* n: the size the buffer was allocated with */
static inline void sm_buf_free(void *p, size_t n) {
    if (p == NULL) return;
    if (n < SM_BIG) free(p);
    else munmap(p, n);
}
#else
static inline void *sm_buf_alloc(size_t n) { return malloc(n); }
static inline void sm_buf_free(void *p, size_t n) { (void)n; free(p); }
#endif

#if defined(_MSC_VER)
#include <intrin.h>
static inline int64_t sm_next_index(int64_t *p) { return _InterlockedExchangeAdd64((volatile long long *)p, 1); }
static inline int64_t sm_load(int64_t *p) { return _InterlockedOr64((volatile long long *)p, 0); }
static inline void sm_store(int64_t *p, int64_t v) { _InterlockedExchange64((volatile long long *)p, v); }
static inline void sm_store_min(int64_t *p, int64_t v) {
    long long cur = _InterlockedOr64((volatile long long *)p, 0);
    while (v < cur) {
        long long seen = _InterlockedCompareExchange64((volatile long long *)p, v, cur);
        if (seen == cur) break;
        cur = seen;
    }
}
#else
static inline int64_t sm_next_index(int64_t *p) { return __atomic_fetch_add(p, 1, __ATOMIC_RELAXED); }
static inline int64_t sm_load(int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void sm_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
/* *p = min(*p, v), atomically */
static inline void sm_store_min(int64_t *p, int64_t v) {
    int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v < cur && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
#endif

#endif /* SM_IO_H */
