/* See helper-spawn.h. The child does only async-signal-safe work between fork() and exec. */
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>

#include "helper-spawn.h"
#include "macro.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

enum {
        STEP_SIGNALS,
        STEP_PDEATHSIG,
        STEP_FDS,
        STEP_NOFILE,
        STEP_BOUNDING,
        STEP_GROUPS,
        STEP_KEEPCAPS,
        STEP_SETGID,
        STEP_SETUID,
        STEP_CAPS,
        STEP_NNP,
        STEP_EXEC,
        _STEP_MAX,
};

static const char *const step_names[_STEP_MAX] = {
        [STEP_SIGNALS] = "resetting signals",
        [STEP_PDEATHSIG] = "PR_SET_PDEATHSIG",
        [STEP_FDS] = "setting up the fd map",
        [STEP_NOFILE] = "restoring RLIMIT_NOFILE",
        [STEP_BOUNDING] = "dropping the capability bounding set",
        [STEP_GROUPS] = "setgroups",
        [STEP_KEEPCAPS] = "PR_SET_KEEPCAPS",
        [STEP_SETGID] = "setresgid",
        [STEP_SETUID] = "setresuid",
        [STEP_CAPS] = "dropping every capability",
        [STEP_NNP] = "PR_SET_NO_NEW_PRIVS",
        [STEP_EXEC] = "execveat",
};

/* The tunnel and the engine need no capability (the shim owns the link, its MTU included;
 * the engine's own SIOCSIFMTU is made harmless by the tunnel's seccomp filter): none is
 * effective, permitted or inheritable, and with the ambient set cleared and NoNewPrivs
 * none can come back at exec. */
static int child_caps(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        struct __user_cap_data_struct have[2] = {};
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -1;
        if (syscall(SYS_capget, &h, have) < 0)
                return -1;
        /* Already none (the helper's unit gives it none): capset(2) is not even allowed. */
        if (!have[0].permitted && !have[1].permitted && !have[0].inheritable &&
            !have[1].inheritable)
                return 0;
        return syscall(SYS_capset, &h, d) < 0 ? -1 : 0;
}

/* glibc refuses sigaction() on the signals it reserves (32, 33), yet an ignored disposition of
 * theirs, inherited from whoever started us, would survive the exec: reset them directly. The
 * kernel's struct for SIG_DFL needs no restorer. */
static void child_reset_reserved_signal(int sig) {
        struct {
                void *handler;
                unsigned long flags;
                void *restorer;
                uint64_t mask;
        } ksa = { .handler = SIG_DFL };
        (void) syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

static _Noreturn void child_fail(int errfd, int step) {
        int buf[2] = { step, errno };
        (void) !write(errfd, buf, sizeof(buf));
        _exit(127);
}

static _Noreturn void child(const TunnelSpawnArgs *a, int errfd, pid_t parent) {
        /* Signals first: dispositions we ignore (SIGPIPE) would survive the exec. */
        struct sigaction sa = { .sa_handler = SIG_DFL };
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &sa, NULL) < 0)
                        child_reset_reserved_signal(sig);
        sigset_t none;
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                child_fail(errfd, STEP_SIGNALS);

        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                child_fail(errfd, STEP_PDEATHSIG);
        if (getppid() != parent)
                _exit(1); /* the helper died before we could ask to follow it */

        /* fds 0-2 exist (a closed one would be taken by the next open), then 3 4 5 6 7 are
         * channel, TUN, UAPI, binary, error pipe; moved high first so nothing collides. */
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
                        child_fail(errfd, STEP_FDS);
        int src[5] = { a->channel_fd, a->tun_fd, a->uapi_fd, a->exe_fd, errfd }, hi[5];
        for (int i = 0; i < 5; i++) {
                hi[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
                if (hi[i] < 0)
                        child_fail(errfd, STEP_FDS);
        }
        if (dup2(hi[0], TUNNEL_CHILD_CHANNEL_FD) < 0 || dup2(hi[1], TUNNEL_CHILD_TUN_FD) < 0 ||
            dup2(hi[2], TUNNEL_CHILD_UAPI_FD) < 0 || dup3(hi[3], 6, O_CLOEXEC) < 0 ||
            dup3(hi[4], 7, O_CLOEXEC) < 0)
                child_fail(errfd, STEP_FDS);
        errfd = 7;
        if (syscall(SYS_close_range, 8u, ~0u, 0u) < 0)
                child_fail(errfd, STEP_FDS);

        /* The helper raised its own fd limit for its clients; the tunnel and the engine get the
         * limit we were started with. Only now: with more fds open than that limit (a helper
         * serving ~1,000 control clients), F_DUPFD above could not have found a free one. */
        if (a->nofile_soft > 0) {
                struct rlimit rl;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > a->nofile_soft) {
                        rl.rlim_cur = a->nofile_soft;
                        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                                child_fail(errfd, STEP_NOFILE);
                }
        }

        if (a->change_user) {
                /* Nothing stays possible, even for a later exec. */
                for (unsigned long cap = 0; cap <= 63; cap++)
                        if (prctl(PR_CAPBSET_DROP, cap) < 0 && errno != EINVAL)
                                child_fail(errfd, STEP_BOUNDING);
                if (setgroups(1, &a->gid) < 0)
                        child_fail(errfd, STEP_GROUPS);
                if (prctl(PR_SET_KEEPCAPS, 1) < 0)
                        child_fail(errfd, STEP_KEEPCAPS);
                if (setresgid(a->gid, a->gid, a->gid) < 0)
                        child_fail(errfd, STEP_SETGID);
                if (setresuid(a->uid, a->uid, a->uid) < 0)
                        child_fail(errfd, STEP_SETUID);
                (void) prctl(PR_SET_KEEPCAPS, 0);
        }
        if (child_caps() < 0)
                child_fail(errfd, STEP_CAPS);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(errfd, STEP_NNP);

        char *argv[6] = { (char *) "tund-tunnel" };
        size_t n = 1;
        if (a->allow_root)
                argv[n++] = (char *) "--allow-root";
        if (a->engine_sha256) {
                argv[n++] = (char *) "--engine-sha256";
                argv[n++] = (char *) a->engine_sha256;
        }
        syscall(SYS_execveat, 6, "", argv, a->envp, AT_EMPTY_PATH);
        child_fail(errfd, STEP_EXEC);
}

int helper_tunnel_spawn(const TunnelSpawnArgs *a, pid_t *ret_pid, const char **ret_step) {
        int p[2];
        *ret_step = "pipe";
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        _cleanup_close_ int rd = p[0], wr = p[1];
        pid_t parent = getpid();

        *ret_step = "fork";
        pid_t pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                child(a, wr, parent);

        wr = safe_close(wr);
        int buf[2];
        ssize_t n;
        do
                n = read(rd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n == 0) {
                *ret_step = NULL;
                *ret_pid = pid;
                return 0; /* the exec closed the pipe */
        }
        /* The child failed before exec and exits 127: collect it here. */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (n != sizeof(buf)) {
                *ret_step = "reading the child's status";
                return -EIO;
        }
        *ret_step = buf[0] >= 0 && buf[0] < _STEP_MAX ? step_names[buf[0]] : "unknown step";
        return buf[1] > 0 ? -buf[1] : -EIO;
}

static bool env_ours(const char *e) {
        static const char *const prefixes[] = {
                "NOTIFY_SOCKET=",  "LISTEN_PID=",   "LISTEN_FDS=",
                "LISTEN_FDNAMES=", "WATCHDOG_PID=", "WATCHDOG_USEC="
        };
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return false;
}

char **helper_child_env(char **environ_) {
        size_t n = 0;
        for (char **e = environ_; e && *e; e++)
                n++;
        char **env = calloc(n + 1, sizeof(char *));
        if (!env)
                return NULL;
        size_t k = 0;
        for (char **e = environ_; e && *e; e++) {
                if (env_ours(*e))
                        continue;
                env[k] = strdup(*e);
                if (!env[k]) {
                        helper_env_free(env);
                        return NULL;
                }
                k++;
        }
        return env;
}

void helper_env_free(char **env) {
        for (char **e = env; e && *e; e++)
                free(*e);
        free(env);
}
