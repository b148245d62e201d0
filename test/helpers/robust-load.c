/* Load on tund-helperd's control socket, for test/integration/robust-load.sh:
 *   robust-load SOCK --clients N --watchers W --stalled S --seconds T
 * N clients keep one request in flight each (Ping, GetStatus), back to back, for T seconds;
 * W - S watchers subscribe to every session and read everything; S "stalled" watchers
 * subscribe and never read again (raw sockets with a small receive buffer). Prints one summary
 * line; exits 0 when the run itself worked (the script judges the numbers). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "control.pb-c.h"
#include "ipc.h"

typedef struct Client {
        IpcConn *conn;
        bool watcher;
        bool ready;
        uint64_t n;
} Client;

static sd_event *event;
static uint64_t deadline;
static unsigned long calls, failed, lost, events;
static bool ending;

static void next_call(Client *cl);

static void on_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Client *cl = userdata;
        if (error < 0 || ipc_msg_error(reply)) {
                failed++;
                if (failed <= 5)
                        fprintf(stderr, "call failed: %s\n",
                                error < 0 ? strerror(-error) : ipc_msg_error(reply)->message);
        } else
                calls++;
        if (!cl->watcher)
                next_call(cl);
}

static void next_call(Client *cl) {
        uint64_t now;
        (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (now >= deadline || ipc_conn_is_closed(cl->conn))
                return;
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        Tund__GetStatus gs = TUND__GET_STATUS__INIT;
        if (cl->n++ % 2) {
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS;
                m.get_status = &gs;
        } else {
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
                m.ping = &ping;
        }
        if (ipc_conn_call(cl->conn, &m.base, NULL, 0, 30 * USEC_PER_SEC, on_reply, cl) < 0)
                failed++;
}

static void watch(Client *cl) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Watch w = TUND__WATCH__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
        m.watch = &w;
        if (ipc_conn_call(cl->conn, &m.base, NULL, 0, 30 * USEC_PER_SEC, on_reply, cl) < 0)
                failed++;
}

static void on_ready(IpcConn *c, void *userdata) {
        Client *cl = userdata;
        cl->ready = true;
        if (cl->watcher)
                watch(cl);
        else
                next_call(cl);
}

static int on_message(IpcConn *c, IpcMsg *m, void *userdata) {
        if (ipc_msg_payload(m, TUND__HELPER_TO_CTL__PAYLOAD_EVENT))
                events++;
        return 0;
}

static void on_close(IpcConn *c, int error, const char *reason, void *userdata) {
        if (!ending) {
                lost++;
                if (lost <= 5)
                        fprintf(stderr, "connection lost: %s\n", reason);
        }
}

/* Handshake and a Watch request, then nothing: never reads again. */
static int stalled_watcher(const char *path) {
        int cfd, small = 4096;
        int r = ipc_connect_unix(path, &cfd);
        if (r < 0)
                return r;
        (void) setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        int fl = fcntl(cfd, F_GETFL);
        (void) fcntl(cfd, F_SETFL, fl & ~O_NONBLOCK);
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Rpc rpc = TUND__RPC__INIT;
        Tund__Watch w = TUND__WATCH__INIT;
        rpc.msg_id = 1;
        m.rpc = &rpc;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
        m.watch = &w;
        uint8_t buf[256];
        size_t n = protobuf_c_message_pack(&m.base, buf + 4);
        uint32_t be = htonl((uint32_t) n);
        memcpy(buf, &be, 4);
        if (write(cfd, "tund ctl 1.0\n", 13) != 13 || write(cfd, buf, n + 4) != (ssize_t) (n + 4)) {
                close(cfd);
                return -EIO;
        }
        return cfd;
}

/* Was it dropped? Drains what the helper sent before giving up on it, expecting EOF. */
static bool stalled_dropped(int fd) {
        char b[65536];
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        for (;;) {
                ssize_t n = recv(fd, b, sizeof(b), 0);
                if (n == 0)
                        return true;
                if (n < 0)
                        return errno == ECONNRESET;
        }
}

int main(int argc, char **argv) {
        unsigned n_clients = 100, n_watchers = 10, n_stalled = 1, seconds = 10;
        if (argc < 2) {
                fprintf(stderr,
                        "usage: %s SOCK [--clients N] [--watchers W] [--stalled S] "
                        "[--seconds T]\n",
                        argv[0]);
                return 2;
        }
        const char *path = argv[1];
        for (int i = 2; i + 1 < argc; i += 2) {
                unsigned v = (unsigned) atoi(argv[i + 1]);
                if (!strcmp(argv[i], "--clients"))
                        n_clients = v;
                else if (!strcmp(argv[i], "--watchers"))
                        n_watchers = v;
                else if (!strcmp(argv[i], "--stalled"))
                        n_stalled = v;
                else if (!strcmp(argv[i], "--seconds"))
                        seconds = v;
        }
        if (n_stalled > n_watchers)
                n_stalled = n_watchers;
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n_clients + n_watchers + 64) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t) n_clients + n_watchers + 64);
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (sd_event_new(&event) < 0)
                return 1;

        unsigned n_conns = n_clients + n_watchers - n_stalled;
        Client *cl = calloc(n_conns, sizeof(Client));
        int *stalled = calloc(n_stalled + 1, sizeof(int));
        if (!cl || !stalled)
                return 1;
        uint64_t now;
        (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
        deadline = now + seconds * USEC_PER_SEC;
        for (unsigned i = 0; i < n_conns; i++) {
                int fd, r = ipc_connect_unix(path, &fd);
                if (r >= 0)
                        r = ipc_conn_new(&cl[i].conn, event, fd, &ipc_channel_ctl_client);
                if (r < 0) {
                        fprintf(stderr, "connection %u: %s\n", i, strerror(-r));
                        return 1;
                }
                cl[i].watcher = i >= n_clients;
                IpcHandlers h = { .on_ready = on_ready,
                                  .on_message = on_message,
                                  .on_close = on_close };
                ipc_conn_set_handlers(cl[i].conn, &h, &cl[i]);
        }
        for (unsigned i = 0; i < n_stalled; i++) {
                stalled[i] = stalled_watcher(path);
                if (stalled[i] < 0) {
                        fprintf(stderr, "stalled watcher %u: %s\n", i, strerror(-stalled[i]));
                        return 1;
                }
        }
        printf("running clients=%u watchers=%u stalled=%u\n", n_clients, n_watchers, n_stalled);
        fflush(stdout);

        /* Until the deadline, then until the last calls are answered. */
        for (;;) {
                (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
                size_t pending = 0;
                if (now >= deadline)
                        for (unsigned i = 0; i < n_conns; i++)
                                pending += ipc_conn_is_closed(cl[i].conn)
                                                   ? 0
                                                   : ipc_conn_get_pending(cl[i].conn);
                if (now >= deadline && pending == 0)
                        break;
                if (now >= deadline + 30 * USEC_PER_SEC) {
                        fprintf(stderr, "calls still pending 30 s after the end\n");
                        failed += pending;
                        break;
                }
                if (sd_event_run(event, 100 * USEC_PER_MSEC) < 0)
                        return 1;
        }
        unsigned not_ready = 0, dropped = 0;
        for (unsigned i = 0; i < n_conns; i++)
                not_ready += !cl[i].ready;
        for (unsigned i = 0; i < n_stalled; i++)
                dropped += stalled_dropped(stalled[i]);
        ending = true;
        printf("calls=%lu failed=%lu lost=%lu not_ready=%u events=%lu stalled_dropped=%u\n", calls,
               failed, lost, not_ready, events, dropped);
        for (unsigned i = 0; i < n_conns; i++) {
                ipc_conn_close(cl[i].conn, 0, NULL);
                ipc_conn_unref(cl[i].conn);
        }
        for (unsigned i = 0; i < n_stalled; i++)
                close(stalled[i]);
        free(cl);
        free(stalled);
        sd_event_unref(event);
        return 0;
}
