#include "tunnel-uapi.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "tunnel-uapi-internal.h"
#include "wg-key.h"

/* ---- SecBuf ---- */

static int secbuf_reserve(SecBuf *b, size_t extra) {
        if (extra > SIZE_MAX / 2 - b->len)
                return -ENOMEM;
        if (b->len + extra + 1 <= b->size)
                return 0;
        size_t nsize = MAX(b->size * 2, b->len + extra + 1);
        nsize = MAX(nsize, (size_t) 256);
        /* Not realloc(): it may leave a copy of the old contents in freed memory. */
        char *n = malloc(nsize);
        if (!n)
                return -ENOMEM;
        if (b->data) {
                memcpy(n, b->data, b->len);
                explicit_wipe(b->data, b->size);
                free(b->data);
        }
        b->data = n;
        b->size = nsize;
        b->data[b->len] = 0;
        return 0;
}

int secbuf_append(SecBuf *b, const void *p, size_t n) {
        int r = secbuf_reserve(b, n);
        if (r < 0)
                return r;
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

int secbuf_printf(SecBuf *b, const char *fmt, ...) {
        char small[256];
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n < sizeof(small)) {
                int r = secbuf_append(b, small, n);
                explicit_wipe(small, sizeof(small));
                return r;
        }
        int r = secbuf_reserve(b, (size_t) n);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->len += n;
        explicit_wipe(small, sizeof(small));
        return 0;
}

void secbuf_wipe(SecBuf *b) {
        if (b->data) {
                explicit_wipe(b->data, b->size);
                free(b->data);
        }
        *b = (SecBuf){};
}

/* ---- small helpers ---- */

void uapi_peer_name(const char *b64, char buf[static UAPI_PEER_NAME_LEN + 4]) {
        size_t i = 0;
        for (; b64 && b64[i] && i < UAPI_PEER_NAME_LEN; i++) {
                char c = b64[i];
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/';
                buf[i] = ok ? c : '?';
        }
        if (i == 0)
                buf[i++] = '?';
        /* "…" in UTF-8 */
        buf[i++] = (char) 0xe2;
        buf[i++] = (char) 0x80;
        buf[i++] = (char) 0xa6;
        buf[i] = 0;
}

/* Strict decimal: digits only, no sign, no overflow beyond max. */
int uapi_parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;
        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (*s - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* ---- endpoints ---- */

int uapi_endpoint_split(const char *s, char **ret_host, uint16_t *ret_port) {
        const char *host, *colon;
        size_t hlen;

        if (isempty(s))
                return -EINVAL;
        if (s[0] == '[') {
                const char *end = strchr(s, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                host = s + 1;
                hlen = (size_t) (end - host);
                colon = end + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || memchr(s, ':', (size_t) (colon - s)))
                        return -EINVAL; /* no port, or an unbracketed IPv6 address */
                host = s;
                hlen = (size_t) (colon - s);
        }
        if (hlen == 0 || hlen > 253)
                return -EINVAL;
        for (size_t i = 0; i < hlen; i++)
                if ((unsigned char) host[i] <= ' ' || host[i] == '/' || host[i] == '[' ||
                    host[i] == ']')
                        return -EINVAL;
        uint64_t port;
        if (uapi_parse_u64(colon + 1, 65535, &port) < 0 || port == 0)
                return -EINVAL;
        char *h = strndup(host, hlen);
        if (!h)
                return -ENOMEM;
        *ret_host = h;
        *ret_port = (uint16_t) port;
        return 0;
}

int uapi_endpoint_numeric(const char *host, uint16_t port, union sockaddr_union *ret) {
        union sockaddr_union sa = {};
        if (inet_pton(AF_INET, host, &sa.in.sin_addr) == 1) {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                *ret = sa;
                return 1;
        }
        const char *pct = strchr(host, '%');
        char buf[INET6_ADDRSTRLEN];
        size_t alen = pct ? (size_t) (pct - host) : strlen(host);
        if (alen >= sizeof(buf))
                return 0;
        memcpy(buf, host, alen);
        buf[alen] = 0;
        if (inet_pton(AF_INET6, buf, &sa.in6.sin6_addr) != 1)
                return 0;
        if (pct) {
                /* Only numeric scope ids: a name would need the host's interfaces. */
                uint64_t scope;
                if (uapi_parse_u64(pct + 1, UINT32_MAX, &scope) < 0)
                        return 0;
                sa.in6.sin6_scope_id = (uint32_t) scope;
        }
        sa.in6.sin6_family = AF_INET6;
        sa.in6.sin6_port = htons(port);
        *ret = sa;
        return 1;
}

int uapi_endpoint_format(const union sockaddr_union *sa, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN];
        int n;

        if (sa->sa.sa_family == AF_INET) {
                inet_ntop(AF_INET, &sa->in.sin_addr, a, sizeof(a));
                n = snprintf(buf, size, "%s:%u", a, ntohs(sa->in.sin_port));
        } else if (sa->sa.sa_family == AF_INET6) {
                inet_ntop(AF_INET6, &sa->in6.sin6_addr, a, sizeof(a));
                if (sa->in6.sin6_scope_id)
                        n = snprintf(buf, size, "[%s%%%" PRIu32 "]:%u", a, sa->in6.sin6_scope_id,
                                     ntohs(sa->in6.sin6_port));
                else
                        n = snprintf(buf, size, "[%s]:%u", a, ntohs(sa->in6.sin6_port));
        } else
                return -EAFNOSUPPORT;
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

int uapi_endpoint_parse(const char *s, union sockaddr_union *ret) {
        _cleanup_free_ char *host = NULL;
        uint16_t port;
        int r = uapi_endpoint_split(s, &host, &port);
        if (r < 0)
                return r;
        /* An IPv6 address must come in brackets, an IPv4 one without. */
        bool bracketed = s[0] == '[';
        r = uapi_endpoint_numeric(host, port, ret);
        if (r <= 0 || bracketed != (ret->sa.sa_family == AF_INET6))
                return -EINVAL;
        return 0;
}

/* ---- requests ---- */

int uapi_prefix_format(const Tund__IpPrefix *p, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN];
        int family;
        unsigned maxlen;

        if (!p)
                return -EINVAL;
        if (p->address.len == 4)
                family = AF_INET, maxlen = 32;
        else if (p->address.len == 16)
                family = AF_INET6, maxlen = 128;
        else
                return -EINVAL;
        if (p->prefix_len > maxlen)
                return -EINVAL;
        inet_ntop(family, p->address.data, a, sizeof(a));
        int n = snprintf(buf, size, "%s/%u", a, p->prefix_len);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

/* Writes "KEY=hex\n" for a base64 key; the decoded and hex copies are wiped. */
static int put_key(SecBuf *out, const char *name, const char *b64) {
        uint8_t key[WG_KEY_LEN];
        char hex[WG_KEY_HEX_LEN + 1];

        int r = wg_key_from_base64(key, b64);
        if (r >= 0) {
                wg_key_to_hex(hex, key);
                r = secbuf_printf(out, "%s=%s\n", name, hex);
        }
        explicit_wipe(key, sizeof(key));
        explicit_wipe(hex, sizeof(hex));
        return r;
}

static int put_peer_key(SecBuf *out, const Tund__WgPeer *p, size_t i, char **ret_error) {
        char name[UAPI_PEER_NAME_LEN + 4];
        uint8_t key[WG_KEY_LEN];

        uapi_peer_name(p->public_key, name);
        int r = wg_key_from_base64(key, p->public_key ? p->public_key : "");
        if (r < 0)
                return error_set(ret_error, -EINVAL, "peer %zu (%s): invalid public key", i + 1,
                                 name);
        if (wg_key_is_zero(key))
                return error_set(ret_error, -EINVAL, "peer %zu (%s): all-zero public key", i + 1,
                                 name);
        r = put_key(out, "public_key", p->public_key);
        return r == -EINVAL
                       ? error_set(ret_error, r, "peer %zu (%s): invalid public key", i + 1, name)
                       : r;
}

static int put_endpoint(SecBuf *out, const UapiEndpoint *ep) {
        char e[UAPI_ENDPOINT_MAX];
        int r = uapi_endpoint_format(&ep->addr, e, sizeof(e));
        if (r < 0)
                return r;
        return secbuf_printf(out, "endpoint=%s\n", e);
}

static int put_peer(SecBuf *out, const Tund__WgPeer *p, size_t i, const UapiEndpoint *ep,
                    char **ret_error) {
        char name[UAPI_PEER_NAME_LEN + 4];
        int r;

        uapi_peer_name(p->public_key, name);
        r = put_peer_key(out, p, i, ret_error);
        if (r < 0)
                return r;
        if (!isempty(p->preshared_key)) {
                r = put_key(out, "preshared_key", p->preshared_key);
                if (r == -EINVAL)
                        return error_set(ret_error, r,
                                         "peer %zu (%s): invalid preshared key (not the base64 of "
                                         "32 bytes)",
                                         i + 1, name);
                if (r < 0)
                        return r;
        }
        if (ep && ep->addr.sa.sa_family != AF_UNSPEC) {
                r = put_endpoint(out, ep);
                if (r < 0)
                        return error_set(ret_error, r, "peer %zu (%s): bad endpoint address", i + 1,
                                         name);
        } else if (!isempty(p->endpoint))
                return error_set(ret_error, -EINVAL, "peer %zu (%s): endpoint was not resolved",
                                 i + 1, name);
        if (p->persistent_keepalive > 65535)
                return error_set(ret_error, -EINVAL,
                                 "peer %zu (%s): persistent keepalive %u out of range (0..65535)",
                                 i + 1, name, p->persistent_keepalive);
        r = secbuf_printf(out, "persistent_keepalive_interval=%u\nreplace_allowed_ips=true\n",
                          p->persistent_keepalive);
        if (r < 0)
                return r;
        for (size_t j = 0; j < p->n_allowed_ips; j++) {
                char pfx[INET6_ADDRSTRLEN + 5];
                if (uapi_prefix_format(p->allowed_ips[j], pfx, sizeof(pfx)) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "peer %zu (%s): allowed IP %zu is not a valid prefix",
                                         i + 1, name, j + 1);
                r = secbuf_printf(out, "allowed_ip=%s\n", pfx);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int put_device(SecBuf *out, const Tund__WgConfig *cfg, char **ret_error) {
        if (cfg->listen_port > 65535)
                return error_set(ret_error, -EINVAL, "listen port %u out of range",
                                 cfg->listen_port);
        int r = put_key(out, "private_key", cfg->private_key ? cfg->private_key : "");
        if (r == -EINVAL)
                return error_set(ret_error, r, "invalid private key (not the base64 of 32 bytes)");
        if (r < 0)
                return r;
        return secbuf_printf(out, "listen_port=%u\nfwmark=%u\nreplace_peers=true\n",
                             cfg->listen_port, cfg->fwmark);
}

static int check_duplicate(const Tund__WgConfig *cfg, size_t i, char **ret_error) {
        /* The engine would merge a repeated peer into one: refuse instead. */
        for (size_t j = 0; j < i; j++)
                if (streq_ptr(cfg->peers[j]->public_key, cfg->peers[i]->public_key)) {
                        char name[UAPI_PEER_NAME_LEN + 4];
                        uapi_peer_name(cfg->peers[i]->public_key, name);
                        return error_set(ret_error, -EINVAL,
                                         "peer %zu (%s): same public key as peer %zu", i + 1, name,
                                         j + 1);
                }
        return 0;
}

int uapi_build_config(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints, SecBuf *out,
                      char **ret_error) {
        int r;

        if (!cfg)
                return error_set(ret_error, -EINVAL, "no WireGuard configuration");
        r = secbuf_append(out, "set=1\n", 6);
        if (r < 0)
                return r;
        r = put_device(out, cfg, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < cfg->n_peers; i++) {
                r = check_duplicate(cfg, i, ret_error);
                if (r < 0)
                        return r;
                r = put_peer(out, cfg->peers[i], i, endpoints ? &endpoints[i] : NULL, ret_error);
                if (r < 0)
                        return r;
        }
        return secbuf_append(out, "\n", 1);
}

int uapi_build_device(const Tund__WgConfig *cfg, SecBuf *out, char **ret_error) {
        if (!cfg)
                return error_set(ret_error, -EINVAL, "no WireGuard configuration");
        int r = secbuf_append(out, "set=1\n", 6);
        if (r >= 0)
                r = put_device(out, cfg, ret_error);
        if (r >= 0)
                r = secbuf_append(out, "\n", 1);
        return r;
}

int uapi_build_peer(const Tund__WgConfig *cfg, size_t i, const UapiEndpoint *endpoints, SecBuf *out,
                    char **ret_error) {
        if (!cfg || i >= cfg->n_peers)
                return -EINVAL;
        int r = check_duplicate(cfg, i, ret_error);
        if (r >= 0)
                r = secbuf_append(out, "set=1\n", 6);
        if (r >= 0)
                r = put_peer(out, cfg->peers[i], i, endpoints ? &endpoints[i] : NULL, ret_error);
        if (r >= 0)
                r = secbuf_append(out, "\n", 1);
        return r;
}

int uapi_build_endpoints(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints, SecBuf *out,
                         char **ret_error) {
        int r = secbuf_append(out, "set=1\n", 6);
        if (r < 0)
                return r;
        for (size_t i = 0; cfg && endpoints && i < cfg->n_peers; i++) {
                const Tund__WgPeer *p = cfg->peers[i];
                if (endpoints[i].addr.sa.sa_family == AF_UNSPEC)
                        continue;
                r = put_peer_key(out, p, i, ret_error);
                if (r < 0)
                        return r;
                r = put_endpoint(out, &endpoints[i]);
                if (r < 0)
                        return r;
                /* Turning the keepalive on makes the engine send one at once (and start a
                 * handshake when its session has expired): the peer learns our new address
                 * now, not at the next keepalive. */
                if (p->persistent_keepalive > 0 && p->persistent_keepalive <= 65535) {
                        r = secbuf_printf(out,
                                          "persistent_keepalive_interval=0\n"
                                          "persistent_keepalive_interval=%u\n",
                                          p->persistent_keepalive);
                        if (r < 0)
                                return r;
                }
        }
        return secbuf_append(out, "\n", 1);
}
