"""monitorpoll.Poller keeps select.poll's semantics over epoll (the monitor relies on them)."""

from __future__ import annotations

import os
import time

import pytest

from kubeproc.agent.runtime.monitorpoll import POLLIN, POLLOUT, Poller


@pytest.fixture
def poller():
    p = Poller()
    yield p
    p.close()


def test_reports_only_ready_fds_with_poll_event_bits(poller) -> None:
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        poller.register(r1, POLLIN)
        poller.register(r2, POLLIN)
        assert poller.poll(0) == []
        os.write(w2, b"x")
        assert poller.poll(0) == [(r2, POLLIN)]
        # a second register of a registered fd modifies it, as select.poll does
        poller.register(w1, POLLOUT)
        poller.register(w1, POLLIN)
        assert poller.poll(0) == [(r2, POLLIN)]
        poller.modify(w1, POLLOUT)
        assert sorted(poller.poll(0)) == sorted([(r2, POLLIN), (w1, POLLOUT)])
    finally:
        for fd in (r1, w1, r2, w2):
            os.close(fd)


def test_unregister_of_an_unknown_fd_raises_key_error(poller) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(KeyError):
            poller.unregister(r)
        with pytest.raises(KeyError):
            poller.modify(r, POLLIN)
        poller.register(r, POLLIN)
        poller.unregister(r)
        with pytest.raises(KeyError):
            poller.unregister(r)
    finally:
        os.close(r)
        os.close(w)


def test_an_fd_number_reused_after_a_close_while_registered_registers_again(poller) -> None:
    r, w = os.pipe()
    poller.register(r, POLLIN)
    os.close(r)  # the kernel drops it from the epoll set; the poller still thinks it has it
    r2, w2 = os.pipe()
    try:
        fd = r2 if r2 == r else os.dup2(r2, r)
        poller.register(fd, POLLIN)
        os.write(w2, b"x")
        assert poller.poll(0) == [(fd, POLLIN)]
    finally:
        for x in {w, r2, w2, r}:
            try:
                os.close(x)
            except OSError:
                pass


def test_timeout_is_in_milliseconds(poller) -> None:
    r, w = os.pipe()
    try:
        poller.register(r, POLLIN)
        t = time.monotonic()
        assert poller.poll(50) == []
        assert 0.04 <= time.monotonic() - t < 2.0
    finally:
        os.close(r)
        os.close(w)
