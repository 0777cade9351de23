"""``python3 -m deploy.image archive [OUT]`` (``make image``) or ``python3 -m deploy.image rootfs DIR``
(``deploy/Dockerfile``'s build stage). Needs root (mmdebstrap, chroot), mmdebstrap, binutils and pip."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from deploy.image import build


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m deploy.image", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("archive", help="the OCI/Docker archive (default: dist/idgate-image-VERSION.tar)")
    one.add_argument("out", nargs="?", type=Path, default=build.archive_path())
    tree = sub.add_parser("rootfs", help="the image's root file system in a new directory")
    tree.add_argument("target", type=Path)
    tree.add_argument("--work", type=Path, default=Path("/tmp/idgate-image"), help="scratch directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: mmdebstrap --mode=root and chroot need it")
    started = time.monotonic()
    if args.command == "archive":
        done = build.archive(args.out.resolve())
        done["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(done, indent=1))
    else:
        build.rootfs(args.target.resolve(), args.work.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
