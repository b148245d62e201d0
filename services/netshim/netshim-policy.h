/* What a tunnel may ask the network shim to apply: its profile, exactly, and no more. */
#pragma once

#include <stdbool.h>

#include "common.pb-c.h"

/* The MTU wireguard-go gives its link by itself: what a profile without MTU= runs with. */
#define NETSHIM_ENGINE_DEFAULT_MTU 1420u

/* Checks `req` against `profile` (the WgConfig the shim parsed; its network part holds the
 * union of the peers' AllowedIPs as routes). Every field is the profile's, exactly:
 *  - table, Table = off and fwmark are the profile's;
 *  - addresses are the profile's Address= set, routes the profile's AllowedIPs set (none with
 *    Table = off); a missing one refused as much as an extra one, since a route left out sends
 *    its traffic around the tunnel;
 *  - excluded routes are the profile's ExcludedRoutes= (all of them) plus host routes (/32,
 *    /128) inside the routes, one per peer with an endpoint: a numeric endpoint's own address,
 *    any address for a host name endpoint (its resolution is the tunnel's);
 *  - DNS servers, search and routing domains are the profile's sets, DNS mode and default
 *    route the profile's;
 *  - the MTU is the profile's network MTU (libprofile puts the engine's default, 1420, there
 *    for a profile without MTU=); were it 0, 0 (leave the link as it is) or 1420.
 * Returns 0, or -EPERM with *ret_error naming the first offending field and value (-ENOMEM). */
int netshim_settings_check(const Tund__WgConfig *profile, const Tund__NetworkSettings *req,
                           char **ret_error);

/* True if prefix `inner` lies inside prefix `outer` (same family, at least as long, same bits). */
bool netshim_prefix_within(const Tund__IpPrefix *inner, const Tund__IpPrefix *outer);
