/* tundctl version: our version and, when it answers Ping, the running helper's. Exits 0 even
 * when the helper is not running: tundctl's own version is always known. */
#include <stdio.h>

#include "string-util.h"
#include "tundctl.h"

int tundctl_version(int argc, char *argv[]) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        Tund__CtlToHelper m = TUND__CTL_TO_HELPER__INIT;
        Tund__Ping ping = TUND__PING__INIT;
        const Tund__Pong *pong = NULL;
        char up[TUNDCTL_FMT_MAX], version[TUNDCTL_FMT_MAX];
        int r;

        r = tundctl_noargs_parse("version", argc, argv);
        if (r >= 0)
                return r;
        m.payload_case = TUND__CTL_TO_HELPER__PAYLOAD_PING;
        m.ping = &ping;
        tundctl_set_quiet(true);
        r = tundctl_simple_call(&m, "Ping", &reply);
        tundctl_set_quiet(false);
        if (r == 0)
                pong = ipc_msg_payload(reply, TUND__HELPER_TO_CTL__PAYLOAD_PONG);

        if (arg_g.json) {
                Json j;
                json_init(&j, stdout);
                json_document_begin(&j);
                json_kv_string(&j, "tundctl", TUND_VERSION);
                json_key(&j, "helper");
                if (!pong)
                        json_null(&j);
                else {
                        json_object_begin(&j);
                        json_kv_string(&j, "version", pong->version);
                        json_kv_uint(&j, "pid", pong->pid);
                        json_kv_uint(&j, "uptime_usec", pong->uptime_usec);
                        json_object_end(&j);
                }
                json_key(&j, "helper_error");
                if (pong)
                        json_null(&j);
                else
                        json_string(&j, tundctl_last_error());
                json_document_end(&j);
                return TUNDCTL_EXIT_OK;
        }
        printf("tundctl %s\n", TUND_VERSION);
        if (pong)
                printf("tund-helperd %s (pid %u, up %s)\n",
                       string_sanitize(version, sizeof(version), pong->version), pong->pid,
                       tundctl_format_duration(up, pong->uptime_usec));
        else
                printf("tund-helperd: not reachable: %s\n", tundctl_last_error());
        return TUNDCTL_EXIT_OK;
}
