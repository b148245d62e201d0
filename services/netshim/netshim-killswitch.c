/* The profile's kill switch (KillSwitch = yes in [Tund]): set before the shim creates
 * anything, refreshed with the endpoints the tunnel resolved, kept after every failure and
 * lifted only by a deliberate stop. The rules themselves are libnetcfg's (netcfg-nft.c);
 * this file turns a profile into a spec and decides when. */
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "error-util.h"
#include "log.h"
#include "strv.h"
#include "netshim.h"

static void prefix_from_profile(NetcfgPrefix *ret, int family, const uint8_t *addr, unsigned len) {
        *ret = (NetcfgPrefix){ .family = family, .len = (uint8_t) len };
        memcpy(ret->addr, addr, family == AF_INET ? 4 : 16);
}

/* A host name endpoint's lookup may leave around the tunnel (its query, for that name only). */
static int spec_name(NetcfgKillswitch *ks, const Profile *p, size_t i) {
        const char *ep = p->peers[i].endpoint, *colon = strrchr(ep, ':');
        char host[256];
        snprintf(host, sizeof(host), "%.*s", colon ? (int) (colon - ep) : 0, ep);
        size_t len = strlen(host);
        if (len > 0 && host[len - 1] == '.')
                host[len - 1] = 0;
        if (!netcfg_dns_name_is_valid(host)) {
                log_warning("%s: peer %zu (line %u): endpoint host \"%s\" is not a fully qualified "
                            "name: with the kill switch on, its lookup cannot be told from others "
                            "and is blocked while the tunnel is down.",
                            p->path, i + 1, p->peers[i].line, host);
                return 0;
        }
        for (size_t k = 0; k < ks->n_names; k++)
                if (streq(ks->names[k], host))
                        return 0;
        return strv_push(&ks->names, &ks->n_names, host);
}

static int spec_endpoints(NetcfgKillswitch *ks, const Profile *p, const NetshimOptions *opts) {
        bool names = false;
        for (size_t i = 0; i < p->n_peers; i++) {
                ProfileAddress a;
                if (!p->peers[i].endpoint)
                        continue;
                if (!profile_endpoint_is_numeric(&p->peers[i], &a)) {
                        names = true;
                        int r = spec_name(ks, p, i);
                        if (r < 0)
                                return r;
                        continue;
                }
                NetcfgPrefix np;
                prefix_from_profile(&np, a.family, a.addr, a.family == AF_INET ? 32 : 128);
                int r = netcfg_killswitch_add_endpoint(ks, &np, p->peers[i].endpoint_port);
                if (r < 0)
                        return r;
        }
        if (!names)
                return 0;
        /* A host name's last addresses that worked stay allowed: at boot or after a crash, its
         * lookup may fail while the switch holds (resolved's forwarding is blocked). */
        NetcfgKillswitch old = {};
        if (netcfg_killswitch_load(opts->killswitch_dir, p->name, &old, NULL) < 0)
                return 0;
        int r = 0;
        for (size_t i = 0; r >= 0 && i < old.n_endpoints; i++)
                r = netcfg_killswitch_add_endpoint(ks, &old.endpoints[i].addr,
                                                   old.endpoints[i].port);
        netcfg_killswitch_done(&old);
        return r;
}

int netshim_killswitch_spec(const NetshimOptions *opts, const Profile *p, NetcfgKillswitch *ret,
                            char **ret_error) {
        NetcfgKillswitch ks = { .allow_lan = p->allow_lan };
        snprintf(ks.profile, sizeof(ks.profile), "%s", p->name);
        snprintf(ks.ifname, sizeof(ks.ifname), "%s", p->ifname);
        /* What the engine is: its user (the engine has no CAP_NET_ADMIN to set a mark). */
        struct passwd *pw = opts->engine_user ? getpwnam(opts->engine_user) : NULL;
        if (pw) {
                ks.engine_uid_set = true;
                ks.engine_uid = pw->pw_uid;
        } else
                ks.fwmark = profile_effective_fwmark(p);
        if (!ks.engine_uid_set && ks.fwmark == 0)
                return error_set(ret_error, -EINVAL,
                                 "%s: KillSwitch: the engine has neither a user (\"%s\" does not "
                                 "exist) nor a fwmark to be told by",
                                 p->path, opts->engine_user ?: "");
        int r = spec_endpoints(&ks, p, opts);
        for (size_t i = 0; r >= 0 && i < p->n_dns_servers; i++) {
                NetcfgPrefix *a = ARRAY_APPEND(ks.dns, ks.n_dns);
                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                const ProfileAddress *d = &p->dns_servers[i];
                prefix_from_profile(a, d->family, d->addr, d->family == AF_INET ? 32 : 128);
        }
        if (r >= 0 && p->n_allowed_bypass > 0) {
                ks.bypass = calloc(p->n_allowed_bypass, sizeof(*ks.bypass));
                if (!ks.bypass)
                        r = -ENOMEM;
                for (size_t i = 0; ks.bypass && i < p->n_allowed_bypass; i++) {
                        const ProfilePrefix *b = &p->allowed_bypass[i];
                        prefix_from_profile(&ks.bypass[ks.n_bypass++], b->family, b->addr,
                                            b->prefixlen);
                }
        }
        if (r < 0) {
                netcfg_killswitch_done(&ks);
                return error_set(ret_error, r, "out of memory");
        }
        *ret = ks;
        return 0;
}

int netshim_killswitch_set(const NetshimOptions *opts, const Profile *p,
                           const Tund__NetworkSettings *s, char **ret_error) {
        NetcfgKillswitch ks;
        int r = netshim_killswitch_spec(opts, p, &ks, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; s && r >= 0 && i < s->n_endpoints; i++) {
                const Tund__Endpoint *e = s->endpoints[i];
                NetcfgPrefix a = { .family = e->address.len == 4 ? AF_INET : AF_INET6 };
                if (e->address.len != 4 && e->address.len != 16)
                        continue;
                memcpy(a.addr, e->address.data, e->address.len);
                r = netcfg_killswitch_add_endpoint(&ks, &a, (uint16_t) e->port);
        }
        if (r >= 0)
                r = netcfg_killswitch_set(opts->killswitch_dir, &ks, ret_error);
        else
                error_set(ret_error, r, "out of memory");
        netcfg_killswitch_done(&ks);
        return r;
}

/* The spec's endpoints that no numeric peer claims, on the peer's port. */
static int peer_fallbacks(Tund__WgPeer *wp, const NetcfgKillswitch *ks, const Profile *p,
                          uint16_t port) {
        for (size_t k = 0; k < ks->n_endpoints; k++) {
                const NetcfgEndpoint *e = &ks->endpoints[k];
                bool numeric = false;
                for (size_t j = 0; j < p->n_peers && !numeric; j++) {
                        ProfileAddress a;
                        numeric = profile_endpoint_is_numeric(&p->peers[j], &a) &&
                                  a.family == e->addr.family &&
                                  memcmp(a.addr, e->addr.addr, a.family == AF_INET ? 4 : 16) == 0;
                }
                if (numeric || e->port != port)
                        continue;
                int r = ipc_proto_endpoint_append(&wp->fallback_endpoints,
                                                  &wp->n_fallback_endpoints, e->addr.addr,
                                                  e->addr.family == AF_INET ? 4 : 16, e->port);
                if (r < 0)
                        return r;
        }
        return 0;
}

int netshim_killswitch_fallbacks(const NetshimOptions *opts, const Profile *p,
                                 Tund__WgConfig *cfg) {
        NetcfgKillswitch ks;
        if (netcfg_killswitch_load(opts->killswitch_dir, p->name, &ks, NULL) < 0)
                return 0;
        int r = 0;
        for (size_t i = 0; r >= 0 && i < p->n_peers && i < cfg->n_peers; i++) {
                ProfileAddress a;
                if (p->peers[i].endpoint && !profile_endpoint_is_numeric(&p->peers[i], &a))
                        r = peer_fallbacks(cfg->peers[i], &ks, p, p->peers[i].endpoint_port);
        }
        netcfg_killswitch_done(&ks);
        return r;
}

int netshim_killswitch_boot(const NetshimOptions *opts) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *err = NULL;
        int r = netshim_profile_load(opts, &p, &err);
        if (r < 0) {
                /* A broken profile at boot: block anyway (fail closed) if it was switched on
                 * before, i.e. a spec survives; there is none after a reboot. */
                log_error("%s", err ?: strerror(-r));
                return NETSHIM_EXIT_CONFIG;
        }
        if (!p->kill_switch) {
                log_info("Profile %s has no kill switch (KillSwitch = yes in [Tund] sets one).",
                         p->name);
                return 0;
        }
        r = netshim_killswitch_set(opts, p, NULL, &err);
        if (r < 0) {
                log_error_errno(r, "Cannot set the kill switch of %s: %s", p->name, err);
                return NETSHIM_EXIT_FAILURE;
        }
        log_notice("Kill switch of %s is on: nothing leaves or enters around %s until the tunnel "
                   "is up.",
                   p->name, p->ifname);
        return 0;
}

int netshim_killswitch_lift(const NetshimOptions *opts, const char *why) {
        _cleanup_free_ char *err = NULL;
        int r = netcfg_killswitch_remove(opts->killswitch_dir, opts->profile_name, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot lift the kill switch of %s: %s",
                                       opts->profile_name, err);
        if (r > 0)
                log_notice("Kill switch of %s lifted (%s): traffic flows around the tunnel again.",
                           opts->profile_name, why);
        return 0;
}

/* ---- the watch ---- */

static int on_ks_watch_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *err = NULL;
        NetcfgKillswitchStatus st;
        NetcfgKillswitch ks;

        if (m->state == NETSHIM_DONE || m->state == NETSHIM_STOPPING)
                return 0;
        int r = netcfg_killswitch_status(m->opts.killswitch_dir, m->profile->name, &st, &err);
        if (r >= 0 && st.installed)
                return 0;
        free(err), err = NULL;
        r = netcfg_killswitch_load(m->opts.killswitch_dir, m->profile->name, &ks, &err);
        if (r == -ENOENT) {
                /* Lifted on purpose (tund-netshimd --killswitch-off, which stopping
                 * tund-killswitch@ runs): not ours to put back until the next start. */
                log_notice("The kill switch of %s was lifted; the tunnel runs on without it until "
                           "the profile starts again.",
                           m->profile->name);
                netshim_killswitch_watch_stop(m);
                return 0;
        }
        if (r >= 0) {
                free(err), err = NULL;
                r = netcfg_killswitch_set(m->opts.killswitch_dir, &ks, &err);
                netcfg_killswitch_done(&ks);
        }
        if (r < 0) {
                manager_fail(m,
                             "the kill switch of %s was deleted by another program and cannot be "
                             "restored: %s",
                             m->profile->name, err ?: strerror(-r));
                return 0;
        }
        char text[256];
        snprintf(text, sizeof(text),
                 "the kill switch of %s was deleted by another program: restored",
                 m->profile->name);
        log_warning("%s", text);
        netshim_tell_helper(m, text);
        return 0;
}

static bool ks_watch_is_deletion(const struct nlmsghdr *h, void *userdata) {
        if (!h)
                return true; /* lost: check anyway */
        if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
                return false;
        uint16_t t = NFNL_MSG_TYPE(h->nlmsg_type);
        return t == NFT_MSG_DELTABLE || t == NFT_MSG_DELCHAIN || t == NFT_MSG_DELRULE;
}

int netshim_killswitch_watch_start(Manager *m) {
        /* Every shim's rewrite deletes the table too: the check after it finds the switch in
         * place and does nothing. */
        static const unsigned groups[] = { NFNLGRP_NFTABLES };
        return nl_watch_start(&m->ks_watch, m->event, NETLINK_NETFILTER, groups, ELEMENTSOF(groups),
                              ks_watch_is_deletion, NETSHIM_WATCH_SETTLE_USEC, on_ks_watch_timer,
                              m);
}

void netshim_killswitch_watch_stop(Manager *m) {
        nl_watch_stop(&m->ks_watch);
}
