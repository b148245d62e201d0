#include "error-util.h"

#include <stdio.h>

#include "string-util.h"

/* The sentence, then ": strerror(r)" and " (kernel: extack)" when asked for. */
static int error_format(char **ret_error, int r, bool with_errno, const char *extack,
                        const char *fmt, va_list ap) _printf_(5, 0);
static int error_format(char **ret_error, int r, bool with_errno, const char *extack,
                        const char *fmt, va_list ap) {
        _cleanup_free_ char *what = NULL;
        char *s = NULL;

        if (!ret_error)
                return r;
        if (vasprintf(&what, fmt, ap) < 0)
                return r;
        if (!with_errno)
                s = TAKE_PTR(what);
        else if (asprintf(&s, "%s: %s%s%s%s", what, strerror(r < 0 ? -r : r),
                          isempty(extack) ? "" : " (kernel: ", isempty(extack) ? "" : extack,
                          isempty(extack) ? "" : ")") < 0)
                return r;
        free(*ret_error);
        *ret_error = s;
        return r;
}

int error_setv(char **ret_error, int r, const char *fmt, va_list ap) {
        return error_format(ret_error, r, false, NULL, fmt, ap);
}

int error_set(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        error_format(ret_error, r, false, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int error_set_errno(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        error_format(ret_error, r, true, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int error_set_extack(char **ret_error, int r, const char *extack, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        error_format(ret_error, r, true, extack, fmt, ap);
        va_end(ap);
        return r;
}
