/* The Manager of a profile's run: its setup (the profile, the kill switch, a predecessor's
 * leftovers, the table slot, the TUN and the UAPI socket, signals) and its end (revert, exit
 * code). What runs in between, the session with the helper, is netshim-session.c. */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "netshim-tun.h"
#include "error-util.h"
#include "netshim.h"
#include "shim.pb-c.h"
#include "string-util.h"

_Static_assert(PROFILE_FWMARK_AUTO == NETCFG_FWMARK_DEFAULT,
               "a full tunnel's automatic fwmark must be the one libnetcfg's rules exempt");

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
        _cleanup_free_ Manager *m = calloc(1, sizeof(*m));
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
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
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
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, manager_on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, manager_on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up signal handling: %m");
        if (fd >= 0)
                manager_attach(m, TAKE_FD(fd));
        else
                manager_connect(m);
        return 0;
}
