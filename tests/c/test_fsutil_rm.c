/*
 * test_fsutil_rm.c - nox__rm_tree_at and nox__empty_dir_at (base/fsutil.c)
 * on trees a sandbox can make: deeper than PATH_MAX and than any fd budget,
 * with symlinks to directories outside, unwritable directories and a wide
 * directory. Nothing outside the tree may be touched.
 */
#include "nox_test.h"

#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char *WORK;
static int WFD = -1;

/* depth directories "d" below dirfd/name, a file at the bottom and a
 * symlink to `outside` at every 500th level; built by relative openat. */
static int make_deep(int dirfd, const char *name, int depth, const char *outside) {
    if (mkdirat(dirfd, name, 0755) != 0)
        return -1;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; fd >= 0 && i < depth; i++) {
        if (i % 500 == 0 && symlinkat(outside, fd, "link") != 0)
            return -1;
        if (mkdirat(fd, "d", 0755) != 0)
            return -1;
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (i % 1000 == 999)
            fchmod(fd, 0500); /* read-only on the way: must be made writable */
        close(fd);
        fd = next;
    }
    if (fd < 0)
        return -1;
    int f = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int ok = f >= 0 && write(f, "x", 1) == 1;
    if (f >= 0)
        close(f);
    close(fd);
    return ok ? 0 : -1;
}

static int exists(const char *rel) {
    struct stat st;
    return fstatat(WFD, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* 5,000 deep with links out, under a 64-fd budget: all gone, the outside
 * directory and its file untouched. */
NT_TEST(removes_a_deep_tree_without_following_links) {
    NT_CHECK(mkdirat(WFD, "outside", 0755) == 0);
    int o = openat(WFD, "outside/keep", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    NT_CHECK(o >= 0);
    close(o);
    char outside[4200];
    snprintf(outside, sizeof outside, "%s/outside", WORK);
    NT_CHECK(make_deep(WFD, "tree", 5000, outside) == 0);
    struct rlimit old, few = {64, 64};
    getrlimit(RLIMIT_NOFILE, &old);
    struct rlimit lowered = {few.rlim_cur, old.rlim_max};
    setrlimit(RLIMIT_NOFILE, &lowered);
    int rc = nox__rm_tree_at(WFD, "tree");
    setrlimit(RLIMIT_NOFILE, &old);
    NT_CHECK_INT(rc, 0);
    NT_CHECK(!exists("tree"));
    NT_CHECK(exists("outside/keep"));
}

/* Emptying keeps the entry asked for and removes a wide directory whole. */
NT_TEST(empties_a_wide_directory_but_the_one_kept) {
    NT_CHECK(mkdirat(WFD, "wide", 0755) == 0);
    int fd = openat(WFD, "wide", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    NT_CHECK(fd >= 0);
    for (int i = 0; i < 3000; i++) {
        char n[32];
        snprintf(n, sizeof n, "%c%d", i % 3 ? 'f' : 'd', i);
        if (i % 3 == 0) {
            mkdirat(fd, n, 0755);
            strcat(n, "/x");
        }
        int f = openat(fd, n, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (f >= 0)
            close(f);
    }
    mkdirat(fd, "keep", 0755);
    int rc = nox__empty_dir_at(fd, "keep");
    int left = 0;
    for (int i = 0; i < 3000; i++) {
        char n[32];
        snprintf(n, sizeof n, "%c%d", i % 3 ? 'f' : 'd', i);
        struct stat st;
        left += fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
    close(fd);
    NT_CHECK_INT(rc, 0);
    NT_CHECK_INT(left, 0);
    NT_CHECK(exists("wide/keep"));
}

int main(void) {
    WORK = nt_mkdtemp("rmtree");
    if (!WORK)
        return 1;
    WFD = open(WORK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    NT_RUN(removes_a_deep_tree_without_following_links);
    NT_RUN(empties_a_wide_directory_but_the_one_kept);
    close(WFD);
    nt_rm_rf(WORK);
    free(WORK);
    return nt_main_end();
}
