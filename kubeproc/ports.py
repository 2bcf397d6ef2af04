"""Listening ports an instance remembers: the one its data dir used before if still free, else a
free one (the API's and the dashboard's ports are stable across restarts this way)."""

from __future__ import annotations

import json
import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def remembered_port(state_file: str, key: str, host: str = "127.0.0.1") -> int:
    """`key` of the state file if that port is free on `host`, else a free port."""
    try:
        with open(state_file) as f:
            old = int(json.load(f).get(key, 0))
    except (OSError, ValueError):
        old = 0
    if old and port_free(host, old):
        return old
    return free_port(host)
