"""A dev node's power: on starts its PID 1 (nodeinit) inside fresh mount/UTS/PID namespaces
joined to its network namespace; off kills that PID 1, which ends every process of the
node at once, and takes its links down and its addresses away.

This is what each node's BMC runs (`python -m pvc.devcluster.node.power STATE_DIR NODE on|off|
status`), so fencing through ipmitool acts exactly on these functions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pvc.common.errors import BackendError, PVCError
from pvc.devcluster import network as netsetup
from pvc.devcluster import procs
from pvc.devcluster.layout import ClusterSpec, load_spec

NSINIT = "pvc.devcluster.node.init"


def init_pid(spec: ClusterSpec, node: str) -> int | None:
    """The node's PID 1 (as the host sees it) if it is alive and really ours."""
    try:
        pid = int(spec.init_pid_file(node).read_text())
    except (OSError, ValueError):
        return None
    cmd = procs.cmdline(pid)
    if NSINIT in cmd and node in cmd and str(spec.state_dir) in cmd and procs.state(pid) != "Z":
        return pid
    return None


def status(spec: ClusterSpec, node: str) -> str:
    return "on" if init_pid(spec, node) else "off"


def on(spec: ClusterSpec, node: str) -> int:
    pid = init_pid(spec, node)
    if pid:
        return pid
    netsetup.node_links(spec, node, up=True)
    log = open(spec.node_dir(node) / "nodeinit.log", "ab")  # noqa: SIM115 - handed over
    proc = subprocess.Popen(
        [netsetup.IP, "netns", "exec", spec.netns(node),
         "/usr/bin/unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
         "--propagation", "private", "--",
         sys.executable, "-m", NSINIT, str(spec.state_dir), node],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            kids = children.read_text().split()
        except OSError:
            kids = []
        if kids and NSINIT in procs.cmdline(int(kids[0])):
            spec.init_pid_file(node).write_text(kids[0])
            return int(kids[0])
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise BackendError(f"Node {node} did not power on; see {spec.node_dir(node)}/nodeinit.log")


def off(spec: ClusterSpec, node: str) -> None:
    """Power cut: links down and the whole PID namespace killed, in that order, at once."""
    pid = init_pid(spec, node)
    netsetup.node_links(spec, node, up=False)
    if pid:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and procs.state(pid) not in (None, "X", "Z"):
            time.sleep(0.01)
    # anything still in the namespace (e.g. entered with `ip netns exec`) goes too
    for other in netsetup.netns_pids(spec.netns(node)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(other, signal.SIGKILL)
    spec.init_pid_file(node).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[2] not in ("on", "off", "status"):
        print("usage: python -m pvc.devcluster.node.power STATE_DIR NODE on|off|status",
              file=sys.stderr)
        return 2
    try:
        spec = load_spec(Path(args[0]))
        spec.node_index(args[1])
        if args[2] == "on":
            on(spec, args[1])
        elif args[2] == "off":
            off(spec, args[1])
        else:
            print(status(spec, args[1]))
    except PVCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def inside(spec: ClusterSpec, node: str, command: list[str]) -> list[str]:
    """The command line that runs `command` inside a powered-on node (its mounts, hostname,
    network and processes)."""
    pid = init_pid(spec, node)
    if pid is None:
        raise BackendError(f"Node {node} is powered off")
    return ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--", *command]
