/* tundctl's formatting: durations, ages, sizes, addresses, tables and the colour decision. */
#include <stdio.h>

#include "tests.h"
#include "tundctl.h"

TEST(format_duration) {
        char b[TUNDCTL_FMT_MAX];
        ASSERT_STREQ(tundctl_format_duration(b, 0), "0 s");
        ASSERT_STREQ(tundctl_format_duration(b, 3 * USEC_PER_SEC + 999999), "3 s");
        ASSERT_STREQ(tundctl_format_duration(b, 59 * USEC_PER_SEC), "59 s");
        ASSERT_STREQ(tundctl_format_duration(b, 60 * USEC_PER_SEC), "1 min");
        ASSERT_STREQ(tundctl_format_duration(b, 125 * USEC_PER_SEC), "2 min 5 s");
        ASSERT_STREQ(tundctl_format_duration(b, 3600 * USEC_PER_SEC), "1 h");
        ASSERT_STREQ(tundctl_format_duration(b, 3780 * USEC_PER_SEC), "1 h 3 min");
        ASSERT_STREQ(tundctl_format_duration(b, 86400 * USEC_PER_SEC), "1 d");
        ASSERT_STREQ(tundctl_format_duration(b, (2 * 86400 + 4 * 3600 + 59) * USEC_PER_SEC),
                     "2 d 4 h");
}

TEST(format_age) {
        char b[TUNDCTL_FMT_MAX];
        ASSERT_STREQ(tundctl_format_age(b, 1000, 997), "3 s ago");
        ASSERT_STREQ(tundctl_format_age(b, 1000, 1000), "0 s ago");
        ASSERT_STREQ(tundctl_format_age(b, 1000, 0), "never");
        ASSERT_STREQ(tundctl_format_age(b, 1000, 1005), "in the future");
        ASSERT_STREQ(tundctl_format_age(b, 100000, 100000 - 181), "3 min 1 s ago");
}

TEST(format_bytes) {
        char b[TUNDCTL_FMT_MAX];
        ASSERT_STREQ(tundctl_format_bytes(b, 0), "0 B");
        ASSERT_STREQ(tundctl_format_bytes(b, 1023), "1023 B");
        ASSERT_STREQ(tundctl_format_bytes(b, 1024), "1.0 KiB");
        ASSERT_STREQ(tundctl_format_bytes(b, 1234), "1.2 KiB");
        ASSERT_STREQ(tundctl_format_bytes(b, 1258291), "1.2 MiB");
        /* rounding must not print "1024.0 KiB" */
        ASSERT_STREQ(tundctl_format_bytes(b, 1048575), "1.0 MiB");
        ASSERT_STREQ(tundctl_format_bytes(b, 1048576), "1.0 MiB");
        ASSERT_STREQ(tundctl_format_bytes(b, UINT64_C(5) << 30), "5.0 GiB");
        ASSERT_STREQ(tundctl_format_bytes(b, UINT64_C(3) << 40), "3.0 TiB");
        ASSERT_STREQ(tundctl_format_bytes(b, UINT64_MAX), "16.0 EiB");
}

TEST(format_prefix) {
        char b[TUNDCTL_FMT_MAX];
        uint8_t a4[4] = { 192, 0, 2, 0 };
        uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
        Tund__IpPrefix p = TUND__IP_PREFIX__INIT;
        p.address.data = a4;
        p.address.len = 4;
        p.prefix_len = 24;
        ASSERT_STREQ(tundctl_format_prefix(b, &p), "192.0.2.0/24");
        p.address.data = a6;
        p.address.len = 16;
        p.prefix_len = 32;
        ASSERT_STREQ(tundctl_format_prefix(b, &p), "2001:db8::/32");
        p.prefix_len = 129;
        ASSERT_STREQ(tundctl_format_prefix(b, &p), "?");
        p.address.len = 5;
        p.prefix_len = 8;
        ASSERT_STREQ(tundctl_format_prefix(b, &p), "?");
        ASSERT_STREQ(tundctl_format_prefix(b, NULL), "?");
        ASSERT_STREQ(tundctl_format_address(b, a4, 4), "192.0.2.0");
        ASSERT_STREQ(tundctl_format_address(b, a4, 3), "?");
}

TEST(format_short_key_and_names) {
        char b[TUNDCTL_FMT_MAX];
        ASSERT_STREQ(tundctl_short_key(b, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="),
                     "xTIBA5rb…");
        ASSERT_STREQ(tundctl_short_key(b, ""), "-");
        ASSERT_STREQ(tundctl_session_state_to_string(TUND__SESSION_STATE__SESSION_STATE_RUNNING),
                     "running");
        ASSERT_STREQ(tundctl_session_state_to_string(99), "unknown");
        ASSERT_STREQ(tundctl_log_level_to_string(TUND__LOG_LEVEL__LOG_LEVEL_WARNING), "warning");
        ASSERT_STREQ(tundctl_dns_mode_to_string(TUND__DNS_MODE__DNS_MODE_FULL), "full");
}

static char *table_text(const Table *t, bool color) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        tundctl_table_print(t, f, color);
        fclose(f);
        return buf;
}

TEST(table_aligned) {
        _cleanup_(tundctl_table_freep) Table *t = tundctl_table_new(3, "profile", "state", "rx");
        ASSERT_TRUE(t);
        ASSERT_OK(tundctl_table_add_row(t, (const char *[]){ "work", "running", "1.2 KiB" }));
        ASSERT_OK(tundctl_table_add_row(t, (const char *[]){ "home-office", NULL, "0 B" }));
        _cleanup_free_ char *s = table_text(t, false);
        ASSERT_STREQ(s, "PROFILE      STATE    RX\n"
                        "work         running  1.2 KiB\n"
                        "home-office  -        0 B\n");
}

TEST(table_utf8_and_control) {
        _cleanup_(tundctl_table_freep) Table *t = tundctl_table_new(2, "key", "x");
        ASSERT_OK(tundctl_table_add_row(t, (const char *[]){ "ab…", "1" }));
        ASSERT_OK(tundctl_table_add_row(t, (const char *[]){ "a\nb", "2" }));
        _cleanup_free_ char *s = table_text(t, false);
        /* "ab…" is 3 characters wide although 5 bytes long; a newline becomes '?'. */
        ASSERT_STREQ(s, "KEY  X\nab…  1\na?b  2\n");
        ASSERT_EQ(tundctl_utf8_width("ab…"), 3);
}

TEST(table_color_does_not_shift_columns) {
        _cleanup_(tundctl_table_freep) Table *t = tundctl_table_new(2, "a", "b");
        ASSERT_OK(tundctl_table_add_row(t, (const char *[]){ "x", "y" }));
        tundctl_table_set_color(t, 0, ANSI_GREEN);
        _cleanup_free_ char *s = table_text(t, true);
        ASSERT_STREQ(s, ANSI_BOLD "A" ANSI_RESET "  " ANSI_BOLD "B" ANSI_RESET "\n" ANSI_GREEN
                                  "x" ANSI_RESET "  y\n");
}

TEST(color_decision) {
        /* forced */
        ASSERT_TRUE(tundctl_color_decide(1, false, "dumb", "1"));
        ASSERT_TRUE(!tundctl_color_decide(0, true, "xterm", NULL));
        /* auto */
        ASSERT_TRUE(tundctl_color_decide(-1, true, "xterm-256color", NULL));
        ASSERT_TRUE(!tundctl_color_decide(-1, false, "xterm", NULL));
        ASSERT_TRUE(!tundctl_color_decide(-1, true, "dumb", NULL));
        ASSERT_TRUE(!tundctl_color_decide(-1, true, NULL, NULL));
        ASSERT_TRUE(tundctl_color_decide(-1, true, "xterm", "")); /* empty NO_COLOR: ignored */
        ASSERT_TRUE(!tundctl_color_decide(-1, true, "xterm", "1"));
}
