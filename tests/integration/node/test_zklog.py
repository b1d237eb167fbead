"""The node log buffer in ZooKeeper: lines written by the daemon's handler come back
through the API's reader, in order, and the buffer stays bounded."""

from __future__ import annotations

import logging

from pvc.node.zklog import ZkLogBuffer
from pvc.ops.node.logs import node_log
from pvc.state import tree
from pvc.state.store import Store


def make_logger(buf: ZkLogBuffer) -> logging.Logger:
    logger = logging.getLogger(f"zklog-test-{id(buf)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    buf.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(buf)
    return logger


def register(store: Store, node: str) -> None:
    txn = store.txn()
    for key in store.schema.object_keys("node"):
        txn.create(key.name, key.default, node=node)
    txn.commit()


def buffered_lines(store: Store, node: str) -> int:
    base = store.path("logs.node", node=node)
    total = 0
    for kid in store.zk.get_children(base):
        data, _ = store.zk.get(f"{base}/{kid}")
        total += len(data.decode().split("\n")) if data else 0
    return total


def test_lines_round_trip_in_order_and_stay_bounded(store: Store) -> None:
    tree.initialize(store)
    register(store, "hv1")
    buf = ZkLogBuffer(store, "hv1", max_lines=20)
    log = make_logger(buf)
    for batch in range(10):
        for i in range(7):
            log.info("line %d", batch * 7 + i)
        buf._flush()  # what the flusher thread does every half second
    assert node_log(store, "hv1", 5, cap=1000).split("\n") == [f"line {i}" for i in range(65, 70)]
    # at most max_lines plus one batch are kept; the newest 20 are always there
    assert 20 <= buffered_lines(store, "hv1") <= 27
    assert node_log(store, "hv1", 20, cap=1000).split("\n") == [f"line {i}" for i in range(50, 70)]


def test_buffer_survives_a_restart_and_a_wiped_tree(store: Store) -> None:
    tree.initialize(store)
    register(store, "hv2")
    first = ZkLogBuffer(store, "hv2", max_lines=10)
    log = make_logger(first)
    for i in range(8):
        log.info("before %d", i)
    first._flush()
    second = ZkLogBuffer(store, "hv2", max_lines=10)  # a restarted daemon
    log2 = make_logger(second)
    for i in range(8):
        log2.info("after %d", i)
    second._flush()
    assert buffered_lines(store, "hv2") <= 16
    assert node_log(store, "hv2", 3, cap=100).split("\n") == ["after 5", "after 6", "after 7"]
    tree.initialize(store, overwrite=True)  # /logs is gone: the buffer starts again
    register(store, "hv2")
    log2.info("fresh")
    second._flush()  # fails once (no parent), keeps the line
    second._flush()
    assert node_log(store, "hv2", 5, cap=100).split("\n") == ["fresh"]
