"""Small templates (a claim's words) rendered by walking the tree Jinja parsed.

Compiling a template costs Jinja a parse, the Python source it writes for it and
Python's compiler: about 2.5 ms for the words of a claim that switch on a machine's
facts, 85 ms for the 34 such claims in a fresh clone's build, where parsing alone is
13 ms. Such words use a small part of the language: ``set``, ``if``/``elif``/``else``,
calls of our macros, a few filters and string methods, arithmetic, comparisons and
``%`` formatting.
``render`` evaluates that part on the parsed tree, with the operations the compiled
code would use (Python's own operators, the environment's filters, ``str`` for what is
output), and returns None for anything else (a loop, a test, an unknown filter, a name
that is not one of our macros, a setting that changes how output is made), found in the
whole tree before anything is evaluated; the caller then compiles it as before. An
exception a macro raises is raised as the compiled template would raise it; any other
error returns None, and the compiled template then raises it with Jinja's report.

tests/test_claims_file.py renders every claim of the file both ways and compares them.
"""

from __future__ import annotations

import operator

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


class _MacroFailed(Exception):
    """An exception a called function raised, carried out of the walk."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


# Every node a walked template may hold. The whole tree is checked before anything is
# evaluated: Jinja refuses some templates when it compiles them (an unknown filter, in a
# branch never taken too), and a template left to Jinja must not have called any macro.
_WALKED = frozenset({
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Assign, nodes.If, nodes.Name,
    nodes.Const, nodes.Not, nodes.And, nodes.Or, nodes.Concat, nodes.Compare,
    nodes.Operand, nodes.CondExpr, nodes.Tuple, nodes.List, nodes.Getattr, nodes.Getitem,
    nodes.Call, nodes.Filter, nodes.Keyword, *_BINARY, *_UNARY,
})


def _walkable_tree(env: jinja2.Environment, tree: nodes.Template, lookup) -> bool:
    set_here = {n.target.name for n in tree.find_all(nodes.Assign)
                if type(n.target) is nodes.Name}
    for node in tree.find_all(nodes.Node):
        kind = type(node)
        if kind is nodes.Name and node.ctx == "load" and node.name not in set_here:
            try:
                lookup(node.name)
            except KeyError:
                return False
        if kind not in _WALKED:
            return False
        if kind is nodes.Assign and type(node.target) is not nodes.Name:
            return False
        if kind is nodes.Getitem and type(node.arg) is nodes.Slice:
            return False
        if kind is nodes.CondExpr and node.expr2 is None:
            return False
        if kind in (nodes.Call, nodes.Filter):
            if node.dyn_args is not None or node.dyn_kwargs is not None:
                return False
        if kind is nodes.Filter:
            function = env.filters.get(node.name)
            if (node.node is None or function is None
                    or getattr(function, "jinja_pass_arg", None) is not None):
                return False
    return True


def render(env: jinja2.Environment, source: str, lookup) -> str | None:
    """``source`` rendered as ``env.from_string(source).render()`` would render it, or
    None when it is not walked here. ``lookup(name)`` gives the value of a name the
    template reads that it did not set, or raises KeyError to leave the template to
    Jinja. An exception a called macro raises is raised, as the compiled template
    would raise it; any other error returns None (Jinja then raises its own)."""
    if not walkable(env):
        return None
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    if not _walkable_tree(env, tree, lookup):
        return None
    try:
        out: list[str] = []
        _Walk(env, lookup).block(tree.body, out)
    except _MacroFailed as failed:
        raise failed.error from None
    except Exception:  # noqa: BLE001 - _Unsupported, or an error the compiled code reports
        return None
    return "".join(out)


class _Walk:
    def __init__(self, env: jinja2.Environment, lookup) -> None:
        self.env = env
        self.lookup = lookup
        self.names: dict[str, object] = {}  # what the template set

    def block(self, body: list, out: list[str]) -> None:
        for node in body:
            kind = type(node)
            if kind is nodes.Output:
                for child in node.nodes:
                    if type(child) is nodes.TemplateData:
                        out.append(child.data)
                    else:
                        out.append(str(self.value(child)))
            elif kind is nodes.Assign and type(node.target) is nodes.Name:
                self.names[node.target.name] = self.value(node.node)
            elif kind is nodes.If:
                self.choose(node, out)
            else:
                raise _Unsupported(kind.__name__)

    def choose(self, node: nodes.If, out: list[str]) -> None:
        if self.value(node.test):
            self.block(node.body, out)
            return
        for other in node.elif_:
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
        if getattr(function, "jinja_pass_arg", None) is not None:
            raise _Unsupported("a function that takes the context")
        args, kwargs = self.arguments(node)
        try:
            return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - raised as the compiled code raises it
            raise _MacroFailed(error) from None

    def filter(self, node: nodes.Filter) -> object:
        function = self.env.filters.get(node.name)
        if function is None or getattr(function, "jinja_pass_arg", None) is not None:
            raise _Unsupported(f"filter {node.name}")
        subject = self.value(node.node)
        args, kwargs = self.arguments(node)
        return function(subject, *args, **kwargs)
