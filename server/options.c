/* options.c - noxrunnerd's command line: one table gives getopt_long its
 * options, fills srv_config, and prints --help, so a flag cannot exist
 * without its help line (or the other way round). */
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OPT_STRING,    /* const char * field */
    OPT_TOKEN,     /* const char * field, never empty */
    OPT_INT,       /* int field in [min, max] */
    OPT_UNSIGNED,  /* unsigned field in [min, max] */
    OPT_SIZE,      /* uint64_t field, positive, K/M/G suffix */
    OPT_ISOLATION, /* int field: NOX_ISOLATION_* by name */
    OPT_FLAG,      /* int field set to 1 */
    OPT_VERSION,
    OPT_HELP,
    OPT_MAN,
} opt_kind;

typedef struct {
    const char *name; /* without the leading "--" */
    const char *arg;  /* the value's name in --help; NULL: takes none */
    opt_kind kind;
    size_t field;     /* offsetof(srv_config, ...) */
    long min, max;
    const char *help; /* lines separated by '\n' */
} srv_option;

#define F(member) offsetof(srv_config, member)

static const srv_option options[] = {
    {"host", "ADDR", OPT_STRING, F(host), 0, 0,
     "address to bind (default 127.0.0.1); anything\nbut loopback requires a token"},
    {"port", "N", OPT_INT, F(port), 0, 65535,
     "TCP port (default 8080; 0 picks a free one)"},
    {"token", "TOKEN", OPT_TOKEN, F(token), 0, 0,
     "require \"Authorization: Bearer TOKEN\" on every\n"
     "route but /healthz (default: $NOXRUNNER_TOKEN)"},
    {"base-dir", "DIR", OPT_STRING, F(base_dir), 0, 0,
     "state directory for sandboxes (default: the\n"
     "library's, $NOXRUNNER_HOME or a per-user temp dir)"},
    {"agent", "PATH", OPT_STRING, F(agent_path), 0, 0, "the nox-sandbox agent program"},
    {"isolation", "LEVEL", OPT_ISOLATION, F(isolation), 0, 0,
     "auto, none or namespaces (default auto)"},
    {"max-body-bytes", "N", OPT_SIZE, F(max_body_bytes), 0, 0,
     "limit for JSON request bodies (default 8M)"},
    {"max-upload-bytes", "N", OPT_SIZE, F(max_upload_bytes), 0, 0,
     "limit for upload bodies (default 8G, like the\nclient's extracted-size limit)"},
    {"max-output-bytes", "N", OPT_SIZE, F(max_output_bytes), 0, 0,
     "captured output per stream and exec (default 1M)"},
    {"threads", "N", OPT_UNSIGNED, F(threads), 1, 100000,
     "concurrent connections, one thread each\n(default 128)"},
    {"max-conns-per-ip", "N", OPT_UNSIGNED, F(max_per_ip), 1, 1000000,
     "connections one client address may hold open;\nmore get 429 (default 100)"},
    {"max-pending", "N", OPT_UNSIGNED, F(max_pending), 1, 1000000,
     "connections waiting for their request head (a\nfile descriptor each, no thread); more get\n"
     "503 (default 1024)"},
    {"head-timeout", "SECONDS", OPT_UNSIGNED, F(head_timeout), 1, 3600,
     "time from connect to a whole request head;\nthen 408 (default 10)"},
    {"body-timeout", "SECONDS", OPT_UNSIGNED, F(body_timeout), 1, 86400,
     "time for a body of up to 64 KiB after its head,\n"
     "and the grace before --min-body-rate applies to\nlarger ones; then 408 (default 30)"},
    {"max-head-bytes", "N", OPT_SIZE, F(max_head_bytes), 0, 0,
     "request line and headers; more get 431\n(default 32K)"},
    {"min-body-rate", "N", OPT_SIZE, F(min_body_rate), 0, 0,
     "bytes per second a larger body (an upload)\nmust average; slower gets 408 (default 1K)"},
    {"max-execs-per-sandbox", "N", OPT_UNSIGNED, F(max_execs), 1, 100000,
     "commands running at once in one sandbox;\nmore get 429 (default 32)"},
    {"grace", "SECONDS", OPT_UNSIGNED, F(grace_seconds), 0, 86400,
     "how long shutdown waits for running requests\nbefore canceling them (default 10)"},
    {"keep-sandboxes", NULL, OPT_FLAG, F(keep_sandboxes), 0, 0,
     "do not delete this server's sandboxes on exit"},
    {"quiet", NULL, OPT_FLAG, F(quiet), 0, 0, "no access log"},
    {"version", NULL, OPT_VERSION, 0, 0, 0, "print the version and exit"},
    {"help", NULL, OPT_HELP, 0, 0, 0, "print this help and exit"},
    {"help-man", NULL, OPT_MAN, 0, 0, 0,
     "print this help as a manual page (troff) and exit;\nthe build installs it as noxrunnerd(1)"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])
#define HELP_COLUMN 26

void options_defaults(srv_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->isolation = NOX_ISOLATION_AUTO;
    cfg->max_body_bytes = 8u << 20;
    cfg->max_upload_bytes = 8ull << 30;
    cfg->threads = 128;
    cfg->grace_seconds = 10;
    cfg->idle_timeout = 120; /* seconds before an idle connection closes */
    cfg->max_execs = 32;
    cfg->max_per_ip = 100;
    cfg->max_pending = 1024;
    cfg->head_timeout = 10;
    cfg->body_timeout = 30;
    cfg->max_head_bytes = 32u << 10;
    cfg->min_body_rate = 1u << 10;
}

/* s with troff's special characters escaped, one line. */
static void man_text(FILE *f, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == '-')
            fputc('\\', f);
        if (s[i] == '\n')
            fputc(' ', f);
        else
            fputc(s[i], f);
    }
}

/* The same table as --help, as a man page: noxrunnerd(1). */
static void print_man(FILE *f) {
    fputs(".TH NOXRUNNERD 1 \"\" \"noxrunnerd ", f);
    fputs(nox_version_string(), f);
    fputs("\" \"NoxRunner\"\n.SH NAME\nnoxrunnerd \\- serve NoxRunner sandboxes over HTTP\n"
          ".SH SYNOPSIS\n.B noxrunnerd\n[\\fIOPTION\\fR]...\n.SH DESCRIPTION\n"
          "Serve NoxRunner sandboxes on this machine over HTTP (backend API v1).\n"
          "Each sandbox is a local sandbox of the NoxRunner C library; the wire "
          "contract is docs/spec/backend\\-api\\-v1.md, the behaviour docs/server.md.\n"
          ".SH OPTIONS\n",
          f);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const srv_option *o = &options[i];
        fputs(".TP\n.B \\-\\-", f);
        man_text(f, o->name, strlen(o->name));
        if (o->arg)
            fprintf(f, " \\fI%s\\fR", o->arg);
        fputc('\n', f);
        man_text(f, o->help, strlen(o->help));
        fputc('\n', f);
    }
    fputs(".PP\nSizes take an optional K, M or G suffix (powers of 1024).\n"
          ".SH EXIT STATUS\n0 after a clean shutdown, 1 on a runtime failure, 2 on a usage "
          "error (including a non\\-loopback \\-\\-host without a token).\n"
          ".SH ENVIRONMENT\n.TP\n.B NOXRUNNER_TOKEN\nthe bearer token when \\-\\-token is not "
          "given.\n.TP\n.B NOXRUNNER_HOME\nthe base directory when \\-\\-base\\-dir is not "
          "given.\n.SH SEE ALSO\n.BR noxrunner (3)\n",
          f);
}

static void print_help(FILE *f) {
    fputs("Usage: noxrunnerd [OPTION]...\n"
          "Serve NoxRunner sandboxes on this machine over HTTP (backend API v1).\n\n",
          f);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const srv_option *o = &options[i];
        int n = fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        if (n >= HELP_COLUMN)
            n = fprintf(f, "\n") - 1; /* too long: the text starts below */
        const char *line = o->help;
        for (;;) {
            const char *end = strchr(line, '\n');
            int len = end ? (int)(end - line) : (int)strlen(line);
            fprintf(f, "%*s%.*s\n", HELP_COLUMN - n, "", len, line);
            if (!end)
                break;
            line = end + 1;
            n = 0;
        }
    }
    fputs("\nSizes take an optional K, M or G suffix (powers of 1024).\n"
          "Exit status: 0 after a clean shutdown, 1 on a runtime failure, 2 on a\n"
          "usage error (including a non-loopback --host without a token).\n",
          f);
}

void options_usage_error(const char *fmt, ...) {
    va_list ap;
    fputs(SRV_NAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'noxrunnerd --help'.\n", stderr);
    exit(SRV_EXIT_USAGE);
}

static uint64_t parse_size(const char *flag, const char *s) {
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        options_usage_error("%s: expected a size, got \"%s\"", flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (errno || end == s || *end || v == 0 || v > (UINT64_MAX >> shift))
        options_usage_error("%s: expected a positive size like 1048576 or 1M, got \"%s\"",
                            flag, s);
    return (uint64_t)v << shift;
}

static long parse_int(const char *flag, const char *s, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        options_usage_error("%s: expected an integer from %ld to %ld, got \"%s\"", flag, min,
                            max, s);
    return v;
}

static int parse_isolation(const char *s) {
    if (strcmp(s, "auto") == 0)
        return NOX_ISOLATION_AUTO;
    if (strcmp(s, "none") == 0)
        return NOX_ISOLATION_NONE;
    if (strcmp(s, "namespaces") == 0)
        return NOX_ISOLATION_NAMESPACES;
    options_usage_error("--isolation: expected auto, none or namespaces, got \"%s\"", s);
    return -1;
}

/* Store one option's value; 1 when it asks to exit (0) right away. */
static int apply(srv_config *cfg, const srv_option *o, const char *value) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->name);
    char *field = (char *)cfg + o->field;
    switch (o->kind) {
    case OPT_TOKEN:
        if (!*value)
            options_usage_error("--token: the token must not be empty");
        /* fall through */
    case OPT_STRING: *(const char **)(void *)field = value; break;
    case OPT_INT: *(int *)(void *)field = (int)parse_int(flag, value, o->min, o->max); break;
    case OPT_UNSIGNED:
        *(unsigned *)(void *)field = (unsigned)parse_int(flag, value, o->min, o->max);
        break;
    case OPT_SIZE: *(uint64_t *)(void *)field = parse_size(flag, value); break;
    case OPT_ISOLATION: *(int *)(void *)field = parse_isolation(value); break;
    case OPT_FLAG: *(int *)(void *)field = 1; break;
    case OPT_VERSION: printf(SRV_NAME " %s\n", nox_version_string()); return 1;
    case OPT_HELP: print_help(stdout); return 1;
    case OPT_MAN: print_man(stdout); return 1;
    }
    return 0;
}

int options_parse(srv_config *cfg, int argc, char **argv) {
    struct option longopts[N_OPTIONS + 1];
    for (size_t i = 0; i < N_OPTIONS; i++)
        longopts[i] = (struct option){options[i].name,
                                      options[i].arg ? required_argument : no_argument, NULL,
                                      256 + (int)i};
    longopts[N_OPTIONS] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    int c;
    /* ":" first: a missing value is reported as such, not as an unknown option. */
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (c == ':')
            options_usage_error("option %s needs a value", argv[optind - 1]);
        if (c < 256 || c >= 256 + (int)N_OPTIONS)
            options_usage_error("unknown option %s", argv[optind - 1]);
        if (apply(cfg, &options[c - 256], optarg))
            return 1;
    }
    if (optind < argc)
        options_usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!cfg->token) {
        const char *env = getenv("NOXRUNNER_TOKEN");
        if (env && *env)
            cfg->token = env;
    }
    cfg->token_len = cfg->token ? strlen(cfg->token) : 0;
    return 0;
}
