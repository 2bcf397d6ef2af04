"""context._creating_only: work that only creates files runs on the event loop's thread, work
that may remove files in another thread (it may wait for discards); results and errors pass."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kubeproc.agent.context import _creating_only


@pytest.mark.parametrize("creates_only, on_loop", [(True, True), (False, False)])
def test_runs_on_the_loop_only_when_it_only_creates(creates_only: bool, on_loop: bool) -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        got = await _creating_only(creates_only, lambda a, b: (threading.get_ident(), a + b), 2, 3)
        assert (got[0] == loop_thread) is on_loop
        assert got[1] == 5

        def fails() -> None:
            raise OSError(28, "No space left on device")
        with pytest.raises(OSError, match="No space"):
            await _creating_only(creates_only, fails)
    asyncio.run(main())
