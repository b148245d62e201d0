/* Detecting the installed wireguard-go and the TUN flags it needs.
 *
 * wireguard-go reads packets from an inherited TUN fd with whatever framing the creator chose,
 * and different releases expect different framing: Debian's 0.0.20220316 expects the 4-byte
 * packet-information header (IFF_TUN without IFF_NO_PI), upstream 0.0.20250515 and later
 * expect none (IFF_NO_PI; they also look at IFF_VNET_HDR). A wrong guess drops every packet
 * silently, so an unknown version is an error unless the caller overrides the flavour. */
#pragma once

#include <stdint.h>

#define ENGINE_DEFAULT_PATH "/usr/bin/wireguard-go"
#define ENGINE_VERSION_MAX 64
#define ENGINE_DEFAULT_TIMEOUT_USEC (5 * UINT64_C(1000000))

typedef enum EngineTunFlavour {
        ENGINE_TUN_FLAVOUR_UNKNOWN = 0, /* "detect" when passed as an override */
        ENGINE_TUN_FLAVOUR_PI,          /* IFF_TUN: packet-info header on every packet */
        ENGINE_TUN_FLAVOUR_NO_PI,       /* IFF_TUN | IFF_NO_PI */
} EngineTunFlavour;

typedef struct EngineInfo {
        char path[256];
        char version[ENGINE_VERSION_MAX]; /* "0.0.20220316", empty if unknown */
        EngineTunFlavour flavour;
        int flavour_overridden; /* the flavour came from the caller, not the version */
} EngineInfo;

/* Runs `PATH --version` (never -h: that creates an interface) with an empty environment and
 * ENGINE_DEFAULT_TIMEOUT_USEC, and derives the flavour from the version. path NULL means
 * ENGINE_DEFAULT_PATH. Returns 0, or -errno with *ret_error (malloc'd) naming the binary and,
 * for an unrecognised version, its output. */
int engine_detect(const char *path, EngineInfo *ret, char **ret_error);

/* As engine_detect(), with a flavour override (ENGINE_TUN_FLAVOUR_UNKNOWN = none) and a
 * timeout (0 = ENGINE_DEFAULT_TIMEOUT_USEC). With an override, a version that cannot be read or classified is not an error;
 * a binary that cannot be run still is. */
int engine_detect_full(const char *path, EngineTunFlavour override, uint64_t timeout_usec,
                       EngineInfo *ret, char **ret_error);

/* Extracts "0.0.20220316" from `wireguard-go --version` output ("wireguard-go v0.0.20220316
 * ..."). Returns 0 or -EINVAL. */
int engine_parse_version(const char *output, char ret_version[ENGINE_VERSION_MAX]);

/* The flavour a version needs, or ENGINE_TUN_FLAVOUR_UNKNOWN when it is not known. */
EngineTunFlavour engine_flavour_from_version(const char *version);

const char *engine_tun_flavour_to_string(EngineTunFlavour f);
/* "pi" or "no-pi" (case-insensitive); ENGINE_TUN_FLAVOUR_UNKNOWN otherwise. */
EngineTunFlavour engine_tun_flavour_from_string(const char *s);
