/* See helper-log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "helper-log.h"
#include "string-util.h"

static bool helper_use_journal;
static int helper_max_level = LOG_INFO;

void helper_log_open(void) {
        struct stat st;
        helper_use_journal = stat("/run/systemd/journal/socket", &st) == 0 &&
                             S_ISSOCK(st.st_mode) && !getenv("TUND_LOG_STDERR");
        const char *e = getenv("TUND_LOG_LEVEL");
        if (e && streq(e, "debug"))
                helper_max_level = LOG_DEBUG;
}

void helper_log_set_max_level(int level) {
        helper_max_level = level;
}

static int log_journal(int level, int error, const LogFields *f, const char *msg) {
        char prio[32], err[32], pid[32], buf_profile[96], buf_mid[64], buf_src[64];
        char *message = NULL;
        struct iovec iov[8];
        size_t n = 0;

        if (asprintf(&message, "MESSAGE=%s", msg) < 0)
                return -ENOMEM;
        iov[n++] = (struct iovec){ message, strlen(message) };
        snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
        iov[n++] = (struct iovec){ prio, strlen(prio) };
        iov[n++] = (struct iovec){ (char *) "SYSLOG_IDENTIFIER=tund-helperd",
                                   STRLEN("SYSLOG_IDENTIFIER=tund-helperd") };
        if (error != 0) {
                snprintf(err, sizeof(err), "ERRNO=%d", error < 0 ? -error : error);
                iov[n++] = (struct iovec){ err, strlen(err) };
        }
        if (f && f->profile) {
                snprintf(buf_profile, sizeof(buf_profile), "PROFILE=%s", f->profile);
                string_sanitize_inplace(buf_profile);
                iov[n++] = (struct iovec){ buf_profile, strlen(buf_profile) };
        }
        if (f && f->tunnel_pid > 0) {
                snprintf(pid, sizeof(pid), "TUNNEL_PID=%d", (int) f->tunnel_pid);
                iov[n++] = (struct iovec){ pid, strlen(pid) };
        }
        if (f && f->message_id) {
                snprintf(buf_mid, sizeof(buf_mid), "MESSAGE_ID=%s", f->message_id);
                string_sanitize_inplace(buf_mid);
                iov[n++] = (struct iovec){ buf_mid, strlen(buf_mid) };
        }
        if (f && f->source) {
                snprintf(buf_src, sizeof(buf_src), "TUND_SOURCE=%s", f->source);
                string_sanitize_inplace(buf_src);
                iov[n++] = (struct iovec){ buf_src, strlen(buf_src) };
        }
        int r = sd_journal_sendv(iov, (int) n);
        free(message);
        return r;
}

int helper_log_internal(int level, int error, const LogFields *f, const char *fmt, ...) {
        int saved = errno;
        int ret = error < 0 ? error : -error;
        if (level > helper_max_level) {
                errno = saved;
                return ret;
        }

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        errno = error < 0 ? -error : error; /* for %m */
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* One line, whatever a peer's text in it says: the journal and stderr alike. */
        string_sanitize_inplace(msg);

        if (!helper_use_journal || log_journal(level, error, f, msg) < 0) {
                char ctx[160] = "";
                if (f && (f->profile || f->tunnel_pid > 0 || f->message_id))
                        snprintf(ctx, sizeof(ctx), " [%s%s%s%.0d%s%s]",
                                 f->profile ? "PROFILE=" : "", f->profile ? f->profile : "",
                                 f->tunnel_pid > 0 ? " TUNNEL_PID=" : "",
                                 f->tunnel_pid > 0 ? (int) f->tunnel_pid : 0,
                                 f->message_id ? " MESSAGE_ID=" : "",
                                 f->message_id ? f->message_id : "");
                string_sanitize_inplace(ctx);
                fprintf(stderr, "<%d>%s%s%s\n", level, f && f->source ? "tunnel: " : "", msg, ctx);
                fflush(stderr);
        }
        errno = saved;
        return ret;
}
