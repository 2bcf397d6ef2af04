"""A small client for the running instance's API: GET, and watches streamed line by line."""

from __future__ import annotations

import http.client
import json
import os
import ssl
from typing import Any, Iterator


class Api:
    def __init__(self, data_dir: str) -> None:
        with open(os.path.join(data_dir, "config.json")) as f:
            self.port = int(json.load(f)["apiPort"])
        with open(os.path.join(data_dir, "pki", "admin.token")) as f:
            self.token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(data_dir, "pki", "ca.crt"))

    def _conn(self, timeout: float | None = 30.0) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, None for 404."""
        conn = self._conn()
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status} {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()

    def watch(self, path: str, rv: str) -> Iterator[dict[str, Any]]:
        """Watch events of the collection at `path` after `rv`, until the server ends the stream."""
        conn = self._conn(timeout=None)
        try:
            conn.request("GET", f"{path}?watch=1&resourceVersion={rv}&timeoutSeconds=3600",
                         headers={"Authorization": f"Bearer {self.token}"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"watch {path}: {resp.status}")
            while True:
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()
