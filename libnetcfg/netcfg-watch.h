/* A netlink multicast listener on sd-event, the one every watch uses: the shim's (deletions
 * of what it applied, nf_tables changes to the kill switch) and the helper's (network changes
 * that move the underlay). It subscribes to groups, reads every notification and hands each to
 * match(); lost notifications (ENOBUFS) are handed over as NULL, since something changed.
 * When on_settle is given, a burst of matches is acted on once, settle_usec after the first
 * (a flush or a link going down is a burst); without it, match() acts itself. */
#pragma once

#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

/* h: one notification, or NULL when some were lost. Returns whether it counts. */
typedef bool (*NlWatchMatch)(const struct nlmsghdr *h, void *userdata);

typedef struct NlWatch {
        struct mnl_socket *nl;
        sd_event_source *io, *timer;
        NlWatchMatch match;
        void *userdata;
        uint64_t settle_usec;
} NlWatch;

/* groups: RTNLGRP_* (or NFNLGRP_*) numbers. on_settle may be NULL. Starting a started watch
 * does nothing. */
int nl_watch_start(NlWatch *w, sd_event *e, int protocol, const unsigned *groups, size_t n_groups,
                   NlWatchMatch match, uint64_t settle_usec, sd_event_time_handler_t on_settle,
                   void *userdata);
/* Reads what is queued now, at once (a request that must see the changes reported before it). */
void nl_watch_flush(NlWatch *w);
void nl_watch_stop(NlWatch *w);
