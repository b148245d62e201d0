/* tundctl status [PROFILE]: the helper's sessions with their link, peers, DNS and routes, and
 * health warnings a person should act on. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "fd-util.h"
#include "netcfg.h"
#include "profile.h"
#include "string-util.h"
#include "strv.h"
#include "tundctl.h"

#define RESOLV_CONF "/etc/resolv.conf"

int tundctl_status_parse(int argc, char *argv[], StatusArgs *a) {
        int i = tundctl_getopt("status", argc, argv, NULL, NULL, NULL, NULL);

        *a = (StatusArgs){};
        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i > 1)
                return tundctl_usage_error("status", "too many arguments");
        if (argc - i == 1) {
                if (!profile_name_is_valid(argv[i]))
                        return tundctl_usage_error("status", "not a valid profile name: %s",
                                                   argv[i]);
                a->profile = argv[i];
        }
        return -1;
}

/* ---- health ---- */

int tundctl_resolv_conf_is_stub(const char *path) {
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");
        int found = 0;

        if (!f)
                return negative_errno();
        while (getline(&line, &size, f) > 0) {
                char key[32], value[64];
                if (sscanf(line, " %31s %63s", key, value) == 2 && streq(key, "nameserver") &&
                    (streq(value, "127.0.0.53") || streq(value, "127.0.0.54")))
                        found = 1;
        }
        fclose(f);
        return found;
}

static _printf_(3, 4) int add_warning(char ***list, size_t *n, const char *fmt, ...) {
        char **l = realloc(*list, (*n + 1) * sizeof(char *));
        va_list ap;
        int r;

        if (!l)
                return -ENOMEM;
        *list = l;
        va_start(ap, fmt);
        r = vasprintf(&l[*n], fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        /* Warnings quote the tunnel's last error: one printable line each. */
        string_sanitize_inplace(l[*n]);
        (*n)++;
        return 0;
}

int tundctl_session_health(const Tund__SessionInfo *s, const HealthEnv *env, char ***list,
                           size_t *n) {
        const Tund__NetworkSettings *ns = s->settings;
        const Tund__NetworkSettingsResult *ap = s->applied;
        int64_t started = (int64_t) (s->started_usec / USEC_PER_SEC);
        char k[TUNDCTL_FMT_MAX], age[TUNDCTL_FMT_MAX];
        int r = 0;

        if (s->state == TUND__SESSION_STATE__SESSION_STATE_STALE)
                r = add_warning(list, n,
                                "session is stale: a peer was sent data and has answered nothing "
                                "for minutes (tund resolves its endpoint again and keeps trying)");
        else if (s->state != TUND__SESSION_STATE__SESSION_STATE_RUNNING)
                r = add_warning(list, n, "session is %s",
                                tundctl_session_state_to_string(s->state));
        for (size_t i = 0; r >= 0 && i < s->n_peers; i++) {
                const Tund__PeerState *p = s->peers[i];
                if (p->last_handshake_sec <= 0) {
                        if (started > 0 && env->now_sec - started > TUNDCTL_STALE_HANDSHAKE_SEC)
                                r = add_warning(list, n,
                                                "peer %s: no handshake since the start (%s)",
                                                tundctl_short_key(k, p->public_key),
                                                tundctl_format_age(age, env->now_sec, started));
                } else if (env->now_sec - p->last_handshake_sec > TUNDCTL_STALE_HANDSHAKE_SEC)
                        r = add_warning(
                                list, n, "peer %s: stale handshake, last one %s (more than %d s)",
                                tundctl_short_key(k, p->public_key),
                                tundctl_format_age(age, env->now_sec, p->last_handshake_sec),
                                TUNDCTL_STALE_HANDSHAKE_SEC);
        }
        if (r >= 0 &&
            (s->state == TUND__SESSION_STATE__SESSION_STATE_RUNNING ||
             s->state == TUND__SESSION_STATE__SESSION_STATE_STALE) &&
            !ap)
                r = add_warning(list, n, "network settings not applied");
        if (r >= 0 && ns && ns->n_dns_servers > 0 &&
            (!ap || isempty(ap->dns_backend) || streq(ap->dns_backend, "none")))
                r = add_warning(list, n,
                                "DNS not applied: the profile sets %zu DNS server%s but no DNS "
                                "backend took them",
                                ns->n_dns_servers, ns->n_dns_servers == 1 ? "" : "s");
        if (r >= 0 && ap && streq_ptr(ap->dns_backend, "resolved") && env->resolv_conf_stub == 0)
                r = add_warning(list, n,
                                RESOLV_CONF
                                " does not use systemd-resolved's stub (127.0.0.53), "
                                "so programs that read it ask its nameservers directly and bypass "
                                "the tunnel's DNS settings (resolv.conf trampled?): link it to "
                                "/run/systemd/resolve/stub-resolv.conf");
        if (r >= 0 && !isempty(s->last_error))
                r = add_warning(list, n, "last error: %s", s->last_error);
        return r;
}

/* ---- output ---- */

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

/* The newest handshake of any peer, 0 if none. */
static int64_t session_last_handshake(const Tund__SessionInfo *s) {
        int64_t t = 0;
        for (size_t i = 0; i < s->n_peers; i++)
                t = MAX(t, s->peers[i]->last_handshake_sec);
        return t;
}

static const char *session_dns_backend(const Tund__SessionInfo *s) {
        if (s->applied && !isempty(s->applied->dns_backend))
                return s->applied->dns_backend;
        return "none";
}

static void json_session(Json *j, const Tund__SessionInfo *s, const HealthEnv *env, char **warnings,
                         size_t n_warnings) {
        const Tund__NetworkSettings *ns = s->settings;
        char buf[TUNDCTL_FMT_MAX];

        json_object_begin(j);
        json_kv_string(j, "profile", s->profile);
        json_kv_string(j, "ifname", s->ifname);
        json_kv_string(j, "state", tundctl_session_state_to_string(s->state));
        json_kv_uint(j, "shim_pid", s->shim_pid);
        json_kv_uint(j, "tunnel_pid", s->tunnel_pid);
        json_kv_uint(j, "engine_pid", s->engine_pid);
        json_kv_string(j, "engine_version", s->engine_version);
        json_kv_uint(j, "started_usec", s->started_usec);

        json_key(j, "settings");
        if (!ns)
                json_null(j);
        else {
                json_object_begin(j);
                json_prefixes(j, "addresses", ns->addresses, ns->n_addresses);
                json_prefixes(j, "routes", ns->routes, ns->n_routes);
                json_prefixes(j, "excluded_routes", ns->excluded_routes, ns->n_excluded_routes);
                json_kv_uint(j, "mtu", ns->mtu);
                json_kv_uint(j, "table", ns->table);
                json_kv_bool(j, "table_off", ns->table_off);
                json_kv_uint(j, "fwmark", ns->fwmark);
                json_object_end(j);
        }

        json_key(j, "dns");
        json_object_begin(j);
        json_kv_string(j, "backend", session_dns_backend(s));
        json_kv_string(j, "mode", ns ? tundctl_dns_mode_to_string(ns->dns_mode) : "split");
        json_key(j, "servers");
        json_array_begin(j);
        for (size_t i = 0; ns && i < ns->n_dns_servers; i++)
                json_string(j, tundctl_format_address(buf, ns->dns_servers[i].data,
                                                      ns->dns_servers[i].len));
        json_array_end(j);
        json_key(j, "search_domains");
        json_array_begin(j);
        for (size_t i = 0; ns && i < ns->n_search_domains; i++)
                json_string(j, ns->search_domains[i]);
        json_array_end(j);
        json_key(j, "routing_domains");
        json_array_begin(j);
        for (size_t i = 0; ns && i < ns->n_routing_domains; i++)
                json_string(j, ns->routing_domains[i]);
        json_array_end(j);
        json_kv_bool(j, "default_route", ns && ns->dns_default_route);
        json_object_end(j);

        json_key(j, "applied");
        if (!s->applied)
                json_null(j);
        else {
                json_object_begin(j);
                json_kv_string(j, "ifname", s->applied->ifname);
                json_kv_uint(j, "ifindex", s->applied->ifindex);
                json_kv_string(j, "dns_backend", s->applied->dns_backend);
                json_kv_uint(j, "routes_applied", s->applied->routes_applied);
                json_kv_uint(j, "rules_applied", s->applied->rules_applied);
                json_kv_uint(j, "table", s->applied->table);
                json_kv_uint(j, "rule_priority", s->applied->rule_priority);
                json_kv_bool(j, "kill_switch", s->applied->kill_switch);
                json_object_end(j);
        }

        json_key(j, "peers");
        json_array_begin(j);
        for (size_t i = 0; i < s->n_peers; i++)
                json_peer_state(j, s->peers[i], env->now_sec);
        json_array_end(j);
        json_kv_string(j, "last_error", s->last_error);
        json_key(j, "warnings");
        json_array_begin(j);
        for (size_t i = 0; i < n_warnings; i++)
                json_string(j, warnings[i]);
        json_array_end(j);
        json_object_end(j);
}

int tundctl_killswitch_names(char ***ret, size_t *ret_n) {
        int r = netcfg_killswitch_list(TUNDCTL_KILLSWITCH_DIR, ret, ret_n);
        if (r == -ENOENT) { /* no switch was ever set */
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        return r;
}

static bool has_session(const Tund__StatusReply *st, const char *profile) {
        for (size_t i = 0; i < st->n_sessions; i++)
                if (streq_ptr(st->sessions[i]->profile, profile))
                        return true;
        return false;
}

/* Switches that hold while their profile has no session: everything around the tunnel is
 * blocked and nothing else would say so. */
static void print_killswitches(const Tund__StatusReply *st, const char *only, char **ks, size_t n) {
        char t[256];
        for (size_t i = 0; i < n; i++) {
                if ((only && !streq(only, ks[i])) || has_session(st, ks[i]))
                        continue;
                string_sanitize(t, sizeof(t), ks[i]);
                printf("%s●%s kill switch of %s holds without a session: nothing leaves or enters "
                       "around its tunnel (systemctl stop tund-killswitch@%s lifts it)\n",
                       tundctl_ansi(ANSI_YELLOW), tundctl_ansi(ANSI_RESET), t, t);
        }
}

static void json_killswitches(Json *j, const Tund__StatusReply *st, const char *only, char **ks,
                              size_t n) {
        json_key(j, "kill_switches");
        json_array_begin(j);
        for (size_t i = 0; i < n; i++) {
                if (only && !streq(only, ks[i]))
                        continue;
                json_object_begin(j);
                json_kv_string(j, "profile", ks[i]);
                json_kv_bool(j, "session", has_session(st, ks[i]));
                json_object_end(j);
        }
        json_array_end(j);
}

static void print_helper_line(const Tund__StatusReply *st) {
        char up[TUNDCTL_FMT_MAX], version[TUNDCTL_FMT_MAX];

        if (!st->helper)
                return;
        printf("tund-helperd %s (pid %u, up %s): %zu session%s, %u client%s, %u watching\n",
               string_sanitize(version, sizeof(version), st->helper->version), st->helper->pid,
               tundctl_format_duration(up, st->helper->uptime_usec), st->n_sessions,
               st->n_sessions == 1 ? "" : "s", st->clients, st->clients == 1 ? "" : "s",
               st->watchers);
}

static const char *state_color(Tund__SessionState s) {
        return s == TUND__SESSION_STATE__SESSION_STATE_RUNNING ? ANSI_GREEN
               : s == TUND__SESSION_STATE__SESSION_STATE_STALE ? ANSI_RED
                                                               : ANSI_YELLOW;
}

static int print_table(const Tund__StatusReply *st, const HealthEnv *env) {
        _cleanup_(tundctl_table_freep) Table *t =
                tundctl_table_new(9, "profile", "state", "interface", "endpoint", "handshake", "rx",
                                  "tx", "dns", "routes");
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < st->n_sessions; i++) {
                const Tund__SessionInfo *s = st->sessions[i];
                char hs[TUNDCTL_FMT_MAX], rx[TUNDCTL_FMT_MAX], tx[TUNDCTL_FMT_MAX], dns[80],
                        routes[32];
                uint64_t rxb = 0, txb = 0;
                int64_t last = session_last_handshake(s);

                for (size_t p = 0; p < s->n_peers; p++) {
                        rxb += s->peers[p]->rx_bytes;
                        txb += s->peers[p]->tx_bytes;
                }
                snprintf(dns, sizeof(dns), "%s/%s", session_dns_backend(s),
                         s->settings ? tundctl_dns_mode_to_string(s->settings->dns_mode) : "split");
                snprintf(routes, sizeof(routes), "%u", s->applied ? s->applied->routes_applied : 0);
                const char *row[] = { s->profile,
                                      tundctl_session_state_to_string(s->state),
                                      s->ifname,
                                      s->n_peers > 0 ? s->peers[0]->endpoint : NULL,
                                      tundctl_format_age(hs, env->now_sec, last),
                                      tundctl_format_bytes(rx, rxb),
                                      tundctl_format_bytes(tx, txb),
                                      dns,
                                      routes };
                if (tundctl_table_add_row(t, row) < 0)
                        return -ENOMEM;
                tundctl_table_set_color(t, 1, state_color(s->state));
                if (last <= 0 || env->now_sec - last > TUNDCTL_STALE_HANDSHAKE_SEC)
                        tundctl_table_set_color(t, 4, ANSI_YELLOW);
        }
        tundctl_table_print(t, stdout, tundctl_use_color(STDOUT_FILENO));
        return 0;
}

/* Every string of the session came from the helper: each is printed through string_sanitize()
 * into t (what tundctl_table_add_row() does for the table). */
static void print_detail(const Tund__SessionInfo *s, const HealthEnv *env) {
        const Tund__NetworkSettings *ns = s->settings;
        char buf[TUNDCTL_FMT_MAX], age[TUNDCTL_FMT_MAX], t[512];
        time_t started = (time_t) (s->started_usec / USEC_PER_SEC);
        char when[64] = "-";
        struct tm tm;

        if (started > 0 && localtime_r(&started, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
        printf("%s●%s %s\n", tundctl_ansi(state_color(s->state)), tundctl_ansi(ANSI_RESET),
               string_sanitize(t, sizeof(t), s->profile));
        printf("%13s: %s%s%s\n", "State", tundctl_ansi(state_color(s->state)),
               tundctl_session_state_to_string(s->state), tundctl_ansi(ANSI_RESET));
        printf("%13s: %s", "Interface", string_sanitize(t, sizeof(t), s->ifname));
        if (s->applied && s->applied->ifindex)
                printf(" (index %u)", s->applied->ifindex);
        printf("\n%13s: %s (%s)\n", "Started", when,
               tundctl_format_age(age, env->now_sec, (int64_t) started));
        printf("%13s: shim %u, tunnel %u, engine %u (%s)\n", "Processes", s->shim_pid,
               s->tunnel_pid, s->engine_pid,
               isempty(s->engine_version) ? "?" : string_sanitize(t, sizeof(t), s->engine_version));
        if (ns) {
                printf("%13s:", "Addresses");
                for (size_t i = 0; i < ns->n_addresses; i++)
                        printf(" %s", tundctl_format_prefix(buf, ns->addresses[i]));
                printf("%s\n", ns->n_addresses ? "" : " -");
                printf("%13s: %zu requested, %u applied", "Routes", ns->n_routes,
                       s->applied ? s->applied->routes_applied : 0);
                if (s->applied && s->applied->table && s->applied->table != 254)
                        printf(" in table %u", s->applied->table);
                if (s->applied && s->applied->rules_applied)
                        printf(", %u policy rules from priority %u", s->applied->rules_applied,
                               s->applied->rule_priority);
                printf("\n");
        }
        if (s->applied && s->applied->kill_switch)
                printf("%13s: %son%s, nothing leaves or enters around %s\n", "Kill switch",
                       tundctl_ansi(ANSI_GREEN), tundctl_ansi(ANSI_RESET),
                       string_sanitize(t, sizeof(t), s->ifname));
        printf("%13s: %s, %s", "DNS", string_sanitize(t, sizeof(t), session_dns_backend(s)),
               ns ? tundctl_dns_mode_to_string(ns->dns_mode) : "split");
        for (size_t i = 0; ns && i < ns->n_dns_servers; i++)
                printf("%s%s", i ? " " : " (",
                       tundctl_format_address(buf, ns->dns_servers[i].data,
                                              ns->dns_servers[i].len));
        if (ns && ns->n_dns_servers)
                printf(")");
        printf("\n");
        for (size_t i = 0; i < s->n_peers; i++) {
                const Tund__PeerState *p = s->peers[i];
                char rx[TUNDCTL_FMT_MAX], tx[TUNDCTL_FMT_MAX];
                printf("%13s: %s\n", "Peer", string_sanitize(t, sizeof(t), p->public_key));
                printf("%13s  endpoint %s, handshake %s, rx %s, tx %s\n", "",
                       isempty(p->endpoint) ? "-" : string_sanitize(t, sizeof(t), p->endpoint),
                       tundctl_format_age(age, env->now_sec, p->last_handshake_sec),
                       tundctl_format_bytes(rx, p->rx_bytes),
                       tundctl_format_bytes(tx, p->tx_bytes));
        }
}

/* The warnings are printable already (add_warning()); the profile name came from the helper. */
static void print_warnings(const char *profile, char **w, size_t n) {
        char p[256];

        string_sanitize(p, sizeof(p), profile);
        for (size_t i = 0; i < n; i++)
                printf("%s%s: warning: %s%s\n", tundctl_ansi(ANSI_YELLOW), p, w[i],
                       tundctl_ansi(ANSI_RESET));
}

/* The helper's copy of a session's peers is what the tunnel's last poll sent (every
 * TUNNEL_POLL_USEC, and only what changed): right after the first handshake it still says
 * "never" and 0 B while `wg show` says "Now". So status asks the engines once, as `tundctl
 * peers` does, and shows their answer where there is one; a session whose tunnel did not
 * answer keeps the helper's copy. The swapped-in arrays belong to the peers reply: put the
 * originals back (live_peers_restore) before either message is freed. */
typedef struct LivePeers {
        Tund__SessionInfo *session;
        size_t n_peers;
        Tund__PeerState **peers;
} LivePeers;

static LivePeers *live_peers_use(const Tund__StatusReply *st, const Tund__PeersReply *pr) {
        LivePeers *saved = calloc(st->n_sessions + 1, sizeof(LivePeers));
        if (!saved)
                return NULL;
        for (size_t i = 0; i < st->n_sessions; i++) {
                Tund__SessionInfo *s = st->sessions[i];
                saved[i] = (LivePeers){ s, s->n_peers, s->peers };
                for (size_t k = 0; k < pr->n_profiles; k++)
                        if (streq_ptr(pr->profiles[k]->profile, s->profile)) {
                                s->n_peers = pr->profiles[k]->n_peers;
                                s->peers = pr->profiles[k]->peers;
                                break;
                        }
        }
        return saved;
}

static LivePeers *live_peers_restore(LivePeers *saved) {
        for (LivePeers *l = saved; l && l->session; l++) {
                l->session->n_peers = l->n_peers;
                l->session->peers = l->peers;
        }
        free(saved);
        return NULL;
}

static int status_print(const StatusArgs *a, const Tund__StatusReply *st);

int tundctl_status(int argc, char *argv[]) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        const Tund__StatusReply *st;
        StatusArgs a;
        int r;

        r = tundctl_status_parse(argc, argv, &a);
        if (r >= 0)
                return r;
        r = tundctl_get_status(a.profile, false, &reply, &st);
        if (r != 0)
                return r;
        _cleanup_(ipc_msg_freep) IpcMsg *peers_reply = NULL;
        const Tund__PeersReply *pr = NULL;
        LivePeers *saved = NULL;
        if (st->n_sessions > 0 && tundctl_get_peers(a.profile, true, &peers_reply, &pr) == 0) {
                saved = live_peers_use(st, pr);
                if (!saved)
                        return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");
        }
        r = status_print(&a, st);
        live_peers_restore(saved);
        return r;
}

static int status_print(const StatusArgs *a, const Tund__StatusReply *st) {
        HealthEnv env = { .now_sec = now_sec(), .resolv_conf_stub = -1 };
        _cleanup_(strv_freep) char **ks = NULL;
        size_t n_ks = 0;
        if (tundctl_killswitch_names(&ks, &n_ks) == -ENOMEM)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");

        for (size_t i = 0; i < st->n_sessions; i++)
                if (st->sessions[i]->applied &&
                    streq_ptr(st->sessions[i]->applied->dns_backend, "resolved")) {
                        int k = tundctl_resolv_conf_is_stub(RESOLV_CONF);
                        env.resolv_conf_stub = k < 0 ? -1 : k;
                        break;
                }

        Json j = {};
        if (arg_g.json) {
                json_init(&j, stdout);
                json_document_begin(&j);
                json_key(&j, "helper");
                if (!st->helper)
                        json_null(&j);
                else {
                        json_object_begin(&j);
                        json_kv_string(&j, "version", st->helper->version);
                        json_kv_uint(&j, "pid", st->helper->pid);
                        json_kv_uint(&j, "uptime_usec", st->helper->uptime_usec);
                        json_object_end(&j);
                }
                json_kv_uint(&j, "clients", st->clients);
                json_kv_uint(&j, "watchers", st->watchers);
                json_key(&j, "sessions");
                json_array_begin(&j);
        } else {
                tundctl_use_color(STDOUT_FILENO);
                if (!a->profile)
                        print_helper_line(st);
                if (st->n_sessions == 0)
                        printf("No sessions.\n");
                else if (!a->profile) {
                        printf("\n");
                        if (print_table(st, &env) < 0)
                                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");
                }
        }

        bool any_warning = false;
        for (size_t i = 0; i < st->n_sessions; i++) {
                const Tund__SessionInfo *s = st->sessions[i];
                char **w = NULL;
                size_t n = 0;

                if (tundctl_session_health(s, &env, &w, &n) < 0) {
                        strv_free_n(w, n);
                        return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");
                }
                if (arg_g.json)
                        json_session(&j, s, &env, w, n);
                else {
                        if (a->profile)
                                print_detail(s, &env);
                        if (n > 0 && !any_warning && !a->profile)
                                printf("\n");
                        print_warnings(s->profile, w, n);
                }
                any_warning = any_warning || n > 0;
                strv_free_n(w, n);
        }
        if (arg_g.json) {
                json_array_end(&j);
                json_killswitches(&j, st, a->profile, ks, n_ks);
                json_document_end(&j);
        } else
                print_killswitches(st, a->profile, ks, n_ks);
        return TUNDCTL_EXIT_OK;
}
