"""Self-healing: the fence monitor, recovery of a fenced node's VMs, self-fencing, the fault monitor."""
