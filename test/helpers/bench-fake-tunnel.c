/* bench-fake-tunnel: a stand-in for tund-tunnel for the watch fan-out benchmark
 * (test/bench/run). It speaks the tunnel channel on fd 3 like the real one (StartRequest ->
 * NetworkSettingsRequest -> StartResponse; GetPeers -> a canned PeerUpdate; StopRequest ->
 * StopResponse, exit) and answers every Rebind by first emitting a one-way Status event whose
 * text is "bench-ts=<CLOCK_MONOTONIC ns>", taken just before the frame is queued: the moment
 * the event leaves the tunnel. Subscribers subtract it from their own clock on arrival. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "ipc.h"
#include "tunnel.pb-c.h"

static sd_event *event;
static IpcConn *conn;
static char profile[64] = "";
static uint64_t start_request_id;

static uint64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int exit_poll(sd_event_source *s, uint64_t usec, void *u) {
        if (!conn || ipc_conn_is_closed(conn) || ipc_conn_get_queued(conn) == 0)
                _exit(0);
        sd_event_source_set_time_relative(s, 5 * USEC_PER_MSEC);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void fill_peers(Tund__PeerUpdate *pu, Tund__PeerState *ps, Tund__PeerState **v) {
        ps->public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        ps->endpoint = (char *) "192.0.2.1:51820";
        v[0] = ps;
        pu->profile = profile;
        pu->n_peers = 1;
        pu->peers = v;
}

static void on_settings_reply(IpcConn *c, int error, IpcMsg *reply, void *u) {
        if (error < 0 || (reply && ipc_msg_error(reply))) {
                ipc_conn_reply_error(c, start_request_id, TUND__ERROR_CODE__ERROR_NETCFG, 0,
                                     "bench: network settings failed");
                return;
        }
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StartResponse sr = TUND__START_RESPONSE__INIT;
        sr.engine_pid = (uint32_t) getpid();
        sr.engine_version = (char *) "bench-fake";
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
        m.start_response = &sr;
        ipc_conn_send(c, &m.base, start_request_id, NULL, 0);
}

static int on_start(IpcConn *c, IpcMsg *msg, void *u) {
        Tund__HelperToTunnel *t = (Tund__HelperToTunnel *) msg->msg;
        snprintf(profile, sizeof(profile), "%s", t->start_request->profile);
        start_request_id = msg->msg_id;

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
        req.settings = &ns;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST;
        m.network_settings_request = &req;
        int64_t r = ipc_conn_call(c, &m.base, NULL, 0, 10 * USEC_PER_SEC, on_settings_reply,
                                  NULL);
        return r < 0 ? (int) r : 0;
}

static int on_stop(IpcConn *c, IpcMsg *msg, void *u) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StopResponse sr = TUND__STOP_RESPONSE__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
        m.stop_response = &sr;
        ipc_conn_send(c, &m.base, msg->msg_id, NULL, 0);
        sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, 0, 0, exit_poll, NULL);
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

static int on_rebind(IpcConn *c, IpcMsg *msg, void *u) {
        char text[64];
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Status st = TUND__STATUS__INIT;
        st.profile = profile;
        st.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        st.text = text;
        st.engine_pid = (uint32_t) getpid();
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS;
        m.status = &st;
        snprintf(text, sizeof(text), "bench-ts=%" PRIu64, mono_ns());
        ipc_conn_send(c, &m.base, 0, NULL, 0);

        Tund__TunnelToHelper a = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Ack ack = TUND__ACK__INIT;
        a.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK;
        a.ack = &ack;
        return ipc_conn_send(c, &a.base, msg->msg_id, NULL, 0);
}

static void on_close(IpcConn *c, int error, const char *reason, void *u) {
        _exit(0); /* the helper went away: so do we */
}

static const IpcRoute routes[] = {
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST, "StartRequest", NULL, on_start },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST, "StopRequest", NULL, on_stop },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS, "GetPeers", NULL, on_get_peers },
        { TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND, "Rebind", NULL, on_rebind },
};

int main(int argc, char *argv[]) {
        if (sd_event_default(&event) < 0 ||
            ipc_conn_new(&conn, event, 3, &ipc_channel_tunnel_child) < 0)
                return 1;
        static const IpcHandlers h = { .on_close = on_close };
        ipc_conn_set_handlers(conn, &h, NULL);
        ipc_conn_set_routes(conn, routes, sizeof(routes) / sizeof(routes[0]));
        return sd_event_loop(event) < 0 ? 1 : 0;
}
