/* See netcfg-watch.h. */
#include "netcfg-watch.h"

#include <errno.h>
#include <sys/socket.h>

#include "macro.h"

static void nl_watch_read(NlWatch *w) {
        char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
        bool hit = false;

        for (;;) {
                ssize_t n = recv(mnl_socket_get_fd(w->nl), buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == ENOBUFS) {
                        hit = w->match(NULL, w->userdata) || hit;
                        continue;
                }
                if (n <= 0)
                        break;
                int len = (int) n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(h, len);
                     h = mnl_nlmsg_next(h, &len))
                        hit = w->match(h, w->userdata) || hit;
        }
        if (hit && w->timer && sd_event_source_get_enabled(w->timer, NULL) == 0) {
                (void) sd_event_source_set_time_relative(w->timer, w->settle_usec);
                (void) sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        }
}

static int on_nl_watch_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        nl_watch_read(userdata);
        return 0;
}

int nl_watch_start(NlWatch *w, sd_event *e, int protocol, const unsigned *groups, size_t n_groups,
                   NlWatchMatch match, uint64_t settle_usec, sd_event_time_handler_t on_settle,
                   void *userdata) {
        int r;

        if (w->nl)
                return 0;
        w->match = match;
        w->userdata = userdata;
        w->settle_usec = settle_usec;
        w->nl = mnl_socket_open2(protocol, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!w->nl)
                return -errno;
        r = mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
        for (size_t i = 0; r >= 0 && i < n_groups; i++)
                if (mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, (void *) &groups[i],
                                          sizeof(groups[i])) < 0)
                        r = -errno;
        if (r >= 0)
                r = sd_event_add_io(e, &w->io, mnl_socket_get_fd(w->nl), EPOLLIN, on_nl_watch_io,
                                    w);
        if (r >= 0 && on_settle)
                r = sd_event_add_time_relative(e, &w->timer, CLOCK_MONOTONIC, settle_usec, 0,
                                               on_settle, userdata);
        if (r >= 0 && w->timer) /* off until a match */
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        if (r < 0)
                nl_watch_stop(w);
        return r;
}

void nl_watch_flush(NlWatch *w) {
        if (w->nl)
                nl_watch_read(w);
}

void nl_watch_stop(NlWatch *w) {
        w->timer = sd_event_source_disable_unref(w->timer);
        w->io = sd_event_source_disable_unref(w->io);
        if (w->nl)
                mnl_socket_close(w->nl);
        w->nl = NULL;
}
