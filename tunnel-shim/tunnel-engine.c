#include "tunnel-engine.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "macro.h"
#include "spawn-util.h"

static int spawn_prepare(posix_spawn_file_actions_t *fa, int out_w, int tun, int uapi) {
        int r;

        /* dup2 onto the fixed numbers clears CLOEXEC on the targets; the sources are ours, all
         * CLOEXEC, moved above the targets by the caller so that no dup2 clobbers a source. */
        r = posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (!r)
                r = posix_spawn_file_actions_adddup2(fa, out_w, STDOUT_FILENO);
        if (!r)
                r = posix_spawn_file_actions_adddup2(fa, out_w, STDERR_FILENO);
        if (!r && tun >= 0)
                r = posix_spawn_file_actions_adddup2(fa, tun, ENGINE_CHILD_TUN_FD);
        if (!r && uapi >= 0)
                r = posix_spawn_file_actions_adddup2(fa, uapi, ENGINE_CHILD_UAPI_FD);
        if (!r)
                r = posix_spawn_file_actions_addclosefrom_np(fa, ENGINE_CHILD_UAPI_FD + 1);
        return -r;
}

static int dup_high(int fd) {
        if (fd < 0)
                return -EBADF;
        int n = fcntl(fd, F_DUPFD_CLOEXEC, ENGINE_CHILD_UAPI_FD + 1);
        return n < 0 ? negative_errno() : n;
}

int tunnel_engine_spawn(const EngineSpawnArgs *a, pid_t *ret_pid, int *ret_output_fd) {
        _cleanup_close_ int tun = -EBADF, uapi = -EBADF, out_r = -EBADF, out_w = -EBADF;
        char tun_env[32], uapi_env[32], level_env[64];
        char *envp[5];
        size_t ne = 0;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int pipefd[2], r;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        out_r = pipefd[0];
        out_w = pipefd[1];
        if (a->tun_fd >= 0 && (tun = dup_high(a->tun_fd)) < 0)
                return tun;
        if (a->uapi_fd >= 0 && (uapi = dup_high(a->uapi_fd)) < 0)
                return uapi;
        if (out_w <= ENGINE_CHILD_UAPI_FD) {
                int n = dup_high(out_w);
                if (n < 0)
                        return n;
                safe_close(out_w);
                out_w = n;
        }

        if (tun >= 0) {
                snprintf(tun_env, sizeof(tun_env), "WG_TUN_FD=%d", ENGINE_CHILD_TUN_FD);
                envp[ne++] = tun_env;
        }
        if (uapi >= 0) {
                snprintf(uapi_env, sizeof(uapi_env), "WG_UAPI_FD=%d", ENGINE_CHILD_UAPI_FD);
                envp[ne++] = uapi_env;
        }
        /* Without it wireguard-go re-executes itself into the background and the pid we know
         * exits at once. */
        envp[ne++] = (char *) "WG_PROCESS_FOREGROUND=1";
        snprintf(level_env, sizeof(level_env), "LOG_LEVEL=%s",
                 a->log_level ? a->log_level : "error");
        envp[ne++] = level_env;
        envp[ne] = NULL;

        char *default_argv[] = { (char *) "wireguard-go", (char *) "-f",
                                 (char *) (a->ifname ? a->ifname : "tund"), NULL };
        if ((r = posix_spawn_file_actions_init(&fa)))
                return -r;
        /* Our signals are blocked for sd-event and SIGPIPE is ignored: not the engine's. */
        if ((r = spawn_attr_init_clean_signals(&attr)) < 0) {
                posix_spawn_file_actions_destroy(&fa);
                return r;
        }
        r = spawn_prepare(&fa, out_w, tun, uapi);
        pid_t pid = 0;
        if (r >= 0)
                r = -posix_spawn(&pid, a->path, &fa, &attr, a->argv ? a->argv : default_argv,
                                 envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r < 0)
                return r;
        r = fcntl(out_r, F_SETFL, O_NONBLOCK);
        if (r < 0) {
                /* The child runs; the caller cannot read it: end it. */
                kill(pid, SIGKILL);
                return negative_errno();
        }
        *ret_pid = pid;
        *ret_output_fd = TAKE_FD(out_r);
        return 0;
}

static bool startswith(const char *s, const char *prefix, const char **ret_rest) {
        size_t n = strlen(prefix);
        if (strncmp(s, prefix, n) != 0)
                return false;
        *ret_rest = s + n;
        return true;
}

Tund__LogLevel tunnel_engine_line_level(const char *line, const char **ret_text) {
        static const struct {
                const char *prefix;
                Tund__LogLevel level;
                bool strip;
        } map[] = {
                { "DEBUG: ", TUND__LOG_LEVEL__LOG_LEVEL_DEBUG, true },
                { "INFO: ", TUND__LOG_LEVEL__LOG_LEVEL_INFO, true },
                { "NOTICE: ", TUND__LOG_LEVEL__LOG_LEVEL_NOTICE, true },
                { "WARNING: ", TUND__LOG_LEVEL__LOG_LEVEL_WARNING, true },
                { "WARN: ", TUND__LOG_LEVEL__LOG_LEVEL_WARNING, true },
                { "ERROR: ", TUND__LOG_LEVEL__LOG_LEVEL_ERROR, true },
                { "panic: ", TUND__LOG_LEVEL__LOG_LEVEL_ERROR, false },
                { "fatal error: ", TUND__LOG_LEVEL__LOG_LEVEL_ERROR, false },
        };
        const char *rest;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (startswith(line, map[i].prefix, &rest)) {
                        if (ret_text)
                                *ret_text = map[i].strip ? rest : line;
                        return map[i].level;
                }
        if (ret_text)
                *ret_text = line;
        return TUND__LOG_LEVEL__LOG_LEVEL_INFO;
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_b64(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
}

static void blank(char *p, size_t n) {
        static const char word[] = "[redacted]";
        for (size_t i = 0; i < n; i++)
                p[i] = i < sizeof(word) - 1 ? word[i] : '*';
}

int tunnel_redact_line(char *line) {
        size_t b64_end = 0; /* up to here, a base64 run known to hold no key */
        int n = 0;
        for (size_t i = 0; line[i];) {
                size_t h = 0;
                while (is_hex(line[i + h]))
                        h++;
                if (h >= 40) {
                        blank(line + i, h);
                        i += h, n++;
                        continue;
                }
                if (i >= b64_end) {
                        size_t b = 0;
                        while (is_b64(line[i + b]))
                                b++;
                        if (b >= 43 && line[i + b] == '=') {
                                blank(line + i, b + 1);
                                i += b + 1, n++;
                                continue;
                        }
                        b64_end = i + b;
                }
                /* A key may start inside a longer word, but not inside a hex run shorter than
                 * a key, nor inside a base64 run that is too short or lacks the '=': skipping
                 * them keeps this linear (looking again at every offset was quadratic, ~0.5 s
                 * for one read of 1000-character lines from a chatty engine). */
                i += MAX(h, (size_t) 1);
        }
        return n;
}

void line_splitter_feed(LineSplitter *s, const char *data, size_t n, LineHandler cb,
                        void *userdata) {
        for (size_t i = 0; i < n; i++) {
                char c = data[i];
                if (c == '\n') {
                        if (!s->discarding) {
                                s->buf[s->len] = 0;
                                cb(s->buf, userdata);
                        }
                        s->len = 0;
                        s->discarding = false;
                        continue;
                }
                if (s->discarding)
                        continue;
                if (s->len >= sizeof(s->buf) - 1) {
                        s->buf[s->len] = 0;
                        cb(s->buf, userdata);
                        s->len = 0;
                        s->discarding = true;
                        continue;
                }
                /* NULs and other control characters would cut or garble a log line. */
                s->buf[s->len++] = ((unsigned char) c < ' ' && c != '\t') ? '?' : c;
        }
}

void line_splitter_flush(LineSplitter *s, LineHandler cb, void *userdata) {
        if (s->len > 0 && !s->discarding) {
                s->buf[s->len] = 0;
                cb(s->buf, userdata);
        }
        s->len = 0;
        s->discarding = false;
}

const char *tunnel_level_prefix(Tund__LogLevel level) {
        switch (level) {
        case TUND__LOG_LEVEL__LOG_LEVEL_DEBUG:
                return SD_DEBUG;
        case TUND__LOG_LEVEL__LOG_LEVEL_INFO:
                return SD_INFO;
        case TUND__LOG_LEVEL__LOG_LEVEL_NOTICE:
                return SD_NOTICE;
        case TUND__LOG_LEVEL__LOG_LEVEL_WARNING:
                return SD_WARNING;
        default:
                return SD_ERR;
        }
}
