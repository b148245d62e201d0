/* Logging for daemon and CLI top levels (libraries never log). Under systemd (JOURNAL_STREAM
 * set) lines go to stderr with "<N>" level prefixes, which journald parses; otherwise plain
 * "tund-x: message" lines on stderr. log_*_errno() return the negative errno given, so
 * `return log_error_errno(r, "...: %m")` works (%m shows r's text). */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

void log_open(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _e = (error) < 0 ? -(error) : (error);                                         \
                (level) <= log_get_max_level() ? log_internal((level), _e, __VA_ARGS__) : -_e;     \
        })
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
