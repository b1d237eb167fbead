"""Where the bootstrap of each node and of each cluster stands.

A node goes forward through `NODE_STAGES` only (a check-in that arrives twice or late
changes nothing); `failed` can be reached from any stage, and a node leaves it only when
the operator resets it. A cluster goes through `CLUSTER_STAGES` once every node is in
`booted-initial`: Ansible, then the hooks.
"""

from __future__ import annotations

from pvc.common.errors import InvalidArgument

FAILED = "failed"
NODE_STAGES = (
    "waiting",            # named in bootstrap.yml; its BMC (or host files) not seen yet
    "characterizing",     # its BMC has a lease: reading the system through Redfish
    "pxe-booting",        # set to boot from the network once and powered on
    "installing",         # the installer checked in and is writing the disk
    "installed",          # the installer finished and reboots into the disk
    "booted-initial",     # the installed system's first boot checked in
    "booted-configured",  # Ansible configured it, it rebooted and is ready
    "completed",          # the hooks ran; LED off
)
CLUSTER_STAGES = ("provisioning", "ansible-running", "hooks-running", "completed")
# the cluster's steps that run as a job of the daemon (and run again after a restart)
CLUSTER_STEPS = ("ansible-running", "hooks-running")

# the installer's check-ins -> the node stage they mean (None: news, no new stage)
INSTALLER_CHECKINS: dict[str, str | None] = {
    "installing": "installing",
    "installed": "installed",
    "rebooting": None,
    "booted": "booted-initial",
    "failed": FAILED,
}

# the status of each message, which picks the webhook's icon
INFO, BEGIN, SUCCESS, FAILURE, COMPLETED = "info", "begin", "success", "failure", "completed"


def _index(stages: tuple[str, ...], stage: str) -> int:
    try:
        return stages.index(stage)
    except ValueError:
        raise InvalidArgument(f"unknown stage {stage!r} (known: {', '.join(stages)}, "
                              f"{FAILED})") from None


def moves_forward(stages: tuple[str, ...], current: str, new: str) -> bool:
    """Whether going from `current` to `new` is a step forward (failing always is, unless
    already failed; nothing leaves `failed` but a reset)."""
    if new == FAILED:
        return current != FAILED
    if current == FAILED:
        return False
    return _index(stages, new) > _index(stages, current)


def node_forward(current: str, new: str) -> bool:
    return moves_forward(NODE_STAGES, current, new)


def cluster_forward(current: str, new: str) -> bool:
    return moves_forward(CLUSTER_STAGES, current, new)


def reached(current: str, stage: str) -> bool:
    """Whether a node in `current` has reached `stage` (or gone past it)."""
    return current != FAILED and _index(NODE_STAGES, current) >= _index(NODE_STAGES, stage)
