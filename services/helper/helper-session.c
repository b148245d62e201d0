/* A session's life: StartSession → verify + spawn → StartRequest → (settings relayed) →
 * StartResponse → running → StopRequest / exit → finished. Every pending shim or control
 * request ends in exactly one reply when the session finishes. */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "helper-log.h"
#include "helper-spawn.h"
#include "verify.h"
#include "helper.h"
#include "string-util.h"

ProtobufCMessage *helper_proto_dup(const ProtobufCMessage *msg) {
        if (!msg)
                return NULL;
        size_t n = protobuf_c_message_get_packed_size(msg);
        _cleanup_free_ uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
                return NULL;
        protobuf_c_message_pack(msg, buf);
        return protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
}

void helper_proto_freep(void *p) {
        ProtobufCMessage **m = p;
        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
        *m = NULL;
}

void helper_session_set_last_error(Session *s, const char *fmt, ...) {
        char *t = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&t, fmt, ap) < 0)
                t = NULL;
        va_end(ap);
        if (t) {
                /* Shown by tundctl and relayed to the shim's STATUS=: printable only. */
                free(s->last_error);
                s->last_error = string_sanitize_inplace(t);
        }
}

static int shim_send(Session *s, Tund__HelperToShim *msg, uint64_t response_to) {
        if (!s->shim)
                return -ENOTCONN;
        return ipc_conn_send(s->shim->conn, &msg->base, response_to, NULL, 0);
}

/* ---- the end of a session ---- */

static void session_free(Session *s) {
        Manager *m = s->m;
        LIST_REMOVE(s, link);
        m->n_sessions--;
        if (s->shim)
                s->shim->session = NULL;
        if (s->tunnel) {
                IpcConn *t = TAKE_PTR(s->tunnel);
                ipc_conn_set_handlers(t, NULL, NULL);
                ipc_conn_close(t, -ESHUTDOWN, "session finished");
                ipc_conn_unref(t);
        }
        for (size_t i = 0; i < s->n_ctl_stops; i++)
                ipc_conn_unref(s->ctl_stops[i].conn);
        free(s->ctl_stops);
        sd_event_source_disable_unref(s->child);
        sd_event_source_disable_unref(s->term_timer);
        sd_event_source_disable_unref(s->kill_timer);
        sd_event_source_disable_unref(s->drain_timer);
        sd_event_source_disable_unref(s->finish);
        sd_event_source_disable_unref(s->reap_poll);
        helper_proto_freep(&s->settings);
        helper_proto_freep(&s->applied);
        helper_proto_freep(&s->peers);
        free(s->engine_version);
        free(s->last_error);
        free(s->last_log);
        free(s->stop_reason);
        free(s->profile);
        free(s->ifname);
        free(s);
}

static void session_finish(Session *s) {
        Manager *m = s->m;
        char reason[1024];

        if (s->exit_signal)
                snprintf(reason, sizeof(reason), "killed by signal %d (SIG%s)", s->exit_signal,
                         sigabbrev_np(s->exit_signal) ?: "?");
        else if (s->last_error)
                snprintf(reason, sizeof(reason), "%s", s->last_error);
        else if (s->last_log && s->exit_status != 0)
                snprintf(reason, sizeof(reason), "%s", s->last_log);
        else
                snprintf(reason, sizeof(reason), "exited with status %d", s->exit_status);

        bool asked = s->stop_reason != NULL;
        log_session(asked || s->exit_status == 0 ? LOG_INFO : LOG_WARNING, s->profile,
                    s->tunnel_pid,
                    asked ? HELPER_MESSAGE_SESSION_STOPPED : HELPER_MESSAGE_TUNNEL_EXITED,
                    "Session %s ended: tunnel %d %s%s%s.", s->profile, (int) s->tunnel_pid, reason,
                    asked ? "; stopped because " : "", asked ? s->stop_reason : "");

        /* A shim that asked to stop while the start was pending gets both replies. */
        if (s->start_msg_id && s->shim)
                (void) ipc_conn_reply_error(
                        s->shim->conn, s->start_msg_id, TUND__ERROR_CODE__ERROR_ENGINE, 0,
                        "tunnel for %s ended before it started: %s%s%s", s->profile, reason,
                        asked ? "; stopped because " : "", asked ? s->stop_reason : "");
        if (s->stop_msg_id && s->shim) {
                Tund__HelperToShim r = TUND__HELPER_TO_SHIM__INIT;
                Tund__Ack ack = TUND__ACK__INIT;
                r.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_ACK;
                r.ack = &ack;
                (void) shim_send(s, &r, s->stop_msg_id);
        } else if (s->running_reported && s->shim) {
                Tund__HelperToShim r = TUND__HELPER_TO_SHIM__INIT;
                Tund__TunnelExited te = TUND__TUNNEL_EXITED__INIT;
                char text[1200];
                snprintf(text, sizeof(text), "%s%s%s", asked ? "stopped: " : "",
                         asked ? s->stop_reason : reason, asked ? "" : "");
                te.exit_status = s->exit_signal ? -1 : s->exit_status;
                te.signal = s->exit_signal;
                te.reason = text;
                r.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_TUNNEL_EXITED;
                r.tunnel_exited = &te;
                (void) shim_send(s, &r, 0);
        }
        for (size_t i = 0; i < s->n_ctl_stops; i++) {
                Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
                Tund__Ack ack = TUND__ACK__INIT;
                r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_ACK;
                r.ack = &ack;
                (void) helper_control_send(s->ctl_stops[i].conn, &r, s->ctl_stops[i].msg_id);
        }
        s->state = SESSION_EXITED;
        char text[1100];
        snprintf(text, sizeof(text), "ended: %s", reason);
        helper_watch_session_state(s, text);
        session_free(s);
        helper_manager_changed(m);
}

static int on_finish(sd_event_source *es, void *userdata) {
        session_finish(userdata);
        return 0;
}

/* Finishing runs from its own event so no callback of the session's sources frees them. */
static void session_schedule_finish(Session *s) {
        if (s->finish || !s->reaped || s->tunnel)
                return;
        int r = sd_event_add_defer(s->m->event, &s->finish, on_finish, s);
        if (r < 0) {
                log_error_errno(r, "Cannot schedule the end of session %s: %m", s->profile);
                session_finish(s);
        }
}

static int on_drain_timeout(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;
        /* The tunnel is dead but its channel is open: an fd leaked to the engine. */
        if (s->tunnel)
                ipc_conn_close(s->tunnel, -ETIMEDOUT, "tunnel exited but its channel stayed open");
        return 0;
}

static int on_child(sd_event_source *es, const siginfo_t *si, void *userdata) {
        Session *s = userdata;
        s->reaped = true;
        if (si->si_code == CLD_EXITED) {
                s->exit_status = si->si_status;
                s->exit_signal = 0;
        } else {
                s->exit_status = -1;
                s->exit_signal = si->si_status;
        }
        s->state = SESSION_EXITED;
        s->term_timer = sd_event_source_disable_unref(s->term_timer);
        s->kill_timer = sd_event_source_disable_unref(s->kill_timer);
        s->reap_poll = sd_event_source_disable_unref(s->reap_poll);
        if (s->tunnel && !s->drain_timer)
                (void) sd_event_add_time_relative(s->m->event, &s->drain_timer, CLOCK_MONOTONIC,
                                                  HELPER_DRAIN_USEC, 0, on_drain_timeout, s);
        if (s->tunnel && !s->drain_timer)
                ipc_conn_close(s->tunnel, -ETIMEDOUT, "tunnel exited");
        session_schedule_finish(s);
        return 0;
}

/* sd-event learns of a tunnel's exit from its pidfd becoming readable. Once, in a minimal Debian
 * container under ASan (kernel 6.18), a tunnel killed while stopping stayed a zombie whose pidfd
 * never woke the loop: the session stayed "stopping" for good and its profile could not start
 * again. So from the moment an exit is expected (its channel closed, a signal sent) we also
 * ask waitid() every HELPER_REAP_POLL_USEC, without reaping. An exit seen twice that way with
 * no report from the child source in between (which would have freed this timer) was lost:
 * reap it here and carry on as on_child() would. */
static int on_reap_poll(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;
        siginfo_t si = {};
        if (waitid(P_PID, s->tunnel_pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) {
                s->exit_polled = false;
        } else if (!s->exit_polled) {
                s->exit_polled = true;
        } else {
                log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL,
                            "Tunnel %d exited but its exit was never reported; reaping it.",
                            (int) s->tunnel_pid);
                s->child = sd_event_source_disable_unref(s->child);
                si = (siginfo_t){};
                if (waitid(P_PID, s->tunnel_pid, &si, WEXITED | WNOHANG) >= 0 && si.si_pid > 0)
                        return on_child(NULL, &si, s);
        }
        if (sd_event_source_set_time_relative(es, HELPER_REAP_POLL_USEC) < 0 ||
            sd_event_source_set_enabled(es, SD_EVENT_ONESHOT) < 0)
                log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL,
                            "Cannot watch tunnel %d's exit by polling.", (int) s->tunnel_pid);
        return 0;
}

static void session_expect_exit(Session *s) {
        if (s->reaped || s->reap_poll || s->tunnel_pid <= 0)
                return;
        (void) sd_event_add_time_relative(s->m->event, &s->reap_poll, CLOCK_MONOTONIC,
                                          HELPER_REAP_POLL_USEC, 0, on_reap_poll, s);
}

static void session_signal(Session *s, int sig) {
        if (s->reaped || !s->child)
                return;
        int r = sd_event_source_send_child_signal(s->child, sig, NULL, 0);
        if (r < 0)
                log_warning_errno(r, "Cannot send %s to tunnel %d: %m", strsignal(sig),
                                  (int) s->tunnel_pid);
        session_expect_exit(s);
}

static int on_kill_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;
        s->kill_step = 2;
        log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL,
                    "Tunnel %d did not exit after SIGTERM, sending SIGKILL.", (int) s->tunnel_pid);
        session_signal(s, SIGKILL);
        return 0;
}

static void session_terminate(Session *s) {
        if (s->kill_step >= 1 || s->reaped)
                return;
        s->kill_step = 1;
        session_signal(s, SIGTERM);
        if (!s->kill_timer &&
            sd_event_add_time_relative(s->m->event, &s->kill_timer, CLOCK_MONOTONIC,
                                       s->m->opt.stop_timeout_usec, 0, on_kill_timer, s) < 0)
                session_signal(s, SIGKILL);
}

static int on_term_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;
        log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL,
                    "Tunnel %d did not stop within %llus, sending SIGTERM.", (int) s->tunnel_pid,
                    (unsigned long long) (s->m->opt.stop_timeout_usec / USEC_PER_SEC));
        session_terminate(s);
        return 0;
}

static void on_stop_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Session *s = userdata;
        if (error < 0 || !helper_session_permits(s->state, SREQ_TUNNEL_STOP_REPLY))
                return; /* the timers and the child's exit take it from here */
        const Tund__Error *err = ipc_msg_error(reply);
        const Tund__TunnelToHelper *t = (const Tund__TunnelToHelper *) reply->msg;
        if (err)
                log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL,
                            "Tunnel %d failed to stop: %s", (int) s->tunnel_pid, err->message);
        else if (t->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE)
                log_session(LOG_DEBUG, s->profile, s->tunnel_pid, NULL,
                            "Tunnel %d stopped its engine (exit status %d).", (int) s->tunnel_pid,
                            t->stop_response->engine_exit_status);
}

void helper_session_stop(Session *s, const char *reason) {
        if (s->state >= SESSION_STOPPING)
                return;
        if (!s->stop_reason)
                s->stop_reason = strdup(reason);
        s->state = SESSION_STOPPING;
        log_session(LOG_INFO, s->profile, s->tunnel_pid, NULL, "Stopping session %s: %s.",
                    s->profile, reason);
        char text[512];
        snprintf(text, sizeof(text), "stopping: %s", reason);
        helper_watch_session_state(s, text);

        if (s->tunnel && !ipc_conn_is_closed(s->tunnel)) {
                Tund__HelperToTunnel msg = TUND__HELPER_TO_TUNNEL__INIT;
                Tund__StopRequest req = TUND__STOP_REQUEST__INIT;
                req.reason = (char *) reason;
                msg.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST;
                msg.stop_request = &req;
                int64_t r = ipc_conn_call(s->tunnel, &msg.base, NULL, 0,
                                          s->m->opt.stop_timeout_usec, on_stop_reply, s);
                if (r > 0 && sd_event_add_time_relative(
                                     s->m->event, &s->term_timer, CLOCK_MONOTONIC,
                                     s->m->opt.stop_timeout_usec, 0, on_term_timer, s) >= 0)
                        return;
        }
        session_terminate(s);
}

void helper_session_abandon(Session *s) {
        if (s->tunnel_pid > 0 && !s->reaped) {
                (void) kill(s->tunnel_pid, SIGKILL);
                (void) waitpid(s->tunnel_pid, NULL, 0);
        }
        /* Calls still pending on the tunnel channel end with it: as no-ops. */
        s->state = SESSION_EXITED;
        session_free(s);
}

void helper_session_shim_gone(Session *s) {
        s->shim = NULL;
        s->start_msg_id = s->stop_msg_id = 0;
        helper_session_stop(s, "the network shim disconnected");
}

void helper_session_tunnel_closed(Session *s, int error, const char *reason) {
        s->tunnel = ipc_conn_unref(s->tunnel);
        if (s->reaped) {
                session_schedule_finish(s);
                return;
        }
        session_expect_exit(s);
        if (s->state < SESSION_STOPPING) {
                if (!s->last_error)
                        helper_session_set_last_error(s, "tunnel closed its channel: %s", reason);
                log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL,
                            "Tunnel %d of %s went away: %s", (int) s->tunnel_pid, s->profile,
                            reason);
                s->state = SESSION_STOPPING;
                helper_watch_session_state(s, "stopping: the tunnel went away");
        }
        /* Its channel is gone, so is the only polite way to ask: signal it. */
        session_terminate(s);
}

/* ---- the start ---- */

static void on_start_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Session *s = userdata;
        if (!helper_session_permits(s->state, SREQ_TUNNEL_START_REPLY))
                return;
        uint64_t shim_id = s->start_msg_id;
        s->start_msg_id = 0;
        IpcConn *shim = s->shim ? s->shim->conn : NULL;

        if (error < 0) {
                if (error == -ETIMEDOUT)
                        helper_session_set_last_error(
                                s, "tunnel did not start within %llus",
                                (unsigned long long) (s->m->opt.start_timeout_usec / USEC_PER_SEC));
                else if (!s->last_error)
                        helper_session_set_last_error(s, "tunnel went away during its start");
                if (shim)
                        (void) ipc_conn_reply_error(
                                shim, shim_id,
                                ipc_error_code(error, TUND__ERROR_CODE__ERROR_PEER_GONE), -error,
                                "%s: %s", s->profile, s->last_error);
                helper_session_stop(s, "the start failed");
                return;
        }
        const Tund__Error *err = ipc_msg_error(reply);
        if (err) {
                helper_session_set_last_error(s, "%s", err->message);
                if (shim)
                        (void) ipc_conn_reply_error(shim, shim_id, err->code, err->errno_value,
                                                    "%s", err->message);
                helper_session_stop(s, "the start failed");
                return;
        }
        const Tund__StartResponse *resp =
                ipc_msg_payload(reply, TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE);
        if (!resp) {
                helper_session_set_last_error(s,
                                              "tunnel answered StartRequest with something else");
                if (shim)
                        (void) ipc_conn_reply_error(shim, shim_id, TUND__ERROR_CODE__ERROR_PROTOCOL,
                                                    0, "%s: %s", s->profile, s->last_error);
                ipc_conn_close(c, -EBADMSG, "tunnel protocol violation: %s", s->last_error);
                return;
        }

        s->engine_pid = resp->engine_pid;
        free(s->engine_version);
        s->engine_version = strdup(resp->engine_version ? resp->engine_version : "");
        s->state = SESSION_RUNNING;
        s->started_usec = 0;
        (void) sd_event_now(s->m->event, CLOCK_REALTIME, &s->started_usec);
        if (shim) {
                Tund__HelperToShim r = TUND__HELPER_TO_SHIM__INIT;
                Tund__StartSessionReply sr = TUND__START_SESSION_REPLY__INIT;
                sr.tunnel_pid = (uint32_t) s->tunnel_pid;
                sr.engine_pid = s->engine_pid;
                sr.engine_version = s->engine_version ? s->engine_version : (char *) "";
                r.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY;
                r.start_session_reply = &sr;
                if (ipc_conn_send(shim, &r.base, shim_id, NULL, 0) >= 0)
                        s->running_reported = true;
        }
        log_session(LOG_INFO, s->profile, s->tunnel_pid, HELPER_MESSAGE_SESSION_STARTED,
                    "Session %s started: tunnel %d, engine %u (%s), interface %s.", s->profile,
                    (int) s->tunnel_pid, s->engine_pid, s->engine_version, s->ifname);
        helper_watch_session_state(s, "running");
}

static bool ifname_valid(const char *n) {
        size_t len = n ? strlen(n) : 0;
        if (len < 1 || len >= IFNAMSIZ)
                return false;
        for (size_t i = 0; i < len; i++)
                if (n[i] == '/' || n[i] == ':' || n[i] <= ' ' || n[i] >= 127)
                        return false;
        return !streq(n, ".") && !streq(n, "..");
}

/* The fds a shim sends: a TUN device attached to ifname and a listening unix socket. */
static int check_session_fds(int tun, int uapi, const char *ifname, char *why, size_t n) {
        struct stat st;
        if (fstat(tun, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
            minor(st.st_rdev) != 200) {
                snprintf(why, n, "fd 0 is not a TUN device (/dev/net/tun)");
                return -EINVAL;
        }
        struct ifreq ifr = {};
        if (ioctl(tun, TUNGETIFF, &ifr) < 0) {
                snprintf(why, n, "fd 0 is not attached to an interface: %s", strerror(errno));
                return -EINVAL;
        }
        if (!streq(ifr.ifr_name, ifname)) {
                snprintf(why, n, "fd 0 is interface %s, not %s", ifr.ifr_name, ifname);
                return -EINVAL;
        }
        int v = 0;
        socklen_t len = sizeof(v);
        if (getsockopt(uapi, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX) {
                snprintf(why, n, "fd 1 is not a unix socket");
                return -EINVAL;
        }
        len = sizeof(v);
        if (getsockopt(uapi, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM) {
                snprintf(why, n, "fd 1 is not a stream socket");
                return -EINVAL;
        }
        len = sizeof(v);
        if (getsockopt(uapi, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 1) {
                snprintf(why, n, "fd 1 is not a listening socket");
                return -EINVAL;
        }
        return 0;
}

/* The production HelperSpawnFunc: verify the binary, then execute the verified file. */
static int session_exec_tunnel(Manager *m, int tun_fd, int uapi_fd, int *ret_channel,
                               pid_t *ret_pid, char **ret_error) {
        _cleanup_close_ int exe = -EBADF, ours = -EBADF, theirs = -EBADF;
        const char *step = NULL;
        int sv[2], r;

        VerifyOptions vo = { .trusted_uid = 0, .sha256_hex = m->opt.tunnel_sha256 };
        r = verify_open(m->opt.tunnel_path, &vo, &exe, ret_error);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return negative_errno();
        ours = sv[0];
        theirs = sv[1];

        TunnelSpawnArgs a = {
                .exe_fd = exe,
                .channel_fd = theirs,
                .tun_fd = tun_fd,
                .uapi_fd = uapi_fd,
                .change_user = m->change_user,
                .uid = m->tunnel_uid,
                .gid = m->tunnel_gid,
                .allow_root = m->tunnel_uid == 0,
                .engine_sha256 = m->opt.engine_sha256,
                .nofile_soft = m->nofile_soft_orig,
                .envp = m->child_env,
        };
        r = helper_tunnel_spawn(&a, ret_pid, &step);
        if (r < 0) {
                if (asprintf(ret_error, "spawning %s failed at %s: %s", m->opt.tunnel_path,
                             step ? step : "?", strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        *ret_channel = TAKE_FD(ours);
        return 0;
}

static int session_spawn(Session *s, IpcMsg *msg, char **ret_error) {
        Manager *m = s->m;
        _cleanup_close_ int ours = -EBADF;
        pid_t pid = 0;
        int r;

        r = (m->spawn ?: session_exec_tunnel)(m, msg->fds[0], msg->fds[1], &ours, &pid, ret_error);
        if (r < 0)
                return r;
        s->tunnel_pid = pid;
        /* The tunnel has them now; the TUN must not stay alive through us. */
        msg->fds[0] = safe_close(msg->fds[0]);
        msg->fds[1] = safe_close(msg->fds[1]);

        r = sd_event_add_child(m->event, &s->child, s->tunnel_pid, WEXITED, on_child, s);
        if (r >= 0)
                r = ipc_conn_new(&s->tunnel, m->event, TAKE_FD(ours), &ipc_channel_tunnel_helper);
        if (r < 0) {
                (void) kill(s->tunnel_pid, SIGKILL);
                s->child = sd_event_source_disable_unref(s->child);
                (void) waitpid(s->tunnel_pid, NULL, 0);
                s->tunnel_pid = 0;
                if (asprintf(ret_error, "watching the tunnel failed: %s", strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        helper_tunnel_conn_setup(s);
        return 0;
}

/* Sent (1) or failed to send (-errno): a refusal ends the request either way. */
static int refused(int r) {
        return r < 0 ? r : 1;
}

/* StartSession's checks, before anything is made: 0 when it may go ahead, else the refusal
 * was sent (1) or could not be (-errno). */
static int start_check(ShimClient *sc, IpcMsg *msg, const Tund__StartSession *req) {
        Manager *m = sc->m;
        IpcConn *c = sc->conn;
        uint64_t id = msg->msg_id;
        char why[256];

        if (sc->started)
                return refused(
                        ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_PROTOCOL, 0,
                                             "StartSession: this connection already started a "
                                             "session (one session per connection)"));
        if (m->stopping)
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_BUSY, 0,
                                                    "StartSession: the helper is stopping"));
        if (msg->n_fds != 2)
                return refused(
                        ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_PROTOCOL, 0,
                                             "StartSession carries exactly 2 fds (TUN, UAPI), "
                                             "not %zu",
                                             msg->n_fds));
        if (!helper_session_profile_valid(req->profile))
                return refused(
                        ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                             "StartSession: invalid profile name \"%s\" (want "
                                             "[A-Za-z0-9_.-]{1,32})",
                                             req->profile));
        if (!ifname_valid(req->ifname))
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                                    "StartSession: invalid interface name \"%s\"",
                                                    req->ifname));
        if (!req->config)
                return refused(ipc_conn_reply_error(
                        c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                        "StartSession for %s carries no WireGuard config", req->profile));
        Session *other = helper_manager_find_session(m, req->profile);
        if (other)
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_EXISTS, 0,
                                                    "a session for profile %s already exists (%s, "
                                                    "tunnel pid %d)",
                                                    req->profile,
                                                    helper_session_state_to_string(other->state),
                                                    (int) other->tunnel_pid));
        if (check_session_fds(msg->fds[0], msg->fds[1], req->ifname, why, sizeof(why)) < 0)
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                                    "StartSession for %s: %s", req->profile, why));
        return 0;
}

int helper_session_start(ShimClient *sc, IpcMsg *msg, const Tund__StartSession *req) {
        Manager *m = sc->m;
        IpcConn *c = sc->conn;
        uint64_t id = msg->msg_id;

        int r = start_check(sc, msg, req);
        if (r != 0)
                return r < 0 ? r : 0;

        Session *s = calloc(1, sizeof(Session));
        if (!s)
                return -ENOMEM;
        *s = (Session){
                .m = m,
                .id = m->next_session_id++,
                .profile = strdup(req->profile),
                .ifname = strdup(req->ifname),
                .state = SESSION_STARTING,
                .shim_pid = req->shim_pid,
        };
        const IpcPeer *peer = ipc_conn_get_peer(c);
        if (peer)
                s->shim_pid = (uint32_t) peer->pid; /* the kernel's word, not the shim's */
        if (!s->profile || !s->ifname) {
                free(s->profile);
                free(s->ifname);
                free(s);
                return -ENOMEM;
        }
        /* Whole now: linked, and from here on session_free() ends it. */
        LIST_INSERT_HEAD(&m->sessions, s, link);
        m->n_sessions++;

        _cleanup_free_ char *error = NULL;
        r = session_spawn(s, msg, &error);
        if (r < 0) {
                log_session(LOG_ERR, s->profile, 0, NULL, "Cannot start session %s: %s", s->profile,
                            error ? error : strerror(-r));
                (void) ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_ENGINE, r,
                                            "%s: tunnel not started: %s", s->profile,
                                            error ? error : strerror(-r));
                session_free(s);
                helper_manager_changed(m);
                return 0;
        }

        Tund__HelperToTunnel out = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StartRequest sreq = TUND__START_REQUEST__INIT;
        sreq.profile = s->profile;
        sreq.ifname = s->ifname;
        sreq.config = req->config;
        sreq.engine_version = req->engine_version;
        out.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST;
        out.start_request = &sreq;
        int64_t k = ipc_conn_call(s->tunnel, &out.base, NULL, 0, m->opt.start_timeout_usec,
                                  on_start_reply, s);
        sc->started = true;
        sc->session = s;
        s->shim = sc;
        s->start_msg_id = id;
        log_session(LOG_INFO, s->profile, s->tunnel_pid, NULL,
                    "Session %s: tunnel %d spawned for interface %s (shim pid %u).", s->profile,
                    (int) s->tunnel_pid, s->ifname, s->shim_pid);
        if (k < 0) {
                helper_session_set_last_error(s, "cannot send StartRequest: %s",
                                              strerror((int) -k));
                helper_session_stop(s, "the start failed");
        }
        helper_watch_session_state(s, "starting");
        helper_manager_changed(m);
        return 0;
}
