"""libvirt/QEMU: domains on a node's libvirtd, their figures, secrets, and KVM or TCG."""
