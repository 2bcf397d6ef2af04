"""Label and field selectors: parsing the query-string forms and matching.

Follows k8s.io/apimachinery/pkg/labels/selector.go (Parse) and pkg/fields/selector.go
(ParseSelector), plus metav1.LabelSelector (matchLabels/matchExpressions) as in
k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors

_OPS = ("in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_KEY_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # in | notin | = | != | exists | ! | gt | lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op in ("in", "="):
            return has and labels[self.key] in self.values
        if self.op in ("notin", "!="):
            return not has or labels[self.key] not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if not has:
            return False
        try:
            left, right = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return left > right if self.op == "gt" else left < right


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False  # a nil selector in some contexts selects nothing

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements and not self.nothing


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _KEY_NAME_RE.match(name):
        raise errors.BadRequest(f"unable to parse requirement: invalid label key \"{key}\": name part "
                                "must consist of alphanumeric characters, '-', '_' or '.', and must "
                                "start and end with an alphanumeric character")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        raise errors.BadRequest(f"unable to parse requirement: invalid label key \"{key}\": prefix part "
                                "must be a lowercase RFC 1123 subdomain")


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise errors.BadRequest(f"unable to parse requirement: invalid label value: \"{value}\": "
                                "a valid label must be an empty string or consist of alphanumeric "
                                "characters, '-', '_' or '.', and must start and end with an "
                                "alphanumeric character")


_TOKEN_RE = re.compile(r"\s*(\(|\)|,|!=|==|=|!|[^\s(),!=]+)")


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    if depth != 0:
        raise errors.BadRequest(f"unable to parse requirement: unbalanced parentheses in \"{text}\"")
    return parts


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3` (labels.Parse)."""
    if not text or not text.strip():
        return EVERYTHING
    reqs = []
    for part in _split_top(text):
        part = part.strip()
        if not part:
            raise errors.BadRequest(f"unable to parse requirement: found '', expected: identifier in \"{text}\"")
        m = re.match(r"^(\S+?)\s+(in|notin)\s*\((.*)\)$", part)
        if m:
            key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]
            _check_key(key)
            for v in vals:
                _check_value(v)
            reqs.append(Requirement(key, op, tuple(sorted(set(vals)))))
            continue
        if part.startswith("!"):
            key = part[1:].strip()
            _check_key(key)
            reqs.append(Requirement(key, "!"))
            continue
        m = re.match(r"^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$", part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3).strip()
            _check_key(key)
            if op in (">", "<"):
                if not re.fullmatch(r"-?\d+", value):
                    raise errors.BadRequest(f"unable to parse requirement: for 'Gt', 'Lt' operators, "
                                            f"the value must be an integer: \"{value}\"")
                reqs.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
                continue
            _check_value(value)
            reqs.append(Requirement(key, "=" if op in ("=", "==") else "!=", (value,)))
            continue
        if re.fullmatch(r"[^\s=!()]+", part):
            _check_key(part)
            reqs.append(Requirement(part, "exists"))
            continue
        raise errors.BadRequest(f"unable to parse requirement: found '{part}', expected: "
                                "in, notin, =, ==, !=, gt, lt")
    return LabelSelector(tuple(reqs))


def from_label_selector(sel: dict[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelector → selector; nil selects nothing, empty selects everything."""
    if sel is None:
        return NOTHING
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    op_map = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        op = op_map.get(expr.get("operator", ""))
        if op is None:
            raise errors.BadRequest(f"\"{expr.get('operator')}\" is not a valid label selector operator")
        reqs.append(Requirement(expr.get("key", ""), op, tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def _requirement_text(key: str, op: str, values: list[str]) -> str | None:
    # labels.Requirement.String(); several values print sorted.
    vals = ",".join(sorted(values)) if len(values) > 1 else "".join(values)
    if op == "In":
        return f"{key} in ({vals})"
    if op == "NotIn":
        return f"{key} notin ({vals})"
    if op == "Exists":
        return key
    if op == "DoesNotExist":
        return "!" + key
    return None


def selector_text(sel: dict[str, Any] | None) -> str | None:
    """metav1.LabelSelectorAsSelector(sel).String(); None when the selector is invalid."""
    if not sel:
        return ""  # nil -> labels.Nothing(), empty -> labels.Everything(): both print ""
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        text = _requirement_text(expr.get("key", ""), expr.get("operator", ""),
                                 list(expr.get("values") or []))
        if text is None:
            return None
        reqs.append((expr.get("key", ""), text))
    reqs.sort(key=lambda r: r[0])  # internalSelector.Add sorts requirements by key
    return ",".join(text for _, text in reqs)


def selector_string(sel: dict[str, Any] | None) -> str:
    """The canonical string of a metav1.LabelSelector (as Scale.status.selector shows it)."""
    return selector_text(sel) or ""


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, str, str], ...] = ()  # (field, op "="|"!=", value)

    def matches(self, fields: Mapping[str, str]) -> bool:
        for f, op, value in self.terms:
            actual = fields.get(f, "")
            if (actual == value) != (op == "="):
                return False
        return True

    def fields(self) -> set[str]:
        return {t[0] for t in self.terms}


def _split_field_terms(text: str) -> list[str]:
    # fields/selector.go splitTerms: commas split terms unless escaped with a backslash
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape_field_value(value: str) -> str:
    # fields/selector.go UnescapeValue: only \\, \, and \= are escapes; bare , and = are errors
    out, in_slash = [], False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise errors.BadRequest(
                    f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            raise errors.BadRequest(
                f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if in_slash:
        raise errors.BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str | None) -> FieldSelector:
    """`metadata.name=x,status.phase!=Running` (fields.ParseSelector); values may escape , = \\."""
    if not text or not text.strip():
        return FieldSelector()
    terms = []
    for part in _split_field_terms(text):
        if not part.strip():
            continue  # parseSelector skips empty terms
        # splitTerm: the leftmost operator wins; at one position != and == before =
        m = re.match(r"^(.*?)(!=|==|=)(.*)$", part, re.S)
        if not m:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        value = _unescape_field_value(m.group(3).strip())
        terms.append((m.group(1).strip(), "!=" if m.group(2) == "!=" else "=", value))
    return FieldSelector(tuple(terms))
