"""`odradek cluster up|down|status`: a local cluster of one etcd member (or M) and N brokers in a folder
(docs/cluster.md, "Running a cluster"; the work is done by `odradek.faults.cluster.LocalCluster`).

- `up --brokers N [--etcd-members M] [--dir D] [--base-port P] [--etcd PATH] [--config KEY=VALUE ...]`: starts etcd
  (M members: an etcd cluster on loopback, every broker given all their endpoints) and the brokers detached,
  waits until every broker answers Metadata listing all of them, prints the bootstrap servers (one line, on
  stdout) and returns. Refused while a process of the folder's cluster is alive.
- `down [--dir D] [--timeout S]`: SIGTERM the brokers, SIGKILL those still there after S seconds, then etcd.
- `status [--dir D]`: one line per process (alive, paused, dead, stopped); exit code 0 only if all are alive.
"""

from __future__ import annotations

import argparse
from typing import Any

from odradek.cli.common import CliError, parse_key_value_args

DEFAULT_DIR = "odradek-cluster"


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cluster", help="run a local cluster: etcd (one member or M) and N brokers (up, down, status)"
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    up = actions.add_parser("up", help="start etcd and the brokers, print the bootstrap servers")
    up.add_argument("--brokers", type=int, default=3, metavar="N", help="number of brokers (default 3)")
    up.add_argument(
        "--etcd-members",
        type=int,
        default=1,
        metavar="M",
        help="etcd members (default 1; 3 survives the loss of one: an odd number keeps a majority)",
    )
    _add_dir(up)
    up.add_argument(
        "--base-port",
        type=int,
        metavar="P",
        help="broker i listens on P+i-1, its metrics on P+100+i-1, etcd member j on P+200+2j/P+201+2j "
        "(default: free ports)",
    )
    up.add_argument("--etcd", default="/usr/bin/etcd", metavar="PATH", help="etcd executable (Debian's etcd-server)")
    up.add_argument(
        "--config", action="append", metavar="KEY=VALUE", help="a broker configuration key for every broker"
    )
    up.set_defaults(run=run_up)
    down = actions.add_parser("down", help="stop the brokers (SIGTERM, then SIGKILL) and etcd")
    _add_dir(down)
    down.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds before SIGKILL (default 30)")
    down.set_defaults(run=run_down)
    status = actions.add_parser("status", help="which processes of the cluster are alive")
    _add_dir(status)
    status.set_defaults(run=run_status)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", default=DEFAULT_DIR, metavar="D", help=f"the cluster's folder (default ./{DEFAULT_DIR})"
    )


def _cluster(args: argparse.Namespace) -> Any:
    from odradek.faults.cluster import ClusterError, LocalCluster

    try:
        return LocalCluster(args.dir, etcd=getattr(args, "etcd", "/usr/bin/etcd"))
    except ClusterError as exc:
        raise CliError(str(exc)) from None


def run_up(args: argparse.Namespace) -> int:
    from odradek.faults.cluster import ClusterError

    cluster = _cluster(args)
    try:
        bootstrap = cluster.up(
            args.brokers, args.base_port, parse_key_value_args(args.config), etcd_members=args.etcd_members
        )
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    print(bootstrap)
    return 0


def run_down(args: argparse.Namespace) -> int:
    from odradek.faults.cluster import ClusterError

    cluster = _cluster(args)
    try:
        for line in cluster.down(timeout_s=args.timeout):
            print(line)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    return 0


def run_status(args: argparse.Namespace) -> int:
    from odradek.faults.cluster import ClusterError

    cluster = _cluster(args)
    try:
        lines = cluster.status_lines()
        expected = len(cluster.etcd_members) + len(cluster.brokers)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    for line in lines:
        print(line)
    return 0 if len(cluster.live()) == expected else 1
