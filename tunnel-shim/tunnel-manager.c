/* The tunnel's state machine: requests from the helper, the engine child, UAPI transactions. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <linux/if_tun.h>
#include <systemd/sd-daemon.h>

#include "engine.h"
#include "ipc.h"
#include "tunnel-engine.h"
#include "tunnel-peers.h"
#include "tunnel-resolve.h"
#include "tunnel-settings.h"
#include "string-util.h"
#include "tunnel-uapi-io.h"
#include "tunnel.h"

typedef enum TunnelState {
        TUNNEL_IDLE,
        TUNNEL_STARTING,
        TUNNEL_RUNNING,
        TUNNEL_STOPPING,
        TUNNEL_FAILED,
} TunnelState;

static const char *const state_names[] = {
        [TUNNEL_IDLE] = "idle",       [TUNNEL_STARTING] = "starting",
        [TUNNEL_RUNNING] = "running", [TUNNEL_STOPPING] = "stopping",
        [TUNNEL_FAILED] = "failed",
};

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

        TunnelResolve *rebind_resolve;
        UapiCall *rebind_call;
        uint64_t rebind_reply_to;

        bool engine_spawned;
        unsigned signals;
        bool stop_reply_pending;
        uint64_t stop_reply_to;
};

/* ---- logging: stderr with sd-daemon prefixes, and Log messages to the helper ---- */

static void send_log(Tunnel *t, Tund__LogLevel level, const char *text, pid_t pid);

static void tlog(Tunnel *t, Tund__LogLevel level, const char *fmt, ...) _printf_(3, 4);
static void tlog(Tunnel *t, Tund__LogLevel level, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        string_sanitize_inplace(buf); /* engine and helper text: one line */
        fprintf(stderr, "%s%s\n", tunnel_level_prefix(level), buf);
        if (level >= TUND__LOG_LEVEL__LOG_LEVEL_INFO)
                send_log(t, level, buf, getpid());
}

#define log_info(t, ...) tlog(t, TUND__LOG_LEVEL__LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(t, ...) tlog(t, TUND__LOG_LEVEL__LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(t, ...) tlog(t, TUND__LOG_LEVEL__LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(t, ...) tlog(t, TUND__LOG_LEVEL__LOG_LEVEL_ERROR, __VA_ARGS__)

static const char *profile_name(Tunnel *t) {
        return t->start && !isempty(t->start->profile) ? t->start->profile : "";
}

/* ---- sending ---- */

static bool conn_usable(Tunnel *t) {
        return t->conn && !ipc_conn_is_closed(t->conn);
}

static int send_msg(Tunnel *t, Tund__TunnelToHelper *m, uint64_t response_to) {
        if (!conn_usable(t))
                return -ENOTCONN;
        return ipc_conn_send(t->conn, &m->base, response_to, NULL, 0);
}

static void send_log(Tunnel *t, Tund__LogLevel level, const char *text, pid_t pid) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Log l = TUND__LOG__INIT;
        l.profile = (char *) profile_name(t);
        l.level = level;
        l.message = (char *) text;
        l.pid = (uint32_t) pid;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG;
        m.log = &l;
        (void) send_msg(t, &m, 0);
}

static void send_status(Tunnel *t, Tund__SessionState state, const char *text) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Status s = TUND__STATUS__INIT;
        s.profile = (char *) profile_name(t);
        s.state = state;
        s.text = (char *) text;
        s.engine_pid = (uint32_t) MAX(t->engine_pid, 0);
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS;
        m.status = &s;
        (void) send_msg(t, &m, 0);
}

static void reply_error(Tunnel *t, uint64_t reply_to, Tund__ErrorCode code, int errnum,
                        const char *text) {
        if (reply_to && conn_usable(t))
                (void) ipc_conn_reply_error(t->conn, reply_to, code, errnum, "%s", text);
}

static void reply_ack(Tunnel *t, uint64_t reply_to) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Ack a = TUND__ACK__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK;
        m.ack = &a;
        (void) send_msg(t, &m, reply_to);
}

/* ---- secrets ---- */

static void wipe_string(char *s) {
        if (s && s != protobuf_c_empty_string)
                explicit_wipe(s, strlen(s));
}

/* After the engine has them, the keys are not needed again: Rebind sets endpoints only. */
static void wipe_secrets(Tunnel *t) {
        if (!t->start || !t->start->config)
                return;
        Tund__WgConfig *cfg = t->start->config;
        wipe_string(cfg->private_key);
        for (size_t i = 0; i < cfg->n_peers; i++)
                wipe_string(cfg->peers[i]->preshared_key);
}

/* ---- ending ---- */

static int on_drain(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        uint64_t now = 0;
        sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        if (!conn_usable(t) || ipc_conn_get_queued(t->conn) == 0 || now >= t->drain_deadline)
                return sd_event_exit(t->event, t->exit_status);
        sd_event_source_set_time_relative(s, 10 * USEC_PER_MSEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void cancel_ops(Tunnel *t) {
        t->grace_timer = sd_event_source_disable_unref(t->grace_timer);
        t->resolve = tunnel_resolve_free(t->resolve);
        t->config_call = uapi_call_free(t->config_call);
        t->rebind_resolve = tunnel_resolve_free(t->rebind_resolve);
        t->rebind_call = uapi_call_free(t->rebind_call);
        if (t->rebind_reply_to)
                reply_error(t, t->rebind_reply_to, TUND__ERROR_CODE__ERROR_BUSY, 0,
                            "tunnel is stopping");
        t->rebind_reply_to = 0;
        while (t->peers_ops) {
                PeersOp *op = t->peers_ops;
                t->peers_ops = op->next;
                uapi_call_free(op->call);
                if (op->reply_to)
                        reply_error(t, op->reply_to, TUND__ERROR_CODE__ERROR_BUSY, 0,
                                    "tunnel is stopping");
                free(op);
        }
        t->poll_timer = sd_event_source_disable_unref(t->poll_timer);
}

/* wireguard-go removes its socket file on a clean exit; after SIGKILL it stays and would look
 * like a live engine. Best effort: the directory may not be ours. */
static void remove_stale_socket(Tunnel *t) {
        if (t->engine_spawned && unlink(t->uapi_path) >= 0)
                log_info(t, "removed the stale UAPI socket %s", t->uapi_path);
}

/* Ends the process once the queued messages are out (or after a bound). */
static void tunnel_finish(Tunnel *t, int status) {
        if (t->exiting)
                return;
        t->exiting = true;
        t->exit_status = status;
        cancel_ops(t);
        wipe_secrets(t);
        remove_stale_socket(t);
        sd_event_now(t->event, CLOCK_MONOTONIC, &t->drain_deadline);
        t->drain_deadline += TUNNEL_DRAIN_TIMEOUT_USEC;
        if (sd_event_add_time_relative(t->event, &t->drain_timer, CLOCK_MONOTONIC, 0, 0, on_drain,
                                       t) < 0)
                sd_event_exit(t->event, status);
}

static void engine_gone(Tunnel *t, int engine_status);

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        if (t->engine_pid > 0) {
                log_warning(t, "engine (pid %d) did not exit within %llu ms of SIGTERM, killing it",
                            (int) t->engine_pid,
                            (unsigned long long) (TUNNEL_STOP_TIMEOUT_USEC / USEC_PER_MSEC));
                kill(t->engine_pid, SIGKILL);
        }
        return 0;
}

/* SIGTERM, then SIGKILL after a bound; engine_gone() runs when it has exited. */
static void stop_engine(Tunnel *t) {
        if (t->engine_pid <= 0) {
                engine_gone(t, 0);
                return;
        }
        if (t->kill_timer)
                return;
        /* Our child, not reaped yet: the pid cannot have been reused. */
        kill(t->engine_pid, SIGTERM);
        if (sd_event_add_time_relative(t->event, &t->kill_timer, CLOCK_MONOTONIC,
                                       TUNNEL_STOP_TIMEOUT_USEC, 0, on_kill_timer, t) < 0)
                kill(t->engine_pid, SIGKILL);
}

static void start_fail(Tunnel *t, Tund__ErrorCode code, int errnum, const char *fmt, ...)
        _printf_(4, 5);
static void start_fail(Tunnel *t, Tund__ErrorCode code, int errnum, const char *fmt, ...) {
        char buf[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        log_error(t, "start failed: %s", buf);
        reply_error(t, t->start_reply_to, code, errnum, buf);
        t->start_reply_to = 0;
        t->state = TUNNEL_FAILED;
        cancel_ops(t);
        wipe_secrets(t);
        send_status(t, TUND__SESSION_STATE__SESSION_STATE_STOPPING, buf);
        stop_engine(t);
}

/* ---- the engine child ---- */

static void engine_line(const char *line, void *userdata) {
        Tunnel *t = userdata;
        char copy[ENGINE_LINE_MAX];
        const char *text;
        uint64_t now = 0;

        snprintf(copy, sizeof(copy), "%s", line);
        tunnel_redact_line(copy);
        Tund__LogLevel level = tunnel_engine_line_level(copy, &text);
        fprintf(stderr, "%sengine[%d]: %s\n", tunnel_level_prefix(level), (int) t->engine_pid,
                text);
        if (level >= TUND__LOG_LEVEL__LOG_LEVEL_ERROR)
                snprintf(t->last_engine_error, sizeof(t->last_engine_error), "%s", text);

        /* A chatty engine must not fill the helper's queue (which would end our connection). */
        sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        if (now - t->lines_window >= USEC_PER_SEC) {
                unsigned dropped = t->lines_suppressed;
                t->lines_window = now;
                t->lines_in_window = 0;
                t->lines_suppressed = 0;
                if (dropped > 0)
                        log_warning(t, "%u engine lines not forwarded (more than %u/s)", dropped,
                                    TUNNEL_ENGINE_LINES_PER_SEC);
        }
        if (++t->lines_in_window > TUNNEL_ENGINE_LINES_PER_SEC) {
                t->lines_suppressed++;
                return;
        }
        send_log(t, level, text, t->engine_pid);
}

static void engine_read_output(Tunnel *t) {
        char buf[16384];
        if (!t->engine_output)
                return;
        int fd = sd_event_source_get_io_fd(t->engine_output);
        for (int rounds = 0; rounds < 16; rounds++) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        line_splitter_flush(&t->splitter, engine_line, t);
                        t->engine_output = sd_event_source_disable_unref(t->engine_output);
                        return;
                }
                line_splitter_feed(&t->splitter, buf, (size_t) n, engine_line, t);
        }
}

static int on_engine_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        engine_read_output(userdata);
        return 0;
}

static void describe_exit(const siginfo_t *si, char *buf, size_t size) {
        if (si->si_code == CLD_EXITED)
                snprintf(buf, size, "exited with status %d", si->si_status);
        else
                snprintf(buf, size, "was killed by signal %s%s", sigabbrev_np(si->si_status) ?: "?",
                         si->si_code == CLD_DUMPED ? " (core dumped)" : "");
}

static int on_engine_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Tunnel *t = userdata;
        char how[96];
        pid_t pid = t->engine_pid;

        /* Its last words (an ERROR line saying why) may still be in the pipe. */
        engine_read_output(t);
        describe_exit(si, how, sizeof(how));
        t->engine_pid = 0;
        t->engine_child = sd_event_source_disable_unref(t->engine_child);
        t->kill_timer = sd_event_source_disable_unref(t->kill_timer);
        int status = si->si_code == CLD_EXITED ? si->si_status : -1;

        switch (t->state) {
        case TUNNEL_STARTING:
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, 0, "engine %s (pid %d) %s%s%s",
                           t->args.engine_path, (int) pid, how, t->last_engine_error[0] ? ": " : "",
                           t->last_engine_error);
                return 0;
        case TUNNEL_RUNNING: {
                char text[512];
                snprintf(text, sizeof(text), "engine (pid %d) %s unexpectedly%s%s", (int) pid, how,
                         t->last_engine_error[0] ? "; last error: " : "", t->last_engine_error);
                log_error(t, "%s", text);
                send_status(t, TUND__SESSION_STATE__SESSION_STATE_STOPPING, text);
                cancel_ops(t);
                tunnel_finish(t, TUNNEL_EXIT_ENGINE_DIED);
                return 0;
        }
        default:
                log_info(t, "engine (pid %d) %s", (int) pid, how);
                engine_gone(t, status);
                return 0;
        }
}

/* The engine is gone (or never ran) while stopping or after a failure. */
static void engine_gone(Tunnel *t, int engine_status) {
        if (t->state == TUNNEL_FAILED) {
                tunnel_finish(t, TUNNEL_EXIT_FAILURE);
                return;
        }
        /* Before StopResponse, which is our last message (its Log would come after it). */
        remove_stale_socket(t);
        if (t->stop_reply_pending) {
                Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
                Tund__StopResponse r = TUND__STOP_RESPONSE__INIT;
                r.engine_exit_status = engine_status;
                m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
                m.stop_response = &r;
                (void) send_msg(t, &m, t->stop_reply_to);
                t->stop_reply_pending = false;
        }
        tunnel_finish(t, TUNNEL_EXIT_OK);
}

static int engine_spawn(Tunnel *t) {
        int out_fd = -EBADF;
        pid_t pid;
        EngineSpawnArgs a = {
                .path = t->args.engine_path,
                .ifname = t->tun_name,
                .tun_fd = t->tun_fd,
                .uapi_fd = t->uapi_fd,
                .log_level = t->args.engine_log_level,
        };

        int r = tunnel_sandbox_install();
        if (r < 0)
                return r;
        r = tunnel_engine_spawn(&a, &pid, &out_fd);
        if (r < 0)
                return r;
        t->engine_pid = pid;
        t->engine_spawned = true;
        memset(&t->splitter, 0, sizeof(t->splitter));
        r = sd_event_add_io(t->event, &t->engine_output, out_fd, EPOLLIN, on_engine_output, t);
        if (r < 0) {
                safe_close(out_fd);
                kill(pid, SIGKILL);
                return r;
        }
        sd_event_source_set_io_fd_own(t->engine_output, true);
        r = sd_event_add_child(t->event, &t->engine_child, pid, WEXITED, on_engine_exit, t);
        if (r < 0) {
                kill(pid, SIGKILL);
                return r;
        }
        /* The engine holds the only copies now: if it dies, connecting to its socket fails at
         * once instead of queueing in a backlog nobody serves. */
        t->tun_fd = safe_close(t->tun_fd);
        t->uapi_fd = safe_close(t->uapi_fd);
        log_info(t, "engine %s %s started (pid %d) on %s", t->args.engine_path,
                 t->engine_info.version, (int) pid, t->tun_name);
        return 0;
}

/* ---- starting ---- */

static void start_done(Tunnel *t) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StartResponse r = TUND__START_RESPONSE__INIT;
        char text[256];

        t->state = TUNNEL_RUNNING;
        r.engine_pid = (uint32_t) t->engine_pid;
        r.engine_version = t->engine_info.version;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
        m.start_response = &r;
        (void) send_msg(t, &m, t->start_reply_to);
        t->start_reply_to = 0;
        snprintf(text, sizeof(text), "running: wireguard-go %s (pid %d) on %s, %zu peer(s)",
                 t->engine_info.version, (int) t->engine_pid, t->tun_name,
                 t->start->config->n_peers);
        log_notice(t, "%s", text);
        send_status(t, TUND__SESSION_STATE__SESSION_STATE_RUNNING, text);
}

static void on_settings_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Tunnel *t = userdata;
        if (!t->settings_pending || t->exiting)
                return;
        t->settings_pending = false;
        if (t->settings) {
                protobuf_c_message_free_unpacked(&t->settings->base, NULL);
                t->settings = NULL;
        }
        if (t->state != TUNNEL_STARTING)
                return;
        if (error < 0) {
                start_fail(t, ipc_error_code(error, TUND__ERROR_CODE__ERROR_PEER_GONE), -error,
                           "network settings request failed: %s", strerror(-error));
                return;
        }
        const Tund__Error *e = ipc_msg_error(reply);
        if (e) {
                start_fail(t, TUND__ERROR_CODE__ERROR_NETCFG, e->errno_value,
                           "network settings were not applied: %s", e->message ? e->message : "?");
                return;
        }
        if (reply->payload_case != TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT) {
                start_fail(t, TUND__ERROR_CODE__ERROR_PROTOCOL, EPROTO,
                           "unexpected reply (case %u) to NetworkSettingsRequest",
                           reply->payload_case);
                return;
        }
        start_done(t);
}

static void start_settings(Tunnel *t) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__NetworkSettingsRequest req = TUND__NETWORK_SETTINGS_REQUEST__INIT;
        req.settings = t->settings;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST;
        m.network_settings_request = &req;
        if (!conn_usable(t)) {
                start_fail(t, TUND__ERROR_CODE__ERROR_PEER_GONE, ENOTCONN, "helper gone");
                return;
        }
        int64_t id = ipc_conn_call(t->conn, &m.base, NULL, 0, TUNNEL_SETTINGS_TIMEOUT_USEC,
                                   on_settings_reply, t);
        if (id < 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_INTERNAL, (int) -id,
                           "cannot send the network settings request: %s", strerror((int) -id));
                return;
        }
        t->settings_pending = true;
}

static void config_next(Tunnel *t);

static int on_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        t->grace_timer = sd_event_source_disable_unref(t->grace_timer);
        if (t->state == TUNNEL_STARTING)
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, t->grace_errno, "%s", t->grace_error);
        return 0;
}

static void on_config_reply(int error, const char *reply, size_t len, void *userdata) {
        Tunnel *t = userdata;
        const Tund__WgConfig *cfg = t->start->config;
        char what[96];
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};

        t->config_call = NULL;
        if (t->config_step == 0)
                snprintf(what, sizeof(what),
                         "the interface settings (private key, listen port "
                         "%u, fwmark %u)",
                         cfg->listen_port, cfg->fwmark);
        else {
                char name[UAPI_PEER_NAME_LEN + 4];
                uapi_peer_name(cfg->peers[t->config_step - 1]->public_key, name);
                snprintf(what, sizeof(what), "peer %zu (%s)", t->config_step, name);
        }
        if (error == -ETIMEDOUT) {
                start_fail(t, TUND__ERROR_CODE__ERROR_TIMEOUT, ETIMEDOUT,
                           "engine did not answer on its UAPI socket %s for %s within %llu ms",
                           t->uapi_path, what,
                           (unsigned long long) (t->engine_timeout_usec / USEC_PER_MSEC));
                return;
        }
        if (error < 0) {
                /* A connection error during start usually means the engine is dying: its exit
                 * status and last ERROR line say more. Wait a moment for them. */
                snprintf(t->grace_error, sizeof(t->grace_error),
                         "engine closed its UAPI socket %s while configuring %s: %s", t->uapi_path,
                         what, strerror(-error));
                t->grace_errno = -error;
                if (sd_event_add_time_relative(t->event, &t->grace_timer, CLOCK_MONOTONIC,
                                               TUNNEL_EXIT_GRACE_USEC, 0, on_grace, t) < 0)
                        on_grace(NULL, 0, t);
                return;
        }
        int r = uapi_parse_reply(reply, len, &d, &perr);
        if (r < 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, EBADMSG,
                           "engine sent a malformed UAPI reply for %s: %s", what,
                           perr ? perr : strerror(-r));
                return;
        }
        int errnum = d.errnum;
        uapi_device_done(&d);
        if (errnum != 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, errnum,
                           "engine refused %s: %s (errno %d)", what, uapi_errno_name(errnum),
                           errnum);
                return;
        }
        t->config_step++;
        config_next(t);
}

/* Sends the configuration in pieces, so that a refusal names the peer. The engine is fresh
 * and the device part says replace_peers=true: the result is the whole configuration. */
static void config_next(Tunnel *t) {
        const Tund__WgConfig *cfg = t->start->config;
        _cleanup_secbuf_ SecBuf req = {};
        _cleanup_free_ char *err = NULL;
        int r;

        if (t->config_step > cfg->n_peers) {
                wipe_secrets(t);
                start_settings(t);
                return;
        }
        if (t->config_step == 0)
                r = uapi_build_device(cfg, &req, &err);
        else
                r = uapi_build_peer(cfg, t->config_step - 1, t->endpoints, &req, &err);
        if (r < 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, -r, "%s", err ? err : strerror(-r));
                return;
        }
        r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec, on_config_reply,
                            t, &t->config_call);
        if (r < 0)
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                           "cannot talk to the engine on %s: %s", t->uapi_path, strerror(-r));
}

static void on_start_resolved(int error, const UapiEndpoint *endpoints, size_t n,
                              const char *message, void *userdata) {
        Tunnel *t = userdata;
        const Tund__WgConfig *cfg = t->start->config;
        _cleanup_secbuf_ SecBuf check = {};
        _cleanup_free_ char *err = NULL;
        int r;

        t->resolve = NULL;
        if (error < 0) {
                start_fail(t, ipc_error_code(error, TUND__ERROR_CODE__ERROR_INVALID), -error, "%s",
                           message);
                return;
        }
        t->endpoints = calloc(MAX(n, (size_t) 1), sizeof(UapiEndpoint));
        if (!t->endpoints) {
                start_fail(t, TUND__ERROR_CODE__ERROR_INTERNAL, ENOMEM, "out of memory");
                return;
        }
        memcpy(t->endpoints, endpoints, n * sizeof(UapiEndpoint));

        /* Everything is checked before the engine runs: a bad key fails here, cleanly. */
        r = uapi_build_config(cfg, t->endpoints, &check, &err);
        if (r >= 0)
                r = tunnel_settings_derive(cfg, t->endpoints, &t->settings, &err);
        if (r < 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, -r, "%s", err ? err : strerror(-r));
                return;
        }
        r = engine_spawn(t);
        if (r < 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, -r, "cannot start engine %s: %s",
                           t->args.engine_path, strerror(-r));
                return;
        }
        t->config_step = 0;
        config_next(t);
}

/* The version for StartResponse (and a clear error for a binary that does not run). The TUN's
 * framing cannot be checked here: on read, TUNGETIFF reports bit 0x1000 as IFF_NOFILTER ("no
 * socket filter attached"), the same bit as IFF_NO_PI, so a TUN created without IFF_NO_PI
 * looks like one created with it. The shim, which creates the TUN, picks the flavour. */
static int detect_engine(Tunnel *t, EngineTunFlavour override, char **ret_error) {
        /* The file that will run (main() verified it), not whatever the path names now. */
        int fd = tunnel_engine_verified_fd();
        if (fd >= 0)
                return engine_detect_fd(fd, t->args.engine_path, override, &t->engine_info,
                                        ret_error);
        return engine_detect_full(t->args.engine_path, override, t->engine_timeout_usec,
                                  &t->engine_info, ret_error);
}

static int check_engine(Tunnel *t, char **ret_error) {
        int r = detect_engine(t, ENGINE_TUN_FLAVOUR_UNKNOWN, ret_error);
        if (r == -EPROTONOSUPPORT) {
                /* An unknown version is the shim's problem (it chose the TUN flags), not ours. */
                free(*ret_error);
                *ret_error = NULL;
                r = detect_engine(t, ENGINE_TUN_FLAVOUR_PI, ret_error);
                if (r >= 0 && !t->engine_info.version[0])
                        strcpy(t->engine_info.version, "unknown");
        }
        return r;
}

static int helper_dispatch_start(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        Tund__StartRequest *req = ipc_msg_payload(m, TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST);
        _cleanup_free_ char *err = NULL;
        int r;

        if (!req)
                return -EINVAL;
        t->start_msg = ipc_msg_keep(m);
        t->start = req;
        t->start_reply_to = m->msg_id;
        t->state = TUNNEL_STARTING;
        t->engine_timeout_usec = (req->engine_timeout_ms ? req->engine_timeout_ms
                                                         : TUNNEL_ENGINE_TIMEOUT_DEFAULT_MS) *
                                 USEC_PER_MSEC;
        log_info(t, "start requested for profile %s on %s", profile_name(t), req->ifname);

        if (!req->config) {
                start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, EINVAL,
                           "StartRequest carries no configuration");
                return 0;
        }
        if (!streq_ptr(req->ifname, t->tun_name)) {
                start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, EINVAL,
                           "StartRequest is for interface \"%.15s\" but the TUN on fd %d is %s",
                           req->ifname ? req->ifname : "", t->tun_fd, t->tun_name);
                return 0;
        }
        if (!isempty(req->engine_version) && strlen(req->engine_version) < ENGINE_VERSION_MAX) {
                /* The shim detected it (and chose the TUN flags by it): running the engine
                 * once more would cost a Go process start on every VPN start. */
                snprintf(t->engine_info.path, sizeof(t->engine_info.path), "%s",
                         t->args.engine_path);
                snprintf(t->engine_info.version, sizeof(t->engine_info.version), "%s",
                         req->engine_version);
                r = 0;
        } else
                r = check_engine(t, &err);
        if (r < 0) {
                start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, -r, "%s", err ? err : strerror(-r));
                return 0;
        }
        r = tunnel_resolve_start(t->event, req->config, TUNNEL_RESOLVE_TIMEOUT_USEC,
                                 on_start_resolved, t, &t->resolve, &err);
        if (r < 0)
                start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, -r, "%s", err ? err : strerror(-r));
        return 0;
}

/* ---- peers ---- */

static void peers_op_unlink(Tunnel *t, PeersOp *op) {
        for (PeersOp **p = &t->peers_ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
}

static void peers_send(Tunnel *t, const UapiDevice *d, const bool *pick, bool delta,
                       uint64_t reply_to) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__PeerUpdate *u = NULL;
        int r = peer_update_build(profile_name(t), d, pick, delta, &u);
        if (r < 0) {
                reply_error(t, reply_to, TUND__ERROR_CODE__ERROR_INTERNAL, -r, "out of memory");
                return;
        }
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS;
        m.peers = u;
        r = send_msg(t, &m, reply_to);
        if (r == -EMSGSIZE) {
                /* Over the channel's frame limit (tens of thousands of allowed IPs): an answer
                 * all the same, not a request left hanging. */
                char text[128];
                snprintf(text, sizeof(text), "the state of %zu peer(s) does not fit in one message",
                         u->n_peers);
                if (reply_to)
                        reply_error(t, reply_to, TUND__ERROR_CODE__ERROR_INTERNAL, EMSGSIZE, text);
                else
                        log_warning(t, "peer update not sent: %s", text);
        }
        peer_update_free(u);
}

static void on_peers_reply(int error, const char *reply, size_t len, void *userdata) {
        PeersOp *op = userdata;
        Tunnel *t = op->tunnel;
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};
        char buf[512] = "";

        peers_op_unlink(t, op);
        if (error < 0)
                snprintf(buf, sizeof(buf), "engine did not answer get=1 on %s: %s", t->uapi_path,
                         strerror(-error));
        else if (uapi_parse_reply(reply, len, &d, &perr) < 0)
                snprintf(buf, sizeof(buf), "engine sent a malformed get=1 reply: %s",
                         perr ? perr : "?");
        else if (d.errnum != 0)
                snprintf(buf, sizeof(buf), "engine refused get=1: %s (errno %d)",
                         uapi_errno_name(d.errnum), d.errnum);

        if (buf[0]) {
                if (op->reply_to)
                        reply_error(t, op->reply_to,
                                    ipc_error_code(error, TUND__ERROR_CODE__ERROR_ENGINE),
                                    error < 0 ? -error : EBADMSG, buf);
                else
                        log_warning(t, "peer poll: %s", buf);
        } else if (op->reply_to) {
                /* A requester's view is not the watchers': leave the delta tracker alone, or
                 * the shim's periodic GetPeers would swallow changes before the poll sends
                 * them to watchers. */
                peers_send(t, &d, NULL, false, op->reply_to);
        } else {
                _cleanup_free_ bool *changed = calloc(MAX(d.n_peers, (size_t) 1), sizeof(bool));
                if (changed && peer_tracker_delta(&t->tracker, &d, changed) > 0)
                        peers_send(t, &d, changed, true, 0);
        }
        uapi_device_done(&d);
        free(op);
}

static int peers_start(Tunnel *t, uint64_t reply_to) {
        PeersOp *op = calloc(1, sizeof(*op));
        SecBuf req = {};
        if (!op)
                return -ENOMEM;
        op->tunnel = t;
        op->reply_to = reply_to;
        op->poll = reply_to == 0;
        int r = secbuf_append(&req, "get=1\n\n", 7);
        if (r >= 0)
                r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec,
                                    on_peers_reply, op, &op->call);
        secbuf_wipe(&req);
        if (r < 0) {
                free(op);
                return r;
        }
        op->next = t->peers_ops;
        t->peers_ops = op;
        return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        bool busy = false;
        for (PeersOp *op = t->peers_ops; op; op = op->next)
                busy = busy || op->poll;
        /* A slow engine gets one poll at a time, never a pile of them. */
        if (!busy && t->state == TUNNEL_RUNNING) {
                int r = peers_start(t, 0);
                if (r < 0)
                        log_warning(t, "peer poll: %s", strerror(-r));
        }
        sd_event_source_set_time_relative(s, TUNNEL_POLL_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static int helper_dispatch_get_peers(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        int r = peers_start(t, m->msg_id);
        if (r < 0)
                reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                            "cannot query the engine: no UAPI transaction possible");
        return 0;
}

/* ---- rebind ---- */

static void on_rebind_reply(int error, const char *reply, size_t len, void *userdata) {
        Tunnel *t = userdata;
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};
        uint64_t to = t->rebind_reply_to;

        t->rebind_call = NULL;
        t->rebind_reply_to = 0;
        if (error < 0)
                reply_error(t, to, ipc_error_code(error, TUND__ERROR_CODE__ERROR_ENGINE), -error,
                            "engine did not answer the endpoint update");
        else if (uapi_parse_reply(reply, len, &d, &perr) < 0)
                reply_error(t, to, TUND__ERROR_CODE__ERROR_ENGINE, EBADMSG,
                            perr ? perr : "malformed UAPI reply");
        else if (d.errnum != 0) {
                char buf[256];
                snprintf(buf, sizeof(buf), "engine refused the endpoint update: %s (errno %d)",
                         uapi_errno_name(d.errnum), d.errnum);
                reply_error(t, to, TUND__ERROR_CODE__ERROR_ENGINE, d.errnum, buf);
        } else {
                log_info(t, "rebind: endpoints set again");
                reply_ack(t, to);
        }
        uapi_device_done(&d);
}

static void on_rebind_resolved(int error, const UapiEndpoint *endpoints, size_t n,
                               const char *message, void *userdata) {
        Tunnel *t = userdata;
        _cleanup_secbuf_ SecBuf req = {};
        _cleanup_free_ char *err = NULL;

        t->rebind_resolve = NULL;
        if (error < 0) {
                reply_error(t, t->rebind_reply_to,
                            ipc_error_code(error, TUND__ERROR_CODE__ERROR_INVALID), -error,
                            message);
                t->rebind_reply_to = 0;
                return;
        }
        memcpy(t->endpoints, endpoints, n * sizeof(UapiEndpoint));
        int r = uapi_build_endpoints(t->start->config, t->endpoints, &req, &err);
        if (r >= 0)
                r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec,
                                    on_rebind_reply, t, &t->rebind_call);
        if (r < 0) {
                reply_error(t, t->rebind_reply_to, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                            err ? err : strerror(-r));
                t->rebind_reply_to = 0;
        }
}

static int helper_dispatch_rebind(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        _cleanup_free_ char *err = NULL;

        if (t->rebind_reply_to) {
                reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_BUSY, EBUSY,
                            "a rebind is already in progress");
                return 0;
        }
        t->rebind_reply_to = m->msg_id;
        int r = tunnel_resolve_start(t->event, t->start->config, TUNNEL_RESOLVE_TIMEOUT_USEC,
                                     on_rebind_resolved, t, &t->rebind_resolve, &err);
        if (r < 0) {
                reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_INVALID, -r,
                            err ? err : strerror(-r));
                t->rebind_reply_to = 0;
        }
        return 0;
}

/* ---- stopping ---- */

static void begin_stop(Tunnel *t, const char *why) {
        if (t->state == TUNNEL_STARTING && t->start_reply_to) {
                reply_error(t, t->start_reply_to, TUND__ERROR_CODE__ERROR_BUSY, ECANCELED,
                            "start cancelled: the tunnel is stopping");
                t->start_reply_to = 0;
        }
        log_info(t, "stopping (%s)", why);
        t->state = TUNNEL_STOPPING;
        cancel_ops(t);
        wipe_secrets(t);
        stop_engine(t);
}

static int helper_dispatch_stop(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        Tund__StopRequest *req = ipc_msg_payload(m, TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST);
        t->stop_reply_pending = true;
        t->stop_reply_to = m->msg_id;
        begin_stop(t, req && !isempty(req->reason) ? req->reason : "StopRequest");
        return 0;
}

/* ---- dispatch: which request is permitted in which state ---- */

/* Before each routed request (IpcHandlers.on_permit): a request is a call, and is answered
 * only in the states its route names (IpcRoute.states). */
static int tunnel_permit(IpcConn *c, const IpcRoute *r, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        if (m->msg_id == 0) {
                log_warning(t, "%s sent as a one-way message: ignored", r->name);
                return 1;
        }
        if ((r->states & IPC_STATE(t->state)) && !t->exiting)
                return 0;
        bool busy = t->state == TUNNEL_STARTING || t->state == TUNNEL_STOPPING ||
                    t->state == TUNNEL_FAILED;
        char buf[128];
        snprintf(buf, sizeof(buf), "%s not permitted while the tunnel is %s", r->name,
                 state_names[t->state]);
        reply_error(t, m->msg_id,
                    busy ? TUND__ERROR_CODE__ERROR_BUSY : TUND__ERROR_CODE__ERROR_PROTOCOL,
                    busy ? EBUSY : EPROTO, buf);
        return 1;
}

static const IpcRoute tunnel_routes[] = {
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST, "StartRequest", 0, IPC_STATE(TUNNEL_IDLE),
          helper_dispatch_start },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST, "StopRequest", 0,
          IPC_STATE(TUNNEL_IDLE) | IPC_STATE(TUNNEL_STARTING) | IPC_STATE(TUNNEL_RUNNING),
          helper_dispatch_stop },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS, "GetPeers", 0, IPC_STATE(TUNNEL_RUNNING),
          helper_dispatch_get_peers },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND, "Rebind", 0, IPC_STATE(TUNNEL_RUNNING),
          helper_dispatch_rebind },
};

static void on_conn_close(IpcConn *c, int error, const char *reason, void *userdata) {
        Tunnel *t = userdata;
        if (t->exiting)
                return;
        if (error < 0)
                log_error(t, "helper connection closed: %s", reason ? reason : strerror(-error));
        else
                log_info(t, "helper closed the connection");
        if (t->state == TUNNEL_IDLE)
                tunnel_finish(t, TUNNEL_EXIT_OK);
        else if (t->state == TUNNEL_STARTING || t->state == TUNNEL_RUNNING)
                begin_stop(t, "helper gone");
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Tunnel *t = userdata;
        if (t->signals++ > 0 && (t->state == TUNNEL_STOPPING || t->state == TUNNEL_FAILED)) {
                /* Signalled twice: do not wait for a slow engine. (A first signal while
                 * already stopping, e.g. PR_SET_PDEATHSIG after EOF, changes nothing.) */
                if (t->engine_pid > 0)
                        kill(t->engine_pid, SIGKILL);
                return 0;
        }
        if (t->state == TUNNEL_STOPPING || t->state == TUNNEL_FAILED || t->exiting)
                return 0;
        char why[64];
        snprintf(why, sizeof(why), "signal %s", sigabbrev_np((int) si->ssi_signo) ?: "?");
        send_status(t, TUND__SESSION_STATE__SESSION_STATE_STOPPING, why);
        begin_stop(t, why);
        return 0;
}

/* ---- setup ---- */

int tunnel_new_fds(Tunnel **ret, const TunnelArgs *args, sd_event *e, int ipc_fd, int tun_fd,
                   int uapi_fd) {
        _cleanup_close_ int ipc = ipc_fd;
        _cleanup_free_ char *err = NULL;
        char creds[256];
        int r;

        /* Ours until it is whole: *ret is set on success only. */
        _cleanup_(tunnel_freep) Tunnel *t = calloc(1, sizeof(*t));
        if (!t) {
                safe_close(tun_fd);
                safe_close(uapi_fd);
                return -ENOMEM;
        }
        t->args = *args;
        t->tun_fd = tun_fd;
        t->uapi_fd = uapi_fd;
        peer_tracker_init(&t->tracker);

        tunnel_describe_credentials(creds, sizeof(creds));
        fprintf(stderr, SD_INFO "tund-tunnel %s starting: %s\n", TUND_VERSION, creds);

        r = tunnel_check_ipc_fd(ipc, &err);
        if (r >= 0)
                r = tunnel_check_tun_fd(t->tun_fd, t->tun_name, &t->tun_flags, &err);
        if (r >= 0)
                r = tunnel_check_uapi_fd(t->uapi_fd, t->uapi_path, sizeof(t->uapi_path), &err);
        if (r < 0) {
                fprintf(stderr, SD_ERR "%s\n", err ? err : strerror(-r));
                return r;
        }

        t->event = sd_event_ref(e);
        r = sd_event_add_signal(t->event, NULL, SIGTERM, on_signal, t);
        if (r >= 0)
                r = sd_event_add_signal(t->event, NULL, SIGINT, on_signal, t);
        if (r < 0)
                return r;
        r = ipc_conn_new(&t->conn, t->event, TAKE_FD(ipc), &ipc_channel_tunnel_child);
        if (r < 0)
                return r;
        ipc_conn_set_handlers(
                t->conn, &(IpcHandlers){ .on_close = on_conn_close, .on_permit = tunnel_permit },
                t);
        ipc_conn_set_routes(t->conn, tunnel_routes, ELEMENTSOF(tunnel_routes), NULL, 0);
        /* Polling starts with the first RUNNING tick; the timer checks the state itself. */
        r = sd_event_add_time_relative(t->event, &t->poll_timer, CLOCK_MONOTONIC, TUNNEL_POLL_USEC,
                                       0, on_poll, t);
        if (r >= 0)
                r = sd_event_source_set_enabled(t->poll_timer, SD_EVENT_ON);
        if (r < 0)
                return r;
        fprintf(stderr, SD_INFO "TUN %s (flags %#x), UAPI socket %s, engine %s\n", t->tun_name,
                t->tun_flags, t->uapi_path, t->args.engine_path);
        *ret = TAKE_PTR(t);
        return 0;
}

int tunnel_new(Tunnel **ret, const TunnelArgs *args) {
        sd_event *e = NULL;
        int r = sd_event_default(&e);
        if (r < 0)
                return r;
        r = tunnel_new_fds(ret, args, e, TUNNEL_FD_IPC, TUNNEL_FD_TUN, TUNNEL_FD_UAPI);
        sd_event_unref(e);
        return r;
}

int tunnel_run(Tunnel *t) {
        return sd_event_loop(t->event);
}

Tunnel *tunnel_free(Tunnel *t) {
        if (!t)
                return NULL;
        t->exiting = true;
        cancel_ops(t);
        wipe_secrets(t);
        if (t->engine_pid > 0) {
                /* Never leave an engine behind, whatever brought us here. */
                kill(t->engine_pid, SIGKILL);
                (void) waitpid(t->engine_pid, NULL, 0);
        }
        if (t->conn) {
                /* Pending calls end now, while t is still valid for their callbacks. */
                ipc_conn_close(t->conn, 0, "tunnel exiting");
                ipc_conn_unref(t->conn);
        }
        if (t->settings)
                protobuf_c_message_free_unpacked(&t->settings->base, NULL);
        ipc_msg_free(t->start_msg);
        free(t->endpoints);
        peer_tracker_done(&t->tracker);
        sd_event_source_disable_unref(t->engine_child);
        sd_event_source_disable_unref(t->engine_output);
        sd_event_source_disable_unref(t->kill_timer);
        sd_event_source_disable_unref(t->drain_timer);
        sd_event_source_disable_unref(t->grace_timer);
        safe_close(t->tun_fd);
        safe_close(t->uapi_fd);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}
