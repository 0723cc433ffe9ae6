# Batch gdb session for starti.c (the sample starti-syscalls): what is on the stack
# at the first instruction, then every brk, mmap and munmap of the run, with the
# functions that asked and what the kernel answered.
set pagination off
set confirm off
set width 0
unset environment ROADS_FD

# One line per system call, printed when it returns: its name and first two
# arguments (the kernel leaves %rdi and %rsi as they were), the answer (%rax), and
# the three innermost functions on the way to it (the first: the system call's
# wrapper in the loader or in libc). At a call %rax holds -ENOSYS.
python
NAMES = {9: "mmap", 11: "munmap", 12: "brk"}
ENOSYS = 38


def on_stop(event):
    if not isinstance(event, gdb.BreakpointEvent):
        return
    rax = int(gdb.parse_and_eval("$rax")) & 0xFFFFFFFFFFFFFFFF
    if rax == (1 << 64) - ENOSYS:
        return  # entering: wait for the return
    number = int(gdb.parse_and_eval("$orig_rax"))
    if number not in NAMES:
        return  # a breakpoint, not one of the catchpoints
    rdi = int(gdb.parse_and_eval("$rdi")) & 0xFFFFFFFFFFFFFFFF
    rsi = int(gdb.parse_and_eval("$rsi")) & 0xFFFFFFFFFFFFFFFF
    callers, frame = [], gdb.newest_frame()
    while frame is not None and len(callers) < 3:
        name = frame.name() or "??"
        if not callers or callers[-1] != name:  # an inlined frame repeats its name
            callers.append(name)
        frame = frame.older()
    print(f"  {NAMES.get(number, number)}({rdi:#x}, {rsi:#x}) = {rax:#x}"
          f"   in {' < '.join(callers)}")


gdb.events.stop.connect(on_stop)
end

set trace-commands on

# Before the first instruction: the stack pointer points at argc, then argv[0],
# argv[1] (here none: NULL), and envp[0]. And the map the kernel made.
starti
x/4gx $sp
x/s *(char **)($sp + 8)
info proc mappings

# On the way out, the map that all those calls built (the stop at exit is not
# silent: the script goes on below it, echoing its commands again). exit is libc's,
# and libc is not loaded yet: the breakpoint waits for it.
set breakpoint pending on
set print frame-info location
break exit

# Stop at each call of these system calls and at each return from one, print the
# line above, and go on (without echoing those commands again).
catch syscall brk mmap munmap
commands
  silent
  set trace-commands off
  continue
end
continue
set trace-commands on
info proc mappings
continue
