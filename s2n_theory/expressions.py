"""Safe parsing of user expressions into SymPy.

User text is parsed into a Python syntax tree with :func:`ast.parse` (which only
parses) and the tree is walked against an allow-list: numbers, declared names
(``t`` and parameters), ``+ - * / **`` (``^`` is a power: the token is read as
``**`` before parsing, so it binds tighter than unary minus and groups to the
right exactly like ``**``: ``-t^2`` is −(t²), ``2^3^2`` is 2⁹), and a fixed
set of one-argument functions. Everything else raises :class:`ExpressionError`
naming the construct and its column. SymPy objects are built node by node, so no
user string ever reaches ``eval``, ``exec`` or ``sympify``.

Caps on length, node count, depth, literal size and exponent size keep every
call fast: a string such as ``9**9**9**9`` is rejected before SymPy evaluates it.
"""

from __future__ import annotations

import ast
import io
import math
import tokenize
from collections.abc import Callable, Mapping

import sympy as sp

from .errors import ExpressionError
from .symbols import T

MAX_LENGTH = 1000
MAX_NODES = 500
MAX_DEPTH = 50
MAX_LITERAL_CHARS = 40
MAX_EXPONENT = 64
MAX_INTEGER_BITS = 4096


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "ln": sp.log,
    "sqrt": sp.sqrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "sigmoid": _sigmoid,
    "softplus": lambda x: sp.log(1 + sp.exp(x)),
    "expm1": lambda x: sp.exp(x) - 1,
    "log1p": lambda x: sp.log(1 + x),
}
"""Functions a user expression may call (one positional argument each)."""

CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}

MAX_CONSTANT = 1e150
"""Largest magnitude a constant subexpression may have (larger ones make SymPy's evalf crawl)."""


def _float_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


FLOAT_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "exp": math.exp, "log": math.log, "ln": math.log, "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan, "sinh": math.sinh,
    "cosh": math.cosh, "tanh": math.tanh, "erf": math.erf, "erfc": math.erfc, "sigmoid": _float_sigmoid,
    "softplus": lambda x: math.log1p(math.exp(x)) if x < 700 else x, "expm1": math.expm1, "log1p": math.log1p,
}
"""Python-float twins of FUNCTIONS: constant subexpressions are bounded with these (they fail fast,
with OverflowError or ValueError, where SymPy's arbitrary precision would crawl or go complex)."""

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}

_DESCRIBE = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda expressions",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
    ast.IfExp: "conditional expressions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment expressions",
    ast.Starred: "starred arguments",
    ast.Await: "await",
    ast.Yield: "yield",
}


def _fail(message: str, node: ast.AST | None, where: str) -> ExpressionError:
    loc = f" at column {node.col_offset + 1}" if node is not None and hasattr(node, "col_offset") else ""
    prefix = f"{where}: " if where else ""
    return ExpressionError(f"{prefix}{message}{loc}")


def _too_big(value: sp.Expr) -> bool:
    if isinstance(value, sp.Rational):
        return max(abs(int(value.p)).bit_length(), abs(int(value.q)).bit_length()) > MAX_INTEGER_BITS
    return False


class _Builder:
    """Builds SymPy from the syntax tree; constant subtrees also carry a float twin to bound them."""

    def __init__(self, text: str, names: Mapping[str, sp.Expr], where: str):
        self.text = text
        self.names = names
        self.where = where
        self.nodes = 0

    def build(self, node: ast.AST, depth: int) -> tuple[sp.Expr, float | None]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(f"expression has more than {MAX_NODES} syntax nodes", node, self.where)
        if depth > MAX_DEPTH:
            raise _fail(f"expression is nested deeper than {MAX_DEPTH} levels", node, self.where)
        try:
            value, approx = self._build(node, depth)
        except (OverflowError, ZeroDivisionError):
            raise _fail("a constant in the expression overflows or divides by zero", node, self.where) from None
        except ValueError as exc:  # math domain errors: log(-1), sqrt(-1), asin(2), ...
            if isinstance(exc, ExpressionError):
                raise
            raise _fail("a constant in the expression is not a real number", node, self.where) from None
        if approx is not None:
            if isinstance(approx, complex) or not math.isfinite(approx):
                raise _fail("a constant in the expression is not a finite real number", node, self.where)
            if abs(approx) > MAX_CONSTANT:
                raise _fail(f"a constant in the expression exceeds {MAX_CONSTANT:g} in magnitude", node, self.where)
        if _too_big(value):
            raise _fail(f"a number in the expression exceeds {MAX_INTEGER_BITS} bits", node, self.where)
        if value.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise _fail("expression evaluates to an undefined or infinite constant", node, self.where)
        if isinstance(value, (sp.Pow, sp.Mul)):
            for power in value.atoms(sp.Pow):
                if power.exp.is_Number and abs(float(power.exp)) > MAX_EXPONENT:
                    raise _fail(f"combined exponent {power.exp} exceeds the cap of {MAX_EXPONENT}", node,
                                self.where)
        return value, approx

    def _build(self, node: ast.AST, depth: int) -> tuple[sp.Expr, float | None]:
        if isinstance(node, ast.Constant):
            return self._literal(node)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                value = self.names[node.id]
                return value, (float(value) if value.is_Number else None)
            if node.id in CONSTANTS:
                return CONSTANTS[node.id], float(CONSTANTS[node.id])
            if node.id in FUNCTIONS:
                raise _fail(f"function {node.id!r} must be called with one argument", node, self.where)
            allowed = ", ".join(sorted([*self.names, *CONSTANTS]))
            raise _fail(f"unknown name {node.id!r} (allowed names: {allowed})", node, self.where)
        if isinstance(node, ast.UnaryOp):
            operand, approx = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return -operand, (None if approx is None else -approx)
            if isinstance(node.op, ast.UAdd):
                return operand, approx
            raise _fail(f"operator {type(node.op).__name__} is not allowed", node, self.where)
        if isinstance(node, ast.BinOp):
            left, a = self.build(node.left, depth + 1)
            right, b = self.build(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                return self._power(left, a, right, b, node)
            op = _BINARY.get(type(node.op))
            if op is None:
                raise _fail(f"operator {type(node.op).__name__} is not allowed", node, self.where)
            both = a is not None and b is not None
            return op(left, right), (op(a, b) if both else None)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        what = _DESCRIBE.get(type(node), f"syntax {type(node).__name__}")
        raise _fail(f"{what} not allowed", node, self.where)

    def _literal(self, node: ast.Constant) -> tuple[sp.Expr, float]:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"literal {type(value).__name__} not allowed (only real numbers)", node, self.where)
        source = ast.get_source_segment(self.text, node) or repr(value)
        if len(source) > MAX_LITERAL_CHARS:
            raise _fail(f"numeric literal longer than {MAX_LITERAL_CHARS} characters", node, self.where)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _fail("numeric literal is not finite", node, self.where)
            # Exact rational from the decimal text, so 0.1 is 1/10 and symbolic
            # proofs are not spoiled by binary round-off.
            return sp.Rational(source.replace("_", "")), value
        return sp.Integer(value), float(value)

    def _power(self, base: sp.Expr, base_approx: float | None, exponent: sp.Expr, exp_approx: float | None,
               node: ast.AST) -> tuple[sp.Expr, float | None]:
        if exp_approx is not None:
            if abs(exp_approx) > MAX_EXPONENT:
                raise _fail(f"exponent {abs(exp_approx):g} exceeds the cap of {MAX_EXPONENT}", node, self.where)
            if isinstance(base, sp.Rational) and isinstance(exponent, sp.Rational):
                bits = max(abs(int(base.p)).bit_length(), abs(int(base.q)).bit_length())
                if bits * abs(exp_approx) > MAX_INTEGER_BITS:
                    raise _fail(f"power would exceed {MAX_INTEGER_BITS} bits", node, self.where)
        approx = None
        if base_approx is not None and exp_approx is not None:
            approx = math.pow(base_approx, exp_approx)  # ValueError for a negative base and fractional power
        return sp.Pow(base, exponent), approx

    def _call(self, node: ast.Call, depth: int) -> tuple[sp.Expr, float | None]:
        if not isinstance(node.func, ast.Name):
            what = "attribute access" if isinstance(node.func, ast.Attribute) else "calling an expression"
            raise _fail(f"{what} not allowed", node, self.where)
        name = node.func.id
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise _fail(f"function {name!r} not allowed (allowed: {allowed})", node, self.where)
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise _fail(f"function {name!r} takes exactly one positional argument", node, self.where)
        argument, approx = self.build(node.args[0], depth + 1)
        return FUNCTIONS[name](argument), (None if approx is None else FLOAT_FUNCTIONS[name](approx))


def _caret_as_power(text: str) -> str:
    """``text`` with every ``^`` operator token written ``**``.

    Python gives ``^`` (XOR) a lower precedence than ``+``, so mapping the XOR node
    afterwards would read ``-2*t^2`` as ``(-2*t)^2``; rewriting the token makes the
    grammar itself treat it as a power. Tokenising (not a string replace) leaves
    nothing else changed; text that does not tokenise is returned as is and
    :func:`ast.parse` reports the error.
    """
    if "^" not in text:
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    offsets = [0]
    for line in text.split("\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    carets = [offsets[tok.start[0] - 1] + tok.start[1] for tok in tokens
              if tok.type == tokenize.OP and tok.string == "^"]
    for start in reversed(carets):
        text = text[:start] + "**" + text[start + 1:]
    return text


def parse_expression(
    text: str,
    names: Mapping[str, sp.Expr] | None = None,
    *,
    where: str = "",
) -> sp.Expr:
    """Parse ``text`` into a SymPy expression over the allowed ``names``.

    ``names`` maps identifiers to SymPy objects (default: ``{"t": T}``). Raises
    :class:`ExpressionError` for anything outside the allow-list; ``where``
    (e.g. ``"alpha"``) prefixes the message so the user knows which field failed.
    """
    if names is None:
        names = {"t": T}
    if not isinstance(text, str):
        raise ExpressionError(f"{where + ': ' if where else ''}expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{where + ': ' if where else ''}expression longer than {MAX_LENGTH} characters")
    stripped = text.strip()
    if not stripped:
        raise ExpressionError(f"{where + ': ' if where else ''}empty expression")
    stripped = _caret_as_power(stripped)
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"{where + ': ' if where else ''}syntax error{col}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"{where + ': ' if where else ''}cannot parse expression ({type(exc).__name__})") from None
    builder = _Builder(stripped, names, where)
    try:
        return builder.build(tree.body, 0)[0]
    except RecursionError:
        raise ExpressionError(f"{where + ': ' if where else ''}expression is nested too deeply") from None


def parse_number(text: str, *, where: str = "") -> float:
    """Parse a constant expression (``1e-3``, ``2*pi``) to a float."""
    value = parse_expression(text, {}, where=where)  # constants are already bounded, so evalf is quick
    number = complex(value.evalf(30))
    if number.imag != 0 or number.real != number.real or abs(number.real) == float("inf"):
        raise ExpressionError(f"{where + ': ' if where else ''}{text!r} is not a finite real number")
    return number.real
