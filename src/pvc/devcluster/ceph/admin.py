"""Mon commands of a bootstrapping Ceph cluster, through librados (python3-rados).

One connection serves every command of a bring-up (the `ceph` CLI would pay its own
start-up for each). The waits poll what the cluster reports; nothing sleeps blindly
beyond a short poll interval.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pvc.common.errors import BackendError, InvalidArgument
from pvc.devcluster.ceph.boot import OsdIdentity, check_osd_id

POOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
POLL = 0.2


def check_pool(name: str) -> str:
    if not POOL_RE.match(name):
        raise InvalidArgument(f"Invalid pool name {name!r}")
    return name


class CephAdmin:
    """A client.admin connection: `with CephAdmin(conf) as admin: admin.command(...)`."""

    def __init__(self, conf: Path, keyring: Path | None = None, timeout: float = 10) -> None:
        import rados  # Debian's python3-rados; imported late so the rest works without it

        opts = {"client_mount_timeout": str(int(max(timeout, 1))),
                "rados_mon_op_timeout": "30", "log_file": "", "admin_socket": ""}
        if keyring is not None:
            opts["keyring"] = str(keyring)
        self._rados_error: type[Exception] = rados.Error
        self.cluster = rados.Rados(conffile=str(conf), name="client.admin", conf=opts)
        try:
            self.cluster.connect(timeout=int(max(timeout, 1)))
        except rados.Error as exc:
            self.cluster.shutdown()
            raise BackendError(f"Cannot connect to Ceph with {conf}: {exc}") from exc

    def close(self) -> None:
        self.cluster.shutdown()

    def __enter__(self) -> CephAdmin:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def command(self, prefix: str, inbuf: bytes = b"", timeout: int = 30,
                **args: Any) -> Any:
        """Run a mon command; its JSON answer (None if it prints nothing)."""
        cmd = json.dumps({"prefix": prefix, "format": "json", **args})
        try:
            rc, out, errs = self.cluster.mon_command(cmd, inbuf, timeout=timeout)
        except self._rados_error as exc:
            raise BackendError(f"ceph {prefix}: {exc}") from exc
        if rc != 0:
            raise BackendError(f"ceph {prefix} failed ({rc}): {errs.strip()}")
        return json.loads(out) if out.strip() else None

    # -- objects of a bring-up ------------------------------------------------------
    def register_osd(self, osd: OsdIdentity) -> int:
        """`osd new UUID ID` with the OSD's cephx key; idempotent for the same uuid."""
        secrets = json.dumps({"cephx_secret": osd.key}).encode()
        out = self.command("osd new", inbuf=secrets, uuid=osd.uuid,
                           id=check_osd_id(osd.osd_id))
        got = int(out["osdid"]) if isinstance(out, dict) else int(out)
        if got != osd.osd_id:
            raise BackendError(f"Ceph gave OSD id {got}, expected {osd.osd_id}")
        return got

    def new_osd(self, osd_uuid: str, key: str) -> int:
        """`osd new UUID` with the OSD's cephx key: the id the cluster chose."""
        out = self.command("osd new", inbuf=json.dumps({"cephx_secret": key}).encode(),
                           uuid=osd_uuid)
        return int(out["osdid"]) if isinstance(out, dict) else int(out)

    def pools(self) -> list[str]:
        return [str(p) for p in self.command("osd pool ls")]

    def create_pool(self, name: str, pg_num: int, size: int, min_size: int,
                    application: str = "rbd") -> None:
        """A replicated pool with a fixed PG count; idempotent."""
        check_pool(name)
        if pg_num < 1 or pg_num & (pg_num - 1):
            raise InvalidArgument(f"PG count {pg_num} is not a power of two")
        pools = {p["pool_name"]: p for p in self.command("osd pool ls", detail="detail")}
        if name not in pools:
            self.command("osd pool create", pool=name, pg_num=pg_num, pgp_num=pg_num,
                         pool_type="replicated", autoscale_mode="off", size=size)
            pools = {p["pool_name"]: p for p in self.command("osd pool ls", detail="detail")}
        pool = pools[name]
        # each change is one osdmap epoch (a paxos round): only what differs
        if pool["size"] != size:
            # Ceph wants an explicit confirmation for one replica (test clusters only)
            sure: dict[str, Any] = {"yes_i_really_mean_it": True} if size == 1 else {}
            self.command("osd pool set", pool=name, var="size", val=str(size), **sure)
        if pool["min_size"] != min_size:
            self.command("osd pool set", pool=name, var="min_size", val=str(min_size))
        if application not in pool.get("application_metadata", {}):
            self.command("osd pool application enable", pool=name, app=application)

    # -- observations ---------------------------------------------------------------
    def quorum(self) -> list[str]:
        return [str(n) for n in self.command("quorum_status")["quorum_names"]]

    def osd_states(self) -> dict[int, tuple[bool, bool]]:
        """OSD id -> (up, in)."""
        dump = self.command("osd dump")
        return {int(o["osd"]): (bool(o["up"]), bool(o["in"])) for o in dump["osds"]}

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = self.command("health", detail="detail")
        return out

    def health_line(self) -> str:
        h = self.health()
        checks = h.get("checks", {})
        detail = "; ".join(f"{k}: {v['summary']['message']}" for k, v in checks.items())
        return f"{h['status']}" + (f" ({detail})" if detail else "")

    def wait(self, what: str, check: Callable[[], bool], timeout: float,
             last: Callable[[], str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except BackendError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                state = f": {last()}" if last else ""
                raise BackendError(f"Ceph: timed out after {timeout:.0f} s waiting for "
                                   f"{what}{state}")
            time.sleep(POLL)

    def wait_quorum(self, names: list[str], timeout: float) -> None:
        self.wait(f"mons {', '.join(names)} in quorum",
                  lambda: sorted(self.quorum()) == sorted(names), timeout)

    def wait_osds_up(self, ids: list[int], timeout: float) -> None:
        def ok() -> bool:
            states = self.osd_states()
            return all(states.get(i) == (True, True) for i in ids)
        self.wait(f"OSDs {ids} up and in", ok, timeout, lambda: str(self.osd_states()))

    def pool_states(self, pool: str) -> tuple[int, dict[str, int]]:
        """(the pool's pg_num, how many of its PGs the mgr reports in each state)."""
        pg_num = next(int(p["pg_num"]) for p in self.command("osd dump")["pools"]
                      if p["pool_name"] == pool)
        stats = self.command("pg ls-by-pool", poolstr=check_pool(pool))["pg_stats"]
        return pg_num, dict(Counter(str(s["state"]) for s in stats))

    def pool_clean(self, pool: str) -> bool:
        """Every PG of the pool is active and clean (and the mgr's report knows all of
        them: a pool created a moment ago has no PGs in it yet). A clean PG that is being
        scrubbed or trimmed counts: those are routine work on a healthy PG."""
        pg_num, states = self.pool_states(pool)
        return sum(states.values()) == pg_num and all(
            _clean(state) for state in states)

    def pool_line(self, pool: str) -> str:
        """The pool's PG states, for a message: "32 PGs: 30 active+clean, 2 peering"."""
        try:
            pg_num, states = self.pool_states(pool)
        except (BackendError, StopIteration) as exc:
            return f"pool {pool} cannot be read ({exc})"
        if not states:
            return f"{pg_num} PGs, none reported yet"
        return f"{pg_num} PGs: " + ", ".join(f"{n} {state}"
                                             for state, n in sorted(states.items()))

    def wait_health_ok(self, timeout: float, osds: Sequence[int] = (),
                       pools: Sequence[str] = ()) -> None:
        """Until the given OSDs are up and in, the given pools' PGs are active+clean and
        the cluster says HEALTH_OK (which alone can be a stale report after a change)."""
        def ok() -> bool:
            states = self.osd_states()
            return (all(states.get(i) == (True, True) for i in osds)
                    and all(self.pool_clean(p) for p in pools)
                    and self.health()["status"] == "HEALTH_OK")
        self.wait("HEALTH_OK", ok, timeout, self.health_line)


# flags of a PG doing routine work that leaves it active and clean
_ROUTINE = frozenset({"scrubbing", "deep", "snaptrim", "snaptrim_wait", "scrub_queued"})


def _clean(state: str) -> bool:
    parts = set(state.split("+"))
    return {"active", "clean"} <= parts and parts - {"active", "clean"} <= _ROUTINE
