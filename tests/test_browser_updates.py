"""The Update Timeline folded in a real browser (docs/javascripts/updates.js): entries
before the newest behind a button when there are two or more of them, every entry shown
without scripts and on paper, in the original style either way."""

from __future__ import annotations

import re

from tests.browser import PHONE, open_page, quiet

ENTRY = r"<strong>(<em>)?[A-Z][a-z]+ \d{1,2}, \d{4} \(.+\)(</em>)?</strong>"

# Every paragraph of the block from its heading to its rule, folded or not, and what is
# shown of it.
BLOCK = """() => {
    const h = document.getElementById('update-timeline');
    const out = {entries: [], shown: [], buttons: [], rule: false};
    for (let e = h.nextElementSibling; e; e = e.nextElementSibling) {
        if (e.tagName === 'HR') { out.rule = true; break; }
        if (e.tagName === 'BUTTON') out.buttons.push({text: e.textContent,
            expanded: e.getAttribute('aria-expanded'), controls: e.getAttribute('aria-controls')});
        for (const p of (e.tagName === 'P' ? [e] : e.querySelectorAll('p'))) {
            out.entries.push(p.innerHTML);
            out.shown.push(p.getClientRects().length > 0);
        }
    }
    return out;
}"""


def dates(entries: list[str]) -> list[str]:
    return [re.search(r"[A-Z][a-z]+ \d{1,2}, \d{4}", e).group(0) for e in entries]


def test_older_entries_are_folded_behind_a_button_that_unfolds_them(site, browser):
    out, base = site
    context, page, errors = open_page(browser, base + "all-roads-to-memory/virtual-address-space/",
                                      viewport=PHONE, touch=True, idle=False)
    block = page.evaluate(BLOCK)
    entries = block["entries"]
    assert block["rule"] and len(entries) >= 3, block
    assert all(re.fullmatch(ENTRY, e) for e in entries), entries
    # Only the newest shows; the button says how many are folded and since when.
    assert block["shown"] == [False] * (len(entries) - 1) + [True], block
    [button] = block["buttons"]
    first = dates(entries)[0]
    assert button["text"] == f"Show {len(entries) - 1} earlier updates, since {first}", button
    assert button["expanded"] == "false"
    assert page.locator(f"#{button['controls']}").count() == 1
    # The newest entry sits right above the rule, below the fold: the page begins soon.
    rule_top = page.evaluate("() => document.querySelector('#update-timeline ~ hr').getBoundingClientRect().top")
    assert rule_top < PHONE["height"], rule_top
    # A tap unfolds every entry, in their order; another folds them again.
    page.locator("button.roads-updates-toggle").click()
    opened = page.evaluate(BLOCK)
    assert opened["shown"] == [True] * len(entries) and opened["entries"] == entries, opened
    assert opened["buttons"][0]["expanded"] == "true"
    assert opened["buttons"][0]["text"].startswith("Hide ")
    page.locator("button.roads-updates-toggle").click()
    assert page.evaluate(BLOCK)["shown"] == block["shown"]
    # The keyboard reaches it and opens it too.
    page.locator("button.roads-updates-toggle").focus()
    page.keyboard.press("Enter")
    assert page.evaluate(BLOCK)["shown"] == [True] * len(entries)
    quiet(page)
    assert errors == []
    context.close()


def test_every_entry_shows_on_paper_and_without_scripts(site, browser):
    out, base = site
    url = base + "all-roads-to-memory/virtual-address-space/"
    context, page, _ = open_page(browser, url, idle=False)
    folded = page.evaluate(BLOCK)
    page.emulate_media(media="print")
    printed = page.evaluate(BLOCK)
    button_shown = page.evaluate(
        "() => document.querySelector('button.roads-updates-toggle').getClientRects().length > 0")
    context.close()
    assert False in folded["shown"]
    assert printed["shown"] == [True] * len(printed["entries"]), printed
    assert not button_shown
    # No scripts: the block as the build wrote it, every entry in view, no button.
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    html = page.content()  # the page as parsed, no script having touched it
    context.close()
    block = re.search(r'<h2 id="update-timeline">.*?</h2>(.*?)<hr', html, re.S).group(1)
    assert "roads-updates" not in block
    paragraphs = re.findall(r"<p>(.*?)</p>", block, re.S)
    assert dates(paragraphs) == dates(folded["entries"]), paragraphs
    assert all(re.fullmatch(ENTRY, p, re.S) for p in paragraphs)


def test_a_page_with_fewer_than_two_older_entries_is_not_folded(site, browser):
    out, base = site
    context, page, _ = open_page(browser, base + "whats-new/", idle=False)
    block = page.evaluate(BLOCK)
    context.close()
    assert block["entries"] and block["buttons"] == [] and all(block["shown"]), block


def test_a_page_reached_by_instant_navigation_is_folded_once(site, browser):
    out, base = site
    context, page, _ = open_page(browser, base, idle=False)
    page.locator("a[href$='virtual-address-space/']").first.click()
    page.wait_for_url(re.compile(r"virtual-address-space/$"))
    page.wait_for_function("() => document.querySelector('button.roads-updates-toggle') !== null")
    block = page.evaluate(BLOCK)
    context.close()
    assert len(block["buttons"]) == 1 and block["shown"][-1] and not block["shown"][0], block
