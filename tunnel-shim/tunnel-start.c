/* The start sequence: StartRequest, the engine, its device configuration over UAPI, the
 * network settings through the helper, the peers over UAPI, the StartResponse. The settings
 * go before the peers: they carry the endpoints the tunnel resolved, which a kill switch must
 * let through before the engine's first handshake leaves (else it is dropped, and WireGuard
 * tries again only 5 s later). */
#include "tunnel-internal.h"

/* ---- starting ---- */

static void start_done(Tunnel *t) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StartResponse r = TUND__START_RESPONSE__INIT;
        char text[256];

        t->state = TUNNEL_RUNNING;
        r.engine_pid = (uint32_t) t->engine_pid;
        r.engine_version = t->engine_info.version;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
        m.start_response = &r;
        (void) tunnel_send_msg(t, &m, t->start_reply_to);
        t->start_reply_to = 0;
        snprintf(text, sizeof(text), "running: wireguard-go %s (pid %d) on %s, %zu peer(s)",
                 t->engine_info.version, (int) t->engine_pid, t->tun_name,
                 t->start->config->n_peers);
        log_notice("%s", text);
        tunnel_send_status(t, TUND__SESSION_STATE__SESSION_STATE_RUNNING, text);
}

static void config_next(Tunnel *t);

static void on_settings_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Tunnel *t = userdata;
        if (!t->settings_pending || t->exiting)
                return;
        t->settings_pending = false;
        if (t->settings) {
                protobuf_c_message_free_unpacked(&t->settings->base, NULL);
                t->settings = NULL;
        }
        if (t->state != TUNNEL_STARTING)
                return;
        if (error < 0) {
                tunnel_start_fail(t, ipc_error_code(error, TUND__ERROR_CODE__ERROR_PEER_GONE),
                                  -error, "network settings request failed: %s", strerror(-error));
                return;
        }
        const Tund__Error *e = ipc_msg_error(reply);
        if (e) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_NETCFG, e->errno_value,
                                  "network settings were not applied: %s",
                                  e->message ? e->message : "?");
                return;
        }
        if (reply->payload_case != TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_PROTOCOL, EPROTO,
                                  "unexpected reply (case %u) to NetworkSettingsRequest",
                                  reply->payload_case);
                return;
        }
        t->settings_applied = true;
        config_next(t);
}

static void start_settings(Tunnel *t) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__NetworkSettingsRequest req = TUND__NETWORK_SETTINGS_REQUEST__INIT;
        req.settings = t->settings;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST;
        m.network_settings_request = &req;
        if (!tunnel_conn_usable(t)) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_PEER_GONE, ENOTCONN, "helper gone");
                return;
        }
        int64_t id = ipc_conn_call(t->conn, &m.base, NULL, 0, TUNNEL_SETTINGS_TIMEOUT_USEC,
                                   on_settings_reply, t);
        if (id < 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_INTERNAL, (int) -id,
                                  "cannot send the network settings request: %s",
                                  strerror((int) -id));
                return;
        }
        t->settings_pending = true;
}

static int on_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        Tunnel *t = userdata;
        t->grace_timer = sd_event_source_disable_unref(t->grace_timer);
        if (t->state == TUNNEL_STARTING)
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, t->grace_errno, "%s",
                                  t->grace_error);
        return 0;
}

static void on_config_reply(int error, const char *reply, size_t len, void *userdata) {
        Tunnel *t = userdata;
        const Tund__WgConfig *cfg = t->start->config;
        char what[96];
        _cleanup_free_ char *perr = NULL;
        UapiDevice d = {};

        t->config_call = NULL;
        if (t->config_step == 0)
                snprintf(what, sizeof(what),
                         "the interface settings (private key, listen port "
                         "%u, fwmark %u)",
                         cfg->listen_port, cfg->fwmark);
        else {
                char name[UAPI_PEER_NAME_LEN + 4];
                uapi_peer_name(cfg->peers[t->config_step - 1]->public_key, name);
                snprintf(what, sizeof(what), "peer %zu (%s)", t->config_step, name);
        }
        if (error == -ETIMEDOUT) {
                tunnel_start_fail(
                        t, TUND__ERROR_CODE__ERROR_TIMEOUT, ETIMEDOUT,
                        "engine did not answer on its UAPI socket %s for %s within %llu ms",
                        t->uapi_path, what,
                        (unsigned long long) (t->engine_timeout_usec / USEC_PER_MSEC));
                return;
        }
        if (error < 0) {
                /* A connection error during start usually means the engine is dying: its exit
                 * status and last ERROR line say more. Wait a moment for them. */
                snprintf(t->grace_error, sizeof(t->grace_error),
                         "engine closed its UAPI socket %s while configuring %s: %s", t->uapi_path,
                         what, strerror(-error));
                t->grace_errno = -error;
                if (sd_event_add_time_relative(t->event, &t->grace_timer, CLOCK_MONOTONIC,
                                               TUNNEL_EXIT_GRACE_USEC, 0, on_grace, t) < 0)
                        on_grace(NULL, 0, t);
                return;
        }
        int r = uapi_parse_reply(reply, len, &d, &perr);
        if (r < 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, EBADMSG,
                                  "engine sent a malformed UAPI reply for %s: %s", what,
                                  perr ? perr : strerror(-r));
                return;
        }
        int errnum = d.errnum;
        uapi_device_done(&d);
        if (errnum != 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, errnum,
                                  "engine refused %s: %s (errno %d)", what, uapi_errno_name(errnum),
                                  errnum);
                return;
        }
        t->config_step++;
        config_next(t);
}

/* Sends the configuration in pieces, so that a refusal names the peer. The engine is fresh
 * and the device part says replace_peers=true: the result is the whole configuration. */
static void config_next(Tunnel *t) {
        const Tund__WgConfig *cfg = t->start->config;
        _cleanup_secbuf_ SecBuf req = {};
        _cleanup_free_ char *err = NULL;
        int r;

        if (t->config_step == 1 && !t->settings_applied) {
                start_settings(t); /* its reply goes on with the peers */
                return;
        }
        if (t->config_step > cfg->n_peers) {
                tunnel_wipe_secrets(t);
                start_done(t);
                return;
        }
        if (t->config_step == 0)
                r = uapi_build_device(cfg, &req, &err);
        else
                r = uapi_build_peer(cfg, t->config_step - 1, t->endpoints, &req, &err);
        if (r < 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, -r, "%s",
                                  err ? err : strerror(-r));
                return;
        }
        r = uapi_call_start(t->event, t->uapi_path, &req, t->engine_timeout_usec, on_config_reply,
                            t, &t->config_call);
        if (r < 0)
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                                  "cannot talk to the engine on %s: %s", t->uapi_path,
                                  strerror(-r));
}

static void on_start_resolved(int error, const UapiEndpoint *endpoints, size_t n,
                              const char *message, void *userdata) {
        Tunnel *t = userdata;
        const Tund__WgConfig *cfg = t->start->config;
        _cleanup_secbuf_ SecBuf check = {};
        _cleanup_free_ char *err = NULL;
        int r;

        t->resolve = NULL;
        if (error < 0) {
                tunnel_start_fail(t, ipc_error_code(error, TUND__ERROR_CODE__ERROR_INVALID), -error,
                                  "%s", message);
                return;
        }
        if (!isempty(message)) /* a host name fell back to its last address */
                log_warning("%s", message);
        t->endpoints = calloc(MAX(n, (size_t) 1), sizeof(UapiEndpoint));
        if (!t->endpoints) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_INTERNAL, ENOMEM, "out of memory");
                return;
        }
        memcpy(t->endpoints, endpoints, n * sizeof(UapiEndpoint));

        /* Everything is checked before the engine runs: a bad key fails here, cleanly. */
        r = uapi_build_config(cfg, t->endpoints, &check, &err);
        if (r >= 0)
                r = tunnel_settings_derive(cfg, t->endpoints, &t->settings, &err);
        if (r < 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, -r, "%s",
                                  err ? err : strerror(-r));
                return;
        }
        r = tunnel_run_engine(t);
        if (r < 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, -r,
                                  "cannot start engine %s: %s", t->args.engine_path, strerror(-r));
                return;
        }
        t->config_step = 0;
        config_next(t);
}

/* The version for StartResponse (and a clear error for a binary that does not run). The TUN's
 * framing cannot be checked here: on read, TUNGETIFF reports bit 0x1000 as IFF_NOFILTER ("no
 * socket filter attached"), the same bit as IFF_NO_PI, so a TUN created without IFF_NO_PI
 * looks like one created with it. The shim, which creates the TUN, picks the flavour. */
static int detect_engine(Tunnel *t, EngineTunFlavour override, char **ret_error) {
        /* The file that will run (main() verified it), not whatever the path names now. */
        int fd = tunnel_engine_verified_fd();
        if (fd >= 0)
                return engine_detect_fd(fd, t->args.engine_path, override, &t->engine_info,
                                        ret_error);
        return engine_detect_full(t->args.engine_path, override, t->engine_timeout_usec,
                                  &t->engine_info, ret_error);
}

static int check_engine(Tunnel *t, char **ret_error) {
        int r = detect_engine(t, ENGINE_TUN_FLAVOUR_UNKNOWN, ret_error);
        if (r == -EPROTONOSUPPORT) {
                /* An unknown version is the shim's problem (it chose the TUN flags), not ours. */
                free(*ret_error);
                *ret_error = NULL;
                r = detect_engine(t, ENGINE_TUN_FLAVOUR_PI, ret_error);
                if (r >= 0 && !t->engine_info.version[0])
                        strcpy(t->engine_info.version, "unknown");
        }
        return r;
}

int helper_dispatch_start(IpcConn *c, IpcMsg *m, void *userdata) {
        Tunnel *t = userdata;
        Tund__StartRequest *req = ipc_msg_payload(m, TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST);
        _cleanup_free_ char *err = NULL;
        int r;

        if (!req)
                return -EINVAL;
        t->start_msg = ipc_msg_keep(m);
        t->start = req;
        t->start_reply_to = m->msg_id;
        t->state = TUNNEL_STARTING;
        t->engine_timeout_usec = (req->engine_timeout_ms ? req->engine_timeout_ms
                                                         : TUNNEL_ENGINE_TIMEOUT_DEFAULT_MS) *
                                 USEC_PER_MSEC;
        log_info("start requested for profile %s on %s", tunnel_profile_name(t), req->ifname);
        health_init(&t->health, req->reresolve_after_sec * USEC_PER_SEC,
                    req->stale_after_sec * USEC_PER_SEC);

        if (!req->config) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, EINVAL,
                                  "StartRequest carries no configuration");
                return 0;
        }
        if (!streq_ptr(req->ifname, t->tun_name)) {
                tunnel_start_fail(
                        t, TUND__ERROR_CODE__ERROR_INVALID, EINVAL,
                        "StartRequest is for interface \"%.15s\" but the TUN on fd %d is %s",
                        req->ifname ? req->ifname : "", t->tun_fd, t->tun_name);
                return 0;
        }
        if (!isempty(req->engine_version) && strlen(req->engine_version) < ENGINE_VERSION_MAX) {
                /* The shim detected it (and chose the TUN flags by it): running the engine
                 * once more would cost a Go process start on every VPN start. */
                snprintf(t->engine_info.path, sizeof(t->engine_info.path), "%s",
                         t->args.engine_path);
                snprintf(t->engine_info.version, sizeof(t->engine_info.version), "%s",
                         req->engine_version);
                r = 0;
        } else
                r = check_engine(t, &err);
        if (r < 0) {
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_ENGINE, -r, "%s",
                                  err ? err : strerror(-r));
                return 0;
        }
        r = tunnel_resolve_start(t->event, req->config, TUNNEL_RESOLVE_TIMEOUT_USEC,
                                 on_start_resolved, t, &t->resolve, &err);
        if (r < 0)
                tunnel_start_fail(t, TUND__ERROR_CODE__ERROR_INVALID, -r, "%s",
                                  err ? err : strerror(-r));
        return 0;
}
