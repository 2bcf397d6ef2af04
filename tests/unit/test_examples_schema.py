"""The shipped examples: every document of every examples/*.yaml parses and validates against
the official Kubernetes 1.33 schemas (strict: no unknown fields), and web.yaml/redis.yaml keep
the names the demo and the docs rely on. The web example's server.py also runs here, on the
host, so its JSON answer and shared visit count are checked without a cluster."""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from typing import Any

import kubernetes_validate
import pytest
import yaml

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
FILES = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))


def docs(name: str) -> list[dict[str, Any]]:
    with open(os.path.join(EXAMPLES, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def one(name: str, kind: str, obj_name: str) -> dict[str, Any]:
    found = [d for d in docs(name) if d["kind"] == kind and d["metadata"]["name"] == obj_name]
    assert len(found) == 1, f"{name}: {kind} {obj_name} appears {len(found)} times"
    return found[0]


def documents() -> list[tuple[str, int, dict[str, Any]]]:
    return [(os.path.basename(f), i, d) for f in FILES for i, d in enumerate(docs(os.path.basename(f)))]


def test_examples_exist():
    names = {os.path.basename(f) for f in FILES}
    assert {"web.yaml", "redis.yaml"} <= names, names


@pytest.mark.parametrize("name,index,doc", documents(),
                         ids=[f"{n}#{i}-{d.get('kind')}" for n, i, d in documents()])
def test_every_document_validates_strictly_against_1_33(name, index, doc):
    assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), (name, index)
    kubernetes_validate.validate(doc, "1.33", strict=True)


@pytest.mark.parametrize("name", ["web.yaml", "redis.yaml"])
def test_namespace_is_left_to_kubectl(name):
    # `kubectl apply -n X -f` must work: a namespace in the file would conflict with -n
    assert all("namespace" not in d["metadata"] for d in docs(name))


def test_strict_validation_rejects_an_unknown_field():
    # the schema test above can fail: a misspelt field is refused in strict mode
    bad = json.loads(json.dumps(one("web.yaml", "Service", "web")))
    bad["spec"]["clusterIp"] = "None"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33", strict=True)


# ---- web.yaml ------------------------------------------------------------------------------

def web_pod_spec() -> dict[str, Any]:
    return one("web.yaml", "Deployment", "web")["spec"]["template"]["spec"]


WEB_CONTRACT = [
    ("replicas", 3),
    ("selector.matchLabels", {"app": "web"}),
    ("template.metadata.labels.app", "web"),
    ("template.spec.terminationGracePeriodSeconds", 2),
    ("template.spec.containers.0.name", "web"),
    ("template.spec.containers.0.image", "python:3.12-slim"),
    ("template.spec.containers.0.command", ["python3", "/app/server.py"]),
    ("template.spec.containers.0.ports", [{"name": "http", "containerPort": 8080}]),
    ("template.spec.containers.0.readinessProbe",
     {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}),
]


def at(obj: Any, path: str) -> Any:
    for key in path.split("."):
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    return obj


@pytest.mark.parametrize("path,want", WEB_CONTRACT, ids=[p for p, _ in WEB_CONTRACT])
def test_web_deployment_contract(path, want):
    assert at(one("web.yaml", "Deployment", "web")["spec"], path) == want


def test_web_mounts_the_server_at_app_and_the_shared_claim_at_shared():
    spec = web_pod_spec()
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/app"]["configMap"]["name"] == "web-server"
    assert mounts["/shared"]["persistentVolumeClaim"]["claimName"] == "web-shared"


def test_web_claim_is_read_write_many_1gi_in_the_default_class():
    claim = one("web.yaml", "PersistentVolumeClaim", "web-shared")["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"]
    assert claim["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim  # the default StorageClass (local-path here)


def test_web_service_sends_port_80_to_the_named_port():
    svc = one("web.yaml", "Service", "web")["spec"]
    assert svc.get("type", "ClusterIP") == "ClusterIP" and svc["selector"] == {"app": "web"}
    assert [(p["port"], p["targetPort"]) for p in svc["ports"]] == [(80, "http")]


@pytest.fixture
def web_server(tmp_path):
    """server.py from the ConfigMap, run on the host on a free port with a temporary file."""
    script = tmp_path / "server.py"
    script.write_text(one("web.yaml", "ConfigMap", "web-server")["data"]["server.py"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, LISTEN_PORT=str(port), VISITS_FILE=str(tmp_path / "visits"),
               POD_IP="10.0.0.7")
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(500):  # until it listens (each failed connect returns at once)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "server.py exited"
                threading.Event().wait(0.02)
        yield url, tmp_path / "visits"
    finally:
        proc.kill()
        proc.wait()


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def test_web_server_answers_pod_ip_and_a_growing_visit_count(web_server):
    url, visits = web_server
    assert get(url + "/healthz")[0] == 200
    answers = [json.loads(get(url + "/")[1]) for _ in range(3)]
    assert [a["visits"] for a in answers] == [1, 2, 3]
    assert {(a["pod"], a["ip"]) for a in answers} == {(socket.gethostname(), "10.0.0.7")}
    lines = visits.read_text().splitlines()
    assert len(lines) == 3 and all(line.split()[0] == socket.gethostname() for line in lines)
    assert get(url + "/healthz")[0] == 200 and len(visits.read_text().splitlines()) == 3


def test_web_server_counts_concurrent_visits_once_each(web_server):
    url, visits = web_server
    seen: list[int] = []

    def client() -> None:
        for _ in range(10):
            seen.append(json.loads(get(url + "/")[1])["visits"])
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = visits.read_text().splitlines()
    assert len(lines) == 80 and all(len(line.split()) == 2 for line in lines)  # whole lines
    assert max(seen) == 80


def test_web_server_refuses_other_paths(web_server):
    url, _ = web_server
    with pytest.raises(urllib.error.HTTPError) as e:
        get(url + "/nope")
    assert e.value.code == 404


# ---- redis.yaml ----------------------------------------------------------------------------

def redis_set() -> dict[str, Any]:
    return one("redis.yaml", "StatefulSet", "test-redis-pod")


def test_redis_headless_service():
    svc = one("redis.yaml", "Service", "test-redis-service")["spec"]
    assert svc["clusterIP"] == "None" and svc["selector"] == {"app": "test-redis"}
    assert [(p["name"], p["port"]) for p in svc["ports"]] == [("redis", 6379)]


REDIS_CONTRACT = [
    ("serviceName", "test-redis-service"),
    ("replicas", 3),
    ("podManagementPolicy", "OrderedReady"),
    ("selector.matchLabels", {"app": "test-redis"}),
    ("template.metadata.labels.app", "test-redis"),
    ("template.spec.terminationGracePeriodSeconds", 5),
    ("template.spec.containers.0.name", "redis"),
    ("template.spec.containers.0.image", "redis:7"),
    ("template.spec.containers.0.ports", [{"name": "redis", "containerPort": 6379}]),
    ("template.spec.containers.0.readinessProbe.periodSeconds", 1),
    ("template.spec.containers.0.volumeMounts", [{"name": "data", "mountPath": "/data"}]),
    ("volumeClaimTemplates.0.metadata.name", "data"),
    ("volumeClaimTemplates.0.spec.accessModes", ["ReadWriteOnce"]),
    ("volumeClaimTemplates.0.spec.resources.requests.storage", "1Gi"),
]


@pytest.mark.parametrize("path,want", REDIS_CONTRACT, ids=[p for p, _ in REDIS_CONTRACT])
def test_redis_statefulset_contract(path, want):
    assert at(redis_set()["spec"], path) == want


def run_script(script: str, env: dict[str, str], stubs: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a pod's `sh -c` script on the host with programs replaced by sh stubs (name ->
    body): what the container would start, or what its probe would answer."""
    with tempfile.TemporaryDirectory() as d:
        for prog, body in stubs.items():
            path = os.path.join(d, prog)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(path, 0o755)
        return subprocess.run(["sh", "-c", script], env={"PATH": d + os.pathsep + "/usr/bin:/bin", **env},
                              capture_output=True, text=True)


BASE = ["redis-server", "--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"]


def replica_of(namespace: str) -> list[str]:
    return BASE + ["--replicaof", f"test-redis-pod-0.test-redis-service.{namespace}.svc.cluster.local", "6379"]


@pytest.mark.parametrize("hostname,namespace,want", [
    ("test-redis-pod-0", "default", BASE),
    ("test-redis-pod-1", "default", replica_of("default")),
    ("test-redis-pod-2", "n-1234", replica_of("n-1234")),
    ("test-redis-pod-10", "default", replica_of("default")),
], ids=["ordinal-0-is-the-master", "ordinal-1-replicates", "namespace-from-downward-api",
        "ordinal-10-is-not-0"])
def test_redis_start_script_picks_the_role_from_the_hostname(hostname, namespace, want):
    container = redis_set()["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["sh", "-c"]
    out = run_script(container["command"][2], {"HOSTNAME": hostname, "POD_NAMESPACE": namespace},
                     {"redis-server": 'echo "redis-server $*"'})
    assert out.returncode == 0 and out.stdout.split() == want


# a redis-cli stub: `ping` prints $PING, `info replication` prints the replica's link status
REDIS_CLI = """case "$1" in
ping) [ -n "$PING" ] && echo "$PING" || { echo "Could not connect to Redis" >&2; exit 1; } ;;
info) printf '# Replication\\r\\nrole:slave\\r\\nmaster_link_status:%s\\r\\n' "$LINK" ;;
esac"""


@pytest.mark.parametrize("hostname,ping,link,ready", [
    ("test-redis-pod-0", "PONG", "", True),
    ("test-redis-pod-0", "", "", False),
    ("test-redis-pod-0", "LOADING Redis is loading the dataset in memory", "", False),
    ("test-redis-pod-1", "PONG", "up", True),
    ("test-redis-pod-1", "PONG", "down", False),
    ("test-redis-pod-2", "", "up", False),
    ("test-redis-pod-10", "PONG", "down", False),
], ids=["master-answers", "master-down", "master-loading", "replica-linked", "replica-link-down",
        "replica-not-answering", "ordinal-10-is-a-replica"])
def test_redis_readiness_needs_ping_and_on_replicas_the_master_link(hostname, ping, link, ready):
    probe = redis_set()["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    assert probe[:2] == ["sh", "-c"]
    out = run_script(probe[2], {"HOSTNAME": hostname, "PING": ping, "LINK": link}, {"redis-cli": REDIS_CLI})
    assert (out.returncode == 0) is ready, out


def test_redis_namespace_comes_from_the_downward_api():
    env = {e["name"]: e for e in redis_set()["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
