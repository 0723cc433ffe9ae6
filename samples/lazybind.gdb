# Batch gdb session for lazybind.c: the GOT slot of puts before and after the first
# call, in both variants (lazy binding, and -Wl,-z,now). gdb names the slot of a
# function F in the global offset table F@got.plt, whichever section holds it.
set pagination off
set confirm off
set width 0
unset environment ROADS_FD

# The permissions of the mapping that holds an address, from /proc/PID/maps.
python
class MappingOf(gdb.Command):
    """mapping-of ADDRESS: the line of /proc/PID/maps that holds ADDRESS."""

    def __init__(self):
        super().__init__("mapping-of", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        address = int(gdb.parse_and_eval(argument)) & 0xFFFFFFFFFFFFFFFF
        pid = gdb.selected_inferior().pid
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if start <= address < end:
                    print("  " + line.rstrip())


MappingOf()


def section_start(name):
    """The address of the program's section NAME (the first lines of info files)."""
    for line in gdb.execute("info files", to_string=True).splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[3] == "is" and fields[4] == name:
            return int(fields[0], 16)
    return None


# $got: where the table of the program starts, _GLOBAL_OFFSET_TABLE_ (gdb finds
# libc's symbol of that name first): .got.plt, or .got when there is no .got.plt.
# $plt: the start of .plt, where the stub that calls the resolver is.
class SetTables(gdb.Command):
    """set-tables: set $got and $plt for the program."""

    def __init__(self):
        super().__init__("set-tables", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        got = section_start(".got.plt") or section_start(".got")
        gdb.set_convenience_variable("got", got)
        gdb.set_convenience_variable("plt", section_start(".plt"))


SetTables()
end

set trace-commands on

break main
run
# Where the slot lies, what it holds, and where that points.
info symbol &'puts@got.plt'
x/gx &'puts@got.plt'
info symbol *(long *)&'puts@got.plt'
mapping-of &'puts@got.plt'
# The stub every call of puts goes through; the stub at the start of .plt; and the
# first three words of the table: GOT[1] and GOT[2] are what that stub pushes and
# jumps to.
x/3i 'puts@plt'
set-tables
x/2i $plt
x/3gx $got
info symbol ((long *)$got)[2]

# The first call (the checkpoint is a no-op under gdb).
next
next
x/gx &'puts@got.plt'
info symbol *(long *)&'puts@got.plt'
continue
