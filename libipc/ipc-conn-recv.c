/* Receiving on an IpcConn: complete frames become messages (IpcMsg), which answer a pending
 * call or go through the route table (policy, on_permit, handler) or to on_message. */
#include <sys/queue.h>
#include <stdio.h>

#include "fd-util.h"
#include "ipc-frame.h"
#include "ipc-internal.h"
#include "proto-wipe.h"

/* ---- messages ---- */

IpcMsg *ipc_msg_keep(IpcMsg *m) {
        m->kept = true;
        return m;
}

IpcMsg *ipc_msg_free(IpcMsg *m) {
        if (!m)
                return NULL;
        proto_free_wiped(m->msg);
        ipc_close_received_fds(m->fds, m->n_fds);
        free(m);
        return NULL;
}

void *ipc_msg_payload(const IpcMsg *m, uint32_t payload_case) {
        if (!m || !m->msg || m->payload_case != payload_case || payload_case == 0)
                return NULL;
        void **slot = ipc_proto_payload_slot(m->msg, payload_case, NULL);
        return slot ? *slot : NULL;
}

const Tund__Error *ipc_msg_error(const IpcMsg *m) {
        if (!m || !m->msg)
                return NULL;
        uint32_t f = ipc_proto_error_field(m->msg->descriptor);
        return f ? ipc_msg_payload(m, f) : NULL;
}

/* ---- receiving ---- */

#define FRAMES_PER_WAKEUP 32 /* fairness between connections */

static bool route_dispatch(IpcConn *c, IpcMsg *m) {
        const IpcRoute *route = NULL;
        for (size_t i = 0; i < c->n_routes; i++)
                if (c->routes[i].payload_case == m->payload_case && m->payload_case != 0) {
                        route = &c->routes[i];
                        break;
                }
        if (!route) {
                if (c->h.on_message && (m->msg_id == 0 || c->n_routes == 0))
                        return false;
                const char *name = ipc_proto_field_name(c->ch->recv_desc, m->payload_case);
                ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_UNSUPPORTED, 0,
                                     "unsupported %s request (%s)", c->ch->name,
                                     name ? name : "unknown type");
                return true;
        }
        /* A route naming a policy the table was not given: root only, never open by mistake. */
        const IpcPolicy *policy = NULL;
        static const IpcPolicy missing = { .description = "root (the route's policy is missing)" };
        if (route->policy)
                policy = route->policy < c->n_policies && c->policies[route->policy]
                                 ? c->policies[route->policy]
                                 : &missing;
        if (policy && !ipc_policy_allows(policy, c->have_peer ? &c->peer : NULL)) {
                ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_PERMISSION, EPERM,
                                     "%s: permission denied: allowed for %s only (you are uid %u)",
                                     route->name, policy->description,
                                     c->have_peer ? (unsigned) c->peer.uid : 0u);
                return true;
        }
        int r = 0;
        if (c->h.on_permit)
                r = c->h.on_permit(c, route, m, c->userdata);
        if (r == 0)
                r = route->handler(c, m, c->userdata);
        if (r < 0)
                ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_INTERNAL, r,
                                     "%s failed: %s", route->name, strerror(-r));
        return true;
}

static void conn_dispatch(IpcConn *c, IpcMsg *m) {
        if (m->response_to != 0) {
                IpcCall *call;
                LIST_FOREACH(call, &c->calls, link)
                if (call->id == m->response_to)
                        break;
                if (!call)
                        return; /* late (timed out), unknown or duplicate reply: ignored */
                ipc_call_unlink(c, call);
                call->cb(c, 0, m, call->userdata);
                free(call);
                return;
        }
        if (c->n_routes > 0 || !c->h.on_message) {
                if (route_dispatch(c, m))
                        return;
        }
        if (c->h.on_message) {
                int r = c->h.on_message(c, m, c->userdata);
                if (r < 0)
                        ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_INTERNAL, r,
                                             "request failed: %s", strerror(-r));
        }
}

/* Turns the reader's complete frame into a message; false if the peer broke the protocol. */
static bool conn_take_frame(IpcConn *c) {
        IpcFrameReader *rd = &c->reader;
        /* Received messages may carry keys: unpacked and freed with the wiping allocator. */
        ProtobufCMessage *msg = protobuf_c_message_unpack(c->ch->recv_desc, &proto_wiping_allocator,
                                                          rd->body_len, rd->body);
        if (!msg) {
                ipc_conn_close(c, -EBADMSG, "%s peer sent an undecodable %u-byte message",
                               c->ch->name, rd->body_len);
                return false;
        }
        Tund__Rpc **slot = ipc_proto_rpc_slot(msg);
        Tund__Rpc *rpc = slot ? *slot : NULL;
        if (!rpc) {
                proto_free_wiped(msg);
                ipc_conn_close(c, -EBADMSG, "%s peer sent a message without Rpc header",
                               c->ch->name);
                return false;
        }
        if (rpc->fd_count != rd->n_fds) {
                unsigned want = rpc->fd_count;
                proto_free_wiped(msg);
                ipc_conn_close(c, -EBADMSG, "%s peer announced %u fds but sent %zu", c->ch->name,
                               want, rd->n_fds);
                return false;
        }
        IpcMsg *m = calloc(1, sizeof(*m));
        if (!m) {
                proto_free_wiped(msg);
                ipc_conn_close(c, -ENOMEM, "out of memory");
                return false;
        }
        m->msg = msg;
        m->msg_id = rpc->msg_id;
        m->response_to = rpc->response_to;
        m->payload_case = ipc_proto_payload_case(msg);
        for (size_t i = 0; i < IPC_MAX_FDS; i++)
                m->fds[i] = i < rd->n_fds ? TAKE_FD(rd->fds[i]) : -EBADF;
        m->n_fds = rd->n_fds;
        rd->n_fds = 0;
        ipc_frame_reader_reset(rd);

        conn_dispatch(c, m);
        if (!m->kept)
                ipc_msg_free(m);
        return !c->closed;
}

static const char *frame_error(int r) {
        switch (r) {
        case -EMSGSIZE:
                return "frame longer than the channel's maximum";
        case -EBADMSG:
                return "zero-length frame";
        case -ETOOMANYREFS:
                return "too many file descriptors in one frame";
        case -EPERM:
                return "file descriptors on a channel that carries none";
        case -ECONNRESET:
                return "connection closed in the middle of a frame";
        default:
                return NULL;
        }
}

void ipc_conn_read_frames(IpcConn *c) {
        for (int i = 0; i < FRAMES_PER_WAKEUP && !c->closed; i++) {
                int r = ipc_frame_read(&c->reader, c->fd);
                if (r == 0)
                        return;
                if (r == -ESHUTDOWN) {
                        ipc_conn_close(c, 0, "%s peer closed the connection", c->ch->name);
                        return;
                }
                if (r < 0) {
                        const char *why = frame_error(r);
                        if (why)
                                ipc_conn_close(c, r == -ECONNRESET ? r : -EBADMSG,
                                               "%s protocol error: %s", c->ch->name, why);
                        else
                                ipc_conn_close(c, r, "%s read failed: %s", c->ch->name,
                                               strerror(-r));
                        return;
                }
                if (!conn_take_frame(c))
                        return;
        }
}
