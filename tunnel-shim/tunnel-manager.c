/* The tunnel: logging, messages to the helper, ending and stopping, the request table, setup.
 * The roles: tunnel-internal.h. */
#include "tunnel-internal.h"

const char *const tunnel_state_names[] = {
        [TUNNEL_IDLE] = "idle",       [TUNNEL_STARTING] = "starting",
        [TUNNEL_RUNNING] = "running", [TUNNEL_STOPPING] = "stopping",
        [TUNNEL_FAILED] = "failed",
};

/* ---- logging: Log messages to the helper, else stderr with "<N>" prefixes (log.h) ---- */

static Tund__LogLevel level_from_syslog(int level) {
        return level >= LOG_DEBUG     ? TUND__LOG_LEVEL__LOG_LEVEL_DEBUG
               : level >= LOG_INFO    ? TUND__LOG_LEVEL__LOG_LEVEL_INFO
               : level >= LOG_NOTICE  ? TUND__LOG_LEVEL__LOG_LEVEL_NOTICE
               : level >= LOG_WARNING ? TUND__LOG_LEVEL__LOG_LEVEL_WARNING
                                      : TUND__LOG_LEVEL__LOG_LEVEL_ERROR;
}

/* Relayed, the helper journals a line (with PROFILE=); our stderr is the same journal (the
 * helper's unit), so a line goes there only when it could not be relayed. The tunnel's own
 * debug lines are not relayed (the sink's level); the engine's are, as it wrote them. */
int tunnel_log_sink(int level, const LogFields *f, const char *message, void *userdata) {
        Tunnel *t = userdata;
        bool engine = f && f->child;

        if (!engine && level > LOG_INFO)
                return -EPERM;
        if (engine && !tunnel_engine_line_admit(t))
                return -EAGAIN;
        return tunnel_send_log(t, level_from_syslog(level), message,
                               engine ? f->child_pid : getpid());
}

const char *tunnel_profile_name(Tunnel *t) {
        return t->start && !isempty(t->start->profile) ? t->start->profile : "";
}

/* ---- sending ---- */

bool tunnel_conn_usable(Tunnel *t) {
        return t->conn && !ipc_conn_is_closed(t->conn);
}

int tunnel_send_msg(Tunnel *t, Tund__TunnelToHelper *m, uint64_t response_to) {
        if (!tunnel_conn_usable(t))
                return -ENOTCONN;
        return ipc_conn_send(t->conn, &m->base, response_to, NULL, 0);
}

int tunnel_send_log(Tunnel *t, Tund__LogLevel level, const char *text, pid_t pid) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Log l = TUND__LOG__INIT;
        l.profile = (char *) tunnel_profile_name(t);
        l.level = level;
        l.message = (char *) text;
        l.pid = (uint32_t) pid;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG;
        m.log = &l;
        return tunnel_send_msg(t, &m, 0);
}

void tunnel_send_status(Tunnel *t, Tund__SessionState state, const char *text) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Status s = TUND__STATUS__INIT;
        s.profile = (char *) tunnel_profile_name(t);
        s.state = state;
        s.text = (char *) text;
        s.engine_pid = (uint32_t) MAX(t->engine_pid, 0);
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS;
        m.status = &s;
        (void) tunnel_send_msg(t, &m, 0);
}

void tunnel_reply_error(Tunnel *t, uint64_t reply_to, Tund__ErrorCode code, int errnum,
                        const char *text) {
        if (reply_to && tunnel_conn_usable(t))
                (void) ipc_conn_reply_error(t->conn, reply_to, code, errnum, "%s", text);
}

void tunnel_reply_ack(Tunnel *t, uint64_t reply_to) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Ack a = TUND__ACK__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK;
        m.ack = &a;
        (void) tunnel_send_msg(t, &m, reply_to);
}

/* ---- secrets ---- */

static void wipe_string(char *s) {
        if (s && s != protobuf_c_empty_string)
                explicit_wipe(s, strlen(s));
}

/* After the engine has them, the keys are not needed again: Rebind sets endpoints only. */
void tunnel_wipe_secrets(Tunnel *t) {
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
        if (!tunnel_conn_usable(t) || ipc_conn_get_queued(t->conn) == 0 || now >= t->drain_deadline)
                return sd_event_exit(t->event, t->exit_status);
        sd_event_source_set_time_relative(s, 10 * USEC_PER_MSEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

void tunnel_cancel_ops(Tunnel *t) {
        t->grace_timer = sd_event_source_disable_unref(t->grace_timer);
        t->resolve = tunnel_resolve_free(t->resolve);
        t->config_call = uapi_call_free(t->config_call);
        tunnel_rebind_cancel(t);
        while (t->peers_ops) {
                PeersOp *op = t->peers_ops;
                t->peers_ops = op->next;
                uapi_call_free(op->call);
                if (op->reply_to)
                        tunnel_reply_error(t, op->reply_to, TUND__ERROR_CODE__ERROR_BUSY, 0,
                                           "tunnel is stopping");
                free(op);
        }
        t->poll_timer = sd_event_source_disable_unref(t->poll_timer);
}

/* wireguard-go removes its socket file on a clean exit; after SIGKILL it stays and would look
 * like a live engine. Best effort: the directory may not be ours. */
void tunnel_remove_stale_socket(Tunnel *t) {
        if (t->engine_spawned && unlink(t->uapi_path) >= 0)
                log_info("removed the stale UAPI socket %s", t->uapi_path);
}

/* Ends the process once the queued messages are out (or after a bound). */
void tunnel_finish(Tunnel *t, int status) {
        if (t->exiting)
                return;
        t->exiting = true;
        t->exit_status = status;
        tunnel_cancel_ops(t);
        tunnel_wipe_secrets(t);
        tunnel_remove_stale_socket(t);
        sd_event_now(t->event, CLOCK_MONOTONIC, &t->drain_deadline);
        t->drain_deadline += TUNNEL_DRAIN_TIMEOUT_USEC;
        if (sd_event_add_time_relative(t->event, &t->drain_timer, CLOCK_MONOTONIC, 0, 0, on_drain,
                                       t) < 0)
                sd_event_exit(t->event, status);
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        if (t->engine_pid > 0) {
                log_warning("engine (pid %d) did not exit within %llu ms of SIGTERM, killing it",
                            (int) t->engine_pid,
                            (unsigned long long) (TUNNEL_STOP_TIMEOUT_USEC / USEC_PER_MSEC));
                kill(t->engine_pid, SIGKILL);
        }
        return 0;
}

/* SIGTERM, then SIGKILL after a bound; tunnel_engine_gone() runs when it has exited. */
void tunnel_stop_engine(Tunnel *t) {
        if (t->engine_pid <= 0) {
                tunnel_engine_gone(t, 0);
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

void tunnel_start_fail(Tunnel *t, Tund__ErrorCode code, int errnum, const char *fmt, ...) {
        char buf[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        log_error("start failed: %s", buf);
        tunnel_reply_error(t, t->start_reply_to, code, errnum, buf);
        t->start_reply_to = 0;
        t->state = TUNNEL_FAILED;
        tunnel_cancel_ops(t);
        tunnel_wipe_secrets(t);
        tunnel_send_status(t, TUND__SESSION_STATE__SESSION_STATE_STOPPING, buf);
        tunnel_stop_engine(t);
}

/* ---- stopping ---- */

static void begin_stop(Tunnel *t, const char *why) {
        if (t->state == TUNNEL_STARTING && t->start_reply_to) {
                tunnel_reply_error(t, t->start_reply_to, TUND__ERROR_CODE__ERROR_BUSY, ECANCELED,
                                   "start cancelled: the tunnel is stopping");
                t->start_reply_to = 0;
        }
        log_info("stopping (%s)", why);
        t->state = TUNNEL_STOPPING;
        tunnel_cancel_ops(t);
        tunnel_wipe_secrets(t);
        tunnel_stop_engine(t);
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
                log_warning("%s sent as a one-way message: ignored", r->name);
                return 1;
        }
        if ((r->states & IPC_STATE(t->state)) && !t->exiting)
                return 0;
        bool busy = t->state == TUNNEL_STARTING || t->state == TUNNEL_STOPPING ||
                    t->state == TUNNEL_FAILED;
        char buf[128];
        snprintf(buf, sizeof(buf), "%s not permitted while the tunnel is %s", r->name,
                 tunnel_state_names[t->state]);
        tunnel_reply_error(t, m->msg_id,
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
                log_error("helper connection closed: %s", reason ? reason : strerror(-error));
        else
                log_info("helper closed the connection");
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
        tunnel_send_status(t, TUND__SESSION_STATE__SESSION_STATE_STOPPING, why);
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
        health_init(&t->health, 0, 0);

        tunnel_describe_credentials(creds, sizeof(creds));
        log_info("tund-tunnel %s starting: %s", TUND_VERSION, creds);

        r = tunnel_check_ipc_fd(ipc, &err);
        if (r >= 0)
                r = tunnel_check_tun_fd(t->tun_fd, t->tun_name, &t->tun_flags, &err);
        if (r >= 0)
                r = tunnel_check_uapi_fd(t->uapi_fd, t->uapi_path, sizeof(t->uapi_path), &err);
        if (r < 0) {
                return log_error_errno(r, "%s", err ?: strerror(-r));
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
                                       0, tunnel_on_poll, t);
        if (r >= 0)
                r = sd_event_source_set_enabled(t->poll_timer, SD_EVENT_ON);
        if (r < 0)
                return r;
        /* From here on lines go to the helper (tunnel_free() takes the sink back). */
        log_set_sink(tunnel_log_sink, LOG_DEBUG, t);
        log_info("TUN %s (flags %#x), UAPI socket %s, engine %s", t->tun_name, t->tun_flags,
                 t->uapi_path, t->args.engine_path);
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
        log_set_sink(NULL, 0, NULL);
        tunnel_cancel_ops(t);
        tunnel_wipe_secrets(t);
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
        health_done(&t->health);
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
