/* Value syntax of profile keys: addresses, prefixes, endpoints, domains, numbers and lists.
 * Internal to libprofile; each returns 0 or -EINVAL and never allocates on failure. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "profile.h"

/* "addr" or "addr/len"; without a length the prefix is /32 or /128. mask_host clears the bits
 * past the length (routes), otherwise they are kept (interface addresses). */
int profile_parse_prefix(const char *s, bool mask_host, ProfilePrefix *ret);
int profile_parse_ip(const char *s, ProfileAddress *ret);
/* "a.b.c.d:port", "[v6]:port" or "hostname:port"; nothing is resolved. */
int profile_parse_endpoint(const char *s, uint16_t *ret_port);
/* RFC 1035 host names: labels of [A-Za-z0-9-] (underscore allowed), 1..63 characters, no
 * leading or trailing '-', at most 253 characters; one trailing dot allowed. */
bool profile_domain_is_valid(const char *s);
/* Strict decimal, or with allow_hex also "0x..." hexadecimal; no sign, no spaces. */
int profile_parse_u32(const char *s, bool allow_hex, uint32_t max, uint32_t *ret);

/* Splits a list on commas and whitespace, skipping empty items. Returns the number of items
 * (the array is NULL-terminated) or -ENOMEM. */
int profile_split_list(const char *s, char ***ret);

/* Whether a user-supplied token may be quoted in an error message: short, printable, and not
 * shaped like (part of) a key. */
bool profile_token_is_printable(const char *s);

/* Appends a zeroed element to *array (of *n elements of size sz); returns it or NULL. */
void *profile_array_push(void **array, size_t *n, size_t sz);
#define ARRAY_PUSH(arr, n)                                                                         \
        ((__typeof__(arr)) profile_array_push((void **) &(arr), &(n), sizeof(*(arr))))
