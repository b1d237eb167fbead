"""A Store with a read timeout against a ZooKeeper server that stops answering (SIGSTOP: a
stalled JVM or a frozen host): reads fail as StateUnreachable within the bound instead of
waiting for the server, both for a read already sent and for one made while kazoo is
reconnecting; once the server answers again, reads succeed again."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient, KazooState

from pvc.common.errors import StateUnreachable
from pvc.state import connect
from pvc.state.store import Store
from tests.integration.waiting import wait_until

READ_TIMEOUT = 1.5
SESSION = 4.0
LONG_SESSION = 10.0  # the private server's maxSessionTimeout (40 ticks of 250 ms)


@pytest.fixture
def client(private_zk: tuple[int, str]) -> Iterator[KazooClient]:
    zk = connect.client(private_zk[1], SESSION)
    zk.start(timeout=20)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def _timed_read(store: Store) -> tuple[type[BaseException] | None, float, str]:
    began = time.monotonic()
    try:
        store.read_paths(["/stall"])
    except StateUnreachable as exc:
        return type(exc), time.monotonic() - began, str(exc)
    return None, time.monotonic() - began, ""


def test_reads_of_a_stalled_server_fail_within_the_timeout(
    private_zk: tuple[int, str], client: KazooClient
) -> None:
    pid = private_zk[0]
    client.create("/stall", b"x")
    client.create("/stall/a", b"")
    store = Store(client, read_timeout=READ_TIMEOUT)
    assert store.read_paths(["/stall"]) == [b"x"]

    os.kill(pid, signal.SIGSTOP)
    try:
        # sent while the connection still looks fine: no answer comes
        error, took, message = _timed_read(store)
        assert error is StateUnreachable
        assert READ_TIMEOUT - 0.1 <= took < READ_TIMEOUT + 1.0
        assert f"within {READ_TIMEOUT:g} s" in message
        # made while kazoo is reconnecting: it would be queued until the server answers
        wait_until("kazoo to notice the dead connection", lambda: client.state != KazooState.CONNECTED,
               3 * SESSION)
        error, took, _ = _timed_read(store)
        assert error is StateUnreachable
        assert took < READ_TIMEOUT + 1.0
        began = time.monotonic()
        with pytest.raises(StateUnreachable):
            store.children_of("/stall")
        assert time.monotonic() - began < READ_TIMEOUT + 1.0
    finally:
        os.kill(pid, signal.SIGCONT)

    wait_until("reads to succeed again", lambda: _timed_read(store)[0] is None, 6 * SESSION)
    assert store.read_paths(["/stall"]) == [b"x"]
    assert store.children_of("/stall") == ["a"]


def test_a_store_without_timeout_waits_out_a_short_stall(private_zk: tuple[int, str]) -> None:
    """The default (node daemon, workers): a read during a stall that ends before kazoo
    gives the connection up is answered once the server is back, not failed. kazoo gives up
    on a silent connection after a third to two thirds of the session, when it fails what is
    pending with ConnectionLoss; so this client has the longest session the server allows
    (10 s: at least 3 s before kazoo gives up) and the stall lasts 1 s."""
    pid = private_zk[0]
    zk = connect.client(private_zk[1], LONG_SESSION)
    zk.start(timeout=20)
    try:
        zk.create("/stall", b"y")
        store = Store(zk)
        answers: list[object] = []
        os.kill(pid, signal.SIGSTOP)
        try:
            reader = threading.Thread(
                target=lambda: answers.append(store.read_paths(["/stall"])))
            reader.start()
            reader.join(1.0)
            assert reader.is_alive() and answers == []
        finally:
            os.kill(pid, signal.SIGCONT)
        reader.join(LONG_SESSION)
        assert answers == [[b"y"]]
    finally:
        zk.stop()
        zk.close()
