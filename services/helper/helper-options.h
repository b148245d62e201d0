/* tund-helperd's command line. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define HELPER_TUNNEL_PATH_DEFAULT "/usr/libexec/tund/tund-tunnel"
#define HELPER_IDLE_EXIT_DEFAULT_SEC 30u
#define HELPER_START_TIMEOUT_DEFAULT_SEC 45u
#define HELPER_STOP_TIMEOUT_DEFAULT_SEC 5u
/* All watch subscribers' queues together (each is bounded on its own too, helper.h). */
#define HELPER_WATCH_MEMORY_DEFAULT_MIB 64u
#define HELPER_WATCH_MEMORY_MAX_MIB 4096u

typedef struct HelperOptions {
        const char *listen_dir; /* NULL: sockets from systemd */
        const char *tunnel_path;
        const char *tunnel_sha256; /* 64 lowercase hex digits, or NULL */
        const char *engine_sha256; /* wireguard-go's, passed to each tunnel; or NULL */
        const char *tunnel_user;
        const char *control_group;
        bool shim_uid_set;
        uid_t shim_uid;
        const char *shim_user;   /* a name, resolved at setup; or shim_uid_set */
        uint64_t idle_exit_usec; /* 0 = never */
        uint64_t start_timeout_usec;
        uint64_t stop_timeout_usec; /* StopRequest -> SIGTERM; SIGTERM -> SIGKILL */
        uint64_t watch_memory_max;  /* bytes queued to all watch subscribers together */
        /* Tests only (the unit sets neither): the tunnels' re-resolve and stale thresholds,
         * 0 = theirs (tunnel-shim/tunnel-health.h), whole seconds. */
        uint64_t reresolve_after_usec, stale_after_usec;
        bool help, version;
} HelperOptions;

void helper_options_init(HelperOptions *o);
/* Parses argv into o. Returns 0, or -EINVAL with *ret_error (malloc'd) saying why. */
int helper_parse_argv(int argc, char *argv[], HelperOptions *o, char **ret_error);
void helper_help(const char *prog);
