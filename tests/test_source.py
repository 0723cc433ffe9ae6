"""The code beside the figures (roads.words.source): the source with its checkpoint lines
marked, the compile commands exactly as captured, the run-it-yourself box, all
escaped; and every sample of the manifest shown on some page."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from roads.errors import ConfigError
from roads.capture.samples import load_manifest
from roads.words.source import (CONTROL_FD, cache_hole, environment, environment_bytes,
                          first_checkpoint, marked_lines, randomized, render_sample_code,
                          shown_files, stack_agrees)
from tests.conftest import REPO
from tests.prose_scan import scan

SAMPLES = REPO / "samples"
SNAPSHOTS = REPO / "snapshots"
NAMES = sorted(load_manifest(SAMPLES))
CALL = re.compile(r"\bROADS_(CHECKPOINT|ADDRESS|RANGE)\s*\(")


def doc_of(name: str) -> dict:
    return json.loads((SNAPSHOTS / f"{name}.json").read_text())


def files_of(doc: dict) -> dict[str, bytes]:
    return {rel: (SAMPLES / rel).read_bytes() for rel in shown_files(doc)}


def render(name: str, **kwargs) -> str:
    doc = doc_of(name)
    return render_sample_code(doc, files_of(doc), **kwargs)


class Tree(HTMLParser):
    """Tags in order, checking that every element closes where it should."""

    VOID = {"br", "hr", "img", "input", "meta", "link", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(fragment: str) -> Tree:
    tree = Tree()
    tree.feed(fragment)
    tree.close()
    assert not tree.stack, f"unclosed: {tree.stack}"
    return tree


def code_lines(fragment: str) -> list[tuple[bool, str]]:
    """Each line of the first source block: (highlighted, its text)."""
    body = re.search(r'<div class="highlight roads-src-code"><pre><code>(.*?)</code></pre>',
                     fragment, re.S).group(1)
    out = []
    for m in re.finditer(r'(<span class="hll[^"]*"[^>]*>)?<span class="linenos" '
                         r'data-linenos="\s*(\d+) "></span>(.*?)\n', body):
        out.append((m.group(1) is not None, html.unescape(re.sub(r"<[^>]+>", "", m.group(3)))))
    return out


def calls_in_code(text: str) -> set[int]:
    """Lines with a ROADS_* call outside comments and strings (the samples' calls each
    fit on one line); an independent, simpler reading than roads.words.source's."""
    lines = set()
    in_comment = False
    for number, line in enumerate(text.splitlines(), start=1):
        code = ""
        i = 0
        while i < len(line):
            if in_comment:
                end = line.find("*/", i)
                if end < 0:
                    break
                in_comment, i = False, end + 2
            elif line.startswith("/*", i):
                in_comment, i = True, i + 2
            elif line.startswith("//", i):
                break
            elif line[i] == '"':
                end = i + 1
                while end < len(line) and line[end] != '"':
                    end += 2 if line[end] == "\\" else 1
                code += '""'
                i = end + 1
            else:
                code += line[i]
                i += 1
        if CALL.search(code):
            lines.add(number)
    return lines


# --------------------------------------------------------------------------- the source


@pytest.mark.parametrize("name", NAMES)
def test_every_checkpoint_line_marked_and_no_other(name):
    doc = doc_of(name)
    fragment = render(name)
    source = (SAMPLES / doc["inputs"]["manifest"]["sources"][0]).read_text()
    lines = code_lines(fragment)
    assert [text for _, text in lines] == source.rstrip("\n").split("\n")
    marked = {n for n, (hl, _) in enumerate(lines, start=1) if hl}
    wanted = calls_in_code(source)
    assert wanted, f"{name}: no ROADS_ call found"
    assert marked == wanted


def test_marks_follow_calls_over_lines_and_skip_comments_and_strings():
    text = ('/* ROADS_CHECKPOINT("no") */\n'
            'puts("ROADS_ADDRESS(x)");\n'
            '// ROADS_RANGE(a, b, c)\n'
            'ROADS_RANGE("r", p,\n'
            '            n);\n'
            'ROADS_CHECKPOINT("done"); /* ) */\n'
            'int ROADS_CHECKPOINTS = 1;\n')
    assert marked_lines(text) == {4: "range", 5: "range", 6: "checkpoint"}


def test_long_sources_fold_and_short_ones_open():
    short, long_ = "intmain", "probe"
    assert '<details class="roads-src" open>' in render(short)
    assert '<details class="roads-src">' in render(long_)
    assert '<details class="roads-src">' in render(short, open=False)
    assert '<details class="roads-src" open>' in render(long_, open=True)


def test_the_gdb_script_is_shown_with_the_program():
    fragment = render("starti")
    assert "samples/starti.gdb" in fragment
    assert html.escape((SAMPLES / "starti.gdb").read_text().splitlines()[0]) in fragment
    assert "gdb -batch -nx -q -x samples/starti.gdb ./starti" in commands(
        fragment, "commands to run the sample yourself")


# --------------------------------------------------------------------------- commands


def commands(fragment: str, label: str) -> list[str]:
    """The command lines of every block with this aria-label, unescaped."""
    out = []
    for block in re.findall(rf'<pre class="roads-command" aria-label="{label}"><code>(.*?)'
                            r"</code></pre>", fragment, re.S):
        out += [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in
                re.findall(r'<span class="roads-cmd">(.*?)\n</span>', block, re.S)]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_compile_command_is_the_captured_gcc_argv(name):
    doc = doc_of(name)
    fragment = render(name)
    shown = [shlex.split(line) for line in commands(fragment, "compile command")]
    # In the order the manifest declares the variants (the capture sorts its keys).
    order = [v["name"] for v in doc["inputs"]["manifest"]["variants"]]
    assert shown == [doc["variants"][v]["gcc_argv"] for v in order]
    for v in doc["variants"]:
        one = render(name, variant=v)
        assert [shlex.split(c) for c in commands(one, "compile command")] == \
            [doc["variants"][v]["gcc_argv"]]


@pytest.mark.parametrize("name", NAMES)
def test_run_commands_come_from_the_manifest(name):
    doc = doc_of(name)
    manifest = doc["inputs"]["manifest"]
    lines = [shlex.split(c) for c in commands(render(name), "commands to run the sample yourself")]
    first = manifest["variants"][0]["name"]
    assert lines[0] == doc["variants"][first]["gcc_argv"]
    run = lines[1]
    out = doc["variants"][first]["gcc_argv"][doc["variants"][first]["gcc_argv"].index("-o") + 1]
    env = [f"{k}={v}" for k, v in manifest["env"]] + ["ROADS_FD=" + "x" * len(str(CONTROL_FD))]
    tail = ["env", "-i", *env, f"./{out}", *manifest["args"]]
    if manifest["aslr"]:
        assert run == tail and lines[2] == tail
    else:
        assert run == ["setarch", doc["provenance"]["arch"], "--addr-no-randomize", *tail]


def test_unknown_variant_is_an_authoring_error():
    doc = doc_of("layout")
    with pytest.raises(ConfigError, match="no variant 'pi'.*pie, nopie, static"):
        render_sample_code(doc, files_of(doc), variant="pi")


# --------------------------------------------------------------------------- escaping


def test_everything_is_escaped():
    doc = copy.deepcopy(doc_of("stacktop"))
    evil = '<script>alert("x")</script> & \'q\''
    doc["sample"] = "st<b>"
    doc["inputs"]["manifest"]["args"] = [evil]
    doc["inputs"]["manifest"]["env"] = [["A", evil]]
    doc["variants"]["default"]["gcc_argv"][1] = evil
    doc["provenance"]["kernel"] = evil
    doc["provenance"]["gcc"] = evil
    source = f"int main(void) {{ /* {evil} */ ROADS_CHECKPOINT(\"{evil}\"); }}\n".encode()
    fragment = render_sample_code(doc, {"stacktop.c": source})
    assert "<script" not in fragment and "st<b>" not in fragment
    tree = parse(fragment)
    allowed = {"div", "details", "summary", "p", "code", "pre", "span", "ul", "li", "b"}
    assert set(tree.tags) <= allowed, set(tree.tags) - allowed
    text = "".join(tree.text)
    assert evil in text and "st<b>" in text


@pytest.mark.parametrize("name", NAMES)
def test_fragment_is_well_formed(name):
    parse(render(name))


# --------------------------------------------------------------------------- digests


def test_edited_source_is_flagged():
    doc = doc_of("brk")
    files = files_of(doc)
    # As if captured from the file as it is now.
    doc["inputs"]["files"]["brk.c"] = hashlib.sha256(files["brk.c"]).hexdigest()
    assert "Source changed after the capture" not in render_sample_code(doc, files)
    files["brk.c"] += b"/* edited */\n"
    fragment = render_sample_code(doc, files)
    assert "Source changed after the capture" in fragment
    assert "<code>samples/brk.c</code> has been edited" in fragment
    assert "/* edited */" in html.unescape(re.sub(r"<[^>]+>", "", fragment))
    gone = render_sample_code(doc, {"brk.c": None})
    assert "is missing from the samples folder" in gone


@pytest.mark.parametrize("name", NAMES)
def test_committed_sources_match_their_captures(name):
    """The files as committed are the files captured (else the box shows a warning)."""
    doc = doc_of(name)
    for rel, data in files_of(doc).items():
        assert hashlib.sha256(data).hexdigest() == doc["inputs"]["files"][rel], rel


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("name", NAMES)
def test_environment_size_agrees_with_the_captured_stack(name):
    doc = doc_of(name)
    for v in doc["variants"]:
        if randomized(doc, v):
            assert stack_agrees(doc, v) is None
        else:
            assert stack_agrees(doc, v) is True, v


def test_environment_size_is_the_distance_on_the_stack():
    """stacktop records the first environment string and AT_EXECFN: exactly the block."""
    doc = doc_of("stacktop")
    cp = first_checkpoint(doc, "default")
    at = {a.name: a.value for a in cp.addresses}
    size = at["at-execfn"] - at["envp-0-string"]
    assert environment_bytes(environment(doc)) == size
    assert f'<span class="roads-captured">{size}</span> bytes' in render("stacktop")


def test_environment_size_is_left_out_when_the_stack_disagrees():
    doc = copy.deepcopy(doc_of("stacktop"))
    doc["inputs"]["manifest"]["env"].append(["EXTRA", "y" * 40])
    assert stack_agrees(doc, "default") is False
    fragment = render_sample_code(doc, files_of(doc))
    assert "bytes of strings at the top of the stack" not in fragment


@pytest.mark.parametrize("name", NAMES)
def test_loader_cache_hole(name):
    doc = doc_of(name)
    for v in doc["variants"]:
        cp = first_checkpoint(doc, v)
        aux = {a.name: a.a_val for a in cp.auxv}
        hole = cache_hole(doc, v)
        if not aux.get("AT_BASE"):
            assert hole is None, "a static program has no loader"
            continue
        if hole is None:
            continue  # the sample's own mappings moved into it before its first checkpoint
        page = doc["provenance"]["page_size"]
        assert hole.pages >= 1 and hole.start % page == 0 and hole.end % page == 0
        regions = sorted(cp.regions, key=lambda r: r.start)
        below = [r for r in regions if r.end <= hole.start]
        above = [r for r in regions if r.start >= hole.end]
        assert below[-1].end == hole.start and above[0].start == hole.end
        assert any("libc" in r.pathname for r in below)
        fragment = render_sample_code(doc, files_of(doc), variant=v)
        assert (f'hole it left is <span class="roads-captured">{hole.pages}</span> pages, '
                f'from <code><span class="roads-captured">{hole.start:#x}</span></code>') in fragment


def test_cache_hole_needs_the_loader_above_it():
    """A mapping of the sample's own that moved into the hole hides its size: no number."""
    doc = copy.deepcopy(doc_of("brk"))
    hole = cache_hole(doc, "default")
    run = doc["variants"]["default"]["runs"][0]  # the loaded JSON, changed, then decoded
    regions = next(c for c in run["checkpoints"] if c["pid"] == run["pid"])["regions"]
    filler = dict(next(r for r in regions if not r["pathname"]))
    filler.update(start=hole.end - 4096, end=hole.end)
    regions.append(filler)
    assert cache_hole(doc, "default") is None
    assert "hole it left" not in render_sample_code(doc, files_of(doc))


def test_cache_hole_not_taken_from_a_merged_range():
    """A range the sample mapped into the hole, merged with the loader's allocation
    above it (cow's buffer, demand's anonymous pages), leaves no hole to report."""
    for name, variant in (("cow", "default"), ("demand", "anonymous")):
        doc = doc_of(name)
        cp = first_checkpoint(doc, variant)
        (rng,) = [r for r in cp.pagemap if r.name in ("buffer", "range")]
        row = next(r for r in cp.regions if r.start <= rng.start < r.end)
        assert row.end > rng.start + rng.length, "the range merged with the row above"
        assert cache_hole(doc, variant) is None
    fragment = render_sample_code(doc_of("cow"), files_of(doc_of("cow")))
    assert "hole it left" not in fragment


def test_static_variant_says_it_has_no_cache():
    fragment = render("layout")
    assert "A static program has no loader and no such cache." in fragment
    assert "A static program" not in render("layout", variant="pie")
    assert "hole it left" not in render("layout", variant="static")


@pytest.mark.parametrize("name", NAMES)
def test_versions_come_from_provenance(name):
    doc = doc_of(name)
    fragment = render(name)
    prov = doc["provenance"]
    for key in ("kernel", "glibc", "gcc"):
        assert f'<span class="roads-captured">{html.escape(prov[key])}</span>' in fragment


def box_prose(fragment: str) -> str:
    """The words of the box: code, the source and captured values cut out."""
    text = re.sub(r'<div class="highlight roads-src-code">.*?</div>', " ", fragment, flags=re.S)
    text = re.sub(r"<pre.*?</pre>", " ", text, flags=re.S)
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)
    text = re.sub(r'<span class="roads-captured">.*?</span>', " ", text, flags=re.S)
    text = re.sub(r'title="[^"]*"', " ", text)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


@pytest.mark.parametrize("name", NAMES)
def test_no_typed_quantity_in_the_box(name):
    for v in [None, *doc_of(name)["variants"]]:
        prose = box_prose(render(name, variant=v))
        assert "Run it yourself" in prose
        assert scan(prose) == [], scan(prose)


# --------------------------------------------------------------------------- pages


def test_every_sample_appears_on_a_page():
    """Every sample's source is on some page, through sample_code."""
    calls: dict[str, list[str]] = {}
    for page in sorted((REPO / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        text = re.sub(r"\{%\s*raw\s*%\}.*?\{%\s*endraw\s*%\}", "", text, flags=re.S)
        for name in re.findall(r"\{\{\s*sample_code\(\s*['\"]([^'\"]+)['\"]", text):
            calls.setdefault(name, []).append(page.relative_to(REPO).as_posix())
    missing = [n for n in NAMES if n not in calls]
    assert not missing, f"samples whose source is on no page: {missing}"
    unknown = sorted(set(calls) - set(NAMES))
    assert not unknown, f"sample_code of unknown samples: {unknown}"
    twice = {n: p for n, p in calls.items() if len(p) != len(set(p))}
    assert not twice, f"sample_code called twice for a sample on one page: {twice}"


def test_macro_reads_the_samples_folder(monkeypatch):
    monkeypatch.setenv("ROADS_MODE", "frozen")
    monkeypatch.setenv("ROADS_ROOT", str(REPO))
    from macros.figures import FIGURES, MACROS, sample_code

    assert sample_code in MACROS and sample_code in FIGURES
    assert sample_code("intmain") == render("intmain")


# --------------------------------------------------------------------------- by hand


def _same_machine(doc: dict) -> str | None:
    """Why this machine cannot reproduce the capture's addresses, or None."""
    prov = doc["provenance"]
    if platform.release() != prov["kernel"]:
        return f"kernel {platform.release()} here, {prov['kernel']} captured"
    if platform.libc_ver()[1] != prov["glibc"]:
        return f"glibc {platform.libc_ver()[1]} here, {prov['glibc']} captured"
    banner = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
    if banner.splitlines()[0] != prov["gcc"]:
        return "another gcc"
    hole = cache_hole(doc, "default")
    size = os.stat("/etc/ld.so.cache").st_size
    page = prov["page_size"]
    if hole is None or -(-size // page) != hole.pages:
        return "another /etc/ld.so.cache size"
    return None


@pytest.mark.gcc
def test_run_it_yourself_reproduces_the_capture(tmp_path):
    """The box's commands, pasted into a shell on the capture's machine, print the very
    addresses the capture recorded (aslr-off prints them)."""
    if shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    doc = doc_of("aslr-off")
    why = _same_machine(doc)
    if why:
        pytest.skip(f"not the capture's machine: {why}")
    shutil.copytree(SAMPLES, tmp_path / "samples")
    lines = commands(render("aslr-off"), "commands to run the sample yourself")
    assert len(lines) == 2
    subprocess.run(lines[0], shell=True, cwd=tmp_path, check=True)
    done = subprocess.run(lines[1], shell=True, cwd=tmp_path, check=True, capture_output=True,
                          text=True)
    assert done.stdout == doc["variants"]["default"]["runs"][0]["stdout"]
    # Without the stand-in ROADS_FD the environment is shorter, and the stack moves.
    plain = lines[1].replace(" ROADS_FD=x", "")
    moved = subprocess.run(plain, shell=True, cwd=tmp_path, check=True, capture_output=True,
                           text=True)
    stack = [line for line in moved.stdout.splitlines() if line.startswith("stack")]
    assert stack and stack[0] not in done.stdout


def test_a_source_two_samples_show_is_lexed_and_scanned_once(monkeypatch):
    """aslr and aslr-off show the same aslr.c: its box is coloured once (Pygments' lexing
    is most of a box's time), and its ROADS_* lines are worked out once for both the
    highlighting and the legend (they were asked with and without its last newline)."""
    from roads.words import source

    getattr(source.render_source, "cache_clear", lambda: None)()  # kept from other tests
    source._marked_lines.cache_clear()
    lexed = []
    real = source._token_lines
    monkeypatch.setattr(source, "_token_lines", lambda text: lexed.append(text) or real(text))
    boxes = [render(name) for name in ("aslr", "aslr-off")]
    assert len(lexed) == 1 and source._marked_lines.cache_info().misses == 1
    assert boxes[0].count("roads-src-checkpoint") == boxes[1].count("roads-src-checkpoint") > 0
    assert "Highlighted: the lines that talk to the build" in boxes[1]


@pytest.mark.parametrize("name", NAMES)
def test_the_legend_says_what_each_highlighted_call_does(name):
    """What a highlighted line does was its tooltip, which a keyboard or a tap never
    shows: the box's legend says it once for each call its source makes, and for no
    other; no line carries a title."""
    from roads.words.source import CALL_WORDS, CALLS

    fragment = render(name)
    assert not re.search(r'<span class="hll[^"]*" title=', fragment)
    for box in re.findall(r'<details class="roads-src".*?</details>', fragment, re.S):
        legend = re.search(r'<p class="roads-src-legend">(.*?)</p>', box)
        made = set(re.findall(r'class="hll roads-src-(\w+)"', box))
        if not made:
            assert legend is None
            continue
        said = html.unescape(re.sub(r"<[^>]+>", "", legend.group(1)))
        for call, kind in CALLS.items():
            assert (f"{call} {CALL_WORDS[kind]}" in said) == (kind in made), (call, said)
