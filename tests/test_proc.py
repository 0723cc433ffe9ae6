"""roads.capture.proc against real processes and independent readers: pmap, gdb, psutil, ELF files.

Every process started here is killed, woken and reaped in a ``finally``; the ones
we compare while stopped are stopped with SIGSTOP only for the comparison.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from elftools.elf.elffile import ELFFile

from roads.command import run
from roads.errors import CaptureError, ProcessGone
from roads.capture.proc import (
    ADDR_NO_RANDOMIZE,
    PAGE_SIZE,
    MapsEntry,
    Proc,
    auxv_dict,
    parse_auxv,
    parse_cmdline,
    parse_maps,
    parse_pagemap,
    parse_personality,
    parse_smaps,
    parse_smaps_rollup,
    parse_stat,
    parse_status,
)
from roads.explain.seccomp_mode import parse_seccomp_mode, read_seccomp_mode
from roads.explain.syscall_file import parse_syscall, read_syscall
from tests.conftest import wait_for

PROC = Proc()

# Nothing started here may be left stopped or unreaped (fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftovers")

# x86-64 system call numbers, to tell from /proc/PID/syscall where a process waits.
SYS_READ = 0
SYS_CLOCK_NANOSLEEP = 230


# ---------------------------------------------------------------------------
# Helpers: start, wait for, stop and always reap processes


def blocked_in(pid: int) -> int | None:
    """The system call ``pid`` is blocked in, from /proc/PID/syscall, or None."""
    try:
        first = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.lstrip("-").isdigit() else None


@contextmanager
def running(argv: list[str], syscall: int, **popen: object) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` with a stdin pipe, wait until it blocks in ``syscall``, always reap it."""
    with subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **popen
    ) as proc:
        try:
            wait_for(lambda: blocked_in(proc.pid) == syscall, f"{argv[0]} to block in syscall {syscall}")
            yield proc
        finally:
            reap(proc)


def reap(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGKILL, signal.SIGCONT):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """Hold ``pid`` still with SIGSTOP so two readers see the same counters."""
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: PROC.stat(pid).state == "T", f"process {pid} to stop")
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# Processes we did not write, each blocked in a known system call.
STRANGERS = {
    "sleep": (["sleep", "30"], SYS_CLOCK_NANOSLEEP),
    "python": ([sys.executable, "-c", "import sys; sys.stdin.read()"], SYS_READ),
    "cat": (["cat"], SYS_READ),
}


@pytest.fixture(params=sorted(STRANGERS))
def stranger(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[bytes]]:
    argv, syscall = STRANGERS[request.param]
    with running(argv, syscall) as proc:
        yield proc


# ---------------------------------------------------------------------------
# maps: the file itself, pmap, gdb


def test_parse_maps_equals_the_file_line_by_line(stranger: subprocess.Popen[bytes]) -> None:
    with stopped(stranger.pid):
        text = Path(f"/proc/{stranger.pid}/maps").read_text()
        entries = PROC.maps(stranger.pid)
    lines = text.splitlines()
    assert len(entries) == len(lines)
    for entry, line in zip(entries, lines):
        address, perms, offset, dev, inode, *name = line.split(maxsplit=5)
        assert (entry.start, entry.end) == tuple(int(x, 16) for x in address.split("-"))
        assert (entry.perms, entry.offset, entry.dev, entry.inode) == (perms, int(offset, 16), dev, int(inode))
        assert entry.pathname == (name[0] if name else "")
        assert entry.line() == line
    assert any(e.pathname == "[stack]" for e in entries)


def test_maps_agree_with_pmap(stranger: subprocess.Popen[bytes]) -> None:
    with stopped(stranger.pid):
        out = run(["pmap", "-X", "-p", str(stranger.pid)], timeout=20).stdout
        entries = PROC.maps(stranger.pid)
    rows = out.splitlines()
    header = rows[1].split()
    assert header[:6] == ["Address", "Perm", "Offset", "Device", "Inode", "Size"]
    assert header[-1] == "Mapping"
    pmap = []
    for row in rows[2:]:
        if row.lstrip().startswith("="):
            break
        cells = row.split(None, len(header) - 1)
        cells += [""] * (len(header) - len(cells))
        pmap.append(dict(zip(header, cells)))
    assert len(pmap) == len(entries)
    for entry, seen in zip(entries, pmap):
        assert int(seen["Address"], 16) == entry.start
        assert seen["Perm"] == entry.perms
        assert int(seen["Offset"], 16) == entry.offset
        assert int(seen["Size"]) * 1024 == entry.size
        assert int(seen["Inode"]) == entry.inode
        assert seen["Mapping"] == entry.pathname


@pytest.mark.gdb
def test_maps_agree_with_gdb() -> None:
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    with running(["sleep", "30"], SYS_CLOCK_NANOSLEEP) as proc:
        entries = PROC.maps(proc.pid)
        done = run(
            ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
             "-p", str(proc.pid), "-ex", "info proc mappings"],
            timeout=60,
            check=False,
        )
    rows = [row.split(None, 5) for row in done.stdout.splitlines() if row.strip().startswith("0x")]
    if not rows:
        pytest.skip(f"gdb could not attach: {done.stderr.strip()[-300:]}")
    assert len(rows) == len(entries)
    for entry, row in zip(entries, rows):
        start, end, size, offset, perms, *objfile = row
        assert (int(start, 16), int(end, 16), int(size, 16)) == (entry.start, entry.end, entry.size)
        assert (int(offset, 16), perms) == (entry.offset, entry.perms)
        assert (objfile[0] if objfile else "") == entry.pathname


# ---------------------------------------------------------------------------
# smaps: psutil and smaps_rollup


def psutil_view(entry_path: str) -> str:
    # psutil names anonymous areas "[anon]" and drops " (deleted)" when the file is gone.
    if not entry_path:
        return "[anon]"
    if entry_path.endswith(" (deleted)") and not os.path.exists(entry_path):
        return entry_path.removesuffix(" (deleted)")
    return entry_path


# Counters that depend on how many processes map a page: they move whenever any
# other process maps or drops a page of a shared file (libc), even while the
# process we look at is stopped. The others must agree at every reading.
MOVED_BY_OTHERS = frozenset(
    "Pss Pss_Dirty Pss_Anon Pss_File Pss_Shmem SwapPss "
    "Shared_Clean Shared_Dirty Private_Clean Private_Dirty".split()
)


def compare_until_still(compare: Callable[[], list[str]], attempts: int = 50) -> None:
    """Repeat ``compare`` (which asserts the steady counters and returns the
    differences in the moving ones) until one round finds no difference."""
    for _ in range(attempts):
        moved = compare()
        if not moved:
            return
    pytest.fail(f"still different after {attempts} readings: " + "; ".join(moved))


PSUTIL_KEYS = {
    "rss": "Rss", "size": "Size", "pss": "Pss",
    "shared_clean": "Shared_Clean", "shared_dirty": "Shared_Dirty",
    "private_clean": "Private_Clean", "private_dirty": "Private_Dirty",
    "referenced": "Referenced", "anonymous": "Anonymous", "swap": "Swap",
}  # fmt: skip


def assert_smaps_match_psutil(pid: int) -> None:
    def compare() -> list[str]:
        ours = PROC.smaps(pid)
        theirs = psutil.Process(pid).memory_maps(grouped=False)
        assert len(ours) == len(theirs)
        moved = []
        for area, other in zip(ours, theirs):
            assert other.addr == f"{area.maps.start:x}-{area.maps.end:x}".rjust(len(other.addr), "0")
            assert other.perms == area.maps.perms
            assert other.path == psutil_view(area.maps.pathname)
            for field, key in PSUTIL_KEYS.items():
                if getattr(other, field) == area.bytes(key):
                    continue
                assert key in MOVED_BY_OTHERS, (area.maps.line(), key)
                moved.append(f"{area.maps.line()}: {key}")
        return moved

    with stopped(pid):
        compare_until_still(compare)


def test_smaps_match_psutil_exactly_while_stopped(stranger: subprocess.Popen[bytes]) -> None:
    assert_smaps_match_psutil(stranger.pid)


def test_smaps_add_up_to_smaps_rollup(stranger: subprocess.Popen[bytes]) -> None:
    pid = stranger.pid

    def compare() -> list[str]:
        areas, rollup = PROC.smaps(pid), PROC.smaps_rollup(pid)
        vmas = [a for a in areas if a.maps.pathname != "[vsyscall]"]  # the gate area is no VMA
        assert rollup.maps.pathname == "[rollup]"
        assert (rollup.maps.start, rollup.maps.end) == (vmas[0].maps.start, vmas[-1].maps.end)
        moved = []
        for key, total in rollup.kb.items():
            if key.startswith("Pss_"):
                continue  # only in the rollup; checked against Pss below
            summed = sum(a.kb.get(key, 0) for a in areas)
            if key.startswith("Pss") or key == "SwapPss":
                # Each area's Pss is rounded down to a kB; the rollup rounds once.
                agree = summed <= total <= summed + len(areas)
            else:
                agree = summed == total
            if not agree:
                assert key in MOVED_BY_OTHERS, (key, summed, total)
                moved.append(f"{key}: {summed} summed, {total} in the rollup")
        parts = rollup.kb["Pss_Anon"] + rollup.kb["Pss_File"] + rollup.kb["Pss_Shmem"]
        assert rollup.kb["Pss"] - 3 <= parts <= rollup.kb["Pss"]
        return moved

    with stopped(pid):
        compare_until_still(compare)


def test_status_and_stat_describe_the_process(stranger: subprocess.Popen[bytes]) -> None:
    pid = stranger.pid
    status, stat = PROC.status(pid), PROC.stat(pid)
    assert status.Pid == stat.pid == pid
    assert status.PPid == stat.ppid == os.getpid()
    assert status.Name == stat.comm == psutil.Process(pid).name()[:15]
    assert status.Threads == 1
    assert status.VmRSS == status.RssAnon + status.RssFile + status.RssShmem
    assert stat.vsize == status.VmSize * 1024
    stack = next(e for e in PROC.maps(pid) if e.pathname == "[stack]")
    assert stack.start <= stat.startstack < stack.end
    assert PROC.cmdline(pid) == tuple(stranger.args)
    assert PROC.exe(pid) == os.path.realpath(shutil.which(stranger.args[0]) or stranger.args[0])


# ---------------------------------------------------------------------------
# A program of our own: auxv against its ELF file, pagemap around touches and fork

PAGES_C = r"""
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Maps four anonymous pages, prints their address, then obeys one-letter
   commands on stdin, answering each with a line:
   r  read pages 0 and 1       w  write page 2
   f  fork; the child takes over stdin until q, the parent waits for it
   q  exit */
int main(void)
{
    /* Six pages, the outer two PROT_NONE, so that the four in the middle form
       an area of their own that no neighbour merges with. */
    char *p = mmap(NULL, 6 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    volatile char sink;
    int c;

    if (p == MAP_FAILED)
        return 1;
    p += 4096;
    if (mprotect(p, 4 * 4096, PROT_READ | PROT_WRITE) != 0)
        return 1;
    printf("%p\n", (void *)p);
    fflush(stdout);
    while ((c = getchar()) != EOF) {
        if (c == 'r') {
            sink = p[0];
            sink = p[4096];
            (void)sink;
        } else if (c == 'w') {
            p[2 * 4096] = 1;
        } else if (c == 'f') {
            pid_t child = fork();
            if (child == 0) {
                printf("%d\n", (int)getpid());
                fflush(stdout);
                continue;
            }
            waitpid(child, NULL, 0);
        } else if (c == 'q') {
            _exit(0);
        } else {
            continue;
        }
        printf("ok\n");
        fflush(stdout);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def pages_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    folder = tmp_path_factory.mktemp("pages")
    source = folder / "pages.c"
    source.write_text(PAGES_C)
    built = {}
    for kind, flags in {"pie": ["-fPIE", "-pie"], "nopie": ["-fno-pie", "-no-pie"]}.items():
        out = folder / f"pages-{kind}"
        run(["gcc", "-O0", "-Wall", *flags, "-o", str(out), str(source)], timeout=120)
        built[kind] = out
    return built


@contextmanager
def pages_process(binary: Path, *prefix: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with running([*prefix, str(binary)], SYS_READ) as proc:
        assert proc.stdout is not None
        yield proc, int(proc.stdout.readline(), 16)


def command(proc: subprocess.Popen[bytes], letter: str) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(letter.encode())
    proc.stdin.flush()
    return proc.stdout.readline().decode().strip()


def load_bias(pid: int, binary: Path) -> int:
    with open(binary, "rb") as f:
        first_load = next(s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD")
        vaddr = first_load["p_vaddr"] & ~(PAGE_SIZE - 1)
    start = min(e.start for e in PROC.maps(pid) if e.pathname == str(binary) and e.offset == 0)
    return start - vaddr


@pytest.mark.gcc
@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_auxv_agrees_with_the_elf_file(pages_binaries: dict[str, Path], kind: str) -> None:
    binary = pages_binaries[kind]
    with pages_process(binary) as (proc, _):
        pid = proc.pid
        aux = auxv_dict(PROC.auxv(pid))
        maps = PROC.maps(pid)
        bias = load_bias(pid, binary)
        execfn = PROC.c_string(pid, aux["AT_EXECFN"])
        platform = PROC.c_string(pid, aux["AT_PLATFORM"])
        random = PROC.mem(pid, aux["AT_RANDOM"], 16)
    with open(binary, "rb") as f:
        elf = ELFFile(f)
        header = elf.header
        phdr = next(s for s in elf.iter_segments() if s["p_type"] == "PT_PHDR")["p_vaddr"]
        interp = next(s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP").get_interp_name()
    assert aux["AT_PAGESZ"] == 4096
    assert aux["AT_ENTRY"] == bias + header["e_entry"]
    assert aux["AT_PHDR"] == bias + phdr
    assert (aux["AT_PHNUM"], aux["AT_PHENT"]) == (header["e_phnum"], header["e_phentsize"])
    if kind == "nopie":
        assert bias == 0 and aux["AT_ENTRY"] == header["e_entry"]
    ld_so = os.path.realpath(interp)
    assert aux["AT_BASE"] == min(e.start for e in maps if e.pathname == ld_so)
    assert aux["AT_SYSINFO_EHDR"] == next(e.start for e in maps if e.pathname == "[vdso]")
    stack = next(e for e in maps if e.pathname == "[stack]")
    assert stack.start <= aux["AT_RANDOM"] < aux["AT_EXECFN"] < stack.end
    assert execfn == str(binary)
    assert platform == "x86_64"
    assert len(random) == 16
    assert aux["AT_SECURE"] == 0 and aux["AT_UID"] == os.getuid()


@pytest.mark.gcc
def test_setarch_r_turns_aslr_off(pages_binaries: dict[str, Path]) -> None:
    if shutil.which("setarch") is None:
        pytest.skip("setarch (util-linux) is not installed")
    binary = pages_binaries["pie"]
    with pages_process(binary, "setarch", "-R") as (proc, _):
        wait_for(lambda: PROC.exe(proc.pid) == str(binary), "setarch to exec the sample")
        persona = PROC.personality(proc.pid)
        bias = load_bias(proc.pid, binary)
    assert persona.addr_no_randomize and persona.persona & ADDR_NO_RANDOMIZE
    assert bias == 0x555555554000
    assert not PROC.personality(os.getpid()).addr_no_randomize


def area_rss_kb(pid: int, start: int) -> int:
    (area,) = [a for a in PROC.smaps(pid) if a.maps.start == start]
    assert area.maps.size == 4 * PAGE_SIZE and area.maps.perms == "rw-p"
    return area.kb["Rss"]


@pytest.mark.gcc
def test_pagemap_follows_demand_paging_and_copy_on_write(pages_binaries: dict[str, Path]) -> None:
    with pages_process(pages_binaries["pie"]) as (proc, base):
        pid, end = proc.pid, base + 4 * PAGE_SIZE

        pages = PROC.pagemap(pid, base, end)
        assert [p.vaddr for p in pages] == [base + i * PAGE_SIZE for i in range(4)]
        assert not any(p.present or p.swapped for p in pages)
        assert all(p.pfn is None for p in pages)
        assert area_rss_kb(pid, base) == 0

        assert command(proc, "r") == "ok"
        zero0, zero1, untouched, _ = PROC.pagemap(pid, base, end)
        assert zero0.present and zero1.present and not untouched.present
        # The shared zero page: neither anonymous memory of ours nor counted in Rss.
        assert not zero0.exclusive and not zero0.file_or_shared
        assert area_rss_kb(pid, base) == 0

        assert command(proc, "w") == "ok"
        written = PROC.pagemap(pid, base, end)[2]
        assert written.present and written.exclusive and not written.file_or_shared
        assert area_rss_kb(pid, base) == 4

        child = int(command(proc, "f"))
        try:
            in_parent = PROC.pagemap(pid, base, end)[2]
            in_child = PROC.pagemap(child, base, end)[2]
            # After fork both map the same frame, so neither maps it exclusively.
            assert in_parent.present and in_child.present
            assert not in_parent.exclusive and not in_child.exclusive
            assert command(proc, "w") == "ok"  # the child writes: copy-on-write
            after_parent = PROC.pagemap(pid, base, end)[2]
            after_child = PROC.pagemap(child, base, end)[2]
            assert after_parent.exclusive and after_child.exclusive
            if PROC.frames_visible():
                assert in_parent.pfn == in_child.pfn == written.pfn
                assert after_parent.pfn == written.pfn != after_child.pfn
        finally:
            # Let the parent reap it (and say so) before the parent is killed in turn.
            os.kill(child, signal.SIGKILL)
            assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"


@pytest.mark.gcc
def test_read_faults_map_one_zero_frame(pages_binaries: dict[str, Path]) -> None:
    if not PROC.frames_visible():
        pytest.skip("page frame numbers need CAP_SYS_ADMIN in the initial user namespace")
    with pages_process(pages_binaries["pie"]) as (one, base1), pages_process(pages_binaries["pie"]) as (two, base2):
        assert command(one, "r") == "ok" and command(two, "r") == "ok"
        a0, a1 = PROC.pagemap(one.pid, base1, base1 + 2 * PAGE_SIZE)
        (b0,) = PROC.pagemap(two.pid, base2, base2 + 1)
        assert a0.pfn is not None and a0.pfn == a1.pfn == b0.pfn
        assert command(one, "w") == "ok"
        (written,) = PROC.pagemap(one.pid, base1 + 2 * PAGE_SIZE, base1 + 3 * PAGE_SIZE)
        assert written.pfn not in (None, a0.pfn)


def test_frames_are_visible_to_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("only root is expected to see frame numbers")
    assert PROC.frames_visible()


def test_file_pages_are_flagged_file_or_shared(stranger: subprocess.Popen[bytes]) -> None:
    pid = stranger.pid
    text = next(e for e in PROC.maps(pid) if "x" in e.perms and e.inode)
    resident = [p for p in PROC.pagemap(pid, text.start, text.end) if p.present]
    assert resident and all(p.file_or_shared for p in resident)


# ---------------------------------------------------------------------------
# A binary whose path has spaces and which is deleted while it runs


def test_deleted_binary_with_spaces_in_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "dir with  spaces"
    folder.mkdir()
    binary = folder / "sl eep"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    with running([str(binary), "30"], SYS_CLOCK_NANOSLEEP) as proc:
        binary.unlink()
        entries = PROC.maps(proc.pid)
        mine = [e for e in entries if e.pathname.startswith(str(binary))]
        assert mine and all(e.pathname == f"{binary} (deleted)" and e.deleted for e in mine)
        assert [e.line() for e in entries] == Path(f"/proc/{proc.pid}/maps").read_text().splitlines()
        assert PROC.exe(proc.pid) == f"{binary} (deleted)"
        assert_smaps_match_psutil(proc.pid)


# ---------------------------------------------------------------------------
# Processes that go away


def test_reaped_process_is_gone() -> None:
    with running(["sleep", "30"], SYS_CLOCK_NANOSLEEP) as proc:
        pid = proc.pid
        assert PROC.maps(pid)
        reap(proc)
        readers: list[Callable[[], object]] = [
            lambda: PROC.maps(pid), lambda: PROC.smaps(pid), lambda: PROC.status(pid),
            lambda: PROC.auxv(pid), lambda: PROC.exe(pid), lambda: PROC.stat(pid),
            lambda: PROC.pagemap(pid, 0x400000, 0x401000), lambda: PROC.cmdline(pid),
        ]  # fmt: skip
        for read in readers:
            with pytest.raises(ProcessGone, match=rf"process {pid}\b.*/proc/{pid}/"):
                read()


def test_zombie_has_no_memory_to_read() -> None:
    with running(["sleep", "30"], SYS_CLOCK_NANOSLEEP) as proc:
        os.kill(proc.pid, signal.SIGKILL)
        wait_for(lambda: PROC.stat(proc.pid).state == "Z", "the child to become a zombie")
        for read in (PROC.maps, PROC.smaps, PROC.auxv, PROC.exe):
            with pytest.raises(ProcessGone, match=str(proc.pid)):
                read(proc.pid)
        status = PROC.status(proc.pid)
        assert status.State.startswith("Z") and status.VmRSS is None


def test_missing_file_of_a_live_process_is_a_capture_error(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "stat").write_text("77 (x) S 1 77 77 " + "0 " * 50)
    with pytest.raises(CaptureError, match="pagemap does not exist") as info:
        Proc(tmp_path).pagemap(77, 0, 4096)
    assert not isinstance(info.value, ProcessGone)


# ---------------------------------------------------------------------------
# Captured text: odd cases that live processes here cannot produce

CAPTURED_MAPS = """\
00400000-00401000 r-xp 00000000 103:02 1835024                           /home/u/my project/a out
00600000-00601000 rw-p 00000000 103:02 1835024                           /home/u/my project/a out
7f0000000000-7f0000021000 rw-p 00000000 00:00 0                          [anon:glibc.malloc arena]
7f0000021000-7f0000022000 rw-s 00000000 00:01 2051                       [anon_shmem:shared  two]
7f0000022000-7f0000023000 rw-s 00000000 00:01 3070                       /memfd:demo (deleted)
7f0000023000-7f0000024000 r--p 00000000 fe:00 99                         /tmp/gone (deleted)
7f0000024000-7f0000025000 r--s 7fffffffffff000 00:05 1031                /dev/mem
7f0000025000-7f0000026000 r--p 00000000 fe:00 18446744073709551615       /tmp/big inode
7f0000026000-7f0000027000 r--p 00000000 fe:00 12                         /tmp/trailing space 
7f0000027000-7f0000028000 r--p 00000000 fe:00 13                         /tmp/new\\012line
7f0000028000-7f0000049000 rw-p 00000000 00:00 0 
7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]
7ffff7fc5000-7ffff7fc7000 r--p 00000000 00:00 0                          [vvar_vclock]
7ffff7fc7000-7ffff7fc9000 r-xp 00000000 00:00 0                          [vdso]
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]
"""

VSYSCALL = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"


@pytest.mark.parametrize("with_vsyscall", [False, True], ids=["no-vsyscall", "vsyscall"])
def test_captured_maps_edge_cases(tmp_path: Path, with_vsyscall: bool) -> None:
    text = CAPTURED_MAPS + (VSYSCALL if with_vsyscall else "")
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "maps").write_text(text)
    entries = Proc(tmp_path).maps(4242)
    assert [e.line() for e in entries] == text.splitlines()
    names = [e.pathname for e in entries]
    assert names[0] == names[1] == "/home/u/my project/a out"
    assert entries[0].dev == "103:02" and entries[0].inode == 1835024
    assert names[2] == "[anon:glibc.malloc arena]" and names[3] == "[anon_shmem:shared  two]"
    assert entries[3].shared and not entries[2].shared
    assert [e.deleted for e in entries[4:6]] == [True, True]
    assert names[4] == "/memfd:demo (deleted)"
    assert entries[6].offset == 0x7FFFFFFFFFFF000
    assert entries[7].inode == 2**64 - 1 and names[7] == "/tmp/big inode"
    assert names[8] == "/tmp/trailing space "
    assert names[9] == "/tmp/new\\012line"  # the kernel escapes a newline as \012
    assert names[10] == "" and entries[10].size == 0x21000
    assert names[11:15] == ["[vvar]", "[vvar_vclock]", "[vdso]", "[stack]"]
    assert entries[14].end == 0x7FFFFFFFF000  # top of the 47-bit user space
    assert ("[vsyscall]" in names) == with_vsyscall
    if with_vsyscall:
        assert entries[-1].start == 0xFFFFFFFFFF600000 and entries[-1].perms == "--xp"


def test_only_newline_ends_a_maps_line() -> None:
    # The kernel escapes "\n" in pathnames but passes "\r" and form feeds through.
    text = "7f0000000000-7f0000001000 r--p 00000000 fe:00 7    /tmp/a\rb\x0cc\n"
    (entry,) = parse_maps(text)
    assert entry.pathname == "/tmp/a\rb\x0cc"
    assert parse_maps(text.encode())[0] == entry


def test_parse_maps_rejects_garbage() -> None:
    with pytest.raises(CaptureError, match="not a maps line"):
        parse_maps("hello world\n")
    assert parse_maps(b"") == ()


CAPTURED_SMAPS = """\
7f0000000000-7f0000021000 rw-p 00000000 00:00 0                          [anon:glibc.malloc arena]
Size:                132 kB
KernelPageSize:        4 kB
MMUPageSize:           4 kB
Rss:                   8 kB
Pss:                   8 kB
Pss_Dirty:             8 kB
AnonHugePages:         0 kB
THPeligible:           1
ProtectionKey:         0
VmFlags: rd wr mr mw me ac sd
7f0000021000-7f0000022000 rw-s 00000000 00:01 2051                       [anon_shmem:x y]
Size:                  4 kB
Rss:                   4 kB
Pss:                   2 kB
Shared_Dirty:          4 kB
THPeligible:           0
VmFlags: rd wr sh mr mw me ms sd
"""


def test_captured_smaps() -> None:
    first, second = parse_smaps(CAPTURED_SMAPS)
    assert first.maps.pathname == "[anon:glibc.malloc arena]" and first.maps.size == 132 * 1024
    assert first.kb["Pss_Dirty"] == 8 and first.kb["AnonHugePages"] == 0
    assert (first.rss, first.pss) == (8192, 8192)
    assert first.vmflags == ("rd", "wr", "mr", "mw", "me", "ac", "sd")
    assert first.thp_eligible is True and second.thp_eligible is False
    assert first.other == {"ProtectionKey": "0"}
    assert second.bytes("Shared_Dirty") == 4096 and second.bytes("Swap") == 0
    assert "sh" in second.vmflags


def test_smaps_rollup_must_be_one_block() -> None:
    with pytest.raises(CaptureError, match="one block"):
        parse_smaps_rollup(CAPTURED_SMAPS)


KTHREAD_STATUS = """\
Name:\tkworker/0:1-events
Umask:\t0000
State:\tI (idle)
Tgid:\t57
Pid:\t57
PPid:\t2
Threads:\t1
"""


def test_status_of_a_kernel_thread_has_no_memory() -> None:
    status = parse_status(KTHREAD_STATUS)
    assert (status.Name, status.State, status.Pid, status.PPid) == ("kworker/0:1-events", "I (idle)", 57, 2)
    assert status.VmSize is None and status.VmRSS is None
    with pytest.raises(CaptureError, match="status"):
        parse_status("Name:\tx\n")


def test_stat_comm_with_spaces_and_parentheses() -> None:
    fields = ["S", "1", "100", "100"] + [str(n) for n in range(7, 53)]
    stat = parse_stat(f"4242 (a) (b c)) {' '.join(fields)}\n")
    assert (stat.pid, stat.comm, stat.state, stat.ppid, stat.pgrp) == (4242, "a) (b c)", "S", 1, 100)
    assert (stat.session, stat.starttime, stat.start_brk, stat.env_end) == (100, 22, 47, 51)
    with pytest.raises(CaptureError):
        parse_stat("4242 no-parentheses S 1")


def test_personality() -> None:
    assert parse_personality("00040000\n").addr_no_randomize
    assert not parse_personality(b"00000000\n").addr_no_randomize
    assert parse_personality("0400000\n").persona == 0x400000  # READ_IMPLIES_EXEC only


def test_syscall_lines() -> None:
    blocked = parse_syscall("230 0x0 0x0 0x7ffd9fb498e0 0x7ffd9fb49920 0x0 0x0 0x7ffd9fb498c8 "
                            "0x7fa39fd52503\n")
    assert (blocked.nr, blocked.args[2], blocked.sp, blocked.pc) == (
        230, 0x7FFD9FB498E0, 0x7FFD9FB498C8, 0x7FA39FD52503)
    assert len(blocked.args) == 6
    outside = parse_syscall(b"-1 0x7fff3df00dd0 0x7fb6cc2fe1cc\n")
    assert (outside.nr, outside.args, outside.sp, outside.pc) == (
        -1, (), 0x7FFF3DF00DD0, 0x7FB6CC2FE1CC)
    assert parse_syscall("running\n").nr is None
    for bad in ("", "59 0x1", "-1 0x1", "x 0x1 0x2", "59 0x1 0x2 0x3 0x4 0x5 0x6 0x7 zz"):
        with pytest.raises(CaptureError):
            parse_syscall(bad)


def test_syscall_of_real_processes() -> None:
    """A process asleep in clock_nanosleep, its stack pointer in [stack] and the
    instruction after its syscall in a code mapping; one running; one stopped by SIGSTOP
    outside any call (-1)."""
    with running(["sleep", "30"], SYS_CLOCK_NANOSLEEP) as proc:
        call = read_syscall(PROC, proc.pid)
        maps = PROC.maps(proc.pid)
    assert call.nr == SYS_CLOCK_NANOSLEEP and len(call.args) == 6
    with pytest.raises(ProcessGone):  # reaped
        read_syscall(PROC, proc.pid)
    (stack,) = [m for m in maps if m.pathname == "[stack]"]
    assert stack.start <= call.sp < stack.end
    assert any(m.start <= call.pc < m.end and "x" in m.perms for m in maps)
    code = "import os, sys\nsys.stdout.write('go\\n'); sys.stdout.flush()\nwhile True: pass\n"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) as busy:
        try:
            assert busy.stdout.readline() == b"go\n"
            # Well into the loop: stopped on its way back from the write, the file would
            # still name that call.
            loop = psutil.Process(busy.pid)
            wait_for(lambda: loop.cpu_times().user >= 0.1, "the loop to run a while")
            assert read_syscall(PROC, busy.pid).nr is None
            os.kill(busy.pid, signal.SIGSTOP)
            wait_for(lambda: PROC.stat(busy.pid).state == "T", "the loop to stop")
            stopped = read_syscall(PROC, busy.pid)
            assert stopped.nr == -1 and stopped.args == () and stopped.pc is not None
        finally:
            busy.kill()
            os.kill(busy.pid, signal.SIGCONT)
            busy.wait(timeout=10)


def test_seccomp_lines() -> None:
    """The Seccomp: line among the others of a status, a status without one (a kernel
    built without CONFIG_SECCOMP), and one not a number; and this process's own mode as
    prctl(PR_GET_SECCOMP) returns it, then that of a process gone."""
    status = "Name:\tcat\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"
    assert parse_seccomp_mode(status) == 2
    assert parse_seccomp_mode(status.replace("Seccomp:\t2", "Seccomp:\t3").encode()) == 3
    assert parse_seccomp_mode("Name:\tcat\nState:\tR (running)\n") is None
    with pytest.raises(CaptureError):
        parse_seccomp_mode("Seccomp:\tdead\n")
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    PR_GET_SECCOMP = 21  # linux/prctl.h
    assert read_seccomp_mode(PROC, os.getpid()) == prctl(PR_GET_SECCOMP, 0, 0, 0, 0)
    with subprocess.Popen(["true"]) as done:
        done.wait(timeout=10)
    with pytest.raises(ProcessGone):  # reaped
        read_seccomp_mode(PROC, done.pid)


def test_a_malformed_seccomp_line_read_is_an_error_naming_its_file(tmp_path) -> None:
    """The error named a variable that did not exist: a NameError, not the
    CaptureError that names the file."""
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tx\nSeccomp:\tdead\n")
    with pytest.raises(CaptureError, match=f"{tmp_path}/42/status: malformed Seccomp line"):
        read_seccomp_mode(Proc(tmp_path), 42)


def test_auxv_bytes() -> None:
    pairs = [(6, 4096), (33, 0x7FFFF7FC7000), (27, 28), (51, 3376), (99, 5), (0, 0), (9, 1)]
    entries = parse_auxv(b"".join(struct.pack("<QQ", *p) for p in pairs))
    assert [e.name for e in entries] == [
        "AT_PAGESZ", "AT_SYSINFO_EHDR", "AT_RSEQ_FEATURE_SIZE", "AT_MINSIGSTKSZ", "AT_99",
    ]  # fmt: skip
    assert entries[4].a_type == 99 and entries[4].a_val == 5
    assert auxv_dict(entries)["AT_PAGESZ"] == 4096


def test_pagemap_bits() -> None:
    present_exclusive = (1 << 63) | (1 << 56) | 0x12345
    hidden_frame = (1 << 63) | (1 << 61)
    swapped = (1 << 62) | (0x777 << 5) | 3
    data = b"".join(struct.pack("<Q", raw) for raw in (0, present_exclusive, hidden_frame, swapped))
    absent, mine, file_page, swap = parse_pagemap(data, 0x7F0000000123)
    assert absent.vaddr == 0x7F0000000000 and not absent.present and absent.pfn is None
    assert mine.vaddr == 0x7F0000001000 and mine.present and mine.exclusive and mine.pfn == 0x12345
    assert file_page.present and file_page.file_or_shared and file_page.pfn is None
    assert not file_page.exclusive and not file_page.soft_dirty
    assert swap.swapped and not swap.present and swap.pfn is None
    assert (swap.swap_type, swap.swap_offset) == (3, 0x777)


def test_cmdline() -> None:
    assert parse_cmdline(b"sleep\x0030\x00") == ("sleep", "30")
    assert parse_cmdline(b"") == ()


def test_maps_entry_line_pads_to_column_74() -> None:
    entry = MapsEntry(0x400000, 0x401000, "r-xp", 0, "08:01", 5, "/bin/x")
    assert entry.line().index("/bin/x") == 73
    assert MapsEntry(0x400000, 0x401000, "rw-p", 0, "00:00", 0, "").line().endswith(" 0 ")


def test_starts_as_elf_reads_the_file_never_the_mapping(monkeypatch):
    """Whether a file mapped executable is ELF: libc is; a memfd of machine code that
    this process maps executable, as a JIT compiler does, is not, found through the
    descriptor held to it where /proc/PID/map_files is out of reach (it needs
    CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE); with no way to open the file, None. The
    question never faults the mapping's page in."""
    import mmap

    pid = os.getpid()
    (libc,) = {m.pathname: m for m in PROC.maps(pid)
               if m.perms[2] == "x" and "/libc.so" in m.pathname}.values()
    assert PROC.starts_as_elf(pid, libc) is True
    fd = os.memfd_create("jit")
    os.write(fd, b"\xb8\x2a\x00\x00\x00\xc3" + bytes(mmap.PAGESIZE - 6))  # mov eax, 42; ret
    # libc's mmap, not Python's, which keeps a descriptor of its own to the file.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    code = libc.mmap(None, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC, mmap.MAP_PRIVATE,
                     fd, 0)
    assert code not in (None, ctypes.c_void_p(-1).value)
    try:
        (jit,) = [m for m in PROC.maps(pid) if m.pathname == "/memfd:jit (deleted)"]
        assert jit.perms.startswith("r-x")
        assert PROC.starts_as_elf(pid, jit) is False
        assert not PROC.pagemap(pid, jit.start, jit.end)[0].present
        real = Proc.path
        monkeypatch.setattr(Proc, "path", lambda self, p, name: real(
            self, p, "no-map-files" if name.startswith("map_files/") else name))
        assert PROC.starts_as_elf(pid, jit) is False  # through the descriptor
        os.close(fd)
        fd = -1
        assert PROC.starts_as_elf(pid, jit) is None
    finally:
        libc.munmap(code, mmap.PAGESIZE)
        if fd >= 0:
            os.close(fd)


def test_starts_as_elf_never_opens_a_device_for_reading(monkeypatch):
    """A device mapped executable (/dev/zero here) is no ELF object to read, and opening
    it runs its driver's open, which may block or act (the reader's answer was None,
    but the device was opened twice before fstat said it was no file): it is looked at
    through O_PATH descriptors only."""
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        code = libc.mmap(None, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC,
                         mmap.MAP_PRIVATE, fd, 0)
    finally:
        os.close(fd)
    if code in (None, ctypes.c_void_p(-1).value):
        pytest.skip("/dev/zero cannot be mapped executable here (/dev mounted noexec)")
    try:
        pid = os.getpid()
        (zero,) = [m for m in PROC.maps(pid) if m.start == code]
        assert zero.pathname == "/dev/zero" and zero.perms.startswith("r-x")
        opened = []
        real = os.open

        def recorded(path, flags, *args, **kwargs):
            opened.append((str(path), flags))
            return real(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", recorded)
        assert PROC.starts_as_elf(pid, zero) is None
        monkeypatch.undo()
        assert opened and all(flags & os.O_PATH for _, flags in opened), opened
    finally:
        libc.munmap(code, mmap.PAGESIZE)
