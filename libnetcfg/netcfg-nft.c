/* The kill switch's nf_tables ruleset, built with libnftnl and committed in one transaction.
 *
 * One table, inet "tund", holds everything: three base chains (input, output, forward; filter
 * hooks, policy drop) and three regular chains per kill-switch profile (ks-NAME-in, -out,
 * -fwd). A base chain accepts what every switch allows (loopback; DHCP and neighbour
 * discovery; replies), jumps to each profile's chain, where that profile's exceptions are
 * accepted, and drops the rest. So the switches combine as a union of their exceptions: in
 * nf_tables a packet that any base chain drops is dropped, and one table per profile, each
 * dropping "the rest", would drop each other's tunnels.
 *
 * Every transition rewrites the whole table from the specs of all profiles, in one batch:
 * "add table; delete table; add table, chains, rules". The kernel applies the batch as one
 * transaction, so there is no moment with neither the old nor the new ruleset. The table is
 * not NFT_TABLE_F_OWNER: it must outlive the process that wrote it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <endian.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "netcfg-internal.h"

/* A message is at most this long: the longest rule (a prefix match, a port, a verdict) is
 * well under 512 bytes. */
#define NFT_MSG_ROOM 2048U
#define PORT_DNS 53
#define PORT_DOT 853
#define NO_VERDICT INT32_MIN /* put_rule(): a rule without one (reject, counter) */

typedef struct NftBatch {
        char *buf;
        size_t len, cap;
        uint32_t seq_first, seq_next;
        unsigned n_acked; /* messages that want an ack */
        unsigned n_rules;
        bool oom;
} NftBatch;

typedef enum Hook { HOOK_IN, HOOK_OUT, HOOK_FWD, _HOOK_MAX } Hook;

static const struct {
        const char *base, *suffix;
        uint32_t hooknum;
} hooks[_HOOK_MAX] = {
        [HOOK_IN] = { "input", "in", NF_INET_LOCAL_IN },
        [HOOK_OUT] = { "output", "out", NF_INET_LOCAL_OUT },
        [HOOK_FWD] = { "forward", "fwd", NF_INET_FORWARD },
};

static char *batch_room(NftBatch *b) {
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

static void batch_commit(NftBatch *b, struct nlmsghdr *nlh) {
        b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void batch_marker(NftBatch *b, bool begin) {
        char *p = batch_room(b);
        if (!p)
                return;
        struct nlmsghdr *nlh =
                begin ? nftnl_batch_begin(p, b->seq_next++) : nftnl_batch_end(p, b->seq_next++);
        batch_commit(b, nlh);
}

static struct nlmsghdr *batch_msg(NftBatch *b, uint16_t type, uint16_t flags) {
        char *p = batch_room(b);
        if (!p)
                return NULL;
        b->n_acked++;
        return nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags | NLM_F_ACK, b->seq_next++);
}

static void put_table(NftBatch *b, uint16_t type) {
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t) {
                b->oom = true;
                return;
        }
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, NETCFG_NFT_TABLE);
        struct nlmsghdr *nlh = batch_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
        if (nlh) {
                nftnl_table_nlmsg_build_payload(nlh, t);
                batch_commit(b, nlh);
        }
        nftnl_table_free(t);
}

/* A base chain (hook >= 0: filter hook, priority 0, policy drop) or a regular one. */
static void put_chain(NftBatch *b, const char *name, int hook) {
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
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        if (nlh) {
                nftnl_chain_nlmsg_build_payload(nlh, c);
                batch_commit(b, nlh);
        }
        nftnl_chain_free(c);
}

/* ---- rules: a rule is a list of matches and a verdict ---- */

typedef struct Rule {
        struct nftnl_rule *r;
        bool oom;
} Rule;

static void add_expr(Rule *r, struct nftnl_expr *e) {
        if (!e) {
                r->oom = true;
                return;
        }
        nftnl_rule_add_expr(r->r, e);
}

static struct nftnl_expr *expr(Rule *r, const char *name) {
        struct nftnl_expr *e = r->oom ? NULL : nftnl_expr_alloc(name);
        if (!e)
                r->oom = true;
        return e;
}

static void m_cmp(Rule *r, uint32_t op, const void *data, uint32_t len) {
        struct nftnl_expr *e = expr(r, "cmp");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        add_expr(r, e);
}

static void m_meta(Rule *r, uint32_t key) {
        struct nftnl_expr *e = expr(r, "meta");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
        add_expr(r, e);
}

static void m_payload(Rule *r, uint32_t base, uint32_t offset, uint32_t len) {
        struct nftnl_expr *e = expr(r, "payload");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        add_expr(r, e);
}

static void m_mask(Rule *r, const void *mask, uint32_t len) {
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

static void m_u8(Rule *r, uint32_t key, uint8_t v) {
        m_meta(r, key);
        m_cmp(r, NFT_CMP_EQ, &v, 1);
}

static void m_nfproto(Rule *r, int family) {
        m_u8(r, NFT_META_NFPROTO, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
}

static void m_l4proto(Rule *r, uint8_t proto) {
        m_u8(r, NFT_META_L4PROTO, proto);
}

/* The transport header's source (offset 0) or destination (2) port; after m_l4proto(). */
static void m_port(Rule *r, bool dst, uint16_t port) {
        uint16_t be = htons(port);
        m_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, dst ? 2 : 0, 2);
        m_cmp(r, NFT_CMP_EQ, &be, 2);
}

static void m_ifname(Rule *r, bool out, const char *ifname) {
        char name[IFNAMSIZ] = {};
        snprintf(name, sizeof(name), "%s", ifname);
        m_meta(r, out ? NFT_META_OIFNAME : NFT_META_IIFNAME);
        m_cmp(r, NFT_CMP_EQ, name, sizeof(name));
}

/* Loopback is interface 1 in every network namespace. */
static void m_loopback(Rule *r, bool out) {
        uint32_t lo = 1;
        m_meta(r, out ? NFT_META_OIF : NFT_META_IIF);
        m_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
}

static void m_prefix(Rule *r, bool dst, const NetcfgPrefix *p) {
        uint32_t len = p->family == AF_INET ? 4 : 16;
        uint32_t off = p->family == AF_INET ? (dst ? 16 : 12) : (dst ? 24 : 8);
        uint8_t mask[16] = {}, addr[16] = {};
        for (unsigned i = 0; i < len; i++) {
                unsigned bits = p->len > i * 8 ? MIN(p->len - i * 8, 8U) : 0;
                mask[i] = (uint8_t) (0xff00 >> bits);
                addr[i] = p->addr[i] & mask[i];
        }
        m_nfproto(r, p->family);
        m_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, len);
        if (p->len < len * 8)
                m_mask(r, mask, len);
        m_cmp(r, NFT_CMP_EQ, addr, len);
}

static void m_skuid(Rule *r, uint32_t uid) {
        m_meta(r, NFT_META_SKUID);
        m_cmp(r, NFT_CMP_EQ, &uid, sizeof(uid));
}

static void m_mark(Rule *r, uint32_t mark) {
        m_meta(r, NFT_META_MARK);
        m_cmp(r, NFT_CMP_EQ, &mark, sizeof(mark));
}

static void m_ct_state(Rule *r, uint32_t states) {
        static const uint32_t zero = 0;
        struct nftnl_expr *e = expr(r, "ct");
        if (!e)
                return;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
        add_expr(r, e);
        m_mask(r, &states, sizeof(states));
        m_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void m_icmp6_type(Rule *r, uint8_t type) {
        m_nfproto(r, AF_INET6);
        m_l4proto(r, IPPROTO_ICMPV6);
        m_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
        m_cmp(r, NFT_CMP_EQ, &type, 1);
}

/* A TCP reset (after m_l4proto(IPPROTO_TCP)): flags byte 13, RST 0x04. */
static void m_tcp_rst(Rule *r) {
        static const uint8_t rst = 0x04, zero = 0;
        m_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1);
        m_mask(r, &rst, 1);
        m_cmp(r, NFT_CMP_NEQ, &zero, 1);
}

/* What the engine is: its user, else its fwmark. */
static void m_engine(Rule *r, const NetcfgKillswitch *ks) {
        if (ks->engine_uid_set)
                m_skuid(r, ks->engine_uid);
        else
                m_mark(r, ks->fwmark);
}

static Rule rule_new(void) {
        Rule r = { .r = nftnl_rule_alloc() };
        r.oom = !r.r;
        return r;
}

static void put_rule(NftBatch *b, Rule *r, const char *chain, int verdict, const char *target) {
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
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
        b->n_rules++;
        if (nlh) {
                nftnl_rule_nlmsg_build_payload(nlh, r->r);
                batch_commit(b, nlh);
        }
        nftnl_rule_free(r->r);
}

static void put_verdict(NftBatch *b, Rule *r, const char *chain, int verdict) {
        put_rule(b, r, chain, verdict, NULL);
}

/* Reject at once (so that a resolver fails fast instead of timing out): TCP with a reset,
 * anything else with ICMP(v6) port unreachable. */
static void put_reject(NftBatch *b, Rule *r, const char *chain, bool tcp) {
        struct nftnl_expr *e = expr(r, "reject");
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE,
                                   tcp ? NFT_REJECT_TCP_RST : NFT_REJECT_ICMPX_UNREACH);
                nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE,
                                  tcp ? 0 : NFT_REJECT_ICMPX_PORT_UNREACH);
                add_expr(r, e);
        }
        put_rule(b, r, chain, NO_VERDICT, NULL);
}

/* A rule counting what reaches it (the base chains' last: what the policy drops). */
static void put_counter(NftBatch *b, const char *chain) {
        Rule r = rule_new();
        add_expr(&r, expr(&r, "counter"));
        put_rule(b, &r, chain, NO_VERDICT, NULL);
}

/* What the forward chain's DNS reject answers a container or VM with leaves through the output
 * chain: an ICMP(v6) port unreachable quoting a UDP packet to port 53 or 853, a TCP reset from
 * such a port; each related to the packet it answers (no local process can forge that without
 * CAP_NET_RAW); and the path-MTU errors a container needs. Nothing else related: the port
 * unreachable the host would send its VPN server for a datagram that arrives before the engine
 * listens stays in. Offsets assume the quoted
 * header has no IPv4 options or IPv6 extension headers (a reject's never has). */
static void put_reject_answers(NftBatch *b, const char *chain) {
        static const uint16_t ports[] = { PORT_DNS, PORT_DOT };
        static const struct {
                int family;
                uint8_t proto, type;
                uint32_t inner_proto, inner_dport; /* transport header offsets */
        } icmp[] = {
                { AF_INET, IPPROTO_ICMP, 3, 8 + 9, 8 + 20 + 2 },    /* destination unreachable */
                { AF_INET6, IPPROTO_ICMPV6, 1, 8 + 6, 8 + 40 + 2 }, /* destination unreachable */
        };
        for (size_t p = 0; p < ELEMENTSOF(ports); p++) {
                uint16_t port = htons(ports[p]);
                uint8_t udp = IPPROTO_UDP;
                for (size_t i = 0; i < ELEMENTSOF(icmp); i++) {
                        Rule r = rule_new();
                        m_nfproto(&r, icmp[i].family);
                        m_l4proto(&r, icmp[i].proto);
                        m_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
                        m_cmp(&r, NFT_CMP_EQ, &icmp[i].type, 1);
                        m_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, icmp[i].inner_proto, 1);
                        m_cmp(&r, NFT_CMP_EQ, &udp, 1);
                        m_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, icmp[i].inner_dport, 2);
                        m_cmp(&r, NFT_CMP_EQ, &port, 2);
                        m_ct_state(&r, NF_CT_STATE_BIT(IP_CT_RELATED));
                        put_verdict(b, &r, chain, NF_ACCEPT);
                }
                Rule r = rule_new();
                m_l4proto(&r, IPPROTO_TCP);
                m_port(&r, false, ports[p]);
                m_tcp_rst(&r);
                m_ct_state(&r, NF_CT_STATE_BIT(IP_CT_RELATED));
                put_verdict(b, &r, chain, NF_ACCEPT);
        }
        /* Path MTU: a container's packet too big for the tunnel is answered "fragmentation
         * needed" (ICMP 3/4) or "packet too big" (ICMPv6 2), or its TCP hangs. */
        static const struct {
                int family;
                uint8_t proto, type_code[2];
                uint32_t len;
        } pmtu[] = { { AF_INET, IPPROTO_ICMP, { 3, 4 }, 2 },
                     { AF_INET6, IPPROTO_ICMPV6, { 2 }, 1 } };
        for (size_t i = 0; i < ELEMENTSOF(pmtu); i++) {
                Rule r = rule_new();
                m_nfproto(&r, pmtu[i].family);
                m_l4proto(&r, pmtu[i].proto);
                m_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, pmtu[i].len);
                m_cmp(&r, NFT_CMP_EQ, pmtu[i].type_code, pmtu[i].len);
                m_ct_state(&r, NF_CT_STATE_BIT(IP_CT_RELATED));
                put_verdict(b, &r, chain, NF_ACCEPT);
        }
}

/* ---- the ruleset ---- */

/* Local networks (AllowLAN = yes): RFC 1918, link-local, ULA and multicast. */
static const NetcfgPrefix lan_prefixes[] = {
        { AF_INET, { 10 }, 8 },           { AF_INET, { 172, 16 }, 12 },
        { AF_INET, { 192, 168 }, 16 },    { AF_INET, { 169, 254 }, 16 },
        { AF_INET, { 224 }, 4 },          { AF_INET, { 255, 255, 255, 255 }, 32 },
        { AF_INET6, { 0xfe, 0x80 }, 10 }, { AF_INET6, { 0xfc }, 7 },
        { AF_INET6, { 0xff }, 8 },
};

static void chain_name(char *buf, size_t size, const NetcfgKillswitch *ks, Hook h) {
        snprintf(buf, size, "ks-%s-%s", ks->profile, hooks[h].suffix);
}

/* A DNS query (UDP) for exactly `name`: the question's name follows the 8-byte UDP header and
 * the 12-byte DNS header, as labels; compared 16 bytes (one register) at a time. Both the name
 * as written and in lower case (a resolver may fold it). */
static void put_qname_rules(NftBatch *b, const char *chain, const char *name) {
        uint8_t wire[2][256];
        size_t len = 0;
        for (int lower = 0; lower <= 1; lower++) {
                size_t o = 0;
                for (const char *l = name; *l;) {
                        size_t n = strcspn(l, ".");
                        wire[lower][o++] = (uint8_t) n;
                        for (size_t k = 0; k < n; k++)
                                wire[lower][o++] =
                                        (uint8_t) (lower ? tolower((unsigned char) l[k]) : l[k]);
                        l += n + (l[n] == '.');
                }
                wire[lower][o++] = 0;
                len = o;
                if (lower && memcmp(wire[0], wire[1], len) == 0)
                        break;
                Rule r = rule_new();
                m_l4proto(&r, IPPROTO_UDP);
                m_port(&r, true, PORT_DNS);
                for (size_t off = 0; off < len; off += 16) {
                        uint32_t n = (uint32_t) MIN(len - off, (size_t) 16);
                        m_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, (uint32_t) (8 + 12 + off), n);
                        m_cmp(&r, NFT_CMP_EQ, wire[lower] + off, n);
                }
                put_verdict(b, &r, chain, NF_ACCEPT);
        }
}

static void put_dns_rules(NftBatch *b, const NetcfgKillswitch *ks, const char *chain, bool out) {
        static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP };
        static const uint16_t ports[] = { PORT_DNS, PORT_DOT };
        for (size_t i = 0; i < ELEMENTSOF(protos); i++)
                for (size_t j = 0; j < ELEMENTSOF(ports); j++) {
                        /* Through the tunnel: to the profile's DNS servers, or to any when
                         * it names none. */
                        for (size_t k = 0; k < MAX(ks->n_dns, (size_t) 1); k++) {
                                Rule r = rule_new();
                                m_ifname(&r, true, ks->ifname);
                                if (ks->n_dns > 0)
                                        m_prefix(&r, true, &ks->dns[k]);
                                m_l4proto(&r, protos[i]);
                                m_port(&r, true, ports[j]);
                                put_verdict(b, &r, chain, NF_ACCEPT);
                        }
                        /* The lookups of the endpoints' names, wherever the resolver sends
                         * them (systemd-resolved asks as itself, not as tund): only those. */
                        for (size_t k = 0; out && protos[i] == IPPROTO_UDP &&
                                           ports[j] == PORT_DNS && k < ks->n_names;
                             k++)
                                put_qname_rules(b, chain, ks->names[k]);
                        /* Any other DNS (to the LAN, to a bypass) is not this profile's to
                         * allow: back to the base chain, which rejects it. */
                        Rule r = rule_new();
                        m_l4proto(&r, protos[i]);
                        m_port(&r, true, ports[j]);
                        put_verdict(b, &r, chain, NFT_RETURN);
                }
}

/* Into the tunnel: anything but TCP and UDP, and TCP and UDP to other ports than DNS's at
 * once; then DNS (put_dns_rules()). */
static void put_tunnel_rules(NftBatch *b, const NetcfgKillswitch *ks, const char *chain, bool out) {
        static const uint8_t tcp = IPPROTO_TCP, udp = IPPROTO_UDP;
        uint16_t dns = htons(PORT_DNS), dot = htons(PORT_DOT);
        Rule r = rule_new();
        m_ifname(&r, true, ks->ifname);
        m_meta(&r, NFT_META_L4PROTO);
        m_cmp(&r, NFT_CMP_NEQ, &tcp, 1);
        m_cmp(&r, NFT_CMP_NEQ, &udp, 1);
        put_verdict(b, &r, chain, NF_ACCEPT);
        r = rule_new(); /* TCP or UDP now */
        m_ifname(&r, true, ks->ifname);
        m_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
        m_cmp(&r, NFT_CMP_NEQ, &dns, 2);
        m_cmp(&r, NFT_CMP_NEQ, &dot, 2);
        put_verdict(b, &r, chain, NF_ACCEPT);
        put_dns_rules(b, ks, chain, out);
}

static void put_profile(NftBatch *b, const NetcfgKillswitch *ks, Hook h) {
        char chain[NETCFG_NFT_CHAIN_MAX];
        chain_name(chain, sizeof(chain), ks, h);
        put_chain(b, chain, -1);
        bool out = h != HOOK_IN;

        /* The hot paths first: the engine's UDP, then what goes into the tunnel and is no DNS
         * (a few comparisons per packet); DNS and the rest after. */
        for (size_t i = 0; h != HOOK_FWD && i < ks->n_endpoints; i++) {
                /* The engine's UDP to and from its peers' endpoints (replies cannot be told
                 * by user: they are matched by address and port). */
                const NetcfgEndpoint *e = &ks->endpoints[i];
                Rule r = rule_new();
                if (out)
                        m_engine(&r, ks);
                m_prefix(&r, out, &e->addr);
                m_l4proto(&r, IPPROTO_UDP);
                m_port(&r, out, e->port);
                put_verdict(b, &r, chain, NF_ACCEPT);
        }
        if (h == HOOK_IN) {
                Rule r = rule_new();
                m_ifname(&r, false, ks->ifname);
                put_verdict(b, &r, chain, NF_ACCEPT);
        } else
                put_tunnel_rules(b, ks, chain, h == HOOK_OUT);
        for (size_t i = 0; ks->allow_lan && i < ELEMENTSOF(lan_prefixes); i++) {
                Rule r = rule_new();
                m_prefix(&r, out, &lan_prefixes[i]);
                put_verdict(b, &r, chain, NF_ACCEPT);
        }
        for (size_t i = 0; i < ks->n_bypass; i++) {
                Rule r = rule_new();
                m_prefix(&r, out, &ks->bypass[i]);
                put_verdict(b, &r, chain, NF_ACCEPT);
        }
}

/* What every switch allows, before the profiles' chains: loopback, and replies. */
static void put_base_head(NftBatch *b, Hook h) {
        const char *c = hooks[h].base;
        Rule r = rule_new();
        if (h == HOOK_FWD)
                m_ct_state(&r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
        else
                m_loopback(&r, h == HOOK_OUT);
        put_verdict(b, &r, c, NF_ACCEPT);
        if (h == HOOK_IN) {
                /* Replies to what the chains below let out. */
                r = rule_new();
                m_ct_state(&r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
                put_verdict(b, &r, c, NF_ACCEPT);
        }
}

/* After the profiles' chains (rare packets, off the hot path): what the network underneath
 * needs, the answers of a reject, then DNS that none of them allowed is rejected at once. */
static void put_base_tail(NftBatch *b, Hook h) {
        const char *c = hooks[h].base;
        Rule r;
        if (h == HOOK_OUT)
                put_reject_answers(b, c);
        if (h == HOOK_FWD)
                goto dns;
        /* DHCPv4 (client 68, server 67) and DHCPv6 (client 546, server 547). */
        static const struct {
                int family;
                uint16_t client, server;
        } dhcp[] = { { AF_INET, 68, 67 }, { AF_INET6, 546, 547 } };
        for (size_t i = 0; i < ELEMENTSOF(dhcp); i++) {
                r = rule_new();
                m_nfproto(&r, dhcp[i].family);
                m_l4proto(&r, IPPROTO_UDP);
                m_port(&r, false, h == HOOK_OUT ? dhcp[i].client : dhcp[i].server);
                m_port(&r, true, h == HOOK_OUT ? dhcp[i].server : dhcp[i].client);
                put_verdict(b, &r, c, NF_ACCEPT);
        }
        /* Neighbour discovery, router solicitation and advertisement, MLD reports. */
        static const uint8_t nd_out[] = { 133, 135, 136, 143 }, nd_in[] = { 134, 135, 136, 137 };
        const uint8_t *nd = h == HOOK_OUT ? nd_out : nd_in;
        for (size_t i = 0; i < 4; i++) {
                r = rule_new();
                m_icmp6_type(&r, nd[i]);
                put_verdict(b, &r, c, NF_ACCEPT);
        }
        if (h == HOOK_OUT) { /* IGMP membership reports: IPv4's MLD */
                r = rule_new();
                m_nfproto(&r, AF_INET);
                m_l4proto(&r, IPPROTO_IGMP);
                put_verdict(b, &r, c, NF_ACCEPT);
        }
dns:
        if (h != HOOK_IN) {
                static const uint16_t ports[] = { PORT_DNS, PORT_DOT };
                for (size_t j = 0; j < ELEMENTSOF(ports); j++)
                        for (int tcp = 0; tcp <= 1; tcp++) {
                                r = rule_new();
                                m_l4proto(&r, tcp ? IPPROTO_TCP : IPPROTO_UDP);
                                m_port(&r, true, ports[j]);
                                put_reject(b, &r, c, tcp);
                        }
        }
        put_counter(b, c);
}

int netcfg_nft_build(const NetcfgKillswitch *const *ks, size_t n, char **ret_buf, size_t *ret_len,
                     unsigned *ret_acks, unsigned *ret_rules) {
        NftBatch b = { .seq_first = (uint32_t) time(NULL) };
        b.seq_next = b.seq_first;

        batch_marker(&b, true);
        /* "add" first, so that "delete" finds a table even on the first run. */
        put_table(&b, NFT_MSG_NEWTABLE);
        put_table(&b, NFT_MSG_DELTABLE);
        if (n > 0) {
                put_table(&b, NFT_MSG_NEWTABLE);
                for (Hook h = 0; h < _HOOK_MAX; h++)
                        for (size_t i = 0; i < n; i++)
                                put_profile(&b, ks[i], h);
                for (Hook h = 0; h < _HOOK_MAX; h++) {
                        put_chain(&b, hooks[h].base, (int) hooks[h].hooknum);
                        put_base_head(&b, h);
                        for (size_t i = 0; i < n; i++) {
                                char chain[NETCFG_NFT_CHAIN_MAX];
                                chain_name(chain, sizeof(chain), ks[i], h);
                                Rule r = rule_new();
                                put_rule(&b, &r, hooks[h].base, NFT_JUMP, chain);
                        }
                        put_base_tail(&b, h);
                }
        }
        batch_marker(&b, false);
        if (b.oom) {
                free(b.buf);
                return -ENOMEM;
        }
        *ret_buf = b.buf;
        *ret_len = b.len;
        *ret_acks = b.n_acked;
        *ret_rules = b.n_rules;
        return 0;
}

/* ---- talking to the kernel ---- */

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
                return netcfg_errorf(ret_error, r, "cannot open an nf_tables netlink socket");
        if (mnl_socket_sendto(nl, buf, len) < 0) {
                r = negative_errno();
                mnl_socket_close(nl);
                return netcfg_errorf(ret_error, r,
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
                return netcfg_errorf(ret_error, r,
                                     "reading the kernel's answer to the kill switch");
        if (first < 0)
                return netcfg_error_extack(ret_error, first, extack,
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
                return netcfg_errorf(ret_error, r, "cannot open an nf_tables netlink socket");
        char req[8192] = {};
        uint32_t seq = (uint32_t) time(NULL);
        struct nftnl_rule *rule = nftnl_rule_alloc();
        if (!rule) {
                mnl_socket_close(nl);
                return netcfg_errorf(ret_error, -ENOMEM, "out of memory");
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
                return netcfg_errorf(ret_error, r, "cannot read the kill switch's rules back");
        /* A dump filtered by a table that does not exist is just empty; ours, when it
         * exists, always has rules. */
        rb->present = rb->rules > 0;
        return 0;
}
