#include <arpa/inet.h>
#include <stdio.h>

#include "error-util.h"
#include "macro.h"
#include "netshim-policy.h"

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

static const char *prefix_str(const Tund__IpPrefix *p, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN] = "?";
        if (p->address.len == 4 || p->address.len == 16)
                inet_ntop(p->address.len == 4 ? AF_INET : AF_INET6, p->address.data, a,
                          sizeof(a));
        snprintf(buf, size, "%s/%u", a, p->prefix_len);
        return buf;
}

static bool within_any(const Tund__IpPrefix *p, Tund__IpPrefix *const *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (netshim_prefix_within(p, set[i]))
                        return true;
        return false;
}

static bool prefix_in(const Tund__IpPrefix *p, Tund__IpPrefix *const *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p->prefix_len == set[i]->prefix_len && p->address.len == set[i]->address.len &&
                    memcmp(p->address.data, set[i]->address.data, p->address.len) == 0)
                        return true;
        return false;
}

static bool string_in(const char *s, char *const *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(s, set[i]) == 0)
                        return true;
        return false;
}

static bool bytes_in(const ProtobufCBinaryData *b, const ProtobufCBinaryData *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (b->len == set[i].len && memcmp(b->data, set[i].data, b->len) == 0)
                        return true;
        return false;
}

static int check_prefixes(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                          char **ret_error) {
        char buf[64];
        for (size_t i = 0; i < r->n_addresses; i++)
                if (!prefix_in(r->addresses[i], a->addresses, a->n_addresses))
                        return error_set(ret_error, -EPERM, "address %s is not one of the profile's Address=",
                                      prefix_str(r->addresses[i], buf, sizeof(buf)));
        for (size_t i = 0; i < r->n_routes; i++)
                if (!within_any(r->routes[i], a->routes, a->n_routes))
                        return error_set(ret_error, -EPERM, "route %s is outside the profile's AllowedIPs",
                                      prefix_str(r->routes[i], buf, sizeof(buf)));
        for (size_t i = 0; i < r->n_excluded_routes; i++) {
                const Tund__IpPrefix *p = r->excluded_routes[i];
                if (!prefix_valid(p))
                        return error_set(ret_error, -EPERM, "excluded route %s is not a valid prefix",
                                      prefix_str(p, buf, sizeof(buf)));
                /* Excluding takes traffic off the tunnel: allowed for what the profile
                 * excludes and for holes in what it routes (endpoints, the LAN). */
                if (!within_any(p, a->excluded_routes, a->n_excluded_routes) &&
                    !within_any(p, a->routes, a->n_routes))
                        return error_set(ret_error, -EPERM,
                                      "excluded route %s is neither in ExcludedRoutes= nor "
                                      "inside the profile's AllowedIPs",
                                      prefix_str(p, buf, sizeof(buf)));
        }
        return 0;
}

static int check_dns(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                     char **ret_error) {
        for (size_t i = 0; i < r->n_dns_servers; i++)
                if (!bytes_in(&r->dns_servers[i], a->dns_servers, a->n_dns_servers))
                        return error_set(ret_error, -EPERM, "DNS server #%zu is not one of the profile's DNS=",
                                      i + 1);
        for (size_t i = 0; i < r->n_search_domains; i++)
                if (!string_in(r->search_domains[i], a->search_domains, a->n_search_domains))
                        return error_set(ret_error, -EPERM, "search domain '%s' is not in the profile",
                                      r->search_domains[i]);
        for (size_t i = 0; i < r->n_routing_domains; i++)
                if (!string_in(r->routing_domains[i], a->routing_domains, a->n_routing_domains))
                        return error_set(ret_error, -EPERM, "routing domain '%s' is not in the profile",
                                      r->routing_domains[i]);
        if (r->dns_mode != a->dns_mode || r->dns_default_route != a->dns_default_route)
                return error_set(ret_error, -EPERM, "DNS mode differs from the profile's DNSMode=");
        return 0;
}

int netshim_settings_check(const Tund__NetworkSettings *a, const Tund__NetworkSettings *r,
                           char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        int k = check_prefixes(a, r, ret_error);
        if (k < 0)
                return k;
        k = check_dns(a, r, ret_error);
        if (k < 0)
                return k;
        if (r->table != a->table || r->table_off != a->table_off)
                return error_set(ret_error, -EPERM, "routing table differs from the profile's Table=");
        if (r->fwmark != a->fwmark)
                return error_set(ret_error, -EPERM, "fwmark differs from the profile's FwMark=");
        bool v6 = false;
        for (size_t i = 0; i < r->n_addresses; i++)
                v6 |= r->addresses[i]->address.len == 16;
        if (r->mtu != 0 && (r->mtu < (v6 ? 1280u : 576u) || r->mtu > 65535))
                return error_set(ret_error, -EPERM, "MTU %u is out of range", r->mtu);
        return 0;
}
