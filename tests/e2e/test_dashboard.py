"""The dashboard listener of a real instance: `kubeproc dashboard` prints a login URL; the login
sets an HttpOnly SameSite=Strict cookie; without it the API is refused; the page and its modules
are served; lists and watches stream through the dashboard origin; scale, rollout restart and
pod deletion work; a foreign Host or Origin is refused."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import kubernetes_validate
import pytest

from kubeproc.testing.instance import wait_for

STATIC = os.path.join(os.path.dirname(__file__), "..", "..", "kubeproc", "dashboard", "static")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubeproc.cli.main", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def dash(cluster):
    """(port, login URL, session cookie) of the session instance's dashboard."""
    res = wait_for(lambda: (r := _cli("dashboard", "--data-dir", cluster.data_dir)).returncode == 0 and r,
                   timeout=20, what="kubeproc dashboard")
    url = res.stdout.strip()
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/login\?token=[A-Za-z0-9_-]+)", url)
    assert m, url
    port = int(m.group(1))
    status, headers, _ = _http(port, "GET", m.group(2))
    assert status == 303, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    return port, url, cookie


def _http(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
          ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _api(dash, method: str, path: str, body=None, content_type="application/json"):
    port, _, cookie = dash
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}", "Content-Type": content_type}
    data = json.dumps(body).encode() if body is not None else None
    status, _, raw = _http(port, method, path, headers, data)
    return status, json.loads(raw) if raw.startswith(b"{") else raw.decode()


def _deployment(name: str) -> dict:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "web", "image": "python:3.12-slim",
                                                          "command": ["python3", "-m", "http.server", "8080"]}]}}}}
    kubernetes_validate.validate(obj, "1.33", strict=True)
    return obj


def _statefulset(name: str) -> dict:
    obj = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
           "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "db", "image": "redis:7"}]}}}}
    kubernetes_validate.validate(obj, "1.33", strict=True)
    return obj


def test_cli_prints_the_port_the_instance_recorded(cluster, dash):
    port, url, _ = dash
    with open(os.path.join(cluster.data_dir, "config.json")) as f:
        assert json.load(f)["dashboardPort"] == port
    token_file = os.path.join(cluster.data_dir, "pki", "dashboard.token")
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    assert url.endswith("token=" + open(token_file).read().strip())


def test_cli_says_when_no_instance_runs(tmp_path):
    res = _cli("dashboard", "--data-dir", str(tmp_path))
    assert res.returncode != 0 and "not running" in res.stderr and "http://" not in res.stdout


@pytest.mark.parametrize("query,status", [("?token=wrong", 401), ("", 401)], ids=["wrong-token", "no-token"])
def test_login_with_a_bad_token_sets_no_cookie(dash, query, status):
    got, headers, _ = _http(dash[0], "GET", "/login" + query)
    assert got == status and "set-cookie" not in headers


def test_login_sets_an_httponly_strict_cookie_and_redirects_home(dash):
    port, url, _ = dash
    status, headers, _ = _http(port, "GET", url.split(str(port), 1)[1])
    assert status == 303 and headers["location"] == "/"
    attrs = [a.strip().lower() for a in headers["set-cookie"].split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs


@pytest.mark.parametrize("headers", [
    {}, {"Cookie": "kubeproc_dashboard=forged.0123abcd"}, {"Authorization": "Bearer {admin}"},
], ids=["no-cookie", "forged-cookie", "admin-bearer-without-cookie"])
@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/apis/apps/v1/deployments"], ids=["core", "apps"])
def test_api_without_a_session_is_refused(cluster, dash, headers, path):
    headers = {k: v.format(admin=cluster.token) for k, v in headers.items()}
    status, _, body = _http(dash[0], "GET", path, headers)
    assert status == 401 and b"items" not in body


@pytest.mark.parametrize("path,ctype,needle", [
    ("/", "text/html", b'src="/static/app.js"'),
    ("/static/app.js", "text/javascript", b"import * as model from './model.js'"),
    ("/static/model.js", "text/javascript", b"export function workloadViews"),
    ("/static/watch.js", "text/javascript", b"export async function listWatch"),
    ("/static/style.css", "text/css", b".pod"),
], ids=["page", "app-module", "model-module", "watch-module", "stylesheet"])
def test_static_files_are_served_without_a_session(dash, path, ctype, needle):
    status, headers, body = _http(dash[0], "GET", path)
    assert status == 200 and headers["content-type"].startswith(ctype) and needle in body
    assert "script-src 'self'" in headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/nope.js", "/static/model.test.js",
                                  "/server.py", "/metrics"],
                         ids=["traversal", "missing", "node-tests", "package-file", "non-api-path"])
def test_nothing_else_is_served(dash, path):
    status, _, _ = _http(dash[0], "GET", path, {"Cookie": dash[2]})
    assert status == 404


@pytest.mark.parametrize("headers,status", [
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "http://127.0.0.1:1"}, 403),
    ({"Host": "evil.example:{port}"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}, 200),
    ({"Host": "localhost:{port}", "Origin": "http://localhost:{port}"}, 200),
], ids=["foreign-origin", "other-port-origin", "rebound-host", "cross-site-fetch", "own-origin", "localhost"])
def test_origin_and_host_must_be_the_dashboards_own(dash, headers, status):
    port, _, cookie = dash
    hdrs = {"Cookie": cookie, **{k: v.format(port=port) for k, v in headers.items()}}
    got, _, _ = _http(port, "GET", "/api/v1/namespaces", hdrs)
    assert got == status


def test_foreign_origin_cannot_act(cluster, dash, namespace):
    assert cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", _deployment("keep"))[0] == 201
    port, _, cookie = dash
    status, _, _ = _http(port, "DELETE", f"/apis/apps/v1/namespaces/{namespace}/deployments/keep",
                         {"Cookie": cookie, "Origin": "http://evil.example"})
    assert status == 403
    assert cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/keep")[0] == 200


def test_list_then_watch_streams_a_new_deployment(cluster, dash, namespace):
    port, _, cookie = dash
    status, body = _api(dash, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")
    assert status == 200 and body["kind"] == "DeploymentList" and body["items"] == []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments?watch=1&resourceVersion="
                            f"{body['metadata']['resourceVersion']}", headers={"Cookie": cookie})
        resp = conn.getresponse()
        assert resp.status == 200
        assert cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                               _deployment("web"))[0] == 201
        event = json.loads(resp.readline())  # arrives while the stream stays open
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "web")
    finally:
        conn.close()


@pytest.mark.parametrize("kind,plural,make", [("Deployment", "deployments", _deployment),
                                              ("StatefulSet", "statefulsets", _statefulset)],
                         ids=["deployment", "statefulset"])
def test_scale_and_rollout_restart(cluster, dash, namespace, kind, plural, make):
    base = f"/apis/apps/v1/namespaces/{namespace}/{plural}/app"
    assert cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/{plural}", make("app"))[0] == 201

    # wait until the controller's status writes are done: a scale PATCH racing one of them is
    # answered 409 today (registry/subresources.patch_scale checks the pre-patch resourceVersion)
    def settled() -> bool:
        obj = cluster.request("GET", base)[1]
        st = obj.get("status") or {}
        return st.get("observedGeneration") == obj["metadata"]["generation"] and st.get("replicas") == 1
    wait_for(settled, timeout=10, what=f"{kind} status settled")
    status, body = _api(dash, "PATCH", base + "/scale", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    assert status == 200 and body["kind"] == "Scale" and body["spec"]["replicas"] == 3, json.dumps(body)
    assert cluster.request("GET", base)[1]["spec"]["replicas"] == 3
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}}}}}
    status, _ = _api(dash, "PATCH", base, patch, "application/strategic-merge-patch+json")
    assert status == 200
    got = cluster.request("GET", base)[1]["spec"]["template"]["metadata"]["annotations"]
    assert got["kubectl.kubernetes.io/restartedAt"] == "2026-01-02T03:04:05Z"


def test_delete_pod(cluster, dash, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}
    kubernetes_validate.validate(pod, "1.33", strict=True)
    assert cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod)[0] == 201
    status, _ = _api(dash, "DELETE", f"/api/v1/namespaces/{namespace}/pods/victim")
    assert status == 200
    # an unscheduled pod (no agent here) goes at once; a running one would be terminating
    status, body = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/victim")
    assert status == 404 or body["metadata"].get("deletionTimestamp")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_pages_list_watch_module_streams_through_the_dashboard(cluster, dash, namespace, tmp_path):
    """watch.js (what the page runs) under node's fetch: list, then watch events as they happen."""
    port, _, cookie = dash
    script = tmp_path / "watch.mjs"
    script.write_text(textwrap.dedent(f"""
        import {{ listWatch }} from {json.dumps(os.path.abspath(os.path.join(STATIC, 'watch.js')))};
        const ctl = new AbortController();
        const base = 'http://127.0.0.1:{port}';
        const fetchImpl = (url, opts = {{}}) => fetch(base + url, {{ ...opts, headers: {{ ...(opts.headers || {{}}), Cookie: {json.dumps(cookie)} }} }});
        listWatch('/apis/apps/v1/namespaces/{namespace}/deployments', {{
          signal: ctl.signal, fetchImpl,
          onList: (items) => console.log(JSON.stringify({{ list: items.length }})),
          onState: (s) => console.log(JSON.stringify({{ state: s }})),
          onEvent: (type, obj) => {{ console.log(JSON.stringify({{ type, name: obj.metadata.name }})); ctl.abort(); }},
        }});
    """))
    proc = subprocess.Popen(["node", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"list": 0}
        assert json.loads(proc.stdout.readline()) == {"state": "live"}
        assert cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                               _deployment("streamed"))[0] == 201
        assert json.loads(proc.stdout.readline()) == {"type": "ADDED", "name": "streamed"}
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
