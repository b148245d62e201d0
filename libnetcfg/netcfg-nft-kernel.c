/* The kill switch's table and the kernel: the batch netcfg-nft.c built, sent in one sendmsg()
 * (one transaction) with every message's ack read back; and the table's rules dumped and
 * counted, with a parser of our own that is also the fuzzer's. */
#include <endian.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <time.h>

#include "netcfg-internal.h"

static int nft_open(struct mnl_socket **ret, size_t sndbuf) {
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        int one = 1, rcv = 4 * 1024 * 1024, snd = (int) MIN(sndbuf + 4096, (size_t) INT32_MAX);
        if (!nl)
                return negative_errno();
        (void) mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
        (void) mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
        /* The batch is one transaction only if it is one sendmsg(): room for all of it. */
        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0)
                (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
                (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = negative_errno();
                mnl_socket_close(nl);
                return r;
        }
        *ret = nl;
        return 0;
}

int netcfg_nft_commit(const char *buf, size_t len, unsigned acks, char **ret_error) {
        struct mnl_socket *nl = NULL;
        int r = nft_open(&nl, len);
        if (r < 0)
                return error_set_errno(ret_error, r, "cannot open an nf_tables netlink socket");
        if (mnl_socket_sendto(nl, buf, len) < 0) {
                r = negative_errno();
                mnl_socket_close(nl);
                return error_set_errno(ret_error, r,
                                       "cannot send the kill switch's rules (%zu bytes)", len);
        }
        _cleanup_free_ char *rbuf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
        int first = 0;
        _cleanup_free_ char *extack = NULL;
        if (!rbuf)
                r = -ENOMEM;
        /* One ack per message; a failed transaction answers each message it got to. */
        for (unsigned seen = 0; r >= 0 && seen < acks;) {
                ssize_t n = mnl_socket_recvfrom(nl, rbuf, MNL_SOCKET_BUFFER_SIZE * 4);
                if (n < 0) {
                        r = negative_errno();
                        break;
                }
                int left = (int) n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) rbuf;
                     mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
                        int e;
                        const char *ext;
                        if (netcfg_nlmsg_parse_ack(h, h->nlmsg_len, &e, &ext) < 0) {
                                r = -EBADMSG;
                                break;
                        }
                        seen++;
                        if (e < 0 && first == 0) {
                                first = e;
                                extack = ext ? strdup(ext) : NULL;
                        }
                }
                if (first < 0)
                        break;
        }
        mnl_socket_close(nl);
        if (r < 0)
                return error_set_errno(ret_error, r,
                                       "reading the kernel's answer to the kill switch");
        if (first < 0)
                return error_set_extack(ret_error, first, extack,
                                        "the kernel refused the kill switch's rules");
        return 0;
}

/* A dump's rules are read with libmnl, not libnftnl: libnftnl's parsers exit() the process on
 * an attribute of an unexpected size, and this parser is also the fuzzer's. */
typedef struct AttrTable {
        const struct nlattr **tb;
        uint16_t max;
} AttrTable;

static int attr_cb(const struct nlattr *a, void *data) {
        const AttrTable *t = data;
        if (mnl_attr_get_type(a) <= t->max)
                t->tb[mnl_attr_get_type(a)] = a;
        return MNL_CB_OK;
}

static bool parse_nested(const struct nlattr *a, const struct nlattr **tb, uint16_t max) {
        AttrTable t = { tb, max };
        return mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0 &&
               mnl_attr_parse_nested(a, attr_cb, &t) >= 0;
}

static const char *attr_str(const struct nlattr *a) {
        return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0 ? mnl_attr_get_str(a) : NULL;
}

/* Adds a rule's counter packets to *sum; false if its expressions are malformed. */
static bool sum_counters(const struct nlattr *exprs, uint64_t *sum) {
        const struct nlattr *elem;
        mnl_attr_for_each_nested(elem, exprs) {
                const struct nlattr *e[NFTA_EXPR_MAX + 1] = {}, *c[NFTA_COUNTER_MAX + 1] = {};
                if (!parse_nested(elem, e, NFTA_EXPR_MAX) || !attr_str(e[NFTA_EXPR_NAME]))
                        return false;
                if (!streq(attr_str(e[NFTA_EXPR_NAME]), "counter") || !e[NFTA_EXPR_DATA])
                        continue;
                if (!parse_nested(e[NFTA_EXPR_DATA], c, NFTA_COUNTER_MAX) ||
                    (c[NFTA_COUNTER_PACKETS] &&
                     mnl_attr_validate(c[NFTA_COUNTER_PACKETS], MNL_TYPE_U64) < 0))
                        return false;
                if (c[NFTA_COUNTER_PACKETS])
                        *sum += be64toh(mnl_attr_get_u64(c[NFTA_COUNTER_PACKETS]));
        }
        return true;
}

static int count_rule(const struct nlmsghdr *nlh, void *data) {
        NetcfgNftReadback *rb = data;
        const struct nlattr *tb[NFTA_RULE_MAX + 1] = {};
        AttrTable t = { tb, NFTA_RULE_MAX };
        const char *chain;

        /* errno says why to netcfg_nft_parse_rules(); libmnl's validation sets its own. */
        if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE) ||
            mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg) ||
            mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, &t) < 0 ||
            !(chain = attr_str(tb[NFTA_RULE_CHAIN])))
                goto bad;
        rb->rules++;
        if (rb->prefix && strncmp(chain, rb->prefix, strlen(rb->prefix)) == 0)
                rb->profile_rules++;
        /* The base chains' counters (their only expression-less-verdict rule). */
        if (tb[NFTA_RULE_EXPRESSIONS] && (streq(chain, "output") || streq(chain, "forward"))) {
                if (mnl_attr_validate(tb[NFTA_RULE_EXPRESSIONS], MNL_TYPE_NESTED) < 0 ||
                    !sum_counters(tb[NFTA_RULE_EXPRESSIONS], &rb->dropped))
                        goto bad;
        }
        return MNL_CB_OK;
bad:
        errno = EBADMSG;
        return MNL_CB_ERROR;
}

int netcfg_nft_parse_rules(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                           NetcfgNftReadback *rb) {
        /* Every message within the buffer first: libmnl's mnl_nlmsg_ok() takes a length past
         * INT_MAX for a fitting one (it compares it as an int), and walks off the buffer. */
        for (size_t off = 0; off + NLMSG_HDRLEN <= len;) {
                const struct nlmsghdr *h = (const struct nlmsghdr *) ((const char *) buf + off);
                if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len - off)
                        return -EBADMSG;
                off += NLMSG_ALIGN(h->nlmsg_len);
        }
        errno = 0;
        int r = mnl_cb_run(buf, len, seq, portid, count_rule, rb);
        /* The kernel's own error (EPERM without CAP_NET_ADMIN, ENOENT), or EBADMSG for a
         * message we could not read or that answers another request (libmnl: EPROTO for the
         * sequence number, ESRCH for the port). */
        if (r == MNL_CB_ERROR)
                return errno > 0 && errno < 4096 && errno != EPROTO && errno != ESRCH ? -errno
                                                                                      : -EBADMSG;
        return r; /* MNL_CB_STOP (0): done; MNL_CB_OK (1): more */
}

int netcfg_nft_read(NetcfgNftReadback *rb, char **ret_error) {
        struct mnl_socket *nl = NULL;
        int r = nft_open(&nl, MNL_SOCKET_BUFFER_SIZE);
        if (r < 0)
                return error_set_errno(ret_error, r, "cannot open an nf_tables netlink socket");
        char req[8192] = {};
        uint32_t seq = (uint32_t) time(NULL);
        struct nftnl_rule *rule = nftnl_rule_alloc();
        if (!rule) {
                mnl_socket_close(nl);
                return error_set_errno(ret_error, -ENOMEM, "out of memory");
        }
        nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, NETCFG_NFT_TABLE);
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(req, NFT_MSG_GETRULE, NFPROTO_INET,
                                                     NLM_F_DUMP | NLM_F_ACK, seq);
        nftnl_rule_nlmsg_build_payload(nlh, rule);
        nftnl_rule_free(rule);
        rb->rules = rb->profile_rules = 0;
        rb->dropped = 0;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                r = negative_errno();
        _cleanup_free_ char *rbuf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
        if (!rbuf)
                r = -ENOMEM;
        uint32_t portid = mnl_socket_get_portid(nl);
        while (r >= 0) {
                ssize_t n = mnl_socket_recvfrom(nl, rbuf, MNL_SOCKET_BUFFER_SIZE * 4);
                if (n < 0) {
                        r = negative_errno();
                        break;
                }
                r = netcfg_nft_parse_rules(rbuf, (size_t) n, seq, portid, rb);
                if (r <= 0)
                        break;
        }
        mnl_socket_close(nl);
        if (r == -ENOENT) { /* no table: no switch */
                rb->present = false;
                return 0;
        }
        if (r < 0)
                return error_set_errno(ret_error, r, "cannot read the kill switch's rules back");
        /* A dump filtered by a table that does not exist is just empty; ours, when it
         * exists, always has rules. */
        rb->present = rb->rules > 0;
        return 0;
}
