/* test_core.c - the parts every backend shares: codes and their names,
 * versioned options, argument validation, result objects, time stamps. */
#include "nox_test.h"

#include "internal.h"

#include <stdlib.h>
#include <string.h>

NT_TEST(code_names_are_stable_and_unknown_codes_named) {
    NT_CHECK_STR(nox_code_name(NOX_OK), "NOX_OK");
    NT_CHECK_STR(nox_code_name(NOX_ENOTFOUND), "NOX_ENOTFOUND");
    NT_CHECK_STR(nox_code_name(NOX_ETOOBIG), "NOX_ETOOBIG");
    NT_CHECK_STR(nox_code_name(-999), "NOX_EUNKNOWN");
    NT_CHECK_INT(NOX_EINVAL, -1);
    NT_CHECK_INT(NOX_ESANDBOX, -14);
    NT_CHECK(strlen(nox_code_description(NOX_EAUTH)) > 0);
}

NT_TEST(version_getters_agree_with_header) {
    NT_CHECK_INT(nox_abi_version(), NOX_ABI_VERSION);
    NT_CHECK_STR(nox_version_string(), NOX_VERSION_STRING);
    NT_CHECK_INT(nox_version_number(), (NOX_VERSION_MAJOR << 16) | (NOX_VERSION_MINOR << 8) |
                                           NOX_VERSION_PATCH);
}

NT_TEST(options_init_rejects_unknown_versions) {
    nox_client_options co;
    nox_sandbox_options so;
    nox_exec_options eo;
    NT_CHECK_INT(nox_client_options_init(&co, 0), NOX_EVERSION);
    NT_CHECK_INT(nox_client_options_init(&co, NOX_CLIENT_OPTIONS_VERSION + 1), NOX_EVERSION);
    NT_CHECK_INT(nox_sandbox_options_init(&so, 99), NOX_EVERSION);
    NT_CHECK_INT(nox_exec_options_init(&eo, 99), NOX_EVERSION);
    NT_CHECK_INT(nox_client_options_init(&co, NOX_CLIENT_OPTIONS_VERSION), 0);
    NT_CHECK_INT(co.backend, NOX_BACKEND_LOCAL);
    NT_CHECK_INT(co.max_retries, 2);
    NT_CHECK_INT(co.tls_verify, 1);
}

NT_TEST(client_new_rejects_bad_options_with_named_cause) {
    nox_client *c = NULL;
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.backend = NOX_BACKEND_HTTP;
    NT_FAILS(NOX_EINVAL, "base_url", nox_client_new(&c, &o, &err));
    NT_CHECK(c == NULL);
    o.backend = 7;
    NT_FAILS(NOX_EINVAL, "unknown backend 7", nox_client_new(&c, &o, &err));
    o.backend = NOX_BACKEND_LOCAL;
    o.isolation = 9;
    NT_FAILS(NOX_EINVAL, "isolation", nox_client_new(&c, &o, &err));
    o.isolation = NOX_ISOLATION_AUTO;
    o.version = 0; /* a struct the caller forgot to initialise */
    NT_FAILS(NOX_EVERSION, "nox_client_options_init", nox_client_new(&c, &o, &err));
    NT_FAILS(NOX_EINVAL, "NULL", nox_client_new(&c, NULL, &err));
}

NT_TEST(session_ids_are_validated_before_any_backend_sees_them) {
    NT_OK(nox__validate_session_id("abc-123_x.y", &err));
    NT_OK(nox__validate_session_id("with space/and%slash ü", &err));
    NT_FAILS(NOX_EINVAL, "empty", nox__validate_session_id("", &err));
    NT_FAILS(NOX_EINVAL, "NULL", nox__validate_session_id(NULL, &err));
    NT_FAILS(NOX_EINVAL, "control", nox__validate_session_id("a\nb", &err));
    NT_FAILS(NOX_EINVAL, "UTF-8", nox__validate_session_id("a\xff", &err));
    char longid[300];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    NT_FAILS(NOX_EINVAL, "limit is 256", nox__validate_session_id(longid, &err));
}

NT_TEST(argv_must_be_non_empty) {
    size_t n = 0;
    const char *empty[] = {NULL};
    const char *blank[] = {"", NULL};
    const char *ok[] = {"echo", "", "x", NULL};
    NT_FAILS(NOX_EINVAL, "empty", nox__validate_argv(empty, &n, &err));
    NT_FAILS(NOX_EINVAL, "argv[0]", nox__validate_argv(blank, &n, &err));
    NT_FAILS(NOX_EINVAL, "empty", nox__validate_argv(NULL, &n, &err));
    NT_OK(nox__validate_argv(ok, &n, &err));
    NT_CHECK_INT(n, 3);
}

NT_TEST(paths_reject_traversal) {
    NT_OK(nox__validate_relpath("a/b.txt", &err));
    NT_FAILS(NOX_EINVAL, "absolute", nox__validate_relpath("/etc/passwd", &err));
    NT_FAILS(NOX_EINVAL, "\"..\"", nox__validate_relpath("a/../../x", &err));
    NT_FAILS(NOX_EINVAL, "empty", nox__validate_relpath("a//b", &err));
    NT_OK(nox__validate_sandbox_path("workdir", "/workspace/sub", &err));
    NT_FAILS(NOX_EINVAL, "workdir \"/workspace/../etc\"",
             nox__validate_sandbox_path("workdir", "/workspace/../etc", &err));
    NT_FAILS(NOX_EINVAL, "absolute", nox__validate_sandbox_path("dest", "relative", &err));
}

NT_TEST(utf8_checker_matches_the_standard) {
    NT_CHECK(nox__utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    NT_CHECK(!nox__utf8_valid((const uint8_t *)"\xc3", 1));          /* truncated */
    NT_CHECK(!nox__utf8_valid((const uint8_t *)"\xc0\xaf", 2));      /* overlong */
    NT_CHECK(!nox__utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));  /* surrogate */
    NT_CHECK(!nox__utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

NT_TEST(files_add_copies_data_and_rejects_bad_names) {
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    char data[] = "hello";
    NT_OK(nox_files_add(f, "dir/a.txt", (const uint8_t *)data, 5, 0, &err));
    data[0] = 'J'; /* the set must hold its own copy */
    NT_CHECK(memcmp(f->items[0].data, "hello", 5) == 0);
    NT_CHECK_INT(f->items[0].mode, 0644);
    NT_FAILS(NOX_EINVAL, "twice", nox_files_add(f, "dir/a.txt", NULL, 0, 0, &err));
    NT_FAILS(NOX_EINVAL, "absolute", nox_files_add(f, "/x", NULL, 0, 0, &err));
    NT_FAILS(NOX_EINVAL, "\"..\"", nox_files_add(f, "../x", NULL, 0, 0, &err));
    NT_FAILS(NOX_EINVAL, "mode", nox_files_add(f, "y", NULL, 0, 0100644, &err));
    NT_CHECK_INT(nox_files_count(f), 1);
    nox_files_free(f);
}

NT_TEST(iso8601_round_trips_and_accepts_offsets) {
    char buf[32];
    NT_OK(nox__format_iso8601(1767225600, buf, sizeof buf) ? NOX_EINVAL : 0);
    NT_CHECK_STR(buf, "2026-01-01T00:00:00Z");
    int64_t t = 0;
    NT_CHECK_INT(nox__parse_iso8601("2026-01-01T00:00:00Z", &t), 0);
    NT_CHECK_INT(t, 1767225600);
    NT_CHECK_INT(nox__parse_iso8601("2026-01-01T01:00:00.123456+01:00", &t), 0);
    NT_CHECK_INT(t, 1767225600);
    NT_CHECK_INT(nox__parse_iso8601("2026-01-01T00:00:00.5", &t), 0); /* Python isoformat */
    NT_CHECK_INT(nox__parse_iso8601("yesterday", &t), NOX_EINVAL);
    nox_sandbox_info *i = nox__sandbox_info_new("s", "pod", "2026-01-01T00:00:00Z", 0);
    NT_CHECK(i != NULL);
    NT_CHECK_INT(nox_sandbox_info_expires_at_unix(i), 1767225600);
    nox_sandbox_info_free(i);
}

NT_TEST(errors_keep_the_first_cause_and_prefix_context) {
    nox_error *e = NULL;
    NT_CHECK_INT(nox__err(&e, NOX_ENOTFOUND, "no sandbox for session"), NOX_ENOTFOUND);
    nox__err(&e, NOX_EIO, "later failure");
    nox__err_prefix(&e, "exec on session \"%s\"", "s1");
    NT_CHECK_INT(nox_error_code(e), NOX_ENOTFOUND);
    NT_CHECK_STR(nox_error_message(e), "exec on session \"s1\": no sandbox for session");
    nox_error_free(e);
    e = NULL;
    nox__err_http(&e, NOX_EHTTP, 500, (const uint8_t *)"{\"error\":\"x\"}", 13, "boom");
    size_t n;
    const uint8_t *body = nox_error_body(e, &n);
    NT_CHECK_INT(nox_error_http_status(e), 500);
    NT_CHECK_BYTES(body, n, "{\"error\":\"x\"}");
    nox_error_free(e);
    nox_error_free(NULL);
    NT_CHECK_INT(nox__err(NULL, NOX_EIO, "nobody listens"), NOX_EIO);
}

static char *core_base_dir; /* removed by main() */

NT_TEST(calls_reject_bad_arguments_before_reaching_the_backend) {
    nox_client *c = nt_local_client(core_base_dir, NULL);
    NT_CHECK(c != NULL);
    nox_exec_result *r = NULL;
    const char *argv[] = {"true", NULL};
    const char *empty[] = {NULL};
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    NT_FAILS(NOX_EINVAL, "exec on session \"s\": command is empty",
             nox_exec(c, "s", empty, NULL, &r, &err));
    eo.timeout_seconds = -5;
    NT_FAILS(NOX_EINVAL, "timeout_seconds -5", nox_exec(c, "s", argv, &eo, &r, &err));
    eo.timeout_seconds = 100000;
    NT_FAILS(NOX_EINVAL, "timeout_seconds 100000", nox_exec(c, "s", argv, &eo, &r, &err));
    eo.timeout_seconds = 0;
    const char *env[] = {"NOEQUALS", NULL};
    eo.env = env;
    NT_FAILS(NOX_EINVAL, "NOEQUALS", nox_exec(c, "s", argv, &eo, &r, &err));
    eo.env = NULL;
    eo.workdir = "relative/dir";
    NT_FAILS(NOX_EINVAL, "workdir", nox_exec(c, "s", argv, &eo, &r, &err));
    NT_FAILS(NOX_EINVAL, "exec: session id is empty", nox_exec(c, "", argv, NULL, &r, &err));
    nox_sandbox_options so;
    nox_sandbox_options_init(&so, NOX_SANDBOX_OPTIONS_VERSION);
    so.ttl_seconds = -1;
    nox_sandbox_info *info = NULL;
    NT_FAILS(NOX_EINVAL, "ttl_seconds -1", nox_sandbox_create(c, "s", &so, &info, &err));
    so.ttl_seconds = 10;
    so.memory_limit = "1 GB; rm -rf";
    NT_FAILS(NOX_EINVAL, "memory_limit", nox_sandbox_create(c, "s", &so, &info, &err));
    NT_FAILS(NOX_EINVAL, "dest", nox_upload_targz(c, "s", (const uint8_t *)"x", 1,
                                                  "/workspace/../../etc", &err));
    NT_FAILS(NOX_EINVAL, "client is NULL", nox_sandbox_touch(NULL, "s", &err));
    NT_CHECK(r == NULL && info == NULL);
    nox_client_free(c);
}

NT_TEST(download_to_dir_reports_the_transfer_error_not_a_cut_archive) {
    nox_client *c = nt_local_client(core_base_dir, NULL);
    NT_CHECK(c != NULL);
    char *dir = nt_mkdtemp("dl");
    NT_FAILS(NOX_ENOTFOUND, "download_to_dir on session \"nobody-here\"",
             nox_download_to_dir(c, "nobody-here", NULL, dir, &err));
    nt_rm_rf(dir);
    free(dir);
    nox_client_free(c);
}

/* ---- ring plumbing -------------------------------------------------------- */

typedef struct ring_prod {
    size_t total;  /* bytes to push */
    int fail_with; /* status after pushing them */
    int write_rc;  /* the first failed write's code */
} ring_prod;

static uint8_t pattern_at(size_t i) {
    return (uint8_t)(i * 31u + (i >> 13));
}

static int ring_prod_run(void *ctx, int level, nox__sink *sink, nox_error **err) {
    (void)level;
    ring_prod *p = ctx;
    uint8_t piece[70001];
    size_t off = 0, step = 1;
    while (off < p->total) {
        size_t n = step % sizeof piece + 1; /* 2 .. 70001 bytes: pieces wrap the ring */
        step = step * 7 + 3;
        if (n > p->total - off)
            n = p->total - off;
        for (size_t i = 0; i < n; i++)
            piece[i] = pattern_at(off + i);
        int rc = sink->write(sink->ctx, piece, n, err);
        if (rc != 0) {
            p->write_rc = rc;
            return rc;
        }
        off += n;
    }
    if (p->fail_with)
        return nox__err(err, p->fail_with, "producer gave up after %zu bytes", off);
    return 0;
}

NT_TEST(ring_producer_hands_over_every_byte_then_the_producers_status) {
    for (int fail = 0; fail < 2; fail++) {
        ring_prod p = {(5u << 20) + 12345, fail ? NOX_EARCHIVE : 0, 0};
        nox__producer prod = {ring_prod_run, &p};
        nox__ring_producer *rp = NULL;
        NT_OK(nox__ring_producer_start(&rp, &prod, NOX__TAR_PLAIN, &err));
        uint8_t buf[7777];
        size_t got = 0, bad = 0, n;
        while ((n = nox__ring_producer_read(rp, buf, sizeof buf)) > 0) {
            for (size_t i = 0; i < n; i++)
                bad += buf[i] != pattern_at(got + i);
            got += n;
        }
        NT_CHECK(got == p.total);
        NT_CHECK(bad == 0);
        NT_CHECK(nox__ring_producer_read(rp, buf, sizeof buf) == 0); /* stays at the end */
        nox_error *e = NULL;
        int rc = nox__ring_producer_finish(rp, &e);
        NT_CHECK_INT(rc, fail ? NOX_EARCHIVE : 0);
        if (fail)
            NT_CHECK(e && strstr(nox_error_message(e), "producer gave up after"));
        else
            NT_CHECK(e == NULL);
        nox_error_free(e);
    }
}

NT_TEST(ring_producer_finish_stops_a_producer_nobody_reads) {
    ring_prod p = {64u << 20, 0, 0}; /* far more than the ring holds */
    nox__producer prod = {ring_prod_run, &p};
    nox__ring_producer *rp = NULL;
    NT_OK(nox__ring_producer_start(&rp, &prod, NOX__TAR_PLAIN, &err));
    uint8_t buf[100];
    NT_CHECK(nox__ring_producer_read(rp, buf, sizeof buf) > 0); /* it has started */
    nox_error *e = NULL;
    int rc = nox__ring_producer_finish(rp, &e); /* the producer is blocked: must return */
    NT_CHECK_INT(rc, NOX_ECANCELED);
    NT_CHECK_INT(p.write_rc, NOX_ECANCELED);
    NT_CHECK(e && strstr(nox_error_message(e), "stopped reading"));
    nox_error_free(e);
}

int main(void) {
    core_base_dir = nt_mkdtemp("core");
    NT_RUN(code_names_are_stable_and_unknown_codes_named);
    NT_RUN(version_getters_agree_with_header);
    NT_RUN(options_init_rejects_unknown_versions);
    NT_RUN(client_new_rejects_bad_options_with_named_cause);
    NT_RUN(session_ids_are_validated_before_any_backend_sees_them);
    NT_RUN(argv_must_be_non_empty);
    NT_RUN(paths_reject_traversal);
    NT_RUN(utf8_checker_matches_the_standard);
    NT_RUN(files_add_copies_data_and_rejects_bad_names);
    NT_RUN(iso8601_round_trips_and_accepts_offsets);
    NT_RUN(errors_keep_the_first_cause_and_prefix_context);
    NT_RUN(calls_reject_bad_arguments_before_reaching_the_backend);
    NT_RUN(download_to_dir_reports_the_transfer_error_not_a_cut_archive);
    NT_RUN(ring_producer_hands_over_every_byte_then_the_producers_status);
    NT_RUN(ring_producer_finish_stops_a_producer_nobody_reads);
    nt_rm_rf(core_base_dir);
    free(core_base_dir);
    return nt_main_end();
}
