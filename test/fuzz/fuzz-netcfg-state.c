/* libFuzzer harness for libnetcfg's state parser (the file a restarted shim reads back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NetcfgContext *ctx = calloc(1, sizeof(*ctx));
        char *text = malloc(size + 1), *err = NULL, *again = NULL;

        if (!ctx || !text)
                abort();
        memcpy(text, data, size);
        text[size] = 0;
        if (netcfg_state_parse(ctx, text, &err) >= 0) {
                /* whatever parses must format and parse again to the same text */
                NetcfgContext *ctx2 = calloc(1, sizeof(*ctx2));
                char *text2 = NULL;
                if (!ctx2 || netcfg_state_format(ctx, &again) < 0 ||
                    netcfg_state_parse(ctx2, again, NULL) < 0 ||
                    netcfg_state_format(ctx2, &text2) < 0 || strcmp(again, text2) != 0)
                        abort();
                free(text2);
                netcfg_free(ctx2);
        }
        free(again);
        free(err);
        free(text);
        netcfg_free(ctx);
        return 0;
}
