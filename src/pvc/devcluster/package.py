"""The Debian package of PVC, built from a checkout (`pvc-dev package`).

`pvc_<version>_amd64.deb` holds:

- `/usr/lib/pvc/site/`: PVC and the Python libraries it needs that Debian 12 does not carry
  in the versions it needs (FastAPI, SQLAlchemy 2, Celery, kazoo, ...), installed there by
  pip from the checkout, byte-compiled. The bindings only Debian has (Ceph's rados/rbd,
  libvirt, pyroute2, nftables, psycopg) are the package's dependencies.
- `/usr/bin/pvc` and `/usr/sbin/{pvcnoded,pvcworkerd,pvc-broker}`: Debian's python3 with that
  directory first on its path. They also put it on `PYTHONPATH`, so what they start with
  the same interpreter (the API, the address keeper, dnsmasq's lease hook) finds it too.
- systemd units for the node daemon and the worker (`deploy/debian/`), not enabled: the
  deployment decides when a node runs them. The API is started by the node daemon of the
  primary, so it has no unit.
- the sample `pvc.conf` in `/usr/share/doc/pvc/`.

The version is PVC's own (`pvc.__version__`) unless one is given: a rolling-upgrade test
builds the same checkout as a newer version, which also becomes what the node daemons
report.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from pvc.common.errors import BackendError, InvalidArgument
from pvc.devcluster.procs import run

SITE = "/usr/lib/pvc/site"
COMMANDS = {  # installed path: the module whose main() it runs
    "usr/bin/pvc": "pvc.cli.main",
    "usr/sbin/pvcnoded": "pvc.node.main",
    "usr/sbin/pvcworkerd": "pvc.worker.main",
    "usr/sbin/pvcbootstrapd": "pvc.bootstrap.daemon",
    # a coordinator's Redis, started in the role the Sentinels give it now
    "usr/sbin/pvc-broker": "pvc.tasks.broker",
}
UNITS = ("pvcnoded.service", "pvcworkerd.service", "pvcbootstrapd.service")
# what both Debian and Python (PEP 440) read alike: 1.2.3, or 1.2.3+build.4 for a local build
VERSION = re.compile(r"^[0-9]+(\.[0-9]+){0,3}(\+[a-z0-9]+(\.[a-z0-9]+)*)?$")
PIP_TIMEOUT = 1800.0

WRAPPER = """#!/usr/bin/python3
# PVC's command {name}: Debian's python3 with PVC's own libraries first
import os
import sys

SITE = {site!r}
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (SITE, os.environ.get("PYTHONPATH")) if p)
sys.path.insert(0, SITE)
from {module} import main  # noqa: E402

sys.exit(main())
"""


def checkout_version(checkout: Path) -> str:
    found = re.search(r'^__version__ = "([^"]+)"$',
                      (checkout / "src" / "pvc" / "__init__.py").read_text(), re.M)
    if found is None:
        raise BackendError(f"No __version__ in {checkout}/src/pvc/__init__.py")
    return found.group(1)


def _copy_checkout(checkout: Path, into: Path, version: str) -> None:
    """What pip builds from: the project files, with `version` as PVC's own."""
    shutil.copytree(checkout / "src", into / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(checkout / name, into / name)
    init = into / "src" / "pvc" / "__init__.py"
    init.write_text(re.sub(r'^__version__ = "[^"]+"$', f'__version__ = "{version}"',
                           init.read_text(), flags=re.M))


def _stage(checkout: Path, stage: Path, source: Path, version: str) -> None:
    site = stage / SITE.lstrip("/")
    # pvc-dev's venv runs Debian's python3 (3.11): the compiled files and wheels are for it
    run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-warn-script-location", "--target", str(site), str(source)],
        "install PVC and its libraries with pip", PIP_TIMEOUT)
    shutil.rmtree(site / "bin", ignore_errors=True)  # pip's scripts name the build's python
    for path, module in COMMANDS.items():
        target = stage / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(WRAPPER.format(name=target.name, site=SITE, module=module))
        target.chmod(0o755)
    units = stage / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy2(checkout / "deploy" / "debian" / unit, units / unit)
    docs = stage / "usr" / "share" / "doc" / "pvc"
    docs.mkdir(parents=True)
    shutil.copy2(checkout / "src" / "pvc" / "common" / "pvc.sample.conf", docs / "pvc.sample.conf")
    shutil.copy2(checkout / "src" / "pvc" / "bootstrap" / "pvcbootstrapd.yml.sample",
                 docs / "pvcbootstrapd.yml.sample")
    control = stage / "DEBIAN"
    control.mkdir()
    text = (checkout / "deploy" / "debian" / "control.in").read_text()
    size_kib = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file()) // 1024
    (control / "control").write_text(
        text.replace("@VERSION@", version).rstrip("\n") + f"\nInstalled-Size: {size_kib}\n")


def build(checkout: Path, out_dir: Path, version: str | None = None) -> Path:
    """Build the package from `checkout` into `out_dir`; its path."""
    version = version or checkout_version(checkout)
    if not VERSION.match(version):
        raise InvalidArgument(f"{version!r} is not a package version (like 1.2.3, or "
                              "1.2.3+build.4 for a local build)")
    if shutil.which("dpkg-deb") is None:
        raise BackendError("dpkg-deb is not installed")
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"pvc_{version}_amd64.deb"
    with tempfile.TemporaryDirectory(prefix="pvc-package-") as tmp:
        source, stage = Path(tmp) / "source", Path(tmp) / "stage"
        source.mkdir()
        stage.mkdir(mode=0o755)
        _copy_checkout(checkout, source, version)
        _stage(checkout, stage, source, version)
        run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(stage), str(deb)],
            "build the package with dpkg-deb")
    return deb

