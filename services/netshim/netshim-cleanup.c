/* ExecStopPost=: whatever happened to the shim, leave nothing of this profile behind. */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "netshim.h"

/* The interface name without trusting the profile to parse (it may be what broke). */
static void cleanup_ifname(const NetshimOptions *opts, char ifname[PROFILE_IFNAME_MAX + 1]) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *err = NULL;
        if (netshim_profile_load(opts, &p, &err) >= 0) {
                snprintf(ifname, PROFILE_IFNAME_MAX + 1, "%s", p->ifname);
                return;
        }
        snprintf(ifname, PROFILE_IFNAME_MAX + 1, "tund-%s", opts->profile_name);
}

int netshim_cleanup(const NetshimOptions *opts) {
        char ifname[PROFILE_IFNAME_MAX + 1];
        cleanup_ifname(opts, ifname);
        NetcfgOptions nopts = { .bus_address = opts->bus_address, .resolvconf = opts->resolvconf };
        int ret = 0;

        _cleanup_free_ char *state = netshim_state_path(opts, opts->profile_name);
        _cleanup_free_ char *err = NULL;
        NetcfgContext *ctx = NULL;
        if (state && netcfg_state_load(&ctx, state, &nopts, &err) >= 0) {
                free(err), err = NULL;
                int r = netcfg_revert(ctx, &err);
                netcfg_free(ctx);
                if (r < 0)
                        ret = log_warning_errno(r, "Reverting %s failed: %s", ifname, err);
                else
                        log_info("Reverted the settings recorded in %s.", state);
        }
        if (state)
                (void) unlink(state);
        free(err), err = NULL;
        /* The table and rule span are this profile's only while it holds their slot; without
         * one, only what is on its link. */
        int slot = netshim_slot_find(opts->state_dir, opts->profile_name);
        if (slot >= 0) {
                nopts.table = NETCFG_SLOT_TABLE((unsigned) slot);
                nopts.rule_priority = NETCFG_SLOT_PRIORITY((unsigned) slot);
        } else
                nopts.link_only = true;
        int r = netcfg_reconcile(ifname, &nopts, &err);
        if (r < 0)
                ret = log_warning_errno(r, "Reconcile of %s failed: %s", ifname, err);
        else if (r > 0)
                log_info("Removed %d leftover routes/rules of %s.", r, ifname);
        if (r >= 0 && slot >= 0)
                netshim_slot_release(opts->state_dir, opts->profile_name);

        /* The kill switch outlives every failure: it goes only when systemd says the service
         * ended well, which a stop on purpose does (the shim exits 0 after SIGTERM). */
        const char *result = getenv("SERVICE_RESULT");
        if (streq_ptr(result, "success"))
                (void) netshim_killswitch_lift(opts, "the profile was stopped");
        else {
                NetcfgKillswitch ks;
                _cleanup_free_ char *kerr = NULL;
                if (netcfg_killswitch_load(opts->killswitch_dir, opts->profile_name, &ks, &kerr) >=
                    0) {
                        netcfg_killswitch_done(&ks);
                        log_notice("Kill switch of %s stays in force (the service ended with "
                                   "\"%s\"): nothing leaves around the tunnel until the profile "
                                   "runs again or is stopped on purpose (systemctl stop "
                                   "tund-killswitch@%s lifts it now).",
                                   opts->profile_name, result ?: "no result", opts->profile_name);
                }
        }

        _cleanup_free_ char *uapi = NULL;
        if (asprintf(&uapi, "%s/%s.sock", opts->uapi_dir, ifname) >= 0 && unlink(uapi) >= 0)
                log_info("Removed the stale UAPI socket %s.", uapi);
        return ret;
}
