/* Addresses: the kind's verbs (netcfg-internal.h, NetcfgKindOps). An address is its prefix
 * and link; tund's carry IFA_PROTO tund. */
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

bool netcfg_address_equal(const NetcfgAddress *a, const NetcfgAddress *b) {
        return a->prefix.family == b->prefix.family && a->prefix.len == b->prefix.len &&
               memcmp(a->prefix.addr, b->prefix.addr, 16) == 0 && a->ifindex == b->ifindex;
}

struct nlmsghdr *netcfg_nlmsg_addr(void *buf, uint16_t type, const NetcfgAddress *a) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifaddrmsg *ifa;

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0;
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = a->prefix.family;
        ifa->ifa_prefixlen = a->prefix.len;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = (uint32_t) a->ifindex;
        netcfg_nlattr_put_prefix(nlh, IFA_LOCAL, &a->prefix);
        netcfg_nlattr_put_prefix(nlh, IFA_ADDRESS, &a->prefix);
        if (type == RTM_NEWADDR) {
                /* No duplicate address detection on a point-to-point tunnel: it would only
                 * keep the address tentative (unusable) for a second or more. */
                if (a->prefix.family == AF_INET6)
                        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
                mnl_attr_put_u8(nlh, IFA_PROTO, NETCFG_RTPROT_TUND);
        }
        return nlh;
}

static struct nlmsghdr *address_nlmsg(void *buf, uint16_t type, const void *obj) {
        return netcfg_nlmsg_addr(buf, type, obj);
}

static bool address_equal(const void *a, const void *b) {
        return netcfg_address_equal(a, b);
}

/* ENXIO: the link has no IPv6 at all any more (an MTU below 1280 removes it, addresses and
 * all), so the address is gone too; ENODEV: so is the link. */
static bool address_gone(int error) {
        return error == -EADDRNOTAVAIL || error == -ENODEV || error == -ENXIO;
}

static void address_describe(const void *obj, char *buf, size_t size) {
        const NetcfgAddress *a = obj;
        char p[NETCFG_PREFIX_STRLEN];

        snprintf(buf, size, "address %s on link %d",
                 netcfg_prefix_to_string(&a->prefix, p, sizeof(p)), a->ifindex);
}

/* "address 192.0.2.2/24 7": prefix, link. */
static void address_format(FILE *f, const void *obj) {
        const NetcfgAddress *a = obj;
        char p[NETCFG_PREFIX_STRLEN];

        fprintf(f, "%s %d", netcfg_prefix_to_string(&a->prefix, p, sizeof(p)), a->ifindex);
}

static int address_parse(char **w, int n, void *obj) {
        NetcfgAddress a = {};
        long long ifindex;

        if (n != 2 || netcfg_prefix_from_string(w[0], &a.prefix) < 0 ||
            netcfg_parse_num(w[1], 1, INT32_MAX, &ifindex) < 0)
                return -EINVAL;
        a.ifindex = (int) ifindex;
        *(NetcfgAddress *) obj = a;
        return 0;
}

const NetcfgKindOps netcfg_address_kind = {
        .name = "address",
        .size = sizeof(NetcfgAddress),
        .msg_new = RTM_NEWADDR,
        .msg_del = RTM_DELADDR,
        .nlmsg = address_nlmsg,
        .equal = address_equal,
        .gone = address_gone,
        .describe = address_describe,
        .format = address_format,
        .parse = address_parse,
};
