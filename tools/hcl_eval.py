"""Evaluate the Terraform expressions that decide how many of each resource an environment gets, offline.

The configuration is parsed with python-hcl2; `count` and `for_each` (and the arguments the cost estimate and the
tests read) are evaluated with an environment's variables: literals, `var.*`, `local.*`, references to other
resources (their keys and counts; attributes are unknown but remember which instance they come from, so a reader
can follow them: ``Evaluator.source``), data sources answered by the caller, operators, conditionals, `for`
expressions, `try`/`can` and the functions listed in FUNCTIONS; ``Evaluator.blocks`` expands `dynamic` blocks.
Anything else raises HclEvalError naming the expression: extend this evaluator rather than guess.
With symbolic=True, resource and module attributes keep their names (Symbol): an IAM policy document evaluates to
its statements with ARNs such as `${aws_kms_key.data.arn}/...`, comparable with what the programs call.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.provider_schema.check import parse_file


class HclEvalError(ValueError):
    """An expression the evaluator cannot decide (unsupported syntax, or a value known only after apply)."""


class Unknown:
    """A value known only after apply (an id, an ARN): any attribute or index of it is unknown too.

    One that comes from a resource remembers where: ``origin(value)`` gives the address, the instance key and the
    attribute path (``aws_lb_target_group.backend.arn``: address ``aws_lb_target_group.backend``, key None,
    path ``("arn",)``)."""

    __slots__ = ("_origin",)

    def __init__(self, address: str | None = None, key: Any = None, path: tuple[Any, ...] = ()) -> None:
        self._origin = (address, key, path)

    def __getattr__(self, name: str) -> Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        address, key, path = self._origin
        return Unknown(address, key, (*path, name)) if address else self

    def __getitem__(self, index: Any) -> Unknown:
        address, key, path = self._origin
        return Unknown(address, key, (*path, index)) if address else self

    def __bool__(self) -> bool:
        raise HclEvalError("a decision depends on a value known only after apply")

    def __iter__(self) -> Any:
        # Without this, Python would iterate through __getitem__(0), (1), ... for ever.
        raise HclEvalError("a collection known only after apply cannot be iterated")

    def __repr__(self) -> str:
        address, key, path = self._origin
        if not address:
            return "(known after apply)"
        where = address if key is None else f"{address}[{key!r}]"
        return f"(known after apply: {'.'.join([where, *map(str, path)])})"


@dataclass(frozen=True)
class Origin:
    """Where a value known after apply comes from: a resource (or data source) instance and an attribute path."""

    address: str
    key: Any
    path: tuple[Any, ...]


def origin(value: Any) -> Origin | None:
    """The resource instance and attribute a value known after apply comes from; None for anything else."""
    if isinstance(value, Unknown) and value._origin[0]:
        return Origin(*value._origin)
    return None


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


def _slice(values: Any, start: int, end: int) -> Any:
    if not 0 <= start <= end <= len(values):
        raise HclEvalError(f"slice({values!r}, {start}, {end}): the indices are out of range")
    return values[start:end]


def _merge(*maps: Any) -> Any:
    if any(isinstance(m, Unknown) for m in maps):
        return UNKNOWN
    merged: dict = {}
    for m in maps:
        merged.update(m)
    return merged


def _cidrsubnet(prefix: str, newbits: int, netnum: int) -> str:
    network = ipaddress.ip_network(prefix)
    subnets = 2**newbits
    if not 0 <= netnum < subnets:
        raise HclEvalError(f"cidrsubnet({prefix!r}, {newbits}, {netnum}): {netnum} does not fit in {newbits} bits")
    size = network.num_addresses // subnets
    address = network.network_address + netnum * size
    return f"{address}/{network.prefixlen + newbits}"


def _cidrhost(prefix: str, hostnum: int) -> str:
    """The address hostnum of a prefix; a negative hostnum counts from its end (-1 is the last address)."""
    network = ipaddress.ip_network(prefix)
    if not -network.num_addresses <= hostnum < network.num_addresses:
        raise HclEvalError(f"cidrhost({prefix!r}, {hostnum}): no such host in the prefix")
    base = network.network_address if hostnum >= 0 else network.broadcast_address + 1
    return str(base + hostnum)


def _range(*arguments: int) -> list[int]:
    return list(range(*(int(a) for a in arguments)))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "range": _range,
    "cidrsubnet": _cidrsubnet,
    "cidrhost": _cidrhost,
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
    "slice": _slice,
    "split": lambda separator, text: text.split(separator),
    "ceil": math.ceil,
    "floor": math.floor,
    "join": lambda separator, values: separator.join(_string(v) for v in values),
}
# A failure inside try()/can(): an evaluator refusal or what Python raises for Terraform's errors (a bad index, a
# tonumber() of a non-number, a missing key).
_TRY_ERRORS = (HclEvalError, IndexError, KeyError, ValueError, TypeError)


class Evaluator:
    """Expressions of one configuration under one environment's variables."""

    def __init__(
        self,
        documents: dict[str, dict[str, Any]],
        variables: dict[str, Any],
        answers: dict[str, Any] | None = None,
        symbolic: bool = False,
    ) -> None:
        """``answers``: what data sources return, by address (``{"data.aws_availability_zones.available": {"names":
        [...]}}``); data sources not answered are known after apply. ``symbolic``: values known only after apply
        (resource and module attributes) are Symbols that keep their names."""
        self.variables = variables
        self.answers = answers or {}
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

    def of_type(self, rtype: str) -> list[str]:
        """Addresses of the managed resources of one type (``aws_autoscaling_group.this``, ...)."""
        return [address for address in self.resources if address.split(".")[0] == rtype]

    def source(self, value: Any) -> tuple[Origin, dict[str, Any], dict[str, Any]]:
        """The resource instance a value known after apply comes from: its origin, its body and the scope of that
        instance (``each``/``count`` bound), so that its arguments can be evaluated in turn."""
        found = origin(value)
        if found is None:
            raise HclEvalError(f"{value!r} is not a reference to a resource")
        instances = self.instances(found.address)
        if found.key not in instances:
            raise HclEvalError(f"{found.address} has no instance {found.key!r} (it has {sorted(instances, key=str)})")
        return found, self.resources[found.address], instances[found.key]

    def blocks(
        self, body: dict[str, Any], name: str, scope: dict[str, Any] | None = None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The nested ``name`` blocks of a body: written ones, then those its ``dynamic "name"`` blocks generate,
        each as (content, scope) with the dynamic block's iterator bound in the scope. Arguments of a content are
        evaluated with ``value(content[arg], scope)``; its own nested blocks with ``blocks(content, ..., scope)``.
        The parsed HCL does not keep the order between written and dynamic blocks of one name: where Terraform's
        order matters (CloudFront's ordered cache behaviours), the reader must not depend on it."""
        scope = scope or {}
        found = [(block, scope) for block in body.get(name, []) if isinstance(block, dict)]
        for group in body.get("dynamic", []):
            if name not in group:
                continue
            dynamic = group[name]
            iterator = self.value(dynamic["iterator"], scope) if "iterator" in dynamic else name
            collection = self.value(dynamic["for_each"], scope)
            items = collection.items() if isinstance(collection, dict) else enumerate(collection)
            for key, item in items:
                bound = {**scope, iterator: {"key": key, "value": item}}
                found.extend((content, bound) for content in dynamic["content"])
        return found

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
        if address in self.answers:
            return self.answers[address]
        instances = self.instances(address)
        symbol = Symbol(address)
        if list(instances) == [None]:
            return symbol if self.symbolic else Unknown(address)
        if instances and all(isinstance(k, int) for k in instances):
            return [symbol[k] if self.symbolic else Unknown(address, k) for k in instances]
        return {k: symbol[k] if self.symbolic else Unknown(address, k) for k in instances}


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
                name = self.attribute() if self.peek() == "." else None
                if not self.skip and not isinstance(value, Unknown):
                    # Instances of a resource keep their origin; other elements' attributes are not read here.
                    value = [
                        (getattr(item, name) if name else item) if isinstance(item, Unknown) else UNKNOWN
                        for item in value
                    ]
            elif self.peek() == "[":
                self.take()
                index = self.expression()
                self.take("]")
                if not self.skip:
                    key = int(index) if isinstance(value, list) else index
                    # A Symbol indexed by a value known only after apply has no name left to keep.
                    value = UNKNOWN if isinstance(value, Symbol) and isinstance(index, Unknown) else value[key]
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
        if name in ("try", "can") and not self.skip:
            return self._try(name)
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
        if name not in FUNCTIONS:
            raise HclEvalError(f"{self.text!r}: function {name}() is not supported by tools/hcl_eval.py")
        if spread:
            arguments = [*arguments[:-1], *arguments[-1]]
        if any(isinstance(a, Unknown) for a in arguments) and name not in ("merge", "length", "toset", "concat"):
            return UNKNOWN
        return FUNCTIONS[name](*arguments)

    def _try(self, name: str) -> Any:
        """try(a, b, ...): the first argument that evaluates without an error; can(a): whether it does."""
        results = []
        while self.peek() != ")":
            start, skip, scope = self.position, self.skip, self.scope
            if any(succeeded for succeeded, _ in results):
                self.skip += 1  # already decided: the remaining arguments are only parsed
            try:
                results.append((True, self.expression()))
            except _TRY_ERRORS:
                self.position, self.skip, self.scope = start, skip + 1, scope
                self.expression()
                results.append((False, None))
            self.skip = skip
            if self.peek() == ",":
                self.take()
        self.take(")")
        if name == "can":
            if len(results) != 1:
                raise HclEvalError(f"{self.text!r}: can() takes one argument")
            return results[0][0]
        for succeeded, value in results:
            if succeeded:
                return value
        raise HclEvalError(f"{self.text!r}: no argument of try() could be evaluated")

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


def _declared_variables(documents: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in documents.values():
        for group in document.get("variable", []):
            for name, body in group.items():
                if not name.startswith("__"):
                    yield name, body


def default_variables(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The declared variables' defaults (variables without one are left out)."""
    return {
        name: Evaluator({}, {}).value(body["default"])
        for name, body in _declared_variables(documents)
        if "default" in body
    }


def environment_variables(documents: dict[str, dict[str, Any]], tfvars: Path) -> dict[str, Any]:
    """Declared variables' defaults overlaid with an environment's tfvars; a tfvars key not declared is an error."""
    values = default_variables(documents)
    declared = {name for name, _ in _declared_variables(documents)}
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
