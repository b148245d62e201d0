/* A protobuf-c allocator that wipes every block it frees. Messages that may carry keys (the
 * WireGuard config in StartSession/StartRequest, a profile's WgConfig) are unpacked and freed
 * with it, so private and preshared keys do not linger in freed heap memory.
 *
 * Blocks come from malloc(), so a message allocated with it may also be freed with the
 * default allocator (it is then merely not wiped), and a message built by hand with malloc'd
 * fields may be freed with it. */
#pragma once

#include <protobuf-c/protobuf-c.h>

extern ProtobufCAllocator proto_wiping_allocator;

/* protobuf_c_message_free_unpacked() with the wiping allocator; NULL-safe. */
void proto_free_wiped(ProtobufCMessage *m);

/* Tests only: called with each block right after it was wiped, before it is freed. */
extern void (*proto_wipe_observer)(const void *p, size_t n);
