/* Helpers for the libipc unit tests: socketpairs, raw frames and loop stepping. */
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "control.pb-c.h"
#include "ipc.h"
#include "tests.h"

static inline void socketpair_or_die(int sv[2]) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                FAILF("socketpair: %m");
}

/* Runs the loop until *flag is true or timeout_ms passes. */
static inline bool run_until(sd_event *e, const bool *flag, int timeout_ms) {
        for (int i = 0; i < timeout_ms && !*flag; i++)
                if (sd_event_run(e, 1000) < 0)
                        FAILF("sd_event_run failed");
        return *flag;
}

/* Runs the loop for about ms milliseconds. */
static inline void run_for(sd_event *e, int ms) {
        uint64_t end, now;
        sd_event_now(e, CLOCK_MONOTONIC, &now);
        end = now + (uint64_t) ms * 1000;
        for (;;) {
                sd_event_now(e, CLOCK_MONOTONIC, &now);
                if (now >= end)
                        break;
                sd_event_run(e, end - now);
        }
}

/* Writes a whole buffer to a blocking or non-blocking fd. */
static inline void write_all(int fd, const void *p, size_t n) {
        const char *c = p;
        while (n > 0) {
                ssize_t k = write(fd, c, n);
                if (k < 0 && errno == EAGAIN) {
                        usleep(1000);
                        continue;
                }
                if (k <= 0)
                        FAILF("write: %m");
                c += k;
                n -= (size_t) k;
        }
}

/* Packs msg into a frame (length prefix + body); returns malloc'd buffer. */
static inline uint8_t *pack_frame(const ProtobufCMessage *msg, size_t *ret_len) {
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(n + 4);
        uint32_t be = htonl((uint32_t) n);
        memcpy(buf, &be, 4);
        protobuf_c_message_pack(msg, buf + 4);
        *ret_len = n + 4;
        return buf;
}

/* Sends buf with n_fds fds attached (SCM_RIGHTS). */
static inline void send_with_fds(int fd, const void *buf, size_t len, const int *fds,
                                 size_t n_fds) {
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
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t) len)
                FAILF("sendmsg: %m");
}

/* A CtlToHelper ping request frame with the given ids. */
static inline uint8_t *ping_frame(uint64_t msg_id, uint32_t fd_count, size_t *ret_len) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Rpc rpc = TUND__RPC__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        rpc.msg_id = msg_id;
        rpc.fd_count = fd_count;
        m.rpc = &rpc;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        return pack_frame(&m.base, ret_len);
}

static inline int count_open_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 1024; n += fcntl(fd, F_GETFD) >= 0, fd++)
                ;
        return n;
}

/* Records a connection's close. */
typedef struct CloseRec {
        bool closed;
        int error;
        char reason[256];
} CloseRec;

static inline void close_rec_cb(IpcConn *c, int error, const char *reason, void *userdata) {
        CloseRec *r = userdata;
        r->closed = true;
        r->error = error;
        snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

/* A helper-side control connection is sent `prefix` (plain bytes, e.g. a handshake line), then
 * `bytes` with `fds` riding on their first byte; it must close with `expect_error` and a reason
 * containing `expect_reason`, never becoming ready for more. */
static inline void expect_server_close(const char *prefix, const void *bytes, size_t len,
                                       const int *fds, size_t n_fds, int expect_error,
                                       const char *expect_reason) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ASSERT_OK(sd_event_new(&e));
        int sv[2];
        socketpair_or_die(sv);
        IpcConn *c = NULL;
        ASSERT_OK(ipc_conn_new(&c, e, sv[0], &ipc_channel_ctl_server));
        CloseRec cr = {};
        IpcHandlers h = { .on_close = close_rec_cb };
        ipc_conn_set_handlers(c, &h, &cr);
        write_all(sv[1], prefix, strlen(prefix));
        if (len > 0)
                send_with_fds(sv[1], bytes, len, fds, n_fds);
        ASSERT_TRUE(run_until(e, &cr.closed, 2000));
        ASSERT_EQ(cr.error, expect_error);
        ASSERT_CONTAINS(cr.reason, expect_reason);
        ASSERT_TRUE(!ipc_conn_is_ready(c));
        ipc_conn_unref(c);
        close(sv[1]);
}
