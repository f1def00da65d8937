"""docs/connect-configuration.md is generated from the declarations and must be up to date."""

from __future__ import annotations

from pathlib import Path

from odradek.connect.config.docs import render_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "connect-configuration.md"


def test_connect_configuration_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), "run python -m odradek.connect.config.docs"


def test_doc_lists_every_section() -> None:
    text = render_markdown()
    for heading in (
        "## Worker",
        "## Connectors (all)",
        "## Sink connectors (in addition)",
        "### `org.apache.kafka.connect.file.FileStreamSourceConnector` (source)",
        "### `org.apache.kafka.connect.transforms.InsertField$Value` (transformation)",
    ):
        assert heading in text
    assert "| `offset.storage.file.filename` |" in text and "| `errors.deadletterqueue.topic.name` |" in text
