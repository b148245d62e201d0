#include "tunnel-settings.h"
#include "error-util.h"
#include "ipc.h"
#include "strv.h"

#include <stdarg.h>
#include <stdio.h>

static bool prefix_valid(const Tund__IpPrefix *p) {
        return p && ((p->address.len == 4 && p->prefix_len <= 32) ||
                     (p->address.len == 16 && p->prefix_len <= 128));
}

bool tunnel_prefix_contains(const Tund__IpPrefix *p, const uint8_t *a, size_t alen) {
        if (!prefix_valid(p) || p->address.len != alen)
                return false;
        unsigned bits = p->prefix_len;
        for (size_t i = 0; i < alen && bits > 0; i++, bits = bits >= 8 ? bits - 8 : 0) {
                uint8_t mask = bits >= 8 ? 0xff : (uint8_t) (0xff << (8 - bits));
                if ((p->address.data[i] & mask) != (a[i] & mask))
                        return false;
        }
        return true;
}

/* A growing array of heap prefixes without duplicates; host bits are cleared, as the kernel
 * refuses a route with them set. */
static int prefixes_add(Tund__IpPrefix ***arr, size_t *n, const uint8_t *addr, size_t alen,
                        unsigned plen, bool mask_host) {
        uint8_t a[16] = {};
        memcpy(a, addr, alen);
        if (mask_host)
                for (size_t i = 0; i < alen; i++) {
                        unsigned lo = (unsigned) i * 8;
                        if (plen <= lo)
                                a[i] = 0;
                        else if (plen < lo + 8)
                                a[i] &= (uint8_t) (0xff << (lo + 8 - plen));
                }
        return ipc_proto_prefix_append(arr, n, a, alen, plen);
}

static int copy_prefixes(Tund__IpPrefix ***arr, size_t *n, Tund__IpPrefix *const *src, size_t n_src,
                         bool mask_host, const char *what, char **ret_error) {
        for (size_t i = 0; i < n_src; i++) {
                if (!prefix_valid(src[i]))
                        return error_set(ret_error, -EINVAL, "%s %zu is not a valid prefix", what,
                                         i + 1);
                int r = prefixes_add(arr, n, src[i]->address.data, src[i]->address.len,
                                     src[i]->prefix_len, mask_host);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int copy_dns(Tund__NetworkSettings *s, const Tund__NetworkSettings *net, char **ret_error) {
        s->dns_servers = calloc(MAX(net->n_dns_servers, (size_t) 1), sizeof(*s->dns_servers));
        if (!s->dns_servers)
                return -ENOMEM;
        for (size_t i = 0; i < net->n_dns_servers; i++) {
                size_t len = net->dns_servers[i].len;
                if (len != 4 && len != 16)
                        return error_set(ret_error, -EINVAL,
                                         "DNS server %zu is not an IPv4 or IPv6 address", i + 1);
                s->dns_servers[i].data = malloc(len);
                if (!s->dns_servers[i].data)
                        return -ENOMEM;
                memcpy(s->dns_servers[i].data, net->dns_servers[i].data, len);
                s->dns_servers[i].len = len;
                s->n_dns_servers++;
        }
        s->search_domains = strv_copy_n(net->search_domains, net->n_search_domains);
        s->routing_domains = strv_copy_n(net->routing_domains, net->n_routing_domains);
        if (!s->search_domains || !s->routing_domains)
                return -ENOMEM;
        s->n_search_domains = net->n_search_domains;
        s->n_routing_domains = net->n_routing_domains;
        return 0;
}

/* An endpoint inside a routed prefix would be routed into its own tunnel: keep it off. This
 * covers the full tunnel (0.0.0.0/0, ::/0, or 0.0.0.0/1 + 128.0.0.0/1) and a split tunnel
 * whose AllowedIPs happen to contain the endpoint. */
static int exclude_endpoints(Tund__NetworkSettings *s, const Tund__WgConfig *cfg,
                             const UapiEndpoint *endpoints) {
        for (size_t i = 0; endpoints && i < cfg->n_peers; i++) {
                const union sockaddr_union *sa = &endpoints[i].addr;
                const uint8_t *a;
                size_t alen;
                if (sa->sa.sa_family == AF_INET)
                        a = (const uint8_t *) &sa->in.sin_addr, alen = 4;
                else if (sa->sa.sa_family == AF_INET6)
                        a = (const uint8_t *) &sa->in6.sin6_addr, alen = 16;
                else
                        continue;
                bool routed = false;
                for (size_t j = 0; j < s->n_routes && !routed; j++)
                        routed = tunnel_prefix_contains(s->routes[j], a, alen);
                if (!routed)
                        continue;
                int r = prefixes_add(&s->excluded_routes, &s->n_excluded_routes, a, alen,
                                     (unsigned) alen * 8, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Where the engine sends: a kill switch lets its UDP to exactly these through. An endpoint
 * listed twice (old and new the same during a rebind) is listed once. */
static int add_endpoints(Tund__NetworkSettings *s, const Tund__WgConfig *cfg,
                         const UapiEndpoint *endpoints) {
        for (size_t i = 0; endpoints && i < cfg->n_peers; i++) {
                const union sockaddr_union *sa = &endpoints[i].addr;
                const void *a;
                size_t alen;
                uint16_t port;
                if (sa->sa.sa_family == AF_INET)
                        a = &sa->in.sin_addr, alen = 4, port = ntohs(sa->in.sin_port);
                else if (sa->sa.sa_family == AF_INET6)
                        a = &sa->in6.sin6_addr, alen = 16, port = ntohs(sa->in6.sin6_port);
                else
                        continue;
                int r = ipc_proto_endpoint_append(&s->endpoints, &s->n_endpoints, a, alen, port);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int derive(Tund__NetworkSettings *s, const Tund__WgConfig *cfg,
                  const UapiEndpoint *endpoints, const UapiEndpoint *also, char **ret_error) {
        static const Tund__NetworkSettings empty = TUND__NETWORK_SETTINGS__INIT;
        const Tund__NetworkSettings *net = cfg->network ? cfg->network : &empty;
        int r;

        r = copy_prefixes(&s->addresses, &s->n_addresses, net->addresses, net->n_addresses, false,
                          "address", ret_error);
        if (r < 0)
                return r;
        r = copy_dns(s, net, ret_error);
        if (r < 0)
                return r;
        r = copy_prefixes(&s->excluded_routes, &s->n_excluded_routes, net->excluded_routes,
                          net->n_excluded_routes, true, "excluded route", ret_error);
        if (r < 0)
                return r;
        s->mtu = net->mtu;
        s->dns_default_route = net->dns_default_route;
        s->dns_mode = net->dns_mode;
        s->table = net->table;
        s->table_off = net->table_off;
        s->fwmark = net->fwmark ? net->fwmark : cfg->fwmark;
        r = add_endpoints(s, cfg, endpoints);
        if (r >= 0)
                r = add_endpoints(s, cfg, also);
        if (r < 0)
                return r;
        if (net->table_off)
                return 0; /* "Table = off": no routes at all */

        r = copy_prefixes(&s->routes, &s->n_routes, net->routes, net->n_routes, true, "route",
                          ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < cfg->n_peers; i++) {
                char what[64];
                snprintf(what, sizeof(what), "peer %zu: allowed IP", i + 1);
                r = copy_prefixes(&s->routes, &s->n_routes, cfg->peers[i]->allowed_ips,
                                  cfg->peers[i]->n_allowed_ips, true, what, ret_error);
                if (r < 0)
                        return r;
        }
        r = exclude_endpoints(s, cfg, endpoints);
        if (r < 0)
                return r;
        return exclude_endpoints(s, cfg, also);
}

int tunnel_settings_derive(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints,
                           Tund__NetworkSettings **ret, char **ret_error) {
        return tunnel_settings_derive_both(cfg, endpoints, NULL, ret, ret_error);
}

int tunnel_settings_derive_both(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints,
                                const UapiEndpoint *also, Tund__NetworkSettings **ret,
                                char **ret_error) {
        if (!cfg)
                return error_set(ret_error, -EINVAL, "no configuration");
        Tund__NetworkSettings *s = malloc(sizeof(*s));
        if (!s)
                return -ENOMEM;
        tund__network_settings__init(s);
        int r = derive(s, cfg, endpoints, also, ret_error);
        if (r < 0) {
                protobuf_c_message_free_unpacked(&s->base, NULL);
                return r;
        }
        *ret = s;
        return 0;
}
