/* bench-ctl-load: the control-API load driver of the benchmarks (test/bench/run). Prints one
 * JSON object on stdout.
 *
 *   bench-ctl-load load SOCK CLIENTS SECONDS [status|ping]
 *       CLIENTS connections, each sending GetStatus (or Ping) in a loop, one outstanding
 *       request per connection, for SECONDS; requests per second and latency percentiles.
 *   bench-ctl-load watch SOCK SUBSCRIBERS ROUNDS
 *       SUBSCRIBERS connections send Watch; then ROUNDS times a CtlRebind (root) makes
 *       bench-fake-tunnel emit a Status event stamped "bench-ts=<CLOCK_MONOTONIC ns>"; the
 *       latency of every delivery (arrival - stamp) and of the last subscriber per round.
 *       Connections the helper refuses are counted, not fatal.
 *   bench-ctl-load activate SOCK helper|floor
 *       connect to a cold socket -> first reply: handshake + Ping -> Pong (helper) or the
 *       first line (floor, bench-floor). Microseconds. */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "control.pb-c.h"
#include "ipc.h"

static sd_event *event;

static uint64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static _Noreturn void die(const char *what, int r) {
        fprintf(stderr, "bench-ctl-load: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

/* ---- latency samples ---- */

typedef struct Samples {
        uint64_t *v; /* ns */
        size_t n, cap;
} Samples;

static void samples_add(Samples *s, uint64_t ns) {
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                if (!s->v)
                        die("realloc", -ENOMEM);
        }
        s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Percentile p (0..100) in microseconds, nearest rank; sorts s. */
static double samples_pct_us(Samples *s, double p) {
        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
        size_t i = (size_t) (p / 100.0 * (double) s->n);
        if (i >= s->n)
                i = s->n - 1;
        return (double) s->v[i] / 1000.0;
}

static void raise_nofile(unsigned want) {
        struct rlimit rl = { want, want };
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                die("setrlimit(RLIMIT_NOFILE)", -errno);
}

static IpcConn *ctl_connect(const char *path) {
        int fd, r;
        IpcConn *c;
        if ((r = ipc_connect_unix(path, &fd)) < 0)
                die("connect", r);
        if ((r = ipc_conn_new(&c, event, fd, &ipc_channel_ctl_client)) < 0)
                die("ipc_conn_new", r);
        return c;
}

/* ---- load ---- */

typedef struct Client {
        IpcConn *conn;
        uint64_t sent_ns;
        bool done;
} Client;

static Samples lat;
static uint64_t deadline_ns;
static unsigned n_done, n_errors;
static bool use_ping;

static void send_one(Client *cl);

static void on_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Client *cl = userdata;
        uint64_t now = mono_ns();
        if (error < 0 || ipc_msg_error(reply)) {
                n_errors++;
                cl->done = true;
                n_done++;
                return;
        }
        samples_add(&lat, now - cl->sent_ns);
        if (now >= deadline_ns) {
                cl->done = true;
                n_done++;
                return;
        }
        send_one(cl);
}

static void send_one(Client *cl) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__GetStatus g = TUND__GET_STATUS__INIT;
        Tund__Ping p = TUND__PING__INIT;
        if (use_ping) {
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
                m.ping = &p;
        } else {
                g.profile = (char *) "";
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS;
                m.get_status = &g;
        }
        cl->sent_ns = mono_ns();
        if (ipc_conn_call(cl->conn, &m.base, NULL, 0, 10 * USEC_PER_SEC, on_reply, cl) < 0) {
                n_errors++;
                cl->done = true;
                n_done++;
        }
}

static int run_load(const char *sock, unsigned n, double seconds, const char *what) {
        use_ping = what && !strcmp(what, "ping");
        raise_nofile(n + 64);
        Client *cl = calloc(n, sizeof(*cl));
        for (unsigned i = 0; i < n; i++) {
                cl[i].conn = ctl_connect(sock);
                int r = ipc_conn_wait_ready(cl[i].conn, 10 * USEC_PER_SEC);
                if (r < 0)
                        die("handshake", r);
        }
        uint64_t t0 = mono_ns();
        deadline_ns = t0 + (uint64_t) (seconds * 1e9);
        for (unsigned i = 0; i < n; i++)
                send_one(&cl[i]);
        while (n_done < n)
                if (sd_event_run(event, UINT64_MAX) < 0)
                        die("sd_event_run", -EIO);
        double elapsed = (double) (mono_ns() - t0) / 1e9;
        size_t count = lat.n;
        double p50 = samples_pct_us(&lat, 50), p99 = samples_pct_us(&lat, 99);
        printf("{\"request\":\"%s\",\"clients\":%u,\"requests\":%zu,\"errors\":%u,"
               "\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
               use_ping ? "Ping" : "GetStatus", n, count, n_errors, elapsed,
               (double) count / elapsed, p50, p99);
        for (unsigned i = 0; i < n; i++)
                ipc_conn_close(cl[i].conn, 0, "done"), ipc_conn_unref(cl[i].conn);
        free(cl);
        return n_errors ? 1 : 0;
}

/* ---- watch fan-out ---- */

static unsigned round_seen, round_no;
static uint64_t round_last_ns;
static Samples fan_all, fan_last;

static int on_event(IpcConn *c, IpcMsg *m, void *u) {
        uint64_t now = mono_ns();
        const Tund__WatchEvent *ev = ipc_msg_payload(m, TUND__HELPER_TO_CTL__PAYLOAD_EVENT);
        if (!ev || ev->event_case != TUND__WATCH_EVENT__EVENT_STATUS || !ev->status->text)
                return 0;
        uint64_t ts;
        if (sscanf(ev->status->text, "bench-ts=%" SCNu64, &ts) != 1 || now < ts)
                return 0;
        samples_add(&fan_all, now - ts);
        if (now - ts > round_last_ns)
                round_last_ns = now - ts;
        round_seen++;
        return 0;
}

static unsigned n_closed;
static void on_watch_close(IpcConn *c, int error, const char *reason, void *u) {
        n_closed++;
}

static bool rebind_done;
static void on_rebind(IpcConn *c, int error, IpcMsg *reply, void *u) {
        if (error < 0)
                die("CtlRebind", error);
        if (ipc_msg_error(reply)) {
                fprintf(stderr, "bench-ctl-load: CtlRebind: %s\n", ipc_msg_error(reply)->message);
                exit(1);
        }
        rebind_done = true;
}

static int run_watch(const char *sock, unsigned n, unsigned rounds) {
        raise_nofile(n + 64);
        IpcConn *trigger = ctl_connect(sock);
        int r = ipc_conn_wait_ready(trigger, 10 * USEC_PER_SEC);
        if (r < 0)
                die("handshake", r);
        IpcConn **subs = calloc(n, sizeof(*subs));
        unsigned ok = 0, refused = 0;
        static const IpcHandlers h = { .on_message = on_event, .on_close = on_watch_close };
        for (unsigned i = 0; i < n; i++) {
                IpcConn *c = ctl_connect(sock);
                Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
                Tund__Watch w = TUND__WATCH__INIT;
                w.profile = (char *) "";
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
                m.watch = &w;
                IpcMsg *reply = NULL;
                r = ipc_conn_call_wait(c, &m.base, NULL, 0, 5 * USEC_PER_SEC, &reply);
                if (r < 0 || ipc_msg_error(reply)) {
                        refused++;
                        ipc_msg_free(reply);
                        ipc_conn_close(c, 0, "refused");
                        ipc_conn_unref(c);
                        continue;
                }
                ipc_msg_free(reply);
                ipc_conn_set_handlers(c, &h, NULL);
                subs[ok++] = c;
        }
        if (ok == 0)
                die("no subscriber was accepted", -ECONNREFUSED);

        for (round_no = 0; round_no < rounds; round_no++) {
                round_seen = 0;
                round_last_ns = 0;
                rebind_done = false;
                unsigned closed_before = n_closed;
                Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
                Tund__CtlRebind rb = TUND__CTL_REBIND__INIT;
                rb.profile = (char *) "";
                rb.all = true;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_REBIND;
                m.rebind = &rb;
                if (ipc_conn_call(trigger, &m.base, NULL, 0, 10 * USEC_PER_SEC, on_rebind, NULL) < 0)
                        die("CtlRebind", -EIO);
                uint64_t give_up = mono_ns() + 10ull * 1000000000u;
                while ((!rebind_done || round_seen + (n_closed - closed_before) < ok) &&
                       mono_ns() < give_up)
                        if (sd_event_run(event, 100 * USEC_PER_MSEC) < 0)
                                die("sd_event_run", -EIO);
                samples_add(&fan_last, round_last_ns);
                /* let the helper settle between rounds */
                uint64_t pause_until = mono_ns() + 20 * 1000000u;
                while (mono_ns() < pause_until)
                        sd_event_run(event, 5 * USEC_PER_MSEC);
        }
        size_t deliveries = fan_all.n;
        printf("{\"subscribers_wanted\":%u,\"subscribers\":%u,\"refused\":%u,\"dropped\":%u,"
               "\"rounds\":%u,\"deliveries\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
               "\"max_us\":%.1f,\"last_p50_us\":%.1f,\"last_max_us\":%.1f}\n",
               n, ok, refused, n_closed, rounds, deliveries, samples_pct_us(&fan_all, 50),
               samples_pct_us(&fan_all, 99), samples_pct_us(&fan_all, 100),
               samples_pct_us(&fan_last, 50), samples_pct_us(&fan_last, 100));
        for (unsigned i = 0; i < ok; i++)
                ipc_conn_close(subs[i], 0, "done"), ipc_conn_unref(subs[i]);
        ipc_conn_close(trigger, 0, "done");
        ipc_conn_unref(trigger);
        free(subs);
        return 0;
}

/* ---- activation ---- */

static int run_activate(const char *sock, const char *what) {
        uint64_t t0 = mono_ns(), t1;
        if (!strcmp(what, "floor")) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        die("connect", -errno);
                char c;
                ssize_t k;
                while ((k = read(fd, &c, 1)) == 1 && c != '\n')
                        ;
                if (k != 1)
                        die("read", k < 0 ? -errno : -EPIPE);
                t1 = mono_ns();
                close(fd);
        } else {
                IpcConn *c = ctl_connect(sock);
                Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
                Tund__Ping p = TUND__PING__INIT;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
                m.ping = &p;
                IpcMsg *reply = NULL;
                int r = ipc_conn_call_wait(c, &m.base, NULL, 0, 10 * USEC_PER_SEC, &reply);
                if (r < 0)
                        die("Ping", r);
                if (!ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_PONG))
                        die("Ping: no Pong", -EPROTO);
                t1 = mono_ns();
                ipc_msg_free(reply);
                ipc_conn_close(c, 0, "done");
                ipc_conn_unref(c);
        }
        printf("{\"what\":\"%s\",\"us\":%.1f}\n", what, (double) (t1 - t0) / 1000.0);
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc < 4) {
                fprintf(stderr, "usage: bench-ctl-load load SOCK CLIENTS SECONDS [status|ping]\n"
                                "       bench-ctl-load watch SOCK SUBSCRIBERS ROUNDS\n"
                                "       bench-ctl-load activate SOCK helper|floor\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (sd_event_default(&event) < 0)
                die("sd_event_default", -ENOMEM);
        if (!strcmp(argv[1], "load"))
                return run_load(argv[2], (unsigned) atoi(argv[3]), argc > 4 ? atof(argv[4]) : 1.0,
                                argc > 5 ? argv[5] : "status");
        if (!strcmp(argv[1], "watch"))
                return run_watch(argv[2], (unsigned) atoi(argv[3]),
                                 argc > 4 ? (unsigned) atoi(argv[4]) : 10);
        if (!strcmp(argv[1], "activate"))
                return run_activate(argv[2], argv[3]);
        fprintf(stderr, "bench-ctl-load: unknown mode %s\n", argv[1]);
        return 2;
}
