"""The connect-standalone entry point: connector files (properties and JSON), listeners, start-up refusals, and the
`odradek` CLI registration of connect-standalone / connect-distributed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from odradek.cli.main import build_parser, main
from odradek.connect.config.configdef import ConfigException
from odradek.connect.main import ConnectStandalone, StartupError, load_connector_file
from odradek.connect.rest.security import RestListener, parse_listeners


def test_connector_files(tmp_path: Path) -> None:
    props = tmp_path / "c.properties"
    props.write_text("name=a\nconnector.class=FileStreamSink\ntopics=t\n", encoding="utf-8")
    assert load_connector_file(str(props)) == ("a", {"name": "a", "connector.class": "FileStreamSink", "topics": "t"})
    wrapped = tmp_path / "w.json"
    wrapped.write_text(json.dumps({"name": "b", "config": {"connector.class": "X", "tasks.max": 2}}), encoding="utf-8")
    assert load_connector_file(str(wrapped)) == ("b", {"connector.class": "X", "tasks.max": "2", "name": "b"})
    flat = tmp_path / "f.json"
    flat.write_text(json.dumps({"name": "c", "connector.class": "X"}), encoding="utf-8")
    assert load_connector_file(str(flat))[0] == "c"
    nameless = tmp_path / "n.properties"
    nameless.write_text("connector.class=X\n", encoding="utf-8")
    with pytest.raises(StartupError, match='has no "name"'):
        load_connector_file(str(nameless))
    with pytest.raises(StartupError, match="not found"):
        load_connector_file(str(tmp_path / "missing.properties"))


def test_listeners() -> None:
    assert parse_listeners(["http://127.0.0.1:0", "http://:8083", "HTTPS://localhost"]) == [
        RestListener("http", "127.0.0.1", 0),
        RestListener("http", "0.0.0.0", 8083),
        RestListener("https", "localhost", 8083),
    ]
    with pytest.raises(ConfigException, match=r"Invalid value ftp://127.0.0.1:1 for configuration listeners"):
        parse_listeners(["http://127.0.0.1:1", "ftp://127.0.0.1:1"])
    with pytest.raises(ConfigException, match="at least one"):
        parse_listeners([])


def test_offset_file_is_required() -> None:
    with pytest.raises(StartupError, match=r'Missing required configuration "offset.storage.file.filename"'):
        ConnectStandalone({"bootstrap.servers": "127.0.0.1:9"}, [])


def test_cli_registers_connect_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["connect-standalone", "w.properties", "a.properties", "b.json"])
    assert (args.worker_properties, args.connector_configs) == ("w.properties", ["a.properties", "b.json"])
    worker = tmp_path / "w.properties"
    worker.write_text("bootstrap.servers=127.0.0.1:9\n", encoding="utf-8")
    assert main(["connect-distributed", str(worker)]) == 1
    assert 'Missing required configuration "config.storage.topic"' in capsys.readouterr().err
    assert main(["connect-standalone", str(worker)]) == 1
    assert "offset.storage.file.filename" in capsys.readouterr().err
