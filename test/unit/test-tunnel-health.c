/* The tunnel's health tracker (tunnel-health.c): when a peer counts as unanswered, stale,
 * and worth resolving again, with backoff. Times are made up: monotonic microseconds. */
#include "tests.h"
#include "tunnel-health.h"

#define S(x) ((uint64_t) (x) *USEC_PER_SEC)

static UapiPeer peer(uint8_t id, uint64_t rx, uint64_t tx, int64_t hs) {
        UapiPeer p = {};
        memset(p.public_key, id, sizeof(p.public_key));
        p.rx_bytes = rx;
        p.tx_bytes = tx;
        p.last_handshake_sec = hs;
        return p;
}

static HealthResult feed(HealthTracker *h, UapiPeer *ps, size_t n, uint64_t now) {
        UapiDevice d = { .peers = ps, .n_peers = n };
        HealthResult r;
        ASSERT_OK(health_update(h, &d, now, &r));
        return r;
}

TEST(health_idle_is_never_stale) {
        HealthTracker h;
        health_init(&h, S(135), S(180));
        UapiPeer p = peer(1, 100, 100, 1000);
        for (int t = 0; t < 1000; t += 2) {
                HealthResult r = feed(&h, &p, 1, S(t));
                ASSERT_TRUE(!r.stale_changed && !r.reresolve && r.unanswered_usec == 0);
        }
        health_done(&h);
}

TEST(health_answered_traffic_is_fine) {
        HealthTracker h;
        health_init(&h, S(135), S(180));
        UapiPeer p = peer(1, 100, 100, 1000);
        for (int t = 0; t < 1000; t += 2) {
                p.tx_bytes += 500;
                p.rx_bytes += 300; /* answers: no handshake needed for it to count */
                HealthResult r = feed(&h, &p, 1, S(t));
                ASSERT_TRUE(!h.stale && !r.reresolve);
        }
        health_done(&h);
}

TEST(health_unanswered_reresolves_then_stale_then_recovers) {
        HealthTracker h;
        health_init(&h, S(135), S(180));
        UapiPeer ps[2] = { peer(1, 100, 100, 1000), peer(2, 50, 50, 900) };
        HealthResult r = feed(&h, ps, 2, S(0));
        ASSERT_TRUE(r.unanswered_usec == 0);
        /* Peer 2 is sent to from t=2 on; nothing comes back. */
        int reresolves = 0, t;
        for (t = 2; t <= 180; t += 2) {
                ps[1].tx_bytes += 148;
                r = feed(&h, ps, 2, S(t));
                ASSERT_EQ(r.unanswered_usec, S(t - 2));
                ASSERT_EQ(r.worst, 1);
                reresolves += r.reresolve;
                if (r.reresolve)
                        ASSERT_TRUE(t - 2 >= 135);
                ASSERT_TRUE(!r.stale_changed);
        }
        /* Once at 135 s, again after 15 s (135/9), then not before 30 s more. */
        ASSERT_EQ(reresolves, 2);
        ASSERT_TRUE(!h.stale);
        ps[1].tx_bytes += 148;
        r = feed(&h, ps, 2, S(182));
        ASSERT_TRUE(r.stale_changed && h.stale);
        ASSERT_TRUE(!health_peer_stale(&h, ps[0].public_key));
        ASSERT_TRUE(health_peer_stale(&h, ps[1].public_key));
        /* Still stale: no second transition. */
        r = feed(&h, ps, 2, S(184));
        ASSERT_TRUE(!r.stale_changed && h.stale);
        /* A handshake: running again, and the backoff is back at its start. */
        ps[1].last_handshake_sec = 1200;
        r = feed(&h, ps, 2, S(186));
        ASSERT_TRUE(r.stale_changed && !h.stale && r.unanswered_usec == 0);
        ASSERT_EQ(h.backoff_usec, S(15));
        health_done(&h);
}

TEST(health_long_idle_then_send_is_not_stale_at_once) {
        HealthTracker h;
        health_init(&h, S(135), S(180));
        UapiPeer p = peer(1, 100, 100, 1000);
        feed(&h, &p, 1, S(0));
        feed(&h, &p, 1, S(3600)); /* an hour idle */
        p.tx_bytes += 148;        /* then a packet: counted from now, not from an hour ago */
        HealthResult r = feed(&h, &p, 1, S(3602));
        ASSERT_TRUE(!r.stale_changed && !r.reresolve && r.unanswered_usec == 0);
        p.tx_bytes += 148;
        r = feed(&h, &p, 1, S(3604));
        ASSERT_EQ(r.unanswered_usec, S(2));
        health_done(&h);
}

TEST(health_backoff_caps_and_rebound_defers) {
        HealthTracker h;
        health_init(&h, S(9), S(1000));
        UapiPeer p = peer(1, 0, 0, 0);
        feed(&h, &p, 1, S(0));
        uint64_t last = 0, gaps[8];
        size_t n = 0;
        for (int t = 1; t < 4000 && n < 8; t++) {
                p.tx_bytes++;
                HealthResult r = feed(&h, &p, 1, S(t));
                if (r.reresolve) {
                        if (last)
                                gaps[n++] = S(t) - last;
                        last = S(t);
                }
        }
        /* base 1 s (9/9), doubling, capped at 300 s */
        ASSERT_EQ(gaps[0], S(1));
        ASSERT_EQ(gaps[1], S(2));
        ASSERT_EQ(gaps[2], S(4));
        ASSERT_EQ(gaps[7], S(128));
        health_done(&h);

        /* A rebind from outside (network change) puts the next one off by the backoff. */
        health_init(&h, S(9), S(1000));
        p = peer(1, 0, 0, 0);
        feed(&h, &p, 1, S(0));
        p.tx_bytes++;
        feed(&h, &p, 1, S(1));
        health_rebound(&h, S(10)); /* next one not before 11 s */
        p.tx_bytes++;
        ASSERT_TRUE(!feed(&h, &p, 1, S(10)).reresolve);
        p.tx_bytes++;
        ASSERT_TRUE(feed(&h, &p, 1, S(11)).reresolve);
        health_done(&h);
}

TEST(health_defaults) {
        HealthTracker h;
        health_init(&h, 0, 0);
        ASSERT_EQ(h.reresolve_after_usec, S(135));
        ASSERT_EQ(h.stale_after_usec, S(180));
        ASSERT_EQ(h.backoff_usec, S(15));
        health_done(&h);
}
