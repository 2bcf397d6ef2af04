"""`$(VAR)` expansion of env values, `command`, `args` and `subPathExpr`.

Ports third_party/forked/golang/expansion/expand.go: `$(NAME)` is replaced by its value when
the lookup knows NAME and kept verbatim otherwise; `$$` is an escaped `$`; an unterminated
`$(` and a `$` before any other character are copied as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Lookup = Callable[[str], str | None]


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """expand.go MappingFuncFor: the first context holding the name wins; unknown → `$(name)`."""

    def mapping(name: str) -> str:
        for ctx in contexts:
            if name in ctx:
                return ctx[name]
        return f"$({name})"

    return mapping


def expand(text: str, lookup: Lookup | Mapping[str, str]) -> str:
    """Expand `$(VAR)` references in text.

    lookup is a mapping, or a function returning the value or None for an unknown name
    (an unknown reference stays `$(VAR)`, as upstream).
    """
    if isinstance(lookup, Mapping):
        table = lookup

        def resolve(name: str) -> str:
            return table[name] if name in table else f"$({name})"
    else:
        fn = lookup

        def resolve(name: str) -> str:
            value = fn(name)
            return f"$({name})" if value is None else value

    if "$" not in text:
        return text
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    # expand.go Expand: a `$` in last position is ordinary text (cursor+1 < len(input)).
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            if nxt == "$":  # tryReadVariableName: escaped operator
                out.append("$")
                advance = 1
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:  # incomplete reference: copy "$(" and go on after it
                    out.append("$(")
                    advance = 1
                else:
                    out.append(resolve(text[cursor + 2 : close]))
                    advance = close - cursor
            else:  # an operator that does not begin an expression
                out.append("$" + nxt)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def expand_command_and_args(
    container: Mapping[str, Any], env: Sequence[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """kubecontainer.ExpandContainerCommandAndArgs: expand `command` and `args` against the
    container's final environment (service variables included), e.g. container_env's result."""
    table = dict(env)
    command = [expand(c, table) for c in (container.get("command") or [])]
    args = [expand(a, table) for a in (container.get("args") or [])]
    return command, args
