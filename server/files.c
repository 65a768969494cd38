/* files.c - uploads and downloads, streamed.
 *
 * An upload body goes to an unlinked temporary file as it arrives (never
 * whole into memory), bounded by --max-upload-bytes, and is handed to
 * nox_upload_targz_fd() once complete. A download runs nox_download_fd()
 * in a thread that writes into a pipe the response reads from; the answer
 * waits for the first bytes, so a missing sandbox or path still gets a
 * proper 404 instead of a broken 200.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOWNLOAD_BLOCK (64 * 1024)

/* ---- upload --------------------------------------------------------------------------- */

static int open_spool(const char *dir) {
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    if (snprintf(path, sizeof path, "%s/.noxrunnerd-upload-XXXXXX", dir) >=
        (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int tfd = mkostemp(path, O_CLOEXEC);
    if (tfd < 0)
        return -1;
    unlink(path);
    return tfd;
}

int upload_begin(request *r) {
    server *s = r->srv;
    /* Do not take in a large body for a sandbox that is not there. */
    nox_sandbox_info *i = NULL;
    nox_error *err = NULL;
    int rc = nox_sandbox_get(s->client, r->sid, &i, &err);
    nox_sandbox_info_free(i);
    if (rc == NOX_ENOTFOUND || rc == NOX_EINVAL) {
        r->deferred_code = rc; /* answered once the body is dropped */
        r->deferred_err = err;
        return 0;
    }
    nox_error_free(err); /* anything else: let the upload itself report it */

    r->upload_fd = open_spool(s->tmp_dir);
    if (r->upload_fd < 0 && strcmp(s->tmp_dir, "/tmp") != 0)
        r->upload_fd = open_spool("/tmp");
    if (r->upload_fd < 0) {
        respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "cannot create a temporary file for the upload in %s: %s",
                      s->tmp_dir, strerror(errno));
        return -1;
    }
    return 0;
}

void upload_take(request *r, const char *data, size_t len) {
    if (r->deferred_code || r->body_too_big || r->body_io_errno)
        return; /* drop the rest; the answer is already decided */
    if (r->received + len > r->srv->cfg.max_upload_bytes) {
        r->body_too_big = 1;
        return;
    }
    r->received += len;
    while (len) {
        ssize_t w = write(r->upload_fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            r->body_io_errno = errno;
            return;
        }
        data += w;
        len -= (size_t)w;
    }
}

enum MHD_Result handle_upload(request *r) {
    if (lseek(r->upload_fd, 0, SEEK_SET) != 0)
        return respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "cannot rewind the upload: %s", strerror(errno));
    nox_error *err = NULL;
    int rc = nox_upload_targz_fd(r->srv->client, r->sid, r->upload_fd,
                                 r->path_param, &err);
    close(r->upload_fd);
    r->upload_fd = -1;
    if (rc != 0)
        return respond_nox(r, rc, err, 0);
    char *json = strdup("{\"ok\":true}");
    return respond_json(r, MHD_HTTP_OK, json, json ? strlen(json) : 0);
}

/* ---- download ---------------------------------------------------------------------------- */

typedef struct download {
    server *srv;
    request *r;            /* a reference, for the access log's byte count */
    char *sid, *src;
    int rfd, wfd;
    pthread_t thread;
    int joined;
    int level;             /* gzip level: the client's X-Nox-Gzip-Level, else 6 */
    int rc;                /* nox_download_fd's result */
    nox_error *err;
    uint8_t *first;        /* bytes read before answering */
    size_t first_len, first_off;
} download;

static void *download_thread(void *arg) {
    download *d = arg;
    d->rc = nox_download_fd_level(d->srv->client, d->sid, d->src, d->wfd, d->level, &d->err);
    /* EOF for the reader: the archive is complete, or rc says why not. */
    close(d->wfd);
    d->wfd = -1;
    return NULL;
}

static void download_join(download *d) {
    if (!d->joined) {
        pthread_join(d->thread, NULL);
        d->joined = 1;
    }
}

static void download_free(void *cls) {
    download *d = cls;
    if (d->rfd >= 0)
        close(d->rfd); /* a writer still going now gets EPIPE and stops */
    download_join(d);
    if (d->rc != 0 && d->r->responded)
        log_msg("request %s: download ended early: %s", d->r->request_id,
                d->err ? nox_error_message(d->err) : nox_code_description(d->rc));
    nox_error_free(d->err);
    free(d->first);
    free(d->sid);
    free(d->src);
    request_unref(d->r);
    free(d);
}

static ssize_t read_retry(int fd, void *buf, size_t n) {
    for (;;) {
        ssize_t got = read(fd, buf, n);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

static ssize_t download_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    download *d = cls;
    if (d->first_off < d->first_len) {
        size_t k = d->first_len - d->first_off;
        if (k > max)
            k = max;
        memcpy(buf, d->first + d->first_off, k);
        d->first_off += k;
        atomic_fetch_add(&d->r->bytes_out, k);
        return (ssize_t)k;
    }
    ssize_t got = read_retry(d->rfd, buf, max);
    if (got > 0) {
        atomic_fetch_add(&d->r->bytes_out, (uint64_t)got);
        return got;
    }
    if (got < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    download_join(d);
    /* A failure after the first bytes can only be told by cutting the
     * chunked body short: the client sees an incomplete transfer. */
    return d->rc == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                      : MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Part B: X-Nox-Gzip-Level 0..9 picks the archive's gzip level (0:
 * stored, for loopback and fast links), "none" asks for a plain tar.
 * Part-A clients send nothing and get zlib's default, 6. */
#define GZIP_LEVEL_HEADER "X-Nox-Gzip-Level"

enum MHD_Result handle_download(request *r) {
    server *s = r->srv;
    const char *lv = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, GZIP_LEVEL_HEADER);
    int plain = lv && !strcmp(lv, "none");
    if (lv && !plain && (lv[0] < '0' || lv[0] > '9' || lv[1]))
        return respond_error(r, MHD_HTTP_BAD_REQUEST,
                             GZIP_LEVEL_HEADER " \"%.32s\" is neither a gzip level 0..9 nor "
                             "\"none\"", lv);
    download *d = calloc(1, sizeof *d);
    int fds[2] = {-1, -1};
    if (!d || !(d->sid = strdup(r->sid)) ||
        (r->path_param && !(d->src = strdup(r->path_param))) ||
        !(d->first = malloc(DOWNLOAD_BLOCK)) || pipe2(fds, O_CLOEXEC) != 0) {
        if (d) {
            free(d->first);
            free(d->sid);
            free(d->src);
            free(d);
        }
        return respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "cannot start the download: %s", strerror(errno));
    }
    d->srv = s;
    d->r = r;
    d->level = plain ? NOX_TAR_PLAIN : lv ? lv[0] - '0' : 6;
    atomic_fetch_add(&r->refs, 1);
    d->rfd = fds[0];
    d->wfd = fds[1];
    int terr = pthread_create(&d->thread, NULL, download_thread, d);
    if (terr != 0) {
        close(d->wfd);
        d->joined = 1;
        download_free(d);
        return respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "cannot start the download: %s", strerror(terr));
    }

    /* Wait for the first bytes, or for the end: an error before any byte
     * (no such sandbox, no such path) becomes a JSON error answer. */
    ssize_t got = read_retry(d->rfd, d->first, DOWNLOAD_BLOCK);
    if (got <= 0) {
        int read_errno = errno;
        close(d->rfd);
        d->rfd = -1;
        download_join(d);
        enum MHD_Result ret;
        if (got < 0)
            ret = respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "cannot read the download: %s", strerror(read_errno));
        else if (d->rc != 0) {
            ret = respond_nox(r, d->rc, d->err, 0);
            d->err = NULL; /* respond_nox freed it */
            d->rc = 0;
        } else
            ret = respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "the download produced no archive");
        download_free(d);
        return ret;
    }
    d->first_len = (size_t)got;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, DOWNLOAD_BLOCK, download_read, d, download_free);
    if (!resp) {
        download_free(d);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
    char level[2] = {(char)('0' + d->level), 0};
    MHD_add_response_header(resp, GZIP_LEVEL_HEADER, plain ? "none" : level);
    return request_queue(r, MHD_HTTP_OK, resp, 0);
}
