#include "ipc-frame.h"

#include <arpa/inet.h>
#include <sys/socket.h>

void ipc_frame_reader_init(IpcFrameReader *r, uint32_t max) {
        *r = (IpcFrameReader){ .max = max };
        for (size_t i = 0; i < IPC_MAX_FDS; i++)
                r->fds[i] = -EBADF;
}

void ipc_frame_reader_reset(IpcFrameReader *r) {
        /* Frames carry private keys (StartSession, StartRequest): wipe before freeing. */
        if (r->body)
                explicit_wipe(r->body, r->body_len);
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        r->body_got = 0;
        r->hdr_got = 0;
        ipc_close_received_fds(r->fds, r->n_fds);
        r->n_fds = 0;
}

/* Takes the fds of every SCM_RIGHTS message; on overflow, or on a channel that carries none,
 * closes all of them. */
static int collect_fds(IpcFrameReader *r, struct msghdr *mh) {
        int got[IPC_RECV_FDS_ROOM];
        size_t n = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                const uint8_t *data = CMSG_DATA(c);
                for (size_t i = 0; i < k && n < ELEMENTSOF(got); i++)
                        memcpy(&got[n++], data + i * sizeof(int), sizeof(int));
        }
        int err = 0;
        if (r->refuse_fds && (n > 0 || (mh->msg_flags & MSG_CTRUNC)))
                err = -EPERM;
        else if ((mh->msg_flags & MSG_CTRUNC) || r->n_fds + n > IPC_MAX_FDS)
                err = -ETOOMANYREFS;
        if (err == 0) {
                memcpy_safe(r->fds + r->n_fds, got, n * sizeof(int));
                r->n_fds += n;
                return 0;
        }
        ipc_close_received_fds(got, n);
        ipc_close_received_fds(r->fds, r->n_fds);
        r->n_fds = 0;
        return err;
}

/* One recvmsg of at most len bytes into buf. >0 bytes, 0 EOF, -EAGAIN, -errno. */
static ssize_t recv_some(IpcFrameReader *r, int fd, void *buf, size_t len) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * IPC_RECV_FDS_ROOM)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return negative_errno();
        int k = collect_fds(r, &mh);
        if (k < 0)
                return k;
        return n;
}

int ipc_frame_read(IpcFrameReader *r, int fd) {
        while (r->hdr_got < sizeof(r->hdr)) {
                ssize_t n = recv_some(r, fd, r->hdr + r->hdr_got, sizeof(r->hdr) - r->hdr_got);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return r->hdr_got == 0 && r->n_fds == 0 ? -ESHUTDOWN : -ECONNRESET;
                r->hdr_got += (size_t) n;
                if (r->hdr_got < sizeof(r->hdr))
                        continue;
                uint32_t len;
                memcpy(&len, r->hdr, sizeof(len));
                len = ntohl(len);
                if (len == 0)
                        return -EBADMSG;
                if (len > r->max)
                        return -EMSGSIZE;
                r->body = malloc(len);
                if (!r->body)
                        return -ENOMEM;
                r->body_len = len;
                r->body_got = 0;
        }
        while (r->body_got < r->body_len) {
                ssize_t n = recv_some(r, fd, r->body + r->body_got, r->body_len - r->body_got);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ECONNRESET;
                r->body_got += (size_t) n;
        }
        return 1;
}

struct IpcOutItem {
        IpcOutItem *next;
        size_t len, off;
        int fds[IPC_MAX_FDS];
        size_t n_fds;
        uint8_t data[];
};

static void item_free(IpcOutItem *it) {
        for (size_t i = 0; i < it->n_fds; i++)
                safe_close(it->fds[i]);
        explicit_wipe(it->data, it->len);
        free(it);
}

void ipc_queue_init(IpcOutQueue *q, size_t max) {
        *q = (IpcOutQueue){ .max = max };
}

void ipc_queue_clear(IpcOutQueue *q) {
        while (q->head) {
                IpcOutItem *it = q->head;
                q->head = it->next;
                item_free(it);
        }
        q->tail = NULL;
        q->bytes = 0;
}

static int close_fds(int *fds, size_t n, int r) {
        for (size_t i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
        return r;
}

static IpcOutItem *item_new(IpcOutQueue *q, size_t len, int *fds, size_t n_fds) {
        IpcOutItem *it = malloc(sizeof(*it) + len);
        if (!it)
                return NULL;
        *it = (IpcOutItem){ .len = len, .n_fds = n_fds };
        for (size_t i = 0; i < n_fds; i++)
                it->fds[i] = TAKE_FD(fds[i]);
        return it;
}

static void item_append(IpcOutQueue *q, IpcOutItem *it) {
        if (q->tail)
                q->tail->next = it;
        else
                q->head = it;
        q->tail = it;
        q->bytes += it->len;
}

int ipc_queue_push(IpcOutQueue *q, const void *data, size_t len, int *fds, size_t n_fds) {
        if (n_fds > IPC_MAX_FDS || len == 0)
                return close_fds(fds, n_fds, -EINVAL);
        if (q->bytes + len > q->max)
                return close_fds(fds, n_fds, -ENOBUFS);
        IpcOutItem *it = item_new(q, len, fds, n_fds);
        if (!it)
                return close_fds(fds, n_fds, -ENOMEM);
        memcpy(it->data, data, len);
        item_append(q, it);
        return 0;
}

int ipc_queue_push_frame(IpcOutQueue *q, const ProtobufCMessage *msg, uint32_t max_frame, int *fds,
                         size_t n_fds) {
        size_t size = protobuf_c_message_get_packed_size(msg);
        if (n_fds > IPC_MAX_FDS)
                return close_fds(fds, n_fds, -EINVAL);
        if (size == 0 || size > max_frame)
                return close_fds(fds, n_fds, -EMSGSIZE);
        if (q->bytes + size + 4 > q->max)
                return close_fds(fds, n_fds, -ENOBUFS);
        IpcOutItem *it = item_new(q, size + 4, fds, n_fds);
        if (!it)
                return close_fds(fds, n_fds, -ENOMEM);
        uint32_t be = htonl((uint32_t) size);
        memcpy(it->data, &be, 4);
        protobuf_c_message_pack(msg, it->data + 4);
        item_append(q, it);
        return 0;
}

/* Sends one item's remaining bytes; its fds ride on its first byte. */
static ssize_t send_item(IpcOutItem *it, int fd) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = it->data + it->off, .iov_len = it->len - it->off };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (it->off == 0 && it->n_fds > 0) {
                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * it->n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * it->n_fds);
                memcpy(CMSG_DATA(c), it->fds, sizeof(int) * it->n_fds);
        }
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return negative_errno();
        if (n > 0 && it->off == 0)
                close_fds(it->fds, it->n_fds, 0), it->n_fds = 0;
        return n;
}

int ipc_queue_flush(IpcOutQueue *q, int fd) {
        while (q->head) {
                IpcOutItem *it = q->head;
                ssize_t n = send_item(it, fd);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n < 0)
                        return (int) n;
                it->off += (size_t) n;
                q->bytes -= (size_t) n;
                if (it->off < it->len)
                        continue;
                q->head = it->next;
                if (!q->head)
                        q->tail = NULL;
                item_free(it);
        }
        return 1;
}
