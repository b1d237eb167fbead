"""The node's side of Ceph: RBD lock checks before a VM starts, and the primary's Ceph publisher."""
