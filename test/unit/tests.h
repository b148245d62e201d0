/* A small test framework: TEST(name) { ... } registers a test; each runs in a
 * forked child with a timeout, so a crash or hang fails that test only.
 * Output is one "PASS: name" / "FAIL: name: why" / "SKIP: name: why" line per
 * test, which test/run counts. */
#pragma once

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*test_fn)(void);
struct test_case {
        const char *name;
        test_fn fn;
        struct test_case *next;
};
static struct test_case *test_list, **test_tail = &test_list;

#define TEST(n)                                                                                    \
        static void test_##n(void);                                                                \
        static struct test_case test_case_##n = { #n, test_##n, NULL };                            \
        __attribute__((constructor)) static void test_register_##n(void) {                         \
                *test_tail = &test_case_##n;                                                       \
                test_tail = &test_case_##n.next;                                                   \
        }                                                                                          \
        static void test_##n(void)

#define TEST_SKIP_EXIT 77

#define FAILF(fmt, ...)                                                                            \
        do {                                                                                       \
                fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);            \
                fflush(stderr);                                                                    \
                _exit(1);                                                                          \
        } while (0)

#define SKIP(fmt, ...)                                                                             \
        do {                                                                                       \
                fprintf(stderr, "skip: " fmt "\n", ##__VA_ARGS__);                                 \
                fflush(stderr);                                                                    \
                _exit(TEST_SKIP_EXIT);                                                             \
        } while (0)

/* A false x that set errno (a system call: mkdtemp(), open(), ...) says why. */
#define ASSERT_TRUE(x)                                                                             \
        do {                                                                                       \
                errno = 0;                                                                         \
                if (!(x)) {                                                                        \
                        int _e = errno;                                                            \
                        if (_e)                                                                    \
                                FAILF("ASSERT_TRUE(%s) failed (errno %d: %s)", #x, _e,             \
                                      strerror(_e));                                               \
                        FAILF("ASSERT_TRUE(%s) failed", #x);                                       \
                }                                                                                  \
        } while (0)

#define ASSERT_EQ(a, b)                                                                            \
        do {                                                                                       \
                long long _a = (long long) (a), _b = (long long) (b);                              \
                if (_a != _b)                                                                      \
                        FAILF("ASSERT_EQ(%s, %s) failed: %lld != %lld", #a, #b, _a, _b);           \
        } while (0)

#define ASSERT_OK(x)                                                                               \
        do {                                                                                       \
                long long _r = (long long) (x);                                                    \
                if (_r < 0)                                                                        \
                        FAILF("ASSERT_OK(%s) failed: %lld (%s)", #x, _r, strerror((int) -_r));     \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
        do {                                                                                       \
                const char *_a = (a), *_b = (b);                                                   \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                             \
                        FAILF("ASSERT_STREQ(%s, %s) failed: \"%s\" != \"%s\"", #a, #b,             \
                              _a ? _a : "(null)", _b ? _b : "(null)");                             \
        } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                               \
        do {                                                                                       \
                const char *_h = (hay), *_n = (needle);                                            \
                if (!_h || !strstr(_h, _n))                                                        \
                        FAILF("ASSERT_CONTAINS(%s, \"%s\") failed: got \"%s\"", #hay, _n,          \
                              _h ? _h : "(null)");                                                 \
        } while (0)

#ifndef TEST_TIMEOUT_SEC
/* Runs fn with stderr going to a pipe; returns what it wrote (static buffer). */
__attribute__((unused)) static const char *test_capture_stderr(void (*fn)(void)) {
        static char out[8192];
        int p[2], saved = dup(STDERR_FILENO);
        ASSERT_TRUE(saved >= 0 && pipe(p) == 0);
        ASSERT_TRUE(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
        close(p[1]);
        fn();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        ssize_t n = read(p[0], out, sizeof(out) - 1);
        close(p[0]);
        out[n > 0 ? n : 0] = '\0';
        return out;
}

#define TEST_TIMEOUT_SEC 30
#endif

int main(int argc, char **argv) {
        int failed = 0;
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        for (struct test_case *t = test_list; t; t = t->next) {
                if (argc > 1 && !strstr(t->name, argv[1]))
                        continue;
                fflush(stdout);
                fflush(stderr);
                pid_t pid = fork();
                if (pid < 0) {
                        perror("fork");
                        return 1;
                }
                if (pid == 0) {
                        alarm(TEST_TIMEOUT_SEC);
                        t->fn();
                        /* exit(), not _exit(): LeakSanitizer checks at exit in ASan builds. */
                        exit(0);
                }
                int st;
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                        ;
                if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                        printf("PASS: %s\n", t->name);
                else if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_SKIP_EXIT)
                        printf("SKIP: %s\n", t->name);
                else {
                        failed++;
                        if (WIFSIGNALED(st))
                                printf("FAIL: %s: killed by signal %d%s\n", t->name, WTERMSIG(st),
                                       WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
                        else
                                printf("FAIL: %s: exit status %d\n", t->name, WEXITSTATUS(st));
                }
        }
        return failed ? 1 : 0;
}
