/* tund-helperd's command line. */
#include "helper-options.h"
#include "macro.h"
#include "tests.h"

static int parse(HelperOptions *o, char **err, int argc, char **argv) {
        helper_options_init(o);
        free(*err); /* the previous call's message */
        *err = NULL;
        return helper_parse_argv(argc, argv, o, err);
}

#define ARGV(...) ((char *[]){ "tund-helperd", __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof((char *[]){ "tund-helperd", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(o, err, ...) parse(o, err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

TEST(defaults) {
        HelperOptions o;
        _cleanup_free_ char *err = NULL;
        char *argv[] = { "tund-helperd", NULL };
        ASSERT_OK(parse(&o, &err, 1, argv));
        ASSERT_STREQ(o.tunnel_path, "/usr/libexec/tund/tund-tunnel");
        ASSERT_STREQ(o.tunnel_user, "tund-engine"); /* the data plane's own user */
        ASSERT_STREQ(o.control_group, "tund");
        ASSERT_EQ(o.idle_exit_usec, 30 * UINT64_C(1000000));
        ASSERT_TRUE(o.listen_dir == NULL);
        ASSERT_TRUE(o.tunnel_sha256 == NULL);
        ASSERT_TRUE(!o.shim_uid_set);
        ASSERT_EQ(o.watch_memory_max, 64 * UINT64_C(1048576));
}

TEST(all_options) {
        HelperOptions o;
        _cleanup_free_ char *err = NULL;
        ASSERT_OK(PARSE(&o, &err, "--listen-dir", "/run/x", "--idle-exit", "0", "--tunnel",
                        "/opt/t", "--tunnel-sha256",
                        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                        "--tunnel-user", "nobody", "--control-group", "adm", "--shim-uid", "42",
                        "--start-timeout", "5", "--stop-timeout", "2", "--watch-memory", "3"));
        ASSERT_STREQ(o.listen_dir, "/run/x");
        ASSERT_EQ(o.idle_exit_usec, 0);
        ASSERT_STREQ(o.tunnel_path, "/opt/t");
        ASSERT_STREQ(o.tunnel_sha256,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        ASSERT_STREQ(o.tunnel_user, "nobody");
        ASSERT_STREQ(o.control_group, "adm");
        ASSERT_TRUE(o.shim_uid_set);
        ASSERT_EQ(o.shim_uid, 42);
        ASSERT_TRUE(!o.shim_user);
        ASSERT_EQ(o.start_timeout_usec, 5 * UINT64_C(1000000));
        ASSERT_EQ(o.stop_timeout_usec, 2 * UINT64_C(1000000));
        ASSERT_EQ(o.watch_memory_max, 3 * UINT64_C(1048576));
}

TEST(bad_values_are_refused_with_a_reason) {
        HelperOptions o;
        _cleanup_free_ char *err = NULL;
        ASSERT_EQ(PARSE(&o, &err, "--idle-exit", "soon"), -EINVAL);
        ASSERT_CONTAINS(err, "--idle-exit");
        ASSERT_EQ(PARSE(&o, &err, "--idle-exit", "-1"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--idle-exit", "86401"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--tunnel", "relative/path"), -EINVAL);
        ASSERT_CONTAINS(err, "absolute");
        ASSERT_EQ(PARSE(&o, &err, "--listen-dir", "run"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--tunnel-sha256", "abc"), -EINVAL);
        ASSERT_CONTAINS(err, "64 hex");
        ASSERT_EQ(PARSE(&o, &err, "--tunnel-sha256",
                        "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                  -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--shim-user", ""), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--engine-sha256", "abc"), -EINVAL);
        ASSERT_OK(PARSE(&o, &err, "--engine-sha256",
                        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
        ASSERT_STREQ(o.engine_sha256,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        ASSERT_OK(PARSE(&o, &err, "--shim-user", "tund-netshim"));
        ASSERT_STREQ(o.shim_user, "tund-netshim");
        ASSERT_TRUE(!o.shim_uid_set);
        ASSERT_EQ(PARSE(&o, &err, "--shim-uid", "4294967295"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--start-timeout", "0"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--stop-timeout", "0"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--tunnel-user", ""), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--watch-memory", "0"), -EINVAL);
        ASSERT_CONTAINS(err, "--watch-memory: not a number of MiB between 1 and 4096: 0");
        ASSERT_EQ(PARSE(&o, &err, "--watch-memory", "4097"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--watch-memory", "1M"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--watch-memory", "-1"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "--bogus"), -EINVAL);
        ASSERT_CONTAINS(err, "--bogus");
        ASSERT_EQ(PARSE(&o, &err, "--tunnel"), -EINVAL);
        ASSERT_EQ(PARSE(&o, &err, "extra"), -EINVAL);
        ASSERT_CONTAINS(err, "unexpected argument: extra");
}

TEST(help_and_version) {
        HelperOptions o;
        _cleanup_free_ char *err = NULL;
        ASSERT_OK(PARSE(&o, &err, "-h"));
        ASSERT_TRUE(o.help);
        ASSERT_OK(PARSE(&o, &err, "--version"));
        ASSERT_TRUE(o.version);
}
