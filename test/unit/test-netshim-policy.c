#include <arpa/inet.h>

#include "netshim-policy.h"
#include "netshim.h"
#include "tests.h"

/* Builders for prefixes on the heap-less stack. */
typedef struct P {
        Tund__IpPrefix p;
        uint8_t a[16];
} P;

static Tund__IpPrefix *mk(P *s, const char *addr, unsigned len) {
        tund__ip_prefix__init(&s->p);
        bool v6 = strchr(addr, ':') != NULL;
        ASSERT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, addr, s->a), 1);
        s->p.address.data = s->a;
        s->p.address.len = v6 ? 16 : 4;
        s->p.prefix_len = len;
        return &s->p;
}

TEST(prefix_within) {
        P a, b;
        ASSERT_TRUE(netshim_prefix_within(mk(&a, "10.1.2.0", 24), mk(&b, "10.0.0.0", 8)));
        ASSERT_TRUE(netshim_prefix_within(mk(&a, "10.0.0.0", 8), mk(&b, "10.0.0.0", 8)));
        ASSERT_TRUE(!netshim_prefix_within(mk(&a, "10.0.0.0", 7), mk(&b, "10.0.0.0", 8)));
        ASSERT_TRUE(!netshim_prefix_within(mk(&a, "11.0.0.0", 24), mk(&b, "10.0.0.0", 8)));
        ASSERT_TRUE(netshim_prefix_within(mk(&a, "192.0.2.129", 32), mk(&b, "192.0.2.128", 25)));
        ASSERT_TRUE(!netshim_prefix_within(mk(&a, "192.0.2.127", 32), mk(&b, "192.0.2.128", 25)));
        ASSERT_TRUE(netshim_prefix_within(mk(&a, "2001:db8::1", 128), mk(&b, "::", 0)));
        ASSERT_TRUE(!netshim_prefix_within(mk(&a, "192.0.2.1", 32), mk(&b, "::", 0)));
        ASSERT_TRUE(netshim_prefix_within(mk(&a, "192.0.2.1", 32), mk(&b, "0.0.0.0", 0)));
        a.p.prefix_len = 33;
        ASSERT_TRUE(!netshim_prefix_within(&a.p, mk(&b, "0.0.0.0", 0)));
}

typedef struct Fixture {
        Tund__NetworkSettings allowed, req;
        P addr, route, excl, route2;
        Tund__IpPrefix *addrs[1], *routes[2], *excls[1];
        ProtobufCBinaryData dns[1];
        uint8_t dns_a[4];
        char *search[1];
} Fixture;

static void fixture(Fixture *f) {
        memset(f, 0, sizeof(*f));
        tund__network_settings__init(&f->allowed);
        f->addrs[0] = mk(&f->addr, "10.9.0.2", 32);
        f->routes[0] = mk(&f->route, "10.9.0.0", 24);
        f->routes[1] = mk(&f->route2, "198.51.100.0", 24);
        f->excls[0] = mk(&f->excl, "192.168.0.0", 16);
        inet_pton(AF_INET, "10.9.0.1", f->dns_a);
        f->dns[0] = (ProtobufCBinaryData){ 4, f->dns_a };
        f->search[0] = "corp.example";
        f->allowed.addresses = f->addrs;
        f->allowed.n_addresses = 1;
        f->allowed.routes = f->routes;
        f->allowed.n_routes = 2;
        f->allowed.excluded_routes = f->excls;
        f->allowed.n_excluded_routes = 1;
        f->allowed.dns_servers = f->dns;
        f->allowed.n_dns_servers = 1;
        f->allowed.search_domains = f->search;
        f->allowed.n_search_domains = 1;
        f->allowed.mtu = 1420;
        f->req = f->allowed; /* the profile's own settings are always allowed */
}

static void expect_refused(Fixture *f, const char *why) {
        char *err = NULL;
        ASSERT_EQ(netshim_settings_check(&f->allowed, &f->req, &err), -EPERM);
        ASSERT_CONTAINS(err, why);
        free(err);
}

TEST(own_settings_allowed) {
        Fixture f;
        fixture(&f);
        ASSERT_OK(netshim_settings_check(&f.allowed, &f.req, NULL));
        /* A subset is fine too: fewer routes, no DNS. */
        f.req.n_routes = 1;
        f.req.n_dns_servers = 0;
        f.req.n_search_domains = 0;
        ASSERT_OK(netshim_settings_check(&f.allowed, &f.req, NULL));
}

TEST(route_outside_allowed_ips_refused) {
        Fixture f;
        fixture(&f);
        P extra;
        Tund__IpPrefix *rs[] = { mk(&extra, "203.0.113.0", 24) };
        f.req.routes = rs;
        f.req.n_routes = 1;
        expect_refused(&f, "route 203.0.113.0/24 is outside the profile's AllowedIPs");
}

TEST(wider_route_refused) {
        Fixture f;
        fixture(&f);
        P wide;
        Tund__IpPrefix *rs[] = { mk(&wide, "10.0.0.0", 8) };
        f.req.routes = rs;
        f.req.n_routes = 1;
        expect_refused(&f, "route 10.0.0.0/8 is outside");
}

TEST(foreign_address_refused) {
        Fixture f;
        fixture(&f);
        P a;
        Tund__IpPrefix *as[] = { mk(&a, "10.9.0.3", 32) };
        f.req.addresses = as;
        expect_refused(&f, "address 10.9.0.3/32 is not one of the profile's Address=");
}

TEST(excluded_route_rules) {
        Fixture f;
        fixture(&f);
        P inside, outside;
        Tund__IpPrefix *ok[] = { mk(&inside, "10.9.0.128", 25) };
        f.req.excluded_routes = ok;
        f.req.n_excluded_routes = 1;
        ASSERT_OK(netshim_settings_check(&f.allowed, &f.req, NULL));
        Tund__IpPrefix *bad[] = { mk(&outside, "203.0.113.7", 32) };
        f.req.excluded_routes = bad;
        expect_refused(&f, "excluded route 203.0.113.7/32 is neither");
}

TEST(dns_must_be_the_profiles) {
        Fixture f;
        fixture(&f);
        uint8_t other[4] = { 8, 8, 8, 8 };
        ProtobufCBinaryData d[] = { { 4, other } };
        f.req.dns_servers = d;
        expect_refused(&f, "DNS server #1 is not one of the profile's DNS=");
        fixture(&f);
        char *s[] = { "evil.example" };
        f.req.search_domains = s;
        expect_refused(&f, "search domain 'evil.example' is not in the profile");
        fixture(&f);
        f.req.dns_mode = TUND__DNS_MODE__DNS_MODE_FULL;
        expect_refused(&f, "DNS mode differs");
}

TEST(table_fwmark_mtu) {
        Fixture f;
        fixture(&f);
        f.req.table = 1234;
        expect_refused(&f, "routing table differs");
        fixture(&f);
        f.req.fwmark = 7;
        expect_refused(&f, "fwmark differs");
        fixture(&f);
        f.req.mtu = 100;
        expect_refused(&f, "MTU 100 is out of range");
}

TEST(status_text) {
        char buf[200];
        Tund__PeerUpdate u = TUND__PEER_UPDATE__INIT;
        netshim_format_status(buf, sizeof(buf), &u, 1000);
        ASSERT_STREQ(buf, "running, no peers");
        Tund__PeerState a = TUND__PEER_STATE__INIT, b = TUND__PEER_STATE__INIT;
        a.endpoint = "203.0.113.1:51820";
        Tund__PeerState *ps[] = { &a, &b };
        u.peers = ps;
        u.n_peers = 1;
        netshim_format_status(buf, sizeof(buf), &u, 1000);
        ASSERT_STREQ(buf, "connecting to 203.0.113.1:51820, no handshake yet");
        a.last_handshake_sec = 997;
        netshim_format_status(buf, sizeof(buf), &u, 1000);
        ASSERT_STREQ(buf, "connected to 203.0.113.1:51820, handshake 3 s ago");
        b.endpoint = "[2001:db8::1]:51820";
        b.last_handshake_sec = 999;
        u.n_peers = 2;
        netshim_format_status(buf, sizeof(buf), &u, 1000);
        ASSERT_STREQ(buf, "connected to [2001:db8::1]:51820 (2 peers), handshake 1 s ago");
}
