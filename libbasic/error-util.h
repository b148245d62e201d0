#pragma once

#include <stdarg.h>

#include "macro.h"

/* The one way to build an error sentence, for "-errno plus a sentence" APIs: each stores a
 * malloc'd message in *ret_error (if ret_error is not NULL; an earlier message is freed) and
 * returns r, so `return error_set(ret_error, -EINVAL, "...", ...)` reads as one step.
 *   error_set()        the sentence as written;
 *   error_set_errno()  "sentence: strerror(r)";
 *   error_set_extack() "sentence: strerror(r) (kernel: extack)", for netlink's extended ack
 *                      (the parenthesis left out when extack is NULL or empty). */
int error_set(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
int error_set_errno(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
int error_set_extack(char **ret_error, int r, const char *extack, const char *fmt, ...)
        _printf_(4, 5);
int error_setv(char **ret_error, int r, const char *fmt, va_list ap) _printf_(3, 0);
