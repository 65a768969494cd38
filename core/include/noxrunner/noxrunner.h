/*
 * noxrunner.h - the public C API of NoxRunner.
 *
 * One small API reaches two backends: a NoxRunner-compatible server over
 * HTTP, and a local sandbox on this machine. Everything here is the ABI
 * (see abi/README.md): opaque handles, versioned option structs, error
 * objects, pointer-plus-length byte data, pull-style streaming.
 *
 * Conventions
 *   - Fallible calls return 0 or a negative NOX_E* code and, when `err` is
 *     not NULL, store a new nox_error the caller frees with nox_error_free().
 *   - `**out` results are owned by the caller and freed with the matching
 *     nox_<thing>_free() (which all accept NULL). Returned `const` pointers
 *     are borrowed; their lifetime is stated next to the function.
 *   - Inputs are copied before a call returns.
 *   - Objects may be freed in any order: a result never refers back to the
 *     client that produced it.
 *   - A nox_client may be used from many threads at once.
 *   - "Part A", "Part B" and "B1".."B10" name sections of the HTTP wire
 *     contract, docs/spec/backend-api-v1.md in the source repository: Part A
 *     is what every compatible server offers, Part B our optional
 *     extensions (B5 is introspection: GET /v1/sandboxes[/{id}], /v1/info).
 *
 * Errors and versions (documented per function, as curl and zstd do)
 *   - "Errors:" lists the codes a function returns itself and what they
 *     mean there. A call that reaches a backend may also return these
 *     "backend errors", whatever the function:
 *       any backend: NOX_ENOMEM;
 *       HTTP:  NOX_ECONNECT (server unreachable, TLS failed, connection
 *              lost), NOX_ETIMEOUT (connect, request or idle deadline),
 *              NOX_EPROTOCOL (no valid HTTP, or JSON that is not the
 *              answer's), NOX_EAUTH (401/403), NOX_EINVAL (400),
 *              NOX_ENOTFOUND (404), NOX_ETOOBIG (413 or an oversized
 *              answer), NOX_ENOTREADY (503), NOX_EHTTP (any other non-2xx;
 *              see nox_error_http_status()), or the code a NoxRunner server
 *              names in its error answer (B10);
 *       local: NOX_ESANDBOX (the agent is missing, failed to start, or
 *              closed the connection), NOX_ETIMEOUT (it did not answer in
 *              time), NOX_EIO or NOX_EPROTOCOL (talking to it failed), and
 *              file-system errors on the base directory as errno maps them
 *              (NOX_ENOTFOUND, NOX_EINVAL, NOX_ETOOBIG, NOX_EIO).
 *     Every call taking a session id returns NOX_EINVAL, before any backend
 *     is asked, for a NULL, empty, over-long (> 256 bytes), non-UTF-8 or
 *     control-character id; and NOX_EINVAL for a NULL client or `out`.
 *   - "Since" names the first library version with the function (ABI 1
 *     throughout; nox_version_string() tells which one is loaded).
 */
#ifndef NOXRUNNER_H
#define NOXRUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "noxrunner/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NOX_BUILDING_LIBRARY) && defined(__GNUC__)
#define NOX_API __attribute__((visibility("default")))
#else
#define NOX_API
#endif

/* ---- library version ---------------------------------------------------- */

/* The ABI this header describes. A binding compares it with
 * nox_abi_version() and refuses a library it was not built for. */
#define NOX_ABI_VERSION 1

/* (major << 16) | (minor << 8) | patch of the loaded library. Cannot
 * fail. Since 0.1.0. */
NOX_API uint32_t nox_version_number(void);
/* "0.3.0"; static storage. Cannot fail. Since 0.1.0. */
NOX_API const char *nox_version_string(void);
/* NOX_ABI_VERSION of the loaded library. Cannot fail. Since 0.1.0. */
NOX_API int nox_abi_version(void);

/* ---- errors ------------------------------------------------------------- */

/* Return codes. Appended only, never renumbered or reused. */
#define NOX_OK 0
#define NOX_EINVAL (-1)       /* bad argument: empty argv, bad session id, ... */
#define NOX_ENOMEM (-2)       /* out of memory */
#define NOX_ENOTFOUND (-3)    /* no such sandbox (HTTP 404) or path */
#define NOX_EHTTP (-4)        /* other non-2xx answer; see status and body */
#define NOX_ECONNECT (-5)     /* server or sandbox agent unreachable */
#define NOX_ETIMEOUT (-6)     /* a client-side deadline passed */
#define NOX_EPROTOCOL (-7)    /* the peer answered something unparseable */
#define NOX_EARCHIVE (-8)     /* archive rejected (traversal, limits, corrupt) */
#define NOX_EIO (-9)          /* local I/O failed */
#define NOX_EAUTH (-10)       /* authentication failed (HTTP 401/403) */
#define NOX_ECANCELED (-11)   /* canceled by nox_exec_cancel() */
#define NOX_EUNSUPPORTED (-12)/* the backend or host cannot do this */
#define NOX_EVERSION (-13)    /* options struct version not understood */
#define NOX_ESANDBOX (-14)    /* the sandbox could not be set up, or died */
#define NOX_ENOTREADY (-15)   /* sandbox exists but is not ready (HTTP 503) */
#define NOX_ETOOBIG (-16)     /* a size or count limit was exceeded */

typedef struct nox_error nox_error;

/* Stable name of a code, "NOX_ENOTFOUND"; "NOX_EUNKNOWN" for an unknown
 * code. Static storage. Bindings map these names to exception types.
 * Since 0.1.0. */
NOX_API const char *nox_code_name(int code);
/* A short English description of a code. Static storage. Since 0.1.0. */
NOX_API const char *nox_code_description(int code);

/* The error's NOX_E* code. Since 0.1.0. */
NOX_API int nox_error_code(const nox_error *e);
/* What failed and on what. Borrowed from e; never NULL. Since 0.1.0. */
NOX_API const char *nox_error_message(const nox_error *e);
/* HTTP status of the answer that caused the error; 0 when none. Since
 * 0.1.0. */
NOX_API int nox_error_http_status(const nox_error *e);
/* Body of that answer (may hold any bytes; NUL-terminated for
 * convenience); NULL with *len = 0 when none. Borrowed from e. Since
 * 0.1.0. */
NOX_API const uint8_t *nox_error_body(const nox_error *e, size_t *len);
/* Accepts NULL. Since 0.1.0. */
NOX_API void nox_error_free(nox_error *e);

/* ---- byte buffers ------------------------------------------------------- */

typedef struct nox_bytes nox_bytes;

/* Borrowed from b. The data is followed by a NUL byte that len does not
 * count, so text can be used as a C string. Since 0.1.0. */
NOX_API const uint8_t *nox_bytes_data(const nox_bytes *b, size_t *len);
/* Accepts NULL. Since 0.1.0. */
NOX_API void nox_bytes_free(nox_bytes *b);

/* ---- client ------------------------------------------------------------- */

#define NOX_BACKEND_LOCAL 1
#define NOX_BACKEND_HTTP 2

#define NOX_ISOLATION_AUTO 0       /* strongest level the host allows */
#define NOX_ISOLATION_NONE 1       /* host view, workspace at /workspace */
#define NOX_ISOLATION_NAMESPACES 2 /* full namespace sandbox */

#define NOX_CLIENT_OPTIONS_VERSION 2
typedef struct nox_client_options {
    uint32_t version;             /* NOX_CLIENT_OPTIONS_VERSION */
    int32_t backend;              /* NOX_BACKEND_* */

    /* HTTP backend */
    const char *base_url;         /* "http://127.0.0.1:8080"; required */
    const char *api_key;          /* bearer token; NULL: $NOXRUNNER_API_KEY */
    uint32_t connect_timeout_ms;  /* 0: 10000 */
    uint32_t request_timeout_ms;  /* whole request, exec time excluded; 0: 60000 */
    int32_t max_retries;          /* safe calls only; init sets 2; 0: none */
    int32_t tls_verify;           /* init sets 1; 0 disables peer checks */
    const char *ca_file;          /* NULL: system store */
    const char *user_agent;       /* NULL: "noxrunner-c/<version>" */

    /* local backend */
    const char *base_dir;         /* NULL: $NOXRUNNER_HOME, else a per-user
                                     directory under the temp dir */
    int32_t isolation;            /* NOX_ISOLATION_* */
    const char *agent_path;       /* NULL: $NOXRUNNER_AGENT, else installed */

    /* both */
    uint64_t max_output_bytes;    /* per stream and exec; 0: 1 MiB */
    uint64_t max_archive_bytes;   /* extracted size limit; 0: 8 GiB */
    uint64_t max_archive_entries; /* entry count limit; 0: 1000000 */

    /* version 2 */
    uint32_t transfer_timeout_ms; /* HTTP: a whole upload or download, the
                                     idle limit (request_timeout_ms without
                                     a byte moving) aside; 0: 3600000 (1 h).
                                     Since 0.3.0. */
} nox_client_options;

/* Fill o with defaults for the given struct version (pass
 * NOX_CLIENT_OPTIONS_VERSION). Only the fields of that version are
 * written, so a caller built against an older header (a smaller struct)
 * is safe. Returns the code only (no nox_error).
 * Errors: NOX_EINVAL (o is NULL), NOX_EVERSION (a version this library
 * does not know). Since 0.1.0. */
NOX_API int nox_client_options_init(nox_client_options *o, uint32_t version);

typedef struct nox_client nox_client;

/* Create a client. Nothing is contacted yet; the HTTP backend validates
 * the URL, the local backend creates its base directory.
 * Errors: NOX_EINVAL (opts NULL; unknown backend or isolation level;
 * max_retries outside 0..10; $NOXRUNNER_GZIP_LEVEL neither 0..9 nor
 * "none"; HTTP without base_url, or a URL libcurl refuses), NOX_EVERSION
 * (opts->version unknown), NOX_EUNSUPPORTED (local: isolation
 * NAMESPACES on a host that cannot do it), NOX_ENOMEM; local: the base
 * directory cannot be made (errno mapped: NOX_ENOTFOUND, NOX_EINVAL,
 * NOX_ETOOBIG, NOX_EIO). Since 0.1.0. */
NOX_API int nox_client_new(nox_client **out, const nox_client_options *opts,
                           nox_error **err);
/* Free a client (NULL is fine). Results and streams it produced stay
 * valid. Must not be called while another thread is inside a call on c.
 * Since 0.1.0. */
NOX_API void nox_client_free(nox_client *c);
/* NOX_BACKEND_* of c; 0 for NULL. Since 0.1.0. */
NOX_API int nox_client_backend(const nox_client *c);
/* Isolation level in force: for the local backend the resolved level
 * (never AUTO); for the HTTP backend the server's, as learned from
 * /v1/info, or NOX_ISOLATION_AUTO when unknown. Cannot fail. Since
 * 0.1.0. */
NOX_API int nox_client_isolation(nox_client *c);
/* Stable name of an isolation level: "auto", "none", "namespaces";
 * "unknown" for anything else. Since 0.1.0. */
NOX_API const char *nox_isolation_name(int level);

/* 0 when the backend is healthy (HTTP: GET /healthz answers 2xx; local:
 * the base directory is writable and the agent program was found).
 * Errors: the backend errors (local: NOX_EIO for a missing or unwritable
 * base directory, NOX_ESANDBOX without an agent program). Since 0.1.0. */
NOX_API int nox_health(nox_client *c, nox_error **err);
/* Backend description as a JSON object: name, version, extensions,
 * isolation (HTTP: the server's /v1/info).
 * Errors: NOX_EUNSUPPORTED (HTTP: the server has no /v1/info, a Part-A
 * server), NOX_EPROTOCOL (its answer is not a JSON object), the backend
 * errors. Since 0.1.0. */
NOX_API int nox_info(nox_client *c, nox_bytes **out_json, nox_error **err);

/* ---- sandboxes ---------------------------------------------------------- */

/* Session ids are 1..256 bytes of UTF-8 without control characters. */

#define NOX_SANDBOX_OPTIONS_VERSION 1
typedef struct nox_sandbox_options {
    uint32_t version;               /* NOX_SANDBOX_OPTIONS_VERSION */
    int32_t ttl_seconds;            /* 0: 900; 1..2592000 */
    const char *image;              /* NULL: backend default */
    const char *cpu_limit;          /* "1", "500m"; NULL: none */
    const char *memory_limit;       /* "512Mi", "1Gi"; NULL: none */
    const char *ephemeral_storage_limit; /* "2Gi"; NULL: none */
} nox_sandbox_options;
/* As nox_client_options_init: NOX_EINVAL, NOX_EVERSION. Since 0.1.0. */
NOX_API int nox_sandbox_options_init(nox_sandbox_options *o, uint32_t version);

typedef struct nox_sandbox_info nox_sandbox_info;

/* Create the sandbox for session_id, or return the live one (refreshing
 * its TTL). opts may be NULL for defaults.
 * Errors: NOX_EINVAL (session id; ttl_seconds outside 0..2592000; a
 * limit that is not a quantity like "512Mi" or "500m"; an image that is
 * empty, longer than 4096 bytes or, locally, not a root file system
 * directory), NOX_EVERSION (opts->version unknown), NOX_EUNSUPPORTED
 * (local: level NAMESPACES unavailable here, or an image at level none),
 * NOX_ESANDBOX (the sandbox could not be set up: no agent program, or an
 * agent that failed, exited or did not become ready during setup; over
 * HTTP when a NoxRunner server names it), the backend errors. Since
 * 0.1.0. */
NOX_API int nox_sandbox_create(nox_client *c, const char *session_id,
                               const nox_sandbox_options *opts,
                               nox_sandbox_info **out, nox_error **err);
/* Look one sandbox up (HTTP: needs the server's B5 extension).
 * Errors: NOX_EINVAL (session id), NOX_ENOTFOUND (no such sandbox),
 * NOX_EUNSUPPORTED (HTTP: a Part-A server, without B5), the backend
 * errors. Since 0.1.0. */
NOX_API int nox_sandbox_get(nox_client *c, const char *session_id,
                            nox_sandbox_info **out, nox_error **err);
/* Strings borrowed from i. Since 0.1.0. */
NOX_API const char *nox_sandbox_info_session_id(const nox_sandbox_info *i);
NOX_API const char *nox_sandbox_info_pod_name(const nox_sandbox_info *i);
/* ISO-8601 UTC, "2026-01-01T00:00:00Z". Since 0.1.0. */
NOX_API const char *nox_sandbox_info_expires_at(const nox_sandbox_info *i);
/* expiresAt as seconds since the epoch. Since 0.1.0. */
NOX_API int64_t nox_sandbox_info_expires_at_unix(const nox_sandbox_info *i);
/* Accepts NULL. Since 0.1.0. */
NOX_API void nox_sandbox_info_free(nox_sandbox_info *i);

typedef struct nox_sandbox_list nox_sandbox_list;
/* Live sandboxes (HTTP: needs the server's B5 extension).
 * Errors: NOX_EUNSUPPORTED (HTTP: a Part-A server, without B5), the
 * backend errors (local: the base directory cannot be read). Since
 * 0.1.0. */
NOX_API int nox_sandbox_list_all(nox_client *c, nox_sandbox_list **out,
                                 nox_error **err);
/* Since 0.1.0. */
NOX_API size_t nox_sandbox_list_count(const nox_sandbox_list *l);
/* Borrowed from l; NULL when index is out of range. Since 0.1.0. */
NOX_API const nox_sandbox_info *nox_sandbox_list_at(const nox_sandbox_list *l,
                                                    size_t index);
/* Accepts NULL. Since 0.1.0. */
NOX_API void nox_sandbox_list_free(nox_sandbox_list *l);

/* Extend the TTL: expiresAt becomes now + ttlSeconds.
 * Errors: NOX_EINVAL (session id), NOX_ENOTFOUND (no such sandbox), the
 * backend errors. Since 0.1.0. */
NOX_API int nox_sandbox_touch(nox_client *c, const char *session_id,
                              nox_error **err);
/* Kill everything in the sandbox and remove it.
 * Errors: NOX_EINVAL (session id), NOX_ENOTFOUND (no such sandbox; a
 * caller that only wants it gone may treat this as done), the backend
 * errors. Since 0.1.0. */
NOX_API int nox_sandbox_delete(nox_client *c, const char *session_id,
                               nox_error **err);
/* Block until the sandbox answers an exec, or timeout_ms passes.
 * Errors: NOX_EINVAL (session id), NOX_ENOTFOUND (no such sandbox, at
 * once: create it first), NOX_ETIMEOUT (not ready within timeout_ms;
 * HTTP: the server kept answering 503), the backend errors. Since
 * 0.1.0. */
NOX_API int nox_sandbox_wait_ready(nox_client *c, const char *session_id,
                                   uint32_t timeout_ms, nox_error **err);

/* ---- exec --------------------------------------------------------------- */

#define NOX_EXEC_OPTIONS_VERSION 1
typedef struct nox_exec_options {
    uint32_t version;              /* NOX_EXEC_OPTIONS_VERSION */
    const char *workdir;           /* NULL: /workspace */
    const char *const *env;        /* "K=V" strings, NULL-terminated; may be NULL */
    int32_t timeout_seconds;       /* 0: 30; 1..86400 */
    const uint8_t *stdin_data;     /* fed to stdin then closed; NULL: empty */
    size_t stdin_len;
    uint64_t max_output_bytes;     /* per stream; 0: the client's limit */
} nox_exec_options;
/* As nox_client_options_init: NOX_EINVAL, NOX_EVERSION. Since 0.1.0. */
NOX_API int nox_exec_options_init(nox_exec_options *o, uint32_t version);

typedef struct nox_exec_result nox_exec_result;

/* Run argv (never through a shell) and wait for it. A command that runs
 * past its timeout is killed with everything it started; that is a
 * successful call whose result has timed_out = 1 and exit code 124, as is
 * any exit status of the command itself. opts may be NULL.
 * Errors: NOX_EINVAL (session id; argv NULL, empty, with an empty argv[0]
 * or more than 65536 elements; timeout_seconds outside 0..86400; a
 * workdir that is not an absolute path inside the sandbox, or does not
 * exist there; an env entry not of the form NAME=value; stdin_data NULL
 * with stdin_len > 0), NOX_EVERSION (opts->version unknown),
 * NOX_ENOTFOUND (no such sandbox), NOX_ENOTREADY (HTTP: the server's
 * sandbox is not ready yet), NOX_ETOOBIG (local: argv, env and stdin
 * exceed the agent's request size), NOX_ESANDBOX (the sandbox is shutting
 * down or died while the command ran), the backend errors. Since 0.1.0. */
NOX_API int nox_exec(nox_client *c, const char *session_id,
                     const char *const *argv, const nox_exec_options *opts,
                     nox_exec_result **out, nox_error **err);

/* The result's accessors cannot fail. All since 0.1.0. */
/* Exit status (0..255); 128+n when killed by signal n; 124 on timeout. */
NOX_API int nox_exec_result_exit_code(const nox_exec_result *r);
/* Signal that killed the command, 0 when it exited normally. */
NOX_API int nox_exec_result_signal(const nox_exec_result *r);
/* Output bytes, borrowed from r, NUL-terminated beyond len. */
NOX_API const uint8_t *nox_exec_result_stdout(const nox_exec_result *r, size_t *len);
NOX_API const uint8_t *nox_exec_result_stderr(const nox_exec_result *r, size_t *len);
NOX_API int64_t nox_exec_result_duration_ms(const nox_exec_result *r);
/* 1 when the command ran past its timeout and was killed. */
NOX_API int nox_exec_result_timed_out(const nox_exec_result *r);
/* 1 when output beyond max_output_bytes was dropped. */
NOX_API int nox_exec_result_stdout_truncated(const nox_exec_result *r);
NOX_API int nox_exec_result_stderr_truncated(const nox_exec_result *r);
/* Accepts NULL. */
NOX_API void nox_exec_result_free(nox_exec_result *r);

/* Streaming exec, pull-style: start, then call nox_exec_next() until it
 * reports NOX_EVENT_EXIT. */
typedef struct nox_exec_stream nox_exec_stream;

#define NOX_EVENT_NONE 0   /* timeout_ms passed with nothing new */
#define NOX_EVENT_STDOUT 1
#define NOX_EVENT_STDERR 2
#define NOX_EVENT_EXIT 3

/* Start argv as nox_exec() does and return at once with a stream of its
 * output. Failures before the command runs (bad arguments, no such
 * sandbox, a bad workdir) are reported here, not by nox_exec_next().
 * Errors: as nox_exec(). Since 0.1.0. */
NOX_API int nox_exec_start(nox_client *c, const char *session_id,
                           const char *const *argv,
                           const nox_exec_options *opts,
                           nox_exec_stream **out, nox_error **err);
/* Wait up to timeout_ms (-1: no limit) for the next event. For STDOUT and
 * STDERR, *data and *len describe a chunk valid until the next call on s.
 * For EXIT, nox_exec_stream_result() holds the result; later calls report
 * EXIT again. Nothing new within timeout_ms is NOX_EVENT_NONE, not an
 * error.
 * Errors: NOX_EINVAL (s or out_kind NULL), NOX_ECANCELED (after
 * nox_exec_cancel()), NOX_ESANDBOX (the sandbox died during the command;
 * HTTP: the server's stream ended with an error line), NOX_ETOOBIG (HTTP:
 * the server sent far more than the output cap), the backend errors.
 * Since 0.1.0. */
NOX_API int nox_exec_next(nox_exec_stream *s, int32_t timeout_ms,
                          int *out_kind, const uint8_t **data, size_t *len,
                          nox_error **err);
/* The result once EXIT was reported (its stdout/stderr are empty: the
 * output went out as chunks); NULL before. Borrowed from s. Since
 * 0.1.0. */
NOX_API const nox_exec_result *nox_exec_stream_result(const nox_exec_stream *s);
/* Kill the command and everything it started. Safe from any thread, at
 * any time before nox_exec_stream_free(); idempotent. Since 0.1.0. */
NOX_API void nox_exec_cancel(nox_exec_stream *s);
/* Free the stream (NULL is fine); a command still running is killed. Over
 * HTTP, a stream that reported EXIT first reads the end of the server's
 * answer (at most 200 ms; normally already there) so its connection
 * serves the next call. Since 0.1.0. */
NOX_API void nox_exec_stream_free(nox_exec_stream *s);

/* ---- files -------------------------------------------------------------- */

/* An in-memory set of files to upload. */
typedef struct nox_files nox_files;
/* An empty set. Errors: NOX_EINVAL (out NULL), NOX_ENOMEM. Since 0.1.0. */
NOX_API int nox_files_new(nox_files **out, nox_error **err);
/* Add a regular file; path is relative ("dir/a.txt"), data is copied.
 * mode 0 means 0644.
 * Errors: NOX_EINVAL (f or path NULL; an absolute path, "..", an empty
 * or "." component, a control character, more than 4096 bytes; a
 * duplicate name; data NULL with len > 0; mode bits beyond 07777),
 * NOX_ENOMEM. Since 0.1.0. */
NOX_API int nox_files_add(nox_files *f, const char *path, const uint8_t *data,
                          size_t len, uint32_t mode, nox_error **err);
/* Since 0.1.0. */
NOX_API size_t nox_files_count(const nox_files *f);
/* Accepts NULL. Since 0.1.0. */
NOX_API void nox_files_free(nox_files *f);

/* Upload into dest (NULL: /workspace), creating it and its parents.
 * Entries before a refused one may stay extracted.
 * Errors (all uploads): NOX_EINVAL (session id; files NULL; dest not an
 * absolute path inside the sandbox, with "..", or outside /workspace),
 * NOX_ENOTFOUND (no such sandbox), NOX_EARCHIVE (the sandbox refused the
 * archive: corrupt, or an entry that would leave dest), NOX_ETOOBIG (the
 * archive exceeds the limits: locally max_archive_bytes and
 * max_archive_entries, over HTTP the server's; or the sandbox's storage is
 * full), NOX_ETIMEOUT (HTTP: the upload took longer than
 * transfer_timeout_ms, or no byte moved for request_timeout_ms), the
 * backend errors. Since 0.1.0. */
NOX_API int nox_upload(nox_client *c, const char *session_id,
                       const nox_files *files, const char *dest,
                       nox_error **err);
/* Upload the tree under local_dir (its contents, not the directory
 * itself); symlinks are sent as symlinks, never followed; FIFOs, sockets
 * and devices are skipped.
 * Errors: as nox_upload(), and NOX_EINVAL (local_dir empty or not a
 * directory), NOX_ENOTFOUND or NOX_EIO (local_dir or a file under it
 * cannot be read; errno mapped). Since 0.1.0. */
NOX_API int nox_upload_dir(nox_client *c, const char *session_id,
                           const char *local_dir, const char *dest,
                           nox_error **err);
/* Upload a ready tar.gz archive from memory, or read from fd until EOF.
 * Errors: as nox_upload(), and NOX_EINVAL (data NULL with len > 0; fd
 * negative), NOX_EIO (reading fd failed). Since 0.1.0. */
NOX_API int nox_upload_targz(nox_client *c, const char *session_id,
                             const uint8_t *data, size_t len,
                             const char *dest, nox_error **err);
NOX_API int nox_upload_targz_fd(nox_client *c, const char *session_id, int fd,
                                const char *dest, nox_error **err);

/* Compression. Transfers between this process and a sandbox on the same
 * machine compress nothing: the local backend carries a plain tar, and
 * over HTTP to a loopback server (localhost, 127/8, ::1) uploads and
 * nox_download_to_dir() are a plain tar when the server takes one (Part
 * B "plain-tar"), else gzip level 0 (stored blocks: a valid tar.gz at
 * memory speed). Elsewhere archives are gzip level 1. Archives handed
 * back as tar.gz (nox_download, nox_download_fd) are level 1 locally and
 * 0 on loopback. $NOXRUNNER_GZIP_LEVEL (0..9, or "none") overrides the
 * level. Downloads ask the server for it with the X-Nox-Gzip-Level
 * header; a Part-A server picks its own, which extracts the same. */

/* Download everything under src (NULL: /workspace) as tar.gz bytes, names
 * relative to src.
 * Errors (all downloads): NOX_EINVAL (session id; src not an absolute
 * path inside the sandbox, or with ".."), NOX_ENOTFOUND (no such sandbox,
 * or src does not exist), NOX_ETOOBIG (HTTP: an answer bigger than the
 * client keeps in memory), NOX_ETIMEOUT (HTTP: the download took longer
 * than transfer_timeout_ms, or no byte moved for request_timeout_ms), the
 * backend errors. Since 0.1.0. */
NOX_API int nox_download(nox_client *c, const char *session_id,
                         const char *src, nox_bytes **out_targz,
                         nox_error **err);
/* The same archive written to fd as it arrives; what was written before a
 * failure stays written.
 * Errors: as nox_download(), and NOX_EINVAL (fd negative); writing fd
 * failed, errno mapped: NOX_ECONNECT (EPIPE: the reader went away),
 * NOX_ETOOBIG (ENOSPC, EFBIG), NOX_EIO (others). Since 0.1.0. */
NOX_API int nox_download_fd(nox_client *c, const char *session_id,
                            const char *src, int fd, nox_error **err);
/* The same at gzip level 0..9 (0: stored, 1: fastest, 9: smallest), or
 * NOX_TAR_PLAIN: an uncompressed tar, when the backend can make one (the
 * local backend, our server; a Part-A server sends a tar.gz). The HTTP
 * backend passes the level on as a request the server may ignore.
 * Errors: as nox_download_fd(), and NOX_EINVAL for any other level.
 * Since 0.2.0 (NOX_TAR_PLAIN too). */
#define NOX_TAR_PLAIN (-1)
NOX_API int nox_download_fd_level(nox_client *c, const char *session_id,
                                  const char *src, int fd, int gzip_level,
                                  nox_error **err);
/* Download and extract safely into local_dir (created if missing):
 * absolute names, "..", links leaving local_dir, devices and FIFOs are
 * refused with NOX_EARCHIVE naming the entry. Entries before a refused
 * one stay extracted.
 * Errors: as nox_download(), and NOX_EINVAL (local_dir empty),
 * NOX_EARCHIVE (an unsafe entry, or an archive that is not a tar or
 * tar.gz), NOX_ETOOBIG (more than max_archive_bytes or
 * max_archive_entries), errors creating files under local_dir (errno
 * mapped: NOX_ENOTFOUND, NOX_ETOOBIG, NOX_EIO). Since 0.1.0. */
NOX_API int nox_download_to_dir(nox_client *c, const char *session_id,
                                const char *src, const char *local_dir,
                                nox_error **err);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_H */
