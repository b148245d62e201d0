/* A running profile is never silently unrouted: another program (an admin's `ip rule del`, a
 * second VPN client, NetworkManager flushing a table) may delete what the shim applied, while
 * `tundctl status` would go on saying "running" and the traffic would leave in clear. The shim
 * listens to rtnetlink's deletions; shortly after one (a flush is a burst), it writes what it
 * applied again (netcfg_reassert: what is there is left alone), logs what it put back and
 * tells the helper, which shows it to watchers and in status. If that fails, the session
 * fails: systemd restarts it from scratch. The listener itself (NlWatch) serves the kill
 * switch's watch of nf_tables too (netshim-killswitch.c). */
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "log.h"
#include "netshim.h"
#include "shim.pb-c.h"

#define WATCH_SETTLE_USEC (100 * USEC_PER_MSEC)

void netshim_tell_helper(Manager *m, const char *text) {
        if (!m->conn || !ipc_conn_is_ready(m->conn))
                return;
        Tund__ShimToHelper out = TUND__SHIM_TO_HELPER__INIT;
        Tund__Log l = TUND__LOG__INIT;
        l.profile = m->profile->name;
        l.level = TUND__LOG_LEVEL__LOG_LEVEL_WARNING;
        l.message = (char *) text;
        out.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_LOG;
        out.log = &l;
        (void) ipc_conn_send(m->conn, &out.base, 0, NULL, 0);
}

static int on_watch_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *err = NULL;
        unsigned restored = 0;

        if (!m->netcfg || m->state == NETSHIM_DONE || m->state == NETSHIM_STOPPING)
                return 0;
        int r = netcfg_reassert(m->netcfg, &restored, &err);
        if (r < 0) {
                manager_fail(m,
                             "settings of %s were deleted by another program and cannot be "
                             "restored: %s",
                             m->profile->ifname, err ? err : strerror(-r));
                return 0;
        }
        if (restored == 0)
                return 0;
        char text[256];
        snprintf(text, sizeof(text),
                 "%u address%s, route%s or rule%s of %s deleted by another program: restored",
                 restored, restored == 1 ? "" : "es", restored == 1 ? "" : "s",
                 restored == 1 ? "" : "s", m->profile->ifname);
        log_warning("%s", text);
        netshim_tell_helper(m, text);
        return 0;
}

static bool watch_is_deletion(const struct nlmsghdr *h) {
        return h->nlmsg_type == RTM_DELROUTE || h->nlmsg_type == RTM_DELRULE ||
               h->nlmsg_type == RTM_DELADDR;
}

int netshim_watch_start(Manager *m) {
        static const unsigned groups[] = { RTNLGRP_IPV4_ROUTE,  RTNLGRP_IPV6_ROUTE,
                                           RTNLGRP_IPV4_RULE,   RTNLGRP_IPV6_RULE,
                                           RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR };
        return nl_watch_start(&m->watch, m->event, NETLINK_ROUTE, groups, ELEMENTSOF(groups),
                              watch_is_deletion, on_watch_timer, m);
}

void netshim_watch_stop(Manager *m) {
        nl_watch_stop(&m->watch);
}

/* ---- the listener ---- */

static int on_nl_watch_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NlWatch *w = userdata;
        char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
        bool hit = false;

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == ENOBUFS) {
                        hit = true; /* messages were lost: check anyway */
                        continue;
                }
                if (n <= 0)
                        break;
                int len = (int) n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(h, len);
                     h = mnl_nlmsg_next(h, &len))
                        hit = hit || w->match(h);
        }
        if (hit && sd_event_source_get_enabled(w->timer, NULL) == 0) {
                (void) sd_event_source_set_time_relative(w->timer, WATCH_SETTLE_USEC);
                (void) sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        }
        return 0;
}

int nl_watch_start(NlWatch *w, sd_event *e, int protocol, const unsigned *groups, size_t n_groups,
                   bool (*match)(const struct nlmsghdr *h), sd_event_time_handler_t on_settle,
                   void *userdata) {
        int r;

        if (w->nl)
                return 0;
        w->match = match;
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
        if (r >= 0)
                r = sd_event_add_time_relative(e, &w->timer, CLOCK_MONOTONIC, WATCH_SETTLE_USEC, 0,
                                               on_settle, userdata);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        if (r < 0)
                nl_watch_stop(w);
        return r;
}

void nl_watch_stop(NlWatch *w) {
        w->timer = sd_event_source_disable_unref(w->timer);
        w->io = sd_event_source_disable_unref(w->io);
        if (w->nl)
                mnl_socket_close(w->nl);
        w->nl = NULL;
}
