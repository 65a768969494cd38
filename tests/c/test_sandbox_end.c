/*
 * test_sandbox_end.c - a sandbox that went without being deleted: the
 * next call says it went on its own and why, not only "no sandbox for
 * session".
 *
 * Real sandboxes at whatever isolation level the host gives, locally and
 * through noxrunnerd on loopback: one whose TTL runs out, one whose agent
 * is killed from the host. The record is cleared by a delete (which still
 * reports it, once) and by a new create of the session.
 */
#include "nox_test.h"

#include <cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The message of the NOX_ENOTFOUND a get gives (NULL when it gives
 * anything else); caller frees. */
static char *gone_message(nox_client *c, const char *sid) {
    nox_sandbox_info *inf = NULL;
    nox_error *e = NULL;
    int rc = nox_sandbox_get(c, sid, &inf, &e);
    char *m = rc == NOX_ENOTFOUND && e ? strdup(nox_error_message(e)) : NULL;
    nox_sandbox_info_free(inf);
    nox_error_free(e);
    return m;
}

/* Wait (up to 10 s) until sid is gone; its message. */
static char *wait_gone(nox_client *c, const char *sid) {
    for (int i = 0; i < 100; i++) {
        char *m = gone_message(c, sid);
        if (m)
            return m;
        sleep_ms(100);
    }
    return NULL;
}

/* A TTL of 1 s: gone within a few, and every call says it expired, until
 * a delete (which says it too) clears it. */
static void expiry_is_explained(nox_client *c) {
    const char *sid = nt_sid("ttl");
    char keep[128];
    snprintf(keep, sizeof keep, "%s", sid);
    NT_CHECK_INT(nt_create_limited(c, keep, NULL, NULL, NULL, 1), 0);
    char *m = wait_gone(c, keep);
    fprintf(stderr, "    get: %s\n", m ? m : "(still there)");
    NT_CHECK(m && strstr(m, "no sandbox for session") && strstr(m, "expired") &&
             strstr(m, "TTL"));
    free(m);
    /* An exec says the same. */
    nox_exec_result *r = NULL;
    nox_error *e = NULL;
    const char *argv[] = {"true", NULL};
    NT_CHECK_INT(nox_exec(c, keep, argv, NULL, &r, &e), NOX_ENOTFOUND);
    NT_CHECK(e && strstr(nox_error_message(e), "expired"));
    nox_error_free(e);
    nox_exec_result_free(r);
    /* The delete reports it once and clears it. */
    e = NULL;
    NT_CHECK_INT(nox_sandbox_delete(c, keep, &e), NOX_ENOTFOUND);
    NT_CHECK(e && strstr(nox_error_message(e), "expired"));
    nox_error_free(e);
    m = gone_message(c, keep);
    NT_CHECK(m && !strstr(m, "expired"));
    free(m);
}

NT_TEST(local_expiry_is_explained) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    if (c)
        expiry_is_explained(c);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

NT_TEST(http_expiry_is_explained) {
    nt_server s;
    NT_CHECK_INT(nt_server_start(&s, NULL), 0);
    nox_client *c = nt_http_client(&s, NULL);
    NT_CHECK(c != NULL);
    if (c)
        expiry_is_explained(c);
    nox_client_free(c);
    NT_CHECK_INT(nt_server_stop(&s), 0);
}

/* The agent's pid from meta.json in the session directory. */
static pid_t agent_pid(const char *base, const char *sid) {
    cJSON *j = nt_session_meta(base, sid);
    cJSON *p = j ? cJSON_GetObjectItemCaseSensitive(j, "agentPid") : NULL;
    pid_t pid = cJSON_IsNumber(p) ? (pid_t)p->valuedouble : 0;
    cJSON_Delete(j);
    return pid;
}

/* Killed from the host with SIGKILL, the agent says nothing: the next
 * call says its agent was no longer running; a new create starts clean. */
NT_TEST(local_killed_agent_is_explained) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    const char *sid = nt_sid("killed");
    char keep[128];
    snprintf(keep, sizeof keep, "%s", sid);
    NT_CHECK_INT(nt_create_limited(c, keep, NULL, NULL, NULL, 120), 0);
    pid_t pid = agent_pid(base, keep);
    NT_CHECK(pid > 1);
    if (pid > 1)
        kill(pid, SIGKILL);
    char *m = wait_gone(c, keep);
    fprintf(stderr, "    get: %s\n", m ? m : "(still there)");
    NT_CHECK(m && strstr(m, "no longer running"));
    free(m);
    /* A new create of the session starts clean. */
    NT_CHECK_INT(nt_create_limited(c, keep, NULL, NULL, NULL, 120), 0);
    NT_CHECK_INT(nox_sandbox_delete(c, keep, NULL), 0);
    m = gone_message(c, keep);
    NT_CHECK(m && strstr(m, "no sandbox for session") && !strstr(m, "running"));
    free(m);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

/* The sandbox's init: the end of the chain of only children below the
 * agent's host process (B -> pid 1, or B -> userns helper -> pid 1). */
static pid_t sandbox_init(pid_t b) {
    pid_t p = b;
    for (int depth = 0; depth < 4; depth++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)p, (int)p);
        char *txt = nt_read_file(path, NULL);
        long child = txt ? atol(txt) : 0;
        free(txt);
        if (child <= 1)
            break;
        p = (pid_t)child;
    }
    return p == b ? 0 : p;
}

/* The sandbox's init killed (as the OOM killer would): the agent's host
 * process sees it and records the signal. */
NT_TEST(local_killed_init_is_explained) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    const char *sid = nt_sid("init");
    char keep[128];
    snprintf(keep, sizeof keep, "%s", sid);
    NT_CHECK_INT(nt_create_limited(c, keep, NULL, NULL, NULL, 120), 0);
    pid_t init = sandbox_init(agent_pid(base, keep));
    NT_CHECK(init > 1);
    if (init > 1)
        kill(init, SIGKILL);
    char *m = wait_gone(c, keep);
    fprintf(stderr, "    get: %s\n", m ? m : "(still there)");
    NT_CHECK(m && strstr(m, "killed by signal 9"));
    free(m);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

int main(void) {
    NT_RUN(local_expiry_is_explained);
    NT_RUN(http_expiry_is_explained);
    NT_RUN(local_killed_agent_is_explained);
    NT_RUN(local_killed_init_is_explained);
    return nt_main_end();
}
