/* libnetcfg's netlink layer: messages built and parsed in memory, ext-ack parsing, and —
 * inside a private network namespace when one can be made — batches against the kernel:
 * flush boundaries, one ack per message, idempotent error mapping, kernel ext-ack text. */
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "netcfg-internal.h"
#include "tests.h"

static NetcfgPrefix pfx(const char *s) {
        NetcfgPrefix p;
        if (netcfg_prefix_from_string(s, &p) < 0)
                FAILF("bad prefix %s", s);
        return p;
}

typedef struct Attrs {
        const struct nlattr *a[64];
} Attrs;

static int attr_cb(const struct nlattr *a, void *data) {
        Attrs *t = data;
        if (mnl_attr_get_type(a) < 64)
                t->a[mnl_attr_get_type(a)] = a;
        return MNL_CB_OK;
}

TEST(route_message_unicast) {
        char buf[NETCFG_NLMSG_MAX];
        NetcfgRoute r = { .dst = pfx("198.51.100.0/24"),
                          .table = 29813,
                          .type = RTN_UNICAST,
                          .protocol = NETCFG_RTPROT_TUND,
                          .oif = 7 };
        struct nlmsghdr *nlh = netcfg_nlmsg_route(buf, RTM_NEWROUTE, &r);
        struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        Attrs t = {};

        ASSERT_EQ(nlh->nlmsg_type, RTM_NEWROUTE);
        ASSERT_EQ(nlh->nlmsg_flags, NLM_F_CREATE | NLM_F_EXCL);
        ASSERT_EQ(rtm->rtm_family, AF_INET);
        ASSERT_EQ(rtm->rtm_dst_len, 24);
        ASSERT_EQ(rtm->rtm_protocol, 116);
        ASSERT_EQ(rtm->rtm_table, RT_TABLE_UNSPEC); /* > 255: only in RTA_TABLE */
        ASSERT_EQ(rtm->rtm_scope, RT_SCOPE_LINK);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, &t));
        ASSERT_EQ(mnl_attr_get_u32(t.a[RTA_TABLE]), 29813);
        ASSERT_EQ(mnl_attr_get_u32(t.a[RTA_OIF]), 7);
        ASSERT_EQ(mnl_attr_get_payload_len(t.a[RTA_DST]), 4);
        ASSERT_TRUE(memcmp(mnl_attr_get_payload(t.a[RTA_DST]), r.dst.addr, 4) == 0);
}

TEST(route_message_throw_v6_delete) {
        char buf[NETCFG_NLMSG_MAX];
        NetcfgRoute r = { .dst = pfx("2001:db8:ff::/48"),
                          .table = 254,
                          .type = RTN_THROW,
                          .protocol = NETCFG_RTPROT_TUND };
        struct nlmsghdr *nlh = netcfg_nlmsg_route(buf, RTM_DELROUTE, &r);
        struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        Attrs t = {};

        ASSERT_EQ(nlh->nlmsg_flags, 0);
        ASSERT_EQ(rtm->rtm_family, AF_INET6);
        ASSERT_EQ(rtm->rtm_type, RTN_THROW);
        ASSERT_EQ(rtm->rtm_table, 254);
        ASSERT_EQ(rtm->rtm_scope, RT_SCOPE_NOWHERE); /* delete matches any scope */
        ASSERT_EQ(rtm->rtm_protocol, 116);           /* ...but only our protocol */
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, &t));
        ASSERT_TRUE(t.a[RTA_OIF] == NULL);
        ASSERT_EQ(mnl_attr_get_payload_len(t.a[RTA_DST]), 16);
}

TEST(route_message_default_has_no_dst) {
        char buf[NETCFG_NLMSG_MAX];
        NetcfgRoute r = { .dst = pfx("0.0.0.0/0"), .table = 1000, .type = RTN_UNICAST, .oif = 3 };
        struct nlmsghdr *nlh = netcfg_nlmsg_route(buf, RTM_NEWROUTE, &r);
        Attrs t = {};

        ASSERT_OK(mnl_attr_parse(nlh, sizeof(struct rtmsg), attr_cb, &t));
        ASSERT_TRUE(t.a[RTA_DST] == NULL);
}

TEST(rule_messages) {
        char buf[NETCFG_NLMSG_MAX];
        NetcfgRule fw = { .family = AF_INET6,
                          .priority = 21701,
                          .table = 29813,
                          .fwmark = 0x7475,
                          .invert = true,
                          .suppress_prefixlen = -1,
                          .protocol = 116 };
        NetcfgRule sup = { .family = AF_INET,
                           .priority = 21700,
                           .table = 254,
                           .suppress_prefixlen = 0,
                           .protocol = 116 };
        struct nlmsghdr *nlh = netcfg_nlmsg_rule(buf, RTM_NEWRULE, &fw);
        struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
        Attrs t = {};

        ASSERT_EQ(frh->family, AF_INET6);
        ASSERT_EQ(frh->action, FR_ACT_TO_TBL);
        ASSERT_EQ(frh->flags, FIB_RULE_INVERT);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*frh), attr_cb, &t));
        ASSERT_EQ(mnl_attr_get_u32(t.a[FRA_PRIORITY]), 21701);
        ASSERT_EQ(mnl_attr_get_u32(t.a[FRA_TABLE]), 29813);
        ASSERT_EQ(mnl_attr_get_u32(t.a[FRA_FWMARK]), 0x7475);
        ASSERT_EQ(mnl_attr_get_u32(t.a[FRA_FWMASK]), UINT32_MAX);
        ASSERT_EQ(mnl_attr_get_u8(t.a[FRA_PROTOCOL]), 116);
        ASSERT_TRUE(t.a[FRA_SUPPRESS_PREFIXLEN] == NULL);

        nlh = netcfg_nlmsg_rule(buf, RTM_NEWRULE, &sup);
        frh = mnl_nlmsg_get_payload(nlh);
        memset(&t, 0, sizeof(t));
        ASSERT_EQ(frh->flags, 0);
        ASSERT_EQ(frh->table, 254);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*frh), attr_cb, &t));
        ASSERT_EQ(mnl_attr_get_u32(t.a[FRA_SUPPRESS_PREFIXLEN]), 0);
        ASSERT_TRUE(t.a[FRA_FWMARK] == NULL);
}

TEST(address_messages) {
        char buf[NETCFG_NLMSG_MAX];
        NetcfgAddress a = { .prefix = pfx("2001:db8::2/64"), .ifindex = 9 };
        struct nlmsghdr *nlh = netcfg_nlmsg_addr(buf, RTM_NEWADDR, &a);
        struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        Attrs t = {};

        ASSERT_EQ(ifa->ifa_family, AF_INET6);
        ASSERT_EQ(ifa->ifa_prefixlen, 64);
        ASSERT_EQ(ifa->ifa_index, 9);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, &t));
        ASSERT_EQ(mnl_attr_get_u32(t.a[IFA_FLAGS]) & IFA_F_NODAD, IFA_F_NODAD);
        ASSERT_EQ(mnl_attr_get_u8(t.a[IFA_PROTO]), 116);
        ASSERT_TRUE(memcmp(mnl_attr_get_payload(t.a[IFA_LOCAL]), a.prefix.addr, 16) == 0);

        nlh = netcfg_nlmsg_addr(buf, RTM_DELADDR, &a);
        memset(&t, 0, sizeof(t));
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, &t));
        ASSERT_TRUE(t.a[IFA_FLAGS] == NULL);
        ASSERT_TRUE(t.a[IFA_LOCAL] != NULL);
}

TEST(link_message) {
        char buf[NETCFG_NLMSG_MAX];
        struct nlmsghdr *nlh = netcfg_nlmsg_link(buf, 4, 1380, 1);
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        Attrs t = {};

        ASSERT_EQ(ifi->ifi_index, 4);
        ASSERT_EQ(ifi->ifi_change, IFF_UP);
        ASSERT_EQ(ifi->ifi_flags, IFF_UP);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, &t));
        ASSERT_EQ(mnl_attr_get_u32(t.a[IFLA_MTU]), 1380);

        nlh = netcfg_nlmsg_link(buf, 4, 0, -1); /* leave both */
        ifi = mnl_nlmsg_get_payload(nlh);
        memset(&t, 0, sizeof(t));
        ASSERT_EQ(ifi->ifi_change, 0);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, &t));
        ASSERT_TRUE(t.a[IFLA_MTU] == NULL);
}

TEST(link_quiet_message) {
        char buf[NETCFG_NLMSG_MAX];
        struct nlmsghdr *nlh = netcfg_nlmsg_link_quiet(buf, 9);
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        Attrs t = {}, spec = {}, inet6 = {};

        ASSERT_EQ(ifi->ifi_index, 9);
        ASSERT_EQ(ifi->ifi_change, IFF_MULTICAST);
        ASSERT_EQ(ifi->ifi_flags, 0u);
        ASSERT_OK(mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, &t));
        ASSERT_TRUE(t.a[IFLA_MTU] == NULL);
        ASSERT_TRUE(t.a[IFLA_AF_SPEC] != NULL);
        ASSERT_OK(mnl_attr_parse_nested(t.a[IFLA_AF_SPEC], attr_cb, &spec));
        ASSERT_TRUE(spec.a[AF_INET6] != NULL);
        ASSERT_OK(mnl_attr_parse_nested(spec.a[AF_INET6], attr_cb, &inet6));
        ASSERT_EQ(mnl_attr_get_u8(inet6.a[IFLA_INET6_ADDR_GEN_MODE]), IN6_ADDR_GEN_MODE_NONE);
}

/* An NLMSG_ERROR as the kernel writes it: capped or with the whole request echoed. */
static struct nlmsghdr *make_ack(char *buf, int error, bool capped, const char *msg) {
        char req[NETCFG_NLMSG_MAX];
        NetcfgRoute r = {
                .dst = pfx("198.51.100.0/24"), .table = 254, .type = RTN_UNICAST, .oif = 2
        };
        struct nlmsghdr *orig = netcfg_nlmsg_route(req, RTM_NEWROUTE, &r);
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nlmsgerr *err;

        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_flags = (capped ? NLM_F_CAPPED : 0) | (msg ? NLM_F_ACK_TLVS : 0);
        err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
        err->error = error;
        err->msg = *orig;
        if (!capped) /* the rest of the request follows the nlmsgerr */
                memcpy(mnl_nlmsg_put_extra_header(nlh, orig->nlmsg_len - sizeof(*orig)),
                       (char *) orig + sizeof(*orig), orig->nlmsg_len - sizeof(*orig));
        if (msg)
                mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
        return nlh;
}

TEST(ext_ack_parsing) {
        char buf[2048];
        const char *ext;
        int e;

        struct nlmsghdr *nlh =
                make_ack(buf, -EINVAL, true, "Invalid prefix for given prefix length");
        ASSERT_OK(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext));
        ASSERT_EQ(e, -EINVAL);
        ASSERT_STREQ(ext, "Invalid prefix for given prefix length");

        nlh = make_ack(buf, -ENODEV, false, "Nexthop device is not up");
        ASSERT_OK(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext));
        ASSERT_EQ(e, -ENODEV);
        ASSERT_STREQ(ext, "Nexthop device is not up");

        nlh = make_ack(buf, 0, true, NULL);
        ASSERT_OK(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext));
        ASSERT_EQ(e, 0);
        ASSERT_TRUE(ext == NULL);
}

TEST(ext_ack_malformed) {
        char buf[2048];
        const char *ext;
        int e;
        struct nlmsghdr *nlh = make_ack(buf, -EINVAL, true, "text");

        /* truncated buffer, unterminated string, positive error, wrong type */
        ASSERT_EQ(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len - 4, &e, &ext), -EBADMSG);
        char *last = (char *) nlh + nlh->nlmsg_len - 4;
        memset(last, 'x', 4);
        ASSERT_EQ(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext), -EBADMSG);
        nlh = make_ack(buf, 5, true, NULL);
        ASSERT_EQ(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext), -EBADMSG);
        nlh->nlmsg_type = RTM_NEWROUTE;
        ASSERT_EQ(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext), -EBADMSG);
        /* an attribute length that runs past the message */
        nlh = make_ack(buf, -EINVAL, true, "text");
        struct nlattr *a =
                (struct nlattr *) ((char *) nlh + NLMSG_HDRLEN + sizeof(struct nlmsgerr));
        a->nla_len = 200;
        ASSERT_EQ(netcfg_nlmsg_parse_ack(nlh, nlh->nlmsg_len, &e, &ext), -EBADMSG);
}

TEST(error_messages) {
        char *err = NULL;

        ASSERT_EQ(error_set_extack(&err, -EINVAL, "Invalid prefix", "adding route %s", "x"),
                  -EINVAL);
        ASSERT_STREQ(err, "adding route x: Invalid argument (kernel: Invalid prefix)");
        ASSERT_EQ(error_set_extack(&err, -EEXIST, "", "adding %d", 1), -EEXIST);
        ASSERT_STREQ(err, "adding 1: File exists");
        ASSERT_EQ(error_set_errno(NULL, -ENOENT, "ignored"), -ENOENT);
        free(err);
}

/* --- against the kernel, in a network namespace of our own (the test runs in a child) --- */

static struct mnl_socket *private_netns(void) {
        struct mnl_socket *nl;

        if (unshare(CLONE_NEWNET) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
                SKIP("cannot create a private network namespace: %s", strerror(errno));
        ASSERT_OK(netcfg_nl_open(&nl));
        ASSERT_OK(netcfg_link_set(nl, 1, 0, 1, NULL)); /* lo up */
        return nl;
}

typedef struct Acks {
        size_t n;
        size_t tags[4096];
        int errors[4096];
        char extack[256];
} Acks;

static void count_ack(void *userdata, size_t tag, int error, const char *extack) {
        Acks *a = userdata;
        if (a->n < ELEMENTSOF(a->tags)) {
                a->tags[a->n] = tag;
                a->errors[a->n] = error;
        }
        a->n++;
        if (extack && !a->extack[0])
                snprintf(a->extack, sizeof(a->extack), "%s", extack);
}

static NetcfgRoute lo_route(unsigned i) {
        NetcfgRoute r = { .dst = { .family = AF_INET6, .len = 64 },
                          .table = 100,
                          .type = RTN_UNICAST,
                          .protocol = NETCFG_RTPROT_TUND,
                          .oif = 1 };
        r.dst.addr[0] = 0x20, r.dst.addr[1] = 0x01, r.dst.addr[2] = 0x0d, r.dst.addr[3] = 0xb8;
        r.dst.addr[6] = (uint8_t) (i >> 8), r.dst.addr[7] = (uint8_t) i;
        return r;
}

TEST(batch_flush_boundaries) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = private_netns();
        NetcfgBatch *b;
        Acks *acks = calloc(1, sizeof(Acks));
        size_t msg_len;
        char tmp[NETCFG_NLMSG_MAX];

        NetcfgRoute r0 = lo_route(0);
        msg_len = netcfg_nlmsg_route(tmp, RTM_NEWROUTE, &r0)->nlmsg_len;
        /* A limit of 1000 bytes holds floor(1000 / len) messages per send. */
        ASSERT_OK(netcfg_batch_new(&b, nl, 1000, count_ack, acks));
        for (unsigned i = 0; i < 1000; i++) {
                NetcfgRoute r = lo_route(i);
                netcfg_nlmsg_route(netcfg_batch_current(b), RTM_NEWROUTE, &r);
                ASSERT_OK(netcfg_batch_add(b, i));
        }
        ASSERT_OK(netcfg_batch_flush(b));
        ASSERT_EQ(acks->n, 1000);
        for (unsigned i = 0; i < 1000; i++) {
                ASSERT_EQ(acks->tags[i], i); /* one ack per message, in order */
                ASSERT_EQ(acks->errors[i], 0);
        }
        size_t per_send = 1000 / msg_len;
        ASSERT_EQ(netcfg_batch_n_sends(b), (1000 + per_send - 1) / per_send);
        netcfg_batch_free(b);

        /* Adding them again: every one EEXIST, reported per message. */
        memset(acks, 0, sizeof(*acks));
        ASSERT_OK(netcfg_batch_new(&b, nl, 0, count_ack, acks));
        for (unsigned i = 0; i < 1000; i++) {
                NetcfgRoute r = lo_route(i);
                netcfg_nlmsg_route(netcfg_batch_current(b), RTM_NEWROUTE, &r);
                ASSERT_OK(netcfg_batch_add(b, i));
        }
        ASSERT_OK(netcfg_batch_flush(b));
        ASSERT_EQ(acks->n, 1000);
        ASSERT_EQ(acks->errors[999], -EEXIST);
        ASSERT_EQ(netcfg_batch_n_sends(b),
                  (1000 * msg_len + NETCFG_BATCH_LIMIT_DEFAULT - 1) / NETCFG_BATCH_LIMIT_DEFAULT);
        netcfg_batch_free(b);
        free(acks);
}

TEST(kernel_ext_ack_text) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = private_netns();
        NetcfgBatch *b;
        Acks *acks = calloc(1, sizeof(Acks));
        /* Host bits set: the kernel refuses it and says why. */
        NetcfgRoute r = { .dst = pfx("198.51.100.0/24"),
                          .table = 254,
                          .type = RTN_UNICAST,
                          .protocol = 116,
                          .oif = 1 };
        r.dst.addr[3] = 7;

        ASSERT_OK(netcfg_batch_new(&b, nl, 0, count_ack, acks));
        netcfg_nlmsg_route(netcfg_batch_current(b), RTM_NEWROUTE, &r);
        ASSERT_OK(netcfg_batch_add(b, 42));
        ASSERT_OK(netcfg_batch_flush(b));
        ASSERT_EQ(acks->n, 1);
        ASSERT_EQ(acks->tags[0], 42);
        ASSERT_EQ(acks->errors[0], -EINVAL);
        ASSERT_CONTAINS(acks->extack, "prefix");
        netcfg_batch_free(b);
        free(acks);
}

TEST(objects_write_idempotent) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = private_netns();
        NetcfgRoute routes[3] = {
                lo_route(1),
                lo_route(2),
                { .dst = pfx("203.0.113.0/24"), .table = 100, .type = RTN_THROW, .protocol = 116 }
        };
        NetcfgRule rules[1] = { { .family = AF_INET,
                                  .priority = 21701,
                                  .table = 100,
                                  .fwmark = 0x7475,
                                  .invert = true,
                                  .suppress_prefixlen = -1,
                                  .protocol = 116 } };
        NetcfgAddress addrs[1] = { { .prefix = pfx("192.0.2.1/24"), .ifindex = 1 } };
        NetcfgObjects o = { .addresses = addrs,
                            .routes = routes,
                            .rules = rules,
                            .n_addresses = 1,
                            .n_routes = 3,
                            .n_rules = 1 };
        int ra[1], rr[3], ru[1];
        NetcfgOpResult res = { { ra, rr, ru } };
        char *err = NULL;

        ASSERT_OK(netcfg_objects_write(nl, 0, true, &o, &res, &err));
        ASSERT_EQ(rr[2], 0);
        ASSERT_OK(netcfg_objects_write(nl, 0, true, &o, &res, &err)); /* EEXIST -> success */
        ASSERT_EQ(rr[2], 1); /* ... reported as "already there" */
        ASSERT_EQ(ru[0], 1);
        ASSERT_OK(netcfg_objects_write(nl, 0, false, &o, &res, &err));
        ASSERT_EQ(ra[0], 0);
        ASSERT_OK(netcfg_objects_write(nl, 0, false, &o, &res, &err)); /* ESRCH etc. -> success */
        ASSERT_EQ(ra[0], 1);

        /* A real failure names the object and carries the errno. */
        routes[0].oif = 999;
        ASSERT_EQ(netcfg_objects_write(nl, 0, true, &o, &res, &err), -ENODEV);
        ASSERT_CONTAINS(err, "adding route 2001:db8:0:1::/64 dev #999 table 100");
        ASSERT_EQ(rr[0], -ENODEV);
        ASSERT_EQ(rr[1], 0);
        free(err);
}

/* An MTU below 1280 takes IPv6 off a link (not loopback), its addresses with it; removing one
 * then gets ENXIO ("IPv6 is disabled on this device"): already gone, not a failure (found by
 * fuzz-netshim: a re-apply with a small MTU failed, and so did the revert). */
TEST(address_gone_with_the_links_ipv6) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = private_netns();
        struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tnl0");
        int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr) < 0)
                SKIP("no TUN: %m");
        int ifindex = (int) if_nametoindex("tnl0");
        ASSERT_TRUE(ifindex > 0);
        NetcfgAddress addrs[1] = { { .prefix = pfx("2001:db8::7/128"), .ifindex = ifindex } };
        NetcfgObjects o = { .addresses = addrs, .n_addresses = 1 };
        int ra[1];
        NetcfgOpResult res = { { ra, NULL, NULL } };
        char *err = NULL;

        ASSERT_OK(netcfg_link_set(nl, ifindex, 0, 1, &err));
        ASSERT_OK(netcfg_objects_write(nl, 0, true, &o, &res, &err));
        ASSERT_EQ(ra[0], 0);
        ASSERT_OK(netcfg_link_set(nl, ifindex, 1000, -1, &err));
        ASSERT_OK(netcfg_objects_write(nl, 0, false, &o, &res, &err));
        ASSERT_EQ(ra[0], 1);
        free(err);
        close(tun);
}

/* Whether the link has an IPv6 link-local address (the kernel adds it as the link comes up). */
static bool has_link_local(const char *ifname) {
        struct ifaddrs *list = NULL;
        bool found = false;

        ASSERT_OK(getifaddrs(&list));
        for (struct ifaddrs *i = list; i; i = i->ifa_next)
                if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
                    streq(i->ifa_name, ifname) &&
                    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr))
                        found = true;
        freeifaddrs(list);
        return found;
}

static int tun_open(const char *name) {
        struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
                SKIP("no TUN: %m");
        return fd;
}

/* A quiet TUN says nothing to neighbours it has not got when it comes up: no link-local address
 * (so no router solicitations), no multicast (no MLD reports), which in a full tunnel would all
 * go to the peer. A TUN brought up plainly gets both; netcfg_link_quiet() of no link fails. */
TEST(link_up_is_quiet) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = private_netns();
        _cleanup_free_ char *err = NULL;
        NetcfgLink l;
        int quiet = tun_open("tnlq"), plain = tun_open("tnlp");
        int qi = (int) if_nametoindex("tnlq");
        struct ifreq up = { .ifr_flags = IFF_UP };

        ASSERT_OK(netcfg_link_quiet(qi, &err));
        ASSERT_OK(netcfg_link_set(nl, qi, 0, 1, &err));
        ASSERT_OK(netcfg_read_link("tnlq", 0, &l, &err));
        ASSERT_TRUE(l.up);
        ASSERT_EQ(l.flags & IFF_MULTICAST, 0u);
        ASSERT_TRUE(!has_link_local("tnlq"));

        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(s >= 0);
        snprintf(up.ifr_name, sizeof(up.ifr_name), "tnlp");
        ASSERT_OK(ioctl(s, SIOCGIFFLAGS, &up));
        up.ifr_flags |= IFF_UP;
        ASSERT_OK(ioctl(s, SIOCSIFFLAGS, &up));
        ASSERT_OK(netcfg_read_link("tnlp", 0, &l, &err));
        ASSERT_TRUE(l.flags & IFF_MULTICAST);
        ASSERT_TRUE(has_link_local("tnlp"));
        ASSERT_EQ(netcfg_link_quiet(9999, &err), -ENODEV);
        ASSERT_CONTAINS(err, "quieting (no multicast, no IPv6 link-local) link #9999");
        close(s);
        close(plain);
        close(quiet);
}

TEST(read_links_dump) {
        mnl_socket_close(private_netns()); /* the namespace stays: it is this process's */
        _cleanup_free_ NetcfgLink *v = NULL;
        _cleanup_free_ char *err = NULL;
        NetcfgLink lo;
        size_t n = 0;

        ASSERT_OK(netcfg_read_links(&v, &n, &err));
        ASSERT_EQ(n, 1u); /* a new namespace has lo only */
        ASSERT_OK(netcfg_read_link("lo", 0, &lo, &err));
        ASSERT_EQ(v[0].ifindex, lo.ifindex);
        ASSERT_STREQ(v[0].ifname, "lo");
        ASSERT_EQ(v[0].mtu, lo.mtu);
        ASSERT_TRUE(v[0].up && (v[0].flags & IFF_UP) && (v[0].flags & IFF_LOOPBACK));
}
