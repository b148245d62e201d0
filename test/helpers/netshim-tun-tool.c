/* Drives services/netshim/netshim-tun.c for test/integration/netshim-tun.sh.
 *
 *   netshim-tun-tool detect [WG_BIN]             print "VERSION FLAVOUR"
 *   netshim-tun-tool tun IFNAME FLAVOUR          create the TUN, print its flags, hold it
 *   netshim-tun-tool uapi DIR IFNAME UID GID [hold]
 *                                                create the UAPI socket, hold it if asked
 *   netshim-tun-tool run IFNAME [FLAVOUR]        TUN (detected flavour unless given) + UAPI
 *                                                socket, then wireguard-go on those fds,
 *                                                foreground; waits for it
 * "hold" means: print READY and wait for SIGTERM/SIGINT. WG_BIN overrides the engine. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "engine.h"
#include "macro.h"
#include "services/netshim/netshim-tun.h"

static volatile sig_atomic_t got_signal;
static volatile pid_t child;

static void on_signal(int sig) {
        got_signal = sig;
        if (child > 0)
                kill(child, SIGTERM);
}

static void hold(void) {
        printf("READY\n");
        fflush(stdout);
        while (!got_signal)
                pause();
}

static int die(int r, char *err) {
        fprintf(stderr, "error: %s (%s)\n", err ?: "?", strerror(-r));
        free(err);
        return 1;
}

static const char *engine_path(void) {
        return getenv("WG_BIN") ?: ENGINE_DEFAULT_PATH;
}

static int cmd_tun(const char *ifname, const char *flavour) {
        char *err = NULL;
        int fd;

        fd = netshim_tun_create(ifname, engine_tun_flavour_from_string(flavour), &err);
        if (fd < 0)
                return die(fd, err);
        printf("TUN %s fd_cloexec=%d\n", ifname, (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0);
        hold();
        return 0;
}

static int cmd_uapi(const char *dir, const char *ifname, const char *uid, const char *gid,
                    bool keep) {
        char *err = NULL;
        int fd;

        fd = netshim_uapi_listen_at(dir, ifname, NETSHIM_UAPI_MODE, (uid_t) atoi(uid),
                                    (gid_t) atoi(gid), &err);
        if (fd < 0)
                return die(fd, err);
        printf("UAPI fd_cloexec=%d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0);
        if (keep)
                hold();
        return 0;
}

/* wireguard-go gets the TUN as fd 3 and the UAPI socket as fd 4, and nothing else. */
static int spawn_engine(int tun_fd, int uapi_fd, const char *ifname, pid_t *ret) {
        char *argv[] = { (char *) "wireguard-go", (char *) "-f", (char *) ifname, NULL };
        char *envp[] = { (char *) "WG_TUN_FD=3",
                         (char *) "WG_UAPI_FD=4",
                         (char *) "WG_PROCESS_FOREGROUND=1",
                         (char *) "LOG_LEVEL=error",
                         (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                         NULL };
        posix_spawn_file_actions_t fa;
        int t, u, e;

        /* Move both above 4 first so neither dup2 overwrites the other's source. */
        t = fcntl(tun_fd, F_DUPFD_CLOEXEC, 10);
        u = fcntl(uapi_fd, F_DUPFD_CLOEXEC, 10);
        if (t < 0 || u < 0)
                return negative_errno();
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, t, 3);
        posix_spawn_file_actions_adddup2(&fa, u, 4);
        posix_spawn_file_actions_addclosefrom_np(&fa, 5);
        e = posix_spawn(ret, engine_path(), &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close(t);
        close(u);
        return -e;
}

static int cmd_run(const char *ifname, const char *flavour) {
        EngineTunFlavour override =
                flavour ? engine_tun_flavour_from_string(flavour) : ENGINE_TUN_FLAVOUR_UNKNOWN;
        int tun_fd, uapi_fd, r, st;
        char *err = NULL;
        EngineInfo info;
        pid_t pid;

        r = engine_detect_full(engine_path(), override, ENGINE_DEFAULT_TIMEOUT_USEC, &info, &err);
        if (r < 0)
                return die(r, err);
        tun_fd = netshim_tun_create(ifname, info.flavour, &err);
        if (tun_fd < 0)
                return die(tun_fd, err);
        uapi_fd = netshim_uapi_listen(ifname, 0, 0, &err);
        if (uapi_fd < 0)
                return die(uapi_fd, err);
        r = spawn_engine(tun_fd, uapi_fd, ifname, &pid);
        if (r < 0)
                return die(r, strdup("posix_spawn"));
        child = pid;
        printf("ENGINE %d version=%s flavour=%s\n", (int) pid, info.version,
               engine_tun_flavour_to_string(info.flavour));
        fflush(stdout);
        close(uapi_fd);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        close(tun_fd);
        printf("EXIT %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        return 0;
}

int main(int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_signal };

        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        setvbuf(stdout, NULL, _IOLBF, 0);

        if (argc >= 2 && streq(argv[1], "detect")) {
                char *err = NULL;
                EngineInfo info;
                int r = engine_detect(argc >= 3 ? argv[2] : engine_path(), &info, &err);

                if (r < 0)
                        return die(r, err);
                printf("%s %s\n", info.version, engine_tun_flavour_to_string(info.flavour));
                return 0;
        }
        if (argc == 4 && streq(argv[1], "tun"))
                return cmd_tun(argv[2], argv[3]);
        if ((argc == 6 || argc == 7) && streq(argv[1], "uapi"))
                return cmd_uapi(argv[2], argv[3], argv[4], argv[5], argc == 7);
        if ((argc == 3 || argc == 4) && streq(argv[1], "run"))
                return cmd_run(argv[2], argc == 4 ? argv[3] : NULL);
        fprintf(stderr, "usage: see the comment at the top of netshim-tun-tool.c\n");
        return 2;
}
