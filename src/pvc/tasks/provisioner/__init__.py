"""Provisioner task bodies."""
