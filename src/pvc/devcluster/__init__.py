"""`pvc-dev`: a real multi-node cluster on one host (nodes as namespaces, their BMCs, ZooKeeper,
Ceph, the demo guest) for newcomers, the system tests and the benchmarks.
"""
