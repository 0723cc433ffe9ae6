"""The sandboxed half of ``roads explain``: ``python -m roads.explain.inner job.json``,
run by the launcher (``roads.explain.session._in_sandbox``). It traces the program
described in job.json and writes result.json beside it: the capture document and how
the run ended, or the error. Progress lines go to stderr."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from ..errors import RoadsError


def main(argv: list[str]) -> int:
    from .ptrace import not_dumpable
    from .record import session_json
    from .session import REFUSED, namespaces, refused, trace_program

    # The program is this process's child, of the same user: it must not reach the pipes
    # to roads explain outside (/proc/PPID/fd/1 and 2: output without end, lines that
    # read as roads explain's own) nor this process's memory (/proc/PPID/mem).
    not_dumpable()

    job_path = Path(argv[0])
    job = json.loads(job_path.read_text())
    job["path"] = os.path.abspath(job["path"])  # ./NAME: compiled into the run's folder
    out = job_path.with_name("result.json")

    def progress(line: str) -> None:
        print(f"roads explain: {line}", file=sys.stderr, flush=True)

    if refused(job.get("outside", {}), namespaces()):
        progress(REFUSED)
    try:
        session = trace_program(job, progress)
        result = session_json(session)
    except RoadsError as exc:
        result = {"error": exc.located()}
    # The program wrote this folder too: a name it planted (a FIFO, a link, a folder at
    # result.part) must not take the write. A file of a name of our own, renamed into place.
    fd, partial = tempfile.mkstemp(prefix=".result.", dir=out.parent)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(result))
    os.replace(partial, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
