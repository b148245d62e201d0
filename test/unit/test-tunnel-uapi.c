/* The UAPI text protocol: reply parsing and set=1 building (tunnel-shim/tunnel-uapi.c). */
#include <arpa/inet.h>
#include <time.h>

#include "tests.h"
#include "tunnel-uapi.h"

/* Test keys (generated for these tests only). */
#define PRIV_B64 "SJuvo/Jw53B+WkJMRcicPh0gKHNshqSOMKG4e8PWJnk="
#define PRIV_HEX "489bafa3f270e7707e5a424c45c89c3e1d2028736c86a48e30a1b87bc3d62679"
#define PUB1_B64 "OR0J4her8xJndIMqOzjLJ+GoHn22gR2LjHNin6H/zQE="
#define PUB1_HEX "391d09e217abf3126774832a3b38cb27e1a81e7db6811d8b8c73629fa1ffcd01"
#define PUB2_B64 "p3AjDFwi6ZKwImbREMVTn2HbHJePV1Dmu0V1Fl5y8Q0="
#define PUB2_HEX "a770230c5c22e992b02266d110c5539f61db1c978f5750e6bb4575165e72f10d"
#define PSK_B64 "T41fGpm7/YiJ/9wb4yBluMciVb9O0ndAS71E1MUwCNE="
#define PSK_HEX "4f8d5f1a99bbfd8889ffdc1be32065b8c72255bf4ed277404bbd44d4c53008d1"
#define ZERO_HEX "0000000000000000000000000000000000000000000000000000000000000000"

static const char full_get[] = "private_key=" PRIV_HEX "\n"
                               "listen_port=51820\n"
                               "fwmark=4660\n"
                               "public_key=" PUB1_HEX "\n"
                               "preshared_key=" PSK_HEX "\n"
                               "protocol_version=1\n"
                               "endpoint=192.0.2.1:51821\n"
                               "last_handshake_time_sec=1700000000\n"
                               "last_handshake_time_nsec=123456789\n"
                               "tx_bytes=1000\n"
                               "rx_bytes=2000\n"
                               "persistent_keepalive_interval=25\n"
                               "allowed_ip=10.10.0.0/16\n"
                               "allowed_ip=2001:db8:1::/48\n"
                               "public_key=" PUB2_HEX "\n"
                               "preshared_key=" ZERO_HEX "\n"
                               "protocol_version=1\n"
                               "endpoint=[2001:db8::2]:51822\n"
                               "last_handshake_time_sec=0\n"
                               "last_handshake_time_nsec=0\n"
                               "tx_bytes=0\n"
                               "rx_bytes=0\n"
                               "persistent_keepalive_interval=0\n"
                               "errno=0\n"
                               "\n";

static int parse(const char *s, UapiDevice *d, char **err) {
        return uapi_parse_reply(s, strlen(s), d, err);
}

TEST(uapi_parse_full_get) {
        UapiDevice d = {};
        char *err = NULL;
        ASSERT_OK(parse(full_get, &d, &err));
        ASSERT_EQ(d.errnum, 0);
        ASSERT_TRUE(d.has_private_key);
        ASSERT_EQ(d.listen_port, 51820);
        ASSERT_EQ(d.fwmark, 4660);
        ASSERT_EQ(d.n_peers, 2);

        UapiPeer *p = &d.peers[0];
        ASSERT_EQ(p->public_key[0], 0x39);
        ASSERT_EQ(p->public_key[31], 0x01);
        ASSERT_TRUE(p->has_preshared_key);
        ASSERT_TRUE(p->has_endpoint);
        ASSERT_EQ(p->endpoint.sa.sa_family, AF_INET);
        ASSERT_EQ(ntohs(p->endpoint.in.sin_port), 51821);
        ASSERT_EQ(p->last_handshake_sec, 1700000000);
        ASSERT_EQ(p->last_handshake_nsec, 123456789);
        ASSERT_EQ(p->tx_bytes, 1000);
        ASSERT_EQ(p->rx_bytes, 2000);
        ASSERT_EQ(p->persistent_keepalive, 25);
        ASSERT_EQ(p->protocol_version, 1);
        ASSERT_EQ(p->n_allowed_ips, 2);
        ASSERT_EQ(p->allowed_ips[0].family, AF_INET);
        ASSERT_EQ(p->allowed_ips[0].prefix_len, 16);
        ASSERT_EQ(p->allowed_ips[0].addr[1], 10);
        ASSERT_EQ(p->allowed_ips[1].family, AF_INET6);
        ASSERT_EQ(p->allowed_ips[1].prefix_len, 48);

        p = &d.peers[1];
        ASSERT_TRUE(!p->has_preshared_key); /* all-zero = none */
        ASSERT_EQ(p->endpoint.sa.sa_family, AF_INET6);
        ASSERT_EQ(ntohs(p->endpoint.in6.sin6_port), 51822);
        ASSERT_EQ(p->n_allowed_ips, 0);
        ASSERT_TRUE(err == NULL);
        uapi_device_done(&d);
}

TEST(uapi_parse_errno_values) {
        UapiDevice d = {};
        ASSERT_OK(parse("errno=0\n\n", &d, NULL));
        ASSERT_EQ(d.errnum, 0);
        ASSERT_EQ(d.n_peers, 0);
        ASSERT_OK(parse("errno=22\n\n", &d, NULL));
        ASSERT_EQ(d.errnum, 22);
        /* Some engines write it negative. */
        ASSERT_OK(parse("errno=-98\n\n", &d, NULL));
        ASSERT_EQ(d.errnum, 98);
        /* A missing final blank line is tolerated (EOF after errno). */
        ASSERT_OK(parse("errno=5\n", &d, NULL));
        ASSERT_EQ(d.errnum, 5);
        ASSERT_STREQ(uapi_errno_name(98), "listen port in use (EADDRINUSE)");
}

TEST(uapi_parse_missing_errno) {
        UapiDevice d = {};
        char *err = NULL;
        ASSERT_EQ(parse("listen_port=1\n\n", &d, &err), -EBADMSG);
        ASSERT_CONTAINS(err, "without errno=");
        free(err);
        err = NULL;
        ASSERT_EQ(parse("", &d, &err), -EBADMSG);
        free(err);
        err = NULL;
        ASSERT_EQ(parse("\n", &d, &err), -EBADMSG);
        free(err);
}

static void expect_malformed(const char *reply, const char *want) {
        UapiDevice d = { .n_peers = 99 };
        char *err = NULL;
        int r = parse(reply, &d, &err);
        if (r != -EBADMSG)
                FAILF("expected -EBADMSG for %s, got %d", reply, r);
        ASSERT_CONTAINS(err, want);
        /* Errors never quote values: no key material can leak through them. */
        if (strstr(err, PRIV_HEX) || strstr(err, PSK_HEX) || strstr(err, "deadbeef"))
                FAILF("error quotes a value: %s", err);
        ASSERT_EQ(d.n_peers, 99); /* untouched on failure */
        free(err);
}

TEST(uapi_parse_malformed_lines) {
        expect_malformed("garbage\nerrno=0\n\n", "line 1 is not key=value");
        expect_malformed("=5\nerrno=0\n\n", "line 1 is not key=value");
        expect_malformed("listen_port=70000\nerrno=0\n\n", "line 1: bad value for listen_port");
        expect_malformed("listen_port=-1\nerrno=0\n\n", "bad value for listen_port");
        expect_malformed("private_key=" PRIV_HEX "00\nerrno=0\n\n", "bad value for private_key");
        expect_malformed("public_key=deadbeef\nerrno=0\n\n", "malformed public_key");
        expect_malformed("public_key=" PUB1_HEX "\npublic_key=" PUB1_HEX "\nerrno=0\n\n",
                         "duplicate public_key");
        expect_malformed("public_key=" PUB1_HEX "\ntx_bytes=12x\nerrno=0\n\n",
                         "line 2: bad value for peer key tx_bytes");
        expect_malformed("public_key=" PUB1_HEX "\nrx_bytes=18446744073709551616\nerrno=0\n\n",
                         "rx_bytes");
        expect_malformed("public_key=" PUB1_HEX "\nallowed_ip=10.0.0.0/33\nerrno=0\n\n",
                         "allowed_ip");
        expect_malformed("public_key=" PUB1_HEX "\nallowed_ip=10.0.0.0\nerrno=0\n\n", "allowed_ip");
        expect_malformed("public_key=" PUB1_HEX "\nendpoint=2001:db8::1:5\nerrno=0\n\n",
                         "endpoint");
        expect_malformed("public_key=" PUB1_HEX "\npreshared_key=" PSK_HEX "x\nerrno=0\n\n",
                         "preshared_key");
        expect_malformed("public_key=" PUB1_HEX "\nlast_handshake_time_nsec=1000000000\n"
                         "errno=0\n\n",
                         "last_handshake_time_nsec");
        expect_malformed("errno=0\nlisten_port=1\n\n", "follows errno=");
        expect_malformed("errno=abc\n\n", "bad errno value");
        expect_malformed("errno=\n\n", "bad errno value");
        expect_malformed("errno=0\n\nlisten_port=1\n", "data after the blank line");

        char nul[] = "listen_port=1X\nerrno=0\n\n";
        nul[13] = 0;
        UapiDevice d = {};
        char *err = NULL;
        ASSERT_EQ(uapi_parse_reply(nul, sizeof(nul) - 1, &d, &err), -EBADMSG);
        ASSERT_CONTAINS(err, "NUL");
        free(err);

        char *big = malloc(UAPI_LINE_MAX + 32);
        memset(big, 'a', UAPI_LINE_MAX + 10);
        strcpy(big + UAPI_LINE_MAX + 10, "=1\nerrno=0\n\n");
        err = NULL;
        ASSERT_EQ(parse(big, &d, &err), -EBADMSG);
        ASSERT_CONTAINS(err, "too long");
        free(err);
        free(big);
}

TEST(uapi_parse_unknown_keys_ignored) {
        UapiDevice d = {};
        ASSERT_OK(parse("future_device_key=1\npublic_key=" PUB1_HEX
                        "\nfuture_peer_key=x\nerrno=0\n\n",
                        &d, NULL));
        ASSERT_EQ(d.n_peers, 1);
        uapi_device_done(&d);
}

TEST(uapi_reply_complete) {
        ASSERT_TRUE(!uapi_reply_complete("errno=0\n", 8));
        ASSERT_TRUE(uapi_reply_complete("errno=0\n\n", 9));
        ASSERT_TRUE(uapi_reply_complete("\n", 1));
        ASSERT_TRUE(!uapi_reply_complete("", 0));
}

TEST(uapi_endpoint_formats) {
        char *host = NULL;
        uint16_t port = 0;
        union sockaddr_union sa;
        char buf[UAPI_ENDPOINT_MAX];

        ASSERT_OK(uapi_endpoint_split("[2001:db8::1]:51820", &host, &port));
        ASSERT_STREQ(host, "2001:db8::1");
        ASSERT_EQ(port, 51820);
        ASSERT_EQ(uapi_endpoint_numeric(host, port, &sa), 1);
        ASSERT_OK(uapi_endpoint_format(&sa, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "[2001:db8::1]:51820");
        free(host);

        ASSERT_OK(uapi_endpoint_split("192.0.2.7:1", &host, &port));
        ASSERT_EQ(uapi_endpoint_numeric(host, port, &sa), 1);
        ASSERT_OK(uapi_endpoint_format(&sa, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "192.0.2.7:1");
        free(host);

        ASSERT_OK(uapi_endpoint_split("vpn.example.org:443", &host, &port));
        ASSERT_STREQ(host, "vpn.example.org");
        ASSERT_EQ(uapi_endpoint_numeric(host, port, &sa), 0);
        free(host);

        ASSERT_OK(uapi_endpoint_split("[fe80::1%3]:5", &host, &port));
        ASSERT_EQ(uapi_endpoint_numeric(host, port, &sa), 1);
        ASSERT_EQ(sa.in6.sin6_scope_id, 3);
        ASSERT_OK(uapi_endpoint_format(&sa, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "[fe80::1%3]:5");
        free(host);

        const char *bad[] = { "2001:db8::1:51820",
                              ":51820",
                              "host:",
                              "host:0",
                              "host:65536",
                              "host",
                              "[2001:db8::1]51820",
                              "[]:1",
                              "ho st:1",
                              "host:+1",
                              "" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (uapi_endpoint_split(bad[i], &host, &port) != -EINVAL)
                        FAILF("accepted endpoint \"%s\"", bad[i]);

        ASSERT_OK(uapi_endpoint_parse("[2001:db8::2]:7", &sa));
        ASSERT_EQ(sa.sa.sa_family, AF_INET6);
        ASSERT_EQ(uapi_endpoint_parse("[192.0.2.1]:7", &sa), -EINVAL);
        ASSERT_EQ(uapi_endpoint_parse("name:7", &sa), -EINVAL);
}

/* A config as the shim would send it. */
typedef struct TestCfg {
        Tund__WgConfig cfg;
        Tund__WgPeer peer[2], *peers[2];
        Tund__IpPrefix pfx[3], *pfx1[2], *pfx2[1];
        uint8_t a4[4], a6[16], b4[4];
        char priv[64], psk[64];
} TestCfg;

static void test_cfg(TestCfg *t) {
        memset(t, 0, sizeof(*t));
        tund__wg_config__init(&t->cfg);
        strcpy(t->priv, PRIV_B64);
        strcpy(t->psk, PSK_B64);
        t->cfg.private_key = t->priv;
        t->cfg.listen_port = 51820;
        t->cfg.fwmark = 0x1234;
        for (int i = 0; i < 2; i++) {
                tund__wg_peer__init(&t->peer[i]);
                t->peers[i] = &t->peer[i];
        }
        for (int i = 0; i < 3; i++)
                tund__ip_prefix__init(&t->pfx[i]);
        inet_pton(AF_INET, "10.10.0.0", t->a4);
        inet_pton(AF_INET6, "2001:db8:1::", t->a6);
        inet_pton(AF_INET, "0.0.0.0", t->b4);
        t->pfx[0].address = (ProtobufCBinaryData){ 4, t->a4 };
        t->pfx[0].prefix_len = 16;
        t->pfx[1].address = (ProtobufCBinaryData){ 16, t->a6 };
        t->pfx[1].prefix_len = 48;
        t->pfx[2].address = (ProtobufCBinaryData){ 4, t->b4 };
        t->pfx[2].prefix_len = 0;
        t->pfx1[0] = &t->pfx[0];
        t->pfx1[1] = &t->pfx[1];
        t->pfx2[0] = &t->pfx[2];

        t->peer[0].public_key = (char *) PUB1_B64;
        t->peer[0].preshared_key = t->psk;
        t->peer[0].endpoint = (char *) "192.0.2.1:51821";
        t->peer[0].persistent_keepalive = 25;
        t->peer[0].n_allowed_ips = 2;
        t->peer[0].allowed_ips = t->pfx1;
        t->peer[1].public_key = (char *) PUB2_B64;
        t->peer[1].endpoint = (char *) "[2001:db8::2]:51822";
        t->peer[1].n_allowed_ips = 1;
        t->peer[1].allowed_ips = t->pfx2;
        t->cfg.n_peers = 2;
        t->cfg.peers = t->peers;
}

static void test_endpoints(UapiEndpoint ep[2]) {
        memset(ep, 0, 2 * sizeof(UapiEndpoint));
        ASSERT_OK(uapi_endpoint_parse("192.0.2.1:51821", &ep[0].addr));
        ASSERT_OK(uapi_endpoint_parse("[2001:db8::2]:51822", &ep[1].addr));
}

static const char expected_set[] = "set=1\n"
                                   "private_key=" PRIV_HEX "\n"
                                   "listen_port=51820\n"
                                   "fwmark=4660\n"
                                   "replace_peers=true\n"
                                   "public_key=" PUB1_HEX "\n"
                                   "preshared_key=" PSK_HEX "\n"
                                   "endpoint=192.0.2.1:51821\n"
                                   "persistent_keepalive_interval=25\n"
                                   "replace_allowed_ips=true\n"
                                   "allowed_ip=10.10.0.0/16\n"
                                   "allowed_ip=2001:db8:1::/48\n"
                                   "public_key=" PUB2_HEX "\n"
                                   "endpoint=[2001:db8::2]:51822\n"
                                   "persistent_keepalive_interval=0\n"
                                   "replace_allowed_ips=true\n"
                                   "allowed_ip=0.0.0.0/0\n"
                                   "\n";

TEST(uapi_build_config_full) {
        TestCfg t;
        UapiEndpoint ep[2];
        SecBuf out = {};
        char *err = NULL;
        test_cfg(&t);
        test_endpoints(ep);
        ASSERT_OK(uapi_build_config(&t.cfg, ep, &out, &err));
        ASSERT_STREQ(out.data, expected_set);
        secbuf_wipe(&out);
        ASSERT_TRUE(out.data == NULL && out.len == 0);
}

TEST(uapi_build_pieces) {
        TestCfg t;
        UapiEndpoint ep[2];
        SecBuf out = {};
        test_cfg(&t);
        test_endpoints(ep);
        ASSERT_OK(uapi_build_device(&t.cfg, &out, NULL));
        ASSERT_STREQ(out.data, "set=1\nprivate_key=" PRIV_HEX
                               "\nlisten_port=51820\nfwmark=4660\nreplace_peers=true\n\n");
        secbuf_wipe(&out);
        ASSERT_OK(uapi_build_peer(&t.cfg, 1, ep, &out, NULL));
        ASSERT_STREQ(out.data, "set=1\npublic_key=" PUB2_HEX
                               "\nendpoint=[2001:db8::2]:51822\npersistent_keepalive_interval=0\n"
                               "replace_allowed_ips=true\nallowed_ip=0.0.0.0/0\n\n");
        secbuf_wipe(&out);
        ASSERT_EQ(uapi_build_peer(&t.cfg, 2, ep, &out, NULL), -EINVAL);
        secbuf_wipe(&out);
}

static void expect_build_error(TestCfg *t, const UapiEndpoint *ep, const char *want) {
        SecBuf out = {};
        char *err = NULL;
        int r = uapi_build_config(&t->cfg, ep, &out, &err);
        if (r != -EINVAL)
                FAILF("expected -EINVAL (want \"%s\"), got %d", want, r);
        ASSERT_CONTAINS(err, want);
        if (strstr(err, PRIV_B64) || strstr(err, PSK_B64) || strstr(err, t->priv) ||
            strstr(err, t->psk) || strstr(err, PRIV_HEX) || strstr(err, PSK_HEX))
                FAILF("error leaks a secret: %s", err);
        free(err);
        secbuf_wipe(&out);
}

TEST(uapi_build_errors_no_secrets) {
        TestCfg t;
        UapiEndpoint ep[2];
        test_endpoints(ep);

        test_cfg(&t);
        t.priv[10] = '!'; /* not base64 */
        expect_build_error(&t, ep, "invalid private key");
        test_cfg(&t);
        t.priv[43] = 0; /* too short */
        expect_build_error(&t, ep, "invalid private key");
        test_cfg(&t);
        t.psk[5] = '#';
        expect_build_error(&t, ep, "peer 1 (OR0J4her");
        test_cfg(&t);
        t.psk[5] = '#';
        expect_build_error(&t, ep, "invalid preshared key");
        test_cfg(&t);
        t.peer[1].public_key = (char *) "p3AjDFwi6ZKwImbREMVTn2HbHJePV1Dmu0V1Fl5y8Q";
        expect_build_error(&t, ep, "peer 2 (p3AjDFwi");
        test_cfg(&t);
        t.peer[1].public_key = (char *) PUB1_B64;
        expect_build_error(&t, ep, "same public key as peer 1");
        test_cfg(&t);
        t.peer[0].persistent_keepalive = 70000;
        expect_build_error(&t, ep, "persistent keepalive 70000 out of range");
        test_cfg(&t);
        t.pfx[0].prefix_len = 33;
        expect_build_error(&t, ep, "peer 1 (OR0J4her…): allowed IP 1 is not a valid prefix");
        test_cfg(&t);
        expect_build_error(&t, NULL, "endpoint was not resolved");
        test_cfg(&t);
        t.cfg.listen_port = 65536;
        expect_build_error(&t, ep, "listen port 65536");
}

TEST(uapi_build_endpoints_rebind) {
        TestCfg t;
        UapiEndpoint ep[2];
        SecBuf out = {};
        test_cfg(&t);
        test_endpoints(ep);
        ASSERT_OK(uapi_build_endpoints(&t.cfg, ep, &out, NULL));
        ASSERT_STREQ(out.data, "set=1\npublic_key=" PUB1_HEX
                               "\nendpoint=192.0.2.1:51821\npersistent_keepalive_interval=0\n"
                               "persistent_keepalive_interval=25\npublic_key=" PUB2_HEX
                               "\nendpoint=[2001:db8::2]:51822\n\n");
        /* Rebind never sends keys other than public ones. */
        ASSERT_TRUE(!strstr(out.data, PRIV_HEX) && !strstr(out.data, PSK_HEX));
        secbuf_wipe(&out);
}

TEST(uapi_peer_name_bounded) {
        char buf[UAPI_PEER_NAME_LEN + 4];
        uapi_peer_name(PUB1_B64, buf);
        ASSERT_STREQ(buf, "OR0J4her…");
        uapi_peer_name("a\nb", buf);
        ASSERT_STREQ(buf, "a?b…");
        uapi_peer_name("", buf);
        ASSERT_STREQ(buf, "?…");
}

TEST(secbuf_grows) {
        SecBuf b = {};
        for (int i = 0; i < 1000; i++)
                ASSERT_OK(secbuf_printf(&b, "%04d", i));
        ASSERT_EQ(b.len, 4000);
        ASSERT_TRUE(strncmp(b.data + 3996, "0999", 4) == 0);
        char big[600];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        ASSERT_OK(secbuf_printf(&b, "%s", big));
        ASSERT_EQ(b.len, 4599);
        secbuf_wipe(&b);
}

static uint64_t elapsed_ms(const struct timespec *since) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (uint64_t) (now.tv_sec - since->tv_sec) * 1000 +
               (uint64_t) ((now.tv_nsec - since->tv_nsec) / 1000000);
}

/* What a 4 MiB reply can hold parses in linear time: every new peer used to be compared with
 * all before it (~20 s for 50000 peers) and the arrays grew by one element per line (minutes
 * under ASan for 170000 allowed IPs). The bound is loose; the old code missed it by far.
 * (Found by fuzz-tunnel.) */
TEST(uapi_parse_large_replies) {
        size_t n = 50000, len = 0;
        char *buf = malloc(UAPI_REPLY_MAX);
        struct timespec t0;
        UapiDevice d = {};
        char *err = NULL;

        ASSERT_TRUE(buf);
        for (size_t i = 0; i < n; i++)
                len += (size_t) sprintf(buf + len, "public_key=%064zx\n", i + 1);
        strcpy(buf + len, "errno=0\n\n");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ASSERT_OK(parse(buf, &d, &err));
        ASSERT_TRUE(elapsed_ms(&t0) < 5000);
        ASSERT_EQ(d.n_peers, n);
        ASSERT_EQ(d.peers[n - 1].public_key[31], (uint8_t) (n & 0xff));
        uapi_device_done(&d);

        len = (size_t) sprintf(buf, "public_key=" PUB1_HEX "\n");
        for (n = 0; len + 40 < UAPI_REPLY_MAX; n++)
                len += (size_t) sprintf(buf + len, "allowed_ip=10.%zu.0.0/16\n", n % 256);
        strcpy(buf + len, "errno=0\n\n");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ASSERT_OK(parse(buf, &d, &err));
        ASSERT_TRUE(elapsed_ms(&t0) < 5000);
        ASSERT_EQ(d.n_peers, 1);
        ASSERT_EQ(d.peers[0].n_allowed_ips, n);
        ASSERT_EQ(d.peers[0].allowed_ips[n - 1].addr[1], (uint8_t) ((n - 1) % 256));
        uapi_device_done(&d);
        free(buf);
}

/* The duplicate found after sorting is still named by the line of its second appearance. */
TEST(uapi_parse_duplicate_line) {
        expect_malformed("public_key=" PUB1_HEX "\npublic_key=" PUB2_HEX "\npublic_key=" PUB1_HEX
                         "\npublic_key=" PUB2_HEX "\nerrno=0\n\n",
                         "line 3: duplicate public_key");
        expect_malformed("public_key=" PUB2_HEX "\nlisten_port=1\npublic_key=" PUB2_HEX
                         "\npublic_key=" PUB2_HEX "\nerrno=0\n\n",
                         "line 3: duplicate public_key");
}
