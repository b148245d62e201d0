/* Hostile peers and time: a handshake trickled byte by byte ends at the handshake timeout; a
 * frame begun and never finished ends at the frame timeout (which servers set by default);
 * idle peers between frames and frames that do complete are never cut. */
#include <sys/un.h>

#include "ipc-test-util.h"

#define MS (1000u) /* usec */

typedef struct Peer {
        CloseRec cr; /* first: the handlers' userdata is both */
        sd_event *e;
        IpcConn *c; /* the server end, under test */
        int fd;     /* the raw client end */
        unsigned pings;
} Peer;

static int count_ping(IpcConn *c, IpcMsg *m, void *u) {
        ((Peer *) u)->pings++;
        return 0;
}

static void peer_new(Peer *p, bool handshake) {
        int sv[2];
        *p = (Peer){};
        ASSERT_OK(sd_event_new(&p->e));
        socketpair_or_die(sv);
        ASSERT_OK(ipc_conn_new(&p->c, p->e, sv[0], &ipc_channel_ctl_server));
        p->fd = sv[1];
        IpcHandlers h = { .on_message = count_ping, .on_close = close_rec_cb };
        ipc_conn_set_handlers(p->c, &h, &p->cr);
        if (handshake) {
                write_all(p->fd, "tund ctl 1.0\n", 13);
                for (int i = 0; i < 2000 && !ipc_conn_is_ready(p->c); i++)
                        sd_event_run(p->e, 1000);
                ASSERT_TRUE(ipc_conn_is_ready(p->c));
        }
}

static void peer_done(Peer *p) {
        if (!ipc_conn_is_closed(p->c))
                ipc_conn_close(p->c, 0, NULL);
        ipc_conn_unref(p->c);
        close(p->fd);
        sd_event_unref(p->e);
}

TEST(handshake_trickled_byte_by_byte_times_out) {
        Peer p;
        peer_new(&p, false);
        ASSERT_OK(ipc_conn_set_handshake_timeout(p.c, 300 * MS));
        /* One byte every 50 ms: each read makes progress, the deadline still holds. */
        const char *line = "tund ctl 1.0,1.1,1.2,1.3,1.4,1.5,1.6,1.7\n";
        for (size_t i = 0; line[i] && !p.cr.closed; i++) {
                write_all(p.fd, line + i, 1);
                run_for(p.e, 50);
        }
        ASSERT_TRUE(p.cr.closed);
        ASSERT_EQ(p.cr.error, -ETIMEDOUT);
        ASSERT_CONTAINS(p.cr.reason, "no handshake in time");
        peer_done(&p);
}

TEST(default_handshake_timeout_is_armed) {
        Peer p;
        peer_new(&p, false);
        /* Nothing sent: still waiting well before IPC_HANDSHAKE_TIMEOUT_USEC... */
        run_for(p.e, 200);
        ASSERT_TRUE(!p.cr.closed);
        peer_done(&p);
}

TEST(frame_header_stall_times_out) {
        Peer p;
        peer_new(&p, true);
        ASSERT_EQ(ipc_conn_get_frame_timeout(p.c), 0); /* plain connections: none */
        ASSERT_OK(ipc_conn_set_frame_timeout(p.c, 200 * MS));
        write_all(p.fd, "\0\0", 2);
        ASSERT_TRUE(run_until(p.e, &p.cr.closed, 3000));
        ASSERT_EQ(p.cr.error, -ETIMEDOUT);
        ASSERT_CONTAINS(p.cr.reason, "stalled in a frame header (2 of 4 bytes");
        peer_done(&p);
}

TEST(frame_body_stall_times_out_and_frees) {
        Peer p;
        peer_new(&p, true);
        ASSERT_OK(ipc_conn_set_frame_timeout(p.c, 200 * MS));
        /* Announces the channel's maximum, sends a little of it, stalls. */
        uint32_t be = htonl(IPC_FRAME_MAX_DEFAULT);
        write_all(p.fd, &be, 4);
        write_all(p.fd, "abc", 3);
        ASSERT_TRUE(run_until(p.e, &p.cr.closed, 3000));
        ASSERT_EQ(p.cr.error, -ETIMEDOUT);
        ASSERT_CONTAINS(p.cr.reason, "stalled in a frame (3 of 1048576 bytes in 200 ms)");
        /* The peer sees the connection end. */
        char b[64];
        ssize_t n;
        while ((n = recv(p.fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
                ;
        ASSERT_EQ(n, 0);
        peer_done(&p);
}

TEST(frame_trickled_slower_than_timeout_is_cut) {
        Peer p;
        peer_new(&p, true);
        ASSERT_OK(ipc_conn_set_frame_timeout(p.c, 300 * MS));
        size_t len;
        uint8_t *frame = ping_frame(1, 0, &len);
        /* Progress does not extend the deadline: it runs from the frame's first byte. */
        for (size_t i = 0; i < len && !p.cr.closed; i++) {
                write_all(p.fd, frame + i, 1);
                run_for(p.e, 100);
        }
        free(frame);
        ASSERT_TRUE(p.cr.closed);
        ASSERT_EQ(p.cr.error, -ETIMEDOUT);
        ASSERT_EQ(p.pings, 0);
        peer_done(&p);
}

TEST(idle_and_complete_frames_are_never_cut) {
        Peer p;
        peer_new(&p, true);
        /* 500 ms against halves 100 ms apart: a loaded machine (the .deb's test step runs
         * beside other builds) delayed a half by 50 ms, which was all the slack 150 ms left. */
        ASSERT_OK(ipc_conn_set_frame_timeout(p.c, 500 * MS));
        run_for(p.e, 700); /* idle between frames, longer than the timeout: fine */
        ASSERT_TRUE(!p.cr.closed);
        size_t len;
        uint8_t *frame = ping_frame(0, 0, &len);
        for (int k = 0; k < 3; k++) {
                /* Each frame in two halves 100 ms apart: within the timeout every time. */
                write_all(p.fd, frame, 3);
                run_for(p.e, 100);
                write_all(p.fd, frame + 3, len - 3);
                run_for(p.e, 100);
        }
        free(frame);
        ASSERT_TRUE(!p.cr.closed);
        ASSERT_EQ(p.pings, 3);
        run_for(p.e, 700);
        ASSERT_TRUE(!p.cr.closed);
        peer_done(&p);
}

TEST(frame_timeout_zero_disables) {
        Peer p;
        peer_new(&p, true);
        ASSERT_OK(ipc_conn_set_frame_timeout(p.c, 100 * MS));
        write_all(p.fd, "\0", 1);
        ASSERT_OK(ipc_conn_set_frame_timeout(p.c, 0));
        run_for(p.e, 300);
        ASSERT_TRUE(!p.cr.closed);
        peer_done(&p);
}

static int accept_keep(IpcServer *s, IpcConn *c, void *u) {
        *(IpcConn **) u = ipc_conn_ref(c);
        return 0;
}

TEST(server_connections_get_the_server_frame_timeout) {
        char dir[] = "/tmp/tund-ipc-test-XXXXXX", path[128];
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/s.sock", dir);
        sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int lfd, fd;
        ASSERT_OK(ipc_listen_unix(path, 0600, (uid_t) -1, (gid_t) -1, &lfd));
        IpcServer *s = NULL;
        IpcConn *accepted = NULL;
        ASSERT_OK(ipc_server_new(&s, e, lfd, &ipc_channel_ctl_server, accept_keep, &accepted));

        ASSERT_OK(ipc_connect_unix(path, &fd));
        run_for(e, 50);
        ASSERT_TRUE(accepted != NULL);
        ASSERT_EQ(ipc_conn_get_frame_timeout(accepted), IPC_FRAME_TIMEOUT_SERVER_USEC);
        ipc_conn_close(accepted, 0, NULL);
        accepted = ipc_conn_unref(accepted);
        close(fd);

        /* A server may choose another (here: short, and the stall is cut). */
        ipc_server_set_frame_timeout(s, 100 * MS);
        ASSERT_OK(ipc_connect_unix(path, &fd));
        run_for(e, 50);
        ASSERT_TRUE(accepted != NULL);
        ASSERT_EQ(ipc_conn_get_frame_timeout(accepted), 100 * MS);
        CloseRec cr = {};
        IpcHandlers h = { .on_close = close_rec_cb };
        ipc_conn_set_handlers(accepted, &h, &cr);
        write_all(fd, "tund ctl 1.0\n\0", 14);
        ASSERT_TRUE(run_until(e, &cr.closed, 3000));
        ASSERT_EQ(cr.error, -ETIMEDOUT);
        ASSERT_EQ(ipc_server_get_connections(s), 0);
        ipc_conn_unref(accepted);
        close(fd);
        ipc_server_free(s);
        sd_event_unref(e);
        unlink(path);
        rmdir(dir);
}
