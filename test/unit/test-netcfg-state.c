/* The applied state: text round trip, file save/load, and a parser that accepts exactly the
 * format and rejects everything else (torn writes, junk, out-of-range numbers). */
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <sys/stat.h>

#include "netcfg-internal.h"
#include "tests.h"

static NetcfgContext *sample(void) {
        NetcfgContext *c = calloc(1, sizeof(*c));
        static NetcfgPrefix servers[2];
        NetcfgDns d = { .servers = servers,
                        .n_servers = 2,
                        .n_search = 1,
                        .n_routing = 1,
                        .full = true,
                        .default_route = false };
        char *search[] = { "corp.example" }, *routing[] = { "internal.example" };

        ASSERT_OK(netcfg_prefix_from_string("192.0.2.53", &servers[0]));
        ASSERT_OK(netcfg_prefix_from_string("2001:db8::53", &servers[1]));
        d.search = search;
        d.routing = routing;
        ASSERT_OK(netcfg_dns_copy(&d, &c->dns));
        snprintf(c->ifname, sizeof(c->ifname), "tund-work");
        c->ifindex = 7;
        c->mtu_before = 1500;
        c->mtu_set = 1380;
        c->set_up = true;
        c->applied = true;
        c->dns_backend = NETCFG_DNS_RESOLVED;
        c->obj.addresses = calloc(2, sizeof(NetcfgAddress));
        c->obj.routes = calloc(3, sizeof(NetcfgRoute));
        c->obj.rules = calloc(2, sizeof(NetcfgRule));
        ASSERT_OK(netcfg_prefix_from_string("192.0.2.2/24", &c->obj.addresses[0].prefix));
        ASSERT_OK(netcfg_prefix_from_string("2001:db8::2/64", &c->obj.addresses[1].prefix));
        c->obj.addresses[0].ifindex = c->obj.addresses[1].ifindex = 7;
        c->obj.n_addresses = 2;
        ASSERT_OK(netcfg_prefix_from_string("0.0.0.0/0", &c->obj.routes[0].dst));
        ASSERT_OK(netcfg_prefix_from_string("203.0.113.7/32", &c->obj.routes[1].dst));
        ASSERT_OK(netcfg_prefix_from_string("2001:db8:1::/48", &c->obj.routes[2].dst));
        c->obj.routes[0] = (NetcfgRoute){ c->obj.routes[0].dst, 29813, RTN_UNICAST, 116, 7 };
        c->obj.routes[1] = (NetcfgRoute){ c->obj.routes[1].dst, 29813, RTN_THROW, 116, 0 };
        c->obj.routes[2] = (NetcfgRoute){ c->obj.routes[2].dst, 254, RTN_UNICAST, 116, 7 };
        netcfg_routes_sort(c->obj.routes, 3);
        c->obj.n_routes = 3;
        c->obj.rules[0] = (NetcfgRule){ AF_INET, 21700, 254, 0, false, 0, 116, false, 0 };
        c->obj.rules[1] = (NetcfgRule){ AF_INET6, 21701, 29813, 0, true, -1, 116, true, 991 };
        c->obj.n_rules = 2;
        return c;
}

static void assert_same(const NetcfgContext *a, const NetcfgContext *b) {
        ASSERT_STREQ(a->ifname, b->ifname);
        ASSERT_EQ(a->ifindex, b->ifindex);
        ASSERT_EQ(a->mtu_before, b->mtu_before);
        ASSERT_EQ(a->mtu_set, b->mtu_set);
        ASSERT_EQ(a->set_up, b->set_up);
        ASSERT_EQ(a->dns_backend, b->dns_backend);
        ASSERT_EQ(a->obj.n_addresses, b->obj.n_addresses);
        ASSERT_EQ(a->obj.n_routes, b->obj.n_routes);
        ASSERT_EQ(a->obj.n_rules, b->obj.n_rules);
        for (size_t i = 0; i < a->obj.n_addresses; i++)
                ASSERT_TRUE(netcfg_address_equal(&a->obj.addresses[i], &b->obj.addresses[i]));
        for (size_t i = 0; i < a->obj.n_routes; i++)
                ASSERT_TRUE(netcfg_route_equal(&a->obj.routes[i], &b->obj.routes[i]));
        for (size_t i = 0; i < a->obj.n_rules; i++)
                ASSERT_TRUE(netcfg_rule_equal(&a->obj.rules[i], &b->obj.rules[i]));
        ASSERT_EQ(a->dns.n_servers, b->dns.n_servers);
        ASSERT_TRUE(memcmp(a->dns.servers, b->dns.servers,
                           a->dns.n_servers * sizeof(NetcfgPrefix)) == 0);
        ASSERT_STREQ(a->dns.search[0], b->dns.search[0]);
        ASSERT_STREQ(a->dns.routing[0], b->dns.routing[0]);
        ASSERT_EQ(a->dns.full, b->dns.full);
        ASSERT_EQ(a->dns.default_route, b->dns.default_route);
}

TEST(text_round_trip) {
        _cleanup_netcfg_ NetcfgContext *a = sample(), *b = calloc(1, sizeof(*b));
        char *text = NULL, *text2 = NULL;

        ASSERT_OK(netcfg_state_format(a, &text));
        ASSERT_CONTAINS(text, "tund-netcfg-state 1\nlink tund-work 7\n");
        ASSERT_CONTAINS(text, "rule 6 21701 29813 0 1 -1 991\n");
        ASSERT_CONTAINS(text, "rule 4 21700 254 0 0 0 -1\n");
        ASSERT_CONTAINS(text, "route 203.0.113.7/32 29813 9 0\n");
        ASSERT_OK(netcfg_state_parse(b, text, NULL));
        ASSERT_TRUE(b->applied);
        assert_same(a, b);
        ASSERT_OK(netcfg_state_format(b, &text2));
        ASSERT_STREQ(text, text2);
        free(text), free(text2);
}

/* A state written before rules had a uid (seven words) still loads: an upgrade must revert
 * what the previous version applied. */
TEST(old_rule_line) {
        _cleanup_netcfg_ NetcfgContext *b = calloc(1, sizeof(*b));
        ASSERT_OK(netcfg_state_parse(b,
                                     "tund-netcfg-state 1\nlink tund-work 7\n"
                                     "rule 6 21701 29813 29813 1 -1\nend\n",
                                     NULL));
        ASSERT_EQ(b->obj.n_rules, 1u);
        ASSERT_EQ(b->obj.rules[0].fwmark, 29813u);
        ASSERT_TRUE(!b->obj.rules[0].uid_set);
}

TEST(file_round_trip) {
        _cleanup_netcfg_ NetcfgContext *a = sample(), *b = NULL;
        char dir[] = "/tmp/tund-t-state.XXXXXX", path[64];
        struct stat st;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/tund-work.state", dir);
        ASSERT_OK(netcfg_state_save(a, path, NULL));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_mode & 0777, 0600);
        ASSERT_OK(netcfg_state_save(a, path, NULL)); /* replaces atomically */
        ASSERT_OK(netcfg_state_load(&b, path, NULL, NULL));
        assert_same(a, b);
        unlink(path);
        rmdir(dir);
}

TEST(load_missing_file) {
        NetcfgContext *b = NULL;
        char *err = NULL;

        ASSERT_EQ(netcfg_state_load(&b, "/nonexistent/tund.state", NULL, &err), -ENOENT);
        ASSERT_CONTAINS(err, "reading state /nonexistent/tund.state");
        free(err);
}

static void expect_bad(const char *text, const char *msg) {
        /* A failed parse leaves what it had read in c: netcfg_free() takes it. */
        _cleanup_netcfg_ NetcfgContext *c = calloc(1, sizeof(*c));
        char *err = NULL;

        ASSERT_TRUE(netcfg_state_parse(c, text, &err) < 0);
        ASSERT_CONTAINS(err, msg);
        free(err);
}

TEST(parser_rejects) {
        expect_bad("", "incomplete");
        expect_bad("tund-netcfg-state 2\nlink a 1\nend\n", "not a tund netcfg state");
        expect_bad("tund-netcfg-state 1\nlink a 1\n", "incomplete"); /* torn */
        expect_bad("tund-netcfg-state 1\nend\n", "incomplete");      /* no link */
        expect_bad("tund-netcfg-state 1\nlink a 1\nend\nroute 10.0.0.0/8 254 1 1\n", "after");
        expect_bad("tund-netcfg-state 1\nlink a 1\nbogus 1\nend\n", "line 3 is invalid");
        expect_bad("tund-netcfg-state 1\nlink a 0\nend\n", "line 2");
        expect_bad("tund-netcfg-state 1\nlink abcdefghijklmnopq 1\nend\n", "line 2");
        expect_bad("tund-netcfg-state 1\nlink a 1\nroute 10.0.0.0/33 254 1 1\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\nroute 10.0.0.0/8 254 99 1\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\nroute 10.0.0.0/8 0x10 1 1\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\nroute 10.0.0.0/8 254 1\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\nrule 5 1 1 0 0 -1\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\nrule 4 1 1 0 2 -1\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\nmtu -1 0\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\ndns bind\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\ndns-search ~x\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\ndns-server 10.0.0.0/8\nend\n", "line 3");
        expect_bad("tund-netcfg-state 1\nlink a 1\naddress 10.0.0.1/8 1 extra\nend\n", "line 3");
}
