"""Instant navigation (Material's navigation.instant) with the figures' own scripts.

Under instant navigation a click on a link of the site swaps the new page in without
loading the document again: the scripts run once, and each sets its page up through
roadsEachPage (docs/javascripts/pages.js), which follows Material's document$. Here a
reader moves by the "Next" link at the foot of a page and by the navigation's links,
and on each page reached that way the figures still work: hover linking marks a box's
table row, the full-screen view opens and closes, a glossary term shows its tooltip,
the time-lapse steps; the back button returns, with the scripts still working; a mark
left on ``window`` on the first page survives, which a full load would wipe; and the
console stays free of errors.

Material follows a link instantly only when the link's URL is in the site's sitemap,
whose addresses come from ``site_url``; the test server listens on another port, so
the test serves the sitemap with the server's own address, as a site served where its
``site_url`` says has it.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.slow]
START = "all-roads-to-memory/"  # its "Next" is the virtual address space
LINKED = "all-roads-to-memory/virtual-address-space/"
TIMELAPSE = "all-roads-to-memory/dynamic-memory-allocation/"
TERM = "article hr ~ p abbr:not(a abbr)"


def sitemap_at(context, base: str) -> None:
    """Serve sitemap.xml with its addresses moved to ``base`` (see the module's text)."""
    def fulfil(route) -> None:
        response = route.fetch()
        body = response.text()
        locs = re.findall(r"<loc>([^<]*)</loc>", body)
        root = min(locs, key=len)  # the home page: site_url itself
        route.fulfill(response=response, body=body.replace(f"<loc>{root}", f"<loc>{base}"))

    context.route("**/sitemap.xml", fulfil)


def linked_key(page) -> str:
    return page.evaluate("""() => {
      const rows = new Set([...document.querySelectorAll('tr[data-roads-region]')]
        .map(r => r.dataset.roadsRegion))
      return [...document.querySelectorAll('svg.roads-vas g[data-roads-region]')]
        .filter(g => g.getClientRects().length)  // the drawing shown (wide, or a phone's)
        .map(g => g.dataset.roadsRegion).find(k => rows.has(k) && !k.includes('/gap-'))
    }""")


def hover_links(page) -> None:
    key = linked_key(page)
    assert key, "no box with a row on the page"
    box = page.locator(f'svg.roads-vas:visible g[data-roads-region="{key}"]')
    box.scroll_into_view_if_needed()
    box.hover()
    marked = page.evaluate("[...document.querySelectorAll('.roads-linked')]"
                           ".filter(e => e.getClientRects().length)"
                           ".map(e => e.tagName.toLowerCase()).sort()")
    assert marked == ["g", "tr"], marked
    page.mouse.move(0, 0)


def zoom_opens_and_closes(page) -> None:
    button = page.locator(".roads-zoom-open:visible").first
    button.scroll_into_view_if_needed()
    button.click()
    page.wait_for_selector("dialog.roads-zoom-dialog[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog.roads-zoom-dialog[open]", state="detached")
    assert page.evaluate("document.activeElement.classList.contains('roads-zoom-open')")


def tooltip_shows(page) -> None:
    term = page.locator(TERM).first
    term.scroll_into_view_if_needed()
    term.focus()
    page.wait_for_selector(".md-tooltip2--active", timeout=5000)
    page.evaluate("document.activeElement.blur()")


def mark_the_article(page) -> None:
    """Mark the page's article before a move, for ``new_article`` to tell when the next
    page's has taken its place: the URL changes first, and until Material swaps the new
    page in, a selector also matches the old page (both have figures)."""
    page.evaluate("document.querySelector('article').dataset.roadsLeft = 'yes'")


def new_article(page) -> None:
    page.wait_for_function("document.querySelector('article') !== null"
                           " && !document.querySelector('article[data-roads-left]')")


def same_document(page) -> bool:
    return page.evaluate("window.roadsInstantMark") == "kept"


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="1280"), pytest.param(PHONE, id="390")])
def test_the_figures_work_after_instant_page_changes(site, browser, viewport) -> None:
    _, base = site
    context = browser.new_context(viewport=viewport)
    sitemap_at(context, base)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base + START)
        page.wait_for_load_state("networkidle")
        page.evaluate("window.roadsInstantMark = 'kept'")

        # "Next" at the foot of the page: the virtual address space, swapped in.
        mark_the_article(page)
        page.locator("a.md-footer__link--next").click()
        page.wait_for_url("**/" + LINKED)
        new_article(page)
        page.wait_for_selector(".roads-zoom-open:not([hidden])")
        assert same_document(page), "the page was loaded again, not swapped in"
        if viewport is DESKTOP:  # hover is a desktop's; the linking tests cover the phone
            hover_links(page)
        zoom_opens_and_closes(page)
        tooltip_shows(page)

        # A link of the navigation (on a phone, where the navigation hides in a drawer, a
        # link of the text): the page with the time-lapse.
        target = f'a[href$="{TIMELAPSE.removeprefix("all-roads-to-memory/")}"]'
        in_text = page.locator(f"article {target}")
        mark_the_article(page)
        if viewport is DESKTOP:
            page.locator(f"nav.md-nav {target}").first.click()
        elif in_text.count():
            in_text.first.click()
        else:  # the text no longer links there: the drawer's link, clicked where it is
            page.locator(f"nav.md-nav {target}").first.dispatch_event("click")
        page.wait_for_url("**/" + TIMELAPSE)
        new_article(page)
        page.wait_for_selector(".roads-timelapse--live")
        assert same_document(page)
        status = page.locator(".roads-timelapse-status").first
        before = status.text_content()
        page.locator(".roads-timelapse-next").first.scroll_into_view_if_needed()
        page.locator(".roads-timelapse-next").first.click()
        assert status.text_content() != before and "2 of" in status.text_content()
        zoom_opens_and_closes(page)

        # Back: the virtual address space again, its figures set up again.
        mark_the_article(page)
        page.go_back()
        page.wait_for_url("**/" + LINKED)
        new_article(page)
        page.wait_for_selector(".roads-zoom-open:not([hidden])")
        assert same_document(page)
        if viewport is DESKTOP:
            hover_links(page)
        zoom_opens_and_closes(page)
        assert errors == []
    finally:
        context.close()
