/*
 * test_storage_limits.c - ephemeralStorageLimit holds at write time, and
 * nothing the sandboxed code does gets around it.
 *
 * Each case writes in a sandbox created with a 16Mi limit: a setup that
 * tries to hide bytes or use up inodes, then a last write that must fail
 * with "No space left on device" for the writer while the sandbox lives
 * on. The control runs the same script in a sandbox without a limit, where
 * the last write must succeed: a case that cannot fail there proves
 * nothing. Before the kernel enforced the limit (a poll every 2 s and
 * eviction) every case's last write succeeded: the writes below finish
 * well within 2 s, and the poll did not see hidden, deep, unlinked or
 * /tmp bytes at all.
 *
 * Run as root, the suite runs again as nobody (setpriv), so both set-ups
 * (a host uid of its own; the caller's uid mapped to 0) are covered.
 */
#include "nox_test.h"

#include <cJSON.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static nox_client *C;
static char *BASE;

/* The last command of each script; it must fail with ENOSPC under the limit
 * (its message goes through the pipe: a full /tmp could not hold it). */
#define LAST_WRITE(path)                                               \
    "dd if=/dev/zero of=" path " bs=1M count=8 2>&1 | "                \
    "grep -o 'No space left on device'; echo done"

typedef struct storage_case {
    const char *name;
    const char *script;
} storage_case;

static const storage_case CASES[] = {
    /* 8 files of 4 MiB, each under RLIMIT_FSIZE, 32 MiB in all. */
    {"many_small_files",
     "for i in 1 2 3; do dd if=/dev/zero of=/workspace/f$i bs=1M count=4 2>/dev/null; done; "
     LAST_WRITE("/workspace/last")},
    /* Bytes behind a directory nobody may search. */
    {"unsearchable_directory",
     "mkdir /workspace/h && dd if=/dev/zero of=/workspace/h/x bs=1M count=12 2>/dev/null && "
     "chmod 0600 /workspace/h; " LAST_WRITE("/workspace/last")},
    /* Bytes 300 directories down. */
    {"deep_tree",
     "cd /workspace && for i in $(seq 300); do mkdir d && cd d; done && "
     "dd if=/dev/zero of=x bs=1M count=12 2>/dev/null && cd /workspace; "
     LAST_WRITE("/workspace/last")},
    /* A file deleted while a background process holds it open. */
    {"unlinked_but_open",
     "dd if=/dev/zero of=/workspace/u bs=1M count=12 2>/dev/null; "
     "(sleep 20 </workspace/u >/dev/null 2>&1 &); sleep 0.2; rm /workspace/u; "
     LAST_WRITE("/workspace/last")},
    /* /tmp and /dev/shm are part of the same budget. */
    {"tmp_counts", "dd if=/dev/zero of=/tmp/t bs=1M count=12 2>/dev/null; "
                   LAST_WRITE("/workspace/last")},
    {"dev_shm_counts", "dd if=/dev/zero of=/dev/shm/s bs=1M count=12 2>/dev/null; "
                       LAST_WRITE("/tmp/last")},
};

static int create(const char *sid, const char *storage) {
    return nt_create_limited(C, sid, NULL, NULL, storage, 120);
}

/* The sandbox still answers and its storage shows the limit's size. */
static void lives_on(const char *sid) {
    shres r = nt_sh(C, sid, "echo alive", 30);
    NT_CHECK(r.out && !strcmp(r.out, "alive\n"));
    free(r.out);
}

static void run_case(const storage_case *k) {
    const char *sid = nt_sid(k->name);
    NT_CHECK_INT(create(sid, "16Mi"), 0);
    shres r = nt_sh(C, sid, k->script, 60);
    fprintf(stderr, "    limited: %s", r.out ? r.out : "(nothing)\n");
    NT_CHECK(r.out && strstr(r.out, "No space left on device") && strstr(r.out, "done"));
    free(r.out);
    lives_on(sid);
    nox_sandbox_delete(C, sid, NULL);

    const char *ctl = nt_sid("control");
    NT_CHECK_INT(create(ctl, NULL), 0);
    shres c = nt_sh(C, ctl, k->script, 60);
    fprintf(stderr, "    control: %s", c.out ? c.out : "(nothing)\n");
    NT_CHECK(c.out && !strcmp(c.out, "done\n"));
    free(c.out);
    nox_sandbox_delete(C, ctl, NULL);
}

#define CASE_TEST(i, fn) \
    NT_TEST(fn) { run_case(&CASES[i]); }
CASE_TEST(0, many_small_files_past_the_limit)
CASE_TEST(1, bytes_behind_an_unsearchable_directory)
CASE_TEST(2, bytes_300_directories_deep)
CASE_TEST(3, a_deleted_file_held_open)
CASE_TEST(4, tmp_is_part_of_the_limit)
CASE_TEST(5, dev_shm_is_part_of_the_limit)

/* Inodes: 16Mi allows 4096 of them (one per 4 KiB); 6,000 empty files,
 * which used to take no bytes of the limit at all (30,000 in the review), stop there. */
NT_TEST(inodes_are_limited) {
    const char *script = "cd /workspace && i=0; while [ $i -lt 6000 ]; do "
                         "{ true > f$i; } 2>/dev/null || break; i=$((i+1)); done; "
                         "echo made=$i; { true > one-more; } 2>&1 | grep -o 'No space left on device'";
    const char *sid = nt_sid("inodes");
    NT_CHECK_INT(create(sid, "16Mi"), 0);
    shres r = nt_sh(C, sid, script, 120);
    fprintf(stderr, "    limited: %s", r.out ? r.out : "(nothing)\n");
    const char *m = r.out ? strstr(r.out, "made=") : NULL;
    long made = m ? atol(m + 5) : -1;
    NT_CHECK(made > 1000 && made <= 4096);
    NT_CHECK(r.out && strstr(r.out, "No space left on device"));
    free(r.out);
    lives_on(sid);
    nox_sandbox_delete(C, sid, NULL);
    /* Control: without a limit all 6,000 are made. */
    const char *ctl = nt_sid("inodes-control");
    NT_CHECK_INT(create(ctl, NULL), 0);
    shres c = nt_sh(C, ctl, script, 120);
    NT_CHECK(c.out && strstr(c.out, "made=6000"));
    free(c.out);
    nox_sandbox_delete(C, ctl, NULL);
}

/* meta.json's word on the sandbox's memory limit (caller frees). */
static char *memory_limit_text(const char *sid) {
    cJSON *j = nt_session_meta(BASE, sid);
    cJSON *l = j ? cJSON_GetObjectItemCaseSensitive(j, "limits") : NULL;
    cJSON *m = l ? cJSON_GetObjectItemCaseSensitive(l, "memory") : NULL;
    char *out = cJSON_IsString(m) ? strdup(m->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

/* With a storage limit the workspace is memory: an upload the memory
 * cgroup cannot hold is refused before it is written, and the sandbox
 * lives on. It used to be written by the agent until the OOM killer
 * took the agent itself (the only process there) and the sandbox. */
NT_TEST(an_upload_past_the_memory_limit_is_refused) {
    const char *sid = nt_sid("memup");
    char keep[128];
    snprintf(keep, sizeof keep, "%s", sid);
    NT_CHECK_INT(nt_create_limited(C, keep, "64Mi", NULL, "256Mi", 120), 0);
    char *mem = memory_limit_text(keep);
    if (!mem || !strstr(mem, "(whole sandbox)")) {
        nt_skip("cgroups", "no memory cgroup for the sandbox here: %s", mem ? mem : "?");
        free(mem);
        nox_sandbox_delete(C, keep, NULL);
        return;
    }
    free(mem);
    char *dir = nt_mkdtemp("memup");
    size_t len = 100u << 20;
    char *junk = malloc(len);
    for (size_t i = 0; junk && i < len; i++)
        junk[i] = (char)(i * 2654435761u >> 13); /* does not compress much */
    char path[4200];
    snprintf(path, sizeof path, "%s/big.bin", dir);
    NT_CHECK(junk && nt_write_file(path, junk, len, 0644) == 0);
    free(junk);
    nox_error *e = NULL;
    int rc = nox_upload_dir(C, keep, dir, "/workspace", &e);
    fprintf(stderr, "    upload: %s\n", e ? nox_error_message(e) : "accepted");
    NT_CHECK_INT(rc, NOX_ETOOBIG);
    NT_CHECK(e && strstr(nox_error_message(e), "memoryLimit"));
    nox_error_free(e);
    shres r = nt_sh(C, keep, "ls /workspace | wc -l", 30);
    NT_CHECK(r.out && !strcmp(r.out, "0\n"));
    free(r.out);
    nox_sandbox_delete(C, keep, NULL);
    nt_rm_rf(dir);
    free(dir);
}

/* The limit is what df shows, and a write that fits still works. */
NT_TEST(the_limit_is_the_file_system_size) {
    const char *sid = nt_sid("df");
    NT_CHECK_INT(create(sid, "16Mi"), 0);
    shres r = nt_sh(C, sid,
                    "df -k /workspace /tmp /dev/shm | awk 'NR>1{print $2}' | sort -u; "
                    "dd if=/dev/zero of=/workspace/ok bs=1M count=4 2>/dev/null && echo fits",
                    30);
    NT_CHECK(r.out && !strcmp(r.out, "16384\nfits\n"));
    if (r.out && strcmp(r.out, "16384\nfits\n"))
        fprintf(stderr, "    got: %s", r.out);
    free(r.out);
    nox_sandbox_delete(C, sid, NULL);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int rc;
    if (!(C = nt_namespaces_client(&BASE, "storage limits need isolation level namespaces", &rc)))
        return rc;
    NT_RUN(many_small_files_past_the_limit);
    NT_RUN(bytes_behind_an_unsearchable_directory);
    NT_RUN(bytes_300_directories_deep);
    NT_RUN(a_deleted_file_held_open);
    NT_RUN(tmp_is_part_of_the_limit);
    NT_RUN(dev_shm_is_part_of_the_limit);
    NT_RUN(inodes_are_limited);
    NT_RUN(the_limit_is_the_file_system_size);
    NT_RUN(an_upload_past_the_memory_limit_is_refused);
    nox_client_free(C);
    nt_rm_rf(BASE);
    free(BASE);
    return nt_main_end_and_nobody("NOX_STORAGE_UNPRIVILEGED");
}
