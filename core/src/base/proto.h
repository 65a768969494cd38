/*
 * proto.h - the private wire protocol between the local backend and the
 * nox-sandbox agent, over the agent's unix stream socket.
 *
 * Everything is a frame: [u8 type][u32 big-endian length][payload]. One
 * connection carries one operation: the client sends a REQ frame whose
 * payload is a list of fields [u8 key][u32 length][bytes] (the first field
 * is the protocol version, so a mismatched agent answers FAIL instead of
 * guessing), optionally followed by STDIN or DATA frames; the agent answers
 * with OK or FAIL, or with STARTED and a stream of frames that ends in EXIT
 * (exec) or DATA_END + OK (download). Integers in fields are 8 bytes big
 * endian. A connection dropped by the client cancels what it started.
 *
 * Both sides link this file through noxbase: the library and the agent.
 */
#ifndef NOX_LOCAL_PROTO_H
#define NOX_LOCAL_PROTO_H

#include <stdint.h>

#include "base/buf.h"

#define NOXP_VERSION 1
#define NOXP_HEADER 5
#define NOXP_MAX_FRAME (4u * 1024u * 1024u) /* a bigger frame is a protocol error */
#define NOXP_CHUNK (64u * 1024u)           /* exec output frames are at most this */
#define NOXP_FILE_CHUNK (256u * 1024u)     /* and archive data frames this */

/* Frame types. */
enum {
    NOXP_REQ = 'Q',       /* client: the request fields */
    NOXP_STDIN = 'I',     /* client: stdin bytes for exec */
    NOXP_STDIN_END = 'i', /* client: end of stdin */
    NOXP_DATA = 'D',      /* either way: archive bytes (upload, download) */
    NOXP_DATA_END = 'd',  /* either way: end of archive bytes */
    NOXP_STARTED = 'S',   /* agent: the request was accepted, stream follows */
    NOXP_STDOUT = 'O',    /* agent: a chunk of the command's stdout */
    NOXP_STDERR = 'E',    /* agent: a chunk of its stderr */
    NOXP_EXIT = 'X',      /* agent: result fields, last frame of an exec */
    NOXP_OK = 'K',        /* agent: success, with result fields */
    NOXP_FAIL = 'F'       /* agent: failure: CODE and MSG fields */
};

/* Field keys. */
enum {
    NOXK_VERSION = 1,
    NOXK_OP,          /* "ping", "info", "touch", "exec", "upload", ... */
    NOXK_ARG,         /* repeated: argv */
    NOXK_ENV,         /* repeated: "K=V" */
    NOXK_WORKDIR,
    NOXK_TIMEOUT,     /* seconds */
    NOXK_MAXOUT,      /* bytes per stream */
    NOXK_HAS_STDIN,   /* 1: STDIN frames follow, then STDIN_END */
    NOXK_TTL,         /* seconds */
    NOXK_PATH,        /* upload dest, download src */
    NOXK_MAXBYTES,
    NOXK_MAXENTRIES,
    NOXK_CODE,        /* NOX_E* code of a FAIL */
    NOXK_MSG,
    NOXK_EXIT,
    NOXK_SIGNAL,
    NOXK_TIMEDOUT,
    NOXK_OUTTRUNC,
    NOXK_ERRTRUNC,
    NOXK_DURATION,    /* milliseconds */
    NOXK_EXPIRES,     /* unix seconds */
    NOXK_SID,
    NOXK_POD,
    NOXK_PID,
    NOXK_ACK_START,   /* exec: 1 = answer STARTED once running (streams) */
    NOXK_GZIP         /* download: gzip level 0..9, or NOXP_TAR_PLAIN; an
                         agent that predates it sends gzip, which every
                         receiver of ours detects */
};

/* The ready fd between the agent and its creator carries short text
 * lines (core/agent/agent.h says which); none is longer than this,
 * newline included. */
#define NOXP_READY_LINE_MAX 4096

#define NOXP_TAR_PLAIN 255 /* NOXK_GZIP: a plain tar, no gzip layer */

/* ---- fields ------------------------------------------------------------- */

int noxp_put_bytes(nox__buf *b, uint8_t key, const void *v, size_t n);
int noxp_put_str(nox__buf *b, uint8_t key, const char *s);
int noxp_put_u64(nox__buf *b, uint8_t key, uint64_t v);

typedef struct noxp_iter {
    const uint8_t *p;
    size_t n;
} noxp_iter;
/* 1 with the next field, 0 at the end, -1 when malformed. */
int noxp_next(noxp_iter *it, uint8_t *key, const uint8_t **val, uint32_t *len);
/* The 8-byte integer in val; 0 when len is wrong. */
uint64_t noxp_u64(const uint8_t *val, uint32_t len);
/* First field with key as a malloc'd C string (NULL when absent, or when
 * it holds a NUL byte). */
char *noxp_get_str(const uint8_t *p, size_t n, uint8_t key);
/* First field with key as an integer; def when absent. */
uint64_t noxp_get_u64(const uint8_t *p, size_t n, uint8_t key, uint64_t def);
int noxp_has(const uint8_t *p, size_t n, uint8_t key);

/* ---- frames ------------------------------------------------------------- */

/* Send one frame (blocking socket, or non-blocking with a poll until
 * deadline_ms on nox__now_ms(); -1: none). 0 or -errno (-EPIPE when the
 * peer is gone, -ETIMEDOUT). Never raises SIGPIPE. */
int noxp_send(int fd, uint8_t type, const void *payload, size_t n,
              int64_t deadline_ms);
/* Build the header of a frame into out[NOXP_HEADER]. */
void noxp_header(uint8_t out[NOXP_HEADER], uint8_t type, uint32_t n);

/* Buffered frame reader. */
typedef struct noxp_reader {
    int fd;
    uint8_t *buf;
    size_t off, len, cap;
    size_t consumed; /* bytes of the frame handed out by the last call */
} noxp_reader;
void noxp_reader_init(noxp_reader *r, int fd);
void noxp_reader_free(noxp_reader *r);
/* Next frame; *payload stays valid until the next call. 0, -ETIMEDOUT
 * when deadline_ms (on nox__now_ms(); -1: none) passes, -EPIPE at end of
 * stream, -EPROTO for an oversized frame, or -errno. */
int noxp_read(noxp_reader *r, int64_t deadline_ms, uint8_t *type,
              const uint8_t **payload, uint32_t *len);
/* Bytes already buffered (a complete frame may be waiting). */
int noxp_reader_has_frame(const noxp_reader *r);

/* FAIL payload with code and message. */
int noxp_fail_payload(nox__buf *b, int code, const char *msg);

#endif /* NOX_LOCAL_PROTO_H */
