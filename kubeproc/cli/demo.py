"""`kubeproc demo`: start (or reuse) kubeproc and apply the sample stateless web service.

Until pods run (node agent), the demo shows the control plane: the real kubectl applies
examples/web-deployment.yaml and reads back what the API stored, defaulted and printed.
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

    cfg = Config(data_dir)
    up = argparse.Namespace(data_dir=data_dir, api_port=None, listen="127.0.0.1",
                            foreground=False, timeout=30.0)
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
    for title, cmd in steps:
        print(f"\n== {title}\n$ kubectl {' '.join(cmd)}", flush=True)
        res = subprocess.run([kubectl, *cmd], env=env, text=True, capture_output=True)
        sys.stdout.write(res.stdout)
        if res.returncode != 0:
            sys.stderr.write(res.stderr)
            return res.returncode
    print("\nPods do not run yet (the node agent is the next step); keep exploring with:")
    print(f"  export KUBECONFIG={cfg.kubeconfig}")
    print("  kubectl get all; kubectl explain statefulset.spec; kubectl get deploy web -w")
    print("  .venv/bin/kubeproc down")
    return 0
