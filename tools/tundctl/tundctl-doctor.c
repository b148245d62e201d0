/* tundctl doctor: checks the installation and every session, one line per check with ok, warn,
 * fail or skip. Exit 1 when any check failed. Read-only: it changes nothing. */
#include <dirent.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include "engine.h"
#include "netcfg.h"
#include "string-util.h"
#include "strv.h"
#include "tundctl.h"

typedef enum CheckStatus { CHECK_OK, CHECK_WARN, CHECK_FAIL, CHECK_SKIP } CheckStatus;

typedef struct Doctor {
        Json j;
        bool color;
        unsigned n_fail, n_warn;
} Doctor;

static const char *check_status_to_string(CheckStatus s) {
        static const char *const t[] = { "ok", "warn", "fail", "skip" };
        return t[s];
}

static _printf_(4, 5) void report(Doctor *d, const char *name, CheckStatus s, const char *fmt,
                                  ...) {
        static const char *const colors[] = { ANSI_GREEN, ANSI_YELLOW, ANSI_RED, ANSI_GREY };
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (s == CHECK_FAIL)
                d->n_fail++;
        if (s == CHECK_WARN)
                d->n_warn++;
        if (arg_g.json) {
                json_object_begin(&d->j);
                json_kv_string(&d->j, "name", name);
                json_kv_string(&d->j, "status", check_status_to_string(s));
                json_kv_string(&d->j, "message", msg);
                json_object_end(&d->j);
                return;
        }
        /* Messages quote the helper's text (session names, errors): printable only. */
        char n[64];
        printf("%s%-4s%s  %-16s %s\n", d->color ? colors[s] : "", check_status_to_string(s),
               d->color ? ANSI_RESET : "", string_sanitize(n, sizeof(n), name),
               string_sanitize_inplace(msg));
}

/* ---- helper and sockets ---- */

static IpcMsg *check_helper(Doctor *d) {
        const Tund__StatusReply *st;
        char up[TUNDCTL_FMT_MAX];
        IpcMsg *reply = NULL;

        if (tundctl_get_status(NULL, true, &reply, &st) != 0) {
                report(d, "helper", CHECK_FAIL, "%s", tundctl_last_error());
                return NULL;
        }
        if (!st->helper) {
                report(d, "helper", CHECK_FAIL, "unexpected reply to GetStatus");
                return ipc_msg_free(reply);
        }
        report(d, "helper", CHECK_OK,
               "tund-helperd %s reachable at %s (pid %u, up %s, %zu session%s)",
               st->helper->version, arg_g.socket_path, st->helper->pid,
               tundctl_format_duration(up, st->helper->uptime_usec), st->n_sessions,
               st->n_sessions == 1 ? "" : "s");
        return reply;
}

static void check_socket(Doctor *d, const char *name, const char *path, mode_t want_mode,
                         const char *want_group) {
        struct group *gr = getgrnam(want_group);
        struct stat st;

        if (stat(path, &st) < 0) {
                report(d, name, CHECK_FAIL, "%s: %m (is tund-helper-%s.socket enabled?)", path,
                       streq(name, "control-socket") ? "control" : "shim");
                return;
        }
        if (!S_ISSOCK(st.st_mode)) {
                report(d, name, CHECK_FAIL, "%s is not a socket", path);
                return;
        }
        if ((st.st_mode & 07777) != want_mode || st.st_uid != 0) {
                report(d, name, CHECK_FAIL, "%s: mode %04o uid %u, expected %04o owned by root",
                       path, (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid,
                       (unsigned) want_mode);
                return;
        }
        if (!gr || st.st_gid != gr->gr_gid) {
                struct group *have = getgrgid(st.st_gid);
                report(d, name, CHECK_WARN, "%s: mode %04o, group %s, expected group %s%s", path,
                       (unsigned) (st.st_mode & 07777), have ? have->gr_name : "?", want_group,
                       gr ? "" : " (which does not exist)");
                return;
        }
        report(d, name, CHECK_OK, "%s: mode %04o root:%s", path, (unsigned) want_mode, want_group);
}

static void check_sockets(Doctor *d) {
        _cleanup_free_ char *copy = strdup(arg_g.socket_path), *shim = NULL;

        check_socket(d, "control-socket", arg_g.socket_path, 0660, "tund");
        if (!copy || asprintf(&shim, "%s/shim.sock", dirname(copy)) < 0)
                return;
        check_socket(d, "shim-socket", shim, 0600, "root");
}

/* ---- engine, DNS, NetworkManager ---- */

static void check_engine(Doctor *d) {
        _cleanup_free_ char *error = NULL;
        EngineInfo info;
        int r = engine_detect(NULL, &info, &error);

        if (r < 0)
                report(d, "engine", CHECK_FAIL, "%s", error ? error : strerror(-r));
        else
                report(d, "engine", CHECK_OK, "wireguard-go %s at %s, TUN flavour %s", info.version,
                       info.path, engine_tun_flavour_to_string(info.flavour));
}

static int resolved_on_bus(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0, r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                               "org.freedesktop.resolve1");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "b", &has);
        return r < 0 ? r : has;
}

static bool program_exists(const char *name) {
        static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
        char p[256];

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(p, sizeof(p), "%s/%s", dirs[i], name);
                if (access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static void check_dns(Doctor *d) {
        int r = resolved_on_bus();

        if (r > 0) {
                int stub = tundctl_resolv_conf_is_stub("/etc/resolv.conf");
                if (stub == 0)
                        report(d, "dns", CHECK_WARN,
                               "backend systemd-resolved, but /etc/resolv.conf does not use its "
                               "stub 127.0.0.53: per-link DNS of tund links is bypassed");
                else
                        report(d, "dns", CHECK_OK, "backend systemd-resolved%s",
                               stub > 0 ? ", /etc/resolv.conf uses its stub" : "");
        } else if (program_exists("resolvconf"))
                report(d, "dns", CHECK_OK,
                       "backend resolvconf (systemd-resolved is not on the "
                       "system bus)");
        else
                report(d, "dns", CHECK_WARN,
                       "no DNS backend: neither systemd-resolved (%s) nor resolvconf; profiles "
                       "with DNS= cannot apply their servers",
                       r < 0 ? "no system bus" : "not running");
}

/* A conf.d snippet telling NetworkManager to leave tund-* links alone. */
static bool nm_snippet_present(char *found, size_t size) {
        static const char *const dirs[] = { "/etc/NetworkManager/conf.d",
                                            "/usr/lib/NetworkManager/conf.d",
                                            "/run/NetworkManager/conf.d" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                DIR *dir = opendir(dirs[i]);
                struct dirent *de;
                while (dir && (de = readdir(dir))) {
                        char path[512], line[512];
                        bool hit = false;
                        FILE *f;
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
                        f = fopen(path, "re");
                        while (f && fgets(line, sizeof(line), f))
                                if (strstr(line, "unmanaged-devices") &&
                                    strstr(line, "interface-name:tund-"))
                                        hit = true;
                        if (f)
                                fclose(f);
                        if (hit) {
                                snprintf(found, size, "%s", path);
                                closedir(dir);
                                return true;
                        }
                }
                if (dir)
                        closedir(dir);
        }
        return false;
}

static void check_networkmanager(Doctor *d) {
        char found[512];

        if (access("/usr/sbin/NetworkManager", X_OK) < 0 &&
            access("/etc/NetworkManager", F_OK) < 0) {
                report(d, "networkmanager", CHECK_SKIP, "NetworkManager is not installed");
                return;
        }
        if (nm_snippet_present(found, sizeof(found)))
                report(d, "networkmanager", CHECK_OK, "tund-* links unmanaged (%s)", found);
        else
                report(d, "networkmanager", CHECK_WARN,
                       "no conf.d snippet with unmanaged-devices=interface-name:tund-*: "
                       "NetworkManager may take over tund links (install 90-tund-unmanaged.conf)");
        if (access("/etc/NetworkManager/dispatcher.d/90-tund", X_OK) == 0 ||
            access("/usr/lib/NetworkManager/dispatcher.d/90-tund", X_OK) == 0)
                report(d, "nm-dispatcher", CHECK_OK, "90-tund hook installed");
        else
                report(d, "nm-dispatcher", CHECK_WARN,
                       "90-tund dispatcher hook missing: sessions are not rebound when the "
                       "network changes");
}

/* ---- sessions ---- */

static void check_session(Doctor *d, const Tund__SessionInfo *s) {
        _cleanup_free_ NetcfgRoute *routes = NULL;
        _cleanup_free_ NetcfgRule *rules = NULL;
        _cleanup_free_ char *error = NULL;
        size_t n_routes = 0, n_rules = 0, ours = 0, our_rules = 0;
        char name[64];
        NetcfgLink link;
        int r;

        snprintf(name, sizeof(name), "session %s", s->profile);
        if (s->state == TUND__SESSION_STATE__SESSION_STATE_STALE)
                report(d, name, CHECK_WARN,
                       "stale: a peer was sent data and has answered nothing for minutes");
        else if (s->state != TUND__SESSION_STATE__SESSION_STATE_RUNNING) {
                report(d, name, CHECK_WARN, "%s", tundctl_session_state_to_string(s->state));
                return;
        }
        r = netcfg_read_link(s->ifname, 0, &link, &error);
        if (r < 0) {
                report(d, name, CHECK_FAIL, "interface %s: %s", s->ifname,
                       error ? error : strerror(-r));
                return;
        }
        free(error);
        error = NULL;
        r = netcfg_read_routes(0, 0, NETCFG_RTPROT_TUND, &routes, &n_routes, &error);
        if (r < 0) {
                report(d, name, CHECK_FAIL, "cannot read routes: %s", error ? error : strerror(-r));
                return;
        }
        /* Ours: on the link, or throw routes (no link) for excluded prefixes. */
        for (size_t i = 0; i < n_routes; i++)
                if (routes[i].oif == link.ifindex || routes[i].oif == 0)
                        ours++;
        free(error);
        error = NULL;
        r = netcfg_read_rules(NETCFG_RULE_PRIO_MIN, NETCFG_RULE_PRIO_MAX, &rules, &n_rules, &error);
        if (r < 0) {
                report(d, name, CHECK_FAIL, "cannot read rules: %s", error ? error : strerror(-r));
                return;
        }
        for (size_t i = 0; i < n_rules; i++)
                if (rules[i].protocol == NETCFG_RTPROT_TUND)
                        our_rules++;
        unsigned want_routes = s->applied ? s->applied->routes_applied : 0;
        unsigned want_rules = s->applied ? s->applied->rules_applied : 0;
        if (!s->applied)
                report(d, name, CHECK_FAIL, "interface %s (index %d): network settings not applied",
                       s->ifname, link.ifindex);
        else if (ours < want_routes || our_rules < want_rules)
                report(d, name, CHECK_FAIL,
                       "interface %s: %zu of %u routes and %zu of %u policy rules present",
                       s->ifname, MIN(ours, (size_t) want_routes), want_routes,
                       MIN(our_rules, (size_t) want_rules), want_rules);
        else
                report(d, name, link.up ? CHECK_OK : CHECK_WARN,
                       "interface %s (index %d) %s, %u route%s and %u polic%s present", s->ifname,
                       link.ifindex, link.up ? "up" : "down", want_routes,
                       want_routes == 1 ? "" : "s", want_rules,
                       want_rules == 1 ? "y rule" : "y rules");
}

/* Each kill switch that is set: its rules in the kernel (reading nf_tables needs
 * CAP_NET_ADMIN: without it, what the spec says), and whether it holds without a session. */
static void check_killswitches(Doctor *d, const Tund__StatusReply *st) {
        _cleanup_(strv_freep) char **ks = NULL;
        size_t n = 0;
        if (tundctl_killswitch_names(&ks, &n) < 0) {
                report(d, "kill switch", CHECK_WARN, "cannot read %s", TUNDCTL_KILLSWITCH_DIR);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                char name[64];
                bool session = false;
                for (size_t k = 0; st && k < st->n_sessions; k++)
                        session = session || streq_ptr(st->sessions[k]->profile, ks[i]);
                snprintf(name, sizeof(name), "kill switch %s", ks[i]);
                NetcfgKillswitchStatus s;
                _cleanup_free_ char *err = NULL;
                int r = netcfg_killswitch_status(TUNDCTL_KILLSWITCH_DIR, ks[i], &s, &err);
                if (r == -EPERM)
                        report(d, name, session ? CHECK_OK : CHECK_WARN,
                               "set%s (run as root to check its rules in the kernel)",
                               session ? ""
                                       : ", without a session: all traffic around the "
                                         "tunnel is blocked");
                else if (r < 0)
                        report(d, name, CHECK_FAIL, "cannot read the kernel's rules: %s",
                               err ?: strerror(-r));
                else if (!s.installed)
                        report(d, name, CHECK_FAIL,
                               "set, but its rules are missing from the kernel: traffic may "
                               "leak (systemctl restart tund-killswitch@%s)",
                               ks[i]);
                else
                        report(d, name, session ? CHECK_OK : CHECK_WARN,
                               "holds: %u rules, %" PRIu64 " packets dropped so far%s", s.rules,
                               s.dropped,
                               session ? ""
                                       : "; no session: all traffic around the tunnel is "
                                         "blocked (systemctl stop tund-killswitch@NAME "
                                         "lifts it)");
        }
}

int tundctl_doctor(int argc, char *argv[]) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        const Tund__StatusReply *st;
        Doctor d = {};
        int r;

        r = tundctl_noargs_parse("doctor", argc, argv);
        if (r >= 0)
                return r;
        if (arg_g.json) {
                json_init(&d.j, stdout);
                json_document_begin(&d.j);
                json_key(&d.j, "checks");
                json_array_begin(&d.j);
        } else
                d.color = tundctl_use_color(STDOUT_FILENO);

        reply = check_helper(&d);
        check_sockets(&d);
        check_engine(&d);
        check_dns(&d);
        check_networkmanager(&d);
        st = reply ? ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_STATUS) : NULL;
        if (!st)
                report(&d, "sessions", CHECK_SKIP, "helper not reachable");
        else if (st->n_sessions == 0)
                report(&d, "sessions", CHECK_OK, "no sessions");
        for (size_t i = 0; st && i < st->n_sessions; i++)
                check_session(&d, st->sessions[i]);
        check_killswitches(&d, st);

        if (arg_g.json) {
                json_array_end(&d.j);
                json_kv_bool(&d.j, "ok", d.n_fail == 0);
                json_kv_uint(&d.j, "failed", d.n_fail);
                json_kv_uint(&d.j, "warnings", d.n_warn);
                json_document_end(&d.j);
        } else
                printf("\n%u failed, %u warning%s.\n", d.n_fail, d.n_warn,
                       d.n_warn == 1 ? "" : "s");
        return d.n_fail ? TUNDCTL_EXIT_FAILURE : TUNDCTL_EXIT_OK;
}
