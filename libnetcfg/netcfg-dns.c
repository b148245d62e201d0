/* DNS: systemd-resolved's per-link settings over sd-bus, else a resolvconf record.
 *
 * There is deliberately no backend that writes /etc/resolv.conf itself: on systems where it
 * is a symlink (resolved's stub, resolvconf's /run file) writing it would break its owner,
 * and on systems where it is a plain file nothing could restore it after a crash. */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "netcfg-internal.h"
#include "spawn-util.h"

#define RESOLVE1_DEST "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"
#define RESOLVE1_LINK "org.freedesktop.resolve1.Link"

extern char **environ;

int netcfg_bus_open(const NetcfgOptions *opts, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        if (*ret)
                return 0; /* already open (or given by the caller) */
        if (!opts->bus_address)
                r = sd_bus_open_system(&bus);
        else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, opts->bus_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static bool resolved_on_bus(const NetcfgOptions *opts, sd_bus **bus) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int has = 0, r;

        if (netcfg_bus_open(opts, bus) < 0)
                return false;
        r = sd_bus_call_method(*bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", &e, &reply, "s",
                               RESOLVE1_DEST);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        return r >= 0 && has;
}

/* The resolvconf program: the configured one, else "resolvconf" in $PATH or the sbin
 * directories (a service's PATH may lack them). */
static int resolvconf_find(const NetcfgOptions *opts, char *buf, size_t size) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *dirs = NULL;
        char *save = NULL;

        if (opts->resolvconf) {
                if (access(opts->resolvconf, X_OK) < 0)
                        return negative_errno();
                snprintf(buf, size, "%s", opts->resolvconf);
                return 0;
        }
        if (asprintf(&dirs, "%s:/usr/sbin:/sbin", path ?: "/usr/bin:/bin") < 0)
                return -ENOMEM;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(buf, size, "%s/resolvconf", d);
                if (access(buf, X_OK) == 0)
                        return 0;
        }
        return -ENOENT;
}

int netcfg_dns_pick(const NetcfgOptions *opts, sd_bus **bus, NetcfgDnsBackend *ret) {
        char prog[PATH_MAX];

        switch (opts->dns_backend) {
        case NETCFG_DNS_RESOLVED:
                if (!resolved_on_bus(opts, bus))
                        return -ENOENT;
                break;
        case NETCFG_DNS_RESOLVCONF:
                if (resolvconf_find(opts, prog, sizeof(prog)) < 0)
                        return -ENOENT;
                break;
        case NETCFG_DNS_NONE:
                return -ENOENT;
        default:
                if (resolved_on_bus(opts, bus))
                        *ret = NETCFG_DNS_RESOLVED;
                else if (resolvconf_find(opts, prog, sizeof(prog)) >= 0)
                        *ret = NETCFG_DNS_RESOLVCONF;
                else
                        return -ENOENT;
                return 0;
        }
        *ret = opts->dns_backend;
        return 0;
}

int netcfg_resolved_fill_dns(sd_bus_message *m, int ifindex, const NetcfgDns *d) {
        int r;

        r = sd_bus_message_append(m, "i", ifindex);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(iay)");
        for (size_t i = 0; r >= 0 && i < d->n_servers; i++) {
                const NetcfgPrefix *s = &d->servers[i];

                r = sd_bus_message_open_container(m, 'r', "iay");
                if (r >= 0)
                        r = sd_bus_message_append(m, "i", s->family);
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', s->addr,
                                                        s->family == AF_INET ? 4 : 16);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static bool strv_contains(char *const *v, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

/* Search domains (false) and routing-only domains (true; never written with "~"); in full
 * mode also the root domain "." routing-only, which with DefaultRoute=yes sends every query
 * to the tunnel's servers, as systemd documents for VPNs. */
int netcfg_resolved_fill_domains(sd_bus_message *m, int ifindex, const NetcfgDns *d) {
        int r;

        r = sd_bus_message_append(m, "i", ifindex);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sb)");
        for (size_t i = 0; r >= 0 && i < d->n_search; i++)
                r = sd_bus_message_append(m, "(sb)", d->search[i], 0);
        for (size_t i = 0; r >= 0 && i < d->n_routing; i++)
                if (!strv_contains(d->search, d->n_search, d->routing[i]))
                        r = sd_bus_message_append(m, "(sb)", d->routing[i], 1);
        if (r >= 0 && d->full)
                r = sd_bus_message_append(m, "(sb)", ".", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

bool netcfg_resolved_default_route(const NetcfgDns *d) {
        return d->full || d->default_route;
}

/* resolved takes link settings from root without asking; from anyone else (tund-netshimd runs
 * as its own user) only with polkit's yes. */
static const char *resolved_denied_hint(int r) {
        if (r != -EACCES && r != -EPERM)
                return "";
        return geteuid() == 0 ? ""
                              : " (not root, so resolved asked polkit: is polkitd installed "
                                "and running, with tund's rule "
                                "/usr/share/polkit-1/rules.d/60-tund.rules?)";
}

/* resolved's error text, unless it only repeats the errno text error_set_errno() appends. */
static const char *resolved_message(const sd_bus_error *e, int r) {
        return e->message && !streq(e->message, strerror(-r)) ? e->message : "";
}
static const char *resolved_message_sep(const sd_bus_error *e, int r) {
        return *resolved_message(e, r) ? ": " : "";
}

static int resolved_call(sd_bus *bus, sd_bus_message *m, const char *method, int ifindex,
                         char **ret_error) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, 0, &e, NULL);
        if (r < 0)
                error_set_errno(ret_error, r, "systemd-resolved %s on link %d%s%s%s", method,
                                ifindex, resolved_message_sep(&e, r), resolved_message(&e, r),
                                resolved_denied_hint(r));
        sd_bus_error_free(&e);
        return r;
}

static int resolved_apply(sd_bus *bus, int ifindex, const NetcfgDns *d, char **ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *dns = NULL, *dom = NULL, *def = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &dns, RESOLVE1_DEST, RESOLVE1_PATH,
                                           RESOLVE1_MANAGER, "SetLinkDNS");
        if (r >= 0)
                r = netcfg_resolved_fill_dns(dns, ifindex, d);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &dom, RESOLVE1_DEST, RESOLVE1_PATH,
                                                   RESOLVE1_MANAGER, "SetLinkDomains");
        if (r >= 0)
                r = netcfg_resolved_fill_domains(dom, ifindex, d);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &def, RESOLVE1_DEST, RESOLVE1_PATH,
                                                   RESOLVE1_MANAGER, "SetLinkDefaultRoute");
        if (r >= 0)
                r = sd_bus_message_append(def, "ib", ifindex, netcfg_resolved_default_route(d));
        if (r < 0)
                return error_set_errno(ret_error, r, "building a systemd-resolved request");
        r = resolved_call(bus, dns, "SetLinkDNS", ifindex, ret_error);
        if (r >= 0)
                r = resolved_call(bus, dom, "SetLinkDomains", ifindex, ret_error);
        if (r >= 0)
                r = resolved_call(bus, def, "SetLinkDefaultRoute", ifindex, ret_error);
        return r;
}

static int resolved_revert(sd_bus *bus, int ifindex, char **ret_error) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, RESOLVE1_DEST, RESOLVE1_PATH, RESOLVE1_MANAGER, "RevertLink",
                               &e, NULL, "i", ifindex);
        /* A link resolved no longer knows has nothing left to revert. */
        if (r < 0 && sd_bus_error_has_name(&e, "org.freedesktop.resolve1.NoSuchLink"))
                r = 0;
        if (r < 0)
                error_set_errno(ret_error, r, "systemd-resolved RevertLink on link %d%s%s%s",
                                ifindex, resolved_message_sep(&e, r), resolved_message(&e, r),
                                resolved_denied_hint(r));
        sd_bus_error_free(&e);
        return r;
}

int netcfg_resolvconf_record(const char *ifname, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s.tund", ifname);

        return n < 0 || (size_t) n >= size || isempty(ifname) ? -EINVAL : 0;
}

/* resolvconf(8) input. Routing-only domains cannot be expressed in resolv.conf and are left
 * out; the servers then answer only what the search list and default lookups send them. */
int netcfg_resolvconf_input(const NetcfgDns *d, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_servers; i++) {
                char a[INET6_ADDRSTRLEN];

                if (!inet_ntop(d->servers[i].family, d->servers[i].addr, a, sizeof(a)))
                        continue;
                fprintf(f, "nameserver %s\n", a);
        }
        if (d->n_search > 0) {
                fputs("search", f);
                for (size_t i = 0; i < d->n_search; i++)
                        fprintf(f, " %s", d->search[i]);
                fputc('\n', f);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

/* Runs PROG ARG RECORD with `input` on stdin, within NETCFG_RESOLVCONF_TIMEOUT_USEC; its
 * output (first bytes) goes into the error. */
static int resolvconf_run(const NetcfgOptions *opts, const char *arg, const char *ifname,
                          const char *input, char **ret_error) {
        char prog[PATH_MAX], record[IFNAMSIZ + 8], out[256];
        int st = 0, r;

        r = resolvconf_find(opts, prog, sizeof(prog));
        if (r < 0)
                return error_set_errno(ret_error, r, "finding resolvconf");
        if (netcfg_resolvconf_record(ifname, record, sizeof(record)) < 0)
                return error_set_errno(ret_error, -EINVAL, "resolvconf record for link \"%s\"",
                                       ifname);
        char *argv[] = { prog, (char *) arg, record, NULL };
        r = spawn_capture(prog, argv, environ, input, NETCFG_RESOLVCONF_TIMEOUT_USEC, out,
                          sizeof(out), &st);
        if (r == -ETIMEDOUT)
                return error_set_errno(
                        ret_error, r, "%s %s %s: no answer within %llu s", prog, arg, record,
                        (unsigned long long) (NETCFG_RESOLVCONF_TIMEOUT_USEC / USEC_PER_SEC));
        if (r < 0)
                return error_set_errno(ret_error, r, "running %s", prog);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return 0;
        out[strcspn(out, "\n")] = 0;
        return error_set_errno(ret_error, -EIO, "%s %s %s failed (%s %d)%s%s", prog, arg, record,
                               WIFEXITED(st) ? "exit status" : "signal",
                               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), *out ? ": " : "",
                               out);
}

int netcfg_dns_apply(const NetcfgOptions *opts, sd_bus **bus, NetcfgDnsBackend backend, int ifindex,
                     const char *ifname, const NetcfgDns *d, char **ret_error) {
        _cleanup_free_ char *input = NULL;
        int r;

        if (backend == NETCFG_DNS_RESOLVED) {
                r = netcfg_bus_open(opts, bus);
                if (r < 0)
                        return error_set_errno(ret_error, r, "connecting to the system bus");
                return resolved_apply(*bus, ifindex, d, ret_error);
        }
        if (backend != NETCFG_DNS_RESOLVCONF)
                return error_set_errno(ret_error, -ENOENT, "no DNS backend");
        if (netcfg_resolvconf_input(d, &input) < 0)
                return error_set_errno(ret_error, -ENOMEM, "building resolvconf input");
        return resolvconf_run(opts, "-a", ifname, input, ret_error);
}

int netcfg_dns_revert(const NetcfgOptions *opts, sd_bus **bus, NetcfgDnsBackend backend,
                      int ifindex, const char *ifname, char **ret_error) {
        int r;

        if (backend == NETCFG_DNS_RESOLVED) {
                r = netcfg_bus_open(opts, bus);
                if (r < 0)
                        return error_set_errno(ret_error, r, "connecting to the system bus");
                return resolved_revert(*bus, ifindex, ret_error);
        }
        if (backend == NETCFG_DNS_RESOLVCONF)
                return resolvconf_run(opts, "-d", ifname, NULL, ret_error);
        return 0;
}
