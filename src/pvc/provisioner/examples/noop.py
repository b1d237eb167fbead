"""noop: a VM on the disks its storage template makes (empty volumes of their size, or
clones of a prepared base volume); nothing is installed.

Script arguments (all optional; for a VM that boots a kernel kept on every node rather
than from its first disk): kernel=PATH, initrd=PATH, cmdline=TEXT (VMBuilder's own
create() reads them).
"""

from pvc.provisioner import VMBuilder


class VMBuilderScript(VMBuilder):
    def prepare(self) -> None:
        self.create_volumes()
