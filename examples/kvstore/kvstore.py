#!/usr/bin/env python3
"""kvstore: a small replicated in-memory key-value store (Python 3 stdlib only) on port 7000.

Members are the A records (pod IPs) of the headless Service $KV_SERVICE.$POD_NAMESPACE.svc.
cluster.local (publishNotReadyAddresses: new pods count before they are Ready), polled every
200 ms. Each key lives on the 2 members ranked highest by rendezvous (HRW) hashing of
"<ip>/<key>". On a membership change a pod turns NotReady, pushes every key it holds to the
key's owners, drops the keys it no longer owns once they confirmed, then turns Ready again.
A killed pod loses its copy: SIGTERM exits at once and nothing is ever handed off. A pod being
deleted (preStop GET /leave) only tells the others that it leaves, then waits until they have
re-replicated without it, so its Pod object outlives their NotReady spell: without that, the
StatefulSet controller sees the pod gone while the others still look Ready and deletes the
next one before they re-replicated. The others wait 0.5 s after such an announcement, so pods
deleted together (Parallel, Deployment) are all leaving before anyone copies their keys.

HTTP: PUT /keys/<k> (body = value), GET /keys/<k> (200 / 404), GET /keys (keys held here,
JSON), GET /ready (200 / 503), GET /stats (JSON), GET /leave (preStop hook).
Internal: PUT|GET /internal/keys/<k>, POST /internal/replicate, POST /internal/depart.
"""

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 7000
COPIES = 2
POLL_SECONDS = 0.2
PEER_TIMEOUT = 1.0
# after a departure announcement, wait this long before re-replicating: pods deleted together
# (a Parallel scale-down) all get their own preStop meanwhile and then push nothing
DEPART_HOLD_SECONDS = 0.5


def score(member, key):
    """Rendezvous weight of `member` for `key` (higher wins)."""
    return int.from_bytes(hashlib.sha256(f"{member}/{key}".encode()).digest()[:8], "big")


def owners(key, members, copies=COPIES):
    """The `copies` members that hold `key`: highest HRW weight first (ties by name)."""
    return sorted(members, key=lambda m: (score(m, key), m), reverse=True)[:copies]


def plan_pushes(keys, members, me):
    """For the keys held at `me`: ({owner: [keys to send it]}, [keys `me` no longer owns])."""
    pushes, drop = {}, []
    for key in sorted(keys):
        own = owners(key, members)
        for member in own:
            if member != me:
                pushes.setdefault(member, []).append(key)
        if me not in own:
            drop.append(key)
    return pushes, drop


def call(ip, method, path, body=None, timeout=PEER_TIMEOUT):
    """One request to a peer: (status, body bytes); status 0 when it cannot be reached."""
    conn = http.client.HTTPConnection(ip, PORT, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


class Store:
    """The local copy, the membership view and the re-replication state (one lock)."""

    def __init__(self, me, dns_name):
        self.me, self.dns_name = me, dns_name
        self.lock = threading.Condition()
        self.data = {}          # key -> value bytes
        self.members = ()       # sorted member IPs: DNS answer minus departed pods
        self.departed = {}      # ip -> when it announced leaving (until DNS drops it)
        self.seen = set()       # every member ever seen
        self.leaving = False
        self.hold_until = 0.0   # no re-replication before (monotonic clock)
        self.epoch = 0          # bumped by every change that needs re-replication
        self.done_epoch = -1    # the epoch whose re-replication finished
        self.rebalances = 0
        self.not_ready_turns = 0
        self.last_rebalance_ms = 0.0
        self.last_pushed = 0

    # -- state (callers hold self.lock) --
    def ready(self):
        return not self.leaving and self.me in self.members and self.done_epoch == self.epoch

    def state(self):
        if self.leaving:
            return "leaving"
        if self.me not in self.members:
            return "not-a-member"
        return "ready" if self.done_epoch == self.epoch else "re-replicating"

    def dirty(self):
        if self.ready():
            self.not_ready_turns += 1
        self.epoch += 1
        self.lock.notify_all()

    def set_view(self, view):
        if view != self.members:
            self.members = view
            self.seen.update(view)
            print(f"members {len(view)}: {' '.join(view)}", flush=True)
            self.dirty()

    def recompute(self, answer):
        now = time.monotonic()
        for ip in list(self.departed):
            # a departed IP is forgotten once DNS dropped it (a later pod may reuse it)
            if ip not in answer or now - self.departed[ip] > 60:
                del self.departed[ip]
        self.set_view(tuple(sorted(ip for ip in answer if ip not in self.departed)))

    def store(self, key, value):
        self.data[key] = value
        if self.me not in owners(key, self.members):
            self.dirty()  # a key this pod should not hold: pass it on to its owners

    # -- loops --
    def watch_members(self):
        while True:
            try:
                answer = set(socket.gethostbyname_ex(self.dns_name)[2])
            except OSError:
                answer = None  # no records yet or a DNS hiccup: keep the last view
            if answer is not None:
                with self.lock:
                    self.recompute(answer)
            time.sleep(POLL_SECONDS)

    def rebalance_forever(self):
        while True:
            with self.lock:
                while True:
                    if self.leaving or self.me not in self.members or self.done_epoch == self.epoch:
                        self.lock.wait()
                    elif time.monotonic() < self.hold_until:
                        self.lock.wait(self.hold_until - time.monotonic())
                    else:
                        break
                epoch, members, snapshot = self.epoch, self.members, dict(self.data)
            started = time.monotonic()
            pushes, drop = plan_pushes(snapshot, members, self.me)
            results = {}
            threads = [threading.Thread(target=self.push_to, args=(ip, keys, snapshot, results))
                       for ip, keys in pushes.items()]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            with self.lock:
                if not all(results.values()):
                    self.lock.wait(0.1)  # an owner not up yet (or gone): retry on a fresh view
                    continue
                if self.epoch != epoch:
                    continue
                for key in drop:
                    if self.data.get(key) is snapshot[key]:  # not rewritten meanwhile
                        del self.data[key]
                self.done_epoch = epoch
                self.rebalances += 1
                self.last_pushed = sum(len(k) for k in pushes.values())
                self.last_rebalance_ms = round((time.monotonic() - started) * 1000, 1)
                print(f"re-replicated {self.last_pushed} copies, dropped {len(drop)}, "
                      f"{self.last_rebalance_ms} ms", flush=True)

    def push_to(self, ip, keys, snapshot, results):
        batch = {k: base64.b64encode(snapshot[k]).decode() for k in keys}
        status, _ = call(ip, "POST", "/internal/replicate", json.dumps(batch).encode(), timeout=5)
        results[ip] = status == 200

    # -- requests --
    def put(self, key, value):
        with self.lock:
            own = owners(key, self.members)
        if not own:
            return False
        path = "/internal/keys/" + urllib.parse.quote(key, safe="")
        for ip in own:
            if ip == self.me:
                with self.lock:
                    self.store(key, value)
            elif call(ip, "PUT", path, value)[0] != 204:
                return False
        return True

    def get(self, key):
        with self.lock:
            if key in self.data:
                return self.data[key]
            own = owners(key, self.members)
            rest = [m for m in self.members if m not in own]
        path = "/internal/keys/" + urllib.parse.quote(key, safe="")
        for ip in own + rest:  # the owners first; anyone else mid re-replication
            if ip != self.me:
                status, body = call(ip, "GET", path)
                if status == 200:
                    return body
        return None

    def leave(self, max_wait):
        """preStop: announce the departure, then wait until every other member re-replicated
        without this pod (bounded by `max_wait`). Nothing is handed off."""
        with self.lock:
            self.leaving = True
            peers = [m for m in self.members if m != self.me]
        print("leaving", flush=True)
        for ip in peers:
            call(ip, "POST", "/internal/depart", self.me.encode())
        deadline = time.monotonic() + max_wait
        while time.monotonic() < deadline:
            with self.lock:
                peers = [m for m in self.members if m != self.me and m not in self.departed]
            if all(self.peer_done(ip) for ip in peers):
                return True
            time.sleep(0.05)
        return False

    def peer_done(self, ip):
        status, body = call(ip, "GET", "/stats")
        if status != 200:
            return False
        stats = json.loads(body)
        return stats["state"] == "ready" and self.me not in stats["members"]

    def stats(self):
        with self.lock:
            return {"self": self.me, "members": list(self.members), "membersSeen": sorted(self.seen),
                    "departed": sorted(self.departed), "keys": len(self.data),
                    "state": self.state(), "ready": self.ready(), "epoch": self.epoch,
                    "rebalances": self.rebalances, "notReadyTurns": self.not_ready_turns,
                    "lastRebalanceMs": self.last_rebalance_ms, "lastPushed": self.last_pushed}


def handler_for(node, leave_wait):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass  # no line per request: the pods' logs show membership and re-replication

        def reply(self, status, body=b"", ctype="text/plain"):
            if isinstance(body, (dict, list)):
                body, ctype = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

        def body(self):
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def key(self, prefix):
            return urllib.parse.unquote(self.path[len(prefix):])

        def do_GET(self):
            if self.path == "/ready":
                with node.lock:
                    ok, state = node.ready(), node.state()
                self.reply(200 if ok else 503, state.encode() + b"\n")
            elif self.path == "/stats":
                self.reply(200, node.stats())
            elif self.path == "/keys":
                with node.lock:
                    self.reply(200, sorted(node.data))
            elif self.path.startswith("/keys/"):
                value = node.get(self.key("/keys/"))
                self.reply(404, b"not found\n") if value is None else self.reply(200, value)
            elif self.path.startswith("/internal/keys/"):
                with node.lock:
                    value = node.data.get(self.key("/internal/keys/"))
                self.reply(404) if value is None else self.reply(200, value)
            elif self.path == "/leave":
                self.reply(200, b"left\n" if node.leave(leave_wait) else b"gave up waiting\n")
            else:
                self.reply(404, b"not found\n")

        def do_PUT(self):
            value = self.body()
            if self.path.startswith("/keys/") and len(self.path) > len("/keys/"):
                ok = node.put(self.key("/keys/"), value)
                self.reply(204) if ok else self.reply(503, b"owners unavailable\n")
            elif self.path.startswith("/internal/keys/"):
                with node.lock:
                    if node.leaving:
                        return self.reply(503, b"leaving\n")
                    node.store(self.key("/internal/keys/"), value)
                self.reply(204)
            else:
                self.reply(404, b"not found\n")

        def do_POST(self):
            body = self.body()
            if self.path == "/internal/replicate":
                batch = json.loads(body)
                with node.lock:
                    if node.leaving:
                        return self.reply(503, b"leaving\n")  # never count on a departing pod
                    for key, value in batch.items():
                        node.store(key, base64.b64decode(value))
                self.reply(200, b"ok\n")
            elif self.path == "/internal/depart":
                with node.lock:
                    node.departed[body.decode()] = time.monotonic()
                    node.hold_until = time.monotonic() + DEPART_HOLD_SECONDS
                    node.set_view(tuple(m for m in node.members if m != body.decode()))
                self.reply(200, b"ok\n")
            else:
                self.reply(404, b"not found\n")

    return Handler


def main():
    # no hand-off: a terminated store behaves as if it crashed
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    namespace = os.environ.get("POD_NAMESPACE", "default")
    service = os.environ.get("KV_SERVICE", "kv")
    me = os.environ.get("POD_IP") or socket.gethostbyname(socket.gethostname())
    leave_wait = float(os.environ.get("KV_LEAVE_WAIT_SECONDS", "8"))
    node = Store(me, f"{service}.{namespace}.svc.cluster.local")
    server = ThreadingHTTPServer(("", PORT), handler_for(node, leave_wait))
    server.daemon_threads = True
    for loop in (node.watch_members, node.rebalance_forever):
        threading.Thread(target=loop, daemon=True).start()
    print(f"kvstore {me} serving on :{PORT}, members from {node.dns_name}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
