/* The Manager: sockets (from systemd by name, or created with --listen-dir), users and
 * policies, signals, sd_notify and the idle exit. */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "fd-util.h"
#include "log.h"
#include "helper-spawn.h"
#include "helper.h"

extern char **environ;

int helper_manager_new(Manager **ret, const HelperOptions *opt) {
        _cleanup_(helper_manager_freep) Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->opt = *opt;
        m->next_session_id = 1;
        m->roam.clock_fd = -EBADF;
        int r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &m->start_mono);
        m->child_env = helper_child_env(environ);
        if (!m->child_env)
                return -ENOMEM;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *helper_manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Nothing may outlive us. */
        while (!LIST_EMPTY(&m->sessions))
                helper_session_abandon(LIST_FIRST(&m->sessions));
        m->control_server = ipc_server_free(m->control_server);
        m->shim_server = ipc_server_free(m->shim_server);
        while (!LIST_EMPTY(&m->clients))
                ipc_conn_close(LIST_FIRST(&m->clients)->conn, -ESHUTDOWN, "helper exiting");
        while (!LIST_EMPTY(&m->shims))
                ipc_conn_close(LIST_FIRST(&m->shims)->conn, -ESHUTDOWN, "helper exiting");
        helper_roam_stop(m);
        sd_event_source_disable_unref(m->idle_timer);
        sd_event_source_disable_unref(m->sigterm);
        sd_event_source_disable_unref(m->sigint);
        if (m->opt.listen_dir) {
                char p[4096];
                snprintf(p, sizeof(p), "%s/control.sock", m->opt.listen_dir);
                (void) unlink(p);
                snprintf(p, sizeof(p), "%s/shim.sock", m->opt.listen_dir);
                (void) unlink(p);
        }
        helper_env_free(m->child_env);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

void helper_manager_fill_pong(Manager *m, Tund__Pong *pong) {
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        pong->version = (char *) TUND_VERSION;
        pong->pid = (uint32_t) getpid();
        pong->uptime_usec = now - m->start_mono;
}

Session *helper_manager_find_session(Manager *m, const char *profile) {
        for (Session *s = LIST_FIRST(&m->sessions); s; s = LIST_NEXT(s, link))
                if (streq(s->profile, profile))
                        return s;
        return NULL;
}

Session *helper_manager_find_session_id(Manager *m, uint64_t id) {
        for (Session *s = LIST_FIRST(&m->sessions); s; s = LIST_NEXT(s, link))
                if (s->id == id)
                        return s;
        return NULL;
}

static int on_idle(sd_event_source *es, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_info("Idle for %llus with no session and no client, exiting.",
                 (unsigned long long) (m->opt.idle_exit_usec / USEC_PER_SEC));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Idle, exiting.");
        return sd_event_exit(m->event, 0);
}

void helper_manager_changed(Manager *m) {
        char status[sizeof(m->status)];
        snprintf(status, sizeof(status), "%u session%s, %u client%s", m->n_sessions,
                 m->n_sessions == 1 ? "" : "s", m->n_clients, m->n_clients == 1 ? "" : "s");
        if (!m->stopping && !streq(status, m->status)) {
                memcpy(m->status, status, sizeof(status));
                char buf[sizeof(status) + 16];
                snprintf(buf, sizeof(buf), "STATUS=%s", status);
                (void) sd_notify(false, buf);
        }

        if (m->stopping) {
                if (m->n_sessions == 0)
                        (void) sd_event_exit(m->event, 0);
                return;
        }
        bool idle = m->n_sessions == 0 && m->n_clients == 0 && m->n_shims == 0;
        if (!idle || m->opt.idle_exit_usec == 0) {
                m->idle_timer = sd_event_source_disable_unref(m->idle_timer);
                return;
        }
        if (m->idle_timer)
                return;
        int r = sd_event_add_time_relative(m->event, &m->idle_timer, CLOCK_MONOTONIC,
                                           m->opt.idle_exit_usec, USEC_PER_SEC / 10, on_idle, m);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the idle timer, staying up: %m");
}

static int on_sigterm(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        if (m->stopping) {
                log_notice("Signal %s again: exiting without waiting for tunnels.",
                           strsignal((int) si->ssi_signo));
                return sd_event_exit(m->event, 0);
        }
        m->stopping = true;
        log_info("Signal %s: stopping %u session%s.", strsignal((int) si->ssi_signo), m->n_sessions,
                 m->n_sessions == 1 ? "" : "s");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping sessions.");
        /* No new clients while we wind down; systemd keeps the sockets for the next start. */
        m->control_server = ipc_server_free(m->control_server);
        m->shim_server = ipc_server_free(m->shim_server);
        m->idle_timer = sd_event_source_disable_unref(m->idle_timer);
        for (Session *s = LIST_FIRST(&m->sessions), *next; s; s = next) {
                next = LIST_NEXT(s, link);
                helper_session_stop(s, "the helper is stopping");
        }
        helper_manager_changed(m);
        return 0;
}

/* Sockets handed over by systemd (any order, by FileDescriptorName=). */
static int manager_listen_systemd(Manager *m, int *ret_control, int *ret_shim) {
        _cleanup_close_ int control = -EBADF, shim = -EBADF;
        char **names = NULL;
        int n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Cannot read the sockets passed by systemd: %m");
        if (n == 0)
                return log_error_errno(-EBADF, "No sockets passed (LISTEN_FDS): run under "
                                               "systemd socket activation or use --listen-dir.");
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";
                bool ok = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;
                if (ok && streq(name, "control") && control < 0)
                        control = fd;
                else if (ok && streq(name, "shim") && shim < 0)
                        shim = fd;
                else {
                        log_warning("Ignoring passed fd %d named \"%s\"%s.", fd, name,
                                    ok ? "" : " (not a listening unix stream socket)");
                        safe_close(fd);
                }
                (void) fd_set_cloexec(fd, true);
                free(names ? names[i] : NULL);
        }
        free(names);
        if (control < 0 || shim < 0)
                return log_error_errno(-EBADF,
                                       "systemd passed no socket named \"%s\" "
                                       "(FileDescriptorName=).",
                                       control < 0 ? "control" : "shim");
        *ret_control = TAKE_FD(control);
        *ret_shim = TAKE_FD(shim);
        return 0;
}

static int manager_listen_dir(Manager *m, gid_t control_gid, int *ret_control, int *ret_shim) {
        char path[4096];
        bool root = geteuid() == 0;
        if (mkdir(m->opt.listen_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", m->opt.listen_dir);
        snprintf(path, sizeof(path), "%s/control.sock", m->opt.listen_dir);
        int r = ipc_listen_unix(path, 0660, root ? 0 : (uid_t) -1, root ? control_gid : (gid_t) -1,
                                ret_control);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s: %m", path);
        snprintf(path, sizeof(path), "%s/shim.sock", m->opt.listen_dir);
        r = ipc_listen_unix(path, 0600, root ? 0 : (uid_t) -1, root ? 0 : (gid_t) -1, ret_shim);
        if (r < 0) {
                *ret_control = safe_close(*ret_control);
                return log_error_errno(r, "Cannot listen on %s: %m", path);
        }
        return 0;
}

static int manager_setup_users(Manager *m) {
        struct group *gr = getgrnam(m->opt.control_group);
        m->root_policy = (IpcPolicy){ .description = "root" };
        if (gr) {
                m->read_policy = (IpcPolicy){ .allow_gid = true, .gid = gr->gr_gid };
                m->control_gid = gr->gr_gid;
        } else {
                log_notice("Group \"%s\" does not exist: control read requests are served to "
                           "root only.",
                           m->opt.control_group);
                m->read_policy = m->root_policy;
                m->control_gid = 0;
        }
        static char read_desc[96], shim_desc[64];
        if (gr)
                snprintf(read_desc, sizeof(read_desc), "root or group %s", m->opt.control_group);
        else
                snprintf(read_desc, sizeof(read_desc), "root");
        m->read_policy.description = read_desc;

        m->shim_uid = m->opt.shim_uid_set ? m->opt.shim_uid : 0;
        if (m->opt.shim_user) {
                /* tund@.service runs the shims as this system user: without it none could
                 * connect, so say so now rather than refuse each of them later. */
                struct passwd *spw = getpwnam(m->opt.shim_user);
                if (!spw)
                        return log_error_errno(-ESRCH, "Shim user \"%s\" does not exist.",
                                               m->opt.shim_user);
                m->shim_uid = spw->pw_uid;
        }
        m->shim_policy = (IpcPolicy){ .description = "root" };
        if (m->shim_uid != 0) {
                snprintf(shim_desc, sizeof(shim_desc), "root or uid %u", (unsigned) m->shim_uid);
                m->shim_policy = (IpcPolicy){ .description = shim_desc,
                                              .allow_uid = true,
                                              .uid = m->shim_uid };
        }

        if (geteuid() == 0) {
                struct passwd *pw = getpwnam(m->opt.tunnel_user);
                if (!pw)
                        return log_error_errno(-ESRCH, "Tunnel user \"%s\" does not exist.",
                                               m->opt.tunnel_user);
                m->change_user = true;
                m->tunnel_uid = pw->pw_uid;
                m->tunnel_gid = pw->pw_gid;
        } else {
                m->tunnel_uid = geteuid();
                m->tunnel_gid = getegid();
                struct passwd *pw = getpwnam(m->opt.tunnel_user);
                if (!pw || pw->pw_uid != m->tunnel_uid)
                        log_notice("Not running as root: tunnels run as uid %u, not as \"%s\".",
                                   (unsigned) m->tunnel_uid, m->opt.tunnel_user);
        }
        return 0;
}

/* Room for HELPER_CONTROL_MAX_CONNECTIONS clients. systemd gives services a soft limit of 1024
 * (for select() users) under a high hard limit, and recommends that a program that uses epoll
 * only, as we do, raise the soft limit to the hard one at start. Tunnels get the original
 * back (helper-spawn.c), after their fd map is set up. */
static void manager_setup_nofile(Manager *m) {
        unsigned need = HELPER_CONTROL_MAX_CONNECTIONS + HELPER_SHIM_MAX_CONNECTIONS +
                        HELPER_NOFILE_RESERVE;
        struct rlimit rl;
        m->max_control = HELPER_CONTROL_MAX_CONNECTIONS;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_cur < rl.rlim_max) {
                rlim_t orig = rl.rlim_cur;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
                        m->nofile_soft_orig = orig;
                else
                        rl.rlim_cur = orig;
        }
        if (rl.rlim_cur < need) {
                rlim_t room =
                        rl.rlim_cur > HELPER_SHIM_MAX_CONNECTIONS + HELPER_NOFILE_RESERVE
                                ? rl.rlim_cur - HELPER_SHIM_MAX_CONNECTIONS - HELPER_NOFILE_RESERVE
                                : 16;
                m->max_control = (unsigned) MIN((rlim_t) m->max_control, MAX(room, (rlim_t) 16));
                log_notice("RLIMIT_NOFILE is %llu: serving at most %u control clients at once.",
                           (unsigned long long) rl.rlim_cur, m->max_control);
        }
}

int helper_manager_setup(Manager *m) {
        int r;

        r = manager_setup_users(m);
        if (r < 0)
                return r;
        manager_setup_nofile(m);
        m->policies[HELPER_POLICY_READ] = &m->read_policy;
        m->policies[HELPER_POLICY_ROOT] = &m->root_policy;
        m->policies[HELPER_POLICY_SHIM] = &m->shim_policy;

        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_sigterm, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch signals: %m");
        return 0;
}

int helper_manager_start(Manager *m) {
        _cleanup_close_ int control = -EBADF, shim = -EBADF;
        int r;

        r = helper_manager_setup(m);
        if (r < 0)
                return r;

        if (m->opt.listen_dir)
                r = manager_listen_dir(m, m->control_gid, &control, &shim);
        else
                r = manager_listen_systemd(m, &control, &shim);
        if (r < 0)
                return r;

        r = ipc_server_new(&m->control_server, m->event, TAKE_FD(control), &ipc_channel_ctl_server,
                           helper_control_accept, m);
        if (r >= 0)
                r = ipc_server_new(&m->shim_server, m->event, TAKE_FD(shim),
                                   &ipc_channel_shim_server, helper_shim_accept, m);
        if (r < 0)
                return log_error_errno(r, "Cannot serve the sockets: %m");
        ipc_server_set_max_connections(m->control_server, m->max_control);
        ipc_server_set_max_connections(m->shim_server, HELPER_SHIM_MAX_CONNECTIONS);
        (void) sd_event_set_watchdog(m->event, true);
        /* The watchers start with the first session (helper_roam_start()): a helper that only
         * answers tundctl needs none, and its activation stays as fast as before. */
        m->roam.enabled = true;

        log_info("tund-helperd %s ready (tunnel %s as uid %u%s; sockets %s).", TUND_VERSION,
                 m->opt.tunnel_path, (unsigned) m->tunnel_uid,
                 m->opt.tunnel_sha256 ? ", SHA-256 pinned" : "",
                 m->opt.listen_dir ? m->opt.listen_dir : "from systemd");
        helper_manager_changed(m);
        char buf[sizeof(m->status) + 32];
        snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", m->status);
        (void) sd_notify(false, buf);
        return 0;
}
