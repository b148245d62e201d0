/* A running profile is never silently unrouted: another program (an admin's `ip rule del`, a
 * second VPN client, NetworkManager flushing a table) may delete what the shim applied, while
 * `tundctl status` would go on saying "running" and the traffic would leave in clear. The shim
 * listens to rtnetlink's deletions; shortly after one (a flush is a burst), it writes what it
 * applied again (netcfg_reassert: what is there is left alone), logs what it put back and
 * tells the helper, which shows it to watchers and in status. If that fails, the session
 * fails: systemd restarts it from scratch. The listener is libnetcfg's NlWatch, as for the
 * kill switch's watch of nf_tables (netshim-killswitch.c). */
#include <linux/rtnetlink.h>
#include <stdio.h>

#include "log.h"
#include "netshim.h"
#include "shim.pb-c.h"

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

static bool watch_is_deletion(const struct nlmsghdr *h, void *userdata) {
        return !h /* lost: check anyway */ || h->nlmsg_type == RTM_DELROUTE ||
               h->nlmsg_type == RTM_DELRULE || h->nlmsg_type == RTM_DELADDR;
}

int netshim_watch_start(Manager *m) {
        static const unsigned groups[] = { RTNLGRP_IPV4_ROUTE,  RTNLGRP_IPV6_ROUTE,
                                           RTNLGRP_IPV4_RULE,   RTNLGRP_IPV6_RULE,
                                           RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR };
        return nl_watch_start(&m->watch, m->event, NETLINK_ROUTE, groups, ELEMENTSOF(groups),
                              watch_is_deletion, NETSHIM_WATCH_SETTLE_USEC, on_watch_timer, m);
}

void netshim_watch_stop(Manager *m) {
        nl_watch_stop(&m->watch);
}
