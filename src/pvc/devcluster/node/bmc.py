"""Development-cluster BMCs: one OpenIPMI ``ipmi_sim`` per node, in the host namespace.

Fencing talks to these with plain ipmitool, exactly as to a real server. ``chassis power
off`` runs ``power_command + ["off"]`` (kills the node), ``on`` runs ``+ ["on"]`` and
``status`` asks ``+ ["status"]``; the simulator keeps answering while its node is down.

Notes on what ipmi_sim 1.0.13 (Debian 12, OpenIPMI 2.0.33) needs, found by experiment:

* lan.conf: ``name`` is mandatory. Each ``startlan`` block needs ``addr IP PORT``, a
  ``priv_limit`` and one ``allowed_auths_*`` line per privilege (we allow only md5 for IPMI
  1.5 ``-I lan``). A ``guid`` is required for ``-I lanplus``: without it the RMCP+ session
  never opens. Users are ``user NUM true "name" "password" admin MAXSESSIONS``.
* emu command file: ``mc_setbmc 0x20`` is required (without it ipmi_sim exits), and the
  BMC added with ``mc_add`` must set the chassis bit (0x80) in its device-support byte or
  every chassis command answers "Invalid command".
* Power: ``chassis_control "PROGRAM"`` in lan.conf; ipmi_sim runs it through sh -c as
  ``PROGRAM get power`` and ``PROGRAM set power 0|1`` (also ``set reset 1``,
  ``set shutdown 1`` for soft off). A ``get`` must print one ``NAME:VALUE`` line per name
  asked for, i.e. ``power:1`` or ``power:0``, and exit 0; anything else, or a non-zero exit
  for a ``set``, becomes completion code 0xff ("Unspecified error") at the client.
  ``power cycle`` is ``set power 0``, then polling ``get power`` every second until it
  reads 0, then ``set power 1``. ipmi_sim blocks while the program runs: if it takes
  longer than ipmitool's per-packet timeout, ipmitool resends and the request is run a
  second time, so the hook makes on/off idempotent and power_command should be quick.
* lanplus cipher suites: ipmi_sim speaks suites 0-3 (no SHA-256, so no 17) and does not
  answer "Get Channel Cipher Suites", so ipmitool without ``-C`` waits a full timeout
  before falling back to 3. Clients pass ``-C 3``. Caveat: suite 0 (no authentication)
  cannot be switched off in this ipmi_sim (its per-suite privilege table is not applied),
  so anyone who can reach the port and knows a user name can use the BMC; bind it only to
  loopback or the host-only dev network.
* ``-s STATEDIR`` holds what clients change over IPMI (LAN parameters, users); it lives in
  the workdir and is emptied at every start so lan.conf stays the single truth.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pvc.common.errors import BackendError, InvalidArgument
from pvc.devcluster import procs
from pvc.drivers.fencing.ipmi import IpmiTool, validate_username

IPMI_SIM: Final = "/usr/bin/ipmi_sim"
LAN_CONF: Final = "lan.conf"
EMU_CMD: Final = "emu.cmd"
HOOK: Final = "power-hook"
LOG: Final = "ipmi_sim.log"
STATE_DIR: Final = "state"

_NODE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_PATH_RE: Final = re.compile(r"^/[A-Za-z0-9._/+-]*$")
# Quoted in lan.conf, so no quotes, backslashes, '#' or blanks.
_CONF_PASSWORD_RE: Final = re.compile(r"^[A-Za-z0-9._~!@%^*+=:,/-]{1,16}$")


@dataclass(frozen=True)
class BmcSpec:
    """One node's simulated BMC.

    ``power_command + ["on"|"off"]`` must exit 0 on success; ``+ ["status"]`` prints on
    or off. The hook answers a power on at once and runs it in the background, as a real
    BMC acknowledges the command while the machine boots; on and off never overlap.

    With ``pid_file`` (and ``pid_match``), the power state is read without running
    ``power_command``: on while the pid in that file lives, is no zombie, and has
    ``pid_match`` in its command line. Reads then take milliseconds even on a busy host
    (ipmitool gives a BMC about a second per packet).
    """

    node: str
    address: str
    port: int
    username: str
    password: str
    workdir: Path
    power_command: list[str]
    pid_file: str = ""
    pid_match: str = ""


def _check(spec: BmcSpec) -> Path:
    if not _NODE_RE.match(spec.node):
        raise InvalidArgument(f"invalid node name for a BMC: {spec.node!r}")
    try:
        ipaddress.IPv4Address(spec.address)
    except ValueError:
        raise InvalidArgument(f"invalid BMC address (IPv4 only): {spec.address!r}") from None
    if isinstance(spec.port, bool) or not isinstance(spec.port, int) or not 1 <= spec.port <= 65535:
        raise InvalidArgument(f"invalid BMC port: {spec.port!r}")
    validate_username(spec.username)
    if not _CONF_PASSWORD_RE.match(spec.password):
        raise InvalidArgument("invalid BMC password: 1-16 of letters, digits, ._~!@%^*+=:,/-")
    if not spec.power_command or not all(isinstance(a, str) and a for a in spec.power_command):
        raise InvalidArgument("BMC power_command must be a non-empty list of non-empty strings")
    workdir = Path(spec.workdir).absolute()
    if not _PATH_RE.match(str(workdir)):
        raise InvalidArgument(f"BMC workdir has unsafe characters: {str(workdir)!r}")
    return workdir


def _hook_script(spec: BmcSpec) -> str:
    return f"""#!/bin/sh
# BMC power hook of node {spec.node}, generated by pvc.devcluster.node.bmc; run by ipmi_sim as
#   {HOOK} get NAME...      print NAME:VALUE per name (power:1 / power:0)
#   {HOOK} set NAME VALUE   power 0|1, reset 1, shutdown 1
pc() {{ {shlex.join(spec.power_command)} "$1"; }}
LOCK={shlex.quote(str(Path(spec.workdir).absolute() / "power.lock"))}
PIDFILE={shlex.quote(spec.pid_file)}
MATCH={shlex.quote(spec.pid_match)}
status() {{
    if [ -n "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE" 2>/dev/null) || {{ echo off; return 0; }}
        case $pid in ''|*[!0-9]*) echo off; return 0 ;; esac
        if tr '\\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MATCH" &&
           ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
            echo on
        else
            echo off
        fi
        return 0
    fi
    pc status
}}
now() {{
    s=$(status) || {{ echo "{HOOK}: power status failed" >&2; return 1; }}
    case $(printf '%s' "$s" | tr -d '[:space:]') in
        on) echo 1 ;;
        off) echo 0 ;;
        *) echo "{HOOK}: power status printed '$s', not on/off" >&2; return 1 ;;
    esac
}}
turn() {{  # $1 on|off, $2 its bit; a resent request must not run the action twice
    cur=$(now) || return 1
    [ "$cur" = "$2" ] && return 0
    if [ "$1" = on ]; then
        ( flock 9; pc on ) 9>"$LOCK" </dev/null >/dev/null 2>&1 &
        return 0
    fi
    ( flock 9; pc "$1" >&2 ) 9>"$LOCK" || {{ echo "{HOOK}: power $1 failed" >&2; return 1; }}
}}
op=$1
shift
case $op in
get)
    for name in "$@"; do
        case $name in
            power) v=$(now) || exit 1; echo "power:$v" ;;
            *) echo "{HOOK}: cannot get $name" >&2; exit 1 ;;
        esac
    done ;;
set)
    while [ $# -ge 2 ]; do
        case "$1=$2" in
            power=1) turn on 1 || exit 1 ;;
            power=0|shutdown=1) turn off 0 || exit 1 ;;
            reset=1) {{ turn off 0 && turn on 1; }} || exit 1 ;;
            *) echo "{HOOK}: cannot set $1 to $2" >&2; exit 1 ;;
        esac
        shift 2
    done ;;
*) echo "{HOOK}: unknown request '$op'" >&2; exit 1 ;;
esac
exit 0
"""


def write_config(spec: BmcSpec) -> None:
    """Write lan.conf, emu.cmd and the power hook into ``spec.workdir``."""
    workdir = _check(spec)
    workdir.mkdir(parents=True, exist_ok=True)
    hook = workdir / HOOK
    guid = hashlib.sha256(f"pvc-bmc:{spec.node}".encode()).hexdigest()[:32]
    (workdir / LAN_CONF).write_text(
        f"# ipmi_sim configuration of the BMC of node {spec.node} (pvc.devcluster.node.bmc)\n"
        f'name "pvc-{spec.node}"\n'
        "set_working_mc 0x20\n"
        "startlan 1\n"
        f"  addr {spec.address} {spec.port}\n"
        "  priv_limit admin\n"
        + "".join(f"  allowed_auths_{p} md5\n" for p in ("callback", "user", "operator", "admin"))
        + f"  guid {guid}\n"
        "endlan\n"
        f'chassis_control "{hook}"\n'
        f'user 2 true "{spec.username}" "{spec.password}" admin 10\n'
    )
    (workdir / EMU_CMD).write_text(
        "# the BMC itself: IPMB 0x20, device support 0x9f (includes the chassis device)\n"
        "mc_setbmc 0x20\n"
        "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n"
        "mc_enable 0x20\n"
    )
    hook.write_text(_hook_script(spec))
    hook.chmod(0o755)


def _log_tail(workdir: Path, lines: int = 15) -> str:
    try:
        text = (workdir / LOG).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _udp_bound(address: str, port: int) -> bool:
    """True if something in this network namespace has the UDP address:port bound."""
    want = {ipaddress.IPv4Address(address), ipaddress.IPv4Address("0.0.0.0")}
    try:
        rows = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    for row in rows:
        local = row.split()[1]
        hexaddr, hexport = local.split(":")
        raw = bytes.fromhex(hexaddr)
        addr = ipaddress.IPv4Address(raw[::-1] if sys.byteorder == "little" else raw)
        if int(hexport, 16) == port and addr in want:
            return True
    return False


def start(spec: BmcSpec, timeout: float = 5.0) -> int:
    """Write the config, start ipmi_sim detached, wait until it answers; return its pid."""
    write_config(spec)
    workdir = Path(spec.workdir).absolute()
    if not os.path.exists(IPMI_SIM):
        raise BackendError(f"{IPMI_SIM} is not installed (apt-get install openipmi)")
    if _udp_bound(spec.address, spec.port):
        raise BackendError(f"BMC of {spec.node}: UDP {spec.address}:{spec.port} is in use")
    state = workdir / STATE_DIR
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    argv = [IPMI_SIM, "-c", str(workdir / LAN_CONF), "-f", str(workdir / EMU_CMD)]
    argv += ["-s", str(state), "-n"]
    with open(workdir / LOG, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    what = f"BMC of {spec.node} (ipmi_sim on {spec.address}:{spec.port}, pid {proc.pid})"
    while not _udp_bound(spec.address, spec.port):
        if proc.poll() is not None:
            raise BackendError(f"{what} exited with {proc.returncode}:\n{_log_tail(workdir)}")
        if time.monotonic() > deadline:
            stop(proc.pid)
            raise BackendError(f"{what} did not bind in {timeout} s:\n{_log_tail(workdir)}")
        time.sleep(0.02)
    probe = IpmiTool(spec.address, spec.username, spec.password, spec.port, "lanplus", 1)
    try:
        probe.power_status()
    except BackendError as exc:
        stop(proc.pid)
        raise BackendError(f"{what} does not answer: {exc}\n{_log_tail(workdir)}") from None
    return proc.pid


def _gone(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    return procs.state(pid) in (None, "Z", "X")


def stop(pid: int, timeout: float = 5.0) -> None:
    """Stop the ipmi_sim with this pid (and nothing else); wait until it is gone."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise InvalidArgument(f"invalid pid: {pid!r}")
    if _gone(pid):
        return
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return
    if comm != "ipmi_sim":
        raise InvalidArgument(f"pid {pid} is {comm!r}, not an ipmi_sim")
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.02)
    raise BackendError(f"ipmi_sim pid {pid} did not exit after SIGKILL")
