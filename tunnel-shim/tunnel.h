/* tund-tunnel: one per active profile. Started by the helper with the tunnel channel on fd 3,
 * the TUN on fd 4 and the UAPI listening socket on fd 5; drives one wireguard-go.
 *
 * Lifecycle (a state machine, OpenSSH-monitor style: tunnel_permitted() says which request is
 * allowed in which state):
 *   IDLE --StartRequest--> STARTING --engine configured, settings applied--> RUNNING
 *   any --StopRequest / helper EOF / SIGTERM--> STOPPING --engine gone--> exit
 *   STARTING/RUNNING --engine died / start failed--> FAILED --engine gone--> exit non-zero */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common.pb-c.h"
#include "macro.h"
#include "tunnel.pb-c.h"

/* The inherited fds (proto/tunnel.proto). */
#define TUNNEL_FD_IPC 3
#define TUNNEL_FD_TUN 4
#define TUNNEL_FD_UAPI 5

/* Exit statuses: what the helper's TunnelExited carries. */
#define TUNNEL_EXIT_OK 0
#define TUNNEL_EXIT_FAILURE 1     /* start failed, internal error */
#define TUNNEL_EXIT_USAGE 2       /* bad arguments or inherited fds, root without --allow-root */
#define TUNNEL_EXIT_ENGINE_DIED 3 /* the engine exited while running */

/* Peer state is polled this often while running: often enough that `tundctl watch` shows a
 * handshake within ~2 s of it happening, rare enough to cost nothing (one unix-socket round
 * trip of a few hundred bytes per peer). The engine has no change notification to use instead. */
#define TUNNEL_POLL_USEC (2 * USEC_PER_SEC)
#define TUNNEL_ENGINE_TIMEOUT_DEFAULT_MS 5000u
/* SIGTERM to the engine, then SIGKILL after this. wireguard-go closes in well under 100 ms. */
#define TUNNEL_STOP_TIMEOUT_USEC (3 * USEC_PER_SEC)
/* The shim applies addresses, routes and DNS (netlink + resolved over D-Bus). */
#define TUNNEL_SETTINGS_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* Host names of endpoints must resolve within this. */
#define TUNNEL_RESOLVE_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* After a UAPI connection error during start, how long to wait for the engine's exit (whose
 * status and last ERROR line make the better error message). */
#define TUNNEL_EXIT_GRACE_USEC (500 * USEC_PER_MSEC)
/* Flushing the last messages to the helper before exiting. */
#define TUNNEL_DRAIN_TIMEOUT_USEC (2 * USEC_PER_SEC)
/* Engine lines forwarded to the helper per second; the rest is counted and summarised. */
#define TUNNEL_ENGINE_LINES_PER_SEC 200u

typedef struct TunnelArgs {
        const char *engine_path;
        const char *engine_log_level;
        bool allow_root;
} TunnelArgs;

typedef struct Tunnel Tunnel;

/* Checks the inherited fds (TUNNEL_FD_*) and logs who we are. Runs on the thread's default
 * sd-event; SIGTERM, SIGINT and SIGCHLD must be blocked. */
int tunnel_new(Tunnel **ret, const TunnelArgs *args);
/* The same on the given fds and event loop (referenced), for harnesses that play the helper
 * and the engine in-process (test/fuzz/fuzz-tunnel.c). Takes ownership of the three fds, also
 * on failure. */
int tunnel_new_fds(Tunnel **ret, const TunnelArgs *args, sd_event *e, int ipc_fd, int tun_fd,
                   int uapi_fd);
/* Runs until stopped; returns the exit status. */
int tunnel_run(Tunnel *t);
Tunnel *tunnel_free(Tunnel *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Tunnel *, tunnel_free);

/* ---- tunnel-fds.c ---- */

/* fd must be a connected AF_UNIX stream socket. */
int tunnel_check_ipc_fd(int fd, char **ret_error);
/* fd must be a TUN device: returns its name and IFF_* flags. */
int tunnel_check_tun_fd(int fd, char ret_ifname[16], unsigned *ret_flags, char **ret_error);
/* fd must be a listening AF_UNIX stream socket bound to a path: returns the path. */
int tunnel_check_uapi_fd(int fd, char *ret_path, size_t size, char **ret_error);
/* One line with uid, gid, NoNewPrivs and the capability sets. */
int tunnel_describe_credentials(char *buf, size_t size);
/* tunnel-sandbox.c: the seccomp filter the engine inherits (its SIOCSIFMTU succeeds without
 * effect: the shim owns the MTU). Needs NoNewPrivs. 0 or -errno. */
int tunnel_sandbox_install(void);
