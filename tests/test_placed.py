"""Blocks of finished HTML kept out of Markdown and placed after it (``macros.placed``):
About's list of claims and the Glossary's terms."""

from __future__ import annotations

import json
import types

from macros import guard, placed
from tests.test_modes import frozen_site, mkdocs_build


def _page(anchors=()):
    return types.SimpleNamespace(present_anchor_ids=set(anchors))


def test_a_block_leaves_a_placeholder_and_is_placed_with_its_ids():
    """The macro's HTML is kept on the page, not in its Markdown; placed, it replaces its
    placeholder (and the paragraph Markdown wraps an indented one in), its shielded
    text is put back, and its ids join the page's anchors."""
    from roads.words.markup import shield

    page = _page({"intro"})
    env = types.SimpleNamespace(page=page, conf={})

    def listing() -> placed.AfterMarkdown:
        return placed.AfterMarkdown(f'<ul><li id="claim-a">{shield("<b>")}</li></ul>', ("claim-a",))

    markdown = guard(listing, env)()
    assert "claim-a" not in markdown and 'data-roads-block="0"' in markdown
    second = guard(listing, env)()
    html_out = f'<h1>x</h1>{markdown.strip()}<p>{second.strip()}</p>'
    assert placed.missing(html_out, page) == 0
    out = placed.place(html_out, page)
    assert out == '<h1>x</h1><ul><li id="claim-a">&lt;b&gt;</li></ul>' * 1 + \
        '<ul><li id="claim-a">&lt;b&gt;</li></ul>'
    assert page.present_anchor_ids == {"intro", "claim-a"}
    assert placed.missing("<h1>x</h1>", page) == 2
    # Outside a page (no page to keep it on), the macro's HTML itself.
    assert str(guard(listing, types.SimpleNamespace(page=None, conf={}))()) == \
        listing().html


def test_a_page_cache_entry_keeps_the_blocks_out_of_its_markdown(tmp_path):
    """Built and built again from the page cache: the list of claims and the glossary
    are on the page, outside the Markdown the cache keeps, and another page may link to
    their ids (a strict build fails on a link to an anchor MkDocs does not know)."""
    root = frozen_site(tmp_path, "{{ claims() }}\n\n{{ glossary() }}\n")
    (root / "docs" / "includes").mkdir()
    (root / "docs" / "includes" / "abbreviations.md").write_text(
        "*[page fault]: What the processor raises at a page it cannot use as asked.\n")
    (root / "tests").mkdir()
    (root / "tests" / "claims.toml").write_text(
        '[[claim]]\nid = "said"\npage = "docs/index.md"\ntext = "Said here."\n'
        'test = "test_x.py::test_said"\n')
    (root / "docs" / "other.md").write_text(
        "---\ntitle: Other\n---\n\nSee [the claim](index.md#claim-said) and "
        "[the term](index.md#term-page-fault).\n")
    for _ in range(2):  # the second from the page cache
        done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
        assert done.returncode == 0, done.stderr[-3000:]
        shown = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
        assert '<li id="claim-said">Said here. <code>test_x.py::test_said</code></li>' in shown
        assert '<dt id="term-page-fault"><dfn>page fault</dfn></dt>' in shown
        assert "data-roads-block" not in shown
        index = json.loads((tmp_path / "site" / "search" / "search_index.json").read_text())
        assert any("Said here." in doc["text"] for doc in index["docs"])
    kept = [json.loads(p.read_text())["payload"]
            for p in (root / ".cache" / "roads" / "pages").glob("*.json")]
    macros_step = [p for p in kept if "blocks" in p and p["blocks"]]
    assert len(macros_step) == 1, kept
    assert "roads-glossary" not in macros_step[0]["markdown"]
    assert [anchors for _, anchors in macros_step[0]["blocks"]] == [["claim-said"],
                                                                    ["term-page-fault"]]


def test_a_block_swallowed_by_a_code_block_is_an_error_of_the_page(tmp_path):
    """In a fenced code block, the macro's placeholder became code: the page says so (and
    a strict build fails) instead of showing a placeholder."""
    root = frozen_site(tmp_path, "Terms:\n\n```text\n{{ glossary() }}\n```\n")
    (root / "docs" / "includes").mkdir()
    (root / "docs" / "includes" / "abbreviations.md").write_text("*[page fault]: A fault.\n")
    done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
    assert done.returncode != 0
    assert "docs/index.md: 1 block(s) of HTML (claims(), glossary()) could not be placed" \
        in done.stderr


def test_another_page_may_link_to_a_samples_code(tmp_path):
    """The authoring guide links to a sample's code as ``page.md#source-NAME``: the box
    goes in after MkDocs read the page's ids, so a strict build failed on the link
    ("does not contain an anchor") until the figures' own ids joined the page's, also
    when the page comes from the page cache. A link to an id no page has still fails."""
    root = frozen_site(tmp_path, "{{ sample_code('intmain') }}\n")
    other = root / "docs" / "other.md"
    other.write_text("---\ntitle: Other\n---\n\nSee [the program](index.md#source-intmain).\n")
    for _ in range(2):  # the second from the page cache
        done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
        assert done.returncode == 0, done.stderr[-3000:]
        assert "anchor" not in done.stderr, done.stderr[-3000:]
        assert 'id="source-intmain"' in (tmp_path / "site" / "index.html").read_text()
    other.write_text("---\ntitle: Other\n---\n\nSee [the program](index.md#source-nope).\n")
    done = mkdocs_build(root, tmp_path / "site", ROADS_MODE="frozen", ROADS_ROOT=str(root))
    assert done.returncode != 0
    assert "does not contain an anchor '#source-nope'" in done.stderr
