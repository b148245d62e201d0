/* Peers: the poll every TUNNEL_POLL_USEC (which also feeds the health tracker) and GetPeers. */
#include "tunnel-internal.h"
#include "wg-key.h"

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
        /* The health tracker's word on each peer: u lists the picked peers of d in order. */
        for (size_t i = 0, j = 0; i < d->n_peers && j < u->n_peers; i++)
                if (!pick || pick[i])
                        u->peers[j++]->stale =
                                health_peer_stale(&t->health, d->peers[i].public_key);
        u->stale = t->health.stale;
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
                        log_warning("peer update not sent: %s", text);
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
                        log_warning("peer poll: %s", buf);
        } else if (op->reply_to) {
                /* A requester's view is not the watchers': leave the delta tracker alone, or
                 * the shim's periodic GetPeers would swallow changes before the poll sends
                 * them to watchers. */
                peers_send(t, &d, NULL, false, op->reply_to);
        } else {
                if (t->state == TUNNEL_RUNNING)
                        tunnel_health_check(t, &d);
                _cleanup_free_ bool *changed = calloc(MAX(d.n_peers, (size_t) 1), sizeof(bool));
                if (changed && peer_tracker_delta(&t->tracker, &d, changed) > 0)
                        peers_send(t, &d, changed, true, 0);
        }
        uapi_device_done(&d);
        free(op);
}

/* ---- health ---- */

static void describe_peer(Tunnel *t, const UapiDevice *d, size_t i, char *buf, size_t size) {
        char key[WG_KEY_B64_LEN + 1] = "", name[UAPI_PEER_NAME_LEN + 4], ep[UAPI_ENDPOINT_MAX] = "";
        const UapiPeer *p = &d->peers[i];
        wg_key_to_base64(key, p->public_key);
        uapi_peer_name(key, name);
        if (!p->has_endpoint || uapi_endpoint_format(&p->endpoint, ep, sizeof(ep)) < 0)
                snprintf(ep, sizeof(ep), "no endpoint");
        snprintf(buf, size, "peer %s at %s", name, ep);
}

/* One poll's verdict: stale or running again (a Status and a log line per change), and a
 * re-resolution when a peer has been sent data without an answer for long enough. */
void tunnel_health_check(Tunnel *t, const UapiDevice *d) {
        HealthResult res;
        uint64_t now = 0;
        char who[UAPI_ENDPOINT_MAX + 32] = "", text[256];

        sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        if (health_update(&t->health, d, now, &res) < 0)
                return;
        if (res.unanswered_usec > 0)
                describe_peer(t, d, res.worst, who, sizeof(who));
        if (res.stale_changed && t->health.stale) {
                snprintf(text, sizeof(text),
                         "stale: %s has answered nothing for %llu s while sent to", who,
                         (unsigned long long) (res.unanswered_usec / USEC_PER_SEC));
                log_warning("%s", text);
                tunnel_send_status(t, TUND__SESSION_STATE__SESSION_STATE_STALE, text);
        } else if (res.stale_changed) {
                snprintf(text, sizeof(text), "running again: the peers answer");
                log_notice("%s", text);
                tunnel_send_status(t, TUND__SESSION_STATE__SESSION_STATE_RUNNING, text);
        }
        if (res.reresolve) {
                log_notice("%s has answered nothing for %llu s while sent to: resolving the "
                           "endpoints again",
                           who, (unsigned long long) (res.unanswered_usec / USEC_PER_SEC));
                (void) tunnel_rebind(t, "no answer", 0);
        }
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
                        log_warning("peer poll: %s", strerror(-r));
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
