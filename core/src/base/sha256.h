/* sha256.h - SHA-256 (FIPS 180-4), only to name session directories. */
#ifndef NOX_BASE_SHA256_H
#define NOX_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define NOX_SHA256_LEN 32
void nox__sha256(const void *data, size_t len, uint8_t out[NOX_SHA256_LEN]);
/* Lower-case hex digest into out (65 bytes with the NUL). */
void nox__sha256_hex(const void *data, size_t len, char out[65]);

#endif /* NOX_BASE_SHA256_H */
