"""Loading a provisioner script: written to a file of the build's own directory and
imported as a module of its own (so a traceback names its lines), with PVC's module
names available to it (`pvc.provisioner.compat`). It must define `VMBuilderScript`, a
subclass of `VMBuilder`."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

from pvc.common.errors import InvalidArgument
from pvc.provisioner import compat
from pvc.provisioner.builder import VMBuilder

BUILDER_CLASS = "VMBuilderScript"


def where_in_script(exc: BaseException, script: Path) -> str:
    """" (script line N)" for the deepest frame of the script in `exc`'s traceback."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(script):
            line = frame.lineno
    return f" (script line {line})" if line else ""


def load(source: str, name: str, directory: Path) -> type[VMBuilder]:
    """The script's builder class; InvalidArgument when it fails to load or lacks one."""
    compat.install()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "script.py"
    path.write_text(source)
    module_name = f"pvc_provisioner_script_{abs(hash((str(directory), name)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgument(f"The script {name!r} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise InvalidArgument(f"The script {name!r} failed to load{where_in_script(exc, path)}: "
                              f"{type(exc).__name__}: {exc}") from exc
    finally:
        sys.modules.pop(module_name, None)
    cls = getattr(module, BUILDER_CLASS, None)
    if not isinstance(cls, type) or not issubclass(cls, VMBuilder):
        raise InvalidArgument(f"The script {name!r} defines no class {BUILDER_CLASS} "
                              "extending VMBuilder (from pvc.provisioner import VMBuilder)")
    return cls
