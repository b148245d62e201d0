/* The engine child: spawned from the verified file, its output read into the log, its exit. */
#include "tunnel-internal.h"

/* ---- the engine child ---- */

/* A chatty engine must not fill the helper's queue (which would end our connection): at most
 * TUNNEL_ENGINE_LINES_PER_SEC lines a second are relayed, the rest go to our stderr. */
bool tunnel_engine_line_admit(Tunnel *t) {
        uint64_t now = 0;

        sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        if (now - t->lines_window >= USEC_PER_SEC) {
                unsigned dropped = t->lines_suppressed;
                t->lines_window = now;
                t->lines_in_window = 0;
                t->lines_suppressed = 0;
                if (dropped > 0)
                        log_warning("%u engine lines not forwarded (more than %u/s)", dropped,
                                    TUNNEL_ENGINE_LINES_PER_SEC);
        }
        if (++t->lines_in_window > TUNNEL_ENGINE_LINES_PER_SEC) {
                t->lines_suppressed++;
                return false;
        }
        return true;
}

static void engine_line(const char *line, void *userdata) {
        Tunnel *t = userdata;
        char copy[ENGINE_LINE_MAX];
        const char *text;

        snprintf(copy, sizeof(copy), "%s", line);
        tunnel_redact_line(copy);
        int level = tunnel_engine_line_level(copy, &text);
        if (level <= LOG_ERR)
                snprintf(t->last_engine_error, sizeof(t->last_engine_error), "%s", text);
        log_fields_errno(level, 0,
                         (&(const LogFields){ .child = "engine", .child_pid = t->engine_pid }),
                         "%s", text);
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
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, 0, "engine %s (pid %d) %s%s%s",
                                  t->args.engine_path, (int) pid, how,
                                  t->last_engine_error[0] ? ": " : "", t->last_engine_error);
                return 0;
        case TUNNEL_RUNNING: {
                char text[512];
                snprintf(text, sizeof(text), "engine (pid %d) %s unexpectedly%s%s", (int) pid, how,
                         t->last_engine_error[0] ? "; last error: " : "", t->last_engine_error);
                log_error("%s", text);
                tunnel_send_status(t, TUND__SESSION_STATE__SESSION_STATE_STOPPING, text);
                tunnel_cancel_ops(t);
                tunnel_finish(t, TUNNEL_EXIT_ENGINE_DIED);
                return 0;
        }
        default:
                log_info("engine (pid %d) %s", (int) pid, how);
                tunnel_engine_gone(t, status);
                return 0;
        }
}

/* The engine is gone (or never ran) while stopping or after a failure. */
void tunnel_engine_gone(Tunnel *t, int engine_status) {
        if (t->state == TUNNEL_FAILED) {
                tunnel_finish(t, TUNNEL_EXIT_FAILURE);
                return;
        }
        /* Before StopResponse, which is our last message (its Log would come after it). */
        tunnel_remove_stale_socket(t);
        if (t->stop_reply_pending) {
                Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
                Tund__StopResponse r = TUND__STOP_RESPONSE__INIT;
                r.engine_exit_status = engine_status;
                m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
                m.stop_response = &r;
                (void) tunnel_send_msg(t, &m, t->stop_reply_to);
                t->stop_reply_pending = false;
        }
        tunnel_finish(t, TUNNEL_EXIT_OK);
}

int tunnel_run_engine(Tunnel *t) {
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
        log_info("engine %s %s started (pid %d) on %s", t->args.engine_path, t->engine_info.version,
                 (int) pid, t->tun_name);
        return 0;
}
