/* The connection preamble: "tund <role> <versions>\n", versions "M.m" sorted ascending and
 * comma-separated. Both sides write first, then read the peer's line; see ipc.h. */
#include <ctype.h>
#include <stdio.h>

#include "error-util.h"
#include "ipc.h"

int ipc_handshake_format(char *buf, size_t size, const char *role, const IpcVersion *v, size_t n) {
        if (!role || !*role || n == 0 || n > IPC_MAX_VERSIONS)
                return -EINVAL;
        size_t len = 0;
        int k = snprintf(buf, size, "tund %s ", role);
        if (k < 0 || (size_t) k >= size)
                return -ENOBUFS;
        len = k;
        for (size_t i = 0; i < n; i++) {
                k = snprintf(buf + len, size - len, "%s%u.%u", i ? "," : "", v[i].major,
                             v[i].minor);
                if (k < 0 || (size_t) k >= size - len)
                        return -ENOBUFS;
                len += k;
        }
        if (len + 2 > size || len + 1 > IPC_HANDSHAKE_LINE_MAX)
                return -ENOBUFS;
        buf[len++] = '\n';
        buf[len] = 0;
        return (int) len;
}

/* Parses "M.m[,M.m...]" strictly: decimal numbers without signs or leading junk. */
static int parse_versions(const char *s, IpcVersion *v, size_t *n) {
        size_t count = 0;
        while (*s) {
                unsigned part[2];
                for (int i = 0; i < 2; i++) {
                        if (!isdigit((unsigned char) *s))
                                return -EPROTO;
                        unsigned long x = 0;
                        int digits = 0;
                        while (isdigit((unsigned char) *s)) {
                                x = x * 10 + (unsigned long) (*s++ - '0');
                                if (++digits > 5)
                                        return -EPROTO;
                        }
                        part[i] = (unsigned) x;
                        if (i == 0 && *s++ != '.')
                                return -EPROTO;
                }
                if (count == IPC_MAX_VERSIONS)
                        return -EPROTO;
                v[count++] = (IpcVersion){ part[0], part[1] };
                if (*s == ',' && s[1])
                        s++;
                else if (*s)
                        return -EPROTO;
                else
                        break;
        }
        if (count == 0)
                return -EPROTO;
        *n = count;
        return 0;
}

int ipc_handshake_parse(const char *line, const char *expect_role, const IpcVersion *ours,
                        size_t n_ours, IpcVersion *ret, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        if (strlen(line) >= IPC_HANDSHAKE_LINE_MAX)
                return error_set(ret_error, -EPROTO, "handshake line longer than %u bytes",
                                 IPC_HANDSHAKE_LINE_MAX);
        if (strncmp(line, "tund ", 5) != 0)
                return error_set(ret_error, -EPROTO, "peer is not speaking the tund protocol");

        const char *role = line + 5, *sp = strchr(role, ' ');
        if (!sp || sp == role)
                return error_set(ret_error, -EPROTO, "malformed handshake line");
        size_t role_len = (size_t) (sp - role);
        for (size_t i = 0; i < role_len; i++)
                if (!islower((unsigned char) role[i]))
                        return error_set(ret_error, -EPROTO, "malformed role in handshake");

        IpcVersion theirs[IPC_MAX_VERSIONS];
        size_t n_theirs = 0;
        if (parse_versions(sp + 1, theirs, &n_theirs) < 0)
                return error_set(ret_error, -EPROTO, "malformed version list in handshake");

        if (strlen(expect_role) != role_len || strncmp(role, expect_role, role_len) != 0)
                return error_set(ret_error, -EPERM, "peer has role '%.*s', expected '%s'",
                                 (int) role_len, role, expect_role);

        /* Highest common major; within it the lower of the two highest minors. */
        bool found = false;
        IpcVersion best = { 0, 0 };
        for (size_t i = 0; i < n_ours; i++)
                for (size_t j = 0; j < n_theirs; j++) {
                        if (ours[i].major != theirs[j].major)
                                continue;
                        IpcVersion c = { ours[i].major, MIN(ours[i].minor, theirs[j].minor) };
                        if (!found || c.major > best.major ||
                            (c.major == best.major && c.minor > best.minor)) {
                                best = c;
                                found = true;
                        }
                }
        if (!found)
                return error_set(ret_error, -EPROTONOSUPPORT,
                                 "no common protocol version (peer offers %s)", sp + 1);
        if (ret)
                *ret = best;
        return 0;
}
