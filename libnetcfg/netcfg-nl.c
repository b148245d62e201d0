/* Netlink writing with libmnl: message builders, ack parsing, bounded batches. */
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <sys/socket.h>

#include "netcfg-internal.h"

static int vformat_error(char **ret_error, int r, const char *extack, const char *fmt,
                         va_list ap) _printf_(4, 0);
static int vformat_error(char **ret_error, int r, const char *extack, const char *fmt, va_list ap) {
        _cleanup_free_ char *what = NULL;
        char *s = NULL;

        if (!ret_error)
                return r;
        if (vasprintf(&what, fmt, ap) < 0)
                return r;
        if (asprintf(&s, "%s: %s%s%s%s", what, strerror(-r), extack ? " (kernel: " : "",
                     extack ?: "", extack ? ")" : "") < 0)
                return r;
        free(*ret_error);
        *ret_error = s;
        return r;
}

int netcfg_errorf(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vformat_error(ret_error, r, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int netcfg_error_extack(char **ret_error, int r, const char *extack, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vformat_error(ret_error, r, isempty(extack) ? NULL : extack, fmt, ap);
        va_end(ap);
        return r;
}

static void put_addr(struct nlmsghdr *nlh, uint16_t type, const NetcfgPrefix *p) {
        mnl_attr_put(nlh, type, p->family == AF_INET ? 4 : 16, p->addr);
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
                put_addr(nlh, RTA_DST, &r->dst);
        if (r->oif > 0)
                mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) r->oif);
        return nlh;
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
        put_addr(nlh, IFA_LOCAL, &a->prefix);
        put_addr(nlh, IFA_ADDRESS, &a->prefix);
        if (type == RTM_NEWADDR) {
                /* No duplicate address detection on a point-to-point tunnel: it would only
                 * keep the address tentative (unusable) for a second or more. */
                if (a->prefix.family == AF_INET6)
                        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
                mnl_attr_put_u8(nlh, IFA_PROTO, NETCFG_RTPROT_TUND);
        }
        return nlh;
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
