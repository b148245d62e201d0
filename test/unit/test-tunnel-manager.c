/* tund-tunnel's state machine (tunnel-manager.c) in-process on tunnel_new_fds(): the test plays
 * the helper (an IpcConn on its own event loop) and the engine's UAPI side (it accepts on the
 * listening socket it hands the tunnel), and a shell script stands in for the engine process.
 * The tunnel insists on a real TUN: each test makes one in a private network namespace (an
 * unprivileged user namespace when not root) and is skipped where it cannot. Regression tests
 * for what test/fuzz/fuzz-tunnel.c found live here. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "ipc.h"
#include "tests.h"
#include "tunnel.h"

#define RIG_IFNAME "tut0"
#define RIG_MAX 64

typedef struct Rig {
        char dir[64], engine[96], uapi_path[96];
        sd_event *tevent, *hevent; /* the tunnel's loop, the helper's */
        Tunnel *tunnel;
        IpcConn *helper;
        int listener, conns[8];
        size_t n_conns;
        char tails[8][2], heads[8][6];
        size_t lens[8], sent[8];
        const char *answer[8];
        char *get_reply;         /* the answer to get=1 (default errno=0) */
        uint32_t cases[RIG_MAX]; /* what the helper received, in order */
        char texts[RIG_MAX][256];
        size_t n;
        bool replied[RIG_MAX];
} Rig;

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

static int make_tun(void) {
        struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
        char map[64];
        uid_t uid = getuid();
        gid_t gid = getgid();

        if (geteuid() == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        SKIP("no network namespace: %s", strerror(errno));
        } else {
                if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
                        SKIP("no user namespace: %s", strerror(errno));
                write_text("/proc/self/setgroups", "deny");
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
                write_text("/proc/self/uid_map", map);
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
                write_text("/proc/self/gid_map", map);
        }
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                SKIP("no /dev/net/tun: %s", strerror(errno));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), RIG_IFNAME);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                SKIP("cannot create a TUN: %s", strerror(errno));
        return fd;
}

static void record(Rig *r, const IpcMsg *m, bool reply) {
        const Tund__TunnelToHelper *t = (const Tund__TunnelToHelper *) m->msg;
        if (r->n >= RIG_MAX)
                return;
        r->cases[r->n] = m->payload_case;
        r->replied[r->n] = reply;
        snprintf(r->texts[r->n], sizeof(r->texts[0]), "%s",
                 t->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_LOG     ? t->log->message
                 : t->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_ERROR ? t->error->message
                                                                            : "");
        r->n++;
}

/* Answers NetworkSettingsRequest, as the shim would after applying the settings. */
static int on_message(IpcConn *c, IpcMsg *m, void *userdata) {
        record(userdata, m, false);
        if (m->payload_case == TUND__TUNNEL_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_REQUEST) {
                Tund__HelperToTunnel h = TUND__HELPER_TO_TUNNEL__INIT;
                Tund__NetworkSettingsResult res = TUND__NETWORK_SETTINGS_RESULT__INIT;
                res.ifname = (char *) RIG_IFNAME;
                res.dns_backend = (char *) "none";
                h.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_NETWORK_SETTINGS_RESULT;
                h.network_settings_result = &res;
                ASSERT_OK(ipc_conn_send(c, &h.base, m->msg_id, NULL, 0));
        }
        return 0;
}

static void on_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        if (error >= 0)
                record(userdata, reply, true);
}

/* engine_body: the shell script's lines after "#!/bin/sh". */
static void rig_new(Rig *r, const char *engine_body) {
        sigset_t ss;
        int sv[2];
        char script[512];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        *r = (Rig){ .listener = -EBADF };
        int tun = make_tun();
        snprintf(r->dir, sizeof(r->dir), "/tmp/tund-test-tunnel-XXXXXX");
        ASSERT_TRUE(mkdtemp(r->dir));
        snprintf(r->engine, sizeof(r->engine), "%s/engine", r->dir);
        snprintf(r->uapi_path, sizeof(r->uapi_path), "%s/uapi.sock", r->dir);
        snprintf(script, sizeof(script), "#!/bin/sh\n%s\n", engine_body);
        write_text(r->engine, script);

        r->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", r->uapi_path);
        ASSERT_OK(bind(r->listener, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(listen(r->listener, 16));
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGCHLD);
        ASSERT_OK(sigprocmask(SIG_BLOCK, &ss, NULL));
        ASSERT_OK(sd_event_new(&r->tevent));
        ASSERT_OK(sd_event_new(&r->hevent));
        TunnelArgs args = { .engine_path = r->engine, .engine_log_level = "error" };
        ASSERT_OK(tunnel_new_fds(&r->tunnel, &args, r->tevent, sv[0], tun,
                                 fcntl(r->listener, F_DUPFD_CLOEXEC, 3)));
        ASSERT_OK(ipc_conn_new(&r->helper, r->hevent, sv[1], &ipc_channel_tunnel_helper));
        ipc_conn_set_handlers(r->helper, &(IpcHandlers){ .on_message = on_message }, r);
}

static void rig_free(Rig *r) {
        tunnel_free(r->tunnel);
        ipc_conn_close(r->helper, 0, "test done");
        ipc_conn_unref(r->helper);
        sd_event_unref(r->tevent);
        sd_event_unref(r->hevent);
        for (size_t i = 0; i < r->n_conns; i++)
                close(r->conns[i]);
        close(r->listener);
        unlink(r->uapi_path);
        unlink(r->engine);
        rmdir(r->dir);
        free(r->get_reply);
}

/* The engine's UAPI side: every complete request gets errno=0, get=1 r->get_reply. */
static void rig_serve(Rig *r) {
        char buf[4096];
        int fd;
        while (r->n_conns < ELEMENTSOF(r->conns) &&
               (fd = accept4(r->listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                size_t i = r->n_conns++;
                r->conns[i] = fd;
                r->tails[i][0] = r->tails[i][1] = 0;
                r->lens[i] = r->sent[i] = 0;
                r->answer[i] = NULL;
        }
        for (size_t i = 0; i < r->n_conns; i++) {
                ssize_t k;
                while ((k = recv(r->conns[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                        for (ssize_t j = 0; j < k; j++, r->lens[i]++) {
                                if (r->lens[i] < sizeof(r->heads[i]))
                                        r->heads[i][r->lens[i]] = buf[j];
                                r->tails[i][0] = r->tails[i][1];
                                r->tails[i][1] = buf[j];
                        }
                if (!r->answer[i] && r->tails[i][0] == '\n' && r->tails[i][1] == '\n')
                        r->answer[i] = r->get_reply && memcmp(r->heads[i], "get=1\n", 6) == 0
                                               ? r->get_reply
                                               : "errno=0\n\n";
                if (r->answer[i] && r->sent[i] < strlen(r->answer[i])) {
                        k = send(r->conns[i], r->answer[i] + r->sent[i],
                                 strlen(r->answer[i]) - r->sent[i], MSG_DONTWAIT | MSG_NOSIGNAL);
                        r->sent[i] += k > 0 ? (size_t) k : 0;
                }
        }
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static bool tunnel_finished(Rig *r) {
        return sd_event_get_state(r->tevent) == SD_EVENT_FINISHED;
}

/* Runs both loops until *done (or the tunnel's loop has finished and the helper has read what
 * it wrote, when done is NULL), for at most usec. */
static void rig_run(Rig *r, const bool *done, uint64_t usec) {
        uint64_t end = now_usec() + usec;
        unsigned idle_after_finish = 0;
        while (now_usec() < end && (done ? !*done : idle_after_finish < 20)) {
                if (!tunnel_finished(r))
                        (void) sd_event_run(r->tevent, 1000);
                else
                        idle_after_finish++;
                (void) sd_event_run(r->hevent, 0);
                rig_serve(r);
        }
}

static bool rig_got(Rig *r, uint32_t payload_case, bool reply) {
        for (size_t i = 0; i < r->n; i++)
                if (r->cases[i] == payload_case && r->replied[i] == reply)
                        return true;
        return false;
}

static void rig_start(Rig *r) {
        Tund__HelperToTunnel m = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StartRequest req = TUND__START_REQUEST__INIT;
        Tund__WgConfig cfg = TUND__WG_CONFIG__INIT;
        Tund__WgPeer peer = TUND__WG_PEER__INIT, *peers[] = { &peer };
        uint8_t addr[4] = { 10, 0, 0, 0 };
        Tund__IpPrefix allowed = TUND__IP_PREFIX__INIT, *allowed_ips[] = { &allowed };

        allowed.address = (ProtobufCBinaryData){ 4, addr };
        allowed.prefix_len = 8;
        peer.public_key = (char *) "OR0J4her8xJndIMqOzjLJ+GoHn22gR2LjHNin6H/zQE=";
        peer.endpoint = (char *) "192.0.2.2:51820";
        peer.n_allowed_ips = 1;
        peer.allowed_ips = allowed_ips;
        cfg.private_key = (char *) "SJuvo/Jw53B+WkJMRcicPh0gKHNshqSOMKG4e8PWJnk=";
        cfg.n_peers = 1;
        cfg.peers = peers;
        req.profile = (char *) "test";
        req.ifname = (char *) RIG_IFNAME;
        req.config = &cfg;
        req.engine_version = (char *) "0.0.20220316";
        m.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_START_REQUEST;
        m.start_request = &req;
        ASSERT_TRUE(ipc_conn_call(r->helper, &m.base, NULL, 0, 0, on_reply, r) > 0);
        bool done = false;
        uint64_t end = now_usec() + 10 * USEC_PER_SEC;
        while (!done && now_usec() < end) {
                rig_run(r, &done, 10 * USEC_PER_MSEC);
                done = rig_got(r, TUND__TUNNEL_TO_HELPER__PAYLOAD_START_RESPONSE, true);
        }
        ASSERT_TRUE(done);
}

static void rig_get_peers(Rig *r) {
        Tund__HelperToTunnel m = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__GetPeers get = TUND__GET_PEERS__INIT;
        m.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_GET_PEERS;
        m.get_peers = &get;
        ASSERT_TRUE(ipc_conn_call(r->helper, &m.base, NULL, 0, 0, on_reply, r) > 0);
}

static void rig_stop(Rig *r) {
        Tund__HelperToTunnel m = TUND__HELPER_TO_TUNNEL__INIT;
        Tund__StopRequest req = TUND__STOP_REQUEST__INIT;
        m.payload_case = TUND__HELPER_TO_TUNNEL__PAYLOAD_STOP_REQUEST;
        m.stop_request = &req;
        ASSERT_TRUE(ipc_conn_call(r->helper, &m.base, NULL, 0, 0, on_reply, r) > 0);
}

TEST(tunnel_start_and_stop) {
        Rig r;
        rig_new(&r, "exec sleep 30");
        rig_start(&r);
        rig_stop(&r);
        rig_run(&r, NULL, 10 * USEC_PER_SEC);
        ASSERT_TRUE(tunnel_finished(&r));
        ASSERT_TRUE(r.n > 0);
        ASSERT_EQ(r.cases[r.n - 1], TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE);
        rig_free(&r);
}

/* An engine that needs SIGKILL leaves its socket file behind, and the tunnel says that it
 * removed it. It used to say so after StopResponse, which proto/tunnel.proto promises to be
 * the tunnel's last message. (Found by fuzz-tunnel.) */
/* The engine's pid, from the tunnel's "started (pid N)" line; 0 if none yet. */
static pid_t rig_engine_pid(const Rig *r) {
        for (size_t i = 0; i < r->n; i++) {
                const char *p = strstr(r->texts[i], "started (pid ");
                if (p)
                        return (pid_t) atoi(p + strlen("started (pid "));
        }
        return 0;
}

/* Whether pid ignores sig (SigIgn in /proc/PID/status). */
static bool ignores_signal(pid_t pid, int sig) {
        char path[64], line[256];
        unsigned long long mask = 0;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "SigIgn: %llx", &mask) == 1)
                        break;
        fclose(f);
        return mask & (1ULL << (sig - 1));
}

TEST(tunnel_stop_response_is_last_after_sigkill) {
        Rig r;
        rig_new(&r, "trap '' TERM\nexec sleep 30");
        rig_start(&r);
        /* The engine ignores SIGTERM once its shell ran the trap: not before (a slow machine,
         * ASan in a container, stopped it too early and it died of the SIGTERM). */
        pid_t ep = rig_engine_pid(&r);
        ASSERT_TRUE(ep > 0);
        for (int i = 0; i < 500 && !ignores_signal(ep, SIGTERM); i++)
                usleep(10000);
        ASSERT_TRUE(ignores_signal(ep, SIGTERM));
        rig_stop(&r);
        bool stopping = false;
        uint64_t end = now_usec() + 10 * USEC_PER_SEC;
        while (!stopping && now_usec() < end) {
                rig_run(&r, &stopping, 10 * USEC_PER_MSEC);
                for (size_t i = 0; i < r.n; i++)
                        stopping = stopping || strstr(r.texts[i], "stopping (");
        }
        ASSERT_TRUE(stopping);
        rig_run(&r, &(bool){ false }, 20 * USEC_PER_MSEC);
        ASSERT_TRUE(!tunnel_finished(&r)); /* the engine ignored SIGTERM */
        /* A second signal while stopping: SIGKILL for the engine, no 3 s wait. */
        ASSERT_OK(raise(SIGTERM));
        rig_run(&r, &(bool){ false }, 20 * USEC_PER_MSEC);
        ASSERT_OK(raise(SIGTERM));
        rig_run(&r, NULL, 10 * USEC_PER_SEC);
        ASSERT_TRUE(tunnel_finished(&r));

        size_t removed = 0;
        for (size_t i = 0; i < r.n; i++)
                if (strstr(r.texts[i], "removed the stale UAPI socket"))
                        removed = i + 1;
        ASSERT_TRUE(removed > 0);
        ASSERT_EQ(r.cases[r.n - 1], TUND__TUNNEL_TO_HELPER__PAYLOAD_STOP_RESPONSE);
        ASSERT_TRUE(r.replied[r.n - 1]);
        rig_free(&r);
}

/* A GetPeers whose answer is over the channel's frame limit (a peer with 65535 IPv6 allowed
 * IPs, ~1.5 MB of PeerUpdate) is answered with an error. It used to go unanswered: the
 * helper's request hung until its own timeout. (Found by fuzz-tunnel.) */
TEST(tunnel_get_peers_too_big_answered) {
        Rig r;
        rig_new(&r, "exec sleep 30");
        const char head[] =
                "public_key=391d09e217abf3126774832a3b38cb27e1a81e7db6811d8b8c73629fa1ffcd01\n";
        const char ip[] = "allowed_ip=2001:db8::/32\n";
        size_t n = 65535, len = strlen(head) + n * strlen(ip) + 10;
        char *p = r.get_reply = malloc(len + 1);
        ASSERT_TRUE(p);
        p = stpcpy(p, head);
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, ip);
        strcpy(p, "errno=0\n\n");
        rig_start(&r);
        rig_get_peers(&r);
        bool done = false;
        uint64_t end = now_usec() + 20 * USEC_PER_SEC;
        while (!done && now_usec() < end) {
                rig_run(&r, &done, 10 * USEC_PER_MSEC);
                done = rig_got(&r, TUND__TUNNEL_TO_HELPER__PAYLOAD_ERROR, true);
        }
        ASSERT_TRUE(done);
        ASSERT_CONTAINS(r.texts[r.n - 1], "does not fit in one message");
        rig_free(&r);
}
