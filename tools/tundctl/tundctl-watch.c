/* tundctl watch [PROFILE]: subscribes with Watch and prints one line per WatchEvent (with
 * --json one JSON document per line) until Ctrl-C, --count events, or the helper going away. */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "profile.h"
#include "string-util.h"
#include "tundctl.h"

static int watch_option(int c, const char *value, void *userdata) {
        WatchArgs *a = userdata;
        char *end;

        if (c != 'n')
                return -EINVAL;
        errno = 0;
        a->count = strtol(value, &end, 10);
        if (errno || *end || a->count <= 0 || value[0] == '\0')
                return tundctl_usage_error("watch", "--count: not a positive number: %s", value),
                       -EINVAL;
        return 0;
}

int tundctl_watch_parse(int argc, char *argv[], WatchArgs *a) {
        static const struct option opts[] = {
                { "count", required_argument, NULL, 'n' },
                {},
        };
        int i;

        *a = (WatchArgs){};
        i = tundctl_getopt("watch", argc, argv, "n:", opts, watch_option, a);
        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i > 1)
                return tundctl_usage_error("watch", "too many arguments");
        if (argc - i == 1) {
                if (!profile_name_is_valid(argv[i]))
                        return tundctl_usage_error("watch", "not a valid profile name: %s",
                                                   argv[i]);
                a->profile = argv[i];
        }
        return -1;
}

typedef struct WatchState {
        sd_event *event;
        long left; /* events still to print; <= 0: unlimited */
} WatchState;

static void format_time(char buf[64], uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        char s[48];

        if (usec == 0 || !localtime_r(&t, &tm)) {
                snprintf(buf, 64, "-");
                return;
        }
        strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(buf, 64, "%s.%03u", s, (unsigned) ((usec % USEC_PER_SEC) / USEC_PER_MSEC));
}

static void print_event_json(const Tund__WatchEvent *ev) {
        int64_t now = (int64_t) time(NULL);
        Json j;

        json_init(&j, stdout);
        json_document_begin(&j);
        json_kv_uint(&j, "time_usec", ev->time_usec);
        json_kv_string(&j, "profile", ev->profile);
        switch (ev->event_case) {
        case TUND__WATCH_EVENT__EVENT_LOG:
                json_kv_string(&j, "event", "log");
                json_key(&j, "log");
                json_object_begin(&j);
                json_kv_string(&j, "level", tundctl_log_level_to_string(ev->log->level));
                json_kv_string(&j, "message", ev->log->message);
                json_kv_string(&j, "message_id", ev->log->message_id);
                json_kv_uint(&j, "pid", ev->log->pid);
                json_object_end(&j);
                break;
        case TUND__WATCH_EVENT__EVENT_STATUS:
                json_kv_string(&j, "event", "status");
                json_key(&j, "status");
                json_object_begin(&j);
                json_kv_string(&j, "state", tundctl_session_state_to_string(ev->status->state));
                json_kv_string(&j, "text", ev->status->text);
                json_kv_uint(&j, "engine_pid", ev->status->engine_pid);
                json_object_end(&j);
                break;
        case TUND__WATCH_EVENT__EVENT_PEERS:
                json_kv_string(&j, "event", "peers");
                json_key(&j, "peers");
                json_object_begin(&j);
                json_kv_bool(&j, "delta", ev->peers->delta);
                json_key(&j, "peers");
                json_array_begin(&j);
                for (size_t i = 0; i < ev->peers->n_peers; i++)
                        json_peer_state(&j, ev->peers->peers[i], now);
                json_array_end(&j);
                json_object_end(&j);
                break;
        default:
                json_kv_string(&j, "event", "unknown");
        }
        json_document_end(&j);
        /* Several documents are printed: the error object must not follow them. */
        tundctl_json_done = true;
}

/* One line, whatever the event carries: control characters and invalid UTF-8 from a log
 * become '?' (string-util.h). */
static void print_sanitized(const char *s) {
        _cleanup_free_ char *t = string_sanitize_dup(s);
        fputs(t ? t : "?", stdout);
}

static void print_event_human(const Tund__WatchEvent *ev) {
        int64_t now = (int64_t) time(NULL);
        char when[64], k[TUNDCTL_FMT_MAX], hs[TUNDCTL_FMT_MAX], rx[TUNDCTL_FMT_MAX],
                tx[TUNDCTL_FMT_MAX];

        format_time(when, ev->time_usec);
        printf("%s%s%s ", tundctl_ansi(ANSI_GREY), when, tundctl_ansi(ANSI_RESET));
        print_sanitized(isempty(ev->profile) ? "-" : ev->profile);
        printf(" ");
        switch (ev->event_case) {
        case TUND__WATCH_EVENT__EVENT_LOG: {
                bool bad = ev->log->level >= TUND__LOG_LEVEL__LOG_LEVEL_WARNING;
                printf("%slog %s: ", tundctl_ansi(bad ? ANSI_YELLOW : ""),
                       tundctl_log_level_to_string(ev->log->level));
                print_sanitized(ev->log->message);
                printf("%s", tundctl_ansi(bad ? ANSI_RESET : ""));
                break;
        }
        case TUND__WATCH_EVENT__EVENT_STATUS:
                printf("status %s", tundctl_session_state_to_string(ev->status->state));
                if (!isempty(ev->status->text)) {
                        printf(": ");
                        print_sanitized(ev->status->text);
                }
                break;
        case TUND__WATCH_EVENT__EVENT_PEERS:
                printf("peers %zu%s", ev->peers->n_peers, ev->peers->delta ? " changed" : "");
                for (size_t i = 0; i < ev->peers->n_peers; i++) {
                        const Tund__PeerState *p = ev->peers->peers[i];
                        printf("%s ", i ? ";" : ":");
                        print_sanitized(tundctl_short_key(k, p->public_key));
                        printf(" endpoint ");
                        print_sanitized(isempty(p->endpoint) ? "-" : p->endpoint);
                        printf(" handshake %s rx %s tx %s",
                               tundctl_format_age(hs, now, p->last_handshake_sec),
                               tundctl_format_bytes(rx, p->rx_bytes),
                               tundctl_format_bytes(tx, p->tx_bytes));
                }
                break;
        default:
                printf("unknown event");
        }
        printf("\n");
        fflush(stdout);
}

static int on_message(IpcConn *c, IpcMsg *m, void *userdata) {
        WatchState *w = userdata;
        const Tund__WatchEvent *ev = ipc_msg_payload(m, TUND__HELPER_TO_CTL__PAYLOAD_EVENT);

        if (!ev)
                return 0;
        if (arg_g.json)
                print_event_json(ev);
        else
                print_event_human(ev);
        if (ferror(stdout)) /* the reader went away (tundctl watch | head) */
                return sd_event_exit(w->event, TUNDCTL_EXIT_OK);
        if (w->left > 0 && --w->left == 0)
                return sd_event_exit(w->event, TUNDCTL_EXIT_OK);
        return 0;
}

static void on_close(IpcConn *c, int error, const char *reason, void *userdata) {
        WatchState *w = userdata;

        tundctl_fail(TUNDCTL_EXIT_NOT_RUNNING, "watch: tund-helperd closed the connection%s%s",
                     isempty(reason) ? "" : ": ", isempty(reason) ? "" : reason);
        (void) sd_event_exit(w->event, TUNDCTL_EXIT_NOT_RUNNING);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), TUNDCTL_EXIT_OK);
}

int tundctl_watch(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(ipc_conn_unrefp) IpcConn *c = NULL;
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Watch wr = TUND__WATCH__INIT;
        WatchState w = {};
        WatchArgs a;
        sigset_t ss;
        int r, code = 0;

        r = tundctl_watch_parse(argc, argv, &a);
        if (r >= 0)
                return r;
        if (!arg_g.json)
                tundctl_use_color(STDOUT_FILENO);
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0 || sd_event_new(&e) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL) < 0)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "cannot set up the event loop");
        w.event = e;
        w.left = a.count;

        r = tundctl_connect(e, &c);
        if (r != 0)
                return r;
        /* Events may follow the Ack in the same read: the message handler comes first, the
         * close handler once the subscription stands (a refusal is reported by the call). */
        static const IpcHandlers h_call = { .on_message = on_message };
        static const IpcHandlers h = { .on_message = on_message, .on_close = on_close };
        static const IpcHandlers h_none = {};
        ipc_conn_set_handlers(c, &h_call, &w);
        wr.profile = (char *) (a.profile ? a.profile : "");
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
        m.watch = &wr;
        r = tundctl_call(c, &m, "Watch", &reply);
        if (r != 0) {
                ipc_conn_set_handlers(c, &h_none, NULL);
                return r;
        }
        if (ipc_conn_is_closed(c)) {
                ipc_conn_set_handlers(c, &h_none, NULL);
                return tundctl_fail(TUNDCTL_EXIT_NOT_RUNNING,
                                    "watch: tund-helperd closed the connection");
        }
        ipc_conn_set_handlers(c, &h, &w);
        if (!arg_g.json) {
                fprintf(stderr, "Watching %s%s (Ctrl-C to stop).\n",
                        a.profile ? "profile " : "every session", a.profile ? a.profile : "");
        }
        r = sd_event_loop(e);
        code = r < 0 ? TUNDCTL_EXIT_FAILURE : r;
        /* No close callback after this point: w lives on our stack. */
        ipc_conn_set_handlers(c, &h_none, NULL);
        ipc_conn_close(c, 0, "done");
        return code;
}
