"""Volume upload through the API on real Ceph, real qemu-img and real ZooKeeper: raw and
qcow2 images land byte for byte in the RBD volume; every refusal (bad format, missing
volume, oversize, corrupt or cut-off image) is a 4xx that changes nothing, leaves no
snapshot behind and no spooled file. Once through our own client over a live uvicorn."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from pvc.api.app import create_app
from pvc.client import ApiClient, Connection
from pvc.client.storage.api import StorageApi
from pvc.common.errors import InvalidArgument, NotFound
from pvc.drivers.storage.ceph import CephStorage
from pvc.ops.storage import upload
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import HEADERS, TOKEN, make_config, standard_cluster
from tests.integration.api.vm.support import define, domain_xml, set_status, uuid_of
from tests.ports import free_port

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
VOLUME_SIZE = 8 * MiB
FILL = b"\xaa"
# (offset, bytes) written into the test images
MARKS = ((0, b"PVC-START"), (MiB + 123, b"middle-of-the-disk"), (3 * MiB + 4000, b"x" * 9000),
         (4 * MiB - 7, b"THE-END"))


@pytest.fixture(scope="module")
def storage(ceph_cluster: Any) -> Iterator[CephStorage]:
    driver = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=20)
    yield driver
    driver.close()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def app(store: Store, storage: CephStorage, ceph_cluster: Any, spool: Path) -> Any:
    standard_cluster(store)
    config = make_config(
        ceph={"ceph_config_file": str(ceph_cluster.conf_path),
              "ceph_keyring_file": str(ceph_cluster.keyring_path)},
        path={"upload_directory": str(spool)})
    return create_app(config, store, storage)


@pytest.fixture
def api(app: Any) -> TestClient:
    return TestClient(app, headers=HEADERS, raise_server_exceptions=False)


@pytest.fixture
def volume(api: TestClient, storage: CephStorage) -> Iterator[tuple[str, str]]:
    """A fresh pool with an 8 MiB volume filled with 0xAA; (pool, volume)."""
    pool, name = f"up{uuid.uuid4().hex[:8]}", "disk0"
    r = api.post("/api/v1/storage/ceph/pool",
                 params={"pool": pool, "pgs": 8, "replcfg": "copies=1,mincopies=1"})
    assert r.status_code == 200, r.text
    try:
        r = api.post("/api/v1/storage/ceph/volume",
                     params={"pool": pool, "volume": name, "size": "8M"})
        assert r.status_code == 200, r.text
        storage.volume_write(pool, name, iter([FILL * VOLUME_SIZE]))
        yield pool, name
    finally:
        storage.pool_remove(pool)


def _raw_image(path: Path, size: int = 4 * MiB) -> bytes:
    data = bytearray(size)
    for offset, mark in MARKS:
        data[offset:offset + len(mark)] = mark
    path.write_bytes(bytes(data))
    return bytes(data)


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def _qcow2_image(tmp_path: Path, size: int = 6 * MiB) -> tuple[Path, bytes]:
    """A qcow2 image made by qemu-img from a raw disk with MARKS; (file, the raw disk)."""
    raw = tmp_path / "src.raw"
    data = _raw_image(raw, size)
    qcow2 = tmp_path / "image.qcow2"
    _qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2))
    return qcow2, data


def _content(storage: CephStorage, pool: str, name: str) -> bytes:
    return storage.volume_read(pool, name, 0, VOLUME_SIZE)


def _upload(api: TestClient, pool: str, name: str, body: bytes, fmt: str,
            file_size: int | None = None) -> Any:
    params: dict[str, Any] = {"image_format": fmt}
    if file_size is not None:
        params["file_size"] = file_size
    return api.post(f"/api/v1/storage/ceph/volume/{pool}/{name}/upload", params=params,
                    files={"file": ("image", body, "application/octet-stream")})


def _assert_clean(storage: CephStorage, pool: str, name: str, spool: Path) -> None:
    assert storage.snapshot_list(pool, name) == []
    assert not spool.exists() or list(spool.iterdir()) == []


def test_raw_upload_lands_byte_for_byte(api: TestClient, storage: CephStorage, store: Store,
                                        volume: tuple[str, str], tmp_path: Path,
                                        spool: Path) -> None:
    pool, name = volume
    data = _raw_image(tmp_path / "disk.raw")
    r = _upload(api, pool, name, data, "raw", len(data))
    assert r.status_code == 200, r.text
    assert r.json()["message"] == f'Wrote 4.0M of raw data to volume "{pool}/{name}".'
    content = _content(storage, pool, name)
    assert content[:len(data)] == data
    assert content[len(data):] == FILL * (VOLUME_SIZE - len(data))
    for offset, mark in MARKS:
        assert storage.volume_read(pool, name, offset, len(mark)) == mark
    _assert_clean(storage, pool, name, spool)
    stats = store.read("volume.stats", pool=pool, volume=name)
    assert stats["size"] == VOLUME_SIZE and stats["snapshot_count"] == 0
    # without file_size a raw upload is accepted too
    r = _upload(api, pool, name, b"again", "raw")
    assert r.status_code == 200, r.text
    assert storage.volume_read(pool, name, 0, 10) == b"again" + data[5:10]


def test_qcow2_upload_is_converted_into_the_volume(api: TestClient, storage: CephStorage,
                                                   volume: tuple[str, str], tmp_path: Path,
                                                   spool: Path) -> None:
    pool, name = volume
    qcow2, disk = _qcow2_image(tmp_path)
    body = qcow2.read_bytes()
    assert len(body) != len(disk)  # really a qcow2 file, not the raw bytes
    r = _upload(api, pool, name, body, "qcow2", len(body))
    assert r.status_code == 200, r.text
    assert "6.0M disk of a qcow2 image" in r.json()["message"]
    content = _content(storage, pool, name)
    assert content[:len(disk)] == disk  # the unallocated parts are zeros now
    assert content[len(disk):] == FILL * (VOLUME_SIZE - len(disk))
    _assert_clean(storage, pool, name, spool)


def test_an_upload_cut_short_by_its_api_is_undone_by_the_next(
        api: TestClient, storage: CephStorage, volume: tuple[str, str], tmp_path: Path,
        spool: Path) -> None:
    """A killed API left its safety snapshot, a half-written volume and a spool file:
    the next upload rolls the volume back to that snapshot before writing, removes the
    snapshot, and (spooling) removes the stale file; a refused upload ends the same."""
    pool, name = volume
    storage.snapshot_create(pool, name, "pvc-upload-0123456789ab")  # the dead upload's
    storage.volume_write(pool, name, iter([b"HALF-WRITTEN" * 1000]))
    spool.mkdir(mode=0o700)
    stale = spool / "pvc-upload-k1ll3d.qcow2"
    stale.write_bytes(b"x" * 4096)
    # a refused upload (its write cut off) leaves the content from before the dead one
    raw = _raw_image(tmp_path / "r.raw")
    r = _upload(api, pool, name, raw[:50], "raw", 100)
    assert r.status_code == 400, r.text
    assert _content(storage, pool, name) == FILL * VOLUME_SIZE
    assert storage.snapshot_list(pool, name) == []
    # a spooling upload sweeps the dead one's spool file and lands byte for byte
    storage.snapshot_create(pool, name, "pvc-upload-ba9876543210")
    storage.volume_write(pool, name, iter([b"HALF-WRITTEN" * 1000]))
    qcow2, disk = _qcow2_image(tmp_path)
    r = _upload(api, pool, name, qcow2.read_bytes(), "qcow2", qcow2.stat().st_size)
    assert r.status_code == 200, r.text
    content = _content(storage, pool, name)
    assert content[:len(disk)] == disk and content[len(disk):] == FILL * (
        VOLUME_SIZE - len(disk))
    assert not stale.exists()
    _assert_clean(storage, pool, name, spool)


def test_a_second_upload_to_a_volume_waits_its_turn(
        api: TestClient, storage: CephStorage, store: Store, volume: tuple[str, str],
        tmp_path: Path, spool: Path) -> None:
    """While an upload to a volume runs, another one to it is refused (400) and
    touches nothing; once the first ended, the volume is free again."""
    pool, name = volume
    raw = _raw_image(tmp_path / "r.raw")
    gate = threading.Event()
    answers: list[Any] = []

    def slow_body() -> Iterator[bytes]:
        yield raw[:MiB]
        gate.wait(30)
        yield raw[MiB:]

    def first() -> None:  # in this process, as the API's own uploads run
        try:
            answers.append(upload.upload(store, storage, None, pool, name,  # type: ignore[arg-type]
                                         "raw", len(raw), slow_body(), spool))
        except Exception as exc:
            answers.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not any(s["name"].startswith("pvc-upload-")
                      for s in storage.snapshot_list(pool, name)):
            assert time.monotonic() < deadline, "the first upload did not start writing"
            time.sleep(0.05)
        second = _upload(api, pool, name, raw, "raw", len(raw))
        assert second.status_code == 400, second.text  # a refusal, as PVC answers it
        assert "in progress" in second.json()["message"]
    finally:
        gate.set()
        thread.join(30)
    assert answers == [f'Wrote 4.0M of raw data to volume "{pool}/{name}".'], answers
    third = _upload(api, pool, name, raw, "raw", len(raw))
    assert third.status_code == 200, third.text
    assert _content(storage, pool, name)[:len(raw)] == raw
    _assert_clean(storage, pool, name, spool)


def test_refusals_change_nothing(api: TestClient, storage: CephStorage, store: Store,
                                 volume: tuple[str, str], tmp_path: Path,
                                 spool: Path) -> None:
    pool, name = volume
    before = tree.read_all(store)
    big_qcow2 = tmp_path / "big.qcow2"
    _qemu_img("create", "-f", "qcow2", str(big_qcow2), "16M")
    qcow2, _ = _qcow2_image(tmp_path)
    truncated = qcow2.read_bytes()[: len(qcow2.read_bytes()) // 2]
    raw = _raw_image(tmp_path / "r.raw")
    junk = b"this is no qcow2 image at all" * 100
    path = f"/api/v1/storage/ceph/volume/{pool}/{name}/upload"
    cases: list[tuple[int, str, Any]] = [
        (400, "Invalid image_format 'iso'", lambda: _upload(api, pool, name, raw, "iso")),
        (400, "required for qcow2", lambda: _upload(api, pool, name, junk, "qcow2")),
        (400, "larger than volume",
         lambda: _upload(api, pool, name, raw, "raw", VOLUME_SIZE + 1)),
        (400, "16M (16777216 bytes), larger than volume",
         lambda: _upload(api, pool, name, big_qcow2.read_bytes(), "qcow2",
                         big_qcow2.stat().st_size)),
        (400, "not a usable qcow2 image",
         lambda: _upload(api, pool, name, junk, "qcow2", len(junk))),
        (400, "qcow2", lambda: _upload(api, pool, name, truncated, "qcow2", len(truncated))),
        (400, "larger than its file_size",
         lambda: _upload(api, pool, name, junk, "vmdk", 10)),
        # raw data are written as they arrive: these two are undone from the snapshot
        (400, "but file_size said 100",
         lambda: _upload(api, pool, name, raw[:50], "raw", 100)),
        (400, "ended inside the 'file' field",
         lambda: api.post(path, params={"image_format": "raw"},
                          headers={"content-type": "multipart/form-data; boundary=XyZ"},
                          content=b'--XyZ\r\nContent-Disposition: form-data; name="file"; '
                                  b'filename="a"\r\n\r\n' + raw)),
        (400, "Missing required parameter 'file'",
         lambda: api.post(path, params={"image_format": "raw"},
                          files={"other": ("a", raw, "application/octet-stream")})),
        (400, "multipart/form-data",
         lambda: api.post(path, params={"image_format": "raw"}, content=raw)),
        (404, "not found", lambda: _upload(api, pool, "nodisk", raw, "raw")),
        (400, "pool name", lambda: _upload(api, "b@d", name, raw, "raw")),
    ]
    for status, words, call in cases:
        r = call()
        assert r.status_code == status, (words, r.text)
        assert words in r.json()["message"], r.text
        assert _content(storage, pool, name) == FILL * VOLUME_SIZE, words
        _assert_clean(storage, pool, name, spool)
    assert tree.read_all(store) == before


def test_a_volume_of_a_running_vm_is_refused(api: TestClient, storage: CephStorage,
                                             store: Store, volume: tuple[str, str],
                                             spool: Path) -> None:
    pool, name = volume
    define(api, "web1", xml=domain_xml("web1", disks=[f"{pool}/{name}"]), node="hv1")
    set_status(store, uuid_of("web1"), state="start")
    r = _upload(api, pool, name, b"data", "raw")
    assert r.status_code == 400 and 'running VM "web1"' in r.json()["message"], r.text
    assert _content(storage, pool, name) == FILL * VOLUME_SIZE
    _assert_clean(storage, pool, name, spool)
    set_status(store, uuid_of("web1"), state="stop")
    assert _upload(api, pool, name, b"data", "raw").status_code == 200


class LiveApi:
    """The app served by uvicorn on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveApi:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_our_client_streams_an_upload_over_http(app: Any, storage: CephStorage,
                                                volume: tuple[str, str], tmp_path: Path,
                                                spool: Path) -> None:
    pool, name = volume
    qcow2, disk = _qcow2_image(tmp_path)
    with LiveApi(app) as live:
        client = StorageApi(ApiClient(Connection(name="live", host="127.0.0.1",
                                                 port=live.port, api_key=TOKEN)))
        seen: list[int] = []
        with qcow2.open("rb") as image:
            message = client.volume_upload(pool, name, image, "qcow2", filename="image.qcow2",
                                           progress=seen.append)
        assert message.startswith("Wrote the 6.0M disk of a qcow2 image")
        assert sum(seen) == qcow2.stat().st_size
        assert _content(storage, pool, name)[:len(disk)] == disk
        raw = tmp_path / "small.raw"
        raw.write_bytes(b"raw over http" * 1000)
        with raw.open("rb") as image:
            assert "raw data" in client.volume_upload(pool, name, image, "raw")
        assert storage.volume_read(pool, name, 0, 13) == b"raw over http"
        with raw.open("rb") as image, pytest.raises(InvalidArgument, match="image_format"):
            client.volume_upload(pool, name, image, "floppy")
        big = tmp_path / "big.raw"  # refused before its body is read
        with big.open("wb") as f:
            f.truncate(64 * MiB)
        with big.open("rb") as image, pytest.raises(NotFound):
            client.volume_upload(pool, "missing", image, "raw")
        with big.open("rb") as image, pytest.raises(InvalidArgument, match="larger than"):
            client.volume_upload(pool, name, image, "raw")
    _assert_clean(storage, pool, name, spool)
