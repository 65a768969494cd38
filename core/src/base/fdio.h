/* fdio.h - whole reads and writes on file descriptors (fdio.c). */
#ifndef NOX_BASE_FDIO_H
#define NOX_BASE_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

int nox__write_all(int fd, const void *data, size_t len); /* -errno */
/* Read exactly/up to: returns bytes read (0 at EOF) or -errno. */
ssize_t nox__read_some(int fd, void *buf, size_t cap);
/* A sink writing to, and a reader reading from, the fd at *fdp. */
int nox__sink_fd_write(void *fdp /* int* */, const uint8_t *d, size_t n,
                       nox_error **err);
int nox__read_fd_fn(void *fdp /* int* */, uint8_t *buf, size_t cap,
                    size_t *got, nox_error **err);
/* A sink appending to a nox__buf. */
int nox__sink_buf_write(void *buf /* nox__buf* */, const uint8_t *d, size_t n,
                        nox_error **err);

#endif /* NOX_BASE_FDIO_H */
