"""ZooKeeper servers for the development cluster and the integration tests.

Debian's zookeeper package, started through its main class (Debian's zkServer.sh wrapper
misparses --config). A short tickTime lets clients use sessions of a few seconds, which is
what makes a lost primary noticeable within the failover budget.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.state.ensemble import server_mode

JAVA = "/usr/bin/java"
# slf4j-simple (from libslf4j-java, which zookeeper depends on) so the server logs at all
CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
TICK_MS = 250
# Larger than ZooKeeper's 1 MiB default: a whole-cluster restore is one transaction.
JUTE_MAXBUFFER = 64 * 1024 * 1024


@dataclass(frozen=True)
class ZkServer:
    myid: int
    data_dir: Path
    client_address: str
    client_port: int
    # myid -> (address, quorum port, election port); empty for a standalone server
    ensemble: dict[int, tuple[str, int, int]]
    heap_mb: int = 128

    @property
    def config_file(self) -> Path:
        return self.data_dir / "zoo.cfg"

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        (self.data_dir / "data" / "myid").write_text(f"{self.myid}\n")
        lines = [
            f"tickTime={TICK_MS}",
            "initLimit=40",
            # followers give up on a silent leader after syncLimit ticks (1 s) and elect
            # another: with 8 (2 s) a powered-off leader's node took 9.3 s to fail over
            # instead of 8.0 s (bench.vm_failover --zk-leader, medians of 5)
            "syncLimit=4",
            # sessions from 2 to 40 ticks: 0.5 s .. 10 s
            f"minSessionTimeout={TICK_MS * 2}",
            f"maxSessionTimeout={TICK_MS * 40}",
            f"dataDir={self.data_dir / 'data'}",
            f"clientPort={self.client_port}",
            f"clientPortAddress={self.client_address}",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
            "standaloneEnabled=true",
            "reconfigEnabled=false",
        ]
        for sid, (addr, qport, eport) in sorted(self.ensemble.items()):
            lines.append(f"server.{sid}={addr}:{qport}:{eport}")
        self.config_file.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [
            JAVA,
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            # no /tmp/hsperfdata_<user>/<pid> files: in PID namespaces the pids of
            # several nodes' JVMs are the same numbers
            "-XX:-UsePerfData",
            f"-Djute.maxbuffer={JUTE_MAXBUFFER}",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss,SSS",
            "-cp",
            CLASSPATH,
            MAIN,
            str(self.config_file),
        ]


def serving(address: str, port: int) -> bool:
    """True when the server answers and is part of a quorum (or standalone)."""
    return server_mode(address, port, timeout=1.0) is not None


def wait_serving(address: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serving(address, port):
            return
        time.sleep(0.2)
    raise BackendError(f"ZooKeeper at {address}:{port} did not start within {timeout:.0f} s")


def start_standalone(data_dir: Path, address: str = "127.0.0.1", port: int = 0) -> tuple[int, int]:
    """Start a one-server ZooKeeper (for integration tests). Returns (pid, port)."""
    if port == 0:
        with socket.socket() as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
    server = ZkServer(1, data_dir, address, port, {})
    server.write_config()
    log = open(data_dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        server.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    try:
        wait_serving(address, port)
    except BackendError:
        proc.kill()
        raise
    return proc.pid, port
