"""How the demo talks: numbered sections, the kubectl commands it runs (shown, then run for real),
what it observed, and a progress line while it waits (on a terminal only)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class DemoError(Exception):
    """A step could not observe what it waits for; the message says what and for how long."""


class Ui:
    def __init__(self, kubectl: str, env: dict[str, str], out=sys.stdout) -> None:
        self.kubectl, self.env, self.out = kubectl, env, out
        self.tty = out.isatty()

    def section(self, n: int, title: str) -> None:
        self.out.write(f"\n\033[1m{n}. {title}\033[0m\n" if self.tty else f"\n{n}. {title}\n")
        self.out.flush()

    def say(self, text: str) -> None:
        self.out.write(f"   {text}\n")
        self.out.flush()

    def saw(self, text: str) -> None:
        """An observation (measured, never canned)."""
        self.out.write(f"   → {text}\n")
        self.out.flush()

    def run(self, *args: str, show: bool = True, check: bool = True, echo_output: bool = False,
            input: str | None = None) -> str:
        if show:
            self.out.write(f"   $ kubectl {' '.join(_quote(a) for a in args)}\n")
            self.out.flush()
        res = subprocess.run([self.kubectl, *args], env=self.env, text=True, capture_output=True,
                             input=input, timeout=120)
        if check and res.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed: {res.stderr.strip() or res.stdout.strip()}")
        if echo_output:
            for line in res.stdout.rstrip("\n").splitlines():
                self.out.write(f"     {line}\n")
        return res.stdout

    def wait(self, what: str, fn: Callable[[], T], timeout: float = 120.0, interval: float = 0.05) -> T:
        """Poll `fn` until it returns something truthy, showing `what` and the time spent."""
        start = time.monotonic()
        last_draw = 0.0
        try:
            while True:
                got = fn()
                if got:
                    return got
                now = time.monotonic()
                if now - start > timeout:
                    raise DemoError(f"gave up after {timeout:.0f} s waiting for {what}")
                if self.tty and now - last_draw > 0.1:
                    self.out.write(f"\r   … waiting for {what} ({now - start:4.1f} s)\033[K")
                    self.out.flush()
                    last_draw = now
                time.sleep(interval)
        finally:
            if self.tty:
                self.out.write("\r\033[K")
                self.out.flush()


def _quote(a: str) -> str:
    return a if a and all(c.isalnum() or c in "-_./=:,@%+{}[]" for c in a) else "'" + a.replace("'", "'\\''") + "'"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(rows: list[list[Any]], header: list[str], wrap: int = 46) -> str:
    """Columns side by side, each cell wrapped at `wrap` characters (fits 110 columns)."""
    cells = [[textwrap.wrap(str(c), wrap, break_on_hyphens=False, break_long_words=False) or [""]
              for c in r] for r in rows]
    widths = [max([len(header[i])] + [len(x) for r in cells for x in r[i]]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    for r in cells:
        for k in range(max(len(c) for c in r)):
            out.append(line([c[k] if k < len(c) else "" for c in r]))
    return "\n".join(out)
