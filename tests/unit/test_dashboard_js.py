"""The dashboard's pure view model (kubeproc/dashboard/static/model.js), tested with node's own
test runner; skipped where node is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

STATIC = os.path.join(os.path.dirname(__file__), "..", "..", "kubeproc", "dashboard", "static")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_model_js_under_node_test():
    res = subprocess.run(["node", "--test", os.path.join(STATIC, "model.test.js")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "# fail 0" in res.stdout and "# pass 0" not in res.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("module", ["app.js", "watch.js", "model.js"], ids=["page", "list-watch", "view-model"])
def test_static_modules_parse_as_es_modules(module: str):
    with open(os.path.join(STATIC, module)) as f:
        res = subprocess.run(["node", "--input-type=module", "--check"], stdin=f, capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 0, res.stderr
