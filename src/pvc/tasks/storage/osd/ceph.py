"""`OsdCeph`: the monitor and manager commands of the OSD tasks (through librados), and the
two processes they need (`ceph-osd --mkfs`, `ceph-osd --show-config-value`)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pvc.common.errors import BackendError, NotYetKnown

if TYPE_CHECKING:  # librados is imported only where a task runs
    from pvc.drivers.storage.ceph_conn import CephConnection

CEPH_OSD = "/usr/bin/ceph-osd"
# Seconds: a new OSD up and in; a stopped OSD down.
UP_TIMEOUT = 180.0
DOWN_TIMEOUT = 60.0
POLL = 0.5
MKFS_TIMEOUT = 600.0
OSD_CAPS = ["mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *"]


class OsdCeph:
    """The monitor and manager commands of the OSD tasks."""

    def __init__(self, conn: CephConnection, conf: Path) -> None:
        self.conn = conn
        self.conf = conf

    def _json(self, cmd: dict[str, Any], op: str, mgr: bool = False) -> Any:
        out, _ = self.conn.command({**cmd, "format": "json"}, op, mgr=mgr)
        try:
            return json.loads(out) if out.strip() else None
        except ValueError as exc:
            raise BackendError(f"Ceph answered {op} with malformed JSON: {exc}") from exc

    def new_osd(self, osd_uuid: str) -> int:
        out = self._json({"prefix": "osd new", "uuid": osd_uuid}, "allocate an OSD id")
        return int(out["osdid"]) if isinstance(out, dict) else int(out)

    def osd_key(self, osd: int) -> str:
        out = self._json({"prefix": "auth get-or-create", "entity": f"osd.{osd}",
                          "caps": OSD_CAPS}, f"create the key of OSD {osd}")
        try:
            return str(out[0]["key"])
        except (TypeError, KeyError, IndexError) as exc:
            raise BackendError(f"Ceph gave no key for OSD {osd}: {out!r}") from exc

    def place(self, osd: int, weight: float, host: str) -> None:
        """CRUSH item under host=<host> with `weight`, and the same location for the
        daemon's own start-ups (`crush_location`)."""
        location = f"root=default host={host}"
        self.conn.command({"prefix": "osd crush add", "id": osd, "weight": weight,
                           "args": location.split()}, f"place OSD {osd} in the CRUSH map")
        self.conn.command({"prefix": "config set", "who": f"osd.{osd}",
                           "name": "crush_location", "value": location},
                          f"set the CRUSH location of OSD {osd}")

    def forget_settings(self, osd: int) -> None:
        self.conn.command({"prefix": "config rm", "who": f"osd.{osd}",
                           "name": "crush_location"}, f"clear the settings of OSD {osd}")

    def states(self) -> dict[int, tuple[bool, bool]]:
        """OSD id -> (up, in) for every OSD that exists."""
        dump = self._json({"prefix": "osd dump"}, "read the OSD map")
        return {int(o["osd"]): (bool(o["up"]), bool(o["in"])) for o in dump.get("osds", [])}

    def id_of(self, osd_uuid: str) -> int | None:
        """The id of the OSD with this uuid, if Ceph has one."""
        dump = self._json({"prefix": "osd dump"}, "read the OSD map")
        for o in dump.get("osds", []):
            if str(o.get("uuid", "")) == osd_uuid:
                return int(o["osd"])
        return None

    def mark(self, osd: int, verb: str) -> None:
        self.conn.command({"prefix": f"osd {verb}", "ids": [str(osd)]},
                          f"mark OSD {osd} {verb}")

    def safe_to_destroy(self, osd: int) -> tuple[bool, str]:
        """Whether the managers say the OSD can go, and what keeps it if not."""
        try:
            out = self._json({"prefix": "osd safe-to-destroy", "ids": [str(osd)]},
                             f"tell whether OSD {osd} is safe to destroy", mgr=True) or {}
        except NotYetKnown as exc:  # "N pgs have unknown state": ask again
            return False, str(exc)
        if osd in out.get("safe_to_destroy", []):
            return True, ""
        reasons = [what for key, what in (("active", "it still serves PGs"),
                                          ("stored_pgs", "it still stores PGs"),
                                          ("missing_stats", "no statistics yet"))
                   if osd in out.get(key, [])]
        return False, "; ".join(reasons) or "not all PGs are active+clean"

    def purge(self, osd: int) -> None:
        self.conn.command({"prefix": "osd purge", "id": osd, "yes_i_really_mean_it": True},
                          f"purge OSD {osd}", mgr=True)

    def purge_stopped(self, osd: int) -> None:
        """Purge an OSD whose daemon is stopped (Ceph purges only an OSD that is down)."""
        self.mark(osd, "down")
        self.wait(f"OSD {osd} to be down",
                  lambda: not self.states().get(osd, (False, False))[0], DOWN_TIMEOUT)
        self.purge(osd)

    def data_dir(self, osd: int) -> Path:
        """The OSD's data directory as ceph.conf sets it (`osd_data`)."""
        try:
            res = subprocess.run([CEPH_OSD, "--show-config-value", "osd_data", "-c",
                                  str(self.conf), "--id", str(osd)], capture_output=True,
                                 text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"Cannot read the data directory of OSD {osd}: {exc}") from exc
        text = res.stdout.strip()
        if res.returncode != 0 or not text.startswith("/"):
            raise BackendError(f"Cannot read the data directory of OSD {osd}: "
                               f"{(res.stderr or res.stdout).strip()[-500:]}")
        return Path(text)

    def mkfs(self, osd: int, osd_uuid: str, data_dir: Path, device: Path) -> None:
        cmd = [CEPH_OSD, "--mkfs", "-c", str(self.conf), "--id", str(osd),
               "--osd-uuid", osd_uuid, "--osd-data", str(data_dir),
               "--keyring", str(data_dir / "keyring"), "--osd-objectstore", "bluestore",
               "--bluestore-block-path", str(device)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=MKFS_TIMEOUT,
                                 check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"ceph-osd --mkfs of OSD {osd}: {exc}") from exc
        if res.returncode != 0:
            raise BackendError(f"ceph-osd --mkfs of OSD {osd} failed ({res.returncode}): "
                               f"{(res.stderr or res.stdout).strip()[-1500:]}")

    def wait(self, what: str, check: Callable[[], bool], timeout: float,
             tick: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise BackendError(f"Timed out after {timeout:.0f} s waiting for {what}")
            if tick is not None:
                tick()
            time.sleep(POLL)

