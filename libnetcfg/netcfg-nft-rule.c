/* The kill switch's building blocks (netcfg-nft.c puts the ruleset together from them): a
 * batch of nf_tables messages in one growing buffer, the table and its chains, and rules, each a
 * list of matches (nft_match_*) and a verdict, built with libnftnl. */
#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "netcfg-internal.h"

/* A message is at most this long: the longest rule (a prefix match, a port, a verdict) is
 * well under 512 bytes. */
#define NFT_MSG_ROOM 2048U
#define NO_VERDICT INT32_MIN /* nft_put_rule(): a rule without one (reject, counter) */

static char *nft_batch_room(NftBatch *b) {
        if (b->oom)
                return NULL;
        if (b->cap - b->len < NFT_MSG_ROOM) {
                size_t cap = MAX(b->cap * 2, (size_t) 64 * 1024);
                char *n = realloc(b->buf, cap);
                if (!n) {
                        b->oom = true;
                        return NULL;
                }
                b->buf = n;
                b->cap = cap;
        }
        /* Zeroed: attribute padding libnftnl skips must not be uninitialised memory. */
        memset(b->buf + b->len, 0, NFT_MSG_ROOM);
        return b->buf + b->len;
}

static void nft_batch_commit(NftBatch *b, struct nlmsghdr *nlh) {
        b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

void nft_batch_marker(NftBatch *b, bool begin) {
        char *p = nft_batch_room(b);
        if (!p)
                return;
        struct nlmsghdr *nlh =
                begin ? nftnl_batch_begin(p, b->seq_next++) : nftnl_batch_end(p, b->seq_next++);
        nft_batch_commit(b, nlh);
}

static struct nlmsghdr *nft_batch_msg(NftBatch *b, uint16_t type, uint16_t flags) {
        char *p = nft_batch_room(b);
        if (!p)
                return NULL;
        b->n_acked++;
        return nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags | NLM_F_ACK, b->seq_next++);
}

void nft_put_table(NftBatch *b, uint16_t type) {
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t) {
                b->oom = true;
                return;
        }
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, NETCFG_NFT_TABLE);
        struct nlmsghdr *nlh = nft_batch_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
        if (nlh) {
                nftnl_table_nlmsg_build_payload(nlh, t);
                nft_batch_commit(b, nlh);
        }
        nftnl_table_free(t);
}

/* A base chain (hook >= 0: filter hook, priority 0, policy drop) or a regular one. */
void nft_put_chain(NftBatch *b, const char *name, int hook) {
        struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c) {
                b->oom = true;
                return;
        }
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NETCFG_NFT_TABLE);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        if (hook >= 0) {
                nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t) hook);
                nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
                nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
                nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_DROP);
        }
        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        if (nlh) {
                nftnl_chain_nlmsg_build_payload(nlh, c);
                nft_batch_commit(b, nlh);
        }
        nftnl_chain_free(c);
}

/* ---- rules: a rule is a list of matches and a verdict ---- */

static void add_expr(NftRule *r, struct nftnl_expr *e) {
        if (!e) {
                r->oom = true;
                return;
        }
        nftnl_rule_add_expr(r->r, e);
}

static struct nftnl_expr *expr(NftRule *r, const char *name) {
        struct nftnl_expr *e = r->oom ? NULL : nftnl_expr_alloc(name);
        if (!e)
                r->oom = true;
        return e;
}

void nft_match_cmp(NftRule *r, uint32_t op, const void *data, uint32_t len) {
        struct nftnl_expr *e = expr(r, "cmp");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        add_expr(r, e);
}

void nft_match_meta(NftRule *r, uint32_t key) {
        struct nftnl_expr *e = expr(r, "meta");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
        add_expr(r, e);
}

void nft_match_payload(NftRule *r, uint32_t base, uint32_t offset, uint32_t len) {
        struct nftnl_expr *e = expr(r, "payload");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        add_expr(r, e);
}

static void nft_match_mask(NftRule *r, const void *mask, uint32_t len) {
        static const uint8_t zero[16];
        struct nftnl_expr *e = expr(r, "bitwise");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
        add_expr(r, e);
}

static void nft_match_u8(NftRule *r, uint32_t key, uint8_t v) {
        nft_match_meta(r, key);
        nft_match_cmp(r, NFT_CMP_EQ, &v, 1);
}

void nft_match_nfproto(NftRule *r, int family) {
        nft_match_u8(r, NFT_META_NFPROTO, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
}

void nft_match_l4proto(NftRule *r, uint8_t proto) {
        nft_match_u8(r, NFT_META_L4PROTO, proto);
}

/* The transport header's source (offset 0) or destination (2) port; after nft_match_l4proto(). */
void nft_match_port(NftRule *r, bool dst, uint16_t port) {
        uint16_t be = htons(port);
        nft_match_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, dst ? 2 : 0, 2);
        nft_match_cmp(r, NFT_CMP_EQ, &be, 2);
}

void nft_match_ifname(NftRule *r, bool out, const char *ifname) {
        char name[IFNAMSIZ] = {};
        snprintf(name, sizeof(name), "%s", ifname);
        nft_match_meta(r, out ? NFT_META_OIFNAME : NFT_META_IIFNAME);
        nft_match_cmp(r, NFT_CMP_EQ, name, sizeof(name));
}

/* Loopback is interface 1 in every network namespace. */
void nft_match_loopback(NftRule *r, bool out) {
        uint32_t lo = 1;
        nft_match_meta(r, out ? NFT_META_OIF : NFT_META_IIF);
        nft_match_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
}

void nft_match_prefix(NftRule *r, bool dst, const NetcfgPrefix *p) {
        uint32_t len = p->family == AF_INET ? 4 : 16;
        uint32_t off = p->family == AF_INET ? (dst ? 16 : 12) : (dst ? 24 : 8);
        uint8_t mask[16] = {}, addr[16] = {};
        for (unsigned i = 0; i < len; i++) {
                unsigned bits = p->len > i * 8 ? MIN(p->len - i * 8, 8U) : 0;
                mask[i] = (uint8_t) (0xff00 >> bits);
                addr[i] = p->addr[i] & mask[i];
        }
        nft_match_nfproto(r, p->family);
        nft_match_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, len);
        if (p->len < len * 8)
                nft_match_mask(r, mask, len);
        nft_match_cmp(r, NFT_CMP_EQ, addr, len);
}

static void nft_match_skuid(NftRule *r, uint32_t uid) {
        nft_match_meta(r, NFT_META_SKUID);
        nft_match_cmp(r, NFT_CMP_EQ, &uid, sizeof(uid));
}

static void nft_match_mark(NftRule *r, uint32_t mark) {
        nft_match_meta(r, NFT_META_MARK);
        nft_match_cmp(r, NFT_CMP_EQ, &mark, sizeof(mark));
}

void nft_match_ct_state(NftRule *r, uint32_t states) {
        static const uint32_t zero = 0;
        struct nftnl_expr *e = expr(r, "ct");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
        add_expr(r, e);
        nft_match_mask(r, &states, sizeof(states));
        nft_match_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

void nft_match_icmp6_type(NftRule *r, uint8_t type) {
        nft_match_nfproto(r, AF_INET6);
        nft_match_l4proto(r, IPPROTO_ICMPV6);
        nft_match_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
        nft_match_cmp(r, NFT_CMP_EQ, &type, 1);
}

/* A TCP reset (after nft_match_l4proto(IPPROTO_TCP)): flags byte 13, RST 0x04. */
void nft_match_tcp_rst(NftRule *r) {
        static const uint8_t rst = 0x04, zero = 0;
        nft_match_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1);
        nft_match_mask(r, &rst, 1);
        nft_match_cmp(r, NFT_CMP_NEQ, &zero, 1);
}

/* What the engine is: its user, else its fwmark. */
void nft_match_engine(NftRule *r, const NetcfgKillswitch *ks) {
        if (ks->engine_uid_set)
                nft_match_skuid(r, ks->engine_uid);
        else
                nft_match_mark(r, ks->fwmark);
}

NftRule nft_rule_new(void) {
        NftRule r = { .r = nftnl_rule_alloc() };
        r.oom = !r.r;
        return r;
}

void nft_put_rule(NftBatch *b, NftRule *r, const char *chain, int verdict, const char *target) {
        if (verdict != NO_VERDICT) {
                struct nftnl_expr *e = expr(r, "immediate");
                if (e) {
                        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
                        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t) verdict);
                        if (target)
                                nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, target);
                        add_expr(r, e);
                }
        }
        if (r->oom) {
                b->oom = true;
                nftnl_rule_free(r->r);
                return;
        }
        nftnl_rule_set_u32(r->r, NFTNL_RULE_FAMILY, NFPROTO_INET);
        nftnl_rule_set_str(r->r, NFTNL_RULE_TABLE, NETCFG_NFT_TABLE);
        nftnl_rule_set_str(r->r, NFTNL_RULE_CHAIN, chain);
        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
        b->n_rules++;
        if (nlh) {
                nftnl_rule_nlmsg_build_payload(nlh, r->r);
                nft_batch_commit(b, nlh);
        }
        nftnl_rule_free(r->r);
}

void nft_put_verdict(NftBatch *b, NftRule *r, const char *chain, int verdict) {
        nft_put_rule(b, r, chain, verdict, NULL);
}

/* Reject at once (so that a resolver fails fast instead of timing out): TCP with a reset,
 * anything else with ICMP(v6) port unreachable. */
void nft_put_reject(NftBatch *b, NftRule *r, const char *chain, bool tcp) {
        struct nftnl_expr *e = expr(r, "reject");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE,
                                   tcp ? NFT_REJECT_TCP_RST : NFT_REJECT_ICMPX_UNREACH);
                nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE,
                                  tcp ? 0 : NFT_REJECT_ICMPX_PORT_UNREACH);
                add_expr(r, e);
        }
        nft_put_rule(b, r, chain, NO_VERDICT, NULL);
}

/* A rule counting what reaches it (the base chains' last: what the policy drops). */
void nft_put_counter(NftBatch *b, const char *chain) {
        NftRule r = nft_rule_new();
        add_expr(&r, expr(&r, "counter"));
        nft_put_rule(b, &r, chain, NO_VERDICT, NULL);
}
