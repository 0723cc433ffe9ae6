/*
 * filemap: one page of a file mapped three times, MAP_SHARED (written), MAP_PRIVATE
 * (written) and MAP_SHARED again (only read), then an anonymous MAP_SHARED page
 * written by a forked child, then a cold file whose first touch is a major fault.
 *
 * The file lives in the run's own folder (the only writable one in the sandbox). A
 * shared mapping of a file is a window on the page cache: every shared mapping of
 * the page, in any process, maps the same frame, and a write through it is a write
 * to the file. A private mapping starts on that same frame, read-only; its first
 * write copies the page to a frame of its own and the file never sees it.
 *
 * Fault counts come from getrusage and are recorded as addresses (numbers), so the
 * capture keeps them next to the checkpoint they precede. They are counted from the
 * moment the cold file is mapped: the process's total depends on what the loader and
 * the C library touched before, which is not the same from one run to the next.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "roads.h"

#define COLD_PAGES 16

static struct rusage mapped; /* the counts when the cold file was mapped */

static void faults(const char *minor, const char *major)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    ROADS_ADDRESS(minor, (uintptr_t)(ru.ru_minflt - mapped.ru_minflt));
    ROADS_ADDRESS(major, (uintptr_t)(ru.ru_majflt - mapped.ru_majflt));
}

static int fill(const char *path, char byte, size_t bytes)
{
    char block[4096];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    memset(block, byte, sizeof block);
    for (size_t done = 0; done < bytes; done += sizeof block)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            return -1;
    if (fsync(fd) != 0) /* on the disk now: the page cache holds clean pages */
        return -1;
    return fd;
}

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct statfs folder; /* a major fault needs a disk: say what the folder is on */
    if (statfs(".", &folder) != 0)
        return 1;
    ROADS_ADDRESS("folder-fs-type", (uintptr_t)folder.f_type);
    int fd = fill("filemap.dat", 'f', page);
    if (fd < 0)
        return 1;

    /* Three pages of addresses in a row, reserved, then each replaced by a mapping of
     * the file's first page, so that one range shows the three side by side. */
    char *slots = mmap(NULL, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return 1;
    char *shared = mmap(slots, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    char *private = mmap(slots + page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
    char *view = mmap(slots + 2 * page, page, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (shared == MAP_FAILED || private == MAP_FAILED || view == MAP_FAILED)
        return 1;
    volatile char sink = shared[0] + private[0] + view[0]; /* read faults: map, no copy */
    (void)sink;
    ROADS_ADDRESS("shared", shared);
    ROADS_ADDRESS("private", private);
    ROADS_ADDRESS("view", view);
    ROADS_RANGE("mappings", slots, 3 * page); /* shared, private, view */
    ROADS_RANGE("shared", shared, page);
    ROADS_RANGE("private", private, page);
    ROADS_RANGE("view", view, page);
    ROADS_CHECKPOINT("read");

    shared[0] = 'S';  /* the page-cache page itself: the file changes */
    private[0] = 'P'; /* copy on write: a new anonymous page, the file does not */
    if (msync(shared, page, MS_SYNC) != 0) /* write the dirty page back now */
        return 1;
    char from_file = 0;
    if (pread(fd, &from_file, 1, 0) != 1) /* read(2) copies from the page cache */
        return 1;
    ROADS_ADDRESS("file-byte", (uintptr_t)(unsigned char)from_file);
    ROADS_ADDRESS("view-byte", (uintptr_t)(unsigned char)view[0]);
    ROADS_ADDRESS("private-byte", (uintptr_t)(unsigned char)private[0]);
    ROADS_CHECKPOINT("written");

    /* Anonymous and shared: no file, yet fork does not copy it. */
    char *anon = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED)
        return 1;
    anon[0] = 'A';
    ROADS_ADDRESS("anon", anon);
    ROADS_RANGE("anon", anon, page);
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        anon[0] = 'C'; /* no copy: the parent sees this byte */
        ROADS_CHECKPOINT("child-wrote");
        _exit(0);
    }
    if (waitpid(child, NULL, 0) != child)
        return 1;
    ROADS_ADDRESS("anon-byte", (uintptr_t)(unsigned char)anon[0]);
    ROADS_CHECKPOINT("parent-after-child");

    if (munmap(shared, page) != 0 || munmap(private, page) != 0 || munmap(view, page) != 0)
        return 1;
    ROADS_CHECKPOINT("unmapped");

    /* A major fault: the file's pages are on the disk and not in the page cache. */
    int cold = fill("cold.dat", 'c', COLD_PAGES * page);
    if (cold < 0 || posix_fadvise(cold, 0, 0, POSIX_FADV_DONTNEED) != 0)
        return 1;
    char *far = mmap(NULL, COLD_PAGES * page, PROT_READ, MAP_SHARED, cold, 0);
    if (far == MAP_FAILED || getrusage(RUSAGE_SELF, &mapped) != 0)
        return 1;
    ROADS_ADDRESS("cold", far);
    faults("minflt-cold-mapped", "majflt-cold-mapped");
    ROADS_CHECKPOINT("cold-mapped");
    sink = far[0]; /* read from the disk, with readahead */
    faults("minflt-cold-first", "majflt-cold-first");
    ROADS_CHECKPOINT("cold-first");
    sink = far[(COLD_PAGES / 2) * page]; /* already read ahead, and already mapped */
    faults("minflt-cold-neighbour", "majflt-cold-neighbour");
    ROADS_CHECKPOINT("cold-neighbour");
    return 0;
}
