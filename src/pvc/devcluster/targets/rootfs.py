"""The targets' root filesystems: one debootstrapped Debian 12, copied per target.

The base root is what the installer ISO leaves on a server: a minimal Debian 12 with
systemd, SSH, sudo, Python (for Ansible), ifupdown and a `deploy` user (UID 200) with
sudo. It is built once through the apt cache and kept in pvc-dev's download cache.
Each target gets its own copy with its own hostname, SSH host keys, empty machine-id
(systemd makes one at boot), the upstream interface configured and the key of this
target set authorized for `deploy`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from pathlib import Path

from pvc.devcluster.procs import run
from pvc.devcluster.targets.layout import DEVICES, RELEASE, TargetSpec

PACKAGES = ("systemd-sysv,dbus,openssh-server,python3,iproute2,sudo,libpam-systemd,"
            "ifupdown,ca-certificates")
DEPLOY_UID = 200
TIMEOUT = 1800.0


def base(spec: TargetSpec) -> Path:
    """The base root (built through the apt cache, which must be running)."""
    key = hashlib.sha256(f"{RELEASE}|{PACKAGES}|{DEPLOY_UID}".encode()).hexdigest()[:12]
    directory = spec.cache_dir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{RELEASE}-{key}"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / ".complete").exists():
            return path
        shutil.rmtree(path, ignore_errors=True)
        work = directory / f".{path.name}.{os.getpid()}"
        try:
            run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", RELEASE,
                 str(work), spec.mirror], f"debootstrap {RELEASE}", TIMEOUT)
            run(["chroot", str(work), "groupadd", "--gid", str(DEPLOY_UID), "deploy"],
                "add the deploy group")
            run(["chroot", str(work), "useradd", "--uid", str(DEPLOY_UID), "--gid",
                 str(DEPLOY_UID), "--create-home", "--shell", "/bin/bash", "--groups", "sudo",
                 "deploy"], "add the deploy user")
            (work / "etc/sudoers.d/deploy").write_text("deploy ALL=(ALL) NOPASSWD: ALL\n")
            (work / "etc/sudoers.d/deploy").chmod(0o440)
            for old in (work / "etc/ssh").glob("ssh_host_*"):
                old.unlink()
            shutil.rmtree(work / "var/cache/apt/archives", ignore_errors=True)
            (work / "var/cache/apt/archives/partial").mkdir(parents=True)
            (work / ".complete").touch()
            work.rename(path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return path


def make(spec: TargetSpec, host: str, base_root: Path, public_key: str) -> Path:
    """A fresh root for `host` (an old one is replaced)."""
    root = spec.rootfs(host)
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "-a", "--reflink=auto", str(base_root), str(root)], f"copy the root of {host}")
    (root / ".complete").unlink(missing_ok=True)
    (root / "etc/hostname").write_text(f"{host}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n")
    (root / "etc/machine-id").write_text("")  # empty: systemd makes one (a newline aborts)
    for kind in ("ed25519", "rsa"):
        run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{host}", "-f",
             str(root / f"etc/ssh/ssh_host_{kind}_key")], f"make SSH host keys for {host}")
    ssh = root / "home/deploy/.ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(public_key.strip() + "\n")
    (ssh / "authorized_keys").chmod(0o600)
    for path in (ssh, ssh / "authorized_keys"):
        os.chown(path, DEPLOY_UID, DEPLOY_UID)
    upstream = DEVICES["upstream"]
    (root / "etc/network/interfaces").write_text(
        "source /etc/network/interfaces.d/*\n\n"
        "auto lo\niface lo inet loopback\n\n"
        f"auto {upstream}\niface {upstream} inet static\n"
        f"    address {spec.address(host, 'upstream')}\n")
    return root
