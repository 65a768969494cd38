/* files.c - uploads and downloads, streamed.
 *
 * An upload body streams through a pipe into nox_upload_targz_fd() as it
 * arrives (never whole into memory), bounded by --max-upload-bytes. A
 * download runs nox_download_fd_level()
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

#define DOWNLOAD_BLOCK (256 * 1024)

/* ---- upload --------------------------------------------------------------------------- */

/* The body streams through a pipe into nox_upload_targz_fd(), run by a
 * thread of its own, while it arrives: the sandbox extracts as the client
 * sends (a 1 GB upload is one pass, not a spool to disk and a second
 * pass). The pipe's capacity bounds what is in flight. An archive the
 * sandbox refuses ends the thread early; the rest of the body is then
 * read and dropped, and the answer is that refusal. As with any streamed
 * extraction, entries before a bad one (or before a body cut short) stay
 * extracted. */
typedef struct upload_job {
    server *srv;
    char *sid, *dest;
    int rfd;
    pthread_t thread;
    int rc;
    nox_error *err;
} upload_job;

static void *upload_thread(void *arg) {
    upload_job *u = arg;
    u->rc = nox_upload_targz_fd(u->srv->client, u->sid, u->rfd, u->dest, &u->err);
    /* Writers see EPIPE from now on: the rest of the body is dropped. */
    close(u->rfd);
    u->rfd = -1;
    return NULL;
}

static void upload_job_free(upload_job *u) {
    nox_error_free(u->err);
    free(u->sid);
    free(u->dest);
    free(u);
}

/* EOF for the thread, wait for it, and hand back its job. */
static upload_job *upload_finish(request *r) {
    upload_job *u = r->upload;
    if (r->upload_fd >= 0) {
        close(r->upload_fd);
        r->upload_fd = -1;
    }
    if (u)
        pthread_join(u->thread, NULL);
    r->upload = NULL;
    return u;
}

void upload_abort(request *r) {
    upload_job *u = upload_finish(r);
    if (u)
        upload_job_free(u);
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

    upload_job *u = calloc(1, sizeof *u);
    int fds[2] = {-1, -1};
    if (!u || !(u->sid = strdup(r->sid)) || (r->path_param && !(u->dest = strdup(r->path_param))) ||
        pipe2(fds, O_CLOEXEC) != 0) {
        int e = errno;
        if (u)
            upload_job_free(u);
        respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start the upload: %s",
                      strerror(e));
        return -1;
    }
    /* A bigger pipe: fewer wake-ups per megabyte (best effort). */
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    u->srv = s;
    u->rfd = fds[0];
    int terr = pthread_create(&u->thread, NULL, upload_thread, u);
    if (terr != 0) {
        close(fds[0]);
        close(fds[1]);
        upload_job_free(u);
        respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start the upload: %s",
                      strerror(terr));
        return -1;
    }
    r->upload = u;
    r->upload_fd = fds[1];
    return 0;
}

void upload_take(request *r, const char *data, size_t len) {
    if (r->deferred_code || r->body_too_big || r->body_io_errno || r->upload_fd < 0)
        return; /* drop the rest; the answer is already decided */
    if (r->received + len > r->srv->cfg.max_upload_bytes) {
        r->body_too_big = 1;
        upload_abort(r); /* the thread sees a cut archive and stops */
        return;
    }
    r->received += len;
    while (len) {
        ssize_t w = write(r->upload_fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* EPIPE: the sandbox stopped reading (its answer says why);
             * drop the rest of the body. */
            close(r->upload_fd);
            r->upload_fd = -1;
            return;
        }
        data += w;
        len -= (size_t)w;
    }
}

enum MHD_Result handle_upload(request *r) {
    upload_job *u = upload_finish(r);
    if (!u)
        return respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the upload did not start");
    int rc = u->rc;
    nox_error *err = u->err;
    u->err = NULL;
    upload_job_free(u);
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
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups (best effort) */
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
