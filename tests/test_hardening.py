"""What a sample may leave behind in its folder cannot hang or flood the build, and
what the build starts has no terminal to reach (found by an attack review)."""

from __future__ import annotations

import os
import sys

import pytest

from roads import command
from roads.capture.build import file_digest
from roads.capture.elf import read_elf
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
