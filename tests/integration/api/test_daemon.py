"""`pvcapid` as a real process: serves the chroot it is given, exits when stdin closes or
on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from kazoo.client import KazooClient

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import HEADERS, raw_config, register_node
from tests.integration.waiting import wait_until
from tests.ports import free_port


def pvcapid() -> list[str]:
    script = Path(sys.executable).with_name("pvcapid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pvc.api.main"]


def wait_listening(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, "pvcapid exited early"
        try:
            httpx.get(url, timeout=1.0)
            return time.monotonic() - start
        except httpx.TransportError:
            time.sleep(0.02)
    raise AssertionError("pvcapid did not start listening")


def make_cluster(store: Store) -> Store:
    """A new cluster's state with hv1 its primary."""
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    store.write("config.primary_node", "hv1")
    return store


@pytest.fixture
def cluster(store: Store) -> Store:
    return make_cluster(store)


def start(
    tmp_path: Path, zk_hosts: str, extra: list[str], port: int, **api: object
) -> Iterator[subprocess.Popen[bytes]]:
    conf = tmp_path / "pvc.conf"
    listen = {"listen": {"address": "127.0.0.1", "port": port}}
    conf.write_text(yaml.safe_dump(raw_config(api={**listen, **api})))
    log = (tmp_path / "pvcapid.log").open("wb")
    proc = subprocess.Popen(
        [*pvcapid(), "--config", str(conf), "--zookeeper", zk_hosts, *extra],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_pvcapid_serves_the_chroot_and_exits_when_stdin_closes(
    cluster: Store, zk_hosts: str, tmp_path: Path
) -> None:
    port = free_port()
    for proc in start(tmp_path, zk_hosts, ["--watch-stdin"], port):
        base = f"http://127.0.0.1:{port}/api/v1"
        wait_listening(f"{base}/", proc)
        r = httpx.get(f"{base}/", headers=HEADERS)
        assert r.status_code == 200 and r.json()["message"].startswith("PVC API version")
        r = httpx.get(f"{base}/node/hv1", headers=HEADERS)
        assert r.status_code == 200 and r.json()[0]["coordinator_state"] == "primary"
        assert httpx.get(f"{base}/status").status_code == 401
        proc.send_signal(signal.SIGUSR1)  # every thread's stack to the log; it serves on
        wait_until("SIGUSR1's stacks in the log", lambda: "Thread MainThread" in (
            tmp_path / "pvcapid.log").read_text(), 5)
        assert httpx.get(f"{base}/", headers=HEADERS).status_code == 200
        stacks = (tmp_path / "pvcapid.log").read_text()
        assert "Thread watch-stdin" in stacks and "os.read(fd, 65536)" in stacks
        assert proc.stdin is not None
        began = time.monotonic()
        proc.stdin.close()
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - began < 2.0
    text = (tmp_path / "pvcapid.log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text, re.MULTILINE)
    assert "stdin reached end of file" in text
    # the start-up steps, in order: a slow start shows where it is
    steps = ["Starting: loading the API", "API loaded in", "Connected to ZooKeeper at",
             "PVC API on http://127.0.0.1"]
    at = [text.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), at


def test_pvcapid_port_override_and_sigterm(cluster: Store, zk_hosts: str, tmp_path: Path) -> None:
    port = free_port()
    config_port = free_port()
    for proc in start(
        tmp_path, zk_hosts, ["--listen", "127.0.0.1", "--port", str(port)], config_port
    ):
        wait_listening(f"http://127.0.0.1:{port}/api/v1/", proc)
        with httpx.Client(headers=HEADERS) as keepalive:  # an idle keep-alive connection
            assert keepalive.get(f"http://127.0.0.1:{port}/api/v1/status").status_code == 200
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
            assert time.monotonic() - began < 1.5
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{config_port}/api/v1/", timeout=1.0)


@pytest.mark.parametrize("how", ["sigterm", "stdin"])
def test_a_wait_in_flight_when_pvcapid_stops_is_answered_503(
    cluster: Store, zk_hosts: str, tmp_path: Path, how: str
) -> None:
    """As when the primary moves: a flush with wait=true that no node carries out is
    still waiting when pvcapid is told to exit; it is answered 503 with Retry-After and
    says the change was requested, instead of being cut off (uvicorn's bare 500)."""
    register_node(cluster, "hv2")
    port = free_port()
    for proc in start(tmp_path, zk_hosts, ["--watch-stdin"], port):
        base = f"http://127.0.0.1:{port}/api/v1"
        wait_listening(f"{base}/", proc)
        answers: list[httpx.Response] = []

        def flush(base: str = base, answers: list[httpx.Response] = answers) -> None:
            answers.append(httpx.post(f"{base}/node/hv2/domain-state", headers=HEADERS,
                                      params={"state": "flush", "wait": "true"}, timeout=30))

        waiter = threading.Thread(target=flush)
        waiter.start()
        deadline = time.monotonic() + 10
        while cluster.read("node.domain_state", node="hv2") != "flush":
            assert time.monotonic() < deadline, "the flush was never requested"
            time.sleep(0.05)
        time.sleep(0.3)  # well inside the wait now
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            assert proc.stdin is not None
            proc.stdin.close()
        waiter.join(10)
        assert proc.wait(timeout=5) == 0
        assert len(answers) == 1
        r = answers[0]
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "2"
        assert "stopped waiting" in r.json()["message"]
        assert "The change was requested" in r.json()["message"]


def test_pvcapid_refuses_an_unreadable_config(tmp_path: Path) -> None:
    r = subprocess.run(
        [*pvcapid(), "--config", str(tmp_path / "missing.conf")], capture_output=True, timeout=30
    )
    assert r.returncode == 2 and b"Cannot read configuration file" in r.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_pvcapid_serves_tls_when_enabled(cluster: Store, zk_hosts: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    trust = ssl.create_default_context(cafile=str(cert))
    port = free_port()
    tls = {"enabled": True, "certificate": str(cert), "private_key": str(key)}
    for proc in start(tmp_path, zk_hosts, [], port, ssl=tls):
        base = f"https://127.0.0.1:{port}/api/v1"
        start_deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, "pvcapid exited early"
            try:
                r = httpx.get(f"{base}/node/hv1", headers=HEADERS, verify=trust)
                break
            except httpx.ConnectError:
                assert time.monotonic() < start_deadline
                time.sleep(0.05)
        assert r.status_code == 200 and r.json()[0]["name"] == "hv1"
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            httpx.get(f"http://127.0.0.1:{port}/api/v1/", timeout=2.0)


def test_a_stalled_zookeeper_is_answered_503_in_bounded_time(
    private_zk: tuple[int, str], tmp_path: Path
) -> None:
    """ZooKeeper stops answering (SIGSTOP: a frozen JVM or host). A read in flight fails
    when kazoo gives the connection up; one made after that, which kazoo would hold until
    the server answers, is answered 503 within the API's read timeout (10 s with the
    default 3 s session) instead of never. Reads the mirror holds go on being answered;
    once the server is back, so is everything else."""
    pid, hosts = private_zk
    admin = KazooClient(hosts=hosts)
    admin.start(timeout=10)
    try:
        make_cluster(Store(admin))
    finally:
        admin.stop()
        admin.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    log = tmp_path / "pvcapid.log"
    for proc in start(tmp_path, hosts, ["--watch-stdin"], port):
        wait_listening(f"{base}/", proc)
        wait_until("pvcapid to load its mirror of /nodes",
                   lambda: "Mirror of /nodes loaded" in log.read_text(), 15)
        # no network yet: an empty list is 404 (v1), an answer all the same
        assert httpx.get(f"{base}/network", headers=HEADERS).status_code == 404
        os.kill(pid, signal.SIGSTOP)
        try:
            r = httpx.get(f"{base}/network", headers=HEADERS, timeout=30)
            assert r.status_code == 503, r.text
            wait_until("pvcapid to notice the stall",
                       lambda: "connection SUSPENDED" in log.read_text(), 15)
            began = time.monotonic()
            r = httpx.get(f"{base}/network", headers=HEADERS, timeout=30)
            took = time.monotonic() - began
            assert r.status_code == 503, r.text
            assert "ZooKeeper did not answer a list of /networks within 10 s" in r.text
            assert 9.5 < took < 14.0
            r = httpx.get(f"{base}/node/hv1", headers=HEADERS, timeout=5)
            assert r.status_code == 200 and r.json()[0]["coordinator_state"] == "primary"
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until("the API to answer again", lambda: httpx.get(
            f"{base}/network", headers=HEADERS, timeout=30).status_code == 404, 30, 0.5)
