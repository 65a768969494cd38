/* test_http.c - the HTTP backend end to end: every operation through the
 * real noxrunnerd (local backend behind the wire contract, all Part B
 * extensions). Peers that misbehave live in test_http_peer.c. */
#include "nox_test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static nt_server srv;
static int srv_up;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A client for the shared server and a fresh sandbox in it. */
static nox_client *setup(const char *tag, char *sid_out, size_t cap) {
    if (!srv_up) {
        nt_fail(__FILE__, __LINE__, "noxrunnerd is not running");
        return NULL;
    }
    nox_client *c = nt_http_client(&srv, NULL);
    if (!c)
        return NULL;
    snprintf(sid_out, cap, "%s", nt_sid(tag));
    nox_sandbox_info *info = NULL;
    nox_error *err = NULL;
    if (nox_sandbox_create(c, sid_out, NULL, &info, &err) != 0) {
        nt_fail(__FILE__, __LINE__, "create %s: %s", sid_out,
                err ? nox_error_message(err) : "?");
        nox_error_free(err);
        nox_client_free(c);
        return NULL;
    }
    nox_sandbox_info_free(info);
    return c;
}

static void teardown(nox_client *c, const char *sid) {
    if (!c)
        return;
    nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
}

static nox_exec_result *run(nox_client *c, const char *sid,
                            const char *const *argv,
                            const nox_exec_options *o) {
    nox_exec_result *r = NULL;
    nox_error *err = NULL;
    if (nox_exec(c, sid, argv, o, &r, &err) != 0) {
        nt_fail(__FILE__, __LINE__, "exec %s: %s", argv[0],
                err ? nox_error_message(err) : "?");
        nox_error_free(err);
        return NULL;
    }
    return r;
}

NT_TEST(health_and_info_describe_the_server) {
    NT_CHECK(srv_up);
    nox_client *c = nt_http_client(&srv, NULL);
    NT_CHECK(c);
    NT_OK(nox_health(c, &err));
    nox_bytes *info = NULL;
    NT_OK(nox_info(c, &info, &err));
    size_t n;
    const char *j = (const char *)nox_bytes_data(info, &n);
    NT_CHECK(strstr(j, "\"isolation\""));
    NT_CHECK(strstr(j, "\"version\""));
    nox_bytes_free(info);
    int iso = nox_client_isolation(c);
    NT_CHECK(iso == NOX_ISOLATION_NONE || iso == NOX_ISOLATION_NAMESPACES);
    nox_client_free(c);
}

NT_TEST(sandbox_lifecycle_create_get_list_touch_delete) {
    char sid[128];
    nox_client *c = setup("life", sid, sizeof sid);
    NT_CHECK(c);
    nox_sandbox_info *i = NULL;
    NT_OK(nox_sandbox_get(c, sid, &i, &err));
    NT_CHECK_STR(nox_sandbox_info_session_id(i), sid);
    NT_CHECK(strlen(nox_sandbox_info_pod_name(i)) > 0);
    int64_t exp1 = nox_sandbox_info_expires_at_unix(i);
    NT_CHECK(exp1 > (int64_t)time(NULL));
    nox_sandbox_info_free(i);

    /* Create again: the same sandbox. */
    nox_sandbox_options so;
    nox_sandbox_options_init(&so, NOX_SANDBOX_OPTIONS_VERSION);
    so.ttl_seconds = 3600;
    NT_OK(nox_sandbox_create(c, sid, &so, &i, &err));
    NT_CHECK(nox_sandbox_info_expires_at_unix(i) >= exp1);
    nox_sandbox_info_free(i);

    nox_sandbox_list *l = NULL;
    NT_OK(nox_sandbox_list_all(c, &l, &err));
    int found = 0;
    for (size_t k = 0; k < nox_sandbox_list_count(l); k++)
        if (strcmp(nox_sandbox_info_session_id(nox_sandbox_list_at(l, k)), sid) == 0)
            found++;
    nox_sandbox_list_free(l);
    NT_CHECK_INT(found, 1);

    NT_OK(nox_sandbox_touch(c, sid, &err));
    NT_OK(nox_sandbox_wait_ready(c, sid, 10000, &err));
    NT_OK(nox_sandbox_delete(c, sid, &err));

    nox_error *e = NULL;
    NT_CHECK_INT(nox_sandbox_get(c, sid, &i, &e), NOX_ENOTFOUND);
    NT_CHECK_INT(nox_error_http_status(e), 404);
    size_t bl = 0;
    NT_CHECK(nox_error_body(e, &bl) && bl > 0);
    NT_CHECK(strstr(nox_error_message(e), "server answered 404"));
    nox_error_free(e);
    NT_FAILS(NOX_ENOTFOUND, "404", nox_sandbox_delete(c, sid, &err));
    NT_FAILS(NOX_ENOTFOUND, "404", nox_sandbox_touch(c, sid, &err));
    const char *argv[] = {"true", NULL};
    nox_exec_result *r = NULL;
    NT_FAILS(NOX_ENOTFOUND, "404", nox_exec(c, sid, argv, NULL, &r, &err));
    nox_client_free(c);
}

NT_TEST(exec_exit_codes_env_workdir_and_stdin) {
    char sid[128];
    nox_client *c = setup("exec", sid, sizeof sid);
    NT_CHECK(c);
    const char *a1[] = {"sh", "-c", "exit 7", NULL};
    nox_exec_result *r = run(c, sid, a1, NULL);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 7);
    NT_CHECK_INT(nox_exec_result_timed_out(r), 0);
    nox_exec_result_free(r);

    nox_exec_options o;
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    const char *env[] = {"GREETING=hello world", NULL};
    o.env = env;
    const char *a2[] = {"sh", "-c", "echo \"$GREETING\"; echo oops >&2", NULL};
    r = run(c, sid, a2, &o);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "hello world\n");
    d = nox_exec_result_stderr(r, &n);
    NT_CHECK_BYTES(d, n, "oops\n");
    nox_exec_result_free(r);

    /* An argument vector, never a shell: $X stays literal. */
    const char *a3[] = {"echo", "$GREETING", NULL};
    r = run(c, sid, a3, &o);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "$GREETING\n");
    nox_exec_result_free(r);

    const char *a4[] = {"mkdir", "-p", "/workspace/sub/dir", NULL};
    nox_exec_result_free(nt_exec_ok(c, sid, a4));
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    o.workdir = "/workspace/sub/dir";
    const char *a5[] = {"pwd", NULL};
    r = run(c, sid, a5, &o);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "/workspace/sub/dir\n");
    nox_exec_result_free(r);

    /* Binary stdin, every byte value, comes back exactly. */
    uint8_t in[512];
    for (int i = 0; i < 512; i++)
        in[i] = (uint8_t)(i * 7);
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    o.stdin_data = in;
    o.stdin_len = sizeof in;
    const char *a6[] = {"cat", NULL};
    r = run(c, sid, a6, &o);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, sizeof in);
    NT_CHECK(memcmp(d, in, n) == 0);
    nox_exec_result_free(r);

    /* Without stdin the command reads EOF at once. */
    const char *a7[] = {"sh", "-c", "wc -c", NULL};
    r = run(c, sid, a7, NULL);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK(n > 0 && atoi((const char *)d) == 0);
    nox_exec_result_free(r);
    teardown(c, sid);
}

NT_TEST(exec_output_bytes_are_exact_and_capped) {
    char sid[128];
    nox_client *c = setup("bytes", sid, sizeof sid);
    NT_CHECK(c);
    /* Invalid UTF-8 and NUL bytes, as raw bytes, not U+FFFD. */
    const char *a1[] = {"printf", "\\377\\000\\376\\303", NULL};
    nox_exec_result *r = run(c, sid, a1, NULL);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_INT(n, 4);
    NT_CHECK(memcmp(d, "\xff\x00\xfe\xc3", 4) == 0);
    nox_exec_result_free(r);

    nox_exec_options o;
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    o.max_output_bytes = 10;
    const char *a2[] = {"sh", "-c", "printf 'abcdefghijklmnopqrstuvwxyz'", NULL};
    r = run(c, sid, a2, &o);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "abcdefghij");
    NT_CHECK_INT(nox_exec_result_stdout_truncated(r), 1);
    NT_CHECK_INT(nox_exec_result_stderr_truncated(r), 0);
    nox_exec_result_free(r);
    teardown(c, sid);
}

NT_TEST(exec_timeout_gives_124_and_timed_out) {
    char sid[128];
    nox_client *c = setup("tmo", sid, sizeof sid);
    NT_CHECK(c);
    nox_exec_options o;
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    o.timeout_seconds = 1;
    const char *argv[] = {"sleep", "30", NULL};
    int64_t t0 = now_ms();
    nox_exec_result *r = run(c, sid, argv, &o);
    NT_CHECK(r);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 124);
    NT_CHECK_INT(nox_exec_result_timed_out(r), 1);
    NT_CHECK(now_ms() - t0 < 10000);
    nox_exec_result_free(r);
    teardown(c, sid);
}

NT_TEST(streaming_delivers_output_in_order) {
    char sid[128];
    nox_client *c = setup("stream", sid, sizeof sid);
    NT_CHECK(c);
    const char *argv[] = {"sh", "-c",
                          "echo a; sleep 0.3; echo b >&2; sleep 0.3; printf '\\377c'; exit 3",
                          NULL};
    nox_exec_stream *st = NULL;
    NT_OK(nox_exec_start(c, sid, argv, NULL, &st, &err));
    char seq[64] = "";
    int kind = 0, guard = 0;
    const uint8_t *d;
    size_t n;
    while (kind != NOX_EVENT_EXIT && guard++ < 1000) {
        NT_OK(nox_exec_next(st, 5000, &kind, &d, &n, &err));
        if (kind == NOX_EVENT_STDOUT || kind == NOX_EVENT_STDERR) {
            size_t l = strlen(seq);
            snprintf(seq + l, sizeof seq - l, "%s%.*s|", kind == NOX_EVENT_STDOUT ? "o:" : "e:",
                     (int)n, (const char *)d);
        }
    }
    NT_CHECK_INT(kind, NOX_EVENT_EXIT);
    NT_CHECK_STR(seq, "o:a\n|e:b\n|o:\xff" "c|");
    const nox_exec_result *r = nox_exec_stream_result(st);
    NT_CHECK_INT(nox_exec_result_exit_code(r), 3);
    nox_exec_stream_free(st);
    teardown(c, sid);
}

typedef struct cancel_arg {
    nox_exec_stream *st;
} cancel_arg;

static void *cancel_later(void *arg) {
    cancel_arg *a = arg;
    sleep_ms(400);
    nox_exec_cancel(a->st);
    return NULL;
}

static int count_lines(nox_client *c, const char *sid, const char *path) {
    const char *argv[] = {"sh", "-c", NULL, NULL};
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat %s 2>/dev/null | wc -l", path);
    argv[2] = cmd;
    nox_exec_result *r = NULL;
    nox_error *e = NULL;
    int v = -1;
    if (nox_exec(c, sid, argv, NULL, &r, &e) == 0)
        v = atoi((const char *)nox_exec_result_stdout(r, NULL));
    nox_exec_result_free(r);
    nox_error_free(e);
    return v;
}

NT_TEST(cancel_from_another_thread_kills_the_command) {
    char sid[128];
    nox_client *c = setup("cancel", sid, sizeof sid);
    NT_CHECK(c);
    const char *argv[] = {"sh", "-c",
                          "while :; do echo tick; echo t >> /workspace/ticks; sleep 0.05; done",
                          NULL};
    nox_exec_stream *st = NULL;
    NT_OK(nox_exec_start(c, sid, argv, NULL, &st, &err));
    cancel_arg a = {st};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &a);
    int rc, kind, ticks = 0;
    const uint8_t *d;
    size_t n;
    nox_error *e = NULL;
    int64_t t0 = now_ms();
    while ((rc = nox_exec_next(st, -1, &kind, &d, &n, &e)) == 0) {
        if (kind == NOX_EVENT_STDOUT)
            ticks++;
        NT_CHECK(kind != NOX_EVENT_EXIT);
        NT_CHECK(now_ms() - t0 < 10000);
    }
    pthread_join(t, NULL);
    NT_CHECK_INT(rc, NOX_ECANCELED);
    nox_error_free(e);
    NT_CHECK(ticks > 0);
    nox_exec_stream_free(st);
    /* The server killed the loop: the tick file stops growing. */
    sleep_ms(700);
    int before = count_lines(c, sid, "/workspace/ticks");
    sleep_ms(600);
    int after = count_lines(c, sid, "/workspace/ticks");
    NT_CHECK(before > 0);
    NT_CHECK_INT(after, before);
    teardown(c, sid);
}

static int write_tree(const char *root) {
    char p[4096];
    snprintf(p, sizeof p, "%s/sub", root);
    if (mkdir(p, 0755) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/top.txt", root);
    if (nt_write_file(p, "top\n", 4, 0644))
        return -1;
    snprintf(p, sizeof p, "%s/sub/run.sh", root);
    if (nt_write_file(p, "#!/bin/sh\necho ran\n", 19, 0755))
        return -1;
    /* A file bigger than any pipe or buffer: 3 MiB of patterned bytes. */
    size_t big = 3u * 1024 * 1024;
    uint8_t *b = malloc(big);
    if (!b)
        return -1;
    for (size_t i = 0; i < big; i++)
        b[i] = (uint8_t)(i * 31 + (i >> 12));
    snprintf(p, sizeof p, "%s/sub/big.bin", root);
    int rc = nt_write_file(p, b, big, 0600);
    free(b);
    return rc;
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *da = nt_read_file(a, &la), *db = nt_read_file(b, &lb);
    int same = da && db && la == lb && memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}

NT_TEST(files_upload_and_download_round_trip) {
    char sid[128];
    nox_client *c = setup("files", sid, sizeof sid);
    NT_CHECK(c);
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    static const uint8_t bin[] = {0, 1, 2, 0xff, 0xfe, '\n'};
    NT_OK(nox_files_add(f, "a.txt", (const uint8_t *)"alpha\n", 6, 0, &err));
    NT_OK(nox_files_add(f, "deep/er/b.bin", bin, sizeof bin, 0600, &err));
    NT_OK(nox_files_add(f, "tool.sh", (const uint8_t *)"#!/bin/sh\necho tool\n", 20, 0755, &err));
    NT_OK(nox_upload(c, sid, f, "/workspace/up", &err));
    nox_files_free(f);
    const char *a1[] = {"cat", "/workspace/up/a.txt", NULL};
    nox_exec_result *r = nt_exec_ok(c, sid, a1);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "alpha\n");
    nox_exec_result_free(r);
    const char *a2[] = {"/workspace/up/tool.sh", NULL};
    r = nt_exec_ok(c, sid, a2);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "tool\n");
    nox_exec_result_free(r);

    nox_bytes *tgz = NULL;
    NT_OK(nox_download(c, sid, "/workspace/up", &tgz, &err));
    d = nox_bytes_data(tgz, &n);
    NT_CHECK(n > 20 && d[0] == 0x1f && d[1] == 0x8b);
    nox_bytes_free(tgz);

    char *dir = nt_mkdtemp("dl");
    NT_CHECK(dir);
    NT_OK(nox_download_to_dir(c, sid, "/workspace/up", dir, &err));
    char p[4096];
    size_t l;
    snprintf(p, sizeof p, "%s/deep/er/b.bin", dir);
    char *got = nt_read_file(p, &l);
    NT_CHECK(got && l == sizeof bin && memcmp(got, bin, l) == 0);
    free(got);
    struct stat sb;
    snprintf(p, sizeof p, "%s/tool.sh", dir);
    NT_CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0100));
    nt_rm_rf(dir);
    free(dir);

    /* Unknown sandbox: the upload is refused, the producer stops. */
    NT_OK(nox_files_new(&f, &err));
    NT_OK(nox_files_add(f, "x.txt", (const uint8_t *)"x", 1, 0, &err));
    NT_FAILS(NOX_ENOTFOUND, "404", nox_upload(c, "no-such-sandbox", f, NULL, &err));
    nox_files_free(f);

    /* Missing source: a named failure (NOT_FOUND naming the path), not an
     * empty archive. */
    tgz = NULL;
    NT_FAILS(NOX_ENOTFOUND, "nope", nox_download(c, sid, "/workspace/nope", &tgz, &err));
    NT_CHECK(tgz == NULL);
    teardown(c, sid);
}

/* Bytes of the archive nox_download_fd_level() writes at `level`. */
static char *download_at(nox_client *c, const char *sid, int level, size_t *len, int *rc) {
    char *dir = nt_mkdtemp("lvl");
    char p[4096];
    snprintf(p, sizeof p, "%s/a", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    nox_error *e = NULL;
    *rc = nox_download_fd_level(c, sid, "/workspace/lv", fd, level, &e);
    nox_error_free(e);
    close(fd);
    char *data = nt_read_file(p, len);
    nt_rm_rf(dir);
    free(dir);
    return data;
}

static int is_gzip(const char *d, size_t n) {
    return d && n > 2 && (uint8_t)d[0] == 0x1f && (uint8_t)d[1] == 0x8b;
}

static int is_plain_tar(const char *d, size_t n) {
    return d && n > 512 && memcmp(d + 257, "ustar", 5) == 0;
}

NT_TEST(archive_compression_follows_the_level_asked_for) {
    char sid[128];
    nox_client *c = setup("level", sid, sizeof sid);
    NT_CHECK(c);
    /* 256 KiB that compresses well: stored gzip keeps its size, level 9
     * shrinks it, a plain tar is a tar. */
    const char *mk[] = {"sh", "-c", "mkdir -p lv && yes nox | head -c 262144 > lv/y.txt", NULL};
    nox_exec_result_free(nt_exec_ok(c, sid, mk));
    nox_bytes *b = NULL;
    NT_OK(nox_download(c, sid, "/workspace/lv", &b, &err));
    size_t n = 0;
    const uint8_t *d = nox_bytes_data(b, &n);
    /* A loopback server: stored blocks, no compression worth its cost. */
    NT_CHECK(is_gzip((const char *)d, n) && n > 262144);
    nox_bytes_free(b);
    int rc;
    char *a9 = download_at(c, sid, 9, &n, &rc);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(is_gzip(a9, n) && n < 8192);
    free(a9);
    char *plain = download_at(c, sid, NOX_TAR_PLAIN, &n, &rc);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(is_plain_tar(plain, n) && n > 262144);
    free(plain);
    NT_FAILS(NOX_EINVAL, "gzip level 10", nox_download_fd_level(c, sid, NULL, 1, 10, &err));
    NT_FAILS(NOX_EINVAL, "gzip level -2", nox_download_fd_level(c, sid, NULL, 1, -2, &err));

    /* The environment picks the level; a bad value is named. */
    setenv("NOXRUNNER_GZIP_LEVEL", "fast", 1);
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_HTTP;
    o.base_url = srv.url;
    nox_client *c2 = NULL;
    NT_FAILS(NOX_EINVAL, "NOXRUNNER_GZIP_LEVEL \"fast\"", nox_client_new(&c2, &o, &err));
    setenv("NOXRUNNER_GZIP_LEVEL", "9", 1);
    NT_OK(nox_client_new(&c2, &o, &err));
    unsetenv("NOXRUNNER_GZIP_LEVEL");
    NT_OK(nox_download(c2, sid, "/workspace/lv", &b, &err));
    d = nox_bytes_data(b, &n);
    NT_CHECK(is_gzip((const char *)d, n) && n < 8192);
    nox_bytes_free(b);
    /* And what it uploads is gzip level 9 too, which the server takes. */
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    NT_OK(nox_files_add(f, "g.txt", (const uint8_t *)"gz\n", 3, 0, &err));
    NT_OK(nox_upload(c2, sid, f, "/workspace/lv", &err));
    nox_files_free(f);
    const char *cat[] = {"cat", "/workspace/lv/g.txt", NULL};
    nox_exec_result *r = nt_exec_ok(c2, sid, cat);
    NT_CHECK(r);
    d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "gz\n");
    nox_exec_result_free(r);
    nox_client_free(c2);
    teardown(c, sid);
}

NT_TEST(directory_round_trip_through_upload_dir_and_download_to_dir) {
    char sid[128];
    nox_client *c = setup("dirs", sid, sizeof sid);
    NT_CHECK(c);
    char *src = nt_mkdtemp("src"), *dst = nt_mkdtemp("dst");
    NT_CHECK(src && dst);
    NT_CHECK(write_tree(src) == 0);
    NT_OK(nox_upload_dir(c, sid, src, "/workspace/tree", &err));
    const char *a1[] = {"sh", "-c", "wc -c < /workspace/tree/sub/big.bin && /workspace/tree/sub/run.sh", NULL};
    nox_exec_result *r = nt_exec_ok(c, sid, a1);
    NT_CHECK(r);
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(r, &n);
    NT_CHECK_BYTES(d, n, "3145728\nran\n");
    nox_exec_result_free(r);
    NT_OK(nox_download_to_dir(c, sid, "/workspace/tree", dst, &err));
    char a[4096], b[4096];
    const char *files[] = {"top.txt", "sub/run.sh", "sub/big.bin"};
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dst, files[i]);
        if (!same_file(a, b))
            nt_fail(__FILE__, __LINE__, "%s differs after the round trip", files[i]);
    }
    nt_rm_rf(src);
    nt_rm_rf(dst);
    free(src);
    free(dst);
    teardown(c, sid);
}

static void id_round_trip(nox_client *c, const char *sid) {
    nox_sandbox_info *info = NULL;
    NT_OK(nox_sandbox_create(c, sid, NULL, &info, &err));
    NT_CHECK_STR(nox_sandbox_info_session_id(info), sid);
    nox_sandbox_info_free(info);
    NT_OK(nox_sandbox_get(c, sid, &info, &err));
    NT_CHECK_STR(nox_sandbox_info_session_id(info), sid);
    nox_sandbox_info_free(info);
    nox_sandbox_list *l = NULL;
    NT_OK(nox_sandbox_list_all(c, &l, &err));
    int found = 0;
    for (size_t k = 0; k < nox_sandbox_list_count(l); k++)
        found += strcmp(nox_sandbox_info_session_id(nox_sandbox_list_at(l, k)), sid) == 0;
    nox_sandbox_list_free(l);
    NT_CHECK_INT(found, 1);
    const char *argv[] = {"echo", "ok", NULL};
    nox_exec_result *r = nt_exec_ok(c, sid, argv);
    NT_CHECK(r);
    nox_exec_result_free(r);
    NT_OK(nox_sandbox_delete(c, sid, &err));
    NT_FAILS(NOX_ENOTFOUND, "404", nox_sandbox_get(c, sid, &info, &err));
}

NT_TEST(odd_session_ids_round_trip) {
    NT_CHECK(srv_up);
    nox_client *c = nt_http_client(&srv, NULL);
    NT_CHECK(c);
    const char *ids[] = {"with space", "a/b/c", "100%", "what?x=1&y", "hash#tag",
                         "..", "\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9" " \xe2\x98\x83",
                         "%2F", "+plus+", "back\\slash"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && !nt_failed_checks; i++) {
        char sid[256];
        snprintf(sid, sizeof sid, "%s-%d", ids[i], (int)getpid());
        id_round_trip(c, sid);
    }
    /* Dot segments as whole ids (this server is private to the run). */
    if (!nt_failed_checks)
        id_round_trip(c, "..");
    if (!nt_failed_checks)
        id_round_trip(c, ".");
    nox_client_free(c);
}

NT_TEST(token_server_rejects_missing_and_wrong_tokens) {
    nt_server ts;
    const char *args[] = {"--token", "s3cret-token", NULL};
    NT_CHECK(nt_server_start(&ts, args) == 0);
    nox_client *none = nt_http_client(&ts, NULL);
    nox_client *wrong = nt_http_client(&ts, "not-the-token");
    nox_client *right = nt_http_client(&ts, "s3cret-token");
    int ok = none && wrong && right;
    nox_sandbox_info *i = NULL;
    const char *sid = nt_sid("auth");
    if (ok) {
        nox_error *e = NULL;
        /* /healthz stays open. */
        ok = nox_health(none, &e) == 0;
        nox_error_free(e);
        if (!ok)
            nt_fail(__FILE__, __LINE__, "health without a token failed");
    }
    if (ok) {
        nox_error *e = NULL;
        int rc = nox_sandbox_create(none, sid, NULL, &i, &e);
        if (rc != NOX_EAUTH || nox_error_http_status(e) != 401)
            nt_fail(__FILE__, __LINE__, "no token: %s", e ? nox_error_message(e) : "ok?");
        nox_error_free(e);
        e = NULL;
        rc = nox_sandbox_create(wrong, sid, NULL, &i, &e);
        if (rc != NOX_EAUTH)
            nt_fail(__FILE__, __LINE__, "wrong token: %s", e ? nox_error_message(e) : "ok?");
        nox_error_free(e);
        e = NULL;
        rc = nox_sandbox_create(right, sid, NULL, &i, &e);
        if (rc != 0)
            nt_fail(__FILE__, __LINE__, "right token: %s", e ? nox_error_message(e) : "?");
        nox_error_free(e);
        nox_sandbox_info_free(i);
        nox_sandbox_delete(right, sid, NULL);
    }
    nox_client_free(none);
    nox_client_free(wrong);
    nox_client_free(right);
    nt_server_stop(&ts);
}

typedef struct thread_arg {
    nox_client *c;
    const char *sid;
    int idx;
    int failures;
    char msg[256];
} thread_arg;

static void *exec_thread(void *arg) {
    thread_arg *a = arg;
    for (int j = 0; j < 4; j++) {
        char word[32];
        snprintf(word, sizeof word, "t%d-%d", a->idx, j);
        const char *argv[] = {"echo", word, NULL};
        nox_exec_result *r = NULL;
        nox_error *e = NULL;
        if (nox_exec(a->c, a->sid, argv, NULL, &r, &e) != 0) {
            a->failures++;
            snprintf(a->msg, sizeof a->msg, "%s", e ? nox_error_message(e) : "?");
        } else {
            size_t n;
            const uint8_t *d = nox_exec_result_stdout(r, &n);
            if (n != strlen(word) + 1 || memcmp(d, word, strlen(word)) != 0) {
                a->failures++;
                snprintf(a->msg, sizeof a->msg, "wrong output %.*s", (int)n,
                         (const char *)d);
            }
        }
        nox_exec_result_free(r);
        nox_error_free(e);
        if (nox_sandbox_touch(a->c, a->sid, NULL) != 0)
            a->failures++;
    }
    return NULL;
}

NT_TEST(thirty_two_threads_share_one_client) {
    char sids[4][128];
    nox_client *c = setup("mt0", sids[0], sizeof sids[0]);
    NT_CHECK(c);
    for (int i = 1; i < 4; i++) {
        snprintf(sids[i], sizeof sids[i], "%s", nt_sid("mt"));
        nox_sandbox_info *info = NULL;
        NT_OK(nox_sandbox_create(c, sids[i], NULL, &info, &err));
        nox_sandbox_info_free(info);
    }
    pthread_t t[32];
    thread_arg a[32];
    for (int i = 0; i < 32; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].c = c;
        a[i].sid = sids[i % 4];
        a[i].idx = i;
        pthread_create(&t[i], NULL, exec_thread, &a[i]);
    }
    for (int i = 0; i < 32; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 32; i++)
        if (a[i].failures)
            nt_fail(__FILE__, __LINE__, "thread %d: %d failures, last: %s", i,
                    a[i].failures, a[i].msg);
    for (int i = 1; i < 4; i++)
        nox_sandbox_delete(c, sids[i], NULL);
    teardown(c, sids[0]);
}

/* The server knows at once that the sandbox is missing, while the client
 * is still sending the body: the 404 must still reach the client (it used
 * to come back as a broken pipe, NOX_ECONNECT, now and then). */
NT_TEST(upload_to_unknown_sandbox_is_not_found_even_with_a_large_body) {
    NT_CHECK(srv_up);
    nox_client *c = nt_http_client(&srv, NULL);
    NT_CHECK(c != NULL);
    size_t len = 4u << 20;
    uint8_t *junk = calloc(1, len); /* never parsed: the sandbox is missing */
    NT_CHECK(junk != NULL);
    for (int i = 0; i < 10 && nt_failed_checks == 0; i++) {
        nox_error *err = NULL;
        int rc = nox_upload_targz(c, "no-such-sandbox", junk, len, NULL, &err);
        if (rc != NOX_ENOTFOUND || nox_error_http_status(err) != 404)
            nt_fail(__FILE__, __LINE__, "attempt %d: %s (%s)", i, nox_code_name(rc),
                    err ? nox_error_message(err) : "");
        nox_error_free(err);
    }
    free(junk);
    nox_client_free(c);
}

int main(void) {
    /* The server is on loopback: never through a proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    if (nt_server_start(&srv, NULL) == 0)
        srv_up = 1;
    else
        fprintf(stderr, "noxrunnerd failed to start\n");
    NT_RUN(health_and_info_describe_the_server);
    NT_RUN(sandbox_lifecycle_create_get_list_touch_delete);
    NT_RUN(exec_exit_codes_env_workdir_and_stdin);
    NT_RUN(exec_output_bytes_are_exact_and_capped);
    NT_RUN(exec_timeout_gives_124_and_timed_out);
    NT_RUN(streaming_delivers_output_in_order);
    NT_RUN(cancel_from_another_thread_kills_the_command);
    NT_RUN(files_upload_and_download_round_trip);
    NT_RUN(archive_compression_follows_the_level_asked_for);
    NT_RUN(directory_round_trip_through_upload_dir_and_download_to_dir);
    NT_RUN(odd_session_ids_round_trip);
    NT_RUN(token_server_rejects_missing_and_wrong_tokens);
    NT_RUN(upload_to_unknown_sandbox_is_not_found_even_with_a_large_body);
    NT_RUN(thirty_two_threads_share_one_client);
    int status = nt_main_end();
    if (srv_up && nt_server_stop(&srv) != 0) {
        fprintf(stderr, "noxrunnerd did not exit cleanly\n");
        status = 1;
    }
    return status;
}
