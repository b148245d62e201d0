/* The parser's state, shared by the reader/section code (profile.c) and the key handlers
 * (profile-keys.c). Internal to libprofile. */
#pragma once

#include <stdbool.h>

#include "macro.h"
#include "profile.h"

typedef enum ProfileSection {
        PROFILE_SECTION_NONE,
        PROFILE_SECTION_INTERFACE,
        PROFILE_SECTION_PEER,
        PROFILE_SECTION_TUND,
} ProfileSection;

#define PROFILE_KEYS_MAX 32

/* A list item kept with its line until the checks that need the whole file have run. */
typedef struct LinePrefix {
        ProfilePrefix prefix;
        unsigned line;
} LinePrefix;

typedef struct ParseState {
        Profile *profile;
        const char *path;

        /* The reader hands inih one line at a time, possibly in pieces. */
        const char *text;
        char *line;
        size_t line_size, line_len, line_off;
        unsigned lineno;

        ProfileSection section;
        unsigned interface_line;
        unsigned dns_mode_line;
        unsigned key_line[PROFILE_KEYS_MAX]; /* where each single-valued key was set, 0: not */
        LinePrefix *bypass;                  /* AllowedBypass=, moved to the profile once checked */
        size_t n_bypass;

        char *error; /* the first error only */
        int error_r;
} ParseState;

/* Records "PATH:LINE: KEY: message" as the error unless one is already recorded; key and line
 * may be NULL/0. Returns -EINVAL (or -ENOMEM if formatting failed). */
int parse_fail(ParseState *s, unsigned line, const char *key, const char *fmt, ...) _printf_(4, 5);
/* As parse_fail() with a user token quoted first when it is safe to repeat (never a key). */
int parse_fail_token(ParseState *s, unsigned line, const char *key, const char *token,
                     const char *what);
int parse_oom(ParseState *s);

/* Called at each [Peer] header: forget which peer keys were set. */
void profile_keys_new_peer(ParseState *s);
/* Handles one "key = value" line of the current section. Returns 0 or a negative errno with
 * the error recorded. */
int profile_keys_dispatch(ParseState *s, const char *key, const char *value, unsigned line);
/* After the whole file: the kill switch keys against each other, Table, the peers' endpoints and
 * the addresses; then AllowedBypass= moves to the profile. Returns 0 or a negative errno with the
 * error recorded. */
int profile_keys_check_kill_switch(ParseState *s);
