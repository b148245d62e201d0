/* Every link of the namespace, read with libmnl and kept apart from netcfg-read.c's libnl
 * readers: the helper's roaming watch reads links and nothing else of libnetcfg, and linking
 * libnl-route for it (this function in netcfg-read.c pulls that file in) raised the helper's
 * peak RSS from 3.5 to 4.0-4.2 MiB (make bench), over its 4 MiB target. */
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

typedef struct Links {
        NetcfgLink *items;
        size_t n;
        int error;
} Links;

static int link_dump_cb(const struct nlmsghdr *nlh, void *data) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;

        if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                return MNL_CB_OK;
        Links *v = data;
        NetcfgLink *l = ARRAY_APPEND(v->items, v->n);
        if (!l) {
                v->error = -ENOMEM;
                return MNL_CB_ERROR;
        }
        *l = (NetcfgLink){ .ifindex = ifi->ifi_index,
                           .flags = ifi->ifi_flags,
                           .up = ifi->ifi_flags & IFF_UP };
        mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
                if (mnl_attr_get_type(a) == IFLA_IFNAME &&
                    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                        snprintf(l->ifname, sizeof(l->ifname), "%s", mnl_attr_get_str(a));
                else if (mnl_attr_get_type(a) == IFLA_MTU &&
                         mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                        l->mtu = mnl_attr_get_u32(a);
        }
        return MNL_CB_OK;
}

int netcfg_read_links(NetcfgLink **ret, size_t *ret_n, char **ret_error) {
        const size_t size = 32768; /* a dump's messages, several to a read */
        _cleanup_free_ char *buf = malloc(size);
        Links c = {};
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        int r = buf ? netcfg_nl_open(&nl) : -ENOMEM;

        if (r >= 0) {
                struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
                nlh->nlmsg_type = RTM_GETLINK;
                nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
                nlh->nlmsg_seq = 1;
                struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
                g->rtgen_family = AF_UNSPEC;
                if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                        r = -errno;
        }
        for (int k = MNL_CB_OK; r >= 0 && k > MNL_CB_STOP;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, size);
                if (n < 0)
                        r = -errno;
                else if ((k = mnl_cb_run(buf, (size_t) n, 1, mnl_socket_get_portid(nl),
                                         link_dump_cb, &c)) == MNL_CB_ERROR)
                        r = c.error ?: -errno;
        }
        if (r < 0) {
                free(c.items);
                return error_set_errno(ret_error, r, "reading links");
        }
        *ret = c.items;
        *ret_n = c.n;
        return 0;
}
