/* One UAPI transaction on sd-event: connect to the engine's socket (retrying while it is not
 * there yet), write a request, read the reply up to its blank line, all within one deadline.
 * Every started call ends in exactly one callback, unless it is freed first. */
#pragma once

#include <systemd/sd-event.h>

#include "tunnel-uapi.h"

typedef struct UapiCall UapiCall;

/* error: 0 and the reply (complete, wiped after the callback returns), or -ETIMEDOUT (no
 * complete reply before the deadline), -ECONNRESET (the engine closed early), -EMSGSIZE (reply
 * over UAPI_REPLY_MAX), -ENOENT/-ECONNREFUSED (nobody listened until the deadline), other
 * -errno. The call is freed after the callback returns. */
typedef void (*UapiCallHandler)(int error, const char *reply, size_t len, void *userdata);

/* Takes the request (wiped and freed in any case). */
int uapi_call_start(sd_event *e, const char *path, SecBuf *request, uint64_t timeout_usec,
                    UapiCallHandler cb, void *userdata, UapiCall **ret);
/* Cancels without a callback. NULL-safe; returns NULL. */
UapiCall *uapi_call_free(UapiCall *c);
