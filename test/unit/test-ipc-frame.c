#include "ipc-frame.h"
#include "ipc-test-util.h"

/* The reader against a raw socket: partial reads, limits, zero length. */
TEST(reader_partial_reads) {
        int sv[2];
        socketpair_or_die(sv);
        IpcFrameReader r;
        ipc_frame_reader_init(&r, 1024);
        size_t len;
        uint8_t *frame = ping_frame(3, 0, &len);
        for (size_t i = 0; i < len; i++) {
                ASSERT_EQ(ipc_frame_read(&r, sv[0]), 0); /* nothing or not enough yet */
                write_all(sv[1], frame + i, 1);
        }
        ASSERT_EQ(ipc_frame_read(&r, sv[0]), 1);
        ASSERT_EQ(r.body_len, len - 4);
        ASSERT_TRUE(memcmp(r.body, frame + 4, len - 4) == 0);
        ipc_frame_reader_reset(&r);
        close(sv[1]);
        ASSERT_EQ(ipc_frame_read(&r, sv[0]), -ESHUTDOWN);
        free(frame);
}

TEST(reader_exactly_max_and_over_max) {
        int sv[2];
        socketpair_or_die(sv);
        IpcFrameReader r;
        ipc_frame_reader_init(&r, 100);
        uint8_t buf[104] = { 0, 0, 0, 100 };
        write_all(sv[1], buf, sizeof(buf));
        ASSERT_EQ(ipc_frame_read(&r, sv[0]), 1);
        ASSERT_EQ(r.body_len, 100);
        ipc_frame_reader_reset(&r);
        uint8_t over[4] = { 0, 0, 0, 101 };
        write_all(sv[1], over, 4);
        ASSERT_EQ(ipc_frame_read(&r, sv[0]), -EMSGSIZE);
        ipc_frame_reader_reset(&r);
}

TEST(reader_zero_length) {
        int sv[2];
        socketpair_or_die(sv);
        IpcFrameReader r;
        ipc_frame_reader_init(&r, 100);
        uint8_t z[4] = { 0 };
        write_all(sv[1], z, 4);
        ASSERT_EQ(ipc_frame_read(&r, sv[0]), -EBADMSG);
}

TEST(reader_eof_inside_frame) {
        int sv[2];
        socketpair_or_die(sv);
        IpcFrameReader r;
        ipc_frame_reader_init(&r, 100);
        uint8_t part[6] = { 0, 0, 0, 10, 1, 2 };
        write_all(sv[1], part, sizeof(part));
        close(sv[1]);
        ASSERT_EQ(ipc_frame_read(&r, sv[0]), -ECONNRESET);
        ipc_frame_reader_reset(&r);
}

/* Partial writes: a small send buffer forces the queue to resume mid-frame. */
TEST(queue_partial_writes_resume) {
        int sv[2];
        socketpair_or_die(sv);
        int small = 4096;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        IpcOutQueue q;
        ipc_queue_init(&q, 1 << 20);
        uint8_t big[200000];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t) (i * 7);
        ASSERT_OK(ipc_queue_push(&q, big, sizeof(big), NULL, 0));
        ASSERT_EQ(ipc_queue_flush(&q, sv[0]), 0); /* socket full */
        ASSERT_TRUE(q.bytes > 0 && q.bytes < sizeof(big));

        uint8_t *got = malloc(sizeof(big));
        size_t have = 0;
        while (have < sizeof(big)) {
                ssize_t n = recv(sv[1], got + have, sizeof(big) - have, MSG_DONTWAIT);
                if (n > 0)
                        have += (size_t) n;
                int k = ipc_queue_flush(&q, sv[0]);
                ASSERT_TRUE(k >= 0);
        }
        ASSERT_TRUE(memcmp(got, big, sizeof(big)) == 0);
        ASSERT_TRUE(ipc_queue_empty(&q));
        ASSERT_EQ(q.bytes, 0);
        free(got);
}

TEST(queue_bound) {
        IpcOutQueue q;
        ipc_queue_init(&q, 100);
        uint8_t b[60] = { 1 };
        ASSERT_OK(ipc_queue_push(&q, b, 60, NULL, 0));
        ASSERT_EQ(ipc_queue_push(&q, b, 60, NULL, 0), -ENOBUFS);
        ipc_queue_clear(&q);
}

TEST(queue_push_frame_over_max) {
        IpcOutQueue q;
        ipc_queue_init(&q, 1 << 20);
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__GetStatus gs = TUND__GET_STATUS__INIT;
        char name[200];
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        gs.profile = name;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS;
        m.get_status = &gs;
        ASSERT_EQ(ipc_queue_push_frame(&q, &m.base, 100, NULL, 0), -EMSGSIZE);
        ASSERT_OK(ipc_queue_push_frame(&q, &m.base, 300, NULL, 0));
        ipc_queue_clear(&q);
}

/* ---- connection-level protocol errors ---- */

static void expect_protocol_close(const void *bytes, size_t len, const int *fds, size_t n_fds,
                                  const char *reason) {
        expect_server_close("tund ctl 1.0\n", bytes, len, fds, n_fds, -EBADMSG, reason);
}

TEST(conn_garbage_message) {
        uint8_t junk[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };
        expect_protocol_close(junk, sizeof(junk), NULL, 0, "undecodable");
}

TEST(conn_zero_length_frame) {
        uint8_t z[] = { 0, 0, 0, 0 };
        expect_protocol_close(z, sizeof(z), NULL, 0, "zero-length frame");
}

TEST(conn_over_max_frame) {
        uint8_t hdr[] = { 0, 0x10, 0, 1 }; /* 1 MiB + 1 */
        expect_protocol_close(hdr, sizeof(hdr), NULL, 0, "longer than the channel's maximum");
}

TEST(conn_message_without_rpc) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        size_t len;
        uint8_t *f = pack_frame(&m.base, &len);
        expect_protocol_close(f, len, NULL, 0, "without Rpc header");
        free(f);
}

/* fd passing, counts and refusals: test-ipc-fds.c */
