"""`kubeproc up|status|down` as a user runs them: background start, pid file, kubeconfig with
the chosen port, two data dirs side by side, graceful stop."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile

import yaml

from kubeproc.testing.instance import free_service_cidr, kubectl_binary


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubeproc.cli.main", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_up_status_down_two_instances_side_by_side():
    base = tempfile.mkdtemp(prefix="kubeproc-cli-")
    dirs = [os.path.join(base, "a"), os.path.join(base, "b")]
    try:
        for d in dirs:
            # each instance's Service proxy routes its own service CIDR
            res = _cli("up", "--data-dir", d, "--service-cidr", free_service_cidr())
            assert res.returncode == 0, res.stderr
            assert f"export KUBECONFIG={d}/kubeconfig" in res.stdout
        pids = [int(open(os.path.join(d, "run", "kubeproc.pid")).read()) for d in dirs]
        assert len(set(pids)) == 2
        servers = [yaml.safe_load(open(os.path.join(d, "kubeconfig")))["clusters"][0]["cluster"]["server"]
                   for d in dirs]
        assert servers[0] != servers[1] and all(s.startswith("https://127.0.0.1:") for s in servers)
        for d in dirs:
            mode = stat.S_IMODE(os.stat(os.path.join(d, "kubeconfig")).st_mode)
            assert mode == 0o600
            for secret in ("admin.token", "apiserver.key", "ca.key"):
                assert stat.S_IMODE(os.stat(os.path.join(d, "pki", secret)).st_mode) == 0o600
        # each instance has its own store
        home = tempfile.mkdtemp(dir=base)
        env = {"HOME": home, "PATH": os.environ["PATH"]}
        run = lambda d, *a: subprocess.run([kubectl_binary(33), "--kubeconfig", f"{d}/kubeconfig", *a],
                                           capture_output=True, text=True, env=env, timeout=60)
        assert run(dirs[0], "create", "namespace", "only-in-a").returncode == 0
        assert "only-in-a" in run(dirs[0], "get", "ns").stdout
        assert "only-in-a" not in run(dirs[1], "get", "ns").stdout
        res = _cli("status", "--data-dir", dirs[0])
        assert res.returncode == 0 and "ready" in res.stdout
        res = _cli("up", "--data-dir", dirs[0])
        assert "already running" in res.stdout
        for d in dirs:
            assert _cli("down", "--data-dir", d).returncode == 0
            assert not os.path.exists(os.path.join(d, "run", "kubeproc.pid"))
        for pid in pids:
            try:
                os.kill(pid, 0)
                raise AssertionError(f"pid {pid} still alive after down")
            except ProcessLookupError:
                pass
        assert _cli("status", "--data-dir", dirs[0]).returncode == 3
    finally:
        for d in dirs:
            _cli("down", "--data-dir", d)
        shutil.rmtree(base, ignore_errors=True)


def test_data_dir_defaults_to_kubeproc_home():
    base = tempfile.mkdtemp(prefix="kubeproc-home-")
    try:
        # (a service CIDR of its own: another instance on this host may hold the default)
        res = _cli("up", "--service-cidr", free_service_cidr(), env={"KUBEPROC_HOME": base})
        assert res.returncode == 0, res.stderr
        assert os.path.exists(os.path.join(base, "run", "kubeproc.pid"))
        assert _cli("down", env={"KUBEPROC_HOME": base}).returncode == 0
    finally:
        _cli("down", env={"KUBEPROC_HOME": base})
        shutil.rmtree(base, ignore_errors=True)
