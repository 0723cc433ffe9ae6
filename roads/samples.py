"""The sample manifest: ``samples/samples.toml`` read into typed, validated records.

Each table of the manifest declares one sample: how to compile it (flags,
variants), how to run it (arguments, environment, timeout, ASLR, runs), what it
must reach (checkpoints), and the sandbox limits of its runs. See
``samples/README.md`` for the schema as an author sees it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

MANIFEST = "samples.toml"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DEFAULT_FLAGS = ("-O0", "-g")


@dataclass(frozen=True)
class Limits:
    """Sandbox limits for one run of a sample."""

    processes: int = 32
    output: int = 1 << 20
    address_space: int = 4 << 30
    cpu: int = 10


@dataclass(frozen=True)
class Variant:
    """One way of compiling a sample (``pie``, ``nopie``, ``static``, or ``default``)."""

    name: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    """One declared sample, its paths resolved inside the samples folder."""

    name: str
    directory: Path
    title: str
    sources: tuple[str, ...]
    flags: tuple[str, ...]
    libs: tuple[str, ...]
    variants: tuple[Variant, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    timeout: float
    aslr: bool
    runs: int
    checkpoints: tuple[str, ...]
    gdb: str | None
    expect_exit: int | None  # None: any status is fine
    limits: Limits = field(default_factory=Limits)

    @property
    def source_paths(self) -> tuple[Path, ...]:
        """Absolute paths of the sample's C sources."""
        return tuple(self.directory / s for s in self.sources)


_KEYS = {
    "title", "source", "sources", "flags", "libs", "variants", "args", "env", "timeout",
    "aslr", "runs", "checkpoints", "gdb", "expect_exit", "limits",
}


def load_manifest(directory: str | Path) -> dict[str, Sample]:
    """Read ``samples.toml`` in ``directory`` and return its samples by name."""
    directory = Path(directory).resolve()
    path = directory / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no sample manifest here") from None
    return parse_manifest(text, directory, str(path))


def parse_manifest(text: str, directory: Path, where: str = MANIFEST) -> dict[str, Sample]:
    """Parse manifest text; ``directory`` is where the sources live."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    samples = {}
    for name in sorted(data):
        samples[name] = _sample(name, data[name], directory, where)
    return samples


def _sample(name: str, table: object, directory: Path, where: str) -> Sample:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{where}: [{name}] {key}: {why}", sample=name)

    if not NAME.match(name):
        raise ConfigError(f"{where}: [{name}]: a sample name is lowercase letters, digits, - and _")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {name} must be a table ([{name}])", sample=name)
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key; known keys: {', '.join(sorted(_KEYS))}")

    def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(key, "must be a list of strings")
        return tuple(value)

    def inside(relative: str, key: str) -> str:
        resolved = (directory / relative).resolve()
        if not resolved.is_relative_to(directory):
            raise bad(key, f"{relative!r} is outside the samples folder; refused")
        if not resolved.is_file():
            raise bad(key, f"{relative!r} does not exist in {directory}")
        return resolved.relative_to(directory).as_posix()

    source = table.get("source", f"{name}.c")
    if not isinstance(source, str):
        raise bad("source", "must be a string")
    sources = (inside(source, "source"),) + tuple(inside(s, "sources") for s in strings("sources"))

    variants_table = table.get("variants", {"default": []})
    if not isinstance(variants_table, dict) or not variants_table:
        raise bad("variants", "must be a table of name = [flags]")
    variants = []
    for vname, vflags in variants_table.items():
        if not NAME.match(vname):
            raise bad("variants", f"bad variant name {vname!r}")
        if not isinstance(vflags, list) or not all(isinstance(f, str) for f in vflags):
            raise bad(f"variants.{vname}", "must be a list of strings")
        variants.append(Variant(vname, tuple(vflags)))

    env = table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise bad("env", "must be a table of NAME = \"value\"")
    if "ROADS_FD" in env:
        raise bad("env", "ROADS_FD is set by the build")

    timeout = table.get("timeout", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        raise bad("timeout", "must be a number of seconds in (0, 600]")
    aslr = table.get("aslr", False)
    if not isinstance(aslr, bool):
        raise bad("aslr", "must be true or false")
    runs = table.get("runs", 1)
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 10:
        raise bad("runs", "must be an integer from 1 to 10")
    gdb = table.get("gdb")
    if gdb is not None:
        if not isinstance(gdb, str):
            raise bad("gdb", "must be a file name")
        gdb = inside(gdb, "gdb")
    expect = table.get("expect_exit", 0)
    if expect == "any":
        expect = None
    elif isinstance(expect, bool) or not isinstance(expect, int) or not 0 <= expect <= 255:
        raise bad("expect_exit", 'must be an exit status 0-255 or "any"')

    limits_table = table.get("limits", {})
    if not isinstance(limits_table, dict):
        raise bad("limits", "must be a table")
    defaults = Limits()
    limit_values = {}
    for key, value in limits_table.items():
        if not hasattr(defaults, key):
            raise bad(f"limits.{key}", "unknown limit; known: processes, output, address_space, cpu")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise bad(f"limits.{key}", "must be a positive integer")
        limit_values[key] = value

    title = table.get("title", name)
    if not isinstance(title, str):
        raise bad("title", "must be a string")
    return Sample(
        name=name,
        directory=directory,
        title=title,
        sources=sources,
        flags=strings("flags", DEFAULT_FLAGS),
        libs=strings("libs"),
        variants=tuple(variants),
        args=strings("args"),
        env=tuple(sorted(env.items())),
        timeout=float(timeout),
        aslr=aslr,
        runs=runs,
        checkpoints=strings("checkpoints"),
        gdb=gdb,
        expect_exit=expect,
        limits=Limits(**limit_values),
    )
