/* Netlink writing with libmnl: message builders, ack parsing, bounded batches. */
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <sys/socket.h>

#include "netcfg-internal.h"

void netcfg_nlattr_put_prefix(struct nlmsghdr *nlh, uint16_t type, const NetcfgPrefix *p) {
        mnl_attr_put(nlh, type, p->family == AF_INET ? 4 : 16, p->addr);
}

struct nlmsghdr *netcfg_nlmsg_link(void *buf, int ifindex, uint32_t mtu, int up) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifinfomsg *ifi;

        nlh->nlmsg_type = RTM_NEWLINK;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        if (up >= 0) {
                ifi->ifi_change = IFF_UP;
                ifi->ifi_flags = up ? IFF_UP : 0;
        }
        if (mtu > 0)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        return nlh;
}

struct nlmsghdr *netcfg_nlmsg_link_quiet(void *buf, int ifindex) {
        struct nlmsghdr *nlh = netcfg_nlmsg_link(buf, ifindex, 0, -1);
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        struct nlattr *spec, *inet6;

        ifi->ifi_change = IFF_MULTICAST;
        ifi->ifi_flags = 0;
        spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
        inet6 = mnl_attr_nest_start(nlh, AF_INET6);
        mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
        mnl_attr_nest_end(nlh, inet6);
        mnl_attr_nest_end(nlh, spec);
        return nlh;
}

int netcfg_nlmsg_parse_ack(const struct nlmsghdr *nlh, size_t len, int *ret_error,
                           const char **ret_extack) {
        const struct nlmsgerr *err;
        size_t off;

        *ret_extack = NULL;
        if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len ||
            nlh->nlmsg_type != NLMSG_ERROR)
                return -EBADMSG;
        if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*err))
                return -EBADMSG;
        err = mnl_nlmsg_get_payload(nlh);
        if (err->error > 0 || err->error < -4095)
                return -EBADMSG;
        *ret_error = err->error;

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return 0;
        /* The TLVs follow the request's header (capped) or the whole request. */
        off = NLMSG_HDRLEN + sizeof(*err);
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
                if (err->msg.nlmsg_len < sizeof(struct nlmsghdr))
                        return -EBADMSG;
                off += NLMSG_ALIGN(err->msg.nlmsg_len) - sizeof(struct nlmsghdr);
        }
        if (off > nlh->nlmsg_len)
                return -EBADMSG;
        for (size_t p = off; p + sizeof(struct nlattr) <= nlh->nlmsg_len;) {
                const struct nlattr *a = (const struct nlattr *) ((const char *) nlh + p);
                size_t alen = a->nla_len;

                if (alen < sizeof(*a) || p + alen > nlh->nlmsg_len)
                        return -EBADMSG;
                if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && alen > sizeof(*a)) {
                        const char *s = (const char *) a + sizeof(*a);

                        if (memchr(s, 0, alen - sizeof(*a)) == NULL)
                                return -EBADMSG;
                        *ret_extack = s;
                }
                p += NLA_ALIGN(alen);
        }
        return 0;
}

int netcfg_nl_open(struct mnl_socket **ret) {
        struct mnl_socket *nl;
        int one = 1, bufsize = 4 * 1024 * 1024, sndsize = 2 * NETCFG_BATCH_LIMIT_MAX;

        nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl)
                return negative_errno();
        /* Both are best effort: without them errors just lack the kernel's words. */
        (void) mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
        (void) mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
        /* Room for a whole batch of acks; FORCE needs CAP_NET_ADMIN, which we have. */
        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &bufsize,
                       sizeof(bufsize)) < 0)
                (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &bufsize,
                                  sizeof(bufsize));
        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sndsize,
                       sizeof(sndsize)) < 0)
                (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUF, &sndsize,
                                  sizeof(sndsize));
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = negative_errno();
                mnl_socket_close(nl);
                return r;
        }
        *ret = nl;
        return 0;
}
