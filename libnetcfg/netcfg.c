/* The context: apply, revert, and the bookkeeping of what is applied. */
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>

#include "netcfg-internal.h"

const char *netcfg_dns_backend_to_string(NetcfgDnsBackend b) {
        switch (b) {
        case NETCFG_DNS_AUTO:
                return "auto";
        case NETCFG_DNS_RESOLVED:
                return "resolved";
        case NETCFG_DNS_RESOLVCONF:
                return "resolvconf";
        default:
                return "none";
        }
}

int netcfg_context_alloc(NetcfgContext **ret, const NetcfgOptions *opts) {
        static const NetcfgOptions none = {};
        NetcfgContext *ctx;
        int r;

        opts = opts ?: &none;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->opts = *opts;
        ctx->opts.table = opts->table ?: NETCFG_TABLE_DEFAULT;
        ctx->opts.rule_priority = opts->rule_priority ?: NETCFG_RULE_PRIO_MIN;
        ctx->bus_address = opts->bus_address ? strdup(opts->bus_address) : NULL;
        ctx->resolvconf = opts->resolvconf ? strdup(opts->resolvconf) : NULL;
        ctx->opts.bus_address = ctx->bus_address;
        ctx->opts.resolvconf = ctx->resolvconf;
        ctx->opts.bus = NULL; /* opened (or referenced) on first use, see netcfg_bus_open() */
        ctx->bus = opts->bus ? sd_bus_ref(opts->bus) : NULL;
        ctx->dns_backend = NETCFG_DNS_NONE;
        if ((opts->bus_address && !ctx->bus_address) || (opts->resolvconf && !ctx->resolvconf))
                return netcfg_free(ctx), -ENOMEM;
        r = netcfg_nl_open(&ctx->nl);
        if (r < 0) {
                netcfg_free(ctx);
                return r;
        }
        *ret = ctx;
        return 0;
}

NetcfgContext *netcfg_free(NetcfgContext *ctx) {
        if (!ctx)
                return NULL;
        if (ctx->nl)
                mnl_socket_close(ctx->nl);
        sd_bus_unref(ctx->bus);
        netcfg_objects_done(&ctx->obj);
        netcfg_dns_done(&ctx->dns);
        free(ctx->bus_address);
        free(ctx->resolvconf);
        free(ctx);
        return NULL;
}

static int link_error(char **ret_error, int r, const char *ifname, int ifindex) {
        if (ifname)
                return error_set_errno(ret_error, r, "looking up link \"%s\"%s", ifname,
                                       r == -ENODEV ? " (no such link in this network namespace)"
                                                    : "");
        return error_set_errno(ret_error, r, "looking up link with index %d%s", ifindex,
                               r == -ENODEV ? " (no such link in this network namespace)" : "");
}

int netcfg_new(NetcfgContext **ret, const char *ifname, int ifindex, const NetcfgOptions *opts,
               char **ret_error) {
        _cleanup_netcfg_ NetcfgContext *ctx = NULL;
        NetcfgLink l;
        int r;

        if (!ifname && ifindex <= 0)
                return error_set_errno(ret_error, -EINVAL, "no link given (name or index)");
        r = netcfg_context_alloc(&ctx, opts);
        if (r < 0)
                return error_set_errno(ret_error, r, "opening a netlink socket");
        r = netcfg_link_get(ctx->nl, ifname, ifindex, &l);
        if (r < 0)
                return link_error(ret_error, r, ifname, ifindex);
        memcpy(ctx->ifname, l.ifname, sizeof(ctx->ifname));
        ctx->ifindex = l.ifindex;
        *ret = TAKE_PTR(ctx);
        return 0;
}

/* Whether the link of the state is still there and still the same link (after a crash
 * its index could have been reused by another one). */
static bool link_present(NetcfgContext *ctx, NetcfgLink *ret) {
        NetcfgLink l;

        if (netcfg_link_get(ctx->nl, NULL, ctx->ifindex, &l) < 0 || !streq(l.ifname, ctx->ifname))
                return false;
        if (ret)
                *ret = l;
        return true;
}

/* Restores MTU and down state we changed; `mtu_before`/`set_up` say what to undo. */
static int link_restore(NetcfgContext *ctx, uint32_t mtu_before, bool set_up, char **ret_error) {
        if (mtu_before == 0 && !set_up)
                return 0;
        if (!link_present(ctx, NULL))
                return 0;
        return netcfg_link_set(ctx->nl, ctx->ifindex, mtu_before, set_up ? 0 : -1, ret_error);
}

static int objects_remove(NetcfgContext *ctx, const NetcfgObjects *o, char **ret_error) {
        return netcfg_objects_write(ctx->nl, ctx->opts.batch_limit, false, o, NULL, ret_error);
}

/* The objects of plan whose write result was want (0 created, 1 already there), less those
 * the context already had: what this apply created, or found in its way. */
static int objects_new_with_result(const NetcfgContext *ctx, const NetcfgObjects *plan,
                                   const NetcfgOpResult *res, int want, NetcfgObjects *ret) {
        _cleanup_(netcfg_objects_done) NetcfgObjects o = {};
        int r = netcfg_objects_select(plan, res, want, &o);
        if (r < 0)
                return r;
        return netcfg_objects_subtract(&o, &ctx->obj, ret);
}

/* Undo of a failed apply: the objects this call created (result 0) that the context did not
 * have before, and the link changes this call made. Objects that were there already (the rule
 * or throw route another profile shares, the kernel's prefix route) are left alone. */
static void apply_rollback(NetcfgContext *ctx, const NetcfgObjects *plan, const NetcfgOpResult *res,
                           uint32_t mtu_before, bool set_up) {
        _cleanup_(netcfg_objects_done) NetcfgObjects undo = {};
        if (objects_new_with_result(ctx, plan, res, 0, &undo) >= 0)
                (void) objects_remove(ctx, &undo, NULL);
        (void) link_restore(ctx, mtu_before, set_up, NULL);
}

static int apply_link(NetcfgContext *ctx, const NetcfgPlan *plan, uint32_t *ret_mtu_before,
                      bool *ret_set_up, char **ret_error) {
        NetcfgLink l;
        uint32_t mtu;
        int r;

        *ret_mtu_before = 0;
        *ret_set_up = false;
        if (!link_present(ctx, &l))
                return error_set_errno(ret_error, -ENODEV, "link %s (index %d) is gone",
                                       ctx->ifname, ctx->ifindex);
        mtu = plan->mtu && plan->mtu != l.mtu ? plan->mtu : 0;
        if (!mtu && l.up)
                return 0;
        r = netcfg_link_set(ctx->nl, ctx->ifindex, mtu, 1, ret_error);
        if (r < 0)
                return r;
        *ret_mtu_before = mtu ? l.mtu : 0;
        *ret_set_up = !l.up;
        return 0;
}

static int apply_dns(NetcfgContext *ctx, const NetcfgPlan *plan, NetcfgDnsBackend *backend,
                     char **ret_error) {
        int r;

        *backend = NETCFG_DNS_NONE;
        if (netcfg_dns_empty(&plan->dns)) {
                if (ctx->dns_backend == NETCFG_DNS_NONE)
                        return 0;
                return netcfg_dns_revert(&ctx->opts, &ctx->bus, ctx->dns_backend, ctx->ifindex,
                                         ctx->ifname, ret_error);
        }
        r = netcfg_dns_pick(&ctx->opts, &ctx->bus, backend);
        if (r < 0)
                return error_set_errno(ret_error, r,
                                       "no DNS backend: systemd-resolved is not on "
                                       "the system bus and no resolvconf program was found");
        if (ctx->dns_backend != NETCFG_DNS_NONE && ctx->dns_backend != *backend)
                (void) netcfg_dns_revert(&ctx->opts, &ctx->bus, ctx->dns_backend, ctx->ifindex,
                                         ctx->ifname, NULL);
        return netcfg_dns_apply(&ctx->opts, &ctx->bus, *backend, ctx->ifindex, ctx->ifname,
                                &plan->dns, ret_error);
}

/* After commit(): counts come from what is now applied, table and fwmark from the plan. */
static void fill_result(const NetcfgContext *ctx, const NetcfgPlan *plan, NetcfgResult *res) {
        *res = (NetcfgResult){
                .ifindex = ctx->ifindex,
                .dns_backend = ctx->dns_backend,
                .addresses_applied = (unsigned) ctx->obj.n_addresses,
                .routes_applied = (unsigned) ctx->obj.n_routes,
                .rules_applied = (unsigned) ctx->obj.n_rules,
                .table = plan->table,
                .fwmark = plan->fwmark,
        };
        memcpy(res->ifname, ctx->ifname, sizeof(res->ifname));
}

static void commit(NetcfgContext *ctx, NetcfgPlan *plan, NetcfgDnsBackend backend,
                   uint32_t mtu_before, bool set_up) {
        if (mtu_before && !ctx->mtu_before)
                ctx->mtu_before = mtu_before;
        ctx->set_up = ctx->set_up || set_up;
        ctx->mtu_set = plan->mtu ?: ctx->mtu_set;
        netcfg_objects_done(&ctx->obj);
        ctx->obj = plan->obj;
        plan->obj = (NetcfgObjects){};
        netcfg_dns_done(&ctx->dns);
        ctx->dns = plan->dns;
        plan->dns = (NetcfgDns){};
        ctx->dns_backend = backend;
        ctx->applied = true;
}

static bool prefix_equal(const NetcfgPrefix *a, const NetcfgPrefix *b) {
        return a->family == b->family && a->len == b->len &&
               memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* A route add that met EEXIST is only "already there" if the route is ours: the kernel says
 * EEXIST just as well when another link routes the same prefix in that table (another VPN
 * profile, the LAN), and the traffic meant for this tunnel would silently go there. Like
 * wg-quick, refuse such an overlap, naming the other link. Only routes new to this context
 * are checked (result 1, not in the context), so a re-apply reads nothing. */
static int check_route_overlaps(NetcfgContext *ctx, const NetcfgObjects *plan,
                                const NetcfgOpResult *res, char **ret_error) {
        _cleanup_(netcfg_objects_done) NetcfgObjects fresh = {};
        _cleanup_free_ NetcfgRoute *kernel = NULL;
        size_t n_kernel = 0, n_link = 0;
        int r;

        if (objects_new_with_result(ctx, plan, res, 1, &fresh) < 0)
                return error_set_errno(ret_error, -ENOMEM, "checking routes");
        for (size_t i = 0; i < fresh.n_routes; i++)
                if (fresh.routes[i].oif > 0)
                        n_link++;
        if (n_link == 0)
                return 0;
        r = netcfg_read_routes(0, 0, 0, &kernel, &n_kernel, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < fresh.n_routes; i++) {
                const NetcfgRoute *want = &fresh.routes[i], *other = NULL;
                bool ours = want->oif <= 0; /* throw routes: shared by design */
                for (size_t k = 0; k < n_kernel && !ours; k++) {
                        if (kernel[k].table != want->table ||
                            !prefix_equal(&kernel[k].dst, &want->dst))
                                continue;
                        if (kernel[k].oif == want->oif)
                                ours = true;
                        else if (!other)
                                other = &kernel[k];
                }
                if (ours || !other)
                        continue;
                char p[NETCFG_PREFIX_STRLEN], table[16], dev[IF_NAMESIZE] = "";
                if (other->oif <= 0 || !if_indextoname((unsigned) other->oif, dev))
                        snprintf(dev, sizeof(dev), "%s", other->oif > 0 ? "?" : "none");
                snprintf(table, sizeof(table), "%u", want->table);
                return error_set_errno(ret_error, -EEXIST,
                                       "route %s overlaps a route that is already there: table %s "
                                       "sends %s to dev %s (another VPN profile, or a local "
                                       "network). Remove the overlap from AllowedIPs or from the "
                                       "other side",
                                       netcfg_prefix_to_string(&want->dst, p, sizeof(p)),
                                       want->table == RT_TABLE_MAIN ? "main" : table, p, dev);
        }
        return 0;
}

/* Does table (tund's, proto tund) send the family's default route somewhere? */
static int table_has_default(uint32_t table, int family, char **ret_error) {
        _cleanup_free_ NetcfgRoute *routes = NULL;
        size_t n = 0;
        int r = netcfg_read_routes(0, table, NETCFG_RTPROT_TUND, &routes, &n, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (routes[i].dst.family == family && routes[i].dst.len == 0 &&
                    routes[i].type == RTN_UNICAST)
                        return 1;
        return 0;
}

/* Two full tunnels cannot both win: the rule with the lower priority would take every packet
 * and the other profile would say "running" while nothing went through it. A plan whose
 * policy rule sends a family's default route to its own table is refused while another
 * tund policy rule (proto tund, in tund's span, another table) does so already. */
static int check_full_tunnel_conflict(const NetcfgContext *ctx, const NetcfgPlan *plan,
                                      char **ret_error) {
        _cleanup_free_ NetcfgRule *rules = NULL;
        size_t n_rules = 0;
        int r;

        for (size_t i = 0; i < plan->obj.n_rules; i++) {
                const NetcfgRule *want = &plan->obj.rules[i];
                bool full = false;
                if (!want->invert)
                        continue;
                for (size_t k = 0; k < plan->obj.n_routes && !full; k++) {
                        const NetcfgRoute *rt = &plan->obj.routes[k];
                        full = rt->table == want->table && rt->dst.family == want->family &&
                               rt->dst.len == 0 && rt->type == RTN_UNICAST;
                }
                if (!full)
                        continue;
                if (!rules) {
                        r = netcfg_read_rules(NETCFG_RULE_PRIO_MIN, NETCFG_RULE_PRIO_MAX, &rules,
                                              &n_rules, ret_error);
                        if (r < 0)
                                return r;
                }
                for (size_t k = 0; k < n_rules; k++) {
                        const NetcfgRule *o = &rules[k];
                        /* tund's only rules that look up a table other than main are the
                         * "not fwmark/uidrange" ones (invert is not read back: libnl does not
                         * expose it). */
                        if (o->protocol != NETCFG_RTPROT_TUND || o->family != want->family ||
                            o->table == want->table || o->table == NETCFG_TABLE_MAIN)
                                continue;
                        r = table_has_default(o->table, o->family, ret_error);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                continue;
                        const char *owner =
                                ctx->opts.table_owner
                                        ? ctx->opts.table_owner(o->table,
                                                                ctx->opts.table_owner_userdata)
                                        : NULL;
                        return error_set_errno(
                                ret_error, -EBUSY,
                                "another full tunnel is up: %s%s%stable %u (rule priority %u) "
                                "already takes every %s packet. Two full tunnels cannot run "
                                "at once: stop it first",
                                owner ? "profile " : "", owner ?: "", owner ? ", " : "", o->table,
                                o->priority, want->family == AF_INET ? "IPv4" : "IPv6");
                }
        }
        return 0;
}

int netcfg_apply(NetcfgContext *ctx, const Tund__NetworkSettings *s, NetcfgResult *ret_result,
                 char **ret_error) {
        NetcfgPlanParams p = { .ifindex = ctx->ifindex,
                               .table = ctx->opts.table,
                               .rule_priority = ctx->opts.rule_priority,
                               .exempt_uid_set = ctx->opts.exempt_uid_set,
                               .exempt_uid = ctx->opts.exempt_uid };
        _cleanup_(netcfg_plan_done) NetcfgPlan plan = {};
        _cleanup_(netcfg_objects_done) NetcfgObjects stale = {};
        _cleanup_(netcfg_op_result_done) NetcfgOpResult res = {};
        NetcfgDnsBackend backend = NETCFG_DNS_NONE;
        uint32_t mtu_before;
        bool set_up;
        int r;

        if (!s)
                return error_set_errno(ret_error, -EINVAL, "no network settings given");
        r = netcfg_plan_build(s, &p, &plan, ret_error);
        if (r >= 0)
                r = check_full_tunnel_conflict(ctx, &plan, ret_error);
        if (r < 0)
                return r;
        /* Fail before touching anything when DNS is asked for and nothing can apply it. */
        if (!netcfg_dns_empty(&plan.dns) && netcfg_dns_pick(&ctx->opts, &ctx->bus, &backend) < 0)
                return error_set_errno(ret_error, -ENOENT,
                                       "no DNS backend: systemd-resolved is "
                                       "not on the system bus and no resolvconf program was found");
        if (netcfg_objects_subtract(&ctx->obj, &plan.obj, &stale) < 0 ||
            netcfg_op_result_new(&plan.obj, &res) < 0)
                return error_set_errno(ret_error, -ENOMEM, "comparing network settings");

        r = apply_link(ctx, &plan, &mtu_before, &set_up, ret_error);
        if (r < 0)
                return r;
        r = netcfg_objects_write(ctx->nl, ctx->opts.batch_limit, true, &plan.obj, &res, ret_error);
        if (r >= 0)
                r = check_route_overlaps(ctx, &plan.obj, &res, ret_error);
        if (r >= 0)
                r = apply_dns(ctx, &plan, &backend, ret_error);
        if (r < 0) {
                apply_rollback(ctx, &plan.obj, &res, mtu_before, set_up);
                return r;
        }
        r = objects_remove(ctx, &stale, ret_error);
        if (r < 0 && netcfg_objects_append(&plan.obj, &stale) < 0)
                r = error_set_errno(ret_error, -ENOMEM, "remembering applied settings");
        commit(ctx, &plan, backend, mtu_before, set_up);
        if (r >= 0 && ret_result)
                fill_result(ctx, &plan, ret_result);
        return r;
}

/* Without the link, what was bound to it is gone with it: keep only rules and routes
 * without a device (throw routes in tund's table). */
static void objects_drop_link_bound(NetcfgObjects *o) {
        size_t n = 0;

        for (size_t i = 0; i < o->n_routes; i++)
                if (o->routes[i].oif <= 0)
                        o->routes[n++] = o->routes[i];
        o->n_routes = n;
        o->n_addresses = 0;
}

int netcfg_revert(NetcfgContext *ctx, char **ret_error) {
        _cleanup_(netcfg_objects_done) NetcfgObjects o = {};
        bool present;
        int r = 0, k;

        if (!ctx->applied)
                return 0;
        present = link_present(ctx, NULL);
        if (ctx->dns_backend != NETCFG_DNS_NONE &&
            (present || ctx->dns_backend == NETCFG_DNS_RESOLVCONF)) {
                k = netcfg_dns_revert(&ctx->opts, &ctx->bus, ctx->dns_backend, ctx->ifindex,
                                      ctx->ifname, ret_error);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (netcfg_objects_copy(&ctx->obj, &o) < 0)
                return error_set_errno(ret_error, -ENOMEM, "reverting network settings");
        if (!present)
                objects_drop_link_bound(&o);
        k = objects_remove(ctx, &o, r < 0 ? NULL : ret_error);
        if (k < 0 && r == 0)
                r = k;
        k = link_restore(ctx, ctx->mtu_before, ctx->set_up, r < 0 ? NULL : ret_error);
        if (k < 0 && r == 0)
                r = k;
        if (r < 0)
                return r; /* keep the state: a later revert or reconcile can retry */
        netcfg_objects_done(&ctx->obj);
        netcfg_dns_done(&ctx->dns);
        ctx->dns_backend = NETCFG_DNS_NONE;
        ctx->mtu_before = ctx->mtu_set = 0;
        ctx->set_up = ctx->applied = false;
        return 0;
}

int netcfg_reassert(NetcfgContext *ctx, unsigned *ret_restored, char **ret_error) {
        _cleanup_(netcfg_op_result_done) NetcfgOpResult res = {};
        unsigned n = 0;
        int r;

        if (netcfg_op_result_new(&ctx->obj, &res) < 0)
                return error_set_errno(ret_error, -ENOMEM, "checking applied settings");
        /* Adds are idempotent (EEXIST: already there), so writing everything again re-creates
         * exactly what is missing, and its per-object results count it. */
        r = netcfg_objects_write(ctx->nl, ctx->opts.batch_limit, true, &ctx->obj, &res, ret_error);
        if (r < 0)
                return r;
        n = (unsigned) netcfg_op_result_count(&ctx->obj, &res, 0);
        if (ret_restored)
                *ret_restored = n;
        return 0;
}
