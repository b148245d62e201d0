/* string-util.c's sanitizer, and the places that must use it: a log line of the shim
 * (log_internal, with or without a session's fields) stays one line whatever text
 * a peer sent, a session's stored last error is printable, and tundctl's JSON escapes the same
 * characters. STATUS= and tundctl's human output: test/integration/robust-injection.sh. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "helper.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

#define HOSTILE "x\nREADY=1\nMAINPID=1"
#define ANSI "\x1b[31mred\x1b[0m"

static char *sanitized(const char *s) {
        static char buf[512];
        return string_sanitize(buf, sizeof(buf), s);
}

TEST(plain_text_kept) {
        ASSERT_STREQ(sanitized("wireguard-go exited: status 1"), "wireguard-go exited: status 1");
        ASSERT_STREQ(sanitized(""), "");
        ASSERT_STREQ(sanitized(NULL), "");
        ASSERT_TRUE(string_is_printable("203.0.113.1:51820"));
        ASSERT_TRUE(string_is_printable(NULL));
}

TEST(newlines_cannot_add_notify_lines) {
        ASSERT_STREQ(sanitized(HOSTILE), "x?READY=1?MAINPID=1");
        ASSERT_STREQ(sanitized("a\r\nb"), "a??b");
        ASSERT_TRUE(!string_is_printable(HOSTILE));
}

TEST(control_characters_replaced) {
        ASSERT_STREQ(sanitized("\t\x01\x1f\x7f|"), "????|");
        ASSERT_STREQ(sanitized("bell\a backspace\b"), "bell? backspace?");
        /* C1 controls in UTF-8 (U+0085 NEL, U+009B CSI) and U+2028/U+2029: one '?' each. */
        ASSERT_STREQ(sanitized("a\302\205b\302\233c"), "a?b?c");
        ASSERT_STREQ(sanitized("l\xe2\x80\xa8p\xe2\x80\xa9"), "l?p?");
}

TEST(escape_sequences_inert) {
        /* The ESC goes; what follows it is harmless text. */
        ASSERT_STREQ(sanitized(ANSI), "?[31mred?[0m");
        ASSERT_STREQ(sanitized("\x1b]0;title\x07"), "?]0;title?");
        ASSERT_TRUE(strchr(sanitized(ANSI), 0x1b) == NULL);
}

TEST(valid_utf8_kept) {
        ASSERT_STREQ(sanitized("café ☃ 𝄞 …"), "café ☃ 𝄞 …");
        ASSERT_STREQ(sanitized("\xc2\xa0"), "\xc2\xa0"); /* U+00A0, the first after C1 */
        ASSERT_TRUE(string_is_printable("Grüße, 東京"));
}

TEST(invalid_utf8_replaced) {
        ASSERT_STREQ(sanitized("a\377b"), "a?b");            /* never valid */
        ASSERT_STREQ(sanitized("\xc3("), "?(");              /* lead without continuation */
        ASSERT_STREQ(sanitized("\x80\xbf"), "??");           /* stray continuations */
        ASSERT_STREQ(sanitized("\xc0\xaf"), "??");           /* overlong '/' */
        ASSERT_STREQ(sanitized("\xe0\x80\xaf"), "???");      /* overlong, 3 bytes */
        ASSERT_STREQ(sanitized("\xed\xa0\x80"), "???");      /* a surrogate */
        ASSERT_STREQ(sanitized("\xf4\x90\x80\x80"), "????"); /* above U+10FFFF */
        ASSERT_STREQ(sanitized("ok\xe2\x82"), "ok??");       /* cut short at the end */
        ASSERT_TRUE(!string_is_printable("\xe2\x82"));
}

TEST(decode) {
        uint32_t cp = 0;
        ASSERT_EQ(utf8_decode("A", &cp), 1);
        ASSERT_EQ(cp, 'A');
        ASSERT_EQ(utf8_decode("\xe2\x80\xa6", &cp), 3);
        ASSERT_EQ(cp, 0x2026);
        ASSERT_EQ(utf8_decode("\xf0\x9d\x84\x9e", &cp), 4);
        ASSERT_EQ(cp, 0x1d11e);
        ASSERT_EQ(utf8_decode("\xe2\x80", &cp), 0); /* stops at the NUL */
        ASSERT_TRUE(unichar_is_control(0x1b) && unichar_is_control(0x9f) &&
                    !unichar_is_control(0xa0) && !unichar_is_control(' '));
}

TEST(truncation_keeps_characters_whole) {
        char buf[8];
        /* "abcdé" is 6 bytes: 5 fit with the NUL in 6, not the 2-byte é. */
        ASSERT_STREQ(string_sanitize(buf, 6, "abcdéf"), "abcd");
        ASSERT_STREQ(string_sanitize(buf, 7, "abcdéf"), "abcdé");
        ASSERT_STREQ(string_sanitize(buf, sizeof(buf), "\n\n\n\n\n\n\n\n\n"), "???????");
        ASSERT_STREQ(string_sanitize(buf, 1, "abc"), "");
        buf[0] = 'z';
        string_sanitize(buf, 0, "abc"); /* nothing written */
        ASSERT_EQ(buf[0], 'z');
}

TEST(long_strings) {
        size_t n = 100000;
        char *s = malloc(n + 1);
        ASSERT_TRUE(s);
        for (size_t i = 0; i < n; i++)
                s[i] = i % 3 == 0 ? '\n' : i % 3 == 1 ? '\x1b' : 'x';
        s[n] = '\0';
        char *t = string_sanitize_dup(s);
        ASSERT_TRUE(t);
        ASSERT_EQ(strlen(t), n);
        ASSERT_TRUE(strchr(t, '\n') == NULL && strchr(t, 0x1b) == NULL);
        ASSERT_TRUE(string_is_printable(t));
        /* in place gives the same */
        ASSERT_STREQ(string_sanitize_inplace(s), t);
        free(s);
        free(t);
}

TEST(in_place_shrinks_safely) {
        /* Replacing a 2- or 3-byte control character with one byte moves the rest left. */
        char s[] = "a\xc2\x9b"
                   "b\xe2\x80\xa8"
                   "c\xc3\xa9\n";
        ASSERT_STREQ(string_sanitize_inplace(s), "a?b?cé?");
        ASSERT_TRUE(string_sanitize_inplace(NULL) == NULL);
        char *d = string_sanitize_dup(NULL);
        ASSERT_STREQ(d, "");
        free(d);
}

static size_t count_char(const char *s, char c) {
        size_t n = 0;
        for (; *s; s++)
                n += *s == c;
        return n;
}

static void log_hostile(void) {
        log_internal(LOG_ERR, 0, NULL, "the tunnel exited with status 1: %s %s", HOSTILE, ANSI);
}

TEST(log_line_stays_one_line) {
        unsetenv("JOURNAL_STREAM");
        const char *out = test_capture_stderr(log_hostile);
        ASSERT_CONTAINS(out, "the tunnel exited with status 1: x?READY=1?MAINPID=1 ?[31mred?[0m");
        ASSERT_EQ(count_char(out, '\n'), 1);
        ASSERT_TRUE(strchr(out, 0x1b) == NULL);
}

static void helper_log_hostile(void) {
        log_internal(LOG_WARNING, 0,
                     &(const LogFields){ .profile = "work", .tunnel_pid = 42, .source = "tunnel" },
                     "%s", HOSTILE " " ANSI);
}

TEST(helper_log_line_stays_one_line) {
        setenv("TUND_LOG_STDERR", "1", 1);
        log_open("tund-helperd", LOG_TARGET_JOURNAL);
        const char *out = test_capture_stderr(helper_log_hostile);
        ASSERT_CONTAINS(out, "<4>tunnel: x?READY=1?MAINPID=1 ?[31mred?[0m [PROFILE=work");
        ASSERT_EQ(count_char(out, '\n'), 1);
        ASSERT_TRUE(strchr(out, 0x1b) == NULL);
}

TEST(session_last_error_printable) {
        Session s = {};
        helper_session_set_last_error(&s, "network settings refused: %s", HOSTILE ANSI);
        ASSERT_STREQ(s.last_error, "network settings refused: x?READY=1?MAINPID=1?[31mred?[0m");
        free(s.last_error);
}

/* tundctl --json keeps the text (escaped, not replaced) and escapes what string-util.c calls a
 * control character, C1 included. (tundctl.h's types clash with helper.h's: declared here.) */
void json_write_string(FILE *f, const char *s);

TEST(json_escapes_the_same_controls) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        ASSERT_TRUE(f);
        json_write_string(f, HOSTILE " " ANSI " \302\233 \342\200\250 é");
        fclose(f);
        ASSERT_STREQ(out, "\"x\\nREADY=1\\nMAINPID=1 \\u001b[31mred\\u001b[0m \\u009b \\u2028 é\"");
        free(out);
}

/* libbasic/strv.h: the one copy and free of string vectors. */
TEST(strv_copy_and_free) {
        char *src[] = { (char *) "a", NULL, (char *) "corp.example" };
        char **v = strv_copy_n(src, 3);
        ASSERT_TRUE(v);
        ASSERT_STREQ(v[0], "a");
        ASSERT_STREQ(v[1], ""); /* NULL entries become "" */
        ASSERT_STREQ(v[2], "corp.example");
        ASSERT_TRUE(v[3] == NULL); /* NULL-terminated as well as counted */
        ASSERT_TRUE(v[0] != src[0]);
        strv_free_n(v, 3);
        char **e = strv_copy_n(NULL, 0);
        ASSERT_TRUE(e && !e[0]);
        strv_free(e);
        strv_free(NULL);
        strv_free_n(NULL, 5);
}

/* macro.h's ARRAY_APPEND: zeroed elements at the end, the count kept, earlier ones intact.
 * (Out of memory is not tried: ASan stops the process at an impossible allocation.) */
TEST(array_append) {
        typedef struct Pair {
                int a;
                long b;
        } Pair;
        Pair *v = NULL, *p;
        size_t n = 0;

        for (int i = 0; i < 100; i++) {
                p = ARRAY_APPEND(v, n);
                ASSERT_TRUE(p);
                ASSERT_TRUE(p->a == 0 && p->b == 0);
                p->a = i;
        }
        ASSERT_EQ(n, 100u);
        for (int i = 0; i < 100; i++)
                ASSERT_EQ(v[i].a, i);
        free(v);
}

/* tests.h: a failed ASSERT_TRUE on a system call says why (test-engine once failed with a bare
 * "ASSERT_TRUE(mkdtemp(dir)) failed" that nobody could explain). */
TEST(assert_true_names_errno) {
        int p[2];
        ASSERT_OK(pipe(p));
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                dup2(p[1], STDERR_FILENO);
                ASSERT_TRUE(open("/nonexistent/tund-test", O_RDONLY) >= 0);
                _exit(0);
        }
        close(p[1]);
        char out[512] = "";
        ssize_t n = read(p[0], out, sizeof(out) - 1);
        close(p[0]);
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        ASSERT_TRUE(n > 0);
        ASSERT_CONTAINS(out, "ASSERT_TRUE(open(\"/nonexistent/tund-test\", O_RDONLY) >= 0) failed");
        ASSERT_CONTAINS(out, "No such file or directory");
}
