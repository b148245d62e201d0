/* fake-logind: stands in for systemd-logind on a (private) system bus, for the sleep tests.
 * Connects with sd_bus_open_system() (so DBUS_SYSTEM_BUS_ADDRESS is honoured), owns
 * org.freedesktop.login1, prints "ready", then reads commands from stdin, one a line:
 *   sleep   emits PrepareForSleep(true)
 *   wake    emits PrepareForSleep(false)
 * (the signal on /org/freedesktop/login1, interface org.freedesktop.login1.Manager, "b"), and
 * prints "ok" after each (flushed); an unknown line prints "error: ...". Exits 0 on EOF.
 * Inhibit(ssss) is answered with the read end of a pipe, as logind answers it, and logged to
 * stderr ("inhibit WHAT WHO WHY MODE"), so that a helper taking a delay lock finds one; other
 * calls get sd-bus's unknown-method error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define LOGIN1_NAME "org.freedesktop.login1"
#define LOGIN1_PATH "/org/freedesktop/login1"
#define LOGIN1_IFACE "org.freedesktop.login1.Manager"

static sd_bus *bus;
static char line[256];
static size_t line_len;

static int method_inhibit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *what, *who, *why, *mode;
        int p[2], r;

        r = sd_bus_message_read(m, "ssss", &what, &who, &why, &mode);
        if (r < 0)
                return r;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        fprintf(stderr, "inhibit %s %s %s %s\n", what, who, why, mode);
        r = sd_bus_reply_method_return(m, "h", p[0]);
        close(p[0]);
        /* the write end stays open: the lock holds until the caller closes its end */
        return r;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Inhibit", "ssss", "h", method_inhibit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("PrepareForSleep", "b", 0),
        SD_BUS_VTABLE_END,
};

static void command(const char *cmd) {
        int r, arg;

        if (strcmp(cmd, "sleep") == 0)
                arg = 1;
        else if (strcmp(cmd, "wake") == 0)
                arg = 0;
        else if (cmd[0] == '\0')
                return;
        else {
                printf("error: unknown command \"%s\"\n", cmd);
                fflush(stdout);
                return;
        }
        r = sd_bus_emit_signal(bus, LOGIN1_PATH, LOGIN1_IFACE, "PrepareForSleep", "b", arg);
        if (r >= 0)
                r = sd_bus_flush(bus);
        if (r < 0)
                printf("error: PrepareForSleep(%s): %s\n", arg ? "true" : "false", strerror(-r));
        else
                printf("ok\n");
        fflush(stdout);
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0) {
                if (line_len > 0) {
                        line[line_len] = '\0';
                        command(line);
                }
                return sd_event_exit(sd_event_source_get_event(s), 0);
        }
        for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == '\n') {
                        line[line_len] = '\0';
                        command(line);
                        line_len = 0;
                } else if (line_len < sizeof(line) - 1)
                        line[line_len++] = buf[i];
        }
        return 0;
}

int main(void) {
        sd_event *e = NULL;
        int r;

        r = sd_event_default(&e);
        if (r >= 0)
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "fake-logind: cannot connect to the system bus: %s\n",
                        strerror(-r));
                return 1;
        }
        r = sd_bus_add_object_vtable(bus, NULL, LOGIN1_PATH, LOGIN1_IFACE, manager_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, LOGIN1_NAME, 0);
        if (r < 0) {
                fprintf(stderr, "fake-logind: cannot own %s: %s\n", LOGIN1_NAME, strerror(-r));
                return 1;
        }
        r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_event_add_io(e, NULL, STDIN_FILENO, EPOLLIN, on_stdin, NULL);
        if (r < 0) {
                fprintf(stderr, "fake-logind: event loop: %s\n", strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);
        r = sd_event_loop(e);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(e);
        if (r < 0) {
                fprintf(stderr, "fake-logind: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
