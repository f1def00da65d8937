"""`odradek mirror-maker mm2.properties [--clusters A B] [--offsets-dir DIR]`, as Kafka's connect-mirror-maker.sh
(dedicated MirrorMaker 2, docs/mirror.md).

The runtime lives in `odradek.mirror` (imported when the command runs). The process runs until SIGTERM or SIGINT,
then stops every flow's tasks (offsets committed) and exits 0; a configuration error exits 1 with one line on stderr.
Log lines a supervisor can wait for: `Kafka MirrorMaker started` and `Kafka MirrorMaker stopped`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mirror-maker", help="replicate between clusters, MirrorMaker 2 dedicated mode (connect-mirror-maker)"
    )
    parser.add_argument("config", help="mm2.properties (clusters, A.bootstrap.servers, A->B.enabled, ...)")
    parser.add_argument(
        "--clusters", nargs="+", metavar="ALIAS", help="only run the flows whose target is one of these clusters"
    )
    parser.add_argument(
        "--offsets-dir", metavar="DIR", help="folder of the source offset files (default: the folder of the config)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from odradek.mirror.main import mirror_maker_main

    argv = [args.config]
    if args.clusters:
        argv += ["--clusters", *args.clusters]
    if args.offsets_dir:
        argv += ["--offsets-dir", args.offsets_dir]
    return mirror_maker_main(argv)
