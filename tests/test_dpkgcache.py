"""dpkg's answers about the toolchain, kept in the cache folder (roads.capture.dpkgcache):
the same as dpkg-query's, asked again when anything they depend on moves, never an
error for what is found in the cache folder, and nothing kept without dpkg."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgspec
import pytest

from roads.capture import dpkgcache, toolchain

LONG_AGO = 1_600_000_000 * 10**9  # a modification time no ``racy`` doubts
LATER = LONG_AGO + 10**9  # a change's, as long ago


def aged(*paths: Path, at: int = LONG_AGO) -> None:
    for path in paths:
        os.utime(path, ns=(at, at))


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A dpkg database of our own (status, a package's file list), a dpkg-query on PATH
    (never run: ``ask`` stands for it, and counts its calls), a file to ask about."""
    admin = tmp_path / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text("Package: gcc-12\nVersion: 12.2.0-14\n")
    (admin / "info" / "gcc-12.list").write_text("/usr/bin/x86_64-linux-gnu-gcc-12\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (tools / "dpkg-query").chmod(0o755)
    gcc = tmp_path / "gcc-12"
    gcc.write_text("a compiler")
    aged(admin / "status", admin / "updates", admin / "info" / "gcc-12.list",
         tools / "dpkg-query", gcc)
    monkeypatch.setattr(dpkgcache, "ADMINDIR", str(admin))
    monkeypatch.setenv("PATH", str(tools))
    for name in dpkgcache.ELSEWHERE:
        monkeypatch.delenv(name, raising=False)
    asked: list[str] = []

    def ask(path: str) -> tuple[str | None, str | None]:
        asked.append(path)
        return "gcc-12", "gcc-12=12.2.0-14"

    class Machine:
        pass

    m = Machine()
    m.admin, m.tool, m.gcc, m.ask, m.asked = admin, tools / "dpkg-query", str(gcc), ask, asked
    m.cache = tmp_path / "cache"
    return m


def answer(m) -> str | None:
    return dpkgcache.remembered(m.cache, m.gcc, m.ask)


def test_an_answer_is_asked_once_then_kept(machine):
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert len(machine.asked) == 1
    entry = dpkgcache.read_entry(dpkgcache.entry_path(machine.cache, machine.gcc))
    assert entry is not None and entry.owner == "gcc-12" and entry.path == machine.gcc


@pytest.mark.parametrize("change", ["status", "updates", "diversions", "owner_list", "file",
                                    "dpkg-query"])
def test_what_the_answer_depends_on_moving_asks_again(machine, change):
    assert answer(machine) == "gcc-12=12.2.0-14"
    if change == "status":  # dpkg writes a new status and renames it into place
        new = machine.admin / "status-new"
        new.write_text("Package: gcc-12\nVersion: 12.2.0-15\n")
        aged(new, at=LATER)
        new.replace(machine.admin / "status")
    elif change == "updates":  # a dpkg run cut short left its journal
        (machine.admin / "updates" / "0000").write_text("Package: gcc-12\n")
        aged(machine.admin / "updates", at=LATER)
    elif change == "diversions":
        (machine.admin / "diversions").write_text("/usr/bin/gcc\n/usr/bin/gcc.real\nx\n")
        aged(machine.admin / "diversions", at=LATER)
    elif change == "owner_list":  # the package reinstalled: its list written again
        listed = machine.admin / "info" / "gcc-12.list"
        listed.write_text("/usr/bin/x86_64-linux-gnu-gcc-12\n/usr/share/doc/gcc-12\n")
        aged(listed, at=LATER)
    elif change == "file":  # another build put in its place, as large and as old
        Path(machine.gcc).rename(machine.gcc + ".old")  # kept: its inode is not reused
        Path(machine.gcc).write_text("a compilex")
        aged(Path(machine.gcc))
    else:
        machine.tool.write_text("#!/bin/sh\nexit 2\n")
        aged(machine.tool, at=LATER)
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert len(machine.asked) == 2
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert len(machine.asked) == 2  # kept again, with what it depends on now


def test_an_entry_of_other_stats_is_asked_again(machine):
    """A kept entry whose stats of dpkg's status are not today's (a stale key, as after
    an upgrade) is not trusted, and is replaced by the fresh answer."""
    where = dpkgcache.entry_path(machine.cache, machine.gcc)
    answer(machine)
    entry = dpkgcache.read_entry(where)
    stale = msgspec.structs.replace(entry, database=[(1, 2, 3, 4), *entry.database[1:]],
                                    answer="gcc-12=0.1-old")
    where.write_bytes(msgspec.json.encode(stale))
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert len(machine.asked) == 2
    assert dpkgcache.read_entry(where) == entry


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe not json", b"[1, 2]",
                                     b'{"path": 1}', b'{"answer": "gcc-12=9"}'])
def test_a_corrupt_entry_is_asked_again(machine, content):
    where = dpkgcache.entry_path(machine.cache, machine.gcc)
    where.parent.mkdir(parents=True)
    where.write_bytes(content)
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert len(machine.asked) == 1
    assert dpkgcache.read_entry(where) is not None  # replaced by a good one


def test_an_entry_that_cannot_be_read_or_written_is_no_error(machine):
    where = dpkgcache.entry_path(machine.cache, machine.gcc)
    where.mkdir(parents=True)  # a folder where the entry goes: neither read nor replaced
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert answer(machine) == "gcc-12=12.2.0-14"
    assert len(machine.asked) == 2
    machine.cache = Path(machine.gcc)  # a file where the cache folder goes
    assert answer(machine) == "gcc-12=12.2.0-14"


def test_a_database_written_just_now_is_not_vouched_for(machine):
    """A status file modified a moment ago may be written again within the same tick of
    the file clock, keeping its stats: no answer is kept against it."""
    (machine.admin / "status").write_text("Package: gcc-12\nVersion: 12.2.0-16\n")
    answer(machine)
    answer(machine)
    assert len(machine.asked) == 2
    assert not dpkgcache.entry_path(machine.cache, machine.gcc).exists()


@pytest.mark.parametrize("variable", dpkgcache.ELSEWHERE)
def test_another_dpkg_database_is_asked_every_time(machine, monkeypatch, variable):
    monkeypatch.setenv(variable, str(machine.admin))
    answer(machine)
    answer(machine)
    assert len(machine.asked) == 2
    assert not machine.cache.exists()


def test_without_dpkg_query_nothing_is_kept(machine):
    machine.tool.unlink()
    nothing = lambda path: (machine.asked.append(path), (None, None))[1]  # noqa: E731
    assert dpkgcache.remembered(machine.cache, machine.gcc, nothing) is None
    assert not machine.cache.exists()


# ----------------------------------------------------------------- with the real dpkg

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None,
                                reason="not a dpkg system: every package_* key is null there")


@needs_dpkg
def test_the_kept_answers_are_dpkg_querys(tmp_path, monkeypatch):
    toolchain.package_versions.cache_clear()
    asked = toolchain.package_versions()
    toolchain.package_versions.cache_clear()
    assert toolchain.package_versions(tmp_path) == asked  # asked, and kept
    assert len(list((tmp_path / dpkgcache.FOLDER).iterdir())) == 3
    toolchain.package_versions.cache_clear()

    def no_dpkg_query(path):
        raise AssertionError(f"dpkg-query asked again about {path}")

    monkeypatch.setattr(toolchain, "_dpkg_answer", no_dpkg_query)
    try:
        assert toolchain.package_versions(tmp_path) == asked  # from the cache folder alone
    finally:
        toolchain.package_versions.cache_clear()


@needs_dpkg
def test_without_dpkg_on_path_a_warm_cache_still_says_null(tmp_path, monkeypatch):
    toolchain.package_versions.cache_clear()
    toolchain.package_versions(tmp_path)  # the answers kept
    toolchain.package_versions.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dpkg-query, no gcc, no ld
    try:
        assert toolchain._package_of("/usr/bin/gcc", tmp_path) is None
        assert toolchain._package_of(toolchain._loaded_libc(), tmp_path) is None
        assert set(toolchain.package_versions(tmp_path).values()) == {None}
    finally:
        toolchain.package_versions.cache_clear()


# ----------------------------------------------------------------- roads explain


@pytest.mark.gcc  # the sandbox's launcher is compiled
def test_explain_asks_outside_the_sandbox_and_keeps_the_answers(tmp_path, monkeypatch,
                                                                outside_tmp, no_leftovers):
    """The sandboxed half, which may write nothing but its run's folder, records the
    packages the half outside asked (with the cache folder it keeps dpkg's answers in),
    not packages of its own asking."""
    from roads.explain import session as session_mod

    asked: list[Path | None] = []
    given = {"package_binutils": "binutils=1", "package_gcc": "gcc-99=9.9", "package_libc": None}

    def package_versions(cache=None):
        asked.append(cache)
        return given

    monkeypatch.setattr(session_mod, "package_versions", package_versions)
    monkeypatch.chdir(outside_tmp)
    session = session_mod.explain_program(["/bin/true"], ["exit"], sandbox=outside_tmp / "tools",
                                          cache=tmp_path)
    assert asked == [tmp_path]
    recorded = session.capture.provenance
    assert {key: getattr(recorded, key) for key in toolchain.PACKAGE_KEYS} == given
