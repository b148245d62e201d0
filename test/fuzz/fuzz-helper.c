/* libFuzzer: tund-helperd's real message handlers, driven through all three of its channels by
 * fake peers in this process (issue #11). One input is a script of records:
 *
 *   record := target:u8 flags:u8 length:u16le payload[length]
 *
 *   target % 11   0-2  control client #0..#2 sends payload as a CtlToHelper
 *                 3-4  network shim #0..#1 sends payload as a ShimToHelper
 *                 5    a session's tunnel sends payload as a TunnelToHelper
 *                 6    the event loop runs flags non-blocking iterations (0: until quiet)
 *                 7    a peer hangs up: flags & 0x7f 0-2 control, 3-4 shim, 5.. tunnel (newest
 *                      first)
 *                 8    a tunnel child exits (see child_exit())
 *                 9    (flags + 1) * 250 ms pass
 *                 10   the helper gets SIGTERM
 *   flags of a message: bits 0-1  0 request, 1 one-way, 2 reply to the newest request this
 *                                  peer received from the helper, 3 to the oldest
 *                       bits 2-3  shim: the fds, see shim_fds(); tunnel: which, newest first
 *                       bit 4     shim: the next tunnel fails to spawn
 *                       bits 5-6  shim: see shim_fds()
 *                       bit 6     control, shim: a new connection is from uid/gid 65534
 *   bit 7 of the flags of records 0-5, 7, 8 and 10: the loop does not run afterwards (the
 *   next record races this one).
 *
 * A payload that does not unpack is skipped: the decoders have their own fuzzer (fuzz-ipc).
 * Connections are created on first use, and again after a hang-up, through the helper's own
 * accept handlers. Tunnels come from Manager.spawn: a real child (/bin/sh waiting on a pipe,
 * so sd-event watches, signals and reaps a real process, and it exits by itself when this
 * process dies) and our end of its channel socketpair. As root the fuzzer moves into its own
 * network namespace (or a user + network namespace otherwise) with one TUN device "tfz0" and
 * one listening unix socket, the fds a shim's StartSession must carry; without either,
 * StartSession is refused on its fds. Time is virtual (clock_gettime() below): the helper's
 * timeouts (start 45 s, stop 5 s, relays 10-30 s) expire when a record says so, not by chance.
 *
 * After the script every timeout is let expire and every signalled tunnel die; then every
 * request a connected peer made must have had its reply ("no client hangs"), and once all
 * peers left no session may remain, no child may be left unreaped, no fd open and the helper's
 * event loop must be gone: each of those aborts as a finding.
 *
 * FUZZ_HELPER_SEEDS=DIR fuzz-helper  writes the seed corpus (test/fuzz/corpus/fuzz-helper/)
 * and exits; FUZZ_HELPER_LOG=1 keeps the helper's log on stderr. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "helper.h"
#include "spawn-util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int clock_gettime(clockid_t id, struct timespec *ts);

#define N_CTL 3
#define N_SHIM 2
#define MAX_TUNNELS 16  /* spawned per input; more fail to spawn */
#define MAX_PENDING 16  /* requests from the helper remembered per peer */
#define QUIET_MAX 10000 /* loop iterations before "never quiet" is a finding */
#define FUZZ_IFNAME "tfz0"

enum {
        T_CTL = 0,
        T_SHIM = 3,
        T_TUNNEL = 5,
        T_RUN,
        T_CLOSE,
        T_CHILD_EXIT,
        T_TIME,
        T_SIGNAL,
        _T_MAX,
};

#define F_MODE(f) ((f) &3u)
#define F_SEL(f) (((f) >> 2) & 3u)
#define F_SPAWN_FAILS 0x10u
#define F_ODD(f) (((f) >> 5) & 3u)
#define F_NOBODY 0x40u
#define F_NO_RUN 0x80u

enum { MODE_CALL, MODE_ONEWAY, MODE_REPLY_NEWEST, MODE_REPLY_OLDEST };

/* ---- virtual time ---- */

/* CLOCK_MONOTONIC and CLOCK_BOOTTIME run ahead of the real clocks by this much. sd-event reads
 * them for every timer; libFuzzer's own clocks (CLOCK_REALTIME) are left alone. */
static uint64_t time_offset_usec;

int clock_gettime(clockid_t id, struct timespec *ts) {
        int r = (int) syscall(SYS_clock_gettime, id, ts);
        if (r == 0 && (id == CLOCK_MONOTONIC || id == CLOCK_BOOTTIME)) {
                uint64_t ns = (uint64_t) ts->tv_nsec + (time_offset_usec % USEC_PER_SEC) * 1000;
                ts->tv_sec += (time_t) (time_offset_usec / USEC_PER_SEC + ns / 1000000000);
                ts->tv_nsec = (long) (ns % 1000000000);
        }
        return r;
}

/* ---- the world: TUN + UAPI fds for StartSession ---- */

static int world_tun = -EBADF, world_uapi = -EBADF;
/* What a confused shim could send instead: /dev/null, a TUN fd attached to no interface, a
 * datagram and a connected (not listening) unix socket. */
static int world_odd[4] = { -EBADF, -EBADF, -EBADF, -EBADF };
static bool world_nobody; /* we can create sockets as uid/gid 65534 */

static int write_file(const char *path, const char *text) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -EIO;
}

/* SO_PEERCRED and SO_PEERGROUPS name the creator of a socketpair: switching this thread's
 * effective ids (raw syscalls: glibc's would switch every thread) makes unprivileged peers. */
static bool as_nobody(bool on) {
        gid_t g = on ? 65534 : 0;
        uid_t u = on ? 65534 : 0;
        if (on) {
                if (syscall(SYS_setresgid, -1, g, -1) < 0)
                        return false;
                if (syscall(SYS_setresuid, -1, u, -1) == 0)
                        return true;
                if (syscall(SYS_setresgid, -1, 0, -1) < 0)
                        abort();
                return false;
        }
        return syscall(SYS_setresuid, -1, u, -1) == 0 && syscall(SYS_setresgid, -1, g, -1) == 0;
}

/* A network namespace of our own, so the TUN device is private and vanishes with us. */
static bool world_private_netns(void) {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (uid == 0)
                return unshare(CLONE_NEWNET) == 0;
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
                return false;
        char map[64];
        (void) write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
        if (write_file("/proc/self/uid_map", map) < 0)
                return false;
        snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
        return write_file("/proc/self/gid_map", map) == 0;
}

static void world_setup(void) {
        if (world_private_netns()) {
                world_tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
                strcpy(ifr.ifr_name, FUZZ_IFNAME);
                if (world_tun >= 0 && ioctl(world_tun, TUNSETIFF, &ifr) < 0)
                        world_tun = safe_close(world_tun);
        }
        if (world_tun < 0) {
                fprintf(stderr, "fuzz-helper: no private TUN device (not root, no user "
                                "namespaces?): every StartSession is refused on its fds.\n");
                world_tun = open("/dev/null", O_RDWR | O_CLOEXEC);
        }
        int sv[2];
        world_odd[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
        world_odd[1] = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (world_odd[1] < 0)
                world_odd[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        world_odd[2] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
                world_odd[3] = sv[0];
                close(sv[1]);
        }
        for (size_t i = 0; i < ELEMENTSOF(world_odd); i++)
                if (world_odd[i] < 0)
                        abort();
        if (as_nobody(true)) {
                if (!as_nobody(false))
                        abort();
                world_nobody = true;
        }

        /* Autobound (abstract, in our namespace): no file is left behind. */
        world_uapi = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (world_tun < 0 || world_uapi < 0 ||
            bind(world_uapi, (struct sockaddr *) &sa, sizeof(sa_family_t)) < 0 ||
            listen(world_uapi, 1) < 0) {
                fprintf(stderr, "fuzz-helper: cannot set up: %m\n");
                abort();
        }
}

/* ---- fake peers ---- */

typedef struct Peer {
        IpcConn *conn;                 /* our end: tundctl, the shim or the tunnel */
        uint64_t pending[MAX_PENDING]; /* msg_ids of requests the helper sent us, oldest first */
        size_t n_pending;
        const char *name;
        unsigned index;
} Peer;

typedef struct FakeTunnel {
        Peer peer;
        pid_t pid;
        int pidfd;  /* ours; the helper has its own */
        int pipe_w; /* the child's stdin: it exits with the number written, or 0 at EOF */
        bool dead;  /* waited for (not reaped: that is the helper's job) */
} FakeTunnel;

static struct {
        Manager *m;
        Peer ctl[N_CTL], shim[N_SHIM];
        FakeTunnel tunnels[MAX_TUNNELS];
        size_t n_tunnels;
        bool spawn_fails;
        bool sigterm_sent;
} F;

static int fds_baseline = -1;
static FILE *fuzz_out; /* the real stderr, for findings */

#define FINDING(...)                                                                               \
        do {                                                                                       \
                fprintf(fuzz_out, "fuzz-helper: " __VA_ARGS__);                                    \
                fputc('\n', fuzz_out);                                                             \
                fflush(fuzz_out);                                                                  \
                abort();                                                                           \
        } while (0)

static void on_peer_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
}

static int on_peer_message(IpcConn *c, IpcMsg *msg, void *userdata) {
        Peer *p = userdata;
        if (msg->msg_id == 0)
                return 0;
        if (p->n_pending == MAX_PENDING) {
                memmove(p->pending, p->pending + 1, (MAX_PENDING - 1) * sizeof(uint64_t));
                p->n_pending--;
        }
        p->pending[p->n_pending++] = msg->msg_id;
        return 0;
}

static uint64_t peer_take_pending(Peer *p, bool newest) {
        if (p->n_pending == 0)
                return 0;
        if (newest)
                return p->pending[--p->n_pending];
        uint64_t id = p->pending[0];
        memmove(p->pending, p->pending + 1, (--p->n_pending) * sizeof(uint64_t));
        return id;
}

static bool peer_open(Peer *p) {
        return p->conn && !ipc_conn_is_closed(p->conn);
}

static void peer_close(Peer *p) {
        if (p->conn) {
                ipc_conn_set_handlers(p->conn, NULL, NULL);
                ipc_conn_close(p->conn, 0, "fuzz: hung up");
        }
        p->conn = ipc_conn_unref(p->conn);
        p->n_pending = 0;
}

static int peer_new(Peer *p, int fd, const IpcChannel *ch) {
        int r = ipc_conn_new(&p->conn, F.m->event, fd, ch);
        if (r < 0)
                return r;
        static const IpcHandlers h = { .on_message = on_peer_message };
        ipc_conn_set_handlers(p->conn, &h, p);
        p->n_pending = 0;
        return 0;
}

/* What ipc-server.c does for an accepted connection, minus the listening socket. */
static void peer_connect(Peer *p, const IpcChannel *server, const IpcChannel *client,
                         IpcAcceptHandler accept_cb, bool nobody) {
        if (peer_open(p))
                return;
        peer_close(p);
        int sv[2];
        nobody = nobody && world_nobody && as_nobody(true);
        int r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        if (nobody && !as_nobody(false))
                FINDING("cannot become root again: %m");
        if (r < 0)
                FINDING("socketpair: %m");
        IpcConn *c = NULL;
        if (ipc_conn_new(&c, F.m->event, sv[0], server) < 0) {
                close(sv[1]);
                return;
        }
        (void) ipc_conn_set_frame_timeout(c, IPC_FRAME_TIMEOUT_SERVER_USEC);
        if (accept_cb(NULL, c, F.m) < 0)
                ipc_conn_close(c, -EPERM, "%s connection refused", server->name);
        ipc_conn_unref(c);
        (void) peer_new(p, sv[1], client);
}

static Peer *peer_get(unsigned target, unsigned flags) {
        bool nobody = flags & F_NOBODY;
        if (target < T_SHIM) {
                Peer *p = &F.ctl[target - T_CTL];
                peer_connect(p, &ipc_channel_ctl_server, &ipc_channel_ctl_client,
                             helper_control_accept, nobody);
                return p;
        }
        Peer *p = &F.shim[target - T_SHIM];
        peer_connect(p, &ipc_channel_shim_server, &ipc_channel_shim_client, helper_shim_accept,
                     nobody);
        return p;
}

/* The sel-th tunnel whose channel is still open, newest first. */
static FakeTunnel *tunnel_pick(unsigned sel, bool want_open, bool want_alive) {
        for (size_t i = F.n_tunnels; i > 0; i--) {
                FakeTunnel *t = &F.tunnels[i - 1];
                if ((want_open && !peer_open(&t->peer)) || (want_alive && t->dead))
                        continue;
                if (sel-- == 0)
                        return t;
        }
        return NULL;
}

/* ---- the tunnel children ---- */

static int fake_spawn(Manager *m, int tun_fd, int uapi_fd, int *ret_channel, pid_t *ret_pid,
                      char **ret_error) {
        if (F.spawn_fails || F.n_tunnels >= MAX_TUNNELS) {
                F.spawn_fails = false;
                *ret_error = strdup("fuzz: the tunnel failed to spawn");
                return -ENOEXEC;
        }
        _cleanup_close_ int ours = -EBADF, theirs = -EBADF, pipe_r = -EBADF, pipe_w = -EBADF;
        int sv[2], pp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        ours = sv[0];
        theirs = sv[1];
        if (pipe2(pp, O_CLOEXEC) < 0)
                return -errno;
        pipe_r = pp[0];
        pipe_w = pp[1];

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pipe_r, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        int r = spawn_attr_init_clean_signals(&attr);
        if (r < 0) {
                posix_spawn_file_actions_destroy(&fa);
                return r;
        }
        static char *const argv[] = { (char *) "sh", (char *) "-c", (char *) "read x; exit $((x))",
                                      NULL };
        static char *const envp[] = { NULL };
        pid_t pid;
        r = -posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r < 0)
                return r;
        int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) { /* before Linux 5.3: no tunnels (the helper does not know it yet) */
                r = -errno;
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }

        FakeTunnel *t = &F.tunnels[F.n_tunnels++];
        *t = (FakeTunnel){ .pid = pid,
                           .pidfd = pidfd,
                           .pipe_w = TAKE_FD(pipe_w),
                           .peer = { .name = "tunnel", .index = (unsigned) F.n_tunnels - 1 } };
        if (peer_new(&t->peer, TAKE_FD(theirs), &ipc_channel_tunnel_child) < 0)
                FINDING("cannot wrap the tunnel's channel");
        *ret_channel = TAKE_FD(ours);
        *ret_pid = pid;
        return 0;
}

static bool child_waitable(FakeTunnel *t, int timeout_ms) {
        struct pollfd p = { .fd = t->pidfd, .events = POLLIN };
        return poll(&p, 1, timeout_ms) > 0;
}

/* True if the child sits in read() with no signal pending: it will not exit by itself. */
static bool child_idle(FakeTunnel *t) {
        char path[64], buf[2048];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) t->pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        const char *st = strstr(buf, "\nState:\t");
        const char *pnd = strstr(buf, "\nSigPnd:\t");
        const char *shd = strstr(buf, "\nShdPnd:\t");
        if (!st || !pnd || !shd || st[8] != 'S')
                return false;
        return strtoull(pnd + 9, NULL, 16) == 0 && strtoull(shd + 9, NULL, 16) == 0;
}

/* Waits until every child is dead or idle (a signal the helper sent has taken effect). */
static void children_settle(void) {
        for (size_t i = 0; i < F.n_tunnels; i++) {
                FakeTunnel *t = &F.tunnels[i];
                for (int k = 0; !t->dead && k < 5000; k++) {
                        if (child_waitable(t, 0))
                                t->dead = true;
                        else if (child_idle(t))
                                break;
                        else
                                (void) child_waitable(t, 1);
                }
        }
}

/* flags bits 0-1: which child (newest alive first); bits 2-3: 0 exits with payload[0] as its
 * status, 1 exits 0 (EOF), 2 SIGTERM, 3 SIGKILL. Returns once the child is dead. */
static void child_exit(unsigned flags, const uint8_t *p, size_t n) {
        FakeTunnel *t = tunnel_pick(flags & 3u, false, true);
        if (!t)
                return;
        switch (F_SEL(flags)) {
        case 0: {
                char s[8];
                int len = snprintf(s, sizeof(s), "%u\n", n > 0 ? p[0] : 1u);
                (void) write(t->pipe_w, s, (size_t) len);
                t->pipe_w = safe_close(t->pipe_w);
                break;
        }
        case 1:
                t->pipe_w = safe_close(t->pipe_w);
                break;
        default:
                (void) syscall(SYS_pidfd_send_signal, t->pidfd,
                               F_SEL(flags) == 2 ? SIGTERM : SIGKILL, NULL, 0);
        }
        if (!child_waitable(t, 10000)) {
                (void) syscall(SYS_pidfd_send_signal, t->pidfd, SIGKILL, NULL, 0);
                if (!child_waitable(t, 10000))
                        FINDING("tunnel child %d does not die", (int) t->pid);
        }
        t->dead = true;
}

/* ---- the loop ---- */

static bool loop_alive(void) {
        int code;
        return sd_event_get_exit_code(F.m->event, &code) == -ENODATA;
}

static void run_quiet(void) {
        for (int i = 0; loop_alive(); i++) {
                if (i == QUIET_MAX)
                        FINDING("the event loop is never quiet (%d iterations)", QUIET_MAX);
                int r = sd_event_run(F.m->event, 0);
                if (r < 0)
                        FINDING("sd_event_run: %s", strerror(-r));
                if (r == 0)
                        return;
        }
}

static void run_n(unsigned n) {
        for (unsigned i = 0; i < n && loop_alive(); i++)
                if (sd_event_run(F.m->event, 0) < 0)
                        FINDING("sd_event_run failed");
}

static void time_passes(uint64_t usec) {
        time_offset_usec += usec;
        run_quiet();
}

/* ---- records ---- */

static void send_record(Peer *p, const ProtobufCMessageDescriptor *desc, unsigned flags,
                        const uint8_t *data, size_t size, const int *fds, size_t n_fds) {
        if (!peer_open(p))
                return;
        ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, size, data);
        if (!msg)
                return;
        unsigned mode = F_MODE(flags);
        if (mode == MODE_CALL)
                (void) ipc_conn_call(p->conn, msg, fds, n_fds, 0, on_peer_reply, NULL);
        else
                (void) ipc_conn_send(
                        p->conn, msg,
                        mode == MODE_ONEWAY ? 0 : peer_take_pending(p, mode == MODE_REPLY_NEWEST),
                        fds, n_fds);
        protobuf_c_message_free_unpacked(msg, NULL);
}

/* bits 2-3: 0 the first "odd" (bits 5-6) of TUN, UAPI, TUN, none; 1 TUN + UAPI, as a shim
 * sends them; 2 TUN + an odd fd; 3 an odd fd + UAPI. */
static size_t shim_fds(unsigned flags, int fds[3]) {
        unsigned odd = F_ODD(flags);
        fds[0] = world_tun;
        fds[1] = world_uapi;
        fds[2] = world_tun;
        switch (F_SEL(flags)) {
        case 0:
                return odd;
        case 2:
                fds[1] = world_odd[odd];
                break;
        case 3:
                fds[0] = world_odd[odd];
        }
        return 2;
}

static void shim_record(unsigned target, unsigned flags, const uint8_t *data, size_t size) {
        Peer *p = peer_get(target, flags);
        int fds[3];
        size_t n_fds = shim_fds(flags, fds);
        F.spawn_fails = flags & F_SPAWN_FAILS;
        send_record(p, &tund__shim_to_helper__descriptor, flags, data, size, fds, n_fds);
}

static void close_record(unsigned flags) {
        flags &= ~F_NO_RUN;
        if (flags < N_CTL)
                peer_close(&F.ctl[flags]);
        else if (flags < N_CTL + N_SHIM)
                peer_close(&F.shim[flags - N_CTL]);
        else {
                FakeTunnel *t = tunnel_pick(flags - N_CTL - N_SHIM, true, false);
                if (t)
                        peer_close(&t->peer);
        }
}

static void record(unsigned target, unsigned flags, const uint8_t *data, size_t size) {
        switch (target) {
        case T_CTL ... T_SHIM - 1:
                send_record(peer_get(target, flags), &tund__ctl_to_helper__descriptor, flags, data,
                            size, NULL, 0);
                break;
        case T_SHIM ... T_TUNNEL - 1:
                shim_record(target, flags, data, size);
                break;
        case T_TUNNEL: {
                FakeTunnel *t = tunnel_pick(F_SEL(flags), true, false);
                if (t)
                        send_record(&t->peer, &tund__tunnel_to_helper__descriptor, flags, data,
                                    size, NULL, 0);
                break;
        }
        case T_RUN:
                if (flags == 0)
                        run_quiet();
                else
                        run_n(flags);
                return;
        case T_CLOSE:
                close_record(flags);
                break;
        case T_CHILD_EXIT:
                child_exit(flags, data, size);
                break;
        case T_TIME:
                time_passes((flags + 1) * 250 * USEC_PER_MSEC);
                return;
        case T_SIGNAL:
                /* To this thread: libFuzzer's threads must not take it. */
                (void) pthread_kill(pthread_self(), SIGTERM);
                F.sigterm_sent = true;
                break;
        }
        if (!(flags & F_NO_RUN))
                run_quiet();
}

/* ---- the end of an input ---- */

static size_t peer_pending_calls(Peer *p) {
        return peer_open(p) ? ipc_conn_get_pending(p->conn) : 0;
}

static Peer *unanswered_peer(void) {
        for (size_t i = 0; i < N_CTL; i++)
                if (peer_pending_calls(&F.ctl[i]))
                        return &F.ctl[i];
        for (size_t i = 0; i < N_SHIM; i++)
                if (peer_pending_calls(&F.shim[i]))
                        return &F.shim[i];
        for (size_t i = 0; i < F.n_tunnels; i++)
                if (peer_pending_calls(&F.tunnels[i].peer))
                        return &F.tunnels[i].peer;
        return NULL;
}

/* Every timeout expires (several times over: a StopRequest times out into SIGTERM, that into
 * SIGKILL) and every signalled child dies. */
static void settle(void) {
        for (int round = 0; round < 6 && loop_alive(); round++) {
                run_quiet();
                children_settle();
                time_passes(60 * USEC_PER_SEC); /* > every timeout of the helper */
                children_settle();
                run_quiet();
        }
}

/* Open fds but pipes: ours are closed with their tunnels, and the sanitizers keep pipes to
 * llvm-symbolizer once they started it. */
static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                char path[300], target[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                ssize_t k = readlink(path, target, sizeof(target) - 1);
                if (k > 0 && !(k >= 5 && memcmp(target, "pipe:", 5) == 0))
                        n++;
        }
        closedir(d);
        return n;
}

/* Every child is dead or idle: nothing the helper did is still under way. */
static bool children_quiet(void) {
        for (size_t i = 0; i < F.n_tunnels; i++)
                if (!F.tunnels[i].dead && !child_waitable(&F.tunnels[i], 0) &&
                    !child_idle(&F.tunnels[i]))
                        return false;
        return true;
}

static void fuzz_finish(void) {
        settle();
        Peer *p = loop_alive() && children_quiet() ? unanswered_peer() : NULL;
        if (p)
                FINDING("%s #%u: a request is still unanswered after every timeout expired",
                        p->name, p->index);

        for (size_t i = 0; i < N_CTL; i++)
                peer_close(&F.ctl[i]);
        for (size_t i = 0; i < N_SHIM; i++)
                peer_close(&F.shim[i]);
        for (size_t i = 0; i < F.n_tunnels; i++)
                peer_close(&F.tunnels[i].peer);
        settle();
        if (loop_alive() && F.m->n_sessions > 0 && children_quiet())
                FINDING("%u session(s) left after every peer went away", F.m->n_sessions);

        /* The helper's loop reads every SIGTERM: one we did not send is meant for us. */
        bool interrupted = F.m->stopping && !F.sigterm_sent;
        F.m = helper_manager_free(F.m);

        /* Nothing of the helper may outlive it: no child, no event source. */
        int left = 0;
        for (size_t i = 0; i < F.n_tunnels; i++) {
                FakeTunnel *t = &F.tunnels[i];
                siginfo_t si = {};
                if (waitid(P_PIDFD, (id_t) t->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
                        left = t->pid;
                        (void) syscall(SYS_pidfd_send_signal, t->pidfd, SIGKILL, NULL, 0);
                        (void) waitid(P_PIDFD, (id_t) t->pidfd, &si, WEXITED);
                }
                safe_close(t->pidfd);
                safe_close(t->pipe_w);
        }
        F.n_tunnels = 0;
        if (left)
                FINDING("tunnel child %d outlived helper_manager_free() (running or unreaped)",
                        left);
        /* A leaked source keeps the loop, and sd_event_default() would hand it out again. */
        sd_event *fresh = NULL;
        if (sd_event_default(&fresh) >= 0) {
                uint64_t iteration = 0;
                (void) sd_event_get_iteration(fresh, &iteration);
                sd_event_unref(fresh);
                if (iteration != 0)
                        FINDING("the helper's event loop outlived helper_manager_free() "
                                "(an event source or connection was leaked)");
        }

        /* A signal the loop did not read must not reach the next input's helper. */
        sigset_t ss;
        siginfo_t si = {};
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGCHLD);
        while (sigtimedwait(&ss, &si, &(struct timespec){}) > 0)
                if (si.si_signo == SIGTERM && si.si_pid != getpid())
                        interrupted = true;
        if (interrupted) {
                /* As libFuzzer does on SIGINT. */
                fprintf(fuzz_out, "fuzz-helper: SIGTERM: run interrupted; exiting\n");
                _exit(0);
        }

        int n = count_fds();
        if (fds_baseline < 0)
                fds_baseline = n;
        else if (n > fds_baseline)
                FINDING("%d fds open after an input, %d before: an fd leaked", n, fds_baseline);
}

static void fuzz_start(void) {
        HelperOptions opt;
        helper_options_init(&opt); /* the default timeouts, idle exit too: time is virtual */
        opt.tunnel_path = "/nonexistent/fuzz-helper/tund-tunnel"; /* never executed */
        if (geteuid() == 0) {
                opt.tunnel_user = "root";
                /* Peers as 65534 may then read, but not stop or rebind. */
                struct group *gr = getgrgid(65534);
                opt.control_group = gr ? gr->gr_name : "tund";
        } else {
                /* Without user namespaces: serve ourselves as far as the policies can. */
                struct passwd *pw = getpwuid(geteuid());
                struct group *gr = getgrgid(getegid());
                opt.tunnel_user = pw ? pw->pw_name : "nobody";
                opt.control_group = gr ? gr->gr_name : "nogroup";
                opt.shim_uid_set = true;
                opt.shim_uid = geteuid();
        }
        F = (typeof(F)){};
        for (unsigned i = 0; i < N_CTL; i++)
                F.ctl[i] = (Peer){ .name = "control client", .index = i };
        for (unsigned i = 0; i < N_SHIM; i++)
                F.shim[i] = (Peer){ .name = "shim", .index = i };
        /* sd-event watches only blocked signals; SIGINT stays libFuzzer's (^C) otherwise. */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        if (helper_manager_new(&F.m, &opt) < 0 || helper_manager_setup(F.m) < 0)
                FINDING("cannot set up the helper");
        (void) sigprocmask(SIG_UNBLOCK, &ss, NULL);
        F.m->spawn = fake_spawn;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_start();
        while (size >= 4 && loop_alive()) {
                unsigned target = data[0] % _T_MAX, flags = data[1];
                size_t len = MIN((size_t) (data[2] | data[3] << 8), size - 4);
                record(target, flags, data + 4, len);
                data += 4 + len;
                size -= 4 + len;
        }
        fuzz_finish();
        return 0;
}

/* ---- the seed corpus ---- */

typedef struct Seed {
        uint8_t buf[8192];
        size_t len;
} Seed;

static void seed_raw(Seed *s, unsigned target, unsigned flags, const void *p, size_t n) {
        if (s->len + 4 + n > sizeof(s->buf))
                abort();
        s->buf[s->len++] = (uint8_t) target;
        s->buf[s->len++] = (uint8_t) flags;
        s->buf[s->len++] = (uint8_t) (n & 0xff);
        s->buf[s->len++] = (uint8_t) (n >> 8);
        memcpy_safe(s->buf + s->len, p, n);
        s->len += n;
}

static void seed_msg(Seed *s, unsigned target, unsigned flags, const ProtobufCMessage *m) {
        uint8_t b[4096];
        size_t n = protobuf_c_message_get_packed_size(m);
        if (n > sizeof(b))
                abort();
        protobuf_c_message_pack(m, b);
        seed_raw(s, target, flags, b, n);
}

static void seed_write(const char *dir, const char *name, const Seed *s) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
                fprintf(fuzz_out, "cannot write %s: %m\n", path);
                exit(1);
        }
}

/* Messages, one helper per payload case used. */
static void ctl_ping(Seed *s, unsigned who, unsigned flags) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping p = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &p;
        seed_msg(s, T_CTL + who, flags, &m.base);
}

static void ctl_status(Seed *s, unsigned who, const char *profile) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__GetStatus g = TUND__GET_STATUS__INIT;
        g.profile = (char *) profile;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS;
        m.get_status = &g;
        seed_msg(s, T_CTL + who, MODE_CALL, &m.base);
}

static void ctl_peers(Seed *s, unsigned who, const char *profile) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__CtlGetPeers g = TUND__CTL_GET_PEERS__INIT;
        g.profile = (char *) profile;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_PEERS;
        m.get_peers = &g;
        seed_msg(s, T_CTL + who, MODE_CALL, &m.base);
}

static void ctl_watch(Seed *s, unsigned who, const char *profile) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Watch w = TUND__WATCH__INIT;
        w.profile = (char *) profile;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
        m.watch = &w;
        seed_msg(s, T_CTL + who, MODE_CALL, &m.base);
}

static void ctl_rebind(Seed *s, unsigned who, const char *profile, bool all) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__CtlRebind r = TUND__CTL_REBIND__INIT;
        r.profile = (char *) profile;
        r.all = all;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_REBIND;
        m.rebind = &r;
        seed_msg(s, T_CTL + who, MODE_CALL, &m.base);
}

static void ctl_stop(Seed *s, unsigned who, const char *profile) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__CtlStopSession r = TUND__CTL_STOP_SESSION__INIT;
        r.profile = (char *) profile;
        r.reason = (char *) "maintenance";
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &r;
        seed_msg(s, T_CTL + who, MODE_CALL, &m.base);
}

static void shim_start(Seed *s, unsigned who, unsigned flags, const char *profile,
                       const char *ifname, bool config) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StartSession st = TUND__START_SESSION__INIT;
        Tund__WgConfig wg = TUND__WG_CONFIG__INIT;
        Tund__WgPeer peer = TUND__WG_PEER__INIT, *peers[] = { &peer };
        peer.public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        peer.endpoint = (char *) "192.0.2.1:51820";
        wg.private_key = (char *) "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        wg.n_peers = 1;
        wg.peers = peers;
        st.profile = (char *) profile;
        st.ifname = (char *) ifname;
        st.config = config ? &wg : NULL;
        st.engine_version = (char *) "0.0.20230223";
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION;
        m.start_session = &st;
        seed_msg(s, T_SHIM + who, flags, &m.base);
}

static void shim_stop(Seed *s, unsigned who) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StopSession st = TUND__STOP_SESSION__INIT;
        st.reason = (char *) "SIGTERM";
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &st;
        seed_msg(s, T_SHIM + who, MODE_CALL, &m.base);
}

static void shim_peers(Seed *s, unsigned who) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__ShimGetPeers g = TUND__SHIM_GET_PEERS__INIT;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS;
        m.get_peers = &g;
        seed_msg(s, T_SHIM + who, MODE_CALL, &m.base);
}

static void shim_settings_result(Seed *s, unsigned who) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__NetworkSettingsResult r = TUND__NETWORK_SETTINGS_RESULT__INIT;
        r.ifname = (char *) FUZZ_IFNAME;
        r.ifindex = 2;
        r.dns_backend = (char *) "resolved";
        r.routes_applied = 2;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_RESULT;
        m.network_settings_result = &r;
        seed_msg(s, T_SHIM + who, MODE_REPLY_NEWEST, &m.base);
}

static void shim_error(Seed *s, unsigned who) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__Error e = TUND__ERROR__INIT;
        e.code = TUND__ERROR_CODE__ERROR_NETCFG;
        e.message = (char *) "RTM_NEWROUTE: File exists";
        e.errno_value = EEXIST;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_ERROR;
        m.error = &e;
        seed_msg(s, T_SHIM + who, MODE_REPLY_NEWEST, &m.base);
}

static void tunnel_settings(Seed *s, unsigned sel) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__NetworkSettingsRequest r = TUND__NETWORK_SETTINGS_REQUEST__INIT;
        Tund__NetworkSettings ns = TUND__NETWORK_SETTINGS__INIT;
        Tund__IpPrefix addr = TUND__IP_PREFIX__INIT, route = TUND__IP_PREFIX__INIT;
        Tund__IpPrefix *addrs[] = { &addr }, *routes[] = { &route };
        static uint8_t a4[] = { 10, 7, 0, 2 }, r4[] = { 0, 0, 0, 0 }, dns[] = { 10, 7, 0, 1 };
        ProtobufCBinaryData servers[] = { { sizeof(dns), dns } };
        char *domains[] = { (char *) "corp.example" };
        addr.address = (ProtobufCBinaryData){ sizeof(a4), a4 };
        addr.prefix_len = 32;
        route.address = (ProtobufCBinaryData){ sizeof(r4), r4 };
        ns.n_addresses = 1;
        ns.addresses = addrs;
        ns.n_routes = 1;
        ns.routes = routes;
        ns.mtu = 1420;
        ns.n_dns_servers = 1;
        ns.dns_servers = servers;
        ns.n_search_domains = 1;
        ns.search_domains = domains;
        r.settings = &ns;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST;
        m.network_settings_request = &r;
        seed_msg(s, T_TUNNEL, MODE_CALL | sel << 2, &m.base);
}

static void tunnel_start_response(Seed *s, unsigned sel) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StartResponse r = TUND__START_RESPONSE__INIT;
        r.engine_pid = 4242;
        r.engine_version = (char *) "0.0.20230223";
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
        m.start_response = &r;
        seed_msg(s, T_TUNNEL, MODE_REPLY_NEWEST | sel << 2, &m.base);
}

static void tunnel_stop_response(Seed *s, unsigned sel) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StopResponse r = TUND__STOP_RESPONSE__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
        m.stop_response = &r;
        seed_msg(s, T_TUNNEL, MODE_REPLY_NEWEST | sel << 2, &m.base);
}

static void tunnel_error(Seed *s, unsigned mode, const char *text) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Error e = TUND__ERROR__INIT;
        e.code = TUND__ERROR_CODE__ERROR_ENGINE;
        e.message = (char *) text;
        e.errno_value = ENOENT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_ERROR;
        m.error = &e;
        seed_msg(s, T_TUNNEL, mode, &m.base);
}

static void tunnel_ack(Seed *s, unsigned mode) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Ack a = TUND__ACK__INIT;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_ACK;
        m.ack = &a;
        seed_msg(s, T_TUNNEL, mode, &m.base);
}

static void tunnel_peers(Seed *s, unsigned mode, bool delta) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__PeerUpdate pu = TUND__PEER_UPDATE__INIT;
        Tund__PeerState ps = TUND__PEER_STATE__INIT, *peers[] = { &ps };
        ps.public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        ps.endpoint = (char *) "192.0.2.1:51820";
        ps.last_handshake_sec = 1700000000;
        ps.rx_bytes = 1234;
        ps.tx_bytes = 5678;
        pu.profile = (char *) "someone-else"; /* the helper must use its own */
        pu.n_peers = 1;
        pu.peers = peers;
        pu.delta = delta;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_PEERS;
        m.peers = &pu;
        seed_msg(s, T_TUNNEL, mode, &m.base);
}

static void tunnel_log(Seed *s, Tund__LogLevel level, const char *text) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Log l = TUND__LOG__INIT;
        l.level = level;
        l.message = (char *) text;
        l.message_id = (char *) "0123456789abcdef0123456789abcdef";
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG;
        m.log = &l;
        seed_msg(s, T_TUNNEL, MODE_ONEWAY, &m.base);
}

static void tunnel_status(Seed *s) {
        Tund__TunnelToHelper m = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__Status st = TUND__STATUS__INIT;
        st.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        st.text = (char *) "handshake with 1 peer";
        st.engine_pid = 4242;
        m.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STATUS;
        m.status = &st;
        seed_msg(s, T_TUNNEL, MODE_ONEWAY, &m.base);
}

static void act(Seed *s, unsigned target, unsigned flags) {
        seed_raw(s, target, flags, NULL, 0);
}

/* StartSession on shim `who` through StartResponse: a running session. */
static void seed_session_up(Seed *s, unsigned who, const char *profile) {
        shim_start(s, who, MODE_CALL | 1u << 2, profile, FUZZ_IFNAME, true);
        tunnel_settings(s, 0);
        shim_settings_result(s, who);
        tunnel_log(s, TUND__LOG_LEVEL__LOG_LEVEL_INFO, "engine started");
        tunnel_start_response(s, 0);
}

/* StopSession through the child's exit. */
static void seed_session_down(Seed *s, unsigned who) {
        shim_stop(s, who);
        tunnel_stop_response(s, 0);
        seed_raw(s, T_CHILD_EXIT, 1u << 2, NULL, 0);
        act(s, T_CLOSE, N_CTL + N_SHIM); /* the newest tunnel's channel */
}

static void seeds_write(const char *dir) {
        Seed s;
        (void) mkdir(dir, 0755);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        ctl_status(&s, 0, "");
        ctl_watch(&s, 1, "");
        tunnel_status(&s);
        tunnel_peers(&s, MODE_ONEWAY, false);
        tunnel_log(&s, TUND__LOG_LEVEL__LOG_LEVEL_WARNING, "handshake did not complete");
        ctl_peers(&s, 0, "work");
        tunnel_peers(&s, MODE_REPLY_NEWEST, false);
        ctl_rebind(&s, 0, "work", false);
        tunnel_ack(&s, MODE_REPLY_NEWEST);
        shim_peers(&s, 0);
        tunnel_peers(&s, MODE_REPLY_NEWEST, true);
        ctl_status(&s, 2, "work");
        seed_session_down(&s, 0);
        seed_write(dir, "session-full", &s);

        s = (Seed){};
        ctl_ping(&s, 0, MODE_CALL);
        ctl_ping(&s, 1, MODE_ONEWAY);
        ctl_status(&s, 0, "nope");
        ctl_status(&s, 0, "");
        ctl_watch(&s, 2, "work");
        ctl_peers(&s, 0, "");
        ctl_peers(&s, 0, "nope");
        ctl_rebind(&s, 0, "", false);
        ctl_rebind(&s, 0, "", true);
        ctl_stop(&s, 1, "");
        ctl_stop(&s, 1, "nope");
        act(&s, T_CLOSE, 2);
        ctl_ping(&s, 2, MODE_CALL);
        seed_write(dir, "control-only", &s);

        s = (Seed){};
        ctl_ping(&s, 0, MODE_CALL | F_NOBODY); /* 65534 may read... */
        ctl_status(&s, 0, "");
        ctl_rebind(&s, 0, "", true); /* ...not act */
        ctl_stop(&s, 0, "work");
        shim_start(&s, 1, MODE_CALL | 1u << 2 | F_NOBODY, "work", FUZZ_IFNAME, true);
        seed_write(dir, "unprivileged", &s);

        s = (Seed){};
        ctl_ping(&s, 0, MODE_CALL);
        act(&s, T_CLOSE, 0);
        act(&s, T_TIME, 127); /* 32 s without a client: idle exit */
        ctl_ping(&s, 0, MODE_CALL);
        seed_write(dir, "idle-exit", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL, "work", FUZZ_IFNAME, true); /* no fds */
        shim_start(&s, 0, MODE_CALL | 1u << 2, "../x", FUZZ_IFNAME, true);
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", "a/b", true);
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, false);
        for (unsigned odd = 0; odd < 4; odd++) {
                /* TUN + something else, something else + UAPI, 0-3 fds */
                shim_start(&s, 0, MODE_CALL | 2u << 2 | odd << 5, "work", FUZZ_IFNAME, true);
                shim_start(&s, 0, MODE_CALL | 3u << 2 | odd << 5, "work", FUZZ_IFNAME, true);
                if (odd != 2) /* 2 would be TUN + UAPI */
                        shim_start(&s, 0, MODE_CALL | 0u << 2 | odd << 5, "work", FUZZ_IFNAME,
                                   true);
        }
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", "other0", true);
        shim_start(&s, 0, MODE_CALL | 1u << 2 | F_SPAWN_FAILS, "work", FUZZ_IFNAME, true);
        shim_stop(&s, 1);
        shim_peers(&s, 1);
        shim_start(&s, 1, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        shim_start(&s, 1, MODE_CALL | 1u << 2, "again", FUZZ_IFNAME, true);
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true); /* exists */
        shim_stop(&s, 1);                                                  /* while starting */
        seed_write(dir, "start-refused", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        seed_raw(&s, T_CHILD_EXIT, 3u << 2, NULL, 0); /* SIGKILL */
        act(&s, T_CLOSE, N_CTL + N_SHIM);
        seed_write(dir, "tunnel-dies-starting", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        act(&s, T_TIME, 183); /* 46 s: the start times out; StopRequest goes unanswered */
        act(&s, T_TIME, 23);  /* 6 s: SIGTERM */
        seed_write(dir, "start-timeout", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        tunnel_error(&s, MODE_REPLY_NEWEST, "wireguard-go: no such file");
        tunnel_log(&s, TUND__LOG_LEVEL__LOG_LEVEL_ERROR, "engine exited with status 1");
        tunnel_stop_response(&s, 0);
        seed_raw(&s, T_CHILD_EXIT, 0, (const uint8_t[]){ 3 }, 1);
        act(&s, T_CLOSE, N_CTL + N_SHIM);
        seed_write(dir, "start-error", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        tunnel_ack(&s, MODE_REPLY_NEWEST); /* not a StartResponse: protocol violation */
        seed_write(dir, "start-wrong-reply", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        tunnel_settings(&s, 0);
        shim_error(&s, 0);
        tunnel_settings(&s, 0);
        act(&s, T_CLOSE, N_CTL); /* the shim goes away during the relay */
        seed_write(dir, "settings-refused", &s);

        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        tunnel_settings(&s, 0);
        act(&s, T_TIME, 123); /* 31 s: the relay times out */
        tunnel_start_response(&s, 0);
        seed_write(dir, "settings-timeout", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        act(&s, T_CLOSE, N_CTL); /* the shim disconnects */
        tunnel_stop_response(&s, 0);
        seed_raw(&s, T_CHILD_EXIT, 1u << 2, NULL, 0);
        act(&s, T_CLOSE, N_CTL + N_SHIM);
        seed_write(dir, "shim-gone", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        ctl_watch(&s, 0, "work");
        ctl_stop(&s, 1, "work");
        ctl_stop(&s, 2, "work");
        tunnel_stop_response(&s, 0);
        act(&s, T_TIME, 23); /* the tunnel lingers: SIGTERM */
        seed_write(dir, "ctl-stop", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        seed_raw(&s, T_CHILD_EXIT, 2u << 2, NULL, 0); /* exits, channel stays open */
        act(&s, T_TIME, 4);                           /* 1.25 s: the drain timer */
        seed_write(dir, "drain-timeout", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "a");
        seed_session_up(&s, 1, "b");
        ctl_watch(&s, 2, "");
        ctl_peers(&s, 0, "");
        tunnel_peers(&s, MODE_REPLY_NEWEST | 1u << 2, false);
        act(&s, T_TIME, 43); /* 11 s: b's GetPeers times out */
        ctl_rebind(&s, 0, "", true);
        tunnel_ack(&s, MODE_REPLY_NEWEST);
        tunnel_error(&s, MODE_REPLY_NEWEST | 1u << 2, "cannot resolve endpoint");
        act(&s, T_SIGNAL, 0);
        ctl_status(&s, 0, "");
        shim_start(&s, 0, MODE_CALL | 1u << 2, "c", FUZZ_IFNAME, true); /* helper stopping */
        act(&s, T_SIGNAL, 0);                                           /* again: exit now */
        seed_write(dir, "two-sessions-sigterm", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        act(&s, T_SIGNAL, 0);
        tunnel_stop_response(&s, 0);
        act(&s, T_CLOSE, N_CTL + N_SHIM);
        seed_raw(&s, T_CHILD_EXIT, 1u << 2, NULL, 0);
        ctl_ping(&s, 0, MODE_CALL);
        seed_write(dir, "sigterm-graceful", &s);

        /* Regressions: the StopSession got no reply; the helper leaked its sessions. */
        s = (Seed){};
        shim_start(&s, 0, MODE_CALL | 1u << 2, "work", FUZZ_IFNAME, true);
        shim_stop(&s, 0);
        tunnel_stop_response(&s, 0);
        seed_raw(&s, T_CHILD_EXIT, 1u << 2, NULL, 0);
        act(&s, T_CLOSE, N_CTL + N_SHIM);
        seed_write(dir, "regress-stop-while-starting", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        act(&s, T_SIGNAL, 0);
        act(&s, T_SIGNAL, 0);
        seed_write(dir, "regress-exit-with-sessions", &s);

        s = (Seed){};
        seed_session_up(&s, 0, "work");
        tunnel_start_response(&s, 0);               /* nothing pending: one-way */
        tunnel_settings(&s, 0);                     /* no reply yet... */
        act(&s, T_CLOSE, N_CTL + N_SHIM);           /* ...the tunnel hangs up */
        shim_settings_result(&s, 0);                /* late */
        seed_raw(&s, T_TUNNEL, MODE_CALL, NULL, 0); /* empty request: unsupported */
        seed_write(dir, "tunnel-oddities", &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_out = stderr;
        const char *seeds = getenv("FUZZ_HELPER_SEEDS");
        if (seeds) {
                seeds_write(seeds);
                exit(0);
        }
        /* As tund-helperd's main(): signals through sd-event, SIGCHLD for sd_event_add_child
         * (SIGINT: see fuzz_start()). */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                abort();
        signal(SIGPIPE, SIG_IGN);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        world_setup();
        /* The helper logs to stderr (log_open() is not called: never the journal), at
         * every level so all its format strings run, into /dev/null unless asked. libFuzzer
         * keeps its own copy of the old stderr. */
        log_set_max_level(LOG_DEBUG);
        if (!getenv("FUZZ_HELPER_LOG")) {
                FILE *null = fopen("/dev/null", "we");
                if (null)
                        stderr = null;
        }
        return 0;
}
