"""roads explain (and roads run): what the command says when the program named is not
one it can run (a folder, a C++ source, a file it may run but not read) and the lines it
gives to type instead; and the compile line it shows of a source whose name a shell must
have quoted."""

from __future__ import annotations

import html
import os
import re
import shlex
import shutil
import subprocess

import pytest

from roads import cli
from tests.explain_support import page_facts
from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

CXX = "namespace hi { int answer() { return 42; } }\nint main() { return hi::answer() - 42; }\n"


@pytest.mark.parametrize("given, words", [
    ("./box", "./box: a folder, not a program"),
    ("box/", "box/: a folder, not a program"),
    ("box", "box: not found on PATH; box in this folder is a folder, not a program"),
    ("box.c", "box.c: a folder, not a C source"),
])
def test_a_folder_named_as_the_program_is_said_to_be_one(root, tmp_path, monkeypatch, capsys,
                                                         given, words):
    """A folder was 'not an executable file', and one whose name ends in .c 'no such
    file', though it is there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "box").mkdir()
    (tmp_path / "box.c").mkdir()
    assert explain(root, "--", given) == 1
    assert capsys.readouterr().err == f"roads: error: {words}\n"


NEEDS_LIBM = "#include <math.h>\nint main(int argc, char **argv) { (void)argv; return (int)sqrt(argc * 1.5); }\n"


def test_a_source_that_needs_a_library_gets_the_lines_that_build_and_run_it(
        root, tmp_path, monkeypatch, capsys, no_leftovers):
    """A source that calls sqrt links only with -lm, which roads explain does not give:
    the error was gcc's 'undefined reference to sqrt' alone, and nothing said that the
    command passes no options, nor how to go on. It now gives the gcc line that builds
    the program and the roads explain line that runs it, and both work as given."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "root of.c").write_text(NEEDS_LIBM)
    assert explain(root, "--", "root of.c") == 1
    err = capsys.readouterr().err
    assert "undefined reference to `sqrt'" in err, err
    assert "roads explain compiles a source with gcc -O0 -g and nothing more" in err, err
    compile_line = err.split("then to name: ", 1)[1].split(" (or what it needs)", 1)[0]
    run_line = err.split("then roads explain -- ", 1)[1].strip()
    assert compile_line.endswith(" -lm")
    subprocess.run(shlex.split(compile_line), check=True, timeout=120)
    assert explain(root, "--out", "p.html", "--", *shlex.split(run_line)) == 0
    assert (tmp_path / "p.html").is_file()


def test_an_empty_program_name_is_said_to_be_one(root, tmp_path, monkeypatch, capsys):
    """roads explain -- "$PROG" with PROG unset said ': not found on PATH', a message
    with no name in it."""
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--", "") == 1
    assert capsys.readouterr().err == "roads: error: '': an empty name, which names no program\n"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_program_that_may_be_run_but_not_read_is_said_to_be_one(root, tmp_path, monkeypatch,
                                                                  capsys, sandbox, no_leftovers):
    """A program of mode 111 is run by the kernel, but roads explain reads its file
    first: the error was '/.../prog: cannot read ELF file: Permission denied' (in the
    sandbox, which has none of root's rights) and said neither why roads explain reads
    it nor what to do. It now says both. Outside the sandbox, root reads it anyway."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prog.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(tmp_path / "prog"), str(tmp_path / "prog.c")], check=True)
    (tmp_path / "prog").chmod(0o111)
    code = explain(root, *(() if sandbox else ("--no-sandbox",)), "--out", "p.html", "--",
                   "./prog")
    err = capsys.readouterr().err
    if not sandbox and os.geteuid() == 0:
        assert code == 0, err
        return
    assert code == 1
    assert (f"roads: error: {tmp_path / 'prog'}: may be run but not read (---x--x--x), and "
            "roads explain reads a program's file, as a debugger does, for its segments and "
            f"symbols: make it readable (chmod a+r {shlex.quote(str(tmp_path / 'prog'))}), "
            "or name a readable copy\n") in err
    assert not (tmp_path / "p.html").exists()


@pytest.mark.parametrize("source", ["x.cpp", "./x.cpp", "my src/y z.cc"])
def test_a_cxx_source_is_said_to_be_one_with_lines_that_work(root, tmp_path, monkeypatch,
                                                             capsys, source, no_leftovers):
    """x.cpp was 'not found on PATH', ./x.cpp 'not an executable file': nothing said
    that the command compiles C alone. It now says so, with the g++ line that compiles
    the source and the roads explain line that runs what it makes, which work as given
    (typed here for a name with spaces, which they quote); roads run gives its own."""
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my src").mkdir()
    (tmp_path / source).write_text(CXX)
    assert explain(root, "--", source) == 1
    err = capsys.readouterr().err
    assert "a C++ source, not a program (roads explain compiles a .c file, not C++)" in err
    compile_line = err.split("compile it, ", 1)[1].split(", then", 1)[0]
    run_line = err.split("then name what it makes: ", 1)[1].strip()
    assert cli.main(["--root", str(root), "run", "--", source]) == 1
    program = run_line.split(" -- ", 1)[1]
    assert f"then name what it makes: roads run -- {program}\n" in capsys.readouterr().err
    if " " not in source:  # typed once, for the name a shell must have quoted
        return
    subprocess.run(shlex.split(compile_line), check=True, timeout=120)
    argv = shlex.split(run_line)
    assert argv[:3] == ["roads", "explain", "--"], run_line
    assert explain(root, "--at", "exit", "--out", "x.html", *argv[2:]) == 0
    err = capsys.readouterr().err
    assert "stopped at exit" in err
    # A success is not told on the last line, as an abort or a failing status is.
    assert "exited with status" not in err, err


def test_a_source_with_spaces_in_its_name_is_shown_compiled_by_a_line_that_works(
        root, tmp_path, monkeypatch, no_leftovers):
    """In a folder with spaces and non-ASCII letters in its name, 'prog ü.c': the page's
    'Compiled with' (and the figures' provenance) read gcc -O0 -g prog ü.c -o prog, which a
    shell splits into two sources. Typed in the source's folder, it now compiles."""
    folder = tmp_path / "my progs" / "héllo wörld"
    folder.mkdir(parents=True)
    (folder / "prog ü.c").write_text("int main(void) { return 0; }\n")
    monkeypatch.chdir(folder)
    assert explain(root, "--at", "main", "--out", "page.html", "--", "prog ü.c") == 0
    page = (folder / "page.html").read_text()
    shown = page_facts(page)["Compiled with"]
    # The figures' provenance lines show the same command (it was their tooltip).
    captions = {html.unescape(re.sub(r"<[^>]+>", "", t))
                for t in re.findall(r'<code class="roads-gcc">(.*?)</code>', page)}
    assert captions == {shown}, (captions, shown)
    done = subprocess.run(shlex.split(shown), cwd=folder, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    argv = shlex.split(shown)
    assert (folder / argv[argv.index("-o") + 1]).is_file()


@pytest.mark.parametrize("command", ["explain", "run"])
def test_a_file_no_one_may_run_is_said_to_be_one_with_the_chmod_that_lets_them(
        root, tmp_path, monkeypatch, capsys, command):
    """A program copied without its x bit was 'not an executable file', with nothing
    said of why or what to do: it now names the mode and the chmod that makes it one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my prog").write_bytes(b"\x7fELF")
    (tmp_path / "my prog").chmod(0o640)
    assert cli.main(["--root", str(root), command, "--", "./my prog"]) == 1
    assert capsys.readouterr().err == (
        "roads: error: './my prog': not an executable file: its mode, rw-r-----, lets no one "
        "run it; if it is a program, chmod +x './my prog' makes it one\n")
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.parametrize("source", ["x.c", "./x.c"])
def test_a_c_source_given_to_roads_run_gets_the_lines_that_build_and_run_it(
        root, tmp_path, monkeypatch, capsys, source, no_leftovers):
    """roads explain compiles a .c file, roads run does not: it said 'x.c: not found on
    PATH' or './x.c: not an executable file'. It now says it is a C source, with the gcc
    line and the roads run line, which work as given."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.c").write_text("int main(void) { for (;;) ; }\n")
    assert cli.main(["--root", str(root), "run", "--", source]) == 1
    err = capsys.readouterr().err
    assert "a C source, not a program (roads run starts a compiled program; roads explain " \
           "compiles a .c file itself)" in err, err
    compile_line = err.split("compile it, ", 1)[1].split(", then", 1)[0]
    run_line = err.split("then name what it makes: ", 1)[1].strip()
    assert compile_line.startswith("gcc -O0 -g -o ")
    subprocess.run(shlex.split(compile_line), check=True, timeout=120, cwd=tmp_path)
    argv = shlex.split(run_line)
    assert argv[:3] == ["roads", "run", "--"], run_line
    assert cli.main(["--root", str(root), "run", "--after", "0.1", *argv[2:]]) == 0
    assert re.match(r"\d+: \./x\n", capsys.readouterr().out)


# A 32-bit x86 program (what gcc -m32 makes, where its libraries are installed) with no
# C library: it sleeps a second in i386's nanosleep, then exits.
I386 = """.globl _start
_start:
  mov $162, %eax
  push $0
  push $1
  mov %esp, %ebx
  xor %ecx, %ecx
  int $0x80
  mov $1, %eax
  xor %ebx, %ebx
  int $0x80
"""


def test_a_32_bit_program_is_sent_to_roads_run_which_shows_it(root, tmp_path, monkeypatch,
                                                              capsys, no_leftovers):
    """A course's gcc -m32 program was refused with 'only 64-bit x86-64 ELF is supported'
    and nothing more: roads run, which reads /proc alone, shows its map, and the error
    now gives that line, which works as given."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sleeps.s").write_text(I386)
    try:
        subprocess.run(["as", "--32", "-o", "sleeps.o", "sleeps.s"], check=True, timeout=60)
        subprocess.run(["ld", "-m", "elf_i386", "-o", "sleeps 32", "sleeps.o"], check=True,
                       timeout=60)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("binutils cannot make an i386 program here")
    assert explain(root, "--", "./sleeps 32") == 1
    err = capsys.readouterr().err
    assert "32-bit (ELFCLASS32) ELF file; only 64-bit x86-64 ELF is supported); " in err, err
    run_line = err.split("); ", 1)[1].split(" shows its memory map as it runs", 1)[0]
    argv = shlex.split(run_line)
    assert argv[:3] == ["roads", "run", "--"], run_line
    assert cli.main(["--root", str(root), "run", "--after", "0.2", *argv[2:]]) == 0
    shown = capsys.readouterr().out
    # ld -m elf_i386 puts its code at 0x8048000, the i386 ABI's base.
    assert re.search(r"^ *8048000 +[0-9a-f]+ .* r-xp .*/sleeps 32$", shown, re.M), shown
    assert not list(tmp_path.glob("*.html"))


# Names a shell must have quoted, or escaped: a space, a quote, a dollar sign, a newline,
# a byte that is not UTF-8 (kept by Python as a lone surrogate).
ODD_NAMES = ["my prog", "it's", "a$b", "nl\nname", "ff\udcffname"]


def _typed(line: str, folder) -> None:
    """Run ``line``, a command the error gives to type, in bash (which reads $'...'),
    in ``folder``."""
    subprocess.run(["bash", "-c", line], check=True, timeout=120, cwd=folder)


@pytest.mark.parametrize("command", ["explain", "run"])
@pytest.mark.parametrize("name", ODD_NAMES)
def test_an_odd_name_is_said_as_a_shell_reads_it_back_on_one_line(root, tmp_path, monkeypatch,
                                                                  capsys, command, name):
    """The program's name was written as typed in the sentence ("./it's: no such
    program", a newline splitting the error in two, a byte not UTF-8 as \\xff) where the
    line to type beside it quoted it with shlex ('\\xff' in single quotes, four
    characters to a shell): each error now names it as a shell reads it back, the same
    way in the sentence and in the line to type, which works as given."""
    from roads.explain.shellwords import quote

    monkeypatch.chdir(tmp_path)

    def said(*program: str) -> str:
        assert cli.main(["--root", str(root), command, "--", *program]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err  # one line
        return err.removeprefix("roads: error: ").removesuffix("\n")

    assert said(f"./{name}") == f"{quote('./' + name)}: no such program"
    (tmp_path / name).mkdir()
    assert said(name) == (f"{quote(name)}: not found on PATH; {quote(name)} in this folder "
                          "is a folder, not a program")
    (tmp_path / name).rmdir()
    (tmp_path / name).write_bytes(b"\x7fELF")
    (tmp_path / name).chmod(0o640)
    told = said(name)
    assert told.startswith(f"{quote(name)}: not found on PATH; {quote(name)} in this folder "
                           "is not an executable file"), told
    _typed(told.split("if it is a program, ", 1)[1].removesuffix(" makes it one"), tmp_path)
    assert os.access(tmp_path / name, os.X_OK)
    assert said(name) == (f"{quote(name)}: not found on PATH; a program in this folder is "
                          f"named {quote('./' + name)}")


@pytest.mark.parametrize("name", [*ODD_NAMES, "-x"])
def test_a_c_source_of_any_name_gets_lines_to_type_that_work(root, tmp_path, monkeypatch,
                                                             capsys, name, no_leftovers):
    """roads run's gcc line for a source whose name begins with '-' was gcc -O0 -g -o -x
    -x.c, which gcc reads as options (and chmod +x -n, which chmod reads as one); one
    with a newline or a byte not UTF-8 was quoted with shlex, which a shell does not read
    back. Each line now works as given, and the program it builds runs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{name}.c").write_text("int main(void) { for (;;) ; }\n")
    assert cli.main(["--root", str(root), "run", "--", f"{name}.c"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    _typed(err.split("compile it, ", 1)[1].split(", then", 1)[0], tmp_path)
    run_line = err.split("then name what it makes: ", 1)[1].strip()
    # bash reads the line back into the words roads run is given.
    words = subprocess.run(["bash", "-c", "printf '%s\\0' " + run_line.split(" -- ", 1)[1]],
                           capture_output=True, check=True, timeout=60).stdout
    program = os.fsdecode(words.rstrip(b"\0"))
    assert program == f"./{name}"
    assert cli.main(["--root", str(root), "run", "--after", "0.1", "--", program]) == 0
    capsys.readouterr()


def test_a_file_named_with_a_leading_dash_gets_a_chmod_that_works(root, tmp_path, monkeypatch,
                                                                  capsys):
    """chmod +x -n read -n as an option of its own: the file is named ./-n."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-n").write_bytes(b"\x7fELF")
    (tmp_path / "-n").chmod(0o640)
    assert cli.main(["--root", str(root), "run", "--", "-n"]) == 1
    err = capsys.readouterr().err
    line = err.split("if it is a program, ", 1)[1].split(" makes it one", 1)[0]
    assert line == "chmod +x ./-n"
    _typed(line, tmp_path)
    assert os.access(tmp_path / "-n", os.X_OK)


def test_a_program_that_ends_before_its_stop_is_named_as_a_shell_reads_it_back(
        root, tmp_path, monkeypatch, capsys, no_leftovers):
    """roads explain's own lines named the program as typed ("./it's\\nx exited ...",
    split in two by its newline), under a "running $'./it\\'s\\nx'" that quoted it: the
    error, and the line over what it wrote, now quote it so too."""
    from roads.explain.shellwords import quote

    monkeypatch.chdir(tmp_path)
    name = "./it's\nx"
    (tmp_path / "it's.c").write_text('#include <stdio.h>\nint main(void) { puts("hi"); }\n')
    subprocess.run(["gcc", "-o", "it's\nx", "it's.c"], check=True, timeout=60)
    assert explain(root, "--at", "syscall:fork", "--", name) == 1
    err = capsys.readouterr().err
    assert f"roads: error: {quote(name)} exited with status 0 before reaching " in err, err
    assert f"\n{quote(name)} wrote to its stdout:\n  | hi\n" in err, err
