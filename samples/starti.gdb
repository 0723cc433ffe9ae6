# Batch gdb session for starti.c: the address space at the first instruction,
# at main and on the way out. gdb turns ASLR off by itself.
set pagination off
set confirm off
set width 0
# The checkpoints would stop the program under gdb too: make them no-ops here.
unset environment ROADS_FD
# Echo each command below, so that the transcript reads like the session it was.
set trace-commands on

# Stop before the first instruction runs: that is ld.so's _start, not ours.
starti
info proc mappings
x/i $pc

# main: ld.so has mapped libc and made the relocated data read-only (RELRO).
break main
continue
info proc mappings
x/i $pc

# exit: main has returned into libc; printf's buffer made a heap.
# (libc's sources are not installed: show where we are without the source line.)
break exit
set print frame-info location
continue
info proc mappings
backtrace

continue
