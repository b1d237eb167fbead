"""Example provisioner scripts, to store with `pvc provisioner script add NAME --file`:
noop.py (disks from the storage template, nothing installed), debootstrap.py (Debian 12
with cloud-init) and ova.py (an OVA's disks)."""
