/* WireGuard key encodings. Every character is mapped with masks built from range checks rather
 * than table lookups or branches, so the time taken does not depend on the key, in the manner
 * of wireguard-tools' encoding.c. Validity is accumulated and checked once at the end. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "wg-key.h"

/* All ones when lo <= x <= hi, else zero: both differences are negative only inside the
 * range, and the arithmetic shift smears the sign bit. x is at most 255, so 8 bits suffice. */
static inline int in_range_mask(int x, int lo, int hi) {
        return (((lo - 1) - x) & (x - (hi + 1))) >> 8;
}

/* 0..63, or -1 for a character outside the base64 alphabet. */
static int b64_decode_char(unsigned char c) {
        int x = c, v = -1;

        v += in_range_mask(x, 'A', 'Z') & (x - 'A' + 1);
        v += in_range_mask(x, 'a', 'z') & (x - 'a' + 26 + 1);
        v += in_range_mask(x, '0', '9') & (x - '0' + 52 + 1);
        v += in_range_mask(x, '+', '+') & (62 + 1);
        v += in_range_mask(x, '/', '/') & (63 + 1);
        return v;
}

static char b64_encode_char(unsigned v) {
        int x = (int) (v & 63);

        /* Start at 'A' and shift into the next sub-alphabet at each boundary. */
        return (char) (x + 'A' + (((25 - x) >> 8) & 6) - (((51 - x) >> 8) & 75) -
                       (((61 - x) >> 8) & 15) + (((62 - x) >> 8) & 3));
}

static int hex_decode_char(unsigned char c) {
        int x = c, v = -1;

        v += in_range_mask(x, '0', '9') & (x - '0' + 1);
        v += in_range_mask(x, 'a', 'f') & (x - 'a' + 10 + 1);
        v += in_range_mask(x, 'A', 'F') & (x - 'A' + 10 + 1);
        return v;
}

static char hex_encode_char(unsigned v) {
        int x = (int) (v & 15);

        return (char) (x + '0' + (((9 - x) >> 8) & ('a' - '0' - 10)));
}

int wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *b64) {
        int bad = 0;
        unsigned i;

        /* The length and the padding position are public; only the key bits are secret. */
        if (!b64 || strnlen(b64, WG_KEY_B64_LEN + 1) != WG_KEY_B64_LEN ||
            b64[WG_KEY_B64_LEN - 1] != '=')
                return -EINVAL;

        /* 10 full quads give 30 bytes. */
        for (i = 0; i < WG_KEY_LEN / 3; i++) {
                int a = b64_decode_char((unsigned char) b64[i * 4]);
                int b = b64_decode_char((unsigned char) b64[i * 4 + 1]);
                int c = b64_decode_char((unsigned char) b64[i * 4 + 2]);
                int d = b64_decode_char((unsigned char) b64[i * 4 + 3]);
                unsigned v = ((unsigned) a << 18) | ((unsigned) b << 12) | ((unsigned) c << 6) |
                             (unsigned) d;

                bad |= a | b | c | d;
                key[i * 3] = (uint8_t) (v >> 16);
                key[i * 3 + 1] = (uint8_t) (v >> 8);
                key[i * 3 + 2] = (uint8_t) v;
        }

        /* The final quad "xyz=" holds 18 bits for the last 2 bytes: the low 2 bits must be zero
         * or the text is not the canonical encoding of any key. */
        {
                int a = b64_decode_char((unsigned char) b64[40]);
                int b = b64_decode_char((unsigned char) b64[41]);
                int c = b64_decode_char((unsigned char) b64[42]);
                unsigned v = ((unsigned) a << 12) | ((unsigned) b << 6) | (unsigned) c;

                bad |= a | b | c;
                bad |= -(int) (v & 3);
                key[30] = (uint8_t) (v >> 10);
                key[31] = (uint8_t) (v >> 2);
        }

        if (bad < 0) {
                explicit_wipe(key, WG_KEY_LEN);
                return -EINVAL;
        }
        return 0;
}

void wg_key_to_base64(char out[WG_KEY_B64_LEN + 1], const uint8_t key[WG_KEY_LEN]) {
        unsigned i;

        for (i = 0; i < WG_KEY_LEN / 3; i++) {
                unsigned v = ((unsigned) key[i * 3] << 16) | ((unsigned) key[i * 3 + 1] << 8) |
                             key[i * 3 + 2];

                out[i * 4] = b64_encode_char(v >> 18);
                out[i * 4 + 1] = b64_encode_char(v >> 12);
                out[i * 4 + 2] = b64_encode_char(v >> 6);
                out[i * 4 + 3] = b64_encode_char(v);
        }
        {
                unsigned v = ((unsigned) key[30] << 10) | ((unsigned) key[31] << 2);

                out[40] = b64_encode_char(v >> 12);
                out[41] = b64_encode_char(v >> 6);
                out[42] = b64_encode_char(v);
                out[43] = '=';
                out[44] = '\0';
        }
}

int wg_key_from_hex(uint8_t key[WG_KEY_LEN], const char *hex) {
        int bad = 0;

        if (!hex || strnlen(hex, WG_KEY_HEX_LEN + 1) != WG_KEY_HEX_LEN)
                return -EINVAL;

        for (unsigned i = 0; i < WG_KEY_LEN; i++) {
                int hi = hex_decode_char((unsigned char) hex[i * 2]);
                int lo = hex_decode_char((unsigned char) hex[i * 2 + 1]);

                bad |= hi | lo;
                key[i] = (uint8_t) (((unsigned) hi << 4) | ((unsigned) lo & 15));
        }

        if (bad < 0) {
                explicit_wipe(key, WG_KEY_LEN);
                return -EINVAL;
        }
        return 0;
}

void wg_key_to_hex(char out[WG_KEY_HEX_LEN + 1], const uint8_t key[WG_KEY_LEN]) {
        for (unsigned i = 0; i < WG_KEY_LEN; i++) {
                out[i * 2] = hex_encode_char(key[i] >> 4);
                out[i * 2 + 1] = hex_encode_char(key[i]);
        }
        out[WG_KEY_HEX_LEN] = '\0';
}

int wg_key_is_zero(const uint8_t key[WG_KEY_LEN]) {
        unsigned acc = 0;

        for (unsigned i = 0; i < WG_KEY_LEN; i++)
                acc |= key[i];
        /* 1 when acc == 0: acc - 1 underflows and sets bit 8 only then. */
        return (int) (((acc - 1) >> 8) & 1);
}
