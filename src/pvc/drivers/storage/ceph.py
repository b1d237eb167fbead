"""The real storage backend: Ceph through librados and librbd.

`CephStorage` implements `pvc.drivers.storage.base.Storage`. Monitor and manager work goes
through `mon_command`/`mgr_command` with JSON commands; volumes, snapshots and locks
through librbd (`ceph_rbd.py`); figures are merged in `ceph_figures.py`; the connection
and error mapping live in `ceph_conn.py`.

Pools are created with the PG autoscaler off: PVC's operator chooses `pgs` and expects to
see exactly that. Deleting a pool needs the monitors' `mon_allow_pool_delete`; when they
refuse, it is switched on (centrally with `config set`, and at run time with `injectargs`
where a local ceph.conf pins it) and left on, because PVC's own pool removal is the
guarded path.
"""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path
from typing import Any, Final

from pvc.common.errors import AlreadyExists, BackendError, InvalidArgument, NotFound, PVCError
from pvc.drivers.storage.base import OSD_FLAGS
from pvc.drivers.storage.ceph_conn import CephConnection
from pvc.drivers.storage.ceph_figures import (
    Figures,
    health_figures,
    osd_figures,
    parse_osd_status,
    pool_figures,
)
from pvc.drivers.storage.ceph_rbd import CephVolumes

DEFAULT_TIERS: Final = ("default", "")
_TIER_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class CephStorage(CephVolumes):
    def __init__(self, conf_path: Path, keyring_path: Path | None = None,
                 client_name: str = "admin", timeout: float = 30.0) -> None:
        self._conn = CephConnection(conf_path, keyring_path, client_name, timeout)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CephStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cluster -----------------------------------------------------------------
    def status_text(self) -> str:
        return self._conn.text({"prefix": "status"}, "read the cluster status")

    def df_text(self) -> str:
        return self._conn.text({"prefix": "df"}, "read the cluster usage")

    def health(self) -> Figures:
        return health_figures(self._conn.json({"prefix": "health"}, "read the cluster health"))

    def set_flag(self, flag: str, on: bool) -> None:
        if flag not in OSD_FLAGS:
            raise InvalidArgument(f"unknown OSD flag {flag!r}; one of: {', '.join(OSD_FLAGS)}")
        verb = "set" if on else "unset"
        self._conn.command({"prefix": f"osd {verb}", "key": flag}, f"{verb} OSD flag {flag}")

    # -- OSDs --------------------------------------------------------------------
    def osd_list(self) -> list[Figures]:
        dump = self._conn.json({"prefix": "osd dump"}, "read the OSD map")
        df = self._conn.json({"prefix": "osd df"}, "read the OSD usage", mgr=True)
        tree = self._conn.json({"prefix": "osd tree"}, "read the CRUSH tree")
        try:
            table = self._conn.text({"prefix": "osd status"}, "read the OSD I/O", mgr=True)
        except BackendError:
            table = ""  # the figures without I/O rates are still worth having
        return osd_figures(df, dump, tree, parse_osd_status(table))

    def _osd_ids(self) -> set[int]:
        dump = self._conn.json({"prefix": "osd dump"}, "read the OSD map")
        return {int(osd["osd"]) for osd in dump.get("osds", [])}

    def osd_set_in(self, osd: int, inside: bool) -> None:
        verb = "in" if inside else "out"
        if osd < 0 or osd not in self._osd_ids():
            raise NotFound(f"OSD {osd} does not exist")
        self._conn.command({"prefix": f"osd {verb}", "ids": [str(osd)]},
                           f"mark OSD {osd} {verb}", missing=f"OSD {osd}")

    def osd_set_down(self, osd: int) -> None:
        """Mark an OSD down now (one of a fenced node: its peers would take
        osd_heartbeat_grace to report it, and I/O to the PGs it led waits until then)."""
        self._conn.command({"prefix": "osd down", "ids": [str(osd)]},
                           f"mark OSD {osd} down", missing=f"OSD {osd}")

    # -- pools -------------------------------------------------------------------
    def _pools(self) -> dict[str, dict[str, Any]]:
        dump = self._conn.json({"prefix": "osd dump"}, "read the OSD map")
        return {str(p["pool_name"]): p for p in dump.get("pools", [])}

    def pool_list(self) -> list[Figures]:
        dump = self._conn.json({"prefix": "osd dump"}, "read the OSD map")
        df = self._conn.json({"prefix": "df", "detail": "detail"}, "read the pool usage")
        pg = self._conn.json({"prefix": "pg dump", "dumpcontents": ["pools"]},
                             "read the pool statistics", mgr=True)
        pg_pools = pg.get("pool_stats", []) if isinstance(pg, dict) else pg
        return pool_figures(dump, df, pg_pools)

    def _tier_rule(self, tier: str) -> str:
        """The CRUSH rule `<tier>_tier` (replicated over hosts, device class `tier`)."""
        if not _TIER_RE.fullmatch(tier):
            raise InvalidArgument(f"invalid storage tier {tier!r}")
        rule = f"{tier}_tier"
        rules = self._conn.json({"prefix": "osd crush rule ls"}, "list the CRUSH rules")
        if rule not in rules:
            self._conn.command(
                {"prefix": "osd crush rule create-replicated", "name": rule,
                 "root": "default", "type": "host", "class": tier},
                f"create CRUSH rule {rule}")
        return rule

    def pool_create(self, name: str, pgs: int, copies: int, mincopies: int,
                    tier: str | None = None) -> None:
        if pgs < 1:
            raise InvalidArgument(f"a pool needs at least one placement group, not {pgs}")
        if copies < 1 or not 1 <= mincopies <= copies:
            raise InvalidArgument(
                f"copies ({copies}) and mincopies ({mincopies}) must satisfy "
                "1 <= mincopies <= copies")
        if name in self._pools():
            raise AlreadyExists(f"pool {name} already exists")
        cmd: dict[str, Any] = {
            "prefix": "osd pool create", "pool": name, "pg_num": pgs, "pgp_num": pgs,
            "pool_type": "replicated", "size": copies, "autoscale_mode": "off",
        }
        if tier is not None and tier not in DEFAULT_TIERS:
            cmd["rule"] = self._tier_rule(tier)
        self._conn.command(cmd, f"create pool {name}", existing=f"pool {name}")
        try:
            # Each monitor change costs a Paxos round: set min_size only if Ceph's
            # default for this size differs.
            if int(self._pools().get(name, {}).get("min_size", -1)) != mincopies:
                self._pool_set(name, "min_size", mincopies)
            self._conn.command(
                {"prefix": "osd pool application enable", "pool": name, "app": "rbd"},
                f"enable rbd on pool {name}")
        except PVCError:
            with suppress(PVCError):  # nothing half-made stays behind, if Ceph lets us
                self._delete_pool(name)
            raise

    def _pool_set(self, name: str, var: str, value: int) -> None:
        self._conn.command(
            {"prefix": "osd pool set", "pool": name, "var": var, "val": str(value)},
            f"set {var} of pool {name} to {value}", missing=f"pool {name}")

    def pool_set_pgs(self, name: str, pgs: int) -> None:
        if pgs < 1:
            raise InvalidArgument(f"a pool needs at least one placement group, not {pgs}")
        if name not in self._pools():
            raise NotFound(f"pool {name} does not exist")
        # Since Nautilus the monitors move pgp_num along with pg_num by themselves.
        self._pool_set(name, "pg_num", pgs)

    def pool_remove(self, name: str) -> None:
        if name not in self._pools():
            raise NotFound(f"pool {name} does not exist")
        self._delete_pool(name)

    def _delete_pool(self, name: str) -> None:
        op = f"delete pool {name}"
        cmd = {"prefix": "osd pool delete", "pool": name, "pool2": name,
               "yes_i_really_really_mean_it": True}
        for attempt in range(3):
            try:
                self._conn.command(cmd, op, missing=f"pool {name}")
                return
            except BackendError as exc:
                if "mon_allow_pool_delete" not in str(exc) or attempt == 2:
                    raise
                self._allow_pool_delete(first_try=attempt == 0)

    def _allow_pool_delete(self, first_try: bool) -> None:
        if first_try:
            self._conn.command(
                {"prefix": "config set", "who": "mon", "name": "mon_allow_pool_delete",
                 "value": "true"}, "allow pool deletion on the monitors")
            return
        # A ceph.conf value beats the central config: override it at run time.
        monmap = self._conn.json({"prefix": "mon dump"}, "read the monitor map")
        for mon in monmap.get("mons", []):
            self._conn.command(
                {"prefix": "injectargs", "injected_args": ["--mon_allow_pool_delete=true"]},
                f"allow pool deletion on monitor {mon['name']}", target=str(mon["name"]))

