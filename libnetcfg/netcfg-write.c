/* Writing sets of addresses, routes and rules in batches, and the link's MTU and state. */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

enum { KIND_ADDRESS, KIND_ROUTE, KIND_RULE };
#define TAG(kind, i) (((size_t) (i) << 2) | (kind))

typedef struct WriteCtx {
        const NetcfgObjects *o;
        NetcfgOpResult *res;
        bool add;
        int first_error;
        char **ret_error;
} WriteCtx;

static const char *family_name(int family) {
        return family == AF_INET ? "IPv4" : "IPv6";
}

static void describe(const WriteCtx *w, size_t tag, char *buf, size_t size) {
        size_t i = tag >> 2;
        char p[NETCFG_PREFIX_STRLEN];

        switch (tag & 3) {
        case KIND_ADDRESS: {
                const NetcfgAddress *a = &w->o->addresses[i];
                snprintf(buf, size, "%s address %s on link %d", w->add ? "adding" : "removing",
                         netcfg_prefix_to_string(&a->prefix, p, sizeof(p)), a->ifindex);
                break;
        }
        case KIND_ROUTE: {
                const NetcfgRoute *r = &w->o->routes[i];
                char dev[32] = "";
                if (r->oif > 0)
                        snprintf(dev, sizeof(dev), " dev #%d", r->oif);
                snprintf(buf, size, "%s %sroute %s%s table %u", w->add ? "adding" : "removing",
                         r->type == RTN_THROW ? "throw " : "",
                         netcfg_prefix_to_string(&r->dst, p, sizeof(p)), dev, r->table);
                break;
        }
        default: {
                const NetcfgRule *r = &w->o->rules[i];
                if (r->suppress_prefixlen >= 0)
                        snprintf(buf, size,
                                 "%s %s rule priority %u lookup %u "
                                 "suppress_prefixlength %d",
                                 w->add ? "adding" : "removing", family_name(r->family),
                                 r->priority, r->table, r->suppress_prefixlen);
                else
                        snprintf(buf, size, "%s %s rule priority %u %sfwmark 0x%x lookup %u",
                                 w->add ? "adding" : "removing", family_name(r->family),
                                 r->priority, r->invert ? "not " : "", r->fwmark, r->table);
        }
        }
}

/* The idempotent cases: already there when adding, already gone when removing. */
static bool error_is_benign(bool add, size_t kind, int error) {
        if (add)
                return error == -EEXIST;
        switch (kind) {
        case KIND_ADDRESS:
                /* ENXIO: the link has no IPv6 at all any more (an MTU below 1280 removes it,
                 * addresses and all), so the address is gone too. */
                return error == -EADDRNOTAVAIL || error == -ENODEV || error == -ENXIO;
        case KIND_ROUTE:
                return error == -ESRCH || error == -ENODEV;
        default:
                return error == -ENOENT;
        }
}

static void write_ack(void *userdata, size_t tag, int error, const char *extack) {
        WriteCtx *w = userdata;
        size_t i = tag >> 2, kind = tag & 3;
        char what[160];

        bool benign = error_is_benign(w->add, kind, error);
        if (w->res) {
                int *v = kind == KIND_ADDRESS ? w->res->addresses
                         : kind == KIND_ROUTE ? w->res->routes
                                              : w->res->rules;
                if (v)
                        v[i] = benign ? 1 : error;
        }
        if (benign)
                error = 0;
        if (error == 0 || w->first_error != 0)
                return;
        w->first_error = error;
        describe(w, tag, what, sizeof(what));
        netcfg_error_extack(w->ret_error, error, extack, "%s", what);
}

static int write_all(NetcfgBatch *b, const WriteCtx *w, size_t kind) {
        const NetcfgObjects *o = w->o;
        size_t n = kind == KIND_ADDRESS ? o->n_addresses
                   : kind == KIND_ROUTE ? o->n_routes
                                        : o->n_rules;
        uint16_t type;
        int r;

        for (size_t i = 0; i < n; i++) {
                void *buf = netcfg_batch_current(b);

                if (kind == KIND_ADDRESS) {
                        type = w->add ? RTM_NEWADDR : RTM_DELADDR;
                        netcfg_nlmsg_addr(buf, type, &o->addresses[i]);
                } else if (kind == KIND_ROUTE) {
                        type = w->add ? RTM_NEWROUTE : RTM_DELROUTE;
                        netcfg_nlmsg_route(buf, type, &o->routes[i]);
                } else {
                        type = w->add ? RTM_NEWRULE : RTM_DELRULE;
                        netcfg_nlmsg_rule(buf, type, &o->rules[i]);
                }
                r = netcfg_batch_add(b, TAG(kind, i));
                if (r < 0)
                        return r;
        }
        return 0;
}

int netcfg_objects_write(struct mnl_socket *nl, size_t limit, bool add, const NetcfgObjects *o,
                         NetcfgOpResult *res, char **ret_error) {
        static const size_t order_add[] = {KIND_ADDRESS, KIND_ROUTE, KIND_RULE};
        static const size_t order_del[] = {KIND_RULE, KIND_ROUTE, KIND_ADDRESS};
        WriteCtx w = {.o = o, .res = res, .add = add, .ret_error = ret_error};
        _cleanup_(netcfg_batch_freep) NetcfgBatch *b = NULL;
        int r;

        r = netcfg_batch_new(&b, nl, limit, write_ack, &w);
        if (r < 0)
                return netcfg_errorf(ret_error, r, "allocating a netlink batch");
        /* Addresses before routes (a route's source may need one), rules last so they never
         * point at a table that is still being filled; removal in the opposite order. */
        for (size_t k = 0; k < 3; k++) {
                r = write_all(b, &w, add ? order_add[k] : order_del[k]);
                if (r < 0)
                        return netcfg_errorf(ret_error, r, "talking to the kernel (netlink)");
        }
        r = netcfg_batch_flush(b);
        if (r < 0)
                return netcfg_errorf(ret_error, r, "talking to the kernel (netlink)");
        return w.first_error;
}

typedef struct LinkReply {
        NetcfgLink *link;
        bool found;
} LinkReply;

static int link_attr_cb(const struct nlattr *a, void *data) {
        NetcfgLink *l = data;

        if (mnl_attr_get_type(a) == IFLA_MTU && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                l->mtu = mnl_attr_get_u32(a);
        else if (mnl_attr_get_type(a) == IFLA_IFNAME &&
                 mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                snprintf(l->ifname, sizeof(l->ifname), "%s", mnl_attr_get_str(a));
        return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data) {
        LinkReply *lr = data;
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

        if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                return MNL_CB_OK;
        lr->link->ifindex = ifi->ifi_index;
        lr->link->up = ifi->ifi_flags & IFF_UP;
        lr->found = true;
        return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, lr->link);
}

int netcfg_link_get(struct mnl_socket *nl, const char *ifname, int ifindex, NetcfgLink *ret) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        NetcfgLink l = {};
        LinkReply lr = {.link = &l};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifinfomsg *ifi;
        uint32_t seq = (uint32_t) random();
        ssize_t k;
        int r;

        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        nlh->nlmsg_seq = seq;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_index = ifname ? 0 : ifindex;
        if (ifname) {
                if (strlen(ifname) >= IFNAMSIZ)
                        return -EINVAL;
                mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
        }
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return negative_errno();
        k = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (k < 0)
                return negative_errno();
        r = mnl_cb_run(buf, (size_t) k, seq, mnl_socket_get_portid(nl), link_cb, &lr);
        if (r < 0)
                return negative_errno(); /* ENODEV: no such link */
        if (!lr.found)
                return -ENODEV;
        *ret = l;
        return 0;
}

static void link_ack(void *userdata, size_t tag, int error, const char *extack) {
        char **ret_error = ((void **) userdata)[0];
        int *first = ((void **) userdata)[1];

        if (error < 0 && *first == 0) {
                *first = error;
                netcfg_error_extack(ret_error, error, extack, "setting link #%zu", tag);
        }
}

int netcfg_link_set(struct mnl_socket *nl, int ifindex, uint32_t mtu, int up, char **ret_error) {
        _cleanup_(netcfg_batch_freep) NetcfgBatch *b = NULL;
        int first = 0, r;
        void *ud[2] = {ret_error, &first};

        r = netcfg_batch_new(&b, nl, 0, link_ack, ud);
        if (r < 0)
                return netcfg_errorf(ret_error, r, "allocating a netlink batch");
        netcfg_nlmsg_link(netcfg_batch_current(b), ifindex, mtu, up);
        r = netcfg_batch_add(b, (size_t) ifindex);
        if (r >= 0)
                r = netcfg_batch_flush(b);
        if (r < 0)
                return netcfg_errorf(ret_error, r, "talking to the kernel (netlink)");
        return first;
}
