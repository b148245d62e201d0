/* tundctl: the admin CLI. main.c holds the table of verbs; one file per verb
 * (tundctl-status.c, ...); tundctl-util.c the shared parts: options, the connection to the
 * helper, exit codes, formatting, tables and colour; tundctl-json.c the JSON emitter.
 *
 * Every verb is split in a parse function (argv -> a plain struct, no I/O, unit-tested) and a
 * run function. Run functions return an exit code (TundctlExit), never -errno. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "control.pb-c.h"
#include "ipc.h"
#include "macro.h"
#include "strv.h"

#define TUNDCTL_SOCKET_DEFAULT "/run/tund/control.sock"
#define TUNDCTL_SOCKET_ENV "TUND_CONTROL_SOCKET"
#define TUNDCTL_CONFIG_DIR_DEFAULT "/etc/tund"
/* The kill switches' specs (tund-netshimd --killswitch-dir), one NAME.ks per profile. */
#define TUNDCTL_KILLSWITCH_DIR "/run/tund/killswitch"
/* The profiles whose kill switch is set (a spec exists), sorted, NULL-terminated; none when
 * the directory does not exist. */
int tundctl_killswitch_names(char ***ret, size_t *ret_n);
#define TUNDCTL_WANTS_DIR "/etc/systemd/system/multi-user.target.wants"
#define TUNDCTL_TIMEOUT_DEFAULT_USEC (30 * USEC_PER_SEC)
#define TUNDCTL_JSON_SCHEMA 1
/* A handshake older than this is stale: WireGuard rekeys every 2 minutes while traffic flows. */
#define TUNDCTL_STALE_HANDSHAKE_SEC 180

/* Documented in tundctl(8). */
typedef enum TundctlExit {
        TUNDCTL_EXIT_OK = 0,
        TUNDCTL_EXIT_FAILURE = 1,
        TUNDCTL_EXIT_USAGE = 2,
        TUNDCTL_EXIT_NOT_RUNNING = 3, /* helper not reachable, no such session, no systemd */
        TUNDCTL_EXIT_PERMISSION = 4,
        TUNDCTL_EXIT_INVALID_PROFILE = 5,
} TundctlExit;

/* Global options (also accepted after the verb). */
typedef struct TundctlGlobals {
        const char *socket_path;
        const char *config_dir;
        uint64_t timeout_usec;
        bool timeout_set; /* --timeout given (up/down wait longer by default) */
        bool json;
        int color; /* -1 auto, 0 never, 1 always */
} TundctlGlobals;

extern TundctlGlobals arg_g;

/* ---- verbs ---- */

typedef struct TundctlVerb {
        const char *name;
        const char *synopsis; /* arguments, for the usage line */
        const char *summary;
        int (*run)(int argc, char *argv[]);
        const char *options_help; /* verb-specific options, or NULL */
} TundctlVerb;

const TundctlVerb *tundctl_verb_find(const char *name);
/* Set by main() to tundctl_verb_find (the table lives in main.c, which unit tests do not
 * link): -h prints the verb's help through it. */
extern const TundctlVerb *(*tundctl_verb_lookup)(const char *name);
extern const TundctlVerb tundctl_verbs[];
extern const size_t tundctl_n_verbs;

typedef struct StatusArgs {
        const char *profile; /* NULL: all */
} StatusArgs;
typedef struct PeersArgs {
        const char *profile;
} PeersArgs;
typedef struct WatchArgs {
        const char *profile;
        long count; /* stop after this many events, 0 = until interrupted */
} WatchArgs;
typedef struct UpArgs {
        const char *profile;
        bool start;
        bool no_block;
} UpArgs;
typedef struct RebindArgs {
        const char *profile;
        bool all;
        bool coalesce;
} RebindArgs;
typedef struct CheckArgs {
        const char *target; /* a profile name or a path */
        bool is_path;
} CheckArgs;
typedef struct NoArgs {
        int unused;
} NoArgs;

/* Parse functions return -1 to continue with the run, or an exit code (0 after -h, 2 after a
 * usage error, which they have printed). */
int tundctl_status_parse(int argc, char *argv[], StatusArgs *a);
int tundctl_peers_parse(int argc, char *argv[], PeersArgs *a);
int tundctl_watch_parse(int argc, char *argv[], WatchArgs *a);
int tundctl_up_parse(int argc, char *argv[], bool start, UpArgs *a);
int tundctl_rebind_parse(int argc, char *argv[], RebindArgs *a);
int tundctl_check_parse(int argc, char *argv[], CheckArgs *a);
int tundctl_noargs_parse(const char *verb, int argc, char *argv[]);

int tundctl_status(int argc, char *argv[]);
int tundctl_peers(int argc, char *argv[]);
int tundctl_watch(int argc, char *argv[]);
int tundctl_up(int argc, char *argv[]);
int tundctl_down(int argc, char *argv[]);
int tundctl_rebind(int argc, char *argv[]);
int tundctl_check(int argc, char *argv[]);
int tundctl_profiles(int argc, char *argv[]);
int tundctl_doctor(int argc, char *argv[]);
int tundctl_version(int argc, char *argv[]);

/* ---- options (tundctl-util.c) ---- */

void tundctl_globals_init(TundctlGlobals *g);
/* Handles a global option by getopt value; returns 1 if handled, 0 if not one, or -EINVAL
 * (message printed) for a bad value. */
int tundctl_global_option(int c, const char *optarg_);
/* The global long options, terminated by a zero entry; values are >= TUNDCTL_OPT_GLOBAL. */
#define TUNDCTL_OPT_GLOBAL 0x1000
extern const struct option tundctl_global_options[];
/* getopt_long over verb options plus the global ones and -h. Verb options are handled by
 * on_opt (returns 0, or < 0 after printing a usage error). Returns the index of the first
 * positional argument (getopt permutes them to the end), or -1 after printing the verb's
 * help (exit 0), or -2 after a usage error (exit 2). */
typedef int (*TundctlOptHandler)(int c, const char *value, void *userdata);
int tundctl_getopt(const char *verb, int argc, char *argv[], const char *shortopts,
                   const struct option *verb_options, TundctlOptHandler on_opt, void *userdata);
int tundctl_parse_timeout(const char *s, uint64_t *ret_usec);
void tundctl_verb_help(const TundctlVerb *v, FILE *f);
int tundctl_usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);

/* ---- errors and exit codes ---- */

/* Prints "tundctl: MESSAGE" to stderr, remembers it for the --json error object, returns
 * code. */
int tundctl_fail(int code, const char *fmt, ...) _printf_(2, 3);
const char *tundctl_last_error(void);
/* While set, tundctl_fail() records but does not print (optional lookups). */
void tundctl_set_quiet(bool quiet);
int tundctl_exit_from_errno(int error);
int tundctl_exit_from_error_code(Tund__ErrorCode code);
const char *tundctl_error_code_to_string(Tund__ErrorCode code);
/* Set once a verb has written its JSON document; main() then prints no error object. */
extern bool tundctl_json_done;

/* ---- the helper connection ---- */

/* Connects to arg_g.socket_path and completes the handshake within the timeout. Returns an
 * exit code (0: *ret set), with the error printed. */
int tundctl_connect(sd_event *e, IpcConn **ret);
/* Calls and waits; an Error reply, a timeout or a lost connection are printed (naming what)
 * and mapped to an exit code. On 0 *ret_reply holds the reply. */
int tundctl_call(IpcConn *c, Tund__CtlToHelper *m, const char *what, IpcMsg **ret_reply);
/* One connection + one call, for the simple verbs. */
int tundctl_simple_call(Tund__CtlToHelper *m, const char *what, IpcMsg **ret_reply);
/* GetStatus of one profile (NULL: all) as a simple call: 0 with the reply (free it) and its
 * StatusReply, or an exit code; silent records the error without printing it. */
int tundctl_get_status(const char *profile, bool silent, IpcMsg **ret_reply,
                       const Tund__StatusReply **ret_status);
/* CtlGetPeers (the engines' live view) the same way. */
int tundctl_get_peers(const char *profile, bool silent, IpcMsg **ret_reply,
                      const Tund__PeersReply **ret_peers);

/* ---- formatting ---- */

#define TUNDCTL_FMT_MAX 64
/* "3 s", "5 min", "2 min 5 s", "1 h 3 min", "2 d 4 h". */
char *tundctl_format_duration(char buf[TUNDCTL_FMT_MAX], uint64_t usec);
/* "never" when then_sec is 0, "3 s ago", "in the future" when then > now. */
char *tundctl_format_age(char buf[TUNDCTL_FMT_MAX], int64_t now_sec, int64_t then_sec);
/* "0 B", "1023 B", "1.2 KiB", "1.2 MiB", ... */
char *tundctl_format_bytes(char buf[TUNDCTL_FMT_MAX], uint64_t bytes);
/* "192.0.2.0/24", "2001:db8::/32"; "?" for a malformed prefix. */
char *tundctl_format_prefix(char buf[TUNDCTL_FMT_MAX], const Tund__IpPrefix *p);
/* "192.0.2.1" from 4 or 16 raw bytes; "?" otherwise. */
char *tundctl_format_address(char buf[TUNDCTL_FMT_MAX], const uint8_t *a, size_t len);
const char *tundctl_session_state_to_string(Tund__SessionState s);
const char *tundctl_log_level_to_string(Tund__LogLevel l);
const char *tundctl_dns_mode_to_string(Tund__DnsMode m);
/* A public key shortened for tables: "xTIBA5rb…". */
char *tundctl_short_key(char buf[TUNDCTL_FMT_MAX], const char *key);

/* ---- colour ---- */

/* isatty(fd) && TERM set and != dumb && NO_COLOR unset or empty, unless --color/--no-color
 * decided. */
bool tundctl_use_color(int fd);
/* Pure form of the above, for tests. */
bool tundctl_color_decide(int forced, bool isatty_, const char *term, const char *no_color);
#define ANSI_RED "\x1b[31m"
#define ANSI_GREEN "\x1b[32m"
#define ANSI_YELLOW "\x1b[33m"
#define ANSI_BOLD "\x1b[1m"
#define ANSI_GREY "\x1b[90m"
#define ANSI_RESET "\x1b[0m"
/* The code when colour is on, else "". */
const char *tundctl_ansi(const char *code);

/* ---- tables ---- */

typedef struct TableCell {
        char *text;
        const char *color; /* ANSI code or NULL */
} TableCell;

typedef struct Table {
        size_t n_columns;
        char **headers;
        TableCell *cells; /* n_rows * n_columns */
        size_t n_rows;
} Table;

Table *tundctl_table_new(size_t n_columns, ...); /* header strings */
Table *tundctl_table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, tundctl_table_free);
/* Appends a row; texts NULL print as "-". Returns 0 or -ENOMEM. */
int tundctl_table_add_row(Table *t, const char *const *texts);
/* Colours the cell (row, column) of the last row. */
void tundctl_table_set_color(Table *t, size_t column, const char *color);
/* Aligned columns, two spaces apart, the last column not padded, headers in upper case
 * (bold with colour). Width counts UTF-8 characters. */
void tundctl_table_print(const Table *t, FILE *f, bool color);
size_t tundctl_utf8_width(const char *s);

/* ---- health (tundctl-status.c) ---- */

typedef struct HealthEnv {
        int64_t now_sec;
        /* /etc/resolv.conf's state: 1 points at resolved's stub, 0 does not, -1 unknown. */
        int resolv_conf_stub;
} HealthEnv;
/* Appends warnings about s to *list (malloc'd strings, *n grows). Returns 0 or -ENOMEM. */
int tundctl_session_health(const Tund__SessionInfo *s, const HealthEnv *env, char ***list,
                           size_t *n);
/* 1 if the resolv.conf at path names 127.0.0.53 or 127.0.0.54 as a nameserver, 0 if it does
 * not, -errno if it cannot be read. */
int tundctl_resolv_conf_is_stub(const char *path);

/* ---- JSON (tundctl-json.c) ---- */

#define JSON_DEPTH_MAX 32

typedef struct Json {
        FILE *f;
        unsigned depth;
        bool first[JSON_DEPTH_MAX]; /* nothing written yet at this level */
        bool after_key;
} Json;

void json_init(Json *j, FILE *f);
/* Writes s as a JSON string: quotes, \" \\ \b \f \n \r \t, other control characters and DEL
 * as \u00XX, U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD. NULL writes null. */
void json_write_string(FILE *f, const char *s);
void json_object_begin(Json *j);
void json_object_end(Json *j);
void json_array_begin(Json *j);
void json_array_end(Json *j);
void json_key(Json *j, const char *key);
void json_string(Json *j, const char *s);
void json_uint(Json *j, uint64_t v);
void json_int(Json *j, int64_t v);
void json_bool(Json *j, bool v);
void json_null(Json *j);
/* key + value shorthands */
void json_kv_string(Json *j, const char *key, const char *s);
void json_kv_uint(Json *j, const char *key, uint64_t v);
void json_kv_int(Json *j, const char *key, int64_t v);
void json_kv_bool(Json *j, const char *key, bool v);
/* Starts the top-level object with "schema": TUNDCTL_JSON_SCHEMA. */
void json_document_begin(Json *j);
/* Ends it with a newline and marks tundctl_json_done. */
void json_document_end(Json *j);

/* Shared JSON pieces. */
void json_prefixes(Json *j, const char *key, Tund__IpPrefix **v, size_t n);
void json_peer_state(Json *j, const Tund__PeerState *p, int64_t now_sec);
