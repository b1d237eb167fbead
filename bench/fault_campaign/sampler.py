"""The double-run sampler: which VMs run on which node's libvirt, five times a second."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.common import say
from bench.fault_campaign.outside import NodeLibvirt
from bench.fault_campaign.settings import SAMPLE_INTERVAL
from pvc.devcluster.layout import ClusterSpec


@dataclass
class Double:
    round: int
    uuid: str
    nodes: list[str]
    at: float


class Sampler:
    """Asks every node's libvirt (in parallel) which VMs run, every SAMPLE_INTERVAL s."""

    def __init__(self, spec: ClusterSpec, uuids: dict[str, str]) -> None:
        self.spec = spec
        self.uuids = uuids  # uuid -> name
        self.round = 0
        self.samples = 0
        self.suspects = 0  # seen on two nodes once, not confirmed in both orders
        self.doubles: list[Double] = []
        self.last: dict[str, list[str]] = {}
        self.began = self.rate = 0.0
        self.libvirt = {n: NodeLibvirt(spec, n) for n in spec.node_names}
        self._pool = ThreadPoolExecutor(len(spec.node_names))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def ask(self, nodes: list[str]) -> dict[str, set[str]]:
        found = self._pool.map(lambda n: self.libvirt[n].running() or set(), nodes)
        return dict(zip(nodes, found, strict=True))

    def snapshot(self) -> dict[str, list[str]]:
        """uuid -> the nodes that run it."""
        seen = self.ask(self.spec.node_names)
        return {u: [n for n in self.spec.node_names if u in seen[n]] for u in self.uuids}

    def _confirm(self, uuid: str, nodes: list[str]) -> bool:
        """Asked one node after the other, in both orders, the VM runs on all of them. (A
        live migration X -> Y shows running on both when X is asked before Y, never when
        Y is asked first: the source stops running before the target starts.)"""
        return all(uuid in (self.libvirt[node].running() or set())
                   for order in (nodes, nodes[::-1]) for node in order)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            now = self.snapshot()
            self.samples += 1
            self.last = now
            for uuid, nodes in now.items():
                if len(nodes) > 1:
                    if self._confirm(uuid, nodes):
                        self.doubles.append(Double(self.round, uuid, nodes, time.time()))
                        say(f"!! DOUBLE RUN: VM {self.uuids[uuid]} ({uuid}) runs on "
                            f"{', '.join(nodes)} (round {self.round})")
                    else:
                        self.suspects += 1
            self._stop.wait(max(SAMPLE_INTERVAL - (time.monotonic() - began), 0.02))

    def __enter__(self) -> Sampler:
        self.began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._pool.shutdown(wait=False)
        self.rate = self.samples / max(time.monotonic() - self.began, 1e-3)
