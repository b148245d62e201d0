/* Text from another process made inert (ARCHITECTURE.md: every string one process received
 * from another is made printable before it reaches STATUS=, the journal or a terminal). A
 * newline in an endpoint or an error message must not add a READY=1 or MAINPID= line to an
 * sd_notify() datagram, split a log line, or send escape sequences to a terminal.
 *
 * libsystemd has no public function for this (its utf8/escape helpers are internal) and the
 * programs link one fixed pkg-config list, so this is a small function of our own, tested by
 * test-string-util.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What stands in for each control character and each byte that is not valid UTF-8:
 * one visible ASCII character, the same everywhere (logs, STATUS=, tundctl). */
#define STRING_REPLACEMENT '?'

/* Length (1..4) of the valid UTF-8 sequence at s, its code point in *ret_cp; 0 if s does not
 * start one (RFC 3629: no overlong forms, surrogates, or code points above U+10FFFF). Never
 * reads past s's terminating NUL. */
size_t utf8_decode(const char *s, uint32_t *ret_cp);

/* C0 controls (\t, \n, \r, ESC, ...), DEL, C1 controls (U+0080..U+009F: U+009B is CSI to
 * some terminals) and the Unicode line and paragraph separators U+2028 and U+2029. */
bool unichar_is_control(uint32_t cp);

/* Copies s into buf (size bytes) with every control character and every byte of an invalid
 * UTF-8 sequence replaced by STRING_REPLACEMENT; printable text, multibyte characters
 * included, is kept as it is. The result is always NUL-terminated (size > 0) and, if it has to
 * be cut, ends at a character boundary. The result is never longer than s, so s may be buf
 * itself. NULL s gives "". Returns buf. */
char *string_sanitize(char *buf, size_t size, const char *s);

/* string_sanitize() of s into itself. Returns s (NULL stays NULL). */
char *string_sanitize_inplace(char *s);

/* A sanitized malloc'd copy of s ("" for NULL), or NULL when out of memory. */
char *string_sanitize_dup(const char *s);

/* Whether s comes out of string_sanitize() unchanged (NULL counts as printable). */
bool string_is_printable(const char *s);

/* "192.0.2.0/24", "2001:db8::/32" ("?/LEN" for an unknown family) into buf; returns buf. */
const char *prefix_to_string(int family, const void *addr, unsigned len, char *buf, size_t size);
