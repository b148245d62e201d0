/* The shim's settings policy: what tund-tunnel derives from a profile (tunnel-settings.c, run
 * here on parsed profiles) passes; every field outside the profile is refused, naming it. */
#include <arpa/inet.h>

#include "macro.h"
#include "netshim-policy.h"
#include "netshim.h"
#include "profile.h"
#include "tests.h"
#include "tunnel-settings.h"

#define PRIV "cCPJ1wsALzUCpr1lDIPG3zq4DbknLH4KYzbXXmlEslc="
#define PUB1 "4QZ9dRa7qbzLtWhDGxXSUvhP3rx/tj7ZO3o9IilOwGY="
#define PUB2 "QeoGvdq4tTWWn84vJVcwgzfgF5bb2mIyW0KuFSaSyg8="

/* A full tunnel with DNS, as most profiles are. */
#define FULL                                                                                       \
        "[Interface]\nPrivateKey = " PRIV "\n"                                                     \
        "Address = 10.9.0.2/32, fd00:9::2/128\n"                                                   \
        "DNS = 10.9.0.1, fd00:9::1, corp.example\n"                                                \
        "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 203.0.113.1:51820\n"                             \
        "AllowedIPs = 0.0.0.0/0, ::/0\n"
/* A split tunnel with everything else a profile can say. */
#define SPLIT                                                                                      \
        "[Interface]\nPrivateKey = " PRIV "\n"                                                     \
        "Address = 10.9.0.2/24\nMTU = 1400\nTable = 1234\nFwMark = 0x77\n"                         \
        "DNS = 10.9.0.1\n"                                                                         \
        "[Peer]\nPublicKey = " PUB1 "\nEndpoint = vpn.example:51820\n"                             \
        "AllowedIPs = 10.0.0.0/8, 192.168.7.9/16\n"                                                \
        "[Peer]\nPublicKey = " PUB2 "\nEndpoint = [2001:db8::1]:51820\n"                           \
        "AllowedIPs = 2001:db8:100::/48\n"                                                         \
        "[Tund]\nRoutingDomains = internal.example\nExcludedRoutes = 10.8.99.0/24\n"

/* A parsed profile and the NetworkSettings tund-tunnel would ask for. */
typedef struct Derived {
        Tund__WgConfig *cfg;
        Tund__NetworkSettings *s;
} Derived;

static void endpoint_set(UapiEndpoint *e, const char *addr) {
        memset(e, 0, sizeof(*e));
        if (!addr)
                return;
        /* Every test profile's endpoints use port 51820. */
        if (inet_pton(AF_INET, addr, &e->addr.in.sin_addr) == 1) {
                e->addr.in.sin_family = AF_INET;
                e->addr.in.sin_port = htons(51820);
        } else {
                ASSERT_EQ(inet_pton(AF_INET6, addr, &e->addr.in6.sin6_addr), 1);
                e->addr.in6.sin6_family = AF_INET6;
                e->addr.in6.sin6_port = htons(51820);
        }
}

static void derived_done(Derived *d) {
        if (d->s)
                protobuf_c_message_free_unpacked(&d->s->base, NULL);
        d->s = NULL;
        d->cfg = profile_wg_config_free(d->cfg);
}

/* ep1, ep2: the addresses the tunnel resolved the peers' endpoints to (NULL: none). */
static void derive(Derived *d, const char *text, const char *ep1, const char *ep2) {
        Profile *p = NULL;
        char *err = NULL;
        derived_done(d);
        if (profile_parse_string(text, NULL, "work", &p, &err) < 0)
                FAILF("profile: %s", err);
        ASSERT_OK(profile_to_wg_config(p, &d->cfg));
        profile_free(p);
        UapiEndpoint eps[2];
        endpoint_set(&eps[0], ep1);
        endpoint_set(&eps[1], ep2);
        if (tunnel_settings_derive(d->cfg, eps, &d->s, &err) < 0)
                FAILF("derive: %s", err);
}

static void expect_ok(const Derived *d, const Tund__NetworkSettings *req) {
        char *err = NULL;
        if (netshim_settings_check(d->cfg, req, &err) < 0)
                FAILF("refused: %s", err);
        ASSERT_TRUE(!err);
}

static void expect_refused(const Derived *d, const Tund__NetworkSettings *req, const char *why) {
        char *err = NULL;
        ASSERT_EQ(netshim_settings_check(d->cfg, req, &err), -EPERM);
        ASSERT_CONTAINS(err, why);
        free(err);
}

/* Prefixes on the stack. */
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

/* ---- what the real tunnel asks for passes ---- */

TEST(tunnel_settings_full_tunnel_allowed) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, "203.0.113.1", NULL);
        ASSERT_EQ(d.s->n_excluded_routes, 1); /* the endpoint, which 0.0.0.0/0 would swallow */
        expect_ok(&d, d.s);
        /* wg-quick's spelling of a full tunnel */
        derive(&d,
               "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.9.0.2/32\n"
               "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 203.0.113.1:51820\n"
               "AllowedIPs = 0.0.0.0/1, 128.0.0.0/1\n",
               "203.0.113.1", NULL);
        ASSERT_EQ(d.s->n_excluded_routes, 1);
        expect_ok(&d, d.s);
        /* no endpoint yet: no exclusion */
        derive(&d, FULL, NULL, NULL);
        expect_ok(&d, d.s);
}

TEST(tunnel_settings_split_tunnel_allowed) {
        /* vpn.example resolved to an address inside 10.0.0.0/8: excluded; the numeric v6
         * endpoint is outside 2001:db8:100::/48: nothing to exclude. */
        _cleanup_(derived_done) Derived d = {};
        derive(&d, SPLIT, "10.1.2.3", "2001:db8::1");
        ASSERT_EQ(d.s->n_excluded_routes, 2); /* ExcludedRoutes= and the name's address */
        ASSERT_EQ(d.s->mtu, 1400);
        expect_ok(&d, d.s);
        /* A numeric v6 endpoint inside the routes is excluded too. */
        derive(&d,
               "[Interface]\nPrivateKey = " PRIV "\nAddress = fd00:9::2/128\n"
               "[Peer]\nPublicKey = " PUB1 "\nEndpoint = [2001:db8:100::1]:51820\n"
               "AllowedIPs = 2001:db8:100::/48\n"
               "[Peer]\nPublicKey = " PUB2 "\nEndpoint = vpn.example:51820\n"
               "AllowedIPs = ::/0\n",
               "2001:db8:100::1", "2001:db8:5::5");
        ASSERT_EQ(d.s->n_excluded_routes, 2);
        expect_ok(&d, d.s);
}

TEST(tunnel_settings_table_off_allowed) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d,
               "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.9.0.2/32\n"
               "Table = off\n[Peer]\nPublicKey = " PUB1
               "\nEndpoint = 203.0.113.1:51820\nAllowedIPs = 0.0.0.0/0\n",
               "203.0.113.1", NULL);
        ASSERT_EQ(d.s->n_routes, 0);
        expect_ok(&d, d.s);
        P r;
        Tund__NetworkSettings req = *d.s;
        Tund__IpPrefix *rs[] = { mk(&r, "0.0.0.0", 0) };
        req.routes = rs;
        req.n_routes = 1;
        expect_refused(&d, &req, "route 0.0.0.0/0 is asked for, but the profile says Table = off");
}

/* ---- excluded routes ---- */

TEST(excluded_halves_refused) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, "203.0.113.1", NULL);
        Tund__NetworkSettings req = *d.s;
        P a, b;
        Tund__IpPrefix *ex[] = { d.s->excluded_routes[0], mk(&a, "0.0.0.0", 1),
                                 mk(&b, "128.0.0.0", 1) };
        req.excluded_routes = ex;
        req.n_excluded_routes = 3;
        expect_refused(&d, &req,
                       "excluded route 0.0.0.0/1 is not an endpoint host route (/32 or /128) nor "
                       "one of the profile's ExcludedRoutes=");
}

TEST(excluded_host_route_must_be_an_endpoint) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, "203.0.113.1", NULL);
        Tund__NetworkSettings req = *d.s;
        P a;
        /* The numeric endpoint is known: another host is not it. */
        Tund__IpPrefix *ex[] = { mk(&a, "198.51.100.9", 32) };
        req.excluded_routes = ex;
        req.n_excluded_routes = 1;
        expect_refused(&d, &req, "excluded route 198.51.100.9/32 is not the endpoint of a peer");
        /* The endpoint twice is one host route too many. */
        Tund__IpPrefix *twice[] = { d.s->excluded_routes[0], d.s->excluded_routes[0] };
        req.excluded_routes = twice;
        req.n_excluded_routes = 2;
        expect_refused(&d, &req, "excluded route 203.0.113.1/32 is not the endpoint of a peer");
}

TEST(excluded_host_route_of_a_host_name_endpoint) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, SPLIT, "10.1.2.3", "2001:db8::1");
        Tund__NetworkSettings req = *d.s;
        P a, b;
        /* vpn.example may resolve to any address the routes hold, but to one only, or two
         * while a rebind moves it from the old to the new. */
        Tund__IpPrefix *ex[] = { d.s->excluded_routes[0], mk(&a, "10.200.0.1", 32) };
        req.excluded_routes = ex;
        req.n_excluded_routes = 2;
        expect_ok(&d, &req);
        Tund__IpPrefix *ex2[] = { d.s->excluded_routes[0], mk(&a, "10.200.0.1", 32),
                                  mk(&b, "10.200.0.2", 32) };
        req.excluded_routes = ex2;
        req.n_excluded_routes = 3;
        expect_ok(&d, &req);
        P c;
        Tund__IpPrefix *ex2b[] = { d.s->excluded_routes[0], mk(&a, "10.200.0.1", 32),
                                   mk(&b, "10.200.0.2", 32), mk(&c, "10.200.0.3", 32) };
        req.excluded_routes = ex2b;
        req.n_excluded_routes = 4;
        expect_refused(&d, &req, "excluded route 10.200.0.3/32 is not the endpoint of a peer");
        /* Outside the routes, an endpoint needs no exclusion. */
        Tund__IpPrefix *ex3[] = { d.s->excluded_routes[0], mk(&a, "8.8.8.8", 32) };
        req.excluded_routes = ex3;
        req.n_excluded_routes = 2;
        expect_refused(&d, &req,
                       "excluded route 8.8.8.8/32 is an endpoint host route outside the "
                       "tunnel's routes");
        /* A prefix inside the routes that the profile does not exclude. */
        Tund__IpPrefix *ex4[] = { d.s->excluded_routes[0], mk(&a, "10.9.0.128", 25) };
        req.excluded_routes = ex4;
        expect_refused(&d, &req, "excluded route 10.9.0.128/25 is not an endpoint host route");
}

TEST(profile_exclusions_required) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, SPLIT, NULL, NULL);
        Tund__NetworkSettings req = *d.s;
        req.n_excluded_routes = 0;
        expect_refused(&d, &req,
                       "excluded route 10.8.99.0/24 of the profile's ExcludedRoutes= is missing");
}

/* ---- addresses and routes ---- */

TEST(routes_exactly_allowed_ips) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, "203.0.113.1", NULL);
        Tund__NetworkSettings req = *d.s;
        P a;
        Tund__IpPrefix *rs[4];
        memcpy(rs, d.s->routes, d.s->n_routes * sizeof(*rs));
        rs[d.s->n_routes] = mk(&a, "10.0.0.0", 8);
        req.routes = rs;
        req.n_routes = d.s->n_routes + 1;
        expect_refused(&d, &req, "route 10.0.0.0/8 is not one of the profile's AllowedIPs");
        /* Leaving ::/0 out would send IPv6 around the tunnel. */
        req.routes = d.s->routes;
        req.n_routes = 1;
        expect_refused(&d, &req, "route ::/0 of the profile's AllowedIPs is missing");

        derive(&d, SPLIT, NULL, NULL);
        req = *d.s;
        Tund__IpPrefix *out[] = { mk(&a, "203.0.113.0", 24) };
        req.routes = out;
        req.n_routes = 1;
        expect_refused(&d, &req, "route 203.0.113.0/24 is outside the profile's AllowedIPs");
        Tund__IpPrefix *narrow[] = { mk(&a, "10.1.0.0", 16) };
        req.routes = narrow;
        expect_refused(&d, &req, "route 10.1.0.0/16 is not one of the profile's AllowedIPs");
        Tund__IpPrefix *wide[] = { mk(&a, "10.0.0.0", 7) };
        req.routes = wide;
        expect_refused(&d, &req, "route 10.0.0.0/7 is outside the profile's AllowedIPs");
}

TEST(addresses_exactly_the_profiles) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, NULL, NULL);
        Tund__NetworkSettings req = *d.s;
        P a;
        Tund__IpPrefix *as[] = { d.s->addresses[0], d.s->addresses[1], mk(&a, "10.9.0.3", 32) };
        req.addresses = as;
        req.n_addresses = 3;
        expect_refused(&d, &req, "address 10.9.0.3/32 is not one of the profile's Address=");
        req.n_addresses = 1;
        expect_refused(&d, &req, "address fd00:9::2/128 of the profile's Address= is missing");
        Tund__IpPrefix *wider[] = { mk(&a, "10.9.0.2", 8), d.s->addresses[1] };
        req.addresses = wider;
        req.n_addresses = 2;
        expect_refused(&d, &req, "address 10.9.0.2/8 is not one of the profile's Address=");
}

/* ---- DNS ---- */

TEST(dns_exactly_the_profiles) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, NULL, NULL);
        Tund__NetworkSettings req = *d.s;
        uint8_t other[4] = { 8, 8, 8, 8 };
        ProtobufCBinaryData ds[] = { d.s->dns_servers[0], d.s->dns_servers[1], { 4, other } };
        req.dns_servers = ds;
        req.n_dns_servers = 3;
        expect_refused(&d, &req, "DNS server 8.8.8.8 is not one of the profile's DNS=");
        req.n_dns_servers = 1;
        expect_refused(&d, &req, "DNS server fd00:9::1 of the profile's DNS= is missing");

        req = *d.s;
        char *s[] = { "corp.example", "evil\nREADY=1" };
        req.search_domains = s;
        req.n_search_domains = 2;
        expect_refused(&d, &req, "search domain 'evil?READY=1' is not in the profile's DNS=");
        req.n_search_domains = 0;
        expect_refused(&d, &req, "search domain 'corp.example' is missing from the profile's DNS=");
        req = *d.s;
        char *rd[] = { "evil.example" };
        req.routing_domains = rd;
        req.n_routing_domains = 1;
        expect_refused(&d, &req,
                       "routing domain 'evil.example' is not in the profile's RoutingDomains=");

        req = *d.s;
        bool full = req.dns_mode == TUND__DNS_MODE__DNS_MODE_FULL;
        req.dns_mode = full ? TUND__DNS_MODE__DNS_MODE_SPLIT : TUND__DNS_MODE__DNS_MODE_FULL;
        expect_refused(&d, &req, "DNS mode");
        req = *d.s;
        req.dns_default_route = !req.dns_default_route;
        expect_refused(&d, &req, "DNS default route");

        derive(&d, SPLIT, NULL, NULL);
        req = *d.s;
        req.n_routing_domains = 0;
        expect_refused(&d, &req,
                       "routing domain 'internal.example' is missing from the profile's "
                       "RoutingDomains=");
}

/* ---- table, fwmark ---- */

TEST(table_and_fwmark_the_profiles) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, SPLIT, NULL, NULL);
        Tund__NetworkSettings req = *d.s;
        req.table = 254;
        expect_refused(&d, &req, "routing table 254 differs from the profile's Table= (1234)");
        req = *d.s;
        req.table_off = true;
        expect_refused(&d, &req, "Table = off asked for");
        req = *d.s;
        req.fwmark = 0;
        expect_refused(&d, &req, "fwmark 0x0 differs from the profile's (0x77)");
}

/* ---- MTU ---- */

TEST(mtu_the_profiles) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, SPLIT, NULL, NULL);
        Tund__NetworkSettings req = *d.s;
        ASSERT_EQ(d.s->mtu, 1400);
        const uint32_t bad[] = { 0, 68, 1280, 1399, 1401, 1420, 1500, 65535 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char why[80];
                req.mtu = bad[i];
                snprintf(why, sizeof(why), "MTU %u is not the profile's MTU 1400", bad[i]);
                expect_refused(&d, &req, why);
        }
}

TEST(mtu_without_profile_mtu) {
        /* libprofile names the engine's default for a profile without MTU=: only that. */
        _cleanup_(derived_done) Derived d = {};
        derive(&d, FULL, "203.0.113.1", NULL);
        Tund__NetworkSettings req = *d.s;
        ASSERT_EQ(d.s->mtu, NETSHIM_ENGINE_DEFAULT_MTU);
        const uint32_t bad[] = { 0, 68, 1279, 1280, 1500, 65535 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char why[100];
                req.mtu = bad[i];
                snprintf(why, sizeof(why),
                         "MTU %u is not the profile's MTU 1420 (its MTU=, or 1420 without one)",
                         bad[i]);
                expect_refused(&d, &req, why);
        }
        /* A conversion that leaves the MTU at 0: the engine's default or nothing. */
        d.cfg->network->mtu = 0;
        req.mtu = 0;
        expect_ok(&d, &req);
        req.mtu = NETSHIM_ENGINE_DEFAULT_MTU;
        expect_ok(&d, &req);
        req.mtu = 65535;
        expect_refused(&d, &req,
                       "MTU 65535 is not the profile's: it sets none, so 0 (leave the link's) or "
                       "1420 (the engine's default)");
}

/* A kill switch lets the engine's UDP reach exactly these: each must be a peer's. */
TEST(endpoints_are_the_peers) {
        _cleanup_(derived_done) Derived d = {};
        derive(&d, SPLIT, "10.1.2.3", "2001:db8::1");
        ASSERT_EQ(d.s->n_endpoints, 2U);
        ASSERT_EQ(d.s->endpoints[0]->port, 51820U);
        Tund__NetworkSettings req = *d.s;
        expect_ok(&d, &req);
        /* The numeric [2001:db8::1]:51820 on another port is not that peer's. */
        uint8_t a6[16];
        ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", a6), 1);
        Tund__Endpoint other = TUND__ENDPOINT__INIT;
        other.address.data = a6;
        other.address.len = 16;
        other.port = 443;
        Tund__Endpoint *eps[] = { d.s->endpoints[0], &other };
        req.endpoints = eps;
        req.n_endpoints = 2;
        expect_refused(&d, &req, "endpoint 2 is no peer's");
        /* A host name has one address, two while it moves: a third has no peer left. */
        Tund__Endpoint *three[] = { d.s->endpoints[0], d.s->endpoints[1], d.s->endpoints[0] };
        req.endpoints = three;
        req.n_endpoints = 3;
        expect_ok(&d, &req);
        Tund__Endpoint *four[] = { d.s->endpoints[0], d.s->endpoints[1], d.s->endpoints[0],
                                   d.s->endpoints[0] };
        req.endpoints = four;
        req.n_endpoints = 4;
        expect_refused(&d, &req, "endpoint 4 is no peer's");
        /* Not an address. */
        Tund__Endpoint bad = TUND__ENDPOINT__INIT;
        bad.address.data = a6;
        bad.address.len = 5;
        bad.port = 51820;
        Tund__Endpoint *one[] = { &bad };
        req.endpoints = one;
        req.n_endpoints = 1;
        expect_refused(&d, &req, "endpoint 1 is not an address and port");
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
