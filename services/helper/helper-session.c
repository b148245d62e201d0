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

#include "log.h"
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

void helper_session_free(Session *s) {
        Manager *m = s->m;
        LIST_REMOVE(s, link);
        m->n_sessions--;
        if (m->n_sessions == 0)
                helper_roam_stop(m); /* nothing to rebind: the watchers go with the last one */
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
        helper_session_free(s);
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

int helper_session_on_child(sd_event_source *es, const siginfo_t *si, void *userdata) {
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
 * reap it here and carry on as helper_session_on_child() would. */
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
                        return helper_session_on_child(NULL, &si, s);
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
        helper_session_free(s);
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
