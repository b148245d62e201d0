/* Value syntax of profile keys. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "string-util.h"
#include "macro.h"
#include "profile-values.h"
#include "strv.h"

int profile_parse_ip(const char *s, ProfileAddress *ret) {
        ProfileAddress a = {};

        /* inet_pton() is strict: no leading zeros games in IPv4, no zone ids in IPv6. */
        if (inet_pton(AF_INET, s, a.addr) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, a.addr) == 1)
                a.family = AF_INET6;
        else
                return -EINVAL;
        *ret = a;
        return 0;
}

static void prefix_mask(ProfilePrefix *p) {
        unsigned bytes = p->family == AF_INET ? 4 : 16;

        for (unsigned i = 0; i < bytes; i++) {
                unsigned keep = p->prefixlen > i * 8 ? MIN(8u, p->prefixlen - i * 8u) : 0;

                p->addr[i] &= (uint8_t) (0xff00u >> keep);
        }
}

int profile_parse_prefix(const char *s, bool mask_host, ProfilePrefix *ret) {
        char buf[INET6_ADDRSTRLEN + 8];
        ProfileAddress a;
        const char *slash;
        uint32_t len;
        size_t n;

        slash = strchr(s, '/');
        n = slash ? (size_t) (slash - s) : strlen(s);
        if (n == 0 || n >= INET6_ADDRSTRLEN)
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (profile_parse_ip(buf, &a) < 0)
                return -EINVAL;

        if (slash) {
                if (profile_parse_u32(slash + 1, false, a.family == AF_INET ? 32 : 128, &len) < 0)
                        return -EINVAL;
        } else
                len = a.family == AF_INET ? 32 : 128;

        *ret = (ProfilePrefix){ .family = a.family, .prefixlen = (uint8_t) len };
        memcpy(ret->addr, a.addr, sizeof(a.addr));
        if (mask_host)
                prefix_mask(ret);
        return 0;
}

static int parse_port(const char *s, uint16_t *ret) {
        uint32_t port;

        if (profile_parse_u32(s, false, 65535, &port) < 0 || port == 0)
                return -EINVAL;
        *ret = (uint16_t) port;
        return 0;
}

/* Dotted digits that inet_pton() refused are a broken IPv4 address, not a host name. */
static bool looks_numeric(const char *s) {
        return strspn(s, "0123456789.") == strlen(s);
}

int profile_parse_endpoint(const char *s, uint16_t *ret_port, ProfileAddress *ret_addr) {
        ProfileAddress a = {};
        char host[256];
        const char *colon;
        size_t n;

        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                n = (size_t) (close - s - 1);
                if (n == 0 || n >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, n);
                host[n] = '\0';
                if (inet_pton(AF_INET6, host, a.addr) != 1)
                        return -EINVAL;
                a.family = AF_INET6;
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                n = (size_t) (colon - s);
                if (n == 0 || n >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s, n);
                host[n] = '\0';
                /* An IPv6 address needs brackets, or the port would be ambiguous. */
                if (strchr(host, ':'))
                        return -EINVAL;
                if (looks_numeric(host)) {
                        if (inet_pton(AF_INET, host, a.addr) != 1)
                                return -EINVAL;
                        a.family = AF_INET;
                } else if (!profile_domain_is_valid(host))
                        return -EINVAL;
        }
        if (parse_port(colon + 1, ret_port) < 0)
                return -EINVAL;
        if (ret_addr)
                *ret_addr = a;
        return 0;
}

/* Whether the first bits of a and b are equal. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
        unsigned bytes = bits / 8, rest = bits % 8;

        if (memcmp(a, b, bytes) != 0)
                return false;
        return rest == 0 || ((a[bytes] ^ b[bytes]) & (uint8_t) (0xff00u >> rest)) == 0;
}

bool profile_prefix_contains(const ProfilePrefix *p, const ProfileAddress *a) {
        return p->family == a->family && bits_equal(p->addr, a->addr, p->prefixlen);
}

bool profile_prefixes_overlap(const ProfilePrefix *a, const ProfilePrefix *b) {
        return a->family == b->family &&
               bits_equal(a->addr, b->addr, MIN(a->prefixlen, b->prefixlen));
}

const char *profile_prefix_to_string(const ProfilePrefix *p, char *buf, size_t size) {
        return prefix_to_string(p->family, p->addr, p->prefixlen, buf, size);
}

bool profile_domain_is_valid(const char *s) {
        size_t total = strlen(s), label = 0;

        if (total > 0 && s[total - 1] == '.')
                total--;
        if (total == 0 || total > 253)
                return false;
        for (size_t i = 0; i < total; i++) {
                char c = s[i];

                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!(isascii(c) && (isalnum(c) || c == '-' || c == '_')))
                        return false;
                if (c == '-' && label == 0)
                        return false;
                if (++label > 63)
                        return false;
        }
        return s[total - 1] != '-';
}

int profile_parse_u32(const char *s, bool allow_hex, uint32_t max, uint32_t *ret) {
        unsigned long long v;
        const char *digits = s;
        char *end;
        int base = 10;

        if (allow_hex && (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)) {
                digits = s + 2;
                base = 16;
        }
        /* strtoull() would accept signs, spaces and an empty string; the profile may not. */
        if (!isxdigit((unsigned char) digits[0]) ||
            (base == 10 && !isdigit((unsigned char) digits[0])))
                return -EINVAL;
        errno = 0;
        v = strtoull(digits, &end, base);
        if (errno != 0 || *end != '\0' || v > max)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int profile_split_list(const char *s, char ***ret) {
        static const char sep[] = ", \t\r\n\v\f";
        char **l = NULL;
        size_t n = 0;

        for (s += strspn(s, sep); *s; s += strspn(s, sep)) {
                size_t len = strcspn(s, sep);
                char **nl = reallocarray(l, n + 2, sizeof(char *));

                if (!nl)
                        goto fail;
                l = nl;
                l[n] = strndup(s, len);
                if (!l[n])
                        goto fail;
                l[++n] = NULL;
                s += len;
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = l;
        return (int) n;
fail:
        if (l)
                l[n] = NULL;
        strv_free(l);
        return -ENOMEM;
}

bool profile_token_is_printable(const char *s) {
        bool upper = false, lower = false;
        size_t n = strlen(s);

        /* A key is 44 characters; a quoted token stays well below, and anything with base64's
         * '+' or '=' or mixed case at key-like length is not repeated back. */
        if (n == 0 || n > 39 || strpbrk(s, "+="))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!isascii(s[i]) || !isprint(s[i]) || s[i] == '"')
                        return false;
                upper = upper || isupper(s[i]);
                lower = lower || islower(s[i]);
        }
        return !(upper && lower && n >= 16);
}

void *profile_array_push(void **array, size_t *n, size_t sz) {
        uint8_t *a;

        /* Not realloc(): elements may hold secrets (preshared keys), and realloc() would leave
         * a copy behind in freed memory. */
        a = calloc(*n + 1, sz);
        if (!a)
                return NULL;
        if (*array) {
                memcpy(a, *array, *n * sz);
                explicit_wipe(*array, *n * sz);
                free(*array);
        }
        *array = a;
        return a + (*n)++ * sz;
}
