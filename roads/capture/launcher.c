/*
 * launcher.c: starts one run (a sample, or gcc and gdb) inside a sandbox and leaves
 * nothing of it behind.
 *
 * usage: launcher REPORTFD SAMPLEFD NO_ASLR CPU_SECONDS AS_BYTES MAX_PROCS CAPS WRITABLE
 *                 DEADLINE AT [--exec FILE] [--read-only PATH]... [--read-only-or-no-run]
 *                 -- PROGRAM [ARGS...]
 *        launcher --tool CPU_SECONDS AS_BYTES WRITABLE DEADLINE AT [--show FILE]...
 *                 [--max-tasks N] [--read-only PATH]... -- PROGRAM [ARGS...]
 *
 * AT is "-" (the program runs where it was started) or a path /PARENT/NAME: started in
 * WRITABLE, the program runs from there, the folder seen at that fixed place (a fresh tmpfs
 * over PARENT holds it), so that no path of the clone reaches its memory.
 *
 * PROGRAM is the file run and its argv[0], unless --exec names the file: then PROGRAM is
 * only the argv[0] it is given, as a shell gives a program found on PATH the name typed
 * (a multi-call program such as xzcat reads what to do there).
 *
 * Each --read-only PATH (WRITABLE itself, or a file or folder below it, written as the
 * machine resolves it) stays read-only inside the run, with all it holds: what below the
 * run's folder runs outside the sandbox afterwards (roads run's, in
 * roads/capture/runfolder.py: roads' own code, its Python, the launcher's folder, a home
 * folder, the folders on PATH), which a program that changed it would escape by. Every folder between WRITABLE and PATH is bound onto itself, writable, so
 * that none can be renamed (EBUSY): a folder moved aside with PATH in it, and a new one
 * made at its name, would put the program's files at PATH outside the run. Where one
 * cannot be kept so, the run does not start: nor where the files cannot be made
 * read-only at all (no mount namespace here, the fallback below) and a --read-only is
 * given, or --read-only-or-no-run (roads run's: its program may write the user's files
 * otherwise).
 *
 * Containment, each step taken where the kernel allows it and reported (line "N"):
 *
 *   - a PID namespace whose init is a launcher process, never the program: when that init
 *     ends (or is killed), the kernel kills every process of the run, also those that
 *     left the process group with setsid(2) and double-forked; a sample cannot signal the
 *     init (the kernel drops SIGKILL and unhandled signals sent to a namespace's init from
 *     inside), and sees no process outside the run, the build included;
 *   - a mount namespace: / read-only (recursively) and without device files but null,
 *     zero, full, random and urandom (not tty: TIOCSTI on a terminal pushes input into
 *     its shell), only WRITABLE (the run's folder) writable, a private /tmp and /run
 *     (where the machine's daemons keep their sockets, which a read-only mount would
 *     leave open to connect()), in which only what the run needs of the machine's is
 *     seen at its place: the entry holding the folder it starts in and each file shown
 *     (--show's, and the program run: --exec's FILE, else PROGRAM), read-only, and
 *     WRITABLE; a run started in /, /tmp or /run itself is refused), each --read-only
 *     PATH read-only again, and
 *     /dev/shm, those nosuid and
 *     nodev (no set-user-ID file made there grants anything inside the run), and /proc mounted
 *     afresh for the namespace (/proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus and
 *     /proc/pressure read-only: root without capabilities may still write some of their
 *     files, which only check the mode);
 *   - an IPC namespace: System V shared memory, semaphores and message queues made by the
 *     run go with it (nothing else frees them), and it sees none of the build's;
 *   - a network namespace: only a loopback device, down, so the run reaches no server of
 *     the machine (on 127.0.0.1 or elsewhere) and no network;
 *   - a session keyring of its own (not reported: it holds wherever keyctl exists), so
 *     keys the run adds to @s are not the build's; @u, the user's keyring, is per uid
 *     and cannot be told apart without a user namespace, so root's @u stays shared;
 *   - no capabilities but those in CAPS (a bit mask, the manifest's `privileges`), and
 *     no_new_privs, so that root inside cannot remount, unmount or map page zero;
 *   - without CAP_SYS_ADMIN (a build that is not root), all of the above inside a user
 *     namespace of the launcher's own, mapped to the same user, where the kernel allows
 *     unprivileged user namespaces;
 *   - where the PID namespace is refused even so (a default container): today's
 *     containment, the launcher as a child subreaper that kills every descendant at the
 *     end.
 *
 * Resource limits (CPU, address space, no core files, no file past MAX_FILE_BYTES) hold
 * in every case, and so does a
 * deadline of its own: DEADLINE seconds after the start the launcher kills the run even
 * if the build is not there to (stopped, say), and its report lines never block. The
 * program's environment is passed through untouched, and it runs from the same folder
 * (under the same path, or AT), so its stack and its maps are what they would be without
 * the sandbox, started from there.
 *
 * Sample mode. The sample's protocol pipe (roads.h) is SAMPLEFD, which the sample finds at
 * descriptor 3; the launcher reports on REPORTFD, a pipe of its own that the sample never
 * inherits (close-on-exec), so nothing the sample writes can pass for these lines. Every
 * pid in them is a pid of the build's namespace (the host's), translated through NSpid:
 *
 *   N <bits> 0              containment that held (bits: see the CONTAINED_ names)
 *   S <pid> <nspid>         the sample started; its pid is also its process group;
 *                           nspid is the pid it sees for itself (roads.h lines use it)
 *   P <pid> <persona>       personality(2) after setting or clearing ADDR_NO_RANDOMIZE
 *   F <pid> <errno>         exec failed
 *   X <pid> <wait status> <cpu ms> <cpu soft> <cpu hard>
 *                           a process of the run was reaped, after that much CPU time,
 *                           under that RLIMIT_CPU in seconds (-1: unlimited or unread),
 *                           the limit as it stood at its end (a zombie keeps its own)
 *   L <count> 0             more than MAX_PROCS tasks (processes and their threads) at
 *                           once: the run was killed
 *
 * Processes are counted by walking /proc/PID/task/TID/children from the reaper down,
 * every 5 ms; RLIMIT_NPROC would be simpler but does not bind root. SIGTERM (sent by the
 * build to end a run, or by the kernel when the build dies: PR_SET_PDEATHSIG) kills the
 * run: the namespace's init at once, or in the fallback every descendant one by one.
 *
 * Tool mode runs gcc or gdb in the same namespaces with the same limits, without the
 * protocol and without capabilities; the launcher exits with the tool's status. A tool
 * that a process of its run stops is continued at once (continue_tool). The run ends
 * with the tool: what it leaves running (roads explain's tracer killed by the program it
 * traces, with a child it never traced) is killed, not waited for until DEADLINE. With
 * --max-tasks N, more than N tasks at once kill the run as MAX_PROCS does, and the
 * launcher says so on stderr: "launcher: the run started more than N processes and
 * threads at once; killed" (TOOL_FORKED in roads/capture/runner.py).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#define SAMPLE_FD 3 /* also in roads/runner.py (CONTROL_FD) */
#define MAX_RUN 4096
/* The largest file a run may write (RLIMIT_FSIZE), also in samples/README.md ("Sandbox"):
 * past it write(2), ftruncate(2) and fallocate(2) fail with EFBIG (after SIGXFSZ), so one
 * call cannot fill the disk. */
#define MAX_FILE_BYTES (256ULL << 20)

/* Bits of the "N" line; their names are in roads/runner.py (CONTAINMENT). */
#define CONTAINED_PID_NS 1
#define CONTAINED_MOUNT_NS 2
#define CONTAINED_READ_ONLY 4
#define CONTAINED_PRIVATE_TMP 8
#define CONTAINED_OWN_PROC 16
#define CONTAINED_NO_CAPS 32
#define CONTAINED_NO_NEW_PRIVS 64
#define CONTAINED_SUBREAPER 128
#define CONTAINED_USER_NS 256
#define CONTAINED_IPC_NS 512
#define CONTAINED_NET_NS 1024
#define CONTAINED_FIXED_PATH 2048

/* The new mount API (Linux 5.12), called directly: older C libraries lack wrappers. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct roads_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int report = -1;
static pid_t group = 0;
static long found[MAX_RUN];
static int host_proc = -1; /* the build's /proc, kept open by the init: pids as the build sees them */
static int own_proc = -1;  /* the fallback's /proc (the same), for its walks */
static int user_ns = 0;     /* whether the launcher made a user namespace of its own */
static long host_self = 0;  /* the init's own pid there */

static void say(const char *fmt, ...)
{
    char line[96];
    int n;
    va_list args;
    if (report < 0)
        return;
    va_start(args, fmt);
    n = vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    if (n > 0 && write(report, line, (size_t)n) < 0)
        return; /* the build is gone; keep reaping anyway */
}

/* CPU time (user and system) in milliseconds: the runner tells the CPU limit's SIGKILL
 * (a sample that ignored SIGXCPU) from any other. */
static long cpu_ms(const struct rusage *u)
{
    return (u->ru_utime.tv_sec + u->ru_stime.tv_sec) * 1000L +
           (u->ru_utime.tv_usec + u->ru_stime.tv_usec) / 1000L;
}

/* A seconds limit for the X line: -1 for none. */
static long seconds(rlim_t value)
{
    return value == RLIM_INFINITY || value > LONG_MAX ? -1L : (long)value;
}

/* The children of every thread of `pid`, read under the proc folder `dir`, appended to
 * `out` (at most `cap` in all). With `threads`, also adds `pid`'s threads to it. */
static long children_of(int dir, long pid, long *out, long n, long cap, long *threads)
{
    char path[96];
    DIR *tasks;
    struct dirent *t;
    int fd;
    snprintf(path, sizeof path, "%ld/task", pid);
    if ((fd = openat(dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return n;
    if ((tasks = fdopendir(fd)) == NULL) {
        close(fd);
        return n;
    }
    while ((t = readdir(tasks)) != NULL && n < cap) {
        char file[384];
        FILE *f;
        long child;
        int cfd;
        if (t->d_name[0] == '.')
            continue;
        if (threads != NULL)
            ++*threads;
        snprintf(file, sizeof file, "%ld/task/%s/children", pid, t->d_name);
        if ((cfd = openat(dir, file, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        if ((f = fdopen(cfd, "r")) == NULL) {
            close(cfd);
            continue;
        }
        while (n < cap && fscanf(f, "%ld", &child) == 1)
            out[n++] = child;
        fclose(f);
    }
    closedir(tasks);
    return n;
}

/*
 * Every process of the run now, into `found`, as pids of the proc folder `dir`: all
 * descendants of `root` (orphans are the reaper's too). The walk costs time in the size
 * of the run, not of the machine, so it can run often; it stops past `cap`. With
 * `tasks`, also counts the threads of every process found (a process is one, its other
 * threads more): what the run's task limit holds to, since a thread costs the machine a
 * task as a process does. That count stops past `cap` as well.
 */
static long walk_run(int dir, long root, long cap, long *tasks)
{
    long done = 0, n;
    if (cap > MAX_RUN)
        cap = MAX_RUN;
    if (tasks != NULL)
        *tasks = 0;
    n = children_of(dir, root, found, 0, cap, NULL);
    while (done < n && n < cap && (tasks == NULL || *tasks < cap))
        n = children_of(dir, found[done++], found, n, cap, tasks);
    return n;
}

/* The pid the build sees for `nspid`, a child of this init (alive or a zombie), or 0. */
static long host_pid(long nspid)
{
    long n = children_of(host_proc, host_self, found, 0, MAX_RUN, NULL), i;
    for (i = 0; i < n; i++) {
        char path[64], line[256];
        FILE *f;
        int fd;
        snprintf(path, sizeof path, "%ld/status", found[i]);
        if ((fd = openat(host_proc, path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        if ((f = fdopen(fd, "r")) == NULL) {
            close(fd);
            continue;
        }
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "NSpid:", 6) == 0) {
                char *last = strrchr(line, '\t');
                if (last != NULL && atol(last + 1) == nspid) {
                    fclose(f);
                    return found[i];
                }
                break;
            }
        }
        fclose(f);
    }
    return 0;
}

/* SIGKILL the group and every descendant, wherever its process group now is. */
static void kill_run(void)
{
    long i, n;
    if (group > 0) {
        kill(-group, SIGKILL);
        kill(-group, SIGCONT);
    }
    if (host_proc >= 0) {
        kill(-1, SIGKILL); /* as a namespace's init: every other process in it */
        return;
    }
    n = walk_run(own_proc, (long)getpid(), MAX_RUN, NULL);
    for (i = 0; i < n; i++)
        kill((pid_t)found[i], SIGKILL);
}

static long elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

/* Whether `path` is `folder` or lies inside it. */
static int under(const char *path, const char *folder)
{
    size_t n = strlen(folder);
    return strncmp(path, folder, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Set and clear MOUNT_ATTR_ flags on the mount at `path` (and below it if `recursive`). */
static int set_attr(const char *path, int recursive, uint64_t set, uint64_t clear)
{
    struct roads_mount_attr attr = {set, clear, 0, 0};
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr,
                        sizeof attr);
}

/* A read-only bind of `path` onto itself, if it exists. */
static void mask(const char *path)
{
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) == 0)
        set_attr(path, 1, MOUNT_ATTR_RDONLY, 0);
}

/* Device files stay closed (a read-only mount does not stop writes to a disk's device
 * file, which root may open), except these, each bound over itself with devices allowed.
 * Not /dev/tty: a sample that opens the build's terminal can push input into its shell
 * (TIOCSTI), whatever session the build started it in. */
static const char *const DEVICES[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                      "/dev/urandom", NULL};

/*
 * The run's folder `writable`, also at `run_at` ("/PARENT/NAME"): a fresh tmpfs over PARENT
 * (which must exist, and hold neither the folder nor the current one, `cwd`), NAME made in
 * it, the folder bound there writable (nosuid, nodev). A binary run from there has the same
 * path whatever the clone's path is: a static glibc program keeps a copy of its folder's name
 * on its heap at start-up, and gdb starts a program by its full path, so every address after
 * them would otherwise move with the clone. Returns 0 when it held.
 */
static int at_fixed_path(const char *writable, const char *run_at, const char *cwd)
{
    char parent[256];
    const char *slash = strrchr(run_at, '/');
    size_t n;
    if (run_at[0] != '/' || slash == NULL || slash == run_at || slash[1] == '\0' ||
        (n = (size_t)(slash - run_at)) >= sizeof parent || strchr(run_at + 1, '/') != slash)
        return -1;
    memcpy(parent, run_at, n);
    parent[n] = '\0';
    if (under(writable, parent) || under(cwd, parent) || access(parent, F_OK) != 0)
        return -1;
    if (mount("tmpfs", parent, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k") != 0)
        return -1;
    /* Recursive: the paths kept read-only below it stay so there too. */
    if (mkdir(run_at, 0755) != 0 ||
        mount(writable, run_at, NULL, MS_BIND | MS_REC, NULL) != 0 ||
        set_attr(run_at, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, MOUNT_ATTR_RDONLY) != 0) {
        umount2(parent, MNT_DETACH);
        return -1;
    }
    return 0;
}

/*
 * What of the machine's /tmp a run sees in its private one: the folder it starts in, when
 * that lies there (read-only: a test's project, or `cd /tmp/x && roads run ./a.out`); a
 * program started from there (roads run /tmp/a.out); a file or folder a tool was told to
 * show (--show: the program roads explain traces, a Python living under /tmp). Only
 * those are seen, read-only, each at its path, and the run's writable folder at its own:
 * not the rest of /tmp, whose Unix sockets (a terminal multiplexer's, an agent's) a
 * read-only mount would not close.
 */
#define MAX_SHOWN 16

struct shown_file {
    char path[PATH_MAX]; /* where it is seen, in a private folder */
    int tree;            /* a detached bind of the file or folder itself */
    int folder;
    int writable;        /* the run's writable folder: the one not made read-only */
};

/* The folders a run gets empty ones of its own in place of: /tmp, and /run, where the
 * machine's daemons keep their sockets (a read-only mount would not stop connect()). */
static const char *const PRIVATE[] = {"/tmp", "/run", NULL};

/* The private folder `path` lies below (not that folder itself), or NULL. */
static const char *private_root(const char *path)
{
    const char *const *root;
    for (root = PRIVATE; *root != NULL; root++)
        if (under(path, *root) && strcmp(path, *root) != 0)
            return *root;
    return NULL;
}

/* The entry of a private folder that holds `path` (/tmp/NAME for /tmp/NAME/a/b; under
 * /run, `path` itself): the folder a run starts in is shown with its neighbours (../data,
 * an rpath's ../lib).
 * 0 when `path` lies in a private folder. */
static int top_entry(const char *path, char *out)
{
    const char *root = private_root(path), *end;
    size_t n;
    if (root == NULL)
        return -1;
    /* Under /run, the folder alone: its entries are the machine's daemons' and users'. */
    end = strcmp(root, "/run") == 0 ? NULL : strchr(path + strlen(root) + 1, '/');
    n = end != NULL ? (size_t)(end - path) : strlen(path);
    if (n >= PATH_MAX)
        return -1;
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}

/* `path` made absolute against `cwd` and cleaned of "." and ".." without following links
 * (a link under /tmp must lead the same way in the private /tmp); 0 when it held. */
static int lexical_path(const char *path, const char *cwd, char *out)
{
    char joined[PATH_MAX];
    const char *part;
    size_t len = 0;
    int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
                           : snprintf(joined, sizeof joined, "%s/%s", cwd, path);
    if (n < 0 || (size_t)n >= sizeof joined)
        return -1;
    out[0] = '\0';
    for (part = joined; *part != '\0';) {
        const char *end = strchr(part, '/');
        size_t k = end != NULL ? (size_t)(end - part) : strlen(part);
        if (k == 0 || (k == 1 && part[0] == '.')) {
            /* nothing */
        } else if (k == 2 && part[0] == '.' && part[1] == '.') {
            char *slash = strrchr(out, '/');
            len = slash != NULL ? (size_t)(slash - out) : 0;
            out[len] = '\0';
        } else {
            if (len + 1 + k + 1 > PATH_MAX)
                return -1;
            out[len++] = '/';
            memcpy(out + len, part, k);
            len += k;
            out[len] = '\0';
        }
        part += k + (end != NULL);
    }
    if (len == 0)
        strcpy(out, "/");
    return 0;
}

/* Note where `file` (a regular file, or with `folders` a folder too) is to be seen in the
 * private /tmp: at its own path and at the path it was named by, each where it lies
 * below /tmp (never /tmp itself). Returns the count. */
static int find_shown(const char *file, const char *cwd, int folders,
                      struct shown_file *show, int files)
{
    char found[PATH_MAX], named[PATH_MAX], held[PATH_MAX], link[64];
    const char *places[2];
    struct stat st;
    ssize_t n;
    int i, j, fd;
    if (strchr(file, '/') == NULL || realpath(file, found) == NULL)
        return files;
    /* Checked and cloned through one descriptor, which must name the very path realpath
     * gave: a link swapped in meanwhile (for a socket, a FIFO, a folder) is refused. */
    fd = open(found, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return files;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, held, sizeof held - 1);
    if (n < 0 || fstat(fd, &st) != 0 ||
        !(S_ISREG(st.st_mode) || (folders && S_ISDIR(st.st_mode)))) {
        close(fd);
        return files;
    }
    held[n] = '\0';
    if (strcmp(held, found) != 0) {
        close(fd);
        return files;
    }
    places[0] = found;
    /* The name it was given, where that differs without a ".." (which the kernel takes
     * after following a link, and a cleaned name would not). */
    places[1] = strstr(file, "..") == NULL && lexical_path(file, cwd, named) == 0 ? named : found;
    for (i = 0; i < 2 && files < MAX_SHOWN; i++) {
        if (private_root(places[i]) == NULL)
            continue;
        for (j = 0; j < files && strcmp(show[j].path, places[i]) != 0; j++)
            ;
        if (j < files)
            continue;
        show[files].tree = (int)syscall(SYS_open_tree, fd, "",
                                        AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (show[files].tree < 0)
            continue;
        snprintf(show[files].path, sizeof show[files].path, "%s", places[i]);
        show[files].folder = S_ISDIR(st.st_mode);
        show[files].writable = 0;
        files++;
    }
    close(fd);
    return files;
}

/* The folders of `path` below its private folder made in the fresh one (those that
 * exist, in a folder shown there, are left as they are); `path` itself too with `itself`. */
static void make_folders(const char *path, int itself)
{
    char folder[PATH_MAX];
    char *slash;
    const char *root = private_root(path);
    if (root == NULL || strlen(path) >= sizeof folder)
        return;
    memcpy(folder, path, strlen(path) + 1);
    for (slash = strchr(folder + strlen(root) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(folder, 0755);
        *slash = '/';
    }
    if (itself)
        mkdir(folder, 0755);
}

/* In the fresh private folders: each shown file or folder at its place, read-only, and
 * the writable folder writable, shorter paths first (one inside another goes on top of
 * it). Returns whether the writable one, if listed, was placed. */
static int place_shown(struct shown_file *show, int files)
{
    int i, j, fd, placed = 0;
    for (i = 1; i < files; i++) /* a few entries: insertion by path length */
        for (j = i; j > 0 && strlen(show[j - 1].path) > strlen(show[j].path); j--) {
            struct shown_file t = show[j];
            show[j] = show[j - 1];
            show[j - 1] = t;
        }
    for (i = 0; i < files; i++) {
        make_folders(show[i].path, show[i].folder);
        if (!show[i].folder) {
            /* Its mount point; one that is there already lies in a folder shown. */
            fd = open(show[i].path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0)
                continue;
            close(fd);
        }
        if (syscall(SYS_move_mount, show[i].tree, "", AT_FDCWD, show[i].path,
                    MOVE_MOUNT_F_EMPTY_PATH) != 0) {
            if (!show[i].folder)
                unlink(show[i].path); /* not an empty file in the program's place */
            continue;
        }
        if (show[i].writable)
            placed = set_attr(show[i].path, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                              MOUNT_ATTR_RDONLY) == 0;
        else
            set_attr(show[i].path, 0, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0);
    }
    return placed;
}

/* At most this many --read-only paths (also in roads/capture/runfolder.py), and folders bound
 * over themselves for them. */
#define MAX_KEPT 64
#define MAX_PINNED 256

/*
 * Each of `kept` (NULL-terminated; `writable` itself or paths below it, canonical) made
 * read-only, with all below it, once `writable` is in place: a bind of it over itself,
 * then MOUNT_ATTR_RDONLY (recursively). First every folder between `writable` and it is
 * bound over itself, writable: a mount point cannot be renamed or removed (EBUSY), so
 * the program cannot move a folder holding a kept path aside and make a new one, of its
 * own, at the name that is read outside the run afterwards. Returns 0 when all held.
 */
static int keep_read_only(const char *writable, char *const *kept)
{
    static char pinned[MAX_PINNED][PATH_MAX];
    char canonical[PATH_MAX], folder[PATH_MAX];
    int pins = 0, i, j;
    size_t n = strlen(writable);
    /* As the machine resolves it, and in the run's folder: a link would bind something
     * else read-only, and leave the path itself writable. */
    for (i = 0; kept[i] != NULL; i++)
        if (realpath(kept[i], canonical) == NULL || strcmp(canonical, kept[i]) != 0 ||
            !under(kept[i], writable) || strlen(kept[i]) >= sizeof folder)
            return -1;
    for (i = 0; kept[i] != NULL; i++) {
        const char *path = kept[i];
        char *slash;
        /* One inside another is kept with it (and its folders, pinned writable, would
         * open the other); of two the same, the first. */
        for (j = 0; kept[j] != NULL; j++)
            if (j != i && under(path, kept[j]) && (strcmp(path, kept[j]) != 0 || j < i))
                break;
        if (kept[j] != NULL)
            continue;
        memcpy(folder, path, strlen(path) + 1);
        for (slash = path[n] == '\0' ? NULL : strchr(folder + n + 1, '/'); slash != NULL;
             slash = strchr(slash + 1, '/')) {
            *slash = '\0';
            for (j = 0; j < pins && strcmp(pinned[j], folder) != 0; j++)
                ;
            if (j == pins) {
                if (pins == MAX_PINNED ||
                    mount(folder, folder, NULL, MS_BIND | MS_REC, NULL) != 0 ||
                    set_attr(folder, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                             MOUNT_ATTR_RDONLY) != 0)
                    return -1;
                memcpy(pinned[pins++], folder, strlen(folder) + 1);
            }
            *slash = '/';
        }
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0 ||
            set_attr(path, 1, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0) != 0)
            return -1;
    }
    return 0;
}

/*
 * The run's view of the file system (in the init of a new PID namespace): / read-only,
 * `writable` (an absolute path) writable, /tmp, /run and /dev/shm private and empty but
 * for, where they lie in /tmp or /run, the entry holding the folder the run starts in,
 * `writable` and the `shown` files (NULL-terminated; with `folders`, folders too), /proc
 * of this namespace, and the `kept` paths read-only again (keep_read_only). Returns the
 * CONTAINED_ bits that held, -1 when the run must not start (its folder is /, /tmp or
 * /run itself, or could not be entered again), or -2 when a kept path could not be kept.
 */
static int isolate_files(const char *writable, const char *run_at, char *const *shown,
                         int folders, char *const *kept)
{
    int held = 0, tree, files = 0, i, tmp = -1, placed = 0, listed = 0;
    char cwd[4096], top[PATH_MAX], canonical[PATH_MAX];
    struct shown_file show[MAX_SHOWN + 2];
    const char *const *root;
    const char *back;
    if (getcwd(cwd, sizeof cwd) == NULL)
        return -1; /* where the run starts is not known: no run */
    /* The rules below compare paths as text: the writable folder must be written as the
     * machine resolves it (not /tmp/ nor //tmp for /tmp). */
    if (realpath(writable, canonical) == NULL || strcmp(canonical, writable) != 0)
        return -1;
    /* A run whose folder is /, /tmp or /run itself would see, and may write, all of it. */
    for (root = PRIVATE; *root != NULL; root++)
        if (strcmp(cwd, *root) == 0 || strcmp(writable, *root) == 0)
            return -1;
    if (strcmp(writable, "/") == 0)
        return -1;
    if (unshare(CLONE_NEWNS) != 0)
        return 0;
    held |= CONTAINED_MOUNT_NS;
    /* Nothing done here may reach the build's mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return held;
    /* The run's folder, as it is before / turns read-only. */
    tree = (int)syscall(SYS_open_tree, AT_FDCWD, writable, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree >= 0 && set_attr("/", 1, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV, 0) == 0) {
        const char *const *device;
        /* Empty /tmp and /run of the run's own, with what it needs of the machine's: the
         * entry that holds the folder it starts in (read-only), the files shown, and its
         * writable folder, each at its place. */
        /* (Not where it lies in the writable folder, which would be covered read-only.) */
        if (top_entry(cwd, top) == 0 && !under(top, writable))
            files = find_shown(top, cwd, 1, show, files);
        for (i = 0; shown[i] != NULL; i++)
            files = find_shown(shown[i], cwd, folders, show, files);
        if (private_root(writable) != NULL && strlen(writable) < PATH_MAX) {
            snprintf(show[files].path, sizeof show[files].path, "%s", writable);
            show[files].tree = tree;
            show[files].folder = 1;
            show[files].writable = 1;
            listed = 1;
            files++;
        }
        tmp = mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m");
        if (tmp != 0 || (access("/run", F_OK) == 0 &&
                         mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV,
                               "mode=755,size=64m") != 0)) {
            for (i = 0; i < files; i++)
                if (!show[i].writable)
                    close(show[i].tree);
            close(tree);
            return -1; /* the machine's /tmp or /run would stay: no run */
        }
        placed = place_shown(show, files);
        for (i = 0; i < files; i++)
            if (!show[i].writable)
                close(show[i].tree);
        if (access("/dev/shm", F_OK) == 0)
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m");
        for (device = DEVICES; *device != NULL; device++)
            if (mount(*device, *device, NULL, MS_BIND, NULL) == 0)
                set_attr(*device, 0, 0, MOUNT_ATTR_NODEV);
        if (!listed)
            placed = syscall(SYS_move_mount, tree, "", AT_FDCWD, writable,
                             MOVE_MOUNT_F_EMPTY_PATH) == 0 &&
                     set_attr(writable, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                              MOUNT_ATTR_RDONLY) == 0;
        if (placed && keep_read_only(writable, kept) != 0) {
            close(tree);
            return -2; /* what must stay read-only would be the program's: no run */
        }
        if (placed)
            held |= CONTAINED_READ_ONLY | (tmp == 0 ? CONTAINED_PRIVATE_TMP : 0);
    }
    if (tree >= 0)
        close(tree);
    /* Back into the same folder, now through the mounts just made; or, asked to and
     * started in the run's folder, into that folder seen at a fixed place. */
    back = cwd;
    if (run_at != NULL && (held & CONTAINED_READ_ONLY) && strcmp(cwd, writable) == 0 &&
        at_fixed_path(writable, run_at, cwd) == 0) {
        back = run_at;
        held |= CONTAINED_FIXED_PATH;
    }
    if (chdir(back) != 0)
        return -1; /* the run's folder is not where it should be: no run */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
        held |= CONTAINED_OWN_PROC;
        /* Files there that check only their mode, which root without capabilities
         * passes: read-only, where they exist. */
        mask("/proc/sys");
        mask("/proc/sysrq-trigger");
        mask("/proc/irq");
        mask("/proc/bus");
        mask("/proc/pressure");
    }
    return held;
}

/* Keep only the capabilities in `keep` (bit n: capability n), in every set and the bounding
 * set, and forbid gaining any through execve. Returns the CONTAINED_ bits that held. */
static int drop_privileges(unsigned long long keep)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    int held = CONTAINED_NO_CAPS, cap;
    for (cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL)
                break; /* past the last capability this kernel knows */
            held = 0;
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0)
        held = 0;
    for (cap = 0; cap < 2; cap++) {
        uint32_t bits = (uint32_t)(keep >> (32 * cap));
        data[cap].effective &= bits;
        data[cap].permitted &= bits;
        data[cap].inheritable &= bits;
    }
    if (syscall(SYS_capset, &header, data) != 0)
        held = 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        held |= CONTAINED_NO_NEW_PRIVS;
    return held;
}

/*
 * No Unix socket of the machine's may be reached: a socket with a path is not stopped by a
 * read-only mount, nor by the network namespace, and the machine keeps some where the
 * run can see them (a container engine's, an agent's in a home folder). A seccomp filter
 * refuses socket(AF_UNIX, ...) with EACCES, by either system-call table (a 64-bit program
 * can use the 32-bit one), refuses socketcall, which hides its arguments, the x32 table,
 * and io_uring, which can make sockets too. socketpair stays for streams and sequenced
 * packets, whose sockets have no path and connect to none; a datagram pair could send to
 * any path (sendto), so it is refused too.
 * Needs no_new_privs (drop_privileges). Returns 0 when it held.
 */
#define DENY(errno_) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (errno_))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
static int no_unix_sockets(void)
{
    /* Each instruction numbered; a jump skips that many (jt, jf) and says where it lands. */
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 2, 0), /* → 4 */
        /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 7, 0), /* → 10 */
        /* 3 */ ALLOW,
        /* The x86-64 table. */
        /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 21, 0), /* x32 → 27 */
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 41, 9, 0), /* socket → 16 */
        /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 53, 11, 0), /* socketpair → 19 */
        /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 425, 19, 0), /* io_uring_setup → 28 */
        /* 9 */ ALLOW,
        /* The i386 table, also from a 64-bit program (int $0x80). */
        /* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102, 15, 0), /* socketcall → 27 */
        /* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 359, 3, 0), /* socket → 16 */
        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 360, 5, 0), /* socketpair → 19 */
        /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 425, 13, 0), /* io_uring_setup → 28 */
        /* 15 */ ALLOW,
        /* socket: its domain, the first argument's low word. */
        /* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 7, 0), /* → 25 */
        /* 18 */ ALLOW,
        /* socketpair: AF_UNIX streams and sequenced packets only (type flags masked). */
        /* 19 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        /* 20 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 5), /* other → 26 */
        /* 21 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        /* 22 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~(unsigned)(SOCK_CLOEXEC | SOCK_NONBLOCK)),
        /* 23 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM, 2, 0), /* → 26 */
        /* 24 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_SEQPACKET, 1, 0), /* → 26 */
        /* 25 */ DENY(EACCES), /* also a datagram pair, which can sendto() any path */
        /* 26 */ ALLOW,
        /* 27 */ DENY(ENOSYS),
        /* 28 */ DENY(EPERM),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static void limit(int resource, rlim_t value)
{
    struct rlimit r;
    r.rlim_cur = r.rlim_max = value;
    setrlimit(resource, &r);
}

struct run {
    int tool, no_aslr;
    rlim_t cpu, as;
    long max_procs;
    unsigned long long caps;
    const char *writable;
    const char *run_at; /* where the run's folder is seen from inside, or NULL: in place */
    struct timespec deadline;
    char **argv;
    char *file; /* what sample mode executes: --exec's FILE, else argv[0] */
    char *shown[MAX_SHOWN + 1]; /* files kept visible in the private /tmp, NULL-ended */
    char *kept[MAX_KEPT + 1];   /* --read-only paths, NULL-ended */
    int read_only_or_no_run;    /* --read-only-or-no-run, or a --read-only given */
    sigset_t waited, none;
};

/* The run below the reaper's priority, so that a fork storm cannot starve its count
 * (the reaper itself, where it may, at the highest: REAPER_PRIORITY). */
#define PROCESS_BELOW_REAPER PRIO_PROCESS, 0, 5
#define REAPER_PRIORITY -20

/* In the forked child: limits, privileges, then the program. Never returns. */
static void start_program(const struct run *r)
{
    int held;
    struct rlimit cpu_limit;
    long host = 0;
    char self[32];
    ssize_t len;
    sigprocmask(SIG_SETMASK, &r->none, NULL);
    if (host_proc >= 0 && (len = readlinkat(host_proc, "self", self, sizeof self - 1)) > 0) {
        self[len] = '\0';
        host = atol(self);
    }
    setpriority(PROCESS_BELOW_REAPER);
    if (!r->tool) {
        setpgid(0, 0);
        say("S %ld %ld\n", host ? host : (long)getpid(), (long)getpid());
        /* Both ways: a personality inherited from whoever started the build (setarch
         * -R, gdb) would run a sample that asks for ASLR without it. */
        personality(r->no_aslr ? PER_LINUX | ADDR_NO_RANDOMIZE : PER_LINUX);
        say("P %ld %ld\n", (long)getpid(), (long)personality(0xffffffff));
    }
    /* SIGXCPU at the CPU limit, which names the cause; SIGKILL a second later for a
     * program that ignores it. */
    cpu_limit.rlim_cur = r->cpu;
    cpu_limit.rlim_max = r->cpu + 1;
    setrlimit(RLIMIT_CPU, &cpu_limit);
    limit(RLIMIT_AS, r->as);
    limit(RLIMIT_CORE, 0);
    limit(RLIMIT_FSIZE, (rlim_t)MAX_FILE_BYTES);
    /* A fresh, anonymous session keyring (KEYCTL_JOIN_SESSION_KEYRING with no name):
     * @s is the run's own. @u is keyed by uid alone (a user namespace maps it apart only
     * where the build is not root), so it is not isolated here. */
    syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL);
    held = drop_privileges(r->caps);
    if ((held & CONTAINED_NO_NEW_PRIVS) == 0 || no_unix_sockets() != 0) {
        /* Unix sockets would stay open to the run: no run. */
        fprintf(stderr, "launcher: Unix sockets cannot be closed to the run: no run\n");
        say("F %ld %ld\n", (long)getpid(), (long)(errno ? errno : EPERM));
        _exit(127);
    }
    if (!r->tool)
        say("N %ld %ld\n", (long)held, 0L);
    if (r->tool)
        execvp(r->argv[0], r->argv);
    else
        execv(r->file, r->argv);
    if (r->tool) {
        fprintf(stderr, "launcher: %s: %s\n", r->argv[0], strerror(errno));
    }
    say("F %ld %ld\n", (long)getpid(), (long)errno);
    _exit(127);
}

/* The status to exit with for a child's wait status. */
static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

/*
 * Tool mode: a process of the run may stop the tool, its parent or ancestor (a program
 * roads explain's tracer runs sends it SIGSTOP, which cannot be blocked), and the run
 * would then wait for the build's timeout. The init is told of its child's stop at once
 * (SIGCHLD) and continues it; the first time, it says so on stderr (TOOL_STOPPED in
 * roads/capture/runner.py), unless that pipe is full: a report line never blocks.
 */
static void continue_tool(pid_t tool, int *said)
{
    siginfo_t info;
    struct pollfd err = {STDERR_FILENO, POLLOUT, 0};
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, tool, &info, WSTOPPED | WNOHANG) != 0 || info.si_pid != tool)
        return;
    if (!*said && poll(&err, 1, 0) == 1 && (err.revents & POLLOUT)) {
        fprintf(stderr, "launcher: the tool was stopped by signal %d; it was continued\n",
                info.si_status);
        *said = 1;
    }
    kill(tool, SIGCONT);
}

/*
 * Fork the program and reap every process of the run until none is left. Runs as the
 * init of the run's PID namespace, or (the fallback) as a child subreaper.
 */
static int reap(const struct run *r)
{
    struct timespec tick = {0, 5 * 1000 * 1000}, now, counted = {0, 0};
    int killing = 0, code = 0, said = 0;
    pid_t pid;
    /* A storm of hundreds of processes at nice 5 still left this loop, at nice 0, a
     * slice a few times a second, while the storm doubled in between (a fork bomb under
     * --max-tasks 512 took 3000 pids, and more as far as the machine had, before it was
     * counted); at -20 (root's, or CAP_SYS_NICE's: elsewhere it stays as it is) it is
     * counted within some tens of milliseconds. The loop sleeps but for its count. */
    setpriority(PRIO_PROCESS, 0, REAPER_PRIORITY);
    pid = fork();
    if (pid < 0) {
        perror("launcher: fork");
        return 2;
    }
    if (pid == 0)
        start_program(r);
    if (!r->tool) {
        group = pid;
        setpgid(pid, pid); /* also here, so the group exists before either side relies on it */
        close(SAMPLE_FD);  /* the sample's pipe is the sample's */
    }
    for (;;) {
        int status;
        pid_t done;
        siginfo_t info;
        int gone = 0, sig;
        for (;;) {
            long host = 0;
            struct rusage usage;
            struct rlimit cpu;
            memset(&info, 0, sizeof info);
            /* Look before reaping: a zombie's pid can still be translated. */
            if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0) {
                gone = errno == ECHILD;
                break;
            }
            if (info.si_pid == 0)
                break;
            if (host_proc >= 0)
                host = host_pid(info.si_pid);
            /* The process's own CPU limit, which it (a shell's ulimit -t, setrlimit) may
             * have lowered: a zombie keeps its limits until it is reaped. */
            if (prlimit(info.si_pid, RLIMIT_CPU, NULL, &cpu) != 0)
                cpu.rlim_cur = cpu.rlim_max = RLIM_INFINITY;
            done = wait4(info.si_pid, &status, WNOHANG | __WALL, &usage);
            if (done <= 0)
                break;
            if (done == pid) {
                code = exit_code(status);
                /* A tool's run ends with the tool: what it left is not waited for. */
                if (r->tool && !killing) {
                    killing = 1;
                    kill_run();
                }
            }
            if (!r->tool)
                say("X %ld %ld %ld %ld %ld\n", host ? host : (long)done, (long)status,
                    cpu_ms(&usage), seconds(cpu.rlim_cur), seconds(cpu.rlim_max));
        }
        if (gone)
            break;
        if (r->tool && !killing)
            continue_tool(pid, &said);
        sig = sigtimedwait(&r->waited, &info, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            killing = 1;
        if (killing) {
            kill_run(); /* again at every turn: a process may have forked meanwhile */
            continue;
        }
        /* Count every 5 ms: a fork storm grows between ticks, but not far, and the
         * sample runs at a lower priority than this loop. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!killing && elapsed_ns(&r->deadline, &now) >= 0) {
            killing = 1;
            kill_run();
            continue;
        }
        if (r->max_procs > 0 && elapsed_ns(&counted, &now) >= 5 * 1000 * 1000) {
            long tasks = 0;
            long counted_now = host_proc >= 0
                ? walk_run(host_proc, host_self, r->max_procs + 1, &tasks)
                : walk_run(own_proc, (long)getpid(), r->max_procs + 1, &tasks);
            counted = now;
            if (tasks > counted_now)
                counted_now = tasks;
            if (counted_now > r->max_procs) {
                struct pollfd err = {STDERR_FILENO, POLLOUT, 0};
                say("L %ld %ld\n", r->max_procs, 0L);
                if (r->tool && poll(&err, 1, 0) == 1 && (err.revents & POLLOUT))
                    fprintf(stderr, "launcher: the run started more than %ld processes and "
                                    "threads at once; killed\n", r->max_procs);
                killing = 1;
                kill_run();
            }
        }
    }
    return r->tool ? code : 0;
}

/*
 * Without CAP_SYS_ADMIN (not root): a user namespace of our own, where this process has
 * every capability, mapped to the same user and group outside, and in it the PID
 * namespace. Both in one call, so that a refusal (a kernel or a security module that
 * allows the one but not the other) leaves nothing changed. Returns whether it held.
 */
static int own_user_namespace(void)
{
    char map[64];
    int fd, n;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0)
        return 0;
    if ((fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC)) >= 0) {
        n = write(fd, "deny", 4);
        close(fd);
    }
    n = snprintf(map, sizeof map, "%ld %ld 1", (long)uid, (long)uid);
    if ((fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC)) < 0 || write(fd, map, n) != n)
        return 1; /* the namespaces hold; the user stays unmapped (not recorded) */
    close(fd);
    n = snprintf(map, sizeof map, "%ld %ld 1", (long)gid, (long)gid);
    if ((fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC)) < 0 || write(fd, map, n) != n)
        return 1;
    close(fd);
    user_ns = 1;
    return 1;
}

/* The namespace's init: PID 1 of the run. Returns the launcher's exit status. */
static int init(struct run *r, int outer_alive)
{
    char self[32];
    ssize_t len;
    int held = CONTAINED_PID_NS | (user_ns ? CONTAINED_USER_NS : 0), files;
    struct pollfd alive = {outer_alive, POLLIN, 0};
    /* The init dies with the outer launcher, and the namespace with the init. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (poll(&alive, 1, 0) != 0)
        return 3; /* the outer launcher is already gone */
    close(outer_alive);
    /* Only SIGCHLD is waited for: a SIGTERM from inside must not end the run, and the
     * kernel drops unhandled signals sent to an init from its own namespace. */
    sigemptyset(&r->waited);
    sigaddset(&r->waited, SIGCHLD);
    sigprocmask(SIG_SETMASK, &r->waited, NULL);
    host_proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (host_proc >= 0 && (len = readlinkat(host_proc, "self", self, sizeof self - 1)) > 0) {
        self[len] = '\0';
        host_self = atol(self);
    } else {
        return 2;
    }
    /* Each where the kernel allows it (it may refuse one and not the others), before the
     * mounts, so that /proc is mounted afresh with them. */
    if (unshare(CLONE_NEWIPC) == 0)
        held |= CONTAINED_IPC_NS;
    if (unshare(CLONE_NEWNET) == 0)
        held |= CONTAINED_NET_NS;
    files = isolate_files(r->writable, r->run_at, r->shown, r->tool, r->kept);
    if (files == -2) {
        fprintf(stderr, "launcher: what must stay read-only in the run's folder (%s) cannot "
                        "be kept so: no run\n", r->writable);
        return 2;
    }
    if (files < 0) {
        fprintf(stderr, "launcher: the run's folder (%s) cannot be set up: no run\n",
                r->writable);
        return 2;
    }
    if (r->read_only_or_no_run && !(files & CONTAINED_READ_ONLY)) {
        fprintf(stderr, "launcher: the run's files cannot be made read-only here (no mount "
                        "namespace): no run\n");
        return 2;
    }
    held |= files;
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* pid 1 is one anyway; said for the reader */
    say("N %ld %ld\n", (long)held, 0L);
    return reap(r);
}

static void usage(void)
{
    fprintf(stderr, "usage: launcher REPORTFD SAMPLEFD NO_ASLR CPU AS MAX_PROCS CAPS WRITABLE "
                    "DEADLINE AT [--exec FILE] [--read-only PATH]... -- PROGRAM [ARGS...]\n"
                    "       launcher --tool CPU AS WRITABLE DEADLINE AT [--show FILE]... "
                    "[--max-tasks N] [--read-only PATH]... -- PROGRAM [ARGS...]\n"
                    "AT: - (run in place) or /PARENT/NAME (the folder seen there)\n"
                    "--exec FILE: the file run, PROGRAM then only its argv[0]\n"
                    "--show FILE: a file or folder kept visible, read-only, in the private "
                    "/tmp\n"
                    "--max-tasks N: the tool's run killed past N tasks at once\n"
                    "--read-only PATH: WRITABLE or a path below it kept read-only\n");
}

/* The options from argv[i] on (after AT), then "--" and the program: in tool mode each
 * --show FILE noted; in sample mode one --exec FILE, the file to run, whose path (not
 * argv[0]'s) is then the one kept visible in the private /tmp. Returns 0 when they are
 * well formed. */
static int options(int argc, char **argv, int i, struct run *r)
{
    int shown = 0, kept = 0;
    r->file = NULL;
    r->read_only_or_no_run = 0;
    while (i + 1 < argc && strcmp(argv[i], "--") != 0) {
        if (strcmp(argv[i], "--read-only-or-no-run") == 0) {
            r->read_only_or_no_run = 1;
            i += 1;
            continue;
        }
        if (r->tool && strcmp(argv[i], "--show") == 0 && shown < MAX_SHOWN)
            r->shown[shown++] = argv[i + 1];
        else if (r->tool && strcmp(argv[i], "--max-tasks") == 0 && r->max_procs == 0 &&
                 (r->max_procs = atol(argv[i + 1])) > 0)
            ; /* noted */
        else if (strcmp(argv[i], "--read-only") == 0 && kept < MAX_KEPT)
            r->kept[kept++] = argv[i + 1];
        else if (!r->tool && strcmp(argv[i], "--exec") == 0 && r->file == NULL)
            r->file = argv[i + 1];
        else
            return -1;
        i += 2;
    }
    if (i + 1 >= argc || strcmp(argv[i], "--") != 0)
        return -1;
    r->argv = argv + i + 1;
    if (!r->tool) {
        if (r->file == NULL)
            r->file = r->argv[0];
        r->shown[shown++] = r->file; /* the program, if its path leads into /tmp */
    }
    r->shown[shown] = NULL;
    r->kept[kept] = NULL;
    if (kept > 0)
        r->read_only_or_no_run = 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct run r;
    sigset_t outer;
    pid_t parent = getppid(), child;
    int alive[2], asked = 0, refused = 0;

    long deadline;
    memset(&r, 0, sizeof r);
    if (argc >= 2 && strcmp(argv[1], "--tool") == 0) {
        r.tool = 1;
        if (argc < 9 || options(argc, argv, 7, &r) != 0) {
            usage();
            return 2;
        }
        r.cpu = (rlim_t)strtoull(argv[2], NULL, 10);
        r.as = (rlim_t)strtoull(argv[3], NULL, 10);
        r.writable = argv[4];
        deadline = atol(argv[5]);
        r.run_at = strcmp(argv[6], "-") == 0 ? NULL : argv[6];
    } else if (argc >= 13 && options(argc, argv, 11, &r) == 0) {
        int sample;
        /* Our report pipe first goes above the low descriptors, close-on-exec; then the
         * sample's pipe goes to descriptor 3 (its environment says ROADS_FD=3, the same in
         * every run, and with it the stack layout). */
        report = fcntl(atoi(argv[1]), F_DUPFD_CLOEXEC, 10);
        if (report < 0 || fcntl(report, F_SETFL, O_NONBLOCK) != 0) {
            perror("launcher: report descriptor");
            return 2;
        }
        close(atoi(argv[1]));
        sample = atoi(argv[2]);
        if (sample != SAMPLE_FD) {
            if (dup2(sample, SAMPLE_FD) < 0) {
                perror("launcher: dup2");
                return 2;
            }
            close(sample);
        }
        r.no_aslr = atoi(argv[3]);
        r.cpu = (rlim_t)strtoull(argv[4], NULL, 10);
        r.as = (rlim_t)strtoull(argv[5], NULL, 10);
        r.max_procs = atol(argv[6]);
        r.caps = strtoull(argv[7], NULL, 16);
        r.writable = argv[8];
        deadline = atol(argv[9]);
        r.run_at = strcmp(argv[10], "-") == 0 ? NULL : argv[10];
    } else {
        usage();
        return 2;
    }

    clock_gettime(CLOCK_MONOTONIC, &r.deadline);
    r.deadline.tv_sec += deadline > 0 ? deadline : 1;
    /* SIGCHLD and SIGTERM (and in tool mode SIGINT) are taken synchronously. SIGPIPE is
     * blocked too: a line written to the build once it is gone (its pipes closed: killed,
     * say, while a process of the run held it stopped) fails with EPIPE instead of killing
     * this launcher, which then left the run as it was, a stopped tool stopped for ever.
     * The program gets the mask the launcher was started with (start_program). */
    sigemptyset(&outer);
    sigaddset(&outer, SIGCHLD);
    sigaddset(&outer, SIGTERM);
    sigaddset(&outer, SIGPIPE);
    if (r.tool)
        sigaddset(&outer, SIGINT);
    sigprocmask(SIG_BLOCK, &outer, &r.none);
    r.waited = outer;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        return 3; /* the build died before the death signal was armed */

    if (unshare(CLONE_NEWPID) != 0 && (errno != EPERM || !own_user_namespace()))
        refused = 1;
    if (refused || pipe2(alive, O_CLOEXEC) != 0) {
        /* Refused (not root, or a container without CAP_SYS_ADMIN): a child subreaper,
         * every file as writable as it is outside. */
        if (r.read_only_or_no_run) {
            fprintf(stderr, "launcher: the run's files cannot be made read-only here (no "
                            "PID or mount namespace): no run\n");
            return 2;
        }
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        own_proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        say("N %ld %ld\n", (long)CONTAINED_SUBREAPER, 0L);
        return reap(&r);
    }
    child = fork();
    if (child < 0) {
        perror("launcher: fork");
        return 2;
    }
    if (child == 0) {
        close(alive[1]);
        _exit(init(&r, alive[0]));
    }
    close(alive[0]);
    if (!r.tool)
        close(SAMPLE_FD);
    /* The outer launcher: ends the namespace when asked, and exits with its init. */
    for (;;) {
        siginfo_t info;
        int status;
        int sig = sigwaitinfo(&outer, &info);
        if (sig == SIGTERM || sig == SIGINT) {
            asked = 1;
            kill(child, SIGKILL);
        }
        if (waitpid(child, &status, WNOHANG) == child) {
            if (asked && !r.tool)
                return 0; /* ended as the build asked, as in the fallback */
            if (WIFSIGNALED(status)) {
                /* The init was killed: so is this launcher, and the build can tell. */
                sigset_t one;
                signal(WTERMSIG(status), SIG_DFL);
                sigemptyset(&one);
                sigaddset(&one, WTERMSIG(status));
                sigprocmask(SIG_UNBLOCK, &one, NULL);
                kill(getpid(), WTERMSIG(status));
            }
            return exit_code(status);
        }
    }
}
