"""The demo's steps, each acting with the real kubectl and reporting what the observer measured.

Every step writes its measurements into `Demo.m` (read by report.py); nothing printed is canned:
names, times, addresses, answers and key counts all come from the running pods.
"""

from __future__ import annotations

import collections
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from kubeproc.demo.api import Api
from kubeproc.demo.observe import Observer, PodLife, is_ready
from kubeproc.demo.ui import DemoError, Ui, ms

NS = "default"
REDIS = "test-redis-pod"
MASTER_DNS = f"{REDIS}-0.test-redis-service.{NS}.svc.cluster.local"
KEY, VALUE = "demo:greeting", "written-to-the-master"
KV_KEYS = 200


class Demo:
    def __init__(self, ui: Ui, api: Api, examples: str) -> None:
        self.ui, self.api, self.examples = ui, api, examples
        self.obs = Observer(api, NS)
        self.m: dict[str, Any] = {}

    def ex(self, name: str) -> str:
        return os.path.join(self.examples, name)

    # ---- helpers ----------------------------------------------------------------------------
    def web_pods(self) -> list[PodLife]:
        return [lf for lf in self.obs.alive("web-") if (lf.obj["metadata"].get("labels") or {}).get("app") == "web"]

    def sts_ready(self, name: str, n: int) -> list[PodLife] | None:
        pods = {lf.name: lf for lf in self.obs.alive(f"{name}-")}
        want = [f"{name}-{i}" for i in range(n)]
        if all(w in pods and is_ready(pods[w].obj) for w in want) and len(pods) == n:
            return [pods[w] for w in want]
        return None

    def redis(self, pod: str, *cmd: str, show: bool = True) -> str:
        return self.ui.run("exec", pod, "-c", "redis", "--", "redis-cli", *cmd, show=show).strip()

    def clean(self) -> None:
        """A previous run's objects go first, so the demo starts from nothing (runs twice)."""
        self.ui.say("removing what an earlier run left (if anything)…")
        for f in ("kvstore-parallel.yaml", "kvstore.yaml", "redis.yaml", "web.yaml"):
            if os.path.exists(self.ex(f)):
                self.ui.run("delete", "--ignore-not-found", "--wait=false", "-f", self.ex(f), show=False)
        pvcs = self.ui.run("get", "pvc", "-o", "name", show=False).split()
        ours = [p for p in pvcs if any(p.startswith(f"persistentvolumeclaim/{x}")
                                       for x in (f"data-{REDIS}-", "data-kv-", "data-kvp-", "web-shared"))]
        if ours:
            self.ui.run("delete", "--wait=false", *ours, show=False)
        self.ui.wait("the previous run's pods and claims to be gone", lambda: not any(
            lf.name.startswith(("web-", f"{REDIS}-", "kv-", "kvp-")) for lf in self.obs.snapshot() if lf.gone is None)
            and not [p for p in self.ui.run("get", "pvc", "-o", "name", show=False).split() if p in ours], 120)

    # ---- 1. creation ------------------------------------------------------------------------
    def creation(self) -> None:
        self.ui.section(1, "Creation: a Deployment's pods at once, a StatefulSet's one by one")
        self.ui.run("apply", "-f", self.ex("web.yaml"), echo_output=True)
        web = self.ui.wait("3 web pods to be Ready", lambda: (lambda p: p if len(p) == 3 and all(is_ready(x.obj) for x in p) else None)(self.web_pods()))
        t0 = min(p.created for p in web)
        for p in sorted(web, key=lambda p: p.created):
            self.ui.saw(f"+{ms(p.created - t0):>7}  {p.name}  (a random suffix: nothing says which is first)")
        spread = max(p.created for p in web) - t0
        self.ui.saw(f"all three were created within {ms(spread)}: none waited for another")
        self.m["web_names"] = sorted(p.name for p in web)
        self.m["web_spread"] = spread
        self.ui.run("apply", "-f", self.ex("redis.yaml"), echo_output=True)
        pods = self.ui.wait("test-redis-pod-0, -1 and -2 to be Ready", lambda: self.sts_ready(REDIS, 3), 180)
        gaps = []
        for prev, cur in zip(pods, pods[1:]):
            gap = cur.created - (prev.ready or cur.created)
            gaps.append(gap)
            self.ui.saw(f"{cur.name} was created {ms(gap)} after {prev.name} became Ready")
        self.ui.saw("names are ordinals; each pod waited for the previous one (OrderedReady)")
        self.m["redis_in_order"] = all(g >= 0 for g in gaps)
        self.m["redis_gaps"] = gaps

    # ---- 2. network identity ----------------------------------------------------------------
    def identity(self) -> None:
        self.ui.section(2, "Network identity: the master is found by name")
        out = self.ui.run("exec", f"{REDIS}-1", "-c", "redis", "--", "getent", "hosts", MASTER_DNS)
        resolved = out.split()[0] if out.split() else ""
        master = self.obs.current(f"{REDIS}-0")
        ip = master.ip if master else ""
        self.ui.saw(f"{MASTER_DNS} resolves to {resolved} inside {REDIS}-1 "
                    f"({'= ' if resolved == ip else '≠ '}{REDIS}-0's IP {ip})")
        conf = self.redis(f"{REDIS}-1", "config", "get", "replicaof").split("\n")
        self.ui.saw(f"{REDIS}-1 was configured with replicaof {conf[-1] if conf else '?'}")
        info = self.redis(f"{REDIS}-0", "info", "replication", show=True)
        slaves = [line for line in info.splitlines() if line.startswith("slave") and "ip=" in line]
        connected = next((line.split(":")[1] for line in info.splitlines() if line.startswith("connected_slaves:")), "0")
        self.ui.saw(f"the master has connected_slaves:{connected.strip()}: "
                    + ", ".join(s.split(",")[0].split(":")[1] for s in slaves))
        self.m["dns_name"] = MASTER_DNS
        self.m["dns_ok"] = bool(resolved) and resolved == ip
        self.m["replicas_connected"] = int(connected.strip() or 0)

    # ---- 3. data ----------------------------------------------------------------------------
    def data(self) -> None:
        self.ui.section(3, "Data: each Redis pod keeps its own copy; the web pods share one volume")
        self.redis(f"{REDIS}-0", "set", KEY, VALUE)
        got = {}
        for i in (1, 2):
            pod = f"{REDIS}-{i}"
            got[pod] = self.ui.wait(f"{KEY} on {pod}", lambda pod=pod: self.redis(pod, "get", KEY, show=False) or None, 30)
            self.ui.saw(f"GET {KEY} on {pod}: {got[pod]!r} (replicated from the master)")
        claims = self.ui.run("get", "pvc", "-o",
                             "jsonpath={range .items[*]}{.metadata.name} {.spec.volumeName}{'\\n'}{end}", show=True)
        redis_claims = sorted(line.split()[0] for line in claims.splitlines() if line.startswith(f"data-{REDIS}-"))
        self.ui.saw(f"one claim per Redis pod: {', '.join(redis_claims)}")
        web_claims = {self._claims(p.obj) for p in self.web_pods()}
        self.ui.saw(f"every web pod mounts the same claim: {', '.join(sorted({c for cs in web_claims for c in cs}))}")
        self.m["replicated"] = all(v == VALUE for v in got.values())
        self.m["redis_claims"] = redis_claims
        self.m["web_claims"] = sorted({c for cs in web_claims for c in cs})

    @staticmethod
    def _claims(pod: dict[str, Any]) -> tuple[str, ...]:
        return tuple(v["persistentVolumeClaim"]["claimName"] for v in (pod.get("spec") or {}).get("volumes") or []
                     if v.get("persistentVolumeClaim"))

    # ---- 4. results -------------------------------------------------------------------------
    def results(self) -> None:
        self.ui.section(4, "Results: any web pod answers alike; Redis pods are not interchangeable")
        svc = self.api.get(f"/api/v1/namespaces/{NS}/services/web") or {}
        cip = (svc.get("spec") or {}).get("clusterIP", "")
        self.ui.say(f"12 requests to the web Service's ClusterIP {cip} from this machine:")
        counts: collections.Counter[str] = collections.Counter()
        visits = 0
        for _ in range(12):
            answer = json.loads(urllib.request.urlopen(f"http://{cip}/", timeout=5).read())
            counts[answer["pod"]] += 1
            visits = max(visits, int(answer.get("visits", 0)))
        for pod, n in sorted(counts.items()):
            self.ui.saw(f"{pod} answered {n}")
        self.ui.saw(f"the shared visit counter they all write reached {visits}")
        roles = {}
        for i in range(3):
            info = self.redis(f"{REDIS}-{i}", "info", "replication", show=False)
            roles[f"{REDIS}-{i}"] = next(line.split(":")[1].strip() for line in info.splitlines() if line.startswith("role:"))
        self.ui.saw("roles: " + ", ".join(f"{p} is {r}" for p, r in roles.items()))
        refused = self.ui.run("exec", f"{REDIS}-1", "-c", "redis", "--", "redis-cli", "set", KEY, "x").strip()
        self.ui.saw(f"a write to a replica: {refused!r}")
        self.m["web_answering"] = len(counts)
        self.m["roles"] = roles

    # ---- 5. losing a pod --------------------------------------------------------------------
    def losing(self) -> None:
        self.ui.section(5, "Losing a pod: a stranger replaces a web pod; Redis gets the same pod back")
        victim = sorted(p.name for p in self.web_pods())[0]
        before = {p.name for p in self.web_pods()}
        self.ui.run("delete", "pod", victim, "--wait=false")
        new = self.ui.wait("a replacement web pod to be Ready", lambda: [
            p for p in self.web_pods() if p.name not in before and is_ready(p.obj)] or None)
        self.ui.saw(f"{victim} was replaced by {new[0].name}: a new name, and nothing else changed")
        old = self.obs.current(f"{REDIS}-0")
        assert old is not None
        old_ip, old_uid = old.ip, old.uid
        self.ui.run("delete", "pod", f"{REDIS}-0", "--wait=false")
        back = self.ui.wait(f"a new {REDIS}-0 to be Ready", lambda: (lambda c: c if c and c.uid != old_uid and is_ready(c.obj) else None)(self.obs.current(f"{REDIS}-0")), 120)
        claim = self._claims(back.obj)
        self.ui.saw(f"{REDIS}-0 is back: same name, claim {', '.join(claim)}, IP {old_ip} → {back.ip}")
        value = self.redis(f"{REDIS}-0", "get", KEY)
        self.ui.saw(f"its data survived on the claim: GET {KEY} = {value!r}")
        t0 = time.monotonic()
        self.ui.wait("both replicas to reconnect to the master by name", lambda: all(
            "master_link_status:up" in self.redis(f"{REDIS}-{i}", "info", "replication", show=False)
            for i in (1, 2)), 60)
        self.ui.saw(f"both replicas reconnected to {MASTER_DNS} ({ms(time.monotonic() - t0)} after it was Ready)")
        self.m["web_replacement"] = (victim, new[0].name)
        self.m["redis_back"] = {"same_name": back.name == f"{REDIS}-0", "claim": list(claim),
                                "old_ip": old_ip, "new_ip": back.ip, "data_kept": value == VALUE}

    # ---- 6. scale-down ----------------------------------------------------------------------
    def scale_down(self) -> None:
        self.ui.section(6, "Scale-down: a Deployment drops any pods at once; a StatefulSet, from the top, one at a time")
        before = {p.name: p.uid for p in self.web_pods()}
        self.ui.run("scale", "deployment", "web", "--replicas=1")
        self.ui.wait("the web Deployment to have one pod", lambda: len(self.web_pods()) == 1)
        gone = [lf for lf in self.obs.snapshot("web-") if lf.uid in before.values() and lf.deleting]
        spread = max(lf.deleting for lf in gone) - min(lf.deleting for lf in gone) if gone else 0.0
        self.ui.saw(f"{' and '.join(sorted(lf.name for lf in gone))} were told to stop within {ms(spread)} "
                    "of each other (chosen by the ReplicaSet's ranking, not by name)")
        start = time.monotonic()
        self.ui.run("scale", "statefulset", REDIS, "--replicas=1")
        self.ui.wait(f"{REDIS}-2 and {REDIS}-1 to be gone", lambda: all(
            (c := self.obs.current(f"{REDIS}-{i}")) is not None and c.gone is not None and c.gone > start for i in (1, 2)), 120)
        two, one = self.obs.current(f"{REDIS}-2"), self.obs.current(f"{REDIS}-1")
        assert two and one and two.deleting and two.gone and one.deleting and one.gone
        self.ui.saw(f"{REDIS}-2 stopping at +{ms(two.deleting - start)}, gone at +{ms(two.gone - start)}")
        self.ui.saw(f"{REDIS}-1 stopping at +{ms(one.deleting - start)}, gone at +{ms(one.gone - start)}")
        ordered = one.deleting >= two.gone
        self.ui.saw("-1 was touched only after -2 was fully gone" if ordered else "-1 did not wait for -2 (unexpected)")
        self.m["web_scale_spread"] = spread
        self.m["redis_scale_ordered"] = ordered

    # ---- 7. why it matters ------------------------------------------------------------------
    def why(self) -> None:
        self.ui.section(7, "Why it matters: a replicated store under the two kinds of scale-down")
        self.ui.say(f"each key lives on 2 of 5 pods; {KV_KEYS} keys, then 5 → 3 pods")
        # kvstore.yaml holds the program (a ConfigMap) both StatefulSets run
        self.ui.run("apply", "-f", self.ex("kvstore.yaml"))
        self.ui.run("apply", "-f", self.ex("kvstore-parallel.yaml"))
        lost = {}
        for name, how in (("kvp", "Parallel: two pods vanish at once"),
                          ("kv", "OrderedReady: one at a time, after the rest re-replicated")):
            pods = self.ui.wait(f"5 {name} pods to be Ready", lambda name=name: self.sts_ready(name, 5), 180)
            for i in range(KV_KEYS):
                ip = pods[i % 5].ip
                req = urllib.request.Request(f"http://{ip}:7000/keys/k{i}", data=f"v{i}".encode(), method="PUT")
                urllib.request.urlopen(req, timeout=5).read()
            held = self._kv_keys(name, 5)
            self.ui.saw(f"{name}: {len(held)} distinct keys stored on 5 pods")
            self.ui.run("scale", "statefulset", name, "--replicas=3")
            self.ui.wait(f"{name} to be 3 Ready pods", lambda name=name: self.sts_ready(name, 3), 180)
            kept = self._kv_keys(name, 3)
            lost[name] = KV_KEYS - len(kept)
            self.ui.saw(f"{how}: {lost[name]} of {KV_KEYS} keys lost")
        self.m["kv_lost"] = lost

    def _kv_keys(self, name: str, n: int) -> set[str]:
        keys: set[str] = set()
        for i in range(n):
            pod = self.obs.current(f"{name}-{i}")
            if pod is None or not pod.ip:
                continue
            try:
                body = json.loads(urllib.request.urlopen(f"http://{pod.ip}:7000/keys", timeout=5).read())
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise DemoError(f"reading the keys of {pod.name}: {e}") from e
            keys.update(body if isinstance(body, list) else body.get("keys", body))
        return keys
