"""`odradek <command> [options]`: the user command line, mirroring Kafka's tools (docs/cli.md).

Exit codes: 0 success; 1 an error, reported as one line on stderr (no traceback for expected errors);
2 bad usage (argparse); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from confluent_kafka import KafkaException
from odradek.cli import (
    acls,
    cluster,
    configs,
    connect,
    console_consumer,
    console_producer,
    consumer_groups,
    consumer_perf,
    delegate,
    delete_records,
    faults,
    leader_election,
    log_dirs,
    mirror,
    producer_perf,
    reassign_partitions,
    topics,
    transactions,
)
from odradek.cli.common import CliError, add_version_option, describe_kafka_error

_TOOLS = (
    topics,
    configs,
    acls,
    delete_records,
    leader_election,
    reassign_partitions,
    log_dirs,
    console_producer,
    console_consumer,
    consumer_groups,
    producer_perf,
    consumer_perf,
    connect,
    mirror,
    transactions,
    cluster,
    faults,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odradek", description="Odradek command line: Kafka's tools, spoken through confluent-kafka."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    delegate.add_parsers(subparsers)
    for tool in _TOOLS:
        tool.add_parser(subparsers)
    for name, tool_parser in subparsers.choices.items():
        if name not in delegate.TARGETS:
            add_version_option(tool_parser)
    return parser


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name`."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    tool_parser: argparse.ArgumentParser = action.choices[name]
    return tool_parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in delegate.TARGETS:
            return delegate.run(args_list[0], args_list[1:])
        parser = build_parser()
        args, unknown = parser.parse_known_args(args_list)
        if unknown:
            # Kafka's tools answer an unknown option with their own usage, not the launcher's.
            subcommand(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
        code: int = args.run(args)
        return code
    except CliError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:
        # Safety net: a client failure no tool anticipated still ends as one line, not a traceback.
        print(f"Error: {describe_kafka_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output closed early (e.g. piped into `head`): not an error worth a traceback.
        sys.stderr.close()
        return 1
