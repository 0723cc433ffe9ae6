"""roads explain as a learner tries it: where the page goes (a device, a link), a stop at
the program's entry point, a process read with --pid (its command line as it is, a
kernel thread), output cut short, and a script named as the program."""

from __future__ import annotations

import os
from pathlib import Path

from roads.explain.command import file_problem
from roads.explain.page import write_page


def test_a_page_written_to_a_device_leaves_the_device_in_place(tmp_path):
    """--out naming /dev/null (here through a link, which a test may make without
    touching /dev) writes into it: the page was written beside it and renamed over it,
    and as root `roads explain --out /dev/full` put a regular file in /dev's place."""
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    write_page("<p>page</p>", link)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert Path("/dev/null").is_char_device()
    assert file_problem(str(link)) is None


def test_a_page_written_through_a_link_replaces_its_target_and_keeps_the_link(tmp_path):
    """A link named by --out stays a link; the file it names gets the page."""
    (tmp_path / "pages").mkdir()
    target = tmp_path / "pages" / "real.html"
    target.write_text("old")
    link = tmp_path / "page.html"
    link.symlink_to(target)
    write_page("<p>new</p>", link)
    assert link.is_symlink()
    assert target.read_text() == "<p>new</p>"
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["real.html"]
