/* Detecting the installed wireguard-go and the TUN flags it needs.
 *
 * wireguard-go reads packets from an inherited TUN fd with whatever framing the creator chose,
 * and different releases expect different framing: Debian's 0.0.20220316 expects the 4-byte
 * packet-information header (IFF_TUN without IFF_NO_PI), upstream 0.0.20250515 and later
 * expect none (IFF_NO_PI; they also look at IFF_VNET_HDR). A wrong guess drops every packet
 * silently, so an unknown version is an error unless the caller overrides the flavour. */
#pragma once

#include <stddef.h>
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

/* Reads the version out of the binary at path, without running it: wireguard-go's version is
 * the Go constant main.Version ("0.0.20220316", from version.go), which the linker stores
 * among the binary's other string constants. The binary must name itself ("wireguard-go v%s"
 * is its --version format) and hold exactly one distinct "0.0.2YYYYMMDD" (plus a git suffix,
 * see engine_find_version()). Nothing is executed: the shim that calls this runs as uid 0,
 * and a version probe must never run the engine with that uid (issue 15). path NULL means
 * ENGINE_DEFAULT_PATH. Returns 0, or -errno with *ret_error (malloc'd) naming the binary. */
int engine_detect(const char *path, EngineInfo *ret, char **ret_error);

/* As engine_detect(), with a flavour override (ENGINE_TUN_FLAVOUR_UNKNOWN = none). With an
 * override, a version that cannot be read or classified is not an error; a file that cannot
 * be read still is. timeout_usec is not used any more (nothing is run); it stays for the
 * callers until they drop it. */
int engine_detect_full(const char *path, EngineTunFlavour override, uint64_t timeout_usec,
                       EngineInfo *ret, char **ret_error);

/* The same on an open file (the tunnel's verified engine); path is for messages. */
int engine_detect_fd(int fd, const char *path, EngineTunFlavour override, EngineInfo *ret,
                     char **ret_error);

/* Finds the version in a binary's bytes: data must contain "wireguard-go" and one distinct
 * "0.0.2" followed by seven digits, not preceded by a digit or a dot, optionally followed by
 * a git suffix ("-3-gabcdef1", "-dirty"). Returns 0, -ENOENT (none) or -ENOTUNIQ (several
 * different ones). */
int engine_find_version(const void *data, size_t size, char ret_version[ENGINE_VERSION_MAX]);

/* The flavour a version needs, or ENGINE_TUN_FLAVOUR_UNKNOWN when it is not known. */
EngineTunFlavour engine_flavour_from_version(const char *version);

const char *engine_tun_flavour_to_string(EngineTunFlavour f);
/* "pi" or "no-pi" (case-insensitive); ENGINE_TUN_FLAVOUR_UNKNOWN otherwise. */
EngineTunFlavour engine_tun_flavour_from_string(const char *s);
