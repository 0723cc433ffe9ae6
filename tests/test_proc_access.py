"""The words of a /proc read the kernel refused: what its ptrace access check asks
(kernel/ptrace.c, __ptrace_may_access) of the reader, Yama's ptrace_scope named only for
a process's memory (Yama restricts the attaching kind of access alone)."""

from __future__ import annotations

import os

import pytest

from roads.capture import proc
from roads.capture.proc import Proc
from roads.errors import CaptureError


def _refused(path: str):
    raise PermissionError(1, "Operation not permitted")


@pytest.mark.parametrize(("name", "yama"), [("smaps", False), ("mem", True)])
def test_a_refused_read_names_what_the_kernel_asks(monkeypatch, name, yama):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(proc, "_own_capability", lambda bit: False)
    with pytest.raises(CaptureError) as caught:
        Proc()._io(1, name, _refused)
    said = caught.value.message
    assert said.startswith(f"cannot read /proc/1/{name}: Operation not permitted; it needs "
                           "ptrace access to process 1 (a process of your own user, not "
                           "set-user-ID nor made undumpable, or CAP_SYS_PTRACE")
    assert ("kernel.yama.ptrace_scope 0 or being its ancestor" in said) == yama


def test_root_refused_lacks_cap_sys_ptrace(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(proc, "_own_capability", lambda bit: False)
    with pytest.raises(CaptureError, match="which root has only with CAP_SYS_PTRACE, lacking "
                                           "here$"):
        Proc()._io(1, "smaps", _refused)


def test_a_reader_refused_with_cap_sys_ptrace_is_not_told_it_lacks_it(monkeypatch):
    """Root with CAP_SYS_PTRACE, refused all the same (pid 1 of a machine whose security
    module says no): another rule stood in the way. The bit read is CapEff's 19th."""
    asked = []
    monkeypatch.setattr(proc, "_own_capability", lambda bit: asked.append(bit) or True)
    with pytest.raises(CaptureError, match="which this process has \\(CAP_SYS_PTRACE\\), yet "
                                           "the kernel refused it: a security module's rule"):
        Proc()._io(1, "smaps", _refused)
    assert asked == [19]


def test_own_capability_is_read_from_capeff():
    from pathlib import Path

    status = Path("/proc/self/status").read_text()
    mask = int(next(l for l in status.splitlines() if l.startswith("CapEff:")).split()[1], 16)
    for bit in (proc.CAP_SYS_PTRACE, 0, 21):
        assert proc._own_capability(bit) is bool(mask >> bit & 1)
