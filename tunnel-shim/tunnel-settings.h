/* The NetworkSettingsRequest a tunnel derives from its profile: config.network as given, plus
 * routes from the peers' AllowedIPs and excluded routes for the endpoints those routes would
 * otherwise swallow. */
#pragma once

#include "common.pb-c.h"
#include "tunnel-uapi.h"

/* endpoints[i] is cfg->peers[i]'s resolved endpoint (NULL or AF_UNSPEC: none). Returns 0 and a
 * heap message (free with protobuf_c_message_free_unpacked(…, NULL)), or -EINVAL with a
 * malloc'd sentence in *ret_error naming the bad prefix or server. */
int tunnel_settings_derive(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints,
                           Tund__NetworkSettings **ret, char **ret_error);
/* The same for two sets of endpoints at once (also: NULL, or one per peer like endpoints):
 * both are excluded and both are let through a kill switch. A rebind that moves an endpoint
 * applies this first, so that neither address loops or is dropped while the engine changes. */
int tunnel_settings_derive_both(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints,
                                const UapiEndpoint *also, Tund__NetworkSettings **ret,
                                char **ret_error);
/* Whether prefix p contains address a (4 or 16 bytes). */
bool tunnel_prefix_contains(const Tund__IpPrefix *p, const uint8_t *a, size_t alen);
