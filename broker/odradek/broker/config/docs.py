"""Render docs/configuration.md from the key declarations: `python -m odradek.broker.config.docs [--check]`."""

from __future__ import annotations

import sys
from pathlib import Path

from odradek.broker.config.definitions import BROKER_KEYS, TOPIC_KEYS, TOPIC_SYNONYMS, ConfigKey, render

HEADER = """# Configuration reference

Generated from `broker/odradek/broker/config/definitions.py` by `python -m odradek.broker.config.docs`; do not
edit by hand (a test fails when this file is out of date).

Broker keys are read from a Java properties file given to `odradek broker` / `python -m odradek.broker`, then from
environment variables `ODRADEK_<KEY>` (dots become `_`, a literal `_` is `__`), then from `--override key=value`
flags, later sources winning. Unknown keys stop the broker with a message naming them. Topic keys are set per topic
(CreateTopics, `odradek topics --create --config`, `odradek configs --alter`); their broker-level defaults are the
broker keys listed as synonyms.
"""


def _row(key: ConfigKey, extra: str = "") -> str:
    default = render(key.default) if key.default is not None else "(unset)"
    return f"| `{key.name}` | {key.type.name.lower()} | `{default}` | {key.doc}{extra} |"


def render_markdown() -> str:
    lines = [HEADER, "## Broker keys", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [_row(key) for key in BROKER_KEYS]
    lines += ["", "## Topic keys", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    for key in TOPIC_KEYS:
        synonyms = ", ".join(f"`{name}`" for name in TOPIC_SYNONYMS[key.name])
        lines.append(_row(key, f" Broker default: {synonyms}."))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    target = Path(__file__).resolve().parents[4] / "docs" / "configuration.md"
    text = render_markdown()
    if "--check" in argv:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run python -m odradek.broker.config.docs", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
