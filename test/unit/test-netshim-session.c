/* The network shim's session, with the test playing tund-helperd on a socketpair
 * (manager_start_fd()). The TUN needs CAP_NET_ADMIN: each test unshares a network namespace
 * (as root, or in a user namespace) and is skipped when it cannot. */
#include <fcntl.h>
#include <ftw.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "netshim.h"
#include "shim.pb-c.h"
#include "tests.h"

#define PROFILE                                                                                    \
        "[Interface]\n"                                                                            \
        "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"                              \
        "Address = 10.77.0.2/32\n\n"                                                               \
        "[Peer]\n"                                                                                 \
        "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"                               \
        "Endpoint = 203.0.113.1:51820\n"                                                           \
        "AllowedIPs = 10.77.0.0/16\n\n"                                                            \
        "[Tund]\n"                                                                                 \
        "InterfaceName = tuss0\n"

typedef struct Fixture {
        const char *profile;    /* NULL: PROFILE */
        const char *resolvconf; /* a script's text, written to dir/resolvconf; NULL: none */
        char dir[64], config_dir[96], state_dir[96], uapi_dir[96], resolvconf_path[96];
        Manager *m;
        IpcConn *helper;
        uint64_t start_id, stop_id, peers_id;
        unsigned n_get_peers, n_start_fds;
        bool applied;
} Fixture;

static const EngineInfo engine = { .version = "0.0.20220316", .flavour = ENGINE_TUN_FLAVOUR_PI };

static bool write_map(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t) strlen(text);
        if (fd >= 0)
                close(fd);
        return ok;
}

static void isolate_or_skip(void) {
        if (unshare(CLONE_NEWNET) == 0)
                return;
        char uid[32], gid[32];
        snprintf(uid, sizeof(uid), "0 %u 1", (unsigned) geteuid());
        snprintf(gid, sizeof(gid), "0 %u 1", (unsigned) getegid());
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0 || !write_map("/proc/self/uid_map", uid) ||
            !write_map("/proc/self/setgroups", "deny") || !write_map("/proc/self/gid_map", gid))
                SKIP("cannot make a network namespace: %m");
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                SKIP("no /dev/net/tun: %m");
        close(fd);
}

static int helper_on_message(IpcConn *c, IpcMsg *msg, void *userdata) {
        Fixture *f = userdata;
        switch (msg->payload_case) {
        case TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION:
                f->start_id = msg->msg_id;
                f->n_start_fds = (unsigned) msg->n_fds;
                break;
        case TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION:
                f->stop_id = msg->msg_id;
                break;
        case TUND__SHIM_TO_HELPER__PAYLOAD_GET_PEERS:
                f->peers_id = msg->msg_id;
                f->n_get_peers++;
                break;
        default:
                break;
        }
        return 0;
}

static void fixture_start(Fixture *f) {
        isolate_or_skip();
        snprintf(f->dir, sizeof(f->dir), "/tmp/tund-t-netshim-XXXXXX");
        ASSERT_TRUE(mkdtemp(f->dir));
        snprintf(f->config_dir, sizeof(f->config_dir), "%s/etc", f->dir);
        snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
        snprintf(f->uapi_dir, sizeof(f->uapi_dir), "%s/wg", f->dir);
        ASSERT_OK(mkdir(f->config_dir, 0700));
        char path[160];
        snprintf(path, sizeof(path), "%s/work.conf", f->config_dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        const char *text = f->profile ? f->profile : PROFILE;
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        snprintf(f->resolvconf_path, sizeof(f->resolvconf_path), "%s/resolvconf", f->dir);
        if (f->resolvconf) {
                fd = open(f->resolvconf_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(write(fd, f->resolvconf, strlen(f->resolvconf)),
                          (ssize_t) strlen(f->resolvconf));
                close(fd);
        }

        NetshimOptions o = {
                .profile_name = "work",
                .config_dir = f->config_dir,
                .shim_socket = "/nonexistent/shim.sock",
                .state_dir = f->state_dir,
                .uapi_dir = f->uapi_dir,
                .engine = &engine,
                .bus_address = "unix:path=/nonexistent/bus",
                .resolvconf = f->resolvconf ? f->resolvconf_path : "/nonexistent/resolvconf",
                .start_timeout_usec = 60 * USEC_PER_SEC,
                .stop_timeout_usec = 60 * USEC_PER_SEC,
        };
        int sv[2];
        ASSERT_OK(manager_new(&f->m, &o));
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(manager_start_fd(f->m, sv[0]));
        ASSERT_OK(ipc_conn_new(&f->helper, f->m->event, sv[1], &ipc_channel_shim_server));
        IpcHandlers h = { .on_message = helper_on_message };
        ipc_conn_set_handlers(f->helper, &h, f);
}

/* Runs the loop until nothing is left to do now. */
static void pump(Fixture *f) {
        for (int i = 0; i < 100; i++)
                if (sd_event_get_state(f->m->event) == SD_EVENT_FINISHED ||
                    sd_event_run(f->m->event, 0) <= 0)
                        return;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void fixture_done(Fixture *f) {
        manager_free(f->m);
        ipc_conn_close(f->helper, 0, NULL);
        ipc_conn_unref(f->helper);
        (void) nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void reply(Fixture *f, uint64_t to, Tund__HelperToShim *out) {
        ASSERT_TRUE(to > 0);
        ASSERT_OK(ipc_conn_send(f->helper, &out->base, to, NULL, 0));
        pump(f);
}

static void reply_started(Fixture *f) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__StartSessionReply r = TUND__START_SESSION_REPLY__INIT;
        r.tunnel_pid = 4242;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_START_SESSION_REPLY;
        out.start_session_reply = &r;
        reply(f, f->start_id, &out);
}

static void reply_ack(Fixture *f, uint64_t to) {
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__Ack a = TUND__ACK__INIT;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_ACK;
        out.ack = &a;
        reply(f, to, &out);
}

static void on_applied(IpcConn *c, int error, IpcMsg *reply_msg, void *userdata) {
        Fixture *f = userdata;
        f->applied =
                error == 0 &&
                ipc_msg_payload(reply_msg, TUND__SHIM_TO_HELPER__PAYLOAD_NETWORK_SETTINGS_RESULT);
}

TEST(session_on_socketpair) {
        Fixture f = {};
        fixture_start(&f);
        pump(&f);
        ASSERT_EQ(f.m->state, NETSHIM_STARTING);
        ASSERT_TRUE(f.start_id > 0);
        ASSERT_EQ(f.n_start_fds, 2); /* the TUN and the UAPI socket */

        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__ApplyNetworkSettings a = TUND__APPLY_NETWORK_SETTINGS__INIT;
        a.settings = f.m->config->network;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        out.apply_network_settings = &a;
        ASSERT_TRUE(ipc_conn_call(f.helper, &out.base, NULL, 0, 0, on_applied, &f) > 0);
        pump(&f);
        ASSERT_TRUE(f.applied);
        char state[200];
        snprintf(state, sizeof(state), "%s/work.state", f.state_dir);
        ASSERT_EQ(access(state, F_OK), 0);

        reply_started(&f);
        ASSERT_EQ(f.m->state, NETSHIM_RUNNING);
        raise(SIGTERM);
        pump(&f);
        ASSERT_EQ(f.m->state, NETSHIM_STOPPING);
        reply_ack(&f, f.stop_id);
        ASSERT_EQ(f.m->state, NETSHIM_DONE);
        ASSERT_EQ(f.m->exit_code, 0);
        ASSERT_TRUE(access(state, F_OK) < 0 && errno == ENOENT);
        fixture_done(&f);
}

/* The status timer is a one-shot source: it must be enabled again each time it fires, or
 * STATUS= shows the first handshake forever (found by fuzz-netshim). */
TEST(status_timer_repeats) {
        Fixture f = {};
        fixture_start(&f);
        pump(&f);
        reply_started(&f);
        ASSERT_EQ(f.m->state, NETSHIM_RUNNING);
        for (unsigned i = 1; i <= 3; i++) {
                ASSERT_OK(sd_event_source_set_time_relative(f.m->status_timer, 0));
                pump(&f);
                ASSERT_EQ(f.n_get_peers, i);
                int enabled = SD_EVENT_OFF;
                ASSERT_OK(sd_event_source_get_enabled(f.m->status_timer, &enabled));
                ASSERT_EQ(enabled, SD_EVENT_ONESHOT);

                Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
                Tund__PeerUpdate u = TUND__PEER_UPDATE__INIT;
                Tund__PeerState ps = TUND__PEER_STATE__INIT, *pp = &ps;
                ps.endpoint = (char *) "203.0.113.1:51820";
                ps.last_handshake_sec = (int64_t) time(NULL) - 10 * i;
                u.peers = &pp;
                u.n_peers = 1;
                out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_PEERS;
                out.peers = &u;
                reply(&f, f.peers_id, &out);
                ASSERT_CONTAINS(f.m->status, "connected to 203.0.113.1:51820, handshake");
        }
        fixture_done(&f);
}

/* SIGTERM while starting sends StopSession; the StartSession reply that arrives after it must
 * not make the stopping shim ready again (found by fuzz-netshim). */
TEST(sigterm_while_starting) {
        Fixture f = {};
        fixture_start(&f);
        pump(&f);
        ASSERT_EQ(f.m->state, NETSHIM_STARTING);
        raise(SIGTERM);
        pump(&f);
        ASSERT_EQ(f.m->state, NETSHIM_STOPPING);
        ASSERT_TRUE(f.stop_id > 0);
        reply_started(&f);
        ASSERT_EQ(f.m->state, NETSHIM_STOPPING);
        ASSERT_TRUE(f.m->status_timer == NULL);

        /* The tunnel's exit is expected now, and the stop ends with 0. */
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__TunnelExited e = TUND__TUNNEL_EXITED__INIT;
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_TUNNEL_EXITED;
        out.tunnel_exited = &e;
        ASSERT_OK(ipc_conn_send(f.helper, &out.base, 0, NULL, 0));
        pump(&f);
        ASSERT_EQ(f.m->state, NETSHIM_STOPPING);
        reply_ack(&f, f.stop_id);
        ASSERT_EQ(f.m->state, NETSHIM_DONE);
        ASSERT_EQ(f.m->exit_code, 0);
        fixture_done(&f);
}

/* A StartSession reply that is neither StartSessionReply nor Error is a broken helper, not a
 * started session (found by fuzz-netshim). */
TEST(start_reply_wrong_payload) {
        Fixture f = {};
        fixture_start(&f);
        pump(&f);
        reply_ack(&f, f.start_id);
        ASSERT_EQ(f.m->state, NETSHIM_DONE);
        ASSERT_EQ(f.m->exit_code, NETSHIM_EXIT_FAILURE);
        fixture_done(&f);
}

/* A revert that fails (here resolvconf refuses to delete the record) keeps the state file, so
 * that the cleanup (--cleanup, ExecStopPost) can retry from it. */
TEST(failed_revert_keeps_the_state_file) {
        Fixture f = {
                .profile = "[Interface]\n"
                           "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
                           "Address = 10.77.0.2/32\n"
                           "DNS = 10.77.0.53\n"
                           "[Peer]\n"
                           "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
                           "Endpoint = 203.0.113.1:51820\n"
                           "AllowedIPs = 10.77.0.0/16\n"
                           "[Tund]\n"
                           "InterfaceName = tuss0\n",
                .resolvconf = "#!/bin/sh\n"
                              "case \"$1\" in -a) cat >/dev/null; exit 0 ;; esac\n"
                              "echo \"resolvconf: refusing $*\"; exit 1\n",
        };
        fixture_start(&f);
        pump(&f);
        Tund__HelperToShim out = TUND__HELPER_TO_SHIM__INIT;
        Tund__ApplyNetworkSettings a = TUND__APPLY_NETWORK_SETTINGS__INIT;
        a.settings = f.m->config->network;
        ASSERT_TRUE(a.settings->n_dns_servers == 1);
        out.payload_case = TUND__HELPER_TO_SHIM__PAYLOAD_APPLY_NETWORK_SETTINGS;
        out.apply_network_settings = &a;
        ASSERT_TRUE(ipc_conn_call(f.helper, &out.base, NULL, 0, 0, on_applied, &f) > 0);
        for (int i = 0; i < 200 && !f.applied; i++) {
                pump(&f);
                usleep(10 * 1000);
        }
        ASSERT_TRUE(f.applied);
        char state[200];
        snprintf(state, sizeof(state), "%s/work.state", f.state_dir);
        ASSERT_EQ(access(state, F_OK), 0);

        reply_started(&f);
        raise(SIGTERM);
        pump(&f);
        reply_ack(&f, f.stop_id);
        ASSERT_EQ(f.m->state, NETSHIM_DONE);
        ASSERT_EQ(access(state, F_OK), 0);
        fixture_done(&f);
}
