/* tund's channels (ARCHITECTURE.md "Sockets"): one table per end. Version 1.0 everywhere. */
#include "control.pb-c.h"
#include "ipc.h"
#include "shim.pb-c.h"
#include "tunnel.pb-c.h"

static const IpcVersion v1[] = { { 1, 0 } };

#define CHANNEL(n, local, peer, recv, send, recv_fds, send_fds)                                    \
        {                                                                                          \
                .name = n, .local_role = local, .peer_role = peer, .versions = v1,                 \
                .n_versions = ELEMENTSOF(v1), .recv_desc = &recv, .send_desc = &send,              \
                .max_frame = IPC_FRAME_MAX_DEFAULT, .recv_carries_fds = recv_fds,                  \
                .send_carries_fds = send_fds,                                                      \
        }

/* Descriptors travel one way only: shim -> helper, StartSession's TUN and UAPI socket
 * (shim.proto). The tunnel inherits its fds from the helper's spawn; nothing else carries any,
 * so every other end refuses them. */
const IpcChannel ipc_channel_ctl_client =
        CHANNEL("control", "ctl", "helper", tund__helper_to_ctl__descriptor,
                tund__ctl_to_helper__descriptor, false, false);
const IpcChannel ipc_channel_ctl_server =
        CHANNEL("control", "helper", "ctl", tund__ctl_to_helper__descriptor,
                tund__helper_to_ctl__descriptor, false, false);
const IpcChannel ipc_channel_shim_client =
        CHANNEL("shim", "shim", "helper", tund__helper_to_shim__descriptor,
                tund__shim_to_helper__descriptor, false, true);
const IpcChannel ipc_channel_shim_server =
        CHANNEL("shim", "helper", "shim", tund__shim_to_helper__descriptor,
                tund__helper_to_shim__descriptor, true, false);
const IpcChannel ipc_channel_tunnel_helper =
        CHANNEL("tunnel", "helper", "tunnel", tund__tunnel_to_helper__descriptor,
                tund__helper_to_tunnel__descriptor, false, false);
const IpcChannel ipc_channel_tunnel_child =
        CHANNEL("tunnel", "tunnel", "helper", tund__helper_to_tunnel__descriptor,
                tund__tunnel_to_helper__descriptor, false, false);
