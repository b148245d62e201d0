/* The shared verifier (libbasic/verify.c; the helper checks tund-tunnel with it, the tunnel the
 * engine): owners, modes, symlinked parents, sticky dirs, hashes. The walk starts at a temporary
 * "root" owned by us, so no root is needed. */
#include <fcntl.h>
#include <sys/stat.h>

#include "verify.h"
#include "macro.h"
#include "tests.h"

static char base[64];

static void mk(const char *rel, mode_t mode) {
        char p[256];
        snprintf(p, sizeof(p), "%s%s", base, rel);
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                FAILF("mkdir %s: %m", p);
        if (chmod(p, mode) < 0)
                FAILF("chmod %s: %m", p);
}

static void mkfile(const char *rel, mode_t mode, const char *content) {
        char p[256];
        snprintf(p, sizeof(p), "%s%s", base, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t) strlen(content))
                FAILF("write %s: %m", p);
        close(fd);
        if (chmod(p, mode) < 0)
                FAILF("chmod %s: %m", p);
}

static void mklink(const char *rel, const char *target) {
        char p[256];
        snprintf(p, sizeof(p), "%s%s", base, rel);
        if (symlink(target, p) < 0)
                FAILF("symlink %s: %m", p);
}

static void setup(void) {
        snprintf(base, sizeof(base), "/tmp/tund-verify-XXXXXX");
        if (!mkdtemp(base))
                FAILF("mkdtemp: %m");
        /* Left behind in /tmp on failure only; the test's child exits right after. */
        mk("", 0755);
        mk("/usr", 0755);
        mk("/usr/libexec", 0755);
        mkfile("/usr/libexec/tund-tunnel", 0755, "abc");
}

static void teardown(void) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", base, base);
        if (system(cmd) != 0)
                FAILF("cleanup failed");
}

static int verify(const char *path, uid_t uid, const char *sha, char **err) {
        VerifyOptions o = { .trusted_uid = uid, .sha256_hex = sha, .root = base };
        int fd = -1;
        free(*err); /* the previous call's message */
        *err = NULL;
        int r = verify_open(path, &o, &fd, err);
        if (r >= 0) {
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
                close(fd);
        } else
                ASSERT_TRUE(*err != NULL);
        return r;
}

TEST(good_binary_passes) {
        _cleanup_free_ char *err = NULL;
        setup();
        ASSERT_OK(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err));
        ASSERT_OK(verify("//usr/./libexec//tund-tunnel", getuid(), NULL, &err));
        teardown();
}

TEST(fd_is_the_verified_file) {
        _cleanup_free_ char *err = NULL;
        char p[256], q[256];
        int fd = -1;
        struct stat a, b;
        setup();
        VerifyOptions o = { .trusted_uid = getuid(), .root = base };
        ASSERT_OK(verify_open("/usr/libexec/tund-tunnel", &o, &fd, &err));
        snprintf(p, sizeof(p), "%s/usr/libexec/tund-tunnel", base);
        ASSERT_OK(stat(p, &a));
        /* Replacing the path afterwards does not change what the fd is. */
        mkfile("/usr/libexec/other", 0755, "xyz");
        snprintf(q, sizeof(q), "%s/usr/libexec/other", base);
        ASSERT_OK(rename(q, p));
        ASSERT_OK(fstat(fd, &b));
        ASSERT_EQ(a.st_ino, b.st_ino);
        ASSERT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        close(fd);
        teardown();
}

TEST(writable_file_is_refused) {
        _cleanup_free_ char *err = NULL;
        setup();
        mkfile("/usr/libexec/tund-tunnel", 0775, "abc");
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "/usr/libexec/tund-tunnel is group- or other-writable (mode 0775)");
        mkfile("/usr/libexec/tund-tunnel", 0757, "abc");
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        teardown();
}

TEST(writable_parent_is_refused) {
        _cleanup_free_ char *err = NULL;
        setup();
        mk("/usr", 0775);
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "/usr is group- or other-writable (mode 0775)");
        mk("/usr", 0755);
        mk("", 0757);
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "/ is group- or other-writable");
        mk("", 0755);
        teardown();
}

TEST(sticky_world_writable_dir_is_refused) {
        _cleanup_free_ char *err = NULL;
        setup();
        mk("/usr/libexec", 01777);
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "sticky directories are not trusted either");
        teardown();
}

TEST(wrong_owner_is_refused) {
        _cleanup_free_ char *err = NULL;
        setup();
        /* Trusting another uid: the root of the walk is the first thing owned wrongly. */
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid() + 1, NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "/ is owned by uid");
        if (getuid() == 0) {
                char p[256];
                snprintf(p, sizeof(p), "%s/usr/libexec/tund-tunnel", base);
                ASSERT_OK(chown(p, 65534, 65534));
                ASSERT_EQ(verify("/usr/libexec/tund-tunnel", 0, NULL, &err), -EPERM);
                ASSERT_CONTAINS(err, "/usr/libexec/tund-tunnel is owned by uid 65534, not uid 0");
                snprintf(p, sizeof(p), "%s/usr", base);
                ASSERT_OK(chown(p, 65534, 65534));
                ASSERT_EQ(verify("/usr/libexec/tund-tunnel", 0, NULL, &err), -EPERM);
                ASSERT_CONTAINS(err, "/usr is owned by uid 65534");
        }
        teardown();
}

TEST(bad_file_kinds_are_refused) {
        _cleanup_free_ char *err = NULL;
        setup();
        mkfile("/usr/libexec/tund-tunnel", 0644, "abc");
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "not executable");
        mkfile("/usr/libexec/tund-tunnel", 04755, "abc");
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "set-uid");
        ASSERT_EQ(verify("/usr/libexec", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "not a regular file");
        ASSERT_EQ(verify("/usr/libexec/", getuid(), NULL, &err), -EISDIR);
        ASSERT_EQ(verify("/usr/libexec/missing", getuid(), NULL, &err), -ENOENT);
        ASSERT_CONTAINS(err, "/usr/libexec/missing");
        ASSERT_EQ(verify("usr/libexec/tund-tunnel", getuid(), NULL, &err), -EINVAL);
        ASSERT_CONTAINS(err, "not absolute");
        teardown();
}

TEST(symlinked_parents_are_followed_and_verified) {
        _cleanup_free_ char *err = NULL;
        setup();
        mklink("/usr/lib", "libexec");  /* relative, inside a good tree */
        mklink("/bin", "/usr/libexec"); /* absolute: restarts at the walk's root */
        mklink("/usr/libexec/tunnel", "../libexec/tund-tunnel");
        ASSERT_OK(verify("/usr/lib/tund-tunnel", getuid(), NULL, &err));
        ASSERT_OK(verify("/bin/tund-tunnel", getuid(), NULL, &err));
        ASSERT_OK(verify("/bin/tunnel", getuid(), NULL, &err));
        /* A link into a writable directory: the target is refused, by its real name. */
        mk("/evil", 0777);
        mkfile("/evil/tund-tunnel", 0755, "abc");
        mklink("/usr/sneaky", "../evil");
        ASSERT_EQ(verify("/usr/sneaky/tund-tunnel", getuid(), NULL, &err), -EPERM);
        ASSERT_CONTAINS(err, "/evil is group- or other-writable");
        /* A writable directory behind the link, even if the link itself is fine. */
        mklink("/usr/abs", "/evil/tund-tunnel");
        ASSERT_EQ(verify("/usr/abs", getuid(), NULL, &err), -EPERM);
        teardown();
}

TEST(symlink_loops_end) {
        _cleanup_free_ char *err = NULL;
        setup();
        mklink("/usr/a", "b");
        mklink("/usr/b", "a");
        ASSERT_EQ(verify("/usr/a/tund-tunnel", getuid(), NULL, &err), -ELOOP);
        ASSERT_CONTAINS(err, "too many symlinks");
        teardown();
}

TEST(sha256_known_vectors) {
        char hex[65];
        int r = verify_sha256_buf("abc", 3, hex);
        if (r == -EOPNOTSUPP)
                SKIP("libcrypto.so.3 not installed");
        ASSERT_OK(r);
        ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ASSERT_OK(verify_sha256_buf("", 0, hex));
        ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(pinned_hash_must_match) {
        _cleanup_free_ char *err = NULL;
        char hex[65];
        if (verify_sha256_buf("abc", 3, hex) == -EOPNOTSUPP)
                SKIP("libcrypto.so.3 not installed");
        setup();
        ASSERT_OK(verify("/usr/libexec/tund-tunnel", getuid(),
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &err));
        ASSERT_EQ(verify("/usr/libexec/tund-tunnel", getuid(),
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae", &err),
                  -EPERM);
        ASSERT_CONTAINS(err, "does not match the pinned");
        /* A big file hashes through several reads. */
        char *big = malloc(300000);
        memset(big, 'x', 299999);
        big[299999] = 0;
        mkfile("/usr/libexec/tund-tunnel", 0755, big);
        char want[65];
        ASSERT_OK(verify_sha256_buf(big, 299999, want));
        ASSERT_OK(verify("/usr/libexec/tund-tunnel", getuid(), want, &err));
        free(big);
        teardown();
}

TEST(sha256_hex_validation) {
        char sha[65];
        ASSERT_TRUE(verify_sha256_hex_valid(
                "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", sha));
        ASSERT_STREQ(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ASSERT_TRUE(!verify_sha256_hex_valid("ba7816bf", sha));
        ASSERT_TRUE(!verify_sha256_hex_valid(NULL, sha));
        ASSERT_TRUE(!verify_sha256_hex_valid(
                "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sha));
}
