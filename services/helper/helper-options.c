/* Command line parsing, kept apart from main() so unit tests can drive it. */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "helper-options.h"
#include "error-util.h"
#include "macro.h"
#include "verify.h"

enum {
        ARG_LISTEN_DIR = 0x100,
        ARG_IDLE_EXIT,
        ARG_TUNNEL,
        ARG_TUNNEL_SHA256,
        ARG_ENGINE_SHA256,
        ARG_TUNNEL_USER,
        ARG_CONTROL_GROUP,
        ARG_SHIM_UID,
        ARG_START_TIMEOUT,
        ARG_STOP_TIMEOUT,
        ARG_WATCH_MEMORY,
        ARG_RERESOLVE_AFTER,
        ARG_STALE_AFTER,
        ARG_VERSION,
};

void helper_options_init(HelperOptions *o) {
        *o = (HelperOptions){
                .tunnel_path = HELPER_TUNNEL_PATH_DEFAULT,
                .tunnel_user = "tund-engine",
                .control_group = "tund",
                .idle_exit_usec = HELPER_IDLE_EXIT_DEFAULT_SEC * USEC_PER_SEC,
                .start_timeout_usec = HELPER_START_TIMEOUT_DEFAULT_SEC * USEC_PER_SEC,
                .stop_timeout_usec = HELPER_STOP_TIMEOUT_DEFAULT_SEC * USEC_PER_SEC,
                .watch_memory_max = HELPER_WATCH_MEMORY_DEFAULT_MIB * 1024u * 1024u,
        };
}

void helper_help(const char *prog) {
        printf("%s [OPTIONS]\n\n"
               "The tund session helper: spawns tund-tunnel for each network shim session and\n"
               "serves the admin API. Socket-activated (fd names \"control\" and \"shim\").\n\n"
               "  --listen-dir DIR       create DIR/control.sock and DIR/shim.sock instead\n"
               "  --idle-exit SECONDS    exit after this long without sessions or clients\n"
               "                         (default %u, 0 = never)\n"
               "  --tunnel PATH          the tunnel binary (default %s)\n"
               "  --tunnel-sha256 HEX    its pinned SHA-256\n"
               "  --engine-sha256 HEX    wireguard-go's pinned SHA-256 (tund-tunnel checks it)\n"
               "  --tunnel-user NAME     run tunnels as this user when root (default tund)\n"
               "  --control-group NAME   group allowed read requests (default tund)\n"
               "  --shim-user USER|UID   user allowed on the shim socket besides root\n"
               "  --start-timeout SEC    how long a tunnel may take to start (default %u)\n"
               "  --stop-timeout SEC     StopRequest->SIGTERM->SIGKILL steps (default %u)\n"
               "  --watch-memory MIB     queued to all watch subscribers at most (default %u)\n"
               "  --reresolve-after SEC  for tests: re-resolve an endpoint that answered nothing\n"
               "                         for this long while sent to (default 135)\n"
               "  --stale-after SEC      for tests: call such a session stale (default 180)\n"
               "  --version, -h --help\n",
               prog, HELPER_IDLE_EXIT_DEFAULT_SEC, HELPER_TUNNEL_PATH_DEFAULT,
               HELPER_START_TIMEOUT_DEFAULT_SEC, HELPER_STOP_TIMEOUT_DEFAULT_SEC,
               HELPER_WATCH_MEMORY_DEFAULT_MIB);
}

/* Whole seconds, 0..(1 day); "0" allowed when allow_zero. */
static int parse_seconds(const char *s, bool allow_zero, uint64_t *ret) {
        char *end;
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || v > 86400 || (!allow_zero && v == 0))
                return -EINVAL;
        *ret = v * USEC_PER_SEC;
        return 0;
}

static int parse_uid(const char *s, uid_t *ret) {
        char *end;
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v >= (unsigned long) (uid_t) -1)
                return -EINVAL;
        *ret = (uid_t) v;
        return 0;
}

static int parse_watch_memory(const char *arg, HelperOptions *o, char **ret_error) {
        char *end;
        errno = 0;
        unsigned long long v = isdigit((unsigned char) arg[0]) ? strtoull(arg, &end, 10) : 0;
        if (v == 0 || errno || *end || v > HELPER_WATCH_MEMORY_MAX_MIB)
                return error_set(ret_error, -EINVAL,
                                 "--watch-memory: not a number of MiB between 1 and %u: %s",
                                 HELPER_WATCH_MEMORY_MAX_MIB, arg);
        o->watch_memory_max = v * 1024u * 1024u;
        return 0;
}

/* --shim-user: a uid (all digits), else a user name, looked up later. */
static int parse_shim_user(const char *arg, HelperOptions *o, char **ret_error) {
        if (isempty(arg))
                return error_set(ret_error, -EINVAL, "--shim-user: empty name");
        o->shim_uid_set = parse_uid(arg, &o->shim_uid) >= 0;
        if (!o->shim_uid_set && arg[strspn(arg, "0123456789")] == '\0')
                return error_set(ret_error, -EINVAL, "--shim-user: not a uid: %s", arg);
        o->shim_user = o->shim_uid_set ? NULL : arg;
        return 0;
}

/* One option with its argument (getopt_long's optarg); 1 for one it does not know. */
static int parse_option(int c, const char *arg, HelperOptions *o, char **ret_error) {
        static char sha[65], engine_sha[65];
        switch (c) {
        case 'h':
                o->help = true;
                return 0;
        case ARG_VERSION:
                o->version = true;
                return 0;
        case ARG_LISTEN_DIR:
                if (arg[0] != '/')
                        return error_set(ret_error, -EINVAL,
                                         "--listen-dir needs an absolute path: %s", arg);
                o->listen_dir = arg;
                return 0;
        case ARG_IDLE_EXIT:
                if (parse_seconds(arg, true, &o->idle_exit_usec) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "--idle-exit: not a number of seconds: %s", arg);
                return 0;
        case ARG_TUNNEL:
                if (arg[0] != '/')
                        return error_set(ret_error, -EINVAL, "--tunnel needs an absolute path: %s",
                                         arg);
                o->tunnel_path = arg;
                return 0;
        case ARG_TUNNEL_SHA256:
                if (!verify_sha256_hex_valid(arg, sha))
                        return error_set(ret_error, -EINVAL,
                                         "--tunnel-sha256: not 64 hex digits: %s", arg);
                o->tunnel_sha256 = sha;
                return 0;
        case ARG_ENGINE_SHA256:
                if (!verify_sha256_hex_valid(arg, engine_sha))
                        return error_set(ret_error, -EINVAL,
                                         "--engine-sha256: not 64 hex digits: %s", arg);
                o->engine_sha256 = engine_sha;
                return 0;
        case ARG_TUNNEL_USER:
                if (isempty(arg))
                        return error_set(ret_error, -EINVAL, "--tunnel-user: empty name");
                o->tunnel_user = arg;
                return 0;
        case ARG_CONTROL_GROUP:
                if (isempty(arg))
                        return error_set(ret_error, -EINVAL, "--control-group: empty name");
                o->control_group = arg;
                return 0;
        case ARG_SHIM_UID:
                return parse_shim_user(arg, o, ret_error);
        case ARG_START_TIMEOUT:
                if (parse_seconds(arg, false, &o->start_timeout_usec) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "--start-timeout: not a positive number: %s", arg);
                return 0;
        case ARG_STOP_TIMEOUT:
                if (parse_seconds(arg, false, &o->stop_timeout_usec) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "--stop-timeout: not a positive number: %s", arg);
                return 0;
        case ARG_WATCH_MEMORY:
                return parse_watch_memory(arg, o, ret_error);
        case ARG_RERESOLVE_AFTER:
        case ARG_STALE_AFTER: {
                uint64_t *v =
                        c == ARG_STALE_AFTER ? &o->stale_after_usec : &o->reresolve_after_usec;
                if (parse_seconds(arg, false, v) < 0)
                        return error_set(ret_error, -EINVAL, "--%s: not 1..86400 seconds: %s",
                                         c == ARG_STALE_AFTER ? "stale-after" : "reresolve-after",
                                         arg);
                return 0;
        }
        default:
                return 1;
        }
}

int helper_parse_argv(int argc, char *argv[], HelperOptions *o, char **ret_error) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "listen-dir", required_argument, NULL, ARG_LISTEN_DIR },
                { "idle-exit", required_argument, NULL, ARG_IDLE_EXIT },
                { "tunnel", required_argument, NULL, ARG_TUNNEL },
                { "tunnel-sha256", required_argument, NULL, ARG_TUNNEL_SHA256 },
                { "engine-sha256", required_argument, NULL, ARG_ENGINE_SHA256 },
                { "tunnel-user", required_argument, NULL, ARG_TUNNEL_USER },
                { "control-group", required_argument, NULL, ARG_CONTROL_GROUP },
                { "shim-user", required_argument, NULL, ARG_SHIM_UID },
                { "shim-uid", required_argument, NULL, ARG_SHIM_UID }, /* its old name */
                { "start-timeout", required_argument, NULL, ARG_START_TIMEOUT },
                { "stop-timeout", required_argument, NULL, ARG_STOP_TIMEOUT },
                { "reresolve-after", required_argument, NULL, ARG_RERESOLVE_AFTER },
                { "stale-after", required_argument, NULL, ARG_STALE_AFTER },
                { "watch-memory", required_argument, NULL, ARG_WATCH_MEMORY },
                {},
        };
        int c;

        if (ret_error)
                *ret_error = NULL;
        optind = 0; /* full reinitialisation: tests parse several argv in one process */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                int r = parse_option(c, optarg, o, ret_error);
                if (r <= 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (optopt > 0 && optopt < 0x80)
                        return error_set(ret_error, -EINVAL,
                                         "unknown option or missing argument: -%c", optopt);
                return error_set(ret_error, -EINVAL, "unknown option or missing argument: %s",
                                 argv[optind - 1]);
        }
        if (optind < argc)
                return error_set(ret_error, -EINVAL, "unexpected argument: %s", argv[optind]);
        return 0;
}
