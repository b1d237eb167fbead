"""The watched tree against a real ZooKeeper: bulk reads and watches on the wire, a whole
tree loaded, every later change followed (sets, subtrees created and deleted in one
transaction), changes made while its connection is cut or its session lost, and a root
created after the start."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from pvc.state import bulk, connect
from pvc.state.watched_tree import WatchedTree
from tests.integration.waiting import wait_until


class CuttableLink:
    """A TCP relay between a ZooKeeper client and the server that can be cut (every
    connection closed, new ones refused) and restored on the same port."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(8)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes its accept()
        self.listener.close()
        self.listener = None
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()


@pytest.fixture
def tree(zk: KazooClient) -> Iterator[WatchedTree]:
    zk.create("/domains/a/xml", b"<a/>", makepath=True)
    zk.create("/domains/a/status", b"{}")
    zk.create("/domains/b", b"bee")
    t = WatchedTree(zk, "/domains")
    t.start()
    assert t.ready.wait(10)
    try:
        yield t
    finally:
        t.close()


def test_bulk_reads_answer_each_path_in_order(zk: KazooClient) -> None:
    zk.create("/x/one", b"1", makepath=True)
    zk.create("/x/two", b"2")
    answers = bulk.read_many(zk, [("data", "/x/one"), ("children", "/x"),
                                  ("data", "/x/none"), ("data", "/x/two")])
    assert answers[0][0] == b"1" and answers[0][1].version == 0
    assert sorted(answers[1]) == ["one", "two"]
    assert isinstance(answers[2], NoNodeError)
    assert answers[3][0] == b"2"


def test_set_watches_fires_at_once_for_what_changed_since(zk: KazooClient) -> None:
    zk.create("/w/a", b"", makepath=True)
    zk.create("/w/b", b"")
    zk.exists("/w")
    since = zk.last_zxid
    zk.set("/w/a", b"changed")  # after `since`: fires as soon as it is watched
    fired: list[str] = []
    bulk.set_watches(zk, since, {"/w/a": lambda e: fired.append(e.path),
                                 "/w/b": lambda e: fired.append(e.path)}, {})
    wait_until("the watch on /w/a", lambda: fired == ["/w/a"])
    zk.set("/w/b", b"later")  # registered: fires on the change
    wait_until("the watch on /w/b", lambda: fired == ["/w/a", "/w/b"])


def test_loads_the_whole_tree(tree: WatchedTree) -> None:
    assert sorted(tree.children("/domains") or []) == ["a", "b"]
    assert sorted(tree.children("/domains/a") or []) == ["status", "xml"]
    assert tree.get("/domains/a/xml")[0] == b"<a/>"  # type: ignore[index]
    assert tree.get("/domains/b")[0] == b"bee"  # type: ignore[index]
    assert tree.children("/domains/b") == []
    assert tree.get("/domains/none") is None and tree.children("/domains/none") is None


def test_follows_every_change(tree: WatchedTree, zk_hosts: str) -> None:
    other = KazooClient(hosts=zk_hosts)
    other.start(timeout=10)
    try:
        other.set("/domains/a/xml", b"<a2/>")
        wait_until("the new data", lambda: tree.get("/domains/a/xml")[0] == b"<a2/>")  # type: ignore[index]
        t = other.transaction()
        t.create("/domains/c", b"cee")
        t.create("/domains/c/xml", b"<c/>")
        t.create("/domains/c/status", b'{"state": "start"}')
        t.commit()
        wait_until("the new subtree", lambda: tree.get("/domains/c/status") is not None)
        assert sorted(tree.children("/domains/c") or []) == ["status", "xml"]
        other.set("/domains/c/status", b'{"state": "stop"}')  # the new nodes are watched
        wait_until("a change in the new subtree",
                   lambda: tree.get("/domains/c/status")[0] == b'{"state": "stop"}')  # type: ignore[index]
        other.delete("/domains/a", recursive=True)
        wait_until("the removal", lambda: tree.children("/domains") == ["b", "c"]
                   or sorted(tree.children("/domains") or []) == ["b", "c"])
        assert tree.get("/domains/a/xml") is None and tree.children("/domains/a") is None
        for i in range(50):  # many quick changes: the last one wins
            other.set("/domains/b", str(i).encode())
        wait_until("the last of many changes", lambda: tree.get("/domains/b")[0] == b"49")  # type: ignore[index]
    finally:
        other.stop()
        other.close()


def test_changes_while_the_connection_is_cut_arrive_after_it(zk_hosts: str) -> None:
    server, chroot = zk_hosts.split("/", 1)
    link = CuttableLink(server)
    mirrored = connect.client(f"127.0.0.1:{link.port}/{chroot}", 20)
    mirrored.start(timeout=10)
    other = KazooClient(hosts=zk_hosts)
    other.start(timeout=10)
    other.create("/domains/a/xml", b"old", makepath=True)
    other.create("/domains/gone", b"")
    tree = WatchedTree(mirrored, "/domains")
    tree.start()
    try:
        assert tree.ready.wait(10)
        link.cut()
        wait_until("the mirror's client to notice", lambda: not mirrored.connected)
        other.set("/domains/a/xml", b"new")
        other.create("/domains/born/xml", b"<born/>", makepath=True)
        other.delete("/domains/gone")
        link.restore()
        wait_until("the changes made while cut", lambda: (
            (tree.get("/domains/a/xml") or (b"",))[0] == b"new"
            and tree.get("/domains/born/xml") is not None
            and tree.get("/domains/gone") is None), timeout=30)
        assert tree.ready.is_set()  # the same session: watched again, not reloaded
        other.set("/domains/born/xml", b"<again/>")  # and watched after it
        wait_until("a later change", lambda: tree.get("/domains/born/xml")[0] == b"<again/>")  # type: ignore[index]
    finally:
        tree.close()
        for c in (mirrored, other):
            c.stop()
            c.close()
        link.cut()


def test_a_lost_session_reloads_the_tree(zk_hosts: str) -> None:
    mirrored = connect.client(zk_hosts, 10)
    mirrored.start(timeout=10)
    mirrored.create("/domains/a", b"1", makepath=True)
    tree = WatchedTree(mirrored, "/domains")
    tree.start()
    try:
        assert tree.ready.wait(10)
        # end the session from outside: a second client on the same session closes it
        session_id, password = mirrored.client_id
        thief = KazooClient(hosts=zk_hosts)
        thief._session_id, thief._session_passwd = session_id, password
        thief.start(timeout=10)
        thief.create("/domains/b", b"2")
        thief.stop()
        thief.close()
        wait_until("the reload after the lost session", lambda: (
            tree.ready.is_set() and tree.get("/domains/b") is not None), timeout=30)
        mirrored.set("/domains/a", b"after")
        wait_until("changes after the reload", lambda: tree.get("/domains/a")[0] == b"after")  # type: ignore[index]
    finally:
        tree.close()
        mirrored.stop()
        mirrored.close()


def test_a_root_created_after_the_start_is_loaded(zk: KazooClient) -> None:
    tree = WatchedTree(zk, "/later")
    tree.start()
    try:
        time.sleep(0.3)
        assert not tree.ready.is_set() and not tree.holds("/later")
        zk.create("/later/x", b"x", makepath=True)
        wait_until("the root's load", lambda: tree.holds("/later/x")
                   and tree.get("/later/x") is not None)
    finally:
        tree.close()
