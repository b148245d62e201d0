/* bench-floor-sd: a second floor for the activation benchmark (test/bench/run): bench-floor
 * plus what any sd-event daemon pays before its first reply: libsystemd and its dependencies
 * loaded, the fds found by name (sd_listen_fds_with_names), an sd-event loop. It accepts on
 * the fd named "control" and writes one line to each connection. Runs until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *u) {
        static const char line[] = "tund helper 1.0\n";
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                return 0;
        (void) send(c, line, strlen(line), MSG_NOSIGNAL);
        close(c);
        return 0;
}

int main(void) {
        char **names = NULL;
        sd_event *e = NULL;
        int n = sd_listen_fds_with_names(1, &names), fd = -1;
        for (int i = 0; i < n; i++)
                if (names && !strcmp(names[i], "control"))
                        fd = SD_LISTEN_FDS_START + i;
        if (fd < 0 || sd_event_default(&e) < 0 ||
            sd_event_add_io(e, NULL, fd, EPOLLIN, on_accept, NULL) < 0)
                return 1;
        return sd_event_loop(e) < 0 ? 1 : 0;
}
