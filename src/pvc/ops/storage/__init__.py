"""Ceph storage operations: change Ceph through the storage driver, then record it in ZooKeeper."""
