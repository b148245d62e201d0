/* Engine detection: read wireguard-go's version out of its binary and map it to TUN flags. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "engine.h"
#include "error-util.h"
#include "macro.h"

#define ENGINE_NAME "wireguard-go"
/* Every release so far is "0.0.YYYYMMDD". */
#define ENGINE_VERSION_PREFIX "0.0.2"
/* Debian's is 2.5 MB; Go binaries of wireguard-go stay well below this. */
#define ENGINE_FILE_MAX (UINT64_C(256) << 20)

/* Releases whose framing was checked against their TUN code (see engine.h). */
#define ENGINE_LAST_PI_DATE UINT32_C(20220316)
#define ENGINE_FIRST_NO_PI_DATE UINT32_C(20250515)

const char *engine_tun_flavour_to_string(EngineTunFlavour f) {
        switch (f) {
        case ENGINE_TUN_FLAVOUR_PI:
                return "pi";
        case ENGINE_TUN_FLAVOUR_NO_PI:
                return "no-pi";
        default:
                return "unknown";
        }
}

EngineTunFlavour engine_tun_flavour_from_string(const char *s) {
        if (s && strcasecmp(s, "pi") == 0)
                return ENGINE_TUN_FLAVOUR_PI;
        if (s && strcasecmp(s, "no-pi") == 0)
                return ENGINE_TUN_FLAVOUR_NO_PI;
        return ENGINE_TUN_FLAVOUR_UNKNOWN;
}

EngineTunFlavour engine_flavour_from_version(const char *version) {
        unsigned major, minor, date;
        int end = 0;

        if (sscanf(version, "%u.%u.%u%n", &major, &minor, &date, &end) != 3 || end <= 0)
                return ENGINE_TUN_FLAVOUR_UNKNOWN;
        if (major != 0 || minor != 0 || date < 20170000 || date > 99991231)
                return ENGINE_TUN_FLAVOUR_UNKNOWN;
        /* A suffix ("-3-gabcdef") means commits after the release: fine after the switch to
         * IFF_NO_PI, unknowable before it. */
        if (date >= ENGINE_FIRST_NO_PI_DATE)
                return ENGINE_TUN_FLAVOUR_NO_PI;
        if (date <= ENGINE_LAST_PI_DATE && version[end] == '\0')
                return ENGINE_TUN_FLAVOUR_PI;
        return ENGINE_TUN_FLAVOUR_UNKNOWN;
}

static bool is_digit(unsigned char c) {
        return c >= '0' && c <= '9';
}

static bool is_lower_hex(unsigned char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* A git suffix after the date ("-3-gabcdef1", "-dirty", both), as upstream's Makefile writes
 * into version.go for a build between releases. Returns its length, 0 if there is none. What
 * follows the constant in the binary is another string, so a neighbour that happens to look
 * like a suffix is taken for one: that only makes a version unknown, never wrong. */
static size_t suffix_len(const unsigned char *p, const unsigned char *end) {
        const unsigned char *q = p;
        if (end - q >= 3 && q[0] == '-' && is_digit(q[1])) {
                const unsigned char *d = q + 1;
                while (d < end && is_digit(*d))
                        d++;
                if (end - d >= 5 && d[0] == '-' && d[1] == 'g' && is_lower_hex(d[2])) {
                        d += 2;
                        while (d < end && is_lower_hex(*d) && d - q < 48)
                                d++;
                        q = d;
                }
        }
        if (end - q >= 6 && memcmp(q, "-dirty", 6) == 0)
                q += 6;
        return (size_t) (q - p);
}

/* What a scan found so far: the binary named itself; the one version, or several. */
typedef struct VersionScan {
        bool named;
        bool several;
        char found[ENGINE_VERSION_MAX];
} VersionScan;

/* Scans p[0..size) for versions that start in [from, upto): the bytes before from give a
 * match its preceding byte, those after upto the rest of a match near the end. */
static void scan_versions(const unsigned char *p, size_t size, size_t from, size_t upto,
                          VersionScan *s) {
        const unsigned char *end = p + size, *stop = p + upto;

        if (!s->named && memmem(p, size, ENGINE_NAME, STRLEN(ENGINE_NAME)))
                s->named = true;
        for (const unsigned char *q = p + from;
             q < stop &&
             (q = memmem(q, (size_t) (end - q), ENGINE_VERSION_PREFIX,
                         STRLEN(ENGINE_VERSION_PREFIX))) &&
             q < stop;
             q++) {
                const unsigned char *d = q + STRLEN(ENGINE_VERSION_PREFIX);
                char v[ENGINE_VERSION_MAX];
                size_t n;

                /* "10.0.0.20..." or "1.0.0.2...": part of something else. */
                if (q > p && (is_digit(q[-1]) || q[-1] == '.'))
                        continue;
                if (end - d < 7)
                        break;
                for (n = 0; n < 7 && is_digit(d[n]); n++)
                        ;
                if (n < 7)
                        continue;
                n = STRLEN(ENGINE_VERSION_PREFIX) + 7;
                n += suffix_len(q + n, end);
                if (n >= sizeof(v))
                        continue;
                memcpy(v, q, n);
                v[n] = '\0';
                if (s->found[0] && !streq(s->found, v))
                        s->several = true;
                else
                        memcpy(s->found, v, n + 1);
        }
}

static int scan_result(const VersionScan *s, char ret_version[ENGINE_VERSION_MAX]) {
        if (!s->named || !s->found[0])
                return -ENOENT;
        if (s->several)
                return -ENOTUNIQ;
        memcpy(ret_version, s->found, strlen(s->found) + 1);
        return 0;
}

int engine_find_version(const void *data, size_t size, char ret_version[ENGINE_VERSION_MAX]) {
        VersionScan s = {};
        scan_versions(data, size, 0, size, &s);
        return scan_result(&s, ret_version);
}

/* The binary is read in pieces through one small buffer, not mapped: scanning a mapping of
 * the whole file (several MiB) made its pages part of the shim's peak RSS (4.1 -> 6.0 MiB in
 * make bench). A piece is scanned for versions that start before its last VERSION_TAIL bytes,
 * which the next piece repeats (with one byte before them, the preceding byte a match is
 * checked against): a version is at most ENGINE_VERSION_MAX bytes, so every one is seen
 * whole, exactly once. */
#define VERSION_CHUNK (64U * 1024U)
#define VERSION_TAIL 256U
_Static_assert(VERSION_TAIL > ENGINE_VERSION_MAX && VERSION_TAIL > STRLEN(ENGINE_NAME),
               "a version or the name fits in the tail");

static int read_version_fd(int fd, const char *path, char ret_version[ENGINE_VERSION_MAX],
                           char **ret_error) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return error_set(ret_error, negative_errno(), "%s: cannot stat: %m", path);
        if (!S_ISREG(st.st_mode))
                return error_set(ret_error, -ENOEXEC, "%s: not a regular file", path);
        if (st.st_size <= 0 || (uint64_t) st.st_size > ENGINE_FILE_MAX)
                return error_set(ret_error, -EFBIG, "%s: %s (%lld bytes)", path,
                                 st.st_size <= 0 ? "empty" : "too large for wireguard-go",
                                 (long long) st.st_size);

        _cleanup_free_ unsigned char *buf = malloc(VERSION_CHUNK);
        if (!buf)
                return -ENOMEM;
        VersionScan s = {};
        uint64_t off = 0; /* file offset of what is read next */
        size_t len = 0, from = 0;
        for (;;) {
                ssize_t k = pread(fd, buf + len, VERSION_CHUNK - len, (off_t) off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return error_set(ret_error, negative_errno(), "%s: cannot read: %m", path);
                off += (uint64_t) k;
                len += (size_t) k;
                bool last = k == 0 || off >= (uint64_t) st.st_size;
                if (!last && len < VERSION_CHUNK)
                        continue;
                size_t upto = last ? len : len - VERSION_TAIL;
                scan_versions(buf, len, from, upto, &s);
                if (last)
                        break;
                /* Keep the tail and the byte before it; continue after them. */
                memmove(buf, buf + upto - 1, len - (upto - 1));
                len -= upto - 1;
                from = 1;
        }
        int r = scan_result(&s, ret_version);
        if (r == -ENOENT || r == -ENOTUNIQ)
                ret_version[0] = '\0';
        return r == -ENOTUNIQ ? 1 : 0;
}

int engine_detect_fd(int fd, const char *path, EngineTunFlavour override, EngineInfo *ret,
                     char **ret_error) {
        EngineInfo info = {};
        int r;

        path = path ?: ENGINE_DEFAULT_PATH;
        if (strlen(path) >= sizeof(info.path))
                return error_set(ret_error, -ENAMETOOLONG, "%s: path too long", path);
        strcpy(info.path, path);
        r = read_version_fd(fd, path, info.version, ret_error);
        if (r < 0)
                return r;
        bool ambiguous = r > 0;
        if (info.version[0])
                info.flavour = engine_flavour_from_version(info.version);
        if (override != ENGINE_TUN_FLAVOUR_UNKNOWN) {
                info.flavour = override;
                info.flavour_overridden = 1;
        } else if (info.flavour == ENGINE_TUN_FLAVOUR_UNKNOWN) {
                char what[ENGINE_VERSION_MAX + 64];
                if (ambiguous)
                        snprintf(what, sizeof(what), "several wireguard-go versions in the binary");
                else if (info.version[0])
                        snprintf(what, sizeof(what), "unknown wireguard-go version %s",
                                 info.version);
                else
                        snprintf(what, sizeof(what), "no wireguard-go version in the binary");
                return error_set(ret_error, -EPROTONOSUPPORT,
                                 "%s: %s: cannot tell whether it needs IFF_NO_PI; set "
                                 "EngineTunFlavour=pi or no-pi in [Tund]",
                                 path, what);
        }
        *ret = info;
        return 0;
}

int engine_detect_full(const char *path, EngineTunFlavour override, uint64_t timeout_usec,
                       EngineInfo *ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;

        path = path ?: ENGINE_DEFAULT_PATH;
        /* O_NONBLOCK: a FIFO planted at the path must not hang us. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "%s: cannot open: %m", path);
        return engine_detect_fd(fd, path, override, ret, ret_error);
}

int engine_detect(const char *path, EngineInfo *ret, char **ret_error) {
        return engine_detect_full(path, ENGINE_TUN_FLAVOUR_UNKNOWN, 0, ret, ret_error);
}
