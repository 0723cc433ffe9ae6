"""Mutations for the claims of "The mapping procedure" that a plain ``set`` cannot make.

The probe and pagewalk samples report through their output, one line of text per
fact; these functions rewrite one field of one line, as a run on another machine
could have printed it. Each receives the part of the capture its claim's ``path``
names (a run, or a pagemap range) and changes it in place.
"""

from __future__ import annotations

import re


def _probe_field(run: dict, probe: str, field: str, value: str) -> None:
    lines = run["stdout"].splitlines(keepends=True)
    hits = [k for k, line in enumerate(lines) if line.startswith(f"probe={probe} ")]
    assert len(hits) == 1, f"no single line for probe {probe!r}"
    k = hits[0]
    changed = re.sub(rf"(?<= ){field}=\S+", f"{field}={value}", lines[k])
    assert changed != lines[k], f"probe {probe!r} has no {field} to change"
    lines[k] = changed
    run["stdout"] = "".join(lines)


def probe_code_maperr(run: dict) -> None:
    """The write to main reported as if nothing were mapped there."""
    _probe_field(run, "code", "si_code", "SEGV_MAPERR")


def probe_null_present(run: dict) -> None:
    """The read of NULL with the protection bit set, as a kernel-half read has it."""
    _probe_field(run, "null", "error_code", "0x5")


def probe_kernel_gp(run: dict) -> None:
    """The kernel-half read as a general-protection fault (as with LASS)."""
    _probe_field(run, "kernel", "trapno", "13")


def probe_dead_has_address(run: dict) -> None:
    """A general-protection fault that names its address, which it cannot."""
    _probe_field(run, "dead", "si_addr", "0xdead000000000000")


def probe_vsyscall_hardware_code(run: dict) -> None:
    """The vsyscall read with the processor's own code: no page present."""
    _probe_field(run, "vsyscall", "error_code", "0x4")


def probe_vsyscall_accerr(run: dict) -> None:
    """The vsyscall read reported as a permission fault on a mapping."""
    _probe_field(run, "vsyscall", "si_code", "SEGV_ACCERR")


def _pagewalk_line(run: dict, label: str, change) -> None:
    pattern = re.compile(rf"^({re.escape(label)}\s+)(\S+)$", re.M)
    m = pattern.search(run["stdout"])
    assert m, f"no {label!r} line in the printout"
    run["stdout"] = pattern.sub(lambda m: m.group(1) + change(m.group(2)), run["stdout"], count=1)


def pagewalk_pt_index_off(run: dict) -> None:
    """The printed PT index one higher than the address says."""
    _pagewalk_line(run, "PT index", lambda v: str(int(v) + 1))


def pagewalk_printed_address_off(run: dict) -> None:
    """The printed virtual address a page higher than the parts add up to."""
    _pagewalk_line(run, "virtual address", lambda v: hex(int(v, 16) + 0x1000))


def demand_file_one_page_present(pagemap_range: dict) -> None:
    """Fault-around mapped nothing but the page that was read."""
    present = [p for p in pagemap_range["pages"] if p["present"]]
    keep = present[len(present) // 2]
    for p in present:
        if p is not keep:
            p.update(present=False, pfn=None, file_or_shared=False, exclusive=False)
