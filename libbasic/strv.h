/* String vectors: n malloc'ed strings in a malloc'ed array, always with a NULL after them, so
 * that counted loops (protobuf-c's repeated strings, NetcfgDns) and NULL-terminated ones both
 * work. One copy and one free for every library and program. */
#pragma once

#include <stddef.h>

/* A copy of src[0..n) (NULL entries become ""), NULL-terminated; NULL when out of memory. */
char **strv_copy_n(char *const *src, size_t n);
/* Frees l[0..n) (NULL entries are fine) and l; NULL l is fine. */
void strv_free_n(char **l, size_t n);
/* Frees a NULL-terminated vector; NULL is fine. */
void strv_free(char **l);
/* Appends a copy of s (keeping the NULL after the last); -ENOMEM leaves l as it was. */
int strv_push(char ***l, size_t *n, const char *s);
/* Sorts l[0..n) with strcmp(). */
void strv_sort(char **l, size_t n);

static inline void strv_freep(char ***l) {
        strv_free(*l);
}
