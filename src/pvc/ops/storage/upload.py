"""Upload a disk image into an existing RBD volume (PVC's `volume upload`).

* The volume must exist (it is not created): otherwise NotFound.
* `image_format` is one of PVC's: raw, vmdk, qcow2, qed, vdi, vpc.
* raw: the bytes are written at the start of the volume as they arrive, through librbd.
  `file_size` is optional; when given it must not exceed the volume and the upload must
  carry exactly that many bytes.
* Other formats need `file_size` (as PVC). The image is spooled to a temporary file in the
  upload directory (`path.upload_directory` of pvc.conf, default /var/tmp; never more
  than `file_size` bytes), checked with `qemu-img info`/`check` (a corrupt image or one
  whose disk is larger than the volume is refused before the volume is touched), then
  written with `qemu-img convert` straight into the volume. The file is always removed.
* A volume used by a running VM is refused.
* Nothing is half-written: the volume is snapshotted first, rolled back to that snapshot
  when the write fails (a cut-off upload, a qemu-img error), and the snapshot is removed
  in every case. On success the volume's figures in ZooKeeper are refreshed.
* An upload whose API process ended mid-way (the primary lost, a kill) left its snapshot
  and maybe a half-written volume: the next upload to the volume first rolls it back to
  that snapshot and removes it, and the next spooling upload removes spool files that no
  upload of this process holds. Two uploads to one volume at once: the second is refused
  (Conflict) while the first runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from pvc.common.config import Config
from pvc.common.errors import BackendError, Conflict, InvalidArgument, InvalidState, PVCError
from pvc.common.sizes import human
from pvc.common.vm import RUNNING_STATES
from pvc.drivers.storage import qemu_img
from pvc.drivers.storage.base import Storage
from pvc.drivers.storage.qemu_img import CephFiles
from pvc.ops.storage import records
from pvc.ops.vm.records import all_uuids, read_vms
from pvc.state.store import Store

IMAGE_FORMATS: Final = ("raw", "vmdk", "qcow2", "qed", "vdi", "vpc")
DEFAULT_UPLOAD_DIRECTORY: Final = Path("/var/tmp")
SNAPSHOT_PREFIX: Final = "pvc-upload-"
SPOOL_PREFIX: Final = "pvc-upload-"
log = logging.getLogger(__name__)

# What the uploads of this process hold: volumes ("pool/volume") and spool files.
_held_lock = threading.Lock()
_held_volumes: set[str] = set()
_held_spools: set[Path] = set()


def upload_directory(config: Config) -> Path:
    """Where non-raw images are spooled (`path.upload_directory`)."""
    path = (config.raw or {}).get("path", {}) or {}
    value = path.get("upload_directory") if isinstance(path, dict) else None
    return Path(str(value)) if value else DEFAULT_UPLOAD_DIRECTORY


def ceph_files(config: Config) -> CephFiles:
    return CephFiles(config.ceph_config_file, config.ceph_keyring_file)


def check_format(image_format: str) -> str:
    if image_format not in IMAGE_FORMATS:
        raise InvalidArgument(f"Invalid image_format '{image_format}'; one of: "
                              f"{', '.join(IMAGE_FORMATS)}")
    return image_format


def _refuse_if_running(store: Store, pool: str, volume: str) -> None:
    wanted = f"{pool}/{volume}"
    for vm in read_vms(store, all_uuids(store)):
        if vm.spec is not None and wanted in vm.spec.rbd_volumes \
                and vm.state in RUNNING_STATES:
            raise InvalidState(f'Volume "{wanted}" is in use by running VM "{vm.name}"; '
                               "stop it before writing an image into the volume")


def prepare(store: Store, storage: Storage, pool: str, volume: str, image_format: str,
            file_size: int | None) -> int:
    """Every check that needs no image data; the volume's size in bytes."""
    check_format(image_format)
    if file_size is not None and file_size < 0:
        raise InvalidArgument(f"file_size must not be negative, not {file_size}")
    records.require_volume(store, pool, volume)
    size = int(storage.volume_info(pool, volume)["size"])
    if image_format != "raw" and file_size is None:
        raise InvalidArgument(f"A file_size is required for {image_format} images")
    if image_format == "raw" and file_size is not None and file_size > size:
        raise InvalidArgument(
            f"The image ({records.exact_human(file_size)}, {file_size} bytes) is larger "
            f'than volume "{pool}/{volume}" ({records.exact_human(size)}, {size} bytes)')
    _refuse_if_running(store, pool, volume)
    return size


@contextlib.contextmanager
def _one_at_a_time(pool: str, volume: str) -> Iterator[None]:
    """Hold the volume for this upload; Conflict while another upload holds it."""
    key = f"{pool}/{volume}"
    with _held_lock:
        if key in _held_volumes:
            raise Conflict(f'An upload to volume "{key}" is in progress; try again once it '
                           "has ended")
        _held_volumes.add(key)
    try:
        yield
    finally:
        with _held_lock:
            _held_volumes.discard(key)


def _undo_cut_short(storage: Storage, pool: str, volume: str) -> None:
    """Roll the volume back to the snapshot of an upload that was cut short (the oldest,
    if several: the content before any of them), and remove those snapshots."""
    stale = sorted((s for s in storage.snapshot_list(pool, volume)
                    if str(s["name"]).startswith(SNAPSHOT_PREFIX)), key=lambda s: int(s["id"]))
    if not stale:
        return
    log.warning("Volume %s/%s holds the snapshot(s) of %d upload(s) cut short: rolling it "
                "back to %s", pool, volume, len(stale), stale[0]["name"])
    storage.snapshot_rollback(pool, volume, str(stale[0]["name"]))
    for snap in stale:
        storage.snapshot_remove(pool, volume, str(snap["name"]))


@contextlib.contextmanager
def _spool_file(spool_dir: Path, image_format: str) -> Iterator[Any]:
    """A new spool file held by this upload; closed (which removes it) and let go at the
    end. First the spool files that no upload of this process holds (a killed API's) go,
    under the lock, so that no other upload's new file is taken for a stale one."""
    try:
        spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _held_lock:
            for path in spool_dir.glob(f"{SPOOL_PREFIX}*"):
                if path not in _held_spools:
                    with contextlib.suppress(OSError):
                        path.unlink()
                        log.warning("Removed %s, left by an upload that was cut short", path)
            spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, always)
                dir=spool_dir, prefix=SPOOL_PREFIX, suffix=f".{image_format}")
            _held_spools.add(Path(spool.name))
    except OSError as exc:
        raise BackendError(f"Cannot spool the upload in {spool_dir}: {exc.strerror}") from exc
    try:
        with spool:
            yield spool
    finally:
        with _held_lock:
            _held_spools.discard(Path(spool.name))


@contextlib.contextmanager
def _undo_on_failure(storage: Storage, pool: str, volume: str) -> Iterator[None]:
    """Run the block with a safety snapshot of the volume: roll back to it on failure;
    remove it in every case. An earlier upload's leftovers are undone first."""
    _undo_cut_short(storage, pool, volume)
    snap = f"{SNAPSHOT_PREFIX}{uuid.uuid4().hex[:12]}"
    storage.snapshot_create(pool, volume, snap)
    try:
        yield
    except BaseException:
        with contextlib.suppress(PVCError):
            storage.snapshot_rollback(pool, volume, snap)
        raise
    finally:
        with contextlib.suppress(PVCError):
            storage.snapshot_remove(pool, volume, snap)


def _write_raw(storage: Storage, pool: str, volume: str, data: Iterable[bytes],
               file_size: int | None) -> int:
    written = storage.volume_write(pool, volume, iter(data))
    if file_size is not None and written != file_size:
        raise InvalidArgument(f"The upload carried {written} bytes, but file_size said "
                              f"{file_size}")
    return written


def _spool(data: Iterable[bytes], limit: int, spool: Any) -> int:
    received = 0
    for chunk in data:
        received += len(chunk)
        if received > limit:
            raise InvalidArgument(f"The upload is larger than its file_size ({limit} bytes)")
        spool.write(chunk)
    spool.flush()
    os.fsync(spool.fileno())
    return received


def _write_converted(storage: Storage, ceph: CephFiles, pool: str, volume: str,
                     size: int, image_format: str, data: Iterable[bytes], file_size: int,
                     spool_dir: Path) -> int:
    with _spool_file(spool_dir, image_format) as spool:
        try:
            received = _spool(data, file_size, spool)
        except OSError as exc:
            raise BackendError(f"Cannot spool the upload in {spool_dir}: {exc.strerror}") \
                from exc
        if received != file_size:
            raise InvalidArgument(f"The upload carried {received} bytes, but file_size "
                                  f"said {file_size}")
        path = Path(spool.name)
        disk = qemu_img.virtual_size(path, image_format)
        if disk > size:
            raise InvalidArgument(
                f"The {image_format} image holds a disk of {records.exact_human(disk)} "
                f"({disk} bytes), larger than volume \"{pool}/{volume}\" "
                f"({records.exact_human(size)}, {size} bytes)")
        qemu_img.check(path, image_format)
        with _undo_on_failure(storage, pool, volume):
            qemu_img.convert_to_rbd(path, image_format, ceph, pool, volume)
        return disk


def upload(store: Store, storage: Storage, ceph: CephFiles, pool: str, volume: str,
           image_format: str, file_size: int | None, data: Iterable[bytes],
           spool_dir: Path = DEFAULT_UPLOAD_DIRECTORY, size: int | None = None) -> str:
    """Write the image whose bytes `data` yields into pool/volume (see the module doc).
    `size` is the volume's size when `prepare` has already been called."""
    if size is None:
        size = prepare(store, storage, pool, volume, image_format, file_size)
    with _one_at_a_time(pool, volume):
        if image_format == "raw":
            with _undo_on_failure(storage, pool, volume):
                written = _write_raw(storage, pool, volume, data, file_size)
            what = f"{human(written)} of raw data"
        else:
            assert file_size is not None  # prepare() refused it otherwise
            disk = _write_converted(storage, ceph, pool, volume, size, image_format, data,
                                    file_size, spool_dir)
            what = f"the {human(disk)} disk of a {image_format} image"
    store.write("volume.stats", dict(storage.volume_info(pool, volume)), pool=pool,
                volume=volume)
    return f'Wrote {what} to volume "{pool}/{volume}".'
