/* ExecStopPost=: whatever happened to the shim, leave nothing of this profile behind. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-login.h>

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

/* Our unit's D-Bus object: by $INVOCATION_ID, which systemd gives ExecStopPost= too (the
 * sandbox can hide /proc/self/cgroup, which sd_pid_get_unit() reads), else by our cgroup. */
static int unit_object(sd_bus *bus, char **ret, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *unit = NULL;
        const char *path;
        sd_id128_t id;
        int r;

        if (sd_id128_from_string(getenv("INVOCATION_ID") ?: "", &id) >= 0) {
                r = sd_bus_message_new_method_call(
                        bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager", "GetUnitByInvocationID");
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', id.bytes, sizeof(id.bytes));
                if (r >= 0)
                        r = sd_bus_call(bus, m, 0, error, &reply);
                if (r < 0)
                        return r;
                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        return r;
                return (*ret = strdup(path)) ? 0 : -ENOMEM;
        }
        r = sd_pid_get_unit(0, &unit);
        if (r < 0)
                return r;
        return sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, ret);
}

/* The type of the job systemd is running on our unit ("restart", "stop"); 0 without
 * systemd, a unit or a job (said in the journal: the switch is then lifted as for a stop). */
static int unit_job_type(char **ret) {
        _cleanup_free_ char *unit_path = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *job_path;
        uint32_t id;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_info_errno(r, "Cannot ask systemd about our unit's job: %m"), 0;
        r = unit_object(bus, &unit_path, &error);
        if (r >= 0)
                r = sd_bus_get_property(bus, "org.freedesktop.systemd1", unit_path,
                                        "org.freedesktop.systemd1.Unit", "Job", &error, &reply,
                                        "(uo)");
        if (r >= 0)
                r = sd_bus_message_read(reply, "(uo)", &id, &job_path);
        if (r < 0)
                return log_info_errno(r, "Cannot read our unit's job from systemd: %s",
                                      error.message ?: strerror(-r)),
                       0;
        if (id == 0)
                return 0;
        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", job_path,
                                       "org.freedesktop.systemd1.Job", "JobType", &error, ret);
        if (r < 0)
                return log_info_errno(r, "Cannot read the type of our unit's job %" PRIu32 ": %s",
                                      id, error.message ?: strerror(-r)),
                       0;
        return 1;
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
         * ended well, which a stop on purpose does (the shim exits 0 after SIGTERM), and not
         * when that stop is half of a restart. */
        const char *result = getenv("SERVICE_RESULT");
        _cleanup_free_ char *job = NULL;
        if (streq_ptr(result, "success") && unit_job_type(&job) > 0 && strstr(job, "restart"))
                log_notice("Kill switch of %s stays in force across the %s.", opts->profile_name,
                           job);
        else if (streq_ptr(result, "success"))
                (void) netshim_killswitch_lift(opts, "the profile was stopped");
        else {
                if (netcfg_killswitch_exists(opts->killswitch_dir, opts->profile_name)) {
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
