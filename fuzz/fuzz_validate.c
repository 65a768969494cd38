/*
 * fuzz_validate - session ids and sandbox paths as a caller (or an HTTP
 * request) could send them: every check answers, and what it accepts
 * holds the properties the rest of the code relies on.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Some component of s ('/'-separated) is "..". */
static int climbs(const char *s) {
    for (const char *c = s;; c++) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return 1;
        if (!e)
            return 0;
        c = e;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    size_t n = strlen(s);
    nox_error *err = NULL;
    if (nox__validate_session_id(s, &err) == 0) {
        /* accepted ids are non-empty, bounded, valid UTF-8, no controls */
        if (n == 0 || n > NOX_MAX_SESSION_ID || !nox__utf8_valid((const uint8_t *)s, n))
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                abort();
    }
    nox_error_free(err);
    err = NULL;
    if (nox__validate_relpath(s, &err) == 0 && (s[0] == '/' || climbs(s)))
        abort(); /* an absolute or climbing file name was accepted */
    nox_error_free(err);
    err = NULL;
    if (nox__validate_sandbox_path("path", s, &err) == 0 && (s[0] != '/' || climbs(s)))
        abort(); /* a sandbox path that is relative or climbs was accepted */
    nox_error_free(err);
    (void)nox__utf8_valid(data, size);
    free(s);
    return 0;
}
