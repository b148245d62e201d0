/* What every verb shares: global options, errors and exit codes, the connection to the helper,
 * formatting of durations, sizes and addresses. Colour and aligned tables: tundctl-table.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "string-util.h"
#include "tundctl.h"

TundctlGlobals arg_g;
const TundctlVerb *(*tundctl_verb_lookup)(const char *name);

/* ---- options ---- */

enum {
        OPT_SOCKET = TUNDCTL_OPT_GLOBAL,
        OPT_CONFIG_DIR,
        OPT_TIMEOUT,
        OPT_JSON,
        OPT_NO_COLOR,
        OPT_COLOR,
};

const struct option tundctl_global_options[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "json", no_argument, NULL, OPT_JSON },
        { "no-color", no_argument, NULL, OPT_NO_COLOR },
        { "color", no_argument, NULL, OPT_COLOR },
        {},
};

void tundctl_globals_init(TundctlGlobals *g) {
        const char *env = getenv(TUNDCTL_SOCKET_ENV);

        *g = (TundctlGlobals){
                .socket_path = isempty(env) ? TUNDCTL_SOCKET_DEFAULT : env,
                .config_dir = TUNDCTL_CONFIG_DIR_DEFAULT,
                .timeout_usec = TUNDCTL_TIMEOUT_DEFAULT_USEC,
                .color = -1,
        };
}

/* Seconds, fractions allowed: "5", "0.5". Between 1 ms and one day. */
int tundctl_parse_timeout(const char *s, uint64_t *ret_usec) {
        char *end;
        double v;

        if (isempty(s) || !(isdigit((unsigned char) s[0]) || s[0] == '.'))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || *end || !isfinite(v) || v < 0.001 || v > 86400)
                return -EINVAL;
        *ret_usec = (uint64_t) (v * (double) USEC_PER_SEC);
        return 0;
}

int tundctl_global_option(int c, const char *value) {
        switch (c) {
        case OPT_SOCKET:
                if (isempty(value))
                        return tundctl_usage_error(NULL, "--socket: empty path"), -EINVAL;
                arg_g.socket_path = value;
                return 1;
        case OPT_CONFIG_DIR:
                if (isempty(value))
                        return tundctl_usage_error(NULL, "--config-dir: empty path"), -EINVAL;
                arg_g.config_dir = value;
                return 1;
        case OPT_TIMEOUT:
                arg_g.timeout_set = true;
                if (tundctl_parse_timeout(value, &arg_g.timeout_usec) < 0)
                        return tundctl_usage_error(NULL,
                                                   "--timeout: not a number of seconds between "
                                                   "0.001 and 86400: %s",
                                                   value),
                               -EINVAL;
                return 1;
        case OPT_JSON:
                arg_g.json = true;
                return 1;
        case OPT_NO_COLOR:
                arg_g.color = 0;
                return 1;
        case OPT_COLOR:
                arg_g.color = 1;
                return 1;
        }
        return 0;
}

int tundctl_usage_error(const char *verb, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return tundctl_fail(TUNDCTL_EXIT_USAGE, "%s%s%s (see 'tundctl %s%s-h')", verb ? verb : "",
                            verb ? ": " : "", msg, verb ? verb : "", verb ? " " : "");
}

void tundctl_verb_help(const TundctlVerb *v, FILE *f) {
        fprintf(f, "Usage: tundctl [OPTIONS] %s%s%s\n\n%s\n", v->name,
                isempty(v->synopsis) ? "" : " ", v->synopsis ? v->synopsis : "", v->summary);
        if (v->options_help)
                fprintf(f, "\n%s", v->options_help);
        fprintf(f, "\nGlobal options: --socket PATH, --config-dir DIR, --timeout SEC, --json,\n"
                   "--no-color, -h/--help. See tundctl(8).\n");
}

int tundctl_getopt(const char *verb, int argc, char *argv[], const char *shortopts,
                   const struct option *verb_options, TundctlOptHandler on_opt, void *userdata) {
        struct option all[64];
        char shorts[32];
        size_t n = 0;
        int c, r;

        for (const struct option *o = verb_options; o && o->name && n < 40; o++)
                all[n++] = *o;
        for (const struct option *o = tundctl_global_options; o->name; o++)
                all[n++] = *o;
        all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
        all[n] = (struct option){};
        /* '+' is not used: options may follow positional arguments ("status work --json"). */
        snprintf(shorts, sizeof(shorts), ":h%s", shortopts ? shortopts : "");

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, shorts, all, NULL)) >= 0) {
                if (c == 'h') {
                        const TundctlVerb *v =
                                tundctl_verb_lookup ? tundctl_verb_lookup(verb) : NULL;
                        if (v)
                                tundctl_verb_help(v, stdout);
                        return -1;
                }
                if (c == '?' || c == ':') {
                        if (optopt > 0 && optopt < 0x80)
                                tundctl_usage_error(
                                        verb, "%s: -%c",
                                        c == ':' ? "missing argument" : "unknown option", optopt);
                        else
                                tundctl_usage_error(verb, "%s: %s",
                                                    c == ':' ? "missing argument"
                                                             : "unknown option",
                                                    argv[optind - 1]);
                        return -2;
                }
                r = tundctl_global_option(c, optarg);
                if (r < 0)
                        return -2;
                if (r > 0)
                        continue;
                if (!on_opt || on_opt(c, optarg, userdata) < 0)
                        return -2;
        }
        return optind;
}

/* ---- errors ---- */

static char last_error[1024];
static bool quiet;

void tundctl_set_quiet(bool b) {
        quiet = b;
}

int tundctl_fail(int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(last_error, sizeof(last_error), fmt, ap);
        va_end(ap);
        /* Errors carry the helper's and the tunnel's text: printable only. */
        string_sanitize_inplace(last_error);
        if (!quiet)
                fprintf(stderr, "tundctl: %s\n", last_error);
        return code;
}

const char *tundctl_last_error(void) {
        return last_error;
}

int tundctl_exit_from_errno(int error) {
        switch (error < 0 ? -error : error) {
        case 0:
                return TUNDCTL_EXIT_OK;
        case ENOENT:
        case ECONNREFUSED:
        case ENOTCONN:
        case ECONNRESET:
        case EPIPE:
        case ESRCH:
                return TUNDCTL_EXIT_NOT_RUNNING;
        case EACCES:
        case EPERM:
                return TUNDCTL_EXIT_PERMISSION;
        default:
                return TUNDCTL_EXIT_FAILURE;
        }
}

int tundctl_exit_from_error_code(Tund__ErrorCode code) {
        switch (code) {
        case TUND__ERROR_CODE__ERROR_NONE:
                return TUNDCTL_EXIT_OK;
        case TUND__ERROR_CODE__ERROR_PERMISSION:
                return TUNDCTL_EXIT_PERMISSION;
        case TUND__ERROR_CODE__ERROR_NOT_FOUND:
                return TUNDCTL_EXIT_NOT_RUNNING;
        case TUND__ERROR_CODE__ERROR_INVALID:
                return TUNDCTL_EXIT_USAGE;
        default:
                return TUNDCTL_EXIT_FAILURE;
        }
}

const char *tundctl_error_code_to_string(Tund__ErrorCode code) {
        static const char *const names[] = {
                [TUND__ERROR_CODE__ERROR_NONE] = "none",
                [TUND__ERROR_CODE__ERROR_INTERNAL] = "internal",
                [TUND__ERROR_CODE__ERROR_PROTOCOL] = "protocol",
                [TUND__ERROR_CODE__ERROR_PERMISSION] = "permission",
                [TUND__ERROR_CODE__ERROR_NOT_FOUND] = "not-found",
                [TUND__ERROR_CODE__ERROR_EXISTS] = "exists",
                [TUND__ERROR_CODE__ERROR_INVALID] = "invalid",
                [TUND__ERROR_CODE__ERROR_TIMEOUT] = "timeout",
                [TUND__ERROR_CODE__ERROR_PEER_GONE] = "peer-gone",
                [TUND__ERROR_CODE__ERROR_UNSUPPORTED] = "unsupported",
                [TUND__ERROR_CODE__ERROR_ENGINE] = "engine",
                [TUND__ERROR_CODE__ERROR_NETCFG] = "netcfg",
                [TUND__ERROR_CODE__ERROR_BUSY] = "busy",
        };
        if ((size_t) code < ELEMENTSOF(names) && names[code])
                return names[code];
        return "unknown";
}

/* ---- the helper connection ---- */

static const char *connect_hint(int error) {
        switch (-error) {
        case ENOENT:
        case ECONNREFUSED:
                return " (is tund-helper-control.socket enabled?)";
        case EACCES:
        case EPERM:
                return " (only root and members of group tund may use it)";
        case EAGAIN:
                return " (its backlog is full; try again)";
        default:
                return "";
        }
}

int tundctl_connect(sd_event *e, IpcConn **ret) {
        _cleanup_(ipc_conn_unrefp) IpcConn *c = NULL;
        int fd = -EBADF, r;

        r = ipc_connect_unix(arg_g.socket_path, &fd);
        if (r < 0)
                return tundctl_fail(r == -EAGAIN ? TUNDCTL_EXIT_FAILURE
                                                 : tundctl_exit_from_errno(r),
                                    "cannot reach tund-helperd at %s: %s%s", arg_g.socket_path,
                                    strerror(-r), connect_hint(r));
        r = ipc_conn_new(&c, e, fd, &ipc_channel_ctl_client);
        if (r < 0) {
                safe_close(fd);
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "cannot set up the connection to %s: %s",
                                    arg_g.socket_path, strerror(-r));
        }
        r = ipc_conn_wait_ready(c, arg_g.timeout_usec);
        if (r < 0) {
                const char *why = ipc_conn_get_close_reason(c);
                if (r == -ETIMEDOUT)
                        return tundctl_fail(TUNDCTL_EXIT_FAILURE,
                                            "tund-helperd at %s did not answer within %.1f s",
                                            arg_g.socket_path,
                                            (double) arg_g.timeout_usec / USEC_PER_SEC);
                return tundctl_fail(tundctl_exit_from_errno(r),
                                    "tund-helperd at %s refused the connection: %s",
                                    arg_g.socket_path, isempty(why) ? strerror(-r) : why);
        }
        *ret = TAKE_PTR(c);
        return TUNDCTL_EXIT_OK;
}

int tundctl_call(IpcConn *c, Tund__CtlToHelper *m, const char *what, IpcMsg **ret_reply) {
        IpcMsg *reply = NULL;
        const Tund__Error *err;
        int r;

        r = ipc_conn_call_wait(c, &m->base, NULL, 0, arg_g.timeout_usec, &reply);
        if (r == -ETIMEDOUT)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE,
                                    "%s: no answer from tund-helperd within %.1f s", what,
                                    (double) arg_g.timeout_usec / USEC_PER_SEC);
        if (r < 0) {
                const char *why = ipc_conn_get_close_reason(c);
                return tundctl_fail(tundctl_exit_from_errno(r),
                                    "%s: connection to tund-helperd lost: %s", what,
                                    isempty(why) ? strerror(-r) : why);
        }
        err = ipc_msg_error(reply);
        if (err) {
                int code = tundctl_exit_from_error_code(err->code);
                const char *msg = isempty(err->message) ? tundctl_error_code_to_string(err->code)
                                                        : err->message;
                /* The helper's messages often name the request already. */
                bool named = strncmp(msg, what, strlen(what)) == 0;
                bool says = strstr(msg, "permission denied") != NULL;
                r = tundctl_fail(code, "%s%s%s%s", named ? "" : what, named ? "" : ": ",
                                 err->code == TUND__ERROR_CODE__ERROR_PERMISSION && !says
                                         ? "permission denied: "
                                         : "",
                                 msg);
                ipc_msg_free(reply);
                return r;
        }
        *ret_reply = reply;
        return TUNDCTL_EXIT_OK;
}

int tundctl_simple_call(Tund__CtlToHelper *m, const char *what, IpcMsg **ret_reply) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(ipc_conn_unrefp) IpcConn *c = NULL;
        int r;

        if (sd_event_new(&e) < 0)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "cannot create an event loop");
        r = tundctl_connect(e, &c);
        if (r != 0)
                return r;
        r = tundctl_call(c, m, what, ret_reply);
        ipc_conn_close(c, 0, "done");
        return r;
}

/* One simple call whose reply must carry `want`: 0 with the reply (free it) and its payload,
 * or an exit code; silent records the error without printing it. */
static int get_reply(Tund__CtlToHelper *m, const char *what, bool silent, uint32_t want,
                     IpcMsg **ret_reply, const void **ret_payload) {
        IpcMsg *reply = NULL;
        bool was_quiet = quiet;

        quiet = was_quiet || silent;
        int r = tundctl_simple_call(m, what, &reply);
        const void *payload = r == 0 ? ipc_msg_payload(reply, want) : NULL;
        if (r == 0 && !payload) {
                reply = ipc_msg_free(reply);
                r = tundctl_fail(TUNDCTL_EXIT_FAILURE, "%s: unexpected reply", what);
        }
        quiet = was_quiet;
        if (r != 0)
                return r;
        *ret_reply = reply;
        *ret_payload = payload;
        return 0;
}

int tundctl_get_status(const char *profile, bool silent, IpcMsg **ret_reply,
                       const Tund__StatusReply **ret_status) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__GetStatus g = TUND__GET_STATUS__INIT;

        g.profile = (char *) (profile ? profile : "");
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_STATUS;
        m.get_status = &g;
        return get_reply(&m, "GetStatus", silent, TUND__HELPER_TO_CTL__PAYLOAD_STATUS, ret_reply,
                         (const void **) ret_status);
}

int tundctl_get_peers(const char *profile, bool silent, IpcMsg **ret_reply,
                      const Tund__PeersReply **ret_peers) {
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__CtlGetPeers g = TUND__CTL_GET_PEERS__INIT;

        g.profile = (char *) (profile ? profile : "");
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_GET_PEERS;
        m.get_peers = &g;
        return get_reply(&m, "CtlGetPeers", silent, TUND__HELPER_TO_CTL__PAYLOAD_PEERS, ret_reply,
                         (const void **) ret_peers);
}

/* ---- formatting ---- */

char *tundctl_format_duration(char buf[TUNDCTL_FMT_MAX], uint64_t usec) {
        uint64_t s = usec / USEC_PER_SEC;

        if (s < 60)
                snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " s", s);
        else if (s < 3600) {
                if (s % 60)
                        snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " min %" PRIu64 " s", s / 60,
                                 s % 60);
                else
                        snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " min", s / 60);
        } else if (s < 86400) {
                if ((s % 3600) / 60)
                        snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " h %" PRIu64 " min", s / 3600,
                                 (s % 3600) / 60);
                else
                        snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " h", s / 3600);
        } else {
                if ((s % 86400) / 3600)
                        snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " d %" PRIu64 " h", s / 86400,
                                 (s % 86400) / 3600);
                else
                        snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " d", s / 86400);
        }
        return buf;
}

char *tundctl_format_age(char buf[TUNDCTL_FMT_MAX], int64_t now_sec, int64_t then_sec) {
        char d[TUNDCTL_FMT_MAX];

        if (then_sec <= 0)
                snprintf(buf, TUNDCTL_FMT_MAX, "never");
        else if (then_sec > now_sec)
                snprintf(buf, TUNDCTL_FMT_MAX, "in the future");
        else
                snprintf(
                        buf, TUNDCTL_FMT_MAX, "%s ago",
                        tundctl_format_duration(d, (uint64_t) (now_sec - then_sec) * USEC_PER_SEC));
        return buf;
}

char *tundctl_format_bytes(char buf[TUNDCTL_FMT_MAX], uint64_t bytes) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) bytes;
        size_t u = 0;

        if (bytes < 1024) {
                snprintf(buf, TUNDCTL_FMT_MAX, "%" PRIu64 " B", bytes);
                return buf;
        }
        v /= 1024;
        /* Round first, so 1048575 B prints "1.0 MiB", not "1024.0 KiB". */
        while ((uint64_t) (v * 10 + 0.5) >= 10240 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, TUNDCTL_FMT_MAX, "%.1f %s", v, units[u]);
        return buf;
}

char *tundctl_format_address(char buf[TUNDCTL_FMT_MAX], const uint8_t *a, size_t len) {
        if (!a || (len != 4 && len != 16) ||
            !inet_ntop(len == 4 ? AF_INET : AF_INET6, a, buf, TUNDCTL_FMT_MAX))
                snprintf(buf, TUNDCTL_FMT_MAX, "?");
        return buf;
}

char *tundctl_format_prefix(char buf[TUNDCTL_FMT_MAX], const Tund__IpPrefix *p) {
        char a[TUNDCTL_FMT_MAX];

        if (!p || (p->address.len != 4 && p->address.len != 16) ||
            p->prefix_len > p->address.len * 8) {
                snprintf(buf, TUNDCTL_FMT_MAX, "?");
                return buf;
        }
        snprintf(buf, TUNDCTL_FMT_MAX, "%s/%u",
                 tundctl_format_address(a, p->address.data, p->address.len), p->prefix_len);
        return buf;
}

const char *tundctl_session_state_to_string(Tund__SessionState s) {
        switch (s) {
        case TUND__SESSION_STATE__SESSION_STATE_STARTING:
                return "starting";
        case TUND__SESSION_STATE__SESSION_STATE_RUNNING:
                return "running";
        case TUND__SESSION_STATE__SESSION_STATE_STOPPING:
                return "stopping";
        case TUND__SESSION_STATE__SESSION_STATE_STALE:
                return "stale";
        default:
                return "unknown";
        }
}

const char *tundctl_log_level_to_string(Tund__LogLevel l) {
        switch (l) {
        case TUND__LOG_LEVEL__LOG_LEVEL_DEBUG:
                return "debug";
        case TUND__LOG_LEVEL__LOG_LEVEL_INFO:
                return "info";
        case TUND__LOG_LEVEL__LOG_LEVEL_NOTICE:
                return "notice";
        case TUND__LOG_LEVEL__LOG_LEVEL_WARNING:
                return "warning";
        case TUND__LOG_LEVEL__LOG_LEVEL_ERROR:
                return "error";
        default:
                return "unknown";
        }
}

const char *tundctl_dns_mode_to_string(Tund__DnsMode m) {
        return m == TUND__DNS_MODE__DNS_MODE_FULL ? "full" : "split";
}

char *tundctl_short_key(char buf[TUNDCTL_FMT_MAX], const char *key) {
        if (isempty(key))
                snprintf(buf, TUNDCTL_FMT_MAX, "-");
        else if (strlen(key) > 12)
                snprintf(buf, TUNDCTL_FMT_MAX, "%.8s…", key);
        else
                snprintf(buf, TUNDCTL_FMT_MAX, "%s", key);
        return buf;
}
