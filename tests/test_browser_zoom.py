"""The full-screen control of the figures, in a real browser (docs/javascripts/zoom.js).

A figure wrapped in ``.roads-zoomable`` (macros/figures.py: ``zoomable``) shows whole at
the column's width on a phone, with an "Open full screen" button that the keyboard
reaches; the button opens a modal dialog with an accessible name holding the figure;
dragging pans it, the wheel, a two-finger pinch and the + and - buttons zoom it; it
opens whole, or at the figure's own size where fitting the screen would shrink it (a
memory map on a phone), and "Fit" shows it whole;
Escape closes it, puts the figure back and gives the focus back to the button (to the
box picked there, in a figure whose boxes are picked, and the page scrolls to it). From
the keyboard: + and - zoom, 0 fits, the arrow keys pan (with Shift too), a part
focused with Tab is panned into view, and the time-lapse's up and down arrow keys go
from box to box as on the page, as the bar's hint says (Shift and an arrow pan there).
Screenshots of the open dialog in both palettes go to tests/artifacts/zoom/.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import DESKTOP, PHONE, open_page, quiet
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = REPO / "tests" / "artifacts" / "zoom"
PAGE = "hello-world/"  # three ELF figures, each with the control
MAP_PAGE = "all-roads-to-memory/virtual-address-space/"  # its diagram's boxes are links
TIMELAPSE_PAGE = "all-roads-to-memory/dynamic-memory-allocation/"
FIGURE = ".roads-zoomable"
DIALOG = "dialog.roads-zoom-dialog"


def transform(page) -> tuple[float, float, float]:
    """The dialog's view as (x, y, scale)."""
    text = page.evaluate("document.querySelector('.roads-zoom-view').style.transform")
    m = re.fullmatch(r"translate\(([-\d.e]+)px, ([-\d.e]+)px\) scale\(([-\d.e]+)\)", text)
    assert m, text
    return float(m[1]), float(m[2]), float(m[3])


def open_figure(page, index: int = 0):
    wrapper = page.locator(FIGURE).nth(index)
    wrapper.scroll_into_view_if_needed()
    wrapper.locator(".roads-zoom-open").click()
    page.wait_for_selector(DIALOG + "[open]")
    return wrapper


def shows_whole(page) -> bool:
    """Whether the figure in the dialog lies whole inside the stage (a pixel's slack)."""
    return page.evaluate("""() => {
      const st = document.querySelector('.roads-zoom-stage').getBoundingClientRect()
      const f = document.querySelector('.roads-zoom-view svg').getBoundingClientRect()
      return f.left >= st.left - 1 && f.right <= st.right + 1 &&
             f.top >= st.top - 1 && f.bottom <= st.bottom + 1
    }""")


def smallest_label_px(page) -> float:
    """The smallest on-screen font size of the dialog's figure's text, in CSS pixels."""
    return page.evaluate("""() => Math.min(...[...document.querySelectorAll(
        '.roads-zoom-view svg text')].map(t => {
          const m = t.getScreenCTM()
          return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b)
        }))""")


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_a_memory_map_opens_legible_on_a_phone(site, browser, scheme):
    """On a phone the page shows the map's narrow drawing at its own size
    (test_browser_fit): full screen opens that one, at that size, to pan; "Fit" shows
    it whole. On a desktop, where a tall map fitted to the screen was smaller than in
    the page, it opens no smaller than the page shows it."""
    _, base = site
    for viewport in (PHONE, DESKTOP):
        context, page, errors = open_page(browser, base + "all-roads-to-memory/virtual-address-space/",
                                          viewport=viewport, scheme=scheme, idle=False)
        try:
            wrapper = page.locator(FIGURE + ":has(svg.roads-vas)").first
            inline = wrapper.locator("svg:visible text").first.evaluate(
                "t => parseFloat(getComputedStyle(t).fontSize) * Math.hypot("
                "t.getScreenCTM().a, t.getScreenCTM().b)")
            wrapper.scroll_into_view_if_needed()
            wrapper.locator(".roads-zoom-open").click()
            page.wait_for_selector(DIALOG + "[open]")
            opened = smallest_label_px(page)
            if viewport is PHONE:
                assert page.locator(DIALOG + " svg.roads-vas-narrow").count() == 1
                assert transform(page)[2] == pytest.approx(1)
                assert opened >= inline - 0.01 and opened >= 11, (
                    f"full screen shows labels at {opened:.1f} px")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"map-open-390-{scheme}.png"))
                page.locator(DIALOG + " .roads-zoom-fit").click()
                assert transform(page)[2] < 1 and shows_whole(page)
            else:  # never smaller than in the page, even where that is not whole
                assert opened >= inline - 0.01, (opened, inline)
                page.locator(DIALOG + " .roads-zoom-fit").click()
                assert shows_whole(page)
            page.keyboard.press("Escape")
            quiet(page)
            assert not errors
        finally:
            context.close()


def stage_centre(page) -> tuple[float, float]:
    box = page.locator(DIALOG + " .roads-zoom-stage").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_figure_fits_a_phone_and_the_button_shows(site, browser, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=PHONE, scheme=scheme,
                                      idle=False)
    try:
        count = page.locator(FIGURE).count()
        assert count >= 3
        column = page.evaluate("document.querySelector('.md-content__inner').getBoundingClientRect().right")
        for k in range(count):
            wrapper = page.locator(FIGURE).nth(k)
            button = wrapper.locator(".roads-zoom-open")
            assert button.is_visible() and button.inner_text().strip() == "Open full screen"
            assert "full screen" in button.get_attribute("aria-label")
            right = wrapper.locator("svg").evaluate("s => s.getBoundingClientRect().right")
            assert right <= column + 1, f"figure {k} is {right - column:.0f} px wider than the column"
        quiet(page)
        assert not errors
    finally:
        context.close()


def test_button_is_reached_with_the_keyboard_and_escape_closes(site, browser):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=PHONE, scheme="default",
                                      idle=False)
    try:
        for _ in range(600):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('roads-zoom-open')"):
                break
        else:
            pytest.fail("Tab never reached an 'Open full screen' button")
        svg_label = page.evaluate(
            "document.activeElement.closest('.roads-zoomable').querySelector('svg').getAttribute('aria-label')")
        page.keyboard.press("Enter")
        dialog = page.locator(DIALOG)
        page.wait_for_selector(DIALOG + "[open]")
        assert dialog.get_attribute("role") == "dialog"
        assert dialog.get_attribute("aria-label") == f"{svg_label} (full screen)"
        assert dialog.locator("svg").count() == 1
        # The focus is in the dialog, on a button; + from the keyboard zooms.
        assert page.evaluate("document.querySelector('dialog').contains(document.activeElement)")
        _, _, before = transform(page)
        page.keyboard.press("+")
        x, y, after = transform(page)
        assert after > before
        # The arrow keys pan, with Shift or without (this figure's script takes none).
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Shift+ArrowRight")
        assert transform(page) == pytest.approx((x - 40, y - 40, after))
        hint = dialog.locator(".roads-zoom-hint")
        assert "arrow keys pan" in hint.text_content()
        assert dialog.get_attribute("aria-describedby") == hint.get_attribute("id")
        page.keyboard.press("Escape")
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        assert page.evaluate("document.activeElement.classList.contains('roads-zoom-open')")
        # The figure is back in its place, and nothing stands in for it any more.
        assert page.evaluate("document.activeElement.closest('.roads-zoomable').querySelector('svg') !== null")
        assert page.locator(".roads-zoom-placeholder").count() == 0
        quiet(page)
        assert not errors
    finally:
        context.close()


@pytest.mark.parametrize("viewport, scheme", [(PHONE, "default"), (PHONE, "slate"),
                                              (DESKTOP, "default"), (DESKTOP, "slate")])
def test_drag_pans_wheel_and_buttons_zoom(site, browser, viewport, scheme):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=viewport, scheme=scheme,
                                      idle=False)
    try:
        open_figure(page, 2)
        x0, y0, s0 = transform(page)
        cx, cy = stage_centre(page)
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx - 60, cy - 40, steps=5)
        page.mouse.up()
        x1, y1, s1 = transform(page)
        assert (round(x1 - x0), round(y1 - y0), s1) == (-60, -40, s0)

        page.mouse.move(cx, cy)
        page.mouse.wheel(0, -400)
        page.wait_for_function(f"!document.querySelector('.roads-zoom-view').style.transform.endsWith('scale({s1})')")
        x2, y2, s2 = transform(page)
        assert s2 > s1
        # The point under the pointer stays under it.
        stage = page.locator(DIALOG + " .roads-zoom-stage").bounding_box()
        px, py = cx - stage["x"], cy - stage["y"]
        assert abs((px - x1) / s1 - (px - x2) / s2) < 1
        assert abs((py - y1) / s1 - (py - y2) / s2) < 1

        page.locator(DIALOG + " .roads-zoom-out").click()
        assert transform(page)[2] < s2
        page.locator(DIALOG + " .roads-zoom-in").click()
        assert transform(page)[2] == pytest.approx(s2, rel=1e-6)
        page.locator(DIALOG + " .roads-zoom-fit").click()
        assert shows_whole(page)
        if s0 <= 1:  # opened at the figure's own size, or fitted where that was no less
            assert transform(page)[2] <= s0 + 1e-9
        else:
            assert transform(page) == pytest.approx((x0, y0, s0))

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"open-{viewport['width']}-{scheme}.png"))
        page.locator(DIALOG + " .roads-zoom-close").click()
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        quiet(page)
        assert not errors
    finally:
        context.close()


def test_pinch_zooms_on_a_touch_screen(site, browser):
    _, base = site
    context, page, errors = open_page(browser, base + PAGE, viewport=PHONE, scheme="default",
                                      touch=True, idle=False)
    try:
        open_figure(page, 0)
        _, _, s0 = transform(page)
        cx, cy = stage_centre(page)
        cdp = context.new_cdp_session(page)

        def touch(kind, spread):
            points = [] if kind == "touchEnd" else [
                {"x": cx - spread, "y": cy, "id": 0}, {"x": cx + spread, "y": cy, "id": 1}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", 30)
        for spread in range(40, 130, 10):
            touch("touchMove", spread)
        touch("touchEnd", 0)
        _, _, s1 = transform(page)
        assert s1 > 3 * s0, (s0, s1)
        # A one-finger drag pans.
        x1, y1, _ = transform(page)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": cx, "y": cy, "id": 0}]})
        for step in range(1, 6):
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                  "touchPoints": [{"x": cx + 10 * step, "y": cy, "id": 0}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        x2, y2, _ = transform(page)
        assert round(x2 - x1) == 50 and round(y2 - y1) == 0
        page.keyboard.press("Escape")
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        quiet(page)
        assert not errors
    finally:
        context.close()


# Where the dialog's focused element or picked box is, against its stage, and whether the
# stage itself was scrolled (the browser scrolls an overflow: hidden box to show a focused
# part, behind the view's pan).
IN_STAGE = """e => { const st = document.querySelector('.roads-zoom-stage');
  const s = st.getBoundingClientRect(), r = e.getBoundingClientRect();
  return {inside: r.left >= s.left && r.right <= s.right && r.top >= s.top && r.bottom <= s.bottom,
          scrolled: st.scrollTop + st.scrollLeft} }"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_a_part_tabbed_to_full_screen_is_panned_into_view(site, browser, viewport):
    """Full screen, Tab reaches the address-space diagram (its one stop) and the down and
    up arrow keys go from box to box (links; on a phone, each pointer's number after its
    box): each part focused is panned into the stage, by the view's pan, not by the
    browser scrolling the stage behind it (which left "Fit" showing the drawing cut off,
    and a box above the stage out of reach going back up)."""
    _, base = site
    context, page, errors = open_page(browser, base + MAP_PAGE, viewport=viewport,
                                      scheme="default", idle=False)
    try:
        wrapper = page.locator(FIGURE + ":has(svg.roads-vas)").first
        wrapper.scroll_into_view_if_needed()
        wrapper.locator(".roads-zoom-open").click()
        page.wait_for_selector(DIALOG + "[open]")
        links = page.locator(DIALOG + " svg a[href], " + DIALOG + " svg a[*|href]").count()
        assert links > 10
        stops = links + page.locator(DIALOG + " svg g.roads-worded[tabindex='0']").count()
        for key in ["Tab"] + ["ArrowDown"] * (stops - 1) + ["ArrowUp"] * (stops - 1):
            page.keyboard.press(key)
            assert page.evaluate("document.activeElement.closest("
                                 "'svg a, svg g.roads-worded') !== null"), key
            where = page.evaluate(f"({IN_STAGE})(document.activeElement)")
            assert where == {"inside": True, "scrolled": 0}, (key, where)
        page.keyboard.press("0")
        assert shows_whole(page)
        page.keyboard.press("Escape")
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# The box picked in the dialog's time-lapse, where it is, and what the dialog's line says.
PICKED = f"""() => {{ const d = document.querySelector('dialog.roads-zoom-dialog[open]');
  const c = d.querySelector('svg g.roads-chosen');
  return c && {{title: c.firstElementChild.textContent.trim(), ...({IN_STAGE})(c),
               shown: d.querySelector('.roads-zoom-readout').textContent.trim()}} }}"""


@pytest.mark.parametrize("viewport, scheme", [(PHONE, "slate"), (DESKTOP, "default")],
                         ids=["390-slate", "1280-default"])
def test_the_timelapse_arrow_keys_pick_boxes_full_screen(site, browser, viewport, scheme):
    """Full screen, the time-lapse's up and down arrow keys go from box to box, top down,
    as on the page, a phone's numbered pointers among them (they panned the view, and
    few of its boxes are Tab stops): it pans to
    each box picked, the dialog's line says it, the bar's hint says the keys. Shift and
    an arrow pan (the left and right arrows alone go from step to step there:
    test_the_timelapse_steps_full_screen). Tab stays in the dialog; Escape gives
    the focus to the box still picked on the page (not back to the button)."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=viewport,
                                      scheme=scheme, idle=False)
    try:
        lapse = page.locator(".roads-timelapse").first
        button = lapse.locator(".roads-timelapse-current .roads-zoom-open")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(DIALOG + "[open]")
        dialog = page.locator(DIALOG)
        prompt = dialog.locator(".roads-zoom-readout").inner_text()
        tops = page.evaluate("""() => [...document.querySelectorAll(
            'dialog.roads-zoom-dialog svg g.node')]
          .filter(n => n.firstElementChild && n.firstElementChild.localName === 'title')
          .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
          .map(n => n.firstElementChild.textContent.trim())""")
        assert len(tops) > 10
        _, y0, _ = transform(page)
        for title in tops:
            page.keyboard.press("ArrowDown")
            picked = page.evaluate(PICKED)
            assert picked == {"title": title, "inside": True, "scrolled": 0, "shown": title}, picked
        tall = page.evaluate("""() => document.querySelector('.roads-zoom-view svg')
            .getBoundingClientRect().height > document.querySelector('.roads-zoom-stage')
            .getBoundingClientRect().height""")
        if tall:  # the last box was below the stage
            assert transform(page)[1] < y0
        page.keyboard.press("ArrowUp")
        assert page.evaluate(PICKED)["title"] == tops[-2]
        hint = dialog.locator(".roads-zoom-hint").text_content()
        assert "\u2191 \u2193 pick a box" in hint and "Shift+arrows pan" in hint, hint
        assert "arrow keys go from box to box" in prompt, prompt
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"timelapse-keys-{viewport['width']}-{scheme}.png"))
        x, y, s = transform(page)
        page.keyboard.press("Shift+ArrowUp")
        page.keyboard.press("Shift+ArrowLeft")
        assert transform(page) == pytest.approx((x + 40, y + 40, s))
        assert page.evaluate(PICKED)["title"] == tops[-2]
        # Modal: Tab goes round the dialog's stops, and out of the page to the browser's
        # own (the body here), never to the page behind.
        stops = []
        count = dialog.evaluate("d => [...d.querySelectorAll('button, a[href], [tabindex]')]"
                                ".filter(e => e.tabIndex >= 0).length")
        for _ in range(count + 2):
            page.keyboard.press("Tab")
            stops.append(page.evaluate("""() => { const e = document.activeElement;
              return document.querySelector('dialog[open]').contains(e) ? 'in'
                : e === document.body ? 'out' : e.outerHTML.slice(0, 80) }"""))
        assert set(stops) == {"in", "out"}, stops
        assert "in" in stops[stops.index("out"):], stops
        picked = page.evaluate(PICKED)["title"]  # a box Tab reached is picked too
        page.keyboard.press("Escape")
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        page.evaluate(AFTER_CLOSE)
        focus = page.evaluate(FOCUS_AFTER_CLOSE)
        assert focus["picked"] and focus["box"], focus  # the box picked, in view
        assert lapse.locator(".roads-readout").inner_text() == picked
        quiet(page)
        assert not errors, errors
    finally:
        context.close()


# The time-lapse full screen: its step, the step bar's place and what the dialog shows.
LAPSE_FULL = """() => { const t = document.querySelector('.roads-timelapse');
  const d = document.querySelector('dialog.roads-zoom-dialog[open]');
  const bar = d && d.querySelector('.roads-timelapse-controls');
  const svg = d && d.querySelector('.roads-zoom-view svg');
  const c = svg && svg.querySelector('g.roads-chosen');
  return {step: t.dataset.roadsStep, barIn: Boolean(bar),
          barShown: Boolean(bar) && bar.getBoundingClientRect().height > 0,
          status: bar ? bar.querySelector('.roads-timelapse-status').textContent : null,
          live: d ? [...d.querySelectorAll('[aria-live]')].map(e => e.className) : null,
          // The drawing in the dialog is the step shown's: its place on the page is there.
          stepsPlace: [...t.querySelectorAll('.roads-timelapse-step')].findIndex(
            s => s.querySelector('.roads-zoom-placeholder')),
          chosen: c && {track: c.getAttribute('data-roads-track'),
                        title: c.firstElementChild.textContent.trim()},
          line: d && d.querySelector('.roads-zoom-readout').textContent.trim()} }"""


@pytest.mark.parametrize("viewport, scheme", [(PHONE, "slate"), (DESKTOP, "default")],
                         ids=["390-slate", "1280-default"])
def test_the_timelapse_steps_full_screen(site, browser, viewport, scheme):
    """Full screen, the time-lapse goes from step to step as on the page (a reader had
    to close the dialog for the next checkpoint): its step bar is in the dialog, above
    the drawing, with Previous, Next and the steps, and its status line, the one live
    region there, says the step; the left and right arrow keys, Home and End step, as
    the bar's hint says. Each step shown takes the place of the drawing in the dialog,
    morphing there (its boxes' transition in effect), the box picked kept where its
    region is still drawn. Escape puts the bar back and gives the focus to the box picked, if
    the step shown draws it, else to that step's button."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=viewport,
                                      scheme=scheme)
    try:
        lapse = page.locator(".roads-timelapse").first
        count = lapse.locator(".roads-timelapse-step").count()
        assert count >= 3
        lapse.locator(".roads-timelapse-current .roads-zoom-open").click()
        page.wait_for_selector(DIALOG + "[open]")
        dialog = page.locator(DIALOG)
        at = page.evaluate(LAPSE_FULL)
        assert at["step"] == "0" and at["barIn"] and at["barShown"], at
        assert at["stepsPlace"] == 0 and at["live"] == ["roads-timelapse-status"], at
        assert lapse.locator(".roads-timelapse-controls").count() == 0
        hint = dialog.locator(".roads-zoom-hint").text_content()
        assert "\u2190 \u2192 step" in hint and "Shift+arrows pan" in hint, hint
        for _ in range(3):
            page.keyboard.press("ArrowDown")
        picked = page.evaluate(LAPSE_FULL)["chosen"]
        assert picked and picked["track"], picked
        x, y, s = transform(page)
        page.keyboard.press("ArrowRight")
        moving = dialog.evaluate("""d => { const svg = d.querySelector('.roads-zoom-view svg');
          const shape = svg.querySelector('g.node polygon');
          return svg.classList.contains('roads-timelapse-moving') &&
                 parseFloat(getComputedStyle(shape).transitionDuration) }""")
        assert moving and moving > 0.3, moving  # the morph runs, in the dialog too
        at = page.evaluate(LAPSE_FULL)
        assert at["step"] == "1" and at["stepsPlace"] == 1, at
        assert at["status"].startswith(f"Step 2 of {count}"), at
        if at["chosen"]:  # the same region's box, said by the dialog's line and the status
            assert at["chosen"]["track"] == picked["track"], at
            assert at["line"] == at["chosen"]["title"] and at["status"].endswith(at["line"]), at
        # Shift and an arrow pan; the view keeps its pan and zoom from step to step.
        page.keyboard.press("Shift+ArrowLeft")
        assert transform(page) == pytest.approx((x + 40, y, s))
        assert page.evaluate(LAPSE_FULL)["step"] == "1"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(800)  # the morph's end
        page.screenshot(path=str(ARTIFACTS / f"timelapse-steps-{viewport['width']}-{scheme}.png"))
        dialog.locator(".roads-timelapse-next").click()
        assert page.evaluate(LAPSE_FULL)["step"] == "2"
        dialog.locator(".roads-timelapse-previous").click()
        assert page.evaluate(LAPSE_FULL)["step"] == "1"
        page.keyboard.press("End")
        assert page.evaluate(LAPSE_FULL)["step"] == str(count - 1)
        page.keyboard.press("Home")
        assert page.evaluate(LAPSE_FULL)["step"] == "0"
        dialog.locator(".roads-timelapse-dot").nth(2).click()
        at = page.evaluate(LAPSE_FULL)
        assert at["step"] == "2" and at["stepsPlace"] == 2, at
        page.keyboard.press("Escape")
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        page.evaluate(AFTER_CLOSE)
        assert lapse.locator(".roads-timelapse-controls").count() == 1
        assert lapse.locator(".roads-zoom-placeholder, .roads-timelapse-placeholder").count() == 0
        focus = page.evaluate(FOCUS_AFTER_CLOSE)  # the box picked if still drawn, else the button
        assert focus["box"] if focus["picked"] else focus["button"], focus
        assert lapse.evaluate("t => t.dataset.roadsStep") == "2"
        assert not errors, errors
    finally:
        context.close()


# The box picked in the time-lapse on the page, against what sticks over the window's
# top (Material's header, the step bar) and bottom (the readout that says something).
# Where the focus is after full screen closes on the time-lapse: on the box picked in
# the step shown ("box"), if one is, else on the button that opened the dialog
# ("button"); the box picked, if any ("picked": whether one is).
# Resolves once full screen has closed and its figure's scripts are done with it: the
# dialog's "close" event, a task queued when it closed, has put the drawing back
# (zoom.js's restore, after which the dialog holds no SVG) and readout.js has given the
# focus to the box picked, in the frame after (bringBack, in a requestAnimationFrame that
# the two here follow). Read at once, the focus was still the button's under load.
AFTER_CLOSE = """() => new Promise(resolve => {
  const check = () => { const d = document.querySelector('dialog.roads-zoom-dialog');
    if (d && !d.open && !d.querySelector('svg'))
      requestAnimationFrame(() => requestAnimationFrame(resolve));
    else setTimeout(check, 10) };
  check() })"""

FOCUS_AFTER_CLOSE = """() => { const a = document.activeElement;
  const t = document.querySelector('.roads-timelapse .roads-timelapse-current');
  const c = t.querySelector('g.roads-chosen');
  return {picked: !!c, box: !!(c && a.closest && a.closest('g.roads-chosen') === c),
          button: a === t.querySelector('.roads-zoom-open')} }"""


PICKED_ON_PAGE = """() => { const t = document.querySelector('.roads-timelapse');
  const c = t.querySelector('.roads-timelapse-current g.roads-chosen');
  if (!c) return null;
  const s = (c.querySelector('polygon, path') || c).getBoundingClientRect();
  const r = t.querySelector('.roads-readout').getBoundingClientRect();
  return {top: s.top, bottom: s.bottom, y: scrollY,
          covers: Math.max(document.querySelector('.md-header').getBoundingClientRect().bottom,
                           t.querySelector('.roads-timelapse-controls').getBoundingClientRect().bottom),
          readoutTop: r.top, readoutBottom: r.bottom,
          said: t.querySelector('.roads-readout').textContent.trim(),
          title: c.firstElementChild.textContent.trim()} }"""


@pytest.mark.parametrize("viewport, motion", [(PHONE, "reduce"), (DESKTOP, "no-preference")],
                         ids=["390-reduced", "1280-smooth"])
def test_closing_full_screen_brings_the_box_picked_into_view(site, browser, viewport, motion):
    """The box picked full screen stays picked on the page, its readout saying it: on
    closing, the window scrolls to show it, clear of the header and the step bar, and its
    readout (they stayed wherever the page was, the last box far under the button that
    opened the dialog); at once for a reader who asks for reduced motion, else
    smoothly. The focus goes to the box picked (zoom.js gave it back to the button that
    opened the dialog, far above it)."""
    _, base = site
    context, page, errors = open_page(browser, base + TIMELAPSE_PAGE, viewport=viewport,
                                      scheme="default")
    try:
        page.emulate_media(reduced_motion=motion)
        lapse = page.locator(".roads-timelapse").first
        button = lapse.locator(".roads-timelapse-current .roads-zoom-open")
        button.scroll_into_view_if_needed()
        button.click()
        page.wait_for_selector(DIALOG + "[open]")
        page.keyboard.press("ArrowUp")  # the last box, at the drawing's foot
        # Where the window is each time it scrolls, from the close on.
        page.evaluate("() => { window.seen = [scrollY]; addEventListener('scroll', "
                      "() => window.seen.push(scrollY)) }")
        page.keyboard.press("Escape")
        page.wait_for_selector(DIALOG + ":not([open])", state="attached")
        seen = page.evaluate("""() => new Promise(done => {  // until it stays put
          let n = -1; const t = setInterval(() => {
            if (window.seen.length === n) { clearInterval(t); done(window.seen) }
            n = window.seen.length }, 250) })""")
        if motion == "reduce":  # straight there
            assert len(set(seen)) == 2, seen
        else:  # a glide: several places on the way
            assert len(set(seen)) > 3, seen
        at = page.evaluate(PICKED_ON_PAGE)
        assert at and at["said"] == at["title"], at
        assert at["top"] >= at["covers"] and at["bottom"] <= at["readoutTop"], at
        assert 0 <= at["readoutTop"] and at["readoutBottom"] <= viewport["height"], at
        # The focus is on the box picked, where the page now is (not on the button
        # that opened the dialog, far above), and Tab goes on from there.
        page.evaluate(AFTER_CLOSE)
        focus = page.evaluate(FOCUS_AFTER_CLOSE)
        assert focus["picked"] and focus["box"], focus
        assert not errors, errors
    finally:
        context.close()
