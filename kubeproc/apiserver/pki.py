"""The instance's PKI files: CA, serving certificate and admin token under DATA/pki.

Whatever is missing (or a certificate whose addresses changed) is made by a spawned
`kubeproc.apiserver.pkigen` process, so the server itself never imports cryptography.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Pki:
    ca_cert: str
    cert: str
    key: str
    token: str


def wanted_hosts(hosts: list[str]) -> list[str]:
    return sorted(set(hosts) | {"127.0.0.1", "localhost", "::1"})


def ensure(data_dir: str, hosts: list[str]) -> Pki:
    pki_dir = os.path.join(data_dir, "pki")
    wanted = wanted_hosts(hosts)
    names = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.token", "apiserver.hosts")
    complete = all(os.path.exists(os.path.join(pki_dir, n)) for n in names)
    if not complete or open(os.path.join(pki_dir, "apiserver.hosts")).read().split("\n") != wanted:
        subprocess.run([sys.executable, "-m", "kubeproc.apiserver.pkigen", data_dir, *wanted],
                       check=True)
    with open(os.path.join(pki_dir, "admin.token")) as f:
        token = f.read().strip()
    return Pki(os.path.join(pki_dir, "ca.crt"), os.path.join(pki_dir, "apiserver.crt"),
               os.path.join(pki_dir, "apiserver.key"), token)
