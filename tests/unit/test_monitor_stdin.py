"""The monitor's stdin pipes (monitorfiles.Stdin / StdinPipes) over real pipes, and which
containers get one (containers.stdin_annotation, runc._prepare_create)."""

from __future__ import annotations

import binascii
import json
import os
import select
from typing import Any

import pytest

from kubeproc.agent.containers import stdin_annotation
from kubeproc.agent.runtime.bundle import STDIN_ANNOTATION
from kubeproc.agent.runtime.monitorfiles import Stdin, StdinPipes
from kubeproc.agent.runtime.runc import _prepare_create


class Pipes:
    """StdinPipes on a real poll object; replies collected as (client, seq, text)."""

    def __init__(self) -> None:
        self.poll = select.poll()
        self.sent: list[tuple[object, str, str]] = []
        self.pipes = StdinPipes(self.poll, lambda c, seq, text: self.sent.append((c, seq, text)))


@pytest.fixture
def pipe():
    r, w = os.pipe()
    os.set_blocking(w, False)
    os.set_blocking(r, False)
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode() or "="


def read_all(fd: int) -> bytes:
    out = b""
    try:
        while chunk := os.read(fd, 1 << 20):
            out += chunk
    except BlockingIOError:
        pass
    return out


def test_write_replies_ok_once_in_the_pipe(pipe) -> None:
    r, w = pipe
    p = Pipes()
    s = Stdin(w, once=False)
    assert p.pipes.request("c", "1", "stdinattach", s, []) is True
    p.pipes.request("c", "2", "stdin", s, [b64(b"hello\n")])
    assert p.sent == [("c", "1", "ok"), ("c", "2", "ok")]
    assert read_all(r) == b"hello\n"
    assert p.pipes.by_fd == {}


def test_a_full_pipe_holds_the_reply_until_there_is_room(pipe) -> None:
    r, w = pipe
    p = Pipes()
    s = Stdin(w, once=False)
    big = b"x" * (1 << 20)  # more than a pipe holds (64 KiB by default)
    p.pipes.request("c", "1", "stdin", s, [b64(big)])
    assert p.sent == []  # flow control: the agent waits for this reply
    assert p.pipes.by_fd == {w: s}  # polled for POLLOUT
    got = b""
    while p.sent == []:
        got += read_all(r)
        p.pipes.writable(w)
    got += read_all(r)
    assert got == big
    assert p.sent == [("c", "1", "ok")]
    assert p.pipes.by_fd == {}


@pytest.mark.parametrize("once,closed", [(True, True), (False, False)],
                         ids=["stdinOnce-session-end-closes", "stdin-stays-open-for-the-next-session"])
def test_session_end(pipe, once: bool, closed: bool) -> None:
    r, w = pipe
    p = Pipes()
    s = Stdin(w, once=once)
    p.pipes.request("c", "1", "stdin", s, [b64(b"a\n")])
    p.pipes.end(s)
    assert s.closed is closed
    assert read_all(r) == b"a\n"
    if closed:
        assert s.fd == -1
        assert os.read(r, 10) == b""  # EOF: the monitor held the only write end
        p.pipes.request("c", "2", "stdin", s, [b64(b"late\n")])
        assert p.sent[-1] == ("c", "2", "closed")
        assert p.pipes.request("c", "3", "stdinattach", s, []) is False
        assert p.sent[-1] == ("c", "3", "closed")
    else:
        p.pipes.request("c", "2", "stdin", s, [b64(b"b\n")])
        assert p.sent[-1] == ("c", "2", "ok")
        assert read_all(r) == b"b\n"


def test_once_closes_only_after_queued_bytes_are_written(pipe) -> None:
    r, w = pipe
    p = Pipes()
    s = Stdin(w, once=True)
    big = b"y" * (256 * 1024)
    p.pipes.request("c", "1", "stdin", s, [b64(big)])
    p.pipes.end(s)
    assert not s.closed and s.closing
    got = b""
    while not s.closed:
        got += read_all(r)
        p.pipes.writable(w)
    got += read_all(r)
    assert got == big
    assert p.sent == [("c", "1", "ok")]


def test_a_gone_reader_answers_closed(pipe) -> None:
    r, w = pipe
    os.close(r)
    p = Pipes()
    s = Stdin(w, once=False)
    p.pipes.request("c", "1", "stdin", s, [b64(b"x")])  # EPIPE (SIGPIPE is ignored by Python)
    assert p.sent == [("c", "1", "closed")]
    assert s.closed and s.fd == -1


def test_no_pipe_answers_none() -> None:
    p = Pipes()
    assert p.pipes.request("c", "1", "stdinattach", None, []) is False
    p.pipes.request("c", "2", "stdin", None, [b64(b"x")])
    assert p.sent == [("c", "1", "none"), ("c", "2", "none")]


@pytest.mark.parametrize("container,want", [
    ({"name": "c"}, ()),
    ({"name": "c", "stdin": True}, ((STDIN_ANNOTATION, "open"),)),
    ({"name": "c", "stdin": True, "stdinOnce": True}, ((STDIN_ANNOTATION, "once"),)),
    ({"name": "c", "stdinOnce": True}, ()),
    ({"name": "c", "stdin": True, "tty": True}, ()),
], ids=["no-stdin-devnull", "stdin", "stdin-once", "stdinOnce-without-stdin-ignored", "tty-not-supported"])
def test_stdin_annotation(container: dict[str, Any], want: tuple) -> None:
    assert stdin_annotation(container) == want


@pytest.mark.parametrize("annotations,want", [
    ({}, ""), ({STDIN_ANNOTATION: "open"}, "open"), ({STDIN_ANNOTATION: "once"}, "once"),
    ({STDIN_ANNOTATION: "bogus"}, ""),
], ids=["none", "open", "once", "unknown-mode-ignored"])
def test_prepare_create_reads_the_stdin_mode(tmp_path, annotations: dict[str, str], want: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(
        {"linux": {"cgroupsPath": "/kp/x"}, "annotations": annotations}))
    assert _prepare_create(str(tmp_path), str(tmp_path / "logs" / "0.log")) == ("/kp/x", want)
