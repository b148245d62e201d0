/* The one logger of every tund program (libraries never log: they return -errno and a
 * sentence). log_open() picks where lines go:
 *   LOG_TARGET_AUTO      stderr; "<N>" level prefixes under journald (JOURNAL_STREAM set),
 *                        else "ident: message" for a person at a terminal (tundctl, tests);
 *   LOG_TARGET_PREFIXED  stderr, always "<N>" prefixes: a child whose stderr is its parent's
 *                        journal stream (tund-tunnel);
 *   LOG_TARGET_JOURNAL   the journal's native protocol with structured fields (PROFILE=,
 *                        TUNNEL_PID=, MESSAGE_ID=, ERRNO=) when its socket is there and
 *                        TUND_LOG_STDERR is unset, else PREFIXED with the fields in brackets.
 * A sink (log_set_sink) takes lines first: the tunnel relays them to the helper, which
 * journals them with the session's fields; what the sink refuses goes to the target.
 * log_*_errno() return the negative errno given, so `return log_error_errno(r, "...: %m")`
 * works (%m shows r's text). Every line is one line, whatever a peer's text in it says. */
#pragma once

#include <stdarg.h>
#include <sys/types.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_PREFIXED,
        LOG_TARGET_JOURNAL,
} LogTarget;

/* Structured context of one line; every member optional. */
typedef struct LogFields {
        const char *profile;
        pid_t tunnel_pid;
        const char *message_id;
        const char *source; /* "tunnel" for lines a tunnel sent us */
        const char *child;  /* a line a child process wrote ("engine"), and its pid */
        pid_t child_pid;
} LogFields;

/* Takes a formatted line (already one line); returns < 0 to leave it to the target. */
typedef int (*LogSink)(int level, const LogFields *f, const char *message, void *userdata);

void log_open(const char *ident, LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Lines at levels up to max_level (LOG_INFO: not debug) go to sink first; NULL: none. */
void log_set_sink(LogSink sink, int max_level, void *userdata);
int log_internal(int level, int error, const LogFields *f, const char *fmt, ...) _printf_(4, 5);

#define log_fields_errno(level, error, f, ...)                                                     \
        ({                                                                                         \
                int _e = (error) < 0 ? -(error) : (error);                                         \
                (level) <= log_get_max_level() ? log_internal((level), _e, (f), __VA_ARGS__)       \
                                               : -_e;                                              \
        })
#define log_full_errno(level, error, ...) log_fields_errno(level, error, NULL, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* A line about one session: PROFILE=, TUNNEL_PID=, MESSAGE_ID= (id_ may be NULL). */
#define log_session(level, profile_, pid_, id_, ...)                                               \
        log_fields_errno(level, 0,                                                                 \
                         (&(const LogFields){ .profile = (profile_),                               \
                                              .tunnel_pid = (pid_),                                \
                                              .message_id = (id_) }),                              \
                         __VA_ARGS__)
/* A line with a MESSAGE_ID= only. */
#define log_message_id(level, id_, ...)                                                            \
        log_fields_errno(level, 0, (&(const LogFields){ .message_id = (id_) }), __VA_ARGS__)
