/* The keys of each profile section: a table of names and value parsers, and the checks between
 * keys that need the whole file (the kill switch's). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "profile-internal.h"
#include "profile-values.h"
#include "strv.h"

typedef struct KeyDef KeyDef;
typedef int (*key_parser)(ParseState *s, const KeyDef *k, const char *v, unsigned line);

enum {
        KEY_MULTI = 1 << 0, /* may repeat; values accumulate (lists) */
};

struct KeyDef {
        ProfileSection section;
        const char *name;
        key_parser parse;
        unsigned flags;
};

static ProfilePeer *current_peer(ParseState *s) {
        return &s->profile->peers[s->profile->n_peers - 1];
}

static int parse_key(ParseState *s, const KeyDef *k, const char *v, char out[WG_KEY_B64_LEN + 1],
                     unsigned line, bool allow_zero) {
        uint8_t key[WG_KEY_LEN];
        int zero;

        /* Never quote the value: it is, or is close to, a secret. */
        if (wg_key_from_base64(key, v) < 0)
                return parse_fail(s, line, k->name,
                                  "not a valid WireGuard key (must be 44 characters of base64)");
        zero = wg_key_is_zero(key);
        explicit_wipe(key, sizeof(key));
        if (zero && !allow_zero)
                return parse_fail(s, line, k->name, "the all-zero key is not a usable key");
        /* wireguard treats an all-zero preshared key as none. */
        if (zero)
                out[0] = '\0';
        else
                memcpy(out, v, WG_KEY_B64_LEN + 1);
        return 0;
}

static int parse_private_key(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_key(s, k, v, s->profile->private_key, line, false);
}

static int parse_public_key(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_key(s, k, v, current_peer(s)->public_key, line, false);
}

static int parse_preshared_key(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_key(s, k, v, current_peer(s)->preshared_key, line, true);
}

/* Runs fn on every item of a comma/whitespace list. */
static int parse_list(ParseState *s, const KeyDef *k, const char *v, unsigned line,
                      int (*fn)(ParseState *s, const KeyDef *k, const char *item, unsigned line)) {
        char **items = NULL;
        int r;

        r = profile_split_list(v, &items);
        if (r < 0)
                return parse_oom(s);
        for (char **i = items; *i; i++) {
                r = fn(s, k, *i, line);
                if (r < 0)
                        break;
        }
        strv_free(items);
        return r < 0 ? r : 0;
}

static int push_prefix(ParseState *s, const KeyDef *k, const char *item, unsigned line,
                       bool mask_host, ProfilePrefix **array, size_t *n) {
        ProfilePrefix p, *slot;

        if (profile_parse_prefix(item, mask_host, &p) < 0)
                return parse_fail_token(
                        s, line, k->name, item,
                        "is not a valid IPv4 or IPv6 address with optional /prefix");
        slot = profile_array_push((void **) array, n, sizeof(*slot));
        if (!slot)
                return parse_oom(s);
        *slot = p;
        return 0;
}

static int address_item(ParseState *s, const KeyDef *k, const char *item, unsigned line) {
        return push_prefix(s, k, item, line, false, &s->profile->addresses,
                           &s->profile->n_addresses);
}

static int allowed_ip_item(ParseState *s, const KeyDef *k, const char *item, unsigned line) {
        ProfilePeer *peer = current_peer(s);

        /* Like wg(8), host bits past the prefix are dropped: these are routes. */
        return push_prefix(s, k, item, line, true, &peer->allowed_ips, &peer->n_allowed_ips);
}

static int excluded_route_item(ParseState *s, const KeyDef *k, const char *item, unsigned line) {
        return push_prefix(s, k, item, line, true, &s->profile->excluded_routes,
                           &s->profile->n_excluded_routes);
}

static int push_string(ParseState *s, const char *item, char ***array, size_t *n) {
        char **slot;

        slot = profile_array_push((void **) array, n, sizeof(*slot));
        if (!slot)
                return parse_oom(s);
        *slot = strdup(item);
        if (!*slot) {
                (*n)--;
                return parse_oom(s);
        }
        return 0;
}

/* wg-quick's rule: a token of digits and dots or one containing ':' is a server, anything
 * else a search domain. Servers must then be real addresses. */
static int dns_item(ParseState *s, const KeyDef *k, const char *item, unsigned line) {
        Profile *p = s->profile;
        ProfileAddress a, *slot;

        if (strspn(item, "0123456789.") == strlen(item) || strchr(item, ':')) {
                if (profile_parse_ip(item, &a) < 0)
                        return parse_fail_token(s, line, k->name, item,
                                                "is not a valid IPv4 or IPv6 address");
                slot = ARRAY_PUSH(p->dns_servers, p->n_dns_servers);
                if (!slot)
                        return parse_oom(s);
                *slot = a;
                return 0;
        }
        if (!profile_domain_is_valid(item))
                return parse_fail_token(s, line, k->name, item,
                                        "is neither an IP address nor a valid search domain");
        return push_string(s, item, &p->search_domains, &p->n_search_domains);
}

static int routing_domain_item(ParseState *s, const KeyDef *k, const char *item, unsigned line) {
        /* Accept resolvectl's "~example.com" spelling; it is stored without the tilde. */
        if (item[0] == '~')
                item++;
        if (!profile_domain_is_valid(item))
                return parse_fail_token(s, line, k->name, item, "is not a valid domain name");
        return push_string(s, item, &s->profile->routing_domains, &s->profile->n_routing_domains);
}

static int parse_address(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_list(s, k, v, line, address_item);
}

static int parse_dns(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_list(s, k, v, line, dns_item);
}

static int parse_allowed_ips(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_list(s, k, v, line, allowed_ip_item);
}

static int parse_excluded_routes(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_list(s, k, v, line, excluded_route_item);
}

static int parse_routing_domains(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_list(s, k, v, line, routing_domain_item);
}

static int parse_number(ParseState *s, const KeyDef *k, const char *v, unsigned line, uint32_t min,
                        uint32_t max, uint32_t *ret) {
        uint32_t n;

        if (profile_parse_u32(v, false, max, &n) < 0 || n < min)
                return parse_fail_token(s, line, k->name, v,
                                        min == 0 && max == 65535
                                                ? "is not a number between 0 and 65535"
                                                : "is not a number in the allowed range");
        *ret = n;
        return 0;
}

static int parse_mtu(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        /* 576 is the datagram size every IPv4 host must accept; the kernel refuses less for
         * IPv6 on its own (1280) by disabling IPv6 on the link. */
        if (profile_parse_u32(v, false, 65535, &s->profile->mtu) < 0 || s->profile->mtu < 576)
                return parse_fail_token(s, line, k->name, v,
                                        "is not a number between 576 and 65535");
        return 0;
}

static int parse_listen_port(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        uint32_t n = 0;
        int r;

        r = parse_number(s, k, v, line, 0, 65535, &n);
        if (r < 0)
                return r;
        s->profile->listen_port = (uint16_t) n;
        return 0;
}

static int parse_table(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        Profile *p = s->profile;

        if (strcasecmp(v, "off") == 0) {
                p->table_off = true;
                return 0;
        }
        if (strcasecmp(v, "auto") == 0)
                return 0;
        if (strcasecmp(v, "main") == 0) {
                p->table = 254;
                return 0;
        }
        if (profile_parse_u32(v, false, UINT32_MAX, &p->table) < 0 || p->table == 0)
                return parse_fail_token(s, line, k->name, v,
                                        "is not \"off\", \"auto\", \"main\" or a table number "
                                        "between 1 and 4294967295");
        return 0;
}

static int parse_fwmark(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        if (strcasecmp(v, "off") == 0) {
                s->profile->fwmark = 0;
                return 0;
        }
        if (profile_parse_u32(v, true, UINT32_MAX, &s->profile->fwmark) < 0)
                return parse_fail_token(s, line, k->name, v,
                                        "is not \"off\" or a 32-bit number (decimal or 0x hex)");
        return 0;
}

static int parse_endpoint(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        ProfilePeer *peer = current_peer(s);

        if (profile_parse_endpoint(v, &peer->endpoint_port, NULL) < 0)
                return parse_fail_token(s, line, k->name, v,
                                        "is not HOST:PORT, IPV4:PORT or [IPV6]:PORT with a port "
                                        "between 1 and 65535");
        peer->endpoint = strdup(v);
        if (!peer->endpoint)
                return parse_oom(s);
        return 0;
}

static int parse_keepalive(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        uint32_t n = 0;
        int r;

        if (strcasecmp(v, "off") != 0) {
                r = parse_number(s, k, v, line, 0, 65535, &n);
                if (r < 0)
                        return r;
        }
        current_peer(s)->persistent_keepalive = (uint16_t) n;
        return 0;
}

static int parse_dns_mode(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        if (strcasecmp(v, "split") == 0)
                s->profile->dns_mode = PROFILE_DNS_MODE_SPLIT;
        else if (strcasecmp(v, "full") == 0)
                s->profile->dns_mode = PROFILE_DNS_MODE_FULL;
        else
                return parse_fail_token(s, line, k->name, v, "is not \"split\" or \"full\"");
        s->profile->dns_mode_set = true;
        s->dns_mode_line = line;
        return 0;
}

static int parse_interface_name(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        if (!profile_ifname_is_valid(v))
                return parse_fail_token(s, line, k->name, v,
                                        "is not a valid interface name (1 to 15 characters of "
                                        "A-Z a-z 0-9 _ . -)");
        strcpy(s->profile->ifname, v);
        return 0;
}

static int parse_tun_flavour(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        s->profile->tun_flavour = engine_tun_flavour_from_string(v);
        if (s->profile->tun_flavour == ENGINE_TUN_FLAVOUR_UNKNOWN)
                return parse_fail_token(s, line, k->name, v, "is not \"pi\" or \"no-pi\"");
        return 0;
}

static int parse_yes_no(ParseState *s, const KeyDef *k, const char *v, unsigned line, bool *ret) {
        if (strcasecmp(v, "yes") == 0)
                *ret = true;
        else if (strcasecmp(v, "no") == 0)
                *ret = false;
        else
                return parse_fail_token(s, line, k->name, v, "is not \"yes\" or \"no\"");
        return 0;
}

static int parse_kill_switch(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_yes_no(s, k, v, line, &s->profile->kill_switch);
}

static int parse_allow_lan(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_yes_no(s, k, v, line, &s->profile->allow_lan);
}

/* Kept with its line: whether it covers an endpoint or an address is known only at the end. */
static int allowed_bypass_item(ParseState *s, const KeyDef *k, const char *item, unsigned line) {
        LinePrefix *slot;
        ProfilePrefix p;

        /* As for ExcludedRoutes, host bits past the prefix are dropped. */
        if (profile_parse_prefix(item, true, &p) < 0)
                return parse_fail_token(
                        s, line, k->name, item,
                        "is not a valid IPv4 or IPv6 address with optional /prefix");
        if (p.prefixlen == 0)
                return parse_fail_token(s, line, k->name, item,
                                        "would make the kill switch meaningless: it lets "
                                        "everything around the tunnel");
        slot = ARRAY_PUSH(s->bypass, s->n_bypass);
        if (!slot)
                return parse_oom(s);
        *slot = (LinePrefix){ .prefix = p, .line = line };
        return 0;
}

static int parse_allowed_bypass(ParseState *s, const KeyDef *k, const char *v, unsigned line) {
        return parse_list(s, k, v, line, allowed_bypass_item);
}

static const KeyDef keys[] = {
        { PROFILE_SECTION_INTERFACE, "PrivateKey", parse_private_key, 0 },
        { PROFILE_SECTION_INTERFACE, "Address", parse_address, KEY_MULTI },
        { PROFILE_SECTION_INTERFACE, "DNS", parse_dns, KEY_MULTI },
        { PROFILE_SECTION_INTERFACE, "MTU", parse_mtu, 0 },
        { PROFILE_SECTION_INTERFACE, "ListenPort", parse_listen_port, 0 },
        { PROFILE_SECTION_INTERFACE, "Table", parse_table, 0 },
        { PROFILE_SECTION_INTERFACE, "FwMark", parse_fwmark, 0 },
        { PROFILE_SECTION_PEER, "PublicKey", parse_public_key, 0 },
        { PROFILE_SECTION_PEER, "PresharedKey", parse_preshared_key, 0 },
        { PROFILE_SECTION_PEER, "Endpoint", parse_endpoint, 0 },
        { PROFILE_SECTION_PEER, "AllowedIPs", parse_allowed_ips, KEY_MULTI },
        { PROFILE_SECTION_PEER, "PersistentKeepalive", parse_keepalive, 0 },
        { PROFILE_SECTION_TUND, "DNSMode", parse_dns_mode, 0 },
        { PROFILE_SECTION_TUND, "RoutingDomains", parse_routing_domains, KEY_MULTI },
        { PROFILE_SECTION_TUND, "InterfaceName", parse_interface_name, 0 },
        { PROFILE_SECTION_TUND, "ExcludedRoutes", parse_excluded_routes, KEY_MULTI },
        { PROFILE_SECTION_TUND, "EngineTunFlavour", parse_tun_flavour, 0 },
        { PROFILE_SECTION_TUND, "KillSwitch", parse_kill_switch, 0 },
        { PROFILE_SECTION_TUND, "AllowLAN", parse_allow_lan, 0 },
        { PROFILE_SECTION_TUND, "AllowedBypass", parse_allowed_bypass, KEY_MULTI },
};
_Static_assert(ELEMENTSOF(keys) <= PROFILE_KEYS_MAX, "key_line[] too small");

/* wg-quick's hooks run shell commands as root; a profile here never does. */
static const char *const refused_hooks[] = { "PreUp", "PostUp", "PreDown", "PostDown" };

void profile_keys_new_peer(ParseState *s) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == PROFILE_SECTION_PEER)
                        s->key_line[i] = 0;
}

static int refuse_key(ParseState *s, const char *key, unsigned line) {
        for (size_t i = 0; i < ELEMENTSOF(refused_hooks); i++)
                if (strcasecmp(key, refused_hooks[i]) == 0)
                        return parse_fail(s, line, refused_hooks[i],
                                          "not supported: tund never runs commands from a "
                                          "profile; use a systemd drop-in for "
                                          "tund@.service instead");
        if (strcasecmp(key, "SaveConfig") == 0)
                return parse_fail(s, line, "SaveConfig",
                                  "not supported: tund never writes a profile back");
        return 0;
}

int profile_keys_dispatch(ParseState *s, const char *key, const char *value, unsigned line) {
        const KeyDef *k = NULL;
        size_t i;
        int r;

        r = refuse_key(s, key, line);
        if (r < 0)
                return r;
        if (s->section == PROFILE_SECTION_NONE)
                return parse_fail(s, line, NULL,
                                  "key outside of a section: expected [Interface], [Peer] or "
                                  "[Tund] first");
        for (i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == s->section && strcasecmp(keys[i].name, key) == 0) {
                        k = &keys[i];
                        break;
                }
        if (!k) {
                if (profile_token_is_printable(key))
                        return parse_fail(s, line, key, "unknown key in this section");
                return parse_fail(s, line, NULL, "unknown key in this section");
        }
        if (!(k->flags & KEY_MULTI)) {
                if (s->key_line[i] > 0)
                        return parse_fail(s, line, k->name,
                                          "duplicate key (already set on line %u)", s->key_line[i]);
                if (isempty(value))
                        return parse_fail(s, line, k->name, "empty value");
                s->key_line[i] = line;
        }
        return k->parse(s, k, value, line);
}

/* Where a single-valued key outside [Peer] was set, 0: not at all. */
static unsigned key_line(const ParseState *s, ProfileSection section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == section && streq(keys[i].name, name))
                        return s->key_line[i];
        return 0;
}

static int check_bypass_one(ParseState *s, const LinePrefix *b) {
        const Profile *p = s->profile;
        char buf[PROFILE_PREFIX_STRLEN], other[PROFILE_PREFIX_STRLEN];
        ProfileAddress a;

        profile_prefix_to_string(&b->prefix, buf, sizeof(buf));
        /* The kill switch lets the engine's own UDP to an endpoint through; a bypass there would
         * let every other process's traffic to that host around the tunnel as well. */
        for (size_t i = 0; i < p->n_peers; i++)
                if (profile_endpoint_is_numeric(&p->peers[i], &a) &&
                    profile_prefix_contains(&b->prefix, &a))
                        return parse_fail(
                                s, b->line, "AllowedBypass",
                                "\"%s\" covers the endpoint of peer %zu: %s ([Peer] on line "
                                "%u); the kill switch already lets the engine's own "
                                "UDP to it through, and a bypass would let everything "
                                "else to it through too",
                                buf, i + 1, p->peers[i].endpoint, p->peers[i].line);
        for (size_t i = 0; i < p->n_addresses; i++)
                if (profile_prefixes_overlap(&b->prefix, &p->addresses[i]))
                        return parse_fail(
                                s, b->line, "AllowedBypass",
                                "\"%s\" overlaps the tunnel's own Address %s: the tunnel's network "
                                "cannot also be reached around the tunnel",
                                buf,
                                profile_prefix_to_string(&p->addresses[i], other, sizeof(other)));
        return 0;
}

int profile_keys_check_kill_switch(ParseState *s) {
        Profile *p = s->profile;
        unsigned kill_switch = key_line(s, PROFILE_SECTION_TUND, "KillSwitch");
        unsigned allow_lan = key_line(s, PROFILE_SECTION_TUND, "AllowLAN");
        unsigned table = key_line(s, PROFILE_SECTION_INTERFACE, "Table");
        int r;

        if (p->kill_switch && p->table_off)
                return parse_fail(s, kill_switch, "KillSwitch",
                                  "cannot be used with Table = off (line %u): nothing would be "
                                  "routed into the tunnel, so the kill switch would block all "
                                  "traffic",
                                  table);
        if (!p->kill_switch && allow_lan > 0)
                return parse_fail(s, allow_lan, "AllowLAN",
                                  "has no effect without KillSwitch = yes in [Tund]");
        if (!p->kill_switch && s->n_bypass > 0)
                return parse_fail(s, s->bypass[0].line, "AllowedBypass",
                                  "has no effect without KillSwitch = yes in [Tund]");
        for (size_t i = 0; i < s->n_bypass; i++) {
                r = check_bypass_one(s, &s->bypass[i]);
                if (r < 0)
                        return r;
        }

        if (s->n_bypass == 0)
                return 0;
        p->allowed_bypass = calloc(s->n_bypass, sizeof(*p->allowed_bypass));
        if (!p->allowed_bypass)
                return parse_oom(s);
        for (size_t i = 0; i < s->n_bypass; i++)
                p->allowed_bypass[i] = s->bypass[i].prefix;
        p->n_allowed_bypass = s->n_bypass;
        return 0;
}
