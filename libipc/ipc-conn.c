/* IpcConn: one connection on sd-event — its life, the handshake, I/O readiness and timers,
 * closing, and the blocking waits. An open connection holds a reference to itself (its I/O
 * source), dropped when it closes; callers hold their own. (ipc-conn-send.c: the write queue,
 * calls and error replies; ipc-conn-recv.c: frames into messages, replies and routes.) */
#include <sys/queue.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "ipc-frame.h"
#include "ipc-internal.h"

/* ---- lifecycle ---- */

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int conn_hs_timeout(sd_event_source *s, uint64_t usec, void *userdata);
static int conn_frame_timeout(sd_event_source *s, uint64_t usec, void *userdata);

int ipc_conn_new(IpcConn **ret, sd_event *e, int fd, const IpcChannel *ch) {
        _cleanup_close_ int owned = fd;
        int r = fd_set_nonblock(fd, true);
        if (r < 0)
                return r;
        /* Before anything is read: a peer's fds are then refused in its own sendmsg(). */
        if (!ch->recv_carries_fds) {
                r = ipc_socket_refuse_fds(fd);
                if (r < 0)
                        return r;
        }

        IpcConn *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->n_ref = 2; /* the caller's, and the open connection's own */
        c->event = sd_event_ref(e);
        c->fd = TAKE_FD(owned);
        c->ch = ch;
        ipc_frame_reader_init(&c->reader, ch->max_frame ? ch->max_frame : IPC_FRAME_MAX_DEFAULT);
        c->reader.refuse_fds = !ch->recv_carries_fds;
        ipc_queue_init(&c->out, IPC_QUEUE_MAX_DEFAULT);
        c->have_peer = ipc_peer_from_fd(c->fd, &c->peer) >= 0;

        r = ipc_handshake_format(c->hs_out, sizeof(c->hs_out), ch->local_role, ch->versions,
                                 ch->n_versions);
        if (r >= 0) {
                c->hs_out_len = (size_t) r;
                r = sd_event_add_io(e, &c->io, c->fd, EPOLLIN | EPOLLOUT, conn_io, c);
        }
        if (r >= 0)
                r = ipc_conn_set_handshake_timeout(c, IPC_HANDSHAKE_TIMEOUT_USEC);
        if (r < 0) {
                c->closed = true;
                c->n_ref = 1;
                ipc_conn_unref(c);
                return r;
        }
        (void) sd_event_source_set_description(c->io, ch->name);
        *ret = c;
        return 0;
}

IpcConn *ipc_conn_ref(IpcConn *c) {
        if (c)
                c->n_ref++;
        return c;
}

static void conn_free(IpcConn *c) {
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->hs_timer);
        sd_event_source_disable_unref(c->defer_close);
        sd_event_source_disable_unref(c->frame_timer);
        safe_close(c->fd);
        ipc_frame_reader_reset(&c->reader);
        ipc_queue_clear(&c->out);
        ipc_peer_done(&c->peer);
        free(c->close_reason);
        sd_event_unref(c->event);
        free(c);
}

IpcConn *ipc_conn_unref(IpcConn *c) {
        if (c && --c->n_ref == 0)
                conn_free(c);
        return NULL;
}

void ipc_conn_set_handlers(IpcConn *c, const IpcHandlers *h, void *userdata) {
        c->h = h ? *h : (IpcHandlers){};
        c->userdata = userdata;
}

void ipc_conn_set_routes(IpcConn *c, const IpcRoute *routes, size_t n_routes,
                         const IpcPolicy *const *policies, size_t n_policies) {
        c->routes = routes;
        c->n_routes = n_routes;
        c->policies = policies;
        c->n_policies = n_policies;
}

void *ipc_conn_get_userdata(IpcConn *c) {
        return c->userdata;
}

void ipc_conn_set_userdata(IpcConn *c, void *userdata) {
        c->userdata = userdata;
}

void ipc_conn_set_queue_max(IpcConn *c, size_t bytes) {
        c->out.max = bytes;
}

int ipc_conn_set_handshake_timeout(IpcConn *c, uint64_t usec) {
        c->hs_timer = sd_event_source_disable_unref(c->hs_timer);
        if (usec == 0 || c->ready || c->closed)
                return 0;
        return sd_event_add_time_relative(c->event, &c->hs_timer, CLOCK_MONOTONIC, usec, 0,
                                          conn_hs_timeout, c);
}

/* A peer that starts a frame and stalls would pin its buffer (up to the channel's maximum)
 * for as long as it likes: the frame must be complete this long after its first byte. */
static bool conn_in_frame(IpcConn *c) {
        return c->reader.hdr_got > 0 || c->reader.n_fds > 0;
}

static int conn_arm_frame_timer(IpcConn *c) {
        if (c->closed || c->frame_timeout == 0 || !conn_in_frame(c)) {
                c->frame_timer = sd_event_source_disable_unref(c->frame_timer);
                return 0;
        }
        if (c->frame_timer)
                return 0; /* runs from the frame's first byte, not from the latest one */
        return sd_event_add_time_relative(c->event, &c->frame_timer, CLOCK_MONOTONIC,
                                          c->frame_timeout, 0, conn_frame_timeout, c);
}

static void conn_update_frame_timer(IpcConn *c) {
        int r = conn_arm_frame_timer(c);
        if (r < 0)
                ipc_conn_close(c, r, "%s: cannot arm the frame timer: %s", c->ch->name,
                               strerror(-r));
}

int ipc_conn_set_frame_timeout(IpcConn *c, uint64_t usec) {
        c->frame_timeout = usec;
        c->frame_timer = sd_event_source_disable_unref(c->frame_timer);
        return conn_arm_frame_timer(c);
}

uint64_t ipc_conn_get_frame_timeout(IpcConn *c) {
        return c->frame_timeout;
}

bool ipc_conn_is_ready(IpcConn *c) {
        return c->ready && !c->closed;
}

bool ipc_conn_is_closed(IpcConn *c) {
        return c->closed;
}

const IpcVersion *ipc_conn_get_version(IpcConn *c) {
        return c->ready ? &c->version : NULL;
}

const IpcPeer *ipc_conn_get_peer(IpcConn *c) {
        return c->have_peer ? &c->peer : NULL;
}

const IpcChannel *ipc_conn_get_channel(IpcConn *c) {
        return c->ch;
}

size_t ipc_conn_get_queued(IpcConn *c) {
        return c->out.bytes;
}

size_t ipc_conn_get_pending(IpcConn *c) {
        return c->n_calls;
}

const char *ipc_conn_get_close_reason(IpcConn *c) {
        return c->close_reason;
}

void ipc_conn_set_server_hook(IpcConn *c, void (*hook)(IpcConn *, void *), void *data);
void ipc_conn_set_server_hook(IpcConn *c, void (*hook)(IpcConn *, void *), void *data) {
        c->server_hook = hook;
        c->server_data = data;
}

/* ---- closing ---- */

void ipc_call_unlink(IpcConn *c, IpcCall *call) {
        LIST_REMOVE(call, link);
        c->n_calls--;
        call->timer = sd_event_source_disable_unref(call->timer);
}

static void conn_vclose(IpcConn *c, int error, const char *fmt, va_list ap) _printf_(3, 0);
static void conn_vclose(IpcConn *c, int error, const char *fmt, va_list ap) {
        if (c->closed)
                return;
        c->closed = true;
        ipc_conn_ref(c);

        if (fmt && vasprintf(&c->close_reason, fmt, ap) < 0)
                c->close_reason = NULL;
        c->io = sd_event_source_disable_unref(c->io);
        c->hs_timer = sd_event_source_disable_unref(c->hs_timer);
        c->defer_close = sd_event_source_disable_unref(c->defer_close);
        c->frame_timer = sd_event_source_disable_unref(c->frame_timer);
        c->fd = safe_close(c->fd);
        ipc_frame_reader_reset(&c->reader);
        ipc_queue_clear(&c->out);

        /* Every pending call ends here, exactly once. */
        while (!LIST_EMPTY(&c->calls)) {
                IpcCall *call = LIST_FIRST(&c->calls);
                ipc_call_unlink(c, call);
                call->cb(c, error < 0 ? error : -ECONNRESET, NULL, call->userdata);
                free(call);
        }
        if (c->h.on_close)
                c->h.on_close(c, error, c->close_reason ? c->close_reason : "closed", c->userdata);
        if (c->server_hook)
                c->server_hook(c, c->server_data);
        c->server_hook = NULL;

        ipc_conn_unref(c); /* the open connection's own reference */
        ipc_conn_unref(c);
}

void ipc_conn_close(IpcConn *c, int error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        conn_vclose(c, error, fmt, ap);
        va_end(ap);
}

static void conn_close_write_error(IpcConn *c, int e) {
        if (e == -ENOBUFS)
                ipc_conn_close(c, e, "%s peer is not reading: more than %zu bytes queued",
                               c->ch->name, c->out.max);
        else if (e == -EPERM)
                ipc_conn_close(c, e, "%s peer refuses file descriptors (SO_PASSRIGHTS)",
                               c->ch->name);
        else
                ipc_conn_close(c, e, "%s connection write failed: %s", c->ch->name, strerror(-e));
}

static int conn_defer_close_cb(sd_event_source *s, void *userdata) {
        IpcConn *c = userdata;
        conn_close_write_error(c, c->pending_close_error);
        return 0;
}

/* Closing from inside a send would run the owner's on_close in the middle of whatever it is
 * doing (a fan-out loop, say): defer it to the next loop iteration instead. */
void ipc_conn_close_later(IpcConn *c, int error) {
        if (c->closed || c->defer_close)
                return;
        c->pending_close_error = error;
        c->io = sd_event_source_disable_unref(c->io);
        if (sd_event_add_defer(c->event, &c->defer_close, conn_defer_close_cb, c) < 0)
                ipc_conn_close(c, error, "%s connection failed: %s", c->ch->name, strerror(-error));
}

static void conn_handshake_done(IpcConn *c) {
        _cleanup_free_ char *err = NULL;
        int r = ipc_handshake_parse(c->line, c->ch->peer_role, c->ch->versions, c->ch->n_versions,
                                    &c->version, &err);
        if (r < 0) {
                ipc_conn_close(c, r, "%s handshake refused: %s", c->ch->name,
                               err ? err : strerror(-r));
                return;
        }
        c->ready = true;
        c->hs_timer = sd_event_source_disable_unref(c->hs_timer);
        int k = ipc_conn_flush(c); /* what was queued before the peer was known */
        if (k < 0 && k != -EPIPE && k != -ECONNRESET) {
                conn_close_write_error(c, k);
                return;
        }
        if (c->h.on_ready)
                c->h.on_ready(c, c->userdata);
}

/* One byte of the handshake. recv() without room for SCM_RIGHTS would have the kernel close
 * a peer's fds in this thread, where closing one can block: take them, and refuse them. */
static ssize_t conn_recv_handshake_byte(IpcConn *c, char *ret) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * IPC_RECV_FDS_ROOM)];
        } control;
        struct iovec iov = { .iov_base = ret, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return n;
        bool fds = mh.msg_flags & MSG_CTRUNC;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        int got[IPC_RECV_FDS_ROOM];
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        k = MIN(k, ELEMENTSOF(got));
                        memcpy(got, CMSG_DATA(cm), k * sizeof(int));
                        ipc_close_received_fds(got, k);
                        fds = true;
                }
        if (fds) {
                errno = EPERM;
                return -1;
        }
        return n;
}

/* Reads the peer's line one byte per read() so nothing after the '\n' is consumed. */
static void conn_read_handshake(IpcConn *c) {
        while (!c->ready && !c->closed) {
                char ch;
                ssize_t n = conn_recv_handshake_byte(c, &ch);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n < 0 && errno == EPERM) {
                        ipc_conn_close(c, -EBADMSG,
                                       "%s handshake refused: file descriptors with the "
                                       "handshake line",
                                       c->ch->name);
                        return;
                }
                if (n < 0) {
                        ipc_conn_close(c, negative_errno(), "%s handshake read failed: %m",
                                       c->ch->name);
                        return;
                }
                if (n == 0) {
                        ipc_conn_close(c, -ECONNRESET, "%s peer closed during the handshake",
                                       c->ch->name);
                        return;
                }
                if (ch == '\n') {
                        c->line[c->line_len] = 0;
                        conn_handshake_done(c);
                        return;
                }
                if (ch == 0 || c->line_len + 1 >= IPC_HANDSHAKE_LINE_MAX) {
                        ipc_conn_close(c, -EPROTO,
                                       "%s handshake refused: peer is not speaking the tund "
                                       "protocol (line too long or binary)",
                                       c->ch->name);
                        return;
                }
                c->line[c->line_len++] = ch;
        }
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        IpcConn *c = ipc_conn_ref(userdata);

        if (revents & EPOLLOUT) {
                int r = ipc_conn_flush(c);
                if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                        conn_close_write_error(c, r);
                /* EPIPE: the peer is gone; reading tells why (EOF, or its last frames). */
        }
        if (!c->closed && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                if (!c->ready)
                        conn_read_handshake(c);
                if (c->ready && !c->closed) {
                        ipc_conn_read_frames(c);
                        conn_update_frame_timer(c);
                }
        }
        if (!c->closed)
                ipc_conn_update_events(c);
        ipc_conn_unref(c);
        return 0;
}

static int conn_hs_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        IpcConn *c = userdata;
        ipc_conn_close(c, -ETIMEDOUT, "%s peer sent no handshake in time", c->ch->name);
        return 0;
}

static int conn_frame_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        IpcConn *c = ipc_conn_ref(userdata);
        c->frame_timer = sd_event_source_disable_unref(c->frame_timer);
        /* What the socket holds counts, even if the loop had not got to it yet. */
        ipc_conn_read_frames(c);
        if (!c->closed && conn_in_frame(c)) {
                if (c->reader.hdr_got < sizeof(c->reader.hdr))
                        ipc_conn_close(c, -ETIMEDOUT,
                                       "%s peer stalled in a frame header (%zu of 4 bytes in "
                                       "%llu ms)",
                                       c->ch->name, c->reader.hdr_got,
                                       (unsigned long long) (c->frame_timeout / USEC_PER_MSEC));
                else
                        ipc_conn_close(c, -ETIMEDOUT,
                                       "%s peer stalled in a frame (%zu of %u bytes in %llu ms)",
                                       c->ch->name, c->reader.body_got, c->reader.body_len,
                                       (unsigned long long) (c->frame_timeout / USEC_PER_MSEC));
        } else if (!c->closed)
                conn_update_frame_timer(c); /* a new frame may have begun */
        ipc_conn_unref(c);
        return 0;
}

/* ---- blocking helpers ---- */

typedef struct WaitState {
        bool done;
        int error;
        IpcMsg *reply;
} WaitState;

static void wait_reply(IpcConn *c, int error, IpcMsg *reply, void *userdata) {
        WaitState *w = userdata;
        w->done = true;
        w->error = error;
        if (reply)
                w->reply = ipc_msg_keep(reply);
}

int ipc_conn_call_wait(IpcConn *c, ProtobufCMessage *msg, const int *fds, size_t n_fds,
                       uint64_t timeout_usec, IpcMsg **ret_reply) {
        WaitState w = {};
        int64_t id = ipc_conn_call(c, msg, fds, n_fds, timeout_usec, wait_reply, &w);
        if (id < 0)
                return (int) id;
        while (!w.done) {
                int r = sd_event_run(c->event, UINT64_MAX);
                if (r < 0) {
                        /* Cannot leave w on the stack behind a live call. */
                        ipc_conn_close(c, r, "event loop failed: %s", strerror(-r));
                        break;
                }
        }
        if (w.error < 0)
                return w.error;
        *ret_reply = w.reply;
        return 0;
}

int ipc_conn_wait_ready(IpcConn *c, uint64_t timeout_usec) {
        uint64_t deadline = 0, now;
        if (timeout_usec > 0 && sd_event_now(c->event, CLOCK_MONOTONIC, &now) >= 0)
                deadline = now + timeout_usec;
        (void) ipc_conn_ref(c);
        int r = 0;
        while (!c->ready && !c->closed) {
                uint64_t wait = UINT64_MAX;
                if (deadline) {
                        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
                        if (now >= deadline) {
                                r = -ETIMEDOUT;
                                break;
                        }
                        wait = deadline - now;
                }
                r = sd_event_run(c->event, wait);
                if (r < 0)
                        break;
                r = 0;
        }
        if (r == 0 && c->closed)
                r = -ECONNRESET;
        ipc_conn_unref(c);
        return r;
}
