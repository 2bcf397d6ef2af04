"""`kubectl rollout status/history/undo/restart/pause/resume` (the real kubectl 1.31-1.33)
against a real kubeproc running the Deployment and ReplicaSet controllers. The node agent is off
in these tests, so a background thread plays the kubelet: it marks every pod Ready through the
status subresource, which is what a rollout waits for."""

from __future__ import annotations

import json
import re
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kubeproc.testing.instance import Instance, wait_for

MINORS = [31, 32, 33]
DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: nginx:1.27
    """)


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


@pytest.fixture
def kubelet(cluster: Instance, namespace: str) -> Iterator[None]:
    """Marks the namespace's pods Running and Ready until the test ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            status, body = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods")
            for pod in body.get("items", []) if status == 200 else []:
                if _ready(pod) or pod["metadata"].get("deletionTimestamp"):
                    continue
                pod["status"] = {**(pod.get("status") or {}), "phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
                cluster.request("PUT", f"/api/v1/namespaces/{namespace}/pods/"
                                f"{pod['metadata']['name']}/status", pod)
            stop.wait(0.05)  # a poll interval of the fake kubelet, not a test delay
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _get(cluster: Instance, namespace: str, path: str) -> dict[str, Any]:
    status, body = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/{path}")
    assert status == 200, body
    return body


def _image(cluster: Instance, namespace: str) -> str:
    d = _get(cluster, namespace, "deployments/web")
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def _history(cluster: Instance, ns: str, minor: int) -> list[str]:
    out = cluster.kubectl("-n", ns, "rollout", "history", "deployment/web", minor=minor).stdout
    lines = out.splitlines()
    assert lines[0].strip() == "deployment.apps/web"
    assert re.match(r"REVISION\s+CHANGE-CAUSE$", lines[1]), out
    return [line.split()[0] for line in lines[2:] if line.strip()]


def _status(cluster: Instance, ns: str, minor: int) -> str:
    out = cluster.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s",
                          minor=minor, timeout=90).stdout
    assert out.splitlines()[-1] == 'deployment "web" successfully rolled out', out
    return out


@pytest.mark.parametrize("minor", MINORS)
def test_rollout_lifecycle(cluster: Instance, namespace: str, kubelet: None, minor: int) -> None:
    ns = namespace
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT, minor=minor)
    _status(cluster, ns, minor)
    rs_names = [r["metadata"]["name"] for r in _get(cluster, ns, "replicasets")["items"]]
    assert len(rs_names) == 1 and re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{6,10}", rs_names[0])
    assert _history(cluster, ns, minor) == ["1"]

    out = cluster.kubectl("-n", ns, "set", "image", "deployment/web", "web=nginx:1.28",
                          minor=minor).stdout
    assert out.strip() == "deployment.apps/web image updated"
    _status(cluster, ns, minor)
    assert _history(cluster, ns, minor) == ["1", "2"]
    detail = cluster.kubectl("-n", ns, "rollout", "history", "deployment/web", "--revision=1",
                             minor=minor).stdout
    assert "deployment.apps/web with revision #1" in detail and "nginx:1.27" in detail

    out = cluster.kubectl("-n", ns, "rollout", "undo", "deployment/web", minor=minor).stdout
    assert out.strip() == "deployment.apps/web rolled back"
    _status(cluster, ns, minor)
    assert _image(cluster, ns) == "nginx:1.27"
    assert _history(cluster, ns, minor) == ["2", "3"]
    d = _get(cluster, ns, "deployments/web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    out = cluster.kubectl("-n", ns, "rollout", "undo", "deployment/web", "--to-revision=2",
                          minor=minor).stdout
    assert out.strip() == "deployment.apps/web rolled back"
    _status(cluster, ns, minor)
    assert _image(cluster, ns) == "nginx:1.28"
    assert _history(cluster, ns, minor) == ["3", "4"]
    # the current template already is revision 4's
    again = cluster.kubectl("-n", ns, "rollout", "undo", "deployment/web", "--to-revision=4",
                            minor=minor).stdout
    assert again.strip() == "deployment.apps/web skipped rollback (current template already matches revision 4)"


@pytest.mark.parametrize("minor", MINORS)
def test_pause_resume_restart(cluster: Instance, namespace: str, kubelet: None, minor: int) -> None:
    ns = namespace
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT, minor=minor)
    _status(cluster, ns, minor)
    cluster.kubectl("-n", ns, "set", "image", "deployment/web", "web=nginx:1.28", minor=minor)
    _status(cluster, ns, minor)
    out = cluster.kubectl("-n", ns, "rollout", "pause", "deployment/web", minor=minor).stdout
    assert out.strip() == "deployment.apps/web paused"
    cluster.kubectl("-n", ns, "set", "image", "deployment/web", "web=nginx:1.29", minor=minor)
    d = wait_for(lambda: (lambda d: d if (d.get("status") or {}).get("observedGeneration")
                          == d["metadata"]["generation"] else None)(_get(cluster, ns, "deployments/web")),
                 timeout=15, what="observedGeneration")
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    assert len(_get(cluster, ns, "replicasets")["items"]) == 2  # no new ReplicaSet while paused
    undo = cluster.kubectl("-n", ns, "rollout", "undo", "deployment/web", minor=minor, check=False)
    assert undo.returncode != 0
    assert undo.stderr.strip() == ("error: you cannot rollback a paused deployment; resume it "
                                   "first with 'kubectl rollout resume' and try again")
    out = cluster.kubectl("-n", ns, "rollout", "resume", "deployment/web", minor=minor).stdout
    assert out.strip() == "deployment.apps/web resumed"
    _status(cluster, ns, minor)
    assert _history(cluster, ns, minor) == ["1", "2", "3"]
    assert _image(cluster, ns) == "nginx:1.29"

    out = cluster.kubectl("-n", ns, "rollout", "restart", "deployment/web", minor=minor).stdout
    assert out.strip() == "deployment.apps/web restarted"
    _status(cluster, ns, minor)
    assert _history(cluster, ns, minor) == ["1", "2", "3", "4"]
    d = _get(cluster, ns, "deployments/web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    conds = {c["type"]: c["reason"] for c in d["status"]["conditions"]}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    status = cluster.kubectl("-n", ns, "get", "deployment", "web", "-o", "json", minor=minor).stdout
    assert json.loads(status)["status"]["updatedReplicas"] == 2
