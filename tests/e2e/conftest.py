"""Fixtures: one real kubeproc per test session (tests isolate by namespace) and fresh ones on
demand for tests that kill or restart the server. These are control-plane tests: the
instances run without the node agent (`--no-agent`); tests/node run pods for real."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import pytest

from kubeproc.testing.instance import Instance, free_port


@pytest.fixture(scope="session")
def cluster():
    base = tempfile.mkdtemp(prefix="kubeproc-e2e-")
    inst = Instance(os.path.join(base, "data"), free_port(), extra_args=("--no-agent",))
    inst.start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_instance():
    """A private instance for tests that restart or kill the server."""
    base = tempfile.mkdtemp(prefix="kubeproc-e2e-")
    made: list[Instance] = []

    def make() -> Instance:
        inst = Instance(os.path.join(base, f"data{len(made)}"), free_port(), extra_args=("--no-agent",))
        made.append(inst)
        return inst
    try:
        yield make
    finally:
        for inst in made:
            inst.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def namespace(cluster):
    name = "t-" + uuid.uuid4().hex[:8]
    status, body = cluster.request("POST", "/api/v1/namespaces",
                                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert status == 201, body
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")
