"""What "About this site" says of pagemap and privileges, checked on this machine's kernel.

The page says: frame numbers are shown only when the opener of /proc/PID/pagemap held
CAP_SYS_ADMIN in the initial user namespace (fs/proc/task_mmu.c, pagemap_read:
``file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN)``), else they read as 0; the
present and exclusive bits go to every reader the kernel lets open the file, one with
ptrace's read access to the process, and not to everyone. A process that gave up root
for an unprivileged user checks both, reading its own entry and then trying another
user's process.
"""

from __future__ import annotations

import ctypes
import json
import os
import select

import pytest

from roads.constants import (PAGE_SIZE, PAGEMAP_ENTRY_BYTES, PAGEMAP_EXCLUSIVE_BIT,
                             PAGEMAP_PFN_BITS, PAGEMAP_PRESENT_BIT)

NOBODY = 65534
PR_SET_DUMPABLE = 4  # include/uapi/linux/prctl.h
DEADLINE_SECONDS = 10


def own_entry() -> int:
    """This process's pagemap entry for a page it has just written."""
    page = ctypes.create_string_buffer(b"x", PAGE_SIZE.value)
    address = ctypes.addressof(page)
    with open("/proc/self/pagemap", "rb", buffering=0) as f:
        f.seek(address // PAGE_SIZE.value * PAGEMAP_ENTRY_BYTES.value)
        return int.from_bytes(f.read(PAGEMAP_ENTRY_BYTES.value), "little")


def fields(entry: int) -> dict[str, int]:
    return {"present": entry >> PAGEMAP_PRESENT_BIT.value & 1,
            "exclusive": entry >> PAGEMAP_EXCLUSIVE_BIT.value & 1,
            "pfn": entry & ((1 << PAGEMAP_PFN_BITS.value) - 1)}


def as_nobody(root_pid: int) -> dict:
    """In a child that became NOBODY: its own entry, and whether root's pagemap opened."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            # Changing user made the process undumpable, and its /proc files root's:
            # dumpable again, they are its user's, as for any process started as NOBODY.
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            found = fields(own_entry())
            try:
                with open(f"/proc/{root_pid}/pagemap", "rb"):
                    found["opened_root"] = True
            except PermissionError:
                found["opened_root"] = False
            os.write(write_end, json.dumps(found).encode())
            code = 0
        except BaseException as exc:
            os.write(write_end, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], DEADLINE_SECONDS)
        if not ready:
            os.kill(child, 9)
            pytest.fail(f"the child {child} said nothing in {DEADLINE_SECONDS} s")
        report = os.read(read_end, 4096)
    finally:
        os.close(read_end)
        _, status = os.waitpid(child, 0)
    found = json.loads(report or b"{}")
    assert "error" not in found and os.waitstatus_to_exitcode(status) == 0, \
        f"the child failed (status {status:#x}): {found}"
    return found


@pytest.fixture(scope="module")
def unprivileged() -> dict:
    if os.geteuid() != 0:
        pytest.skip("becoming another user needs root")
    return as_nobody(os.getpid())


def test_unprivileged_reader_sees_present_and_exclusive_but_no_frame(unprivileged):
    assert unprivileged["present"] == 1 and unprivileged["exclusive"] == 1
    assert unprivileged["pfn"] == 0


def test_unprivileged_reader_cannot_open_another_users_pagemap(unprivileged):
    assert unprivileged["opened_root"] is False


def test_frame_shown_to_an_opener_with_cap_sys_admin(unprivileged):
    entry = fields(own_entry())
    if entry["pfn"] == 0:
        pytest.skip("this root lacks CAP_SYS_ADMIN in the initial user namespace")
    assert entry["present"] == 1
