/* A small JSON emitter. Strings are the only hard part: everything tundctl prints comes from
 * the helper, a profile or the kernel, so any byte may turn up; the output stays valid UTF-8
 * JSON whatever the input (invalid sequences become U+FFFD). No Debian JSON library
 * (libjson-c, libjansson) is used because the Makefile links every program against one fixed
 * pkg-config list (PKGS) with no per-program additions: this file is the whole of it, and
 * test-tundctl-json.c checks every escape. */
#include <inttypes.h>
#include <stdio.h>

#include "string-util.h"
#include "tundctl.h"

bool tundctl_json_done;

void json_write_string(FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        while (*s) {
                uint32_t cp;
                size_t n = utf8_decode(s, &cp);

                if (n == 0) {
                        fputs("\\ufffd", f);
                        s++;
                        continue;
                }
                switch (cp) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\b':
                        fputs("\\b", f);
                        break;
                case '\f':
                        fputs("\\f", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        /* Control characters must be escaped; DEL, C1 and the JavaScript
                         * line separators are (string-util.h's unichar_is_control()), so the
                         * output is safe to paste anywhere and inert on a terminal. */
                        if (unichar_is_control(cp))
                                fprintf(f, "\\u%04" PRIx32, cp);
                        else
                                fwrite(s, 1, n, f);
                }
                s += n;
        }
        fputc('"', f);
}

void json_init(Json *j, FILE *f) {
        *j = (Json){ .f = f };
        j->first[0] = true;
}

/* Before a value: a comma unless it is the first at its level or follows a key. */
static void json_value_prefix(Json *j) {
        if (j->after_key) {
                j->after_key = false;
                return;
        }
        if (!j->first[j->depth])
                fputc(',', j->f);
        j->first[j->depth] = false;
}

static void json_open(Json *j, char c) {
        json_value_prefix(j);
        fputc(c, j->f);
        if (j->depth + 1 < JSON_DEPTH_MAX)
                j->depth++;
        j->first[j->depth] = true;
}

static void json_close(Json *j, char c) {
        fputc(c, j->f);
        if (j->depth > 0)
                j->depth--;
}

void json_object_begin(Json *j) {
        json_open(j, '{');
}

void json_object_end(Json *j) {
        json_close(j, '}');
}

void json_array_begin(Json *j) {
        json_open(j, '[');
}

void json_array_end(Json *j) {
        json_close(j, ']');
}

void json_key(Json *j, const char *key) {
        json_value_prefix(j);
        json_write_string(j->f, key);
        fputc(':', j->f);
        j->after_key = true;
}

void json_string(Json *j, const char *s) {
        json_value_prefix(j);
        json_write_string(j->f, s);
}

void json_uint(Json *j, uint64_t v) {
        json_value_prefix(j);
        fprintf(j->f, "%" PRIu64, v);
}

void json_int(Json *j, int64_t v) {
        json_value_prefix(j);
        fprintf(j->f, "%" PRId64, v);
}

void json_bool(Json *j, bool v) {
        json_value_prefix(j);
        fputs(v ? "true" : "false", j->f);
}

void json_null(Json *j) {
        json_value_prefix(j);
        fputs("null", j->f);
}

void json_kv_string(Json *j, const char *key, const char *s) {
        json_key(j, key);
        json_string(j, s);
}

void json_kv_uint(Json *j, const char *key, uint64_t v) {
        json_key(j, key);
        json_uint(j, v);
}

void json_kv_int(Json *j, const char *key, int64_t v) {
        json_key(j, key);
        json_int(j, v);
}

void json_kv_bool(Json *j, const char *key, bool v) {
        json_key(j, key);
        json_bool(j, v);
}

void json_document_begin(Json *j) {
        json_object_begin(j);
        json_kv_uint(j, "schema", TUNDCTL_JSON_SCHEMA);
}

void json_document_end(Json *j) {
        json_object_end(j);
        fputc('\n', j->f);
        fflush(j->f);
        tundctl_json_done = true;
}

void json_prefixes(Json *j, const char *key, Tund__IpPrefix **v, size_t n) {
        char buf[TUNDCTL_FMT_MAX];

        json_key(j, key);
        json_array_begin(j);
        for (size_t i = 0; i < n; i++)
                json_string(j, tundctl_format_prefix(buf, v[i]));
        json_array_end(j);
}

/* A peer as tundctl shows it: never a preshared key, only whether there is one. */
void json_peer_state(Json *j, const Tund__PeerState *p, int64_t now_sec) {
        json_object_begin(j);
        json_kv_string(j, "public_key", p->public_key);
        json_key(j, "endpoint");
        if (isempty(p->endpoint))
                json_null(j);
        else
                json_string(j, p->endpoint);
        json_kv_int(j, "last_handshake_sec", p->last_handshake_sec);
        json_key(j, "handshake_age_sec");
        if (p->last_handshake_sec <= 0)
                json_null(j);
        else
                json_int(j, now_sec - p->last_handshake_sec);
        json_kv_uint(j, "rx_bytes", p->rx_bytes);
        json_kv_uint(j, "tx_bytes", p->tx_bytes);
        json_prefixes(j, "allowed_ips", p->allowed_ips, p->n_allowed_ips);
        json_kv_uint(j, "persistent_keepalive", p->persistent_keepalive);
        json_kv_bool(j, "has_preshared_key", p->has_preshared_key);
        json_kv_bool(j, "stale", p->stale);
        json_object_end(j);
}
