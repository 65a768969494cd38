/*
 * test_archive_trust.c - archives from people you do not trust: a damaged
 * gzip stream is refused, never written as different bytes.
 *
 * The archives are real: made by our writer (gzip level 0, stored blocks,
 * so a flipped bit in a file's data still inflates and only the CRC-32
 * can tell) or by zlib directly (several members), then damaged here.
 */
#include "nox_test.h"

#include "archive.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DATA_LEN (96 * 1024)

/* ---- fixtures ----------------------------------------------------------- */

typedef struct mem_reader {
    const uint8_t *data;
    size_t len, off;
    size_t piece; /* at most this much per call (0: as much as fits) */
} mem_reader;

static int mem_read(void *ctx, uint8_t *buf, size_t cap, size_t *got, nox_error **err) {
    (void)err;
    mem_reader *r = ctx;
    size_t n = r->len - r->off;
    if (n > cap)
        n = cap;
    if (r->piece && n > r->piece)
        n = r->piece;
    memcpy(buf, r->data + r->off, n);
    r->off += n;
    *got = n;
    return 0;
}

/* Extract data[0..len) into a fresh directory (*dest_out, caller frees
 * and removes); fills *err like the library does. */
static int extract_bytes(const uint8_t *data, size_t len, size_t piece, char **dest_out,
                         nox_error **err) {
    *dest_out = nt_mkdtemp("trust");
    mem_reader r = {data, len, 0, piece};
    return nox__archive_extract(mem_read, &r, *dest_out, NULL, err);
}

/* The pattern every test file holds: no run of it repeats within 64 KiB,
 * so a search for it finds the one place it sits in a stored archive. */
static void fill_pattern(uint8_t *p, size_t n) {
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* A tar.gz of one file "data.bin" (the pattern) at a gzip level. */
static int make_targz(int level, nox__buf *out, uint8_t *pattern) {
    fill_pattern(pattern, DATA_LEN);
    nox_files *f = NULL;
    nox_error *err = NULL;
    int rc = nox_files_new(&f, &err);
    if (rc == 0)
        rc = nox_files_add(f, "data.bin", pattern, DATA_LEN, 0644, &err);
    nox__sink sink = {nox__sink_buf_write, out, 0};
    if (rc == 0)
        rc = nox__archive_write_files_level(f, level, &sink, &err);
    if (rc != 0)
        fprintf(stderr, "    make_targz: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    nox_files_free(f);
    return rc;
}

/* The data.bin under dir equals the pattern. */
static int holds_pattern(const char *dir, const uint8_t *pattern) {
    char *path = nox__asprintf("%s/data.bin", dir);
    size_t n = 0;
    char *got = path ? nt_read_file(path, &n) : NULL;
    int same = got && n == DATA_LEN && memcmp(got, pattern, n) == 0;
    free(got);
    free(path);
    return same;
}

/* The offset of the middle of the file's data inside a stored archive. */
static size_t data_offset(const nox__buf *tgz, const uint8_t *pattern) {
    const uint8_t *hit = memmem(tgz->data, tgz->len, pattern + DATA_LEN / 2, 64);
    return hit ? (size_t)(hit - tgz->data) : 0;
}

/* ---- tests -------------------------------------------------------------- */

NT_TEST(intact_stored_archive_extracts_whole) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(0, &tgz, pattern), 0);
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(tgz.data, tgz.len, 0, &dest, &err);
    int same = rc == 0 && holds_pattern(dest, pattern);
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(same);
}

/* The case: inflate succeeds, only the trailer's CRC-32 differs.
 * libarchive alone wrote the flipped byte and reported success. */
NT_TEST(bit_flip_in_file_data_is_refused_by_the_crc) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(0, &tgz, pattern), 0);
    size_t off = data_offset(&tgz, pattern);
    NT_CHECK(off > 0);
    tgz.data[off] ^= 0x10;
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(tgz.data, tgz.len, 0, &dest, &err);
    int named = err && strstr(nox_error_message(err), "incorrect data check");
    if (!named)
        fprintf(stderr, "    got %s: %s\n", nox_code_name(rc),
                err ? nox_error_message(err) : "(no error)");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
}

NT_TEST(wrong_length_in_the_trailer_is_refused) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(1, &tgz, pattern), 0);
    tgz.data[tgz.len - 4] ^= 0x01; /* ISIZE, little-endian: its low byte */
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(tgz.data, tgz.len, 0, &dest, &err);
    int named = err && strstr(nox_error_message(err), "incorrect length check");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
}

NT_TEST(archive_cut_before_its_trailer_is_refused) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(1, &tgz, pattern), 0);
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(tgz.data, tgz.len - 6, 0, &dest, &err);
    int named = err && strstr(nox_error_message(err), "ends early");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
}

/* One byte per read: the magic split over two reads must still be seen. */
NT_TEST(archive_read_one_byte_at_a_time_extracts_whole) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(1, &tgz, pattern), 0);
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(tgz.data, tgz.len, 1, &dest, &err);
    int same = rc == 0 && holds_pattern(dest, pattern);
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(same);
}

/* gzip of in[0..n) as one member, appended to out. */
static int gzip_member(const uint8_t *in, size_t n, nox__buf *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong cap = deflateBound(&z, (uLong)n);
    uint8_t *tmp = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = tmp;
    z.avail_out = (uInt)cap;
    int zrc = tmp ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
    int rc = zrc == Z_STREAM_END ? nox__buf_append(out, tmp, z.total_out) : -1;
    deflateEnd(&z);
    free(tmp);
    return rc;
}

/* `cat a.gz b.gz` is one gzip stream to gzip -d: the tar spans both. */
NT_TEST(concatenated_gzip_members_extract_as_one_stream) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tar = {0}, gz = {0};
    NT_CHECK_INT(make_targz(NOX__TAR_PLAIN, &tar, pattern), 0);
    size_t half = tar.len / 2 + 7;
    int made = gzip_member(tar.data, half, &gz) == 0 &&
               gzip_member(tar.data + half, tar.len - half, &gz) == 0;
    nox__buf_free(&tar);
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = made ? extract_bytes(gz.data, gz.len, 0, &dest, &err) : -1;
    int same = rc == 0 && holds_pattern(dest, pattern);
    if (rc != 0)
        fprintf(stderr, "    %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&gz);
    NT_CHECK(made);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(same);
}

/* A damaged second member is caught too, not only the first. */
NT_TEST(bit_flip_in_a_later_member_is_refused) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tar = {0}, gz = {0};
    NT_CHECK_INT(make_targz(NOX__TAR_PLAIN, &tar, pattern), 0);
    size_t half = tar.len / 2;
    int made = gzip_member(tar.data, half, &gz) == 0 &&
               gzip_member(tar.data + half, tar.len - half, &gz) == 0;
    nox__buf_free(&tar);
    NT_CHECK(made);
    gz.data[gz.len - 5] ^= 0x80; /* the second member's CRC-32 */
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(gz.data, gz.len, 0, &dest, &err);
    int named = err && strstr(nox_error_message(err), "incorrect data check");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&gz);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
}

/* The same through the public API, on a real sandbox of each backend. */
static void upload_flipped(nox_client *c, const char *sid) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(0, &tgz, pattern), 0);
    size_t off = data_offset(&tgz, pattern);
    tgz.data[off] ^= 0x10;
    nox_sandbox_info *info = NULL;
    nox_error *err = NULL;
    int rc = nox_sandbox_create(c, sid, NULL, &info, &err);
    nox_sandbox_info_free(info);
    if (rc == 0)
        rc = nox_upload_targz(c, sid, tgz.data, tgz.len, NULL, &err);
    int named = err && strstr(nox_error_message(err), "incorrect data check");
    if (!named)
        fprintf(stderr, "    got %s: %s\n", nox_code_name(rc),
                err ? nox_error_message(err) : "(no error)");
    nox_error_free(err);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
}

NT_TEST(local_upload_of_a_flipped_archive_is_refused) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    const char *sid = nt_sid("flip");
    upload_flipped(c, sid);
    nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

NT_TEST(http_upload_of_a_flipped_archive_is_refused) {
    nt_server s;
    NT_CHECK_INT(nt_server_start(&s, NULL), 0);
    nox_client *c = nt_http_client(&s, NULL);
    const char *sid = nt_sid("flip");
    if (c)
        upload_flipped(c, sid);
    if (c)
        nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(c != NULL);
}

int main(void) {
    NT_RUN(intact_stored_archive_extracts_whole);
    NT_RUN(bit_flip_in_file_data_is_refused_by_the_crc);
    NT_RUN(wrong_length_in_the_trailer_is_refused);
    NT_RUN(archive_cut_before_its_trailer_is_refused);
    NT_RUN(archive_read_one_byte_at_a_time_extracts_whole);
    NT_RUN(concatenated_gzip_members_extract_as_one_stream);
    NT_RUN(bit_flip_in_a_later_member_is_refused);
    NT_RUN(local_upload_of_a_flipped_archive_is_refused);
    NT_RUN(http_upload_of_a_flipped_archive_is_refused);
    return nt_main_end();
}
