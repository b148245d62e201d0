#pragma once

#include "macro.h"

/* For "-errno plus a sentence" APIs: stores a malloc'd message in *ret_error (if not NULL)
 * and returns r, so `return error_set(ret_error, -EINVAL, "...", ...)` reads as one step. */
int error_set(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
