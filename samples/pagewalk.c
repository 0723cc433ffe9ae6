/*
 * pagewalk: how the CPU finds a byte. With 4-level paging an x86-64 virtual
 * address is cut into five fields: four 9-bit indices, one per level of page
 * table (PML4, PDPT, PD, PT), and a 12-bit offset inside the 4 KiB page (5-level
 * paging adds a PML5 index above them). The last table entry holds the frame
 * number; the physical address is frame * page size + offset. The build reads
 * the frame from /proc/PID/pagemap (frame numbers need CAP_SYS_ADMIN; without
 * it they read as 0).
 */
#include <stdint.h>
#include <stdio.h>

#include "roads.h"

long answer = 41; /* a global in .data: a fixed address, a file-backed page */

int main(void)
{
    answer++; /* the page is already a private copy: execve zeroed .bss in it */

    uintptr_t va = (uintptr_t)&answer;
    uintptr_t page_start = va & ~(uintptr_t)0xfff;

    ROADS_ADDRESS("answer", &answer);
    ROADS_RANGE("answer-page", page_start, 4096);
    ROADS_CHECKPOINT("main");

    /* The same split the hardware does, printed for a reader running this. */
    printf("virtual address %#lx\n", (unsigned long)va);
    printf("PML4 index %lu\n", (unsigned long)(va >> 39) & 0x1ff);
    printf("PDPT index %lu\n", (unsigned long)(va >> 30) & 0x1ff);
    printf("PD index   %lu\n", (unsigned long)(va >> 21) & 0x1ff);
    printf("PT index   %lu\n", (unsigned long)(va >> 12) & 0x1ff);
    printf("offset     %#lx\n", (unsigned long)va & 0xfff);
    return answer == 42 ? 0 : 1;
}
