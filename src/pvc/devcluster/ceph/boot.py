"""Bootstrap primitives for a small Ceph cluster (Ceph 16 Pacific), our own.

Used by the development cluster (three mons on the nodes' storage addresses) and by the
integration tests' one-mon loopback cluster. Everything is explicit: every daemon runs in
the foreground as root with `-c CONF --id ID`, every path is given by the caller, and the
cluster is seeded at `ceph-mon --mkfs` time with the keys it needs (mon., client.admin,
mgr.<name>, client.bootstrap-osd) so that no `ceph auth` command is needed at run time.

An OSD is a BlueStore store on a plain (sparse) file that `ceph-osd --mkfs` creates itself
(`bluestore_block_create`). It is made in two steps that may come in either order:
`mkfs_osd` (offline, with the cluster's fsid from the config file and a chosen id) and
`register_osd` (`osd new UUID [ID]` with the OSD's cephx key, which needs a mon quorum).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pvc.common.errors import BackendError, InvalidArgument

CEPH_AUTHTOOL = "/usr/bin/ceph-authtool"
MONMAPTOOL = "/usr/bin/monmaptool"
CEPH_MON = "/usr/bin/ceph-mon"
CEPH_MGR = "/usr/bin/ceph-mgr"
CEPH_OSD = "/usr/bin/ceph-osd"
BINARIES = (CEPH_AUTHTOOL, MONMAPTOOL, CEPH_MON, CEPH_MGR, CEPH_OSD)

MGR_MODULES_DIR = Path("/usr/share/ceph/mgr")
# Modules that a Pacific mgr always runs; a mgr without one of them reports an error.
ALWAYS_ON_MGR_MODULES = ("balancer", "crash", "devicehealth", "orchestrator", "pg_autoscaler",
                         "progress", "rbd_support", "status", "telemetry", "volumes")

# Ceph refuses an osd_memory_target below 896 MiB; that is small enough for a dev host.
OSD_MEMORY_TARGET = 896 * 1024 * 1024
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
FSID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CONF_KEY_RE = re.compile(r"^[a-z][a-z0-9_/ ]*$")

ADMIN_CAPS = {"mon": "allow *", "osd": "allow *", "mgr": "allow *", "mds": "allow *"}
MGR_CAPS = {"mon": "allow profile mgr", "osd": "allow *", "mds": "allow *"}
BOOTSTRAP_OSD_CAPS = {"mon": "allow profile bootstrap-osd"}


def installed() -> bool:
    return all(os.access(b, os.X_OK) for b in BINARIES)


def check_name(name: str, what: str = "daemon name") -> str:
    if not NAME_RE.match(name):
        raise InvalidArgument(f"Invalid Ceph {what} {name!r} (lower-case letters, digits, - _)")
    return name


def check_fsid(fsid: str) -> str:
    if not FSID_RE.match(fsid):
        raise InvalidArgument(f"Invalid Ceph fsid {fsid!r}")
    return fsid


def run(cmd: Sequence[str], timeout: float = 120, input_data: bytes | None = None) -> str:
    """Run a Ceph tool; a failure is a BackendError that carries the tool's stderr."""
    try:
        res = subprocess.run(list(cmd), input=input_data, capture_output=True,
                             timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"{cmd[0]}: {exc}") from exc
    if res.returncode != 0:
        err = (res.stderr or res.stdout).decode(errors="replace").strip()
        raise BackendError(f"{' '.join(cmd)} failed ({res.returncode}): {err[-2000:]}")
    return res.stdout.decode(errors="replace")


# -- configuration ---------------------------------------------------------------

@dataclass(frozen=True)
class MonAddress:
    """A monitor and where it listens: msgr2 always, msgr1 (legacy) if v1_port is set."""

    name: str
    ip: str
    v2_port: int = 3300
    v1_port: int | None = 6789

    def __post_init__(self) -> None:
        check_name(self.name, "mon name")

    def addrvec(self) -> str:
        addrs = [f"v2:{self.ip}:{self.v2_port}"]
        if self.v1_port is not None:
            addrs.append(f"v1:{self.ip}:{self.v1_port}")
        return "[" + ",".join(addrs) + "]"


@dataclass(frozen=True)
class ClusterSettings:
    fsid: str
    mons: tuple[MonAddress, ...]
    public_network: str
    block_size: int  # bytes of each OSD's (sparse) BlueStore file
    pool_size: int = 3
    pool_min_size: int = 2
    # mgr modules enabled on a new cluster (besides the always-on ones)
    mgr_modules: tuple[str, ...] = ("iostat",)
    # a directory holding only the modules the mgrs may load (see mgr_module_dir)
    mgr_module_path: Path | None = None
    # section -> option -> value, merged over the defaults below (e.g. paths of a test dir)
    extra: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fsid(self.fsid)
        if not self.mons:
            raise InvalidArgument("A Ceph cluster needs at least one mon")

    @property
    def msgr1(self) -> bool:
        return all(m.v1_port is not None for m in self.mons)


def new_fsid() -> str:
    return str(uuidlib.uuid4())


def conf_sections(s: ClusterSettings) -> dict[str, dict[str, str]]:
    """The ceph.conf of a small cluster that reaches HEALTH_OK, as sections of options."""
    glob = {
        "fsid": s.fsid,
        "mon_host": ",".join(m.addrvec() for m in s.mons),
        "public_network": s.public_network,
        "auth_cluster_required": "cephx",
        "auth_service_required": "cephx",
        "auth_client_required": "cephx",
        "auth_allow_insecure_global_id_reclaim": "false",
        "ms_bind_msgr1": "true" if s.msgr1 else "false",
        "osd_pool_default_size": str(s.pool_size),
        "osd_pool_default_min_size": str(s.pool_min_size),
        # PG counts are chosen on purpose; the autoscaler would split/merge them at will
        "osd_pool_default_pg_autoscale_mode": "off",
        "mon_allow_pool_delete": "true",
        # The mons' store shares the host's disk with everything else a developer keeps
        # there; a free-space percentage of that disk says nothing about this cluster
        # (Ceph warns below 30 % by default). Below 5 % it still raises MON_DISK_CRIT.
        "mon_data_avail_warn": "5",
        # no restful/nfs modules (restful wants a certificate)
        "mgr_initial_modules": " ".join(check_name(m, "mgr module") for m in s.mgr_modules),
        "osd_crush_chooseleaf_type": "1",
    }
    osd = {
        "osd_objectstore": "bluestore",
        "bluestore_block_create": "true",
        "bluestore_block_size": str(s.block_size),
        "bluestore_fsck_on_mkfs": "false",
        "osd_memory_target": str(OSD_MEMORY_TARGET),
        # a tiny OSD needs few op queues; each one costs time at start-up (Ceph's default
        # is 5 for a "rotational" device, which a plain file is)
        "osd_op_num_shards": "2",
    }
    sections: dict[str, dict[str, str]] = {"global": glob, "osd": osd}
    if s.mgr_module_path is not None:
        sections["mgr"] = {"mgr_module_path": str(s.mgr_module_path)}
    for sect, opts in s.extra.items():
        sections.setdefault(sect, {}).update(opts)
    return sections


def render_conf(sections: Mapping[str, Mapping[str, str]]) -> str:
    lines = ["# written by pvc-dev (pvc.devcluster.ceph.boot)"]
    for sect, opts in sections.items():
        if not re.fullmatch(r"^[a-z]+(\.[a-z0-9_-]+)?$", sect):
            raise InvalidArgument(f"Invalid ceph.conf section {sect!r}")
        lines.append(f"[{sect}]")
        for key, value in opts.items():
            if not CONF_KEY_RE.match(key) or "\n" in value:
                raise InvalidArgument(f"Invalid ceph.conf option {key!r} = {value!r}")
            lines.append(f"{key} = {value}")
        lines.append("")
    return "\n".join(lines)


def write_conf(path: Path, sections: Mapping[str, Mapping[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_conf(sections))
    path.chmod(0o644)
    return path


# -- keys ------------------------------------------------------------------------

def gen_key() -> str:
    """A fresh cephx secret."""
    return run([CEPH_AUTHTOOL, "--gen-print-key"]).strip()


@dataclass(frozen=True)
class Keys:
    mon: str
    admin: str
    bootstrap_osd: str
    mgr: Mapping[str, str]  # mgr name -> key

    @classmethod
    def generate(cls, mgr_names: Iterable[str]) -> Keys:
        return cls(mon=gen_key(), admin=gen_key(), bootstrap_osd=gen_key(),
                   mgr={check_name(n, "mgr name"): gen_key() for n in mgr_names})

    def to_json(self) -> str:
        return json.dumps({"mon": self.mon, "admin": self.admin,
                           "bootstrap_osd": self.bootstrap_osd, "mgr": dict(self.mgr)})

    @classmethod
    def from_json(cls, text: str) -> Keys:
        d = json.loads(text)
        return cls(mon=d["mon"], admin=d["admin"], bootstrap_osd=d["bootstrap_osd"],
                   mgr=dict(d["mgr"]))


def add_to_keyring(path: Path, entity: str, key: str, caps: Mapping[str, str]) -> None:
    """Add (or replace) one entity in a keyring file, creating it (mode 600) if needed."""
    if not re.fullmatch(r"^(mon\.|(client|mgr|osd)\.[a-z0-9_.-]+)$", entity):
        raise InvalidArgument(f"Invalid cephx entity {entity!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [CEPH_AUTHTOOL, str(path)]
    if not path.exists():
        cmd.append("--create-keyring")
    cmd += ["-n", entity, "--add-key", key]
    for service, cap in caps.items():
        cmd += ["--cap", service, cap]
    run(cmd)
    path.chmod(0o600)


def write_keyring(path: Path, entity: str, key: str,
                  caps: Mapping[str, str] | None = None) -> Path:
    path.unlink(missing_ok=True)
    add_to_keyring(path, entity, key, caps or {})
    return path


def write_mkfs_keyring(path: Path, keys: Keys) -> Path:
    """The keyring given to `ceph-mon --mkfs`: mon. plus every key (with caps) that the
    cluster must know from the start."""
    path.unlink(missing_ok=True)
    add_to_keyring(path, "mon.", keys.mon, {"mon": "allow *"})
    add_to_keyring(path, "client.admin", keys.admin, ADMIN_CAPS)
    add_to_keyring(path, "client.bootstrap-osd", keys.bootstrap_osd, BOOTSTRAP_OSD_CAPS)
    for name, key in keys.mgr.items():
        add_to_keyring(path, f"mgr.{name}", key, MGR_CAPS)
    return path


# -- mons, mgrs ------------------------------------------------------------------

def create_monmap(path: Path, fsid: str, mons: Sequence[MonAddress]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    cmd = [MONMAPTOOL, "--create", "--fsid", check_fsid(fsid), "--enable-all-features",
           "--set-min-mon-release", "pacific"]
    for m in mons:
        cmd += ["--addv", m.name, m.addrvec()]
    run([*cmd, str(path)])
    return path


def mgr_module_dir(path: Path, modules: Iterable[str]) -> Path:
    """A mgr module directory with only the always-on modules and `modules` (symlinks
    into Ceph's own). A mgr imports every module it finds at start-up (two dozen in
    Pacific, seconds of CPU each time); a small cluster needs few of them."""
    path.mkdir(parents=True, exist_ok=True)
    wanted = set(ALWAYS_ON_MGR_MODULES) | {check_name(m, "mgr module") for m in modules}
    for entry in MGR_MODULES_DIR.iterdir():
        if entry.is_dir() and entry.name not in wanted:
            continue
        link = path / entry.name
        if not link.is_symlink():
            link.symlink_to(entry)
    missing = wanted - {e.name for e in path.iterdir()}
    if missing:
        raise BackendError(f"Ceph mgr modules not installed: {', '.join(sorted(missing))}")
    return path


def mkfs_mon(conf: Path, name: str, data_dir: Path, monmap: Path, keyring: Path,
             args: Sequence[str] = ()) -> None:
    """Create a mon's store in data_dir (which must not hold one yet). `args` are further
    options (e.g. `--log-file PATH` when the config's paths are another host's view)."""
    check_name(name, "mon name")
    data_dir.mkdir(parents=True, exist_ok=True)
    run([CEPH_MON, "--mkfs", "-c", str(conf), "--id", name, "--mon-data", str(data_dir),
         "--monmap", str(monmap), "--keyring", str(keyring), *args])
    (data_dir / "done").touch()


def prepare_mgr(name: str, data_dir: Path, key: str) -> None:
    """A mgr's data dir is only its keyring."""
    check_name(name, "mgr name")
    data_dir.mkdir(parents=True, exist_ok=True)
    write_keyring(data_dir / "keyring", f"mgr.{name}", key)


def mon_command(conf: Path, name: str, data_dir: Path | None = None) -> list[str]:
    cmd = [CEPH_MON, "-f", "-c", str(conf), "--id", check_name(name, "mon name")]
    return cmd + (["--mon-data", str(data_dir)] if data_dir else [])


def mgr_command(conf: Path, name: str, data_dir: Path | None = None) -> list[str]:
    cmd = [CEPH_MGR, "-f", "-c", str(conf), "--id", check_name(name, "mgr name")]
    return cmd + (["--mgr-data", str(data_dir)] if data_dir else [])


def osd_command(conf: Path, osd_id: int, data_dir: Path | None = None) -> list[str]:
    cmd = [CEPH_OSD, "-f", "-c", str(conf), "--id", str(check_osd_id(osd_id))]
    return cmd + (["--osd-data", str(data_dir)] if data_dir else [])


# -- OSDs ------------------------------------------------------------------------

def check_osd_id(osd_id: int) -> int:
    if not isinstance(osd_id, int) or not 0 <= osd_id < 100000:
        raise InvalidArgument(f"Invalid OSD id {osd_id!r}")
    return osd_id


@dataclass(frozen=True)
class OsdIdentity:
    osd_id: int
    uuid: str
    key: str

    @classmethod
    def new(cls, osd_id: int) -> OsdIdentity:
        return cls(check_osd_id(osd_id), str(uuidlib.uuid4()), gen_key())


def mkfs_osd(conf: Path, osd: OsdIdentity, data_dir: Path, args: Sequence[str] = ()) -> None:
    """Make a BlueStore OSD in data_dir (its block file `data_dir/block` is created sparse,
    bluestore_block_size bytes). Offline: the fsid comes from the config file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    keyring = write_keyring(data_dir / "keyring", f"osd.{osd.osd_id}", osd.key)
    run([CEPH_OSD, "--mkfs", "-c", str(conf), "--id", str(check_osd_id(osd.osd_id)),
         "--osd-uuid", osd.uuid, "--osd-data", str(data_dir), "--keyring", str(keyring),
         "--no-mon-config", *args], timeout=300)
