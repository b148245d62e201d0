#include "tunnel-peers.h"

#include <sys/socket.h>

#include "wg-key.h"

void peer_tracker_init(PeerTracker *t) {
        *t = (PeerTracker){ .bytes_threshold = PEER_DELTA_BYTES_THRESHOLD };
}

void peer_tracker_done(PeerTracker *t) {
        free(t->reported);
        t->reported = NULL;
        t->n_reported = t->n_allocated = 0;
}

static int key_compare(const void *key, const void *peer) {
        return memcmp(key, ((const UapiPeer *) peer)->public_key, WG_KEY_LEN);
}

/* A binary search in the first n of reported, which are in key order: a scan per peer made
 * every poll quadratic, seconds for the tens of thousands of peers a get=1 reply can hold. */
static UapiPeer *tracker_find(const PeerTracker *t, size_t n, const uint8_t key[WG_KEY_LEN]) {
        return n > 0 ? bsearch(key, t->reported, n, sizeof(UapiPeer), key_compare) : NULL;
}

static int peer_compare(const void *a, const void *b) {
        return memcmp(((const UapiPeer *) a)->public_key, ((const UapiPeer *) b)->public_key,
                      WG_KEY_LEN);
}

/* Puts the peers appended by tracker_record() in their place. A key recorded twice (a device
 * that lists a peer twice, which uapi_parse_reply() refuses) keeps one record. */
static void tracker_sort(PeerTracker *t) {
        size_t n = 0;
        if (t->n_reported < 2)
                return;
        qsort(t->reported, t->n_reported, sizeof(UapiPeer), peer_compare);
        for (size_t i = 0; i < t->n_reported; i++) {
                if (n > 0 && memcmp(t->reported[n - 1].public_key, t->reported[i].public_key,
                                    WG_KEY_LEN) == 0)
                        n--;
                t->reported[n++] = t->reported[i];
        }
        t->n_reported = n;
}

static bool endpoint_equal(const UapiPeer *a, const UapiPeer *b) {
        if (a->has_endpoint != b->has_endpoint)
                return false;
        if (!a->has_endpoint)
                return true;
        if (a->endpoint.sa.sa_family != b->endpoint.sa.sa_family)
                return false;
        if (a->endpoint.sa.sa_family == AF_INET)
                return a->endpoint.in.sin_port == b->endpoint.in.sin_port &&
                       a->endpoint.in.sin_addr.s_addr == b->endpoint.in.sin_addr.s_addr;
        return a->endpoint.in6.sin6_port == b->endpoint.in6.sin6_port &&
               memcmp(&a->endpoint.in6.sin6_addr, &b->endpoint.in6.sin6_addr, 16) == 0;
}

static bool counter_moved(uint64_t old, uint64_t now, uint64_t threshold) {
        /* Going backwards means the engine's counters were reset: always worth a report. */
        return now < old || now - old >= threshold;
}

static bool changed(const UapiPeer *o, const UapiPeer *p, uint64_t bytes_threshold) {
        if (!o)
                return true;
        return o->last_handshake_sec != p->last_handshake_sec ||
               o->last_handshake_nsec != p->last_handshake_nsec || !endpoint_equal(o, p) ||
               o->persistent_keepalive != p->persistent_keepalive ||
               counter_moved(o->rx_bytes, p->rx_bytes, bytes_threshold) ||
               counter_moved(o->tx_bytes, p->tx_bytes, bytes_threshold);
}

bool peer_tracker_changed(const PeerTracker *t, const UapiPeer *p) {
        return changed(tracker_find(t, t->n_reported, p->public_key), p, t->bytes_threshold);
}

/* Updates o, or appends p (out of order until tracker_sort()). */
static int tracker_record(PeerTracker *t, UapiPeer *o, const UapiPeer *p) {
        if (!o) {
                if (t->n_reported == t->n_allocated) {
                        size_t a = MAX(2 * t->n_allocated, (size_t) 16);
                        UapiPeer *n = reallocarray(t->reported, a, sizeof(*n));
                        if (!n)
                                return -ENOMEM;
                        t->reported = n;
                        t->n_allocated = a;
                }
                o = &t->reported[t->n_reported++];
        }
        *o = *p;
        o->allowed_ips = NULL;
        o->n_allowed_ips = 0;
        return 0;
}

int peer_tracker_delta(PeerTracker *t, const UapiDevice *d, bool *ret_changed) {
        size_t sorted = t->n_reported;
        int n = 0, r = 0;
        for (size_t i = 0; r >= 0 && i < d->n_peers; i++) {
                UapiPeer *o = tracker_find(t, sorted, d->peers[i].public_key);
                ret_changed[i] = changed(o, &d->peers[i], t->bytes_threshold);
                if (!ret_changed[i])
                        continue;
                r = tracker_record(t, o, &d->peers[i]);
                n++;
        }
        tracker_sort(t);
        return r < 0 ? r : n;
}

int peer_tracker_record_all(PeerTracker *t, const UapiDevice *d) {
        size_t sorted = t->n_reported;
        int r = 0;
        for (size_t i = 0; r >= 0 && i < d->n_peers; i++)
                r = tracker_record(t, tracker_find(t, sorted, d->peers[i].public_key),
                                   &d->peers[i]);
        tracker_sort(t);
        return r;
}

static Tund__IpPrefix *prefix_new(const UapiPrefix *p) {
        Tund__IpPrefix *m = malloc(sizeof(*m));
        if (!m)
                return NULL;
        tund__ip_prefix__init(m);
        size_t len = p->family == AF_INET ? 4 : 16;
        m->address.data = malloc(len);
        if (!m->address.data) {
                free(m);
                return NULL;
        }
        memcpy(m->address.data, p->addr, len);
        m->address.len = len;
        m->prefix_len = p->prefix_len;
        return m;
}

int peer_state_from_uapi(const UapiPeer *p, Tund__PeerState **ret) {
        char b64[WG_KEY_B64_LEN + 1], ep[UAPI_ENDPOINT_MAX] = "";
        Tund__PeerState *s = malloc(sizeof(*s));
        if (!s)
                return -ENOMEM;
        tund__peer_state__init(s);
        /* Every string on the heap, so that free_unpacked can free the message. */
        s->public_key = s->endpoint = NULL;
        wg_key_to_base64(b64, p->public_key);
        if (p->has_endpoint)
                (void) uapi_endpoint_format(&p->endpoint, ep, sizeof(ep));
        s->public_key = strdup(b64);
        s->endpoint = strdup(ep);
        s->allowed_ips = calloc(MAX(p->n_allowed_ips, (size_t) 1), sizeof(*s->allowed_ips));
        if (!s->public_key || !s->endpoint || !s->allowed_ips)
                goto oom;
        for (size_t i = 0; i < p->n_allowed_ips; i++) {
                s->allowed_ips[i] = prefix_new(&p->allowed_ips[i]);
                if (!s->allowed_ips[i])
                        goto oom;
                s->n_allowed_ips++;
        }
        s->last_handshake_sec = p->last_handshake_sec;
        s->last_handshake_nsec = p->last_handshake_nsec;
        s->rx_bytes = p->rx_bytes;
        s->tx_bytes = p->tx_bytes;
        s->persistent_keepalive = p->persistent_keepalive;
        s->has_preshared_key = p->has_preshared_key;
        *ret = s;
        return 0;
oom:
        if (!s->public_key)
                s->public_key = (char *) protobuf_c_empty_string;
        if (!s->endpoint)
                s->endpoint = (char *) protobuf_c_empty_string;
        protobuf_c_message_free_unpacked(&s->base, NULL);
        return -ENOMEM;
}

void peer_update_free(Tund__PeerUpdate *u) {
        if (u)
                protobuf_c_message_free_unpacked(&u->base, NULL);
}

int peer_update_build(const char *profile, const UapiDevice *d, const bool *pick, bool delta,
                      Tund__PeerUpdate **ret) {
        Tund__PeerUpdate *u = malloc(sizeof(*u));
        if (!u)
                return -ENOMEM;
        tund__peer_update__init(u);
        u->delta = delta;
        u->profile = strdup(profile ? profile : "");
        u->peers = calloc(MAX(d->n_peers, (size_t) 1), sizeof(*u->peers));
        if (!u->profile || !u->peers) {
                if (!u->profile)
                        u->profile = (char *) protobuf_c_empty_string;
                peer_update_free(u);
                return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_peers; i++) {
                if (pick && !pick[i])
                        continue;
                int r = peer_state_from_uapi(&d->peers[i], &u->peers[u->n_peers]);
                if (r < 0) {
                        peer_update_free(u);
                        return r;
                }
                u->n_peers++;
        }
        *ret = u;
        return 0;
}
