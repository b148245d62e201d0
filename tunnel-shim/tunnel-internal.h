/* tund-tunnel's state machine, by role (as tund-helperd is split): tunnel-manager.c (logging,
 * messages to the helper, ending, stopping, dispatch, setup), tunnel-child.c (the engine
 * child), tunnel-start.c (the start sequence), tunnel-poll.c (peers and health),
 * tunnel-rebind.c (resolving and setting the endpoints again). Internal to
 * tunnel-shim/; the API is tunnel.h. */
#pragma once

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <linux/if_tun.h>
#include <systemd/sd-daemon.h>

#include "engine.h"
#include "ipc.h"
#include "log.h"
#include "tunnel-engine.h"
#include "tunnel-health.h"
#include "tunnel-peers.h"
#include "tunnel-resolve.h"
#include "tunnel-settings.h"
#include "string-util.h"
#include "tunnel-uapi-io.h"
#include "tunnel.h"

typedef struct RebindOp RebindOp; /* tunnel-rebind.c */

typedef enum TunnelState {
        TUNNEL_IDLE,
        TUNNEL_STARTING,
        TUNNEL_RUNNING,
        TUNNEL_STOPPING,
        TUNNEL_FAILED,
} TunnelState;

/* A get=1 in flight: a poll (reply_to 0) or a GetPeers. */
typedef struct PeersOp {
        Tunnel *tunnel;
        uint64_t reply_to;
        bool poll;
        UapiCall *call;
        struct PeersOp *next;
} PeersOp;

struct Tunnel {
        TunnelArgs args;
        sd_event *event;
        IpcConn *conn;
        TunnelState state;
        int exit_status;
        bool exiting;

        int tun_fd, uapi_fd;
        char tun_name[16];
        unsigned tun_flags;
        char uapi_path[108];

        /* The session: the kept StartRequest (its secrets wiped once sent to the engine). */
        IpcMsg *start_msg;
        Tund__StartRequest *start;
        uint64_t start_reply_to;
        uint64_t engine_timeout_usec;
        EngineInfo engine_info;
        UapiEndpoint *endpoints;
        TunnelResolve *resolve;
        UapiCall *config_call;
        size_t config_step; /* 0: the device, i + 1: peer i */
        Tund__NetworkSettings *settings;
        bool settings_pending;
        bool settings_applied; /* the start's NetworkSettingsRequest was answered */

        pid_t engine_pid;
        sd_event_source *engine_child, *engine_output;
        LineSplitter splitter;
        char last_engine_error[256];
        uint64_t lines_window;
        unsigned lines_in_window, lines_suppressed;

        sd_event_source *kill_timer, *poll_timer, *drain_timer, *grace_timer;
        char grace_error[512];
        int grace_errno;
        uint64_t drain_deadline;
        PeersOp *peers_ops;
        PeerTracker tracker;

        RebindOp *rebind;      /* in progress */
        RebindOp *rebind_next; /* asked for meanwhile: runs after it */
        HealthTracker health;

        bool engine_spawned;
        unsigned signals;
        bool stop_reply_pending;
        uint64_t stop_reply_to;
};

extern const char *const tunnel_state_names[];

int helper_dispatch_get_peers(IpcConn *c, IpcMsg *m, void *userdata);
int helper_dispatch_rebind(IpcConn *c, IpcMsg *m, void *userdata);
/* Resolves the endpoints again and sets them (tunnel-rebind.c); reply_to 0: the tunnel's own
 * (not queued behind one in progress). 0 or -ENOMEM. */
int tunnel_rebind(Tunnel *t, const char *reason, uint64_t reply_to);
void tunnel_rebind_cancel(Tunnel *t);
/* Feeds a poll to the health tracker and acts on it (tunnel-poll.c). */
void tunnel_health_check(Tunnel *t, const UapiDevice *d);
int helper_dispatch_start(IpcConn *c, IpcMsg *m, void *userdata);
void tunnel_cancel_ops(Tunnel *t);
bool tunnel_conn_usable(Tunnel *t);
void tunnel_engine_gone(Tunnel *t, int engine_status);
void tunnel_finish(Tunnel *t, int status);
/* The logger's sink (log.h): relays lines to the helper; an engine line is admitted by
 * tunnel_engine_line_admit() (tunnel-child.c). */
int tunnel_log_sink(int level, const LogFields *f, const char *message, void *userdata);
bool tunnel_engine_line_admit(Tunnel *t);
int tunnel_on_poll(sd_event_source *s, uint64_t usec, void *userdata);
const char *tunnel_profile_name(Tunnel *t);
void tunnel_remove_stale_socket(Tunnel *t);
void tunnel_reply_ack(Tunnel *t, uint64_t reply_to);
void tunnel_reply_error(Tunnel *t, uint64_t reply_to, Tund__ErrorCode code, int errnum,
                        const char *text);
int tunnel_run_engine(Tunnel *t);
int tunnel_send_log(Tunnel *t, Tund__LogLevel level, const char *text, pid_t pid);
int tunnel_send_msg(Tunnel *t, Tund__TunnelToHelper *m, uint64_t response_to);
void tunnel_send_status(Tunnel *t, Tund__SessionState state, const char *text);
void tunnel_start_fail(Tunnel *t, Tund__ErrorCode code, int errnum, const char *fmt, ...)
        _printf_(4, 5);
void tunnel_stop_engine(Tunnel *t);
void tunnel_wipe_secrets(Tunnel *t);
