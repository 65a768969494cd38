/*
 * test_stale_cgroups.c - a sandbox whose agent was killed outright leaves
 * no cgroup behind once its session is found stale (here: by delete).
 *
 * Real sandboxes with a memory limit, so the agent makes cgroups where the
 * host lets it (as root); where it makes none, there is nothing to leak and
 * the test says so and skips.
 */
#include "nox_test.h"

#include "base/fsutil.h"
#include "internal.h"

#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* meta.json of sid under base: the agent's pid and its cgroup list. */
static int read_meta(const char *base, const char *sid, pid_t *pid, char **cgroups) {
    char dir[67];
    nox__session_dirname(sid, dir);
    char *path = nox__asprintf("%s/%s/meta.json", base, dir);
    size_t n = 0;
    char *txt = path ? nt_read_file(path, &n) : NULL;
    free(path);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "agentPid");
    const cJSON *cg = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "limits"), "cgroups");
    *pid = cJSON_IsNumber(p) ? (pid_t)p->valueint : 0;
    *cgroups = cJSON_IsString(cg) ? nox__strdup(cg->valuestring) : NULL;
    cJSON_Delete(j);
    return *pid > 1 ? 0 : -1;
}

/* Every directory of the space-separated list is gone. */
static int all_gone(const char *list) {
    char *copy = nox__strdup(list), *save = NULL;
    int gone = 1;
    for (char *p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
        struct stat st;
        if (stat(p, &st) == 0) {
            fprintf(stderr, "    still there: %s\n", p);
            gone = 0;
        }
    }
    free(copy);
    return gone;
}

/* Kill sid's outer agent; with drop_meta, also take away its meta.json, as
 * if it had died during create, before it wrote one. Then delete, which
 * finds the session stale: every cgroup must be gone. */
static void kill_then_delete(int drop_meta) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    const char *sid = nt_sid("stale-cg");
    int rc = nt_create_limited(c, sid, "256Mi", "500m", NULL, 300);
    pid_t pid = 0;
    char *cgroups = NULL;
    int meta = rc == 0 ? read_meta(base, sid, &pid, &cgroups) : -1;
    int have = cgroups && strcmp(cgroups, "none") != 0 && *cgroups;
    int gone = 0;
    if (have) {
        kill(pid, SIGKILL); /* the outer agent: nothing can clean up after it */
        for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
            usleep(20 * 1000);
        if (drop_meta) {
            char dir[67];
            nox__session_dirname(sid, dir);
            char *file = nox__asprintf("%s/%s/meta.json", base, dir);
            unlink(file);
            free(file);
        }
        nox_error *err = NULL;
        int drc = nox_sandbox_delete(c, sid, &err); /* finds it stale */
        nox_error_free(err);
        gone = (drc == 0 || drc == NOX_ENOTFOUND) && all_gone(cgroups);
    } else {
        nox_sandbox_delete(c, sid, NULL);
    }
    char *list = cgroups;
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(meta, 0);
    if (!have) {
        nt_skip("cgroups", "this host gave the sandbox no cgroup (%s)", list ? list : "no list");
        free(list);
        return;
    }
    free(list);
    NT_CHECK(gone);
}

NT_TEST(killed_agents_cgroups_go_with_its_stale_session) {
    kill_then_delete(0);
}

/* The cgroups are found by the session's name where meta.json cannot
 * list them. */
NT_TEST(cgroups_of_an_agent_killed_before_meta_json_go_too) {
    kill_then_delete(1);
}

/* A cgroup an earlier sandbox of the session left (nox-<hash>-<pid>, here
 * made by hand next to each of the live sandbox's own) goes with the next
 * delete of the session, though that delete finds nothing stale: an agent
 * killed twice in a row can leave one that no later lookup finds. */
NT_TEST(an_earlier_sandboxs_leftover_cgroups_go_with_a_later_delete) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    const char *sid = nt_sid("leftover-cg");
    int rc = nt_create_limited(c, sid, "256Mi", "500m", NULL, 300);
    pid_t pid = 0;
    char *cgroups = NULL;
    int meta = rc == 0 ? read_meta(base, sid, &pid, &cgroups) : -1;
    int have = cgroups && strcmp(cgroups, "none") != 0 && *cgroups;
    nox__buf made = {0};
    char *copy = have ? nox__strdup(cgroups) : NULL, *save = NULL;
    for (char *p = copy ? strtok_r(copy, " ", &save) : NULL; p; p = strtok_r(NULL, " ", &save)) {
        char *q = strstr(p, "/nox-");
        if (!q || strchr(q + 1, '/'))
            continue; /* a child (the cpu cgroup's cmds/): its parent is listed too */
        char *left = nox__asprintf("%s-999999", p);
        if (left && mkdir(left, 0755) == 0)
            nox__buf_printf(&made, "%s%s", made.len ? " " : "", left);
        free(left);
    }
    free(copy);
    int drc = nox_sandbox_delete(c, sid, NULL);
    int gone = made.len ? all_gone(nox__buf_str(&made)) : 0;
    char *save2 = NULL; /* whatever the outcome, none is left for the next run */
    for (char *p = made.len ? strtok_r((char *)made.data, " ", &save2) : NULL; p;
         p = strtok_r(NULL, " ", &save2))
        rmdir(p);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(meta, 0);
    if (!have || !made.len) {
        nt_skip("cgroups", "no cgroup here to leave one beside (%s)", cgroups ? cgroups : "none");
    } else {
        NT_CHECK_INT(drc, 0);
        NT_CHECK(gone);
    }
    nox__buf_free(&made);
    free(cgroups);
}

int main(void) {
    NT_RUN(killed_agents_cgroups_go_with_its_stale_session);
    NT_RUN(cgroups_of_an_agent_killed_before_meta_json_go_too);
    NT_RUN(an_earlier_sandboxs_leftover_cgroups_go_with_a_later_delete);
    return nt_main_end();
}
