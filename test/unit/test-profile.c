/* Profile parser: valid wg-quick configs, every refusal with its exact message, no key material
 * in errors, the permission check on a real file, and the protobuf conversion. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "macro.h"
#include "profile.h"
#include "tests.h"

#define PRIV "cCPJ1wsALzUCpr1lDIPG3zq4DbknLH4KYzbXXmlEslc="
#define PUB1 "4QZ9dRa7qbzLtWhDGxXSUvhP3rx/tj7ZO3o9IilOwGY="
#define PUB2 "QeoGvdq4tTWWn84vJVcwgzfgF5bb2mIyW0KuFSaSyg8="
#define PSK "/VYgaSKPs2ZFmPJ+4YCRBmScucg+B4ALXAhSLhRuMEY="
#define PATH "/etc/tund/work.conf"

#define MINIMAL "[Interface]\nPrivateKey = " PRIV "\n"

static Profile *parse_ok(const char *text) {
        Profile *p = NULL;
        char *err = NULL;
        int r;

        r = profile_parse_string(text, PATH, "work", &p, &err);
        if (r < 0)
                FAILF("parse failed: %d: %s", r, err ?: "(no message)");
        ASSERT_TRUE(p);
        ASSERT_TRUE(!err);
        return p;
}

/* Parses text, which must fail with exactly the message expected. */
static void expect_error(const char *text, const char *expected) {
        Profile *p = NULL;
        char *err = NULL;
        int r;

        r = profile_parse_string(text, PATH, "work", &p, &err);
        if (r >= 0)
                FAILF("accepted, expected \"%s\"", expected);
        ASSERT_EQ(r, -EINVAL);
        ASSERT_TRUE(!p);
        ASSERT_STREQ(err, expected);
        free(err);
}

static void assert_prefix(const ProfilePrefix *p, const char *addr, unsigned len) {
        char buf[INET6_ADDRSTRLEN];

        ASSERT_TRUE(inet_ntop(p->family, p->addr, buf, sizeof(buf)));
        ASSERT_STREQ(buf, addr);
        ASSERT_EQ(p->prefixlen, len);
}

static void assert_ip(const ProfileAddress *a, const char *addr) {
        char buf[INET6_ADDRSTRLEN];

        ASSERT_TRUE(inet_ntop(a->family, a->addr, buf, sizeof(buf)));
        ASSERT_STREQ(buf, addr);
}

TEST(valid_full_profile) {
        Profile *p = parse_ok("# work VPN\n"
                              "[Interface]\n"
                              "PrivateKey = " PRIV "\n"
                              "Address = 10.8.0.2/24, fd00:8::2/64\n"
                              "Address = 192.0.2.7\n"
                              "Address = 2001:db8::7\n"
                              "DNS = 10.8.0.1, 2001:db8::53, corp.example.com, example.org\n"
                              "MTU = 1380\n"
                              "ListenPort = 51820\n"
                              "\n"
                              "[Peer]\n"
                              "PublicKey = " PUB1 "\n"
                              "PresharedKey = " PSK "\n"
                              "Endpoint = vpn.example.com:51820\n"
                              "AllowedIPs = 0.0.0.0/0, ::/0\n"
                              "PersistentKeepalive = 25\n"
                              "\n"
                              "[Peer]\n"
                              "PublicKey = " PUB2 "\n"
                              "Endpoint = [2001:db8::1]:443\n"
                              "AllowedIPs = 198.51.100.0/24\n"
                              "AllowedIPs = 2001:db8:1::/48\n");

        ASSERT_STREQ(p->name, "work");
        ASSERT_STREQ(p->private_key, PRIV);
        ASSERT_EQ(p->n_addresses, 4);
        assert_prefix(&p->addresses[0], "10.8.0.2", 24);
        assert_prefix(&p->addresses[1], "fd00:8::2", 64);
        assert_prefix(&p->addresses[2], "192.0.2.7", 32);
        assert_prefix(&p->addresses[3], "2001:db8::7", 128);
        ASSERT_EQ(p->n_dns_servers, 2);
        assert_ip(&p->dns_servers[0], "10.8.0.1");
        assert_ip(&p->dns_servers[1], "2001:db8::53");
        ASSERT_EQ(p->n_search_domains, 2);
        ASSERT_STREQ(p->search_domains[0], "corp.example.com");
        ASSERT_STREQ(p->search_domains[1], "example.org");
        ASSERT_EQ(p->mtu, 1380);
        ASSERT_EQ(p->listen_port, 51820);
        ASSERT_EQ(p->table, 0);
        ASSERT_TRUE(!p->table_off);
        ASSERT_EQ(p->fwmark, 0);

        ASSERT_EQ(p->n_peers, 2);
        ASSERT_STREQ(p->peers[0].public_key, PUB1);
        ASSERT_STREQ(p->peers[0].preshared_key, PSK);
        ASSERT_STREQ(p->peers[0].endpoint, "vpn.example.com:51820");
        ASSERT_EQ(p->peers[0].endpoint_port, 51820);
        ASSERT_EQ(p->peers[0].n_allowed_ips, 2);
        assert_prefix(&p->peers[0].allowed_ips[0], "0.0.0.0", 0);
        assert_prefix(&p->peers[0].allowed_ips[1], "::", 0);
        ASSERT_EQ(p->peers[0].persistent_keepalive, 25);
        ASSERT_STREQ(p->peers[1].public_key, PUB2);
        ASSERT_STREQ(p->peers[1].preshared_key, "");
        ASSERT_STREQ(p->peers[1].endpoint, "[2001:db8::1]:443");
        ASSERT_EQ(p->peers[1].n_allowed_ips, 2);
        assert_prefix(&p->peers[1].allowed_ips[1], "2001:db8:1::", 48);
        ASSERT_EQ(p->peers[1].persistent_keepalive, 0);

        /* defaults derived at the end */
        ASSERT_STREQ(p->ifname, "tund-work");
        ASSERT_TRUE(profile_has_default_route(p));
        ASSERT_EQ(p->dns_mode, PROFILE_DNS_MODE_FULL);
        ASSERT_EQ(p->tun_flavour, ENGINE_TUN_FLAVOUR_UNKNOWN);
        profile_free(p);
}

TEST(odd_whitespace_comments_crlf_case) {
        Profile *p = parse_ok("\xEF\xBB\xBF; a comment\r\n"
                              "  # indented comment\r\n"
                              "\r\n"
                              "[interface]   \r\n"
                              "\tprivatekey=" PRIV "   # trailing comment\r\n"
                              "   ADDRESS   =\t10.8.0.2/32,,  10.8.0.3/32 \r\n"
                              "dns=10.8.0.1 example.com\r\n"
                              "\r\n"
                              "[ PEER ]\r\n"
                              "publickey =" PUB1 "\r\n"
                              "  allowedips = 10.8.0.0/24 ; inline comment\r\n"
                              "endpoint = 203.0.113.5:51820");

        ASSERT_STREQ(p->private_key, PRIV);
        ASSERT_EQ(p->n_addresses, 2);
        assert_prefix(&p->addresses[1], "10.8.0.3", 32);
        ASSERT_EQ(p->n_dns_servers, 1);
        ASSERT_EQ(p->n_search_domains, 1);
        ASSERT_STREQ(p->search_domains[0], "example.com");
        ASSERT_EQ(p->n_peers, 1);
        ASSERT_STREQ(p->peers[0].public_key, PUB1);
        ASSERT_EQ(p->peers[0].n_allowed_ips, 1);
        ASSERT_STREQ(p->peers[0].endpoint, "203.0.113.5:51820");
        /* no default route: split DNS */
        ASSERT_EQ(p->dns_mode, PROFILE_DNS_MODE_SPLIT);
        profile_free(p);
}

TEST(consecutive_peer_sections_are_separate_peers) {
        Profile *p =
                parse_ok(MINIMAL "[Peer]\nPublicKey = " PUB1 "\n[Peer]\nPublicKey = " PUB2 "\n");

        ASSERT_EQ(p->n_peers, 2);
        ASSERT_EQ(p->peers[0].line, 3);
        ASSERT_EQ(p->peers[1].line, 5);
        profile_free(p);
}

TEST(long_allowed_ips_line) {
        char text[8192], *q;
        Profile *p;
        int i;

        /* wg-quick configs often carry long AllowedIPs lines; inih's default is 200 bytes. */
        q = text + sprintf(text, MINIMAL "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = ");
        for (i = 0; i < 120; i++)
                q += sprintf(q, "%s10.%d.0.0/16", i ? ", " : "", i);
        strcpy(q, "\nPersistentKeepalive = 5\n");
        ASSERT_TRUE(strlen(text) > 1500);
        p = parse_ok(text);
        ASSERT_EQ(p->peers[0].n_allowed_ips, 120);
        assert_prefix(&p->peers[0].allowed_ips[119], "10.119.0.0", 16);
        ASSERT_EQ(p->peers[0].persistent_keepalive, 5);
        profile_free(p);
}

TEST(allowed_ips_host_bits_masked_addresses_kept) {
        Profile *p = parse_ok("[Interface]\nPrivateKey = " PRIV "\nAddress = 10.1.2.3/8\n"
                              "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.1.2.3/8, "
                              "2001:db8::1/32\n[Tund]\nExcludedRoutes = 192.0.2.9/24\n");

        assert_prefix(&p->addresses[0], "10.1.2.3", 8);
        assert_prefix(&p->peers[0].allowed_ips[0], "10.0.0.0", 8);
        assert_prefix(&p->peers[0].allowed_ips[1], "2001:db8::", 32);
        ASSERT_EQ(p->n_excluded_routes, 1);
        assert_prefix(&p->excluded_routes[0], "192.0.2.0", 24);
        profile_free(p);
}

TEST(table_and_fwmark_forms) {
        static const struct {
                const char *table, *fwmark;
                uint32_t t, mark;
                bool off;
        } cases[] = {
                { "off", "off", 0, 0, true },
                { "auto", "0", 0, 0, false },
                { "1234", "0x1234", 1234, 0x1234, false },
                { "main", "51820", 254, 51820, false },
                { "4294967295", "0xffffffff", UINT32_MAX, UINT32_MAX, false },
                { "OFF", "OFF", 0, 0, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char text[512];
                Profile *p;

                snprintf(text, sizeof(text), MINIMAL "Table = %s\nFwMark = %s\n", cases[i].table,
                         cases[i].fwmark);
                p = parse_ok(text);
                ASSERT_EQ(p->table, cases[i].t);
                ASSERT_EQ(p->fwmark, cases[i].mark);
                ASSERT_EQ(p->table_off, cases[i].off);
                profile_free(p);
        }
        expect_error(MINIMAL "Table = 0\n",
                     PATH ":3: Table: \"0\" is not \"off\", \"auto\", \"main\" or a table number "
                          "between 1 and 4294967295");
        expect_error(MINIMAL "Table = 4294967296\n",
                     PATH ":3: Table: \"4294967296\" is not \"off\", \"auto\", \"main\" or a table "
                          "number between 1 and 4294967295");
        expect_error(MINIMAL "FwMark = 0x1g\n",
                     PATH ":3: FwMark: \"0x1g\" is not \"off\" or a 32-bit number (decimal or 0x "
                          "hex)");
        expect_error(MINIMAL "FwMark = -1\n",
                     PATH ":3: FwMark: \"-1\" is not \"off\" or a 32-bit number (decimal or 0x "
                          "hex)");
}

TEST(keepalive_and_ports) {
        Profile *p = parse_ok(MINIMAL "ListenPort = 0\n[Peer]\nPublicKey = " PUB1
                                      "\nPersistentKeepalive = off\nEndpoint = 192.0.2.1:65535\n");

        ASSERT_EQ(p->listen_port, 0);
        ASSERT_EQ(p->peers[0].persistent_keepalive, 0);
        ASSERT_EQ(p->peers[0].endpoint_port, 65535);
        profile_free(p);

        expect_error(MINIMAL "ListenPort = 65536\n",
                     PATH ":3: ListenPort: \"65536\" is not a number between 0 and 65535");
        expect_error(MINIMAL "ListenPort = +5\n",
                     PATH ":3: ListenPort: value is not a number between 0 and 65535");
        expect_error(MINIMAL "[Peer]\nPublicKey = " PUB1 "\nPersistentKeepalive = 70000\n",
                     PATH ":5: PersistentKeepalive: \"70000\" is not a number between 0 and 65535");
        expect_error(MINIMAL "MTU = 100\n",
                     PATH ":3: MTU: \"100\" is not a number between 576 and 65535");
}

TEST(dns_mode_defaults_and_tund_section) {
        Profile *p;

        /* default route but no DNS: split */
        p = parse_ok(MINIMAL "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 0.0.0.0/0\n");
        ASSERT_EQ(p->dns_mode, PROFILE_DNS_MODE_SPLIT);
        profile_free(p);

        p = parse_ok(MINIMAL "DNS = 10.0.0.1\n[Peer]\nPublicKey = " PUB1
                             "\nAllowedIPs = 0.0.0.0/0\n[Tund]\nDNSMode = split\n"
                             "RoutingDomains = ~corp.example, internal.example.\n"
                             "RoutingDomains = lab.example\n"
                             "InterfaceName = wg-corp0\nEngineTunFlavour = no-pi\n");
        ASSERT_EQ(p->dns_mode, PROFILE_DNS_MODE_SPLIT);
        ASSERT_EQ(p->n_routing_domains, 3);
        ASSERT_STREQ(p->routing_domains[0], "corp.example");
        ASSERT_STREQ(p->routing_domains[1], "internal.example.");
        ASSERT_STREQ(p->routing_domains[2], "lab.example");
        ASSERT_STREQ(p->ifname, "wg-corp0");
        ASSERT_EQ(p->tun_flavour, ENGINE_TUN_FLAVOUR_NO_PI);
        profile_free(p);

        p = parse_ok(MINIMAL "DNS = 10.0.0.1\n[Tund]\nDNSMode = FULL\nEngineTunFlavour = pi\n");
        ASSERT_EQ(p->dns_mode, PROFILE_DNS_MODE_FULL);
        ASSERT_EQ(p->tun_flavour, ENGINE_TUN_FLAVOUR_PI);
        profile_free(p);

        expect_error(MINIMAL "[Tund]\nDNSMode = full\n",
                     PATH ":4: DNSMode: \"full\" needs DNS servers (DNS = in [Interface])");
        expect_error(MINIMAL "[Tund]\nDNSMode = all\n",
                     PATH ":4: DNSMode: \"all\" is not \"split\" or \"full\"");
        expect_error(MINIMAL "[Tund]\nEngineTunFlavour = vnet\n",
                     PATH ":4: EngineTunFlavour: \"vnet\" is not \"pi\" or \"no-pi\"");
        expect_error(MINIMAL "[Tund]\nRoutingDomains = bad..domain\n",
                     PATH ":4: RoutingDomains: \"bad..domain\" is not a valid domain name");
}

TEST(interface_name) {
        Profile *p = NULL;
        char *err = NULL;

        expect_error(MINIMAL "[Tund]\nInterfaceName = this-is-too-long0\n",
                     PATH ":4: InterfaceName: \"this-is-too-long0\" is not a valid interface name "
                          "(1 to 15 characters of A-Z a-z 0-9 _ . -)");
        expect_error(MINIMAL "[Tund]\nInterfaceName = wg/0\n",
                     PATH ":4: InterfaceName: \"wg/0\" is not a valid interface name (1 to 15 "
                          "characters of A-Z a-z 0-9 _ . -)");
        expect_error(MINIMAL "[Tund]\nInterfaceName = ..\n",
                     PATH ":4: InterfaceName: \"..\" is not a valid interface name (1 to 15 "
                          "characters of A-Z a-z 0-9 _ . -)");

        /* "tund-" + 11 characters is 16: too long for the default */
        ASSERT_EQ(profile_parse_string(MINIMAL, "/etc/tund/abcdefghijk.conf", "abcdefghijk", &p,
                                       &err),
                  -EINVAL);
        ASSERT_STREQ(err, "/etc/tund/abcdefghijk.conf: InterfaceName: the default name "
                          "\"tund-abcdefghijk\" is longer than 15 characters; set "
                          "InterfaceName= in [Tund]");
        free(err);
        err = NULL;
        ASSERT_OK(profile_parse_string(MINIMAL "[Tund]\nInterfaceName=x\n", NULL, "abcdefghijk", &p,
                                       &err));
        ASSERT_STREQ(p->ifname, "x");
        ASSERT_STREQ(p->path, "abcdefghijk.conf");
        profile_free(p);
        ASSERT_OK(profile_parse_string(MINIMAL, NULL, "abcdefghij", &p, &err));
        ASSERT_STREQ(p->ifname, "tund-abcdefghij");
        profile_free(p);
}

TEST(refused_hooks_and_saveconfig) {
        static const char *const hooks[] = { "PreUp", "PostUp", "PreDown", "PostDown" };

        for (size_t i = 0; i < ELEMENTSOF(hooks); i++) {
                char text[256], expected[256];

                snprintf(text, sizeof(text), MINIMAL "%s = iptables -A FORWARD -j ACCEPT\n",
                         hooks[i]);
                snprintf(expected, sizeof(expected),
                         PATH ":3: %s: not supported: tund never runs commands from a profile; "
                              "use a systemd drop-in for tund@.service instead",
                         hooks[i]);
                expect_error(text, expected);
        }
        /* spelled in another case, and in another section */
        expect_error(MINIMAL "[Peer]\npostup = echo\n",
                     PATH ":4: PostUp: not supported: tund never runs commands from a profile; use "
                          "a systemd drop-in for tund@.service instead");
        expect_error(MINIMAL "SaveConfig = true\n",
                     PATH ":3: SaveConfig: not supported: tund never writes a profile back");
}

TEST(structural_errors) {
        expect_error(MINIMAL "Foo = bar\n", PATH ":3: Foo: unknown key in this section");
        /* a [Peer] key in [Interface] is unknown there */
        expect_error(MINIMAL "Endpoint = 192.0.2.1:1\n",
                     PATH ":3: Endpoint: unknown key in this section");
        expect_error(MINIMAL "[Peers]\n",
                     PATH ":3: unknown section [Peers] (expected [Interface], [Peer] or [Tund])");
        expect_error(MINIMAL "[Peer\n", PATH ":3: malformed section header");
        expect_error(MINIMAL "[Peer] x\n", PATH ":3: malformed section header");
        expect_error("PrivateKey = " PRIV "\n[Interface]\n", PATH
                     ":1: key outside of a section: expected [Interface], [Peer] or [Tund] first");
        expect_error(MINIMAL "PrivateKey = " PRIV "\n",
                     PATH ":3: PrivateKey: duplicate key (already set on line 2)");
        expect_error(MINIMAL "MTU = 1400\nmtu = 1300\n",
                     PATH ":4: MTU: duplicate key (already set on line 3)");
        expect_error(MINIMAL "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 192.0.2.1:1\n"
                             "Endpoint = 192.0.2.2:1\n",
                     PATH ":6: Endpoint: duplicate key (already set on line 5)");
        expect_error(MINIMAL "MTU\n",
                     PATH ":3: syntax error: expected \"Key = Value\" or \"[Section]\"");
        expect_error(MINIMAL "MTU: 1400\n",
                     PATH ":3: syntax error: expected \"Key = Value\" or \"[Section]\"");
        expect_error(MINIMAL " = 1400\n",
                     PATH ":3: syntax error: expected \"Key = Value\" or \"[Section]\"");
        expect_error(MINIMAL "MTU =\n", PATH ":3: MTU: empty value");
        expect_error("[Peer]\nPublicKey = " PUB1 "\n", PATH ": no [Interface] section");
        expect_error("[Interface]\nAddress = 10.0.0.1\n",
                     PATH ":1: PrivateKey: missing in [Interface]");
        expect_error(MINIMAL "[Peer]\nEndpoint = 192.0.2.1:1\n",
                     PATH ":3: PublicKey: missing in [Peer]");
        expect_error(MINIMAL "[Peer]\nPublicKey = " PUB1 "\n[Peer]\nPublicKey = " PUB1 "\n",
                     PATH ":5: PublicKey: same key as the peer on line 3");
        expect_error("", PATH ": no [Interface] section");
}

TEST(long_line_refused) {
        char *text = malloc(10000);

        strcpy(text, MINIMAL "DNS = ");
        memset(text + strlen(text), 'a', 5000);
        strcpy(text + strlen(MINIMAL "DNS = ") + 5000, "\n");
        expect_error(text, PATH ":3: line longer than 4096 characters");
        free(text);
}

TEST(bad_keys) {
        expect_error("[Interface]\nPrivateKey = abc\n",
                     PATH ":2: PrivateKey: not a valid WireGuard key (must be 44 characters of "
                          "base64)");
        expect_error(MINIMAL "[Peer]\nPublicKey = 4QZ9dRa7qbzLtWhDGxXSUvhP3rx/tj7ZO3o9IilOwGZ=\n",
                     PATH ":4: PublicKey: not a valid WireGuard key (must be 44 characters of "
                          "base64)");
        expect_error(MINIMAL "\n\n\n[Peer]\nPublicKey = " PUB1 "x\n",
                     PATH ":7: PublicKey: not a valid WireGuard key (must be 44 characters of "
                          "base64)");
        expect_error(MINIMAL "[Peer]\nPublicKey = " PUB1 "\nPresharedKey = " PSK "A\n",
                     PATH ":5: PresharedKey: not a valid WireGuard key (must be 44 characters of "
                          "base64)");
        expect_error("[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
                     PATH ":2: PrivateKey: the all-zero key is not a usable key");
}

TEST(bad_addresses_endpoints_dns) {
        expect_error(MINIMAL "Address = 10.0.0.300/24\n",
                     PATH ":3: Address: \"10.0.0.300/24\" is not a valid IPv4 or IPv6 address with "
                          "optional /prefix");
        expect_error(MINIMAL "Address = 10.0.0.1/33\n",
                     PATH ":3: Address: \"10.0.0.1/33\" is not a valid IPv4 or IPv6 address with "
                          "optional /prefix");
        expect_error(MINIMAL "Address = 2001:db8::1/129\n",
                     PATH ":3: Address: \"2001:db8::1/129\" is not a valid IPv4 or IPv6 address "
                          "with optional /prefix");
        expect_error(MINIMAL "Address = 10.0.0.1/\n",
                     PATH ":3: Address: \"10.0.0.1/\" is not a valid IPv4 or IPv6 address with "
                          "optional /prefix");
        expect_error(MINIMAL "[Peer]\nPublicKey = " PUB1
                             "\nAllowedIPs = 10.0.0.0/8, host.example\n",
                     PATH ":5: AllowedIPs: \"host.example\" is not a valid IPv4 or IPv6 address "
                          "with optional /prefix");
        expect_error(MINIMAL "DNS = 10.0.0.256\n",
                     PATH ":3: DNS: \"10.0.0.256\" is not a valid IPv4 or IPv6 address");
        expect_error(MINIMAL "DNS = -bad-.example\n",
                     PATH ":3: DNS: \"-bad-.example\" is neither an IP address nor a valid search "
                          "domain");

        static const char *const endpoints[] = {
                "192.0.2.1",       "192.0.2.1:0",
                "192.0.2.1:65536", "2001:db8::1:51820",
                "[2001:db8::1]",   "[2001:db8::1]51820",
                "[zz::1]:1",       "host_:x",
                "-host.example:1", ":51820",
                "192.0.2.300:1",   "host.example:1x",
        };
        for (size_t i = 0; i < ELEMENTSOF(endpoints); i++) {
                char text[512], expected[512];

                snprintf(text, sizeof(text),
                         MINIMAL "[Peer]\nPublicKey = " PUB1 "\nEndpoint = %s\n", endpoints[i]);
                snprintf(expected, sizeof(expected),
                         PATH
                         ":5: Endpoint: \"%s\" is not HOST:PORT, IPV4:PORT or [IPV6]:PORT with "
                         "a port between 1 and 65535",
                         endpoints[i]);
                expect_error(text, expected);
        }
}

TEST(no_key_material_in_errors) {
        /* The private key put where it does not belong, in every way a user could. */
        static const char *const texts[] = {
                MINIMAL "Address = " PRIV "\n",
                MINIMAL "DNS = " PRIV "\n",
                MINIMAL "MTU = " PRIV "\n",
                MINIMAL "Table = " PRIV "\n",
                MINIMAL PRIV "\n",
                MINIMAL PRIV " = 1\n",
                MINIMAL "[" PRIV "]\n",
                MINIMAL "[Peer]\nPublicKey = " PUB1 "\nEndpoint = " PRIV "\n",
                MINIMAL "[Peer]\nPublicKey = " PUB1 "\nEndpoint = " PRIV ":51820\n",
                MINIMAL "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = " PRIV "\n",
                MINIMAL "[Peer]\nPublicKey = " PRIV "x\n",
                MINIMAL "[Peer]\nPublicKey = " PUB1 "\nPresharedKey = " PSK "=\n",
                MINIMAL "[Peer]\nPublicKey = " PUB1 "\nPersistentKeepalive = " PRIV "\n",
                MINIMAL "[Tund]\nInterfaceName = " PRIV "\n",
                MINIMAL "[Tund]\nRoutingDomains = " PRIV "\n",
                MINIMAL "[Tund]\nExcludedRoutes = cCPJ1wsALzUCpr1lDIPG3zq4Db\n",
                "[Interface]\nPrivateKey = " PRIV "x\n",
                "[Interface]\nPrivateKey = " PRIV "\nPrivateKey = " PRIV "\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                Profile *p = NULL;
                char *err = NULL;

                if (profile_parse_string(texts[i], PATH, "work", &p, &err) >= 0)
                        FAILF("case %zu accepted", i);
                ASSERT_TRUE(err);
                ASSERT_CONTAINS(err, PATH ":");
                if (strstr(err, "cCPJ1wsALzUC") || strstr(err, "/VYgaSKPs2ZF"))
                        FAILF("case %zu: key material in error: %s", i, err);
                free(err);
        }
}

static char *write_temp(const char *text, mode_t mode, char *dir) {
        char *path;
        int fd;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_TRUE(asprintf(&path, "%s/home.conf", dir) > 0);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ASSERT_EQ(fchmod(fd, mode), 0);
        close(fd);
        return path;
}

TEST(file_permissions) {
        char dir[] = "/tmp/test-profile-XXXXXX", expected[256];
        Profile *p = NULL;
        char *err = NULL, *path;

        path = write_temp(MINIMAL, 0644, dir);
        ASSERT_EQ(profile_load_file(path, &p, &err), -EPERM);
        snprintf(expected, sizeof(expected),
                 "%s: permissions 0644 are too open: the profile holds a private key, make it "
                 "readable by its owner only (chmod 600)",
                 path);
        ASSERT_STREQ(err, expected);
        ASSERT_TRUE(!p);
        free(err);
        err = NULL;

        ASSERT_EQ(chmod(path, 0620), 0);
        ASSERT_EQ(profile_load_file(path, &p, &err), -EPERM);
        free(err);
        err = NULL;
        ASSERT_EQ(chmod(path, 0602), 0);
        ASSERT_EQ(profile_load_file(path, &p, &err), -EPERM);
        free(err);
        err = NULL;

        ASSERT_EQ(chmod(path, 0600), 0);
        ASSERT_OK(profile_load_file(path, &p, &err));
        ASSERT_STREQ(p->name, "home");
        ASSERT_STREQ(p->path, path);
        ASSERT_STREQ(p->ifname, "tund-home");
        profile_free(p);
        p = NULL;

        ASSERT_OK(profile_load_name(dir, "home", &p, &err));
        ASSERT_STREQ(p->name, "home");
        profile_free(p);
        p = NULL;

        ASSERT_EQ(profile_load_name(dir, "../home", &p, &err), -EINVAL);
        ASSERT_CONTAINS(err, "not a valid profile name");
        free(err);
        err = NULL;
        ASSERT_EQ(profile_load_name(dir, "nope", &p, &err), -ENOENT);
        ASSERT_CONTAINS(err, "/nope.conf: cannot open: No such file or directory");
        free(err);

        unlink(path);
        rmdir(dir);
        free(path);
}

TEST(errors_name_the_file_path) {
        char dir[] = "/tmp/test-profile-XXXXXX", expected[256];
        Profile *p = NULL;
        char *err = NULL, *path;

        path = write_temp(MINIMAL "[Peer]\n\n\n\nPublicKey = nope\n", 0600, dir);
        ASSERT_EQ(profile_load_file(path, &p, &err), -EINVAL);
        snprintf(expected, sizeof(expected),
                 "%s:7: PublicKey: not a valid WireGuard key (must be 44 characters of base64)",
                 path);
        ASSERT_STREQ(err, expected);
        free(err);
        unlink(path);
        rmdir(dir);
        free(path);
}

TEST(names) {
        ASSERT_TRUE(profile_name_is_valid("work"));
        ASSERT_TRUE(profile_name_is_valid("a.b_c-D9"));
        ASSERT_TRUE(profile_name_is_valid("abcdefghijabcdefghijabcdefghij12"));
        ASSERT_TRUE(!profile_name_is_valid("abcdefghijabcdefghijabcdefghij123"));
        ASSERT_TRUE(!profile_name_is_valid(""));
        ASSERT_TRUE(!profile_name_is_valid("a b"));
        ASSERT_TRUE(!profile_name_is_valid("a/b"));
        ASSERT_TRUE(!profile_name_is_valid(".."));
        ASSERT_TRUE(!profile_name_is_valid("wörk"));
        ASSERT_TRUE(profile_ifname_is_valid("tund-123456789a"));
        ASSERT_TRUE(!profile_ifname_is_valid("tund-123456789ab"));
}

static void assert_proto_prefix(const Tund__IpPrefix *m, const char *addr, unsigned len) {
        char buf[INET6_ADDRSTRLEN];

        ASSERT_TRUE(m->address.len == 4 || m->address.len == 16);
        ASSERT_TRUE(inet_ntop(m->address.len == 4 ? AF_INET : AF_INET6, m->address.data, buf,
                              sizeof(buf)));
        ASSERT_STREQ(buf, addr);
        ASSERT_EQ(m->prefix_len, len);
}

TEST(proto_conversion) {
        Tund__WgConfig *c = NULL;
        Tund__NetworkSettings *ns;
        Profile *p =
                parse_ok("[Interface]\nPrivateKey = " PRIV "\nAddress = 10.8.0.2/24, fd00::2/64\n"
                         "DNS = 10.8.0.1, 2001:db8::53, corp.example\nMTU = 1380\n"
                         "ListenPort = 4500\nFwMark = 0x20\nTable = 1000\n"
                         "[Peer]\nPublicKey = " PUB1 "\nPresharedKey = " PSK "\n"
                         "Endpoint = vpn.example.com:51820\n"
                         "AllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n"
                         "[Peer]\nPublicKey = " PUB2 "\nAllowedIPs = 198.51.100.0/24, 0.0.0.0/0\n"
                         "[Tund]\nRoutingDomains = lab.example\nExcludedRoutes = 192.0.2.0/24\n");
        uint8_t buf[4096];
        size_t len;

        ASSERT_OK(profile_to_wg_config(p, &c));
        ASSERT_STREQ(c->private_key, PRIV);
        ASSERT_EQ(c->listen_port, 4500);
        ASSERT_EQ(c->fwmark, 0); /* the engine never marks: it has no CAP_NET_ADMIN */
        ASSERT_EQ(c->network->fwmark, 0x20);
        ASSERT_EQ(c->network->mtu, 1380u); /* MTU = 1380 above; the shim sets it */
        ASSERT_EQ(c->n_peers, 2);
        ASSERT_STREQ(c->peers[0]->public_key, PUB1);
        ASSERT_STREQ(c->peers[0]->preshared_key, PSK);
        ASSERT_STREQ(c->peers[0]->endpoint, "vpn.example.com:51820");
        ASSERT_EQ(c->peers[0]->persistent_keepalive, 25);
        ASSERT_EQ(c->peers[0]->n_allowed_ips, 2);
        assert_proto_prefix(c->peers[0]->allowed_ips[1], "::", 0);
        ASSERT_STREQ(c->peers[1]->preshared_key, "");
        ASSERT_STREQ(c->peers[1]->endpoint, "");

        ns = c->network;
        ASSERT_TRUE(ns);
        ASSERT_EQ(ns->n_addresses, 2);
        assert_proto_prefix(ns->addresses[0], "10.8.0.2", 24);
        assert_proto_prefix(ns->addresses[1], "fd00::2", 64);
        /* union of AllowedIPs, 0.0.0.0/0 once */
        ASSERT_EQ(ns->n_routes, 3);
        assert_proto_prefix(ns->routes[0], "0.0.0.0", 0);
        assert_proto_prefix(ns->routes[1], "::", 0);
        assert_proto_prefix(ns->routes[2], "198.51.100.0", 24);
        ASSERT_EQ(ns->n_excluded_routes, 1);
        assert_proto_prefix(ns->excluded_routes[0], "192.0.2.0", 24);
        ASSERT_EQ(ns->mtu, 1380);
        ASSERT_EQ(ns->n_dns_servers, 2);
        ASSERT_EQ(ns->dns_servers[0].len, 4);
        ASSERT_TRUE(memcmp(ns->dns_servers[0].data, "\x0a\x08\x00\x01", 4) == 0);
        ASSERT_EQ(ns->dns_servers[1].len, 16);
        ASSERT_EQ(ns->n_search_domains, 1);
        ASSERT_STREQ(ns->search_domains[0], "corp.example");
        ASSERT_EQ(ns->n_routing_domains, 1);
        ASSERT_STREQ(ns->routing_domains[0], "lab.example");
        ASSERT_EQ(ns->dns_mode, TUND__DNS_MODE__DNS_MODE_FULL);
        ASSERT_TRUE(ns->dns_default_route);
        ASSERT_EQ(ns->table, 1000);
        ASSERT_TRUE(!ns->table_off);
        ASSERT_EQ(ns->fwmark, 0x20);

        /* it survives the wire */
        len = tund__wg_config__get_packed_size(c);
        ASSERT_TRUE(len < sizeof(buf));
        ASSERT_EQ(tund__wg_config__pack(c, buf), len);
        Tund__WgConfig *back = tund__wg_config__unpack(NULL, len, buf);
        ASSERT_TRUE(back);
        ASSERT_STREQ(back->peers[1]->public_key, PUB2);
        ASSERT_EQ(back->network->n_routes, 3);
        tund__wg_config__free_unpacked(back, NULL);

        ASSERT_TRUE(profile_wg_config_free(c) == NULL);
        ASSERT_TRUE(profile_wg_config_free(NULL) == NULL);
        profile_free(p);
}

TEST(proto_conversion_split_table_off) {
        Tund__WgConfig *c = NULL;
        Profile *p = parse_ok(MINIMAL "Table = off\n[Peer]\nPublicKey = " PUB1 "\n");

        ASSERT_OK(profile_to_wg_config(p, &c));
        ASSERT_TRUE(c->network->table_off);
        ASSERT_EQ(c->network->dns_mode, TUND__DNS_MODE__DNS_MODE_SPLIT);
        ASSERT_TRUE(!c->network->dns_default_route);
        ASSERT_EQ(c->network->n_routes, 0);
        ASSERT_EQ(c->peers[0]->n_allowed_ips, 0);
        profile_wg_config_free(c);
        profile_free(p);
}

/* A full tunnel's settings name an fwmark for the rules' fwmark scheme, as wg-quick does; the
 * engine itself is never asked to set one (it could not: no CAP_NET_ADMIN), the shim exempts
 * it by its user instead. */
TEST(effective_fwmark) {
        static const char *full = MINIMAL "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 0.0.0.0/0\n";
        static const char *split =
                MINIMAL "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.0.0.0/8\n";
        Profile *p = parse_ok(full);
        ASSERT_EQ(profile_effective_fwmark(p), PROFILE_FWMARK_AUTO);
        Tund__WgConfig *c = NULL;
        ASSERT_OK(profile_to_wg_config(p, &c));
        ASSERT_EQ(c->fwmark, 0);                            /* the engine's set=1 */
        ASSERT_EQ(c->network->fwmark, PROFILE_FWMARK_AUTO); /* and the rules agree */
        ASSERT_EQ(c->network->mtu, PROFILE_MTU_DEFAULT);    /* no MTU =: the shim sets 1420 */
        profile_wg_config_free(c);
        profile_free(p);

        p = parse_ok(split);
        ASSERT_EQ(profile_effective_fwmark(p), 0);
        profile_free(p);
        p = parse_ok(MINIMAL "FwMark = 0x1234\n[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = ::/0\n");
        ASSERT_EQ(profile_effective_fwmark(p), 0x1234);
        profile_free(p);
        p = parse_ok(MINIMAL "Table = 1234\n[Peer]\nPublicKey = " PUB1
                             "\nAllowedIPs = 0.0.0.0/0\n");
        ASSERT_EQ(profile_effective_fwmark(p), 0); /* an explicit table gets no rules */
        profile_free(p);
}

/* Two peers with numeric endpoints (lines 4 and 8) and the tunnel's own addresses; [Tund] is
 * line 12, so the first kill switch key is on line 13. */
#define KS_BASE                                                                                    \
        MINIMAL "Address = 10.8.0.2/24, fd00:8::2/64\n"                                            \
                "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 203.0.113.5:51820\n"                     \
                "AllowedIPs = 0.0.0.0/0, ::/0\n"                                                   \
                "[Peer]\nPublicKey = " PUB2 "\nEndpoint = [2001:db8:e::1]:443\n"                   \
                "AllowedIPs = 10.9.0.0/16\n"                                                       \
                "[Tund]\n"
#define KS_ENDPOINT_WHY                                                                            \
        "; the kill switch already lets the engine's own UDP to it through, and a bypass would "   \
        "let everything else to it through too"

TEST(kill_switch_keys) {
        Profile *p = parse_ok(MINIMAL);
        ASSERT_TRUE(!p->kill_switch);
        ASSERT_TRUE(!p->allow_lan);
        ASSERT_EQ(p->n_allowed_bypass, 0);
        ASSERT_TRUE(!p->allowed_bypass);
        profile_free(p);

        /* host bits are dropped as for ExcludedRoutes; a prefix next to an endpoint or an
         * address, not over it, is fine; the keys may come in any order */
        p = parse_ok(KS_BASE "AllowedBypass = 198.51.100.7/24, 2001:db8:5::/48\n"
                             "allowlan = YES\n"
                             "KillSwitch = yes\n"
                             "AllowedBypass = 203.0.113.0/30 10.8.1.0/24\n"
                             "AllowedBypass = 192.0.2.9\n");
        ASSERT_TRUE(p->kill_switch);
        ASSERT_TRUE(p->allow_lan);
        ASSERT_EQ(p->n_allowed_bypass, 5);
        assert_prefix(&p->allowed_bypass[0], "198.51.100.0", 24);
        assert_prefix(&p->allowed_bypass[1], "2001:db8:5::", 48);
        assert_prefix(&p->allowed_bypass[2], "203.0.113.0", 30);
        assert_prefix(&p->allowed_bypass[3], "10.8.1.0", 24);
        assert_prefix(&p->allowed_bypass[4], "192.0.2.9", 32);
        profile_free(p);

        p = parse_ok(KS_BASE "KillSwitch = No\n");
        ASSERT_TRUE(!p->kill_switch);
        profile_free(p);
        p = parse_ok(MINIMAL "Table = 1234\n[Tund]\nKillSwitch = yes\nAllowLAN = no\n");
        ASSERT_TRUE(p->kill_switch);
        ASSERT_TRUE(!p->allow_lan);
        profile_free(p);

        /* a host name endpoint cannot be checked here: tund-tunnel resolves it */
        p = parse_ok(MINIMAL "[Peer]\nPublicKey = " PUB1 "\nEndpoint = vpn.example.com:51820\n"
                             "[Tund]\nKillSwitch = yes\nAllowedBypass = 0.0.0.0/1\n");
        ASSERT_EQ(p->n_allowed_bypass, 1);
        profile_free(p);
}

TEST(kill_switch_values_refused) {
        expect_error(MINIMAL "[Tund]\nKillSwitch = maybe\n",
                     PATH ":4: KillSwitch: \"maybe\" is not \"yes\" or \"no\"");
        expect_error(MINIMAL "[Tund]\nKillSwitch = yes\nAllowLAN = 1\n",
                     PATH ":5: AllowLAN: \"1\" is not \"yes\" or \"no\"");
        expect_error(MINIMAL "[Tund]\nKillSwitch = yes\nKillSwitch = no\n",
                     PATH ":5: KillSwitch: duplicate key (already set on line 4)");
        expect_error(MINIMAL "[Tund]\nKillSwitch =\n", PATH ":4: KillSwitch: empty value");
        expect_error(MINIMAL "[Interface]\nKillSwitch = yes\n",
                     PATH ":4: KillSwitch: unknown key in this section");
        expect_error(MINIMAL "[Tund]\nKillSwitch = yes\nAllowedBypass = 10.0.0.0/8, vpn.example\n",
                     PATH ":5: AllowedBypass: \"vpn.example\" is not a valid IPv4 or IPv6 address "
                          "with optional /prefix");
        expect_error(MINIMAL "[Tund]\nKillSwitch = yes\nAllowedBypass = 10.0.0.0/33\n",
                     PATH ":5: AllowedBypass: \"10.0.0.0/33\" is not a valid IPv4 or IPv6 address "
                          "with optional /prefix");
        expect_error(MINIMAL "[Tund]\nKillSwitch = yes\nAllowedBypass = 0.0.0.0/0\n",
                     PATH ":5: AllowedBypass: \"0.0.0.0/0\" would make the kill switch "
                          "meaningless: it lets everything around the tunnel");
        expect_error(MINIMAL "[Tund]\nKillSwitch = yes\nAllowedBypass = 2001:db8::/32\n"
                             "AllowedBypass = 2001:db8::1/0\n",
                     PATH ":6: AllowedBypass: \"2001:db8::1/0\" would make the kill switch "
                          "meaningless: it lets everything around the tunnel");
}

TEST(kill_switch_needs_kill_switch) {
        expect_error(MINIMAL "[Tund]\nAllowLAN = yes\n",
                     PATH ":4: AllowLAN: has no effect without KillSwitch = yes in [Tund]");
        expect_error(MINIMAL "[Tund]\nAllowLAN = no\n",
                     PATH ":4: AllowLAN: has no effect without KillSwitch = yes in [Tund]");
        expect_error(MINIMAL "[Tund]\nKillSwitch = no\nAllowLAN = yes\n",
                     PATH ":5: AllowLAN: has no effect without KillSwitch = yes in [Tund]");
        /* the first AllowedBypass line is named */
        expect_error(MINIMAL "[Tund]\nDNSMode = split\nAllowedBypass = 198.51.100.0/24\n"
                             "AllowedBypass = 192.0.2.0/24\n",
                     PATH ":5: AllowedBypass: has no effect without KillSwitch = yes in [Tund]");
        expect_error(MINIMAL "[Tund]\nKillSwitch = no\nAllowedBypass = 198.51.100.0/24\n",
                     PATH ":5: AllowedBypass: has no effect without KillSwitch = yes in [Tund]");
}

TEST(kill_switch_table_off) {
        expect_error(MINIMAL "Table = off\n[Tund]\nKillSwitch = yes\n",
                     PATH ":5: KillSwitch: cannot be used with Table = off (line 3): nothing would "
                          "be routed into the tunnel, so the kill switch would block all traffic");
        /* [Interface] after [Tund]: the line of KillSwitch still, and Table's own */
        expect_error("[Tund]\nKillSwitch = yes\n[Interface]\nPrivateKey = " PRIV "\n"
                     "Table = OFF\n",
                     PATH ":2: KillSwitch: cannot be used with Table = off (line 5): nothing would "
                          "be routed into the tunnel, so the kill switch would block all traffic");
        Profile *p = parse_ok(MINIMAL "Table = off\n[Tund]\nKillSwitch = no\n");
        profile_free(p);
}

TEST(kill_switch_bypass_endpoints) {
        expect_error(KS_BASE "KillSwitch = yes\nAllowedBypass = 203.0.113.0/24\n",
                     PATH ":14: AllowedBypass: \"203.0.113.0/24\" covers the endpoint of peer 1: "
                          "203.0.113.5:51820 ([Peer] on line 4)" KS_ENDPOINT_WHY);
        expect_error(KS_BASE "KillSwitch = yes\nAllowedBypass = 203.0.113.5\n",
                     PATH ":14: AllowedBypass: \"203.0.113.5/32\" covers the endpoint of peer 1: "
                          "203.0.113.5:51820 ([Peer] on line 4)" KS_ENDPOINT_WHY);
        /* IPv6, the second peer, the second AllowedBypass line, host bits dropped */
        expect_error(KS_BASE "AllowedBypass = 198.51.100.0/24\nKillSwitch = yes\n"
                             "AllowedBypass = 2001:db8:e::77/64\n",
                     PATH ":15: AllowedBypass: \"2001:db8:e::/64\" covers the endpoint of peer 2: "
                          "[2001:db8:e::1]:443 ([Peer] on line 8)" KS_ENDPOINT_WHY);
        /* wider than the endpoint, and before the peer in the file */
        expect_error("[Tund]\nKillSwitch = yes\nAllowedBypass = 203.0.0.0/8\n" KS_BASE,
                     PATH ":3: AllowedBypass: \"203.0.0.0/8\" covers the endpoint of peer 1: "
                          "203.0.113.5:51820 ([Peer] on line 7)" KS_ENDPOINT_WHY);
}

TEST(kill_switch_bypass_addresses) {
        /* contains an address */
        expect_error(KS_BASE "KillSwitch = yes\nAllowedBypass = 10.0.0.0/8\n",
                     PATH ":14: AllowedBypass: \"10.0.0.0/8\" overlaps the tunnel's own Address "
                          "10.8.0.2/24: the tunnel's network cannot also be reached around the "
                          "tunnel");
        /* inside an address's network without containing the address itself */
        expect_error(KS_BASE "KillSwitch = yes\nAllowedBypass = 10.8.0.128/25\n",
                     PATH ":14: AllowedBypass: \"10.8.0.128/25\" overlaps the tunnel's own "
                          "Address 10.8.0.2/24: the tunnel's network cannot also be reached "
                          "around the tunnel");
        expect_error(KS_BASE "KillSwitch = yes\nAllowedBypass = 198.51.100.0/24\n"
                             "AllowedBypass = fd00:8::99\n",
                     PATH ":15: AllowedBypass: \"fd00:8::99/128\" overlaps the tunnel's own "
                          "Address fd00:8::2/64: the tunnel's network cannot also be reached "
                          "around the tunnel");
}

TEST(endpoint_is_numeric) {
        Profile *p = parse_ok(MINIMAL "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 192.0.2.1:1\n"
                                      "[Peer]\nPublicKey = " PUB2 "\nEndpoint = [2001:db8::9]:2\n"
                                      "[Peer]\nPublicKey = " PRIV "\nEndpoint = 1.example:3\n"
                                      "[Peer]\nPublicKey = " PSK "\n");
        ProfileAddress a = {};

        ASSERT_EQ(p->n_peers, 4);
        ASSERT_TRUE(profile_endpoint_is_numeric(&p->peers[0], &a));
        assert_ip(&a, "192.0.2.1");
        ASSERT_TRUE(profile_endpoint_is_numeric(&p->peers[1], &a));
        assert_ip(&a, "2001:db8::9");
        ASSERT_TRUE(profile_endpoint_is_numeric(&p->peers[1], NULL));
        a.family = AF_INET;
        ASSERT_TRUE(!profile_endpoint_is_numeric(&p->peers[2], &a));
        ASSERT_EQ(a.family, AF_INET); /* untouched */
        ASSERT_TRUE(!profile_endpoint_is_numeric(&p->peers[3], &a));
        profile_free(p);
}
