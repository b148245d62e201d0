/* tund-netshimd: the TUN owner of one profile (tund@PROFILE.service). */
#pragma once

#include <libmnl/libmnl.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "engine.h"
#include "ipc.h"
#include "netcfg-watch.h"
#include "netcfg.h"
#include "profile.h"

/* Exit codes: systemd restarts on failure, but not on a profile error (RestartPreventExitStatus).
 */
#define NETSHIM_EXIT_FAILURE 1
#define NETSHIM_EXIT_CONFIG 78 /* EX_CONFIG */

typedef struct NetshimOptions {
        const char *profile_name;
        const char *config_dir;  /* /etc/tund */
        bool profile_stdin;      /* the profile is fd 0, opened by systemd (StandardInput=file:) */
        const char *shim_socket; /* /run/tund/shim.sock */
        const char *state_dir;   /* /run/tund/netshim: what was applied, for --cleanup */
        const char *killswitch_dir; /* /run/tund/killswitch: every profile's kill switch */
        const char *uapi_dir;       /* /run/wireguard */
        const char *engine_path;    /* for the TUN flavour */
        const EngineInfo *engine;   /* already detected (tests, fuzzing): engine_path is not run */
        const char *engine_group;   /* owner group of the UAPI socket: the engine's */
        const char *engine_user;    /* its packets bypass a full tunnel; NULL: by fwmark */
        const char *bus_address;    /* resolved's bus; NULL: system bus */
        const char *resolvconf;
        uint64_t start_timeout_usec;
        uint64_t stop_timeout_usec;
} NetshimOptions;

/* The profile: from standard input with opts->profile_stdin (CONFIG_DIR/NAME.conf names it in
 * messages), else read from CONFIG_DIR/NAME.conf. */
int netshim_profile_load(const NetshimOptions *opts, Profile **ret, char **ret_error);

typedef enum NetshimState {
        NETSHIM_CONNECTING, /* waiting for the helper's socket */
        NETSHIM_STARTING,   /* StartSession sent */
        NETSHIM_RUNNING,    /* READY=1 sent */
        NETSHIM_STOPPING,   /* StopSession sent */
        NETSHIM_DONE,
} NetshimState;

/* What the shim's watches (NlWatch, netcfg-watch.h) wait after a deletion before checking. */
#define NETSHIM_WATCH_SETTLE_USEC (100 * USEC_PER_MSEC)

typedef struct Manager {
        NetshimOptions opts;
        sd_event *event;
        Profile *profile;
        Tund__WgConfig *config; /* secrets: wiped when freed */
        EngineInfo engine;
        char *state_path;
        char *uapi_path;
        NetcfgOptions netcfg_opts;
        NetcfgContext *netcfg;
        int tun_fd, uapi_fd;
        IpcConn *conn;
        sd_event_source *retry_timer, *status_timer, *stop_timer, *sigterm, *sigint;
        unsigned retries;
        NetshimState state;
        int exit_code;
        bool applied;
        bool slot_claimed;
        NlWatch watch;     /* rtnetlink deletions, while settings are applied */
        NlWatch ks_watch;  /* nf_tables deletions, while the kill switch is set */
        char *table_owner; /* the last table_owner() answer */
        char status[256];
} Manager;

int manager_new(Manager **ret, const NetshimOptions *opts);
/* Loads the profile, cleans up a predecessor's leftovers, creates the TUN and UAPI socket and
 * starts connecting to the helper. Returns NETSHIM_EXIT_CONFIG-worthy errors as -EINVAL. */
int manager_start(Manager *m);
/* As manager_start(), but serves the helper on helper_fd, an already connected stream socket
 * (taken over, also on failure), instead of connecting to opts.shim_socket: tests and the
 * fuzzer play the helper on the other end of a socketpair. helper_fd < 0: connect. */
int manager_start_fd(Manager *m, int helper_fd);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Ends the run: reverts what was applied, removes the state and UAPI socket files, exits the
 * loop with code. */
void manager_finish(Manager *m, int code);

/* STATUS= (and the log); the run's failure: STATUS=failed: ..., revert, exit code 1. */
void set_status(Manager *m, const char *fmt, ...) _printf_(2, 3);
void manager_fail(Manager *m, const char *fmt, ...) _printf_(2, 3);

/* netshim-session.c: the session with the helper. connect: to opts.shim_socket, retrying while
 * it is missing; attach: serves the helper on fd, a connected stream socket (taken over), and
 * sends StartSession once the handshake is done. on_signal (SIGTERM, SIGINT): StopSession,
 * then the end of the run. */
void manager_connect(Manager *m);
void manager_attach(Manager *m, int fd);
int manager_on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata);

/* netshim-watch.c: while settings are applied, notices when another program deletes one of
 * the profile's addresses, routes or rules, puts it back and tells the helper (watchers and
 * `tundctl status` see it); fails the session when it cannot. Start is idempotent. */
int netshim_watch_start(Manager *m);
/* A warning for the helper's watchers and `tundctl status` (a one-way Log message). */
void netshim_tell_helper(Manager *m, const char *text);
void netshim_watch_stop(Manager *m);

/* ExecStopPost=: removes whatever a shim of this profile left (state file, tund routes and
 * rules, DNS settings, the UAPI socket file). Idempotent. */
int netshim_cleanup(const NetshimOptions *opts);

/* netshim-killswitch.c: the profile's kill switch (KillSwitch = yes). spec: what it allows,
 * from the profile (numeric endpoints, DNS servers, AllowLAN, AllowedBypass) and the last
 * endpoints that worked for host names. set: spec plus the endpoints the tunnel resolved (s
 * may be NULL), written to the kernel. boot: --killswitch, the boot unit's job (exit code).
 * lift: removes it (a deliberate stop); why goes to the journal. */
int netshim_killswitch_spec(const NetshimOptions *opts, const Profile *p, NetcfgKillswitch *ret,
                            char **ret_error);
int netshim_killswitch_set(const NetshimOptions *opts, const Profile *p,
                           const Tund__NetworkSettings *s, char **ret_error);
int netshim_killswitch_boot(const NetshimOptions *opts);
/* While the shim runs, a kill switch someone deleted (`nft flush ruleset`, another firewall
 * tool) is put back from its spec, and the helper told; if that fails, the session fails. */
int netshim_killswitch_watch_start(Manager *m);
void netshim_killswitch_watch_stop(Manager *m);
/* Gives each host name peer of cfg the addresses its switch still allows (the last that
 * worked), for the tunnel to use when the name does not resolve. */
int netshim_killswitch_fallbacks(const NetshimOptions *opts, const Profile *p, Tund__WgConfig *cfg);
int netshim_killswitch_lift(const NetshimOptions *opts, const char *why);

/* The profile's routing table and rule span (netshim-slot.c): claims its slot (the one it
 * holds already, else the first free one from a hash of its name) under STATE_DIR/slots. */
int netshim_slot_claim(const char *state_dir, const char *profile, unsigned *ret_slot,
                       char **ret_error);
/* The slot the profile holds, or -ENOENT. */
int netshim_slot_find(const char *state_dir, const char *profile);
/* Gives the profile's slot back: only once its settings are reverted. */
void netshim_slot_release(const char *state_dir, const char *profile);
/* The profile holding tund table `table`, or NULL (malloc'ed). */
char *netshim_slot_owner(const char *state_dir, uint32_t table);

/* Paths derived from the options. */
char *netshim_state_path(const NetshimOptions *opts, const char *profile);

/* STATUS= text for a set of peers ("connected to 203.0.113.1:51820, handshake 3 s ago"). */
void netshim_format_status(char *buf, size_t size, const Tund__PeerUpdate *u, uint64_t now_sec);
