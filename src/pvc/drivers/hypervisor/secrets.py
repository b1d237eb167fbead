"""The libvirt secret that holds the Ceph key QEMU uses for RBD disks (the `<auth>` of a
disk names it by UUID). Every node defines the same secret, so a VM's XML works anywhere.
"""

from __future__ import annotations

import base64
import configparser
import re
import uuid as uuidlib
from pathlib import Path

import libvirt

from pvc.common.errors import BackendError, InvalidArgument
from pvc.drivers.hypervisor.libvirt_driver import Libvirt


def keyring_secret(path: Path, entity: str = "client.admin") -> str:
    """The base64 key of `entity` in a Ceph keyring file."""
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read_string(path.read_text())
    except (OSError, configparser.Error) as exc:
        raise BackendError(f"Cannot read Ceph keyring {path}: {exc}") from exc
    if not parser.has_option(entity, "key"):
        raise BackendError(f"Ceph keyring {path} has no key for {entity}")
    key = parser.get(entity, "key").strip()
    try:
        base64.b64decode(key, validate=True)
    except ValueError as exc:
        raise BackendError(f"The key of {entity} in {path} is not base64") from exc
    return key


def ensure_ceph_secret(lv: Libvirt, secret_uuid: str, key: str,
                       usage: str = "client.admin secret") -> bool:
    """Define the secret (or update its value); True if anything changed."""
    try:
        canonical = str(uuidlib.UUID(secret_uuid))
    except ValueError:
        raise InvalidArgument(f"Invalid ceph.secret_uuid {secret_uuid!r}") from None
    if not re.fullmatch(r"[A-Za-z0-9 ._-]{1,64}", usage):
        raise InvalidArgument(f"Invalid secret usage name {usage!r}")
    conn = lv.connection()
    try:
        try:
            secret = conn.secretLookupByUUIDString(canonical)
        except libvirt.libvirtError:
            xml = (f"<secret ephemeral='no' private='yes'><uuid>{canonical}</uuid>"
                   f"<usage type='ceph'><name>{usage}</name></usage></secret>")
            secret = conn.secretDefineXML(xml)
        raw = base64.b64decode(key)
        try:
            if secret.value() == raw:
                return False
        except libvirt.libvirtError:
            pass  # no value yet
        secret.setValue(raw)
        return True
    except libvirt.libvirtError as exc:
        raise BackendError(f"Cannot define the Ceph secret in libvirt: {exc}") from exc
