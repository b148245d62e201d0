/* Policy rules: the kind's verbs (netcfg-internal.h, NetcfgKindOps). tund's rules are
 * "lookup main suppress_prefixlength 0" and "not fwmark M / not uidrange U-U lookup T", at the
 * profile's priorities, with protocol tund. */
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

bool netcfg_rule_equal(const NetcfgRule *a, const NetcfgRule *b) {
        return a->family == b->family && a->priority == b->priority && a->table == b->table &&
               a->fwmark == b->fwmark && a->invert == b->invert &&
               a->suppress_prefixlen == b->suppress_prefixlen && a->uid_set == b->uid_set &&
               (!a->uid_set || a->uid == b->uid);
}

struct nlmsghdr *netcfg_nlmsg_rule(void *buf, uint16_t type, const NetcfgRule *r) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct fib_rule_hdr *frh;

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0;
        frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
        frh->family = r->family;
        frh->table = r->table < 256 ? r->table : RT_TABLE_UNSPEC;
        frh->action = FR_ACT_TO_TBL;
        frh->flags = r->invert ? FIB_RULE_INVERT : 0;
        mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
        mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
        if (r->fwmark) {
                mnl_attr_put_u32(nlh, FRA_FWMARK, r->fwmark);
                mnl_attr_put_u32(nlh, FRA_FWMASK, UINT32_MAX);
        }
        if (r->suppress_prefixlen >= 0)
                mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, (uint32_t) r->suppress_prefixlen);
        if (r->protocol)
                mnl_attr_put_u8(nlh, FRA_PROTOCOL, r->protocol);
        if (r->uid_set) {
                struct fib_rule_uid_range u = { .start = r->uid, .end = r->uid };
                mnl_attr_put(nlh, FRA_UID_RANGE, sizeof(u), &u);
        }
        return nlh;
}

static struct nlmsghdr *rule_nlmsg(void *buf, uint16_t type, const void *obj) {
        return netcfg_nlmsg_rule(buf, type, obj);
}

static bool rule_equal(const void *a, const void *b) {
        return netcfg_rule_equal(a, b);
}

static bool rule_gone(int error) {
        return error == -ENOENT;
}

static const char *family_name(int family) {
        return family == AF_INET ? "IPv4" : "IPv6";
}

static void rule_describe(const void *obj, char *buf, size_t size) {
        const NetcfgRule *r = obj;

        if (r->suppress_prefixlen >= 0)
                snprintf(buf, size, "%s rule priority %u lookup %u suppress_prefixlength %d",
                         family_name(r->family), r->priority, r->table, r->suppress_prefixlen);
        else if (r->uid_set)
                snprintf(buf, size, "%s rule priority %u %suidrange %u-%u lookup %u",
                         family_name(r->family), r->priority, r->invert ? "not " : "", r->uid,
                         r->uid, r->table);
        else
                snprintf(buf, size, "%s rule priority %u %sfwmark 0x%x lookup %u",
                         family_name(r->family), r->priority, r->invert ? "not " : "", r->fwmark,
                         r->table);
}

/* "rule 4 21701 29813 0 1 -1 991": family, priority, table, fwmark, invert, suppress, uid or
 * -1 (older states lack it). */
static void rule_format(FILE *f, const void *obj) {
        const NetcfgRule *r = obj;

        fprintf(f, "%d %u %u %u %d %d %lld", r->family == AF_INET ? 4 : 6, r->priority, r->table,
                r->fwmark, r->invert, r->suppress_prefixlen,
                r->uid_set ? (long long) r->uid : -1LL);
}

static int rule_parse(char **w, int n, void *obj) {
        NetcfgRule r = { .protocol = NETCFG_RTPROT_TUND };
        long long v[6];

        if ((n != 6 && n != 7) || netcfg_parse_num(w[0], 4, 6, &v[0]) < 0 || v[0] == 5 ||
            netcfg_parse_num(w[1], 0, UINT32_MAX, &v[1]) < 0 ||
            netcfg_parse_num(w[2], 1, UINT32_MAX, &v[2]) < 0 ||
            netcfg_parse_num(w[3], 0, UINT32_MAX, &v[3]) < 0 ||
            netcfg_parse_num(w[4], 0, 1, &v[4]) < 0 || netcfg_parse_num(w[5], -1, 128, &v[5]) < 0)
                return -EINVAL;
        r.family = v[0] == 4 ? AF_INET : AF_INET6;
        r.priority = (uint32_t) v[1];
        r.table = (uint32_t) v[2];
        r.fwmark = (uint32_t) v[3];
        r.invert = v[4];
        r.suppress_prefixlen = (int) v[5];
        if (n == 7) { /* the engine's uid, or -1 */
                long long uid;
                if (netcfg_parse_num(w[6], -1, UINT32_MAX - 1, &uid) < 0)
                        return -EINVAL;
                r.uid_set = uid >= 0;
                r.uid = r.uid_set ? (uint32_t) uid : 0;
        }
        *(NetcfgRule *) obj = r;
        return 0;
}

const NetcfgKindOps netcfg_rule_kind = {
        .name = "rule",
        .size = sizeof(NetcfgRule),
        .msg_new = RTM_NEWRULE,
        .msg_del = RTM_DELRULE,
        .nlmsg = rule_nlmsg,
        .equal = rule_equal,
        .gone = rule_gone,
        .describe = rule_describe,
        .format = rule_format,
        .parse = rule_parse,
};
