/* Peers (the poll every TUNNEL_POLL_USEC and GetPeers) and Rebind. */
#include "tunnel-internal.h"

/* ---- peers ---- */

static void peers_op_unlink(Tunnel *t, PeersOp *op) {
        for (PeersOp **p = &t->peers_ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
}

static void peers_send(Tunnel *t, const UapiDevice *d, const bool *pick, bool delta,
                       uint64_t reply_to) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__PeerUpdate *u = NULL;
        int r = peer_update_build(tunnel_profile_name(t), d, pick, delta, &u);
        if (r < 0) {
                tunnel_reply_error(t, reply_to, TUND__ERROR_CODE__ERROR_INTERNAL, -r,
                                   "out of memory");
                return;
        }
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS;
        m.peers = u;
        r = tunnel_send_msg(t, &m, reply_to);
        if (r == -EMSGSIZE) {
                /* Over the channel's frame limit (tens of thousands of allowed IPs): an answer
                 * all the same, not a request left hanging. */
                char text[128];
                snprintf(text, sizeof(text), "the state of %zu peer(s) does not fit in one message",
                         u->n_peers);
                if (reply_to)
                        tunnel_reply_error(t, reply_to, TUND__ERROR_CODE__ERROR_INTERNAL, EMSGSIZE,
                                           text);
                else
                        log_warning(t, "peer update not sent: %s", text);
        }
        peer_update_free(u);
}

static void on_peers_reply(int error, const char *reply, size_t len, void *userdata) {
        PeersOp *op = userdata;
        Tunnel *t = op->tunnel;
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};
        char buf[512] = "";

        peers_op_unlink(t, op);
        if (error < 0)
                snprintf(buf, sizeof(buf), "engine did not answer get=1 on %s: %s", t->uapi_path,
                         strerror(-error));
        else if (uapi_parse_reply(reply, len, &d, &perr) < 0)
                snprintf(buf, sizeof(buf), "engine sent a malformed get=1 reply: %s",
                         perr ? perr : "?");
        else if (d.errnum != 0)
                snprintf(buf, sizeof(buf), "engine refused get=1: %s (errno %d)",
                         uapi_errno_name(d.errnum), d.errnum);

        if (buf[0]) {
                if (op->reply_to)
                        tunnel_reply_error(t, op->reply_to,
                                           ipc_error_code(error, TUND__ERROR_CODE__ERROR_ENGINE),
                                           error < 0 ? -error : EBADMSG, buf);
                else
                        log_warning(t, "peer poll: %s", buf);
        } else if (op->reply_to) {
                /* A requester's view is not the watchers': leave the delta tracker alone, or
                 * the shim's periodic GetPeers would swallow changes before the poll sends
                 * them to watchers. */
                peers_send(t, &d, NULL, false, op->reply_to);
        } else {
                _cleanup_free_ bool *changed = calloc(MAX(d.n_peers, (size_t) 1), sizeof(bool));
                if (changed && peer_tracker_delta(&t->tracker, &d, changed) > 0)
                        peers_send(t, &d, changed, true, 0);
        }
        uapi_device_done(&d);
        free(op);
}

static int peers_start(Tunnel *t, uint64_t reply_to) {
        PeersOp *op = calloc(1, sizeof(*op));
        SecBuf req = {};
        if (!op)
                return -ENOMEM;
        op->tunnel = t;
        op->reply_to = reply_to;
        op->poll = reply_to == 0;
        int r = secbuf_append(&req, "get=1\n\n", 7);
        if (r >= 0)
                r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec,
                                    on_peers_reply, op, &op->call);
        secbuf_wipe(&req);
        if (r < 0) {
                free(op);
                return r;
        }
        op->next = t->peers_ops;
        t->peers_ops = op;
        return 0;
}

int tunnel_on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        bool busy = false;
        for (PeersOp *op = t->peers_ops; op; op = op->next)
                busy = busy || op->poll;
        /* A slow engine gets one poll at a time, never a pile of them. */
        if (!busy && t->state == TUNNEL_RUNNING) {
                int r = peers_start(t, 0);
                if (r < 0)
                        log_warning(t, "peer poll: %s", strerror(-r));
        }
        sd_event_source_set_time_relative(s, TUNNEL_POLL_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

int helper_dispatch_get_peers(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        int r = peers_start(t, m->msg_id);
        if (r < 0)
                tunnel_reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                                   "cannot query the engine: no UAPI transaction possible");
        return 0;
}

/* ---- rebind ---- */

static void on_rebind_reply(int error, const char *reply, size_t len, void *userdata) {
        Tunnel *t = userdata;
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};
        uint64_t to = t->rebind_reply_to;

        t->rebind_call = NULL;
        t->rebind_reply_to = 0;
        if (error < 0)
                tunnel_reply_error(t, to, ipc_error_code(error, TUND__ERROR_CODE__ERROR_ENGINE),
                                   -error, "engine did not answer the endpoint update");
        else if (uapi_parse_reply(reply, len, &d, &perr) < 0)
                tunnel_reply_error(t, to, TUND__ERROR_CODE__ERROR_ENGINE, EBADMSG,
                                   perr ? perr : "malformed UAPI reply");
        else if (d.errnum != 0) {
                char buf[256];
                snprintf(buf, sizeof(buf), "engine refused the endpoint update: %s (errno %d)",
                         uapi_errno_name(d.errnum), d.errnum);
                tunnel_reply_error(t, to, TUND__ERROR_CODE__ERROR_ENGINE, d.errnum, buf);
        } else {
                log_info(t, "rebind: endpoints set again");
                tunnel_reply_ack(t, to);
        }
        uapi_device_done(&d);
}

static void on_rebind_resolved(int error, const UapiEndpoint *endpoints, size_t n,
                               const char *message, void *userdata) {
        Tunnel *t = userdata;
        _cleanup_secbuf_ SecBuf req = {};
        _cleanup_free_ char *err = NULL;

        t->rebind_resolve = NULL;
        if (error < 0) {
                tunnel_reply_error(t, t->rebind_reply_to,
                                   ipc_error_code(error, TUND__ERROR_CODE__ERROR_INVALID), -error,
                                   message);
                t->rebind_reply_to = 0;
                return;
        }
        if (!isempty(message))
                log_warning(t, "%s", message);
        memcpy(t->endpoints, endpoints, n * sizeof(UapiEndpoint));
        int r = uapi_build_endpoints(t->start->config, t->endpoints, &req, &err);
        if (r >= 0)
                r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec,
                                    on_rebind_reply, t, &t->rebind_call);
        if (r < 0) {
                tunnel_reply_error(t, t->rebind_reply_to, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                                   err ? err : strerror(-r));
                t->rebind_reply_to = 0;
        }
}

int helper_dispatch_rebind(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        _cleanup_free_ char *err = NULL;

        if (t->rebind_reply_to) {
                tunnel_reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_BUSY, EBUSY,
                                   "a rebind is already in progress");
                return 0;
        }
        t->rebind_reply_to = m->msg_id;
        int r = tunnel_resolve_start(t->event, t->start->config, TUNNEL_RESOLVE_TIMEOUT_USEC,
                                     on_rebind_resolved, t, &t->rebind_resolve, &err);
        if (r < 0) {
                tunnel_reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_INVALID, -r,
                                   err ? err : strerror(-r));
                t->rebind_reply_to = 0;
        }
        return 0;
}
