"""`python3 -m pvc.isobuild [--output PATH] [--cache DIR] [--mirror URL]`: build the
installer ISO (see `pvc.isobuild.build`); prints the figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pvc.common.errors import PVCError
from pvc.isobuild import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="buildiso.sh", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("pvc-installer.iso"))
    parser.add_argument("--cache", type=Path, default=build.DEFAULT_CACHE,
                        help="where the debootstrapped system is kept between builds")
    parser.add_argument("--mirror", default=build.DEFAULT_MIRROR, help="the Debian mirror")
    args = parser.parse_args(argv)
    try:
        done = build.build(args.output.resolve(), args.cache, args.mirror,
                           lambda msg: print(f"buildiso: {msg}", flush=True))
    except PVCError as exc:
        print(f"buildiso: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(f"buildiso: {done.path}: {done.size / 1024**2:.0f} MiB in {done.seconds:.0f} s "
          f"({'cached' if done.root_cached else 'new'} system)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
