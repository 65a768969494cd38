/* tools_files.c - files in and out of a sandbox with the public API only:
 * write_file and upload_archive upload (nox_files / tar.gz), read_file and
 * list_files run cat and find in the sandbox, download_archive downloads.
 */
#include "mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST_ENTRIES 2000

/* Absolute path: as given, or relative to /workspace. NULL when too long. */
static char *abs_path(const char *path) {
    size_t n = strlen(path);
    if (n > 4096)
        return NULL;
    char *p = malloc(n + 12);
    if (p)
        snprintf(p, n + 12, "%s%s", path[0] == '/' ? "" : "/workspace/", path);
    return p;
}

static cJSON *write_bytes(mcp_call *call, const char *sid, const char *path,
                          const uint8_t *data, size_t len, uint32_t mode) {
    char *full = abs_path(path);
    if (!full)
        return mcp_tool_fail("NOX_EINVAL", "argument path is longer than 4096 bytes");
    char *slash = strrchr(full, '/');
    *slash = 0;
    const char *dir = slash == full ? "/" : full, *name = slash + 1;
    nox_files *f = NULL;
    nox_error *err = NULL;
    int rc = nox_files_new(&f, &err);
    if (rc == 0)
        rc = nox_files_add(f, name, data, len, mode, &err);
    if (rc == 0)
        rc = nox_upload(call->srv->client, sid, f, dir, &err);
    nox_files_free(f);
    cJSON *r;
    if (rc != 0) {
        r = mcp_tool_nox_fail(rc, err, "write_file");
    } else {
        *slash = '/';
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", full);
        cJSON_AddNumberToObject(o, "bytes_written", (double)len);
        r = mcp_tool_ok(o);
    }
    free(full);
    return r;
}

cJSON *mcp_tool_write_file(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail), *path = NULL, *content = NULL;
    const char *enc = "text";
    int64_t mode = 0644;
    if (!sid || mcp_arg_string(args, "encoding", &enc, &fail) < 0 ||
        mcp_arg_int(args, "mode", 0, 07777, &mode, &fail) < 0)
        return fail;
    if (mcp_arg_string(args, "path", &path, &fail) != 1 || !*path ||
        mcp_arg_string(args, "content", &content, &fail) != 1) {
        cJSON_Delete(fail);
        return mcp_tool_fail("NOX_EINVAL", "write_file needs path (a non-empty string) and "
                                           "content (a string)");
    }
    if (strcmp(enc, "text") == 0)
        return write_bytes(call, sid, path, (const uint8_t *)content, strlen(content),
                           (uint32_t)mode);
    if (strcmp(enc, "base64") != 0)
        return mcp_tool_fail("NOX_EINVAL", "argument encoding must be \"text\" or \"base64\"");
    uint8_t *data = NULL;
    size_t len = 0;
    if (mcp_base64_decode(content, &data, &len) != 0)
        return mcp_tool_fail("NOX_EINVAL", "argument content is not valid base64");
    cJSON *r = write_bytes(call, sid, path, data, len, (uint32_t)mode);
    free(data);
    return r;
}

/* Run argv in the sandbox with stdout capped at cap; 0 or a tool failure. */
static cJSON *run_tool(mcp_call *call, const char *sid, const char *const *argv, uint64_t cap,
                       const char *what, nox_exec_result **out) {
    nox_exec_options o;
    nox_exec_options_init(&o, NOX_EXEC_OPTIONS_VERSION);
    o.max_output_bytes = cap;
    nox_error *err = NULL;
    int rc = nox_exec(call->srv->client, sid, argv, &o, out, &err);
    if (rc != 0)
        return mcp_tool_nox_fail(rc, err, what);
    if (nox_exec_result_exit_code(*out) == 0)
        return NULL;
    size_t n = 0;
    const char *msg = (const char *)nox_exec_result_stderr(*out, &n);
    char *clean = mcp_utf8_clean((const uint8_t *)msg, n < 600 ? n : 600);
    cJSON *r = mcp_tool_fail(strstr(msg, "No such file") ? "NOX_ENOTFOUND" : "NOX_EIO",
                             "%s: %s", what, clean ? clean : "failed");
    free(clean);
    nox_exec_result_free(*out);
    *out = NULL;
    return r;
}

/* UTF-8, allowing a sequence cut off at the end of truncated data. */
static int looks_text(const uint8_t *d, size_t n, int truncated) {
    for (size_t cut = 0; cut <= (truncated ? 3u : 0u) && cut <= n; cut++)
        if (mcp_utf8_valid(d, n - cut))
            return 1;
    return 0;
}

cJSON *mcp_tool_read_file(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail), *path = NULL, *enc = "auto";
    int64_t max = (int64_t)call->srv->cfg.max_output_bytes;
    if (!sid || mcp_arg_string(args, "encoding", &enc, &fail) < 0 ||
        mcp_arg_int(args, "max_bytes", 1, INT64_MAX / 2, &max, &fail) < 0)
        return fail;
    if (mcp_arg_string(args, "path", &path, &fail) != 1 || !*path) {
        cJSON_Delete(fail);
        return mcp_tool_fail("NOX_EINVAL", "read_file needs path (a non-empty string)");
    }
    if (strcmp(enc, "auto") && strcmp(enc, "text") && strcmp(enc, "base64"))
        return mcp_tool_fail("NOX_EINVAL", "argument encoding must be auto, text or base64");
    if ((uint64_t)max > call->srv->cfg.max_output_bytes)
        max = (int64_t)call->srv->cfg.max_output_bytes;
    char *full = abs_path(path);
    if (!full)
        return mcp_tool_fail("NOX_EINVAL", "argument path is longer than 4096 bytes");
    const char *argv[] = {"cat", "--", full, NULL};
    nox_exec_result *r = NULL;
    cJSON *res = run_tool(call, sid, argv, (uint64_t)max, "read_file", &r);
    if (!res) {
        size_t n = 0;
        const uint8_t *d = nox_exec_result_stdout(r, &n);
        int truncated = nox_exec_result_stdout_truncated(r);
        int text = strcmp(enc, "text") == 0 ||
                   (strcmp(enc, "auto") == 0 && looks_text(d, n, truncated));
        char *content = text ? mcp_utf8_clean(d, n) : mcp_base64_encode(d, n);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", full);
        cJSON_AddStringToObject(o, "encoding", text ? "text" : "base64");
        cJSON_AddStringToObject(o, "content", content ? content : "");
        cJSON_AddNumberToObject(o, "bytes", (double)n);
        cJSON_AddBoolToObject(o, "truncated", truncated);
        free(content);
        res = mcp_tool_ok(o);
    }
    nox_exec_result_free(r);
    free(full);
    return res;
}

static const char *type_name(char t) {
    return t == 'f' ? "file" : t == 'd' ? "dir" : t == 'l' ? "link" : "other";
}

/* find's "%y\t%s\t%m\t%P\0" records to entries. */
static cJSON *parse_listing(const char *d, size_t n, int cut) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "entries");
    int count = 0, truncated = cut;
    for (size_t i = 0; i < n;) {
        const char *rec = d + i, *end = memchr(rec, 0, n - i);
        if (!end) {
            truncated = 1;
            break;
        }
        i = (size_t)(end - d) + 1;
        char type = 0, mode[16] = "";
        unsigned long long size = 0;
        int used = 0;
        if (sscanf(rec, "%c\t%llu\t%15[0-7]\t%n", &type, &size, mode, &used) < 3 || !used)
            continue;
        if (++count > MAX_LIST_ENTRIES) {
            truncated = 1;
            break;
        }
        cJSON *e = cJSON_CreateObject();
        char *name = mcp_utf8_clean((const uint8_t *)rec + used, strlen(rec + used));
        cJSON_AddStringToObject(e, "path", name ? name : "");
        free(name);
        cJSON_AddStringToObject(e, "type", type_name(type));
        cJSON_AddNumberToObject(e, "size", (double)size);
        cJSON_AddStringToObject(e, "mode", mode);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddBoolToObject(o, "truncated", truncated);
    return o;
}

cJSON *mcp_tool_list_files(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail), *path = "/workspace";
    int64_t depth = 1;
    if (!sid || mcp_arg_string(args, "path", &path, &fail) < 0 ||
        mcp_arg_int(args, "depth", 1, 32, &depth, &fail) < 0)
        return fail;
    char *full = abs_path(*path ? path : "/workspace");
    if (!full)
        return mcp_tool_fail("NOX_EINVAL", "argument path is longer than 4096 bytes");
    char dep[16];
    snprintf(dep, sizeof dep, "%d", (int)depth);
    const char *argv[] = {"find", full, "-mindepth", "1", "-maxdepth", dep, "-printf",
                          "%y\\t%s\\t%m\\t%P\\0", NULL};
    nox_exec_result *r = NULL;
    cJSON *res = run_tool(call, sid, argv, call->srv->cfg.max_output_bytes, "list_files", &r);
    if (!res) {
        size_t n = 0;
        const char *d = (const char *)nox_exec_result_stdout(r, &n);
        cJSON *o = parse_listing(d, n, nox_exec_result_stdout_truncated(r));
        cJSON_AddStringToObject(o, "path", full);
        res = mcp_tool_ok(o);
    }
    nox_exec_result_free(r);
    free(full);
    return res;
}

cJSON *mcp_tool_upload_archive(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail), *b64 = NULL, *dest = "/workspace";
    if (!sid || mcp_arg_string(args, "dest", &dest, &fail) < 0)
        return fail;
    if (mcp_arg_string(args, "archive_base64", &b64, &fail) != 1) {
        cJSON_Delete(fail);
        return mcp_tool_fail("NOX_EINVAL", "upload_archive needs archive_base64 (a string)");
    }
    uint64_t max = call->srv->cfg.max_archive_bytes;
    if (strlen(b64) / 4 * 3 > max)
        return mcp_tool_fail("NOX_ETOOBIG", "the archive is larger than the server's limit "
                                            "of %llu bytes", (unsigned long long)max);
    uint8_t *data = NULL;
    size_t len = 0;
    if (mcp_base64_decode(b64, &data, &len) != 0)
        return mcp_tool_fail("NOX_EINVAL", "argument archive_base64 is not valid base64");
    char *full = abs_path(*dest ? dest : "/workspace");
    nox_error *err = NULL;
    int rc = full ? nox_upload_targz(call->srv->client, sid, data, len, full, &err) : NOX_EINVAL;
    free(data);
    cJSON *res;
    if (rc != 0) {
        res = mcp_tool_nox_fail(rc, err, "upload_archive");
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dest", full);
        cJSON_AddNumberToObject(o, "archive_bytes", (double)len);
        res = mcp_tool_ok(o);
    }
    free(full);
    return res;
}

cJSON *mcp_tool_download_archive(mcp_call *call, const cJSON *args) {
    cJSON *fail = NULL;
    const char *sid = mcp_arg_session(args, &fail), *path = "/workspace";
    if (!sid || mcp_arg_string(args, "path", &path, &fail) < 0)
        return fail;
    char *full = abs_path(*path ? path : "/workspace");
    if (!full)
        return mcp_tool_fail("NOX_EINVAL", "argument path is longer than 4096 bytes");
    nox_bytes *b = NULL;
    nox_error *err = NULL;
    int rc = nox_download(call->srv->client, sid, full, &b, &err);
    if (rc != 0) {
        free(full);
        return mcp_tool_nox_fail(rc, err, "download_archive");
    }
    path = full;
    size_t len = 0;
    const uint8_t *d = nox_bytes_data(b, &len);
    cJSON *res;
    if (len > call->srv->cfg.max_archive_bytes) {
        res = mcp_tool_fail("NOX_ETOOBIG", "the archive of %s has %zu bytes, more than the "
                                           "server's limit of %llu",
                            path, len, (unsigned long long)call->srv->cfg.max_archive_bytes);
    } else {
        char *text = mcp_base64_encode(d, len);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "archive_base64", text ? text : "");
        cJSON_AddNumberToObject(o, "archive_bytes", (double)len);
        free(text);
        res = mcp_tool_ok(o);
    }
    nox_bytes_free(b);
    free(full);
    return res;
}
