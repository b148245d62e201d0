/* Reading what is applied with libnl-route-3 caches (libmnl stays the writer), resolved's
 * per-link properties over sd-bus, and the reconcile pass built on both. */
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <stdio.h>

#include "netcfg-internal.h"

static void nl_cache_freep(struct nl_cache **c) {
        if (*c)
                nl_cache_free(*c);
}
static void nl_socket_freep(struct nl_sock **s) {
        if (*s)
                nl_socket_free(*s);
}

static int libnl_errno(int e) {
        switch (-e) {
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
                return -EPERM;
        case NLE_OBJ_NOTFOUND:
                return -ENOENT;
        default:
                return -EIO;
        }
}

/* One cache of `kind` (route, rule, addr, link) of the current network namespace. */
/* "routes", "rules", "addresses", "links": for error sentences. */
static const char *kind_plural(const char *kind) {
        return streq(kind, "route")     ? "routes"
               : streq(kind, "rule")    ? "rules"
               : streq(kind, "address") ? "addresses"
                                        : "links";
}

static int cache_alloc(const char *kind, struct nl_cache **ret, char **ret_error) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
        int e;

        if (!sk)
                return error_set_errno(ret_error, -ENOMEM, "reading %s", kind_plural(kind));
        e = nl_connect(sk, NETLINK_ROUTE);
        if (e >= 0) {
                if (streq(kind, "route"))
                        e = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, ret);
                else if (streq(kind, "rule"))
                        e = rtnl_rule_alloc_cache(sk, AF_UNSPEC, ret);
                else if (streq(kind, "address"))
                        e = rtnl_addr_alloc_cache(sk, ret);
                else
                        e = rtnl_link_alloc_cache(sk, AF_UNSPEC, ret);
        }
        if (e < 0)
                return error_set_errno(ret_error, libnl_errno(e), "reading %s (libnl: %s)",
                                       kind_plural(kind), nl_geterror(e));
        return 0;
}

static void prefix_from_nl(struct nl_addr *a, int family, uint8_t len, NetcfgPrefix *p) {
        *p = (NetcfgPrefix){ .family = family, .len = len };
        if (a && nl_addr_get_len(a) <= sizeof(p->addr))
                memcpy(p->addr, nl_addr_get_binary_addr(a), nl_addr_get_len(a));
}

typedef struct Collect {
        void *items;
        size_t n, size; /* size: of one item */
        int error;
        int ifindex;
        uint32_t table, prio_min, prio_max;
        uint8_t protocol;
} Collect;

static void *collect_next(Collect *c) {
        if (c->error)
                return NULL;
        void *a = array_append_size(&c->items, &c->n, c->size);
        if (!a)
                c->error = -ENOMEM;
        return a;
}

/* Every object of a kind that cb (which calls collect_next()) keeps, as one malloc'd array. */
static int collect_all(const char *kind, void (*cb)(struct nl_object *, void *), Collect *c,
                       void **ret, size_t *ret_n, char **ret_error) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int r = cache_alloc(kind, &cache, ret_error);
        if (r < 0)
                return r;
        nl_cache_foreach(cache, cb, c);
        if (c->error) {
                free(c->items);
                return error_set_errno(ret_error, c->error, "reading %s", kind_plural(kind));
        }
        *ret = c->items;
        *ret_n = c->n;
        return 0;
}

static void route_cb(struct nl_object *o, void *data) {
        struct rtnl_route *rt = (struct rtnl_route *) o;
        struct rtnl_nexthop *nh =
                rtnl_route_get_nnexthops(rt) > 0 ? rtnl_route_nexthop_n(rt, 0) : NULL;
        Collect *c = data;
        int oif = nh ? rtnl_route_nh_get_ifindex(nh) : 0;
        NetcfgRoute *r;

        if ((c->ifindex && oif != c->ifindex) ||
            (c->table && rtnl_route_get_table(rt) != c->table) ||
            (c->protocol && rtnl_route_get_protocol(rt) != c->protocol))
                return;
        r = collect_next(c);
        if (!r)
                return;
        prefix_from_nl(rtnl_route_get_dst(rt), rtnl_route_get_family(rt),
                       (uint8_t) nl_addr_get_prefixlen(rtnl_route_get_dst(rt)), &r->dst);
        r->table = rtnl_route_get_table(rt);
        r->type = rtnl_route_get_type(rt);
        r->protocol = rtnl_route_get_protocol(rt);
        r->oif = oif;
}

int netcfg_read_routes(int ifindex, uint32_t table, uint8_t protocol, NetcfgRoute **ret,
                       size_t *ret_n, char **ret_error) {
        Collect c = { .size = sizeof(NetcfgRoute),
                      .ifindex = ifindex,
                      .table = table,
                      .protocol = protocol };
        return collect_all("route", route_cb, &c, (void **) ret, ret_n, ret_error);
}

/* libnl does not expose a rule's invert flag or suppress_prefixlength: those read as
 * false/-1. Priority, table, fwmark and protocol are what reconcile and status need. */
static void rule_cb(struct nl_object *o, void *data) {
        struct rtnl_rule *ru = (struct rtnl_rule *) o;
        Collect *c = data;
        uint32_t prio = rtnl_rule_get_prio(ru);
        uint8_t proto = 0;
        NetcfgRule *r;

        if (prio < c->prio_min || prio > c->prio_max)
                return;
        r = collect_next(c);
        if (!r)
                return;
        r->family = rtnl_rule_get_family(ru);
        r->priority = prio;
        r->table = rtnl_rule_get_table(ru);
        r->fwmark = rtnl_rule_get_mark(ru) == UINT32_MAX ? 0 : rtnl_rule_get_mark(ru);
        r->suppress_prefixlen = -1;
        if (rtnl_rule_get_protocol(ru, &proto) >= 0)
                r->protocol = proto;
}

int netcfg_read_rules(uint32_t prio_min, uint32_t prio_max, NetcfgRule **ret, size_t *ret_n,
                      char **ret_error) {
        Collect c = { .size = sizeof(NetcfgRule), .prio_min = prio_min, .prio_max = prio_max };
        return collect_all("rule", rule_cb, &c, (void **) ret, ret_n, ret_error);
}

static void addr_cb(struct nl_object *o, void *data) {
        struct rtnl_addr *a = (struct rtnl_addr *) o;
        Collect *c = data;
        NetcfgAddress *r;

        if (c->ifindex && rtnl_addr_get_ifindex(a) != c->ifindex)
                return;
        r = collect_next(c);
        if (!r)
                return;
        prefix_from_nl(rtnl_addr_get_local(a), rtnl_addr_get_family(a),
                       (uint8_t) rtnl_addr_get_prefixlen(a), &r->prefix);
        r->ifindex = rtnl_addr_get_ifindex(a);
}

int netcfg_read_addresses(int ifindex, NetcfgAddress **ret, size_t *ret_n, char **ret_error) {
        Collect c = { .size = sizeof(NetcfgAddress), .ifindex = ifindex };
        return collect_all("address", addr_cb, &c, (void **) ret, ret_n, ret_error);
}

static void link_from_nl(struct rtnl_link *l, NetcfgLink *ret) {
        *ret = (NetcfgLink){ .ifindex = rtnl_link_get_ifindex(l),
                             .mtu = rtnl_link_get_mtu(l),
                             .flags = rtnl_link_get_flags(l),
                             .up = rtnl_link_get_flags(l) & IFF_UP };
        snprintf(ret->ifname, sizeof(ret->ifname), "%s", rtnl_link_get_name(l) ?: "");
}

int netcfg_read_link(const char *ifname, int ifindex, NetcfgLink *ret, char **ret_error) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        struct rtnl_link *l;
        int r;

        r = cache_alloc("link", &cache, ret_error);
        if (r < 0)
                return r;
        l = ifname ? rtnl_link_get_by_name(cache, ifname) : rtnl_link_get(cache, ifindex);
        if (!l)
                return error_set_errno(ret_error, -ENODEV,
                                       "no link %s%s%.0d in this network "
                                       "namespace",
                                       ifname ? "named " : "with index ", ifname ?: "",
                                       ifname ? 0 : ifindex);
        link_from_nl(l, ret);
        rtnl_link_put(l);
        return 0;
}

void netcfg_dns_status_done(NetcfgDnsStatus *st) {
        for (size_t i = 0; i < st->n_domains; i++)
                free(st->domains[i]);
        free(st->domains);
        free(st->servers);
        *st = (NetcfgDnsStatus){};
}

static int read_dns_servers(sd_bus_message *m, NetcfgDnsStatus *st) {
        int r, family;
        const void *a;
        size_t len;

        r = sd_bus_message_enter_container(m, 'a', "(iay)");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'r', "iay")) > 0) {
                NetcfgPrefix *p;

                r = sd_bus_message_read(m, "i", &family);
                if (r >= 0)
                        r = sd_bus_message_read_array(m, 'y', &a, &len);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                if (len != 4 && len != 16)
                        continue;
                p = ARRAY_APPEND(st->servers, st->n_servers);
                if (!p)
                        return -ENOMEM;
                *p = (NetcfgPrefix){ .family = family, .len = (uint8_t) (len * 8) };
                memcpy(p->addr, a, len);
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int read_dns_domains(sd_bus_message *m, NetcfgDnsStatus *st) {
        const char *name;
        int r, routing;

        r = sd_bus_message_enter_container(m, 'a', "(sb)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(sb)", &name, &routing)) > 0) {
                char **v = reallocarray(st->domains, st->n_domains + 1, sizeof(char *));
                if (!v)
                        return -ENOMEM;
                st->domains = v;
                if (asprintf(&v[st->n_domains], "%s%s", routing ? "~" : "", name) < 0)
                        return -ENOMEM;
                st->n_domains++;
        }
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int read_dns_property(sd_bus *bus, const char *path, const char *prop, const char *sig,
                             NetcfgDnsStatus *st, char **ret_error) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        int r, b;

        r = sd_bus_get_property(bus, "org.freedesktop.resolve1", path,
                                "org.freedesktop.resolve1.Link", prop, &e, &m, sig);
        if (r < 0)
                error_set_errno(ret_error, r, "reading resolved's %s%s%s", prop,
                                e.message ? ": " : "", e.message ?: "");
        else if (streq(prop, "DNS"))
                r = read_dns_servers(m, st);
        else if (streq(prop, "Domains"))
                r = read_dns_domains(m, st);
        else if ((r = sd_bus_message_read(m, "b", &b)) >= 0)
                st->default_route = b;
        sd_bus_message_unref(m);
        sd_bus_error_free(&e);
        return r;
}

int netcfg_read_dns(const NetcfgOptions *opts, int ifindex, NetcfgDnsStatus *ret,
                    char **ret_error) {
        static const NetcfgOptions none = {};
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        NetcfgDnsStatus st = {};
        const char *path;
        sd_bus *bus = NULL;
        int r;

        opts = opts ?: &none;
        bus = opts->bus ? sd_bus_ref(opts->bus) : NULL;
        r = netcfg_bus_open(opts, &bus);
        if (r < 0)
                return error_set_errno(ret_error, r, "connecting to the system bus");
        r = sd_bus_call_method(bus, "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
                               "org.freedesktop.resolve1.Manager", "GetLink", &e, &reply, "i",
                               ifindex);
        if (r < 0)
                error_set_errno(ret_error, r, "asking systemd-resolved for link %d%s%s", ifindex,
                                e.message ? ": " : "", e.message ?: "");
        if (r >= 0 && (r = sd_bus_message_read(reply, "o", &path)) < 0)
                error_set_errno(ret_error, r, "reading resolved's GetLink reply");
        if (r >= 0)
                r = read_dns_property(bus, path, "DNS", "a(iay)", &st, ret_error);
        if (r >= 0)
                r = read_dns_property(bus, path, "Domains", "a(sb)", &st, ret_error);
        if (r >= 0)
                r = read_dns_property(bus, path, "DefaultRoute", "b", &st, ret_error);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        sd_bus_unref(bus);
        if (r < 0) {
                netcfg_dns_status_done(&st);
                return r;
        }
        *ret = st;
        return 0;
}
