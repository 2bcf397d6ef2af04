"""Services on real pods: ClusterIP and NodePort forwarding through the instance's nftables
table, from the host and from pods; endpoints that come and go; refusal without endpoints;
session affinity; hairpin; the kube-dns ClusterIP pods resolve through; and nothing left after
`kubeproc down`."""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import time
import urllib.request
import uuid

import dns.resolver

from kubeproc.agent.network import NetworkConfig
from tests.node.conftest import apply, leftovers, wait_for

# A small HTTP server: answers with its pod name and the client address it sees.
SERVER = """
import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (socket.gethostname() + " " + self.client_address[0] + "\\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
"""

# Run inside a pod: GET `url` n times, print a JSON count of the answering pods (or errors).
CLIENT = """
import collections, json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
c = collections.Counter()
for _ in range(n):
    try:
        c[urllib.request.urlopen(url, timeout=3).read().decode().split()[0]] += 1
    except Exception as e:
        c["error: " + str(getattr(e, "reason", e))] += 1
print(json.dumps(c))
"""


def web(replicas: int = 3) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "web", "image": "python", "command": ["python3", "-c", SERVER],
                                         "ports": [{"name": "http", "containerPort": 8080}],
                                         "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1}}]}}}}


def service(name: str, selector: dict, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}}


def web_pods(node, ns) -> dict[str, str]:
    """Ready web pods: name → IP."""
    _, body = node.request("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dweb")
    out = {}
    for p in body["items"]:
        conds = {c["type"]: c["status"] for c in (p.get("status") or {}).get("conditions") or []}
        if conds.get("Ready") == "True" and not p["metadata"].get("deletionTimestamp"):
            out[p["metadata"]["name"]] = p["status"]["podIP"]
    return out


def host_get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=3).read().decode().split()[0]


def from_pod(node, ns, pod: str, url: str, n: int) -> collections.Counter:
    out = node.kubectl("exec", "-n", ns, pod, "--", "python3", "-c", CLIENT, url, str(n)).stdout
    return collections.Counter(json.loads(out))


def spec_of(node, ns, name) -> dict:
    return node.request("GET", f"/api/v1/namespaces/{ns}/services/{name}")[1]["spec"]


def host_ip() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]


def start_web(node, ns, **svc_spec) -> dict[str, str]:
    apply(node, ns, web())
    apply(node, ns, service("web", {"app": "web"}, **svc_spec))
    return wait_for(lambda: (lambda p: p if len(p) == 3 else None)(web_pods(node, ns)), 60, "3 ready web pods")


def wait_spread(fn, names: set[str], what: str) -> None:
    """Requests (fn() -> answering pod) until every name answered; none other may answer."""
    seen: set[str] = set()

    def all_seen():
        got = fn()
        assert got in names, f"{got} answered, not one of {names}"
        seen.add(got)
        return seen == names
    wait_for(all_seen, 30, what)


def test_cluster_ip_spreads_over_ready_pods_from_host_and_pods(node, ns):
    pods = start_web(node, ns)
    cip = spec_of(node, ns, "web")["clusterIP"]
    names = set(pods)
    # from the host: every pod answers in turn (random balancing), through the ClusterIP
    wait_for(lambda: host_get(f"http://{cip}/") in names, 30, "the ClusterIP answering")
    wait_spread(lambda: host_get(f"http://{cip}/"), names, "all three pods answering the host")
    # from a pod, by DNS name through the kube-dns ClusterIP: all three, never an error
    client = sorted(names)[0]
    counts = from_pod(node, ns, client, "http://web/", 40)
    assert set(counts) == names, counts
    # the client reached itself too (hairpin): the Service sends a pod its own requests
    assert counts[client] > 0


def test_deleted_pod_stops_receiving_traffic(node, ns):
    pods = start_web(node, ns)
    cip = spec_of(node, ns, "web")["clusterIP"]
    victim = sorted(pods)[0]
    node.kubectl("delete", "pod", "-n", ns, victim, "--wait=true")
    # the victim's endpoint leaves the table: a run of requests never reaches it
    def victim_gone():
        return all(host_get(f"http://{cip}/") != victim for _ in range(15))
    wait_for(victim_gone, 30, f"{victim} out of the Service")
    # its replacement joins
    new = wait_for(lambda: (lambda p: p if len(p) == 3 and victim not in p else None)(web_pods(node, ns)), 60,
                   "a replacement pod")
    wait_spread(lambda: host_get(f"http://{cip}/"), set(new), "the replacement answering")


# A UDP echo server: answers each datagram with its pod name.
UDP_SERVER = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("", 9999))
while True:
    _, peer = s.recvfrom(100); s.sendto(socket.gethostname().encode(), peer)
"""


def test_udp_flow_follows_its_service_to_a_new_endpoint(node, ns):
    """UDP keeps no connection: a client sending from one port keeps the conntrack entry that
    DNATed its first datagram to a pod. When that pod goes, the proxy deletes the stale entry
    (kube-proxy's conntrack cleanup), so the same flow reaches the replacement pod instead of
    vanishing until the entry times out (each datagram would renew it)."""
    apply(node, ns, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echo"},
                     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "echo"}},
                              "template": {"metadata": {"labels": {"app": "echo"}}, "spec": {
                                  "terminationGracePeriodSeconds": 0,
                                  "containers": [{"name": "echo", "image": "python",
                                                  "command": ["python3", "-c", UDP_SERVER]}]}}}})
    apply(node, ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
                     "spec": {"selector": {"app": "echo"},
                              "ports": [{"name": "u", "port": 9999, "protocol": "UDP"}]}})
    cip = spec_of(node, ns, "echo")["clusterIP"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("", 0))  # one source port for the whole test: one conntrack entry
        c.settimeout(0.3)

        def answer() -> str | None:
            try:  # refused (EPERM, ECONNREFUSED) while the Service has no endpoint yet
                c.sendto(b"ping", (cip, 9999))
                return c.recv(100).decode()
            except (TimeoutError, PermissionError, ConnectionRefusedError):
                return None
        first = wait_for(answer, 60, "the echo pod answering through the ClusterIP")
        node.kubectl("delete", "pod", "-n", ns, first, "--wait=true")
        second = wait_for(lambda: (lambda got: got if got and got != first else None)(answer()), 30,
                          "the same flow answered by the replacement pod")
        assert second.startswith("echo-") and second != first


def test_service_without_endpoints_refuses_at_once(node, ns):
    apply(node, ns, service("nobody", {"app": "nobody"}))
    cip = spec_of(node, ns, "nobody")["clusterIP"]

    def refused():
        t0 = time.monotonic()
        try:
            socket.create_connection((cip, 80), timeout=5).close()
            return None
        except ConnectionRefusedError:
            return time.monotonic() - t0
    elapsed = wait_for(refused, 10, "the connection refused")
    assert elapsed < 1.0
    # a port the Service does not define on its ClusterIP is refused too
    with socket.socket() as s:
        s.settimeout(5)
        assert s.connect_ex((cip, 81)) == 111  # ECONNREFUSED


def test_node_port_reaches_pods_from_the_host(node, ns):
    pods = start_web(node, ns, type="NodePort")
    port = spec_of(node, ns, "web")["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    wait_spread(lambda: host_get(f"http://{host_ip()}:{port}/"), set(pods), "every pod through the NodePort")


def test_client_ip_affinity_keeps_a_client_on_one_pod(node, ns):
    pods = start_web(node, ns, sessionAffinity="ClientIP",
                     sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    client = sorted(pods)[0]
    counts = from_pod(node, ns, client, "http://web/", 15)
    assert len(counts) == 1 and sum(counts.values()) == 15, counts


def test_pods_resolve_through_the_kube_dns_cluster_ip(node, ns):
    apply(node, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}})
    wait_for(lambda: node.request("GET", f"/api/v1/namespaces/{ns}/pods/c")[1].get("status", {}).get("phase") == "Running",
             30, "pod c running")
    dns_ip = spec_of(node, "kube-system", "kube-dns")["clusterIP"]
    resolv = node.kubectl("exec", "-n", ns, "c", "--", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {dns_ip}" in resolv
    out = node.kubectl("exec", "-n", ns, "c", "--", "getent", "hosts", "kubernetes.default").stdout
    assert spec_of(node, "default", "kubernetes")["clusterIP"] in out


def test_pods_reach_other_networks_masqueraded(node, ns):
    """A network beyond the host (a namespace behind a veth, as an external LAN) sees a pod's
    connection come from the host's address on that network, not from the pod's IP."""
    tag = uuid.uuid4().hex[:6]
    outside, veth = f"kpt-out-{tag}", f"kpo{tag}"
    net = f"10.199.{int(tag[:2], 16)}"  # a /30 of its own: two test runs may overlap
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    server = None
    try:
        run("ip", "netns", "add", outside)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", outside)
        run("ip", "addr", "add", f"{net}.1/30", "dev", veth)
        run("ip", "link", "set", veth, "up")
        run("ip", "-n", outside, "addr", "add", f"{net}.2/30", "dev", "eth0")
        run("ip", "-n", outside, "link", "set", "eth0", "up")
        run("ip", "-n", outside, "link", "set", "lo", "up")
        # routes back only to the host's side of the link: an unmasqueraded pod IP gets no reply
        server = subprocess.Popen(["ip", "netns", "exec", outside, "python3", "-c",
                                   SERVER.replace("8080", "8081")])
        apply(node, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "python", "command": ["sleep", "3600"]}]}})
        wait_for(lambda: node.request("GET", f"/api/v1/namespaces/{ns}/pods/c")[1].get("status", {}).get("phase") == "Running",
                 30, "pod c running")
        def answer():
            res = node.kubectl("exec", "-n", ns, "c", "--", "python3", "-c",
                               f"import urllib.request as u; print(u.urlopen('http://{net}.2:8081/', timeout=2).read().decode())",
                               check=False)
            return res.stdout.strip() if res.returncode == 0 else None
        got = wait_for(answer, 30, "the outside server answering the pod")
        assert got.split()[1] == f"{net}.1", got
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", outside], capture_output=True)


def test_down_removes_the_table_and_the_service_route(fresh_node):
    inst = fresh_node("--dns-ttl", "17")
    # the DNS TTL is configurable: answers carry it
    with open(os.path.join(inst.data_dir, "config.json")) as f:
        host, _, port = json.load(f)["dns"].rpartition(":")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port = [host], int(port)
    assert res.resolve("kubernetes.default.svc.cluster.local", "A").rrset.ttl == 17
    tag = NetworkConfig.for_data_dir(inst.data_dir).instance
    assert f"kubeproc-{tag}" in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert inst.service_cidr in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    inst.stop(timeout=60)
    assert inst.service_cidr not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert not leftovers(inst.data_dir)
