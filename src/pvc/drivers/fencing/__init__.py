"""Fencing through a node's BMC: power off, on and status with `ipmitool`."""
