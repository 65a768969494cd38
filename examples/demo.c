/* demo.c - NoxRunner in a nutshell: a local sandbox, a command, files in
 * and out, and cleanup. Run: ./build/nox-demo */
#include <noxrunner/noxrunner.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, nox_error *err) {
    fprintf(stderr, "demo: %s: %s (%s)\n", what, nox_error_message(err),
            nox_code_name(nox_error_code(err)));
    nox_error_free(err);
    return 1;
}

static void show(const char *title, const nox_exec_result *r) {
    size_t n;
    const uint8_t *out = nox_exec_result_stdout(r, &n);
    printf("$ %s\n%.*s", title, (int)n, (const char *)out);
    printf("  (exit %d, %lld ms)\n", nox_exec_result_exit_code(r),
           (long long)nox_exec_result_duration_ms(r));
}

int main(void) {
    nox_error *err = NULL;
    nox_client_options opts;
    nox_client_options_init(&opts, NOX_CLIENT_OPTIONS_VERSION);
    opts.backend = NOX_BACKEND_LOCAL;

    nox_client *c = NULL;
    if (nox_client_new(&c, &opts, &err))
        return fail("client", err);
    printf("NoxRunner %s, local backend, isolation: %s\n", nox_version_string(),
           nox_isolation_name(nox_client_isolation(c)));

    const char *sid = "demo";
    nox_sandbox_info *info = NULL;
    nox_sandbox_options so;
    nox_sandbox_options_init(&so, NOX_SANDBOX_OPTIONS_VERSION);
    so.ttl_seconds = 120;
    if (nox_sandbox_create(c, sid, &so, &info, &err))
        return fail("create", err);
    printf("sandbox %s ready, expires %s\n\n", nox_sandbox_info_pod_name(info),
           nox_sandbox_info_expires_at(info));
    nox_sandbox_info_free(info);

    /* Files in: a script, uploaded to /workspace. */
    nox_files *files = NULL;
    const char *script = "import sys\nprint('hello from', sys.argv[1])\n"
                         "open('/workspace/out/result.txt', 'w').write('42\\n')\n";
    const char *sh = "mkdir -p out && echo \"workspace is $(pwd)\" && python3 hello.py sandbox\n";
    if (nox_files_new(&files, &err) ||
        nox_files_add(files, "hello.py", (const uint8_t *)script, strlen(script), 0644, &err) ||
        nox_files_add(files, "run.sh", (const uint8_t *)sh, strlen(sh), 0755, &err) ||
        nox_upload(c, sid, files, NULL, &err))
        return fail("upload", err);
    nox_files_free(files);

    /* A command: argument vectors are never passed through a shell... */
    const char *echo_argv[] = {"echo", "$HOME is not expanded here", NULL};
    nox_exec_result *r = NULL;
    if (nox_exec(c, sid, echo_argv, NULL, &r, &err))
        return fail("exec", err);
    show("echo '$HOME is not expanded here'", r);
    nox_exec_result_free(r);

    /* ...unless you ask for one. */
    const char *run_argv[] = {"sh", "-c", "./run.sh", NULL};
    if (nox_exec(c, sid, run_argv, NULL, &r, &err))
        return fail("exec", err);
    show("sh -c ./run.sh", r);
    nox_exec_result_free(r);

    /* A timeout kills the command and everything it started. */
    nox_exec_options eo;
    nox_exec_options_init(&eo, NOX_EXEC_OPTIONS_VERSION);
    eo.timeout_seconds = 1;
    const char *slow_argv[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    if (nox_exec(c, sid, slow_argv, &eo, &r, &err))
        return fail("exec", err);
    printf("$ sh -c 'sleep 30 & sleep 30'  (timeout 1 s)\n  timed out: %s, exit %d\n",
           nox_exec_result_timed_out(r) ? "yes" : "no", nox_exec_result_exit_code(r));
    nox_exec_result_free(r);

    /* Files out: the results as a tar.gz. */
    nox_bytes *tgz = NULL;
    if (nox_download(c, sid, "/workspace/out", &tgz, &err))
        return fail("download", err);
    size_t n;
    nox_bytes_data(tgz, &n);
    printf("\ndownloaded /workspace/out: %zu bytes of tar.gz\n", n);
    nox_bytes_free(tgz);

    if (nox_sandbox_delete(c, sid, &err))
        return fail("delete", err);
    printf("sandbox deleted\n");
    nox_client_free(c);
    return 0;
}
