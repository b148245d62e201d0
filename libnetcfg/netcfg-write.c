/* Writing sets of objects of every kind in batches, and the link's MTU and state. */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "netcfg-internal.h"

/* A message's tag: the object's kind and index. */
#define TAG_BITS 2
#define TAG(kind, i) (((size_t) (i) << TAG_BITS) | (kind))
#define TAG_KIND(tag) ((NetcfgKind) ((tag) & ((1U << TAG_BITS) - 1)))
#define TAG_INDEX(tag) ((tag) >> TAG_BITS)
_Static_assert(_NETCFG_KIND_MAX <= (1U << TAG_BITS), "a kind fits in a tag");

typedef struct WriteCtx {
        const NetcfgObjects *o;
        NetcfgOpResult *res;
        bool add;
        int first_error;
        char **ret_error;
} WriteCtx;

static void write_ack(void *userdata, size_t tag, int error, const char *extack) {
        WriteCtx *w = userdata;
        NetcfgKind k = TAG_KIND(tag);
        size_t i = TAG_INDEX(tag);
        const NetcfgKindOps *ops = netcfg_kinds[k];
        char what[160];

        /* The idempotent cases: already there when adding, already gone when removing. */
        bool benign = w->add ? error == -EEXIST : ops->gone(error);
        if (w->res && w->res->v[k])
                w->res->v[k][i] = benign ? 1 : error;
        if (benign)
                error = 0;
        if (error == 0 || w->first_error != 0)
                return;
        w->first_error = error;
        ops->describe(netcfg_objects_at(w->o, k, i), what, sizeof(what));
        error_set_extack(w->ret_error, error, extack, "%s %s", w->add ? "adding" : "removing",
                         what);
}

static int write_kind(NetcfgBatch *b, const WriteCtx *w, NetcfgKind k) {
        const NetcfgKindOps *ops = netcfg_kinds[k];

        for (size_t i = 0; i < w->o->n[k]; i++) {
                ops->nlmsg(netcfg_batch_current(b), w->add ? ops->msg_new : ops->msg_del,
                           netcfg_objects_at(w->o, k, i));
                int r = netcfg_batch_add(b, TAG(k, i));
                if (r < 0)
                        return r;
        }
        return 0;
}

int netcfg_objects_write(struct mnl_socket *nl, size_t limit, bool add, const NetcfgObjects *o,
                         NetcfgOpResult *res, char **ret_error) {
        WriteCtx w = { .o = o, .res = res, .add = add, .ret_error = ret_error };
        _cleanup_(netcfg_batch_freep) NetcfgBatch *b = NULL;
        int r;

        r = netcfg_batch_new(&b, nl, limit, write_ack, &w);
        if (r < 0)
                return error_set_errno(ret_error, r, "allocating a netlink batch");
        /* Kinds in their order of creation (NetcfgKind), removal the other way. */
        for (size_t n = 0; n < _NETCFG_KIND_MAX; n++) {
                NetcfgKind k = add ? (NetcfgKind) n : (NetcfgKind) (_NETCFG_KIND_MAX - 1 - n);
                r = write_kind(b, &w, k);
                if (r < 0)
                        return error_set_errno(ret_error, r, "talking to the kernel (netlink)");
        }
        r = netcfg_batch_flush(b);
        if (r < 0)
                return error_set_errno(ret_error, r, "talking to the kernel (netlink)");
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
        LinkReply lr = { .link = &l };
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

typedef struct LinkAck {
        char **ret_error;
        const char *what;
        int first;
} LinkAck;

static void link_ack(void *userdata, size_t tag, int error, const char *extack) {
        LinkAck *a = userdata;

        if (error < 0 && a->first == 0) {
                a->first = error;
                error_set_extack(a->ret_error, error, extack, "%s link #%zu", a->what, tag);
        }
}

/* One link message: netcfg_nlmsg_link(), or netcfg_nlmsg_link_quiet() if quiet. */
static int link_message(struct mnl_socket *nl, int ifindex, uint32_t mtu, int up, bool quiet,
                        char **ret_error) {
        _cleanup_(netcfg_batch_freep) NetcfgBatch *b = NULL;
        LinkAck a = { .ret_error = ret_error,
                      .what = quiet ? "quieting (no multicast, no IPv6 link-local)" : "setting" };

        int r = netcfg_batch_new(&b, nl, 0, link_ack, &a);
        if (r < 0)
                return error_set_errno(ret_error, r, "allocating a netlink batch");
        if (quiet)
                netcfg_nlmsg_link_quiet(netcfg_batch_current(b), ifindex);
        else
                netcfg_nlmsg_link(netcfg_batch_current(b), ifindex, mtu, up);
        r = netcfg_batch_add(b, (size_t) ifindex);
        if (r >= 0)
                r = netcfg_batch_flush(b);
        if (r < 0)
                return error_set_errno(ret_error, r, "talking to the kernel (netlink)");
        return a.first;
}

int netcfg_link_set(struct mnl_socket *nl, int ifindex, uint32_t mtu, int up, char **ret_error) {
        return link_message(nl, ifindex, mtu, up, false, ret_error);
}

int netcfg_link_quiet(int ifindex, char **ret_error) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        int r = netcfg_nl_open(&nl);
        if (r < 0)
                return error_set_errno(ret_error, r, "opening a netlink socket");
        r = link_message(nl, ifindex, 0, -1, true, ret_error);
        if (r == -EAFNOSUPPORT) { /* no IPv6 here: see the header */
                r = 0;
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = NULL;
                }
        }
        return r;
}
