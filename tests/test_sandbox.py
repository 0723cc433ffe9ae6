"""Hostile samples: nothing of a run outlives it, sees or signals the build, or writes
outside its folder; gcc and gdb run under the same limits; a manifest cannot hand gcc a
flag that runs code (issue 9, items 4, 6 and 7)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from roads import command
from roads.errors import CommandCancelled, CommandTimeout, ConfigError, SampleError
from roads.capture.proc import Proc
from roads.capture.runner import (CONTAINMENT, RUN_ROOT, TOOL_STOPPED, launcher, parse_nspid,
                                  run_program, tool_prefix)
from roads.capture.samples import CAPABILITIES, load_manifest
from tests.conftest import HEADER, REPO, _running_from

pytestmark = [pytest.mark.gcc, pytest.mark.usefixtures("no_leftovers")]

FULL = [name for name in CONTAINMENT if name not in ("subreaper", "user-namespace")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def build(folder: Path, source: str, name: str = "s") -> Path:
    """Compile ``source`` into ``folder``/``name`` (the run's folder); the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.c").write_text(textwrap.dedent(source))
    shutil.copy(HEADER, folder / "roads.h")
    command.run(["gcc", "-O0", "-I", str(folder), str(folder / f"{name}.c"), "-o",
                 str(folder / name)])
    return folder


def run(folder: Path, cache: Path, *args: str, **kw):
    kw.setdefault("timeout", 10)
    return run_program(["./s", *args], launcher_path=launcher(cache), cwd=folder, env={},
                       no_aslr=True, **kw)


@pytest.fixture(scope="module")
def contained(cache, tmp_path_factory) -> list[str]:
    folder = build(tmp_path_factory.mktemp("probe"), "int main(void) { return 0; }\n")
    # As a capture runs a sample: from its folder, seen at the fixed path.
    return run(folder, cache, run_at=RUN_ROOT).containment


@pytest.fixture
def namespaces(contained):
    """Skip where namespaces are refused (not root, or a container without CAP_SYS_ADMIN):
    there the launcher falls back to a subreaper, which these samples defeat."""
    if "pid-namespace" not in contained:
        pytest.skip(f"namespaces refused here; containment held: {contained}")


def gone(folder: Path, wait: float = 2.0) -> bool:
    """Whether no process runs a program from ``folder`` (after SIGKILL, within ``wait``)."""
    limit = time.monotonic() + wait
    while _running_from(folder):
        if time.monotonic() > limit:
            return False
        time.sleep(0.02)
    return True


def test_containment_is_recorded_in_the_capture(scratch, contained):
    # Either everything held (root with CAP_SYS_ADMIN) or the fallback did, and the
    # capture says which.
    # (A project under /tmp is shown in the private /tmp: private-tmp holds there too.)
    assert set(contained) >= set(FULL) - {"private-tmp"} or "subreaper" in contained
    scratch.add("plain", "int main(void) { return 0; }\n")
    project = scratch.project()
    project.capture_one("plain")
    run_doc = project.read("plain")["variants"]["default"]["runs"][0]
    assert run_doc["containment"] == contained


def test_a_sample_runs_from_the_fixed_path_whatever_the_clone(cache, tmp_path, namespaces):
    """Two folders of different length: the sample sees the same folder name in both (what a
    static program keeps on its heap), writes land in the real folder, and the machine's
    /run stays out of sight."""
    probe = """\
        #include <stdio.h>
        #include <unistd.h>
        #include <sys/stat.h>
        int main(void) {
            char cwd[256], exe[256] = "";
            struct stat st;
            getcwd(cwd, sizeof cwd);
            readlink("/proc/self/exe", exe, sizeof exe - 1);
            printf("%s %s %s\\n", cwd, exe, stat("/run/roads-host-marker", &st) == 0 ? "seen" : "hidden");
            FILE *f = fopen("written", "w");
            return f == NULL;
        }
    """
    marker = Path("/run/roads-host-marker")
    if not Path("/run").is_dir():
        pytest.skip("no /run on this machine")
    marker.write_text("the machine's\n")
    try:
        seen = []
        for folder in (tmp_path / "a", tmp_path / "a-much-longer-folder-name" / "b"):
            build(folder, probe)
            result = run(folder, cache, run_at=RUN_ROOT)
            assert result.main.exit_code == 0, result.stderr
            assert "fixed-path" in result.containment
            assert (folder / "written").exists()
            seen.append(result.stdout)
    finally:
        marker.unlink()
    assert seen[0] == seen[1] == f"{RUN_ROOT} {RUN_ROOT}/s hidden\n"


def test_without_the_fixed_path_a_sample_runs_in_place(cache, tmp_path, namespaces):
    folder = build(tmp_path / "here", """\
        #include <stdio.h>
        #include <unistd.h>
        int main(void) { char cwd[256]; puts(getcwd(cwd, sizeof cwd)); return 0; }
    """)
    result = run(folder, cache)
    assert result.stdout == f"{folder.resolve()}\n"
    assert "fixed-path" not in result.containment


DOUBLE_FORK = """\
    #include <signal.h>
    #include <stdio.h>
    #include <unistd.h>
    #include <sys/wait.h>
    #include "roads.h"
    static void escape(void)
    {
        pid_t child = fork();
        if (child == 0) {
            setsid();                 /* out of the run's process group and session */
            if (fork() == 0)
                for (;;)
                    pause();          /* the grandchild: its parent exits at once */
            _exit(0);
        }
        waitpid(child, NULL, 0);
        usleep(100000);
    }
"""


@pytest.mark.parametrize("who", ["init", "outer launcher"])
def test_killing_the_launcher_kills_a_double_forked_escapee(tmp_path, cache, namespaces, who):
    folder = build(tmp_path / "run", DOUBLE_FORK + """\
        int main(void)
        {
            escape();
            ROADS_CHECKPOINT("escaped");
            for (;;)
                pause();
        }
    """)
    killed = []

    def kill_launcher(stop):
        init = stop.ppid  # the sample's parent: the namespace's init, as the build sees it
        status = (Path("/proc") / str(init) / "status").read_text()
        assert parse_nspid(status)[-1] == 1, "the sample's parent is the namespace's init"
        victim = init if who == "init" else int(status.split("PPid:")[1].split()[0])
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    started = time.monotonic()
    with pytest.raises(SampleError, match="the launcher holding the run was killed by SIGKILL"):
        run(folder, cache, timeout=20, snapshot=kill_launcher)
    assert killed and time.monotonic() - started < 10, "the run ended with its launcher"
    assert gone(folder), f"processes of the run survived: {_running_from(folder)}"


def test_a_sample_cannot_kill_its_launcher(tmp_path, cache, namespaces):
    folder = build(tmp_path / "run", DOUBLE_FORK + """\
        int main(void)
        {
            escape();
            /* The launcher, wherever the sample looks for it. */
            kill(getppid(), SIGKILL);
            kill(getppid(), SIGSTOP);
            kill(1, SIGKILL);
            printf("parent %d still there: %s\\n", (int)getppid(),
                   kill(getppid(), 0) == 0 ? "yes" : "no");
            return 0;
        }
    """)
    with pytest.raises(SampleError, match="did not finish within 2 s") as info:
        run(folder, cache, timeout=2)  # the grandchild lives on until the build ends the run
    assert "parent 1 still there: yes" in str(info.value)
    assert gone(folder)


def test_a_sample_cannot_see_or_signal_the_build(tmp_path, cache, namespaces):
    folder = build(tmp_path / "run", """\
        #define _GNU_SOURCE
        #include <dirent.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        int main(int argc, char **argv)
        {
            char path[64];
            pid_t build = (pid_t)atoi(argv[1]);
            int seen = 0;
            DIR *proc = opendir("/proc");
            struct dirent *e;
            snprintf(path, sizeof path, "/proc/%d/environ", (int)build);
            printf("environ: %s\\n", open(path, O_RDONLY) < 0 ? strerror(errno) : "read");
            snprintf(path, sizeof path, "/proc/%d/cmdline", (int)build);
            printf("cmdline: %s\\n", open(path, O_RDONLY) < 0 ? strerror(errno) : "read");
            printf("signal: %s\\n", kill(build, 0) < 0 ? strerror(errno) : "sent");
            printf("stop: %s\\n", kill(build, SIGCONT) < 0 ? strerror(errno) : "sent");
            /* The launcher's descriptors (the build's /proc among them) are not the sample's. */
            DIR *fds = opendir("/proc/1/fd");
            int opened = 0, refused = 0;
            while (fds != NULL && (e = readdir(fds)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof path, "/proc/1/fd/%s", e->d_name);
                if (open(path, O_PATH) >= 0)
                    opened++;
                else
                    refused += errno == EACCES;
            }
            printf("launcher fds: %d opened, %s refused\\n", opened, refused ? "some" : "none");
            while ((e = readdir(proc)) != NULL)
                seen += e->d_name[0] >= '1' && e->d_name[0] <= '9';
            printf("processes: %d\\n", seen);
            return 0;
        }
    """)
    out = run(folder, cache, str(os.getpid())).stdout
    assert "environ: No such file or directory" in out
    assert "cmdline: No such file or directory" in out
    assert "signal: No such process" in out
    assert "stop: No such process" in out
    assert "launcher fds: 0 opened, some refused" in out
    assert "processes: 2\n" in out  # the launcher's init and the sample: nothing else


def test_a_sample_writes_only_its_own_folder(tmp_path, cache, namespaces):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = build(tmp_path / "run", """\
        #include <dirent.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/mount.h>
        #include <sys/stat.h>
        static void attempt(const char *what, int result)
        {
            printf("%s: %s\\n", what, result < 0 ? strerror(errno) : "done");
        }
        int main(int argc, char **argv)
        {
            char path[4096], line[256];
            FILE *status = fopen("/proc/self/status", "r");
            snprintf(path, sizeof path, "%s/written", argv[1]);
            attempt("outside", open(path, O_CREAT | O_WRONLY, 0644));
            attempt("inside", open("written", O_CREAT | O_WRONLY, 0644));
            attempt("sources", open("s.c", O_WRONLY | O_APPEND));
            attempt("etc", open("/etc/roads-was-here", O_CREAT | O_WRONLY, 0644));
            /* Opened, never written: root may write both, and /proc is the sample's own. */
            attempt("sysrq", open("/proc/sysrq-trigger", O_WRONLY));
            attempt("sysctl", open("/proc/sys/vm/overcommit_memory", O_WRONLY));
            attempt("irq", open("/proc/irq/default_smp_affinity", O_WRONLY));
            attempt("pressure", open("/proc/pressure/memory", O_WRONLY));
            /* Root inside, but without CAP_SYS_ADMIN: no undoing the read-only view. */
            /* Device files: the harmless ones only (a read-only mount does not stop
             * writes to a disk, which root may open); block devices opened to read. */
            attempt("null", open("/dev/null", O_WRONLY));
            /* The build's terminal: TIOCSTI there pushes input into its shell. */
            attempt("tty", open("/dev/tty", O_RDWR));
            DIR *dev = opendir("/dev");
            struct dirent *e;
            struct stat st;
            int disks = 0;
            while (dev != NULL && (e = readdir(dev)) != NULL) {
                snprintf(path, sizeof path, "/dev/%s", e->d_name);
                if (stat(path, &st) == 0 && S_ISBLK(st.st_mode) && open(path, O_RDONLY) >= 0)
                    disks++;
            }
            printf("disks opened: %d\\n", disks);
            attempt("remount", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
            attempt("unmount", umount2("/proc", MNT_DETACH));
            while (fgets(line, sizeof line, status) != NULL)
                if (strncmp(line, "CapEff", 6) == 0 || strncmp(line, "NoNewPrivs", 10) == 0)
                    fputs(line, stdout);
            return 0;
        }
    """)
    out = run(folder, cache, str(outside)).stdout
    # Read-only, or (the folder under /tmp, as tmp_path is) not there at all: the run's
    # /tmp is its own, holding its folder alone.
    assert ("outside: Read-only file system" in out
            or "outside: No such file or directory" in out), out
    assert not (outside / "written").exists()
    assert "inside: done" in out
    assert "sources: done" in out  # the run's own folder, sources and all
    assert "etc: Read-only file system" in out
    assert re.search(r"^sysrq: (Read-only file system|No such file or directory)$", out, re.M)
    # (Without root the file's mode refuses first.)
    assert re.search(r"^sysctl: (Read-only file system|Permission denied)$", out, re.M)
    assert "sysctl: Read-only file system" in out or os.geteuid() != 0
    # (Where the kernel has no such file, there is nothing to write.)
    for name in ("irq", "pressure"):
        assert re.search(rf"^{name}: (Read-only file system|No such file or directory)$",
                         out, re.M) or os.geteuid() != 0, out
    if os.geteuid() == 0 and Path("/proc/irq/default_smp_affinity").exists():
        assert "irq: Read-only file system" in out
    assert "null: done" in out and "disks opened: 0\n" in out
    assert re.search(r"^tty: (Permission denied|Operation not permitted)$", out, re.M)
    assert "remount: Operation not permitted" in out
    assert "unmount: Operation not permitted" in out
    assert "CapEff:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    assert not (outside / "written").exists() and (folder / "written").exists()
    assert not Path("/etc/roads-was-here").exists()


def test_a_declared_privilege_is_kept_and_only_that(tmp_path, cache, namespaces):
    if os.geteuid() != 0:
        pytest.skip("a build that is not root has no privilege to hand on")
    if int(Path("/proc/sys/vm/mmap_min_addr").read_text()) == 0:
        pytest.skip("vm.mmap_min_addr is 0: page zero needs no privilege here")
    bounding = next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapBnd"))
    rawio = CAPABILITIES.index("CAP_SYS_RAWIO")
    if not int(bounding.split()[1], 16) >> rawio & 1:
        pytest.skip("the build itself lacks CAP_SYS_RAWIO")
    folder = build(tmp_path / "run", """\
        #include <errno.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/mman.h>
        int main(void)
        {
            void *p = mmap(0, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            printf("page zero: %s\\n", p == MAP_FAILED ? strerror(errno) : "mapped");
            return 0;
        }
    """)
    assert "page zero: Operation not permitted" in run(folder, cache).stdout
    assert "page zero: mapped" in run(folder, cache, privileges=1 << rawio).stdout


def _session_keyring() -> int:
    """This process's session keyring (KEYCTL_GET_KEYRING_ID of @s), or 0."""
    import ctypes
    import platform
    number = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if number is None:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    serial = libc.syscall(number, 0, -3, 0)  # KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING
    return max(serial, 0)


def test_a_samples_ipc_objects_and_keys_go_with_it(tmp_path, cache, namespaces):
    key = 0x52000000 | (os.getpid() & 0xffffff)
    folder = build(tmp_path / "run", """\
        #include <errno.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        #include <sys/ipc.h>
        #include <sys/msg.h>
        #include <sys/shm.h>
        #include <sys/syscall.h>
        int main(int argc, char **argv)
        {
            key_t key = (key_t)strtol(argv[1], NULL, 0);
            /* Made and never removed: without an IPC namespace they outlive the run. */
            int shm = shmget(key, 1 << 20, IPC_CREAT | 0600);
            int msg = msgget(key, IPC_CREAT | 0600);
            printf("shm: %s\\n", shm < 0 ? strerror(errno) : "made");
            printf("msg: %s\\n", msg < 0 ? strerror(errno) : "made");
            printf("session keyring: %ld\\n", syscall(SYS_keyctl, 0, -3, 0));
            return 0;
        }
    """)
    out = run(folder, cache, hex(key)).stdout
    assert "shm: made\n" in out and "msg: made\n" in out
    assert "ipc-namespace" in run(folder, cache, hex(key + 1)).containment
    for table in ("shm", "msg"):
        keys = [int(line.split()[0]) for line in
                Path(f"/proc/sysvipc/{table}").read_text().splitlines()[1:]]
        assert key not in keys and key + 1 not in keys, f"the run's {table} outlived it"
    ring = int(re.search(r"^session keyring: (-?\d+)$", out, re.M)[1])
    assert ring > 0 and ring != _session_keyring(), "the run has a session keyring of its own"


def test_a_sample_cannot_reach_a_server_of_the_machine(tmp_path, cache, namespaces):
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        folder = build(tmp_path / "run", """\
            #include <arpa/inet.h>
            #include <errno.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            int main(int argc, char **argv)
            {
                struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
                int s = socket(AF_INET, SOCK_STREAM, 0);
                inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
                printf("connect: %s\\n", connect(s, (struct sockaddr *)&to, sizeof to) < 0
                                               ? strerror(errno) : "done");
                return 0;
            }
        """)
        result = run(folder, cache, str(listener.getsockname()[1]))
    finally:
        listener.close()
    assert "network-namespace" in result.containment
    assert re.search(r"^connect: (Network is unreachable|Connection refused)$", result.stdout,
                     re.M), result.stdout


def test_the_writable_folders_are_nosuid_and_nodev(tmp_path, cache, namespaces):
    # A set-user-ID copy of the sample in its folder must grant nothing in a run.
    folder = build(tmp_path / "run", """\
        #include <stdio.h>
        #include <string.h>
        #include <sys/stat.h>
        int main(void)
        {
            char line[4096];
            FILE *info = fopen("/proc/self/mountinfo", "r");
            printf("chmod: %d\\n", chmod("s", 04755));
            while (fgets(line, sizeof line, info) != NULL)
                fputs(line, stdout);
            return 0;
        }
    """)
    result = run(folder, cache)
    assert "chmod: 0\n" in result.stdout
    mounts = {}
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")  # mount point: its per-mount options
    for point in (str(folder), "/dev/shm") + (("/tmp",) if "private-tmp" in result.containment
                                               else ()):
        assert point in mounts, f"{point} is not a mount of its own: {sorted(mounts)}"
        assert {"nosuid", "nodev"} <= set(mounts[point]), (point, mounts[point])
        assert "rw" in mounts[point]


def test_a_sample_cannot_write_a_file_past_the_cap(tmp_path, cache, namespaces):
    folder = build(tmp_path / "run", """\
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <signal.h>
        #include <stdio.h>
        #include <string.h>
        #include <unistd.h>
        static void attempt(const char *what, int result)
        {
            printf("%s: %s\\n", what, result < 0 ? strerror(errno) : "done");
        }
        int main(void)
        {
            int fd = open("big", O_CREAT | O_WRONLY, 0644);
            signal(SIGXFSZ, SIG_IGN);  /* EFBIG instead of death */
            attempt("fallocate", fallocate(fd, 0, 0, 1LL << 30));
            attempt("truncate", ftruncate(fd, 1LL << 30));
            attempt("write", pwrite(fd, "x", 1, (256LL << 20) + 4096) < 0 ? -1 : 0);
            attempt("small", pwrite(fd, "x", 1, 4096) < 0 ? -1 : 0);
            return 0;
        }
    """)
    out = run(folder, cache).stdout
    for what in ("fallocate", "truncate", "write"):
        assert f"{what}: File too large\n" in out, out
    assert "small: done\n" in out
    assert (folder / "big").stat().st_size <= 256 << 20


def test_privileges_in_the_manifest(scratch):
    scratch.add("zero", "int main(void) { return 0; }\n", 'privileges = ["CAP_SYS_RAWIO"]\n')
    assert scratch.project().sample("zero").privilege_mask == 1 << 17
    scratch.add("admin", "int main(void) { return 0; }\n", 'privileges = ["CAP_SYS_ADMIN"]\n')
    with pytest.raises(ConfigError, match=r"\[admin\] privileges: 'CAP_SYS_ADMIN' cannot be "
                                          r"declared; a sample may keep only CAP_SYS_RAWIO"):
        scratch.project().sample("admin")


@pytest.mark.parametrize("key, line", [
    ("flags", 'flags = ["-O0", "-wrapper", "sh,-c,touch /tmp/pwned"]'),
    ("flags", 'flags = ["-fplugin=./evil.so"]'),
    ("flags", 'flags = ["-B/tmp/evil"]'),
    ("flags", 'flags = ["-specs=evil.specs"]'),
    ("libs", 'libs = ["-Wl,-plugin=./evil.so"]'),
    ("libs", 'libs = ["@more-flags.txt"]'),
    ("variants.odd", '[bad.variants]\nodd = ["-Wp,-fplugin=./evil.so"]'),
])
def test_a_flag_that_runs_code_is_refused(scratch, key, line):
    scratch.add("bad", "int main(void) { return 0; }\n", line + "\n")
    flag = line.split('"')[-2] if key != "flags" else next(
        f for f in line.split('"')[1::2] if f not in ("-O0",))
    with pytest.raises(ConfigError) as info:
        scratch.project().sample("bad")
    assert f"[bad] {key}: {flag!r} is not an allowed compiler or linker flag; refused" in str(
        info.value)


def test_the_committed_samples_flags_pass():
    manifest = load_manifest(REPO / "samples")
    used = {f for s in manifest.values() for f in (*s.flags, *s.libs)}
    used |= {f for s in manifest.values() for v in s.variants for f in v.flags}
    assert {"-O0", "-g", "-static", "-fPIE", "-pie", "-no-pie", "-pthread"} <= used


def test_gcc_and_gdb_run_in_the_sandbox(tmp_path, cache, namespaces):
    folder = tmp_path / "tool"
    folder.mkdir()
    done = command.run(
        ["sh", "-c", "echo pid $$; ulimit -t; touch ../outside 2>/dev/null; "
                     "touch inside && echo wrote; grep CapEff /proc/self/status"],
        cwd=folder, sandbox=tool_prefix(cache, folder))
    assert done.stdout.splitlines() == ["pid 2", "120", "wrote", "CapEff:\t0000000000000000"]
    # Refused (a read-only folder), or written to the sandbox's own /tmp (the folder's
    # parent lies there): never beside the folder on the machine.
    assert (folder / "inside").exists() and not (tmp_path / "outside").exists()


def test_no_unix_socket_of_the_machine_is_reached(tmp_path, cache, namespaces):
    """A Unix socket with a path is stopped neither by a read-only mount nor by the
    network namespace: one listening in the run's own folder was reached. socket(AF_UNIX)
    is refused (EACCES), by the 64-bit and the 32-bit tables alike; socketpair, whose
    sockets have no path, and other families still work."""
    import socket

    folder = build(tmp_path / "run", """\
        #include <errno.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/un.h>
        int main(int argc, char **argv)
        {
            struct sockaddr_un a = {.sun_family = AF_UNIX};
            int u = socket(AF_UNIX, SOCK_STREAM, 0), sv[2];
            long r;
            strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
            printf("unix: %s\\n", u < 0 ? strerror(errno)
                   : connect(u, (void *)&a, sizeof a) == 0 ? "connected" : "made");
            printf("inet: %s\\n", socket(AF_INET, SOCK_STREAM, 0) < 0 ? strerror(errno) : "made");
            printf("pair: %s\\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ? strerror(errno)
                   : "made");
            /* A datagram pair could send to any path: refused too. */
            printf("datagrams: %s\\n", socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0
                   ? strerror(errno) : "made");
            __asm__ volatile ("int $0x80" : "=a"(r) : "a"(359), "b"(1), "c"(1), "d"(0) : "memory");
            printf("i386: %ld\\n", r);
            return 0;
        }
    """)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(folder / "sock"))
        listener.listen(1)
        out = run(folder, cache, "sock").stdout
    finally:
        listener.close()
    assert out.splitlines() == ["unix: Permission denied", "inet: made", "pair: made",
                                "datagrams: Permission denied", "i386: -13"], out


@pytest.mark.parametrize("written", ["/tmp/", "//tmp", "/tmp/.", "/"])
def test_a_run_in_a_shared_folder_or_a_path_not_canonical_is_refused(cache, written,
                                                                       namespaces):
    """The launcher compares paths as text: /tmp/ or //tmp for /tmp got past the refusal
    of a run whose folder is /tmp itself, and wrote the machine's /tmp."""
    marker = Path("/tmp") / f"roads-test-refused-{os.getpid()}"
    done = subprocess.run([str(launcher(cache)), "--tool", "10", str(4 << 30), written, "10", "-",
                           "--", "sh", "-c", f"touch {marker}"], capture_output=True, text=True,
                          timeout=30)
    try:
        assert done.returncode != 0 and "cannot be set up: no run" in done.stderr, done.stderr
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)


def test_a_folder_shown_inside_the_writable_one_stays_read_only(tmp_path, cache, namespaces):
    """Shown folders and the writable one are placed shortest first: a folder shown inside
    the writable one (read-only) is not covered by it, and the writable one inside a
    shown one stays writable."""
    folder = tmp_path / "w"
    (folder / "ro").mkdir(parents=True)
    done = command.run(
        ["sh", "-c", "touch ro/x 2>/dev/null && echo wrote-ro; touch y && echo wrote-rw"],
        cwd=folder, sandbox=[*tool_prefix(cache, folder)[:-1], "--show", str(folder / "ro"),
                             "--"])
    assert done.stdout.splitlines() == ["wrote-rw"], done.stdout
    assert (folder / "y").exists() and not (folder / "ro" / "x").exists()


def test_a_run_started_below_its_writable_folder_in_run_writes_it(cache, namespaces):
    """Under /run the folder a run starts in is shown itself (not the entry holding it):
    started in a subfolder of its writable folder, that read-only copy went on top."""
    if not os.access("/run", os.W_OK):
        pytest.skip("/run cannot be written here")
    base = Path(tempfile.mkdtemp(prefix="roads-test-", dir="/run"))
    try:
        (base / "src").mkdir()
        done = command.run(["sh", "-c", "touch x && echo x; touch ../y && echo y"],
                           cwd=base / "src", sandbox=tool_prefix(cache, base))
        assert done.stdout.splitlines() == ["x", "y"], done.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_tool_stopped_from_inside_its_run_is_continued(tmp_path, cache, namespaces):
    """SIGSTOP cannot be blocked or caught: a program that a tool traces (roads explain's
    tracer runs as a tool) can stop the tool, its parent, and the run then waited for
    the build's timeout. The namespace's init sees its child stop and continues it at
    once, and says so on stderr."""
    folder = tmp_path / "tool"
    folder.mkdir()
    started = time.monotonic()
    done = command.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do kill -STOP $$; done; "
                        "echo continued"], cwd=folder, timeout=8,
                       sandbox=tool_prefix(cache, folder))
    assert done.stdout == "continued\n"
    assert time.monotonic() - started < 4
    said = [line for line in done.stderr.splitlines() if line.startswith("launcher: ")]
    assert said == [f"{TOOL_STOPPED}{int(signal.SIGSTOP)}; it was continued"]


def test_a_tool_past_its_timeout_leaves_nothing(tmp_path, cache, namespaces):
    marker = "97.3125"  # an argument no other process on the machine has
    folder = tmp_path / "tool"
    folder.mkdir()
    with pytest.raises(CommandTimeout):
        command.run(["sh", "-c", f"setsid sleep {marker} & sleep {marker}"], cwd=folder,
                    timeout=1, sandbox=tool_prefix(cache, folder))
    # At once: run returns once the launcher has reaped the run (it waited 0.2 s here).
    left = [p for p in os.listdir("/proc") if p.isdigit() and
            marker.encode() in _cmdline(p)]
    assert not left, f"the tool's processes survived: {left}"


@pytest.mark.parametrize("how", ["cancelled", "interrupted"])
def test_a_tool_ended_early_is_gone_when_run_returns(tmp_path, cache, namespaces, how):
    """A tool cancelled, or whose wait is interrupted (Ctrl-C, or roads explain's SIGTERM),
    has been reaped when command.run returns, and so has what it started: the launcher
    was killed with its group and waited for alone, while the namespace's init was still
    taking the run down, a process that had touched much memory (half a gigabyte here,
    which takes tens of milliseconds to give back) still exiting, or a zombie."""
    folder = build(tmp_path / "tool", """\
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        int main(void)
        {
            size_t size = (size_t)1 << 29;
            char *p = malloc(size);
            if (p == NULL || fork() < 0)
                return 1;
            memset(p, 1, size); /* parent and child, each in its own copy */
            fprintf(stderr, "touched\\n");
            sleep(60);
            return 0;
        }
    """)
    program = str(folder / "s")
    pidfds: dict[int, int] = {}
    told: list[str] = []
    cancel = threading.Event()

    class Interrupted(Exception):
        pass

    def touched(line: str) -> None:
        told.append(line)
        if told.count("touched") != 2:
            return
        # Both have touched their memory: each of them, by a pidfd (not a later process
        # given its pid), then the run ended.
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/exe") == program:
                    pidfds[pid] = os.pidfd_open(pid)
        if how == "cancelled":
            cancel.set()
        else:
            os.kill(os.getpid(), signal.SIGUSR1)  # its handler runs in the main thread, in run

    def interrupt(signum, frame):
        raise Interrupted

    before = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with pytest.raises(CommandCancelled if how == "cancelled" else Interrupted):
            command.run([program], cwd=folder, timeout=60, sandbox=tool_prefix(cache, folder),
                        on_line=touched, cancel=cancel)
        left = []
        for pid, fd in pidfds.items():
            with contextlib.suppress(ProcessLookupError):  # reaped: not even a zombie
                signal.pidfd_send_signal(fd, 0)
                left.append(pid)
    finally:
        signal.signal(signal.SIGUSR1, before)
        for fd in pidfds.values():
            os.close(fd)
    assert len(pidfds) == 2, told
    assert not left, f"still there as run returned: {left}"


def _cmdline(pid: str) -> bytes:
    try:
        return Path("/proc", pid, "cmdline").read_bytes()
    except OSError:
        return b""


def test_the_launcher_ends_a_run_when_the_build_cannot(tmp_path, cache):
    # A build that is stopped neither reads the pipes nor kills at the timeout: the
    # launcher's own deadline ends the run, and its report lines never block it.
    folder = build(tmp_path / "run", "#include <unistd.h>\nint main(void) { sleep(60); }\n")
    report_r, report_w = os.pipe()
    sample_r, sample_w = os.pipe()
    started = time.monotonic()
    child = subprocess.Popen(
        [str(launcher(cache)), str(report_w), str(sample_w), "1", "10", str(4 << 30), "32",
         "0", str(folder), "1", "-", "--", "./s"], cwd=folder, pass_fds=(report_w, sample_w))
    os.close(report_w)
    os.close(sample_w)
    try:
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(report_r)
        os.close(sample_r)
    assert time.monotonic() - started < 5
    assert gone(folder)


@pytest.mark.gdb
def test_a_gdb_script_runs_in_the_sandbox(scratch, namespaces):
    if not shutil.which("gdb"):
        pytest.skip("gdb is not installed")
    scratch.add("traced", """\
        #include <stdio.h>
        int main(void) { puts("hello from gdb"); return 0; }
    """, 'gdb = "traced.gdb"\n')
    (scratch.samples / "traced.gdb").write_text(
        "set pagination off\nstarti\ninfo proc mappings\ncontinue\n")
    project = scratch.project()
    project.capture_one("traced")
    transcript = project.read("traced")["variants"]["default"]["gdb"]["transcript"]
    assert "Mapped address spaces" in transcript and "/build/traced" in transcript
    assert "hello from gdb" in transcript and "exited normally" in transcript


@pytest.fixture
def without_namespaces(tmp_path, cache) -> Path:
    """A launcher started without CAP_SYS_ADMIN and unable to make a user namespace, as
    in a default container: namespaces are refused and the subreaper must hold."""
    setpriv, unshare = shutil.which("setpriv"), shutil.which("unshare")
    if setpriv is None or unshare is None or os.geteuid() != 0:
        pytest.skip("needs root, setpriv and unshare (util-linux) to refuse namespaces")
    wrapper = tmp_path / "launcher-without-namespaces"
    # A user namespace of its own that allows no further one, and no CAP_SYS_ADMIN.
    wrapper.write_text(
        f"#!/bin/sh\nexec {unshare} --user --map-root-user sh -c 'echo 0 > "
        f"/proc/sys/user/max_user_namespaces && exec {setpriv} --bounding-set=-sys_admin "
        f'-- "$0" "$@"\' {launcher(cache)} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_where_namespaces_are_refused_the_subreaper_holds(tmp_path, without_namespaces):
    folder = build(tmp_path / "run", DOUBLE_FORK + """\
        int main(void)
        {
            static char buffer[4096];
            ROADS_ADDRESS("buffer", buffer);
            ROADS_CHECKPOINT("before");
            escape();
            ROADS_CHECKPOINT("after");
            return 0;
        }
    """)
    with pytest.raises(SampleError, match="did not finish within 2 s"):
        run_program(["./s"], launcher_path=without_namespaces, cwd=folder, env={},
                    no_aslr=True, timeout=2)
    assert gone(folder), "the subreaper killed the escapee at the end"
    folder = build(tmp_path / "plain", """\
        #include "roads.h"
        int main(void) { ROADS_CHECKPOINT("here"); return 0; }
    """)
    seen = []
    result = run_program(["./s"], launcher_path=without_namespaces, cwd=folder, env={},
                         no_aslr=True, timeout=10, snapshot=seen.append)
    assert result.containment == ["no-capabilities", "no-new-privs", "subreaper"]
    assert [s.pid for s in seen] == [result.pid] and result.main.exit_code == 0


def test_where_namespaces_are_refused_a_fork_storm_is_still_counted(tmp_path,
                                                                     without_namespaces):
    folder = build(tmp_path / "run", """\
        #include <unistd.h>
        int main(void) { for (;;) { fork(); usleep(2000); } }
    """)
    with pytest.raises(SampleError, match="forked too much: more than 16 processes"):
        run_program(["./s"], launcher_path=without_namespaces, cwd=folder, env={},
                    no_aslr=True, timeout=20, max_processes=16)
    assert gone(folder)


# A sample that replaces its own binary with a script while it runs.
TAMPER = """\
    #include <fcntl.h>
    #include <stdio.h>
    #include <unistd.h>
    int main(int argc, char **argv)
    {
        const char *script = "#!/bin/sh\\necho tampered\\n";
        int fd;
        puts("genuine");
        unlink(argv[0]);
        fd = open(argv[0], O_CREAT | O_WRONLY, 0755);
        write(fd, script, 24);
        close(fd);
        return 0;
    }
"""


def test_a_sample_that_replaces_its_binary_is_compiled_again(scratch):
    # The run's folder holds the binary; what the sample leaves there must not become the
    # next capture's program.
    scratch.add("tamper", TAMPER)
    project = scratch.project()
    project.capture_one("tamper")
    project.capture_one("tamper", refresh=True)
    run_doc = project.read("tamper")["variants"]["default"]["runs"][0]
    assert run_doc["stdout"] == "genuine\n"


def test_the_elf_analysis_reads_the_binary_the_run_starts_from(scratch, monkeypatch):
    """The ELF file is analysed beside the run, on a thread: its bytes are read before
    the run starts, so that a sample that replaces its binary cannot hand the analysis
    another file. Here the analysis runs only once the run is over, as a loaded machine
    may leave it (before, the capture then failed: "not an ELF file")."""
    from roads.capture import snapshot

    class AfterTheRun:
        def submit(self, fn, *args):
            return SimpleNamespace(result=lambda: fn(*args), cancel=lambda: True)

    monkeypatch.setattr(snapshot, "_elf_pool", AfterTheRun)
    scratch.add("tamper", TAMPER)
    project = scratch.project()
    project.capture_one("tamper")
    variant = project.read("tamper")["variants"]["default"]
    assert variant["runs"][0]["stdout"] == "genuine\n"
    assert variant["elf"]["header"]["e_type"] in ("ET_DYN", "ET_EXEC")


def _on_tmpfs(path: Path) -> bool:
    """Whether ``path`` lies on tmpfs (the mount of /proc/self/mounts that holds it)."""
    best = ("", "")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, kind, *_ = line.split()
        mount = mount.replace("\\040", " ")
        if (str(path) + "/").startswith(mount.rstrip("/") + "/") and len(mount) > len(best[0]):
            best = (mount, kind)
    return best[1] == "tmpfs"


def test_a_freshly_compiled_binary_maps_clean(scratch):
    """gcc's binary is written back before it runs: smaps counts its pages clean, as an
    installed program's, whenever writeback would have run (before, every page of a
    binary compiled seconds before read Private_Dirty)."""
    if _on_tmpfs(scratch.root):
        pytest.skip("on tmpfs a written page stays dirty: nothing to write it back to")
    scratch.add("fresh", '#include "roads.h"\nint main(void) { ROADS_CHECKPOINT("here"); '
                         'return 0; }\n')
    project = scratch.project()
    project.capture_one("fresh")
    stop = project.read("fresh")["variants"]["default"]["runs"][0]["checkpoints"][0]
    own = [r for r in stop["regions"] if r["pathname"].endswith("/fresh")]
    assert own and {r["perms"] for r in own} >= {"r--p", "r-xp"}
    code = next(r for r in own if r["perms"] == "r-xp")
    assert code["kb"]["Private_Dirty"] == 0 and code["kb"]["Rss"] > 0, code["kb"]


def test_a_run_that_replaces_its_binary_before_another_run_is_an_error(scratch):
    """A sample run twice that replaces its binary in the first run would have the second
    run another program, captured beside the first one's ELF file: a SampleError says
    so instead (the bytes each run starts from are those analysed)."""
    scratch.add("tamper", TAMPER, "runs = 2\n")
    with pytest.raises(SampleError, match="replaced its own binary.*run 2"):
        scratch.project().capture_one("tamper")


@pytest.fixture
def as_nobody(cache):
    """A launcher run by an unprivileged user (nobody), as a non-root build would run it;
    the folder it runs in, owned by that user."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to become another user")
    base = Path(tempfile.mkdtemp(prefix="roads-nobody-"))
    try:
        base.chmod(0o755)
        shutil.copy(launcher(cache), base / "launcher")
        wrapper = base / "as-nobody"
        wrapper.write_text(f'#!/bin/sh\nexec {setpriv} --reuid=65534 --regid=65534 '
                           f'--clear-groups -- {base / "launcher"} "$@"\n')
        wrapper.chmod(0o755)
        yield wrapper, base / "run"
    finally:
        shutil.rmtree(base)


def test_without_root_a_user_namespace_brings_the_rest(as_nobody):
    wrapper, folder = as_nobody
    build(folder, DOUBLE_FORK + """\
        #include <fcntl.h>
        int main(int argc, char **argv)
        {
            static char page[4096];
            ROADS_RANGE("page", page, sizeof page);
            ROADS_CHECKPOINT("here");
            printf("etc: %s\\n", open("/etc/roads-was-here", O_CREAT | O_WRONLY, 0644) < 0
                                      ? "refused" : "written");
            if (argc > 1) {
                escape();
                ROADS_CHECKPOINT("escaped");
                for (;;)
                    pause();
            }
            return 0;
        }
    """)
    for path in (folder, *folder.iterdir()):
        os.chown(path, 65534, 65534)
    seen = []

    def snapshot(stop):
        # The build reads the sample from outside its namespaces, as for root.
        start = stop.ranges[0][1]
        seen.append((stop.name, len(Proc().smaps(stop.pid)) > 0,
                     len(Proc().pagemap(stop.pid, start, start + 4096)) > 0))
        if stop.name == "escaped":
            os.kill(stop.ppid, signal.SIGKILL)  # the namespace's init: the run ends with it

    def run_as_nobody(*args):
        return run_program(["./s", *args], launcher_path=wrapper, cwd=folder, env={},
                           no_aslr=True, timeout=10, snapshot=snapshot)

    result = run_as_nobody()
    if "user-namespace" not in result.containment:
        pytest.skip(f"user namespaces refused here; containment held: {result.containment}")
    assert set(result.containment) >= set(FULL) - {"private-tmp", "fixed-path"}
    assert result.stdout == "etc: refused\n" and seen == [("here", True, True)]
    with pytest.raises(SampleError, match="the launcher holding the run was killed"):
        run_as_nobody("escape")
    assert seen[1:] == [("here", True, True), ("escaped", True, True)]
    assert gone(folder), "nothing of the run outlives its init"


@pytest.mark.parametrize("key, line, name", [
    ("source", 'source = "@x.c"', "@x.c"),
    ("sources", 'sources = ["sub/@y.c"]', "sub/@y.c"),
    ("source", 'source = "plain.c"', "@z.c"),  # a link whose file is so named
])
def test_a_source_whose_name_is_a_file_of_options_is_refused(scratch, key, line, name):
    """gcc passes a source's name to its compiler (cc1 -dumpbase @x.c), which reads a
    name beginning with '@' as a file of options: a sample named so compiled with any
    flag its file listed (-include, -fplugin=), past the allow-list."""
    scratch.add("bad", "int main(void) { return 0; }\n", line + "\n")
    (scratch.samples / name).parent.mkdir(exist_ok=True)
    (scratch.samples / name).write_text("int main(void) { return 0; }\n")
    if name == "@z.c":
        (scratch.samples / "plain.c").symlink_to("@z.c")
    with pytest.raises(ConfigError, match=rf"\[bad\] {key}: .*a file name beginning with '@'"):
        scratch.project().sample("bad")


@pytest.mark.parametrize("kind", ["without_namespaces", "namespaces"])
def test_a_tool_stopped_once_the_build_stopped_reading_is_still_continued(tmp_path, cache,
                                                                          kind, request):
    """The launcher says on stderr that it continued a tool stopped from inside its run:
    with no one left to read that pipe (a build killed while a program of the run held
    it stopped, which the fallback cannot prevent), the write raised SIGPIPE and killed
    the launcher, and the tool, stopped, and all it traced stayed so for ever. (A
    namespace's init is spared: the kernel drops a signal it does not handle.)"""
    started = request.getfixturevalue(kind) or launcher(cache)
    folder = tmp_path / "tool"
    folder.mkdir()
    pid_file, done_file = folder / "pid", folder / "done"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the build is gone
    try:
        launcher_run = subprocess.Popen(
            [str(started), "--tool", "10", str(4 << 30), str(folder), "10", "-",
             "--", "sh", "-c", f"echo $$ > {pid_file}; kill -STOP $$; touch {done_file}"],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_end,
            start_new_session=True)
    finally:
        os.close(write_end)
    try:
        status = launcher_run.wait(timeout=8)
    except subprocess.TimeoutExpired:
        os.killpg(launcher_run.pid, signal.SIGKILL)
        launcher_run.wait()
        raise
    finally:
        with contextlib.suppress(OSError, ValueError):  # the tool, left stopped
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert status == 0, f"the launcher ended with {status}"
    assert done_file.exists()
