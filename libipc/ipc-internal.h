/* libipc internals: protobuf reflection over the channel messages' common shape
 * (`Rpc rpc = 1`, `oneof payload`, optional `Error error`), the fd closers, and the connection
 * itself, which three files share. */
#pragma once

#include <sys/queue.h>

#include "ipc-frame.h"
#include "ipc.h"

Tund__Rpc **ipc_proto_rpc_slot(const ProtobufCMessage *m);
/* Field number of the oneof member set, 0 if none. */
uint32_t ipc_proto_payload_case(const ProtobufCMessage *m);
/* Pointer to the sub-message pointer of payload member `field`, or NULL if not in the oneof. */
void **ipc_proto_payload_slot(const ProtobufCMessage *m, uint32_t field, uint32_t **ret_case);
/* Field number of the "error" member, 0 if the type has none. */
uint32_t ipc_proto_error_field(const ProtobufCMessageDescriptor *d);
/* Name of payload member `field` ("get_status"), or NULL. */
const char *ipc_proto_field_name(const ProtobufCMessageDescriptor *d, uint32_t field);

/* ipc-fds.c: whether fd may be closed on the spot (see there); what the closers are doing. */
bool ipc_fd_close_is_quick(int fd);
unsigned ipc_closer_threads(void); /* closer threads still running */
unsigned ipc_closer_leaked(void);  /* fds left open because no closer could take them */

/* ---- IpcConn, shared by ipc-conn.c (life, handshake, I/O, closing), ipc-conn-send.c (the
 * write queue, calls) and ipc-conn-recv.c (frames into messages, replies, routes) ---- */

typedef struct IpcCall IpcCall;
struct IpcCall {
        LIST_ENTRY(IpcCall) link;
        IpcConn *conn;
        uint64_t id;
        IpcReplyHandler cb;
        void *userdata;
        sd_event_source *timer;
};

struct IpcConn {
        unsigned n_ref;
        sd_event *event;
        sd_event_source *io, *hs_timer, *defer_close, *frame_timer;
        int fd;
        const IpcChannel *ch;
        IpcHandlers h;
        void *userdata;
        const IpcRoute *routes;
        size_t n_routes;
        const IpcPolicy *const *policies;
        size_t n_policies;

        char line[IPC_HANDSHAKE_LINE_MAX + 1]; /* the peer's, as read so far */
        size_t line_len;
        char hs_out[IPC_HANDSHAKE_LINE_MAX + 1]; /* ours, written before any frame */
        size_t hs_out_len, hs_out_off;
        bool ready, closed;
        IpcVersion version;

        IpcFrameReader reader;
        uint64_t frame_timeout; /* from a frame's first byte to its last; 0 = none */
        IpcOutQueue out;
        uint64_t next_id;
        LIST_HEAD(, IpcCall) calls; /* pending, newest first */
        size_t n_calls;

        IpcPeer peer;
        bool have_peer;
        int pending_close_error;
        char *close_reason;

        /* Set by ipc-server.c: called once when the connection closes. */
        void (*server_hook)(IpcConn *c, void *data);
        void *server_data;
};

/* Takes a pending call off the list and stops its timer; the caller runs its callback. */
void ipc_call_unlink(IpcConn *c, IpcCall *call);
/* Closes with a write error on the next loop iteration (see there). */
void ipc_conn_close_later(IpcConn *c, int error);
/* Writes what may be written now: 0, or -errno. */
int ipc_conn_flush(IpcConn *c);
/* EPOLLIN always, EPOLLOUT only while something waits to be written. */
void ipc_conn_update_events(IpcConn *c);
/* Reads and dispatches up to a fair number of frames; may close c. */
void ipc_conn_read_frames(IpcConn *c);
