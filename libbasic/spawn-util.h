/* Running a short-lived helper program (wireguard-go --version, resolvconf) from a daemon. */
#pragma once

#include <spawn.h>
#include <stddef.h>
#include <stdint.h>

/* posix_spawnattr_init() for a child that starts with an empty signal mask and every signal
 * at its default disposition (daemons block theirs for sd-event and ignore SIGPIPE; none of
 * that is the child's business). 0 or -errno; on success the caller destroys attr. */
int spawn_attr_init_clean_signals(posix_spawnattr_t *attr);

/* Runs path with argv and envp: stdin is `input` (NULL: /dev/null), stdout and stderr are
 * captured into out (NUL-terminated; beyond size - 1 bytes the output is drained and dropped).
 * The child starts with an empty signal mask and default dispositions: daemons block SIGTERM
 * for sd-event and ignore SIGPIPE, which must not make the child deaf to systemd's SIGTERM.
 * It gets until timeout_usec has passed to exit, then SIGKILL. Returns 0 with its wait status
 * in *ret_status, -ETIMEDOUT, or -errno (it could not be started). */
int spawn_capture(const char *path, char *const argv[], char *const envp[], const char *input,
                  uint64_t timeout_usec, char *out, size_t size, int *ret_status);
