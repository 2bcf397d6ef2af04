"""runc exec with real runc: exit codes, stdio pipes, stdin, TTY sessions and resize, the
dockershim-like start failure (126 + message), probe exec with output cut and a timeout that
kills, and kill of a running session (the harness fixture asserts nothing is left behind)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess

import pytest

from kubeproc.agent.runtime.exec import PROBE_OUTPUT_LIMIT, CrlfSquash, exec_sync, runc_exec
from kubeproc.client.podstreams import STDERR, STDOUT

from .conftest import RUNC


async def running(harness, name: str = "target") -> str:
    cid, _, _ = await harness.create(name, ("sleep", "1000"))
    await harness.rt.start(cid)
    return cid


async def drain(proc) -> dict[int, bytes]:
    out = {STDOUT: b"", STDERR: b""}
    while (item := await proc.read()) is not None:
        out[item[0]] += item[1]
    return out


def container_pids(harness, cid: str) -> list[int]:
    res = subprocess.run([RUNC, "--root", harness.rt.root, "ps", "--format", "json", cid],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout) or []


def exec_in_target(harness, argv, **kw):
    async def go():
        cid = await running(harness)
        proc = await runc_exec(RUNC, harness.rt.root, cid, argv, stdin=kw.pop("stdin", False),
                               tty=kw.pop("tty", False), **kw)
        out = await drain(proc)
        code = await proc.wait()
        await harness.rt.delete(cid, force=True)
        return code, out
    return harness.go(go())


@pytest.mark.parametrize("argv, code, stdout, stderr", [
    (["echo", "hi"], 0, b"hi\n", b""),
    (["sh", "-c", "exit 3"], 3, b"", b""),
    (["sh", "-c", "echo out; echo err >&2; exit 255"], 255, b"out\n", b"err\n"),
    (["sh", "-c", "echo $PATH; pwd"], 0, b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/\n", b""),
], ids=["echo", "exit-code", "streams-split-and-255-is-the-process's", "container-env-and-cwd"])
def test_exec_exit_code_and_streams(harness, argv, code, stdout, stderr) -> None:
    got_code, out = exec_in_target(harness, argv)
    assert (got_code, out[STDOUT], out[STDERR]) == (code, stdout, stderr)


def test_exec_env_and_cwd_override(harness) -> None:
    code, out = exec_in_target(harness, ["sh", "-c", "echo $FOO; pwd"], env=("FOO=bar",), cwd="/tmp")
    assert (code, out[STDOUT]) == (0, b"bar\n/tmp\n")


@pytest.mark.parametrize("argv, reason", [
    (["nosuch"], 'exec: "nosuch": executable file not found in $PATH'),
    (["/etc/passwd"], 'exec: "/etc/passwd": permission denied'),
], ids=["not-found", "not-executable"])
def test_start_failure_is_126_with_the_oci_message(harness, argv, reason) -> None:
    code, out = exec_in_target(harness, argv)
    assert code == 126
    assert out[STDOUT] == b""
    assert out[STDERR].decode() == (
        f"OCI runtime exec failed: exec failed: unable to start container process: {reason}: unknown\r\n")


def test_start_failure_in_a_tty_reports_on_stdout(harness) -> None:
    code, out = exec_in_target(harness, ["nosuch"], tty=True)
    assert code == 126
    assert out[STDOUT].startswith(b"OCI runtime exec failed: exec failed: unable to start container process")
    assert out[STDERR] == b""


def test_stdin_is_piped_and_closed(harness) -> None:
    async def go():
        cid = await running(harness)
        proc = await runc_exec(RUNC, harness.rt.root, cid, ["cat"], stdin=True, tty=False)
        await proc.write_stdin(b"one\n")
        await proc.write_stdin(b"two")
        await proc.close_stdin()
        out = await drain(proc)
        code = await proc.wait()
        await harness.rt.delete(cid, force=True)
        return code, out
    code, out = harness.go(go())
    assert (code, out[STDOUT], out[STDERR]) == (0, b"one\ntwo", b"")


def test_tty_session_has_a_pts_and_merges_output(harness) -> None:
    code, out = exec_in_target(harness, ["sh", "-c", "tty; echo err >&2"], tty=True)
    assert code == 0
    assert re.fullmatch(rb"/dev/pts/\d+\r\nerr\r\n", out[STDOUT]), out
    assert out[STDERR] == b""


def test_tty_input_echo_and_resize(harness) -> None:
    async def go():
        cid = await running(harness)
        proc = await runc_exec(RUNC, harness.rt.root, cid, ["sh", "-c", (
            # the size reaches the container asynchronously (runc relays SIGWINCH): bounded wait
            'read x; for i in $(seq 1000); do [ "$(stty size)" = "40 120" ] && break; sleep 0.01; done; '
            'echo "got $x"; stty size')], stdin=True, tty=True)
        proc.resize(120, 40)
        await proc.write_stdin(b"hello\r")
        out = await drain(proc)
        code = await proc.wait()
        await harness.rt.delete(cid, force=True)
        return code, out
    code, out = harness.go(go())
    assert code == 0
    assert out[STDOUT] == b"hello\r\ngot hello\r\n40 120\r\n"


def test_kill_ends_a_running_session(harness) -> None:
    async def go():
        cid = await running(harness)
        proc = await runc_exec(RUNC, harness.rt.root, cid, ["sh", "-c", "echo up; exec sleep 1000"],
                               stdin=False, tty=False)
        first = await proc.read()
        await proc.kill()
        await proc.kill()  # idempotent
        code = await proc.wait()
        rest = await drain(proc)
        pids = container_pids(harness, cid)
        await harness.rt.delete(cid, force=True)
        return first, code, rest, pids
    first, code, rest, pids = harness.go(go())
    assert first == (STDOUT, b"up\n")
    assert code == 137
    assert rest == {STDOUT: b"", STDERR: b""}
    assert len(pids) == 1  # only the container's own init is left


@pytest.mark.parametrize("argv, expected", [
    (["echo", "hi"], (0, b"hi\n")),
    (["sh", "-c", "echo err >&2; echo out; exit 2"], (2, b"out\nerr\n")),
    (["nosuch"], (126, b'OCI runtime exec failed: exec failed: unable to start container process: '
                       b'exec: "nosuch": executable file not found in $PATH: unknown\r\n')),
], ids=["output", "stdout-then-stderr-like-RunInContainer", "start-failure"])
def test_exec_sync(harness, argv, expected) -> None:
    async def go():
        cid = await running(harness)
        res = await exec_sync(RUNC, harness.rt.root, cid, argv, timeout=20)
        await harness.rt.delete(cid, force=True)
        return res
    assert harness.go(go()) == expected


def test_exec_sync_output_is_cut_at_10_kib(harness) -> None:
    async def go():
        cid = await running(harness)
        res = await exec_sync(RUNC, harness.rt.root, cid, ["sh", "-c", "head -c 50000 /dev/zero"], timeout=20)
        await harness.rt.delete(cid, force=True)
        return res
    code, out = harness.go(go())
    assert (code, out) == (0, b"\0" * PROBE_OUTPUT_LIMIT)


def test_exec_sync_timeout_kills_the_process(harness) -> None:
    async def go():
        cid = await running(harness)
        with pytest.raises(TimeoutError):
            await exec_sync(RUNC, harness.rt.root, cid, ["sleep", "1000"], timeout=0.5)
        pids = container_pids(harness, cid)
        await harness.rt.delete(cid, force=True)
        return pids
    assert len(harness.go(go())) == 1


def test_exec_sync_cancelled_by_the_caller_kills_and_zero_timeout_is_unbounded(harness) -> None:
    async def go():
        cid = await running(harness)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(exec_sync(RUNC, harness.rt.root, cid, ["sleep", "1000"], 0), 0.5)
        pids = container_pids(harness, cid)
        res = await exec_sync(RUNC, harness.rt.root, cid, ["echo", "ok"], 0)
        await harness.rt.delete(cid, force=True)
        return pids, res
    pids, res = harness.go(go())
    assert len(pids) == 1
    assert res == (0, b"ok\n")


def test_unread_output_applies_backpressure_and_kill_still_ends_it(harness) -> None:
    async def go():
        cid = await running(harness)
        big = await runc_exec(RUNC, harness.rt.root, cid, ["head", "-c", "5000000", "/dev/zero"],
                              stdin=False, tty=False)
        total = len((await drain(big))[STDOUT])
        code = await big.wait()
        endless = await runc_exec(RUNC, harness.rt.root, cid, ["cat", "/dev/zero"], stdin=False, tty=False)
        first = await endless.read()
        await endless.kill()  # nobody reads: the pumps must not stay blocked on the backlog
        killed = await endless.wait()
        await harness.rt.delete(cid, force=True)
        return total, code, first[0], killed
    assert harness.go(go()) == (5000000, 0, STDOUT, 137)


def test_tty_close_stdin_sends_eof(harness) -> None:
    async def go():
        cid = await running(harness)
        proc = await runc_exec(RUNC, harness.rt.root, cid, ["cat"], stdin=True, tty=True)
        await proc.write_stdin(b"abc\r")
        await proc.close_stdin()
        out = await drain(proc)
        code = await proc.wait()
        await harness.rt.delete(cid, force=True)
        return code, out
    code, out = harness.go(go())
    # the container's terminal echoes the input, then cat writes the line back; ^D ends it
    assert (code, out[STDOUT]) == (0, b"abc\r\nabc\r\n")


@pytest.mark.parametrize("chunks, expected", [
    ([b"a\r\r\nb\r\n"], b"a\r\nb\r\n"),
    ([b"a\r", b"\r", b"\nb"], b"a\r\nb"),
    ([b"50%\r", b"60%\r"], b"50%\r60%\r"),
    ([b"x\r\r"], b"x\r\r"),
], ids=["double-translation-squashed", "split-across-chunks", "progress-carriage-returns-kept",
        "trailing-returns-flushed"])
def test_crlf_squash(chunks, expected) -> None:
    s = CrlfSquash()
    assert b"".join(s.feed(c) for c in chunks) + s.flush() == expected


def test_kill_returns_even_if_a_background_child_holds_the_output(harness) -> None:
    async def go():
        cid = await running(harness)
        proc = await runc_exec(RUNC, harness.rt.root, cid, ["sh", "-c", "sleep 1000 & echo up; wait"],
                               stdin=False, tty=False)
        first = await proc.read()
        await proc.kill()
        code = await proc.wait()
        await harness.rt.delete(cid, force=True)
        return first, code
    assert harness.go(go()) == ((STDOUT, b"up\n"), 137)
