/* fdio.c - whole reads and writes on file descriptors. */
#include "base/buf.h"
#include "base/fdio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int nox__write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

ssize_t nox__read_some(int fd, void *buf, size_t cap) {
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

int nox__sink_buf_write(void *buf, const uint8_t *d, size_t n, nox_error **err) {
    if (nox__buf_append(buf, d, n) != 0)
        return nox__err(err, NOX_ENOMEM, "out of memory");
    return 0;
}

int nox__sink_fd_write(void *fdp, const uint8_t *d, size_t n, nox_error **err) {
    int rc = nox__write_all(*(int *)fdp, d, n);
    if (rc < 0)
        return nox__err(err, nox__code_from_errno(-rc), "cannot write output: %s",
                        strerror(-rc));
    return 0;
}

int nox__read_fd_fn(void *fdp, uint8_t *buf, size_t cap, size_t *got, nox_error **err) {
    ssize_t r = nox__read_some(*(int *)fdp, buf, cap);
    if (r < 0) {
        *got = 0;
        return nox__err(err, nox__code_from_errno((int)-r), "cannot read input: %s",
                        strerror((int)-r));
    }
    *got = (size_t)r;
    return 0;
}
