#include "tunnel-peers.h"

#include <sys/socket.h>

#include "wg-key.h"

void peer_tracker_init(PeerTracker *t) {
        *t = (PeerTracker) { .bytes_threshold = PEER_DELTA_BYTES_THRESHOLD };
}

void peer_tracker_done(PeerTracker *t) {
        free(t->reported);
        t->reported = NULL;
        t->n_reported = 0;
}

static UapiPeer *tracker_find(const PeerTracker *t, const uint8_t key[WG_KEY_LEN]) {
        for (size_t i = 0; i < t->n_reported; i++)
                if (memcmp(t->reported[i].public_key, key, WG_KEY_LEN) == 0)
                        return &t->reported[i];
        return NULL;
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

bool peer_tracker_changed(const PeerTracker *t, const UapiPeer *p) {
        const UapiPeer *o = tracker_find(t, p->public_key);
        if (!o)
                return true;
        return o->last_handshake_sec != p->last_handshake_sec ||
               o->last_handshake_nsec != p->last_handshake_nsec || !endpoint_equal(o, p) ||
               o->persistent_keepalive != p->persistent_keepalive ||
               counter_moved(o->rx_bytes, p->rx_bytes, t->bytes_threshold) ||
               counter_moved(o->tx_bytes, p->tx_bytes, t->bytes_threshold);
}

static int tracker_record(PeerTracker *t, const UapiPeer *p) {
        UapiPeer *o = tracker_find(t, p->public_key);
        if (!o) {
                UapiPeer *n = reallocarray(t->reported, t->n_reported + 1, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                t->reported = n;
                o = &n[t->n_reported++];
        }
        *o = *p;
        o->allowed_ips = NULL;
        o->n_allowed_ips = 0;
        return 0;
}

int peer_tracker_delta(PeerTracker *t, const UapiDevice *d, bool *ret_changed) {
        int n = 0;
        for (size_t i = 0; i < d->n_peers; i++) {
                ret_changed[i] = peer_tracker_changed(t, &d->peers[i]);
                if (!ret_changed[i])
                        continue;
                int r = tracker_record(t, &d->peers[i]);
                if (r < 0)
                        return r;
                n++;
        }
        return n;
}

int peer_tracker_record_all(PeerTracker *t, const UapiDevice *d) {
        for (size_t i = 0; i < d->n_peers; i++) {
                int r = tracker_record(t, &d->peers[i]);
                if (r < 0)
                        return r;
        }
        return 0;
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
