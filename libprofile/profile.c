/* Profile loading: file checks, the line reader fed to inih, sections and final validation.
 *
 * inih splits "key = value" lines and trims them; the reader in front of it does what inih
 * cannot: it counts sections (inih reports no section starts, so two [Peer] headers in a row
 * would look like one), strips '#' comments anywhere in a line as wg-quick does, refuses
 * overlong lines instead of letting inih split them, and refuses "key: value". */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define INI_HANDLER_LINENO 1
#include <ini.h>

#include "error-util.h"
#include "profile-internal.h"
#include "profile-values.h"
#include "strv.h"

#define PROFILE_LINE_MAX 4096
#define PROFILE_FILE_MAX (1024 * 1024)

int parse_fail(ParseState *s, unsigned line, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        if (s->error)
                return s->error_r;
        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return parse_oom(s);
        if (line > 0 && key)
                r = asprintf(&s->error, "%s:%u: %s: %s", s->path, line, key, msg);
        else if (line > 0)
                r = asprintf(&s->error, "%s:%u: %s", s->path, line, msg);
        else if (key)
                r = asprintf(&s->error, "%s: %s: %s", s->path, key, msg);
        else
                r = asprintf(&s->error, "%s: %s", s->path, msg);
        if (r < 0) {
                s->error = NULL;
                return parse_oom(s);
        }
        s->error_r = -EINVAL;
        return -EINVAL;
}

int parse_fail_token(ParseState *s, unsigned line, const char *key, const char *token,
                     const char *what) {
        if (profile_token_is_printable(token))
                return parse_fail(s, line, key, "\"%s\" %s", token, what);
        return parse_fail(s, line, key, "value %s", what);
}

int parse_oom(ParseState *s) {
        if (!s->error) {
                s->error = strdup("out of memory");
                s->error_r = -ENOMEM;
        }
        return -ENOMEM;
}

bool profile_name_is_valid(const char *name) {
        size_t n = strlen(name);

        return n >= 1 && n <= PROFILE_NAME_MAX &&
               strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
                       n &&
               !streq(name, ".") && !streq(name, "..");
}

bool profile_ifname_is_valid(const char *ifname) {
        return strlen(ifname) <= PROFILE_IFNAME_MAX && profile_name_is_valid(ifname);
}

static int section_begin(ParseState *s, char *p) {
        char *name = p + 1, *close = strchr(p, ']');
        ProfilePeer *peer;

        if (!close || close[1 + strspn(close + 1, " \t")] != '\0')
                return parse_fail(s, s->lineno, NULL, "malformed section header");
        /* wg(8) ignores whitespace in headers: "[ Peer ]" is [Peer]. */
        *close = '\0';
        name += strspn(name, " \t");
        name[strcspn(name, " \t")] = '\0';

        if (strcasecmp(name, "Interface") == 0) {
                s->section = PROFILE_SECTION_INTERFACE;
                if (s->interface_line == 0)
                        s->interface_line = s->lineno;
        } else if (strcasecmp(name, "Peer") == 0) {
                s->section = PROFILE_SECTION_PEER;
                peer = ARRAY_PUSH(s->profile->peers, s->profile->n_peers);
                if (!peer)
                        return parse_oom(s);
                peer->line = s->lineno;
                profile_keys_new_peer(s);
        } else if (strcasecmp(name, "Tund") == 0)
                s->section = PROFILE_SECTION_TUND;
        else if (profile_token_is_printable(name))
                return parse_fail(s, s->lineno, NULL,
                                  "unknown section [%s] (expected [Interface], [Peer] or [Tund])",
                                  name);
        else
                return parse_fail(s, s->lineno, NULL,
                                  "unknown section (expected [Interface], [Peer] or [Tund])");
        return 0;
}

/* Looks at one whole line before inih sees it. Returns false if it must not reach inih. */
static bool line_examine(ParseState *s, char *line) {
        char *p = line + strspn(line, " \t\r\v\f"), *eq;
        size_t n;

        line[strcspn(line, "#")] = '\0';
        n = strlen(line);
        while (n > 0 && strchr(" \t\r\v\f", line[n - 1]))
                line[--n] = '\0';
        if (*p == '\0' || *p == ';')
                return true;
        if (*p == '[') {
                (void) section_begin(s, p);
                return false;
        }
        /* inih would also split at ':', which neither wg nor wg-quick do. */
        eq = strchr(p, '=');
        if (!eq || strcspn(p, ":") < (size_t) (eq - p) || eq == p) {
                (void) parse_fail(s, s->lineno, NULL,
                                  "syntax error: expected \"Key = Value\" or \"[Section]\"");
                return false;
        }
        return true;
}

/* Loads the next physical line into s->line. Returns false at the end of the text. */
static bool line_next(ParseState *s) {
        const char *end;
        size_t n;

        if (*s->text == '\0')
                return false;
        end = strchrnul(s->text, '\n');
        n = (size_t) (end - s->text);
        s->lineno++;
        if (n + 2 > s->line_size) {
                char *l = malloc(n + 2);

                if (!l) {
                        (void) parse_oom(s);
                        return false;
                }
                if (s->line)
                        explicit_wipe(s->line, s->line_size);
                free(s->line);
                s->line = l;
                s->line_size = n + 2;
        }
        memcpy(s->line, s->text, n);
        s->line[n] = '\0';
        s->text = *end ? end + 1 : end;
        /* A UTF-8 byte order mark is allowed before the first line. */
        if (s->lineno == 1 && strncmp(s->line, "\xEF\xBB\xBF", 3) == 0)
                memmove(s->line, s->line + 3, n - 2);

        if (n > PROFILE_LINE_MAX) {
                (void) parse_fail(s, s->lineno, NULL, "line longer than %d characters",
                                  PROFILE_LINE_MAX);
                s->line[0] = '\0';
        } else if (!line_examine(s, s->line))
                s->line[0] = '\0';
        strcat(s->line, "\n");
        s->line_len = strlen(s->line);
        s->line_off = 0;
        return true;
}

/* An fgets() for inih over the text: a line longer than num - 1 is returned in pieces, which
 * inih joins because the parse runs with a growing heap buffer. */
static char *profile_reader(char *str, int num, void *userdata) {
        ParseState *s = userdata;
        size_t n;

        if (s->error || num < 2)
                return NULL;
        if (s->line_off >= s->line_len && !line_next(s))
                return NULL;
        n = MIN(s->line_len - s->line_off, (size_t) num - 1);
        memcpy(str, s->line + s->line_off, n);
        str[n] = '\0';
        s->line_off += n;
        return str;
}

static int profile_handler(void *userdata, const char *section, const char *name, const char *value,
                           int lineno) {
        ParseState *s = userdata;

        if (s->error)
                return 0;
        return profile_keys_dispatch(s, name, value ?: "", (unsigned) lineno) >= 0;
}

static void inih_configure(void) {
        /* Debian's libinih exposes its compile-time options as globals. An indented line must
         * be a key of its own (wg-quick allows indentation), not a continuation; lines are
         * bounded by the reader, so inih's buffer may grow up to that bound. */
        ini_allow_multiline = false;
        ini_allow_inline_comments = true;
        ini_allow_no_value = false;
        ini_use_stack = false;
        ini_allow_realloc = true;
        ini_max_line = PROFILE_LINE_MAX + 16;
        ini_stop_on_first_error = true;
}

bool profile_has_default_route(const Profile *p) {
        for (size_t i = 0; i < p->n_peers; i++)
                for (size_t j = 0; j < p->peers[i].n_allowed_ips; j++)
                        if (p->peers[i].allowed_ips[j].prefixlen == 0)
                                return true;
        return false;
}

bool profile_endpoint_is_numeric(const ProfilePeer *peer, ProfileAddress *ret) {
        ProfileAddress a;
        uint16_t port;

        if (!peer->endpoint || profile_parse_endpoint(peer->endpoint, &port, &a) < 0 ||
            a.family == AF_UNSPEC)
                return false;
        if (ret)
                *ret = a;
        return true;
}

static int finalize_peers(ParseState *s) {
        Profile *p = s->profile;

        for (size_t i = 0; i < p->n_peers; i++) {
                if (isempty(p->peers[i].public_key))
                        return parse_fail(s, p->peers[i].line, "PublicKey", "missing in [Peer]");
                for (size_t j = 0; j < i; j++)
                        if (streq(p->peers[i].public_key, p->peers[j].public_key))
                                return parse_fail(s, p->peers[i].line, "PublicKey",
                                                  "same key as the peer on line %u",
                                                  p->peers[j].line);
        }
        return 0;
}

static int finalize(ParseState *s) {
        Profile *p = s->profile;
        int r;

        if (s->interface_line == 0)
                return parse_fail(s, 0, NULL, "no [Interface] section");
        if (isempty(p->private_key))
                return parse_fail(s, s->interface_line, "PrivateKey", "missing in [Interface]");
        r = finalize_peers(s);
        if (r < 0)
                return r;

        if (!p->dns_mode_set)
                p->dns_mode = profile_has_default_route(p) && p->n_dns_servers > 0
                                      ? PROFILE_DNS_MODE_FULL
                                      : PROFILE_DNS_MODE_SPLIT;
        else if (p->dns_mode == PROFILE_DNS_MODE_FULL && p->n_dns_servers == 0)
                return parse_fail(s, s->dns_mode_line, "DNSMode",
                                  "\"full\" needs DNS servers (DNS = in [Interface])");
        r = profile_keys_check_kill_switch(s);
        if (r < 0)
                return r;

        if (isempty(p->ifname)) {
                if (strlen("tund-") + strlen(p->name) > PROFILE_IFNAME_MAX)
                        return parse_fail(s, 0, "InterfaceName",
                                          "the default name \"tund-%s\" is longer than %d "
                                          "characters; set InterfaceName= in [Tund]",
                                          p->name, PROFILE_IFNAME_MAX);
                snprintf(p->ifname, sizeof(p->ifname), "tund-%s", p->name);
        }
        return 0;
}

int profile_parse_string(const char *text, const char *path, const char *name, Profile **ret,
                         char **ret_error) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *fallback_path = NULL;
        ParseState s = { .text = text };
        int r;

        if (!name || !profile_name_is_valid(name)) {
                if (ret_error)
                        *ret_error = strdup("invalid profile name (expected 1 to 32 characters "
                                            "of A-Z a-z 0-9 _ . -)");
                return -EINVAL;
        }
        if (!path && asprintf(&fallback_path, "%s.conf", name) < 0)
                return -ENOMEM;
        s.path = path ?: fallback_path;

        p = calloc(1, sizeof(*p));
        if (!p || !(p->name = strdup(name)) || !(p->path = strdup(s.path)))
                return -ENOMEM;
        s.profile = p;

        inih_configure();
        r = ini_parse_stream(profile_reader, &s, profile_handler, &s);
        if (!s.error && r != 0)
                (void) (r == -2 ? parse_oom(&s)
                                : parse_fail(&s, r > 0 ? (unsigned) r : 0, NULL,
                                             "syntax error: expected \"Key = Value\" or "
                                             "\"[Section]\""));
        if (!s.error)
                (void) finalize(&s);

        if (s.line)
                explicit_wipe(s.line, s.line_size);
        free(s.line);
        free(s.bypass);
        if (s.error) {
                r = s.error_r;
                if (ret_error)
                        *ret_error = TAKE_PTR(s.error);
                free(s.error);
                return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* The name is the basename without ".conf", as for wg-quick. */
static char *name_from_path(const char *path) {
        const char *base = strrchr(path, '/');
        size_t n;

        base = base ? base + 1 : path;
        n = strlen(base);
        if (n > 5 && streq(base + n - 5, ".conf"))
                n -= 5;
        return strndup(base, n);
}

/* Reads the whole file after checking what the fd really is: the checks and the read use the
 * same open file, so a rename in between cannot swap in another. */
static int read_profile_fd(int fd, const char *path, char **ret, char **ret_error) {
        struct stat st;
        char *buf;
        size_t n = 0;
        ssize_t k;

        if (fstat(fd, &st) < 0)
                return error_set(ret_error, negative_errno(), "%s: cannot stat: %m", path);
        if (!S_ISREG(st.st_mode))
                return error_set(ret_error, -EINVAL, "%s: not a regular file", path);
        if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))
                return error_set(ret_error, -EPERM,
                                 "%s: permissions %04o are too open: the profile holds a private "
                                 "key, make it readable by its owner only (chmod 600)",
                                 path, (unsigned) (st.st_mode & 07777));
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return error_set(ret_error, -EPERM,
                                 "%s: owned by uid %u: a profile must belong to root", path,
                                 (unsigned) st.st_uid);
        if (st.st_size > PROFILE_FILE_MAX)
                return error_set(ret_error, -EFBIG, "%s: larger than %d bytes", path,
                                 PROFILE_FILE_MAX);

        buf = calloc(1, (size_t) PROFILE_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (n < PROFILE_FILE_MAX && (k = read(fd, buf + n, PROFILE_FILE_MAX - n)) != 0) {
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = negative_errno();

                        explicit_wipe(buf, n);
                        free(buf);
                        return error_set(ret_error, r, "%s: cannot read: %m", path);
                }
                n += (size_t) k;
        }
        if (memchr(buf, '\0', n)) {
                explicit_wipe(buf, n);
                free(buf);
                return error_set(ret_error, -EINVAL, "%s: contains a NUL byte", path);
        }
        *ret = buf;
        return (int) n;
}

/* The profile name PATH gives (its basename without ".conf"), checked. */
static int profile_name_of_path(const char *path, char **ret_name, char **ret_error) {
        _cleanup_free_ char *name = name_from_path(path);
        if (!name)
                return -ENOMEM;
        if (!profile_name_is_valid(name))
                return error_set(ret_error, -EINVAL,
                                 "%s: \"%s\" is not a valid profile name (1 to 32 characters of "
                                 "A-Z a-z 0-9 _ . -, then \".conf\")",
                                 path, profile_token_is_printable(name) ? name : "?");
        *ret_name = TAKE_PTR(name);
        return 0;
}

static int load_named_fd(int fd, const char *path, const char *name, Profile **ret,
                         char **ret_error) {
        char *text = NULL;
        int n = read_profile_fd(fd, path, &text, ret_error);
        if (n < 0)
                return n;
        int r = profile_parse_string(text, path, name, ret, ret_error);
        explicit_wipe(text, (size_t) n);
        free(text);
        return r;
}

int profile_load_fd(int fd, const char *path, Profile **ret, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        int r = profile_name_of_path(path, &name, ret_error);
        if (r < 0)
                return r;
        return load_named_fd(fd, path, name, ret, ret_error);
}

int profile_load_file(const char *path, Profile **ret, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        int r = profile_name_of_path(path, &name, ret_error);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "%s: cannot open: %m", path);
        return load_named_fd(fd, path, name, ret, ret_error);
}

int profile_load_name(const char *dir, const char *name, Profile **ret, char **ret_error) {
        _cleanup_free_ char *path = NULL;

        if (!name || !profile_name_is_valid(name))
                return error_set(ret_error, -EINVAL,
                                 "\"%s\" is not a valid profile name (1 to 32 characters of "
                                 "A-Z a-z 0-9 _ . -)",
                                 name && profile_token_is_printable(name) ? name : "?");
        if (asprintf(&path, "%s/%s.conf", dir ?: PROFILE_DEFAULT_DIR, name) < 0)
                return -ENOMEM;
        return profile_load_file(path, ret, ret_error);
}

Profile *profile_free(Profile *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_peers; i++) {
                free(p->peers[i].endpoint);
                free(p->peers[i].allowed_ips);
        }
        if (p->peers)
                explicit_wipe(p->peers, p->n_peers * sizeof(*p->peers));
        free(p->peers);
        free(p->addresses);
        free(p->dns_servers);
        strv_free_n(p->search_domains, p->n_search_domains);
        strv_free_n(p->routing_domains, p->n_routing_domains);
        free(p->excluded_routes);
        free(p->allowed_bypass);
        free(p->name);
        free(p->path);
        explicit_wipe(p, sizeof(*p));
        free(p);
        return NULL;
}
