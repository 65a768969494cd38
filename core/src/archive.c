/* Placeholder until the archive module lands (being written now). */
#include "archive.h"
int nox__archive_write_files(const nox_files *files, nox__sink *sink, nox_error **err) {
    (void)files; (void)sink; return nox__err(err, NOX_EUNSUPPORTED, "archive not built yet");
}
int nox__archive_write_dir(const char *dir, nox__sink *sink, nox_error **err) {
    (void)dir; (void)sink; return nox__err(err, NOX_EUNSUPPORTED, "archive not built yet");
}
int nox__archive_produce_files(void *files, nox__sink *sink, nox_error **err) {
    return nox__archive_write_files(files, sink, err);
}
int nox__archive_produce_dir(void *dir, nox__sink *sink, nox_error **err) {
    return nox__archive_write_dir(dir, sink, err);
}
int nox__archive_extract(nox__read_fn read, void *read_ctx, const char *dest_dir,
                         const nox__archive_limits *limits, nox_error **err) {
    (void)read; (void)read_ctx; (void)dest_dir; (void)limits;
    return nox__err(err, NOX_EUNSUPPORTED, "archive not built yet");
}
int nox__archive_extract_fd(int fd, const char *dest_dir,
                            const nox__archive_limits *limits, nox_error **err) {
    (void)fd; (void)dest_dir; (void)limits;
    return nox__err(err, NOX_EUNSUPPORTED, "archive not built yet");
}
