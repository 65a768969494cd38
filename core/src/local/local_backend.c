/*
 * local_backend.c - the local backend: sandboxes are nox-sandbox agents
 * on this machine, one per session, found through the session directory
 * under the base directory (see local.h for the layout and agent/agent.h
 * for the agent).
 */
#include "local/local_impl.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mkdir_p(const char *path, mode_t mode) {
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            /* Parents get the usual mode; only the last one is private. */
            if (mkdir(p, c ? 0755 : mode) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return rc;
}

static void l_destroy(void *impl) {
    local_be *L = impl;
    if (!L)
        return;
    free(L->base);
    free(L->agent);
    free(L->agent_err);
    free(L);
}

static int l_isolation(void *impl) {
    local_be *L = impl;
    return L->iso;
}

static int need_agent(local_be *L, nox_error **err) {
    if (L->agent)
        return 0;
    return nox__err(err, NOX_ESANDBOX, "%s", L->agent_err ? L->agent_err
                                                           : "the sandbox agent was not found");
}

static int l_health(void *impl, nox_error **err) {
    local_be *L = impl;
    struct stat st;
    if (stat(L->base, &st) != 0 || !S_ISDIR(st.st_mode))
        return nox__err(err, NOX_EIO, "base directory %s is missing", L->base);
    if (access(L->base, W_OK | X_OK) != 0)
        return nox__err(err, NOX_EIO, "base directory %s is not writable: %s", L->base,
                        strerror(errno));
    return need_agent(L, err);
}

/* A whole-sandbox limit by cgroup, as the plan says (NULL: none). */
static const char *cg_how(const local_cg_plan *p, int c) {
    static const char *const v1[] = {"cgroup v1 memory.limit_in_bytes", "cgroup v1 pids.max",
                                     "cgroup v1 cpu.cfs_quota_us per cpu.cfs_period_us 100000"};
    static const char *const v2[] = {"cgroup v2 memory.max (memory.swap.max 0)",
                                     "cgroup v2 pids.max", "cgroup v2 cpu.max (quota per 100 ms)"};
    return p->ctl[c].where == LOCAL_CG_V2 ? v2[c] : p->ctl[c].where == LOCAL_CG_V1 ? v1[c] : NULL;
}

/* Add b's text as key (b is emptied). */
static void put_text(cJSON *l, const char *key, nox__buf *b) {
    cJSON_AddStringToObject(l, key, nox__buf_str(b));
    nox__buf_free(b);
}

/* What a create's limits become at the level in force. Each sandbox's
 * meta.json says what held for it (the agent falls back when a cgroup
 * cannot be made). */
static void add_limits(local_be *L, cJSON *o) {
    cJSON *l = cJSON_AddObjectToObject(o, "limits");
    if (!l)
        return;
    nox__buf cg = {0};
    if (local_cgroup_status(&cg) == 0)
        cJSON_AddStringToObject(l, "cgroup", nox__buf_str(&cg));
    nox__buf_free(&cg);
    if (L->iso != NOX_ISOLATION_NAMESPACES) {
        const char *no = "not enforced at isolation level none";
        cJSON_AddStringToObject(l, "memory", no);
        cJSON_AddStringToObject(l, "cpu", no);
        cJSON_AddStringToObject(l, "pids", no);
        cJSON_AddStringToObject(l, "ephemeralStorage", no);
        return;
    }
    local_cg_plan *p = calloc(1, sizeof *p);
    if (!p)
        return;
    local_cgroup_plan(p);
    nox__buf b = {0};
    const char *how = cg_how(p, LOCAL_CG_MEMORY);
    if (how)
        nox__buf_printf(&b, "memoryLimit as %s of the whole sandbox, and as RLIMIT_AS of every "
                        "process", how);
    else
        nox__buf_printf(&b, "memoryLimit as RLIMIT_AS of every process (per process, not a "
                        "total); the whole sandbox is not limited: %s",
                        p->ctl[LOCAL_CG_MEMORY].why);
    put_text(l, "memory", &b);
    if ((how = cg_how(p, LOCAL_CG_CPU)))
        nox__buf_printf(&b, "cpuLimit as %s; fair share held without one: every sandbox is a "
                        "cgroup of its own (cpu.%s) beside the others and the host, its "
                        "commands in a child cgroup beside the agent's, so a fork bomb in one "
                        "sandbox leaves the others, the host and its own agent their share",
                        how, p->ctl[LOCAL_CG_CPU].where == LOCAL_CG_V2 ? "weight 100"
                                                                       : "shares 1024");
    else
        nox__buf_printf(&b, "not enforced: %s; no fair share either: a busy sandbox (a fork "
                        "bomb) can starve the others and the host; the agent logs a warning "
                        "when a cpuLimit is asked for", p->ctl[LOCAL_CG_CPU].why);
    put_text(l, "cpu", &b);
    nox__buf_append_str(&b, geteuid() == 0 ? "RLIMIT_NPROC 1024 on the sandbox's own host uid"
                                           : "RLIMIT_NPROC: the caller's current tasks + 1024 "
                                             "(the uid is shared with the caller)");
    if ((how = cg_how(p, LOCAL_CG_PIDS)))
        nox__buf_printf(&b, "; %s 1088 of the whole sandbox", how);
    else
        nox__buf_printf(&b, "; no pids cgroup: %s", p->ctl[LOCAL_CG_PIDS].why);
    put_text(l, "pids", &b);
    free(p);
    cJSON_AddStringToObject(l, "openFiles", "RLIMIT_NOFILE 4096");
    cJSON_AddStringToObject(l, "ephemeralStorage",
                            "ephemeralStorageLimit as the size of one tmpfs holding /workspace, "
                            "/tmp and /dev/shm (nr_inodes: one per 4 KiB of it, at least 1024), "
                            "enforced by the kernel at write time (ENOSPC); its pages count "
                            "as the sandbox's memory; RLIMIT_FSIZE per file as well. Without "
                            "it, /workspace is a host directory, /tmp a 512 MiB tmpfs and "
                            "/dev/shm 64 MiB");
}

static int l_info(void *impl, nox_bytes **out, nox_error **err) {
    local_be *L = impl;
    cJSON *o = cJSON_CreateObject();
    cJSON *ext = o ? cJSON_AddArrayToObject(o, "extensions") : NULL;
    if (!ext) {
        cJSON_Delete(o);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(o, "name", "noxrunner-local");
    cJSON_AddStringToObject(o, "version", nox_version_string());
    cJSON_AddStringToObject(o, "isolation", nox_isolation_name(L->iso));
    cJSON_AddStringToObject(o, "isolationRequested", nox_isolation_name(L->iso_want));
    if (*L->iso_reason)
        cJSON_AddStringToObject(o, L->iso_unavailable ? "isolationUnavailableReason"
                                                      : "isolationFallbackReason",
                                L->iso_reason);
    add_limits(L, o);
    /* The same names noxrunnerd's /v1/info uses for these abilities. */
    static const char *const names[] = {"exec-result", "exec-stream", "stdin",
                                        "introspection", "raw-output"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cJSON_AddItemToArray(ext, cJSON_CreateString(names[i]));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    nox__buf b = {0};
    if (!s || nox__buf_append_str(&b, s) || nox__buf_terminate(&b)) {
        cJSON_free(s);
        nox__buf_free(&b);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    cJSON_free(s);
    *out = nox__bytes_take(&b);
    if (!*out) {
        nox__buf_free(&b);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    return 0;
}

static int touch_fd(int fd, int ttl, nox__buf *reply) {
    nox__buf f = {0};
    noxp_reader rd;
    noxp_reader_init(&rd, fd);
    int rc = ttl > 0 ? noxp_put_u64(&f, NOXK_TTL, (uint64_t)ttl) : 0;
    if (!rc)
        rc = local_request(fd, "touch", &f);
    uint8_t type = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    if (!rc)
        rc = noxp_read(&rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
    if (!rc && type != NOXP_OK)
        rc = -EPROTO;
    if (!rc && nox__buf_append(reply, p, n))
        rc = -ENOMEM;
    noxp_reader_free(&rd);
    nox__buf_free(&f);
    return rc;
}

static int create_with(local_be *L, const char *sid, const nox__sandbox_opts *o,
                       char *const *extra, nox_sandbox_info **out, nox_error **err);

static int l_create(void *impl, const char *sid, const nox__sandbox_opts *o,
                    nox_sandbox_info **out, nox_error **err) {
    local_be *L = impl;
    char *extra[24];
    size_t nextra = 0;
    int rc = local_isolation_args(L, o, extra, sizeof extra / sizeof extra[0], &nextra, err);
    if (rc)
        return rc;
    rc = create_with(L, sid, o, extra, out, err);
    for (size_t i = 0; i < nextra; i++)
        free(extra[i]);
    return rc;
}

static int create_with(local_be *L, const char *sid, const nox__sandbox_opts *o,
                       char *const *extra, nox_sandbox_info **out, nox_error **err) {
    int rc = need_agent(L, err);
    if (rc)
        return rc;
    rc = mkdir_p(L->base, 0700);
    if (rc)
        return nox__err(err, nox__code_from_errno(-rc), "cannot create base directory %s: %s",
                        L->base, strerror(-rc));
    char name[67], pod[17];
    nox__session_dirname(sid, name);
    nox__session_podname(sid, pod);
    lsess s;
    lsess_init(&s);
    rc = lsess_lock(L, name, &s, 1);
    if (rc) {
        lsess_close(&s);
        return nox__err(err, nox__code_from_errno(-rc), "cannot lock session directory %s/%s: %s",
                        L->base, name, strerror(-rc));
    }
    /* A live sandbox: refresh (and maybe change) its TTL. Its agent must
     * run: when that died, the sandbox's pid 1 dies a moment later and
     * may still answer until then. */
    int fd = lsess_agent_alive(&s) ? lsess_connect(&s) : -1;
    if (fd >= 0) {
        nox__buf reply = {0};
        int trc = touch_fd(fd, o->ttl_seconds, &reply);
        close(fd);
        if (trc == 0) {
            *out = local_info_from(sid, reply.data, reply.len);
            nox__buf_free(&reply);
            lsess_close(&s);
            return *out ? 0 : nox__err(err, NOX_ENOMEM, "out of memory");
        }
        nox__buf_free(&reply);
        if (trc == -EPIPE || trc == -ECONNRESET) {
            /* It is going away (expiring): let it finish, start over. */
            int pfd = lsess_pidfd(&s);
            lsess_wait_pidfd(pfd, 5000);
            if (pfd >= 0)
                close(pfd);
        }
        /* Otherwise it answers nonsense (another protocol version, a
         * hung agent): it is replaced below. */
    }
    /* Nothing live: clear what a dead agent left, keep our lock file. */
    lsess_kill_agent(&s);
    local_forget_end(L, name);
    rc = nox__empty_dir_at(s.dfd, NOX_LOCK_FILE);
    if (rc == 0 && mkdirat(s.dfd, NOX_WORKSPACE_DIR, 0755) != 0)
        rc = -errno;
    if (rc) {
        lsess_close(&s);
        return nox__err(err, nox__code_from_errno(-rc), "cannot prepare session directory %s/%s: %s",
                        L->base, name, strerror(-rc));
    }
    int64_t expires = 0;
    rc = local_spawn_agent(L, &s, sid, o->ttl_seconds, extra, &expires, err);
    if (rc) {
        lsess_remove_locked(&s, L->base);
        lsess_close(&s);
        return rc;
    }
    lsess_close(&s);
    *out = nox__sandbox_info_new(sid, pod, NULL, expires);
    return *out ? 0 : nox__err(err, NOX_ENOMEM, "out of memory");
}

static int l_get(void *impl, const char *sid, nox_sandbox_info **out, nox_error **err) {
    local_be *L = impl;
    nox__buf reply = {0};
    int rc = local_simple(L, sid, "info", NULL, &reply, err);
    if (rc == 0) {
        *out = local_info_from(sid, reply.data, reply.len);
        if (!*out)
            rc = nox__err(err, NOX_EPROTOCOL, "the sandbox agent's info lacks fields");
    }
    nox__buf_free(&reply);
    return rc;
}

static int is_session_name(const char *n) {
    if (strncmp(n, NOX_SESSION_PREFIX, 2) != 0 || strlen(n) != 66)
        return 0;
    for (const char *p = n + 2; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int l_list(void *impl, nox_sandbox_list **out, nox_error **err) {
    local_be *L = impl;
    nox_sandbox_list *l = nox__sandbox_list_new();
    if (!l)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    DIR *d = opendir(L->base);
    if (!d) {
        if (errno == ENOENT) {
            *out = l;
            return 0;
        }
        int e = errno;
        nox_sandbox_list_free(l);
        return nox__err(err, nox__code_from_errno(e), "cannot read base directory %s: %s",
                        L->base, strerror(e));
    }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d)) != NULL) {
        if (!is_session_name(de->d_name))
            continue;
        lsess s;
        lsess_init(&s);
        int fd = -1;
        if (lsess_open(L, de->d_name, &s) == 0)
            fd = lsess_connect(&s);
        lsess_close(&s);
        if (fd < 0 && lsess_live_or_clean(L, de->d_name, &fd) != 0)
            continue; /* stale: cleaned */
        noxp_reader rd;
        noxp_reader_init(&rd, fd);
        uint8_t type = 0;
        const uint8_t *p = NULL;
        uint32_t n = 0;
        int r = local_request(fd, "info", NULL);
        if (!r)
            r = noxp_read(&rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
        if (!r && type == NOXP_OK) {
            nox_sandbox_info *i = local_info_from(NULL, p, n);
            if (!i || nox__sandbox_list_push(l, i) != 0)
                rc = nox__err(err, NOX_ENOMEM, "out of memory");
        }
        /* An agent that fails to answer is ending (expiry, delete): skip. */
        noxp_reader_free(&rd);
        close(fd);
    }
    closedir(d);
    if (rc) {
        nox_sandbox_list_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int l_touch(void *impl, const char *sid, nox_error **err) {
    return local_simple(impl, sid, "touch", NULL, NULL, err);
}

#define DELETE_WAIT_MS 60000

/* Delete of a sandbox that is not there: say why it went (once). */
static int del_not_found(local_be *L, const char *name, nox_error **err) {
    int rc = local_not_found(L, name, err);
    local_forget_end(L, name);
    return rc;
}

static int l_del(void *impl, const char *sid, nox_error **err) {
    local_be *L = impl;
    char name[67];
    nox__session_dirname(sid, name);
    lsess s;
    lsess_init(&s);
    int rc = lsess_lock(L, name, &s, 0);
    if (rc) {
        lsess_close(&s);
        if (rc == -ENOENT || rc == -ENOTDIR)
            return del_not_found(L, name, err);
        return nox__err(err, nox__code_from_errno(-rc), "cannot lock session directory %s/%s: %s",
                        L->base, name, strerror(-rc));
    }
    int fd = lsess_connect(&s);
    if (fd < 0) {
        lsess_remove_locked(&s, L->base);
        lsess_close(&s);
        return del_not_found(L, name, err);
    }
    int pfd = lsess_pidfd(&s);
    noxp_reader rd;
    noxp_reader_init(&rd, fd);
    rc = local_request(fd, "delete", NULL);
    uint8_t type = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    if (!rc || rc == -EPIPE)
        rc = noxp_read(&rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
    if (rc == 0 && type == NOXP_FAIL) {
        rc = local_fail_from_frame(p, n, err);
    } else if (rc == 0 && type != NOXP_OK) {
        rc = nox__err(err, NOX_EPROTOCOL, "the sandbox agent answered frame '%c' to delete",
                      type);
    } else if (rc == -EPIPE) {
        /* The agent was already ending (its TTL ran out): it removes the
         * session itself. Wait for it, then make sure. */
        lsess_wait_pidfd(pfd, 10000);
        lsess_remove_locked(&s, L->base);
        rc = 0;
    } else if (rc) {
        /* A hung or broken agent: kill it (its pid 1, and with that the
         * whole sandbox, dies with it) and remove the session ourselves. */
        lsess_remove_locked(&s, L->base);
        rc = 0;
    }
    noxp_reader_free(&rd);
    close(fd);
    /* The agent answers once everything in the sandbox is dead and the
     * directory is gone, or (as root) its host process still removes it:
     * wait for that process too, so a delete returns with the session
     * gone and a create of the same id cannot meet a removal under way.
     * A tree of thousands of levels takes seconds on a loaded host; the
     * bound only keeps a hung agent from hanging the caller. */
    if (rc == 0) {
        lsess_wait_pidfd(pfd, DELETE_WAIT_MS);
        lsess_sweep_cgroups(name);
    }
    if (pfd >= 0)
        close(pfd);
    lsess_close(&s);
    return rc;
}

static int l_wait_ready(void *impl, const char *sid, uint32_t timeout_ms, nox_error **err) {
    local_be *L = impl;
    char name[67];
    nox__session_dirname(sid, name);
    int64_t end = nox__now_ms() + timeout_ms;
    for (int i = 0;; i++) {
        lsess s;
        lsess_init(&s);
        int rc = lsess_open(L, name, &s);
        if (rc) {
            lsess_close(&s);
            return local_not_found(L, name, err);
        }
        int fd = lsess_connect(&s);
        lsess_close(&s);
        if (fd >= 0) {
            noxp_reader rd;
            noxp_reader_init(&rd, fd);
            uint8_t type = 0;
            const uint8_t *p;
            uint32_t n;
            int64_t left = end - nox__now_ms();
            rc = local_request(fd, "ping", NULL);
            if (!rc)
                rc = noxp_read(&rd, nox__now_ms() + (left > 0 ? left : 0), &type, &p, &n);
            noxp_reader_free(&rd);
            close(fd);
            if (rc == 0 && type == NOXP_OK)
                return 0;
        }
        if (nox__now_ms() >= end)
            return nox__err(err, NOX_ETIMEOUT, "the sandbox did not answer within %u ms",
                            timeout_ms);
        struct timespec ts = {0, (i < 10 ? 5 : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static const nox__backend_ops local_ops = {
    .name = "local",
    .destroy = l_destroy,
    .isolation = l_isolation,
    .health = l_health,
    .info = l_info,
    .create = l_create,
    .get = l_get,
    .list = l_list,
    .touch = l_touch,
    .del = l_del,
    .wait_ready = l_wait_ready,
    .exec = local_exec,
    .exec_start = local_exec_start,
    .upload = local_upload,
    .download = local_download,
};

int nox__local_backend_new(const nox__config *cfg, const nox__backend_ops **ops,
                           void **impl, nox_error **err) {
    if (cfg->isolation == NOX_ISOLATION_NAMESPACES) {
        /* Refused at create, not here: a client can still list, delete
         * and inspect sandboxes. */
    }
    local_be *L = calloc(1, sizeof *L);
    if (!L)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    L->cfg = cfg;
    const char *base = cfg->base_dir;
    if (!base || !*base) {
        free(L);
        return nox__err(err, NOX_EINVAL, "no base directory for the local backend");
    }
    L->base = strdup(base);
    if (!L->base) {
        free(L);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    size_t bl = strlen(L->base);
    while (bl > 1 && L->base[bl - 1] == '/')
        L->base[--bl] = 0;
    int rc = mkdir_p(L->base, 0700);
    if (rc) {
        int code = nox__err(err, nox__code_from_errno(-rc),
                            "cannot create base directory %s: %s", L->base, strerror(-rc));
        l_destroy(L);
        return code;
    }
    /* Agents get this path and keep using it from other working dirs. */
    char *real = realpath(L->base, NULL);
    if (real) {
        free(L->base);
        L->base = real;
    }
    local_isolation_resolve(L);
    nox_error *aerr = NULL;
    L->agent = nox__local_find_agent(cfg->agent_path, &aerr);
    if (!L->agent) {
        /* Reported by health and create; listing and deleting still work. */
        L->agent_err = strdup(aerr ? nox_error_message(aerr) : "the sandbox agent was not found");
        nox_error_free(aerr);
    }
    *ops = &local_ops;
    *impl = L;
    return 0;
}
