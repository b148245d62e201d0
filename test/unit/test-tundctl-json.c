/* tundctl's JSON emitter: string escaping and structure. */
#include <stdio.h>

#include "tests.h"
#include "tundctl.h"

/* Runs json_write_string on s and returns the output (static buffer). */
static const char *esc(const char *s) {
        static char out[1024];
        FILE *f = fmemopen(out, sizeof(out), "w");
        if (!f)
                FAILF("fmemopen");
        json_write_string(f, s);
        fclose(f);
        return out;
}

TEST(json_escape_plain) {
        ASSERT_STREQ(esc(""), "\"\"");
        ASSERT_STREQ(esc("work"), "\"work\"");
        ASSERT_STREQ(esc("192.0.2.1:51820"), "\"192.0.2.1:51820\"");
        ASSERT_STREQ(esc(NULL), "null");
}

TEST(json_escape_quote_backslash) {
        ASSERT_STREQ(esc("a\"b"), "\"a\\\"b\"");
        ASSERT_STREQ(esc("a\\b"), "\"a\\\\b\"");
        ASSERT_STREQ(esc("\\\""), "\"\\\\\\\"\"");
        /* '/' needs no escape */
        ASSERT_STREQ(esc("/etc/tund"), "\"/etc/tund\"");
}

TEST(json_escape_control) {
        ASSERT_STREQ(esc("a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
        ASSERT_STREQ(esc("\b\f"), "\"\\b\\f\"");
        ASSERT_STREQ(esc("\x01"), "\"\\u0001\"");
        ASSERT_STREQ(esc("\x1f"), "\"\\u001f\"");
        ASSERT_STREQ(esc("\x1b[31m"), "\"\\u001b[31m\"");
        ASSERT_STREQ(esc("\x7f"), "\"\\u007f\"");
}

TEST(json_escape_utf8_valid_kept) {
        ASSERT_STREQ(esc("caf\xc3\xa9"), "\"caf\xc3\xa9\"");           /* é */
        ASSERT_STREQ(esc("\xe2\x80\xa6"), "\"\xe2\x80\xa6\"");         /* … */
        ASSERT_STREQ(esc("\xf0\x9f\x94\x91"), "\"\xf0\x9f\x94\x91\""); /* U+1F511 */
        ASSERT_STREQ(esc("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
}

TEST(json_escape_line_separators) {
        ASSERT_STREQ(esc("a\xe2\x80\xa8"
                         "b"),
                     "\"a\\u2028b\"");
        ASSERT_STREQ(esc("\xe2\x80\xa9"), "\"\\u2029\"");
}

TEST(json_escape_utf8_invalid_replaced) {
        ASSERT_STREQ(esc("\xff"), "\"\\ufffd\"");
        ASSERT_STREQ(esc("a\x80"
                         "b"),
                     "\"a\\ufffdb\"");                       /* lone continuation */
        ASSERT_STREQ(esc("\xc3"), "\"\\ufffd\"");            /* truncated at end */
        ASSERT_STREQ(esc("\xc3(x"), "\"\\ufffd(x\"");        /* bad continuation */
        ASSERT_STREQ(esc("\xc0\xaf"), "\"\\ufffd\\ufffd\""); /* overlong '/' */
        ASSERT_STREQ(esc("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");
        ASSERT_STREQ(esc("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate D800 */
        ASSERT_STREQ(esc("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > 10FFFF */
        ASSERT_STREQ(esc("\xf5\x80\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static char *emit(void (*fn)(Json *j)) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        Json j;

        json_init(&j, f);
        fn(&j);
        fclose(f);
        return buf;
}

static void doc_nested(Json *j) {
        json_document_begin(j);
        json_kv_string(j, "a", "x");
        json_key(j, "list");
        json_array_begin(j);
        json_uint(j, 1);
        json_int(j, -2);
        json_bool(j, true);
        json_null(j);
        json_object_begin(j);
        json_object_end(j);
        json_array_begin(j);
        json_array_end(j);
        json_array_end(j);
        json_key(j, "o");
        json_object_begin(j);
        json_kv_bool(j, "b", false);
        json_kv_uint(j, "u", UINT64_MAX);
        json_kv_int(j, "i", INT64_MIN);
        json_object_end(j);
        json_document_end(j);
}

TEST(json_structure) {
        _cleanup_free_ char *s = emit(doc_nested);
        ASSERT_STREQ(s, "{\"schema\":1,\"a\":\"x\",\"list\":[1,-2,true,null,{},[]],"
                        "\"o\":{\"b\":false,\"u\":18446744073709551615,"
                        "\"i\":-9223372036854775808}}\n");
        ASSERT_TRUE(tundctl_json_done);
}

static void doc_keys_escaped(Json *j) {
        json_object_begin(j);
        json_kv_string(j, "k\"ey", "v\n");
        json_object_end(j);
}

TEST(json_keys_escaped) {
        _cleanup_free_ char *s = emit(doc_keys_escaped);
        ASSERT_STREQ(s, "{\"k\\\"ey\":\"v\\n\"}");
}

static void doc_peer(Json *j) {
        uint8_t a[4] = { 10, 0, 0, 0 };
        Tund__IpPrefix p = TUND__IP_PREFIX__INIT, *pp[1] = { &p };
        Tund__PeerState ps = TUND__PEER_STATE__INIT;
        p.address.data = a;
        p.address.len = 4;
        p.prefix_len = 8;
        ps.public_key = (char *) "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        ps.endpoint = (char *) "";
        ps.last_handshake_sec = 1000;
        ps.rx_bytes = 5;
        ps.allowed_ips = pp;
        ps.n_allowed_ips = 1;
        ps.has_preshared_key = true;
        json_peer_state(j, &ps, 1010);
}

TEST(json_peer_state_shape) {
        _cleanup_free_ char *s = emit(doc_peer);
        ASSERT_STREQ(s, "{\"public_key\":\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\","
                        "\"endpoint\":null,\"last_handshake_sec\":1000,\"handshake_age_sec\":10,"
                        "\"rx_bytes\":5,\"tx_bytes\":0,\"allowed_ips\":[\"10.0.0.0/8\"],"
                        "\"persistent_keepalive\":0,\"has_preshared_key\":true,\"stale\":false}");
        /* Only whether there is one: never a preshared_key field. */
        ASSERT_TRUE(!strstr(s, "preshared_key\":\""));
}
