# Batch gdb session for starti.c (and its static build, starti-static): the address
# space at the first instruction, at main and on the way out. gdb turns ASLR off by
# itself.
set pagination off
set confirm off
set width 0
# The checkpoints would stop the program under gdb too: make them no-ops here.
unset environment ROADS_FD

# gdb has no command for /proc/PID/smaps. This one prints, for each region of the
# program file, how much of it is private anonymous memory (smaps' Anonymous line):
# pages that no longer come from the file because someone wrote to them.
python
import os


class AnonymousPages(gdb.Command):
    """anonymous-pages: the Anonymous counter of each region of the program file."""

    def __init__(self):
        super().__init__("anonymous-pages", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        pid = gdb.selected_inferior().pid
        program = os.readlink(f"/proc/{pid}/exe")
        region = None
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if len(fields) >= 5 and "-" in fields[0] and ":" not in fields[0]:
                    region = fields if fields[-1] == program else None
                elif region is not None and fields[0] == "Anonymous:":
                    start, end = (int(x, 16) for x in region[0].split("-"))
                    print(f"  {start:#x} {end:#x} {region[1]}  Anonymous: {fields[1]} kB")


AnonymousPages()
end

# Echo each command below, so that the transcript reads like the session it was.
set trace-commands on

# Stop before the first instruction runs: in a dynamically linked program that is
# ld.so's _start, not ours. No instruction of the program has run: only the kernel,
# and gdb itself (its breakpoint for library loads), have written into it so far.
starti
info proc mappings
anonymous-pages
x/i $pc
p/x $fs_base

# main: ld.so has mapped libc, set up the thread pointer (%fs) and made the
# relocated data read-only (RELRO).
break main
continue
info proc mappings
x/i $pc
p/x $fs_base

# exit: main has returned into libc; printf's buffer made a heap.
# (libc's sources are not installed: show where we are without the source line.)
break exit
set print frame-info location
continue
info proc mappings
backtrace

continue
