/* The kill switch without a kernel: the spec's text round trip and a parser that refuses
 * everything else, the spec directory, the nf_tables transaction netcfg_nft_build() writes
 * (walked message by message and parsed back with libnftnl), and the GETRULE dump parser that
 * reads the table back. */
#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/stat.h>

#include "netcfg-internal.h"
#include "strv.h"
#include "tests.h"

#define NFT_TYPE(t) ((uint16_t) ((NFNL_SUBSYS_NFTABLES << 8) | (t)))
#define NO_VERDICT INT32_MIN

static NetcfgPrefix pfx(const char *s) {
        NetcfgPrefix p;
        if (netcfg_prefix_from_string(s, &p) < 0)
                FAILF("bad prefix %s", s);
        return p;
}

static NetcfgPrefix *prefixes(const char *a, const char *b) {
        NetcfgPrefix *v = calloc(2, sizeof(*v));
        ASSERT_TRUE(v);
        v[0] = pfx(a);
        v[1] = pfx(b);
        return v;
}

static void add_endpoint(NetcfgKillswitch *ks, const char *addr, uint16_t port) {
        NetcfgPrefix p = pfx(addr);
        ASSERT_OK(netcfg_killswitch_add_endpoint(ks, &p, port));
}

/* Profile "a": the engine by its user, every list and flag set, both families. */
static void spec_uid(NetcfgKillswitch *ks) {
        *ks = (NetcfgKillswitch){
                .profile = "a",
                .ifname = "tund-a",
                .engine_uid_set = true,
                .engine_uid = 992,
                .allow_lan = true,
        };
        ASSERT_OK(strv_push(&ks->names, &ks->n_names, "vpn.example.com"));
        add_endpoint(ks, "198.51.100.1", 51820);
        add_endpoint(ks, "2001:db8::1", 443);
        ks->dns = prefixes("192.0.2.53/32", "2001:db8::53/128");
        ks->n_dns = 2;
        ks->bypass = prefixes("203.0.113.0/24", "2001:db8:42::/48");
        ks->n_bypass = 2;
}

/* Profile "b": the engine by its fwmark, one endpoint, nothing else. */
static void spec_mark(NetcfgKillswitch *ks) {
        *ks = (NetcfgKillswitch){ .profile = "b", .ifname = "tund-b", .fwmark = 29813 };
        add_endpoint(ks, "192.0.2.7", 1);
}

static void assert_same_prefixes(const NetcfgPrefix *a, const NetcfgPrefix *b, size_t n) {
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ(a[i].family, b[i].family);
                ASSERT_EQ(a[i].len, b[i].len);
                ASSERT_TRUE(memcmp(a[i].addr, b[i].addr, sizeof(a[i].addr)) == 0);
        }
}

static void assert_same_spec(const NetcfgKillswitch *a, const NetcfgKillswitch *b) {
        ASSERT_STREQ(a->profile, b->profile);
        ASSERT_STREQ(a->ifname, b->ifname);
        ASSERT_EQ(a->engine_uid_set, b->engine_uid_set);
        if (a->engine_uid_set)
                ASSERT_EQ(a->engine_uid, b->engine_uid);
        else
                ASSERT_EQ(a->fwmark, b->fwmark);
        ASSERT_EQ(a->n_names, b->n_names);
        for (size_t i = 0; i < a->n_names; i++)
                ASSERT_STREQ(a->names[i], b->names[i]);
        ASSERT_EQ(a->allow_lan, b->allow_lan);
        ASSERT_EQ(a->n_endpoints, b->n_endpoints);
        for (size_t i = 0; i < a->n_endpoints; i++) {
                ASSERT_EQ(a->endpoints[i].port, b->endpoints[i].port);
                assert_same_prefixes(&a->endpoints[i].addr, &b->endpoints[i].addr, 1);
        }
        ASSERT_EQ(a->n_dns, b->n_dns);
        assert_same_prefixes(a->dns, b->dns, a->n_dns);
        ASSERT_EQ(a->n_bypass, b->n_bypass);
        assert_same_prefixes(a->bypass, b->bypass, a->n_bypass);
}

static void round_trip(const NetcfgKillswitch *a, char **ret_text) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch b = {};
        _cleanup_free_ char *text2 = NULL;

        ASSERT_OK(netcfg_killswitch_format(a, ret_text));
        ASSERT_OK(netcfg_killswitch_parse(*ret_text, a->profile, &b));
        assert_same_spec(a, &b);
        ASSERT_OK(netcfg_killswitch_format(&b, &text2));
        ASSERT_STREQ(*ret_text, text2);
}

TEST(spec_round_trip_uid) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {};
        _cleanup_free_ char *text = NULL;

        spec_uid(&a);
        round_trip(&a, &text);
        ASSERT_TRUE(strncmp(text, "tund-killswitch 1\nifname tund-a\n", 32) == 0);
        ASSERT_CONTAINS(text, "\nengine uid 992\n");
        ASSERT_CONTAINS(text, "\nallow-lan 1\n");
        ASSERT_CONTAINS(text, "\nname vpn.example.com\n");
        ASSERT_CONTAINS(text, "\nendpoint 198.51.100.1/32 51820\n");
        ASSERT_CONTAINS(text, "\nendpoint 2001:db8::1/128 443\n");
        ASSERT_CONTAINS(text, "\ndns 192.0.2.53/32\n");
        ASSERT_CONTAINS(text, "\ndns 2001:db8::53/128\n");
        ASSERT_CONTAINS(text, "\nbypass 203.0.113.0/24\n");
        ASSERT_CONTAINS(text, "\nbypass 2001:db8:42::/48\n");
        ASSERT_TRUE(!strstr(text, "mark"));
        ASSERT_STREQ(text + strlen(text) - 5, "\nend\n");
}

TEST(spec_round_trip_mark) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {};
        _cleanup_free_ char *text = NULL;

        spec_mark(&a);
        round_trip(&a, &text);
        ASSERT_STREQ(text, "tund-killswitch 1\nifname tund-b\nengine mark 29813\n"
                           "allow-lan 0\nendpoint 192.0.2.7/32 1\nend\n");
}

/* The largest values each field takes. */
TEST(spec_round_trip_limits) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {
                .profile = "abcdefghijklmnopqrstuvwxyz012345", /* 32 */
                .ifname = "abcdefghijklmno",                   /* IFNAMSIZ - 1 */
                .engine_uid_set = true,
                .engine_uid = UINT32_MAX,
        };
        _cleanup_free_ char *text = NULL;

        add_endpoint(&a, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
        round_trip(&a, &text);
        ASSERT_CONTAINS(text, "\nengine uid 4294967295\n");
        ASSERT_CONTAINS(text, " 65535\n");
}

/* A text in a file that parses must format and parse back the same (blank lines and
 * duplicate endpoints are dropped once). */
TEST(spec_parse_normalises) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch ks = {};
        _cleanup_free_ char *text = NULL;

        ASSERT_OK(netcfg_killswitch_parse("tund-killswitch 1\n\nifname x\nengine mark 5\n"
                                          "endpoint 192.0.2.1/32 7\nendpoint 192.0.2.1 7\n"
                                          "end\n",
                                          "p", &ks));
        ASSERT_STREQ(ks.profile, "p");
        ASSERT_EQ(ks.n_endpoints, 1);
        ASSERT_TRUE(!ks.engine_uid_set);
        ASSERT_EQ(ks.fwmark, 5);
        ASSERT_OK(netcfg_killswitch_format(&ks, &text));
        ASSERT_STREQ(text, "tund-killswitch 1\nifname x\nengine mark 5\n"
                           "allow-lan 0\nendpoint 192.0.2.1/32 7\nend\n");
}

static void expect_bad(const char *body) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch ks = {};
        _cleanup_free_ char *text = NULL;

        ASSERT_TRUE(asprintf(&text, "tund-killswitch 1\n%s", body) >= 0);
        int r = netcfg_killswitch_parse(text, "a", &ks);
        if (r != -EBADMSG)
                FAILF("parsing \"%s\" returned %d, not -EBADMSG", text, r);
}

TEST(spec_parse_refuses) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch ks = {};

        /* The baseline that the cases below spoil one line of. */
        ASSERT_OK(netcfg_killswitch_parse("tund-killswitch 1\nifname a\nengine mark 1\nend\n", "a",
                                          &ks));
        /* No header, another version, nothing at all. */
        ASSERT_EQ(netcfg_killswitch_parse("ifname a\nengine mark 1\nend\n", "a", &ks), -EBADMSG);
        ASSERT_EQ(netcfg_killswitch_parse("tund-killswitch 2\nifname a\nend\n", "a", &ks),
                  -EBADMSG);
        ASSERT_EQ(netcfg_killswitch_parse(" tund-killswitch 1\nifname a\nend\n", "a", &ks),
                  -EBADMSG);
        ASSERT_EQ(netcfg_killswitch_parse("", "a", &ks), -EBADMSG);
        ASSERT_EQ(netcfg_killswitch_parse("\n\n", "a", &ks), -EBADMSG);
        /* Torn: no "end", or cut inside a line. */
        expect_bad("ifname a\nengine mark 1\n");
        expect_bad("ifname a\nengine mark 1\nen");
        expect_bad("ifname a\nengine mark 1\nendpoint 192.0.2.1/32 5");
        expect_bad("");
        /* No interface, an empty one, one too long for IFNAMSIZ. */
        expect_bad("engine mark 1\nend\n");
        expect_bad("ifname\nengine mark 1\nend\n");
        expect_bad("ifname abcdefghijklmnop\nend\n");
        expect_bad("ifname a b\nend\n");
        /* Unknown keywords, also ones followed by a valid prefix. */
        expect_bad("ifname a\nbogus 1\nend\n");
        expect_bad("ifname a\nroute 10.0.0.0/8\nend\n");
        expect_bad("ifname a\nEND\n");
        /* The engine: uid or mark, 32 bits. */
        expect_bad("ifname a\nengine gid 5\nend\n");
        expect_bad("ifname a\nengine uid\nend\n");
        expect_bad("ifname a\nengine uid -1\nend\n");
        expect_bad("ifname a\nengine mark 4294967296\nend\n");
        expect_bad("ifname a\nengine mark 0x10\nend\n");
        /* Flags are 0 or 1. */
        expect_bad("ifname a\nallow-lan 2\nend\n");
        expect_bad("ifname a\nown-lookups 1\nend\n"); /* no such line */
        /* Names: fully qualified, labels of 1-63, no final dot. */
        expect_bad("ifname a\nname vpn\nend\n");
        expect_bad("ifname a\nname vpn.example.com.\nend\n");
        expect_bad("ifname a\nname vpn..example\nend\n");
        expect_bad("ifname a\nname vpn.exa mple\nend\n");
        expect_bad("ifname a\nallow-lan\nend\n");
        expect_bad("ifname a\nallow-lan 1 1\nend\n");
        /* Prefixes. */
        expect_bad("ifname a\ndns 192.0.2.256/32\nend\n");
        expect_bad("ifname a\ndns banana\nend\n");
        expect_bad("ifname a\nbypass 10.0.0.0/33\nend\n");
        expect_bad("ifname a\nbypass 10.0.0.0/\nend\n");
        expect_bad("ifname a\nbypass 2001:db8::/129\nend\n");
        expect_bad("ifname a\nbypass /8\nend\n");
        expect_bad("ifname a\nbypass\nend\n");
        expect_bad("ifname a\ndns 192.0.2.1/32 53\nend\n");
        expect_bad("ifname a\nendpoint 2001:db8::1/129 51820\nend\n");
        expect_bad("ifname a\nendpoint 192.0.2.1.1 51820\nend\n");
        /* Ports: 1..65535, decimal, present. */
        expect_bad("ifname a\nendpoint 192.0.2.1/32 0\nend\n");
        expect_bad("ifname a\nendpoint 192.0.2.1/32 65536\nend\n");
        expect_bad("ifname a\nendpoint 192.0.2.1/32 -1\nend\n");
        expect_bad("ifname a\nendpoint 192.0.2.1/32 0x50\nend\n");
        expect_bad("ifname a\nendpoint 192.0.2.1/32\nend\n");
        expect_bad("ifname a\nendpoint 192.0.2.1/32 80 x\nend\n");
        /* More words than any line has. */
        expect_bad("ifname a\nendpoint 192.0.2.1/32 80 x y\nend\n");
}

TEST(spec_parse_profile_name) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch ks = {};
        const char *text = "tund-killswitch 1\nifname a\nengine mark 1\nend\n";

        ASSERT_EQ(netcfg_killswitch_parse(text, "abcdefghijklmnopqrstuvwxyz0123456", &ks),
                  -EINVAL); /* 33: no room for it in the chains' names */
        ASSERT_OK(netcfg_killswitch_parse(text, "abcdefghijklmnopqrstuvwxyz012345", &ks));
        ASSERT_STREQ(ks.profile, "abcdefghijklmnopqrstuvwxyz012345");
}

TEST(add_endpoint_dedups) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch ks = {};

        add_endpoint(&ks, "198.51.100.1", 51820);
        add_endpoint(&ks, "198.51.100.1", 51820);
        ASSERT_EQ(ks.n_endpoints, 1);
        add_endpoint(&ks, "198.51.100.1/24", 51820); /* the same host: an endpoint is one */
        ASSERT_EQ(ks.n_endpoints, 1);
        add_endpoint(&ks, "198.51.100.1", 51821); /* another port */
        ASSERT_EQ(ks.n_endpoints, 2);
        add_endpoint(&ks, "198.51.100.2", 51820); /* another address */
        ASSERT_EQ(ks.n_endpoints, 3);
        add_endpoint(&ks, "2001:db8::1", 51820);
        add_endpoint(&ks, "2001:db8::1/64", 51820);
        ASSERT_EQ(ks.n_endpoints, 4);
        /* The same 16 bytes, but another family. */
        add_endpoint(&ks, "::", 1);
        add_endpoint(&ks, "0.0.0.0", 1);
        ASSERT_EQ(ks.n_endpoints, 6);
        /* Every endpoint is a host prefix, whatever length it came with. */
        for (size_t i = 0; i < ks.n_endpoints; i++)
                ASSERT_EQ(ks.endpoints[i].addr.len,
                          ks.endpoints[i].addr.family == AF_INET ? 32 : 128);
        ASSERT_EQ(ks.endpoints[1].port, 51821);
}

/* ---- the spec directory (no kernel: load only) ---- */

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(text, f) >= 0);
        ASSERT_TRUE(fclose(f) == 0);
}

TEST(spec_dir_load) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {}, b = {};
        _cleanup_free_ char *text = NULL, *path = NULL, *err = NULL;
        char dir[] = "/tmp/tund-t-ks.XXXXXX";

        ASSERT_TRUE(mkdtemp(dir));
        spec_uid(&a);
        ASSERT_OK(netcfg_killswitch_format(&a, &text));
        ASSERT_TRUE(asprintf(&path, "%s/a.ks", dir) >= 0);
        write_file(path, text);
        ASSERT_OK(netcfg_killswitch_load(dir, "a", &b, &err));
        ASSERT_TRUE(!err);
        assert_same_spec(&a, &b);
        unlink(path);
        rmdir(dir);
}

TEST(spec_dir_list_and_exists) {
        char dir[] = "/tmp/tund-t-ks.XXXXXX", p[64];
        char **names = NULL;
        size_t n = 99;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_OK(netcfg_killswitch_list(dir, &names, &n));
        ASSERT_EQ(n, 0);
        strv_free(names);
        static const char *const files[] = { "work.ks", "home.ks",   ".killswitch.lock",
                                             ".x.ks",   "notes.txt", ".ks" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
                write_file(p, "x");
        }
        ASSERT_OK(netcfg_killswitch_list(dir, &names, &n));
        ASSERT_EQ(n, 2); /* sorted, without hidden files and other names */
        ASSERT_STREQ(names[0], "home");
        ASSERT_STREQ(names[1], "work");
        strv_free(names);
        ASSERT_TRUE(netcfg_killswitch_exists(dir, "work"));
        ASSERT_TRUE(!netcfg_killswitch_exists(dir, "notes"));
        ASSERT_TRUE(!netcfg_killswitch_exists(dir, "../work"));
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
                unlink(p);
        }
        rmdir(dir);
        ASSERT_EQ(netcfg_killswitch_list(dir, &names, &n), -ENOENT);
}

TEST(spec_dir_load_missing) {
        NetcfgKillswitch ks = {};
        char dir[] = "/tmp/tund-t-ks.XXXXXX";
        char *err = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_EQ(netcfg_killswitch_load(dir, "a", &ks, &err), -ENOENT);
        ASSERT_CONTAINS(err, "/a.ks");
        free(err);
        err = NULL;
        ASSERT_EQ(netcfg_killswitch_load("/nonexistent/tund", "a", &ks, NULL), -ENOENT);
        rmdir(dir);
}

TEST(spec_dir_load_refuses) {
        _cleanup_free_ char *path = NULL;
        NetcfgKillswitch ks = {};
        char dir[] = "/tmp/tund-t-ks.XXXXXX";
        char *err = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        /* A torn file is not a spec. */
        ASSERT_TRUE(asprintf(&path, "%s/a.ks", dir) >= 0);
        write_file(path, "tund-killswitch 1\nifname a\nengine mark 1\n");
        ASSERT_EQ(netcfg_killswitch_load(dir, "a", &ks, &err), -EBADMSG);
        ASSERT_CONTAINS(err, "is not a kill switch spec");
        free(err);
        err = NULL;
        /* Names that are no profile's (and would leave the directory). */
        ASSERT_EQ(netcfg_killswitch_load(dir, "", &ks, NULL), -EINVAL);
        ASSERT_EQ(netcfg_killswitch_load(dir, "../a", &ks, NULL), -EINVAL);
        ASSERT_EQ(netcfg_killswitch_load(dir, ".a", &ks, NULL), -EINVAL);
        ASSERT_EQ(netcfg_killswitch_load(dir, "abcdefghijklmnopqrstuvwxyz0123456", &ks, &err),
                  -EINVAL);
        ASSERT_CONTAINS(err, "abcdefghijklmnopqrstuvwxyz0123456");
        free(err);
        unlink(path);
        rmdir(dir);
}

/* ---- the nf_tables transaction, walked and parsed back ---- */

#define MAX_MSGS 2048
#define MAX_CHAINS 64

typedef struct TChain {
        char name[NETCFG_NFT_CHAIN_MAX];
        bool base;
        uint32_t hook, policy;
        int32_t prio;
        char type[16];
} TChain;

typedef struct TRule {
        char chain[NETCFG_NFT_CHAIN_MAX];
        char target[NETCFG_NFT_CHAIN_MAX]; /* a jump's */
        int verdict;                       /* NO_VERDICT: none */
        unsigned n_exprs;
        bool counter, skuid, mark;
} TRule;

typedef struct Walk {
        uint32_t seq_first;
        unsigned n_msgs, n_acked, n_rules;
        uint16_t types[MAX_MSGS]; /* nlmsg_type */
        TChain chains[MAX_CHAINS];
        size_t n_chains;
        TRule rules[MAX_MSGS];
} Walk;

static const TChain *find_chain(const Walk *w, const char *name) {
        for (size_t i = 0; i < w->n_chains; i++)
                if (streq(w->chains[i].name, name))
                        return &w->chains[i];
        return NULL;
}

static void walk_table(const struct nlmsghdr *nlh) {
        struct nftnl_table *t = nftnl_table_alloc();

        ASSERT_TRUE(t);
        ASSERT_OK(nftnl_table_nlmsg_parse(nlh, t));
        ASSERT_STREQ(nftnl_table_get_str(t, NFTNL_TABLE_NAME), NETCFG_NFT_TABLE);
        ASSERT_EQ(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
        /* Not NFT_TABLE_F_OWNER (nor dormant): the table outlives its writer. */
        ASSERT_EQ(nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS), 0);
        nftnl_table_free(t);
}

static void walk_chain(Walk *w, const struct nlmsghdr *nlh) {
        struct nftnl_chain *c = nftnl_chain_alloc();
        ASSERT_TRUE(c);
        ASSERT_OK(nftnl_chain_nlmsg_parse(nlh, c));
        ASSERT_TRUE(w->n_chains < MAX_CHAINS);
        TChain *t = &w->chains[w->n_chains++];

        ASSERT_STREQ(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NETCFG_NFT_TABLE);
        ASSERT_TRUE(strlen(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME)) < sizeof(t->name));
        snprintf(t->name, sizeof(t->name), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
        ASSERT_TRUE(find_chain(w, t->name) == t); /* created once */
        t->base = nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM);
        if (t->base) {
                t->hook = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
                ASSERT_TRUE(nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY));
                t->policy = nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY);
                t->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
                snprintf(t->type, sizeof(t->type), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE));
        } else
                ASSERT_TRUE(!nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY));
        nftnl_chain_free(c);
}

static void walk_rule(Walk *w, const struct nlmsghdr *nlh) {
        struct nftnl_rule *rule = nftnl_rule_alloc();
        ASSERT_TRUE(rule);
        ASSERT_OK(nftnl_rule_nlmsg_parse(nlh, rule));
        TRule *t = &w->rules[w->n_rules++];
        const char *chain = nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN);

        *t = (TRule){ .verdict = NO_VERDICT };
        ASSERT_STREQ(nftnl_rule_get_str(rule, NFTNL_RULE_TABLE), NETCFG_NFT_TABLE);
        ASSERT_TRUE(chain && strlen(chain) < sizeof(t->chain));
        snprintf(t->chain, sizeof(t->chain), "%s", chain);
        /* A rule goes into a chain this transaction already made. */
        if (!find_chain(w, chain))
                FAILF("a rule in chain %s before the chain", chain);

        struct nftnl_expr_iter *it = nftnl_expr_iter_create(rule);
        ASSERT_TRUE(it);
        for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
                const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
                t->n_exprs++;
                if (streq(name, "counter"))
                        t->counter = true;
                else if (streq(name, "meta")) {
                        uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
                        t->skuid |= key == NFT_META_SKUID;
                        t->mark |= key == NFT_META_MARK;
                } else if (streq(name, "immediate") &&
                           nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT) {
                        ASSERT_EQ(t->verdict, NO_VERDICT); /* one verdict, the last */
                        t->verdict = (int) nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
                        if (t->verdict == NFT_JUMP) {
                                const char *target = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
                                ASSERT_TRUE(target && strlen(target) < sizeof(t->target));
                                snprintf(t->target, sizeof(t->target), "%s", target);
                                if (!find_chain(w, target))
                                        FAILF("a jump to %s before the chain", target);
                        }
                } else
                        ASSERT_EQ(t->verdict, NO_VERDICT);
        }
        nftnl_expr_iter_destroy(it);
        ASSERT_TRUE(t->n_exprs > 0);
        nftnl_rule_free(rule);
}

/* Every message: a sane length, one seq each, in the buffer exactly; batch markers around
 * nf_tables messages of family inet, each of which asks for an ack. */
static void walk(const char *buf, size_t len, Walk *w) {
        size_t off = 0;

        *w = (Walk){};
        while (off < len) {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) (buf + off);
                const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);

                ASSERT_TRUE(len - off >= NLMSG_HDRLEN);
                ASSERT_TRUE(nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(struct nfgenmsg));
                ASSERT_TRUE(nlh->nlmsg_len <= 2048);
                ASSERT_TRUE(NLMSG_ALIGN(nlh->nlmsg_len) <= len - off);
                ASSERT_TRUE(nlh->nlmsg_flags & NLM_F_REQUEST);
                ASSERT_TRUE(w->n_msgs < MAX_MSGS);
                if (w->n_msgs == 0)
                        w->seq_first = nlh->nlmsg_seq;
                ASSERT_EQ(nlh->nlmsg_seq, (uint32_t) (w->seq_first + w->n_msgs));
                ASSERT_EQ(nlh->nlmsg_pid, 0);
                w->types[w->n_msgs++] = nlh->nlmsg_type;
                off += NLMSG_ALIGN(nlh->nlmsg_len);
                if (nlh->nlmsg_flags & NLM_F_ACK)
                        w->n_acked++;

                if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN ||
                    nlh->nlmsg_type == NFNL_MSG_BATCH_END) {
                        ASSERT_EQ(ntohs(nfg->res_id), NFNL_SUBSYS_NFTABLES);
                        ASSERT_TRUE(!(nlh->nlmsg_flags & NLM_F_ACK));
                        continue;
                }
                ASSERT_EQ(NFNL_SUBSYS_ID(nlh->nlmsg_type), NFNL_SUBSYS_NFTABLES);
                ASSERT_EQ(nfg->nfgen_family, NFPROTO_INET);
                ASSERT_TRUE(nlh->nlmsg_flags & NLM_F_ACK);
                switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
                case NFT_MSG_NEWTABLE:
                        /* Without NLM_F_EXCL: the first "add" must not fail on a table
                         * that is already there. */
                        ASSERT_TRUE(nlh->nlmsg_flags & NLM_F_CREATE);
                        ASSERT_TRUE(!(nlh->nlmsg_flags & NLM_F_EXCL));
                        walk_table(nlh);
                        break;
                case NFT_MSG_DELTABLE:
                        walk_table(nlh);
                        break;
                case NFT_MSG_NEWCHAIN:
                        walk_chain(w, nlh);
                        break;
                case NFT_MSG_NEWRULE:
                        ASSERT_TRUE(nlh->nlmsg_flags & NLM_F_APPEND);
                        walk_rule(w, nlh);
                        break;
                default:
                        FAILF("unexpected message type 0x%x", nlh->nlmsg_type);
                }
        }
        ASSERT_EQ(off, len);
        ASSERT_TRUE(w->n_msgs >= 2);
        ASSERT_EQ(w->types[0], NFNL_MSG_BATCH_BEGIN);
        ASSERT_EQ(w->types[w->n_msgs - 1], NFNL_MSG_BATCH_END);
        for (unsigned i = 1; i + 1 < w->n_msgs; i++)
                ASSERT_TRUE(w->types[i] != NFNL_MSG_BATCH_BEGIN &&
                            w->types[i] != NFNL_MSG_BATCH_END);
}

/* Builds and walks; the counts netcfg_nft_build() returns are those of the buffer. */
static void build(const NetcfgKillswitch *const *ks, size_t n, Walk *w, char **ret_buf,
                  size_t *ret_len, unsigned *ret_rules) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        unsigned acks = 0, rules = 0;

        ASSERT_OK(netcfg_nft_build(ks, n, &buf, &len, &acks, &rules));
        ASSERT_TRUE(buf && len > 0);
        walk(buf, len, w);
        ASSERT_EQ(acks, w->n_acked);
        ASSERT_EQ(rules, w->n_rules);
        if (ret_rules)
                *ret_rules = rules;
        if (ret_buf) {
                *ret_buf = TAKE_PTR(buf);
                *ret_len = len;
        }
}

static unsigned rules_in(const Walk *w, const char *chain_prefix) {
        unsigned n = 0;
        for (unsigned i = 0; i < w->n_rules; i++)
                n += strncmp(w->rules[i].chain, chain_prefix, strlen(chain_prefix)) == 0;
        return n;
}

static bool any_rule(const Walk *w, const char *chain, bool skuid, bool mark) {
        for (unsigned i = 0; i < w->n_rules; i++)
                if (streq(w->rules[i].chain, chain) && (!skuid || w->rules[i].skuid) &&
                    (!mark || w->rules[i].mark))
                        return true;
        return false;
}

static const struct {
        const char *base, *suffix;
        uint32_t hook;
} hooks[] = {
        { "input", "in", NF_INET_LOCAL_IN },
        { "output", "out", NF_INET_LOCAL_OUT },
        { "forward", "fwd", NF_INET_FORWARD },
};

/* What every ruleset for these profiles has. */
static void check_ruleset(const Walk *w, const char *const *profiles, size_t n) {
        unsigned jumps = 0;

        ASSERT_TRUE(w->n_msgs > 5);
        ASSERT_EQ(w->types[1], NFT_TYPE(NFT_MSG_NEWTABLE));
        ASSERT_EQ(w->types[2], NFT_TYPE(NFT_MSG_DELTABLE));
        ASSERT_EQ(w->types[3], NFT_TYPE(NFT_MSG_NEWTABLE));
        for (unsigned i = 4; i < w->n_msgs; i++)
                ASSERT_TRUE(w->types[i] != NFT_TYPE(NFT_MSG_NEWTABLE) &&
                            w->types[i] != NFT_TYPE(NFT_MSG_DELTABLE));
        ASSERT_EQ(w->n_chains, ELEMENTSOF(hooks) * (1 + n));

        for (size_t h = 0; h < ELEMENTSOF(hooks); h++) {
                const TChain *c = find_chain(w, hooks[h].base);
                if (!c)
                        FAILF("no base chain %s", hooks[h].base);
                ASSERT_TRUE(c->base);
                ASSERT_EQ(c->hook, hooks[h].hook);
                ASSERT_EQ(c->policy, NF_DROP);
                ASSERT_EQ(c->prio, 0);
                ASSERT_STREQ(c->type, "filter");

                for (size_t p = 0; p < n; p++) {
                        char name[NETCFG_NFT_CHAIN_MAX];
                        unsigned found = 0;
                        snprintf(name, sizeof(name), "ks-%s-%s", profiles[p], hooks[h].suffix);
                        c = find_chain(w, name);
                        if (!c)
                                FAILF("no chain %s", name);
                        ASSERT_TRUE(!c->base);
                        ASSERT_TRUE(rules_in(w, name) > 0);
                        /* The base chain jumps to it, once. */
                        for (unsigned i = 0; i < w->n_rules; i++)
                                found += streq(w->rules[i].chain, hooks[h].base) &&
                                         w->rules[i].verdict == NFT_JUMP &&
                                         streq(w->rules[i].target, name);
                        ASSERT_EQ(found, 1);
                }

                /* A base chain's last rule counts what its policy then drops. */
                const TRule *last = NULL;
                for (unsigned i = 0; i < w->n_rules; i++)
                        if (streq(w->rules[i].chain, hooks[h].base))
                                last = &w->rules[i];
                ASSERT_TRUE(last && last->counter);
                ASSERT_EQ(last->verdict, NO_VERDICT);
                ASSERT_EQ(last->n_exprs, 1);
        }
        for (unsigned i = 0; i < w->n_rules; i++)
                if (w->rules[i].verdict == NFT_JUMP) {
                        jumps++;
                        ASSERT_TRUE(!find_chain(w, w->rules[i].chain)->base ||
                                    strncmp(w->rules[i].target, "ks-", 3) == 0);
                }
        ASSERT_EQ(jumps, ELEMENTSOF(hooks) * n);
}

TEST(nft_build_none) {
        _cleanup_free_ Walk *w = calloc(1, sizeof(*w));
        unsigned rules = 1;

        ASSERT_TRUE(w);
        build(NULL, 0, w, NULL, NULL, &rules);
        /* Just the table's removal ("add" first, so that "delete" finds one). */
        ASSERT_EQ(w->n_msgs, 4);
        ASSERT_EQ(w->types[1], NFT_TYPE(NFT_MSG_NEWTABLE));
        ASSERT_EQ(w->types[2], NFT_TYPE(NFT_MSG_DELTABLE));
        ASSERT_EQ(w->n_acked, 2);
        ASSERT_EQ(rules, 0);
        ASSERT_EQ(w->n_chains, 0);
}

TEST(nft_build_one) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {};
        _cleanup_free_ Walk *w = calloc(1, sizeof(*w));
        const NetcfgKillswitch *specs[] = { &a };
        const char *const names[] = { "a" };

        ASSERT_TRUE(w);
        spec_uid(&a);
        build(specs, 1, w, NULL, NULL, NULL);
        check_ruleset(w, names, 1);
        /* The engine by its user: its UDP. */
        ASSERT_TRUE(any_rule(w, "ks-a-out", true, false));
        ASSERT_TRUE(!any_rule(w, "ks-a-out", false, true));
}

TEST(nft_build_two) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {}, b = {};
        _cleanup_free_ Walk *w = calloc(1, sizeof(*w)), *wa = calloc(1, sizeof(*wa)),
                            *wb = calloc(1, sizeof(*wb));
        const NetcfgKillswitch *specs[] = { &a, &b };
        const char *const names[] = { "a", "b" };
        unsigned rules, rules_a, rules_b;

        ASSERT_TRUE(w && wa && wb);
        spec_uid(&a);
        spec_mark(&b);
        build(specs, 2, w, NULL, NULL, &rules);
        check_ruleset(w, names, 2);
        /* The engine by its fwmark: no rule of b's is about a user. */
        ASSERT_TRUE(any_rule(w, "ks-b-out", false, true));
        ASSERT_TRUE(!any_rule(w, "ks-b-out", true, false));
        ASSERT_TRUE(!any_rule(w, "ks-b-in", true, false));

        /* A profile's chains do not depend on the others; the base chains differ by the
         * jumps only. */
        build(specs, 1, wa, NULL, NULL, &rules_a);
        build(specs + 1, 1, wb, NULL, NULL, &rules_b);
        ASSERT_EQ(rules_in(w, "ks-a-"), rules_in(wa, "ks-a-"));
        ASSERT_EQ(rules_in(w, "ks-b-"), rules_in(wb, "ks-b-"));
        ASSERT_EQ(rules_in(wa, "ks-b-"), 0);
        ASSERT_EQ(rules, rules_a + rules_in(wb, "ks-b-") + ELEMENTSOF(hooks));
        ASSERT_EQ(rules, rules_b + rules_in(wa, "ks-a-") + ELEMENTSOF(hooks));
}

/* ---- reading the table back: GETRULE dump replies ---- */

#define DUMP_SEQ 4242U
#define DUMP_PORTID 77U

/* A dump reply as the kernel would send it: the batch's rules [from, to) as NEWRULE
 * messages with NLM_F_MULTI and the request's seq and portid, the base chains' counters
 * with packets (input 1, output 20, forward 300), then NLMSG_DONE if done. */
static void make_dump(const char *batch, size_t batch_len, unsigned from, unsigned to, bool done,
                      char **ret, size_t *ret_len) {
        char *out = calloc(1, batch_len * 2 + 4096);
        size_t off = 0;
        unsigned i = 0;
        int left = (int) batch_len;

        ASSERT_TRUE(out);
        for (const struct nlmsghdr *h = (const struct nlmsghdr *) batch; mnl_nlmsg_ok(h, left);
             h = mnl_nlmsg_next(h, &left)) {
                if (h->nlmsg_type != NFT_TYPE(NFT_MSG_NEWRULE))
                        continue;
                if (i++ < from || i > to)
                        continue;
                struct nftnl_rule *rule = nftnl_rule_alloc();
                ASSERT_TRUE(rule);
                ASSERT_OK(nftnl_rule_nlmsg_parse(h, rule));
                const char *chain = nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN);
                uint64_t packets = streq(chain, "input")     ? 1
                                   : streq(chain, "output")  ? 20
                                   : streq(chain, "forward") ? 300
                                                             : 0;
                struct nftnl_expr_iter *it = nftnl_expr_iter_create(rule);
                ASSERT_TRUE(it);
                for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e;
                     e = nftnl_expr_iter_next(it))
                        if (packets > 0 &&
                            streq(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter")) {
                                nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, packets);
                                nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, packets * 1000);
                        }
                nftnl_expr_iter_destroy(it);
                nftnl_rule_set_u64(rule, NFTNL_RULE_HANDLE, i);
                struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(out + off, NFT_MSG_NEWRULE,
                                                             NFPROTO_INET, NLM_F_MULTI, DUMP_SEQ);
                nlh->nlmsg_flags = NLM_F_MULTI;
                nlh->nlmsg_pid = DUMP_PORTID;
                nftnl_rule_nlmsg_build_payload(nlh, rule);
                off += NLMSG_ALIGN(nlh->nlmsg_len);
                ASSERT_TRUE(off + 2048 < batch_len * 2 + 4096);
                nftnl_rule_free(rule);
        }
        if (done) {
                struct nlmsghdr *nlh = mnl_nlmsg_put_header(out + off);
                nlh->nlmsg_type = NLMSG_DONE;
                nlh->nlmsg_flags = NLM_F_MULTI;
                nlh->nlmsg_seq = DUMP_SEQ;
                nlh->nlmsg_pid = DUMP_PORTID;
                *(int *) mnl_nlmsg_put_extra_header(nlh, sizeof(int)) = 0;
                off += NLMSG_ALIGN(nlh->nlmsg_len);
        }
        *ret = out;
        *ret_len = off;
}

typedef struct Dump {
        Walk *w;
        char *batch;
        size_t batch_len;
        unsigned rules;
} Dump;

static void dump_done(Dump *d) {
        free(d->w);
        free(d->batch);
}

static void dump_build(Dump *d, NetcfgKillswitch *a, NetcfgKillswitch *b) {
        const NetcfgKillswitch *specs[] = { a, b };

        spec_uid(a);
        spec_mark(b);
        d->w = calloc(1, sizeof(*d->w));
        ASSERT_TRUE(d->w);
        build(specs, 2, d->w, &d->batch, &d->batch_len, &d->rules);
}

TEST(nft_parse_dump) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {}, b = {};
        _cleanup_(dump_done) Dump d = {};
        _cleanup_free_ char *buf = NULL;
        size_t len;

        dump_build(&d, &a, &b);
        make_dump(d.batch, d.batch_len, 0, UINT32_MAX, true, &buf, &len);

        NetcfgNftReadback rb = { .prefix = "ks-a-" };
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.rules, d.rules);
        ASSERT_EQ(rb.profile_rules, rules_in(d.w, "ks-a-"));
        /* What the policy dropped going out and through: output's and forward's counters
         * (input's, what was dropped coming in, is not summed). */
        ASSERT_EQ(rb.dropped, 320);

        rb = (NetcfgNftReadback){ .prefix = "ks-b-" };
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.profile_rules, rules_in(d.w, "ks-b-"));
        rb = (NetcfgNftReadback){ .prefix = "ks-" };
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.profile_rules, rules_in(d.w, "ks-a-") + rules_in(d.w, "ks-b-"));
        rb = (NetcfgNftReadback){ .prefix = "ks-c-" };
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.profile_rules, 0);
        ASSERT_EQ(rb.rules, d.rules);
        rb = (NetcfgNftReadback){};
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.profile_rules, 0);
        ASSERT_EQ(rb.rules, d.rules);
        /* seq and portid 0: any. */
        rb = (NetcfgNftReadback){};
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, 0, 0, &rb), 0);
        ASSERT_EQ(rb.rules, d.rules);
}

/* A dump comes in several buffers: 1 until NLMSG_DONE, the counts add up. */
TEST(nft_parse_dump_in_parts) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {}, b = {};
        _cleanup_(dump_done) Dump d = {};
        _cleanup_free_ char *buf1 = NULL, *buf2 = NULL, *buf3 = NULL;
        size_t len1, len2, len3;
        unsigned half;

        dump_build(&d, &a, &b);
        half = d.rules / 2;
        make_dump(d.batch, d.batch_len, 0, half, false, &buf1, &len1);
        make_dump(d.batch, d.batch_len, half, UINT32_MAX, true, &buf2, &len2);
        make_dump(d.batch, d.batch_len, 0, 0, true, &buf3, &len3);

        NetcfgNftReadback rb = { .prefix = "ks-a-" };
        ASSERT_EQ(netcfg_nft_parse_rules(buf1, len1, DUMP_SEQ, DUMP_PORTID, &rb), 1);
        ASSERT_EQ(rb.rules, half);
        ASSERT_EQ(netcfg_nft_parse_rules(buf2, len2, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.rules, d.rules);
        ASSERT_EQ(rb.profile_rules, rules_in(d.w, "ks-a-"));
        ASSERT_EQ(rb.dropped, 320);
        /* Just NLMSG_DONE: an empty dump. */
        rb = (NetcfgNftReadback){ .prefix = "ks-a-" };
        ASSERT_EQ(len3, NLMSG_ALIGN(NLMSG_LENGTH(sizeof(int))));
        ASSERT_EQ(netcfg_nft_parse_rules(buf3, len3, DUMP_SEQ, DUMP_PORTID, &rb), 0);
        ASSERT_EQ(rb.rules, 0);
}

/* Another request's answer (seq) or another socket's (portid) is not ours. */
TEST(nft_parse_dump_checks_seq_portid) {
        _cleanup_(netcfg_killswitch_done) NetcfgKillswitch a = {}, b = {};
        _cleanup_(dump_done) Dump d = {};
        _cleanup_free_ char *buf = NULL;
        size_t len;
        NetcfgNftReadback rb = {};

        dump_build(&d, &a, &b);
        make_dump(d.batch, d.batch_len, 0, 3, true, &buf, &len);
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ + 1, DUMP_PORTID, &rb), -EBADMSG);
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID + 1, &rb), -EBADMSG);
        rb = (NetcfgNftReadback){};
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, 0, &rb), 0);
        ASSERT_EQ(rb.rules, 3);
}

static size_t put_error(char *buf, int error) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));

        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_seq = DUMP_SEQ;
        nlh->nlmsg_pid = DUMP_PORTID;
        e->error = error;
        e->msg = (struct nlmsghdr){ .nlmsg_len = sizeof(struct nlmsghdr) + 4,
                                    .nlmsg_type = NFT_TYPE(NFT_MSG_GETRULE),
                                    .nlmsg_seq = DUMP_SEQ };
        return nlh->nlmsg_len;
}

TEST(nft_parse_errors) {
        uint32_t buf[256] = {};
        NetcfgNftReadback rb = {};
        size_t len;

        /* No such table: no switch. */
        len = put_error((char *) buf, -ENOENT);
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), -ENOENT);
        /* Any other refusal is that error: tundctl doctor tells EPERM (no CAP_NET_ADMIN). */
        len = put_error((char *) buf, -EPERM);
        ASSERT_EQ(netcfg_nft_parse_rules(buf, len, DUMP_SEQ, DUMP_PORTID, &rb), -EPERM);
        ASSERT_EQ(rb.rules, 0);
}

/* A NEWRULE message, its attributes to be added; in a zeroed buffer. */
static struct nlmsghdr *rule_msg(uint32_t *buf, size_t size, const char *chain) {
        memset(buf, 0, size);
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr((char *) buf, NFT_MSG_NEWRULE, NFPROTO_INET,
                                                     NLM_F_MULTI, DUMP_SEQ);
        if (chain)
                mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
        return nlh;
}

/* A counter expression whose packets attribute is len bytes. */
static void put_counter(struct nlmsghdr *nlh, const char *name, size_t len) {
        const uint64_t v = htobe64(5);
        struct nlattr *exprs = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
        struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
        if (name)
                mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name);
        struct nlattr *data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
        mnl_attr_put(nlh, NFTA_COUNTER_PACKETS, len, &v);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, elem);
        mnl_attr_nest_end(nlh, exprs);
}

static int parse_one(const struct nlmsghdr *nlh, NetcfgNftReadback *rb) {
        *rb = (NetcfgNftReadback){ .prefix = "ks-a-" };
        return netcfg_nft_parse_rules(nlh, nlh->nlmsg_len, 0, 0, rb);
}

/* What the kernel would never send is -EBADMSG, not a crash (nor an exit: libnftnl's own
 * parsers end the process on an attribute of an unexpected size). */
TEST(nft_parse_garbage) {
        uint32_t buf[512];
        struct nlmsghdr *nlh;
        NetcfgNftReadback rb;
        uint32_t v = 1;

        /* The baseline the cases below spoil: a counter of 5 packets in output. */
        nlh = rule_msg(buf, sizeof(buf), "output");
        put_counter(nlh, "counter", 8);
        ASSERT_EQ(parse_one(nlh, &rb), 1);
        ASSERT_EQ(rb.rules, 1);
        ASSERT_EQ(rb.dropped, 5);

        /* No chain, a chain of no bytes, one without its NUL. */
        nlh = rule_msg(buf, sizeof(buf), NULL);
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);
        nlh = rule_msg(buf, sizeof(buf), NULL);
        mnl_attr_put(nlh, NFTA_RULE_CHAIN, 0, NULL);
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);
        nlh = rule_msg(buf, sizeof(buf), NULL);
        mnl_attr_put(nlh, NFTA_RULE_CHAIN, 6, "output");
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);

        /* Packets of 2 bytes; an expression without a name; expressions that are no list. */
        nlh = rule_msg(buf, sizeof(buf), "output");
        put_counter(nlh, "counter", 2);
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);
        nlh = rule_msg(buf, sizeof(buf), "forward");
        put_counter(nlh, NULL, 8);
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);
        nlh = rule_msg(buf, sizeof(buf), "forward");
        mnl_attr_put_u16(nlh, NFTA_RULE_EXPRESSIONS, 1);
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);

        /* What it does not read it does not judge: a table name of no bytes and a handle of
         * 4 (libnftnl exits on both). */
        nlh = rule_msg(buf, sizeof(buf), "ks-a-out");
        mnl_attr_put(nlh, NFTA_RULE_TABLE, 0, NULL);
        mnl_attr_put(nlh, NFTA_RULE_HANDLE, sizeof(v), &v);
        ASSERT_EQ(parse_one(nlh, &rb), 1);
        ASSERT_EQ(rb.profile_rules, 1);

        /* A header and nothing else, not even the nfgenmsg. */
        nlh = rule_msg(buf, sizeof(buf), NULL);
        nlh->nlmsg_len = NLMSG_HDRLEN;
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);

        /* A length past INT_MAX (libmnl's mnl_nlmsg_ok() takes it for a fitting one), and
         * a second message that runs past the buffer. */
        nlh = rule_msg(buf, sizeof(buf), "output");
        nlh->nlmsg_len = 0x80000010U;
        ASSERT_EQ(netcfg_nft_parse_rules(buf, 64, 0, 0, &rb), -EBADMSG);
        nlh = rule_msg(buf, sizeof(buf), "output");
        memcpy((char *) buf + NLMSG_ALIGN(nlh->nlmsg_len), nlh, NLMSG_HDRLEN);
        ASSERT_EQ(
                netcfg_nft_parse_rules(buf, NLMSG_ALIGN(nlh->nlmsg_len) + NLMSG_HDRLEN, 0, 0, &rb),
                -EBADMSG);

        /* Another kind of message in a rule dump. */
        nlh = rule_msg(buf, sizeof(buf), "output");
        nlh->nlmsg_type = NFT_TYPE(NFT_MSG_NEWCHAIN);
        ASSERT_EQ(parse_one(nlh, &rb), -EBADMSG);

        /* Random bytes, the first message's length near the buffer's. */
        srand(18);
        for (int round = 0; round < 2000; round++) {
                for (size_t i = 0; i < ELEMENTSOF(buf); i++)
                        buf[i] = (uint32_t) rand();
                size_t len = (size_t) rand() % sizeof(buf);
                buf[0] = (uint32_t) len - (uint32_t) (rand() % 64);
                if (round % 2)
                        buf[1] = NFT_TYPE(NFT_MSG_NEWRULE) | (buf[1] & 0xffff0000);
                rb = (NetcfgNftReadback){ .prefix = "ks-a-" };
                ASSERT_TRUE(netcfg_nft_parse_rules(buf, len, 0, 0, &rb) <= 1);
        }
}
