/* libFuzzer harness for the kill switch's parsers: the spec file a shim reads back
 * (netcfg_killswitch_parse()) and the GETRULE dump that reads the kernel's table back
 * (netcfg_nft_parse_rules()). Every input goes to both: as text, and as a netlink receive
 * buffer with seq and portid 0 (anything) and then those of its first message. A spec that
 * parses must format and parse back to the same text, and the rules netcfg_nft_build() makes
 * of it must read back as that many. */
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NEWRULE ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)

static void check(bool ok) {
        if (!ok)
                abort();
}

/* The transaction's NEWRULE messages, as a dump (without its NLMSG_DONE) returns them. */
static void check_build(const NetcfgKillswitch *ks) {
        const NetcfgKillswitch *specs[] = { ks };
        char *buf = NULL, *dump, prefix[NETCFG_NFT_CHAIN_MAX];
        size_t len, n = 0;
        unsigned acks, rules;

        check(netcfg_nft_build(specs, 1, &buf, &len, &acks, &rules) >= 0);
        dump = malloc(len);
        check(dump && rules > 0 && acks > rules);
        int left = (int) len;
        for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(h, left);
             h = mnl_nlmsg_next(h, &left))
                if (h->nlmsg_type == NEWRULE) {
                        memcpy(dump + n, h, NLMSG_ALIGN(h->nlmsg_len));
                        n += NLMSG_ALIGN(h->nlmsg_len);
                }
        check(left == 0);
        snprintf(prefix, sizeof(prefix), "ks-%s-", ks->profile);
        NetcfgNftReadback rb = { .prefix = prefix };
        check(netcfg_nft_parse_rules(dump, n, 0, 0, &rb) == 1);
        check(rb.rules == rules && rb.profile_rules > 0 && rb.profile_rules < rules);
        check(rb.dropped == 0);
        free(dump);
        free(buf);
}

static void fuzz_spec(const uint8_t *data, size_t size) {
        NetcfgKillswitch ks = {}, ks2 = {};
        char *text = malloc(size + 1), *again = NULL, *text2 = NULL;

        check(text);
        memcpy(text, data, size);
        text[size] = 0;
        if (netcfg_killswitch_parse(text, "fuzz", &ks) >= 0) {
                check(!isempty(ks.ifname) && streq(ks.profile, "fuzz"));
                for (size_t i = 0; i < ks.n_endpoints; i++)
                        check(ks.endpoints[i].port > 0 &&
                              ks.endpoints[i].addr.len ==
                                      (ks.endpoints[i].addr.family == AF_INET ? 32 : 128));
                /* Whatever parses must format and parse again to the same text. */
                check(netcfg_killswitch_format(&ks, &again) >= 0);
                check(netcfg_killswitch_parse(again, "fuzz", &ks2) >= 0);
                check(netcfg_killswitch_format(&ks2, &text2) >= 0);
                check(streq(again, text2));
                check_build(&ks);
        }
        netcfg_killswitch_done(&ks);
        netcfg_killswitch_done(&ks2);
        free(text2);
        free(again);
        free(text);
}

static void fuzz_dump(const uint8_t *data, size_t size) {
        /* Netlink messages are 4-byte aligned in the receive buffer; no slack after the
         * input, so that a read past its end is one ASan sees. */
        void *buf = malloc(MAX(size, (size_t) 1));
        check(buf);
        memcpy_safe(buf, data, size);
        for (int pass = 0; pass < 2; pass++) {
                const struct nlmsghdr *first = buf;
                uint32_t seq = 0, portid = 0;
                if (pass == 1) {
                        if (size < sizeof(*first))
                                break;
                        seq = first->nlmsg_seq;
                        portid = first->nlmsg_pid;
                }
                NetcfgNftReadback rb = { .prefix = pass ? "ks-a-" : NULL };
                int r = netcfg_nft_parse_rules(buf, size, seq, portid, &rb);
                /* More (1), done (0), or an errno: the kernel's own in an error reply. */
                check(r <= 1 && r > -4096);
                check(rb.profile_rules <= rb.rules);
        }
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_spec(data, size);
        fuzz_dump(data, size);
        return 0;
}
