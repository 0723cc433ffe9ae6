/*
 * launcher.c: starts one sample run inside a small sandbox and reaps everything it spawns.
 *
 * usage: launcher REPORTFD SAMPLEFD NO_ASLR CPU_SECONDS AS_BYTES MAX_PROCS -- PROGRAM [ARGS...]
 *
 * The launcher is a child subreaper, so every orphan of the run is reparented to it and
 * reaped here, never left a zombie. The sample runs in a process group of its own (its
 * pid). The sample's protocol pipe (roads.h) is SAMPLEFD, which the sample finds at
 * descriptor 3; the launcher reports on REPORTFD, a pipe of its own that the sample never
 * inherits (close-on-exec), so nothing the sample writes can pass for these lines:
 *
 *   S <pid>                 the sample started; its pid is also its process group
 *   P <pid> <persona>       personality(2) after asking for ADDR_NO_RANDOMIZE
 *   F <pid> <errno>         exec failed
 *   X <pid> <wait status> <cpu ms>
 *                           a process of the run was reaped, after that much CPU time
 *   L <count>               more than MAX_PROCS processes at once: the run was killed
 *
 * Processes are counted by walking /proc/PID/task/TID/children from the launcher down,
 * every 5 ms; RLIMIT_NPROC would be simpler but does not bind root. SIGTERM (sent by the
 * build to end a run, or by the kernel when the build dies: PR_SET_PDEATHSIG) kills every
 * descendant, also those that left the process group with setsid(2), and the launcher
 * exits once nothing is left to reap.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_FD 3 /* also in roads/runner.py (CONTROL_FD) */
#define MAX_RUN 4096

static int report = -1;
static pid_t group = 0;
static long found[MAX_RUN];

static void say(const char *fmt, ...)
{
    char line[96];
    int n;
    va_list args;
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

/* The children of every thread of `pid`, appended to `out` (at most `cap` in all). */
static long children_of(long pid, long *out, long n, long cap)
{
    char path[96];
    DIR *tasks;
    struct dirent *t;
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    if ((tasks = opendir(path)) == NULL)
        return n;
    while ((t = readdir(tasks)) != NULL && n < cap) {
        char file[384];
        FILE *f;
        long child;
        if (t->d_name[0] == '.')
            continue;
        snprintf(file, sizeof file, "/proc/%ld/task/%s/children", pid, t->d_name);
        if ((f = fopen(file, "r")) == NULL)
            continue;
        while (n < cap && fscanf(f, "%ld", &child) == 1)
            out[n++] = child;
        fclose(f);
    }
    closedir(tasks);
    return n;
}

/*
 * Every process of the run now, into `found`: all descendants of the launcher (orphans
 * are ours too, as the subreaper). The walk costs time in the size of the run, not of the
 * machine, so it can run often; it stops past `cap`.
 */
static long walk_run(long cap)
{
    long done = 0, n;
    if (cap > MAX_RUN)
        cap = MAX_RUN;
    n = children_of((long)getpid(), found, 0, cap);
    while (done < n && n < cap)
        n = children_of(found[done++], found, n, cap);
    return n;
}

/* SIGKILL the group and every descendant, wherever its process group now is. */
static void kill_run(void)
{
    long i, n;
    if (group > 0) {
        kill(-group, SIGKILL);
        kill(-group, SIGCONT);
    }
    n = walk_run(MAX_RUN);
    for (i = 0; i < n; i++)
        kill((pid_t)found[i], SIGKILL);
}

static long elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

int main(int argc, char **argv)
{
    sigset_t chld, none;
    struct timespec tick = {0, 5 * 1000 * 1000}, now, counted = {0, 0};
    long max_procs;
    int no_aslr, sample, killing = 0;
    rlim_t cpu, as;
    pid_t pid, parent = getppid();

    if (argc < 9 || strcmp(argv[7], "--") != 0) {
        fprintf(stderr, "usage: launcher REPORTFD SAMPLEFD NO_ASLR CPU AS MAX_PROCS -- "
                        "PROGRAM [ARGS...]\n");
        return 2;
    }
    /* Our report pipe first goes above the low descriptors, close-on-exec; then the
     * sample's pipe goes to descriptor 3 (its environment says ROADS_FD=3, the same in
     * every run, and with it the stack layout). */
    report = fcntl(atoi(argv[1]), F_DUPFD_CLOEXEC, 10);
    if (report < 0) {
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
    no_aslr = atoi(argv[3]);
    cpu = (rlim_t)strtoull(argv[4], NULL, 10);
    as = (rlim_t)strtoull(argv[5], NULL, 10);
    max_procs = atol(argv[6]);

    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* SIGCHLD and SIGTERM are taken synchronously by sigtimedwait. */
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigaddset(&chld, SIGTERM);
    sigprocmask(SIG_BLOCK, &chld, &none);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        return 3; /* the build died before the death signal was armed */

    pid = fork();
    if (pid < 0) {
        perror("launcher: fork");
        return 2;
    }
    if (pid == 0) {
        struct rlimit r;
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        /* Below the launcher's priority, so that a fork storm cannot starve its count. */
        setpriority(PRIO_PROCESS, 0, 5);
        if (no_aslr)
            personality(PER_LINUX | ADDR_NO_RANDOMIZE);
        say("P %ld %ld\n", (long)getpid(), (long)personality(0xffffffff));
        /* SIGXCPU at the CPU limit, which names the cause; SIGKILL a second later for a
         * program that ignores it. */
        r.rlim_cur = cpu;
        r.rlim_max = cpu + 1;
        setrlimit(RLIMIT_CPU, &r);
        r.rlim_cur = r.rlim_max = as;
        setrlimit(RLIMIT_AS, &r);
        r.rlim_cur = r.rlim_max = 0;
        setrlimit(RLIMIT_CORE, &r);
        execv(argv[8], argv + 8);
        say("F %ld %ld\n", (long)getpid(), (long)errno);
        _exit(127);
    }
    group = pid;
    setpgid(pid, pid); /* also here, so the group exists before either side relies on it */
    close(SAMPLE_FD);  /* the sample's pipe is the sample's */
    say("S %ld %ld\n", (long)pid, 0L);

    for (;;) {
        int status;
        pid_t done;
        siginfo_t info;
        struct rusage usage;
        while ((done = wait4(-1, &status, WNOHANG | __WALL, &usage)) > 0)
            say("X %ld %ld %ld\n", (long)done, (long)status, cpu_ms(&usage));
        if (done < 0 && errno == ECHILD)
            break;
        if (sigtimedwait(&chld, &info, &tick) == SIGTERM)
            killing = 1;
        if (killing) {
            kill_run(); /* again at every turn: a process may have forked meanwhile */
            continue;
        }
        /* Count every 5 ms: a fork storm grows between ticks, but not far, and the
         * sample runs at a lower priority than this loop. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (max_procs > 0 && elapsed_ns(&counted, &now) >= 5 * 1000 * 1000) {
            counted = now;
            if (walk_run(max_procs + 1) > max_procs) {
                say("L %ld %ld\n", max_procs, 0L);
                killing = 1;
                kill_run();
            }
        }
    }
    return 0;
}
