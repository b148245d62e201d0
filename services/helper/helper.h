/* tund-helperd's Manager and the objects it owns: sessions (one per profile, each with a
 * tunnel child), control clients and shim connections. One file per role:
 *   helper-manager.c   lifecycle, sockets, sd_notify, idle exit, signals
 *   helper-session.c   spawning, starting, stopping and finishing a session
 *   helper-shim.c      the shim socket: StartSession, StopSession, ShimGetPeers
 *   helper-control.c   the control socket: Ping, GetStatus, CtlGetPeers, CtlRebind, stop
 *   helper-tunnel.c    the tunnel channel: relays and events
 *   helper-watch.c     Watch subscribers */
#pragma once

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "control.pb-c.h"
#include "helper-options.h"
#include "helper-session.h"
#include "ipc.h"
#include "log.h"
#include "netcfg-watch.h"
#include "shim.pb-c.h"
#include "tunnel.pb-c.h"

/* MESSAGE_IDs of the helper's key events (journalctl MESSAGE_ID=…). */
#define HELPER_MESSAGE_SESSION_STARTED "6ae3c5fd7bab4e979b8d54a7d528e336"
#define HELPER_MESSAGE_SESSION_STOPPED "80bcd2b593fa4eaca62624cbee390bf5"
#define HELPER_MESSAGE_TUNNEL_EXITED "d0a6a17819fe47c6b86f283a709e0dc7"
#define HELPER_MESSAGE_PEER_REFUSED "34414f8d3d8b45ecafc5113e40c12641"
#define HELPER_MESSAGE_WATCHER_DROPPED "d3b12dd0b02b4824895ce94361c9d380"

/* Relayed calls: how long the far side may take. */
#define HELPER_SETTINGS_TIMEOUT_USEC (30 * USEC_PER_SEC) /* shim applying netlink + DNS */
#define HELPER_PEERS_TIMEOUT_USEC (10 * USEC_PER_SEC)    /* tunnel asking the engine (UAPI) */
#define HELPER_REBIND_TIMEOUT_USEC (20 * USEC_PER_SEC)   /* tunnel resolving endpoints again */
#define HELPER_DRAIN_USEC (1 * USEC_PER_SEC)             /* reading a dead tunnel's last messages */
/* How often an exit that is expected (channel closed, signal sent) is also asked of waitid():
 * rare enough to cost nothing, quick enough that a lost pidfd wakeup delays a restart by well
 * under a second (see on_reap_poll()). */
#define HELPER_REAP_POLL_USEC (200 * USEC_PER_MSEC)
#define HELPER_WATCH_QUEUE_MAX (256u * 1024u) /* bytes queued to one watcher before dropping */
/* Connections open at once (tund-helperd(8) "LIMITS"): more are accepted and closed at once.
 * Control clients are tundctl calls and watchers; shims are one per profile. The fd limit is
 * raised to fit them (RLIMIT_NOFILE soft up to the hard limit; tunnels get the original). */
#define HELPER_CONTROL_MAX_CONNECTIONS 2048u
#define HELPER_SHIM_MAX_CONNECTIONS 64u
#define HELPER_NOFILE_RESERVE 64u /* listening sockets, tunnels, pidfds, journal, ... */

typedef struct Manager Manager;
/* The peer policies the helper's routes name (IpcRoute.policy): Manager.policies[]. */
typedef enum HelperPolicy {
        HELPER_POLICY_NONE,
        HELPER_POLICY_READ, /* root or group tund (--control-group): status */
        HELPER_POLICY_ROOT, /* changes */
        HELPER_POLICY_SHIM, /* root or the shims' user (--shim-user) */
        _HELPER_POLICY_MAX,
} HelperPolicy;

typedef struct Session Session;
typedef struct CtlClient CtlClient;
typedef struct ShimClient ShimClient;

struct CtlClient {
        LIST_ENTRY(CtlClient) link;
        Manager *m;
        IpcConn *conn;
        bool watching;
        char *watch_profile; /* NULL = every session */
};

struct ShimClient {
        LIST_ENTRY(ShimClient) link;
        Manager *m;
        IpcConn *conn;
        Session *session; /* while it lives */
        bool started;     /* one StartSession per connection */
};

/* How a session's tunnel comes to life: from the shim's TUN and UAPI fds (the caller closes its
 * copies afterwards), the helper's end of the tunnel channel and the child's pid, which the
 * caller watches with sd_event_add_child() and must be a child of ours. -errno with *ret_error
 * (malloc'd, may stay NULL) on failure. */
typedef int (*HelperSpawnFunc)(Manager *m, int tun_fd, int uapi_fd, int *ret_channel,
                               pid_t *ret_pid, char **ret_error);

typedef struct PendingAck {
        IpcConn *conn;
        uint64_t msg_id;
} PendingAck;

struct Session {
        LIST_ENTRY(Session) link;
        Manager *m;
        uint64_t id;
        char *profile, *ifname;
        SessionState state;

        ShimClient *shim; /* NULL once the shim went away */
        uint32_t shim_pid;
        uint64_t start_msg_id; /* the shim's StartSession awaiting its reply */
        uint64_t stop_msg_id;  /* the shim's StopSession awaiting its Ack */
        bool running_reported; /* StartSessionReply sent */
        PendingAck *ctl_stops;
        size_t n_ctl_stops;

        IpcConn *tunnel;
        pid_t tunnel_pid;
        sd_event_source *child, *term_timer, *kill_timer, *drain_timer, *finish, *reap_poll;
        bool reaped;
        bool exit_polled; /* waitid() saw the exit that the child source has not reported */
        int exit_status, exit_signal;
        int kill_step; /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */

        uint32_t engine_pid;
        char *engine_version;
        uint64_t started_usec; /* CLOCK_REALTIME */
        Tund__NetworkSettings *settings;
        Tund__NetworkSettingsResult *applied;
        Tund__PeerUpdate *peers;
        char *last_error; /* the tunnel's last error or warning, or ours */
        char *last_log;
        char *stop_reason;     /* why we stopped it (admin, helper shutdown, shim gone) */
        bool stale;            /* the tunnel says its peers stopped answering */
        uint64_t rebound_gen;  /* HelperRoam.gen when last sent a Rebind */
        uint64_t rebound_usec; /* and when (CLOCK_MONOTONIC) */
        bool rebound_coalesce; /* by the network watch or a coalescing CtlRebind */
};

/* Network changes and sleep, noticed host-wide (helper-roam.c): rtnetlink (default routes,
 * addresses and links other than the sessions'), logind's PrepareForSleep(false) and a jump
 * of the wall clock. Every change bumps gen; changes settle for HELPER_ROAM_SETTLE_USEC (at
 * most HELPER_ROAM_SETTLE_MAX_USEC after the first), then every running session is rebound
 * once. A `tundctl rebind` (NetworkManager's hook) for sessions already rebound for the same
 * gen within HELPER_REBIND_COALESCE_USEC is answered without a second rebind. */
#define HELPER_ROAM_SETTLE_USEC (100 * USEC_PER_MSEC)
#define HELPER_ROAM_SETTLE_MAX_USEC (500 * USEC_PER_MSEC)
#define HELPER_REBIND_COALESCE_USEC (5 * USEC_PER_SEC)
typedef struct RoamLink {
        int ifindex;
        unsigned flags; /* IFF_UP, IFF_RUNNING, IFF_LOWER_UP as last seen */
} RoamLink;
typedef struct HelperRoam {
        bool enabled, started; /* the daemon (not a test harness); watching since a session */
        NlWatch watch;         /* rtnetlink */
        int clock_fd;
        sd_event_source *clock_source, *settle_timer;
        sd_bus *bus;
        uint64_t gen;
        uint64_t first_usec; /* the first change not acted on yet (0: none) */
        char kind[32];       /* its kind ("network change"), what the tunnels log */
        char reason[128];    /* and what it was */
        unsigned changes;    /* changes since then */
        RoamLink *links;
        size_t n_links;
} HelperRoam;

struct Manager {
        sd_event *event;
        HelperOptions opt;
        IpcServer *control_server, *shim_server;
        sd_event_source *idle_timer, *sigterm, *sigint;

        LIST_HEAD(, Session) sessions;
        unsigned n_sessions;
        uint64_t next_session_id;
        LIST_HEAD(, CtlClient) clients;
        unsigned n_clients, n_watchers;
        LIST_HEAD(, ShimClient) shims;
        unsigned n_shims;

        IpcPolicy read_policy, root_policy, shim_policy;
        const IpcPolicy *policies[_HELPER_POLICY_MAX]; /* what routes name (HelperPolicy) */
        uid_t shim_uid;
        gid_t control_gid; /* owner group of --listen-dir's control.sock */
        bool change_user;  /* we are root: tunnels run as tunnel_uid */
        uid_t tunnel_uid;
        gid_t tunnel_gid;
        char **child_env;

        /* NULL: verify and execute opt.tunnel_path. Only tests set it, to fake tunnels
         * (test/unit/test-helper-session.c, test/fuzz/fuzz-helper.c). */
        HelperSpawnFunc spawn;

        unsigned max_control;    /* HELPER_CONTROL_MAX_CONNECTIONS, less if fds are short */
        rlim_t nofile_soft_orig; /* what we were started with, if we raised it (else 0) */

        uint64_t start_mono;
        bool stopping;
        char status[128];
        HelperRoam roam;
};

/* helper-manager.c */
int helper_manager_new(Manager **ret, const HelperOptions *opt);
/* Users and policies, the fd limit, routes and signals: everything but the sockets, so a test
 * can hand connections to helper_control_accept()/helper_shim_accept() itself. */
int helper_manager_setup(Manager *m);
/* helper_manager_setup(), then serves the sockets and tells systemd READY=1. */
int helper_manager_start(Manager *m);
Manager *helper_manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, helper_manager_free);
/* Something counted changed: STATUS=, idle timer, exit when stopping and done. */
void helper_manager_changed(Manager *m);
void helper_manager_fill_pong(Manager *m, Tund__Pong *pong);
Session *helper_manager_find_session(Manager *m, const char *profile);
Session *helper_manager_find_session_id(Manager *m, uint64_t id);

/* helper-session.c */
int helper_session_start(ShimClient *sc, IpcMsg *msg, const Tund__StartSession *req);
/* Begins stopping (StopRequest, then SIGTERM, then SIGKILL); reason is kept for the shim. */
void helper_session_stop(Session *s, const char *reason);
/* Only at exit with sessions left (a second SIGTERM): kills and reaps the tunnel and frees the
 * session without replying to anyone (the helper's connections close next). */
void helper_session_abandon(Session *s);
/* Shared by helper-session.c and helper-session-start.c: unlink and free a finished session
 * (every pending request answered already); the tunnel's exit, as sd-event reports it. */
void helper_session_free(Session *s);
int helper_session_on_child(sd_event_source *es, const siginfo_t *si, void *userdata);
void helper_session_shim_gone(Session *s);
void helper_session_set_last_error(Session *s, const char *fmt, ...) _printf_(2, 3);
void helper_session_tunnel_closed(Session *s, int error, const char *reason);
ProtobufCMessage *helper_proto_dup(const ProtobufCMessage *msg);
void helper_proto_freep(void *p); /* for _cleanup_ of a ProtobufCMessage* of any type */

/* helper-shim.c */
int helper_shim_accept(IpcServer *s, IpcConn *c, void *userdata);

/* helper-control.c */
int helper_control_accept(IpcServer *s, IpcConn *c, void *userdata);
int helper_control_send(IpcConn *c, Tund__HelperToCtl *msg, uint64_t response_to);

/* helper-tunnel.c */
void helper_tunnel_conn_setup(Session *s);
/* Relays GetPeers (shim or ctl) / Rebind to a set of sessions and answers once all replied. */
typedef enum GatherKind { GATHER_CTL_PEERS, GATHER_SHIM_PEERS, GATHER_CTL_REBIND } GatherKind;
int helper_tunnel_gather(Manager *m, GatherKind kind, IpcConn *reply_to, uint64_t reply_id,
                         Session **sessions, size_t n);

/* Rebinds sessions (Rebind{reason} to each tunnel); reply_to NULL: nobody waits, the result
 * is logged. Marks each with the current HelperRoam.gen, and whether a later coalescing
 * request may skip it (helper_roam_rebound()). */
int helper_tunnel_rebind(Manager *m, IpcConn *reply_to, uint64_t reply_id, Session **sessions,
                         size_t n, const char *reason, bool coalesce);
/* helper-roam.c */
/* Starts the watchers (with the first session); never fatal: what cannot be watched is
 * logged. Stopped with the last session (and at exit), started again by the next. */
int helper_roam_start(Manager *m);
void helper_roam_stop(Manager *m);
/* A change seen (by rtnetlink, logind, the clock): rebinds once things settle. */
void helper_roam_trigger(Manager *m, const char *kind, const char *reason);
/* Acts on a change not acted on yet at once (a tundctl rebind came first). */
void helper_roam_flush(Manager *m);
/* Whether s was rebound (coalescably) for the current change already, recently enough that a
 * coalescing request skips it. */
bool helper_roam_rebound(Manager *m, Session *s);
/* helper-watch.c */
void helper_watch_subscribe(CtlClient *cc, const char *profile);
void helper_watch_unsubscribe(CtlClient *cc);
void helper_watch_send_log(Manager *m, const char *profile, const Tund__Log *log);
void helper_watch_send_status(Manager *m, const char *profile, const Tund__Status *st);
void helper_watch_send_peers(Manager *m, const char *profile, const Tund__PeerUpdate *pu);
void helper_watch_session_state(Session *s, const char *text);
