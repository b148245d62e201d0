#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "fd-util.h"
#include "error-util.h"
#include "macro.h"
#include "tunnel.h"

static int check_unix_stream(int fd, const char *what, char **ret_error) {
        struct stat st;
        int v;
        socklen_t l = sizeof(v);

        if (fstat(fd, &st) < 0)
                return error_set(ret_error, negative_errno(), "fd %d (%s) is not open: %m", fd,
                                 what);
        if (!S_ISSOCK(st.st_mode))
                return error_set(ret_error, -ENOTSOCK, "fd %d (%s) is not a socket", fd, what);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || v != AF_UNIX)
                return error_set(ret_error, -EAFNOSUPPORT, "fd %d (%s) is not an AF_UNIX socket",
                                 fd, what);
        l = sizeof(v);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM)
                return error_set(ret_error, -ESOCKTNOSUPPORT, "fd %d (%s) is not a stream socket",
                                 fd, what);
        return 0;
}

static int listening(int fd) {
        int v = 0;
        socklen_t l = sizeof(v);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0)
                return negative_errno();
        return v;
}

int tunnel_check_ipc_fd(int fd, char **ret_error) {
        int r = check_unix_stream(fd, "tunnel channel", ret_error);
        if (r < 0)
                return r;
        if (listening(fd) > 0)
                return error_set(ret_error, -EINVAL,
                                 "fd %d (tunnel channel) is a listening socket, not a connection",
                                 fd);
        return fd_set_cloexec(fd, true);
}

int tunnel_check_tun_fd(int fd, char ret_ifname[16], unsigned *ret_flags, char **ret_error) {
        struct stat st;
        struct ifreq ifr = {};

        if (fstat(fd, &st) < 0)
                return error_set(ret_error, negative_errno(), "fd %d (TUN) is not open: %m", fd);
        if (!S_ISCHR(st.st_mode))
                return error_set(ret_error, -ENOTTY, "fd %d (TUN) is not a character device", fd);
        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return error_set(ret_error, negative_errno(),
                                 "fd %d (TUN) is not an attached TUN device (TUNGETIFF: %m)", fd);
        if (!(ifr.ifr_flags & IFF_TUN) || (ifr.ifr_flags & IFF_TAP))
                return error_set(ret_error, -EINVAL, "fd %d (TUN) is a TAP device, not a TUN", fd);
        memcpy(ret_ifname, ifr.ifr_name, IFNAMSIZ);
        ret_ifname[IFNAMSIZ - 1] = 0;
        *ret_flags = (unsigned) (unsigned short) ifr.ifr_flags;
        return fd_set_cloexec(fd, true);
}

int tunnel_check_uapi_fd(int fd, char *ret_path, size_t size, char **ret_error) {
        struct sockaddr_un sa = {};
        socklen_t l = sizeof(sa);

        int r = check_unix_stream(fd, "UAPI socket", ret_error);
        if (r < 0)
                return r;
        if (listening(fd) <= 0)
                return error_set(ret_error, -EINVAL, "fd %d (UAPI socket) is not listening", fd);
        if (getsockname(fd, (struct sockaddr *) &sa, &l) < 0)
                return error_set(ret_error, negative_errno(),
                                 "fd %d (UAPI socket): getsockname: %m", fd);
        size_t plen = l > offsetof(struct sockaddr_un, sun_path)
                              ? strnlen(sa.sun_path, l - offsetof(struct sockaddr_un, sun_path))
                              : 0;
        if (plen == 0 || sa.sun_path[0] == 0)
                return error_set(ret_error, -EINVAL,
                                 "fd %d (UAPI socket) is not bound to a path (unnamed or abstract)",
                                 fd);
        if (plen >= size)
                return error_set(ret_error, -ENAMETOOLONG, "fd %d (UAPI socket): path too long",
                                 fd);
        memcpy(ret_path, sa.sun_path, plen);
        ret_path[plen] = 0;
        return fd_set_cloexec(fd, true);
}

static void status_field(const char *status, const char *key, char *buf, size_t size) {
        const char *p = strstr(status, key);
        size_t n = 0;
        if (p) {
                p += strlen(key);
                p += strspn(p, " \t");
                n = strcspn(p, "\n");
        }
        snprintf(buf, size, "%.*s", (int) (p ? n : 1), p ? p : "?");
}

int tunnel_describe_credentials(char *buf, size_t size) {
        char status[4096], nnp[8], eff[24], prm[24], amb[24];
        ssize_t n = 0;
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, status, sizeof(status) - 1);
                safe_close(fd);
        }
        status[n > 0 ? n : 0] = 0;
        int nonewprivs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        snprintf(nnp, sizeof(nnp), "%s", nonewprivs < 0 ? "?" : nonewprivs ? "1" : "0");
        status_field(status, "\nCapEff:", eff, sizeof(eff));
        status_field(status, "\nCapPrm:", prm, sizeof(prm));
        status_field(status, "\nCapAmb:", amb, sizeof(amb));
        snprintf(buf, size, "uid=%u euid=%u gid=%u NoNewPrivs=%s CapEff=%s CapPrm=%s CapAmb=%s",
                 (unsigned) getuid(), (unsigned) geteuid(), (unsigned) getgid(), nnp, eff, prm,
                 amb);
        return 0;
}
