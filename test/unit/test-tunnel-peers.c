/* Peer deltas (tunnel-peers.c) and network-settings derivation (tunnel-settings.c). */
#include <arpa/inet.h>
#include <time.h>

#include "tests.h"
#include "tunnel-peers.h"
#include "tunnel-settings.h"

static UapiPeer peer(uint8_t id) {
        UapiPeer p = {};
        memset(p.public_key, id, sizeof(p.public_key));
        p.rx_bytes = 1000;
        p.tx_bytes = 2000;
        p.last_handshake_sec = 100;
        p.has_endpoint = true;
        uapi_endpoint_parse("192.0.2.1:51820", &p.endpoint);
        return p;
}

TEST(peers_delta_new_then_quiet) {
        PeerTracker t;
        UapiPeer ps[2] = { peer(1), peer(2) };
        UapiDevice d = { .peers = ps, .n_peers = 2 };
        bool ch[2];
        peer_tracker_init(&t);
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 2);
        ASSERT_TRUE(ch[0] && ch[1]);
        /* Nothing changed: no delta. */
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 0);
        /* Keepalive-sized traffic stays below the threshold, however many polls. */
        for (int i = 0; i < 10; i++) {
                ps[0].rx_bytes += 32;
                ps[0].tx_bytes += 32;
                ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 0);
        }
        peer_tracker_done(&t);
}

TEST(peers_delta_changes) {
        PeerTracker t;
        UapiPeer ps[2] = { peer(1), peer(2) };
        UapiDevice d = { .peers = ps, .n_peers = 2 };
        bool ch[2];
        peer_tracker_init(&t);
        ASSERT_OK(peer_tracker_record_all(&t, &d));

        ps[1].last_handshake_sec = 200; /* a new handshake */
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 1);
        ASSERT_TRUE(!ch[0] && ch[1]);
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 0);

        uapi_endpoint_parse("[2001:db8::9]:51820", &ps[0].endpoint); /* roaming */
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 1);
        ASSERT_TRUE(ch[0] && !ch[1]);

        ps[0].rx_bytes += PEER_DELTA_BYTES_THRESHOLD - 1;
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 0);
        ps[0].rx_bytes += 1; /* now past the threshold since the last report */
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 1);

        ps[1].tx_bytes = 5; /* counters reset (engine restarted) */
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 1);
        ASSERT_TRUE(ch[1]);

        ps[1].last_handshake_nsec = 1;
        ASSERT_TRUE(peer_tracker_changed(&t, &ps[1]));
        peer_tracker_done(&t);
}

/* No peers at all, before and after some: nothing to sort, nothing reported. */
TEST(peers_delta_empty) {
        PeerTracker t;
        UapiPeer ps[1] = { peer(1) };
        UapiDevice none = {}, one = { .peers = ps, .n_peers = 1 };
        bool ch[1];
        peer_tracker_init(&t);
        ASSERT_EQ(peer_tracker_delta(&t, &none, ch), 0);
        ASSERT_OK(peer_tracker_record_all(&t, &none));
        ASSERT_EQ(peer_tracker_delta(&t, &one, ch), 1);
        ASSERT_EQ(peer_tracker_delta(&t, &none, ch), 0);
        ASSERT_EQ(t.n_reported, 1);
        peer_tracker_done(&t);
}

/* Tens of thousands of peers, in any order: each poll used to look every peer up by a scan
 * (seconds per poll); now the tracker keeps its records sorted. (Found by fuzz-tunnel.) */
TEST(peers_delta_many) {
        size_t n = 50000;
        UapiPeer *ps = calloc(n, sizeof(*ps));
        bool *ch = calloc(n, sizeof(*ch));
        UapiDevice d = { .peers = ps, .n_peers = n };
        PeerTracker t;
        struct timespec t0, t1;

        ASSERT_TRUE(ps && ch);
        for (size_t i = 0; i < n; i++) {
                /* Keys out of order: a multiplicative shuffle of 0..n-1. */
                size_t k = (i * 7919) % n;
                ps[i].public_key[0] = (uint8_t) (k >> 16);
                ps[i].public_key[1] = (uint8_t) (k >> 8);
                ps[i].public_key[2] = (uint8_t) k;
                ps[i].last_handshake_sec = 1;
        }
        peer_tracker_init(&t);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), (int) n);
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 0);
        ps[n / 2].last_handshake_sec = 2;
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 1);
        ASSERT_TRUE(ch[n / 2] && !ch[n / 2 + 1]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 5);
        ASSERT_EQ(t.n_reported, n);

        /* Half of them again, plus new ones: only the new ones are news. */
        d.n_peers = n / 2;
        ps[0].public_key[3] = 1;
        ASSERT_EQ(peer_tracker_delta(&t, &d, ch), 1);
        ASSERT_TRUE(ch[0] && !ch[1]);
        ASSERT_EQ(t.n_reported, n + 1);
        ASSERT_TRUE(!peer_tracker_changed(&t, &ps[0]) && !peer_tracker_changed(&t, &ps[n - 1]));
        peer_tracker_done(&t);
        free(ps);
        free(ch);
}

TEST(peers_update_build) {
        UapiPeer ps[2] = { peer(1), peer(2) };
        UapiPrefix pfx = { .family = AF_INET6, .prefix_len = 64 };
        ps[0].allowed_ips = &pfx;
        ps[0].n_allowed_ips = 1;
        ps[0].has_preshared_key = true;
        ps[1].has_endpoint = false;
        UapiDevice d = { .peers = ps, .n_peers = 2 };
        bool pick[2] = { false, true };
        Tund__PeerUpdate *u = NULL;

        ASSERT_OK(peer_update_build("work", &d, NULL, false, &u));
        ASSERT_STREQ(u->profile, "work");
        ASSERT_EQ(u->n_peers, 2);
        ASSERT_TRUE(!u->delta);
        ASSERT_STREQ(u->peers[0]->public_key, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
        ASSERT_STREQ(u->peers[0]->endpoint, "192.0.2.1:51820");
        ASSERT_TRUE(u->peers[0]->has_preshared_key);
        ASSERT_EQ(u->peers[0]->n_allowed_ips, 1);
        ASSERT_EQ(u->peers[0]->allowed_ips[0]->address.len, 16);
        ASSERT_EQ(u->peers[0]->rx_bytes, 1000);
        ASSERT_EQ(u->peers[0]->last_handshake_sec, 100);
        ASSERT_STREQ(u->peers[1]->endpoint, "");
        peer_update_free(u);

        ASSERT_OK(peer_update_build("work", &d, pick, true, &u));
        ASSERT_EQ(u->n_peers, 1);
        ASSERT_TRUE(u->delta);
        ASSERT_STREQ(u->peers[0]->public_key, "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=");
        peer_update_free(u);
}

/* ---- settings ---- */

typedef struct S {
        Tund__WgConfig cfg;
        Tund__NetworkSettings net;
        Tund__WgPeer peer, *peers[1];
        Tund__IpPrefix p[6], *allowed[3], *addrs[1], *excl[1];
        uint8_t a[6][16];
        ProtobufCBinaryData dns[1];
        uint8_t dns4[4];
        char *search[1];
} S;

static void set_prefix(S *s, int i, const char *a, unsigned len) {
        tund__ip_prefix__init(&s->p[i]);
        int v6 = strchr(a, ':') != NULL;
        inet_pton(v6 ? AF_INET6 : AF_INET, a, s->a[i]);
        s->p[i].address = (ProtobufCBinaryData){ v6 ? 16 : 4, s->a[i] };
        s->p[i].prefix_len = len;
}

static void settings_cfg(S *s, const char *allowed0) {
        memset(s, 0, sizeof(*s));
        tund__wg_config__init(&s->cfg);
        tund__network_settings__init(&s->net);
        tund__wg_peer__init(&s->peer);
        set_prefix(s, 0, allowed0, strchr(allowed0, ':') ? 0 : 0);
        set_prefix(s, 1, "10.1.2.3", 16);     /* host bits set: cleared in the route */
        set_prefix(s, 2, "10.1.0.0", 16);     /* the same route again: deduplicated */
        set_prefix(s, 3, "198.51.100.7", 24); /* an address keeps its host bits */
        set_prefix(s, 4, "192.168.0.0", 16);  /* the profile's own excluded route */
        s->allowed[0] = &s->p[0];
        s->allowed[1] = &s->p[1];
        s->allowed[2] = &s->p[2];
        s->addrs[0] = &s->p[3];
        s->excl[0] = &s->p[4];
        s->peer.allowed_ips = s->allowed;
        s->peer.n_allowed_ips = 3;
        s->peers[0] = &s->peer;
        s->cfg.peers = s->peers;
        s->cfg.n_peers = 1;
        s->cfg.fwmark = 51820;
        s->net.addresses = s->addrs;
        s->net.n_addresses = 1;
        s->net.excluded_routes = s->excl;
        s->net.n_excluded_routes = 1;
        s->net.mtu = 1380;
        inet_pton(AF_INET, "198.51.100.53", s->dns4);
        s->dns[0] = (ProtobufCBinaryData){ 4, s->dns4 };
        s->net.dns_servers = s->dns;
        s->net.n_dns_servers = 1;
        s->search[0] = (char *) "corp.example";
        s->net.search_domains = s->search;
        s->net.n_search_domains = 1;
        s->net.dns_mode = TUND__DNS_MODE__DNS_MODE_FULL;
        s->cfg.network = &s->net;
}

static const char *pfx(const Tund__IpPrefix *p, char *buf) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(p->address.len == 4 ? AF_INET : AF_INET6, p->address.data, a, sizeof(a));
        sprintf(buf, "%s/%u", a, p->prefix_len);
        return buf;
}

TEST(settings_full_tunnel_excludes_endpoint) {
        S s;
        UapiEndpoint ep[1] = {};
        Tund__NetworkSettings *out = NULL;
        char b[64];
        settings_cfg(&s, "0.0.0.0");
        ASSERT_OK(uapi_endpoint_parse("203.0.113.5:51820", &ep[0].addr));
        ASSERT_OK(tunnel_settings_derive(&s.cfg, ep, &out, NULL));
        ASSERT_EQ(out->n_addresses, 1);
        ASSERT_STREQ(pfx(out->addresses[0], b), "198.51.100.7/24");
        ASSERT_EQ(out->n_routes, 2);
        ASSERT_STREQ(pfx(out->routes[0], b), "0.0.0.0/0");
        ASSERT_STREQ(pfx(out->routes[1], b), "10.1.0.0/16");
        ASSERT_EQ(out->n_excluded_routes, 2);
        ASSERT_STREQ(pfx(out->excluded_routes[0], b), "192.168.0.0/16");
        ASSERT_STREQ(pfx(out->excluded_routes[1], b), "203.0.113.5/32");
        ASSERT_EQ(out->mtu, 1380);
        ASSERT_EQ(out->fwmark, 51820);
        ASSERT_EQ(out->n_dns_servers, 1);
        ASSERT_EQ(out->dns_servers[0].len, 4);
        ASSERT_EQ(out->n_search_domains, 1);
        ASSERT_STREQ(out->search_domains[0], "corp.example");
        ASSERT_EQ(out->dns_mode, TUND__DNS_MODE__DNS_MODE_FULL);
        protobuf_c_message_free_unpacked(&out->base, NULL);
}

TEST(settings_split_tunnel_keeps_endpoint) {
        S s;
        UapiEndpoint ep[1] = {};
        Tund__NetworkSettings *out = NULL;
        settings_cfg(&s, "10.9.0.0");
        s.p[0].prefix_len = 16;
        ASSERT_OK(uapi_endpoint_parse("203.0.113.5:51820", &ep[0].addr));
        ASSERT_OK(tunnel_settings_derive(&s.cfg, ep, &out, NULL));
        ASSERT_EQ(out->n_routes, 2);
        ASSERT_EQ(out->n_excluded_routes, 1); /* only the profile's own */
        protobuf_c_message_free_unpacked(&out->base, NULL);

        /* An IPv6 endpoint is excluded from an IPv6 default route, not from IPv4 ones. */
        settings_cfg(&s, "::");
        ASSERT_OK(uapi_endpoint_parse("[2001:db8::5]:51820", &ep[0].addr));
        ASSERT_OK(tunnel_settings_derive(&s.cfg, ep, &out, NULL));
        ASSERT_EQ(out->n_excluded_routes, 2);
        ASSERT_EQ(out->excluded_routes[1]->address.len, 16);
        ASSERT_EQ(out->excluded_routes[1]->prefix_len, 128);
        protobuf_c_message_free_unpacked(&out->base, NULL);
}

TEST(settings_table_off_and_errors) {
        S s;
        Tund__NetworkSettings *out = NULL;
        char *err = NULL;
        settings_cfg(&s, "0.0.0.0");
        s.net.table_off = true;
        ASSERT_OK(tunnel_settings_derive(&s.cfg, NULL, &out, NULL));
        ASSERT_EQ(out->n_routes, 0);
        ASSERT_TRUE(out->table_off);
        ASSERT_EQ(out->n_addresses, 1);
        protobuf_c_message_free_unpacked(&out->base, NULL);

        settings_cfg(&s, "0.0.0.0");
        s.p[1].prefix_len = 40;
        ASSERT_EQ(tunnel_settings_derive(&s.cfg, NULL, &out, &err), -EINVAL);
        ASSERT_CONTAINS(err, "peer 1: allowed IP 2 is not a valid prefix");
        free(err);
        err = NULL;

        settings_cfg(&s, "0.0.0.0");
        s.dns[0].len = 5;
        ASSERT_EQ(tunnel_settings_derive(&s.cfg, NULL, &out, &err), -EINVAL);
        ASSERT_CONTAINS(err, "DNS server 1");
        free(err);
}

TEST(settings_prefix_contains) {
        S s;
        settings_cfg(&s, "0.0.0.0");
        uint8_t a[4] = { 10, 1, 200, 7 }, b[4] = { 10, 2, 0, 1 };
        ASSERT_TRUE(tunnel_prefix_contains(&s.p[2], a, 4));
        ASSERT_TRUE(!tunnel_prefix_contains(&s.p[2], b, 4));
        ASSERT_TRUE(tunnel_prefix_contains(&s.p[0], b, 4));
        uint8_t v6[16] = {};
        ASSERT_TRUE(!tunnel_prefix_contains(&s.p[0], v6, 16));
}

/* A rebind that moves an endpoint: both addresses excluded and let through, each once. */
TEST(settings_derive_both_old_and_new) {
        S s;
        UapiEndpoint now[1] = {}, old[1] = {};
        Tund__NetworkSettings *out = NULL;
        char b[64];
        settings_cfg(&s, "0.0.0.0");
        ASSERT_OK(uapi_endpoint_parse("203.0.113.9:51820", &now[0].addr));
        ASSERT_OK(uapi_endpoint_parse("203.0.113.5:51820", &old[0].addr));
        ASSERT_OK(tunnel_settings_derive_both(&s.cfg, now, old, &out, NULL));
        ASSERT_EQ(out->n_excluded_routes, 3);
        ASSERT_STREQ(pfx(out->excluded_routes[1], b), "203.0.113.9/32");
        ASSERT_STREQ(pfx(out->excluded_routes[2], b), "203.0.113.5/32");
        ASSERT_EQ(out->n_endpoints, 2);
        ASSERT_EQ(out->endpoints[0]->address.data[3], 9);
        ASSERT_EQ(out->endpoints[1]->address.data[3], 5);
        protobuf_c_message_free_unpacked(&out->base, NULL);

        /* The same endpoint twice (a rebind that found the old address): listed once. */
        ASSERT_OK(tunnel_settings_derive_both(&s.cfg, old, old, &out, NULL));
        ASSERT_EQ(out->n_excluded_routes, 2);
        ASSERT_EQ(out->n_endpoints, 1);
        protobuf_c_message_free_unpacked(&out->base, NULL);

        /* Only the port moved: one exclusion, two kill-switch exceptions. */
        ASSERT_OK(uapi_endpoint_parse("203.0.113.5:51821", &now[0].addr));
        ASSERT_OK(tunnel_settings_derive_both(&s.cfg, now, old, &out, NULL));
        ASSERT_EQ(out->n_excluded_routes, 2);
        ASSERT_EQ(out->n_endpoints, 2);
        ASSERT_EQ(out->endpoints[0]->port, 51821);
        ASSERT_EQ(out->endpoints[1]->port, 51820);
        protobuf_c_message_free_unpacked(&out->base, NULL);
}
