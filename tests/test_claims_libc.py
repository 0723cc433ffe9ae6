"""What "Inside the C library" says about its captures: lazy binding and -z now
(lazybind, from its gdb transcripts and ELF sections), a double free (doublefree),
a stack overflow (overflow), thread-local storage (tls), the heap's chunks and tcache
(heapbins, from the sample's own records and its gdb transcript), and the system
calls of the hello world (starti-syscalls).

Transcripts are cut at the commands gdb echoes (``+command``); each claim reads the
output of the commands it is about. Sizes and shifts come from roads.constants.
"""

from __future__ import annotations

import re
from pathlib import Path

from roads import constants as c
from tests.claims_support import doc, gcc_option_states
from tests.test_claims_series_b import region, snap

REPO = Path(__file__).resolve().parent.parent
SIZE_SZ = c.SIZE_SZ.value
FLAGS = (1 << c.CHUNK_FLAG_BITS.value) - 1
SHIFT = c.SAFE_LINKING_SHIFT.value  # glibc's PROTECT_PTR
LIBC_TEXT = re.compile(r"^puts in section \.text of \S*/libc\.so\.6$")


# --------------------------------------------------------------------------- helpers


def transcript(sample: str, variant: str = "default") -> str:
    return doc(sample)["variants"][variant]["gdb"]["transcript"]


def outputs(sample: str, variant: str = "default") -> list[tuple[str, str]]:
    """(command, what gdb printed for it), in order."""
    found: list[tuple[str, list[str]]] = []
    for line in transcript(sample, variant).splitlines():
        if line.startswith("+"):
            found.append((line[1:], []))
        elif found:
            found[-1][1].append(line)
    return [(command, "\n".join(lines).strip()) for command, lines in found]


def said(sample: str, variant: str, command: str, nth: int = 0) -> str:
    """What gdb printed for the ``nth`` run of ``command``."""
    answers = [out for cmd, out in outputs(sample, variant) if cmd == command]
    assert len(answers) > nth, f"{sample}/{variant}: no {command!r} (#{nth}) in the transcript"
    return answers[nth]


def words(text: str) -> list[int]:
    """The 64-bit words an ``x/Ngx`` printed."""
    return [int(w, 16) for line in text.splitlines() for w in line.split(":", 1)[1].split()]


def slot(variant: str, nth: int) -> int:
    return words(said("lazybind", variant, "x/gx &'puts@got.plt'", nth))[0]


def slot_address(variant: str) -> int:
    return int(said("lazybind", variant, "x/gx &'puts@got.plt'").split(None, 1)[0].rstrip(":"), 16)


def sections(variant: str) -> set[str]:
    return {s["name"] for s in doc("lazybind")["variants"][variant]["elf"]["sections"]}


def address(sample: str, checkpoint: str, name: str) -> int:
    return snap(sample, checkpoint).address(name)


# --------------------------------------------------------------------------- lazy binding


def test_lazy_slot_in_got_plt():
    assert ".got.plt" in sections("lazy")
    assert said("lazybind", "lazy", "info symbol &'puts@got.plt'").endswith("in section .got.plt of /build/lazybind")
    line = said("lazybind", "lazy", "mapping-of &'puts@got.plt'")
    assert line.split()[1] == "rw-p" and line.endswith("/build/lazybind")


def test_lazy_slot_points_back_into_stub():
    stub = said("lazybind", "lazy", "x/3i 'puts@plt'").splitlines()
    # The stub's first instruction jumps through the slot; the slot holds the second's address.
    assert f"<puts@got.plt>" in stub[0] and f"{slot_address('lazy'):#x}" in stub[0]
    second = int(stub[1].split()[0], 16)
    assert "<puts@plt+6>" in stub[1]
    assert slot("lazy", 0) == second
    assert said("lazybind", "lazy", "info symbol *(long *)&'puts@got.plt'", 0).startswith("puts@plt + 6 in section .plt ")
    # ... whose last instruction jumps to the stub at the start of .plt.
    plt0 = int(said("lazybind", "lazy", "x/2i $plt").split()[0].rstrip(":"), 16)
    assert stub[2].split()[-1] == f"{plt0:#x}"


def test_plt0_jumps_through_got2():
    plt0 = said("lazybind", "lazy", "x/2i $plt").splitlines()
    got = words(said("lazybind", "lazy", "x/3gx $got"))
    base = int(said("lazybind", "lazy", "x/3gx $got").split(":")[0], 16)
    assert plt0[0].split()[1] == "push" and plt0[0].split()[-1] == f"{base + SIZE_SZ:#x}"
    assert plt0[1].split()[1] == "jmp" and plt0[1].split()[-1] == f"{base + 2 * SIZE_SZ:#x}"
    assert got[1] != 0 and got[2] != 0
    resolver = said("lazybind", "lazy", "info symbol ((long *)$got)[2]")
    assert re.match(r"_dl_runtime_resolve\w* in section \.text of \S*/ld-linux-x86-64\.so\.2$", resolver)


def test_lazy_slot_after_first_call():
    assert slot("lazy", 1) != slot("lazy", 0)
    assert LIBC_TEXT.match(said("lazybind", "lazy", "info symbol *(long *)&'puts@got.plt'", 1))


def test_now_has_no_got_plt():
    assert ".got.plt" in sections("lazy") and ".got.plt" not in sections("now")
    assert said("lazybind", "now", "info symbol &'puts@got.plt'").endswith("in section .got of /build/lazybind")


def test_now_slot_resolved_before_main():
    assert LIBC_TEXT.match(said("lazybind", "now", "info symbol *(long *)&'puts@got.plt'", 0))
    assert slot("now", 0) == slot("now", 1) == slot("lazy", 1)
    got = words(said("lazybind", "now", "x/3gx $got"))
    assert got[1] == 0 and got[2] == 0


def test_now_slot_read_only_in_relro():
    line = said("lazybind", "now", "mapping-of &'puts@got.plt'")
    assert line.split()[1] == "r--p"
    s = snap("lazybind", "before-first-call", variant="now")
    base = min(r.start for r in s.regions if r.pathname == "/build/lazybind")
    relro = [g for g in doc("lazybind")["variants"]["now"]["elf"]["segments"] if g["p_type"] == "PT_GNU_RELRO"]
    assert len(relro) == 1
    offset = slot_address("now") - base
    assert relro[0]["p_vaddr"] <= offset < relro[0]["p_vaddr"] + relro[0]["p_memsz"]
    assert region(s, slot_address("now")).perms == "r--p"


def test_lazy_relro_stops_before_slots():
    elf = doc("lazybind")["variants"]["lazy"]["elf"]
    got_plt = [x for x in elf["sections"] if x["name"] == ".got.plt"][0]
    got = [x for x in elf["sections"] if x["name"] == ".got"][0]
    relro = [g for g in elf["segments"] if g["p_type"] == "PT_GNU_RELRO"][0]
    end = relro["p_vaddr"] + relro["p_memsz"]
    assert relro["p_vaddr"] <= got["sh_addr"] and got["sh_addr"] + got["sh_size"] <= end
    assert end == got_plt["sh_addr"] + 3 * SIZE_SZ
    # GOT[0] is ld's: .dynamic's link-time address, not relocated by the loader.
    dynamic = [x for x in elf["sections"] if x["name"] == ".dynamic"][0]
    assert words(said("lazybind", "lazy", "x/3gx $got"))[0] == dynamic["sh_addr"]
    s = snap("lazybind", "before-first-call", variant="lazy")
    base = min(r.start for r in s.regions if r.pathname == "/build/lazybind")
    assert slot_address("lazy") - base >= end
    assert region(s, slot_address("lazy")).perms == "rw-p"


# --------------------------------------------------------------------------- double free


def run(sample: str) -> dict:
    return doc(sample)["variants"]["default"]["runs"][0]


def test_double_free_aborts():
    r = run("doublefree")
    assert r["signal"] == 6 and r["status"] == "killed by SIGABRT" and r["exit_code"] is None
    assert r["stderr"].strip().splitlines()[-1] == "free(): double free detected in tcache 2"
    names = [cp["name"] for cp in r["checkpoints"]]
    assert names == ["allocated", "freed-once"]


def test_double_free_key_and_link():
    block = address("doublefree", "freed-once", "block")
    assert address("doublefree", "freed-once", "key-is-set") == 1
    # The list was empty: the link is NULL, mangled: 0 ^ (its own address >> 12).
    assert address("doublefree", "freed-once", "next-word") == block >> SHIFT != 0


# --------------------------------------------------------------------------- stack overflow


def test_overflow_ends_with_sigsegv():
    r = run("overflow")
    assert r["signal"] == 11 and r["status"] == "killed by SIGSEGV"
    assert "alternate stack" in r["stderr"]


def test_overflow_stack_at_rlimit():
    s = snap("overflow", "overflowed")
    limit = doc("overflow")["provenance"]["stack_rlimit"]
    stacks = [r for r in s.regions if r.pathname == "[stack]"]
    assert limit and len(stacks) == 1
    assert stacks[0].size == limit
    fault = s.address("fault-address")
    assert stacks[0].start - c.PAGE_SIZE.value <= fault < stacks[0].start
    # Below the sandbox's address-space limit: the stack limit came first.
    assert limit < doc("overflow")["inputs"]["manifest"]["limits"]["address_space"]


def test_overflow_handler_on_alternate_stack():
    s = snap("overflow", "overflowed")
    local = s.address("handler-local")
    alternate = s.address("alternate-stack")
    stack = [r for r in s.regions if r.pathname == "[stack]"][0]
    assert not stack.start <= local < stack.end
    symbol = [y for y in doc("overflow")["variants"]["default"]["elf"]["symbols"]
              if y["name"].split(".")[0] == "alternate"]
    assert len(symbol) == 1
    assert alternate <= local < alternate + symbol[0]["st_size"]


# --------------------------------------------------------------------------- TLS


def test_tls_main_block_below_libc():
    s = snap("tls", "both-threads")
    tp = s.address("main-tp")
    block = region(s, tp)
    assert block.pathname == "" and region(s, s.address("main-counter")) == block
    above = [r for r in s.regions if r.start == block.end]
    assert above and above[0].pathname.endswith("/libc.so.6")
    assert s.address("main-counter") < tp and s.address("main-scratch") < tp


def test_tls_worker_block_in_its_stack():
    s = snap("tls", "both-threads")
    stack = region(s, s.address("worker-local"))
    assert stack.pathname == "" and stack.perms == "rw-p"
    for name in ("worker-counter", "worker-scratch", "worker-tp"):
        assert region(s, s.address(name)) == stack
    assert s.address("worker-local") < s.address("worker-counter") < s.address("worker-tp")
    assert s.address("worker-counter") != s.address("main-counter")
    assert s.address("main-tp") - s.address("main-counter") == s.address("worker-tp") - s.address("worker-counter")


def test_tls_each_thread_own_copy():
    s = snap("tls", "both-threads")
    assert s.address("main-counter-value") == 1
    assert s.address("worker-counter-value") == 42


def test_tls_gcc_stack_protector_off():
    """The captured gcc is Debian's; when it is also this machine's gcc, ask it."""
    captured = doc("tls")["provenance"]["gcc"]
    assert re.search(r"\(Debian [^)]*\) ", captured), captured
    states = gcc_option_states(captured)
    if states is None:
        return
    protectors = {o: v for o, v in states.items() if o.startswith("-fstack-protector")}
    assert set(protectors) >= {"-fstack-protector", "-fstack-protector-strong",
                               "-fstack-protector-all"}
    assert set(protectors.values()) == {"[disabled]"}, protectors


def test_tls_canary_low_byte_zero():
    assert "-fstack-protector-strong" in doc("tls")["variants"]["default"]["gcc_argv"]
    assert snap("tls", "both-threads").address("canary-low-byte") == 0


# --------------------------------------------------------------------------- heap


def test_heap_headers():
    s = snap("heapbins", "allocated")
    assert s.address("a0-header") & ~FLAGS == 4 * SIZE_SZ
    assert s.address("b0-header") & ~FLAGS == 6 * SIZE_SZ
    assert s.address("a0-header") & FLAGS == c.PREV_INUSE.value
    # The same in gdb's x: the size word sits one word before the block.
    out = said("heapbins", "default", "x/2gx (long)a[0] - 16")
    assert words(out)[1] == s.address("a0-header")


def test_heap_prev_size_holds_previous_data():
    out = said("heapbins", "default", "x/2gx (long)b[0] - 16")
    assert words(out)[0] == int.from_bytes(b"a" * SIZE_SZ, "little")


def test_heap_safe_linking_decoded():
    s = snap("heapbins", "freed")
    a = [s.address(f"a{i}") for i in range(3)]
    link = [s.address(f"a{i}-link") for i in range(3)]
    # Freed in the order a0, a1, a2: each links to the one freed before, a0 to NULL.
    assert link[0] ^ (a[0] >> SHIFT) == 0
    assert link[1] ^ (a[1] >> SHIFT) == a[0]
    assert link[2] ^ (a[2] >> SHIFT) == a[1]
    assert link[2] != a[1]
    decoded = said("heapbins", "default", "p/x *(long *)a[2] ^ ((long)a[2] >> 12)")
    assert decoded.split("=")[1].strip() == f"{a[1]:#x}"


def test_heap_tcache_counts_and_heads():
    s = snap("heapbins", "freed")
    value = lambda cmd, n=0: said("heapbins", "default", cmd, n).split("=")[1].strip()
    assert value("p tcache->counts[0]") == "3" and value("p tcache->counts[1]") == "1"
    assert int(value("p/x tcache->entries[0]"), 16) == s.address("a2")
    assert int(value("p/x tcache->entries[1]"), 16) == s.address("b1")


def test_heap_reuse_takes_head():
    s = snap("heapbins", "reused")
    assert s.address("again") == s.address("a2")
    assert said("heapbins", "default", "p tcache->counts[0]", 1).split("=")[1].strip() == "2"


def test_heap_top_chunk_after_last():
    s = snap("heapbins", "freed")
    top = int(said("heapbins", "default", "p/x main_arena.top").split("=")[1], 16)
    size = words(said("heapbins", "default", "x/2gx main_arena.top"))[1]
    heap = [r for r in s.regions if r.pathname == "[heap]"][0]
    assert top + (size & ~FLAGS) == heap.end


# --------------------------------------------------------------------------- system calls


CALL = re.compile(r"^\s+(brk|mmap|munmap)\((0x[0-9a-f]+), (0x[0-9a-f]+)\) = (0x[0-9a-f]+)\s+in (.*)$")


def calls() -> list[tuple[str, int, int, int, list[str]]]:
    found = []
    for line in transcript("starti-syscalls").splitlines():
        m = CALL.match(line)
        if m:
            found.append((m[1], int(m[2], 16), int(m[3], 16), int(m[4], 16), m[5].split(" < ")))
    return found


def test_starti_stack_argc_argv():
    sp = said("starti-syscalls", "default", "x/4gx $sp")
    argc, argv0, argv1, envp0 = words(sp)
    assert argc == 1 and argv1 == 0 and argv0 and envp0
    name = said("starti-syscalls", "default", "x/s *(char **)($sp + 8)")
    assert name == f'{argv0:#x}:\t"/build/starti-syscalls"'


def test_syscalls_loader_then_malloc():
    seen = calls()
    assert seen, "no system call lines"
    first_brk_by_malloc = next(i for i, c_ in enumerate(seen) if c_[0] == "brk" and "__glibc_morecore" in c_[4])
    loader = seen[:first_brk_by_malloc]
    # The very first call: the loader's brk(0), reading the initial break.
    name, arg, _, _, frames = seen[0]
    assert name == "brk" and arg == 0 and any(f.startswith("_dl_") for f in frames), seen[0]
    # Before malloc's brk, every call is the loader's: libc mapped by _dl_map_segments.
    assert any("_dl_map_segments" in c_[4] for c_ in loader)
    assert all(not any(f in ("sysmalloc", "__glibc_morecore") for f in c_[4]) for c_ in loader)
    # malloc's first brk asks where the break is (0), the second moves it.
    (_, a0, _, r0, _), (_, a1, _, r1, _) = seen[first_brk_by_malloc:first_brk_by_malloc + 2]
    assert a0 == 0 and a1 > r0 and r1 == a1


def test_syscalls_minimal_malloc_regions():
    seen = calls()
    minimal = [c_ for c_ in seen if c_[0] == "mmap" and "__minimal_malloc" in c_[4]]
    assert len(minimal) == 2
    s = snap("starti-syscalls", "main")
    starts = {r.start: r for r in s.regions}
    below = []
    for _, _, length, answer, _ in minimal:
        r = starts.get(answer)
        assert r is not None and r.pathname == "" and r.size == length
        above = [x for x in s.regions if x.start == r.end]
        assert above
        below.append(above[0].pathname)
    assert below[0] == "[vvar]" and below[1].endswith("/libc.so.6")
    # The munmap returns the mapping of the library cache made by _dl_sysdep_read_whole_file.
    cache = [c_ for c_ in seen if c_[0] == "mmap" and "_dl_sysdep_read_whole_file" in c_[4]]
    unmap = [c_ for c_ in seen if c_[0] == "munmap"]
    assert len(cache) == 1 and len(unmap) == 1
    assert unmap[0][1] == cache[0][3] and unmap[0][2] == cache[0][2] and "_dl_unload_cache" in unmap[0][4]


# --------------------------------------------------------------------------- stack frames

LEVELS = 4
BUFFER = 1024  # the sample's frame buffer (samples/overflow.c)


def frames() -> list[tuple[int, int, int]]:
    s = snap("overflow", "frames")
    return [(s.address(f"frame-{n}"), s.address(f"saved-fp-{n}"), s.address(f"return-{n}"))
            for n in range(LEVELS)]


def test_overflow_frames_chained():
    f = frames()
    for n in range(1, LEVELS):
        assert f[n][1] == f[n - 1][0]
    s = snap("overflow", "frames")
    stack = [r for r in s.regions if r.pathname == "[stack]"][0]
    assert all(stack.start <= fp < stack.end for fp, _, _ in f)


def test_overflow_frames_evenly_spaced():
    f = frames()
    gaps = {f[n - 1][0] - f[n][0] for n in range(1, LEVELS)}
    assert len(gaps) == 1
    gap = gaps.pop()
    assert BUFFER < gap < 2 * BUFFER


def symbol_range(name: str) -> tuple[int, int]:
    found = [y for y in doc("overflow")["variants"]["default"]["elf"]["symbols"] if y["name"] == name]
    assert len(found) == 1
    return found[0]["st_value"], found[0]["st_value"] + found[0]["st_size"]


def test_overflow_return_addresses():
    f = frames()
    s = snap("overflow", "frames")
    base = min(r.start for r in s.regions if r.pathname == "/build/overflow")
    main, recurse = symbol_range("main"), symbol_range("recurse")
    assert main[0] <= f[0][2] - base < main[1]
    assert len({ret for _, _, ret in f[1:]}) == 1
    assert recurse[0] <= f[1][2] - base < recurse[1]


def test_lazy_first_call_map_change():
    def regions(checkpoint):
        s = snap("lazybind", checkpoint, variant="lazy")
        return {(r.start, r.end, r.perms, r.pathname) for r in s.regions}

    before, after = regions("before-first-call"), regions("after-first-call")
    assert before <= after
    assert [r[3] for r in after - before] == ["[heap]"]


# --------------------------------------------------------------------------- trimming


def trim_heap(checkpoint: str):
    return heap_region(snap("trim", checkpoint))


def heap_region(s):
    found = [r for r in s.regions if r.pathname == "[heap]"]
    assert len(found) == 1
    return found[0]


def rss(checkpoint: str) -> int:
    r = [x for x in doc("trim")["variants"]["default"]["runs"][0]["checkpoints"]
         if x["name"] == checkpoint][0]
    return [x for x in r["regions"] if x["pathname"] == "[heap]"][0]["kb"]["Rss"] * 1024


def test_trim_pinned_keeps_memory():
    a, f = trim_heap("allocated"), trim_heap("freed-below-pin")
    assert (a.start, a.end) == (f.start, f.end)
    assert rss("allocated") == rss("freed-below-pin") > 0


def test_trim_malloc_trim_releases_pages():
    assert snap("trim", "trimmed").address("malloc-trim-returned") == 1
    before, after = trim_heap("freed-below-pin"), trim_heap("trimmed")
    assert after.start == before.start and after.end <= before.end
    assert after.size >= before.size * 9 // 10
    assert rss("trimmed") * 8 < rss("freed-below-pin")


def test_trim_malloc_trim_moves_break():
    before, after = trim_heap("freed-below-pin"), trim_heap("trimmed")
    # The break moved down, by whole pages, to leave a top chunk of more than MINSIZE
    # and at most a page more above the pin's chunk (systrim with a pad of 0).
    page, minsize = c.PAGE_SIZE.value, c.MIN_CHUNK_SIZE.value
    assert after.end < before.end and (before.end - after.end) % page == 0
    top = after.end - _pin_chunk_end(snap("trim", "trimmed"))
    assert minsize < top <= page + minsize, top


def _pin_chunk_end(s) -> int:
    """Where the pin's chunk ends: its user pointer less the header, plus its chunk
    size (glibc's request2size of the sample's PIN bytes)."""
    request = int(re.search(r"#define PIN (\d+)", (REPO / "samples" / "trim.c").read_text())[1])
    mask = c.MALLOC_ALIGNMENT.value - 1
    size = max(c.MIN_CHUNK_SIZE.value, (request + SIZE_SZ + mask) & ~mask)
    return s.address("pin") - 2 * SIZE_SZ + size


def test_trim_pin_freed_break_down():
    t, p = trim_heap("trimmed"), trim_heap("pin-freed")
    assert p.start == t.start and p.end < t.end
    s = snap("trim", "pin-freed")
    in_use_end = s.address("first-block") - 2 * SIZE_SZ  # every chunk from here on is free
    top_pad = c.M_TOP_PAD_DEFAULT.value
    assert p.end - in_use_end >= top_pad
    assert p.end - in_use_end < top_pad + c.PAGE_SIZE.value


ORDER = [f"{i}{k}" for i in range(4) for k in "ab"]


def test_heap_strip_back_to_back():
    s = snap("heapbins", "freed")
    for here, after in zip(ORDER, ORDER[1:]):
        size = s.address(f"size-{here}") & ~FLAGS
        assert s.address(f"chunk-{here}") + size == s.address(f"chunk-{after}")
    assert {s.address(f"size-{k}") & ~FLAGS for k in ORDER if k.endswith("a")} == {4 * SIZE_SZ}
    assert {s.address(f"size-{k}") & ~FLAGS for k in ORDER if k.endswith("b")} == {6 * SIZE_SZ}


def test_heap_tcache_keeps_prev_inuse():
    s = snap("heapbins", "freed")
    assert all(s.address(f"size-{k}") & FLAGS == c.PREV_INUSE.value for k in ORDER)
    # Among them the chunks right after freed ones: b[0] after a[0], a[2] after b[1].
    assert s.address("chunk-0a") + (s.address("size-0a") & ~FLAGS) == s.address("chunk-0b")


def test_heap_tcache_chunk_first():
    from roads.figures import heapview
    from tests.test_claims_series_b import at

    strip = heapview.heap_strip(at("heapbins", "freed"))
    first = strip.chunks[0]
    assert first.state == heapview.TCACHE and first.start == strip.heap_start
    # The struct: a uint16_t count and a pointer for each size, with a chunk's header.
    struct = c.TCACHE_MAX_BINS.value * (c.TCACHE_COUNT_BYTES.value + SIZE_SZ)
    assert first.size == heapview.request_to_chunk(struct)
    assert first.end == address("heapbins", "freed", "chunk-0a") - 2 * SIZE_SZ


def test_heap_strip_reused():
    from roads.figures import heapview
    from tests.test_claims_series_b import at

    before = heapview.heap_strip(at("heapbins", "freed"))
    after = heapview.heap_strip(at("heapbins", "reused"))
    assert after.chunk("2a").state == heapview.IN_USE and before.chunk("2a").state == heapview.FREE
    assert dict(before.lists)[4 * SIZE_SZ] == ("2a", "1a", "0a")
    assert dict(after.lists)[4 * SIZE_SZ] == ("1a", "0a")
    changed = {c.key for c, d in zip(before.chunks, after.chunks) if c != d}
    assert changed == {"2a"}
