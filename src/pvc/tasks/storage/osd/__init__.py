"""The OSD tasks `osd.add` (`add`) and `osd.remove` (`remove`), run by the worker of the OSD's
node.

An OSD here is a BlueStore store on one whole device (a block device, or a plain file, which
is what the development cluster and the tests use): its data directory (Ceph's `osd_data`,
by default /var/lib/ceph/osd/ceph-<id>) holds the keyring and a `block` symlink to the device,
and the daemon `ceph-osd@<id>` runs through the node's `ServiceControl` (`pvc.node.services`).
Ceph is driven through librados monitor/manager commands (`ceph`); only `ceph-osd --mkfs` and
`ceph-osd --show-config-value` are processes. The request checks that need only the cluster
state are `pvc.ops.storage.osds`, shared with the API.
"""
