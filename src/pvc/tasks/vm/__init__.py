"""Task bodies for VMs: `vm.flush_locks`."""
