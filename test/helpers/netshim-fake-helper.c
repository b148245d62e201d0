/* A stand-in for tund-helperd on the shim channel, for the network shim's tests.
 *   netshim-fake-helper SOCKET [MODE]
 * Listens on SOCKET; on StartSession checks the two fds, asks the shim to apply the profile's
 * own NetworkSettings (MODE "evil": plus a route outside AllowedIPs; "fail": answers the
 * StartSession with an Error), then answers StartSessionReply. SIGUSR1 sends TunnelExited.
 * StopSession is acknowledged. Prints one line per event on stdout. */
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>

#include "ipc.h"
#include "shim.pb-c.h"

static const char *mode = "normal";
static IpcConn *shim;
static int held[2] = { -EBADF, -EBADF };
static uint64_t start_id;

static void say(const char *fmt, ...) _printf_(1, 2);
static void say(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static void reply_start(void) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__StartSessionReply r = TUND__START_SESSION_REPLY__INIT;
        r.tunnel_pid = 4242;
        r.engine_version = "fake";
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY;
        out.start_session_reply = &r;
        ipc_conn_send(shim, &out.base, start_id, NULL, 0);
        say("STARTED");
}

static void on_applied(IpcConn *c, int error, IpcMsg *reply, void *u) {
        const Tund__Error *e = reply ? ipc_msg_error(reply) : NULL;
        if (error < 0 || e) {
                say("APPLY-ERROR code=%d %s", e ? (int) e->code : error,
                    e ? e->message : strerror(-error));
                ipc_conn_reply_error(c, start_id, TUND__ERROR_CODE__ERROR_NETCFG, 0,
                                     "applying failed: %s", e ? e->message : "?");
                return;
        }
        Tund__NetworkSettingsResult *r =
                ipc_msg_payload(reply, TUND__SHIM_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_RESULT);
        say("APPLIED ifname=%s routes=%u dns=%s", r->ifname, r->routes_applied, r->dns_backend);
        reply_start();
}

static int check_fds(IpcMsg *m) {
        struct ifreq ifr = {};
        if (m->n_fds != 2 || ioctl(m->fds[0], TUNGETIFF, &ifr) < 0)
                return -EBADF;
        int acc = 0;
        socklen_t l = sizeof(acc);
        if (getsockopt(m->fds[1], SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 || !acc)
                return -ENOTSOCK;
        say("FDS tun=%s flags=0x%x uapi=listening", ifr.ifr_name, ifr.ifr_flags);
        return 0;
}

static int on_start(IpcConn *c, IpcMsg *m) {
        Tund__StartSession *s = ipc_msg_payload(m, TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION);
        start_id = m->msg_id;
        say("START profile=%s ifname=%s peers=%zu", s->profile, s->ifname,
            s->config ? s->config->n_peers : 0);
        if (check_fds(m) < 0)
                return ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_PROTOCOL, 0,
                                            "bad fds");
        held[0] = TAKE_FD(m->fds[0]); /* as the tunnel would hold them */
        held[1] = TAKE_FD(m->fds[1]);
        if (streq(mode, "fail"))
                return ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_ENGINE, 0,
                                            "wireguard-go exited with status 1");
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__ApplyNetworkSettings a = TUND__APPLY_NETWORK_SETTINGS__INIT;
        Tund__NetworkSettings ns = *s->config->network;
        uint8_t evil_addr[4] = { 203, 0, 113, 0 };
        Tund__IpPrefix evil = TUND__IP_PREFIX__INIT;
        Tund__IpPrefix *routes[64];
        if (streq(mode, "evil") && ns.n_routes < 63) {
                evil.address = (ProtobufCBinaryData){ 4, evil_addr };
                evil.prefix_len = 24;
                memcpy(routes, ns.routes, ns.n_routes * sizeof(*routes));
                routes[ns.n_routes] = &evil;
                ns.routes = routes;
                ns.n_routes++;
        }
        a.settings = &ns;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        out.apply_network_settings = &a;
        return ipc_conn_call(c, &out.base, NULL, 0, 10 * USEC_PER_SEC, on_applied, NULL) < 0 ? -EIO
                                                                                              : 0;
}

static int on_message(IpcConn *c, IpcMsg *m, void *u) {
        switch (m->payload_case) {
        case TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION:
                return on_start(c, m);
        case TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION: {
                say("STOP");
                held[0] = safe_close(held[0]);
                held[1] = safe_close(held[1]);
                Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
                Tund__Ack ack = TUND__ACK__INIT;
                out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_ACK;
                out.ack = &ack;
                return ipc_conn_send(c, &out.base, m->msg_id, NULL, 0);
        }
        case TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS: {
                Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
                Tund__PeerUpdate pu = TUND__PEER_UPDATE__INIT;
                Tund__PeerState ps = TUND__PEER_STATE__INIT;
                Tund__PeerState *pp[] = { &ps };
                ps.endpoint = "203.0.113.1:51820";
                ps.last_handshake_sec = time(NULL) - 2;
                pu.peers = pp;
                pu.n_peers = 1;
                out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_PEERS;
                out.peers = &pu;
                return ipc_conn_send(c, &out.base, m->msg_id, NULL, 0);
        }
        default:
                return ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_UNSUPPORTED, 0,
                                            "fake helper: unsupported");
        }
}

static void on_close(IpcConn *c, int error, const char *reason, void *u) {
        say("SHIM-GONE %s", reason);
        /* The tunnel would stop: the TUN goes with its last fd. */
        held[0] = safe_close(held[0]);
        held[1] = safe_close(held[1]);
        shim = ipc_conn_unref(shim);
}

static int on_accept(IpcServer *s, IpcConn *c, void *u) {
        if (shim)
                return -EBUSY;
        shim = ipc_conn_ref(c);
        IpcHandlers h = { .on_message = on_message, .on_close = on_close };
        ipc_conn_set_handlers(c, &h, NULL);
        say("CONNECTED");
        return 0;
}

static int on_usr1(sd_event_source *s, const struct signalfd_siginfo *si, void *u) {
        if (!shim)
                return 0;
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__TunnelExited te = TUND__TUNNEL_EXITED__INIT;
        te.exit_status = 1;
        te.reason = "wireguard-go exited: test says so";
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_TUNNEL_EXITED;
        out.tunnel_exited = &te;
        ipc_conn_send(shim, &out.base, 0, NULL, 0);
        say("SENT-TUNNEL-EXITED");
        return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *u) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char **argv) {
        if (argc < 2)
                return 2;
        if (argc > 2)
                mode = argv[2];
        sd_event *e = NULL;
        IpcServer *srv = NULL;
        int fd;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGUSR1);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&e) < 0 || ipc_listen_unix(argv[1], 0600, -1, -1, &fd) < 0 ||
            ipc_server_new(&srv, e, fd, &ipc_channel_shim_server, on_accept, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGUSR1, on_usr1, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGTERM, on_term, NULL) < 0) {
                fprintf(stderr, "fake helper: setup failed\n");
                return 1;
        }
        say("LISTENING %s", argv[1]);
        sd_event_loop(e);
        unlink(argv[1]);
        ipc_server_free(srv);
        return 0;
}
