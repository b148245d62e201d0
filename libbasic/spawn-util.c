#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "fd-util.h"
#include "macro.h"
#include "spawn-util.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Reads the child's output until EOF or the deadline. Returns the length or -ETIMEDOUT. */
static int read_output(int fd, char *buf, size_t size, uint64_t deadline) {
        size_t n = 0;

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t k;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&pfd, 1, (int) ((deadline - now + 999) / 1000));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return negative_errno();
                if (r == 0)
                        continue;
                k = read(fd, buf + n, size - 1 - n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                n += (size_t) k;
                /* Keep draining so the child never blocks on a full pipe; drop the excess. */
                if (n == size - 1)
                        n = size - 2;
        }
        buf[n] = '\0';
        return (int) n;
}

static int wait_child(pid_t pid, uint64_t deadline, int *ret_status) {
        int st;

        for (;;) {
                pid_t r = waitpid(pid, &st, WNOHANG);

                if (r == pid)
                        break;
                if (r < 0 && errno != EINTR)
                        return negative_errno();
                if (now_usec() >= deadline) {
                        kill(pid, SIGKILL);
                        (void) waitpid(pid, &st, 0);
                        return -ETIMEDOUT;
                }
                (void) poll(NULL, 0, 10);
        }
        *ret_status = st;
        return 0;
}

int spawn_attr_init_clean_signals(posix_spawnattr_t *attr) {
        sigset_t none, defaults;
        int e;

        sigemptyset(&none);
        sigfillset(&defaults);
        e = posix_spawnattr_init(attr);
        if (e)
                return -e;
        e = posix_spawnattr_setsigmask(attr, &none);
        if (!e)
                e = posix_spawnattr_setsigdefault(attr, &defaults);
        if (!e)
                e = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (e)
                posix_spawnattr_destroy(attr);
        return -e;
}

int spawn_capture(const char *path, char *const argv[], char *const envp[], const char *input,
                  uint64_t timeout_usec, char *out, size_t size, int *ret_status) {
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, in_r = -EBADF, in_w = -EBADF;
        uint64_t deadline = now_usec() + timeout_usec;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int p[2], r, e;
        pid_t pid;

        if (size > 0)
                out[0] = '\0';
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        out_r = p[0];
        out_w = p[1];
        /* stdin is a socket, not a pipe: writing to a child that exited without reading gives
         * EPIPE (MSG_NOSIGNAL) instead of SIGPIPE. */
        if (input) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
                        return negative_errno();
                in_r = p[0];
                in_w = p[1];
        }
        r = spawn_attr_init_clean_signals(&attr);
        if (r < 0)
                return r;
        posix_spawn_file_actions_init(&fa);
        if (input)
                posix_spawn_file_actions_adddup2(&fa, in_r, 0);
        else
                posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_w, 1);
        posix_spawn_file_actions_adddup2(&fa, out_w, 2);
        e = posix_spawn(&pid, path, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (e)
                return -e;
        out_w = safe_close(out_w);
        in_r = safe_close(in_r);
        if (input) /* small (a few hundred bytes): fits the socket buffer, no deadlock */
                (void) send(in_w, input, strlen(input), MSG_NOSIGNAL);
        in_w = safe_close(in_w);

        r = read_output(out_r, out, size, deadline);
        if (r < 0)
                kill(pid, SIGKILL);
        e = wait_child(pid, r < 0 ? now_usec() + USEC_PER_SEC : deadline, ret_status);
        if (r == -ETIMEDOUT || e == -ETIMEDOUT)
                return -ETIMEDOUT;
        return r < 0 ? r : e;
}
