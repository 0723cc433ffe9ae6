"""roads explain as a learner tried it on ordinary programs of their own: a script whose
interpreter is not there, a program whose child runs a program of its own, a C++
function named as it is written, a small library opened with dlopen."""

from __future__ import annotations

import pytest

from tests.test_explain import explain, root  # noqa: F401 - root is a fixture


@pytest.mark.parametrize("line, missing", [
    ("#!/nonexistent/interp", "/nonexistent/interp: no such program"),
    ("#!/usr/bin/env roads-no-such-interpreter", "roads-no-such-interpreter: not found on PATH"),
])
def test_a_script_whose_interpreter_is_missing_is_said_to_be_one(root, tmp_path, monkeypatch,
                                                                 capsys, line, missing):
    """A script whose #! line names an interpreter that is not there cannot be run by a
    shell either ('bad interpreter'): the message said to run that interpreter, with a
    command line that fails in its turn."""
    script = tmp_path / "job.sh"
    script.write_text(f"{line}\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert explain(root, "--", "./job.sh") == 1
    err = capsys.readouterr().err
    assert f"roads: error: ./job.sh is a script whose interpreter cannot be run ({missing})" \
        in err, err
    assert "roads explain --" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.sh"]
