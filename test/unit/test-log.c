/* libbasic's logger, the one every program uses (log.h): where lines go for each target, the
 * session's fields in the stderr fallback, a child's lines, and the sink (the tunnel's relay
 * to the helper): what it takes stays off stderr, what it refuses is not lost. */
#include <stdlib.h>

#include "log.h"
#include "tests.h"

static void line_info(void) {
        log_info("hello %d", 42);
}

TEST(auto_target_names_the_program_at_a_terminal) {
        unsetenv("JOURNAL_STREAM");
        log_open("tund-x", LOG_TARGET_AUTO);
        ASSERT_STREQ(test_capture_stderr(line_info), "tund-x: hello 42\n");
}

TEST(auto_target_prefixes_levels_under_journald) {
        setenv("JOURNAL_STREAM", "8:1234", 1);
        log_open("tund-x", LOG_TARGET_AUTO);
        ASSERT_STREQ(test_capture_stderr(line_info), "<6>hello 42\n");
}

TEST(prefixed_target_always_prefixes) {
        unsetenv("JOURNAL_STREAM");
        log_open("tund-x", LOG_TARGET_PREFIXED);
        ASSERT_STREQ(test_capture_stderr(line_info), "<6>hello 42\n");
}

static void line_session(void) {
        log_session(LOG_WARNING, "work", 42, "0123456789abcdef0123456789abcdef", "down: %s", "why");
}

TEST(journal_target_falls_back_with_fields) {
        setenv("TUND_LOG_STDERR", "1", 1);
        log_open("tund-x", LOG_TARGET_JOURNAL);
        ASSERT_STREQ(test_capture_stderr(line_session),
                     "<4>down: why [PROFILE=work TUNNEL_PID=42 "
                     "MESSAGE_ID=0123456789abcdef0123456789abcdef]\n");
}

static void line_debug(void) {
        log_debug("not shown");
}

TEST(max_level_filters) {
        unsetenv("TUND_LOG_LEVEL");
        log_open("tund-x", LOG_TARGET_PREFIXED);
        ASSERT_STREQ(test_capture_stderr(line_debug), "");
        log_set_max_level(LOG_DEBUG);
        ASSERT_STREQ(test_capture_stderr(line_debug), "<7>not shown\n");
}

TEST(errno_variants_return_negative_errno_and_show_it) {
        log_open("tund-x", LOG_TARGET_PREFIXED);
        log_set_max_level(-1); /* nothing shown, the value still returned */
        ASSERT_EQ(log_error_errno(-ENOENT, "x: %m"), -ENOENT);
        ASSERT_EQ(log_error_errno(ENOENT, "x: %m"), -ENOENT);
}

typedef struct Relay {
        char last[256];
        int level;
        pid_t child_pid;
        unsigned calls;
        bool refuse;
} Relay;
static Relay relay;

static int sink(int level, const LogFields *f, const char *message, void *userdata) {
        Relay *r = userdata;
        r->calls++;
        if (r->refuse)
                return -ENOTCONN;
        snprintf(r->last, sizeof(r->last), "%s", message);
        r->level = level;
        r->child_pid = f ? f->child_pid : 0;
        return 0;
}

static void line_warning(void) {
        log_warning("to the helper\nREADY=1");
}

static void line_child(void) {
        log_fields_errno(LOG_ERR, 0, (&(const LogFields){ .child = "engine", .child_pid = 77 }),
                         "%s", "boom");
}

TEST(sink_takes_lines_off_stderr) {
        log_open("tund-x", LOG_TARGET_PREFIXED);
        log_set_sink(sink, LOG_INFO, &relay);
        ASSERT_STREQ(test_capture_stderr(line_warning), "");
        ASSERT_STREQ(relay.last, "to the helper?READY=1"); /* one line, for the sink too */
        ASSERT_EQ(relay.level, LOG_WARNING);
        ASSERT_STREQ(test_capture_stderr(line_child), "");
        ASSERT_EQ(relay.child_pid, 77);
}

TEST(sink_refusal_and_levels_above_it_go_to_stderr) {
        log_open("tund-x", LOG_TARGET_PREFIXED);
        log_set_max_level(LOG_DEBUG);
        log_set_sink(sink, LOG_INFO, &relay);
        ASSERT_STREQ(test_capture_stderr(line_debug), "<7>not shown\n");
        ASSERT_EQ(relay.calls, 0u);
        relay.refuse = true;
        ASSERT_STREQ(test_capture_stderr(line_warning), "<4>to the helper?READY=1\n");
        ASSERT_STREQ(test_capture_stderr(line_child), "<3>engine[77]: boom\n");
        ASSERT_EQ(relay.calls, 2u);
        log_set_sink(NULL, 0, NULL);
        relay.refuse = false;
        ASSERT_STREQ(test_capture_stderr(line_warning), "<4>to the helper?READY=1\n");
        ASSERT_EQ(relay.calls, 2u);
}
