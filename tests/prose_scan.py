"""Find quantities typed into prose by hand.

A page's numbers come from macros: captured values, or named constants that a test
checks against the system. What is left after code, macro calls and markup are cut
out of a page is prose, and a number there (digits, hex, or a number word) followed
by a unit or a counted noun, a bare hex address, a bit position, a power of two or a
number of three digits or more was typed by hand. ``ALLOWED`` holds the few names
and fixed facts of the platform that look like quantities but are not measurements
of anything (x86-64, 64-bit, a C standard's clause, the paging modes' names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty "
                "fifty sixty seventy eighty ninety hundred thousand million billion dozen "
                "half").split()
UNITS = ("KiB MiB GiB TiB PiB EiB KB MB GB TB kB B bytes? bits? pages? frames? regions? "
         "segments? entries entry levels? characters? chars? lines? chunks? arenas? threads? "
         "process(?:es)? mappings? sections? words? times? PT_LOADs? columns? rows? steps? "
         "bins? calls? faults? folios? addresses? percent % kilobytes? megabytes? gigabytes? "
         "terabytes? digits? slots? pointers? tables? indexes indices children strings? "
         "variables? runs? checkpoints? pids? TLB").split()

NUMBER = (r"(?:0x[0-9a-fA-F]+|\d+(?:[.,]\d+)*|(?:" + "|".join(NUMBER_WORDS) + r"))")
PATTERNS = {
    "a number with a unit or counted noun": re.compile(
        rf"(?<![\w.\-]){NUMBER}(?:[\s\-]|&nbsp;)+(?:(?:more|fewer|whole|small|large|"
        rf"extra|separate|different|new|other|consecutive|adjacent|physical|virtual|"
        rf"anonymous|private|shared|free|of|its|the|such|lowest|highest|low|high|top|"
        rf"bottom|last|first|random|guard)\s+)*(?:{'|'.join(UNITS)})\b",
        re.IGNORECASE),
    "a hex number": re.compile(r"(?<![\w])0x[0-9a-fA-F]+\b"),
    "a bit position": re.compile(r"\bbits?\s+\d+", re.IGNORECASE),
    "a power of two": re.compile(r"\b2\s*(?:\^|\*\*)\s*\d+|2[⁰¹²³⁴⁵⁶⁷⁸⁹]+"),
    "a number of three digits or more": re.compile(r"(?<![\w.\-])\d{3,}(?![\w.\-])"),
    "a bit width": re.compile(r"(?<![\w\-])\d+-bit\b"),
}
ALLOWED = re.compile(
    r"x86-64|x86_64|64-bit|32-bit|\bC(?:89|99|11|17|23)\b|\b\d+(?:\.\d+){2,}\b"
    r"|\b[45]-level\b|\bLA57\b|\bISO/IEC \d+\b|\bman \d\b|\(\d\)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    line: int
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.line}: {self.kind}: {self.text!r}"


def prose_lines(markdown: str) -> list[tuple[int, str]]:
    """The page's prose, line by line (numbers count the front matter): code blocks,
    inline code, macro calls, comments and HTML tags blanked out."""
    text = markdown
    # Blank instead of delete, so line numbers stay.
    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    text = re.sub(r"\A---\n.*?\n---\n", blank, text, flags=re.S)
    text = re.sub(r"^([ \t]*)(```|~~~).*?^\1\2[^\n]*$", blank, text, flags=re.S | re.M)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", blank, text, flags=re.S)
    text = re.sub(r"<!--.*?-->", blank, text, flags=re.S)
    text = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", blank, text, flags=re.S)
    text = re.sub(r"<[^>\n]+>", blank, text)
    text = re.sub(r"\]\([^)\n]*\)", blank, text)  # link targets
    text = re.sub(r"\{[:#.][^}\n]*\}", blank, text)  # attribute lists, heading ids
    text = re.sub(r"^\*\[[^\]]+\]:", blank, text, flags=re.M)  # abbreviation names
    return list(enumerate(text.splitlines(), start=1))


def scan(markdown: str) -> list[Finding]:
    """Every typed quantity in the prose of ``markdown``."""
    findings = []
    for number, line in prose_lines(markdown):
        cleaned = ALLOWED.sub(lambda m: " " * len(m.group(0)), line)
        seen: set[tuple[int, int]] = set()
        for kind, pattern in PATTERNS.items():
            for m in pattern.finditer(cleaned):
                if any(a <= m.start() < b for a, b in seen):
                    continue
                seen.add(m.span())
                findings.append(Finding(number, kind, m.group(0).strip()))
    return findings
