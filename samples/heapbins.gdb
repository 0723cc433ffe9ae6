# Batch gdb session for heapbins.c: chunk headers, the tcache and the top chunk of
# a real heap, read with x and with glibc's own symbols (tcache, main_arena: their
# types come from Debian's libc6-dbg).
set pagination off
set confirm off
set width 0
unset environment ROADS_FD
set trace-commands on

break freed
run
up
# The chunks of a[0] and b[0]: each header's second word is the size, flags in its
# low bits; the block starts two words after the chunk.
x/2gx (long)a[0] - 16
x/2gx (long)b[0] - 16
# a[2], freed last: its first word is the mangled link to a[1] (its second, the
# random key that marks it as cached, is left out: it changes with every run).
x/gx a[2]
# Safe-linking undone: the link XOR (the address of the link >> 12).
p/x *(long *)a[2] ^ ((long)a[2] >> 12)
p/x a[1]
# The allocator's view: the tcache's counts and list heads (most recently freed first).
p tcache->counts[0]
p tcache->counts[1]
p/x tcache->entries[0]
p/x tcache->entries[1]
# The top chunk: the rest of the heap, after the last chunk.
p/x main_arena.top
x/2gx main_arena.top
# Back in main, the next malloc of the same size takes the head of the list.
down
finish
next
p/x again
p tcache->counts[0]
continue
