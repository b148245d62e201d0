/* The settings policy: what the tunnel asks for must be what tund-tunnel derives from the
 * profile (tunnel-settings.c), and nothing else. The helper, the tunnel and the engine have no
 * capabilities of their own; this check is what keeps a bug in any of them from turning a full
 * tunnel off (excluding 0.0.0.0/1 and 128.0.0.0/1, leaving a route out), sending DNS elsewhere
 * or taking IPv6 off the link (an MTU below 1280 disables it there). */
#include <arpa/inet.h>
#include <stdio.h>

#include "error-util.h"
#include "macro.h"
#include "netshim-policy.h"
#include "string-util.h"

static bool prefix_valid(const Tund__IpPrefix *p) {
        return (p->address.len == 4 && p->prefix_len <= 32) ||
               (p->address.len == 16 && p->prefix_len <= 128);
}

bool netshim_prefix_within(const Tund__IpPrefix *inner, const Tund__IpPrefix *outer) {
        if (!prefix_valid(inner) || !prefix_valid(outer))
                return false;
        if (inner->address.len != outer->address.len || inner->prefix_len < outer->prefix_len)
                return false;
        unsigned bits = outer->prefix_len;
        const uint8_t *a = inner->address.data, *b = outer->address.data;
        if (memcmp(a, b, bits / 8) != 0)
                return false;
        if (bits % 8 == 0)
                return true;
        uint8_t mask = (uint8_t) (0xff << (8 - bits % 8));
        return (a[bits / 8] & mask) == (b[bits / 8] & mask);
}

/* The same network: host bits do not count (tund-tunnel clears them, the profile may not). */
static bool prefix_same(const Tund__IpPrefix *p, const Tund__IpPrefix *q) {
        return p->prefix_len == q->prefix_len && netshim_prefix_within(p, q);
}

/* The same address and length, host bits included: interface addresses. */
static bool prefix_identical(const Tund__IpPrefix *p, const Tund__IpPrefix *q) {
        return p->prefix_len == q->prefix_len && p->address.len == q->address.len &&
               memcmp(p->address.data, q->address.data, p->address.len) == 0;
}

static bool prefix_is_host(const Tund__IpPrefix *p) {
        return prefix_valid(p) && p->prefix_len == p->address.len * 8;
}

static const char *addr_str(const ProtobufCBinaryData *a, char *buf, size_t size) {
        if (a->len != 4 && a->len != 16)
                snprintf(buf, size, "(%zu bytes)", a->len);
        else if (!inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->data, buf, (socklen_t) size))
                snprintf(buf, size, "?");
        return buf;
}

static const char *prefix_str(const Tund__IpPrefix *p, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN + 16];
        snprintf(buf, size, "%s/%u", addr_str(&p->address, a, sizeof(a)), p->prefix_len);
        return buf;
}

typedef bool (*PrefixEq)(const Tund__IpPrefix *p, const Tund__IpPrefix *q);

static bool prefix_in(const Tund__IpPrefix *p, Tund__IpPrefix *const *set, size_t n, PrefixEq eq) {
        for (size_t i = 0; i < n; i++)
                if (eq(p, set[i]))
                        return true;
        return false;
}

static bool within_any(const Tund__IpPrefix *p, Tund__IpPrefix *const *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (netshim_prefix_within(p, set[i]))
                        return true;
        return false;
}

/* ---- addresses and routes ---- */

static int check_addresses(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                           char **ret_error) {
        char buf[80];
        for (size_t i = 0; i < r->n_addresses; i++)
                if (!prefix_in(r->addresses[i], a->addresses, a->n_addresses, prefix_identical))
                        return error_set(ret_error, -EPERM,
                                         "address %s is not one of the profile's Address=",
                                         prefix_str(r->addresses[i], buf, sizeof(buf)));
        for (size_t i = 0; i < a->n_addresses; i++)
                if (!prefix_in(a->addresses[i], r->addresses, r->n_addresses, prefix_identical))
                        return error_set(ret_error, -EPERM,
                                         "address %s of the profile's Address= is missing",
                                         prefix_str(a->addresses[i], buf, sizeof(buf)));
        return 0;
}

static int check_routes(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                        char **ret_error) {
        char buf[80];
        if (a->table_off) {
                if (r->n_routes > 0)
                        return error_set(ret_error, -EPERM,
                                         "route %s is asked for, but the profile says Table = off",
                                         prefix_str(r->routes[0], buf, sizeof(buf)));
                return 0;
        }
        for (size_t i = 0; i < r->n_routes; i++) {
                const Tund__IpPrefix *p = r->routes[i];
                if (prefix_in(p, a->routes, a->n_routes, prefix_same))
                        continue;
                return error_set(ret_error, -EPERM,
                                 within_any(p, a->routes, a->n_routes)
                                         ? "route %s is not one of the profile's AllowedIPs"
                                         : "route %s is outside the profile's AllowedIPs",
                                 prefix_str(p, buf, sizeof(buf)));
        }
        /* Leaving a route out takes its traffic off the tunnel as surely as excluding it. */
        for (size_t i = 0; i < a->n_routes; i++)
                if (!prefix_in(a->routes[i], r->routes, r->n_routes, prefix_same))
                        return error_set(ret_error, -EPERM,
                                         "route %s of the profile's AllowedIPs is missing",
                                         prefix_str(a->routes[i], buf, sizeof(buf)));
        return 0;
}

/* ---- excluded routes: the profile's own, and one host route per endpoint ---- */

/* A numeric endpoint's address (1), a host name (0), or no endpoint (-ENOENT). The shim
 * cannot know what a name resolves to: that is the tunnel's lookup. */
static int endpoint_address(const char *ep, uint8_t ret[16], size_t *ret_len) {
        char host[INET6_ADDRSTRLEN];
        const char *start = ep, *end;
        if (isempty(ep))
                return -ENOENT;
        if (ep[0] == '[') {
                start = ep + 1;
                end = strchr(start, ']');
        } else
                end = strrchr(ep, ':');
        if (!end || (size_t) (end - start) >= sizeof(host))
                return 0;
        memcpy(host, start, (size_t) (end - start));
        host[end - start] = 0;
        host[strcspn(host, "%")] = 0; /* a scope id does not change the address */
        /* As tund-tunnel reads them: IPv6 in brackets, IPv4 without. */
        *ret_len = ep[0] == '[' ? 16 : 4;
        return inet_pton(ep[0] == '[' ? AF_INET6 : AF_INET, host, ret) == 1;
}

static uint16_t endpoint_port(const char *ep) {
        const char *c = ep ? strrchr(ep, ':') : NULL;
        char *end;
        if (!c)
                return 0;
        unsigned long v = strtoul(c + 1, &end, 10);
        return *end || v > UINT16_MAX ? 0 : (uint16_t) v;
}

/* How many addresses a peer with a host name may have at once: while a rebind moves it, its
 * old and its new one (tunnel-shim/tunnel-rebind.c), for a moment. A numeric endpoint has one. */
#define ENDPOINT_NAME_ADDRESSES 2u

/* Gives the address (and port, if not 0) to a peer with room left: the one whose numeric
 * endpoint it is, else the least used one with a host name. used[] counts per peer. Returns
 * false if there is none. */
static bool endpoint_claim(const Tund__WgConfig *profile, const ProtobufCBinaryData *addr,
                           uint32_t port, uint8_t *used) {
        ssize_t name_peer = -1;
        for (size_t i = 0; i < profile->n_peers; i++) {
                uint8_t a[16];
                size_t len = 0;
                const char *ep = profile->peers[i]->endpoint;
                if (port != 0 && endpoint_port(ep) != port)
                        continue;
                int k = endpoint_address(ep, a, &len);
                if (k == 0 && used[i] < ENDPOINT_NAME_ADDRESSES &&
                    (name_peer < 0 || used[i] < used[name_peer]))
                        name_peer = (ssize_t) i;
                if (k > 0 && used[i] == 0 && len == addr->len && memcmp(a, addr->data, len) == 0) {
                        used[i]++;
                        return true;
                }
        }
        if (name_peer < 0)
                return false;
        used[name_peer]++;
        return true;
}

static int check_excluded_one(const Tund__WgConfig *profile, const Tund__NetworkSettings *r,
                              const Tund__IpPrefix *p, uint8_t *used, char **ret_error) {
        const Tund__NetworkSettings *a = profile->network;
        char buf[80];
        if (!prefix_valid(p))
                return error_set(ret_error, -EPERM, "excluded route %s is not a valid prefix",
                                 prefix_str(p, buf, sizeof(buf)));
        if (prefix_in(p, a->excluded_routes, a->n_excluded_routes, prefix_same))
                return 0;
        if (!prefix_is_host(p))
                return error_set(ret_error, -EPERM,
                                 "excluded route %s is not an endpoint host route (/32 or /128) "
                                 "nor one of the profile's ExcludedRoutes=",
                                 prefix_str(p, buf, sizeof(buf)));
        /* tund-tunnel excludes an endpoint only when the routes would swallow it. */
        if (!within_any(p, r->routes, r->n_routes))
                return error_set(ret_error, -EPERM,
                                 "excluded route %s is an endpoint host route outside the "
                                 "tunnel's routes",
                                 prefix_str(p, buf, sizeof(buf)));
        if (!endpoint_claim(profile, &p->address, 0, used))
                return error_set(ret_error, -EPERM,
                                 "excluded route %s is not the endpoint of a peer (one host "
                                 "route per peer: its numeric Endpoint=, or what its host name "
                                 "resolves to, two while it moves)",
                                 prefix_str(p, buf, sizeof(buf)));
        return 0;
}

static int check_excluded(const Tund__WgConfig *profile, const Tund__NetworkSettings *r,
                          char **ret_error) {
        const Tund__NetworkSettings *a = profile->network;
        char buf[80];
        _cleanup_free_ uint8_t *used = calloc(MAX(profile->n_peers, (size_t) 1), sizeof(uint8_t));
        if (!used)
                return error_set(ret_error, -ENOMEM, "out of memory");
        for (size_t i = 0; i < r->n_excluded_routes; i++) {
                int k = check_excluded_one(profile, r, r->excluded_routes[i], used, ret_error);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < a->n_excluded_routes; i++)
                if (!prefix_in(a->excluded_routes[i], r->excluded_routes, r->n_excluded_routes,
                               prefix_same))
                        return error_set(ret_error, -EPERM,
                                         "excluded route %s of the profile's ExcludedRoutes= is "
                                         "missing",
                                         prefix_str(a->excluded_routes[i], buf, sizeof(buf)));
        return 0;
}

/* ---- endpoints (what a kill switch lets the engine's UDP reach) ---- */

/* One per peer at most: its numeric Endpoint=, or what its host name resolves to, on the
 * peer's port (endpoint_claim()). */
static int check_endpoints(const Tund__WgConfig *profile, const Tund__NetworkSettings *r,
                           char **ret_error) {
        _cleanup_free_ uint8_t *used = calloc(MAX(profile->n_peers, (size_t) 1), sizeof(uint8_t));
        if (!used)
                return error_set(ret_error, -ENOMEM, "out of memory");
        for (size_t i = 0; i < r->n_endpoints; i++) {
                const Tund__Endpoint *e = r->endpoints[i];
                if ((e->address.len != 4 && e->address.len != 16) || e->port == 0 ||
                    e->port > UINT16_MAX)
                        return error_set(ret_error, -EPERM,
                                         "endpoint %zu is not an address and port", i + 1);
                if (!endpoint_claim(profile, &e->address, e->port, used))
                        return error_set(
                                ret_error, -EPERM,
                                "endpoint %zu is no peer's (one per peer: its numeric "
                                "Endpoint=, or what its host name resolves to, two while it "
                                "moves, on its port)",
                                i + 1);
        }
        return 0;
}

/* ---- DNS ---- */

static bool bytes_in(const ProtobufCBinaryData *b, const ProtobufCBinaryData *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (b->len == set[i].len && memcmp(b->data, set[i].data, b->len) == 0)
                        return true;
        return false;
}

static bool string_in(const char *s, char *const *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s && set[i] && strcasecmp(s, set[i]) == 0)
                        return true;
        return false;
}

/* The first string of r not in a ("extra") or of a not in r ("missing"), or NULL. */
static const char *strv_diff(char *const *r, size_t nr, char *const *a, size_t na,
                             const char **ret_what) {
        for (size_t i = 0; i < nr; i++)
                if (!string_in(r[i], a, na)) {
                        *ret_what = "is not in";
                        return r[i] ? r[i] : "";
                }
        for (size_t i = 0; i < na; i++)
                if (!string_in(a[i], r, nr)) {
                        *ret_what = "is missing from";
                        return a[i];
                }
        return NULL;
}

static int check_domains(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                         char **ret_error) {
        char buf[256];
        const char *what, *d;
        d = strv_diff(r->search_domains, r->n_search_domains, a->search_domains,
                      a->n_search_domains, &what);
        if (d) /* the tunnel's text: made printable before it reaches a log line */
                return error_set(ret_error, -EPERM, "search domain '%s' %s the profile's DNS=",
                                 string_sanitize(buf, sizeof(buf), d), what);
        d = strv_diff(r->routing_domains, r->n_routing_domains, a->routing_domains,
                      a->n_routing_domains, &what);
        if (d)
                return error_set(ret_error, -EPERM,
                                 "routing domain '%s' %s the profile's RoutingDomains=",
                                 string_sanitize(buf, sizeof(buf), d), what);
        return 0;
}

static int check_dns(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                     char **ret_error) {
        char buf[INET6_ADDRSTRLEN + 16];
        for (size_t i = 0; i < r->n_dns_servers; i++)
                if (!bytes_in(&r->dns_servers[i], a->dns_servers, a->n_dns_servers))
                        return error_set(ret_error, -EPERM,
                                         "DNS server %s is not one of the profile's DNS=",
                                         addr_str(&r->dns_servers[i], buf, sizeof(buf)));
        for (size_t i = 0; i < a->n_dns_servers; i++)
                if (!bytes_in(&a->dns_servers[i], r->dns_servers, r->n_dns_servers))
                        return error_set(ret_error, -EPERM,
                                         "DNS server %s of the profile's DNS= is missing",
                                         addr_str(&a->dns_servers[i], buf, sizeof(buf)));
        int k = check_domains(a, r, ret_error);
        if (k < 0)
                return k;
        if (r->dns_mode != a->dns_mode)
                return error_set(ret_error, -EPERM,
                                 "DNS mode %s differs from the profile's DNSMode=",
                                 r->dns_mode == TUND__DNS_MODE__DNS_MODE_FULL ? "full" : "split");
        if (r->dns_default_route != a->dns_default_route)
                return error_set(ret_error, -EPERM,
                                 "DNS default route %s differs from the profile's DNSMode=",
                                 r->dns_default_route ? "on" : "off");
        return 0;
}

/* ---- table, fwmark, MTU ---- */

static int check_link(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                      char **ret_error) {
        if (r->table_off != a->table_off)
                return error_set(ret_error, -EPERM, "Table = off %s, unlike the profile's Table=",
                                 r->table_off ? "asked for" : "left out");
        if (r->table != a->table)
                return error_set(ret_error, -EPERM,
                                 "routing table %u differs from the profile's Table= (%u)",
                                 r->table, a->table);
        if (r->fwmark != a->fwmark)
                return error_set(ret_error, -EPERM, "fwmark 0x%x differs from the profile's (0x%x)",
                                 r->fwmark, a->fwmark);
        return 0;
}

/* The link's MTU is the profile's. A profile converted without one (network.mtu 0) runs with
 * the engine's default, which is also what a tunnel may name. */
static int check_mtu(uint32_t profile_mtu, uint32_t mtu, char **ret_error) {
        if (mtu == profile_mtu || (profile_mtu == 0 && mtu == NETSHIM_ENGINE_DEFAULT_MTU))
                return 0;
        if (profile_mtu == 0)
                return error_set(ret_error, -EPERM,
                                 "MTU %u is not the profile's: it sets none, so 0 (leave the "
                                 "link's) or %u (the engine's default)",
                                 mtu, NETSHIM_ENGINE_DEFAULT_MTU);
        return error_set(ret_error, -EPERM,
                         "MTU %u is not the profile's MTU %u (its MTU=, or %u without one)", mtu,
                         profile_mtu, NETSHIM_ENGINE_DEFAULT_MTU);
}

int netshim_settings_check(const Tund__WgConfig *profile, const Tund__NetworkSettings *r,
                           char **ret_error) {
        static const Tund__NetworkSettings empty = TUND__NETWORK_SETTINGS__INIT;
        static const Tund__WgConfig empty_profile = TUND__WG_CONFIG__INIT;
        if (ret_error)
                *ret_error = NULL;
        if (!profile)
                profile = &empty_profile;
        Tund__WgConfig p = *profile;
        if (!p.network)
                p.network = (Tund__NetworkSettings *) &empty;
        const Tund__NetworkSettings *a = p.network;
        int k = check_link(a, r, ret_error);
        if (k >= 0)
                k = check_addresses(a, r, ret_error);
        if (k >= 0)
                k = check_routes(a, r, ret_error);
        if (k >= 0)
                k = check_excluded(&p, r, ret_error);
        if (k >= 0)
                k = check_endpoints(&p, r, ret_error);
        if (k >= 0)
                k = check_dns(a, r, ret_error);
        if (k >= 0)
                k = check_mtu(a->mtu, r->mtu, ret_error);
        return k < 0 ? k : 0;
}
