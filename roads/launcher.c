/*
 * launcher.c: starts one sample run inside a small sandbox and reaps everything it spawns.
 *
 * usage: launcher CTLFD NO_ASLR CPU_SECONDS AS_BYTES MAX_PROCS -- PROGRAM [ARGS...]
 *
 * The launcher is a child subreaper, so every orphan of the run is reparented to it and
 * reaped here, never left a zombie. The sample runs in a process group of its own (its
 * pid), which the build kills as a whole. Lines written to CTLFD, one write(2) each:
 *
 *   S <pid>                 the sample started; its pid is also its process group
 *   P <pid> <persona>       personality(2) after asking for ADDR_NO_RANDOMIZE
 *   F <pid> <errno>         exec failed
 *   X <pid> <wait status>   a process of the run was reaped
 *   L <count>               more than MAX_PROCS processes at once: the group was killed
 *
 * Processes are counted by walking /proc/PID/task/TID/children from the launcher down,
 * every 5 ms; RLIMIT_NPROC would be simpler but does not bind root.
 *
 * It exits once nothing is left to reap. If the build dies, PR_SET_PDEATHSIG tells the
 * launcher, which kills the group and still reaps it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ctl = -1;
static pid_t group = 0;

static void say(const char *fmt, long a, long b)
{
    char line[96];
    int n = snprintf(line, sizeof line, fmt, a, b);
    if (n > 0 && write(ctl, line, (size_t)n) < 0)
        return; /* the build is gone; keep reaping anyway */
}

static void kill_group(void)
{
    if (group > 0) {
        kill(-group, SIGKILL);
        kill(-group, SIGCONT);
    }
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
 * How many processes the run has now: every descendant of the launcher (orphans are
 * ours too, as the subreaper). The walk costs time in the size of the run, not of the
 * machine, so it can run often; it stops counting past `cap`.
 */
static long count_run(long cap)
{
    static long found[4096];
    long done = 0, n;
    if (cap > (long)(sizeof found / sizeof found[0]))
        cap = sizeof found / sizeof found[0];
    n = children_of((long)getpid(), found, 0, cap);
    while (done < n && n < cap)
        n = children_of(found[done++], found, n, cap);
    return n;
}

int main(int argc, char **argv)
{
    sigset_t chld, none;
    struct timespec tick = {0, 5 * 1000 * 1000}, now, counted = {0, 0};
    long max_procs;
    int no_aslr;
    rlim_t cpu, as;
    pid_t pid;

    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: launcher CTLFD NO_ASLR CPU AS MAX_PROCS -- PROGRAM [ARGS...]\n");
        return 2;
    }
    ctl = atoi(argv[1]);
    /* The sample always finds the pipe at descriptor 3 (its environment says ROADS_FD=3),
     * so that the environment, and with it the stack, is the same in every run. */
    if (ctl != 3) {
        if (dup2(ctl, 3) < 0) {
            perror("launcher: dup2");
            return 2;
        }
        close(ctl);
        ctl = 3;
    }
    no_aslr = atoi(argv[2]);
    cpu = (rlim_t)strtoull(argv[3], NULL, 10);
    as = (rlim_t)strtoull(argv[4], NULL, 10);
    max_procs = atol(argv[5]);

    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* SIGCHLD and SIGTERM (our death signal) are taken synchronously by sigtimedwait. */
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigaddset(&chld, SIGTERM);
    sigprocmask(SIG_BLOCK, &chld, &none);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 3; /* the build died before we got here */

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
        r.rlim_cur = r.rlim_max = cpu;
        setrlimit(RLIMIT_CPU, &r);
        r.rlim_cur = r.rlim_max = as;
        setrlimit(RLIMIT_AS, &r);
        r.rlim_cur = r.rlim_max = 0;
        setrlimit(RLIMIT_CORE, &r);
        execv(argv[7], argv + 7);
        say("F %ld %ld\n", (long)getpid(), (long)errno);
        _exit(127);
    }
    group = pid;
    setpgid(pid, pid); /* also here, so the group exists before either side relies on it */
    say("S %ld %ld\n", (long)pid, 0L);

    for (;;) {
        int status;
        pid_t done;
        siginfo_t info;
        while ((done = waitpid(-1, &status, WNOHANG | __WALL)) > 0)
            say("X %ld %ld\n", (long)done, (long)status);
        if (done < 0 && errno == ECHILD)
            break;
        if (sigtimedwait(&chld, &info, &tick) == SIGTERM)
            kill_group();
        /* Count every 5 ms: a fork storm grows between ticks, but not far, and the
         * sample runs at a lower priority than this loop. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (max_procs > 0 && (now.tv_sec - counted.tv_sec) * 1000000000L +
                                     (now.tv_nsec - counted.tv_nsec) >= 5 * 1000 * 1000) {
            counted = now;
            if (count_run(max_procs + 1) > max_procs) {
                say("L %ld %ld\n", max_procs, 0L);
                kill_group();
                max_procs = 0;
            }
        }
    }
    return 0;
}
