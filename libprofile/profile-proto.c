/* Profile -> Tund__WgConfig for the tunnel. Everything is allocated with malloc() so
 * profile_wg_config_free() (protobuf-c's free with the wiping allocator) frees it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipc.h"
#include "macro.h"
#include "profile.h"
#include "proto-wipe.h"
#include "strv.h"

/* Appends n prefixes to (*array, *count), skipping any already there. */
static int prefixes_append(Tund__IpPrefix ***array, size_t *count, const ProfilePrefix *p,
                           size_t n) {
        for (size_t i = 0; i < n; i++) {
                int r = ipc_proto_prefix_append(array, count, p[i].addr,
                                                p[i].family == AF_INET ? 4 : 16, p[i].prefixlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A repeated string field: NULL and 0 when there are none (protobuf-c's convention). */
static int strings_copy(char ***array, size_t *count, char *const *src, size_t n) {
        if (n == 0)
                return 0;
        *array = strv_copy_n(src, n);
        if (!*array)
                return -ENOMEM;
        *count = n;
        return 0;
}

static int dns_copy(Tund__NetworkSettings *ns, const Profile *p) {
        if (p->n_dns_servers == 0)
                return 0;
        ns->dns_servers = calloc(p->n_dns_servers, sizeof(ProtobufCBinaryData));
        if (!ns->dns_servers)
                return -ENOMEM;
        for (; ns->n_dns_servers < p->n_dns_servers; ns->n_dns_servers++) {
                const ProfileAddress *a = &p->dns_servers[ns->n_dns_servers];
                ProtobufCBinaryData *d = &ns->dns_servers[ns->n_dns_servers];

                d->len = a->family == AF_INET ? 4 : 16;
                d->data = malloc(d->len);
                if (!d->data)
                        return -ENOMEM;
                memcpy(d->data, a->addr, d->len);
        }
        return 0;
}

static int network_fill(Tund__NetworkSettings *ns, const Profile *p) {
        int r;

        r = prefixes_append(&ns->addresses, &ns->n_addresses, p->addresses, p->n_addresses);
        if (r < 0)
                return r;
        /* The routes are the union of every peer's AllowedIPs, as wg-quick adds them. */
        for (size_t i = 0; i < p->n_peers; i++) {
                r = prefixes_append(&ns->routes, &ns->n_routes, p->peers[i].allowed_ips,
                                    p->peers[i].n_allowed_ips);
                if (r < 0)
                        return r;
        }
        r = prefixes_append(&ns->excluded_routes, &ns->n_excluded_routes, p->excluded_routes,
                            p->n_excluded_routes);
        if (r < 0)
                return r;
        r = dns_copy(ns, p);
        if (r < 0)
                return r;
        r = strings_copy(&ns->search_domains, &ns->n_search_domains, p->search_domains,
                         p->n_search_domains);
        if (r < 0)
                return r;
        r = strings_copy(&ns->routing_domains, &ns->n_routing_domains, p->routing_domains,
                         p->n_routing_domains);
        if (r < 0)
                return r;

        /* The shim sets the MTU (the engine's own SIOCSIFMTU does nothing in its sandbox). */
        ns->mtu = p->mtu ? p->mtu : PROFILE_MTU_DEFAULT;
        ns->dns_mode = p->dns_mode == PROFILE_DNS_MODE_FULL ? TUND__DNS_MODE__DNS_MODE_FULL
                                                            : TUND__DNS_MODE__DNS_MODE_SPLIT;
        /* Full mode makes the link resolved's default route for every query ("~."). */
        ns->dns_default_route = p->dns_mode == PROFILE_DNS_MODE_FULL;
        ns->table = p->table;
        ns->table_off = p->table_off;
        ns->fwmark = profile_effective_fwmark(p);
        return 0;
}

static int peer_fill(Tund__WgPeer *m, const ProfilePeer *peer) {
        m->public_key = strdup(peer->public_key);
        m->preshared_key = strdup(peer->preshared_key);
        m->endpoint = strdup(peer->endpoint ?: "");
        if (!m->public_key || !m->preshared_key || !m->endpoint)
                return -ENOMEM;
        m->persistent_keepalive = peer->persistent_keepalive;
        return prefixes_append(&m->allowed_ips, &m->n_allowed_ips, peer->allowed_ips,
                               peer->n_allowed_ips);
}

static int peers_fill(Tund__WgConfig *c, const Profile *p) {
        if (p->n_peers == 0)
                return 0;
        c->peers = calloc(p->n_peers, sizeof(*c->peers));
        if (!c->peers)
                return -ENOMEM;
        for (; c->n_peers < p->n_peers; c->n_peers++) {
                Tund__WgPeer *m = malloc(sizeof(*m));
                int r;

                if (!m)
                        return -ENOMEM;
                tund__wg_peer__init(m);
                c->peers[c->n_peers] = m;
                r = peer_fill(m, &p->peers[c->n_peers]);
                if (r < 0) {
                        c->n_peers++; /* so that the free below sees it */
                        return r;
                }
        }
        return 0;
}

int profile_to_wg_config(const Profile *p, Tund__WgConfig **ret) {
        _cleanup_(profile_wg_config_freep) Tund__WgConfig *c = NULL;
        int r;

        c = malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;
        tund__wg_config__init(c);
        c->private_key = strdup(p->private_key);
        c->network = malloc(sizeof(*c->network));
        if (!c->private_key || !c->network)
                return -ENOMEM;
        tund__network_settings__init(c->network);
        c->listen_port = p->listen_port;
        /* The engine runs without CAP_NET_ADMIN and cannot put a mark on its socket (SO_MARK):
         * asking would fail its whole configuration. A full tunnel exempts it by its user
         * (the shim's "not uidrange" rule); FwMark= still reaches the settings, for a caller
         * that uses the fwmark scheme. */
        c->fwmark = 0;
        r = peers_fill(c, p);
        if (r < 0)
                return r;
        r = network_fill(c->network, p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

Tund__WgConfig *profile_wg_config_free(Tund__WgConfig *c) {
        /* Every block, the key strings among them, is wiped before it is freed. */
        proto_free_wiped(c ? &c->base : NULL);
        return NULL;
}

uint32_t profile_effective_fwmark(const Profile *p) {
        if (p->fwmark != 0)
                return p->fwmark;
        if (p->table == 0 && !p->table_off && profile_has_default_route(p))
                return PROFILE_FWMARK_AUTO;
        return 0;
}
