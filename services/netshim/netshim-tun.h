/* The network shim's two kernel objects for the engine: the TUN device and the listening
 * UAPI socket. Both are created here, with root's privileges, and handed to the helper; the
 * engine only ever gets the fds. Functions return a CLOEXEC fd or -errno, and then set
 * *ret_error (malloc'd) to a message naming the object. */
#pragma once

#include <sys/types.h>

#include "engine.h"

#define NETSHIM_UAPI_DIR "/run/wireguard"
#define NETSHIM_UAPI_MODE 0600

/* Creates TUN IFNAME with the framing FLAVOUR needs (IFF_TUN, plus IFF_NO_PI for
 * ENGINE_TUN_FLAVOUR_NO_PI) and checks the device is a plain TUN. Returns the CLOEXEC fd. */
int netshim_tun_create(const char *ifname, EngineTunFlavour flavour, char **ret_error);

/* Creates DIR/IFNAME.sock, listening, CLOEXEC, with MODE and owner uid:gid as chown() takes
 * them ((uid_t) -1 / (gid_t) -1: unchanged). DIR is created 0755 if missing and must belong to
 * root or us and not be group/other-writable. A socket already at the path is replaced only if
 * nothing listens on it; any other file there is an error. Returns the fd. */
int netshim_uapi_listen_at(const char *dir, const char *ifname, mode_t mode, uid_t uid, gid_t gid,
                           char **ret_error);

/* netshim_uapi_listen_at(NETSHIM_UAPI_DIR, ifname, NETSHIM_UAPI_MODE, uid, gid, ret_error). */
int netshim_uapi_listen(const char *ifname, uid_t uid, gid_t gid, char **ret_error);
