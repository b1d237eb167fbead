"""`pvc storage ...`: Ceph status, OSDs, pools, volumes, snapshots, benchmarks, and their rendering."""
