"""`odradek mirror-maker`: registered in the command line; configuration errors exit 1 with one line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.cli.main import build_parser, main


def test_registered_with_kafka_options() -> None:
    help_text = build_parser().format_help()
    assert "mirror-maker" in help_text


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ("", 'Missing required configuration "clusters"'),
        ("clusters=A,B\nA->B.enabled=true\nB.bootstrap.servers=b:1\n", "Missing A.bootstrap.servers"),
    ],
)
def test_configuration_errors_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], props: str, message: str
) -> None:
    config = tmp_path / "mm2.properties"
    config.write_text(props, encoding="utf-8")
    assert main(["mirror-maker", str(config)]) == 1
    assert message in capsys.readouterr().err


def test_unknown_cluster_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "mm2.properties"
    config.write_text("clusters=A,B\n", encoding="utf-8")
    assert main(["mirror-maker", str(config), "--clusters", "Z"]) == 1
    assert "--clusters names Z" in capsys.readouterr().err
