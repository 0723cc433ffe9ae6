"""Templates (a claim's words, a page's text) rendered by walking the tree Jinja parsed.

Compiling a template costs Jinja a parse, the Python source it writes for it and
Python's compiler: about 2.5 ms for the words of a claim that switch on a machine's
facts, 85 ms for the 34 such claims of a fresh clone's build then, where parsing alone is
13 ms. Such words use a small part of the language: ``set``, ``if``/``elif``/``else``,
calls of our macros, a few filters and string methods, arithmetic, comparisons and
``%`` formatting.
``render`` evaluates that part on the parsed tree, with the operations the compiled
code would use (Python's own operators, the environment's filters, ``str`` for what is
output), and returns None for anything else (a loop, a test, an unknown filter, a name
that is not one of our macros, a setting that changes how output is made), found in the
whole tree before anything is evaluated (``_Check``); the caller then compiles it as
before. An error raised once a function was called (a macro, a string's method) is
raised as the compiled template would raise it; one raised before returns None, and
the compiled template then raises it with Jinja's report.

A page's text is such a template too (``macros.compiled``): rendered once a build, its
compiled code would be run once, and writing that code and compiling it cost Jinja
about as much as parsing the page (the three were 9 % of a fresh clone's build, in
instructions). ``walk`` takes the parsed tree and follows, in a ``Where``, the line of
the template it is evaluating: an error is located there, as Jinja locates one in its
compiled code.

tests/test_claims_file.py renders every claim of the file both ways and compares them.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import jinja2
from jinja2 import nodes


class _Unsupported(Exception):
    """A node outside the part of the language walked here."""


_BINARY = {
    nodes.Add: operator.add, nodes.Sub: operator.sub, nodes.Mul: operator.mul,
    nodes.Div: operator.truediv, nodes.FloorDiv: operator.floordiv, nodes.Mod: operator.mod,
    nodes.Pow: operator.pow,
}
_UNARY = {nodes.Neg: operator.neg, nodes.Pos: operator.pos}
_COMPARE = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gteq": operator.ge,
    "lt": operator.lt, "lteq": operator.le,
    "in": lambda a, b: a in b, "notin": lambda a, b: a not in b,
}


def walkable(env: jinja2.Environment) -> bool:
    """Whether ``env`` makes output as walked here: no autoescaping, no ``finalize``,
    not sandboxed, not async."""
    return (env.autoescape is False and env.finalize is None and not env.is_async
            and not getattr(env, "sandboxed", False))


# The nodes an expression of a walked template may hold.
_EXPRESSIONS = frozenset({
    nodes.Name, nodes.Const, nodes.Not, nodes.And, nodes.Or, nodes.Concat, nodes.Compare,
    nodes.Operand, nodes.CondExpr, nodes.Tuple, nodes.List, nodes.Getattr, nodes.Getitem,
    nodes.Call, nodes.Filter, nodes.Keyword, *_BINARY, *_UNARY,
})


def _takes_context(function: object) -> bool:
    """Whether Jinja would pass ``function`` its context, environment or evaluation
    context (``pass_context`` and the like, on it or on its ``__call__``)."""
    return (getattr(function, "jinja_pass_arg", None) is not None
            or getattr(getattr(function, "__call__", None), "jinja_pass_arg", None) is not None)


class _Check:
    """Whether a parsed template is walked, judged before anything is evaluated (a
    template left to Jinja must not have called a macro first, which Jinja would call
    again), in the template's order: a name is read from what the template set before
    it (not in an ``if`` branch, which may not be taken), else from ``lookup``, which
    Jinja's context would give. Raises _Unsupported for anything else, and for what
    Jinja refuses when it compiles (an unknown filter, a keyword given twice, a
    constant its Python cannot write), in branches never taken too."""

    def __init__(self, env: jinja2.Environment, lookup) -> None:
        self.env = env
        self.lookup = lookup

    def body(self, body: list, defined: set[str]) -> None:
        for node in body:
            kind = type(node)
            if kind is nodes.Output:
                for child in node.nodes:
                    if type(child) is not nodes.TemplateData:
                        self.expression(child, defined)
            elif kind is nodes.Assign and type(node.target) is nodes.Name:
                self.expression(node.node, defined)
                defined.add(node.target.name)
            elif kind is nodes.If:
                self.expression(node.test, defined)
                self.body(node.body, set(defined))
                for other in node.elif_:
                    self.expression(other.test, defined)
                    self.body(other.body, set(defined))
                self.body(node.else_, set(defined))
            else:
                raise _Unsupported(kind.__name__)

    def expression(self, root: nodes.Node, defined: set[str]) -> None:
        for node in (root, *root.find_all(nodes.Node)):
            kind = type(node)
            if kind not in _EXPRESSIONS:
                raise _Unsupported(kind.__name__)
            if kind is nodes.Name and node.name not in defined:
                try:
                    found = self.lookup(node.name)
                except KeyError:
                    raise _Unsupported(f"name {node.name}") from None
                if _takes_context(found):
                    raise _Unsupported(f"{node.name} takes the context")
            elif kind is nodes.Const and isinstance(node.value, float) and not math.isfinite(node.value):
                raise _Unsupported("a float Python cannot write")
            elif kind is nodes.CondExpr and node.expr2 is None:
                raise _Unsupported("an inline if without else")
            elif kind in (nodes.Call, nodes.Filter):
                keys = [k.key for k in node.kwargs]
                if node.dyn_args is not None or node.dyn_kwargs is not None or \
                        len(keys) != len(set(keys)):
                    raise _Unsupported("*args, **kwargs or a keyword twice")
                if kind is nodes.Filter:
                    function = self.env.filters.get(node.name)
                    if node.node is None or function is None or _takes_context(function):
                        raise _Unsupported(f"filter {node.name}")


@dataclass
class Where:
    """The line of the template being evaluated (1-based, as Jinja counts): the place of
    an error raised there."""

    line: int | None = None


def render(env: jinja2.Environment, source: str, lookup) -> str | None:
    """``source`` rendered as ``env.from_string(source).render()`` would render it, or
    None when it is not walked here (``_Check``). ``lookup(name)`` gives the value of a
    name the template reads that it did not set, or raises KeyError to leave the
    template to Jinja. An error raised once a function was called (a macro, a string's
    method) is raised, as the compiled template would raise it after calling the same;
    one raised before returns None, and the compiled template then raises it with
    Jinja's report."""
    if not walkable(env):
        return None
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    return walk(env, tree, lookup)


def takes(env: jinja2.Environment, tree: nodes.Template, lookup) -> bool:
    """Whether ``walk`` takes the parsed template ``tree`` whole, judged before anything is
    evaluated (``lookup`` is asked for the names it reads, as ``walk`` asks)."""
    try:
        _Check(env, lookup).body(tree.body, set())
    except _Unsupported:
        return False
    return True


def walk(env: jinja2.Environment, tree: nodes.Template, lookup, where: Where | None = None
         ) -> str | None:
    """The parsed template ``tree`` rendered as ``render`` renders its text (``env`` must
    be ``walkable``); ``where`` follows the line being evaluated."""
    if not takes(env, tree, lookup):
        return None
    walker = _Walk(env, lookup, where if where is not None else Where())
    out: list[str] = []
    try:
        walker.block(tree.body, out)
    except _Unsupported:
        return None
    except Exception:  # noqa: BLE001 - what the compiled code would raise, or leave it to Jinja
        if walker.called:
            raise
        return None
    return "".join(out)


class _Walk:
    def __init__(self, env: jinja2.Environment, lookup, where: Where) -> None:
        self.env = env
        self.lookup = lookup
        self.where = where
        self.names: dict[str, object] = {}  # what the template set
        self.called = False  # whether a function was called yet

    def block(self, body: list, out: list[str]) -> None:
        # The line of each expression output, assignment and test: the node Jinja's
        # compiled code maps its lines to.
        where = self.where
        for node in body:
            kind = type(node)
            if kind is nodes.Output:
                for child in node.nodes:
                    if type(child) is nodes.TemplateData:
                        out.append(child.data)
                    else:
                        where.line = child.lineno
                        out.append(str(self.value(child)))
            elif kind is nodes.Assign and type(node.target) is nodes.Name:
                where.line = node.lineno
                self.names[node.target.name] = self.value(node.node)
            elif kind is nodes.If:
                self.choose(node, out)
            else:
                raise _Unsupported(kind.__name__)

    def choose(self, node: nodes.If, out: list[str]) -> None:
        self.where.line = node.lineno
        if self.value(node.test):
            self.block(node.body, out)
            return
        for other in node.elif_:
            self.where.line = other.lineno
            if self.value(other.test):
                self.block(other.body, out)
                return
        self.block(node.else_, out)

    def value(self, node: nodes.Node) -> object:
        kind = type(node)
        if kind is nodes.Const:
            return node.value
        if kind is nodes.Name:
            if node.name in self.names:
                return self.names[node.name]
            return self.lookup(node.name)
        if kind in _BINARY:
            return _BINARY[kind](self.value(node.left), self.value(node.right))
        if kind in _UNARY:
            return _UNARY[kind](self.value(node.node))
        if kind is nodes.Not:
            return not self.value(node.node)
        if kind is nodes.And:
            return self.value(node.left) and self.value(node.right)
        if kind is nodes.Or:
            return self.value(node.left) or self.value(node.right)
        if kind is nodes.Concat:
            return "".join(str(self.value(n)) for n in node.nodes)
        if kind is nodes.Compare:
            return self.compare(node)
        if kind is nodes.CondExpr and node.expr2 is not None:
            return self.value(node.expr1) if self.value(node.test) else self.value(node.expr2)
        if kind is nodes.Tuple:
            return tuple(self.value(n) for n in node.items)
        if kind is nodes.List:
            return [self.value(n) for n in node.items]
        if kind is nodes.Getattr:  # as the compiled code asks: environment.getattr
            return self.env.getattr(self.value(node.node), node.attr)
        if kind is nodes.Getitem and type(node.arg) is not nodes.Slice:
            return self.env.getitem(self.value(node.node), self.value(node.arg))
        if kind is nodes.Call:
            return self.call(node)
        if kind is nodes.Filter and node.node is not None:
            return self.filter(node)
        raise _Unsupported(kind.__name__)

    def compare(self, node: nodes.Compare) -> object:
        """Python's chained comparison, as the compiled code writes it: each operand
        evaluated once, the first false result or the last one returned."""
        left = self.value(node.expr)
        result: object = True
        for operand in node.ops:
            right = self.value(operand.expr)
            result = _COMPARE[operand.op](left, right)
            if not result:
                return result
            left = right
        return result

    def arguments(self, node) -> tuple[list, dict]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise _Unsupported("*args or **kwargs")
        return ([self.value(a) for a in node.args],
                {k.key: self.value(k.value) for k in node.kwargs})

    def call(self, node: nodes.Call) -> object:
        function = self.value(node.node)
        if _takes_context(function):  # a method found by attribute (``_Check`` saw names)
            raise _Unsupported("a function that takes the context")
        args, kwargs = self.arguments(node)
        self.called = True
        try:
            return function(*args, **kwargs)
        except StopIteration:  # as jinja2.runtime.Context.call has it
            return self.env.undefined("value was undefined because a callable raised a"
                                      " StopIteration exception")

    def filter(self, node: nodes.Filter) -> object:
        function = self.env.filters[node.name]  # there, and taking no context (``_Check``)
        subject = self.value(node.node)
        args, kwargs = self.arguments(node)
        return function(subject, *args, **kwargs)
