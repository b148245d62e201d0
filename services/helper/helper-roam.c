/* Network changes and sleep (helper.h, HelperRoam): what makes every running session resolve
 * its endpoints again and set them anew, which moves the engine to the new underlay path at
 * once instead of after WireGuard's own timeouts (its remembered source address is dropped and
 * a keepalive goes out). One watcher per host, in the helper, which runs as long as there are
 * sessions and holds no capability: rtnetlink's multicast groups and the system bus need none.
 *
 * What counts as a change: a default route of the main table added or removed, an address
 * added or removed on a link that is not a session's, a link (not a TUN) going up or down,
 * appearing or vanishing; logind's PrepareForSleep(false) (resume); the wall clock set or the
 * system resumed (a CANCEL_ON_SET timerfd, which the kernel cancels on both: the fallback
 * without logind). */
#include <inttypes.h>
#include <net/if.h>
#include <sys/timerfd.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "netcfg.h"

#include "log.h"
#include "helper.h"

/* ---- acting on a change ---- */

static void roam_act(Manager *m) {
        HelperRoam *ro = &m->roam;
        _cleanup_free_ Session **v = calloc(m->n_sessions + 1, sizeof(Session *));
        size_t n = 0;
        char reason[sizeof(ro->reason)], kind[sizeof(ro->kind)];

        snprintf(reason, sizeof(reason), "%s", ro->reason);
        snprintf(kind, sizeof(kind), "%s", ro->kind);
        unsigned changes = ro->changes;
        ro->first_usec = 0;
        ro->changes = 0;
        ro->reason[0] = '\0';
        ro->settle_timer = sd_event_source_disable_unref(ro->settle_timer);
        if (!v)
                return;
        for (Session *s = LIST_FIRST(&m->sessions); s; s = LIST_NEXT(s, link))
                if (helper_session_permits(s->state, SREQ_CTL_REBIND) && !helper_roam_rebound(m, s))
                        v[n++] = s;
        if (n == 0) {
                log_debug("%s (%s; %u change%s): no session to rebind.", kind, reason, changes,
                          changes == 1 ? "" : "s");
                return;
        }
        log_info("%s (%s; %u change%s): rebinding %zu session%s.", kind, reason, changes,
                 changes == 1 ? "" : "s", n, n == 1 ? "" : "s");
        (void) helper_tunnel_rebind(m, NULL, 0, v, n, kind, true);
}

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        roam_act(userdata);
        return 0;
}

void helper_roam_flush(Manager *m) {
        /* What the kernel reported before the request came is in the socket already (it
         * queues a notification before the change's own call returns): read it first, or the
         * request would rebind for it and the change be acted on a second time. */
        nl_watch_flush(&m->roam.watch);
        if (m->roam.first_usec)
                roam_act(m);
}

bool helper_roam_rebound(Manager *m, Session *s) {
        uint64_t now = 0;
        sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        return s->rebound_coalesce && s->rebound_gen == m->roam.gen &&
               now - s->rebound_usec < HELPER_REBIND_COALESCE_USEC;
}

void helper_roam_trigger(Manager *m, const char *kind, const char *reason) {
        HelperRoam *ro = &m->roam;
        uint64_t now = 0;
        sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        ro->gen++;
        ro->changes++;
        log_debug("Change %" PRIu64 ": %s (%s).", ro->gen, kind, reason);
        if (!ro->first_usec) {
                ro->first_usec = now;
                snprintf(ro->reason, sizeof(ro->reason), "%s", reason);
                snprintf(ro->kind, sizeof(ro->kind), "%s", kind);
        }
        /* Changes come in bursts (a link down takes its addresses and routes with it): wait for
         * a quiet moment, but not for ever. */
        uint64_t at =
                MIN(now + HELPER_ROAM_SETTLE_USEC, ro->first_usec + HELPER_ROAM_SETTLE_MAX_USEC);
        if (ro->settle_timer) {
                (void) sd_event_source_set_time(ro->settle_timer, at);
                (void) sd_event_source_set_enabled(ro->settle_timer, SD_EVENT_ONESHOT);
        } else if (sd_event_add_time(m->event, &ro->settle_timer, CLOCK_MONOTONIC, at, 0, on_settle,
                                     m) < 0)
                roam_act(m);
}

/* ---- rtnetlink ---- */

static bool is_session_link(Manager *m, const char *ifname) {
        for (Session *s = LIST_FIRST(&m->sessions); s; s = LIST_NEXT(s, link))
                if (ifname && streq_ptr(s->ifname, ifname))
                        return true;
        return false;
}

/* The up/carrier flags of every link, to tell a carrier change (which the kernel announces
 * with ifi_change 0) from a NEWLINK about statistics or MTU. Returns whether they changed. */
#define LINK_FLAGS_MASK (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

/* Records a link's flags (or that it is gone); new_link_says: what to answer for a link not
 * seen before. Returns whether its flags changed. */
static bool link_flags_set(HelperRoam *ro, int ifindex, unsigned flags, bool removed,
                           bool new_link_says) {
        flags &= LINK_FLAGS_MASK;
        for (size_t i = 0; i < ro->n_links; i++) {
                if (ro->links[i].ifindex != ifindex)
                        continue;
                if (removed) {
                        ro->links[i] = ro->links[--ro->n_links];
                        return true;
                }
                bool changed = ro->links[i].flags != flags;
                ro->links[i].flags = flags;
                return changed;
        }
        if (removed)
                return true;
        RoamLink *l = ARRAY_APPEND(ro->links, ro->n_links);
        if (l)
                *l = (RoamLink){ ifindex, flags };
        return new_link_says;
}

static bool link_flags_update(HelperRoam *ro, const struct ifinfomsg *ifi, bool removed) {
        /* Not seen before: a new link (ifi_change ~0), or one the dump at start missed. */
        return link_flags_set(ro, ifi->ifi_index, ifi->ifi_flags, removed,
                              (ifi->ifi_change & LINK_FLAGS_MASK) != 0);
}

/* The links' flags as they are now. */
static int links_seed(HelperRoam *ro) {
        _cleanup_free_ NetcfgLink *v = NULL;
        size_t n = 0;
        int r = netcfg_read_links(&v, &n, NULL);
        for (size_t i = 0; r >= 0 && i < n; i++)
                (void) link_flags_set(ro, v[i].ifindex, v[i].flags, false, false);
        return r;
}

typedef struct LinkAttrs {
        const char *ifname, *kind;
} LinkAttrs;

static int link_linkinfo_cb(const struct nlattr *a, void *data) {
        LinkAttrs *la = data;
        if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                la->kind = mnl_attr_get_str(a);
        return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data) {
        LinkAttrs *la = data;
        if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                la->ifname = mnl_attr_get_str(a);
        else if (mnl_attr_get_type(a) == IFLA_LINKINFO &&
                 mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0)
                (void) mnl_attr_parse_nested(a, link_linkinfo_cb, la);
        return MNL_CB_OK;
}

static int addr_flags_cb(const struct nlattr *a, void *data) {
        if (mnl_attr_get_type(a) == IFA_FLAGS && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                *(uint32_t *) data = mnl_attr_get_u32(a);
        return MNL_CB_OK;
}

static int route_table_cb(const struct nlattr *a, void *data) {
        if (mnl_attr_get_type(a) == RTA_TABLE && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                *(uint32_t *) data = mnl_attr_get_u32(a);
        return MNL_CB_OK;
}

/* One rtnetlink notification: a description of the change if it counts, else NULL. */
static const char *classify(Manager *m, const struct nlmsghdr *nlh, char *buf, size_t size) {
        switch (nlh->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK: {
                const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
                LinkAttrs la = {};
                if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                        return NULL;
                (void) mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &la);
                /* TUN links are VPNs (ours among them, before their session exists), not an
                 * underlay. A NEWLINK that changes no up/carrier flag is statistics or MTU;
                 * carrier changes come with ifi_change 0, so the flags are compared with what
                 * was last seen. */
                bool changed = link_flags_update(&m->roam, ifi, nlh->nlmsg_type == RTM_DELLINK);
                if (!changed || is_session_link(m, la.ifname) || streq_ptr(la.kind, "tun"))
                        return NULL;
                snprintf(buf, size, "link %s %s", la.ifname ? la.ifname : "?",
                         nlh->nlmsg_type == RTM_DELLINK ? "removed"
                         : (ifi->ifi_flags & (IFF_UP | IFF_LOWER_UP)) == (IFF_UP | IFF_LOWER_UP)
                                 ? "up"
                                 : "down");
                return buf;
        }
        case RTM_NEWADDR:
        case RTM_DELADDR: {
                const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
                char name[IF_NAMESIZE] = "";
                if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
                        return NULL;
                /* Link-local addresses carry no endpoint traffic; a tentative one is not usable
                 * yet (the same address again, without the flag, is the change that counts). */
                uint32_t flags = ifa->ifa_flags;
                (void) mnl_attr_parse(nlh, sizeof(*ifa), addr_flags_cb, &flags);
                if (ifa->ifa_scope >= RT_SCOPE_LINK ||
                    (nlh->nlmsg_type == RTM_NEWADDR && (flags & IFA_F_TENTATIVE)))
                        return NULL;
                if (if_indextoname(ifa->ifa_index, name) && is_session_link(m, name))
                        return NULL;
                snprintf(buf, size, "address %s on %s",
                         nlh->nlmsg_type == RTM_NEWADDR ? "added" : "removed",
                         name[0] ? name : "a removed link");
                return buf;
        }
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
                const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
                if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
                        return NULL;
                uint32_t table = rt->rtm_table;
                (void) mnl_attr_parse(nlh, sizeof(*rt), route_table_cb, &table);
                if (rt->rtm_dst_len != 0 || table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST)
                        return NULL;
                snprintf(buf, size, "IPv%c default route %s",
                         rt->rtm_family == AF_INET6 ? '6' : '4',
                         nlh->nlmsg_type == RTM_NEWROUTE ? "added" : "removed");
                return buf;
        }
        default:
                return NULL;
        }
}

static bool nl_match(const struct nlmsghdr *nlh, void *userdata) {
        Manager *m = userdata;
        char what[96];
        if (!nlh) /* lost notifications: something changed, we cannot tell what */
                helper_roam_trigger(m, "network change", "netlink overrun");
        else if (classify(m, nlh, what, sizeof(what)))
                helper_roam_trigger(m, "network change", what);
        return false; /* the trigger settles changes of every kind itself */
}

static int roam_netlink(Manager *m) {
        static const unsigned groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                           RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE };
        int r = nl_watch_start(&m->roam.watch, m->event, NETLINK_ROUTE, groups, ELEMENTSOF(groups),
                               nl_match, 0, NULL, m);
        if (r < 0)
                return r;
        /* Subscribed first: a change during the dump is then seen as a notification too. */
        r = links_seed(&m->roam);
        if (r < 0)
                log_debug("Cannot list the links (%s): a carrier change on a link is noticed "
                          "after its next one.",
                          strerror(-r));
        return 0;
}

/* ---- logind ---- */

static int on_prepare_for_sleep(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        int going = 0;
        if (sd_bus_message_read(msg, "b", &going) < 0)
                return 0;
        if (going)
                log_info("The system is going to sleep.");
        else
                helper_roam_trigger(m, "resume from sleep", "logind PrepareForSleep(false)");
        return 0;
}

static int roam_logind(Manager *m) {
        HelperRoam *ro = &m->roam;
        int r = sd_bus_open_system(&ro->bus);
        if (r < 0)
                return r;
        /* Asynchronous: no round trip at start, and a bus without logind is no error. */
        r = sd_bus_match_signal_async(ro->bus, NULL, "org.freedesktop.login1",
                                      "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                                      "PrepareForSleep", on_prepare_for_sleep, NULL, m);
        if (r >= 0)
                r = sd_bus_attach_event(ro->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        return r;
}

/* ---- the wall clock ---- */

static int clock_arm(int fd) {
        /* Never expires; CANCEL_ON_SET makes read() fail with ECANCELED on a clock step and on
         * resume from suspend. */
        struct itimerspec its = { .it_value = { .tv_sec = INT32_MAX } };
        return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0
                       ? -errno
                       : 0;
}

static int on_clock(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t ticks;
        if (read(fd, &ticks, sizeof(ticks)) < 0 && errno == ECANCELED) {
                (void) clock_arm(fd);
                helper_roam_trigger(m, "wall clock jump",
                                    "the clock was set, or the system resumed");
        }
        return 0;
}

static int roam_clock(Manager *m) {
        HelperRoam *ro = &m->roam;
        ro->clock_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
        if (ro->clock_fd < 0)
                return -errno;
        int r = clock_arm(ro->clock_fd);
        if (r >= 0)
                r = sd_event_add_io(m->event, &ro->clock_source, ro->clock_fd, EPOLLIN, on_clock,
                                    m);
        return r;
}

/* ---- lifecycle ---- */

int helper_roam_start(Manager *m) {
        m->roam.started = true;
        int r = roam_netlink(m);
        if (r < 0)
                log_warning_errno(r, "Cannot watch rtnetlink, network changes go unnoticed "
                                     "(NetworkManager's hook still rebinds): %m");
        r = roam_logind(m);
        if (r < 0) {
                log_info("No system bus (%s): resume is noticed by the wall clock only.",
                         strerror(-r));
                m->roam.bus = sd_bus_flush_close_unref(m->roam.bus);
        }
        r = roam_clock(m);
        if (r < 0)
                log_warning_errno(r, "Cannot watch the wall clock: %m");
        return 0;
}

void helper_roam_stop(Manager *m) {
        HelperRoam *ro = &m->roam;
        if (!ro->started)
                return;
        ro->started = false;
        ro->first_usec = 0;
        ro->changes = 0;
        ro->settle_timer = sd_event_source_disable_unref(ro->settle_timer);
        ro->clock_source = sd_event_source_disable_unref(ro->clock_source);
        nl_watch_stop(&ro->watch);
        ro->clock_fd = safe_close(ro->clock_fd);
        ro->bus = sd_bus_flush_close_unref(ro->bus);
        free(ro->links);
        ro->links = NULL;
        ro->n_links = 0;
}
