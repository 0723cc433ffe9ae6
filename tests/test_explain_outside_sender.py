"""roads explain: a stop signal sent from outside the sandbox is said to be.

The sandbox gives a run a pid namespace of its own. A signal from a process outside it
reaches the program with si_pid 0: the kernel has no id for the sender in the
receiver's namespace (kernel/signal.c, task_tgid_nr_ns of a task the namespace does
not hold). The page said "stopped by SIGSTOP from process 0", naming a process that
does not exist; it names where the sender is instead.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture
from tests.explain_support import page_facts

pytestmark = [pytest.mark.gcc]

# Waits, up to ten seconds, to be stopped from outside and continued.
WAITS = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t continued;
static void on_cont(int sig) { (void)sig; continued = 1; }
int main(void) {
    signal(SIGCONT, on_cont);
    for (int i = 0; i < 100 && !continued; i++)
        usleep(100 * 1000);
    puts(continued ? "continued" : "never stopped");
    return 0;
}
"""
NAME = "outsider"


def _in_a_namespace_of_its_own(name: str) -> int | None:
    """The host's id of a process called ``name`` that has a second, inner id (NSpid:
    it runs in a pid namespace below this one), or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("Name") == name and len(fields.get("NSpid", "").split()) > 1:
            return int(entry)
    return None


def test_a_stop_from_outside_the_sandbox_names_no_process_0(root, gcc, tmp_path, capsys,
                                                            monkeypatch, no_leftovers):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{NAME}.c").write_text(WAITS)
    sent: list[int] = []
    ended = threading.Event()

    def send() -> None:  # looks for the program until roads explain has returned
        while not ended.is_set() and not sent:
            pid = _in_a_namespace_of_its_own(NAME)
            if pid is not None:
                os.kill(pid, signal.SIGSTOP)
                sent.append(pid)
            time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        status = explain(root, "--at", "exit", "--out", "p.html", "--save", "p.json",
                         "--", f"./{NAME}.c")
    finally:
        ended.set()
        sender.join()
    err = capsys.readouterr().err
    if not sent:
        pytest.skip(f"the run had no pid namespace of its own here:\n{err}")
    assert status == 0, err
    [stopped] = json.loads((tmp_path / "p.json").read_text())["stopped"]
    assert stopped["sender"] == 0  # si_pid, as the kernel gives it
    said = page_facts((tmp_path / "p.html").read_text())["Stopped by a signal"]
    assert "from process 0" not in said and "from process 0" not in err
    assert "from a process outside its pid namespace (the run's sandbox's" in said, said
