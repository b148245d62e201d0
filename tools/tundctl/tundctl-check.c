/* tundctl check PROFILE|FILE: parses a profile with libprofile, exactly as tund-netshimd will,
 * without applying anything. Errors are libprofile's "FILE:LINE: Key: why" (exit 5). The
 * summary never shows the private or a preshared key. */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "profile.h"
#include "tundctl.h"

int tundctl_check_parse(int argc, char *argv[], CheckArgs *a) {
        int i = tundctl_getopt("check", argc, argv, NULL, NULL, NULL, NULL);

        *a = (CheckArgs){};
        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i != 1)
                return tundctl_usage_error("check", "expected one profile name or file");
        a->target = argv[i];
        /* A name never contains '/'; "x.conf" is a file even without one (wg-quick does the
         * same). */
        a->is_path = strchr(a->target, '/') ||
                     (strlen(a->target) > 5 && streq(a->target + strlen(a->target) - 5, ".conf"));
        if (!a->is_path && !profile_name_is_valid(a->target))
                return tundctl_usage_error("check", "not a valid profile name: %s", a->target);
        return -1;
}

/* The line number of "PATH:LINE: ..." errors, 0 if the error names none. */
static unsigned error_line(const char *error, const char *path) {
        size_t n = strlen(path);
        unsigned line = 0;

        if (!error || strncmp(error, path, n) != 0 || error[n] != ':')
                return 0;
        if (sscanf(error + n + 1, "%u:", &line) != 1)
                return 0;
        return line;
}

static int check_exit_code(int r) {
        switch (-r) {
        case EINVAL: /* syntax or value */
        case EPERM:  /* too open, wrong owner: tund-netshimd refuses such a file too */
        case EFBIG:
                return TUNDCTL_EXIT_INVALID_PROFILE;
        case EACCES:
                return TUNDCTL_EXIT_PERMISSION;
        default:
                return TUNDCTL_EXIT_FAILURE;
        }
}

static void json_profile_prefixes(Json *j, const char *key, const ProfilePrefix *v, size_t n) {
        char a[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];

        json_key(j, key);
        json_array_begin(j);
        for (size_t i = 0; i < n; i++) {
                inet_ntop(v[i].family, v[i].addr, a, sizeof(a));
                snprintf(buf, sizeof(buf), "%s/%u", a, v[i].prefixlen);
                json_string(j, buf);
        }
        json_array_end(j);
}

static void json_strings(Json *j, const char *key, char **v, size_t n) {
        json_key(j, key);
        json_array_begin(j);
        for (size_t i = 0; i < n; i++)
                json_string(j, v[i]);
        json_array_end(j);
}

static void json_profile(Json *j, const Profile *p) {
        char a[INET6_ADDRSTRLEN];

        json_object_begin(j);
        json_kv_string(j, "name", p->name);
        json_kv_string(j, "interface", p->ifname);
        json_profile_prefixes(j, "addresses", p->addresses, p->n_addresses);
        json_key(j, "dns_servers");
        json_array_begin(j);
        for (size_t i = 0; i < p->n_dns_servers; i++)
                json_string(j, inet_ntop(p->dns_servers[i].family, p->dns_servers[i].addr, a,
                                         sizeof(a)));
        json_array_end(j);
        json_strings(j, "search_domains", p->search_domains, p->n_search_domains);
        json_strings(j, "routing_domains", p->routing_domains, p->n_routing_domains);
        json_kv_string(j, "dns_mode", p->dns_mode == PROFILE_DNS_MODE_FULL ? "full" : "split");
        json_kv_uint(j, "mtu", p->mtu);
        json_kv_uint(j, "listen_port", p->listen_port);
        json_key(j, "table");
        if (p->table_off)
                json_string(j, "off");
        else if (p->table == 0)
                json_string(j, "auto");
        else
                json_uint(j, p->table);
        json_kv_uint(j, "fwmark", p->fwmark);
        json_profile_prefixes(j, "excluded_routes", p->excluded_routes, p->n_excluded_routes);
        json_key(j, "engine_tun_flavour");
        if (p->tun_flavour == ENGINE_TUN_FLAVOUR_UNKNOWN)
                json_null(j);
        else
                json_string(j, engine_tun_flavour_to_string(p->tun_flavour));
        json_kv_bool(j, "full_tunnel", profile_has_default_route(p));
        json_key(j, "peers");
        json_array_begin(j);
        for (size_t i = 0; i < p->n_peers; i++) {
                const ProfilePeer *peer = &p->peers[i];
                json_object_begin(j);
                json_kv_string(j, "public_key", peer->public_key);
                json_kv_bool(j, "has_preshared_key", !isempty(peer->preshared_key));
                json_key(j, "endpoint");
                if (peer->endpoint)
                        json_string(j, peer->endpoint);
                else
                        json_null(j);
                json_profile_prefixes(j, "allowed_ips", peer->allowed_ips, peer->n_allowed_ips);
                json_kv_uint(j, "persistent_keepalive", peer->persistent_keepalive);
                json_object_end(j);
        }
        json_array_end(j);
        json_object_end(j);
}

int tundctl_check(int argc, char *argv[]) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *error = NULL, *path = NULL;
        CheckArgs a;
        int r, code;

        r = tundctl_check_parse(argc, argv, &a);
        if (r >= 0)
                return r;
        if (a.is_path)
                path = strdup(a.target);
        else if (asprintf(&path, "%s/%s.conf", arg_g.config_dir, a.target) < 0)
                path = NULL;
        if (!path)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");

        r = profile_load_file(path, &p, &error);
        code = r < 0 ? check_exit_code(r) : TUNDCTL_EXIT_OK;
        if (r < 0)
                tundctl_fail(code, "%s", error ? error : strerror(-r));

        if (arg_g.json) {
                Json j;
                json_init(&j, stdout);
                json_document_begin(&j);
                json_kv_string(&j, "path", path);
                json_kv_bool(&j, "valid", r >= 0);
                if (r < 0) {
                        unsigned line = error_line(error, path);
                        json_kv_string(&j, "error", error ? error : strerror(-r));
                        json_key(&j, "line");
                        if (line)
                                json_uint(&j, line);
                        else
                                json_null(&j);
                        json_kv_int(&j, "exit_code", code);
                } else {
                        json_key(&j, "profile");
                        json_profile(&j, p);
                }
                json_document_end(&j);
        } else if (r >= 0)
                printf("%s: valid: interface %s, %zu address%s, %zu peer%s, DNS %s%s\n", path,
                       p->ifname, p->n_addresses, p->n_addresses == 1 ? "" : "es", p->n_peers,
                       p->n_peers == 1 ? "" : "s",
                       p->n_dns_servers ? (p->dns_mode == PROFILE_DNS_MODE_FULL ? "full" : "split")
                                        : "none",
                       profile_has_default_route(p) ? ", full tunnel" : "");
        return code;
}
