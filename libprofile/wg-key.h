/* WireGuard keys: 32 bytes, written as 44 characters of base64 in profiles and as 64 lowercase
 * hex digits on the UAPI. Decoding is strict (exact length, canonical padding, no whitespace)
 * and does not branch on key bits. Callers wipe key buffers with explicit_wipe() after use. */
#pragma once

#include <stdint.h>

#define WG_KEY_LEN 32
#define WG_KEY_B64_LEN 44
#define WG_KEY_HEX_LEN 64

/* 0, or -EINVAL if b64 is not exactly the base64 of 32 bytes. */
int wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *b64);
void wg_key_to_base64(char out[WG_KEY_B64_LEN + 1], const uint8_t key[WG_KEY_LEN]);
/* 0, or -EINVAL if hex is not exactly 64 hex digits. */
int wg_key_from_hex(uint8_t key[WG_KEY_LEN], const char *hex);
void wg_key_to_hex(char out[WG_KEY_HEX_LEN + 1], const uint8_t key[WG_KEY_LEN]);
/* True for the all-zero key (wireguard's "unset"). */
int wg_key_is_zero(const uint8_t key[WG_KEY_LEN]);
