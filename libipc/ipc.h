/* libipc: tund's wire conventions (../ARCHITECTURE.md "Wire conventions").
 *
 *   handshake   each side writes "tund <role> <versions>\n" and reads the peer's line byte by
 *               byte (never over-reading); the highest common major wins, with the lower minor.
 *   frames      32-bit big-endian length + one protobuf message of the channel's type for that
 *               direction; a per-channel maximum; fds as SCM_RIGHTS on a frame's first byte,
 *               counted exactly by Rpc.fd_count, and only on channels that carry them: the
 *               others refuse them in the kernel (SO_PASSRIGHTS) and as a protocol error.
 *   RPC         every channel message has `Rpc rpc = 1` and a `oneof payload`; msg_id counts from
 *               1, 0 is one-way; every call ends in exactly one callback: the reply, -ETIMEDOUT or
 *               -ECONNRESET (peer gone) / the local close error.
 *   policy      a route table maps payload cases to handlers, each with a peer-credential policy
 *               checked per request (SO_PEERCRED uid plus SO_PEERGROUPS).
 *
 * The library never logs: functions return -errno, and a closed connection carries a reason
 * string for the daemon to log. Everything runs on sd-event; the framing layer underneath
 * (ipc-frame.h) is loop-agnostic. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common.pb-c.h"
#include "macro.h"

#define IPC_FRAME_MAX_DEFAULT (1024u * 1024u)
#define IPC_MAX_FDS 4u                             /* per frame; more is a protocol error */
#define IPC_HANDSHAKE_LINE_MAX 256u                /* including the '\n' */
#define IPC_QUEUE_MAX_DEFAULT (4u * 1024u * 1024u) /* bytes queued to one peer */
#define IPC_HANDSHAKE_TIMEOUT_USEC (5 * USEC_PER_SEC)
/* Accepted connections (ipc_server): time from a frame's first byte to its last. */
#define IPC_FRAME_TIMEOUT_SERVER_USEC (10 * USEC_PER_SEC)
#define IPC_SERVER_MAX_CONNECTIONS_DEFAULT 256u
#define IPC_MAX_VERSIONS 8u

typedef struct IpcVersion {
        unsigned major, minor;
} IpcVersion;

/* One channel as seen from one end. Static tables; see ipc-channels.c for tund's. */
typedef struct IpcChannel {
        const char *name;       /* "control", "shim", "tunnel": used in reasons */
        const char *local_role; /* "helper", "ctl", "shim", "tunnel" */
        const char *peer_role;
        const IpcVersion *versions; /* ours, sorted ascending */
        size_t n_versions;
        const ProtobufCMessageDescriptor *recv_desc; /* what the peer sends us */
        const ProtobufCMessageDescriptor *send_desc; /* what we send */
        uint32_t max_frame;                          /* 0 = IPC_FRAME_MAX_DEFAULT */
        /* Whether descriptors travel with recv_desc's / send_desc's messages. A connection
         * that receives none refuses them: SO_PASSRIGHTS=0 on its socket (and on the listening
         * socket of a server) makes a peer's sendmsg() with SCM_RIGHTS fail with EPERM (Linux
         * 6.16+), and any that arrive anyway are a protocol error. Sending fds on a channel
         * that carries none fails with -EPERM. */
        bool recv_carries_fds;
        bool send_carries_fds;
} IpcChannel;

/* tund's six channel ends (ipc-channels.c). */
extern const IpcChannel ipc_channel_ctl_client;    /* tundctl -> helper */
extern const IpcChannel ipc_channel_ctl_server;    /* helper <- tundctl */
extern const IpcChannel ipc_channel_shim_client;   /* netshim -> helper */
extern const IpcChannel ipc_channel_shim_server;   /* helper <- netshim */
extern const IpcChannel ipc_channel_tunnel_helper; /* helper's end of a tunnel socketpair */
extern const IpcChannel ipc_channel_tunnel_child;  /* tund-tunnel's end */

/* ---- handshake (ipc-handshake.c) ---- */

/* Writes "tund ROLE V1,V2\n" into buf; returns its length or -ENOBUFS/-EINVAL. */
int ipc_handshake_format(char *buf, size_t size, const char *role, const IpcVersion *v, size_t n);
/* Parses a peer's line (without '\n'), checks the role and negotiates. Returns 0 and the
 * agreed version, or -EPROTO (not a tund preamble / malformed), -EPERM (wrong role),
 * -EPROTONOSUPPORT (no common major). *ret_error (optional) gets a malloc'd sentence. */
int ipc_handshake_parse(const char *line, const char *expect_role, const IpcVersion *ours,
                        size_t n_ours, IpcVersion *ret, char **ret_error);

/* ---- peers and policy ---- */

typedef struct IpcPeer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary groups (SO_PEERGROUPS) */
        size_t n_groups;
} IpcPeer;

/* Reads SO_PEERCRED and SO_PEERGROUPS of a connected unix socket. */
int ipc_peer_from_fd(int fd, IpcPeer *ret);
void ipc_peer_done(IpcPeer *p);
bool ipc_peer_in_group(const IpcPeer *p, gid_t gid);

/* Who may send a request. Root (uid 0) is always allowed. */
typedef struct IpcPolicy {
        const char *description; /* e.g. "root or group tund": named in refusals */
        bool any;                /* everybody who could connect */
        bool allow_uid;          /* also this uid */
        uid_t uid;
        bool allow_gid; /* also members of this group (primary or supplementary) */
        gid_t gid;
} IpcPolicy;

bool ipc_policy_allows(const IpcPolicy *pol, const IpcPeer *peer);

/* ---- connections (ipc-conn.c, ipc-conn-send.c, ipc-conn-recv.c) ---- */

typedef struct IpcConn IpcConn;

/* An incoming message. Owned by libipc and freed after the callback returns, unless the
 * callback calls ipc_msg_keep(); fds[] are owned too: TAKE_FD() the ones you keep (the others
 * are closed with ipc_close_received_fds()). */
typedef struct IpcMsg {
        ProtobufCMessage *msg; /* of type channel->recv_desc */
        uint64_t msg_id;
        uint64_t response_to;
        uint32_t payload_case; /* field number of the oneof member set, 0 if none */
        int fds[IPC_MAX_FDS];
        size_t n_fds;
        bool kept;
} IpcMsg;

/* Keep m beyond the callback; free with ipc_msg_free(). */
IpcMsg *ipc_msg_keep(IpcMsg *m);
IpcMsg *ipc_msg_free(IpcMsg *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(IpcMsg *, ipc_msg_free);
/* The payload member (a sub-message pointer) of m, or NULL if another case is set. */
void *ipc_msg_payload(const IpcMsg *m, uint32_t payload_case);
/* If m carries the channel's Error payload, returns it, else NULL. */
const Tund__Error *ipc_msg_error(const IpcMsg *m);

/* Called for every request or one-way message that no route handled (msg_id may be 0). */
typedef int (*IpcMessageHandler)(IpcConn *c, IpcMsg *m, void *userdata);
/* Exactly once per successful ipc_conn_call(): error == 0 and the reply (which may carry an
 * Error payload: see ipc_msg_error()), or -ETIMEDOUT, or -ECONNRESET when the peer went away,
 * or another -errno when the connection was closed locally. reply is NULL when error < 0. */
typedef void (*IpcReplyHandler)(IpcConn *c, int error, IpcMsg *reply, void *userdata);
/* Once per connection, when it closes for any reason. error is 0 for an orderly EOF. */
typedef void (*IpcCloseHandler)(IpcConn *c, int error, const char *reason, void *userdata);
/* Once, when the handshake has completed. */
typedef void (*IpcReadyHandler)(IpcConn *c, void *userdata);

typedef struct IpcRoute IpcRoute;
/* Before a routed message reaches its handler: 0 lets it through; > 0 means it was dealt with
 * here (refused with a reply, or ignored); < 0 fails it (Error{ERROR_INTERNAL}). Where the
 * owner checks route->states against its own state (tund-tunnel does). */
typedef int (*IpcPermitHandler)(IpcConn *c, const IpcRoute *route, IpcMsg *m, void *userdata);

typedef struct IpcHandlers {
        IpcReadyHandler on_ready;
        IpcMessageHandler on_message;
        IpcCloseHandler on_close;
        IpcPermitHandler on_permit;
} IpcHandlers;

/* One request a channel serves. Every channel has one `static const` table of these, its
 * handlers named <peer>_dispatch_<request> (ctl_dispatch_ping, shim_dispatch_start,
 * helper_dispatch_start in tund-tunnel). A request whose payload case matches is checked
 * against its policy and, through on_permit, its states, then handed to its handler. Unknown
 * requests get Error{ERROR_UNSUPPORTED}; refusals Error{ERROR_PERMISSION} naming the route and
 * the policy's description. One-way messages go to on_message. */
typedef int (*IpcRouteHandler)(IpcConn *c, IpcMsg *m, void *userdata);
struct IpcRoute {
        uint32_t payload_case;
        const char *name; /* "GetStatus" */
        unsigned policy;  /* index into the policies given with the table; 0: none */
        uint32_t states;  /* the owner's states it is permitted in, IPC_STATE() each; IPC_ANY */
        IpcRouteHandler handler;
};
#define IPC_STATE(s) (UINT32_C(1) << (s))
#define IPC_ANY UINT32_C(0)

/* Wraps a connected stream socket (takes ownership of fd, makes it non-blocking) and starts
 * the handshake. Messages may be sent at once; they go out after our handshake line. */
int ipc_conn_new(IpcConn **ret, sd_event *e, int fd, const IpcChannel *ch);
IpcConn *ipc_conn_ref(IpcConn *c);
IpcConn *ipc_conn_unref(IpcConn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(IpcConn *, ipc_conn_unref);

void ipc_conn_set_handlers(IpcConn *c, const IpcHandlers *h, void *userdata);
/* The channel's table, and the policies its routes name by index (policies[0] is unused; the
 * array must outlive the connection; NULL when no route has one). */
void ipc_conn_set_routes(IpcConn *c, const IpcRoute *routes, size_t n_routes,
                         const IpcPolicy *const *policies, size_t n_policies);
void *ipc_conn_get_userdata(IpcConn *c);
void ipc_conn_set_userdata(IpcConn *c, void *userdata);
/* Bound on bytes queued for sending; exceeding it closes the connection with -ENOBUFS. */
void ipc_conn_set_queue_max(IpcConn *c, size_t bytes);
/* Time allowed for the peer's handshake line (default IPC_HANDSHAKE_TIMEOUT_USEC; 0 = none). */
int ipc_conn_set_handshake_timeout(IpcConn *c, uint64_t usec);
/* Time allowed from a frame's first byte to its last (0 = none, the default; connections
 * accepted by an IpcServer get IPC_FRAME_TIMEOUT_SERVER_USEC). A peer that starts a frame and
 * stalls is closed with -ETIMEDOUT instead of pinning up to max_frame bytes forever; an idle
 * peer between frames is not affected. */
int ipc_conn_set_frame_timeout(IpcConn *c, uint64_t usec);
uint64_t ipc_conn_get_frame_timeout(IpcConn *c);

bool ipc_conn_is_ready(IpcConn *c);
bool ipc_conn_is_closed(IpcConn *c);
const IpcVersion *ipc_conn_get_version(IpcConn *c); /* NULL before the handshake */
/* The peer's credentials, read when the connection was created (stream sockets only). */
const IpcPeer *ipc_conn_get_peer(IpcConn *c);
const IpcChannel *ipc_conn_get_channel(IpcConn *c);
size_t ipc_conn_get_queued(IpcConn *c);  /* bytes waiting to be written */
size_t ipc_conn_get_pending(IpcConn *c); /* calls waiting for a reply */
const char *ipc_conn_get_close_reason(IpcConn *c);

/* Sends msg (its Rpc header is filled in by libipc: callers leave msg->rpc NULL). fds are
 * duplicated (CLOEXEC), the caller keeps its own. response_to = 0 sends a one-way message.
 * Returns 0 or -errno (-ENOBUFS: queue bound hit, the connection is being closed; -EPERM: fds
 * on a channel that carries none, nothing sent). */
int ipc_conn_send(IpcConn *c, ProtobufCMessage *msg, uint64_t response_to, const int *fds,
                  size_t n_fds);
/* Sends a request and arranges for cb to be called exactly once. timeout_usec 0 = none.
 * Returns the msg_id (> 0) or -errno, in which case cb will not be called. */
int64_t ipc_conn_call(IpcConn *c, ProtobufCMessage *msg, const int *fds, size_t n_fds,
                      uint64_t timeout_usec, IpcReplyHandler cb, void *userdata);
/* The error code that reports a failed call: TIMEOUT when it timed out (its callback's
 * error -ETIMEDOUT), otherwise what the caller says the failure means. */
static inline Tund__ErrorCode ipc_error_code(int error, Tund__ErrorCode otherwise) {
        return error == -ETIMEDOUT ? TUND__ERROR_CODE__ERROR_TIMEOUT : otherwise;
}

/* Replies Error{code, message, errnum} to request response_to (nothing if 0). */
int ipc_conn_reply_error(IpcConn *c, uint64_t response_to, Tund__ErrorCode code, int errnum,
                         const char *fmt, ...) _printf_(5, 6);
/* Closes now: pending calls fail with error (or -ECONNRESET if 0), on_close runs once. Safe
 * to call from any callback and more than once. */
void ipc_conn_close(IpcConn *c, int error, const char *fmt, ...) _printf_(3, 4);

/* Blocking convenience for CLIs and tests: runs c's event loop until the reply to msg arrives
 * or fails. On success returns 0 with *ret_reply (free with ipc_msg_free). */
int ipc_conn_call_wait(IpcConn *c, ProtobufCMessage *msg, const int *fds, size_t n_fds,
                       uint64_t timeout_usec, IpcMsg **ret_reply);
/* Runs c's event loop until the handshake completes or fails (timeout_usec 0 = none). */
int ipc_conn_wait_ready(IpcConn *c, uint64_t timeout_usec);

/* ---- sockets and servers (ipc-server.c) ---- */

/* A CLOEXEC|NONBLOCK stream socket connected to path: -ENOENT when the file is missing,
 * -ECONNREFUSED when nobody listens, -EAGAIN when the backlog is full. */
int ipc_connect_unix(const char *path, int *ret_fd);
/* Creates a listening socket at path (replacing a stale one) with exactly this mode and owner
 * (uid/gid (uid_t)-1 = unchanged), CLOEXEC|NONBLOCK. */
int ipc_listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid, int *ret_fd);

typedef struct IpcServer IpcServer;
/* Called for each accepted connection after its credentials were read; the handler sets the
 * connection's handlers/routes and keeps a reference if it wants one (the server keeps none).
 * Return < 0 to refuse (the connection is closed). */
typedef int (*IpcAcceptHandler)(IpcServer *s, IpcConn *c, void *userdata);

/* Accepts on listen_fd (takes ownership) for channel ch. */
int ipc_server_new(IpcServer **ret, sd_event *e, int listen_fd, const IpcChannel *ch,
                   IpcAcceptHandler on_accept, void *userdata);
IpcServer *ipc_server_free(IpcServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(IpcServer *, ipc_server_free);
/* Connections open at once beyond this are accepted and closed at once (default 256). */
void ipc_server_set_max_connections(IpcServer *s, unsigned n);
/* The frame timeout of connections accepted from now on (default IPC_FRAME_TIMEOUT_SERVER_USEC,
 * 0 = none); see ipc_conn_set_frame_timeout(). */
void ipc_server_set_frame_timeout(IpcServer *s, uint64_t usec);
/* Number of currently open connections accepted by this server. */
unsigned ipc_server_get_connections(IpcServer *s);

/* ---- descriptors from peers (ipc-fds.c) ---- */

/* Sets SO_PASSRIGHTS=0: a peer's sendmsg() with SCM_RIGHTS to this socket then fails with
 * EPERM (a listening socket passes it on to the connections it accepts). Returns 1, or 0 when
 * the kernel is older than 6.16 or fd is no unix socket, or -errno. */
int ipc_socket_refuse_fds(int fd);
/* Closes descriptors a peer sent that nobody wants, never blocking the caller: what might
 * block in close() is closed by a detached thread (see ipc-fds.c). Sets each to -EBADF. */
void ipc_close_received_fds(int *fds, size_t n);
int ipc_close_received_fd(int fd); /* returns -EBADF */

/* Frees a message built with the generated *__init functions whose submessages live on the
 * heap (protobuf_c_message_free_unpacked, NULL-safe). */
void ipc_message_freep(ProtobufCMessage **m);
/* Appends a new IpPrefix (len address bytes, plen bits) to a message's repeated field unless an
 * equal one is there already; on the heap as ipc_message_freep() expects. 0, or -ENOMEM with
 * the field as it was. */
int ipc_proto_prefix_append(Tund__IpPrefix ***v, size_t *n, const void *addr, size_t len,
                            unsigned plen);
/* The same for an Endpoint (len 4 or 16 address bytes, a port): appended unless an equal one is
 * there already. */
int ipc_proto_endpoint_append(Tund__Endpoint ***v, size_t *n, const void *addr, size_t len,
                              uint16_t port);
