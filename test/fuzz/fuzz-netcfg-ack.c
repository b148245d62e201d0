/* libFuzzer harness for libnetcfg's netlink ack parser (kernel ext-ack TLVs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* netlink messages are 4-byte aligned in the receive buffer */
        uint32_t *buf = malloc(size + 4);
        const char *extack;
        int error;

        if (!buf)
                abort();
        memcpy(buf, data, size);
        if (netcfg_nlmsg_parse_ack((const struct nlmsghdr *) buf, size, &error, &extack) >= 0 &&
            extack)
                (void) strlen(extack);
        free(buf);
        return 0;
}
