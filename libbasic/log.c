/* See log.h. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "string-util.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *log_ident = "tund";
static int log_max_level = LOG_INFO;
static LogTarget log_target = LOG_TARGET_AUTO;
static bool log_prefix_levels; /* AUTO's choice, made at open */
static bool log_opened;
static LogSink log_sink;
static int log_sink_max_level;
static void *log_sink_userdata;

void log_open(const char *ident, LogTarget target) {
        struct stat st;

        log_ident = ident;
        log_target = target;
        log_prefix_levels = target != LOG_TARGET_AUTO || getenv("JOURNAL_STREAM");
        if (target == LOG_TARGET_JOURNAL &&
            (getenv("TUND_LOG_STDERR") || stat(JOURNAL_SOCKET, &st) < 0 || !S_ISSOCK(st.st_mode)))
                log_target = LOG_TARGET_PREFIXED;
        const char *lvl = getenv("TUND_LOG_LEVEL");
        if (lvl && streq(lvl, "debug"))
                log_max_level = LOG_DEBUG;
        log_opened = true;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_sink(LogSink sink, int max_level, void *userdata) {
        log_sink = sink;
        log_sink_max_level = max_level;
        log_sink_userdata = userdata;
}

/* One "FIELD=value" iovec into buf (sanitized: a peer's text stays one field). */
static void field(struct iovec *iov, size_t *n, char *buf, size_t size, const char *fmt, ...)
        _printf_(5, 6);
static void field(struct iovec *iov, size_t *n, char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        string_sanitize_inplace(buf);
        iov[(*n)++] = (struct iovec){ buf, strlen(buf) };
}

static int log_journal(int level, int error, const LogFields *f, const char *msg) {
        char prio[32], ident[96], err[32], pid[32], profile[96], mid[64], src[64];
        _cleanup_free_ char *message = NULL;
        struct iovec iov[8];
        size_t n = 0;

        if (asprintf(&message, "MESSAGE=%s", msg) < 0)
                return -ENOMEM;
        iov[n++] = (struct iovec){ message, strlen(message) };
        field(iov, &n, prio, sizeof(prio), "PRIORITY=%d", level);
        field(iov, &n, ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log_ident);
        if (error != 0)
                field(iov, &n, err, sizeof(err), "ERRNO=%d", error);
        if (f && f->profile)
                field(iov, &n, profile, sizeof(profile), "PROFILE=%s", f->profile);
        if (f && f->tunnel_pid > 0)
                field(iov, &n, pid, sizeof(pid), "TUNNEL_PID=%d", (int) f->tunnel_pid);
        if (f && f->message_id)
                field(iov, &n, mid, sizeof(mid), "MESSAGE_ID=%s", f->message_id);
        if (f && f->source)
                field(iov, &n, src, sizeof(src), "TUND_SOURCE=%s", f->source);
        return sd_journal_sendv(iov, (int) n);
}

static void log_stderr(int level, const LogFields *f, const char *msg) {
        char ctx[160] = "";

        if (!log_prefix_levels) {
                fprintf(stderr, "%s: %s\n", log_ident, msg);
                return;
        }
        if (f && (f->profile || f->tunnel_pid > 0 || f->message_id))
                snprintf(ctx, sizeof(ctx), " [%s%s%s%.0d%s%s]", f->profile ? "PROFILE=" : "",
                         f->profile ?: "", f->tunnel_pid > 0 ? " TUNNEL_PID=" : "",
                         f->tunnel_pid > 0 ? (int) f->tunnel_pid : 0,
                         f->message_id ? " MESSAGE_ID=" : "", f->message_id ?: "");
        string_sanitize_inplace(ctx);
        if (f && f->child)
                fprintf(stderr, "<%d>%s[%d]: %s\n", level, f->child, (int) f->child_pid, msg);
        else
                fprintf(stderr, "<%d>%s%s%s\n", level, f && f->source ? "tunnel: " : "", msg, ctx);
        fflush(stderr);
}

int log_internal(int level, int error, const LogFields *f, const char *fmt, ...) {
        int saved = errno;
        char msg[2048];
        va_list ap;

        if (error < 0)
                error = -error;
        if (!log_opened)
                log_prefix_levels = getenv("JOURNAL_STREAM");
        errno = error; /* for %m */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* One line, whatever a peer's text in it says (string-util.h). */
        string_sanitize_inplace(msg);

        if (log_sink && level <= log_sink_max_level &&
            log_sink(level, f, msg, log_sink_userdata) >= 0)
                ;
        else if (log_target != LOG_TARGET_JOURNAL || log_journal(level, error, f, msg) < 0)
                log_stderr(level, f, msg);
        errno = saved;
        return -error;
}
