/* tunnel-fake-engine: a misbehaving stand-in for wireguard-go, for tund-tunnel's error paths.
 *
 *   tunnel-fake-engine MODE [wireguard-go arguments...]
 *   MODE: garbage  answer every UAPI request with text that is not UAPI
 *         hang     never accept on the UAPI socket, ignore SIGTERM
 *         errno    answer errno=22 to requests that configure a peer, errno=0 otherwise
 *         exit     print an ERROR line and exit 1 at once
 * tund-tunnel passes a fixed argv and a clean environment, so tests point --engine at a
 * one-line script: exec tunnel-fake-engine MODE "$@". `--version` answers like Debian's
 * wireguard-go. Every mode first checks what it inherited (fd 3 a TUN, fd 4 a listening
 * socket, nothing else open above 2, exactly the expected environment) and says so on stderr
 * as an INFO or ERROR line, which the tunnel forwards as a Log. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <dirent.h>

extern char **environ;

static int check_inherited(char *why, size_t size) {
        struct ifreq ifr = {};
        int v = 0;
        socklen_t l = sizeof(v);
        if (ioctl(3, TUNGETIFF, &ifr) < 0)
                return snprintf(why, size, "fd 3 is not a TUN"), -1;
        if (getsockopt(4, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0 || !v)
                return snprintf(why, size, "fd 4 is not a listening socket"), -1;
        if (fcntl(3, F_GETFD) & FD_CLOEXEC || fcntl(4, F_GETFD) & FD_CLOEXEC)
                return snprintf(why, size, "fd 3/4 CLOEXEC"), -1;
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (atoi(de->d_name) > 4 && atoi(de->d_name) != dirfd(d))
                        return snprintf(why, size, "fd %.16s leaked into the engine", de->d_name),
                               -1;
        if (d)
                closedir(d);
        int n = 0;
        for (char **e = environ; *e; e++, n++) {
                /* The /bin/sh wrapper the tests use adds PWD itself. */
                if (!strncmp(*e, "PWD=", 4)) {
                        n--;
                        continue;
                }
                if (strncmp(*e, "WG_TUN_FD=3", 12) && strncmp(*e, "WG_UAPI_FD=4", 13) &&
                    strncmp(*e, "WG_PROCESS_FOREGROUND=1", 24) && strncmp(*e, "LOG_LEVEL=", 10))
                        return snprintf(why, size, "unexpected environment entry %.20s", *e), -1;
        }
        if (n != 4)
                return snprintf(why, size, "%d environment entries, want 4", n), -1;
        return 0;
}

static void serve(int garbage) {
        for (;;) {
                int c = accept4(4, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno == EINTR)
                                continue;
                        exit(1);
                }
                char buf[65536];
                size_t len = 0;
                for (;;) {
                        ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
                        if (n <= 0)
                                break;
                        len += (size_t) n;
                        buf[len] = 0;
                        char *end = strstr(buf, "\n\n");
                        if (!end)
                                continue;
                        const char *reply = garbage                      ? "this is not uapi\n\n"
                                            : strstr(buf, "public_key=") ? "errno=22\n\n"
                                                                         : "errno=0\n\n";
                        (void) !write(c, reply, strlen(reply));
                        len -= (size_t) (end + 2 - buf);
                        memmove(buf, end + 2, len);
                }
                close(c);
        }
}

int main(int argc, char **argv) {
        char why[128];
        if (argc < 2)
                return 2;
        for (int i = 2; i < argc; i++)
                if (!strcmp(argv[i], "--version")) {
                        printf("wireguard-go v0.0.20220316\n\nUserspace WireGuard daemon "
                               "(fake).\n");
                        return 0;
                }
        setvbuf(stderr, NULL, _IOLBF, 0);
        if (check_inherited(why, sizeof(why)) < 0)
                fprintf(stderr, "ERROR: (fake) inherited state wrong: %s\n", why);
        else
                fprintf(stderr, "INFO: (fake) inherited fds and environment ok\n");
        const char *mode = argv[1];
        if (!strcmp(mode, "exit")) {
                fprintf(stderr, "ERROR: (fake) Failed to create TUN device: fake failure\n");
                return 1;
        }
        if (!strcmp(mode, "hang")) {
                signal(SIGTERM, SIG_IGN);
                for (;;)
                        pause();
        }
        serve(!strcmp(mode, "garbage"));
        return 0;
}
