"""Drivers of the real components, each behind a Protocol where a layer swaps them: `hypervisor`
(libvirt), `storage` (Ceph), `network` (iproute2), `fencing` (IPMI). They import only `pvc.common`.
"""
