#include "ipc-internal.h"

Tund__Rpc **ipc_proto_rpc_slot(const ProtobufCMessage *m) {
        const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(m->descriptor, 1);
        if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor != &tund__rpc__descriptor)
                return NULL;
        return (Tund__Rpc **) ((char *) m + f->offset);
}

static bool is_payload(const ProtobufCFieldDescriptor *f) {
        return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type == PROTOBUF_C_TYPE_MESSAGE;
}

uint32_t ipc_proto_payload_case(const ProtobufCMessage *m) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++)
                if (is_payload(&d->fields[i]))
                        return *(const uint32_t *) ((const char *) m +
                                                    d->fields[i].quantifier_offset);
        return 0;
}

void **ipc_proto_payload_slot(const ProtobufCMessage *m, uint32_t field, uint32_t **ret_case) {
        const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(m->descriptor, field);
        if (!f || !is_payload(f))
                return NULL;
        if (ret_case)
                *ret_case = (uint32_t *) ((char *) m + f->quantifier_offset);
        return (void **) ((char *) m + f->offset);
}

uint32_t ipc_proto_error_field(const ProtobufCMessageDescriptor *d) {
        const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(d, "error");
        if (!f || !is_payload(f) || f->descriptor != &tund__error__descriptor)
                return 0;
        return f->id;
}

const char *ipc_proto_field_name(const ProtobufCMessageDescriptor *d, uint32_t field) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, field);
        return f ? f->name : NULL;
}

void ipc_message_freep(ProtobufCMessage **m) {
        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
        *m = NULL;
}

int ipc_proto_prefix_append(Tund__IpPrefix ***v, size_t *n, const void *addr, size_t len,
                            unsigned plen) {
        for (size_t i = 0; i < *n; i++)
                if ((*v)[i]->address.len == len && (*v)[i]->prefix_len == plen &&
                    memcmp((*v)[i]->address.data, addr, len) == 0)
                        return 0;
        _cleanup_free_ Tund__IpPrefix *p = malloc(sizeof(*p));
        _cleanup_free_ uint8_t *data = malloc(MAX(len, (size_t) 1));
        Tund__IpPrefix **slot = p && data ? ARRAY_APPEND(*v, *n) : NULL;
        if (!slot)
                return -ENOMEM;
        tund__ip_prefix__init(p);
        memcpy_safe(data, addr, len);
        p->address = (ProtobufCBinaryData){ .len = len, .data = TAKE_PTR(data) };
        p->prefix_len = plen;
        *slot = TAKE_PTR(p);
        return 0;
}

int ipc_proto_endpoint_append(Tund__Endpoint ***v, size_t *n, const void *addr, size_t len,
                              uint16_t port) {
        for (size_t i = 0; i < *n; i++)
                if ((*v)[i]->address.len == len && (*v)[i]->port == port &&
                    memcmp((*v)[i]->address.data, addr, len) == 0)
                        return 0;
        _cleanup_free_ Tund__Endpoint *e = malloc(sizeof(*e));
        _cleanup_free_ uint8_t *data = malloc(MAX(len, (size_t) 1));
        Tund__Endpoint **slot = e && data ? ARRAY_APPEND(*v, *n) : NULL;
        if (!slot)
                return -ENOMEM;
        tund__endpoint__init(e);
        memcpy_safe(data, addr, len);
        e->address = (ProtobufCBinaryData){ .len = len, .data = TAKE_PTR(data) };
        e->port = port;
        *slot = TAKE_PTR(e);
        return 0;
}
