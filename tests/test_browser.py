"""The built site in a real browser: navigation, timelines, links from diagrams to
tables, search, the keyboard's focus on the palette switch (shown in both palettes).
Every figure's legibility in both palettes, each page's width on a phone, and the
site's console errors, broken links and copy buttons are checked by the legibility
harness (tests/test_browser_legibility.py), in the page loads it makes anyway.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from tests.browser import DESKTOP, open_page, quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def pages_of(out: Path) -> list[str]:
    """Every page of the built site, as a path relative to the site root."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("index.html")
                  if "assets" not in p.parts and p.parent.name != "404")


def test_navigation_follows_weights(site, browser):
    out, base = site
    context, page, _ = open_page(browser, base, idle=False)
    labels = page.eval_on_selector_all(
        "nav.md-nav--primary > ul > li > a, nav.md-nav--primary > ul > li > label, "
        "nav.md-nav--primary > ul > li > div > a",
        "els => els.map(e => e.textContent.trim())")
    context.close()
    labels = [l for l in labels if l]
    # The series' order from the content guide: weights 1, 4, 5, 9 after the home page.
    wanted = ["Hello World, the file", "All Roads To Memory", "gdb sessions", "About this site"]
    seen = [l for l in labels if l in wanted]
    assert seen == wanted, labels


def test_every_page_leads_to_the_next_in_weight_order(site, browser):
    """Previous and next at the foot of every page, walking the navigation's order (set by
    weight) from the first page to the last and back, every link reaching its page."""
    out, base = site
    context, page, _ = open_page(browser, base, idle=False)
    order = page.eval_on_selector_all(
        "nav.md-nav--primary a.md-nav__link[href]",
        "els => [...new Set(els.map(e => new URL(e.href, location.href).pathname))]")
    walked = [urllib.parse.urlparse(page.url).path]
    # Each page's "previous" link, read on the way (the way back is the same walk).
    back = []

    def previous() -> str | None:
        link = page.locator("a.md-footer__link--prev")
        return urllib.parse.urlparse(link.evaluate("a => a.href")).path if link.count() else None

    back.append(previous())
    while page.locator("a.md-footer__link--next").count():
        page.locator("a.md-footer__link--next").click()
        page.wait_for_url(lambda url: urllib.parse.urlparse(url).path != walked[-1])
        page.wait_for_load_state()
        walked.append(urllib.parse.urlparse(page.url).path)
        back.append(previous())
        assert len(walked) <= len(order) + 1, walked
    # The last page's "previous" link, clicked, reaches the page before it.
    page.locator("a.md-footer__link--prev").click()
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).path != walked[-1])
    reached = urllib.parse.urlparse(page.url).path
    context.close()
    assert walked == order, (walked, order)
    assert back == [None, *walked[:-1]], (back, walked)
    assert reached == walked[-2]


def test_update_timeline_in_the_original_style(site, browser):
    out, base = site
    context, page, _ = open_page(browser, base + "hello-world/", idle=False)
    heading = page.locator("h2", has_text="Update Timeline")
    assert heading.count() == 1
    shape = page.evaluate("""() => {
        const h = [...document.querySelectorAll('h2')].find(e => e.textContent.includes('Update Timeline'));
        const out = [];  // older entries may be folded into a box (updates.js)
        for (let e = h.nextElementSibling; e && e.tagName !== 'HR'; e = e.nextElementSibling)
            if (e.tagName !== 'BUTTON')
                for (const p of (e.tagName === 'P' ? [e] : e.children)) out.push(p.innerHTML);
        const hr = [...document.querySelectorAll('h2')].find(e => e.textContent.includes('Update Timeline'));
        let n = hr; while (n && n.tagName !== 'HR') n = n.nextElementSibling;
        return {entries: out, hr: !!n};
    }""")
    context.close()
    assert shape["hr"], "no horizontal rule after the timeline"
    entries = shape["entries"]
    assert entries, "no timeline entries"
    newest = entries[-1]
    assert re.fullmatch(r"<strong>[A-Z][a-z]+ \d{1,2}, \d{4} \(.+\)</strong>", newest), newest
    for older in entries[:-1]:
        assert re.fullmatch(r"<strong><em>[A-Z][a-z]+ \d{1,2}, \d{4} \(.+\)</em></strong>", older)


def diagram_pages(out: Path) -> list[str]:
    return [p for p in pages_of(out) if 'class="roads-vas"' in (out / p).read_text()]


def contrast(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    def lum(c):
        def ch(v):
            v /= 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        r, g, b = (ch(x) for x in c[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def rgb(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", text)[:3])


def test_clicking_a_region_reaches_its_table_row(site, browser):
    out, base = site
    # A page whose diagram links its regions to a table on the page (a time-lapse step's
    # copy of a diagram, or one shown without its table, has nothing to link to).
    rel = next(p for p in diagram_pages(out) if 'xlink:href="#map-' in (out / p).read_text())
    context, page, _ = open_page(browser, base + rel.removesuffix("index.html"), idle=False)
    # The first diagram whose regions link to a table on the page (a time-lapse step's
    # copy of a diagram has no table to link to).
    links = page.locator("svg.roads-vas a")
    first = links.evaluate_all("els => els.findIndex(e => e.getAttribute('href') || "
                               "e.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))")
    assert first >= 0, "no diagram region links to a table row"
    link = links.nth(first)
    href = link.get_attribute("href") or link.get_attribute("xlink:href")
    assert href and href.startswith("#")
    link.click()
    page.wait_for_url(lambda url: urllib.parse.urlparse(url).fragment == href[1:], timeout=5000)
    assert urllib.parse.urlparse(page.url).fragment == href[1:]
    row = page.locator(f"[id='{href[1:]}']")
    assert row.count() == 1 and row.evaluate("e => e.tagName") == "TR"
    assert row.is_visible()
    context.close()


def test_search_finds_the_mmap_threshold(site, browser):
    out, base = site
    # The search index comes after the load event: the results wait for it.
    context, page, _ = open_page(browser, base, idle=False)
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.locator("input.md-search__input").press_sequentially("mmap threshold", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=10000)
    hits = page.locator(".md-search-result__item a").evaluate_all("els => els.map(e => e.href)")
    context.close()
    assert any("dynamic-memory-allocation" in h for h in hits), hits


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_palette_switch_shows_the_keyboard_focus(site, browser, scheme):
    _, base = site
    # The reader's own palette, from the system, as a reader who never picked one has it.
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(base + "hello-world/")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('md-option')"):
                break
        else:
            raise AssertionError("Tab never reached the palette switch")
        shown = page.evaluate("""() => [...document.querySelectorAll('.md-header__option label')]
            .filter(l => getComputedStyle(l).display !== 'none')
            .map(l => ({title: l.title, outline: getComputedStyle(l).outlineStyle}))""")
        assert len(shown) == 1, shown
        assert shown[0]["outline"] != "none", f"no focus ring on the palette switch: {shown}"
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 640])
def test_the_keyboard_opens_the_navigation_drawer_and_tabs_past_it_closed(site, browser, width):
    # Below 1220 px (a phone; a desktop at 200 %, 640 px) the navigation is a drawer.
    # Closed, it lay out of sight with every link in it a Tab stop, the focus nowhere to
    # be seen (25 of a page's first 27 stops), and its menu button was no stop at all.
    _, base = site
    context, page, errors = open_page(browser, base + "all-roads-to-memory/virtual-address-space/",
                                      viewport={"width": width, "height": 844}, idle=False)
    try:
        stops = []
        for _ in range(6):
            page.keyboard.press("Tab")
            stops.append(page.evaluate("""() => {
                const e = document.activeElement, r = e.getBoundingClientRect();
                return {name: e.getAttribute('aria-label') || e.textContent.trim().slice(0, 40),
                        inDrawer: !!e.closest('.md-sidebar--primary'),
                        seen: r.right > 0 && r.left < innerWidth && r.bottom > 0 && r.top < innerHeight};
            }"""))
        assert not any(s["inDrawer"] for s in stops), stops
        # The menu button is the second stop, after "Skip to content", and shows a ring.
        assert stops[1]["name"] == "Navigation", stops
        button = page.locator(".md-header label[for='__drawer']")
        button.focus()
        assert button.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
        assert button.get_attribute("aria-expanded") == "false"
        page.keyboard.press("Enter")
        page.wait_for_function("document.activeElement.closest('.md-sidebar--primary') !== null",
                               timeout=5000)
        assert button.get_attribute("aria-expanded") == "true"
        assert page.evaluate("document.getElementById('__drawer').checked")
        # The drawer has slid in (Material's transition).
        page.wait_for_function("document.querySelector('.md-sidebar--primary')"
                               ".getAnimations({subtree: true}).length === 0", timeout=5000)
        link = page.evaluate("""() => { const r = document.activeElement.getBoundingClientRect();
            return [r.left, r.right, document.activeElement.textContent.trim()]; }""")
        assert link[0] >= 0 and link[1] <= width, link
        page.keyboard.press("Escape")
        assert not page.evaluate("document.getElementById('__drawer').checked")
        assert page.evaluate("document.activeElement === document.querySelector(\".md-header label[for='__drawer']\")")
        assert button.get_attribute("aria-expanded") == "false"
        quiet(page)
    finally:
        context.close()
    assert not errors, errors


def test_the_tab_after_an_empty_search_field_lands_on_something_seen(site, browser):
    # Material's search results box is a Tab stop; with nothing typed it has no height,
    # and the Tab after the search field left the focus on nothing to be seen.
    _, base = site
    context, page, errors = open_page(browser, base + "about/", idle=False)
    try:
        field = page.locator(".md-search__input")
        field.focus()
        page.keyboard.press("Tab")
        landed = page.evaluate("""() => { const e = document.activeElement, r = e.getBoundingClientRect();
            return {cls: String(e.className), w: r.width, h: r.height}; }""")
        assert "md-search__scrollwrap" not in landed["cls"], landed
        assert landed["w"] > 0 and landed["h"] > 0, landed
        # With a query typed there are results, and Tab still reaches them.
        field.click()
        field.press_sequentially("mmap threshold", delay=20)
        page.wait_for_selector(".md-search-result__item", timeout=10000)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('.md-search__output') !== null")
        quiet(page)
    finally:
        context.close()
    assert not errors, errors
