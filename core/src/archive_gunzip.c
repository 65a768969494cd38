/*
 * archive_gunzip.c - gzip in front of libarchive, with every member's
 * CRC-32 and length checked.
 *
 * libarchive's own gzip filter reads a member's 8-byte trailer and skips
 * it unchecked (3.6/3.7: "XXX TODO: Verify the length and CRC"), so a
 * flipped bit in the compressed data could reach the disk as different
 * bytes without an error, where `gzip -d` and `tar xzf` refuse the file.
 * Here zlib inflates with its gzip wrapper, which checks both, and
 * libarchive only ever sees tar. Input that does not start with the gzip
 * magic passes through untouched (plain tar), chunk for chunk.
 *
 * Concatenated members (what `cat a.gz b.gz` makes) are read one after
 * the other, as gzip does. Bytes after the last member that do not start
 * another one are left unread, as libarchive did.
 */
#include "archive.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define GZ_OUT (128 * 1024)

enum { GZ_SNIFF, GZ_PLAIN, GZ_INFLATE, GZ_BETWEEN, GZ_DONE };

struct nox__gunzip {
    nox__chunk_fn next; /* upstream: the archive's bytes */
    void *ctx;
    int state;
    const uint8_t *in; /* upstream bytes not yet passed on */
    size_t in_len;
    uint8_t first;     /* a lone first byte, kept while sniffing */
    int have_first;
    z_stream z;
    int z_open;
    uint8_t *out;
};

nox__gunzip *nox__gunzip_new(nox__chunk_fn next, void *ctx) {
    nox__gunzip *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->next = next;
    g->ctx = ctx;
    return g;
}

void nox__gunzip_free(nox__gunzip *g) {
    if (!g)
        return;
    if (g->z_open)
        inflateEnd(&g->z);
    free(g->out);
    free(g);
}

static int pull(nox__gunzip *g, nox_error **err) {
    g->in = NULL;
    g->in_len = 0;
    return g->next(g->ctx, &g->in, &g->in_len, err);
}

static int start_inflate(nox__gunzip *g, nox_error **err) {
    g->out = malloc(GZ_OUT);
    /* 16 + 15: gzip wrapper only (header, CRC-32, ISIZE), 32 KiB window. */
    if (!g->out || inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    g->z_open = 1;
    g->state = GZ_INFLATE;
    return 0;
}

/* Decide between gzip and plain from the first two bytes, which may come
 * in two chunks. A lone first byte is fed (or handed on) before the rest. */
static int sniff(nox__gunzip *g, nox_error **err) {
    int rc = pull(g, err);
    if (rc != 0)
        return rc;
    if (g->in_len == 1) {
        g->first = g->in[0];
        g->have_first = 1;
        if ((rc = pull(g, err)) != 0)
            return rc;
    }
    uint8_t b0 = g->have_first ? g->first : (g->in_len ? g->in[0] : 0);
    uint8_t b1 = g->have_first ? (g->in_len ? g->in[0] : 0)
                               : (g->in_len > 1 ? g->in[1] : 0);
    size_t total = g->in_len + (size_t)g->have_first;
    if (total >= 2 && b0 == 0x1f && b1 == 0x8b)
        return start_inflate(g, err);
    g->state = GZ_PLAIN;
    return 0;
}

static int plain_read(nox__gunzip *g, const uint8_t **p, size_t *got,
                      nox_error **err) {
    if (g->have_first) {
        g->have_first = 0;
        *p = &g->first;
        *got = 1;
        return 0;
    }
    if (g->in_len) {
        *p = g->in;
        *got = g->in_len;
        g->in_len = 0;
        return 0;
    }
    int rc = pull(g, err);
    *p = g->in;
    *got = g->in_len;
    g->in_len = 0;
    return rc;
}

/* Give zlib more input: the sniffed byte, the rest of the current chunk,
 * or a new one. 0 with *eof at the end of the upstream. */
static int feed(nox__gunzip *g, int *eof, nox_error **err) {
    *eof = 0;
    if (g->have_first) {
        g->have_first = 0;
        g->z.next_in = &g->first;
        g->z.avail_in = 1;
        return 0;
    }
    if (g->in_len == 0) {
        int rc = pull(g, err);
        if (rc != 0)
            return rc;
        if (g->in_len == 0) {
            *eof = 1;
            return 0;
        }
    }
    /* zlib takes uInt: hand big chunks over in pieces. */
    size_t n = g->in_len > (1u << 30) ? (1u << 30) : g->in_len;
    g->z.next_in = (Bytef *)(uintptr_t)g->in;
    g->z.avail_in = (uInt)n;
    g->in += n;
    g->in_len -= n;
    return 0;
}

/* After a member: another one starts here, or the gzip stream is over. */
static int between(nox__gunzip *g, nox_error **err) {
    if (g->z.avail_in == 0 && g->in_len == 0) {
        int eof;
        int rc = feed(g, &eof, err);
        if (rc != 0)
            return rc;
        if (eof) {
            g->state = GZ_DONE;
            return 0;
        }
    } else if (g->z.avail_in == 0) {
        int eof;
        (void)feed(g, &eof, err); /* in_len > 0: cannot fail */
    }
    if (g->z.next_in[0] != 0x1f) {
        /* Not another member: leave the rest unread, as libarchive did. */
        g->in_len = 0;
        g->state = GZ_DONE;
        return 0;
    }
    if (inflateReset(&g->z) != Z_OK)
        return nox__err(err, NOX_EARCHIVE, "corrupt archive: gzip: cannot restart");
    g->state = GZ_INFLATE;
    return 0;
}

static int gz_error(nox__gunzip *g, int zrc, nox_error **err) {
    if (zrc == Z_MEM_ERROR)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    return nox__err(err, NOX_EARCHIVE, "corrupt archive: gzip data: %s",
                    g->z.msg ? g->z.msg : "invalid");
}

/* Inflate until there is output, the member ends, or the input does. */
static int inflate_some(nox__gunzip *g, size_t *got, nox_error **err) {
    g->z.next_out = g->out;
    g->z.avail_out = GZ_OUT;
    while (g->z.avail_out == GZ_OUT) {
        if (g->z.avail_in == 0) {
            int eof, rc = feed(g, &eof, err);
            if (rc != 0)
                return rc;
            if (eof)
                return nox__err(err, NOX_EARCHIVE,
                                "corrupt archive: the gzip data ends early "
                                "(truncated before the end of its last member)");
        }
        int zrc = inflate(&g->z, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            g->state = GZ_BETWEEN;
            break;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return gz_error(g, zrc, err);
    }
    *got = GZ_OUT - g->z.avail_out;
    return 0;
}

int nox__gunzip_read(nox__gunzip *g, const uint8_t **p, size_t *got, nox_error **err) {
    *got = 0;
    if (g->state == GZ_SNIFF) {
        int rc = sniff(g, err);
        if (rc != 0)
            return rc;
    }
    if (g->state == GZ_PLAIN)
        return plain_read(g, p, got, err);
    *p = g->out;
    while (g->state != GZ_DONE) {
        int rc = g->state == GZ_BETWEEN ? between(g, err) : inflate_some(g, got, err);
        if (rc != 0 || *got > 0)
            return rc;
    }
    return 0;
}

int nox__gunzip_finish(nox__gunzip *g, uint64_t max_discard, nox_error **err) {
    if (g->state == GZ_SNIFF || g->state == GZ_PLAIN)
        return 0;
    uint64_t discarded = 0;
    while (g->state != GZ_DONE) {
        const uint8_t *p;
        size_t got;
        int rc = nox__gunzip_read(g, &p, &got, err);
        if (rc != 0)
            return rc;
        discarded += got;
        if (discarded > max_discard)
            return nox__err(err, NOX_EARCHIVE,
                            "corrupt archive: more than %llu bytes of gzip data "
                            "after the end of the tar archive",
                            (unsigned long long)max_discard);
    }
    return 0;
}
