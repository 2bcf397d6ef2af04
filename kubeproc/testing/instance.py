"""A real kubeproc instance for tests and benchmarks, in its own data dir and port.

Starts `kubeproc up --foreground` as a child process, waits until the API answers, and stops it
by pid (SIGTERM, then SIGKILL after a deadline). Also finds the real kubectl binaries and runs
them with a private HOME so their discovery cache never leaks between instances.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


def kubectl_dir() -> str:
    path = shutil.which("kubectl")
    if not path:
        raise RuntimeError("kubectl is not on the PATH")
    return os.path.dirname(os.path.realpath(path))


def kubectl_binary(minor: int) -> str:
    path = os.path.join(kubectl_dir(), f"kubectl.1.{minor}")
    if not os.path.exists(path):
        raise RuntimeError(f"kubectl 1.{minor} is not installed ({path})")
    return path


@dataclass
class Instance:
    data_dir: str
    port: int
    proc: subprocess.Popen | None = None
    home: str = ""
    extra_args: tuple[str, ...] = ()  # e.g. ("--no-agent",) or ("--backoff-seconds", "1")
    service_cidr: str = ""  # chosen on the first start (kept across restarts) unless given
    pod_cidr: str = ""  # likewise: an unrouted /24, so instances side by side never collide
    _ctx: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kubeconfig")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        with open(os.path.join(self.data_dir, "pki", "admin.token")) as f:
            return f.read().strip()

    @property
    def ca(self) -> str:
        return os.path.join(self.data_dir, "pki", "ca.crt")

    def start(self, timeout: float = 30.0) -> None:
        extra = list(self.extra_args)
        if "--no-agent" not in extra and "--service-cidr" not in extra:
            # a node's proxy routes its service CIDR: each test instance needs its own
            if not self.service_cidr:
                self.service_cidr = free_service_cidr()
            extra += ["--service-cidr", self.service_cidr]
        if "--no-agent" not in extra and "--pod-cidr" not in extra:
            # kubeproc refuses a pod CIDR another interface routes (the hashed default may)
            if not self.pod_cidr:
                self.pod_cidr = free_pod_cidr()
            extra += ["--pod-cidr", self.pod_cidr]
        cmd = [sys.executable, "-m", "kubeproc.cli.main", "up", "--foreground",
               "--data-dir", self.data_dir, "--api-port", str(self.port), *extra]
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(os.path.join(self.data_dir, "test-server.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self._ctx = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kubeproc exited with {self.proc.returncode}: {self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"kubeproc did not become ready: {self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(os.path.join(self.data_dir, "test-server.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def ready(self) -> bool:
        try:
            status, _ = self.request("GET", "/readyz")
            return status == 200
        except (OSError, FileNotFoundError):
            return False

    def context(self) -> ssl.SSLContext:
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=self.ca)
        return self._ctx

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                headers: dict[str, str] | None = None, token: str | None = None,
                timeout: float = 10.0) -> tuple[int, Any]:
        """One HTTPS request; returns (status, decoded JSON or text)."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = {"Authorization": f"Bearer {self.token if token is None else token}",
                "Content-Type": content_type, **(headers or {})}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=self.context(), timeout=timeout) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def open_watches(self, resource: str, group: str = "") -> int:
        """Watches open on `resource` now (from /metrics): lets a test know a client is watching."""
        _, text = self.request("GET", "/metrics")
        for line in str(text).splitlines():
            if line.startswith("apiserver_longrunning_requests{") and \
                    f'group="{group}",resource="{resource}"' in line:
                return int(line.rsplit(" ", 1)[1])
        return 0

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def kubectl_env(self) -> dict[str, str]:
        """Environment for kubectl: this instance's kubeconfig and a private HOME (cache)."""
        if not self.home:
            self.home = tempfile.mkdtemp(prefix="kubectl-home-", dir=self.data_dir)
        return {"PATH": os.environ.get("PATH", ""), "HOME": self.home,
                "KUBECONFIG": self.kubeconfig}

    def kubectl(self, *args: str, minor: int = 33, input: str | None = None,
                check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess:
        proc = subprocess.run([kubectl_binary(minor), *args], input=input, capture_output=True,
                              text=True, env=self.kubectl_env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl 1.{minor} {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc


_handed_out: set[str] = set()


def _free_cidr(candidates: list[str], what: str) -> str:
    """The first of `candidates` that no route on the host overlaps and this process has not
    handed out yet (a stopped instance's range is reused only by a later process)."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    routed = [ipaddress.ip_network(line.split()[0], strict=False) for line in routes.splitlines()
              if line and line.split()[0][0].isdigit()]
    for cidr in candidates:
        net = ipaddress.ip_network(cidr)
        if cidr not in _handed_out and not any(r.overlaps(net) for r in routed):
            _handed_out.add(cidr)
            return cidr
    raise RuntimeError(f"no free {what}")


def free_service_cidr() -> str:
    """A /16 in 10.100.0.0–10.199.0.0 for an instance's Service proxy (it routes the range)."""
    start = os.getpid() % 100
    return _free_cidr([f"10.{100 + (start + i) % 100}.0.0/16" for i in range(100)],
                      "/16 for a service CIDR in 10.100-10.199")


def free_pod_cidr() -> str:
    """A /24 in 10.245.0.0/16 for an instance's pods: next to, not in, the 10.244.0.0/16 that
    kubeproc's hashed defaults use, so a test instance never takes the /24 an instance started
    with defaults (the demo, a user's) derives, which would then refuse to start."""
    start = os.getpid() % 256
    return _free_cidr([f"10.245.{(start + i) % 256}.0/24" for i in range(256)],
                      "/24 for a pod CIDR in 10.245.0.0/16")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
