/* bench-floor: the floor for the activation benchmark (test/bench/run). Run under
 * `systemd-socket-activate -l A -l B --fdname=control:shim`, exactly like tund-helperd: it
 * accepts on the first passed socket (fd 3) and writes one line to each connection, as a
 * server that does nothing else would. Runs until killed. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
        static const char line[] = "tund helper 1.0\n";
        for (;;) {
                int c = accept4(3, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return 1;
                (void) send(c, line, strlen(line), MSG_NOSIGNAL);
                close(c);
        }
}
