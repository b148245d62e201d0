#include "ipc-test-util.h"

typedef struct Pair {
        sd_event *e;
        IpcConn *cli, *srv;
        IpcMsg *requests[16];
        size_t n_requests;
} Pair;

static int srv_collect(IpcConn *c, IpcMsg *m, void *u) {
        Pair *p = u;
        if (p->n_requests < ELEMENTSOF(p->requests))
                p->requests[p->n_requests++] = ipc_msg_keep(m);
        return 0;
}

static void pair_new(Pair *p) {
        *p = (Pair){};
        ASSERT_OK(sd_event_new(&p->e));
        int sv[2];
        socketpair_or_die(sv);
        ASSERT_OK(ipc_conn_new(&p->srv, p->e, sv[0], &ipc_channel_ctl_server));
        ASSERT_OK(ipc_conn_new(&p->cli, p->e, sv[1], &ipc_channel_ctl_client));
        IpcHandlers h = { .on_message = srv_collect };
        ipc_conn_set_handlers(p->srv, &h, p);
}

static void pair_free(Pair *p) {
        for (size_t i = 0; i < p->n_requests; i++)
                ipc_msg_free(p->requests[i]);
        ipc_conn_close(p->cli, 0, NULL);
        ipc_conn_close(p->srv, 0, NULL);
        ipc_conn_unref(p->cli);
        ipc_conn_unref(p->srv);
        sd_event_unref(p->e);
}

typedef struct Reply {
        int calls;
        int error;
        char version[32];
} Reply;

static void on_reply(IpcConn *c, int error, IpcMsg *m, void *u) {
        Reply *r = u;
        r->calls++;
        r->error = error;
        Tund__Pong *pong = m ? ipc_msg_payload(m, TUND__HELPER_TO_CTL__PAYLOAD_PONG) : NULL;
        if (pong)
                snprintf(r->version, sizeof(r->version), "%s", pong->version);
}

static int64_t send_ping(Pair *p, uint64_t timeout, Reply *r) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        return ipc_conn_call(p->cli, &m.base, NULL, 0, timeout, on_reply, r);
}

static void send_pong(Pair *p, uint64_t response_to, const char *version) {
        Tund__HelperToCtl m = TUND__HELPER_TO_CTL__INIT;
        Tund__Pong pong = TUND__PONG__INIT;
        pong.version = (char *) version;
        m.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_PONG;
        m.pong = &pong;
        ASSERT_OK(ipc_conn_send(p->srv, &m.base, response_to, NULL, 0));
}

static bool all_done(Reply *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (r[i].calls == 0)
                        return false;
        return true;
}

TEST(out_of_order_replies_match_their_calls) {
        Pair p;
        pair_new(&p);
        Reply r[3] = {};
        int64_t id[3];
        for (int i = 0; i < 3; i++)
                ASSERT_TRUE((id[i] = send_ping(&p, 0, &r[i])) > 0);
        ASSERT_EQ(id[0], 1); /* msg_id counts from 1 */
        bool three = false;
        for (int i = 0; i < 2000 && !three; i++) {
                sd_event_run(p.e, 1000);
                three = p.n_requests == 3;
        }
        ASSERT_TRUE(three);
        send_pong(&p, p.requests[2]->msg_id, "third");
        send_pong(&p, p.requests[0]->msg_id, "first");
        send_pong(&p, p.requests[1]->msg_id, "second");
        for (int i = 0; i < 2000 && !all_done(r, 3); i++)
                sd_event_run(p.e, 1000);
        ASSERT_STREQ(r[0].version, "first");
        ASSERT_STREQ(r[1].version, "second");
        ASSERT_STREQ(r[2].version, "third");
        for (int i = 0; i < 3; i++)
                ASSERT_EQ(r[i].calls, 1);
        ASSERT_EQ(ipc_conn_get_pending(p.cli), 0);
        pair_free(&p);
}

TEST(unknown_and_duplicate_response_to_ignored) {
        Pair p;
        pair_new(&p);
        Reply r = {};
        ASSERT_TRUE(send_ping(&p, 0, &r) > 0);
        bool got = false;
        for (int i = 0; i < 2000 && !got; i++) {
                sd_event_run(p.e, 1000);
                got = p.n_requests == 1;
        }
        send_pong(&p, 999, "unknown");
        send_pong(&p, p.requests[0]->msg_id, "real");
        send_pong(&p, p.requests[0]->msg_id, "duplicate");
        run_for(p.e, 100);
        ASSERT_EQ(r.calls, 1);
        ASSERT_STREQ(r.version, "real");
        ASSERT_TRUE(ipc_conn_is_ready(p.cli)); /* ignored, not fatal */
        pair_free(&p);
}

TEST(timeout_fires_exactly_once_and_late_reply_ignored) {
        Pair p;
        pair_new(&p);
        Reply r = {};
        ASSERT_TRUE(send_ping(&p, 50 * 1000, &r) > 0);
        run_for(p.e, 200);
        ASSERT_EQ(r.calls, 1);
        ASSERT_EQ(r.error, -ETIMEDOUT);
        ASSERT_EQ(p.n_requests, 1);
        send_pong(&p, p.requests[0]->msg_id, "late");
        run_for(p.e, 100);
        ASSERT_EQ(r.calls, 1);
        ASSERT_EQ(ipc_conn_get_pending(p.cli), 0);
        pair_free(&p);
}

TEST(peer_close_fails_every_pending_call_once) {
        Pair p;
        pair_new(&p);
        Reply r[4] = {};
        for (int i = 0; i < 4; i++)
                ASSERT_TRUE(send_ping(&p, 10 * USEC_PER_SEC, &r[i]) > 0);
        run_for(p.e, 50);
        ipc_conn_close(p.srv, 0, NULL);
        for (int i = 0; i < 2000 && !all_done(r, 4); i++)
                sd_event_run(p.e, 1000);
        for (int i = 0; i < 4; i++) {
                ASSERT_EQ(r[i].calls, 1);
                ASSERT_EQ(r[i].error, -ECONNRESET);
        }
        ASSERT_TRUE(ipc_conn_is_closed(p.cli));
        ASSERT_CONTAINS(ipc_conn_get_close_reason(p.cli), "peer closed");
        run_for(p.e, 50);
        for (int i = 0; i < 4; i++)
                ASSERT_EQ(r[i].calls, 1);
        pair_free(&p);
}

TEST(call_wait_returns_reply) {
        Pair p;
        pair_new(&p);
        /* A tiny server that answers from its handler. */
        IpcHandlers h = { .on_message = srv_collect };
        ipc_conn_set_handlers(p.srv, &h, &p);
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        IpcMsg *reply = NULL;
        /* No answer: the wait ends with the timeout. */
        ASSERT_EQ(ipc_conn_call_wait(p.cli, &m.base, NULL, 0, 100 * 1000, &reply), -ETIMEDOUT);
        ASSERT_TRUE(reply == NULL);
        pair_free(&p);
}

/* A peer that stops reading is disconnected once its queue bound is hit; others are not. */
TEST(slow_reader_dropped_others_unaffected) {
        Pair slow, fast;
        pair_new(&slow);
        pair_new(&fast);
        run_for(slow.e, 20);
        run_for(fast.e, 20);
        CloseRec cr = {};
        IpcHandlers h = { .on_close = close_rec_cb };
        ipc_conn_set_handlers(slow.srv, &h, &cr);
        ipc_conn_set_queue_max(slow.srv, 64 * 1024);
        /* The slow client's loop is never run again: it never reads. */
        int r = 0;
        Reply fr[101] = {}; /* outlive their calls: they end when the pair is freed */
        for (int i = 0; i < 100000 && r == 0; i++) {
                Tund__HelperToCtl m = TUND__HELPER_TO_CTL__INIT;
                Tund__Pong pong = TUND__PONG__INIT;
                pong.version = "0123456789012345678901234567890123456789";
                m.payload_case = TUND__HELPER_TO_CTL__PAYLOAD_PONG;
                m.pong = &pong;
                r = ipc_conn_send(slow.srv, &m.base, 0, NULL, 0);
                if (i % 1000 == 0) {
                        ASSERT_TRUE(send_ping(&fast, 0, &fr[i / 1000]) > 0);
                        run_for(fast.e, 1);
                }
        }
        ASSERT_EQ(r, -ENOBUFS);
        ASSERT_TRUE(run_until(slow.e, &cr.closed, 2000));
        ASSERT_EQ(cr.error, -ENOBUFS);
        ASSERT_CONTAINS(cr.reason, "not reading");
        ASSERT_TRUE(ipc_conn_is_ready(fast.srv));
        ASSERT_TRUE(fast.n_requests > 0);
        pair_free(&fast);
        pair_free(&slow);
}
