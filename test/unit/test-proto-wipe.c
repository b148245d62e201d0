/* Key material is wiped when it is freed: a profile's WgConfig (profile_wg_config_free) and
 * every message libipc receives (unpacked with the wiping allocator). proto_wipe_observer
 * sees each block after its wipe and before free(), so the tests can look at the bytes. */
#include "ipc-test-util.h"
#include "profile.h"
#include "proto-wipe.h"
#include "shim.pb-c.h"

#define PRIV "cCPJ1wsALzUCpr1lDIPG3zq4DbknLH4KYzbXXmlEslc="
#define PUB1 "4QZ9dRa7qbzLtWhDGxXSUvhP3rx/tj7ZO3o9IilOwGY="
#define PSK "/VYgaSKPs2ZFmPJ+4YCRBmScucg+B4ALXAhSLhRuMEY="

/* Blocks the observer saw, and whether each was all zeroes at that point. */
static const void *seen[256];
static size_t n_seen, n_dirty;

static void observe(const void *p, size_t n) {
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++)
                if (b[i]) {
                        n_dirty++;
                        break;
                }
        if (n_seen < ELEMENTSOF(seen))
                seen[n_seen++] = p;
}

static bool was_wiped(const void *p) {
        for (size_t i = 0; i < n_seen; i++)
                if (seen[i] == p)
                        return true;
        return false;
}

TEST(wg_config_free_wipes_private_and_preshared_keys) {
        Profile *p = NULL;
        char *err = NULL;
        ASSERT_OK(profile_parse_string("[Interface]\nPrivateKey = " PRIV "\n"
                                       "[Peer]\nPublicKey = " PUB1 "\nPresharedKey = " PSK
                                       "\nAllowedIPs = 10.0.0.0/8\n",
                                       "/etc/tund/work.conf", "work", &p, &err));
        Tund__WgConfig *c = NULL;
        ASSERT_OK(profile_to_wg_config(p, &c));
        profile_free(p);
        ASSERT_STREQ(c->private_key, PRIV);
        ASSERT_EQ(c->n_peers, 1);
        ASSERT_STREQ(c->peers[0]->preshared_key, PSK);
        const void *priv = c->private_key, *psk = c->peers[0]->preshared_key;

        proto_wipe_observer = observe;
        profile_wg_config_free(c);
        proto_wipe_observer = NULL;
        ASSERT_TRUE(was_wiped(priv));
        ASSERT_TRUE(was_wiped(psk));
        ASSERT_EQ(n_dirty, 0);
}

typedef struct Received {
        const void *priv, *psk;
        bool got;
} Received;

static int on_start(IpcConn *c, IpcMsg *m, void *u) {
        Received *r = u;
        const Tund__StartSession *s =
                ipc_msg_payload(m, TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION);
        if (s && s->config && s->config->n_peers == 1) {
                r->priv = s->config->private_key;
                r->psk = s->config->peers[0]->preshared_key;
                r->got = streq(s->config->private_key, PRIV);
        }
        /* Not kept: libipc frees the message when we return. */
        return 0;
}

TEST(received_message_keys_are_wiped_when_freed) {
        sd_event *e = NULL;
        IpcConn *cli = NULL, *srv = NULL;
        int sv[2];
        ASSERT_OK(sd_event_new(&e));
        socketpair_or_die(sv);
        ASSERT_OK(ipc_conn_new(&srv, e, sv[0], &ipc_channel_shim_server));
        ASSERT_OK(ipc_conn_new(&cli, e, sv[1], &ipc_channel_shim_client));
        Received rec = {};
        ipc_conn_set_handlers(srv, &(IpcHandlers){ .on_message = on_start }, &rec);

        Tund__ShimToHelper m = TUND__SHIM_TO_HELPER__INIT;
        Tund__StartSession s = TUND__START_SESSION__INIT;
        Tund__WgConfig cfg = TUND__WG_CONFIG__INIT;
        Tund__WgPeer peer = TUND__WG_PEER__INIT, *peers[] = { &peer };
        cfg.private_key = (char *) PRIV;
        peer.public_key = (char *) PUB1;
        peer.preshared_key = (char *) PSK;
        cfg.peers = peers;
        cfg.n_peers = 1;
        s.profile = (char *) "work";
        s.ifname = (char *) "tund-work";
        s.config = &cfg;
        m.payload_case = TUND__SHIM_TO_HELPER__PAYLOAD_START_SESSION;
        m.start_session = &s;
        ASSERT_OK(ipc_conn_send(cli, &m.base, 0, NULL, 0));

        proto_wipe_observer = observe;
        ASSERT_TRUE(run_until(e, &rec.got, 2000));
        proto_wipe_observer = NULL;
        ASSERT_TRUE(was_wiped(rec.priv));
        ASSERT_TRUE(was_wiped(rec.psk));
        ASSERT_EQ(n_dirty, 0);

        ipc_conn_close(cli, 0, NULL);
        ipc_conn_close(srv, 0, NULL);
        ipc_conn_unref(cli);
        ipc_conn_unref(srv);
        sd_event_unref(e);
}

TEST(blocks_of_the_wiping_allocator_mix_with_the_default_one) {
        /* Built by hand with malloc, freed with the wiping allocator; and the reverse. */
        Tund__WgPeer *peer = malloc(sizeof(*peer));
        ASSERT_TRUE(peer);
        tund__wg_peer__init(peer);
        peer->preshared_key = strdup(PSK);
        const void *psk = peer->preshared_key;
        proto_wipe_observer = observe;
        proto_free_wiped(&peer->base);
        proto_free_wiped(NULL);
        proto_wipe_observer = NULL;
        ASSERT_TRUE(was_wiped(psk));
        ASSERT_TRUE(was_wiped(peer));

        Tund__WgPeer in = TUND__WG_PEER__INIT;
        in.preshared_key = (char *) PSK;
        uint8_t buf[128];
        size_t n = tund__wg_peer__pack(&in, buf);
        Tund__WgPeer *out = tund__wg_peer__unpack(&proto_wiping_allocator, n, buf);
        ASSERT_TRUE(out);
        ASSERT_STREQ(out->preshared_key, PSK);
        tund__wg_peer__free_unpacked(out, NULL);
}
