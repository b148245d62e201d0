#include "tunnel-engine.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "error-util.h"
#include "macro.h"

/* Past the engine's fds, in the child only: the verified binary and the error pipe, both
 * CLOEXEC so that the engine inherits neither. */
#define CHILD_EXE_FD (ENGINE_CHILD_UAPI_FD + 1)
#define CHILD_ERR_FD (ENGINE_CHILD_UAPI_FD + 2)
#define CHILD_SPARE_FD 16 /* sources are moved at or above this first */

/* The engine tund-tunnel verified at startup (see tunnel-engine.h). */
static struct {
        int fd;
        char *path;
} verified = { .fd = -EBADF };

int tunnel_engine_verify(const char *path, const VerifyOptions *o, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *why = NULL, *copy = NULL;
        char head[2];

        if (ret_error)
                *ret_error = NULL;
        int r = verify_open(path, o, &fd, &why);
        if (r < 0)
                return error_set(ret_error, r, "engine %s refused: %s", path ? path : "(null)",
                                 why ? why : strerror(-r));
        /* A script is run by its interpreter, which opens it again by name: not the verified
         * file, and execveat() of a CLOEXEC fd refuses it anyway. */
        if (pread(fd, head, sizeof(head), 0) == (ssize_t) sizeof(head) && head[0] == '#' &&
            head[1] == '!')
                return error_set(ret_error, -ENOEXEC,
                                 "engine %s refused: it is a script, not a binary", path);
        copy = strdup(path);
        if (!copy)
                return error_set(ret_error, -ENOMEM, "out of memory");
        tunnel_engine_forget();
        verified.fd = TAKE_FD(fd);
        verified.path = TAKE_PTR(copy);
        return 0;
}

void tunnel_engine_forget(void) {
        verified.fd = safe_close(verified.fd);
        free(verified.path);
        verified.path = NULL;
}

int tunnel_engine_verified_fd(void) {
        return verified.fd;
}

static int dup_high(int fd) {
        if (fd < 0)
                return -EBADF;
        int n = fcntl(fd, F_DUPFD_CLOEXEC, ENGINE_CHILD_UAPI_FD + 1);
        return n < 0 ? negative_errno() : n;
}

static _Noreturn void child_fail(int errfd) {
        int e = errno;
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

static int child_move(int fd, int target) {
        if (fd < 0)
                return close(target) < 0 && errno != EBADF ? -1 : 0;
        return dup2(fd, target) < 0 ? -1 : 0;
}

/* After fork(): async-signal-safe calls only (the tunnel may have resolver threads). */
static _Noreturn void child(int out_w, int tun, int uapi, int exe, int errfd, const char *path,
                            char *const *argv, char *const *envp) {
        /* Dispositions we ignore (SIGPIPE) and signals we block for sd-event would survive
         * the exec. glibc's reserved signals refuse sigaction(); nothing of ours sets them. */
        struct sigaction sa = { .sa_handler = SIG_DFL };
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                child_fail(errfd);

        /* Every source above every target first, so that no dup2 clobbers a source. */
        int src[5] = { out_w, tun, uapi, exe, errfd }, hi[5];
        for (int i = 0; i < 5; i++) {
                hi[i] = src[i] < 0 ? -EBADF : fcntl(src[i], F_DUPFD_CLOEXEC, CHILD_SPARE_FD);
                if (src[i] >= 0 && hi[i] < 0)
                        child_fail(errfd);
        }
        if (dup3(hi[4], CHILD_ERR_FD, O_CLOEXEC) < 0)
                child_fail(errfd);
        errfd = CHILD_ERR_FD;
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(hi[0], STDOUT_FILENO) < 0 ||
            dup2(hi[0], STDERR_FILENO) < 0 || child_move(hi[1], ENGINE_CHILD_TUN_FD) < 0 ||
            child_move(hi[2], ENGINE_CHILD_UAPI_FD) < 0)
                child_fail(errfd);
        if (hi[3] >= 0 ? dup3(hi[3], CHILD_EXE_FD, O_CLOEXEC) < 0
                       : close(CHILD_EXE_FD) < 0 && errno != EBADF)
                child_fail(errfd);
        if (syscall(SYS_close_range, (unsigned) CHILD_ERR_FD + 1, ~0u, 0u) < 0)
                child_fail(errfd);

        if (exe >= 0)
                syscall(SYS_execveat, CHILD_EXE_FD, "", argv, envp, AT_EMPTY_PATH);
        else
                execve(path, argv, envp);
        child_fail(errfd);
}

int tunnel_engine_spawn(const EngineSpawnArgs *a, pid_t *ret_pid, int *ret_output_fd) {
        _cleanup_close_ int tun = -EBADF, uapi = -EBADF, out_r = -EBADF, out_w = -EBADF,
                            exe = -EBADF, err_r = -EBADF, err_w = -EBADF;
        char tun_env[32], uapi_env[32], level_env[64];
        char *envp[5];
        size_t ne = 0;
        int pipefd[2];

        if (!a->path)
                return -EINVAL;
        /* Once an engine is verified, nothing else runs in its place. */
        if (verified.fd >= 0) {
                if (!streq(a->path, verified.path))
                        return -EPERM;
                if ((exe = dup_high(verified.fd)) < 0)
                        return exe;
        }
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        out_r = pipefd[0];
        out_w = pipefd[1];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        err_r = pipefd[0];
        err_w = pipefd[1];
        if (a->tun_fd >= 0 && (tun = dup_high(a->tun_fd)) < 0)
                return tun;
        if (a->uapi_fd >= 0 && (uapi = dup_high(a->uapi_fd)) < 0)
                return uapi;

        if (tun >= 0) {
                snprintf(tun_env, sizeof(tun_env), "WG_TUN_FD=%d", ENGINE_CHILD_TUN_FD);
                envp[ne++] = tun_env;
        }
        if (uapi >= 0) {
                snprintf(uapi_env, sizeof(uapi_env), "WG_UAPI_FD=%d", ENGINE_CHILD_UAPI_FD);
                envp[ne++] = uapi_env;
        }
        /* Without it wireguard-go re-executes itself into the background and the pid we know
         * exits at once. */
        envp[ne++] = (char *) "WG_PROCESS_FOREGROUND=1";
        snprintf(level_env, sizeof(level_env), "LOG_LEVEL=%s",
                 a->log_level ? a->log_level : "error");
        envp[ne++] = level_env;
        envp[ne] = NULL;

        char *default_argv[] = { (char *) "wireguard-go", (char *) "-f",
                                 (char *) (a->ifname ? a->ifname : "tund"), NULL };
        pid_t pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                child(out_w, tun, uapi, exe, err_w, a->path, a->argv ? a->argv : default_argv,
                      envp);

        err_w = safe_close(err_w);
        int e = 0;
        ssize_t n;
        do
                n = read(err_r, &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        if (n != 0) {
                /* The child failed before its exec and exits 127: collect it here. */
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                return n == (ssize_t) sizeof(e) && e > 0 ? -e : -EIO;
        }
        if (fcntl(out_r, F_SETFL, O_NONBLOCK) < 0) {
                /* The child runs; the caller cannot read it: end it. */
                int r = negative_errno();
                kill(pid, SIGKILL);
                return r;
        }
        *ret_pid = pid;
        *ret_output_fd = TAKE_FD(out_r);
        return 0;
}

static bool startswith(const char *s, const char *prefix, const char **ret_rest) {
        size_t n = strlen(prefix);
        if (strncmp(s, prefix, n) != 0)
                return false;
        *ret_rest = s + n;
        return true;
}

int tunnel_engine_line_level(const char *line, const char **ret_text) {
        static const struct {
                const char *prefix;
                int level;
                bool strip;
        } map[] = {
                { "DEBUG: ", LOG_DEBUG, true },   { "INFO: ", LOG_INFO, true },
                { "NOTICE: ", LOG_NOTICE, true }, { "WARNING: ", LOG_WARNING, true },
                { "WARN: ", LOG_WARNING, true },  { "ERROR: ", LOG_ERR, true },
                { "panic: ", LOG_ERR, false },    { "fatal error: ", LOG_ERR, false },
        };
        const char *rest;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (startswith(line, map[i].prefix, &rest)) {
                        if (ret_text)
                                *ret_text = map[i].strip ? rest : line;
                        return map[i].level;
                }
        if (ret_text)
                *ret_text = line;
        return LOG_INFO;
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_b64(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
}

static void blank(char *p, size_t n) {
        static const char word[] = "[redacted]";
        for (size_t i = 0; i < n; i++)
                p[i] = i < sizeof(word) - 1 ? word[i] : '*';
}

int tunnel_redact_line(char *line) {
        size_t b64_end = 0; /* up to here, a base64 run known to hold no key */
        int n = 0;
        for (size_t i = 0; line[i];) {
                size_t h = 0;
                while (is_hex(line[i + h]))
                        h++;
                if (h >= 40) {
                        blank(line + i, h);
                        i += h, n++;
                        continue;
                }
                if (i >= b64_end) {
                        size_t b = 0;
                        while (is_b64(line[i + b]))
                                b++;
                        if (b >= 43 && line[i + b] == '=') {
                                blank(line + i, b + 1);
                                i += b + 1, n++;
                                continue;
                        }
                        b64_end = i + b;
                }
                /* A key may start inside a longer word, but not inside a hex run shorter than
                 * a key, nor inside a base64 run that is too short or lacks the '=': skipping
                 * them keeps this linear (looking again at every offset was quadratic, ~0.5 s
                 * for one read of 1000-character lines from a chatty engine). */
                i += MAX(h, (size_t) 1);
        }
        return n;
}

void line_splitter_feed(LineSplitter *s, const char *data, size_t n, LineHandler cb,
                        void *userdata) {
        for (size_t i = 0; i < n; i++) {
                char c = data[i];
                if (c == '\n') {
                        if (!s->discarding) {
                                s->buf[s->len] = 0;
                                cb(s->buf, userdata);
                        }
                        s->len = 0;
                        s->discarding = false;
                        continue;
                }
                if (s->discarding)
                        continue;
                if (s->len >= sizeof(s->buf) - 1) {
                        s->buf[s->len] = 0;
                        cb(s->buf, userdata);
                        s->len = 0;
                        s->discarding = true;
                        continue;
                }
                /* NULs and other control characters would cut or garble a log line. */
                s->buf[s->len++] = ((unsigned char) c < ' ' && c != '\t') ? '?' : c;
        }
}

void line_splitter_flush(LineSplitter *s, LineHandler cb, void *userdata) {
        if (s->len > 0 && !s->discarding) {
                s->buf[s->len] = 0;
                cb(s->buf, userdata);
        }
        s->len = 0;
        s->discarding = false;
}
