"""Two clones at different paths build the same bytes.

gcc records the folder it runs in as DWARF's compile directory; unless it is mapped, the
debug strings grow with the clone's path, every later section offset moves, and a
refresh from another clone rewrites the ELF record of every capture. A real sample is
built from two scratch copies whose paths differ in length (one of them named through a
symbolic link in $PWD, which gcc prefers to getcwd), as a dynamic PIE and statically.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from roads.capture.build import compile_variant
from roads.capture.elf import read_elf
from roads.capture.samples import load_manifest

pytestmark = [pytest.mark.gcc, pytest.mark.usefixtures("no_leftovers")]

REPO = Path(__file__).resolve().parent.parent
MANIFEST = """\
[layout]
checkpoints = ["running"]

[layout.variants]
pie = ["-fPIE", "-pie"]
static = ["-static"]
"""


def copy_project(root: Path) -> Path:
    """A project at ``root`` holding the real layout sample and its header."""
    samples = root / "samples"
    samples.mkdir(parents=True)
    for name in ("layout.c", "roads.h"):
        shutil.copy(REPO / "samples" / name, samples / name)
    (samples / "samples.toml").write_text(MANIFEST)
    return samples


def build(samples: Path, variant: str) -> Path:
    sample = load_manifest(samples)["layout"]
    chosen = next(v for v in sample.variants if v.name == variant)
    return compile_variant(sample, chosen, samples.parent / ".cache").binary


@pytest.mark.parametrize("variant", ["pie", "static"])
def test_two_clones_build_the_same_binary(tmp_path: Path, monkeypatch, variant: str) -> None:
    short = tmp_path / "a" / "p"
    long = tmp_path / "a-much-longer-folder-name" / "clone"
    link = tmp_path / "through-a-link"
    link.symlink_to(long)
    built = {}
    for root, pwd in ((short, short), (long, link)):
        samples = copy_project(root)
        monkeypatch.setenv("PWD", str(pwd))
        built[root] = build(samples, variant)
    one, other = (path.read_bytes() for path in built.values())

    assert one == other, f"{variant}: the binaries of the two clones differ"
    assert read_elf(built[short]) == read_elf(built[long])
    for data in (one, other):
        for path in (short, long, link, tmp_path):
            assert str(path).encode() not in data, f"{path} is in the {variant} binary"
    # The compile directory reads "." (not empty: the assembler would fill in its own).
    info = subprocess.run(["readelf", "--debug-dump=info", str(built[short])],
                          capture_output=True, text=True, check=True).stdout
    comp_dirs = {line.rsplit(":", 1)[1].strip() for line in info.splitlines()
                 if "DW_AT_comp_dir" in line and "line string" in line}
    assert comp_dirs == {"."}
