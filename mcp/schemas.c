/* schemas.c - the tools' names, descriptions and input JSON Schemas.
 *
 * Written for a language model: each description says what the tool is
 * for, what it needs and what it returns. Schemas are JSON Schema 2020-12
 * (the MCP default dialect) and list every argument the tool reads.
 */
#include "mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SID "\"session_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":256," \
            "\"description\":\"The sandbox, as returned by create_sandbox.\"}"

typedef struct tool_def {
    const char *name, *title, *description, *schema;
    int read_only, destructive, idempotent;
    const char *args; /* the schema's property names, " a b c " */
} tool_def;

static const tool_def TOOLS[] = {
    {"create_sandbox", "Create a sandbox",
     "Create an isolated Linux sandbox to run commands and keep files in, and return its "
     "session_id (pass it to every other tool) and its expiry time. Give session_id to "
     "create or reuse a named sandbox; omit it to get a fresh generated one. The sandbox "
     "is deleted automatically after ttl_seconds without touch; its files live under "
     "/workspace.",
     "{\"type\":\"object\",\"properties\":{"
     "\"session_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":256,"
     "\"description\":\"Optional name; reusing a live one returns it.\"},"
     "\"ttl_seconds\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2592000,"
     "\"description\":\"Lifetime in seconds (default: the server's).\"},"
     "\"cpu_limit\":{\"type\":\"string\",\"description\":\"CPU limit, e.g. \\\"1\\\" or "
     "\\\"500m\\\".\"},"
     "\"memory_limit\":{\"type\":\"string\",\"description\":\"Memory limit, e.g. "
     "\\\"512Mi\\\".\"},"
     "\"storage_limit\":{\"type\":\"string\",\"description\":\"Size of /workspace and "
     "/tmp together, e.g. \\\"2Gi\\\".\"}},\"additionalProperties\":false}",
     0, 0, 1,
     " session_id ttl_seconds cpu_limit memory_limit storage_limit "},
    {"exec", "Run a command",
     "Run a command in a sandbox and wait for it. Pass command (a shell command line, run "
     "with sh -c) or argv (a program and its arguments, no shell). Returns exit_code, "
     "stdout, stderr, stdout_truncated/stderr_truncated (output beyond the cap was "
     "dropped), timed_out (killed after timeout_seconds; exit_code is then 124) and "
     "duration_ms. A non-zero exit code is a normal result, not an error. With a progress "
     "token, output is also streamed as progress notifications while it runs.",
     "{\"type\":\"object\",\"properties\":{" SID ","
     "\"command\":{\"type\":\"string\",\"minLength\":1,\"description\":\"Shell command "
     "line, run as sh -c COMMAND.\"},"
     "\"argv\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"string\"},"
     "\"description\":\"Program and arguments, run without a shell.\"},"
     "\"workdir\":{\"type\":\"string\",\"description\":\"Absolute working directory "
     "(default /workspace).\"},"
     "\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
     "\"description\":\"Extra environment variables.\"},"
     "\"timeout_seconds\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400,"
     "\"description\":\"Kill the command after this many seconds (default 30).\"},"
     "\"stdin\":{\"type\":\"string\",\"description\":\"Text fed to the command's standard "
     "input.\"},"
     "\"max_output_bytes\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Keep at "
     "most this many bytes of stdout and of stderr (capped by the server).\"}},"
     "\"required\":[\"session_id\"],\"additionalProperties\":false}",
     0, 1, 0,
     " session_id command argv workdir env timeout_seconds stdin max_output_bytes "},
    {"write_file", "Write a file",
     "Create or replace a file in a sandbox, creating its parent directories. path is "
     "absolute under /workspace or relative to /workspace. content is text, or base64 when "
     "encoding is \"base64\". Returns the absolute path and the number of bytes written.",
     "{\"type\":\"object\",\"properties\":{" SID ","
     "\"path\":{\"type\":\"string\",\"minLength\":1},"
     "\"content\":{\"type\":\"string\"},"
     "\"encoding\":{\"type\":\"string\",\"enum\":[\"text\",\"base64\"],\"default\":\"text\"},"
     "\"mode\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":4095,\"description\":"
     "\"Permission bits as a number, e.g. 493 for 0755 (default 0644).\"}},"
     "\"required\":[\"session_id\",\"path\",\"content\"],\"additionalProperties\":false}",
     0, 1, 1,
     " session_id path content encoding mode "},
    {"read_file", "Read a file",
     "Read a file from a sandbox. Returns content as text when the file is UTF-8 (or "
     "encoding \"text\" was asked, bad bytes replaced), else base64, with encoding saying "
     "which; truncated is true when the file is longer than max_bytes and only its start "
     "was returned.",
     "{\"type\":\"object\",\"properties\":{" SID ","
     "\"path\":{\"type\":\"string\",\"minLength\":1},"
     "\"encoding\":{\"type\":\"string\",\"enum\":[\"auto\",\"text\",\"base64\"],"
     "\"default\":\"auto\"},"
     "\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Return at most "
     "this many bytes (capped by the server).\"}},"
     "\"required\":[\"session_id\",\"path\"],\"additionalProperties\":false}",
     1, 0, 1,
     " session_id path encoding max_bytes "},
    {"list_files", "List files",
     "List the files and directories under path in a sandbox (default /workspace), down to "
     "depth levels (default 1). Each entry has path (relative to path), type (file, dir, "
     "link or other), size in bytes and mode (octal text).",
     "{\"type\":\"object\",\"properties\":{" SID ","
     "\"path\":{\"type\":\"string\",\"default\":\"/workspace\"},"
     "\"depth\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":32,\"default\":1}},"
     "\"required\":[\"session_id\"],\"additionalProperties\":false}",
     1, 0, 1,
     " session_id path depth "},
    {"upload_archive", "Upload a tar.gz",
     "Extract a base64-encoded tar.gz archive into a directory of a sandbox (default "
     "/workspace), for moving many files in at once. Returns the directory and the "
     "archive's size.",
     "{\"type\":\"object\",\"properties\":{" SID ","
     "\"archive_base64\":{\"type\":\"string\",\"minLength\":1},"
     "\"dest\":{\"type\":\"string\",\"default\":\"/workspace\"}},"
     "\"required\":[\"session_id\",\"archive_base64\"],\"additionalProperties\":false}",
     0, 1, 1,
     " session_id archive_base64 dest "},
    {"download_archive", "Download a tar.gz",
     "Pack a directory or file of a sandbox (default /workspace) as a tar.gz and return it "
     "base64-encoded, with its size. Fails with NOX_ETOOBIG when the archive exceeds the "
     "server's limit.",
     "{\"type\":\"object\",\"properties\":{" SID ","
     "\"path\":{\"type\":\"string\",\"default\":\"/workspace\"}},"
     "\"required\":[\"session_id\"],\"additionalProperties\":false}",
     1, 0, 1,
     " session_id path "},
    {"touch", "Keep a sandbox alive",
     "Extend a sandbox's lifetime by its TTL from now; returns the new expires_at.",
     "{\"type\":\"object\",\"properties\":{" SID "},"
     "\"required\":[\"session_id\"],\"additionalProperties\":false}",
     0, 0, 1,
     " session_id "},
    {"delete_sandbox", "Delete a sandbox",
     "Kill everything running in a sandbox and delete it with its files.",
     "{\"type\":\"object\",\"properties\":{" SID "},"
     "\"required\":[\"session_id\"],\"additionalProperties\":false}",
     0, 1, 1,
     " session_id "},
    {"list_sandboxes", "List sandboxes",
     "List the live sandboxes: session_id, expires_at, and created_here (made by this MCP "
     "server, and deleted when it exits).",
     "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
     1, 0, 1,
     " "},
};

static cJSON *tool_json(const tool_def *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "title", t->title);
    cJSON_AddStringToObject(o, "description", t->description);
    cJSON *schema = cJSON_Parse(t->schema);
    if (!schema) /* a bug in the table above; tests parse every schema */
        fprintf(stderr, "noxrunner-mcp: bad schema for %s\n", t->name);
    cJSON_AddItemToObject(o, "inputSchema", schema ? schema : cJSON_CreateObject());
    cJSON *ann = cJSON_AddObjectToObject(o, "annotations");
    cJSON_AddStringToObject(ann, "title", t->title);
    cJSON_AddBoolToObject(ann, "readOnlyHint", t->read_only);
    cJSON_AddBoolToObject(ann, "destructiveHint", t->destructive);
    cJSON_AddBoolToObject(ann, "idempotentHint", t->idempotent);
    cJSON_AddBoolToObject(ann, "openWorldHint", 0);
    return o;
}

cJSON *mcp_tools_list(void) {
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof TOOLS / sizeof *TOOLS; i++)
        cJSON_AddItemToArray(list, tool_json(&TOOLS[i]));
    return list;
}

/* The first key of args that tool `name`'s schema does not list; NULL when
 * all are known. *known is 0 for a tool that does not exist. */
const char *mcp_tool_unknown_arg(const char *name, const cJSON *args, int *known) {
    *known = 0;
    for (size_t i = 0; i < sizeof TOOLS / sizeof *TOOLS; i++) {
        if (strcmp(TOOLS[i].name, name) != 0)
            continue;
        *known = 1;
        const cJSON *a;
        cJSON_ArrayForEach(a, args) {
            char key[64];
            size_t n = strlen(a->string);
            if (n + 3 > sizeof key || strchr(a->string, ' '))
                return a->string;
            snprintf(key, sizeof key, " %s ", a->string);
            if (!strstr(TOOLS[i].args, key))
                return a->string;
        }
        return NULL;
    }
    return NULL;
}
