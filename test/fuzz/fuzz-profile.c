/* libFuzzer harness for the profile parser: any input must parse or fail cleanly, and a
 * parsed profile must convert to its protobuf form. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Tund__WgConfig *c = NULL;
        Profile *p = NULL;
        char *text, *err = NULL;

        if (size > 64 * 1024)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        if (profile_parse_string(text, "/etc/tund/fuzz.conf", "fuzz", &p, &err) >= 0) {
                if (profile_to_wg_config(p, &c) >= 0)
                        profile_wg_config_free(c);
                profile_free(p);
        } else if (err && strncmp(err, "/etc/tund/fuzz.conf", 19) != 0 &&
                   strcmp(err, "out of memory") != 0)
                abort(); /* every error names the file */
        free(err);
        free(text);
        return 0;
}
