/* The network shim's session with the helper (ARCHITECTURE.md "Starting a VPN"):
 * connect (retrying while the socket is missing) → StartSession{TUN, UAPI} → serve
 * ApplyNetworkSettings → READY=1 → … → SIGTERM → StopSession → revert → exit 0.
 * Any failure reverts first and exits non-zero for systemd to restart us. The setup before
 * and the revert after are the Manager's (netshim-manager.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "netshim-policy.h"
#include "netshim.h"
#include "shim.pb-c.h"
#include "string-util.h"

#define RETRY_MIN_USEC (100 * USEC_PER_MSEC)
#define RETRY_MAX_USEC (5 * USEC_PER_SEC)
#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)
#define PEERS_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* ---- requests from the helper ---- */

static int reply_settings(Manager *m, IpcMsg *req, const NetcfgResult *res) {
        Tund__ShimToHelper out = TUND__SHIM_TO_HELPER__INIT;
        Tund__NetworkSettingsResult r = TUND__NETWORK_SETTINGS_RESULT__INIT;
        r.ifname = (char *) res->ifname;
        r.ifindex = (uint32_t) res->ifindex;
        r.dns_backend = (char *) netcfg_dns_backend_to_string(res->dns_backend);
        r.routes_applied = res->routes_applied;
        r.rules_applied = res->rules_applied;
        r.table = res->table;
        r.rule_priority = res->rules_applied ? m->netcfg_opts.rule_priority : 0;
        r.kill_switch = m->profile->kill_switch;
        out.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_RESULT;
        out.network_settings_result = &r;
        return ipc_conn_send(m->conn, &out.base, req->msg_id, NULL, 0);
}

static int on_apply(Manager *m, IpcMsg *req, const Tund__ApplyNetworkSettings *a) {
        _cleanup_free_ char *err = NULL;
        if (!a->settings)
                return ipc_conn_reply_error(m->conn, req->msg_id, TUND__ERROR_CODE__ERROR_PROTOCOL,
                                            0, "ApplyNetworkSettings without settings");
        /* The profile, exactly: a tunnel's bug must not widen what CAP_NET_ADMIN does here. */
        int r = netshim_settings_check(m->config, a->settings, &err);
        if (r < 0) {
                log_warning("Refused network settings from the tunnel: %s", err);
                return ipc_conn_reply_error(m->conn, req->msg_id,
                                            TUND__ERROR_CODE__ERROR_PERMISSION, EPERM,
                                            "%s: refused: %s", m->profile->name, err);
        }
        NetcfgResult res = {};
        r = netcfg_apply(m->netcfg, a->settings, &res, &err);
        m->applied = true; /* even a failed apply may have been partly undone: revert anyway */
        if (r < 0) {
                log_error_errno(r, "Applying network settings to %s failed: %s", m->profile->ifname,
                                err ? err : "unknown error");
                return ipc_conn_reply_error(m->conn, req->msg_id, TUND__ERROR_CODE__ERROR_NETCFG, r,
                                            "%s: %s", m->profile->ifname, err ? err : strerror(-r));
        }
        free(err), err = NULL;
        /* The engine's UDP may now reach what the tunnel resolved, and nothing else. */
        if (m->profile->kill_switch) {
                r = netshim_killswitch_set(&m->opts, m->profile, a->settings, &err);
                if (r < 0) {
                        log_error_errno(r, "Cannot update the kill switch of %s: %s",
                                        m->profile->name, err);
                        return ipc_conn_reply_error(m->conn, req->msg_id,
                                                    TUND__ERROR_CODE__ERROR_NETCFG, r,
                                                    "%s: kill switch: %s", m->profile->name, err);
                }
                free(err), err = NULL;
        }
        r = netshim_watch_start(m);
        if (r < 0)
                log_warning_errno(r,
                                  "Cannot watch the routes and rules of %s (another program "
                                  "could delete them unnoticed): %m",
                                  m->profile->ifname);
        r = netcfg_state_save(m->netcfg, m->state_path, &err);
        if (r < 0)
                log_warning_errno(r,
                                  "Cannot save the applied state to %s (cleanup after a "
                                  "crash will rely on reconcile): %s",
                                  m->state_path, err ? err : "unknown error");
        log_info("Applied network settings to %s: %u addresses, %u routes, %u rules, DNS: %s.",
                 res.ifname, res.addresses_applied, res.routes_applied, res.rules_applied,
                 netcfg_dns_backend_to_string(res.dns_backend));
        return reply_settings(m, req, &res);
}

static int helper_dispatch_apply(IpcConn *c, IpcMsg *msg, void *userdata) {
        const uint32_t apply = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        return on_apply(userdata, msg, ipc_msg_payload(msg, apply));
}

/* The one request the helper makes of a shim; anything else is answered "unsupported". */
static const IpcRoute helper_routes[] = {
        { TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS, "ApplyNetworkSettings", 0, IPC_ANY,
          helper_dispatch_apply },
};

/* One-way news from the helper. */
static int on_message(IpcConn *c, IpcMsg *msg, void *userdata) {
        Manager *m = userdata;
        const Tund__TunnelExited *e =
                ipc_msg_payload(msg, TUND__HELPER_TO_SHIM__PAYLOAD_TUNNEL_EXITED);
        if (!e || m->state == NETSHIM_STOPPING)
                return 0; /* expected when stopping: the StopSession reply follows */
        if (e->signal)
                manager_fail(m, "the tunnel was killed by signal %d: %s", e->signal,
                             isempty(e->reason) ? "no reason given" : e->reason);
        else
                manager_fail(m, "the tunnel exited with status %d: %s", e->exit_status,
                             isempty(e->reason) ? "no reason given" : e->reason);
        return 0;
}

static void on_close(IpcConn *c, int error, const char *reason, void *userdata) {
        Manager *m = userdata;
        if (m->state != NETSHIM_DONE)
                manager_fail(m, "lost the connection to tund-helperd: %s", reason);
}

/* ---- STATUS= ---- */

void netshim_format_status(char *buf, size_t size, const Tund__PeerUpdate *u, uint64_t now_sec) {
        const Tund__PeerState *best = NULL;
        for (size_t i = 0; i < u->n_peers; i++)
                if (!best || u->peers[i]->last_handshake_sec > best->last_handshake_sec)
                        best = u->peers[i];
        if (!best) {
                snprintf(buf, size, "running, no peers");
                return;
        }
        char peers[32] = "";
        if (u->n_peers > 1)
                snprintf(peers, sizeof(peers), " (%zu peers)", u->n_peers);
        const char *ep = isempty(best->endpoint) ? "no endpoint" : best->endpoint;
        for (size_t i = 0; u->stale && i < u->n_peers; i++)
                if (u->peers[i]->stale) {
                        const Tund__PeerState *p = u->peers[i];
                        char hs[48] = "never";
                        if (p->last_handshake_sec > 0)
                                snprintf(
                                        hs, sizeof(hs), "%llu s ago",
                                        (unsigned long long) (now_sec > (uint64_t) p->last_handshake_sec
                                                                      ? now_sec -
                                                                                (uint64_t) p
                                                                                        ->last_handshake_sec
                                                                      : 0));
                        snprintf(buf, size, "stale: %s answers nothing%s, last handshake %s",
                                 isempty(p->endpoint) ? "no endpoint" : p->endpoint, peers, hs);
                        return;
                }
        if (best->last_handshake_sec <= 0)
                snprintf(buf, size, "connecting to %s%s, no handshake yet", ep, peers);
        else {
                uint64_t hs = (uint64_t) best->last_handshake_sec;
                snprintf(buf, size, "connected to %s%s, handshake %llu s ago", ep, peers,
                         (unsigned long long) (now_sec > hs ? now_sec - hs : 0));
        }
}

static void on_peers(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Manager *m = userdata;
        Tund__PeerUpdate *u =
                reply ? ipc_msg_payload(reply, TUND__HELPER_TO_SHIM__PAYLOAD_PEERS) : NULL;
        if (!u || m->state != NETSHIM_RUNNING)
                return;
        char buf[200];
        netshim_format_status(buf, sizeof(buf), u, (uint64_t) time(NULL));
        if (!streq(buf, m->status))
                set_status(m, "%s", buf);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (m->conn && m->state == NETSHIM_RUNNING && ipc_conn_get_pending(m->conn) == 0) {
                Tund__ShimToHelper out = TUND__SHIM_TO_HELPER__INIT;
                Tund__ShimGetPeers gp = TUND__SHIM_GET_PEERS__INIT;
                out.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS;
                out.get_peers = &gp;
                (void) ipc_conn_call(m->conn, &out.base, NULL, 0, PEERS_TIMEOUT_USEC, on_peers, m);
        }
        /* A time source is one-shot: it is off once it has fired, whatever its time says. */
        (void) sd_event_source_set_time_relative(s, STATUS_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* ---- starting ---- */

static void on_started(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Manager *m = userdata;
        /* Stopping already (SIGTERM while starting): the StopSession reply ends the run, and
         * a stopping shim must not become ready. */
        if (m->state != NETSHIM_STARTING)
                return;
        if (error < 0) {
                manager_fail(m, "StartSession failed: %s",
                             error == -ETIMEDOUT ? "no answer from tund-helperd in time"
                                                 : strerror(-error));
                return;
        }
        const Tund__Error *e = ipc_msg_error(reply);
        if (e) {
                manager_fail(m, "the session did not start: %s", e->message);
                return;
        }
        Tund__StartSessionReply *r =
                ipc_msg_payload(reply, TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY);
        if (!r) {
                manager_fail(m, "tund-helperd answered StartSession with an unexpected message");
                return;
        }
        m->state = NETSHIM_RUNNING;
        /* The helper has the fds now (the tunnel holds the TUN); ours keep the link alive
         * until we exit, so a crashed tunnel does not take the interface with it. */
        log_info("%s is up on %s (tunnel pid %u, wireguard-go %s pid %u).", m->profile->name,
                 m->profile->ifname, r->tunnel_pid,
                 !isempty(r->engine_version) ? r->engine_version : "?", r->engine_pid);
        (void) sd_notifyf(false, "READY=1\nSTATUS=running on %s, waiting for the first handshake",
                          m->profile->ifname);
        snprintf(m->status, sizeof(m->status), "running");
        if (sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                       on_status_timer, m) < 0)
                log_warning("Cannot arm the status timer; STATUS= will not be updated.");
}

static void on_ready(IpcConn *c, void *userdata) {
        Manager *m = userdata;
        Tund__ShimToHelper out = TUND__SHIM_TO_HELPER__INIT;
        Tund__StartSession ss = TUND__START_SESSION__INIT;
        ss.profile = m->profile->name;
        ss.ifname = m->profile->ifname;
        ss.config = m->config;
        ss.shim_pid = (uint32_t) getpid();
        ss.engine_version = m->engine.version; /* spares the tunnel a second engine run */
        out.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION;
        out.start_session = &ss;
        int fds[2] = { m->tun_fd, m->uapi_fd };
        m->state = NETSHIM_STARTING;
        set_status(m, "starting the tunnel");
        int64_t id = ipc_conn_call(c, &out.base, fds, 2, m->opts.start_timeout_usec, on_started, m);
        if (id < 0)
                manager_fail(m, "cannot send StartSession: %s", strerror((int) -id));
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
        manager_connect(m);
        return 0;
}

void manager_connect(Manager *m) {
        int fd = -EBADF;
        int r = ipc_connect_unix(m->opts.shim_socket, &fd);
        if (r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN) {
                /* The helper's socket is not there yet (no systemd socket unit, or early
                 * boot): wait, doubling the delay up to RETRY_MAX_USEC. */
                uint64_t delay = RETRY_MIN_USEC << MIN(m->retries, 6u);
                delay = MIN(delay, RETRY_MAX_USEC);
                if (m->retries++ == 0 || m->retries % 10 == 0)
                        log_info("Waiting for tund-helperd: %s: %s.", m->opts.shim_socket,
                                 strerror(-r));
                set_status(m, "waiting for tund-helperd (%s: %s)", m->opts.shim_socket,
                           strerror(-r));
                if (sd_event_add_time_relative(m->event, &m->retry_timer, CLOCK_MONOTONIC, delay, 0,
                                               on_retry, m) < 0)
                        manager_fail(m, "cannot arm the retry timer");
                return;
        }
        if (r < 0) {
                manager_fail(m, "cannot connect to %s: %s", m->opts.shim_socket, strerror(-r));
                return;
        }
        manager_attach(m, fd);
}

/* Serves the helper on fd, a connected stream socket (taken over): on_ready sends
 * StartSession once the handshake is done. */
void manager_attach(Manager *m, int fd) {
        int r = ipc_conn_new(&m->conn, m->event, fd, &ipc_channel_shim_client);
        if (r < 0) {
                manager_fail(m, "cannot set up the helper connection: %s", strerror(-r));
                return;
        }
        IpcHandlers h = { .on_ready = on_ready, .on_message = on_message, .on_close = on_close };
        ipc_conn_set_handlers(m->conn, &h, m);
        ipc_conn_set_routes(m->conn, helper_routes, ELEMENTSOF(helper_routes), NULL, 0);
        set_status(m, "connecting to tund-helperd");
}

/* ---- stopping ---- */

static void on_stopped(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Manager *m = userdata;
        const Tund__Error *e = reply ? ipc_msg_error(reply) : NULL;
        if (error < 0 || e)
                log_warning("StopSession: %s; reverting anyway.",
                            e ? e->message : strerror(-error));
        manager_finish(m, 0);
        log_info("%s is down.", m->profile->name);
}

int manager_on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        if (m->state == NETSHIM_STOPPING || m->state == NETSHIM_DONE)
                return 0;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        log_info("Stopping %s (%s).", m->profile->name, strsignal((int) si->ssi_signo));
        if (!m->conn || !ipc_conn_is_ready(m->conn)) {
                manager_finish(m, 0);
                return 0;
        }
        m->state = NETSHIM_STOPPING;
        Tund__ShimToHelper out = TUND__SHIM_TO_HELPER__INIT;
        Tund__StopSession st = TUND__STOP_SESSION__INIT;
        st.reason = (char *) "stop requested";
        out.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        out.stop_session = &st;
        if (ipc_conn_call(m->conn, &out.base, NULL, 0, m->opts.stop_timeout_usec, on_stopped, m) <
            0)
                manager_finish(m, 0);
        return 0;
}
