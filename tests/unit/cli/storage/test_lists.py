"""`pvc storage status|util` and the storage lists: requests with their filters, tables
with realistic figures (and objects whose statistics are missing), raw and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.unit.cli.storage.support import FakeApi, osd, pool, run, volume

CEPH = "  cluster:\n    id:     2f1c\n    health: HEALTH_WARN\n            noout flag(s) set\n"


@pytest.mark.parametrize(("command", "path", "kind"),
                         [("status", "/storage/ceph/status", "status"),
                          ("util", "/storage/ceph/utilization", "utilization")])
def test_status_and_util_print_the_ceph_text(tmp_path: Path, command: str, path: str,
                                             kind: str) -> None:
    api = FakeApi()
    data = {"type": kind, "primary_node": "hv1", "ceph_data": CEPH}
    api.on("GET", path, [data])  # the real server answers with a one-element list
    pretty = run(api, tmp_path, "storage", command)
    assert pretty.exit_code == 0, pretty.output
    assert pretty.stdout == f"Ceph cluster {kind} (primary node hv1)\n\n{CEPH}"
    raw = run(api, tmp_path, "storage", command, "-f", "raw")
    assert raw.stdout == CEPH
    api.on("GET", path, data)  # ... or with the object
    as_json = run(api, tmp_path, "storage", command, "--format", "json")
    assert json.loads(as_json.stdout) == data
    assert api.requests() == [("GET", path, [])] * 3


def test_osd_list_table(tmp_path: Path) -> None:
    api = FakeApi()
    unreported = {"id": "11", "node": "hv4", "device": "/dev/sdc",
                  "db_device": "osd-db/osd-11", "stats": {"node": "hv4"}}
    api.on("GET", "/storage/ceph/osd", [
        osd("10", "hv3", up=0, **{"in": 0}), osd("2", utilization=85.456, rd_ops="0",
                                              wr_data="1.5 MiB"),
        osd("0", "hv2", kb=0, used="0", avail="0", weight=0.00977, reweight=0.5), unreported,
    ])
    result = run(api, tmp_path, "storage", "osd", "list")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/storage/ceph/osd", [])]
    assert result.stdout.splitlines() == [
        "OSDs                               States    Resources                                       Read        Write",
        "ID  Node  Block     DB Block       Up   In     Size  PGs      Wt  ReWt   Used   Free  Util%   OPS  Data  OPS     Data",
        " 0  hv2   /dev/sdb  N/A            Yes  Yes     N/A  129  0.0098   0.5     0B     0B  12.00  1.5K  3.0M   12     512B",
        " 2  hv1   /dev/sdb  N/A            Yes  Yes  100.0G  129  0.0977   1.0  12.0G  88.0G  85.46     0  3.0M   12  1.5 MiB",
        "10  hv3   /dev/sdb  N/A            No   No   100.0G  129  0.0977   1.0  12.0G  88.0G  12.00  1.5K  3.0M   12     512B",
        "11  hv4   /dev/sdc  osd-db/osd-11  N/A  N/A     N/A  N/A     N/A   N/A    N/A    N/A    N/A   N/A   N/A  N/A      N/A",
    ]


def test_osd_list_filters_raw_and_json(tmp_path: Path) -> None:
    api = FakeApi()
    osds = [osd("10"), osd("2")]
    api.on("GET", "/storage/ceph/osd", osds)
    raw = run(api, tmp_path, "storage", "osd", "list", "1", "-f", "raw")
    assert raw.stdout == "2\n10\n"
    pretty_json = run(api, tmp_path, "storage", "osd", "list", "-f", "json-pretty")
    assert json.loads(pretty_json.stdout) == osds and pretty_json.stdout.startswith("[\n  {")
    assert api.requests() == [("GET", "/storage/ceph/osd", [("limit", "1")]),
                              ("GET", "/storage/ceph/osd", [])]


def test_pool_list_table(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/pool", [
        pool("vms", 2, used_percent=0.6543),
        pool(".mgr", 1, used_percent=0.0000123, num_objects_degraded=3, stored_bytes=1536,
             used_bytes=4608, num_objects=2, read_ops=0, read_bytes=0, write_ops="12",
             write_bytes="2048"),
        {"name": "new", "tier": "ssd", "pgs": 32},
    ])
    result = run(api, tmp_path, "storage", "pool", "list", "--format", "pretty")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Pools                    Space                         Objects                          Read          Write",
        " ID  Name  Tier     PGs  Stored   Used  Used%    Free  Count  Clones  Copies  Degraded     OPS  Data  OPS  Data",
        "  1  .mgr  default  128    1.5K   4.5K   0.00  270.0G      2       0    7680         3       0    0B   12  2.0K",
        "N/A  new   ssd       32     N/A    N/A    N/A     N/A    N/A     N/A     N/A       N/A     N/A   N/A  N/A   N/A",
        "  2  vms   default  128   10.0G  30.0G  65.43  270.0G   2560       0    7680         0  123.5K  5.0G  999  1.5K",
    ]
    assert run(api, tmp_path, "storage", "pool", "list", "-f", "raw").stdout == ".mgr\nnew\nvms\n"


def test_volume_list_table_and_filters(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/volume", [
        volume("vms", "web1_sda"), volume("vms", "db1_sda", "1.5T", features=[]),
        volume("backup", "web1_sda", 21474836480), {"name": "imported", "pool": "vms"},
    ])
    result = run(api, tmp_path, "storage", "volume", "list", "sda", "-p", "vms")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/storage/ceph/volume", [("limit", "sda"), ("pool", "vms")])]
    assert result.stdout.splitlines() == [
        "Name      Pool     Size  Objects  Order  Format  Features",
        "web1_sda  backup  20.0G     5120     22       2  layering,exclusive-lock,object-map",
        "db1_sda   vms      1.5T     5120     22       2  N/A",
        "imported  vms       N/A      N/A    N/A     N/A  N/A",
        "web1_sda  vms       20G     5120     22       2  layering,exclusive-lock,object-map",
    ]
    raw = run(api, tmp_path, "storage", "volume", "list", "-f", "raw")
    assert raw.stdout == "backup/web1_sda\nvms/db1_sda\nvms/imported\nvms/web1_sda\n"


def test_snapshot_list_table_and_filters(tmp_path: Path) -> None:
    api = FakeApi()
    snaps = [{"pool": "vms", "volume": "web1_sda", "snapshot": "before-upgrade"},
             {"pool": "vms", "volume": "db1_sda", "snapshot": "nightly"}]
    api.on("GET", "/storage/ceph/snapshot", snaps)
    result = run(api, tmp_path, "storage", "volume", "snapshot", "list", "-p", "vms",
                 "--volume", "web1_sda")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/storage/ceph/snapshot",
                               [("pool", "vms"), ("volume", "web1_sda")])]
    assert result.stdout.splitlines() == [
        "Name            Volume    Pool",
        "nightly         db1_sda   vms",
        "before-upgrade  web1_sda  vms",
    ]
    raw = run(api, tmp_path, "storage", "volume", "snapshot", "list", "night", "-o", "db1_sda",
              "-f", "raw")
    assert api.seen[-1].query == [("limit", "night"), ("volume", "db1_sda")]
    assert raw.stdout == "vms/db1_sda@nightly\nvms/web1_sda@before-upgrade\n"
    as_json = run(api, tmp_path, "storage", "volume", "snapshot", "list", "-f", "json")
    assert json.loads(as_json.stdout) == snaps


def test_empty_lists_show_only_headers(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/volume", [])
    result = run(api, tmp_path, "storage", "volume", "list")
    assert result.exit_code == 0
    assert result.stdout == "Name  Pool  Size  Objects  Order  Format  Features\n"


def test_a_failing_list_exits_with_the_mapped_code(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/volume",
           httpx.Response(404, json={"message": 'Pool "ghost" not found'}))
    result = run(api, tmp_path, "storage", "volume", "list", "-p", "ghost")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == 'Error: Pool "ghost" not found'
    assert result.stdout == ""
