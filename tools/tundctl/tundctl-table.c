/* Colour (when stdout is a terminal that wants it, NO_COLOR and --color respected) and aligned
 * tables with display widths, for every verb's human output. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "string-util.h"
#include "tundctl.h"

/* ---- colour ---- */

static bool color_on;

bool tundctl_color_decide(int forced, bool isatty_, const char *term, const char *no_color) {
        if (forced >= 0)
                return forced > 0;
        if (!isempty(no_color)) /* https://no-color.org: set and not empty, whatever value */
                return false;
        if (!isatty_)
                return false;
        return !isempty(term) && !streq(term, "dumb");
}

bool tundctl_use_color(int fd) {
        color_on = tundctl_color_decide(arg_g.color, isatty(fd) == 1, getenv("TERM"),
                                        getenv("NO_COLOR"));
        return color_on;
}

const char *tundctl_ansi(const char *code) {
        return color_on ? code : "";
}

/* ---- tables ---- */

size_t tundctl_utf8_width(const char *s) {
        size_t n = 0;

        for (; s && *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

Table *tundctl_table_new(size_t n_columns, ...) {
        Table *t = calloc(1, sizeof(Table));
        va_list ap;

        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->headers = calloc(n_columns, sizeof(char *));
        if (!t->headers)
                return tundctl_table_free(t);
        va_start(ap, n_columns);
        for (size_t i = 0; i < n_columns; i++) {
                const char *h = va_arg(ap, const char *);
                t->headers[i] = strdup(h);
                if (!t->headers[i]) {
                        va_end(ap);
                        return tundctl_table_free(t);
                }
                for (char *p = t->headers[i]; *p; p++)
                        *p = (char) toupper((unsigned char) *p);
        }
        va_end(ap);
        return t;
}

Table *tundctl_table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; t->headers && i < t->n_columns; i++)
                free(t->headers[i]);
        free(t->headers);
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i].text);
        free(t->cells);
        free(t);
        return NULL;
}

int tundctl_table_add_row(Table *t, const char *const *texts) {
        TableCell *c = realloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof(TableCell));

        if (!c)
                return -ENOMEM;
        t->cells = c;
        c += t->n_rows * t->n_columns;
        for (size_t i = 0; i < t->n_columns; i++) {
                c[i].color = NULL;
                /* One line per row: a newline, tab or escape from a peer would break the
                 * columns or drive the terminal. */
                c[i].text = string_sanitize_dup(isempty(texts[i]) ? "-" : texts[i]);
                if (!c[i].text) {
                        for (size_t k = 0; k < i; k++)
                                free(c[k].text);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

void tundctl_table_set_color(Table *t, size_t column, const char *color) {
        if (t->n_rows > 0 && column < t->n_columns)
                t->cells[(t->n_rows - 1) * t->n_columns + column].color = color;
}

static void table_print_cell(FILE *f, const char *text, const char *color, size_t pad,
                             bool color_on_) {
        if (color_on_ && color)
                fprintf(f, "%s%s%s", color, text, ANSI_RESET);
        else
                fputs(text, f);
        for (size_t i = 0; i < pad; i++)
                fputc(' ', f);
}

void tundctl_table_print(const Table *t, FILE *f, bool color) {
        size_t width[32] = {};
        size_t nc = MIN(t->n_columns, ELEMENTSOF(width));

        for (size_t i = 0; i < nc; i++) {
                width[i] = tundctl_utf8_width(t->headers[i]);
                for (size_t r = 0; r < t->n_rows; r++)
                        width[i] = MAX(width[i],
                                       tundctl_utf8_width(t->cells[r * t->n_columns + i].text));
        }
        for (size_t i = 0; i < nc; i++) {
                bool last = i + 1 == nc;
                table_print_cell(f, t->headers[i], ANSI_BOLD,
                                 last ? 0 : width[i] - tundctl_utf8_width(t->headers[i]) + 2,
                                 color);
        }
        fputc('\n', f);
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t i = 0; i < nc; i++) {
                        const TableCell *c = &t->cells[r * t->n_columns + i];
                        bool last = i + 1 == nc;
                        table_print_cell(f, c->text, c->color,
                                         last ? 0 : width[i] - tundctl_utf8_width(c->text) + 2,
                                         color);
                }
                fputc('\n', f);
        }
}
