"""The sample manifest: ``samples/samples.toml`` read into typed, validated records.

Each table of the manifest declares one sample: how to compile it (flags,
variants), how to run it (arguments, environment, timeout, ASLR, runs), what it
must reach (checkpoints), and the sandbox limits of its runs. See
``samples/README.md`` for the schema as an author sees it.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, toml_problem

MANIFEST = "samples.toml"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_FLAGS = ("-O0", "-g")
# Checkpoint, address and range names: what roads.h carries unchanged (every byte but
# blanks and controls, UTF-8 included) and what a capture can hold, at most NAME_BYTES
# bytes of UTF-8. The runner holds the names a run sends to the same rule.
NAME_BYTES = 64
# Checkpoints a manifest entry may require, and that one run may reach: each one is a
# snapshot of the whole address space in the capture (tens of kilobytes).
MAX_CHECKPOINTS = 32
# Regions one checkpoint may hold (the kernel allows vm.max_map_count, 65530 by default):
# a capture of more would take gigabytes over a run's checkpoints, and no figure of them
# could be read. The largest sample here maps a few dozen.
MAX_REGIONS = 1024
# The highest value of each limit (the schema in samples/README.md says the same). The
# launcher counts at most 4096 processes; the runner holds the output in memory.
LIMIT_CAPS = {"processes": 1024, "output": 16 << 20, "address_space": 64 << 30, "cpu": 600}
# What one process of a run may record (roads.h's ROADS_ADDRESS and ROADS_RANGE), and the
# pages of one range: each range's pagemap bits are copied into every later checkpoint.
MAX_ADDRESSES = 64
MAX_RANGES = 16
MAX_RANGE_PAGES = 4096
# Variants of one sample, and items of each list (sources, args, flags, env...).
MAX_VARIANTS = 8
MAX_ITEMS = 64
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# gcc runs code of its own choosing when told to (-wrapper, -fplugin=, -B, -specs=,
# -Wl,-plugin=, @file): flags, libs and variants are checked against what is known to be
# harmless, not against what is known to be bad. samples/README.md lists them.
ALLOWED_FLAGS = re.compile(r"""^(?:
    -O[0-3sgz]? | -Ofast
  | -g(?:[0-3]|gdb|dwarf(?:-[2-5])?)?
  | -std=[a-z0-9+]+
  | -static | -static-pie | -pie | -no-pie | -rdynamic | -pthread
  | -nostdlib | -nostartfiles | -nodefaultlibs
  | -f(?:no-)?(?:PIE|pie|PIC|pic|omit-frame-pointer|stack-protector(?:-all|-strong|-explicit)?
              |stack-clash-protection|cf-protection(?:=[a-z]+)?|common|builtin|inline
              |asynchronous-unwind-tables|unwind-tables|strict-aliasing|plt
              |semantic-interposition|optimize-sibling-calls|zero-initialized-in-bss
              |data-sections|function-sections|tree-vectorize|unroll-loops)
  | -[DU][A-Za-z_][A-Za-z0-9_]*(?:=[A-Za-z0-9_.+-]*)?
  | -w | -W(?:no-)?(?:error=)?[a-z0-9-]+(?:=[0-9a-z-]+)?
  | -Wl,(?:-z,(?:norelro|relro|now|lazy|noexecstack|execstack|separate-code|noseparate-code
                |(?:max|common)-page-size=(?:0x[0-9a-fA-F]+|[0-9]+))
          |--build-id(?:=none|=sha1)? | --(?:no-)?as-needed | --hash-style=(?:gnu|sysv|both)
          |-Ttext-segment=0x[0-9a-fA-F]+ | -N | -n | --no-relax | -e,[A-Za-z_][A-Za-z0-9_]*)
  | -m(?:64|no-red-zone|cmodel=(?:small|medium|large)|(?:arch|tune)=[a-z0-9-]+)
  | -l[A-Za-z0-9_+-]+
)$""", re.X)
# Capabilities by number (linux/capability.h): a sample runs with none of them unless its
# manifest entry declares it under `privileges`, and only these may be declared; the rest
# would let the sample undo its sandbox (CAP_SYS_ADMIN remounts, CAP_SYS_PTRACE steers
# the launcher) or reach the machine (modules, reboot, raw devices aside).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
DECLARABLE = ("CAP_SYS_RAWIO", "CAP_IPC_LOCK", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
              "CAP_PERFMON", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE")


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
    privileges: tuple[str, ...] = ()  # capabilities the sample keeps (CAPABILITIES names)

    @property
    def privilege_mask(self) -> int:
        """The declared capabilities as the launcher takes them: bit n for capability n."""
        return sum(1 << CAPABILITIES.index(name) for name in self.privileges)

    @property
    def source_paths(self) -> tuple[Path, ...]:
        """Absolute paths of the sample's C sources."""
        return tuple(self.directory / s for s in self.sources)


_KEYS = {
    "title", "source", "sources", "flags", "libs", "variants", "args", "env", "timeout",
    "aslr", "runs", "checkpoints", "gdb", "expect_exit", "limits", "privileges",
}


@dataclass(frozen=True)
class Manifest:
    """The manifest read entry by entry: a broken entry is an error of its sample only."""

    samples: dict[str, Sample]
    broken: dict[str, ConfigError]  # by the entry's name: why it cannot be used

    @property
    def names(self) -> list[str]:
        """Every declared name, usable or not, sorted."""
        return sorted({*self.samples, *self.broken})


_BLANK = re.compile(r"\s")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a checkpoint, address or range; None when it can."""
    if not name:
        return "is empty"
    if len(name.encode("utf-8", "surrogatepass")) > NAME_BYTES:
        return f"is longer than {NAME_BYTES} bytes"
    if not name.isprintable() or _BLANK.search(name):  # \s is str.isspace's set
        return ("holds a blank, control or format character (roads.h sends blanks and "
                "controls as '_'; names are printable text without blanks)")
    return None


def load_manifest(directory: str | Path) -> dict[str, Sample]:
    """The usable samples of ``samples.toml`` in ``directory`` by name; the first broken
    entry's ConfigError if there is one (``read_manifest`` keeps the others)."""
    manifest = read_manifest(directory)
    for name in sorted(manifest.broken):
        raise manifest.broken[name]
    return manifest.samples


def read_manifest(directory: str | Path) -> Manifest:
    """Read ``samples.toml`` in ``directory``; ConfigError only when no entry can be read."""
    directory = Path(directory).resolve()
    path = directory / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no sample manifest here") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the sample manifest: {exc}") from None
    return parse_manifest(text, directory, shown(path))


def shown(path: Path) -> str:
    """The manifest as an error names it, from the project's folder as the build names
    its pages (``samples/samples.toml``), wherever the command runs."""
    return f"{path.parent.name}/{path.name}"


_TABLE = re.compile(r"""^\s*\[\[?\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))""")


def _owners(lines: list[str]) -> list[str | None]:
    """For each line, the entry (first key of the last table header) it belongs to."""
    owner, owners = None, []
    for line in lines:
        m = _TABLE.match(line)
        if m:
            owner = next(g for g in m.groups() if g is not None)
            if m.group(1) is not None:  # a basic string: its escapes name the entry
                try:
                    owner = tomllib.loads(f'k = "{owner}"')["k"]
                except tomllib.TOMLDecodeError:
                    pass
        owners.append(owner)
    return owners


def parse_manifest(text: str, directory: Path, where: str = MANIFEST) -> Manifest:
    """Parse manifest text; ``directory`` is where the sources live.

    A TOML syntax error inside one entry's tables costs that entry only: its lines are
    blanked and the rest parsed again. Only an error outside every table (or one the
    blanking cannot get past) is an error of the whole manifest.
    """
    lines = text.splitlines(keepends=True)
    owners = _owners(lines)
    broken: dict[str, ConfigError] = {}
    while True:
        kept = "".join("\n" if owners[i] in broken else line for i, line in enumerate(lines))
        try:
            data = tomllib.loads(kept)
            break
        except tomllib.TOMLDecodeError as exc:
            found, problem = toml_problem(kept, str(exc))
            number = found or len(lines)
            owner = owners[number - 1] if 0 < number <= len(lines) else None
            if owner is None or owner in broken:
                raise ConfigError(f"{where}:{number}: {problem}") from None
            broken[owner] = ConfigError(f"{where}:{number}: [{owner}] {problem}", sample=owner)
    samples = {}
    for name in sorted(data):
        try:
            samples[name] = _sample(name, data[name], directory, where, lines, owners)
        except ConfigError as exc:
            broken[name] = exc
    return Manifest(samples, broken)


def _line_of(lines: list[str], owners: list[str | None], name: str, key: str) -> int | None:
    """The 1-based line of ``key`` (its last dotted part) in entry ``name``, else its header."""
    last = re.escape(key.rsplit(".", 1)[-1])
    assign = re.compile(rf"""^\s*(?:[\w."'-]+\.)?["']?{last}["']?\s*=""")
    header = None
    for i, line in enumerate(lines):
        if owners[i] != name:
            continue
        if header is None and _TABLE.match(line):
            header = i + 1
        if key and assign.match(line):
            return i + 1
    return header


def line_of(text: str, name: str, key: str) -> int | None:
    """The 1-based line of ``key`` in entry ``name`` of the manifest ``text``, else the
    entry's header; None where the entry is not there."""
    lines = text.splitlines()
    return _line_of(lines, _owners(lines), name, key)


def _sample(name: str, table: object, directory: Path, where: str,
            lines: list[str] = (), owners: list[str | None] = ()) -> Sample:
    def at(key: str = "") -> str:
        line = _line_of(list(lines), list(owners), name, key)
        return f"{where}:{line}" if line else where

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{at(key)}: [{name}] {key}: {why}", sample=name)

    if not NAME.fullmatch(name):
        raise ConfigError(f"{at()}: [{name[:80]}]: a sample name is 1 to 64 lowercase letters, "
                          "digits, - and _, starting with a letter or digit", sample=name[:80])
    if not isinstance(table, dict):
        raise ConfigError(f"{at()}: {name} must be a table ([{name}])", sample=name)
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key; known keys: {', '.join(sorted(_KEYS))}")

    def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(key, "must be a list of strings")
        if len(value) > MAX_ITEMS:
            raise bad(key, f"at most {MAX_ITEMS} items")
        if any("\0" in v for v in value):
            raise bad(key, "a string holds a NUL character, which no argument can")
        return tuple(value)

    def inside(relative: str, key: str) -> str:
        if relative not in ("", ".", "..") and "/" not in relative:
            # A plain name: a regular file (not a link) of that name is the answer
            # ``resolve`` would give, found with one lstat instead of a walk.
            try:
                if stat.S_ISREG(os.lstat(os.path.join(directory, relative)).st_mode):
                    return relative
            except (OSError, ValueError):
                pass
        if "\0" in relative:
            raise bad(key, f"{relative[:80]!r} holds a NUL character, which no file name can")
        try:
            resolved = (directory / relative).resolve()
            if not resolved.is_relative_to(directory):
                raise bad(key, f"{relative[:80]!r} is outside the samples folder; refused")
            # Strict, for a loop of links to raise on every Python (a lax resolve stops
            # raising for one in 3.13) and a missing file to say so.
            found = (directory / relative).resolve(strict=True).is_file()
        except FileNotFoundError:
            found = False
        except (OSError, RuntimeError) as exc:  # too long, a loop of links (RuntimeError
            # before Python 3.13, OSError after), a folder that cannot be read
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise bad(key, f"{relative[:80]!r} cannot be read as a file: {why}") from None
        if not found:
            raise bad(key, f"{relative[:80]!r} does not exist in {directory}")
        return resolved.relative_to(directory).as_posix()

    def compiled(relative: str, key: str) -> str:
        # gcc hands its compiler the file's name (-dumpbase NAME.c), and the compiler
        # reads a name beginning with '@' as a file of options (libiberty's expandargv):
        # any flag the allow-list refuses, -fplugin= included, could come in so.
        found = inside(relative, key)
        if os.path.basename(found).startswith("@"):
            raise bad(key, f"{relative[:80]!r}: a file name beginning with '@', which gcc's "
                      "compiler reads as a file of options; refused (rename the file)")
        return found

    source = table.get("source", f"{name}.c")
    if not isinstance(source, str):
        raise bad("source", "must be a string")
    sources = (compiled(source, "source"),) + tuple(compiled(s, "sources")
                                                    for s in strings("sources"))

    variants_table = table.get("variants", {"default": []})
    if not isinstance(variants_table, dict) or not variants_table:
        raise bad("variants", "must be a table of name = [flags]")
    if len(variants_table) > MAX_VARIANTS:
        raise bad("variants", f"at most {MAX_VARIANTS}")
    variants = []
    for vname, vflags in variants_table.items():
        if not NAME.fullmatch(vname):
            raise bad("variants", f"bad variant name {vname!r}")
        if not isinstance(vflags, list) or not all(isinstance(f, str) for f in vflags):
            raise bad(f"variants.{vname}", "must be a list of strings")
        variants.append(Variant(vname, tuple(vflags)))

    def allowed(key: str, flags: tuple[str, ...]) -> tuple[str, ...]:
        for flag in flags:
            if not ALLOWED_FLAGS.fullmatch(flag):
                raise bad(key, f"{flag[:80]!r} is not an allowed compiler or linker flag; "
                          "refused (samples/README.md lists the flags a sample may use)")
        return flags

    for variant in variants:
        allowed(f"variants.{variant.name}", variant.flags)
    privileges = strings("privileges")
    for privilege in privileges:
        if privilege not in DECLARABLE:
            raise bad("privileges", f"{privilege[:80]!r} cannot be declared; a sample may keep "
                      f"only {', '.join(DECLARABLE)}")

    env = table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise bad("env", "must be a table of NAME = \"value\"")
    if "ROADS_FD" in env:
        raise bad("env", "ROADS_FD is set by the build")
    if len(env) > MAX_ITEMS:
        raise bad("env", f"at most {MAX_ITEMS} variables")
    for key, value in env.items():
        if not ENV_NAME.fullmatch(key) or "\0" in value:
            raise bad("env", f"{key[:80]!r}: a variable name is letters, digits and _ "
                      "(not starting with a digit), its value holds no NUL")

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
        cap = LIMIT_CAPS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= cap:
            raise bad(f"limits.{key}", f"must be an integer from 1 to {cap}")
        limit_values[key] = value

    checkpoints = strings("checkpoints")
    if len(checkpoints) > MAX_CHECKPOINTS:
        raise bad("checkpoints", f"at most {MAX_CHECKPOINTS} (a run may reach no more)")
    for checkpoint in checkpoints:
        problem = name_problem(checkpoint)
        if problem:
            raise bad("checkpoints", f"{checkpoint[:80]!r} {problem}: no run could reach it")

    title = table.get("title", name)
    if not isinstance(title, str):
        raise bad("title", "must be a string")
    return Sample(
        name=name,
        directory=directory,
        title=title,
        sources=sources,
        flags=allowed("flags", strings("flags", DEFAULT_FLAGS)),
        libs=allowed("libs", strings("libs")),
        variants=tuple(variants),
        args=strings("args"),
        env=tuple(sorted(env.items())),
        timeout=float(timeout),
        aslr=aslr,
        runs=runs,
        checkpoints=checkpoints,
        gdb=gdb,
        expect_exit=expect,
        limits=Limits(**limit_values),
        privileges=tuple(sorted(set(privileges))),
    )
