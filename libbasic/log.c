#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#include "string-util.h"

static const char *log_ident = "tund";
static int log_max_level = LOG_INFO;
static int log_prefix_levels = -1;

void log_open(const char *ident) {
        log_ident = ident;
        log_prefix_levels = getenv("JOURNAL_STREAM") != NULL;
        const char *lvl = getenv("TUND_LOG_LEVEL");
        if (lvl && streq(lvl, "debug"))
                log_max_level = LOG_DEBUG;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        errno = error; /* for %m */
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        /* One line, whatever a peer's text in it says (string-util.h). */
        string_sanitize_inplace(buf);
        if (log_prefix_levels < 0)
                log_prefix_levels = getenv("JOURNAL_STREAM") != NULL;
        if (log_prefix_levels)
                fprintf(stderr, "<%d>%s\n", level, buf);
        else
                fprintf(stderr, "%s: %s\n", log_ident, buf);
        return -error;
}
