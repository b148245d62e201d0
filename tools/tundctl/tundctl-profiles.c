/* tundctl profiles: every CONFIG_DIR/NAME.conf with whether it is enabled (the symlink
 * `systemctl enable tund@NAME` makes in multi-user.target.wants), active (a session in the
 * helper) and valid (when the file is readable by the caller). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "profile.h"
#include "string-util.h"
#include "tundctl.h"

int tundctl_noargs_parse(const char *verb, int argc, char *argv[]) {
        int i = tundctl_getopt(verb, argc, argv, NULL, NULL, NULL, NULL);

        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i > 0)
                return tundctl_usage_error(verb, "unexpected argument: %s", argv[i]);
        return -1;
}

typedef struct ProfileEntry {
        char name[PROFILE_NAME_MAX + 1];
        bool enabled;
        const Tund__SessionInfo *session; /* NULL: not active */
        int valid;                        /* 1 yes, 0 no, -1 unknown (unreadable) */
        char *error;
} ProfileEntry;

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const ProfileEntry *) a)->name, ((const ProfileEntry *) b)->name);
}

static void entries_free(ProfileEntry *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].error);
        free(v);
}

/* The profiles in the config directory, sorted, each with its unit's enablement, its session
 * (st may be NULL) and whether it loads. -ENOMEM, or -errno of opendir() with *ret untouched. */
static int profiles_collect(const Tund__StatusReply *st, ProfileEntry **ret, size_t *ret_n) {
        ProfileEntry *v = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d = opendir(arg_g.config_dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                char name[NAME_MAX + 1], path[PATH_MAX];
                struct stat sb;
                ProfileEntry *e;

                if (len <= 5 || !streq(de->d_name + len - 5, ".conf"))
                        continue;
                snprintf(name, sizeof(name), "%.*s", (int) (len - 5), de->d_name);
                if (!profile_name_is_valid(name))
                        continue;
                e = ARRAY_APPEND(v, n);
                if (!e) {
                        closedir(d);
                        entries_free(v, n);
                        return -ENOMEM;
                }
                *e = (ProfileEntry){ .valid = -1 };
                memcpy(e->name, name, strlen(name) + 1); /* valid: at most 32 characters */
                snprintf(path, sizeof(path), TUNDCTL_WANTS_DIR "/tund@%s.service", name);
                e->enabled = lstat(path, &sb) == 0;
                for (size_t i = 0; st && i < st->n_sessions; i++)
                        if (streq(st->sessions[i]->profile, name))
                                e->session = st->sessions[i];

                Profile *p = NULL;
                snprintf(path, sizeof(path), "%s/%s", arg_g.config_dir, de->d_name);
                int r = profile_load_file(path, &p, &e->error);
                if (r >= 0)
                        e->valid = 1;
                else if (r != -EACCES)
                        e->valid = 0;
                else {
                        free(e->error);
                        e->error = NULL;
                }
                profile_free(p);
        }
        closedir(d);
        if (n > 0)
                qsort(v, n, sizeof(ProfileEntry), entry_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void json_null_or_string(Json *j, const char *key, const char *s) {
        json_key(j, key);
        if (s)
                json_string(j, s);
        else
                json_null(j);
}

static void profiles_print_json(const ProfileEntry *v, size_t n, const Tund__StatusReply *st,
                                const char *helper_error) {
        Json j;
        json_init(&j, stdout);
        json_document_begin(&j);
        json_kv_string(&j, "config_dir", arg_g.config_dir);
        json_kv_bool(&j, "helper_reachable", st != NULL);
        json_null_or_string(&j, "helper_error", st ? NULL : helper_error);
        json_key(&j, "profiles");
        json_array_begin(&j);
        for (size_t i = 0; i < n; i++) {
                json_object_begin(&j);
                json_kv_string(&j, "name", v[i].name);
                json_kv_bool(&j, "enabled", v[i].enabled);
                json_key(&j, "active");
                if (!st)
                        json_null(&j); /* unknown */
                else
                        json_bool(&j, v[i].session != NULL);
                json_null_or_string(
                        &j, "state",
                        v[i].session ? tundctl_session_state_to_string(v[i].session->state) : NULL);
                json_key(&j, "valid");
                if (v[i].valid < 0)
                        json_null(&j);
                else
                        json_bool(&j, v[i].valid);
                json_null_or_string(&j, "error", v[i].error);
                json_object_end(&j);
        }
        json_array_end(&j);
        json_document_end(&j);
}

static int profiles_print_table(ProfileEntry *v, size_t n, const Tund__StatusReply *st,
                                const char *helper_error) {
        _cleanup_(tundctl_table_freep) Table *t =
                tundctl_table_new(4, "profile", "enabled", "active", "valid");
        bool color = tundctl_use_color(STDOUT_FILENO);
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *row[] = {
                        v[i].name,
                        v[i].enabled ? "enabled" : "disabled",
                        !st            ? "unknown"
                        : v[i].session ? tundctl_session_state_to_string(v[i].session->state)
                                       : "inactive",
                        v[i].valid < 0 ? "unknown"
                        : v[i].valid   ? "yes"
                                       : "no",
                };
                if (tundctl_table_add_row(t, row) < 0)
                        break;
                if (v[i].session)
                        tundctl_table_set_color(t, 2, ANSI_GREEN);
                if (v[i].valid == 0)
                        tundctl_table_set_color(t, 3, ANSI_RED);
        }
        tundctl_table_print(t, stdout, color);
        for (size_t i = 0; i < n; i++)
                if (v[i].error) /* may quote the file: one printable line */
                        printf("%s\n", string_sanitize_inplace(v[i].error));
        if (!st)
                printf("(active state unknown: %s)\n", helper_error ? helper_error : "");
        return 0;
}

int tundctl_profiles(int argc, char *argv[]) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        _cleanup_free_ char *helper_error = NULL;
        const Tund__StatusReply *st = NULL;
        ProfileEntry *v = NULL;
        size_t n = 0;

        int r = tundctl_noargs_parse("profiles", argc, argv);
        if (r >= 0)
                return r;
        /* The helper's sessions, when it can be asked (quietly: the listing works without). */
        if (tundctl_get_status(NULL, true, &reply, &st) != 0)
                helper_error = strdup(tundctl_last_error());
        r = profiles_collect(st, &v, &n);
        if (r == -ENOMEM)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");
        if (r < 0) {
                errno = -r;
                return tundctl_fail(tundctl_exit_from_errno(r) == TUNDCTL_EXIT_PERMISSION
                                            ? TUNDCTL_EXIT_PERMISSION
                                            : TUNDCTL_EXIT_FAILURE,
                                    "cannot read %s: %m", arg_g.config_dir);
        }
        if (arg_g.json)
                profiles_print_json(v, n, st, helper_error);
        else if (n == 0)
                printf("No profiles in %s.\n", arg_g.config_dir);
        else
                r = profiles_print_table(v, n, st, helper_error);
        entries_free(v, n);
        return r < 0 ? tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory") : TUNDCTL_EXIT_OK;
}
