// Shared by the benchmark's HTTP peers (kaclient.c, upstream.c).
#pragma once
#include <string.h>
#include <strings.h>

// The value of header NAME in HEAD (NUL-terminated, CRLF lines, the request or status line
// first), its leading blanks skipped; NULL when absent.
static const char *header(const char *head, const char *name)
{
    size_t len = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r' && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, len) == 0 && h[len] == ':') {
            h += len + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return h;
        }
    }
    return NULL;
}
