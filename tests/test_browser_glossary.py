"""Glossary terms in a real browser: the definition shows on hover with a mouse, on tap
with a touch screen, and on keyboard focus, legible in both palettes at phone and
desktop width; the Glossary page lists every term; the file itself is no page.

Screenshots of open tooltips go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import functools

import urllib.error
import urllib.request

import pytest

from roads.words.glossary import SOURCE, entries, parse
from tests.browser import DESKTOP, PHONE, quiet
from tests.browser import open_page as _open_page
from tests.conftest import REPO
from tests.test_browser import contrast, rgb

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = REPO / "tests" / "artifacts"
# Every page of these tests is in the default palette unless a test says otherwise.
open_page = functools.partial(_open_page, scheme="default")
TOOLTIP = ".md-tooltip2--active"
# A page dense with terms, and a term in its body (after the Update Timeline's rule)
# that is no link, since a tap on a link navigates.
PAGE = "all-roads-to-memory/mapping-procedure/"
TERM = "article hr ~ p abbr:not(a abbr)"


@pytest.fixture(scope="module")
def definitions() -> dict[str, str]:
    return {t.term: t.definition for t in parse((REPO / SOURCE).read_text(encoding="utf-8"))}


def a_term(page):
    """A term in the page's prose, scrolled into the middle of the screen, with its name
    and its title (read before Material moves the title into its tooltip)."""
    term = page.locator(TERM).first
    assert term.count() == 1, "no glossary term in the page's prose"
    term.evaluate("e => e.scrollIntoView({block: 'center'})")
    return term, term.inner_text(), term.get_attribute("title")


def shown(page) -> str:
    page.wait_for_selector(TOOLTIP, state="visible", timeout=5000)
    return page.locator(TOOLTIP).inner_text().strip()


def test_hovering_a_term_shows_its_definition(site, browser, definitions):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, idle=False)
    term, name, title = a_term(page)
    assert title == definitions[name]
    term.hover()
    assert shown(page) == definitions[name]
    tooltip_id = page.locator(TOOLTIP).get_attribute("id")
    assert term.get_attribute("aria-describedby") == tooltip_id
    page.mouse.move(0, DESKTOP["height"] - 1)
    page.wait_for_selector(TOOLTIP, state="detached", timeout=5000)
    # Material moves the title into the tooltip while it shows, and puts it back after.
    page.wait_for_function("e => e.title !== ''", arg=term.element_handle(), timeout=5000)
    assert term.get_attribute("title") == title
    quiet(page)
    context.close()
    assert not errors, errors


def test_tapping_a_term_on_a_touch_screen_shows_its_definition(site, browser, definitions):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=PHONE, touch=True, idle=False)
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")
    term, name, _ = a_term(page)
    term.tap()
    assert shown(page) == definitions[name]
    # Shown through focus, which a tap gives on every browser, also where a tap on
    # plain text sends no mouse events to hover with.
    assert page.evaluate("document.activeElement.tagName") == "ABBR"
    box = page.locator(TOOLTIP + " .md-tooltip2__inner").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # A tap anywhere else closes it.
    page.locator("article h1").tap()
    page.wait_for_selector(TOOLTIP, state="detached", timeout=5000)
    quiet(page)
    context.close()
    assert not errors, errors


def test_a_term_tapped_on_the_last_line_shows_its_whole_definition(site, browser):
    # Material opens a tooltip below its term: a term on the last line of a phone's
    # screen had its definition hanging below the bottom edge, all but a line of it
    # out of sight (glossary.js scrolls the page up just enough).
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=PHONE, touch=True, idle=False)
    term = page.locator(TERM).nth(5)
    term.evaluate("e => window.scrollBy(0, e.getBoundingClientRect().top - (innerHeight - 40))")
    page.wait_for_timeout(200)
    assert term.evaluate("e => e.getBoundingClientRect().bottom") > PHONE["height"] - 40
    term.tap()
    shown(page)
    page.wait_for_function(f"""() => {{
        const inner = document.querySelector('{TOOLTIP} .md-tooltip2__inner');
        return inner && inner.getBoundingClientRect().bottom <= innerHeight;
    }}""", timeout=5000)
    # The term stays in sight too, below the header.
    header = page.locator(".md-header").bounding_box()
    box = term.bounding_box()
    assert box["y"] >= header["y"] + header["height"], (box, header)
    assert term.evaluate("e => document.activeElement === e")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "glossary-tooltip-last-line-390.png"))
    quiet(page)
    context.close()
    assert not errors, errors


def test_the_keyboard_reaches_every_term(site, browser, definitions):
    _, base = site
    context, page, _ = open_page(browser, base + PAGE, idle=False)
    # The first use of each term is a Tab stop, and only the first (every use was: most
    # of a page's Tab stops); a later use still opens on a click.
    uses = page.eval_on_selector_all(
        ".md-content abbr", "els => els.map(e => [e.textContent.trim().toLowerCase(), e.tabIndex])")
    assert uses
    firsts = {}
    for name, index in uses:
        assert index == (0 if name not in firsts else -1), (name, index)
        firsts.setdefault(name, index)
    assert len(uses) > len(firsts), "the page uses no term twice: choose another page"
    later = page.locator(".md-content article hr ~ p abbr[tabindex='-1']").first
    later.evaluate("e => e.scrollIntoView({block: 'center'})")
    later.click()
    shown(page)
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement.blur()")
    page.wait_for_selector(TOOLTIP, state="detached", timeout=5000)
    term, name, _ = a_term(page)
    term.focus()
    assert shown(page) == definitions[name]
    tooltip = f'[id="{term.get_attribute("aria-describedby")}"].md-tooltip2--active'
    # Tab moves on (to the next term or link) and closes this one.
    page.keyboard.press("Tab")
    assert term.evaluate("e => document.activeElement !== e")
    page.wait_for_selector(tooltip, state="detached", timeout=5000)
    context.close()


@pytest.mark.parametrize("scheme", ["default", "slate"])
@pytest.mark.parametrize("width", [PHONE["width"], DESKTOP["width"]])
def test_an_open_tooltip_is_legible(site, browser, scheme, width):
    _, base = site
    touch = width == PHONE["width"]
    viewport = PHONE if touch else DESKTOP
    context, page, _ = open_page(browser, base + PAGE, viewport=viewport, scheme=scheme,
                                 touch=touch, idle=False)
    term, _, _ = a_term(page)
    term.tap() if touch else term.hover()
    shown(page)
    page.wait_for_timeout(400)  # the fade-in
    colours = page.evaluate(f"""() => {{
        const inner = document.querySelector('{TOOLTIP} .md-tooltip2__inner');
        const style = getComputedStyle(inner);
        return {{text: style.color, bg: style.backgroundColor, size: style.fontSize}};
    }}""")
    assert contrast(rgb(colours["text"]), rgb(colours["bg"])) >= 4.5, (scheme, colours)
    assert float(colours["size"].removesuffix("px")) >= 12, colours
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"glossary-tooltip-{scheme}-{width}.png"))
    context.close()


def test_glossary_page_lists_every_term_and_the_file_is_no_page(site, browser):
    out, base = site
    listed = entries(parse((REPO / SOURCE).read_text(encoding="utf-8")))
    context, page, errors = open_page(browser, base + "about/glossary/", idle=False)
    names = page.eval_on_selector_all(".roads-glossary dt",
                                      "els => els.map(e => e.textContent)")
    assert names == [", ".join(e.forms) for e in listed]
    # The list is not made of tooltips of itself.
    assert page.locator(".roads-glossary abbr").count() == 0
    quiet(page)
    context.close()
    assert not errors, errors
    assert not (out / "includes").exists()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(base + "includes/abbreviations/")
    assert missing.value.code == 404
    missing.value.close()
