/* See verify.h. */
#include <ctype.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "verify.h"
#include "error-util.h"
#include "macro.h"

static const char *shown(const char *p) {
        return *p ? p : "/";
}

static int check_owner_mode(const struct stat *st, const VerifyOptions *o, const char *what,
                            char **ret_error) {
        if (st->st_uid != o->trusted_uid)
                return error_set(ret_error, -EPERM, "%s is owned by uid %u, not uid %u",
                                 shown(what), (unsigned) st->st_uid, (unsigned) o->trusted_uid);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return error_set(ret_error, -EPERM, "%s is group- or other-writable (mode %04o)%s",
                                 shown(what), (unsigned) (st->st_mode & 07777),
                                 S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX)
                                         ? "; sticky directories are not trusted either"
                                         : "");
        return 0;
}

static int check_dir_fd(int fd, const VerifyOptions *o, const char *what, char **ret_error) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return error_set(ret_error, negative_errno(), "cannot stat %s: %m", shown(what));
        if (!S_ISDIR(st.st_mode))
                return error_set(ret_error, -ENOTDIR, "%s is not a directory", shown(what));
        return check_owner_mode(&st, o, what, ret_error);
}

static int check_file_fd(int fd, const VerifyOptions *o, const char *what, char **ret_error) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return error_set(ret_error, negative_errno(), "cannot stat %s: %m", what);
        if (!S_ISREG(st.st_mode))
                return error_set(ret_error, -EPERM, "%s is not a regular file", what);
        int r = check_owner_mode(&st, o, what, ret_error);
        if (r < 0)
                return r;
        if (st.st_mode & (S_ISUID | S_ISGID))
                return error_set(ret_error, -EPERM, "%s is set-uid or set-gid (mode %04o)", what,
                                 (unsigned) (st.st_mode & 07777));
        if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
                return error_set(ret_error, -EPERM, "%s is not executable (mode %04o)", what,
                                 (unsigned) (st.st_mode & 07777));
        return 0;
}

/* Appends "/name" to the shown path, or drops its last component for "..". */
static void shown_push(char *buf, size_t size, const char *name) {
        size_t n = strlen(buf);
        if (streq(name, "..")) {
                char *s = strrchr(buf, '/');
                if (s)
                        *s = 0;
                return;
        }
        snprintf(buf + n, size - n, "/%s", name);
}

/* The last component: opened without following a link, checked, hashed against the pin, and
 * handed over with no file status flag of ours (it is executed with execveat()). */
static int open_final(int dirfd, const char *comp, const char *what, const VerifyOptions *o,
                      int *ret_fd, char **ret_error) {
        _cleanup_close_ int fd =
                openat(dirfd, comp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "cannot open %s: %m", what);
        int r = check_file_fd(fd, o, what, ret_error);
        if (r < 0)
                return r;
        if (o->sha256_hex) {
                char hex[65];
                r = verify_sha256_fd(fd, hex);
                if (r < 0)
                        return error_set(ret_error, r, "cannot hash %s: %s", what,
                                         r == -EOPNOTSUPP ? "libcrypto not available"
                                                          : strerror(-r));
                if (!streq(hex, o->sha256_hex))
                        return error_set(ret_error, -EPERM,
                                         "%s: SHA-256 %s does not match the pinned %s", what, hex,
                                         o->sha256_hex);
        }
        if (fcntl(fd, F_SETFL, 0) < 0)
                return error_set(ret_error, negative_errno(), "fcntl: %m");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A symlink's target put in front of what is still to walk (todo); *ret_absolute when the walk
 * must start again from the root. */
static int follow_symlink(int dirfd, const char *comp, const char *what, char *todo,
                          size_t todo_size, bool *ret_absolute, char **ret_error) {
        char target[PATH_MAX], joined[PATH_MAX * 2];
        ssize_t n = readlinkat(dirfd, comp, target, sizeof(target) - 1);
        if (n < 0)
                return error_set(ret_error, negative_errno(), "%s: readlink: %m", what);
        target[n] = 0;
        if (n == 0)
                return error_set(ret_error, -ENOENT, "%s: empty symlink", what);
        if ((size_t) snprintf(joined, sizeof(joined), "%s%s%s", target, *todo ? "/" : "", todo) >=
                    sizeof(joined) ||
            strlen(joined) >= todo_size)
                return error_set(ret_error, -ENAMETOOLONG, "%s: path too long", what);
        snprintf(todo, todo_size, "%s", joined);
        *ret_absolute = target[0] == '/';
        return 0;
}

/* ".." of the directory walked so far (of the root: the root). */
static int walk_up(int *dirfd, unsigned *depth, char *shown_path, size_t size, char **ret_error) {
        if (*depth == 0)
                return 0;
        int up = openat(*dirfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up < 0)
                return error_set(ret_error, negative_errno(), "cannot open ..: %m");
        safe_close(*dirfd);
        *dirfd = up;
        (*depth)--;
        shown_push(shown_path, size, "..");
        return 0;
}

/* Into directory comp of the one walked so far (what: its path for errors), not following a
 * link, and verified. */
static int walk_down(int *dirfd, unsigned *depth, const char *comp, const char *what,
                     char *shown_path, size_t size, const VerifyOptions *o, char **ret_error) {
        int next = openat(*dirfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
                return error_set(ret_error, negative_errno(), "cannot open %s: %m", what);
        safe_close(*dirfd);
        *dirfd = next;
        (*depth)++;
        shown_push(shown_path, size, comp);
        return check_dir_fd(*dirfd, o, shown_path, ret_error);
}

/* Moves the next component of todo into comp (NAME_MAX + 1 bytes); *ret_last when nothing
 * follows it ("dir/" names a directory). -EISDIR when todo is only slashes. */
static int take_component(char *todo, char *comp, bool *ret_last) {
        char *p = todo;
        while (*p == '/')
                p++;
        if (!*p)
                return -EISDIR;
        size_t len = strcspn(p, "/");
        if (len > NAME_MAX)
                return -ENAMETOOLONG;
        memcpy(comp, p, len);
        comp[len] = 0;
        char *rest = p + len;
        *ret_last = *rest == 0;
        memmove(todo, rest, strlen(rest) + 1);
        return 0;
}

/* The walk's root (o->root, else /), itself verified. */
static int open_root(const VerifyOptions *o, int *ret_fd, char **ret_error) {
        const char *root = o->root ? o->root : "/";
        _cleanup_close_ int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "cannot open %s: %m", root);
        int r = check_dir_fd(fd, o, "", ret_error);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int verify_open(const char *path, const VerifyOptions *o, int *ret_fd, char **ret_error) {
        char todo[PATH_MAX * 2], shown_path[PATH_MAX * 2] = "", comp[NAME_MAX + 1];
        _cleanup_close_ int dirfd = -EBADF, base = -EBADF;
        unsigned links = 0, depth = 0;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (isempty(path) || path[0] != '/')
                return error_set(ret_error, -EINVAL, "path is not absolute: %s",
                                 path ? path : "(null)");
        if (strlen(path) >= PATH_MAX)
                return error_set(ret_error, -ENAMETOOLONG, "path too long: %.64s…", path);
        snprintf(todo, sizeof(todo), "%s", path);

        r = open_root(o, &base, ret_error);
        if (r < 0)
                return r;
        dirfd = fcntl(base, F_DUPFD_CLOEXEC, 3);
        if (dirfd < 0)
                return error_set(ret_error, negative_errno(), "dup: %m");

        for (;;) {
                bool last;
                r = take_component(todo, comp, &last);
                if (r < 0)
                        return error_set(ret_error, r,
                                         r == -EISDIR ? "%s is a directory, not a program"
                                                      : "%s: a path component is too long",
                                         shown(shown_path));
                if (streq(comp, "."))
                        continue;
                if (streq(comp, "..")) {
                        r = walk_up(&dirfd, &depth, shown_path, sizeof(shown_path), ret_error);
                        if (r < 0)
                                return r;
                        continue;
                }

                struct stat st;
                char what[PATH_MAX * 2 + NAME_MAX + 2];
                snprintf(what, sizeof(what), "%s/%s", shown_path, comp);
                if (fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return error_set(ret_error, negative_errno(), "%s: %m", what);

                if (S_ISLNK(st.st_mode)) {
                        /* The link lives in a verified directory, so only the trusted owner
                         * made it; its target is walked and verified like the rest. */
                        bool absolute = false;
                        if (++links > VERIFY_MAX_SYMLINKS)
                                return error_set(ret_error, -ELOOP, "%s: too many symlinks", what);
                        r = follow_symlink(dirfd, comp, what, todo, sizeof(todo), &absolute,
                                           ret_error);
                        if (r < 0)
                                return r;
                        if (absolute) {
                                safe_close(dirfd);
                                dirfd = fcntl(base, F_DUPFD_CLOEXEC, 3);
                                if (dirfd < 0)
                                        return error_set(ret_error, negative_errno(), "dup: %m");
                                depth = 0;
                                shown_path[0] = 0;
                        }
                        continue;
                }

                if (last)
                        return open_final(dirfd, comp, what, o, ret_fd, ret_error);

                r = walk_down(&dirfd, &depth, comp, what, shown_path, sizeof(shown_path), o,
                              ret_error);
                if (r < 0)
                        return r;
        }
}

bool verify_sha256_hex_valid(const char *s, char ret[65]) {
        if (!s || strlen(s) != 64)
                return false;
        for (size_t i = 0; i < 64; i++) {
                if (!isxdigit((unsigned char) s[i]))
                        return false;
                ret[i] = (char) tolower((unsigned char) s[i]);
        }
        ret[64] = 0;
        return true;
}

/* ---- SHA-256 through libcrypto, loaded on demand ---- */

static struct {
        bool tried;
        void *dl;
        __typeof__(EVP_MD_CTX_new) *ctx_new;
        __typeof__(EVP_MD_CTX_free) *ctx_free;
        __typeof__(EVP_sha256) *sha256;
        __typeof__(EVP_DigestInit_ex) *init;
        __typeof__(EVP_DigestUpdate) *update;
        __typeof__(EVP_DigestFinal_ex) *final;
} crypto;

static int crypto_load(void) {
        if (crypto.tried)
                return crypto.dl ? 0 : -EOPNOTSUPP;
        crypto.tried = true;
        void *dl = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
        if (!dl)
                return -EOPNOTSUPP;
        crypto.ctx_new = (__typeof__(crypto.ctx_new)) dlsym(dl, "EVP_MD_CTX_new");
        crypto.ctx_free = (__typeof__(crypto.ctx_free)) dlsym(dl, "EVP_MD_CTX_free");
        crypto.sha256 = (__typeof__(crypto.sha256)) dlsym(dl, "EVP_sha256");
        crypto.init = (__typeof__(crypto.init)) dlsym(dl, "EVP_DigestInit_ex");
        crypto.update = (__typeof__(crypto.update)) dlsym(dl, "EVP_DigestUpdate");
        crypto.final = (__typeof__(crypto.final)) dlsym(dl, "EVP_DigestFinal_ex");
        if (!crypto.ctx_new || !crypto.ctx_free || !crypto.sha256 || !crypto.init ||
            !crypto.update || !crypto.final) {
                dlclose(dl);
                return -EOPNOTSUPP;
        }
        crypto.dl = dl;
        return 0;
}

typedef int (*ReadChunk)(void *state, const void **ret_p, size_t *ret_n);

static int sha256_run(ReadChunk next, void *state, char ret_hex[65]) {
        int r = crypto_load();
        if (r < 0)
                return r;
        EVP_MD_CTX *ctx = crypto.ctx_new();
        if (!ctx)
                return -ENOMEM;
        r = crypto.init(ctx, crypto.sha256(), NULL) == 1 ? 0 : -EIO;
        for (;;) {
                const void *p;
                size_t n;
                if (r < 0)
                        break;
                r = next(state, &p, &n);
                if (r <= 0)
                        break;
                if (crypto.update(ctx, p, n) != 1)
                        r = -EIO;
        }
        unsigned char md[32];
        unsigned int mdlen = 0;
        if (r == 0 && (crypto.final(ctx, md, &mdlen) != 1 || mdlen != 32))
                r = -EIO;
        crypto.ctx_free(ctx);
        if (r < 0)
                return r;
        for (size_t i = 0; i < 32; i++)
                snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
        return 0;
}

typedef struct FdReader {
        int fd;
        off_t off;
        unsigned char buf[65536];
} FdReader;

static int fd_chunk(void *state, const void **ret_p, size_t *ret_n) {
        FdReader *f = state;
        ssize_t n;
        do
                n = pread(f->fd, f->buf, sizeof(f->buf), f->off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        f->off += n;
        *ret_p = f->buf;
        *ret_n = (size_t) n;
        return n > 0;
}

int verify_sha256_fd(int fd, char ret_hex[65]) {
        _cleanup_free_ FdReader *f = malloc(sizeof(FdReader));
        if (!f)
                return -ENOMEM;
        f->fd = fd;
        f->off = 0;
        return sha256_run(fd_chunk, f, ret_hex);
}

typedef struct BufReader {
        const void *p;
        size_t n;
        bool done;
} BufReader;

static int buf_chunk(void *state, const void **ret_p, size_t *ret_n) {
        BufReader *b = state;
        if (b->done)
                return 0;
        b->done = true;
        *ret_p = b->p;
        *ret_n = b->n;
        return 1;
}

int verify_sha256_buf(const void *p, size_t n, char ret_hex[65]) {
        BufReader b = { .p = p, .n = n };
        return sha256_run(buf_chunk, &b, ret_hex);
}
