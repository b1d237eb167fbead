"""Ceph in the dev cluster: bootstrap primitives (`boot`), mon commands (`admin`), the cluster's
mons, mgrs and OSDs (`cluster`).
"""
