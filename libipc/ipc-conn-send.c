/* Sending on an IpcConn: the write queue and its flushing (EPOLLOUT only while it holds
 * something), one-way messages, calls with their reply timeouts, and error replies. */
#include <sys/queue.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "ipc-frame.h"
#include "ipc-internal.h"

/* Frames wait until the peer's handshake is verified: nothing but our own line goes to a peer
 * that may not be who it should be. */
static bool conn_want_write(IpcConn *c) {
        return c->hs_out_off < c->hs_out_len || (c->ready && !ipc_queue_empty(&c->out));
}

void ipc_conn_update_events(IpcConn *c) {
        if (c->io)
                (void) sd_event_source_set_io_events(c->io,
                                                     EPOLLIN | (conn_want_write(c) ? EPOLLOUT : 0));
}

/* Writes what may be written now: 0, or -errno. */
int ipc_conn_flush(IpcConn *c) {
        while (c->hs_out_off < c->hs_out_len) {
                ssize_t n = send(c->fd, c->hs_out + c->hs_out_off, c->hs_out_len - c->hs_out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
                c->hs_out_off += (size_t) n;
        }
        if (!c->ready)
                return 0;
        int r = ipc_queue_flush(&c->out, c->fd);
        return r < 0 ? r : 0;
}

static int conn_push(IpcConn *c, ProtobufCMessage *msg, uint64_t msg_id, uint64_t response_to,
                     const int *fds, size_t n_fds) {
        if (c->closed || c->defer_close)
                return -ENOTCONN;
        if (msg->descriptor != c->ch->send_desc || n_fds > IPC_MAX_FDS)
                return -EINVAL;
        if (n_fds > 0 && !c->ch->send_carries_fds)
                return -EPERM; /* the peer refuses them, in the kernel where it can */
        Tund__Rpc **slot = ipc_proto_rpc_slot(msg);
        if (!slot)
                return -EINVAL;

        int dups[IPC_MAX_FDS];
        for (size_t i = 0; i < n_fds; i++) {
                dups[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (dups[i] < 0) {
                        int r = negative_errno();
                        while (i > 0)
                                safe_close(dups[--i]);
                        return r;
                }
        }

        Tund__Rpc rpc = TUND__RPC__INIT, *saved = *slot;
        rpc.msg_id = msg_id;
        rpc.response_to = response_to;
        rpc.fd_count = (uint32_t) n_fds;
        *slot = &rpc;
        bool was_empty = ipc_queue_empty(&c->out);
        int r = ipc_queue_push_frame(&c->out, msg, c->reader.max, dups, n_fds);
        *slot = saved;
        if (r == -ENOBUFS)
                ipc_conn_close_later(c, r);
        if (r < 0)
                return r;

        if (was_empty) {
                int k = ipc_conn_flush(c);
                if (k < 0) {
                        ipc_conn_close_later(c, k);
                        return 0; /* queued; the close will fail pending calls */
                }
        }
        ipc_conn_update_events(c);
        return 0;
}

int ipc_conn_send(IpcConn *c, ProtobufCMessage *msg, uint64_t response_to, const int *fds,
                  size_t n_fds) {
        return conn_push(c, msg, 0, response_to, fds, n_fds);
}

static int call_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        IpcCall *call = userdata;
        IpcConn *c = call->conn;
        ipc_conn_ref(c);
        ipc_call_unlink(c, call);
        call->cb(c, -ETIMEDOUT, NULL, call->userdata);
        free(call);
        ipc_conn_unref(c);
        return 0;
}

int64_t ipc_conn_call(IpcConn *c, ProtobufCMessage *msg, const int *fds, size_t n_fds,
                      uint64_t timeout_usec, IpcReplyHandler cb, void *userdata) {
        if (!cb)
                return -EINVAL;
        IpcCall *call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        *call = (IpcCall){ .conn = c, .id = ++c->next_id, .cb = cb, .userdata = userdata };
        int r = 0;
        if (timeout_usec > 0)
                r = sd_event_add_time_relative(c->event, &call->timer, CLOCK_MONOTONIC,
                                               timeout_usec, 0, call_timeout, call);
        if (r >= 0)
                r = conn_push(c, msg, call->id, 0, fds, n_fds);
        if (r < 0) {
                sd_event_source_disable_unref(call->timer);
                free(call);
                return r;
        }
        LIST_INSERT_HEAD(&c->calls, call, link);
        c->n_calls++;
        return (int64_t) call->id;
}

int ipc_conn_reply_error(IpcConn *c, uint64_t response_to, Tund__ErrorCode code, int errnum,
                         const char *fmt, ...) {
        if (response_to == 0)
                return 0;
        const ProtobufCMessageDescriptor *d = c->ch->send_desc;
        uint32_t field = ipc_proto_error_field(d);
        if (field == 0)
                return -EOPNOTSUPP;

        _cleanup_free_ char *text = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);

        _cleanup_free_ ProtobufCMessage *m = calloc(1, d->sizeof_message);
        if (!m)
                return -ENOMEM;
        d->message_init(m);
        Tund__Error err = TUND__ERROR__INIT;
        err.code = code;
        err.message = text ? text : (char *) "error";
        err.errno_value = errnum < 0 ? -errnum : errnum;
        uint32_t *quant;
        void **slot = ipc_proto_payload_slot(m, field, &quant);
        *slot = &err;
        *quant = field;
        return ipc_conn_send(c, m, response_to, NULL, 0);
}
