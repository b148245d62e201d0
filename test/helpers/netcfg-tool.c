/* netcfg-tool: drives libnetcfg from the command line for the integration tests and the
 * benchmark.
 *
 *   netcfg-tool [OPTIONS] apply IFNAME      apply settings (and save --state FILE)
 *   netcfg-tool [OPTIONS] revert            load --state FILE, revert, remove it
 *   netcfg-tool [OPTIONS] reconcile IFNAME
 *   netcfg-tool [OPTIONS] show IFNAME       routes/rules/addresses/link/DNS via the readers
 *
 * Settings: --addr P --route P --exclude P (repeatable) --routes-file F (one prefix a line)
 *   --mtu N --dns IP --search D --routing D --dns-full --dns-default-route --table N
 *   --fwmark N --table-off
 * Options: --state F --bus ADDR --backend auto|resolved|resolvconf|none --resolvconf PROG
 *   --policy-table N --priority N --batch BYTES --twice (apply twice) --hold (sleep after
 *   apply, for crash tests) */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "netcfg.h"
#include "macro.h"

static Tund__NetworkSettings arg_s = TUND__NETWORK_SETTINGS__INIT;
static NetcfgOptions arg_opts;
static const char *arg_state;
static bool arg_twice, arg_hold;

static int die(const char *what, int r, char *err) {
        fprintf(stderr, "netcfg-tool: %s: %s\n", what, err ?: strerror(-r));
        free(err);
        return 1;
}

static void add_prefix(Tund__IpPrefix ***list, size_t *n, const char *s) {
        Tund__IpPrefix *p = calloc(1, sizeof(*p));
        uint8_t *a = calloc(1, 16);
        const char *slash = strchr(s, '/');
        char host[64];

        tund__ip_prefix__init(p);
        snprintf(host, sizeof(host), "%.*s", slash ? (int) (slash - s) : (int) strlen(s), s);
        if (inet_pton(AF_INET, host, a) == 1)
                p->address.len = 4;
        else if (inet_pton(AF_INET6, host, a) == 1)
                p->address.len = 16;
        else /* deliberately invalid input is passed on: 3 bytes */
                p->address.len = 3;
        p->address.data = a;
        p->prefix_len = slash ? (uint32_t) strtoul(slash + 1, NULL, 10) : p->address.len * 8;
        *list = realloc(*list, (*n + 1) * sizeof(**list));
        (*list)[(*n)++] = p;
}

static void add_str(char ***list, size_t *n, const char *s) {
        *list = realloc(*list, (*n + 1) * sizeof(char *));
        (*list)[(*n)++] = (char *) s;
}

static void add_dns(const char *s) {
        uint8_t *a = calloc(1, 16);
        size_t len = inet_pton(AF_INET, s, a) == 1 ? 4 : inet_pton(AF_INET6, s, a) == 1 ? 16 : 3;

        arg_s.dns_servers =
                realloc(arg_s.dns_servers, (arg_s.n_dns_servers + 1) * sizeof(ProtobufCBinaryData));
        arg_s.dns_servers[arg_s.n_dns_servers++] = (ProtobufCBinaryData){ len, a };
}

static int read_routes_file(const char *path) {
        FILE *f = fopen(path, "re");
        char line[128];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = 0;
                if (*line)
                        add_prefix(&arg_s.routes, &arg_s.n_routes, line);
        }
        fclose(f);
        return 0;
}

static int parse_args(int argc, char **argv) {
        enum {
                ADDR = 256,
                ROUTE,
                EXCL,
                RFILE,
                MTU,
                DNS,
                SEARCH,
                ROUTING,
                FULL,
                DEFROUTE,
                TABLE,
                FWMARK,
                TOFF,
                STATE,
                BUS,
                BACKEND,
                RESOLVCONF,
                PTABLE,
                PRIO,
                BATCH,
                TWICE,
                HOLD
        };
        static const struct option o[] = { { "addr", 1, 0, ADDR },
                                           { "route", 1, 0, ROUTE },
                                           { "exclude", 1, 0, EXCL },
                                           { "routes-file", 1, 0, RFILE },
                                           { "mtu", 1, 0, MTU },
                                           { "dns", 1, 0, DNS },
                                           { "search", 1, 0, SEARCH },
                                           { "routing", 1, 0, ROUTING },
                                           { "dns-full", 0, 0, FULL },
                                           { "dns-default-route", 0, 0, DEFROUTE },
                                           { "table", 1, 0, TABLE },
                                           { "fwmark", 1, 0, FWMARK },
                                           { "table-off", 0, 0, TOFF },
                                           { "state", 1, 0, STATE },
                                           { "bus", 1, 0, BUS },
                                           { "backend", 1, 0, BACKEND },
                                           { "resolvconf", 1, 0, RESOLVCONF },
                                           { "policy-table", 1, 0, PTABLE },
                                           { "priority", 1, 0, PRIO },
                                           { "batch", 1, 0, BATCH },
                                           { "twice", 0, 0, TWICE },
                                           { "hold", 0, 0, HOLD },
                                           {} };
        int c;

        while ((c = getopt_long(argc, argv, "+", o, NULL)) >= 0) {
                switch (c) {
                case ADDR:
                        add_prefix(&arg_s.addresses, &arg_s.n_addresses, optarg);
                        break;
                case ROUTE:
                        add_prefix(&arg_s.routes, &arg_s.n_routes, optarg);
                        break;
                case EXCL:
                        add_prefix(&arg_s.excluded_routes, &arg_s.n_excluded_routes, optarg);
                        break;
                case RFILE:
                        if (read_routes_file(optarg) < 0)
                                return die(optarg, -errno, NULL), -1;
                        break;
                case MTU:
                        arg_s.mtu = (uint32_t) strtoul(optarg, NULL, 0);
                        break;
                case DNS:
                        add_dns(optarg);
                        break;
                case SEARCH:
                        add_str(&arg_s.search_domains, &arg_s.n_search_domains, optarg);
                        break;
                case ROUTING:
                        add_str(&arg_s.routing_domains, &arg_s.n_routing_domains, optarg);
                        break;
                case FULL:
                        arg_s.dns_mode = TUND__DNS_MODE__DNS_MODE_FULL;
                        break;
                case DEFROUTE:
                        arg_s.dns_default_route = 1;
                        break;
                case TABLE:
                        arg_s.table = (uint32_t) strtoul(optarg, NULL, 0);
                        break;
                case FWMARK:
                        arg_s.fwmark = (uint32_t) strtoul(optarg, NULL, 0);
                        break;
                case TOFF:
                        arg_s.table_off = 1;
                        break;
                case STATE:
                        arg_state = optarg;
                        break;
                case BUS:
                        arg_opts.bus_address = optarg;
                        break;
                case BACKEND:
                        arg_opts.dns_backend = streq(optarg, "resolved")     ? NETCFG_DNS_RESOLVED
                                               : streq(optarg, "resolvconf") ? NETCFG_DNS_RESOLVCONF
                                               : streq(optarg, "none")       ? NETCFG_DNS_NONE
                                                                             : NETCFG_DNS_AUTO;
                        break;
                case RESOLVCONF:
                        arg_opts.resolvconf = optarg;
                        break;
                case PTABLE:
                        arg_opts.table = (uint32_t) strtoul(optarg, NULL, 0);
                        break;
                case PRIO:
                        arg_opts.rule_priority = (uint32_t) strtoul(optarg, NULL, 0);
                        break;
                case BATCH:
                        arg_opts.batch_limit = strtoul(optarg, NULL, 0);
                        break;
                case TWICE:
                        arg_twice = true;
                        break;
                case HOLD:
                        arg_hold = true;
                        break;
                default:
                        return -1;
                }
        }
        return optind;
}

static int do_apply(const char *ifname) {
        _cleanup_netcfg_ NetcfgContext *ctx = NULL;
        NetcfgResult res;
        char *err = NULL;
        int r;

        r = netcfg_new(&ctx, ifname, 0, &arg_opts, &err);
        if (r < 0)
                return die("new", r, err);
        for (int i = 0; i < (arg_twice ? 2 : 1); i++) {
                r = netcfg_apply(ctx, &arg_s, &res, &err);
                if (r < 0)
                        return die("apply", r, err);
        }
        if (arg_state && (r = netcfg_state_save(ctx, arg_state, &err)) < 0)
                return die("save", r, err);
        printf("ifname=%s ifindex=%d dns=%s addresses=%u routes=%u rules=%u table=%u fwmark=%u\n",
               res.ifname, res.ifindex, netcfg_dns_backend_to_string(res.dns_backend),
               res.addresses_applied, res.routes_applied, res.rules_applied, res.table, res.fwmark);
        fflush(stdout);
        while (arg_hold)
                pause();
        return 0;
}

static int do_revert(void) {
        _cleanup_netcfg_ NetcfgContext *ctx = NULL;
        char *err = NULL;
        int r;

        if (!arg_state)
                return die("revert", -EINVAL, strdup("--state FILE is required"));
        r = netcfg_state_load(&ctx, arg_state, &arg_opts, &err);
        if (r < 0)
                return die("load", r, err);
        r = netcfg_revert(ctx, &err);
        if (r < 0)
                return die("revert", r, err);
        unlink(arg_state);
        return 0;
}

static int do_show(const char *ifname) {
        NetcfgLink l;
        NetcfgRoute *rt = NULL;
        NetcfgRule *ru = NULL;
        NetcfgAddress *ad = NULL;
        NetcfgDnsStatus dns = {};
        size_t n_rt = 0, n_ru = 0, n_ad = 0;
        char p[NETCFG_PREFIX_STRLEN], *err = NULL;
        int r;

        r = netcfg_read_link(ifname, 0, &l, &err);
        if (r < 0)
                return die("link", r, err);
        printf("link %s index %d mtu %u %s\n", l.ifname, l.ifindex, l.mtu, l.up ? "up" : "down");
        if ((r = netcfg_read_addresses(l.ifindex, &ad, &n_ad, &err)) < 0 ||
            (r = netcfg_read_routes(0, 0, 116, &rt, &n_rt, &err)) < 0 ||
            (r = netcfg_read_rules(NETCFG_RULE_PRIO_MIN, NETCFG_RULE_PRIO_MAX, &ru, &n_ru, &err)) <
                    0)
                return die("read", r, err);
        for (size_t i = 0; i < n_ad; i++)
                printf("address %s\n", netcfg_prefix_to_string(&ad[i].prefix, p, sizeof(p)));
        for (size_t i = 0; i < n_rt; i++)
                printf("route %s table %u type %u oif %d\n",
                       netcfg_prefix_to_string(&rt[i].dst, p, sizeof(p)), rt[i].table, rt[i].type,
                       rt[i].oif);
        for (size_t i = 0; i < n_ru; i++)
                printf("rule family %d priority %u table %u fwmark %u protocol %u\n", ru[i].family,
                       ru[i].priority, ru[i].table, ru[i].fwmark, ru[i].protocol);
        if (netcfg_read_dns(&arg_opts, l.ifindex, &dns, &err) >= 0) {
                for (size_t i = 0; i < dns.n_servers; i++)
                        printf("dns-server %s\n",
                               netcfg_prefix_to_string(&dns.servers[i], p, sizeof(p)));
                for (size_t i = 0; i < dns.n_domains; i++)
                        printf("dns-domain %s\n", dns.domains[i]);
                printf("dns-default-route %s\n", dns.default_route ? "yes" : "no");
        } else
                printf("dns-unavailable %s\n", err), free(err);
        netcfg_dns_status_done(&dns);
        free(rt), free(ru), free(ad);
        return 0;
}

int main(int argc, char **argv) {
        char *err = NULL;
        int i = parse_args(argc, argv), r;

        if (i < 0 || i >= argc) {
                fprintf(stderr, "usage: netcfg-tool [OPTIONS] apply IFNAME|revert|reconcile "
                                "IFNAME|show IFNAME\n");
                return 2;
        }
        if (streq(argv[i], "apply") && i + 1 < argc)
                return do_apply(argv[i + 1]);
        if (streq(argv[i], "revert"))
                return do_revert();
        if (streq(argv[i], "show") && i + 1 < argc)
                return do_show(argv[i + 1]);
        if (streq(argv[i], "reconcile") && i + 1 < argc) {
                r = netcfg_reconcile(argv[i + 1], &arg_opts, &err);
                if (r < 0)
                        return die("reconcile", r, err);
                printf("removed=%d\n", r);
                return 0;
        }
        fprintf(stderr, "netcfg-tool: unknown command %s\n", argv[i]);
        return 2;
}
