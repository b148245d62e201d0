/* libnetcfg: applies what a tunnel asks for (addresses, MTU, routes, policy rules, DNS) to one
 * link, remembers exactly what it applied, reverts it, and cleans up what a crashed shim left.
 *
 * The library never logs or prints. Every function returns 0 (or a count) on success and
 * -errno on failure; those taking `char **ret_error` then store there a malloc'ed line a
 * person can act on (with the kernel's extended-ack text when there is one). Pass NULL to
 * ignore it.
 *
 * Netlink writes use libmnl batches; reads use libnl-route-3 caches; DNS goes to
 * systemd-resolved over sd-bus, else resolvconf. See libnetcfg/README.md for the routing
 * scheme and the numbers below. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "common.pb-c.h"

/* rtm_protocol of every route (and FRA_PROTOCOL of every rule, IFA_PROTO of every address)
 * tund installs. Named "tund" by data/rt_protos.d/tund.conf, so `ip route show proto tund`
 * lists exactly what tund owns. 116 is ASCII 't' and is used by none of the values iproute2,
 * the kernel headers or FRR (186-198) know. */
#define NETCFG_RTPROT_TUND 116

/* Routing table of an automatic full tunnel ("tu" = 0x7475); also the default fwmark that
 * exempts the engine's own UDP. A profile may choose others (NetcfgOptions). */
#define NETCFG_TABLE_DEFAULT 29813U
#define NETCFG_FWMARK_DEFAULT 29813U

/* tund's policy-rule priorities: 21700..22699, ten per profile starting at the profile's
 * base (NetcfgOptions.rule_priority, default 21700): base+0 "lookup main
 * suppress_prefixlength 0", base+1 "not fwmark M lookup T". Below (= before) the main
 * table's 32766 and clear of wg-quick (32764/32765) and Tailscale (5210-5270). */
#define NETCFG_RULE_PRIO_MIN 21700U
#define NETCFG_RULE_PRIO_SPAN 10U
#define NETCFG_RULE_PRIO_MAX (NETCFG_RULE_PRIO_MIN + NETCFG_SLOTS * NETCFG_RULE_PRIO_SPAN - 1)

/* Several profiles at once: each owns one slot N, which gives it table NETCFG_TABLE_DEFAULT + N
 * and rule priorities NETCFG_RULE_PRIO_MIN + N * NETCFG_RULE_PRIO_SPAN onwards. The shim picks
 * and records the slot (netshim-slot.c). */
#define NETCFG_SLOTS 100U
#define NETCFG_SLOT_TABLE(n) (NETCFG_TABLE_DEFAULT + (n))
#define NETCFG_SLOT_PRIORITY(n) (NETCFG_RULE_PRIO_MIN + (n) *NETCFG_RULE_PRIO_SPAN)

#define NETCFG_TABLE_MAIN 254U
/* How long resolvconf may take to add or delete a record before it is killed. */
#define NETCFG_RESOLVCONF_TIMEOUT_USEC (10 * UINT64_C(1000000))

typedef enum NetcfgDnsBackend {
        NETCFG_DNS_AUTO = 0, /* options only: resolved if it is on the bus, else resolvconf */
        NETCFG_DNS_NONE,
        NETCFG_DNS_RESOLVED,
        NETCFG_DNS_RESOLVCONF,
} NetcfgDnsBackend;

const char *netcfg_dns_backend_to_string(NetcfgDnsBackend b);

typedef struct NetcfgOptions {
        sd_bus *bus;             /* borrowed (a reference is taken); NULL: see bus_address */
        const char *bus_address; /* NULL: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus */
        NetcfgDnsBackend dns_backend;
        const char *resolvconf; /* resolvconf program; NULL: "resolvconf" found in $PATH */
        uint32_t table;         /* automatic policy table; 0: NETCFG_TABLE_DEFAULT */
        uint32_t rule_priority; /* first rule priority; 0: NETCFG_RULE_PRIO_MIN */
        /* The engine's user: a policy table is then bypassed by that user's packets ("not
         * uidrange U-U lookup T") instead of by a fwmark, which an engine without
         * CAP_NET_ADMIN cannot set (NetcfgResult.fwmark is then 0). */
        bool exempt_uid_set;
        uint32_t exempt_uid;
        size_t batch_limit; /* bytes per netlink batch (flush); 0: 32 KiB, max 128 KiB */
        /* reconcile only: the profile owns no table or rule span (yet); remove only the
         * link's routes and DNS, never what is in a table or priority another may own */
        bool link_only;
        /* Names the owner of another tund table in errors ("profile work"); may be NULL or
         * return NULL. */
        const char *(*table_owner)(uint32_t table, void *userdata);
        void *table_owner_userdata;
} NetcfgOptions;

typedef struct NetcfgResult {
        char ifname[IFNAMSIZ];
        int ifindex;
        NetcfgDnsBackend dns_backend; /* NETCFG_DNS_NONE when no DNS was asked for */
        unsigned addresses_applied;
        unsigned routes_applied; /* including throw routes for excluded prefixes */
        unsigned rules_applied;
        uint32_t table;  /* table of the routes (254 = main) */
        uint32_t fwmark; /* fwmark the engine must use; 0 when no rule needs one */
} NetcfgResult;

typedef struct NetcfgContext NetcfgContext;

/* A context for one link, named by ifname (if not NULL) or ifindex. The link must exist. */
int netcfg_new(NetcfgContext **ret, const char *ifname, int ifindex, const NetcfgOptions *opts,
               char **ret_error);
NetcfgContext *netcfg_free(NetcfgContext *ctx);

/* Makes the link carry exactly `s` (everything from an earlier apply that `s` no longer asks
 * for is removed). Validates everything before changing anything; on a failure midway it
 * undoes what this call added, so the previous state stays in force. A full tunnel (a /0 in
 * tund's own table) while another tund table already takes that family's default route is
 * refused with -EBUSY, naming the other (opts.table_owner): two cannot both win. */
int netcfg_apply(NetcfgContext *ctx, const Tund__NetworkSettings *s, NetcfgResult *ret_result,
                 char **ret_error);
/* Puts back whatever of the applied addresses, routes and rules has gone (another program
 * deleted it) and counts it in *ret_restored; 0 when nothing was missing. */
int netcfg_reassert(NetcfgContext *ctx, unsigned *ret_restored, char **ret_error);
/* Removes exactly what was applied (idempotent; fine when the link is gone). */
int netcfg_revert(NetcfgContext *ctx, char **ret_error);

/* The applied state as text, so a restarted shim can revert what its predecessor applied.
 * save writes atomically (temp file + rename), mode 0600. load creates a context for the
 * saved link even if that link is gone (revert then removes what does not vanish with it). */
int netcfg_state_save(NetcfgContext *ctx, const char *path, char **ret_error);
int netcfg_state_load(NetcfgContext **ret, const char *path, const NetcfgOptions *opts,
                      char **ret_error);

/* Removes tund-owned leftovers after a crash: routes with proto tund on the link (if it
 * exists) and in the profile's table, rules with proto tund in the profile's priority span
 * (opts->table, opts->rule_priority; neither with opts->link_only), resolved's link settings
 * (RevertLink, if the link exists) and the resolvconf record IFNAME.tund. Nothing another
 * protocol made, whatever its table or priority. Idempotent; safe when the link is gone.
 * Returns the number of kernel objects removed. */
int netcfg_reconcile(const char *ifname, const NetcfgOptions *opts, char **ret_error);

/* --- reading (libnl-route-3 caches; resolved over sd-bus) --- */

typedef struct NetcfgPrefix {
        int family; /* AF_INET or AF_INET6 */
        uint8_t addr[16];
        uint8_t len;
} NetcfgPrefix;

typedef struct NetcfgRoute {
        NetcfgPrefix dst;
        uint32_t table;
        uint8_t type;     /* RTN_UNICAST, RTN_THROW, ... */
        uint8_t protocol; /* NETCFG_RTPROT_TUND for ours */
        int oif;          /* 0 when none (throw) */
} NetcfgRoute;

typedef struct NetcfgRule {
        int family;
        uint32_t priority;
        uint32_t table;
        uint32_t fwmark;        /* 0: none */
        bool invert;            /* "not fwmark" */
        int suppress_prefixlen; /* -1: none */
        uint8_t protocol;
        bool uid_set; /* "uidrange uid-uid" (with invert: "not uidrange") */
        uint32_t uid;
} NetcfgRule;

typedef struct NetcfgAddress {
        NetcfgPrefix prefix;
        int ifindex;
} NetcfgAddress;

typedef struct NetcfgLink {
        int ifindex;
        char ifname[IFNAMSIZ];
        uint32_t mtu;
        unsigned flags; /* IFF_* */
        bool up;
} NetcfgLink;

/* Filters: ifindex 0 = any link; table 0 = any table; protocol 0 = any. Arrays are malloc'ed. */
int netcfg_read_routes(int ifindex, uint32_t table, uint8_t protocol, NetcfgRoute **ret,
                       size_t *ret_n, char **ret_error);
int netcfg_read_rules(uint32_t prio_min, uint32_t prio_max, NetcfgRule **ret, size_t *ret_n,
                      char **ret_error);
int netcfg_read_addresses(int ifindex, NetcfgAddress **ret, size_t *ret_n, char **ret_error);
int netcfg_read_link(const char *ifname, int ifindex, NetcfgLink *ret, char **ret_error);
/* Makes a link that is still down as quiet as a kernel WireGuard device: no multicast, and no
 * IPv6 link-local address once it comes up. A tunnel has no neighbours; what the kernel would
 * say to them (router solicitations, every few seconds and then minutes for as long as the link
 * is up; MLD reports) goes to the peer in a full tunnel, which drops it as from a source it does
 * not allow, but only after the packet has armed its passive keepalive: an answer ten seconds
 * later that reads as the peer answering while it is really unreachable. Not undone: for a
 * device that goes when its creator closes it. A kernel without IPv6 refuses the whole change
 * (EAFNOSUPPORT), and then has nothing to say: 0. */
int netcfg_link_quiet(int ifindex, char **ret_error);
/* Every link of this network namespace. */
int netcfg_read_links(NetcfgLink **ret, size_t *ret_n, char **ret_error);

typedef struct NetcfgDnsStatus {
        NetcfgPrefix *servers; /* len = host length */
        size_t n_servers;
        char **domains; /* routing-only ones are written "~name" here, for display */
        size_t n_domains;
        bool default_route;
} NetcfgDnsStatus;

void netcfg_dns_status_done(NetcfgDnsStatus *st);
/* resolved's org.freedesktop.resolve1.Link DNS/Domains/DefaultRoute of a link. */
int netcfg_read_dns(const NetcfgOptions *opts, int ifindex, NetcfgDnsStatus *ret, char **ret_error);

/* "198.51.100.0/24", "2001:db8::/32"; buf of at least NETCFG_PREFIX_STRLEN. */
#define NETCFG_PREFIX_STRLEN 50
const char *netcfg_prefix_to_string(const NetcfgPrefix *p, char *buf, size_t size);
int netcfg_prefix_from_string(const char *s, NetcfgPrefix *ret);

static inline void netcfg_freep(NetcfgContext **p) {
        if (*p)
                *p = netcfg_free(*p);
}
#define _cleanup_netcfg_ __attribute__((cleanup(netcfg_freep)))

/* --- the kill switch (nf_tables, libnftnl; netcfg-killswitch.c, netcfg-nft.c) ---
 *
 * While a profile's switch is set, nothing leaves or enters the host around its tunnel but
 * what the spec allows (see netcfg-nft.c for the rules). Specs live as files in a directory
 * (one per profile, written under a lock); every change rewrites the kernel's table inet
 * "tund" from all of them in one transaction, reads it back and checks it. The rules are
 * kernel state: they stay when the process that set them dies. */

#define NETCFG_NFT_TABLE "tund"

typedef struct NetcfgEndpoint {
        NetcfgPrefix addr; /* a host prefix (/32, /128) */
        uint16_t port;
} NetcfgEndpoint;

typedef struct NetcfgKillswitch {
        char profile[33]; /* the profile's name: chains ks-NAME-in/-out/-fwd */
        char ifname[IFNAMSIZ];
        /* What the engine is: its user (engine_uid_set), else its fwmark. */
        bool engine_uid_set;
        uint32_t engine_uid;
        uint32_t fwmark;
        /* The endpoints' host names: a DNS query (UDP, port 53) for exactly one of these may
         * leave around the tunnel, from any process (systemd-resolved forwards the lookups
         * of the tunnel). Fully qualified, without the final dot. */
        char **names;
        size_t n_names;
        bool allow_lan; /* RFC 1918, link-local, ULA, multicast */
        NetcfgEndpoint *endpoints;
        size_t n_endpoints;
        NetcfgPrefix *dns; /* the tunnel's DNS servers (host prefixes) */
        size_t n_dns;
        NetcfgPrefix *bypass; /* AllowedBypass= */
        size_t n_bypass;
} NetcfgKillswitch;

void netcfg_killswitch_done(NetcfgKillswitch *ks);
/* A name a query can be matched on: fully qualified (a dot inside), labels of 1-63 of
 * [A-Za-z0-9-_], at most 253 characters, no final dot. */
bool netcfg_dns_name_is_valid(const char *name);
int netcfg_killswitch_add_endpoint(NetcfgKillswitch *ks, const NetcfgPrefix *addr, uint16_t port);

/* Sets (or replaces) the profile's switch: saves its spec in dir and rewrites the table.
 * Idempotent; also the reconcile: whatever the kernel lost is put back. */
int netcfg_killswitch_set(const char *dir, const NetcfgKillswitch *ks, char **ret_error);
/* Lifts the profile's switch: removes its spec and rewrites the table (removes it with the
 * last). Returns 1 if there was one, 0 if not. */
int netcfg_killswitch_remove(const char *dir, const char *profile, char **ret_error);
/* The profiles that have a spec saved in dir, sorted (a strv); -ENOENT without dir. */
int netcfg_killswitch_list(const char *dir, char ***ret, size_t *ret_n);
/* Whether the profile has a spec saved (without reading it). */
bool netcfg_killswitch_exists(const char *dir, const char *profile);
/* The saved spec of a profile; -ENOENT if none. */
int netcfg_killswitch_load(const char *dir, const char *profile, NetcfgKillswitch *ret,
                           char **ret_error);

typedef struct NetcfgKillswitchStatus {
        bool spec;      /* a spec is saved for the profile */
        bool installed; /* its chains are in the kernel */
        unsigned rules; /* the profile's rules in the kernel */
        /* packets the table's policy dropped going out or through (output, forward; what it
         * drops coming in is not counted), all profiles, since the table was last written */
        uint64_t dropped;
} NetcfgKillswitchStatus;

int netcfg_killswitch_status(const char *dir, const char *profile, NetcfgKillswitchStatus *ret,
                             char **ret_error);
