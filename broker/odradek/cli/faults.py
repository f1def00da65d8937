"""`odradek faults check HISTORY [--cluster D] [--replicas TOPIC-PARTITION=DIR,DIR ...] [--json]`: the fault
suite's checker on a recorded history (docs/cluster.md, "Fault suite"; `odradek.faults.checker`).

With `--cluster D` (a folder of `odradek cluster up`), the replicas of every partition the history's final read
covered are compared on disk (each broker's `<log dir>/<topic>-<partition>`, where present); `--replicas` names
replica folders explicitly. Prints PASS or FAIL with the anomalies (or one JSON object with `--json`); exit code
0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from odradek.cli.common import CliError


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "faults", help="the fault suite's tools: check a recorded history (check)"
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    check = actions.add_parser("check", help="check a history (JSON lines) against the fault suite's invariants")
    check.add_argument("history", help="the history file (JSON lines)")
    check.add_argument("--cluster", metavar="D", help="compare the replicas of this `odradek cluster` folder")
    check.add_argument(
        "--replicas",
        action="append",
        metavar="TOPIC-PARTITION=DIR,DIR",
        help="replica folders of one partition (repeat for each partition)",
    )
    check.add_argument("--json", action="store_true", help="print the result as one JSON object")
    check.set_defaults(run=run_check)


def parse_replicas(items: list[str] | None) -> dict[tuple[str, int], list[Path]]:
    result: dict[tuple[str, int], list[Path]] = {}
    for item in items or ():
        name, eq, dirs = item.partition("=")
        topic, dash, index = name.rpartition("-")
        if not eq or not dash or not index.isdigit() or not topic or not dirs:
            raise CliError(f"--replicas wants TOPIC-PARTITION=DIR,DIR: {item!r}")
        result[(topic, int(index))] = [Path(d) for d in dirs.split(",")]
    return result


def run_check(args: argparse.Namespace) -> int:
    from odradek.faults.checker import check, partitions_of
    from odradek.faults.cluster import ClusterError, LocalCluster
    from odradek.faults.history import read_history

    try:
        events = read_history(args.history)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read history {args.history}: {exc}") from None
    replicas = parse_replicas(args.replicas)
    if args.cluster:
        try:
            cluster = LocalCluster(args.cluster)
            for topic, partition in sorted(partitions_of(events)):
                dirs = [cluster.partition_dir(n, topic, partition) for n in cluster.node_ids]
                replicas.setdefault((topic, partition), [d for d in dirs if d.is_dir()])
        except ClusterError as exc:
            raise CliError(str(exc)) from None
    result = check(events, replicas)
    print(result.to_json() if args.json else result.summary())
    return 0 if result.ok else 1
