/* Verifying a program before it is executed (ARCHITECTURE.md "Process hygiene"): tund-helperd
 * verifies tund-tunnel, tund-tunnel verifies the engine (wireguard-go). Every
 * directory from / down and the file itself are owned by the trusted uid and not group- or
 * other-writable, the file is a regular, executable, non-set-id file, and, when pinned, its
 * SHA-256 matches. The walk opens each component relative to the verified parent (O_NOFOLLOW),
 * following symlinks by hand, so what is verified is what is returned: the caller hashes and
 * executes the returned fd, never the path again.
 *
 * Sticky world-writable directories such as /tmp are refused like any other writable one: the
 * sticky bit keeps others from replacing root's entries but not from planting names that a
 * later path lookup might pick, and neither program has a reason to live there. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VERIFY_MAX_SYMLINKS 32

typedef struct VerifyOptions {
        uid_t trusted_uid;      /* 0 in production; tests use their own uid */
        const char *sha256_hex; /* 64 lowercase hex digits, NULL = not pinned */
        const char *root;       /* where "/" is for the walk; NULL = the real "/" (tests) */
} VerifyOptions;

/* Opens path (O_RDONLY|O_CLOEXEC) after verifying it as above. Returns 0 and the fd, or -errno
 * (-EPERM for an ownership/mode/hash refusal, -ELOOP, -ENOENT, …) with *ret_error a malloc'd
 * sentence naming the component at fault. */
int verify_open(const char *path, const VerifyOptions *o, int *ret_fd, char **ret_error);

/* Whether s is 64 hex digits; copies it, lowercased, to ret. */
bool verify_sha256_hex_valid(const char *s, char ret[65]);

/* SHA-256 of the whole file behind fd (pread from offset 0), as 64 lowercase hex digits.
 * libcrypto is loaded on first use (dlopen), so the helper does not carry it otherwise.
 * Returns 0 or -errno (-EOPNOTSUPP when libcrypto is not there). */
int verify_sha256_fd(int fd, char ret_hex[65]);
/* The same of a buffer (tests). */
int verify_sha256_buf(const void *p, size_t n, char ret_hex[65]);
