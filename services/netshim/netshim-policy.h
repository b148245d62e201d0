/* What a tunnel may ask the network shim to apply: never more than its profile allows. */
#pragma once

#include <stdbool.h>

#include "common.pb-c.h"

/* Checks `req` against `allowed` (the profile's own NetworkSettings): addresses must be the
 * profile's; routes and excluded routes must lie inside the profile's routes (its peers'
 * AllowedIPs) or its excluded routes; DNS servers and domains must be the profile's; table,
 * fwmark and DNS mode must match; the MTU must be 0 or 576..65535 (1280 for IPv6).
 * Returns 0, or -EPERM with *ret_error naming the first offending item. */
int netshim_settings_check(const Tund__NetworkSettings *allowed, const Tund__NetworkSettings *req,
                           char **ret_error);

/* True if prefix `inner` lies inside prefix `outer` (same family, at least as long, same bits). */
bool netshim_prefix_within(const Tund__IpPrefix *inner, const Tund__IpPrefix *outer);
