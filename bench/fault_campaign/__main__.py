"""A fault campaign: many random faults in a row on a 3-node development cluster running
tiny VMs with RBD disks, and after each one a check that the cluster healed itself.

Each round a seeded RNG (`--seed`) picks a fault kind and a victim node; the kinds are
dealt like a shuffled deck, so every kind comes once in each run of eleven rounds:

- `power-off`: the node's power is cut through its BMC (ipmitool). The cluster fences it
  (its fencer powers it off and on again through the BMC) and restarts its VMs on the
  survivors; the node boots into `run` but stays `flushed`, and the campaign runs
  `pvc node ready` (the one operator action allowed), which brings its VMs back.
- `pvcnoded-kill`: `pvc-dev service hvN pvcnoded kill` (SIGKILL). The dev cluster's
  nodeinit deliberately does not restart pvcnoded (so a crashed daemon is visible), but a
  real node runs it under systemd with `Restart=on-failure`; the campaign stands in for
  systemd: once nodeinit reports the daemon gone it waits `RESTART_SEC` (1 s, nodeinit's
  own restart delay for the infrastructure services) and runs
  `pvc-dev service hvN pvcnoded start`. The node's QEMUs survive.
- `zookeeper-kill` and `libvirtd-kill`: the node's ZooKeeper server or libvirtd process is
  SIGKILLed directly (found in the node's PID namespace), as a crash would end it.
  nodeinit restarts both after 1 s. (`pvc-dev service ... kill` would mark the service
  unwanted, i.e. an operator's stop, and nodeinit would then leave it down.) QEMUs survive
  a libvirtd crash; the restarted libvirtd reconnects to them.
- `cut-off`: `pvc-dev link hvN cluster down`, held 2-20 s (below, around and beyond the
  self-fence and fence thresholds), then `up`. The node keeps its storage network. A long
  cut gets it fenced (power-cycled, which also plugs its links back): then `node ready`.
- `pvcworkerd-kill`, `ceph-mon-kill`: the node's task worker (with its pool) or Ceph
  monitor SIGKILLed; nodeinit restarts them.
- `broker-kill`: the Redis master (whichever coordinator the Sentinels name, not the
  drawn node) SIGKILLed; nodeinit restarts it, as the replica of a new master if the
  Sentinels failed over meanwhile.
- `pvcapid-kill`: the primary's API SIGKILLed; the primary's daemon starts it again.
- `loaded-power-off`: a power-off while every CPU of the host is saturated (stress-ng, four
  workers a core, for 45 s from the fault).
- `two-faults`: two different light faults (the kills above but the broker's and the API's;
  never two ZooKeeper kills) on two different nodes, one right after the other.

A background sampler asks every node's libvirt directly (through its unix socket, which
a cut cluster link does not affect; only running domains, so a live migration's paused
receiving side does not count) about five times a second which VMs run. A VM seen
running on two nodes is re-checked at once, asking the nodes one after the other in both
orders: a live migration hands over from a paused source, so a VM that shows running on
both nodes in both orders really ran twice.

After each fault the campaign waits (at most `--settle` seconds) until: every VM record
is `start` and the VM runs on exactly one node's libvirt, the one its record names;
every node is `run` and `ready` (after `node ready` where a node was fenced) with a fresh
keepalive (after a pvcnoded kill: one the restarted daemon wrote), with every
service its nodeinit supervises running and its ZooKeeper server serving; there is one
primary; and Ceph is HEALTH_OK with every OSD up and in and the VM pool clean. A round
that does not get there is not recovered: what was still wrong is printed, the campaign
lends hands (powers nodes on, plugs links, starts pvcnoded, starts stopped VMs, readies
nodes) and counts that round as needing hands; if even that does not heal the cluster,
the campaign stops. VMs lost (running nowhere at the end of the settle time, or their
record gone), double runs, rounds that needed hands and faults that could not be injected
(e.g. a BMC that answers "off" for a node that still runs) are counted per fault kind; the
exit status is non-zero on any of them, and each node's logs are then copied out (to
`--log-dir`) before the cluster is removed.

Run: sudo .venv/bin/python -m bench.fault_campaign [--faults 50] [--seed 1] [--settle 300]
(`--faults 5` for a quick check). Uses its own cluster `pvccamp` (prefix ck, subnet 70).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import say
from bench.fault_campaign.faults import inject, stop_load
from bench.fault_campaign.health import Observer, lend_hands, settle
from bench.fault_campaign.outside import Api, Cli, _libvirt_event_loop
from bench.fault_campaign.report import Round, Tally, table
from bench.fault_campaign.sampler import Sampler
from bench.fault_campaign.settings import KINDS, POOL, campaign_spec
from pvc.common.errors import BackendError
from pvc.devcluster import cluster, demo
from pvc.devcluster.layout import ClusterSpec
from pvc.devcluster.node import power


def make_vms(spec: ClusterSpec, api: Api, count: int) -> dict[str, str]:
    """`count` tiny VMs with an RBD disk each, spread over the nodes; uuid -> name."""
    out = {}
    for i in range(count):
        name = f"camp{i}"
        node = spec.node_names[i % len(spec.node_names)]
        r = api.post("/storage/ceph/volume", volume=f"{name}_disk", pool=POOL, size="16M")
        if r.status_code != 200:
            raise BackendError(f"volume {name}_disk: {r.text}")
        xml = demo.vm_xml(spec, name, disks=[demo.rbd_disk(spec, f"{POOL}/{name}_disk")])
        r = api.client.post("/vm", data={"xml": xml}, params={"node": node})
        if r.status_code != 200:
            raise BackendError(f"define {name}: {r.text}")
        r = api.post(f"/vm/{name}/state", state="start", wait="true")
        if r.status_code != 200:
            raise BackendError(f"start {name}: {r.text}")
    for rec in api.vms() or []:  # every VM of the cluster is watched (the demo VM too)
        out[rec["uuid"]] = rec["name"]
    return out


def save_logs(spec: ClusterSpec, dest: Path) -> None:
    for node in spec.node_names:
        src = spec.node_dir(node) / "var" / "log"
        if src.exists():
            shutil.copytree(src, dest / node, dirs_exist_ok=True,
                            ignore_dangling_symlinks=True)
    say(f"node logs copied to {dest}")


@contextmanager
def campaign_cluster(keep: bool) -> Iterator[ClusterSpec]:
    spec = campaign_spec()
    try:
        spec = cluster.up(spec, timeout=300, say=lambda m: say(f"pvc-dev: {m}"))
        yield spec
    finally:
        if keep:
            say(f"cluster {spec.name} left up (--keep); `pvc-dev down --name {spec.name}`")
        else:
            left = cluster.down(spec)
            say("cluster removed" if not left else f"pvc-dev down left: {left}")


def main() -> int:
    ap = argparse.ArgumentParser(prog="fault_campaign.py",  # as before it became a package
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--faults", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vms", type=int, default=4, help="RBD-disk VMs (plus the demo VM)")
    ap.add_argument("--settle", type=float, default=300,
                    help="seconds a round may take to heal (from the fault)")
    ap.add_argument("--pause", type=float, default=3, help="seconds of calm between rounds")
    ap.add_argument("--log-dir", type=Path, default=None,
                    help="where node logs go on a failure (default /tmp/fault-campaign-SEED)")
    ap.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    args = ap.parse_args()
    _libvirt_event_loop()
    logging.getLogger("kazoo").setLevel(logging.ERROR)  # its reconnects are expected here
    if os.geteuid() != 0:
        say("this needs root: sudo .venv/bin/python -m bench.fault_campaign")
        return 2
    rng = random.Random(args.seed)
    log_dir = args.log_dir or Path(f"/tmp/fault-campaign-{args.seed}")
    tallies = {k: Tally() for k in KINDS}
    rounds: list[Round] = []
    aborted = ""
    deck: list[str] = []
    begun = time.monotonic()
    with campaign_cluster(args.keep) as spec, \
            tempfile.TemporaryDirectory(prefix="pvc-campaign-") as client_dir:
        api = Api(spec)
        cli = Cli(spec, Path(client_dir))
        say(f"making {args.vms} RBD-disk VMs")
        uuids = make_vms(spec, api, args.vms)
        with Sampler(spec, uuids) as sampler:
            obs = Observer(spec, api, sampler)
            rnd0 = Round(0, "setup", "-")
            if not settle(obs, cli, args.settle, rnd0, time.monotonic()):
                aborted = f"the fresh cluster never got healthy: {rnd0.left}"
            for i in range(1, args.faults + 1):
                if aborted:
                    break
                if not deck:  # every kind once per len(KINDS) rounds, in a random order
                    deck = rng.sample(KINDS, len(KINDS))
                kind, node = deck.pop(), rng.choice(spec.node_names)
                rnd = Round(i, kind, node)
                rounds.append(rnd)
                tally = tallies[kind]
                sampler.round = i
                doubles_before = len(sampler.doubles)
                boots = {n: power.init_pid(spec, n) for n in spec.node_names}
                placed = {uuids[u]: nodes for u, nodes in sampler.snapshot().items()}
                say(f"[{i}/{args.faults}] {kind} on {node} (VMs: "
                    + ", ".join(f"{n}@{'+'.join(w) or '-'}" for n, w in placed.items()) + ")")
                t0 = time.monotonic()
                tally.injected += 1
                obs.fresh = {}
                try:
                    rnd.note = inject(spec, kind, node, rng)
                    if kind == "pvcnoded-kill":
                        obs.fresh[node] = time.time()
                except BackendError as exc:
                    rnd.note = f"INJECTION FAILED: {exc}"
                    rnd.injected = False
                    tally.failed += 1
                    say(f"   {rnd.note}")
                rnd.recovered = settle(obs, cli, args.settle, rnd, t0)
                rnd.took = time.monotonic() - t0
                # power-cycled meanwhile (by the cluster's fencer: the campaign only
                # powers nodes on when it lends hands)
                rnd.fenced = [n for n in spec.node_names if boots[n] is not None
                              and power.init_pid(spec, n) != boots[n]]
                if not rnd.recovered:
                    rnd.lost = obs.running_nowhere()
                    say(f"   NOT RECOVERED after {rnd.took:.0f} s: {'; '.join(rnd.left)}")
                    rnd.hands = True
                    lend_hands(spec, obs, cli)
                    after = Round(i, kind, node)
                    if not settle(obs, cli, args.settle, after, time.monotonic()):
                        aborted = (f"round {i} ({kind} on {node}) did not heal even with "
                                   f"hands: {after.left}")
                    names = set(uuids.values())
                    rnd.lost += [n for n in names if n not in {
                        r["name"] for r in (api.vms() or [])} and n not in rnd.lost]
                new_doubles = len({d.uuid for d in sampler.doubles[doubles_before:]})
                tally.doubles += new_doubles
                tally.lost += len(rnd.lost)
                tally.readies += len(rnd.readied)
                tally.fenced += len(rnd.fenced)
                if rnd.recovered and rnd.injected:
                    tally.recovered += 1
                    tally.times.append(rnd.took)
                if rnd.hands:
                    tally.hands += 1
                say(f"   {'healed' if rnd.recovered else 'NOT healed'} after {rnd.took:.1f} s"
                    + (f" ({rnd.note})" if rnd.note else "")
                    + (f"; fenced {','.join(rnd.fenced)}" if rnd.fenced else "")
                    + (f"; readied {','.join(rnd.readied)}" if rnd.readied else "")
                    + (f"; LOST {rnd.lost}" if rnd.lost else "")
                    + (f"; {new_doubles} DOUBLE RUN(S)" if new_doubles else ""))
                time.sleep(args.pause)
            obs.close()
        stop_load()
        failed = bool(aborted or any(t.lost or t.doubles or t.hands or t.failed
                                     for t in tallies.values()))
        if failed:
            save_logs(spec, log_dir)
        api.close()
    print(f"\nFault campaign: seed {args.seed}, {len(rounds)} faults, "
          f"{(time.monotonic() - begun) / 60:.1f} min")
    print(table(tallies, sampler))
    for d in sampler.doubles:
        print(f"DOUBLE RUN: round {d.round}: {uuids[d.uuid]} on {d.nodes} at "
              f"{time.strftime('%H:%M:%S', time.localtime(d.at))}")
    for rnd in rounds:
        if not rnd.recovered or rnd.lost or not rnd.injected:
            print(f"round {rnd.index} {rnd.kind} on {rnd.node} ({rnd.note}): not healed "
                  f"within --settle: {'; '.join(rnd.left)}" + (f"; lost {rnd.lost}"
                                                              if rnd.lost else ""))
    if aborted:
        print(f"ABORTED: {aborted}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
