/* clock.h - time (clock.c). */
#ifndef NOX_BASE_CLOCK_H
#define NOX_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in milliseconds. */
int64_t nox__now_ms(void);
/* Wall clock in unix milliseconds. */
int64_t nox__wall_ms(void);
/* "2026-01-01T00:00:00Z" into out (>= 21 bytes); 0 or NOX_EINVAL. */
int nox__format_iso8601(int64_t unix_seconds, char *out, size_t cap);

#endif /* NOX_BASE_CLOCK_H */
