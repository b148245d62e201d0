/* The network shim's session with the helper (ARCHITECTURE.md "Starting a VPN"):
 * connect (retrying while the socket is missing) → StartSession{TUN, UAPI} → serve
 * ApplyNetworkSettings → READY=1 → … → SIGTERM → StopSession → revert → exit 0.
 * Any failure reverts first and exits non-zero for systemd to restart us. */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "netshim-policy.h"
#include "netshim-tun.h"
#include "error-util.h"
#include "netshim.h"
#include "shim.pb-c.h"
#include "string-util.h"

_Static_assert(PROFILE_FWMARK_AUTO == NETCFG_FWMARK_DEFAULT,
               "a full tunnel's automatic fwmark must be the one libnetcfg's rules exempt");

#define RETRY_MIN_USEC (100 * USEC_PER_MSEC)
#define RETRY_MAX_USEC (5 * USEC_PER_SEC)
#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)
#define PEERS_TIMEOUT_USEC (5 * USEC_PER_SEC)

static void manager_connect(Manager *m);
static void manager_attach(Manager *m, int fd);

void set_status(Manager *m, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->status, sizeof(m->status), fmt, ap);
        va_end(ap);
        /* Text from the helper (reasons, endpoints) goes in here: a newline in it would add
         * READY=1 or MAINPID= lines to our notification. */
        string_sanitize_inplace(m->status);
        (void) sd_notifyf(false, "STATUS=%s", m->status);
}

char *netshim_state_path(const NetshimOptions *opts, const char *profile) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s.state", opts->state_dir, profile) < 0)
                return NULL;
        return p;
}

int manager_new(Manager **ret, const NetshimOptions *opts) {
        Manager *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->opts = *opts;
        m->tun_fd = m->uapi_fd = -EBADF;
        m->exit_code = NETSHIM_EXIT_FAILURE;
        m->netcfg_opts = (NetcfgOptions){
                .bus_address = opts->bus_address,
                .resolvconf = opts->resolvconf,
        };
        int r = sd_event_default(&m->event);
        if (r < 0) {
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        if (m->conn) {
                ipc_conn_close(m->conn, 0, NULL);
                m->conn = ipc_conn_unref(m->conn);
        }
        netshim_watch_stop(m);
        netshim_killswitch_watch_stop(m);
        sd_event_source_disable_unref(m->retry_timer);
        sd_event_source_disable_unref(m->status_timer);
        sd_event_source_disable_unref(m->stop_timer);
        sd_event_source_disable_unref(m->sigterm);
        sd_event_source_disable_unref(m->sigint);
        netcfg_free(m->netcfg);
        safe_close(m->tun_fd);
        safe_close(m->uapi_fd);
        profile_wg_config_free(m->config);
        profile_free(m->profile);
        free(m->state_path);
        free(m->table_owner);
        free(m->uapi_path);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

/* ---- ending ---- */

static void manager_revert(Manager *m) {
        _cleanup_free_ char *err = NULL;
        if (m->netcfg) {
                int r = netcfg_revert(m->netcfg, &err);
                if (r < 0) {
                        /* The state file stays for --cleanup (ExecStopPost) to retry. */
                        log_warning_errno(r,
                                          "Reverting the network settings of %s failed, "
                                          "keeping %s for the cleanup: %s",
                                          m->profile->ifname, m->state_path,
                                          err ? err : "unknown error");
                        m->applied = false;
                        return;
                }
                if (m->applied)
                        log_info("Reverted the network settings of %s.", m->profile->ifname);
        }
        if (m->state_path && unlink(m->state_path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Cannot remove %s: %m", m->state_path);
        m->applied = false;
        /* Nothing of ours is left in the table and span: another profile may have them. */
        if (m->slot_claimed)
                netshim_slot_release(m->opts.state_dir, m->profile->name);
        m->slot_claimed = false;
}

void manager_finish(Manager *m, int code) {
        if (m->state == NETSHIM_DONE)
                return;
        m->state = NETSHIM_DONE;
        m->exit_code = code;
        if (m->conn) {
                ipc_conn_close(m->conn, 0, NULL);
                m->conn = ipc_conn_unref(m->conn);
        }
        netshim_watch_stop(m); /* our own revert is no one else's deletion */
        netshim_killswitch_watch_stop(m);
        manager_revert(m);
        /* The TUN vanishes with its last fd, taking link-bound routes and resolved's settings. */
        m->tun_fd = safe_close(m->tun_fd);
        m->uapi_fd = safe_close(m->uapi_fd);
        if (m->uapi_path)
                (void) unlink(m->uapi_path);
        sd_event_exit(m->event, code);
}

void manager_fail(Manager *m, const char *fmt, ...) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (m->state == NETSHIM_DONE)
                return;
        set_status(m, "failed: %s", buf);
        manager_finish(m, NETSHIM_EXIT_FAILURE);
        /* The last line says why; systemd shows it in `systemctl status`. */
        log_error("%s: %s", m->profile ? m->profile->name : "tund", buf);
}

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

static void manager_connect(Manager *m) {
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
static void manager_attach(Manager *m, int fd) {
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

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
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

/* ---- setup ---- */

static const char *manager_table_owner(uint32_t table, void *userdata) {
        Manager *m = userdata;
        free(m->table_owner);
        m->table_owner = netshim_slot_owner(m->opts.state_dir, table);
        return m->table_owner;
}

static int manager_cleanup_predecessor(Manager *m) {
        /* What a killed predecessor applied is in its state file; what it could not record,
         * reconcile finds by tund's protocol number, table and rule range. */
        _cleanup_free_ char *err = NULL;
        NetcfgContext *old = NULL;
        int r = netcfg_state_load(&old, m->state_path, &m->netcfg_opts, &err);
        if (r >= 0) {
                free(err), err = NULL;
                r = netcfg_revert(old, &err);
                netcfg_free(old);
                if (r < 0)
                        log_warning("Reverting a predecessor's settings failed: %s", err);
                else
                        log_notice("Reverted what a previous run of %s left behind.",
                                   m->profile->name);
                (void) unlink(m->state_path);
        }
        free(err), err = NULL;
        r = netcfg_reconcile(m->profile->ifname, &m->netcfg_opts, &err);
        if (r > 0)
                log_notice("Removed %d leftover routes/rules of %s.", r, m->profile->ifname);
        else if (r < 0)
                log_warning("Reconcile of %s failed: %s", m->profile->ifname, err);
        return 0;
}

int netshim_profile_load(const NetshimOptions *opts, Profile **ret, char **ret_error) {
        if (!opts->profile_stdin)
                return profile_load_name(opts->config_dir, opts->profile_name, ret, ret_error);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s.conf", opts->config_dir ?: PROFILE_DEFAULT_DIR,
                     opts->profile_name) < 0)
                return -ENOMEM;
        /* From the start: --cleanup may read it after the service did. */
        if (lseek(STDIN_FILENO, 0, SEEK_SET) < 0)
                return error_set(ret_error, negative_errno(),
                                 "%s: standard input is not the profile file: %m", path);
        return profile_load_fd(STDIN_FILENO, path, ret, ret_error);
}

static int manager_load(Manager *m) {
        _cleanup_free_ char *err = NULL;
        int r = netshim_profile_load(&m->opts, &m->profile, &err);
        if (r < 0) {
                log_error("%s", err ? err : strerror(-r));
                return -EINVAL;
        }
        r = profile_to_wg_config(m->profile, &m->config);
        if (r < 0)
                return log_error_errno(r, "Cannot build the tunnel configuration: %m");
        free(err), err = NULL;
        if (m->opts.engine) {
                m->engine = *m->opts.engine;
                if (m->profile->tun_flavour != ENGINE_TUN_FLAVOUR_UNKNOWN)
                        m->engine.flavour = m->profile->tun_flavour;
        } else {
                r = engine_detect_full(m->opts.engine_path, m->profile->tun_flavour, 0, &m->engine,
                                       &err);
                if (r < 0) {
                        log_error("%s", err ? err : strerror(-r));
                        return -EINVAL;
                }
        }
        m->state_path = netshim_state_path(&m->opts, m->profile->name);
        if (asprintf(&m->uapi_path, "%s/%s.sock", m->opts.uapi_dir, m->profile->ifname) < 0 ||
            !m->state_path)
                return log_oom();
        return 0;
}

/* First of all: a kill switch holds before there is a link to leak around (also when the
 * boot unit set it already: this is its reconcile). One the profile no longer asks for goes. */
static int manager_killswitch(Manager *m) {
        _cleanup_free_ char *err = NULL;
        int r;
        if (!m->profile->kill_switch) {
                if (!netcfg_killswitch_exists(m->opts.killswitch_dir, m->profile->name))
                        return 0; /* never had one: nf_tables is not touched */
                r = netcfg_killswitch_remove(m->opts.killswitch_dir, m->profile->name, &err);
                if (r > 0)
                        log_notice("Lifted the kill switch of %s: the profile no longer sets "
                                   "KillSwitch = yes.",
                                   m->profile->name);
                else if (r < 0)
                        log_warning_errno(r, "Cannot lift the kill switch of %s: %s",
                                          m->profile->name, err);
                return 0;
        }
        r = netshim_killswitch_set(&m->opts, m->profile, NULL, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot set the kill switch of %s: %s", m->profile->name,
                                       err);
        r = netshim_killswitch_fallbacks(&m->opts, m->profile, m->config);
        if (r < 0)
                return log_oom();
        log_notice("Kill switch of %s is on: nothing leaves or enters around %s.", m->profile->name,
                   m->profile->ifname);
        r = netshim_killswitch_watch_start(m);
        if (r < 0)
                log_warning_errno(r,
                                  "Cannot watch the kill switch of %s (another program could "
                                  "delete it unnoticed): %m",
                                  m->profile->name);
        return 0;
}

int manager_start(Manager *m) {
        return manager_start_fd(m, -EBADF);
}

int manager_start_fd(Manager *m, int helper_fd) {
        _cleanup_close_ int fd = helper_fd;
        int r = manager_load(m);
        if (r < 0)
                return r;
        if (mkdir(m->opts.state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", m->opts.state_dir);
        _cleanup_free_ char *err = NULL;
        r = manager_killswitch(m);
        if (r < 0)
                return r;
        unsigned slot;
        r = netshim_slot_claim(m->opts.state_dir, m->profile->name, &slot, &err);
        if (r < 0)
                return log_error_errno(r, "Profile %s: %s", m->profile->name, err);
        m->slot_claimed = true;
        m->netcfg_opts.table = NETCFG_SLOT_TABLE(slot);
        m->netcfg_opts.rule_priority = NETCFG_SLOT_PRIORITY(slot);
        m->netcfg_opts.table_owner = manager_table_owner;
        m->netcfg_opts.table_owner_userdata = m;
        /* The engine has no CAP_NET_ADMIN to mark its packets: a full tunnel lets its user's
         * packets past instead. */
        struct passwd *pw = m->opts.engine_user ? getpwnam(m->opts.engine_user) : NULL;
        if (pw) {
                m->netcfg_opts.exempt_uid_set = true;
                m->netcfg_opts.exempt_uid = pw->pw_uid;
        } else if (m->opts.engine_user)
                log_warning("No user \"%s\": a full tunnel will exempt the engine by fwmark, "
                            "which an engine without CAP_NET_ADMIN does not set.",
                            m->opts.engine_user);
        manager_cleanup_predecessor(m);

        r = netshim_tun_create(m->profile->ifname, m->engine.flavour, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "Cannot create the TUN device: %m");
        m->tun_fd = r;

        /* The engine's group may use the socket (root:tund 0660). Giving a file to a group
         * we are in needs no CAP_CHOWN, so the shim keeps only CAP_NET_ADMIN. */
        gid_t gid = (gid_t) -1;
        mode_t mode = 0600;
        struct group *g = m->opts.engine_group ? getgrnam(m->opts.engine_group) : NULL;
        if (g) {
                gid = g->gr_gid;
                mode = 0660;
        }
        free(err), err = NULL;
        r = netshim_uapi_listen_at(m->opts.uapi_dir, m->profile->ifname, mode, (uid_t) -1, gid,
                                   &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "Cannot create the UAPI socket: %m");
        m->uapi_fd = r;
        r = netcfg_new(&m->netcfg, m->profile->ifname, 0, &m->netcfg_opts, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "Cannot open netlink: %m");

        log_info("Profile %s: %s, wireguard-go %s (%s TUN), %zu peer%s.", m->profile->name,
                 m->profile->ifname, isempty(m->engine.version) ? "?" : m->engine.version,
                 engine_tun_flavour_to_string(m->engine.flavour), m->profile->n_peers,
                 m->profile->n_peers == 1 ? "" : "s");

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up signal handling: %m");
        if (fd >= 0)
                manager_attach(m, TAKE_FD(fd));
        else
                manager_connect(m);
        return 0;
}
