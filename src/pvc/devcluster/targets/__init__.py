"""Deployment targets: real Debian 12 machines with systemd as PID 1, made on this host.

Each target is a `systemd-nspawn` container booted from its own copy of a debootstrapped
root, in its own network namespace, joined to one host bridge per core network (upstream,
cluster, storage). It looks like a server the installer ISO has just set up: a `deploy`
user with sudo and an SSH key, the upstream interface configured with ifupdown, nothing
else. The Ansible roles take it from there.

The targets cannot reach a package mirror from their namespaces; an `apt-cacher-ng` on
the host side of the upstream bridge serves them all and downloads each package once
(its cache stays in pvc-dev's download cache between runs).
"""
