/* tundctl: argument parsing of each verb, global options, exit-code mapping and the health
 * warnings of `status`. */
#include <stdio.h>

#include "tests.h"
#include "tundctl.h"
#include "strv.h"

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)))
/* Parse functions return -1 for "run", else the exit code. */
#define PARSE(fn, a, ...) fn(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a)

static void globals_reset(void) {
        unsetenv(TUNDCTL_SOCKET_ENV);
        tundctl_globals_init(&arg_g);
}

TEST(globals_defaults_and_env) {
        globals_reset();
        ASSERT_STREQ(arg_g.socket_path, "/run/tund/control.sock");
        ASSERT_STREQ(arg_g.config_dir, "/etc/tund");
        ASSERT_EQ(arg_g.timeout_usec, TUNDCTL_TIMEOUT_DEFAULT_USEC);
        ASSERT_TRUE(!arg_g.json);
        ASSERT_EQ(arg_g.color, -1);
        setenv(TUNDCTL_SOCKET_ENV, "/tmp/x.sock", 1);
        tundctl_globals_init(&arg_g);
        ASSERT_STREQ(arg_g.socket_path, "/tmp/x.sock");
}

TEST(globals_after_verb) {
        StatusArgs a;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "work", "--json", "--socket", "/s",
                        "--timeout", "2.5", "--config-dir", "/c", "--no-color"),
                  -1);
        ASSERT_STREQ(a.profile, "work");
        ASSERT_TRUE(arg_g.json);
        ASSERT_STREQ(arg_g.socket_path, "/s");
        ASSERT_STREQ(arg_g.config_dir, "/c");
        ASSERT_EQ(arg_g.timeout_usec, 2500000);
        ASSERT_TRUE(arg_g.timeout_set);
        ASSERT_EQ(arg_g.color, 0);
}

TEST(globals_bad_values) {
        StatusArgs a;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "--timeout", "abc"), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "--timeout", "0"), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "--timeout", "-1"), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "--timeout"), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "--socket", ""), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "--bogus"), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &a, "status", "-x"), 2);
}

TEST(parse_timeout) {
        uint64_t u;
        ASSERT_OK(tundctl_parse_timeout("5", &u));
        ASSERT_EQ(u, 5 * USEC_PER_SEC);
        ASSERT_OK(tundctl_parse_timeout("0.5", &u));
        ASSERT_EQ(u, 500000);
        ASSERT_TRUE(tundctl_parse_timeout("", &u) < 0);
        ASSERT_TRUE(tundctl_parse_timeout("1e3x", &u) < 0);
        ASSERT_TRUE(tundctl_parse_timeout("nan", &u) < 0);
        ASSERT_TRUE(tundctl_parse_timeout("inf", &u) < 0);
        ASSERT_TRUE(tundctl_parse_timeout("86401", &u) < 0);
}

TEST(help_is_exit_0) {
        StatusArgs s;
        RebindArgs r;
        UpArgs u;
        CheckArgs c;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_status_parse, &s, "status", "-h"), 0);
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "--help"), 0);
        ASSERT_EQ(tundctl_up_parse(2, ARGV("up", "-h"), true, &u), 0);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "-h"), 0);
        ASSERT_EQ(tundctl_noargs_parse("doctor", 2, ARGV("doctor", "-h")), 0);
}

TEST(status_peers_args) {
        StatusArgs s;
        PeersArgs p;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_status_parse, &s, "status"), -1);
        ASSERT_TRUE(s.profile == NULL);
        ASSERT_EQ(PARSE(tundctl_status_parse, &s, "status", "a", "b"), 2);
        ASSERT_EQ(PARSE(tundctl_status_parse, &s, "status", "../etc"), 2);
        ASSERT_EQ(PARSE(tundctl_peers_parse, &p, "peers", "work"), -1);
        ASSERT_STREQ(p.profile, "work");
        ASSERT_EQ(PARSE(tundctl_peers_parse, &p, "peers", "bad/name"), 2);
}

TEST(watch_args) {
        WatchArgs w;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_watch_parse, &w, "watch"), -1);
        ASSERT_EQ(w.count, 0);
        ASSERT_EQ(PARSE(tundctl_watch_parse, &w, "watch", "work", "-n", "3"), -1);
        ASSERT_EQ(w.count, 3);
        ASSERT_STREQ(w.profile, "work");
        ASSERT_EQ(PARSE(tundctl_watch_parse, &w, "watch", "--count", "0"), 2);
        ASSERT_EQ(PARSE(tundctl_watch_parse, &w, "watch", "--count", "x"), 2);
        ASSERT_EQ(PARSE(tundctl_watch_parse, &w, "watch", "--count"), 2);
}

TEST(up_down_args) {
        UpArgs u;
        globals_reset();
        ASSERT_EQ(tundctl_up_parse(2, ARGV("up", "work"), true, &u), -1);
        ASSERT_STREQ(u.profile, "work");
        ASSERT_TRUE(u.start && !u.no_block);
        ASSERT_EQ(tundctl_up_parse(3, ARGV("down", "--no-block", "work"), false, &u), -1);
        ASSERT_TRUE(!u.start && u.no_block);
        ASSERT_EQ(tundctl_up_parse(1, ARGV("up"), true, &u), 2);
        ASSERT_EQ(tundctl_up_parse(3, ARGV("up", "a", "b"), true, &u), 2);
        ASSERT_EQ(tundctl_up_parse(2, ARGV("up", "a b"), true, &u), 2);
        ASSERT_EQ(tundctl_up_parse(2, ARGV("up", "012345678901234567890123456789012"), true, &u),
                  2); /* 33 characters */
}

TEST(rebind_args) {
        RebindArgs r;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "--all"), -1);
        ASSERT_TRUE(r.all && r.profile == NULL);
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "-a"), -1);
        ASSERT_TRUE(r.all);
        ASSERT_TRUE(!r.coalesce);
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "--all", "--coalesce"), -1);
        ASSERT_TRUE(r.all && r.coalesce);
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "work"), -1);
        ASSERT_TRUE(!r.all && !r.coalesce);
        ASSERT_STREQ(r.profile, "work");
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind"), 2);
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "work", "--all"), 2);
        ASSERT_EQ(PARSE(tundctl_rebind_parse, &r, "rebind", "a", "b"), 2);
}

TEST(check_args) {
        CheckArgs c;
        globals_reset();
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "work"), -1);
        ASSERT_TRUE(!c.is_path);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "./work.conf"), -1);
        ASSERT_TRUE(c.is_path);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "work.conf"), -1);
        ASSERT_TRUE(c.is_path);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "/etc/tund/x.conf"), -1);
        ASSERT_TRUE(c.is_path);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check"), 2);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "a", "b"), 2);
        ASSERT_EQ(PARSE(tundctl_check_parse, &c, "check", "bad name"), 2);
}

TEST(noargs_verbs) {
        globals_reset();
        ASSERT_EQ(tundctl_noargs_parse("profiles", 1, ARGV("profiles")), -1);
        ASSERT_EQ(tundctl_noargs_parse("profiles", 2, ARGV("profiles", "x")), 2);
        ASSERT_EQ(tundctl_noargs_parse("version", 2, ARGV("version", "--json")), -1);
        ASSERT_TRUE(arg_g.json);
}

TEST(exit_codes_errno) {
        ASSERT_EQ(tundctl_exit_from_errno(0), 0);
        ASSERT_EQ(tundctl_exit_from_errno(-ENOENT), 3);
        ASSERT_EQ(tundctl_exit_from_errno(-ECONNREFUSED), 3);
        ASSERT_EQ(tundctl_exit_from_errno(-ECONNRESET), 3);
        ASSERT_EQ(tundctl_exit_from_errno(-EACCES), 4);
        ASSERT_EQ(tundctl_exit_from_errno(EPERM), 4);
        ASSERT_EQ(tundctl_exit_from_errno(-ETIMEDOUT), 1);
        ASSERT_EQ(tundctl_exit_from_errno(-ENOMEM), 1);
}

TEST(exit_codes_proto) {
        ASSERT_EQ(tundctl_exit_from_error_code(TUND__ERROR_CODE__ERROR_NONE), 0);
        ASSERT_EQ(tundctl_exit_from_error_code(TUND__ERROR_CODE__ERROR_PERMISSION), 4);
        ASSERT_EQ(tundctl_exit_from_error_code(TUND__ERROR_CODE__ERROR_NOT_FOUND), 3);
        ASSERT_EQ(tundctl_exit_from_error_code(TUND__ERROR_CODE__ERROR_INVALID), 2);
        ASSERT_EQ(tundctl_exit_from_error_code(TUND__ERROR_CODE__ERROR_ENGINE), 1);
        ASSERT_EQ(tundctl_exit_from_error_code(TUND__ERROR_CODE__ERROR_BUSY), 1);
        ASSERT_EQ(tundctl_exit_from_error_code((Tund__ErrorCode) 999), 1);
        ASSERT_STREQ(tundctl_error_code_to_string(TUND__ERROR_CODE__ERROR_NETCFG), "netcfg");
        ASSERT_STREQ(tundctl_error_code_to_string((Tund__ErrorCode) 999), "unknown");
}

TEST(fail_records_message) {
        ASSERT_EQ(tundctl_fail(3, "cannot reach %s", "x"), 3);
        ASSERT_STREQ(tundctl_last_error(), "cannot reach x");
        ASSERT_EQ(tundctl_usage_error("rebind", "name a profile or --all"), 2);
        ASSERT_CONTAINS(tundctl_last_error(), "rebind: name a profile or --all");
}

/* ---- health ---- */

static size_t health(const Tund__SessionInfo *s, int64_t now, int stub, char ***w) {
        HealthEnv env = { .now_sec = now, .resolv_conf_stub = stub };
        size_t n = 0;
        *w = NULL;
        ASSERT_OK(tundctl_session_health(s, &env, w, &n));
        return n;
}

static bool has(char **w, size_t n, const char *needle) {
        for (size_t i = 0; i < n; i++)
                if (strstr(w[i], needle))
                        return true;
        return false;
}

TEST(health_clean_session) {
        Tund__SessionInfo s = TUND__SESSION_INFO__INIT;
        Tund__NetworkSettingsResult ap = TUND__NETWORK_SETTINGS_RESULT__INIT;
        Tund__PeerState p = TUND__PEER_STATE__INIT, *pp[1] = { &p };
        char **w;
        s.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        s.applied = &ap;
        ap.dns_backend = (char *) "none";
        s.peers = pp;
        s.n_peers = 1;
        p.public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        p.last_handshake_sec = 1000 - 179;
        s.started_usec = 500 * USEC_PER_SEC;
        size_t n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 0);
        strv_free_n(w, n);
}

TEST(health_stale_handshake) {
        Tund__SessionInfo s = TUND__SESSION_INFO__INIT;
        Tund__NetworkSettingsResult ap = TUND__NETWORK_SETTINGS_RESULT__INIT;
        Tund__PeerState p = TUND__PEER_STATE__INIT, *pp[1] = { &p };
        char **w;
        s.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        s.applied = &ap;
        s.peers = pp;
        s.n_peers = 1;
        p.public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        p.last_handshake_sec = 1000 - 181;
        size_t n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 1);
        ASSERT_CONTAINS(w[0], "stale handshake");
        ASSERT_CONTAINS(w[0], "3 min 1 s ago");
        ASSERT_CONTAINS(w[0], "xTIBA5rb");
        strv_free_n(w, n);
        /* Never a handshake: fine just after the start, a warning later. */
        p.last_handshake_sec = 0;
        s.started_usec = 900 * USEC_PER_SEC;
        n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 0);
        strv_free_n(w, n);
        s.started_usec = 100 * USEC_PER_SEC;
        n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 1);
        ASSERT_CONTAINS(w[0], "no handshake");
        strv_free_n(w, n);
}

TEST(health_dns) {
        Tund__SessionInfo s = TUND__SESSION_INFO__INIT;
        Tund__NetworkSettings ns = TUND__NETWORK_SETTINGS__INIT;
        Tund__NetworkSettingsResult ap = TUND__NETWORK_SETTINGS_RESULT__INIT;
        uint8_t a[4] = { 10, 0, 0, 53 };
        ProtobufCBinaryData srv = { 4, a };
        char **w;
        s.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        s.settings = &ns;
        s.applied = &ap;
        ns.dns_servers = &srv;
        ns.n_dns_servers = 1;
        ap.dns_backend = (char *) "none";
        size_t n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 1);
        ASSERT_CONTAINS(w[0], "DNS not applied");
        strv_free_n(w, n);

        /* resolved took them, and resolv.conf uses the stub: fine */
        ap.dns_backend = (char *) "resolved";
        n = health(&s, 1000, 1, &w);
        ASSERT_EQ(n, 0);
        strv_free_n(w, n);
        /* ... but resolv.conf was replaced */
        n = health(&s, 1000, 0, &w);
        ASSERT_EQ(n, 1);
        ASSERT_CONTAINS(w[0], "resolv.conf");
        ASSERT_CONTAINS(w[0], "127.0.0.53");
        strv_free_n(w, n);
        /* resolvconf backend: resolv.conf is not resolved's business */
        ap.dns_backend = (char *) "resolvconf";
        n = health(&s, 1000, 0, &w);
        ASSERT_EQ(n, 0);
        strv_free_n(w, n);
}

TEST(health_state_applied_last_error) {
        Tund__SessionInfo s = TUND__SESSION_INFO__INIT;
        char **w;
        s.state = TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        s.last_error = (char *) "engine: handshake did not complete";
        size_t n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 2);
        ASSERT_TRUE(has(w, n, "network settings not applied"));
        ASSERT_TRUE(has(w, n, "last error: engine: handshake"));
        strv_free_n(w, n);
        s.state = TUND__SESSION_STATE__SESSION_STATE_STARTING;
        s.last_error = (char *) "";
        n = health(&s, 1000, -1, &w);
        ASSERT_EQ(n, 1);
        ASSERT_CONTAINS(w[0], "session is starting");
        strv_free_n(w, n);
}

TEST(resolv_conf_stub) {
        char path[] = "/tmp/test-tundctl-resolv-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fputs("# generated\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n", f);
        fclose(f);
        ASSERT_EQ(tundctl_resolv_conf_is_stub(path), 1);
        f = fopen(path, "w");
        fputs("nameserver 192.0.2.53\n# nameserver 127.0.0.53 in a comment is not one\n", f);
        fclose(f);
        ASSERT_EQ(tundctl_resolv_conf_is_stub(path), 0);
        f = fopen(path, "w");
        fputs("  nameserver\t127.0.0.54\n", f);
        fclose(f);
        ASSERT_EQ(tundctl_resolv_conf_is_stub(path), 1);
        unlink(path);
        ASSERT_EQ(tundctl_resolv_conf_is_stub(path), -ENOENT);
}
