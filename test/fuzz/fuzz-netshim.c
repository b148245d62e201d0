/* libFuzzer: tund-netshimd's real session, with the fuzzer playing tund-helperd.
 *
 * Each input builds a Manager for one of a few profiles, starts it on one end of a socketpair
 * (manager_start_fd(): everything manager_start() does, TUN, UAPI socket and netlink
 * included, but no connect) and plays the helper on the other end through a real IpcConn on
 * the same sd-event loop: StartSession arrives, and the input decides what the helper says
 * back and when. The process lives in a private network namespace (made in
 * LLVMFuzzerInitialize), so the routes, rules and addresses the shim applies are real and
 * harmless; the profiles' TUN devices are made persistent there, so that a forgotten address
 * shows; DNS goes to a resolvconf stub that logs what it was told (never a real resolved: the
 * bus address is dead). After every input the link, the namespace's tund routes and rules,
 * the state and UAPI files, the stub's records, the fd count and the child processes must be
 * as before: whatever the helper did, the shim reverts what it applied.
 *
 * Input: one header byte, then records T L L payload (L big-endian, cut at the end):
 *   header  bits 0-2 profile (split, full, table, off, missing), bits 3-4 resolvconf stub
 *           (ok, failing, none, ok), bit 5 tiny StartSession timeout, bit 6 tiny StopSession
 *           timeout, bit 7 a stale UAPI socket is left where the shim creates its own
 *   T       low nibble the record kind (below), high nibble its argument A
 *   0 SEND     payload is a HelperToShim; A bits 0-1: one-way, request, reply to the last
 *              request received of class A>>2 (any, StartSession, GetPeers, StopSession),
 *              reply to an id the shim never used
 *   1 SEND_FD  the same with /dev/null attached
 *   2 APPLY    ApplyNetworkSettings: the profile's own settings changed by the payload's
 *              (op, arg) pairs (settings_edit); A bit 0 one-way, bit 1 without settings
 *   3 HOLD     the next A+1 records go out before the loop runs again
 *   4 CLOSE    the helper closes the connection
 *   5 SIGTERM  raised in this thread: the shim's signalfd picks it up
 *   6 TIMER    the shim's status timer fires now (GetPeers)
 *   7 RESTART  the shim is killed (nothing reverted, its TUN vanishes) and started again:
 *              the new one must clean up after it (state file, reconcile)
 * After each record the loop runs until idle, and the state may only have moved forward; a
 * running shim's status timer must be armed. At the end the helper closes (the shim reverts
 * and finishes), and the Manager is freed.
 *
 * TUND_FUZZ_NETSHIM_SEEDS=DIR writes the seed corpus (test/fuzz/corpus/fuzz-netshim/) to DIR
 * and exits; TUND_FUZZ_NETSHIM_LOG=1 shows the shim's log. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fd-util.h"
#include "log.h"
#include "netshim.h"
#include "shim.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void write_seeds(const char *dir);

#define KEY_PRIV "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define KEY_PUB1 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define KEY_PUB2 "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define LOOP_MAX 64

enum { REC_SEND, REC_SEND_FD, REC_APPLY, REC_HOLD, REC_CLOSE, REC_SIGTERM, REC_TIMER, REC_RESTART };
enum { RC_OK, RC_FAIL, RC_NONE };
enum { REQ_ANY, REQ_START, REQ_PEERS, REQ_STOP, _REQ_MAX };

typedef struct FuzzProfile {
        const char *name, *ifname, *text;
} FuzzProfile;

static const FuzzProfile profiles[] = {
        { "split", "tfzn-split",
          "[Interface]\nPrivateKey = " KEY_PRIV "\n"
          "Address = 10.77.0.2/32, fd77::2/128\n"
          "DNS = 10.77.0.1, fd77::1, corp.example\n"
          "MTU = 1400\n\n"
          "[Peer]\nPublicKey = " KEY_PUB1 "\n"
          "Endpoint = 203.0.113.1:51820\n"
          "AllowedIPs = 10.77.0.0/16, 198.51.100.0/24, fd77::/48\n"
          "PersistentKeepalive = 25\n\n"
          "[Peer]\nPublicKey = " KEY_PUB2 "\n"
          "AllowedIPs = 172.31.0.0/16\n\n"
          "[Tund]\nInterfaceName = tfzn-split\nRoutingDomains = intra.example\n" },
        { "full", "tfzn-full",
          "[Interface]\nPrivateKey = " KEY_PRIV "\n"
          "Address = 10.78.0.2/24, fd78::2/64\n"
          "DNS = 10.78.0.1\n\n"
          "[Peer]\nPublicKey = " KEY_PUB1 "\n"
          "Endpoint = 203.0.113.2:51820\n"
          "AllowedIPs = 0.0.0.0/0, ::/0\n\n"
          "[Tund]\nInterfaceName = tfzn-full\nDNSMode = full\n"
          "ExcludedRoutes = 192.168.0.0/16, 203.0.113.2/32\n" },
        { "table", "tfzn-table",
          "[Interface]\nPrivateKey = " KEY_PRIV "\n"
          "Address = 10.79.0.2/32\n"
          "Table = 1234\nFwMark = 0x4d2\n\n"
          "[Peer]\nPublicKey = " KEY_PUB1 "\n"
          "Endpoint = 203.0.113.3:51820\n"
          "AllowedIPs = 0.0.0.0/0, 10.0.0.0/8\n\n"
          "[Tund]\nInterfaceName = tfzn-table\nExcludedRoutes = 10.79.9.0/24\n" },
        { "off", "tfzn-off",
          "[Interface]\nPrivateKey = " KEY_PRIV "\n"
          "Address = 10.80.0.2/32\nTable = off\nMTU = 1280\n\n"
          "[Peer]\nPublicKey = " KEY_PUB1 "\n"
          "AllowedIPs = 10.80.0.0/16\n\n"
          "[Tund]\nInterfaceName = tfzn-off\nEngineTunFlavour = no-pi\n" },
        { "missing", "tund-missing", NULL },
};

/* What the fake helper has seen on the current input's connection. */
typedef struct Helper {
        IpcConn *conn;
        uint64_t last_id[_REQ_MAX]; /* msg_id of the last request received, per class */
        uint64_t max_id;
} Helper;

static char work_dir[64];
static char config_dir[96], state_dir[96], uapi_dir[96], rc_log[96], rc_ok[96], rc_fail[96];
static bool isolated;
static sigset_t saved_mask;
static const EngineInfo fake_engine = {
        .path = "/nonexistent/wireguard-go",
        .version = "0.0.20220316",
        .flavour = ENGINE_TUN_FLAVOUR_PI,
};

/* ---- setup ---- */

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text) ||
            fchmod(fd, mode) < 0) {
                fprintf(stderr, "fuzz-netshim: cannot write %s: %m\n", path);
                abort();
        }
        close(fd);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void remove_work_dir(void) {
        if (work_dir[0] &&
            getpid() == (pid_t) strtol(work_dir + STRLEN("/tmp/tund-fzn-"), NULL, 10))
                (void) nftw(work_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* What a crashed earlier run left (its pid is gone). */
static void remove_stale_work_dirs(void) {
        DIR *d = opendir("/tmp");
        struct dirent *de;
        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[300];
                long pid;
                if (sscanf(de->d_name, "tund-fzn-%ld-", &pid) != 1 || pid <= 0 ||
                    kill((pid_t) pid, 0) == 0 || errno != ESRCH)
                        continue;
                snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
                (void) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        }
        closedir(d);
}

/* A namespace of our own, or nothing that needs one may run: the shim changes routes. */
static bool isolate(void) {
        if (unshare(CLONE_NEWNET) == 0)
                return true;
        if (geteuid() == 0)
                return false;
        /* Not root: a user namespace gives CAP_NET_ADMIN over a network namespace of ours. */
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
                return false;
        char buf[64];
        snprintf(buf, sizeof(buf), "0 %u 1", (unsigned) uid);
        int fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
        bool ok = fd >= 0 && write(fd, buf, strlen(buf)) > 0;
        safe_close(fd);
        fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
        ok = ok && fd >= 0 && write(fd, "deny", 4) == 4;
        safe_close(fd);
        snprintf(buf, sizeof(buf), "0 %u 1", (unsigned) gid);
        fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
        ok = ok && fd >= 0 && write(fd, buf, strlen(buf)) > 0;
        safe_close(fd);
        return ok;
}

static void setup_files(void) {
        remove_stale_work_dirs();
        snprintf(work_dir, sizeof(work_dir), "/tmp/tund-fzn-%ld-XXXXXX", (long) getpid());
        if (!mkdtemp(work_dir))
                abort();
        atexit(remove_work_dir);
        snprintf(config_dir, sizeof(config_dir), "%s/etc", work_dir);
        snprintf(state_dir, sizeof(state_dir), "%s/state", work_dir);
        snprintf(uapi_dir, sizeof(uapi_dir), "%s/wg", work_dir);
        snprintf(rc_log, sizeof(rc_log), "%s/resolvconf.log", work_dir);
        snprintf(rc_ok, sizeof(rc_ok), "%s/resolvconf-ok", work_dir);
        snprintf(rc_fail, sizeof(rc_fail), "%s/resolvconf-fail", work_dir);
        if (mkdir(config_dir, 0700) < 0 || mkdir(uapi_dir, 0755) < 0)
                abort();
        for (size_t i = 0; i < ELEMENTSOF(profiles); i++) {
                char path[160];
                if (!profiles[i].text)
                        continue;
                snprintf(path, sizeof(path), "%s/%s.conf", config_dir, profiles[i].name);
                write_file(path, profiles[i].text, 0600);
        }
        /* resolvconf -a|-d RECORD: the ok stub logs each call (shell builtins only: no fork),
         * so that what the shim added and did not delete shows. */
        char script[512];
        snprintf(script, sizeof(script), "#!/bin/sh\necho \"$1 $2\" >>%s\n", rc_log);
        write_file(rc_ok, script, 0700);
        write_file(rc_fail, "#!/bin/sh\necho \"resolvconf stub: refusing $*\"\nexit 1\n", 0700);
}

/* The profiles' TUN devices, persistent: the shim attaches to one as it would create it, and
 * its close leaves the device (destroying one costs the kernel 10-30 ms). A device that stays
 * also shows whatever a revert forgot (check_clean). It goes with the namespace. */
static bool make_tun_devices(void) {
        for (size_t i = 0; i < ELEMENTSOF(profiles); i++) {
                struct ifreq ifr = { .ifr_flags = IFF_TUN };
                int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", profiles[i].ifname);
                bool ok = fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) >= 0 &&
                          ioctl(fd, TUNSETPERSIST, 1) >= 0;
                safe_close(fd);
                if (!ok)
                        return false;
        }
        return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* No STATUS=/READY=1 to a real service manager, whatever the environment says. */
        unsetenv("NOTIFY_SOCKET");
        log_set_max_level(getenv("TUND_FUZZ_NETSHIM_LOG") ? LOG_DEBUG : -1);
        sigprocmask(SIG_SETMASK, NULL, &saved_mask);
        isolated = isolate() && make_tun_devices();
        if (!isolated)
                fprintf(stderr, "fuzz-netshim: no network namespace with TUN devices of our own "
                                "(%m): the shim is not started, only its profile loading runs\n");
        setup_files();
        const char *seeds = getenv("TUND_FUZZ_NETSHIM_SEEDS");
        if (seeds) {
                write_seeds(seeds);
                exit(0);
        }
        return 0;
}

/* ---- the fake helper ---- */

static int helper_on_message(IpcConn *c, IpcMsg *msg, void *userdata) {
        Helper *h = userdata;
        if (msg->msg_id == 0)
                return 0;
        h->last_id[REQ_ANY] = msg->msg_id;
        h->max_id = MAX(h->max_id, msg->msg_id);
        if (msg->payload_case == TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION)
                h->last_id[REQ_START] = msg->msg_id;
        else if (msg->payload_case == TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS)
                h->last_id[REQ_PEERS] = msg->msg_id;
        else if (msg->payload_case == TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION)
                h->last_id[REQ_STOP] = msg->msg_id;
        return 0; /* answered when the input says so, if ever */
}

static void helper_on_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
}

/* Sends msg the way arg says (see the top); fd >= 0 goes with it. */
static void helper_send(Helper *h, ProtobufCMessage *msg, unsigned arg, int fd) {
        size_t n_fds = fd >= 0 ? 1 : 0;
        uint64_t to;
        switch (arg & 3) {
        case 0:
                (void) ipc_conn_send(h->conn, msg, 0, &fd, n_fds);
                return;
        case 1:
                (void) ipc_conn_call(h->conn, msg, &fd, n_fds, 0, helper_on_reply, h);
                return;
        case 2:
                to = h->last_id[(arg >> 2) & 3];
                break;
        default:
                to = h->max_id + 1 + ((arg >> 2) & 3);
                break;
        }
        if (to > 0)
                (void) ipc_conn_send(h->conn, msg, to, &fd, n_fds);
}

static void helper_send_raw(Helper *h, const uint8_t *p, size_t n, unsigned arg, bool with_fd) {
        ProtobufCMessage *msg =
                protobuf_c_message_unpack(&tund__helper_to_shim__descriptor, NULL, n, p);
        if (!msg)
                return;
        int fd = with_fd ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -EBADF;
        helper_send(h, msg, arg, fd);
        safe_close(fd);
        protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---- ApplyNetworkSettings from the profile's own settings ---- */

static Tund__IpPrefix *prefix_new(const uint8_t *addr, size_t len, uint32_t prefix_len) {
        Tund__IpPrefix *p = malloc(sizeof(*p));
        if (!p)
                abort();
        tund__ip_prefix__init(p);
        p->address.data = malloc(len ?: 1);
        if (!p->address.data)
                abort();
        memcpy_safe(p->address.data, addr, len);
        p->address.len = len;
        p->prefix_len = prefix_len;
        return p;
}

static void prefixes_add(Tund__IpPrefix ***a, size_t *n, Tund__IpPrefix *p) {
        Tund__IpPrefix **b = reallocarray(*a, *n + 1, sizeof(*b));
        if (!b)
                abort();
        b[(*n)++] = p;
        *a = b;
}

static void prefixes_drop(Tund__IpPrefix **a, size_t *n, size_t i) {
        protobuf_c_message_free_unpacked(&a[i]->base, NULL);
        memmove(a + i, a + i + 1, (*n - i - 1) * sizeof(*a));
        (*n)--;
}

static void strings_drop(char **a, size_t *n, size_t i) {
        free(a[i]);
        memmove(a + i, a + i + 1, (*n - i - 1) * sizeof(*a));
        (*n)--;
}

static Tund__NetworkSettings *settings_copy(const Tund__NetworkSettings *s) {
        size_t len = protobuf_c_message_get_packed_size(&s->base);
        uint8_t *buf = malloc(len ?: 1);
        if (!buf)
                abort();
        protobuf_c_message_pack(&s->base, buf);
        Tund__NetworkSettings *c = tund__network_settings__unpack(NULL, len, buf);
        free(buf);
        if (!c)
                abort();
        return c;
}

/* One change to s: most stay within the profile (the shim applies them, and netcfg must
 * turn the previous state into the new one), some do not (refused). */
static void settings_edit(Tund__NetworkSettings *s, uint8_t op, uint8_t arg) {
        static const uint32_t mtus[] = { 0, 575, 576, 1279, 1280, 1420, 9000, 65536 };
        static const uint8_t v4_any[4], v6_any[16], outside[4] = { 1, 2, 3, 0 };
        Tund__IpPrefix *p;
        size_t i;

        switch (op % 23) {
        case 0:
                if (s->n_addresses > 0)
                        prefixes_drop(s->addresses, &s->n_addresses, arg % s->n_addresses);
                break;
        case 1:
                if (s->n_routes > 0)
                        prefixes_drop(s->routes, &s->n_routes, arg % s->n_routes);
                break;
        case 2: /* narrower, still inside */
                if (s->n_routes > 0) {
                        p = s->routes[arg % s->n_routes];
                        p->prefix_len =
                                MIN(p->prefix_len + 1 + arg / 32, (uint32_t) p->address.len * 8);
                }
                break;
        case 3: /* a bit flipped: host bits, or elsewhere */
                if (s->n_routes > 0) {
                        p = s->routes[arg % s->n_routes];
                        if (p->address.len > 0)
                                p->address.data[(arg / 8) % p->address.len] ^=
                                        (uint8_t) (1u << (arg % 8));
                }
                break;
        case 4: /* an excluded hole inside a route */
                if (s->n_routes > 0) {
                        p = s->routes[arg % s->n_routes];
                        prefixes_add(
                                &s->excluded_routes, &s->n_excluded_routes,
                                prefix_new(p->address.data, p->address.len,
                                           MIN(p->prefix_len + 8, (uint32_t) p->address.len * 8)));
                }
                break;
        case 5:
                if (s->n_dns_servers > 0) {
                        i = arg % s->n_dns_servers;
                        free(s->dns_servers[i].data);
                        memmove(s->dns_servers + i, s->dns_servers + i + 1,
                                (s->n_dns_servers - i - 1) * sizeof(*s->dns_servers));
                        s->n_dns_servers--;
                }
                break;
        case 6:
                if (s->n_search_domains > 0)
                        strings_drop(s->search_domains, &s->n_search_domains,
                                     arg % s->n_search_domains);
                break;
        case 7:
                if (s->n_routing_domains > 0)
                        strings_drop(s->routing_domains, &s->n_routing_domains,
                                     arg % s->n_routing_domains);
                break;
        case 8:
                s->mtu = mtus[arg % ELEMENTSOF(mtus)];
                break;
        case 9: /* a default route */
                prefixes_add(&s->routes, &s->n_routes,
                             arg & 1 ? prefix_new(v6_any, 16, 0) : prefix_new(v4_any, 4, 0));
                break;
        case 10:
                s->dns_default_route = !s->dns_default_route;
                break;
        case 11:
                s->table ^= 1u + arg;
                break;
        case 12:
                s->fwmark ^= 1u + arg;
                break;
        case 13:
                if (s->n_routes > 0) {
                        p = s->routes[arg % s->n_routes];
                        prefixes_add(&s->routes, &s->n_routes,
                                     prefix_new(p->address.data, p->address.len, p->prefix_len));
                }
                break;
        case 14: /* another order */
                for (i = 0; i < s->n_routes / 2; i++) {
                        p = s->routes[i];
                        s->routes[i] = s->routes[s->n_routes - 1 - i];
                        s->routes[s->n_routes - 1 - i] = p;
                }
                for (i = 0; i + 1 < s->n_addresses; i += 2) {
                        p = s->addresses[i];
                        s->addresses[i] = s->addresses[i + 1];
                        s->addresses[i + 1] = p;
                }
                break;
        case 15: /* an address with another prefix length */
                if (s->n_addresses > 0) {
                        p = s->addresses[arg % s->n_addresses];
                        prefixes_add(&s->addresses, &s->n_addresses,
                                     prefix_new(p->address.data, p->address.len,
                                                (p->prefix_len + 1 + arg) % 130));
                }
                break;
        case 16: /* a DNS server twice */
                if (s->n_dns_servers > 0) {
                        ProtobufCBinaryData *d =
                                reallocarray(s->dns_servers, s->n_dns_servers + 1, sizeof(*d));
                        if (!d)
                                abort();
                        s->dns_servers = d;
                        ProtobufCBinaryData *src = &d[arg % s->n_dns_servers];
                        d[s->n_dns_servers].len = src->len;
                        d[s->n_dns_servers].data = malloc(src->len ?: 1);
                        if (!d[s->n_dns_servers].data)
                                abort();
                        memcpy_safe(d[s->n_dns_servers].data, src->data, src->len);
                        s->n_dns_servers++;
                }
                break;
        case 17: /* nothing at all */
                while (s->n_addresses > 0)
                        prefixes_drop(s->addresses, &s->n_addresses, 0);
                while (s->n_routes > 0)
                        prefixes_drop(s->routes, &s->n_routes, 0);
                while (s->n_excluded_routes > 0)
                        prefixes_drop(s->excluded_routes, &s->n_excluded_routes, 0);
                while (s->n_dns_servers > 0)
                        free(s->dns_servers[--s->n_dns_servers].data);
                while (s->n_search_domains > 0)
                        strings_drop(s->search_domains, &s->n_search_domains, 0);
                while (s->n_routing_domains > 0)
                        strings_drop(s->routing_domains, &s->n_routing_domains, 0);
                break;
        case 18:
                s->table_off = !s->table_off;
                break;
        case 19:
                s->dns_mode = s->dns_mode == TUND__DNS_MODE__DNS_MODE_FULL
                                      ? TUND__DNS_MODE__DNS_MODE_SPLIT
                                      : TUND__DNS_MODE__DNS_MODE_FULL;
                break;
        case 20: /* excluding what the profile never routed */
                prefixes_add(&s->excluded_routes, &s->n_excluded_routes,
                             prefix_new(outside, 4, 24));
                break;
        case 21: /* a prefix length beyond the address */
                if (s->n_routes > 0)
                        s->routes[arg % s->n_routes]->prefix_len = 129 + arg;
                break;
        default: /* an address of neither family */
                if (s->n_routes > 0) {
                        p = s->routes[arg % s->n_routes];
                        uint8_t five[5] = { 10, 77, 0, 0, 1 };
                        prefixes_add(&s->routes, &s->n_routes, prefix_new(five, 5, p->prefix_len));
                }
                break;
        }
}

static void helper_apply(Helper *h, const Manager *m, const uint8_t *p, size_t n, unsigned arg) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__ApplyNetworkSettings a = TUND__APPLY_NETWORK_SETTINGS__INIT;
        Tund__NetworkSettings *s = NULL;
        if (!(arg & 2)) {
                s = settings_copy(m->config->network);
                for (size_t i = 0; i + 1 < n; i += 2)
                        settings_edit(s, p[i], p[i + 1]);
                a.settings = s;
        }
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        out.apply_network_settings = &a;
        helper_send(h, &out.base, arg & 1 ? 0 : 1, -EBADF);
        if (s)
                protobuf_c_message_free_unpacked(&s->base, NULL);
}

/* ---- one input ---- */

static void check(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-netshim: %s\n", what);
                abort();
        }
}

/* Runs the loop until idle, then checks what must hold whatever the helper said: the state
 * only moves forward (a stopping shim never becomes ready again), and a running shim's
 * status timer stays armed. */
static void step(Manager *m, NetshimState *last) {
        for (unsigned i = 0; i < LOOP_MAX; i++)
                if (sd_event_get_state(m->event) == SD_EVENT_FINISHED ||
                    sd_event_run(m->event, 0) <= 0)
                        break;
        check(m->state >= *last, "the shim's state went backwards");
        *last = m->state;
        int enabled = SD_EVENT_OFF;
        if (m->state == NETSHIM_RUNNING && m->status_timer)
                check(sd_event_source_get_enabled(m->status_timer, &enabled) >= 0 &&
                              enabled != SD_EVENT_OFF,
                      "the status timer of a running shim is off");
}

/* The stub's log must end with the record deleted, if it was ever added. */
static bool resolvconf_clean(void) {
        char line[128];
        bool added = false;
        FILE *f = fopen(rc_log, "re");
        if (!f)
                return errno == ENOENT;
        while (fgets(line, sizeof(line), f))
                added = line[1] == 'a';
        fclose(f);
        (void) unlink(rc_log);
        return !added;
}

/* A child of this thread (the shim spawns resolvconf), alive or a zombie. libFuzzer's
 * llvm-symbolizer is expected. */
static bool child_left(void) {
        char path[64], comm[64], buf[512];
        bool left = false;
        FILE *f;
        snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int) gettid());
        if (!(f = fopen(path, "re")))
                return false;
        if (!fgets(buf, sizeof(buf), f))
                buf[0] = 0;
        fclose(f);
        for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t;
             t = strtok_r(NULL, " \n", &save)) {
                snprintf(path, sizeof(path), "/proc/%s/comm", t);
                if (!(f = fopen(path, "re")))
                        continue;
                if (!fgets(comm, sizeof(comm), f))
                        comm[0] = 0;
                fclose(f);
                if (strncmp(comm, "llvm-symbolizer", 15) != 0) {
                        fprintf(stderr, "fuzz-netshim: child %s: %s", t, comm);
                        left = true;
                }
        }
        return left;
}

/* Nothing of the session may survive it: the link is as before, down, without addresses
 * (but the kernel's link-local one), tund routes or rules. */
static void check_clean(const FuzzProfile *fp) {
        char path[200];
        NetcfgLink link = {};
        NetcfgRoute *routes = NULL;
        NetcfgRule *rules = NULL;
        NetcfgAddress *addrs = NULL;
        size_t n_routes = 0, n_rules = 0, n_addrs = 0, global = 0;

        check(netcfg_read_link(fp->ifname, 0, &link, NULL) >= 0,
              "after the input, the TUN device is gone");
        check(!link.up, "after the input, the link is still up");
        check(link.mtu == 1500, "after the input, the link's MTU was not restored");
        check(netcfg_read_addresses(link.ifindex, &addrs, &n_addrs, NULL) >= 0,
              "cannot read addresses");
        for (size_t i = 0; i < n_addrs; i++)
                global += !(addrs[i].prefix.family == AF_INET6 && addrs[i].prefix.addr[0] == 0xfe &&
                            (addrs[i].prefix.addr[1] & 0xc0) == 0x80);
        check(global == 0, "after the input, addresses are left on the link");
        check(netcfg_read_routes(0, 0, NETCFG_RTPROT_TUND, &routes, &n_routes, NULL) >= 0 &&
                      n_routes == 0,
              "after the input, tund routes are left");
        check(netcfg_read_rules(NETCFG_RULE_PRIO_MIN, NETCFG_RULE_PRIO_MAX, &rules, &n_rules,
                                NULL) >= 0 &&
                      n_rules == 0,
              "after the input, tund rules are left");
        free(addrs);
        free(routes);
        free(rules);
        snprintf(path, sizeof(path), "%s/%s.state", state_dir, fp->name);
        check(access(path, F_OK) < 0 && errno == ENOENT, "after the input, the state file is left");
        snprintf(path, sizeof(path), "%s/%s.sock", uapi_dir, fp->ifname);
        check(access(path, F_OK) < 0 && errno == ENOENT,
              "after the input, the UAPI socket file is left");
        check(resolvconf_clean(), "after the input, the resolvconf record is left");
        check(!child_left(), "after the input, a child process is left");
}

/* A SIGTERM the shim never read must not reach libFuzzer's handler (or the next shim). */
static void drain_signals(void) {
        sigset_t ss;
        siginfo_t si;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        while (sigtimedwait(&ss, &si, &(struct timespec){}) > 0)
                ;
}

static void leave_stale_uapi_socket(const FuzzProfile *fp) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", uapi_dir, fp->ifname);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                abort();
        close(fd);
}

/* One run of the shim and the helper talking to it. */
typedef struct Session {
        Manager *m;
        Helper h;
        NetshimState last;
} Session;

/* Starts the shim on a socketpair; false if manager_start_fd() failed (and the shim is
 * finished, as main() does). */
static bool session_start(Session *s, const NetshimOptions *o) {
        int sv[2];
        *s = (Session){};
        if (manager_new(&s->m, o) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        int r = manager_start_fd(s->m, sv[0]);
        if (r < 0) {
                manager_finish(s->m, r == -EINVAL ? NETSHIM_EXIT_CONFIG : NETSHIM_EXIT_FAILURE);
                close(sv[1]);
                return false;
        }
        if (ipc_conn_new(&s->h.conn, s->m->event, sv[1], &ipc_channel_shim_server) < 0)
                abort();
        IpcHandlers hh = { .on_message = helper_on_message };
        ipc_conn_set_handlers(s->h.conn, &hh, &s->h);
        s->last = s->m->state;
        step(s->m, &s->last);
        return true;
}

/* The helper's end first: it shares the shim's loop, which must go with the Manager. */
static void session_free(Session *s) {
        if (s->h.conn) {
                ipc_conn_close(s->h.conn, 0, NULL);
                s->h.conn = ipc_conn_unref(s->h.conn);
        }
        s->m = manager_free(s->m);
}

/* What SIGKILL leaves of a shim: nothing reverted, the state file and the UAPI socket file
 * stay, the TUN device vanishes with its link-bound settings (the persistent one is made
 * again, without them). */
static void session_kill(Session *s, const FuzzProfile *fp) {
        s->m->state = NETSHIM_DONE; /* or freeing it would close the connection and revert */
        session_free(s);
        struct ifreq ifr = { .ifr_flags = IFF_TUN };
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", fp->ifname);
        if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 0) < 0)
                abort();
        close(fd);
        if (!make_tun_devices())
                abort();
}

static void run_input(const uint8_t *data, size_t size) {
        uint8_t hdr = data[0];
        const FuzzProfile *fp = &profiles[(hdr & 7) % ELEMENTSOF(profiles)];
        unsigned rc = (hdr >> 3) & 3, restarts = 0;
        NetshimOptions o = {
                .profile_name = fp->name,
                .config_dir = config_dir,
                .shim_socket = "/nonexistent/shim.sock",
                .state_dir = state_dir,
                .uapi_dir = uapi_dir,
                .engine = &fake_engine,
                .bus_address = "unix:path=/nonexistent/bus",
                .resolvconf = rc == RC_FAIL   ? rc_fail
                              : rc == RC_NONE ? "/nonexistent/rc"
                                              : rc_ok,
                .start_timeout_usec = hdr & 0x20 ? 1 : 60 * USEC_PER_SEC,
                .stop_timeout_usec = hdr & 0x40 ? 1 : 60 * USEC_PER_SEC,
        };
        bool stale = (hdr & 0x80) && fp->text;
        Session s;

        if (stale)
                leave_stale_uapi_socket(fp);
        if (!session_start(&s, &o))
                goto done;

        unsigned hold = 0;
        for (size_t off = 1; off + 3 <= size && s.m->state != NETSHIM_DONE;) {
                unsigned kind = data[off] & 15, arg = data[off] >> 4;
                size_t len = MIN((size_t) data[off + 1] << 8 | data[off + 2], size - off - 3);
                const uint8_t *p = data + off + 3;
                off += 3 + len;
                switch (kind) {
                case REC_SEND:
                case REC_SEND_FD:
                        helper_send_raw(&s.h, p, len, arg, kind == REC_SEND_FD);
                        break;
                case REC_APPLY:
                        helper_apply(&s.h, s.m, p, len, arg);
                        break;
                case REC_HOLD:
                        hold = arg + 2; /* this record, then arg + 1 more */
                        break;
                case REC_CLOSE:
                        ipc_conn_close(s.h.conn, 0, NULL);
                        break;
                case REC_SIGTERM:
                        raise(SIGTERM);
                        break;
                case REC_TIMER:
                        if (s.m->status_timer)
                                (void) sd_event_source_set_time_relative(s.m->status_timer, 0);
                        break;
                case REC_RESTART:
                        /* Destroying a TUN costs the kernel 10-30 ms: a few per input. */
                        if (restarts++ >= 3)
                                break;
                        drain_signals();
                        session_kill(&s, fp);
                        if (!session_start(&s, &o))
                                goto done;
                        hold = 0;
                        continue;
                default:
                        break;
                }
                if (hold > 0 && --hold > 0)
                        continue;
                step(s.m, &s.last);
        }

        /* The helper goes away: the shim must notice, revert and finish. */
        if (s.m->state != NETSHIM_DONE) {
                ipc_conn_close(s.h.conn, 0, NULL);
                step(s.m, &s.last);
                check(s.m->state == NETSHIM_DONE, "the shim did not notice that the helper closed");
        }
done:
        check(s.m->state == NETSHIM_DONE && sd_event_get_exit_code(s.m->event, &(int){ 0 }) >= 0,
              "the shim finished without ending its loop");
        session_free(&s);
        if (stale) {
                char path[200];
                snprintf(path, sizeof(path), "%s/%s.sock", uapi_dir, fp->ifname);
                (void) unlink(path);
        }
        drain_signals();
        sigprocmask(SIG_SETMASK, &saved_mask, NULL);
        check_clean(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 16384)
                return 0;
        int fds = fd_count_open();
        if (isolated)
                run_input(data, size);
        else {
                /* Without a namespace: only what needs no privilege. */
                Profile *p = NULL;
                const FuzzProfile *fp = &profiles[(data[0] & 7) % ELEMENTSOF(profiles)];
                (void) profile_load_name(config_dir, fp->name, &p, NULL);
                profile_free(p);
        }
        check(fd_count_open() == fds, "after the input, the fd count changed");
        return 0;
}

/* ---- the seed corpus ---- */

typedef struct Seed {
        uint8_t buf[4096];
        size_t len;
} Seed;

static void seed_rec(Seed *s, unsigned kind, unsigned arg, const void *p, size_t n) {
        if (s->len + 3 + n > sizeof(s->buf))
                abort();
        s->buf[s->len++] = (uint8_t) (kind | arg << 4);
        s->buf[s->len++] = (uint8_t) (n >> 8);
        s->buf[s->len++] = (uint8_t) n;
        memcpy_safe(s->buf + s->len, p, n);
        s->len += n;
}

static void seed_msg(Seed *s, unsigned kind, unsigned arg, Tund__HelperToShim *msg) {
        uint8_t buf[2048];
        size_t n = tund__helper_to_shim__get_packed_size(msg);
        if (n > sizeof(buf))
                abort();
        tund__helper_to_shim__pack(msg, buf);
        seed_rec(s, kind, arg, buf, n);
}

#define HOW_ONEWAY 0
#define HOW_REQUEST 1
#define HOW_REPLY(class) (2 | (class) << 2)
#define HOW_UNKNOWN 3

static void seed_started(Seed *s) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__StartSessionReply r = TUND__START_SESSION_REPLY__INIT;
        r.tunnel_pid = 4242;
        r.engine_pid = 4243;
        r.engine_version = (char *) "0.0.20220316";
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY;
        out.start_session_reply = &r;
        seed_msg(s, REC_SEND, HOW_REPLY(REQ_START), &out);
}

static void seed_error(Seed *s, unsigned how, Tund__ErrorCode code, const char *text) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__Error e = TUND__ERROR__INIT;
        e.code = code;
        e.message = (char *) text;
        e.errno_value = 5;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_ERROR;
        out.error = &e;
        seed_msg(s, REC_SEND, how, &out);
}

static void seed_ack(Seed *s, unsigned how) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__Ack a = TUND__ACK__INIT;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_ACK;
        out.ack = &a;
        seed_msg(s, REC_SEND, how, &out);
}

static void seed_peers(Seed *s, unsigned how, unsigned n, int64_t handshake) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__PeerUpdate u = TUND__PEER_UPDATE__INIT;
        Tund__PeerState ps[2], *pp[2];
        for (unsigned i = 0; i < n; i++) {
                tund__peer_state__init(&ps[i]);
                ps[i].public_key = (char *) (i ? KEY_PUB2 : KEY_PUB1);
                ps[i].endpoint = (char *) (i ? "" : "203.0.113.1:51820");
                ps[i].last_handshake_sec = handshake - i;
                ps[i].rx_bytes = 1000;
                pp[i] = &ps[i];
        }
        u.profile = (char *) "split";
        u.peers = pp;
        u.n_peers = n;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_PEERS;
        out.peers = &u;
        seed_msg(s, REC_SEND, how, &out);
}

static void seed_exited(Seed *s, int status, int sig, const char *reason) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__TunnelExited e = TUND__TUNNEL_EXITED__INIT;
        e.exit_status = status;
        e.signal = sig;
        e.reason = (char *) reason;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_TUNNEL_EXITED;
        out.tunnel_exited = &e;
        seed_msg(s, REC_SEND, HOW_ONEWAY, &out);
}

/* The profile's own settings as a protobuf record, for mutations at that level. */
static void seed_apply_raw(Seed *s, unsigned kind, const char *profile) {
        Profile *p = NULL;
        Tund__WgConfig *c = NULL;
        if (profile_load_name(config_dir, profile, &p, NULL) < 0 || profile_to_wg_config(p, &c) < 0)
                abort();
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__ApplyNetworkSettings a = TUND__APPLY_NETWORK_SETTINGS__INIT;
        a.settings = c->network;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        out.apply_network_settings = &a;
        seed_msg(s, kind, HOW_REQUEST, &out);
        profile_wg_config_free(c);
        profile_free(p);
}

static void seed_apply(Seed *s, unsigned arg, const char *edits, size_t n) {
        seed_rec(s, REC_APPLY, arg, edits, n);
}

static void seed_write(const char *dir, const char *name, const Seed *s) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
                fprintf(stderr, "fuzz-netshim: cannot write %s: %m\n", path);
                exit(1);
        }
}

#define SEED(name, hdr, ...)                                                                       \
        do {                                                                                       \
                Seed s_ = { .buf = { (hdr) }, .len = 1 };                                          \
                Seed *s = &s_;                                                                     \
                __VA_ARGS__;                                                                       \
                seed_write(dir, name, s);                                                          \
        } while (0)

#define P_SPLIT 0
#define P_FULL 1
#define P_TABLE 2
#define P_OFF 3
#define P_MISSING 4
#define H_RC_FAIL (RC_FAIL << 3)
#define H_RC_NONE (RC_NONE << 3)
#define H_START_TIMEOUT 0x20
#define H_STOP_TIMEOUT 0x40
#define H_STALE_UAPI 0x80

static void write_seeds(const char *dir) {
        static const char *const names[] = { "split", "full", "table", "off" };
        char name[64];
        (void) mkdir(dir, 0755);

        /* The whole life of a session, per profile: apply, started, status, stop. */
        for (unsigned i = 0; i < 4; i++) {
                snprintf(name, sizeof(name), "%s-session", names[i]);
                SEED(name, i, seed_apply(s, 0, NULL, 0); seed_started(s);
                     seed_rec(s, REC_TIMER, 0, NULL, 0);
                     seed_peers(s, HOW_REPLY(REQ_PEERS), 2, 1700000000);
                     seed_rec(s, REC_SIGTERM, 0, NULL, 0); seed_ack(s, HOW_REPLY(REQ_STOP)));
                snprintf(name, sizeof(name), "%s-apply-raw", names[i]);
                SEED(name, i, seed_apply_raw(s, REC_SEND, names[i]); seed_started(s);
                     seed_exited(s, 1, 0, "engine failed"));
                snprintf(name, sizeof(name), "%s-reapply", names[i]);
                SEED(name, i, seed_apply(s, 0, NULL, 0); seed_apply(s, 0, "\x01\x00\x02\x05", 4);
                     seed_apply(s, 0, "\x00\x01\x05\x00\x04\x02", 6);
                     seed_apply(s, 0, "\x11\x00", 2); seed_apply(s, 0, NULL, 0); seed_started(s));
        }
        /* Refusals: wider routes, foreign DNS, other table/fwmark/mode, bad prefixes. */
        SEED("refused-default-route", P_SPLIT, seed_apply(s, 0, "\x09\x00", 2); seed_started(s));
        SEED("refused-dns-route", P_SPLIT, seed_apply(s, 0, "\x0a\x00", 2));
        SEED("refused-dns-mode", P_FULL, seed_apply(s, 0, "\x13\x00", 2));
        SEED("refused-table", P_TABLE, seed_apply(s, 0, "\x0b\x00\x0c\x00", 4));
        SEED("refused-table-off", P_OFF, seed_apply(s, 0, "\x12\x00", 2));
        SEED("refused-address", P_SPLIT, seed_apply(s, 0, "\x0f\x03", 2));
        SEED("refused-excluded", P_SPLIT, seed_apply(s, 0, "\x14\x00", 2));
        SEED("refused-prefix-len", P_SPLIT, seed_apply(s, 0, "\x15\x01", 2));
        SEED("refused-family", P_SPLIT, seed_apply(s, 0, "\x16\x00", 2));
        SEED("refused-mtu", P_SPLIT, seed_apply(s, 0, "\x08\x01", 2));
        SEED("host-bits", P_SPLIT, seed_apply(s, 0, "\x03\x1f", 2); seed_apply(s, 0, NULL, 0));
        SEED("excluded-hole", P_SPLIT, seed_apply(s, 0, "\x04\x01\x04\x02\x10\x00", 6));
        SEED("apply-no-settings", P_SPLIT, seed_apply(s, 2, NULL, 0));
        SEED("apply-oneway", P_FULL, seed_apply(s, 1, NULL, 0); seed_started(s));
        /* DNS that fails or has no backend: rolled back, reported. */
        SEED("dns-fail", P_SPLIT | H_RC_FAIL, seed_apply(s, 0, NULL, 0); seed_started(s));
        SEED("dns-none", P_FULL | H_RC_NONE, seed_apply(s, 0, NULL, 0);
             seed_apply(s, 0, "\x05\x00", 2));
        /* StartSession: error, timeout, peer gone, a reply to nothing. */
        SEED("start-error", P_SPLIT, seed_apply(s, 0, NULL, 0);
             seed_error(s, HOW_REPLY(REQ_START), TUND__ERROR_CODE__ERROR_ENGINE, "engine died"));
        SEED("start-timeout", P_SPLIT | H_START_TIMEOUT, seed_apply(s, 0, NULL, 0));
        SEED("start-close", P_FULL, seed_apply(s, 0, NULL, 0); seed_rec(s, REC_CLOSE, 0, NULL, 0));
        SEED("start-unknown-reply", P_SPLIT, seed_started(s);
             seed_msg(s, REC_SEND, HOW_UNKNOWN, &(Tund__HelperToShim) TUND__HELPER_TO_SHIM__INIT));
        SEED("start-wrong-payload", P_OFF, seed_ack(s, HOW_REPLY(REQ_START));
             seed_apply(s, 0, NULL, 0));
        /* Stopping: SIGTERM before and after start, error and timeout of StopSession. */
        SEED("stop-starting", P_SPLIT, seed_rec(s, REC_SIGTERM, 0, NULL, 0); seed_started(s);
             seed_ack(s, HOW_REPLY(REQ_STOP)));
        SEED("stop-error", P_TABLE, seed_apply(s, 0, NULL, 0); seed_started(s);
             seed_rec(s, REC_SIGTERM, 0, NULL, 0); seed_exited(s, 0, 0, "stopped");
             seed_error(s, HOW_REPLY(REQ_STOP), TUND__ERROR_CODE__ERROR_PEER_GONE, "tunnel gone"));
        SEED("stop-timeout", P_SPLIT | H_STOP_TIMEOUT, seed_apply(s, 0, NULL, 0); seed_started(s);
             seed_rec(s, REC_SIGTERM, 0, NULL, 0));
        SEED("stop-twice", P_FULL, seed_started(s); seed_rec(s, REC_SIGTERM, 0, NULL, 0);
             seed_rec(s, REC_SIGTERM, 0, NULL, 0); seed_rec(s, REC_CLOSE, 0, NULL, 0));
        /* Running: exits, peers, unsupported requests, fds nobody asked for. */
        SEED("exited-signal", P_SPLIT, seed_apply(s, 0, NULL, 0); seed_started(s);
             seed_exited(s, -1, 9, ""));
        SEED("peers-none", P_SPLIT, seed_started(s); seed_rec(s, REC_TIMER, 0, NULL, 0);
             seed_peers(s, HOW_REPLY(REQ_PEERS), 0, 0); seed_rec(s, REC_TIMER, 0, NULL, 0);
             seed_peers(s, HOW_REPLY(REQ_PEERS), 1, 0));
        SEED("peers-error", P_FULL, seed_started(s); seed_rec(s, REC_TIMER, 0, NULL, 0);
             seed_error(s, HOW_REPLY(REQ_PEERS), TUND__ERROR_CODE__ERROR_TIMEOUT, "engine slow"));
        SEED("unsupported", P_SPLIT, seed_ack(s, HOW_REQUEST); seed_peers(s, HOW_ONEWAY, 1, 5);
             seed_error(s, HOW_REQUEST, TUND__ERROR_CODE__ERROR_INTERNAL, "?"));
        SEED("fd-attached", P_SPLIT, seed_apply_raw(s, REC_SEND_FD, "split"); seed_started(s));
        /* Several messages in one read, then the helper is gone. */
        SEED("hold-close", P_FULL, seed_rec(s, REC_HOLD, 2, NULL, 0); seed_apply(s, 0, NULL, 0);
             seed_started(s); seed_rec(s, REC_CLOSE, 0, NULL, 0));
        SEED("hold-sigterm", P_SPLIT, seed_rec(s, REC_HOLD, 1, NULL, 0); seed_apply(s, 0, NULL, 0);
             seed_rec(s, REC_SIGTERM, 0, NULL, 0); seed_ack(s, HOW_REPLY(REQ_STOP)));
        /* Killed and started again: the new shim removes what the old one applied. */
        SEED("restart-applied", P_FULL, seed_apply(s, 0, NULL, 0); seed_started(s);
             seed_rec(s, REC_RESTART, 0, NULL, 0); seed_apply(s, 0, NULL, 0); seed_started(s);
             seed_rec(s, REC_SIGTERM, 0, NULL, 0); seed_ack(s, HOW_REPLY(REQ_STOP)));
        SEED("restart-table", P_TABLE, seed_apply(s, 0, NULL, 0);
             seed_rec(s, REC_RESTART, 0, NULL, 0); seed_rec(s, REC_RESTART, 0, NULL, 0);
             seed_apply(s, 0, "\x01\x00", 2));
        SEED("restart-split", P_SPLIT, seed_apply(s, 0, "\x04\x00", 2);
             seed_rec(s, REC_RESTART, 0, NULL, 0));
        /* Setup paths: a stale UAPI socket, a missing profile. */
        SEED("stale-uapi", P_OFF | H_STALE_UAPI, seed_apply(s, 0, NULL, 0); seed_started(s));
        SEED("missing-profile", P_MISSING, seed_started(s));
}
