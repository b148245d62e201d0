#include "ipc-test-util.h"

static const IpcVersion ours[] = { { 1, 0 }, { 2, 3 } };

TEST(format) {
        char buf[IPC_HANDSHAKE_LINE_MAX + 1];
        ASSERT_EQ(ipc_handshake_format(buf, sizeof(buf), "helper", ours, 2), 20);
        ASSERT_STREQ(buf, "tund helper 1.0,2.3\n");
        ASSERT_EQ(ipc_handshake_format(buf, 8, "helper", ours, 2), -ENOBUFS);
        ASSERT_EQ(ipc_handshake_format(buf, sizeof(buf), "", ours, 2), -EINVAL);
}

TEST(parse_good_picks_highest_common_major_lower_minor) {
        IpcVersion v;
        char *err = NULL;
        ASSERT_OK(ipc_handshake_parse("tund shim 1.4,2.1,3.0", "shim", ours, 2, &v, &err));
        ASSERT_EQ(v.major, 2);
        ASSERT_EQ(v.minor, 1); /* min(2.3, 2.1) */
        ASSERT_TRUE(err == NULL);
        ASSERT_OK(ipc_handshake_parse("tund shim 1.7", "shim", ours, 2, &v, NULL));
        ASSERT_EQ(v.major, 1);
        ASSERT_EQ(v.minor, 0);
}

TEST(parse_wrong_role) {
        char *err = NULL;
        ASSERT_EQ(ipc_handshake_parse("tund ctl 1.0", "shim", ours, 2, NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "role 'ctl', expected 'shim'");
        free(err);
}

TEST(parse_wrong_preamble) {
        char *err = NULL;
        ASSERT_EQ(ipc_handshake_parse("GET / HTTP/1.1", "shim", ours, 2, NULL, &err), -EPROTO);
        ASSERT_CONTAINS(err, "not speaking the tund protocol");
        free(err);
        ASSERT_EQ(ipc_handshake_parse("tund shim", "shim", ours, 2, NULL, NULL), -EPROTO);
        ASSERT_EQ(ipc_handshake_parse("tund shim 1", "shim", ours, 2, NULL, NULL), -EPROTO);
        ASSERT_EQ(ipc_handshake_parse("tund shim 1.0,", "shim", ours, 2, NULL, NULL), -EPROTO);
        ASSERT_EQ(ipc_handshake_parse("tund shim -1.0", "shim", ours, 2, NULL, NULL), -EPROTO);
        ASSERT_EQ(ipc_handshake_parse("tund Shim 1.0", "shim", ours, 2, NULL, NULL), -EPROTO);
        ASSERT_EQ(ipc_handshake_parse("tund shim 1.0 ", "shim", ours, 2, NULL, NULL), -EPROTO);
}

TEST(parse_no_common_major) {
        char *err = NULL;
        ASSERT_EQ(ipc_handshake_parse("tund shim 3.0,4.1", "shim", ours, 2, NULL, &err),
                  -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, "no common protocol version");
        free(err);
}

TEST(parse_overlong_line) {
        char line[400];
        memset(line, 'a', sizeof(line) - 1);
        line[sizeof(line) - 1] = 0;
        memcpy(line, "tund shim ", 10);
        ASSERT_EQ(ipc_handshake_parse(line, "shim", ours, 2, NULL, NULL), -EPROTO);
}

/* ---- over a real connection ---- */

typedef struct Seen {
        bool ready, got_ping;
        uint64_t id;
} Seen;

static void on_ready(IpcConn *c, void *u) {
        ((Seen *) u)->ready = true;
}
static int on_msg(IpcConn *c, IpcMsg *m, void *u) {
        Seen *s = u;
        s->got_ping = m->payload_case == TUND__CTL_TO_HELPER__PAYLOAD_PING;
        s->id = m->msg_id;
        return 0;
}

static IpcConn *server_conn(sd_event *e, int fd, Seen *seen, CloseRec *cr) {
        IpcConn *c = NULL;
        ASSERT_OK(ipc_conn_new(&c, e, fd, &ipc_channel_ctl_server));
        IpcHandlers h = { .on_ready = on_ready, .on_message = on_msg, .on_close = close_rec_cb };
        ipc_conn_set_handlers(c, &h, seen);
        (void) cr;
        return c;
}

TEST(line_split_across_reads_then_frame_in_same_write) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        Seen seen = {};
        IpcConn *c = server_conn(e, sv[0], &seen, NULL);

        write_all(sv[1], "tund c", 6);
        run_for(e, 50);
        ASSERT_TRUE(!seen.ready);
        /* The rest of the line and a frame in one write: the line reader must not eat the
         * frame's bytes. */
        size_t flen;
        uint8_t *frame = ping_frame(7, 0, &flen);
        uint8_t buf[512];
        memcpy(buf, "tl 1.0\n", 7);
        memcpy(buf + 7, frame, flen);
        write_all(sv[1], buf, 7 + flen);
        ASSERT_TRUE(run_until(e, &seen.got_ping, 2000));
        ASSERT_TRUE(seen.ready);
        ASSERT_EQ(seen.id, 7);
        ASSERT_EQ(ipc_conn_get_version(c)->major, 1);

        /* Our own line went out first. */
        char line[64] = {};
        ASSERT_TRUE(read(sv[1], line, sizeof(line) - 1) > 0);
        ASSERT_STREQ(line, "tund helper 1.0\n");
        free(frame);
        ipc_conn_close(c, 0, NULL);
        ipc_conn_unref(c);
}

static void expect_refused(const char *line, int expect_error, const char *expect_reason) {
        expect_server_close(line, NULL, 0, NULL, 0, expect_error, expect_reason);
}

TEST(conn_refuses_wrong_role) {
        expect_refused("tund shim 1.0\n", -EPERM, "role 'shim', expected 'ctl'");
}

TEST(conn_refuses_wrong_preamble) {
        expect_refused("SSH-2.0-OpenSSH\n", -EPROTO, "not speaking the tund protocol");
}

TEST(conn_refuses_no_common_major) {
        expect_refused("tund ctl 2.0\n", -EPROTONOSUPPORT, "no common protocol version");
}

TEST(conn_refuses_overlong_line) {
        char line[600];
        memset(line, 'x', sizeof(line));
        memcpy(line, "tund ctl ", 9);
        line[sizeof(line) - 1] = 0;
        expect_refused(line, -EPROTO, "line too long");
}

TEST(conn_handshake_timeout) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *c = NULL;
        ASSERT_OK(ipc_conn_new(&c, e, sv[0], &ipc_channel_ctl_server));
        ASSERT_OK(ipc_conn_set_handshake_timeout(c, 100 * 1000));
        CloseRec cr = {};
        IpcHandlers h = { .on_close = close_rec_cb };
        ipc_conn_set_handlers(c, &h, &cr);
        write_all(sv[1], "tund c", 6); /* a slow peer that never finishes */
        ASSERT_TRUE(run_until(e, &cr.closed, 3000));
        ASSERT_EQ(cr.error, -ETIMEDOUT);
        ASSERT_CONTAINS(cr.reason, "no handshake");
        ipc_conn_unref(c);
}

TEST(frames_held_until_peer_verified) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *c = NULL;
        ASSERT_OK(ipc_conn_new(&c, e, sv[0], &ipc_channel_ctl_client));
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        ASSERT_OK(ipc_conn_send(c, &m.base, 0, NULL, 0));
        run_for(e, 50);
        char buf[256];
        ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
        ASSERT_TRUE(n > 0);
        buf[n] = 0;
        ASSERT_STREQ(buf, "tund ctl 1.0\n"); /* our line only: no frame yet */
        write_all(sv[1], "tund helper 1.0\n", 16);
        run_for(e, 50);
        n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
        ASSERT_TRUE(n > 4); /* now the frame */
        ipc_conn_close(c, 0, NULL);
        ipc_conn_unref(c);
}
