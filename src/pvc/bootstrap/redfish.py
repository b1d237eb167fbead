"""A Redfish client for what the bootstrap daemon asks of a server's BMC: what the system
is (vendor, model, serial, health, NICs with their MACs, drives), power, the identify
LED, BIOS and manager settings, a RAID-1 system volume, and a one-time boot from the
network.

HTTP basic authentication over the BMC's address; BMCs often have self-signed
certificates, so HTTPS is not verified (the bootstrap network is a private one).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from pvc.common.errors import BackendError, InvalidArgument
from pvc.installer import answers

log = logging.getLogger("pvcbootstrapd")
TIMEOUT = 20.0
POWER_WAIT = 60.0  # a BMC may take its time to apply a power change
VOLUME_NAME = "pvc-system"  # the RAID-1 volume the daemon makes (and finds again)
VOLUME_WAIT = 600.0  # some BMCs make a volume through a job of their own


@dataclass(frozen=True)
class Drive:
    """A drive as the BMC lists it (Storage's Drives, with the controller and the link
    a RAID volume names them by; or SimpleStorage's Devices, which have no id of their
    own: their name serves), or the volume the daemon made of several."""

    id: str
    model: str
    capacity_bytes: int
    controller: str = ""  # the Storage resource it is on (none from SimpleStorage)
    link: str = ""  # its own resource

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "capacity_bytes": self.capacity_bytes,
                **({"controller": self.controller} if self.controller else {}),
                **({"link": self.link} if self.link else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Drive:
        return cls(str(data["id"]), str(data.get("model") or ""),
                   int(data.get("capacity_bytes") or 0), str(data.get("controller") or ""),
                   str(data.get("link") or ""))


@dataclass(frozen=True)
class SystemFacts:
    manufacturer: str
    model: str
    sku: str
    serial: str
    health: str
    power: str
    macs: tuple[str, ...] = field(default_factory=tuple)  # the NICs', in the BMC's order
    drives: tuple[Drive, ...] = field(default_factory=tuple)  # in the BMC's order

    def as_dict(self) -> dict[str, Any]:
        return {"manufacturer": self.manufacturer, "model": self.model, "sku": self.sku,
                "serial": self.serial, "health": self.health, "macs": list(self.macs),
                "drives": [d.as_dict() for d in self.drives]}


class Redfish:
    def __init__(self, base: str, username: str, password: str,
                 timeout: float = TIMEOUT) -> None:
        self.base = base.rstrip("/")
        self._http = httpx.Client(auth=(username, password), timeout=timeout, verify=False,
                                  headers={"Accept": "application/json"})
        self._system: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Redfish:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- plumbing ---

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        url = path if path.startswith("http") else self.base + path
        try:
            answer = self._http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"Redfish {method} {url}: {exc}") from exc
        if answer.status_code >= 400:
            detail = answer.text[:300].replace("\n", " ")
            raise BackendError(f"Redfish {method} {url}: HTTP {answer.status_code} {detail}")
        if not answer.content:
            return {}
        try:
            data: dict[str, Any] = answer.json()
        except ValueError as exc:
            raise BackendError(f"Redfish {method} {url}: not JSON") from exc
        return data

    def _members(self, path: str) -> list[str]:
        return [m["@odata.id"] for m in self._call("GET", path).get("Members", [])]

    @property
    def system(self) -> str:
        """The path of the (first) computer system of this BMC."""
        if self._system is None:
            members = self._members("/redfish/v1/Systems")
            if not members:
                raise BackendError(f"Redfish {self.base}: the BMC lists no system")
            self._system = sorted(members)[0]
        return self._system

    # --- what is asked ---

    def facts(self) -> SystemFacts:
        data = self._call("GET", self.system)
        macs: list[str] = []
        link = data.get("EthernetInterfaces", {}).get("@odata.id")
        if link:
            for member in sorted(self._members(link)):
                mac = str(self._call("GET", member).get("MACAddress") or "").lower()
                if mac:
                    macs.append(mac)
        return SystemFacts(
            manufacturer=str(data.get("Manufacturer") or ""), model=str(data.get("Model") or ""),
            sku=str(data.get("SKU") or ""), serial=str(data.get("SerialNumber") or ""),
            health=str((data.get("Status") or {}).get("Health") or ""),
            power=str(data.get("PowerState") or ""), macs=tuple(macs),
            drives=self._drives(data))

    def _drives(self, system: dict[str, Any]) -> tuple[Drive, ...]:
        """The system's drives: from its Storage controllers' Drives, or, where a BMC
        lists none there, from SimpleStorage's Devices. Many BMCs link both and answer
        only one (an error for the other): a collection that cannot be read lists none,
        and a system disk named by a drive id then says which drives there are."""
        found: list[Drive] = []
        storage = (system.get("Storage") or {}).get("@odata.id")
        simple = (system.get("SimpleStorage") or {}).get("@odata.id")
        try:
            for controller in sorted(self._members(storage)) if storage else []:
                for link in self._call("GET", controller).get("Drives") or []:
                    drive = self._call("GET", link["@odata.id"])
                    found.append(Drive(str(drive.get("Id") or link["@odata.id"]),
                                       str(drive.get("Model") or ""),
                                       int(drive.get("CapacityBytes") or 0), controller,
                                       link["@odata.id"]))
        except BackendError as exc:
            log.info("%s: no drives from Storage: %s", self.base, exc.message)
        try:
            for controller in sorted(self._members(simple)) if simple and not found else []:
                for device in self._call("GET", controller).get("Devices") or []:
                    if device.get("Name"):
                        found.append(Drive(str(device["Name"]), str(device.get("Model") or ""),
                                           int(device.get("CapacityBytes") or 0)))
        except BackendError as exc:
            log.info("%s: no drives from SimpleStorage: %s", self.base, exc.message)
        return tuple(found)

    def _volumes_link(self, controller: str) -> str:
        link = (self._call("GET", controller).get("Volumes") or {}).get("@odata.id")
        return str(link or f"{controller}/Volumes")

    def volumes(self, controller: str) -> list[dict[str, Any]]:
        """The volumes of a Storage controller, each as the BMC describes it."""
        return [self._call("GET", m) for m in self._members(self._volumes_link(controller))]

    def create_volume(self, controller: str, body: dict[str, Any]) -> None:
        self._call("POST", self._volumes_link(controller), body)

    def power_state(self) -> str:
        return str(self._call("GET", self.system).get("PowerState") or "")

    def reset(self, kind: str) -> None:
        """ComputerSystem.Reset: On, ForceOff, GracefulShutdown, ForceRestart..."""
        self._call("POST", f"{self.system}/Actions/ComputerSystem.Reset", {"ResetType": kind})

    def power(self, on: bool, wait: float = POWER_WAIT) -> None:
        """Power the system on or off (hard), and wait until the BMC says it is."""
        wanted = "On" if on else "Off"
        if self.power_state() == wanted:
            return
        self.reset("On" if on else "ForceOff")
        deadline = time.monotonic() + wait
        while (state := self.power_state()) != wanted:
            if time.monotonic() > deadline:
                raise BackendError(f"Redfish {self.base}: power still {state!r} {wait:.0f} s "
                                   f"after asking for {wanted}")
            time.sleep(1)

    def indicator(self, lit: bool) -> None:
        self._call("PATCH", self.system, {"IndicatorLED": "Lit" if lit else "Off"})

    def boot_once(self, target: str) -> None:
        """The next boot from `target` (Pxe, Hdd, Cd), then the usual order again."""
        self._call("PATCH", self.system, {"Boot": {"BootSourceOverrideTarget": target,
                                                   "BootSourceOverrideEnabled": "Once"}})

    def set_bios(self, attributes: dict[str, Any]) -> None:
        if not attributes:
            return
        bios = self._call("GET", self.system).get("Bios", {}).get("@odata.id")
        if not bios:
            raise BackendError(f"Redfish {self.base}: the system has no BIOS resource")
        settings = self._call("GET", bios).get("@Redfish.Settings", {}).get(
            "SettingsObject", {}).get("@odata.id") or f"{bios}/Settings"
        self._call("PATCH", settings, {"Attributes": attributes})

    def set_manager(self, settings: dict[str, Any]) -> None:
        """PATCH the system's (first) manager with these properties."""
        if not settings:
            return
        links = self._call("GET", self.system).get("Links", {}).get("ManagedBy") or []
        managers = [m["@odata.id"] for m in links] or self._members("/redfish/v1/Managers")
        if not managers:
            raise BackendError(f"Redfish {self.base}: no manager to apply settings to")
        self._call("PATCH", sorted(managers)[0], settings)


@dataclass(frozen=True)
class Prepared:
    facts: SystemFacts
    nic_mac: str  # the NIC it boots from
    disk: answers.DiskChoice  # the installer's system disk
    volume: Drive | None = None  # the RAID volume made for it


def prepare_install(bmc: Redfish, bios: dict[str, Any], manager: dict[str, Any],
                    system_disks: tuple[str, ...], nic_mac: str = "") -> Prepared:
    """Make a server ready to install through its BMC: off, its LED lit (so it can be
    found in the rack), its RAID-1 system volume made (several system disks), its
    settings applied, set to boot from the network once, and on. Returns the facts read,
    the MAC of the NIC it boots from (`nic_mac` if given: it must be one of the
    system's; else its first NIC), the volume and its system disk for the installer. A
    NIC or a disk it does not have stops it before any setting changes."""
    bmc.power(on=False)
    bmc.indicator(lit=True)
    facts = bmc.facts()
    if nic_mac and nic_mac not in facts.macs:
        raise BackendError(f"the system's NICs are {', '.join(facts.macs) or 'none'}; "
                           f"install mac {nic_mac} is not one of them")
    if not nic_mac and not facts.macs:
        raise BackendError("the BMC lists no NIC to boot from")
    if len(system_disks) > 1:
        volume: Drive | None = raid_volume(bmc, system_disks, list(facts.drives))
    else:
        volume = None
    disk = install_disk(system_disks, list(facts.drives), volume)
    bmc.set_bios(bios)
    bmc.set_manager(manager)
    bmc.boot_once("Pxe")
    bmc.power(on=True)
    return Prepared(facts, nic_mac or facts.macs[0], disk, volume)


def _drive(drive_id: str, drives: list[Drive]) -> Drive:
    drive = next((d for d in drives if d.id == drive_id), None)
    if drive is None:
        listed = ", ".join(f"{d.id} ({d.capacity_bytes / 1000**3:.1f} GB)" for d in drives)
        raise InvalidArgument(f"system disk {drive_id!r} is not a drive the BMC lists "
                              f"(drives: {listed or 'none'})")
    return drive


def raid_volume(bmc: Redfish, drive_ids: tuple[str, ...], drives: list[Drive]) -> Drive:
    """The RAID-1 volume of these drives for the system, made through the BMC (as PVC's
    bootstrap does), or found again by its name (a daemon that prepares the server again
    makes no second one). The drives must be listed under one Storage controller, each
    with a size; the volume is the size of the smallest."""
    chosen = [_drive(i, drives) for i in drive_ids]
    for drive in chosen:
        if not drive.controller or not drive.link:
            raise InvalidArgument(f"drive {drive.id!r} is not listed under a Storage "
                                  "controller, so no RAID volume can be made of it")
        if drive.capacity_bytes <= 0:
            raise InvalidArgument(f"the BMC gives no size for drive {drive.id!r}")
    controllers = sorted({d.controller for d in chosen})
    if len(controllers) != 1:
        raise InvalidArgument(f"drives {', '.join(drive_ids)} are on different storage "
                              f"controllers ({', '.join(controllers)}): a RAID volume is "
                              "made by one")
    controller, size = controllers[0], min(d.capacity_bytes for d in chosen)

    def made() -> dict[str, Any] | None:
        return next((v for v in bmc.volumes(controller) if v.get("Name") == VOLUME_NAME),
                    None)

    volume = made()
    if volume is None:
        log.info("%s: making RAID-1 volume %s of %s", bmc.base, VOLUME_NAME,
                 ", ".join(drive_ids))
        bmc.create_volume(controller, {
            "Name": VOLUME_NAME, "RAIDType": "RAID1", "VolumeType": "Mirrored",
            "CapacityBytes": size, "Links": {"Drives": [{"@odata.id": d.link}
                                                        for d in chosen]}})
        deadline = time.monotonic() + VOLUME_WAIT
        while (volume := made()) is None:
            if time.monotonic() > deadline:
                raise BackendError(f"Redfish {bmc.base}: volume {VOLUME_NAME} is not listed "
                                   f"{VOLUME_WAIT:.0f} s after it was asked for")
            time.sleep(5)
    return Drive(str(volume.get("Id") or VOLUME_NAME), "",
                 int(volume.get("CapacityBytes") or size), controller,
                 str(volume.get("@odata.id") or ""))


def install_disk(system_disks: tuple[str, ...], drives: list[Drive],
                 volume: Drive | None = None) -> answers.DiskChoice:
    """The installer's disk for a node's system_disks: a path or a detect: rule as
    given; a Redfish drive id as the detect: rule that picks that drive by its model and
    size (drives alike in both are interchangeable; among them the rule takes the one at
    the drive's place in the BMC's order); several drive ids as the rule that picks
    their RAID `volume` by its size (what the system sees of a RAID controller's volume
    has no model a BMC tells)."""
    if len(system_disks) > 1:
        if volume is None:
            raise InvalidArgument(f"the RAID volume of {', '.join(system_disks)} is not "
                                  "made yet")
        return answers.DiskChoice(size_bytes=volume.capacity_bytes)
    system_disk = system_disks[0]
    if system_disk.startswith(("/", "detect:")):
        return answers.disk(system_disk)
    drive = _drive(system_disk, drives)
    if drive.capacity_bytes <= 0:
        raise InvalidArgument(f"the BMC gives no size for drive {drive.id!r}: name the "
                              "system disk by a path or a detect: rule")
    model = _kernel_model(drive.model)
    alike = [d for d in drives if model.lower() in d.model.lower()
             and abs(d.capacity_bytes - drive.capacity_bytes) <= drive.capacity_bytes * 0.1]
    return answers.DiskChoice(model=model, size_bytes=drive.capacity_bytes,
                              index=alike.index(drive))


def _kernel_model(model: str) -> str:
    """The part of a BMC's drive model the installer can count on finding in the
    kernel's: SCSI and SATA disks show only the first 16 characters there. A model with
    characters a rule cannot hold is left out (the size alone picks)."""
    text = model.strip()[:16].strip()
    return text if re.fullmatch(r"[A-Za-z0-9 ._-]*", text) else ""


def boot_installed(bmc: Redfish) -> None:
    """After the install: the next boot from the disk, by a power cycle (the system is
    written and unmounted when the installer says `installed`). Some BMCs keep a
    one-time network boot for good (emulators among them), and a reset keeps the old
    boot order: a cold start does not."""
    bmc.boot_once("Hdd")
    bmc.power(on=False)
    bmc.power(on=True)
