"""`provisioner.create`: build a VM from a profile, on the primary's worker.

Stages, each shown as the task's progress (PVC's order):

  1. load the profile and all it names; the profile's script arguments, then the job's
  2. check: the name is free, a ready node has the memory (+512 MiB), every network
     exists, every pool has room, every filesystem has its mkfs here
  3. load the script (`pvc.provisioner.loader`)
  4. setup()
  5. create(), and define the VM in state `provision` (unless define_vm is false)
  6. prepare()   7. install()   8. cleanup() (also when prepare or install failed)
  9. release the build's volumes and directory; the VM to `start` (start_vm) or `stop`

Volumes are reached as block devices through `pvc.node.storage.mapping` (the kernel RBD
driver where there is one, else qemu-storage-daemon's FUSE export on a loop device).

A failure ends the task with the stage that failed and why. Nothing half-made is kept:
cleanup() runs, every mapping and mount of the build is released, the VM's definition is
removed and so are the volumes the build made (PVC leaves those for the operator to
remove; a VM that never finished building is of no use). The message says what was
removed and anything that could not be.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid as uuidlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pvc.common import vmxml
from pvc.common.errors import BackendError, InvalidArgument, InvalidState, PVCError
from pvc.node.storage import mapping
from pvc.ops.provisioner import checks, macs
from pvc.ops.provisioner import plan as plans
from pvc.ops.storage import upload
from pvc.ops.storage import volumes as volume_ops
from pvc.ops.vm import define as vm_define
from pvc.provisioner import compat, examples, loader
from pvc.provisioner.builder import Runtime, VMBuilder
from pvc.tasks import catalogue, context, progress
from pvc.tasks.registry import is_rerun, register

log = logging.getLogger("pvcworkerd")

STAGES = 9
WORK_ROOT = Path(tempfile.gettempdir())


def vm_data(plan: plans.BuildPlan, vm_name: str, config: Any) -> dict[str, Any]:
    """PVC's `vm_data` of a build."""
    found_macs = checks.check_macs(plan, vm_name)
    storage_net = config.networks["storage"]
    return {
        "profile": plan.profile,
        "script_arguments": dict(plan.arguments),
        "system_details": dict(plan.system),
        "networks": [{"vni": vni, "eth_bridge": f"vmbr{vni}", "mac": found_macs[i]}
                     for i, vni in enumerate(plan.vnis)],
        "volumes": [dict(d) for d in plan.disks],
        "mac_template": plan.mac_template,
        "system_architecture": "x86_64",
        "ceph_monitor_list": [str(storage_net.node_address(n).ip)
                              for n in config.coordinator_nodes],
        "ceph_monitor_port": config.ceph_monitor_port,
        "ceph_monitor_secret": config.ceph_secret_uuid,
        "ceph_monitor_user": upload.ceph_files(config).client,
        "ova_details": plan.ova,
    }


class Build:
    """One build's state: what it made, so a failure can take it away again."""

    def __init__(self, task: Any, vm_name: str, profile: str) -> None:
        self.task = task
        self.vm_name = vm_name
        self.profile = profile
        self.stage = 0
        self.stage_name = "load"
        self.defined_uuid: str | None = None
        self.workdir: Path | None = None
        self.mapper: mapping.FuseLoopMapper | mapping.KernelRbdMapper | None = None
        self.runtime: Runtime | None = None

    def step(self, number: int, name: str, msg: str) -> None:
        self.stage, self.stage_name = number, name
        progress.update(self.task, number - 1, STAGES, msg)

    def report(self, msg: str) -> None:
        progress.update(self.task, max(self.stage - 1, 0), STAGES, msg)

    def make_runtime(self, node: str) -> Runtime:
        store, storage, config = context.store(), context.storage(), context.config()
        safe = config.ceph_safe_utilization
        self.workdir = Path(tempfile.mkdtemp(prefix=f"pvc-provision-{self.vm_name}-",
                                             dir=WORK_ROOT))
        self.mapper = mapping.mapper(upload.ceph_files(config), self.workdir / "maps")
        mapper = self.mapper
        log.info("Build of VM %s maps volumes by %s", self.vm_name, mapper.method)

        def create_volume(pool: str, volume: str, size: int) -> None:
            volume_ops.add(store, storage, pool, volume, f"{size}B", force=True, safe=safe)

        def clone_volume(pool: str, source: str, volume: str) -> None:
            volume_ops.clone(store, storage, pool, source, volume, force=True, safe=safe,
                             linked=True)

        def remove_volume(pool: str, volume: str) -> None:
            mapper.unmap(pool, volume)
            volume_ops.remove(store, storage, pool, volume)

        self.runtime = Runtime(node=node, workdir=self.workdir, report=self.report,
                               create_volume=create_volume, clone_volume=clone_volume,
                               remove_volume=remove_volume, map_volume=mapper.map,
                               unmap_volume=mapper.unmap, store=store,
                               settings={"node": node,
                                         "ceph_config_file": str(config.ceph_config_file),
                                         "ceph_keyring_file": str(config.ceph_keyring_file)})
        return self.runtime

    def release(self) -> list[str]:
        """Unmount and unmap what the build holds, remove its directory; what could not
        be released."""
        left: list[str] = []
        rt, workdir = self.runtime, self.workdir
        if rt is not None:
            for where in reversed(list(rt.mounts)):
                if mapping.unmount(where):
                    rt.mounts.remove(where)
        if self.mapper is not None:
            try:
                self.mapper.unmap_all()
            except PVCError as exc:
                left.append(f"a mapping ({exc})")
        if workdir is not None:
            for where in mapping.mounts_under(workdir):
                mapping.unmount(where, lazy=True)
            if mapping.mounts_under(workdir):  # never delete through a mount
                left.append(f"mounts under {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        return left

    def undo(self) -> tuple[list[str], list[str]]:
        """After a failure: remove the definition and the volumes made; (removed, left)."""
        removed: list[str] = []
        left = self.release()
        store = context.store()
        if self.defined_uuid is not None:
            try:
                vm_define.remove(store, self.defined_uuid)
                removed.append(f'the definition of VM "{self.vm_name}"')
            except PVCError as exc:
                left.append(f'the definition of VM "{self.vm_name}" ({exc})')
        if self.runtime is not None:
            storage = context.storage()
            for pool, volume in reversed(self.runtime.created):
                try:
                    volume_ops.remove(store, storage, pool, volume)
                    removed.append(f"volume {pool}/{volume}")
                except PVCError as exc:
                    left.append(f"volume {pool}/{volume} ({exc})")
        return removed, left


def script_of(plan: plans.BuildPlan) -> tuple[str, str]:
    """The script's name and source: the profile's, or for an OVA profile that names
    none, the `ova` example."""
    if not plan.script and plan.profile_type == "ova":
        return "ova (built in)", (Path(examples.__file__).parent / "ova.py").read_text()
    return plan.script_name, plan.script


def check_request(define_vm: bool, start_vm: bool) -> None:
    if start_vm and not define_vm:
        raise InvalidArgument("A VM that is not defined cannot be started: with "
                              "define_vm false, give start_vm false too")


def _run_stage(build: Build, number: int, name: str, call: Callable[[], Any]) -> Any:
    build.step(number, name, f"Running {name}()")
    return call()


@register(catalogue.PROVISIONER_CREATE)
def create_vm(task: Any, vm_name: str, profile: str, define_vm: bool = True,
              start_vm: bool = True, script_run_args: Sequence[str] = ()) -> dict[str, Any]:
    """Build VM `vm_name` from profile `profile`."""
    check_request(define_vm, start_vm)
    if is_rerun(task):  # not built twice over what the first run left
        progress.fail(task, f'An earlier run of this build of VM "{vm_name}" was cut short '
                            "(its worker died; pvcworkerd cleared its mounts and mappings "
                            "when it started again). It may have left the VM defined in "
                            f"state provision and volumes {vm_name}_*: see `pvc vm info "
                            f"{vm_name}` and `pvc storage volume list {vm_name}_`, remove "
                            "them, and create the VM again", InvalidState)
    build = Build(task, vm_name, profile)
    progress.start(task, STAGES, f'Loading profile "{profile}"')
    store, storage, config = context.store(), context.storage(), context.config()
    plan = plans.load(context.database(), profile, list(script_run_args))
    build.step(2, "check", "Checking the name, memory, networks, pools and filesystems")
    node = checks.check(store, storage, config, plan, vm_name)
    data = vm_data(plan, vm_name, config)
    vm_uuid = str(uuidlib.uuid4())
    builder: VMBuilder | None = None
    try:
        name, source = script_of(plan)
        build.step(3, "load", f'Loading script "{name}"')
        runtime = build.make_runtime(node)
        cls = loader.load(source, name, runtime.workdir / "script")
        builder = cls(vm_name, macs.vm_number(vm_name), vm_uuid, profile, data, runtime)
        compat.set_current(builder)
        _run_stage(build, 4, "setup", builder.setup)
        xml = _run_stage(build, 5, "create", builder.create)
        if not isinstance(xml, str) or not xml.strip():
            raise InvalidArgument("create() returned no libvirt XML")
        if define_vm:
            _define(build, xml, node, plan, vm_uuid)
        _run_stage(build, 6, "prepare", builder.prepare)
        _run_stage(build, 7, "install", builder.install)
        build.step(8, "cleanup", "Running cleanup()")
        builder.cleanup()
        builder = None  # cleanup ran
        build.step(9, "finish", "Releasing the build's volumes")
        left = build.release()
        if left:
            raise BackendError(f"could not release {', '.join(left)}")
    except BaseException as exc:
        _fail(task, build, builder, exc)
    finally:
        compat.set_current(None)
    state = "not defined"
    if define_vm:
        state = vm_define.end_provision(store, vm_uuid, start_vm)
    return progress.finish(task, f'VM "{vm_name}" was built from profile "{profile}" on '
                                 f"{node}" + (f" and is in state {state}" if define_vm
                                              else " (not defined, as asked)") + ".")


def _define(build: Build, xml: str, node: str, plan: plans.BuildPlan, vm_uuid: str) -> None:
    spec = vmxml.parse(xml)
    if spec.uuid != vm_uuid or spec.name != build.vm_name:
        raise InvalidArgument(f"create() returned XML for {spec.name} ({spec.uuid}), not for "
                              f"{build.vm_name} ({vm_uuid}): use self.vm_name and "
                              "self.vm_uuid")
    system = plan.system
    build.report(f'Defining VM "{build.vm_name}" on {node} in state provision')
    vm_define.define(context.store(), context.config(), xml, node=node,
                     limit=system.get("node_limit") or None,
                     selector=system.get("node_selector") or None,
                     autostart=bool(system.get("node_autostart")),
                     migration_method=system.get("migration_method") or None,
                     migration_max_downtime=system.get("migration_max_downtime"),
                     profile=plan.profile, state="provision")
    build.defined_uuid = vm_uuid


def _fail(task: Any, build: Build, builder: VMBuilder | None, exc: BaseException) -> None:
    stage, number = build.stage_name, build.stage
    reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PVCError) else str(exc)
    log.error("Build of VM %s failed in stage %s: %s", build.vm_name, stage, reason)
    cleanup = ""
    if builder is not None and number >= 4:
        build.report("Running cleanup() after the failure")
        try:
            builder.cleanup()
            cleanup = "; cleanup() ran"
        except Exception as err:  # the script's own failure, told, not raised over exc
            cleanup = f"; cleanup() failed too: {err}"
    try:
        removed, left = build.undo()
    except PVCError as err:
        removed, left = [], [f"(could not undo: {err})"]
    msg = (f'Provisioning VM "{build.vm_name}" failed in stage {number}/{STAGES} ({stage}): '
           f"{reason}{cleanup}"
           + (f"; removed {', '.join(removed)}" if removed else "")
           + (f"; left {', '.join(left)}, to remove by hand" if left else ""))
    if isinstance(exc, PVCError):
        progress.fail(task, msg, type(exc))
    progress.fail(task, msg)
