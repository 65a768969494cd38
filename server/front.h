/*
 * front.h - noxrunnerd's front door: every connection waits here, at the
 * cost of one file descriptor, until its request head has arrived whole.
 *
 * libmicrohttpd runs one thread per connection, which is what lets a
 * handler block on an exec or a transfer. Left to accept by itself, it also
 * gave a thread to every idle or trickling connection, so a few hundred
 * sockets from one client made it refuse everyone else. The front accepts
 * instead: one epoll thread holds new connections, reads nothing (it peeks),
 * and hands a connection to libmicrohttpd (MHD_add_connection) only when
 * the request head is complete and well formed, and, for a body of up to
 * FRONT_SMALL_BODY bytes (every JSON call but a large stdin), when the
 * body has arrived too: a slow body then costs a descriptor, not a thread.
 * Larger bodies (uploads) are the handlers' to time. What it refuses, it answers
 * itself with the server's JSON error body and closes:
 *
 *   bytes that cannot start an HTTP request (a TLS hello, NUL)  400, at once
 *   a request line that is not "METHOD target HTTP/1.x"          400 / 505
 *   a head over max_head_bytes                                    431
 *   a head not complete within head_timeout_ms of the connect    408
 *   a small body not complete within body_timeout_ms of its head 408
 *   a Content-Length that is not one decimal number              400
 *   more than max_per_ip connections from one address            429
 *   more than max_pending connections waiting in the front       503
 *
 * max_per_ip counts a client's connections from accept to close, in the
 * front and in libmicrohttpd alike (front_connection_closed() is called
 * from the daemon's connection-closed notification).
 */
#ifndef NOXRUNNERD_FRONT_H
#define NOXRUNNERD_FRONT_H

#include <microhttpd.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct front front;

#define FRONT_SMALL_BODY (64 * 1024)

typedef struct front_config {
    int listen_fd;            /* bound and listening; the front owns it */
    unsigned max_pending;     /* connections waiting for their head */
    unsigned max_per_ip;      /* connections per client address */
    unsigned head_timeout_ms; /* the whole head, from accept */
    unsigned body_timeout_ms; /* a small body, from its head */
    size_t max_head_bytes;    /* request line and headers */
} front_config;

/* Start the front's thread for daemon d (started with
 * MHD_USE_NO_LISTEN_SOCKET). 0, or -1 with why in err. */
int front_start(front **out, const front_config *cfg, struct MHD_Daemon *d, char *err,
                size_t cap);
/* Stop accepting and close the connections still waiting (shutdown). */
void front_stop(front *f);
void front_free(front *f);
/* A connection handed to the daemon has closed. */
void front_connection_closed(front *f, const struct sockaddr *addr);
/* What the front makes of the first n bytes a connection sent (the
 * decision on_readable acts on; a pure function, for tests and fuzzing). */
enum {
    FRONT_MORE,       /* nothing wrong yet: wait for more */
    FRONT_WAIT_BODY,  /* the head is in; a small body is still coming */
    FRONT_READY,      /* head (and small body) complete: hand it over */
    FRONT_NOT_HTTP,   /* 400 */
    FRONT_VERSION,    /* 505 */
    FRONT_BAD_FIELD,  /* 400 */
    FRONT_BAD_HOST,   /* 400 */
    FRONT_BAD_LENGTH, /* 400 */
    FRONT_TOO_BIG,    /* 431 */
};
int front_verdict(const char *p, size_t n, size_t max_head_bytes);

/* Requests refused by the front so far, for the log. */
unsigned long front_refused(const front *f);

#endif /* NOXRUNNERD_FRONT_H */
