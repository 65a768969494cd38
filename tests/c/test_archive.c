/*
 * test_archive.c - the archive module: round trips of file sets and
 * directory trees, and safe extraction of hostile archives built here
 * with libarchive's writer.
 *
 * Hostile-archive tests extract into <base>/dest next to an empty
 * <base>/outside, and check that outside stays empty and nothing new
 * appears in base: a refusal that still wrote something is a failure.
 */
#include "archive.h"
#include "nox_test.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures ----------------------------------------------------------- */

typedef struct mem_reader {
    const uint8_t *data;
    size_t len, off;
    size_t piece; /* hand out at most this much per call (0: all) */
} mem_reader;

static int mem_read(void *ctx, uint8_t *buf, size_t cap, size_t *got,
                    nox_error **err) {
    (void)err;
    mem_reader *r = ctx;
    size_t n = r->len - r->off;
    if (n > cap)
        n = cap;
    if (r->piece && n > r->piece)
        n = r->piece;
    if (n)
        memcpy(buf, r->data + r->off, n);
    r->off += n;
    *got = n;
    return 0;
}

static int extract_mem(const nox__buf *b, const char *dest,
                       const nox__archive_limits *lim, nox_error **err) {
    mem_reader r = {b->data, b->len, 0, 0};
    return nox__archive_extract(mem_read, &r, dest, lim, err);
}

static char *path_in(const char *dir, const char *name) {
    return nox__asprintf("%s/%s", dir, name);
}

/* Number of entries in a directory (-1 when it cannot be read). */
static int dir_count(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int file_is(const char *dir, const char *name, const void *data,
                   size_t len) {
    char *p = path_in(dir, name);
    size_t got = 0;
    char *s = nt_read_file(p, &got);
    int ok = s && got == len && memcmp(s, data, len) == 0;
    free(s);
    free(p);
    return ok;
}

static int mode_of(const char *dir, const char *name) {
    char *p = path_in(dir, name);
    struct stat st;
    int r = lstat(p, &st);
    free(p);
    return r == 0 ? (int)(st.st_mode & 07777) : -1;
}

static int type_of(const char *dir, const char *name) {
    char *p = path_in(dir, name);
    struct stat st;
    int r = lstat(p, &st);
    free(p);
    return r == 0 ? (int)(st.st_mode & S_IFMT) : 0;
}

/* An entry of a hand-made archive. */
typedef struct tentry {
    const char *path;
    int type;         /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, ... */
    const char *link; /* symlink target, or hardlink target when hard */
    int hard;
    const char *data; /* regular files */
    int perm;         /* 0: 0644 */
} tentry;

static la_ssize_t buf_write_cb(struct archive *a, void *ctx, const void *d,
                               size_t n) {
    (void)a;
    return nox__buf_append(ctx, d, n) == 0 ? (la_ssize_t)n : -1;
}

/* Build an archive with libarchive's writer, setting names, types and
 * links directly, the way an attacker would. 0 on success. */
static int build_tar(nox__buf *out, int gzip, const tentry *ents, size_t n) {
    struct archive *a = archive_write_new();
    if (gzip)
        archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    int rc = archive_write_open2(a, out, NULL, buf_write_cb, NULL, NULL);
    struct archive_entry *e = archive_entry_new();
    for (size_t i = 0; rc == ARCHIVE_OK && i < n; i++) {
        const tentry *t = &ents[i];
        archive_entry_clear(e);
        archive_entry_set_pathname(e, t->path);
        archive_entry_set_filetype(e, (unsigned)t->type);
        archive_entry_set_perm(e, (mode_t)(t->perm ? t->perm : 0644));
        archive_entry_set_mtime(e, 1700000000, 0);
        size_t len = t->data ? strlen(t->data) : 0;
        archive_entry_set_size(e, (la_int64_t)len);
        if (t->link && t->hard)
            archive_entry_set_hardlink(e, t->link);
        else if (t->link)
            archive_entry_set_symlink(e, t->link);
        rc = archive_write_header(a, e);
        if (rc == ARCHIVE_OK && len &&
            archive_write_data(a, t->data, len) != (la_ssize_t)len)
            rc = ARCHIVE_FATAL;
    }
    if (rc == ARCHIVE_OK)
        rc = archive_write_close(a);
    archive_entry_free(e);
    archive_write_free(a);
    return rc == ARCHIVE_OK ? 0 : -1;
}

/* A scratch area: base/dest (not created: extraction makes it) and
 * base/outside (empty, must stay so). */
typedef struct scratch {
    char *base, *dest, *outside;
} scratch;

static int scratch_new(scratch *s) {
    s->dest = s->outside = NULL;
    s->base = nt_mkdtemp("arx");
    if (!s->base)
        return -1;
    s->dest = path_in(s->base, "dest");
    s->outside = path_in(s->base, "outside");
    return mkdir(s->outside, 0755);
}

static void scratch_free(scratch *s) {
    nt_rm_rf(s->base);
    free(s->base);
    free(s->dest);
    free(s->outside);
}

/* Nothing escaped: outside is empty and base holds only dest, outside and
 * the names listed in `also` (how many). */
static int nothing_escaped(const scratch *s, int also) {
    int in_base = dir_count(s->base);
    return dir_count(s->outside) == 0 && in_base <= 2 + also;
}

/* Extract a hand-made archive into a fresh scratch area and require it to
 * be refused with code, the message naming `needle`, nothing outside. */
#define CHECK_REFUSED(code, needle, ents, lim)                             \
    do {                                                                   \
        scratch s_;                                                        \
        nox__buf b_ = {0};                                                 \
        NT_CHECK(scratch_new(&s_) == 0);                                   \
        NT_CHECK(build_tar(&b_, 1, ents, sizeof(ents) / sizeof(ents[0])) == 0); \
        NT_FAILS(code, needle, extract_mem(&b_, s_.dest, lim, &err));      \
        int ok_ = nothing_escaped(&s_, 0);                                 \
        nox__buf_free(&b_);                                                \
        scratch_free(&s_);                                                 \
        NT_CHECK(ok_);                                                     \
    } while (0)

/* Entry names of an archive, in order, one "name\n" each. */
static char *list_names(const nox__buf *b) {
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    nox__buf names = {0};
    if (archive_read_open_memory(a, b->data, b->len) == ARCHIVE_OK) {
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
               r == ARCHIVE_WARN) {
            nox__buf_append_str(&names, archive_entry_pathname(e));
            nox__buf_append_str(&names, "\n");
        }
    }
    archive_read_free(a);
    nox__buf_terminate(&names);
    return (char *)names.data;
}

static size_t count_lines(const char *list, const char *line) {
    size_t n = 0, len = strlen(line);
    for (const char *p = list; (p = strstr(p, line)); p += len)
        if ((p == list || p[-1] == '\n') && p[len] == '\n')
            n++;
    return n;
}

/* Deterministic incompressible bytes. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

/* Open descriptors of this process. */
static int fd_count(void) {
    return dir_count("/proc/self/fd") - 1; /* opendir's own */
}

static long maxrss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- round trips -------------------------------------------------------- */

static const uint8_t binary[] = {0, 1, 2, 0, 0xff, 0xfe, 0, 'x', 0};
static const char *unicode_name = "donn\xc3\xa9" "es/\xe6\x97\xa5\xe6\x9c\xac.txt";

static int add_file(nox_files *f, const char *path, const void *data,
                    size_t len, uint32_t mode) {
    nox_error *err = NULL;
    int rc = nox_files_add(f, path, data, len, mode, &err);
    if (rc != 0)
        fprintf(stderr, "    nox_files_add(%s): %s\n", path,
                err ? nox_error_message(err) : "?");
    nox_error_free(err);
    return rc;
}

NT_TEST(file_set_round_trip_keeps_data_modes_and_nesting) {
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    int rc = add_file(f, "top.txt", "hello\n", 6, 0644);
    rc |= add_file(f, "bin/run.sh", "#!/bin/sh\n", 10, 0755);
    rc |= add_file(f, "secret/key", "k", 1, 0600);
    rc |= add_file(f, "deep/er/still/blob.bin", binary, sizeof binary, 0644);
    rc |= add_file(f, "deep/er/other.txt", "o", 1, 0644);
    rc |= add_file(f, "empty.txt", "", 0, 0644);
    rc |= add_file(f, unicode_name, "u", 1, 0644);
    /* Past ustar's 100-byte name field: needs a pax header. */
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    memcpy(long_name, "long/", 5);
    memcpy(long_name + 250, ".txt", 5);
    rc |= add_file(f, long_name, "L", 1, 0644);
    if (rc != 0)
        nox_files_free(f);
    NT_CHECK(rc == 0);

    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    nox_error *werr = NULL;
    rc = nox__archive_write_files(f, &sink, &werr);
    nox_files_free(f);
    nox_error_free(werr);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(tgz.len > 2 && tgz.data[0] == 0x1f && tgz.data[1] == 0x8b);

    /* Each parent directory appears once, before what it holds. */
    char *names = list_names(&tgz);
    int listed = names && count_lines(names, "deep/") == 1 &&
                 count_lines(names, "deep/er/") == 1 &&
                 count_lines(names, "deep/er/still/") == 1 &&
                 strstr(names, "deep/er/\n") < strstr(names, "deep/er/other.txt");
    free(names);

    scratch s;
    int made = scratch_new(&s) == 0;
    nox_error *err = NULL;
    rc = made ? extract_mem(&tgz, s.dest, NULL, &err) : -1;
    if (rc != 0)
        fprintf(stderr, "    extract: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    nox__buf_free(&tgz);
    int ok = rc == 0 && file_is(s.dest, "top.txt", "hello\n", 6) &&
             file_is(s.dest, "bin/run.sh", "#!/bin/sh\n", 10) &&
             file_is(s.dest, "deep/er/still/blob.bin", binary, sizeof binary) &&
             file_is(s.dest, "empty.txt", "", 0) &&
             file_is(s.dest, unicode_name, "u", 1) &&
             file_is(s.dest, long_name, "L", 1);
    int m_run = mode_of(s.dest, "bin/run.sh"), m_key = mode_of(s.dest, "secret/key");
    int m_dir = mode_of(s.dest, "deep/er");
    scratch_free(&s);
    NT_CHECK(listed);
    NT_CHECK(ok);
    NT_CHECK_INT(m_run, 0755);
    NT_CHECK_INT(m_key, 0600);
    NT_CHECK_INT(m_dir, 0755);
}

NT_TEST(file_set_with_a_name_both_file_and_directory_is_refused) {
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    int rc = add_file(f, "a/b.txt", "x", 1, 0) | add_file(f, "a", "y", 1, 0);
    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    nox_error *err = NULL;
    int wrc = rc == 0 ? nox__archive_write_files(f, &sink, &err) : 0;
    int named = err && strstr(nox_error_message(err), "\"a\"");
    nox_error_free(err);
    nox_files_free(f);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(wrc, NOX_EINVAL);
    NT_CHECK(named);
}

static int failing_write(void *ctx, const uint8_t *d, size_t n,
                         nox_error **err) {
    (void)d;
    size_t *budget = ctx;
    if (n > *budget)
        return nox__err(err, NOX_ECONNECT, "peer went away");
    *budget -= n;
    return 0;
}

NT_TEST(sink_failure_is_reported_with_the_sinks_error) {
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    static uint8_t big[1 << 20];
    fill_random(big, sizeof big, 7);
    int rc = add_file(f, "big.bin", big, sizeof big, 0);
    size_t budget = 100000;
    nox__sink sink = {failing_write, &budget, 0};
    nox_error *err = NULL;
    int wrc = rc == 0 ? nox__archive_write_files(f, &sink, &err) : 0;
    int msg = err && strstr(nox_error_message(err), "peer went away");
    nox_error_free(err);
    nox_files_free(f);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(wrc, NOX_ECONNECT);
    NT_CHECK(msg);
}

/* A source tree with everything write_dir must handle. */
static int make_tree(const char *src) {
    char p[4096];
    int rc = 0;
#define P(rel) (snprintf(p, sizeof p, "%s/%s", src, rel), p)
    rc |= nt_write_file(P("a.txt"), "alpha", 5, 0644);
    rc |= mkdir(P("sub"), 0755);
    rc |= mkdir(P("sub/deeper"), 0700);
    rc |= nt_write_file(P("sub/deeper/b.bin"), binary, sizeof binary, 0600);
    rc |= chmod(P("sub/deeper/b.bin"), 0600);
    rc |= mkdir(P("empty"), 0755);
    rc |= mkdir(P("sub/empty2"), 0750);
    rc |= chmod(P("sub/empty2"), 0750);
    rc |= symlink("sub/deeper/b.bin", P("link"));
    rc |= mkdir(P("ro"), 0755);
    rc |= nt_write_file(P("ro/inside.txt"), "inside", 6, 0644);
    rc |= chmod(P("ro"), 0555);
    rc |= mkfifo(P("fifo"), 0644); /* skipped */
    struct timespec t[2] = {{1500000000, 0}, {1500000000, 0}};
    rc |= utimensat(AT_FDCWD, P("a.txt"), t, 0);
#undef P
    return rc;
}

NT_TEST(directory_round_trip_keeps_tree_symlinks_modes_and_mtimes) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *src = path_in(s.base, "src");
    int rc = mkdir(src, 0755) | make_tree(src);
    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    nox_error *err = NULL;
    int wrc = rc == 0 ? nox__archive_write_dir(src, &sink, &err) : -1;
    if (wrc != 0)
        fprintf(stderr, "    write_dir: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    err = NULL;
    char *names = list_names(&tgz);
    int erc = wrc == 0 ? extract_mem(&tgz, s.dest, NULL, &err) : -1;
    if (erc != 0)
        fprintf(stderr, "    extract: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);

    /* Names are relative, directories end in '/', the root is not an
     * entry, the FIFO is skipped. */
    int names_ok = names && count_lines(names, "sub/") == 1 &&
                   count_lines(names, "sub/deeper/b.bin") == 1 &&
                   count_lines(names, "empty/") == 1 &&
                   !strstr(names, "./") && !strstr(names, "fifo") &&
                   names[0] != '/' && !strstr(names, "\n/");
    char target[256] = {0};
    char *lp = path_in(s.dest, "link");
    ssize_t tl = readlink(lp, target, sizeof target - 1);
    char *mp = path_in(s.dest, "a.txt");
    struct stat st = {0};
    int st_ok = stat(mp, &st) == 0;
    int content_ok = file_is(s.dest, "a.txt", "alpha", 5) &&
                     file_is(s.dest, "sub/deeper/b.bin", binary, sizeof binary) &&
                     file_is(s.dest, "ro/inside.txt", "inside", 6);
    int m_ro = mode_of(s.dest, "ro"), m_b = mode_of(s.dest, "sub/deeper/b.bin");
    int m_deeper = mode_of(s.dest, "sub/deeper"), m_e2 = mode_of(s.dest, "sub/empty2");
    int t_empty = type_of(s.dest, "empty"), t_fifo = type_of(s.dest, "fifo");
    free(lp);
    free(mp);
    free(names);
    free(src);
    nox__buf_free(&tgz);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(wrc, 0);
    NT_CHECK_INT(erc, 0);
    NT_CHECK(names_ok);
    NT_CHECK(content_ok);
    NT_CHECK(tl > 0);
    NT_CHECK_STR(target, "sub/deeper/b.bin");
    NT_CHECK_INT(m_ro, 0555);
    NT_CHECK_INT(m_b, 0600);
    NT_CHECK_INT(m_deeper, 0700);
    NT_CHECK_INT(m_e2, 0750);
    NT_CHECK_INT(t_empty, S_IFDIR);
    NT_CHECK_INT(t_fifo, 0);
    NT_CHECK(st_ok);
    NT_CHECK_INT(st.st_mtim.tv_sec, 1500000000);
}

/* The writer keeps what is there; the extractor decides what it accepts. */
NT_TEST(write_dir_stores_an_absolute_symlink_that_extract_refuses) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *src = path_in(s.base, "src");
    char *link = path_in(src, "etc");
    int rc = mkdir(src, 0755) | symlink("/etc", link);
    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    nox_error *err = NULL;
    int wrc = rc == 0 ? nox__archive_write_dir(src, &sink, &err) : -1;
    nox_error_free(err);
    /* Stored as a symlink: nothing of /etc came along. */
    char *names = list_names(&tgz);
    int only_link = names && strcmp(names, "etc\n") == 0;
    err = NULL;
    int erc = extract_mem(&tgz, s.dest, NULL, &err);
    int named = err && strstr(nox_error_message(err),
                              "archive entry \"etc\": symlink target \"/etc\"");
    nox_error_free(err);
    free(names);
    free(link);
    free(src);
    nox__buf_free(&tgz);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(wrc, 0);
    NT_CHECK(only_link);
    NT_CHECK_INT(erc, NOX_EARCHIVE);
    NT_CHECK(named);
}

NT_TEST(write_dir_of_missing_dir_is_not_found_and_of_a_file_is_invalid) {
    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    NT_FAILS(NOX_ENOTFOUND, "/nonexistent/nox-dir",
             nox__archive_write_dir("/nonexistent/nox-dir", &sink, &err));
    NT_CHECK_INT(tgz.len, 0); /* nothing reached the sink */
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *file = path_in(s.base, "plain");
    int rc = nt_write_file(file, "x", 1, 0644);
    nox_error *err = NULL;
    int wrc = nox__archive_write_dir(file, &sink, &err);
    nox_error_free(err);
    free(file);
    scratch_free(&s);
    nox__buf_free(&tgz);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(wrc, NOX_EINVAL);
}

NT_TEST(plain_tar_is_accepted_and_names_are_normalized) {
    const tentry ents[] = {
        {".", AE_IFDIR, NULL, 0, NULL, 0755},
        {"./a.txt", AE_IFREG, NULL, 0, "A", 0},
        {"d/./b.txt", AE_IFREG, NULL, 0, "B", 0},
        {"d//c.txt", AE_IFREG, NULL, 0, "C", 0},
        {"./e/", AE_IFDIR, NULL, 0, NULL, 0700},
    };
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 0, ents, 5) == 0);
    NT_CHECK(b.len >= 512 && b.data[0] == '.'); /* really not gzip */
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, NULL, &err);
    nox_error_free(err);
    int ok = file_is(s.dest, "a.txt", "A", 1) && file_is(s.dest, "d/b.txt", "B", 1) &&
             file_is(s.dest, "d/c.txt", "C", 1) && mode_of(s.dest, "e") == 0700;
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(ok);
}

/* A sparse entry (GNU tar -S) extracts to the same bytes and size: data
 * where the archive has it, holes where it has none, a trailing hole
 * included. */
NT_TEST(sparse_entries_extract_with_their_holes_and_size) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir src && truncate -s 8M src/sp && "
             "printf middle | dd of=src/sp bs=1 seek=3000000 conv=notrunc 2>/dev/null && "
             "printf start | dd of=src/sp bs=1 conv=notrunc 2>/dev/null && "
             "tar -S -cf sp.tar -C src sp", s.base);
    int made = system(cmd) == 0;
    NT_CHECK(made);
    char *tarpath = path_in(s.base, "sp.tar");
    int fd = open(tarpath, O_RDONLY | O_CLOEXEC);
    free(tarpath);
    nox_error *err = NULL;
    int rc = nox__archive_extract_fd(fd, s.dest, NULL, &err);
    if (fd >= 0)
        close(fd);
    NT_CHECK_INT(rc, 0);
    nox_error_free(err);
    snprintf(cmd, sizeof cmd, "cmp '%s/src/sp' '%s/sp'", s.base, s.dest);
    NT_CHECK(system(cmd) == 0);
    char *out = path_in(s.dest, "sp");
    struct stat st;
    NT_CHECK(stat(out, &st) == 0 && st.st_size == 8 << 20);
    /* Holes stayed holes: far less than 8 MiB is allocated. */
    NT_CHECK(st.st_blocks * 512 < (1 << 20));
    free(out);
    scratch_free(&s);
}

NT_TEST(input_arriving_a_few_bytes_at_a_time_extracts) {
    const tentry ents[] = {{"x/y.txt", AE_IFREG, NULL, 0, "why", 0}};
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 1, ents, 1) == 0);
    mem_reader r = {b.data, b.len, 0, 7};
    nox_error *err = NULL;
    int rc = nox__archive_extract(mem_read, &r, s.dest, NULL, &err);
    nox_error_free(err);
    int ok = file_is(s.dest, "x/y.txt", "why", 3);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(ok);
}

NT_TEST(setuid_setgid_and_sticky_bits_are_dropped) {
    const tentry ents[] = {
        {"suid", AE_IFREG, NULL, 0, "s", 04755},
        {"sgid", AE_IFREG, NULL, 0, "s", 02755},
        {"sticky/", AE_IFDIR, NULL, 0, NULL, 01777},
    };
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 1, ents, 3) == 0);
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, NULL, &err);
    nox_error_free(err);
    int m1 = mode_of(s.dest, "suid"), m2 = mode_of(s.dest, "sgid");
    int m3 = mode_of(s.dest, "sticky");
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(m1, 0755);
    NT_CHECK_INT(m2, 0755);
    NT_CHECK_INT(m3, 0777);
}

NT_TEST(hardlinks_and_relative_symlinks_inside_dest_are_kept) {
    const tentry ents[] = {
        {"a.txt", AE_IFREG, NULL, 0, "shared", 0},
        {"b.txt", AE_IFREG, "a.txt", 1, NULL, 0},
        {"a.txt", AE_IFREG, "a.txt", 1, NULL, 0}, /* GNU tar: listed twice */
        {"sub/", AE_IFDIR, NULL, 0, NULL, 0755},
        {"sub/up", AE_IFLNK, "../a.txt", 0, NULL, 0777},
        {"sub/here", AE_IFLNK, "./up", 0, NULL, 0777},
    };
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 1, ents, 6) == 0);
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "    %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    char *pa = path_in(s.dest, "a.txt"), *pb = path_in(s.dest, "b.txt");
    struct stat sa = {0}, sb = {0};
    int same = stat(pa, &sa) == 0 && stat(pb, &sb) == 0 && sa.st_ino == sb.st_ino;
    int via_link = file_is(s.dest, "sub/up", "shared", 6);
    free(pa);
    free(pb);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(same);
    NT_CHECK(via_link);
}

/* Run fn in a child without root's power to ignore permissions (so a
 * read-only directory really is one); 0 when it returned 0. */
static int run_unprivileged(const char *owned_dir, int (*fn)(void *), void *arg) {
    if (geteuid() == 0 && chown(owned_dir, 65534, 65534) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        _exit(fn(arg) == 0 ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef struct extract_job {
    const nox__buf *archive;
    const char *dest;
} extract_job;

static int extract_job_run(void *arg) {
    extract_job *j = arg;
    nox_error *err = NULL;
    int rc = extract_mem(j->archive, j->dest, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "    extract: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    return rc;
}

NT_TEST(read_only_directory_entry_does_not_block_its_contents) {
    const tentry ents[] = {
        {"ro/", AE_IFDIR, NULL, 0, NULL, 0555},
        {"ro/inner/", AE_IFDIR, NULL, 0, NULL, 0500},
        {"ro/inner/f.txt", AE_IFREG, NULL, 0, "inside", 0444},
        {"ro/g.txt", AE_IFREG, NULL, 0, "also", 0},
    };
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 1, ents, 4) == 0);
    extract_job job = {&b, s.dest};
    int rc = run_unprivileged(s.base, extract_job_run, &job);
    int ok = file_is(s.dest, "ro/inner/f.txt", "inside", 6) &&
             file_is(s.dest, "ro/g.txt", "also", 4);
    int m_ro = mode_of(s.dest, "ro"), m_inner = mode_of(s.dest, "ro/inner");
    int m_f = mode_of(s.dest, "ro/inner/f.txt");
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(ok);
    NT_CHECK_INT(m_ro, 0555);
    NT_CHECK_INT(m_inner, 0500);
    NT_CHECK_INT(m_f, 0444);
}

/* ---- hostile archives --------------------------------------------------- */

NT_TEST(absolute_entry_name_is_refused) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    /* Aimed at the real sentinel, so a bug would show there. */
    char *abs = path_in(s.outside, "abs.txt");
    const tentry ents[] = {{abs, AE_IFREG, NULL, 0, "x", 0}};
    nox__buf b = {0};
    int built = build_tar(&b, 1, ents, 1);
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, NULL, &err);
    int named = err && strstr(nox_error_message(err), abs) &&
                strstr(nox_error_message(err), "\": path is absolute");
    nox_error_free(err);
    int clean = nothing_escaped(&s, 1);
    free(abs);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(built, 0);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
    NT_CHECK(clean);
}

NT_TEST(dotdot_entry_name_is_refused) {
    const tentry ents[] = {{"../outside/x", AE_IFREG, NULL, 0, "x", 0}};
    CHECK_REFUSED(NOX_EARCHIVE,
                  "archive entry \"../outside/x\": path escapes the "
                  "destination",
                  ents, NULL);
}

NT_TEST(dotdot_after_a_name_is_refused) {
    const tentry ents[] = {
        {"a/", AE_IFDIR, NULL, 0, NULL, 0755},
        {"a/../../outside/x", AE_IFREG, NULL, 0, "x", 0},
    };
    CHECK_REFUSED(NOX_EARCHIVE, "\"a/../../outside/x\"", ents, NULL);
}

NT_TEST(symlink_to_absolute_path_is_refused) {
    const tentry ents[] = {{"etc", AE_IFLNK, "/etc", 0, NULL, 0777}};
    CHECK_REFUSED(NOX_EARCHIVE,
                  "archive entry \"etc\": symlink target \"/etc\" is absolute",
                  ents, NULL);
}

NT_TEST(symlink_climbing_out_is_refused) {
    const tentry ents[] = {
        {"a", AE_IFLNK, "../../outside", 0, NULL, 0777},
    };
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"a\": symlink target "
                                "\"../../outside\" leaves the destination",
                  ents, NULL);
}

NT_TEST(symlink_climbing_out_from_a_subdirectory_is_refused) {
    const tentry ents[] = {
        {"d/e/ok", AE_IFLNK, "../../x", 0, NULL, 0777}, /* lands on dest/x */
        {"d/e/bad", AE_IFLNK, "../../../outside", 0, NULL, 0777},
    };
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"d/e/bad\"", ents, NULL);
}

NT_TEST(symlink_with_dotdot_after_a_name_is_refused) {
    /* "x/.." is dest lexically, but if x is a symlink to d/e it is d. */
    const tentry ents[] = {
        {"s", AE_IFLNK, "x/../../outside", 0, NULL, 0777},
    };
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"s\"", ents, NULL);
}

NT_TEST(file_written_through_an_archive_symlink_does_not_escape) {
    const tentry ents1[] = {
        {"link", AE_IFLNK, "../outside", 0, NULL, 0777},
        {"link/evil.txt", AE_IFREG, NULL, 0, "evil", 0},
    };
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"link\"", ents1, NULL);
    /* A symlink that stays inside is fine, but is never written through. */
    const tentry ents2[] = {
        {"sub/", AE_IFDIR, NULL, 0, NULL, 0755},
        {"link", AE_IFLNK, "sub", 0, NULL, 0777},
        {"link/evil.txt", AE_IFREG, NULL, 0, "evil", 0},
    };
    CHECK_REFUSED(NOX_EARCHIVE,
                  "archive entry \"link/evil.txt\": \"link\" is a symlink",
                  ents2, NULL);
}

NT_TEST(file_written_through_an_existing_symlink_does_not_escape) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *link = path_in(s.dest, "link");
    int rc = mkdir(s.dest, 0755) | symlink(s.outside, link);
    const tentry ents[] = {{"link/evil.txt", AE_IFREG, NULL, 0, "evil", 0}};
    nox__buf b = {0};
    rc |= build_tar(&b, 1, ents, 1);
    nox_error *err = NULL;
    int erc = extract_mem(&b, s.dest, NULL, &err);
    int named = err && strstr(nox_error_message(err), "\"link/evil.txt\"");
    nox_error_free(err);
    int clean = nothing_escaped(&s, 0);
    free(link);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(erc, NOX_EARCHIVE);
    NT_CHECK(named);
    NT_CHECK(clean);
}

NT_TEST(existing_symlink_at_a_file_path_is_replaced_not_followed) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *victim = path_in(s.outside, "victim");
    char *link = path_in(s.dest, "f");
    int rc = nt_write_file(victim, "victim", 6, 0644) | mkdir(s.dest, 0755) |
             symlink(victim, link);
    const tentry ents[] = {
        {"f", AE_IFREG, NULL, 0, "new", 0},
        {"g", AE_IFREG, NULL, 0, "plain", 0},
        {"g", AE_IFREG, NULL, 0, "again", 0}, /* existing file: replaced */
    };
    nox__buf b = {0};
    rc |= build_tar(&b, 1, ents, 3);
    nox_error *err = NULL;
    int erc = extract_mem(&b, s.dest, NULL, &err);
    nox_error_free(err);
    int t = type_of(s.dest, "f");
    int ok = file_is(s.dest, "f", "new", 3) && file_is(s.outside, "victim", "victim", 6) &&
             file_is(s.dest, "g", "again", 5);
    free(victim);
    free(link);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(erc, 0);
    NT_CHECK_INT(t, S_IFREG);
    NT_CHECK(ok);
}

NT_TEST(existing_directory_where_a_file_goes_is_refused) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *d = path_in(s.dest, "d");
    int rc = mkdir(s.dest, 0755) | mkdir(d, 0755);
    const tentry ents[] = {{"d", AE_IFREG, NULL, 0, "x", 0}};
    nox__buf b = {0};
    rc |= build_tar(&b, 1, ents, 1);
    nox_error *err = NULL;
    int erc = extract_mem(&b, s.dest, NULL, &err);
    int named = err && strstr(nox_error_message(err), "archive entry \"d\"");
    nox_error_free(err);
    int t = type_of(s.dest, "d");
    free(d);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(erc, NOX_EARCHIVE);
    NT_CHECK(named);
    NT_CHECK_INT(t, S_IFDIR);
}

NT_TEST(hardlink_to_absolute_path_is_refused) {
    const tentry ents[] = {{"pw", AE_IFREG, "/etc/passwd", 1, NULL, 0}};
    CHECK_REFUSED(NOX_EARCHIVE,
                  "archive entry \"pw\": hardlink target \"/etc/passwd\" is "
                  "absolute",
                  ents, NULL);
}

NT_TEST(hardlink_climbing_out_is_refused) {
    const tentry ents[] = {{"x", AE_IFREG, "../outside/x", 1, NULL, 0}};
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"x\": hardlink target",
                  ents, NULL);
}

NT_TEST(hardlink_to_a_directory_or_missing_file_is_refused) {
    const tentry ents1[] = {
        {"d/", AE_IFDIR, NULL, 0, NULL, 0755},
        {"h", AE_IFREG, "d", 1, NULL, 0},
    };
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"h\": hardlink target \"d\"",
                  ents1, NULL);
    const tentry ents2[] = {{"h", AE_IFREG, "nothing/here", 1, NULL, 0}};
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"h\"", ents2, NULL);
}

NT_TEST(hardlink_to_a_file_that_was_there_before_is_refused) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *secret = path_in(s.dest, "secret");
    int rc = mkdir(s.dest, 0700) | nt_write_file(secret, "key", 3, 0600);
    const tentry ents[] = {{"pub", AE_IFREG, "secret", 1, NULL, 0}};
    nox__buf b = {0};
    rc |= build_tar(&b, 1, ents, 1);
    nox_error *err = NULL;
    int erc = extract_mem(&b, s.dest, NULL, &err);
    int named = err && strstr(nox_error_message(err),
                              "archive entry \"pub\": hardlink target \"secret\"");
    nox_error_free(err);
    int t = type_of(s.dest, "pub");
    free(secret);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(erc, NOX_EARCHIVE);
    NT_CHECK(named);
    NT_CHECK_INT(t, 0);
}

NT_TEST(character_device_is_refused) {
    const tentry ents[] = {{"null", AE_IFCHR, NULL, 0, NULL, 0666}};
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"null\": character device",
                  ents, NULL);
}

NT_TEST(block_device_is_refused) {
    const tentry ents[] = {{"sda", AE_IFBLK, NULL, 0, NULL, 0660}};
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"sda\": block device", ents,
                  NULL);
}

NT_TEST(fifo_is_refused) {
    const tentry ents[] = {{"sub/pipe", AE_IFIFO, NULL, 0, NULL, 0644}};
    CHECK_REFUSED(NOX_EARCHIVE, "archive entry \"sub/pipe\": FIFO", ents,
                  NULL);
}

NT_TEST(more_entries_than_max_entries_is_too_big) {
    const tentry ents[] = {
        {"1", AE_IFREG, NULL, 0, "1", 0}, {"2", AE_IFREG, NULL, 0, "2", 0},
        {"3", AE_IFREG, NULL, 0, "3", 0}, {"4", AE_IFREG, NULL, 0, "4", 0},
    };
    nox__archive_limits lim = {0, 3};
    CHECK_REFUSED(NOX_ETOOBIG, "archive entry \"4\": the archive has more "
                               "than max_entries (3)",
                  ents, &lim);
}

NT_TEST(more_bytes_than_max_bytes_is_too_big) {
    const tentry ents[] = {
        {"a", AE_IFREG, NULL, 0, "0123456789", 0},
        {"b", AE_IFREG, NULL, 0, "0123456789", 0},
        {"c", AE_IFREG, NULL, 0, "0123456789", 0},
    };
    nox__archive_limits lim = {25, 0};
    CHECK_REFUSED(NOX_ETOOBIG, "archive entry \"c\": extracting it passes "
                               "max_bytes (25",
                  ents, &lim);
}

NT_TEST(limits_exactly_met_are_fine) {
    const tentry ents[] = {
        {"a", AE_IFREG, NULL, 0, "01234", 0},
        {"b", AE_IFREG, NULL, 0, "56789", 0},
    };
    nox__archive_limits lim = {10, 2};
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 1, ents, 2) == 0);
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, &lim, &err);
    nox_error_free(err);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
}

NT_TEST(truncated_gzip_is_corrupt_and_names_the_entry) {
    nox_files *f = NULL;
    NT_OK(nox_files_new(&f, &err));
    static uint8_t big[1 << 20];
    fill_random(big, sizeof big, 42);
    int rc = add_file(f, "big.bin", big, sizeof big, 0);
    nox__buf tgz = {0};
    nox__sink sink = {nox__sink_buf_write, &tgz, 0};
    nox_error *err = NULL;
    if (rc == 0)
        rc = nox__archive_write_files(f, &sink, &err);
    nox_error_free(err);
    nox_files_free(f);
    NT_CHECK_INT(rc, 0);
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    tgz.len /= 2;
    err = NULL;
    rc = extract_mem(&tgz, s.dest, NULL, &err);
    int named = err && strstr(nox_error_message(err), "archive entry \"big.bin\"") &&
                strstr(nox_error_message(err), "corrupt archive: ");
    if (!named)
        fprintf(stderr, "    got: %s\n", err ? nox_error_message(err) : "(none)");
    nox_error_free(err);
    int clean = nothing_escaped(&s, 0);
    nox__buf_free(&tgz);
    scratch_free(&s);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(named);
    NT_CHECK(clean);
}

NT_TEST(random_garbage_is_corrupt) {
    static uint8_t junk[4096];
    fill_random(junk, sizeof junk, 99);
    nox__buf b = {junk, sizeof junk, sizeof junk};
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, NULL, &err);
    int msg = err && strstr(nox_error_message(err), "corrupt archive: ");
    nox_error_free(err);
    int clean = nothing_escaped(&s, 0) && dir_count(s.dest) <= 0;
    scratch_free(&s);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
    NT_CHECK(msg);
    NT_CHECK(clean);
}

NT_TEST(empty_input_is_corrupt) {
    nox__buf b = {0};
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    nox_error *err = NULL;
    int rc = extract_mem(&b, s.dest, NULL, &err);
    nox_error_free(err);
    scratch_free(&s);
    NT_CHECK_INT(rc, NOX_EARCHIVE);
}

static int failing_read(void *ctx, uint8_t *buf, size_t cap, size_t *got,
                        nox_error **err) {
    (void)ctx; (void)buf; (void)cap;
    *got = 0;
    return nox__err(err, NOX_ETIMEOUT, "upload stalled");
}

NT_TEST(reader_failure_is_reported_with_the_readers_error) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    nox_error *err = NULL;
    int rc = nox__archive_extract(failing_read, NULL, s.dest, NULL, &err);
    int msg = err && strstr(nox_error_message(err), "upload stalled");
    nox_error_free(err);
    scratch_free(&s);
    NT_CHECK_INT(rc, NOX_ETIMEOUT);
    NT_CHECK(msg);
}

NT_TEST(destination_is_created_with_parents) {
    const tentry ents[] = {{"f", AE_IFREG, NULL, 0, "F", 0}};
    scratch s;
    nox__buf b = {0};
    NT_CHECK(scratch_new(&s) == 0);
    NT_CHECK(build_tar(&b, 1, ents, 1) == 0);
    char *deep = path_in(s.base, "x/y/z");
    nox_error *err = NULL;
    int rc = extract_mem(&b, deep, NULL, &err);
    nox_error_free(err);
    int ok = file_is(deep, "f", "F", 1);
    free(deep);
    nox__buf_free(&b);
    scratch_free(&s);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(ok);
}

/* ---- streaming ---------------------------------------------------------- */

#define BIG_SIZE (256ll * 1024 * 1024)

NT_TEST(quarter_gigabyte_round_trip_keeps_memory_flat) {
    scratch s;
    NT_CHECK(scratch_new(&s) == 0);
    char *src = path_in(s.base, "src");
    char *big = path_in(src, "zeros.bin");
    char *tgz = path_in(s.base, "big.tar.gz");
    /* A sparse file: 256 MiB of zeros that costs no disk to make. */
    int fd = mkdir(src, 0755) == 0 ? open(big, O_WRONLY | O_CREAT, 0644) : -1;
    int made = fd >= 0 && ftruncate(fd, BIG_SIZE) == 0;
    if (fd >= 0)
        close(fd);
    long before = maxrss_kib();

    /* Both directions through files: writer -> fd sink, fd -> extractor. */
    int out = open(tgz, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    nox__sink sink = {nox__sink_fd_write, &out, 0};
    nox_error *err = NULL;
    int wrc = made && out >= 0 ? nox__archive_write_dir(src, &sink, &err) : -1;
    if (out >= 0)
        close(out);
    nox_error_free(err);
    err = NULL;
    int in = open(tgz, O_RDONLY | O_CLOEXEC);
    nox__archive_limits lim = {BIG_SIZE, 10};
    int erc = in >= 0 ? nox__archive_extract_fd(in, s.dest, &lim, &err) : -1;
    if (erc != 0)
        fprintf(stderr, "    extract: %s\n", err ? nox_error_message(err) : "?");
    nox_error_free(err);
    if (in >= 0)
        close(in);
    long grown_kib = maxrss_kib() - before;

    char *got = path_in(s.dest, "zeros.bin");
    struct stat st = {0};
    int st_ok = stat(got, &st) == 0;
    free(got);
    free(src);
    free(big);
    free(tgz);
    scratch_free(&s);
    NT_CHECK(made);
    NT_CHECK_INT(wrc, 0);
    NT_CHECK_INT(erc, 0);
    NT_CHECK(st_ok);
    NT_CHECK_INT(st.st_size, BIG_SIZE);
    if (grown_kib >= 32 * 1024)
        fprintf(stderr, "    max RSS grew by %ld KiB\n", grown_kib);
    NT_CHECK(grown_kib < 32 * 1024);
}

static int fds_at_start;

/* Last: every test above, failures included, closed what it opened. */
NT_TEST(no_descriptor_is_leaked) {
    NT_CHECK_INT(fd_count(), fds_at_start);
}

int main(void) {
    fds_at_start = fd_count();
    /* First, while the peak RSS is still low enough to see growth. */
    NT_RUN(quarter_gigabyte_round_trip_keeps_memory_flat);
    NT_RUN(file_set_round_trip_keeps_data_modes_and_nesting);
    NT_RUN(file_set_with_a_name_both_file_and_directory_is_refused);
    NT_RUN(sink_failure_is_reported_with_the_sinks_error);
    NT_RUN(directory_round_trip_keeps_tree_symlinks_modes_and_mtimes);
    NT_RUN(write_dir_stores_an_absolute_symlink_that_extract_refuses);
    NT_RUN(write_dir_of_missing_dir_is_not_found_and_of_a_file_is_invalid);
    NT_RUN(plain_tar_is_accepted_and_names_are_normalized);
    NT_RUN(sparse_entries_extract_with_their_holes_and_size);
    NT_RUN(input_arriving_a_few_bytes_at_a_time_extracts);
    NT_RUN(setuid_setgid_and_sticky_bits_are_dropped);
    NT_RUN(hardlinks_and_relative_symlinks_inside_dest_are_kept);
    NT_RUN(read_only_directory_entry_does_not_block_its_contents);
    NT_RUN(absolute_entry_name_is_refused);
    NT_RUN(dotdot_entry_name_is_refused);
    NT_RUN(dotdot_after_a_name_is_refused);
    NT_RUN(symlink_to_absolute_path_is_refused);
    NT_RUN(symlink_climbing_out_is_refused);
    NT_RUN(symlink_climbing_out_from_a_subdirectory_is_refused);
    NT_RUN(symlink_with_dotdot_after_a_name_is_refused);
    NT_RUN(file_written_through_an_archive_symlink_does_not_escape);
    NT_RUN(file_written_through_an_existing_symlink_does_not_escape);
    NT_RUN(existing_symlink_at_a_file_path_is_replaced_not_followed);
    NT_RUN(existing_directory_where_a_file_goes_is_refused);
    NT_RUN(hardlink_to_absolute_path_is_refused);
    NT_RUN(hardlink_climbing_out_is_refused);
    NT_RUN(hardlink_to_a_directory_or_missing_file_is_refused);
    NT_RUN(hardlink_to_a_file_that_was_there_before_is_refused);
    NT_RUN(character_device_is_refused);
    NT_RUN(block_device_is_refused);
    NT_RUN(fifo_is_refused);
    NT_RUN(more_entries_than_max_entries_is_too_big);
    NT_RUN(more_bytes_than_max_bytes_is_too_big);
    NT_RUN(limits_exactly_met_are_fine);
    NT_RUN(truncated_gzip_is_corrupt_and_names_the_entry);
    NT_RUN(random_garbage_is_corrupt);
    NT_RUN(empty_input_is_corrupt);
    NT_RUN(reader_failure_is_reported_with_the_readers_error);
    NT_RUN(destination_is_created_with_parents);
    NT_RUN(no_descriptor_is_leaked);
    return nt_main_end();
}
