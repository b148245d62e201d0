/* Each profile's routing table and rule-priority span: one of NETCFG_SLOTS slots, first the one
 * a hash of its name gives (so a profile keeps its numbers across restarts and reboots), the
 * next free one when that is taken. Taken means: claimed by another profile (a file
 * STATE_DIR/slots/N holding its name, written under a lock, removed once the profile's
 * settings are reverted), or holding objects tund did not make (a route of another protocol in
 * the table, a rule of another protocol in the span): those are never touched. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error-util.h"
#include "fd-util.h"
#include "netshim.h"

static uint32_t slot_hash(const char *s) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619u;
        return h;
}

/* The profile named in claim file N, or NULL. */
static char *slot_read(int dfd, unsigned n) {
        char name[16], buf[PROFILE_NAME_MAX + 2];
        snprintf(name, sizeof(name), "%u", n);
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        ssize_t k = read(fd, buf, sizeof(buf) - 1);
        if (k <= 0)
                return strdup("");
        buf[k] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return strdup(buf);
}

static int slots_open(const char *state_dir, bool create, int *ret_dfd) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/slots", state_dir) < 0)
                return -ENOMEM;
        if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (flock(dfd, LOCK_EX) < 0) {
                int r = -errno;
                close(dfd);
                return r;
        }
        *ret_dfd = dfd;
        return 0;
}

/* Objects of another protocol in slot n's table or rule span. */
static int slot_foreign(unsigned n, char **ret_why) {
        _cleanup_free_ NetcfgRoute *routes = NULL;
        _cleanup_free_ NetcfgRule *rules = NULL;
        size_t n_routes = 0, n_rules = 0;
        uint32_t table = NETCFG_SLOT_TABLE(n), lo = NETCFG_SLOT_PRIORITY(n);
        int r;

        r = netcfg_read_routes(0, table, 0, &routes, &n_routes, ret_why);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_routes; i++)
                if (routes[i].protocol != NETCFG_RTPROT_TUND)
                        return 1;
        r = netcfg_read_rules(lo, lo + NETCFG_RULE_PRIO_SPAN - 1, &rules, &n_rules, ret_why);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_rules; i++)
                if (rules[i].protocol != NETCFG_RTPROT_TUND)
                        return 1;
        return 0;
}

int netshim_slot_claim(const char *state_dir, const char *profile, unsigned *ret_slot,
                       char **ret_error) {
        _cleanup_close_ int dfd = -EBADF;
        int r = slots_open(state_dir, true, &dfd);
        if (r < 0)
                return error_set(ret_error, r, "cannot open %s/slots", state_dir);

        /* Ours already: a restart after a crash, before --cleanup released it. */
        for (unsigned n = 0; n < NETCFG_SLOTS; n++) {
                _cleanup_free_ char *owner = slot_read(dfd, n);
                if (owner && streq(owner, profile)) {
                        *ret_slot = n;
                        return 0;
                }
        }
        unsigned first = slot_hash(profile) % NETCFG_SLOTS;
        for (unsigned i = 0; i < NETCFG_SLOTS; i++) {
                unsigned n = (first + i) % NETCFG_SLOTS;
                _cleanup_free_ char *owner = slot_read(dfd, n), *why = NULL;
                if (owner)
                        continue;
                r = slot_foreign(n, &why);
                if (r < 0)
                        return error_set(ret_error, r, "reading routes and rules: %s",
                                         why ? why : strerror(-r));
                if (r > 0)
                        continue;
                char name[16];
                snprintf(name, sizeof(name), "%u", n);
                _cleanup_close_ int fd =
                        openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0 || dprintf(fd, "%s\n", profile) < 0) {
                        r = -errno;
                        (void) unlinkat(dfd, name, 0);
                        return error_set(ret_error, r, "cannot write %s/slots/%s", state_dir, name);
                }
                *ret_slot = n;
                return 0;
        }
        return error_set(ret_error, -ENOSPC,
                         "no free routing table: all %u of tund's tables (%u-%u) and "
                         "rule spans are taken by other profiles or by routes and "
                         "rules tund did not make",
                         NETCFG_SLOTS, NETCFG_SLOT_TABLE(0), NETCFG_SLOT_TABLE(NETCFG_SLOTS - 1));
}

int netshim_slot_find(const char *state_dir, const char *profile) {
        _cleanup_close_ int dfd = -EBADF;
        int r = slots_open(state_dir, false, &dfd);
        if (r < 0)
                return r;
        for (unsigned n = 0; n < NETCFG_SLOTS; n++) {
                _cleanup_free_ char *owner = slot_read(dfd, n);
                if (owner && streq(owner, profile))
                        return (int) n;
        }
        return -ENOENT;
}

void netshim_slot_release(const char *state_dir, const char *profile) {
        _cleanup_close_ int dfd = -EBADF;
        if (slots_open(state_dir, false, &dfd) < 0)
                return;
        for (unsigned n = 0; n < NETCFG_SLOTS; n++) {
                _cleanup_free_ char *owner = slot_read(dfd, n);
                if (owner && streq(owner, profile)) {
                        char name[16];
                        snprintf(name, sizeof(name), "%u", n);
                        (void) unlinkat(dfd, name, 0);
                }
        }
}

char *netshim_slot_owner(const char *state_dir, uint32_t table) {
        if (table < NETCFG_SLOT_TABLE(0) || table > NETCFG_SLOT_TABLE(NETCFG_SLOTS - 1))
                return NULL;
        _cleanup_close_ int dfd = -EBADF;
        if (slots_open(state_dir, false, &dfd) < 0)
                return NULL;
        return slot_read(dfd, table - NETCFG_SLOT_TABLE(0));
}
