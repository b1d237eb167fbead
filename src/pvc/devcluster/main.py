"""pvc-dev: a real multi-node PVC cluster on one Linux host, and the project's test runner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from pvc.common.errors import PVCError
from pvc.devcluster import cluster, patroni, router, userconn
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.layout import ClusterSpec, default_root
from pvc.devcluster.node import link as netcut
from pvc.devcluster.node import power
from pvc.drivers.fencing.ipmi import IpmiTool

REPO = Path(__file__).resolve().parents[3]


def _say(msg: str) -> None:
    click.echo(f"pvc-dev: {msg}", err=True)


def _need_root() -> None:
    if os.geteuid() != 0:
        raise click.ClickException("this needs root: run it with sudo")


def _spec(name: str) -> ClusterSpec:
    try:
        return ClusterSpec.load(name)
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Build, drive and test a PVC development cluster on this host."""


@cli.command()
@click.option("--nodes", default=3, show_default=True, help="Number of nodes (hv1..hvN).")
@click.option("--coordinators", default=3, show_default=True, help="How many are coordinators.")
@click.option("--name", default="dev", show_default=True, help="Cluster (and connection) name.")
@click.option("--prefix", default="pd", hidden=True)
@click.option("--subnet", default=77, hidden=True, help="Networks are 10.SUBNET.{0,1,2}.0/24.")
@click.option("--timeout", default=180.0, hidden=True)
def up(nodes: int, coordinators: int, name: str, prefix: str, subnet: int,
       timeout: float) -> None:
    """Build the cluster (idempotent) and wait until it is ready."""
    _need_root()
    try:
        spec = cluster.up(ClusterSpec(name=name, nodes=nodes, coordinators=coordinators,
                                      prefix=prefix, subnet=subnet), timeout, _say)
        path = userconn.write(spec)
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc
    states = cluster.node_states(spec)
    primary = next((n for n, s in states.items() if s["coordinator_state"] == "primary"), "?")
    click.echo(f"""
Cluster "{spec.name}" is up: {spec.nodes} nodes ({', '.join(spec.node_names)}), primary {primary}.
API: {spec.api_url()}  (connection "{spec.name}" saved in {path})

Try:
  .venv/bin/pvc -c {spec.name} node list
  .venv/bin/pvc -c {spec.name} vm list
  .venv/bin/pvc -c {spec.name} vm log demo --follow      # the demo VM's serial console
  .venv/bin/pvc -c {spec.name} vm migrate demo --wait    # live, to another node
  .venv/bin/pvc -c {spec.name} cluster status
  sudo ./pvc-dev exec hv1 -- pvc -c local node info hv1
  sudo ./pvc-dev power {spec.node_names[0]} off     # pull the plug through its BMC
  sudo ./pvc-dev down""")


@cli.command()
@click.option("--name", default="dev", show_default=True)
def down(name: str) -> None:
    """Remove every process, namespace, link, mount and file of the cluster."""
    _need_root()
    try:
        spec = ClusterSpec.load(name)
    except PVCError:
        spec = ClusterSpec(name=name, prefix="pd" if name == "dev" else name[:3])
    left = cluster.down(spec, _say)
    userconn.remove(spec)
    if left:
        raise click.ClickException(f"could not remove: {', '.join(left)}")


@cli.command()
@click.option("--name", default="dev", show_default=True)
def status(name: str) -> None:
    """Power, services and cluster state of every node."""
    spec = _spec(name)
    states = cluster.node_states(spec)
    click.echo(f"Cluster {spec.name}: API {spec.api_url()}, state in {spec.state_dir}")
    click.echo(f"{'node':6} {'power':6} {'bmc':5} {'daemon':8} {'coordinator':12} "
               f"{'domain':8} {'keepalive age':>13}")
    for node in spec.node_names:
        s = states.get(node, {})
        age = s.get("keepalive_age")
        click.echo(
            f"{node:6} {power.status(spec, node):6} "
            f"{'up' if cluster.bmc_pid(spec, node) else 'down':5} "
            f"{s.get('daemon_state') or '-':8} {s.get('coordinator_state') or '-':12} "
            f"{s.get('domain_state') or '-':8} {'-' if age is None else f'{age} s':>13}")
    if any(power.status(spec, c) == "on" for c in spec.coordinator_names):
        click.echo(f"Ceph: {cephdev.health_line(spec) or 'not reachable'}")
        if patroni.available():
            click.echo(f"PostgreSQL: {patroni.status_line(spec) or 'no member answers'}")
    else:
        click.echo("Ceph: every coordinator (mon) is powered off")


@cli.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.option("--name", default="dev", show_default=True)
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name: str, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside NODE (its network, mounts, hostname and processes), or with NODE
    `router`, in the upstream router's network."""
    _need_root()
    spec = _spec(name)
    try:
        if node == "router":
            args = router.command(spec, list(command))
        else:
            args = power.inside(spec, node, list(command))
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    sys.exit(subprocess.call(args, env=env))


@cli.command(name="power")
@click.option("--name", default="dev", show_default=True)
@click.argument("node")
@click.argument("action", type=click.Choice(["on", "off", "status"]))
def power_(name: str, node: str, action: str) -> None:
    """Power NODE on or off, or ask its state, through its BMC with ipmitool."""
    spec = _spec(name)
    try:
        spec.node_index(node)
        bmc = IpmiTool(str(spec.bmc_address(node)), spec.ipmi_username, spec.ipmi_password)
        if action == "on":
            bmc.power_on()
        elif action == "off":
            bmc.power_off()
        state = bmc.power_status()
        # a BMC acknowledges a power on at once; the node then takes a moment to come on
        deadline = time.monotonic() + 15
        while action != "status" and state != action and time.monotonic() < deadline:
            time.sleep(0.2)
            state = bmc.power_status()
        click.echo(f"{node}: power {state}")
        if action != "status" and state != action:
            raise click.ClickException(f"{node} is still {state} after power {action}")
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.option("--name", default="dev", show_default=True)
@click.argument("node")
@click.argument("network", type=click.Choice(["upstream", "cluster", "storage"]))
@click.argument("action", type=click.Choice(["up", "down", "status"]))
def link(name: str, node: str, network: str, action: str) -> None:
    """Pull NODE's cable on NETWORK (down), plug it back (up), or show it: the node keeps
    running, cut off from that network (see pvc.devcluster.node.link)."""
    _need_root()
    spec = _spec(name)
    try:
        now = (netcut.state(spec, node, network) if action == "status"
               else netcut.set_link(spec, node, network, action == "up"))
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{node} {network}: link {now}")


@cli.command()
@click.option("--name", default="dev", show_default=True)
@click.argument("node")
@click.argument("service", type=click.Choice([
    "pvcnoded", "libvirtd", "virtlogd", "zookeeper", "redis", "sentinel", "ceph-mon", "ceph-mgr",
    "ceph-osd", "pvcworkerd"]))
@click.argument("action", type=click.Choice(["start", "stop", "kill", "status"]))
def service(name: str, node: str, service: str, action: str) -> None:
    """Start, stop, SIGKILL or inspect one service of a node."""
    _need_root()
    spec = _spec(name)
    try:
        if service == "ceph-osd":  # run by the node's pvcnoded, not by its init
            svc = cluster.node_service(spec, node, f"ceph-osd@{cephdev.osd_id(spec, node)}",
                                       action)
        else:
            reply = cluster.control(spec, node, {"cmd": action, "service": service})
            if action != "kill":
                reply = cluster.control(spec, node, {"cmd": "status"})
            svc = reply.get("services", {}).get(service, {})
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{node} {service}: " + ("killed" if action == "kill" else
               ("running, pid {}".format(svc.get("pid")) if svc.get("running") else "stopped")))


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=REPO / "dist", show_default=True, help="Where the package goes.")
@click.option("--version", "version", help="Package version (default: PVC's own).")
def package(out: Path, version: str | None) -> None:
    """Build the Debian package of PVC from this checkout (pvc_VERSION_amd64.deb)."""
    from pvc.devcluster import package as debpkg

    try:
        deb = debpkg.build(REPO, out, version)
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(deb))


@cli.command()
@click.argument("action", type=click.Choice(["up", "down"]))
@click.option("--count", default=3, show_default=True, help="How many servers (hv1..hvN).")
def targets(action: str, count: int) -> None:
    """Fresh Debian 12 servers (systemd-nspawn) for trying the Ansible kit, or remove them."""
    from pvc.devcluster.targets import lifecycle, machines
    from pvc.devcluster.targets.layout import TargetSpec

    _need_root()
    try:
        spec = TargetSpec(count=count)
        if action == "down":
            lifecycle.down(spec)
            _say("Targets removed")
            return
        lifecycle.up(spec)
    except PVCError as exc:
        raise click.ClickException(str(exc)) from exc
    for host in spec.hostnames:
        click.echo(f"{host}  upstream {spec.address(host, 'upstream').ip}  cluster "
                   f"{spec.address(host, 'cluster').ip}  storage {spec.address(host, 'storage').ip}")
    click.echo(f"login:  {' '.join(machines.ssh_command(spec, spec.hostnames[0]))}")
    click.echo(f"Debian mirror for them (apt-cacher-ng): {spec.mirror}")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test(pytest_args: tuple[str, ...]) -> None:
    """Run ruff, mypy, the import contracts and every test tier (unit, integration, system,
    deploy, installer)."""
    venv = REPO / ".venv" / "bin"
    steps = [
        ("ruff", [str(venv / "ruff"), "check", "src", "tests", "bench"]),
        ("mypy", [str(venv / "mypy")]),
        # the dependency rules of DESIGN.md ([tool.importlinter] in pyproject.toml)
        ("import contracts", [str(venv / "lint-imports"), "--no-cache"]),
        ("pytest", [str(venv / "python"), "-m", "pytest", *(pytest_args or ("tests",))]),
    ]
    if pytest_args:
        steps = steps[-1:]
    env = {**os.environ, "PVC_DEV_STATE_ROOT": os.environ.get("PVC_DEV_STATE_ROOT",
                                                              str(default_root()))}
    for label, cmd in steps:
        _say(f"{label}: {' '.join(cmd[1:])}")
        rc = subprocess.call(cmd, cwd=REPO, env=env)
        if rc != 0:
            raise click.ClickException(f"{label} failed (exit {rc})")
    _say("all checks passed")


def main() -> None:
    cli(prog_name="pvc-dev")


if __name__ == "__main__":
    main()
