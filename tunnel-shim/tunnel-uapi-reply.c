/* A UAPI reply (the engine's "get=1" answer, or errno= for a set) parsed strictly: every line
 * key=value, a blank line at the end, peers after the device, no duplicate public key. The
 * engine is not trusted: a malformed reply is an error naming the line, never a partial
 * device. (tunnel-uapi.c builds the requests.) */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "tunnel-uapi-internal.h"
#include "tunnel-uapi.h"
#include "wg-key.h"

/* ---- replies ---- */

/* Room for one more element in an array of n: it doubles whenever n reaches a power of two.
 * Growing by one element at a time copied the whole array each time: quadratic for a reply
 * with tens of thousands of allowed IPs, minutes under ASan or valgrind, which never grow a
 * block in place. */
static void *array_grow(void *p, size_t n, size_t size) {
        if (n > 0 && (n & (n - 1)) != 0)
                return p;
        return reallocarray(p, n > 0 ? 2 * n : 1, size);
}

void uapi_device_done(UapiDevice *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_peers; i++)
                free(d->peers[i].allowed_ips);
        free(d->peers);
        *d = (UapiDevice){};
}

bool uapi_reply_complete(const char *buf, size_t len) {
        if (len == 1 && buf[0] == '\n')
                return true;
        return len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n';
}

static int parse_prefix(const char *s, UapiPrefix *ret) {
        const char *slash = strchr(s, '/');
        char a[INET6_ADDRSTRLEN];
        uint64_t len;
        UapiPrefix p = {};

        if (!slash || (size_t) (slash - s) >= sizeof(a))
                return -EINVAL;
        memcpy(a, s, (size_t) (slash - s));
        a[slash - s] = 0;
        if (inet_pton(AF_INET, a, p.addr) == 1)
                p.family = AF_INET;
        else if (inet_pton(AF_INET6, a, p.addr) == 1)
                p.family = AF_INET6;
        else
                return -EINVAL;
        if (uapi_parse_u64(slash + 1, p.family == AF_INET ? 32 : 128, &len) < 0)
                return -EINVAL;
        p.prefix_len = (uint8_t) len;
        *ret = p;
        return 0;
}

static int peer_line(UapiPeer *p, const char *key, const char *value) {
        uint64_t v = 0;
        int r;

        if (streq(key, "preshared_key")) {
                uint8_t k[WG_KEY_LEN];
                r = wg_key_from_hex(k, value);
                if (r >= 0)
                        p->has_preshared_key = !wg_key_is_zero(k);
                explicit_wipe(k, sizeof(k));
                return r < 0 ? -EINVAL : 0;
        }
        if (streq(key, "endpoint")) {
                if (uapi_endpoint_parse(value, &p->endpoint) < 0)
                        return -EINVAL;
                p->has_endpoint = true;
                return 0;
        }
        if (streq(key, "allowed_ip")) {
                UapiPrefix pfx;
                if (parse_prefix(value, &pfx) < 0)
                        return -EINVAL;
                UapiPrefix *n = array_grow(p->allowed_ips, p->n_allowed_ips, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                p->allowed_ips = n;
                n[p->n_allowed_ips++] = pfx;
                return 0;
        }
        if (streq(key, "last_handshake_time_sec")) {
                r = uapi_parse_u64(value, INT64_MAX, &v);
                p->last_handshake_sec = (int64_t) v;
        } else if (streq(key, "last_handshake_time_nsec")) {
                r = uapi_parse_u64(value, 999999999, &v);
                p->last_handshake_nsec = (int64_t) v;
        } else if (streq(key, "tx_bytes")) {
                r = uapi_parse_u64(value, UINT64_MAX, &p->tx_bytes);
        } else if (streq(key, "rx_bytes")) {
                r = uapi_parse_u64(value, UINT64_MAX, &p->rx_bytes);
        } else if (streq(key, "persistent_keepalive_interval")) {
                r = uapi_parse_u64(value, 65535, &v);
                p->persistent_keepalive = (uint32_t) v;
        } else if (streq(key, "protocol_version")) {
                r = uapi_parse_u64(value, UINT32_MAX, &v);
                p->protocol_version = (uint32_t) v;
        } else
                return 0; /* unknown: a newer engine */
        return r < 0 ? -EINVAL : 0;
}

static int device_line(UapiDevice *d, const char *key, const char *value) {
        uint64_t v;

        if (streq(key, "private_key")) {
                uint8_t k[WG_KEY_LEN];
                int r = wg_key_from_hex(k, value);
                if (r >= 0)
                        d->has_private_key = !wg_key_is_zero(k);
                explicit_wipe(k, sizeof(k));
                return r < 0 ? -EINVAL : 0;
        }
        if (streq(key, "listen_port")) {
                if (uapi_parse_u64(value, 65535, &v) < 0)
                        return -EINVAL;
                d->listen_port = (uint16_t) v;
                return 0;
        }
        if (streq(key, "fwmark")) {
                if (uapi_parse_u64(value, UINT32_MAX, &v) < 0)
                        return -EINVAL;
                d->fwmark = (uint32_t) v;
                return 0;
        }
        return 0;
}

static int new_peer(UapiDevice *d, const char *value) {
        uint8_t k[WG_KEY_LEN];
        if (wg_key_from_hex(k, value) < 0)
                return -EINVAL;
        UapiPeer *n = array_grow(d->peers, d->n_peers, sizeof(*n));
        if (!n)
                return -ENOMEM;
        d->peers = n;
        n[d->n_peers] = (UapiPeer){};
        memcpy(n[d->n_peers].public_key, k, WG_KEY_LEN);
        d->n_peers++;
        return 0;
}

static int peer_ptr_compare(const void *a, const void *b) {
        const UapiPeer *x = *(const UapiPeer *const *) a, *y = *(const UapiPeer *const *) b;
        int c = memcmp(x->public_key, y->public_key, WG_KEY_LEN);
        return c != 0 ? c : x < y ? -1 : x > y;
}

/* The index of the first peer whose key an earlier peer has too, -1 if none, or -ENOMEM.
 * Sorted, not compared with every earlier peer as each arrives: that was quadratic, ~20 s
 * for the 50000 peers a 4 MiB reply can hold. */
static ssize_t find_duplicate(const UapiDevice *d) {
        ssize_t dup = -1;
        if (d->n_peers < 2)
                return -1;
        const UapiPeer **v = calloc(d->n_peers, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_peers; i++)
                v[i] = &d->peers[i];
        /* Equal keys end up in the order of their peers: v[i] is a later one than v[i - 1]. */
        qsort(v, d->n_peers, sizeof(*v), peer_ptr_compare);
        for (size_t i = 1; i < d->n_peers; i++)
                if (memcmp(v[i - 1]->public_key, v[i]->public_key, WG_KEY_LEN) == 0 &&
                    (dup < 0 || v[i] - d->peers < dup))
                        dup = v[i] - d->peers;
        free(v);
        return dup;
}

/* Names a key for an error message: printable, bounded, never a value. */
static void key_for_message(const char *key, char buf[33]) {
        size_t i = 0;
        for (; key[i] && i < 32; i++)
                buf[i] = (key[i] >= 'a' && key[i] <= 'z') || key[i] == '_' ? key[i] : '?';
        buf[i] = 0;
}

/* One key=value line of a reply: errno=, a peer's public_key= (which starts the peer), a key
 * of the current peer, or one of the device's. 0, or error_set()'s -errno. */
static int reply_key(UapiDevice *d, unsigned **peer_lines, bool *have_errno, unsigned lineno,
                     const char *key, const char *value, char **ret_error) {
        char kname[33];
        int r;
        key_for_message(key, kname);

        if (streq(key, "errno")) {
                uint64_t v = 0;
                /* wireguard-go writes it positive; accept a negative one too. */
                const char *digits = value[0] == '-' ? value + 1 : value;
                if (uapi_parse_u64(digits, 4095, &v) < 0)
                        return error_set(ret_error, -EBADMSG, "line %u: bad errno value", lineno);
                d->errnum = (int) v;
                *have_errno = true;
                return 0;
        }
        if (streq(key, "public_key")) {
                unsigned *l = array_grow(*peer_lines, d->n_peers, sizeof(*l));
                if (l)
                        *peer_lines = l;
                r = l ? new_peer(d, value) : -ENOMEM;
                if (r < 0)
                        return error_set(ret_error, r == -ENOMEM ? r : -EBADMSG,
                                         "line %u: %s public_key", lineno,
                                         r == -ENOMEM ? "no memory for" : "malformed");
                (*peer_lines)[d->n_peers - 1] = lineno;
                return 0;
        }
        if (d->n_peers > 0) {
                if (peer_line(&d->peers[d->n_peers - 1], key, value) < 0)
                        return error_set(ret_error, -EBADMSG, "line %u: bad value for peer key %s",
                                         lineno, kname);
                return 0;
        }
        if (device_line(d, key, value) < 0)
                return error_set(ret_error, -EBADMSG, "line %u: bad value for %s", lineno, kname);
        return 0;
}

int uapi_parse_reply(const char *buf, size_t len, UapiDevice *ret, char **ret_error) {
        UapiDevice d = {};
        _cleanup_free_ unsigned *peer_lines = NULL; /* where each peer starts */
        bool have_errno = false;
        unsigned lineno = 0;
        char line[UAPI_LINE_MAX];
        int r = 0;

        if (len > UAPI_REPLY_MAX)
                return error_set(ret_error, -EBADMSG, "reply too long (%zu bytes)", len);
        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                size_t llen = nl ? (size_t) (nl - (buf + pos)) : len - pos;
                lineno++;
                if (llen >= sizeof(line)) {
                        r = error_set(ret_error, -EBADMSG, "line %u too long", lineno);
                        break;
                }
                memcpy(line, buf + pos, llen);
                line[llen] = 0;
                pos += llen + 1;

                if (llen == 0) {
                        /* The blank line ends the reply. */
                        if (pos < len) {
                                r = error_set(ret_error, -EBADMSG, "data after the blank line %u",
                                              lineno);
                        }
                        break;
                }
                if (memchr(line, 0, llen)) {
                        r = error_set(ret_error, -EBADMSG, "line %u contains a NUL byte", lineno);
                        break;
                }
                if (have_errno) {
                        r = error_set(ret_error, -EBADMSG, "line %u follows errno=", lineno);
                        break;
                }
                char *eq = strchr(line, '=');
                if (!eq || eq == line) {
                        r = error_set(ret_error, -EBADMSG, "line %u is not key=value", lineno);
                        break;
                }
                *eq = 0;
                r = reply_key(&d, &peer_lines, &have_errno, lineno, line, eq + 1, ret_error);
                if (r < 0)
                        break;
        }
        explicit_wipe(line, sizeof(line));
        if (r >= 0) {
                ssize_t dup = find_duplicate(&d);
                if (dup == -ENOMEM)
                        r = error_set(ret_error, -ENOMEM, "out of memory");
                else if (dup >= 0)
                        r = error_set(ret_error, -EBADMSG, "line %u: duplicate public_key",
                                      peer_lines[dup]);
        }
        if (r >= 0 && !have_errno)
                r = error_set(ret_error, -EBADMSG, "reply ends without errno=");
        if (r < 0) {
                uapi_device_done(&d);
                return r == -ENOMEM ? -ENOMEM : -EBADMSG;
        }
        *ret = d;
        return 0;
}

const char *uapi_errno_name(int errnum) {
        switch (errnum) {
        case EINVAL:
                return "invalid argument (EINVAL)";
        case EIO:
                return "I/O error (EIO)";
        case EPROTO:
                return "protocol error (EPROTO)";
        case EADDRINUSE:
                return "listen port in use (EADDRINUSE)";
        case ENOBUFS:
                return "unknown engine error (ENOBUFS)";
        case EPERM:
                return "operation not permitted (EPERM)";
        default:
                return "unexpected error";
        }
}
