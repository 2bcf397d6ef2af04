"""Probes (exec, httpGet, tcpSocket; readiness, liveness, startup) and lifecycle hooks on real
pods, observed through the API as a kubectl user sees them."""

from __future__ import annotations

import json

from tests.node.conftest import apply, container, container_status, get_pod, pod, wait_for

SH = ("sh", "-c")
# a python HTTP server whose /healthz answers 200 while /tmp/ok exists, else 500
HTTP = ("import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if os.path.exists('/tmp/ok') else 500); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        "open('/tmp/ok', 'w').close()\n"
        "http.server.HTTPServer(('', 8080), H).serve_forever()\n")


def _ready(inst, ns, name, c="c"):
    return container_status(get_pod(inst, ns, name), c).get("ready")


def _events(inst, ns, name, reason):
    out = inst.kubectl("get", "events", "-n", ns, "--field-selector",
                       f"involvedObject.name={name},reason={reason}", "-o", "json").stdout
    return [e["message"] for e in json.loads(out)["items"]]


def test_http_readiness_flips_ready_and_back(node, ns):
    probe = {"httpGet": {"path": "/healthz", "port": "web"}, "periodSeconds": 1, "failureThreshold": 1}
    c = container("c", "python", "python3", "-c", HTTP, readinessProbe=probe,
                  ports=[{"name": "web", "containerPort": 8080}])
    apply(node, ns, pod("web", c))
    wait_for(lambda: _ready(node, ns, "web"), what="ready")
    node.kubectl("exec", "-n", ns, "web", "--", "rm", "/tmp/ok")
    wait_for(lambda: _ready(node, ns, "web") is False, what="not ready")
    p = get_pod(node, ns, "web")
    assert {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "False"
    assert "running" in container_status(p, "c")["state"], "readiness never restarts"
    assert any("statuscode: 500" in m for m in _events(node, ns, "web", "Unhealthy"))
    node.kubectl("exec", "-n", ns, "web", "--", "touch", "/tmp/ok")
    wait_for(lambda: _ready(node, ns, "web"), what="ready again")


def test_exec_liveness_failure_restarts_the_container(node, ns):
    probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1}
    c = container("c", "busybox", *SH, "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 1000",
                  livenessProbe=probe)
    apply(node, ns, pod("live", c, terminationGracePeriodSeconds=1))
    cs = wait_for(lambda: (lambda s: s if s.get("restartCount", 0) >= 1 else None)(
        container_status(get_pod(node, ns, "live"), "c")), timeout=40, what="a restart")
    assert cs["lastState"]["terminated"]["exitCode"] == 137  # sh ignores SIGTERM as pid 1
    assert any("Liveness probe failed" in m for m in _events(node, ns, "live", "Unhealthy"))


def test_tcp_startup_probe_gates_readiness(node, ns):
    probe = {"tcpSocket": {"port": 6379}, "periodSeconds": 1, "failureThreshold": 30}
    c = container("c", "redis", "sh", "-c", "sleep 1; exec redis-server --protected-mode no",
                  startupProbe=probe)
    apply(node, ns, pod("slow", c))
    cs = container_status(get_pod(node, ns, "slow"), "c")
    assert not cs.get("ready") and not cs.get("started")
    wait_for(lambda: container_status(get_pod(node, ns, "slow"), "c").get("started"), what="started")
    wait_for(lambda: _ready(node, ns, "slow"), what="ready after startup")


def test_prestop_hook_runs_before_sigterm(node, ns, tmp_path):
    """Hook and TERM trap append to a hostPath file: the host reads the order afterwards."""
    obs = tmp_path / "obs"
    obs.mkdir()
    script = 'trap "echo term >> /obs/order; exit 0" TERM; while true; do sleep 0.1; done'
    c = container("c", "busybox", *SH, script,
                  lifecycle={"preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /obs/order"]}}},
                  volumeMounts=[{"name": "obs", "mountPath": "/obs"}])
    apply(node, ns, pod("hooked", c, volumes=[{"name": "obs", "hostPath": {"path": str(obs),
                                                                         "type": "Directory"}}]))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/hooked", "--timeout=30s")
    node.kubectl("delete", "pod", "-n", ns, "hooked", "--wait=false")
    wait_for(lambda: get_pod(node, ns, "hooked") is None, what="pod gone")
    assert (obs / "order").read_text().split() == ["prestop", "term"]


def test_poststart_failure_kills_the_container(node, ns):
    c = container("c", "busybox", "sleep", "1000",
                  lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}})
    apply(node, ns, pod("post", c, terminationGracePeriodSeconds=1))
    wait_for(lambda: _events(node, ns, "post", "FailedPostStartHook"), what="FailedPostStartHook")
    wait_for(lambda: container_status(get_pod(node, ns, "post"), "c").get("restartCount", 0) >= 1,
             what="restart after the failed hook")


def test_a_slow_poststart_hook_does_not_hold_other_pods_back(fresh_node, monkeypatch):
    """Pods take their starting steps a few at a time (the node's start slots, narrowed to one
    here); a pod whose postStart hook runs long gives its slot up, so the next pod starts."""
    monkeypatch.setenv("KUBEPROC_START_SLOTS", "1")
    inst = fresh_node()
    inst.kubectl("create", "namespace", "s")
    slow = container("c", "busybox", "sleep", "1000",
                     lifecycle={"postStart": {"exec": {"command": ["sleep", "60"]}}})
    apply(inst, "s", pod("slow", slow, terminationGracePeriodSeconds=0))
    wait_for(lambda: container_status(get_pod(inst, "s", "slow"), "c").get("containerID")
             or _events(inst, "s", "slow", "Started"), what="the slow pod's container started")
    apply(inst, "s", pod("quick", container("c", "busybox", "sleep", "1000"), terminationGracePeriodSeconds=0))
    inst.kubectl("wait", "-n", "s", "--for=condition=Ready", "pod/quick", "--timeout=20s")
    assert not container_status(get_pod(inst, "s", "slow"), "c").get("ready")  # still in its hook
