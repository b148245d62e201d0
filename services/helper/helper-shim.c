/* The shim socket: one connection per session from tund-netshimd (root, or --shim-uid). */
#include <stdio.h>

#include "log.h"
#include "helper.h"

static void shim_client_free(ShimClient *sc) {
        Manager *m = sc->m;
        LIST_REMOVE(sc, link);
        m->n_shims--;
        ipc_conn_unref(sc->conn);
        free(sc);
}

static void on_shim_close(IpcConn *c, int error, const char *reason, void *userdata) {
        ShimClient *sc = userdata;
        Manager *m = sc->m;
        Session *s = TAKE_PTR(sc->session);
        if (s) {
                log_session(LOG_NOTICE, s->profile, s->tunnel_pid, NULL,
                            "Network shim of %s disconnected (%s); stopping its tunnel.",
                            s->profile, reason);
                helper_session_shim_gone(s);
        } else if (error < 0)
                log_info("Shim connection closed: %s", reason);
        shim_client_free(sc);
        helper_manager_changed(m);
}

static int shim_dispatch_start(IpcConn *c, IpcMsg *m, void *userdata) {
        const Tund__StartSession *req =
                ipc_msg_payload(m, TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION);
        return helper_session_start(userdata, m, req);
}

static Session *shim_session_permitted(IpcConn *c, IpcMsg *m, ShimClient *sc, SessionRequest r) {
        Session *s = sc->session;
        if (!s) {
                (void) ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_NOT_FOUND, 0,
                                            "%s: this connection has no session",
                                            helper_session_request_to_string(r));
                return NULL;
        }
        if (!helper_session_permits(s->state, r)) {
                (void) ipc_conn_reply_error(c, m->msg_id, helper_session_refusal_code(s->state), 0,
                                            "%s: session %s is %s",
                                            helper_session_request_to_string(r), s->profile,
                                            helper_session_state_to_string(s->state));
                return NULL;
        }
        return s;
}

static int shim_dispatch_stop(IpcConn *c, IpcMsg *m, void *userdata) {
        ShimClient *sc = userdata;
        Session *s = shim_session_permitted(c, m, sc, SREQ_SHIM_STOP);
        if (!s)
                return 0;
        const Tund__StopSession *req =
                ipc_msg_payload(m, TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION);
        char reason[300];
        snprintf(reason, sizeof(reason), "the network shim asked%s%s",
                 isempty(req->reason) ? "" : ": ", isempty(req->reason) ? "" : req->reason);
        s->stop_msg_id = m->msg_id;
        helper_session_stop(s, reason);
        return 0;
}

static int shim_dispatch_get_peers(IpcConn *c, IpcMsg *m, void *userdata) {
        ShimClient *sc = userdata;
        Session *s = shim_session_permitted(c, m, sc, SREQ_SHIM_GET_PEERS);
        if (!s)
                return 0;
        return helper_tunnel_gather(sc->m, GATHER_SHIM_PEERS, c, m->msg_id, &s, 1);
}

static const IpcRoute shim_routes[] = {
        { TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION, "StartSession", HELPER_POLICY_SHIM, IPC_ANY,
          shim_dispatch_start },
        { TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION, "StopSession", HELPER_POLICY_SHIM, IPC_ANY,
          shim_dispatch_stop },
        { TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS, "ShimGetPeers", HELPER_POLICY_SHIM, IPC_ANY,
          shim_dispatch_get_peers },
};

/* A one-way Log: an event of the shim's own running session (its settings were deleted by
 * another program and restored, say). Watchers get it under the session's profile, never one
 * the shim names; a warning or worse is also the session's last error, which status shows. */
static void shim_event_log(ShimClient *sc, Tund__Log *log) {
        Session *s = sc->session;
        if (!s || !helper_session_permits(s->state, SREQ_SHIM_GET_PEERS))
                return;
        char *theirs = log->profile;
        log->profile = s->profile;
        log->pid = 0;
        helper_watch_send_log(sc->m, s->profile, log);
        log->profile = theirs;
        if (log->level >= TUND__LOG_LEVEL__LOG_LEVEL_WARNING) {
                helper_session_set_last_error(s, "network shim: %s", log->message);
                log_session(LOG_WARNING, s->profile, s->tunnel_pid, NULL, "Network shim of %s: %s",
                            s->profile, log->message);
        }
}

/* Our replies to the shim's requests are routed; its replies to ours (ApplyNetworkSettings)
 * arrive through the call callbacks. The one one-way message a shim sends is Log. */
static int on_shim_message(IpcConn *c, IpcMsg *m, void *userdata) {
        if (m->msg_id != 0)
                return 0;
        if (m->payload_case == TUND__SHIM_TO_HELPER__PAYLOAD_LOG)
                shim_event_log(userdata, ((Tund__ShimToHelper *) m->msg)->log);
        else
                log_debug("Ignoring a one-way message (case %u) from a shim.", m->payload_case);
        return 0;
}

int helper_shim_accept(IpcServer *srv, IpcConn *c, void *userdata) {
        Manager *m = userdata;
        const IpcPeer *peer = ipc_conn_get_peer(c);
        if (!peer || !ipc_policy_allows(&m->shim_policy, peer)) {
                log_message_id(LOG_WARNING, HELPER_MESSAGE_PEER_REFUSED,
                               "Refusing shim connection from pid %d uid %u: the shim socket "
                               "serves %s only.",
                               peer ? (int) peer->pid : 0, peer ? (unsigned) peer->uid : 0u,
                               m->shim_policy.description);
                return -EPERM;
        }
        ShimClient *sc = calloc(1, sizeof(ShimClient));
        if (!sc)
                return -ENOMEM;
        sc->m = m;
        sc->conn = ipc_conn_ref(c);
        LIST_INSERT_HEAD(&m->shims, sc, link);
        m->n_shims++;
        static const IpcHandlers h = { .on_message = on_shim_message, .on_close = on_shim_close };
        ipc_conn_set_handlers(c, &h, sc);
        ipc_conn_set_routes(c, shim_routes, ELEMENTSOF(shim_routes), m->policies,
                            ELEMENTSOF(m->policies));
        log_debug("Shim connection from pid %d.", (int) peer->pid);
        helper_manager_changed(m);
        return 0;
}
