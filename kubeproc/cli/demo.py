"""`kubeproc demo`: start (or reuse) kubeproc, apply the sample stateless web service and run a pod.

The real kubectl applies examples/web-deployment.yaml and reads back what the API stored,
defaulted and printed, waits for its pods to run, then runs a Redis pod as real processes and
talks to it. Without root or runc the pod part is skipped with the reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from kubeproc.server import Config

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples")


def run(args: argparse.Namespace, data_dir: str) -> int:
    from kubeproc.cli.main import cmd_up

    from kubeproc.agent import preflight

    cfg = Config(data_dir)
    problem = preflight.problem()
    if problem:
        print(f"(pods cannot run here: {problem}; the demo shows the API alone)")
    up = argparse.Namespace(data_dir=data_dir, api_port=None, listen="127.0.0.1",
                            foreground=False, timeout=30.0, no_agent=bool(problem), node_name=None,
                            pod_cidr=None, backoff_seconds=10.0, pod_max_pids=0,
                            max_pods=110)
    if cmd_up(up) != 0:
        return 1
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("kubectl is not on the PATH; install it to continue the demo", file=sys.stderr)
        return 1
    env = {**os.environ, "KUBECONFIG": cfg.kubeconfig}
    manifest = os.path.join(EXAMPLES, "web-deployment.yaml")
    steps = [
        ("Apply the stateless web service (Deployment + Service)", ["apply", "-f", manifest]),
        ("What the API stored, as kubectl prints it", ["get", "deployments,services", "-o", "wide"]),
        ("Defaults filled in by the server, as a real cluster does",
         ["get", "deployment", "web", "-o",
          "jsonpath={'strategy: '}{.spec.strategy}{'\\nrevisionHistoryLimit: '}"
          "{.spec.revisionHistoryLimit}{'\\nprogressDeadlineSeconds: '}{.spec.progressDeadlineSeconds}"
          "{'\\nimagePullPolicy: '}{.spec.template.spec.containers[0].imagePullPolicy}{'\\n'}"]),
        ("Scale through the scale subresource", ["scale", "deployment", "web", "--replicas=5"]),
        ("Server-side apply brings it back to the manifest",
         ["apply", "--server-side", "--force-conflicts", "-f", manifest]),
        ("The same object, read back", ["get", "deployment", "web"]),
    ]
    if not problem:
        steps += [
            ("The Deployment's pods: random names, any order", ["rollout", "status", "deployment/web",
                                                               "--timeout=90s"]),
            ("Three interchangeable web servers", ["get", "pods", "-l", "app=web", "-o", "wide"]),
        ]
        steps += [
            ("This machine is the cluster's node", ["get", "nodes", "-o", "wide"]),
            ("A pod is real processes: run Redis", ["run", "demo-redis", "--image=redis:7",
                                                    "--restart=Never"]),
            ("Wait until it is Ready", ["wait", "--for=condition=Ready", "pod/demo-redis",
                                        "--timeout=60s"]),
            ("Its own IP on the instance bridge", ["get", "pod", "demo-redis", "-o", "wide"]),
            ("Talk to it inside its namespaces", ["exec", "demo-redis", "--", "redis-cli", "ping"]),
            ("Its log, as the kubelet keeps it", ["logs", "demo-redis", "--tail=3"]),
            ("Delete it: SIGTERM, then gone", ["delete", "pod", "demo-redis"]),
        ]
    subprocess.run([kubectl, "delete", "pod", "demo-redis", "--ignore-not-found", "--wait=true"],
                   env=env, capture_output=True)  # a previous run's pod: the demo runs twice
    for title, cmd in steps:
        print(f"\n== {title}\n$ kubectl {' '.join(cmd)}", flush=True)
        res = subprocess.run([kubectl, *cmd], env=env, text=True, capture_output=True)
        sys.stdout.write(res.stdout)
        if res.returncode != 0:
            sys.stderr.write(res.stderr)
            return res.returncode
    print("\nKeep exploring (StatefulSets run too; DNS and Service VIPs are the next step):")
    print(f"  export KUBECONFIG={cfg.kubeconfig}")
    print("  kubectl get all; kubectl explain statefulset.spec; kubectl get deploy web -w")
    print("  .venv/bin/kubeproc down")
    return 0
