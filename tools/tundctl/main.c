/* tundctl: the admin CLI of tund. A table of verbs, one file per verb (see tundctl.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "tundctl.h"

const TundctlVerb tundctl_verbs[] = {
        { "status", "[PROFILE]", "Show sessions, their link, peers, DNS and health warnings.",
          tundctl_status, NULL },
        { "peers", "[PROFILE]", "Show the live state of every peer (from the engine).",
          tundctl_peers, NULL },
        { "watch", "[PROFILE]", "Print live events (state, peers, logs) until interrupted.",
          tundctl_watch, "  -n, --count N          exit after N events\n" },
        { "up", "PROFILE", "Start tund@PROFILE.service through systemd and wait for the result.",
          tundctl_up, "  --no-block             return once the start job is queued\n" },
        { "down", "PROFILE", "Stop tund@PROFILE.service through systemd and wait for it.",
          tundctl_down, "  --no-block             return once the stop job is queued\n" },
        { "rebind", "PROFILE|--all",
          "Make the tunnel(s) resolve their endpoints again and rebind (after a network change).",
          tundctl_rebind,
          "  -a, --all              every session\n"
          "      --coalesce         skip sessions rebound for the same network change in the\n"
          "                         last 5 s (NetworkManager's hook)\n" },
        { "check", "PROFILE|FILE", "Validate a profile without applying it.", tundctl_check, NULL },
        { "profiles", "", "List the profiles in the configuration directory and their state.",
          tundctl_profiles, NULL },
        { "doctor", "",
          "Check the installation: helper, sockets, engine, DNS, NetworkManager, "
          "routes.",
          tundctl_doctor, NULL },
        { "version", "", "Show the version of tundctl and of the running helper.", tundctl_version,
          NULL },
};
const size_t tundctl_n_verbs = ELEMENTSOF(tundctl_verbs);

const TundctlVerb *tundctl_verb_find(const char *name) {
        for (size_t i = 0; name && i < tundctl_n_verbs; i++)
                if (streq(tundctl_verbs[i].name, name))
                        return &tundctl_verbs[i];
        return NULL;
}

static void help(FILE *f) {
        fprintf(f, "Usage: tundctl [OPTIONS] COMMAND [ARGS]\n\n"
                   "Inspect and steer tund, the WireGuard VPN service.\n\nCommands:\n");
        for (size_t i = 0; i < tundctl_n_verbs; i++) {
                char head[64];
                snprintf(head, sizeof(head), "%s %s", tundctl_verbs[i].name,
                         tundctl_verbs[i].synopsis);
                fprintf(f, "  %-24s %s\n", head, tundctl_verbs[i].summary);
        }
        fprintf(f,
                "\nOptions (before or after the command):\n"
                "  --socket PATH          the helper's control socket (default %s,\n"
                "                         or $%s)\n"
                "  --config-dir DIR       profiles directory (default %s)\n"
                "  --timeout SEC          how long to wait for the helper (default %llu)\n"
                "  --json                 machine-readable output (schema %d, see tundctl(8))\n"
                "  --no-color             no colours even on a terminal\n"
                "  -h, --help             help (also after a command)\n"
                "  --version              same as the version command\n\n"
                "Exit status: 0 ok, 1 failure, 2 usage, 3 not running, 4 permission denied,\n"
                "5 invalid profile.\n",
                TUNDCTL_SOCKET_DEFAULT, TUNDCTL_SOCKET_ENV, TUNDCTL_CONFIG_DIR_DEFAULT,
                (unsigned long long) (TUNDCTL_TIMEOUT_DEFAULT_USEC / USEC_PER_SEC),
                TUNDCTL_JSON_SCHEMA);
}

/* Global options before the command; the verb parses the rest (and globals again). */
static int parse_globals(int argc, char *argv[], bool *ret_version) {
        struct option all[16];
        size_t n = 0;
        int c, r;

        for (const struct option *o = tundctl_global_options; o->name; o++)
                all[n++] = *o;
        all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
        all[n++] = (struct option){ "version", no_argument, NULL, 'V' };
        all[n] = (struct option){};

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", all, NULL)) >= 0) {
                if (c == 'h') {
                        help(stdout);
                        return -1;
                }
                if (c == 'V') {
                        *ret_version = true;
                        continue;
                }
                if (c == '?' || c == ':') {
                        tundctl_usage_error(NULL, "%s: %s",
                                            c == ':' ? "missing argument" : "unknown option",
                                            argv[optind - 1]);
                        return -2;
                }
                r = tundctl_global_option(c, optarg);
                if (r <= 0)
                        return -2;
        }
        return optind;
}

static int run(int argc, char *argv[]) {
        static char *version_argv[] = { (char *) "version", NULL };
        const TundctlVerb *v;
        bool version = false;
        int first;

        tundctl_globals_init(&arg_g);
        tundctl_verb_lookup = tundctl_verb_find;
        first = parse_globals(argc, argv, &version);
        if (first == -1)
                return TUNDCTL_EXIT_OK;
        if (first < 0)
                return TUNDCTL_EXIT_USAGE;
        if (version)
                return tundctl_version(1, version_argv);
        if (first >= argc) {
                /* Like wg(8) and networkctl(1): no command shows the state. */
                static char *status_argv[] = { (char *) "status", NULL };
                return tundctl_status(1, status_argv);
        }
        v = tundctl_verb_find(argv[first]);
        if (!v)
                return tundctl_usage_error(NULL, "unknown command \"%s\"", argv[first]);
        return v->run(argc - first, argv + first);
}

int main(int argc, char *argv[]) {
        int r;

        /* Writes to a closed pipe (tundctl watch | head) end with EPIPE, not a signal. */
        signal(SIGPIPE, SIG_IGN);
        r = run(argc, argv);
        /* With --json, a failure still prints one JSON document, so scripts parse stdout. */
        if (r != TUNDCTL_EXIT_OK && arg_g.json && !tundctl_json_done) {
                Json j;
                json_init(&j, stdout);
                json_document_begin(&j);
                json_key(&j, "error");
                json_object_begin(&j);
                json_kv_string(&j, "message",
                               isempty(tundctl_last_error()) ? "usage error"
                                                             : tundctl_last_error());
                json_kv_int(&j, "exit_code", r);
                json_object_end(&j);
                json_document_end(&j);
        }
        if (fflush(stdout) != 0 && r == TUNDCTL_EXIT_OK)
                r = TUNDCTL_EXIT_FAILURE;
        return r;
}
