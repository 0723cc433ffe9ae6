"""Hover linking and the time-lapse in a real browser, at phone and desktop width, in both
palettes.

Linking: hovering a region's box in an address-space diagram marks its row in the
memory-map table of the same checkpoint, and the other way round; the same with the
keyboard's focus (Tab, and the arrow keys from box to box), which shows a ring. Time-lapse: the stepper goes through every
checkpoint with its buttons and with the arrow keys, naming each step; the figure morphs;
without JavaScript every step shows, in order.

Screenshots go to tests/artifacts/linking/ (not tracked) for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, open_page, quiet
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = REPO / "tests" / "artifacts" / "linking"
LINKED_PAGE = "all-roads-to-memory/virtual-address-space/"
TIMELAPSE_PAGE = "all-roads-to-memory/dynamic-memory-allocation/"
SCREENS = [pytest.param(v, s, id=f"{v['width']}-{s}") for v in (PHONE, DESKTOP)
           for s in ("default", "slate")]
# What shows marked: the address-space diagram is drawn twice (wide, and narrow for a
# phone), and linking.js marks a region's box in both; the stylesheet shows one.
MARKED = "[...document.querySelectorAll('.roads-linked')].filter(e => e.getClientRects().length).map(e => e.tagName.toLowerCase() + ' ' + e.getAttribute('data-roads-region')).sort()"


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def pair(key: str) -> list[str]:
    return sorted([f"g {key}", f"tr {key}"])


def paired_keys(page) -> list[str]:
    """The regions of the page that have both a box and a row."""
    return page.evaluate("""() => {
      const rows = new Set([...document.querySelectorAll('tr[data-roads-region]')]
        .map(r => r.dataset.roadsRegion))
      return [...document.querySelectorAll('svg.roads-vas g[data-roads-region]')]
        .filter(g => g.getClientRects().length)
        .map(g => g.dataset.roadsRegion).filter(k => rows.has(k) && !k.includes('/gap-'))
    }""")


def box(page, key: str):
    return page.locator(f'svg.roads-vas:visible g[data-roads-region="{key}"]')


def row(page, key: str):
    return page.locator(f'tr[data-roads-region="{key}"]')


# --------------------------------------------------------------------------- linking


@pytest.mark.parametrize("viewport,scheme", SCREENS)
def test_hovering_a_box_marks_its_row_and_the_row_its_box(site, browser, viewport, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + LINKED_PAGE, viewport=viewport, scheme=scheme,
                                      idle=False)
    keys = paired_keys(page)
    assert len(keys) >= 10, keys
    heap = next(k for k in keys if box(page, k).get_attribute("class").find("roads-kind-heap") >= 0)
    plain = row(page, keys[0]).evaluate("r => getComputedStyle(r.cells[0]).backgroundColor")

    box(page, heap).hover()
    assert page.evaluate(MARKED) == pair(heap)
    marked = row(page, heap).evaluate("r => getComputedStyle(r.cells[0]).backgroundColor")
    assert marked != plain, "the marked row looks like any other"
    shoot(page, f"hover-box-{viewport['width']}-{scheme}")
    row(page, heap).scroll_into_view_if_needed()
    shoot(page, f"hover-box-row-{viewport['width']}-{scheme}")

    other = keys[1]
    row(page, other).hover()
    assert page.evaluate(MARKED) == pair(other)
    accent = page.evaluate("getComputedStyle(document.body).getPropertyValue('--md-accent-fg-color').trim()")
    stroke = box(page, other).locator("polygon").evaluate("p => getComputedStyle(p).stroke")
    assert stroke == page.evaluate(f"(() => {{ const e = document.createElement('i'); e.style.color = '{accent}'; document.body.append(e); const c = getComputedStyle(e).color; e.remove(); return c }})()")
    box(page, other).scroll_into_view_if_needed()
    shoot(page, f"hover-row-box-{viewport['width']}-{scheme}")

    page.mouse.move(0, viewport["height"] - 1)
    page.wait_for_function("!document.querySelector('.roads-linked')", timeout=5000)
    quiet(page)
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("viewport,scheme", SCREENS)
def test_keyboard_focus_links_both_ways_with_a_ring(site, browser, viewport, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + LINKED_PAGE, viewport=viewport, scheme=scheme,
                                      idle=False)
    keys = paired_keys(page)

    # Rows: the down arrow key from one to the next, from a row whose next row is a
    # region's too (the diagram lists its boxes top down; the table's rows have gaps
    # between them). The table is one Tab stop: Tab leaves it, Shift+Tab comes back to
    # the row focused last.
    start, after = page.evaluate("""keys => { const rows = [...document.querySelectorAll(
        'tr[data-roads-region]')].map(r => r.dataset.roadsRegion);
      const k = rows.findIndex((k, i) => keys.includes(k) && keys.includes(rows[i + 1]));
      return [rows[k], rows[k + 1]] }""", keys)
    assert start, keys
    row(page, start).focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.dataset.roadsRegion")
    assert page.evaluate("document.activeElement.tagName") == "TR" and focused == after
    assert page.evaluate(MARKED) == pair(focused)
    table = row(page, start).evaluate("r => r.closest('table').id || r.closest('table').outerHTML.slice(0, 60)")
    page.keyboard.press("Tab")
    assert not row(page, start).evaluate("r => r.closest('table').contains(document.activeElement)"), table
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.roadsRegion") == after
    ring = page.evaluate("[getComputedStyle(document.activeElement).outlineStyle, getComputedStyle(document.activeElement).outlineWidth]")
    assert ring[0] != "none" and float(ring[1].removesuffix("px")) >= 2, ring
    shoot(page, f"focus-row-{viewport['width']}-{scheme}")

    # Boxes: the down arrow key from one box's link to the next box's (the drawing is one
    # Tab stop).
    box(page, keys[0]).locator("a").focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.closest('[data-roads-region]').dataset.roadsRegion")
    assert page.evaluate("document.activeElement.closest('svg.roads-vas') !== null")
    assert page.evaluate(MARKED) == pair(focused) or focused.split("/")[-1].startswith("gap-")
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert ring != "none"
    shoot(page, f"focus-box-{viewport['width']}-{scheme}")

    page.keyboard.press("ArrowUp")
    back = page.evaluate("document.activeElement.closest('[data-roads-region]').dataset.roadsRegion")
    assert back == keys[0] and page.evaluate(MARKED) == pair(keys[0])
    quiet(page)
    context.close()
    assert not errors, errors


def test_a_table_without_its_diagram_adds_no_tab_stops(site, browser):
    _, base = site
    context, page, errors = open_page(browser, base + "hello-world/", scheme="default", idle=False)
    rows = page.locator("tr[data-roads-region]")
    assert rows.count() > 0
    assert page.locator("tr[data-roads-region][tabindex]").count() == 0
    rows.nth(1).hover()
    assert page.evaluate(MARKED) == []
    quiet(page)
    context.close()
    assert not errors, errors


# --------------------------------------------------------------------------- time-lapse


def step_state(page) -> dict:
    return page.evaluate("""() => {
      const root = document.querySelector('.roads-timelapse')
      const shown = [...root.querySelectorAll('.roads-timelapse-step')]
        .filter(s => s.getBoundingClientRect().height > 0)
      return {step: Number(root.dataset.roadsStep), shown: shown.map(s => s.dataset.roadsCheckpoint),
              status: root.querySelector('.roads-timelapse-status').textContent}
    }""")


def steps_without_script(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('.roads-timelapse-step')].map(s => ({
      name: s.dataset.roadsCheckpoint,
      head: s.querySelector('.roads-timelapse-head').textContent.replace(/\\s+/g, ' ').trim(),
      change: s.querySelector('.roads-timelapse-change').textContent.trim(),
    }))""")


@pytest.mark.parametrize("viewport,scheme", SCREENS)
def test_the_stepper_goes_through_every_checkpoint_with_its_buttons(site, browser, viewport, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=viewport,
                                      scheme=scheme, idle=False)
    steps = steps_without_script(page)
    assert len(steps) >= 3
    root = page.locator(".roads-timelapse")
    root.scroll_into_view_if_needed()
    width = viewport["width"]
    # The figure's transitions counted as they start: a busy machine may look only after
    # they ended.
    page.evaluate("window.roadsRuns = 0; document.addEventListener('transitionrun', e => {"
                  " if (e.target.closest && e.target.closest('.roads-timelapse-current'))"
                  " window.roadsRuns += 1 })")
    for k, step in enumerate(steps):
        if k:
            runs = page.evaluate("window.roadsRuns")
            page.locator(".roads-timelapse-next").click()
            # The figure morphs: its boxes move after the step.
            page.wait_for_function(f"window.roadsRuns > {runs}", timeout=10_000)
            if k == 1:
                page.evaluate("document.getAnimations().forEach(a => { a.pause(); a.currentTime = 250 })")
                page.evaluate("document.querySelector('.roads-timelapse-current svg').scrollIntoView({block: 'end'})")
                shoot(page, f"timelapse-morph-{width}-{scheme}")
            page.evaluate("document.getAnimations().forEach(a => a.finish())")
        state = step_state(page)
        assert state["step"] == k and state["shown"] == [step["name"]]
        assert f"Step {k + 1} of {len(steps)}" in state["status"]
        assert step["name"] in state["status"] and step["change"] in state["status"]
        page.evaluate("document.querySelector('.roads-timelapse-current svg').scrollIntoView({block: 'end'})")
        shoot(page, f"timelapse-{width}-{scheme}-{k}")
    assert page.locator(".roads-timelapse-next").get_attribute("aria-disabled") == "true"
    page.locator(".roads-timelapse-next").click(force=True)  # aria-disabled: Playwright would wait
    assert step_state(page)["step"] == len(steps) - 1
    for k in reversed(range(len(steps) - 1)):
        page.locator(".roads-timelapse-previous").click()
        assert step_state(page)["shown"] == [steps[k]["name"]]
    page.locator(".roads-timelapse-dot").nth(len(steps) - 1).click()
    assert step_state(page)["step"] == len(steps) - 1
    quiet(page)
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("viewport,scheme", SCREENS)
def test_the_arrow_keys_step_through_it(site, browser, viewport, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=viewport,
                                      scheme=scheme, idle=False)
    steps = steps_without_script(page)
    page.locator(".roads-timelapse-steps").focus()
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert ring != "none"
    for k in range(1, len(steps)):
        page.keyboard.press("ArrowRight")
        state = step_state(page)
        assert state["shown"] == [steps[k]["name"]] and steps[k]["change"] in state["status"]
    page.keyboard.press("ArrowRight")
    assert step_state(page)["step"] == len(steps) - 1
    page.keyboard.press("ArrowLeft")
    assert step_state(page)["step"] == len(steps) - 2
    page.keyboard.press("Home")
    assert step_state(page)["step"] == 0
    # From the buttons too: the keys work wherever the focus is in the time-lapse.
    page.locator(".roads-timelapse-next").focus()
    page.keyboard.press("End")
    assert step_state(page)["step"] == len(steps) - 1
    quiet(page)
    context.close()
    assert not errors, errors


def test_reduced_motion_steps_without_moving(site, browser):
    _, base = site
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    page = context.new_page()
    page.goto(base + TIMELAPSE_PAGE)
    page.locator(".roads-timelapse-next").click()
    assert step_state(page)["step"] == 1
    assert page.evaluate("document.getAnimations().length") == 0
    context.close()


@pytest.mark.parametrize("viewport,scheme", SCREENS)
def test_without_javascript_every_step_shows_in_order(site, browser, viewport, scheme):
    _, base = site
    context = browser.new_context(viewport=viewport, java_script_enabled=False)
    page = context.new_page()
    page.goto(base + TIMELAPSE_PAGE)
    page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
    steps = page.locator(".roads-timelapse-step")
    count = steps.count()
    assert count >= 3 and page.locator(".roads-timelapse-controls").count() == 0
    tops = []
    for k in range(count):
        step = steps.nth(k)
        assert step.is_visible()
        assert step.locator(".roads-timelapse-head").is_visible()
        assert step.locator("svg.roads-vas:visible").count() == 1  # wide, or a phone's
        assert step.locator(".roads-timelapse-head").inner_text().startswith(f"{k + 1} of {count}")
        tops.append(step.bounding_box()["y"])
    assert tops == sorted(tops) and len(set(tops)) == count
    steps.nth(1).scroll_into_view_if_needed()
    shoot(page, f"timelapse-nojs-{viewport['width']}-{scheme}")
    context.close()


# A phone's numbered pointers and their lines of the key in the step shown: each by its
# pointer's name (from its words), its top in the drawing (CSS px), and its opacity.
POINTERS_SHOWN = """() => {
  const svg = window.roadsDrawing(document.querySelector('.roads-timelapse-current'));
  const top = svg.getBoundingClientRect().top;
  const name = words => words.replace(/\\s+/g, ' ').trim().replace(/^\\d+:? +/, '')
    .replace(/ 0x[0-9a-f]+$/, '');
  return [...svg.querySelectorAll('g.roads-pointer')].map(g => ({
    kind: g.classList.contains('roads-key') ? 'key' : 'number',
    name: name(g.classList.contains('roads-key') ? g.textContent
                                                 : g.firstElementChild.textContent),
    top: g.querySelector('text').getBoundingClientRect().top - top,
    opacity: Number(getComputedStyle(g).opacity)}));
}"""


def test_a_timelapse_number_moves_only_as_the_same_pointer(site, browser):
    """On a phone the time-lapse's pointers are numbers, top down, and the set of them
    changes from step to step: number 2 of one step (main) is another pointer than
    number 2 of the next (first-malloc). The morph matched them by their text, and slid
    one pointer's number to another's place. Caught at the start of each morph: a number
    (or a line of the key) of a pointer the step before had starts where that pointer's
    was, and one of a pointer new in the step fades in."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=PHONE,
                                      scheme="default", idle=False)
    try:
        steps = page.locator(".roads-timelapse").first.locator(".roads-timelapse-step").count()
        renumbered = 0
        for k in range(1, steps):
            before = {(p["kind"], p["name"]): p for p in page.evaluate(POINTERS_SHOWN)}
            page.locator(".roads-timelapse-next").first.click()
            page.evaluate("document.getAnimations().forEach(a => { a.pause(); a.currentTime = 0 })")
            after = page.evaluate(POINTERS_SHOWN)
            page.evaluate("document.getAnimations().forEach(a => a.finish())")
            assert after, f"step {k + 1} shows no numbered pointer"
            for p in after:
                was = before.get((p["kind"], p["name"]))
                if was is None:
                    assert p["opacity"] == 0, (k, p)  # new here: fades in
                else:
                    assert p["opacity"] == 1 and abs(p["top"] - was["top"]) < 1.5, (k, p, was)
            renumbered += sum(1 for p in after if p["kind"] == "number"
                              and (p["kind"], p["name"]) not in before)
        assert renumbered, "no step brings a new pointer: nothing was tested"
        quiet(page)
        assert not errors, errors
    finally:
        context.close()
