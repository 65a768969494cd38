/*
 * test_server_cli.c - noxrunnerd's two tables: the option table (what
 * --help prints, what docs/server.md documents, how a bad command line is
 * told) and the route table (which method and path reach a handler, and
 * what a 405 offers instead). Against the real binary, on loopback.
 */
#include "nox_test.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run noxrunnerd with args; its stdout and stderr into out/errout (each
 * NUL-terminated, cap bytes). Returns the exit status, -1 on failure. */
static int run_server(const char *const *args, char *out, char *errout, size_t cap) {
    char *dir = nt_mkdtemp("srvcli");
    char o_path[4200], e_path[4200];
    snprintf(o_path, sizeof o_path, "%s/out", dir);
    snprintf(e_path, sizeof e_path, "%s/err", dir);
    const char *argv[16] = {NOX_TEST_SERVER};
    for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(o_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(e_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        unsetenv("NOXRUNNER_TOKEN");
        execv(NOX_TEST_SERVER, (char *const *)argv);
        _exit(127);
    }
    int status = -1, rc = -1;
    for (int i = 0; pid > 0 && i < 500; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        usleep(10000);
    }
    if (rc == -1 && pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    const char *paths[2] = {o_path, e_path};
    char *dst[2] = {out, errout};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        char *text = nt_read_file(paths[k], &n);
        snprintf(dst[k], cap, "%s", text ? text : "");
        free(text);
    }
    nt_rm_rf(dir);
    free(dir);
    return rc;
}

/* The "--name" tokens in text, each once, as " name " entries of out. */
static void flags_in(const char *text, const char *prefix, char *out, size_t cap) {
    out[0] = 0;
    size_t plen = strlen(prefix);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p += plen) {
        const char *s = p + plen, *e = s;
        while ((*e >= 'a' && *e <= 'z') || *e == '-')
            e++;
        char word[80];
        snprintf(word, sizeof word, " %.*s ", (int)(e - s), s);
        if (e > s && !strstr(out, word) && strlen(out) + strlen(word) < cap)
            strcat(out, word + (out[0] ? 1 : 0));
    }
}

static int same_words(const char *a, const char *b) {
    char word[80];
    for (int pass = 0; pass < 2; pass++) {
        const char *x = pass ? b : a, *y = pass ? a : b;
        for (const char *p = x; *p;) {
            while (*p == ' ')
                p++;
            const char *e = strchr(p, ' ');
            if (!e || e == p)
                break;
            snprintf(word, sizeof word, "%.*s", (int)(e - p), p);
            char padded[84];
            snprintf(padded, sizeof padded, " %s ", word);
            char hay[4096];
            snprintf(hay, sizeof hay, " %s", y);
            if (!strstr(hay, padded)) {
                fprintf(stderr, "    --%s is in one list but not the other\n", word);
                return 0;
            }
            p = e;
        }
    }
    return 1;
}

NT_TEST(help_lists_exactly_the_flags_docs_server_md_documents) {
    static char out[16384], errout[4096];
    const char *args[] = {"--help", NULL};
    NT_CHECK_INT(run_server(args, out, errout, sizeof out), 0);
    char *doc = nt_read_file(NOX_TEST_SOURCE_DIR "/docs/server.md", NULL);
    NT_CHECK(doc != NULL);
    char *options = strstr(doc, "\n## OPTIONS");
    char *end = options ? strstr(options + 1, "\n## ") : NULL;
    if (end)
        *end = 0;
    char in_help[2048], in_doc[2048];
    flags_in(out, "\n  --", in_help, sizeof in_help);
    flags_in(options ? options : "", "`--", in_doc, sizeof in_doc);
    free(doc);
    NT_CHECK(options != NULL);
    NT_CHECK(strstr(in_help, "max-execs-per-sandbox") != NULL);
    NT_CHECK(same_words(in_help, in_doc));
}

NT_TEST(a_missing_value_is_named_as_such) {
    char out[4096], errout[4096];
    const char *port[] = {"--port", NULL};
    NT_CHECK_INT(run_server(port, out, errout, sizeof out), 2);
    NT_CHECK(strstr(errout, "option --port needs a value") != NULL);
    const char *flag_value[] = {"--quiet=1", NULL};
    NT_CHECK_INT(run_server(flag_value, out, errout, sizeof out), 2);
    NT_CHECK(strstr(errout, "--quiet=1") != NULL);
    const char *unknown[] = {"--colour", "always", NULL};
    NT_CHECK_INT(run_server(unknown, out, errout, sizeof out), 2);
    NT_CHECK(strstr(errout, "unknown option --colour") != NULL);
}

typedef struct answer {
    long status;
    char allow[128];
    char body[512];
} answer;

static size_t keep_body(char *p, size_t sz, size_t n, void *ud) {
    answer *a = ud;
    size_t have = strlen(a->body), k = sz * n;
    if (have + 1 < sizeof a->body)
        snprintf(a->body + have, sizeof a->body - have, "%.*s", (int)k, p);
    return sz * n;
}

static size_t keep_allow(char *p, size_t sz, size_t n, void *ud) {
    answer *a = ud;
    size_t k = sz * n;
    if (k > 7 && strncasecmp(p, "Allow: ", 7) == 0) {
        while (k > 7 && (p[k - 1] == '\r' || p[k - 1] == '\n'))
            k--;
        snprintf(a->allow, sizeof a->allow, "%.*s", (int)(k - 7), p + 7);
    }
    return sz * n;
}

static void ask(const nt_server *s, const char *method, const char *path, answer *a) {
    memset(a, 0, sizeof *a);
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, keep_allow);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_cleanup(h);
}

NT_TEST(every_route_takes_its_methods_and_a_405_names_them) {
    static const struct {
        const char *path, *allow;
    } routes[] = {
        {"/healthz", "GET, HEAD"},
        {"/v1/info", "GET"},
        {"/v1/sandboxes", "GET"},
        {"/v1/sandboxes/rt-x", "GET, PUT, DELETE"},
        {"/v1/sandboxes/rt-x/touch", "POST"},
        {"/v1/sandboxes/rt-x/exec", "POST"},
        {"/v1/sandboxes/rt-x/files/upload", "POST"},
        {"/v1/sandboxes/rt-x/files/download", "GET"},
    };
    static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};
    nt_server s;
    if (nt_server_start(&s, NULL) != 0) {
        nt_fail(__FILE__, __LINE__, "noxrunnerd did not start");
        return;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            answer a;
            ask(&s, methods[m], routes[i].path, &a);
            char want[16];
            snprintf(want, sizeof want, "%s", methods[m]);
            int allowed = 0;
            for (const char *p = routes[i].allow; (p = strstr(p, want)) != NULL; p++)
                allowed |= (p == routes[i].allow || p[-1] == ' ') &&
                           (p[strlen(want)] == ',' || p[strlen(want)] == 0);
            int ok = allowed ? a.status != 405 && !strstr(a.body, "no such endpoint") &&
                                   a.status != 0
                             : a.status == 405 && !strcmp(a.allow, routes[i].allow);
            if (!ok) {
                fprintf(stderr, "    %s %s: %ld, Allow \"%s\", %s\n", methods[m],
                        routes[i].path, a.status, a.allow, a.body);
                bad++;
            }
        }
    }
    static const char *const nowhere[] = {
        "/", "/v1", "/healthz/", "/v1/info/x", "/v1/sandboxes/rt-x/files",
        "/v1/sandboxes/rt-x/exec/more", "/v1/sandboxes/rt-x/files/upload/", "/v2/sandboxes",
    };
    for (size_t i = 0; i < sizeof nowhere / sizeof nowhere[0]; i++) {
        answer a;
        ask(&s, "GET", nowhere[i], &a);
        if (a.status != 404 || !strstr(a.body, "no such endpoint")) {
            fprintf(stderr, "    GET %s: %ld %s\n", nowhere[i], a.status, a.body);
            bad++;
        }
    }
    nt_server_stop(&s);
    NT_CHECK_INT(bad, 0);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    NT_RUN(help_lists_exactly_the_flags_docs_server_md_documents);
    NT_RUN(a_missing_value_is_named_as_such);
    NT_RUN(every_route_takes_its_methods_and_a_405_names_them);
    curl_global_cleanup();
    return nt_main_end();
}
