#include "tunnel-health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg-key.h"

void health_init(HealthTracker *h, uint64_t reresolve_after_usec, uint64_t stale_after_usec) {
        *h = (HealthTracker){
                .reresolve_after_usec = reresolve_after_usec ?: HEALTH_RERESOLVE_AFTER_USEC,
                .stale_after_usec = stale_after_usec ?: HEALTH_STALE_AFTER_USEC,
        };
        h->backoff_usec = MAX(h->reresolve_after_usec / HEALTH_RERESOLVE_BACKOFF_DIV, USEC_PER_SEC);
}

void health_done(HealthTracker *h) {
        free(h->peers);
        h->peers = NULL;
        h->n_peers = 0;
}

static int key_compare(const void *key, const void *peer) {
        return memcmp(key, ((const PeerHealth *) peer)->public_key, WG_KEY_LEN);
}

static int peer_compare(const void *a, const void *b) {
        return memcmp(((const PeerHealth *) a)->public_key, ((const PeerHealth *) b)->public_key,
                      WG_KEY_LEN);
}

static const PeerHealth *find(const HealthTracker *h, const uint8_t key[WG_KEY_LEN]) {
        return h->n_peers > 0 ? bsearch(key, h->peers, h->n_peers, sizeof(PeerHealth), key_compare)
                              : NULL;
}

bool health_peer_stale(const HealthTracker *h, const uint8_t key[WG_KEY_LEN]) {
        const PeerHealth *e = find(h, key);
        return e && e->stale;
}

int health_update(HealthTracker *h, const UapiDevice *d, uint64_t now, HealthResult *ret) {
        PeerHealth *np = calloc(MAX(d->n_peers, (size_t) 1), sizeof(PeerHealth));
        bool stale = false;

        *ret = (HealthResult){};
        if (!np)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_peers; i++) {
                const UapiPeer *p = &d->peers[i];
                const PeerHealth *old = find(h, p->public_key);
                PeerHealth *e = &np[i];

                memcpy(e->public_key, p->public_key, WG_KEY_LEN);
                e->rx_bytes = p->rx_bytes;
                e->tx_bytes = p->tx_bytes;
                e->last_handshake_sec = p->last_handshake_sec;
                e->last_handshake_nsec = p->last_handshake_nsec;
                if (old) {
                        /* A counter that went down is a reset peer: an answer of sorts. */
                        bool answered = p->rx_bytes != old->rx_bytes ||
                                        p->last_handshake_sec != old->last_handshake_sec ||
                                        p->last_handshake_nsec != old->last_handshake_nsec;
                        if (answered)
                                e->first_sent_usec = 0;
                        else if (old->first_sent_usec == 0 && p->tx_bytes > old->tx_bytes)
                                e->first_sent_usec = now;
                        else
                                e->first_sent_usec = old->first_sent_usec;
                }
                uint64_t waiting = e->first_sent_usec ? now - e->first_sent_usec : 0;
                e->stale = e->first_sent_usec && waiting >= h->stale_after_usec;
                stale = stale || e->stale;
                if (e->first_sent_usec && waiting >= ret->unanswered_usec) {
                        ret->unanswered_usec = waiting;
                        ret->worst = i;
                }
        }
        qsort(np, d->n_peers, sizeof(PeerHealth), peer_compare);
        free(h->peers);
        h->peers = np;
        h->n_peers = d->n_peers;

        ret->stale_changed = stale != h->stale;
        h->stale = stale;
        uint64_t base = MAX(h->reresolve_after_usec / HEALTH_RERESOLVE_BACKOFF_DIV, USEC_PER_SEC);
        if (ret->unanswered_usec == 0) {
                h->backoff_usec = base;
                h->next_reresolve_usec = 0;
        } else if (ret->unanswered_usec >= h->reresolve_after_usec &&
                   now >= h->next_reresolve_usec) {
                ret->reresolve = true;
                h->next_reresolve_usec = now + h->backoff_usec;
                h->backoff_usec =
                        MIN(h->backoff_usec * 2, MAX(HEALTH_RERESOLVE_BACKOFF_MAX_USEC, base));
        }
        return 0;
}

void health_rebound(HealthTracker *h, uint64_t now) {
        h->next_reresolve_usec = MAX(h->next_reresolve_usec, now + h->backoff_usec);
}
