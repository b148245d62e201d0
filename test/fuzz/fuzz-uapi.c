/* libFuzzer harness for the UAPI reply parser (tunnel-shim/tunnel-uapi.c): whatever an engine
 * writes back must parse or fail cleanly, never crash, and a parsed device must survive the
 * conversions the tunnel applies to it (PeerState, delta tracking). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tunnel-peers.h"
#include "tunnel-uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        UapiDevice d = {};
        char *err = NULL;

        (void) uapi_reply_complete((const char *) data, size);
        if (uapi_parse_reply((const char *) data, size, &d, &err) < 0) {
                if (!err)
                        abort(); /* every refusal explains itself */
                free(err);
                return 0;
        }
        if (err)
                abort();

        PeerTracker t;
        peer_tracker_init(&t);
        bool *changed = calloc(d.n_peers + 1, sizeof(bool));
        if (changed && peer_tracker_delta(&t, &d, changed) >= 0) {
                Tund__PeerUpdate *u = NULL;
                if (peer_update_build("fuzz", &d, changed, true, &u) >= 0)
                        peer_update_free(u);
                /* The same state again is no change at all. */
                if (peer_tracker_delta(&t, &d, changed) > 0)
                        abort();
        }
        free(changed);
        peer_tracker_done(&t);
        uapi_device_done(&d);
        return 0;
}
