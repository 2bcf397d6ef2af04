"""Kubernetes resource quantities ("100m", "1Gi", "1e3", "0.5"): parsing, comparing, printing.

Ports the grammar and canonical form of k8s.io/apimachinery/pkg/api/resource/quantity.go:
values are exact (Fraction), rounded up to nano precision like upstream, and print in the
canonical form of the suffix family they were written in (binary, decimal SI, exponent).
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

# quantity.go: the error text the decoder reports for a malformed quantity.
QUANTITY_REGEX_MSG = (
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)

_NUMBER = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_EXPONENT = re.compile(r"^[eE]([-+]?[0-9]+)$")

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""

    def __init__(self) -> None:
        super().__init__(QUANTITY_REGEX_MSG)


# The forms nearly every manifest uses ("2", "500m", "16Mi", "1Gi"): an unsigned integer and
# a suffix. Their value is an integer times a power of 1024 or 10 (never finer than nano),
# so they need neither Fraction(str) nor nano rounding.
_SIMPLE = re.compile(r"([0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)")
_CACHE_SIZE = 4096


def _parse(value: str | int | float) -> tuple[Fraction, str]:
    if type(value) is str:
        return _parse_str(value)
    if isinstance(value, bool):
        raise QuantityError()
    if isinstance(value, int):
        return Fraction(value), DECIMAL_SI
    if isinstance(value, float):
        # JSON numbers decode as DecimalSI quantities (Quantity.UnmarshalJSON parses the text).
        return _round_nano(Fraction(repr(value))), DECIMAL_SI
    if not isinstance(value, str):
        raise QuantityError()
    return _parse_str.__wrapped__(value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_str(value: str) -> tuple[Fraction, str]:
    # Quantities repeat across objects; the result (immutable) is cached per string.
    s = value.strip()
    simple = _SIMPLE.fullmatch(s)
    if simple:
        n, suffix = int(simple.group(1)), simple.group(2)
        if suffix in _BINARY:
            return Fraction(n * 1024 ** _BINARY[suffix]), BINARY_SI
        exp = _DECIMAL[suffix]
        return (Fraction(n * 10**exp) if exp >= 0 else Fraction(n, 10**-exp)), DECIMAL_SI
    return _parse_general(s)


def _parse_general(s: str) -> tuple[Fraction, str]:
    """Any stripped quantity string, through Fraction (the reference for _SIMPLE forms)."""
    m = _NUMBER.match(s)
    if not m or not s:
        raise QuantityError()
    number, suffix = m.group(1), m.group(2)
    amount = Fraction(number)
    if suffix in _BINARY:
        return _round_nano(amount * 1024 ** _BINARY[suffix]), BINARY_SI
    if suffix in _DECIMAL:
        return _round_nano(amount * Fraction(10) ** _DECIMAL[suffix]), DECIMAL_SI
    em = _EXPONENT.match(suffix)
    if em:
        return _round_nano(amount * Fraction(10) ** int(em.group(1))), DECIMAL_EXPONENT
    raise QuantityError()


def _round_nano(v: Fraction) -> Fraction:
    # quantity.go keeps at most nano precision and rounds away from zero.
    scaled = v * 10**9
    if scaled.denominator == 1:
        return v
    rounded = math.ceil(scaled) if v > 0 else math.floor(scaled)
    return Fraction(rounded, 10**9)


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value of a quantity; raises QuantityError when malformed."""
    return _parse(value)[0]


def is_quantity(value: object) -> bool:
    try:
        _parse(value)  # type: ignore[arg-type]
    except QuantityError:
        return False
    return True


def _decimal_canonical(v: Fraction, exponent_form: bool) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v == 0:
        return "0"
    # Find the largest multiple-of-3 exponent leaving an integral mantissa (lowest: nano).
    exp = -9
    while exp < 18:
        nxt = exp + 3
        if (v / Fraction(10) ** nxt).denominator != 1:
            break
        exp = nxt
    mantissa = v / Fraction(10) ** exp
    if mantissa.denominator != 1:  # cannot happen after nano rounding; keep it safe
        mantissa = Fraction(math.ceil(mantissa))
    if exponent_form:
        return f"{sign}{mantissa.numerator}" + (f"e{exp}" if exp else "")
    return f"{sign}{mantissa.numerator}{_DECIMAL_BY_EXP[exp]}"


def format_quantity(value: str | int | float) -> str:
    """Canonical string of a quantity (Quantity.String()): "1000" -> "1k", "1.5Gi" -> "1536Mi"."""
    if type(value) is str:
        return _format_str(value)
    return _format(value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _format_str(value: str) -> str:
    return _format(value)


def _format(value: str | int | float) -> str:
    v, fmt = _parse(value)
    if fmt == BINARY_SI and v.denominator == 1 and abs(v) >= 1024:
        sign = "-" if v < 0 else ""
        n = abs(v.numerator)
        power = 0
        while power < 6 and n % 1024 == 0:
            n //= 1024
            power += 1
        suffix = {0: ""} | {p: s for s, p in _BINARY.items()}
        return f"{sign}{n}{suffix[power]}"
    # Small or fractional binary quantities print in decimal SI, like upstream CanonicalizeBytes.
    return _decimal_canonical(v, fmt == DECIMAL_EXPONENT)
