"""Evaluate the Terraform expressions that decide how many of each resource an environment gets, offline.

The configuration is parsed with python-hcl2; `count` and `for_each` (and the few arguments the cost estimate reads)
are evaluated with an environment's variables: literals, `var.*`, `local.*`, references to other resources (their
keys and counts, attributes unknown), operators, conditionals, `for` expressions and the functions listed in
FUNCTIONS. Anything else raises HclEvalError naming the expression: extend this evaluator rather than guess.
With symbolic=True, resource and module attributes keep their names (Symbol): an IAM policy document evaluates to
its statements with ARNs such as `${aws_kms_key.data.arn}/...`, comparable with what the programs call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tools.provider_schema.check import parse_file


class HclEvalError(ValueError):
    """An expression the evaluator cannot decide (unsupported syntax, or a value known only after apply)."""


class Unknown:
    """A value known only after apply (an id, an ARN): any attribute or index of it is unknown too."""

    def __getattr__(self, name: str) -> Unknown:
        return self

    def __getitem__(self, key: Any) -> Unknown:
        return self

    def __bool__(self) -> bool:
        raise HclEvalError("a decision depends on a value known only after apply")

    def __iter__(self) -> Any:
        # Without this, Python would iterate through __getitem__(0), (1), ... for ever.
        raise HclEvalError("a collection known only after apply cannot be iterated")

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN = Unknown()


class Symbol(Unknown):
    """A value known only after apply, kept by name (symbolic evaluation): ``aws_kms_key.data.arn`` stays
    ``${aws_kms_key.data.arn}``, in templates too, so policies can be compared with the ARNs programs use."""

    def __init__(self, address: str) -> None:
        self._symbol_address = address  # a name no Terraform attribute has (attributes resolve to Symbols)

    def __getattr__(self, name: str) -> Symbol:
        if name.startswith("__"):
            raise AttributeError(name)
        return Symbol(f"{self._symbol_address}.{name}")

    def __getitem__(self, key: Any) -> Symbol:
        address = self._symbol_address
        return Symbol(f"{address}[{key}]" if isinstance(key, int) else f'{address}["{key}"]')

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Symbol) and other._symbol_address == self._symbol_address

    def __hash__(self) -> int:
        return hash(self._symbol_address)

    def __str__(self) -> str:
        return "${" + self._symbol_address + "}"

    __repr__ = __str__


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?)
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op>\.\.\.|\[\*\]|==|!=|<=|>=|&&|\|\||=>|[-+*/%<>!?:.,()\[\]{}=])
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    result, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise HclEvalError(f"cannot read {text!r} at {text[position:]!r}")
        kind = match.lastgroup or ""
        result.append((kind, match.group(kind)))
        position = match.end()
    return result


def _set(values: Any) -> list:
    return sorted({str(v) if not isinstance(v, Unknown) else v for v in values}, key=str)


def _merge(*maps: Any) -> Any:
    if any(isinstance(m, Unknown) for m in maps):
        return UNKNOWN
    merged: dict = {}
    for m in maps:
        merged.update(m)
    return merged


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toset": _set,
    "tolist": list,
    "tostring": str,
    "tonumber": lambda v: float(v) if "." in str(v) else int(v),
    "length": len,
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "merge": _merge,
    "concat": lambda *lists: [item for part in lists for item in part],
    "max": max,
    "min": min,
    "contains": lambda collection, value: value in collection,
    "lookup": lambda m, key, default=None: m.get(key, default),
    "distinct": lambda values: list(dict.fromkeys(values)),
    "flatten": lambda values: [x for v in values for x in (v if isinstance(v, list) else [v])],
    "join": lambda separator, values: separator.join(_string(v) for v in values),
    "split": lambda separator, text: text.split(separator),
}


class Evaluator:
    """Expressions of one configuration under one environment's variables."""

    def __init__(self, documents: dict[str, dict[str, Any]], variables: dict[str, Any], symbolic: bool = False) -> None:
        """symbolic: values known only after apply (resource and module attributes) are Symbols that keep their
        names, instead of UNKNOWN."""
        self.variables = variables
        self.symbolic = symbolic
        self.local_sources: dict[str, Any] = {}
        self.resources: dict[str, dict[str, Any]] = {}  # "type.name" / "data.type.name" -> body
        for document in documents.values():
            for group in document.get("locals", []):
                self.local_sources.update({k: v for k, v in group.items() if not k.startswith("__")})
            for kind, prefix in (("resource", ""), ("data", "data.")):
                for rtype, name, body in _blocks(document, kind):
                    self.resources[f"{prefix}{rtype}.{name}"] = body
        self._locals: dict[str, Any] = {}
        self._instances: dict[str, Any] = {}
        self._busy: set[str] = set()

    # --- public ---

    def value(self, value: Any, scope: dict[str, Any] | None = None) -> Any:
        """A parsed HCL value (string expression, template, dict, list or literal) evaluated."""
        scope = scope or {}
        if isinstance(value, dict):
            return {k: self.value(v, scope) for k, v in value.items() if not k.startswith("__")}
        if isinstance(value, list):
            return [self.value(v, scope) for v in value]
        if isinstance(value, str):
            return self._template(value, scope)
        return value

    def instances(self, address: str) -> dict[Any, dict[str, Any]]:
        """The instances of a resource: {key: scope} with each.key/each.value or count.index bound."""
        if address in self._instances:
            return self._instances[address]
        if address not in self.resources:
            raise HclEvalError(f"{address} is referenced but not declared")
        if address in self._busy:
            raise HclEvalError(f"{address}: circular count/for_each")
        self._busy.add(address)
        body = self.resources[address]
        try:
            if "count" in body:
                count = self.value(body["count"])
                result = {i: {"count": {"index": i}} for i in range(int(count))}
            elif "for_each" in body:
                collection = self.value(body["for_each"])
                items = collection.items() if isinstance(collection, dict) else ((k, k) for k in collection)
                result = {k: {"each": {"key": k, "value": v}} for k, v in items}
            else:
                result = {None: {}}
        except HclEvalError as error:
            raise HclEvalError(f"{address}: {error}") from error
        finally:
            self._busy.discard(address)
        self._instances[address] = result
        return result

    # --- internals ---

    def _local(self, name: str) -> Any:
        if name not in self._locals:
            if name not in self.local_sources:
                raise HclEvalError(f"local.{name} is not declared")
            if name in self._busy:
                raise HclEvalError(f"local.{name}: circular reference")
            self._busy.add(name)
            try:
                self._locals[name] = self._lenient(self.local_sources[name])
            finally:
                self._busy.discard(name)
        return self._locals[name]

    def _lenient(self, value: Any) -> Any:
        """A local's value; parts that depend on apply-time values become UNKNOWN (only its keys may matter)."""
        if isinstance(value, dict):
            return {k: self._lenient(v) for k, v in value.items() if not k.startswith("__")}
        if isinstance(value, list):
            return [self._lenient(v) for v in value]
        try:
            return self.value(value)
        except HclEvalError:
            return UNKNOWN

    def _template(self, text: str, scope: dict[str, Any]) -> Any:
        parts = list(_interpolations(text))
        if len(parts) == 1 and parts[0][0] == "expr":
            return self._expression(parts[0][1], scope)
        out = []
        for kind, piece in parts:
            if kind == "text":
                out.append(piece)
            else:
                evaluated = self._expression(piece, scope)
                if isinstance(evaluated, Symbol):
                    out.append(str(evaluated))
                    continue
                if isinstance(evaluated, Unknown):
                    return UNKNOWN
                out.append(_string(evaluated))
        return "".join(out)

    def _expression(self, text: str, scope: dict[str, Any]) -> Any:
        parser = _Parser(_tokens(text), self, scope, text)
        result = parser.expression()
        if parser.position != len(parser.tokens):
            raise HclEvalError(f"cannot read {text!r} past {parser.tokens[parser.position][1]!r}")
        return result

    def reference(self, name: str, parser: _Parser) -> Any:
        if name in parser.scope:
            return parser.scope[name]
        if name == "var":
            attribute = parser.attribute()
            if attribute not in self.variables:
                raise HclEvalError(f"var.{attribute} is not declared")
            return self.variables[attribute]
        if name == "local":
            return self._local(parser.attribute())
        if name in ("path", "terraform"):
            parser.attribute()
            return UNKNOWN
        if name in ("each", "count", "self"):
            raise HclEvalError(f"{name}.* used outside of a block that binds it")
        if name == "module" and self.symbolic:
            return Symbol(f"module.{parser.attribute()}")
        prefix = ""
        if name == "data":
            prefix, name = "data.", parser.attribute()
        address = f"{prefix}{name}.{parser.attribute()}"
        instances = self.instances(address)
        symbol = Symbol(address)
        if list(instances) == [None]:
            return symbol if self.symbolic else UNKNOWN
        if instances and all(isinstance(k, int) for k in instances):
            return [symbol[k] if self.symbolic else UNKNOWN for k in instances]
        return {k: symbol[k] if self.symbolic else UNKNOWN for k in instances}


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _interpolations(text: str) -> Iterator[tuple[str, str]]:
    """("text", literal) and ("expr", expression) pieces of a template string."""
    position = 0
    while True:
        start = text.find("${", position)
        if start < 0:
            if position < len(text) or not text:
                yield "text", text[position:]
            return
        if start > position:
            yield "text", text[position:start]
        depth, index, quoted = 1, start + 2, False
        while depth and index < len(text):
            char = text[index]
            if char == '"' and text[index - 1] != "\\":
                quoted = not quoted
            elif not quoted and char == "{":
                depth += 1
            elif not quoted and char == "}":
                depth -= 1
            index += 1
        if depth:
            raise HclEvalError(f"unbalanced interpolation in {text!r}")
        yield "expr", text[start + 2 : index - 1]
        position = index


def _blocks(document: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for group in document.get(kind, []):
        for rtype, value in group.items():
            if rtype.startswith("__"):
                continue
            for name, body in value.items():
                if not name.startswith("__"):
                    yield rtype, name, body


class _Parser:
    """Recursive descent over HCL expression tokens, evaluating as it goes (both branches parsed, one kept)."""

    def __init__(self, tokens: list[tuple[str, str]], evaluator: Evaluator, scope: dict[str, Any], text: str):
        self.tokens, self.evaluator, self.scope, self.text = tokens, evaluator, scope, text
        self.position = 0
        self.skip = 0  # > 0 while parsing a branch that is not taken: nothing is evaluated

    def peek(self, offset: int = 0) -> str | None:
        index = self.position + offset
        return self.tokens[index][1] if index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise HclEvalError(f"{self.text!r} ends early")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise HclEvalError(f"{self.text!r}: expected {expected!r}, found {token[1]!r}")
        self.position += 1
        return token

    def attribute(self) -> str:
        self.take(".")
        return self.take()[1]

    def expression(self) -> Any:
        condition = self.binary(0)
        if self.peek() != "?":
            return condition
        self.take("?")
        if self.skip:
            self.expression()
            self.take(":")
            return self.expression()
        if isinstance(condition, Unknown):
            bool(condition)
        chosen = bool(condition)
        if not chosen:
            self.skip += 1
        first = self.expression()
        if not chosen:
            self.skip -= 1
        self.take(":")
        if chosen:
            self.skip += 1
        second = self.expression()
        if chosen:
            self.skip -= 1
        return first if chosen else second

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Any:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._LEVELS[level] and self.tokens[self.position][0] == "op":
            operator = self.take()[1]
            right = self.binary(level + 1)
            if not self.skip:
                left = _apply(operator, left, right)
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            value = self.unary()
            return None if self.skip else not value
        if self.peek() == "-":
            self.take()
            value = self.unary()
            return None if self.skip else -value
        return self.postfix(self.primary())

    def postfix(self, value: Any) -> Any:
        while True:
            if self.peek() == "." and self.tokens[self.position + 1][0] == "name":
                name = self.attribute()
                if not self.skip:
                    value = value[name] if isinstance(value, dict) else getattr(value, name)
            elif self.peek() == "[*]":
                self.take()
                if self.peek() == ".":
                    self.attribute()
                if not self.skip and not isinstance(value, Unknown):
                    value = [UNKNOWN for _ in value]
            elif self.peek() == "[":
                self.take()
                index = self.expression()
                self.take("]")
                if not self.skip:
                    key = int(index) if isinstance(value, list) else index
                    keeps_name = isinstance(value, Symbol) and not isinstance(index, Unknown)
                    value = value[key] if keeps_name or not isinstance(value, Unknown) else UNKNOWN
            else:
                return value

    def primary(self) -> Any:
        kind, lexeme = self.take()
        if kind == "num":
            return float(lexeme) if "." in lexeme else int(lexeme)
        if kind == "str":
            return self.evaluator.value(lexeme[1:-1].replace('\\"', '"'), self.scope) if not self.skip else None
        if lexeme == "(":
            value = self.expression()
            self.take(")")
            return value
        if lexeme == "[":
            return self.sequence()
        if lexeme == "{":
            return self.mapping()
        if kind != "name":
            raise HclEvalError(f"{self.text!r}: unexpected {lexeme!r}")
        if lexeme in ("true", "false"):
            return lexeme == "true"
        if lexeme == "null":
            return None
        if self.peek() == "(":
            return self.call(lexeme)
        if self.skip:
            while self.peek() == "." and self.tokens[self.position + 1][0] == "name":
                self.attribute()
            return None
        return self.evaluator.reference(lexeme, self)

    def call(self, name: str) -> Any:
        self.take("(")
        arguments, spread = [], False
        while self.peek() != ")":
            arguments.append(self.expression())
            if self.peek() == "...":
                self.take()
                spread = True
            if self.peek() == ",":
                self.take()
        self.take(")")
        if self.skip:
            return None
        if name in ("try", "can"):
            raise HclEvalError(f"{self.text!r}: {name}() is not supported")
        if name not in FUNCTIONS:
            raise HclEvalError(f"{self.text!r}: function {name}() is not supported by tools/hcl_eval.py")
        if spread:
            arguments = [*arguments[:-1], *arguments[-1]]
        if any(isinstance(a, Unknown) for a in arguments) and name not in ("merge", "length", "toset", "concat"):
            return UNKNOWN
        return FUNCTIONS[name](*arguments)

    def sequence(self) -> Any:
        if self.peek() == "for":
            return self.comprehension("]")
        items = []
        while self.peek() != "]":
            items.append(self.expression())
            if self.peek() == ",":
                self.take()
        self.take("]")
        return items

    def mapping(self) -> Any:
        if self.peek() == "for":
            return self.comprehension("}")
        result = {}
        while self.peek() != "}":
            kind, key = self.take()
            key = key[1:-1] if kind == "str" else key
            self.take("=" if self.peek() == "=" else ":")
            result[key] = self.expression()
            if self.peek() == ",":
                self.take()
        self.take("}")
        return result

    def comprehension(self, closing: str) -> Any:
        self.take("for")
        names = [self.take()[1]]
        if self.peek() == ",":
            self.take()
            names.append(self.take()[1])
        self.take("in")
        collection = self.expression()
        self.take(":")
        start = self.position
        # Parse once without evaluating, to find the end; then evaluate per element.
        self.skip += 1
        self._comprehension_body(closing)
        self.skip -= 1
        end = self.position
        if self.skip:
            return None
        if isinstance(collection, Unknown):
            return UNKNOWN
        items = collection.items() if isinstance(collection, dict) else enumerate(collection)
        result: Any = {} if closing == "}" else []
        saved = self.scope
        for key, value in items:
            bound = dict(saved)
            if len(names) == 2:
                bound.update({names[0]: key, names[1]: value})
            else:
                bound[names[0]] = value
            self.scope, self.position = bound, start
            output = self._comprehension_body(closing)
            if output is not None:
                if closing == "}":
                    result[output[0]] = output[1]
                else:
                    result.append(output[0])
        self.scope, self.position = saved, end
        return result

    def _comprehension_body(self, closing: str) -> tuple[Any, ...] | None:
        first = self.expression()
        second = None
        if closing == "}":
            self.take("=>")
            second = self.expression()
        keep = True
        if self.peek() == "if":
            self.take()
            keep = self.expression()
        self.take(closing)
        if self.skip or not keep:
            return None
        return (first, second)


def _apply(operator: str, left: Any, right: Any) -> Any:
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        if operator in ("&&", "||"):
            known = right if isinstance(left, Unknown) else left
            if (operator == "&&" and known is False) or (operator == "||" and known is True):
                return known
        return UNKNOWN
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "||": lambda a, b: a or b,
        "&&": lambda a, b: a and b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "%": lambda a, b: a % b,
    }
    return operations[operator](left, right)


def load_configuration(terraform_dir: Path) -> dict[str, dict[str, Any]]:
    """Every *.tf file of a Terraform root, parsed."""
    return {path.name: parse_file(path) for path in sorted(terraform_dir.glob("*.tf"))}


def environment_variables(documents: dict[str, dict[str, Any]], tfvars: Path) -> dict[str, Any]:
    """Declared variables' defaults overlaid with an environment's tfvars; a tfvars key not declared is an error."""
    values: dict[str, Any] = {}
    declared = set()
    for document in documents.values():
        for group in document.get("variable", []):
            for name, body in group.items():
                if name.startswith("__"):
                    continue
                declared.add(name)
                if "default" in body:
                    values[name] = Evaluator({}, {}).value(body["default"])
    for key, value in parse_file(tfvars).items():
        if key.startswith("__"):
            continue
        if key not in declared:
            raise HclEvalError(f"{tfvars.name} sets {key}, which terraform/variables.tf does not declare")
        values[key] = Evaluator({}, {}).value(value)
    return values


def resource_addresses(documents: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(file, type, name, body) of every managed resource."""
    for filename, document in documents.items():
        for rtype, name, body in _blocks(document, "resource"):
            yield filename, rtype, name, body
