/* See strv.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

char **strv_copy_n(char *const *src, size_t n) {
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                v[i] = strdup(src[i] ? src[i] : "");
                if (!v[i]) {
                        strv_free_n(v, i);
                        return NULL;
                }
        }
        return v;
}

void strv_free_n(char **l, size_t n) {
        if (!l)
                return;
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}

int strv_push(char ***l, size_t *n, const char *s) {
        char *c = strdup(s);
        char **a = c ? reallocarray(*l, *n + 2, sizeof(char *)) : NULL;
        if (!a) {
                free(c);
                return -ENOMEM;
        }
        a[(*n)++] = c;
        a[*n] = NULL;
        *l = a;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l, size_t n) {
        if (n > 1)
                qsort(l, n, sizeof(char *), cmp_str);
}
