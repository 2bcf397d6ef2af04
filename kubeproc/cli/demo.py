"""`kubeproc demo`: start (or reuse) kubeproc and tell the stateless-versus-stateful story live.

Runs the steps of `kubeproc.demo.steps` against the instance with the real kubectl and prints
what it observes; ends with the table of the eight aspects built from those observations and the
commands to keep exploring. Running it again starts over (it removes what a previous run left).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from kubeproc.server import Config

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples")


def run(args: argparse.Namespace, data_dir: str) -> int:
    from kubeproc.agent import preflight
    from kubeproc.cli.main import cmd_up
    from kubeproc.demo import report
    from kubeproc.demo.api import Api
    from kubeproc.demo.steps import Demo
    from kubeproc.demo.ui import DemoError, Ui

    problem = preflight.problem()
    if problem:
        print(f"kubeproc demo runs real pods, and this machine cannot: {problem}", file=sys.stderr)
        return 1
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("kubectl is not on the PATH; install it to run the demo", file=sys.stderr)
        return 1
    cfg = Config(data_dir)
    up = argparse.Namespace(data_dir=data_dir, api_port=None, listen="127.0.0.1", foreground=False,
                            timeout=30.0, no_agent=False, node_name=None, pod_cidr=None,
                            backoff_seconds=10.0, pod_max_pids=0, max_pods=110, service_cidr=None,
                            service_node_port_range=None, dns_ttl=5,
                            no_favordynmods=False)
    if cmd_up(up) != 0:
        return 1
    ui = Ui(kubectl, {**os.environ, "KUBECONFIG": cfg.kubeconfig})
    demo = Demo(ui, Api(data_dir), args.examples or EXAMPLES)
    demo.obs.start()
    started = time.monotonic()
    steps = [demo.clean, demo.creation, demo.identity, demo.data, demo.results, demo.losing,
             demo.scale_down, demo.why]
    try:
        for step in steps:
            step()
    except DemoError as e:
        print(f"\nthe demo stopped: {e}", file=sys.stderr)
        return 1
    ui.section(8, "The eight aspects, as measured just now")
    print("\n".join("   " + line for line in report.render(demo.m).splitlines()))
    print(f"\n   (measured on this machine in {time.monotonic() - started:.0f} s)")
    print("\nKeep exploring:")
    print(f"   export KUBECONFIG={cfg.kubeconfig}")
    print("   kubectl get pods -o wide -w                      # then, elsewhere:")
    print("   kubectl scale statefulset test-redis-pod --replicas=3   # created 0,1,2 in order")
    print("   kubectl delete pod test-redis-pod-0              # comes back with its name and data")
    print("   kubectl rollout restart deployment web           # stateless: any order")
    print("   kubectl exec test-redis-pod-0 -- redis-cli info replication")
    print("   .venv/bin/kubeproc dashboard                     # the same story in a browser")
    print("   .venv/bin/kubeproc down                          # stops every pod, leaves nothing")
    return 0
