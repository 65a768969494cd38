/* client.c - the public entry points: validate, apply defaults, dispatch
 * to a backend, and name the operation and session in every error. */
#include "internal.h"

#include "archive.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nox_client {
    nox__config cfg;
    const nox__backend_ops *ops;
    void *impl;
};

/* ---- options ------------------------------------------------------------ */

/* Bytes of nox_client_options that a caller of each struct version has:
 * a version-1 caller's struct ends where the first version-2 field
 * begins, and init must not write past it. */
static size_t client_options_size(uint32_t version) {
    return version < 2 ? offsetof(nox_client_options, transfer_timeout_ms)
                       : sizeof(nox_client_options);
}

NOX_API int nox_client_options_init(nox_client_options *o, uint32_t version) {
    if (!o)
        return NOX_EINVAL;
    if (version < 1 || version > NOX_CLIENT_OPTIONS_VERSION)
        return NOX_EVERSION;
    memset(o, 0, client_options_size(version));
    o->version = version;
    o->backend = NOX_BACKEND_LOCAL;
    o->isolation = NOX_ISOLATION_AUTO;
    o->max_retries = 2;
    o->tls_verify = 1;
    return 0;
}

NOX_API int nox_sandbox_options_init(nox_sandbox_options *o, uint32_t version) {
    if (!o)
        return NOX_EINVAL;
    if (version < 1 || version > NOX_SANDBOX_OPTIONS_VERSION)
        return NOX_EVERSION;
    memset(o, 0, sizeof *o);
    o->version = version;
    return 0;
}

NOX_API int nox_exec_options_init(nox_exec_options *o, uint32_t version) {
    if (!o)
        return NOX_EINVAL;
    if (version < 1 || version > NOX_EXEC_OPTIONS_VERSION)
        return NOX_EVERSION;
    memset(o, 0, sizeof *o);
    o->version = version;
    return 0;
}

static const char *env_or_null(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void config_free(nox__config *c) {
    free(c->base_url);
    free(c->api_key);
    free(c->ca_file);
    free(c->user_agent);
    free(c->base_dir);
    free(c->agent_path);
}

static char *default_base_dir(void) {
    const char *home = env_or_null("NOXRUNNER_HOME");
    if (home)
        return strdup(home);
    const char *tmp = env_or_null("TMPDIR");
    return nox__asprintf("%s/noxrunner-%u", tmp ? tmp : "/tmp", (unsigned)geteuid());
}

static int config_from_options(nox__config *c, const nox_client_options *o, nox_error **err) {
    memset(c, 0, sizeof *c);
    if (!o)
        return nox__err(err, NOX_EINVAL, "client options are NULL");
    if (o->version < 1 || o->version > NOX_CLIENT_OPTIONS_VERSION)
        return nox__err(err, NOX_EVERSION,
                        "client options version %u is not understood (this library knows 1..%d); "
                        "call nox_client_options_init()",
                        o->version, NOX_CLIENT_OPTIONS_VERSION);
    c->backend = o->backend;
    if (c->backend != NOX_BACKEND_LOCAL && c->backend != NOX_BACKEND_HTTP)
        return nox__err(err, NOX_EINVAL, "unknown backend %d", (int)o->backend);
    if (o->isolation < NOX_ISOLATION_AUTO || o->isolation > NOX_ISOLATION_NAMESPACES)
        return nox__err(err, NOX_EINVAL, "unknown isolation level %d", (int)o->isolation);
    if (o->max_retries < 0 || o->max_retries > 10)
        return nox__err(err, NOX_EINVAL, "max_retries %d is outside 0..10", (int)o->max_retries);
    c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    c->request_timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : 60000;
    /* Version-1 structs end before this field: never read past them. */
    uint32_t transfer = o->version >= 2 ? o->transfer_timeout_ms : 0;
    c->transfer_timeout_ms = transfer ? transfer : NOX_DEFAULT_TRANSFER_TIMEOUT_MS;
    c->max_retries = o->max_retries;
    c->tls_verify = o->tls_verify;
    c->isolation = o->isolation;
    c->max_output_bytes = o->max_output_bytes ? o->max_output_bytes : NOX_DEFAULT_MAX_OUTPUT;
    c->max_archive_bytes = o->max_archive_bytes ? o->max_archive_bytes
                                                : NOX_DEFAULT_MAX_ARCHIVE_BYTES;
    c->max_archive_entries = o->max_archive_entries ? o->max_archive_entries
                                                    : NOX_DEFAULT_MAX_ARCHIVE_ENTRIES;
    c->gzip_level = NOX__GZIP_AUTO;
    const char *lv = env_or_null("NOXRUNNER_GZIP_LEVEL");
    if (lv && !strcmp(lv, "none")) {
        c->gzip_level = NOX__TAR_PLAIN;
    } else if (lv) {
        if (lv[0] < '0' || lv[0] > '9' || lv[1])
            return nox__err(err, NOX_EINVAL,
                            "NOXRUNNER_GZIP_LEVEL \"%s\" is neither a gzip level 0..9 nor "
                            "\"none\"", lv);
        c->gzip_level = lv[0] - '0';
    }
    const char *key = o->api_key ? o->api_key : env_or_null("NOXRUNNER_API_KEY");
    const char *agent = o->agent_path ? o->agent_path : env_or_null("NOXRUNNER_AGENT");
    c->base_url = nox__strdup(o->base_url);
    c->api_key = nox__strdup(key);
    c->ca_file = nox__strdup(o->ca_file);
    c->user_agent = o->user_agent ? strdup(o->user_agent)
                                  : nox__asprintf("noxrunner-c/%s", NOX_VERSION_STRING);
    c->agent_path = nox__strdup(agent);
    c->base_dir = o->base_dir ? strdup(o->base_dir) : default_base_dir();
    if ((o->base_url && !c->base_url) || (key && !c->api_key) ||
        (o->ca_file && !c->ca_file) || !c->user_agent || (agent && !c->agent_path) ||
        !c->base_dir)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    if (c->backend == NOX_BACKEND_HTTP && (!c->base_url || !*c->base_url))
        return nox__err(err, NOX_EINVAL, "the HTTP backend needs a base_url");
    return 0;
}

/* ---- client ------------------------------------------------------------- */

NOX_API int nox_client_new(nox_client **out, const nox_client_options *opts, nox_error **err) {
    if (!out)
        return nox__err(err, NOX_EINVAL, "nox_client_new: out is NULL");
    *out = NULL;
    nox_client *c = calloc(1, sizeof *c);
    if (!c)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    int rc = config_from_options(&c->cfg, opts, err);
    if (rc == 0)
        rc = c->cfg.backend == NOX_BACKEND_HTTP
                 ? nox__http_backend_new(&c->cfg, &c->ops, &c->impl, err)
                 : nox__local_backend_new(&c->cfg, &c->ops, &c->impl, err);
    if (rc != 0) {
        nox__err_prefix(err, "creating a %s client",
                        c->cfg.backend == NOX_BACKEND_HTTP ? "HTTP" : "local");
        config_free(&c->cfg);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

NOX_API void nox_client_free(nox_client *c) {
    if (!c)
        return;
    if (c->ops && c->ops->destroy)
        c->ops->destroy(c->impl);
    config_free(&c->cfg);
    free(c);
}

NOX_API int nox_client_backend(const nox_client *c) { return c ? c->cfg.backend : 0; }

NOX_API int nox_client_isolation(nox_client *c) {
    if (!c || !c->ops->isolation)
        return NOX_ISOLATION_AUTO;
    return c->ops->isolation(c->impl);
}

#define NEED_CLIENT(c, what)                                                      \
    do {                                                                          \
        if (!(c))                                                                 \
            return nox__err(err, NOX_EINVAL, "%s: client is NULL", what);        \
    } while (0)

#define NEED_OP(c, op, what)                                                     \
    do {                                                                          \
        if (!(c)->ops->op)                                                       \
            return nox__err(err, NOX_EUNSUPPORTED, "%s: the %s backend cannot do this", \
                            what, (c)->ops->name);                                \
    } while (0)

/* Validates the session id and reports failures as "<op> on session ...". */
static int check_sid(const char *op, const char *sid, nox_error **err) {
    int rc = nox__validate_session_id(sid, err);
    if (rc)
        nox__err_prefix(err, "%s", op);
    return rc;
}

static int finish(int rc, nox_error **err, const char *op, const char *sid) {
    if (rc != 0) {
        if (err && !*err) /* a backend that forgot its message */
            nox__err(err, rc, "%s", nox_code_description(rc));
        if (sid)
            nox__err_prefix(err, "%s on session \"%s\"", op, sid);
        else
            nox__err_prefix(err, "%s", op);
    }
    return rc;
}

NOX_API int nox_health(nox_client *c, nox_error **err) {
    NEED_CLIENT(c, "health");
    NEED_OP(c, health, "health");
    return finish(c->ops->health(c->impl, err), err, "health", NULL);
}

NOX_API int nox_info(nox_client *c, nox_bytes **out_json, nox_error **err) {
    NEED_CLIENT(c, "info");
    if (!out_json)
        return nox__err(err, NOX_EINVAL, "info: out is NULL");
    *out_json = NULL;
    NEED_OP(c, info, "info");
    return finish(c->ops->info(c->impl, out_json, err), err, "info", NULL);
}

/* ---- sandboxes ---------------------------------------------------------- */

static int check_limit_string(const char *name, const char *v, nox_error **err) {
    if (!v)
        return 0;
    size_t n = strlen(v);
    if (n == 0 || n > 64)
        return nox__err(err, NOX_EINVAL, "%s \"%s\" must be 1..64 characters", name, v);
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z') ||
              (v[i] >= 'A' && v[i] <= 'Z') || v[i] == '.'))
            return nox__err(err, NOX_EINVAL, "%s \"%s\" is not a quantity like \"512Mi\" or \"500m\"",
                            name, v);
    return 0;
}

NOX_API int nox_sandbox_create(nox_client *c, const char *sid, const nox_sandbox_options *opts,
                               nox_sandbox_info **out, nox_error **err) {
    const char *op = "create";
    NEED_CLIENT(c, op);
    if (!out)
        return nox__err(err, NOX_EINVAL, "create: out is NULL");
    *out = NULL;
    int rc = check_sid(op, sid, err);
    if (rc)
        return rc;
    nox__sandbox_opts o = {NOX_DEFAULT_TTL_SECONDS, NULL, NULL, NULL, NULL};
    if (opts) {
        if (opts->version < 1 || opts->version > NOX_SANDBOX_OPTIONS_VERSION)
            return finish(nox__err(err, NOX_EVERSION,
                                   "sandbox options version %u is not understood", opts->version),
                          err, op, sid);
        if (opts->ttl_seconds < 0 || opts->ttl_seconds > NOX_MAX_TTL_SECONDS)
            return finish(nox__err(err, NOX_EINVAL, "ttl_seconds %d is outside 1..%d",
                                   (int)opts->ttl_seconds, NOX_MAX_TTL_SECONDS),
                          err, op, sid);
        if (opts->ttl_seconds)
            o.ttl_seconds = opts->ttl_seconds;
        o.image = opts->image;
        o.cpu_limit = opts->cpu_limit;
        o.memory_limit = opts->memory_limit;
        o.ephemeral_storage_limit = opts->ephemeral_storage_limit;
        if ((rc = check_limit_string("cpu_limit", o.cpu_limit, err)) ||
            (rc = check_limit_string("memory_limit", o.memory_limit, err)) ||
            (rc = check_limit_string("ephemeral_storage_limit", o.ephemeral_storage_limit, err)))
            return finish(rc, err, op, sid);
        if (o.image && (!*o.image || strlen(o.image) > 4096))
            return finish(nox__err(err, NOX_EINVAL, "image must be 1..4096 characters"), err, op,
                          sid);
    }
    NEED_OP(c, create, op);
    return finish(c->ops->create(c->impl, sid, &o, out, err), err, op, sid);
}

NOX_API int nox_sandbox_get(nox_client *c, const char *sid, nox_sandbox_info **out,
                            nox_error **err) {
    NEED_CLIENT(c, "get");
    if (!out)
        return nox__err(err, NOX_EINVAL, "get: out is NULL");
    *out = NULL;
    int rc = check_sid("get", sid, err);
    if (rc)
        return rc;
    NEED_OP(c, get, "get");
    return finish(c->ops->get(c->impl, sid, out, err), err, "get", sid);
}

NOX_API int nox_sandbox_list_all(nox_client *c, nox_sandbox_list **out, nox_error **err) {
    NEED_CLIENT(c, "list");
    if (!out)
        return nox__err(err, NOX_EINVAL, "list: out is NULL");
    *out = NULL;
    NEED_OP(c, list, "list");
    return finish(c->ops->list(c->impl, out, err), err, "list", NULL);
}

NOX_API int nox_sandbox_touch(nox_client *c, const char *sid, nox_error **err) {
    NEED_CLIENT(c, "touch");
    int rc = check_sid("touch", sid, err);
    if (rc)
        return rc;
    NEED_OP(c, touch, "touch");
    return finish(c->ops->touch(c->impl, sid, err), err, "touch", sid);
}

NOX_API int nox_sandbox_delete(nox_client *c, const char *sid, nox_error **err) {
    NEED_CLIENT(c, "delete");
    int rc = check_sid("delete", sid, err);
    if (rc)
        return rc;
    NEED_OP(c, del, "delete");
    return finish(c->ops->del(c->impl, sid, err), err, "delete", sid);
}

NOX_API int nox_sandbox_wait_ready(nox_client *c, const char *sid, uint32_t timeout_ms,
                                   nox_error **err) {
    NEED_CLIENT(c, "wait_ready");
    int rc = check_sid("wait_ready", sid, err);
    if (rc)
        return rc;
    NEED_OP(c, wait_ready, "wait_ready");
    return finish(c->ops->wait_ready(c->impl, sid, timeout_ms, err), err, "wait_ready", sid);
}

/* ---- exec --------------------------------------------------------------- */

static int exec_opts_from(const nox_client *c, const nox_exec_options *opts, nox__exec_opts *o,
                          nox_error **err) {
    memset(o, 0, sizeof *o);
    o->workdir = NOX_WORKSPACE;
    o->timeout_seconds = NOX_DEFAULT_EXEC_TIMEOUT;
    o->max_output_bytes = c->cfg.max_output_bytes;
    if (!opts)
        return 0;
    if (opts->version < 1 || opts->version > NOX_EXEC_OPTIONS_VERSION)
        return nox__err(err, NOX_EVERSION, "exec options version %u is not understood",
                        opts->version);
    if (opts->timeout_seconds < 0 || opts->timeout_seconds > NOX_MAX_EXEC_TIMEOUT)
        return nox__err(err, NOX_EINVAL, "timeout_seconds %d is outside 1..%d",
                        (int)opts->timeout_seconds, NOX_MAX_EXEC_TIMEOUT);
    if (opts->timeout_seconds)
        o->timeout_seconds = opts->timeout_seconds;
    if (opts->workdir) {
        int rc = nox__validate_sandbox_path("workdir", opts->workdir, err);
        if (rc)
            return rc;
        o->workdir = opts->workdir;
    }
    if (opts->env) {
        size_t n = 0;
        for (; opts->env[n]; n++) {
            const char *kv = opts->env[n];
            const char *eq = strchr(kv, '=');
            if (!eq || eq == kv)
                return nox__err(err, NOX_EINVAL,
                                "environment entry \"%s\" is not of the form NAME=value", kv);
        }
        o->env = opts->env;
        o->env_count = n;
    }
    if (opts->stdin_data || opts->stdin_len) {
        if (!opts->stdin_data)
            return nox__err(err, NOX_EINVAL, "stdin_data is NULL but stdin_len is %zu",
                            opts->stdin_len);
        o->stdin_data = opts->stdin_data;
        o->stdin_len = opts->stdin_len;
        o->has_stdin = 1;
    }
    if (opts->max_output_bytes)
        o->max_output_bytes = opts->max_output_bytes;
    return 0;
}

static int exec_prepare(nox_client *c, const char *op, const char *sid, const char *const *argv,
                        const nox_exec_options *opts, size_t *argc, nox__exec_opts *o,
                        nox_error **err) {
    int rc = check_sid(op, sid, err);
    if (rc)
        return rc;
    if ((rc = nox__validate_argv(argv, argc, err)) != 0 ||
        (rc = exec_opts_from(c, opts, o, err)) != 0)
        return finish(rc, err, op, sid);
    return 0;
}

/* Append a chunk to out, keeping at most cap bytes. */
static int append_capped(nox__buf *out, int *truncated, uint64_t cap, const uint8_t *d,
                         size_t n) {
    size_t room = out->len < cap ? (size_t)(cap - out->len) : 0;
    if (n > room) {
        *truncated = 1;
        n = room;
    }
    return nox__buf_append(out, d, n);
}

/* nox_exec for backends that only stream: gather the chunks. */
static int exec_by_stream(nox_client *c, const char *sid, const char *const *argv, size_t argc,
                          const nox__exec_opts *o, nox_exec_result **out, nox_error **err) {
    nox_exec_stream *s = NULL;
    int rc = c->ops->exec_start(c->impl, sid, argv, argc, o, &s, err);
    if (rc)
        return rc;
    nox_exec_result *r = nox__exec_result_new();
    if (!r) {
        nox_exec_stream_free(s);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    for (;;) {
        int kind = 0;
        const uint8_t *d = NULL;
        size_t n = 0;
        rc = s->ops->next(s, -1, &kind, &d, &n, err);
        if (rc)
            break;
        if (kind == NOX_EVENT_STDOUT)
            rc = append_capped(&r->out, &r->stdout_truncated, o->max_output_bytes, d, n);
        else if (kind == NOX_EVENT_STDERR)
            rc = append_capped(&r->err, &r->stderr_truncated, o->max_output_bytes, d, n);
        if (rc) {
            rc = nox__err(err, NOX_ENOMEM, "out of memory");
            break;
        }
        if (kind == NOX_EVENT_EXIT) {
            const nox_exec_result *x = s->result;
            r->exit_code = x->exit_code;
            r->signal = x->signal;
            r->timed_out = x->timed_out;
            r->duration_ms = x->duration_ms;
            r->stdout_truncated |= x->stdout_truncated;
            r->stderr_truncated |= x->stderr_truncated;
            break;
        }
    }
    nox_exec_stream_free(s);
    if (rc) {
        nox_exec_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

NOX_API int nox_exec(nox_client *c, const char *sid, const char *const *argv,
                     const nox_exec_options *opts, nox_exec_result **out, nox_error **err) {
    NEED_CLIENT(c, "exec");
    if (!out)
        return nox__err(err, NOX_EINVAL, "exec: out is NULL");
    *out = NULL;
    size_t argc = 0;
    nox__exec_opts o;
    int rc = exec_prepare(c, "exec", sid, argv, opts, &argc, &o, err);
    if (rc)
        return rc;
    if (c->ops->exec)
        rc = c->ops->exec(c->impl, sid, argv, argc, &o, out, err);
    else if (c->ops->exec_start)
        rc = exec_by_stream(c, sid, argv, argc, &o, out, err);
    else
        rc = nox__err(err, NOX_EUNSUPPORTED, "the %s backend cannot exec", c->ops->name);
    return finish(rc, err, "exec", sid);
}

NOX_API int nox_exec_start(nox_client *c, const char *sid, const char *const *argv,
                           const nox_exec_options *opts, nox_exec_stream **out,
                           nox_error **err) {
    NEED_CLIENT(c, "exec_start");
    if (!out)
        return nox__err(err, NOX_EINVAL, "exec_start: out is NULL");
    *out = NULL;
    size_t argc = 0;
    nox__exec_opts o;
    int rc = exec_prepare(c, "exec_start", sid, argv, opts, &argc, &o, err);
    if (rc)
        return rc;
    NEED_OP(c, exec_start, "exec_start");
    rc = c->ops->exec_start(c->impl, sid, argv, argc, &o, out, err);
    if (rc == 0 && !(*out)->session_id && !((*out)->session_id = strdup(sid))) {
        nox_exec_stream_free(*out);
        *out = NULL;
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
    }
    return finish(rc, err, "exec_start", sid);
}

NOX_API int nox_exec_next(nox_exec_stream *s, int32_t timeout_ms, int *out_kind,
                          const uint8_t **data, size_t *len, nox_error **err) {
    if (!s || !out_kind)
        return nox__err(err, NOX_EINVAL, "exec_next: stream and out_kind are required");
    const uint8_t *d = NULL;
    size_t n = 0;
    *out_kind = NOX_EVENT_EXIT;
    if (!s->result) {
        int rc = s->ops->next(s, timeout_ms, out_kind, &d, &n, err);
        if (rc)
            return finish(rc, err, "exec_next", s->session_id);
    }
    if (data)
        *data = d;
    if (len)
        *len = n;
    return 0;
}

NOX_API const nox_exec_result *nox_exec_stream_result(const nox_exec_stream *s) {
    return s ? s->result : NULL;
}

NOX_API void nox_exec_cancel(nox_exec_stream *s) {
    if (s && s->ops->cancel)
        s->ops->cancel(s);
}

NOX_API void nox_exec_stream_free(nox_exec_stream *s) {
    if (!s)
        return;
    if (s->ops && s->ops->destroy)
        s->ops->destroy(s);
    nox_exec_result_free(s->result);
    free(s->session_id);
    free(s);
}

/* ---- files -------------------------------------------------------------- */

typedef struct mem_src {
    const uint8_t *data;
    size_t len;
} mem_src;

/* The caller's own tar.gz goes out as it is, whatever the level. */
static int produce_memory(void *ctx, int level, nox__sink *sink, nox_error **err) {
    (void)level;
    const mem_src *m = ctx;
    for (size_t off = 0; off < m->len;) {
        size_t n = m->len - off < 65536 ? m->len - off : 65536;
        int rc = sink->write(sink->ctx, m->data + off, n, err);
        if (rc)
            return rc;
        off += n;
    }
    return 0;
}

static int produce_fd(void *ctx, int level, nox__sink *sink, nox_error **err) {
    (void)level;
    int fd = *(int *)ctx;
    uint8_t buf[65536];
    for (;;) {
        ssize_t r = nox__read_some(fd, buf, sizeof buf);
        if (r < 0)
            return nox__err(err, NOX_EIO, "cannot read the archive from fd %d: %s", fd,
                            strerror((int)-r));
        if (r == 0)
            return 0;
        int rc = sink->write(sink->ctx, buf, (size_t)r, err);
        if (rc)
            return rc;
    }
}

static int upload_with(nox_client *c, const char *op, const char *sid, const char *dest,
                       nox__producer *p, nox_error **err) {
    int rc = check_sid(op, sid, err);
    if (rc)
        return rc;
    if (!dest)
        dest = NOX_WORKSPACE;
    if ((rc = nox__validate_sandbox_path("dest", dest, err)) != 0)
        return finish(rc, err, op, sid);
    NEED_OP(c, upload, op);
    return finish(c->ops->upload(c->impl, sid, dest, p, err), err, op, sid);
}

NOX_API int nox_upload(nox_client *c, const char *sid, const nox_files *files, const char *dest,
                       nox_error **err) {
    NEED_CLIENT(c, "upload");
    if (!files)
        return nox__err(err, NOX_EINVAL, "upload: files is NULL");
    nox__producer p = {nox__archive_produce_files, (void *)files};
    return upload_with(c, "upload", sid, dest, &p, err);
}

NOX_API int nox_upload_dir(nox_client *c, const char *sid, const char *local_dir,
                           const char *dest, nox_error **err) {
    NEED_CLIENT(c, "upload_dir");
    if (!local_dir || !*local_dir)
        return nox__err(err, NOX_EINVAL, "upload_dir: local_dir is empty");
    struct stat st;
    if (stat(local_dir, &st) != 0)
        return nox__err(err, nox__code_from_errno(errno), "upload_dir: \"%s\": %s", local_dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nox__err(err, NOX_EINVAL, "upload_dir: \"%s\" is not a directory", local_dir);
    nox__producer p = {nox__archive_produce_dir, (void *)local_dir};
    return upload_with(c, "upload_dir", sid, dest, &p, err);
}

NOX_API int nox_upload_targz(nox_client *c, const char *sid, const uint8_t *data, size_t len,
                             const char *dest, nox_error **err) {
    NEED_CLIENT(c, "upload");
    if (!data && len)
        return nox__err(err, NOX_EINVAL, "upload: data is NULL but length is %zu", len);
    mem_src m = {data, len};
    nox__producer p = {produce_memory, &m};
    return upload_with(c, "upload", sid, dest, &p, err);
}

NOX_API int nox_upload_targz_fd(nox_client *c, const char *sid, int fd, const char *dest,
                                nox_error **err) {
    NEED_CLIENT(c, "upload");
    if (fd < 0)
        return nox__err(err, NOX_EINVAL, "upload: fd %d is not valid", fd);
    nox__producer p = {produce_fd, &fd};
    return upload_with(c, "upload", sid, dest, &p, err);
}

static int download_with(nox_client *c, const char *op, const char *sid, const char *src,
                         int level, nox__sink *sink, nox_error **err) {
    int rc = check_sid(op, sid, err);
    if (rc)
        return rc;
    if (!src)
        src = NOX_WORKSPACE;
    if ((rc = nox__validate_sandbox_path("src", src, err)) != 0)
        return finish(rc, err, op, sid);
    NEED_OP(c, download, op);
    return c->ops->download(c->impl, sid, src, level, sink, err);
}

NOX_API int nox_download(nox_client *c, const char *sid, const char *src, nox_bytes **out,
                         nox_error **err) {
    NEED_CLIENT(c, "download");
    if (!out)
        return nox__err(err, NOX_EINVAL, "download: out is NULL");
    *out = NULL;
    nox__buf buf = {0};
    nox__sink sink = {nox__sink_buf_write, &buf, 0};
    int rc = download_with(c, "download", sid, src, c->cfg.gzip_level, &sink, err);
    if (rc == 0 && !(*out = nox__bytes_take(&buf)))
        rc = nox__err(err, NOX_ENOMEM, "out of memory");
    nox__buf_free(&buf);
    return finish(rc, err, "download", sid);
}

/* The archive into fd at `level` (a gzip level, NOX_TAR_PLAIN, or the
 * client's own choice: NOX__GZIP_AUTO or its configured level). */
static int download_fd_at(nox_client *c, const char *sid, const char *src, int fd, int level,
                          nox_error **err) {
    if (fd < 0)
        return nox__err(err, NOX_EINVAL, "download: fd %d is not valid", fd);
    nox__sink sink = {nox__sink_fd_write, &fd, level == NOX_TAR_PLAIN};
    return finish(download_with(c, "download", sid, src, level, &sink, err), err, "download",
                  sid);
}

NOX_API int nox_download_fd(nox_client *c, const char *sid, const char *src, int fd,
                            nox_error **err) {
    NEED_CLIENT(c, "download");
    /* The configured level may be "none"; a tar.gz is due here, so that
     * only picks stored gzip (the backends map it). */
    int level = c->cfg.gzip_level == NOX_TAR_PLAIN ? NOX__GZIP_AUTO : c->cfg.gzip_level;
    return download_fd_at(c, sid, src, fd, level, err);
}

NOX_API int nox_download_fd_level(nox_client *c, const char *sid, const char *src, int fd,
                                  int gzip_level, nox_error **err) {
    NEED_CLIENT(c, "download");
    if (gzip_level < NOX_TAR_PLAIN || gzip_level > 9)
        return nox__err(err, NOX_EINVAL,
                        "download: gzip level %d is neither 0..9 nor NOX_TAR_PLAIN (-1)",
                        gzip_level);
    return download_fd_at(c, sid, src, fd, gzip_level, err);
}

typedef struct extract_job {
    const char *dir;
    nox__archive_limits limits;
} extract_job;

static int consume_extract(void *ctx, nox__zread_fn zread, void *zctx, nox_error **err) {
    const extract_job *j = ctx;
    return nox__archive_extract_z(zread, zctx, j->dir, &j->limits, err);
}

NOX_API int nox_download_to_dir(nox_client *c, const char *sid, const char *src,
                                const char *local_dir, nox_error **err) {
    NEED_CLIENT(c, "download_to_dir");
    if (!local_dir || !*local_dir)
        return nox__err(err, NOX_EINVAL, "download_to_dir: local_dir is empty");
    int rc = check_sid("download_to_dir", sid, err);
    if (rc)
        return rc;
    extract_job job = {local_dir, {c->cfg.max_archive_bytes, c->cfg.max_archive_entries}};
    nox__pipe_consumer *pc = NULL;
    nox__sink sink;
    rc = nox__pipe_consumer_start(&pc, consume_extract, &job, &sink, err);
    if (rc == 0) {
        /* The extractor's error (a rejected entry) explains a failed
         * transfer better than the broken pipe the transfer sees. */
        nox_error *transfer_err = NULL;
        sink.takes_plain_tar = 1; /* an extractor detects either */
        rc = download_with(c, "download_to_dir", sid, src, NOX__GZIP_AUTO, &sink,
                           &transfer_err);
        rc = nox__pipe_consumer_finish(pc, rc, err);
        if (rc != 0 && err && !*err) {
            *err = transfer_err;
            transfer_err = NULL;
        }
        nox_error_free(transfer_err);
    }
    return finish(rc, err, "download_to_dir", sid);
}
