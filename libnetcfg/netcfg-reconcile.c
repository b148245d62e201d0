/* Reconcile: remove what a crashed shim left behind, found by its tags (rtm_protocol tund,
 * tund's table, the profile's rule-priority span), not by a memory of what was applied.
 * Addresses and the MTU are not touched: they live and die with the TUN link, which a new
 * shim creates afresh. */
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

/* Routes in the profile's table with proto tund, plus proto tund routes on the link. */
static int reconcile_collect_routes(const NetcfgContext *ctx, int ifindex, NetcfgObjects *o,
                                    char **ret_error) {
        _cleanup_free_ NetcfgRoute *on_link = NULL;
        size_t n_on_link = 0;
        NetcfgRoute *all;
        int r;

        if (!ctx->opts.link_only) {
                r = netcfg_read_routes(0, ctx->opts.table, NETCFG_RTPROT_TUND, &o->routes,
                                       &o->n_routes, ret_error);
                if (r < 0)
                        return r;
        }
        if (ifindex <= 0)
                return 0;
        r = netcfg_read_routes(ifindex, 0, NETCFG_RTPROT_TUND, &on_link, &n_on_link, ret_error);
        if (r < 0)
                return r;
        all = reallocarray(o->routes, o->n_routes + n_on_link + 1, sizeof(NetcfgRoute));
        if (!all)
                return error_set_errno(ret_error, -ENOMEM, "reading routes");
        o->routes = all;
        for (size_t i = 0; i < n_on_link; i++)
                if (on_link[i].table != ctx->opts.table)
                        o->routes[o->n_routes++] = on_link[i];
        return 0;
}

/* Rules with proto tund in the profile's span that look up its table or main (the suppress
 * rule); an admin's rule there (another protocol) stays. Deleted by priority, table and
 * protocol. */
static int reconcile_collect_rules(const NetcfgContext *ctx, NetcfgObjects *o, char **ret_error) {
        uint32_t lo = ctx->opts.rule_priority, hi = lo + NETCFG_RULE_PRIO_SPAN - 1;
        size_t n = 0;
        int r;

        if (ctx->opts.link_only)
                return 0;
        r = netcfg_read_rules(lo, hi, &o->rules, &o->n_rules, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < o->n_rules; i++) {
                NetcfgRule ru = o->rules[i];

                if (ru.protocol != NETCFG_RTPROT_TUND ||
                    (ru.table != ctx->opts.table && ru.table != NETCFG_TABLE_MAIN))
                        continue;
                o->rules[n++] = (NetcfgRule){ .family = ru.family,
                                              .priority = ru.priority,
                                              .table = ru.table,
                                              .suppress_prefixlen = -1,
                                              .protocol = NETCFG_RTPROT_TUND };
        }
        o->n_rules = n;
        return 0;
}

static void reconcile_dns(NetcfgContext *ctx, int ifindex, const char *ifname) {
        NetcfgDnsBackend b;
        NetcfgOptions o = ctx->opts;

        /* Whichever backends exist: a crashed shim may have used either. Both calls are
         * no-ops when there is nothing to revert; failures here leave nothing we own. */
        o.dns_backend = NETCFG_DNS_RESOLVED;
        if (ifindex > 0 && netcfg_dns_pick(&o, &ctx->bus, &b) >= 0)
                (void) netcfg_dns_revert(&o, &ctx->bus, b, ifindex, ifname, NULL);
        o.dns_backend = NETCFG_DNS_RESOLVCONF;
        if (netcfg_dns_pick(&o, &ctx->bus, &b) >= 0)
                (void) netcfg_dns_revert(&o, &ctx->bus, b, ifindex, ifname, NULL);
}

int netcfg_reconcile(const char *ifname, const NetcfgOptions *opts, char **ret_error) {
        _cleanup_netcfg_ NetcfgContext *ctx = NULL;
        _cleanup_(netcfg_objects_done) NetcfgObjects o = {};
        NetcfgLink l = {};
        int r;

        if (isempty(ifname) || strlen(ifname) >= IFNAMSIZ)
                return error_set_errno(ret_error, -EINVAL, "reconcile needs a link name");
        r = netcfg_context_alloc(&ctx, opts);
        if (r < 0)
                return error_set_errno(ret_error, r, "opening a netlink socket");
        r = netcfg_link_get(ctx->nl, ifname, 0, &l);
        if (r < 0 && r != -ENODEV)
                return error_set_errno(ret_error, r, "looking up link \"%s\"", ifname);

        r = reconcile_collect_routes(ctx, l.ifindex, &o, ret_error);
        if (r >= 0)
                r = reconcile_collect_rules(ctx, &o, ret_error);
        if (r < 0)
                return r;
        o.addresses = calloc(1, sizeof(NetcfgAddress));
        if (!o.addresses)
                return error_set_errno(ret_error, -ENOMEM, "reconciling");
        reconcile_dns(ctx, l.ifindex, ifname);
        r = netcfg_objects_write(ctx->nl, ctx->opts.batch_limit, false, &o, NULL, ret_error);
        if (r < 0)
                return r;
        return (int) MIN(o.n_routes + o.n_rules, (size_t) INT32_MAX);
}
