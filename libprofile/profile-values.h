/* Value syntax of profile keys: addresses, prefixes, endpoints, domains, numbers and lists.
 * Internal to libprofile; each returns 0 or -EINVAL and never allocates on failure. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/* "addr" or "addr/len"; without a length the prefix is /32 or /128. mask_host clears the bits
 * past the length (routes), otherwise they are kept (interface addresses). */
int profile_parse_prefix(const char *s, bool mask_host, ProfilePrefix *ret);
int profile_parse_ip(const char *s, ProfileAddress *ret);
/* "a.b.c.d:port", "[v6]:port" or "hostname:port"; nothing is resolved. ret_addr (may be NULL)
 * gets the address, or family AF_UNSPEC for a host name. */
int profile_parse_endpoint(const char *s, uint16_t *ret_port, ProfileAddress *ret_addr);
/* RFC 1035 host names: labels of [A-Za-z0-9-] (underscore allowed), 1..63 characters, no
 * leading or trailing '-', at most 253 characters; one trailing dot allowed. */
bool profile_domain_is_valid(const char *s);
/* Strict decimal, or with allow_hex also "0x..." hexadecimal; no sign, no spaces. */
int profile_parse_u32(const char *s, bool allow_hex, uint32_t max, uint32_t *ret);

/* Whether a's first p->prefixlen bits are p's (same family). */
bool profile_prefix_contains(const ProfilePrefix *p, const ProfileAddress *a);
/* Whether two prefixes share an address, that is, one contains the other. */
bool profile_prefixes_overlap(const ProfilePrefix *a, const ProfilePrefix *b);
/* "addr/len" into buf (PROFILE_PREFIX_STRLEN bytes suffice); returns buf. */
#define PROFILE_PREFIX_STRLEN (INET6_ADDRSTRLEN + 4) /* + "/128" */
const char *profile_prefix_to_string(const ProfilePrefix *p, char *buf, size_t size);

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
