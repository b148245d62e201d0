/* A stand-in for tund-tunnel that tund-helperd's integration tests spawn. It speaks the tunnel
 * channel on fd 3 like the real one (StartRequest → NetworkSettingsRequest → StartResponse;
 * GetPeers → a canned PeerUpdate; Rebind → Ack; StopRequest → StopResponse, exit) and misbehaves
 * on request. Environment:
 *   FAKE_TUNNEL_DUMP=DIR     write DIR/<profile-or-pid>.txt: fds, ids, caps, NoNewPrivs, signals
 *   FAKE_TUNNEL_MODE[_<profile>]=
 *       ok (default) | start-error | start-crash | hang | crash | kill9 | exit | nostop |
 *       stubborn (ignores StopRequest and SIGTERM)
 *   FAKE_TUNNEL_DELAY_MS     delay before crash/kill9/exit (default 300)
 *   FAKE_TUNNEL_BURST=N      on Rebind, first emit N Log events of ~400 bytes
 *   FAKE_TUNNEL_REBIND_STAMP=1  on Rebind, first emit a one-way Status whose text is
 *                            "bench-ts=<CLOCK_MONOTONIC ns>", taken just before the frame is
 *                            queued: the watch fan-out benchmark (test/bench/run) subtracts it
 *                            from each subscriber's clock on arrival
 *   FAKE_TUNNEL_TEXT=S       S (any bytes: newlines, escapes) in place of the peer's endpoint,
 *                            the start-error message and the crash/exit log line, and as a
 *                            warning logged once the tunnel is up (robust-injection.sh) */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "ipc.h"
#include "tunnel.pb-c.h"

static sd_event *event;
static IpcConn *conn;
static char profile[64] = "";
static const char *mode = "ok";
static uint64_t start_request_id;
static int exit_code = -1;
static sd_event_source *exit_timer;

/* FAKE_TUNNEL_TEXT, or def. */
static const char *text_or(const char *def) {
        const char *t = getenv("FAKE_TUNNEL_TEXT");
        return t ? t : def;
}

static const char *mode_for(const char *p) {
        char name[128];
        snprintf(name, sizeof(name), "FAKE_TUNNEL_MODE_%s", p);
        const char *m = getenv(name);
        if (!m)
                m = getenv("FAKE_TUNNEL_MODE");
        return m ? m : "ok";
}

static unsigned delay_ms(void) {
        const char *d = getenv("FAKE_TUNNEL_DELAY_MS");
        return d ? (unsigned) atoi(d) : 300;
}

/* What the helper gave us, before we open anything ourselves. */
static void dump_state(const char *dir, const char *tag) {
        char path[512], buf[4096];
        snprintf(path, sizeof(path), "%s/%s.txt", dir, tag);
        FILE *f = fopen(path, "we");
        if (!f)
                return;
        DIR *d = opendir("/proc/self/fd");
        int dfd = d ? dirfd(d) : -1;
        struct dirent *de;
        fprintf(f, "fds=");
        bool first = true;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.' || atoi(de->d_name) == dfd ||
                    atoi(de->d_name) == fileno(f))
                        continue;
                fprintf(f, "%s%s", first ? "" : ",", de->d_name);
                first = false;
        }
        fprintf(f, "\n");
        if (d)
                closedir(d);
        FILE *st = fopen("/proc/self/status", "re");
        while (st && fgets(buf, sizeof(buf), st))
                if (!strncmp(buf, "Uid:", 4) || !strncmp(buf, "Gid:", 4) ||
                    !strncmp(buf, "Groups:", 7) || !strncmp(buf, "NoNewPrivs:", 11) ||
                    !strncmp(buf, "Cap", 3) || !strncmp(buf, "SigBlk:", 7) ||
                    !strncmp(buf, "SigIgn:", 7) || !strncmp(buf, "PPid:", 5))
                        fputs(buf, f);
        if (st)
                fclose(st);
        struct ifreq ifr = {};
        if (ioctl(4, TUNGETIFF, &ifr) == 0)
                fprintf(f, "tun_ifname=%s\n", ifr.ifr_name);
        int v = 0;
        socklen_t len = sizeof(v);
        if (getsockopt(5, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0)
                fprintf(f, "uapi_listening=%d\n", v);
        fprintf(f, "pid=%d\n", (int) getpid());
        fclose(f);
}

static int exit_poll(sd_event_source *s, uint64_t usec, void *u) {
        if (!conn || ipc_conn_is_closed(conn) || ipc_conn_get_queued(conn) == 0)
                _exit(exit_code);
        sd_event_source_set_time_relative(s, 10 * USEC_PER_MSEC);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* Exits once what we sent has left (StopResponse is our last message). */
static void exit_after_flush(int code) {
        exit_code = code;
        if (!exit_timer)
                sd_event_add_time_relative(event, &exit_timer, CLOCK_MONOTONIC, 0, 0, exit_poll,
                                           NULL);
}

static void send_log(Tund__LogLevel level, const char *text, const char *message_id) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Log log = TUND__LOG__INIT;
        log.profile = profile;
        log.level = level;
        log.message = (char *) text;
        log.message_id = (char *) (message_id ? message_id : "");
        log.pid = (uint32_t) getpid();
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG;
        m.log = &log;
        ipc_conn_send(conn, &m.base, 0, NULL, 0);
}

static void fill_peers(Tund__PeerUpdate *pu, Tund__PeerState *ps, Tund__PeerState **v) {
        ps->public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        ps->endpoint = (char *) text_or("192.0.2.1:51820");
        ps->rx_bytes = 1234;
        ps->tx_bytes = 5678;
        ps->last_handshake_sec = 1700000000;
        v[0] = ps;
        pu->profile = profile;
        pu->n_peers = 1;
        pu->peers = v;
}

static void send_peers_event(void) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__PeerUpdate pu = TUND__PEER_UPDATE__INIT;
        Tund__PeerState ps = TUND__PEER_STATE__INIT, *v[1];
        fill_peers(&pu, &ps, v);
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS;
        m.peers = &pu;
        ipc_conn_send(conn, &m.base, 0, NULL, 0);
}

static int misbehave(sd_event_source *s, uint64_t usec, void *u) {
        if (!strcmp(mode, "crash") || !strcmp(mode, "kill9")) {
                send_log(TUND__LOG_LEVEL__LOG_LEVEL_ERROR, text_or("fake: engine crashed"), NULL);
                raise(SIGKILL);
        }
        if (!strcmp(mode, "exit")) {
                send_log(TUND__LOG_LEVEL__LOG_LEVEL_ERROR,
                         text_or("fake: engine exited unexpectedly"), NULL);
                exit_after_flush(2);
        }
        return 0;
}

static void on_settings_reply(IpcConn *c, int error, IpcMsg *reply, void *u) {
        const Tund__Error *err = reply ? ipc_msg_error(reply) : NULL;
        if (error < 0 || err) {
                ipc_conn_reply_error(
                        c, start_request_id, err ? err->code : TUND__ERROR_CODE__ERROR_NETCFG, 0,
                        "fake: network settings failed: %s", err ? err->message : strerror(-error));
                return;
        }
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StartResponse sr = TUND__START_RESPONSE__INIT;
        sr.engine_pid = (uint32_t) getpid();
        sr.engine_version = (char *) "fake-1.0";
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
        m.start_response = &sr;
        ipc_conn_send(c, &m.base, start_request_id, NULL, 0);
        send_log(TUND__LOG_LEVEL__LOG_LEVEL_INFO, "fake: engine up",
                 "0123456789abcdef0123456789abcdef");
        send_peers_event();
        if (getenv("FAKE_TUNNEL_TEXT"))
                send_log(TUND__LOG_LEVEL__LOG_LEVEL_WARNING, text_or(""), NULL);
        if (!strcmp(mode, "crash") || !strcmp(mode, "kill9") || !strcmp(mode, "exit"))
                sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, delay_ms() * USEC_PER_MSEC,
                                           0, misbehave, NULL);
}

static int on_start(IpcConn *c, IpcMsg *msg, void *u) {
        Tund__HelperToTunnel *t = (Tund__HelperToTunnel *) msg->msg;
        snprintf(profile, sizeof(profile), "%s", t->start_request->profile);
        mode = mode_for(profile);
        start_request_id = msg->msg_id;
        const char *dir = getenv("FAKE_TUNNEL_DUMP");
        (void) dir;
        if (!strcmp(mode, "hang"))
                return 0;
        if (!strcmp(mode, "start-error"))
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_ENGINE, 0, "%s",
                                            text_or("fake: engine refused to start"));
        if (!strcmp(mode, "start-crash")) {
                send_log(TUND__LOG_LEVEL__LOG_LEVEL_ERROR, "fake: engine failed to start", NULL);
                exit_after_flush(3);
                return 0;
        }
        if (!strcmp(mode, "stubborn"))
                signal(SIGTERM, SIG_IGN);

        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__NetworkSettingsRequest req = TUND__NETWORK_SETTINGS_REQUEST__INIT;
        Tund__NetworkSettings ns = TUND__NETWORK_SETTINGS__INIT;
        Tund__IpPrefix addr = TUND__IP_PREFIX__INIT, *addrs[1] = { &addr };
        uint8_t a[4] = { 192, 0, 2, 2 };
        addr.address.data = a;
        addr.address.len = 4;
        addr.prefix_len = 32;
        ns.n_addresses = 1;
        ns.addresses = addrs;
        ns.mtu = 1420;
        req.settings = t->start_request->config && t->start_request->config->network
                               ? t->start_request->config->network
                               : &ns;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST;
        m.network_settings_request = &req;
        int64_t r = ipc_conn_call(c, &m.base, NULL, 0, 10 * USEC_PER_SEC, on_settings_reply, NULL);
        return r < 0 ? (int) r : 0;
}

static int on_stop(IpcConn *c, IpcMsg *msg, void *u) {
        if (!strcmp(mode, "nostop") || !strcmp(mode, "stubborn"))
                return 0;
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StopResponse sr = TUND__STOP_RESPONSE__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
        m.stop_response = &sr;
        ipc_conn_send(c, &m.base, msg->msg_id, NULL, 0);
        exit_after_flush(0);
        return 0;
}

static int on_get_peers(IpcConn *c, IpcMsg *msg, void *u) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__PeerUpdate pu = TUND__PEER_UPDATE__INIT;
        Tund__PeerState ps = TUND__PEER_STATE__INIT, *v[1];
        fill_peers(&pu, &ps, v);
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS;
        m.peers = &pu;
        return ipc_conn_send(c, &m.base, msg->msg_id, NULL, 0);
}

static void send_stamp(IpcConn *c) {
        char text[64];
        struct timespec ts;
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Status st = TUND__STATUS__INIT;
        st.profile = profile;
        st.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        st.text = text;
        st.engine_pid = (uint32_t) getpid();
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS;
        m.status = &st;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        snprintf(text, sizeof(text), "bench-ts=%" PRIu64,
                 (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec);
        ipc_conn_send(c, &m.base, 0, NULL, 0);
}

static int on_rebind(IpcConn *c, IpcMsg *msg, void *u) {
        if (getenv("FAKE_TUNNEL_REBIND_STAMP"))
                send_stamp(c);
        const char *b = getenv("FAKE_TUNNEL_BURST");
        int n = b ? atoi(b) : 0;
        char text[400];
        for (int i = 0; i < n; i++) {
                snprintf(text, sizeof(text), "fake: burst line %d %0*d", i, 360, 0);
                send_log(TUND__LOG_LEVEL__LOG_LEVEL_INFO, text, NULL);
        }
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Ack ack = TUND__ACK__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK;
        m.ack = &ack;
        return ipc_conn_send(c, &m.base, msg->msg_id, NULL, 0);
}

static void on_close(IpcConn *c, int error, const char *reason, void *u) {
        _exit(0); /* the helper went away: so do we */
}

static const IpcRoute routes[] = {
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST, "StartRequest", 0, IPC_ANY, on_start },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST, "StopRequest", 0, IPC_ANY, on_stop },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS, "GetPeers", 0, IPC_ANY, on_get_peers },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND, "Rebind", 0, IPC_ANY, on_rebind },
};

int main(int argc, char *argv[]) {
        const char *dir = getenv("FAKE_TUNNEL_DUMP");
        if (dir) {
                char tag[32];
                snprintf(tag, sizeof(tag), "tunnel-%d", (int) getpid());
                dump_state(dir, tag);
        }
        if (sd_event_default(&event) < 0 ||
            ipc_conn_new(&conn, event, 3, &ipc_channel_tunnel_child) < 0)
                return 1;
        static const IpcHandlers h = { .on_close = on_close };
        ipc_conn_set_handlers(conn, &h, NULL);
        ipc_conn_set_routes(conn, routes, sizeof(routes) / sizeof(routes[0]), NULL, 0);
        return sd_event_loop(event) < 0 ? 1 : 0;
}
