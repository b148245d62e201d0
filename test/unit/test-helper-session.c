/* tund-helperd's session lifecycle through its real handlers: a shim connection handed to
 * helper_shim_accept() and tunnels from Manager.spawn (a /bin/sh child waiting on a pipe, and
 * our end of its channel). StartSession needs a real TUN device: each test (a forked child)
 * moves into a network namespace of its own, inside a user namespace when not root, or is
 * skipped. Regression tests for what test/fuzz/fuzz-helper.c found. */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "log.h"
#include "helper.h"
#include "spawn-util.h"
#include "tests.h"

#define IFNAME "tst0"

static int tun_fd = -EBADF, uapi_fd = -EBADF;

static void write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
                SKIP("cannot write %s: %m", path);
        close(fd);
}

/* A TUN device in a network namespace of our own, and a listening unix socket. */
static void world_setup(void) {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (uid == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        SKIP("unshare(CLONE_NEWNET): %m");
        } else {
                char map[64];
                if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
                        SKIP("not root and no user namespaces: %m");
                write_file("/proc/self/setgroups", "deny");
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
                write_file("/proc/self/uid_map", map);
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
                write_file("/proc/self/gid_map", map);
        }
        struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
        strcpy(ifr.ifr_name, IFNAME);
        tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (tun_fd < 0 || ioctl(tun_fd, TUNSETIFF, &ifr) < 0)
                SKIP("cannot create a TUN device: %m");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uapi_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(uapi_fd >= 0);
        ASSERT_OK(bind(uapi_fd, (struct sockaddr *) &sa, sizeof(sa_family_t)));
        ASSERT_OK(listen(uapi_fd, 1));

        /* As tund-helperd's main(). */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGCHLD);
        ASSERT_OK(sigprocmask(SIG_BLOCK, &ss, NULL));
        log_set_max_level(LOG_DEBUG);
}

/* ---- the fake tunnel ---- */

static struct {
        IpcConn *conn;
        pid_t pid;
        int pidfd, pipe_w;
        uint64_t request_id; /* the last request the helper sent it */
        uint32_t request_case;
} tunnel = { .pidfd = -EBADF, .pipe_w = -EBADF };

static int on_tunnel_message(IpcConn *c, IpcMsg *m, void *userdata) {
        if (m->msg_id != 0) {
                tunnel.request_id = m->msg_id;
                tunnel.request_case = m->payload_case;
        }
        return 0;
}

static int fake_spawn(Manager *m, int tun, int uapi, int *ret_channel, pid_t *ret_pid,
                      char **ret_error) {
        int sv[2], pp[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(pipe2(pp, O_CLOEXEC));
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pp[0], 0);
        ASSERT_OK(spawn_attr_init_clean_signals(&attr));
        static char *const argv[] = { (char *) "sh", (char *) "-c", (char *) "read x", NULL };
        ASSERT_EQ(posix_spawn(&tunnel.pid, "/bin/sh", &fa, &attr, argv, NULL), 0);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(pp[0]);
        tunnel.pipe_w = pp[1];
        tunnel.pidfd = (int) syscall(SYS_pidfd_open, tunnel.pid, 0);
        ASSERT_TRUE(tunnel.pidfd >= 0);
        ASSERT_OK(ipc_conn_new(&tunnel.conn, m->event, sv[1], &ipc_channel_tunnel_child));
        static const IpcHandlers h = { .on_message = on_tunnel_message };
        ipc_conn_set_handlers(tunnel.conn, &h, NULL);
        *ret_channel = sv[0];
        *ret_pid = tunnel.pid;
        return 0;
}

/* The tunnel answers the last request it got. */
static void tunnel_reply_start(void) {
        Tund__TunnelToHelper r = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StartResponse sr = TUND__START_RESPONSE__INIT;
        sr.engine_pid = 4242;
        sr.engine_version = (char *) "0.0.20230223";
        r.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE;
        r.start_response = &sr;
        ASSERT_OK(ipc_conn_send(tunnel.conn, &r.base, tunnel.request_id, NULL, 0));
}

static void tunnel_reply_stop(void) {
        Tund__TunnelToHelper r = TUND__TUNNEL_TO_HELPER__INIT;
        Tund__StopResponse sr = TUND__STOP_RESPONSE__INIT;
        r.payload_case = TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE;
        r.stop_response = &sr;
        ASSERT_OK(ipc_conn_send(tunnel.conn, &r.base, tunnel.request_id, NULL, 0));
}

/* The child exits (0) and its channel closes, as a real tunnel's does. */
static void tunnel_exit(void) {
        tunnel.pipe_w = safe_close(tunnel.pipe_w);
        ipc_conn_close(tunnel.conn, 0, "exited");
        tunnel.conn = ipc_conn_unref(tunnel.conn);
}

/* ---- the helper and a shim ---- */

typedef struct Reply {
        bool done;
        int error;
        uint32_t payload_case;
        Tund__ErrorCode code;
} Reply;

static void on_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        Reply *r = userdata;
        const Tund__Error *e = reply ? ipc_msg_error(reply) : NULL;
        *r = (Reply){ .done = true,
                      .error = error,
                      .payload_case = reply ? reply->payload_case : 0,
                      .code = e ? e->code : TUND__ERROR_CODE__ERROR_NONE };
}

static Manager *manager_new(void) {
        HelperOptions opt;
        Manager *m = NULL;
        helper_options_init(&opt);
        opt.idle_exit_usec = 0;
        opt.tunnel_user = "root"; /* we are root, in our namespace at least */
        ASSERT_OK(helper_manager_new(&m, &opt));
        ASSERT_OK(helper_manager_setup(m));
        m->spawn = fake_spawn;
        return m;
}

static IpcConn *shim_connect(Manager *m) {
        int sv[2];
        IpcConn *helper_end = NULL, *shim = NULL;
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(ipc_conn_new(&helper_end, m->event, sv[0], &ipc_channel_shim_server));
        ASSERT_OK(helper_shim_accept(NULL, helper_end, m));
        ipc_conn_unref(helper_end);
        ASSERT_OK(ipc_conn_new(&shim, m->event, sv[1], &ipc_channel_shim_client));
        return shim;
}

static void shim_start(IpcConn *shim, Reply *r) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StartSession st = TUND__START_SESSION__INIT;
        Tund__WgConfig wg = TUND__WG_CONFIG__INIT;
        int fds[] = { tun_fd, uapi_fd };
        st.profile = (char *) "work";
        st.ifname = (char *) IFNAME;
        st.config = &wg;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION;
        m.start_session = &st;
        ASSERT_TRUE(ipc_conn_call(shim, &m.base, fds, 2, 0, on_reply, r) > 0);
}

static void shim_stop(IpcConn *shim, Reply *r) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StopSession st = TUND__STOP_SESSION__INIT;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &st;
        ASSERT_TRUE(ipc_conn_call(shim, &m.base, NULL, 0, 0, on_reply, r) > 0);
}

/* Runs the loop until cond holds, for at most 5 s. */
#define RUN_UNTIL(m, cond)                                                                         \
        do {                                                                                       \
                for (int _i = 0; _i < 5000 && !(cond); _i++)                                       \
                        ASSERT_OK(sd_event_run((m)->event, 1000));                                 \
                if (!(cond))                                                                       \
                        FAILF("timed out waiting for %s", #cond);                                  \
        } while (0)

TEST(start_and_stop) {
        world_setup();
        Manager *m = manager_new();
        IpcConn *shim = shim_connect(m);
        Reply start = {}, stop = {};

        shim_start(shim, &start);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST);
        ASSERT_EQ(m->n_sessions, 1);
        tunnel_reply_start();
        RUN_UNTIL(m, start.done);
        ASSERT_EQ(start.payload_case, TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY);
        ASSERT_EQ(LIST_FIRST(&m->sessions)->state, SESSION_RUNNING);

        shim_stop(shim, &stop);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST);
        tunnel_reply_stop();
        tunnel_exit();
        RUN_UNTIL(m, stop.done);
        ASSERT_EQ(stop.error, 0);
        ASSERT_EQ(stop.payload_case, TUND__HELPER_TO_SHIM__PAYLOAD_ACK);
        RUN_UNTIL(m, m->n_sessions == 0);

        ipc_conn_close(shim, 0, NULL);
        ipc_conn_unref(shim);
        helper_manager_free(m);
}

/* A StopSession while StartSession was pending got no reply at all: the session's end
 * answered the start only (found by fuzz-helper). */
TEST(stop_while_starting_gets_its_ack) {
        world_setup();
        Manager *m = manager_new();
        IpcConn *shim = shim_connect(m);
        Reply start = {}, stop = {};

        shim_start(shim, &start);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST);
        shim_stop(shim, &stop);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST);
        tunnel_reply_stop();
        tunnel_exit();
        RUN_UNTIL(m, start.done && stop.done);
        ASSERT_EQ(start.code, TUND__ERROR_CODE__ERROR_ENGINE);
        ASSERT_EQ(stop.error, 0);
        ASSERT_EQ(stop.payload_case, TUND__HELPER_TO_SHIM__PAYLOAD_ACK);

        ipc_conn_close(shim, 0, NULL);
        ipc_conn_unref(shim);
        helper_manager_free(m);
}

/* helper_manager_free() with a session left (a second SIGTERM) killed the tunnel but leaked
 * the session, its event sources and so the event loop (found by fuzz-helper). */
TEST(free_with_a_session_left) {
        world_setup();
        Manager *m = manager_new();
        IpcConn *shim = shim_connect(m);
        Reply start = {};

        shim_start(shim, &start);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST);
        ipc_conn_close(shim, 0, NULL);
        ipc_conn_unref(shim);
        ipc_conn_close(tunnel.conn, 0, NULL);
        tunnel.conn = ipc_conn_unref(tunnel.conn);
        ASSERT_EQ(m->n_sessions, 1);
        helper_manager_free(m);

        /* The tunnel was killed and reaped... */
        siginfo_t si;
        ASSERT_TRUE(waitid(P_PIDFD, (id_t) tunnel.pidfd, &si, WEXITED | WNOHANG) < 0);
        ASSERT_EQ(errno, ECHILD);
        /* ...and nothing kept the loop: the next one is new. */
        sd_event *e = NULL;
        uint64_t iteration = 1;
        ASSERT_OK(sd_event_default(&e));
        ASSERT_OK(sd_event_get_iteration(e, &iteration));
        ASSERT_EQ(iteration, 0);
        sd_event_unref(e);
}

/* A tunnel whose exit sd-event never reports (its pidfd wakeup lost, as seen once under ASan
 * on 6.18: the session stayed "stopping" and the profile could not start again) is still
 * reaped, by the poll that starts when its channel closes, well before any stop timeout. */
TEST(lost_exit_report_is_reaped_by_polling) {
        world_setup();
        Manager *m = manager_new();
        IpcConn *shim = shim_connect(m);
        Reply start = {}, stop = {};

        shim_start(shim, &start);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST);
        tunnel_reply_start();
        RUN_UNTIL(m, start.done);
        /* The lost wakeup: the child source is there but will never fire. */
        ASSERT_OK(sd_event_source_set_enabled(LIST_FIRST(&m->sessions)->child, SD_EVENT_OFF));

        shim_stop(shim, &stop);
        RUN_UNTIL(m, tunnel.request_case == TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST);
        tunnel_reply_stop();
        tunnel_exit();
        uint64_t t0, t;
        ASSERT_OK(sd_event_now(m->event, CLOCK_MONOTONIC, &t0));
        do {
                ASSERT_OK(sd_event_run(m->event, 100 * USEC_PER_MSEC));
                ASSERT_OK(sd_event_now(m->event, CLOCK_MONOTONIC, &t));
        } while ((m->n_sessions > 0 || !stop.done) && t - t0 < 3 * USEC_PER_SEC);
        /* The stop timeout (5 s) has not passed: only the poll can have ended it. */
        ASSERT_EQ(m->n_sessions, 0);
        ASSERT_TRUE(stop.done);
        ASSERT_EQ(stop.payload_case, TUND__HELPER_TO_SHIM__PAYLOAD_ACK);
        siginfo_t si;
        ASSERT_TRUE(waitid(P_PIDFD, (id_t) tunnel.pidfd, &si, WEXITED | WNOHANG) < 0);
        ASSERT_EQ(errno, ECHILD);

        ipc_conn_close(shim, 0, NULL);
        ipc_conn_unref(shim);
        helper_manager_free(m);
}
