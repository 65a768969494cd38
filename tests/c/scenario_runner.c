/*
 * scenario_runner.c - plays every tests/scenarios/<name>.json through the public C API,
 * against the local backend and against a noxrunnerd it starts itself.
 *
 * Build: this file alone, linked with the shared libnoxrunner, cJSON
 * (libcjson, <cjson/cJSON.h>) and pthreads. Nothing else: downloads are
 * checked by extracting them with nox_download_to_dir() into a temporary
 * directory and reading the files back with stat/open (which also exercises
 * the library's safe extraction).
 *
 *   cc -std=c11 -D_GNU_SOURCE -Icore/include tests/c/scenario_runner.c \
 *      -lnoxrunner -lcjson -lpthread
 *
 * Environment (see tests/scenarios/README.md): NOXRUNNERD, NOXRUNNER_AGENT,
 * NOX_SCENARIOS. Optional: NOX_SCENARIO_BACKEND=local|http to play one
 * backend only, NOX_SCENARIO_VERBOSE=1 to print every scenario with its
 * time. Arguments, when given, are scenario names to play (default: all).
 *
 * Output: one line per failure ("FAIL c-<backend> <scenario> step <i>
 * (<op>): <what differed>"), then "c-local: N passed, N failed" and
 * "c-http: N passed, N failed". Exit status 1 when anything failed.
 */
#include <noxrunner/noxrunner.h>

#include <cjson/cJSON.h>

#include <archive.h>
#include <archive_entry.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* A scenario that runs longer than this is stuck: the runner reports it
 * and exits rather than hanging CI. */
#define SCENARIO_WATCHDOG_SECONDS 150
#define MSG_MAX 2048

/* ---- small helpers ------------------------------------------------------ */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            fprintf(stderr, "scenario_runner: out of memory\n");
            exit(2);
        }
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_free(buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Failure messages: the first difference found, in a caller's buffer. */
static int fail(char *msg, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int fail(char *msg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, MSG_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length of the valid UTF-8 sequence at p, 0 when it is not one. */
static size_t utf8_seq_len(const uint8_t *p, size_t n) {
    size_t l = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    if (l > n)
        return 0;
    for (size_t k = 1; k < l; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return l;
}

/* Printable rendering of bytes for messages: escapes, cut at 160 bytes. */
static void show(char *out, size_t outsz, const uint8_t *p, size_t n) {
    size_t o = 0;
    if (outsz == 0)
        return;
    if (!p)
        n = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < outsz; i++) {
        if (i == 160) {
            o += (size_t)snprintf(out + o, outsz - o, "...(%zu bytes)", n);
            break;
        }
        uint8_t c = p[i];
        if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else if (c >= 0xc2 && c <= 0xf4 && utf8_seq_len(p + i, n - i) > 0) {
            size_t l = utf8_seq_len(p + i, n - i); /* valid UTF-8 stays readable */
            if (o + l + 8 >= outsz)
                break;
            memcpy(out + o, p + i, l);
            o += l;
            i += l - 1;
        } else {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        }
    }
    if (o + 2 <= outsz)
        out[o++] = '"';
    out[o < outsz ? o : outsz - 1] = 0;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding; 0 on success. */
static int b64_decode(const char *s, buf *out) {
    size_t n = strlen(s);
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return -1;
                v[k] = b64val((unsigned char)c);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint8_t b[3] = {(uint8_t)(v[0] << 2 | v[1] >> 4), (uint8_t)(v[1] << 4 | v[2] >> 2),
                        (uint8_t)(v[2] << 6 | v[3])};
        buf_add(out, b, (size_t)(3 - pad));
    }
    if (!out->data)
        buf_add(out, "", 0);
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_seconds(double s) {
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_rf(const char *path) {
    nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* "2026-01-01T00:00:00Z", optional fraction, Z or an offset. */
static int iso8601_ok(const char *s) {
    if (!s)
        return 0;
    int y, mo, d, h, mi, se, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return 0;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (strcmp(p, "Z") == 0)
        return 1;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2])) {
        p += 3;
        if (*p == ':')
            p++;
        return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && p[2] == 0;
    }
    return 0;
}

static int is_key(const char *k, const char *const *list) {
    for (; *list; list++)
        if (strcmp(k, *list) == 0)
            return 1;
    return 0;
}

/* ---- validating a step: unknown ops and fields fail, never skip ---------- */

static const char *const EXEC_FIELDS[] = {"op", "session", "expect", "cmd", "workdir", "env",
                                          "timeout", "stdin", "stdin_b64", "max_output", NULL};
static const char *const SHELL_FIELDS[] = {"op", "session", "expect", "command", "shell", "workdir",
                                           "env", "timeout", "stdin", "stdin_b64", "max_output",
                                           NULL};
static const char *const STREAM_FIELDS[] = {"op", "session", "expect", "cmd", "workdir", "env",
                                            "timeout", "stdin", "stdin_b64", "max_output",
                                            "cancel_after_first_chunk", NULL};
static const char *const EXEC_EXPECT[] = {
    "error", "message_contains", "exit_code", "exit_code_not", "stdout", "stderr", "stdout_b64",
    "stderr_b64", "stdout_contains", "stderr_contains", "stdout_not_contains", "stdout_len",
    "stdout_max_len", "timed_out", "stdout_truncated", "stderr_truncated", "duration_ms_max", NULL};
static const char *const STREAM_EXPECT[] = {
    "error", "message_contains", "exit_code", "exit_code_not", "stdout", "stderr", "stdout_b64",
    "stderr_b64", "stdout_contains", "stderr_contains", "stdout_not_contains", "stdout_len",
    "stdout_max_len", "timed_out", "stdout_truncated", "stderr_truncated", "duration_ms_max",
    "min_chunks", NULL};
static const char *const ERROR_EXPECT[] = {"error", "message_contains", NULL};
static const char *const CREATE_EXPECT[] = {"error", "message_contains", "pod_name_nonempty", NULL};
static const char *const DOWNLOAD_EXPECT[] = {"error", "message_contains", "files", "files_b64",
                                              "modes", "dirs", "absent", NULL};

typedef struct {
    const char *op;
    const char *const *fields;
    const char *const *expect;
} op_spec;

static const char *const F_HEALTH[] = {"op", "expect", NULL};
static const char *const F_CREATE[] = {"op", "session", "expect", "ttl", "image", "cpu_limit",
                                       "memory_limit", NULL};
static const char *const F_SESSION[] = {"op", "session", "expect", NULL};
static const char *const F_WAIT[] = {"op", "session", "expect", "timeout_ms", NULL};
static const char *const F_UPLOAD[] = {"op", "session", "expect", "dest", "files", NULL};
static const char *const F_TARGZ[] = {"op", "session", "expect", "dest", "targz_b64", NULL};
static const char *const F_DOWNLOAD[] = {"op", "session", "expect", "src", NULL};
static const char *const F_SLEEP[] = {"op", "seconds", NULL};
static const char *const F_PARALLEL[] = {"op", "count", "step", NULL};

static const op_spec OPS[] = {
    {"health", F_HEALTH, ERROR_EXPECT},
    {"create", F_CREATE, CREATE_EXPECT},
    {"touch", F_SESSION, ERROR_EXPECT},
    {"delete", F_SESSION, ERROR_EXPECT},
    {"wait_ready", F_WAIT, ERROR_EXPECT},
    {"exec", EXEC_FIELDS, EXEC_EXPECT},
    {"exec_shell", SHELL_FIELDS, EXEC_EXPECT},
    {"stream", STREAM_FIELDS, STREAM_EXPECT},
    {"upload", F_UPLOAD, ERROR_EXPECT},
    {"upload_targz", F_TARGZ, ERROR_EXPECT},
    {"download", F_DOWNLOAD, DOWNLOAD_EXPECT},
    {"sleep", F_SLEEP, NULL},
    {"parallel", F_PARALLEL, NULL},
};

static const op_spec *find_op(const char *op) {
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (strcmp(OPS[i].op, op) == 0)
            return &OPS[i];
    return NULL;
}

static int validate_step(const cJSON *step, char *msg) {
    if (!cJSON_IsObject(step))
        return fail(msg, "step is not an object");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(step, "op");
    if (!cJSON_IsString(op))
        return fail(msg, "step has no \"op\" string");
    const op_spec *spec = find_op(op->valuestring);
    if (!spec)
        return fail(msg, "unknown op \"%s\"", op->valuestring);
    const cJSON *it;
    cJSON_ArrayForEach(it, step) {
        if (!is_key(it->string, spec->fields))
            return fail(msg, "unknown field \"%s\" for op %s", it->string, spec->op);
    }
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    if (expect) {
        if (!cJSON_IsObject(expect))
            return fail(msg, "\"expect\" is not an object");
        cJSON_ArrayForEach(it, expect) {
            if (!is_key(it->string, spec->expect))
                return fail(msg, "unknown expect key \"%s\" for op %s", it->string, spec->op);
        }
        /* It checks an error's message: without "error" it could only be
         * ignored, so it is refused (as in every runner). */
        if (cJSON_GetObjectItemCaseSensitive(expect, "message_contains") &&
            !cJSON_GetObjectItemCaseSensitive(expect, "error"))
            return fail(msg, "expect.message_contains needs expect.error");
    }
    if (strcmp(spec->op, "parallel") == 0) {
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(step, "step");
        const cJSON *iop = cJSON_GetObjectItemCaseSensitive(inner, "op");
        if (!cJSON_IsString(iop) ||
            (strcmp(iop->valuestring, "exec") != 0 && strcmp(iop->valuestring, "exec_shell") != 0))
            return fail(msg, "parallel needs a \"step\" that is an exec or exec_shell");
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(step, "count")))
            return fail(msg, "parallel needs a numeric \"count\"");
        return validate_step(inner, msg);
    }
    return 0;
}

/* ---- per-run context ----------------------------------------------------- */

typedef struct {
    nox_client *client;
    const char *backend; /* "local" / "http" */
    const char *scenario;
    char ids[3][512];    /* $S, $S2, $S3 */
    const char *scratch; /* directory for downloads */
    pthread_mutex_t lock;
    char **touched; /* sessions used, deleted afterwards */
    size_t ntouched;
} run_ctx;


/* "$S", "$S2", "$S3" at the start of a session string become the run's
 * unique ids; the rest of the string is a literal suffix. */
static char *session_of(run_ctx *rc, const cJSON *step) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(step, "session");
    const char *v = cJSON_IsString(s) ? s->valuestring : "$S";
    const char *base = NULL;
    const char *rest = v;
    if (strncmp(v, "$S", 2) == 0) {
        if (v[2] == '2' || v[2] == '3') {
            base = rc->ids[v[2] - '1'];
            rest = v + 3;
        } else {
            base = rc->ids[0];
            rest = v + 2;
        }
    }
    size_t n = (base ? strlen(base) : 0) + strlen(rest) + 1;
    char *out = malloc(n);
    if (!out)
        exit(2);
    snprintf(out, n, "%s%s", base ? base : "", rest);
    pthread_mutex_lock(&rc->lock);
    int known = 0;
    for (size_t i = 0; i < rc->ntouched; i++)
        if (strcmp(rc->touched[i], out) == 0)
            known = 1;
    if (!known) {
        char **t = realloc(rc->touched, (rc->ntouched + 1) * sizeof *t);
        if (!t)
            exit(2);
        rc->touched = t;
        rc->touched[rc->ntouched++] = strdup(out);
    }
    pthread_mutex_unlock(&rc->lock);
    return out;
}

/* Compare a call's outcome with expect.error. Returns 1 when the step is
 * decided (an error was expected or happened), 0 to go on checking the
 * result; *verdict is 0 for pass, -1 for fail. */
static int check_error(const cJSON *expect, int code, const nox_error *e, char *msg,
                       int *verdict) {
    const cJSON *want = expect ? cJSON_GetObjectItemCaseSensitive(expect, "error") : NULL;
    const char *emsg = e ? nox_error_message(e) : "";
    *verdict = 0;
    if (cJSON_IsString(want)) {
        if (code == 0) {
            *verdict = fail(msg, "expected %s, but the call succeeded", want->valuestring);
            return 1;
        }
        if (strcmp(nox_code_name(code), want->valuestring) != 0) {
            *verdict = fail(msg, "expected %s, got %s: %s", want->valuestring,
                            nox_code_name(code), emsg);
            return 1;
        }
        const cJSON *mc = cJSON_GetObjectItemCaseSensitive(expect, "message_contains");
        if (cJSON_IsString(mc) && !strstr(emsg, mc->valuestring))
            *verdict = fail(msg, "error message \"%s\" lacks \"%s\"", emsg, mc->valuestring);
        return 1;
    }
    if (code != 0) {
        *verdict = fail(msg, "failed with %s: %s", nox_code_name(code), emsg);
        return 1;
    }
    return 0;
}

/* ---- exec ---------------------------------------------------------------- */

typedef struct {
    const char **argv;
    char **env;
    buf in;
    nox_exec_options o;
} exec_args;

static void exec_args_free(exec_args *a) {
    free(a->argv);
    if (a->env)
        for (char **p = a->env; *p; p++)
            free(*p);
    free(a->env);
    buf_free(&a->in);
}

static int exec_args_build(const cJSON *step, exec_args *a, char *msg) {
    memset(a, 0, sizeof *a);
    nox_exec_options_init(&a->o, NOX_EXEC_OPTIONS_VERSION);
    const char *op = cJSON_GetObjectItemCaseSensitive(step, "op")->valuestring;
    if (strcmp(op, "exec_shell") == 0) {
        const cJSON *command = cJSON_GetObjectItemCaseSensitive(step, "command");
        const cJSON *shell = cJSON_GetObjectItemCaseSensitive(step, "shell");
        if (!cJSON_IsString(command))
            return fail(msg, "exec_shell needs a \"command\" string");
        a->argv = calloc(4, sizeof *a->argv);
        if (!a->argv)
            exit(2);
        a->argv[0] = cJSON_IsString(shell) ? shell->valuestring : "sh";
        a->argv[1] = "-c";
        a->argv[2] = command->valuestring;
    } else {
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(step, "cmd");
        if (!cJSON_IsArray(cmd))
            return fail(msg, "\"cmd\" is not an array");
        int n = cJSON_GetArraySize(cmd);
        a->argv = calloc((size_t)n + 1, sizeof *a->argv);
        if (!a->argv)
            exit(2);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cmd) {
            if (!cJSON_IsString(it))
                return fail(msg, "\"cmd\" element %d is not a string", i);
            a->argv[i++] = it->valuestring;
        }
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "workdir"))) {
        if (!cJSON_IsString(v))
            return fail(msg, "\"workdir\" is not a string");
        a->o.workdir = v->valuestring;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "env"))) {
        if (!cJSON_IsObject(v))
            return fail(msg, "\"env\" is not an object");
        int n = cJSON_GetArraySize(v);
        a->env = calloc((size_t)n + 1, sizeof *a->env);
        if (!a->env)
            exit(2);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            if (!cJSON_IsString(it))
                return fail(msg, "env value of \"%s\" is not a string", it->string);
            size_t len = strlen(it->string) + strlen(it->valuestring) + 2;
            a->env[i] = malloc(len);
            if (!a->env[i])
                exit(2);
            snprintf(a->env[i], len, "%s=%s", it->string, it->valuestring);
            i++;
        }
        a->o.env = (const char *const *)a->env;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "timeout"))) {
        if (!cJSON_IsNumber(v))
            return fail(msg, "\"timeout\" is not a number");
        a->o.timeout_seconds = (int32_t)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "max_output"))) {
        if (!cJSON_IsNumber(v))
            return fail(msg, "\"max_output\" is not a number");
        a->o.max_output_bytes = (uint64_t)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "stdin"))) {
        if (!cJSON_IsString(v))
            return fail(msg, "\"stdin\" is not a string");
        buf_add(&a->in, v->valuestring, strlen(v->valuestring));
        a->o.stdin_data = a->in.data;
        a->o.stdin_len = a->in.len;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "stdin_b64"))) {
        if (!cJSON_IsString(v) || b64_decode(v->valuestring, &a->in) != 0)
            return fail(msg, "\"stdin_b64\" is not valid base64");
        a->o.stdin_data = a->in.data;
        a->o.stdin_len = a->in.len;
    }
    return 0;
}

typedef struct {
    int exit_code;
    const uint8_t *out, *err;
    size_t out_len, err_len;
    int64_t duration_ms;
    int timed_out, out_trunc, err_trunc;
    int chunks;
} exec_view;

static int bytes_contain(const uint8_t *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0)
        return 1;
    if (!hay || m > n)
        return 0;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == (uint8_t)needle[0] && memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

static int check_bool(const cJSON *expect, const char *key, int got, char *msg) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(expect, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return fail(msg, "expect.%s is not a bool", key);
    if (cJSON_IsTrue(v) != (got != 0))
        return fail(msg, "%s: expected %s, got %s", key, cJSON_IsTrue(v) ? "true" : "false",
                    got ? "true" : "false");
    return 0;
}

static int check_exact(const char *what, const uint8_t *got, size_t got_len, const uint8_t *want,
                       size_t want_len, char *msg) {
    if (got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0))
        return 0;
    char g[512], w[512];
    show(g, sizeof g, got, got_len);
    show(w, sizeof w, want, want_len);
    return fail(msg, "%s: expected %s, got %s", what, w, g);
}

static int check_contains(const char *what, const cJSON *v, const uint8_t *p, size_t n,
                          char *msg) {
    if (!v)
        return 0;
    const cJSON *it;
    if (cJSON_IsString(v)) {
        if (bytes_contain(p, n, v->valuestring))
            return 0;
        char g[512];
        show(g, sizeof g, p, n);
        return fail(msg, "%s: \"%s\" not found in %s", what, v->valuestring, g);
    }
    if (!cJSON_IsArray(v))
        return fail(msg, "expect.%s is neither a string nor an array", what);
    cJSON_ArrayForEach(it, v) {
        if (check_contains(what, it, p, n, msg) != 0)
            return -1;
    }
    return 0;
}

static int check_exec(const cJSON *expect, const exec_view *r, char *msg) {
    if (!expect)
        return 0;
    const cJSON *v;
    char g[512];
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "exit_code")) &&
        (int)v->valuedouble != r->exit_code) {
        show(g, sizeof g, r->err, r->err_len);
        return fail(msg, "exit_code: expected %d, got %d (stderr %s)", (int)v->valuedouble,
                    r->exit_code, g);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "exit_code_not")) &&
        (int)v->valuedouble == r->exit_code)
        return fail(msg, "exit_code: expected anything but %d", r->exit_code);
    if (check_bool(expect, "timed_out", r->timed_out, msg) ||
        check_bool(expect, "stdout_truncated", r->out_trunc, msg) ||
        check_bool(expect, "stderr_truncated", r->err_trunc, msg))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "stdout")) &&
        check_exact("stdout", r->out, r->out_len, (const uint8_t *)v->valuestring,
                    strlen(v->valuestring), msg))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "stderr")) &&
        check_exact("stderr", r->err, r->err_len, (const uint8_t *)v->valuestring,
                    strlen(v->valuestring), msg))
        return -1;
    const char *b64keys[2] = {"stdout_b64", "stderr_b64"};
    for (int k = 0; k < 2; k++) {
        if (!(v = cJSON_GetObjectItemCaseSensitive(expect, b64keys[k])))
            continue;
        buf want = {0};
        if (!cJSON_IsString(v) || b64_decode(v->valuestring, &want) != 0) {
            buf_free(&want);
            return fail(msg, "expect.%s is not valid base64", b64keys[k]);
        }
        int bad = check_exact(b64keys[k], k ? r->err : r->out, k ? r->err_len : r->out_len,
                              want.data, want.len, msg);
        buf_free(&want);
        if (bad)
            return -1;
    }
    if (check_contains("stdout_contains", cJSON_GetObjectItemCaseSensitive(expect, "stdout_contains"),
                       r->out, r->out_len, msg) ||
        check_contains("stderr_contains", cJSON_GetObjectItemCaseSensitive(expect, "stderr_contains"),
                       r->err, r->err_len, msg))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "stdout_not_contains"))) {
        const cJSON *it;
        if (cJSON_IsString(v) && bytes_contain(r->out, r->out_len, v->valuestring)) {
            show(g, sizeof g, r->out, r->out_len);
            return fail(msg, "stdout_not_contains: \"%s\" found in %s", v->valuestring, g);
        }
        if (cJSON_IsArray(v))
            cJSON_ArrayForEach(it, v) {
                if (cJSON_IsString(it) && bytes_contain(r->out, r->out_len, it->valuestring))
                    return fail(msg, "stdout_not_contains: \"%s\" found", it->valuestring);
            }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "stdout_len")) &&
        (size_t)v->valuedouble != r->out_len)
        return fail(msg, "stdout_len: expected %.0f, got %zu", v->valuedouble, r->out_len);
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "stdout_max_len")) &&
        (double)r->out_len > v->valuedouble)
        return fail(msg, "stdout_max_len: expected at most %.0f bytes, got %zu", v->valuedouble,
                    r->out_len);
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "duration_ms_max")) &&
        (double)r->duration_ms > v->valuedouble)
        return fail(msg, "duration_ms_max: expected at most %.0f ms, durationMs is %lld",
                    v->valuedouble, (long long)r->duration_ms);
    if ((v = cJSON_GetObjectItemCaseSensitive(expect, "min_chunks")) &&
        (double)r->chunks < v->valuedouble)
        return fail(msg, "min_chunks: expected at least %.0f chunks, got %d", v->valuedouble,
                    r->chunks);
    return 0;
}

static int step_exec(run_ctx *rc, const cJSON *step, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    exec_args a;
    if (exec_args_build(step, &a, msg) != 0) {
        exec_args_free(&a);
        return -1;
    }
    char *sid = session_of(rc, step);
    nox_exec_result *r = NULL;
    nox_error *e = NULL;
    int code = nox_exec(rc->client, sid, a.argv, &a.o, &r, &e);
    int verdict;
    if (!check_error(expect, code, e, msg, &verdict)) {
        exec_view ev = {0};
        ev.exit_code = nox_exec_result_exit_code(r);
        ev.out = nox_exec_result_stdout(r, &ev.out_len);
        ev.err = nox_exec_result_stderr(r, &ev.err_len);
        ev.duration_ms = nox_exec_result_duration_ms(r);
        ev.timed_out = nox_exec_result_timed_out(r);
        ev.out_trunc = nox_exec_result_stdout_truncated(r);
        ev.err_trunc = nox_exec_result_stderr_truncated(r);
        verdict = check_exec(expect, &ev, msg);
    }
    nox_exec_result_free(r);
    nox_error_free(e);
    free(sid);
    exec_args_free(&a);
    return verdict;
}

static int step_stream(run_ctx *rc, const cJSON *step, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    int cancel_first = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(step, "cancel_after_first_chunk"));
    exec_args a;
    if (exec_args_build(step, &a, msg) != 0) {
        exec_args_free(&a);
        return -1;
    }
    char *sid = session_of(rc, step);
    nox_exec_stream *s = NULL;
    nox_error *e = NULL;
    buf out = {0}, err = {0};
    int chunks = 0, canceled = 0, verdict = 0;
    int code = nox_exec_start(rc->client, sid, a.argv, &a.o, &s, &e);
    /* Generous overall bound so a stuck stream fails instead of hanging. */
    int64_t deadline = now_ms() + 1000LL * ((a.o.timeout_seconds ? a.o.timeout_seconds : 30) + 60);
    while (code == 0) {
        int kind = NOX_EVENT_NONE;
        const uint8_t *data = NULL;
        size_t len = 0;
        code = nox_exec_next(s, 500, &kind, &data, &len, &e);
        if (code != 0 || kind == NOX_EVENT_EXIT)
            break;
        if (kind == NOX_EVENT_STDOUT || kind == NOX_EVENT_STDERR) {
            buf_add(kind == NOX_EVENT_STDOUT ? &out : &err, data, len);
            chunks++;
            if (cancel_first && !canceled && kind == NOX_EVENT_STDOUT) {
                nox_exec_cancel(s);
                canceled = 1;
            }
        }
        if (now_ms() > deadline) {
            verdict = fail(msg, "stream gave no exit event within its timeout + 60 s");
            break;
        }
    }
    if (verdict == 0 && !check_error(expect, code, e, msg, &verdict)) {
        const nox_exec_result *r = nox_exec_stream_result(s);
        if (!r) {
            verdict = fail(msg, "stream ended without a result");
        } else {
            exec_view ev = {0};
            ev.exit_code = nox_exec_result_exit_code(r);
            ev.out = out.data;
            ev.out_len = out.len;
            ev.err = err.data;
            ev.err_len = err.len;
            ev.duration_ms = nox_exec_result_duration_ms(r);
            ev.timed_out = nox_exec_result_timed_out(r);
            ev.out_trunc = nox_exec_result_stdout_truncated(r);
            ev.err_trunc = nox_exec_result_stderr_truncated(r);
            ev.chunks = chunks;
            verdict = check_exec(expect, &ev, msg);
        }
    }
    nox_exec_stream_free(s);
    nox_error_free(e);
    buf_free(&out);
    buf_free(&err);
    free(sid);
    exec_args_free(&a);
    return verdict;
}

/* ---- parallel ------------------------------------------------------------ */

static void replace_index(cJSON *node, const char *idx) {
    cJSON *it;
    if (cJSON_IsString(node)) {
        const char *s = node->valuestring;
        if (!strstr(s, "$I"))
            return;
        buf b = {0};
        while (*s) {
            if (s[0] == '$' && s[1] == 'I') {
                buf_add(&b, idx, strlen(idx));
                s += 2;
            } else {
                buf_add(&b, s, 1);
                s++;
            }
        }
        cJSON_SetValuestring(node, (char *)b.data);
        buf_free(&b);
        return;
    }
    cJSON_ArrayForEach(it, node) replace_index(it, idx);
}

typedef struct {
    run_ctx *rc;
    cJSON *step;
    int verdict;
    char msg[MSG_MAX];
} par_job;

static void *par_thread(void *p) {
    par_job *j = p;
    j->verdict = step_exec(j->rc, j->step, j->msg);
    return NULL;
}

static int step_parallel(run_ctx *rc, const cJSON *step, char *msg) {
    int count = (int)cJSON_GetObjectItemCaseSensitive(step, "count")->valuedouble;
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(step, "step");
    if (count < 1 || count > 256)
        return fail(msg, "parallel count %d out of range", count);
    par_job *jobs = calloc((size_t)count, sizeof *jobs);
    pthread_t *th = calloc((size_t)count, sizeof *th);
    if (!jobs || !th)
        exit(2);
    for (int i = 0; i < count; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        jobs[i].rc = rc;
        jobs[i].step = cJSON_Duplicate(inner, 1);
        replace_index(jobs[i].step, idx);
    }
    int started = 0;
    for (; started < count; started++)
        if (pthread_create(&th[started], NULL, par_thread, &jobs[started]) != 0)
            break;
    int verdict = 0;
    if (started < count)
        verdict = fail(msg, "could not start thread %d", started);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < count && verdict == 0; i++)
        if (i < started && jobs[i].verdict != 0)
            verdict = fail(msg, "repetition %d: %s", i, jobs[i].msg);
    for (int i = 0; i < count; i++)
        cJSON_Delete(jobs[i].step);
    free(jobs);
    free(th);
    return verdict;
}

/* ---- files ----------------------------------------------------------------- */

static int step_upload(run_ctx *rc, const cJSON *step, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(step, "files");
    const cJSON *dest = cJSON_GetObjectItemCaseSensitive(step, "dest");
    if (!cJSON_IsArray(files))
        return fail(msg, "upload needs a \"files\" array");
    nox_files *fs = NULL;
    nox_error *e = NULL;
    int code = nox_files_new(&fs, &e);
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        if (code != 0)
            break;
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(f, "content");
        const cJSON *content_b64 = cJSON_GetObjectItemCaseSensitive(f, "content_b64");
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(f, "mode");
        const cJSON *it;
        cJSON_ArrayForEach(it, f) {
            if (!is_key(it->string, (const char *const[]){"path", "content", "content_b64", "mode", NULL})) {
                nox_files_free(fs);
                return fail(msg, "unknown file field \"%s\"", it->string);
            }
        }
        if (!cJSON_IsString(path) || (!cJSON_IsString(content) && !cJSON_IsString(content_b64))) {
            nox_files_free(fs);
            return fail(msg, "a file needs \"path\" and \"content\" or \"content_b64\"");
        }
        buf data = {0};
        if (cJSON_IsString(content_b64)) {
            if (b64_decode(content_b64->valuestring, &data) != 0) {
                nox_files_free(fs);
                buf_free(&data);
                return fail(msg, "content_b64 of %s is not valid base64", path->valuestring);
            }
        } else {
            buf_add(&data, content->valuestring, strlen(content->valuestring));
        }
        code = nox_files_add(fs, path->valuestring, data.data, data.len,
                             cJSON_IsNumber(mode) ? (uint32_t)mode->valuedouble : 0, &e);
        buf_free(&data);
    }
    char *sid = session_of(rc, step);
    if (code == 0)
        code = nox_upload(rc->client, sid, fs, cJSON_IsString(dest) ? dest->valuestring : NULL, &e);
    int verdict;
    check_error(expect, code, e, msg, &verdict);
    nox_files_free(fs);
    nox_error_free(e);
    free(sid);
    return verdict;
}

static int step_upload_targz(run_ctx *rc, const cJSON *step, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    const cJSON *dest = cJSON_GetObjectItemCaseSensitive(step, "dest");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(step, "targz_b64");
    buf data = {0};
    if (!cJSON_IsString(t) || b64_decode(t->valuestring, &data) != 0) {
        buf_free(&data);
        return fail(msg, "\"targz_b64\" is missing or not valid base64");
    }
    char *sid = session_of(rc, step);
    nox_error *e = NULL;
    int code = nox_upload_targz(rc->client, sid, data.data, data.len,
                                cJSON_IsString(dest) ? dest->valuestring : NULL, &e);
    int verdict;
    check_error(expect, code, e, msg, &verdict);
    nox_error_free(e);
    buf_free(&data);
    free(sid);
    return verdict;
}

static int read_file(const char *path, buf *out) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint8_t tmp[65536];
    ssize_t n;
    buf_add(out, "", 0);
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        buf_add(out, tmp, (size_t)n);
    close(fd);
    return n < 0 ? -1 : 0;
}

/* ---- downloads: checked in the archive itself --------------------------------
 * Not after extraction: an extractor creates parent directories, drops
 * members it refuses and passes modes through the umask, so "dirs",
 * "absent" and "modes" could not fail there. */

typedef struct {
    char *name; /* "./" and a trailing "/" stripped */
    int type;   /* AE_IFREG, AE_IFDIR, ... */
    unsigned mode; /* & 07777 */
    buf data;   /* regular files */
} member;

typedef struct {
    member *m;
    size_t n;
} members;

static void members_free(members *ms) {
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->m[i].name);
        buf_free(&ms->m[i].data);
    }
    free(ms->m);
}

static char *member_name(const char *name) {
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    char *out = strdup(name);
    size_t l = out ? strlen(out) : 0;
    while (l > 1 && out[l - 1] == '/')
        out[--l] = 0;
    return out;
}

/* The last member of that name (later members replace earlier ones). */
static const member *find_member(const members *ms, const char *name) {
    char *want = member_name(name);
    const member *hit = NULL;
    for (size_t i = 0; want && i < ms->n; i++)
        if (strcmp(ms->m[i].name, want) == 0)
            hit = &ms->m[i];
    free(want);
    return hit;
}

static int read_members(const uint8_t *gz, size_t len, members *ms, char *msg) {
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    int rc = archive_read_open_memory(a, gz, len);
    struct archive_entry *ae;
    while (rc == ARCHIVE_OK && (rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        member *nm = realloc(ms->m, (ms->n + 1) * sizeof *nm);
        if (!nm)
            exit(2);
        ms->m = nm;
        member *m = &ms->m[ms->n++];
        memset(m, 0, sizeof *m);
        m->name = member_name(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "");
        m->type = (int)archive_entry_filetype(ae);
        m->mode = (unsigned)archive_entry_mode(ae) & 07777;
        buf_add(&m->data, "", 0);
        uint8_t tmp[65536];
        la_ssize_t n;
        while (m->type == AE_IFREG && (n = archive_read_data(a, tmp, sizeof tmp)) > 0)
            buf_add(&m->data, tmp, (size_t)n);
    }
    int bad = rc != ARCHIVE_EOF;
    if (bad)
        fail(msg, "the downloaded archive does not read: %s", archive_error_string(a));
    archive_read_free(a);
    return bad ? -1 : 0;
}

static int check_member_files(const cJSON *expect, const members *ms, char *msg) {
    const cJSON *it;
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "files_b64" : "files";
        const cJSON *files = cJSON_GetObjectItemCaseSensitive(expect, key);
        if (!files)
            continue;
        if (!cJSON_IsObject(files))
            return fail(msg, "expect.%s is not an object", key);
        cJSON_ArrayForEach(it, files) {
            const member *m = find_member(ms, it->string);
            if (!m)
                return fail(msg, "%s: \"%s\" is not in the archive", key, it->string);
            if (m->type != AE_IFREG)
                return fail(msg, "%s: \"%s\" is not a regular file", key, it->string);
            buf want = {0};
            if (!cJSON_IsString(it) ||
                (k ? b64_decode(it->valuestring, &want)
                   : (buf_add(&want, it->valuestring, strlen(it->valuestring)), 0)) != 0) {
                buf_free(&want);
                return fail(msg, "%s: bad expected content for \"%s\"", key, it->string);
            }
            char what[600];
            snprintf(what, sizeof what, "content of \"%s\"", it->string);
            int bad = check_exact(what, m->data.data, m->data.len, want.data, want.len, msg);
            buf_free(&want);
            if (bad)
                return -1;
        }
    }
    return 0;
}

static int check_members(const cJSON *expect, const members *ms, char *msg) {
    if (check_member_files(expect, ms, msg))
        return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(expect, "modes")) {
        if (!cJSON_IsString(it))
            return fail(msg, "modes: \"%s\" is not an octal string", it->string);
        const member *m = find_member(ms, it->string);
        if (!m)
            return fail(msg, "modes: \"%s\" is not in the archive", it->string);
        unsigned want = (unsigned)strtoul(it->valuestring, NULL, 8);
        if (m->mode != want)
            return fail(msg, "modes: \"%s\" expected %s, got %o", it->string, it->valuestring,
                        m->mode);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(expect, "dirs")) {
        if (!cJSON_IsString(it))
            return fail(msg, "dirs: an element is not a string");
        const member *m = find_member(ms, it->valuestring);
        if (!m || m->type != AE_IFDIR)
            return fail(msg, "dirs: \"%s\" is not a directory in the archive", it->valuestring);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(expect, "absent")) {
        if (!cJSON_IsString(it))
            return fail(msg, "absent: an element is not a string");
        if (find_member(ms, it->valuestring))
            return fail(msg, "absent: \"%s\" is in the archive", it->valuestring);
    }
    return 0;
}

static int step_download(run_ctx *rc, const cJSON *step, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(step, "src");
    char *sid = session_of(rc, step);
    nox_error *e = NULL;
    nox_bytes *b = NULL;
    int code = nox_download(rc->client, sid, cJSON_IsString(src) ? src->valuestring : NULL, &b,
                            &e);
    int verdict;
    if (!check_error(expect, code, e, msg, &verdict)) {
        members ms = {0};
        size_t len = 0;
        const uint8_t *gz = nox_bytes_data(b, &len);
        verdict = read_members(gz, len, &ms, msg);
        if (!verdict && expect)
            verdict = check_members(expect, &ms, msg);
        members_free(&ms);
    }
    nox_bytes_free(b);
    nox_error_free(e);
    free(sid);
    return verdict;
}

/* ---- lifecycle steps --------------------------------------------------------- */

static int step_create(run_ctx *rc, const cJSON *step, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    nox_sandbox_options o;
    nox_sandbox_options_init(&o, NOX_SANDBOX_OPTIONS_VERSION);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(step, "ttl")))
        o.ttl_seconds = (int32_t)v->valuedouble;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(step, "image")))
        o.image = v->valuestring;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(step, "cpu_limit")))
        o.cpu_limit = v->valuestring;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(step, "memory_limit")))
        o.memory_limit = v->valuestring;
    char *sid = session_of(rc, step);
    nox_sandbox_info *info = NULL;
    nox_error *e = NULL;
    int code = nox_sandbox_create(rc->client, sid, &o, &info, &e);
    int verdict;
    if (!check_error(expect, code, e, msg, &verdict)) {
        const char *pod = nox_sandbox_info_pod_name(info);
        const char *exp = nox_sandbox_info_expires_at(info);
        if (!pod || !*pod)
            verdict = fail(msg, "podName is empty");
        else if (!iso8601_ok(exp))
            verdict = fail(msg, "expiresAt \"%s\" is not ISO-8601", exp ? exp : "(null)");
    }
    nox_sandbox_info_free(info);
    nox_error_free(e);
    free(sid);
    return verdict;
}

static int step_simple(run_ctx *rc, const cJSON *step, const char *op, char *msg) {
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    nox_error *e = NULL;
    char *sid = NULL;
    int code;
    if (strcmp(op, "health") == 0) {
        code = nox_health(rc->client, &e);
    } else {
        sid = session_of(rc, step);
        if (strcmp(op, "touch") == 0) {
            code = nox_sandbox_touch(rc->client, sid, &e);
        } else if (strcmp(op, "delete") == 0) {
            code = nox_sandbox_delete(rc->client, sid, &e);
        } else {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(step, "timeout_ms");
            code = nox_sandbox_wait_ready(rc->client, sid,
                                          cJSON_IsNumber(t) ? (uint32_t)t->valuedouble : 30000, &e);
        }
    }
    int verdict;
    check_error(expect, code, e, msg, &verdict);
    nox_error_free(e);
    free(sid);
    return verdict;
}

static int run_step(run_ctx *rc, const cJSON *step, char *msg) {
    if (validate_step(step, msg) != 0)
        return -1;
    const char *op = cJSON_GetObjectItemCaseSensitive(step, "op")->valuestring;
    if (strcmp(op, "exec") == 0 || strcmp(op, "exec_shell") == 0)
        return step_exec(rc, step, msg);
    if (strcmp(op, "stream") == 0)
        return step_stream(rc, step, msg);
    if (strcmp(op, "parallel") == 0)
        return step_parallel(rc, step, msg);
    if (strcmp(op, "upload") == 0)
        return step_upload(rc, step, msg);
    if (strcmp(op, "upload_targz") == 0)
        return step_upload_targz(rc, step, msg);
    if (strcmp(op, "download") == 0)
        return step_download(rc, step, msg);
    if (strcmp(op, "create") == 0)
        return step_create(rc, step, msg);
    if (strcmp(op, "sleep") == 0) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(step, "seconds");
        if (!cJSON_IsNumber(s))
            return fail(msg, "sleep needs numeric \"seconds\"");
        sleep_seconds(s->valuedouble);
        return 0;
    }
    return step_simple(rc, step, op, msg);
}

/* ---- scenarios --------------------------------------------------------------- */

typedef struct {
    char *file;
    cJSON *doc; /* NULL when the file does not parse */
    char error[512];
} scenario;

static scenario *scenarios;
static size_t nscenarios;

static int by_name(const void *a, const void *b) {
    return strcmp(((const scenario *)a)->file, ((const scenario *)b)->file);
}

static void load_scenarios(const char *dir, int argc, char **argv) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "scenario_runner: cannot open NOX_SCENARIOS=%s: %s\n", dir, strerror(errno));
        exit(2);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        if (argc > 1) {
            int wanted = 0;
            for (int i = 1; i < argc; i++)
                if (strlen(argv[i]) == n - 5 && strncmp(argv[i], de->d_name, n - 5) == 0)
                    wanted = 1;
            if (!wanted)
                continue;
        }
        scenario *s = realloc(scenarios, (nscenarios + 1) * sizeof *s);
        if (!s)
            exit(2);
        scenarios = s;
        s = &scenarios[nscenarios++];
        memset(s, 0, sizeof *s);
        s->file = strndup(de->d_name, n - 5);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        buf text = {0};
        if (read_file(path, &text) != 0) {
            snprintf(s->error, sizeof s->error, "cannot read %s.json: %s", s->file, strerror(errno));
        } else if (!(s->doc = cJSON_ParseWithLength((const char *)text.data, text.len))) {
            snprintf(s->error, sizeof s->error, "%s.json is not valid JSON", s->file);
        } else {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(s->doc, "name");
            const cJSON *it;
            cJSON_ArrayForEach(it, s->doc) {
                if (!is_key(it->string,
                            (const char *const[]){"name", "description", "backends", "steps", NULL}))
                    snprintf(s->error, sizeof s->error, "unknown top-level field \"%s\"", it->string);
            }
            if (!cJSON_IsString(name) || strcmp(name->valuestring, s->file) != 0)
                snprintf(s->error, sizeof s->error, "\"name\" differs from the file name");
            else if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(s->doc, "steps")))
                snprintf(s->error, sizeof s->error, "no \"steps\" array");
        }
        buf_free(&text);
    }
    closedir(d);
    qsort(scenarios, nscenarios, sizeof *scenarios, by_name);
}

static int wants_backend(const scenario *s, const char *backend) {
    const cJSON *b = s->doc ? cJSON_GetObjectItemCaseSensitive(s->doc, "backends") : NULL;
    if (!b)
        return 1;
    const cJSON *it;
    cJSON_ArrayForEach(it, b) {
        if (cJSON_IsString(it) && strcmp(it->valuestring, backend) == 0)
            return 1;
    }
    return 0;
}

/* Watchdog: a stuck scenario aborts the run instead of hanging it. */
static _Atomic int64_t watch_started_ms;
static const char *_Atomic watch_name;
static pid_t server_pid;

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        sleep(1);
        int64_t t = atomic_load(&watch_started_ms);
        if (t && now_ms() - t > SCENARIO_WATCHDOG_SECONDS * 1000LL) {
            fprintf(stdout, "FAIL scenario %s still running after %d s; aborting the run\n",
                    atomic_load(&watch_name), SCENARIO_WATCHDOG_SECONDS);
            fflush(stdout);
            if (server_pid > 0)
                kill(server_pid, SIGTERM);
            _exit(1);
        }
    }
    return NULL;
}

static int verbose;

static int play(nox_client *client, const char *backend, const char *scratch, const scenario *s,
                int *played) {
    char msg[MSG_MAX] = "";
    *played = 1;
    if (s->error[0] || !s->doc) {
        printf("FAIL c-%s %s: %s\n", backend, s->file, s->error);
        return -1;
    }
    if (!wants_backend(s, backend)) {
        *played = 0;
        return 0;
    }
    if (!client) {
        printf("FAIL c-%s %s: no client for this backend (see above)\n", backend, s->file);
        return -1;
    }
    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    pthread_mutex_init(&rc.lock, NULL);
    rc.client = client;
    rc.backend = backend;
    rc.scenario = s->file;
    rc.scratch = scratch;
    for (int i = 0; i < 3; i++)
        snprintf(rc.ids[i], sizeof rc.ids[i], "c-%s-%d-%s-%d", backend, (int)getpid(), s->file, i + 1);
    atomic_store(&watch_name, s->file);
    int64_t t0 = now_ms();
    atomic_store(&watch_started_ms, t0);
    int verdict = 0, i = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(s->doc, "steps")) {
        if (run_step(&rc, step, msg) != 0) {
            const cJSON *op = cJSON_GetObjectItemCaseSensitive(step, "op");
            printf("FAIL c-%s %s step %d (%s): %s\n", backend, s->file, i,
                   cJSON_IsString(op) ? op->valuestring : "?", msg);
            verdict = -1;
            break;
        }
        i++;
    }
    for (size_t k = 0; k < rc.ntouched; k++) {
        nox_sandbox_delete(client, rc.touched[k], NULL);
        free(rc.touched[k]);
    }
    free(rc.touched);
    pthread_mutex_destroy(&rc.lock);
    atomic_store(&watch_started_ms, 0);
    if (verbose)
        printf("%s c-%s %s (%lld ms)\n", verdict ? "fail" : "ok  ", backend, s->file,
               (long long)(now_ms() - t0));
    fflush(stdout);
    return verdict;
}

/* Plays every scenario on one backend; returns the number that failed. */
static int play_all(nox_client *client, const char *backend, const char *scratch) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < nscenarios; i++) {
        int played;
        int v = play(client, backend, scratch, &scenarios[i], &played);
        if (!played)
            continue;
        if (v == 0)
            passed++;
        else
            failed++;
    }
    printf("c-%s: %d passed, %d failed\n", backend, passed, failed);
    fflush(stdout);
    return failed;
}

/* ---- backends ---------------------------------------------------------------- */

static nox_client *local_client(const char *base, const char *agent) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_LOCAL;
    o.base_dir = base;
    o.agent_path = agent;
    nox_client *c = NULL;
    nox_error *e = NULL;
    if (nox_client_new(&c, &o, &e) != 0) {
        printf("FAIL c-local: cannot create the local client: %s\n", e ? nox_error_message(e) : "?");
        c = NULL;
    }
    nox_error_free(e);
    return c;
}

typedef struct {
    int fd;
    int log_fd;
} drain_args;

static void *drain(void *p) {
    drain_args *d = p;
    char tmp[4096];
    ssize_t n;
    while ((n = read(d->fd, tmp, sizeof tmp)) > 0)
        if (d->log_fd >= 0 && write(d->log_fd, tmp, (size_t)n) < 0)
            break;
    close(d->fd);
    return NULL;
}

static void print_tail(const char *path, int lines) {
    buf b = {0};
    if (read_file(path, &b) != 0 || b.len == 0) {
        buf_free(&b);
        return;
    }
    size_t i = b.len;
    int seen = 0;
    while (i > 0 && seen <= lines)
        if (b.data[--i] == '\n')
            seen++;
    printf("---- last lines of the noxrunnerd log ----\n%s", (const char *)b.data + (i ? i + 1 : 0));
    if (b.data[b.len - 1] != '\n')
        printf("\n");
    printf("------------------------------------------\n");
    buf_free(&b);
}

/* Start noxrunnerd on a free port; its first stdout line names the URL.
 * The rest of its stdout and all of its stderr go to log_path. */
static pid_t start_server(const char *bin, const char *agent, const char *base,
                          const char *log_path, char *url, size_t urlsz) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(p[1], 1);
        if (log_fd >= 0)
            dup2(log_fd, 2);
        execl(bin, bin, "--port", "0", "--base-dir", base, "--agent", agent, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    char line[1024];
    size_t n = 0;
    int64_t deadline = now_ms() + 20000;
    while (n + 1 < sizeof line) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = read(p[0], line + n, 1);
        if (r <= 0)
            break;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    const char *u = strstr(line, "http://");
    if (!u) {
        printf("FAIL c-http: noxrunnerd did not announce its address (first line \"%s\")\n",
               line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(p[0]);
        if (log_fd >= 0)
            close(log_fd);
        print_tail(log_path, 25);
        return -1;
    }
    snprintf(url, urlsz, "%s", u);
    static drain_args da;
    da.fd = p[0];
    da.log_fd = log_fd;
    pthread_t t;
    if (pthread_create(&t, NULL, drain, &da) == 0)
        pthread_detach(t);
    return pid;
}

static void stop_server(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_seconds(0.05);
    }
    fprintf(stderr, "scenario_runner: noxrunnerd ignored SIGTERM for 10 s; killing it\n");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static nox_client *http_client(const char *url) {
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_HTTP;
    o.base_url = url;
    nox_client *c = NULL;
    nox_error *e = NULL;
    if (nox_client_new(&c, &o, &e) != 0) {
        printf("FAIL c-http: cannot create the HTTP client for %s: %s\n", url,
               e ? nox_error_message(e) : "?");
        c = NULL;
    }
    nox_error_free(e);
    return c;
}

int main(int argc, char **argv) {
    const char *server_bin = getenv("NOXRUNNERD");
    const char *agent = getenv("NOXRUNNER_AGENT");
    const char *dir = getenv("NOX_SCENARIOS");
    const char *only = getenv("NOX_SCENARIO_BACKEND");
    verbose = getenv("NOX_SCENARIO_VERBOSE") && *getenv("NOX_SCENARIO_VERBOSE") &&
              strcmp(getenv("NOX_SCENARIO_VERBOSE"), "0") != 0;
    int total_failed = 0;
    if (!dir || !agent || (!server_bin && !(only && strcmp(only, "local") == 0))) {
        fprintf(stderr, "scenario_runner: set NOX_SCENARIOS, NOXRUNNER_AGENT and NOXRUNNERD "
                        "(see tests/scenarios/README.md)\n");
        return 2;
    }
    if (nox_abi_version() != NOX_ABI_VERSION) {
        fprintf(stderr, "scenario_runner: library ABI %d, built for %d\n", nox_abi_version(),
                NOX_ABI_VERSION);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    umask(022); /* modes checked after extraction must not depend on the caller */
    setvbuf(stdout, NULL, _IOLBF, 0);
    load_scenarios(dir, argc, argv);
    if (nscenarios == 0) {
        fprintf(stderr, "scenario_runner: no scenarios found in %s\n", dir);
        return 2;
    }

    char root[] = "/tmp/noxsc-XXXXXX";
    if (!mkdtemp(root)) {
        fprintf(stderr, "scenario_runner: mkdtemp: %s\n", strerror(errno));
        return 2;
    }
    char local_base[64], server_base[64], scratch[64], log_path[64];
    snprintf(local_base, sizeof local_base, "%s/l", root);
    snprintf(server_base, sizeof server_base, "%s/s", root);
    snprintf(scratch, sizeof scratch, "%s/d", root);
    snprintf(log_path, sizeof log_path, "%s/noxrunnerd.log", root);
    mkdir(local_base, 0700);
    mkdir(server_base, 0700);
    mkdir(scratch, 0700);

    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);
    pthread_detach(wd);

    if (!only || strcmp(only, "local") == 0) {
        nox_client *c = local_client(local_base, agent);
        total_failed += play_all(c, "local", scratch);
        nox_client_free(c);
    }
    if (!only || strcmp(only, "http") == 0) {
        char url[512] = "";
        server_pid = start_server(server_bin, agent, server_base, log_path, url, sizeof url);
        nox_client *c = server_pid > 0 ? http_client(url) : NULL;
        int failed = play_all(c, "http", scratch);
        nox_client_free(c);
        total_failed += failed;
        pid_t pid = server_pid;
        server_pid = 0;
        stop_server(pid);
        if (failed && pid > 0)
            print_tail(log_path, 25);
    }
    rm_rf(root);
    return total_failed ? 1 : 0;
}
