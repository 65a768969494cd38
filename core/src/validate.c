/* validate.c - argument checks shared by every backend, so that bad input
 * gets the same error whichever backend or binding it comes through. */
#include "internal.h"

#include "base/text.h"

#include <string.h>

static int has_control(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

int nox__validate_session_id(const char *sid, nox_error **err) {
    if (!sid)
        return nox__err(err, NOX_EINVAL, "session id is NULL");
    size_t n = strlen(sid);
    if (n == 0)
        return nox__err(err, NOX_EINVAL, "session id is empty");
    if (n > NOX_MAX_SESSION_ID)
        return nox__err(err, NOX_EINVAL, "session id is %zu bytes long; the limit is %d", n,
                        NOX_MAX_SESSION_ID);
    if (!nox__utf8_valid((const uint8_t *)sid, n))
        return nox__err(err, NOX_EINVAL, "session id is not valid UTF-8");
    if (has_control(sid))
        return nox__err(err, NOX_EINVAL, "session id contains a control character");
    return 0;
}

int nox__validate_argv(const char *const *argv, size_t *count, nox_error **err) {
    if (!argv || !argv[0])
        return nox__err(err, NOX_EINVAL, "command is empty: argv needs at least one element");
    if (argv[0][0] == 0)
        return nox__err(err, NOX_EINVAL, "command is empty: argv[0] is an empty string");
    size_t n = 0;
    while (argv[n]) {
        if (n >= 65536)
            return nox__err(err, NOX_EINVAL, "command has more than 65536 arguments");
        n++;
    }
    *count = n;
    return 0;
}

/* Walk the '/'-separated components of p, rejecting "..", and (for
 * relative paths) empty and "." components. */
static int check_components(const char *what, const char *p, int relative, nox_error **err) {
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return nox__err(err, NOX_EINVAL, "%s \"%s\" contains a \"..\" component", what, p);
        if (relative && (n == 0 || (n == 1 && s[0] == '.')))
            return nox__err(err, NOX_EINVAL, "%s \"%s\" has an empty or \".\" component", what,
                            p);
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

int nox__validate_relpath(const char *path, nox_error **err) {
    if (!path || !*path)
        return nox__err(err, NOX_EINVAL, "file name is empty");
    if (path[0] == '/')
        return nox__err(err, NOX_EINVAL, "file name \"%s\" is absolute; use a relative path",
                        path);
    if (has_control(path))
        return nox__err(err, NOX_EINVAL, "file name \"%s\" contains a control character", path);
    if (strlen(path) > 4096)
        return nox__err(err, NOX_EINVAL, "file name is longer than 4096 bytes");
    return check_components("file name", path, 1, err);
}

int nox__validate_sandbox_path(const char *what, const char *path, nox_error **err) {
    if (!path || !*path)
        return nox__err(err, NOX_EINVAL, "%s is empty", what);
    if (path[0] != '/')
        return nox__err(err, NOX_EINVAL, "%s \"%s\" must be an absolute path inside the sandbox",
                        what, path);
    if (has_control(path))
        return nox__err(err, NOX_EINVAL, "%s contains a control character", what);
    if (strlen(path) > 4096)
        return nox__err(err, NOX_EINVAL, "%s is longer than 4096 bytes", what);
    return check_components(what, path, 0, err);
}
