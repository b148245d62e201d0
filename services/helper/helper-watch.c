/* Watch subscribers: live events from tunnels, each subscriber behind its own bounded queue. A
 * subscriber that does not read overflows its queue and is dropped (libipc closes it with
 * -ENOBUFS, helper-control.c logs it); the others never wait for it. The queues together are
 * bounded too (--watch-memory): up to 2,048 subscribers that never read could otherwise hold
 * 2,048 full queues; past the bound the subscriber furthest behind is dropped first. */
#include "log.h"
#include "helper.h"

void helper_watch_subscribe(CtlClient *cc, const char *profile) {
        if (!cc->watching)
                cc->m->n_watchers++;
        cc->watching = true;
        free(cc->watch_profile);
        cc->watch_profile = isempty(profile) ? NULL : strdup(profile);
        ipc_conn_set_queue_max(cc->conn, HELPER_WATCH_QUEUE_MAX);
}

void helper_watch_unsubscribe(CtlClient *cc) {
        if (cc->watching)
                cc->m->n_watchers--;
        cc->watching = false;
        free(cc->watch_profile);
        cc->watch_profile = NULL;
}

/* Past --watch-memory, drops the subscriber with the longest queue until the rest fit. Called
 * only when the send loop's total says so: the common case walks the clients once. */
static void watch_enforce_budget(Manager *m) {
        for (;;) {
                CtlClient *largest = NULL;
                size_t total = 0, most = 0;
                for (CtlClient *cc = LIST_FIRST(&m->clients); cc; cc = LIST_NEXT(cc, link)) {
                        if (!cc->watching || ipc_conn_is_closed(cc->conn))
                                continue;
                        size_t q = ipc_conn_get_queued(cc->conn);
                        total += q;
                        if (q > most) {
                                most = q;
                                largest = cc;
                        }
                }
                if (total <= m->opt.watch_memory_max || !largest)
                        return;
                /* on_ctl_close logs it as a dropped subscriber and frees it. */
                ipc_conn_close(largest->conn, -ENOBUFS,
                               "%zu bytes queued to all watch subscribers, more than "
                               "--watch-memory %llu MiB: dropping the one furthest behind "
                               "(%zu bytes)",
                               total, (unsigned long long) (m->opt.watch_memory_max >> 20), most);
        }
}

/* Events go out one-way (msg_id 0, response_to 0): libipc drops a frame whose response_to
 * names no pending call, so a client could not receive them as replies to its Watch. */
static void watch_send(Manager *m, const char *profile, Tund__WatchEvent *ev) {
        Tund__HelperToCtl r = TUND__HELPER_TO_CTL__INIT;
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_REALTIME, &now);
        ev->profile = (char *) profile;
        ev->time_usec = now;
        r.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_EVENT;
        r.event = ev;
        size_t total = 0;
        for (CtlClient *cc = LIST_FIRST(&m->clients); cc; cc = LIST_NEXT(cc, link)) {
                if (!cc->watching || ipc_conn_is_closed(cc->conn))
                        continue;
                /* -ENOBUFS closes that subscriber later, never in the middle of this loop. */
                if (!cc->watch_profile || streq(cc->watch_profile, profile))
                        (void) helper_control_send(cc->conn, &r, 0);
                total += ipc_conn_get_queued(cc->conn);
        }
        if (total > m->opt.watch_memory_max)
                watch_enforce_budget(m);
}

void helper_watch_send_log(Manager *m, const char *profile, const Tund__Log *log) {
        if (m->n_watchers == 0)
                return;
        Tund__WatchEvent ev = TUND__WATCH_EVENT__INIT;
        ev.event_case = TUND__WATCH_EVENT__EVENT_LOG;
        ev.log = (Tund__Log *) log;
        watch_send(m, profile, &ev);
}

void helper_watch_send_status(Manager *m, const char *profile, const Tund__Status *st) {
        if (m->n_watchers == 0)
                return;
        Tund__WatchEvent ev = TUND__WATCH_EVENT__INIT;
        ev.event_case = TUND__WATCH_EVENT__EVENT_STATUS;
        ev.status = (Tund__Status *) st;
        watch_send(m, profile, &ev);
}

void helper_watch_send_peers(Manager *m, const char *profile, const Tund__PeerUpdate *pu) {
        if (m->n_watchers == 0)
                return;
        Tund__WatchEvent ev = TUND__WATCH_EVENT__INIT;
        ev.event_case = TUND__WATCH_EVENT__EVENT_PEERS;
        ev.peers = (Tund__PeerUpdate *) pu;
        watch_send(m, profile, &ev);
}

/* The helper's own view of a session's state, as a Status event. */
void helper_watch_session_state(Session *s, const char *text) {
        Tund__Status st = TUND__STATUS__INIT;
        st.profile = s->profile;
        st.state = helper_session_state_to_proto(s->state, s->stale);
        st.text = (char *) text;
        st.engine_pid = s->engine_pid;
        helper_watch_send_status(s->m, s->profile, &st);
}
