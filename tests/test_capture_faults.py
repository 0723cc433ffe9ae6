"""Every way a sample can misbehave gives one clear error and leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from roads.errors import CaptureError, CompileError, ConfigError, RoadsError, SampleError
from tests.conftest import REPO, _running_from

pytestmark = [pytest.mark.gcc, pytest.mark.usefixtures("no_leftovers")]


def capture_error(scratch, name):
    # RoadsError, never a raw exception: every fault must reach the user as one located error.
    with pytest.raises(RoadsError) as info:
        scratch.project().capture_one(name)
    assert not (scratch.root / "snapshots" / f"{name}.json").exists(), "nothing half-written"
    return info.value


def test_compile_error_names_sample_file_and_line(scratch):
    scratch.add("broken", """\
        #include "roads.h"
        int main(void) {
            return undeclared_thing;
        }
    """)
    err = capture_error(scratch, "broken")
    assert isinstance(err, CompileError)
    text = err.located()
    assert "sample 'broken'" in text
    assert "samples/broken.c:3:" in text and "error:" in text
    assert "undeclared_thing" in text
    assert "command: gcc" in text


def test_crash_reports_the_signal_and_output(scratch):
    scratch.add("crash", """\
        #include <stdio.h>
        #include "roads.h"
        int main(void) {
            puts("about to crash");
            fflush(stdout);
            *(volatile int *)0 = 1;
            return 0;
        }
    """)
    err = capture_error(scratch, "crash")
    assert isinstance(err, SampleError)
    assert "killed by SIGSEGV" in str(err)
    assert "about to crash" in str(err)


def test_a_hang_before_any_checkpoint_says_none_was_reached(scratch):
    """A sample stuck before its first checkpoint (a barrier that waits for one thread
    too many): the timeout says that no checkpoint was reached, not nothing."""
    scratch.add("stuck", """\
        #include <unistd.h>
        #include "roads.h"
        int main(void) {
            pause();
            ROADS_CHECKPOINT("never");
            return 0;
        }
    """, 'timeout = 1\ncheckpoints = ["never"]\n')
    err = capture_error(scratch, "stuck")
    assert "did not finish within 1 s; killed (no checkpoint reached)" in str(err)


def test_hang_is_killed_at_the_timeout(scratch):
    scratch.add("hang", """\
        #include "roads.h"
        int main(void) {
            ROADS_CHECKPOINT("started");
            for (;;) {}
        }
    """, "timeout = 1\n")
    started = time.monotonic()
    err = capture_error(scratch, "hang")
    assert time.monotonic() - started < 10
    assert "did not finish within 1 s" in str(err)
    assert "last checkpoint reached: 'started'" in str(err)


def test_stopped_child_at_timeout_is_killed_and_reaped(scratch):
    scratch.add("stopper", """\
        #include <signal.h>
        #include <unistd.h>
        #include <sys/wait.h>
        #include "roads.h"
        int main(void) {
            if (fork() == 0) {
                raise(SIGSTOP);   /* stopped outside the protocol */
                _exit(0);
            }
            wait(NULL);          /* never returns: the child stays stopped */
            return 0;
        }
    """, "timeout = 1\n")
    err = capture_error(scratch, "stopper")
    assert "did not finish within 1 s" in str(err)


def test_missed_checkpoint_is_named(scratch):
    scratch.add("early", """\
        #include "roads.h"
        int main(void) {
            ROADS_CHECKPOINT("one");
            return 0;
        }
    """, 'checkpoints = ["one", "two"]\n')
    err = capture_error(scratch, "early")
    assert "never reached checkpoint 'two'" in str(err)
    assert "reached: one" in str(err)


def test_a_missed_checkpoint_points_at_its_manifest_line_and_a_misspelling(scratch):
    """A checkpoint listed but never reached: the error said so, and nothing of where it
    was listed or why; a newcomer's misspelt name took a search of both files."""
    scratch.add("first", """\
        int main(void) { return 0; }
    """)
    scratch.add("early", """\
        #include "roads.h"
        int main(void) {
            ROADS_CHECKPOINT("after-growth");
            ROADS_CHECKPOINT("late");
            return 0;
        }
    """, 'title = "t"\ncheckpoints = ["after-growht", "late", "later"]\n')
    err = capture_error(scratch, "early")
    line = scratch.manifest.splitlines().index(
        'checkpoints = ["after-growht", "late", "later"]') + 1
    assert line > 3  # the second entry's, not the first's
    text = str(err)
    assert f"samples/samples.toml:{line} lists them for [early]" in text, text
    # The name it resembles, and where the source holds it: the manifest or the
    # source may be the one misspelt.
    assert ('no source of the sample holds the string "after-growht" '
            "(did you mean 'after-growth', at samples/early.c:3?)") in text, text
    assert 'the string "later"' in text and "did you mean 'late', at samples/early.c:4?" in text, text
    assert 'the string "late"' not in text, text  # reached: no word about it


def test_a_missed_checkpoint_the_source_holds_gets_no_misspelling_note(scratch):
    scratch.add("stops", """\
        #include <stdlib.h>
        #include "roads.h"
        int main(void) {
            exit(0);
            ROADS_CHECKPOINT("unreached");
        }
    """, 'checkpoints = ["unreached"]\n')
    text = str(capture_error(scratch, "stops"))
    assert "never reached checkpoint 'unreached'" in text, text
    assert "samples/samples.toml:2 lists it for [stops]" in text, text
    assert "no source" not in text, text


def test_missed_checkpoints_are_named_in_the_plural(scratch):
    scratch.add("stops", """\
        #include <stdlib.h>
        #include "roads.h"
        int main(void) {
            exit(0);
            ROADS_CHECKPOINT("first");
            ROADS_CHECKPOINT("second");
        }
    """, 'checkpoints = ["first", "second"]\n')
    text = str(capture_error(scratch, "stops"))
    assert "never reached checkpoints 'first', 'second' (reached: none;" in text, text
    assert "samples/samples.toml:2 lists them for [stops]" in text, text


def test_a_sample_whose_source_went_since_the_manifest_was_read_says_so(scratch):
    """Under mkdocs serve the manifest read before is kept while samples.toml is as it
    was: a source deleted since reached gcc, and was told as a variant gcc 'could not
    compile', the cause only in gcc's output."""
    from roads.capture import build

    scratch.add("gone", """\
        int main(void) { return 0; }
    """)
    project = scratch.project()
    sample = project.sample("gone")
    (scratch.samples / "gone.c").unlink()
    with pytest.raises(ConfigError) as err:
        build.compile_variant(sample, sample.variants[0], project.cache_dir)
    assert str(err.value) == ("sample 'gone': samples/gone.c: no such file, which "
                              "samples/samples.toml names for [gone]"), str(err.value)


def test_unexpected_exit_status(scratch):
    scratch.add("three", """\
        int main(void) { return 3; }
    """)
    err = capture_error(scratch, "three")
    assert "ended with exit status 3, where exit status 0 was expected" in str(err)


def test_fork_storm_is_stopped(scratch):
    scratch.add("storm", """\
        #include <unistd.h>
        int main(void) {
            for (;;) {
                fork();
                usleep(2000);
            }
        }
    """, "timeout = 20\n[storm.limits]\nprocesses = 16\n")
    err = capture_error(scratch, "storm")
    assert "forked too much: more than 16 processes" in str(err)


def test_thread_storm_counts_against_the_same_limit(scratch):
    """Threads cost the machine a task each, as processes do: a run that starts thousands
    of threads in one process is held to limits.processes too."""
    scratch.add("spawn", """\
        #include <pthread.h>
        #include <unistd.h>
        static void *idle(void *arg) { (void)arg; pause(); return 0; }
        int main(void) {
            pthread_attr_t small;
            pthread_attr_init(&small);
            pthread_attr_setstacksize(&small, 64 * 1024);
            for (int i = 0; i < 2000; i++) {
                pthread_t t;
                pthread_create(&t, &small, idle, 0);
                usleep(500);
            }
            pause();
        }
    """, "timeout = 20\nlibs = [\"-pthread\"]\n[spawn.limits]\nprocesses = 16\n")
    err = capture_error(scratch, "spawn")
    assert "forked too much: more than 16 processes and threads at once" in str(err)


def test_output_flood_is_cut(scratch):
    scratch.add("flood", """\
        #include <stdio.h>
        int main(void) {
            for (;;)
                puts("all work and no play makes jack a dull boy");
        }
    """, "[flood.limits]\noutput = 100000\n")
    err = capture_error(scratch, "flood")
    assert "flooded its output: it wrote more than 97.7 KiB (100000 bytes, its stdout and stderr together)" in str(err)
    assert "dull boy" in str(err)


def test_memory_limit_applies(scratch):
    scratch.add("greedy", """\
        #include <stdio.h>
        #include <stdlib.h>
        int main(void) {
            void *p = malloc(512UL << 20);
            printf("%s\\n", p ? "got it" : "refused");
            return p == NULL;
        }
    """, "[greedy.limits]\naddress_space = 268435456\n")
    err = capture_error(scratch, "greedy")
    assert "refused" in str(err)


def test_sources_outside_samples_are_refused(scratch):
    (scratch.root / "evil.c").write_text("int main(void){return 0;}\n")
    (scratch.samples / "samples.toml").write_text('[evil]\nsource = "../evil.c"\n')
    with pytest.raises(ConfigError, match="outside the samples folder"):
        scratch.project().sample("evil")


def test_unknown_manifest_key_is_named(scratch):
    scratch.add("ok", "int main(void){return 0;}\n", "timout = 3\n")
    with pytest.raises(ConfigError, match=r"samples\.toml:2: \[ok\] timout: unknown key"):
        scratch.project().sample("ok")


def test_corrupt_capture_is_an_error_with_its_line(scratch):
    scratch.add("fine", "int main(void){return 0;}\n")
    (scratch.root / "snapshots").mkdir()
    (scratch.root / "snapshots" / "fine.json").write_text('{\n "schema": 1,\n oops\n}\n')
    with pytest.raises(CaptureError, match=r"fine\.json:3: corrupt capture"):
        scratch.project(mode="frozen").load("fine")


def test_missing_capture_in_frozen_mode_is_an_error(scratch):
    scratch.add("fine", "int main(void){return 0;}\n")
    with pytest.raises(CaptureError, match="no capture; run: roads capture fine"):
        scratch.project(mode="frozen").load("fine")


def test_stale_capture_in_frozen_mode_warns(scratch, caplog):
    scratch.add("fine", "int main(void){return 0;}\n")
    scratch.project().capture_one("fine")
    (scratch.samples / "fine.c").write_text("int main(void){return 0; }\n")
    doc = scratch.project(mode="frozen").load("fine")
    assert doc["sample"] == "fine"
    assert "capture of 'fine' is stale: samples/fine.c changed" in caplog.text


def test_interrupt_kills_and_reaps_the_run(scratch):
    # The run may write its own folder only; the pid it sees there is its namespace's.
    pidfile = scratch.root / ".cache" / "roads" / "build" / "sleeper" / "default" / "pid"
    scratch.add("sleeper", """\
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        #include "roads.h"
        int main(void) {
            FILE *f = fopen("pid", "w");
            fprintf(f, "%d\\n", (int)getpid());
            fclose(f);
            if (fork() == 0)
                ROADS_CHECKPOINT("child-waits");   /* a child stopped at a checkpoint */
            sleep(60);
            return 0;
        }
    """, 'timeout = 120\n')
    # SIGUSR1 makes the capture print every thread's stack: what it was doing, should it
    # ever outlive its Ctrl-C (seen once, on a machine loaded by other test runs).
    # Ctrl-C as a terminal delivers it: a suite started in the background (`cmd &` in a
    # script) hands its children SIGINT ignored, and Python then keeps it ignored.
    code = ("import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
            "signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from roads.capture.project import Project; "
            f"Project({str(scratch.root)!r}).capture_one('sleeper')")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE,
                             text=True)
    try:
        for _ in range(600):
            if pidfile.exists() and pidfile.read_text().endswith("\n"):
                break
            time.sleep(0.05)
        sample_pids = _running_from(scratch.root)
        assert sample_pids
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        try:
            _, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)
            time.sleep(1)
            child.kill()
            _, err = child.communicate()
            raise AssertionError(f"the capture outlived Ctrl-C by a minute; its stacks:\n{err}")
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert "KeyboardInterrupt" in err
    assert not [p for p in sample_pids if Path(f"/proc/{p}").exists()], "the sample survived Ctrl-C"
    assert not os.path.exists(scratch.root / "snapshots" / "sleeper.json")


def test_two_builds_at_once_do_not_corrupt_captures(scratch):
    scratch.add("twice", """\
        #include <stdlib.h>
        #include "roads.h"
        int main(void) {
            void *p = malloc(100);
            ROADS_ADDRESS("p", p);
            ROADS_CHECKPOINT("here");
            return 0;
        }
    """)
    code = ("from roads.capture.project import Project; "
            f"Project({str(scratch.root)!r}).capture_one('twice', refresh=True)")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    doc = json.loads((scratch.root / "snapshots" / "twice.json").read_text())
    assert doc["variants"]["default"]["runs"][0]["checkpoints"][0]["name"] == "here"
    leftovers = [p.name for p in (scratch.root / "snapshots").iterdir() if p.name != "twice.json"]
    assert leftovers == []


def add_writer(scratch, name: str, text: str, then: str = "") -> None:
    """A sample that writes ``text`` (C string syntax) to ROADS_FD itself, as roads.h
    would not, and then runs ``then``."""
    scratch.add(name, f"""\
        #include <string.h>
        #include <unistd.h>
        #include "roads.h"
        int main(void) {{
            const char *text = "{text}";
            write(3, text, strlen(text));
            {then}
            return 0;
        }}
    """)


def test_a_sample_cannot_forge_the_launchers_lines(scratch):
    add_writer(scratch, "forger", "S 1 0\\nX 1 0\\n")  # "the run is process group 1"
    err = capture_error(scratch, "forger")
    assert isinstance(err, SampleError)
    assert "malformed protocol line on ROADS_FD: 'S 1 0'" in str(err)


def test_a_malformed_protocol_line_is_quoted(scratch):
    add_writer(scratch, "garbled", "C zz 1 here\\n")
    err = capture_error(scratch, "garbled")
    assert "malformed protocol line on ROADS_FD: 'C zz 1 here'" in str(err)


def test_a_process_that_leaves_the_group_is_still_killed(scratch):
    scratch.add("escape", """\
        #include <unistd.h>
        int main(void) {
            if (fork() == 0) {
                setsid();                       /* out of the run's process group */
                for (;;)
                    pause();
            }
            return 0;                           /* the parent leaves at once */
        }
    """, 'timeout = 2\n')
    err = capture_error(scratch, "escape")
    assert isinstance(err, SampleError) and "did not finish within 2 s" in str(err)
    # no_leftovers fails the test if the escaped process still runs


def test_an_orphan_still_names_its_parent_and_inherits_its_ranges(scratch):
    scratch.add("orphan", """\
        #include <stdlib.h>
        #include <unistd.h>
        #include "roads.h"
        static char buffer[4096];
        int main(void) {
            ROADS_RANGE("buffer", buffer, sizeof buffer);
            ROADS_CHECKPOINT("parent");
            if (fork() == 0) {
                usleep(200000);                 /* the parent is gone by now */
                ROADS_CHECKPOINT("orphan");
                _exit(0);
            }
            return 0;
        }
    """, 'checkpoints = ["parent", "orphan"]\n')
    project = scratch.project()
    project.capture_one("orphan")
    run = project.read("orphan")["variants"]["default"]["runs"][0]
    parent, orphan = run["checkpoints"]
    assert orphan["ppid"] == parent["pid"], "the orphan named its adopter, not its parent"
    assert [r["name"] for r in orphan["pagemap"]] == ["buffer"]


def test_a_launcher_that_does_not_compile_is_the_engines_error(scratch, monkeypatch, tmp_path):
    """A broken launcher.c is the engine's fault: the error says so, not 'the sample's gcc
    could not compile' with a line of a file the author never wrote."""
    from roads.capture import runner
    from roads.errors import CompileError, EngineError

    broken = tmp_path / "launcher.c"
    broken.write_text("int main(void) { return undeclared; }\n")
    monkeypatch.setattr(runner, "LAUNCHER_SOURCE", broken)
    scratch.add("fine", "int main(void) { return 0; }\n")
    with pytest.raises(EngineError, match="sandbox launcher") as caught:
        scratch.project().capture_one("fine")
    assert not isinstance(caught.value, CompileError)
    assert "undeclared" in (caught.value.output or "")


def test_a_checkpoint_with_too_many_regions_is_refused(scratch):
    """Thousands of regions at each of many checkpoints would make a capture of gigabytes:
    a checkpoint past MAX_REGIONS is an error naming it, and the run leaves nothing."""
    from roads.capture.samples import MAX_REGIONS

    scratch.add("confetti", f"""\
        #include <sys/mman.h>
        #include "roads.h"
        int main(void) {{
            /* Alternate protections so that no two neighbours merge into one region. */
            for (int i = 0; i < {MAX_REGIONS + 50}; i++)
                mmap(0, 4096, (i % 2) ? PROT_READ : PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            ROADS_CHECKPOINT("scattered");
            return 0;
        }}
    """, 'checkpoints = ["scattered"]\n')
    err = capture_error(scratch, "confetti")
    assert f"at checkpoint 'scattered': a capture holds at most {MAX_REGIONS} regions" in str(err)


def test_a_process_named_in_bytes_that_are_not_utf8_is_found_and_captured(scratch):
    """A run's processes are found by their status files (their pid in the run's own
    pid namespace): a sample whose process renames itself with bytes that are not
    UTF-8 is still walked past to its child, and captured, as is a file it maps from
    such a name; the capture writes each such byte \\xNN."""
    scratch.add("oddname", r"""
        #include <fcntl.h>
        #include <sys/mman.h>
        #include <sys/prctl.h>
        #include <sys/wait.h>
        #include <unistd.h>
        #include "roads.h"
        int main(void) {
            prctl(PR_SET_NAME, "\xff\xfe odd", 0, 0, 0);
            int fd = open("\xff.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || ftruncate(fd, 4096) != 0) return 1;
            if (mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) return 1;
            pid_t child = fork();
            if (child == 0) {
                ROADS_CHECKPOINT("child");
                _exit(0);
            }
            waitpid(child, 0, 0);
            return 0;
        }
    """)
    outcome = scratch.project().capture_one("oddname")
    assert outcome.error is None and outcome.action == "captured", outcome
    doc = json.loads((scratch.root / "snapshots" / "oddname.json").read_text())
    (run,) = doc["variants"]["default"]["runs"]
    (checkpoint,) = run["checkpoints"]
    assert checkpoint["name"] == "child" and checkpoint["ppid"] == run["pid"]
    # The child inherited the name; the bytes that are not UTF-8 are written \xNN.
    assert checkpoint["status"]["Name"] == "\\xff\\xfe odd"
    assert "/build/\\xff.bin" in [r["pathname"] for r in checkpoint["regions"]]


def test_a_loop_of_links_in_the_samples_folder_is_passed_over(scratch):
    """The samples folder is stamped before and after a capture (was a source saved
    meanwhile?): a loop of links there is no file of any sample, and was an internal
    error of every capture."""
    scratch.add("fine", "int main(void) { return 0; }\n")
    (scratch.samples / "loop1").symlink_to("loop2")
    (scratch.samples / "loop2").symlink_to("loop1")
    outcome = scratch.project().capture_one("fine")
    assert outcome.error is None and outcome.action == "captured", outcome


@pytest.mark.parametrize("line", [
    "A 1 0 big 0x1ffffffffffffffffff",          # more than 64 bits
    "A 1 0 below -0x10",                        # a sign roads.h never writes
    "A 1 0 spaced 0x1_0",                       # Python's digit separator
    "R 1 0 short 0x400000 -9999999999",         # a negative length
    "R 1 0 wide 0xfffffffffffffffffffff000 4096",
    "R 1 0 long 0x400000 18446744073709551616",  # 2^64 bytes
    "A +2 0 plus 0x10",                         # a pid with a sign
])
def test_numbers_roads_h_cannot_write_are_a_malformed_line(scratch, line):
    """A pointer is 0x and at most 16 hex digits, a length decimal digits below 2^64: a
    wider or signed number was an internal error (a seek past 2^63) or was kept."""
    add_writer(scratch, "numbers", f"{line}\\n", 'ROADS_CHECKPOINT("after");')
    err = capture_error(scratch, "numbers")
    assert isinstance(err, SampleError)
    assert f"malformed protocol line on ROADS_FD: {line!r}" in str(err)


def test_a_child_that_leaves_the_group_reaches_its_checkpoint(scratch):
    """In the run's own pid namespace a child that called setsid is still the run's
    (the launcher kills it with the rest): its checkpoint is taken, not refused."""
    scratch.add("session", """\
        #include <sys/wait.h>
        #include <unistd.h>
        #include "roads.h"
        int main(void) {
            pid_t child = fork();
            if (child == 0) {
                setsid();
                ROADS_CHECKPOINT("child");
                _exit(0);
            }
            waitpid(child, 0, 0);
            return 0;
        }
    """, 'checkpoints = ["child"]\n')
    outcome = scratch.project().capture_one("session")
    assert outcome.error is None, outcome.error
    doc = json.loads((scratch.root / "snapshots" / "session.json").read_text())
    (run,) = doc["variants"]["default"]["runs"]
    assert [c["name"] for c in run["checkpoints"]] == ["child"]
    assert "pid-namespace" in run["containment"]


def test_lines_that_each_cost_a_walk_of_the_run_still_end_at_the_timeout(scratch):
    """Each line naming a parent the run never had walks the run's processes (here some
    thirty): a flood of them is stopped at the timeout, checked between lines, not only
    between reads of the pipe (a read holds thousands of lines)."""
    scratch.add("walker", """\
        #include <stdio.h>
        #include <unistd.h>
        int main(void) {
            for (int i = 0; i < 30; i++)
                if (fork() == 0) { pause(); _exit(0); }
            char line[64];
            int n = snprintf(line, sizeof line, "A %d 4000000 x 0x1\\n", (int)getpid());
            for (int i = 0; i < 40000; i++)
                if (write(3, line, n) != n) return 1;
            pause();
        }
    """, "timeout = 1\n[walker.limits]\noutput = 2000000\n")
    from roads.capture.build import compile_variant

    project = scratch.project()  # compiled first: the time below is the run's
    compile_variant(project.sample("walker"), project.sample("walker").variants[0],
                    project.cache_dir)
    started = time.monotonic()
    err = capture_error(scratch, "walker")
    assert "did not finish within 1 s" in str(err)
    assert time.monotonic() - started < 3.5  # 4.3 s here before the check


def test_a_line_naming_the_namespaces_init_is_refused(scratch):
    """In the run's pid namespace, pid 1 is the launcher's init, never the program's: a
    line naming it as its own process is not the run's (it was taken as one)."""
    add_writer(scratch, "initline", "A 1 0 fake 0x10\\n")
    err = capture_error(scratch, "initline")
    assert "a protocol line names process 1, which is not part of this run" in str(err)


ROUNDS = 16  # 32 checkpoints: the most a run may reach


def test_threads_that_reach_checkpoints_together_take_turns(scratch):
    """Two threads at their checkpoints at once: the SIGCONT that ended one's stop also
    discarded the other's SIGSTOP, which then ran on past its checkpoint ("died at
    checkpoint", about one round in seven here). roads.h now lets one thread of a
    process send at a time; every round's both checkpoints are captured. The two
    threads stop in two files that each include roads.h: the turn is the program's,
    not each file's."""
    names = [f"{side}{i}" for i in range(ROUNDS) for side in "ab"]
    scratch.add("pair", f"""\
        #include <pthread.h>
        #include <sched.h>
        #include <stdio.h>
        #include "roads.h"
        int ready, go;
        void *side_b(void *arg);  /* in side.c */
        static char names[2][16];
        static void *side_a(void *arg) {{
            __atomic_add_fetch(&ready, 1, __ATOMIC_ACQ_REL);
            while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
                ;  /* both spin, then both let go at once */
            ROADS_CHECKPOINT((const char *)arg);
            return NULL;
        }}
        int main(void) {{
            for (int round = 0; round < {ROUNDS}; round++) {{
                pthread_t t[2];
                ready = go = 0;
                for (int i = 0; i < 2; i++) {{
                    snprintf(names[i], sizeof names[i], "%c%d", "ab"[i], round);
                    pthread_create(&t[i], NULL, i == 0 ? side_a : side_b, names[i]);
                }}
                while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < 2)
                    sched_yield();
                __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
                for (int i = 0; i < 2; i++)
                    pthread_join(t[i], NULL);
            }}
            return 0;
        }}
    """, f'sources = ["side.c"]\nlibs = ["-pthread"]\ncheckpoints = {json.dumps(names)}\n')
    (scratch.samples / "side.c").write_text(textwrap.dedent("""\
        #include "roads.h"
        extern int ready, go;
        void *side_b(void *arg) {
            __atomic_add_fetch(&ready, 1, __ATOMIC_ACQ_REL);
            while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
                ;
            ROADS_CHECKPOINT((const char *)arg);
            return 0;
        }
    """))
    project = scratch.project()
    project.capture_one("pair")
    run = project.read("pair")["variants"]["default"]["runs"][0]
    reached = [c["name"] for c in run["checkpoints"]]
    assert sorted(reached) == sorted(names)
    for i in range(ROUNDS):  # rounds in order; within one, either thread first
        assert set(reached[2 * i:2 * i + 2]) == {f"a{i}", f"b{i}"}


def test_a_thread_cancelled_at_its_call_does_not_keep_the_turn(scratch):
    """A thread with a cancel pending when it calls roads.h: the C library's write is
    a cancellation point, and a thread cancelled there held the turn for ever (the next
    checkpoint waited until the timeout). The write is a system call of its own now:
    the thread is cancelled after the call, at its next cancellation point."""
    scratch.add("cancel", """\
        #include <pthread.h>
        #include "roads.h"
        static int go;
        static char here;
        static void *victim(void *arg) {
            (void)arg;
            while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
                ;  /* no cancellation point: the cancel stays pending */
            ROADS_ADDRESS("victim", &here);
            pthread_testcancel();
            return NULL;
        }
        int main(void) {
            pthread_t t;
            pthread_create(&t, NULL, victim, NULL);
            pthread_cancel(t);
            __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
            pthread_join(t, NULL);
            ROADS_CHECKPOINT("after");
            return 0;
        }
    """, 'timeout = 5\nlibs = ["-pthread"]\ncheckpoints = ["after"]\n')
    project = scratch.project()
    project.capture_one("cancel")
    run = project.read("cancel")["variants"]["default"]["runs"][0]
    assert [c["name"] for c in run["checkpoints"]] == ["after"]


def test_a_turn_held_when_the_process_forked_is_the_childs(scratch):
    """A turn held by a thread of the parent when it forked: the child has no such
    thread to give it back, so the child takes it. A thread that holds the turn and
    sends again (a signal handler interrupting a checkpoint) does not wait for itself,
    nor give the turn back early."""
    scratch.add("turns", """\
        #include <sys/wait.h>
        #include "roads.h"
        static uint64_t held_by(uint32_t pid, uint32_t tid) {
            return ((uint64_t)pid << 32) | tid;
        }
        int main(void) {
            pid_t child;
            /* held, at the fork, by a thread of this process that is not this one */
            roads_turn_word = held_by((uint32_t)getpid(), ROADS_GETTID() + 1);
            child = fork();
            if (child == 0) {
                ROADS_CHECKPOINT("child");
                _exit(roads_turn_word == 0 ? 0 : 5);
            }
            if (waitpid(child, NULL, 0) != child)
                return 2;
            /* this thread's own turn: it sends, and still holds it afterwards */
            roads_turn_word = held_by((uint32_t)getpid(), ROADS_GETTID());
            ROADS_CHECKPOINT("nested");
            if (roads_turn_word != held_by((uint32_t)getpid(), ROADS_GETTID()))
                return 3;
            roads_turn_word = 0;
            ROADS_CHECKPOINT("own");
            return roads_turn_word == 0 ? 0 : 4;
        }
    """, 'timeout = 10\ncheckpoints = ["child", "nested", "own"]\n')
    project = scratch.project()
    project.capture_one("turns")
    run = project.read("turns")["variants"]["default"]["runs"][0]
    assert [c["name"] for c in run["checkpoints"]] == ["child", "nested", "own"]
    assert run["exit_code"] == 0
