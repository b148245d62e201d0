/* Shared macros: ownership (_cleanup_, TAKE_FD, TAKE_PTR), sizes, errno. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define STRLEN(s) (sizeof("" s "") - 1)

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define NSEC_PER_USEC UINT64_C(1000)

/* Take ownership: return the value and reset the variable to "none". */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -EBADF;                                                                     \
                _fd;                                                                               \
        })

/* Close fd if valid, preserving errno; always returns -EBADF. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
static inline void freep(void *p) {
        free(*(void **) p);
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)

/* Define a cleanup helper for a destructor returning NULL: name##p. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p) {                                                      \
                if (*p)                                                                            \
                        *p = func(*p);                                                             \
        }

/* Negative errno from a libc call that sets errno (never 0 on failure). */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* Appends one zeroed element to the array at *(void **) p of *n elements of size bytes: returns
 * it, or NULL for ENOMEM with the array and *n as they were. Not for arrays of secrets, which
 * realloc() may leave a copy of in freed memory. */
static inline void *array_append_size(void *p, size_t *n, size_t size) {
        void **pp = p;
        char *a = reallocarray(*pp, *n + 1, size);
        if (!a)
                return NULL;
        *pp = a;
        return memset(a + (*n)++ * size, 0, size);
}
/* ARRAY_APPEND(array, n): the same for a typed array, e.g. `NetcfgLink *l = ARRAY_APPEND(v, n);` */
#define ARRAY_APPEND(array, n)                                                                     \
        ((__typeof__(&*(array))) array_append_size(&(array), &(n), sizeof(*(array))))

/* memcpy() for arrays that may be empty: memcpy(dst, NULL, 0) is undefined behaviour (and
 * UBSan says so), and an empty array is often a NULL pointer here. */
static inline void *memcpy_safe(void *dst, const void *src, size_t n) {
        if (n == 0)
                return dst;
        return memcpy(dst, src, n);
}

/* Wipe secret memory in a way the compiler will not elide. */
static inline void explicit_wipe(void *p, size_t n) {
        if (p && n)
                explicit_bzero(p, n);
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || !*(s))
