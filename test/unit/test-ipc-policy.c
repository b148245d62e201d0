#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ipc-test-util.h"

static const IpcPolicy root_only = { .description = "root" };
static const IpcPolicy group_1234 = { .description = "root or group tund",
                                      .allow_gid = true,
                                      .gid = 1234 };

TEST(policy_rules) {
        gid_t groups[] = { 5, 1234 };
        IpcPeer user = { .pid = 1, .uid = 1000, .gid = 1000 };
        IpcPeer member = { .pid = 1, .uid = 1000, .gid = 1000, .groups = groups, .n_groups = 2 };
        IpcPeer root = { .pid = 1, .uid = 0, .gid = 0 };
        IpcPolicy any = { .any = true };
        IpcPolicy uid42 = { .allow_uid = true, .uid = 42 };
        IpcPeer u42 = { .pid = 1, .uid = 42 };
        ASSERT_TRUE(!ipc_policy_allows(&root_only, &user));
        ASSERT_TRUE(ipc_policy_allows(&root_only, &root));
        ASSERT_TRUE(!ipc_policy_allows(&group_1234, &user));
        ASSERT_TRUE(ipc_policy_allows(&group_1234, &member));
        ASSERT_TRUE(ipc_policy_allows(&any, &user));
        ASSERT_TRUE(ipc_policy_allows(&uid42, &u42));
        ASSERT_TRUE(!ipc_policy_allows(&uid42, &user));
        ASSERT_TRUE(!ipc_policy_allows(&root_only, NULL));
}

TEST(peer_credentials_of_socketpair) {
        int sv[2];
        socketpair_or_die(sv);
        IpcPeer p;
        ASSERT_OK(ipc_peer_from_fd(sv[0], &p));
        ASSERT_EQ(p.pid, getpid());
        ASSERT_EQ(p.uid, getuid());
        ASSERT_EQ(p.gid, getgid());
        ipc_peer_done(&p);
}

static int handle_ping(IpcConn *c, IpcMsg *m, void *u) {
        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
        Tund__Pong pong = TUND__PONG__INIT;
        pong.version = "test";
        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_PONG;
        r.pong = &pong;
        return ipc_conn_send(c, &r.base, m->msg_id, NULL, 0);
}

enum { POLICY_ROOT = 1 };
static const IpcPolicy *const policies[] = { [POLICY_ROOT] = &root_only };
static const IpcRoute routes[] = {
        { TUND__CTL_TO_HELPER__PAYLOAD_PING, "Ping", 0, IPC_ANY, handle_ping },
        { TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION, "StopSession", POLICY_ROOT, IPC_ANY,
          handle_ping },
};

static int on_accept(IpcServer *s, IpcConn *c, void *u) {
        ipc_conn_set_routes(c, routes, ELEMENTSOF(routes), policies, ELEMENTSOF(policies));
        return 0;
}

/* Runs in a child that is not root: sends requests, checks the replies, exits 0 on success. */
static void client_checks(const char *path) {
        sd_event *e = NULL;
        int fd, r;
        if (sd_event_new(&e) < 0 || ipc_connect_unix(path, &fd) < 0)
                _exit(10);
        IpcConn *c = NULL;
        if (ipc_conn_new(&c, e, fd, &ipc_channel_ctl_client) < 0)
                _exit(11);

        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        IpcMsg *reply = NULL;
        r = ipc_conn_call_wait(c, &m.base, NULL, 0, 5 * USEC_PER_SEC, &reply);
        if (r < 0 || !ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_PONG))
                _exit(12);
        ipc_msg_free(reply);

        Tund__CtlStopSession stop = TUND__CTL_STOP_SESSION__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &stop;
        r = ipc_conn_call_wait(c, &m.base, NULL, 0, 5 * USEC_PER_SEC, &reply);
        const Tund__Error *err = r >= 0 ? ipc_msg_error(reply) : NULL;
        if (!err || err->code != TUND__ERROR_CODE__ERROR_PERMISSION ||
            !strstr(err->message, "StopSession: permission denied: allowed for root only"))
                _exit(13);
        ipc_msg_free(reply);

        /* An unknown request type is answered, not fatal. */
        Tund__Watch w = TUND__WATCH__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_WATCH;
        m.watch = &w;
        r = ipc_conn_call_wait(c, &m.base, NULL, 0, 5 * USEC_PER_SEC, &reply);
        err = r >= 0 ? ipc_msg_error(reply) : NULL;
        if (!err || err->code != TUND__ERROR_CODE__ERROR_UNSUPPORTED ||
            !strstr(err->message, "watch"))
                _exit(14);
        ipc_msg_free(reply);
        if (!ipc_conn_is_ready(c))
                _exit(15);
        _exit(0);
}

TEST(denied_peer_gets_permission_error_reply) {
        char dir[] = "/tmp/tund-ipc-test-XXXXXX";
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        chmod(dir, 0755);
        char path[128];
        snprintf(path, sizeof(path), "%s/control.sock", dir);

        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int lfd;
        ASSERT_OK(ipc_listen_unix(path, 0666, (uid_t) -1, (gid_t) -1, &lfd));
        struct stat st;
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_mode & 07777, 0666); /* exactly as asked, whatever the umask */
        IpcServer *s = NULL;
        ASSERT_OK(ipc_server_new(&s, e, lfd, &ipc_channel_ctl_server, on_accept, NULL));

        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (getuid() == 0) {
                        struct passwd *pw = getpwnam("nobody");
                        if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
                            setuid(pw->pw_uid) < 0)
                                _exit(20);
                }
                client_checks(path);
        }
        int status = -1;
        for (int i = 0; i < 5000; i++) {
                sd_event_run(e, 1000);
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
        }
        unlink(path);
        rmdir(dir);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        ipc_server_free(s);
}

TEST(server_connection_limit) {
        char dir[] = "/tmp/tund-ipc-test-XXXXXX";
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        char path[128];
        snprintf(path, sizeof(path), "%s/s.sock", dir);
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int lfd;
        ASSERT_OK(ipc_listen_unix(path, 0600, (uid_t) -1, (gid_t) -1, &lfd));
        IpcServer *s = NULL;
        ASSERT_OK(ipc_server_new(&s, e, lfd, &ipc_channel_ctl_server, on_accept, NULL));
        ipc_server_set_max_connections(s, 3);
        int fds[5];
        for (int i = 0; i < 5; i++)
                ASSERT_OK(ipc_connect_unix(path, &fds[i]));
        run_for(e, 100);
        ASSERT_EQ(ipc_server_get_connections(s), 3);
        /* The two over the limit were closed: they read EOF after the server's nothing. */
        int eofs = 0;
        for (int i = 0; i < 5; i++) {
                char b[64];
                ssize_t n = recv(fds[i], b, sizeof(b), MSG_DONTWAIT);
                eofs += n == 0;
        }
        ASSERT_EQ(eofs, 2);
        for (int i = 0; i < 5; i++)
                close(fds[i]);
        run_for(e, 100);
        ASSERT_EQ(ipc_server_get_connections(s), 0);
        ipc_server_free(s);
        unlink(path);
        rmdir(dir);
}

/* systemd passes blocking listening sockets: two clients in a row must both be served (the
 * accept loop once blocked the whole event loop on its second accept). */
TEST(server_on_blocking_listen_socket) {
        char dir[] = "/tmp/tund-ipc-test-XXXXXX";
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/b.sock", dir);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking */
        ASSERT_TRUE(lfd >= 0);
        ASSERT_OK(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(listen(lfd, 16));
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        IpcServer *s = NULL;
        ASSERT_OK(ipc_server_new(&s, e, lfd, &ipc_channel_ctl_server, on_accept, NULL));
        alarm(5); /* a blocked loop fails by timeout instead of hanging the suite */
        for (int i = 0; i < 2; i++) {
                int fd;
                ASSERT_OK(ipc_connect_unix(sa.sun_path, &fd));
                IpcConn *c = NULL;
                ASSERT_OK(ipc_conn_new(&c, e, fd, &ipc_channel_ctl_client));
                Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
                Tund__Ping ping = TUND__PING__INIT;
                m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
                m.ping = &ping;
                IpcMsg *reply = NULL;
                ASSERT_OK(ipc_conn_call_wait(c, &m.base, NULL, 0, 2 * USEC_PER_SEC, &reply));
                ASSERT_TRUE(ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_PONG) != NULL);
                ipc_msg_free(reply);
                ipc_conn_close(c, 0, NULL);
                ipc_conn_unref(c);
        }
        /* The server's ends see the clients' EOF and close (they hold the loop otherwise). */
        for (int i = 0; i < 2000 && ipc_server_get_connections(s) > 0; i++)
                sd_event_run(e, 1000);
        ASSERT_EQ(ipc_server_get_connections(s), 0);
        ipc_server_free(s);
        unlink(sa.sun_path);
        rmdir(dir);
}
