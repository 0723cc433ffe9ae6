"""What a figure tells about its parts beyond their labels, reachable by every reader.

A ``title`` attribute (a tooltip) is shown only while the pointer rests on its element:
no keyboard reaches an element that takes no focus, a phone's tap on plain text sends
no hover (Safari on iOS), and screen readers read it unevenly. Making every such part
a Tab stop would add a stop for each box of a figure. Instead, a figure whose parts
say more has one control, a ``<details>`` (a native disclosure: Tab, Enter or Space,
a tap, its state announced), and each part carries that more as a hint, in its own
place in the page, that shows while the control is open (``figures.css``: a figure
with an open ``roads-hints`` shows its ``roads-hint`` elements).

A figure too detailed for its column has a control of its own too, "Open full screen"
(``zoomable``), for docs/javascripts/zoom.js: the site's pages and the page ``roads
explain`` writes wrap their figures in it.

Pure: text in, HTML out (the callers escape what they pass).
"""

from __future__ import annotations

import re


def control(summary: str, body: str) -> str:
    """The figure's one control that shows or hides its hints: put it as a child of
    the ``<figure>``, before what it reveals. ``summary`` and ``body`` are HTML."""
    return (f'<details class="roads-hints"><summary>{summary}</summary>'
            f'<p class="roads-hints-body">{body}</p></details>')


def hint(inner: str, css_class: str = "") -> str:
    """A hint of one part (HTML ``inner``), hidden until its figure's control is open."""
    classes = "roads-hint" + (f" {css_class}" if css_class else "")
    return f'<span class="{classes}">{inner}</span>'


def readout(prompt: str) -> str:
    """A figure's readout: a line inside the ``<figure>``, after the drawing, where
    ``docs/javascripts/readout.js`` shows what the part last focused or tapped says
    (its SVG ``<title>``, the tooltip a resting pointer shows), and ``prompt`` (HTML)
    until then. For drawings with a part per box, each reached with the arrow keys from
    the drawing's one Tab stop: a ``<title>`` is shown by no browser on focus, and on no
    tap.

    Hidden until the script runs (it would be a prompt with nothing behind it), and on
    paper. Hidden from screen readers too, which hear what it shows otherwise, once: a
    focused part's ``<title>`` is its accessible name, read on focus; the time-lapse's
    box picked with the arrow keys (the focus stays put) is said by its stepper's
    status line, its one live region, with the step."""
    return f'<p class="roads-readout" aria-hidden="true" hidden>{prompt}</p>'


_FIGURE = re.compile(r"<figure\b[^>]*>.*?</figure>", re.S)


def zoomable(html_out: str) -> str:
    """``html_out`` with each ``<figure>`` that holds an SVG wrapped in ``.roads-zoomable``
    with an "Open full screen" button (docs/javascripts/zoom.js shows it and opens the
    figure in a dialog with pan and zoom). The page wraps its figures, not the drawing
    modules: the engine's figures stay drawings, the same in any page or test."""
    def wrap(match: re.Match[str]) -> str:
        figure = match.group(0)
        if "<svg" not in figure:
            return figure
        return ('<div class="roads-zoomable">'
                '<button type="button" class="roads-zoom-open" hidden '
                'aria-label="Open full screen, with pan and zoom">'
                "Open full screen</button>\n" + figure + "</div>")

    return _FIGURE.sub(wrap, html_out)
