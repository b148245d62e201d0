/* The tunnel channel, seen from the helper: NetworkSettingsRequest relayed to the session's
 * shim, one-way events (Log, Status, PeerUpdate) to the journal and to watchers, and the
 * GetPeers / Rebind relays (fan-out over sessions, one reply when all have answered). The
 * tunnel is not trusted: the profile of what it sends is always its session's. */
#include <ctype.h>
#include <stdio.h>

#include "log.h"
#include "helper.h"

static void on_tunnel_close(IpcConn *c, int error, const char *reason, void *userdata) {
        helper_session_tunnel_closed(userdata, error, reason);
}

/* ---- NetworkSettingsRequest: tunnel → helper → shim → helper → tunnel ---- */

typedef struct SettingsRelay {
        Manager *m;
        uint64_t session_id;
        IpcConn *tunnel;
        uint64_t request_id;
        Tund__NetworkSettings *settings;
} SettingsRelay;

static void settings_relay_free(SettingsRelay *r) {
        ipc_conn_unref(r->tunnel);
        helper_proto_freep(&r->settings);
        free(r);
}

static void on_settings_reply(IpcConn *shim, int error, IpcMsg *reply, void *userdata) {
        SettingsRelay *r = userdata;
        Session *s = helper_manager_find_session_id(r->m, r->session_id);
        const char *profile = s ? s->profile : "?";

        if (error < 0) {
                Tund__ErrorCode code = ipc_error_code(error, TUND__ERROR_CODE__ERROR_PEER_GONE);
                (void) ipc_conn_reply_error(r->tunnel, r->request_id, code, -error,
                                            "network shim of %s %s", profile,
                                            error == -ETIMEDOUT ? "did not apply the settings "
                                                                  "in time"
                                                                : "went away");
        } else if (ipc_msg_error(reply)) {
                const Tund__Error *e = ipc_msg_error(reply);
                if (s)
                        helper_session_set_last_error(s, "network settings refused: %s",
                                                      e->message);
                (void) ipc_conn_reply_error(r->tunnel, r->request_id, e->code, e->errno_value, "%s",
                                            e->message);
        } else {
                const Tund__NetworkSettingsResult *res = ipc_msg_payload(
                        reply, TUND__SHIM_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_RESULT);
                if (!res) {
                        (void) ipc_conn_reply_error(r->tunnel, r->request_id,
                                                    TUND__ERROR_CODE__ERROR_PROTOCOL, 0,
                                                    "network shim answered with something else");
                } else {
                        if (s) {
                                helper_proto_freep(&s->settings);
                                helper_proto_freep(&s->applied);
                                s->settings = TAKE_PTR(r->settings);
                                s->applied = (Tund__NetworkSettingsResult *) helper_proto_dup(
                                        &res->base);
                        }
                        Tund__HelperToTunnel out = TUND__HELPER_TO_TUNNEL__INIT;
                        out.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT;
                        out.network_settings_result = (Tund__NetworkSettingsResult *) res;
                        (void) ipc_conn_send(r->tunnel, &out.base, r->request_id, NULL, 0);
                }
        }
        settings_relay_free(r);
}

static int tunnel_dispatch_settings(IpcConn *c, IpcMsg *msg, void *userdata) {
        Session *s = userdata;
        const Tund__NetworkSettingsRequest *req =
                ipc_msg_payload(msg, TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST);
        if (!helper_session_permits(s->state, SREQ_TUNNEL_SETTINGS))
                return ipc_conn_reply_error(c, msg->msg_id, helper_session_refusal_code(s->state),
                                            0, "NetworkSettingsRequest: session %s is %s",
                                            s->profile, helper_session_state_to_string(s->state));
        if (!req->settings)
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                            "NetworkSettingsRequest without settings");
        if (!s->shim)
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_PEER_GONE, 0,
                                            "the network shim of %s is gone", s->profile);

        SettingsRelay *r = calloc(1, sizeof(SettingsRelay));
        if (!r)
                return -ENOMEM;
        *r = (SettingsRelay){
                .m = s->m,
                .session_id = s->id,
                .tunnel = ipc_conn_ref(c),
                .request_id = msg->msg_id,
                .settings = (Tund__NetworkSettings *) helper_proto_dup(&req->settings->base),
        };
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__ApplyNetworkSettings apply = TUND__APPLY_NETWORK_SETTINGS__INIT;
        apply.settings = req->settings;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        out.apply_network_settings = &apply;
        int64_t k = ipc_conn_call(s->shim->conn, &out.base, NULL, 0, HELPER_SETTINGS_TIMEOUT_USEC,
                                  on_settings_reply, r);
        if (k < 0) {
                settings_relay_free(r);
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_PEER_GONE,
                                            (int) -k, "cannot reach the network shim of %s",
                                            s->profile);
        }
        return 0;
}

/* ---- one-way events ---- */

static bool message_id_valid(const char *id) {
        if (!id || strlen(id) != 32)
                return false;
        for (size_t i = 0; i < 32; i++)
                if (!isxdigit((unsigned char) id[i]))
                        return false;
        return true;
}

static int log_level_to_syslog(Tund__LogLevel l) {
        switch (l) {
        case TUND__LOG_LEVEL__LOG_LEVEL_DEBUG:
                return LOG_DEBUG;
        case TUND__LOG_LEVEL__LOG_LEVEL_INFO:
                return LOG_INFO;
        case TUND__LOG_LEVEL__LOG_LEVEL_NOTICE:
                return LOG_NOTICE;
        case TUND__LOG_LEVEL__LOG_LEVEL_WARNING:
                return LOG_WARNING;
        default:
                return LOG_ERR;
        }
}

static void tunnel_event_log(Session *s, Tund__Log *log) {
        const char *text = log->message ? log->message : "";
        int level = log_level_to_syslog(log->level);
        const LogFields f = {
                .profile = s->profile,
                .tunnel_pid = s->tunnel_pid,
                .message_id = message_id_valid(log->message_id) ? log->message_id : NULL,
                .source = "tunnel",
        };
        log_fields_errno(level, 0, &f, "%s", text);
        free(s->last_log);
        s->last_log = strdup(text);
        if (level <= LOG_WARNING)
                helper_session_set_last_error(s, "%s", text);
        /* The message is freed by libipc: borrowed strings go back before that. */
        char *theirs = log->profile;
        log->profile = s->profile;
        log->pid = log->pid ? log->pid : (uint32_t) s->tunnel_pid;
        helper_watch_send_log(s->m, s->profile, log);
        log->profile = theirs;
}

static int on_tunnel_message(IpcConn *c, IpcMsg *msg, void *userdata) {
        Session *s = userdata;
        Tund__TunnelToHelper *t = (Tund__TunnelToHelper *) msg->msg;
        if (msg->msg_id != 0)
                return ipc_conn_reply_error(c, msg->msg_id, TUND__ERROR_CODE__ERROR_UNSUPPORTED, 0,
                                            "the helper serves no such tunnel request");
        if (!helper_session_permits(s->state, SREQ_TUNNEL_EVENT))
                return 0;
        switch (t->payload_case) {
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG:
                tunnel_event_log(s, t->log);
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS: {
                /* The tunnel's health verdict; the helper's own states are its own. */
                if (s->state == SESSION_RUNNING &&
                    t->status->state == TUND__SESSION_STATE__SESSION_STATE_STALE)
                        s->stale = true;
                else if (s->state == SESSION_RUNNING &&
                         t->status->state == TUND__SESSION_STATE__SESSION_STATE_RUNNING)
                        s->stale = false;
                if (s->state == SESSION_RUNNING)
                        t->status->state = helper_session_state_to_proto(s->state, s->stale);
                char *theirs = t->status->profile;
                t->status->profile = s->profile;
                helper_watch_send_status(s->m, s->profile, t->status);
                t->status->profile = theirs;
                break;
        }
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS: {
                char *theirs = t->peers->profile;
                t->peers->profile = s->profile;
                if (!t->peers->delta) {
                        helper_proto_freep(&s->peers);
                        s->peers = (Tund__PeerUpdate *) helper_proto_dup(&t->peers->base);
                }
                helper_watch_send_peers(s->m, s->profile, t->peers);
                t->peers->profile = theirs;
                break;
        }
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_ERROR:
                helper_session_set_last_error(s, "%s", t->error->message);
                break;
        default:
                log_session(LOG_DEBUG, s->profile, s->tunnel_pid, NULL,
                            "Ignoring one-way tunnel message (case %u).", t->payload_case);
        }
        return 0;
}

static const IpcRoute tunnel_routes[] = {
        { TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST, "NetworkSettingsRequest",
          HELPER_POLICY_NONE, IPC_ANY, tunnel_dispatch_settings },
};

void helper_tunnel_conn_setup(Session *s) {
        static const IpcHandlers h = { .on_message = on_tunnel_message,
                                       .on_close = on_tunnel_close };
        ipc_conn_set_handlers(s->tunnel, &h, s);
        ipc_conn_set_routes(s->tunnel, tunnel_routes, ELEMENTSOF(tunnel_routes), NULL, 0);
}

/* ---- GetPeers / Rebind fan-out ---- */

typedef struct Gather {
        Manager *m;
        GatherKind kind;
        IpcConn *reply_to;
        uint64_t reply_id;
        unsigned pending;
        Tund__PeerUpdate **peers; /* owned copies */
        size_t n_peers;
        char *failed; /* "a: why; b: why" */
        Tund__ErrorCode code;
        char reason[128]; /* a rebind's, for the log when nobody waits (reply_to NULL) */
} Gather;

typedef struct GatherCall {
        Gather *g;
        uint64_t session_id;
        char *profile;
} GatherCall;

static void gather_finish(Gather *g) {
        if (g->kind == GATHER_SHIM_PEERS) {
                if (g->n_peers == 1) {
                        Tund__HelperToShim r = TUND__HELPER_TO_SHIM__INIT;
                        r.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_PEERS;
                        r.peers = g->peers[0];
                        (void) ipc_conn_send(g->reply_to, &r.base, g->reply_id, NULL, 0);
                } else
                        (void) ipc_conn_reply_error(g->reply_to, g->reply_id, g->code, 0, "%s",
                                                    g->failed ? g->failed : "no answer");
        } else if (g->kind == GATHER_CTL_PEERS) {
                if (g->failed && g->n_peers == 0)
                        (void) ipc_conn_reply_error(g->reply_to, g->reply_id, g->code, 0, "%s",
                                                    g->failed);
                else {
                        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
                        Tund__PeersReply pr = TUND__PEERS_REPLY__INIT;
                        pr.n_profiles = g->n_peers;
                        pr.profiles = g->peers;
                        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_PEERS;
                        r.peers = &pr;
                        (void) helper_control_send(g->reply_to, &r, g->reply_id);
                }
        } else if (!g->reply_to) {
                if (g->failed)
                        log_warning("Rebind after %s failed: %s", g->reason, g->failed);
        } else {
                if (g->failed)
                        (void) ipc_conn_reply_error(g->reply_to, g->reply_id, g->code, 0,
                                                    "rebind failed: %s", g->failed);
                else {
                        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
                        Tund__Ack ack = TUND__ACK__INIT;
                        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_ACK;
                        r.ack = &ack;
                        (void) helper_control_send(g->reply_to, &r, g->reply_id);
                }
        }
        for (size_t i = 0; i < g->n_peers; i++)
                helper_proto_freep(&g->peers[i]);
        free(g->peers);
        free(g->failed);
        ipc_conn_unref(g->reply_to);
        free(g);
}

static void gather_fail(Gather *g, const char *profile, Tund__ErrorCode code, const char *why) {
        char *t = NULL;
        if (asprintf(&t, "%s%s%s: %s", g->failed ? g->failed : "", g->failed ? "; " : "", profile,
                     why) >= 0) {
                free(g->failed);
                g->failed = t;
        }
        if (g->code == TUND__ERROR_CODE__ERROR_NONE)
                g->code = code;
}

static void on_gather_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        GatherCall *gc = userdata;
        Gather *g = gc->g;
        Session *s = helper_manager_find_session_id(g->m, gc->session_id);

        if (error < 0)
                gather_fail(g, gc->profile,
                            ipc_error_code(error, TUND__ERROR_CODE__ERROR_PEER_GONE),
                            error == -ETIMEDOUT ? "the tunnel did not answer in time"
                                                : "the tunnel went away");
        else if (ipc_msg_error(reply))
                gather_fail(g, gc->profile, ipc_msg_error(reply)->code,
                            ipc_msg_error(reply)->message);
        else if (g->kind == GATHER_CTL_REBIND) {
                if (!ipc_msg_payload(reply, TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK))
                        gather_fail(g, gc->profile, TUND__ERROR_CODE__ERROR_PROTOCOL,
                                    "unexpected answer to Rebind");
        } else {
                Tund__PeerUpdate *pu =
                        ipc_msg_payload(reply, TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS);
                Tund__PeerUpdate **v = pu ? realloc(g->peers, (g->n_peers + 1) * sizeof(*v)) : NULL;
                if (!pu)
                        gather_fail(g, gc->profile, TUND__ERROR_CODE__ERROR_PROTOCOL,
                                    "unexpected answer to GetPeers");
                else if (v) {
                        g->peers = v;
                        char *theirs = pu->profile;
                        pu->profile = gc->profile; /* ours, not the tunnel's word */
                        v[g->n_peers] = (Tund__PeerUpdate *) helper_proto_dup(&pu->base);
                        if (v[g->n_peers])
                                g->n_peers++;
                        if (s) {
                                helper_proto_freep(&s->peers);
                                s->peers = (Tund__PeerUpdate *) helper_proto_dup(&pu->base);
                        }
                        pu->profile = theirs;
                }
        }
        free(gc->profile);
        free(gc);
        if (--g->pending == 0)
                gather_finish(g);
}

static int gather_start(Manager *m, GatherKind kind, IpcConn *reply_to, uint64_t reply_id,
                        Session **sessions, size_t n, const char *reason, bool coalesce) {
        Gather *g = calloc(1, sizeof(Gather));
        if (!g)
                return -ENOMEM;
        *g = (Gather){ .m = m,
                       .kind = kind,
                       .reply_to = reply_to ? ipc_conn_ref(reply_to) : NULL,
                       .reply_id = reply_id,
                       .pending = 1 };
        snprintf(g->reason, sizeof(g->reason), "%s", reason ? reason : "tundctl");

        Tund__HelperToTunnel out = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__GetPeers gp = TUND__GET_PEERS__INIT;
        Tund__Rebind rb = TUND__REBIND__INIT;
        rb.reason = g->reason;
        if (kind == GATHER_CTL_REBIND) {
                uint64_t now = 0;
                sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                for (size_t i = 0; i < n; i++) {
                        sessions[i]->rebound_gen = m->roam.gen;
                        sessions[i]->rebound_usec = now;
                        sessions[i]->rebound_coalesce = coalesce; /* helper_roam_rebound() */
                }
                out.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND;
                out.rebind = &rb;
        } else {
                out.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS;
                out.get_peers = &gp;
        }
        uint64_t timeout =
                kind == GATHER_CTL_REBIND ? HELPER_REBIND_TIMEOUT_USEC : HELPER_PEERS_TIMEOUT_USEC;
        for (size_t i = 0; i < n; i++) {
                Session *s = sessions[i];
                GatherCall *gc = calloc(1, sizeof(GatherCall));
                if (gc)
                        *gc = (GatherCall){ g, s->id, strdup(s->profile) };
                if (!gc || !gc->profile) {
                        if (gc)
                                free(gc);
                        gather_fail(g, s->profile, TUND__ERROR_CODE__ERROR_INTERNAL,
                                    "out of memory");
                        continue;
                }
                int64_t k = s->tunnel ? ipc_conn_call(s->tunnel, &out.base, NULL, 0, timeout,
                                                      on_gather_reply, gc)
                                      : -ENOTCONN;
                if (k < 0) {
                        gather_fail(g, s->profile, TUND__ERROR_CODE__ERROR_PEER_GONE,
                                    "the tunnel is not connected");
                        free(gc->profile);
                        free(gc);
                        continue;
                }
                g->pending++;
        }
        if (--g->pending == 0)
                gather_finish(g);
        return 0;
}

int helper_tunnel_gather(Manager *m, GatherKind kind, IpcConn *reply_to, uint64_t reply_id,
                         Session **sessions, size_t n) {
        return gather_start(m, kind, reply_to, reply_id, sessions, n, NULL, false);
}

int helper_tunnel_rebind(Manager *m, IpcConn *reply_to, uint64_t reply_id, Session **sessions,
                         size_t n, const char *reason, bool coalesce) {
        return gather_start(m, GATHER_CTL_REBIND, reply_to, reply_id, sessions, n, reason,
                            coalesce);
}
