"""tests/agent run real namespaces, veths and containers on this kernel: they need root.

Without root the whole directory is skipped with that reason (CI runs it as root). Finer
prerequisites (runc for tests/agent/runtime) are checked by the sub-directories' conftests.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    skip = pytest.mark.skip(reason="tests/agent create namespaces, links and containers: run them as root")
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(skip)
