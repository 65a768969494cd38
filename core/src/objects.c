/* objects.c - result objects handed to callers, and their accessors. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- library version ---------------------------------------------------- */

NOX_API uint32_t nox_version_number(void) {
    return ((uint32_t)NOX_VERSION_MAJOR << 16) | ((uint32_t)NOX_VERSION_MINOR << 8) |
           (uint32_t)NOX_VERSION_PATCH;
}

NOX_API const char *nox_version_string(void) { return NOX_VERSION_STRING; }

NOX_API int nox_abi_version(void) { return NOX_ABI_VERSION; }

/* Here, not in client.c: backends name levels too, and client.c calls
 * the backends, never the other way round. */
NOX_API const char *nox_isolation_name(int level) {
    switch (level) {
    case NOX_ISOLATION_AUTO:
        return "auto";
    case NOX_ISOLATION_NONE:
        return "none";
    case NOX_ISOLATION_NAMESPACES:
        return "namespaces";
    default:
        return "unknown";
    }
}

/* ---- exec results ------------------------------------------------------- */

nox_exec_result *nox__exec_result_new(void) {
    nox_exec_result *r = calloc(1, sizeof *r);
    if (r && (nox__buf_terminate(&r->out) != 0 || nox__buf_terminate(&r->err) != 0)) {
        nox_exec_result_free(r);
        return NULL;
    }
    return r;
}

NOX_API int nox_exec_result_exit_code(const nox_exec_result *r) { return r ? r->exit_code : -1; }
NOX_API int nox_exec_result_signal(const nox_exec_result *r) { return r ? r->signal : 0; }
NOX_API int64_t nox_exec_result_duration_ms(const nox_exec_result *r) {
    return r ? r->duration_ms : 0;
}
NOX_API int nox_exec_result_timed_out(const nox_exec_result *r) { return r ? r->timed_out : 0; }
NOX_API int nox_exec_result_stdout_truncated(const nox_exec_result *r) {
    return r ? r->stdout_truncated : 0;
}
NOX_API int nox_exec_result_stderr_truncated(const nox_exec_result *r) {
    return r ? r->stderr_truncated : 0;
}

static const uint8_t *buf_view(const nox__buf *b, size_t *len) {
    static const uint8_t empty[1] = {0};
    if (len)
        *len = b->data ? b->len : 0;
    return b->data ? b->data : empty;
}

NOX_API const uint8_t *nox_exec_result_stdout(const nox_exec_result *r, size_t *len) {
    if (!r) {
        if (len)
            *len = 0;
        return NULL;
    }
    return buf_view(&r->out, len);
}

NOX_API const uint8_t *nox_exec_result_stderr(const nox_exec_result *r, size_t *len) {
    if (!r) {
        if (len)
            *len = 0;
        return NULL;
    }
    return buf_view(&r->err, len);
}

NOX_API void nox_exec_result_free(nox_exec_result *r) {
    if (!r)
        return;
    nox__buf_free(&r->out);
    nox__buf_free(&r->err);
    free(r);
}

/* ---- time stamps -------------------------------------------------------- */

int nox__parse_iso8601(const char *s, int64_t *out) {
    int y, mo, d, h, mi, sec, used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6)
        return NOX_EINVAL;
    const char *p = s + used;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return NOX_EINVAL;
        offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } /* no suffix: taken as UTC, as Python's isoformat() without tz */
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return NOX_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}

/* ---- sandbox info ------------------------------------------------------- */

nox_sandbox_info *nox__sandbox_info_new(const char *session_id, const char *pod_name,
                                        const char *expires_iso, int64_t expires_unix) {
    nox_sandbox_info *i = calloc(1, sizeof *i);
    if (!i)
        return NULL;
    char iso[64];
    if (expires_iso) {
        if (nox__parse_iso8601(expires_iso, &i->expires_at_unix) != 0)
            i->expires_at_unix = 0;
    } else {
        i->expires_at_unix = expires_unix;
        if (nox__format_iso8601(expires_unix, iso, sizeof iso) != 0)
            iso[0] = 0;
        expires_iso = iso;
    }
    i->session_id = strdup(session_id ? session_id : "");
    i->pod_name = strdup(pod_name ? pod_name : "");
    i->expires_at = strdup(expires_iso);
    if (!i->session_id || !i->pod_name || !i->expires_at) {
        nox_sandbox_info_free(i);
        return NULL;
    }
    return i;
}

nox_sandbox_info *nox__sandbox_info_copy(const nox_sandbox_info *i) {
    nox_sandbox_info *c = nox__sandbox_info_new(i->session_id, i->pod_name, i->expires_at, 0);
    if (c)
        c->expires_at_unix = i->expires_at_unix;
    return c;
}

NOX_API const char *nox_sandbox_info_session_id(const nox_sandbox_info *i) {
    return i ? i->session_id : NULL;
}
NOX_API const char *nox_sandbox_info_pod_name(const nox_sandbox_info *i) {
    return i ? i->pod_name : NULL;
}
NOX_API const char *nox_sandbox_info_expires_at(const nox_sandbox_info *i) {
    return i ? i->expires_at : NULL;
}
NOX_API int64_t nox_sandbox_info_expires_at_unix(const nox_sandbox_info *i) {
    return i ? i->expires_at_unix : 0;
}

NOX_API void nox_sandbox_info_free(nox_sandbox_info *i) {
    if (!i)
        return;
    free(i->session_id);
    free(i->pod_name);
    free(i->expires_at);
    free(i);
}

/* ---- sandbox lists ------------------------------------------------------ */

nox_sandbox_list *nox__sandbox_list_new(void) { return calloc(1, sizeof(nox_sandbox_list)); }

int nox__sandbox_list_push(nox_sandbox_list *l, nox_sandbox_info *info) {
    if (!info)
        return NOX_ENOMEM;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        nox_sandbox_info **p = realloc(l->items, cap * sizeof *p);
        if (!p) {
            nox_sandbox_info_free(info);
            return NOX_ENOMEM;
        }
        l->items = p;
        l->cap = cap;
    }
    l->items[l->count++] = info;
    return 0;
}

NOX_API size_t nox_sandbox_list_count(const nox_sandbox_list *l) { return l ? l->count : 0; }

NOX_API const nox_sandbox_info *nox_sandbox_list_at(const nox_sandbox_list *l, size_t index) {
    return l && index < l->count ? l->items[index] : NULL;
}

NOX_API void nox_sandbox_list_free(nox_sandbox_list *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        nox_sandbox_info_free(l->items[i]);
    free(l->items);
    free(l);
}

/* ---- in-memory file sets ------------------------------------------------ */

NOX_API int nox_files_new(nox_files **out, nox_error **err) {
    if (!out)
        return nox__err(err, NOX_EINVAL, "nox_files_new: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? 0 : nox__err(err, NOX_ENOMEM, "out of memory");
}

NOX_API int nox_files_add(nox_files *f, const char *path, const uint8_t *data, size_t len,
                          uint32_t mode, nox_error **err) {
    if (!f || !path)
        return nox__err(err, NOX_EINVAL, "nox_files_add: files and path are required");
    if (!data && len)
        return nox__err(err, NOX_EINVAL, "file \"%s\": data is NULL but length is %zu", path, len);
    int rc = nox__validate_relpath(path, err);
    if (rc)
        return rc;
    if (mode & ~07777u)
        return nox__err(err, NOX_EINVAL, "file \"%s\": mode %o has bits beyond 07777", path, mode);
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->items[i].path, path) == 0)
            return nox__err(err, NOX_EINVAL, "file \"%s\" was added twice", path);
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        nox__file_entry *p = realloc(f->items, cap * sizeof *p);
        if (!p)
            return nox__err(err, NOX_ENOMEM, "out of memory");
        f->items = p;
        f->cap = cap;
    }
    nox__file_entry *e = &f->items[f->count];
    e->path = strdup(path);
    e->data = malloc(len ? len : 1);
    if (!e->path || !e->data) {
        free(e->path);
        free(e->data);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    if (len)
        memcpy(e->data, data, len);
    e->len = len;
    e->mode = mode ? mode & 07777u : 0644;
    f->count++;
    return 0;
}

NOX_API size_t nox_files_count(const nox_files *f) { return f ? f->count : 0; }

NOX_API void nox_files_free(nox_files *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++) {
        free(f->items[i].path);
        free(f->items[i].data);
    }
    free(f->items);
    free(f);
}
