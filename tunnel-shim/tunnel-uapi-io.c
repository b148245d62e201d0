#include "tunnel-uapi-io.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* While the engine is starting, its socket may not accept yet: try again this often. */
#define UAPI_CONNECT_RETRY_USEC (20 * USEC_PER_MSEC)

struct UapiCall {
        sd_event *event;
        sd_event_source *io, *timer, *retry;
        int fd;
        char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
        SecBuf out;
        size_t out_done;
        SecBuf in;
        int last_connect_error;
        UapiCallHandler cb;
        void *userdata;
};

UapiCall *uapi_call_free(UapiCall *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->retry);
        safe_close(c->fd);
        secbuf_wipe(&c->out);
        secbuf_wipe(&c->in);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

static void call_finish(UapiCall *c, int error) {
        UapiCallHandler cb = c->cb;
        c->cb = NULL;
        if (cb)
                cb(error, error < 0 ? NULL : c->in.data, error < 0 ? 0 : c->in.len, c->userdata);
        uapi_call_free(c);
}

static int call_read(UapiCall *c) {
        char buf[4096];
        for (;;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0) {
                        explicit_wipe(buf, sizeof(buf));
                        return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
                }
                if (n == 0)
                        return -ECONNRESET;
                if (c->in.len + (size_t) n > UAPI_REPLY_MAX) {
                        explicit_wipe(buf, sizeof(buf));
                        return -EMSGSIZE;
                }
                int r = secbuf_append(&c->in, buf, (size_t) n);
                explicit_wipe(buf, (size_t) n);
                if (r < 0)
                        return r;
                if (uapi_reply_complete(c->in.data, c->in.len))
                        return 1;
        }
}

static int call_write(UapiCall *c) {
        while (c->out_done < c->out.len) {
                ssize_t n = send(c->fd, c->out.data + c->out_done, c->out.len - c->out_done,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
                c->out_done += (size_t) n;
        }
        /* Sent: the request (and its keys) need not stay in memory. */
        secbuf_wipe(&c->out);
        return sd_event_source_set_io_events(c->io, EPOLLIN);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UapiCall *c = userdata;
        int r = 0;

        if (revents & EPOLLOUT) {
                r = call_write(c);
                if (r < 0) {
                        call_finish(c, r == -EPIPE ? -ECONNRESET : r);
                        return 0;
                }
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = call_read(c);
                if (r != 0) {
                        call_finish(c, r > 0 ? 0 : r);
                        return 0;
                }
        }
        return 0;
}

static int try_connect(UapiCall *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        memcpy(sa.sun_path, c->path, sizeof(c->path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        int r = sd_event_add_io(c->event, &c->io, fd, EPOLLOUT | EPOLLIN, on_io, c);
        if (r < 0)
                return r;
        c->fd = TAKE_FD(fd);
        return 0;
}

static bool connect_retriable(int r) {
        /* Not there yet, not listening yet, or its backlog is full. */
        return r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        UapiCall *c = userdata;
        int r = try_connect(c);
        if (r >= 0) {
                c->retry = sd_event_source_disable_unref(c->retry);
                return 0;
        }
        if (!connect_retriable(r)) {
                call_finish(c, r);
                return 0;
        }
        c->last_connect_error = r;
        sd_event_source_set_time_relative(s, UAPI_CONNECT_RETRY_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        UapiCall *c = userdata;
        /* Never connected: say why, it is more useful than "timed out". */
        call_finish(c, c->fd < 0 && c->last_connect_error ? c->last_connect_error : -ETIMEDOUT);
        return 0;
}

int uapi_call_start(sd_event *e, const char *path, SecBuf *request, uint64_t timeout_usec,
                    UapiCallHandler cb, void *userdata, UapiCall **ret) {
        UapiCall *c = NULL;
        int r;

        if (!path || strlen(path) >= sizeof(c->path)) {
                secbuf_wipe(request);
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                secbuf_wipe(request);
                return -ENOMEM;
        }
        c->fd = -EBADF;
        c->event = sd_event_ref(e);
        c->out = *request;
        *request = (SecBuf){};
        c->cb = cb;
        c->userdata = userdata;
        strncpy(c->path, path, sizeof(c->path) - 1);

        r = sd_event_add_time_relative(e, &c->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout,
                                       c);
        if (r < 0)
                goto fail;
        r = try_connect(c);
        if (r < 0) {
                if (!connect_retriable(r))
                        goto fail;
                c->last_connect_error = r;
                r = sd_event_add_time_relative(e, &c->retry, CLOCK_MONOTONIC,
                                               UAPI_CONNECT_RETRY_USEC, 0, on_retry, c);
                if (r < 0)
                        goto fail;
        }
        if (ret)
                *ret = c;
        return 0;
fail:
        c->cb = NULL;
        uapi_call_free(c);
        return r;
}
