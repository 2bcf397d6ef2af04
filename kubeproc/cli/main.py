"""`kubeproc up|down|status`: start an instance in the background, stop it, report on it.

`up` spawns `kubeproc up --foreground` as a detached process (never forks this one) and
returns once the API answers; `down` sends SIGTERM to the pid in DATA/run/kubeproc.pid and waits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from kubeproc.server import Config


def _data_dir(value: str | None) -> str:
    return os.path.abspath(value or os.environ.get("KUBEPROC_HOME") or
                           os.path.join(os.path.expanduser("~"), ".kubeproc"))


def _read_pid(cfg: Config) -> int | None:
    try:
        with open(cfg.pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _api_ok(cfg: Config) -> tuple[bool, str]:
    try:
        with open(cfg.state_file) as f:
            port = int(json.load(f)["apiPort"])
        with open(os.path.join(cfg.data_dir, "pki", "admin.token")) as f:
            token = f.read().strip()
        ctx = ssl.create_default_context(cafile=os.path.join(cfg.data_dir, "pki", "ca.crt"))
        req = urllib.request.Request(f"https://127.0.0.1:{port}/readyz",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
            return resp.status == 200, f"https://127.0.0.1:{port}"
    except (OSError, ValueError, KeyError):
        return False, ""


def cmd_up(args: argparse.Namespace) -> int:
    cfg = Config(_data_dir(args.data_dir), args.api_port or 0, args.listen, agent=not args.no_agent,
                 node_name=args.node_name or "", pod_cidr=args.pod_cidr or "",
                 backoff_seconds=args.backoff_seconds, pod_max_pids=args.pod_max_pids,
                 max_pods=args.max_pods, dns_ttl=args.dns_ttl,
                 favor_dynmods=not args.no_favordynmods)
    cfg.service_cidr = args.service_cidr or _stored(cfg, "serviceCIDR") or cfg.service_cidr
    cfg.node_port_range = args.service_node_port_range or _stored(cfg, "nodePortRange") or cfg.node_port_range
    if cfg.agent:
        from kubeproc.agent import preflight
        problem = preflight.problem()
        if problem:
            print(f"kubeproc: {problem}", file=sys.stderr)
            return 1
    if args.foreground:
        from kubeproc.server import Instance
        import asyncio

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        asyncio.run(Instance(cfg).run())
        return 0
    pid = _read_pid(cfg)
    if pid and _api_ok(cfg)[0]:
        print(f"kubeproc is already running (pid {pid})")
        _print_usage(cfg)
        return 0
    os.makedirs(os.path.join(cfg.data_dir, "logs"), exist_ok=True)
    log_path = os.path.join(cfg.data_dir, "logs", "kubeproc.log")
    cmd = [sys.executable, "-m", "kubeproc.cli.main", "up", "--foreground",
           "--data-dir", cfg.data_dir, "--listen", cfg.listen]
    if cfg.api_port:
        cmd += ["--api-port", str(cfg.api_port)]
    if not cfg.agent:
        cmd.append("--no-agent")
    if cfg.node_name:
        cmd += ["--node-name", cfg.node_name]
    if cfg.pod_cidr:
        cmd += ["--pod-cidr", cfg.pod_cidr]
    if args.backoff_seconds != 10.0:
        cmd += ["--backoff-seconds", str(args.backoff_seconds)]
    if args.pod_max_pids:
        cmd += ["--pod-max-pids", str(args.pod_max_pids)]
    if args.max_pods != 110:
        cmd += ["--max-pods", str(args.max_pods)]
    if args.no_favordynmods:
        cmd.append("--no-favordynmods")
    cmd += ["--service-cidr", cfg.service_cidr, "--dns-ttl", str(cfg.dns_ttl),
            "--service-node-port-range", cfg.node_port_range]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"kubeproc failed to start (exit {proc.returncode}); see {log_path}", file=sys.stderr)
            with open(log_path) as f:
                sys.stderr.write("".join(f.readlines()[-15:]))
            return 1
        if _read_pid(cfg) == proc.pid and _api_ok(cfg)[0]:
            print(f"kubeproc is up (pid {proc.pid}), data dir {cfg.data_dir}")
            _print_usage(cfg)
            return 0
        time.sleep(0.05)
    print(f"kubeproc did not answer within {args.timeout}s; see {log_path}", file=sys.stderr)
    return 1


def _print_usage(cfg: Config) -> None:
    print(f"  export KUBECONFIG={cfg.kubeconfig}")
    print("  kubectl get namespaces")


def cmd_down(args: argparse.Namespace) -> int:
    cfg = Config(_data_dir(args.data_dir))
    pid = _read_pid(cfg)
    if pid is None:
        print("kubeproc is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"kubeproc stopped (pid {pid})")
            return 0
        time.sleep(0.05)
    print(f"kubeproc (pid {pid}) did not stop within {args.timeout}s", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    cfg = Config(_data_dir(args.data_dir))
    pid = _read_pid(cfg)
    ok, url = _api_ok(cfg)
    if pid is None:
        print(f"kubeproc is not running (data dir {cfg.data_dir})")
        return 3
    print(f"kubeproc is running (pid {pid}), data dir {cfg.data_dir}")
    print(f"  API: {url or '(not answering)'} {'ready' if ok else 'not ready'}")
    print(f"  kubeconfig: {cfg.kubeconfig}")
    try:
        with open(cfg.state_file) as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    if state.get("serviceCIDR"):
        print(f"  services: {state['serviceCIDR']}")
    dns, vip = state.get("dns"), state.get("clusterDNS")
    if dns:
        host, _, port = dns.rpartition(":")
        print(f"  cluster DNS: {dns}  (dig @{host} -p {port} kubernetes.default.svc.cluster.local)")
    if vip and dns and not dns.startswith(vip + ":"):
        print(f"  cluster DNS Service (kube-system/kube-dns, what pods use): {vip}:53")
    return 0 if ok else 1


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Print the dashboard's login URL (the running instance serves the page itself)."""
    cfg = Config(_data_dir(args.data_dir))
    if _read_pid(cfg) is None:
        print(f"kubeproc is not running (data dir {cfg.data_dir}); start it with `kubeproc up`",
              file=sys.stderr)
        return 3
    port = _stored(cfg, "dashboardPort")
    try:
        with open(os.path.join(cfg.data_dir, "pki", "dashboard.token")) as f:
            token = f.read().strip()
    except OSError:
        token = ""
    if not port or not token:
        print("kubeproc: this instance serves no dashboard; restart it (kubeproc down; kubeproc up)",
              file=sys.stderr)
        return 1
    print(f"http://127.0.0.1:{port}/login?token={token}")
    return 0


def _stored(cfg: Config, key: str) -> str:
    """A setting the data dir's last start recorded (so a restart keeps its addresses)."""
    try:
        with open(cfg.state_file) as f:
            return str(json.load(f).get(key) or "")
    except (OSError, ValueError):
        return ""


def _ipv4_cidr(text: str) -> str:
    import ipaddress
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if net.version != 4 or not 8 <= net.prefixlen <= 28:
        raise argparse.ArgumentTypeError(f"{text}: an IPv4 range with a prefix length of 8 to 28")
    return str(net)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeproc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start kubeproc in the background")
    up.add_argument("--data-dir")
    up.add_argument("--api-port", type=int)
    up.add_argument("--listen", default="127.0.0.1",
                    help="address the API listens on (default 127.0.0.1)")
    up.add_argument("--foreground", action="store_true", help="run in the foreground (service managers)")
    up.add_argument("--timeout", type=float, default=30.0)
    up.add_argument("--no-agent", action="store_true",
                    help="serve the API alone: no node, no scheduler, pods never run")
    up.add_argument("--node-name", help="the Node's name (default: the host name)")
    up.add_argument("--pod-cidr", help="pod addresses (default: a /24 derived from the data dir)")
    up.add_argument("--backoff-seconds", type=float, default=10.0,
                    help="container restart back-off base (the kubelet's 10 s; max is 30x)")
    up.add_argument("--pod-max-pids", type=int, default=0,
                    help="most processes a container may run (the kubelet's podPidsLimit)")
    up.add_argument("--max-pods", type=int, default=110,
                    help="pods the node accepts (the kubelet's --max-pods; needs a pod CIDR big enough)")
    up.add_argument("--service-cidr", type=_ipv4_cidr,
                    help="ClusterIP range (default: the data dir's previous one, else 10.96.0.0/16; "
                         "kubernetes at .1, kube-dns at .10); two instances need different ones")
    up.add_argument("--service-node-port-range",
                    help="NodePort range (default: the data dir's previous one, else 30000-32767)")
    up.add_argument("--dns-ttl", type=int, default=5, help="TTL of cluster DNS answers, seconds (default 5)")
    up.add_argument("--no-favordynmods", action="store_true",
                    help="leave the cgroup2 mount option favordynmods as it is (by default kubeproc "
                         "sets it: each pod start then skips a ~10 ms kernel wait; on Linux >= 6.18 "
                         "it stays until reboot)")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop kubeproc")
    down.add_argument("--data-dir")
    down.add_argument("--timeout", type=float, default=30.0)
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="is kubeproc running")
    status.add_argument("--data-dir")
    status.set_defaults(func=cmd_status)
    dash = sub.add_parser("dashboard", help="print the URL that logs in to the web dashboard")
    dash.add_argument("--data-dir")
    dash.set_defaults(func=cmd_dashboard)
    demo = sub.add_parser("demo", help="start kubeproc and show stateless versus stateful services live")
    demo.add_argument("--data-dir")
    demo.add_argument("--examples", help="the examples directory (default: the one shipped with kubeproc)")
    demo.set_defaults(func=lambda a: __import__("kubeproc.cli.demo", fromlist=["run"]).run(
        a, _data_dir(a.data_dir)))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
