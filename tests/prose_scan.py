"""Find quantities typed into prose by hand.

A page's numbers come from macros: captured values, or named constants that a test
checks against the system. What is left after code, macro calls and markup are cut
out of a page is prose, and a number there (digits, hex, or a number word) followed
by a unit or a counted noun (at most two words of description between them: "two
read-only pages"), a size with a unit letter ("4K"), a bare hex address, a bit
position, a power of two or a number of three digits or more was typed by hand. Inline
code is code, but an address or a size typed between backticks ("`0x7ffff7fbc000`",
"`8 KiB`") is still a typed quantity, and is kept for the scan. ``ALLOWED`` holds the few names
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
         "kibibytes? mebibytes? gibibytes? parts? pieces? "
         "segments? entries entry levels? characters? chars? lines? chunks? arenas? threads? "
         "process(?:es)? mappings? sections? words? times? PT_LOADs? columns? rows? steps? "
         "bins? calls? faults? folios? addresses? percent % kilobytes? megabytes? gigabytes? "
         "terabytes? digits? slots? pointers? tables? indexes indices children strings? "
         "variables? runs? checkpoints? pids? TLB").split()

NUMBER = (r"(?:0x[0-9a-fA-F]+|\d+(?:[.,]\d+)*|(?:" + "|".join(NUMBER_WORDS) + r"))")
# A count before words that describe what is counted: digits (not a version's) or a
# number word but "one" and "half", which are more often pronouns and fractions.
COUNT = r"(?:\d+|(?:" + "|".join(w for w in NUMBER_WORDS if w not in ("one", "half")) + r"))"
# Words that end a description rather than belong to it ("two of the pages" is caught
# by the first pattern; "three ways and run" is no count of runs).
NOT_DESCRIBING = ("a an and are as at be by for from in into is it its may more of on or "
                  "than that the their them then these they this those to was were which "
                  "who will with would you your later").split()
PATTERNS = {
    "a number with a unit or counted noun": re.compile(
        rf"(?<![\w.\-]){NUMBER}(?:[\s\-]|&nbsp;)+(?:(?:more|fewer|whole|small|large|"
        rf"extra|separate|different|new|other|consecutive|adjacent|physical|virtual|"
        rf"anonymous|private|shared|free|of|its|the|these|those|your|such|lowest|highest|low|high|top|"
        rf"bottom|last|first|random|guard)\s+)*(?:{'|'.join(UNITS)})\b",
        re.IGNORECASE),
    # The words between: descriptions ("read-only", "middle"), not plural nouns or
    # verbs of their own ("two programs share pages" counts programs, not pages).
    "a count of things described": re.compile(
        rf"(?<![\w.\-]){COUNT}(?:\s|&nbsp;)+(?:(?!(?:{'|'.join(NOT_DESCRIBING)})\b)"
        rf"[a-z][\w\-]*(?<!s)\s+){{1,2}}(?:{'|'.join(UNITS)})\b", re.IGNORECASE),
    "a size with a unit letter": re.compile(
        r"(?<![\w.\-])\d+(?:\.\d+)?(?:[kKMGT](?:iB|B)?|B)\b"),
    "a hex number": re.compile(r"(?<![\w])0x[0-9a-fA-F]+\b"),
    "a bit position": re.compile(r"\bbits?\s+\d+", re.IGNORECASE),
    "a power of two": re.compile(r"\b2\s*(?:\^|\*\*)\s*\d+|2[⁰¹²³⁴⁵⁶⁷⁸⁹]+"),
    "a number of three digits or more": re.compile(r"(?<![\w.\-])\d{3,}(?![\w.\-])"),
    "a bit width": re.compile(r"(?<![\w\-])\d+-bit\b"),
}
ALLOWED = re.compile(
    r"x86-64|x86_64|64-bit|32-bit|\bC(?:89|99|11|17|23)\b|\b\d+(?:\.\d+){2,}\b"
    r"|\b[45]-level\b|\bLA57\b|\bISO/IEC \d+\b|\bman \d\b|\(\d\)"
    # An instruction's name ("int 0x80", the old way into the kernel).
    r"|\bint 0x80\b"
    # A version or a step is a name, not a quantity ("Linux 6", "step 3").
    r"|\b(?:Linux|glibc|gcc|GCC|Python|Debian|Ubuntu|version|step|figure)\s+\d+(?:\.\d+)*\b",
    re.IGNORECASE)
# In inline code, what is still a typed quantity: an address (four hex digits or more)
# or a size with its unit.
CODE_QUANTITY = re.compile(r"0x[0-9a-fA-F]{4,}|\d+(?:\.\d+)?(?:\s|&nbsp;)*(?:[KMGTPE]iB|[kKMGT]B|bytes?)\b"
                           r"|(?<![\w.])\d+(?:\.\d+)?[kKMG]\b")


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
    def code(m: re.Match) -> str:  # blanked but for the quantities typed in it
        kept = [(q.start(), q.end()) for q in CODE_QUANTITY.finditer(m.group(0))]
        return "".join(ch if ch == "\n" or any(a <= i < b for a, b in kept) else " "
                       for i, ch in enumerate(m.group(0)))

    text = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", code, text, flags=re.S)
    text = re.sub(r"<[^>\n]+>", blank, text)
    text = re.sub(r"\]\([^)\n]*\)", blank, text)  # link targets
    text = re.sub(r"\{[:#.][^}\n]*\}", blank, text)  # attribute lists, heading ids
    text = re.sub(r"^\*\[[^\]]+\]:", blank, text, flags=re.M)  # abbreviation names
    return list(enumerate(text.splitlines(), start=1))


# A line break inside a paragraph, where the next line goes on with its words (not a
# list item, a quote, a table's row or a heading): read as a space.
_WRAPPED = re.compile(r"(?<=\S)[ \t]*\n(?=[ \t]*(?![-*+>|#]\s|\d+[.)]\s|\|)\S)")


def scan(markdown: str) -> list[Finding]:
    """Every typed quantity in the prose of ``markdown``. A paragraph is read whole, so
    that a quantity its lines wrap ("gives two of its / pages back") is found; each
    finding names the line it starts on."""
    text = "\n".join(line for _, line in prose_lines(markdown))
    joined = _WRAPPED.sub(lambda m: " " * len(m.group(0)), text)  # the same offsets
    findings = []
    offset = 0
    for paragraph in joined.split("\n"):  # a line, or a paragraph's wrapped lines
        cleaned = ALLOWED.sub(lambda m: " " * len(m.group(0)), paragraph)
        # Every pattern's matches, in the text's order, the longest first where several
        # start together; one that overlaps a match kept already is the same quantity.
        found = sorted(((m.start(), -len(m.group(0)), kind, m) for kind, pattern
                        in PATTERNS.items() for m in pattern.finditer(cleaned)),
                       key=lambda f: f[:2])
        kept: list[tuple[int, int]] = []
        for start, _, kind, m in found:
            if any(a < m.end() and m.start() < b for a, b in kept):
                continue
            kept.append(m.span())
            findings.append(Finding(text.count("\n", 0, offset + start) + 1, kind,
                                    " ".join(m.group(0).split())))
        offset += len(paragraph) + 1
    return findings
