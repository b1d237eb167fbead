"""The node's side of Ceph: RBD lock checks before a VM starts, this node's OSDs, and the
primary's Ceph publisher.
"""
