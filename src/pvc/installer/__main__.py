"""`/install.sh` on the installer ISO: ask the questions (or read the answer file that
`pvcinstall.answers=<path or URL>` on the kernel command line, or `--answers`, names),
check them against this machine, show what will be done, install and reboot.

`^C` at any time stops it and leaves the root shell; `/install.sh` starts it again.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pvc.common.errors import PVCError
from pvc.installer import answers as ans
from pvc.installer import machine
from pvc.installer.answers import AnswerError, Answers
from pvc.installer.install import checkin, install

CMDLINE_KEY = "pvcinstall.answers"
ANSWERS_LABEL = "PVCANSWERS"  # a drive (e.g. a USB stick) with answers.txt on it
ANSWERS_MOUNT = Path("/run/pvc-answers")
LOCK = Path("/run/pvc-installer.lock")

T = TypeVar("T")


def from_cmdline(cmdline: str) -> str:
    """The answer file named on the kernel command line ("" if none)."""
    for word in cmdline.split():
        key, _, value = word.partition("=")
        if key == CMDLINE_KEY:
            return value
    return ""


def answers_drive() -> str:
    """answers.txt on a drive labelled PVCANSWERS, mounted read-only ("" if none)."""
    found = subprocess.run(["blkid", "--label", ANSWERS_LABEL], capture_output=True,
                           text=True, check=False).stdout.strip()
    if not found:
        return ""
    ANSWERS_MOUNT.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(ANSWERS_MOUNT):
        subprocess.run(["mount", "-o", "ro", found, str(ANSWERS_MOUNT)], check=True)
    return str(ANSWERS_MOUNT / "answers.txt")


def load(source: str) -> Answers:
    """An answer file from a path or an http(s) URL."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=30) as response:
                text = response.read(100_000).decode()
        else:
            text = Path(source).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswerError(f"answer file {source}: {exc}") from exc
    return ans.parse(text, f"answer file {source}")


def ask(question: str, check: Callable[[str], T], default: str = "") -> T:
    """Ask until the answer passes `check`."""
    while True:
        shown = f" [{default}]" if default else ""
        value = input(f"{question}{shown}: ").strip() or default
        try:
            return check(value)
        except AnswerError as exc:
            print(f"  {exc.message}")


def interactive() -> Answers:
    print("PVC node installer. Answer each question (^C for a shell; /install.sh restarts).\n")
    disks = machine.disks()
    print("Disks: " + ", ".join(f"{d.path} ({d.model or 'no model'}, "
                                 f"{d.size / 1000**3:.1f} GB)" for d in disks))
    nics = machine.nics()
    print("Interfaces: " + ", ".join(f"{n.name} ({n.mac})" for n in nics) + "\n")
    values: dict[str, list[str]] = {}

    def keep(key: str, check: Callable[[str], object], question: str,
             default: str = "") -> None:
        value = ask(question, lambda v: (check(v), v)[1], default)
        values[key] = [value]

    keep("hostname", ans.hostname, "Hostname (fully qualified, e.g. hv1.example.net)")
    keep("disk", lambda v: machine.pick_disk(ans.disk(v), disks),
         "Target disk (a path, or detect:<model>:<size>:<index>); it is erased",
         disks[0].path if len(disks) == 1 else "")
    keep("interface", lambda v: machine.pick_nic(ans.interface(v), nics),
         "Network interface (name or MAC)", nics[0].name if len(nics) == 1 else "")
    keep("vlan", ans.vlan, "VLAN id (blank for none)")
    keep("address", ans.address, "Address with prefix (e.g. 10.0.0.11/24), or dhcp", "dhcp")
    if values["address"][0] != "dhcp":
        keep("gateway", lambda v: ans.ip("gateway", v), "Gateway")
        keep("nameserver", lambda v: ans.ip("nameserver", v), "Nameserver",
             values["gateway"][0])
    keep("deploy_user", ans.deploy_user, "Deploy user", ans.DEFAULT_USER)
    keep("ssh_keys_url", lambda v: ans.url("ssh_keys_url", v) if v else "",
         "URL of the deploy user's authorized_keys (blank to paste a key)")
    if not values["ssh_keys_url"][0]:
        keep("ssh_key", ans.ssh_key, "The deploy user's SSH public key")
    keep("mirror", lambda v: ans.url("mirror", v), "Debian mirror", ans.DEFAULT_MIRROR)
    keep("filesystem", ans.filesystem, "Root filesystem (ext4 or xfs)", "ext4")
    extra = ask("Extra packages (blank for none)",
                lambda v: [ans.package(p) for p in v.split()])
    values["package"] = extra
    return ans.build({k: v for k, v in values.items() if any(x.strip() for x in v)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install.sh", description=__doc__)
    parser.add_argument("--answers", help="an answer file (path or http URL)")
    parser.add_argument("--yes", action="store_true", help="install without asking to")
    parser.add_argument("--no-reboot", action="store_true", help="stay up when done")
    parser.add_argument("--auto", action="store_true",
                        help="unattended if an answer file is found, else do nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("\nInstaller stopped. /install.sh starts it again.")
        return 130


def _main(args: argparse.Namespace) -> int:
    source = args.answers or from_cmdline(Path("/proc/cmdline").read_text())
    if not source and args.auto:
        source = answers_drive()
        if not source:
            return 0  # no answer file: the installer asks on the consoles
    unattended = bool(source)
    try:
        answers = load(source) if source else interactive()
        target = machine.check(answers, machine.disks(), machine.nics())
    except PVCError as exc:
        print(f"PVC-INSTALL-REFUSED: {exc.message}", flush=True)
        print("Nothing was written to any disk.")
        return 2
    print("\nThe installer will:")
    for label, value in answers.summary():
        print(f"  {label + ':':<22}{value}")
    print(f"  {'Disk found:':<22}{target.disk.path} ({target.disk.size / 1000**3:.1f} GB), "
          f"interface {target.nic.name} ({target.nic.mac})\n")
    if not (unattended or args.yes) and input(
            f"Erase {target.disk.path} and install? [y/N]: ").strip().lower() != "y":
        print("Nothing was done. /install.sh starts the installer again.")
        return 1
    # The questions run on every console at once (the screen's and the serial port's,
    # whichever the operator sits at); only the writing is one console's
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print("The installer is installing from another console already; nothing was "
                  "done here.")
            return 1
        try:
            took = install(answers, target, lambda msg: print(msg, flush=True))
        except PVCError as exc:
            print(f"PVC-INSTALL-FAILED: {exc.message}", flush=True)
            return 1
        print(f"PVC-INSTALL-DONE in {took:.0f} s: {answers.hostname} on "
              f"{target.disk.path}", flush=True)
        if args.no_reboot:
            return 0
        checkin(answers, target.nic.mac, "rebooting")
        subprocess.run(["systemctl", "reboot"], check=False)
        return 0


if __name__ == "__main__":
    sys.exit(main())
