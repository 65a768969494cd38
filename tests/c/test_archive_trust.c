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

#include <errno.h>
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

/* The file dir/name equals the pattern. */
static int file_holds_pattern(const char *dir, const char *name, const uint8_t *pattern) {
    char *path = nox__asprintf("%s/%s", dir, name);
    size_t n = 0;
    char *got = path ? nt_read_file(path, &n) : NULL;
    int same = got && n == DATA_LEN && memcmp(got, pattern, n) == 0;
    free(got);
    free(path);
    return same;
}

static int holds_pattern(const char *dir, const uint8_t *pattern) {
    return file_holds_pattern(dir, "data.bin", pattern);
}

/* The offset of the middle of the file's data inside a stored archive. */
static size_t data_offset(const nox__buf *tgz, const uint8_t *pattern) {
    const uint8_t *hit = memmem(tgz->data, tgz->len, pattern + DATA_LEN / 2, 64);
    return hit ? (size_t)(hit - tgz->data) : 0;
}

/* Extracting d[0..n) (piece bytes per read, 0: any) gives the pattern. */
static int extracts_whole(const uint8_t *d, size_t n, size_t piece, const uint8_t *pattern) {
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(d, n, piece, &dest, &err);
    int same = rc == 0 && holds_pattern(dest, pattern);
    if (!same)
        fprintf(stderr, "    got %s: %s\n", nox_code_name(rc),
                err ? nox_error_message(err) : "(different bytes)");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    return same;
}

/* Extracting d[0..n) is refused with NOX_EARCHIVE naming needle. */
static int refused_naming(const uint8_t *d, size_t n, const char *needle) {
    char *dest = NULL;
    nox_error *err = NULL;
    int rc = extract_bytes(d, n, 0, &dest, &err);
    int named = rc == NOX_EARCHIVE && err && strstr(nox_error_message(err), needle);
    if (!named)
        fprintf(stderr, "    got %s: %s\n", nox_code_name(rc),
                err ? nox_error_message(err) : "(no error)");
    nox_error_free(err);
    nt_rm_rf(dest);
    free(dest);
    return named;
}

/* ---- tests -------------------------------------------------------------- */

NT_TEST(intact_stored_archive_extracts_whole) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(0, &tgz, pattern), 0);
    int ok = extracts_whole(tgz.data, tgz.len, 0, pattern);
    nox__buf_free(&tgz);
    NT_CHECK(ok);
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
    int ok = refused_naming(tgz.data, tgz.len, "incorrect data check");
    nox__buf_free(&tgz);
    NT_CHECK(ok);
}

NT_TEST(wrong_length_in_the_trailer_is_refused) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(1, &tgz, pattern), 0);
    tgz.data[tgz.len - 4] ^= 0x01; /* ISIZE, little-endian: its low byte */
    int ok = refused_naming(tgz.data, tgz.len, "incorrect length check");
    nox__buf_free(&tgz);
    NT_CHECK(ok);
}

NT_TEST(archive_cut_before_its_trailer_is_refused) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(1, &tgz, pattern), 0);
    int ok = refused_naming(tgz.data, tgz.len - 6, "ends early");
    nox__buf_free(&tgz);
    NT_CHECK(ok);
}

/* One byte per read: the magic split over two reads must still be seen. */
NT_TEST(archive_read_one_byte_at_a_time_extracts_whole) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_targz(1, &tgz, pattern), 0);
    int ok = extracts_whole(tgz.data, tgz.len, 1, pattern);
    nox__buf_free(&tgz);
    NT_CHECK(ok);
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
    int ok = made && extracts_whole(gz.data, gz.len, 0, pattern);
    nox__buf_free(&gz);
    NT_CHECK(made);
    NT_CHECK(ok);
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
    int ok = refused_naming(gz.data, gz.len, "incorrect data check");
    nox__buf_free(&gz);
    NT_CHECK(ok);
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

/* ---- all or nothing ----------------------------------------------------- */

/* Every entry under dir with its type, size and (files) content, sorted:
 * equal listings mean nothing was added, removed or changed. malloc'd. */
static char *listing(const char *dir) {
    char *cmd = nox__asprintf("cd '%s' && find . -printf '%%p %%y %%s %%m\\n' -type f "
                              "-exec md5sum {} + | sort", dir);
    FILE *f = cmd ? popen(cmd, "r") : NULL;
    free(cmd);
    if (!f)
        return NULL;
    nox__buf out = {0};
    char line[512];
    while (fgets(line, sizeof line, f))
        nox__buf_append(&out, line, strlen(line));
    pclose(f);
    nox__buf_append(&out, "", 1);
    return (char *)out.data;
}

/* A destination with something in it already: a file, a directory with a
 * file, an empty directory. */
static char *populated_dest(void) {
    char *dest = nt_mkdtemp("dest");
    char *a = nox__asprintf("%s/a.txt", dest), *sub = nox__asprintf("%s/sub", dest);
    char *x = nox__asprintf("%s/sub/x.txt", dest), *e = nox__asprintf("%s/empty", dest);
    int rc = nt_write_file(a, "old a\n", 6, 0644) | mkdir(sub, 0755) |
             nt_write_file(x, "old x\n", 6, 0600) | mkdir(e, 0700);
    free(a), free(sub), free(x), free(e);
    if (rc != 0) {
        nt_rm_rf(dest);
        free(dest);
        return NULL;
    }
    return dest;
}

/* A tar.gz that overwrites a.txt, adds sub/y.txt and new/z.bin (the
 * pattern), then has `last` (a name that may be refused) as a file. */
static int make_overwriting_level(nox__buf *out, const char *last, uint8_t *pattern,
                                  int level) {
    fill_pattern(pattern, DATA_LEN);
    nox_files *f = NULL;
    nox_error *err = NULL;
    int rc = nox_files_new(&f, &err);
    if (rc == 0)
        rc = nox_files_add(f, "a.txt", (const uint8_t *)"new a\n", 6, 0644, &err);
    if (rc == 0)
        rc = nox_files_add(f, "sub/y.txt", (const uint8_t *)"y\n", 2, 0644, &err);
    if (rc == 0)
        rc = nox_files_add(f, "new/z.bin", pattern, DATA_LEN, 0644, &err);
    if (rc == 0 && last)
        rc = nox_files_add(f, last, (const uint8_t *)"last\n", 5, 0644, &err);
    nox__sink sink = {nox__sink_buf_write, out, 0};
    if (rc == 0)
        rc = nox__archive_write_files_level(f, level, &sink, &err);
    nox_error_free(err);
    nox_files_free(f);
    return rc;
}

static int make_overwriting(nox__buf *out, const char *last, uint8_t *pattern) {
    return make_overwriting_level(out, last, pattern, 0);
}

/* Extract data into dest; the destination must list the same after. */
static int leaves_dest(const char *dest, const uint8_t *data, size_t len,
                            const nox__archive_limits *lim, int want, const char *needle) {
    char *before = listing(dest);
    mem_reader r = {data, len, 0, 0};
    nox_error *err = NULL;
    int rc = nox__archive_extract(mem_read, &r, dest, lim, &err);
    char *after = listing(dest);
    int same = before && after && strcmp(before, after) == 0;
    int named = err && (!needle || strstr(nox_error_message(err), needle));
    if (rc != want || !named || !same)
        fprintf(stderr, "    rc %s (%s)\n    before:\n%s    after:\n%s", nox_code_name(rc),
                err ? nox_error_message(err) : "no error", before, after);
    nox_error_free(err);
    free(before);
    free(after);
    return rc == want && named && same;
}

/* The same into a fresh populated_dest(), removed afterwards. */
static int fails_and_leaves(const uint8_t *data, size_t len, const nox__archive_limits *lim,
                            int want, const char *needle) {
    char *dest = populated_dest();
    int ok = dest && leaves_dest(dest, data, len, lim, want, needle);
    if (dest)
        nt_rm_rf(dest);
    free(dest);
    return ok;
}

NT_TEST(refused_entry_after_good_ones_leaves_the_destination_as_it_was) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    /* nox_files refuses "..": the name goes in by hand, the way an
     * attacker would put it, into a plain tar (no CRC to notice). */
    int made = make_overwriting_level(&tgz, "zz/dotdot.txt", pattern, NOX__TAR_PLAIN) == 0;
    char *at = made ? memmem(tgz.data, tgz.len, "zz/dotdot.txt", 13) : NULL;
    made = at != NULL && (size_t)(at - (char *)tgz.data) % 512 == 0;
    if (made) {
        memcpy(at, "../dotdot.txt", 13);
        uint8_t *h = (uint8_t *)at; /* the checksum covers the name: redo it */
        unsigned sum = 0;
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
            sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
    }
    int ok = made && fails_and_leaves(tgz.data, tgz.len, NULL, NOX_EARCHIVE, "..");
    nox__buf_free(&tgz);
    NT_CHECK(made);
    NT_CHECK(ok);
}

NT_TEST(archive_cut_in_a_file_leaves_no_partial_file) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    int made = make_overwriting(&tgz, NULL, pattern) == 0;
    size_t cut = made ? data_offset(&tgz, pattern) : 0; /* inside new/z.bin */
    int ok = cut > 0 && fails_and_leaves(tgz.data, cut, NULL, NOX_EARCHIVE, NULL);
    nox__buf_free(&tgz);
    NT_CHECK(cut > 0);
    NT_CHECK(ok);
}

NT_TEST(limit_passed_late_leaves_the_destination_as_it_was) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    int made = make_overwriting(&tgz, "zzz.txt", pattern) == 0;
    nox__archive_limits lim = {.max_bytes = 0, .max_entries = 4}; /* 4 dirs/files fit */
    int ok = made && fails_and_leaves(tgz.data, tgz.len, &lim, NOX_ETOOBIG,
                                      "max_entries");
    nox__buf_free(&tgz);
    NT_CHECK(made);
    NT_CHECK(ok);
}

/* A file where the destination has a directory is refused before
 * anything moves, though the entries before it were fine. */
NT_TEST(conflict_found_before_anything_moves) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    int made = make_overwriting(&tgz, "empty", pattern) == 0;
    int ok = made && fails_and_leaves(tgz.data, tgz.len, NULL, NOX_EARCHIVE,
                                      "a directory \"empty\" is in the way");
    nox__buf_free(&tgz);
    NT_CHECK(made);
    NT_CHECK(ok);
}

NT_TEST(failed_extraction_removes_the_directories_it_made_for_dest) {
    static uint8_t pattern[DATA_LEN];
    char *top = nt_mkdtemp("made");
    char *dest = nox__asprintf("%s/one/two", top);
    char *one = nox__asprintf("%s/one", top);
    nox__buf tgz = {0};
    int made = make_overwriting(&tgz, NULL, pattern) == 0;
    mem_reader r = {tgz.data, made ? tgz.len / 2 : 0, 0, 0};
    nox_error *err = NULL;
    int rc = nox__archive_extract(mem_read, &r, dest, NULL, &err);
    struct stat st;
    int gone = stat(one, &st) != 0 && errno == ENOENT;
    nox_error_free(err);
    nt_rm_rf(top);
    free(top), free(dest), free(one);
    nox__buf_free(&tgz);
    NT_CHECK(made);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(gone);
}

/* The control: a good archive merges into what is there. */
NT_TEST(good_archive_merges_into_the_destination) {
    static uint8_t pattern[DATA_LEN];
    char *dest = populated_dest();
    NT_CHECK(dest != NULL);
    nox__buf tgz = {0};
    int made = make_overwriting(&tgz, "empty/inside.txt", pattern) == 0;
    mem_reader r = {tgz.data, made ? tgz.len : 0, 0, 0};
    nox_error *err = NULL;
    int rc = nox__archive_extract(mem_read, &r, dest, NULL, &err);
    char *after = listing(dest);
    int ok = after && strstr(after, "./sub/x.txt f 6 600") && strstr(after, "./sub/y.txt f 2") &&
             strstr(after, "./empty/inside.txt f 5") && !strstr(after, ".nox-stage") &&
             file_holds_pattern(dest, "new/z.bin", pattern);
    char *a = nox__asprintf("%s/a.txt", dest);
    size_t n = 0;
    char *text = nt_read_file(a, &n);
    ok = ok && text && strcmp(text, "new a\n") == 0;
    if (!ok)
        fprintf(stderr, "    rc %d %s\n%s", rc, err ? nox_error_message(err) : "", after);
    nox_error_free(err);
    free(text), free(a), free(after);
    nt_rm_rf(dest);
    free(dest);
    nox__buf_free(&tgz);
    NT_CHECK(made);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(ok);
}

/* Through the real parts: a sandbox's /workspace after a refused upload
 * lists exactly as before, on both backends. */
static char *ws_listing(nox_client *c, const char *sid) {
    shres r = nt_sh(c, sid, "cd /workspace && find . -printf '%p %y %s\\n' | sort", 30);
    if (r.code != 0) {
        free(r.out);
        return NULL;
    }
    r.out[r.out_len] = 0;
    return r.out;
}

static void upload_leaves_workspace(nox_client *c, const char *sid, const uint8_t *data,
                                    size_t len, int want) {
    NT_CHECK_INT(nt_create_limited(c, sid, NULL, NULL, NULL, 300), 0);
    nox_exec_result *res = nt_exec_ok(c, sid, (const char *const[]){
        "sh", "-c", "mkdir -p sub && echo old > a.txt && echo x > sub/x.txt", NULL});
    nox_exec_result_free(res);
    NT_CHECK(res != NULL);
    char *before = ws_listing(c, sid);
    nox_error *err = NULL;
    int rc = nox_upload_targz(c, sid, data, len, NULL, &err);
    char *after = ws_listing(c, sid);
    int same = before && after && strcmp(before, after) == 0;
    if (rc != want || !same)
        fprintf(stderr, "    rc %s (%s)\n    before:\n%s    after:\n%s", nox_code_name(rc),
                err ? nox_error_message(err) : "-", before, after);
    nox_error_free(err);
    free(before);
    free(after);
    NT_CHECK_INT(rc, want);
    NT_CHECK(same);
}

NT_TEST(local_upload_cut_short_leaves_the_workspace_as_it_was) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_overwriting(&tgz, NULL, pattern), 0);
    size_t cut = data_offset(&tgz, pattern);
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    const char *sid = nt_sid("cut");
    if (c && cut)
        upload_leaves_workspace(c, sid, tgz.data, cut, NOX_EARCHIVE);
    if (c)
        nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
    nox__buf_free(&tgz);
    NT_CHECK(c != NULL && cut > 0);
}

/* The 413: the server refuses the body part-way; what the sandbox
 * had extracted by then used to stay, with a truncated last file. */
NT_TEST(http_upload_over_the_server_limit_leaves_the_workspace_as_it_was) {
    static uint8_t pattern[DATA_LEN];
    nox__buf tgz = {0};
    NT_CHECK_INT(make_overwriting(&tgz, NULL, pattern), 0);
    nt_server s;
    const char *args[] = {"--max-upload-bytes", "64K", NULL};
    NT_CHECK_INT(nt_server_start(&s, args), 0);
    nox_client *c = nt_http_client(&s, NULL);
    const char *sid = nt_sid("413");
    if (c)
        upload_leaves_workspace(c, sid, tgz.data, tgz.len, NOX_ETOOBIG);
    if (c)
        nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    nox__buf_free(&tgz);
    NT_CHECK_INT(nt_server_stop(&s), 0);
    NT_CHECK(c != NULL);
}

/* ---- the sandbox's storage limit holds while extracting ------------------ */

/* The bomb: a small tar.gz of one 64 MiB file of zeros, sent to a
 * sandbox with ephemeralStorageLimit 16Mi. It used to land whole (and the
 * sandbox was evicted seconds later); it is refused before a byte is
 * written, the workspace stays as it was and the sandbox lives on. */
static void bomb_is_refused(nox_client *c, const char *sid) {
    enum { BOMB = 64 << 20 };
    uint8_t *zeros = calloc(1, BOMB);
    nox_files *f = NULL;
    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    int made = zeros && nox_files_new(&f, NULL) == 0 &&
               nox_files_add(f, "bomb.bin", zeros, BOMB, 0644, NULL) == 0 &&
               nox__archive_write_files_level(f, 6, &sink, NULL) == 0;
    nox_files_free(f);
    free(zeros);
    int created = made ? nt_create_limited(c, sid, NULL, NULL, "16Mi", 300) : -1;
    char *before = created == 0 ? ws_listing(c, sid) : NULL;
    nox_error *err = NULL;
    int rc = before ? nox_upload_targz(c, sid, tgz.data, tgz.len, NULL, &err) : -1;
    int named = err && strstr(nox_error_message(err), "ephemeralStorageLimit");
    if (!named)
        fprintf(stderr, "    got %s: %s\n", nox_code_name(rc),
                err ? nox_error_message(err) : "(no error)");
    nox_error_free(err);
    char *after = before ? ws_listing(c, sid) : NULL; /* also: it still answers */
    int same = before && after && strcmp(before, after) == 0;
    free(before);
    free(after);
    nox__buf_free(&tgz);
    NT_CHECK(made);
    NT_CHECK_INT(created, 0);
    NT_CHECK_INT(rc, NOX_ETOOBIG);
    NT_CHECK(named);
    NT_CHECK(same);
}

/* Storage limits hold at level namespaces only. */
static int storage_limits_hold(nox_client *c) {
    if (nox_client_isolation(c) == NOX_ISOLATION_NAMESPACES)
        return 1;
    nt_skip("namespaces", "storage limits need isolation level namespaces");
    return 0;
}

NT_TEST(local_gzip_bomb_over_the_storage_limit_is_refused_while_extracting) {
    char *base = NULL;
    nox_client *c = nt_local_client(NULL, &base);
    NT_CHECK(c != NULL);
    const char *sid = nt_sid("bomb");
    if (storage_limits_hold(c))
        bomb_is_refused(c, sid);
    nox_sandbox_delete(c, sid, NULL);
    nox_client_free(c);
    nt_rm_rf(base);
    free(base);
}

NT_TEST(http_gzip_bomb_over_the_storage_limit_is_refused_while_extracting) {
    nt_server s;
    NT_CHECK_INT(nt_server_start(&s, NULL), 0);
    nox_client *c = nt_http_client(&s, NULL);
    const char *sid = nt_sid("bomb");
    char *base = NULL;
    nox_client *local = nt_local_client(NULL, &base); /* what level the host gives */
    if (c && local && storage_limits_hold(local))
        bomb_is_refused(c, sid);
    nox_client_free(local);
    nt_rm_rf(base);
    free(base);
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
    NT_RUN(refused_entry_after_good_ones_leaves_the_destination_as_it_was);
    NT_RUN(archive_cut_in_a_file_leaves_no_partial_file);
    NT_RUN(limit_passed_late_leaves_the_destination_as_it_was);
    NT_RUN(conflict_found_before_anything_moves);
    NT_RUN(failed_extraction_removes_the_directories_it_made_for_dest);
    NT_RUN(good_archive_merges_into_the_destination);
    NT_RUN(local_upload_cut_short_leaves_the_workspace_as_it_was);
    NT_RUN(http_upload_over_the_server_limit_leaves_the_workspace_as_it_was);
    NT_RUN(local_gzip_bomb_over_the_storage_limit_is_refused_while_extracting);
    NT_RUN(http_gzip_bomb_over_the_storage_limit_is_refused_while_extracting);
    return nt_main_end();
}
