"""`kubeproc up` refuses with one sentence naming what is missing and how to install it."""

from __future__ import annotations

import pytest

from kubeproc.agent import preflight


@pytest.mark.parametrize("euid,runc,want", [
    (1000, "/usr/sbin/runc", "needs root"),
    (0, None, "apt-get install -y runc"),
    (0, "/usr/sbin/runc", None),
], ids=["not-root", "no-runc", "ready"])
def test_problem_names_what_is_missing(monkeypatch, euid, runc, want):
    monkeypatch.setattr(preflight.os, "geteuid", lambda: euid)
    monkeypatch.setattr(preflight, "runc_path", lambda: runc)
    got = preflight.problem()
    if want is None:
        assert got is None
    else:
        assert want in got and got.count(".") <= 1  # one sentence


def test_up_refuses_without_root(tmp_path):
    import os
    import subprocess
    import sys
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          sys.executable, "-m", "kubeproc.cli.main", "up", "--data-dir",
                          str(tmp_path / "d")], capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert res.returncode == 1
    assert res.stderr.strip().startswith("kubeproc: running pods needs root")
