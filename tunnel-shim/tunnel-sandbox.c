/* The engine's sandbox: a seccomp filter the tunnel installs on itself before spawning
 * wireguard-go (filters are inherited across fork and exec, and need no privilege under
 * NoNewPrivs, which the helper set for us).
 *
 * Debian's wireguard-go sets the MTU of the TUN it is given (SIOCSIFMTU, from
 * CreateTUNFromFile) and exits when that fails, as it does without CAP_NET_ADMIN. The shim
 * sets the link's MTU itself, so the engine needs no privilege at all: the filter makes that
 * one ioctl return 0 without running. Everything else passes (a filter with one rule costs
 * nothing measurable per packet: the data path does read/write/sendmsg/recvmsg, not ioctl). */
#include <errno.h>
#include <linux/sockios.h>
#include <seccomp.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "tunnel.h"

int tunnel_sandbox_install(void) {
        static bool installed; /* once per process: a respawned engine inherits it too */
        scmp_filter_ctx ctx;
        int r;

        if (installed)
                return 0;
        /* The helper sets it for us; without it (tests) loading a filter needs CAP_SYS_ADMIN. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        /* The request is an unsigned long in the kernel, an int in Go's wrapper: compare the
         * low 32 bits. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, SIOCSIFMTU));
        if (r >= 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        if (r < 0)
                return r;
        installed = true;
        return 0;
}
