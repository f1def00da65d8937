"""A small evaluator for the CEL rules of `x-kubernetes-validations` (the forms CRDs commonly use), so that
custom resources are refused as a real apiserver refuses them.

Supported: literals (int, double, 'string', "string", true, false, null, lists, maps); `self` and `oldSelf`
(transition rules, skipped when there is no old value, as on a real server); field selection `self.a.b` and
indexing `self['a']`, `self[0]`; `! - * / % + -`, comparisons, `in`, `&&`, `||`, `?:`; `has(self.f)`;
`size(x)`, `x.size()`, `startsWith`, `endsWith`, `contains`, `matches`, `int()`, `string()`, `double()`;
macros `all`, `exists`, `exists_one`, `map`, `filter`. Not supported: optional types (`?.`, `orValue`),
`messageExpression`, quantity/url/ip libraries, timestamps and durations, cost limits; a rule using them
raises `CelError` (reported as the rule failing to compile, which a real server would not accept either).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Node = tuple[Any, ...]
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d+|\d+)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<id>[A-Za-z_]\w*)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}]))"
)
_BINARY = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%")]
_MACROS = ("all", "exists", "exists_one", "map", "filter")


class CelError(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise CelError(f"cannot parse {text[pos:]!r}")
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise CelError("unexpected end of rule")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise CelError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise CelError(f"unexpected {self.peek()!r}")
        return node

    def expr(self) -> Node:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take()
            yes = self.expr()
            self.take(":")
            return ("cond", cond, yes, self.expr())
        return cond

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.take()[1]
            left = ("bin", op, left, self.binary(level + 1))
        return left

    def unary(self) -> Node:
        if self.peek() in ("!", "-"):
            op = self.take()[1]
            return ("un", op, self.unary())
        return self.postfix(self.primary())

    def args(self) -> list[Node]:
        self.take("(")
        items = []
        while self.peek() != ")":
            items.append(self.expr())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return items

    def postfix(self, node: Node) -> Node:
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                name = self.take()[1]
                node = ("call", name, node, self.args()) if self.peek() == "(" else ("sel", node, name)
            else:
                index = self.expr()
                self.take("]")
                node = ("idx", node, index)
        return node

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return ("lit", float(text) if "." in text else int(text))
        if kind == "str":
            return ("lit", bytes(text[1:-1], "utf-8").decode("unicode_escape"))
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.expr())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return ("list", items)
        if text == "{":
            pairs = []
            while self.peek() != "}":
                key = self.expr()
                self.take(":")
                pairs.append((key, self.expr()))
                if self.peek() == ",":
                    self.take()
            self.take("}")
            return ("map", pairs)
        if kind == "id":
            if text in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[text])
            if self.peek() == "(":
                return ("call", text, None, self.args())
            return ("var", text)
        raise CelError(f"unexpected {text!r}")


def compile_rule(rule: str) -> Node:
    return _Parser(rule).parse()


def uses_old_self(node: Any) -> bool:
    if isinstance(node, tuple):
        if node[:2] == ("var", "oldSelf"):
            return True
        return any(uses_old_self(part) for part in node)
    if isinstance(node, list):
        return any(uses_old_self(part) for part in node)
    return False


def _select(value: Any, name: str) -> Any:
    if isinstance(value, dict) and name in value:
        return value[name]
    raise CelError(f"no such key: {name}")


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": len,
    "startsWith": lambda s, p: s.startswith(p),
    "endsWith": lambda s, p: s.endswith(p),
    "contains": lambda s, p: p in s,
    "matches": lambda s, p: re.search(p, s) is not None,
    "int": int,
    "string": lambda v: str(v).lower() if isinstance(v, bool) else str(v),
    "double": float,
}


def evaluate(node: Node, env: dict[str, Any]) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "var":
        if node[1] not in env:
            raise CelError(f"undeclared reference to {node[1]!r}")
        return env[node[1]]
    if tag == "list":
        return [evaluate(item, env) for item in node[1]]
    if tag == "map":
        return {evaluate(k, env): evaluate(v, env) for k, v in node[1]}
    if tag == "sel":
        return _select(evaluate(node[1], env), node[2])
    if tag == "idx":
        container, index = evaluate(node[1], env), evaluate(node[2], env)
        try:
            return container[index]
        except (KeyError, IndexError, TypeError) as e:
            raise CelError(f"no such key: {index}") from e
    if tag == "cond":
        return evaluate(node[2] if evaluate(node[1], env) else node[3], env)
    if tag == "un":
        value = evaluate(node[2], env)
        return (not value) if node[1] == "!" else -value
    if tag == "bin":
        return _binary(node[1], node[2], node[3], env)
    return _call(node, env)


def _binary(op: str, left_node: Node, right_node: Node, env: dict[str, Any]) -> Any:
    left = evaluate(left_node, env)
    if op == "&&":
        return bool(left) and bool(evaluate(right_node, env))
    if op == "||":
        return bool(left) or bool(evaluate(right_node, env))
    right = evaluate(right_node, env)
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "in": lambda a, b: a in b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "%": lambda a, b: a % b,
        "/": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) else a / b,
    }
    try:
        return operations[op](left, right)
    except TypeError as e:
        raise CelError(f"no such overload: {op}") from e


def _call(node: Node, env: dict[str, Any]) -> Any:
    _, name, receiver, args = node
    if name == "has" and receiver is None:
        (target,) = args
        if target[0] != "sel":
            raise CelError("has() needs a field selection")
        holder = evaluate(target[1], env)
        return isinstance(holder, dict) and target[2] in holder
    if name in _MACROS and receiver is not None:
        return _macro(name, evaluate(receiver, env), args, env)
    values = ([] if receiver is None else [evaluate(receiver, env)]) + [evaluate(a, env) for a in args]
    if name not in _FUNCTIONS:
        raise CelError(f"undeclared reference to function {name!r}")
    return _FUNCTIONS[name](*values)


def _macro(name: str, items: Any, args: list[Node], env: dict[str, Any]) -> Any:
    if len(args) != 2 or args[0][0] != "var":
        raise CelError(f"{name}() takes a variable and an expression")
    variable, body = args[0][1], args[1]
    elements = list(items) if isinstance(items, dict | list) else []

    def run(element: Any) -> Any:
        return evaluate(body, {**env, variable: element})

    if name == "all":
        return all(run(e) for e in elements)
    if name == "exists":
        return any(run(e) for e in elements)
    if name == "exists_one":
        return sum(1 for e in elements if run(e)) == 1
    if name == "map":
        return [run(e) for e in elements]
    return [e for e in elements if run(e)]
