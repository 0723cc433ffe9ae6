"""Every limit has a cap, and names and counts are bounded (issue 9, items 9 and 11):
a manifest cannot switch a limit off or make the build hold unbounded data, and a run
cannot grow its capture without bound by checkpoints, names or recorded ranges."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roads.errors import RoadsError, SampleError
from roads.capture.proc import Proc
from roads.capture.runner import ProcessRecord, end_cause, launcher, launcher_died, oom_kills, run_program
from roads.capture.samples import (
    LIMIT_CAPS, MAX_CHECKPOINTS, NAME_BYTES, name_problem, parse_manifest,
)
from tests.conftest import REPO


def entry(tmp_path: Path, lines: str):
    (tmp_path / "s.c").write_text("int main(void){return 0;}\n")
    return parse_manifest(f"[s]\n{lines}", tmp_path, "samples.toml")


@pytest.mark.parametrize("key", sorted(LIMIT_CAPS))
def test_every_limit_is_capped(tmp_path, key):
    cap = LIMIT_CAPS[key]
    assert entry(tmp_path, f"[s.limits]\n{key} = {cap}\n").samples["s"].limits.__dict__[key] == cap
    for value in (cap + 1, 0, -1, 1 << 70, '"1"', 1.5, "true"):
        broken = entry(tmp_path, f"[s.limits]\n{key} = {value}\n").broken
        assert f"limits.{key}: must be an integer from 1 to {cap}" in broken["s"].message


def test_the_fork_limit_stays_below_what_the_launcher_counts(tmp_path):
    launcher = (REPO / "roads" / "capture" / "launcher.c").read_text()
    counted = int(launcher.split("#define MAX_RUN ")[1].split()[0])
    assert LIMIT_CAPS["processes"] < counted
    assert "processes" in entry(tmp_path, "[s.limits]\nprocesses = 4096\n").broken["s"].message


def test_the_schema_states_every_cap():
    readme = (REPO / "samples" / "README.md").read_text()
    rows = readme.splitlines()
    for key, cap in LIMIT_CAPS.items():
        at = next(i for i, row in enumerate(rows) if row.startswith(f"{key} = "))
        comment = " ".join(rows[at:at + 2])  # a comment may go on on the next line
        assert f"max {cap}" in comment, comment
    assert f"at most {MAX_CHECKPOINTS}" in readme and f"{NAME_BYTES} bytes" in readme


@pytest.mark.parametrize("name, problem", [
    ("", "empty"), ("a" * (NAME_BYTES + 1), "longer"), ("é" * 33, "longer"),
    ("two words", "blank"), ("tab\there", "blank"), ("esc\x1b[31m", "control"),
    ("nbsp\u00a0x", "blank"), ("rtl\u202eabc", "format"), ("del\x7f", "control"),
])
def test_names_roads_h_cannot_carry_are_refused(tmp_path, name, problem):
    assert problem in name_problem(name)
    toml_name = "".join(c if " " <= c < "\x7f" and c not in '"\\' else f"\\u{ord(c):04x}"
                        for c in name)
    broken = entry(tmp_path, f'checkpoints = ["{toml_name}"]\n').broken
    assert "no run could reach it" in broken["s"].message


@pytest.mark.parametrize("name", ["a", "a" * NAME_BYTES, "débit", "δ-page", "x_y.z:1", "é" * 32])
def test_names_roads_h_carries_are_accepted(tmp_path, name):
    assert name_problem(name) is None
    assert entry(tmp_path, f'checkpoints = ["{name}"]\n').samples["s"].checkpoints == (name,)


def test_counts_are_bounded(tmp_path):
    many = ", ".join(f'"c{i}"' for i in range(MAX_CHECKPOINTS + 1))
    assert "checkpoints: at most" in entry(tmp_path, f"checkpoints = [{many}]\n").broken["s"].message
    args = ", ".join('"x"' for _ in range(65))
    assert "args: at most 64" in entry(tmp_path, f"args = [{args}]\n").broken["s"].message
    variants = "".join(f"v{i} = []\n" for i in range(9))
    assert "variants: at most 8" in entry(tmp_path, f"[s.variants]\n{variants}").broken["s"].message
    long_name = "a" * 65
    text = f"[{long_name}]\n"
    assert "a sample name is 1 to 64" in parse_manifest(text, tmp_path, "m").broken[long_name].message


# --- what a run sends ------------------------------------------------------------------

def capture_error(scratch, name) -> RoadsError:
    with pytest.raises(RoadsError) as info:
        scratch.project().capture_one(name)
    assert not (scratch.root / "snapshots" / f"{name}.json").exists()
    return info.value


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_a_utf8_checkpoint_name_arrives_whole(scratch):
    scratch.add("utf", """\
        #include "roads.h"
        int main(void) {
            ROADS_ADDRESS("adresse-é", &main);
            ROADS_CHECKPOINT("débit-δ");
            ROADS_CHECKPOINT("with space");
            return 0;
        }
    """, 'checkpoints = ["débit-δ", "with_space"]\n')
    scratch.project().capture_one("utf")
    doc = json.loads((scratch.root / "snapshots" / "utf.json").read_text())
    run = doc["variants"]["default"]["runs"][0]
    assert [c["name"] for c in run["checkpoints"]] == ["débit-δ", "with_space"]
    assert run["checkpoints"][0]["addresses"][0]["name"] == "adresse-é"


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.parametrize("body, words", [
    # thousands of checkpoints: stopped at the first one over the bound
    ('for (int i = 0; i < 5000; i++) ROADS_CHECKPOINT("again");',
     f"one more than the {MAX_CHECKPOINTS} a run may reach"),
    # a 100 KB name: refused, and the message shows only its head
    ('static char n[100000]; memset(n, \'n\', sizeof n - 1); ROADS_CHECKPOINT(n);',
     f"longer than {NAME_BYTES} bytes"),
    # bytes that are not UTF-8
    ('ROADS_CHECKPOINT("bad\\xff\\xfe");', "control or format character"),
    # addresses and ranges without end
    ('char k[16]; for (int i = 0; i < 1000; i++) { sprintf(k, "a%d", i); ROADS_ADDRESS(k, &i); }',
     "recorded more than 64 addresses"),
    ('ROADS_RANGE("all", (void *)0, 1UL << 40);', "at most 16 ranges of at most 4096 pages"),
    ('char k[16]; for (int i = 0; i < 100; i++) { sprintf(k, "r%d", i); ROADS_RANGE(k, &i, 1); }',
     "at most 16 ranges"),
])
def test_a_run_cannot_grow_its_capture_without_bound(scratch, body, words):
    scratch.add("grow", f"""\
        #include <stdio.h>
        #include <string.h>
        #include "roads.h"
        int main(void) {{
            {body}
            ROADS_CHECKPOINT("end");
            return 0;
        }}
    """, "timeout = 20\n")
    err = capture_error(scratch, "grow")
    assert isinstance(err, SampleError)
    text = err.located()
    assert words in text, text
    assert len(text) < 4000


# --- every end is named (issue 9, item 10) ----------------------------------------------

SPIN = """\
    #include <signal.h>
    #include "roads.h"
    int main(void) {
        IGNORE
        ROADS_CHECKPOINT("spinning");
        for (volatile unsigned long i = 0;; i++) {}
    }
"""


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.parametrize("ignore, words", [
    ("", "killed by SIGXCPU (it used up its CPU time: limits.cpu = 1 s) after its last "
         "checkpoint 'spinning'"),
    ("signal(SIGXCPU, SIG_IGN);", "killed by SIGKILL (it used up its CPU time, limits.cpu = 1 s, "
                                  "and went on past SIGXCPU)"),
])
def test_the_cpu_limit_is_named(scratch, ignore, words):
    scratch.add("spin", SPIN.replace("IGNORE", ignore), "timeout = 20\n[spin.limits]\ncpu = 1\n")
    err = capture_error(scratch, "spin")
    assert words in str(err), str(err)


def test_end_causes_are_named_from_status_and_counters():
    killed = ProcessRecord(1, 0, status=9, cpu_ms=120)
    assert end_cause(killed, 10, 0) is None  # a plain SIGKILL: no cause to guess
    assert "out-of-memory killer" in end_cause(killed, 10, 1)
    assert "went on past SIGXCPU" in end_cause(ProcessRecord(1, 0, 9, cpu_ms=10_500), 10, 1)
    assert end_cause(ProcessRecord(1, 0, status=11), 10, 3) is None  # SIGSEGV says it all
    crashed = ProcessRecord(1, 0, status=11, last_checkpoint="before-write")
    assert crashed.describe() == "killed by SIGSEGV after its last checkpoint 'before-write'"
    assert ProcessRecord(1, 0, status=0).describe() == "exit status 0"
    assert "killed by SIGKILL (the kernel's out-of-memory killer" in launcher_died(9, 2)
    assert "no process of it has an exit status" in launcher_died(9, 0)
    assert isinstance(oom_kills(Path("/proc")), int)
    assert oom_kills(Path("/nonexistent")) is None


CRASH = "*(volatile int *)0 = 1;"


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
@pytest.mark.parametrize("body, manifest, said", [
    # After its checkpoints: the last one it reached.
    (f'ROADS_CHECKPOINT("first"); ROADS_CHECKPOINT("second"); {CRASH}', "",
     "was killed by SIGSEGV after its last checkpoint 'second'"),
    # Before them: those it never reached.
    (f'{CRASH} ROADS_CHECKPOINT("mapped"); ROADS_CHECKPOINT("protected");',
     'checkpoints = ["mapped", "protected"]\n',
     "was killed by SIGSEGV, never reaching checkpoints 'mapped', 'protected', "
     "where exit status 0 was expected"),
])
def test_a_crash_names_the_checkpoints_reached_or_not(scratch, body, manifest, said):
    scratch.add("crash", '#include "roads.h"\nint main(void) { ' + body + " return 0; }\n",
                manifest)
    err = capture_error(scratch, "crash")
    assert said in str(err), str(err)


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_a_killed_launcher_is_named(scratch, tmp_path):
    (tmp_path / "s.c").write_text('#include <unistd.h>\n#include "roads.h"\n'
                                  'int main(void){ ROADS_CHECKPOINT("ready"); sleep(30); return 0; }\n')
    shutil.copy(REPO / "samples" / "roads.h", tmp_path / "roads.h")
    subprocess.run(["gcc", "-I", str(tmp_path), "-o", str(tmp_path / "s"), str(tmp_path / "s.c")],
                   check=True)

    def kill_launcher(stop):
        pid = stop.pid
        while (parent := Proc().stat(pid).ppid) != os.getpid():
            pid = parent  # up to the launcher, our own child
        os.kill(pid, signal.SIGKILL)

    with pytest.raises(SampleError) as info:
        run_program(["./s"], launcher_path=launcher(tmp_path / "cache"), cwd=tmp_path, env={},
                    timeout=20, no_aslr=True, snapshot=kill_launcher)
    text = str(info.value)
    assert "the launcher holding the run was killed by SIGKILL" in text, text
    assert "last checkpoint reached: 'ready'" in text


OOM_CHILD = """
import sys
from roads.errors import RoadsError
from roads.capture.project import Project
try:
    Project(sys.argv[1]).capture_one("hog")
except RoadsError as exc:
    print(exc.located())
"""


@pytest.mark.gcc
@pytest.mark.slow
@pytest.mark.usefixtures("no_leftovers")
def test_the_out_of_memory_killer_is_named(scratch, tmp_path):
    """A run in a memory cgroup (v1 here) that touches more than the cgroup holds."""
    mine = next((line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
                 if line.split(":")[1] == "memory"), None)
    group = Path("/sys/fs/cgroup/memory") / (mine or "/").lstrip("/") / f"roads-oom-{os.getpid()}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(256 << 20))
    except OSError as exc:
        pytest.skip(f"no memory cgroup to make here: {exc}")
    scratch.add("hog", """\
        #include <stdlib.h>
        #include <string.h>
        #include "roads.h"
        int main(void) {
            ROADS_CHECKPOINT("before");
            for (int i = 0; i < 64; i++)
                memset(malloc(64 << 20), 1, 64 << 20);
            return 0;
        }
    """, "timeout = 60\n[hog.limits]\naddress_space = 8589934592\n")
    try:
        child = subprocess.Popen(
            ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh",
             sys.executable, "-c", OOM_CHILD, str(scratch.root)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = child.communicate(timeout=120)
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    assert "killed by SIGKILL (the kernel's out-of-memory killer, most likely" in out, out
    assert "after its last checkpoint 'before'" in out
