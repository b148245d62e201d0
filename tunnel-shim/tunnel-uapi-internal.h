/* What tunnel-uapi.c (requests) and tunnel-uapi-reply.c (replies) share. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Sets *ret_error to the formatted sentence (malloc'd) and returns r. */
int uapi_fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
/* Strict decimal in [0, max]. */
int uapi_parse_u64(const char *s, uint64_t max, uint64_t *ret);
