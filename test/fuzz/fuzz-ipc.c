/* libFuzzer: the handshake line, every channel's message decoder, and the whole receive path
 * of a helper-side control connection (handshake + frames + dispatch through routes). */
#include <sys/socket.h>

#include "control.pb-c.h"
#include "ipc.h"
#include "shim.pb-c.h"
#include "tunnel.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const IpcPolicy root_only = { .description = "root" };

static int handle(IpcConn *c, IpcMsg *m, void *u) {
        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
        Tund__Ack ack = TUND__ACK__INIT;
        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_ACK;
        r.ack = &ack;
        return ipc_conn_send(c, &r.base, m->msg_id, NULL, 0);
}

enum { POLICY_ROOT = 1 };
static const IpcPolicy *const policies[] = { [POLICY_ROOT] = &root_only };
static const IpcRoute routes[] = {
        { TUND__CTL_TO_HELPER__PAYLOAD_PING, "Ping", 0, IPC_ANY, handle },
        { TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION, "StopSession", POLICY_ROOT, IPC_ANY, handle },
};

static void fuzz_decoders(const uint8_t *data, size_t size) {
        static const ProtobufCMessageDescriptor *descs[] = {
                &tund__ctl_to_helper__descriptor,    &tund__helper_to_ctl__descriptor,
                &tund__shim_to_helper__descriptor,   &tund__helper_to_shim__descriptor,
                &tund__helper_to_tunnel__descriptor, &tund__tunnel_to_helper__descriptor,
        };
        for (size_t i = 0; i < ELEMENTSOF(descs); i++) {
                ProtobufCMessage *m = protobuf_c_message_unpack(descs[i], NULL, size, data);
                if (m)
                        protobuf_c_message_free_unpacked(m, NULL);
        }
}

static void fuzz_handshake(const uint8_t *data, size_t size) {
        char line[IPC_HANDSHAKE_LINE_MAX + 1];
        size_t n = MIN(size, sizeof(line) - 1);
        memcpy(line, data, n);
        line[n] = 0;
        static const IpcVersion v[] = { { 1, 0 }, { 2, 5 } };
        char *err = NULL;
        IpcVersion got;
        (void) ipc_handshake_parse(line, "ctl", v, ELEMENTSOF(v), &got, &err);
        free(err);
}

static void fuzz_conn(const uint8_t *data, size_t size) {
        static sd_event *e;
        if (!e && sd_event_new(&e) < 0)
                abort();
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        int big = 1 << 20;
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
        IpcConn *c = NULL;
        if (ipc_conn_new(&c, e, sv[0], &ipc_channel_ctl_server) < 0)
                abort();
        ipc_conn_set_routes(c, routes, ELEMENTSOF(routes), policies, ELEMENTSOF(policies));
        size_t n = MIN(size, (size_t) 65536);
        if (n > 0 && send(sv[1], data, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                n = 0;
        shutdown(sv[1], SHUT_WR);
        /* EOF always arrives, so the connection always closes. */
        for (int i = 0; i < 10000 && !ipc_conn_is_closed(c); i++)
                sd_event_run(e, 100 * 1000);
        if (!ipc_conn_is_closed(c))
                abort();
        ipc_conn_unref(c);
        close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_handshake(data, size);
        fuzz_decoders(data, size);
        fuzz_conn(data, size);
        return 0;
}
