"""Commands that hand their arguments, untouched, to modules of the broker package (imported lazily).

`odradek broker ...` -> `odradek.broker.__main__.main(argv)`; `odradek dump-log ...` ->
`odradek.broker.log.dump_log.main(argv)`. Neither talks to a broker over the network.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from odradek.cli.common import CliError

TARGETS: dict[str, tuple[str, str]] = {
    "broker": ("odradek.broker.__main__", "run a broker (python -m odradek.broker): [server.properties] "
               "[--override key=value ...]"),
    "dump-log": ("odradek.broker.log.dump_log", "print segment, index and time-index files offline "
                 "(kafka-dump-log): --files a.log,b.index [--print-data-log]"),
}  # fmt: skip


def add_parsers(subparsers: Any) -> None:
    """Listed in `odradek --help`; the arguments themselves are parsed by the target module."""
    for name, (_, text) in TARGETS.items():
        subparsers.add_parser(name, help=text, add_help=False)


def run(command: str, argv: Sequence[str]) -> int:
    module_name = TARGETS[command][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CliError(f"odradek {command}: module {module_name} is not available in this installation") from None
        raise
    target: Callable[[list[str]], int | None] = module.main
    result = target(list(argv))
    return int(result or 0)
