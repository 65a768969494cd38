/*
 * test_agent_config.c - the agent's command line (core/agent/config.c):
 * argv into agent_config, clear refusals, and a usage text that lists
 * every flag the parser knows (both come from one table).
 */
#include "nox_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static int parse(agent_config *cfg, nox__buf *why, char **argv) {
    int argc = 0;
    while (argv[argc])
        argc++;
    return agent_config_parse(cfg, argc, argv, why);
}

NT_TEST(every_flag_lands_in_its_field) {
    char *argv[] = {"nox-sandbox", "--session-dir", "/base/s-ab", "--session-id", "s1",
                    "--ttl", "120", "--ready-fd", "3", "--detach", "1",
                    "--isolation", "namespaces", "--memory", "134217728", "--storage",
                    "4096", "--cpu-milli", "250", "--image", "/img", "--note", "why not",
                    NULL};
    agent_config cfg;
    nox__buf why = {0};
    NT_CHECK_INT(parse(&cfg, &why, argv), 0);
    NT_CHECK_STR(cfg.session_dir, "/base/s-ab");
    NT_CHECK_STR(cfg.session_id, "s1");
    NT_CHECK_INT(cfg.ttl, 120);
    NT_CHECK_INT(cfg.ready_fd, 3);
    NT_CHECK_INT(cfg.detach, 1);
    NT_CHECK_INT(cfg.level, AGENT_LEVEL_NAMESPACES);
    NT_CHECK_INT(cfg.mem_bytes, 134217728);
    NT_CHECK_INT(cfg.storage_bytes, 4096);
    NT_CHECK_INT(cfg.cpu_milli, 250);
    NT_CHECK_STR(cfg.image, "/img");
    NT_CHECK_STR(cfg.note, "why not");
    nox__buf_free(&why);
}

NT_TEST(defaults_when_flags_are_absent) {
    char *argv[] = {"nox-sandbox", "--session-dir", "/d", "--ttl", "5", NULL};
    agent_config cfg;
    nox__buf why = {0};
    NT_CHECK_INT(parse(&cfg, &why, argv), 0);
    NT_CHECK_INT(cfg.ready_fd, -1);
    NT_CHECK_INT(cfg.detach, 0);
    NT_CHECK_INT(cfg.level, AGENT_LEVEL_NONE);
    NT_CHECK_INT(cfg.mem_bytes, 0);
    NT_CHECK(cfg.image == NULL && cfg.session_id == NULL && cfg.note == NULL);
    nox__buf_free(&why);
}

/* Each refusal names the flag and what was wrong. */
static int refused(char **argv, const char *needle) {
    agent_config cfg;
    nox__buf why = {0};
    int rc = parse(&cfg, &why, argv);
    int ok = rc == -EINVAL && strstr(nox__buf_str(&why), needle) != NULL;
    if (!ok)
        fprintf(stderr, "    rc %d, why \"%s\", wanted \"%s\"\n", rc, nox__buf_str(&why), needle);
    nox__buf_free(&why);
    return ok;
}

NT_TEST(bad_arguments_are_refused_by_name) {
    char *unknown[] = {"a", "--bogus", "1", NULL};
    char *no_value[] = {"a", "--ttl", NULL};
    char *not_num[] = {"a", "--ttl", "12x", NULL};
    char *negative[] = {"a", "--memory", "-5", NULL};
    char *level[] = {"a", "--isolation", "containers", NULL};
    char *flag[] = {"a", "--detach", "yes", NULL};
    NT_CHECK(refused(unknown, "unknown argument \"--bogus\""));
    NT_CHECK(refused(no_value, "--ttl needs a value"));
    NT_CHECK(refused(not_num, "--ttl \"12x\""));
    NT_CHECK(refused(negative, "--memory \"-5\""));
    NT_CHECK(refused(level, "none|namespaces"));
    NT_CHECK(refused(flag, "--detach \"yes\""));
}

/* A value each kind of flag takes, by the value's name in the usage. */
static const char *sample_value(const char *meta) {
    if (!strcmp(meta, "none|namespaces"))
        return "none";
    if (!strcmp(meta, "0|1"))
        return "1";
    if (!strcmp(meta, "DIR") || !strcmp(meta, "SID") || !strcmp(meta, "TEXT"))
        return "/x";
    return "7";
}

NT_TEST(usage_lists_every_flag_and_the_parser_takes_each) {
    nox__buf u = {0};
    NT_CHECK_INT(agent_config_usage(&u), 0);
    const char *text = nox__buf_str(&u);
    NT_CHECK(strstr(text, "usage: ") == text);
    int flags = 0;
    for (const char *l = strstr(text, "\n  --"); l; l = strstr(l + 1, "\n  --")) {
        char name[64], meta[64];
        NT_CHECK(sscanf(l + 1, " %63s %63s", name, meta) == 2);
        char *argv[] = {"nox-sandbox", name, (char *)sample_value(meta), NULL};
        agent_config cfg;
        nox__buf why = {0};
        int rc = parse(&cfg, &why, argv);
        if (rc != 0)
            fprintf(stderr, "    %s %s: %s\n", name, argv[2], nox__buf_str(&why));
        nox__buf_free(&why);
        NT_CHECK_INT(rc, 0);
        flags++;
    }
    /* session-dir, session-id, ttl, ready-fd, detach, isolation, memory,
     * storage, cpu-milli, image, note */
    NT_CHECK_INT(flags, 11);
    static const char *const must[] = {"--session-dir", "--session-id", "--ttl", "--ready-fd",
                                       "--detach",      "--isolation",  "--memory", "--storage",
                                       "--cpu-milli",   "--image",      "--note"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        NT_CHECK(strstr(text, must[i]) != NULL);
    nox__buf_free(&u);
}

int main(void) {
    NT_RUN(every_flag_lands_in_its_field);
    NT_RUN(defaults_when_flags_are_absent);
    NT_RUN(bad_arguments_are_refused_by_name);
    NT_RUN(usage_lists_every_flag_and_the_parser_takes_each);
    return nt_main_end();
}
