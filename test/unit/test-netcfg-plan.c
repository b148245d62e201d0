/* From NetworkSettings to a plan: validation, routing scheme (main vs policy table, throw
 * routes, rules), and the DNS arguments given to resolved and resolvconf. */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "netcfg-internal.h"
#include "tests.h"

#define MAXP 16
typedef struct Settings {
        Tund__NetworkSettings s;
        Tund__IpPrefix p[3][MAXP];
        Tund__IpPrefix *pp[3][MAXP];
        uint8_t bytes[3][MAXP][16];
} Settings;

static void add(Settings *st, int list, const char *s) {
        size_t *n = list == 0   ? &st->s.n_addresses
                    : list == 1 ? &st->s.n_routes
                                : &st->s.n_excluded_routes;
        Tund__IpPrefix *p = &st->p[list][*n];
        char host[64];
        const char *slash = strchr(s, '/');

        tund__ip_prefix__init(p);
        snprintf(host, sizeof(host), "%.*s", (int) (slash - s), s);
        p->address.len = inet_pton(AF_INET, host, st->bytes[list][*n]) == 1 ? 4 : 16;
        if (p->address.len == 16)
                ASSERT_EQ(inet_pton(AF_INET6, host, st->bytes[list][*n]), 1);
        p->address.data = st->bytes[list][*n];
        p->prefix_len = (uint32_t) atoi(slash + 1);
        st->pp[list][*n] = p;
        (*n)++;
        st->s.addresses = st->pp[0];
        st->s.routes = st->pp[1];
        st->s.excluded_routes = st->pp[2];
}

static Settings *settings_new(void) {
        Settings *st = calloc(1, sizeof(*st));
        tund__network_settings__init(&st->s);
        return st;
}

static const NetcfgPlanParams params = { .ifindex = 5,
                                         .table = NETCFG_TABLE_DEFAULT,
                                         .rule_priority = NETCFG_RULE_PRIO_MIN };

static const NetcfgRoute *find_route(const NetcfgPlan *p, const char *dst) {
        NetcfgPrefix want;
        ASSERT_OK(netcfg_prefix_from_string(dst, &want));
        for (size_t i = 0; i < p->obj.n_routes; i++)
                if (p->obj.routes[i].dst.family == want.family &&
                    p->obj.routes[i].dst.len == want.len &&
                    memcmp(p->obj.routes[i].dst.addr, want.addr, 16) == 0)
                        return &p->obj.routes[i];
        FAILF("no route %s in the plan", dst);
}

TEST(split_routes_go_to_main) {
        _cleanup_free_ Settings *st = settings_new();
        NetcfgPlan p;

        add(st, 0, "192.0.2.2/24");
        add(st, 1, "198.51.100.0/24");
        add(st, 1, "2001:db8:1::/48");
        add(st, 1, "198.51.100.0/24"); /* listed twice */
        ASSERT_OK(netcfg_plan_build(&st->s, &params, &p, NULL));
        ASSERT_EQ(p.obj.n_routes, 2);
        ASSERT_EQ(p.obj.n_rules, 0);
        ASSERT_EQ(p.table, 254);
        ASSERT_EQ(p.fwmark, 0);
        const NetcfgRoute *r = find_route(&p, "198.51.100.0/24");
        ASSERT_EQ(r->table, 254);
        ASSERT_EQ(r->oif, 5);
        ASSERT_EQ(r->type, RTN_UNICAST);
        ASSERT_EQ(r->protocol, NETCFG_RTPROT_TUND);
        ASSERT_EQ(p.obj.n_addresses, 1);
        ASSERT_EQ(p.obj.addresses[0].ifindex, 5);
        netcfg_plan_done(&p);
}

TEST(full_tunnel_uses_policy_table_and_rules) {
        _cleanup_free_ Settings *st = settings_new();
        NetcfgPlan p;

        add(st, 1, "0.0.0.0/0");
        add(st, 1, "198.51.100.0/24");
        add(st, 1, "2001:db8:1::/48"); /* IPv6 has no default: stays in main */
        add(st, 2, "203.0.113.7/32");
        st->s.fwmark = 0x1234;
        ASSERT_OK(netcfg_plan_build(&st->s, &params, &p, NULL));
        ASSERT_EQ(p.table, NETCFG_TABLE_DEFAULT);
        ASSERT_EQ(p.fwmark, 0x1234);
        ASSERT_EQ(find_route(&p, "0.0.0.0/0")->table, NETCFG_TABLE_DEFAULT);
        ASSERT_EQ(find_route(&p, "198.51.100.0/24")->table, NETCFG_TABLE_DEFAULT);
        ASSERT_EQ(find_route(&p, "2001:db8:1::/48")->table, 254);
        const NetcfgRoute *t = find_route(&p, "203.0.113.7/32");
        ASSERT_EQ(t->type, RTN_THROW);
        ASSERT_EQ(t->oif, 0);
        ASSERT_EQ(t->table, NETCFG_TABLE_DEFAULT);
        ASSERT_EQ(p.obj.n_rules, 2); /* IPv4 only */
        ASSERT_EQ(p.obj.rules[0].priority, 21700);
        ASSERT_EQ(p.obj.rules[0].table, 254);
        ASSERT_EQ(p.obj.rules[0].suppress_prefixlen, 0);
        ASSERT_EQ(p.obj.rules[1].priority, 21701);
        ASSERT_EQ(p.obj.rules[1].table, NETCFG_TABLE_DEFAULT);
        ASSERT_EQ(p.obj.rules[1].fwmark, 0x1234);
        ASSERT_TRUE(p.obj.rules[1].invert);
        netcfg_plan_done(&p);
}

TEST(default_fwmark_and_custom_span) {
        _cleanup_free_ Settings *st = settings_new();
        NetcfgPlanParams pp = { .ifindex = 5, .table = 1000, .rule_priority = 21710 };
        NetcfgPlan p;

        add(st, 1, "::/0");
        ASSERT_OK(netcfg_plan_build(&st->s, &pp, &p, NULL));
        ASSERT_EQ(p.fwmark, NETCFG_FWMARK_DEFAULT);
        ASSERT_EQ(p.obj.n_rules, 2);
        ASSERT_EQ(p.obj.rules[0].family, AF_INET6);
        ASSERT_EQ(p.obj.rules[0].priority, 21710);
        ASSERT_EQ(p.obj.rules[1].table, 1000);
        netcfg_plan_done(&p);
}

TEST(explicit_table_and_table_off) {
        _cleanup_free_ Settings *st = settings_new();
        NetcfgPlan p;

        add(st, 1, "0.0.0.0/0");
        add(st, 2, "203.0.113.0/24");
        st->s.table = 4242;
        ASSERT_OK(netcfg_plan_build(&st->s, &params, &p, NULL));
        ASSERT_EQ(p.obj.n_rules, 0); /* whoever chose the table routes into it */
        ASSERT_EQ(find_route(&p, "0.0.0.0/0")->table, 4242);
        ASSERT_EQ(find_route(&p, "203.0.113.0/24")->type, RTN_THROW);
        netcfg_plan_done(&p);

        st->s.table_off = 1;
        ASSERT_OK(netcfg_plan_build(&st->s, &params, &p, NULL));
        ASSERT_EQ(p.obj.n_routes, 0);
        ASSERT_EQ(p.obj.n_rules, 0);
        netcfg_plan_done(&p);
}

static void expect_invalid(Settings *st, const char *msg) {
        NetcfgPlan p = {};
        char *err = NULL;

        ASSERT_EQ(netcfg_plan_build(&st->s, &params, &p, &err), -EINVAL);
        ASSERT_CONTAINS(err, msg);
        ASSERT_TRUE(p.obj.routes == NULL); /* nothing handed out on failure */
        free(err);
}

TEST(invalid_input) {
        _cleanup_free_ Settings *st = settings_new();
        add(st, 1, "198.51.100.7/24");
        expect_invalid(st,
                       "route 198.51.100.7/24 has host bits set (did you mean 198.51.100.0/24?)");

        free(st);
        st = settings_new();
        add(st, 1, "2001:db8::/129");
        expect_invalid(st, "route 1: prefix length /129 is out of range for IPv6 (0-128)");

        free(st);
        st = settings_new();
        add(st, 0, "192.0.2.2/24");
        st->p[0][0].address.len = 5;
        expect_invalid(st, "address 1: address has 5 bytes");

        free(st);
        st = settings_new();
        add(st, 1, "0.0.0.0/0");
        add(st, 1, "203.0.113.0/24");
        add(st, 2, "203.0.113.0/24");
        expect_invalid(st, "prefix 203.0.113.0/24 is both routed and excluded");

        free(st);
        st = settings_new();
        add(st, 0, "2001:db8::2/64");
        st->s.mtu = 1200;
        expect_invalid(st, "below IPv6's minimum of 1280");

        free(st);
        st = settings_new();
        st->s.mtu = 40;
        expect_invalid(st, "MTU 40 is out of range");

        free(st);
        st = settings_new();
        st->s.table = 255;
        expect_invalid(st, "reserved");
}

TEST(dns_validation) {
        _cleanup_free_ Settings *st = settings_new();
        uint8_t a[4] = { 192, 0, 2, 53 };
        ProtobufCBinaryData srv = { 4, a };
        char *tilde[] = { "~corp.example" }, *bad[] = { "corp..example" };
        char *good[] = { "corp.example" };

        st->s.routing_domains = tilde;
        st->s.n_routing_domains = 1;
        st->s.dns_servers = &srv;
        st->s.n_dns_servers = 1;
        expect_invalid(st, "write it without \"~\"");
        st->s.routing_domains = bad;
        expect_invalid(st, "is not a valid DNS domain name");
        st->s.routing_domains = good;
        st->s.n_dns_servers = 0;
        expect_invalid(st, "without any DNS server");
        ASSERT_EQ(netcfg_dns_name_check("a.b-c_d.example."), 0);
        ASSERT_EQ(netcfg_dns_name_check(".example"), -EINVAL);
        ASSERT_EQ(netcfg_dns_name_check("exa mple"), -EINVAL);
}

static NetcfgDns dns_sample(bool full) {
        static NetcfgPrefix servers[2];
        static char *search[] = { "corp.example" };
        static char *routing[] = { "internal.example", "corp.example" };

        ASSERT_OK(netcfg_prefix_from_string("192.0.2.53", &servers[0]));
        ASSERT_OK(netcfg_prefix_from_string("2001:db8::53", &servers[1]));
        return (NetcfgDns){ .servers = servers,
                            .n_servers = 2,
                            .search = search,
                            .n_search = 1,
                            .routing = routing,
                            .n_routing = 2,
                            .full = full };
}

/* A bus that is never connected: enough to build and read messages offline. */
static sd_bus *offline_bus(void) {
        sd_bus *bus;
        int fd[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd));
        ASSERT_OK(sd_bus_new(&bus));
        ASSERT_OK(sd_bus_set_fd(bus, fd[0], fd[0]));
        ASSERT_OK(sd_bus_start(bus));
        return bus;
}

static sd_bus_message *sealed(sd_bus *bus, int (*fill)(sd_bus_message *, int, const NetcfgDns *),
                              const NetcfgDns *d) {
        sd_bus_message *m;

        ASSERT_OK(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.resolve1",
                                                 "/org/freedesktop/resolve1",
                                                 "org.freedesktop.resolve1.Manager", "X"));
        ASSERT_OK(fill(m, 7, d));
        ASSERT_OK(sd_bus_message_seal(m, 1, 0));
        ASSERT_OK(sd_bus_message_rewind(m, true));
        return m;
}

TEST(resolved_set_link_dns_arguments) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = offline_bus();
        NetcfgDns d = dns_sample(false);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m =
                sealed(bus, netcfg_resolved_fill_dns, &d);
        const void *a;
        size_t len;
        int ifindex, family;

        ASSERT_STREQ(sd_bus_message_get_signature(m, true), "ia(iay)");
        ASSERT_OK(sd_bus_message_read(m, "i", &ifindex));
        ASSERT_EQ(ifindex, 7);
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "(iay)"));
        ASSERT_EQ(sd_bus_message_enter_container(m, 'r', "iay"), 1);
        ASSERT_OK(sd_bus_message_read(m, "i", &family));
        ASSERT_EQ(family, AF_INET);
        ASSERT_OK(sd_bus_message_read_array(m, 'y', &a, &len));
        ASSERT_EQ(len, 4);
        ASSERT_EQ(((const uint8_t *) a)[3], 53);
        ASSERT_OK(sd_bus_message_exit_container(m));
        ASSERT_EQ(sd_bus_message_enter_container(m, 'r', "iay"), 1);
        ASSERT_OK(sd_bus_message_read(m, "i", &family));
        ASSERT_EQ(family, AF_INET6);
        ASSERT_OK(sd_bus_message_read_array(m, 'y', &a, &len));
        ASSERT_EQ(len, 16);
}

static void expect_domains(bool full, const char *const *names, const int *routing, size_t n) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = offline_bus();
        NetcfgDns d = dns_sample(full);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m =
                sealed(bus, netcfg_resolved_fill_domains, &d);
        const char *name;
        int ifindex, b;

        ASSERT_STREQ(sd_bus_message_get_signature(m, true), "ia(sb)");
        ASSERT_OK(sd_bus_message_read(m, "i", &ifindex));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "(sb)"));
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ(sd_bus_message_read(m, "(sb)", &name, &b), 1);
                ASSERT_STREQ(name, names[i]);
                ASSERT_EQ(b, routing[i]);
                ASSERT_TRUE(name[0] != '~');
        }
        ASSERT_EQ(sd_bus_message_read(m, "(sb)", &name, &b), 0); /* nothing more */
        ASSERT_EQ(netcfg_resolved_default_route(&d), full);
}

TEST(resolved_split_domains) {
        /* corp.example is a search domain, so it is not repeated as routing-only */
        static const char *const names[] = { "corp.example", "internal.example" };
        static const int routing[] = { 0, 1 };
        expect_domains(false, names, routing, 2);
}

TEST(resolved_full_domains) {
        static const char *const names[] = { "corp.example", "internal.example", "." };
        static const int routing[] = { 0, 1, 1 };
        expect_domains(true, names, routing, 3);
}

TEST(resolvconf_arguments) {
        NetcfgDns d = dns_sample(false);
        char rec[32], *in = NULL;

        ASSERT_OK(netcfg_resolvconf_record("wg-work", rec, sizeof(rec)));
        ASSERT_STREQ(rec, "wg-work.tund");
        ASSERT_EQ(netcfg_resolvconf_record("", rec, sizeof(rec)), -EINVAL);
        ASSERT_EQ(netcfg_resolvconf_record("toolongforthebuffer", rec, 8), -EINVAL);
        ASSERT_OK(netcfg_resolvconf_input(&d, &in));
        ASSERT_STREQ(in, "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch corp.example\n");
        free(in);
}

/* Nothing applied (no rules in a split tunnel, no DNS): copies of empty, NULL-based arrays
 * (memcpy from NULL is undefined; UBSan in `make asan-unit` catches it). */
TEST(copies_of_empty_objects) {
        NetcfgObjects empty = {}, o;
        NetcfgDns none = {}, d;

        ASSERT_OK(netcfg_objects_copy(&empty, &o));
        ASSERT_EQ(o.n_addresses + o.n_routes + o.n_rules, 0);
        netcfg_objects_done(&o);
        ASSERT_OK(netcfg_dns_copy(&none, &d));
        ASSERT_TRUE(netcfg_dns_empty(&d));
        netcfg_dns_done(&d);
}
