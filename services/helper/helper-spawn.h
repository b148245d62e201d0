/* Spawning tund-tunnel with an explicit fd map and dropped privileges. */
#pragma once

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Where the tunnel finds its fds (tunnel.proto). */
#define TUNNEL_CHILD_CHANNEL_FD 3
#define TUNNEL_CHILD_TUN_FD 4
#define TUNNEL_CHILD_UAPI_FD 5

typedef struct TunnelSpawnArgs {
        int exe_fd;     /* the verified binary, executed with execveat(AT_EMPTY_PATH) */
        int channel_fd; /* the child's end of the tunnel socketpair */
        int tun_fd, uapi_fd;
        bool change_user; /* we are root: become uid/gid, keeping only CAP_NET_ADMIN */
        uid_t uid;
        gid_t gid;
        bool allow_root;           /* pass --allow-root (the tunnel user is root: tests) */
        const char *engine_sha256; /* pass --engine-sha256 HEX; NULL: none */
        rlim_t nofile_soft;        /* RLIMIT_NOFILE soft limit to restore, 0 = inherit ours */
        char *const *envp;
} TunnelSpawnArgs;

/* Forks and executes the tunnel: fds 0-2 inherited (/dev/null if closed), 3 channel, 4 TUN,
 * 5 UAPI and nothing else; default signal dispositions and an empty mask; PR_SET_PDEATHSIG
 * SIGTERM; NoNewPrivs; CAP_NET_ADMIN as an ambient capability when we hold it. Returns 0 and
 * the pid once the exec succeeded, or -errno with *ret_step naming the step that failed. */
int helper_tunnel_spawn(const TunnelSpawnArgs *a, pid_t *ret_pid, const char **ret_step);

/* Builds the child's environment from ours minus what belongs to us (NOTIFY_SOCKET,
 * LISTEN_*, WATCHDOG_*). Free with helper_env_free(). */
char **helper_child_env(char **environ_);
void helper_env_free(char **env);
