"""Loading provisioner scripts (pvc.provisioner.loader), PVC's module names among them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvc.common.errors import InvalidArgument
from pvc.provisioner import VMBuilder, compat, loader


def test_a_script_on_our_names_loads_and_builds(tmp_path: Path) -> None:
    cls = loader.load("from pvc.provisioner import VMBuilder\n"
                      "class VMBuilderScript(VMBuilder):\n"
                      "    def setup(self):\n"
                      "        self.seen = (self.vm_name, self.vm_id, self.vm_data['x'])\n",
                      "ours", tmp_path)
    builder = cls("web3", 3, "u", "p", {"x": 1})
    builder.setup()
    assert builder.seen == ("web3", 3, 1)  # type: ignore[attr-defined]
    assert isinstance(builder, VMBuilder)


def test_a_script_written_for_pvc_finds_pvcs_module_names(tmp_path: Path) -> None:
    cls = loader.load("from pvcapid.vmbuilder import VMBuilder, chroot, open_zk\n"
                      "import daemon_lib.common as pvc_common\n"
                      "import daemon_lib.ceph as pvc_ceph\n"
                      "class VMBuilderScript(VMBuilder):\n"
                      "    def setup(self):\n"
                      "        self.rc = pvc_common.run_os_command('true')[0]\n",
                      "theirs", tmp_path)
    builder = cls("a", 0, "u", "p", {})
    builder.setup()
    assert builder.rc == 0  # type: ignore[attr-defined]
    # PVC's ceph helpers answer (success, message), and act only inside a build
    ok, said = compat.map_volume(None, "vms", "v")
    assert not ok and "inside a provisioning job" in said


@pytest.mark.parametrize("source,said", [
    ("class Other:\n    pass\n", "defines no class VMBuilderScript"),
    ("class VMBuilderScript:\n    pass\n", "extending VMBuilder"),
    ("x = 1\nraise ValueError('no good')\n", "line 2"),
    ("import no_such_module_here\n", "ModuleNotFoundError"),
])
def test_a_script_that_cannot_be_used_is_refused_with_why(tmp_path: Path, source: str,
                                                          said: str) -> None:
    with pytest.raises(InvalidArgument, match=said):
        loader.load(source, "bad", tmp_path)


def test_pvc_size_strings() -> None:
    assert compat._bytes("10G") == 10 << 30
    assert compat._bytes("512M") == 512 << 20
    assert compat._bytes(4096) == 4096
    with pytest.raises(Exception, match="Invalid volume size"):
        compat._bytes("ten")

