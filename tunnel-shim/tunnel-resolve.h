/* Resolving the peers' endpoints with a bound on the time it may take. Numeric endpoints are
 * parsed at once; host names go to getaddrinfo() in one detached thread, whose result arrives
 * through an eventfd. A thread still blocked in the resolver at the deadline is abandoned (it
 * ends on its own and frees what it holds); the caller hears -ETIMEDOUT naming the peer. */
#pragma once

#include <systemd/sd-event.h>

#include "common.pb-c.h"
#include "tunnel-uapi.h"

typedef struct TunnelResolve TunnelResolve;

/* error 0: endpoints[i] for each cfg->peers[i] (AF_UNSPEC: the peer has none), owned by the
 * callee (valid during the callback only); message is empty, or says which host names did
 * not resolve and fell back to their last address (WgPeer.fallback_endpoints). error < 0:
 * message names the peer at fault. */
typedef void (*TunnelResolveHandler)(int error, const UapiEndpoint *endpoints, size_t n,
                                     const char *message, void *userdata);

/* Calls cb exactly once (possibly before returning, from a deferred event: never inline),
 * unless freed first. Returns 0 or -errno (then cb is not called), with *ret_error for a
 * malformed endpoint. */
int tunnel_resolve_start(sd_event *e, const Tund__WgConfig *cfg, uint64_t timeout_usec,
                         TunnelResolveHandler cb, void *userdata, TunnelResolve **ret,
                         char **ret_error);
/* The same when resolving again (Rebind): a host name that does not resolve keeps current[i]
 * (the address in use, newer than any fallback of the profile's) instead of failing. */
int tunnel_resolve_again(sd_event *e, const Tund__WgConfig *cfg, const UapiEndpoint *current,
                         uint64_t timeout_usec, TunnelResolveHandler cb, void *userdata,
                         TunnelResolve **ret, char **ret_error);
TunnelResolve *tunnel_resolve_free(TunnelResolve *r);
