/* A session's start: StartSession checked, the tunnel verified and spawned with the shim's TUN
 * and UAPI fds, the StartRequest sent, its reply relayed to the shim. (helper-session.c: the
 * rest of its life and its end.) */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "log.h"
#include "helper-spawn.h"
#include "verify.h"
#include "helper.h"
#include "string-util.h"

/* ---- the start ---- */

static void on_start_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Session *s = userdata;
        if (!helper_session_permits(s->state, SREQ_TUNNEL_START_REPLY))
                return;
        uint64_t shim_id = s->start_msg_id;
        s->start_msg_id = 0;
        IpcConn *shim = s->shim ? s->shim->conn : NULL;

        if (error < 0) {
                if (error == -ETIMEDOUT)
                        helper_session_set_last_error(
                                s, "tunnel did not start within %llus",
                                (unsigned long long) (s->m->opt.start_timeout_usec / USEC_PER_SEC));
                else if (!s->last_error)
                        helper_session_set_last_error(s, "tunnel went away during its start");
                if (shim)
                        (void) ipc_conn_reply_error(
                                shim, shim_id,
                                ipc_error_code(error, TUND__ERROR_CODE__ERROR_PEER_GONE), -error,
                                "%s: %s", s->profile, s->last_error);
                helper_session_stop(s, "the start failed");
                return;
        }
        const Tund__Error *err = ipc_msg_error(reply);
        if (err) {
                helper_session_set_last_error(s, "%s", err->message);
                if (shim)
                        (void) ipc_conn_reply_error(shim, shim_id, err->code, err->errno_value,
                                                    "%s", err->message);
                helper_session_stop(s, "the start failed");
                return;
        }
        const Tund__StartResponse *resp =
                ipc_msg_payload(reply, TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE);
        if (!resp) {
                helper_session_set_last_error(s,
                                              "tunnel answered StartRequest with something else");
                if (shim)
                        (void) ipc_conn_reply_error(shim, shim_id, TUND__ERROR_CODE__ERROR_PROTOCOL,
                                                    0, "%s: %s", s->profile, s->last_error);
                ipc_conn_close(c, -EBADMSG, "tunnel protocol violation: %s", s->last_error);
                return;
        }

        s->engine_pid = resp->engine_pid;
        free(s->engine_version);
        s->engine_version = strdup(resp->engine_version ? resp->engine_version : "");
        s->state = SESSION_RUNNING;
        s->started_usec = 0;
        (void) sd_event_now(s->m->event, CLOCK_REALTIME, &s->started_usec);
        if (shim) {
                Tund__HelperToShim r = TUND__HELPER_TO_SHIM__INIT;
                Tund__StartSessionReply sr = TUND__START_SESSION_REPLY__INIT;
                sr.tunnel_pid = (uint32_t) s->tunnel_pid;
                sr.engine_pid = s->engine_pid;
                sr.engine_version = s->engine_version ? s->engine_version : (char *) "";
                r.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY;
                r.start_session_reply = &sr;
                if (ipc_conn_send(shim, &r.base, shim_id, NULL, 0) >= 0)
                        s->running_reported = true;
        }
        log_session(LOG_INFO, s->profile, s->tunnel_pid, HELPER_MESSAGE_SESSION_STARTED,
                    "Session %s started: tunnel %d, engine %u (%s), interface %s.", s->profile,
                    (int) s->tunnel_pid, s->engine_pid, s->engine_version, s->ifname);
        helper_watch_session_state(s, "running");
}

static bool ifname_valid(const char *n) {
        size_t len = n ? strlen(n) : 0;
        if (len < 1 || len >= IFNAMSIZ)
                return false;
        for (size_t i = 0; i < len; i++)
                if (n[i] == '/' || n[i] == ':' || n[i] <= ' ' || n[i] >= 127)
                        return false;
        return !streq(n, ".") && !streq(n, "..");
}

/* The fds a shim sends: a TUN device attached to ifname and a listening unix socket. */
static int check_session_fds(int tun, int uapi, const char *ifname, char *why, size_t n) {
        struct stat st;
        if (fstat(tun, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
            minor(st.st_rdev) != 200) {
                snprintf(why, n, "fd 0 is not a TUN device (/dev/net/tun)");
                return -EINVAL;
        }
        struct ifreq ifr = {};
        if (ioctl(tun, TUNGETIFF, &ifr) < 0) {
                snprintf(why, n, "fd 0 is not attached to an interface: %s", strerror(errno));
                return -EINVAL;
        }
        if (!streq(ifr.ifr_name, ifname)) {
                snprintf(why, n, "fd 0 is interface %s, not %s", ifr.ifr_name, ifname);
                return -EINVAL;
        }
        int v = 0;
        socklen_t len = sizeof(v);
        if (getsockopt(uapi, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX) {
                snprintf(why, n, "fd 1 is not a unix socket");
                return -EINVAL;
        }
        len = sizeof(v);
        if (getsockopt(uapi, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM) {
                snprintf(why, n, "fd 1 is not a stream socket");
                return -EINVAL;
        }
        len = sizeof(v);
        if (getsockopt(uapi, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 1) {
                snprintf(why, n, "fd 1 is not a listening socket");
                return -EINVAL;
        }
        return 0;
}

/* The production HelperSpawnFunc: verify the binary, then execute the verified file. */
static int session_exec_tunnel(Manager *m, int tun_fd, int uapi_fd, int *ret_channel,
                               pid_t *ret_pid, char **ret_error) {
        _cleanup_close_ int exe = -EBADF, ours = -EBADF, theirs = -EBADF;
        const char *step = NULL;
        int sv[2], r;

        VerifyOptions vo = { .trusted_uid = 0, .sha256_hex = m->opt.tunnel_sha256 };
        r = verify_open(m->opt.tunnel_path, &vo, &exe, ret_error);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return negative_errno();
        ours = sv[0];
        theirs = sv[1];

        TunnelSpawnArgs a = {
                .exe_fd = exe,
                .channel_fd = theirs,
                .tun_fd = tun_fd,
                .uapi_fd = uapi_fd,
                .change_user = m->change_user,
                .uid = m->tunnel_uid,
                .gid = m->tunnel_gid,
                .allow_root = m->tunnel_uid == 0,
                .engine_sha256 = m->opt.engine_sha256,
                .nofile_soft = m->nofile_soft_orig,
                .envp = m->child_env,
        };
        r = helper_tunnel_spawn(&a, ret_pid, &step);
        if (r < 0) {
                if (asprintf(ret_error, "spawning %s failed at %s: %s", m->opt.tunnel_path,
                             step ? step : "?", strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        *ret_channel = TAKE_FD(ours);
        return 0;
}

static int session_spawn(Session *s, IpcMsg *msg, char **ret_error) {
        Manager *m = s->m;
        _cleanup_close_ int ours = -EBADF;
        pid_t pid = 0;
        int r;

        r = (m->spawn ?: session_exec_tunnel)(m, msg->fds[0], msg->fds[1], &ours, &pid, ret_error);
        if (r < 0)
                return r;
        s->tunnel_pid = pid;
        /* The tunnel has them now; the TUN must not stay alive through us. */
        msg->fds[0] = safe_close(msg->fds[0]);
        msg->fds[1] = safe_close(msg->fds[1]);

        r = sd_event_add_child(m->event, &s->child, s->tunnel_pid, WEXITED, helper_session_on_child,
                               s);
        if (r >= 0)
                r = ipc_conn_new(&s->tunnel, m->event, TAKE_FD(ours), &ipc_channel_tunnel_helper);
        if (r < 0) {
                (void) kill(s->tunnel_pid, SIGKILL);
                s->child = sd_event_source_disable_unref(s->child);
                (void) waitpid(s->tunnel_pid, NULL, 0);
                s->tunnel_pid = 0;
                if (asprintf(ret_error, "watching the tunnel failed: %s", strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        helper_tunnel_conn_setup(s);
        return 0;
}

/* Sent (1) or failed to send (-errno): a refusal ends the request either way. */
static int refused(int r) {
        return r < 0 ? r : 1;
}

/* StartSession's checks, before anything is made: 0 when it may go ahead, else the refusal
 * was sent (1) or could not be (-errno). */
static int start_check(ShimClient *sc, IpcMsg *msg, const Tund__StartSession *req) {
        Manager *m = sc->m;
        IpcConn *c = sc->conn;
        uint64_t id = msg->msg_id;
        char why[256];

        if (sc->started)
                return refused(
                        ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_PROTOCOL, 0,
                                             "StartSession: this connection already started a "
                                             "session (one session per connection)"));
        if (m->stopping)
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_BUSY, 0,
                                                    "StartSession: the helper is stopping"));
        if (msg->n_fds != 2)
                return refused(
                        ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_PROTOCOL, 0,
                                             "StartSession carries exactly 2 fds (TUN, UAPI), "
                                             "not %zu",
                                             msg->n_fds));
        if (!helper_session_profile_valid(req->profile))
                return refused(
                        ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                             "StartSession: invalid profile name \"%s\" (want "
                                             "[A-Za-z0-9_.-]{1,32})",
                                             req->profile));
        if (!ifname_valid(req->ifname))
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                                    "StartSession: invalid interface name \"%s\"",
                                                    req->ifname));
        if (!req->config)
                return refused(ipc_conn_reply_error(
                        c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                        "StartSession for %s carries no WireGuard config", req->profile));
        Session *other = helper_manager_find_session(m, req->profile);
        if (other)
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_EXISTS, 0,
                                                    "a session for profile %s already exists (%s, "
                                                    "tunnel pid %d)",
                                                    req->profile,
                                                    helper_session_state_to_string(other->state),
                                                    (int) other->tunnel_pid));
        if (check_session_fds(msg->fds[0], msg->fds[1], req->ifname, why, sizeof(why)) < 0)
                return refused(ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_INVALID, 0,
                                                    "StartSession for %s: %s", req->profile, why));
        return 0;
}

int helper_session_start(ShimClient *sc, IpcMsg *msg, const Tund__StartSession *req) {
        Manager *m = sc->m;
        IpcConn *c = sc->conn;
        uint64_t id = msg->msg_id;

        int r = start_check(sc, msg, req);
        if (r != 0)
                return r < 0 ? r : 0;

        Session *s = calloc(1, sizeof(Session));
        if (!s)
                return -ENOMEM;
        *s = (Session){
                .m = m,
                .id = m->next_session_id++,
                .profile = strdup(req->profile),
                .ifname = strdup(req->ifname),
                .state = SESSION_STARTING,
                .shim_pid = req->shim_pid,
        };
        const IpcPeer *peer = ipc_conn_get_peer(c);
        if (peer)
                s->shim_pid = (uint32_t) peer->pid; /* the kernel's word, not the shim's */
        if (!s->profile || !s->ifname) {
                free(s->profile);
                free(s->ifname);
                free(s);
                return -ENOMEM;
        }
        /* Whole now: linked, and from here on helper_session_free() ends it. */
        LIST_INSERT_HEAD(&m->sessions, s, link);
        m->n_sessions++;
        if (m->roam.enabled && !m->roam.started)
                (void) helper_roam_start(m);

        _cleanup_free_ char *error = NULL;
        r = session_spawn(s, msg, &error);
        if (r < 0) {
                log_session(LOG_ERR, s->profile, 0, NULL, "Cannot start session %s: %s", s->profile,
                            error ? error : strerror(-r));
                (void) ipc_conn_reply_error(c, id, TUND__ERROR_CODE__ERROR_ENGINE, r,
                                            "%s: tunnel not started: %s", s->profile,
                                            error ? error : strerror(-r));
                helper_session_free(s);
                helper_manager_changed(m);
                return 0;
        }

        Tund__HelperToTunnel out = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StartRequest sreq = TUND__START_REQUEST__INIT;
        sreq.profile = s->profile;
        sreq.ifname = s->ifname;
        sreq.config = req->config;
        sreq.engine_version = req->engine_version;
        sreq.reresolve_after_sec = (uint32_t) (m->opt.reresolve_after_usec / USEC_PER_SEC);
        sreq.stale_after_sec = (uint32_t) (m->opt.stale_after_usec / USEC_PER_SEC);
        out.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST;
        out.start_request = &sreq;
        int64_t k = ipc_conn_call(s->tunnel, &out.base, NULL, 0, m->opt.start_timeout_usec,
                                  on_start_reply, s);
        sc->started = true;
        sc->session = s;
        s->shim = sc;
        s->start_msg_id = id;
        log_session(LOG_INFO, s->profile, s->tunnel_pid, NULL,
                    "Session %s: tunnel %d spawned for interface %s (shim pid %u).", s->profile,
                    (int) s->tunnel_pid, s->ifname, s->shim_pid);
        if (k < 0) {
                helper_session_set_last_error(s, "cannot send StartRequest: %s",
                                              strerror((int) -k));
                helper_session_stop(s, "the start failed");
        }
        helper_watch_session_state(s, "starting");
        helper_manager_changed(m);
        return 0;
}
