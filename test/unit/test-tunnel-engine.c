/* The engine child (tunnel-engine.c) and endpoint resolution (tunnel-resolve.c). */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine.h"
#include "tests.h"
#include "tunnel-engine.h"
#include "tunnel-resolve.h"

TEST(engine_line_levels) {
        const char *text;
        ASSERT_EQ(tunnel_engine_line_level("DEBUG: (wg0) 2024/01/01 Sending handshake", &text),
                  LOG_DEBUG);
        ASSERT_STREQ(text, "(wg0) 2024/01/01 Sending handshake");
        ASSERT_EQ(tunnel_engine_line_level("INFO: (wg0) up", &text), LOG_INFO);
        ASSERT_STREQ(text, "(wg0) up");
        ASSERT_EQ(tunnel_engine_line_level("ERROR: (wg0) Failed to create TUN device", &text),
                  LOG_ERR);
        ASSERT_STREQ(text, "(wg0) Failed to create TUN device");
        ASSERT_EQ(tunnel_engine_line_level("WARNING: x", &text), LOG_WARNING);
        ASSERT_EQ(tunnel_engine_line_level("panic: runtime error", &text), LOG_ERR);
        ASSERT_STREQ(text, "panic: runtime error");
        ASSERT_EQ(tunnel_engine_line_level("goroutine 1 [running]:", &text), LOG_INFO);
        ASSERT_EQ(tunnel_engine_line_level("ERRORS: not a prefix", &text), LOG_INFO);
}

TEST(engine_redaction) {
        char a[] = "ERROR: IPC error: failed to set private_key=489bafa3f270e7707e5a424c45c89c3e"
                   "1d2028736c86a48e30a1b87bc3d62679 now";
        ASSERT_EQ(tunnel_redact_line(a), 1);
        ASSERT_TRUE(!strstr(a, "489bafa3f270e770"));
        ASSERT_CONTAINS(a, "private_key=[redacted]");
        ASSERT_CONTAINS(a, " now");

        char b[] = "key SJuvo/Jw53B+WkJMRcicPh0gKHNshqSOMKG4e8PWJnk= seen";
        ASSERT_EQ(tunnel_redact_line(b), 1);
        ASSERT_TRUE(!strstr(b, "SJuvo/Jw53B"));
        ASSERT_CONTAINS(b, " seen");

        /* A hex key glued to a word is still found. */
        char c[] = "peerX489bafa3f270e7707e5a424c45c89c3e1d2028736c86a48e30a1b87bc3d62679";
        ASSERT_EQ(tunnel_redact_line(c), 1);
        ASSERT_TRUE(!strstr(c, "3d62679"));

        /* What wireguard-go does print stays as it is. */
        char d[] = "DEBUG: (wg0) 2024/01/01 12:00:00 peer(OR0J…/zQE) - Sending handshake";
        ASSERT_EQ(tunnel_redact_line(d), 0);
        ASSERT_CONTAINS(d, "peer(OR0J…/zQE)");
}

/* The first redactor, which looked again at every offset: what the linear one must match. */
static int redact_reference(char *line) {
        int n = 0;
        for (size_t i = 0; line[i];) {
                size_t h = 0, b = 0;
                while (strchr("0123456789abcdefABCDEF", line[i + h]) && line[i + h])
                        h++;
                while (line[i + b] && (isalnum((unsigned char) line[i + b]) || line[i + b] == '+' ||
                                       line[i + b] == '/'))
                        b++;
                if (h >= 40) {
                        memset(line + i, '#', h);
                        i += h, n++;
                } else if (b >= 43 && line[i + b] == '=') {
                        memset(line + i, '#', b + 1);
                        i += b + 1, n++;
                } else
                        i++;
        }
        return n;
}

/* Runs of hex, of other base64 characters, '=' and separators, in random order and lengths. */
TEST(engine_redaction_matches_reference) {
        static const char hex[] = "0123456789abcdefABCDEF", b64[] = "ghzGZ+/0aF";
        unsigned seed = 11;
        for (int round = 0; round < 20000; round++) {
                char a[400], b[400], c[400];
                size_t len = 0;
                while (len < 300) {
                        size_t run = 1 + (size_t) rand_r(&seed) % 70;
                        switch (rand_r(&seed) % 5) {
                        case 0:
                                for (size_t i = 0; i < run; i++)
                                        a[len++] = hex[rand_r(&seed) % (sizeof(hex) - 1)];
                                break;
                        case 1:
                                for (size_t i = 0; i < run; i++)
                                        a[len++] = b64[rand_r(&seed) % (sizeof(b64) - 1)];
                                break;
                        case 2:
                                a[len++] = '=';
                                break;
                        case 3:
                                a[len++] = " :[x"[rand_r(&seed) % 4];
                                break;
                        default:
                                for (size_t i = 0; i < 43; i++)
                                        a[len++] = b64[rand_r(&seed) % (sizeof(b64) - 1)];
                                a[len++] = '=';
                        }
                }
                a[len] = 0;
                memcpy(b, a, len + 1);
                memcpy(c, a, len + 1);
                ASSERT_EQ(tunnel_redact_line(c), redact_reference(b));
                /* The same spans blanked ('#' in the reference, "[redacted]**" filler). */
                for (size_t i = 0; i < len; i++)
                        if (b[i] == '#')
                                ASSERT_TRUE(strchr("[redacted]*", c[i]));
                        else
                                ASSERT_EQ(c[i], a[i]);
        }
}

/* Key-free lines cost linear time: the first version took minutes for these (and ~0.5 s per
 * read of 1000-character lines from a chatty engine). */
TEST(engine_redaction_linear) {
        size_t n = 1u << 20;
        char *s = malloc(n + 1);
        ASSERT_TRUE(s);
        memset(s, 'g', n);
        s[n] = 0;
        ASSERT_EQ(tunnel_redact_line(s), 0);
        for (size_t i = 0; i < n; i++)
                s[i] = i % 40 == 39 ? 'g' : 'a';
        ASSERT_EQ(tunnel_redact_line(s), 0);
        s[n - 1] = '=';
        ASSERT_EQ(tunnel_redact_line(s), 1);
        free(s);
}

static char lines[8][ENGINE_LINE_MAX];
static int n_lines;
static void collect(const char *line, void *userdata) {
        if (n_lines < 8)
                snprintf(lines[n_lines++], ENGINE_LINE_MAX, "%s", line);
}

TEST(engine_line_splitter) {
        LineSplitter s = {};
        line_splitter_feed(&s, "INFO: a\nERR", 11, collect, NULL);
        ASSERT_EQ(n_lines, 1);
        ASSERT_STREQ(lines[0], "INFO: a");
        line_splitter_feed(&s, "OR: b\n", 6, collect, NULL);
        ASSERT_STREQ(lines[1], "ERROR: b");
        line_splitter_feed(&s, "x\0y\033\n", 5, collect, NULL);
        ASSERT_STREQ(lines[2], "x?y?");
        /* An over-long line is cut once and its rest dropped. */
        char big[3000];
        memset(big, 'z', sizeof(big));
        line_splitter_feed(&s, big, sizeof(big), collect, NULL);
        line_splitter_feed(&s, "\nlast", 5, collect, NULL);
        ASSERT_EQ(n_lines, 4);
        ASSERT_EQ(strlen(lines[3]), ENGINE_LINE_MAX - 1);
        line_splitter_flush(&s, collect, NULL);
        ASSERT_EQ(n_lines, 5);
        ASSERT_STREQ(lines[4], "last");
}

/* The fd map and environment, checked by /bin/sh standing in for the engine. */
TEST(engine_spawn_fd_map) {
        int sp[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
        int tun = open("/dev/null", O_RDWR | O_CLOEXEC);
        int leak = open("/dev/zero", O_RDONLY); /* not CLOEXEC: must not reach the child */
        ASSERT_TRUE(tun >= 0 && leak >= 0);
        char *argv[] = { (char *) "sh", (char *) "-c",
                         /* The signal lines first, with builtins only: dash blocks
                          * SIGCHLD for a moment around each fork, which a grep run while
                          * the shell waits for it can catch. */
                         (char *) "sig=; while read -r k v; do case $k in SigBlk:|SigIgn:) "
                                  "sig=\"$sig$k\t$v\n\";; esac; done </proc/$$/status; "
                                  "ls /proc/$$/fd; "
                                  "echo \"fd3 $(readlink /proc/$$/fd/3)\"; "
                                  "echo \"env $(env | grep -v '^PWD=' | sort | tr '\\n' ' ')\"; "
                                  "printf \"$sig\"; "
                                  "echo 'ERROR: bye' >&2",
                         NULL };
        EngineSpawnArgs a = { .path = "/bin/sh",
                              .ifname = "x",
                              .tun_fd = tun,
                              .uapi_fd = sp[0],
                              .log_level = "verbose",
                              .argv = argv };
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL); /* as in the tunnel: must not be inherited */
        signal(SIGPIPE, SIG_IGN);
        pid_t pid;
        int out;
        ASSERT_OK(tunnel_engine_spawn(&a, &pid, &out));
        ASSERT_TRUE(fcntl(out, F_GETFD) & FD_CLOEXEC);
        ASSERT_TRUE(fcntl(out, F_GETFL) & O_NONBLOCK);
        char buf[4096];
        size_t len = 0;
        for (;;) {
                struct pollfd p = { out, POLLIN, 0 };
                ASSERT_TRUE(poll(&p, 1, 5000) == 1);
                ssize_t n = read(out, buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        int st;
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        /* The shell's own fds when it ran ls: exactly the map, nothing leaked. */
        ASSERT_TRUE(strncmp(buf, "0\n1\n2\n3\n4\nfd3 ", 14) == 0);
        ASSERT_CONTAINS(buf, "fd3 /dev/null");
        ASSERT_CONTAINS(buf, "env LOG_LEVEL=verbose WG_PROCESS_FOREGROUND=1 WG_TUN_FD=3 "
                             "WG_UAPI_FD=4 \n");
        ASSERT_CONTAINS(buf, "SigBlk:\t0000000000000000");
        const char *ign = strstr(buf, "SigIgn:\t");
        ASSERT_TRUE(ign);
        unsigned long long mask = strtoull(ign + 8, NULL, 16);
        ASSERT_EQ(mask & (1ULL << (SIGPIPE - 1)), 0); /* we ignore it; the engine must not */
        ASSERT_CONTAINS(buf, "ERROR: bye");
}

TEST(engine_spawn_missing_binary) {
        pid_t pid;
        int out;
        EngineSpawnArgs a = { .path = "/nonexistent/wireguard-go", .tun_fd = -1, .uapi_fd = -1 };
        ASSERT_EQ(tunnel_engine_spawn(&a, &pid, &out), -ENOENT);
}

/* ---- verified engines ---- */

static char vroot[32];

/* A private tree owned by us, walked as "/" with our uid trusted: /bin/wg a copy of the
 * shell binary (an ELF: a script cannot be executed from a CLOEXEC fd). */
static void vtree(mode_t bin_mode) {
        char cmd[2 * PATH_MAX], sh[PATH_MAX];
        snprintf(vroot, sizeof(vroot), "/tmp/tund-te-XXXXXX");
        ASSERT_TRUE(mkdtemp(vroot));
        ASSERT_TRUE(realpath("/bin/sh", sh));
        snprintf(cmd, sizeof(cmd),
                 "mkdir %s/bin && chmod %o %s/bin && cp %s %s/bin/wg && "
                 "chmod 755 %s/bin/wg",
                 vroot, (unsigned) bin_mode, vroot, sh, vroot, vroot);
        ASSERT_EQ(system(cmd), 0);
}

static void vtree_free(void) {
        char cmd[256];
        tunnel_engine_forget();
        snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", vroot, vroot);
        ASSERT_EQ(system(cmd), 0);
}

static int vverify(const char *path, char **err) {
        VerifyOptions o = { .trusted_uid = getuid(), .root = vroot };
        free(*err);
        *err = NULL;
        return tunnel_engine_verify(path, &o, err);
}

static size_t read_all(int fd, char *buf, size_t size) {
        size_t len = 0;
        for (;;) {
                struct pollfd p = { fd, POLLIN, 0 };
                ASSERT_TRUE(poll(&p, 1, 5000) == 1);
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        return len;
}

/* The file verified is the one executed, even after its path has been replaced; the engine
 * gets fds 0-4 and neither the binary's fd nor the error pipe; any other path is refused. */
TEST(engine_verified_spawn_runs_the_verified_file) {
        _cleanup_free_ char *err = NULL;
        char p[128], cmd[512], buf[4096];
        struct stat st;
        vtree(0755);
        ASSERT_OK(vverify("/bin/wg", &err));
        ASSERT_TRUE(tunnel_engine_verified_fd() >= 0);
        snprintf(p, sizeof(p), "%s/bin/wg", vroot);
        ASSERT_OK(stat(p, &st));
        snprintf(cmd, sizeof(cmd),
                 "printf '#!/bin/sh\\necho replaced\\n' >%s/bin/new && "
                 "chmod 755 %s/bin/new && mv %s/bin/new %s",
                 vroot, vroot, vroot, p);
        ASSERT_EQ(system(cmd), 0);

        int sp[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
        int tun = open("/dev/null", O_RDWR | O_CLOEXEC);
        char *argv[] = { (char *) "sh", (char *) "-c",
                         (char *) "ls /proc/$$/fd; echo \"ino $(stat -L -c %i /proc/$$/exe)\"",
                         NULL };
        /* The path as the tunnel passes it: what was verified, not what is there now. */
        EngineSpawnArgs a = { .path = "/bin/wg", .tun_fd = tun, .uapi_fd = sp[0], .argv = argv };
        signal(SIGPIPE, SIG_IGN);
        pid_t pid;
        int out, status;
        ASSERT_OK(tunnel_engine_spawn(&a, &pid, &out));
        read_all(out, buf, sizeof(buf));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_TRUE(strncmp(buf, "0\n1\n2\n3\n4\nino ", 14) == 0);
        ASSERT_EQ(strtoull(buf + 14, NULL, 10), (unsigned long long) st.st_ino);
        close(out);

        a.path = "/bin/sh";
        ASSERT_EQ(tunnel_engine_spawn(&a, &pid, &out), -EPERM);
        close(tun);
        close(sp[0]);
        close(sp[1]);
        vtree_free();
}

TEST(engine_verify_refusals) {
        _cleanup_free_ char *err = NULL;
        char cmd[512];
        vtree(0775);
        ASSERT_EQ(vverify("/bin/wg", &err), -EPERM);
        ASSERT_CONTAINS(err, "engine /bin/wg refused: /bin is group- or other-writable");
        ASSERT_TRUE(tunnel_engine_verified_fd() < 0);
        snprintf(cmd, sizeof(cmd),
                 "chmod 755 %s/bin && printf '#!/bin/sh\\n' >%s/bin/script && "
                 "chmod 755 %s/bin/script && chmod 775 %s/bin/wg",
                 vroot, vroot, vroot, vroot);
        ASSERT_EQ(system(cmd), 0);
        ASSERT_EQ(vverify("/bin/wg", &err), -EPERM);
        ASSERT_CONTAINS(err, "/bin/wg is group- or other-writable (mode 0775)");
        ASSERT_EQ(vverify("/bin/script", &err), -ENOEXEC);
        ASSERT_CONTAINS(err, "engine /bin/script refused: it is a script, not a binary");
        ASSERT_EQ(vverify("/bin/missing", &err), -ENOENT);
        ASSERT_CONTAINS(err, "/bin/missing");
        ASSERT_TRUE(tunnel_engine_verified_fd() < 0);
        vtree_free();

        /* The real tree, uid 0 trusted, as tund-tunnel does: a copy under /tmp is refused. */
        VerifyOptions o = { .trusted_uid = 0 };
        free(err);
        err = NULL;
        vtree(0755);
        char p[128];
        snprintf(p, sizeof(p), "%s/bin/wg", vroot);
        ASSERT_EQ(tunnel_engine_verify(p, &o, &err), -EPERM);
        ASSERT_CONTAINS(err, p);
        vtree_free();
}

/* Debian's wireguard-go, where it is installed, passes as tund-tunnel checks it. */
TEST(engine_verify_installed_wireguard_go) {
        _cleanup_free_ char *err = NULL;
        VerifyOptions o = { .trusted_uid = 0 };
        if (access(ENGINE_DEFAULT_PATH, X_OK) < 0)
                SKIP("%s not installed", ENGINE_DEFAULT_PATH);
        ASSERT_OK(tunnel_engine_verify(ENGINE_DEFAULT_PATH, &o, &err));
        EngineInfo info;
        ASSERT_OK(engine_detect_fd(tunnel_engine_verified_fd(), ENGINE_DEFAULT_PATH,
                                   ENGINE_TUN_FLAVOUR_UNKNOWN, &info, &err));
        ASSERT_TRUE(info.version[0] != '\0');
        tunnel_engine_forget();
}

/* ---- resolution ---- */

static int res_error = 1;
static UapiEndpoint res_ep[3];
static char res_msg[256];
static void on_resolved(int error, const UapiEndpoint *ep, size_t n, const char *message,
                        void *userdata) {
        res_error = error;
        if (error >= 0)
                memcpy(res_ep, ep, n * sizeof(*ep));
        snprintf(res_msg, sizeof(res_msg), "%s", message ? message : "");
        sd_event_exit(userdata, 0);
}

static void peers3(Tund__WgConfig *cfg, Tund__WgPeer p[3], Tund__WgPeer *pp[3], const char *e0,
                   const char *e1, const char *e2) {
        tund__wg_config__init(cfg);
        const char *e[3] = { e0, e1, e2 };
        for (int i = 0; i < 3; i++) {
                tund__wg_peer__init(&p[i]);
                p[i].public_key = (char *) "OR0J4her8xJndIMqOzjLJ+GoHn22gR2LjHNin6H/zQE=";
                p[i].endpoint = (char *) e[i];
                pp[i] = &p[i];
        }
        cfg->peers = pp;
        cfg->n_peers = 3;
}

TEST(resolve_numeric_and_localhost) {
        sd_event *e = NULL;
        Tund__WgConfig cfg;
        Tund__WgPeer p[3], *pp[3];
        char buf[UAPI_ENDPOINT_MAX];
        ASSERT_OK(sd_event_new(&e));
        peers3(&cfg, p, pp, "192.0.2.9:1", "", "localhost:51820");
        ASSERT_OK(tunnel_resolve_start(e, &cfg, 5 * USEC_PER_SEC, on_resolved, e, NULL, NULL));
        ASSERT_OK(sd_event_loop(e));
        ASSERT_EQ(res_error, 0);
        ASSERT_OK(uapi_endpoint_format(&res_ep[0].addr, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "192.0.2.9:1");
        ASSERT_EQ(res_ep[1].addr.sa.sa_family, AF_UNSPEC);
        ASSERT_OK(uapi_endpoint_format(&res_ep[2].addr, buf, sizeof(buf)));
        if (strcmp(buf, "127.0.0.1:51820") && strcmp(buf, "[::1]:51820"))
                FAILF("localhost resolved to %s", buf);
        sd_event_unref(e);
}

TEST(resolve_errors_name_peer) {
        sd_event *e = NULL;
        Tund__WgConfig cfg;
        Tund__WgPeer p[3], *pp[3];
        char *err = NULL;
        ASSERT_OK(sd_event_new(&e));
        peers3(&cfg, p, pp, "192.0.2.9:1", "2001:db8::1:5", "");
        ASSERT_EQ(tunnel_resolve_start(e, &cfg, USEC_PER_SEC, on_resolved, e, NULL, &err), -EINVAL);
        ASSERT_CONTAINS(err, "peer 2 (OR0J4her…): malformed endpoint \"2001:db8::1:5\"");
        free(err);

        /* .invalid never resolves (RFC 6761): an error or a timeout, naming the peer. */
        peers3(&cfg, p, pp, "", "", "no-such-host.invalid:1");
        ASSERT_OK(tunnel_resolve_start(e, &cfg, 2 * USEC_PER_SEC, on_resolved, e, NULL, NULL));
        ASSERT_OK(sd_event_loop(e));
        ASSERT_TRUE(res_error < 0);
        ASSERT_CONTAINS(res_msg, "peer 3 (OR0J4her…)");
        ASSERT_CONTAINS(res_msg, "no-such-host.invalid");
        sd_event_unref(e);
}

/* A kill switch keeps a host name's last addresses: a name that does not resolve (or does
 * not in time: .invalid may time out) falls back to the first, and the message says so. */
TEST(resolve_falls_back_to_last_address) {
        sd_event *e = NULL;
        Tund__WgConfig cfg;
        Tund__WgPeer p[3], *pp[3];
        uint8_t a4[4] = { 192, 0, 2, 7 };
        Tund__Endpoint bad = TUND__ENDPOINT__INIT, good = TUND__ENDPOINT__INIT,
                       *fb[] = { &bad, &good };
        bad.address = (ProtobufCBinaryData){ .len = 3, .data = a4 }; /* skipped: not an address */
        bad.port = 51820;
        good.address = (ProtobufCBinaryData){ .len = 4, .data = a4 };
        good.port = 51820;
        char buf[UAPI_ENDPOINT_MAX];
        ASSERT_OK(sd_event_new(&e));
        peers3(&cfg, p, pp, "", "", "no-such-host.invalid:51820");
        p[2].fallback_endpoints = fb;
        p[2].n_fallback_endpoints = 2;
        ASSERT_OK(tunnel_resolve_start(e, &cfg, 10 * USEC_PER_SEC, on_resolved, e, NULL, NULL));
        ASSERT_OK(sd_event_loop(e));
        ASSERT_EQ(res_error, 0);
        ASSERT_OK(uapi_endpoint_format(&res_ep[2].addr, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "192.0.2.7:51820");
        ASSERT_CONTAINS(res_msg, "peer 3 (OR0J4her…): cannot resolve endpoint host "
                                 "\"no-such-host.invalid\"");
        ASSERT_CONTAINS(res_msg, "using its last address that worked, 192.0.2.7:51820");
        /* A name that resolves does not fall back, and says nothing. */
        e = sd_event_unref(e);
        ASSERT_OK(sd_event_new(&e));
        peers3(&cfg, p, pp, "", "", "localhost:51820");
        p[2].fallback_endpoints = fb;
        p[2].n_fallback_endpoints = 2;
        ASSERT_OK(tunnel_resolve_start(e, &cfg, 10 * USEC_PER_SEC, on_resolved, e, NULL, NULL));
        ASSERT_OK(sd_event_loop(e));
        ASSERT_EQ(res_error, 0);
        ASSERT_STREQ(res_msg, "");
        ASSERT_OK(uapi_endpoint_format(&res_ep[2].addr, buf, sizeof(buf)));
        ASSERT_TRUE(strcmp(buf, "192.0.2.7:51820") != 0);
        sd_event_unref(e);

        /* Resolving again (a rebind): a name that does not resolve keeps the address in use,
         * not the profile's older fallback. */
        UapiEndpoint current[3] = {};
        ASSERT_OK(uapi_endpoint_parse("198.51.100.44:51820", &current[2].addr));
        ASSERT_OK(sd_event_new(&e));
        peers3(&cfg, p, pp, "", "", "no-such-host.invalid:51820");
        p[2].fallback_endpoints = fb;
        p[2].n_fallback_endpoints = 2;
        ASSERT_OK(tunnel_resolve_again(e, &cfg, current, 10 * USEC_PER_SEC, on_resolved, e, NULL,
                                       NULL));
        ASSERT_OK(sd_event_loop(e));
        ASSERT_EQ(res_error, 0);
        ASSERT_OK(uapi_endpoint_format(&res_ep[2].addr, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "198.51.100.44:51820");
        ASSERT_CONTAINS(res_msg, "last address that worked, 198.51.100.44:51820");
        sd_event_unref(e);
}
