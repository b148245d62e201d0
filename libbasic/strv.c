/* See strv.h. */
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
