/*
 * fuzz_proto - the framing between the library and a sandbox's agent
 * (core/src/base/proto.h), from the side that reads: frames off a socket
 * and fields out of a payload, for any bytes a dying or hostile peer could
 * leave there.
 */
#include "base/proto.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void fields(const uint8_t *p, size_t n) {
    noxp_iter it = {p, n};
    uint8_t key;
    const uint8_t *val;
    uint32_t len;
    int r;
    while ((r = noxp_next(&it, &key, &val, &len)) == 1)
        if (len > n || val < p || val + len > p + n)
            abort(); /* a field pointing outside its payload */
    for (uint8_t k = 0; k < 8; k++) {
        free(noxp_get_str(p, n, k));
        (void)noxp_get_u64(p, n, k, 7);
        (void)noxp_has(p, n, k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fields(data, size);
    int sv[2];
    if (size > 200000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    if (write(sv[0], data, size) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    close(sv[0]); /* then end of stream */
    noxp_reader rd;
    noxp_reader_init(&rd, sv[1]);
    for (int i = 0; i < 1000; i++) {
        uint8_t type;
        const uint8_t *payload;
        uint32_t len;
        if (noxp_read(&rd, -1, &type, &payload, &len) != 0)
            break;
        fields(payload, len);
    }
    noxp_reader_free(&rd);
    close(sv[1]);
    return 0;
}
