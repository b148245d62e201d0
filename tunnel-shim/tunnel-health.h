/* Is the tunnel alive? Fed every peer poll (get=1), this tells for each peer whether it has
 * been sent data that nothing answered, and for how long. Two thresholds act on that:
 *   reresolve: the endpoints are resolved and set again (the address may have moved, the
 *              underlay path changed), then again after a backoff while nothing answers;
 *   stale:     the session is shown `stale` until the peer answers again.
 * "Answered" is a new handshake or received bytes, which only a live peer produces (after
 * 180 s without a handshake WireGuard's keys are dead, so a live tunnel that sends shows one
 * within that). "Sent" is transmitted bytes, which grow with data, handshake initiations and
 * keepalives alike: an idle tunnel without keepalives is never stale.
 * Pure logic on monotonic microseconds, no I/O: test/unit/test-tunnel-health.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "tunnel-uapi.h"

/* WireGuard gives up a handshake attempt after 90 s (REKEY_ATTEMPT_TIME) and starts one every
 * 5 s (REKEY_TIMEOUT) until then; contrib's reresolve-dns and wg-quick users re-resolve after
 * 135 s without a handshake: an endpoint that answered nothing for that long is worth looking
 * up again. */
#define HEALTH_RERESOLVE_AFTER_USEC (135 * USEC_PER_SEC)
/* 180 s = REJECT_AFTER_TIME: no session key is usable any more, so a sending tunnel that has
 * not had a handshake for this long carries no traffic at all. */
#define HEALTH_STALE_AFTER_USEC (180 * USEC_PER_SEC)
/* After a re-resolution that did not help, the next one waits reresolve/9 (15 s by default,
 * three handshake attempts), doubling up to HEALTH_RERESOLVE_BACKOFF_MAX_USEC: a dead server
 * costs a few lookups an hour, not one every poll. */
#define HEALTH_RERESOLVE_BACKOFF_DIV 9u
#define HEALTH_RERESOLVE_BACKOFF_MAX_USEC (300 * USEC_PER_SEC)

typedef struct PeerHealth {
        uint8_t public_key[32];
        uint64_t rx_bytes, tx_bytes;
        int64_t last_handshake_sec, last_handshake_nsec;
        uint64_t first_sent_usec; /* the first tx growth since the last answer (new handshake
                                   * or rx growth), 0 = none: then it is not waiting */
        bool stale;
} PeerHealth;

typedef struct HealthTracker {
        PeerHealth *peers; /* in key order */
        size_t n_peers;
        uint64_t reresolve_after_usec, stale_after_usec;
        uint64_t backoff_usec;        /* the next wait after a fruitless re-resolution */
        uint64_t next_reresolve_usec; /* not before this (0 = when the threshold is reached) */
        bool stale;                   /* the session: some peer is */
} HealthTracker;

typedef struct HealthResult {
        bool stale_changed;       /* tracker->stale flipped with this update */
        bool reresolve;           /* time to re-resolve (the caller does; backoff is armed) */
        uint64_t unanswered_usec; /* the longest a peer has been sent to without an answer */
        size_t worst;             /* index into d->peers of that peer (valid if unanswered) */
} HealthResult;

/* 0 thresholds: the defaults above. */
void health_init(HealthTracker *h, uint64_t reresolve_after_usec, uint64_t stale_after_usec);
void health_done(HealthTracker *h);
/* One poll's peers at monotonic time now. 0 or -ENOMEM (then the tracker is unchanged). */
int health_update(HealthTracker *h, const UapiDevice *d, uint64_t now, HealthResult *ret);
/* Whether the peer with this key is stale (false if unknown). */
bool health_peer_stale(const HealthTracker *h, const uint8_t key[32]);
/* Something was done about it from outside (a rebind for a network change, resume): the next
 * automatic re-resolution waits for the threshold again, counted from now. */
void health_rebound(HealthTracker *h, uint64_t now);
