/* The loop-agnostic framing layer: a frame reader that never reads past the current frame and
 * collects SCM_RIGHTS fds, and a bounded queue of outgoing frames. Callers read when readable
 * and flush when writable; nothing here knows about sd-event. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

/* Room for every fd one recvmsg() can bring (SCM_MAX_FD in the kernel): those that do not
 * fit are closed by the kernel inside recvmsg(), in this thread, where a close that blocks
 * would block the loop. With room for all, we close them ourselves, without blocking. */
#define IPC_RECV_FDS_ROOM 253

typedef struct IpcFrameReader {
        uint32_t max; /* largest body accepted */
        uint8_t hdr[4];
        size_t hdr_got;
        uint8_t *body;
        uint32_t body_len;
        size_t body_got;
        int fds[IPC_MAX_FDS];
        size_t n_fds;
        bool refuse_fds; /* the channel carries none: any that arrive are an error */
} IpcFrameReader;

void ipc_frame_reader_init(IpcFrameReader *r, uint32_t max);
/* Frees the body and closes the fds still held (ipc_close_received_fds()); ready for the
 * next frame. */
void ipc_frame_reader_reset(IpcFrameReader *r);
/* Reads from fd until a whole frame is held. Returns 1 when r->body/r->body_len/r->fds are
 * complete, 0 when the socket has no more data for now, -ESHUTDOWN on EOF at a frame boundary,
 * -ECONNRESET on EOF inside a frame, -EMSGSIZE for a length over the maximum, -EBADMSG for a
 * zero length, -ETOOMANYREFS for more than IPC_MAX_FDS fds, -EPERM for any fd when refuse_fds
 * is set (all closed, with ipc_close_received_fds()), or another -errno. */
int ipc_frame_read(IpcFrameReader *r, int fd);

typedef struct IpcOutItem IpcOutItem;
typedef struct IpcOutQueue {
        IpcOutItem *head, *tail;
        size_t bytes, max;
} IpcOutQueue;

void ipc_queue_init(IpcOutQueue *q, size_t max);
void ipc_queue_clear(IpcOutQueue *q);
static inline bool ipc_queue_empty(const IpcOutQueue *q) {
        return !q->head;
}
/* Appends raw bytes; the queue takes ownership of fds (closed on failure too). The fds go out
 * with the first byte. -ENOBUFS if the bound would be exceeded. */
int ipc_queue_push(IpcOutQueue *q, const void *data, size_t len, int *fds, size_t n_fds);
/* Appends one frame: the length prefix and msg packed. -EMSGSIZE if longer than max_frame. */
int ipc_queue_push_frame(IpcOutQueue *q, const ProtobufCMessage *msg, uint32_t max_frame, int *fds,
                         size_t n_fds);
/* Writes as much as the socket takes. 1 when the queue is empty, 0 when the socket is full,
 * -errno on failure (-EPIPE when the peer is gone). Never raises SIGPIPE. */
int ipc_queue_flush(IpcOutQueue *q, int fd);
