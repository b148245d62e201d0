/* libFuzzer: tund-tunnel's real message handlers (tunnel-manager.c) on a fake helper and a fake
 * engine that both live in this process, so that every path of the state machine can be
 * reached from bytes: helper requests and replies, engine UAPI answers, engine output and
 * exits, signals, and time.
 *
 * An input is a list of records [kind | arg << 4][length, 2 bytes LE][payload]:
 *    0 CALL     the helper sends payload (a packed HelperToTunnel) as a request
 *    1 SEND     ... as a one-way message
 *    2 REPLY    ... as the reply to the (arg & 7)-th request it received (NetworkSettingsRequest)
 *               (for these three, arg & 8 attaches an fd)
 *    3 RAW      payload as raw bytes on the helper's socket, between two frames
 *    4 HANGUP   the helper closes its end (odd arg: shuts down writing only)
 *    5 ANSWER   the engine writes payload on its arg-th open UAPI connection (arg & 8: then EOF)
 *    6 DROP     the engine closes its arg-th UAPI connection (arg & 8: refuses connections)
 *    7 PRINT    the engine writes payload to its stdout/stderr
 *    8 EXIT     the engine exits: arg 0 on its own (status 0), else killed by a signal
 *    9 ADVANCE  the clock moves on by payload (u32 LE, ms) or by a step chosen by arg
 *   10 SIGNAL   SIGTERM (odd arg: SIGINT) for the tunnel
 *   11 MODE     arg bits: 1 the engine answers UAPI requests itself, 2 the helper answers
 *               NetworkSettingsRequest itself, 4 the engine ignores SIGTERM
 *   12 VERSION  what `engine --version` prints (for a StartRequest without engine_version)
 *   13 WAIT     the loop runs with a short real wait (arg + 1 ms)
 *   14 FLOOD    ANSWER with payload [count, 2 bytes LE][text]: text count times (up to 6 MiB)
 *   15 SPEW     PRINT likewise (up to 256 KiB)
 * After every record both loops (the tunnel's and the helper's) run until idle (bounded). The
 * seed corpus test/fuzz/corpus/fuzz-tunnel/ is written by this harness:
 *   TUND_FUZZ_TUNNEL_SEEDS=test/fuzz/corpus/fuzz-tunnel build-fuzz/fuzz-tunnel
 *
 * The engine is a shell script that execs cat(1) on a pipe of this process (PRINT writes to it,
 * EXIT 0 closes it): a real child, spawned, watched and reaped by the tunnel, that cannot
 * outlive the fuzzer. The UAPI side of the engine is played here: the listening socket the
 * tunnel hands to the engine is also ours, and we accept and answer on it.
 *
 * Time: while an input runs, CLOCK_MONOTONIC (and BOOTTIME) on this thread is virtual:
 * clock_gettime() below stands still but for ADVANCE, so that every timer of the tunnel (poll,
 * UAPI timeouts, kill, grace, drain, settings) fires exactly when the input says. libFuzzer
 * measures with CLOCK_REALTIME, which stays real.
 *
 * Isolation (LLVMFuzzerInitialize): private network and mount namespaces (a user namespace
 * too when not root); a TUN "tfzt0" created once; /etc/nsswitch.conf and /etc/hosts replaced
 * by "hosts: files" and a few test names, so endpoint host names never reach a real resolver.
 * Where the namespaces cannot be had, host names are rewritten to a numeric endpoint instead.
 * Without a TUN, only tund-tunnel's fd checks are exercised (it insists on one).
 *
 * Checks beyond ASan/UBSan (fatal here)/LSan, each a bug when it fires: a reply of the wrong
 * type to a request, a request from the tunnel that is not NetworkSettingsRequest, a one-way
 * message after StopResponse (the tunnel's last), a request the tunnel read but never answered
 * before it exited, a private or preshared key (base64 or hex) in anything but PeerUpdate, an fd
 * or an engine process left behind after tunnel_free().
 * TUND_FUZZ_VERBOSE=1 shows the tunnel's log lines (silenced by default), 2 also what the helper
 * receives. */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "ipc.h"
#include "tunnel-uapi.h"
#include "tunnel.h"
#include "wg-key.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* Undefined behaviour is a finding like any other: stop at the first (the fuzzers are built
 * with recoverable UBSan checks). */
const char *__ubsan_default_options(void) {
        return "halt_on_error=1:print_stacktrace=1";
}

enum {
        REC_CALL,
        REC_SEND,
        REC_REPLY,
        REC_RAW,
        REC_HANGUP,
        REC_ANSWER,
        REC_DROP,
        REC_PRINT,
        REC_EXIT,
        REC_ADVANCE,
        REC_SIGNAL,
        REC_MODE,
        REC_VERSION,
        REC_WAIT,
        REC_FLOOD,
        REC_SPEW,
};

#define MODE_AUTO_ENGINE 1u
#define MODE_AUTO_HELPER 2u
#define MODE_IGNORE_TERM 4u

#define FZ_IFNAME "tfzt0"
#define FZ_VERSION_DEFAULT                                                                         \
        "wireguard-go v0.0.20220316\n\nUserspace WireGuard daemon for linux-amd64.\n"
#define FZ_MAX_CONNS 8
#define FZ_MAX_IDS 16
#define FZ_MAX_SECRETS 8
#define FZ_MAX_PEERS 4
/* Real time after which an input no longer waits for the engine child or a lookup. */
#define FZ_WAIT_BUDGET_USEC (300 * USEC_PER_MSEC)

/* ---- the virtual clock ---- */

static pthread_t vclock_thread;
static bool vclock_active;
static uint64_t vclock_base, vclock_usec;

int clock_gettime(clockid_t id, struct timespec *ts) {
        static int (*real)(clockid_t, struct timespec *);

        if (vclock_active && (id == CLOCK_MONOTONIC || id == CLOCK_BOOTTIME) &&
            pthread_equal(pthread_self(), vclock_thread)) {
                ts->tv_sec = (time_t) (vclock_usec / USEC_PER_SEC);
                ts->tv_nsec = (long) (vclock_usec % USEC_PER_SEC * NSEC_PER_USEC);
                return 0;
        }
        if (!real)
                real = (int (*)(clockid_t, struct timespec *)) dlsym(RTLD_NEXT, "clock_gettime");
        return real ? real(id, ts) : (int) syscall(SYS_clock_gettime, id, ts);
}

static uint64_t real_usec(void) {
        struct timespec ts;
        (void) syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* ---- process-wide setup ---- */

static char fz_dir[64], fz_engine[96], fz_uapi_path[96], fz_version_path[96], fz_ignore_path[96];
static char fz_ifname[IFNAMSIZ] = FZ_IFNAME;
static int fz_tun = -EBADF, fz_null = -EBADF;
static int fz_out_fd = -EBADF; /* a fixed number: the engine's cat reads /proc/PID/fd/N */
static bool fz_dns_isolated;
static int fz_verbose;
static FILE *fz_stderr, *fz_quiet;
static pid_t fz_pid;

static void fz_fail(const char *fmt, ...) _printf_(1, 2);
static void fz_fail(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("fuzz-tunnel: ", fz_stderr);
        vfprintf(fz_stderr, fmt, ap);
        fputc('\n', fz_stderr);
        fflush(fz_stderr);
        va_end(ap);
        abort();
}

static int write_file(const char *path, const char *text, size_t len, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return negative_errno();
        ssize_t n = write(fd, text, len);
        safe_close(fd);
        return n == (ssize_t) len ? 0 : -EIO;
}

static void remove_dir(const char *dir) {
        static const char *const files[] = { "engine",    "version",       "ignore-term",
                                             "uapi.sock", "nsswitch.conf", "hosts" };
        char p[128];
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
                (void) unlink(p);
        }
        (void) rmdir(dir);
}

static void fz_cleanup(void) {
        if (getpid() == fz_pid && fz_dir[0])
                remove_dir(fz_dir);
}

/* Directories of fuzzers that crashed (no atexit then). */
static void remove_stale_dirs(void) {
        DIR *d = opendir("/tmp");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                int pid;
                char p[300];
                if (sscanf(de->d_name, "tund-fzt-%d", &pid) != 1 || pid == fz_pid ||
                    kill(pid, 0) == 0 || errno != ESRCH)
                        continue;
                snprintf(p, sizeof(p), "/tmp/%s", de->d_name);
                remove_dir(p);
        }
        if (d)
                closedir(d);
}

static int bind_file(const char *name, const char *text, const char *target) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", fz_dir, name);
        int r = write_file(p, text, strlen(text), 0644);
        if (r >= 0 && mount(p, target, NULL, MS_BIND, NULL) < 0)
                r = negative_errno();
        (void) unlink(p);
        return r;
}

/* Own network and mount namespaces: the TUN is ours alone, and getaddrinfo() reads only our
 * /etc/hosts. */
static void fz_isolate(void) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        bool ns = false;
        char map[64];

        if (geteuid() == 0)
                ns = unshare(CLONE_NEWNS | CLONE_NEWNET) == 0;
        else if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) == 0) {
                (void) write_file("/proc/self/setgroups", "deny", 4, 0);
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
                (void) write_file("/proc/self/uid_map", map, strlen(map), 0);
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
                (void) write_file("/proc/self/gid_map", map, strlen(map), 0);
                ns = true;
        }
        if (!ns) {
                fprintf(fz_stderr, "fuzz-tunnel: no private namespaces (%m): the TUN lives in "
                                   "this network namespace and host names are made numeric\n");
                return;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return;
        fz_dns_isolated = bind_file("nsswitch.conf", "hosts: files\n", "/etc/nsswitch.conf") >= 0 &&
                          bind_file("hosts",
                                    "127.0.0.1 localhost\n192.0.2.10 vpn.fuzz.test\n"
                                    "2001:db8::10 vpn6.fuzz.test\n198.51.100.7 both.fuzz.test\n"
                                    "2001:db8::7 both.fuzz.test\n",
                                    "/etc/hosts") >= 0;
        if (!fz_dns_isolated)
                fprintf(fz_stderr, "fuzz-tunnel: cannot replace /etc/hosts: host names are "
                                   "made numeric\n");
}

static void fz_make_tun(void) {
        struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                fprintf(fz_stderr, "fuzz-tunnel: no /dev/net/tun (%m): only the fd checks run\n");
                return;
        }
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", FZ_IFNAME);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                /* Another fuzzer's TUN in a shared namespace: let the kernel pick. */
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tfzt%%d");
                if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                        fprintf(fz_stderr, "fuzz-tunnel: cannot create a TUN (%m): only the fd "
                                           "checks run\n");
                        safe_close(fd);
                        return;
                }
        }
        snprintf(fz_ifname, sizeof(fz_ifname), "%s", ifr.ifr_name);
        fz_tun = fd;
}

static void fz_write_engine(void) {
        char script[512];
        int n = snprintf(script, sizeof(script),
                         "#!/bin/sh\n"
                         "# fuzz-tunnel's wireguard-go: prints what the fuzzer writes into a pipe\n"
                         "# and exits when the fuzzer closes it (or exits itself).\n"
                         "[ \"$1\" = --version ] && exec cat %s\n"
                         "[ -e %s ] && trap '' TERM\n"
                         "exec cat /proc/%d/fd/%d\n",
                         fz_version_path, fz_ignore_path, (int) fz_pid, fz_out_fd);
        if (write_file(fz_engine, script, (size_t) n, 0755) < 0 ||
            write_file(fz_version_path, FZ_VERSION_DEFAULT, strlen(FZ_VERSION_DEFAULT), 0644) < 0)
                fz_fail("cannot write %s: %m", fz_engine);
}

static void fz_generate_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        sigset_t ss;
        const char *seeds = getenv("TUND_FUZZ_TUNNEL_SEEDS");

        fz_stderr = stderr;
        fz_pid = getpid();
        if (seeds) {
                fz_generate_seeds(seeds);
                exit(0);
        }
        if (getenv("TUND_FUZZ_VERBOSE"))
                fz_verbose = atoi(getenv("TUND_FUZZ_VERBOSE"));
        if (fz_verbose < 1)
                fz_quiet = fopen("/dev/null", "we");
        remove_stale_dirs();
        snprintf(fz_dir, sizeof(fz_dir), "/tmp/tund-fzt-%d", (int) fz_pid);
        remove_dir(fz_dir);
        if (mkdir(fz_dir, 0755) < 0)
                fz_fail("cannot create %s: %m", fz_dir);
        atexit(fz_cleanup);
        snprintf(fz_engine, sizeof(fz_engine), "%s/engine", fz_dir);
        snprintf(fz_uapi_path, sizeof(fz_uapi_path), "%s/uapi.sock", fz_dir);
        snprintf(fz_version_path, sizeof(fz_version_path), "%s/version", fz_dir);
        snprintf(fz_ignore_path, sizeof(fz_ignore_path), "%s/ignore-term", fz_dir);

        fz_isolate();
        fz_make_tun();
        fz_null = open("/dev/null", O_RDWR | O_CLOEXEC);
        fz_out_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fz_null < 0 || fz_out_fd < 0)
                fz_fail("cannot open /dev/null: %m");
        fz_write_engine();

        /* SIGCHLD stays blocked (sd-event watches children by pidfd). SIGTERM and SIGINT are
         * blocked only while tund-tunnel adds its signal sources and while SIGNAL delivers one:
         * the tunnel's signalfd must not swallow a ^C meant for libFuzzer. */
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        pthread_sigmask(SIG_BLOCK, &ss, NULL);

        vclock_thread = pthread_self();
        /* Ahead of the real clock, so that sd-event's timerfds never fire on their own. */
        vclock_base = real_usec() + 30 * 24 * 3600 * USEC_PER_SEC;
        return 0;
}

/* ---- one input's world ---- */

typedef struct FakeUapiConn {
        int fd;
        size_t len;   /* request bytes read */
        char head[8]; /* the request's first bytes: "get=1" or "set=1" */
        char tail[2]; /* its last two: "\n\n" ends it */
        bool answered;
        uint8_t *out; /* what is still to be written (FLOOD) */
        size_t out_len, out_done;
} FakeUapiConn;

static struct {
        sd_event *event, *hevent; /* the tunnel's loop, the helper's */
        Tunnel *tunnel;
        IpcConn *helper;
        int helper_raw; /* the helper's socket again: raw bytes, half-close */
        int listener;   /* the engine's UAPI socket, as the engine holds it */
        FakeUapiConn conns[FZ_MAX_CONNS];
        size_t n_conns;
        int out_w;     /* what the engine prints */
        uint8_t *spew; /* what is still to be printed (SPEW) */
        size_t spew_len, spew_done;
        pid_t engine_pid;
        bool engine_gone, start_sent, may_resolve, version_changed, ignore_term, stopped, hung_up;
        bool raw_sent; /* the helper's frames may have been swallowed by a RAW one */
        unsigned mode, external;
        uint64_t ids[FZ_MAX_IDS];
        size_t n_ids;
        char secrets[FZ_MAX_SECRETS][WG_KEY_HEX_LEN + 1];
        size_t n_secrets;
        char peers[FZ_MAX_PEERS][WG_KEY_HEX_LEN + 1];
        size_t n_peers;
        uint64_t counter, deadline;
        unsigned threads;
} fz;

static bool fz_finished(void) {
        return !fz.event || sd_event_get_state(fz.event) == SD_EVENT_FINISHED;
}

/* ---- checks ---- */

static void remember_secret(const char *s) {
        uint8_t key[WG_KEY_LEN];
        if (isempty(s) || fz.n_secrets + 2 > FZ_MAX_SECRETS || wg_key_from_base64(key, s) < 0)
                return;
        snprintf(fz.secrets[fz.n_secrets++], sizeof(fz.secrets[0]), "%s", s);
        wg_key_to_hex(fz.secrets[fz.n_secrets++], key);
        explicit_wipe(key, sizeof(key));
}

/* Secrets the input also put into a field that is not secret (a profile name, an endpoint)
 * may show up legitimately: those are not followed. */
static void forget_echoed_secrets(Tund__StartRequest *req, size_t first) {
        Tund__WgConfig *cfg = req->config;
        char *saved[1 + 64] = {};
        size_t n = 0;

        if (cfg) {
                saved[n++] = cfg->private_key;
                cfg->private_key = (char *) "";
                for (size_t i = 0; i < cfg->n_peers && n < ELEMENTSOF(saved); i++) {
                        saved[n++] = cfg->peers[i]->preshared_key;
                        cfg->peers[i]->preshared_key = (char *) "";
                }
        }
        size_t len = protobuf_c_message_get_packed_size(&req->base);
        uint8_t *buf = malloc(len + 1);
        if (buf)
                protobuf_c_message_pack(&req->base, buf);
        if (cfg) {
                n = 0;
                cfg->private_key = saved[n++];
                for (size_t i = 0; i < cfg->n_peers && n < ELEMENTSOF(saved); i++)
                        cfg->peers[i]->preshared_key = saved[n++];
        }
        for (size_t i = first; i < fz.n_secrets; i++)
                if (!buf || memmem(buf, len, fz.secrets[i], strlen(fz.secrets[i])))
                        fz.secrets[i][0] = 0;
        free(buf);
}

static void check_secrets(const IpcMsg *m) {
        if (fz.n_secrets == 0 || m->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS)
                return;
        size_t len = protobuf_c_message_get_packed_size(m->msg);
        uint8_t *buf = malloc(len + 1);
        if (!buf)
                return;
        protobuf_c_message_pack(m->msg, buf);
        for (size_t i = 0; i < fz.n_secrets; i++)
                if (fz.secrets[i][0] && memmem(buf, len, fz.secrets[i], strlen(fz.secrets[i])))
                        fz_fail("a key (%s form) in a message of case %u to the helper",
                                i % 2 ? "hex" : "base64", m->payload_case);
        free(buf);
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;
        while (d && readdir(d))
                n++;
        if (d)
                closedir(d);
        return n;
}

static unsigned count_threads(void) {
        char buf[1024];
        unsigned n = 0;
        int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        safe_close(fd);
        if (k <= 0)
                return 0;
        buf[k] = 0;
        /* Field 20, counted from the one after the command name in parentheses. */
        const char *p = strrchr(buf, ')');
        for (int field = 2; p && field < 20; field++)
                p = strchr(p + 1, ' ');
        if (p)
                sscanf(p + 1, "%u", &n);
        return n;
}

/* The engine among our children (libFuzzer may have others, e.g. a symbolizer): its command
 * line names our directory (the script) or our pipe (cat). */
static pid_t find_engine(void) {
        char path[64], buf[512] = "", pipe_path[64];
        snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int) fz_pid);
        snprintf(pipe_path, sizeof(pipe_path), "/proc/%d/fd/%d", (int) fz_pid, fz_out_fd);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        safe_close(fd);
        buf[MAX(k, (ssize_t) 0)] = 0;
        for (char *p = buf, *end; *p; p = end) {
                char cmd[512];
                long pid = strtol(p, &end, 10);
                if (end == p)
                        break;
                snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                k = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
                safe_close(fd);
                for (ssize_t i = 0; i < k; i++)
                        cmd[i] = cmd[i] ? cmd[i] : ' ';
                cmd[MAX(k, (ssize_t) 0)] = 0;
                if (strstr(cmd, fz_dir) || strstr(cmd, pipe_path))
                        return (pid_t) pid;
                if (k <= 0) {
                        /* A zombie has no command line left, but its name. */
                        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        k = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
                        safe_close(fd);
                        cmd[MAX(k, (ssize_t) 0)] = 0;
                        if (strstr(cmd, "(cat)") || strstr(cmd, "(engine)"))
                                return (pid_t) pid;
                }
        }
        return 0;
}

static bool child_exited(pid_t pid) {
        siginfo_t si = {};
        if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
                return true; /* reaped by the tunnel already */
        return si.si_pid == pid;
}

/* ---- the helper ---- */

/* TUND_FUZZ_VERBOSE=2: what the helper receives. */
static void trace(const char *what, const IpcMsg *m) {
        const Tund__TunnelToHelper *t = (const Tund__TunnelToHelper *) m->msg;
        const char *text = "";
        if (fz_verbose < 2)
                return;
        if (t->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG && t->log)
                text = t->log->message;
        else if (t->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS && t->status)
                text = t->status->text;
        else if (t->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_ERROR && t->error)
                text = t->error->message;
        fprintf(fz_stderr, "helper <- %s case %u id %llu to %llu: %s\n", what, m->payload_case,
                (unsigned long long) m->msg_id, (unsigned long long) m->response_to,
                text ? text : "");
}

/* Replies to requests that came later may follow StopResponse; nothing unsolicited may. */
static void check_after_stop(const IpcMsg *m) {
        if (fz.stopped && m->response_to == 0)
                fz_fail("message of case %u after StopResponse", m->payload_case);
        if (m->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE)
                fz.stopped = true;
}

static int on_helper_message(IpcConn *c, IpcMsg *m, void *userdata) {
        trace("message", m);
        check_secrets(m);
        check_after_stop(m);
        if (m->msg_id == 0)
                return 0;
        if (m->payload_case != TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST)
                fz_fail("the tunnel sent a request of case %u", m->payload_case);
        if (fz.n_ids < FZ_MAX_IDS)
                fz.ids[fz.n_ids++] = m->msg_id;
        if (fz.mode & MODE_AUTO_HELPER) {
                Tund__HelperToTunnel h = TUND__HELPER_TO_TUNNEL__INIT;
                Tund__NetworkSettingsResult res = TUND__NETWORK_SETTINGS_RESULT__INIT;
                res.ifname = fz_ifname;
                res.ifindex = if_nametoindex(fz_ifname);
                res.dns_backend = (char *) "none";
                h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT;
                h.network_settings_result = &res;
                (void) ipc_conn_send(c, &h.base, m->msg_id, NULL, 0);
        }
        return 0;
}

static void on_helper_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        uint32_t sent = (uint32_t) (uintptr_t) userdata, want = 0;
        if (error < 0)
                return;
        trace("reply", reply);
        check_secrets(reply);
        check_after_stop(reply);
        switch (sent) {
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST:
                want = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST:
                want = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS:
                want = TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND:
                want = TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK;
                break;
        }
        if (reply->payload_case != TUND__TUNNEL_TO_HELPER__PAYLOAD_ERROR &&
            reply->payload_case != want)
                fz_fail("request of case %u answered with case %u", sent, reply->payload_case);
}

static void replace_string(char **s, const char *with) {
        char *n = strdup(with);
        if (!n)
                return;
        if (*s && *s != protobuf_c_empty_string)
                free(*s);
        *s = n;
}

/* A StartRequest as the real helper would send it to this TUN, minus real DNS lookups. */
static void prepare_start(Tund__StartRequest *req) {
        Tund__WgConfig *cfg = req->config;
        size_t first = fz.n_secrets;

        fz.start_sent = true;
        if (streq_ptr(req->ifname, FZ_IFNAME) && !streq(fz_ifname, FZ_IFNAME))
                replace_string(&req->ifname, fz_ifname);
        if (!cfg)
                return;
        remember_secret(cfg->private_key);
        fz.n_peers = 0;
        for (size_t i = 0; i < cfg->n_peers; i++) {
                Tund__WgPeer *p = cfg->peers[i];
                uint8_t key[WG_KEY_LEN];
                char *host = NULL;
                uint16_t port;
                union sockaddr_union sa;

                remember_secret(p->preshared_key);
                if (fz.n_peers < FZ_MAX_PEERS && wg_key_from_base64(key, p->public_key) >= 0)
                        wg_key_to_hex(fz.peers[fz.n_peers++], key);
                if (!isempty(p->endpoint) && uapi_endpoint_split(p->endpoint, &host, &port) >= 0 &&
                    uapi_endpoint_numeric(host, port, &sa) == 0) {
                        fz.may_resolve = true;
                        if (!fz_dns_isolated)
                                replace_string(&p->endpoint, "192.0.2.1:51820");
                }
                free(host);
        }
        forget_echoed_secrets(req, first);
}

static void helper_send(unsigned kind, unsigned arg, const uint8_t *p, size_t n) {
        Tund__HelperToTunnel *m = (Tund__HelperToTunnel *) protobuf_c_message_unpack(
                &tund__helper_to_tunnel__descriptor, NULL, n, p);
        int fds[1] = { fz_null };
        size_t n_fds = arg & 8 ? 1 : 0;

        if (!m)
                return;
        if (m->payload_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST && m->start_request)
                prepare_start(m->start_request);
        if (m->payload_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND)
                fz.may_resolve = fz.may_resolve || fz.start_sent;
        if (kind == REC_CALL)
                (void) ipc_conn_call(fz.helper, &m->base, fds, n_fds, 0, on_helper_reply,
                                     (void *) (uintptr_t) m->payload_case);
        else if (kind == REC_SEND)
                (void) ipc_conn_send(fz.helper, &m->base, 0, fds, n_fds);
        else
                (void) ipc_conn_send(fz.helper, &m->base,
                                     fz.n_ids ? fz.ids[(arg & 7) % fz.n_ids] : (arg & 7) + 1, fds,
                                     n_fds);
        protobuf_c_message_free_unpacked(&m->base, NULL);
}

/* ---- the engine ---- */

static void conn_drop(size_t i) {
        safe_close(fz.conns[i].fd);
        free(fz.conns[i].out);
        fz.conns[i] = fz.conns[--fz.n_conns];
}

/* Writes what it can of buf[*done..len) to fd; true if anything went. */
static bool flush(int fd, uint8_t **buf, size_t len, size_t *done, bool sock) {
        bool progress = false;
        while (*buf && *done < len) {
                ssize_t k = sock ? send(fd, *buf + *done, len - *done, MSG_DONTWAIT | MSG_NOSIGNAL)
                                 : write(fd, *buf + *done, len - *done);
                if (k <= 0)
                        break;
                *done += (size_t) k;
                progress = true;
        }
        if (*buf && (*done >= len || fd < 0)) {
                free(*buf);
                *buf = NULL;
        }
        return progress;
}

/* [count, 2 bytes LE][text] as text repeated count times, at most max bytes. */
static uint8_t *repeat(const uint8_t *p, size_t n, size_t max, size_t *ret_len) {
        if (n < 3)
                return NULL;
        size_t count = (size_t) (p[0] | p[1] << 8), unit = n - 2;
        size_t len = MIN(count * unit, max);
        uint8_t *buf = malloc(MAX(len, (size_t) 1));
        if (!buf)
                return NULL;
        for (size_t i = 0; i < len; i += unit)
                memcpy(buf + i, p + 2, MIN(unit, len - i));
        *ret_len = len;
        return buf;
}

static void engine_answer(FakeUapiConn *c) {
        char buf[2048];
        size_t n = 0;

        if (memcmp(c->head, "get=1\n", 6) == 0) {
                fz.counter++;
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "listen_port=51820\n");
                for (size_t i = 0; i < fz.n_peers; i++)
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n,
                                               "public_key=%s\nprotocol_version=1\n"
                                               "endpoint=192.0.2.2:51820\n"
                                               "last_handshake_time_sec=%llu\n"
                                               "last_handshake_time_nsec=0\nrx_bytes=%llu\n"
                                               "tx_bytes=%llu\n"
                                               "persistent_keepalive_interval=25\n"
                                               "allowed_ip=0.0.0.0/0\n",
                                               fz.peers[i],
                                               (unsigned long long) (1700000000 + fz.counter / 2),
                                               (unsigned long long) fz.counter * 148,
                                               (unsigned long long) fz.counter * 92);
        }
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "errno=0\n\n");
        (void) send(c->fd, buf, MIN(n, sizeof(buf) - 1), MSG_DONTWAIT | MSG_NOSIGNAL);
        c->answered = true;
}

/* Accepts, reads what the tunnel wrote, answers by itself in MODE_AUTO_ENGINE. True if
 * anything happened that the tunnel may react to. */
static bool engine_serve(void) {
        bool progress = false;
        char buf[4096];

        while (fz.listener >= 0 && fz.n_conns < FZ_MAX_CONNS) {
                int fd = accept4(fz.listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        break;
                fz.conns[fz.n_conns++] = (FakeUapiConn){ .fd = fd };
                progress = true;
        }
        if (fz.spew && fz.out_w >= 0)
                progress = flush(fz.out_w, &fz.spew, fz.spew_len, &fz.spew_done, false) || progress;
        for (size_t i = 0; i < fz.n_conns;) {
                FakeUapiConn *c = &fz.conns[i];
                ssize_t k;
                bool gone = false;
                if (c->out)
                        progress =
                                flush(c->fd, &c->out, c->out_len, &c->out_done, true) || progress;
                while ((k = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                        for (ssize_t j = 0; j < k; j++, c->len++) {
                                if (c->len < sizeof(c->head))
                                        c->head[c->len] = buf[j];
                                c->tail[0] = c->tail[1];
                                c->tail[1] = buf[j];
                        }
                }
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                        gone = true;
                if (!gone && (fz.mode & MODE_AUTO_ENGINE) && !c->answered && c->len >= 2 &&
                    memcmp(c->tail, "\n\n", 2) == 0) {
                        engine_answer(c);
                        progress = true;
                }
                if (gone) {
                        conn_drop(i);
                        progress = true;
                } else
                        i++;
        }
        return progress;
}

/* The engine's sockets die with it. */
static void engine_gone(void) {
        fz.engine_gone = true;
        fz.engine_pid = 0;
        fz.listener = safe_close(fz.listener);
        while (fz.n_conns > 0)
                conn_drop(0);
        free(fz.spew);
        fz.spew = NULL;
}

static void engine_track(void) {
        if (!fz.start_sent || fz.engine_gone)
                return;
        if (fz.engine_pid == 0)
                fz.engine_pid = find_engine();
        else if (child_exited(fz.engine_pid))
                engine_gone();
}

/* ---- running the loop ---- */

static uint64_t budget_left(void) {
        uint64_t now = real_usec();
        return now < fz.deadline ? fz.deadline - now : 0;
}

/* One round of both loops (the helper's goes on reading after the tunnel's has finished). */
static bool run_once(uint64_t timeout) {
        int r = fz_finished() ? 0 : sd_event_run(fz.event, timeout);
        int h = sd_event_run(fz.hevent, 0);
        bool progress = engine_serve() || r > 0 || h > 0;
        engine_track();
        return progress;
}

static void settle(void) {
        for (unsigned i = 0; i < 512 && run_once(0); i++)
                ;
}

/* For what happens in another process or thread: the engine's output and exit, a lookup.
 * Returns at the first event (or after usec), or with full, after usec in any case. */
static void settle_wait(uint64_t usec, bool full) {
        uint64_t t0 = real_usec(), end = t0 + MIN(usec, budget_left());
        for (uint64_t now = t0; !fz_finished() && now < end; now = real_usec())
                if (run_once(end - now) && !full)
                        break;
        settle();
}

static void wait_engine_exit(void) {
        pid_t pid = fz.engine_pid;
        while (pid > 0 && !child_exited(pid) && budget_left() > 0) {
                (void) run_once(0); /* it may be writing to the tunnel */
                usleep(200);
        }
        if (pid > 0 && child_exited(pid))
                engine_gone();
        settle_wait(5 * USEC_PER_MSEC, false);
}

/* Until cat has read it all (and so written it to the tunnel, or is about to). */
static void wait_printed(void) {
        int queued = 0;
        if (fz.engine_pid == 0)
                return; /* for an engine still to come */
        while (budget_left() > 0 && !child_exited(fz.engine_pid) &&
               (fz.spew || (ioctl(fz_out_fd, FIONREAD, &queued) >= 0 && queued > 0))) {
                (void) run_once(0);
                usleep(100);
        }
        settle_wait(5 * USEC_PER_MSEC, false);
}

static void engine_print(const uint8_t *p, size_t n) {
        if (fz.out_w < 0 || n == 0)
                return;
        (void) !write(fz.out_w, p, n);
        wait_printed();
}

static void engine_spew(const uint8_t *p, size_t n) {
        if (fz.out_w < 0 || fz.spew)
                return;
        fz.spew = repeat(p, n, 256u << 10, &fz.spew_len);
        fz.spew_done = 0;
        (void) engine_serve();
        wait_printed();
}

static void engine_flood(unsigned arg, const uint8_t *p, size_t n) {
        (void) engine_serve();
        if (fz.n_conns == 0)
                return;
        FakeUapiConn *c = &fz.conns[(arg & 7) % fz.n_conns];
        if (c->out)
                return;
        c->out = repeat(p, n, 6u << 20, &c->out_len);
        c->out_done = 0;
        c->answered = true;
        settle();
}

static void engine_exit(unsigned arg) {
        static const int signals[] = { SIGKILL, SIGTERM, SIGHUP, SIGUSR1 };
        if (arg == 0) {
                fz.out_w = safe_close(fz.out_w);
                wait_engine_exit();
                return;
        }
        if (fz.engine_pid <= 0)
                return;
        int sig = signals[(arg - 1) % ELEMENTSOF(signals)];
        (void) kill(fz.engine_pid, sig);
        if (sig == SIGTERM && fz.ignore_term)
                settle();
        else
                wait_engine_exit();
}

static void advance(unsigned arg, const uint8_t *p, size_t n) {
        static const uint64_t steps_ms[] = { 1,     10,     21,     100,    250,   501,
                                             1000,  2001,   3001,   5001,   10001, 30001,
                                             60000, 120000, 600000, 3600000 };
        uint64_t ms = steps_ms[arg % ELEMENTSOF(steps_ms)];
        if (n >= 4)
                ms = MIN((uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16 |
                                 (uint64_t) p[3] << 24,
                         UINT64_C(3600000));
        vclock_usec += ms * USEC_PER_MSEC;
        settle();
}

static void set_mode(unsigned arg) {
        fz.mode = arg;
        if ((arg & MODE_IGNORE_TERM) && !fz.ignore_term)
                fz.ignore_term = write_file(fz_ignore_path, "", 0, 0644) >= 0;
        settle();
}

static void set_version(const uint8_t *p, size_t n) {
        fz.version_changed = true;
        (void) write_file(fz_version_path, (const char *) p, n, 0644);
}

static void block_term(int how) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        pthread_sigmask(how, &ss, NULL);
}

/* Blocked, the signal waits for the tunnel's signalfd; what it leaves is not libFuzzer's. */
static void signal_tunnel(int sig) {
        sigset_t ss;
        struct timespec zero = {};
        int got;

        block_term(SIG_BLOCK);
        (void) pthread_kill(pthread_self(), sig);
        settle();
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        while ((got = sigtimedwait(&ss, NULL, &zero)) > 0)
                if (got != sig) /* not ours: somebody's ^C, for libFuzzer after all */
                        fz.external |= 1u << got;
        block_term(SIG_UNBLOCK);
        if (fz.external & (1u << SIGINT))
                kill(getpid(), SIGINT);
        if (fz.external & (1u << SIGTERM))
                kill(getpid(), SIGTERM);
        fz.external = 0;
}

static void record(unsigned kind, unsigned arg, const uint8_t *p, size_t n) {
        /* A lookup in a thread (quick with our /etc/hosts) has ended before the next record,
         * unless that moves the clock: then the resolver's timeout may come first. */
        while (kind != REC_ADVANCE && fz.may_resolve && budget_left() > 0 && !fz_finished() &&
               count_threads() > fz.threads)
                settle_wait(USEC_PER_MSEC, false);

        switch (kind) {
        case REC_CALL:
        case REC_SEND:
        case REC_REPLY:
                helper_send(kind, arg, p, n);
                settle();
                break;
        case REC_RAW:
                if (fz.helper_raw >= 0 && ipc_conn_is_ready(fz.helper) &&
                    ipc_conn_get_queued(fz.helper) == 0) {
                        (void) send(fz.helper_raw, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        fz.raw_sent = true;
                }
                settle();
                break;
        case REC_HANGUP:
                fz.hung_up = true;
                if (arg & 1)
                        (void) shutdown(fz.helper_raw, SHUT_WR);
                else {
                        ipc_conn_close(fz.helper, 0, "the helper hung up");
                        fz.helper_raw = safe_close(fz.helper_raw);
                }
                settle();
                break;
        case REC_ANSWER:
                (void) engine_serve();
                if (fz.n_conns > 0) {
                        FakeUapiConn *c = &fz.conns[(arg & 7) % fz.n_conns];
                        uint8_t *more = c->out ? realloc(c->out, c->out_len + n + 1) : NULL;
                        if (more) { /* after the FLOOD still being written */
                                memcpy(more + c->out_len, p, n);
                                c->out = more;
                                c->out_len += n;
                        } else if (!c->out)
                                (void) send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        c->answered = true;
                        if ((arg & 8) && !c->out)
                                (void) shutdown(c->fd, SHUT_WR);
                }
                settle();
                break;
        case REC_DROP:
                (void) engine_serve();
                if (arg & 8) /* the socket refuses connections from now on */
                        (void) shutdown(fz.listener, SHUT_RD);
                else if (fz.n_conns > 0)
                        conn_drop((arg & 7) % fz.n_conns);
                settle();
                break;
        case REC_PRINT:
                engine_print(p, n);
                break;
        case REC_EXIT:
                engine_exit(arg);
                break;
        case REC_ADVANCE:
                advance(arg, p, n);
                break;
        case REC_SIGNAL:
                signal_tunnel(arg & 1 ? SIGINT : SIGTERM);
                break;
        case REC_MODE:
                set_mode(arg);
                break;
        case REC_VERSION:
                set_version(p, n);
                break;
        case REC_FLOOD:
                engine_flood(arg, p, n);
                break;
        case REC_SPEW:
                engine_spew(p, n);
                break;
        default:
                settle_wait((arg + 1) * USEC_PER_MSEC, true);
                break;
        }
}

/* A tunnel that has exited answered every request it read (replies are its last messages but
 * for StopResponse). What it did not read ends in a local error, as it should. */
static void check_all_answered(void) {
        int unread = 0;
        if (!fz_finished() || fz.hung_up || fz.raw_sent || !fz.helper ||
            ipc_conn_is_closed(fz.helper) || ipc_conn_get_queued(fz.helper) > 0 ||
            ioctl(fz.helper_raw, SIOCOUTQ, &unread) < 0 || unread > 0)
                return;
        if (ipc_conn_get_pending(fz.helper) > 0)
                fz_fail("the tunnel exited with %zu request(s) unanswered",
                        ipc_conn_get_pending(fz.helper));
}

/* ---- one input ---- */

static int listen_uapi(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                fz_fail("socket: %m");
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fz_uapi_path);
        (void) unlink(fz_uapi_path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
                fz_fail("cannot listen on %s: %m", fz_uapi_path);
        return fd;
}

static bool setup(void) {
        int sv[2], pipefd[2];
        TunnelArgs args = { .engine_path = fz_engine,
                            .engine_log_level = "error",
                            .allow_root = true };

        memset(&fz, 0, sizeof(fz));
        fz.helper_raw = fz.listener = fz.out_w = -EBADF;
        fz.deadline = real_usec() + FZ_WAIT_BUDGET_USEC;
        vclock_usec = vclock_base;
        vclock_active = true;

        if (sd_event_new(&fz.event) < 0 || sd_event_new(&fz.hevent) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
            pipe2(pipefd, O_CLOEXEC) < 0)
                fz_fail("setup: %m");
        /* The engine's output: cat reads the pipe by a fixed number. */
        if (dup3(pipefd[0], fz_out_fd, O_CLOEXEC) < 0)
                fz_fail("dup3: %m");
        safe_close(pipefd[0]);
        fz.out_w = pipefd[1];
        (void) fcntl(fz.out_w, F_SETFL, O_NONBLOCK);
        fz.listener = listen_uapi();

        int tun = fz_tun >= 0 ? fcntl(fz_tun, F_DUPFD_CLOEXEC, 3) : -EBADF;
        int uapi = fcntl(fz.listener, F_DUPFD_CLOEXEC, 3);
        fz.helper_raw = fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
        block_term(SIG_BLOCK); /* sd_event_add_signal() insists */
        int r = tunnel_new_fds(&fz.tunnel, &args, fz.event, sv[0], tun, uapi);
        block_term(SIG_UNBLOCK);
        if (r < 0) {
                if (fz_tun >= 0)
                        fz_fail("tunnel_new_fds() refused good fds");
                safe_close(sv[1]);
                return false;
        }
        if (ipc_conn_new(&fz.helper, fz.hevent, sv[1], &ipc_channel_tunnel_helper) < 0)
                fz_fail("ipc_conn_new: %m");
        ipc_conn_set_handlers(fz.helper, &(IpcHandlers){ .on_message = on_helper_message }, NULL);
        settle(); /* the handshake */
        fz.threads = count_threads();
        return true;
}

static void teardown(void) {
        fz.tunnel = tunnel_free(fz.tunnel);
        if (fz.helper) {
                ipc_conn_close(fz.helper, 0, "fuzz input done");
                fz.helper = ipc_conn_unref(fz.helper);
        }
        fz.event = sd_event_unref(fz.event);
        fz.hevent = sd_event_unref(fz.hevent);
        vclock_active = false;
        engine_gone();
        fz.helper_raw = safe_close(fz.helper_raw);
        fz.out_w = safe_close(fz.out_w);
        (void) unlink(fz_uapi_path);
        if (fz.version_changed)
                (void) write_file(fz_version_path, FZ_VERSION_DEFAULT, strlen(FZ_VERSION_DEFAULT),
                                  0644);
        if (fz.ignore_term)
                (void) unlink(fz_ignore_path);
        /* A resolver thread ends on its own, and quickly with our /etc/hosts: let it, so that
         * inputs do not overlap. */
        for (unsigned i = 0; fz.may_resolve && i < 2000 && count_threads() > fz.threads; i++)
                usleep(1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FILE *saved_stderr = stderr;
        unsigned fds = count_fds();

        if (fz_quiet)
                stderr = fz_quiet;

        if (setup()) {
                while (size >= 3 && !fz_finished()) {
                        unsigned kind = data[0] & 0x0f, arg = data[0] >> 4;
                        size_t n = MIN((size_t) (data[1] | data[2] << 8), size - 3);
                        record(kind, arg, data + 3, n);
                        data += 3 + n;
                        size -= 3 + n;
                }
                settle(); /* the helper reads what the tunnel wrote last */
                check_all_answered();
        }
        teardown();
        stderr = saved_stderr;

        pid_t child = find_engine();
        if (child > 0) {
                kill(child, SIGKILL);
                (void) waitpid(child, NULL, 0);
                fz_fail("engine %d left behind", (int) child);
        }
        unsigned now = count_fds();
        if (now != fds)
                fz_fail("%u fds open after the input, %u before", now, fds);
        return 0;
}

/* ---- seeds (TUND_FUZZ_TUNNEL_SEEDS=DIR) ---- */

#define P_STOP TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST
#define P_GET_PEERS TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS
#define P_REBIND TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND
#define P_RESULT TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT
#define P_ERROR TUND__HELPER_TO_TUNNEL__PAYLOAD_ERROR

#define PRIV "SJuvo/Jw53B+WkJMRcicPh0gKHNshqSOMKG4e8PWJnk="
#define PSK "T41fGpm7/YiJ/9wb4yBluMciVb9O0ndAS71E1MUwCNE="
#define PUB1 "OR0J4her8xJndIMqOzjLJ+GoHn22gR2LjHNin6H/zQE="
#define PUB2 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define PUB1_HEX "391d09e217abf3126774832a3b38cb27e1a81e7db6811d8b8c73629fa1ffcd01"
#define PUB2_HEX "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"

typedef struct Seed {
        uint8_t buf[16384];
        size_t len;
} Seed;

static void rec(Seed *s, unsigned kind, unsigned arg, const void *p, size_t n) {
        if (s->len + 3 + n > sizeof(s->buf))
                fz_fail("seed too long");
        s->buf[s->len++] = (uint8_t) (kind | arg << 4);
        s->buf[s->len++] = (uint8_t) (n & 0xff);
        s->buf[s->len++] = (uint8_t) (n >> 8);
        if (n > 0)
                memcpy(s->buf + s->len, p, n);
        s->len += n;
}

static void rec_str(Seed *s, unsigned kind, unsigned arg, const char *text) {
        rec(s, kind, arg, text, strlen(text));
}

static void rec_msg(Seed *s, unsigned kind, unsigned arg, Tund__HelperToTunnel *m) {
        uint8_t buf[4096];
        size_t n = protobuf_c_message_get_packed_size(&m->base);
        if (n > sizeof(buf))
                fz_fail("seed message too long");
        protobuf_c_message_pack(&m->base, buf);
        rec(s, kind, arg, buf, n);
}

static Tund__IpPrefix *v4(Tund__IpPrefix *p, uint8_t a, uint8_t b, uint8_t c, uint8_t d,
                          unsigned len) {
        static uint8_t store[64][16];
        static unsigned next;
        uint8_t *x = store[next++ % 64];
        *p = (Tund__IpPrefix) TUND__IP_PREFIX__INIT;
        x[0] = a, x[1] = b, x[2] = c, x[3] = d;
        p->address.data = x;
        p->address.len = 4;
        p->prefix_len = len;
        return p;
}

static Tund__IpPrefix *v6(Tund__IpPrefix *p, unsigned last, unsigned len) {
        static uint8_t store[16][16];
        static unsigned next;
        uint8_t *x = store[next++ % 16];
        memset(x, 0, 16);
        x[0] = 0x20, x[1] = 0x01, x[2] = 0x0d, x[3] = 0xb8, x[15] = (uint8_t) last;
        *p = (Tund__IpPrefix) TUND__IP_PREFIX__INIT;
        p->address.data = x;
        p->address.len = 16;
        p->prefix_len = len;
        return p;
}

typedef struct StartOpts {
        const char *ifname, *version, *endpoint1, *endpoint2, *private_key;
        unsigned timeout_ms;
        bool two_peers, no_config, full_tunnel;
} StartOpts;

/* A StartRequest like the shim's for a wg-quick profile. */
static void rec_start(Seed *s, unsigned kind, const StartOpts *o) {
        Tund__HelperToTunnel m = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StartRequest req = TUND__START_REQUEST__INIT;
        Tund__WgConfig cfg = TUND__WG_CONFIG__INIT;
        Tund__NetworkSettings net = TUND__NETWORK_SETTINGS__INIT;
        Tund__WgPeer p1 = TUND__WG_PEER__INIT, p2 = TUND__WG_PEER__INIT;
        Tund__WgPeer *peers[] = { &p1, &p2 };
        Tund__IpPrefix a[4], r1[2], r2[1];
        Tund__IpPrefix *addrs[] = { v4(&a[0], 198, 51, 100, 1, 24), v6(&a[1], 1, 64) };
        Tund__IpPrefix *allowed1[] = { o->full_tunnel ? v4(&r1[0], 0, 0, 0, 0, 0)
                                                      : v4(&r1[0], 10, 8, 0, 0, 16),
                                       v6(&r1[1], 0, 48) };
        Tund__IpPrefix *allowed2[] = { v4(&r2[0], 172, 16, 0, 0, 12) };
        static uint8_t dns1[4] = { 192, 0, 2, 53 };
        ProtobufCBinaryData dns[] = { { 4, dns1 } };
        char *search[] = { (char *) "corp.example" };

        net.n_addresses = ELEMENTSOF(addrs);
        net.addresses = addrs;
        net.mtu = 1420;
        net.n_dns_servers = ELEMENTSOF(dns);
        net.dns_servers = dns;
        net.n_search_domains = 1;
        net.search_domains = search;
        p1.public_key = (char *) PUB1;
        p1.preshared_key = (char *) PSK;
        p1.endpoint = (char *) (o->endpoint1 ? o->endpoint1 : "192.0.2.2:51820");
        p1.n_allowed_ips = ELEMENTSOF(allowed1);
        p1.allowed_ips = allowed1;
        p1.persistent_keepalive = 25;
        p2.public_key = (char *) PUB2;
        p2.endpoint = (char *) (o->endpoint2 ? o->endpoint2 : "[2001:db8::2]:51821");
        p2.n_allowed_ips = ELEMENTSOF(allowed2);
        p2.allowed_ips = allowed2;
        cfg.private_key = (char *) (o->private_key ? o->private_key : PRIV);
        cfg.listen_port = 51820;
        cfg.n_peers = o->two_peers ? 2 : 1;
        cfg.peers = peers;
        cfg.network = &net;
        req.profile = (char *) "work";
        req.ifname = (char *) (o->ifname ? o->ifname : FZ_IFNAME);
        req.config = o->no_config ? NULL : &cfg;
        req.engine_timeout_ms = o->timeout_ms;
        req.engine_version = (char *) (o->version ? o->version : "0.0.20220316");
        m.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST;
        m.start_request = &req;
        rec_msg(s, kind, 0, &m);
}

static void rec_simple(Seed *s, unsigned kind, unsigned arg, uint32_t payload_case) {
        Tund__HelperToTunnel m = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StopRequest stop = TUND__STOP_REQUEST__INIT;
        Tund__GetPeers get = TUND__GET_PEERS__INIT;
        Tund__Rebind rebind = TUND__REBIND__INIT;
        Tund__NetworkSettingsResult res = TUND__NETWORK_SETTINGS_RESULT__INIT;
        Tund__Error err = TUND__ERROR__INIT;

        m.payload_case = payload_case;
        switch (payload_case) {
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST:
                stop.reason = (char *) "systemctl stop";
                m.stop_request = &stop;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS:
                m.get_peers = &get;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_REBIND:
                m.rebind = &rebind;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT:
                res.ifname = (char *) FZ_IFNAME;
                res.ifindex = 2;
                res.dns_backend = (char *) "resolved";
                res.routes_applied = 3;
                m.network_settings_result = &res;
                break;
        case TUND__HELPER_TO_TUNNEL__PAYLOAD_ERROR:
                err.code = TUND__ERROR_CODE__ERROR_NETCFG;
                err.message = (char *) "RTM_NEWADDR: File exists";
                err.errno_value = EEXIST;
                m.error = &err;
                break;
        }
        rec_msg(s, kind, arg, &m);
}

static const char dump1[] =
        "private_key=481eb5d8f35a01a2b7ee2fabd9ac1cfa4b6ab4d7e3f2b9e0d2d1fd4d14f0c875\n"
        "listen_port=51820\n"
        "public_key=" PUB1_HEX "\n"
        "preshared_key=4f8d5f1a9bfd8ff6587ff6f0e32195a3c8c56cf76d4fdd9a6dd6f9a8a6a3ec03\n"
        "protocol_version=1\n"
        "endpoint=192.0.2.2:51820\n"
        "last_handshake_time_sec=1700000000\n"
        "last_handshake_time_nsec=123456\n"
        "tx_bytes=9200\n"
        "rx_bytes=14800\n"
        "persistent_keepalive_interval=25\n"
        "allowed_ip=10.8.0.0/16\n"
        "allowed_ip=2001:db8::/48\n"
        "errno=0\n\n";
static const char dump2[] = "listen_port=51820\n"
                            "public_key=" PUB1_HEX "\n"
                            "endpoint=192.0.2.2:51820\n"
                            "last_handshake_time_sec=1700000120\n"
                            "last_handshake_time_nsec=0\n"
                            "tx_bytes=19200\n"
                            "rx_bytes=24800\n"
                            "persistent_keepalive_interval=25\n"
                            "allowed_ip=10.8.0.0/16\n"
                            "public_key=" PUB2_HEX "\n"
                            "endpoint=[2001:db8::2]:51821\n"
                            "last_handshake_time_sec=0\n"
                            "last_handshake_time_nsec=0\n"
                            "tx_bytes=0\n"
                            "rx_bytes=0\n"
                            "persistent_keepalive_interval=0\n"
                            "allowed_ip=172.16.0.0/12\n"
                            "errno=0\n\n";

/* StartRequest → set=1 device → set=1 per peer → NetworkSettingsRequest → StartResponse. */
static void rec_full_start(Seed *s, const StartOpts *o) {
        rec_start(s, REC_CALL, o);
        rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
        rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
        if (o->two_peers)
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
        rec_simple(s, REC_REPLY, 0, P_RESULT);
}

static void seed_write(const char *dir, const char *name, const Seed *s) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        if (write_file(p, (const char *) s->buf, s->len, 0644) < 0)
                fz_fail("cannot write %s: %m", p);
}

#define SEED(name) for (Seed _s = {}, *s = &_s; s; seed_write(dir, name, s), s = NULL)

static void fz_generate_seeds(const char *dir) {
        const StartOpts std = {}, two = { .two_peers = true, .full_tunnel = true };
        uint8_t ms[4];

        (void) mkdir(dir, 0755);
        SEED("start-ok") rec_full_start(s, &std);
        SEED("start-ok-two-peers") rec_full_start(s, &two);
        SEED("start-auto") {
                rec(s, REC_MODE, MODE_AUTO_ENGINE | MODE_AUTO_HELPER, NULL, 0);
                rec_start(s, REC_CALL, &two);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec(s, REC_ADVANCE, 7, NULL, 0);
                rec(s, REC_ADVANCE, 7, NULL, 0);
                rec_simple(s, REC_CALL, 0, P_REBIND);
                rec_simple(s, REC_CALL, 0, P_STOP);
        }
        SEED("get-peers") {
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec_str(s, REC_ANSWER, 0, dump1);
        }
        SEED("get-peers-two") {
                rec_full_start(s, &two);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec_str(s, REC_ANSWER, 1, dump2);
                rec_str(s, REC_ANSWER, 0, "errno=5\n\n");
        }
        SEED("get-peers-garbage") {
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec_str(s, REC_ANSWER, 8, "public_key=zz\nerrno=0\n");
        }
        SEED("get-peers-flood") {
                static const char ips[] = "\x30\x75"
                                          "allowed_ip=10.0.0.0/8\nallowed_ip=2001:db8::/32\n";
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec_str(s, REC_ANSWER, 0, "public_key=" PUB1_HEX "\n");
                rec(s, REC_FLOOD, 0, ips, sizeof(ips) - 1);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
        }
        SEED("get-peers-too-big") {
                static const char ips[] = "\xff\xff"
                                          "allowed_ip=2001:db8::/32\n";
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec_str(s, REC_ANSWER, 0, "public_key=" PUB1_HEX "\n");
                rec(s, REC_FLOOD, 0, ips, sizeof(ips) - 1);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_simple(s, REC_CALL, 0, P_STOP);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("uapi-reply-too-long") {
                static const char lines[] = "\x50\xc3"
                                            "listen_port=51820\nlisten_port=51820\n"
                                            "listen_port=51820\nlisten_port=51820\nfwmark=0\n";
                rec_start(s, REC_CALL, &std);
                rec(s, REC_FLOOD, 0, lines, sizeof(lines) - 1);
        }
        SEED("get-peers-timeout") {
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec(s, REC_ADVANCE, 9, NULL, 0);
        }
        SEED("poll-deltas") {
                rec_full_start(s, &two);
                rec(s, REC_ADVANCE, 7, NULL, 0);
                rec_str(s, REC_ANSWER, 0, dump1);
                rec(s, REC_ADVANCE, 7, NULL, 0);
                rec_str(s, REC_ANSWER, 0, dump2);
                rec(s, REC_ADVANCE, 7, NULL, 0);
                rec_str(s, REC_ANSWER, 0, dump2);
        }
        SEED("rebind") {
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_REBIND);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_simple(s, REC_CALL, 0, P_REBIND);
                rec_simple(s, REC_CALL, 0, P_REBIND);
                rec_str(s, REC_ANSWER, 0, "errno=22\n\n");
        }
        SEED("rebind-hostname") {
                StartOpts o = { .endpoint1 = "vpn.fuzz.test:51820",
                                .endpoint2 = "both.fuzz.test:4500",
                                .two_peers = true };
                rec_full_start(s, &o);
                rec_simple(s, REC_CALL, 0, P_REBIND);
                rec(s, REC_WAIT, 1, NULL, 0);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
        }
        SEED("start-hostname-unknown") {
                StartOpts o = { .endpoint1 = "nx.fuzz.test:51820" };
                rec_start(s, REC_CALL, &o);
                rec(s, REC_WAIT, 1, NULL, 0);
        }
        SEED("start-hostname-timeout") {
                StartOpts o = { .endpoint1 = "vpn.fuzz.test:51820" };
                rec_start(s, REC_CALL, &o);
                rec(s, REC_ADVANCE, 10, NULL, 0);
        }
        SEED("engine-refuses-connections") {
                rec_full_start(s, &std);
                rec(s, REC_DROP, 8, NULL, 0);
                rec_simple(s, REC_CALL, 0, P_GET_PEERS);
                rec(s, REC_ADVANCE, 2, NULL, 0);
                rec(s, REC_ADVANCE, 9, NULL, 0);
        }
        SEED("start-hostname-v6") {
                StartOpts o = { .endpoint1 = "vpn6.fuzz.test:51820", .full_tunnel = true };
                rec_full_start(s, &o);
        }
        SEED("stop-running") {
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_STOP);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("stop-idle") rec_simple(s, REC_CALL, 0, P_STOP);
        SEED("stop-starting") {
                rec_start(s, REC_CALL, &std);
                rec_simple(s, REC_CALL, 0, P_STOP);
        }
        SEED("stop-engine-ignores-term") {
                rec(s, REC_MODE, MODE_IGNORE_TERM, NULL, 0);
                rec_full_start(s, &std);
                rec_simple(s, REC_CALL, 0, P_STOP);
                rec(s, REC_ADVANCE, 8, NULL, 0);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("stop-during-settings") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_simple(s, REC_CALL, 0, P_STOP);
                rec_simple(s, REC_REPLY, 0, P_RESULT);
        }
        SEED("engine-dies-running") {
                rec_full_start(s, &std);
                rec_str(s, REC_PRINT, 0,
                        "ERROR: (tfzt0) Failed to read packet from TUN device: EOF\n");
                rec(s, REC_EXIT, 1, NULL, 0);
        }
        SEED("engine-exits-starting") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_PRINT, 0, "ERROR: (tfzt0) Failed to create TUN device: fake\n");
                rec(s, REC_EXIT, 0, NULL, 0);
        }
        SEED("engine-killed-configuring") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec(s, REC_EXIT, 2, NULL, 0);
                rec(s, REC_ADVANCE, 5, NULL, 0);
        }
        SEED("engine-closes-uapi") {
                rec_start(s, REC_CALL, &std);
                rec(s, REC_DROP, 0, NULL, 0);
                rec(s, REC_ADVANCE, 5, NULL, 0);
        }
        SEED("engine-stops-listening") {
                StartOpts o = { .timeout_ms = 200 };
                rec_start(s, REC_CALL, &o);
                rec(s, REC_DROP, 8, NULL, 0);
                rec(s, REC_ADVANCE, 3, NULL, 0);
                rec(s, REC_ADVANCE, 4, NULL, 0);
        }
        SEED("engine-chatty") {
                char lines[4096] = "";
                for (int i = 0; i < 60; i++)
                        strcat(lines, "DEBUG: (tfzt0) peer(OR0J…/zQE) - Sending keepalive\n");
                rec_full_start(s, &std);
                rec_str(s, REC_PRINT, 0, lines);
                rec_str(s, REC_PRINT, 0, lines);
                rec_str(s, REC_PRINT, 0,
                        "INFO: key " PRIV " and 481eb5d8f35a01a2b7ee2fabd9ac1cfa"
                        "4b6ab4d7e3f2b9e0d2d1fd4d14f0c875\npanic: oops\n"
                        "fatal error: all goroutines are asleep\nno newline");
                rec(s, REC_ADVANCE, 6, NULL, 0);
                rec_str(s, REC_PRINT, 0, "WARNING: again\n");
        }
        SEED("engine-spew") {
                static const char lines[] = "\xe8\x03"
                                            "INFO: (tfzt0) peer(OR0J…/zQE) - Sending keepalive\n";
                char one_long[1200] = "\x2c\x01";
                memset(one_long + 2, 'g', sizeof(one_long) - 3);
                rec_full_start(s, &std);
                rec(s, REC_SPEW, 0, lines, sizeof(lines) - 1);
                rec(s, REC_ADVANCE, 6, NULL, 0);
                rec_str(s, REC_PRINT, 0, "INFO: quiet again\n");
                rec(s, REC_SPEW, 0, one_long, sizeof(one_long) - 1);
                rec(s, REC_EXIT, 0, NULL, 0);
        }
        SEED("uapi-device-refused") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=98\n\n");
        }
        SEED("uapi-peer-refused") {
                rec_start(s, REC_CALL, &two);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_str(s, REC_ANSWER, 0, "errno=22\n\n");
        }
        SEED("uapi-garbage") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "this is not UAPI\n\n");
        }
        SEED("uapi-timeout") {
                StartOpts o = { .timeout_ms = 100 };
                rec_start(s, REC_CALL, &o);
                rec(s, REC_ADVANCE, 4, NULL, 0);
        }
        SEED("uapi-split-answer") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=");
                rec_str(s, REC_ANSWER, 0, "0\n");
                rec_str(s, REC_ANSWER, 0, "\n");
                rec_str(s, REC_ANSWER, 8, "errno=0\n");
        }
        SEED("settings-error") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_simple(s, REC_REPLY, 0, P_ERROR);
        }
        SEED("settings-wrong-reply") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_simple(s, REC_REPLY, 0, P_GET_PEERS);
        }
        SEED("settings-timeout") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec(s, REC_ADVANCE, 11, NULL, 0);
        }
        SEED("start-version-run") {
                StartOpts o = { .version = "" };
                rec_full_start(s, &o);
        }
        SEED("start-version-unknown") {
                StartOpts o = { .version = "" };
                rec_str(s, REC_VERSION, 0, "wireguard-go v9.9.9-dirty\n");
                rec_full_start(s, &o);
        }
        SEED("start-version-garbage") {
                StartOpts o = { .version = "" };
                rec_str(s, REC_VERSION, 0, "Segmentation fault\n");
                rec_start(s, REC_CALL, &o);
        }
        SEED("start-wrong-ifname") {
                StartOpts o = { .ifname = "wg0" };
                rec_start(s, REC_CALL, &o);
        }
        SEED("start-no-config") {
                StartOpts o = { .no_config = true };
                rec_start(s, REC_CALL, &o);
        }
        SEED("start-bad-key") {
                StartOpts o = { .private_key = "not a key" };
                rec_start(s, REC_CALL, &o);
        }
        SEED("start-bad-endpoint") {
                StartOpts o = { .endpoint1 = "[2001:db8::1:51820" };
                rec_start(s, REC_CALL, &o);
        }
        SEED("start-twice") {
                rec_full_start(s, &std);
                rec_start(s, REC_CALL, &std);
        }
        SEED("start-one-way") rec_start(s, REC_SEND, &std);
        SEED("start-with-fd") {
                Seed t = {};
                rec_start(&t, REC_CALL, &std);
                t.buf[0] |= 8 << 4;
                memcpy(s->buf, t.buf, t.len);
                s->len = t.len;
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
        }
        SEED("get-peers-idle") rec_simple(s, REC_CALL, 0, P_GET_PEERS);
        SEED("unsupported-request") {
                rec_simple(s, REC_CALL, 0, P_RESULT);
                rec_simple(s, REC_SEND, 0, P_ERROR);
                rec_simple(s, REC_REPLY, 3, P_RESULT);
        }
        SEED("helper-gone-starting") {
                rec_start(s, REC_CALL, &std);
                rec_str(s, REC_ANSWER, 0, "errno=0\n\n");
                rec(s, REC_HANGUP, 0, NULL, 0);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("helper-half-close-running") {
                rec_full_start(s, &std);
                rec(s, REC_HANGUP, 1, NULL, 0);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("helper-gone-idle") rec(s, REC_HANGUP, 0, NULL, 0);
        SEED("helper-raw-garbage") {
                rec_full_start(s, &std);
                rec(s, REC_RAW, 0, "\0\0\0\3abc", 7);
        }
        SEED("sigterm-running") {
                rec_full_start(s, &std);
                rec(s, REC_SIGNAL, 0, NULL, 0);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("sigint-twice-ignored-term") {
                rec(s, REC_MODE, MODE_IGNORE_TERM, NULL, 0);
                rec_full_start(s, &std);
                rec(s, REC_SIGNAL, 1, NULL, 0);
                rec(s, REC_SIGNAL, 0, NULL, 0);
                rec(s, REC_WAIT, 2, NULL, 0);
        }
        SEED("sigterm-idle") rec(s, REC_SIGNAL, 0, NULL, 0);
        SEED("drain-timeout") {
                rec_full_start(s, &std);
                rec(s, REC_HANGUP, 1, NULL, 0);
                ms[0] = 0xd0, ms[1] = 0x07, ms[2] = 0, ms[3] = 0;
                rec(s, REC_ADVANCE, 0, ms, sizeof(ms));
                rec(s, REC_ADVANCE, 9, NULL, 0);
        }
}
