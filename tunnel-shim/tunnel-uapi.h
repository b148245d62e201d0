/* The wireguard UAPI text protocol (https://www.wireguard.com/xplatform/): building `set=1`
 * requests and parsing `get=1` / `set=1` replies. Pure functions, no I/O, no logging: the
 * parser is fed whatever an engine wrote and is fuzzed (test/fuzz/fuzz-uapi.c).
 *
 * Secrets: request buffers hold the private and preshared keys in hex, and a `get=1` reply
 * holds them too. Both live in a SecBuf, which wipes on growth and on free; error strings name
 * keys and peers (by a public key prefix), never values. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.pb-c.h"
#include "macro.h"

/* A reply larger than this is refused: ~300 bytes per peer, so room for >10000 peers. */
#define UAPI_REPLY_MAX (4u * 1024u * 1024u)
#define UAPI_LINE_MAX 4096u
/* How a peer is named in messages: the first characters of its base64 public key. */
#define UAPI_PEER_NAME_LEN 8u

/* ---- a growable byte buffer that never leaves secrets behind ---- */
typedef struct SecBuf {
        char *data;
        size_t len, size;
} SecBuf;

int secbuf_append(SecBuf *b, const void *p, size_t n);
int secbuf_printf(SecBuf *b, const char *fmt, ...) _printf_(2, 3);
void secbuf_wipe(SecBuf *b); /* wipes and frees; b is reusable afterwards */
static inline void secbuf_wipep(SecBuf *b) {
        secbuf_wipe(b);
}
#define _cleanup_secbuf_ _cleanup_(secbuf_wipep)

/* ---- endpoints ---- */
union sockaddr_union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
};

/* Splits "host:port", "a.b.c.d:port" or "[v6]:port" (brackets required for IPv6; a %zone is
 * kept with the host). *ret_host is malloc'd without brackets. -EINVAL if malformed. */
int uapi_endpoint_split(const char *s, char **ret_host, uint16_t *ret_port);
/* If host is a numeric IPv4/IPv6 address, fills *ret and returns 1; 0 if it is a name. */
int uapi_endpoint_numeric(const char *host, uint16_t port, union sockaddr_union *ret);
/* "a.b.c.d:port" or "[v6]:port" into buf (at least UAPI_ENDPOINT_MAX). -EAFNOSUPPORT. */
#define UAPI_ENDPOINT_MAX (INET6_ADDRSTRLEN + 2 + 1 + 5 + 16)
int uapi_endpoint_format(const union sockaddr_union *sa, char *buf, size_t size);
/* Parses what the engine prints back ("ip:port", "[v6]:port"). */
int uapi_endpoint_parse(const char *s, union sockaddr_union *ret);

/* "AbCdEfGh…" from a base64 public key, for naming a peer in messages (never secrets). The
 * input is cut to UAPI_PEER_NAME_LEN characters and anything outside base64 is replaced. */
void uapi_peer_name(const char *b64, char buf[static UAPI_PEER_NAME_LEN + 4]);

/* ---- requests ---- */

/* One peer's resolved endpoint: family AF_UNSPEC when the peer has none. */
typedef struct UapiEndpoint {
        union sockaddr_union addr;
} UapiEndpoint;

/* Builds the full `set=1` request for cfg (private key, listen port, fwmark,
 * replace_peers=true, every peer with replace_allowed_ips=true), terminated by a blank line.
 * endpoints[i] belongs to cfg->peers[i] (NULL: no endpoints). Keys are validated and written
 * in hex. On failure returns -EINVAL and a malloc'd sentence in *ret_error (optional) naming
 * the field and peer. The caller wipes out with secbuf_wipe(). */
int uapi_build_config(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints, SecBuf *out,
                      char **ret_error);
/* The same in pieces, so that a refusal names its peer: the device part (private key, listen
 * port, fwmark, replace_peers=true), then one request per peer (without replace_peers). */
int uapi_build_device(const Tund__WgConfig *cfg, SecBuf *out, char **ret_error);
int uapi_build_peer(const Tund__WgConfig *cfg, size_t i, const UapiEndpoint *endpoints, SecBuf *out,
                    char **ret_error);
/* Builds a `set=1` that sets the endpoint of each given peer again (Rebind), and turns the
 * keepalive off and on for peers that have one, so the engine sends at once. */
int uapi_build_endpoints(const Tund__WgConfig *cfg, const UapiEndpoint *endpoints, SecBuf *out,
                         char **ret_error);
/* A prefix as "addr/len", checked: -EINVAL on a bad length. */
int uapi_prefix_format(const Tund__IpPrefix *p, char *buf, size_t size);

/* ---- replies ---- */

typedef struct UapiPrefix {
        int family;
        uint8_t addr[16];
        uint8_t prefix_len;
} UapiPrefix;

typedef struct UapiPeer {
        uint8_t public_key[32];
        bool has_preshared_key;
        bool has_endpoint;
        union sockaddr_union endpoint;
        int64_t last_handshake_sec, last_handshake_nsec;
        uint64_t rx_bytes, tx_bytes;
        uint32_t persistent_keepalive;
        uint32_t protocol_version;
        UapiPrefix *allowed_ips;
        size_t n_allowed_ips;
} UapiPeer;

typedef struct UapiDevice {
        bool has_private_key; /* the key itself is never stored */
        uint16_t listen_port;
        uint32_t fwmark;
        UapiPeer *peers;
        size_t n_peers;
        int errnum; /* the reply's errno= value (0: success); the engine reports it positive */
} UapiDevice;

void uapi_device_done(UapiDevice *d);

/* Parses a complete reply (what a `get=1` or `set=1` returned, up to and including the blank
 * line; a missing final blank line is tolerated). Returns 0 with *ret filled in (check
 * ret->errnum!), or -EBADMSG with a malloc'd sentence in *ret_error (optional) for a malformed
 * reply: unknown syntax, bad numbers or keys, peer keys before a public_key, duplicate peers,
 * anything after errno=, or no errno= at all. Unknown keys are ignored (newer engines). */
int uapi_parse_reply(const char *buf, size_t len, UapiDevice *ret, char **ret_error);

/* True once buf holds a complete reply: it ends in "\n\n" (or is just "\n"). */
bool uapi_reply_complete(const char *buf, size_t len);

/* The engine's errno as a sentence for messages, e.g. "invalid argument (EINVAL)". */
const char *uapi_errno_name(int errnum);
