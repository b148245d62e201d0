/* tund-tunnel: the tunnel shim. See tunnel.h for the lifecycle and proto/tunnel.proto for the
 * channel. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>

#include "engine.h"
#include "log.h"
#include "macro.h"
#include "tunnel-engine.h"
#include "tunnel.h"

static char arg_engine_sha256[65];

static TunnelArgs arg = {
        .engine_path = ENGINE_DEFAULT_PATH,
        .engine_log_level = "error",
};

static void help(void) {
        printf("Usage: tund-tunnel [--engine PATH] [--engine-sha256 HEX] [--engine-log-level "
               "LEVEL]\n"
               "                   [--allow-root]\n"
               "Started by tund-helperd with the tunnel channel on fd 3, the TUN on fd 4 and\n"
               "the UAPI listening socket on fd 5.\n"
               "  --engine PATH             wireguard-go binary (default %s)\n"
               "  --engine-sha256 HEX       its pinned SHA-256\n"
               "  --engine-log-level LEVEL  LOG_LEVEL for the engine: error, verbose, silent\n"
               "  --allow-root              run as root, and run an engine that fails\n"
               "                            verification by path (tests only)\n",
               ENGINE_DEFAULT_PATH);
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_ENGINE = 0x100, ARG_ENGINE_SHA256, ARG_LEVEL, ARG_ALLOW_ROOT, ARG_VERSION };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "engine", required_argument, NULL, ARG_ENGINE },
                { "engine-sha256", required_argument, NULL, ARG_ENGINE_SHA256 },
                { "engine-log-level", required_argument, NULL, ARG_LEVEL },
                { "allow-root", no_argument, NULL, ARG_ALLOW_ROOT },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("tund-tunnel %s\n", TUND_VERSION);
                        return 0;
                case ARG_ENGINE:
                        if (optarg[0] != '/') {
                                log_error("--engine needs an absolute path");
                                return -EINVAL;
                        }
                        arg.engine_path = optarg;
                        break;
                case ARG_ENGINE_SHA256:
                        if (!verify_sha256_hex_valid(optarg, arg_engine_sha256)) {
                                log_error("--engine-sha256: not 64 hex digits: %s", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_LEVEL:
                        if (!streq(optarg, "error") && !streq(optarg, "verbose") &&
                            !streq(optarg, "debug") && !streq(optarg, "silent")) {
                                log_error("unknown engine log level \"%s\"", optarg);
                                return -EINVAL;
                        }
                        arg.engine_log_level = optarg;
                        break;
                case ARG_ALLOW_ROOT:
                        arg.allow_root = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("unexpected argument \"%s\"", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int run(int argc, char **argv) {
        Tunnel *t = NULL;
        sigset_t ss;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? TUNNEL_EXIT_USAGE : TUNNEL_EXIT_OK;
        if ((getuid() == 0 || geteuid() == 0) && !arg.allow_root) {
                log_error("refusing to run as root: tund-tunnel runs as the tund user with at "
                          "most CAP_NET_ADMIN (--allow-root is for tests)");
                return TUNNEL_EXIT_USAGE;
        }
        /* The helper's death ends us too (EOF on fd 3 does as well; this covers a wedged
         * helper). The engine in turn is ended by our stop path. */
        pid_t parent = getppid();
        if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 || getppid() != parent) {
                log_error("parent already gone");
                return TUNNEL_EXIT_FAILURE;
        }
        /* We hold the private and preshared keys: no core dumps, no ptrace by the tund user's
         * other processes (the engine we exec gets the default back). */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        /* Peers that went away show up as EPIPE, not as our death. */
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGCHLD);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        r = tunnel_new(&t, &arg);
        if (r < 0) {
                tunnel_free(t);
                return r == -ENOTSOCK || r == -EAFNOSUPPORT || r == -ESOCKTNOSUPPORT ||
                                       r == -EBADF || r == -ENOTTY || r == -EINVAL
                               ? TUNNEL_EXIT_USAGE
                               : TUNNEL_EXIT_FAILURE;
        }
        /* The engine is verified like we were (root-owned file and parents, nothing group- or
         * other-writable, the pinned hash) and that open file is what runs, however late.
         * Only now, with fds 3-5 taken: its fd must not take a number we inherit. */
        _cleanup_free_ char *err = NULL;
        VerifyOptions vo = { .trusted_uid = 0,
                             .sha256_hex = arg_engine_sha256[0] ? arg_engine_sha256 : NULL };
        r = tunnel_engine_verify(arg.engine_path, &vo, &err);
        if (r < 0 && (!arg.allow_root || vo.sha256_hex)) {
                /* Freed first: a line relayed now would never leave (no loop runs). */
                tunnel_free(t);
                log_error("%s", err ? err : strerror(-r));
                return TUNNEL_EXIT_FAILURE;
        }
        if (r < 0)
                log_warning("%s; running it by path (--allow-root is for tests)",
                            err ? err : strerror(-r));
        r = tunnel_run(t);
        tunnel_free(t);
        return r < 0 ? TUNNEL_EXIT_FAILURE : r;
}

int main(int argc, char **argv) {
        /* Our stderr is the helper's (its journal stream under systemd): "<N>" prefixes always.
         * Every level: the helper decides what it keeps of the engine's lines. */
        log_open("tund-tunnel", LOG_TARGET_PREFIXED);
        log_set_max_level(LOG_DEBUG);
        return run(argc, argv);
}
