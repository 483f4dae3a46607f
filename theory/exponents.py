"""Parse and print width exponents exactly, in time bounded by the text's length.

What an exponent may be (docs/parametrizations.md#exponents lists the same):

* a **number**: integers, decimals, e-notation and fractions combined with ``+ - * /`` and parentheses
  ("1/2", "-1", "0.5", "2.5e-1", "1/2 - 1/3"), kept as an exact rational;
* for the global learning-rate exponent only, **one bare name** ("x"): the variable of the phase diagram.

Anything else is refused with one line naming the field: a name in a, b, c, warm-up or epsilon exponents
("1/2 - theta"), or an expression in names as the LR exponent ("x + y", "2*x").  The engine derives
numbers with exact Fractions and one symbolic LR exponent with exact piecewise-linear functions
(``theory.piecewise``), both in time bounded by the graph's size; expressions in several symbols would need
sympy's ``Max``/``Min`` simplification, whose work has no bound (it hung), so they are not accepted.

Sizes are bounded so that every step is cheap and every number fits a float: at most ``MAX_TEXT``
characters, at most ``MAX_DIGITS`` digits per number with an e-exponent within +-``MAX_DIGITS``, values
within +-``MAX_MAGNITUDE`` and denominators up to ``MAX_DENOMINATOR``.  The parser is a small recursive
descent over exact Fractions instead of ``sympify``, so untrusted TOML or command-line text is never
``eval``-ed and never reaches sympy.
"""

from __future__ import annotations

import math
import numbers
import re
from fractions import Fraction
from typing import TypeAlias

import sympy

from theory.errors import InputError

Exponent: TypeAlias = sympy.Expr

MAX_TEXT = 100  # characters of one exponent's text
MAX_DIGITS = 30  # significant digits of one number, and the largest e-exponent (1e30, 1e-30)
MAX_MAGNITUDE = 1000  # |exponent|: n^1000 already overflows a float at n = 2
MAX_DENOMINATOR = 10**30
RESERVED_NAMES = frozenset({"inf", "infinity", "oo", "nan", "zoo"})  # never a symbol (any case)

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TOKEN = re.compile(rf"\s*(?:({_NUMBER})|([A-Za-z_][A-Za-z_0-9]*)|(.))", re.DOTALL)
_LITERAL = re.compile(r"(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_SHOWN = 40  # characters of the offending text quoted in an error


class _Linear:
    """const + sum(coeffs[name] * name): what the parser builds (exact Fractions, no sympy)."""

    __slots__ = ("coeffs", "const")

    def __init__(self, const: Fraction, coeffs: dict[str, Fraction] | None = None) -> None:
        self.const = const
        self.coeffs = {name: k for name, k in (coeffs or {}).items() if k != 0}

    def scaled(self, factor: Fraction) -> _Linear:
        return _Linear(self.const * factor, {name: k * factor for name, k in self.coeffs.items()})

    def plus(self, other: _Linear, sign: int) -> _Linear:
        coeffs = dict(self.coeffs)
        for name, k in other.coeffs.items():
            coeffs[name] = coeffs.get(name, Fraction(0)) + sign * k
        return _Linear(self.const + sign * other.const, coeffs)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any character
            break
        num, name, op = m.groups()
        if num is not None:
            out.append(("num", num))
        elif name is not None:
            out.append(("name", name))
        elif op is not None and not op.isspace():
            out.append(("op", op))
        pos = m.end()
    return out


def shown(value: object) -> str:
    """An offending input for an error message: quoted if text, cut to ``_SHOWN`` characters (a 5000-digit
    exponent stays one short line)."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an int beyond Python's str conversion limit
        return "(a number too large to print)"
    if len(text) > _SHOWN:
        text = text[:_SHOWN - 3] + "..."
    return repr(text) if isinstance(value, str) else text


class _Parser:
    """Recursive descent: sum := product (('+'|'-') product)*, product := unary (('*'|'/') unary)*,
    unary := ('+'|'-') unary | atom, atom := number | name | '(' sum ')'."""

    def __init__(self, text: str, field: str, symbol: bool) -> None:
        self.text = text
        self.field = field
        self.symbol = symbol
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, why: str) -> InputError:
        return InputError(f"{self.field}: cannot read exponent {shown(self.text)}: {why}")

    def not_bare(self) -> InputError:
        return self.fail("a symbolic LR exponent is one bare name like x (the variable of the phase diagram), "
                         "not an expression in names")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end")
        self.i += 1
        return tok

    def parse(self) -> _Linear:
        if not self.toks:
            raise self.fail("empty")
        value = self.sum()
        tok = self.peek()
        if tok is not None:
            raise self.fail(f"unexpected {tok[1]!r}")
        return value

    def sum(self) -> _Linear:
        value = self.product()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.take()
            value = value.plus(self.product(), 1 if tok == ("op", "+") else -1)
        return value

    def product(self) -> _Linear:
        value = self.unary()
        while (tok := self.peek()) in (("op", "*"), ("op", "/")):
            self.take()
            rhs = self.unary()
            if rhs.coeffs and (value.coeffs or tok == ("op", "/")):
                raise self.not_bare()
            if tok == ("op", "*"):
                value = rhs.scaled(value.const) if rhs.coeffs else value.scaled(rhs.const)
            elif rhs.const == 0:
                raise self.fail("division by zero")
            else:
                value = value.scaled(1 / rhs.const)
        return value

    def unary(self) -> _Linear:
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.take()
            inner = self.unary()
            return inner.scaled(Fraction(-1)) if tok == ("op", "-") else inner
        return self.atom()

    def atom(self) -> _Linear:
        kind, text = self.take()
        if kind == "num":
            return _Linear(self.literal(text))
        if kind == "name":
            if text.lower() in RESERVED_NAMES:
                raise self.fail("exponents must be finite")
            if not self.symbol:
                raise self.fail(f"{text!r} is a name: a, b, c, warm-up and epsilon exponents must be numbers like "
                                "-1/2 (only the global LR exponent may be a symbol, like x, for the phase diagram)")
            return _Linear(Fraction(0), {text: Fraction(1)})
        if text == "(":
            inner = self.sum()
            if self.take() != ("op", ")"):
                raise self.fail("missing ')'")
            return inner
        raise self.fail(f"unexpected {text!r}")

    def literal(self, text: str) -> Fraction:
        """One number token, refused before any big-integer work if it has too many digits."""
        m = _LITERAL.fullmatch(text)
        assert m is not None  # the token pattern only lets numbers through
        whole, frac, exp = m.group(1), m.group(2) or "", m.group(3)
        if len((whole + frac).lstrip("0")) > MAX_DIGITS:
            raise self.fail(f"a number has more than {MAX_DIGITS} digits")
        if exp is not None and (len(exp.lstrip("+-")) > 4 or abs(int(exp)) > MAX_DIGITS):
            raise self.fail(f"an e-exponent beyond +-{MAX_DIGITS} (like {shown(text)})")
        value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
        if exp is not None:
            value *= Fraction(10) ** int(exp)
        return value


def _out_of_range(field: str, given: object) -> InputError:
    return InputError(f"{field}: exponent {shown(given)} is outside [-{MAX_MAGNITUDE}, {MAX_MAGNITUDE}] "
                      f"(n^{MAX_MAGNITUDE} already overflows a float)")


def _bounded(value: Fraction, field: str, given: object) -> sympy.Rational:
    """``value`` (read from the user's ``given``) as a sympy Rational, refused if beyond the size bounds."""
    if abs(value) > MAX_MAGNITUDE:
        raise _out_of_range(field, given)
    if value.denominator > MAX_DENOMINATOR:
        raise InputError(f"{field}: exponent {shown(given)} needs a denominator above 10^{MAX_DIGITS}")
    return sympy.Rational(value.numerator, value.denominator)


def _symbol(name: str, field: str) -> sympy.Symbol:
    if name.lower() in RESERVED_NAMES or not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", name):
        raise InputError(f"{field}: {shown(name)} cannot name the LR exponent's variable (use a name like x)")
    return sympy.Symbol(name, real=True)


def parse_exponent(value: object, field: str = "exponent", *, symbol: bool = False) -> Exponent:
    """Turn user input (int, float, Fraction, str, sympy number) into an exact, bounded exponent.

    ``symbol=True`` (the global LR exponent) also accepts one bare name such as "x" or a ``sympy.Symbol``.
    Floats are read through their shortest decimal form (0.5 -> 1/2, 0.1 -> 1/10); infinities, NaN,
    booleans, expressions in names and anything beyond the size bounds are refused with one line naming
    ``field``.  Every path does a bounded amount of Fraction work and no sympy simplification.
    """
    if isinstance(value, bool):
        raise InputError(f"{field}: expected an exponent, got a boolean {value!r}")
    if isinstance(value, sympy.Basic):
        if value.is_Rational:
            return _bounded(Fraction(int(value.p), int(value.q)), field, value)
        if isinstance(value, sympy.Float):
            if value.is_finite and abs(value) > MAX_MAGNITUDE:
                raise _out_of_range(field, value)
            return parse_exponent(float(value), field)
        if value in (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
            raise InputError(f"{field}: exponents must be finite, got {value}")
        if symbol and isinstance(value, sympy.Symbol):
            return _symbol(value.name, field)
        raise InputError(f"{field}: expected a number{' or one symbol like x' if symbol else ''}, got a sympy "
                         f"{type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return _bounded(Fraction(int(value)), field, value)
    if isinstance(value, numbers.Rational):
        return _bounded(Fraction(int(value.numerator), int(value.denominator)), field, value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise InputError(f"{field}: exponents must be finite, got {number!r}")
        if abs(number) > MAX_MAGNITUDE:  # checked before Fraction(repr): 1e300 would make a 300-digit integer
            raise _out_of_range(field, number)
        return _bounded(Fraction(repr(number)), field, number)
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise InputError(f"{field}: exponent {shown(value)} is longer than {MAX_TEXT} characters")
        form = _Parser(value, field, symbol).parse()
        if not form.coeffs:
            return _bounded(form.const, field, value)
        (name, coeff), *more = form.coeffs.items()
        if more or coeff != 1 or form.const != 0:
            raise _Parser(value, field, symbol).not_bare()
        return _symbol(name, field)
    raise InputError(f"{field}: expected a number or a string like '-1/2', got {type(value).__name__}")


def format_exponent(value: Exponent | None) -> str:
    """Print an exponent the way users type it: '-1/2', '0', 'x'; a piecewise one as 'e1 if cond; e2'; None -> '-'."""
    if value is None:
        return "-"
    if isinstance(value, str):  # never sympify text: parse it
        value = parse_exponent(value, symbol=True)
    value = sympy.sympify(value)
    if value == -sympy.oo:
        return "-inf"
    if value == sympy.oo:
        return "inf"
    if isinstance(value, sympy.Piecewise):
        parts = []
        for expr, cond in value.args:
            text = _plain(expr)
            parts.append(text if cond is sympy.true else f"{text} if {_plain(cond)}")
        return "; ".join(parts)
    return _plain(value)


def _plain(value: sympy.Basic) -> str:
    return str(value).replace("**", "^").replace("*", "")


def to_fraction(value: Exponent) -> Fraction:
    """Exact Fraction of a numeric exponent (raises InputError if symbolic)."""
    if isinstance(value, sympy.Basic) and value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, int | Fraction) and not isinstance(value, bool):
        return Fraction(value)
    raise InputError(f"exponent {format_exponent(value)} is symbolic; give it a number first")
