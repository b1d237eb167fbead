"""What provisioner scripts build on: `from pvc.provisioner import VMBuilder`.

See `pvc.provisioner.builder` for the stages, attributes and helpers, and the examples
in `pvc/provisioner/examples/` (noop, debootstrap, ova). Scripts written for PVC import
PVC's module names instead; `pvc.provisioner.compat` provides those.
"""

from pvc.provisioner.builder import Runtime, VMBuilder

__all__ = ["Runtime", "VMBuilder"]
