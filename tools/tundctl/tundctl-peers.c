/* tundctl peers [PROFILE]: the engine's live view of every peer (CtlGetPeers, relayed by the
 * helper to each tunnel, which asks wireguard-go). Public keys only, never a preshared key. */
#include <stdio.h>
#include <time.h>

#include "profile.h"
#include "tundctl.h"

int tundctl_peers_parse(int argc, char *argv[], PeersArgs *a) {
        int i = tundctl_getopt("peers", argc, argv, NULL, NULL, NULL, NULL);

        *a = (PeersArgs){};
        if (i == -1)
                return TUNDCTL_EXIT_OK;
        if (i < 0)
                return TUNDCTL_EXIT_USAGE;
        if (argc - i > 1)
                return tundctl_usage_error("peers", "too many arguments");
        if (argc - i == 1) {
                if (!profile_name_is_valid(argv[i]))
                        return tundctl_usage_error("peers", "not a valid profile name: %s",
                                                   argv[i]);
                a->profile = argv[i];
        }
        return -1;
}

static int print_table(const Tund__PeersReply *pr, int64_t now) {
        _cleanup_(tundctl_table_freep) Table *t =
                tundctl_table_new(8, "profile", "public key", "endpoint", "handshake", "rx", "tx",
                                  "keepalive", "allowed ips");
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < pr->n_profiles; i++) {
                const Tund__PeerUpdate *pu = pr->profiles[i];
                for (size_t k = 0; k < pu->n_peers; k++) {
                        const Tund__PeerState *p = pu->peers[k];
                        char hs[TUNDCTL_FMT_MAX], rx[TUNDCTL_FMT_MAX], tx[TUNDCTL_FMT_MAX], ka[32],
                                pfx[TUNDCTL_FMT_MAX];
                        _cleanup_free_ char *ips = NULL;
                        size_t len = 0;
                        FILE *f = open_memstream(&ips, &len);

                        if (!f)
                                return -ENOMEM;
                        for (size_t a = 0; a < p->n_allowed_ips; a++)
                                fprintf(f, "%s%s", a ? "," : "",
                                        tundctl_format_prefix(pfx, p->allowed_ips[a]));
                        fclose(f);
                        if (p->persistent_keepalive)
                                snprintf(ka, sizeof(ka), "%u s", p->persistent_keepalive);
                        else
                                snprintf(ka, sizeof(ka), "off");
                        const char *row[] = { pu->profile,
                                              p->public_key,
                                              p->endpoint,
                                              tundctl_format_age(hs, now, p->last_handshake_sec),
                                              tundctl_format_bytes(rx, p->rx_bytes),
                                              tundctl_format_bytes(tx, p->tx_bytes),
                                              ka,
                                              ips };
                        if (tundctl_table_add_row(t, row) < 0)
                                return -ENOMEM;
                        if (p->last_handshake_sec <= 0 ||
                            now - p->last_handshake_sec > TUNDCTL_STALE_HANDSHAKE_SEC)
                                tundctl_table_set_color(t, 3, ANSI_YELLOW);
                }
        }
        tundctl_table_print(t, stdout, tundctl_use_color(STDOUT_FILENO));
        return 0;
}

int tundctl_peers(int argc, char *argv[]) {
        _cleanup_(ipc_msg_freep) IpcMsg *reply = NULL;
        const Tund__PeersReply *pr;
        int64_t now = (int64_t) time(NULL);
        size_t total = 0;
        PeersArgs a;
        int r;

        r = tundctl_peers_parse(argc, argv, &a);
        if (r >= 0)
                return r;
        r = tundctl_get_peers(a.profile, false, &reply, &pr);
        if (r != 0)
                return r;

        if (arg_g.json) {
                Json j;
                json_init(&j, stdout);
                json_document_begin(&j);
                json_key(&j, "profiles");
                json_array_begin(&j);
                for (size_t i = 0; i < pr->n_profiles; i++) {
                        json_object_begin(&j);
                        json_kv_string(&j, "profile", pr->profiles[i]->profile);
                        json_key(&j, "peers");
                        json_array_begin(&j);
                        for (size_t k = 0; k < pr->profiles[i]->n_peers; k++)
                                json_peer_state(&j, pr->profiles[i]->peers[k], now);
                        json_array_end(&j);
                        json_object_end(&j);
                }
                json_array_end(&j);
                json_document_end(&j);
                return TUNDCTL_EXIT_OK;
        }
        for (size_t i = 0; i < pr->n_profiles; i++)
                total += pr->profiles[i]->n_peers;
        if (total == 0) {
                printf("No peers.\n");
                return TUNDCTL_EXIT_OK;
        }
        if (print_table(pr, now) < 0)
                return tundctl_fail(TUNDCTL_EXIT_FAILURE, "out of memory");
        return TUNDCTL_EXIT_OK;
}
