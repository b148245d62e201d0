/* tund-netshimd PROFILE — the TUN owner of one profile; see tund-netshimd(8). */
#include <sys/prctl.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

#include "log.h"
#include "netshim.h"

static const char *arg_config_dir = PROFILE_DEFAULT_DIR;
static const char *arg_shim_socket = "/run/tund/shim.sock";
static const char *arg_state_dir = "/run/tund/netshim";
static const char *arg_killswitch_dir = "/run/tund/killswitch";
static const char *arg_uapi_dir = "/run/wireguard";
static const char *arg_engine = ENGINE_DEFAULT_PATH;
static const char *arg_engine_group = "tund-engine";
static const char *arg_engine_user = "tund-engine";
static const char *arg_bus_address;
static const char *arg_resolvconf;
static unsigned arg_start_timeout = 60, arg_stop_timeout = 20;
static bool arg_cleanup, arg_profile_stdin, arg_killswitch, arg_killswitch_off;

static void help(void) {
        printf("Usage: tund-netshimd [OPTIONS] PROFILE\n"
               "       tund-netshimd --cleanup PROFILE\n"
               "       tund-netshimd --killswitch|--killswitch-off PROFILE\n\n"
               "Owns the TUN device of one tund profile (/etc/tund/PROFILE.conf): creates it,\n"
               "hands it to tund-helperd, applies the tunnel's routes and DNS, reverts them.\n\n"
               "  --cleanup              remove what a run of PROFILE left behind, then exit;\n"
               "                         its kill switch only if $SERVICE_RESULT is success\n"
               "  --killswitch           set PROFILE's kill switch (KillSwitch = yes), then exit\n"
               "  --killswitch-off       lift PROFILE's kill switch, then exit\n"
               "  --config-dir DIR       profiles directory (default %s)\n"
               "  --profile-stdin        read the profile from standard input, an open file\n"
               "                         (tund@.service: StandardInput=file:/etc/tund/NAME.conf)\n"
               "  --shim-socket PATH     the helper's shim socket (default %s)\n"
               "  --state-dir DIR        where applied state is recorded (default %s)\n"
               "  --killswitch-dir DIR   every profile's kill switch (default %s)\n"
               "  --uapi-dir DIR         wireguard UAPI socket directory (default %s)\n"
               "  --engine PATH          wireguard-go, for the TUN flavour (default %s)\n"
               "  --engine-group NAME    group owning the UAPI socket (default %s)\n"
               "  --engine-user NAME     the engine's user, whose packets bypass a full tunnel\n"
               "                         (default %s; \"\": exempt fwmark 0x7475 instead)\n"
               "  --bus-address ADDR     D-Bus address of systemd-resolved (default: system bus)\n"
               "  --resolvconf PATH      resolvconf program when resolved is absent\n"
               "  --start-timeout SEC    how long the helper may take to start (default %u)\n"
               "  --stop-timeout SEC     how long the helper may take to stop (default %u)\n"
               "  -h, --help             this help\n",
               arg_config_dir, arg_shim_socket, arg_state_dir, arg_killswitch_dir, arg_uapi_dir,
               arg_engine, arg_engine_group, arg_engine_user, arg_start_timeout, arg_stop_timeout);
}

static int parse_uint(const char *s, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || !*s || *end || v > 86400)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

enum {
        ARG_CLEANUP = 0x100,
        ARG_CONFIG_DIR,
        ARG_SHIM_SOCKET,
        ARG_STATE_DIR,
        ARG_UAPI_DIR,
        ARG_ENGINE,
        ARG_ENGINE_GROUP,
        ARG_ENGINE_USER,
        ARG_BUS,
        ARG_RESOLVCONF,
        ARG_START_TO,
        ARG_STOP_TO,
        ARG_PROFILE_STDIN,
        ARG_KILLSWITCH,
        ARG_KILLSWITCH_OFF,
        ARG_KILLSWITCH_DIR,
};

/* The options that set a string, and whether "" means none. */
static const struct {
        int id;
        const char **arg;
        bool empty_is_none;
} string_args[] = {
        { ARG_CONFIG_DIR, &arg_config_dir, false },
        { ARG_SHIM_SOCKET, &arg_shim_socket, false },
        { ARG_STATE_DIR, &arg_state_dir, false },
        { ARG_KILLSWITCH_DIR, &arg_killswitch_dir, false },
        { ARG_UAPI_DIR, &arg_uapi_dir, false },
        { ARG_ENGINE, &arg_engine, false },
        { ARG_ENGINE_GROUP, &arg_engine_group, true },
        { ARG_ENGINE_USER, &arg_engine_user, true },
        { ARG_BUS, &arg_bus_address, false },
        { ARG_RESOLVCONF, &arg_resolvconf, false },
};

/* One option: 0 done, -EINVAL refused (said why). */
static int parse_option(int c, const char *arg) {
        for (size_t i = 0; i < ELEMENTSOF(string_args); i++)
                if (string_args[i].id == c) {
                        *string_args[i].arg = string_args[i].empty_is_none && !*arg ? NULL : arg;
                        return 0;
                }
        switch (c) {
        case ARG_CLEANUP:
                arg_cleanup = true;
                return 0;
        case ARG_KILLSWITCH:
                arg_killswitch = true;
                return 0;
        case ARG_KILLSWITCH_OFF:
                arg_killswitch_off = true;
                return 0;
        case ARG_PROFILE_STDIN:
                arg_profile_stdin = true;
                return 0;
        case ARG_START_TO:
        case ARG_STOP_TO:
                if (parse_uint(arg, c == ARG_START_TO ? &arg_start_timeout : &arg_stop_timeout) <
                    0) {
                        log_error("Invalid timeout: %s", arg);
                        return -EINVAL;
                }
                return 0;
        default:
                return -EINVAL;
        }
}

static int parse_argv(int argc, char **argv, const char **ret_profile) {
        static const struct option opts[] = {
                { "help", no_argument, NULL, 'h' },
                { "cleanup", no_argument, NULL, ARG_CLEANUP },
                { "killswitch", no_argument, NULL, ARG_KILLSWITCH },
                { "killswitch-off", no_argument, NULL, ARG_KILLSWITCH_OFF },
                { "killswitch-dir", required_argument, NULL, ARG_KILLSWITCH_DIR },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "profile-stdin", no_argument, NULL, ARG_PROFILE_STDIN },
                { "shim-socket", required_argument, NULL, ARG_SHIM_SOCKET },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "uapi-dir", required_argument, NULL, ARG_UAPI_DIR },
                { "engine", required_argument, NULL, ARG_ENGINE },
                { "engine-group", required_argument, NULL, ARG_ENGINE_GROUP },
                { "engine-user", required_argument, NULL, ARG_ENGINE_USER },
                { "bus-address", required_argument, NULL, ARG_BUS },
                { "resolvconf", required_argument, NULL, ARG_RESOLVCONF },
                { "start-timeout", required_argument, NULL, ARG_START_TO },
                { "stop-timeout", required_argument, NULL, ARG_STOP_TO },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                if (c == 'h') {
                        help();
                        return 0;
                }
                if (parse_option(c, optarg) < 0)
                        return -EINVAL;
        }
        if (optind != argc - 1) {
                log_error("Expected exactly one profile name. See --help.");
                return -EINVAL;
        }
        if (!profile_name_is_valid(argv[optind])) {
                log_error("Invalid profile name '%s': use 1-32 of [A-Za-z0-9_.-].", argv[optind]);
                return -EINVAL;
        }
        *ret_profile = argv[optind];
        return 1;
}

static int run(int argc, char **argv) {
        const char *profile = NULL;
        log_open("tund-netshimd", LOG_TARGET_AUTO);
        int r = parse_argv(argc, argv, &profile);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        NetshimOptions o = {
                .profile_name = profile,
                .config_dir = arg_config_dir,
                .profile_stdin = arg_profile_stdin,
                .shim_socket = arg_shim_socket,
                .state_dir = arg_state_dir,
                .killswitch_dir = arg_killswitch_dir,
                .uapi_dir = arg_uapi_dir,
                .engine_path = arg_engine,
                .engine_group = arg_engine_group,
                .engine_user = arg_engine_user,
                .bus_address = arg_bus_address,
                .resolvconf = arg_resolvconf,
                .start_timeout_usec = arg_start_timeout * USEC_PER_SEC,
                .stop_timeout_usec = arg_stop_timeout * USEC_PER_SEC,
        };
        /* The profile file (it holds the keys) reaches no program we run: resolvconf. */
        if (arg_profile_stdin)
                (void) fcntl(STDIN_FILENO, F_SETFD, FD_CLOEXEC);
        if (arg_cleanup)
                return netshim_cleanup(&o) < 0 ? NETSHIM_EXIT_FAILURE : 0;
        if (arg_killswitch)
                return netshim_killswitch_boot(&o);
        if (arg_killswitch_off)
                return netshim_killswitch_lift(&o, "tund-netshimd --killswitch-off") < 0
                               ? NETSHIM_EXIT_FAILURE
                               : 0;

        /* The profile's private and preshared keys are read into our memory: no core dumps. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        _cleanup_(manager_freep) Manager *m = NULL;
        r = manager_new(&m, &o);
        if (r < 0)
                return log_error_errno(r, "Cannot set up: %m"), NETSHIM_EXIT_FAILURE;
        r = manager_start(m);
        if (r == -EINVAL) {
                manager_finish(m, NETSHIM_EXIT_CONFIG);
                return NETSHIM_EXIT_CONFIG;
        }
        if (r < 0) {
                manager_finish(m, NETSHIM_EXIT_FAILURE);
                return NETSHIM_EXIT_FAILURE;
        }
        r = sd_event_loop(m->event);
        return r < 0 ? NETSHIM_EXIT_FAILURE : r;
}

int main(int argc, char **argv) {
        return run(argc, argv);
}
