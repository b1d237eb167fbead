"""Ceph through librados/librbd (`Storage` is the contract in `base`), and `qemu-img` conversions."""
