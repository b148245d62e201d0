/* File descriptors on the wire: which channels carry them, the kernel refusing them where none
 * is expected (SO_PASSRIGHTS), the exact counts where some are, and closing unwanted ones
 * without blocking the loop. */
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "ipc-frame.h"
#include "ipc-internal.h"
#include "ipc-test-util.h"
#include "shim.pb-c.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* as in libipc/ipc-fds.c, for the architectures tests run on */
#endif

static const IpcChannel *const all_channels[] = {
        &ipc_channel_ctl_client,  &ipc_channel_ctl_server,    &ipc_channel_shim_client,
        &ipc_channel_shim_server, &ipc_channel_tunnel_helper, &ipc_channel_tunnel_child,
};

/* -1 when the kernel has no SO_PASSRIGHTS (before 6.16). */
static int passrights(int fd) {
        int v = -1;
        socklen_t l = sizeof(v);
        if (getsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &v, &l) < 0)
                return -1;
        return v;
}

static bool kernel_has_passrights(void) {
        int sv[2];
        socketpair_or_die(sv);
        bool r = passrights(sv[0]) >= 0;
        close(sv[0]);
        close(sv[1]);
        return r;
}

static int make_memfd(const char *text) {
        int fd = memfd_create("ipc-test", MFD_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        write_all(fd, text, strlen(text));
        return fd;
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* Raw sendmsg() of buf with fds: 0 or -errno. */
static int try_send_with_fds(int fd, const void *buf, size_t len, const int *fds, size_t n_fds) {
        char control[CMSG_SPACE(sizeof(int) * 16)];
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (n_fds) {
                memset(control, 0, sizeof(control));
                mh.msg_control = control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        ASSERT_EQ(n, len);
        return 0;
}

/* A ShimToHelper StopSession request frame (the shim channel carries fds towards the helper). */
static uint8_t *shim_frame(uint64_t msg_id, uint32_t fd_count, size_t *ret_len) {
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__Rpc rpc = TUND__RPC__INIT;
        Tund__StopSession st = TUND__STOP_SESSION__INIT;
        rpc.msg_id = msg_id;
        rpc.fd_count = fd_count;
        m.rpc = &rpc;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &st;
        return pack_frame(&m.base, ret_len);
}

static void wait_closers_idle(int timeout_ms) {
        for (int i = 0; i < timeout_ms && ipc_closer_threads() > 0; i++)
                usleep(1000);
        ASSERT_EQ(ipc_closer_threads(), 0);
}

/* ---- which channels carry fds ---- */

TEST(only_shim_to_helper_carries_fds) {
        for (size_t i = 0; i < ELEMENTSOF(all_channels); i++) {
                const IpcChannel *ch = all_channels[i];
                bool shim = streq(ch->name, "shim");
                bool helper_end = streq(ch->local_role, "helper");
                ASSERT_EQ(ch->recv_carries_fds, shim && helper_end);
                ASSERT_EQ(ch->send_carries_fds, shim && !helper_end);
        }
}

/* Every connection whose end receives no fds refuses them in the kernel, from the start. */
TEST(connections_refuse_fds_where_none_expected) {
        if (!kernel_has_passrights())
                SKIP("no SO_PASSRIGHTS in this kernel (before Linux 6.16)");
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        for (size_t i = 0; i < ELEMENTSOF(all_channels); i++) {
                int sv[2];
                socketpair_or_die(sv);
                ASSERT_EQ(passrights(sv[0]), 1); /* the kernel's default */
                IpcConn *c = NULL;
                ASSERT_OK(ipc_conn_new(&c, e, sv[0], all_channels[i]));
                ASSERT_EQ(passrights(sv[0]), all_channels[i]->recv_carries_fds ? 1 : 0);
                ipc_conn_close(c, 0, NULL);
                ipc_conn_unref(c);
                close(sv[1]);
        }
}

typedef struct Seen {
        unsigned n;
        size_t n_fds;
        int fds[IPC_MAX_FDS];
        bool take;
} Seen;

static int seen_on_msg(IpcConn *c, IpcMsg *m, void *u) {
        Seen *s = u;
        s->n++;
        s->n_fds = m->n_fds;
        for (size_t i = 0; i < m->n_fds; i++)
                s->fds[i] = s->take ? TAKE_FD(m->fds[i]) : m->fds[i];
        return 0;
}

/* A peer passing an fd on the control channel: its sendmsg() fails with EPERM, nothing reaches
 * the helper's end, and the connection goes on (the same frame without the fd is served). */
TEST(fd_on_control_channel_fails_in_senders_sendmsg) {
        if (!kernel_has_passrights())
                SKIP("no SO_PASSRIGHTS in this kernel (before Linux 6.16)");
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *srv = NULL;
        ASSERT_OK(ipc_conn_new(&srv, e, sv[0], &ipc_channel_ctl_server));
        Seen seen = {};
        IpcHandlers h = { .on_message = seen_on_msg };
        ipc_conn_set_handlers(srv, &h, &seen);
        write_all(sv[1], "tund ctl 1.0\n", 13);

        int before = count_open_fds();
        int mfd = make_memfd("not for you");
        size_t len;
        uint8_t *f = ping_frame(0, 1, &len);
        ASSERT_EQ(try_send_with_fds(sv[1], f, len, &mfd, 1), -EPERM);
        free(f);
        close(mfd);
        run_for(e, 50);
        ASSERT_EQ(seen.n, 0);
        ASSERT_TRUE(!ipc_conn_is_closed(srv));
        ASSERT_EQ(count_open_fds(), before);

        f = ping_frame(0, 0, &len);
        write_all(sv[1], f, len);
        free(f);
        run_for(e, 50);
        ASSERT_EQ(seen.n, 1);
        ASSERT_EQ(seen.n_fds, 0);
        ASSERT_TRUE(!ipc_conn_is_closed(srv));
        ipc_conn_close(srv, 0, NULL);
        ipc_conn_unref(srv);
        close(sv[1]);
}

/* A server's listening socket refuses them too, so a client queued in the backlog (not yet
 * accepted) cannot pass one either; the shim socket's listener still takes them. */
TEST(listener_refuses_fds_before_accept) {
        if (!kernel_has_passrights())
                SKIP("no SO_PASSRIGHTS in this kernel (before Linux 6.16)");
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        const IpcChannel *chs[] = { &ipc_channel_ctl_server, &ipc_channel_shim_server };
        for (size_t i = 0; i < ELEMENTSOF(chs); i++) {
                char path[] = "/tmp/tund-ipc-fds-XXXXXX";
                ASSERT_TRUE(mkdtemp(path) != NULL);
                char sock[200];
                snprintf(sock, sizeof(sock), "%s/s.sock", path);
                int lfd, cfd;
                ASSERT_OK(ipc_listen_unix(sock, 0600, (uid_t) -1, (gid_t) -1, &lfd));
                IpcServer *s = NULL;
                ASSERT_OK(ipc_server_new(&s, e, lfd, chs[i], NULL, NULL));
                ASSERT_OK(ipc_connect_unix(sock, &cfd)); /* in the backlog: the loop never ran */
                int mfd = make_memfd("x");
                int r = try_send_with_fds(cfd, "tund", 4, &mfd, 1);
                ASSERT_EQ(r, chs[i]->recv_carries_fds ? 0 : -EPERM);
                close(mfd);
                close(cfd);
                ipc_server_free(s);
                unlink(sock);
                rmdir(path);
        }
}

/* libipc itself will not send fds where the channel carries none (the peer would refuse them
 * and the connection would end): -EPERM at once, nothing queued, the connection goes on. */
TEST(libipc_refuses_to_send_fds_where_none_carried) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *cli = NULL;
        ASSERT_OK(ipc_conn_new(&cli, e, sv[1], &ipc_channel_ctl_client));
        int before = count_open_fds();
        int mfd = make_memfd("x");
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        ASSERT_EQ(ipc_conn_send(cli, &m.base, 0, &mfd, 1), -EPERM);
        close(mfd);
        ASSERT_EQ(count_open_fds(), before);
        ASSERT_EQ(ipc_conn_get_queued(cli), 0);
        ASSERT_TRUE(!ipc_conn_is_closed(cli));
        ASSERT_OK(ipc_conn_send(cli, &m.base, 0, NULL, 0));
        ipc_conn_close(cli, 0, NULL);
        ipc_conn_unref(cli);
        close(sv[0]);
}

/* The second line, for kernels without SO_PASSRIGHTS (and fds sent before it was set): fds
 * that arrive on such a channel end the connection, and every one of them is closed. */
TEST(fds_arriving_anyway_are_a_protocol_error) {
        const IpcChannel *chs[] = { &ipc_channel_ctl_server, &ipc_channel_ctl_client,
                                    &ipc_channel_shim_client, &ipc_channel_tunnel_helper,
                                    &ipc_channel_tunnel_child };
        for (size_t i = 0; i < ELEMENTSOF(chs); i++) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                ASSERT_OK(sd_event_new(&e));
                int sv[2];
                socketpair_or_die(sv);
                IpcConn *c = NULL;
                ASSERT_OK(ipc_conn_new(&c, e, sv[0], chs[i]));
                int on = 1; /* as an old kernel would have it */
                (void) setsockopt(sv[0], SOL_SOCKET, SO_PASSRIGHTS, &on, sizeof(on));
                CloseRec cr = {};
                IpcHandlers h = { .on_close = close_rec_cb };
                ipc_conn_set_handlers(c, &h, &cr);
                char line[64];
                snprintf(line, sizeof(line), "tund %s 1.0\n", chs[i]->peer_role);
                write_all(sv[1], line, strlen(line));
                run_for(e, 20);
                ASSERT_TRUE(ipc_conn_is_ready(c));

                int before = count_open_fds();
                int fds[2] = { make_memfd("a"), make_memfd("b") };
                uint8_t junk[] = { 0, 0, 0, 1, 0 }; /* the fds ride on the header's first byte */
                ASSERT_OK(try_send_with_fds(sv[1], junk, sizeof(junk), fds, 2));
                close(fds[0]);
                close(fds[1]);
                ASSERT_TRUE(run_until(e, &cr.closed, 2000));
                ASSERT_EQ(cr.error, -EBADMSG);
                ASSERT_CONTAINS(cr.reason, "file descriptors on a channel that carries none");
                ASSERT_EQ(count_open_fds(), before - 1); /* and the connection's own */
                ipc_conn_unref(c);
                close(sv[1]);
        }
}

/* fds with the handshake line: refused on every channel, the one carrying fds included. */
TEST(fds_with_handshake_line_refused) {
        int before = count_open_fds();
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *c = NULL;
        ASSERT_OK(ipc_conn_new(&c, e, sv[0], &ipc_channel_shim_server));
        CloseRec cr = {};
        IpcHandlers h = { .on_close = close_rec_cb };
        ipc_conn_set_handlers(c, &h, &cr);
        int mfd = make_memfd("x");
        ASSERT_OK(try_send_with_fds(sv[1], "tund shim 1.0\n", 14, &mfd, 1));
        close(mfd);
        ASSERT_TRUE(run_until(e, &cr.closed, 2000));
        ASSERT_EQ(cr.error, -EBADMSG);
        ASSERT_CONTAINS(cr.reason, "file descriptors with the handshake line");
        ipc_conn_unref(c);
        close(sv[1]);
        sd_event_unref(TAKE_PTR(e));
        ASSERT_EQ(count_open_fds(), before);
}

/* ---- where fds are carried: exact counts (moved from test-ipc-frame.c) ---- */

/* A helper-side shim connection is sent a handshake line, then `bytes` with `fds` on their
 * first byte; it must close with -EBADMSG and a reason containing `reason`. */
static void expect_shim_protocol_close(const void *bytes, size_t len, const int *fds, size_t n_fds,
                                       const char *reason) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *c = NULL;
        ASSERT_OK(ipc_conn_new(&c, e, sv[0], &ipc_channel_shim_server));
        CloseRec cr = {};
        IpcHandlers h = { .on_close = close_rec_cb };
        ipc_conn_set_handlers(c, &h, &cr);
        write_all(sv[1], "tund shim 1.0\n", 14);
        send_with_fds(sv[1], bytes, len, fds, n_fds);
        ASSERT_TRUE(run_until(e, &cr.closed, 2000));
        ASSERT_EQ(cr.error, -EBADMSG);
        ASSERT_CONTAINS(cr.reason, reason);
        ipc_conn_unref(c);
        close(sv[1]);
}

typedef struct FdSeen {
        bool got;
        char text[64];
        int cloexec;
        size_t n_fds;
        int kept_fd;
} FdSeen;

static int fd_on_msg(IpcConn *c, IpcMsg *m, void *u) {
        FdSeen *s = u;
        s->got = true;
        s->n_fds = m->n_fds;
        if (m->n_fds > 0) {
                s->cloexec = fcntl(m->fds[0], F_GETFD) & FD_CLOEXEC;
                if (pread(m->fds[0], s->text, sizeof(s->text) - 1, 0) < 0)
                        s->text[0] = 0;
                s->kept_fd = TAKE_FD(m->fds[0]);
        }
        return 0;
}

TEST(fd_passing_memfd_cloexec) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *srv = NULL, *cli = NULL;
        ASSERT_OK(ipc_conn_new(&srv, e, sv[0], &ipc_channel_shim_server));
        ASSERT_OK(ipc_conn_new(&cli, e, sv[1], &ipc_channel_shim_client));
        FdSeen seen = { .kept_fd = -1 };
        IpcHandlers h = { .on_message = fd_on_msg };
        ipc_conn_set_handlers(srv, &h, &seen);

        int mfd = make_memfd("hello through SCM_RIGHTS");
        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StopSession st = TUND__STOP_SESSION__INIT;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_STOP_SESSION;
        m.stop_session = &st;
        ASSERT_OK(ipc_conn_send(cli, &m.base, 0, &mfd, 1));
        close(mfd); /* libipc sent a duplicate */
        ASSERT_TRUE(run_until(e, &seen.got, 2000));
        ASSERT_EQ(seen.n_fds, 1);
        ASSERT_STREQ(seen.text, "hello through SCM_RIGHTS");
        ASSERT_TRUE(seen.cloexec);
        close(seen.kept_fd);
        ipc_conn_close(cli, 0, NULL);
        ipc_conn_close(srv, 0, NULL);
        ipc_conn_unref(cli);
        ipc_conn_unref(srv);
}

/* A count mismatch ends the connection and closes every fd that arrived. */
TEST(fd_count_mismatch_closes_all) {
        int before = count_open_fds();
        int fds[2] = { make_memfd("a"), make_memfd("b") };
        size_t len;
        uint8_t *f = shim_frame(1, 1, &len); /* announces 1, carries 2 */
        expect_shim_protocol_close(f, len, fds, 2, "announced 1 fds but sent 2");
        close(fds[0]);
        close(fds[1]);
        free(f);
        ASSERT_EQ(count_open_fds(), before);
}

TEST(fd_too_many_closes_all) {
        int before = count_open_fds();
        int fds[IPC_MAX_FDS + 2];
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                fds[i] = make_memfd("x");
        size_t len;
        uint8_t *f = shim_frame(1, ELEMENTSOF(fds), &len);
        expect_shim_protocol_close(f, len, fds, ELEMENTSOF(fds), "too many file descriptors");
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                close(fds[i]);
        free(f);
        ASSERT_EQ(count_open_fds(), before);
}

TEST(fd_missing_is_error) {
        size_t len;
        uint8_t *f = shim_frame(1, 2, &len); /* announces 2, carries none */
        expect_shim_protocol_close(f, len, NULL, 0, "announced 2 fds but sent 0");
        free(f);
}

/* ---- closing what nobody wanted ---- */

static int tcp_listener(struct sockaddr_in *ret) {
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0)
                return -1;
        *ret = (struct sockaddr_in){ .sin_family = AF_INET,
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(*ret);
        if (bind(l, (struct sockaddr *) ret, al) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *) ret, &al) < 0) {
                close(l);
                return -1;
        }
        return l;
}

/* A TCP socket whose close() blocks for `linger` seconds: SO_LINGER on, and data queued that
 * its peer (*ret_peer, never read) has no room for. -1 without a loopback network. */
static int lingering_socket(int linger, int *ret_listener, int *ret_peer) {
        struct sockaddr_in a;
        int l = tcp_listener(&a);
        if (l < 0)
                return -1;
        int small = 4096;
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(c >= 0);
        setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        if (connect(c, (struct sockaddr *) &a, sizeof(a)) < 0) {
                close(c);
                close(l);
                return -1;
        }
        int p = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ASSERT_TRUE(p >= 0);
        setsockopt(p, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        ASSERT_OK(fcntl(c, F_SETFL, O_NONBLOCK));
        static char buf[65536];
        while (send(c, buf, sizeof(buf), MSG_NOSIGNAL) > 0)
                ;
        struct linger lg = { .l_onoff = 1, .l_linger = linger };
        ASSERT_OK(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
        *ret_listener = l;
        *ret_peer = p;
        return c;
}

static uint64_t now_msec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

TEST(close_kinds) {
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        int mfd = make_memfd("x");
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int quiet[2], busy[2], eof[2], dgram[2];
        socketpair_or_die(quiet);
        socketpair_or_die(busy);
        socketpair_or_die(eof);
        write_all(busy[1], "x", 1);
        close(eof[1]); /* its peer is gone: EOF, nothing queued */
        ASSERT_OK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram));
        ASSERT_OK(send(dgram[1], "", 0, 0)); /* an empty datagram could carry fds */
        int lst = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(bind(lst, &(struct sockaddr){ .sa_family = AF_UNIX }, sizeof(sa_family_t)));
        ASSERT_OK(listen(lst, 1));
        int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        /* Closed on the spot: nothing of theirs can wait on anyone. */
        ASSERT_TRUE(ipc_fd_close_is_quick(p[0]));
        ASSERT_TRUE(ipc_fd_close_is_quick(mfd));
        ASSERT_TRUE(ipc_fd_close_is_quick(null));
        /* Unix sockets: only with nothing queued, and then they refuse fds from now on. */
        bool prights = kernel_has_passrights();
        ASSERT_EQ(ipc_fd_close_is_quick(quiet[0]), prights);
        ASSERT_EQ(ipc_fd_close_is_quick(lst), prights);
        ASSERT_EQ(ipc_fd_close_is_quick(eof[0]), prights);
        ASSERT_EQ(ipc_fd_close_is_quick(dgram[1]), prights);
        if (prights)
                ASSERT_EQ(passrights(quiet[0]), 0);
        ASSERT_TRUE(!ipc_fd_close_is_quick(busy[0]));
        ASSERT_TRUE(!ipc_fd_close_is_quick(dgram[0]));
        /* Everything else goes to a thread: a directory's filesystem could be FUSE, an inet
         * socket could linger. */
        ASSERT_TRUE(!ipc_fd_close_is_quick(dir));
        ASSERT_TRUE(udp < 0 || !ipc_fd_close_is_quick(udp));

        /* The quick ones are gone when the call returns; the others once a thread closed them. */
        int all[] = {
                p[0], mfd, null, dir, quiet[0], busy[0], lst, udp, eof[0], dgram[0], dgram[1]
        };
        int copy[ELEMENTSOF(all)];
        memcpy(copy, all, sizeof(all));
        ipc_close_received_fds(all, ELEMENTSOF(all));
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                ASSERT_EQ(all[i], -EBADF);
        ASSERT_TRUE(!fd_is_open(p[0]) && !fd_is_open(mfd) && !fd_is_open(null));
        wait_closers_idle(2000);
        for (size_t i = 0; i < ELEMENTSOF(copy); i++)
                ASSERT_TRUE(copy[i] < 0 || !fd_is_open(copy[i]));
        ASSERT_EQ(ipc_closer_leaked(), 0);
        close(p[1]);
        close(quiet[1]);
        close(busy[1]);
}

/* A close that blocks (a lingering TCP socket with unsent data) costs a closer thread its
 * linger time, and the caller nothing. */
TEST(close_that_blocks_never_blocks_caller) {
        int l, peer;
        int c = lingering_socket(2, &l, &peer);
        if (c < 0)
                SKIP("no loopback network");
        ASSERT_TRUE(!ipc_fd_close_is_quick(c));
        uint64_t t0 = now_msec();
        ASSERT_EQ(ipc_close_received_fd(c), -EBADF);
        uint64_t took = now_msec() - t0;
        ASSERT_TRUE(took < 500);
        ASSERT_EQ(ipc_closer_threads(), 1);
        wait_closers_idle(10000);
        uint64_t blocked = now_msec() - t0;
        /* The thread did wait out the linger: that is what the loop was spared. */
        ASSERT_TRUE(blocked >= 1500);
        ASSERT_TRUE(!fd_is_open(c));
        close(peer);
        close(l);
}

/* A unix socket with a lingering TCP socket in flight in it: its release would release that in
 * the closing thread. It goes to a closer too. */
TEST(unix_socket_carrying_a_blocking_close) {
        int l, peer;
        int c = lingering_socket(2, &l, &peer);
        if (c < 0)
                SKIP("no loopback network");
        int sv[2];
        socketpair_or_die(sv);
        send_with_fds(sv[1], "x", 1, &c, 1);
        close(c); /* the last reference is in flight in sv[0] */
        close(sv[1]);
        uint64_t t0 = now_msec();
        ipc_close_received_fd(sv[0]);
        ASSERT_TRUE(now_msec() - t0 < 500);
        wait_closers_idle(10000);
        ASSERT_TRUE(now_msec() - t0 >= 1500);
        close(peer);
        close(l);
}

typedef struct Untaken {
        bool got;
        int fds[2];
} Untaken;

static int untaken_on_msg(IpcConn *c, IpcMsg *m, void *u) {
        Untaken *s = u;
        s->got = true;
        ASSERT_EQ(m->n_fds, 2);
        s->fds[0] = m->fds[0];
        s->fds[1] = m->fds[1]; /* not taken: libipc closes them after we return */
        return 0;
}

/* fds a handler leaves in its message are closed as unwanted: never by the loop itself when
 * that could block. */
TEST(untaken_fds_closed_without_blocking) {
        int l, peer;
        int c = lingering_socket(2, &l, &peer);
        if (c < 0)
                SKIP("no loopback network");
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *srv = NULL;
        ASSERT_OK(ipc_conn_new(&srv, e, sv[0], &ipc_channel_shim_server));
        Untaken u = {};
        IpcHandlers h = { .on_message = untaken_on_msg };
        ipc_conn_set_handlers(srv, &h, &u);
        write_all(sv[1], "tund shim 1.0\n", 14);
        int mfd = make_memfd("x");
        int fds[2] = { mfd, c };
        size_t len;
        uint8_t *f = shim_frame(0, 2, &len);
        send_with_fds(sv[1], f, len, fds, 2);
        free(f);
        close(mfd);
        close(c);
        uint64_t t0 = now_msec();
        ASSERT_TRUE(run_until(e, &u.got, 2000));
        ASSERT_TRUE(now_msec() - t0 < 1000);
        ASSERT_TRUE(!fd_is_open(u.fds[0])); /* the memfd: closed on the spot */
        wait_closers_idle(10000);
        ASSERT_TRUE(!fd_is_open(u.fds[1]));
        ASSERT_TRUE(!ipc_conn_is_closed(srv));
        ipc_conn_close(srv, 0, NULL);
        ipc_conn_unref(srv);
        close(sv[1]);
        close(peer);
        close(l);
}
