/* The control socket: admin tools. Read requests for root and the control group, mutating
 * ones for root (the policies live in the route table; libipc answers refusals). */
#include <stdio.h>

#include "log.h"
#include "helper.h"

int helper_control_send(IpcConn *c, Tund__HelperToCtl *msg, uint64_t response_to) {
        if (!c || ipc_conn_is_closed(c))
                return -ENOTCONN;
        return ipc_conn_send(c, &msg->base, response_to, NULL, 0);
}

static void ctl_client_free(CtlClient *cc) {
        Manager *m = cc->m;
        helper_watch_unsubscribe(cc);
        LIST_REMOVE(cc, link);
        m->n_clients--;
        ipc_conn_unref(cc->conn);
        free(cc);
}

static void on_ctl_close(IpcConn *c, int error, const char *reason, void *userdata) {
        CtlClient *cc = userdata;
        Manager *m = cc->m;
        const IpcPeer *peer = ipc_conn_get_peer(c);
        if (cc->watching && error == -ENOBUFS)
                log_message_id(LOG_WARNING, HELPER_MESSAGE_WATCHER_DROPPED,
                               "Dropping watch subscriber pid %d: %s", peer ? (int) peer->pid : 0,
                               reason);
        else if (error < 0 && error != -ECONNRESET)
                log_info("Control client pid %d closed: %s", peer ? (int) peer->pid : 0, reason);
        ctl_client_free(cc);
        helper_manager_changed(m);
}

static int ctl_dispatch_ping(IpcConn *c, IpcMsg *m, void *userdata) {
        CtlClient *cc = userdata;
        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
        Tund__Pong pong = TUND__PONG__INIT;
        helper_manager_fill_pong(cc->m, &pong);
        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_PONG;
        r.pong = &pong;
        return helper_control_send(c, &r, m->msg_id);
}

static void session_info_fill(Session *s, Tund__SessionInfo *si) {
        si->profile = s->profile;
        si->ifname = s->ifname;
        si->state = helper_session_state_to_proto(s->state, s->stale);
        si->shim_pid = s->shim_pid;
        si->tunnel_pid = (uint32_t) s->tunnel_pid;
        si->engine_pid = s->engine_pid;
        si->engine_version = s->engine_version ? s->engine_version : (char *) "";
        si->started_usec = s->started_usec;
        si->settings = s->settings;
        si->applied = s->applied;
        if (s->peers) {
                si->n_peers = s->peers->n_peers;
                si->peers = s->peers->peers;
        }
        si->last_error = s->last_error ? s->last_error : (char *) "";
}

static int ctl_dispatch_get_status(IpcConn *c, IpcMsg *msg, void *userdata) {
        CtlClient *cc = userdata;
        Manager *m = cc->m;
        const Tund__GetStatus *req = ipc_msg_payload(msg, TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS);
        bool one = !isempty(req->profile);
        if (one && !helper_manager_find_session(m, req->profile))
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_NOT_FOUND, 0,
                                            "no session for profile %s", req->profile);

        _cleanup_free_ Tund__SessionInfo *infos = calloc(m->n_sessions + 1, sizeof(*infos));
        _cleanup_free_ Tund__SessionInfo **ptrs = calloc(m->n_sessions + 1, sizeof(*ptrs));
        if (!infos || !ptrs)
                return -ENOMEM;
        size_t n = 0;
        for (Session *s = LIST_FIRST(&m->sessions); s; s = LIST_NEXT(s, link)) {
                if (one && !streq(s->profile, req->profile))
                        continue;
                tund__session_info__init(&infos[n]);
                session_info_fill(s, &infos[n]);
                ptrs[n] = &infos[n];
                n++;
        }
        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
        Tund__StatusReply st = TUND__STATUS_REPLY__INIT;
        Tund__Pong pong = TUND__PONG__INIT;
        helper_manager_fill_pong(m, &pong);
        st.n_sessions = n;
        st.sessions = ptrs;
        st.clients = m->n_clients;
        st.watchers = m->n_watchers;
        st.helper = &pong;
        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_STATUS;
        r.status = &st;
        return helper_control_send(c, &r, msg->msg_id);
}

/* Sessions selected by profile (empty = all); replies NOT_FOUND/BUSY itself, returns the
 * number selected (0 when it replied). */
static size_t ctl_select(Manager *m, IpcConn *c, IpcMsg *msg, const char *profile,
                         SessionRequest what, Session ***ret) {
        Session **v = calloc(m->n_sessions + 1, sizeof(Session *));
        size_t n = 0;
        if (!v) {
                (void) ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_INTERNAL,
                                            ENOMEM, "out of memory");
                return 0;
        }
        if (!isempty(profile)) {
                Session *s = helper_manager_find_session(m, profile);
                if (!s)
                        (void) ipc_conn_reply_error(c, msg->msg_id,
                                                    TUND__ERROR_CODE__ERROR_NOT_FOUND, 0,
                                                    "no session for profile %s", profile);
                else if (!helper_session_permits(s->state, what))
                        (void) ipc_conn_reply_error(
                                c, msg->msg_id, helper_session_refusal_code(s->state), 0,
                                "%s: session %s is %s", helper_session_request_to_string(what),
                                profile, helper_session_state_to_string(s->state));
                else
                        v[n++] = s;
        } else
                for (Session *s = LIST_FIRST(&m->sessions); s; s = LIST_NEXT(s, link))
                        if (helper_session_permits(s->state, what))
                                v[n++] = s;
        *ret = v;
        return n;
}

static int ctl_dispatch_get_peers(IpcConn *c, IpcMsg *msg, void *userdata) {
        CtlClient *cc = userdata;
        const Tund__CtlGetPeers *req = ipc_msg_payload(msg, TUND__CTL_TO_HELPER__PAYLOAD_GET_PEERS);
        _cleanup_free_ Session **v = NULL;
        size_t n = ctl_select(cc->m, c, msg, req->profile, SREQ_CTL_GET_PEERS, &v);
        if (n == 0 && !isempty(req->profile))
                return 0; /* answered */
        return helper_tunnel_gather(cc->m, GATHER_CTL_PEERS, c, msg->msg_id, v, n);
}

static int ctl_dispatch_rebind(IpcConn *c, IpcMsg *msg, void *userdata) {
        CtlClient *cc = userdata;
        const Tund__CtlRebind *req = ipc_msg_payload(msg, TUND__CTL_TO_HELPER__PAYLOAD_REBIND);
        if (isempty(req->profile) && !req->all)
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                            "CtlRebind: name a profile or set all");
        _cleanup_free_ Session **v = NULL;
        /* A change seen but not acted on yet is acted on now. Coalescing (NetworkManager's
         * hook, which follows the very change the helper saw itself, and announces it more
         * than once): sessions rebound for the latest change a moment ago are not rebound
         * again. */
        helper_roam_flush(cc->m);
        size_t n = ctl_select(cc->m, c, msg, req->all ? "" : req->profile, SREQ_CTL_REBIND, &v);
        if (n == 0 && !req->all)
                return 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (req->coalesce && helper_roam_rebound(cc->m, v[i]))
                        log_session(LOG_INFO, v[i]->profile, v[i]->tunnel_pid, NULL,
                                    "Session %s was rebound for this network change already.",
                                    v[i]->profile);
                else
                        v[k++] = v[i];
        return helper_tunnel_rebind(cc->m, c, msg->msg_id, v, k, "tundctl", req->coalesce);
}

static int ctl_dispatch_watch(IpcConn *c, IpcMsg *msg, void *userdata) {
        CtlClient *cc = userdata;
        const Tund__Watch *req = ipc_msg_payload(msg, TUND__CTL_TO_HELPER__PAYLOAD_WATCH);
        helper_watch_subscribe(cc, req->profile);
        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
        Tund__Ack ack = TUND__ACK__INIT;
        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_ACK;
        r.ack = &ack;
        return helper_control_send(c, &r, msg->msg_id);
}

static int ctl_dispatch_stop_session(IpcConn *c, IpcMsg *msg, void *userdata) {
        CtlClient *cc = userdata;
        const Tund__CtlStopSession *req =
                ipc_msg_payload(msg, TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION);
        _cleanup_free_ Session **v = NULL;
        if (isempty(req->profile))
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                            "CtlStopSession: no profile given");
        size_t n = ctl_select(cc->m, c, msg, req->profile, SREQ_CTL_STOP, &v);
        if (n == 0)
                return 0;
        Session *s = v[0];
        PendingAck *a = ARRAY_APPEND(s->ctl_stops, s->n_ctl_stops);
        if (!a)
                return -ENOMEM;
        *a = (PendingAck){ ipc_conn_ref(c), msg->msg_id };
        const IpcPeer *peer = ipc_conn_get_peer(c);
        char reason[300];
        snprintf(reason, sizeof(reason), "stopped by an administrator (uid %u)%s%s",
                 peer ? (unsigned) peer->uid : 0u, isempty(req->reason) ? "" : ": ",
                 isempty(req->reason) ? "" : req->reason);
        helper_session_stop(s, reason);
        return 0;
}

static const IpcRoute control_routes[] = {
        { TUND__CTL_TO_HELPER__PAYLOAD_PING, "Ping", HELPER_POLICY_READ, IPC_ANY,
          ctl_dispatch_ping },
        { TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS, "GetStatus", HELPER_POLICY_READ, IPC_ANY,
          ctl_dispatch_get_status },
        { TUND__CTL_TO_HELPER__PAYLOAD_GET_PEERS, "CtlGetPeers", HELPER_POLICY_READ, IPC_ANY,
          ctl_dispatch_get_peers },
        { TUND__CTL_TO_HELPER__PAYLOAD_WATCH, "Watch", HELPER_POLICY_READ, IPC_ANY,
          ctl_dispatch_watch },
        { TUND__CTL_TO_HELPER__PAYLOAD_REBIND, "CtlRebind", HELPER_POLICY_ROOT, IPC_ANY,
          ctl_dispatch_rebind },
        { TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION, "CtlStopSession", HELPER_POLICY_ROOT, IPC_ANY,
          ctl_dispatch_stop_session },
};

int helper_control_accept(IpcServer *srv, IpcConn *c, void *userdata) {
        Manager *m = userdata;
        CtlClient *cc = calloc(1, sizeof(CtlClient));
        if (!cc)
                return -ENOMEM;
        cc->m = m;
        cc->conn = ipc_conn_ref(c);
        LIST_INSERT_HEAD(&m->clients, cc, link);
        m->n_clients++;
        static const IpcHandlers h = { .on_close = on_ctl_close };
        ipc_conn_set_handlers(c, &h, cc);
        ipc_conn_set_routes(c, control_routes, ELEMENTSOF(control_routes), m->policies,
                            ELEMENTSOF(m->policies));
        helper_manager_changed(m);
        return 0;
}
