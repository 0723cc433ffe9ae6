"""The glossary: one file of terms, shown as tooltips on every page and listed on its own.

docs/includes/abbreviations.md is appended to every page (pymdownx.snippets) and turned
into <abbr> tooltips (abbr, Material's content.tooltips); roads/words/glossary.py reads the
same file for the Glossary page. The browser half is tests/test_browser_glossary.py.
"""

from __future__ import annotations

import html
import re
from collections import Counter

import markdown
import pytest
from mkdocs.config import load_config
from mkdocs.structure.files import get_files

from roads.words.claims import load_claims
from roads.errors import ConfigError
from roads.words.glossary import SOURCE, Entry, Term, entries, occurrences, parse, render_html
from tests.conftest import REPO
from tests.prose_scan import prose_lines, scan

GLOSSARY_PAGE = "docs/about/glossary.md"


@pytest.fixture(scope="module")
def terms() -> tuple[Term, ...]:
    return parse((REPO / SOURCE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config():
    return load_config(str(REPO / "mkdocs.yml"))


def prose(text: str) -> str:
    """What abbr sees of a page: its text outside code, macro calls and markup."""
    return "\n".join(line for _, line in prose_lines(text))


def test_at_least_forty_terms(terms):
    assert len(terms) >= 40
    # Plurals and spelled-out forms share an entry; the distinct concepts count too.
    assert len(entries(terms)) >= 40


def test_no_term_is_defined_twice(terms):
    lines: dict[str, list[int]] = {}
    for t in terms:
        lines.setdefault(t.term, []).append(t.line)
    twice = [f"{SOURCE}: {term!r} is defined on lines {', '.join(map(str, found))}"
             for term, found in lines.items() if len(found) > 1]
    assert not twice, "a term may be defined only once:\n" + "\n".join(twice)


# A definition becomes the title attribute of every <abbr> of its term and a line of the
# Glossary page. The rules, as the authoring guide states them (docs/about/authoring.md).
MAX_DEFINITION = 330


def definition_problems(terms) -> list[str]:
    """One line per broken rule, naming the line, the term and the rule."""
    problems = []
    for t in terms:
        d = t.definition
        broken = []
        if not (d[0].isupper() or d[0].isdigit()):
            broken.append("it must start with a capital letter or a digit")
        if not d.endswith("."):
            broken.append("it must end with a period")
        if re.search(r"[.!?] [A-Z]", d[:-1]):
            broken.append("it must be one sentence (no '.', '!' or '?' followed by a space "
                          "and a capital before its end)")
        # A title attribute shows text as it is: no Markdown, no HTML, no quotes to escape.
        if re.search(r"[`*<>\"\[\]]", d):
            broken.append("it must not contain ` * < > \" [ or ] (a tooltip shows no "
                          "Markdown or HTML)")
        if len(d) > MAX_DEFINITION:
            broken.append(f"it must be at most {MAX_DEFINITION} characters long "
                          f"(it has {len(d)})")
        problems += [f"{SOURCE}:{t.line}: the definition of {t.term!r}: {b}" for b in broken]
    return problems


def test_each_definition_is_one_plain_sentence(terms):
    problems = definition_problems(terms)
    assert not problems, "\n".join(problems)


def test_the_authoring_guide_states_the_rules_this_file_holds_definitions_to():
    """The guide lists the rules a definition keeps (step 9): its length limit is this
    file's, not a number of its own."""
    guide = (REPO / "docs" / "about" / "authoring.md").read_text(encoding="utf-8")
    assert f"- at most {MAX_DEFINITION} characters;\n" in guide, \
        f"docs/about/authoring.md should give the limit as {MAX_DEFINITION} characters"


def test_definition_rules_name_the_term_and_the_rule():
    bad = parse("*[VMA]: a region. It has `flags` and more\n\n*[PFN]: " + "A" * 331 + ".\n")
    assert definition_problems(bad) == [
        f"{SOURCE}:1: the definition of 'VMA': it must start with a capital letter or a digit",
        f"{SOURCE}:1: the definition of 'VMA': it must end with a period",
        f"{SOURCE}:1: the definition of 'VMA': it must be one sentence (no '.', '!' or '?' "
        "followed by a space and a capital before its end)",
        f"{SOURCE}:1: the definition of 'VMA': it must not contain ` * < > \" [ or ] "
        "(a tooltip shows no Markdown or HTML)",
        f"{SOURCE}:3: the definition of 'PFN': it must be at most 330 characters long "
        "(it has 332)",
    ]


def test_no_typed_quantities_in_definitions():
    findings = scan((REPO / SOURCE).read_text(encoding="utf-8"))
    assert not findings, "\n".join(f"{SOURCE}:{f}" for f in findings)


def test_every_term_is_used_on_a_page(terms):
    """A tooltip nobody can meet is dead weight: each term appears in some page's prose
    (or a claim shown on a page), where abbr would wrap it. The Glossary page's list is
    a macro call, which ``prose`` leaves out; its own sentences count."""
    used: Counter = Counter()
    for path in sorted((REPO / "docs").rglob("*.md")):
        if path.relative_to(REPO).as_posix() == SOURCE:
            continue
        used += occurrences(terms, prose(path.read_text(encoding="utf-8")))
    for c in load_claims(REPO / "tests" / "claims.toml"):
        used += occurrences(terms, prose(c.text))
    unused = [t.term for t in terms if not used[t.term]]
    assert not unused, f"terms no page uses: {unused}"


def test_the_file_is_appended_to_every_page_and_not_published(config):
    snippets = config["mdx_configs"]["pymdownx.snippets"]
    assert SOURCE in snippets["auto_append"]
    assert "abbr" in config["markdown_extensions"]
    assert "content.tooltips" in config["theme"]["features"]
    files = {f.src_uri: f for f in get_files(config)}
    source = files[SOURCE.removeprefix("docs/")]
    assert source.inclusion.is_excluded()
    assert not source.is_documentation_page() or source.inclusion.is_excluded()
    assert files["about/glossary.md"].inclusion.is_included()


def test_a_page_gets_tooltips_and_no_stray_text(config, terms):
    """The configured Markdown, as MkDocs runs it: terms in prose become <abbr>, terms in
    code do not, and the appended file adds nothing visible."""
    md = markdown.Markdown(extensions=config["markdown_extensions"],
                           extension_configs=config["mdx_configs"])
    html = md.convert("An ELF file starts with `ELF`; its PIE loader runs first.\n")
    definition = {t.term: t.definition for t in terms}
    assert f'<abbr title="{definition["ELF"]}">ELF</abbr> file' in html
    assert "<code>ELF</code>" in html
    assert f'<abbr title="{definition["loader"]}">loader</abbr>' in html
    assert html.count("<p>") == 1, html


def test_glossary_page_lists_every_term(terms):
    from macros.glossary import glossary

    page = (REPO / GLOSSARY_PAGE).read_text(encoding="utf-8")
    assert page.count("{{ glossary() }}") == 1
    block = glossary()
    listed = block.html
    for t in terms:
        assert f"<dfn>{html.escape(t.term)}</dfn>" in listed, t.term
        assert f"<dd>{html.escape(t.definition)}</dd>" in listed, t.term
    assert len(re.findall(r"<dt ", listed)) == len(entries(terms))
    # The ids it carries beside its HTML (placed after Markdown, which found them there).
    assert tuple(re.findall(r'<dt id="([^"]*)"', listed)) == block.anchors
    assert not scan(page), scan(page)


# --- the parser ----------------------------------------------------------------------


def test_parse_reads_terms_in_order():
    text = "*[VMA]: Virtual memory area: a region.\n\n*[page fault]: An exception.\n"
    assert parse(text) == (Term("VMA", "Virtual memory area: a region.", 1),
                           Term("page fault", "An exception.", 3))


@pytest.mark.parametrize("text, message", [
    ("*[VMA]: a region.\n\n*[VMA]: again.\n", "already defined on line 1"),
    ("*[VMA]: a region.\n*[PFN]: a frame number.\n",
     "2: leave a blank line between 'VMA' and 'PFN'"),
    ("*[VMA]: a region,\n  wrapped on.\n", "2: not a definition"),
    ("Some words.\n", "not a definition"),
    ("*[.bss]: zeroed data.\n", "must begin and end with a letter or a digit"),
    ("*[VMA]:\n", "has no definition"),
])
def test_parse_refuses_what_would_break_pages(text, message):
    with pytest.raises(ConfigError, match=message):
        parse(text, "abbreviations.md")


def test_forms_with_one_definition_are_one_entry():
    found = entries(parse("*[frames]: A page frame.\n\n*[VMA]: An area.\n\n*[frame]: A page frame.\n"))
    assert found == (Entry(("frame", "frames"), "A page frame."), Entry(("VMA",), "An area."))
    assert found[0].anchor == "term-frame"
    assert Entry(("page fault",), "x").anchor == "term-page-fault"


def test_occurrences_follow_abbr_longest_first_whole_words():
    terms = parse("*[page fault]: a.\n\n*[page faults]: a.\n\n*[PT]: b.\n\n*[ELF]: c.\n")
    text = "A page fault, then page faults; PT_LOAD is not PT, ELFs are not ELF."
    assert occurrences(terms, text) == Counter({"page fault": 1, "page faults": 1, "PT": 1,
                                                "ELF": 1})


def test_render_html_escapes_and_anchors():
    out = render_html((Entry(("a<b",), 'x & "y"'),))
    assert '<dt id="term-a-b"><dfn>a&lt;b</dfn></dt> <dd>x &amp; &quot;y&quot;</dd>' in out
    assert out.startswith('<dl class="roads-glossary">') and out.endswith("</dl>")


def test_the_search_index_reads_each_term_apart_from_its_definition():
    """Material's search joins the text of a page's elements as they come: a term and
    its definition, and one entry and the next, stay separate words."""
    from material.plugins.search.plugin import Parser

    parser = Parser()
    parser.feed("<h1>Glossary</h1>" + render_html((Entry(("address space", "virtual address space"),
                                                         "All the addresses."),
                                                   Entry(("page",), "A unit."))))
    parser.close()
    text = " ".join("".join(section.text) for section in parser.data)
    assert "virtual address space All the addresses." in " ".join(text.split())
    assert "addresses. page A unit." in " ".join(text.split())


def test_terms_that_differ_only_in_case_get_ids_of_their_own():
    """RSS (a process's resident set size) and Rss (smaps' counter) are two entries: the
    Glossary page gives each an id of its own."""
    import re

    from roads.words.glossary import Entry, render_html

    text = render_html((Entry(("RSS",), "resident set size"), Entry(("Rss",), "smaps' counter")))
    ids = re.findall(r'id="([^"]+)"', text)
    assert ids == ["term-rss", "term-rss-2"]


def test_a_constants_cited_source_is_quoted_as_written(config):
    """A source line that names a term (PF_RANDOMIZE's names execve; an earlier one
    named PID and the personality too) had the glossary's tooltips inside the
    citation, and its underscores could make emphasis; it is quoted as written,
    escaped once."""
    from macros.figures import const
    from roads.constants import PF_RANDOMIZE
    from roads.words.markup import unshield

    md = markdown.Markdown(extensions=config["markdown_extensions"],
                           extension_configs=config["mdx_configs"])
    page = unshield(md.convert(f"The bit {const('PF_RANDOMIZE', cite=True)} of the flags.\n"))
    cite = re.search(r'<span class="roads-cite">(.*?)</span>', page).group(1)
    assert cite == html.escape(f" (source: {PF_RANDOMIZE.source})", quote=True)
    assert "execve" in cite and "<abbr" not in cite and "<em>" not in cite
