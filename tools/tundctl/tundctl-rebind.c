/* tundctl rebind PROFILE|--all: asks the tunnels to resolve their endpoints again and rebind
 * their sockets, e.g. after the underlying network changed (the NetworkManager hook runs
 * "tundctl rebind --all"). Root only: the helper refuses others with ERROR_PERMISSION. */
#include <stdio.h>

#include "profile.h"
#include "tundctl.h"

static int rebind_option(int c, const char *value, void *userdata) {
        RebindArgs *a = userdata;

        if (c == 'a')
                a->all = true;
        else if (c == 'c')
                a->coalesce = true;
        else
                return -EINVAL;
        return 0;
}

int tundctl_rebind_parse(int argc, char *argv[], RebindArgs *a) {
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },
                { "coalesce", no_argument, NULL, 'c' },
                {},
        };
        int i;

        *a = (RebindArgs){};
        i = tundctl_getopt("rebind", argc, argv, "a", opts, rebind_option, a);
        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i > 1)
                return tundctl_usage_error("rebind", "too many arguments");
        if (argc - i == 1) {
                if (a->all)
                        return tundctl_usage_error("rebind", "name a profile or --all, not both");
                if (!profile_name_is_valid(argv[i]))
                        return tundctl_usage_error("rebind", "not a valid profile name: %s",
                                                   argv[i]);
                a->profile = argv[i];
        } else if (!a->all)
                return tundctl_usage_error("rebind", "name a profile or --all");
        return -1;
}

int tundctl_rebind(int argc, char *argv[]) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__CtlRebind rb = TUND__CTL_REBIND__INIT;
        RebindArgs a;
        int r;

        r = tundctl_rebind_parse(argc, argv, &a);
        if (r >= 0)
                return r;
        rb.profile = (char *) (a.profile ? a.profile : "");
        rb.all = a.all;
        rb.coalesce = a.coalesce;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_REBIND;
        m.rebind = &rb;
        r = tundctl_simple_call(&m, "CtlRebind", &reply);
        if (r != 0)
                return r;
        if (!ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_ACK))
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "CtlRebind: unexpected reply");
        if (arg_g.json) {
                Json j;
                json_init(&j, stdout);
                json_document_begin(&j);
                json_key(&j, "profile");
                if (a.all)
                        json_null(&j);
                else
                        json_string(&j, a.profile);
                json_kv_bool(&j, "all", a.all);
                json_kv_bool(&j, "coalesce", a.coalesce);
                json_kv_bool(&j, "ok", true);
                json_document_end(&j);
        } else if (a.all)
                printf("Rebound every session.\n");
        else
                printf("Rebound %s.\n", a.profile);
        return TUNDCTL_EXIT_OK;
}
