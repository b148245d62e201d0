/* bench-ctl-load: the control-API load driver of the benchmarks (test/bench/run). Prints one
 * JSON object on stdout.
 *
 *   bench-ctl-load load SOCK CLIENTS SECONDS [status|ping]
 *       CLIENTS connections, each sending GetStatus (or Ping) in a loop, one outstanding
 *       request per connection, for SECONDS; requests per second and latency percentiles.
 *   bench-ctl-load watch SOCK SUBSCRIBERS ROUNDS [PROCS]
 *       SUBSCRIBERS connections (spread over PROCS processes) send Watch; then ROUNDS times a
 *       CtlRebind (root) makes the fake tunnel (helperd-fake-tunnel with
 *       FAKE_TUNNEL_REBIND_STAMP=1) emit a Status event stamped "bench-ts=<CLOCK_MONOTONIC ns>";
 * the latency of every delivery (arrival - stamp) and of the last subscriber per event. Connections
 * the helper refuses are counted. bench-ctl-load activate SOCK helper|floor connect to a cold
 * socket -> first reply: handshake + Ping -> Pong (helper) or the first line (floor, bench-floor).
 * Microseconds. */
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
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

/* The subscribers are spread over PROCS processes, each with its own event loop: one sd-event
 * loop dispatches one ready connection per iteration, so a single receiver with 1,000 ready
 * sockets would measure itself (quadratically), not the helper. Each subscriber process
 * records (stamp, latency) of every Status event it receives and reports them on a pipe when
 * the parent closes its stop pipe; the parent triggers the events and aggregates. */

typedef struct Delivery {
        uint64_t stamp, latency;
} Delivery;

static Delivery *got;
static size_t n_got, cap_got;
static bool stop_now;

static int on_event(IpcConn *c, IpcMsg *m, void *u) {
        uint64_t now = mono_ns();
        const Tund__WatchEvent *ev = ipc_msg_payload(m, TUND__HELPER_TO_CTL__PAYLOAD_EVENT);
        if (!ev || ev->event_case != TUND__WATCH_EVENT__EVENT_STATUS || !ev->status->text)
                return 0;
        uint64_t ts;
        if (sscanf(ev->status->text, "bench-ts=%" SCNu64, &ts) != 1 || now < ts)
                return 0;
        if (n_got == cap_got) {
                cap_got = cap_got ? cap_got * 2 : 4096;
                got = realloc(got, cap_got * sizeof(*got));
                if (!got)
                        die("realloc", -ENOMEM);
        }
        got[n_got++] = (Delivery){ ts, now - ts };
        return 0;
}

static unsigned n_closed;
static void on_watch_close(IpcConn *c, int error, const char *reason, void *u) {
        n_closed++;
}

static int on_stop(sd_event_source *s, int fd, uint32_t revents, void *u) {
        stop_now = true;
        return 0;
}

/* A subscriber process: n Watch connections; "ok refused\n" on out when subscribed; on EOF of
 * stop, "stamp latency\n" per delivery, then "closed N\n". */
static _Noreturn void watch_child(const char *sock, unsigned n, int out, int stop) {
        IpcConn **subs = calloc(n, sizeof(*subs));
        unsigned ok = 0, refused = 0;
        static const IpcHandlers h = { .on_message = on_event, .on_close = on_watch_close };
        if (sd_event_new(&event) < 0)
                die("sd_event_new", -ENOMEM);
        for (unsigned i = 0; i < n; i++) {
                IpcConn *c = ctl_connect(sock);
                Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
                Tund__Watch w = TUND__WATCH__INIT;
                w.profile = (char *) "";
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
                m.watch = &w;
                IpcMsg *reply = NULL;
                int r = ipc_conn_call_wait(c, &m.base, NULL, 0, 5 * USEC_PER_SEC, &reply);
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
        FILE *f = fdopen(out, "w");
        if (!f)
                die("fdopen", -errno);
        fprintf(f, "%u %u\n", ok, refused);
        fflush(f);
        if (sd_event_add_io(event, NULL, stop, EPOLLIN, on_stop, NULL) < 0)
                die("sd_event_add_io", -EIO);
        while (!stop_now)
                if (sd_event_run(event, UINT64_MAX) < 0)
                        die("sd_event_run", -EIO);
        for (size_t i = 0; i < n_got; i++)
                fprintf(f, "%" PRIu64 " %" PRIu64 "\n", got[i].stamp, got[i].latency);
        fprintf(f, "closed %u\n", n_closed);
        fclose(f);
        _exit(0);
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

static void run_for(uint64_t usec) {
        uint64_t until = mono_ns() + usec * 1000;
        while (mono_ns() < until)
                if (sd_event_run(event, 5 * USEC_PER_MSEC) < 0)
                        die("sd_event_run", -EIO);
}

static int cmp_delivery(const void *a, const void *b) {
        const Delivery *x = a, *y = b;
        return x->stamp < y->stamp ? -1 : x->stamp > y->stamp;
}

static int run_watch(const char *sock, unsigned n, unsigned rounds, unsigned procs) {
        if (procs < 1)
                procs = 1;
        if (procs > n)
                procs = n;
        raise_nofile(n + 64);
        FILE **res = calloc(procs, sizeof(*res));
        int *stops = calloc(procs, sizeof(*stops));
        pid_t *pids = calloc(procs, sizeof(*pids));
        unsigned ok = 0, refused = 0, closed = 0;
        for (unsigned k = 0; k < procs; k++) {
                int o[2], st[2];
                if (pipe2(o, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0)
                        die("pipe2", -errno);
                unsigned share = n / procs + (k < n % procs);
                pids[k] = fork();
                if (pids[k] < 0)
                        die("fork", -errno);
                if (pids[k] == 0) {
                        close(o[0]);
                        close(st[1]);
                        for (unsigned j = 0; j < k; j++)
                                close(stops[j]); /* only the parent may keep them open */
                        watch_child(sock, share, o[1], st[0]);
                }
                close(o[1]);
                close(st[0]);
                stops[k] = st[1];
                res[k] = fdopen(o[0], "r");
                unsigned a, b;
                char line[128];
                if (!res[k] || !fgets(line, sizeof(line), res[k]) ||
                    sscanf(line, "%u %u", &a, &b) != 2)
                        die("subscriber process", -EPIPE);
                ok += a;
                refused += b;
        }
        if (ok == 0)
                die("no subscriber was accepted", -ECONNREFUSED);

        if (sd_event_new(&event) < 0)
                die("sd_event_new", -ENOMEM);
        IpcConn *trigger = ctl_connect(sock);
        int r = ipc_conn_wait_ready(trigger, 10 * USEC_PER_SEC);
        if (r < 0)
                die("handshake", r);
        for (unsigned i = 0; i < rounds; i++) {
                rebind_done = false;
                Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
                Tund__CtlRebind rb = TUND__CTL_REBIND__INIT;
                rb.profile = (char *) "";
                rb.all = true;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_REBIND;
                m.rebind = &rb;
                if (ipc_conn_call(trigger, &m.base, NULL, 0, 10 * USEC_PER_SEC, on_rebind, NULL) <
                    0)
                        die("CtlRebind", -EIO);
                uint64_t give_up = mono_ns() + 10ull * 1000000000u;
                while (!rebind_done && mono_ns() < give_up)
                        if (sd_event_run(event, 100 * USEC_PER_MSEC) < 0)
                                die("sd_event_run", -EIO);
                /* let every subscriber have it before the next event (generous) */
                run_for(ok > 100 ? 250 * USEC_PER_MSEC : 20 * USEC_PER_MSEC);
        }
        for (unsigned k = 0; k < procs; k++)
                close(stops[k]);
        Samples all = {}, last = {};
        size_t nd = 0;
        Delivery *d = NULL;
        for (unsigned k = 0; k < procs; k++) {
                uint64_t a, b;
                unsigned c;
                char line[128];
                for (;;) {
                        if (!fgets(line, sizeof(line), res[k]))
                                die("subscriber results", -EPIPE);
                        if (sscanf(line, "%" SCNu64 " %" SCNu64, &a, &b) == 2) {
                                d = realloc(d, (nd + 1) * sizeof(*d));
                                if (!d)
                                        die("realloc", -ENOMEM);
                                d[nd++] = (Delivery){ a, b };
                                samples_add(&all, b);
                        } else if (sscanf(line, "closed %u", &c) == 1) {
                                closed += c;
                                break;
                        } else
                                die("subscriber results", -EPIPE);
                }
                fclose(res[k]);
                waitpid(pids[k], NULL, 0);
        }
        /* the slowest subscriber of each event */
        if (nd > 0)
                qsort(d, nd, sizeof(*d), cmp_delivery);
        for (size_t i = 0; i < nd;) {
                uint64_t mx = 0;
                size_t j = i;
                for (; j < nd && d[j].stamp == d[i].stamp; j++)
                        if (d[j].latency > mx)
                                mx = d[j].latency;
                samples_add(&last, mx);
                i = j;
        }
        printf("{\"subscribers_wanted\":%u,\"subscribers\":%u,\"refused\":%u,\"dropped\":%u,"
               "\"procs\":%u,\"rounds\":%u,\"events\":%zu,\"deliveries\":%zu,"
               "\"missing\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
               "\"last_p50_us\":%.1f,\"last_max_us\":%.1f}\n",
               n, ok, refused, closed, procs, rounds, last.n, nd,
               (size_t) ok * rounds > nd ? (size_t) ok * rounds - nd : 0, samples_pct_us(&all, 50),
               samples_pct_us(&all, 99), samples_pct_us(&all, 100), samples_pct_us(&last, 50),
               samples_pct_us(&last, 100));
        ipc_conn_close(trigger, 0, "done");
        ipc_conn_unref(trigger);
        free(d);
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
                                "       bench-ctl-load watch SOCK SUBSCRIBERS ROUNDS [PROCS]\n"
                                "       bench-ctl-load activate SOCK helper|floor\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (!strcmp(argv[1], "watch")) /* makes its event loops after forking */
                return run_watch(argv[2], (unsigned) atoi(argv[3]),
                                 argc > 4 ? (unsigned) atoi(argv[4]) : 10,
                                 argc > 5 ? (unsigned) atoi(argv[5]) : 1);
        if (sd_event_default(&event) < 0)
                die("sd_event_default", -ENOMEM);
        if (!strcmp(argv[1], "load"))
                return run_load(argv[2], (unsigned) atoi(argv[3]), argc > 4 ? atof(argv[4]) : 1.0,
                                argc > 5 ? argv[5] : "status");
        if (!strcmp(argv[1], "activate"))
                return run_activate(argv[2], argv[3]);
        fprintf(stderr, "bench-ctl-load: unknown mode %s\n", argv[1]);
        return 2;
}
