/*
 * local_files.c - upload and download through the sandbox agent, which
 * extracts and archives inside the sandbox's own view of the file system
 * (so a symlink planted in /workspace is resolved where the sandboxed code
 * lives, never by host-side code).
 */
#include "local/local_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int begin(local_be *L, const char *sid, const char *op, const nox__buf *fields,
                 int *fd_out, noxp_reader *rd, nox_error **err) {
    int fd;
    int rc = local_connect(L, sid, &fd, err);
    if (rc)
        return rc;
    noxp_reader_init(rd, fd);
    rc = local_request(fd, op, fields);
    uint8_t type = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    if (!rc || rc == -EPIPE)
        rc = noxp_read(rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
    if (rc)
        rc = local_hangup_error(L, sid, rc, op, err);
    else if (type == NOXP_FAIL)
        rc = local_fail_from_frame(p, n, err);
    else if (type != NOXP_STARTED)
        rc = nox__err(err, NOX_EPROTOCOL, "the sandbox agent answered frame '%c' to %s",
                      type, op);
    if (rc) {
        noxp_reader_free(rd);
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

typedef struct up_sink {
    int fd;
    int broken; /* the agent stopped listening: its answer says why */
} up_sink;

static int up_write(void *ctx, const uint8_t *d, size_t n, nox_error **err) {
    up_sink *u = ctx;
    while (n) {
        size_t k = n < NOXP_FILE_CHUNK ? n : NOXP_FILE_CHUNK;
        int rc = noxp_send(u->fd, NOXP_DATA, d, k, nox__now_ms() + LOCAL_IO_TIMEOUT_MS);
        if (rc) {
            u->broken = 1;
            return local_io_error(rc, "upload", err);
        }
        d += k;
        n -= k;
    }
    return 0;
}

int local_upload(void *impl, const char *sid, const char *dest, nox__producer *targz,
                 nox_error **err) {
    local_be *L = impl;
    nox__buf f = {0};
    if (noxp_put_str(&f, NOXK_PATH, dest) ||
        noxp_put_u64(&f, NOXK_MAXBYTES, L->cfg->max_archive_bytes) ||
        noxp_put_u64(&f, NOXK_MAXENTRIES, L->cfg->max_archive_entries)) {
        nox__buf_free(&f);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    int fd;
    noxp_reader rd;
    int rc = begin(L, sid, "upload", &f, &fd, &rd, err);
    nox__buf_free(&f);
    if (rc)
        return rc;
    up_sink u = {fd, 0};
    nox__sink sink = {up_write, &u, 0};
    nox_error *perr = NULL;
    /* Both ends are ours and share a machine: compressing would only
     * burn CPU on both sides. (A caller's own tar.gz passes unchanged.) */
    rc = targz->run(targz->ctx, NOX__TAR_PLAIN, &sink, &perr);
    if (rc && !u.broken) {
        /* Our side failed (reading a local file...): that is the error. */
        if (err && !*err) {
            *err = perr;
            perr = NULL;
        }
        nox_error_free(perr);
        noxp_reader_free(&rd);
        close(fd);
        return rc;
    }
    int src = rc ? rc : noxp_send(fd, NOXP_DATA_END, NULL, 0,
                                  nox__now_ms() + LOCAL_IO_TIMEOUT_MS);
    /* Whether or not sending worked, the agent's answer tells what
     * happened (a refused archive makes it stop reading early). */
    uint8_t type = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    int rrc = noxp_read(&rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
    if (rrc == 0 && type == NOXP_FAIL) {
        rc = local_fail_from_frame(p, n, err);
    } else if (rrc == 0 && type == NOXP_OK && !src) {
        rc = 0;
    } else if (rc && perr) {
        if (err && !*err) {
            *err = perr;
            perr = NULL;
        }
    } else if (src) {
        rc = local_io_error(src, "upload", err);
    } else if (rrc) {
        rc = local_io_error(rrc, "upload", err);
    } else {
        rc = nox__err(err, NOX_EPROTOCOL, "the sandbox agent answered frame '%c' to upload",
                      type);
    }
    nox_error_free(perr);
    noxp_reader_free(&rd);
    close(fd);
    return rc;
}

int local_download(void *impl, const char *sid, const char *src, int level,
                   nox__sink *targz, nox_error **err) {
    local_be *L = impl;
    nox__buf f = {0};
    if (level < 0 || level > 9)
        level = NOX__GZIP_FAST; /* auto, or "none" when a tar.gz is due */
    if (noxp_put_str(&f, NOXK_PATH, src) ||
        noxp_put_u64(&f, NOXK_GZIP, targz->takes_plain_tar ? NOXP_TAR_PLAIN : (uint64_t)level)) {
        /* A sink that takes a plain tar gets one: nothing to gain from
         * compressing between two processes on one machine. */
        nox__buf_free(&f);
        return nox__err(err, NOX_ENOMEM, "out of memory");
    }
    int fd;
    noxp_reader rd;
    int rc = begin(L, sid, "download", &f, &fd, &rd, err);
    nox__buf_free(&f);
    if (rc)
        return rc;
    int ended = 0;
    for (;;) {
        uint8_t type;
        const uint8_t *p;
        uint32_t n;
        rc = noxp_read(&rd, nox__now_ms() + LOCAL_IO_TIMEOUT_MS, &type, &p, &n);
        if (rc) {
            rc = local_io_error(rc, "download", err);
            break;
        }
        if (type == NOXP_DATA && !ended) {
            rc = targz->write(targz->ctx, p, n, err);
            if (rc)
                break; /* closing the connection stops the agent */
        } else if (type == NOXP_DATA_END && !ended) {
            ended = 1;
        } else if (type == NOXP_OK && ended) {
            break;
        } else if (type == NOXP_FAIL) {
            rc = local_fail_from_frame(p, n, err);
            break;
        } else {
            rc = nox__err(err, NOX_EPROTOCOL, "unexpected frame '%c' during download", type);
            break;
        }
    }
    noxp_reader_free(&rd);
    close(fd);
    return rc;
}
