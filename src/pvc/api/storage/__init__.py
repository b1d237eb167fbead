"""Ceph storage endpoints: status, options, OSDs, pools, volumes, snapshots, benchmarks."""
