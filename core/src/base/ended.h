/*
 * ended.h - why a sandbox ended on its own, for the next call to say.
 *
 * When a sandbox goes without being deleted (its TTL ran out, its init
 * died), the agent's host process records one line under the base
 * directory, in .ended/<session dir name>; "no sandbox for session"
 * errors then carry it. A create or delete of the session clears it;
 * records older than NOX_ENDED_KEEP_S are swept at the next create.
 */
#ifndef NOX_BASE_ENDED_H
#define NOX_BASE_ENDED_H

#include <stddef.h>
#include <stdint.h>

#define NOX_ENDED_DIR ".ended"
#define NOX_ENDED_KEEP_S (24 * 3600)

/* Record why (one line; the time is put in front). 0 or -errno. */
int nox__ended_record(int base_fd, const char *name, const char *why);
/* 0 and the line in out when there is a record, else -errno. */
int nox__ended_read(int base_fd, const char *name, char *out, size_t cap);
void nox__ended_clear(int base_fd, const char *name);
/* Remove records older than max_age_s seconds. */
void nox__ended_sweep(int base_fd, int64_t max_age_s);

#endif
