"""Mutations of the hello world's captures for the claims of Hello World, gdb sessions
and the hub (tests/claims.toml names them with ``call = "mutations_hello:NAME"``).

Each function receives the part of a capture its step's ``path`` leads to, most often
a variant's ``gdb`` record, and changes it in place so that one claim turns false. A
gdb transcript is cut into stops at each ``info proc mappings``; stop 0 is the first
instruction, 1 is ``main`` and 2 is ``exit``.
"""

from __future__ import annotations

import re

MAPPINGS = "+info proc mappings\n"


def _edit_stop(record: dict, stop: int, edit) -> None:
    """Replace stop ``stop`` of the transcript by ``edit(text)``; it must change."""
    pieces = record["transcript"].split(MAPPINGS)
    before = pieces[stop + 1]
    pieces[stop + 1] = edit(before)
    if pieces[stop + 1] == before:
        # Not an AssertionError: the harness would take it for the claim test failing.
        raise ValueError(f"the mutation {edit.__name__} changed nothing in stop {stop}")
    record["transcript"] = MAPPINGS.join(pieces)


ROW = re.compile(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+"
                 r"([-rwxsp]{4})\s*(.*)$")


def _rows(text: str) -> list[tuple[str, str, str]]:
    """(line, perms, objfile) of each map row of a stop."""
    return [(m.group(0), m.group(3), m.group(4).strip())
            for m in (ROW.match(line) for line in text.splitlines()) if m]


def _drop_row(pick):
    """An edit that deletes the map row that ``pick(rows)`` returns (a row of _rows)."""
    def edit(text: str) -> str:
        line = pick(_rows(text))[0]
        return text.replace(line + "\n", "", 1)
    return edit


def _add_row(row: str):
    """An edit that adds a map row after the header line of the stop's map."""
    def edit(text: str) -> str:
        return re.sub(r"(Start Addr[^\n]*\n)", lambda m: m.group(1) + row + "\n", text, count=1)
    return edit


LIBC_ROW = ("      0x7ffff7dd5000     0x7ffff7dfb000    0x26000        0x0  r--p   "
            "/usr/lib/x86_64-linux-gnu/libc.so.6")
HEAP_ROW = "      0x555555559000     0x55555557a000    0x21000        0x0  rw-p   [heap]"


# --------------------------------------------------------------------------- stop 0


def data_page_not_anonymous(record: dict) -> None:
    """The executable's data region holds no private page at the first instruction."""
    _edit_stop(record, 0, lambda t: re.sub(r"(rw-p\s+Anonymous:) \d+ kB", r"\1 0 kB", t))


def code_page_anonymous_at_first_instruction(record: dict) -> None:
    """The executable's code holds a private page at the first instruction."""
    _edit_stop(record, 0, lambda t: re.sub(r"(r-xp\s+Anonymous:) \d+ kB", r"\1 4 kB", t))


def code_page_not_anonymous_at_first_instruction(record: dict) -> None:
    """The executable's code holds no private page at the first instruction."""
    _edit_stop(record, 0, lambda t: re.sub(r"(r-xp\s+Anonymous:) \d+ kB", r"\1 0 kB", t))


def fs_base_set_at_first_instruction(record: dict) -> None:
    _edit_stop(record, 0, lambda t: re.sub(r"(\+p/x \$fs_base\n\$\d+ = )0x0\b",
                                           r"\g<1>0x7ffff7dd2740", t))


def first_instruction_in_program(record: dict) -> None:
    """The first stop is in the program's own _start, as in a static binary."""
    record["transcript"] = re.sub(r"(in _start \(\)) from \S+", r"\1", record["transcript"],
                                  count=1)


def libc_at_first_instruction(record: dict) -> None:
    _edit_stop(record, 0, _add_row(LIBC_ROW))


def heap_at_first_instruction(record: dict) -> None:
    _edit_stop(record, 0, _add_row(HEAP_ROW))


# --------------------------------------------------------------------------- stop 1: main


def exe_relro_not_applied_at_main(record: dict) -> None:
    """The executable's RELRO line is missing at main: a line fewer than at main now."""
    _edit_stop(record, 1, _drop_row(
        lambda rows: [r for r in rows if r[2].startswith("/build/") and r[1] == "r--p"][-1]))


def ld_so_relro_not_applied_at_main(record: dict) -> None:
    """ld.so's RELRO line (its last r--p line) is missing at main."""
    _edit_stop(record, 1, _drop_row(
        lambda rows: [r for r in rows if r[2].endswith("ld-linux-x86-64.so.2")
                      and r[1] == "r--p"][-1]))


def libc_data_writable_at_main(record: dict) -> None:
    """libc's RELRO part reads rw-p: its permissions no longer follow the executable's."""
    def edit(text: str) -> str:
        rows = re.findall(r"^[^\n]*r--p   \S*libc\.so\.6$", text, flags=re.M)
        return text.replace(rows[-1], rows[-1].replace("r--p", "rw-p"))
    _edit_stop(record, 1, edit)


def no_anonymous_after_libc_at_main(record: dict) -> None:
    """The anonymous region after libc's data (its .bss) is gone at main."""
    def edit(text: str) -> str:
        return re.sub(r"(rw-p   \S*libc\.so\.6\n)[^\n]*rw-p   \n", r"\1", text, count=1)
    _edit_stop(record, 1, edit)


def heap_at_main(record: dict) -> None:
    _edit_stop(record, 1, _add_row(HEAP_ROW))


def fs_base_in_libc_at_main(record: dict) -> None:
    """%fs points into libc's code at main, not into an anonymous region."""
    _edit_stop(record, 1, lambda t: re.sub(r"(\+p/x \$fs_base\n\$\d+ = )0x[0-9a-f]+",
                                           r"\g<1>0x7ffff7e00000", t))


def fs_base_on_stack_at_main(record: dict) -> None:
    _edit_stop(record, 1, lambda t: re.sub(r"(\+p/x \$fs_base\n\$\d+ = )0x[0-9a-f]+",
                                           r"\g<1>0x7ffffffde100", t))


def no_region_below_vvar_at_main(record: dict) -> None:
    """Drop the anonymous line right below [vvar] at main."""
    def pick(rows):
        vvar = next(i for i, r in enumerate(rows) if r[2] == "[vvar]")
        return rows[vvar - 1]
    _edit_stop(record, 1, _drop_row(pick))


# --------------------------------------------------------------------------- stop 2: exit


def vdso_gone_at_exit(record: dict) -> None:
    _edit_stop(record, 2, _drop_row(lambda rows: next(r for r in rows if r[2] == "[vdso]")))


def main_in_backtrace(record: dict) -> None:
    """A frame for main between exit and __libc_start_call_main, as if main had not returned."""
    def edit(text: str) -> str:
        text = re.sub(r"^#([1-9])", lambda m: f"#{int(m.group(1)) + 1}", text, flags=re.M)
        return re.sub(r"^(#0 [^\n]*\n)", r"\1#1  0x00005555555551a0 in main () at samples/starti.c:17\n",
                      text, count=1, flags=re.M)
    _edit_stop(record, 2, edit)


def start_frame_in_loader(record: dict) -> None:
    """The outermost frame, _start, at an address of ld.so's code instead of the program's."""
    _edit_stop(record, 2, lambda t: re.sub(r"^(#\d+\s+)0x[0-9a-f]+( in _start \(\))",
                                           r"\g<1>0x00007ffff7fe4b70\2", t, flags=re.M))


# --------------------------------------------------------------------------- checkpoints


def duplicate_first_region(checkpoint: dict) -> None:
    """One region more in a checkpoint's map (a copy of its first)."""
    checkpoint["regions"].insert(0, dict(checkpoint["regions"][0]))


def shrink_code_region(checkpoint: dict) -> None:
    """The executable's code region (its first r-xp region) a single page long."""
    code = next(r for r in checkpoint["regions"] if r["perms"] == "r-xp")
    code["end"] = code["start"] + 4096


def grow_largest_region(checkpoint: dict) -> None:
    """The anonymous region below libc grows down to the heap: no large gap is left."""
    regions = checkpoint["regions"]
    heap = next(r for r in regions if r["pathname"] == "[heap]")
    above = min((r for r in regions if r["start"] > heap["end"]), key=lambda r: r["start"])
    above["start"] = heap["end"]
