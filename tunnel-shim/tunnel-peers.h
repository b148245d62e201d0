/* Peer state: the engine's `get=1` as PeerState messages, and the deltas worth telling the
 * helper about between two polls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.pb-c.h"
#include "tunnel-uapi.h"

/* rx/tx changes smaller than this are not worth an unsolicited update on their own: keepalives
 * alone (32 bytes each way) would otherwise make every poll a delta. */
#define PEER_DELTA_BYTES_THRESHOLD (64u * 1024u)

/* What was last reported per peer. */
typedef struct PeerTracker {
        UapiPeer *reported; /* in key order; allowed_ips not kept */
        size_t n_reported, n_allocated;
        uint64_t bytes_threshold;
} PeerTracker;

void peer_tracker_init(PeerTracker *t);
void peer_tracker_done(PeerTracker *t);
/* Whether peer differs from what was reported in a way the helper should hear about: a new
 * peer, a new handshake, a moved endpoint, counters past the threshold or reset. */
bool peer_tracker_changed(const PeerTracker *t, const UapiPeer *p);
/* Fills ret_changed (an array of d->n_peers bools, caller-allocated) and records those peers as
 * reported. Returns the number of changed peers, or -ENOMEM. */
int peer_tracker_delta(PeerTracker *t, const UapiDevice *d, bool *ret_changed);
/* Records every peer of d as reported (after a full GetPeers reply). */
int peer_tracker_record_all(PeerTracker *t, const UapiDevice *d);

/* A heap PeerState for p (free with protobuf_c_message_free_unpacked(…, NULL)). */
int peer_state_from_uapi(const UapiPeer *p, Tund__PeerState **ret);
/* A heap PeerUpdate with the peers of d selected by pick (NULL: all). */
int peer_update_build(const char *profile, const UapiDevice *d, const bool *pick, bool delta,
                      Tund__PeerUpdate **ret);
void peer_update_free(Tund__PeerUpdate *u);
