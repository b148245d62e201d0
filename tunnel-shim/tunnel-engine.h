/* The data-plane engine (wireguard-go) as a child process: spawning it with an explicit fd map
 * and a clean environment, and making sense of what it writes. */
#pragma once

#include <syslog.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.pb-c.h"
#include "verify.h"

/* Where the engine finds its fds: fixed numbers, whatever ours are. */
#define ENGINE_CHILD_TUN_FD 3
#define ENGINE_CHILD_UAPI_FD 4
#define ENGINE_LINE_MAX 1024u

typedef struct EngineSpawnArgs {
        const char *path;      /* the binary */
        const char *ifname;    /* wireguard-go wants one, and ignores it with WG_TUN_FD */
        int tun_fd, uapi_fd;   /* ours, any numbers, may be CLOEXEC */
        const char *log_level; /* LOG_LEVEL: "error", "verbose" or "silent" */
        char *const *argv;     /* instead of the usual arguments (tests, --version); NULL */
} EngineSpawnArgs;

/* The engine is verified like tund-tunnel itself (libbasic/verify.h): tund-tunnel's main()
 * calls tunnel_engine_verify() before it serves anything, with the root of the real
 * filesystem, uid 0 trusted and the SHA-256 pinned when --engine-sha256 asks. The open file is
 * kept: every later spawn executes that file (execveat(AT_EMPTY_PATH)), never the path again,
 * and a spawn for any other path is refused with -EPERM. A script is refused: its interpreter
 * would open it again by name. Returns 0, or -errno with *ret_error (malloc'd) a sentence
 * naming the path and the reason. Without a verified engine (in-process tests and fuzzers,
 * which run shell scripts from /tmp), tunnel_engine_spawn() executes a->path. */
int tunnel_engine_verify(const char *path, const VerifyOptions *o, char **ret_error);
/* Forgets the verified engine, closing its fd (tests). */
void tunnel_engine_forget(void);
/* The verified engine's fd (CLOEXEC), or -EBADF. */
int tunnel_engine_verified_fd(void);

/* Forks and executes the engine (the verified file, else a->path): fd 0 /dev/null, 1 and 2 a
 * pipe whose CLOEXEC|NONBLOCK read end is returned in *ret_output_fd, the TUN on 3 and the
 * UAPI socket on 4 (-EBADF: none), nothing else; default signal dispositions and an empty
 * mask; an environment of WG_TUN_FD, WG_UAPI_FD, WG_PROCESS_FOREGROUND=1 and LOG_LEVEL only.
 * Returns 0 once the exec succeeded, or -errno (the exec's own errno when it failed; -EPERM
 * for a path other than the verified engine's). */
int tunnel_engine_spawn(const EngineSpawnArgs *a, pid_t *ret_pid, int *ret_output_fd);

/* The level of one output line, and where its text starts (past "DEBUG: " and the like).
 * wireguard-go writes "DEBUG: ", "INFO: ", "ERROR: "; Go's runtime writes "panic: " and
 * "fatal error: ". Anything else is INFO. */
int tunnel_engine_line_level(const char *line, const char **ret_text);

/* Replaces, in place, anything in line that looks like key material (a run of 40 or more hex
 * digits, or 43 base64 characters ending in '=') with "[redacted]"-like filler of the same
 * length. Engine lines pass through here before they are logged or forwarded: the engine does
 * not print keys, but a future version or a parse error quoting its input might. Returns the
 * number of runs replaced. */
int tunnel_redact_line(char *line);

/* Splits a byte stream into lines of at most ENGINE_LINE_MAX-1 bytes; a longer line is cut
 * and the rest until its newline dropped. */
typedef struct LineSplitter {
        char buf[ENGINE_LINE_MAX];
        size_t len;
        bool discarding;
} LineSplitter;

typedef void (*LineHandler)(const char *line, void *userdata);
/* Feeds data; calls cb once per complete line (without the '\n'). */
void line_splitter_feed(LineSplitter *s, const char *data, size_t n, LineHandler cb,
                        void *userdata);
/* At EOF: a last line without '\n'. */
void line_splitter_flush(LineSplitter *s, LineHandler cb, void *userdata);
