/* Profiles: /etc/tund/NAME.conf in wg-quick's format plus a [Tund] section.
 *
 * Parsing is strict: unknown keys and sections, duplicate single-valued keys and the
 * shell-running keys of wg-quick (PreUp, PostUp, PreDown, PostDown) and SaveConfig are errors.
 * Every error is one line "FILE:LINE: Key: why" and never contains key material. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.pb-c.h"
#include "engine.h"
#include "wg-key.h"

#define PROFILE_NAME_MAX 32
#define PROFILE_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define PROFILE_DEFAULT_DIR "/etc/tund"
/* The fwmark a full tunnel without FwMark= gets, as wg-quick picks one: the engine's own UDP
 * carries it and tund's policy rule ("not fwmark M lookup T") lets it bypass the tunnel, so
 * there is no routing loop even when the endpoint moves. Equal to NETCFG_FWMARK_DEFAULT. */
#define PROFILE_FWMARK_AUTO 29813U
/* The link's MTU when the profile sets none: wireguard-go's default (1500 - 80, room for
 * WireGuard over IPv6). */
#define PROFILE_MTU_DEFAULT 1420U

typedef struct ProfileAddress {
        int family; /* AF_INET or AF_INET6 */
        uint8_t addr[16];
} ProfileAddress;

typedef struct ProfilePrefix {
        int family;
        uint8_t addr[16];
        uint8_t prefixlen;
} ProfilePrefix;

typedef enum ProfileDnsMode {
        PROFILE_DNS_MODE_SPLIT,
        PROFILE_DNS_MODE_FULL,
} ProfileDnsMode;

typedef struct ProfilePeer {
        char public_key[WG_KEY_B64_LEN + 1];
        char preshared_key[WG_KEY_B64_LEN + 1]; /* empty: none. SECRET */
        char *endpoint;                         /* "host:port" / "[v6]:port", NULL: none */
        uint16_t endpoint_port;
        ProfilePrefix *allowed_ips;
        size_t n_allowed_ips;
        uint16_t persistent_keepalive; /* seconds, 0 = off */
        unsigned line;                 /* of the [Peer] header */
        uint32_t seen;                 /* keys given, for duplicate detection */
} ProfilePeer;

typedef struct Profile {
        char *name;
        char *path;

        /* [Interface] */
        char private_key[WG_KEY_B64_LEN + 1]; /* SECRET */
        ProfilePrefix *addresses;
        size_t n_addresses;
        ProfileAddress *dns_servers;
        size_t n_dns_servers;
        char **search_domains;
        size_t n_search_domains;
        uint32_t mtu;         /* 0 = engine default */
        uint16_t listen_port; /* 0 = random */
        uint32_t table;       /* 0 = auto */
        bool table_off;
        uint32_t fwmark; /* 0 = off */

        ProfilePeer *peers;
        size_t n_peers;

        /* [Tund] */
        ProfileDnsMode dns_mode;
        bool dns_mode_set;
        char **routing_domains;
        size_t n_routing_domains;
        char ifname[PROFILE_IFNAME_MAX + 1];
        ProfilePrefix *excluded_routes;
        size_t n_excluded_routes;
        EngineTunFlavour tun_flavour; /* UNKNOWN = detect from the engine's version */
        /* The kill switch: while it holds, traffic leaves only through the tunnel. allow_lan and
         * allowed_bypass (host bits cleared, never a /0, an endpoint or the tunnel's own
         * addresses) open it for local networks and these destinations; both need it on. */
        bool kill_switch;
        bool allow_lan;
        ProfilePrefix *allowed_bypass;
        size_t n_allowed_bypass;
} Profile;

/* True for [A-Za-z0-9_.-]{1,32}, and not "." or "..". */
bool profile_name_is_valid(const char *name);
/* True for a usable interface name: 1..15 characters of [A-Za-z0-9_.-], not "." or "..". */
bool profile_ifname_is_valid(const char *ifname);

/* Opens PATH, refuses it if group or other may read or write it, and parses it. The profile
 * name is PATH's basename without ".conf". Returns 0 or -errno with *ret_error set (malloc'd,
 * "PATH:LINE: Key: why"). */
int profile_load_file(const char *path, Profile **ret, char **ret_error);
/* The same for a file already open (a systemd credential, say): PATH names the profile and
 * appears in error messages; the checks and the read use FD, which stays the caller's. */
int profile_load_fd(int fd, const char *path, Profile **ret, char **ret_error);
/* Loads DIR/NAME.conf after checking NAME; dir NULL means PROFILE_DEFAULT_DIR. */
int profile_load_name(const char *dir, const char *name, Profile **ret, char **ret_error);
/* Parses TEXT as the profile NAME; PATH is used in error messages only (NULL: "NAME.conf").
 * No permission check: there is no file. For tests and fuzzing. */
int profile_parse_string(const char *text, const char *path, const char *name, Profile **ret,
                         char **ret_error);

/* Wipes the keys and frees. Accepts NULL, returns NULL. */
Profile *profile_free(Profile *p);

/* The full tunnel test used for the DNS default: a peer routes 0.0.0.0/0 or ::/0. */
bool profile_has_default_route(const Profile *p);
/* True, with *ret set if ret is not NULL, when the peer's Endpoint= is an IP address rather than
 * a host name; false for a host name or no endpoint. */
bool profile_endpoint_is_numeric(const ProfilePeer *peer, ProfileAddress *ret);
/* The fwmark the engine and the rules use: FwMark=, or PROFILE_FWMARK_AUTO for a full tunnel
 * routed through tund's own table (no Table=), else 0. */
uint32_t profile_effective_fwmark(const Profile *p);

/* Builds the protobuf WgConfig (with its NetworkSettings) for the tunnel. Returns 0 or
 * -ENOMEM. Free with profile_wg_config_free(), which wipes the keys first. */
int profile_to_wg_config(const Profile *p, Tund__WgConfig **ret);
Tund__WgConfig *profile_wg_config_free(Tund__WgConfig *c);

static inline void profile_freep(Profile **p) {
        if (*p)
                *p = profile_free(*p);
}
static inline void profile_wg_config_freep(Tund__WgConfig **c) {
        if (*c)
                *c = profile_wg_config_free(*c);
}
