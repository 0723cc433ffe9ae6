"""roads explain: what the program wrote, told where the command writes no page."""

from __future__ import annotations

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture

pytestmark = [pytest.mark.dot]

# Writes a file in the folder it runs from, which the sandbox keeps read-only.
WRITER = r"""
#include <stdio.h>
int main(void) {
    for (int i = 1; i <= 25; i++)
        printf("line %d\n", i);
    FILE *f = fopen("notes.txt", "w");
    if (!f) {
        perror("notes.txt");
        return 1;
    }
    return 0;
}
"""


def test_a_run_that_ends_before_its_first_stop_says_what_the_program_wrote(
        root, tmp_path, monkeypatch, capsys, no_leftovers):
    """'writer.c exited with status 1 before reaching main:2; nothing was captured' was
    all: the program's own words on why it stopped (perror's, here that the sandbox's
    files are read-only) were lost with the page that was not written. The error now
    ends with the last lines of each stream, and, for a write the sandbox refused, where
    the program may write."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "writer.c").write_text(WRITER)
    assert explain(root, "--at", "main:2", "--", "writer.c") == 1
    err = capsys.readouterr().err
    head = "roads: error: writer.c exited with status 1 before reaching main:2; nothing was captured"
    assert head in err, err
    told = err.split(head, 1)[1]
    assert "\nwriter.c wrote to its stdout (the last 20 of 25 lines):\n  | line 6\n" in told
    assert told.count("  | line ") == 20 and "  | line 25\n" in told
    assert "\nwriter.c wrote to its stderr:\n  | notes.txt: Read-only file system\n" in told
    assert "--no-sandbox runs the program as you" in told
    assert sorted(p.name for p in tmp_path.iterdir()) == ["writer.c"]
