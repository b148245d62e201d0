/* Engine detection: run `wireguard-go --version` and map the version to TUN flags. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "engine.h"
#include "error-util.h"
#include "macro.h"
#include "spawn-util.h"

#define ENGINE_OUTPUT_MAX 4096
#define ENGINE_NAME "wireguard-go"

/* Releases whose framing was checked against their TUN code (see engine.h). */
#define ENGINE_LAST_PI_DATE UINT32_C(20220316)
#define ENGINE_FIRST_NO_PI_DATE UINT32_C(20250515)

const char *engine_tun_flavour_to_string(EngineTunFlavour f) {
        switch (f) {
        case ENGINE_TUN_FLAVOUR_PI:
                return "pi";
        case ENGINE_TUN_FLAVOUR_NO_PI:
                return "no-pi";
        default:
                return "unknown";
        }
}

EngineTunFlavour engine_tun_flavour_from_string(const char *s) {
        if (s && strcasecmp(s, "pi") == 0)
                return ENGINE_TUN_FLAVOUR_PI;
        if (s && strcasecmp(s, "no-pi") == 0)
                return ENGINE_TUN_FLAVOUR_NO_PI;
        return ENGINE_TUN_FLAVOUR_UNKNOWN;
}

int engine_parse_version(const char *output, char ret_version[ENGINE_VERSION_MAX]) {
        const char *p;
        size_t n;

        /* The first line is "wireguard-go vX.Y.Z"; anything after it is a banner. */
        p = output + strspn(output, " \t\r\n");
        if (strncmp(p, ENGINE_NAME, STRLEN(ENGINE_NAME)) != 0 || !strchr(" \t", p[STRLEN(ENGINE_NAME)]))
                return -EINVAL;
        p += STRLEN(ENGINE_NAME);
        p += strspn(p, " \t");
        if (*p == 'v')
                p++;
        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        n = strspn(p, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-~_");
        if (n >= ENGINE_VERSION_MAX || !strchr(" \t\r\n", p[n]))
                return -EINVAL;
        memcpy(ret_version, p, n);
        ret_version[n] = '\0';
        return 0;
}

EngineTunFlavour engine_flavour_from_version(const char *version) {
        unsigned major, minor, date;
        int end = 0;

        if (sscanf(version, "%u.%u.%u%n", &major, &minor, &date, &end) != 3 || end <= 0)
                return ENGINE_TUN_FLAVOUR_UNKNOWN;
        if (major != 0 || minor != 0 || date < 20170000 || date > 99991231)
                return ENGINE_TUN_FLAVOUR_UNKNOWN;
        /* A suffix ("-3-gabcdef") means commits after the release: fine after the switch to
         * IFF_NO_PI, unknowable before it. */
        if (date >= ENGINE_FIRST_NO_PI_DATE)
                return ENGINE_TUN_FLAVOUR_NO_PI;
        if (date <= ENGINE_LAST_PI_DATE && version[end] == '\0')
                return ENGINE_TUN_FLAVOUR_PI;
        return ENGINE_TUN_FLAVOUR_UNKNOWN;
}

/* Runs PATH --version with no environment and stdin from /dev/null. */
static int run_version(const char *path, uint64_t timeout_usec, char *out, size_t size,
                       int *ret_status, char **ret_error) {
        char *const argv[] = { (char *) "wireguard-go", (char *) "--version", NULL };
        char *const envp[] = { NULL };
        int r = spawn_capture(path, argv, envp, NULL, timeout_usec, out, size, ret_status);
        if (r == -ETIMEDOUT)
                return error_set(ret_error, r, "%s --version: no answer within %llu ms", path,
                                 (unsigned long long) (timeout_usec / USEC_PER_MSEC));
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot run: %s", path, strerror(-r));
        return 0;
}

/* The first line of the output, printable characters only, for error messages. */
static void output_summary(const char *out, char *buf, size_t size) {
        size_t n = 0;

        for (const char *p = out + strspn(out, " \t\r\n"); *p && *p != '\n' && n + 1 < size; p++)
                buf[n++] = isprint((unsigned char) *p) ? *p : '?';
        buf[n] = '\0';
}

int engine_detect_full(const char *path, EngineTunFlavour override, uint64_t timeout_usec,
                       EngineInfo *ret, char **ret_error) {
        char out[ENGINE_OUTPUT_MAX], summary[128];
        EngineInfo info = {};
        int status = 0, r;

        path = path ?: ENGINE_DEFAULT_PATH;
        if (timeout_usec == 0)
                timeout_usec = ENGINE_DEFAULT_TIMEOUT_USEC;
        if (strlen(path) >= sizeof(info.path))
                return error_set(ret_error, -ENAMETOOLONG, "%s: path too long", path);
        strcpy(info.path, path);

        r = run_version(path, timeout_usec, out, sizeof(out), &status, ret_error);
        if (r < 0)
                return r;
        output_summary(out, summary, sizeof(summary));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return error_set(ret_error, -ENOEXEC, "%s --version: %s %d: \"%s\"", path,
                            WIFEXITED(status) ? "exited with status" : "killed by signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), summary);

        if (engine_parse_version(out, info.version) >= 0)
                info.flavour = engine_flavour_from_version(info.version);
        if (override != ENGINE_TUN_FLAVOUR_UNKNOWN) {
                info.flavour = override;
                info.flavour_overridden = 1;
        } else if (info.flavour == ENGINE_TUN_FLAVOUR_UNKNOWN)
                return error_set(ret_error, -EPROTONOSUPPORT,
                            "%s: unknown wireguard-go version in \"%s\": cannot tell whether it "
                            "needs IFF_NO_PI; set EngineTunFlavour=pi or no-pi in [Tund]",
                            path, summary);
        *ret = info;
        return 0;
}

int engine_detect(const char *path, EngineInfo *ret, char **ret_error) {
        return engine_detect_full(path, ENGINE_TUN_FLAVOUR_UNKNOWN, ENGINE_DEFAULT_TIMEOUT_USEC,
                                  ret, ret_error);
}
