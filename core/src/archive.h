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

#endif /* NOX_ARCHIVE_H */
