"""Unit tests of `pvc network ...`."""
