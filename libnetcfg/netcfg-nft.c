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
 * not NFT_TABLE_F_OWNER: it must outlive the process that wrote it.
 *
 * This file is the ruleset; netcfg-nft-rule.c the batch and the matchers its rules are built
 * from; netcfg-nft-kernel.c the commit and the read-back. */
#include <arpa/inet.h>
#include <ctype.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "netcfg-internal.h"

#define PORT_DNS 53
#define PORT_DOT 853

typedef enum Hook { HOOK_IN, HOOK_OUT, HOOK_FWD, _HOOK_MAX } Hook;

static const struct {
        const char *base, *suffix;
        uint32_t hooknum;
} hooks[_HOOK_MAX] = {
        [HOOK_IN] = { "input", "in", NF_INET_LOCAL_IN },
        [HOOK_OUT] = { "output", "out", NF_INET_LOCAL_OUT },
        [HOOK_FWD] = { "forward", "fwd", NF_INET_FORWARD },
};

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
                        NftRule r = nft_rule_new();
                        nft_match_nfproto(&r, icmp[i].family);
                        nft_match_l4proto(&r, icmp[i].proto);
                        nft_match_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
                        nft_match_cmp(&r, NFT_CMP_EQ, &icmp[i].type, 1);
                        nft_match_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, icmp[i].inner_proto, 1);
                        nft_match_cmp(&r, NFT_CMP_EQ, &udp, 1);
                        nft_match_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, icmp[i].inner_dport, 2);
                        nft_match_cmp(&r, NFT_CMP_EQ, &port, 2);
                        nft_match_ct_state(&r, NF_CT_STATE_BIT(IP_CT_RELATED));
                        nft_put_verdict(b, &r, chain, NF_ACCEPT);
                }
                NftRule r = nft_rule_new();
                nft_match_l4proto(&r, IPPROTO_TCP);
                nft_match_port(&r, false, ports[p]);
                nft_match_tcp_rst(&r);
                nft_match_ct_state(&r, NF_CT_STATE_BIT(IP_CT_RELATED));
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
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
                NftRule r = nft_rule_new();
                nft_match_nfproto(&r, pmtu[i].family);
                nft_match_l4proto(&r, pmtu[i].proto);
                nft_match_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, pmtu[i].len);
                nft_match_cmp(&r, NFT_CMP_EQ, pmtu[i].type_code, pmtu[i].len);
                nft_match_ct_state(&r, NF_CT_STATE_BIT(IP_CT_RELATED));
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
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
                NftRule r = nft_rule_new();
                nft_match_l4proto(&r, IPPROTO_UDP);
                nft_match_port(&r, true, PORT_DNS);
                for (size_t off = 0; off < len; off += 16) {
                        uint32_t n = (uint32_t) MIN(len - off, (size_t) 16);
                        nft_match_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER,
                                          (uint32_t) (8 + 12 + off), n);
                        nft_match_cmp(&r, NFT_CMP_EQ, wire[lower] + off, n);
                }
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
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
                                NftRule r = nft_rule_new();
                                nft_match_ifname(&r, true, ks->ifname);
                                if (ks->n_dns > 0)
                                        nft_match_prefix(&r, true, &ks->dns[k]);
                                nft_match_l4proto(&r, protos[i]);
                                nft_match_port(&r, true, ports[j]);
                                nft_put_verdict(b, &r, chain, NF_ACCEPT);
                        }
                        /* The lookups of the endpoints' names, wherever the resolver sends
                         * them (systemd-resolved asks as itself, not as tund): only those. */
                        for (size_t k = 0; out && protos[i] == IPPROTO_UDP &&
                                           ports[j] == PORT_DNS && k < ks->n_names;
                             k++)
                                put_qname_rules(b, chain, ks->names[k]);
                        /* Any other DNS (to the LAN, to a bypass) is not this profile's to
                         * allow: back to the base chain, which rejects it. */
                        NftRule r = nft_rule_new();
                        nft_match_l4proto(&r, protos[i]);
                        nft_match_port(&r, true, ports[j]);
                        nft_put_verdict(b, &r, chain, NFT_RETURN);
                }
}

/* Into the tunnel: anything but TCP and UDP, and TCP and UDP to other ports than DNS's at
 * once; then DNS (put_dns_rules()). */
static void put_tunnel_rules(NftBatch *b, const NetcfgKillswitch *ks, const char *chain, bool out) {
        static const uint8_t tcp = IPPROTO_TCP, udp = IPPROTO_UDP;
        uint16_t dns = htons(PORT_DNS), dot = htons(PORT_DOT);
        NftRule r = nft_rule_new();
        nft_match_ifname(&r, true, ks->ifname);
        nft_match_meta(&r, NFT_META_L4PROTO);
        nft_match_cmp(&r, NFT_CMP_NEQ, &tcp, 1);
        nft_match_cmp(&r, NFT_CMP_NEQ, &udp, 1);
        nft_put_verdict(b, &r, chain, NF_ACCEPT);
        r = nft_rule_new(); /* TCP or UDP now */
        nft_match_ifname(&r, true, ks->ifname);
        nft_match_payload(&r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
        nft_match_cmp(&r, NFT_CMP_NEQ, &dns, 2);
        nft_match_cmp(&r, NFT_CMP_NEQ, &dot, 2);
        nft_put_verdict(b, &r, chain, NF_ACCEPT);
        put_dns_rules(b, ks, chain, out);
}

static void put_profile(NftBatch *b, const NetcfgKillswitch *ks, Hook h) {
        char chain[NETCFG_NFT_CHAIN_MAX];
        chain_name(chain, sizeof(chain), ks, h);
        nft_put_chain(b, chain, -1);
        bool out = h != HOOK_IN;

        /* The hot paths first: the engine's UDP, then what goes into the tunnel and is no DNS
         * (a few comparisons per packet); DNS and the rest after. */
        for (size_t i = 0; h != HOOK_FWD && i < ks->n_endpoints; i++) {
                /* The engine's UDP to and from its peers' endpoints (replies cannot be told
                 * by user: they are matched by address and port). */
                const NetcfgEndpoint *e = &ks->endpoints[i];
                NftRule r = nft_rule_new();
                if (out)
                        nft_match_engine(&r, ks);
                nft_match_prefix(&r, out, &e->addr);
                nft_match_l4proto(&r, IPPROTO_UDP);
                nft_match_port(&r, out, e->port);
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
        }
        if (h == HOOK_IN) {
                NftRule r = nft_rule_new();
                nft_match_ifname(&r, false, ks->ifname);
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
        } else
                put_tunnel_rules(b, ks, chain, h == HOOK_OUT);
        for (size_t i = 0; ks->allow_lan && i < ELEMENTSOF(lan_prefixes); i++) {
                NftRule r = nft_rule_new();
                nft_match_prefix(&r, out, &lan_prefixes[i]);
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
        }
        for (size_t i = 0; i < ks->n_bypass; i++) {
                NftRule r = nft_rule_new();
                nft_match_prefix(&r, out, &ks->bypass[i]);
                nft_put_verdict(b, &r, chain, NF_ACCEPT);
        }
}

/* What every switch allows, before the profiles' chains: loopback, and replies. */
static void put_base_head(NftBatch *b, Hook h) {
        const char *c = hooks[h].base;
        NftRule r = nft_rule_new();
        if (h == HOOK_FWD)
                nft_match_ct_state(&r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
                                               NF_CT_STATE_BIT(IP_CT_RELATED));
        else
                nft_match_loopback(&r, h == HOOK_OUT);
        nft_put_verdict(b, &r, c, NF_ACCEPT);
        if (h == HOOK_IN) {
                /* Replies to what the chains below let out. */
                r = nft_rule_new();
                nft_match_ct_state(&r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
                                               NF_CT_STATE_BIT(IP_CT_RELATED));
                nft_put_verdict(b, &r, c, NF_ACCEPT);
        }
}

/* After the profiles' chains (rare packets, off the hot path): what the network underneath
 * needs, the answers of a reject, then DNS that none of them allowed is rejected at once. */
static void put_base_tail(NftBatch *b, Hook h) {
        const char *c = hooks[h].base;
        NftRule r;
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
                r = nft_rule_new();
                nft_match_nfproto(&r, dhcp[i].family);
                nft_match_l4proto(&r, IPPROTO_UDP);
                nft_match_port(&r, false, h == HOOK_OUT ? dhcp[i].client : dhcp[i].server);
                nft_match_port(&r, true, h == HOOK_OUT ? dhcp[i].server : dhcp[i].client);
                nft_put_verdict(b, &r, c, NF_ACCEPT);
        }
        /* Neighbour discovery, router solicitation and advertisement, MLD reports. */
        static const uint8_t nd_out[] = { 133, 135, 136, 143 }, nd_in[] = { 134, 135, 136, 137 };
        const uint8_t *nd = h == HOOK_OUT ? nd_out : nd_in;
        for (size_t i = 0; i < 4; i++) {
                r = nft_rule_new();
                nft_match_icmp6_type(&r, nd[i]);
                nft_put_verdict(b, &r, c, NF_ACCEPT);
        }
        if (h == HOOK_OUT) { /* IGMP membership reports: IPv4's MLD */
                r = nft_rule_new();
                nft_match_nfproto(&r, AF_INET);
                nft_match_l4proto(&r, IPPROTO_IGMP);
                nft_put_verdict(b, &r, c, NF_ACCEPT);
        }
dns:
        if (h != HOOK_IN) {
                static const uint16_t ports[] = { PORT_DNS, PORT_DOT };
                for (size_t j = 0; j < ELEMENTSOF(ports); j++)
                        for (int tcp = 0; tcp <= 1; tcp++) {
                                r = nft_rule_new();
                                nft_match_l4proto(&r, tcp ? IPPROTO_TCP : IPPROTO_UDP);
                                nft_match_port(&r, true, ports[j]);
                                nft_put_reject(b, &r, c, tcp);
                        }
        }
        nft_put_counter(b, c);
}

int netcfg_nft_build(const NetcfgKillswitch *const *ks, size_t n, char **ret_buf, size_t *ret_len,
                     unsigned *ret_acks, unsigned *ret_rules) {
        NftBatch b = { .seq_first = (uint32_t) time(NULL) };
        b.seq_next = b.seq_first;

        nft_batch_marker(&b, true);
        /* "add" first, so that "delete" finds a table even on the first run. */
        nft_put_table(&b, NFT_MSG_NEWTABLE);
        nft_put_table(&b, NFT_MSG_DELTABLE);
        if (n > 0) {
                nft_put_table(&b, NFT_MSG_NEWTABLE);
                for (Hook h = 0; h < _HOOK_MAX; h++)
                        for (size_t i = 0; i < n; i++)
                                put_profile(&b, ks[i], h);
                for (Hook h = 0; h < _HOOK_MAX; h++) {
                        nft_put_chain(&b, hooks[h].base, (int) hooks[h].hooknum);
                        put_base_head(&b, h);
                        for (size_t i = 0; i < n; i++) {
                                char chain[NETCFG_NFT_CHAIN_MAX];
                                chain_name(chain, sizeof(chain), ks[i], h);
                                NftRule r = nft_rule_new();
                                nft_put_rule(&b, &r, hooks[h].base, NFT_JUMP, chain);
                        }
                        put_base_tail(&b, h);
                }
        }
        nft_batch_marker(&b, false);
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
