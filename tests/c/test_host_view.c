/*
 * test_host_view.c - what a sandbox sees of the host gives no way out
 * through sockets or FIFOs in the trees lent to it.
 *
 * The image is a directory the test makes: bin/sh and bin/probe (one
 * static binary), and srv/ holding a unix socket and a FIFO, each 0666,
 * with a host process behind them (the test), at the top and nested a few
 * levels down. The probe, run inside a sandbox on that image, tries to
 * connect to the sockets and to write into the FIFO; run on the host
 * (the control) the same probe must get through, or it proves nothing.
 * Before the mask, a 0666 socket in an image answered from inside.
 *
 * Run as root, the suite runs again as nobody.
 */
#include "nox_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char PROBE_SRC[] =
    "#include <fcntl.h>\n#include <stdio.h>\n#include <string.h>\n#include <errno.h>\n"
    "#include <sys/socket.h>\n#include <sys/un.h>\n#include <unistd.h>\n"
    "int main(int c, char **v) {\n"
    "  if (c != 3) return 2;\n"
    "  if (!strcmp(v[1], \"connect\")) {\n"
    "    int s = socket(AF_UNIX, SOCK_STREAM, 0);\n"
    "    struct sockaddr_un a = {.sun_family = AF_UNIX};\n"
    "    strncpy(a.sun_path, v[2], sizeof a.sun_path - 1);\n"
    "    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) { puts(\"connected\"); return 0; }\n"
    "    printf(\"refused: %s\\n\", strerror(errno)); return 1;\n"
    "  }\n"
    "  int fd = open(v[2], O_WRONLY | O_NONBLOCK);\n"
    "  if (fd < 0) { printf(\"refused: %s\\n\", strerror(errno)); return 1; }\n"
    "  if (write(fd, \"escaped\\n\", 8) != 8) { puts(\"write failed\"); return 1; }\n"
    "  puts(\"written\"); return 0;\n"
    "}\n";

static char *IMG;
static nox_client *C;
static char *BASE;

typedef struct specials {
    int sock[2]; /* listening sockets: srv/s, srv/a/b/c/s */
    int fifo[2]; /* readers of srv/f, srv/a/b/c/f */
} specials;

static int listen_at(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || chmod(path, 0666) != 0 ||
        listen(s, 16) != 0) {
        fprintf(stderr, "    listen %s: %s\n", path, strerror(errno));
        return -1;
    }
    return s;
}

static int fifo_at(const char *path) {
    if (mkfifo(path, 0666) != 0 || chmod(path, 0666) != 0)
        return -1;
    return open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

/* The image: a static probe as bin/sh and bin/probe, srv/ with the specials. */
static int make_image(specials *sp) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p '%s/bin' '%s/srv/a/b/c'; chmod -R 0755 '%s'; "
             "cc -static -O1 -x c -o '%s/bin/probe' - <<'EOF'\n%sEOF\n"
             "cp '%s/bin/probe' '%s/bin/sh'",
             IMG, IMG, IMG, IMG, PROBE_SRC, IMG, IMG);
    if (system(cmd) != 0)
        return -1;
    const char *rel[2] = {"srv", "srv/a/b/c"};
    for (int i = 0; i < 2; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s/s", IMG, rel[i]);
        sp->sock[i] = listen_at(p);
        snprintf(p, sizeof p, "%s/%s/f", IMG, rel[i]);
        sp->fifo[i] = fifo_at(p);
        if (sp->sock[i] < 0 || sp->fifo[i] < 0)
            return -1;
    }
    return 0;
}

/* Whatever reached the FIFO's reader since the last drain. */
static int drained(int fd) {
    char buf[256];
    ssize_t n, all = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        all += n;
    return (int)all;
}

/* The probe on the host, in a forked child: exit status. */
static int host_probe(const char *what, const char *path) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/bin/probe", IMG);
    pid_t p = fork();
    if (p == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(probe, "probe", what, path, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static shres inside(const char *sid, const char *what, const char *path) {
    shres r = {-1, NULL, 0, 0};
    const char *argv[] = {"/bin/probe", what, path, NULL};
    nox_exec_result *res = NULL;
    nox_error *e = NULL;
    if (nox_exec(C, sid, argv, NULL, &res, &e) != 0) {
        r.out = strdup(e ? nox_error_message(e) : "exec failed");
        nox_error_free(e);
        return r;
    }
    size_t n;
    const uint8_t *d = nox_exec_result_stdout(res, &n);
    r.out = strndup((const char *)d, n);
    r.code = nox_exec_result_exit_code(res);
    nox_exec_result_free(res);
    return r;
}

NT_TEST(sockets_and_fifos_in_an_image_are_masked) {
    specials sp = {{-1, -1}, {-1, -1}};
    NT_CHECK_INT(make_image(&sp), 0);
    nox_sandbox_options o;
    nox_sandbox_options_init(&o, NOX_SANDBOX_OPTIONS_VERSION);
    o.image = IMG;
    o.ttl_seconds = 120;
    const char *sid = nt_sid("img");
    nox_sandbox_info *inf = NULL;
    nox_error *e = NULL;
    int rc = nox_sandbox_create(C, sid, &o, &inf, &e);
    if (rc)
        fprintf(stderr, "    create: %s\n", e ? nox_error_message(e) : "?");
    nox_error_free(e);
    nox_sandbox_info_free(inf);
    NT_CHECK_INT(rc, 0);
    const char *rel[2] = {"srv", "srv/a/b/c"};
    for (int i = 0; rc == 0 && i < 2; i++) {
        char host[4096], in[256];
        snprintf(host, sizeof host, "%s/%s/s", IMG, rel[i]);
        snprintf(in, sizeof in, "/%s/s", rel[i]);
        /* Control: the socket takes a connection from the host. */
        NT_CHECK_INT(host_probe("connect", host), 0);
        shres r = inside(sid, "connect", in);
        fprintf(stderr, "    inside connect %s: %s", in, r.out ? r.out : "?\n");
        NT_CHECK(r.code == 1 && r.out && strstr(r.out, "refused"));
        free(r.out);
        snprintf(host, sizeof host, "%s/%s/f", IMG, rel[i]);
        snprintf(in, sizeof in, "/%s/f", rel[i]);
        drained(sp.fifo[i]);
        /* Control: bytes written on the host reach the reader. */
        NT_CHECK_INT(host_probe("write", host), 0);
        NT_CHECK(drained(sp.fifo[i]) == 8);
        r = inside(sid, "write", in);
        fprintf(stderr, "    inside write %s: %s", in, r.out ? r.out : "?\n");
        free(r.out);
        NT_CHECK_INT(drained(sp.fifo[i]), 0);
    }
    nox_sandbox_delete(C, sid, NULL);
    for (int i = 0; i < 2; i++) {
        if (sp.sock[i] >= 0)
            close(sp.sock[i]);
        if (sp.fifo[i] >= 0)
            close(sp.fifo[i]);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int rc;
    if (!(C = nt_namespaces_client(&BASE, "images need isolation level namespaces", &rc)))
        return rc;
    IMG = nt_mkdtemp("image");
    chmod(IMG, 0755);
    NT_RUN(sockets_and_fifos_in_an_image_are_masked);
    nox_client_free(C);
    nt_rm_rf(BASE);
    free(BASE);
    nt_rm_rf(IMG);
    free(IMG);
    return nt_main_end_and_nobody("NOX_HOST_VIEW_UNPRIVILEGED");
}
