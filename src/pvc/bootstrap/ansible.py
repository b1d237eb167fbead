"""Ansible, as the bootstrap daemon runs it on a cluster's freshly installed servers: the
operator's repository as the working directory (its `ansible.cfg`, `hosts` and
group_vars), and an inventory of the daemon's own beside it that says where each server
is on the bootstrap network and who logs in (the deploy user, with the daemon's key).
Everything it prints goes to a log file per cluster; a failure names its last lines.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from pvc.common.errors import BackendError

PLAYBOOK_TIMEOUT = 4 * 3600
ADHOC_TIMEOUT = 1800
REBOOT_TIMEOUT = 1500  # a node's reboot until its ready command succeeds (within ADHOC's)


def write_inventory(path: Path, hosts: dict[str, tuple[str, str]], user: str) -> Path:
    """An inventory with the address (`ansible_host`) and login of each host (its fully
    qualified name as in the repository's `hosts` -> its bootstrap address and the MAC of
    the NIC that has it). The MAC is `pvc_bootstrap_mac`, which the kit's base role keeps
    configured with that address, so the daemon still reaches the server after the
    reboot that follows the playbook."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"all": {"hosts": {
        name: {"ansible_host": address, "ansible_user": user, "pvc_bootstrap_mac": mac}
        for name, (address, mac) in sorted(hosts.items())}}}))
    return path


def _env() -> dict[str, str]:
    # freshly booted servers, often several on one busy host or network, can be slow to
    # answer: a minute for a connection and for sudo, not Ansible's 10 s
    return {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_TIMEOUT": "60"}


def _run(argv: list[str], cwd: Path, log: Path, what: str, timeout: float) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            code = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=out, env=_env(), timeout=timeout,
                                  check=False).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"{what}: {exc}") from exc
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-12:]
        raise BackendError(f"{what} failed (exit {code}); the end of {log}:\n"
                           + "\n".join(tail))


def _common(inventory: Path, repo: Path, key: Path | None) -> list[str]:
    args = ["-i", str(repo / "hosts"), "-i", str(inventory)]
    return args + (["--private-key", str(key)] if key is not None else [])


def playbook(repo: Path, playbook_name: str, cluster: str, inventory: Path,
             key: Path | None, log: Path, extra_vars: dict[str, str]) -> None:
    """Run the repository's playbook on the cluster's group."""
    argv = ["ansible-playbook", *_common(inventory, repo, key), "-l", cluster]
    for name, value in extra_vars.items():
        argv += ["-e", f"{name}={value}"]
    _run([*argv, playbook_name], repo, log, f"ansible-playbook {playbook_name} on {cluster}",
         PLAYBOOK_TIMEOUT)


def adhoc(repo: Path, pattern: str, module: str, module_args: str, inventory: Path,
          key: Path | None, log: Path, what: str) -> None:
    """One module on the hosts matching `pattern`, as root (become)."""
    _run(["ansible", pattern, *_common(inventory, repo, key), "-b", "-m", module, "-a",
          module_args], repo, log, what, ADHOC_TIMEOUT)


def reboot(repo: Path, pattern: str, ready_command: str, inventory: Path, key: Path | None,
           log: Path) -> None:
    """Reboot the hosts matching `pattern` at once (Ansible's reboot module, as root) and
    wait until `ready_command` succeeds on each after its reboot."""
    adhoc(repo, pattern, "ansible.builtin.reboot", json.dumps({
        "msg": "pvcbootstrapd: rebooting the configured node",
        "reboot_timeout": REBOOT_TIMEOUT, "test_command": ready_command}),
        inventory, key, log, f"rebooting {pattern}")
