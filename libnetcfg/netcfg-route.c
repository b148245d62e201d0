/* Routes: the kind's verbs (netcfg-internal.h, NetcfgKindOps). A route is its destination,
 * table, type (unicast or throw) and link; tund's carry protocol tund. */
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

bool netcfg_route_equal(const NetcfgRoute *a, const NetcfgRoute *b) {
        return a->dst.family == b->dst.family && a->dst.len == b->dst.len &&
               memcmp(a->dst.addr, b->dst.addr, 16) == 0 && a->table == b->table &&
               a->type == b->type && a->oif == b->oif;
}

/* Sort order: destination and table first, so a prefix both routed and excluded ends up
 * adjacent; then type and link. Sets of routes (up to 100,000) are kept in this order, so
 * that comparing two is a merge. */
int netcfg_route_cmp(const void *x, const void *y) {
        const NetcfgRoute *a = x, *b = y;
        int c = netcfg_prefix_cmp(&a->dst, &b->dst);

        if (c)
                return c;
        if (a->table != b->table)
                return a->table < b->table ? -1 : 1;
        if (a->type != b->type)
                return a->type < b->type ? -1 : 1;
        return a->oif < b->oif ? -1 : a->oif > b->oif;
}

void netcfg_routes_sort(NetcfgRoute *routes, size_t n) {
        if (n > 1) /* routes may be NULL when there are none */
                qsort(routes, n, sizeof(NetcfgRoute), netcfg_route_cmp);
}

struct nlmsghdr *netcfg_nlmsg_route(void *buf, uint16_t type, const NetcfgRoute *r) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct rtmsg *rtm;

        nlh->nlmsg_type = type;
        /* EXCL so an existing route shows as EEXIST, which the caller treats as success. */
        nlh->nlmsg_flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_EXCL : 0;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = r->dst.family;
        rtm->rtm_dst_len = r->dst.len;
        rtm->rtm_table = r->table < 256 ? r->table : RT_TABLE_UNSPEC;
        rtm->rtm_protocol = r->protocol;
        rtm->rtm_type = r->type;
        if (type == RTM_DELROUTE)
                rtm->rtm_scope = RT_SCOPE_NOWHERE; /* match any scope */
        else
                rtm->rtm_scope =
                        r->type == RTN_UNICAST && r->oif > 0 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
        mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
        if (r->dst.len > 0)
                netcfg_nlattr_put_prefix(nlh, RTA_DST, &r->dst);
        if (r->oif > 0)
                mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) r->oif);
        return nlh;
}

static struct nlmsghdr *route_nlmsg(void *buf, uint16_t type, const void *obj) {
        return netcfg_nlmsg_route(buf, type, obj);
}

static bool route_equal(const void *a, const void *b) {
        return netcfg_route_equal(a, b);
}

/* ENODEV: the link went, and its routes with it. */
static bool route_gone(int error) {
        return error == -ESRCH || error == -ENODEV;
}

static void route_describe(const void *obj, char *buf, size_t size) {
        const NetcfgRoute *r = obj;
        char p[NETCFG_PREFIX_STRLEN], dev[32] = "";

        if (r->oif > 0)
                snprintf(dev, sizeof(dev), " dev #%d", r->oif);
        snprintf(buf, size, "%sroute %s%s table %u", r->type == RTN_THROW ? "throw " : "",
                 netcfg_prefix_to_string(&r->dst, p, sizeof(p)), dev, r->table);
}

/* "route 198.51.100.0/24 29813 1 7": destination, table, rtm_type, oif. */
static void route_format(FILE *f, const void *obj) {
        const NetcfgRoute *r = obj;
        char p[NETCFG_PREFIX_STRLEN];

        fprintf(f, "%s %u %u %d", netcfg_prefix_to_string(&r->dst, p, sizeof(p)), r->table, r->type,
                r->oif);
}

static int route_parse(char **w, int n, void *obj) {
        NetcfgRoute r = { .protocol = NETCFG_RTPROT_TUND };
        long long v[3];

        if (n != 4 || netcfg_prefix_from_string(w[0], &r.dst) < 0 ||
            netcfg_parse_num(w[1], 1, UINT32_MAX, &v[0]) < 0 ||
            netcfg_parse_num(w[2], RTN_UNICAST, RTN_THROW, &v[1]) < 0 ||
            netcfg_parse_num(w[3], 0, INT32_MAX, &v[2]) < 0)
                return -EINVAL;
        r.table = (uint32_t) v[0];
        r.type = (uint8_t) v[1];
        r.oif = (int) v[2];
        *(NetcfgRoute *) obj = r;
        return 0;
}

const NetcfgKindOps netcfg_route_kind = {
        .name = "route",
        .size = sizeof(NetcfgRoute),
        .msg_new = RTM_NEWROUTE,
        .msg_del = RTM_DELROUTE,
        .nlmsg = route_nlmsg,
        .equal = route_equal,
        .sorted_cmp = netcfg_route_cmp,
        .gone = route_gone,
        .describe = route_describe,
        .format = route_format,
        .parse = route_parse,
};
