/* tunnel-driver: plays the helper (and the shim) for tund-tunnel in integration tests.
 *
 *   tunnel-driver --tunnel BIN --profile FILE --ifname NAME [--engine PATH]
 *                 [--flavour auto|pi|no-pi] [--engine-timeout-ms N] [--log-level LEVEL]
 *                 [--settings apply|ack|error]
 *
 * Creates the TUN (flags from the engine's version via libprofile/engine.h, or --flavour), the
 * UAPI listening socket /var/run/wireguard/NAME.sock and a socketpair, spawns BIN --allow-root
 * with them on fds 3/4/5, sends StartRequest built from the wg-quick style profile, answers
 * NetworkSettingsRequest (apply: addresses, link up and routes with ip(8)), and then reads
 * commands on stdin: "peers", "rebind", "stop", "start" (a second StartRequest), "quit".
 * Everything it sees is printed one event per line (START_OK, START_ERROR, SETTINGS, LOG,
 * STATUS, PEERS/PEER, ACK, ERROR, STOP_OK, TUNNEL_EXIT), for the scripts to grep. */
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <arpa/inet.h>

#include "engine.h"
#include "ipc.h"
#include "profile.h"
#include "tunnel.pb-c.h"
#include "wg-key.h"

static const char *arg_tunnel, *arg_profile, *arg_ifname, *arg_engine = ENGINE_DEFAULT_PATH;
static const char *arg_flavour = "auto", *arg_settings = "apply", *arg_log_level = "error";
static unsigned arg_engine_timeout_ms;

static sd_event *event;
static IpcConn *conn;
static Tund__WgConfig *config;
static Profile *profile;
static char uapi_path[108];
static pid_t tunnel_pid;
static uint64_t t0;

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void out(const char *fmt, ...) _printf_(1, 2);
static void out(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static const char *prefix_str(const Tund__IpPrefix *p, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN] = "?";
        if (p->address.len == 4 || p->address.len == 16)
                inet_ntop(p->address.len == 4 ? AF_INET : AF_INET6, p->address.data, a, sizeof(a));
        snprintf(buf, size, "%s/%u", a, p->prefix_len);
        return buf;
}

static int run_ip(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
                  const char *a6) {
        char *argv[] = { (char *) "ip", (char *) a1, (char *) a2, (char *) a3,
                         (char *) a4,   (char *) a5, (char *) a6, NULL };
        pid_t pid;
        int st;
        if (posix_spawnp(&pid, "ip", NULL, NULL, argv, (char *[]){ NULL }))
                return -errno;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static void print_prefixes(const char *what, Tund__IpPrefix **p, size_t n) {
        char line[2048] = "", buf[64];
        for (size_t i = 0; i < n; i++) {
                strncat(line, i ? "," : "", sizeof(line) - strlen(line) - 1);
                strncat(line, prefix_str(p[i], buf, sizeof(buf)), sizeof(line) - strlen(line) - 1);
        }
        out("SETTINGS %s=%s", what, line);
}

static int apply_settings(const Tund__NetworkSettings *s) {
        char buf[64], mtu[16];
        int r = 0;
        for (size_t i = 0; r >= 0 && i < s->n_addresses; i++)
                r = run_ip("addr", "add", prefix_str(s->addresses[i], buf, sizeof(buf)), "dev",
                           arg_ifname, NULL);
        if (r >= 0 && s->mtu) {
                snprintf(mtu, sizeof(mtu), "%u", s->mtu);
                r = run_ip("link", "set", arg_ifname, "mtu", mtu, NULL);
        }
        if (r >= 0)
                r = run_ip("link", "set", arg_ifname, "up", NULL, NULL);
        for (size_t i = 0; r >= 0 && i < s->n_routes; i++)
                r = run_ip("route", "replace", prefix_str(s->routes[i], buf, sizeof(buf)), "dev",
                           arg_ifname, NULL);
        return r;
}

static void on_settings(IpcConn *c, IpcMsg *m) {
        Tund__NetworkSettingsRequest *req =
                ipc_msg_payload(m, TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST);
        const Tund__NetworkSettings *s = req ? req->settings : NULL;
        if (!s) {
                ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_INVALID, EINVAL,
                                     "no settings");
                return;
        }
        print_prefixes("addresses", s->addresses, s->n_addresses);
        print_prefixes("routes", s->routes, s->n_routes);
        print_prefixes("excluded", s->excluded_routes, s->n_excluded_routes);
        out("SETTINGS mtu=%u fwmark=%u dns=%zu table_off=%d", s->mtu, s->fwmark, s->n_dns_servers,
            s->table_off);
        if (streq(arg_settings, "error")) {
                ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_NETCFG, EEXIST,
                                     "driver refuses the settings (test)");
                return;
        }
        if (streq(arg_settings, "apply") && apply_settings(s) < 0) {
                ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_NETCFG, EIO,
                                     "ip(8) failed");
                return;
        }
        Tund__HelperToTunnel h = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__NetworkSettingsResult res = TUND__NETWORK_SETTINGS_RESULT__INIT;
        res.ifname = (char *) arg_ifname;
        res.ifindex = if_nametoindex(arg_ifname);
        res.dns_backend = (char *) "none";
        res.routes_applied = (uint32_t) s->n_routes;
        h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT;
        h.network_settings_result = &res;
        ipc_conn_send(c, &h.base, m->msg_id, NULL, 0);
}

static void print_peers(const Tund__PeerUpdate *u) {
        out("PEERS delta=%d n=%zu t=%llu", u->delta, u->n_peers,
            (unsigned long long) (now_ms() - t0));
        for (size_t i = 0; i < u->n_peers; i++) {
                const Tund__PeerState *p = u->peers[i];
                out("PEER key=%s endpoint=%s hs=%lld rx=%llu tx=%llu ka=%u psk=%d ips=%zu",
                    p->public_key, p->endpoint, (long long) p->last_handshake_sec,
                    (unsigned long long) p->rx_bytes, (unsigned long long) p->tx_bytes,
                    p->persistent_keepalive, p->has_preshared_key, p->n_allowed_ips);
        }
}

static int on_message(IpcConn *c, IpcMsg *m, void *userdata) {
        Tund__TunnelToHelper *t = (Tund__TunnelToHelper *) m->msg;
        switch (m->payload_case) {
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST:
                on_settings(c, m);
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG:
                out("LOG level=%d pid=%u %s", t->log->level, t->log->pid, t->log->message);
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS:
                out("STATUS state=%d pid=%u %s", t->status->state, t->status->engine_pid,
                    t->status->text);
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS:
                print_peers(t->peers);
                break;
        default:
                out("UNEXPECTED case=%u msg_id=%llu", m->payload_case,
                    (unsigned long long) m->msg_id);
                if (m->msg_id)
                        ipc_conn_reply_error(c, m->msg_id, TUND__ERROR_CODE__ERROR_UNSUPPORTED, 0,
                                             "driver: unsupported");
        }
        return 0;
}

static void on_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        const char *what = userdata;
        if (error < 0) {
                out("ERROR %s local=%d (%s)", what, -error, strerror(-error));
                return;
        }
        const Tund__Error *e = ipc_msg_error(reply);
        Tund__TunnelToHelper *t = (Tund__TunnelToHelper *) reply->msg;
        if (e) {
                out("%s code=%d errno=%d message=%s",
                    streq(what, "start") ? "START_ERROR" : "ERROR", e->code, e->errno_value,
                    e->message);
                return;
        }
        switch (reply->payload_case) {
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE:
                out("START_OK pid=%u version=%s ms=%llu", t->start_response->engine_pid,
                    t->start_response->engine_version, (unsigned long long) (now_ms() - t0));
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE:
                out("STOP_OK status=%d", t->stop_response->engine_exit_status);
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS:
                print_peers(t->peers);
                break;
        case TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK:
                out("ACK %s", what);
                break;
        default:
                out("UNEXPECTED reply case=%u to %s", reply->payload_case, what);
        }
}

static void call(Tund__HelperToTunnel *h, const char *what) {
        int64_t r =
                ipc_conn_call(conn, &h->base, NULL, 0, 60 * USEC_PER_SEC, on_reply, (void *) what);
        if (r < 0)
                out("ERROR %s send=%d", what, (int) -r);
}

static void send_start(void) {
        Tund__HelperToTunnel h = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StartRequest s = TUND__START_REQUEST__INIT;
        s.profile = profile->name;
        s.ifname = (char *) arg_ifname;
        s.config = config;
        s.engine_timeout_ms = arg_engine_timeout_ms;
        h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST;
        h.start_request = &s;
        call(&h, "start");
}

static void command(const char *line) {
        Tund__HelperToTunnel h = TUND__HELPER_TO_TUNNEL__INIT;
        if (streq(line, "peers")) {
                Tund__GetPeers g = TUND__GET_PEERS__INIT;
                h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS;
                h.get_peers = &g;
                call(&h, "peers");
        } else if (streq(line, "rebind")) {
                Tund__Rebind r = TUND__REBIND__INIT;
                h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND;
                h.rebind = &r;
                call(&h, "rebind");
        } else if (streq(line, "stop")) {
                Tund__StopRequest s = TUND__STOP_REQUEST__INIT;
                s.reason = (char *) "driver";
                h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST;
                h.stop_request = &s;
                call(&h, "stop");
        } else if (streq(line, "start"))
                send_start();
        else if (streq(line, "quit"))
                sd_event_exit(event, 0);
        else if (*line)
                out("UNKNOWN command %s", line);
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        static char buf[256];
        static size_t len;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        len += (size_t) n;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
                *nl = 0;
                command(buf);
                len -= (size_t) (nl + 1 - buf);
                memmove(buf, nl + 1, len);
        }
        if (len == sizeof(buf) - 1)
                len = 0;
        return 0;
}

static void on_close(IpcConn *c, int error, const char *reason, void *userdata) {
        out("CLOSED error=%d reason=%s", error, reason ? reason : "");
}

static int on_tunnel_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        if (si->si_code == CLD_EXITED)
                out("TUNNEL_EXIT code=%d", si->si_status);
        else
                out("TUNNEL_EXIT signal=%d", si->si_status);
        /* As the helper would: a dead tunnel's engine must not outlive it (it exits when its
         * socket file goes away). */
        unlink(uapi_path);
        /* Let the last messages be read, then end. */
        sd_event_exit(event, 0);
        return 0;
}

static int tun_create(int *ret_fd) {
        EngineTunFlavour fl = engine_tun_flavour_from_string(arg_flavour);
        if (fl == ENGINE_TUN_FLAVOUR_UNKNOWN) {
                EngineInfo info;
                char *err = NULL;
                if (engine_detect(arg_engine, &info, &err) < 0) {
                        fprintf(stderr, "driver: %s\n", err ? err : "engine detection failed");
                        /* A fake engine may have no version: the old flavour then. */
                        fl = ENGINE_TUN_FLAVOUR_PI;
                        free(err);
                } else
                        fl = info.flavour;
        }
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct ifreq ifr = {};
        ifr.ifr_flags = IFF_TUN | (fl == ENGINE_TUN_FLAVOUR_NO_PI ? IFF_NO_PI : 0);
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", arg_ifname);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                close(fd);
                return -errno;
        }
        *ret_fd = fd;
        return 0;
}

static int uapi_listen(int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mkdir("/var/run/wireguard", 0755);
        snprintf(uapi_path, sizeof(uapi_path), "/var/run/wireguard/%s.sock", arg_ifname);
        strcpy(sa.sun_path, uapi_path);
        unlink(uapi_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        mode_t old = umask(077);
        int r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0 || listen(fd, 16) < 0) {
                close(fd);
                return -errno;
        }
        *ret_fd = fd;
        return 0;
}

static int spawn_tunnel(int sock, int tun, int uapi) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none;
        char *argv[] = { (char *) arg_tunnel,
                         (char *) "--allow-root",
                         (char *) "--engine",
                         (char *) arg_engine,
                         (char *) "--engine-log-level",
                         (char *) arg_log_level,
                         NULL };
        char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        /* Above the targets, so that no dup2 clobbers a source. */
        int s2 = fcntl(sock, F_DUPFD_CLOEXEC, 10), t2 = fcntl(tun, F_DUPFD_CLOEXEC, 10),
            u2 = fcntl(uapi, F_DUPFD_CLOEXEC, 10);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, s2, 3);
        posix_spawn_file_actions_adddup2(&fa, t2, 4);
        posix_spawn_file_actions_adddup2(&fa, u2, 5);
        posix_spawn_file_actions_addclosefrom_np(&fa, 6);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        int r = posix_spawn(&tunnel_pid, arg_tunnel, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(s2);
        close(t2);
        close(u2);
        return -r;
}

static int parse_argv(int argc, char **argv) {
        static const struct option options[] = {
                { "tunnel", required_argument, NULL, 't' },
                { "profile", required_argument, NULL, 'p' },
                { "ifname", required_argument, NULL, 'i' },
                { "engine", required_argument, NULL, 'e' },
                { "flavour", required_argument, NULL, 'f' },
                { "engine-timeout-ms", required_argument, NULL, 'T' },
                { "log-level", required_argument, NULL, 'l' },
                { "settings", required_argument, NULL, 's' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        arg_tunnel = optarg;
                        break;
                case 'p':
                        arg_profile = optarg;
                        break;
                case 'i':
                        arg_ifname = optarg;
                        break;
                case 'e':
                        arg_engine = optarg;
                        break;
                case 'f':
                        arg_flavour = optarg;
                        break;
                case 'T':
                        arg_engine_timeout_ms = (unsigned) atoi(optarg);
                        break;
                case 'l':
                        arg_log_level = optarg;
                        break;
                case 's':
                        arg_settings = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (!arg_tunnel || !arg_profile || !arg_ifname) {
                fprintf(stderr, "usage: tunnel-driver --tunnel BIN --profile FILE --ifname NAME "
                                "[...]\n");
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv) {
        int pair[2], tun = -1, uapi = -1, r;
        char *err = NULL;
        sigset_t ss;

        if (parse_argv(argc, argv) < 0)
                return 2;
        t0 = now_ms();
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        if (profile_load_file(arg_profile, &profile, &err) < 0 ||
            profile_to_wg_config(profile, &config) < 0) {
                fprintf(stderr, "driver: %s\n", err ? err : "profile failed");
                return 1;
        }
        if ((r = tun_create(&tun)) < 0 || (r = uapi_listen(&uapi)) < 0) {
                fprintf(stderr, "driver: TUN/UAPI setup failed: %s\n", strerror(-r));
                return 1;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return 1;
        if ((r = spawn_tunnel(pair[1], tun, uapi)) < 0) {
                fprintf(stderr, "driver: cannot spawn %s: %s\n", arg_tunnel, strerror(-r));
                return 1;
        }
        close(pair[1]);
        /* The helper drops its UAPI copy; the TUN stays with its owner (the shim) so the link
         * outlives the engine, as in production. */
        close(uapi);
        out("TUNNEL_PID %d", (int) tunnel_pid);

        sd_event_default(&event);
        sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        sd_event_add_child(event, NULL, tunnel_pid, WEXITED, on_tunnel_exit, NULL);
        sd_event_add_io(event, NULL, STDIN_FILENO, EPOLLIN, on_stdin, NULL);
        r = ipc_conn_new(&conn, event, pair[0], &ipc_channel_tunnel_helper);
        if (r < 0) {
                fprintf(stderr, "driver: ipc_conn_new: %s\n", strerror(-r));
                return 1;
        }
        ipc_conn_set_handlers(
                conn, &(IpcHandlers){ .on_message = on_message, .on_close = on_close }, NULL);
        send_start();
        r = sd_event_loop(event);
        /* Whatever is left, the tunnel must not outlive its helper unnoticed: the tests check
         * that closing our end is enough. */
        ipc_conn_close(conn, 0, "driver exiting");
        ipc_conn_unref(conn);
        profile_wg_config_free(config);
        profile_free(profile);
        close(tun);
        return r < 0 ? 1 : 0;
}
