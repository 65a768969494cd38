/*
 * internal.h - what the library's parts share and no caller sees.
 *
 * client.c validates every public call (session ids, argv, options),
 * applies defaults, and dispatches to a backend through nox__backend_ops.
 * Backends report errors without the operation prefix; client.c adds
 * "exec on session \"s1\": " in front, so every message names both the
 * operation and the sandbox.
 */
#ifndef NOX_INTERNAL_H
#define NOX_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "noxrunner/noxrunner.h"

/* Errors, buffers, time and fd helpers live in the internal helper
 * library noxbase (base/common.h has the map), shared with the agent. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/error.h"
#include "base/fdio.h"

/* ---- objects (objects.c) ------------------------------------------------ */

struct nox_exec_result {
    int exit_code;
    int signal;
    int timed_out;
    int stdout_truncated;
    int stderr_truncated;
    int64_t duration_ms;
    nox__buf out; /* always NUL-terminated once handed to a caller */
    nox__buf err;
};
nox_exec_result *nox__exec_result_new(void);

struct nox_sandbox_info {
    char *session_id;
    char *pod_name;
    char *expires_at; /* ISO-8601 UTC */
    int64_t expires_at_unix;
};
/* expires_iso may be NULL: it is then formatted from expires_unix. With
 * an ISO string, expires_unix is parsed from it (0 when unparseable). */
nox_sandbox_info *nox__sandbox_info_new(const char *session_id,
                                        const char *pod_name,
                                        const char *expires_iso,
                                        int64_t expires_unix);
nox_sandbox_info *nox__sandbox_info_copy(const nox_sandbox_info *i);
/* Accepts "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM]"; NOX_EINVAL otherwise. */
int nox__parse_iso8601(const char *s, int64_t *out);

struct nox_sandbox_list {
    nox_sandbox_info **items;
    size_t count;
    size_t cap;
};
nox_sandbox_list *nox__sandbox_list_new(void);
/* Takes ownership of info (freed on failure). */
int nox__sandbox_list_push(nox_sandbox_list *l, nox_sandbox_info *info);

typedef struct nox__file_entry {
    char *path; /* relative, validated */
    uint8_t *data;
    size_t len;
    uint32_t mode;
} nox__file_entry;

struct nox_files {
    nox__file_entry *items;
    size_t count;
    size_t cap;
};

/* ---- validation (validate.c) -------------------------------------------- */

/* NOX_EINVAL with a message naming the problem. */
int nox__validate_session_id(const char *sid, nox_error **err);
int nox__validate_argv(const char *const *argv, size_t *count, nox_error **err);
/* A relative archive member name: no leading '/', no "..", no empty or
 * "." components, no control characters. */
int nox__validate_relpath(const char *path, nox_error **err);
/* An absolute sandbox path (workdir, dest, src): starts with '/', no ".."
 * component, no NUL or control characters. */
int nox__validate_sandbox_path(const char *what, const char *path,
                               nox_error **err);
int nox__utf8_valid(const uint8_t *s, size_t n);

/* ---- normalized options handed to backends ------------------------------ */

/* Copies of the client options with defaults applied; strings owned. */
typedef struct nox__config {
    int backend;
    char *base_url;
    char *api_key;
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t transfer_timeout_ms; /* whole upload or download over HTTP */
    int max_retries;
    int tls_verify;
    char *ca_file;
    char *user_agent;
    char *base_dir;
    int isolation;
    char *agent_path;
    uint64_t max_output_bytes;
    uint64_t max_archive_bytes;
    uint64_t max_archive_entries;
    /* gzip level of the archives this client makes or asks for (uploads
     * and downloads over HTTP, nox_download's bytes): 0..9 from
     * $NOXRUNNER_GZIP_LEVEL, else NOX__GZIP_AUTO, which each backend
     * resolves (HTTP: 0, stored, for a loopback server, else 1; local: 1).
     * Local transfers into or out of directories carry a plain tar. */
    int gzip_level;
} nox__config;

typedef struct nox__sandbox_opts {
    int32_t ttl_seconds; /* validated, default applied */
    const char *image;   /* may be NULL */
    const char *cpu_limit;
    const char *memory_limit;
    const char *ephemeral_storage_limit;
} nox__sandbox_opts;

typedef struct nox__exec_opts {
    const char *workdir;       /* never NULL */
    const char *const *env;    /* validated "K=V", env_count entries */
    size_t env_count;
    int32_t timeout_seconds;   /* validated, default applied */
    const uint8_t *stdin_data; /* meaningful when has_stdin */
    size_t stdin_len;
    int has_stdin;
    uint64_t max_output_bytes; /* per stream, never 0 */
} nox__exec_opts;

/* ---- byte plumbing ------------------------------------------------------ */

/* Receives bytes pushed by a producer. Returns 0 or a NOX_E* code. */
typedef struct nox__sink {
    int (*write)(void *ctx, const uint8_t *data, size_t len, nox_error **err);
    void *ctx;
    /* 1: the consumer is an extractor, which takes a plain tar as well as
     * a tar.gz, so a backend may skip compression altogether. */
    int takes_plain_tar;
} nox__sink;

/* Archive compression: NOX__TAR_PLAIN writes no gzip layer at all (only
 * between two ends of ours that both detect it); 0..9 are gzip levels,
 * 0 being stored blocks: still a valid gzip stream for any Part-A peer,
 * at memory speed. NOX__GZIP_DEFAULT is zlib's own default. */
#define NOX__TAR_PLAIN (-1)
#define NOX__GZIP_STORED 0
#define NOX__GZIP_FAST 1
#define NOX__GZIP_DEFAULT 6
#define NOX__GZIP_AUTO (-2)

/* Pushes a whole archive stream into a sink. Producers that build the
 * archive use the compression level they are given; producers of
 * archives the caller made (bytes, an fd) pass them on unchanged. */
typedef struct nox__producer {
    int (*run)(void *ctx, int level, nox__sink *sink, nox_error **err);
    void *ctx;
} nox__producer;

/* Pull-style reader: *got = 0 means end of stream. */
typedef int (*nox__read_fn)(void *ctx, uint8_t *buf, size_t cap, size_t *got,
                            nox_error **err);
/* The same without a copy: *data points into the reader's own buffer and
 * stays valid until the next call; *len = 0 means end of stream. */
typedef int (*nox__zread_fn)(void *ctx, const uint8_t **data, size_t *len,
                             nox_error **err);

/* Sinks and readers over memory and file descriptors: base/fdio.h. */

/* Run consumer(ctx, reader) in a thread while the returned sink feeds
 * it through a ring buffer in memory (bounded; one copy in, none out):
 * turns a push (sink) into a pull (reader). Once the consumer fails,
 * writes into the sink fail at once.
 * nox__pipe_consumer_finish(pc, status) closes the write end, joins the
 * thread and returns the error that explains the outcome: the consumer's
 * (stored in *err) when the transfer succeeded or was cut off by the
 * consumer, else status, whose error the caller reports itself. */
typedef struct nox__pipe_consumer nox__pipe_consumer;
typedef int (*nox__consume_fn)(void *ctx, nox__zread_fn zread, void *zctx,
                               nox_error **err);
int nox__pipe_consumer_start(nox__pipe_consumer **out, nox__consume_fn fn,
                             void *ctx, nox__sink *sink_out, nox_error **err);
int nox__pipe_consumer_finish(nox__pipe_consumer *pc, int status,
                              nox_error **err);

/* Run producer in a thread pushing into a ring buffer in memory (bounded;
 * one copy in, one out): turns a push (producer) into a pull.
 * nox__ring_producer_read() copies up to cap bytes out, blocking until
 * some are there; 0 means the producer finished (its status comes from
 * _finish). nox__ring_producer_finish() stops a producer still running
 * (its writes then fail), joins it, and returns its status. */
typedef struct nox__ring_producer nox__ring_producer;
int nox__ring_producer_start(nox__ring_producer **out, nox__producer *p,
                             int level, nox_error **err);
size_t nox__ring_producer_read(nox__ring_producer *rp, uint8_t *buf, size_t cap);
int nox__ring_producer_finish(nox__ring_producer *rp, nox_error **err);

/* ---- streams ------------------------------------------------------------ */

typedef struct nox__stream_ops {
    /* Same contract as nox_exec_next(); on EXIT it sets s->result. */
    int (*next)(nox_exec_stream *s, int32_t timeout_ms, int *kind,
                const uint8_t **data, size_t *len, nox_error **err);
    void (*cancel)(nox_exec_stream *s); /* any thread */
    void (*destroy)(nox_exec_stream *s); /* frees impl, not s or result */
} nox__stream_ops;

struct nox_exec_stream {
    const nox__stream_ops *ops;
    void *impl;
    nox_exec_result *result; /* set once EXIT was reported */
    char *session_id;        /* for error messages */
};

/* ---- backends ----------------------------------------------------------- */

/* Every function gets the backend's impl pointer. Session ids, argv and
 * paths are validated before a backend sees them. Any op may be NULL:
 * client.c then answers NOX_EUNSUPPORTED (exec falls back to exec_start).
 * All ops must be safe to call from many threads at once. */
typedef struct nox__backend_ops {
    const char *name; /* "local", "http" */
    void (*destroy)(void *impl);
    int (*isolation)(void *impl);
    int (*health)(void *impl, nox_error **err);
    int (*info)(void *impl, nox_bytes **out_json, nox_error **err);
    int (*create)(void *impl, const char *sid, const nox__sandbox_opts *o,
                  nox_sandbox_info **out, nox_error **err);
    int (*get)(void *impl, const char *sid, nox_sandbox_info **out,
               nox_error **err);
    int (*list)(void *impl, nox_sandbox_list **out, nox_error **err);
    int (*touch)(void *impl, const char *sid, nox_error **err);
    int (*del)(void *impl, const char *sid, nox_error **err);
    int (*wait_ready)(void *impl, const char *sid, uint32_t timeout_ms,
                      nox_error **err);
    int (*exec)(void *impl, const char *sid, const char *const *argv,
                size_t argc, const nox__exec_opts *o, nox_exec_result **out,
                nox_error **err);
    int (*exec_start)(void *impl, const char *sid, const char *const *argv,
                      size_t argc, const nox__exec_opts *o,
                      nox_exec_stream **out, nox_error **err);
    /* Upload: the producer pushes an archive (run at the compression the
     * backend picks); extract it at dest. */
    int (*upload)(void *impl, const char *sid, const char *dest,
                  nox__producer *targz, nox_error **err);
    /* Download: push the archive of everything under src into sink: a
     * tar.gz, gzip level `level` where the backend can choose it, or a
     * plain tar when sink->takes_plain_tar. */
    int (*download)(void *impl, const char *sid, const char *src, int level,
                    nox__sink *targz, nox_error **err);
} nox__backend_ops;

/* Constructors; cfg stays owned by the client and outlives impl. */
int nox__local_backend_new(const nox__config *cfg,
                           const nox__backend_ops **ops, void **impl,
                           nox_error **err);
int nox__http_backend_new(const nox__config *cfg, const nox__backend_ops **ops,
                          void **impl, nox_error **err);

#endif /* NOX_INTERNAL_H */
