#include <malloc.h>
#include <stdlib.h>

#include "macro.h"
#include "proto-wipe.h"

void (*proto_wipe_observer)(const void *p, size_t n);

static void *wiping_alloc(void *data, size_t size) {
        return malloc(size ? size : 1);
}

static void wiping_free(void *data, void *p) {
        if (!p)
                return;
        /* The allocator is not told the size; malloc is (and sanitizers and valgrind report
         * the requested size here, so only the caller's bytes are written). */
        size_t n = malloc_usable_size(p);
        explicit_wipe(p, n);
        if (proto_wipe_observer)
                proto_wipe_observer(p, n);
        free(p);
}

ProtobufCAllocator proto_wiping_allocator = {
        .alloc = wiping_alloc,
        .free = wiping_free,
};

void proto_free_wiped(ProtobufCMessage *m) {
        if (m)
                protobuf_c_message_free_unpacked(m, &proto_wiping_allocator);
}
