/* tundctl up|down PROFILE: StartUnit/StopUnit of tund@PROFILE.service (mode "replace") over
 * systemd's D-Bus API, then waits for the job's JobRemoved signal. tund-netshimd is
 * Type=notify and answers only when the VPN is really up or down, so the job result is the
 * VPN's. On failure the unit's StatusText and Result and the helper's last_error say why. */
#include <stdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "profile.h"
#include "tundctl.h"

/* TimeoutStartSec of tund@.service is 90 s: wait a little longer unless --timeout says. */
#define UP_TIMEOUT_DEFAULT_USEC (120 * USEC_PER_SEC)

static int up_option(int c, const char *value, void *userdata) {
        UpArgs *a = userdata;

        if (c != 'B')
                return -EINVAL;
        a->no_block = true;
        return 0;
}

int tundctl_up_parse(int argc, char *argv[], bool start, UpArgs *a) {
        static const struct option opts[] = {
                { "no-block", no_argument, NULL, 'B' },
                {},
        };
        const char *verb = start ? "up" : "down";
        int i;

        *a = (UpArgs){ .start = start };
        i = tundctl_getopt(verb, argc, argv, NULL, opts, up_option, a);
        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i != 1)
                return tundctl_usage_error(verb, "expected one profile name");
        if (!profile_name_is_valid(argv[i]))
                return tundctl_usage_error(verb, "not a valid profile name: %s", argv[i]);
        a->profile = argv[i];
        return -1;
}

typedef struct JobWait {
        const char *job; /* our job's object path, once known */
        char result[32];
        bool done;
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->job && streq(path, w->job)) {
                snprintf(w->result, sizeof(w->result), "%s", result);
                w->done = true;
        }
        return 0;
}

/* "StatusText" of the service and "Result", for the failure message. */
static void unit_failure_details(sd_bus *bus, const char *unit, char **ret_status,
                                 char **ret_result) {
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;

        *ret_status = *ret_result = NULL;
        if (sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "GetUnit", &err, &reply, "s",
                               unit) < 0 ||
            sd_bus_message_read(reply, "o", &path) < 0)
                return;
        (void) sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path,
                                          "org.freedesktop.systemd1.Service", "StatusText", NULL,
                                          ret_status);
        (void) sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path,
                                          "org.freedesktop.systemd1.Service", "Result", NULL,
                                          ret_result);
}

/* The helper's last_error for the profile, if it still knows the session. */
static char *helper_last_error(const char *profile) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        const Tund__StatusReply *st;
        uint64_t saved = arg_g.timeout_usec;
        char *e = NULL;

        arg_g.timeout_usec = MIN(saved, 2 * USEC_PER_SEC);
        if (tundctl_get_status(profile, true, &reply, &st) == 0 && st->n_sessions > 0 &&
            !isempty(st->sessions[0]->last_error))
                e = strdup(st->sessions[0]->last_error);
        arg_g.timeout_usec = saved;
        return e;
}

static int bus_error_exit(const sd_bus_error *err, int r) {
        if (sd_bus_error_has_name(err, SD_BUS_ERROR_ACCESS_DENIED) ||
            sd_bus_error_has_name(err, "org.freedesktop.PolicyKit1.Error.NotAuthorized") ||
            sd_bus_error_has_name(err,
                                  "org.freedesktop.systemd1.InteractiveAuthorizationRequired") ||
            r == -EACCES || r == -EPERM)
                return TUNDCTL_EXIT_PERMISSION;
        if (sd_bus_error_has_name(err, "org.freedesktop.systemd1.NoSuchUnit") ||
            sd_bus_error_has_name(err, "org.freedesktop.systemd1.LoadFailed"))
                return TUNDCTL_EXIT_NOT_RUNNING;
        return TUNDCTL_EXIT_FAILURE;
}

static void print_result_json(const char *unit, const UpArgs *a, const char *job,
                              const char *result, const char *status, const char *service_result,
                              const char *last_error, int code) {
        Json j;

        json_init(&j, stdout);
        json_document_begin(&j);
        json_kv_string(&j, "unit", unit);
        json_kv_string(&j, "action", a->start ? "start" : "stop");
        json_kv_string(&j, "job", job);
        json_key(&j, "result");
        if (result)
                json_string(&j, result);
        else
                json_null(&j); /* --no-block */
        json_kv_bool(&j, "ok", code == TUNDCTL_EXIT_OK);
        json_kv_string(&j, "status_text", status);
        json_kv_string(&j, "service_result", service_result);
        json_kv_string(&j, "last_error", last_error);
        json_kv_int(&j, "exit_code", code);
        json_document_end(&j);
}

/* Before asking systemd: a profile that cannot work is reported with its FILE:LINE. */
static int precheck_profile(const char *profile) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *error = NULL;
        int r = profile_load_name(arg_g.config_dir, profile, &p, &error);

        if (r >= 0 || r == -EACCES) /* unreadable for us: systemd will tell */
                return 0;
        if (r == -ENOENT)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "no profile %s/%s.conf", arg_g.config_dir,
                                    profile);
        if (r == -EINVAL || r == -EPERM || r == -EFBIG)
                return tundctl_fail(TUNDCTL_EXIT_INVALID_PROFILE, "%s",
                                    error ? error : strerror(-r));
        return 0;
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Until JobRemoved for w->job arrives: 0, -ETIME after timeout, or the bus's -errno. */
static int wait_job(sd_bus *bus, JobWait *w, uint64_t timeout) {
        uint64_t deadline = monotonic_usec() + timeout;
        while (!w->done) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                uint64_t now = monotonic_usec();
                if (now >= deadline)
                        return -ETIME;
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int run_job(const UpArgs *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_free_ char *status = NULL, *service_result = NULL, *last_error = NULL;
        const char *method = a->start ? "StartUnit" : "StopUnit", *job;
        uint64_t timeout = arg_g.timeout_set ? arg_g.timeout_usec : UP_TIMEOUT_DEFAULT_USEC;
        JobWait w = {};
        char unit[64];
        int r, code;

        snprintf(unit, sizeof(unit), "tund@%s.service", a->profile);
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return tundctl_fail(tundctl_exit_from_errno(r) == TUNDCTL_EXIT_PERMISSION
                                            ? TUNDCTL_EXIT_PERMISSION
                                            : TUNDCTL_EXIT_FAILURE,
                                    "cannot connect to the system bus to ask systemd for %s: %s",
                                    unit, strerror(-r));
        r = sd_bus_match_signal(bus, &slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                "org.freedesktop.systemd1.Manager", "JobRemoved", on_job_removed,
                                &w);
        if (r < 0)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "cannot watch systemd's jobs: %s",
                                    strerror(-r));
        /* Without Subscribe systemd may not send JobRemoved; harmless if it fails. */
        (void) sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                  "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL, "");
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", method, &err, &reply, "ss", unit,
                               "replace");
        if (r < 0)
                return tundctl_fail(bus_error_exit(&err, r), "%s %s: %s", method, unit,
                                    err.message ? err.message : strerror(-r));
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "%s %s: unexpected reply", method, unit);
        w.job = job;

        if (a->no_block) {
                if (arg_g.json)
                        print_result_json(unit, a, job, NULL, NULL, NULL, NULL, TUNDCTL_EXIT_OK);
                else
                        printf("Queued %s of %s (job %s).\n", a->start ? "start" : "stop", unit,
                               job);
                return TUNDCTL_EXIT_OK;
        }

        r = wait_job(bus, &w, timeout);
        if (r == -ETIME)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE,
                                    "%s is still %s after %.0f s (job %s continues; see "
                                    "'systemctl status %s')",
                                    unit, a->start ? "starting" : "stopping",
                                    (double) timeout / USEC_PER_SEC, job, unit);
        if (r < 0)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "lost the system bus: %s", strerror(-r));

        code = streq(w.result, "done") ? TUNDCTL_EXIT_OK : TUNDCTL_EXIT_FAILURE;
        if (code != TUNDCTL_EXIT_OK) {
                unit_failure_details(bus, unit, &status, &service_result);
                last_error = helper_last_error(a->profile);
                tundctl_fail(code, "%s %s %s (job result: %s%s%s)%s%s%s%s",
                             a->start ? "starting" : "stopping", unit, "failed", w.result,
                             isempty(service_result) ? "" : ", service result: ",
                             isempty(service_result) ? "" : service_result,
                             isempty(status) ? "" : ": ", isempty(status) ? "" : status,
                             isempty(last_error) ? "" : "; helper: ",
                             isempty(last_error) ? "" : last_error);
        }
        if (arg_g.json)
                print_result_json(unit, a, job, w.result, status, service_result, last_error, code);
        else if (code == TUNDCTL_EXIT_OK)
                printf("%s %s.\n", a->start ? "Started" : "Stopped", unit);
        return code;
}

static int up_down(int argc, char *argv[], bool start) {
        UpArgs a;
        int r;

        r = tundctl_up_parse(argc, argv, start, &a);
        if (r >= 0)
                return r;
        /* Without systemd as PID 1 there is no tund@.service to start (containers, chroots,
         * test machines): say so instead of a D-Bus error. */
        if (sd_booted() <= 0)
                return tundctl_fail(TUNDCTL_EXIT_NOT_RUNNING,
                                    "%s: systemd is not running as PID 1 here (sd_booted() is "
                                    "false), so there is no tund@%s.service to %s; run "
                                    "'tund-netshimd %s' under another service manager instead",
                                    start ? "up" : "down", a.profile, start ? "start" : "stop",
                                    a.profile);
        if (start) {
                r = precheck_profile(a.profile);
                if (r != 0)
                        return r;
        }
        return run_job(&a);
}

int tundctl_up(int argc, char *argv[]) {
        return up_down(argc, argv, true);
}

int tundctl_down(int argc, char *argv[]) {
        return up_down(argc, argv, false);
}
