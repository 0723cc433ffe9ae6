"""What a sample may leave behind in its folder cannot hang or flood the build, and
what the build starts has no terminal to reach (found by an attack review)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from roads import cachedir, command
from roads.capture import freeze
from roads.capture.build import build_dir, compile_variant, file_digest
from roads.capture.elf import read_bytes, read_elf
from roads.capture.freeze import write_atomic
from roads.capture.snapshot import _elf_code, elf_record
from roads.errors import RoadsError


def test_digest_of_a_fifo_a_device_link_or_a_folder_is_missing_not_a_hang(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    folder = tmp_path / "folder"
    folder.mkdir()
    regular = tmp_path / "binary"
    regular.write_bytes(b"\x7fELF")
    assert file_digest(fifo) == file_digest(zero) == file_digest(folder) == "missing"
    assert file_digest(tmp_path / "absent") == "missing"
    assert len(file_digest(regular)) == 64


def test_reading_elf_from_a_fifo_or_a_device_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        with pytest.raises(RoadsError, match="not a regular file"):
            read_elf(path)


def test_what_the_build_starts_has_no_controlling_terminal():
    """A run (or gcc, gdb) cannot open the build's /dev/tty, where TIOCSTI would type
    into the user's shell and ^C or ^Z would stop the build."""
    probe = ("import os\ntry:\n    os.open('/dev/tty', os.O_RDWR)\n    print('tty')\n"
             "except OSError as e:\n    print('none', e.errno)\n"
             "print(os.getsid(0) == os.getpid())")
    done = command.run([sys.executable, "-c", probe], timeout=30)
    lines = done.stdout.split()
    assert lines[0] == "none" and lines[-1] == "True"
    child = command.spawn([sys.executable, "-c", probe])
    out, _ = child.communicate(timeout=30)
    assert out.decode().split()[0] == "none" and out.decode().split()[-1] == "True"


def test_output_read_as_it_came_keeps_a_carriage_return_and_odd_bytes():
    """Text mode makes a CR a newline and a byte that is not UTF-8 U+FFFD: right for a
    program's messages, wrong for a list of file names. ``translate_newlines=False``
    keeps both, with input and on a timeout too."""
    echo = "import sys; sys.stdout.buffer.write(b'a\\rb\\xff\\0' + sys.stdin.buffer.read())"
    kept = command.run([sys.executable, "-c", echo], input="c\r\n", timeout=30,
                       translate_newlines=False)
    assert kept.stdout == "a\rb\udcff\0c\r\n"
    assert os.fsencode(kept.stdout) == b"a\rb\xff\0c\r\n"
    read = command.run([sys.executable, "-c", echo], input="c\r\n", timeout=30)
    assert read.stdout == "a\nb\ufffd\0c\n"
    slow = "import sys, time; sys.stderr.buffer.write(b'x\\ry'); sys.stderr.flush(); time.sleep(30)"
    with pytest.raises(command.CommandTimeout) as caught:
        command.run([sys.executable, "-c", slow], timeout=1, translate_newlines=False)
    assert caught.value.output == "x\ry"


@pytest.mark.parametrize("flag", ["-O0\n", "-Wl,-e,main\n", "-DX=1\n-fplugin=x"])
def test_a_flag_with_a_trailing_newline_is_not_allowed(flag):
    from roads.capture.samples import ALLOWED_FLAGS

    assert ALLOWED_FLAGS.fullmatch(flag) is None
    assert ALLOWED_FLAGS.fullmatch(flag.strip().split("\n")[0]) is not None


def test_set_id_bits_left_in_a_run_folder_are_cleared(tmp_path):
    """Inside the run its folder is nosuid; outside it is not, so the bits go."""
    import stat

    from roads.capture.runner import strip_set_id_bits

    folder = tmp_path / "run"
    (folder / "sub").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("x")
    os.chmod(elsewhere, 0o4755)
    for name in ("suid", "sub/sgid"):
        (folder / name).write_text("x")
    os.chmod(folder / "suid", 0o4755)
    os.chmod(folder / "sub" / "sgid", 0o2755)
    (folder / "link").symlink_to(elsewhere)
    strip_set_id_bits(folder)
    assert stat.S_IMODE((folder / "suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "sub" / "sgid").stat().st_mode) == 0o755
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o4755  # not followed through the link


# Replaces its binary with a folder 2100 deep (a path past PATH_MAX), with a setuid copy
# of itself at the bottom, and another in a folder its owner may not read.
DEEP = """\
    #include <fcntl.h>
    #include <stdio.h>
    #include <sys/sendfile.h>
    #include <sys/stat.h>
    #include <unistd.h>
    static int copy(int in, off_t size, const char *name)
    {
        off_t at = 0;
        int out = open(name, O_WRONLY | O_CREAT | O_EXCL, 0755);
        return out < 0 || sendfile(out, in, &at, size) != size || fchmod(out, 06755);
    }
    int main(int argc, char **argv)
    {
        struct stat st;
        int in = open(argv[0], O_RDONLY);
        if (in < 0 || fstat(in, &st) || unlink(argv[0]) || mkdir(argv[0], 0755)
            || chdir(argv[0]))
            return 1;
        for (int i = 0; i < 2100; i++)
            if (mkdir("d", 0755) || chdir("d"))
                return 2;
        if (copy(in, st.st_size, "copy") || mkdir("hidden", 0755)
            || copy(in, st.st_size, "hidden/copy") || chmod("hidden", 0111))
            return 3;
        puts("hidden");
        return 0;
    }
"""


def _found(folder, *tests: str) -> list[str]:
    """What find(1), an independent walk, finds under ``folder`` with ``tests``."""
    done = subprocess.run(["find", str(folder), *tests], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.split()


@pytest.mark.gcc
def test_a_setuid_copy_hidden_deep_in_a_run_folder_loses_its_bits(scratch):
    """os.walk, which cleared the set-id bits of what a run left, raised RecursionError
    some thousand folders down: the capture ended in a traceback, and the setuid copy
    stayed in the cache for anyone who could reach it. The next compile's rmtree of the
    folder in the binary's place raised the same."""
    scratch.add("deep", DEEP)
    project = scratch.project()
    cache = scratch.root / ".cache"
    try:
        project.capture_one("deep")
        assert project.read("deep")["variants"]["default"]["runs"][0]["stdout"] == "hidden\n"
        assert len(_found(cache, "-name", "copy")) == 2
        assert _found(cache, "-perm", "/6000") == []
        assert len(_found(cache, "-name", "hidden", "-perm", "0111")) == 1  # its mode put back
        project.capture_one("deep", refresh=True)  # the folder in the binary's place removed
        assert len(_found(cache, "-name", "copy")) == 2  # the new run's own
    finally:
        # By rm(1): pytest's own clean-up of old temporary folders is shutil.rmtree,
        # which a tree this deep stops (up to Python 3.12), in every later session.
        subprocess.run(["rm", "-rf", str(cache)], timeout=60, check=True)


def test_a_link_planted_where_the_partial_copy_went_is_not_written_through(tmp_path):
    """write_atomic (a page of roads explain, a capture) wrote through a partial copy
    named .NAME.PID.ID.tmp beside its target: in a folder others can write (/tmp), a
    link planted at that name made it write a file of the planter's choosing (where
    fs.protected_symlinks is 0, as here on some machines)."""
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "page.html"
    text = "the page\n"
    planted = shared / f".{target.name}.{os.getpid()}.{id(text):x}.tmp"
    planted.symlink_to(victim)
    write_atomic(target, text)
    assert victim.read_text() == "kept\n"
    assert target.read_text() == text and not target.is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == sorted([target.name, planted.name])


def test_a_file_written_keeps_its_permissions_or_gets_a_new_files(tmp_path):
    """The partial copy is made private (mkstemp's 0600); what is renamed into place has
    the permission bits the file had, or, a new file, 0666 less the umask."""
    kept = tmp_path / "kept.html"
    kept.write_text("old")
    kept.chmod(0o604)
    old = os.umask(0o027)
    try:
        write_atomic(kept, "new")
        write_atomic(tmp_path / "new.html", "new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604
    assert stat.S_IMODE((tmp_path / "new.html").stat().st_mode) == 0o640


def test_a_write_that_fails_leaves_no_partial_copy(tmp_path):
    with pytest.raises(UnicodeEncodeError):
        write_atomic(tmp_path / "page.html", "a lone surrogate \udc80")
    folder = tmp_path / "folder"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        write_atomic(folder, "a folder in the way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert [p.name for p in folder.iterdir()] == ["inside"]


# Partial files of the caches, named by the pid (found by the same review): a link planted
# at such a name, by whoever may write the folder, took the write to its target.


def _victim(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    return victim


def test_a_link_planted_where_a_cache_entry_is_written_first_is_not_written_through(tmp_path):
    """keep_bytes (the page, figure, stable-text, compiled-macro and git caches) wrote
    .NAME.PID.THREAD.tmp first."""
    victim = _victim(tmp_path)
    shared = tmp_path / "cache"
    shared.mkdir()
    entry = shared / "entry.html"
    planted = shared / f".{entry.name}.{os.getpid()}.{threading.get_ident():x}.tmp"
    planted.symlink_to(victim)
    cachedir.keep_text(entry, "the entry\n")
    assert victim.read_text() == "kept\n"
    assert entry.read_text() == "the entry\n" and not entry.is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == sorted([entry.name, planted.name])


def test_a_partial_file_has_a_name_of_its_own_and_a_new_files_bits(tmp_path):
    old = os.umask(0o027)
    try:
        made = [cachedir.partial_file(tmp_path / "entry") for _ in range(2)]
    finally:
        os.umask(old)
    for fd, _ in made:
        os.close(fd)
    (_, first), (_, second) = made
    assert first != second and first.name.startswith(".entry.") and first.suffix == ".tmp"
    assert str(os.getpid()) not in first.name
    assert stat.S_IMODE(first.stat().st_mode) == 0o640


def test_a_link_planted_where_an_elf_record_is_written_first_is_not_written_through(tmp_path):
    victim = _victim(tmp_path)
    binary = Path(sys.executable).resolve()
    data = read_bytes(binary)
    kept = tmp_path / "elf" / f"{hashlib.sha256(_elf_code() + data).hexdigest()}.json"
    kept.parent.mkdir()
    kept.with_name(f".{kept.name}.{os.getpid()}.{threading.get_ident()}.tmp").symlink_to(victim)
    assert elf_record(binary, tmp_path, data) == elf_record(binary, tmp_path, data)
    assert victim.read_text() == "kept\n" and not kept.is_symlink()


def test_a_link_planted_at_a_capture_lock_is_refused_not_truncated(tmp_path):
    """The capture's lock (freeze.locked, now cachedir.held) opened LOCKS/NAME.lock with
    mode "w": through a link, truncating."""
    victim = _victim(tmp_path)
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "walker.lock").symlink_to(victim)
    with pytest.raises(OSError) as caught:
        with cachedir.held(tmp_path / "locks" / "walker.lock", "the capture of 'walker'"):
            pass
    assert "walker.lock" in str(caught.value)
    assert victim.read_text() == "kept\n"


def test_a_dangling_link_planted_at_a_cache_lock_file_makes_no_file(tmp_path):
    """cachedir.locked's O_CREAT made the file a dangling link at .locks names."""
    made = tmp_path / "made-by-the-link"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / cachedir.LOCKS).symlink_to(made)
    with pytest.raises(OSError):
        with cachedir.locked(tmp_path / "cache" / "entry.svg"):
            pass
    assert not made.exists() and not made.is_symlink()


@pytest.mark.gcc
@pytest.mark.usefixtures("no_leftovers")
def test_links_a_sample_left_in_its_build_folder_take_no_write_of_its_next_compile(scratch):
    """The sample writes its build folder while it runs: links it left at the names of
    the next compile's dependency file (.NAME.PID.d, the build's pid being easy to
    foresee) and of the stamp's partial copy beside the folder took those writes."""
    scratch.add("hostile", "int main(void) { return 0; }\n")
    sample = scratch.project().sample("hostile")
    cache = scratch.root / ".cache"
    where = build_dir(cache, sample, sample.variants[0])
    where.mkdir(parents=True)
    inside, beside = where / "victim", where.parent / "victim"
    for victim in (inside, beside):
        victim.write_text("kept\n")
    (where / f".hostile.{os.getpid()}.d").symlink_to(inside)
    where.with_name(f".{where.name}.stamp.{os.getpid()}.tmp").symlink_to(beside)
    build = compile_variant(sample, sample.variants[0], cache)
    assert build.compiled and build.binary.is_file() and not build.binary.is_symlink()
    assert inside.read_text() == beside.read_text() == "kept\n"
    stamp = where.with_name(f"{where.name}.stamp.json")
    assert not stamp.is_symlink() and "digest" in stamp.read_text()
    assert not any(p.name.endswith((".tmp", ".d")) and not p.is_symlink()
                   for p in [*where.iterdir(), *where.parent.iterdir()])
