/* Key codec: round trips, canonical-only base64, strict hex. */
#include <stdint.h>
#include <string.h>

#include "tests.h"
#include "wg-key.h"

static const char seq_b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char seq_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(base64_known_vector) {
        uint8_t key[WG_KEY_LEN];
        char out[WG_KEY_B64_LEN + 1];

        ASSERT_EQ(wg_key_from_base64(key, seq_b64), 0);
        for (int i = 0; i < WG_KEY_LEN; i++)
                ASSERT_EQ(key[i], i);
        wg_key_to_base64(out, key);
        ASSERT_STREQ(out, seq_b64);
}

TEST(base64_round_trip_all_byte_values) {
        uint8_t key[WG_KEY_LEN], back[WG_KEY_LEN];
        char b64[WG_KEY_B64_LEN + 1];

        /* Every byte value in every position class (mod 3) goes through both directions. */
        for (int v = 0; v < 256; v++) {
                for (int i = 0; i < WG_KEY_LEN; i++)
                        key[i] = (uint8_t) (v + i * 7);
                wg_key_to_base64(b64, key);
                ASSERT_EQ(strlen(b64), WG_KEY_B64_LEN);
                ASSERT_EQ(b64[43], '=');
                ASSERT_EQ(wg_key_from_base64(back, b64), 0);
                ASSERT_TRUE(memcmp(key, back, WG_KEY_LEN) == 0);
        }
}

TEST(base64_real_keys) {
        static const char *const keys[] = {
                "cCPJ1wsALzUCpr1lDIPG3zq4DbknLH4KYzbXXmlEslc=",
                "4QZ9dRa7qbzLtWhDGxXSUvhP3rx/tj7ZO3o9IilOwGY=",
                "CCo+TDe6IKM1PLT+Ve1DN66+yQM6+pQ27F5XxyVIq2Y=",
                "/VYgaSKPs2ZFmPJ+4YCRBmScucg+B4ALXAhSLhRuMEY=",
        };
        uint8_t key[WG_KEY_LEN];
        char out[WG_KEY_B64_LEN + 1];

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                ASSERT_EQ(wg_key_from_base64(key, keys[i]), 0);
                wg_key_to_base64(out, key);
                ASSERT_STREQ(out, keys[i]);
        }
}

TEST(base64_rejects_wrong_length) {
        uint8_t key[WG_KEY_LEN];

        ASSERT_EQ(wg_key_from_base64(key, ""), -EINVAL);
        ASSERT_EQ(wg_key_from_base64(key, NULL), -EINVAL);
        /* 43 (no padding), 45 (extra), 48 (33 bytes) */
        ASSERT_EQ(wg_key_from_base64(key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"), -EINVAL);
        ASSERT_EQ(wg_key_from_base64(key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=="),
                  -EINVAL);
        ASSERT_EQ(wg_key_from_base64(key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ=="),
                  -EINVAL);
        /* 31 bytes encode to 44 characters ending in "==" */
        ASSERT_EQ(wg_key_from_base64(key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="), -EINVAL);
        /* whitespace is not stripped */
        ASSERT_EQ(wg_key_from_base64(key, " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
                  -EINVAL);
}

TEST(base64_rejects_non_canonical_padding_bits) {
        uint8_t key[WG_KEY_LEN];
        char s[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

        /* '8' = 60 = 0b111100: the two low bits are unused and must be zero. '9' (61), '+' (62)
         * and '/' (63) decode to the same key bytes but are not canonical. */
        ASSERT_EQ(wg_key_from_base64(key, s), 0);
        s[42] = '9';
        ASSERT_EQ(wg_key_from_base64(key, s), -EINVAL);
        s[42] = '+';
        ASSERT_EQ(wg_key_from_base64(key, s), -EINVAL);
        s[42] = '/';
        ASSERT_EQ(wg_key_from_base64(key, s), -EINVAL);
        s[42] = '4'; /* 56 = 0b111000: canonical, a different key */
        ASSERT_EQ(wg_key_from_base64(key, s), 0);
        ASSERT_EQ(key[31], 0x1e);
}

TEST(base64_rejects_bad_characters) {
        uint8_t key[WG_KEY_LEN];
        const char *bad = "-_.=*\x80\xff\n ";

        for (const char *c = bad; *c; c++) {
                char s[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

                for (int pos = 0; pos < 43; pos++) {
                        char saved = s[pos];

                        s[pos] = *c;
                        if (wg_key_from_base64(key, s) != -EINVAL)
                                FAILF("accepted 0x%02x at %d", (unsigned char) *c, pos);
                        s[pos] = saved;
                }
        }
        /* padding in the wrong place */
        ASSERT_EQ(wg_key_from_base64(key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH=8A"), -EINVAL);
}

TEST(base64_failure_wipes_output) {
        uint8_t key[WG_KEY_LEN];

        memset(key, 0xaa, sizeof(key));
        ASSERT_EQ(wg_key_from_base64(key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9="), -EINVAL);
        ASSERT_TRUE(wg_key_is_zero(key));
}

TEST(hex_round_trip) {
        uint8_t key[WG_KEY_LEN], back[WG_KEY_LEN];
        char hex[WG_KEY_HEX_LEN + 1];

        ASSERT_EQ(wg_key_from_hex(key, seq_hex), 0);
        for (int i = 0; i < WG_KEY_LEN; i++)
                ASSERT_EQ(key[i], i);
        wg_key_to_hex(hex, key);
        ASSERT_STREQ(hex, seq_hex);

        for (int v = 0; v < 256; v++) {
                memset(key, v, sizeof(key));
                key[0] = (uint8_t) ~v;
                wg_key_to_hex(hex, key);
                ASSERT_EQ(wg_key_from_hex(back, hex), 0);
                ASSERT_TRUE(memcmp(key, back, WG_KEY_LEN) == 0);
        }
        /* uppercase is read, lowercase is written */
        ASSERT_EQ(wg_key_from_hex(
                          key, "FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100"),
                  0);
        wg_key_to_hex(hex, key);
        ASSERT_STREQ(hex, "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100");
}

TEST(hex_rejects) {
        uint8_t key[WG_KEY_LEN];
        char s[WG_KEY_HEX_LEN + 1];

        ASSERT_EQ(wg_key_from_hex(key, NULL), -EINVAL);
        ASSERT_EQ(wg_key_from_hex(key, ""), -EINVAL);
        ASSERT_EQ(wg_key_from_hex(key, "00"), -EINVAL);
        memcpy(s, seq_hex, sizeof(s));
        s[63] = '\0';
        ASSERT_EQ(wg_key_from_hex(key, s), -EINVAL);
        ASSERT_EQ(
                wg_key_from_hex(
                        key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00"),
                -EINVAL);
        for (const char *c = "gG/:@`x \n"; *c; c++) {
                memcpy(s, seq_hex, sizeof(s));
                s[17] = *c;
                ASSERT_EQ(wg_key_from_hex(key, s), -EINVAL);
        }
}

TEST(zero_key) {
        uint8_t key[WG_KEY_LEN] = {};

        ASSERT_TRUE(wg_key_is_zero(key));
        for (int i = 0; i < WG_KEY_LEN; i++) {
                key[i] = 1;
                ASSERT_TRUE(!wg_key_is_zero(key));
                key[i] = 0x80;
                ASSERT_TRUE(!wg_key_is_zero(key));
                key[i] = 0;
        }
        ASSERT_EQ(wg_key_from_base64(key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 0);
        ASSERT_EQ(wg_key_is_zero(key), 1);
}
