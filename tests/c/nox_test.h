/*
 * nox_test.h - the small harness every C test file uses.
 *
 * A test file defines tests with NT_TEST(name) and lists them in main()
 * with NT_RUN(name); nt_main_end() prints "N passed, N failed" and
 * returns the exit status ctest reads. Checks record a failure and return
 * from the test, printing file, line and (for calls) the nox_error text.
 */
#ifndef NOX_TEST_H
#define NOX_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "noxrunner/noxrunner.h"

extern int nt_failed_checks; /* failures in the current test */

void nt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nt_run(const char *name, void (*fn)(void));
int nt_main_end(void);
/* Run only tests whose name contains $NT_FILTER, when set. */

/* Skips are skips, never passes. NT_SKIP_CODE is the exit status ctest
 * reads as "skipped" (SKIP_RETURN_CODE). `need` names what is missing:
 * "namespaces", "cgroups" or "nobody". When $NOX_REQUIRE (a comma list,
 * set by `make test` on a host that can run them) names it, the skip is a
 * failure instead, with the reason. */
#define NT_SKIP_CODE 77
/* Inside a test: 1 after recording the skip (the test then returns), or
 * after recording a failure when `need` is required. */
int nt_skip(const char *need, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For a whole program that cannot run: prints why and returns the exit
 * status (NT_SKIP_CODE, or 1 when `need` is required). */
int nt_skip_all(const char *need, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when $NOX_REQUIRE names `need`. */
int nt_required(const char *need);
/* Run as root: this test binary once more as nobody (setpriv), with
 * marker_env set to "1" in its environment so it does not recurse.
 * Its exit status; NT_SKIP_CODE when it cannot be made (a failure where
 * NOX_REQUIRE names nobody). */
int nt_rerun_as_nobody(const char *marker_env);
/* The run's exit status after nt_main_end(): as root, also the run as
 * nobody (nt_rerun_as_nobody). */
int nt_main_end_and_nobody(const char *marker_env);
/* For suites that need the namespaces level: a local client on a fresh
 * base directory (*base, caller frees and removes), with the agent and
 * isolation overrides of the environment cleared. NULL with *rc set when
 * it cannot be made (1) or the host has no namespaces level (nt_skip_all's
 * code, "namespaces: <why>"). */
nox_client *nt_namespaces_client(char **base, const char *why, int *rc);
/* The meta.json of session sid under a local base directory, parsed
 * (caller frees with cJSON_Delete), or NULL. */
struct cJSON *nt_session_meta(const char *base, const char *sid);

#define NT_TEST(name) static void name(void)
#define NT_RUN(name) nt_run(#name, name)

#define NT_CHECK(cond)                                                   \
    do {                                                                 \
        if (!(cond)) {                                                   \
            nt_fail(__FILE__, __LINE__, "check failed: %s", #cond);      \
            return;                                                      \
        }                                                                \
    } while (0)

#define NT_CHECK_INT(a, b)                                               \
    do {                                                                 \
        long long nt_a_ = (long long)(a), nt_b_ = (long long)(b);        \
        if (nt_a_ != nt_b_) {                                            \
            nt_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
                    #a, nt_a_, #b, nt_b_);                               \
            return;                                                      \
        }                                                                \
    } while (0)

#define NT_CHECK_STR(a, b)                                               \
    do {                                                                 \
        const char *nt_a_ = (a), *nt_b_ = (b);                           \
        if (!nt_a_ || !nt_b_ || strcmp(nt_a_, nt_b_) != 0) {             \
            nt_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", \
                    #a, nt_a_ ? nt_a_ : "(null)", nt_b_ ? nt_b_ : "(null)"); \
            return;                                                      \
        }                                                                \
    } while (0)

/* Output bytes (ptr, len) equal the C string s. */
#define NT_CHECK_BYTES(ptr, len, s)                                      \
    do {                                                                 \
        size_t nt_l_ = strlen(s);                                        \
        if ((size_t)(len) != nt_l_ || memcmp((ptr), (s), nt_l_) != 0) {  \
            nt_fail(__FILE__, __LINE__, "%s is \"%.*s\", expected \"%s\"", \
                    #ptr, (int)(len), (const char *)(ptr), (s));         \
            return;                                                      \
        }                                                                \
    } while (0)

/* A call taking `&err` last must succeed. */
#define NT_OK(call)                                                      \
    do {                                                                 \
        nox_error *err = NULL;                                           \
        int nt_rc_ = (call);                                             \
        if (nt_rc_ != 0) {                                               \
            nt_fail(__FILE__, __LINE__, "%s -> %s: %s", #call,           \
                    nox_code_name(nt_rc_),                               \
                    err ? nox_error_message(err) : "(no error object)"); \
            nox_error_free(err);                                         \
            return;                                                      \
        }                                                                \
        nox_error_free(err);                                             \
    } while (0)

/* A call taking `&err` last must fail with code; the message must contain
 * `needle` (NULL: any). */
#define NT_FAILS(code, needle, call)                                     \
    do {                                                                 \
        nox_error *err = NULL;                                           \
        int nt_rc_ = (call);                                             \
        int nt_bad_ = nt_rc_ != (code) || !err ||                        \
                      nox_error_code(err) != (code) ||                   \
                      ((needle) && !strstr(nox_error_message(err), (needle))); \
        if (nt_bad_) {                                                   \
            nt_fail(__FILE__, __LINE__, "%s -> %s (%s), expected %s containing \"%s\"", \
                    #call, nox_code_name(nt_rc_),                        \
                    err ? nox_error_message(err) : "no error object",    \
                    nox_code_name(code), (needle) ? (needle) : "");      \
            nox_error_free(err);                                         \
            return;                                                      \
        }                                                                \
        nox_error_free(err);                                             \
    } while (0)

/* A fresh private directory under $TMPDIR, removed by nt_rm_rf(). The
 * returned string is malloc'd. */
char *nt_mkdtemp(const char *tag);
void nt_rm_rf(const char *path);
/* Read/write a whole file; read returns malloc'd data (NUL-terminated). */
char *nt_read_file(const char *path, size_t *len);
int nt_write_file(const char *path, const void *data, size_t len, int mode);

/* A local-backend client on a private base dir (NULL: a fresh temp dir,
 * returned through *base_dir_out when not NULL). Uses the agent built
 * next to the tests. Returns NULL after reporting a failure. */
nox_client *nt_local_client(const char *base_dir, char **base_dir_out);

/* A noxrunnerd started on a free loopback port with its own base dir. */
typedef struct nt_server {
    pid_t pid;
    int port;
    char url[64];
    char *base_dir;
} nt_server;
/* extra_args: NULL-terminated, may be NULL. 0 on success. */
int nt_server_start(nt_server *s, const char *const *extra_args);
/* SIGTERM, wait (kill after 10 s), remove the base dir. Returns the
 * server's exit status (0 for a clean exit), -1 when it had to be killed. */
int nt_server_stop(nt_server *s);
/* An HTTP-backend client for s (api_key may be NULL). */
nox_client *nt_http_client(const nt_server *s, const char *api_key);

/* A unique session id for this process: "<tag>-<pid>-<counter>". */
const char *nt_sid(const char *tag);

/* Run argv on the client and require exit 0; returns the result (caller
 * frees) or NULL after reporting. */
nox_exec_result *nt_exec_ok(nox_client *c, const char *sid,
                            const char *const *argv);

/* `sh -c script` with a timeout: exit code, stdout then stderr in out
 * (malloc'd, NUL-terminated), out_len the stdout part, truncated its flag.
 * When exec itself failed: code -1, out the error message and out_len its
 * length (never 0, so "printed nothing" cannot pass on a failed exec). */
typedef struct shres {
    int code;
    char *out;
    int truncated;
    size_t out_len;
} shres;
shres nt_sh(nox_client *c, const char *sid, const char *script, int timeout);
/* In a test: the probe ran (exit 0; a failed exec is code -1) and printed
 * nothing on stdout; else fail, free its output and return. */
#define NT_CHECK_SH_EMPTY(r)                                                      \
    do {                                                                          \
        if ((r).code != 0 || (r).out_len != 0) {                                  \
            nt_fail(__FILE__, __LINE__, "probe exit %d, output: %s", (r).code,    \
                    (r).out ? (r).out : "(none)");                                \
            free((r).out);                                                        \
            return;                                                               \
        }                                                                         \
    } while (0)
/* Create sid with these limits (NULL: none) and ttl; 0, or the code after
 * printing why on stderr. */
int nt_create_limited(nox_client *c, const char *sid, const char *mem, const char *cpu,
                      const char *storage, int ttl);

#endif /* NOX_TEST_H */
