/* See string-util.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"

size_t utf8_decode(const char *str, uint32_t *ret_cp) {
        const unsigned char *s = (const unsigned char *) str;
        uint32_t cp;
        size_t n;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return n;
}

bool unichar_is_control(uint32_t cp) {
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029;
}

char *string_sanitize(char *buf, size_t size, const char *s) {
        static const char replacement = STRING_REPLACEMENT;
        size_t w = 0;

        if (size == 0)
                return buf;
        if (!s)
                s = "";
        while (*s) {
                uint32_t cp;
                size_t n = utf8_decode(s, &cp);
                const char *out = s;
                size_t len = n;

                if (n == 0 || unichar_is_control(cp)) {
                        out = &replacement;
                        len = 1;
                        n = n ?: 1; /* an invalid sequence: one replacement per byte */
                }
                if (w + len >= size)
                        break;
                /* w never passes the read position (len <= n): in place is safe. */
                memmove(buf + w, out, len);
                w += len;
                s += n;
        }
        buf[w] = '\0';
        return buf;
}

char *string_sanitize_inplace(char *s) {
        return s ? string_sanitize(s, strlen(s) + 1, s) : NULL;
}

char *string_sanitize_dup(const char *s) {
        size_t size = (s ? strlen(s) : 0) + 1;
        char *t = malloc(size);

        return t ? string_sanitize(t, size, s) : NULL;
}

bool string_is_printable(const char *s) {
        while (s && *s) {
                uint32_t cp;
                size_t n = utf8_decode(s, &cp);

                if (n == 0 || unichar_is_control(cp))
                        return false;
                s += n;
        }
        return true;
}

const char *prefix_to_string(int family, const void *addr, unsigned len, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN];

        if (!inet_ntop(family, addr, a, sizeof(a)))
                snprintf(a, sizeof(a), "?");
        snprintf(buf, size, "%s/%u", a, len);
        return buf;
}
