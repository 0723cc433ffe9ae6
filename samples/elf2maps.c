/*
 * elf2maps: a program whose only job is to be mapped. Its PT_LOAD segments
 * (readelf -l) become the regions of /proc/PID/maps; the linker's symbols
 * etext, edata and end mark where code, initialized data and .bss stop.
 * A small .bss fits in the zeroed tail of the last file-backed page; built
 * with -DBIG_BSS it no longer does, and the kernel adds an anonymous region.
 */
#include "roads.h"

#ifdef BIG_BSS
#define BSS_BYTES (1024 * 1024)
#else
#define BSS_BYTES 64
#endif

/* Defined by the linker, not by us: see man 3 end. */
extern char etext, edata, end;

long initialized[4] = {1, 2, 3, 4}; /* .data: bytes stored in the file */
char zeroed[BSS_BYTES];             /* .bss: only its size is stored */

int main(void)
{
    ROADS_ADDRESS("main", &main);
    ROADS_ADDRESS("etext", &etext);   /* first byte after the code */
    ROADS_ADDRESS("initialized", initialized);
    ROADS_ADDRESS("edata", &edata);   /* first byte after initialized data */
    ROADS_ADDRESS("zeroed", zeroed);
    ROADS_ADDRESS("end", &end);       /* first byte after .bss */
    ROADS_CHECKPOINT("main");
    return (int)zeroed[BSS_BYTES - 1]; /* always 0: .bss starts out zeroed */
}
