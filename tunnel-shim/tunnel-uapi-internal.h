/* What tunnel-uapi.c (requests) and tunnel-uapi-reply.c (replies) share. */
#pragma once

#include <stdint.h>

#include "error-util.h"
#include "macro.h"

/* Strict decimal in [0, max]. */
int uapi_parse_u64(const char *s, uint64_t max, uint64_t *ret);
