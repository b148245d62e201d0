/* Logging for tund-helperd's top level: the journal with structured fields when journald is
 * there, else stderr lines with "<N>" priority prefixes (which systemd and our tests read).
 * Only the daemon's top level logs; the verifier, the state machine and the spawner return
 * -errno and sentences. */
#pragma once

#include <sys/types.h>
#include <syslog.h>

#include "macro.h"

/* MESSAGE_IDs of the helper's key events (journalctl MESSAGE_ID=…). */
#define HELPER_MESSAGE_SESSION_STARTED "6ae3c5fd7bab4e979b8d54a7d528e336"
#define HELPER_MESSAGE_SESSION_STOPPED "80bcd2b593fa4eaca62624cbee390bf5"
#define HELPER_MESSAGE_TUNNEL_EXITED "d0a6a17819fe47c6b86f283a709e0dc7"
#define HELPER_MESSAGE_PEER_REFUSED "34414f8d3d8b45ecafc5113e40c12641"
#define HELPER_MESSAGE_WATCHER_DROPPED "d3b12dd0b02b4824895ce94361c9d380"

/* Structured context of one log line; every member optional. */
typedef struct LogFields {
        const char *profile;
        pid_t tunnel_pid;
        const char *message_id;
        const char *source; /* "tunnel" for lines a tunnel sent us */
} LogFields;

/* Picks the journal when its socket exists, else stderr. */
void helper_log_open(void);
void helper_log_set_max_level(int level);

/* Logs at level; error (±errno, 0 for none) feeds %m and ERRNO=. Returns -|error|. */
int helper_log_internal(int level, int error, const LogFields *f, const char *fmt, ...)
        _printf_(4, 5);

#define log_full_errno(level, error, ...) helper_log_internal(level, error, NULL, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)
/* A line about one session: PROFILE=, TUNNEL_PID=, MESSAGE_ID=. */
#define log_session(level, profile_, pid_, id_, ...)                                               \
        helper_log_internal(level, 0,                                                              \
                            &(const LogFields){ .profile = (profile_),                             \
                                                .tunnel_pid = (pid_),                              \
                                                .message_id = (id_) },                             \
                            __VA_ARGS__)
