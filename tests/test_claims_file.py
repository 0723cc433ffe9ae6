"""tests/claims.toml: well formed, about pages that exist, each claim checked by a test."""

from __future__ import annotations

import re

import pytest

from roads.words.claims import load_claims, parse_claims, render_claims
from roads.errors import ConfigError
from tests.conftest import REPO

CLAIMS = load_claims(REPO / "tests" / "claims.toml")


def test_every_claim_is_about_a_page_that_exists():
    assert CLAIMS
    missing = sorted({c.page for c in CLAIMS if not (REPO / c.page).is_file()})
    assert missing == []


def test_every_claim_names_a_test_file_that_exists():
    assert {c.test_file for c in CLAIMS} <= {p.name for p in (REPO / "tests").glob("test_*.py")}


def test_no_claim_is_made_twice():
    texts = [(c.page, c.text) for c in CLAIMS]
    assert len(texts) == len(set(texts))


def test_a_malformed_entry_is_named():
    with pytest.raises(ConfigError, match="claim 2 needs id, page, text and test"):
        parse_claims('[[claim]]\nid = "a"\npage = "a"\ntext = "b"\ntest = "f.py::t"\n'
                     '[[claim]]\nid = "b"\npage = "a"\ntext = "b"\n', "x.toml")


def test_rendering_escapes_and_groups_by_page():
    claims = parse_claims('[[claim]]\nid = "a"\npage = "docs/a.md"\ntext = "x < y"\n'
                          'test = "t.py::t1"\n'
                          '[[claim]]\nid = "b"\npage = "docs/a.md"\ntext = "z"\ntest = "t.py::t2"\n')
    out = render_claims(claims, {"docs/a.md": "Page A"})
    assert "<summary>Page A: 2 claims</summary>" in out and "x &lt; y" in out


# --------------------------------------------------------------------------- pages and words

CALL = re.compile(r"\{\{\s*claim\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}")


RAW = re.compile(r"\{%\s*raw\s*%\}.*?\{%\s*endraw\s*%\}", re.S)


def page_calls() -> dict[str, list[str]]:
    """The claim ids each page calls, in order (an example between raw tags, as the
    authoring guide quotes one, is not a call)."""
    return {p.relative_to(REPO).as_posix():
            CALL.findall(RAW.sub("", p.read_text(encoding="utf-8")))
            for p in sorted((REPO / "docs").rglob("*.md"))}


def test_every_claim_is_on_its_page_once():
    """The page shows the tested words: it calls the claim, it does not retype it."""
    calls = page_calls()
    wrong = [(c.id, c.page, calls.get(c.page, []).count(c.id)) for c in CLAIMS
             if calls.get(c.page, []).count(c.id) != 1]
    assert wrong == [], "claims not called exactly once on their page: (id, page, calls)"


def test_pages_call_only_their_own_claims():
    owner = {c.id: c.page for c in CLAIMS}
    stray = [(page, cid) for page, ids in page_calls().items() for cid in ids
             if owner.get(cid) != page]
    assert stray == [], "claim() calls of unknown claims or of another page's claims"


def test_ids_are_unique_and_named():
    with pytest.raises(ConfigError, match="id 'a' is used twice"):
        parse_claims('[[claim]]\nid = "a"\npage = "p"\ntext = "b"\ntest = "f.py::t"\n'
                     '[[claim]]\nid = "a"\npage = "p"\ntext = "c"\ntest = "f.py::u"\n')
    with pytest.raises(ConfigError, match="lower-case words"):
        parse_claims('[[claim]]\nid = "A b"\npage = "p"\ntext = "b"\ntest = "f.py::t"\n')


@pytest.mark.parametrize("mutate, problem", [
    ('[{path = ["a"], set = 1}]', "needs a sample"),
    ('[{sample = "s", path = ["a"]}]', "exactly one of"),
    ('[{sample = "s", set = 1}]', "needs a path"),
    ('[{sample = "s", path = ["a"], add = "x"}]', "add takes a number"),
    ('[{sample = "s", path = ["a"], copy = "b"}]', "copy takes a path"),
    ('[{sample = "s", call = "nofunction"}]', "module:function"),
    ('[{sample = "s", path = ["a"], set = 1, colour = 2}]', "unknown keys"),
])
def test_a_malformed_mutation_is_named(mutate, problem):
    with pytest.raises(ConfigError, match=f"claim 'a': mutate .*{problem}"):
        parse_claims(f'[[claim]]\nid = "a"\npage = "p"\ntext = "b"\ntest = "f.py::t"\n'
                     f'mutate = {mutate}\n')


def test_a_copy_step_takes_the_value_at_another_path():
    from tests.claims_support import apply_step

    document = {"runs": [{"a": 1}, {"a": 2}]}
    apply_step(document, {"sample": "s", "path": ["runs", 1, "a"], "copy": ["runs", 0, "a"]}, "x")
    assert document == {"runs": [{"a": 1}, {"a": 1}]}


def test_a_mutation_path_that_misses_says_what_is_there():
    """A misspelt name in a mutation's path said only "no item matches": it names what
    the path could have picked at that point."""
    from tests.claims_support import MutationError, apply_step

    document = {"runs": [{"addresses": [{"name": "shared", "value": 1},
                                        {"name": "seen", "value": 2}]}]}
    step = {"sample": "s", "path": ["runs", 0, "addresses", {"name": "sen"}, "value"], "set": 3}
    with pytest.raises(MutationError, match=r"^x: no item matches \{'name': 'sen'\} "
                                            r"\(name here: 'shared', 'seen'\)$"):
        apply_step(document, step, "x")
    step = {"sample": "s", "path": ["runs", 0, "adresses", {"name": "seen"}, "value"], "set": 3}
    with pytest.raises(MutationError, match=r"^x: no 'adresses' in the capture at that point "
                                            r"\(keys: addresses\)$"):
        apply_step(document, step, "x")
    step = {"sample": "s", "path": ["runs", 2, "addresses"], "set": 3}
    with pytest.raises(MutationError, match=r"^x: no 2 in the capture at that point "
                                            r"\(a list of 1 item\(s\)\)$"):
        apply_step(document, step, "x")


@pytest.mark.parametrize("module_file", sorted({c.test_file for c in CLAIMS}))
def test_claim_tests_and_claims_match_one_to_one(module_file):
    """Every claim names a test of its file, no two claims share one, and every test of
    a claims file is some claim's: a test nobody's words depend on is not a claim test."""
    import importlib

    module = importlib.import_module(f"tests.{module_file.removesuffix('.py')}")
    listed = [c.test_name for c in CLAIMS if c.test_file == module_file]
    assert len(listed) == len(set(listed)), "two claims share a test"
    here = {name for name, value in vars(module).items()
            if name.startswith("test_") and callable(value)}
    assert set(listed) == here, {"claims without a test": set(listed) - here,
                                 "tests without a claim": here - set(listed)}


def test_words_that_only_call_macros_render_as_jinja_renders_them():
    """The claims' fast path (roads.words.claims.simple_calls) against Jinja itself, for
    every claim of the file and a few made-up words, with macros that echo their call."""
    import jinja2

    from roads.words.claims import simple_calls

    def echo(name):
        return lambda *args, **kwargs: f"<{name}{args}{sorted(kwargs.items())}>"

    macros = {"value": echo("value"), "const": echo("const")}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals.update(macros)
    texts = [c.text for c in load_claims(REPO / "tests" / "claims.toml")] + [
        "plain words", "{{ value('brk', 'x(y)') }} and {{ const('PAGE_SIZE', fmt='int') }}.",
        "{{value('a','b',run=1)}}{{ const( 'X' ) }}", "a {{ value('a', 'b') | upper }}",
        "{{ value(*args) }}", "{{ 2 * value('a', 'b') }}", "ends in a newline {{ const('X') }}\n",
        "{{ value('a', 'b') * const('X') }}", "{{ value('a', 'b') ~ const('X') }}",
        "a brace } and {{ const('X') }} {", "{{ value('a', \"b's\") }}"]
    fast = 0
    for text in texts:
        parts = simple_calls(text)
        if parts is None:
            continue
        fast += 1
        mine = "".join(p if isinstance(p, str) else str(macros[p[0]](*p[1], **p[2])) for p in parts)
        assert mine == env.from_string(text).render(), text
    assert fast > len(texts) / 2, "the fast path took too few of the claims"
    for text in ("a {{ value('a', 'b') | upper }}", "{{ 2 * value('a', 'b') }}",
                 "{{ value(*args) }}", "{% set n = 1 %}{{ n }}", "ends {{ const('X') }}\n",
                 "{{ value('a', 'b') * const('X') }}",
                 # Jinja makes "\r\n" "\n", and reads these literals otherwise or not at all
                 "a\r\nb {{ value('x', 'y') }}", "{{ value(b'x') }}", "{{ value({1, 2}) }}",
                 "{{ value(.5) }}", "{{ value(...) }}", "{{ value(1j) }}", "{{ value(0x10) }}",
                 "{{ value('a\\tb') }}", "{{ value(r'a') }}", "{{ value(True) }}"):
        assert simple_calls(text) is None, text


# Words that switch on a capture's facts, walked by macros.interpret (not compiled) and
# compared with Jinja's own rendering: what the fake macros answer decides the branches.
_ANSWERS = {
    "numbers": lambda sample, what, **kw: str(sum(map(ord, what + sample)) % 9000 + 10),
    "none": lambda sample, what, **kw: "none",
    "xonly": lambda sample, what, **kw: "xonly",
    "five": lambda sample, what, **kw: "5",
    "hex": lambda sample, what, **kw: "0x7ffff7dd5000",
}
_MADE_UP = [
    "{% set a = 7 %}{% set b = 3 %}{{ a // b }} {{ a / b }} {{ a % b }} {{ a ** b }} {{ -a }}",
    "{% if 1 > 2 %}no{% elif 2 > 1 > 0 %}yes{% else %}never{% endif %}",
    "{{ 'x' if 0 else 'y' }}{{ 1 and 'a' }}{{ 0 or 'b' }}{{ not 0 }}{{ 'a' ~ 1 ~ none }}",
    "{{ 'b' in 'abc' }}{{ 'z' not in ['a', 'b'] }}{{ (1, 2) }}{{ [3] }}",
    "{{ '{:,}'.format(1234567) }} {{ 'abc'.upper() }} {{ [1, 2][1] }} {{ 'xyz'[0] }}",
    "{{ '%#x' % (4096 - 4096 % 8) }} {{ '  pad ' | trim }} {{ 'abc' | length }} {{ '3.7' | int }}",
    "{{ value('s', 'w') | int + const('X', fmt='int') | int }}",
    "{%- if value('s', 'w') == 'none' -%}\n  none\n{%- else %} some {% endif -%}",
]
_NOT_WALKED = [  # each left to Jinja: a loop, a test, a variable, a slice, a filter block
    "{% for i in range(3) %}{{ i }}{% endfor %}", "{{ 1 is odd }}", "{{ page }}",
    "{{ 'abc'[1:] }}", "{% filter upper %}x{% endfilter %}", "{{ value(*['a', 'b']) }}",
    "{{ unknown_macro('a') }}", "{{ 'a' | no_such_filter }}",
    # Jinja refuses these when it compiles them, whichever branch a capture takes.
    "{{ value('a', 'b') == 'x' and ('a' | nosuch) }}",
    "{% set x = value('a', 'b') == 'x' and 'a' | nosuch %}{{ x }}",
    "{{ value('a', 'b') > '6' > ('a' | nosuch) }}",
    "{% if value('a', 'b') == 'x' %}{% for loop in [1] %}{% endfor %}{% endif %}ok",
]


@pytest.mark.parametrize("answers", sorted(_ANSWERS))
def test_claims_words_walked_render_as_jinja_renders_them(answers):
    """Every claim's words and a few made up, walked (macros.interpret) and compiled
    (Jinja itself), with macros that answer as ``answers`` says: the same text, or,
    where Jinja raises, the same exception, or nothing walked (the compiled template
    then raises it)."""
    import jinja2

    from macros import interpret

    macros = {"value": _ANSWERS[answers], "const": lambda name, fmt=None, cite=False: "12"}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals.update(macros)

    def lookup(name):
        return macros[name]  # KeyError for any other name, as macros.claims._macro

    walked = 0
    for text in [c.text for c in CLAIMS if "{" in c.text] + _MADE_UP:
        try:
            theirs = env.from_string(text).render()
        except Exception as error:  # noqa: BLE001 - what the compiled template raises
            try:
                mine = interpret.render(env, text, lookup)
            except Exception as walked_error:  # noqa: BLE001
                assert type(walked_error) is type(error), text
            else:
                assert mine is None, text
            continue
        mine = interpret.render(env, text, lookup)
        assert mine is None or mine == theirs, text
        walked += mine is not None
    if answers == "numbers":  # no claim's words fail with numbers for values
        assert walked == len([c for c in CLAIMS if "{" in c.text]) + len(_MADE_UP)
    for text in _NOT_WALKED:
        assert interpret.render(env, text, lookup) is None, text


def test_words_left_to_jinja_call_no_macro_first_and_a_macros_error_is_raised():
    """What the walk leaves to Jinja is found before any macro is called (Jinja calls
    them again: a failing one would warn twice); an exception a macro raises comes out
    of the walk itself, as it comes out of the compiled template."""
    import jinja2

    from macros import interpret

    calls: list[str] = []

    def value(sample, what, **kw):
        calls.append(what)
        if what == "fails":
            raise LookupError("no such value")
        return "5"

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    lookup = {"value": value}.__getitem__
    @jinja2.pass_context
    def with_context(context):
        return "ctx"

    class Called:
        @jinja2.pass_context
        def __call__(self, context):
            return "ctx"

    names = {"value": value, "with_context": with_context, "called": Called()}
    lookup = names.__getitem__
    for text in ("{{ value('a', 'b') }}{% for i in [1] %}{{ i }}{% endfor %}",
                 "{{ value('a', 'b') }}{{ page }}", "{{ value('a', 'b') | nosuch }}",
                 # a name set after it is read, or in a branch not taken: the context's
                 "{{ value('a', 'b') }}{{ x }}{% set x = 1 %}",
                 "{{ value('a', 'b') }}{% if false %}{% set x = 1 %}{% endif %}{{ x }}",
                 # what takes the context, on itself or on its __call__
                 "{{ value('a', 'b') }}{{ with_context() }}", "{{ value('a', 'b') }}{{ called() }}",
                 # what Jinja refuses to compile: a keyword twice, a float Python cannot write
                 "{{ value('a', 'b') }}{{ value(a=1, a=2) }}",
                 "{{ value('a', 'b') }}{% set x = 1e400 %}{{ x }}"):
        assert interpret.render(env, text, lookup) is None, text
    assert calls == []
    # Set before it is read, in a branch taken: the template's own value.
    assert interpret.render(env, "{% set x = 1 %}{% if x %}{% set y = 2 %}{{ y }}{% endif %}",
                            lookup) == "2"
    with pytest.raises(LookupError, match="no such value") as raised:
        interpret.render(env, "{{ value('a', 'b') }} {{ value('a', 'fails') }}", lookup)
    assert calls == ["b", "fails"]
    # Any error once a macro was called is raised, as the compiled template raises it
    # after calling the same macro; the macro's own exception keeps its cause.
    with pytest.raises(ZeroDivisionError):
        interpret.render(env, "{{ value('a', 'b') }}{{ 1 // 0 }}", lookup)
    assert calls == ["b", "fails", "b"]

    def chained(sample, what):
        try:
            {}["key"]
        except KeyError as cause:
            raise ValueError("boom") from cause

    with pytest.raises(ValueError) as raised:
        interpret.render(env, "{{ chained('a', 'b') }}", {"chained": chained}.__getitem__)
    assert isinstance(raised.value.__cause__, KeyError)

    # A function that raises StopIteration gives an undefined value, as Jinja's Context.call
    # has it: an error under the site's strict undefined, nothing with the default one.
    def stops():
        raise StopIteration

    with pytest.raises(jinja2.UndefinedError):
        interpret.render(env, "{{ stops() }}", {"stops": stops}.__getitem__)
    lenient = jinja2.Environment()
    lenient.globals["stops"] = stops
    assert interpret.render(lenient, "[{{ stops() }}]", {"stops": stops}.__getitem__) == \
        lenient.from_string("[{{ stops() }}]").render() == "[]"
    # A chained comparison gives Python's result, not only True or False.
    assert interpret.render(env, "{{ 1 < 2 < 3 }} {{ 3 < 2 < 1 }} {{ 'a' in 'ab' }}",
                            lookup) == "True False True"


def test_a_variable_that_hides_a_macro_leaves_the_words_to_jinja(monkeypatch):
    """Words are rendered by calling our macros, on the fast path or walked, only where
    the template would call them: a variable of the same name (front matter shadows a
    macro) is what Jinja reads, so the words are left to it, on both paths."""
    from types import SimpleNamespace

    import jinja2

    from macros import claims, pagecache

    value = lambda sample, what, **kw: "from the macro"  # noqa: E731
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["value"] = value
    monkeypatch.setattr(pagecache, "_macros", {"value"})
    simple, walked = "It is {{ value('a', 'b') }}.", "{% if 1 %}It is {{ value('a', 'b') }}.{% endif %}"
    monkeypatch.setattr(claims, "_ENV", SimpleNamespace(env=env, macros={"value": value},
                                                        variables={}))
    assert claims._render(simple) == claims._render(walked) == "It is from the macro."
    hidden = lambda sample, what, **kw: "from the variable"  # noqa: E731
    monkeypatch.setattr(claims, "_ENV", SimpleNamespace(env=env, macros={"value": value},
                                                        variables={"value": hidden}))
    assert claims._render(simple) == claims._render(walked) == "It is from the variable."


@pytest.mark.parametrize(("text", "said"), [
    # A step begun on a line of its own: tomllib points at the newline of the line
    # before, which ends with the table left open.
    ('[[claim]]\nid = "a-b"\nmutate = [{sample = "x", path = ["k"],\n  set = true}]\n',
     "claims.toml:3: not TOML in claim 'a-b': Invalid initial character for a key part at "
     "the end of the line: it ends with a table between braces, {...}, still open (close "
     "it on this line)"),
    # The same where the table's path went on over lines (the authoring guide's layout):
    # the table opened lines before the line that ends with it still open.
    ('[[claim]]\nid = "a-b"\nmutate = [{sample = "x", path = ["variants", "default",\n'
     '                     "runs"],\n  set = true}]\n',
     "claims.toml:4: not TOML in claim 'a-b': Invalid initial character for a key part at "
     "the end of the line: it ends with a table between braces, {...}, still open (close "
     "it on this line)"),
    # A brace in a string is no table.
    ('[[claim]]\nid = \'a\'\nmutate = [{sample = "{x", path = ["k"]\n, set = true}]\n',
     "claims.toml:3: not TOML in claim 'a': Unclosed inline table at the end of the line: "
     "it ends with a table between braces"),
    ('[[claim]]\nid = "a"\ntext = "Words\nthat go on."\n',
     "claims.toml:3: not TOML in claim 'a': Illegal character '\\n' at the end of the line: "
     "it ends with a string in quotes still open (use three quotes"),
    # Within the line: its column; before any claim: no claim named.
    ('x = 1 2\n[[claim]]\nid = "a"\n',
     "claims.toml:1: not TOML: Expected newline or end of document after a statement (column 7)"),
    ('[[claim]]\nid = "a"\nmutate = \n',
     "claims.toml:3: not TOML in claim 'a': Invalid value (at the end of the line)"),
    # Strings in three quotes hold quotes; an escaped quote does not close a string;
    # a string in three quotes goes on over lines.
    ("[[claim]]\nid = 'a'\nt = { a = '''it's''',\n  b = 1 }\n",
     "claims.toml:3: not TOML in claim 'a': Invalid initial character for a key part at the "
     "end of the line: it ends with a table between braces"),
    ('[[claim]]\nid = "a"\nt = { a = "x\\"y,\n',
     "claims.toml:3: not TOML in claim 'a': Illegal character '\\n' at the end of the line: "
     "it ends with a string in quotes still open"),
    ('[[claim]]\nid = "a"\ntext = \"\"\"\n{ "\n\"\"\"\nt = { b = 1,\n c = 2 }\n',
     "claims.toml:6: not TOML in claim 'a': Invalid initial character for a key part at the "
     "end of the line: it ends with a table between braces"),
    # The line is in another table than a claim's: no claim is named.
    ('[[claim]]\nid = "a"\n[[claim]\nid = "b"\n',
     "claims.toml:3: not TOML: Expected ']]' at the end of an array declaration (column 8)"),
    ('[[claim]]\nid = "a"\n[settings]\nx = {\n', "claims.toml:4: not TOML: Invalid initial"),
])
def test_a_claims_file_that_is_not_toml_is_told_at_its_line_and_claim(text, said):
    with pytest.raises(ConfigError) as raised:
        parse_claims(text)
    assert said in raised.value.located()


def test_a_claim_key_that_is_no_list_of_tables_is_named():
    with pytest.raises(ConfigError, match=r"x.toml: 'claim' must be a list of tables, each begun"):
        parse_claims("claim = 5\n", "x.toml")


def test_a_failing_claim_test_says_its_claim_page_and_capture():
    """A claim's test that fails after a refresh said only 'assert 93824992391168 ==
    93824992387072': its report now names the claim, the page and line that say it,
    and the captures it reads (conftest's pytest_runtest_makereport)."""
    from tests.conftest import claim_told

    told = claim_told("tests/test_claims_series_b.py::test_brk_heap_from_old_to_new_break")
    assert told is not None
    assert told.startswith("claim 'brk-heap-from-old-to-new-break', said on "
                           "docs/all-roads-to-memory/dynamic-memory-allocation.md, line ")
    line = int(told.split(", line ")[1].split(":")[0])
    page = (REPO / "docs/all-roads-to-memory/dynamic-memory-allocation.md").read_text()
    assert "claim('brk-heap-from-old-to-new-break')" in page.splitlines()[line - 1]
    assert "snapshots/brk.json" in told
    assert claim_told("tests/test_cli.py::test_show_escapes_a_tab_in_a_mapped_files_name") is None
