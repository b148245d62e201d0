/* Rebind: resolve the endpoints again and set them on the engine, asked by the helper (tundctl
 * rebind, a network change, resume) or by the tunnel itself (a peer that stopped answering).
 *
 *   resolve ── same addresses ──> set the endpoints (drops the engine's sticky source, sends a
 *          │                       keepalive at once) ──> done
 *          └─ an address moved ──> settings with old AND new (exclusions, kill switch) ──>
 *                                  set the endpoints ──> settings with the new only ──> done
 *
 * so there is no moment where packets to either address are routed into the tunnel (a loop) or
 * dropped by a kill switch. A request that arrives while one runs is queued (one more rebind
 * after it, for everything asked meanwhile): the network may have changed again since. */
#include "tunnel-internal.h"

typedef enum RebindStep {
        REBIND_RESOLVE,
        REBIND_WIDEN,  /* settings with both endpoint sets */
        REBIND_ENGINE, /* set=1 with the endpoints */
        REBIND_NARROW, /* settings with the new ones only */
} RebindStep;

struct RebindOp {
        Tunnel *t; /* NULL once cancelled: a settings reply still to come frees the op */
        char reason[64];
        uint64_t *reply_to;
        size_t n_reply_to;
        RebindStep step;
        TunnelResolve *resolve;
        UapiCall *call;
        bool settings_pending;
        bool moved;
        UapiEndpoint *endpoints; /* resolved, one per peer */
};

static RebindOp *rebind_op_free(RebindOp *op) {
        if (!op)
                return NULL;
        tunnel_resolve_free(op->resolve);
        uapi_call_free(op->call);
        free(op->reply_to);
        free(op->endpoints);
        free(op);
        return NULL;
}

static void rebind_reply_all(Tunnel *t, RebindOp *op, int error, Tund__ErrorCode code,
                             const char *text) {
        for (size_t i = 0; i < op->n_reply_to; i++)
                if (error < 0)
                        tunnel_reply_error(t, op->reply_to[i], code, -error, text);
                else
                        tunnel_reply_ack(t, op->reply_to[i]);
        op->n_reply_to = 0;
}

/* Cancels an op (the tunnel is stopping): its requesters hear so. */
static void rebind_cancel(Tunnel *t, RebindOp *op) {
        if (!op)
                return;
        rebind_reply_all(t, op, -ECANCELED, TUND__ERROR_CODE__ERROR_BUSY, "tunnel is stopping");
        op->resolve = tunnel_resolve_free(op->resolve);
        op->call = uapi_call_free(op->call);
        op->t = NULL;
        if (!op->settings_pending)
                rebind_op_free(op);
}

void tunnel_rebind_cancel(Tunnel *t) {
        rebind_cancel(t, TAKE_PTR(t->rebind));
        rebind_cancel(t, TAKE_PTR(t->rebind_next));
}

static int rebind_run(Tunnel *t, RebindOp *op);

static void rebind_done(Tunnel *t, RebindOp *op, int error, Tund__ErrorCode code, const char *fmt,
                        ...) _printf_(5, 6);
static void rebind_done(Tunnel *t, RebindOp *op, int error, Tund__ErrorCode code, const char *fmt,
                        ...) {
        char text[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);

        if (error < 0)
                log_warning("rebind (%s) failed: %s", op->reason, text);
        else
                log_info("rebind (%s): %s", op->reason, text);
        rebind_reply_all(t, op, error, code, text);
        uint64_t now = 0;
        sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        health_rebound(&t->health, now);
        t->rebind = NULL;
        rebind_op_free(op);

        RebindOp *next = TAKE_PTR(t->rebind_next);
        if (next && t->state == TUNNEL_RUNNING && !t->exiting) {
                t->rebind = next;
                (void) rebind_run(t, next);
        } else
                rebind_cancel(t, next);
}

/* ---- the steps ---- */

static void rebind_settings(Tunnel *t, RebindOp *op, RebindStep step);

static void on_engine_reply(int error, const char *reply, size_t len, void *userdata) {
        RebindOp *op = userdata;
        Tunnel *t = op->t;
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};

        op->call = NULL;
        if (error < 0)
                rebind_done(t, op, error, ipc_error_code(error, TUND__ERROR_CODE__ERROR_ENGINE),
                            "engine did not answer the endpoint update: %s", strerror(-error));
        else if (uapi_parse_reply(reply, len, &d, &perr) < 0)
                rebind_done(t, op, -EBADMSG, TUND__ERROR_CODE__ERROR_ENGINE, "%s",
                            perr ? perr : "malformed UAPI reply");
        else if (d.errnum != 0)
                rebind_done(t, op, -d.errnum, TUND__ERROR_CODE__ERROR_ENGINE,
                            "engine refused the endpoint update: %s (errno %d)",
                            uapi_errno_name(d.errnum), d.errnum);
        else {
                memcpy(t->endpoints, op->endpoints,
                       t->start->config->n_peers * sizeof(UapiEndpoint));
                if (op->moved)
                        rebind_settings(t, op, REBIND_NARROW);
                else
                        rebind_done(t, op, 0, 0, "endpoints set again");
        }
        uapi_device_done(&d);
}

static void rebind_engine(Tunnel *t, RebindOp *op) {
        _cleanup_secbuf_ SecBuf req = {};
        _cleanup_free_ char *err = NULL;

        op->step = REBIND_ENGINE;
        int r = uapi_build_endpoints(t->start->config, op->endpoints, &req, &err);
        if (r >= 0)
                r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec,
                                    on_engine_reply, op, &op->call);
        if (r < 0)
                rebind_done(t, op, r, TUND__ERROR_CODE__ERROR_ENGINE, "%s",
                            err ? err : strerror(-r));
}

static void on_settings_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        RebindOp *op = userdata;
        Tunnel *t = op->t;
        const Tund__Error *e = reply ? ipc_msg_error(reply) : NULL;
        char why[384] = "";

        op->settings_pending = false;
        if (!t) { /* cancelled while the shim was at it */
                rebind_op_free(op);
                return;
        }
        if (error < 0)
                snprintf(why, sizeof(why), "%s", strerror(-error));
        else if (e)
                snprintf(why, sizeof(why), "%s", e->message ? e->message : "?");
        else if (reply->payload_case != TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT)
                snprintf(why, sizeof(why), "unexpected reply (case %u)", reply->payload_case);

        if (op->step == REBIND_WIDEN) {
                if (why[0]) /* the engine still has the old endpoints, which still work */
                        rebind_done(t, op, -EIO, TUND__ERROR_CODE__ERROR_NETCFG,
                                    "the network settings for the new endpoint address were not "
                                    "applied, the old one stays: %s",
                                    why);
                else
                        rebind_engine(t, op);
        } else if (why[0]) {
                /* The new endpoint works; the old one's exclusion stays until the next change. */
                log_warning("rebind (%s): the old endpoint's network settings were not "
                            "removed: %s",
                            op->reason, why);
                rebind_done(t, op, 0, 0, "endpoint moved, the old exclusion stays");
        } else
                rebind_done(t, op, 0, 0, "endpoint moved, network settings replaced");
}

static void rebind_settings(Tunnel *t, RebindOp *op, RebindStep step) {
        _cleanup_(ipc_message_freep) ProtobufCMessage *settings = NULL;
        _cleanup_free_ char *err = NULL;
        Tund__NetworkSettings *s = NULL;
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__NetworkSettingsRequest req = TUND__NETWORK_SETTINGS_REQUEST__INIT;

        op->step = step;
        /* WIDEN: t->endpoints are still the old ones; NARROW: they are the new ones. */
        int r = tunnel_settings_derive_both(t->start->config, op->endpoints,
                                            step == REBIND_WIDEN ? t->endpoints : NULL, &s, &err);
        settings = s ? &s->base : NULL;
        if (r < 0) {
                rebind_done(t, op, r, TUND__ERROR_CODE__ERROR_INVALID, "%s",
                            err ? err : strerror(-r));
                return;
        }
        req.settings = s;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST;
        m.network_settings_request = &req;
        int64_t id = tunnel_conn_usable(t)
                             ? ipc_conn_call(t->conn, &m.base, NULL, 0,
                                             TUNNEL_SETTINGS_TIMEOUT_USEC, on_settings_reply, op)
                             : -ENOTCONN;
        if (id < 0) {
                rebind_done(t, op, (int) id, TUND__ERROR_CODE__ERROR_PEER_GONE,
                            "cannot send the network settings: %s", strerror((int) -id));
                return;
        }
        op->settings_pending = true;
}

static bool endpoint_equal(const UapiEndpoint *a, const UapiEndpoint *b) {
        if (a->addr.sa.sa_family != b->addr.sa.sa_family)
                return false;
        if (a->addr.sa.sa_family == AF_INET)
                return a->addr.in.sin_port == b->addr.in.sin_port &&
                       a->addr.in.sin_addr.s_addr == b->addr.in.sin_addr.s_addr;
        if (a->addr.sa.sa_family == AF_INET6)
                return a->addr.in6.sin6_port == b->addr.in6.sin6_port &&
                       memcmp(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr, 16) == 0;
        return true;
}

static void on_resolved(int error, const UapiEndpoint *endpoints, size_t n, const char *message,
                        void *userdata) {
        RebindOp *op = userdata;
        Tunnel *t = op->t;
        const Tund__WgConfig *cfg = t->start->config;

        op->resolve = NULL;
        if (error < 0) {
                rebind_done(t, op, error, ipc_error_code(error, TUND__ERROR_CODE__ERROR_INVALID),
                            "%s", message);
                return;
        }
        if (!isempty(message))
                log_warning("%s", message);
        op->endpoints = calloc(MAX(n, (size_t) 1), sizeof(UapiEndpoint));
        if (!op->endpoints) {
                rebind_done(t, op, -ENOMEM, TUND__ERROR_CODE__ERROR_INTERNAL, "out of memory");
                return;
        }
        memcpy(op->endpoints, endpoints, n * sizeof(UapiEndpoint));
        for (size_t i = 0; i < n && i < cfg->n_peers; i++) {
                if (endpoint_equal(&t->endpoints[i], &op->endpoints[i]))
                        continue;
                char name[UAPI_PEER_NAME_LEN + 4], from[UAPI_ENDPOINT_MAX] = "none",
                                                   to[UAPI_ENDPOINT_MAX] = "none";
                uapi_peer_name(cfg->peers[i]->public_key, name);
                (void) uapi_endpoint_format(&t->endpoints[i].addr, from, sizeof(from));
                (void) uapi_endpoint_format(&op->endpoints[i].addr, to, sizeof(to));
                log_notice("rebind (%s): peer %s endpoint %s moved from %s to %s", op->reason, name,
                           cfg->peers[i]->endpoint, from, to);
                op->moved = true;
        }
        if (op->moved)
                rebind_settings(t, op, REBIND_WIDEN);
        else
                rebind_engine(t, op);
}

static int rebind_run(Tunnel *t, RebindOp *op) {
        _cleanup_free_ char *err = NULL;
        op->step = REBIND_RESOLVE;
        int r = tunnel_resolve_again(t->event, t->start->config, t->endpoints,
                                     TUNNEL_RESOLVE_TIMEOUT_USEC, on_resolved, op, &op->resolve,
                                     &err);
        if (r < 0)
                rebind_done(t, op, r, TUND__ERROR_CODE__ERROR_INVALID, "%s",
                            err ? err : strerror(-r));
        return r;
}

/* Adds a request to op (allocating it), returns it or NULL. */
static RebindOp *rebind_op_add(Tunnel *t, RebindOp **slot, const char *reason, uint64_t reply_to) {
        RebindOp *op = *slot;
        if (!op) {
                op = calloc(1, sizeof(RebindOp));
                if (!op)
                        return NULL;
                op->t = t;
                snprintf(op->reason, sizeof(op->reason), "%s", reason);
                string_sanitize_inplace(op->reason); /* the helper's words, for the log */
                *slot = op;
        }
        if (reply_to) {
                uint64_t *v = ARRAY_APPEND(op->reply_to, op->n_reply_to);
                if (!v)
                        return NULL;
                *v = reply_to;
        }
        return op;
}

int tunnel_rebind(Tunnel *t, const char *reason, uint64_t reply_to) {
        if (t->rebind) {
                /* The tunnel's own retry waits for its backoff, never queues. */
                if (!reply_to)
                        return 0;
                return rebind_op_add(t, &t->rebind_next, reason, reply_to) ? 0 : -ENOMEM;
        }
        RebindOp *op = rebind_op_add(t, &t->rebind, reason, reply_to);
        if (!op)
                return -ENOMEM;
        (void) rebind_run(t, op); /* a failure is answered and logged by rebind_done() */
        return 0;
}

int helper_dispatch_rebind(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        Tund__Rebind *req = ipc_msg_payload(m, TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND);
        char reason[64];
        snprintf(reason, sizeof(reason), "%s",
                 req && !isempty(req->reason) ? req->reason : "requested");
        if (tunnel_rebind(t, reason, m->msg_id) < 0)
                tunnel_reply_error(t, m->msg_id, TUND__ERROR_CODE__ERROR_INTERNAL, ENOMEM,
                                   "out of memory");
        return 0;
}
