/* A test client for tund-helperd: a control client (ping, status, peers, watch, stop, rebind)
 * or a network shim (StartSession with a real TUN fd and a listening UAPI socket, answering
 * ApplyNetworkSettings). Prints one line per result for the integration scripts to check.
 *   helperd-client ctl SOCK ping | status [PROFILE] | peers [PROFILE] | stop PROFILE |
 *                  rebind [PROFILE] | watch [PROFILE] [--count N] [--stall] [--quiet]
 *   helperd-client shim SOCK --profile P --ifname IF [--stop-after-ms N] [--apply-fail]
 *                  [--exit-after-start] [--get-peers] [--private-key K --peer-key K]
 *                  [--uapi-path PATH [--uapi-owner UID]]
 *   helperd-client shim-hello SOCK
 * Exit status: 0 ok, 2 an Error reply (printed as "error code=N msg=..."), 3 TunnelExited,
 * 1 anything else. */
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control.pb-c.h"
#include "ipc.h"
#include "shim.pb-c.h"

#define CALL_TIMEOUT (60 * USEC_PER_SEC)

static sd_event *event;
static IpcConn *conn;

static _Noreturn void die(const char *what, int r) {
        printf("failed %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static IpcConn *connect_to(const char *path, const IpcChannel *ch) {
        int fd, r;
        if ((r = ipc_connect_unix(path, &fd)) < 0)
                die("connect", r);
        IpcConn *c;
        if ((r = ipc_conn_new(&c, event, fd, ch)) < 0)
                die("ipc_conn_new", r);
        return c;
}

static int print_error(const IpcMsg *reply) {
        const Tund__Error *e = ipc_msg_error(reply);
        printf("error code=%d msg=%s\n", e->code, e->message);
        return 2;
}

/* For a reply we kept (ipc_conn_call_wait): prints its Error, frees it and exits 2. */
static _Noreturn void exit_error_reply(IpcMsg *reply) {
        int status = print_error(reply);
        ipc_msg_free(reply);
        exit(status);
}

static IpcMsg *ctl_call(Tund__CtlToHelper *m) {
        IpcMsg *reply = NULL;
        int r = ipc_conn_call_wait(conn, &m->base, NULL, 0, CALL_TIMEOUT, &reply);
        if (r < 0)
                die("call", r);
        if (ipc_msg_error(reply))
                exit_error_reply(reply);
        return reply;
}

static void print_session(const Tund__SessionInfo *s) {
        printf("session profile=%s ifname=%s state=%d shim_pid=%u tunnel_pid=%u engine_pid=%u "
               "engine_version=%s applied_ifname=%s addresses=%zu peers=%zu last_error=%s\n",
               s->profile, s->ifname, s->state, s->shim_pid, s->tunnel_pid, s->engine_pid,
               s->engine_version, s->applied ? s->applied->ifname : "-",
               s->settings ? s->settings->n_addresses : 0, s->n_peers, s->last_error);
}

static void print_peers(const Tund__PeerUpdate *pu) {
        printf("peers profile=%s count=%zu\n", pu->profile, pu->n_peers);
        for (size_t i = 0; i < pu->n_peers; i++)
                printf("peer profile=%s key=%s endpoint=%s rx=%llu tx=%llu\n", pu->profile,
                       pu->peers[i]->public_key, pu->peers[i]->endpoint,
                       (unsigned long long) pu->peers[i]->rx_bytes,
                       (unsigned long long) pu->peers[i]->tx_bytes);
}

static long watch_left = -1, watch_seen;
static bool watch_quiet;

static int on_watch_event(IpcConn *c, IpcMsg *m, void *u) {
        const Tund__WatchEvent *ev = ipc_msg_payload(m, TUND__HELPER_TO_CTL__PAYLOAD_EVENT);
        if (!ev)
                return 0;
        watch_seen++;
        if (watch_quiet) {
                if (watch_left > 0 && --watch_left == 0) {
                        printf("events=%ld\n", watch_seen);
                        exit(0);
                }
                return 0;
        }
        switch (ev->event_case) {
        case TUND__WATCH_EVENT__EVENT_LOG:
                printf("event profile=%s kind=log level=%d msg=%.60s\n", ev->profile,
                       ev->log->level, ev->log->message);
                break;
        case TUND__WATCH_EVENT__EVENT_STATUS:
                printf("event profile=%s kind=status state=%d text=%s\n", ev->profile,
                       ev->status->state, ev->status->text);
                break;
        case TUND__WATCH_EVENT__EVENT_PEERS:
                printf("event profile=%s kind=peers count=%zu\n", ev->profile, ev->peers->n_peers);
                break;
        default:
                printf("event profile=%s kind=unknown\n", ev->profile);
        }
        if (watch_left > 0 && --watch_left == 0)
                exit(0);
        return 0;
}

static void on_ctl_close(IpcConn *c, int error, const char *reason, void *u) {
        printf("closed: %s (after %ld events)\n", reason, watch_seen);
        exit(watch_left == 0 ? 0 : 1);
}

static int run_ctl(const char *sock, int argc, char **argv) {
        conn = connect_to(sock, &ipc_channel_ctl_client);
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        const char *verb = argc > 0 ? argv[0] : "ping";
        const char *profile = argc > 1 && argv[1][0] != '-' ? argv[1] : "";
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;

        if (!strcmp(verb, "ping")) {
                Tund__Ping p = TUND__PING__INIT;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
                m.ping = &p;
                reply = ctl_call(&m);
                const Tund__Pong *pong = ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_PONG);
                printf("pong version=%s pid=%u uptime_usec=%llu\n", pong->version, pong->pid,
                       (unsigned long long) pong->uptime_usec);
        } else if (!strcmp(verb, "status")) {
                Tund__GetStatus g = TUND__GET_STATUS__INIT;
                g.profile = (char *) profile;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS;
                m.get_status = &g;
                reply = ctl_call(&m);
                const Tund__StatusReply *st =
                        ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_STATUS);
                printf("helper pid=%u sessions=%zu clients=%u watchers=%u\n",
                       st->helper ? st->helper->pid : 0, st->n_sessions, st->clients, st->watchers);
                for (size_t i = 0; i < st->n_sessions; i++)
                        print_session(st->sessions[i]);
        } else if (!strcmp(verb, "peers")) {
                Tund__CtlGetPeers g = TUND__CTL_GET_PEERS__INIT;
                g.profile = (char *) profile;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_PEERS;
                m.get_peers = &g;
                reply = ctl_call(&m);
                const Tund__PeersReply *pr =
                        ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_PEERS);
                printf("profiles=%zu\n", pr->n_profiles);
                for (size_t i = 0; i < pr->n_profiles; i++)
                        print_peers(pr->profiles[i]);
        } else if (!strcmp(verb, "stop") || !strcmp(verb, "rebind")) {
                Tund__CtlStopSession s = TUND__CTL_STOP_SESSION__INIT;
                Tund__CtlRebind rb = TUND__CTL_REBIND__INIT;
                if (!strcmp(verb, "stop")) {
                        s.profile = (char *) profile;
                        s.reason = (char *) "test";
                        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION;
                        m.stop_session = &s;
                } else {
                        rb.profile = (char *) profile;
                        rb.all = !*profile;
                        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_REBIND;
                        m.rebind = &rb;
                }
                reply = ctl_call(&m);
                printf("ack\n");
        } else if (!strcmp(verb, "watch")) {
                bool stall = false;
                for (int i = 1; i < argc; i++) {
                        if (!strcmp(argv[i], "--count") && i + 1 < argc)
                                watch_left = atol(argv[++i]);
                        else if (!strcmp(argv[i], "--stall"))
                                stall = true;
                        else if (!strcmp(argv[i], "--quiet"))
                                watch_quiet = true;
                }
                static const IpcHandlers h = { .on_message = on_watch_event,
                                               .on_close = on_ctl_close };
                ipc_conn_set_handlers(conn, &h, NULL);
                Tund__Watch w = TUND__WATCH__INIT;
                w.profile = (char *) profile;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
                m.watch = &w;
                reply = ctl_call(&m);
                printf("watching\n");
                if (stall) {
                        /* Never read again: the helper must drop us, nobody else may wait. */
                        int small = 4096;
                        (void) setsockopt(3, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
                        for (;;)
                                pause();
                }
                return sd_event_loop(event) < 0 ? 1 : 0;
        } else {
                fprintf(stderr, "unknown verb %s\n", verb);
                return 1;
        }
        return 0;
}

/* ---- the shim role ---- */

static const char *arg_profile = "t1", *arg_ifname = "tundt0";
static bool arg_apply_fail, arg_exit_after_start, arg_get_peers;
static long arg_stop_after_ms = -1;
static const char *arg_private_key, *arg_peer_key, *arg_uapi_path;
static long arg_uapi_owner = -1;

static int open_tun(const char *name) {
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                die("open /dev/net/tun", errno);
        struct ifreq ifr = { .ifr_flags = IFF_TUN };
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                die("TUNSETIFF", errno);
        return fd;
}

static int on_apply(IpcConn *c, IpcMsg *m, void *u) {
        const Tund__ApplyNetworkSettings *a =
                ipc_msg_payload(m, TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS);
        printf("apply addresses=%zu mtu=%u\n", a->settings ? a->settings->n_addresses : 0,
               a->settings ? a->settings->mtu : 0);
        if (arg_apply_fail)
                return ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_NETCFG, 0,
                                            "test: applying refused");
        Tund__ShimToHelper r = TUND__SHIM_TO_HELPER__INIT;
        Tund__NetworkSettingsResult res = TUND__NETWORK_SETTINGS_RESULT__INIT;
        res.ifname = (char *) arg_ifname;
        res.ifindex = if_nametoindex(arg_ifname);
        res.dns_backend = (char *) "none";
        r.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_RESULT;
        r.network_settings_result = &res;
        return ipc_conn_send(c, &r.base, m->msg_id, NULL, 0);
}

static int on_shim_message(IpcConn *c, IpcMsg *m, void *u) {
        const Tund__TunnelExited *te =
                ipc_msg_payload(m, TUND__HELPER_TO_SHIM__PAYLOAD_TUNNEL_EXITED);
        if (te) {
                printf("tunnel-exited status=%d signal=%d reason=%s\n", te->exit_status, te->signal,
                       te->reason);
                exit(3);
        }
        return 0;
}

static void on_shim_close(IpcConn *c, int error, const char *reason, void *u) {
        printf("closed: %s\n", reason);
        exit(1);
}

static void shim_stop(void) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StopSession s = TUND__STOP_SESSION__INIT;
        s.reason = (char *) "test asked";
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &s;
        IpcMsg *reply = NULL;
        int r = ipc_conn_call_wait(conn, &m.base, NULL, 0, CALL_TIMEOUT, &reply);
        if (r < 0)
                die("StopSession", r);
        if (ipc_msg_error(reply))
                exit_error_reply(reply);
        ipc_msg_free(reply);
        printf("stopped\n");
        exit(0);
}

static void on_stop_reply(IpcConn *c, int error, IpcMsg *reply, void *u) {
        if (error < 0)
                die("StopSession", error);
        if (ipc_msg_error(reply))
                exit(print_error(reply));
        printf("stopped\n");
        exit(0);
}

/* From inside the loop: the same as shim_stop(), without running the loop recursively. */
static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *u) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StopSession st = TUND__STOP_SESSION__INIT;
        st.reason = (char *) "test got SIGTERM";
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &st;
        if (ipc_conn_call(conn, &m.base, NULL, 0, CALL_TIMEOUT, on_stop_reply, NULL) < 0)
                die("StopSession", EIO);
        return 0;
}

static void shim_get_peers(void) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__ShimGetPeers g = TUND__SHIM_GET_PEERS__INIT;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS;
        m.get_peers = &g;
        IpcMsg *reply = NULL;
        int r = ipc_conn_call_wait(conn, &m.base, NULL, 0, CALL_TIMEOUT, &reply);
        if (r < 0)
                die("ShimGetPeers", r);
        if (ipc_msg_error(reply))
                exit_error_reply(reply);
        print_peers(ipc_msg_payload(reply, TUND__HELPER_TO_SHIM__PAYLOAD_PEERS));
        ipc_msg_free(reply);
}

static int run_shim(const char *sock, int argc, char **argv) {
        for (int i = 0; i < argc; i++) {
                if (!strcmp(argv[i], "--profile") && i + 1 < argc)
                        arg_profile = argv[++i];
                else if (!strcmp(argv[i], "--ifname") && i + 1 < argc)
                        arg_ifname = argv[++i];
                else if (!strcmp(argv[i], "--stop-after-ms") && i + 1 < argc)
                        arg_stop_after_ms = atol(argv[++i]);
                else if (!strcmp(argv[i], "--apply-fail"))
                        arg_apply_fail = true;
                else if (!strcmp(argv[i], "--exit-after-start"))
                        arg_exit_after_start = true;
                else if (!strcmp(argv[i], "--get-peers"))
                        arg_get_peers = true;
                else if (!strcmp(argv[i], "--private-key") && i + 1 < argc)
                        arg_private_key = argv[++i];
                else if (!strcmp(argv[i], "--peer-key") && i + 1 < argc)
                        arg_peer_key = argv[++i];
                else if (!strcmp(argv[i], "--uapi-path") && i + 1 < argc)
                        arg_uapi_path = argv[++i];
                else if (!strcmp(argv[i], "--uapi-owner") && i + 1 < argc)
                        arg_uapi_owner = atol(argv[++i]);
                else {
                        fprintf(stderr, "unknown option %s\n", argv[i]);
                        return 1;
                }
        }
        int fds[2];
        fds[0] = open_tun(arg_ifname);
        /* An autobound abstract address: a listening socket with no file to clean up. */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen = sizeof(sa_family_t);
        if (arg_uapi_path) { /* the real engine wants /var/run/wireguard/IF.sock */
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", arg_uapi_path);
                salen = sizeof(sa);
                unlink(arg_uapi_path);
        }
        fds[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[1] < 0 || bind(fds[1], (struct sockaddr *) &sa, salen) < 0 || listen(fds[1], 8) < 0)
                die("uapi socket", errno);
        if (arg_uapi_path && arg_uapi_owner >= 0 &&
            chown(arg_uapi_path, (uid_t) arg_uapi_owner, (gid_t) -1) < 0)
                die("chown uapi socket", errno);

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        sd_event_add_signal(event, NULL, SIGTERM, on_sigterm, NULL);

        conn = connect_to(sock, &ipc_channel_shim_client);
        static const IpcHandlers h = { .on_message = on_shim_message, .on_close = on_shim_close };
        static const IpcRoute routes[] = {
                { TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS, "ApplyNetworkSettings", 0,
                  IPC_ANY, on_apply },
        };
        ipc_conn_set_handlers(conn, &h, NULL);
        ipc_conn_set_routes(conn, routes, 1, NULL, 0);

        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StartSession st = TUND__START_SESSION__INIT;
        Tund__WgConfig cfg = TUND__WG_CONFIG__INIT;
        st.profile = (char *) arg_profile;
        st.ifname = (char *) arg_ifname;
        Tund__WgPeer peer = TUND__WG_PEER__INIT, *peers[1] = { &peer };
        Tund__IpPrefix aip = TUND__IP_PREFIX__INIT, *aips[1] = { &aip };
        uint8_t net[4] = { 198, 51, 100, 0 };
        if (arg_private_key)
                cfg.private_key = (char *) arg_private_key;
        if (arg_peer_key) {
                peer.public_key = (char *) arg_peer_key;
                aip.address.data = net;
                aip.address.len = 4;
                aip.prefix_len = 24;
                peer.n_allowed_ips = 1;
                peer.allowed_ips = aips;
                cfg.n_peers = 1;
                cfg.peers = peers;
        }
        st.config = &cfg;
        st.shim_pid = (uint32_t) getpid();
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION;
        m.start_session = &st;
        IpcMsg *reply = NULL;
        int r = ipc_conn_call_wait(conn, &m.base, fds, 2, CALL_TIMEOUT, &reply);
        close(fds[0]);
        close(fds[1]);
        if (r < 0)
                die("StartSession", r);
        if (ipc_msg_error(reply)) {
                const Tund__Error *e = ipc_msg_error(reply);
                printf("start-error code=%d msg=%s\n", e->code, e->message);
                ipc_msg_free(reply);
                return 2;
        }
        const Tund__StartSessionReply *sr =
                ipc_msg_payload(reply, TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY);
        printf("started tunnel_pid=%u engine_pid=%u engine_version=%s\n", sr->tunnel_pid,
               sr->engine_pid, sr->engine_version);
        ipc_msg_free(reply);
        if (arg_exit_after_start)
                return 0;
        if (arg_get_peers)
                shim_get_peers();
        if (arg_stop_after_ms >= 0) {
                usleep((useconds_t) arg_stop_after_ms * 1000);
                shim_stop();
        }
        return sd_event_loop(event) < 0 ? 1 : 0;
}

static int run_shim_hello(const char *sock) {
        conn = connect_to(sock, &ipc_channel_shim_client);
        int r = ipc_conn_wait_ready(conn, 5 * USEC_PER_SEC);
        if (r < 0) {
                printf("refused: %s\n", ipc_conn_get_close_reason(conn)
                                                ? ipc_conn_get_close_reason(conn)
                                                : strerror(-r));
                return 1;
        }
        printf("accepted\n");
        return 0;
}

int main(int argc, char *argv[]) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        if (argc < 3) {
                fprintf(stderr, "usage: %s ctl|shim|shim-hello SOCK ...\n", argv[0]);
                return 1;
        }
        if (sd_event_default(&event) < 0)
                return 1;
        if (!strcmp(argv[1], "ctl"))
                return run_ctl(argv[2], argc - 3, argv + 3);
        if (!strcmp(argv[1], "shim"))
                return run_shim(argv[2], argc - 3, argv + 3);
        if (!strcmp(argv[1], "shim-hello"))
                return run_shim_hello(argv[2]);
        fprintf(stderr, "unknown role %s\n", argv[1]);
        return 1;
}
