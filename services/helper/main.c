/* tund-helperd: the socket-activated session helper (ARCHITECTURE.md). */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "log.h"
#include "helper.h"

static int run(int argc, char *argv[]) {
        _cleanup_(helper_manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        HelperOptions opt;
        int r;

        log_open("tund-helperd", LOG_TARGET_JOURNAL);
        helper_options_init(&opt);
        r = helper_parse_argv(argc, argv, &opt, &error);
        if (r < 0) {
                log_error("%s (see --help)", error ? error : "invalid arguments");
                return r;
        }
        if (opt.help) {
                helper_help(program_invocation_short_name);
                return 0;
        }
        if (opt.version) {
                printf("tund-helperd %s\n", TUND_VERSION);
                return 0;
        }

        /* Signals are handled in one place (sd-event); SIGCHLD for sd_event_add_child. No
         * SIGPIPE deaths. Same-uid processes (our tunnels, when we run as tund) may not ptrace
         * us. */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "sigprocmask: %m");
        signal(SIGPIPE, SIG_IGN);
        (void) prctl(PR_SET_DUMPABLE, 0);

        r = helper_manager_new(&m, &opt);
        if (r < 0)
                return log_error_errno(r, "Cannot set up: %m");
        r = helper_manager_start(m);
        if (r < 0)
                return r;
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        log_info("Exiting.");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? 1 : 0;
}
