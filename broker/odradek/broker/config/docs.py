"""Render docs/configuration.md from the key declarations: `python -m odradek.broker.config.docs [--check]`."""

from __future__ import annotations

import sys
from pathlib import Path

from odradek.broker.config.definitions import (
    BROKER_BY_NAME,
    BROKER_KEYS,
    KAFKA_UPDATE_MODES_NOT_LIVE,
    NO_EFFECT_NAMES,
    TOPIC_KEYS,
    TOPIC_SYNONYMS,
    ConfigKey,
    render,
)
from odradek.broker.config.kafka_keys import KAFKA_KEY_GROUPS

HEADER = """# Configuration reference

Generated from `broker/odradek/broker/config/definitions.py` (and `kafka_keys.py`) by
`python -m odradek.broker.config.docs`; do not edit by hand (a test fails when this file is out of date).

Broker keys are read from a Java properties file given to `odradek broker` / `python -m odradek.broker`, then from
environment variables `ODRADEK_<KEY>` (dots become `_`, a literal `_` is `__`), then from `--override key=value`
flags, later sources winning. Keys that neither Odradek nor Kafka knows stop the broker with a message naming them
(Kafka's keys that have no effect here are accepted: their own table below). Topic keys are set per topic
(CreateTopics, `odradek topics --create --config`, `odradek configs --alter`); their broker-level defaults are the
broker keys listed as synonyms.

The "update mode" column says which broker keys can change while the broker runs (Kafka's dynamic broker configs,
"Updating Broker Configs" in its documentation): `read-only` keys need a restart; `cluster-wide` keys can be altered
on the cluster-wide default (`odradek configs --alter --entity-type brokers --entity-default`) or on one broker
(`--entity-name <id>`), the broker's own value winning; `per-broker` keys on one broker only. Dynamic values are
kept in the metadata store, survive restarts and take effect at once: a dynamic `log.*` default applies to every
topic without its own override. Where Kafka can alter a key at run time and Odradek cannot yet, the column says so.
"""

NO_EFFECT_HEADER = """## Kafka broker keys with no effect here

Apache Kafka 3.9's other broker keys (declared in `broker/odradek/broker/config/kafka_keys.py`), so that a Kafka
server.properties and the tools that alter broker configs work unmodified: each is accepted (properties file,
environment, `--override`, and AlterConfigs where Kafka allows it at run time), validated by its type, kept and
described by DescribeConfigs with Kafka's default, and has no effect; the broker logs the ones that are set once at
start-up. Keys Kafka does not know stay refused. The security keys are not listed here: they are served.
"""


def _row(key: ConfigKey, extra: str = "") -> str:
    default = render(key.default) if key.default is not None else "(unset)"
    return f"| `{key.name}` | {key.type.name.lower()} | `{default}` | {key.doc}{extra} |"


def _update_mode(key: ConfigKey) -> str:
    kafka = KAFKA_UPDATE_MODES_NOT_LIVE.get(key.name)
    return f"{key.update_mode.value} (Kafka: {kafka.value})" if kafka else key.update_mode.value


def _broker_row(key: ConfigKey) -> str:
    return _row(key).replace(" | ", f" | {_update_mode(key)} | ", 1)


def render_markdown() -> str:
    lines = [HEADER, "## Broker keys", "", "| key | update mode | type | default | meaning |", "|---|---|---|---|---|"]
    lines += [_broker_row(key) for key in BROKER_KEYS if key.name not in NO_EFFECT_NAMES]
    lines += ["", NO_EFFECT_HEADER]
    for group, rows in KAFKA_KEY_GROUPS:
        lines += ["", f"### {group[0].upper()}{group[1:]}", "", "| key | update mode | type | Kafka's default |"]
        lines.append("|---|---|---|---|")
        for row in rows:
            key = BROKER_BY_NAME[row[0]]
            default = render(key.default) if key.default is not None else "(unset)"
            lines.append(f"| `{key.name}` | {key.update_mode.value} | {key.type.name.lower()} | `{default}` |")
    lines += ["", "## Topic keys", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    for key in TOPIC_KEYS:
        synonyms = ", ".join(f"`{name}`" for name in TOPIC_SYNONYMS[key.name])
        lines.append(_row(key, f" Broker default: {synonyms}." if synonyms else " No broker default."))
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
