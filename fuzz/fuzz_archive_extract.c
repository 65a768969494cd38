/*
 * fuzz_archive_extract - any bytes as an upload: the extractor (gzip with
 * its trailers checked, tar parsing, names, links, limits, staging) must
 * refuse or extract, never crash, leak or write outside its destination.
 *
 * Each input is extracted into one scratch directory that is emptied
 * afterwards; a sibling directory must stay empty (the escape check).
 */
#include "archive.h"
#include "base/fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct mem {
    const uint8_t *p;
    size_t n, piece;
} mem;

static int mem_read(void *ctx, uint8_t *buf, size_t cap, size_t *got, nox_error **err) {
    (void)err;
    mem *m = ctx;
    size_t k = m->n < cap ? m->n : cap;
    if (m->piece && k > m->piece)
        k = m->piece;
    memcpy(buf, m->p, k);
    m->p += k;
    m->n -= k;
    *got = k;
    return 0;
}

static char top[4096];

static int entries_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!top[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(top, sizeof top, "%s/nox-fuzz-extract-%ld", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
        mkdir(top, 0700);
    }
    char dest[4200], outside[4200];
    snprintf(dest, sizeof dest, "%s/dest", top);
    snprintf(outside, sizeof outside, "%s/outside", top);
    mkdir(dest, 0700);
    mkdir(outside, 0700);
    /* The first byte picks how the input arrives: whole, or in pieces. */
    size_t piece = size ? (data[0] % 4 == 0 ? 0 : 1u << (data[0] % 13)) : 0;
    mem m = {data, size, piece};
    nox__archive_limits lim = {.max_bytes = 4u << 20, .max_entries = 512};
    nox_error *err = NULL;
    (void)nox__archive_extract(mem_read, &m, dest, &lim, &err);
    nox_error_free(err);
    if (entries_in(outside) != 0)
        abort(); /* something was written outside the destination */
    int tfd = open(top, O_PATH | O_DIRECTORY | O_CLOEXEC);
    (void)nox__rm_tree_at(tfd, "dest");
    close(tfd);
    return 0;
}
