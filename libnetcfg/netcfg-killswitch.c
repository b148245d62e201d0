/* The kill switch's specs and their life: one file per profile in a directory
 * (/run/tund/killswitch), written under a lock that every shim of the host shares, so that two
 * profiles' transitions never interleave; every change rewrites the table from all specs
 * (netcfg-nft.c) and reads it back. The specs hold no secret and are world-readable (0644 in a
 * 0755 directory): `tundctl status` shows a switch that holds without a session from them.
 *
 * A spec file, DIR/NAME.ks:
 *
 *   tund-killswitch 1
 *   ifname tund-work
 *   engine uid 992          (or: engine mark 29813)
 *   allow-lan 0
 *   endpoint 198.51.100.1/32 51820
 *   name vpn.example.com
 *   dns 192.0.2.1/32
 *   bypass 10.0.0.0/8
 *   end
 */
#include <dirent.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "strv.h"
#include "netcfg-internal.h"

#define KS_MAGIC "tund-killswitch 1"
#define KS_SUFFIX ".ks"
#define KS_LOCK ".killswitch.lock"
#define KS_MAX_PROFILES 256U

void netcfg_killswitch_done(NetcfgKillswitch *ks) {
        strv_free_n(ks->names, ks->n_names);
        free(ks->endpoints);
        free(ks->dns);
        free(ks->bypass);
        *ks = (NetcfgKillswitch){};
}

static int push_prefix(NetcfgPrefix **arr, size_t *n, const NetcfgPrefix *p) {
        NetcfgPrefix *a = array_append_size(arr, n, sizeof(**arr));
        if (!a)
                return -ENOMEM;
        *a = *p;
        return 0;
}

bool netcfg_dns_name_is_valid(const char *name) {
        size_t len = strlen(name), label = 0;
        if (len == 0 || len > 253 || !strchr(name, '.') || name[0] == '.' || name[len - 1] == '.')
                return false;
        for (const char *c = name; *c; c++) {
                if (*c == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                        continue;
                }
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_')
                        return false;
                if (++label > 63)
                        return false;
        }
        return true;
}

int netcfg_killswitch_add_endpoint(NetcfgKillswitch *ks, const NetcfgPrefix *addr, uint16_t port) {
        for (size_t i = 0; i < ks->n_endpoints; i++)
                if (ks->endpoints[i].port == port && ks->endpoints[i].addr.family == addr->family &&
                    memcmp(ks->endpoints[i].addr.addr, addr->addr, 16) == 0)
                        return 0;
        NetcfgEndpoint *a = ARRAY_APPEND(ks->endpoints, ks->n_endpoints);
        if (!a)
                return -ENOMEM;
        *a = (NetcfgEndpoint){ .addr = *addr, .port = port };
        a->addr.len = addr->family == AF_INET ? 32 : 128;
        return 0;
}

int netcfg_killswitch_format(const NetcfgKillswitch *ks, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&s, &size);
        char buf[NETCFG_PREFIX_STRLEN];
        if (!f)
                return -ENOMEM;
        fprintf(f, KS_MAGIC "\nifname %s\n", ks->ifname);
        if (ks->engine_uid_set)
                fprintf(f, "engine uid %" PRIu32 "\n", ks->engine_uid);
        else
                fprintf(f, "engine mark %" PRIu32 "\n", ks->fwmark);
        fprintf(f, "allow-lan %d\n", ks->allow_lan);
        for (size_t i = 0; i < ks->n_endpoints; i++)
                fprintf(f, "endpoint %s %u\n",
                        netcfg_prefix_to_string(&ks->endpoints[i].addr, buf, sizeof(buf)),
                        ks->endpoints[i].port);
        for (size_t i = 0; i < ks->n_names; i++)
                fprintf(f, "name %s\n", ks->names[i]);
        for (size_t i = 0; i < ks->n_dns; i++)
                fprintf(f, "dns %s\n", netcfg_prefix_to_string(&ks->dns[i], buf, sizeof(buf)));
        for (size_t i = 0; i < ks->n_bypass; i++)
                fprintf(f, "bypass %s\n",
                        netcfg_prefix_to_string(&ks->bypass[i], buf, sizeof(buf)));
        fputs("end\n", f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

static int parse_flag(char **w, int n, bool *ret) {
        if (n != 2 || (!streq(w[1], "0") && !streq(w[1], "1")))
                return -EBADMSG;
        *ret = streq(w[1], "1");
        return 0;
}

static int parse_line(NetcfgKillswitch *ks, char **w, int n) {
        NetcfgPrefix p;
        long long v;
        if (streq(w[0], "ifname")) {
                if (n != 2 || strlen(w[1]) >= IFNAMSIZ)
                        return -EBADMSG;
                strcpy(ks->ifname, w[1]);
                return 0;
        }
        if (streq(w[0], "engine")) {
                if (n != 3 || netcfg_parse_num(w[2], 0, UINT32_MAX, &v) < 0)
                        return -EBADMSG;
                ks->engine_uid_set = streq(w[1], "uid");
                if (!ks->engine_uid_set && !streq(w[1], "mark"))
                        return -EBADMSG;
                *(ks->engine_uid_set ? &ks->engine_uid : &ks->fwmark) = (uint32_t) v;
                return 0;
        }
        if (streq(w[0], "allow-lan"))
                return parse_flag(w, n, &ks->allow_lan);
        if (streq(w[0], "name")) {
                if (n != 2 || !netcfg_dns_name_is_valid(w[1]))
                        return -EBADMSG;
                return strv_push(&ks->names, &ks->n_names, w[1]);
        }
        if (n < 2 || netcfg_prefix_from_string(w[1], &p) < 0)
                return -EBADMSG;
        if (streq(w[0], "endpoint")) {
                if (n != 3 || netcfg_parse_num(w[2], 1, UINT16_MAX, &v) < 0)
                        return -EBADMSG;
                return netcfg_killswitch_add_endpoint(ks, &p, (uint16_t) v);
        }
        if (n != 2)
                return -EBADMSG;
        if (streq(w[0], "dns"))
                return push_prefix(&ks->dns, &ks->n_dns, &p);
        if (streq(w[0], "bypass"))
                return push_prefix(&ks->bypass, &ks->n_bypass, &p);
        return -EBADMSG;
}

int netcfg_killswitch_parse(const char *text, const char *profile, NetcfgKillswitch *ret) {
        _cleanup_free_ char *copy = strdup(text);
        NetcfgKillswitch ks = {};
        char *save = NULL, *w[4];
        bool header = false, end = false;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        if (strlen(profile) >= sizeof(ks.profile))
                return -EINVAL;
        strcpy(ks.profile, profile);
        for (char *line = strtok_r(copy, "\n", &save); line && r >= 0 && !end;
             line = strtok_r(NULL, "\n", &save)) {
                if (!header) {
                        header = streq(line, KS_MAGIC);
                        r = header ? 0 : -EBADMSG;
                        continue;
                }
                if (streq(line, "end")) {
                        end = true;
                        continue;
                }
                int n = netcfg_split_words(line, w, ELEMENTSOF(w));
                r = n <= 0 ? -EBADMSG : parse_line(&ks, w, n);
        }
        if (r >= 0 && (!end || isempty(ks.ifname)))
                r = -EBADMSG; /* torn or empty */
        if (r < 0) {
                netcfg_killswitch_done(&ks);
                return r;
        }
        *ret = ks;
        return 0;
}

/* ---- the directory ---- */

static int spec_path(const char *dir, const char *profile, char **ret) {
        if (isempty(profile) || strchr(profile, '/') || profile[0] == '.' || strlen(profile) > 32)
                return -EINVAL;
        return asprintf(ret, "%s/%s" KS_SUFFIX, dir, profile) < 0 ? -ENOMEM : 0;
}

bool netcfg_killswitch_exists(const char *dir, const char *profile) {
        _cleanup_free_ char *path = NULL;
        return spec_path(dir, profile, &path) >= 0 && access(path, F_OK) >= 0;
}

int netcfg_killswitch_load(const char *dir, const char *profile, NetcfgKillswitch *ret,
                           char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r = spec_path(dir, profile, &path);
        if (r < 0)
                return error_set_errno(ret_error, r, "kill switch of \"%s\"", profile);
        r = netcfg_read_text(path, &text);
        if (r < 0)
                return error_set_errno(ret_error, r, "reading %s", path);
        r = netcfg_killswitch_parse(text, profile, ret);
        if (r < 0)
                return error_set_errno(ret_error, r, "%s is not a kill switch spec", path);
        return 0;
}

static int lock_dir(const char *dir, char **ret_error) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/" KS_LOCK, dir) < 0)
                return error_set_errno(ret_error, -ENOMEM, "out of memory");
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return error_set_errno(ret_error, negative_errno(), "cannot open %s", path);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return error_set_errno(ret_error, negative_errno(), "cannot lock %s", path);
        return TAKE_FD(fd);
}

typedef struct Specs {
        NetcfgKillswitch *v;
        size_t n;
} Specs;

static void specs_done(Specs *s) {
        for (size_t i = 0; i < s->n; i++)
                netcfg_killswitch_done(&s->v[i]);
        free(s->v);
}

/* Every saved spec. One that cannot be read fails the whole: dropping it would lift that
 * profile's switch. */
int netcfg_killswitch_list(const char *dir, char ***ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0;
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                size_t len = strlen(de->d_name);
                char name[NAME_MAX + 1];
                if (de->d_name[0] == '.' || len <= STRLEN(KS_SUFFIX) ||
                    !streq(de->d_name + len - STRLEN(KS_SUFFIX), KS_SUFFIX))
                        continue;
                snprintf(name, sizeof(name), "%.*s", (int) (len - STRLEN(KS_SUFFIX)), de->d_name);
                if (strv_push(&names, &n, name) < 0)
                        return -ENOMEM;
        }
        strv_sort(names, n);
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

static int specs_load(const char *dir, Specs *ret, char **ret_error) {
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0;
        int r = netcfg_killswitch_list(dir, &names, &n);
        if (r < 0)
                return error_set_errno(ret_error, r, "cannot read %s", dir);
        if (n > KS_MAX_PROFILES)
                return error_set_errno(ret_error, -E2BIG, "more than %u kill switches in %s",
                                       KS_MAX_PROFILES, dir);
        ret->v = calloc(MAX(n, (size_t) 1), sizeof(NetcfgKillswitch));
        if (!ret->v)
                return error_set_errno(ret_error, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                r = netcfg_killswitch_load(dir, names[i], &ret->v[ret->n], ret_error);
                if (r < 0)
                        return r;
                ret->n++;
        }
        return 0;
}

/* Rewrites the table from the saved specs, then reads it back: the rules the batch held
 * are all there, and `profile`'s (if not NULL) among them. */
static int rewrite(const char *dir, const char *profile, char **ret_error) {
        _cleanup_(specs_done) Specs specs = {};
        int r = specs_load(dir, &specs, ret_error);
        if (r < 0)
                return r;
        _cleanup_free_ const NetcfgKillswitch **ptrs = calloc(specs.n + 1, sizeof(*ptrs));
        if (!ptrs)
                return error_set_errno(ret_error, -ENOMEM, "out of memory");
        for (size_t i = 0; i < specs.n; i++)
                ptrs[i] = &specs.v[i];
        _cleanup_free_ char *buf = NULL;
        size_t len;
        unsigned acks, rules;
        r = netcfg_nft_build(ptrs, specs.n, &buf, &len, &acks, &rules);
        if (r < 0)
                return error_set_errno(ret_error, r, "building the kill switch's rules");
        r = netcfg_nft_commit(buf, len, acks, ret_error);
        if (r < 0)
                return r;

        char prefix[NETCFG_NFT_CHAIN_MAX];
        snprintf(prefix, sizeof(prefix), "ks-%s-", profile ?: "");
        NetcfgNftReadback rb = { .prefix = prefix };
        r = netcfg_nft_read(&rb, ret_error);
        if (r < 0)
                return r;
        if (specs.n == 0 ? rb.present
                         : !rb.present || rb.rules != rules || (profile && rb.profile_rules == 0))
                return error_set_errno(ret_error, -EIO,
                                       "the kill switch's table reads back wrong: %u rules (%u "
                                       "written), table %s",
                                       rb.rules, rules, rb.present ? "present" : "absent");
        return 0;
}

int netcfg_killswitch_set(const char *dir, const NetcfgKillswitch *ks, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (spec_path(dir, ks->profile, &path) < 0 || isempty(ks->ifname))
                return error_set_errno(ret_error, -EINVAL, "invalid kill switch for \"%s\"",
                                       ks->profile);
        if (netcfg_killswitch_format(ks, &text) < 0)
                return error_set_errno(ret_error, -ENOMEM, "out of memory");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return error_set_errno(ret_error, negative_errno(), "cannot create %s", dir);
        _cleanup_close_ int lock = lock_dir(dir, ret_error);
        if (lock < 0)
                return lock;
        int r = netcfg_write_text(path, text, 0644, ret_error);
        if (r < 0)
                return r;
        return rewrite(dir, ks->profile, ret_error);
}

int netcfg_killswitch_remove(const char *dir, const char *profile, char **ret_error) {
        _cleanup_free_ char *path = NULL;
        if (spec_path(dir, profile, &path) < 0)
                return error_set_errno(ret_error, -EINVAL, "invalid profile name \"%s\"", profile);
        if (access(path, F_OK) < 0) {
                /* No spec: nf_tables is touched only if the kernel holds rules of this
                 * profile all the same (its spec was lost); a host that never had a switch
                 * never sees a tund table. */
                char prefix[NETCFG_NFT_CHAIN_MAX];
                snprintf(prefix, sizeof(prefix), "ks-%s-", profile);
                NetcfgNftReadback rb = { .prefix = prefix };
                if (netcfg_nft_read(&rb, NULL) < 0 || rb.profile_rules == 0)
                        return 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return error_set_errno(ret_error, negative_errno(), "cannot create %s",
                                               dir);
        }
        _cleanup_close_ int lock = lock_dir(dir, ret_error);
        if (lock < 0)
                return lock;
        bool had = unlink(path) >= 0;
        if (!had && errno != ENOENT)
                return error_set_errno(ret_error, negative_errno(), "cannot remove %s", path);
        /* Also when there was none: whatever of it the kernel still holds goes. */
        int r = rewrite(dir, NULL, ret_error);
        return r < 0 ? r : had;
}

int netcfg_killswitch_status(const char *dir, const char *profile, NetcfgKillswitchStatus *ret,
                             char **ret_error) {
        _cleanup_free_ char *path = NULL;
        if (spec_path(dir, profile, &path) < 0)
                return error_set_errno(ret_error, -EINVAL, "invalid profile name \"%s\"", profile);
        char prefix[NETCFG_NFT_CHAIN_MAX];
        snprintf(prefix, sizeof(prefix), "ks-%s-", profile);
        NetcfgNftReadback rb = { .prefix = prefix };
        int r = netcfg_nft_read(&rb, ret_error);
        if (r < 0)
                return r;
        *ret = (NetcfgKillswitchStatus){
                .spec = access(path, F_OK) >= 0,
                .installed = rb.present && rb.profile_rules > 0,
                .rules = rb.profile_rules,
                .dropped = rb.dropped,
        };
        return 0;
}
