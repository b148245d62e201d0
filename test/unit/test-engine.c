/* Engine detection: version parsing, version -> TUN flavour, and running real and fake
 * wireguard-go binaries (fake ones are shell scripts in a temporary directory). */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "macro.h"
#include "tests.h"

TEST(parse_version_outputs) {
        char v[ENGINE_VERSION_MAX];

        /* The real output of Debian's 0.0.20220316, banner included. */
        ASSERT_OK(engine_parse_version("wireguard-go v0.0.20220316\n\nUserspace WireGuard daemon "
                                       "for linux-amd64.\nInformation available at "
                                       "https://www.wireguard.com.\n",
                                       v));
        ASSERT_STREQ(v, "0.0.20220316");
        ASSERT_OK(engine_parse_version("wireguard-go v0.0.20250515\n", v));
        ASSERT_STREQ(v, "0.0.20250515");
        ASSERT_OK(engine_parse_version("wireguard-go 0.0.20250515", v));
        ASSERT_STREQ(v, "0.0.20250515");
        ASSERT_OK(engine_parse_version("wireguard-go v0.0.20250515-4-g1234abc\n", v));
        ASSERT_STREQ(v, "0.0.20250515-4-g1234abc");

        ASSERT_EQ(engine_parse_version("", v), -EINVAL);
        ASSERT_EQ(engine_parse_version("wireguard-go\n", v), -EINVAL);
        ASSERT_EQ(engine_parse_version("wireguard-go version unknown\n", v), -EINVAL);
        ASSERT_EQ(engine_parse_version("boringtun 0.6.0\n", v), -EINVAL);
        ASSERT_EQ(engine_parse_version("wireguard-gov0.0.20220316\n", v), -EINVAL);
        ASSERT_EQ(engine_parse_version("Usage: wireguard-go [-f/--foreground] INTERFACE-NAME\n", v),
                  -EINVAL);
        ASSERT_EQ(engine_parse_version("wireguard-go v0.0.2022031600000000000000000000000000000000"
                                       "0000000000000000000000000000000000000\n",
                                       v),
                  -EINVAL);
}

TEST(flavour_from_version) {
        ASSERT_EQ(engine_flavour_from_version("0.0.20220316"), ENGINE_TUN_FLAVOUR_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20210424"), ENGINE_TUN_FLAVOUR_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20250515"), ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20260101"), ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20250515-4-g1234abc"),
                  ENGINE_TUN_FLAVOUR_NO_PI);
        /* releases between the two checked ones, and commits after 20220316: not guessed */
        ASSERT_EQ(engine_flavour_from_version("0.0.20230223"), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_EQ(engine_flavour_from_version("0.0.20231211"), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_EQ(engine_flavour_from_version("0.0.20220316-3-gabc"), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_EQ(engine_flavour_from_version("1.0.0"), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_EQ(engine_flavour_from_version("0.0.1"), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_EQ(engine_flavour_from_version("garbage"), ENGINE_TUN_FLAVOUR_UNKNOWN);
}

TEST(flavour_strings) {
        ASSERT_EQ(engine_tun_flavour_from_string("pi"), ENGINE_TUN_FLAVOUR_PI);
        ASSERT_EQ(engine_tun_flavour_from_string("No-PI"), ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_EQ(engine_tun_flavour_from_string("nopi"), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_EQ(engine_tun_flavour_from_string(NULL), ENGINE_TUN_FLAVOUR_UNKNOWN);
        ASSERT_STREQ(engine_tun_flavour_to_string(ENGINE_TUN_FLAVOUR_PI), "pi");
        ASSERT_STREQ(engine_tun_flavour_to_string(ENGINE_TUN_FLAVOUR_NO_PI), "no-pi");
}

TEST(detect_installed_wireguard_go) {
        EngineInfo info;
        char *err = NULL;

        if (access(ENGINE_DEFAULT_PATH, X_OK) < 0)
                SKIP("%s not installed", ENGINE_DEFAULT_PATH);
        ASSERT_OK(engine_detect(NULL, &info, &err));
        ASSERT_STREQ(info.path, ENGINE_DEFAULT_PATH);
        ASSERT_TRUE(info.version[0] != '\0');
        ASSERT_TRUE(!info.flavour_overridden);
        /* This machine runs Debian 12's package (see TESTBED.md). */
        if (strcmp(info.version, "0.0.20220316") == 0)
                ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_PI);
        else
                ASSERT_TRUE(info.flavour != ENGINE_TUN_FLAVOUR_UNKNOWN);
}

static char fake_dir[] = "/tmp/test-engine-XXXXXX";
static bool fake_dir_made;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* The test child exits through exit(): leave no scripts behind. */
static void remove_fake_dir(void) {
        (void) nftw(fake_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes an executable script NAME in a fresh temporary directory. */
static char *fake_engine(const char *body) {
        char *dir = fake_dir;
        char *path;
        FILE *f;

        /* A flag, not the template's trailing X: mkdtemp's random suffix may itself end in X. */
        if (!fake_dir_made) {
                ASSERT_TRUE(mkdtemp(dir));
                fake_dir_made = true;
                atexit(remove_fake_dir);
        }
        ASSERT_TRUE(asprintf(&path, "%s/wg-%d", dir, rand()) > 0);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        /* Only "--version" and an empty environment are acceptable. */
        fprintf(f, "#!/bin/sh\n[ \"$#\" = 1 ] && [ \"$1\" = --version ] || exit 7\n"
                   "[ -z \"$HOME$USER$LD_PRELOAD\" ] || exit 8\n%s\n",
                body);
        fclose(f);
        ASSERT_EQ(chmod(path, 0700), 0);
        return path;
}

TEST(detect_fake_engines) {
        EngineInfo info;
        char *err = NULL, *path;

        setenv("HOME", "/root", 1);
        path = fake_engine("echo 'wireguard-go v0.0.20250515'; echo; echo banner");
        ASSERT_OK(engine_detect(path, &info, &err));
        ASSERT_STREQ(info.version, "0.0.20250515");
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_NO_PI);

        free(path);
        path = fake_engine("echo 'wireguard-go v0.0.20220316'");
        ASSERT_OK(engine_detect(path, &info, &err));
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_PI);

        free(path);
        path = fake_engine("echo 'wireguard-go v0.0.20230223'");
        ASSERT_EQ(engine_detect(path, &info, &err), -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, path);
        ASSERT_CONTAINS(err, "unknown wireguard-go version in \"wireguard-go v0.0.20230223\"");
        ASSERT_CONTAINS(err, "EngineTunFlavour=pi or no-pi");
        free(err);
        err = NULL;

        /* an explicit override makes an unknown version usable */
        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_NO_PI, ENGINE_DEFAULT_TIMEOUT_USEC,
                                     &info, &err));
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_TRUE(info.flavour_overridden);
        ASSERT_STREQ(info.version, "0.0.20230223");

        free(path);
        path = fake_engine("echo 'something else entirely' >&2");
        ASSERT_EQ(engine_detect(path, &info, &err), -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, "\"something else entirely\"");
        free(err);
        err = NULL;
        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_PI, ENGINE_DEFAULT_TIMEOUT_USEC,
                                     &info, &err));
        ASSERT_STREQ(info.version, "");
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_PI);
        free(path);
}

TEST(detect_failures) {
        EngineInfo info;
        char *err = NULL, *path;

        ASSERT_EQ(engine_detect("/nonexistent/wireguard-go", &info, &err), -ENOENT);
        ASSERT_STREQ(err, "/nonexistent/wireguard-go: cannot run: No such file or directory");
        free(err);
        err = NULL;

        path = fake_engine("echo 'wireguard-go v0.0.20250515'; exit 3");
        ASSERT_EQ(engine_detect(path, &info, &err), -ENOEXEC);
        ASSERT_CONTAINS(err, "--version: exited with status 3: \"wireguard-go v0.0.20250515\"");
        free(err);
        err = NULL;

        /* a hung binary is killed at the timeout, and an override does not hide a failure */
        free(path);
        path = fake_engine("exec sleep 30");
        ASSERT_EQ(engine_detect_full(path, ENGINE_TUN_FLAVOUR_PI, 300 * USEC_PER_MSEC, &info,
                                     &err),
                  -ETIMEDOUT);
        ASSERT_CONTAINS(err, "--version: no answer within 300 ms");
        free(err);
        free(path);
}
