/* Engine detection: finding the version in a binary's bytes, version -> TUN flavour, and
 * reading real and fake wireguard-go binaries (fake ones are files in a temporary directory,
 * scripts that leave a mark if anything ran them: nothing may). */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "macro.h"
#include "tests.h"

/* String literals, NULs included. */
#define find(lit, v) engine_find_version(lit, sizeof(lit) - 1, v)

TEST(find_version_in_bytes) {
        char v[ENGINE_VERSION_MAX];

        /* As in Debian's 0.0.20220316: the constant between its neighbours, unterminated. */
        ASSERT_OK(find("wireguard-go v%s\0/dev/net/tun/dev/urandom0.0.20220316127.0.0.1:53", v));
        ASSERT_OK(find("\x7f"
                       "ELF..wireguard-go v%s\n..../dev/urandom0.0.20220316127.0.0.1:5315",
                       v));
        ASSERT_STREQ(v, "0.0.20220316");
        ASSERT_OK(find("wireguard-go v0.0.20250515\n", v));
        ASSERT_STREQ(v, "0.0.20250515");
        ASSERT_OK(find("wireguard-go 0.0.20250515-4-g1234abcdirty", v));
        ASSERT_STREQ(v, "0.0.20250515-4-g1234abcd"); /* hex runs on: only ever more unknown */
        ASSERT_OK(find("wireguard-go 0.0.20220316-dirtyXYZ", v));
        ASSERT_STREQ(v, "0.0.20220316-dirty");
        ASSERT_OK(find("wireguard-go v0.0.20220316 and again 0.0.20220316", v));
        ASSERT_STREQ(v, "0.0.20220316");

        ASSERT_EQ(find("", v), -ENOENT);
        ASSERT_EQ(find("0.0.20220316 but not the engine's name", v), -ENOENT);
        ASSERT_EQ(find("wireguard-go version unknown\n", v), -ENOENT);
        ASSERT_EQ(find("wireguard-go 0.0.2022031", v), -ENOENT);     /* too short */
        ASSERT_EQ(find("wireguard-go 10.0.0.20220316", v), -ENOENT); /* an address */
        ASSERT_EQ(find("wireguard-go 1.0.0.20220316", v), -ENOENT);
        ASSERT_EQ(find("boringtun 0.6.0\n", v), -ENOENT);
        ASSERT_EQ(find("wireguard-go 0.0.20220316 0.0.20250515", v), -ENOTUNIQ);
}

TEST(flavour_from_version) {
        ASSERT_EQ(engine_flavour_from_version("0.0.20220316"), ENGINE_TUN_FLAVOUR_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20210424"), ENGINE_TUN_FLAVOUR_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20250515"), ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20260101"), ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_EQ(engine_flavour_from_version("0.0.20250515-4-g1234abc"), ENGINE_TUN_FLAVOUR_NO_PI);
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

/* The Debian binary, read and never run: the same version `wireguard-go --version` prints. */
TEST(detect_reads_the_installed_binary_without_running_it) {
        EngineInfo info;
        char *err = NULL;
        char out[256] = "", want[ENGINE_VERSION_MAX] = "";

        if (access(ENGINE_DEFAULT_PATH, X_OK) < 0)
                SKIP("%s not installed", ENGINE_DEFAULT_PATH);
        ASSERT_OK(engine_detect(NULL, &info, &err));
        FILE *f = popen(ENGINE_DEFAULT_PATH " --version", "r");
        ASSERT_TRUE(f);
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        pclose(f);
        ASSERT_TRUE(sscanf(out, "wireguard-go v%63s", want) == 1);
        ASSERT_STREQ(info.version, want);
}

static char fake_dir[] = "/tmp/test-engine-XXXXXX";
static bool fake_dir_made;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* The test child exits through exit(): leave no files behind. */
static void remove_fake_dir(void) {
        (void) nftw(fake_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes a fake binary in a fresh temporary directory: a script that fails when run, so a
 * detection that executed it would notice. */
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
        fprintf(f, "#!/bin/sh\ntouch %s/ran\nexit 7\n%s\n", dir, body);
        fclose(f);
        ASSERT_EQ(chmod(path, 0700), 0);
        return path;
}

static bool fake_ran(void) {
        char p[64];
        snprintf(p, sizeof(p), "%s/ran", fake_dir);
        return access(p, F_OK) == 0;
}

TEST(detect_fake_engines) {
        EngineInfo info;
        char *err = NULL, *path;

        path = fake_engine("# wireguard-go v%s\n# /dev/urandom0.0.20250515banner");
        ASSERT_OK(engine_detect(path, &info, &err));
        ASSERT_STREQ(info.version, "0.0.20250515");
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_NO_PI);

        free(path);
        path = fake_engine("echo 'wireguard-go v0.0.20220316'");
        ASSERT_OK(engine_detect(path, &info, &err));
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_PI);

        /* the same on an open file (the tunnel's verified engine) */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(engine_detect_fd(fd, "/x/wireguard-go", ENGINE_TUN_FLAVOUR_UNKNOWN, &info, &err));
        ASSERT_STREQ(info.path, "/x/wireguard-go");
        ASSERT_STREQ(info.version, "0.0.20220316");
        close(fd);

        free(path);
        path = fake_engine("echo 'wireguard-go v0.0.20230223'");
        ASSERT_EQ(engine_detect(path, &info, &err), -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, path);
        ASSERT_CONTAINS(err, "unknown wireguard-go version 0.0.20230223");
        ASSERT_CONTAINS(err, "EngineTunFlavour=pi or no-pi");
        free(err);
        err = NULL;

        /* an explicit override makes an unknown version usable */
        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_NO_PI, 0, &info, &err));
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_NO_PI);
        ASSERT_TRUE(info.flavour_overridden);
        ASSERT_STREQ(info.version, "0.0.20230223");

        free(path);
        path = fake_engine("echo 'something else entirely' >&2");
        ASSERT_EQ(engine_detect(path, &info, &err), -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, "no wireguard-go version in the binary");
        free(err);
        err = NULL;
        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_PI, 0, &info, &err));
        ASSERT_STREQ(info.version, "");
        ASSERT_EQ(info.flavour, ENGINE_TUN_FLAVOUR_PI);

        free(path);
        path = fake_engine("wireguard-go 0.0.20220316 0.0.20250515");
        ASSERT_EQ(engine_detect(path, &info, &err), -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, "several wireguard-go versions in the binary");
        free(err);
        free(path);
        ASSERT_TRUE(!fake_ran());
}

TEST(detect_failures) {
        EngineInfo info;
        char *err = NULL, p[96];

        ASSERT_EQ(engine_detect("/nonexistent/wireguard-go", &info, &err), -ENOENT);
        ASSERT_STREQ(err, "/nonexistent/wireguard-go: cannot open: No such file or directory");
        free(err);
        err = NULL;

        /* a directory, a FIFO (opened without blocking), an empty file: refused, even with an
         * override */
        ASSERT_EQ(engine_detect_full("/", ENGINE_TUN_FLAVOUR_PI, 0, &info, &err), -ENOEXEC);
        ASSERT_CONTAINS(err, "not a regular file");
        free(err);
        err = NULL;
        free(fake_engine(""));
        snprintf(p, sizeof(p), "%s/fifo", fake_dir);
        ASSERT_OK(mkfifo(p, 0600));
        ASSERT_EQ(engine_detect_full(p, ENGINE_TUN_FLAVOUR_PI, 0, &info, &err), -ENOEXEC);
        free(err);
        err = NULL;
        snprintf(p, sizeof(p), "%s/empty", fake_dir);
        close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_EQ(engine_detect_full(p, ENGINE_TUN_FLAVOUR_PI, 0, &info, &err), -EFBIG);
        ASSERT_CONTAINS(err, "empty");
        free(err);
}

/* The binary is read in 64 KiB pieces that repeat the last 256 bytes (libprofile/engine.c):
 * a version or the name at any offset around a piece boundary is seen whole and once, a
 * digit just before it (in the previous piece) still disqualifies it, and the answer is
 * always the one engine_find_version() gives for the whole file in memory. */
static void write_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, size), (ssize_t) size);
        close(fd);
}

TEST(detect_reads_in_pieces) {
        const size_t size = 3 * 65536 + 777;
        const char *v = "0.0.20220316-3-gabcdef1-dirty";
        char *path = fake_engine(""); /* only for its directory */
        char *buf = malloc(size);
        ASSERT_TRUE(buf);
        /* Around each boundary the reader sees (64 KiB, then every 64 KiB - 257 after it),
         * and either side of it. */
        size_t bounds[] = { 65536, 65536 + 65536 - 257, 65536 + 2 * (65536 - 257) };
        for (size_t b = 0; b < ELEMENTSOF(bounds); b++)
                for (size_t at = bounds[b] - 300; at < bounds[b] + 40; at++) {
                        EngineInfo info;
                        char *err = NULL, want[ENGINE_VERSION_MAX];
                        memset(buf, 'x', size);
                        memcpy(buf + 10, "wireguard-go", 12);
                        memcpy(buf + at, v, strlen(v));
                        ASSERT_OK(engine_find_version(buf, size, want));
                        write_file(path, buf, size);
                        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_PI, 0, &info, &err));
                        if (!streq(info.version, want))
                                FAILF("version at %zu: read \"%s\", expected \"%s\"", at,
                                      info.version, want);
                        /* preceded by a digit: part of something else */
                        buf[at - 1] = '1';
                        write_file(path, buf, size);
                        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_PI, 0, &info, &err));
                        if (info.version[0])
                                FAILF("version after a digit at %zu read as \"%s\"", at,
                                      info.version);
                        /* and the name itself across the boundary, the version elsewhere */
                        memset(buf, 'x', size);
                        memcpy(buf + at, "wireguard-go", 12);
                        memcpy(buf + 20, v, strlen(v));
                        write_file(path, buf, size);
                        ASSERT_OK(engine_detect_full(path, ENGINE_TUN_FLAVOUR_PI, 0, &info, &err));
                        if (!streq(info.version, v))
                                FAILF("name at %zu: read \"%s\"", at, info.version);
                }
        /* two different versions in different pieces: ambiguous */
        memset(buf, 'x', size);
        memcpy(buf + 10, "wireguard-go 0.0.20220316", 25);
        memcpy(buf + size - 40, "0.0.20250515", 12);
        write_file(path, buf, size);
        EngineInfo info;
        char *err = NULL;
        ASSERT_EQ(engine_detect(path, &info, &err), -EPROTONOSUPPORT);
        ASSERT_CONTAINS(err, "several wireguard-go versions in the binary");
        free(err);
        free(buf);
        free(path);
}
