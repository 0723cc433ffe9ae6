/*
 * stackgrow: the main thread's stack starts as a small [stack] region (the page
 * gives its size) and the kernel extends it downwards when the program touches
 * any address below it, up to the stack size limit (ulimit -s; the page reads it).
 * Each level of this recursion puts 64 KiB on the stack. Returning pops the
 * frames, but the region keeps its size: the kernel never shrinks it.
 */
#include <string.h>

#include "roads.h"

#define FRAME_BYTES (64 * 1024)
#define DEEPEST 64 /* 64 frames of 64 KiB: 4 MiB, half the usual limit */

struct stop {
    int depth;
    const char *frame_name;      /* the address of that level's local array */
    const char *checkpoint_name;
};

static const struct stop stops[] = {
    {1, "frame-depth-1", "depth-1"},
    {4, "frame-depth-4", "depth-4"},
    {16, "frame-depth-16", "depth-16"},
    {64, "frame-depth-64", "depth-64"},
};

static int descend(int depth)
{
    char frame[FRAME_BYTES];

    /* Writing the whole array makes every page of the frame real. */
    memset(frame, depth, sizeof frame);

    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        if (stops[i].depth == depth) {
            ROADS_ADDRESS(stops[i].frame_name, frame);
            ROADS_CHECKPOINT(stops[i].checkpoint_name);
        }
    }

    int below = depth < DEEPEST ? descend(depth + 1) : 0;
    return below + frame[depth]; /* uses the frame, so it cannot be optimized away */
}

int main(void)
{
    int local = 0;

    ROADS_ADDRESS("main-local", &local);
    ROADS_ADDRESS("frame-bytes", (size_t)FRAME_BYTES); /* what each level puts on the stack */
    ROADS_CHECKPOINT("start");
    int sum = descend(1);
    ROADS_CHECKPOINT("returned");
    return sum == DEEPEST * (DEEPEST + 1) / 2 ? 0 : 1;
}
