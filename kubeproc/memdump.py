"""Benchmark aid: dump tracemalloc snapshots of this process on SIGUSR2 (bench/memory.py).

Opt-in only: with `KUBEPROC_MEMDUMP=<dir>` in the environment (and tracemalloc tracing, e.g.
`PYTHONTRACEMALLOC=25`), each SIGUSR2 writes `<dir>/snapshot-<n>.pickle` (n = 1, 2, ...), through
a temporary name and a rename so a reader never sees a partial file. Without the variable
nothing is installed and nothing changes. Standard library only (fits every import layer).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import tracemalloc

log = logging.getLogger("kubeproc.memdump")

ENV = "KUBEPROC_MEMDUMP"


class _Dumper:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.count = 0

    def dump(self) -> str | None:
        """Write the next snapshot; returns its path, or None when tracemalloc is not tracing."""
        if not tracemalloc.is_tracing():
            log.warning("%s is set but tracemalloc is not tracing (set PYTHONTRACEMALLOC)", ENV)
            return None
        # retained memory is what the benchmark compares: cyclic garbage waiting for the
        # (deliberately rare, see server.py's gc thresholds) next collection would blur it
        gc.collect()
        snap = tracemalloc.take_snapshot()
        self.count += 1
        path = os.path.join(self.directory, f"snapshot-{self.count}.pickle")
        tmp = path + ".tmp"
        snap.dump(tmp)
        del snap
        os.replace(tmp, path)
        log.info("memdump: wrote %s", path)
        return path


def install(loop: asyncio.AbstractEventLoop, environ: dict[str, str] | None = None) -> bool:
    """Install the SIGUSR2 snapshot handler on `loop` when KUBEPROC_MEMDUMP is set.

    Returns whether it was installed. Errors while dumping are logged, never raised: a
    benchmark aid must not take the server down.
    """
    directory = (os.environ if environ is None else environ).get(ENV, "")
    if not directory:
        return False
    os.makedirs(directory, exist_ok=True)
    dumper = _Dumper(directory)

    def on_signal() -> None:
        try:
            dumper.dump()
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("memdump: snapshot failed")

    loop.add_signal_handler(signal.SIGUSR2, on_signal)
    return True
