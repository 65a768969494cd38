/*
 * archive.h - tar.gz in both directions, streaming, with safe extraction.
 *
 * Memory use never grows with archive size: writers push gzip output into
 * a sink in bounded blocks, the extractor pulls from a reader. Used by the
 * client (uploads, download_to_dir), the sandbox agent (extract uploads,
 * archive downloads inside the sandbox's view) and the tests.
 */
#ifndef NOX_ARCHIVE_H
#define NOX_ARCHIVE_H

#include "internal.h"

typedef struct nox__archive_limits {
    uint64_t max_bytes;   /* total extracted file data; 0: no limit */
    uint64_t max_entries; /* number of entries; 0: no limit */
} nox__archive_limits;

/* tar.gz (zlib's default level) of an in-memory file set (parent directories added as needed). */
int nox__archive_write_files(const nox_files *files, nox__sink *sink,
                             nox_error **err);

/* tar.gz of everything under dir (names relative to dir, directories
 * included, symlinks stored as symlinks and never followed, special files
 * skipped). Walks with openat(O_NOFOLLOW) so a symlink swapped in during
 * the walk cannot redirect it. NOX_ENOTFOUND when dir does not exist. */
int nox__archive_write_dir(const char *dir, nox__sink *sink, nox_error **err);

/* The same at a chosen compression: NOX__TAR_PLAIN (no gzip layer) or a
 * gzip level 0..9 (the two above use NOX__GZIP_DEFAULT). */
int nox__archive_write_files_level(const nox_files *files, int level, nox__sink *sink,
                                   nox_error **err);
int nox__archive_write_dir_level(const char *dir, int level, nox__sink *sink,
                                 nox_error **err);

/* Producers wrapping the two writers (ctx: const nox_files *, and
 * const char *dir). */
int nox__archive_produce_files(void *files, int level, nox__sink *sink, nox_error **err);
int nox__archive_produce_dir(void *dir, int level, nox__sink *sink, nox_error **err);

/* Extract a tar or tar.gz stream into dest_dir (created, with parents,
 * when missing). All files are created with openat() relative to an fd of
 * dest_dir, never following symlinks. Refused with NOX_EARCHIVE and a
 * message naming the entry: absolute names, "..", symlinks or hardlinks
 * whose target leaves dest_dir, devices, FIFOs, sockets; corrupt data.
 * NOX_ETOOBIG when a limit is passed. Modes are kept (setuid, setgid and
 * sticky bits dropped); owners are not. Existing files are replaced; an
 * existing symlink in the way is replaced, never followed. */
int nox__archive_extract(nox__read_fn read, void *read_ctx,
                         const char *dest_dir,
                         const nox__archive_limits *limits, nox_error **err);
/* The same from a zero-copy reader, whose chunks libarchive reads in
 * place. */
int nox__archive_extract_z(nox__zread_fn zread, void *read_ctx, const char *dest_dir,
                           const nox__archive_limits *limits, nox_error **err);
/* The same, reading from fd until EOF. */
int nox__archive_extract_fd(int fd, const char *dest_dir,
                            const nox__archive_limits *limits,
                            nox_error **err);

/* ---- archive_stage.c: all or nothing ---------------------------------- */

#define NOX__STAGE_MAX_MADE 64 /* destination directories remembered */
typedef struct nox__stage {
    int dest;       /* O_PATH fd of the destination */
    int fd;         /* O_PATH fd of the staging directory in it */
    char name[48];  /* its name */
    char *made[NOX__STAGE_MAX_MADE]; /* destination directories made, in order */
    size_t nmade;
    int committed;
} nox__stage;
/* The archive's explicit directory entries (normalized paths): only these
 * may replace a file or symlink the destination has at their name. */
typedef struct nox__stage_dirs {
    size_t count;
    const char *(*at)(void *ctx, size_t i);
    void *ctx;
} nox__stage_dirs;
/* Open (mkdir -p) dest and make an empty staging directory in it. */
int nox__stage_open(nox__stage *st, const char *dest, nox_error **err);
/* Move everything staged into dest: first checked for conflicts without
 * changing anything, then renamed. NOX_EARCHIVE naming the entry for a
 * conflict (dest unchanged). */
int nox__stage_commit(nox__stage *st, const nox__stage_dirs *explicit_dirs,
                      nox_error **err);
/* Remove the staging directory (and, unless committed, the destination
 * directories nox__stage_open made) and close everything. */
void nox__stage_abort(nox__stage *st);

/* ---- archive_gunzip.c: gzip with its trailers checked ---------------- */

/* One chunk of input: *p lent until the next call, *got 0 at the end. */
typedef int (*nox__chunk_fn)(void *ctx, const uint8_t **p, size_t *got,
                             nox_error **err);
typedef struct nox__gunzip nox__gunzip;
/* A reader of next's bytes that inflates them when they start with the
 * gzip magic (every member's CRC-32 and length checked: NOX_EARCHIVE
 * naming zlib's finding on a mismatch or a cut-off member) and passes
 * anything else through. NULL when out of memory. */
nox__gunzip *nox__gunzip_new(nox__chunk_fn next, void *ctx);
/* The next piece of plain bytes (*p lent until the next call; *got 0 at
 * the end). 0 or a NOX code with err set. */
int nox__gunzip_read(nox__gunzip *g, const uint8_t **p, size_t *got, nox_error **err);
/* Read the gzip stream to its end, so its last trailer is checked even
 * when the reader above stopped early (tar's end-of-archive blocks come
 * before the padding and the trailer); more than max_discard bytes of
 * output on the way is NOX_EARCHIVE. 0 for plain input. */
int nox__gunzip_finish(nox__gunzip *g, uint64_t max_discard, nox_error **err);
void nox__gunzip_free(nox__gunzip *g);

#endif /* NOX_ARCHIVE_H */
