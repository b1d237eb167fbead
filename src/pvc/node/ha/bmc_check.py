"""The check of a node's own BMC when its daemon starts (PVC's IPMI self-check), and what
`fencing.disable_on_ipmi_failure` makes of it.

The daemon asks its BMC for the power state once at start-up (2 s, warning only). The
answer goes into the node's `node.ipmi` record beside the BMC's address, as `reachable`
and `fencing`: with `disable_on_ipmi_failure: yes` a node whose BMC did not answer is
never fenced (the fence monitor raises FENCE_FAILED_<node> instead and leaves its VMs
alone); with `no` (the default) fencing stays on, so a BMC that comes back later is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pvc.common.config import Config
from pvc.common.errors import PVCError
from pvc.drivers.fencing.ipmi import IpmiTool

log = logging.getLogger("pvcnoded")

TIMEOUT = 2  # seconds, as PVC's start-up check


@dataclass(frozen=True)
class BmcCheck:
    reachable: bool
    fencing: bool  # whether this node may be fenced
    why: str = ""  # what failed, when not reachable


def check_own_bmc(config: Config, node: str, timeout: int = TIMEOUT, port: int = 623) -> BmcCheck:
    """Ask this node's BMC (fencing.ipmi in pvc.conf) for its power state once."""
    if not config.ipmi_hostname:
        why = "no BMC is configured (fencing.ipmi.hostname)"
    else:
        try:
            state = IpmiTool(config.ipmi_host_for(node), config.ipmi_username,
                             config.ipmi_password, port, timeout=timeout).power_status()
            log.info("The BMC of node %s answers (power %s)", node, state)
            return BmcCheck(True, True)
        except PVCError as exc:
            why = exc.message
    fencing = not config.disable_on_ipmi_failure
    log.warning("The BMC of node %s does not answer (%s): %s", node, why,
                "fencing stays enabled; it will fail until the BMC answers" if fencing else
                "this node will not be fenced (fencing.disable_on_ipmi_failure)")
    return BmcCheck(False, fencing, why)
