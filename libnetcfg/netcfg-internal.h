/* libnetcfg internals, shared by its files and its unit tests (which build and parse netlink
 * messages in memory). Not part of the API. */
#pragma once

#include <libmnl/libmnl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

#include "macro.h"
#include "error-util.h"
#include "netcfg.h"

#define NETCFG_BATCH_LIMIT_DEFAULT (32U * 1024U)
#define NETCFG_BATCH_LIMIT_MAX (128U * 1024U)
#define NETCFG_NLMSG_MAX 512U /* the largest message we build (a route: < 100 bytes) */

/* --- errors: every failure leaves one actionable line in *ret_error (error-util.h:
 * error_set_errno(), error_set_extack() with the kernel's extended ack) --- */

/* --- what to apply: a plan derived from NetworkSettings --- */
typedef struct NetcfgDns {
        NetcfgPrefix *servers;
        size_t n_servers;
        char **search; /* search domains (also used for routing) */
        size_t n_search;
        char **routing; /* routing-only domains, without "~" */
        size_t n_routing;
        bool full;          /* all queries through the tunnel: "." routing-only + default */
        bool default_route; /* split mode: make the link a DNS default route anyway */
} NetcfgDns;

/* --- object kinds ---
 * Each kind of kernel object tund writes has a file of its own with the same verbs
 * (netcfg-address.c, netcfg-route.c, netcfg-rule.c: how it compares, is described in an
 * error, built as a netlink message, recorded in and read back from the state file); the code
 * for sets of objects (netcfg-objects.c), their writing (netcfg-write.c) and the state file
 * (netcfg-state.c) goes through the kind table, netcfg_kinds[]. The enum order is the order
 * of creation: an address before the routes that may use it as their source, rules last so
 * that they never point at a table still being filled; removal goes the other way. A new
 * kind is an enum value, a member in each union of NetcfgObjects, and its file.
 * The kill switch is not a kind: its nf_tables objects are not one link's, added and removed
 * one by one, but one table shared by every profile, rewritten whole in one transaction
 * (netcfg-nft.c, netcfg-killswitch.c). */
typedef enum NetcfgKind {
        NETCFG_KIND_ADDRESS,
        NETCFG_KIND_ROUTE,
        NETCFG_KIND_RULE,
        _NETCFG_KIND_MAX,
} NetcfgKind;

typedef struct NetcfgKindOps {
        const char *name;          /* the state file's keyword; "address" */
        size_t size;               /* of one object */
        uint16_t msg_new, msg_del; /* RTM_NEW*, RTM_DEL* */
        /* Builds the message into buf (>= NETCFG_NLMSG_MAX bytes); type is msg_new or msg_del. */
        struct nlmsghdr *(*nlmsg)(void *buf, uint16_t type, const void *obj);
        bool (*equal)(const void *a, const void *b);
        /* A total order that sets of this kind are kept in (compared by merging); NULL: sets
         * are unordered (and small). */
        int (*sorted_cmp)(const void *a, const void *b);
        /* A delete error that means the object is not there (any more): done. */
        bool (*gone)(int error);
        /* "address 192.0.2.2/32 on link 7", for "adding ..."/"removing ..." errors. */
        void (*describe)(const void *obj, char *buf, size_t size);
        /* The state line after the keyword, and back from its words. */
        void (*format)(FILE *f, const void *obj);
        int (*parse)(char **words, int n, void *obj);
} NetcfgKindOps;

extern const NetcfgKindOps netcfg_address_kind, netcfg_route_kind, netcfg_rule_kind;
extern const NetcfgKindOps *const netcfg_kinds[_NETCFG_KIND_MAX];

/* One set of objects of every kind: typed by name where code is about one kind (plans,
 * policy checks), by kind where it is about all of them. */
typedef struct NetcfgObjects {
        union {
                struct {
                        NetcfgAddress *addresses;
                        NetcfgRoute *routes;
                        NetcfgRule *rules;
                };
                void *items[_NETCFG_KIND_MAX];
        };
        union {
                struct {
                        size_t n_addresses, n_routes, n_rules;
                };
                size_t n[_NETCFG_KIND_MAX];
        };
} NetcfgObjects;

/* Per-object results of a write (netcfg_objects_write()): 0 done, 1 for the idempotent cases
 * (EEXIST on add; the kind's gone() errors on delete), or -errno; sized like the set. */
typedef struct NetcfgOpResult {
        int *v[_NETCFG_KIND_MAX];
} NetcfgOpResult;

void *netcfg_objects_at(const NetcfgObjects *o, NetcfgKind k, size_t i);
size_t netcfg_objects_count(const NetcfgObjects *o);
int netcfg_objects_alloc_like(const NetcfgObjects *shape, NetcfgObjects *ret);
int netcfg_objects_push(NetcfgObjects *o, NetcfgKind k, const void *obj);
void netcfg_objects_sort(NetcfgObjects *o);
/* Appends b to a, keeping sorted kinds sorted. */
int netcfg_objects_append(NetcfgObjects *a, const NetcfgObjects *b);
/* The objects of o whose result in res is want. */
int netcfg_objects_select(const NetcfgObjects *o, const NetcfgOpResult *res, int want,
                          NetcfgObjects *ret);
/* Results for o, each 1 ("not created by this write") until an ack says otherwise. */
int netcfg_op_result_new(const NetcfgObjects *o, NetcfgOpResult *ret);
void netcfg_op_result_done(NetcfgOpResult *r);
size_t netcfg_op_result_count(const NetcfgObjects *o, const NetcfgOpResult *res, int want);

typedef struct NetcfgPlan {
        uint32_t mtu; /* 0: leave it */
        NetcfgObjects obj;
        NetcfgDns dns;
        uint32_t table;  /* of the included routes when no family is in policy mode: main */
        uint32_t fwmark; /* 0 when no rule is needed */
} NetcfgPlan;

typedef struct NetcfgPlanParams {
        int ifindex;
        uint32_t table;         /* automatic policy table */
        uint32_t rule_priority; /* base of the profile's span */
        bool exempt_uid_set;    /* exempt the engine by its uid, not by a fwmark */
        uint32_t exempt_uid;
} NetcfgPlanParams;

/* Validates everything first; on failure nothing is allocated in *ret. */
int netcfg_plan_build(const Tund__NetworkSettings *s, const NetcfgPlanParams *p, NetcfgPlan *ret,
                      char **ret_error);
void netcfg_plan_done(NetcfgPlan *p);
void netcfg_objects_done(NetcfgObjects *o);
void netcfg_dns_done(NetcfgDns *d);
int netcfg_dns_copy(const NetcfgDns *src, NetcfgDns *dst);
bool netcfg_dns_empty(const NetcfgDns *d);
int netcfg_objects_copy(const NetcfgObjects *src, NetcfgObjects *dst);
bool netcfg_route_equal(const NetcfgRoute *a, const NetcfgRoute *b);
int netcfg_route_cmp(const void *a, const void *b);
int netcfg_prefix_cmp(const NetcfgPrefix *a, const NetcfgPrefix *b);
/* Strict decimal in [min, max] (state files). */
int netcfg_parse_num(const char *s, long long min, long long max, long long *ret);
/* Splits a line into at most max words at spaces (in place); -EINVAL if there are more. */
int netcfg_split_words(char *line, char **w, size_t max);
/* A small text file: whole, NUL-free, at most 64 MiB. Returns -errno, never sets an error. */
int netcfg_read_text(const char *path, char **ret);
/* Writes text to path atomically (temporary file, fsync, rename) with mode. */
int netcfg_write_text(const char *path, const char *text, mode_t mode, char **ret_error);
bool netcfg_rule_equal(const NetcfgRule *a, const NetcfgRule *b);
bool netcfg_address_equal(const NetcfgAddress *a, const NetcfgAddress *b);
int netcfg_dns_name_check(const char *name);

/* --- netlink messages (built into caller's buffer of >= NETCFG_NLMSG_MAX bytes) --- */
struct nlmsghdr *netcfg_nlmsg_route(void *buf, uint16_t type, const NetcfgRoute *r);
struct nlmsghdr *netcfg_nlmsg_rule(void *buf, uint16_t type, const NetcfgRule *r);
struct nlmsghdr *netcfg_nlmsg_addr(void *buf, uint16_t type, const NetcfgAddress *a);
void netcfg_nlattr_put_prefix(struct nlmsghdr *nlh, uint16_t type, const NetcfgPrefix *p);
/* mtu 0: leave; up < 0: leave. */
struct nlmsghdr *netcfg_nlmsg_link(void *buf, int ifindex, uint32_t mtu, int up);
/* Multicast off, and no IPv6 link-local address from the next up on (IN6_ADDR_GEN_MODE_NONE):
 * see netcfg_link_quiet(). */
struct nlmsghdr *netcfg_nlmsg_link_quiet(void *buf, int ifindex);

/* Parses an NLMSG_ERROR: *ret_error = -errno (0 for an ack), *ret_extack = kernel text or
 * NULL (points into the message). -EBADMSG if the message is malformed. */
int netcfg_nlmsg_parse_ack(const struct nlmsghdr *nlh, size_t len, int *ret_error,
                           const char **ret_extack);

/* --- batches: one socket, a bounded buffer that is flushed and resumed, one seq and
 * NLM_F_ACK per message, and one result per message reported through the callback --- */
typedef void (*netcfg_ack_fn)(void *userdata, size_t tag, int error, const char *extack);

typedef struct NetcfgBatch NetcfgBatch;
int netcfg_batch_new(NetcfgBatch **ret, struct mnl_socket *nl, size_t limit, netcfg_ack_fn cb,
                     void *userdata);
NetcfgBatch *netcfg_batch_free(NetcfgBatch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetcfgBatch *, netcfg_batch_free);
/* Where to build the next message (>= NETCFG_NLMSG_MAX bytes free). */
void *netcfg_batch_current(NetcfgBatch *b);
/* Queues the message just built at netcfg_batch_current(): gives it the next seq and
 * NLM_F_REQUEST|NLM_F_ACK; flushes first when the buffer is full. Returns -errno only for
 * transport failures (per-message errors go to the callback). */
int netcfg_batch_add(NetcfgBatch *b, size_t tag);
int netcfg_batch_flush(NetcfgBatch *b);
/* Statistics for tests: how many sendmsg() calls so far. */
unsigned netcfg_batch_n_sends(const NetcfgBatch *b);

/* A netlink route socket with extended acks and capped acks, bound to the current netns. */
int netcfg_nl_open(struct mnl_socket **ret);
static inline void mnl_socket_closep(struct mnl_socket **nl) {
        if (*nl)
                mnl_socket_close(*nl);
}

/* Applies or removes a set of objects in one batch series, kinds in the order of NetcfgKind
 * (the reverse to remove); res (may be NULL) gets one result per object. Returns the first
 * failure with a message. */
int netcfg_objects_write(struct mnl_socket *nl, size_t limit, bool add, const NetcfgObjects *o,
                         NetcfgOpResult *res, char **ret_error);

/* Link state via netlink (RTM_GETLINK); link changes are one message each. */
int netcfg_link_get(struct mnl_socket *nl, const char *ifname, int ifindex, NetcfgLink *ret);
int netcfg_link_set(struct mnl_socket *nl, int ifindex, uint32_t mtu, int up, char **ret_error);

/* --- DNS --- */
int netcfg_bus_open(const NetcfgOptions *opts, sd_bus **ret);
/* Which backend would be used (never NETCFG_DNS_AUTO); -ENOENT if none exists. */
int netcfg_dns_pick(const NetcfgOptions *opts, sd_bus **bus, NetcfgDnsBackend *ret);
int netcfg_dns_apply(const NetcfgOptions *opts, sd_bus **bus, NetcfgDnsBackend backend, int ifindex,
                     const char *ifname, const NetcfgDns *d, char **ret_error);
int netcfg_dns_revert(const NetcfgOptions *opts, sd_bus **bus, NetcfgDnsBackend backend,
                      int ifindex, const char *ifname, char **ret_error);
/* The argument-building halves, testable without a bus or a program. */
int netcfg_resolved_fill_dns(sd_bus_message *m, int ifindex, const NetcfgDns *d);
int netcfg_resolved_fill_domains(sd_bus_message *m, int ifindex, const NetcfgDns *d);
bool netcfg_resolved_default_route(const NetcfgDns *d);
/* resolvconf's stdin ("nameserver X" lines, "search" line) and record name "IFNAME.tund". */
int netcfg_resolvconf_input(const NetcfgDns *d, char **ret);
int netcfg_resolvconf_record(const char *ifname, char *buf, size_t size);

/* --- state --- */
struct NetcfgContext {
        NetcfgOptions opts; /* strings below are owned copies */
        char *bus_address;
        char *resolvconf;
        sd_bus *bus;
        struct mnl_socket *nl;

        /* what is applied */
        char ifname[IFNAMSIZ];
        int ifindex;
        bool applied;        /* anything to revert */
        uint32_t mtu_before; /* 0: MTU untouched */
        uint32_t mtu_set;
        bool set_up; /* we brought the link up (it was down) */
        NetcfgObjects obj;
        NetcfgDnsBackend dns_backend; /* NONE: nothing applied */
        NetcfgDns dns;
};

int netcfg_state_format(const NetcfgContext *ctx, char **ret);
int netcfg_state_parse(NetcfgContext *ctx, const char *text, char **ret_error);
int netcfg_context_alloc(NetcfgContext **ret, const NetcfgOptions *opts);
int netcfg_objects_subtract(const NetcfgObjects *a, const NetcfgObjects *b, NetcfgObjects *ret);
void netcfg_routes_sort(NetcfgRoute *routes, size_t n);

/* --- the kill switch's nf_tables batch (netcfg-nft.c, netcfg-nft-rule.c, netcfg-nft-kernel.c) ---
 */
#define NETCFG_NFT_CHAIN_MAX 48 /* "ks-" + profile (32) + "-out" */

/* The building blocks of the batch (netcfg-nft-rule.c), which the ruleset (netcfg-nft.c) puts
 * together. Nothing fails on the spot: a failed allocation sets oom, and the build ends in
 * -ENOMEM. */
typedef struct NftBatch {
        char *buf;
        size_t len, cap;
        uint32_t seq_first, seq_next;
        unsigned n_acked; /* messages that want an ack */
        unsigned n_rules;
        bool oom;
} NftBatch;

void nft_batch_marker(NftBatch *b, bool begin);
void nft_put_table(NftBatch *b, uint16_t type);
void nft_put_chain(NftBatch *b, const char *name, int hook);

/* A rule is a list of matches and a verdict: nft_rule_new(), nft_match_*(), then one of the
 * nft_put_*() that take it, which add it to the batch and free it. */
typedef struct NftRule {
        struct nftnl_rule *r;
        bool oom;
} NftRule;

NftRule nft_rule_new(void);
void nft_match_cmp(NftRule *r, uint32_t op, const void *data, uint32_t len);
void nft_match_meta(NftRule *r, uint32_t key);
void nft_match_payload(NftRule *r, uint32_t base, uint32_t offset, uint32_t len);
void nft_match_nfproto(NftRule *r, int family);
void nft_match_l4proto(NftRule *r, uint8_t proto);
void nft_match_port(NftRule *r, bool dst, uint16_t port);
void nft_match_ifname(NftRule *r, bool out, const char *ifname);
void nft_match_loopback(NftRule *r, bool out);
void nft_match_prefix(NftRule *r, bool dst, const NetcfgPrefix *p);
void nft_match_ct_state(NftRule *r, uint32_t states);
void nft_match_icmp6_type(NftRule *r, uint8_t type);
void nft_match_tcp_rst(NftRule *r);
void nft_match_engine(NftRule *r, const NetcfgKillswitch *ks);
void nft_put_rule(NftBatch *b, NftRule *r, const char *chain, int verdict, const char *target);
void nft_put_verdict(NftBatch *b, NftRule *r, const char *chain, int verdict);
void nft_put_reject(NftBatch *b, NftRule *r, const char *chain, bool tcp);
void nft_put_counter(NftBatch *b, const char *chain);

/* The whole table for these specs (none: just its removal) as one nf_tables transaction,
 * malloc'ed; acks: messages that answer; rules: rules in it. */
int netcfg_nft_build(const NetcfgKillswitch *const *ks, size_t n, char **ret_buf, size_t *ret_len,
                     unsigned *ret_acks, unsigned *ret_rules);
/* netcfg-nft-kernel.c: the batch as one transaction, and the table's rules read back. */
int netcfg_nft_commit(const char *buf, size_t len, unsigned acks, char **ret_error);

typedef struct NetcfgNftReadback {
        const char *prefix; /* count the rules of chains starting with this ("ks-NAME-") */
        bool present;       /* the table exists */
        unsigned rules, profile_rules;
        uint64_t dropped;
} NetcfgNftReadback;

/* Parses one buffer of a GETRULE dump into rb; 1: more to come, 0: done, -errno. Also the
 * fuzzer's entry. */
int netcfg_nft_parse_rules(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                           NetcfgNftReadback *rb);
int netcfg_nft_read(NetcfgNftReadback *rb, char **ret_error);

/* The spec as text and back (netcfg-killswitch.c). */
int netcfg_killswitch_format(const NetcfgKillswitch *ks, char **ret);
int netcfg_killswitch_parse(const char *text, const char *profile, NetcfgKillswitch *ret);
