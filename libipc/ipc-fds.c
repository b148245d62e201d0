/* Descriptors from peers: refusing them where none is expected, and closing the ones we did not
 * want without ever blocking the event loop. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "ipc-internal.h"

/* Linux 6.16 (include/uapi/asm-generic/socket.h and the arch variants); glibc's headers may
 * not have it yet. An older kernel answers ENOPROTOOPT. */
#ifndef SO_PASSRIGHTS
#if defined(__parisc__)
#define SO_PASSRIGHTS 0x4051
#elif defined(__sparc__)
#define SO_PASSRIGHTS 0x005c
#else
#define SO_PASSRIGHTS 83
#endif
#endif

int ipc_socket_refuse_fds(int fd) {
        int off = 0;
        if (setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off)) >= 0)
                return 1;
        /* ENOPROTOOPT/EINVAL: a kernel before 6.16; EOPNOTSUPP/ENOTSOCK: not a unix socket, which
         * cannot receive descriptors anyway. */
        if (errno == ENOPROTOOPT || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOTSOCK)
                return 0;
        return negative_errno();
}

/* Closing a descriptor a peer sent can block for as long as that peer likes: close() runs the
 * file's ->flush (FUSE and NFS wait for their server there, on every close), and the last
 * reference runs its release (a TCP socket with SO_LINGER waits out its linger time, a CUSE
 * device waits for its daemon, and a unix socket releases the files still queued in it, whose
 * own release then runs in this thread as task work). Nothing tells these apart for sure
 * without asking the filesystem, which can block as well. So the loop closes on the spot only
 * the kinds it can show harmless without waiting on anyone (below: pipes, shmem files, a few
 * character devices, unix sockets with nothing queued), and a detached thread closes the rest:
 * a close that hangs costs that thread, never the loop. Not everything in a thread, because
 * the common kinds (what the shim channel carries: the TUN device and a unix listening socket)
 * are then gone from the fd table when the call returns, as callers and fd-counting tests
 * expect. */
static bool unix_socket_is_quiet(int fd) {
        /* Once it refuses SCM_RIGHTS, nothing with descriptors can be queued to it any more,
         * and an empty queue (no pending connection, for a listener) holds none: its release
         * releases nothing but itself. Without SO_PASSRIGHTS a peer could queue files between
         * the look and the close. With it, only a sender already past the kernel's check when
         * we set it could (a window of a few instructions); on Linux 6.16+ only the shim, who
         * is root, sends us fds at all. The looks take no lock a peer could hold: a peek
         * would wait for the socket's iolock, which a reader copying into a page that never
         * arrives (userfaultfd, FUSE) holds for as long as it likes. */
        if (ipc_socket_refuse_fds(fd) <= 0)
                return false; /* (it is the sender's socket too: it refuses fds from now on) */
        int type = 0, listening = 0;
        socklen_t l1 = sizeof(type), l2 = sizeof(listening);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l2) < 0)
                return false;
        if (type == SOCK_STREAM && !listening) {
                /* The bytes queued: a stream skb holding fds always has unread bytes. Unlike
                 * POLLIN, not set by EOF alone. */
                int queued;
                return ioctl(fd, SIOCINQ, &queued) >= 0 && queued == 0;
        }
        /* Pending connections for a listener, any datagram (an empty one may carry fds) for
         * the others; also set on EOF, which then goes to a thread too. */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, 0) == 0;
}

static bool chr_is_quiet(unsigned maj, unsigned min) {
        /* /dev/null, zero, full, random, urandom; the TUN device (what StartSession carries). */
        if (maj == 1)
                return min == 3 || min == 5 || min == 7 || min == 8 || min == 9;
        return maj == 10 && min == 200;
}

bool ipc_fd_close_is_quick(int fd) {
        int family;
        socklen_t len = sizeof(family);
        /* Asks the socket layer only. */
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) >= 0)
                return family == AF_UNIX && unix_socket_is_quiet(fd);
        if (errno != ENOTSOCK)
                return false;
        /* AT_STATX_DONT_SYNC: what the kernel has cached, no round trip to a FUSE or NFS
         * server. The type decides whose code close() runs: a FIFO's or a device node's is the
         * pipe's or the driver's, wherever the node lives. */
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &sx) < 0 ||
            !(sx.stx_mask & STATX_TYPE))
                return false;
        switch (sx.stx_mode & S_IFMT) {
        case S_IFIFO:
                return true;
        case S_IFCHR:
                return chr_is_quiet(sx.stx_rdev_major, sx.stx_rdev_minor);
        case S_IFREG:
                /* Only shmem (memfd, tmpfs) answers F_GET_SEALS; it has no ->flush and its
                 * release does not wait. */
                return fcntl(fd, F_GET_SEALS) >= 0;
        default:
                return false;
        }
}

/* ---- the closer threads ---- */

#define CLOSER_THREADS_MAX 16u /* beyond this many hanging closes, descriptors are leaked */
#define CLOSER_STACK_SIZE (256u * 1024u)

static atomic_uint closer_threads;
static atomic_uint closer_leaked;

typedef struct CloseJob {
        size_t n;
        int fds[];
} CloseJob;

static void *closer_main(void *userdata) {
        CloseJob *j = userdata;
        for (size_t i = 0; i < j->n; i++)
                (void) close(j->fds[i]);
        free(j);
        atomic_fetch_sub(&closer_threads, 1);
        return NULL;
}

static int closer_start(CloseJob *j) {
        if (atomic_fetch_add(&closer_threads, 1) >= CLOSER_THREADS_MAX) {
                atomic_fetch_sub(&closer_threads, 1);
                return -EBUSY;
        }
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0) {
                atomic_fetch_sub(&closer_threads, 1);
                return -ENOMEM;
        }
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_attr_setstacksize(&attr, CLOSER_STACK_SIZE);
        /* The thread must not take our signals (sd-event reads them from a signalfd). */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_t tid;
        int r = pthread_create(&tid, &attr, closer_main, j);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                atomic_fetch_sub(&closer_threads, 1);
                return -r;
        }
        return 0;
}

void ipc_close_received_fds(int *fds, size_t n) {
        CloseJob *j = NULL;
        for (size_t i = 0; i < n; i++) {
                if (fds[i] < 0)
                        continue;
                if (ipc_fd_close_is_quick(fds[i])) {
                        fds[i] = safe_close(fds[i]);
                        continue;
                }
                if (!j) {
                        j = malloc(sizeof(*j) + n * sizeof(int));
                        if (!j)
                                break;
                        j->n = 0;
                }
                j->fds[j->n++] = fds[i];
                fds[i] = -EBADF;
        }
        if (!j) {
                /* Out of memory: what is left stays open rather than block the loop. */
                for (size_t i = 0; i < n; i++)
                        if (fds[i] >= 0) {
                                atomic_fetch_add(&closer_leaked, 1);
                                fds[i] = -EBADF;
                        }
                return;
        }
        if (closer_start(j) < 0) {
                /* Every closer hangs already (or no thread can be made): a peer is feeding us
                 * descriptors that block. Leaking costs a table slot each, bounded by
                 * RLIMIT_NOFILE; blocking would cost every peer the loop. */
                atomic_fetch_add(&closer_leaked, (unsigned) j->n);
                free(j);
        }
}

int ipc_close_received_fd(int fd) {
        ipc_close_received_fds(&fd, 1);
        return -EBADF;
}

unsigned ipc_closer_threads(void) {
        return atomic_load(&closer_threads);
}

unsigned ipc_closer_leaked(void) {
        return atomic_load(&closer_leaked);
}
