/* The applied state as line-based text, one object per line:
 *
 *   tund-netcfg-state 1
 *   link tun0 7
 *   mtu 1420 1380          (before, set; 0 0 = untouched)
 *   set-up 1
 *   dns resolved           (none | resolved | resolvconf)
 *   dns-server 198.51.100.53
 *   dns-search corp.example
 *   dns-routing internal.example
 *   dns-flags 0 0          (full, default-route)
 *   address 192.0.2.2/24 7
 *   route 198.51.100.0/24 29813 1 7   (table, rtm_type, oif)
 *   rule 4 21701 29813 0 1 -1 991     (family, priority, table, fwmark, invert, suppress,
 *                                      uid or -1; older states lack it)
 *   end
 *
 * The parser accepts exactly this and nothing else; a missing "end" means a torn file. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "netcfg-internal.h"

#define STATE_MAGIC "tund-netcfg-state 1"
#define STATE_MAX_SIZE (64U * 1024U * 1024U)

int netcfg_state_format(const NetcfgContext *ctx, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, STATE_MAGIC "\nlink %s %d\nmtu %u %u\nset-up %d\ndns %s\n", ctx->ifname,
                ctx->ifindex, ctx->mtu_before, ctx->mtu_set, ctx->set_up,
                netcfg_dns_backend_to_string(ctx->dns_backend));
        for (size_t i = 0; i < ctx->dns.n_servers; i++) {
                char a[INET6_ADDRSTRLEN];
                inet_ntop(ctx->dns.servers[i].family, ctx->dns.servers[i].addr, a, sizeof(a));
                fprintf(f, "dns-server %s\n", a);
        }
        for (size_t i = 0; i < ctx->dns.n_search; i++)
                fprintf(f, "dns-search %s\n", ctx->dns.search[i]);
        for (size_t i = 0; i < ctx->dns.n_routing; i++)
                fprintf(f, "dns-routing %s\n", ctx->dns.routing[i]);
        fprintf(f, "dns-flags %d %d\n", ctx->dns.full, ctx->dns.default_route);
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                for (size_t i = 0; i < ctx->obj.n[k]; i++) {
                        fprintf(f, "%s ", netcfg_kinds[k]->name);
                        netcfg_kinds[k]->format(f, netcfg_objects_at(&ctx->obj, k, i));
                        fputc('\n', f);
                }
        fputs("end\n", f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

int netcfg_parse_num(const char *s, long long min, long long max, long long *ret) {
        char *end;
        long long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

int netcfg_split_words(char *line, char **w, size_t max) {
        size_t n = 0;
        char *save = NULL;

        for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == max)
                        return -EINVAL;
                w[n++] = t;
        }
        return (int) n;
}

static int parse_dns_line(NetcfgContext *ctx, char **w, int n) {
        NetcfgDns *d = &ctx->dns;
        NetcfgPrefix p;
        long long a, b;

        if (streq(w[0], "dns-server") && n == 2) {
                if (netcfg_prefix_from_string(w[1], &p) < 0 || strchr(w[1], '/'))
                        return -EINVAL;
                NetcfgPrefix *slot = ARRAY_APPEND(d->servers, d->n_servers);
                if (!slot)
                        return -ENOMEM;
                *slot = p;
        } else if ((streq(w[0], "dns-search") || streq(w[0], "dns-routing")) && n == 2) {
                bool search = streq(w[0], "dns-search");
                char ***v = search ? &d->search : &d->routing;
                size_t *k = search ? &d->n_search : &d->n_routing;
                if (netcfg_dns_name_check(w[1]) < 0)
                        return -EINVAL;
                _cleanup_free_ char *s = strdup(w[1]);
                char **slot = s ? ARRAY_APPEND(*v, *k) : NULL;
                if (!slot)
                        return -ENOMEM;
                *slot = TAKE_PTR(s);
        } else if (streq(w[0], "dns-flags") && n == 3) {
                if (netcfg_parse_num(w[1], 0, 1, &a) < 0 || netcfg_parse_num(w[2], 0, 1, &b) < 0)
                        return -EINVAL;
                d->full = a;
                d->default_route = b;
        } else
                return -EINVAL;
        return 0;
}

static int parse_object_line(NetcfgContext *ctx, char **w, int n) {
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++) {
                const NetcfgKindOps *ops = netcfg_kinds[k];
                if (!streq(w[0], ops->name))
                        continue;
                max_align_t obj[(ops->size + sizeof(max_align_t) - 1) / sizeof(max_align_t)];
                if (ops->parse(w + 1, n - 1, obj) < 0)
                        return -EINVAL;
                return netcfg_objects_push(&ctx->obj, k, obj);
        }
        return parse_dns_line(ctx, w, n);
}

static int parse_header_line(NetcfgContext *ctx, char **w, int n) {
        long long a, b;

        if (streq(w[0], "link") && n == 3) {
                if (strlen(w[1]) >= IFNAMSIZ || netcfg_parse_num(w[2], 1, INT32_MAX, &a) < 0)
                        return -EINVAL;
                strcpy(ctx->ifname, w[1]);
                ctx->ifindex = (int) a;
        } else if (streq(w[0], "mtu") && n == 3) {
                if (netcfg_parse_num(w[1], 0, UINT32_MAX, &a) < 0 ||
                    netcfg_parse_num(w[2], 0, UINT32_MAX, &b) < 0)
                        return -EINVAL;
                ctx->mtu_before = (uint32_t) a;
                ctx->mtu_set = (uint32_t) b;
        } else if (streq(w[0], "set-up") && n == 2) {
                if (netcfg_parse_num(w[1], 0, 1, &a) < 0)
                        return -EINVAL;
                ctx->set_up = a;
        } else if (streq(w[0], "dns") && n == 2) {
                if (streq(w[1], "none"))
                        ctx->dns_backend = NETCFG_DNS_NONE;
                else if (streq(w[1], "resolved"))
                        ctx->dns_backend = NETCFG_DNS_RESOLVED;
                else if (streq(w[1], "resolvconf"))
                        ctx->dns_backend = NETCFG_DNS_RESOLVCONF;
                else
                        return -EINVAL;
        } else
                return parse_object_line(ctx, w, n);
        return 0;
}

int netcfg_state_parse(NetcfgContext *ctx, const char *text, char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL, *w[8];
        bool first = true, end = false;
        unsigned lineno = 0;
        int n, r;

        if (!copy)
                return error_set_errno(ret_error, -ENOMEM, "parsing state");
        ctx->dns_backend = NETCFG_DNS_NONE; /* unless a "dns" line says otherwise */
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                lineno++;
                if (end)
                        return error_set_errno(ret_error, -EBADMSG,
                                               "state line %u: text after "
                                               "\"end\"",
                                               lineno);
                if (first) {
                        if (!streq(line, STATE_MAGIC))
                                return error_set_errno(ret_error, -EBADMSG,
                                                       "not a tund netcfg "
                                                       "state (expected \"" STATE_MAGIC "\")");
                        first = false;
                        continue;
                }
                if (streq(line, "end")) {
                        end = true;
                        continue;
                }
                n = netcfg_split_words(line, w, ELEMENTSOF(w));
                r = n <= 0 ? -EINVAL : parse_header_line(ctx, w, n);
                if (r < 0)
                        return error_set_errno(ret_error, r == -ENOMEM ? r : -EBADMSG,
                                               "state line %u is invalid", lineno);
        }
        if (!end || ctx->ifindex <= 0)
                return error_set_errno(ret_error, -EBADMSG,
                                       "state is incomplete (no link or no "
                                       "\"end\" line: torn write?)");
        netcfg_objects_sort(&ctx->obj);
        ctx->applied = true;
        return 0;
}

int netcfg_write_text(const char *path, const char *text, mode_t mode, char **ret_error) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(text), done = 0;
        int r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return error_set_errno(ret_error, -ENOMEM, "writing %s", path);
        fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
        if (fd < 0)
                return error_set_errno(ret_error, negative_errno(), "creating %s", tmp);
        if (mode != 0600 && fchmod(fd, mode) < 0) {
                r = negative_errno();
                unlink(tmp);
                return error_set_errno(ret_error, r, "chmod %s", tmp);
        }
        while (done < len) {
                ssize_t k = write(fd, text + done, len - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = negative_errno();
                        unlink(tmp);
                        return error_set_errno(ret_error, r, "writing %s", tmp);
                }
                done += (size_t) k;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = negative_errno();
                unlink(tmp);
                return error_set_errno(ret_error, r, "saving %s", path);
        }
        return 0;
}

int netcfg_state_save(NetcfgContext *ctx, const char *path, char **ret_error) {
        _cleanup_free_ char *text = NULL;

        if (netcfg_state_format(ctx, &text) < 0)
                return error_set_errno(ret_error, -ENOMEM, "formatting state");
        return netcfg_write_text(path, text, 0600, ret_error);
}

int netcfg_read_text(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t got = 0;

        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || (size_t) st.st_size > STATE_MAX_SIZE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (got < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + got, (size_t) st.st_size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        buf[got] = 0;
        if (strlen(buf) != got)
                return -EBADMSG; /* NUL bytes */
        *ret = TAKE_PTR(buf);
        return 0;
}

int netcfg_state_load(NetcfgContext **ret, const char *path, const NetcfgOptions *opts,
                      char **ret_error) {
        _cleanup_netcfg_ NetcfgContext *ctx = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = netcfg_read_text(path, &text);
        if (r < 0)
                return error_set_errno(ret_error, r, "reading state %s", path);
        r = netcfg_context_alloc(&ctx, opts);
        if (r < 0)
                return error_set_errno(ret_error, r, "opening a netlink socket");
        r = netcfg_state_parse(ctx, text, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ctx);
        return 0;
}
