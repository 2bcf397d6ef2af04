"""kubeproc.agent.runtime.monitorcmd (short runc commands run by the container monitor): the
reply encoding round-trips any output, a command's reply waits for both its exit and the end of
its output, and mounts_under's fast path agrees with a full parse of mountinfo."""

from __future__ import annotations

import os
import select
import time

import pytest

from kubeproc.agent.runtime import rootfs
from kubeproc.agent.runtime.monitorcmd import Commands, decode_reply, encode_reply


@pytest.mark.parametrize("status, out, err, want", [
    (0, b"", b"", (0, b"", b"")),
    (1 << 8, b'{"id": "x"}\n', b"", (1, b'{"id": "x"}\n', b"")),
    (0, b"a\nb\n\x00\xff", b"error: container does not exist\n",
     (0, b"a\nb\n\x00\xff", b"error: container does not exist\n")),
    (9, b"", b"", (-9, b"", b"")),  # killed by SIGKILL: waitstatus_to_exitcode's -9
], ids=["empty", "exit-code-and-json", "newlines-and-binary-stay-one-line", "signal"])
def test_reply_round_trips(status, out, err, want) -> None:
    word, _, rest = encode_reply(status, out, err).partition(" ")
    assert word == "done" and "\n" not in rest
    assert decode_reply(rest) == want


def test_command_replies_after_exit_and_drained_output() -> None:
    poll = select.poll()
    replies: list[tuple[object, str, str]] = []
    cmds = Commands(poll, lambda c, seq, text: replies.append((c, seq, text)))
    cmds.start("client", "7", ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    deadline = time.monotonic() + 10
    while not replies and time.monotonic() < deadline:
        for fd, _ in poll.poll(100):
            cmds.readable(fd)
        for pid in list(cmds.by_pid):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                assert cmds.exited(pid, status)
    assert cmds.by_fd == {} and cmds.by_pid == {}
    (client, seq, text), = replies
    assert (client, seq) == ("client", "7")
    assert decode_reply(text.partition(" ")[2]) == (3, b"out\n", b"err\n")
    assert not cmds.exited(12345678, 0)  # not one of ours


@pytest.mark.parametrize("lines, path, want", [
    (["90 27 0:50 / /data/pods/u/m rw - tmpfs tmpfs rw"], "/data/pods/u", ["/data/pods/u/m"]),
    (["90 27 0:50 / /data/pods/u rw - tmpfs tmpfs rw"], "/data/pods/u", ["/data/pods/u"]),
    (["91 27 0:51 / /data/pods/u2 rw - tmpfs tmpfs rw"], "/data/pods/u", []),
    (["92 27 8:1 /data/pods/u /mnt rw - ext4 /dev/vda rw"], "/data/pods/u", []),
    (["93 27 0:52 / /data/pods/u/a\\040b rw - tmpfs tmpfs rw"], "/data/pods/u/a b", ["/data/pods/u/a b"]),
    ([], "/data/pods/u", []),
], ids=["below", "at", "sibling-prefix-is-not-below", "bind-source-field-is-not-a-mount-point",
        "escaped-space", "nothing-mounted"])
def test_mounts_under(tmp_path, lines, path, want) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("22 27 0:21 / /proc rw - proc proc rw\n" + "".join(line + "\n" for line in lines))
    assert rootfs.mounts_under(path, str(info)) == want
