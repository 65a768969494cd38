/*
 * config.c - the agent's command line: one table gives both the parser
 * and the usage text, so the usage lists every flag there is; and where
 * the kernel keeps that command line, so pid 1 can blank it.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ARG_STR, ARG_LONG, ARG_INT, ARG_U64, ARG_FLAG, ARG_LEVEL } arg_kind;

typedef struct flag_spec {
    const char *name;
    arg_kind kind;
    size_t off; /* into agent_config */
    const char *value; /* the value's name in the usage text */
    const char *help;
} flag_spec;

#define F(name, kind, field, value, help) {name, kind, offsetof(agent_config, field), value, help}
static const flag_spec FLAGS[] = {
    F("--session-dir", ARG_STR, session_dir, "DIR", "the session directory (required)"),
    F("--session-id", ARG_STR, session_id, "SID",
      "the session id (else $" NOX_AGENT_SID_ENV ", which keeps it out of ps)"),
    F("--ttl", ARG_LONG, ttl, "SECONDS", "idle lifetime, 1..2592000 (required)"),
    F("--ready-fd", ARG_INT, ready_fd, "N", "where to report P/R/E lines (see agent.h)"),
    F("--detach", ARG_FLAG, detach, "0|1", "1: close inherited fds and fork away"),
    F("--isolation", ARG_LEVEL, level, "none|namespaces", "the isolation level"),
    F("--memory", ARG_U64, mem_bytes, "BYTES", "memoryLimit (namespaces)"),
    F("--storage", ARG_U64, storage_bytes, "BYTES", "ephemeralStorageLimit (namespaces)"),
    F("--cpu-milli", ARG_U64, cpu_milli, "MILLICORES", "cpuLimit (namespaces)"),
    F("--image", ARG_STR, image, "DIR", "root file system directory (namespaces)"),
    F("--note", ARG_STR, note, "TEXT", "why this level was chosen (logged)"),
};
#undef F
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

static int parse_num(const char *v, int is_signed, uint64_t *out) {
    char *end;
    errno = 0;
    if (!*v || (!is_signed && *v == '-'))
        return -EINVAL;
    if (is_signed) {
        long long x = strtoll(v, &end, 10);
        *out = (uint64_t)x;
    } else {
        *out = strtoull(v, &end, 10);
    }
    return errno || *end ? -EINVAL : 0;
}

static int set_value(agent_config *cfg, const flag_spec *f, const char *v) {
    void *field = (char *)cfg + f->off;
    uint64_t n = 0;
    switch (f->kind) {
    case ARG_STR:
        *(const char **)field = v;
        return 0;
    case ARG_FLAG:
        if (strcmp(v, "0") && strcmp(v, "1"))
            return -EINVAL;
        *(int *)field = v[0] == '1';
        return 0;
    case ARG_LEVEL:
        if (!strcmp(v, "none"))
            *(int *)field = AGENT_LEVEL_NONE;
        else if (!strcmp(v, "namespaces"))
            *(int *)field = AGENT_LEVEL_NAMESPACES;
        else
            return -EINVAL;
        return 0;
    case ARG_LONG:
        if (parse_num(v, 1, &n) != 0)
            return -EINVAL;
        *(long *)field = (long)(int64_t)n;
        return 0;
    case ARG_INT:
        if (parse_num(v, 1, &n) != 0 || (int64_t)n < -1 || (int64_t)n > 1 << 20)
            return -EINVAL;
        *(int *)field = (int)(int64_t)n;
        return 0;
    case ARG_U64:
        if (parse_num(v, 0, &n) != 0)
            return -EINVAL;
        *(uint64_t *)field = n;
        return 0;
    }
    return -EINVAL;
}

static void defaults(agent_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->ttl = -1;
    cfg->ready_fd = -1;
    cfg->level = AGENT_LEVEL_NONE;
}

int agent_config_parse(agent_config *cfg, int argc, char *const *argv, nox__buf *why) {
    defaults(cfg);
    for (int i = 1; i < argc; i += 2) {
        const flag_spec *f = NULL;
        for (size_t k = 0; k < NFLAGS && !f; k++)
            if (!strcmp(argv[i], FLAGS[k].name))
                f = &FLAGS[k];
        if (!f) {
            nox__buf_printf(why, "unknown argument \"%s\"", argv[i]);
            return -EINVAL;
        }
        if (i + 1 >= argc) {
            nox__buf_printf(why, "%s needs a value (%s)", f->name, f->value);
            return -EINVAL;
        }
        if (set_value(cfg, f, argv[i + 1]) != 0) {
            nox__buf_printf(why, "%s \"%s\": expected %s", f->name, argv[i + 1], f->value);
            return -EINVAL;
        }
    }
    return 0;
}

int agent_config_usage(nox__buf *out) {
    int rc = nox__buf_printf(out, "usage: [" NOX_AGENT_SID_ENV "=SID] " NOX_AGENT_NAME
                             " --session-dir DIR --ttl SECONDS [options]\n"
                             "The sandbox agent of NoxRunner's local backend; started by "
                             "the library, not by hand.\n");
    for (size_t k = 0; k < NFLAGS && rc == 0; k++)
        rc = nox__buf_printf(out, "  %-13s %-16s %s\n", FLAGS[k].name, FLAGS[k].value,
                             FLAGS[k].help);
    return rc;
}

/* Where the kernel has our argv and environment strings: fields 48-51
 * of /proc/self/stat (arg_start, arg_end, env_start, env_end). */
void agent_find_cmdline(agent_ctx *ctx) {
    char *st = nox__read_file_at(AT_FDCWD, "/proc/self/stat", 4096, NULL);
    char *p = st ? strrchr(st, ')') : NULL;
    uintptr_t v[4] = {0, 0, 0, 0};
    /* The space after ')' comes before field 3, the 46th after it before 48. */
    for (int field = 2; p && field < 48; field++)
        p = strchr(p + 1, ' ');
    if (p && sscanf(p, " %" SCNuPTR " %" SCNuPTR " %" SCNuPTR " %" SCNuPTR, &v[0], &v[1],
                    &v[2], &v[3]) == 4 && v[0] < v[1] && v[2] <= v[3]) {
        ctx->arg_start = v[0];
        ctx->arg_end = v[1];
        ctx->env_start = v[2];
        ctx->env_end = v[3];
    }
    free(st);
}

void agent_hide_cmdline(const agent_ctx *ctx) {
    if (!ctx->arg_start)
        return;
    size_t n = ctx->arg_end - ctx->arg_start;
    memset((void *)ctx->arg_start, 0, n);
    memcpy((void *)ctx->arg_start, NOX_AGENT_NAME, n > sizeof NOX_AGENT_NAME
                                                       ? sizeof NOX_AGENT_NAME : n - 1);
    if (ctx->env_end > ctx->env_start)
        memset((void *)ctx->env_start, 0, ctx->env_end - ctx->env_start);
}
