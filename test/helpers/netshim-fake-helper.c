/* A stand-in for tund-helperd on the shim channel, for the network shim's tests.
 *   netshim-fake-helper SOCKET [MODE]
 * Listens on SOCKET; on StartSession checks the two fds, asks the shim to apply the profile's
 * own NetworkSettings (MODE "evil": plus a route outside AllowedIPs; "fail": answers the
 * StartSession with an Error), then answers StartSessionReply. SIGUSR1 sends TunnelExited.
 * StopSession is acknowledged. Prints one line per event on stdout.
 * MODE may also be a '+'-separated list of changes to what is asked: "tunnel" (the settings
 * tund-tunnel derives: the profile's plus its numeric endpoints' host exclusions),
 * "exclude=PREFIX", "route=PREFIX", "dns=ADDRESS", "mtu=N". */
#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>

#include "ipc.h"
#include "shim.pb-c.h"
#include "tunnel-settings.h"

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

/* ---- MODE as a list of changes ---- */

#define MAX_EXTRA 16
static Tund__IpPrefix extra_prefix[MAX_EXTRA];
static uint8_t extra_addr[MAX_EXTRA][16];
static size_t n_extra_prefix;
static uint8_t extra_dns_addr[MAX_EXTRA][16];
static size_t n_extra_dns;
static Tund__NetworkSettings *derived;

static Tund__IpPrefix *prefix_parse(const char *s) {
        char a[INET6_ADDRSTRLEN];
        const char *slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= sizeof(a) || n_extra_prefix >= MAX_EXTRA)
                return NULL;
        memcpy(a, s, (size_t) (slash - s));
        a[slash - s] = 0;
        Tund__IpPrefix *p = &extra_prefix[n_extra_prefix];
        uint8_t *d = extra_addr[n_extra_prefix];
        tund__ip_prefix__init(p);
        if (inet_pton(AF_INET, a, d) == 1)
                p->address = (ProtobufCBinaryData){ 4, d };
        else if (inet_pton(AF_INET6, a, d) == 1)
                p->address = (ProtobufCBinaryData){ 16, d };
        else
                return NULL;
        p->prefix_len = (uint32_t) atoi(slash + 1);
        n_extra_prefix++;
        return p;
}

static bool has_prefix(const char *s, const char *p) {
        return strncmp(s, p, strlen(p)) == 0;
}

/* Appends to a copy of the array (leaked: the program is short-lived). */
static void *append(const void *arr, size_t n, size_t size, const void *item) {
        uint8_t *c = malloc((n + 1) * size);
        if (!c)
                abort();
        if (n)
                memcpy(c, arr, n * size);
        memcpy(c + n * size, item, size);
        return c;
}

static int settings_apply_change(Tund__NetworkSettings *ns, const char *op) {
        Tund__IpPrefix *p;
        if (has_prefix(op, "exclude=") && (p = prefix_parse(op + 8))) {
                ns->excluded_routes =
                        append(ns->excluded_routes, ns->n_excluded_routes++, sizeof(p), &p);
        } else if (has_prefix(op, "route=") && (p = prefix_parse(op + 6))) {
                ns->routes = append(ns->routes, ns->n_routes++, sizeof(p), &p);
        } else if (has_prefix(op, "dns=") && n_extra_dns < MAX_EXTRA) {
                uint8_t *d = extra_dns_addr[n_extra_dns++];
                ProtobufCBinaryData b = { 4, d };
                if (inet_pton(AF_INET, op + 4, d) != 1) {
                        if (inet_pton(AF_INET6, op + 4, d) != 1)
                                return -EINVAL;
                        b.len = 16;
                }
                ns->dns_servers = append(ns->dns_servers, ns->n_dns_servers++, sizeof(b), &b);
        } else if (has_prefix(op, "mtu="))
                ns->mtu = (uint32_t) atoi(op + 4);
        else
                return -EINVAL;
        return 0;
}

/* "tunnel" first (as tund-tunnel derives them), then the changes in order. */
static int settings_from_mode(const Tund__WgConfig *cfg, Tund__NetworkSettings *ns) {
        _cleanup_free_ char *copy = strdup(mode);
        if (!copy)
                return -ENOMEM;
        for (char *save = NULL, *op = strtok_r(copy, "+", &save); op;
             op = strtok_r(NULL, "+", &save)) {
                if (streq(op, "tunnel")) {
                        UapiEndpoint ep[64] = {};
                        for (size_t i = 0; i < cfg->n_peers && i < 64; i++)
                                if (uapi_endpoint_parse(cfg->peers[i]->endpoint, &ep[i].addr) < 0)
                                        ep[i].addr.sa.sa_family = AF_UNSPEC;
                        _cleanup_free_ char *err = NULL;
                        if (cfg->n_peers > 64 ||
                            tunnel_settings_derive(cfg, ep, &derived, &err) < 0)
                                return -EINVAL;
                        *ns = *derived;
                } else if (settings_apply_change(ns, op) < 0)
                        return -EINVAL;
        }
        return 0;
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
        } else if (!streq(mode, "normal") && !streq(mode, "evil") &&
                   settings_from_mode(s->config, &ns) < 0)
                return ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                            "fake helper: bad mode %s", mode);
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
