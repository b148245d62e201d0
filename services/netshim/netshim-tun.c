/* TUN device and UAPI listening socket for the engine. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "error-util.h"
#include "macro.h"
#include "netcfg.h"
#include "netshim-tun.h"

static bool ifname_ok(const char *ifname) {
        size_t n = ifname ? strlen(ifname) : 0;

        return n > 0 && n < IFNAMSIZ && !strpbrk(ifname, "/: \t\n") && !streq(ifname, ".") &&
               !streq(ifname, "..");
}

int netshim_tun_create(const char *ifname, EngineTunFlavour flavour, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = {};
        short want;

        if (!ifname_ok(ifname))
                return error_set(ret_error, -EINVAL, "invalid interface name");
        if (flavour == ENGINE_TUN_FLAVOUR_PI)
                want = IFF_TUN;
        else if (flavour == ENGINE_TUN_FLAVOUR_NO_PI)
                want = IFF_TUN | IFF_NO_PI;
        else
                return error_set(ret_error, -EINVAL, "%s: TUN flavour of the engine unknown",
                                 ifname);

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == EACCES && geteuid() != 0)
                /* CAP_NET_ADMIN does not open files: the node's mode must let us. */
                return error_set(ret_error, -EACCES,
                                 "%s: cannot open /dev/net/tun: %s (not root: it must be mode "
                                 "0666, as udev and tund's tmpfiles.d make it)",
                                 ifname, strerror(EACCES));
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "%s: cannot open /dev/net/tun: %m",
                                 ifname);
        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        ifr.ifr_flags = want;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return error_set(ret_error, negative_errno(),
                                 "%s: cannot create the TUN device: %m", ifname);

        /* A persistent device of that name would have been reused: make sure it is a TUN
         * without a virtio header. IFF_NO_PI cannot be checked here: TUNGETIFF reports
         * IFF_NOFILTER in the same bit, and TUNSETIFF has just set our framing anyway. */
        memset(&ifr, 0, sizeof(ifr));
        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return error_set(ret_error, negative_errno(), "%s: TUNGETIFF: %m", ifname);
        if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP | IFF_VNET_HDR)) != IFF_TUN)
                return error_set(ret_error, -EEXIST,
                                 "%s: exists as a device with flags 0x%x, not a plain TUN", ifname,
                                 (unsigned) ifr.ifr_flags);
        if (!streq(ifr.ifr_name, ifname))
                return error_set(ret_error, -EEXIST, "%s: kernel named the device %s", ifname,
                                 ifr.ifr_name);
        /* Ours, still down, gone with its last fd: quiet, as a kernel WireGuard device is (see
         * netcfg.h). A persistent device someone else made keeps its settings. */
        if (!(ifr.ifr_flags & IFF_PERSIST)) {
                _cleanup_free_ char *err = NULL;
                int r = netcfg_link_quiet((int) if_nametoindex(ifname), &err);
                if (r < 0)
                        return error_set(ret_error, r, "%s: %s", ifname, err);
        }
        return TAKE_FD(fd);
}

static int uapi_dir(const char *dir, char **ret_error) {
        struct stat st;

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return error_set(ret_error, negative_errno(), "%s: cannot create: %m", dir);
        /* Only root may create names in it, or anyone could plant a socket for the engine. */
        if (lstat(dir, &st) < 0)
                return error_set(ret_error, negative_errno(), "%s: %m", dir);
        if (!S_ISDIR(st.st_mode))
                return error_set(ret_error, -ENOTDIR, "%s: not a directory", dir);
        if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
                return error_set(ret_error, -EPERM,
                                 "%s: must belong to root and not be group/other-writable", dir);
        return 0;
}

/* Something at path: a socket nobody listens on is stale and goes; anything else stays. */
static int uapi_clear_stale(const char *path, const struct sockaddr_un *sa, char **ret_error) {
        _cleanup_close_ int probe = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return error_set(ret_error, negative_errno(), "%s: %m", path);
        }
        if (!S_ISSOCK(st.st_mode))
                return error_set(ret_error, -EEXIST, "%s: exists and is not a socket", path);
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (probe < 0)
                return error_set(ret_error, negative_errno(), "socket: %m");
        if (connect(probe, (const struct sockaddr *) sa, sizeof(*sa)) == 0 || errno == EAGAIN)
                return error_set(ret_error, -EADDRINUSE, "%s: in use: another engine listens on it",
                                 path);
        if (errno != ECONNREFUSED)
                return error_set(ret_error, negative_errno(), "%s: cannot probe: %m", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return error_set(ret_error, negative_errno(), "%s: cannot remove stale socket: %m",
                                 path);
        return 0;
}

static int sockaddr_for(const char *path, struct sockaddr_un *sa) {
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        strcpy(sa->sun_path, path);
        return 0;
}

int netshim_uapi_listen_at(const char *dir, const char *ifname, mode_t mode, uid_t uid, gid_t gid,
                           char **ret_error) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        int r;

        if (!ifname_ok(ifname))
                return error_set(ret_error, -EINVAL, "invalid interface name");
        r = uapi_dir(dir, ret_error);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%s.sock", dir, ifname) < 0)
                return -ENOMEM;
        if (sockaddr_for(path, &sa) < 0)
                return error_set(ret_error, -ENAMETOOLONG, "%s: path too long for a socket", path);
        r = uapi_clear_stale(path, &sa, ret_error);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "socket: %m");
        /* bind() creates the file with the socket inode's mode minus the umask: start from
         * 0000 so that nobody but root can connect before owner and mode are final. */
        if (fchmod(fd, 0) < 0)
                return error_set(ret_error, negative_errno(), "%s: fchmod: %m", path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return error_set(ret_error, negative_errno(), "%s: cannot bind: %m", path);
        /* As tund@.service runs it the file is already ours and our group's (the engine's):
         * then no chown(2), which its system call filter refuses (@privileged). */
        struct stat st;
        bool owned = lstat(path, &st) >= 0 && (uid == (uid_t) -1 || st.st_uid == uid) &&
                     (gid == (gid_t) -1 || st.st_gid == gid);
        if ((!owned && lchown(path, uid, gid) < 0) || chmod(path, mode) < 0 ||
            listen(fd, SOMAXCONN) < 0) {
                r = error_set(ret_error, negative_errno(), "%s: cannot set up the socket: %m",
                              path);
                (void) unlink(path);
                return r;
        }
        return TAKE_FD(fd);
}

int netshim_uapi_listen(const char *ifname, uid_t uid, gid_t gid, char **ret_error) {
        return netshim_uapi_listen_at(NETSHIM_UAPI_DIR, ifname, NETSHIM_UAPI_MODE, uid, gid,
                                      ret_error);
}
