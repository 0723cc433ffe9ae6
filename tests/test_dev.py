"""./dev's set-up of the Python packages: when it installs, and when it knows it need not.

The script runs in a copy of its own with a stand-in `.venv` whose `python` and `mkdocs`
write down how they were called, so nothing is installed and nothing is served.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

LOGGER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../../calls.log"
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    shutil.copy2(REPO / "dev", tmp_path / "dev")
    for name in ("pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_text("")
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name in ("python", "mkdocs"):
        (bin_ / name).write_text(LOGGER)
        (bin_ / name).chmod(0o755)
    return tmp_path


def run(clone: Path, *args: str) -> list[str]:
    log = clone / "calls.log"
    log.unlink(missing_ok=True)
    done = subprocess.run([str(clone / "dev"), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "CI": ""})
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines() if log.exists() else []


def pip_installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("python -m pip install")]


def stamp(clone: Path, extras: str, age: float = 0) -> None:
    path = clone / ".venv" / f".installed-{extras}"
    path.touch()
    later = (clone / "pyproject.toml").stat().st_mtime + 10 - age
    os.utime(path, (later, later))


def test_serve_after_test_installs_nothing(clone):
    stamp(clone, "site,test")
    calls = run(clone, "serve", "--help")
    assert pip_installs(calls) == []
    assert calls[-1] == "mkdocs serve --help"


def test_serve_on_an_address_that_has_a_server_says_so_before_building(clone):
    """mkdocs serve finds the address taken only after building the whole site, and
    then ends in a traceback; ./dev says so at once, with another address to use."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (["-a", f"127.0.0.1:{port}"], [f"--dev-addr=127.0.0.1:{port}"]):
            done = subprocess.run([str(clone / "dev"), "serve", *args], capture_output=True,
                                  text=True, timeout=60, env={**os.environ, "CI": ""})
            assert done.returncode == 1, done.stderr
            assert (f"127.0.0.1:{port} already has a server" in done.stderr
                    and f"./dev serve -a 127.0.0.1:{port + 1}" in done.stderr), done.stderr
            assert not (clone / "calls.log").exists()  # nothing installed, nothing served
        # --help serves nothing: no address to check.
        assert run(clone, "serve", "-a", f"127.0.0.1:{port}", "--help")[-1].endswith("--help")
    # Free again: served as asked.
    assert run(clone, "serve", "-a", f"127.0.0.1:{port}")[-1] == f"mkdocs serve -a 127.0.0.1:{port}"


def test_serve_checks_an_ipv6_address_as_mkdocs_takes_it(clone):
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    with socket.socket(socket.AF_INET6) as taken:
        try:
            taken.bind(("::1", 0))
        except OSError:
            pytest.skip("no ::1 here")
        taken.listen()
        port = taken.getsockname()[1]
        for address in (f"[::1]:{port}", f"::1:{port}"):
            done = subprocess.run([str(clone / "dev"), "serve", "-a", address],
                                  capture_output=True, text=True, timeout=60,
                                  env={**os.environ, "CI": ""})
            assert done.returncode == 1 and "already has a server" in done.stderr, done.stderr


def test_serve_with_no_install_yet_installs_the_site(clone):
    calls = run(clone, "serve")
    assert pip_installs(calls) == ['python -m pip install -q --disable-pip-version-check '
                                   '-c requirements.lock -e .[site]']
    assert (clone / ".venv" / ".installed-site").exists()
    assert pip_installs(run(clone, "serve")) == []


def test_an_install_of_fewer_extras_is_not_enough(clone):
    stamp(clone, "site")
    assert pip_installs(run(clone, "bench", "--help")) == [
        'python -m pip install -q --disable-pip-version-check '
        '-c requirements.lock -e .[site,test,bench]']


def test_an_install_older_than_the_lock_file_is_done_again(clone):
    stamp(clone, "site,test,bench", age=20)
    assert len(pip_installs(run(clone, "serve"))) == 1


def test_an_extra_is_matched_whole_not_as_part_of_another_name(clone):
    stamp(clone, "site,testing")
    assert len(pip_installs(run(clone, "bench", "--help"))) == 1
