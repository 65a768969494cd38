/*
 * ns_setup.c - give the sandbox its own view: a private mount namespace
 * (inside a user namespace when we are not root) whose root is a tmpfs
 * holding bind mounts of the host's top-level entries plus /workspace, and
 * its own pid namespace.
 *
 * This is the isolation level "none": the host's file system stays
 * visible and writable as the calling user; only /workspace is new. The
 * later "namespaces" level grows from here (read-only system dirs, private
 * /tmp and /dev, net/ipc/uts namespaces, seccomp, capabilities, cgroups).
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PRIVATE_WS "cannot give the sandbox a private /workspace: "

static int write_proc(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, data, strlen(data));
    int e = n < 0 ? errno : 0;
    close(fd);
    return n < 0 ? -e : 0;
}

static int enter_userns(char *msg, size_t cap) {
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) != 0) {
        snprintf(msg, cap, PRIVATE_WS "unshare(CLONE_NEWUSER) failed: %s",
                 strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    /* Map only ourselves: files keep their owner, commands run as the
     * caller and lose the namespace capabilities on exec. */
    char map[64];
    int rc = write_proc("/proc/self/setgroups", "deny");
    if (rc && rc != -ENOENT) {
        snprintf(msg, cap, PRIVATE_WS "writing /proc/self/setgroups failed: %s",
                 strerror(-rc));
        return NOX_EUNSUPPORTED;
    }
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if ((rc = write_proc("/proc/self/uid_map", map)) != 0) {
        snprintf(msg, cap, PRIVATE_WS "writing /proc/self/uid_map failed: %s",
                 strerror(-rc));
        return NOX_EUNSUPPORTED;
    }
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if ((rc = write_proc("/proc/self/gid_map", map)) != 0) {
        snprintf(msg, cap, PRIVATE_WS "writing /proc/self/gid_map failed: %s",
                 strerror(-rc));
        return NOX_EUNSUPPORTED;
    }
    return 0;
}

/* Runs in B, single-threaded, before forking C. */
int ns_enter(int *pidns, char *msg, size_t cap) {
    int userns = geteuid() != 0;
    if (userns) {
        int rc = enter_userns(msg, cap);
        if (rc)
            return rc;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        if (!userns && errno == EPERM) {
            /* Root without CAP_SYS_ADMIN (a container): a user namespace
             * may still give us one. */
            int rc = enter_userns(msg, cap);
            if (rc)
                return rc;
            if (unshare(CLONE_NEWNS) == 0)
                goto mnt_ok;
        }
        snprintf(msg, cap, PRIVATE_WS "unshare(CLONE_NEWNS) failed: %s",
                 strerror(errno));
        return NOX_EUNSUPPORTED;
    }
mnt_ok:
    /* A pid namespace makes the agent pid 1: every orphan comes back to
     * it and delete kills everything at once. Without one, the agent
     * becomes a child subreaper and kills by walking /proc. */
    if (unshare(CLONE_NEWPID) == 0) {
        *pidns = 1;
    } else {
        *pidns = 0;
        agent_log("no pid namespace (unshare(CLONE_NEWPID): %s); using a "
                  "subreaper", strerror(errno));
    }
    return 0;
}

static int bind_entry(int rootfd, const char *root, const char *name,
                      char *msg, size_t cap) {
    char host[512], target[4096 + 512];
    int hn = snprintf(host, sizeof host, "/%s", name);
    int tn = snprintf(target, sizeof target, "%s/%s", root, name);
    if (hn < 0 || (size_t)hn >= sizeof host || tn < 0 || (size_t)tn >= sizeof target) {
        snprintf(msg, cap, "path of /%.200s in the sandbox root is too long", name);
        return NOX_ESANDBOX;
    }
    struct stat st;
    if (lstat(host, &st) != 0)
        return 0; /* vanished meanwhile */
    if (S_ISLNK(st.st_mode)) {
        char link[4096];
        ssize_t n = readlink(host, link, sizeof link - 1);
        if (n < 0)
            return 0;
        link[n] = 0;
        if (symlinkat(link, rootfd, name) != 0) {
            snprintf(msg, cap, "symlink /%s in the sandbox root: %s", name,
                     strerror(errno));
            return NOX_ESANDBOX;
        }
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdirat(rootfd, name, 0755) != 0 && errno != EEXIST) {
            snprintf(msg, cap, "mkdir /%s in the sandbox root: %s", name,
                     strerror(errno));
            return NOX_ESANDBOX;
        }
    } else {
        int fd = openat(rootfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(msg, cap, "create /%s in the sandbox root: %s", name,
                     strerror(errno));
            return NOX_ESANDBOX;
        }
        close(fd);
    }
    if (mount(host, target, NULL, MS_BIND | MS_REC, NULL) != 0) {
        /* One odd top-level entry should not sink the sandbox; leave the
         * empty mount point and say so in the agent log. */
        agent_log("bind-mounting /%s: %s", name, strerror(errno));
    }
    return 0;
}

/* Runs in C (pid 1 of the new pid namespace), still single-threaded. */
int ns_build_root(const char *session_dir, int pidns, int *proc_ok, char *msg,
                  size_t cap) {
    char root[4096], ws[4096], path[4200];
    int rn = snprintf(root, sizeof root, "%s/" NOX_ROOT_DIR, session_dir);
    int wn = snprintf(ws, sizeof ws, "%s/" NOX_WORKSPACE_DIR, session_dir);
    if (rn < 0 || (size_t)rn >= sizeof root || wn < 0 || (size_t)wn >= sizeof ws) {
        snprintf(msg, cap, "session directory path too long: %.200s...", session_dir);
        return NOX_ESANDBOX;
    }
    *proc_ok = !pidns;

    /* Nothing we mount may leak back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(msg, cap, PRIVATE_WS "making mounts private failed: %s",
                 strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, cap, "mkdir %s: %s", root, strerror(errno));
        return NOX_ESANDBOX;
    }
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=0755,size=4m") != 0) {
        snprintf(msg, cap, PRIVATE_WS "mounting a tmpfs root failed: %s",
                 strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    /* Unbindable, so the recursive binds of the host's directories below
     * (one of which holds this very mount point) leave it out. */
    if (mount(NULL, root, NULL, MS_UNBINDABLE, NULL) != 0) {
        snprintf(msg, cap, "making the sandbox root unbindable: %s",
                 strerror(errno));
        return NOX_ESANDBOX;
    }
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        snprintf(msg, cap, "open %s: %s", root, strerror(errno));
        return NOX_ESANDBOX;
    }
    DIR *d = opendir("/");
    if (!d) {
        snprintf(msg, cap, "opendir /: %s", strerror(errno));
        close(rootfd);
        return NOX_ESANDBOX;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "workspace"))
            continue;
        rc = bind_entry(rootfd, root, n, msg, cap);
    }
    closedir(d);
    if (rc) {
        close(rootfd);
        return rc;
    }
    if (mkdirat(rootfd, "workspace", 0755) != 0 && errno != EEXIST) {
        snprintf(msg, cap, "mkdir /workspace in the sandbox root: %s",
                 strerror(errno));
        close(rootfd);
        return NOX_ESANDBOX;
    }
    close(rootfd);
    snprintf(path, sizeof path, "%s/workspace", root);
    if (mount(ws, path, NULL, MS_BIND, NULL) != 0) {
        snprintf(msg, cap, PRIVATE_WS "bind-mounting the workspace failed: %s",
                 strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if (pidns) {
        /* A /proc that shows the sandbox's own pid namespace: the timeout
         * kill walks it to find a command's descendants. */
        snprintf(path, sizeof path, "%s/proc", root);
        if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) == 0)
            *proc_ok = 1;
        else
            agent_log("mounting /proc for the pid namespace: %s (timeouts "
                      "kill process groups only)", strerror(errno));
    }
    if (chdir(root) != 0) {
        snprintf(msg, cap, "chdir %s: %s", root, strerror(errno));
        return NOX_ESANDBOX;
    }
    /* pivot_root(".", ".") stacks the old root on the new one; detaching
     * it leaves only the new root. */
    if (syscall(SYS_pivot_root, ".", ".") != 0) {
        snprintf(msg, cap, PRIVATE_WS "pivot_root failed: %s", strerror(errno));
        return NOX_EUNSUPPORTED;
    }
    if (umount2(".", MNT_DETACH) != 0) {
        snprintf(msg, cap, "detaching the old root: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    if (chdir("/") != 0) {
        snprintf(msg, cap, "chdir /: %s", strerror(errno));
        return NOX_ESANDBOX;
    }
    /* The root tmpfs only holds mount points: freeze it. */
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
                                   MS_NODEV, NULL) != 0)
        agent_log("remounting the sandbox root read-only: %s", strerror(errno));
    return 0;
}
