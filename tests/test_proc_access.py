"""The words of a /proc read the kernel refused: what its ptrace access check asks
(kernel/ptrace.c, __ptrace_may_access) of the reader, Yama's ptrace_scope named only for
a process's memory (Yama restricts the attaching kind of access alone)."""

from __future__ import annotations

import os

import pytest

from roads.capture.proc import Proc
from roads.errors import CaptureError


def _refused(path: str):
    raise PermissionError(1, "Operation not permitted")


@pytest.mark.parametrize(("name", "yama"), [("smaps", False), ("mem", True)])
def test_a_refused_read_names_what_the_kernel_asks(monkeypatch, name, yama):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(CaptureError) as caught:
        Proc()._io(1, name, _refused)
    said = caught.value.message
    assert said.startswith(f"cannot read /proc/1/{name}: Operation not permitted; it needs "
                           "ptrace access to process 1 (a process of your own user, not "
                           "set-user-ID nor made undumpable, or CAP_SYS_PTRACE")
    assert ("kernel.yama.ptrace_scope 0 or being its ancestor" in said) == yama


def test_root_refused_lacks_cap_sys_ptrace(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(CaptureError, match="which root has only with CAP_SYS_PTRACE, lacking "
                                           "here$"):
        Proc()._io(1, "smaps", _refused)
