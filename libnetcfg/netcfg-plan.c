/* From NetworkSettings to a plan: validated addresses, routes, rules and DNS settings.
 *
 * Routing scheme, per address family:
 *  - "Table = off": no routes, no rules.
 *  - an explicit table: every route in that table, excluded prefixes as throw routes there,
 *    no rules (whoever chose the table routes into it, as with wg-quick).
 *  - automatic, and the family has a default route (/0) or excluded prefixes: policy mode.
 *    The family's routes go to tund's table T, excluded prefixes become throw routes in T
 *    (a lookup hitting one falls through to the main table), and two rules in the profile's
 *    priority span: base+0 "lookup main suppress_prefixlength 0" (anything more specific than
 *    a default route in main, e.g. the LAN, wins) and base+1 "not uidrange U-U lookup T"
 *    (U the engine's user), or "not fwmark M lookup T" when no user is given.
 *
 * Why a uid range: the engine runs without capabilities and cannot put a mark on its socket
 * (SO_MARK needs CAP_NET_ADMIN). The range exempts every process of the engine's user: the
 * helper (which sends nothing to the network) and the tunnel (whose endpoint lookups then
 * reach the underlay's DNS, as they must when the tunnel is not up yet). Without a user,
 * wg-quick's fwmark scheme (for callers whose engine keeps the capability). */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <ctype.h>
#include <stdio.h>

#include "string-util.h"
#include "netcfg-internal.h"
#include "strv.h"

static int family_of_len(size_t len) {
        return len == 4 ? AF_INET : len == 16 ? AF_INET6 : AF_UNSPEC;
}

static int max_len(int family) {
        return family == AF_INET ? 32 : 128;
}

const char *netcfg_prefix_to_string(const NetcfgPrefix *p, char *buf, size_t size) {
        return prefix_to_string(p->family, p->addr, p->len, buf, size);
}

int netcfg_prefix_from_string(const char *s, NetcfgPrefix *ret) {
        char a[INET6_ADDRSTRLEN];
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        NetcfgPrefix p = {};
        char *end;
        unsigned long len;

        if (n == 0 || n >= sizeof(a))
                return -EINVAL;
        memcpy(a, s, n);
        a[n] = 0;
        if (inet_pton(AF_INET, a, p.addr) == 1)
                p.family = AF_INET;
        else if (inet_pton(AF_INET6, a, p.addr) == 1)
                p.family = AF_INET6;
        else
                return -EINVAL;
        len = (unsigned long) max_len(p.family);
        if (slash) {
                errno = 0;
                len = strtoul(slash + 1, &end, 10);
                if (errno || end == slash + 1 || *end || len > (unsigned long) max_len(p.family))
                        return -EINVAL;
        }
        p.len = (uint8_t) len;
        *ret = p;
        return 0;
}

static bool host_bits_set(const NetcfgPrefix *p) {
        int bytes = p->family == AF_INET ? 4 : 16;

        for (int i = 0; i < bytes; i++) {
                int keep = p->len >= (i + 1) * 8 ? 8 : p->len > i * 8 ? p->len - i * 8 : 0;
                uint8_t mask = keep ? (uint8_t) (0xff << (8 - keep)) : 0;

                if (p->addr[i] & ~mask)
                        return true;
        }
        return false;
}

static void mask_prefix(NetcfgPrefix *p) {
        int bytes = p->family == AF_INET ? 4 : 16;

        for (int i = 0; i < bytes; i++) {
                int keep = p->len >= (i + 1) * 8 ? 8 : p->len > i * 8 ? p->len - i * 8 : 0;
                p->addr[i] &= keep ? (uint8_t) (0xff << (8 - keep)) : 0;
        }
}

/* what: "address", "route", "excluded route"; n: its position (1-based) for the message. */
static int prefix_from_pb(const Tund__IpPrefix *pb, const char *what, size_t n, bool network,
                          NetcfgPrefix *ret, char **ret_error) {
        char buf[NETCFG_PREFIX_STRLEN], fixed[NETCFG_PREFIX_STRLEN];
        NetcfgPrefix p = {};

        if (!pb)
                return error_set_errno(ret_error, -EINVAL, "%s %zu is missing", what, n);
        p.family = family_of_len(pb->address.len);
        if (p.family == AF_UNSPEC)
                return error_set_errno(ret_error, -EINVAL,
                                       "%s %zu: address has %zu bytes, expected 4 (IPv4) or 16 "
                                       "(IPv6)",
                                       what, n, pb->address.len);
        memcpy(p.addr, pb->address.data, pb->address.len);
        if (pb->prefix_len > (uint32_t) max_len(p.family)) {
                p.len = 0;
                return error_set_errno(ret_error, -EINVAL,
                                       "%s %zu: prefix length /%u is out of range for %s (0-%d)",
                                       what, n, pb->prefix_len,
                                       p.family == AF_INET ? "IPv4" : "IPv6", max_len(p.family));
        }
        p.len = (uint8_t) pb->prefix_len;
        if (network && host_bits_set(&p)) {
                NetcfgPrefix m = p;

                mask_prefix(&m);
                return error_set_errno(ret_error, -EINVAL,
                                       "%s %s has host bits set (did you mean %s?)", what,
                                       netcfg_prefix_to_string(&p, buf, sizeof(buf)),
                                       netcfg_prefix_to_string(&m, fixed, sizeof(fixed)));
        }
        *ret = p;
        return 0;
}

int netcfg_prefix_cmp(const NetcfgPrefix *a, const NetcfgPrefix *b) {
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        if (a->len != b->len)
                return a->len < b->len ? -1 : 1;
        return memcmp(a->addr, b->addr, 16);
}

static int address_cmp(const void *x, const void *y) {
        const NetcfgAddress *a = x, *b = y;
        int c = netcfg_prefix_cmp(&a->prefix, &b->prefix);

        return c ? c : a->ifindex < b->ifindex ? -1 : a->ifindex > b->ifindex;
}

int netcfg_dns_name_check(const char *name) {
        size_t n = strlen(name), label = 0;

        if (n == 0 || n > 253 || name[0] == '.')
                return -EINVAL;
        for (const char *c = name; *c; c++) {
                if (*c == '.') {
                        if (label == 0)
                                return -EINVAL;
                        label = 0;
                        continue;
                }
                if (!(isalnum((unsigned char) *c) || *c == '-' || *c == '_'))
                        return -EINVAL;
                if (++label > 63)
                        return -EINVAL;
        }
        return 0;
}

void netcfg_dns_done(NetcfgDns *d) {
        free(d->servers);
        for (size_t i = 0; i < d->n_search; i++)
                free(d->search[i]);
        for (size_t i = 0; i < d->n_routing; i++)
                free(d->routing[i]);
        free(d->search);
        free(d->routing);
        *d = (NetcfgDns){};
}

bool netcfg_dns_empty(const NetcfgDns *d) {
        return d->n_servers == 0 && d->n_search == 0 && d->n_routing == 0;
}

int netcfg_dns_copy(const NetcfgDns *src, NetcfgDns *dst) {
        NetcfgDns d = { .n_servers = src->n_servers,
                        .full = src->full,
                        .default_route = src->default_route };

        d.servers = calloc(src->n_servers + 1, sizeof(NetcfgPrefix));
        if (!d.servers)
                return -ENOMEM;
        memcpy_safe(d.servers, src->servers, src->n_servers * sizeof(NetcfgPrefix));
        d.search = strv_copy_n(src->search, src->n_search);
        d.n_search = d.search ? src->n_search : 0;
        d.routing = d.search ? strv_copy_n(src->routing, src->n_routing) : NULL;
        if (!d.search || !d.routing) {
                netcfg_dns_done(&d);
                return -ENOMEM;
        }
        d.n_routing = src->n_routing;
        *dst = d;
        return 0;
}

void netcfg_plan_done(NetcfgPlan *p) {
        netcfg_objects_done(&p->obj);
        netcfg_dns_done(&p->dns);
        *p = (NetcfgPlan){};
}

static int plan_domains(char *const *names, size_t n, const char *what, char ***ret,
                        char **ret_error) {
        for (size_t i = 0; i < n; i++) {
                if (names[i] && names[i][0] == '~')
                        return error_set_errno(ret_error, -EINVAL,
                                               "%s \"%s\": write it without \"~\" (routing_domains "
                                               "already means routing-only)",
                                               what, names[i]);
                if (!names[i] || netcfg_dns_name_check(names[i]) < 0)
                        return error_set_errno(ret_error, -EINVAL,
                                               "%s \"%s\" is not a valid DNS "
                                               "domain name",
                                               what, names[i] ?: "(null)");
        }
        *ret = strv_copy_n(names, n);
        return *ret ? 0 : -ENOMEM;
}

static int plan_dns(const Tund__NetworkSettings *s, NetcfgDns *d, char **ret_error) {
        int r;

        d->servers = calloc(s->n_dns_servers + 1, sizeof(NetcfgPrefix));
        if (!d->servers)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_dns_servers; i++) {
                NetcfgPrefix *p = &d->servers[i];

                p->family = family_of_len(s->dns_servers[i].len);
                if (p->family == AF_UNSPEC)
                        return error_set_errno(ret_error, -EINVAL,
                                               "DNS server %zu has %zu bytes, "
                                               "expected 4 (IPv4) or 16 (IPv6)",
                                               i + 1, s->dns_servers[i].len);
                memcpy(p->addr, s->dns_servers[i].data, s->dns_servers[i].len);
                p->len = (uint8_t) max_len(p->family);
        }
        d->n_servers = s->n_dns_servers;
        r = plan_domains(s->search_domains, s->n_search_domains, "search domain", &d->search,
                         ret_error);
        if (r < 0)
                return r;
        d->n_search = s->n_search_domains;
        r = plan_domains(s->routing_domains, s->n_routing_domains, "routing domain", &d->routing,
                         ret_error);
        if (r < 0)
                return r;
        d->n_routing = s->n_routing_domains;
        d->full = s->dns_mode == TUND__DNS_MODE__DNS_MODE_FULL;
        d->default_route = s->dns_default_route;
        if ((d->full || d->n_search || d->n_routing) && d->n_servers == 0)
                return error_set_errno(ret_error, -EINVAL,
                                       "DNS domains or full DNS mode were "
                                       "given without any DNS server");
        return 0;
}

static int plan_addresses(const Tund__NetworkSettings *s, int ifindex, NetcfgObjects *o,
                          char **ret_error) {
        size_t n = 0;
        int r;

        o->addresses = calloc(s->n_addresses + 1, sizeof(NetcfgAddress));
        if (!o->addresses)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_addresses; i++) {
                r = prefix_from_pb(s->addresses[i], "address", i + 1, false,
                                   &o->addresses[i].prefix, ret_error);
                if (r < 0)
                        return r;
                o->addresses[i].ifindex = ifindex;
        }
        qsort(o->addresses, s->n_addresses, sizeof(NetcfgAddress), address_cmp);
        for (size_t i = 0; i < s->n_addresses; i++)
                if (n == 0 || address_cmp(&o->addresses[n - 1], &o->addresses[i]) != 0)
                        o->addresses[n++] = o->addresses[i];
        o->n_addresses = n;
        return 0;
}

static int fam_idx(int family) {
        return family == AF_INET6;
}

/* Routes of one list (included or excluded) appended to o->routes; table decided later. */
static int plan_parse_routes(Tund__IpPrefix *const *list, size_t n, bool excluded, NetcfgObjects *o,
                             bool has_default[2], bool has_excluded[2], char **ret_error) {
        const char *what = excluded ? "excluded route" : "route";
        int r;

        for (size_t i = 0; i < n; i++) {
                NetcfgRoute *rt = &o->routes[o->n_routes];

                r = prefix_from_pb(list[i], what, i + 1, true, &rt->dst, ret_error);
                if (r < 0)
                        return r;
                rt->type = excluded ? RTN_THROW : RTN_UNICAST;
                rt->protocol = NETCFG_RTPROT_TUND;
                if (excluded)
                        has_excluded[fam_idx(rt->dst.family)] = true;
                else if (rt->dst.len == 0)
                        has_default[fam_idx(rt->dst.family)] = true;
                o->n_routes++;
        }
        return 0;
}

static void plan_rules(NetcfgPlan *plan, const NetcfgPlanParams *p, uint32_t fwmark,
                       const bool policy[2]) {
        for (int f = 0; f < 2; f++) {
                if (!policy[f])
                        continue;
                plan->obj.rules[plan->obj.n_rules++] = (NetcfgRule){
                        .family = f ? AF_INET6 : AF_INET,
                        .priority = p->rule_priority,
                        .table = NETCFG_TABLE_MAIN,
                        .suppress_prefixlen = 0,
                        .protocol = NETCFG_RTPROT_TUND,
                };
                plan->obj.rules[plan->obj.n_rules++] = (NetcfgRule){
                        .family = f ? AF_INET6 : AF_INET,
                        .priority = p->rule_priority + 1,
                        .table = p->table,
                        .fwmark = p->exempt_uid_set ? 0 : fwmark,
                        .invert = true,
                        .suppress_prefixlen = -1,
                        .protocol = NETCFG_RTPROT_TUND,
                        .uid_set = p->exempt_uid_set,
                        .uid = p->exempt_uid,
                };
        }
        plan->fwmark = plan->obj.n_rules && !p->exempt_uid_set ? fwmark : 0;
}

static int plan_routes(const Tund__NetworkSettings *s, const NetcfgPlanParams *p, NetcfgPlan *plan,
                       char **ret_error) {
        NetcfgObjects *o = &plan->obj;
        bool has_default[2] = {}, has_excluded[2] = {}, policy[2] = {};
        char buf[NETCFG_PREFIX_STRLEN];
        size_t n = 0;
        int r;

        o->routes = calloc(s->n_routes + s->n_excluded_routes + 1, sizeof(NetcfgRoute));
        o->rules = calloc(5, sizeof(NetcfgRule));
        if (!o->routes || !o->rules)
                return -ENOMEM;
        r = plan_parse_routes(s->routes, s->n_routes, false, o, has_default, has_excluded,
                              ret_error);
        if (r >= 0)
                r = plan_parse_routes(s->excluded_routes, s->n_excluded_routes, true, o,
                                      has_default, has_excluded, ret_error);
        if (r < 0)
                return r;
        if (s->table_off) {
                o->n_routes = 0;
                plan->table = 0;
                return 0;
        }
        for (int f = 0; f < 2; f++)
                policy[f] = s->table == 0 && (has_default[f] || has_excluded[f]);
        plan->table = s->table ?: policy[0] || policy[1] ? p->table : NETCFG_TABLE_MAIN;
        for (size_t i = 0; i < o->n_routes; i++) {
                NetcfgRoute *rt = &o->routes[i];

                rt->table = s->table
                                    ?: policy[fam_idx(rt->dst.family)] ? p->table
                                                                       : NETCFG_TABLE_MAIN;
                rt->oif = rt->type == RTN_UNICAST ? p->ifindex : 0;
        }
        qsort(o->routes, o->n_routes, sizeof(NetcfgRoute), netcfg_route_cmp);
        for (size_t i = 0; i < o->n_routes; i++) {
                NetcfgRoute *prev = n ? &o->routes[n - 1] : NULL, *cur = &o->routes[i];

                if (prev && netcfg_prefix_cmp(&prev->dst, &cur->dst) == 0 &&
                    prev->table == cur->table) {
                        if (prev->type == cur->type)
                                continue; /* listed twice */
                        return error_set_errno(
                                ret_error, -EINVAL, "prefix %s is both routed and excluded",
                                netcfg_prefix_to_string(&cur->dst, buf, sizeof(buf)));
                }
                o->routes[n++] = *cur;
        }
        o->n_routes = n;
        plan_rules(plan, p, s->fwmark ?: NETCFG_FWMARK_DEFAULT, policy);
        return 0;
}

static int plan_check_link(const Tund__NetworkSettings *s, const NetcfgPlan *plan,
                           char **ret_error) {
        bool v6 = false;

        if (s->mtu != 0 && (s->mtu < 68 || s->mtu > 65535))
                return error_set_errno(ret_error, -EINVAL, "MTU %u is out of range (68-65535)",
                                       s->mtu);
        for (size_t i = 0; i < plan->obj.n_addresses; i++)
                v6 = v6 || plan->obj.addresses[i].prefix.family == AF_INET6;
        if (v6 && s->mtu != 0 && s->mtu < 1280)
                return error_set_errno(ret_error, -EINVAL,
                                       "MTU %u is below IPv6's minimum of "
                                       "1280, but the link has IPv6 addresses",
                                       s->mtu);
        if (s->table == RT_TABLE_LOCAL || s->table == RT_TABLE_DEFAULT)
                return error_set_errno(ret_error, -EINVAL,
                                       "routing table %u is reserved by the "
                                       "kernel (local/default); choose another",
                                       s->table);
        return 0;
}

int netcfg_plan_build(const Tund__NetworkSettings *s, const NetcfgPlanParams *p, NetcfgPlan *ret,
                      char **ret_error) {
        NetcfgPlan plan = { .mtu = s->mtu };
        int r;

        r = plan_addresses(s, p->ifindex, &plan.obj, ret_error);
        if (r >= 0)
                r = plan_routes(s, p, &plan, ret_error);
        if (r >= 0)
                r = plan_check_link(s, &plan, ret_error);
        if (r >= 0)
                r = plan_dns(s, &plan.dns, ret_error);
        if (r < 0) {
                netcfg_plan_done(&plan);
                return r == -ENOMEM ? error_set_errno(ret_error, r, "planning network settings")
                                    : r;
        }
        *ret = plan;
        return 0;
}
