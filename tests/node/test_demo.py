"""`kubeproc demo` end to end, twice on one instance (the second run starts over): every step
observes what it claims, and the closing table is built from those observations."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile

from kubeproc.testing.instance import free_service_cidr
from tests.node.conftest import leftovers


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubeproc.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_tells_the_story_from_observations_and_runs_twice():
    base = tempfile.mkdtemp(prefix="kubeproc-demo-")
    data = f"{base}/data"
    try:
        up = _cli("up", "--data-dir", data, "--service-cidr", free_service_cidr(), "--backoff-seconds", "1")
        assert up.returncode == 0, up.stderr
        for run in (1, 2):
            res = _cli("demo", "--data-dir", data)
            out = res.stdout
            assert res.returncode == 0, f"run {run}:\n{out[-3000:]}\n{res.stderr[-2000:]}"
            assert "kubeproc is already running" in out  # the demo reuses the instance
            for n in range(1, 9):
                assert re.search(rf"^{n}\. ", out, re.M), f"step {n} missing in run {run}"
            # 1: three random names at once; ordinals each after the previous was Ready
            assert len(re.findall(r"→ \+\s*\d+ ms\s+web-[a-z0-9]+-[a-z0-9]{5} ", out)) == 3
            assert "test-redis-pod-1 was created" in out and "after test-redis-pod-0 became Ready" in out
            # 2: the master's DNS name resolves to its IP
            assert re.search(r"resolves to (\S+) inside test-redis-pod-1 \(= test-redis-pod-0's IP \1\)", out)
            assert "connected_slaves:2" in out
            # 3, 4: replicated data, shared volume, different pods answering, a read-only replica
            assert out.count("(replicated from the master)") == 2
            assert "every web pod mounts the same claim: web-shared" in out
            assert "READONLY" in out
            # 5: the same Redis pod back with its data; a web pod replaced by a stranger
            assert "test-redis-pod-0 is back: same name, claim data-test-redis-pod-0" in out
            assert "its data survived on the claim" in out
            # 6, 7: ordered scale-down; the store keeps its keys only under OrderedReady
            assert "-1 was touched only after -2 was fully gone" in out
            lost = dict(re.findall(r"(Parallel|OrderedReady)[^:]*:[^:]*: (\d+) of 200 keys lost", out))
            assert lost.get("OrderedReady") == "0" and int(lost.get("Parallel", "0")) > 0, lost
            assert "aspect" in out and "scale-down" in out
    finally:
        _cli("down", "--data-dir", data, timeout=120)
        left = leftovers(data)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"the demo's instance left: {left}"
