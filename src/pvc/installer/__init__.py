"""The node installer of the installer ISO: its answers (asked, or read from a file for
an unattended install), the checks of those answers against the machine, and the
install itself onto the target disk.

It runs on the ISO's live system, which has Debian's python3 and none of PVC's other
dependencies: it imports the standard library and `pvc.common.errors` only (an import
contract keeps it so), and the ISO build copies exactly those files.
"""
