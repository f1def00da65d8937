"""Render docs/connect-configuration.md from the ConfigDef declarations:
`python -m odradek.connect.config.docs [--check]` (`--check` exits 1 when the file is out of date).

Sections: worker keys (`WORKER_CONFIG`), connector keys (Kafka's ConnectorConfig, then the sink-only keys), then the
keys of every built-in plugin, under its Kafka class name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from odradek.connect.config.configdef import ConfigDef, ConfigKey, convert_to_string
from odradek.connect.config.connector import base_config_def
from odradek.connect.config.worker import WORKER_CONFIG, WORKER_PREFIXES
from odradek.connect.plugins import Plugins, PluginType

HEADER = """# Connect configuration reference

Generated from the ConfigDef declarations in `connect/odradek/connect/` by
`python -m odradek.connect.config.docs`; do not edit by hand (a test fails when this file is out of date).
See docs/connect.md for how to run a worker.

Worker keys are read from the properties file given to `odradek connect-standalone`; `${{provider:path:key}}`
references are resolved first (config providers). Keys with the prefixes {prefixes} are passed, prefix removed, to the
worker's clients and converters. Connector keys are given in connector files or through the REST API; a connector
may also set `producer.override.*`, `consumer.override.*` and `admin.override.*` client settings.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(key: ConfigKey) -> str:
    if not key.has_default:
        default = "(required)"
    else:
        shown = convert_to_string(key.default, key.type)
        default = "(unset)" if shown is None else f"`{shown}`" if shown else '`""`'
    valid = f" Valid values: {key.validator}." if key.validator is not None and str(key.validator) else ""
    kind, importance = key.type.value.lower(), key.importance.value.lower()
    return f"| `{key.name}` | {kind} | {default} | {importance} | {_cell(key.documentation)}{_cell(valid)} |"


def _table(defn: ConfigDef, skip: frozenset[str] = frozenset()) -> list[str]:
    lines = ["| key | type | default | importance | meaning |", "|---|---|---|---|---|"]
    lines += [_row(key) for key in defn.keys.values() if key.name not in skip]
    return [*lines, ""]


def render_markdown() -> str:
    prefixes = ", ".join(f"`{p}*`" for p in WORKER_PREFIXES)
    lines = [HEADER.format(prefixes=prefixes), "## Worker", ""]
    lines += _table(WORKER_CONFIG)
    common = base_config_def(None)
    lines += ["## Connectors (all)", "", *_table(common)]
    lines += [
        "## Source connectors (in addition)",
        "",
        *_table(base_config_def(PluginType.SOURCE), frozenset(common.keys)),
    ]
    lines += ["## Sink connectors (in addition)", "", *_table(base_config_def(PluginType.SINK), frozenset(common.keys))]
    plugins = Plugins(entry_points=False)
    lines += ["## Built-in plugins", ""]
    for desc in plugins.plugins():
        defn = desc.cls().config()
        kinds = ", ".join(k.value for k in desc.types)
        lines += [f"### `{desc.class_name}` ({kinds})", ""]
        lines += _table(defn) if defn.keys else ["No settings.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    target = Path(__file__).resolve().parents[4] / "docs" / "connect-configuration.md"
    text = render_markdown()
    if "--check" in argv:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run python -m odradek.connect.config.docs", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
