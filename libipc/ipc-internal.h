/* libipc internals: protobuf reflection over the channel messages' common shape
 * (`Rpc rpc = 1`, `oneof payload`, optional `Error error`). */
#pragma once

#include "ipc.h"

Tund__Rpc **ipc_proto_rpc_slot(const ProtobufCMessage *m);
/* Field number of the oneof member set, 0 if none. */
uint32_t ipc_proto_payload_case(const ProtobufCMessage *m);
/* Pointer to the sub-message pointer of payload member `field`, or NULL if not in the oneof. */
void **ipc_proto_payload_slot(const ProtobufCMessage *m, uint32_t field, uint32_t **ret_case);
/* Field number of the "error" member, 0 if the type has none. */
uint32_t ipc_proto_error_field(const ProtobufCMessageDescriptor *d);
/* Name of payload member `field` ("get_status"), or NULL. */
const char *ipc_proto_field_name(const ProtobufCMessageDescriptor *d, uint32_t field);

/* ipc-fds.c: whether fd may be closed on the spot (see there); what the closers are doing. */
bool ipc_fd_close_is_quick(int fd);
unsigned ipc_closer_threads(void); /* closer threads still running */
unsigned ipc_closer_leaked(void);  /* fds left open because no closer could take them */
